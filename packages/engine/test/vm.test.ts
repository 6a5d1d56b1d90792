/**
 * The byte-level matcher (vm.ts): the same match as a backtracking engine at every start
 * (checked against V8's RegExp on generated patterns and data), linear time on the patterns
 * that made the RegExp path stall, and YARA's results on them (differential against yara).
 */
import { spawnSync } from "node:child_process";
import { describe, expect, test } from "vitest";
import { compile } from "../src/index.js";
import { caseFold, parseRegex, type ReNode, RegexSyntaxError, toJsSource } from "../src/regex.js";
import { Matcher, ProgramTooLarge, backtrackBound, compileProgram } from "../src/vm.js";
import { normalise, runVigil, runYara, writeFiles } from "./differential/oracle.js";

/** a small deterministic PRNG (xorshift32). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

const ALPHA = ["a", "b", "x", "\\n", "\\x00", "A"];
function genPattern(r: () => number, depth = 0): string {
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
  const atom = (): string => {
    const k = r();
    if (depth < 3 && k < 0.15) return `(${genPattern(r, depth + 1)})`;
    if (k < 0.25) return ".";
    if (k < 0.35) return pick(["[ab]", "[^a]", "[a-x]", "\\w", "\\W", "\\s", "[\\x00-\\x10]"]);
    if (k < 0.4 && depth > 0) return pick(["\\b", "\\B", "^", "$"]);
    return pick(ALPHA);
  };
  const piece = (): string => {
    const a = atom();
    if (/^(\\b|\\B|\^|\$)$/.test(a)) return a;
    const q = r();
    const lazy = r() < 0.3 ? "?" : "";
    // V8 backtracks exponentially on a repetition inside an unbounded repeated group: bounded here
    if (a.startsWith("(") && /[*+?{]/.test(a)) return a + (q < 0.5 ? "?" : `{${q < 0.75 ? 0 : 1},2}`) + lazy;
    if (q < 0.15) return a + "*" + lazy;
    if (q < 0.3) return a + "+" + lazy;
    if (q < 0.4) return a + "?" + lazy;
    if (q < 0.5) return a + `{${Math.floor(r() * 3)},${2 + Math.floor(r() * 3)}}` + lazy;
    if (q < 0.55) return a + `{${1 + Math.floor(r() * 2)}}`;
    return a;
  };
  const seq = () => {
    let s = "";
    const n = 1 + Math.floor(r() * 4);
    for (let i = 0; i < n; i++) s += piece();
    return s;
  };
  let out = seq();
  if (r() < 0.2) out += "|" + seq();
  return out;
}

function genData(r: () => number, len: number): Uint8Array {
  const bytes = [0x61, 0x62, 0x78, 0x0a, 0x00, 0x41, 0x20];
  return Uint8Array.from({ length: len }, () => bytes[Math.floor(r() * bytes.length)]!);
}

describe("the byte-level matcher", () => {
  test("gives V8's backtracking match (offset and length) at every start of generated data", () => {
    const r = rng(20261207);
    let compared = 0,
      matched = 0;
    for (let i = 0; i < 400; i++) {
      const src = genPattern(r);
      let node: ReNode;
      try {
        node = parseRegex(src, false);
      } catch (e) {
        // a generated group holding only an anchor, then quantified: YARA refuses it too
        expect(e).toBeInstanceOf(RegexSyntaxError);
        continue;
      }
      if (r() < 0.2) node = caseFold(node);
      const js = new RegExp(toJsSource(node), "y");
      const m = Matcher.of(node);
      const data = genData(r, 64);
      const text = Buffer.from(data).toString("latin1");
      for (let s = 0; s < data.length; s++) {
        js.lastIndex = s;
        const want = js.exec(text)?.[0].length ?? -1;
        const got = m.matchAt(data, s, data.length);
        expect(got, `/${src}/ at ${s} of ${JSON.stringify(text)}`).toBe(want);
        compared++;
        if (want > 0) matched++;
      }
    }
    expect(compared).toBeGreaterThan(300 * 64);
    expect(matched).toBeGreaterThan(2000); // the generator makes patterns that do match
  });

  test("a match never reads past the end it is given (YARA's 4,096-byte window)", () => {
    const m = Matcher.of(parseRegex("a.+b", false));
    const data = Buffer.from("a" + "x".repeat(5000) + "b", "latin1");
    expect(m.matchAt(data, 0, data.length)).toBe(5002);
    expect(m.matchAt(data, 0, 4096)).toBe(-1);
    expect(m.matchAt(data, 4000, data.length)).toBe(-1);
  });

  test("counted repetitions beyond the program budget are refused, not expanded without end", () => {
    expect(() => compileProgram(parseRegex("(a|b|c){30000}(d|e){30000}", false))).toThrow(ProgramTooLarge);
    expect(backtrackBound(parseRegex(".+abc", false))).toBe(Infinity);
    expect(backtrackBound(parseRegex("ab.{0,10}c", false))).toBe(11);
  });

  test("/(.*a){20}x/ on EICAR and 1 MiB of x: finishes at once (issue 17, finding 4)", () => {
    const eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
    const rules = compile(
      `rule eicar { strings: $a = "EICAR-STANDARD" condition: $a }\nrule slow { strings: $a = /(.*a){20}x/ condition: $a }`,
    );
    const data = Buffer.concat([Buffer.from(eicar, "latin1"), Buffer.alloc(1 << 20, "x")]);
    const t = Date.now();
    const res = rules.scan(data, { timeoutMs: 20_000 });
    expect(Date.now() - t).toBeLessThan(3000);
    expect(res.matches.map((m) => m.rule)).toEqual(["eicar"]);
    // with twenty a's in the data it matches, within the window
    const hit = Buffer.concat([data, Buffer.from("a".repeat(20) + "x", "latin1")]);
    const res2 = rules.scan(hit, { timeoutMs: 20_000 });
    expect(res2.matches.map((m) => m.rule)).toEqual(["eicar", "slow"]);
  });
});

const DDE = String.raw`
rule dde { strings: $a = /.+[^A-Za-z0-9-]DDEAUTO[^a-z0-9-].+/ nocase condition: $a }
rule dde_wide { strings: $a = /.+[^A-Za-z0-9-]DDEAUTO[^a-z0-9-].+/ nocase wide ascii condition: $a }
`;

/** 2 MiB without a newline, where the atom (its first letters) occurs every few KB, plus two real fields. */
function ddeData(): Buffer {
  const r = rng(7);
  const parts: Buffer[] = [];
  for (let i = 0; i < 600; i++) {
    parts.push(Buffer.from(Array.from({ length: 3000 }, () => 0x20 + Math.floor(r() * 90))));
    parts.push(Buffer.from(i % 2 ? " ddeaXX " : " DDEAUTX ", "latin1"));
  }
  parts.push(Buffer.from(' { DDEAUTO "c:\\\\windows\\\\system32\\\\cmd.exe" }\nnext', "latin1"));
  parts.push(Buffer.from(" x D\0D\0E\0A\0U\0T\0O\0 \0z\0z\0", "latin1"));
  return Buffer.concat(parts);
}

describe("the DDEAUTO rule of issue 16 (.+ on both sides of a literal, nocase, wide)", () => {
  test("scans 2 MiB of long lines full of atom hits in well under a second per MiB", () => {
    const rules = compile(DDE);
    const data = ddeData();
    const t = Date.now();
    const res = rules.scan(data, { timeoutMs: 30_000 });
    const ms = Date.now() - t;
    expect(res.matches.map((m) => m.rule)).toEqual(["dde", "dde_wide"]);
    expect(ms).toBeLessThan(5000);
  });

  const yara = spawnSync("yara", ["--version"]);
  test.skipIf(yara.status !== 0)("the same matches as yara (offsets and lengths)", () => {
    if (yara.status !== 0) console.log("yara is not installed: skipping the differential");
    const small = Buffer.concat([
      // (a line shorter than the window: with a longer one, yara, which counts its 4,096 bytes
      // from the atom, also reports the first few starts that Vigil's window per start leaves out)
      Buffer.from("head\n".repeat(3) + "y".repeat(3000), "latin1"),
      Buffer.from(' { DDEAUTO "c:\\\\cmd.exe" } tail\nnext line', "latin1"),
      Buffer.from(" x D\0D\0E\0A\0U\0T\0O\0 \0z\0z\0\n", "latin1"),
    ]);
    const dir = writeFiles({ "dde.bin": small });
    const y = runYara(DDE, dir);
    expect(y.status).toBe(0);
    const v = normalise(runVigil(DDE, dir));
    expect(Object.keys(v["dde.bin"]!)).toEqual(["dde", "dde_wide"]);
    expect(v).toEqual(normalise(y.outcome));
  });
});

describe("the scan profile (ScanOptions.profile)", () => {
  test("counts verifications and regex starts per string and ranks the slowest with their rules", () => {
    const rules = compile(String.raw`
rule cheap { strings: $lit = "zzzz-not-here" condition: $lit }
rule costly { strings: $re = /.+[^A-Za-z0-9-]DDEAUTO[^a-z0-9-].+/ nocase condition: $re }`);
    const profile = rules.newProfile();
    rules.scan(ddeData(), { profile });
    rules.scan(ddeData(), { profile });
    const rows = rules.profileReport(profile, 5);
    expect(rows[0]).toMatchObject({ rule: "costly", namespace: "default", string: "$re" });
    // the atom is DEAU (yara's quality: four distinct letters): 300 hits in the DDEAUTX
    // lookalikes (not in the ddeaXX ones) and the real field, twice
    expect(rows[0]!.verifications).toBeGreaterThanOrEqual(2 * 301);
    // the filter rules out the starts before every false hit: only the real one's are tried
    expect(rows[0]!.starts).toBeGreaterThan(0);
    expect(rows[0]!.starts).toBeLessThanOrEqual(2 * 2 * 4096);
    expect(rows.find((r) => r.rule === "cheap")).toBeUndefined(); // its atom never occurred
  });
});

describe("scans one after the other", () => {
  test("what one scan learnt about its bytes never carries over to the next buffer", () => {
    // an unbounded jump, so the byte-level matcher verifies it; each buffer a different tail
    const rules = compile("rule x { strings: $s = { 42 42 43 41 43 41 44 42 [2-] 42 ~41 43 43 } condition: $s }");
    const re = /BBCACADB[\s\S]{2,}?B[^A]CC/y;
    const r = rng(3);
    for (let i = 0; i < 60; i++) {
      const tail = Array.from({ length: 16 }, () => "ABCD"[Math.floor(r() * 4)]).join("");
      // the atom one byte further each time: this scan's first start is the one after the last
      // start of the previous scan, where a memo of the other buffer would seem to continue
      const text = `${"a".repeat(9 + i)}BBCACADB${tail}aaaa`;
      re.lastIndex = 9 + i;
      const want = re.exec(text)?.[0].length;
      const got = rules.scan(Buffer.from(text, "latin1")).matches[0]?.strings[0]!.matches[0]!.length;
      expect(got, text).toBe(want);
    }
  });
});
