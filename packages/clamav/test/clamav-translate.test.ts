import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compile } from "@vigil/engine";
import {
  loadClamavDatabase,
  parseHexSignature,
  parseLogicalExpression,
  parseOffset,
  translateHex,
  translatePcre,
  SignatureSyntaxError,
  ClamavError,
} from "../src/index.js";

const dir = mkdtempSync(join(tmpdir(), "vigil-clamav-unit-"));
let n = 0;
function db(ext: string, text: string): string {
  const p = join(dir, `db${n++}.${ext}`);
  writeFileSync(p, text);
  return p;
}
const hex = (s: string) => Buffer.from(s, "latin1").toString("hex");

describe("hex signature syntax", () => {
  it("parses every body form", () => {
    const nodes = parseHexSignature(
      "4142??4??3*{4}{-3}{2-}{1-5}{1-2}(41|42)(4142|4344)(41??|4243)!(41|42)(B)(L)(W)!(B)",
    );
    expect(nodes.map((n) => n.kind)).toEqual([
      "byte",
      "byte",
      "byte",
      "byte",
      "byte",
      "jump",
      "jump",
      "jump",
      "jump",
      "jump",
      "jump",
      "alt",
      "alt",
      "alt",
      "alt",
      "marker",
      "marker",
      "marker",
      "marker",
    ]);
    expect(nodes[3]).toEqual({ kind: "byte", value: 0x40, mask: 0xf0 });
    expect(nodes[4]).toEqual({ kind: "byte", value: 0x03, mask: 0x0f });
    expect(nodes[6]).toEqual({ kind: "jump", min: 4, max: 4 });
    expect(nodes[7]).toEqual({ kind: "jump", min: 0, max: 3 });
    expect(nodes[8]).toEqual({ kind: "jump", min: 2, max: undefined });
  });

  it("rejects malformed bodies with a reason", () => {
    expect(parseHexSignature("41[1-3]4243")[1]).toMatchObject({ kind: "jump", min: 1, max: 3 });
    expect(parseHexSignature("4142[1-3]43")[2]).toMatchObject({ kind: "jump", min: 1, max: 3 });
    for (const bad of [
      "4142[1-3]4344",
      "41[1-40]4243",
      "414",
      "41zz",
      "41{3",
      "41{x}",
      "41{5-2}",
      "41(42",
      "41()",
      "41!42",
      "41(42{1-2}|43)",
      "",
      "41[3-1]42",
    ])
      expect(() => parseHexSignature(bad), bad).toThrow();
  });

  it("writes YARA hex strings, and regexes when a byte set is too large for YARA's hex alternatives", () => {
    expect(translateHex(parseHexSignature("41??4?{2-3}(4243|44)"), false).text).toBe(
      "{ 41 ?? 4? [2-3] ( 42 43 | 44 ) }",
    );
    const neg = translateHex(parseHexSignature("41!(42|43)44"), false);
    expect(neg.form).toBe("regex");
    expect(neg.text).toBe("/\\x41[\\x00-\\x41\\x44-\\xff]\\x44/");
    const text = translateHex(parseHexSignature("41224243"), true);
    expect(text).toMatchObject({ form: "text", text: '"A\\x22BC"' });
    const edges = translateHex(parseHexSignature("(B)414243(L)"), false);
    expect(edges.text).toBe("{ 41 42 43 }");
    expect(edges.edges).toHaveLength(2);
    // leading and trailing wildcards are dropped with a note
    const lead = translateHex(parseHexSignature("4142*"), false);
    expect(lead.approximations.join()).toMatch(/trailing wildcard/);
  });

  it("expands a negated multi-byte alternative into its complement", () => {
    const rules = compile(
      `rule r { strings: $a = ${translateHex(parseHexSignature("5858!(4142|4344)5959"), false).text} condition: $a }`,
    );
    const scan = (s: string) => rules.scan(new TextEncoder().encode(s)).matches.length;
    expect(scan("XXACYY")).toBe(1);
    expect(scan("XXABYY")).toBe(0);
    expect(scan("XXCDYY")).toBe(0);
    expect(scan("XXCBYY")).toBe(1);
  });
});

describe("offsets and logical expressions", () => {
  it("parses every offset form", () => {
    expect(parseOffset("*")).toEqual({ kind: "any" });
    expect(parseOffset("10,5")).toEqual({ kind: "abs", n: 10, shift: 5 });
    expect(parseOffset("EOF-20")).toEqual({ kind: "eof", n: 20, shift: 0 });
    expect(parseOffset("EP-8,4")).toEqual({ kind: "ep", n: -8, shift: 4 });
    expect(parseOffset("S2+16")).toEqual({ kind: "section", section: 2, n: 16, shift: 0 });
    expect(parseOffset("SE1")).toEqual({ kind: "sectionEnd", section: 1, shift: 0 });
    expect(parseOffset("SL+4")).toEqual({ kind: "lastSection", n: 4, shift: 0 });
    expect(parseOffset("VI")).toEqual({ kind: "versionInfo" });
    expect(parseOffset("$3$")).toEqual({ kind: "macro", group: 3 });
    for (const bad of ["EP*1", "S+1", "10,x", "$40$", "-5", "x".repeat(65)])
      expect(() => parseOffset(bad), bad).toThrow(SignatureSyntaxError);
  });

  it("groups like ClamAV: the first top-level operator splits, the right side is the rest", () => {
    expect(parseLogicalExpression("0&1|2")).toEqual({
      kind: "bin",
      op: "&",
      left: { kind: "leaf", id: 0 },
      right: { kind: "bin", op: "|", left: { kind: "leaf", id: 1 }, right: { kind: "leaf", id: 2 } },
    });
    expect(parseLogicalExpression("((0|1)>5,2)&2")).toMatchObject({
      op: "&",
      left: { op: "|", mod: { op: ">", n: 5, distinct: 2 } },
    });
    expect(parseLogicalExpression("0=0")).toEqual({ kind: "leaf", id: 0, mod: { op: "=", n: 0 } });
    for (const bad of ["0&", "(0|1", "0|1)", "a&b", "(0|1)x", ""])
      expect(() => parseLogicalExpression(bad), bad).toThrow(SignatureSyntaxError);
  });

  it("translates PCRE where the engine can, and says why not elsewhere", () => {
    expect(translatePcre("ab(?:c|d)e", "i")).toMatchObject({ body: "ab(c|d)e", mods: "i" });
    expect(translatePcre("a b # comment\n c", "x").body).toBe("abc");
    expect(() => translatePcre("foo(?=bar)", "")).toThrow(/lookahead/);
    expect(() => translatePcre("(a)\\1", "")).toThrow(/back-reference/);
    expect(() => translatePcre("^foo$", "m")).toThrow(/multiline/);
    expect(() => translatePcre("a", "q")).toThrow(/unknown PCRE flag/);
  });
});

/** An ldb whose count modifiers nest 12 deep: its expansion would be exponential. */
function nestedCounts(): string {
  let e = "(0|1)>1";
  for (let i = 2; i < 14; i++) e = `((${e})&${i}|${i})>1`;
  return `Deep-1;Engine:51-255,Target:0;${e};${Array.from({ length: 14 }, (_, i) => (0x4141 + i).toString(16)).join(";")}`;
}

describe("loadClamavDatabase", () => {
  it("names rules after ClamAV names with .UNOFFICIAL and keeps them in meta", () => {
    const set = loadClamavDatabase(db("ndb", `Win.Test.Dots-1:0:*:${hex("dotted name")}\n`));
    expect(set.rules[0]!.name).toBe("Win.Test.Dots-1.UNOFFICIAL");
    expect(set.rules[0]!.ruleName).toBe("clamav_0_Win_Test_Dots_1");
    const rules = compile(set.yara, { externals: set.externals });
    expect(rules.scan(new TextEncoder().encode("xx dotted name xx")).matches[0]!.meta.clamav_name).toBe(
      "Win.Test.Dots-1.UNOFFICIAL",
    );
  });

  it("skips signatures outside the FLEVEL range and honours Engine ranges", () => {
    const set = loadClamavDatabase([
      db(
        "ndb",
        `New.Sig-1:0:*:${hex("abcdef")}:300\nOld.Sig-1:0:*:${hex("abcdef")}:10:20\nOk.Sig-1:0:*:${hex("abcdef")}:51:255\n`,
      ),
      db(
        "ldb",
        `New.Ldb-1;Engine:250-255,Target:0;0;${hex("abcdef")}\nOk.Ldb-1;Engine:51-255,Target:0;0;${hex("abcdef")}\n`,
      ),
    ]);
    expect(set.rules.map((r) => r.name)).toEqual(["Ok.Sig-1.UNOFFICIAL", "Ok.Ldb-1.UNOFFICIAL"]);
  });

  it("skips malformed lines with a warning naming file and line (default), or fails on them like clamscan when not lenient", () => {
    const bad = db("ndb", `Good-1:0:*:${hex("good")}\nBad-1:0:*:41zz\n`);
    expect(() => loadClamavDatabase(bad, { lenient: false })).toThrow(
      expect.objectContaining({ code: "SIGDB_MALFORMED_LINE", line: 2 }),
    );
    const set = loadClamavDatabase(bad);
    expect(set.rules).toHaveLength(1);
    expect(set.warnings[0]).toMatchObject({ code: "SIGDB_MALFORMED_LINE", line: 2, signature: "Bad-1" });
    const cases = [
      "Short-1:0:*",
      `NoEngine-1;Target:0,FileSize:1-2;0;${hex("abcd")}`,
      `BadExpr-1;Engine:51-255,Target:0;0&5;${hex("abcd")}`,
      `EpOnAny-1:0:EP+1:${hex("abcd")}`,
      `Trailing-1;Engine:51-255,Target:0;0;${hex("abcd")};`,
    ];
    for (const line of cases) {
      const p = db(line.includes(";") ? "ldb" : "ndb", line + "\n");
      expect(() => loadClamavDatabase(p, { lenient: false }), line).toThrow(ClamavError);
      expect(loadClamavDatabase(p).warnings, line).toContainEqual(
        expect.objectContaining({ code: "SIGDB_MALFORMED_LINE", path: p, line: 1 }),
      );
    }
  });

  it("reports forms it cannot translate as unsupported, and loads the rest", () => {
    const lines = [
      `MacroOff-1:0:$3$:${hex("abcd")}`,
      `Macro-1;Engine:51-255,Target:0;0&1;${hex("abcd")};\${1-2}3$`,
      `Look-1;Engine:81-255,Target:0;0&1;${hex("abcd")};0/foo(?=bar)/`,
      `ByteCmp-1;Engine:81-255,Target:0;0&1;${hex("abcd")};0(>>4#hb2#=0x1234)`,
      `Icon-1;Engine:51-255,Target:1,IconGroup1:GRP;0;${hex("abcd")}`,
      `Fine-1;Engine:51-255,Target:0;0;${hex("abcd")}`,
    ];
    const set = loadClamavDatabase([db("ndb", lines[0] + "\n"), db("ldb", lines.slice(1).join("\n") + "\n")]);
    expect(set.rules.map((r) => r.name)).toEqual(["Fine-1.UNOFFICIAL"]);
    const unsupported = set.warnings.filter((w) => w.code === "SIGDB_UNSUPPORTED").map((w) => w.signature);
    expect(unsupported).toEqual(["MacroOff-1", "Macro-1", "Look-1", "ByteCmp-1"]);
    // counted as clamscan counts it, not applied (the icon check needs PE icon resources)
    expect(set.warnings.filter((w) => w.code === "SIGDB_NOT_APPLIED").map((w) => w.signature)).toEqual(["Icon-1"]);
    expect(set.count).toBe(2);
  });

  it("applies .ign2 entries (plain and md5-bound) and loads a directory", () => {
    const d = join(dir, "dbdir");
    mkdirSync(d);
    const keep = `Keep-1:0:*:${hex("keepme")}`;
    const drop = `Drop-1:0:*:${hex("dropme")}`;
    const bound = `Bound-1:0:*:${hex("bound")}`;
    writeFileSync(join(d, "a.ndb"), [keep, drop, bound].join("\n") + "\n");
    writeFileSync(
      join(d, "z.ign2"),
      `Drop-1\nBound-1:${createHash("md5").update(bound).digest("hex")}\nKeep-1:${"0".repeat(32)}\n`,
    );
    writeFileSync(join(d, "README"), "not a database\n");
    writeFileSync(join(d, "notes.txt"), "documentation, not a hash list\n");
    const set = loadClamavDatabase(d);
    expect(set.rules.map((r) => r.name)).toEqual(["Keep-1.UNOFFICIAL"]);
    expect(set.ignored).toEqual(new Set(["Drop-1", "Bound-1", "Keep-1"]));
    expect(set.warnings).toEqual([]);
    // an explicit file with an unknown extension is reported, PUA files skipped unless asked
    const other = loadClamavDatabase([join(d, "README"), db("ndu", keep + "\n")]);
    expect(other.warnings.map((w) => w.code)).toEqual(["SIGDB_UNKNOWN_EXTENSION", "SIGDB_SKIPPED_PUA"]);
    expect(() => loadClamavDatabase(join(d, "missing.ndb"))).toThrow(expect.objectContaining({ code: "SIGDB_READ" }));
  });

  it("puts hashes, section hashes, allow list and hash lists in their stores", () => {
    const md5 = createHash("md5").update("x").digest("hex");
    const sha = createHash("sha256").update("y").digest("hex");
    const set = loadClamavDatabase([
      db("hdb", `${md5}:1:H-1\n`),
      db("msb", `512:${sha}:S-1\n`),
      db("fp", `${md5}:1:F-1\n`),
      db("sha256", `${sha} Listed\n`),
    ]);
    expect(set.hashes.lookupDigest("md5", md5, 1)?.name).toBe("H-1.UNOFFICIAL");
    expect(set.hashes.lookupDigest("sha256", sha, 99)?.name).toBe("Listed");
    expect(set.sectionHashes.lookupDigest("sha256", sha, 512)?.name).toBe("S-1.UNOFFICIAL");
    expect(set.allow.has({ md5 }, 1)).toBe(true);
    expect(set.count).toBe(4);
  });

  it("reports exponential count expansions as unsupported instead of building them", () => {
    const t = performance.now();
    const set = loadClamavDatabase(db("ldb", nestedCounts() + "\n"));
    expect(performance.now() - t).toBeLessThan(5000);
    expect(set.rules).toHaveLength(0);
    expect(set.warnings[0]).toMatchObject({ code: "SIGDB_UNSUPPORTED", signature: "Deep-1" });
  });

  it("never crashes on hostile text", () => {
    const junk = [
      "",
      ":::::",
      ";;;;",
      "A;B;C;D",
      "x:0:*:((((",
      "x;Engine:51-255;(((((0;41",
      "x:0:*:" + "(41|".repeat(500),
      "x:0:*:" + "41".repeat(5000),
      "\u0000\u0001:0:*:4142",
      "x;Engine:51-255,Target:0;" + "(".repeat(300) + "0" + ")".repeat(300) + ";4142",
      nestedCounts(),
    ];
    for (const j of junk) {
      const p = db(j.includes(";") ? "ldb" : "ndb", j + "\n");
      try {
        const set = loadClamavDatabase(p, { lenient: true });
        if (set.yara.length > 0) compile(set.yara, { externals: set.externals });
      } catch (e) {
        expect(e, JSON.stringify(j).slice(0, 80)).toBeInstanceOf(ClamavError);
      }
    }
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));
});
