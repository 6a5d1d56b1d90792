/**
 * The data policy on the endpoint: signature verification with the pinned Ed25519 key (bad
 * signature, wrong key, wrong key id, malformed payload, replayed older version, same version
 * with other content all refused), and the effective policy as the narrower of the server's
 * policy and the local ceiling, field by field.
 */
import { generateKeyPairSync, sign } from "node:crypto";
import { describe, expect, test } from "vitest";
import * as agent from "@vigil/agent";
import * as protocol from "@vigil/protocol";

const { verifyPolicy, effectivePolicy, DEFAULT_CEILING, closedPolicy } = agent;
const { DEFAULT_POLICY } = protocol;
type DataPolicy = protocol.DataPolicy;

function keys() {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  return {
    pinned: { key: publicKey.export({ format: "der", type: "spki" }).toString("base64"), keyId: "k1" },
    privateKey,
  };
}

function signed(p: unknown, privateKey: ReturnType<typeof keys>["privateKey"], keyId = "k1") {
  const payload = JSON.stringify(p);
  return { payload, signature: sign(null, Buffer.from(payload), privateKey).toString("base64"), keyId };
}

const wide: DataPolicy = {
  version: 7,
  send: { path: true, hostname: true, scanSummaries: true },
  reputation: { enabled: true },
  samples: { enabled: true, maxBytes: 50 * 1024 * 1024, fileTypes: ["pe", "elf", "script"] },
  heartbeatSeconds: 60,
};

describe("policy signature", () => {
  const k = keys();

  test("a policy signed with the pinned key verifies and parses", () => {
    expect(verifyPolicy(signed(wide, k.privateKey), k.pinned)).toEqual(wide);
  });

  test("an altered payload is refused", () => {
    const s = signed(DEFAULT_POLICY, k.privateKey);
    s.payload = s.payload.replace('"path":false', '"path":true');
    expect(() => verifyPolicy(s, k.pinned)).toThrow(
      expect.objectContaining({ code: "POLICY_REJECTED", message: expect.stringMatching(/signature does not verify/) }),
    );
  });

  test("a policy signed by another key is refused, even under the pinned key id", () => {
    const other = keys();
    expect(() => verifyPolicy(signed(wide, other.privateKey), k.pinned)).toThrow(/signature does not verify/);
  });

  test("a different key id is refused", () => {
    expect(() => verifyPolicy(signed(wide, k.privateKey, "k2"), k.pinned)).toThrow(/not the key "k1" pinned/);
  });

  test("a garbage signature is refused, not a crash", () => {
    const s = { ...signed(wide, k.privateKey), signature: "!!!" };
    expect(() => verifyPolicy(s, k.pinned)).toThrow(expect.objectContaining({ code: "POLICY_REJECTED" }));
  });

  test("a signed payload that is not a DataPolicy is refused", () => {
    expect(() => verifyPolicy(signed({ version: 2, send: {} }, k.privateKey), k.pinned)).toThrow(
      /not a valid data policy/,
    );
    expect(() => verifyPolicy(signed({ ...wide, heartbeatSeconds: 1 }, k.privateKey), k.pinned)).toThrow(
      /not a valid data policy/,
    );
  });

  test("an older version than the last accepted is refused (replay)", () => {
    const old = signed({ ...wide, version: 3 }, k.privateKey);
    expect(() => verifyPolicy(old, k.pinned, { version: 7, payload: "x" })).toThrow(/older than version 7/);
    const same = signed(wide, k.privateKey);
    expect(verifyPolicy(same, k.pinned, { version: 7, payload: same.payload }).version).toBe(7);
    expect(() =>
      verifyPolicy(signed({ ...wide, heartbeatSeconds: 90 }, k.privateKey), k.pinned, {
        version: 7,
        payload: same.payload,
      }),
    ).toThrow(/same version/);
    expect(
      verifyPolicy(signed({ ...wide, version: 8 }, k.privateKey), k.pinned, { version: 7, payload: same.payload })
        .version,
    ).toBe(8);
  });
});

describe("effective policy", () => {
  test("the server cannot widen what the default ceiling forbids (path, samples)", () => {
    const e = effectivePolicy(wide, DEFAULT_CEILING);
    expect(e.send.path).toBe(false);
    expect(e.samples.enabled).toBe(false);
    expect(e.send.hostname).toBe(true);
    expect(e.send.scanSummaries).toBe(true);
    expect(e.heartbeatSeconds).toBe(60);
    expect(e.version).toBe(7);
  });

  test("the server narrows what the ceiling allows", () => {
    const ceiling = {
      ...DEFAULT_CEILING,
      path: true,
      samples: {
        enabled: true,
        maxBytes: 1 << 30,
        fileTypes: ["pe", "elf", "macho", "dex", "script"] as agent.SampleType[],
      },
    };
    const narrow: DataPolicy = {
      ...wide,
      send: { path: false, hostname: false, scanSummaries: false },
      reputation: { enabled: false },
      samples: { enabled: false, maxBytes: 1, fileTypes: [] },
    };
    const e = effectivePolicy(narrow, ceiling);
    expect(e.send).toEqual({ path: false, hostname: false, scanSummaries: false, inventory: false });
    expect(e.reputation.enabled).toBe(false);
    expect(e.samples.enabled).toBe(false);
  });

  test("both allowing: on; sample size is the smaller limit and types the intersection", () => {
    const ceiling = {
      ...DEFAULT_CEILING,
      path: true,
      samples: { enabled: true, maxBytes: 1024, fileTypes: ["elf", "macho"] as agent.SampleType[] },
    };
    const e = effectivePolicy(wide, ceiling);
    expect(e.send.path).toBe(true);
    expect(e.samples).toEqual({ enabled: true, maxBytes: 1024, fileTypes: ["elf"] });
    // no type in common: off
    const e2 = effectivePolicy(wide, { ...ceiling, samples: { ...ceiling.samples, fileTypes: ["macho"] } });
    expect(e2.samples.enabled).toBe(false);
  });

  test("a ceiling that forbids hostname and summaries wins over the default server policy", () => {
    const e = effectivePolicy(DEFAULT_POLICY, {
      ...DEFAULT_CEILING,
      hostname: false,
      scanSummaries: false,
      reputation: false,
    });
    expect(e.send).toEqual({ path: false, hostname: false, scanSummaries: false, inventory: true });
    expect(e.reputation.enabled).toBe(false);
  });

  test("inventory: on when both allow it; off when a policy predates it (no send.inventory) or the ceiling forbids it", () => {
    expect(DEFAULT_POLICY.send.inventory).toBe(true);
    expect(DEFAULT_CEILING.inventory).toBe(true);
    expect(effectivePolicy(DEFAULT_POLICY, DEFAULT_CEILING).send.inventory).toBe(true);
    expect(effectivePolicy(DEFAULT_POLICY, { ...DEFAULT_CEILING, inventory: false }).send.inventory).toBe(false);
    // `wide` was written before the field existed: it still parses, and means no inventory
    expect(wide.send.inventory).toBeUndefined();
    expect(protocol.DataPolicy.parse(JSON.parse(JSON.stringify(wide))).send.inventory).toBeUndefined();
    expect(effectivePolicy(wide, DEFAULT_CEILING).send.inventory).toBe(false);
    // an agent.json ceiling written before the field existed defaults to allowing it
    expect(
      agent.DataCeiling.parse({
        path: false,
        hostname: true,
        scanSummaries: true,
        reputation: true,
        samples: { enabled: false, maxBytes: 0, fileTypes: [] },
      }).inventory,
    ).toBe(true);
  });

  test("before any verified policy the agent obeys the closed policy", () => {
    const c = closedPolicy();
    expect(c.send).toEqual({ path: false, hostname: false, scanSummaries: false, inventory: false });
    expect(c.samples.enabled).toBe(false);
    expect(c.reputation.enabled).toBe(false);
  });
});
