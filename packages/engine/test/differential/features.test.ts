/**
 * Differential tests: hand-written rules, one or more per language feature, scanned by
 * Debian's yara 4.2.3 and by Vigil over the same generated files; matched rules, string
 * offsets and lengths must be identical.
 */
import { describe, expect, test } from "vitest";
import { EICAR, needs } from "@vigil/test-kit";
import { normalise, runVigil, runYara, writeFiles } from "./oracle.js";

const enc = (s: string) => Buffer.from(s, "latin1");
const wide = (s: string) =>
  s
    .split("")
    .map((c) => c + "\0")
    .join("");

function pseudoRandom(seed: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

export const FILES: Record<string, Uint8Array | string> = {
  "text.txt":
    "Hello World! hello world. HELLO WORLD\nThe quick brown fox jumps over the lazy dog.\r\nfoo=bar; Foobar foo_bar foo1 (foo) foo\n",
  "wide.bin": "\x00\x01" + wide("Hello World") + "\x00" + wide("secret") + "xx" + wide("foo") + "!",
  "mz.bin":
    "MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" +
    "A".repeat(40) +
    "This program cannot be run in DOS mode.\r\r\n$" +
    "\x00".repeat(20) +
    "PE\x00\x00L\x01",
  "xor.bin":
    Buffer.from("This program cannot be run")
      .map((b) => b ^ 0x21)
      .toString("latin1") +
    "|" +
    Buffer.from("This program cannot be run")
      .map((b) => b ^ 0x7f)
      .toString("latin1") +
    "|This program cannot be run",
  "b64.txt":
    "prefix " +
    Buffer.from("This program cannot").toString("base64") +
    " mid " +
    Buffer.from("xThis program cannot").toString("base64") +
    " " +
    Buffer.from("xyThis program cannot").toString("base64") +
    " " +
    wide(Buffer.from("This program cannot").toString("base64")),
  "b64wide.txt":
    "A " +
    Buffer.from(wide("This program cannot"), "latin1").toString("base64") +
    " B " +
    wide(Buffer.from("This program cannot").toString("base64")) +
    " C " +
    Buffer.from("x" + wide("This program cannot"), "latin1").toString("base64"),
  "repeat.bin": "aaaaaaaaaa" + "abababab" + "\x00\x00\x00\x00\x00" + "ab\x00\x00cd" + "abcabcabc",
  "random.bin": pseudoRandom(7, 4096),
  "empty.bin": "",
  "eicar.com": EICAR,
  // larger than 64 KiB: regexes are verified over windows of the data rather than all of it
  "big.bin": Buffer.concat([
    pseudoRandom(9, 70000),
    Buffer.from("Hello World quick brown foo=bar; foo1 dog\r\nFoo lazy dog. ababab MZ\x90\x00", "latin1"),
    pseudoRandom(10, 50000),
    Buffer.from("hello world, The quick brown fox jumps over the lazy dog.\n", "latin1"),
  ]),
  "numbers.bin": "\x01\x02\x03\x04\x05\x06\x07\x08\xff\xfe\xfd\xfc\x80\x00\x00\x80" + "0123456789",
};

export const RULES = String.raw`
rule text_plain { strings: $a = "hello" condition: $a }
rule text_nocase { strings: $a = "hello world" nocase condition: $a }
rule text_count { strings: $a = "foo" condition: #a >= 3 }
rule text_count_exact { strings: $a = "foo" condition: #a == 6 }
rule text_fullword { strings: $a = "foo" fullword condition: $a }
rule text_wide { strings: $a = "Hello World" wide condition: $a }
rule text_wide_ascii { strings: $a = "foo" wide ascii condition: $a }
rule text_wide_nocase { strings: $a = "SECRET" wide nocase condition: $a }
rule text_wide_fullword { strings: $a = "foo" wide fullword condition: $a }
rule text_escapes { strings: $a = "\r\n$" $b = "\x90\x00" $c = "\"" condition: $a or $b or $c }
rule text_private { strings: $a = "World" private $b = "world" condition: $a and $b }
rule text_xor { strings: $a = "This program cannot be run" xor condition: $a }
rule text_xor_range { strings: $a = "This program cannot be run" xor(0x20-0x30) condition: $a }
rule text_xor_single { strings: $a = "This program cannot be run" xor(0x7f) condition: $a }
rule text_xor_wide { strings: $a = "Hello" xor wide condition: $a }
rule text_base64 { strings: $a = "This program cannot" base64 condition: $a }
rule text_base64wide { strings: $a = "This program cannot" base64wide condition: $a }
rule text_base64_both { strings: $a = "This program cannot" base64 base64wide condition: $a }
rule text_base64_alpha { strings: $a = "This program cannot" base64("ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkjihgfedcba9876543210+/") condition: $a }
rule text_base64_of_wide { strings: $a = "This program cannot" base64 wide condition: $a }
rule text_base64wide_ascii { strings: $a = "This program cannot" base64wide ascii condition: $a }
rule text_base64_wide_ascii { strings: $a = "This program cannot" base64 wide ascii condition: $a }
rule text_overlap { strings: $a = "aa" $b = "abab" $c = "abc" condition: $a and $b and $c }
rule text_eicar { strings: $a = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE" condition: $a at 11 }
rule hex_plain { strings: $a = { 4D 5A 90 00 } condition: $a at 0 }
rule hex_wild { strings: $a = { 4D 5A ?? 00 0? ?0 } condition: $a }
rule hex_nibble { strings: $a = { 5? 4? } condition: $a }
rule hex_jump { strings: $a = { 4D 5A [2] 03 00 } condition: $a }
rule hex_jump_range { strings: $a = { 54 68 [1-6] 72 6F } condition: $a }
rule hex_jump_open { strings: $a = { 4D 5A [10-] 50 45 } condition: $a }
rule hex_jump_any { strings: $a = { 48 65 [-] 57 } condition: $a }
rule hex_alt { strings: $a = { 66 6F ( 6F | 78 ) ( 3D | 5F ) } condition: $a }
rule hex_alt_nested { strings: $a = { 61 ( 61 | 62 ( 61 | 63 ) ) } condition: $a }
rule hex_alt_wild { strings: $a = { 61 ( 62 ?? | 61 [1-2] 61 ) 62 } condition: $a }
rule hex_short { strings: $a = { FF FE } condition: $a }
rule hex_zeros { strings: $a = { 00 00 00 00 } condition: #a > 0 }
rule re_plain { strings: $a = /quick brown/ condition: $a }
rule re_class { strings: $a = /[Hh]ello [Ww]orld/ condition: $a }
rule re_nocase_flag { strings: $a = /hello world/i condition: #a == 3 }
rule re_nocase_mod { strings: $a = /hello world/ nocase condition: $a }
rule re_dot { strings: $a = /lazy.dog/ $b = /dog..\n/ condition: $a and not $b }
rule re_dotall { strings: $a = /dog.\r.F/s condition: $a }
rule re_quant { strings: $a = /fo+/ $b = /fo{2}/ $c = /fo{1,}b/ $d = /o{,2}b/ condition: any of them }
rule re_lazy { strings: $a = /f.*?o/ condition: $a }
rule re_greedy { strings: $a = /f[a-z]*o/ condition: $a }
rule re_alt { strings: $a = /(quick|lazy) (brown|dog)/ condition: $a }
rule re_anchor { strings: $a = /^Hello/ $b = /foo\n$/ condition: $a and $b }
rule re_word { strings: $a = /\bfoo\b/ $b = /\Bar\b/ condition: $a and $b }
rule re_escapes { strings: $a = /\x4D\x5A/ $b = /\d\d\d/ $c = /\w+=\w+;/ $d = /\s\S/ condition: any of them }
rule re_wide { strings: $a = /Hello W[a-z]+/ wide condition: $a }
rule re_wide_ascii { strings: $a = /[Hh]ello/ wide ascii condition: $a }
rule re_fullword { strings: $a = /foo[0-9]?/ fullword condition: $a }
rule re_classes { strings: $a = /[^a-z ]{3}/ $b = /[\d\-]{2}/ $c = /[a-c]+/ condition: #a > 2 or $b or $c }
rule re_hexclass { strings: $a = /[\x00-\x03]{3}/ $b = /\xff[\xfd-\xfe]/ condition: $a and $b }
rule re_optional_group { strings: $a = /eval\(([\s]+)?x/ $b = /(ab){2,}/ condition: $a or $b }
rule cond_filesize { condition: filesize > 100 and filesize < 10KB }
rule cond_arith { condition: (filesize + 1) * 2 - 2 == filesize * 2 and filesize \ 2 <= filesize and filesize % 7 < 7 }
rule cond_bitwise { condition: (0xF0 & 0x3C) == 0x30 and (1 << 4) == 16 and (256 >> 4) == 16 and (0x0F | 0xF0) == 0xFF and (5 ^ 3) == 6 and ~0 == -1 }
rule cond_int_read { condition: uint16(0) == 0x5A4D and uint8(2) == 0x90 and uint32(0) == 0x00905A4D and uint16be(0) == 0x4D5A and int8(2) == -112 }
rule cond_int_read_oob { condition: uint32(filesize) == 0 or not defined uint32(filesize) }
rule cond_at { strings: $a = "World" condition: $a at 6 }
rule cond_in { strings: $a = "foo" condition: $a in (100..200) }
rule cond_count_in { strings: $a = "foo" condition: #a in (0..60) == 1 }
rule cond_offset { strings: $a = "foo" condition: @a[1] > 80 and @a[2] > @a[1] and @a == @a[1] }
rule cond_length { strings: $a = /fo+/ condition: !a[1] == 2 and !a == !a[1] }
rule cond_of_any { strings: $a = "nothere" $b = "quick" $c = "zzz" condition: any of them }
rule cond_of_all { strings: $a = "quick" $b = "brown" condition: all of them }
rule cond_of_none { strings: $a = "nothere" $b = "zzz" condition: none of them }
rule cond_of_n { strings: $a1 = "quick" $a2 = "brown" $a3 = "zzz" condition: 2 of ($a*) }
rule cond_of_pct { strings: $a = "quick" $b = "brown" $c = "zzz" $d = "yyy" condition: 50% of them }
rule cond_of_pct_hi { strings: $a = "quick" $b = "brown" $c = "zzz" condition: 67% of them }
rule cond_for_of { strings: $a = "foo" $b = "bar" condition: for all of them : ( # > 1 ) }
rule cond_for_of_any { strings: $a = "foo" $b = "bar" condition: for any of ($a, $b) : ( $ at 75 or @ > 90 ) }
rule cond_for_in_range { strings: $a = "foo" condition: for all i in (1..#a) : ( @a[i] > 60 ) }
rule cond_for_in_any { strings: $a = "o" condition: for any i in (1..#a) : ( uint8(@a[i] + 1) == 0x78 ) }
rule cond_for_list { condition: for any i in (1, 2, 3) : ( i * 2 == 4 ) }
rule cond_for_none { condition: for none i in (0..3) : ( i == 10 ) }
rule cond_for_n { condition: for 2 i in (0..5) : ( i > 3 ) }
// an empty range known only at scan time (a constant one, (5..1), is a compile error since YARA 4.5)
rule cond_for_empty_all { condition: for all i in (filesize + 5..filesize + 1) : ( false ) }
rule cond_for_empty_any { condition: for any i in (filesize + 5..filesize + 1) : ( true ) }
rule cond_strings_ops { condition: "abc" contains "b" and "ABC" icontains "b" and "abc" startswith "ab" and "ABC" istartswith "a" and "abc" endswith "bc" and "ABC" iendswith "c" and "AbC" iequals "aBc" }
rule cond_matches { condition: "hello world" matches /wor?ld$/ and not ("x" matches /y/) }
rule cond_undefined_not { condition: not (uint8(filesize + 10) == 1) }
rule cond_undefined_or { condition: uint8(filesize + 10) == 1 or filesize >= 0 }
rule cond_not_or_undefined { condition: not (uint8(filesize + 10) == 1 or uint8(filesize + 11) == 1) }
rule cond_not_and_undefined { condition: not (uint8(filesize + 10) == 1 and uint8(filesize + 11) == 1) and not (not not (uint8(filesize + 10) == 1)) }
rule cond_defined { condition: defined filesize and not defined uint8(filesize) }
rule cond_div_zero { condition: not defined (filesize \ (filesize - filesize)) }
rule cond_runtime_overflow { condition: 0x7FFFFFFFFFFFFFFF + filesize + 1 < 0 and (-0x7FFFFFFFFFFFFFFF - filesize) - 2 > 0 and filesize * 0x4000000000000000 * 4 == 0 }
rule cond_float { condition: 1.5 * 2 == 3 and 7 \ 2 == 3 and 7.0 \ 2 == 3.5 and -7 \ 2 == -3 and -7 % 3 == -1 }
rule cond_float_cmp { condition: 2.5 > 2 and 1 < 1.5 }
rule cond_size_units { condition: 1KB == 1024 and 2MB == 2097152 and 0o17 == 15 }
rule cond_entrypoint_none { condition: not defined entrypoint or entrypoint >= 0 }
private rule priv_base { strings: $a = "quick" condition: $a }
rule cond_rule_ref { condition: priv_base and text_plain }
rule cond_rule_set { condition: any of (text_*) }
rule cond_rule_set_all { condition: all of (priv_base, text_plain) }
rule anon_strings { strings: $ = "quick" $ = "lazy" condition: all of them }
rule cond_them_count { strings: $a = "o" $b = "e" condition: #a + #b > 10 }
rule tags_meta : tagA tagB { meta: author = "me" n = 10 b = true strings: $a = "dog" condition: $a }
rule cond_precedence { condition: 1 + 2 * 3 == 7 and (1 + 2) * 3 == 9 and 10 - 2 - 3 == 5 and 2 * 3 % 4 == 2 and 1 | 2 & 3 == 3 }
rule cond_not_prec { condition: not 1 == 2 }
rule cond_empty_file { condition: filesize == 0 }
`;

describe.skipIf(needs("differential: features vs yara 4.2.3", { tools: ["yara"] }))(
  "differential: features vs yara 4.2.3",
  () => {
    const dir = writeFiles(FILES);
    const y = runYara(RULES, dir);
    const v = runVigil(RULES, dir);

    test("yara compiled and ran the feature rules", () => {
      expect(y.status, y.stderr).toBe(0);
    });

    for (const file of Object.keys(FILES)) {
      test(`same matches on ${file}`, () => {
        const a = normalise(y.outcome)[file] ?? {},
          b = normalise(v)[file] ?? {};
        const diffs: string[] = [];
        for (const rule of new Set([...Object.keys(a), ...Object.keys(b)])) {
          const ya = JSON.stringify(a[rule]),
            vi = JSON.stringify(b[rule]);
          if (ya !== vi) diffs.push(`${rule}: yara ${ya} vigil ${vi}`);
        }
        expect(diffs).toEqual([]);
      });
    }
  },
);

/** Features newer than yara 4.2.3 (YARA 4.3+ syntax): checked against 4.5's documented semantics. */
describe("YARA 4.3+ features (not in yara 4.2.3)", () => {
  const rules = String.raw`
rule hex_not { strings: $a = { 4D ~5B 90 } condition: $a }
rule hex_not_nibble { strings: $a = { 4D ~?A 90 } condition: $a }
rule hex_not_miss { strings: $a = { 4D ~5A 90 } condition: $a }
rule cond_of_at { strings: $a = "Hello" $b = "Hola" condition: any of ($a, $b) at 0 }
rule cond_of_in { strings: $a = "Hello" $b = "World" condition: all of ($a, $b) in (0..10) }
`;
  test("negated hex bytes and 'of ... at/in' follow YARA 4.5", async () => {
    const { compile } = await import("../../src/index.js");
    const r = compile(rules);
    const names = (s: string) => r.scan(enc(s)).matches.map((m) => m.rule);
    expect(names("MZ\\x90")).toEqual([]);
    expect(names("MZ\x90\x00")).toEqual(["hex_not"]); // 0x5A has the low nibble A: ~?A excludes it
    expect(names("M[\x90")).toEqual(["hex_not_nibble", "hex_not_miss"]);
    expect(names("Hello World")).toEqual(["cond_of_at", "cond_of_in"]);
    expect(names("xHello World")).toEqual(["cond_of_in"]);
  });
  test("constant integer overflow is a compile error, as in yara", async () => {
    const { compile, CompileError } = await import("../../src/index.js");
    for (const [expr, text] of [
      ["0x7FFFFFFFFFFFFFFF + 1 < 0", 'integer overflow in "9223372036854775807 + 1"'],
      ["0x100000000 * 0x100000000 == 0", 'integer overflow in "4294967296 * 4294967296"'],
    ] as const) {
      let err: unknown;
      try {
        compile(`rule r { condition: ${expr} }`);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CompileError);
      expect((err as InstanceType<typeof CompileError>).diagnostics[0]!.message).toBe(text);
    }
  });
});
