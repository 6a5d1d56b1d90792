/**
 * File names that are not valid UTF-8 (issue 17, finding 3), end to end through the built bin:
 * `vigil scan` (text, json, ndjson; worker threads and in-process), the scan cache, quarantine
 * and restore, a byte path named on the command line, and `vigil yara` against Debian's yara.
 */
import { describe, expect, it, beforeAll } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { EICAR, needs } from "@vigil/test-kit";
import { printableToBytes } from "@vigil/scanner";

const BIN = fileURLToPath(new URL("../bin/vigil.js", import.meta.url));
const built = existsSync(fileURLToPath(new URL("../dist/index.js", import.meta.url)));
if (!built) console.log("byte-path CLI tests need the build (npx tsc -b): not run");
const noYara = needs("vigil yara vs yara on byte names", { tools: ["yara"] });

/** The names under test, as bytes: two invalid UTF-8, a newline, valid UTF-8, and one in a byte-named directory. */
const NAMES = [
  Buffer.from("inv\xffalid.exe", "latin1"),
  Buffer.from("bad\xc3\x28.exe", "latin1"),
  Buffer.from("new\nline.exe"),
  Buffer.from("café.exe"),
  Buffer.from("dir\xfe/x.com", "latin1"),
];
const bytesKey = (b: Buffer) => b.toString("latin1");

let home: string;

function bjoin(dir: string, name: Buffer): Buffer {
  return Buffer.concat([Buffer.from(dir + "/"), name]);
}

/** A fresh tree holding EICAR under every name (and `clean\xff.txt` when asked). */
function makeTree(clean = false): string {
  const d = mkdtempSync(join(home, "tree-"));
  mkdirSync(bjoin(d, Buffer.from("dir\xfe", "latin1")));
  for (const n of NAMES) writeFileSync(bjoin(d, n), EICAR);
  if (clean) writeFileSync(bjoin(d, Buffer.from("clean\xff.txt", "latin1")), "nothing here");
  return d;
}

function vigil(args: string[], cwd: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: "utf8",
    cwd,
    timeout: 60_000,
    env: { ...process.env, XDG_CACHE_HOME: join(home, "cache"), XDG_DATA_HOME: join(home, "data"), NO_COLOR: "1" },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** The file names a text report printed as found, mapped back to bytes. */
function foundNames(out: string): string[] {
  return out
    .split(/\n(?=\.\/)/)
    .filter(Boolean)
    .map((l) => {
      const m = /^\.\/(.*): Win\.Test\.EICAR_HDB-1 FOUND\n?$/s.exec(l);
      expect(m, `a detection line: ${JSON.stringify(l)}`).not.toBeNull();
      return bytesKey(printableToBytes(m![1]!));
    });
}

const expected = NAMES.map(bytesKey).sort();

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), "vigil-bytepaths-"));
});

describe.runIf(built)("file names that are not UTF-8", () => {
  it("vigil scan text: each found once, one line each, names that map back to the bytes (workers and in-process)", () => {
    const d = makeTree();
    for (const jobs of ["2", "0"]) {
      const r = vigil(["scan", "--no-cache", "-j", jobs, "."], d);
      expect(r.err).toMatch(/Infected files: 5\n/);
      expect(r.err).not.toMatch(/Total errors/);
      expect(r.code).toBe(1);
      expect(r.out).not.toContain("\ufffd");
      expect(r.out.split("\n").filter(Boolean)).toHaveLength(5); // the newline in a name is escaped
      expect(r.out).toContain("./inv\\xffalid.exe: Win.Test.EICAR_HDB-1 FOUND\n");
      expect(r.out).toContain("./new\\x0aline.exe: Win.Test.EICAR_HDB-1 FOUND\n");
      expect(r.out).toContain("./café.exe: Win.Test.EICAR_HDB-1 FOUND\n");
      expect(foundNames(r.out).sort()).toEqual(expected);
    }
  });

  it("vigil scan json and ndjson: valid JSON, pathBase64 gives the exact bytes", () => {
    const d = makeTree();
    const fromJson = (f: { path: string; pathBase64?: string }) =>
      bytesKey(f.pathBase64 !== undefined ? Buffer.from(f.pathBase64, "base64") : Buffer.from(f.path));
    const j = vigil(["scan", "--no-cache", "-f", "json", "."], d);
    expect(j.out).not.toMatch(/\\ud[c-f]|\ufffd/);
    const doc = JSON.parse(j.out);
    expect(doc.summary).toMatchObject({ infected: 5, errors: 0 });
    expect(doc.files.map(fromJson).sort()).toEqual(
      expected.map((n) => bytesKey(Buffer.concat([Buffer.from("./"), Buffer.from(n, "latin1")]))).sort(),
    );
    const inv = doc.files.find((f: { path: string }) => f.path === "./inv\\xffalid.exe");
    expect(inv.pathBase64).toBe(Buffer.from("./inv\xffalid.exe", "latin1").toString("base64"));
    expect(inv.detections[0].path).toBe("./inv\\xffalid.exe");
    expect(doc.files.find((f: { path: string }) => f.path === "./café.exe").pathBase64).toBeUndefined();
    const nd = vigil(["scan", "--no-cache", "-f", "ndjson", "."], d)
      .out.trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const files = nd.filter((x) => x.type === "file");
    expect(files.map(fromJson).sort()).toEqual(doc.files.map(fromJson).sort());
    const sarif = vigil(["scan", "--no-cache", "-f", "sarif", "."], d).out;
    const uris = JSON.parse(sarif).runs[0].results.map(
      (x: { locations: { physicalLocation: { artifactLocation: { uri: string } } }[] }) =>
        x.locations[0]!.physicalLocation.artifactLocation.uri,
    );
    expect(uris).toContain("inv%FFalid.exe");
  });

  it("a byte name on the command line is scanned (argv read back from /proc/self/cmdline)", () => {
    const d = makeTree();
    const r = spawnSync(
      "sh",
      ["-c", `exec "$0" "$1" scan --no-cache "$(printf 'inv\\377alid.exe')"`, process.execPath, BIN],
      {
        encoding: "utf8",
        cwd: d,
        timeout: 60_000,
        env: { ...process.env, XDG_CACHE_HOME: join(home, "cache"), NO_COLOR: "1" },
      },
    );
    expect(r.stdout).toBe("inv\\xffalid.exe: Win.Test.EICAR_HDB-1 FOUND\n");
    expect(r.status).toBe(1);
  });

  it("the scan cache remembers a clean file with a byte name", () => {
    const d = makeTree(true);
    const cache = join(home, "bytes-cache.bin");
    const first = vigil(["scan", "--cache-file", cache, "."], d);
    expect(first.err).not.toMatch(/Total errors/);
    expect(first.err).not.toMatch(/Unchanged \(cached\): [1-9]/);
    const second = vigil(["scan", "--cache-file", cache, "--all", "."], d);
    expect(second.err).toMatch(/Unchanged \(cached\): 1\n/);
    expect(second.out).toContain("./clean\\xfftxt: OK".replace("xfftxt", "xff.txt"));
  });

  it("quarantine and restore put the exact bytes back at the exact byte path", () => {
    const d = makeTree();
    const vault = join(home, "vault-" + Math.random().toString(36).slice(2));
    const s = vigil(["scan", "--no-cache", "--quarantine-dir", vault, "."], d);
    expect(s.code).toBe(1);
    expect(s.err).toMatch(/^\.\/inv\\xffalid\.exe: moved to quarantine as \S+$/m);
    expect(readdirSync(d, { encoding: "buffer" }).map(bytesKey)).toEqual([bytesKey(Buffer.from("dir\xfe", "latin1"))]);
    expect(readdirSync(bjoin(d, Buffer.from("dir\xfe", "latin1")))).toEqual([]);
    const list = vigil(["quarantine", "--quarantine-dir", vault, "list"], d);
    expect(list.out.split("\n").filter(Boolean)).toHaveLength(5);
    expect(list.out).toContain(`${d}/inv\\xffalid.exe\n`);
    const ids = list.out
      .split("\n")
      .filter(Boolean)
      .map((l) => l.split(/\s+/)[0]!);
    const inv = ids
      .map((id) => vigil(["quarantine", "--quarantine-dir", vault, "show", id], d).out)
      .find((o) => o.includes("inv\\\\xffalid"))!;
    expect(inv).not.toMatch(/\\ud[c-f]|\ufffd/);
    expect(Buffer.from(JSON.parse(inv).originalPathBase64, "base64").equals(bjoin(d, NAMES[0]!))).toBe(true);
    for (const id of ids) {
      const r = vigil(["quarantine", "--quarantine-dir", vault, "restore", id], d);
      expect(r.err).toBe("");
      expect(r.code).toBe(0);
    }
    const back = [
      ...readdirSync(d, { encoding: "buffer" }).filter(
        (n) => bytesKey(n) !== bytesKey(Buffer.from("dir\xfe", "latin1")),
      ),
      ...readdirSync(bjoin(d, Buffer.from("dir\xfe", "latin1")), { encoding: "buffer" }).map((n) =>
        Buffer.concat([Buffer.from("dir\xfe/", "latin1"), n]),
      ),
    ];
    expect(back.map(bytesKey).sort()).toEqual(expected);
    for (const n of NAMES) expect(readFileSync(bjoin(d, n)).toString()).toBe(EICAR);
  });

  it.runIf(!noYara)("vigil yara prints the same lines as yara", () => {
    const d = makeTree(true);
    const rules = join(home, "eicar.yar");
    writeFileSync(rules, 'rule eicar { strings: $a = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE" condition: $a }\n');
    const run = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: "latin1", timeout: 60_000 });
    const sorted = (s: string) => s.split("\n").filter(Boolean).sort();
    for (const extra of [[], ["-p", "2"], ["-s"], ["-c"]]) {
      const y = run("yara", ["-r", ...extra, rules, d]);
      const v = run(process.execPath, [BIN, "yara", "-r", ...extra, rules, d]);
      expect(v.stderr).toBe(y.stderr);
      expect(sorted(v.stdout)).toEqual(sorted(y.stdout));
      expect(v.status).toBe(y.status);
    }
    expect(run("yara", ["-r", rules, d]).stdout).toContain(`eicar ${d}/inv\xffalid.exe\n`);
    // a byte name given as the target
    const y = spawnSync("sh", ["-c", `exec "$@" "$(printf '${d}/inv\\377alid.exe')"`, "sh", "yara", rules], {
      encoding: "latin1",
    });
    const v = spawnSync(
      "sh",
      ["-c", `exec "$@" "$(printf '${d}/inv\\377alid.exe')"`, "sh", process.execPath, BIN, "yara", rules],
      { encoding: "latin1" },
    );
    expect(y.stdout).toBe(`eicar ${d}/inv\xffalid.exe\n`);
    expect(v.stdout).toBe(y.stdout);
  });
});
