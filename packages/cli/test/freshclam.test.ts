/**
 * `vigil freshclam` end to end (the built bin): a mirror directory, a freshclam.conf naming an
 * HTTP mirror and a clamd.conf to notify, and a refused update's exit code and message.
 */
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer as createHttpServer } from "node:http";
import { connect, createServer as createNetServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it, onTestFinished } from "vitest";
import { corpus, needs } from "@vigil/test-kit";

const __dirname = dirname(fileURLToPath(import.meta.url));
const BIN = join(__dirname, "../bin/vigil.js");
const built = existsSync(join(__dirname, "../dist/commands/freshclam.js"));
const CORPUS = corpus("clamav/freshclam");
const hasCorpus = !needs("vigil freshclam CLI tests", { corpora: ["clamav/freshclam"] });
if (!built) console.log("vigil freshclam CLI tests skipped: the cli is not built (run npx tsc -b)");

function vigil(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function temp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "vigil-fc-cli-"));
  onTestFinished(() => rm(d, { recursive: true, force: true }));
  return d;
}

async function setup(root: string, remote: number, patches: number[], local: number | undefined) {
  const www = join(root, "www");
  const db = join(root, "db");
  await mkdir(www);
  await mkdir(db);
  await copyFile(join(CORPUS, `test-${remote}.cvd`), join(www, "test.cvd"));
  for (const n of patches) await copyFile(join(CORPUS, `test-${n}.cdiff`), join(www, `test-${n}.cdiff`));
  if (local !== undefined) await copyFile(join(CORPUS, `test-${local}.cvd`), join(db, "test.cvd"));
  return { www, db };
}

describe.skipIf(!built || !hasCorpus)("vigil freshclam", () => {
  it("updates from a mirror directory by the .cdiff chain and says so as freshclam does", async () => {
    const root = await temp();
    const { www, db } = await setup(root, 6, [2, 3, 4, 5, 6], 1);
    const r = await vigil(["freshclam", "--mirror", www, "--datadir", db, "--update-db", "test"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("test.cld updated (version: 6, sigs: 14, f-level: 81, builder: micasnyd)");
    expect(existsSync(join(db, "test.cld"))).toBe(true);
    expect(existsSync(join(db, "test.cvd"))).toBe(false);
    const again = await vigil(["freshclam", "--mirror", www, "--datadir", db, "--update-db", "test", "--json"]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).databases[0]).toMatchObject({ name: "test", status: "up-to-date", version: 6 });
  });

  it("reads freshclam.conf (DatabaseMirror, DatabaseDirectory, NotifyClamd -> clamd.conf's LocalSocket)", async () => {
    const root = await temp();
    const { www, db } = await setup(root, 6, [], undefined);
    const server = createHttpServer((req, res) => {
      void readFile(join(www, (req.url ?? "/").slice(1).replace(/[^A-Za-z0-9._-]/g, "")))
        .then((b) => res.writeHead(200, { "Content-Length": b.length }).end(b))
        .catch(() => res.writeHead(404).end());
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    onTestFinished(() => new Promise<void>((r) => server.close(() => r())));
    const sock = join(root, "clamd.sock");
    const got: string[] = [];
    const clamd = createNetServer((s) =>
      s.on("data", (d) => {
        got.push(d.toString("latin1"));
        s.end("RELOADING\0");
      }),
    );
    await new Promise<void>((r) => clamd.listen(sock, r));
    onTestFinished(() => new Promise<void>((r) => clamd.close(() => r())));
    await writeFile(join(root, "clamd.conf"), `# clamd\nLocalSocket ${sock}\n`);
    await writeFile(
      join(root, "freshclam.conf"),
      `DatabaseMirror http://127.0.0.1:${(server.address() as AddressInfo).port}\nDatabaseDirectory ${db}\nNotifyClamd ${join(root, "clamd.conf")}\nExtraDatabase test\nExcludeDatabase daily\nExcludeDatabase main\nExcludeDatabase bytecode\n`,
    );
    const r = await vigil(["freshclam", "--config-file", join(root, "freshclam.conf"), "--no-dns"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("test.cvd updated (version: 6");
    expect(got).toEqual(["zRELOAD\0"]);
    expect(await readFile(join(db, "test.cvd"))).toEqual(await readFile(join(CORPUS, "test-6.cvd")));
  });

  it("exit 1 with the code when refused (a mirror going backwards), exit 2 without a mirror", async () => {
    const root = await temp();
    const { www, db } = await setup(root, 3, [], 6);
    const r = await vigil(["freshclam", "--mirror", www, "--datadir", db, "--update-db", "test"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /test: refused \[ROLLBACK\]: the mirror offers test version 3, older than the local version 6.*\(kept version 6\)/,
    );
    expect(await readFile(join(db, "test.cvd"))).toEqual(await readFile(join(CORPUS, "test-6.cvd")));
    const none = await vigil(["freshclam", "--datadir", db]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("name a mirror");
  });
});

function ask(sock: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = connect({ path: sock });
    const chunks: Buffer[] = [];
    c.on("connect", () => c.write(`z${command}\0`));
    c.on("data", (d) => chunks.push(d));
    c.on("end", () => resolve(Buffer.concat(chunks).toString("latin1").replace(/\0$/, "")));
    c.on("error", reject);
    c.setTimeout(10_000, () => c.destroy(new Error(`no answer to ${command}`)));
  });
}

describe.skipIf(!built || !hasCorpus)("vigil freshclam and a running vigil daemon", () => {
  it("the daemon on the database directory reloads after the update (its rules hash in VERSION changes)", async () => {
    const root = await temp();
    const { www, db } = await setup(root, 6, [2, 3, 4, 5, 6], 1);
    const sock = join(root, "vigil.sock");
    const daemon = spawn(process.execPath, [BIN, "daemon", "--socket", sock, "-d", db, "--no-cache", "-j", "1"], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    daemon.stderr.on("data", (d: Buffer) => (err += d.toString()));
    onTestFinished(() => {
      daemon.kill("SIGTERM");
    });
    for (let i = 0; i < 600 && !existsSync(sock); i++) {
      if (daemon.exitCode !== null) throw new Error(`vigil daemon exited ${daemon.exitCode}: ${err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const before = await ask(sock, "VERSION");
    expect(before).toMatch(/^ClamAV [\d.]+\/Vigil [\d.]+\/[0-9a-f]{16}$/);
    const r = await vigil(["freshclam", "--mirror", www, "--datadir", db, "--db", "test", "--notify-clamd", sock]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`clamd at ${sock} reloads the databases`);
    let after = before;
    for (let i = 0; i < 300 && after === before; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = await ask(sock, "VERSION");
    }
    expect(after).not.toBe(before);
    expect(after).toMatch(/^ClamAV [\d.]+\/Vigil [\d.]+\/[0-9a-f]{16}$/);
  });
});
