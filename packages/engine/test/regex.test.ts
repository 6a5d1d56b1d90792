/**
 * The regex layer on its own: YARA's dialect parsed and printed as JavaScript RegExp source
 * over byte strings, ASCII-only case folding, YARA's `.` (any byte but \n), literal braces,
 * error messages, and the atoms chosen for patterns.
 */
import { describe, expect, test } from "vitest";
import {
  caseFold,
  chooseAtoms,
  hasUnboundedAny,
  hexToRe,
  lengthRange,
  parseRegex,
  RegexSyntaxError,
  toJsSource,
  widen,
} from "../src/regex.js";
import { parseHexString } from "../src/parser.js";
import { compile, loadRules } from "../src/index.js";
import { Matcher } from "../src/vm.js";

const re = (src: string, flags = "") => {
  let node = parseRegex(src, flags.includes("s"));
  if (flags.includes("i")) node = caseFold(node);
  return new RegExp(toJsSource(node));
};
const bytes = (...b: number[]) => String.fromCharCode(...b);

describe("regex translation", () => {
  test("a class that admits no byte ([^\\w\\W]) reads back from its own source and matches nothing", () => {
    // found by the engine-compile fuzz campaign: the source was "[]", which the matcher's
    // reader (rules.ts reads toJsSource back) refused at scan time with a plain syntax error
    const node = parseRegex("a.*[^\\w\\W]+x", false);
    const src = toJsSource(node);
    expect(() => parseRegex(src, false, true)).not.toThrow();
    expect(new RegExp(src).test("a" + "b".repeat(10) + "x")).toBe(false);
    const rules = compile("rule r { strings: $a = /a.*[^\\w\\W]+x/ condition: $a }");
    const data = new TextEncoder().encode("a".repeat(60) + "x");
    expect(rules.scan(data).matches).toEqual([]);
    expect(loadRules(rules.serialize()).scan(data).matches).toEqual([]);
  });

  test("dot matches every byte but \\n (also \\r and 0x85..0xff), and \\n with /s", () => {
    const dot = re("a.b");
    expect(dot.test("a\rb")).toBe(true);
    expect(dot.test(bytes(0x61, 0x85, 0x62))).toBe(true);
    expect(dot.test("a\nb")).toBe(false);
    expect(re("a.b", "s").test("a\nb")).toBe(true);
  });

  test("case folding is ASCII only, as YARA's: latin1 letters are not folded", () => {
    const r = re("caf\\xe9", "i");
    expect(r.test("CAF\xe9")).toBe(true);
    expect(r.test("caf\xc9")).toBe(false);
  });

  test("\\s is YARA's six spaces (not 0xA0), \\w and \\d are ASCII", () => {
    expect(re("a\\sb").test("a\xa0b")).toBe(false);
    expect(re("a\\sb").test("a\x0bb")).toBe(true);
    expect(re("\\w").test("\xe9")).toBe(false);
    expect(re("^\\d+$").test("0123")).toBe(true);
  });

  test("classes: ranges, negation, escapes, a leading ]", () => {
    expect(re("[]a]").test("]")).toBe(true);
    expect(re("[^a-c]").test("b")).toBe(false);
    expect(re("[\\x00-\\x02]").test("\x01")).toBe(true);
    expect(re("[a\\-z]").test("-")).toBe(true);
  });

  test("a negated class under nocase excludes both cases of what it lists, as yara's", () => {
    expect(re("abc[^d]", "i").test("abcD")).toBe(false);
    expect(re("abc[^D]", "i").test("abcd")).toBe(false);
    expect(re("abc[^d]", "i").test("abce")).toBe(true);
    expect(re("[^a-z]", "i").test("Q")).toBe(false);
    expect(re("[^a-z]", "i").test("5")).toBe(true);
  });

  test("yara's grammar: an empty alternative only last, no empty group", () => {
    for (const bad of ["(|abc)ef", "|abc", "a()b", "(?:)", "(a|(|b))"])
      expect(() => parseRegex(bad, false), bad).toThrow(RegexSyntaxError);
    for (const good of ["(abc|)ef", "abc|", "(abc||def)"]) expect(() => parseRegex(good, false), good).not.toThrow();
  });

  test("\\b and \\B of a wide regex look at the two-byte characters around them (RegExp and matcher agree)", () => {
    const cases: Array<[string, string, number]> = [
      ["abc\\b", "a\0b\0c\0\0", 6],
      ["abc\\b", "a\0b\0c\0\t\0", 6],
      ["abc\\b", "a\0b\0c\0x\0", -1],
      ["abc\\b", "a\0b\0c\0", 6],
      ["abc\\B", "a\0b\0c\0x\0", 6],
      ["\\babc", "x\0a\0b\0c\0", -1],
      ["\\babc", " \0a\0b\0c\0", 6],
    ];
    for (const [src, data, want] of cases) {
      const node = widen(parseRegex(src, false));
      const start = data.indexOf("a");
      const js = new RegExp(toJsSource(node), "y");
      js.lastIndex = start;
      const m = js.exec(data);
      expect(m ? m[0].length : -1, `RegExp ${src} on ${JSON.stringify(data)}`).toBe(want);
      const bytes = Uint8Array.from(Buffer.from(data, "latin1"));
      // the matcher reads the RegExp source back, as rules.ts does
      const vm = Matcher.of(parseRegex(toJsSource(node), false, true));
      expect(vm.matchAt(bytes, start, bytes.length), `matcher ${src} on ${JSON.stringify(data)}`).toBe(want);
    }
  });

  test("the .* warning is for the dot itself, as yara 4.2.3's (not a class such as [^\\\\]+)", () => {
    expect(hasUnboundedAny(parseRegex("ab.*cd", false))).toBe(true);
    expect(hasUnboundedAny(caseFold(parseRegex("ab(.+)cd", false)))).toBe(true);
    expect(hasUnboundedAny(parseRegex("ab.{3,}", false))).toBe(true);
    expect(hasUnboundedAny(parseRegex("C:\\\\[^\\\\]+\\\\x", false))).toBe(false);
    expect(hasUnboundedAny(parseRegex("ab.{0,30}", false))).toBe(false);
  });

  test("a brace that is not a repetition is a literal", () => {
    expect(re("a{").test("a{")).toBe(true);
    expect(re("a{,}").test("a{,}")).toBe(true);
    expect(re("a{2}").test("aa")).toBe(true);
    expect(re("a{,2}b").test("b")).toBe(true);
  });

  test("lazy and greedy quantifiers keep their meaning", () => {
    expect(re("a.*b").exec("a_b_b")![0]).toBe("a_b_b");
    expect(re("a.*?b").exec("a_b_b")![0]).toBe("a_b");
  });

  test("syntax errors are reported with a message", () => {
    for (const bad of ["(ab", "ab)", "*a", "a**", "[a-", "a{3,2}", "\\x4"]) {
      expect(() => parseRegex(bad, false), bad).toThrow(RegexSyntaxError);
    }
  });

  test("hex strings: masks, negation and lazy jumps", () => {
    const h = (src: string) =>
      new RegExp(
        "^" +
          toJsSource(
            hexToRe(
              parseHexString(src, (m) => {
                throw new Error(m);
              }),
            ),
          ),
      );
    expect(h("4D ?A").test("MZ")).toBe(true);
    expect(h("4D ~5A").test("MZ")).toBe(false);
    expect(h("61 [1-3] 62").exec("a_b_b")![0]).toBe("a_b");
    expect(
      lengthRange(
        hexToRe(
          parseHexString("4D [2-4] 5A ( 90 | 90 90 )", (m) => {
            throw new Error(m);
          }),
        ),
      ),
    ).toEqual([5, 8]);
  });
});

describe("atoms", () => {
  test("a literal run is preferred to wildcards, with the prefix range before it", () => {
    const node = hexToRe(
      parseHexString("?? ?? 4D 5A 90 00", (m) => {
        throw new Error(m);
      }),
    );
    const atoms = chooseAtoms(node)!;
    expect(atoms).toHaveLength(1);
    expect(atoms[0]!.variants).toEqual([[0x4d, 0x5a, 0x90, 0x00]]);
    expect([atoms[0]!.prefixMin, atoms[0]!.prefixMax]).toEqual([2, 2]);
  });

  test("a top-level alternation gives one atom per branch", () => {
    const atoms = chooseAtoms(parseRegex("hello|world", false))!;
    expect(atoms.map((a) => String.fromCharCode(...a.variants[0]!))).toEqual(["hell", "worl"]);
  });

  test("case-insensitive atoms expand to every case form", () => {
    const atoms = chooseAtoms(caseFold(parseRegex("ab", false)))!;
    expect(atoms[0]!.variants.map((v) => String.fromCharCode(...v)).sort()).toEqual(["AB", "Ab", "aB", "ab"]);
  });

  test("a pattern without a usable atom has none (it is searched at every offset)", () => {
    expect(chooseAtoms(parseRegex("[a-z]+", false))).toBeNull();
    expect(chooseAtoms(parseRegex(".*", true))).toBeNull();
  });

  test("after an unbounded prefix the atom's prefix is open", () => {
    const atoms = chooseAtoms(parseRegex("[a-z]*evil", false))!;
    expect(atoms[0]!.prefixMax).toBeNull();
    expect(atoms[0]!.prefixMin).toBe(0);
  });
});
