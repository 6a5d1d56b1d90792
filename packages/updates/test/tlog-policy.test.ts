/**
 * C2SP tlog-policy files (c2sp.org/tlog-policy): every syntax rule of the spec, the spec's own
 * two-level example evaluated, a Vigil policy written out and read back, and an endpoint whose
 * trust policy carries a tlog-policy quorum applying (or refusing) a real cosigned update.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { generateKey } from "@vigil/tlog";
import { HONEST_RULES } from "@vigil/test-kit";
import {
  UpdateError,
  formatTlogPolicy,
  meetsQuorum,
  parseTlogPolicy,
  publish,
  quorumSatisfied,
  update,
  validatePolicy,
} from "@vigil/updates";
import { makeKeys, policyFor, tempDir, witnessedLog, writeRules } from "./helpers.js";

const log = generateKey("log.example/a");
const w = Array.from({ length: 6 }, (_, i) =>
  generateKey(`w${i}.example`, i === 5 ? "cosignature-mldsa" : "cosignature"),
);

const SPEC_EXAMPLE = `# the example of the spec, with real keys
log ${log.verifierKey}

witness X1 ${w[0]!.verifierKey}
witness X2 ${w[1]!.verifierKey}
witness X3 ${w[2]!.verifierKey} https://x3.example/
group X-witnesses 2 X1 X2 X3

witness Y1 ${w[3]!.verifierKey}
\twitness Y2   ${w[4]!.verifierKey}
witness Y3 ${w[5]!.verifierKey}
group Y-witnesses any Y1 Y2 Y3

group X-and-Y all X-witnesses Y-witnesses
quorum X-and-Y
`;

describe("parseTlogPolicy", () => {
  it("reads the spec's example: logs, witnesses with URLs, nested groups, the quorum", () => {
    const p = parseTlogPolicy(SPEC_EXAMPLE);
    expect(p.logs).toEqual([{ vkey: log.verifierKey }]);
    expect([...p.witnesses.keys()]).toEqual(["X1", "X2", "X3", "Y1", "Y2", "Y3"]);
    expect(p.witnesses.get("X3")!.url).toBe("https://x3.example/");
    expect(p.groups.get("X-witnesses")!.threshold).toBe(2);
    expect(p.groups.get("Y-witnesses")!.threshold).toBe(1);
    expect(p.groups.get("X-and-Y")!.threshold).toBe(2);
    expect(p.quorum).toEqual({ kind: "group", name: "X-and-Y" });
  });

  it("evaluates it: two X witnesses and one Y witness, no fewer", () => {
    const p = parseTlogPolicy(SPEC_EXAMPLE);
    const ok = (...names: string[]) => quorumSatisfied(p, new Set(names));
    expect(ok("X1", "X3", "Y2")).toBe(true);
    expect(ok("X1", "X2", "X3", "Y1", "Y2", "Y3")).toBe(true);
    expect(ok("X1", "Y1", "Y2", "Y3")).toBe(false); // one X
    expect(ok("X1", "X2")).toBe(false); // no Y
    expect(ok()).toBe(false);
    expect(quorumSatisfied(parseTlogPolicy("quorum none\n"), new Set())).toBe(true);
    expect(quorumSatisfied(parseTlogPolicy(`witness A ${w[0]!.verifierKey}\nquorum A\n`), new Set(["A"]))).toBe(true);
  });

  const bad: Array<[string, string, RegExp]> = [
    ["no quorum", `witness A ${w[0]!.verifierKey}\n`, /no quorum line/],
    ["two quorums", "quorum none\nquorum none\n", /line 2: a second quorum line/],
    [
      "use before definition",
      `group G any A\nwitness A ${w[0]!.verifierKey}\nquorum G\n`,
      /line 1: "A" is not defined/,
    ],
    [
      "a name defined twice",
      `witness A ${w[0]!.verifierKey}\nwitness A ${w[1]!.verifierKey}\nquorum A\n`,
      /line 2: .*already defined/,
    ],
    [
      "a member listed twice",
      `witness A ${w[0]!.verifierKey}\ngroup G any A A\nquorum G\n`,
      /line 2: "A" is listed twice/,
    ],
    [
      "none as a member",
      `witness A ${w[0]!.verifierKey}\ngroup G any A none\nquorum G\n`,
      /"none" cannot be a group member/,
    ],
    [
      "threshold above n",
      `witness A ${w[0]!.verifierKey}\ngroup G 2 A\nquorum G\n`,
      /threshold 2 must be between 1 and the 1/,
    ],
    [
      "threshold zero",
      `witness A ${w[0]!.verifierKey}\ngroup G 0 A\nquorum G\n`,
      /threshold must be all, any or a decimal/,
    ],
    [
      "duplicate key, other name",
      `witness A ${w[0]!.verifierKey}\nwitness B ${w[0]!.verifierKey}\nquorum A\n`,
      /line 2: the same public key as line 1/,
    ],
    [
      "a log key as a witness",
      `witness A ${log.verifierKey}\nquorum A\n`,
      /witness key must have signature type 0x04 or 0x06/,
    ],
    ["a witness key as a log", `log ${w[0]!.verifierKey}\nquorum none\n`, /log key must have signature type 0x01/],
    ["a control character", `# comment\r\nquorum none\n`, /line 1: a control character/],
    ["an unknown keyword", "quorom none\n", /unknown keyword "quorom"/],
    ["a broken vkey", "witness A nope+00000000+AAAA\nquorum A\n", /line 1: bad witness key/],
  ];
  for (const [what, text, message] of bad) {
    it(`refuses ${what} with the line`, () => {
      let err: unknown;
      try {
        parseTlogPolicy(text);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UpdateError);
      expect((err as UpdateError).code).toBe("BAD_POLICY");
      expect((err as Error).message).toMatch(message);
    });
  }

  it("writes a Vigil k-of-n policy out and reads the same quorum back", () => {
    const keys = [w[0]!.verifierKey, w[1]!.verifierKey, w[5]!.verifierKey];
    const text = formatTlogPolicy({ keys: [log.verifierKey] }, keys, 2);
    const p = parseTlogPolicy(text);
    expect([...p.witnesses.values()].map((x) => x.vkey)).toEqual(keys);
    const names = [...p.witnesses.keys()];
    expect(quorumSatisfied(p, new Set(names.slice(0, 2)))).toBe(true);
    expect(quorumSatisfied(p, new Set(names.slice(0, 1)))).toBe(false);
  });
});

describe("a trust policy with a tlog-policy quorum, end to end", () => {
  it("applies when the group quorum is met and refuses NO_QUORUM when it is not", async () => {
    const keys = makeKeys();
    const root = await tempDir("vigil-tlogpolicy-");
    const { logDir, http, w1, w2, close } = await witnessedLog(keys, root);
    const absent = generateKey("witness-three.example", "cosignature");
    try {
      await writeRules(join(root, "rules"), HONEST_RULES);
      await publish({
        rulesDir: join(root, "rules"),
        logDir,
        publisherKey: keys.publisher.signerKey,
        logKey: keys.log.signerKey,
        witnesses: [w1.url, w2.url],
      });
      const base = policyFor(keys);
      const withPolicy = (lines: string[]) => {
        const { witnesses: _w, quorum: _q, ...rest } = base;
        return validatePolicy({ ...rest, tlogPolicy: lines });
      };
      const vk = (k: { verifierKey: string }) => k.verifierKey;
      // one of {w1, w3} and one of {w2}: met by w1 and w2
      const met = withPolicy([
        `witness one ${vk(keys.w1)}`,
        `witness two ${vk(keys.w2)}`,
        `witness three ${vk(absent)}`,
        "group A any one three",
        "group B any two",
        "group both all A B",
        "quorum both",
      ]);
      expect(met.quorum).toBe(2);
      expect(meetsQuorum(met, [vk(keys.w1), vk(keys.w2)])).toBe(true);
      expect((await update({ source: http.url, stateDir: join(root, "e1"), policy: met })).status).toBe("applied");
      // all three: w3 never cosigned
      const unmet = withPolicy([
        `witness one ${vk(keys.w1)}`,
        `witness two ${vk(keys.w2)}`,
        `witness three ${vk(absent)}`,
        "group all3 all one two three",
        "quorum all3",
      ]);
      const e = await update({ source: http.url, stateDir: join(root, "e2"), policy: unmet }).catch((x) => x);
      expect((e as UpdateError).code).toBe("NO_QUORUM");
      expect((e as Error).message).toMatch(/tlog-policy quorum \(at least 3\)/);
    } finally {
      await close();
    }
  }, 120_000);
});
