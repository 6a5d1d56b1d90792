/**
 * Transport damage (issue 17, finding 8): a log whose entry bundles or hash tiles arrive
 * truncated, missing or altered is refused with `TRANSPORT_DAMAGED`, over HTTP and from a
 * directory: the old rules stay in force, no split-view alarm, no evidence file; the same
 * update succeeds once the files are whole again. A well-formed but inconsistent tree is still a
 * split view (e2e.test.ts). The built `vigil update` prints one line and exits 2.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { UpdateError, loadState, monitorLog, publish, update, type Server } from "./exports.js";
import {
  HONEST_RULES,
  closeServer,
  makeKeys,
  policyFor,
  serveDir,
  snapshot,
  startWitness,
  tempDir,
  writeRules,
} from "./helpers.js";

const BIN = fileURLToPath(new URL("../../cli/bin/vigil.js", import.meta.url));
const servers: Server[] = [];
afterAll(async () => {
  for (const s of servers) await closeServer(s);
});

/** A log of two versions; the endpoint accepted version 1 (tree size 1) before version 2 came. */
async function fixture() {
  const keys = makeKeys();
  const root = await tempDir();
  const logDir = join(root, "log");
  const rulesDir = join(root, "rules");
  const stateDir = join(root, "endpoint");
  const http = await serveDir(logDir);
  servers.push(http.server);
  const w1 = await startWitness(
    keys.w1.signerKey,
    join(root, "w1"),
    "rules.example/log",
    keys.log.verifierKey,
    http.url,
  );
  const w2 = await startWitness(
    keys.w2.signerKey,
    join(root, "w2"),
    "rules.example/log",
    keys.log.verifierKey,
    http.url,
  );
  servers.push(w1.server, w2.server);
  const policy = policyFor(keys);
  const pub = async (rules: Record<string, string>) => {
    await writeRules(rulesDir, rules);
    return publish({
      rulesDir,
      logDir,
      publisherKey: keys.publisher.signerKey,
      logKey: keys.log.signerKey,
      witnesses: [w1.url, w2.url],
    });
  };
  await pub(HONEST_RULES);
  await update({ source: logDir, stateDir, policy });
  await pub({ ...HONEST_RULES, "extra.yar": 'rule Extra { strings: $a = "version two" condition: $a }\n' });
  const before = await loadState(stateDir);
  expect(before.current!.version).toBe(1);
  return { keys, root, logDir, stateDir, policy, before };
}

type Damage = (mirror: string) => Promise<void>;
const truncate =
  (path: string, keep: (n: number) => number): Damage =>
  async (mirror) => {
    const full = join(mirror, ...path.split("/"));
    const data = await readFile(full);
    await writeFile(full, data.subarray(0, keep(data.length)));
  };
const DAMAGE: Record<string, Damage> = {
  "truncated entry bundle": truncate("tile/entries/000.p/2", (n) => n - 7),
  "truncated hash tile": truncate("tile/0/000.p/2", (n) => n - 20),
  "hash tile cut at a hash boundary": truncate("tile/0/000.p/2", (n) => n - 32),
  "missing hash tile": (m) => rm(join(m, "tile", "0", "000.p", "2")),
  "missing entry bundle": (m) => rm(join(m, "tile", "entries", "000.p", "2")),
  "hash tile with a flipped byte": async (m) => {
    const full = join(m, "tile", "0", "000.p", "2");
    const data = await readFile(full);
    data[40]! ^= 1;
    await writeFile(full, data);
  },
};

async function expectDamaged(p: Promise<unknown>): Promise<UpdateError> {
  try {
    await p;
  } catch (e) {
    expect(e, String(e)).toBeInstanceOf(UpdateError);
    expect((e as UpdateError).code, (e as Error).message).toBe("TRANSPORT_DAMAGED");
    expect((e as Error).message).not.toMatch(/\n/);
    return e as UpdateError;
  }
  throw new Error("expected TRANSPORT_DAMAGED, got success");
}

describe("transport damage is refused as such, not as a split view", () => {
  it.each(Object.keys(DAMAGE))(
    "%s: refused over HTTP and from a directory, old rules kept, no evidence; whole files then apply",
    { timeout: 60_000 },
    async (name) => {
      const f = await fixture();
      const mirror = join(f.root, "mirror");
      await snapshot(f.logDir, mirror);
      await DAMAGE[name]!(mirror);
      const http = await serveDir(mirror);
      servers.push(http.server);
      for (const source of [http.url, mirror]) {
        const e = await expectDamaged(update({ source, stateDir: f.stateDir, policy: f.policy }));
        expect(e.message).toContain(source);
        expect(e.evidence).toBeUndefined();
        expect(await loadState(f.stateDir)).toEqual(f.before);
        expect(existsSync(join(f.stateDir, "evidence"))).toBe(false);
        expect((await readdir(join(f.stateDir, "bundles"))).length).toBe(1);
      }
      // the whole log: the same endpoint takes version 2
      expect(await update({ source: f.logDir, stateDir: f.stateDir, policy: f.policy })).toMatchObject({
        status: "applied",
        version: 2,
      });
    },
  );

  it("the monitor: a missing hash tile or truncated entry bundle is transport damage, not a fork", {
    timeout: 60_000,
  }, async () => {
    const f = await fixture();
    const stateFile = join(f.root, "monitor.json");
    // the monitor saw the log at size 2 once
    const first = await monitorLog({ source: f.logDir, logKeys: [f.keys.log.verifierKey], stateFile });
    expect(first.problems).toEqual([]);
    {
      // a fresh monitor reads every entry
      const mirror = join(f.root, "mirror-entries");
      await snapshot(f.logDir, mirror);
      await DAMAGE["truncated entry bundle"]!(mirror);
      await expectDamaged(monitorLog({ source: mirror, logKeys: [f.keys.log.verifierKey] }));
    }
    const mirror = join(f.root, "mirror-tile");
    await snapshot(f.logDir, mirror);
    await DAMAGE["missing hash tile"]!(mirror);
    // a prior checkpoint of size 1 needs a consistency proof 1 -> 2, from the tiles
    const state = JSON.parse(await readFile(stateFile, "utf8")) as { checkpoints: { size: number; root: string }[] };
    const f1 = JSON.parse(JSON.stringify(state));
    f1.checkpoints = [
      { size: 1, root: (await loadState(f.stateDir)).checkpoint!.split("\n")[2] },
      ...state.checkpoints,
    ];
    await writeFile(stateFile, JSON.stringify(f1));
    await expectDamaged(monitorLog({ source: mirror, logKeys: [f.keys.log.verifierKey], stateFile }));
    // the whole log: consistent, no problem
    expect((await monitorLog({ source: f.logDir, logKeys: [f.keys.log.verifierKey], stateFile })).problems).toEqual([]);
  });

  it("vigil update (the built CLI): one line, exit 2, no stack trace; the old rules stay", {
    timeout: 60_000,
  }, async () => {
    const f = await fixture();
    const policyFile = join(f.root, "policy.json");
    await writeFile(policyFile, JSON.stringify(f.policy));
    for (const name of ["truncated entry bundle", "truncated hash tile", "missing hash tile"]) {
      const mirror = join(f.root, `cli-${name.replace(/ /g, "-")}`);
      await snapshot(f.logDir, mirror);
      await DAMAGE[name]!(mirror);
      const r = spawnSync(
        process.execPath,
        [BIN, "update", "--source", mirror, "--policy", policyFile, "--state", f.stateDir],
        { encoding: "utf8", timeout: 60_000 },
      );
      expect(r.status, r.stderr).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(/^vigil update: [^\n]+ \(TRANSPORT_DAMAGED\)\n$/);
      expect(r.stderr).not.toMatch(/\bat .*\.js:\d+/);
      expect(await loadState(f.stateDir)).toEqual(f.before);
    }
  });
});
