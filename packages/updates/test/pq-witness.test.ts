/**
 * A post-quantum witness: one witness cosigns with Ed25519 (cosignature/v1), the other with
 * ML-DSA-44 (subtree/v1, key type 0x06); the endpoint's quorum of 2 counts both, and fails
 * without the ML-DSA witness in its policy.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { generateKey, openNote } from "@vigil/tlog";
import { HONEST_RULES } from "@vigil/test-kit";
import { UpdateError, currentBundleDir, publish, update, validatePolicy } from "@vigil/updates";
import { makeKeys, policyFor, tempDir, witnessedLog, writeRules } from "./helpers.js";

describe("an ML-DSA-44 witness beside an Ed25519 one", () => {
  it("cosigns over HTTP, and the endpoint's quorum counts both key types", async () => {
    const keys = { ...makeKeys(), w2: generateKey("witness-pq.example", "cosignature-mldsa") };
    const root = await tempDir("vigil-pq-");
    const { logDir, http, w1, w2, close } = await witnessedLog(keys, root);
    try {
      await writeRules(join(root, "rules"), HONEST_RULES);
      const r = await publish({
        rulesDir: join(root, "rules"),
        logDir,
        publisherKey: keys.publisher.signerKey,
        logKey: keys.log.signerKey,
        witnesses: [w1.url, w2.url],
      });
      expect(r.cosignedBy).toEqual([w1.url, w2.url]);
      const opened = openNote(r.checkpoint, [keys.log.verifierKey, keys.w1.verifierKey, keys.w2.verifierKey]);
      expect(opened.signatures.map((s) => [s.name, s.type])).toEqual([
        ["rules.example/log", 1],
        ["witness-one.example", 4],
        ["witness-pq.example", 6],
      ]);

      const policy = policyFor(keys);
      // the policy file format takes the 0x06 witness key
      expect(validatePolicy(policy).witnesses).toEqual([keys.w1.verifierKey, keys.w2.verifierKey]);
      const applied = await update({ source: http.url, stateDir: join(root, "endpoint"), policy });
      expect(applied.status).toBe("applied");
      expect(await currentBundleDir(join(root, "endpoint"))).not.toBeNull();

      // without the ML-DSA witness in the policy, the same checkpoint has one cosignature of two
      const other = generateKey("witness-other.example", "cosignature");
      const short = policyFor(keys, { witnesses: [keys.w1.verifierKey, other.verifierKey] });
      const refused = await update({ source: http.url, stateDir: join(root, "endpoint2"), policy: short }).catch(
        (e) => e,
      );
      expect(refused).toBeInstanceOf(UpdateError);
      expect((refused as UpdateError).code).toBe("NO_QUORUM");
      // a witness key must be a cosignature key: an Ed25519 note key (0x01) is refused
      expect(() => validatePolicy(policyFor(keys, { witnesses: [keys.log.verifierKey] }))).toThrow(
        /must have type 0x04 or 0x06/,
      );
    } finally {
      await close();
    }
  }, 120_000);
});
