/**
 * Issue 17, the kill -9 matrix for what the updates package writes: a rules update applied on
 * an endpoint, a ClamAV database patched and swapped in, and a witness recording the checkpoint
 * it cosigns. Each operation runs in a child SIGKILLed after each of its write steps in turn
 * (the killpoint preload of @vigil/test-kit counts them); after every kill the state on disk is
 * the old one or the new one, never a mix, and the next run finishes the job.
 */
import { copyFileSync, cpSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { MerkleTree, formatCheckpoint, generateKey, signNote } from "@vigil/tlog";
import { loadClamavDatabase } from "@vigil/clamav";
import { HONEST_RULES, corpus, killMatrix, needs } from "@vigil/test-kit";
import {
  Witness,
  addCheckpointBody,
  currentBundleDir,
  loadState,
  publish,
  update,
  updateClamavDatabases,
} from "@vigil/updates";
import { closeServer, makeKeys, policyFor, startWitness, tempDir, writeRules } from "./helpers.js";

const child = fileURLToPath(new URL("./helpers/kill-op.mjs", import.meta.url));

/** Every file under `dir` with its text, keyed by relative path. */
function contents(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(join(d, e.name), r);
      else out[r] = readFileSync(join(d, e.name), "utf8");
    }
  };
  walk(dir, "");
  return out;
}

/** Replaces `to` with a copy of `from` (relative symlinks kept as they are). */
function restoreCopy(from: string, to: string): void {
  rmSync(to, { recursive: true, force: true });
  cpSync(from, to, { recursive: true, verbatimSymlinks: true });
}

const FRESHCLAM = corpus("clamav/freshclam");
const noFreshclamCorpus = needs("the ClamAV database swap kill matrix", { corpora: ["clamav/freshclam"] });

describe("updates kill -9 matrix", () => {
  it("a rules update: version 1 or version 2 whole after every kill; the next run ends on 2", async () => {
    const keys = makeKeys();
    const root = await tempDir("vigil-kill-rules-");
    const logDir = join(root, "log");
    const rulesDir = join(root, "rules");
    const w1 = await startWitness(
      keys.w1.signerKey,
      join(root, "w1"),
      "rules.example/log",
      keys.log.verifierKey,
      logDir,
    );
    const w2 = await startWitness(
      keys.w2.signerKey,
      join(root, "w2"),
      "rules.example/log",
      keys.log.verifierKey,
      logDir,
    );
    const policy = policyFor(keys);
    const pub = async (rules: Record<string, string>) => {
      await writeRules(rulesDir, rules);
      await publish({
        rulesDir,
        logDir,
        publisherKey: keys.publisher.signerKey,
        logKey: keys.log.signerKey,
        witnesses: [w1.url, w2.url],
      });
    };
    try {
      const start = join(root, "start"); // the endpoint with version 1 applied
      await pub(HONEST_RULES);
      await update({ source: logDir, stateDir: start, policy });
      const v1Files = contents((await currentBundleDir(start))!);
      await pub({
        ...HONEST_RULES,
        "families/extra.yar": 'rule Extra { strings: $a = "extra marker" condition: $a }\n',
      });
      const probe = join(root, "probe");
      await update({ source: logDir, stateDir: probe, policy });
      const v2Files = contents((await currentBundleDir(probe))!);
      expect(v2Files).not.toEqual(v1Files);

      const stateDir = join(root, "endpoint");
      const argsFile = join(root, "args.json");
      writeFileSync(argsFile, JSON.stringify({ source: logDir, stateDir, policy }));
      const seen = new Set<number>();
      const steps = await killMatrix({
        args: [child, "rules", argsFile],
        under: stateDir,
        reset: () => restoreCopy(start, stateDir),
        check: async (step) => {
          const version = (await loadState(stateDir)).current!.version;
          seen.add(version);
          expect(contents((await currentBundleDir(stateDir))!), `killed after step ${step}`).toEqual(
            version === 1 ? v1Files : v2Files,
          );
          const again = await update({ source: logDir, stateDir, policy });
          expect(["applied", "up-to-date"]).toContain(again.status);
          expect(contents((await currentBundleDir(stateDir))!)).toEqual(v2Files);
        },
      });
      expect(steps).toBeGreaterThanOrEqual(4);
      expect([...seen].sort()).toEqual([1, 2]);
    } finally {
      await closeServer(w1.server);
      await closeServer(w2.server);
    }
  }, 600_000);

  it.skipIf(noFreshclamCorpus)(
    "a ClamAV database patched from 1 to 6: every kill leaves a directory that loads as one whole version",
    async () => {
      const root = await tempDir("vigil-kill-clamav-");
      const mirror = join(root, "mirror");
      mkdirSync(mirror);
      copyFileSync(join(FRESHCLAM, "test-6.cvd"), join(mirror, "test.cvd"));
      for (let n = 2; n <= 6; n++) copyFileSync(join(FRESHCLAM, `test-${n}.cdiff`), join(mirror, `test-${n}.cdiff`));
      // the signature count of each whole version, as loaded from ClamAV's own files
      const countOf = new Map<number, number>();
      for (let n = 1; n <= 6; n++) countOf.set(loadClamavDatabase(join(FRESHCLAM, `test-${n}.cvd`)).count, n);
      const start = join(root, "start");
      mkdirSync(start);
      copyFileSync(join(FRESHCLAM, "test-1.cvd"), join(start, "test.cvd"));
      const databaseDir = join(root, "db");
      const argsFile = join(root, "args.json");
      writeFileSync(argsFile, JSON.stringify({ mirror, databaseDir }));
      const steps = await killMatrix({
        args: [child, "clamav", argsFile],
        under: databaseDir,
        reset: () => restoreCopy(start, databaseDir),
        check: async (step) => {
          const set = loadClamavDatabase(databaseDir);
          expect(
            set.warnings.filter((w) => w.code === "SIGDB_REFUSED"),
            `killed after step ${step}`,
          ).toEqual([]);
          expect(countOf.has(set.count), `killed after step ${step}: ${set.count} signatures is no version`).toBe(true);
          const r = await updateClamavDatabases({ mirror, databaseDir, databases: ["test"] });
          expect(r.databases[0]!.status).not.toBe("refused");
          expect(countOf.get(loadClamavDatabase(databaseDir).count)).toBe(6);
        },
      });
      expect(steps).toBeGreaterThanOrEqual(3);
    },
    600_000,
  );

  it("a witness: after every kill it remembers the old checkpoint or the new one, and goes on from there", async () => {
    const root = await tempDir("vigil-kill-witness-");
    const origin = "log.example/a";
    const log = generateKey(origin);
    const wkey = generateKey("witness.example/w", "cosignature");
    const now = 1_700_000_000;
    const tree = new MerkleTree();
    const grow = (n: number) => {
      for (let i = 0; i < n; i++) tree.append(`entry ${tree.size}`);
    };
    const cp = () =>
      signNote(formatCheckpoint({ origin, size: BigInt(tree.size), rootHash: tree.root() }), log.signerKey);
    const start = join(root, "start");
    const make = (stateDir: string) =>
      new Witness({
        key: wkey.signerKey,
        stateDir,
        logs: [{ origin, keys: [log.verifierKey], source: stateDir }],
        now: () => now,
      });
    grow(5);
    expect((await make(start).addCheckpoint(addCheckpointBody(0n, [], cp()))).status).toBe(200);
    grow(7);
    const body = addCheckpointBody(5n, tree.consistencyProof(5), cp());
    const stateDir = join(root, "w");
    const argsFile = join(root, "args.json");
    writeFileSync(
      argsFile,
      JSON.stringify({ key: wkey.signerKey, logKey: log.verifierKey, origin, stateDir, now, body }),
    );
    const sizes = new Set<string>();
    const steps = await killMatrix({
      args: [child, "witness", argsFile],
      under: stateDir,
      reset: () => restoreCopy(start, stateDir),
      check: async (step, killed, out) => {
        const latest = (await make(stateDir).latest(origin)) ?? "";
        const size = latest.split("\n")[1];
        sizes.add(size!);
        expect(["5", "12"], `killed after step ${step}: the witness state holds ${JSON.stringify(latest)}`).toContain(
          size,
        );
        // a cosignature given out is never forgotten
        if (!killed) expect([out.stdout.split("\n")[0], size]).toEqual(["200", "12"]);
        // from either state, the same request is answered consistently, and growth goes on
        const again = await make(stateDir).addCheckpoint(body);
        expect(again.status === 200 || (again.status === 409 && again.body === "12\n")).toBe(true);
        expect((await make(stateDir).latest(origin))?.split("\n")[1]).toBe("12");
      },
    });
    expect(steps).toBeGreaterThanOrEqual(2);
    expect([...sizes].sort()).toEqual(["12", "5"]);
  }, 300_000);
});
