// End-to-end tests of `vigil scan` and `vigil quarantine`: the built bin (npx tsc -b) in temporary trees.
import { describe, expect, it, beforeAll } from "vitest";
import { spawn, spawnSync, execFileSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { EICAR, makeZip } from "@vigil/test-kit";

const BIN = fileURLToPath(new URL("../bin/vigil.js", import.meta.url));

let home: string;
let tree: string;

function vigil(
  args: string[],
  opts: { input?: string; cwd?: string; uid?: number; gid?: number; withoutDacOverride?: boolean } = {},
) {
  // withoutDacOverride: root without the capabilities that let it read any file (util-linux's
  // setpriv), so file modes bite while the checkout stays readable wherever it is cloned
  const [cmd, pre] = opts.withoutDacOverride
    ? ["setpriv", ["--bounding-set", "-dac_override,-dac_read_search", "--", process.execPath]]
    : [process.execPath, []];
  const r = spawnSync(cmd, [...pre, BIN, ...args], {
    encoding: "utf8",
    input: opts.input ?? "",
    cwd: opts.cwd ?? tree,
    uid: opts.uid,
    gid: opts.gid,
    timeout: 60_000,
    env: { ...process.env, XDG_CACHE_HOME: join(home, "cache"), XDG_DATA_HOME: join(home, "data"), NO_COLOR: "1" },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), "vigil-cli-home-"));
  tree = mkdtempSync(join(tmpdir(), "vigil-cli-"));
  mkdirSync(join(tree, "clean/sub"), { recursive: true });
  writeFileSync(join(tree, "clean/a.txt"), "hello");
  writeFileSync(join(tree, "clean/sub/b.txt"), "world");
  mkdirSync(join(tree, "bad"));
  writeFileSync(join(tree, "bad/eicar.com"), EICAR);
  writeFileSync(
    join(tree, "bad/nested.zip"),
    makeZip([{ name: "docs/inner.zip", data: makeZip([{ name: "deep/eicar.txt", data: EICAR }]) }]),
  );
  mkdirSync(join(tree, "arch"));
  writeFileSync(join(tree, "arch/bomb.zip"), makeZip([{ name: "zeros.bin", data: Buffer.alloc(40 * 1024 * 1024) }]));
  writeFileSync(join(tree, "arch/enc.zip"), makeZip([{ name: "secret.com", data: EICAR, method: 0, flags: 1 }]));
  mkdirSync(join(tree, "loop/x"), { recursive: true });
  symlinkSync(join(tree, "loop"), join(tree, "loop/x/back"));
  writeFileSync(join(tree, "loop/x/file.txt"), "f");
});

describe("vigil scan (end to end)", () => {
  it("exit codes: 0 clean, 1 found, 2 errors, detection wins over errors", () => {
    const clean = vigil(["scan", "clean"]);
    expect(clean.code).toBe(0);
    expect(clean.out).toBe("");
    expect(clean.err).toMatch(/Scanned directories: 2\nScanned files: 2\nInfected files: 0\n/);
    const bad = vigil(["scan", "bad"]);
    expect(bad.code).toBe(1);
    expect(bad.out.split("\n").sort().filter(Boolean)).toEqual([
      "bad/eicar.com: Win.Test.EICAR_HDB-1 FOUND",
      "bad/nested.zip!docs/inner.zip!deep/eicar.txt: Win.Test.EICAR_HDB-1 FOUND",
    ]);
    const missing = vigil(["scan", "clean", "nope"]);
    expect(missing.code).toBe(2);
    expect(missing.out).toMatch(/^nope: no such file or directory .*ERROR$/m);
    expect(missing.err).toMatch(/Total errors: 1/);
    expect(vigil(["scan", "nope", "bad/eicar.com"]).code).toBe(1);
  });

  it("--all, -i and skipped entries", () => {
    const all = vigil(["scan", "--all", "--no-cache", "clean", "loop"]);
    expect(all.out).toContain("clean/a.txt: OK\n");
    expect(all.out).toContain("loop/x/back: Symbolic link\n");
    const inf = vigil(["scan", "-i", "bad", "nope"]);
    expect(inf.out).not.toMatch(/ERROR/);
    expect(inf.out).toMatch(/FOUND/);
  });

  it("json, ndjson, sarif and -o FILE", () => {
    const j = vigil(["scan", "-f", "json", "bad", "clean"]);
    const doc = JSON.parse(j.out);
    expect(doc.summary).toMatchObject({ files: 4, infected: 2 });
    expect(doc.rules.signatures).toBeGreaterThanOrEqual(4);
    const nd = vigil(["scan", "--format", "ndjson", "bad"])
      .out.trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(nd.at(-1)).toMatchObject({ type: "summary", infected: 2 });
    expect(
      nd
        .filter((x) => x.type === "file")
        .flatMap((x) => x.detections.map((d: { path: string }) => d.path))
        .sort(),
    ).toEqual(["bad/eicar.com", "bad/nested.zip!docs/inner.zip!deep/eicar.txt"]);
    const outFile = join(home, "report.sarif");
    const s = vigil(["scan", "-f", "sarif", "-o", outFile, "bad"]);
    expect(s.out).toBe("");
    expect(s.code).toBe(1);
    const sarif = JSON.parse(readFileSync(outFile, "utf8"));
    expect(sarif.version).toBe("2.1.0");
    const results = sarif.runs[0].results;
    expect(results).toHaveLength(2);
    const direct = results.find(
      (r: { locations: { physicalLocation: { artifactLocation: { uri: string } } }[] }) =>
        r.locations[0].physicalLocation.artifactLocation.uri === "bad/eicar.com",
    );
    expect(direct.locations[0].physicalLocation).toEqual({
      artifactLocation: { uri: "bad/eicar.com", uriBaseId: "%SRCROOT%" },
      region: { startLine: 1, byteOffset: 0, byteLength: 68 },
    });
  });

  it("archives: bombs are detections, encrypted members are reported as not fully scanned", () => {
    const r = vigil(["scan", "arch"]);
    expect(r.out).toMatch(/^arch\/bomb\.zip!zeros\.bin: Vigil\.Heuristic\.ArchiveBomb FOUND$/m);
    expect(r.out).toMatch(/^arch\/enc\.zip!secret\.com: Not fully scanned \(encrypted\).* WARNING$/m);
    expect(r.err).toMatch(/Not fully scanned: 2/);
    expect(r.code).toBe(1);
    const enc = vigil(["scan", "arch/enc.zip"]);
    expect(enc.code).toBe(0);
  });

  it("limits: over-limit files are never silently OK", () => {
    const r = vigil(["scan", "--all", "--max-filesize", "10", "bad/eicar.com"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^bad\/eicar\.com: Not fully scanned \(max-filesize\).*WARNING$/m);
    expect(r.out).not.toMatch(/: OK$/m);
    const a = vigil(["scan", "--max-filesize", "10", "--alert-exceeds-max", "bad/eicar.com"]);
    expect(a.code).toBe(1);
    expect(a.out).toMatch(/^bad\/eicar\.com: Heuristics\.Limits\.Exceeded\.MaxFileSize FOUND$/m);
    expect(vigil(["scan", "--max-recursion", "1", "bad/nested.zip"]).out).toMatch(
      /Not fully scanned \(max-recursion\)/,
    );
    expect(vigil(["scan", "--max-filesize", "lots", "bad"]).code).toBe(2);
  });

  it("--max-scantime stops a slow scan and reports it", () => {
    writeFileSync(join(home, "slow.yar"), "rule Slow { strings: $a = /a[^b]{0,300}c/ condition: $a }");
    writeFileSync(join(home, "aaa.txt"), Buffer.alloc(3_000_000, 0x61));
    const r = vigil([
      "scan",
      "--no-builtin",
      "--no-cache",
      "--rules",
      join(home, "slow.yar"),
      "--max-scantime",
      "50",
      join(home, "aaa.txt"),
    ]);
    expect(r.out).toMatch(/aaa\.txt: Not fully scanned \(max-scantime\).* WARNING$/m);
    expect(r.code).toBe(0);
    rmSync(join(home, "aaa.txt"));
  });

  it("a time-out keeps the detection made before it, and the detection sets the exit code (issue 17, finding 4)", () => {
    writeFileSync(
      join(home, "slow-eicar.yar"),
      String.raw`
rule Slow { strings: $a = /x+\b/ condition: $a }
rule Eicar_Anywhere { strings: $a = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE" condition: $a }`,
    );
    writeFileSync(join(home, "eicar-then-x.bin"), Buffer.concat([Buffer.from(EICAR), Buffer.alloc(1 << 20, 0x78)]));
    for (const jobs of ["0", "1"]) {
      const r = vigil([
        "scan",
        "--no-builtin",
        "--no-cache",
        "--jobs",
        jobs,
        "--rules",
        join(home, "slow-eicar.yar"),
        "--max-scantime",
        "300",
        join(home, "eicar-then-x.bin"),
      ]);
      expect(r.out).toMatch(/eicar-then-x\.bin: Eicar_Anywhere FOUND$/m);
      expect(r.out).toMatch(/eicar-then-x\.bin: Not fully scanned \(max-scantime\).* WARNING$/m);
      expect(r.code).toBe(1);
    }
    rmSync(join(home, "eicar-then-x.bin"));
  });

  it("symlink loops with --follow-symlinks end with an error, not a hang", () => {
    const r = vigil(["scan", "--follow-symlinks", "loop"]);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/loop\/x\/back: directory loop/);
  });

  it("progress is drawn on a terminal only, and --no-progress / --quiet turn it off", () => {
    const d = mkdtempSync(join(tmpdir(), "vigil-tty-"));
    for (let i = 0; i < 40; i++) writeFileSync(join(d, `f${i}.bin`), Buffer.alloc(200_000, i));
    const viaTty = (extra: string) =>
      spawnSync("script", ["-qec", `${process.execPath} ${BIN} scan --no-cache -j 1 ${extra} ${d}`, "/dev/null"], {
        encoding: "utf8",
        env: { ...process.env, XDG_CACHE_HOME: join(home, "cache"), NO_COLOR: "1" },
        timeout: 60_000,
      }).stdout;
    const withTty = viaTty("");
    expect(withTty).toMatch(/\d+\/40 files \d+ files\/s [\d.]+ MB\/s 0 found/);
    expect(viaTty("--no-progress")).not.toMatch(/files\/s/);
    expect(viaTty("--quiet")).not.toMatch(/files\/s/);
    // not a terminal: no progress on stderr
    expect(vigil(["scan", "--no-cache", d]).err).not.toMatch(/files\/s/);
    rmSync(d, { recursive: true, force: true });
  });

  it("stdin with -", () => {
    const r = vigil(["scan", "-"], { input: EICAR });
    expect(r.out).toBe("stdin: Win.Test.EICAR_HDB-1 FOUND\n");
    expect(r.code).toBe(1);
  });

  it("permission denied is an error (root without its read-anything capabilities), and the scan goes on", () => {
    const d = mkdtempSync(join(tmpdir(), "vigil-perm-"));
    chmodSync(d, 0o755);
    writeFileSync(join(d, "secret.txt"), "s");
    chmodSync(join(d, "secret.txt"), 0o000);
    mkdirSync(join(d, "closed"));
    writeFileSync(join(d, "closed/x"), "x");
    chmodSync(join(d, "closed"), 0o000);
    writeFileSync(join(d, "eicar.com"), EICAR);
    chmodSync(join(d, "eicar.com"), 0o644);
    // as root, drop the capabilities that let root read anything (not the uid: an unprivileged
    // user may not reach a checkout under a mode-700 directory); as any other user the modes bite
    const asRoot = process.getuid?.() === 0;
    const r = vigil(["scan", "--no-cache", d], { withoutDacOverride: asRoot, cwd: "/" });
    expect(r.out).toMatch(/secret\.txt: access denied .*ERROR$/m);
    expect(r.out).toMatch(/closed: access denied .*ERROR$/m);
    expect(r.out).toMatch(/eicar\.com: Win\.Test\.EICAR_HDB-1 FOUND$/m);
    expect(r.code).toBe(1);
  });

  it("custom rules, --no-builtin, and rules that do not compile", () => {
    writeFileSync(
      join(home, "custom.yar"),
      'rule Hello_Rule { meta: clamav_name = "Custom.Hello" strings: $h = "hello" condition: $h }',
    );
    const r = vigil(["scan", "--no-builtin", "--rules", join(home, "custom.yar"), "clean", "bad"]);
    expect(r.out).toBe("clean/a.txt: Custom.Hello FOUND\n");
    expect(r.err).toMatch(/Known viruses: 1\n/);
    writeFileSync(join(home, "broken.yar"), "rule { oops");
    const b = vigil(["scan", "--rules", join(home, "broken.yar"), "clean"]);
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/rules do not compile/);
  });

  it("the scan cache skips unchanged files on the next run", () => {
    const d = mkdtempSync(join(tmpdir(), "vigil-c-"));
    for (let i = 0; i < 5; i++) writeFileSync(join(d, `f${i}`), `file ${i}`);
    vigil(["scan", d]);
    expect(vigil(["scan", d]).err).toMatch(/Unchanged \(cached\): 5/);
    expect(vigil(["scan", "--no-cache", d]).err).not.toMatch(/cached/);
  });

  it("exclude, include and max-depth", () => {
    expect(vigil(["scan", "--exclude", "*.zip", "bad"]).out).toBe("bad/eicar.com: Win.Test.EICAR_HDB-1 FOUND\n");
    expect(vigil(["scan", "--include", "*.zip", "bad"]).out).toMatch(/^bad\/nested\.zip!.*FOUND\n$/);
    const ex = vigil(["scan", "--exclude-regex", "(^|/)bad/", "--all", "."]).out;
    expect(ex).not.toMatch(/bad\/.*(FOUND|OK)$/m);
    expect(ex).toMatch(/^\.\/bad\/eicar\.com: Excluded$/m);
    expect(vigil(["scan", "--max-depth", "0", "--all", "--no-cache", "clean"]).out.split("\n").sort()).toEqual([
      "",
      "clean/a.txt: OK",
      "clean/sub: Max depth",
    ]);
  });

  it("quarantine round trip through the CLI", () => {
    const d = mkdtempSync(join(tmpdir(), "vigil-qcli-"));
    writeFileSync(join(d, "eicar.com"), EICAR);
    writeFileSync(join(d, "ok.txt"), "ok");
    const vault = join(home, "vault");
    const s = vigil(["scan", "--quarantine-dir", vault, d]);
    expect(s.code).toBe(1);
    expect(s.err).toMatch(/eicar\.com: moved to quarantine as \S+/);
    expect(existsSync(join(d, "eicar.com"))).toBe(false);
    expect(existsSync(join(d, "ok.txt"))).toBe(true);
    // the vault itself scans clean
    expect(vigil(["scan", "--no-cache", vault]).code).toBe(0);
    const list = vigil(["quarantine", "--quarantine-dir", vault, "list"]);
    const id = list.out.split(/\s+/)[0]!;
    expect(list.out).toContain("Win.Test.EICAR_HDB-1");
    const show = JSON.parse(vigil(["quarantine", "--quarantine-dir", vault, "show", id]).out);
    expect(show).toMatchObject({ originalPath: join(d, "eicar.com"), size: 68, detections: ["Win.Test.EICAR_HDB-1"] });
    expect(show.key).toBeUndefined();
    writeFileSync(join(d, "eicar.com"), "replacement");
    const refused = vigil(["quarantine", "--quarantine-dir", vault, "restore", id]);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/already exists; pass --overwrite/);
    expect(vigil(["quarantine", "--quarantine-dir", vault, "restore", id, "--to", join(d, "back.com")]).code).toBe(0);
    expect(readFileSync(join(d, "back.com"), "utf8")).toBe(EICAR);
    expect(vigil(["quarantine", "--quarantine-dir", vault, "list"]).out).toBe("");
    expect(vigil(["quarantine", "--quarantine-dir", vault, "show", id]).code).toBe(2);
  });

  it("Ctrl-C stops cleanly with a partial summary", async () => {
    const d = mkdtempSync(join(tmpdir(), "vigil-int-"));
    const blob = Buffer.alloc(256 * 1024, 0x61);
    for (let i = 0; i < 100; i++) writeFileSync(join(d, `f${i}.bin`), blob);
    // a deliberately slow rule keeps the scan busy whatever the engine's speed
    writeFileSync(join(home, "slow-int.yar"), "rule S { strings: $a = /a[^b]{0,60}c/ condition: $a }");
    const child = spawn(
      process.execPath,
      [BIN, "scan", "--no-cache", "--no-builtin", "--rules", join(home, "slow-int.yar"), "-j", "1", d],
      { env: { ...process.env, XDG_CACHE_HOME: join(home, "cache") } },
    );
    let err = "";
    child.stderr.on("data", (c) => (err += c));
    const exited = new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    await scanning(child.pid!, d);
    child.kill("SIGINT");
    const code = await exited;
    expect(err).toMatch(/interrupted/);
    expect(err).toMatch(/SCAN SUMMARY \(interrupted\)/);
    const files = Number(/Scanned files: (\d+)/.exec(err)?.[1]);
    expect(files).toBeLessThan(100);
    expect(code).toBe(130);
    rmSync(d, { recursive: true, force: true });
    void execFileSync;
  });

  it("a second Ctrl-C exits at once, without waiting for files in progress", async () => {
    const d = mkdtempSync(join(tmpdir(), "vigil-int2-"));
    writeFileSync(join(d, "big.bin"), Buffer.alloc(60 * 1024 * 1024, 0x61));
    writeFileSync(join(home, "slowish.yar"), "rule S { strings: $a = /a[^b]{0,50}c/ condition: $a }");
    const child = spawn(
      process.execPath,
      [BIN, "scan", "--no-cache", "--no-builtin", "--rules", join(home, "slowish.yar"), "-j", "1", d],
      { env: { ...process.env, XDG_CACHE_HOME: join(home, "cache") } },
    );
    let err = "";
    child.stderr.on("data", (c) => (err += c));
    const exited = new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    await scanning(child.pid!, d);
    const t = Date.now();
    child.kill("SIGINT");
    await new Promise((r) => setTimeout(r, 100));
    child.kill("SIGINT");
    const code = await exited;
    expect(code).toBe(130);
    expect(Date.now() - t).toBeLessThan(3000);
    expect(err).not.toMatch(/SCAN SUMMARY/);
    rmSync(d, { recursive: true, force: true });
  });
});

/**
 * Resolves once the process has a file under `dir` open (Linux: /proc/PID/fd), i.e. the scan is
 * reading its files and its SIGINT handler (installed before the scan starts) is in place; a
 * fixed delay is not enough on a loaded machine, where start-up can take longer than any delay.
 */
async function scanning(pid: number, dir: string, timeoutMs = 30_000): Promise<void> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        try {
          if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(dir)) return;
        } catch {
          // the descriptor closed while we looked
        }
      }
    } catch {
      return; // no /proc, or the process ended: the caller's assertions tell
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}
