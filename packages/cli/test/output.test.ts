/**
 * How `vigil` ends when its output fails or its command fails, run as processes on the built bin:
 * a reader that goes away (`vigil ... | head -1`) ends every command quietly with status 141, as
 * yara and clamscan do; a reader that is slow pauses the scan (back-pressure); a full disk is one
 * line and exit 2; a failing command prints one line `vigil <command>: <message> (<CODE>)` and
 * no stack trace unless VIGIL_DEBUG=1. And `fail()` itself, in process.
 */
import { spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test, vi } from "vitest";
import { AGENT_REFUSALS, fail } from "../src/fail.js";

const BIN = join(__dirname, "../bin/vigil.js");
const built = existsSync(join(__dirname, "../dist/index.js"));
if (!built) console.log("CLI output tests need the build (npm test runs tsc -b first): not run");
const haveDevFull = existsSync("/dev/full");
if (!haveDevFull) console.log("the full-disk test needs /dev/full: not run");

const dir = mkdtempSync(join(tmpdir(), "vigil-output-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const env = { ...process.env, XDG_CACHE_HOME: join(dir, "cache"), XDG_DATA_HOME: join(dir, "data"), VIGIL_DEBUG: "" };

// many small files: `scan -a` prints a line for each, far more than a pipe holds
const many = join(dir, "many");
mkdirSync(many);
for (let i = 0; i < 3000; i++) writeFileSync(join(many, `file-${String(i).padStart(4, "0")}.txt`), `file ${i}\n`);
// files of zeros and a rule that matches every second byte: `yara -s` prints a line per match
const zeros = join(dir, "zeros");
mkdirSync(zeros);
for (let i = 0; i < 8; i++) writeFileSync(join(zeros, `z${i}.bin`), Buffer.alloc(96 * 1024));
const zeroRule = join(dir, "zero.yar");
// a vault with entries for `quarantine list` (EICAR's test string, assembled here)
const infected = join(dir, "infected");
mkdirSync(infected);
const EICAR = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
for (let i = 0; i < 3; i++) writeFileSync(join(infected, `eicar-${i}.com`), EICAR);
const vault = join(dir, "vault");
writeFileSync(zeroRule, "rule a { strings: $a = { 00 00 } condition: $a }\n");

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  stdout: string;
  ms: number;
}

/** Runs the bin with a stdout that is closed before it starts, or after the first line (`| head -1`). */
function runClosed(args: string[], when: "before" | "first-line"): Promise<Ended> {
  const t = Date.now();
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "",
    stdout = "";
  child.stderr.on("data", (c) => (stderr += c));
  if (when === "before") child.stdout.destroy();
  else {
    child.stdout.on("data", (c) => {
      stdout += c;
      if (stdout.includes("\n")) child.stdout.destroy();
    });
  }
  return new Promise((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal, stderr, stdout, ms: Date.now() - t })),
  );
}

/** CPU time (user + system, in clock ticks) a process has used so far. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of proc(5))
}

const NO_STACK = /^\s+at |Error: |node:internal|Unhandled/m;

describe.skipIf(!built)("a closed pipe ends the command quietly", () => {
  const commands = readdirSync(join(__dirname, "../dist/commands"))
    .filter((f) => f.endsWith(".js"))
    .map((f) => f.slice(0, -3));

  test("every command's help, vigil --help and --version", async () => {
    expect(commands.length).toBeGreaterThan(10);
    const q = spawnSync(process.execPath, [BIN, "scan", "--no-cache", "--quarantine-dir", vault, infected], {
      env,
      encoding: "utf8",
    });
    expect(q.status, q.stderr).toBe(1);
    expect(
      spawnSync(process.execPath, [BIN, "quarantine", "list", "--quarantine-dir", vault], { env, encoding: "utf8" })
        .stdout,
    ).toMatch(/eicar-2\.com/);
    for (const args of [
      ...commands.map((c) => [c, "--help"]),
      ["--help"],
      ["--version"],
      ["quarantine", "list", "--quarantine-dir", vault],
    ]) {
      const r = await runClosed(args, "before");
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 141, stderr: "" });
    }
  }, 120_000);

  test("vigil scan -a DIR | head -1, in every report format that prints per file", async () => {
    for (const format of ["text", "ndjson", "json"]) {
      const r = await runClosed(["scan", "-a", "--no-cache", "-f", format, many], "first-line");
      expect(r.stderr, format).not.toMatch(NO_STACK);
      expect({ format, code: r.code, stderr: r.stderr }).toEqual({ format, code: 141, stderr: "" });
    }
  }, 120_000);

  test("vigil yara -s RULES DIR | head -1 stops scanning, with one thread and with several", async () => {
    for (const threads of ["1", "3"]) {
      const r = await runClosed(["yara", "-w", "-s", "-p", threads, zeroRule, zeros], "first-line");
      expect(r.stdout).toMatch(/^a .*z\d+\.bin\n/);
      expect({ threads, code: r.code, stderr: r.stderr }).toEqual({ threads, code: 141, stderr: "" });
    }
  }, 120_000);
});

describe.skipIf(!built)("back-pressure: a slow reader pauses the scan", () => {
  test("vigil yara -s with a reader that stops reading uses no CPU until it reads again", async () => {
    const child = spawn(process.execPath, [BIN, "yara", "-w", "-s", zeroRule, zeros], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (c) => (stderr += c));
    // wait for the first output, then stop reading
    await new Promise<void>((resolve) =>
      child.stdout.once("data", () => {
        child.stdout.pause();
        resolve();
      }),
    );
    await new Promise((r) => setTimeout(r, 500));
    const before = cpuTicks(child.pid!);
    await new Promise((r) => setTimeout(r, 2000));
    const after = cpuTicks(child.pid!);
    // 8 files of 96 KiB with a match at every byte take seconds of CPU: a scan that ran on
    // while nobody read would use most of those two seconds
    expect(after - before).toBeLessThan(20);
    expect(child.exitCode).toBe(null);
    let bytes = 0,
      lines = 0;
    child.stdout.on("data", (c: Buffer) => {
      bytes += c.length;
      for (const b of c) if (b === 10) lines++;
    });
    child.stdout.resume();
    const code = await new Promise<number | null>((r) => child.on("close", (c) => r(c)));
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(bytes).toBeGreaterThan(1_000_000);
    expect(lines).toBeGreaterThan(8 * 90_000); // every file's rule line and its match lines arrived
  }, 300_000);
});

describe.skipIf(!built || !haveDevFull)("a full disk is one line and exit 2", () => {
  for (const [name, args] of [
    ["scan", ["scan", "-a", "--no-cache", many]],
    ["yara", ["yara", "-w", "-s", zeroRule, zeros]],
  ] as const) {
    test(`vigil ${name} > /dev/full`, () => {
      const full = openSync("/dev/full", "w");
      try {
        const r = spawnSync(process.execPath, [BIN, ...args], {
          env,
          stdio: ["ignore", full, "pipe"],
          encoding: "utf8",
          timeout: 120_000,
        });
        expect(r.status).toBe(2);
        expect(r.stderr).toBe(`vigil ${name}: cannot write to standard output: no space left on device (ENOSPC)\n`);
      } finally {
        closeSync(full);
      }
    }, 150_000);
  }
});

describe.skipIf(!built)("failures are one line with their code", () => {
  test("an expected error: no stack trace, exit 2; VIGIL_DEBUG=1 adds the stack", () => {
    const args = [BIN, "scan", "--no-cache", "--max-filesize", "lots", many];
    const r = spawnSync(process.execPath, args, { env, encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^vigil scan: .*lots.* \(BAD_OPTION\)\n$/);
    const d = spawnSync(process.execPath, args, { env: { ...env, VIGIL_DEBUG: "1" }, encoding: "utf8" });
    expect(d.status).toBe(2);
    expect(d.stderr).toMatch(/^vigil scan: .*\(BAD_OPTION\)\nScannerError: .*\n\s+at /);
  });

  test("the version comes from package.json", () => {
    const { version } = JSON.parse(readFileSync(join(__dirname, "../package.json"), "utf8")) as { version: string };
    expect(spawnSync(process.execPath, [BIN, "--version"], { env, encoding: "utf8" }).stdout).toBe(
      `vigil ${version}\n`,
    );
    expect(spawnSync(process.execPath, [BIN, "yara", "--version"], { env, encoding: "utf8" }).stdout).toBe(
      `4.5.0 (vigil ${version})\n`,
    );
  });
});

describe("fail()", () => {
  function failed(...args: Parameters<typeof fail>): { code: number; err: string } {
    let err = "";
    const spy = vi.spyOn(process.stderr, "write").mockImplementation((s) => {
      err += String(s);
      return true;
    });
    try {
      return { code: fail(...args), err };
    } finally {
      spy.mockRestore();
    }
  }
  const coded = (code: string, message: string) => Object.assign(new Error(message), { code });

  test("a package error: message and code, exit 2; a refusal: exit 1", () => {
    expect(
      failed("ledger", coded("BAD_OPTION", "--limit must be a whole number"), { refusals: AGENT_REFUSALS }),
    ).toEqual({ code: 2, err: "vigil ledger: --limit must be a whole number (BAD_OPTION)\n" });
    expect(
      failed("ledger", coded("LEDGER_BROKEN", "the ledger is broken at line 5"), { refusals: AGENT_REFUSALS }),
    ).toEqual({ code: 1, err: "vigil ledger: refused: the ledger is broken at line 5 (LEDGER_BROKEN)\n" });
  });

  test("a system error names the path; multi-line messages become one line", () => {
    const e = Object.assign(new Error("ENOENT: no such file or directory, open '/no/such'"), {
      code: "ENOENT",
      syscall: "open",
      path: "/no/such",
      errno: -2,
    });
    expect(failed("scan", e)).toEqual({ code: 2, err: "vigil scan: /no/such: no such file or directory (ENOENT)\n" });
    expect(failed("x", coded("C", "one\n  two"))).toEqual({ code: 2, err: "vigil x: one; two (C)\n" });
  });

  test("commander's errors were printed already; a socket's EPIPE is an error; a bug says so", () => {
    expect(failed("scan", coded("commander.helpDisplayed", "(outputHelp)"))).toEqual({ code: 0, err: "" });
    expect(failed("scan", coded("commander.unknownOption", "error: unknown option"))).toEqual({ code: 2, err: "" });
    expect(
      failed("agent", Object.assign(new Error("write EPIPE"), { code: "EPIPE", syscall: "write", errno: -32 })),
    ).toEqual({ code: 2, err: "vigil agent: write EPIPE (EPIPE)\n" });
    const bug = failed("scan", new TypeError("x is undefined"));
    expect(bug.code).toBe(2);
    expect(bug.err).toMatch(/^vigil scan: internal error: TypeError: x is undefined \(a bug: .*VIGIL_DEBUG=1.*\)\n$/);
  });
});
