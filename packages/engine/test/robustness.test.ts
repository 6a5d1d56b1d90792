/**
 * Fuzzing-style robustness: random and mutated rule sources must never crash or hang the
 * compiler (a CompileError with diagnostics, or success), and compiled rules must scan random
 * data without throwing. Seeded, so failures reproduce.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { corpus, needs } from "@vigil/test-kit";
import { compile, CompileError } from "../src/index.js";

class Rng {
  constructor(private s: number) {}
  next(): number {
    this.s = (Math.imul(this.s, 1103515245) + 12345) >>> 0;
    return this.s >>> 8;
  }
  int(n: number): number {
    return this.next() % n;
  }
}

const SEED_RULES = [
  'rule a : t { meta: x = "y" strings: $a = "abc" nocase wide $b = { 4D 5A [2-4] ( 90 | 91 ) } $c = /fo+[a-z]{2,3}$/is condition: ($a or #b > 2) and @c[1] < 100 and for any i in (1..#a) : (!a[i] == 3) }',
  'import "pe"\nrule b { condition: pe.number_of_sections > 2 and pe.imports("kernel32.dll") and uint16(0) == 0x5A4D }',
  'rule c { strings: $x = "payload" xor(1-20) $y = "secret" base64 condition: any of them and filesize < 10MB }',
  "private global rule d { condition: true } rule e { condition: d and not false or 1 + 2 * 3 \\ 4 % 5 == 1 }",
];

function corpusSamples(): string[] {
  // real rules as extra seeds when the corpus is there (the seed rules above run regardless)
  if (needs("robustness: bartblaze rules as mutation seeds", { corpora: ["yara/bartblaze"] })) return [];
  const dir = join(corpus("yara/bartblaze"), "rules/crimeware");
  return readdirSync(dir)
    .sort()
    .slice(0, 12)
    .map((f) => readFileSync(join(dir, f), "latin1"));
}

const ALPHABET = ' \n{}()[]$#@!"/\\:=*?|~-+.,<>0123456789abcdefxyzADFMZ_ruleconditionstringsmetaofthemallanyfor';

function mutate(src: string, r: Rng): string {
  let s = src;
  const edits = 1 + r.int(6);
  for (let k = 0; k < edits; k++) {
    const at = r.int(s.length + 1);
    switch (r.int(5)) {
      case 0:
        s = s.slice(0, at) + s.slice(at + 1 + r.int(8));
        break;
      case 1:
        s = s.slice(0, at) + ALPHABET[r.int(ALPHABET.length)] + s.slice(at);
        break;
      case 2:
        s = s.slice(0, at);
        break;
      case 3:
        s = s.slice(0, at) + String.fromCharCode(r.int(256)) + s.slice(at + 1);
        break;
      default: {
        const from = r.int(s.length);
        s = s.slice(0, at) + s.slice(from, from + 1 + r.int(20)) + s.slice(at);
      }
    }
  }
  return s;
}

function tryCompile(src: string): "ok" | "error" {
  try {
    const rules = compile(src);
    const r = new Rng(src.length);
    const data = Uint8Array.from({ length: 2000 }, () => r.int(256));
    const res = rules.scan(data, { timeoutMs: 5_000 });
    expect(Array.isArray(res.matches)).toBe(true);
    return "ok";
  } catch (e) {
    if (e instanceof CompileError) {
      expect(e.diagnostics.length).toBeGreaterThan(0);
      for (const d of e.diagnostics) {
        expect(d.code).toMatch(/^E_/);
        expect(d.line).toBeGreaterThanOrEqual(0);
        expect(d.message.length).toBeGreaterThan(5);
      }
      return "error";
    }
    throw new Error(`compiler crashed on ${JSON.stringify(src.slice(0, 300))}: ${(e as Error).stack}`);
  }
}

describe("robustness", () => {
  test("2000 mutated rule sources: diagnostics or success, never a crash", () => {
    const r = new Rng(42);
    const seeds = [...SEED_RULES, ...corpusSamples()];
    const tally = { ok: 0, error: 0 };
    const started = Date.now();
    for (let i = 0; i < 2000; i++) tally[tryCompile(mutate(seeds[i % seeds.length]!, r))]++;
    console.log(
      `mutated sources: ${tally.ok} compiled, ${tally.error} rejected with diagnostics, ${Date.now() - started} ms`,
    );
    expect(tally.error).toBeGreaterThan(100);
    expect(tally.ok).toBeGreaterThan(10);
  });

  test("500 random token soups never crash", () => {
    const r = new Rng(7);
    const words = [
      "rule",
      "r",
      "{",
      "}",
      "condition",
      ":",
      "strings",
      "$a",
      "=",
      '"x"',
      "{ 4D }",
      "/a+/",
      "and",
      "or",
      "not",
      "(",
      ")",
      "of",
      "them",
      "for",
      "any",
      "i",
      "in",
      "..",
      "1",
      "#a",
      "@a[1]",
      "filesize",
      "pe",
      ".",
      "import",
      '"pe"',
      "at",
      "0x10",
      "-",
      "\\",
      "%",
      "matches",
      "contains",
    ];
    let errors = 0;
    for (let i = 0; i < 500; i++) {
      const n = 3 + r.int(25);
      const src = Array.from({ length: n }, () => words[r.int(words.length)]).join(" ");
      if (tryCompile(src) === "error") errors++;
    }
    expect(errors).toBeGreaterThan(400);
  });

  test("pathological inputs are bounded: deep nesting, long strings, huge repeats", () => {
    const deep = `rule a { condition: ${"(".repeat(2000)}true${")".repeat(2000)} }`;
    const started = Date.now();
    expect(["ok", "error"]).toContain(tryCompile(deep));
    expect(["ok", "error"]).toContain(
      tryCompile(`rule a { strings: $a = /${"(a|".repeat(300)}b${")".repeat(300)}/ condition: $a }`),
    );
    expect(tryCompile(`rule a { strings: $a = /a{99999}/ condition: $a }`)).toBe("error");
    expect(tryCompile(`rule a { strings: $a = "${"x".repeat(100000)}" condition: $a }`)).toBe("ok");
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});
