/**
 * Atom quality as yara rates it (facts from yara's libyara/atoms.c, heuristic mode): pattern
 * ASTs and literal strings -> a number on yara's scale, from which the "may slow down scanning"
 * warning is given, and by which regex.ts and patterns.ts choose their atoms.
 *
 * An atom is up to 4 bytes, each known (mask ff), half known (a nibble mask, 0f or f0) or any
 * byte (mask 00). Known bytes score 12 when very common (00 20 cc ff), 18 for ASCII letters of
 * either case, 20 otherwise; a half-known byte 4; an unknown byte -10. Then +2 per distinct known
 * byte, except that an atom whose known bytes are all one very common byte (00 20 90 cc ff)
 * loses 10 per byte instead. yara's scale adds this to 255 - 22 * 4, so four distinct uncommon
 * bytes give 255 and the warning is for a string whose atoms score below 255 - 88 + 38 = 205
 * (38: "61 61" passes, "00 01" at 36 does not).
 */
import { type ReNode, setHas, setSize } from "./regex.js";

/** yara's YR_MAX_ATOM_QUALITY, and the quality of "no atom at all" (YR_MIN_ATOM_QUALITY). */
export const ATOM_QUALITY_MAX = 255;
export const ATOM_QUALITY_NONE = 0;
/** below this, yara warns that the string may slow down scanning. */
export const ATOM_QUALITY_WARNING = 255 - 22 * 4 + 38;
const BASE = 255 - 22 * 4;
/** yara splits a hex string (or regex) at a lazy gap longer than this into chained pieces, each with its own atoms. */
const CHAINING_THRESHOLD = 200;

const isLetter = (b: number) => (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);

/** The score of one known byte. */
export function knownByteScore(b: number): number {
  if (b === 0x00 || b === 0x20 || b === 0xcc || b === 0xff) return 12;
  return isLetter(b) ? 18 : 20;
}

/** The all-one-byte penalty applies to these. */
const isVeryCommon = (b: number) => b === 0x00 || b === 0x20 || b === 0x90 || b === 0xcc || b === 0xff;

/**
 * yara's heuristic quality of the atom `values`/`masks`[from, from + len) (on yara's scale).
 * `fold`: letters count as one distinct byte whatever their case (the worst of an atom's
 * nocase forms). No allocation: it runs for every window of every string.
 */
export function atomQualityAt(
  values: ArrayLike<number>,
  masks: ArrayLike<number> | null,
  from: number,
  len: number,
  fold = false,
): number {
  let q = 0;
  let unique = 0;
  // at most 4 distinct bytes: kept in four locals
  let u0 = -1,
    u1 = -1,
    u2 = -1,
    u3 = -1;
  for (let k = from; k < from + len; k++) {
    const mask = masks === null ? 0xff : masks[k]!;
    if (mask === 0) q -= 10;
    else if (mask !== 0xff) q += 4;
    else {
      let b = values[k]!;
      if (fold && b >= 0x41 && b <= 0x5a) b += 32;
      q += knownByteScore(b);
      if (b !== u0 && b !== u1 && b !== u2 && b !== u3) {
        if (unique === 0) u0 = b;
        else if (unique === 1) u1 = b;
        else if (unique === 2) u2 = b;
        else u3 = b;
        unique++;
      }
    }
  }
  if (unique === 1 && isVeryCommon(u0)) q -= 10 * len;
  else q += 2 * unique;
  return BASE + q;
}

/** Quality of known bytes (a literal's window). */
export function bytesQuality(bytes: ArrayLike<number>, from: number, len: number, fold = false): number {
  return atomQualityAt(bytes, null, from, len, fold);
}

/**
 * The best atom of a run of atom bytes, as yara's sliding window of 4 picks it, and its
 * quality (NONE when it trims to nothing). yara's trim of a window: unknown bytes at either end
 * go; when what is left has at least as many unknown bytes as known ones, only its first byte
 * is kept.
 */
function runQuality(values: ArrayLike<number>, masks: ArrayLike<number>): number {
  const n = values.length;
  if (n === 0) return ATOM_QUALITY_NONE;
  let bestQ = -Infinity,
    bestLen = 0;
  const windows = n <= 4 ? 1 : n - 3;
  for (let k = 0; k < windows; k++) {
    let from = k,
      to = Math.min(n, k + 4);
    while (from < to && masks[from] === 0) from++;
    while (to > from && masks[to - 1] === 0) to--;
    let known = 0,
      unknown = 0;
    for (let j = from; j < to; j++) {
      if (masks[j] === 0xff) known++;
      else if (masks[j] === 0) unknown++;
    }
    if (to > from && unknown >= known) to = from + 1;
    const q = atomQualityAt(values, masks, from, to - from);
    if (q > bestQ) {
      bestQ = q;
      bestLen = to - from;
      if (bestQ >= ATOM_QUALITY_MAX && bestLen > 0) break; // no window scores higher
    }
  }
  return bestLen > 0 ? bestQ : ATOM_QUALITY_NONE;
}

/**
 * The atom byte a pattern node stands for in yara's atom extraction, as value | mask << 8
 * (mask 0xff known, 0x0f / 0xf0 half known, 0 any byte), or -1 (a class: it ends the run).
 */
function atomByte(n: ReNode): number {
  if (n.t !== "set") return -1;
  if (n.dot) return 0;
  const size = setSize(n.bits);
  if (size === 1) {
    for (let w = 0; w < 8; w++) if (n.bits[w]) return (w * 32 + (31 - Math.clz32(n.bits[w]!))) | 0xff00;
  }
  if (size === 16) {
    let first = -1;
    for (let b = 0; b < 256; b++)
      if (setHas(n.bits, b)) {
        first = b;
        break;
      }
    let hi = true,
      lo = true;
    for (let b = 0; b < 256; b++) {
      const inSet = setHas(n.bits, b);
      if (inSet !== ((b & 0xf0) === (first & 0xf0))) hi = false;
      if (inSet !== ((b & 0x0f) === (first & 0x0f))) lo = false;
    }
    if (hi) return (first & 0xf0) | 0xf000;
    if (lo) return (first & 0x0f) | 0x0f00;
  }
  return -1;
}

const isDotRep = (n: ReNode) => n.t === "rep" && n.node.t === "set" && !!n.node.dot;

/**
 * yara's quality of the atoms it would choose for a pattern: runs of atom bytes (across
 * concatenations and groups, into the first repetitions of a repeated item) give one atom
 * each, and the best of them is taken; an alternation counts as its worst branch (every
 * branch needs an atom), an empty branch as no atom. Call it on the AST before nocase folding
 * and widening (yara rates the atoms before it expands them); `hex`: the AST of a hex string.
 */
export function patternQuality(node: ReNode, hex: boolean): number {
  // a lazy gap longer than the chaining threshold splits the pattern into pieces rated apart
  if (node.t === "cat") {
    const pieces: ReNode[][] = [[]];
    node.items.forEach((it, k) => {
      if (
        k > 0 &&
        k < node.items.length - 1 &&
        it.t === "rep" &&
        !it.greedy &&
        isDotRep(it) &&
        // an open hex jump [n-] is one such gap; a regex's .*? is not (yara's STAR, not a range)
        (it.min > CHAINING_THRESHOLD || (it.max === null ? hex : it.max > CHAINING_THRESHOLD))
      )
        pieces.push([]);
      else pieces[pieces.length - 1]!.push(it);
    });
    if (pieces.length > 1)
      return Math.min(...pieces.map((p) => orQuality(p.length === 1 ? p[0]! : { t: "cat", items: p })));
  }
  return orQuality(node);
}

/**
 * patternQuality of a hex string of plain and masked bytes only (no jumps, alternatives or ~),
 * from its values (already masked) and masks: the whole string is one run of atom bytes.
 */
export function maskedQuality(values: ArrayLike<number>, masks: ArrayLike<number>): number {
  return runQuality(values, masks);
}

function orQuality(root: ReNode): number {
  const candidates: number[] = [];
  const values: number[] = [],
    masks: number[] = [];
  const flush = () => {
    if (values.length > 0) candidates.push(runQuality(values, masks));
    values.length = 0;
    masks.length = 0;
  };
  const walk = (n: ReNode, depth: number): void => {
    if (depth > 200) {
      flush();
      return;
    }
    switch (n.t) {
      case "set": {
        const a = atomByte(n);
        if (a >= 0) {
          values.push(a & 0xff);
          masks.push(a >> 8);
        } else flush();
        return;
      }
      case "cat":
        for (const it of n.items) walk(it, depth + 1);
        return;
      case "alt": {
        flush();
        candidates.push(Math.min(...n.alts.map((a) => orQuality(a))));
        return;
      }
      case "rep": {
        if (isDotRep(n)) {
          // .+ reads one any-byte into the run; other repetitions of the dot are gaps
          if (n.min === 1 && n.max === null) walk(n.node, depth + 1);
          flush();
          return;
        }
        const times = n.max === null && n.min === 0 ? 0 : n.max === null && n.min === 1 ? 1 : Math.min(n.min, 4);
        for (let k = 0; k < times; k++) walk(n.node, depth + 1);
        flush();
        return;
      }
      default:
        flush();
    }
  };
  walk(root, 0);
  flush();
  return candidates.length === 0 ? ATOM_QUALITY_NONE : Math.max(...candidates);
}

/**
 * yara's quality for a text string: the best window of 4 bytes of the plain text, then the
 * worst of the atoms made from it (its wide form, each xor key; nocase forms rate as the
 * lowercase one).
 */
export function literalQuality(
  text: string,
  opts: { ascii: boolean; wide: boolean; nocase: boolean; xor: { min: number; max: number } | null },
): number {
  const n = text.length;
  const len = Math.min(4, n);
  const w = SCRATCH;
  const window = (off: number, l: number) => {
    for (let k = 0; k < l; k++) w[k] = text.charCodeAt(off + k);
    return bytesQuality(w, 0, l);
  };
  let bestOff = 0;
  let best = window(0, len);
  for (let off = 1; off + 4 <= n && best < ATOM_QUALITY_MAX; off++) {
    const q = window(off, 4);
    if (q > best) {
      best = q;
      bestOff = off;
    }
  }
  let min = best;
  for (let form = 0; form < 2; form++) {
    if (form === 0 ? !opts.ascii : !opts.wide) continue;
    // the narrow atom, or the first 4 bytes of its wide form
    const l = form === 0 ? len : Math.min(4, 2 * len);
    for (let k = 0; k < l; k++)
      w[k] = form === 0 ? text.charCodeAt(bestOff + k) : k & 1 ? 0 : text.charCodeAt(bestOff + (k >> 1));
    if (!opts.xor) {
      min = Math.min(min, bytesQuality(w, 0, l, opts.nocase));
      continue;
    }
    for (let key = opts.xor.min; key <= opts.xor.max; key++) {
      for (let k = 0; k < l; k++) XORED[k] = w[k]! ^ key;
      min = Math.min(min, bytesQuality(XORED, 0, l));
    }
  }
  return min;
}

const SCRATCH = new Uint8Array(4);
const XORED = new Uint8Array(4);
