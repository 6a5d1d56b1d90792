/**
 * Atom quality as yara rates it (quality.ts): the "may slow down scanning" warning on the
 * strings where yara's rule is subtle (letters score below other bytes, nibble masks, trims of
 * unknown bytes, alternations, repeated groups, chained hex pieces, xor and wide forms), checked
 * against Debian's yara 4.2.3 when it is installed, and the atoms the engine chooses by it.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { compile } from "../src/index.js";
import { ATOM_QUALITY_WARNING, literalQuality, patternQuality } from "../src/quality.js";
import { chooseAtoms, hexToRe, parseRegex } from "../src/regex.js";
import { parseHexString } from "../src/parser.js";

/** string definitions and whether yara 4.2.3 warns about them (checked with yara on this machine). */
const CASES: Array<[string, boolean]> = [
  ["{ 68 ?? 00 ?? 00 68 ?? 00 ?? 00 }", true], // 'h' is a letter: 00 ?? 00 68 scores 36
  ["{ 01 ?? ?2 03 }", false], // 38: just at the threshold
  ["{ 1? 2? 3? 04 }", true],
  ["{ 1? ?? 03 }", true],
  ["{ 00 01 }", true],
  ["{ 00 00 01 }", false],
  ["{ 00 00 00 00 }", true],
  ["{ FF FF FF FF }", true],
  ["{ 01 02 }", false],
  ["{ (61 62 63 64 ?? | 65 ?? ?? 00 00 66) }", false],
  ["{ 61 62 63 64 [300] 00 }", true], // chained at the long jump: the piece "00" has a poor atom
  ["{ 61 62 63 64 [0-20] 00 }", false],
  ['"MZ"', false],
  ['"a"', true],
  ['"foo" wide', false],
  ['"                    " xor(0x20)', true],
  ['"AAAAAAAAAAAAAAAAAAAA" xor', true],
  ['"abcdef" xor(1-3)', false],
  ["/abc|/", true], // an empty alternative has no atom
  ["/(90){2,20}/", false], // atoms from the first repetitions of a group
  ["/(%u[A-Fa-f0-9]{4}){5}/", false],
  ['/\\W\\w+\\s+\\s\\".+\\"/', true], // besides the .* warning
  ["/\\.php\\?.*?\\:[a-zA-Z0-9\\:]{6,}?\\&.*?\\&/", false], // .*? is no chaining point
];

function engineWarns(def: string): boolean {
  const r = compile(`rule t { strings: $a = ${def} condition: $a }`);
  return r.warnings.some((w) => /may slow down scanning/.test(w.message));
}

const yaraAvailable = spawnSync("yara", ["--version"]).status === 0;

describe("the slow-pattern warning follows yara's atom quality", () => {
  test("on the subtle cases", () => {
    for (const [def, warns] of CASES) expect(engineWarns(def), def).toBe(warns);
  });

  test.runIf(yaraAvailable)("yara 4.2.3 agrees on every case", () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-quality-"));
    const file = join(dir, "rules.yar");
    writeFileSync(file, CASES.map(([def], i) => `rule r${i} { strings: $a = ${def} condition: $a }`).join("\n"));
    const r = spawnSync("yara", [file, "/dev/null"], { encoding: "latin1" });
    const warned = new Set([...r.stderr.matchAll(/rule "r(\d+)".*may slow down scanning/g)].map((m) => Number(m[1])));
    for (const [i, [def, warns]] of CASES.entries()) expect(warned.has(i), def).toBe(warns);
  });

  test("yara's numbers: 61 61 is at the threshold, 00 01 below it, wide forms rated too", () => {
    expect(literalQuality("aa", { ascii: true, wide: false, nocase: false, xor: null })).toBe(ATOM_QUALITY_WARNING);
    expect(literalQuality("\x00\x01", { ascii: true, wide: false, nocase: false, xor: null })).toBe(
      ATOM_QUALITY_WARNING - 2,
    );
    // "ab" wide: yara rates the plain text's atom (40) and the wide one it searches, a 00 b 00
    // (18 + 12 + 18 + 12 + 6 = 66), and keeps the worse
    expect(literalQuality("ab", { ascii: false, wide: true, nocase: false, xor: null })).toBe(255 - 88 + 40);
    // a xor key that turns a byte into 00 makes the atom worse
    expect(
      literalQuality("\x01bcd", { ascii: true, wide: false, nocase: false, xor: { min: 1, max: 1 } }),
    ).toBeLessThan(literalQuality("\x01bcd", { ascii: true, wide: false, nocase: false, xor: null }));
    const hex = (src: string) =>
      hexToRe(
        parseHexString(src, (m) => {
          throw new Error(m);
        }),
      );
    expect(patternQuality(hex("01 02 03 04"), true)).toBe(255);
    // 01 ?? ?2 03: 20 - 10 + 4 + 20 + 2 * 2 = 38, the threshold
    expect(patternQuality(hex("01 ?? ?2 03"), true)).toBe(ATOM_QUALITY_WARNING);
  });
});

describe("the engine's atom choice by the same rule", () => {
  test("four distinct bytes beat letters and common bytes", () => {
    const atoms = chooseAtoms(parseRegex("aaaa\\x00\\x00\\x01\\x02\\x03\\x04", false))!;
    expect(atoms[0]!.variants).toEqual([[1, 2, 3, 4]]);
    expect(atoms[0]!.prefixMin).toBe(6);
  });
});
