/**
 * An agent configured with a signed trust root instead of a fixed policy (`updates.trustRoot`,
 * `vigil agent config --trust-root`): its update client walks the log's newer roots from it, so a
 * witness added by root 2 counts at the agent without touching its configuration, and a root
 * signed by too few of the previous root's keys is refused with the old bundle kept.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as agent from "@vigil/agent";
import { HONEST_RULES, closeServer, makeKeys, policyFor, startWitness, writeRules } from "@vigil/test-kit";
import { generateKey } from "@vigil/tlog";
import { encodeRoot, formatExpires, loadTrustedRoot, publish, signRoot, type TrustPolicy } from "@vigil/updates";

const keys = makeKeys();
const R = [1, 2, 3].map((i) => generateKey(`root.example/r${i}`));
const policyJson = (over: Partial<TrustPolicy>) => JSON.parse(JSON.stringify(policyFor(keys, over)));
const root = (version: number, over: Partial<TrustPolicy>, signers: number[]) =>
  signRoot(
    encodeRoot({
      format: "vigil-root/v1",
      version,
      expires: formatExpires(Math.floor(Date.now() / 1000) + 86400 * 365),
      keys: R.map((k) => k.verifierKey),
      threshold: 2,
      policy: policyJson(over),
    }),
    signers.map((i) => R[i]!.signerKey),
  );

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe("agent updates from a trust root", () => {
  it("walks to a root that adds a witness; refuses a root without the old keys' threshold", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vigil-agent-root-"));
    dirs.push(dir);
    const logDir = join(dir, "log");
    const rulesDir = join(dir, "rules");
    const w1 = await startWitness(
      keys.w1.signerKey,
      join(dir, "w1"),
      "rules.example/log",
      keys.log.verifierKey,
      logDir,
    );
    const w2 = await startWitness(
      keys.w2.signerKey,
      join(dir, "w2"),
      "rules.example/log",
      keys.log.verifierKey,
      logDir,
    );
    let n = 0;
    const pub = async (witnesses: string[]) => {
      await writeRules(rulesDir, {
        ...HONEST_RULES,
        "extra.yar": `rule Extra${++n} { strings: $a = "m${n}" condition: $a }\n`,
      });
      await publish({
        rulesDir,
        logDir,
        publisherKey: keys.publisher.signerKey,
        logKey: keys.log.signerKey,
        witnesses,
      });
    };
    try {
      const stateDir = join(dir, "agent-updates");
      const updates = new agent.AgentUpdates({
        stateDir,
        source: logDir,
        trustPolicy: null,
        // root 1 trusts witness w1 alone
        trustRoot: root(1, { witnesses: [keys.w1.verifierKey], quorum: 1 }, [0, 1]),
        client: undefined as unknown as agent.AgentClient, // a directory source sends nothing
      });
      await pub([w1.url]);
      expect(await updates.check()).toMatchObject({ status: "applied" });

      // a checkpoint cosigned by w2 alone: no quorum under root 1
      await pub([w2.url]);
      const refused = await updates.check();
      expect(refused.status).toBe("refused");
      expect(refused.message).toMatch(/NO_QUORUM/);

      // root 2 (signed by r1 and r3) adds w2: the same checkpoint now applies, configuration unchanged
      await mkdir(join(logDir, "roots"), { recursive: true });
      await writeFile(join(logDir, "roots", "2.note"), root(2, { quorum: 1 }, [0, 2]));
      expect(await updates.check()).toMatchObject({ status: "applied", message: /applied version 2/ });
      expect((await loadTrustedRoot(stateDir))!.document.version).toBe(2);

      // root 3 signed by one old key only: refused, root 2 and the bundle in force kept
      await writeFile(join(logDir, "roots", "3.note"), root(3, { quorum: 2 }, [1]));
      await pub([w1.url, w2.url]);
      const bad = await updates.check();
      expect(bad.status).toBe("refused");
      expect(bad.message).toMatch(/ROOT_THRESHOLD_PREVIOUS/);
      expect((await loadTrustedRoot(stateDir))!.document.version).toBe(2);
      expect((await updates.current())?.version).toMatch(/-2$/);
    } finally {
      await closeServer(w1.server);
      await closeServer(w2.server);
    }
  }, 120_000);
});
