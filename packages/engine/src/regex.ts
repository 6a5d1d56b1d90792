/**
 * Regular expressions and hex strings -> one byte-level pattern AST -> JavaScript RegExp source.
 *
 * YARA's regex dialect is parsed here (classes, \w \s \d \b, \xHH, anchors, greedy and lazy
 * quantifiers, {n,m} forms); hex strings (ast.HexNode) are lowered to the same AST, with YARA's
 * lazy jumps. The AST is then printed as JavaScript RegExp source over *byte strings* (latin1
 * strings, one char per byte): every byte is written as \xHH, case-insensitivity is expanded
 * into explicit ASCII-only classes (JS's `i` flag would also fold latin1 letters) and `.` is
 * [^\n] (JS's `.` would also exclude \r). The same AST gives the min/max match length and the
 * literal runs from which atoms are chosen.
 */
import type { HexNode } from "./ast.js";
import { knownByteScore } from "./quality.js";

export type ReNode =
  /**
   * one byte from a set (256 bits); `neg`: written as a negated class [^...] (under nocase
   * yara excludes both cases of what it lists); `dot`: yara's "any byte" node (`.`, hex ??
   * and jumps), which atom extraction and the .* warning tell apart from classes.
   */
  | { t: "set"; bits: Uint32Array; neg?: boolean; dot?: boolean }
  | { t: "cat"; items: ReNode[] }
  | { t: "alt"; alts: ReNode[] }
  | { t: "rep"; node: ReNode; min: number; max: number | null; greedy: boolean }
  | { t: "bol" }
  | { t: "eol" }
  /** `wide`: the boundary of a wide string, between two-byte characters (see WIDE_WORDB_SOURCE). */
  | { t: "wordb"; wide?: boolean }
  | { t: "nwordb"; wide?: boolean };

/**
 * \b and \B of a `wide` regex in JavaScript source: yara tests the word boundary on the wide
 * characters around it (a word byte followed by a zero byte), so the lookarounds look two bytes
 * each way. A YARA regex cannot contain these forms ("(?<" is a syntax error there), so
 * parseRegex reads them back only from its own sources (`internal`).
 */
export const WIDE_WORDB_SOURCE = "(?:(?<=\\w\\x00)(?!\\w\\x00)|(?<!\\w\\x00)(?=\\w\\x00))";
export const WIDE_NWORDB_SOURCE = "(?:(?<=\\w\\x00)(?=\\w\\x00)|(?<!\\w\\x00)(?!\\w\\x00))";

export class RegexSyntaxError extends Error {
  constructor(
    message: string,
    readonly index: number,
  ) {
    super(message);
  }
}

export const RE_MAX_REPEAT = 32767;

// ---------------- byte sets ----------------

export function emptySet(): Uint32Array {
  return new Uint32Array(8);
}
export function setAdd(bits: Uint32Array, b: number): void {
  bits[b >>> 5]! |= 1 << (b & 31);
}
export function setHas(bits: Uint32Array, b: number): boolean {
  return (bits[b >>> 5]! & (1 << (b & 31))) !== 0;
}
export function setRange(bits: Uint32Array, lo: number, hi: number): void {
  for (let b = lo; b <= hi; b++) setAdd(bits, b);
}
export function setSize(bits: Uint32Array): number {
  let n = 0;
  for (let w = 0; w < 8; w++) {
    let x = bits[w]!;
    while (x) {
      x &= x - 1;
      n++;
    }
  }
  return n;
}
export function setMembers(bits: Uint32Array): number[] {
  const out: number[] = [];
  for (let b = 0; b < 256; b++) if (setHas(bits, b)) out.push(b);
  return out;
}
function setInvert(bits: Uint32Array): Uint32Array {
  const out = new Uint32Array(8);
  for (let w = 0; w < 8; w++) out[w] = ~bits[w]! >>> 0;
  return out;
}
function setUnion(a: Uint32Array, b: Uint32Array): void {
  for (let w = 0; w < 8; w++) a[w]! |= b[w]!;
}
/** Shared one-byte sets (never mutated: every transformation copies). */
const SINGLES: Uint32Array[] = Array.from({ length: 256 }, (_, b) => {
  const s = emptySet();
  setAdd(s, b);
  return s;
});
function single(b: number): ReNode {
  return { t: "set", bits: SINGLES[b]! };
}
function onlyMember(bits: Uint32Array): number {
  for (let w = 0; w < 8; w++) if (bits[w]) return w * 32 + (31 - Math.clz32(bits[w]!));
  return -1;
}

const WORD = (() => {
  const s = emptySet();
  setRange(s, 0x30, 0x39);
  setRange(s, 0x41, 0x5a);
  setRange(s, 0x61, 0x7a);
  setAdd(s, 0x5f);
  return s;
})();
const SPACE = (() => {
  const s = emptySet();
  for (const b of [9, 10, 11, 12, 13, 32]) setAdd(s, b);
  return s;
})();
const DIGIT = (() => {
  const s = emptySet();
  setRange(s, 0x30, 0x39);
  return s;
})();
const ANY = (() => setInvert(emptySet()))();
const ANY_BUT_NL = (() => {
  const s = setInvert(emptySet());
  s[0]! &= ~(1 << 10);
  return s;
})();

// ---------------- the YARA regex parser ----------------

/**
 * Parses a YARA regular expression body (without slashes). `dotAll` is the /s flag.
 * `internal`: `src` is this module's own output (toJsSource), which may hold the wide word
 * boundaries and empty groups a rule's regex cannot.
 */
export function parseRegex(src: string, dotAll: boolean, internal = false): ReNode {
  let i = 0;
  const fail = (msg: string): never => {
    throw new RegexSyntaxError(msg, i);
  };

  const parseAlt = (depth: number): ReNode => {
    if (depth > 200) fail("regular expression nested too deeply");
    const alts: ReNode[] = [parseCat(depth)];
    // yara's grammar: an alternative may be empty only after a '|', (abc|) but not (|abc)
    if (!internal && src[i] === "|" && isEmptyCat(alts[0]!))
      fail("an empty alternative must come last: write (abc|), not (|abc)");
    while (src[i] === "|") {
      i++;
      alts.push(parseCat(depth));
    }
    return alts.length === 1 ? alts[0]! : { t: "alt", alts };
  };

  const parseCat = (depth: number): ReNode => {
    const items: ReNode[] = [];
    while (i < src.length && src[i] !== "|" && src[i] !== ")") {
      let atom = parseAtom(depth);
      for (;;) {
        const q = parseQuantifier();
        if (!q) break;
        if (atom.t === "bol" || atom.t === "eol" || atom.t === "wordb" || atom.t === "nwordb")
          fail("a quantifier cannot follow an anchor");
        if (atom.t === "rep") fail("multiple repeat operators: add parentheses to repeat a repetition");
        atom = { t: "rep", node: atom, ...q };
      }
      items.push(atom);
    }
    return items.length === 1 ? items[0]! : { t: "cat", items };
  };

  const parseQuantifier = (): { min: number; max: number | null; greedy: boolean } | null => {
    const c = src[i];
    let min: number, max: number | null;
    if (c === "*") {
      min = 0;
      max = null;
      i++;
    } else if (c === "+") {
      min = 1;
      max = null;
      i++;
    } else if (c === "?") {
      min = 0;
      max = 1;
      i++;
    } else if (c === "{") {
      const m = /^\{(\d*)(,?)(\d*)\}/.exec(src.slice(i));
      if (!m || (m[1] === "" && m[3] === "") || (m[1] === "" && m[2] === "")) return null; // a literal '{'
      min = m[1] === "" ? 0 : Number(m[1]);
      max = m[2] === "" ? min : m[3] === "" ? null : Number(m[3]);
      if (min > RE_MAX_REPEAT || (max !== null && max > RE_MAX_REPEAT))
        fail(`repeat interval too large: at most ${RE_MAX_REPEAT}`);
      if (max !== null && max < min) fail(`bad repeat interval {${m[1]},${m[3]}}: the maximum is below the minimum`);
      i += m[0].length;
    } else return null;
    let greedy = true;
    if (src[i] === "?") {
      greedy = false;
      i++;
    }
    return { min, max, greedy };
  };

  const parseEscape = (inClass: boolean): Uint32Array | number | "b" | "B" => {
    i++; // backslash
    const c = src[i++];
    if (c === undefined) fail("regular expression ends with a backslash");
    switch (c) {
      case "w":
        return WORD;
      case "W":
        return setInvert(WORD);
      case "s":
        return SPACE;
      case "S":
        return setInvert(SPACE);
      case "d":
        return DIGIT;
      case "D":
        return setInvert(DIGIT);
      case "b":
        if (inClass) return 8;
        return "b";
      case "B":
        if (inClass) fail("\\B is not allowed in a character class");
        return "B";
      case "n":
        return 10;
      case "t":
        return 9;
      case "r":
        return 13;
      case "f":
        return 12;
      case "a":
        return 7;
      case "x": {
        const h = src.slice(i, i + 2);
        if (!/^[0-9a-fA-F]{2}$/.test(h)) fail("\\x must be followed by two hexadecimal digits");
        i += 2;
        return parseInt(h, 16);
      }
      default:
        return c.charCodeAt(0);
    }
  };

  const parseClass = (): ReNode => {
    i++; // [
    let negate = false;
    if (src[i] === "^") {
      negate = true;
      i++;
    }
    const bits = emptySet();
    let first = true;
    for (;;) {
      if (i >= src.length) fail("missing ] in character class");
      const c = src[i]!;
      if (c === "]" && !first) {
        i++;
        break;
      }
      first = false;
      let lo: number;
      if (c === "\\") {
        const e = parseEscape(true);
        if (typeof e !== "number") {
          setUnion(bits, e as Uint32Array);
          continue;
        }
        lo = e;
      } else {
        lo = c.charCodeAt(0);
        i++;
      }
      if (src[i] === "-" && src[i + 1] !== "]" && i + 1 < src.length) {
        i++;
        let hi: number;
        if (src[i] === "\\") {
          const e = parseEscape(true);
          if (typeof e !== "number") fail("bad character range in class");
          hi = e as number;
        } else {
          hi = src.charCodeAt(i);
          i++;
        }
        if (hi < lo) fail("bad character range in class: the end is before the start");
        setRange(bits, lo, hi);
      } else setAdd(bits, lo);
    }
    return negate ? { t: "set", bits: setInvert(bits), neg: true } : { t: "set", bits };
  };

  const parseAtom = (depth: number): ReNode => {
    const c = src[i]!;
    switch (c) {
      case "(": {
        if (internal) {
          if (src.startsWith(WIDE_WORDB_SOURCE, i)) {
            i += WIDE_WORDB_SOURCE.length;
            return { t: "wordb", wide: true };
          }
          if (src.startsWith(WIDE_NWORDB_SOURCE, i)) {
            i += WIDE_NWORDB_SOURCE.length;
            return { t: "nwordb", wide: true };
          }
        }
        i++;
        if (src.startsWith("?:", i)) i += 2;
        if (src[i] === ")" && !internal) fail("empty group () in regular expression");
        const inner = src[i] === ")" ? ({ t: "cat", items: [] } as ReNode) : parseAlt(depth + 1);
        if (src[i] !== ")") fail("missing ) in regular expression");
        i++;
        // keep the group visible so that "(a+)?" is a repetition of a group, not "a+?"
        return inner.t === "rep" ? { t: "cat", items: [inner] } : inner;
      }
      case "[":
        return parseClass();
      case ".":
        i++;
        return { t: "set", bits: dotAll ? ANY : ANY_BUT_NL, dot: true };
      case "^":
        i++;
        return { t: "bol" };
      case "$":
        i++;
        return { t: "eol" };
      case "*":
      case "+":
      case "?":
        fail(`nothing to repeat before '${c}'`);
        break;
      case "{": {
        if (/^\{\d*,?\d*\}/.test(src.slice(i)) && !/^\{\}/.test(src.slice(i)) && !/^\{,\}/.test(src.slice(i)))
          fail("nothing to repeat before '{'");
        i++;
        return single(0x7b);
      }
      case "\\": {
        const e = parseEscape(false);
        if (e === "b") return { t: "wordb" };
        if (e === "B") return { t: "nwordb" };
        if (typeof e === "number") return single(e);
        return { t: "set", bits: e };
      }
    }
    i++;
    return single(c.charCodeAt(0));
  };

  const node = parseAlt(0);
  if (i < src.length) fail(src[i] === ")" ? "unbalanced ) in regular expression" : `unexpected '${src[i]}'`);
  return node;
}

function isEmptyCat(n: ReNode): boolean {
  return n.t === "cat" && n.items.length === 0;
}

/** Lowers a hex string to the pattern AST (jumps are lazy, as in YARA). */
export function hexToRe(nodes: HexNode[]): ReNode {
  const conv = (seq: HexNode[]): ReNode => {
    const items: ReNode[] = seq.map((n): ReNode => {
      if (n.type === "byte") {
        if (n.mask === 0xff && !n.not) return single(n.value);
        if (n.mask === 0 && !n.not) return { t: "set", bits: ANY, dot: true };
        const bits = emptySet();
        if (n.mask === 0xff) setAdd(bits, n.value);
        else for (let b = 0; b < 256; b++) if ((b & n.mask) === (n.value & n.mask)) setAdd(bits, b);
        return { t: "set", bits: n.not ? setInvert(bits) : bits };
      }
      if (n.type === "jump")
        return { t: "rep", node: { t: "set", bits: ANY, dot: true }, min: n.min, max: n.max, greedy: false };
      return { t: "alt", alts: n.alternatives.map(conv) };
    });
    return items.length === 1 ? items[0]! : { t: "cat", items };
  };
  return conv(nodes);
}

/** Adds the other ASCII case of every letter, everywhere (nocase, /i). */
export function caseFold(node: ReNode): ReNode {
  switch (node.t) {
    case "set": {
      const bits = node.bits.slice();
      if (node.neg) {
        // yara folds what the class lists, then negates: [^d] excludes d and D
        for (let b = 0x41; b <= 0x5a; b++)
          if (!setHas(node.bits, b) || !setHas(node.bits, b + 32)) {
            bits[b >>> 5]! &= ~(1 << (b & 31));
            bits[(b + 32) >>> 5]! &= ~(1 << ((b + 32) & 31));
          }
      } else {
        for (let b = 0x41; b <= 0x5a; b++) if (setHas(node.bits, b)) setAdd(bits, b + 32);
        for (let b = 0x61; b <= 0x7a; b++) if (setHas(node.bits, b)) setAdd(bits, b - 32);
      }
      return { ...node, bits };
    }
    case "cat":
      return { t: "cat", items: node.items.map(caseFold) };
    case "alt":
      return { t: "alt", alts: node.alts.map(caseFold) };
    case "rep":
      return { ...node, node: caseFold(node.node) };
    default:
      return node;
  }
}

/** Interleaves a zero byte after every byte (the `wide` modifier on a regex). */
export function widen(node: ReNode): ReNode {
  switch (node.t) {
    case "set":
      return { t: "cat", items: [node, single(0)] };
    case "cat":
      return { t: "cat", items: node.items.map(widen) };
    case "alt":
      return { t: "alt", alts: node.alts.map(widen) };
    case "rep":
      return { ...node, node: widen(node.node) };
    case "wordb":
    case "nwordb":
      return { t: node.t, wide: true };
    default:
      return node;
  }
}

// ---------------- JS source ----------------

/** A byte in RegExp source: letters, digits and a few safe marks as they are, others as \xHH. */
const hx = (b: number) =>
  (b >= 0x30 && b <= 0x39) ||
  (b >= 0x41 && b <= 0x5a) ||
  (b >= 0x61 && b <= 0x7a) ||
  b === 0x20 ||
  b === 0x5f ||
  b === 0x2c ||
  b === 0x3a ||
  b === 0x3d ||
  b === 0x40 ||
  b === 0x27 ||
  b === 0x22 ||
  b === 0x3c ||
  b === 0x3e ||
  b === 0x21 ||
  b === 0x23 ||
  b === 0x25 ||
  b === 0x26 ||
  b === 0x7e ||
  b === 0x60 ||
  b === 0x3b
    ? String.fromCharCode(b)
    : "\\x" + b.toString(16).padStart(2, "0");

function setSource(bits: Uint32Array): string {
  const n = setSize(bits);
  if (n === 256) return "[\\s\\S]";
  // a class that admits no byte ([^\w\W]): "[]" never matches in JavaScript too, but this
  // module reads its own sources back (rules.ts) and a YARA class cannot be empty
  if (n === 0) return "[^\\s\\S]";
  if (n === 1) return hx(onlyMember(bits));
  const negate = n > 128;
  const src = negate ? setInvert(bits) : bits;
  let out = "";
  for (let b = 0; b < 256; b++) {
    if (!setHas(src, b)) continue;
    let e = b;
    while (e + 1 < 256 && setHas(src, e + 1)) e++;
    out += e === b ? hx(b) : e === b + 1 ? hx(b) + hx(e) : hx(b) + "-" + hx(e);
    b = e;
  }
  return (negate ? "[^" : "[") + out + "]";
}

/** JavaScript RegExp source for the AST (to be used with no `i`/`m`/`s`/`u` flags). */
export function toJsSource(node: ReNode): string {
  switch (node.t) {
    case "set":
      return setSource(node.bits);
    case "cat":
      return node.items.map((n) => (n.t === "alt" ? `(?:${toJsSource(n)})` : toJsSource(n))).join("");
    case "alt":
      return node.alts.map(toJsSource).join("|");
    case "rep": {
      const inner = node.node.t === "set" ? toJsSource(node.node) : `(?:${toJsSource(node.node)})`;
      const q =
        node.max === null
          ? node.min === 0
            ? "*"
            : node.min === 1
              ? "+"
              : `{${node.min},}`
          : node.min === node.max
            ? `{${node.min}}`
            : node.min === 0 && node.max === 1
              ? "?"
              : `{${node.min},${node.max}}`;
      return inner + q + (node.greedy || node.min === node.max ? "" : "?");
    }
    case "bol":
      return "^";
    case "eol":
      return "$";
    case "wordb":
      return node.wide ? WIDE_WORDB_SOURCE : "\\b";
    case "nwordb":
      return node.wide ? WIDE_NWORDB_SOURCE : "\\B";
  }
}

/** Minimum and maximum length in bytes of a match (max null: unbounded). */
export function lengthRange(node: ReNode): [number, number | null] {
  switch (node.t) {
    case "set":
      return [1, 1];
    case "cat": {
      let lo = 0,
        hi: number | null = 0;
      for (const n of node.items) {
        const [a, b] = lengthRange(n);
        lo += a;
        hi = hi === null || b === null ? null : hi + b;
      }
      return [lo, hi];
    }
    case "alt": {
      let lo = Infinity,
        hi: number | null = 0;
      for (const n of node.alts) {
        const [a, b] = lengthRange(n);
        lo = Math.min(lo, a);
        hi = hi === null || b === null ? null : Math.max(hi, b);
      }
      return [lo === Infinity ? 0 : lo, hi];
    }
    case "rep": {
      const [a, b] = lengthRange(node.node);
      return [a * node.min, node.max === null || b === null ? (b === 0 ? 0 : null) : b * node.max];
    }
    default:
      return [0, 0];
  }
}

/** True when the pattern contains ^, $, \b or \B (which look outside the matched bytes). */
export function hasAnchors(node: ReNode): boolean {
  switch (node.t) {
    case "bol":
    case "eol":
    case "wordb":
    case "nwordb":
      return true;
    case "rep":
      return hasAnchors(node.node);
    case "cat":
      return node.items.some(hasAnchors);
    case "alt":
      return node.alts.some(hasAnchors);
    default:
      return false;
  }
}

/**
 * True when the regex has .*, .+ or .{x,} where yara 4.2.3 warns about it: a repetition of the
 * dot itself (not of a class such as [^\\]) with no upper bound, at the top level or inside
 * concatenations and groups (yara does not look into alternatives or repeated groups).
 */
export function hasUnboundedAny(node: ReNode): boolean {
  switch (node.t) {
    case "rep":
      return node.max === null && node.node.t === "set" && !!node.node.dot;
    case "cat":
      return node.items.some(hasUnboundedAny);
    default:
      return false;
  }
}

// ---------------- atoms ----------------

/** An atom: up to 4 concrete bytes that every match contains, with where the match starts relative to it. */
export interface AtomChoice {
  /** every concrete byte sequence the atom position can hold (nocase/nibble expansions). */
  readonly variants: number[][];
  /** bytes between the start of a match and the start of the atom: [min, max] (max null: unbounded). */
  readonly prefixMin: number;
  readonly prefixMax: number | null;
  readonly quality: number;
}

const MAX_ATOM = 4;
/** the quality of 4 distinct bytes outside the common set (20 each, +2 per distinct byte). */
const BEST_POSSIBLE = 4 * 20 + 2 * 4;
const MAX_EXPANSION = 64;

/** Per-item facts the atom chooser needs: set size and, for single bytes, the byte. */
interface ItemInfo {
  size: number;
  byte: number;
  bits: Uint32Array | null;
}

function info(node: ReNode): ItemInfo {
  if (node.t !== "set") return { size: 0, byte: -1, bits: null };
  const n = setSize(node.bits);
  return { size: n, byte: n === 1 ? onlyMember(node.bits) : -1, bits: node.bits };
}

/** a set of two bytes that are the two cases of one letter (a nocase letter): its lowercase, or -1. */
function casePair(it: ItemInfo): number {
  if (it.size !== 2 || !it.bits) return -1;
  for (let b = 0x61; b <= 0x7a; b++) if (setHas(it.bits, b) && setHas(it.bits, b - 32)) return b;
  return -1;
}

/**
 * Quality of an atom made of these items (higher is better): yara's rule (quality.ts) over the
 * engine's atom items, raw (without yara's scale offset). A single byte scores as in yara, a
 * nocase letter as the letter; sets yara has no atom byte for score little (a set of two 10,
 * of up to 16 as a half-known byte, 4). Distinct bytes add 2 each, except that an atom of one
 * very common byte repeated loses 10 per byte.
 */
function quality(items: ItemInfo[], from: number, len: number): number {
  let q = 0,
    unique = 0,
    only = -1;
  const seen: number[] = [];
  for (let k = from; k < from + len; k++) {
    const it = items[k]!;
    const b = it.size === 1 ? it.byte : casePair(it);
    if (b >= 0) {
      q += knownByteScore(b);
      if (!seen.includes(b)) {
        seen.push(b);
        unique++;
        only = b;
      }
    } else q += it.size === 2 ? 10 : 4;
  }
  if (unique === 1 && (only === 0x00 || only === 0x20 || only === 0x90 || only === 0xcc || only === 0xff))
    q -= 10 * len;
  else q += 2 * unique;
  return q;
}

function expandItems(items: ItemInfo[], from: number, len: number): number[][] {
  let out: number[][] = [[]];
  for (let k = from; k < from + len; k++) {
    const it = items[k]!;
    const m = it.size === 1 ? [it.byte] : setMembers(it.bits!);
    const next: number[][] = [];
    for (const prefix of out) for (const b of m) next.push([...prefix, b]);
    out = next;
  }
  return out;
}

/**
 * Chooses atoms for a pattern: a list of AtomChoices such that every match contains at least
 * one of them (several when the chosen item is an alternation). Returns null when no usable
 * atom exists (the pattern must then be searched at every offset). Linear in the pattern size.
 */
export function chooseAtoms(node: ReNode, depth = 0): AtomChoice[] | null {
  if (depth > 20) return null;
  if (node.t === "alt") {
    const all: AtomChoice[] = [];
    for (const a of node.alts) {
      const sub = chooseAtoms(a, depth + 1);
      if (!sub) return null;
      all.push(...sub);
      if (all.length > 64) return null;
    }
    return all;
  }
  const items = node.t === "cat" ? flattenCat(node.items) : [node];
  const infos = items.map(info);
  let bestQ = -Infinity;
  let best: AtomChoice[] | null = null;
  let preMin = 0,
    preMax: number | null = 0;
  for (let i = 0; i < items.length; i++) {
    // the longest run of small sets starting at i (at most MAX_ATOM, bounded expansion)
    let len = 0,
      product = 1;
    while (i + len < items.length && len < MAX_ATOM) {
      const n = infos[i + len]!.size;
      if (n === 0 || n > 16 || product * n > MAX_EXPANSION) break;
      product *= n;
      len++;
    }
    for (let l = len; l >= 1; l--) {
      const q = quality(infos, i, l) - (preMax === null ? 5 : 0);
      if (q > bestQ) {
        bestQ = q;
        best = [
          { variants: [], prefixMin: preMin, prefixMax: preMax, quality: q, _items: [i, l] } as AtomChoice & {
            _items: [number, number];
          },
        ];
      }
    }
    const it = items[i]!;
    if (it.t === "alt" && bestQ < 40) {
      const sub = chooseAtoms(it, depth + 1);
      if (sub && sub.length <= 16) {
        const q = Math.min(...sub.map((x) => x.quality)) - 2 - (preMax === null ? 5 : 0);
        if (q > bestQ) {
          bestQ = q;
          const pm = preMin,
            pM = preMax;
          best = sub.map((x) => ({
            variants: x.variants,
            prefixMin: pm + x.prefixMin,
            prefixMax: pM === null || x.prefixMax === null ? null : pM + x.prefixMax,
            quality: q,
          }));
        }
      }
    }
    // four distinct uncommon bytes at a fixed offset: no later atom can be better
    if (bestQ >= BEST_POSSIBLE && preMax !== null) break;
    const [a, b] = lengthRange(it);
    preMin += a;
    preMax = preMax === null || b === null ? null : preMax + b;
  }
  if (!best || bestQ <= 0) return null;
  return best.map((c) => {
    const marker = (c as AtomChoice & { _items?: [number, number] })._items;
    if (!marker) return c;
    return {
      variants: expandItems(infos, marker[0], marker[1]),
      prefixMin: c.prefixMin,
      prefixMax: c.prefixMax,
      quality: c.quality,
    };
  });
}

/**
 * chooseAtoms for a hex string of plain and masked bytes only (values already masked; masks
 * ff, f0, 0f or 00), without building its AST: the same atoms as chooseAtoms(hexToRe(...)),
 * where each byte is one item (a set of 1, 16 or 256 bytes) at a fixed offset.
 */
export function chooseMaskedAtoms(values: ArrayLike<number>, masks: ArrayLike<number>): AtomChoice[] | null {
  const n = values.length;
  const size = (k: number) => (masks[k] === 0xff ? 1 : masks[k] === 0 ? 256 : 16);
  let bestQ = -Infinity,
    bestI = -1,
    bestL = 0;
  for (let i = 0; i < n; i++) {
    let len = 0,
      product = 1;
    while (i + len < n && len < MAX_ATOM) {
      const k = size(i + len);
      if (k > 16 || product * k > MAX_EXPANSION) break;
      product *= k;
      len++;
    }
    for (let l = len; l >= 1; l--) {
      const q = maskedAtomQuality(values, masks, i, l);
      if (q > bestQ) {
        bestQ = q;
        bestI = i;
        bestL = l;
      }
    }
    if (bestQ >= BEST_POSSIBLE) break;
  }
  if (bestI < 0 || bestQ <= 0) return null;
  let variants: number[][] = [[]];
  for (let k = bestI; k < bestI + bestL; k++) {
    const v = values[k]!,
      m = masks[k]!;
    const next: number[][] = [];
    for (const prefix of variants) {
      if (m === 0xff) next.push([...prefix, v]);
      else for (let b = 0; b < 256; b++) if ((b & m) === v) next.push([...prefix, b]);
    }
    variants = next;
  }
  return [{ variants, prefixMin: bestI, prefixMax: bestI, quality: bestQ }];
}

/** quality() of a run of masked bytes: a known byte scores as in yara, a half-known one 4. */
function maskedAtomQuality(values: ArrayLike<number>, masks: ArrayLike<number>, from: number, len: number): number {
  let q = 0,
    unique = 0,
    only = -1;
  let u0 = -1,
    u1 = -1,
    u2 = -1;
  for (let k = from; k < from + len; k++) {
    if (masks[k] !== 0xff) {
      q += 4;
      continue;
    }
    const b = values[k]!;
    q += knownByteScore(b);
    if (b !== u0 && b !== u1 && b !== u2 && b !== only) {
      if (unique === 0) u0 = b;
      else if (unique === 1) u1 = b;
      else if (unique === 2) u2 = b;
      unique++;
      only = b;
    }
  }
  if (unique === 1 && (only === 0x00 || only === 0x20 || only === 0x90 || only === 0xcc || only === 0xff))
    q -= 10 * len;
  else q += 2 * unique;
  return q;
}

function flattenCat(items: ReNode[]): ReNode[] {
  const out: ReNode[] = [];
  for (const it of items) {
    if (it.t === "cat") out.push(...flattenCat(it.items));
    else if (it.t === "rep" && it.min === it.max && it.min <= 8 && it.node.t === "set")
      for (let k = 0; k < it.min; k++) out.push(it.node);
    else out.push(it);
  }
  return out;
}
