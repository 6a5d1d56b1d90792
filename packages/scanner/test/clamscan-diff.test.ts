// Differential tests: `vigil scan -d DB` (the built bin) against Debian's clamscan 1.4.6 on the
// same ClamAV databases and the same files.
import { describe, expect, it, beforeAll } from "vitest";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { peSections } from "../src/index.js";
import { corpus as corpusDir, makeZip, needs } from "@vigil/test-kit";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { makeCorpus, type Corpus } from "./helpers/corpus.js";

const BIN = fileURLToPath(new URL("../../cli/bin/vigil.js", import.meta.url));

/** top-level file (relative to root) -> names found */
function parse(out: string, root: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const line of out.split("\n")) {
    const x = /^(.*?): (\S+) FOUND$/.exec(line);
    if (!x) continue;
    const top = relative(root, x[1]!.replace(/!.*$/, ""));
    m.set(top, [...(m.get(top) ?? []), x[2]!].sort());
  }
  for (const [k, v] of m) m.set(k, [...new Set(v)]);
  return m;
}

function clamscan(db: string[], root: string) {
  const r = spawnSync("clamscan", ["-r", "--no-summary", "--infected", ...db.flatMap((d) => ["-d", d]), root], { encoding: "utf8", maxBuffer: 64 << 20 });
  return { found: parse(r.stdout, root), code: r.status, out: r.stdout };
}

function vigil(db: string[], root: string) {
  const r = spawnSync(process.execPath, [BIN, "scan", "--no-builtin", "--no-cache", "-i", "--no-summary", ...db.flatMap((d) => ["-d", d]), root], { encoding: "utf8", maxBuffer: 64 << 20 });
  return { found: parse(r.stdout, root), code: r.status, out: r.stdout, err: r.stderr };
}

const sorted = (m: Map<string, string[]>) => [...m.entries()].sort((a, b) => a[0].localeCompare(b[0]));

let corpus: Corpus;
beforeAll(() => {
  corpus = makeCorpus(mkdtempSync(join(tmpdir(), "vigil-diff-")), { files: 300, sizeKb: 8 });
});

describe.skipIf(needs("vigil scan vs clamscan", { tools: ["clamscan"], debianFiles: ["/usr/share/clamav-testfiles"] }))("vigil scan vs clamscan 1.4.6", () => {
  it("generated tree: same files, same names (ndb forms, hdb, hsb, fp allow list, zip/gz/tar.gz containers)", () => {
    const c = clamscan([corpus.db], corpus.root);
    const v = vigil([corpus.db], corpus.root);
    expect(v.err).not.toMatch(/Error/);
    const expectedMap = new Map([...corpus.expected].map(([k, n]) => [k, [n]]));
    expect(sorted(c.found)).toEqual(sorted(expectedMap)); // the generator's intent is what clamscan sees
    expect(sorted(v.found)).toEqual(sorted(c.found));
    expect(v.code).toBe(c.code);
  });

  it("clamav-testfiles with the one-line test-file hash: the formats Vigil unpacks give clamscan's names", () => {
    const d = mkdtempSync(join(tmpdir(), "vigil-ctf-"));
    const files = ["clam.exe", "clam.zip", "clam.bz2.zip", "clam.tar.gz", "clam.exe.bz2"];
    mkdirSync(join(d, "t"));
    for (const f of files) cpSync(join("/usr/share/clamav-testfiles", f), join(d, "t", f));
    writeFileSync(join(d, "test.hdb"), "aa15bcf478d165efd2065190eb473bcb:544:ClamAV-Test-File\n");
    const c = clamscan([join(d, "test.hdb")], join(d, "t"));
    const v = vigil([join(d, "test.hdb")], join(d, "t"));
    expect(sorted(c.found)).toEqual(files.sort().map((f) => [f, ["ClamAV-Test-File.UNOFFICIAL"]]));
    expect(sorted(v.found)).toEqual(sorted(c.found));
  });

  it("logical signatures (and, or, counts, container), PE section hashes and ignore lists", () => {
    const d = mkdtempSync(join(tmpdir(), "vigil-ldb-"));
    const t = join(d, "t");
    mkdirSync(t);
    const hex = (s: string) => Buffer.from(s).toString("hex");
    writeFileSync(join(t, "both.txt"), "xx alpha-token yy beta-token zz");
    writeFileSync(join(t, "alpha.txt"), "only alpha-token here");
    writeFileSync(join(t, "three.txt"), "kotek kotek kotek");
    writeFileSync(join(t, "two.txt"), "kotek kotek");
    writeFileSync(join(t, "marker.bin"), "plain zip-only-marker outside a zip");
    writeFileSync(join(t, "boxed.zip"), makeZip([{ name: "in/marker.bin", data: "inside: zip-only-marker" }]));
    writeFileSync(join(t, "ignored.txt"), "ignore-me-marker");
    cpSync("/usr/share/clamav-testfiles/clam.exe", join(t, "clam.exe"));
    const exe = readFileSync(join(t, "clam.exe"));
    const sec = peSections(exe)[0]!;
    const secMd5 = createHash("md5").update(exe.subarray(sec.offset, sec.offset + sec.size)).digest("hex");
    const db = join(d, "db");
    mkdirSync(db);
    writeFileSync(join(db, "t.ldb"), [
      `Custom.AlphaBeta;Engine:51-255,Target:0;0&1;${hex("alpha-token")};${hex("beta-token")}`,
      `Custom.Count;Engine:51-255,Target:0;0>2;${hex("kotek")}`,
      `Custom.InZip;Engine:81-255,Container:CL_TYPE_ZIP,Target:0;0;${hex("zip-only-marker")}`,
      "",
    ].join("\n"));
    writeFileSync(join(db, "t.ndb"), `Custom.Ignored:0:*:${hex("ignore-me-marker")}\nCustom.Alpha:0:*:${hex("only alpha")}\n`);
    writeFileSync(join(db, "t.mdb"), `${sec.size}:${secMd5}:Custom.Section\n`);
    writeFileSync(join(db, "t.ign2"), "Custom.Ignored\n");
    // a database directory: both load the ignore list before the signatures
    const dbs = [db];
    const c = clamscan(dbs, t);
    const v = vigil(dbs, t);
    expect(sorted(c.found)).toEqual([
      ["alpha.txt", ["Custom.Alpha.UNOFFICIAL"]],
      ["both.txt", ["Custom.AlphaBeta.UNOFFICIAL"]],
      ["boxed.zip", ["Custom.InZip.UNOFFICIAL"]],
      ["clam.exe", ["Custom.Section.UNOFFICIAL"]],
      ["three.txt", ["Custom.Count.UNOFFICIAL"]],
    ]);
    expect(sorted(v.found)).toEqual(sorted(c.found));
  });

  it.skipIf(needs("clamscan with the rfxn corpus", { corpora: ["clamav/rfxn"] }))("with the shared rfxn corpus (11k real signatures) loaded: same results on system files and test files", () => {
    const rfxn = corpusDir("clamav/rfxn");
    const d = mkdtempSync(join(tmpdir(), "vigil-rfxn-"));
    const t = join(d, "t");
    mkdirSync(t);
    for (const f of ["clam.exe", "clam.zip", "clam.tar.gz"]) cpSync(join("/usr/share/clamav-testfiles", f), join(t, f));
    for (const f of ["/usr/bin/ls", "/usr/bin/tar", "/usr/bin/gzip", "/etc/services", "/etc/passwd"]) cpSync(f, join(t, f.replace(/\//g, "_")));
    writeFileSync(join(d, "test.hdb"), "aa15bcf478d165efd2065190eb473bcb:544:ClamAV-Test-File\n");
    const dbs = [rfxn, join(d, "test.hdb")];
    const c = clamscan(dbs, t);
    const v = vigil(dbs, t);
    expect(sorted(v.found)).toEqual(sorted(c.found));
    expect(v.found.size).toBe(3);
  });

  it("a malformed database fails both with exit 2", () => {
    const d = mkdtempSync(join(tmpdir(), "vigil-bad-"));
    writeFileSync(join(d, "bad.ndb"), "Broken:0:*:zz\n");
    mkdirSync(join(d, "t"));
    writeFileSync(join(d, "t/a"), "a");
    expect(clamscan([join(d, "bad.ndb")], join(d, "t")).code).toBe(2);
    const v = vigil([join(d, "bad.ndb")], join(d, "t"));
    expect(v.code).toBe(2);
    expect(v.err).toMatch(/bad\.ndb/);
  });
});
