/**
 * `vigil daemon --config-file clamd.conf` against Debian's clamd on the same file: Debian's
 * /etc/clamav/clamd.conf with only LocalSocket, DatabaseDirectory and LogFile pointed into a
 * test directory (User clamav, LocalSocketMode 666, Foreground false, LogTime,
 * ExtendedDetectionInfo... kept as they are). clamd runs first (`--foreground` on its command
 * line; Vigil warns that it does not fork), then Vigil on the same file; `clamdscan
 * --config-file` with that file must print the same lines and exit codes for both, and the
 * two logs must hold the same start-up, detection, reload and shutdown lines (the times aside).
 * A second round with LogClean on compares the clean-file lines. Runs the built bin: `npx tsc -b`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import {
  chmodSync,
  chownSync,
  cpSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { EICAR, needs, scratchDir, talk } from "@vigil/test-kit";

const BIN = fileURLToPath(new URL("../bin/vigil.js", import.meta.url));
const DEBIAN = "/etc/clamav/clamd.conf";
const ROOT = process.getuid?.() === 0;

/**
 * Whether clamd.conf's `User clamav` can read this checkout: not when it is cloned under a
 * mode-700 directory (a home directory, `mktemp -d`). Vigil then refuses to start with
 * USER_CANNOT_READ_INSTALL (tested below), so the comparison runs both daemons without `User`.
 */
const clamavReadsCheckout = (): boolean =>
  spawnSync("setpriv", ["--reuid=clamav", "--regid=clamav", "--init-groups", "test", "-r", BIN]).status === 0;

interface Run {
  lines: string[];
  code: number;
  stderr: string;
}

function clamdscan(conf: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      "clamdscan",
      [`--config-file=${conf}`, "--no-summary", ...args],
      { timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === "number"
            ? (err as { code: number }).code
            : -1
          : 0;
        resolve({ lines: stdout.split("\n").filter(Boolean).sort(), code, stderr });
      },
    );
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(f: () => boolean | Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await f()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const ping = async (sock: string) => (await talk(sock, ["zPING\0"], 500).catch(() => ({ text: "" }))).text === "PONG\0";

/** The log without LogTime's prefix, times in Started/Stopped lines blanked. */
function logLines(path: string): string[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => l.replace(/^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} -> /, ""))
    .map((l) => l.replace(/(Started|Stopped) at .*/, "$1 at T"));
}

/** The lines both daemons write (clamd also writes lines about features Vigil does not have). */
const SHARED =
  /FOUND$|: OK$|ERROR$|^\+\+\+ Started|^--- Stopped|^Socket file removed|^Reading databases|^Loaded \d+ signatures|^Database correctly reloaded|^Activating the newly|^LOCAL: |^Limits: (Global|File size|Recursion|Files limit)|^Not loading PUA|^Self checking|^Archive support|^AlertExceedsMax|^Log file size/;

const TITLE = "vigil daemon --config-file: Debian's clamd.conf, Vigil vs clamd";

describe.skipIf(needs(TITLE, { tools: ["clamd", "clamdscan"], debianFiles: [DEBIAN] }))(TITLE, () => {
  let dir: ReturnType<typeof scratchDir>;
  let conf: string, sock: string, logFile: string, db: string;
  const f: Record<string, string> = {};
  const results: Record<
    string,
    { clamd: Run[]; vigil: Run[]; clamdLog: string[]; vigilLog: string[]; vigilErr: string }
  > = {};
  const root = process.getuid?.() === 0;

  const cases = (): string[][] => [
    [f.eicar!, f.clean!, f.body!, f.phish!],
    ["--stream", f.eicar!, f.clean!, f.body!, f.both!, f.phish!],
    ["-m", f.tree!],
    [f.tree!],
    ["--allmatch", f.both!],
  ];

  async function round(name: string, text: string): Promise<void> {
    writeFileSync(conf, text);
    const out = {
      clamd: [] as Run[],
      vigil: [] as Run[],
      clamdLog: [] as string[],
      vigilLog: [] as string[],
      vigilErr: "",
    };
    for (const who of ["clamd", "vigil"] as const) {
      const p: ChildProcess =
        who === "clamd"
          ? spawn("clamd", ["-c", conf, "--foreground"], { stdio: "ignore" })
          : spawn(process.execPath, [BIN, "daemon", "--config-file", conf, "-j", "1"], {
              stdio: ["ignore", "ignore", "pipe"],
            });
      let err = "";
      p.stderr?.on("data", (b) => (err += b));
      const exited = new Promise<void>((r) => p.on("exit", () => r()));
      try {
        await waitFor(() => ping(sock), `${who} on ${sock}`);
        if (who === "vigil") {
          // LocalSocketMode 666 and LocalSocketGroup clamav, as clamd sets them
          const st = statSync(sock);
          expect(st.mode & 0o777).toBe(0o666);
          if (root) expect(st.gid).toBe(Number(/^clamav:[^:]*:(\d+)/m.exec(readFileSync("/etc/group", "utf8"))![1]));
        }
        for (const args of cases()) out[who].push(await clamdscan(conf, args));
        const before = readFileSync(logFile, "utf8").length;
        await clamdscan(conf, ["--reload"]);
        await waitFor(
          () => readFileSync(logFile, "utf8").slice(before).includes("Activating the newly loaded database"),
          "the reload",
        );
        await talk(sock, ["zSHUTDOWN\0"], 2000);
        await Promise.race([exited, sleep(30_000)]);
      } finally {
        p.kill("SIGKILL");
      }
      out[`${who}Log`] = logLines(logFile);
      if (who === "vigil") out.vigilErr = err;
      renameSync(logFile, `${logFile}.${who}.${name}`);
    }
    results[name] = out;
  }

  beforeAll(async () => {
    dir = scratchDir();
    chmodSync(dir.dir, 0o755);
    db = join(dir.dir, "db");
    mkdirSync(db);
    const hashed = Buffer.from("a file known by its hash, not its content\n");
    writeFileSync(
      join(db, "t.hdb"),
      `${createHash("md5").update(hashed).digest("hex")}:${hashed.length}:Test.Hash.Conf-1\n`,
    );
    writeFileSync(
      join(db, "t.ndb"),
      `Test.Body.Conf-1:0:*:${Buffer.from("VIGIL-CLAMDCONF-MARKER").toString("hex")}\nTest.Body.Second-1:0:*:${Buffer.from("SECOND-CONF-MARKER").toString("hex")}\n`,
    );
    // PhishingSignatures and PhishingScanURLs (Debian's file: true): the .pdb applies to mail links
    writeFileSync(join(db, "t.pdb"), "H:paypal.com\n");
    f.phish = dir.file(
      "files/phish.eml",
      'From: a@example.org\nTo: b@example.org\nSubject: x\nContent-Type: text/html\n\n<a href="http://evil.example.net/">www.paypal.com</a>\n',
    );
    f.eicar = dir.file("files/eicar.com", EICAR); // no EICAR signature here: OK for both
    f.clean = dir.file("files/clean.txt", "nothing to see\n");
    f.body = dir.file("files/body.txt", "prefix VIGIL-CLAMDCONF-MARKER suffix\n");
    f.both = dir.file("files/both.txt", "VIGIL-CLAMDCONF-MARKER and SECOND-CONF-MARKER\n");
    f.hashed = dir.file("files/tree/hashed.bin", hashed);
    dir.file("files/tree/a.txt", "clean a\n");
    dir.file("files/tree/sub/b.txt", "VIGIL-CLAMDCONF-MARKER in a tree\n");
    f.tree = join(dir.dir, "files/tree");
    for (const d of ["db", "files", "files/tree", "files/tree/sub"]) chmodSync(join(dir.dir, d), 0o755);
    mkdirSync(join(dir.dir, "run"));
    mkdirSync(join(dir.dir, "log"));
    if (root) {
      // User clamav: as in Debian, the socket and log directories belong to clamav
      const { uid, gid } = statSync("/var/lib/clamav");
      chownSync(join(dir.dir, "run"), uid, gid);
      chownSync(join(dir.dir, "log"), uid, gid);
    }
    sock = join(dir.dir, "run/clamd.ctl");
    logFile = join(dir.dir, "log/clamav.log");
    conf = join(dir.dir, "clamd.conf");
    let debian = readFileSync(DEBIAN, "utf8");
    if (root && !clamavReadsCheckout()) {
      console.log(
        `${TITLE}: user clamav cannot read this checkout (a parent directory is private): both daemons run without User`,
      );
      debian = debian.replace(/^User .*$/m, "");
    }
    debian = debian
      .replace(/^LocalSocket .*$/m, `LocalSocket ${sock}`)
      .replace(/^DatabaseDirectory .*$/m, `DatabaseDirectory ${db}`)
      .replace(/^LogFile .*$/m, `LogFile ${logFile}`);
    await round("debian", debian);
    await round("logclean", debian.replace(/^LogClean .*$/m, "LogClean true"));
  }, 300_000);

  afterAll(() => dir?.cleanup());

  it("clamdscan --config-file prints the same lines and exit codes with either daemon", () => {
    for (const r of Object.values(results)) {
      expect(r.clamd.length).toBe(cases().length);
      for (let i = 0; i < r.clamd.length; i++) {
        expect(r.clamd[i]!.lines.length).toBeGreaterThan(0);
        expect({ args: cases()[i], ...r.vigil[i] }).toEqual({ args: cases()[i], ...r.clamd[i] });
      }
    }
  });

  it("the logs hold the same start-up, detection (with md5:size), reload and shutdown lines", () => {
    for (const [name, r] of Object.entries(results)) {
      const shared = (ls: string[]) => ls.filter((l) => SHARED.test(l)).sort();
      expect(r.clamdLog.some((l) => /\(\w{32}:\d+\) FOUND$/.test(l))).toBe(true);
      expect(r.clamdLog).toContain("--- Stopped at T");
      if (name === "logclean") expect(r.clamdLog).toContain(`${f.clean}: OK`);
      expect(shared(r.vigilLog)).toEqual(shared(r.clamdLog));
    }
  });

  it("Vigil names each option of Debian's file it does not honour, once, with its line", () => {
    const err = results.debian!.vigilErr;
    expect(err).toMatch(/warning: .*clamd\.conf:\d+: Foreground not honoured: Vigil does not fork/);
    expect(err).toMatch(/warning: .*clamd\.conf:\d+: Bytecode not honoured/);
    expect(err).not.toMatch(/ScanPE|MaxThreads|LocalSocket|DatabaseDirectory|LogTime|Phishing/);
    const names = [...err.matchAll(/clamd\.conf:\d+: (\w+) not honoured/g)].map((m) => m[1]);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe("vigil daemon --config-file: bad files", () => {
  const asRoot = (what: string) => {
    if (!ROOT) console.log(`${what}: skipped, switching users needs root`);
    return !ROOT;
  };
  it.skipIf(asRoot("User refused when it cannot read the installation"))(
    "User naming someone who cannot read the installation stops it at start with the directory to fix (exit 2)",
    async () => {
      // a copy of the cli under a mode-700 directory, its dependencies reached through a link
      const dir = scratchDir();
      try {
        const top = join(dir.dir, "private");
        const cli = join(top, "install/packages/cli");
        for (const part of ["bin", "dist", "package.json"])
          cpSync(fileURLToPath(new URL(`../${part}`, import.meta.url)), join(cli, part), { recursive: true });
        symlinkSync(
          fileURLToPath(new URL("../../../node_modules", import.meta.url)),
          join(top, "install/node_modules"),
        );
        chmodSync(dir.dir, 0o755);
        chmodSync(top, 0o700);
        const conf = dir.file("user.conf", `LocalSocket ${join(dir.dir, "u.sock")}\nUser nobody\n`);
        const r = await new Promise<{ code: number | null; err: string }>((resolve) => {
          const p = spawn(process.execPath, [join(cli, "bin/vigil.js"), "daemon", "--config-file", conf], {
            stdio: ["ignore", "ignore", "pipe"],
          });
          let err = "";
          p.stderr.on("data", (b) => (err += b));
          p.on("close", (code) => resolve({ code, err }));
        });
        expect(r.code).toBe(2);
        expect(r.err).toContain(
          `User nobody cannot read Vigil's files under ${join(top, "install")}: directory ${top} is mode 700`,
        );
        expect(r.err).toMatch(/\(USER_CANNOT_READ_INSTALL\)\n$/);
      } finally {
        dir.cleanup();
      }
    },
  );

  const run = (conf: string) =>
    new Promise<{ code: number | null; err: string }>((resolve) => {
      const p = spawn(process.execPath, [BIN, "daemon", "--config-file", conf], {
        stdio: ["ignore", "ignore", "pipe"],
      });
      let err = "";
      p.stderr.on("data", (b) => (err += b));
      p.on("close", (code) => resolve({ code, err }));
    });

  it("a bad value stops it with the file and line (exit 2); no socket is an error; a missing file too", async () => {
    const dir = scratchDir();
    try {
      const bad = dir.file("bad.conf", "LocalSocket /tmp/x.sock\n# comment\nMaxThreads many\n");
      const r = await run(bad);
      expect(r.code).toBe(2);
      expect(r.err).toBe(`vigil daemon: ${bad}:3: MaxThreads takes a whole number, not "many" (BAD_CONFIG)\n`);
      const none = await run(dir.file("none.conf", "LogTime yes\n"));
      expect(none.code).toBe(2);
      expect(none.err).toMatch(/defines no socket: set LocalSocket and\/or TCPSocket .*\(BAD_CONFIG\)/);
      const missing = await run(join(dir.dir, "missing.conf"));
      expect(missing.code).toBe(2);
      expect(missing.err).toMatch(/cannot read the configuration file .*missing\.conf/);
    } finally {
      dir.cleanup();
    }
  });
});
