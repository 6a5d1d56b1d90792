/**
 * Issue 19, a trust root that can change without a reinstall: signed, versioned roots (root.ts)
 * walked forward by the endpoint, TUF's "Update the root role". Each attack is refused with its
 * own code; the good paths (witness added, quorum raised, root keys rotated, publisher key
 * rotated, witness removed) run through a real `update()` against a log served on 127.0.0.1.
 */
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { generateKey } from "@vigil/tlog";
import { HONEST_RULES, killMatrix } from "@vigil/test-kit";
import {
  ROOT_STATE_FILE,
  UpdateError,
  checkRootFresh,
  encodeRoot,
  formatExpires,
  loadPolicy,
  loadTrustedRoot,
  openSource,
  parseRoot,
  publish,
  signRoot,
  update,
  updateRoot,
  verifyNextRoot,
  verifyRootSelf,
  type RootDocument,
  type TrustPolicy,
} from "@vigil/updates";
import { makeKeys, policyFor, tempDir, witnessedLog, writeRules } from "./helpers.js";

const NOW = Math.floor(Date.now() / 1000);
const YEAR = 365 * 86400;
const R = [1, 2, 3, 4, 5].map((i) => generateKey(`root.example/r${i}`));
const keys = makeKeys();
/** the plain JSON of a policy (what a root embeds) */
const policyJson = (over: Partial<TrustPolicy> = {}) => JSON.parse(JSON.stringify(policyFor(keys, over)));

function doc(version: number, over: Partial<RootDocument> = {}): RootDocument {
  return {
    format: "vigil-root/v1",
    version,
    expires: formatExpires(NOW + YEAR),
    keys: [R[0]!.verifierKey, R[1]!.verifierKey, R[2]!.verifierKey],
    threshold: 2,
    policy: policyJson(),
    ...over,
  };
}
const signed = (d: RootDocument, signers: number[]) =>
  signRoot(
    encodeRoot(d),
    signers.map((i) => R[i]!.signerKey),
  );

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof UpdateError) return e.code;
    throw e;
  }
  return undefined;
}

describe("trust roots: one step", () => {
  const v1 = verifyRootSelf(signed(doc(1), [0, 1]));

  it("a root signed by a threshold of the previous keys and of its own is the next root", () => {
    const v2 = verifyNextRoot(v1, signed(doc(2, { policy: policyJson({ quorum: 1 }) }), [0, 2]));
    expect(v2.document.version).toBe(2);
    expect(v2.policy.quorum).toBe(1);
  });

  it("refuses a root signed by too few of the previous root's keys (ROOT_THRESHOLD_PREVIOUS)", () => {
    expect(code(() => verifyNextRoot(v1, signed(doc(2), [0])))).toBe("ROOT_THRESHOLD_PREVIOUS");
    // the same key twice counts once
    const once = signed(doc(2), [0]);
    const twice = once + once.slice(once.lastIndexOf("\u2014 "));
    expect(parseRoot(twice).signatureLines).toHaveLength(2);
    expect(code(() => verifyNextRoot(v1, twice))).toBe("ROOT_THRESHOLD_PREVIOUS");
    // new keys alone (an attacker's) do not make a root
    const usurper = doc(2, { keys: [R[3]!.verifierKey, R[4]!.verifierKey] });
    expect(code(() => verifyNextRoot(v1, signed(usurper, [3, 4])))).toBe("ROOT_THRESHOLD_PREVIOUS");
    // an unsigned draft neither
    expect(code(() => verifyNextRoot(v1, encodeRoot(doc(2))))).toBe("ROOT_THRESHOLD_PREVIOUS");
  });

  it("refuses a root signed by the old keys but not by a threshold of its own (ROOT_THRESHOLD_SELF)", () => {
    const rotated = doc(2, { keys: [R[3]!.verifierKey, R[4]!.verifierKey], threshold: 2 });
    expect(code(() => verifyNextRoot(v1, signed(rotated, [0, 1, 3])))).toBe("ROOT_THRESHOLD_SELF");
    expect(verifyNextRoot(v1, signed(rotated, [0, 1, 3, 4])).document.keys).toEqual(rotated.keys);
  });

  it("refuses a rolled-back root: a lower or equal version (ROOT_ROLLBACK)", () => {
    const v2 = verifyNextRoot(v1, signed(doc(2), [0, 1]));
    expect(code(() => verifyNextRoot(v2, signed(doc(1), [0, 1])))).toBe("ROOT_ROLLBACK");
    const sameVersion = doc(2, { policy: policyJson({ quorum: 1 }) });
    expect(code(() => verifyNextRoot(v2, signed(sameVersion, [0, 1])))).toBe("ROOT_ROLLBACK");
  });

  it("refuses a skipped version (ROOT_VERSION_SKIPPED)", () => {
    expect(code(() => verifyNextRoot(v1, signed(doc(3), [0, 1])))).toBe("ROOT_VERSION_SKIPPED");
  });

  it("refuses an expired newest root (ROOT_EXPIRED), but walks through an expired intermediate one", () => {
    const old = doc(2, { expires: formatExpires(NOW - 10) });
    const v2 = verifyNextRoot(v1, signed(old, [0, 1]));
    expect(code(() => checkRootFresh(v2, NOW))).toBe("ROOT_EXPIRED");
    const v3 = verifyNextRoot(v2, signed(doc(3), [0, 1]));
    expect(code(() => checkRootFresh(v3, NOW))).toBeUndefined();
  });

  it("refuses a root whose embedded policy is invalid (BAD_ROOT_POLICY)", () => {
    const badQuorum = doc(2, { policy: { ...policyJson(), quorum: 5 } });
    expect(code(() => verifyNextRoot(v1, signed(badQuorum, [0, 1])))).toBe("BAD_ROOT_POLICY");
    const noPublishers = doc(2, { policy: { ...policyJson(), publishers: [] } });
    expect(code(() => verifyNextRoot(v1, signed(noPublishers, [0, 1])))).toBe("BAD_ROOT_POLICY");
  });

  it("refuses signatures over different bytes (ROOT_BAD_SIGNATURE)", () => {
    const good = signed(doc(2, { policy: policyJson({ quorum: 2 }) }), [0, 1]);
    const altered = good.replace('"quorum": 2', '"quorum": 1');
    expect(altered).not.toBe(good);
    expect(code(() => verifyNextRoot(v1, altered))).toBe("ROOT_BAD_SIGNATURE");
    // signatures copied from another root of the same version
    const other = encodeRoot(doc(2, { expires: formatExpires(NOW + 2 * YEAR) }));
    const copied = `${other}\n${good.slice(good.indexOf("\n\n") + 2)}`;
    expect(code(() => verifyNextRoot(v1, copied))).toBe("ROOT_BAD_SIGNATURE");
  });

  it("refuses what is not a canonical vigil-root/v1 document (BAD_ROOT)", () => {
    const text = encodeRoot(doc(2));
    const compact = JSON.stringify(JSON.parse(text)) + "\n";
    expect(code(() => parseRoot(compact))).toBe("BAD_ROOT");
    expect(code(() => parseRoot(text.replace('"version": 2', '"version": 2.5')))).toBe("BAD_ROOT");
    expect(code(() => encodeRoot({ ...doc(2), threshold: 4 }))).toBe("BAD_ROOT");
    expect(code(() => encodeRoot({ ...doc(2), keys: [keys.w1.verifierKey] }))).toBe("BAD_ROOT");
    expect(code(() => encodeRoot({ ...doc(2), expires: "2027-02-30T00:00:00Z" }))).toBe("BAD_ROOT");
    expect(code(() => parseRoot(new Uint8Array([0xff, 0xfe])))).toBe("BAD_ROOT");
    expect(code(() => parseRoot(text.replace("{", '{\n  "extra": 1,')))).toBe("BAD_ROOT");
  });
});

describe("trust roots: hostile bytes", () => {
  it("every one-byte change of a signed root is refused with a code, or leaves the signed text unchanged", () => {
    const v1 = verifyRootSelf(signed(doc(1), [0, 1]));
    const good = Buffer.from(signed(doc(2, { policy: policyJson({ quorum: 1 }) }), [0, 1]));
    const text = parseRoot(good).text;
    const codes = new Set<string>();
    for (let i = 0; i < good.length; i++) {
      for (const x of [0x01, 0x20, 0x80]) {
        const m = Buffer.from(good);
        m[i]! ^= x;
        let accepted = false;
        try {
          verifyNextRoot(v1, m);
          accepted = true;
        } catch (e) {
          if (!(e instanceof UpdateError)) throw new Error(`byte ${i} ^ ${x}: ${String(e)}`);
          codes.add(e.code);
        }
        if (accepted) expect(parseRoot(m).text, `byte ${i} ^ ${x} accepted`).toBe(text);
      }
    }
    for (let n = 0; n < good.length; n += 7) expect(code(() => verifyNextRoot(v1, good.subarray(0, n)))).toBeDefined();
    expect([...codes].sort()).toEqual(
      expect.arrayContaining(["BAD_ROOT", "ROOT_BAD_SIGNATURE", "ROOT_THRESHOLD_PREVIOUS"]),
    );
  });
});

describe("trust roots: the chain on a source", () => {
  it("walks to the newest root, stops at the first missing one, persists it and never goes back", async () => {
    const dir = await tempDir("vigil-roots-");
    const src = join(dir, "src");
    const state = join(dir, "state");
    await mkdir(join(src, "roots"), { recursive: true });
    const v1 = signed(doc(1), [0, 1]);
    await writeFile(join(src, "roots", "2.note"), signed(doc(2), [0, 1]));
    await writeFile(join(src, "roots", "4.note"), signed(doc(4), [0, 1])); // after a gap: not reached
    const source = openSource(src);
    let r = await updateRoot({ source, stateDir: state, bootstrap: v1, now: NOW });
    expect([r.from, r.root.document.version]).toEqual([1, 2]);
    expect((await loadTrustedRoot(state))!.document.version).toBe(2);
    // the bootstrap root given again does not take the endpoint back
    await writeFile(join(src, "roots", "3.note"), signed(doc(3), [1, 2]));
    r = await updateRoot({ source, stateDir: state, bootstrap: v1, now: NOW });
    expect([r.from, r.root.document.version]).toEqual([2, 4]);
    // an attack at the next step is refused and the trusted root stays where it was
    await writeFile(join(src, "roots", "5.note"), signed(doc(5), [2]));
    await expect(updateRoot({ source, stateDir: state, bootstrap: v1, now: NOW })).rejects.toMatchObject({
      code: "ROOT_THRESHOLD_PREVIOUS",
    });
    expect((await loadTrustedRoot(state))!.document.version).toBe(4);
    // freeze: the newest root expired and nothing newer is offered
    rmSync(join(src, "roots", "5.note"));
    await expect(updateRoot({ source, stateDir: state, bootstrap: v1, now: NOW + 2 * YEAR })).rejects.toMatchObject({
      code: "ROOT_EXPIRED",
    });
    // a damaged state root is reported, not silently replaced
    writeFileSync(join(state, ROOT_STATE_FILE), "garbage\n");
    await expect(updateRoot({ source, stateDir: state, bootstrap: v1, now: NOW })).rejects.toMatchObject({
      code: "BAD_INPUT",
    });
  });

  it("kill -9 at every write step of a walk from 1 to 3 leaves a whole root 1, 2 or 3; the next run ends on 3", async () => {
    const dir = await tempDir("vigil-roots-kill-");
    const src = join(dir, "src");
    const state = join(dir, "state");
    mkdirSync(join(src, "roots"), { recursive: true });
    const v1 = signed(doc(1), [0, 1]);
    writeFileSync(join(src, "roots", "2.note"), signed(doc(2, { policy: policyJson({ quorum: 1 }) }), [0, 1]));
    writeFileSync(join(src, "roots", "3.note"), signed(doc(3), [1, 2]));
    const argsFile = join(dir, "args.json");
    writeFileSync(argsFile, JSON.stringify({ source: src, stateDir: state, bootstrap: v1, now: NOW }));
    const child = fileURLToPath(new URL("./helpers/root-kill-op.mjs", import.meta.url));
    const seen = new Set<number>();
    const steps = await killMatrix({
      args: [child, argsFile],
      under: state,
      reset: () => rmSync(state, { recursive: true, force: true }),
      check: async (step, killed) => {
        const kept = await loadTrustedRoot(state); // throws if the file were torn
        if (kept) seen.add(kept.document.version);
        if (!killed) expect(kept!.document.version).toBe(3);
        const r = await updateRoot({ source: openSource(src), stateDir: state, bootstrap: v1, now: NOW });
        expect(r.root.document.version, `killed after step ${step}`).toBe(3);
        expect(readFileSync(join(state, ROOT_STATE_FILE), "utf8")).toBe(
          readFileSync(join(src, "roots", "3.note"), "utf8"),
        );
      },
    });
    expect(steps).toBeGreaterThanOrEqual(3);
    expect([...seen].sort()).toEqual([1, 2, 3]);
  }, 300_000);
});

describe("trust roots through update() against a served log", () => {
  it("witness added, quorum raised, root keys rotated, publisher key rotated, witness removed: six roots", async () => {
    const root = await tempDir("vigil-roots-e2e-");
    const log = await witnessedLog(keys, root);
    const rulesDir = join(root, "rules");
    const stateDir = join(root, "endpoint");
    const p2 = generateKey("rules.example/publisher2");
    let n = 0;
    const pub = async (witnesses: string[], publisherKey = keys.publisher.signerKey) => {
      await writeRules(rulesDir, {
        ...HONEST_RULES,
        "extra.yar": `rule Extra${++n} { strings: $a = "marker ${n}" condition: $a }\n`,
      });
      await publish({ rulesDir, logDir: log.logDir, publisherKey, logKey: keys.log.signerKey, witnesses });
    };
    const offer = (version: number, note: string) => writeFile(join(log.logDir, "roots", `${version}.note`), note);
    const run = () => update({ source: log.http.url, stateDir, root: v1 });
    const w1only = { witnesses: [keys.w1.verifierKey], quorum: 1 };
    const v1 = signed(doc(1, { policy: policyJson(w1only) }), [0, 1]);
    try {
      await mkdir(join(log.logDir, "roots"), { recursive: true });
      await pub([log.w1.url, log.w2.url]);
      let r = await run();
      expect([r.status, r.version, r.root]).toEqual([
        "applied",
        1,
        { version: 1, from: 1, expires: expect.any(String) },
      ]);

      // under root 1 a checkpoint cosigned by w2 alone has no quorum
      await pub([log.w2.url]);
      await expect(run()).rejects.toMatchObject({ code: "NO_QUORUM" });
      // root 2 adds witness w2 (quorum 1): the same checkpoint is now enough
      await offer(2, signed(doc(2, { policy: policyJson({ quorum: 1 }) }), [0, 1]));
      r = await run();
      expect([r.status, r.version, r.root]).toEqual([
        "applied",
        2,
        { version: 2, from: 1, expires: expect.any(String) },
      ]);

      // root 3 raises the quorum to 2: w1 alone no longer does
      await offer(3, signed(doc(3, { policy: policyJson({ quorum: 2 }) }), [1, 2]));
      await pub([log.w1.url]);
      await expect(run()).rejects.toMatchObject({ code: "NO_QUORUM" });
      expect((await loadTrustedRoot(stateDir))!.document.version).toBe(3);
      await pub([log.w1.url, log.w2.url]);
      r = await run();
      expect([r.status, r.version, r.root?.version]).toEqual(["applied", 4, 3]);

      // root 4 rotates the root keys: r1 out, r4 in (signed by old r1+r2 and new r2+r4)
      const rotated = [R[1]!.verifierKey, R[2]!.verifierKey, R[3]!.verifierKey];
      await offer(4, signed(doc(4, { keys: rotated, policy: policyJson({ quorum: 2 }) }), [0, 1, 3]));
      // root 5 signed by the retired key r1 with r2 is refused; by r3+r4 accepted
      const v5 = doc(5, { keys: rotated, policy: policyJson({ quorum: 2, publishers: [p2.verifierKey] }) });
      await offer(5, signed(v5, [0, 1]));
      await expect(run()).rejects.toMatchObject({ code: "ROOT_THRESHOLD_PREVIOUS" });
      expect((await loadTrustedRoot(stateDir))!.document.version).toBe(4);
      const evidence = readdirSync(join(stateDir, "evidence")).filter((f) => f.endsWith("root_threshold_previous.txt"));
      expect(evidence).toHaveLength(1);
      const kept = readFileSync(join(stateDir, "evidence", evidence[0]!), "utf8");
      expect(kept).toContain(await readFile(join(log.logDir, "roots", "4.note"), "utf8"));
      expect(kept).toContain(await readFile(join(log.logDir, "roots", "5.note"), "utf8"));
      // root 5 rotates the publisher key: a bundle signed by the old one is refused
      await offer(5, signed(v5, [2, 3]));
      await pub([log.w1.url, log.w2.url]);
      await expect(run()).rejects.toMatchObject({ code: "BAD_PUBLISHER_SIGNATURE" });
      await pub([log.w1.url, log.w2.url], p2.signerKey);
      r = await run();
      expect([r.status, r.version, r.root?.version]).toEqual(["applied", 6, 5]);

      // root 6 removes witness w1 (quorum 1, w2 only): w1's cosignature no longer counts
      await offer(
        6,
        signed(
          doc(6, {
            keys: rotated,
            policy: policyJson({ witnesses: [keys.w2.verifierKey], quorum: 1, publishers: [p2.verifierKey] }),
          }),
          [1, 3],
        ),
      );
      await pub([log.w1.url], p2.signerKey);
      await expect(run()).rejects.toMatchObject({ code: "NO_QUORUM" });
      await pub([log.w2.url], p2.signerKey);
      r = await run();
      expect([r.status, r.version, r.root]).toEqual([
        "applied",
        8,
        { version: 6, from: 6, expires: expect.any(String) },
      ]);

      // a rolled-back root put where the next one would be is refused, and the endpoint stays on 6
      await offer(7, await readFile(join(log.logDir, "roots", "6.note"), "utf8"));
      await expect(run()).rejects.toMatchObject({ code: "ROOT_ROLLBACK" });
      expect((await loadTrustedRoot(stateDir))!.document.version).toBe(6);
      // a root handed over as a plain policy is recognised
      await expect(loadPolicy(join(stateDir, ROOT_STATE_FILE))).rejects.toThrow(/give it with --root/);
      // a plain policy still works beside roots
      const plain = await update({
        source: log.http.url,
        stateDir: join(root, "plain"),
        policy: policyFor(keys, { witnesses: [keys.w2.verifierKey], quorum: 1, publishers: [p2.verifierKey] }),
      });
      expect(plain.root).toBeUndefined();
    } finally {
      await log.close();
    }
  }, 180_000);
});
