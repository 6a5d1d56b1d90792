/**
 * The formatter (format.ts, `vigil yara fmt`): every rule file of the public corpora parses to
 * the same tree before and after formatting (positions aside), formatting is idempotent, and
 * comments are kept; plus hand-written cases for the literal forms that are easy to get wrong.
 */
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { describe, expect, test } from "vitest";
import { formatSource, parse, stripPositions } from "../src/index.js";

const CORPORA = join(__dirname, "../../../../shared/corpora/yara");

function sameTree(a: string, b: string): boolean {
  return isDeepStrictEqual(stripPositions(parse(a)), stripPositions(parse(b)));
}
const commentCount = (s: string) => (s.match(/\/\/|\/\*/g) ?? []).length;

describe("formatter", () => {
  test("literals, modifiers, hex strings, regexps, quantifiers and comments round-trip", () => {
    const src = [
      "// header",
      'import "pe" // after the import',
      "/* block",
      "   comment */",
      "global private rule a : t1 t2 {",
      '  meta: s = "q\\"\\\\\\x01\\xff\\t" n = -5 b = true // after meta',
      "  strings:",
      "    // before $a",
      '    $a = "x" ascii wide nocase xor(1-3)',
      "    $h = { 4d 5A ?? ~4? [2-4] ( 01 | 02 [1] 03 ) [-] 05 ?0 } /* after hex */",
      "    $r = /a\\/b[/]c\\\\/is",
      '    $b = "abc" base64("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-\\"") private',
      "  condition:",
      "    - -0x10 == 16 and -0x10 < 0 and 1.5 > 1 and #a in (0..filesize) == 0 and @a[1] != 2 // inside",
      "    and !a[1] == 1 and for any i in (1..2) : (i == 1) and for 2 of ($a, $h*) : ($ at 0)",
      "    and 1 + -1 of them and 50% of them and filesize < 50KB and pe.sections[0].name matches /text/",
      "    and not defined pe.x and (1 + 2) * 3 == 9 and ~1 == -2 and $a in (0..10) and any of (a*)",
      "}",
    ].join("\n");
    const out = formatSource(src);
    expect(sameTree(src, out)).toBe(true);
    expect(formatSource(out)).toBe(out);
    expect(commentCount(out)).toBe(commentCount(src));
    expect(out).toContain("filesize < 50KB"); // the written form of a number is kept
    expect(out).toContain("$h = { 4D 5A ?? ~4? [2-4] ( 01 | 02 [1] 03 ) [-] 05 ?0 } /* after hex */");
    expect(out).toContain('    s = "q\\"\\\\\\x01\\xff\\t"\n');
    expect(out).toContain("    // before $a\n    $a =");
    expect(out).toMatch(/^\/\/ header\nimport "pe" \/\/ after the import\n/);
  });

  test("a long condition is broken at its top-level and/or, one operand per line", () => {
    const long = Array.from({ length: 12 }, (_, i) => `uint32(${i * 4}) == 0x${(i + 1) * 1111}`).join(" and ");
    const out = formatSource(`rule r { condition: ${long} }`);
    expect(out.split("\n").filter((l) => l.trim().startsWith("uint32(")).length).toBe(12);
    expect(sameTree(`rule r { condition: ${long} }`, out)).toBe(true);
  });

  test("generated conditions: a 50,000-term chain and 10,000 prefix operators format without deep recursion", () => {
    const chain = `rule r { condition: ${Array.from({ length: 50_000 }, (_, i) => `filesize == ${i}`).join(" or ")} }`;
    const out = formatSource(chain);
    expect(out.split("\n").length).toBeGreaterThan(50_000);
    expect(formatSource(out)).toBe(out);
    const nots = `rule n { condition: ${"not ".repeat(10_000)}true }`;
    expect(formatSource(nots)).toBe(`rule n {\n  condition:\n    ${"not ".repeat(10_000)}true\n}\n`);
  });

  test("a file that does not parse is an error, not output", () => {
    expect(() => formatSource("rule r { condition: }")).toThrow();
  });

  const files: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(yar|yara)$/i.test(n)) files.push(p);
    }
  };
  if (existsSync(CORPORA)) walk(CORPORA);
  else console.log(`the public rule corpora are not at ${CORPORA}: the corpus round-trip is not run`);

  test.runIf(files.length > 0)(
    "every rule file of the corpora: same tree after formatting, idempotent, comments kept",
    {
      timeout: 300_000,
    },
    () => {
      const bad: string[] = [];
      let parsed = 0;
      for (const f of files) {
        const src = readFileSync(f).toString("latin1");
        try {
          parse(src);
        } catch {
          continue; // a file the engine does not parse is not the formatter's to judge
        }
        parsed++;
        const out = formatSource(src);
        if (!sameTree(src, out)) bad.push(`${f}: tree differs`);
        else if (formatSource(out) !== out) bad.push(`${f}: not idempotent`);
        else if (commentCount(out) !== commentCount(src)) bad.push(`${f}: comments lost`);
      }
      console.log(
        `formatter: ${parsed - bad.length} of ${parsed} corpus rule files round-trip (of ${files.length} files)`,
      );
      expect(bad).toEqual([]);
    },
  );
});
