/**
 * String definitions -> patterns. A text string becomes a set of literal *variants* (one per
 * concrete form its modifiers allow: ascii/wide, each xor key, each base64 shift), each with an
 * atom; hex strings and regular expressions become pattern source (JavaScript RegExp syntax
 * over byte strings, which rules.ts turns into a vm.ts program or, for small bounded patterns,
 * a RegExp) with the atoms chosen from their AST. Everything here is plain data, so it serialises.
 */
import type { HexNode, StringDef } from "./ast.js";
import {
  type AtomChoice,
  type ReNode,
  RegexSyntaxError,
  caseFold,
  chooseAtoms,
  chooseMaskedAtoms,
  hasUnboundedAny,
  hexToRe,
  lengthRange,
  parseRegex,
  toJsSource,
  widen,
  hasAnchors,
} from "./regex.js";
import {
  ATOM_QUALITY_MAX,
  ATOM_QUALITY_WARNING,
  bytesQuality,
  literalQuality,
  maskedQuality,
  patternQuality,
} from "./quality.js";

/**
 * yara's regex engine gives up on a match that reaches further than this many bytes past the
 * start of its atom (and looks at most this far back before it).
 */
export const RE_SCAN_LIMIT = 4096;

/**
 * Compiles the RegExp once (V8 compiles on the first exec): a pattern V8 refuses ("regular
 * expression too large") is then a compile-time error of the rule, not a failure of every
 * scan that reaches it. The message does not repeat the pattern.
 */
export function checkMatcher(source: string): void {
  // V8 refuses a run of 32,768 literal characters or more; shorter sources compile (checked
  // up to 50 KB of classes and nested counted repetitions), so only long ones are tried here:
  // compiling every pattern's RegExp up front cost a tenth of a large feed's compile time
  if (source.length < 16384) return;
  try {
    new RegExp(source, "y").exec("");
  } catch {
    throw new RegexSyntaxError("it is too large for the regex matcher: shorten it or split it into several strings", 0);
  }
}

/**
 * A regex yara matches as a text string: only literal bytes (plain characters, escaped
 * punctuation, \xHH, \n \t \r \f \a), no group, class, dot, quantifier or anchor. A group
 * around a literal, /(abc)/, is not one for yara's parser, so it is not one here either.
 */
function isLiteralSource(src: string): boolean {
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === "\\") {
      const e = src[++i];
      if (e === undefined) return false;
      if (e === "x") {
        i += 2;
        continue;
      }
      if ("ntrfa".includes(e)) continue;
      if (/[A-Za-z0-9]/.test(e)) return false; // \w \s \d \b \B and other classes or anchors
      continue;
    }
    if ("()[]{}|.*+?^$".includes(c)) return false;
  }
  return src.length > 0;
}

export interface LiteralVariant {
  /** the bytes as they appear in the data (after wide/xor/base64), latin1 string. */
  bytes: string;
  nocase: boolean;
  xorKey: number | null;
  /**
   * offset of the atom within `bytes`, and the atom's concrete forms. Compiled rules in memory
   * hold the forms only until their atom table is built (rules.ts); serialize() gives them
   * again (variantAtoms: they follow from bytes, atomOffset and nocase).
   */
  atomOffset: number;
  atoms: number[][];
}

export interface RegexPattern {
  /** JavaScript RegExp source over byte strings ("" for a `masked` hex string with atoms, which needs none). */
  source: string;
  /**
   * atoms, or null if the pattern must be tried at every offset. Compiled rules in memory drop
   * those of `masked` patterns once their atom table is built (rules.ts); serialize() gives them
   * again (maskedAtoms: they follow from the masked bytes).
   */
  atoms: Array<{ variants: number[][]; prefixMin: number; prefixMax: number | null }> | null;
  minLength: number;
  maxLength: number | null;
  /** the pattern uses ^, $, \b or \B: it must run over the whole data, not a window. */
  anchored?: boolean;
  /**
   * the pattern is a plain sequence of bytes (a regex such as /abc/ or /abc/i): as yara, which
   * matches such a regex as a text string, its matches have no length limit (others stop
   * 4,096 bytes after the atom).
   */
  literal?: boolean;
  /** for hex strings of plain and masked bytes only (no jumps, alternatives or ~): value and mask bytes in hex, verified without a RegExp. */
  masked?: { value: string; mask: string };
}

export interface CompiledString {
  /** "$a" (anonymous strings get "$"). */
  id: string;
  kind: "text" | "hex" | "regex";
  private: boolean;
  fullword: boolean;
  /** wide forms need a wide fullword check. */
  wideForms: boolean[];
  literals: LiteralVariant[] | null;
  regexes: RegexPattern[] | null;
  /** warnings about slow patterns: poor atoms, and (slowAny) .* and the like. */
  slow: string | null;
  slowAny?: string;
  /**
   * set by the compiler when the conditions only ask whether this string matched (no count,
   * offset, length, `at` or `in`): a scan that does not list string matches (ScanOptions.strings
   * false) stops looking for it after its first match.
   */
  existsOnly?: boolean;
}

export class PatternError extends Error {}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

function wideOf(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) out += s[i] + "\0";
  return out;
}

function base64Encode(bytes: string, alphabet: string): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes.charCodeAt(i),
      b = bytes.charCodeAt(i + 1),
      c = bytes.charCodeAt(i + 2);
    const n = (a << 16) | ((b || 0) << 8) | (c || 0);
    out += alphabet[(n >> 18) & 63]! + alphabet[(n >> 12) & 63]!;
    out += i + 1 < bytes.length ? alphabet[(n >> 6) & 63]! : "=";
    out += i + 2 < bytes.length ? alphabet[n & 63]! : "=";
  }
  return out;
}

/** The three base64 forms of `s` whose characters depend on `s` only (YARA's base64 modifier). */
export function base64Forms(s: string, alphabet = B64): string[] {
  const out: string[] = [];
  for (let shift = 0; shift < 3; shift++) {
    const enc = base64Encode("\0".repeat(shift) + s, alphabet);
    const total = shift + s.length;
    const dropStart = shift === 0 ? 0 : shift === 1 ? 2 : 3;
    const dropEnd = total % 3 === 1 ? 3 : total % 3 === 2 ? 2 : 0;
    const form = enc.slice(dropStart, enc.length - dropEnd);
    if (form.length > 0) out.push(form);
  }
  return out;
}

function lowerByte(b: number): number {
  return b >= 0x41 && b <= 0x5a ? b + 32 : b;
}
function isAlpha(b: number): boolean {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
}

const WINDOW = new Uint8Array(4);
/** Offset of the best window of up to 4 bytes in a literal, by yara's atom quality (quality.ts). */
export function literalAtomOffset(bytes: string, nocase: boolean): number {
  const len = Math.min(4, bytes.length);
  let bestOff = 0,
    bestQ = -Infinity;
  for (let off = 0; off + len <= bytes.length; off++) {
    for (let k = 0; k < len; k++) WINDOW[k] = bytes.charCodeAt(off + k);
    const q = bytesQuality(WINDOW, 0, len, nocase);
    if (q > bestQ) {
      bestQ = q;
      bestOff = off;
    }
    if (bestQ >= ATOM_QUALITY_MAX) break; // four distinct uncommon bytes: nothing later can be better
  }
  return bestOff;
}

/** The concrete forms of the atom at `offset` (case variants under nocase). */
export function literalAtomForms(bytes: string, offset: number, nocase: boolean): number[][] {
  const len = Math.min(4, bytes.length);
  if (!nocase) {
    const atom = new Array<number>(len);
    for (let k = 0; k < len; k++) atom[k] = bytes.charCodeAt(offset + k);
    return [atom];
  }
  let atoms: number[][] = [[]];
  for (let k = 0; k < len; k++) {
    const b = bytes.charCodeAt(offset + k);
    const forms = nocase && isAlpha(b) ? [lowerByte(b), lowerByte(b) - 32] : [b];
    const next: number[][] = [];
    for (const a of atoms) for (const f of forms) next.push([...a, f]);
    atoms = next;
  }
  return atoms;
}

export function literalAtom(bytes: string, nocase: boolean): { offset: number; atoms: number[][] } {
  const offset = literalAtomOffset(bytes, nocase);
  return { offset, atoms: literalAtomForms(bytes, offset, nocase) };
}

/** The atoms compileString gives a literal variant (they follow from its bytes, atom offset and case). */
export function variantAtoms(lit: LiteralVariant): number[][] {
  return literalAtomForms(lit.bytes, lit.atomOffset, lit.nocase);
}

/** The atoms compileString gives a masked hex pattern (they follow from its bytes and masks). */
export function maskedAtoms(masked: { value: string; mask: string }): RegexPattern["atoms"] {
  return patternAtoms(chooseMaskedAtoms(Buffer.from(masked.value, "hex"), Buffer.from(masked.mask, "hex")));
}

function patternAtoms(atoms: AtomChoice[] | null): RegexPattern["atoms"] {
  return atoms ? atoms.map((a) => ({ variants: a.variants, prefixMin: a.prefixMin, prefixMax: a.prefixMax })) : null;
}

function literal(bytes: string, nocase: boolean, xorKey: number | null, atomOffset?: number): LiteralVariant {
  const offset = atomOffset ?? literalAtomOffset(bytes, nocase);
  return { bytes, nocase, xorKey, atomOffset: offset, atoms: literalAtomForms(bytes, offset, nocase) };
}

/**
 * One object literal with every field in one order: all compiled strings share one hidden
 * class (built by spreading, each of a large feed's strings ended up with its own, 10 MB).
 */
function compiledString(
  base: Omit<CompiledString, "wideForms" | "literals" | "regexes">,
  wideForms: boolean[],
  literals: LiteralVariant[] | null,
  regexes: RegexPattern[] | null,
): CompiledString {
  return {
    id: base.id,
    kind: base.kind,
    private: base.private,
    fullword: base.fullword,
    slow: base.slow,
    slowAny: base.slowAny,
    wideForms: sharedForms(wideForms),
    literals,
    regexes,
  };
}

/** The common wideForms lists, shared by every string that has them (never mutated). */
const ASCII_FORMS: boolean[] = Object.freeze([false]) as unknown as boolean[];
const WIDE_FORMS: boolean[] = Object.freeze([true]) as unknown as boolean[];
const BOTH_FORMS: boolean[] = Object.freeze([false, true]) as unknown as boolean[];
function sharedForms(forms: boolean[]): boolean[] {
  if (forms.length === 1) return forms[0] ? WIDE_FORMS : ASCII_FORMS;
  if (forms.length === 2 && !forms[0] && forms[1]) return BOTH_FORMS;
  return forms;
}

/** Compiles one string definition. Throws PatternError with a message on invalid input. */
export function compileString(def: StringDef): CompiledString {
  const m = def.modifiers;
  const wide = !!m.wide;
  const ascii = !!m.ascii || !wide;
  const base = {
    id: def.id,
    kind: def.kind,
    private: !!m.private,
    fullword: !!m.fullword,
    slow: null as string | null,
    slowAny: undefined as string | undefined,
  };
  if (def.kind === "text") {
    if (m.nocase && m.xor)
      throw new PatternError("invalid modifier combination: nocase and xor cannot be used together");
    const b64 = m.base64 ?? m.base64wide;
    if ((m.base64 || m.base64wide) && (m.nocase || m.xor || m.fullword)) {
      throw new PatternError(
        `invalid modifier combination: base64 cannot be used with ${m.nocase ? "nocase" : m.xor ? "xor" : "fullword"}`,
      );
    }
    if (m.base64 && m.base64wide && (m.base64.alphabet ?? B64) !== (m.base64wide.alphabet ?? B64)) {
      throw new PatternError("base64 and base64wide must use the same alphabet");
    }
    const literals: LiteralVariant[] = [];
    const wideForms: boolean[] = [];
    const plains: Array<[string, boolean]> = [];
    if (ascii) plains.push([def.value, false]);
    if (wide) plains.push([wideOf(def.value), true]);
    if (b64) {
      const alphabet = b64.alphabet ?? B64;
      for (const [p] of plains) {
        for (const form of base64Forms(p, alphabet)) {
          if (m.base64) {
            literals.push(literal(form, false, null));
            wideForms.push(false);
          }
          if (m.base64wide) {
            literals.push(literal(wideOf(form), false, null));
            wideForms.push(true);
          }
        }
      }
    } else if (m.xor) {
      for (const [p, isWide] of plains) {
        // one atom position for every key, chosen on the plain text (as YARA does)
        const offset = literalAtomOffset(p, false);
        const codes = Uint8Array.from(p, (c) => c.charCodeAt(0));
        for (let k = m.xor.min; k <= m.xor.max; k++) {
          const x = Buffer.from(codes.map((b) => b ^ k)).toString("latin1");
          literals.push(literal(x, false, k, offset));
          wideForms.push(isWide);
        }
      }
    } else {
      for (const [p, isWide] of plains) {
        literals.push(literal(p, !!m.nocase, null));
        wideForms.push(isWide);
      }
    }
    // yara rates a text string by its plain text's best atom and the atoms made from it; a
    // base64 string is a regex of its forms there, each of which needs an atom
    const q = b64
      ? Math.min(
          ...literals.map((l) => literalQuality(l.bytes, { ascii: true, wide: false, nocase: false, xor: null })),
        )
      : literalQuality(def.value, { ascii, wide, nocase: !!m.nocase, xor: m.xor ?? null });
    if (q < ATOM_QUALITY_WARNING) base.slow = `string "${def.id}" may slow down scanning`;
    return compiledString(base, wideForms, literals, null);
  }
  if (def.kind === "hex") {
    let simple = true,
      plainBytes = true;
    for (const t of def.tokens) {
      if (t.type !== "byte" || t.not) {
        simple = false;
        break;
      }
      if (t.mask !== 0xff) plainBytes = false;
    }
    if (simple && (def.tokens.length <= RE_SCAN_LIMIT || plainBytes)) return maskedHex(def, base, plainBytes);
  }
  let node: ReNode;
  let plain: boolean;
  let yaraQuality: number;
  if (def.kind === "hex") {
    node = hexToRe(def.tokens);
    plain = def.tokens.every((t) => t.type === "byte" && t.mask === 0xff && !t.not);
    yaraQuality = patternQuality(node, true);
  } else {
    node = parseRegex(def.source, def.flags.includes("s"));
    plain = isLiteralSource(def.source);
    yaraQuality = patternQuality(node, false);
    if (def.flags.includes("i") || m.nocase) node = caseFold(node);
  }
  const forms: Array<[ReNode, boolean]> = [];
  if (def.kind === "hex" || ascii) forms.push([node, false]);
  if (def.kind === "regex" && wide) forms.push([widen(node), true]);
  const regexes: RegexPattern[] = [];
  // a masked hex string longer than the scan limit never matches in yara: it is verified as a
  // regex (which applies the limit), not compared in place
  const simpleHex =
    def.kind === "hex" &&
    def.tokens.every((t) => t.type === "byte" && !t.not) &&
    (def.tokens.length <= RE_SCAN_LIMIT || def.tokens.every((t) => t.type === "byte" && t.mask === 0xff));
  for (const [n] of forms) {
    const atoms = chooseAtoms(n);
    const [minLength, maxLength] = lengthRange(n);
    // a hex string compared in place at its atoms needs no pattern source (rules.ts): leaving
    // it out saves a large feed's compile a string of four characters per byte
    const source = simpleHex && atoms ? "" : toJsSource(n);
    checkMatcher(source);
    const pattern: RegexPattern = {
      source,
      atoms: atoms
        ? atoms.map((a: AtomChoice) => ({ variants: a.variants, prefixMin: a.prefixMin, prefixMax: a.prefixMax }))
        : null,
      minLength,
      maxLength,
    };
    if (hasAnchors(n)) pattern.anchored = true;
    if (plain) pattern.literal = true;
    if (simpleHex && def.kind === "hex") {
      // as hex text: compact in the serialised rules
      pattern.masked = {
        value: Buffer.from(def.tokens.map((t) => (t.type === "byte" ? t.value & t.mask : 0))).toString("hex"),
        mask: Buffer.from(def.tokens.map((t) => (t.type === "byte" ? t.mask : 0))).toString("hex"),
      };
    }
    regexes.push(pattern);
    // the warning is yara's (its atom quality), whatever atoms the engine found
    if (yaraQuality < ATOM_QUALITY_WARNING) base.slow = `string "${def.id}" may slow down scanning`;
  }
  if (def.kind === "regex" && hasUnboundedAny(node)) {
    // yara gives this warning besides the atom one
    base.slowAny = `${def.id} contains .*, .+ or .{x,} consider using .{,N}, .{1,N} or {x,N} with a reasonable value for N`;
  }
  return compiledString(
    base,
    forms.map(([, w]) => w),
    null,
    regexes,
  );
}

/**
 * A hex string of plain and masked bytes only (compared in place at its atoms, see
 * RegexPattern.masked): the same CompiledString as the general path of compileString, computed
 * from the bytes without building the pattern AST (most hex strings of the large feeds).
 */
function maskedHex(
  def: Extract<StringDef, { kind: "hex" }>,
  base: Omit<CompiledString, "wideForms" | "literals" | "regexes">,
  plainBytes: boolean,
): CompiledString {
  const n = def.tokens.length;
  const values = Buffer.allocUnsafe(n),
    masks = Buffer.allocUnsafe(n);
  for (let k = 0; k < n; k++) {
    const t = def.tokens[k] as Extract<HexNode, { type: "byte" }>;
    values[k] = t.value & t.mask;
    masks[k] = t.mask;
  }
  const atoms = chooseMaskedAtoms(values, masks);
  const source = atoms ? "" : toJsSource(hexToRe(def.tokens));
  checkMatcher(source);
  const pattern: RegexPattern = {
    source,
    atoms: patternAtoms(atoms),
    minLength: n,
    maxLength: n,
  };
  if (plainBytes) pattern.literal = true;
  pattern.masked = { value: values.toString("hex"), mask: masks.toString("hex") };
  if (maskedQuality(values, masks) < ATOM_QUALITY_WARNING) base.slow = `string "${def.id}" may slow down scanning`;
  return compiledString(base, [false], null, [pattern]);
}
