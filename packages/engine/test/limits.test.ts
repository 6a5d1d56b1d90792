/**
 * Size limits of the language (issue 17, findings 5 and 7): long generated conditions compile
 * and agree with yara; every remaining limit (nesting of parentheses, loops, hex alternatives,
 * regex groups, regex length) is a diagnostic with its file, line and column, never a
 * RangeError; regexes longer than yara's 4,096-byte scan limit match as yara's do. The
 * assertions stand on their own; where Debian's yara is installed the same rules and files
 * are also run through it and the outcomes compared.
 */
import { createHash } from "node:crypto";
import { describe, expect, test } from "vitest";
import { compile, CompileError, type Diagnostic } from "../src/index.js";
import { needs } from "@vigil/test-kit";
import { normalise, runVigil, runYara, writeFiles } from "./differential/oracle.js";

// without Debian's yara the comparisons are not run; the assertions on Vigil alone still are
const yaraAvailable = !needs("limits: comparisons with yara", { tools: ["yara"] });

const enc = (s: string) => Buffer.from(s, "latin1");
const md5 = (s: string) => createHash("md5").update(enc(s)).digest("hex");

function names(rules: string, data: string): string[] {
  return compile(rules)
    .scan(enc(data))
    .matches.map((m) => m.rule);
}

/** Compiles `source` as the file `path` and returns the one diagnostic it must fail with. */
function diagnosticOf(source: string, path = "/rules/limits.yar"): Diagnostic {
  let err: unknown;
  try {
    compile([{ source, path }]);
  } catch (e) {
    err = e;
  }
  expect(err, "expected a CompileError").toBeInstanceOf(CompileError);
  const d = (err as CompileError).diagnostics[0]!;
  expect(d.path).toBe(path);
  // the message and its printed form stay short whatever the size of the offending text
  expect((err as Error).message.length).toBeLessThan(1200);
  return d;
}

/** Deterministic lower-case text (a xorshift generator), so files and rules are reproducible. */
function letters(seed: number, n: number): string {
  let x = seed >>> 0 || 1,
    out = "";
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out += String.fromCharCode(97 + (x % 26));
  }
  return out;
}

const DATA = "some data to hash\n";
const md5Terms = (n: number, hit: number) =>
  Array.from({ length: n }, (_, i) => `hash.md5(0, filesize) == "${i === hit ? md5(DATA) : md5(String(i))}"`).join(
    " or ",
  );

/** Long chains yara accepts; each rule's expected verdict on DATA (18 bytes) in the comment. */
const CHAINS: Array<[name: string, condition: string, matches: boolean]> = [
  ["md5_or_1500_hit", md5Terms(1500, 1200), true],
  ["md5_or_1500_miss", md5Terms(1500, -1), false],
  [
    "or_10000",
    Array.from({ length: 10000 }, (_, i) => `filesize == ${i + 100}`).join(" or ") + " or filesize == 18",
    true,
  ],
  ["and_10000", Array.from({ length: 10000 }, (_, i) => `filesize != ${i + 100}`).join(" and "), true],
  ["and_10000_false", Array.from({ length: 10000 }, (_, i) => `filesize != ${i}`).join(" and "), false],
  ["plus_const_2000", Array.from({ length: 2000 }, () => "1").join(" + ") + " == 2000", true],
  ["plus_10000", Array.from({ length: 10000 }, () => "filesize").join(" + ") + " == 180000", true],
  [
    "minus_mixed_3000",
    "filesize " + Array.from({ length: 3000 }, (_, i) => (i % 2 ? "+ 2" : "- 1")).join(" ") + " == 1518",
    true,
  ],
  ["tilde_2000", "~".repeat(2000) + "filesize == 18", true],
  ["tilde_2001", "~".repeat(2001) + "filesize == -19", true],
  ["not_5001", "not ".repeat(5001) + "filesize == 18", false],
  ["not_5000", "not ".repeat(5000) + "filesize == 18", true],
  ["neg_tilde_3000", "-~".repeat(1500) + "filesize == 1518", true],
];

describe("finding 5: long conditions compile iteratively", () => {
  const rules = `import "hash"\n` + CHAINS.map(([n, c]) => `rule ${n} { condition: ${c} }`).join("\n") + "\n";

  test("every chain compiles, loads and evaluates as written", () => {
    const compiled = compile(rules);
    const res = compiled.scan(enc(DATA));
    expect(res.warnings).toEqual([]);
    expect(res.matches.map((m) => m.rule).sort()).toEqual(
      CHAINS.filter(([, , m]) => m)
        .map(([n]) => n)
        .sort(),
    );
  });

  test("the compiled rules survive serialisation (the emitted code loads in a fresh Function)", async () => {
    const { loadRules } = await import("../src/index.js");
    const loaded = loadRules(compile(rules).serialize());
    expect(loaded.scan(enc(DATA)).matches.length).toBe(CHAINS.filter(([, , m]) => m).length);
  });

  test.runIf(yaraAvailable)("yara agrees on every chain", () => {
    const dir = writeFiles({ "data.txt": DATA, "other.bin": "x".repeat(1518) });
    const y = runYara(rules, dir);
    expect(y.status, y.stderr).toBe(0);
    expect(normalise(runVigil(rules, dir))).toEqual(normalise(y.outcome));
  });
});

describe("finding 5: remaining limits are diagnostics with a position", () => {
  const pad = "rule ok { condition: true }\n\n";

  test("parentheses nested 5,000 deep", () => {
    const d = diagnosticOf(pad + "rule r {\n  condition: " + "(".repeat(5000) + "true" + ")".repeat(5000) + "\n}\n");
    expect(d.code).toBe("E_LIMIT");
    expect([d.line, d.rule]).toEqual([4, "r"]);
    expect(d.column).toBeGreaterThan(13);
  });

  test("a hex alternation nested 5,000 deep (yara: too complex)", () => {
    const d = diagnosticOf(
      pad +
        "rule r {\n  strings:\n    $a = { 41 " +
        "( 42 | ".repeat(5000) +
        "43" +
        " )".repeat(5000) +
        " }\n  condition: $a\n}\n",
    );
    expect([d.code, d.line, d.column]).toEqual(["E_HEX", 5, 10]);
    expect(d.message).toMatch(/nested deeper than 128/);
    // 128 levels, yara's limit, still compile
    const ok = "rule r { strings: $a = { 41 " + "( 42 | ".repeat(128) + "43" + " )".repeat(128) + " } condition: $a }";
    expect(names(ok, "A" + "B")).toEqual(["r"]);
  });

  test("regex groups nested 1,000 deep", () => {
    const d = diagnosticOf(
      pad + "rule r { strings: $a = /" + "(".repeat(1000) + "a" + ")".repeat(1000) + "/ condition: $a }\n",
    );
    expect([d.code, d.line, d.column]).toEqual(["E_REGEX", 3, 19]);
  });

  test("more than 4 nested loops (yara's limit)", () => {
    const loops = (n: number) =>
      Array.from({ length: n }, (_, k) => `for any i${k} in (0..1) : ( `).join("") + "true" + " )".repeat(n);
    expect(names(`rule r { condition: ${loops(4)} }`, "")).toEqual(["r"]);
    const d = diagnosticOf(pad + `rule r { condition: ${loops(5)} }\n`);
    expect([d.code, d.line]).toEqual(["E_LIMIT", 3]);
    expect(d.message).toMatch(/loop nesting limit/);
  });

  test("an expression nested 400 deep inside a 10,000-term chain is still a diagnostic, not a RangeError", () => {
    const d = diagnosticOf(
      pad +
        "rule r { condition: " +
        Array.from({ length: 10000 }, () => "true").join(" or ") +
        " or " +
        "(".repeat(500) +
        "true" +
        ")".repeat(500) +
        " }\n",
    );
    expect([d.code, d.line]).toEqual(["E_LIMIT", 3]);
  });
});

describe("finding 7: regex edges", () => {
  const body = letters(7, 5000);
  const file = "xx" + body + "yy";

  test("a literal regex longer than 4,096 bytes matches (yara matches it as a text string)", () => {
    const res = compile(`rule r { strings: $a = /${body}/ condition: $a }`).scan(enc(file));
    expect(res.matches[0]?.strings[0]?.matches.map((m) => [m.offset, m.length])).toEqual([[2, 5000]]);
    expect(names(`rule r { strings: $a = /${body.toUpperCase()}/i condition: $a }`, file)).toEqual(["r"]);
    expect(names(`rule r { strings: $a = /xx${body}/ condition: $a }`, file)).toEqual(["r"]);
  });

  test("a non-literal regex match longer than 4,096 bytes is not a match", () => {
    const rules = [
      `rule fwd_4097 { strings: $a = /QZXJ${"a".repeat(4092)}[bc]/ condition: $a }`,
      `rule fwd_4096 { strings: $a = /QZXJ${"a".repeat(4091)}[bc]/ condition: $a }`,
    ].join("\n");
    const data = "xxQZXJ" + "a".repeat(4092) + "b QZXJ" + "a".repeat(4091) + "c ";
    expect(names(rules, data).sort()).toEqual(["fwd_4096"]);
  });

  test("a masked hex string longer than 4,096 bytes does not match (yara's limit), a plain one does", () => {
    const hex = (s: string) => [...s].map((c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join(" ");
    const rules = `rule plain { strings: $a = { ${hex(body)} } condition: $a }\nrule masked { strings: $a = { ${hex(body.slice(0, 2000))} ?? ${hex(body.slice(2001))} } condition: $a }`;
    expect(names(rules, file)).toEqual(["plain"]);
  });

  test("a 50 KB regex is refused at compile time with a short message (yara: out of space in lex_buf)", () => {
    const big = letters(3, 50000);
    const d = diagnosticOf(
      `rule ok { condition: true }\nrule r {\n  strings:\n    $a = /${big}/\n  condition: $a\n}\n`,
    );
    expect([d.code, d.line, d.column]).toEqual(["E_LIMIT", 4, 10]);
    expect(d.message).not.toContain(big.slice(0, 50));
    expect(d.message).toMatch(/50000 bytes .* 8190/);
    // the longest regex yara takes is accepted
    expect(names(`rule r { strings: $a = /${letters(5, 8190)}/ condition: $a }`, "x" + letters(5, 8190))).toEqual([
      "r",
    ]);
    expect(diagnosticOf(`rule r { strings: $a = /${letters(5, 8191)}/ condition: $a }`).code).toBe("E_LIMIT");
  });

  test.runIf(yaraAvailable)("yara agrees on the regex edges", () => {
    const dir = writeFiles({
      "file.bin": file,
      "edges.bin": "xxQZXJ" + "a".repeat(4092) + "b QZXJ" + "a".repeat(4091) + "c ",
    });
    const rules = [
      `rule lit { strings: $a = /${body}/ condition: $a }`,
      `rule lit_nocase { strings: $a = /${body.toUpperCase()}/i condition: $a }`,
      `rule lit_wide { strings: $a = /${body}/ wide ascii condition: $a }`,
      `rule lit_group { strings: $a = /(${body})/ condition: $a }`,
      `rule dot_mid { strings: $a = /${body.slice(0, 2500)}.${body.slice(2501)}/ condition: $a }`,
      `rule fwd_4097 { strings: $a = /QZXJ${"a".repeat(4092)}[bc]/ condition: $a }`,
      `rule fwd_4096 { strings: $a = /QZXJ${"a".repeat(4091)}[bc]/ condition: $a }`,
    ].join("\n");
    const y = runYara(rules, dir);
    expect(y.status, y.stderr).toBe(0);
    expect(normalise(runVigil(rules, dir))).toEqual(normalise(y.outcome));
    const big = runYara(`rule r { strings: $a = /${letters(3, 50000)}/ condition: $a }`, dir);
    expect(big.status).not.toBe(0);
  });
});
