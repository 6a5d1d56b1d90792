// Every signature format ClamAV ships: each loads (or is refused as clamscan refuses it) with
// clamscan's "Known viruses" count, per-signature problems are warnings naming file and line,
// and what Vigil cannot apply yet is said once per file.
import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compile } from "@vigil/engine";
import { ClamavError, loadClamavDatabase, matchContainerMeta, parseCbc, parseCdbLine } from "../src/index.js";

const work = mkdtempSync(join(tmpdir(), "vigil-clamav-formats-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const HAVE_CLAMSCAN = spawnSync("clamscan", ["--version"]).status === 0;
if (!HAVE_CLAMSCAN)
  console.warn("skipping the clamscan comparisons of formats.test.ts: Debian's clamscan is not installed");
const FRESHCLAM = [
  join(import.meta.dirname, "../../../corpora/clamav/freshclam"),
  join(import.meta.dirname, "../../../../shared/corpora/clamav/freshclam"),
].find((d) => existsSync(d));
if (!FRESHCLAM) console.warn("skipping test-6.cvd counts: corpora/clamav/freshclam not found");

let n = 0;
function db(ext: string, text: string): string {
  const p = join(work, `f${n++}.${ext}`);
  writeFileSync(p, text);
  return p;
}
const hex = (s: string) => Buffer.from(s).toString("hex");

/** clamscan's "Known viruses" for a database, or undefined when it refuses it. */
function known(path: string, ...flags: string[]): number | undefined {
  const r = spawnSync("clamscan", [...flags, "-d", path, "/dev/null"], { encoding: "utf8" });
  if (/ERROR: /.test(r.stderr + r.stdout)) return undefined; // "Malformed database" and the like (exit 2)
  const m = r.stdout.match(/Known viruses: (\d+)/);
  return m ? +m[1]! : undefined;
}

// a valid 16 px icon hash: size, 6 colour/grey points, 12 bright/dark/edge/non-edge points, colour summary
const ICON = "10" + "1000101".repeat(6) + "100101".repeat(12) + "10101010";
const CRB_SUBJECT = "0123456789abcdef0123456789abcdef01234567";

/** One database per format with kept lines, FLEVEL-skipped lines and (where clamscan has them) comments. */
const FORMATS: Array<{ ext: string; text: string; expected: number; pua?: boolean }> = [
  {
    ext: "cdb",
    text: `C.Cdb-1:CL_TYPE_ZIP:*:eicar\\.com:*:*:0:1:*:*\nC.Cdb-2:CL_TYPE_ZIP:*:x:*:*:*:*:*:*:300\nC.Cdb-3:*:*:*:*:*:*:*:*:*:0:200\nC.Cdb-4:*:10-2000:^doc[0-9]+\\.txt$:*:*:*:*:*:*:51:255\n`,
    expected: 2,
  },
  { ext: "idb", text: `Icon1:GroupA:GroupB:${ICON}\n# comment\nIcon2:GroupA:*:${ICON}\n`, expected: 2 },
  {
    ext: "imp",
    text: `98c88d882f01a3f6ac1e5f7dfd761624:39:Imp.Test-1\n98c88d882f01a3f6ac1e5f7dfd761625:39:Imp.Test-2:300\n0123456789abcdef0123456789abcdef01234567:12:Imp.Sha1-1\n`,
    expected: 2,
  },
  {
    ext: "pdb",
    text: `H:amazon.com\nR:.+\\.amazon\\.(com|co\\.uk)([/?].*)?\nH:old.com:300-\nH:range.com:17-300\n`,
    expected: 3,
  },
  {
    ext: "gdb",
    text: `S:P:12345678\nS:F:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nS:P:abcdef01:300-\n`,
    expected: 2,
  },
  {
    ext: "wdb",
    text: `M:www.google.ro:www.google.com\nX:.+\\.amazon\\.com([/?].*)?:.+\\.amazon\\.com([/?].*)?:17-\n`,
    expected: 0,
  },
  { ext: "cfg", text: `PE:0x00000001:0:255\n# comment\nFOO:bar\nMAIL:0x0:300:400\n`, expected: 0 },
  {
    ext: "ftm",
    text: `0:0:4d5a:MS-EXE/DLL:CL_TYPE_ANY:CL_TYPE_MSEXE\n1:*:3c68746d6c:HTML:CL_TYPE_TEXT_ASCII:CL_TYPE_HTML\n9:0:00:Skipped:CL_TYPE_ANY:CL_TYPE_ANY\n`,
    expected: 0,
  },
  {
    ext: "crb",
    text: `Test.Trust;1;${CRB_SUBJECT};;c0ffee;010001;1;0;0;;comment\nTest.Block;0;${CRB_SUBJECT};;c0ffee;010001;1;0;0;;comment\n`,
    expected: 0,
  },
  { ext: "hdu", text: `44d88612fea8a8f36de82e1278abb02f:68:PUA.Test.Hdu-1\n`, expected: 1, pua: true },
  { ext: "hsu", text: `3395856ce81f2b7382dee72602f798b642f14140:68:PUA.Test.Hsu-1\n`, expected: 1, pua: true },
  { ext: "mdu", text: `512:23db1dd3f77fae25610b6a32701313ae:PUA.Test.Mdu-1\n`, expected: 1, pua: true },
  { ext: "msu", text: `512:3395856ce81f2b7382dee72602f798b642f14140:PUA.Test.Msu-1\n`, expected: 1, pua: true },
  {
    ext: "ndu",
    text: `PUA.Test.Ndu-1:0:*:${hex("pua-body")}\nPUA.Test.Ndu-2:0:*:${hex("pua-two")}:300\n`,
    expected: 1,
    pua: true,
  },
  {
    ext: "ldu",
    text: `PUA.Test.Ldu-1;Engine:51-255,Target:0;0&1;${hex("pua-a")};${hex("pua-b")}\n`,
    expected: 1,
    pua: true,
  },
];

describe("every format's count agrees with clamscan's Known viruses", () => {
  for (const f of FORMATS) {
    it(`.${f.ext}`, () => {
      const p = db(f.ext, f.text);
      const set = loadClamavDatabase(p, { pua: f.pua });
      expect(set.warnings.filter((w) => w.code === "SIGDB_MALFORMED_LINE")).toEqual([]);
      expect(set.count).toBe(f.expected);
      if (f.pua) expect(loadClamavDatabase(p).count).toBe(0);
      if (!HAVE_CLAMSCAN) return;
      expect(known(p, ...(f.pua ? ["--detect-pua=yes"] : []))).toBe(f.expected);
      if (f.pua) expect(known(p)).toBe(0);
    });
  }

  it("formats not applied yet say so once per file, and are counted as outsideStores", () => {
    for (const f of FORMATS.filter((x) => ["idb", "imp", "cfg"].includes(x.ext))) {
      const p = db(f.ext, f.text);
      const set = loadClamavDatabase(p);
      const w = set.warnings.filter((x) => x.code === "SIGDB_NOT_APPLIED");
      expect(w, f.ext).toHaveLength(1);
      expect(w[0]!.path).toBe(p);
      // .imp: the MD5 line is a rule, the SHA-1 one is counted but not applied
      expect(set.outsideStores, f.ext).toBe(f.ext === "imp" ? 1 : f.expected);
    }
    // the phishing lists are applied (to mail links): no such warning, still counted outside the stores
    for (const f of FORMATS.filter((x) => ["pdb", "gdb", "wdb"].includes(x.ext))) {
      const set = loadClamavDatabase(db(f.ext, f.text));
      expect(set.warnings, f.ext).toEqual([]);
      expect(set.outsideStores, f.ext).toBe(f.expected);
      // with --phishing-scan-urls=no clamscan skips them: nothing loaded, nothing counted
      const off = loadClamavDatabase(db(f.ext, f.text), { phishingUrls: false });
      expect([off.count, off.phishing.protect.length + off.phishing.allow.length + off.phishing.hashes.length]).toEqual(
        [0, 0],
      );
    }
    const set = loadClamavDatabase(db("idb", `Icon1:GroupA:GroupB:${ICON}\n`));
    expect(set.icons).toMatchObject([{ name: "Icon1", group1: "GroupA", group2: "GroupB", size: 16 }]);
    expect(set.warnings[0]!.message).toMatch(/icon resources/);
    expect(loadClamavDatabase(db("cfg", "PE:0x00000001:0:255\n")).dconf).toEqual({ PE: 1 });
    // .crb is applied (Authenticode trust and block, ../src/authenticode/trust.ts): no warning
    const crb = loadClamavDatabase(db("crb", FORMATS.find((x) => x.ext === "crb")!.text));
    expect(crb.warnings.filter((x) => x.code === "SIGDB_NOT_APPLIED")).toEqual([]);
    expect(crb.authenticode.trusted.map((c) => c.name)).toEqual(["Test.Trust"]);
    expect(crb.authenticode.block.map((r) => r.name)).toEqual(["Test.Block"]);
    expect(
      loadClamavDatabase(db("crb", FORMATS.find((x) => x.ext === "crb")!.text)).certRules.map((r) => [
        r.name,
        r.trusted,
      ]),
    ).toEqual([
      ["Test.Trust", true],
      ["Test.Block", false],
    ]);
  });

  it("--phishing-sigs=no leaves out the HTML.Phishing and Email.Phishing body signatures, as clamscan", () => {
    const p = db(
      "ndb",
      `HTML.Phishing.Bank-1:0:*:${hex("phish-one")}\nEmail.Phishing.Pay-2:0:*:${hex("phish-two")}\nOther.Phishing-3:0:*:${hex("phish-three")}\n`,
    );
    expect(loadClamavDatabase(p).count).toBe(3);
    expect(loadClamavDatabase(p, { phishingSigs: false }).count).toBe(1);
    if (!HAVE_CLAMSCAN) return;
    expect(known(p)).toBe(3);
    expect(known(p, "--phishing-sigs=no")).toBe(1);
  });

  it("a phishing regex that does not compile is a malformed line; the others load", () => {
    const set = loadClamavDatabase(db("pdb", "R:.+\\.bad([a-z\nH:good.example\n"));
    expect(set.warnings.map((w) => [w.code, w.line])).toEqual([["SIGDB_MALFORMED_LINE", 1]]);
    expect(set.phishing.protect.map((e) => e.pattern)).toEqual(["good.example"]);
  });

  it("a malformed line in any format is a warning naming file and line; the others load (clamscan refuses the file)", () => {
    const bad: Record<string, string> = {
      cdb: "C.Bad-1:CL_TYPE_ZIP:*:x:*:*:7:*:*:*",
      idb: `IconBad:G1:G2:${ICON.slice(2)}`,
      imp: "nothex:39:Imp.Bad-1",
      pdb: "Q:nonsense",
      gdb: "S:Z:1234",
      wdb: "R:notallowed",
      crb: `Bad;2;${CRB_SUBJECT};;c0ffee;010001;1;0;0;;comment`,
      ftm: "0:0:4d5a:MZ:NOT_A_TYPE:CL_TYPE_MSEXE",
      cfg: "PE:12:0:255",
      ndb: "Bad.Ndb-1:0:*:41zz",
    };
    for (const [ext, line] of Object.entries(bad)) {
      const good = FORMATS.find((x) => x.ext === ext);
      const text = `${line}\n${good?.text ?? `Good.Ndb-1:0:*:${hex("good-body")}\n`}`;
      const p = db(ext, text);
      const set = loadClamavDatabase(p);
      expect(
        set.warnings.filter((w) => w.code === "SIGDB_MALFORMED_LINE"),
        ext,
      ).toEqual([expect.objectContaining({ path: p, line: 1 })]);
      expect(set.warnings.find((w) => w.code === "SIGDB_MALFORMED_LINE")!.message, ext).toContain(`${p}:1:`);
      expect(set.count, ext).toBe(good?.expected ?? 1);
      expect(() => loadClamavDatabase(p, { lenient: false }), ext).toThrow(ClamavError);
      if (HAVE_CLAMSCAN) expect(known(p), `clamscan refuses the malformed .${ext}`).toBeUndefined();
    }
  });

  it(".ldb with IconGroup1/2: counted as clamscan counts it (with and without the .idb), never reported; refused outside target 1", () => {
    const ldb = db("ldb", `Icon.Sig-1;Engine:51-255,Target:1,IconGroup1:GroupA;0;41424344\n`);
    const idb = db("idb", `Icon1:GroupA:GroupB:${ICON}\nIcon2:GroupA:*:${ICON}\n`);
    const set = loadClamavDatabase([ldb, idb]);
    expect([loadClamavDatabase(ldb).count, set.count, set.rules.length]).toEqual([1, 3, 0]);
    const bad = db("ldb", `Icon.Sig-2;Engine:51-255,Target:0,IconGroup1:GroupA;0;41424344\n`);
    expect(loadClamavDatabase(bad).warnings).toEqual([
      expect.objectContaining({ code: "SIGDB_MALFORMED_LINE", path: bad, line: 1 }),
    ]);
    if (!HAVE_CLAMSCAN) return;
    expect(known(ldb)).toBe(1);
    const both = spawnSync("clamscan", ["-d", ldb, "-d", idb, "/dev/null"], { encoding: "utf8" });
    expect(both.stdout).toMatch(/Known viruses: 3/);
    expect(known(bad)).toBeUndefined();
  });

  it("a .info named on its own is refused, as clamscan refuses it", () => {
    const p = db("info", "ClamAV-VDB:x:1:0:81:X:X:me:1\n");
    expect(() => loadClamavDatabase(p)).toThrow(expect.objectContaining({ code: "SIGDB_INFO_ALONE" }));
    if (HAVE_CLAMSCAN) expect(known(p)).toBeUndefined();
  });

  it.runIf(FRESHCLAM)("test-6.cvd: 10 known viruses, 14 with PUA, as clamscan", () => {
    const cvd = join(FRESHCLAM!, "test-6.cvd");
    expect(loadClamavDatabase(cvd).count).toBe(10);
    expect(loadClamavDatabase(cvd, { pua: true }).count).toBe(14);
    if (!HAVE_CLAMSCAN) return;
    expect(known(cvd)).toBe(10);
    expect(known(cvd, "--detect-pua=yes")).toBe(14);
  });
});

describe(".ldb subsignatures the expression does not read", () => {
  const text = [
    `Mid.Unused-1;Engine:51-255,Target:0;0&2;${hex("ABCD")};${hex("DEFG")};${hex("GHIP")}`,
    `Pcre.Trigger-1;Engine:81-255,Target:0;1;${hex("ABCD")};0/abc/`,
    `Unread.Bytecmp-1;Engine:81-255,Target:0;0&2;${hex("ABCD")};0(>>4#hb2#=0x1234);${hex("GHIP")}`,
    `Extra.Trailing-1;Engine:51-255,Target:0;0;${hex("ABCD")};${hex("DEFG")}`,
  ].join("\n");

  it("load, compile and match as in clamscan; one whose expression ends before its last subsignature is a warning", () => {
    const p = db("ldb", text + "\n");
    const set = loadClamavDatabase(p);
    expect(set.rules.map((r) => r.name)).toEqual([
      "Mid.Unused-1.UNOFFICIAL",
      "Pcre.Trigger-1.UNOFFICIAL",
      "Unread.Bytecmp-1.UNOFFICIAL",
    ]);
    expect(set.warnings).toEqual([
      expect.objectContaining({ code: "SIGDB_MALFORMED_LINE", path: p, line: 4, signature: "Extra.Trailing-1" }),
    ]);
    const rules = compile(set.yara, { externals: set.externals });
    const names = (s: string) =>
      rules
        .scan(Buffer.from(s), { externals: set.externals })
        .matches.map((m) => m.meta.clamav_name)
        .sort();
    expect(names("ABCDxxxGHIP")).toEqual(["Mid.Unused-1.UNOFFICIAL", "Unread.Bytecmp-1.UNOFFICIAL"]);
    expect(names("ABCD abc")).toEqual(["Pcre.Trigger-1.UNOFFICIAL"]);
    expect(names("abc")).toEqual([]);
    if (!HAVE_CLAMSCAN) return;
    expect(known(p)).toBeUndefined(); // clamscan refuses the file for its last line
    const ok = db("ldb", text.split("\n").slice(0, 3).join("\n") + "\n");
    expect(known(ok)).toBe(3);
    const f1 = join(work, "f1");
    const f2 = join(work, "f2");
    writeFileSync(f1, "ABCDxxxGHIP");
    writeFileSync(f2, "ABCD abc");
    const r = spawnSync("clamscan", ["--no-summary", "-z", "-d", ok, f1, f2], { encoding: "utf8" });
    expect(
      r.stdout
        .split("\n")
        .filter((l) => l.endsWith("FOUND"))
        .map((l) => l.replace(/^.*\//, ""))
        .sort(),
    ).toEqual([
      "f1: Mid.Unused-1.UNOFFICIAL FOUND",
      "f1: Unread.Bytecmp-1.UNOFFICIAL FOUND",
      "f2: Pcre.Trigger-1.UNOFFICIAL FOUND",
    ]);
  });
});

const CLAM_EXE = "/usr/share/clamav-testfiles/clam.exe";
describe(".imp PE import-table hashes", () => {
  it.runIf(existsSync(CLAM_EXE))(
    "detect clam.exe by its import hash as clamscan does; a wrong hash or a PE32+ does not",
    () => {
      const p = db(
        "imp",
        "98c88d882f01a3f6ac1e5f7dfd761624:39:Imp.Clam-1\n98c88d882f01a3f6ac1e5f7dfd761625:39:Imp.Other-1\n",
      );
      const set = loadClamavDatabase(p);
      expect(set.count).toBe(2);
      const rules = compile(set.yara, { externals: set.externals });
      const bytes = readFileSync(CLAM_EXE);
      expect(rules.scan(bytes, { externals: set.externals }).matches.map((m) => m.meta.clamav_name)).toEqual([
        "Imp.Clam-1.UNOFFICIAL",
      ]);
      expect(rules.scan(Buffer.from("MZ not a pe"), { externals: set.externals }).matches).toEqual([]);
      if (!HAVE_CLAMSCAN) return;
      const r = spawnSync("clamscan", ["--no-summary", "-z", "-d", p, CLAM_EXE], { encoding: "utf8" });
      expect(r.stdout.trim()).toBe(`${CLAM_EXE}: Imp.Clam-1.UNOFFICIAL FOUND`);
    },
  );
});

const IS_MSI = "/usr/share/clamav-testfiles/clam_ISmsi_ext.exe";
describe("VI (PE version-info) offsets", () => {
  // 'CompanyName'='company ...' as clamscan --debug prints it for clam_ISmsi_ext.exe (key, NUL padding, start of the value)
  const company = "43006f006d00700061006e0079004e0061006d0065000000000063006f006d00700061006e007900";
  it.runIf(existsSync(IS_MSI))(
    "load with an approximation note, count and detect as clamscan; refused on a target other than PE",
    () => {
      const p = db("ndb", `Vi.Company-1:1:VI:${company}\nVi.Other-1:1:VI:${company.replace("63006f", "78006f")}\n`);
      const set = loadClamavDatabase(p);
      expect(set.count).toBe(2);
      expect(set.warnings.filter((w) => w.code === "SIGDB_APPROXIMATE")).toHaveLength(2);
      const rules = compile(set.yara, { externals: set.externals });
      expect(
        rules
          .scan(readFileSync(IS_MSI), {
            externals: { ...set.externals, clamav_type: set.typer.typeOf(readFileSync(IS_MSI)) },
          })
          .matches.map((m) => m.meta.clamav_name),
      ).toEqual(["Vi.Company-1.UNOFFICIAL"]);
      const wrongTarget = db("ndb", `Vi.Any-1:0:VI:${company}\n`);
      expect(loadClamavDatabase(wrongTarget).warnings).toEqual([
        expect.objectContaining({ code: "SIGDB_MALFORMED_LINE", line: 1 }),
      ]);
      if (!HAVE_CLAMSCAN) return;
      expect(known(p)).toBe(2);
      expect(known(wrongTarget)).toBeUndefined();
      const r = spawnSync("clamscan", ["--no-summary", "-z", "-d", p, IS_MSI], { encoding: "utf8" });
      expect(r.stdout.trim()).toBe(`${IS_MSI}: Vi.Company-1.UNOFFICIAL FOUND`);
    },
  );
});

describe(".cdb container metadata", () => {
  it("matches a member by parent type, name, sizes and position", () => {
    const sig = parseCdbLine("C.Cdb-1:CL_TYPE_ZIP:*:eicar\\.com:10-0:*:0:1:*:*", 216)!;
    const m = {
      containerType: "CL_TYPE_ZIP",
      containerSize: 200,
      name: "dir/eicar.com",
      sizeInContainer: 68,
      sizeReal: 68,
      filePos: 1,
    };
    expect(matchContainerMeta(sig, m)).toBe(true);
    expect(matchContainerMeta(sig, { ...m, containerType: "CL_TYPE_RAR" })).toBe(false);
    expect(matchContainerMeta(sig, { ...m, name: "eicarXcom" })).toBe(false);
    expect(matchContainerMeta(sig, { ...m, name: undefined })).toBe(false);
    expect(matchContainerMeta(sig, { ...m, filePos: 2 })).toBe(false);
    expect(matchContainerMeta(sig, { ...m, sizeInContainer: 9 })).toBe(false);
    expect(matchContainerMeta(sig, { ...m, encrypted: true })).toBe(false);
    expect(parseCdbLine("C.Cdb-2:*:*:*:*:*:*:*:*:*:300", 216)).toBeUndefined();
  });
});

describe(".cbc bytecode", () => {
  /** A header in ClamAV's nibble encoding: number = length char 0x60+n, then n chars 0x60|nibble (least significant first). */
  const num = (v: number) => {
    const nib: string[] = [];
    for (let x = v; x > 0; x = Math.floor(x / 16)) nib.push(String.fromCharCode(0x60 | (x % 16)));
    return String.fromCharCode(0x60 + nib.length) + nib.join("");
  };
  const str = (s: string) =>
    "|" +
    num(s.length + 1) +
    [...Buffer.from(s + "\0")].map((b) => String.fromCharCode(0x60 | (b & 15), 0x60 | (b >> 4))).join("");
  const header = (kind: number, min = 0, max = 0) =>
    `ClamBC${num(7)}${num(1624388302)}${str("vigil")}${num(0)}${num(kind)}${num(min)}${num(max)}${num(0)}${str("test")}${num(0)}${num(0)}:80`;

  it("reads the header and trigger; counts logical bytecode, not hooks; says it is not executed", () => {
    expect(parseCbc(`${header(256, 51, 255)}\nBC.Test-1;Engine:51-255,Target:1;0;41424344\n`)).toMatchObject({
      format: 7,
      kind: 256,
      minFlevel: 51,
      maxFlevel: 255,
      name: "BC.Test-1",
      logical: true,
    });
    const logical = db("cbc", `${header(256)}\nBC.Test-1;Engine:51-255,Target:1;0;41424344\nTx\n`);
    const hook = db("cbc", `${header(257)}\nBC.Unpacker-1\nTx\n`);
    const future = db("cbc", `${header(256, 300)}\nBC.Future-1;Target:1;0;41424344\nTx\n`);
    expect(loadClamavDatabase(logical).count).toBe(0); // unsigned bytecode: as clamscan without --bytecode-unsigned
    if (HAVE_CLAMSCAN) expect(known(logical)).toBe(0);
    const set = loadClamavDatabase([logical, hook, future], { bytecodeUnsigned: true });
    expect(set.count).toBe(1);
    expect(set.outsideStores).toBe(1);
    expect(set.bytecode).toEqual(["BC.Test-1.UNOFFICIAL"]);
    expect(set.warnings.filter((w) => w.code === "SIGDB_NOT_APPLIED").map((w) => w.message)).toEqual([
      expect.stringMatching(/BC\.Test-1.*not executed/),
      expect.stringMatching(/hook BC\.Unpacker-1.*not executed/),
    ]);
    const bad = loadClamavDatabase(db("cbc", "ClamBCzz\nx\n"), { bytecodeUnsigned: true });
    expect(bad.warnings).toEqual([expect.objectContaining({ code: "SIGDB_MALFORMED_LINE", line: 1 })]);
  });
});

describe("hostile nesting", () => {
  it("a logical expression nested beyond the stack is one signature's warning, the next line loads", () => {
    const deep = "(".repeat(12_000) + "0" + ")".repeat(12_000);
    const p = db(
      "ldb",
      `Deep.Nest-1;Engine:51-255,Target:0;${deep};41424344\nFine.Next-1;Engine:51-255,Target:0;0;41424344\n`,
    );
    const set = loadClamavDatabase(p);
    expect(set.rules.map((r) => r.name)).toEqual(["Fine.Next-1.UNOFFICIAL"]);
    expect(set.warnings).toEqual([expect.objectContaining({ path: p, line: 1, signature: "Deep.Nest-1" })]);
  });
});
