/**
 * Strings whose conditions only ask "did it match?" (CompiledString.existsOnly): a scan that
 * lists no string matches (ScanOptions.strings false, as `vigil yara` without -s) stops looking
 * for such a string at its first match. The results must be those of a full search.
 */
import { describe, expect, test } from "vitest";
import { compile } from "../src/index.js";

const enc = (s: string) => Buffer.from(s, "latin1");

describe("existence-only strings", () => {
  test("the compiler marks a string existsOnly only when no condition uses its count, offsets, lengths, at or in", () => {
    const rules = compile(`
      rule plain { strings: $a = "aa" $b = "bb" condition: $a and not $b }
      rule quant { strings: $k1 = "k1" $k2 = /k2+/ condition: 2 of ($k*) }
      rule forall { strings: $j1 = "j1" $j2 = "j2" condition: for all of ($j*) : ($) }
      rule count { strings: $c = "cc" condition: #c > 2 }
      rule offset { strings: $o = "oo" condition: @o[1] == 4 }
      rule length { strings: $l = /l+/ condition: !l[1] == 3 }
      rule at0 { strings: $t = "tt" condition: $t at 0 }
      rule inr { strings: $i = "ii" condition: $i in (0..10) }
      rule ofat { strings: $g1 = "g1" $g2 = "g2" condition: any of ($g*) at 0 }
      rule forcount { strings: $h1 = "h1" $h2 = "h2" condition: for any of ($h*) : (# > 1) }
      rule forat { strings: $e1 = "e1" $e2 = "e2" condition: for any of ($e*) : ($ at 5) }
      rule mixed { strings: $m = "mm" condition: $m and #m == 2 }
      rule unused { strings: $_u = "uu" condition: true }
    `);
    const flags = Object.fromEntries(rules.data.strings.map((s) => [s.id, s.existsOnly === true]));
    expect(flags).toEqual({
      $a: true,
      $b: true,
      $k1: true,
      $k2: true,
      $j1: true,
      $j2: true,
      $c: false,
      $o: false,
      $l: false,
      $t: false,
      $i: false,
      $g1: false,
      $g2: false,
      $h1: false,
      $h2: false,
      $e1: false,
      $e2: false,
      $m: false,
      $_u: true,
    });
  });

  test("the same rules match with and without string lists, on data where strings match many times", () => {
    const rules = compile(`
      rule word { strings: $w = /[a-z]+/ condition: $w }
      rule words3 { strings: $w = /[a-z]+/ condition: #w >= 3 }
      rule hexes { strings: $h = { 61 ?? 61 } condition: $h and #h == 4 }
      rule lit { strings: $l = "ab" nocase condition: $l }
      rule lastab { strings: $l = "ab" nocase condition: @l[#l] > 20 }
      rule anyof { strings: $x1 = "zz" $x2 = /q+/ $x3 = "ab" condition: 2 of them }
      rule forof { strings: $y1 = "ab" $y2 = "AB" condition: for all of ($y*) : (@ > 3) }
      rule b64 { strings: $b = /([A-Za-z0-9+\\/]{4}){3,}/ condition: $b }
    `);
    const samples = ["", "ab", "xx ab AB aXa aYa ab qqq aZa a0a ab 0123456789abcdefXYZ", "AB ab ab ab ab", "1234 5678"];
    for (const s of samples) {
      const data = enc(s);
      const full = rules.scan(data, { strings: true }).matches.map((m) => m.rule);
      const short = rules.scan(data, { strings: false }).matches.map((m) => m.rule);
      expect(short, JSON.stringify(s)).toEqual(full);
    }
    // the rules whose strings are existsOnly do match here, after their strings' first match
    expect(rules.scan(enc(samples[2]!), { strings: false }).matches.map((m) => m.rule)).toEqual(
      expect.arrayContaining(["word", "words3", "lit", "lastab", "anyof", "b64"]),
    );
  });

  test("a regex without atoms that matches everywhere is searched until its first match only", () => {
    const rules = compile("rule domain { strings: $d = /([\\w\\.-]+)/ wide ascii condition: $d }");
    const data = enc("abc.def-ghi ".repeat(20_000));
    expect(rules.scan(data, { strings: true }).matches).toHaveLength(1);
    const full = rules.stats.starts;
    expect(rules.scan(data, { strings: false }).matches.map((m) => m.rule)).toEqual(["domain"]);
    const short = rules.stats.starts;
    expect(full).toBeGreaterThan(100_000);
    expect(short).toBeLessThanOrEqual(8192); // the first block of 4,096 starts of each form at most
  });

  test("a string counted by a condition is still searched to the end", () => {
    const rules = compile('rule many { strings: $a = "ab" condition: #a == 5000 }');
    const data = enc("ab ".repeat(5000));
    expect(rules.scan(data, { strings: false }).matches.map((m) => m.rule)).toEqual(["many"]);
  });
});
