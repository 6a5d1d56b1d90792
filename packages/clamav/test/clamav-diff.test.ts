// Differential tests: the same ClamAV signatures and files through Debian's clamscan 1.4.6, through
// Debian's yara 4.2.3 (running our translated rule text) and through Vigil's engine; the three
// must report the same files under the same names.
import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compile } from "@vigil/engine";
import { loadClamavDatabase, type SignatureSet } from "../src/index.js";
import { nativeDetector } from "./helpers/native.js";
import { catalogue, filler, makePe, PE_S0, PE_S1 } from "./clamav-fixtures.js";
import { corpus, needs } from "@vigil/test-kit";

const RFXN = corpus("clamav/rfxn");
const noTools = needs("ClamAV differential tests", { tools: ["clamscan", "yara"] });
const work = mkdtempSync(join(tmpdir(), "vigil-clamav-diff-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** `file name` pairs clamscan reports with --allmatch. */
function clamscan(
  dbs: string[],
  files: string[],
): { found: Set<string>; stdout: string; stderr: string; status: number | null } {
  const r = spawnSync("clamscan", ["--no-summary", "-z", ...dbs.flatMap((d) => ["-d", d]), ...files], {
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  const found = new Set<string>();
  for (const line of r.stdout.split("\n")) {
    const m = line.match(/^(.*): (\S+) FOUND$/);
    if (m) found.add(`${m[1]!.split("/").pop()} ${m[2]}`);
  }
  return { found, stdout: r.stdout, stderr: r.stderr, status: r.status };
}

function yaraCli(set: SignatureSet, dir: string, rulesPath: string): Set<string> {
  writeFileSync(rulesPath, set.yara.map((y) => y.source).join("\n"));
  const byRule = new Map(set.rules.map((r) => [r.ruleName, r.name]));
  // the file type (external clamav_type) is per file: one yara run per type, over a scan list
  const byType = new Map<string, string[]>();
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    const t = set.typer.typeOf(readFileSync(p));
    byType.set(t, [...(byType.get(t) ?? []), p]);
  }
  const found = new Set<string>();
  for (const [t, paths] of byType) {
    const list = `${rulesPath}.${t}.list`;
    writeFileSync(list, paths.join("\n") + "\n");
    const r = spawnSync(
      "yara",
      ["-w", "-d", "clamav_container=", "-d", `clamav_type=${t}`, "--scan-list", rulesPath, list],
      {
        encoding: "utf8",
        maxBuffer: 64 << 20,
      },
    );
    expect(r.stderr).toBe("");
    for (const line of r.stdout.split("\n")) {
      const m = line.match(/^(\S+) (.*)$/);
      if (m) found.add(`${m[2]!.split("/").pop()} ${byRule.get(m[1]!)}`);
    }
  }
  return found;
}

function vigil(set: SignatureSet, files: string[]): Set<string> {
  const rules = compile(set.yara, { externals: set.externals });
  const found = new Set<string>();
  for (const f of files)
    for (const m of rules.scan(readFileSync(f), {
      externals: { ...set.externals, clamav_type: set.typer.typeOf(readFileSync(f)) },
    }).matches)
      found.add(`${f.split("/").pop()} ${m.meta.clamav_name}`);
  return found;
}

/** As a scanner runs them: .ndb signatures in the native store (bodydb), the rest as rules. */
function native(dbs: string[], files: string[]): { found: Set<string>; held: number } {
  const detector = nativeDetector(dbs);
  const found = new Set<string>();
  for (const f of files)
    for (const m of detector.scan(readFileSync(f), {})) found.add(`${f.split("/").pop()} ${m.meta?.clamav_name}`);
  const bodies = detector.set.bodies?.bytes;
  return { found, held: bodies ? bodies.length : 0 };
}

const sorted = (s: Set<string>) => [...s].sort();

describe.skipIf(noTools)("generated signatures covering every .ndb/.ldb form", () => {
  const dir = join(work, "gen");
  const filesDir = join(dir, "files");
  mkdirSync(filesDir, { recursive: true });
  const cases = catalogue();
  const ndb = join(dir, "gen.ndb");
  const ldb = join(dir, "gen.ldb");
  writeFileSync(
    ndb,
    cases
      .filter((c) => c.format === "ndb")
      .map((c) => c.line)
      .join("\n") + "\n",
  );
  writeFileSync(
    ldb,
    cases
      .filter((c) => c.format === "ldb")
      .map((c) => c.line)
      .join("\n") + "\n",
  );
  const files: string[] = [];
  for (const c of cases)
    for (const f of [...c.hits, ...c.misses]) {
      const p = join(filesDir, f.name);
      writeFileSync(p, f.bytes);
      files.push(p);
    }
  const set = loadClamavDatabase([ndb, ldb]);
  const clam = clamscan([ndb, ldb], files);

  it("clamscan loads the database and finds exactly the designed hits", () => {
    expect(clam.stderr).toBe("");
    const expected = new Set(cases.flatMap((c) => c.hits.map((f) => `${f.name} ${c.name}.UNOFFICIAL`)));
    expect(sorted(clam.found)).toEqual(sorted(expected));
    expect(set.count).toBe(cases.length - 1); // one is above FLEVEL 216
    expect(set.warnings.filter((w) => w.code !== "SIGDB_APPROXIMATE")).toEqual([]);
  });

  it("yara 4.2.3 on the translated rules reports the same files and names", () => {
    expect(sorted(yaraCli(set, filesDir, join(dir, "gen.yar")))).toEqual(sorted(clam.found));
  });

  it("Vigil's engine on the translated rules reports the same files and names", () => {
    expect(sorted(vigil(set, files))).toEqual(sorted(clam.found));
  });

  it("with .ndb signatures held natively (as the scanner holds them), scanSignatures reports the same files and names", () => {
    const n = native([ndb, ldb], files);
    expect(n.held).toBeGreaterThan(0);
    expect(sorted(n.found)).toEqual(sorted(clam.found));
  });

  it("every signature is exercised by at least one hit and one near miss", () => {
    for (const c of cases) {
      if (!c.line.endsWith(":250")) expect(c.hits.length, c.name).toBeGreaterThan(0);
      expect(c.misses.length, c.name).toBeGreaterThan(0);
    }
  });
});

describe.skipIf(noTools ?? needs("rfxn corpus vs clamscan", { corpora: ["clamav/rfxn"] }))(
  "rfxn corpus (corpora/clamav/rfxn)",
  () => {
    const ndbPath = join(RFXN, "rfxn.ndb");
    const hdbPath = join(RFXN, "rfxn.hdb");

    it("loads every signature, as many as clamscan's Known viruses", () => {
      expect(existsSync(ndbPath)).toBe(true);
      const set = loadClamavDatabase([ndbPath, hdbPath]);
      expect(set.warnings).toEqual([]);
      const clean = join(work, "clean.txt");
      writeFileSync(clean, "nothing to see here\n");
      const r = spawnSync("clamscan", ["-d", ndbPath, "-d", hdbPath, clean], { encoding: "utf8" });
      const known = Number(r.stdout.match(/Known viruses: (\d+)/)?.[1]);
      expect(known).toBe(9366 + 1869);
      expect(set.count).toBe(known);
      expect(set.hashes.count).toBe(9366);
      expect(set.rules.length).toBe(1869);
      // every hash line is found again by its own hash and size
      const lines = readFileSync(hdbPath, "utf8").trim().split("\n");
      const namesOf = new Map<string, string[]>();
      for (const line of lines) {
        const [hash, size, name] = line.split(":") as [string, string, string];
        const k = `${hash}:${size}`;
        namesOf.set(k, [...(namesOf.get(k) ?? []), `${name}.UNOFFICIAL`]);
      }
      for (const line of lines.filter((_, i) => i % 37 === 0)) {
        const [hash, size] = line.split(":") as [string, string];
        // the corpus lists some hash+size pairs more than once under different names
        expect(namesOf.get(`${hash}:${size}`)).toContain(set.hashes.lookupDigest("md5", hash, Number(size))?.name);
        expect(set.hashes.lookupDigest("md5", hash, Number(size) + 1)).toBeUndefined();
      }
    });

    it("detects the same generated files as clamscan for a sample of the .ndb signatures", () => {
      const dir = join(work, "rfxn");
      mkdirSync(dir, { recursive: true });
      const lines = readFileSync(ndbPath, "utf8").trim().split("\n");
      const sample = lines.filter((_, i) => i % 9 === 0);
      const files: string[] = [];
      sample.forEach((line, i) => {
        const hex = line.split(":")[3]!;
        const body = Buffer.from(hex.replace(/[^0-9a-f]/gi, ""), "hex");
        if (!/^[0-9a-f]+$/i.test(hex)) return; // the corpus is plain hex; keep the sample so
        const hit = Buffer.concat([filler(100 + (i % 50), i), body, filler(80, i + 1)]);
        const miss = Buffer.from(hit);
        miss[100 + (i % 50) + body.length - 1] ^= 0x01; // last byte off
        writeFileSync(join(dir, `hit-${i}`), hit);
        writeFileSync(join(dir, `miss-${i}`), miss);
        files.push(join(dir, `hit-${i}`), join(dir, `miss-${i}`));
      });
      const sub = join(work, "rfxn-sample.ndb");
      writeFileSync(sub, sample.join("\n") + "\n");
      const set = loadClamavDatabase(sub);
      const clam = clamscan([sub], files);
      expect(clam.stderr).toBe("");
      // each hit file is found (by its own signature at least), no near miss is, except where
      // clamscan types the file as HTML and matches normalised (lower-cased) text: a signature
      // with upper-case letters then fails in clamscan. Vigil matches the raw bytes.
      const HTML_NORMALISED = new Set(["{HEX}php.cmdshell.iTSecTeam.262.UNOFFICIAL"]);
      const hitFiles = new Set([...clam.found].map((k) => k.split(" ")[0]!));
      expect([...hitFiles].every((f) => f.startsWith("hit-"))).toBe(true);
      const y = yaraCli(set, dir, join(work, "rfxn.yar"));
      const v = vigil(set, files);
      expect(sorted(v)).toEqual(sorted(y));
      expect(sorted(native([sub], files).found)).toEqual(sorted(y));
      const onlyOurs = [...y].filter((k) => !clam.found.has(k));
      const onlyClam = [...clam.found].filter((k) => !y.has(k));
      expect(onlyClam).toEqual([]);
      expect(onlyOurs.map((k) => k.slice(k.indexOf(" ") + 1))).toEqual([...HTML_NORMALISED]);
      expect(hitFiles.size).toBe(sample.length - HTML_NORMALISED.size);
    });
  },
);

describe.skipIf(noTools)("hash signatures against clamscan", () => {
  const dir = join(work, "hash");
  const filesDir = join(dir, "files");
  mkdirSync(filesDir, { recursive: true });
  const files: string[] = [];
  const contents: Buffer[] = [];
  for (let i = 0; i < 24; i++) {
    const b = Buffer.concat([Buffer.from(`generated file ${i}\n`), filler(50 + i * 13, i)]);
    contents.push(b);
    const p = join(filesDir, `f${i}.bin`);
    writeFileSync(p, b);
    files.push(p);
  }
  const hx = (algo: string, b: Buffer) => createHash(algo).update(b).digest("hex");
  // md5 / sha1 / sha256, right size, '*' size, wrong size, allow-listed, ignored
  const hdb = [0, 1, 2, 3].map((i) => `${hx("md5", contents[i]!)}:${contents[i]!.length}:Vg.Hash.Md5-${i}`);
  hdb.push(`${hx("md5", contents[4]!)}:${contents[4]!.length + 1}:Vg.Hash.WrongSize-4`);
  const hsb = [5, 6].map((i) => `${hx("sha1", contents[i]!)}:${contents[i]!.length}:Vg.Hash.Sha1-${i}`);
  hsb.push(...[7, 8].map((i) => `${hx("sha256", contents[i]!)}:${contents[i]!.length}:Vg.Hash.Sha256-${i}`));
  hsb.push(`${hx("sha256", contents[9]!)}:*:Vg.Hash.AnySize-9:73`);
  hsb.push(`${hx("sha256", contents[10]!)}:${contents[10]!.length}:Vg.Hash.Ignored-10`);
  hsb.push(`${hx("sha256", contents[11]!)}:${contents[11]!.length}:Vg.Hash.FutureFlevel-11:250`);
  const fp = `${hx("sha256", contents[2]!)}:${contents[2]!.length}:Vg.Allow-2`;
  writeFileSync(join(dir, "t.hdb"), hdb.join("\n") + "\n");
  writeFileSync(join(dir, "t.hsb"), hsb.join("\n") + "\n");
  writeFileSync(join(dir, "t.sfp"), fp + "\n");
  writeFileSync(join(dir, "t.ign2"), "Vg.Hash.Ignored-10\n");

  it("reports the same files under the same names, allow list and ignore list included", () => {
    // clamscan applies an ignore list only to databases loaded after it (a directory loads it first)
    const dbs = ["t.ign2", "t.hdb", "t.hsb", "t.sfp"].map((f) => join(dir, f));
    const clam = clamscan(dbs, files);
    expect(clam.stderr).toBe("");
    const set = loadClamavDatabase(dir);
    const ours = new Set<string>();
    contents.forEach((b, i) => {
      const digests = { md5: hx("md5", b), sha1: hx("sha1", b), sha256: hx("sha256", b) };
      if (set.allow.has(digests, b.length)) return;
      // clamscan --allmatch reports every hash signature that matches
      for (const algo of ["md5", "sha1", "sha256"] as const) {
        for (const m of set.hashes.lookupAllDigest(algo, digests[algo], b.length)) ours.add(`f${i}.bin ${m.name}`);
      }
    });
    expect(sorted(ours)).toEqual(sorted(clam.found));
    expect(clam.found.size).toBe(8);
    expect(set.ignored.has("Vg.Hash.Ignored-10")).toBe(true);
  });
});

describe.skipIf(noTools)("PE section hashes against clamscan", () => {
  it("finds the same sections as clamscan with .mdb (md5) and .msb (sha256)", () => {
    const dir = join(work, "sect");
    mkdirSync(dir, { recursive: true });
    const hit = makePe([[PE_S0 + 40, "SECTION CONTENT"]]);
    const miss = makePe([[PE_S0 + 40, "SECTION CONTENX"]]);
    const other = makePe([[PE_S1 + 8, "DATA SECTION"]]);
    const files = { "hit.exe": hit, "miss.exe": miss, "other.exe": other };
    for (const [n, b] of Object.entries(files)) writeFileSync(join(dir, n), b);
    const sect = (b: Uint8Array, at: number) => Buffer.from(b.subarray(at, at + 0x200));
    const md5 = createHash("md5").update(sect(hit, PE_S0)).digest("hex");
    const sha = createHash("sha256").update(sect(other, PE_S1)).digest("hex");
    writeFileSync(join(dir, "t.mdb"), `512:${md5}:Vg.Section.Text-1\n`);
    writeFileSync(join(dir, "t.msb"), `512:${sha}:Vg.Section.Data-1\n*:${sha}:Vg.Section.AnySize-1:73\n`);
    const clam = clamscan(
      [join(dir, "t.mdb"), join(dir, "t.msb")],
      Object.keys(files).map((n) => join(dir, n)),
    );
    expect(clam.stderr).toBe("");
    const set = loadClamavDatabase([join(dir, "t.mdb"), join(dir, "t.msb")]);
    const ours = new Set<string>();
    for (const [n, b] of Object.entries(files))
      for (const at of [PE_S0, PE_S1]) {
        const s = sect(b, at);
        for (const algo of ["md5", "sha256"] as const) {
          for (const m of set.sectionHashes.lookupAllDigest(algo, createHash(algo).update(s).digest(), s.length))
            ours.add(`${n} ${m.name}`);
        }
      }
    // clamscan --allmatch reports every entry matching a section (sized and '*' alike)
    expect(sorted(ours)).toEqual(sorted(clam.found));
    expect(clam.found.has("hit.exe Vg.Section.Text-1.UNOFFICIAL")).toBe(true);
    expect(clam.found.has("other.exe Vg.Section.Data-1.UNOFFICIAL")).toBe(true);
    expect(clam.found.has("other.exe Vg.Section.AnySize-1.UNOFFICIAL")).toBe(true);
    expect([...clam.found].some((k) => k.startsWith("miss.exe"))).toBe(false);
  });
});
