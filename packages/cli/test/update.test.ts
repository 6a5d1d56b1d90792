/**
 * The CLI end to end, through the built bin (`npx tsc -b` first, as `npm test` does): keys,
 * two `vigil witness serve` processes on 127.0.0.1, `vigil publish`, `vigil update`, `vigil audit`.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { HONEST_RULES, SECRET_HUNTING_RULES, writeRules } from "@vigil/test-kit";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { onTestFinished } from "vitest";

/** A temporary directory removed when the test ends. */
async function tempDir(prefix = "vigil-upd-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const BIN = fileURLToPath(new URL("../bin/vigil.js", import.meta.url));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.pid && c.exitCode === null) process.kill(c.pid, "SIGTERM");
});

function vigil(args: string[], cwd?: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", cwd, timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

async function serveWitness(args: string[]): Promise<string> {
  const c = spawn(process.execPath, [BIN, "witness", "serve", "--port", "0", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(c);
  let out = "";
  return new Promise((resolve, reject) => {
    c.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/[0-9.:]+)\/add-checkpoint/.exec(out);
      if (m) resolve(m[1]!);
    });
    c.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    c.once("exit", () => reject(new Error(`witness exited: ${out}`)));
  });
}

describe("vigil keys / publish / witness / update / audit", () => {
  it("runs the whole flow from the command line", { timeout: 180_000 }, async () => {
    const dir = await tempDir("vigil-cli-");
    const keys = join(dir, "keys");
    await (await import("node:fs/promises")).mkdir(keys);
    const gen = (name: string, cos = false) => {
      const r = vigil(["keys", "generate", name, "-o", keys, ...(cos ? ["--cosigner"] : [])]);
      expect(r.code, r.err).toBe(0);
      return r.out.trim();
    };
    const pubV = gen("rules.example/publisher"),
      logV = gen("rules.example/log");
    const w1V = gen("w1.example", true),
      w2V = gen("w2.example", true);
    expect(w1V).toMatch(/^w1\.example\+[0-9a-f]{8}\+B/);
    expect(vigil(["keys", "generate", "rules.example/log", "-o", keys]).code).toBe(2); // refuses to overwrite
    expect(vigil(["keys", "public", join(keys, "rules.example_log.key")]).out.trim()).toBe(logV);

    const logDir = join(dir, "log");
    const w1 = await serveWitness([
      "--key",
      join(keys, "w1.example.key"),
      "--state",
      join(dir, "w1"),
      "--origin",
      "rules.example/log",
      "--log-key",
      logV,
      "--source",
      logDir,
    ]);
    const w2 = await serveWitness([
      "--key",
      join(keys, "w2.example.key"),
      "--state",
      join(dir, "w2"),
      "--origin",
      "rules.example/log",
      "--log-key",
      logV,
      "--source",
      logDir,
    ]);

    const rules = join(dir, "rules");
    await writeRules(rules, HONEST_RULES);
    const p = vigil([
      "publish",
      rules,
      "--log",
      logDir,
      "--key",
      join(keys, "rules.example_publisher.key"),
      "--log-key",
      join(keys, "rules.example_log.key"),
      "--witness",
      w1,
      "--witness",
      w2,
    ]);
    expect(p.code, p.err).toBe(0);
    expect(p.out).toMatch(/published rules v1 \(2 files, 2 rules\) as log entry 0/);
    expect(p.out).toMatch(/cosigned by/);

    const policy = join(dir, "trust.json");
    await writeFile(
      policy,
      JSON.stringify({
        format: "vigil-trust/v1",
        log: { origin: "rules.example/log", keys: [logV] },
        publishers: [pubV],
        witnesses: [w1V, w2V],
        quorum: 2,
        maxCheckpointAge: 3600,
        bundle: "rules",
      }),
    );
    const state = join(dir, "endpoint");
    const u = vigil(["update", "--source", logDir, "--policy", policy, "--state", state]);
    expect(u.code, u.err).toBe(0);
    expect(u.out).toMatch(/applied version 1; log size 1; witnesses: 2/);
    expect(await readFile(join(state, "current", "eicar.yar"), "utf8")).toBe(HONEST_RULES["eicar.yar"]);
    expect(vigil(["update", "--source", logDir, "--policy", policy, "--state", state]).out).toMatch(/up to date/);
    expect(vigil(["update", "--rollback", "--state", state]).code).toBe(2);

    // the hunting bundle: witnesses refuse, publish says so, the endpoint refuses
    await writeRules(rules, SECRET_HUNTING_RULES);
    const bad = vigil([
      "publish",
      rules,
      "--log",
      logDir,
      "--key",
      join(keys, "rules.example_publisher.key"),
      "--log-key",
      join(keys, "rules.example_log.key"),
      "--witness",
      w1,
      "--witness",
      w2,
    ]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/refused \(HTTP 422\): audit refused: .*TOP SECRET/s);
    const u2 = vigil(["update", "--source", logDir, "--policy", policy, "--state", state]);
    expect(u2.code).toBe(1);
    expect(u2.err).toMatch(/^vigil update: refused: .*\(NO_QUORUM\)\n$/);

    // the auditor on files, and the monitor over the log
    const a = vigil(["audit", "rules", rules]);
    expect(a.code).toBe(1);
    expect(a.out).toMatch(
      /high: rule Doc_Hunter: looks for the en classification marking "TOP SECRET" \[classification-marking\]/,
    );
    const clean = join(dir, "clean");
    await writeRules(clean, HONEST_RULES);
    expect(vigil(["audit", "rules", clean]).code).toBe(0);
    const j = JSON.parse(vigil(["audit", "rules", "--json", rules]).out) as { findings: unknown[] };
    expect(j.findings.length).toBeGreaterThan(0);
    const m = vigil([
      "audit",
      "--log",
      logDir,
      "--log-key",
      logV,
      "--publisher",
      pubV,
      "--state",
      join(dir, "monitor.json"),
    ]);
    expect(m.code).toBe(1);
    expect(m.out).toMatch(/#1 rules v2 .*\n.*high: hunt\.yar:1 rule Doc_Hunter/);
    expect(m.out).toMatch(/2 new bundle\(s\)/);
    const m2 = vigil(["audit", "--log", logDir, "--log-key", logV, "--state", join(dir, "monitor.json")]);
    expect(m2.out).toMatch(/0 new bundle\(s\)/);
    expect(m2.code).toBe(0);
    expect(vigil(["audit", "--log", logDir]).code).toBe(2);
  });
});
