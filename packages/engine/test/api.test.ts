/** The public API of @vigil/engine: compile, scan, serialise/load, externals, includes, namespaces. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { compile, CompileError, loadRules, LoadError, ScanError } from "../src/index.js";

const enc = (s: string) => Buffer.from(s, "latin1");

describe("engine API", () => {
  test("scan returns rules, namespaces, tags, meta and string matches with data", () => {
    const rules = compile([
      {
        namespace: "ns1",
        source: 'rule r1 : a b { meta: s = "x" i = -3 b = true strings: $x = "evil" condition: $x }',
      },
      { namespace: "ns2", source: 'rule r1 { strings: $x = "evil" xor(1-3) condition: $x }' },
    ]);
    const res = rules.scan(enc("an evil \x64\x77\x68\x6d thing"));
    expect(res.matches.map((m) => `${m.namespace}:${m.rule}`)).toEqual(["ns1:r1", "ns2:r1"]);
    const [m1, m2] = res.matches;
    expect(m1!.tags).toEqual(["a", "b"]);
    expect(m1!.meta).toEqual({ s: "x", i: -3, b: true });
    expect(m1!.strings[0]!.matches[0]).toMatchObject({ offset: 3, length: 4 });
    expect(Buffer.from(m1!.strings[0]!.matches[0]!.data).toString()).toBe("evil");
    expect(m2!.strings[0]!.matches[0]).toMatchObject({ offset: 8, length: 4, xorKey: 1 });
  });

  test("serialize and loadRules give the same results without recompiling", () => {
    const src =
      'import "math"\nrule r { strings: $a = /ab+c/ $b = { 61 ?? 63 } condition: $a and #b == 1 and math.entropy(0, filesize) > 1 }\nrule s { condition: r }';
    const rules = compile(src);
    const data = enc("xx abbbc a_c yy");
    const loaded = loadRules(rules.serialize());
    expect(loaded.scan(data)).toEqual(rules.scan(data));
    expect(loaded.scan(data).matches.map((m) => m.rule)).toEqual(["r", "s"]);
  });

  test("loadRules rejects garbage and other versions with a LoadError", () => {
    expect(() => loadRules(enc("not json"))).toThrow(LoadError);
    const data = JSON.parse(Buffer.from(compile("rule r { condition: true }").serialize()).toString());
    data.version = 99;
    expect(() => loadRules(JSON.stringify(data))).toThrow(/recompile/);
  });

  test("externals: typed defaults at compile time, overridden per scan", () => {
    const rules = compile('rule r { condition: owner == "root" and level > 2 and flag }', {
      externals: { owner: "root", level: 3, flag: true },
    });
    expect(rules.scan(enc("")).matches).toHaveLength(1);
    expect(rules.scan(enc(""), { externals: { owner: "bob" } }).matches).toHaveLength(0);
    expect(() => compile('rule r { condition: owner == "root" }')).toThrow(CompileError);
  });

  test("includes are relative to the including file; cycles are diagnosed", () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-inc-"));
    writeFileSync(join(dir, "a.yar"), 'include "sub/b.yar"\nrule a { condition: b }');
    writeFileSync(join(dir, "sub-placeholder"), "");
    const sub = join(dir, "sub");
    require("node:fs").mkdirSync(sub);
    writeFileSync(join(sub, "b.yar"), "rule b { condition: true }");
    const rules = compile([{ source: 'include "a.yar"\nrule top { condition: a }', path: join(dir, "main.yar") }]);
    expect(rules.scan(enc("")).matches.map((m) => m.rule)).toEqual(["b", "a", "top"]);
    writeFileSync(join(dir, "c1.yar"), 'include "c2.yar"\nrule c1 { condition: true }');
    writeFileSync(join(dir, "c2.yar"), 'include "c1.yar"\nrule c2 { condition: true }');
    try {
      compile([{ source: readFile(join(dir, "c1.yar")), path: join(dir, "c1.yar") }]);
      expect.unreachable();
    } catch (e) {
      expect((e as CompileError).diagnostics[0]!.code).toBe("E_INCLUDE_CYCLE");
    }
  });

  test("global rules gate their namespace; private rules and private strings are not reported", () => {
    const rules = compile(
      'global rule g { condition: filesize > 3 } private rule p { strings: $s = "ab" private condition: $s } rule r { strings: $t = "ab" condition: p and $t }',
    );
    expect(rules.scan(enc("ab")).matches).toEqual([]);
    const res = rules.scan(enc("xxab"));
    expect(res.matches.map((m) => m.rule)).toEqual(["g", "r"]);
    const priv = compile('rule r { strings: $s = "ab" private $t = "b" condition: $s and $t }').scan(enc("ab"));
    expect(priv.matches[0]!.strings.map((s) => s.identifier)).toEqual(["$t"]);
  });

  test("a scan past its time limit throws a ScanError with code SCAN_TIMEOUT", () => {
    // a loop over 10^10 values: the loop itself checks the deadline
    const rules = compile("rule r { condition: for all i in (0..10000000000) : ( i >= 0 ) }");
    const started = Date.now();
    expect(() => rules.scan(new Uint8Array(10), { timeoutMs: 200 })).toThrow(ScanError);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  test("a file compiled rule by rule as it is parsed reports the same error as a whole-file compile", () => {
    const first = (source: string) => {
      try {
        const r = compile([{ source, path: "/rules/x.yar" }]);
        return `ok ${r.data.rules.map((x) => x.name).join(",")}`;
      } catch (e) {
        if (!(e instanceof CompileError)) throw e;
        const d = e.diagnostics[0]!;
        return `${d.code} ${d.line}:${d.column}`;
      }
    };
    // a syntax error anywhere in the file comes before a compile error in an earlier rule
    expect(first("rule a { condition: nosuch }\nrule b { condition: true }\nrule c { condition: ( }")).toBe(
      "E_SYNTAX 3:23",
    );
    expect(first('import "nosuch"\nrule a { condition: true }\nrule b { condition: ( }')).toBe("E_SYNTAX 3:23");
    expect(first('import "nosuch"\nrule a { condition: true }')).toBe("E_UNKNOWN_MODULE 1:1");
    expect(first("rule a { condition: true }\nrule b { condition: nosuch }\nrule c { condition: true }")).toBe(
      "E_UNDEFINED_IDENTIFIER 2:21",
    );
    // an import after a rule applies to the whole file (that file is not compiled as it is parsed)
    expect(first('rule a { condition: pe.is_pe }\nimport "pe"\nrule b { condition: true }')).toBe("ok a,b");
    expect(first("rule a { condition: b }\nrule b { condition: true }")).toBe("E_UNDEFINED_IDENTIFIER 1:21");
  });

  test("warnings carry code, message, line and column", () => {
    const rules = compile("rule r {\n strings: $a = /a.*b/\n condition: $a }");
    expect(rules.warnings[0]).toMatchObject({ code: "W_SLOW_PATTERN", line: 2, column: 11 });
  });
});

function readFile(p: string): string {
  return require("node:fs").readFileSync(p, "latin1");
}
