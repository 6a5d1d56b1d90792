/**
 * Runtime helpers called by compiled condition code (`h.*`). They implement YARA's value
 * semantics: `undefined` propagates through arithmetic and comparisons, integers are signed
 * 64-bit (JS numbers while they are safe integers, BigInt beyond, wrapped like int64),
 * division by zero is undefined, strings are byte strings. Small functions, so the JIT
 * inlines them into the rule functions.
 */
import type { RegexpValue } from "./modules/schema.js";

export type Int = number | bigint;
type U<T> = T | undefined;

const MAX = Number.MAX_SAFE_INTEGER;

function norm(v: bigint): Int {
  const w = BigInt.asIntN(64, v);
  return w >= -9007199254740991n && w <= 9007199254740991n ? Number(w) : w;
}
const big = (v: Int): bigint => (typeof v === "bigint" ? v : BigInt(v));

export interface MatchLists {
  /** per string: match offsets (sorted) and lengths. */
  mo: number[][];
  ml: number[][];
  r: Uint8Array;
}

function lowerAscii(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

export const helpers = {
  // ---- booleans ----
  nb(x: U<Int | number>): U<boolean> {
    return x === undefined ? undefined : x != 0;
  },
  sb(x: U<string>): U<boolean> {
    return x === undefined ? undefined : x.length > 0;
  },
  not(x: U<boolean>): U<boolean> {
    return x === undefined ? undefined : !x;
  },
  b2i(x: U<boolean>): U<number> {
    return x === undefined ? undefined : x ? 1 : 0;
  },

  // ---- comparisons ----
  eq(a: any, b: any): U<boolean> {
    return a === undefined || b === undefined ? undefined : a == b;
  },
  ne(a: any, b: any): U<boolean> {
    return a === undefined || b === undefined ? undefined : a != b;
  },
  lt(a: any, b: any): U<boolean> {
    return a === undefined || b === undefined ? undefined : a < b;
  },
  le(a: any, b: any): U<boolean> {
    return a === undefined || b === undefined ? undefined : a <= b;
  },
  gt(a: any, b: any): U<boolean> {
    return a === undefined || b === undefined ? undefined : a > b;
  },
  ge(a: any, b: any): U<boolean> {
    return a === undefined || b === undefined ? undefined : a >= b;
  },

  // ---- integer arithmetic (int64) ----
  add(a: U<Int>, b: U<Int>): U<Int> {
    if (a === undefined || b === undefined) return undefined;
    if (typeof a === "number" && typeof b === "number") {
      const r = a + b;
      if (r <= MAX && r >= -MAX) return r;
    }
    return norm(big(a) + big(b));
  },
  sub(a: U<Int>, b: U<Int>): U<Int> {
    if (a === undefined || b === undefined) return undefined;
    if (typeof a === "number" && typeof b === "number") {
      const r = a - b;
      if (r <= MAX && r >= -MAX) return r;
    }
    return norm(big(a) - big(b));
  },
  mul(a: U<Int>, b: U<Int>): U<Int> {
    if (a === undefined || b === undefined) return undefined;
    if (typeof a === "number" && typeof b === "number") {
      const r = a * b;
      if (r <= MAX && r >= -MAX) return r === 0 ? 0 : r;
    }
    return norm(big(a) * big(b));
  },
  div(a: U<Int>, b: U<Int>): U<Int> {
    if (a === undefined || b === undefined || b == 0) return undefined;
    if (typeof a === "number" && typeof b === "number" && Math.abs(a) < 2 ** 50) {
      const r = Math.trunc(a / b);
      return r === 0 ? 0 : r;
    }
    if (b == -1 && big(a) === -0x8000000000000000n) return undefined; // INT64_MIN \ -1 overflows: undefined, as in YARA 4.5
    return norm(big(a) / big(b));
  },
  mod(a: U<Int>, b: U<Int>): U<Int> {
    if (a === undefined || b === undefined || b == 0) return undefined;
    if (typeof a === "number" && typeof b === "number") {
      const r = a % b;
      return r === 0 ? 0 : r;
    }
    if (b == -1 && big(a) === -0x8000000000000000n) return undefined; // as INT64_MIN \ -1
    return norm(big(a) % big(b));
  },
  neg(a: U<Int>): U<Int> {
    if (a === undefined) return undefined;
    if (typeof a === "number") return a === 0 ? 0 : -a;
    return norm(-a);
  },
  band(a: U<Int>, b: U<Int>): U<Int> {
    if (a === undefined || b === undefined) return undefined;
    if (typeof a === "number" && typeof b === "number" && (a | 0) === a && (b | 0) === b) return a & b;
    return norm(big(a) & big(b));
  },
  bor(a: U<Int>, b: U<Int>): U<Int> {
    if (a === undefined || b === undefined) return undefined;
    if (typeof a === "number" && typeof b === "number" && (a | 0) === a && (b | 0) === b) return a | b;
    return norm(big(a) | big(b));
  },
  bxor(a: U<Int>, b: U<Int>): U<Int> {
    if (a === undefined || b === undefined) return undefined;
    if (typeof a === "number" && typeof b === "number" && (a | 0) === a && (b | 0) === b) return a ^ b;
    return norm(big(a) ^ big(b));
  },
  bnot(a: U<Int>): U<Int> {
    if (a === undefined) return undefined;
    if (typeof a === "number") return -a - 1;
    return norm(~a);
  },
  shl(a: U<Int>, b: U<Int>): U<Int> {
    if (a === undefined || b === undefined) return undefined;
    if (b < 0) return undefined;
    if (b >= 64) return 0;
    return norm(big(a) << big(b));
  },
  shr(a: U<Int>, b: U<Int>): U<Int> {
    if (a === undefined || b === undefined) return undefined;
    if (b < 0) return undefined;
    if (b >= 64) return 0;
    return norm(big(a) >> big(b));
  },

  // ---- float arithmetic ----
  num(a: U<Int>): U<number> {
    return a === undefined ? undefined : Number(a);
  },
  fadd(a: U<Int>, b: U<Int>): U<number> {
    return a === undefined || b === undefined ? undefined : Number(a) + Number(b);
  },
  fsub(a: U<Int>, b: U<Int>): U<number> {
    return a === undefined || b === undefined ? undefined : Number(a) - Number(b);
  },
  fmul(a: U<Int>, b: U<Int>): U<number> {
    return a === undefined || b === undefined ? undefined : Number(a) * Number(b);
  },
  fdiv(a: U<Int>, b: U<Int>): U<number> {
    return a === undefined || b === undefined ? undefined : Number(a) / Number(b);
  },
  fmod(a: U<Int>, b: U<Int>): U<number> {
    return a === undefined || b === undefined ? undefined : Number(a) % Number(b);
  },
  fneg(a: U<number>): U<number> {
    return a === undefined ? undefined : -a;
  },

  // ---- strings ----
  contains(a: U<string>, b: U<string>): U<boolean> {
    return a === undefined || b === undefined ? undefined : a.includes(b);
  },
  icontains(a: U<string>, b: U<string>): U<boolean> {
    return a === undefined || b === undefined ? undefined : lowerAscii(a).includes(lowerAscii(b));
  },
  startswith(a: U<string>, b: U<string>): U<boolean> {
    return a === undefined || b === undefined ? undefined : a.startsWith(b);
  },
  istartswith(a: U<string>, b: U<string>): U<boolean> {
    return a === undefined || b === undefined ? undefined : lowerAscii(a).startsWith(lowerAscii(b));
  },
  endswith(a: U<string>, b: U<string>): U<boolean> {
    return a === undefined || b === undefined ? undefined : a.endsWith(b);
  },
  iendswith(a: U<string>, b: U<string>): U<boolean> {
    return a === undefined || b === undefined ? undefined : lowerAscii(a).endsWith(lowerAscii(b));
  },
  iequals(a: U<string>, b: U<string>): U<boolean> {
    return a === undefined || b === undefined ? undefined : lowerAscii(a) === lowerAscii(b);
  },
  matches(a: U<string>, re: RegExp): U<boolean> {
    return a === undefined ? undefined : re.test(a);
  },
  reArg(re: RegExp): RegexpValue {
    return {
      test: (s: string) => re.test(s),
      source: re.source,
      matchLength: (s: string) => {
        const m = re.exec(s);
        return m ? m[0].length : -1;
      },
    };
  },

  // ---- data access ----
  uint8(d: Uint8Array, o: U<Int>): U<number> {
    if (o === undefined) return undefined;
    const i = Number(o);
    return i >= 0 && i < d.length ? d[i] : undefined;
  },
  int8(d: Uint8Array, o: U<Int>): U<number> {
    const v = helpers.uint8(d, o);
    return v === undefined ? undefined : (v << 24) >> 24;
  },
  uint16(d: Uint8Array, o: U<Int>): U<number> {
    if (o === undefined) return undefined;
    const i = Number(o);
    return i >= 0 && i + 2 <= d.length ? d[i]! | (d[i + 1]! << 8) : undefined;
  },
  int16(d: Uint8Array, o: U<Int>): U<number> {
    const v = helpers.uint16(d, o);
    return v === undefined ? undefined : (v << 16) >> 16;
  },
  uint32(d: Uint8Array, o: U<Int>): U<number> {
    const v = helpers.int32(d, o);
    return v === undefined ? undefined : v >>> 0;
  },
  int32(d: Uint8Array, o: U<Int>): U<number> {
    if (o === undefined) return undefined;
    const i = Number(o);
    return i >= 0 && i + 4 <= d.length ? d[i]! | (d[i + 1]! << 8) | (d[i + 2]! << 16) | (d[i + 3]! << 24) : undefined;
  },
  uint8be(d: Uint8Array, o: U<Int>): U<number> {
    return helpers.uint8(d, o);
  },
  int8be(d: Uint8Array, o: U<Int>): U<number> {
    return helpers.int8(d, o);
  },
  uint16be(d: Uint8Array, o: U<Int>): U<number> {
    if (o === undefined) return undefined;
    const i = Number(o);
    return i >= 0 && i + 2 <= d.length ? (d[i]! << 8) | d[i + 1]! : undefined;
  },
  int16be(d: Uint8Array, o: U<Int>): U<number> {
    const v = helpers.uint16be(d, o);
    return v === undefined ? undefined : (v << 16) >> 16;
  },
  uint32be(d: Uint8Array, o: U<Int>): U<number> {
    const v = helpers.int32be(d, o);
    return v === undefined ? undefined : v >>> 0;
  },
  int32be(d: Uint8Array, o: U<Int>): U<number> {
    if (o === undefined) return undefined;
    const i = Number(o);
    return i >= 0 && i + 4 <= d.length ? (d[i]! << 24) | (d[i + 1]! << 16) | (d[i + 2]! << 8) | d[i + 3]! : undefined;
  },

  // ---- module values ----
  fld(o: any, name: string): any {
    return o === undefined || o === null ? undefined : o[name];
  },
  idx(a: any, i: U<Int>): any {
    if (a === undefined || i === undefined || !Array.isArray(a)) return undefined;
    const k = Number(i);
    return k >= 0 && k < a.length ? a[k] : undefined;
  },
  dget(d: any, k: U<string>): any {
    return d === undefined || k === undefined || !(d instanceof Map) ? undefined : d.get(k);
  },

  // ---- string matches ----
  at(offsets: number[], o: U<Int>): U<boolean> {
    if (o === undefined) return undefined;
    const x = Number(o);
    // binary search: offsets are sorted
    let lo = 0,
      hi = offsets.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = offsets[mid]!;
      if (v === x) return true;
      if (v < x) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  },
  inr(offsets: number[], lo: U<Int>, hi: U<Int>): U<boolean> {
    if (lo === undefined || hi === undefined) return undefined;
    const a = Number(lo),
      b = Number(hi);
    for (const o of offsets) {
      if (o > b) break;
      if (o >= a) return true;
    }
    return false;
  },
  cntin(offsets: number[], lo: U<Int>, hi: U<Int>): U<number> {
    if (lo === undefined || hi === undefined) return undefined;
    const a = Number(lo),
      b = Number(hi);
    let n = 0;
    for (const o of offsets) {
      if (o > b) break;
      if (o >= a) n++;
    }
    return n;
  },
  nth(list: number[], i: U<Int>): U<number> {
    if (i === undefined) return undefined;
    const k = Number(i);
    return k >= 1 && k <= list.length ? list[k - 1] : undefined;
  },
  anyMatched(c: MatchLists, sids: number[]): boolean {
    for (let i = 0; i < sids.length; i++) if (c.mo[sids[i]!]!.length > 0) return true;
    return false;
  },
  countMatched(c: MatchLists, sids: number[]): number {
    let n = 0;
    for (let i = 0; i < sids.length; i++) if (c.mo[sids[i]!]!.length > 0) n++;
    return n;
  },
  countAt(c: MatchLists, sids: number[], o: U<Int>): U<number> {
    if (o === undefined) return undefined;
    let n = 0;
    for (const s of sids) if (helpers.at(c.mo[s]!, o)) n++;
    return n;
  },
  countIn(c: MatchLists, sids: number[], lo: U<Int>, hi: U<Int>): U<number> {
    if (lo === undefined || hi === undefined) return undefined;
    let n = 0;
    for (const s of sids) if (helpers.inr(c.mo[s]!, lo, hi)) n++;
    return n;
  },
  countRules(c: MatchLists, rules: number[]): number {
    let n = 0;
    for (const r of rules) if (c.r[r] === 1) n++;
    return n;
  },
  quant(count: U<number>, total: number, kind: string, n: U<Int>): U<boolean> {
    if (count === undefined) return undefined;
    switch (kind) {
      case "all":
        return count === total;
      case "any":
        return count >= 1;
      case "none":
        return count === 0;
      case "pct":
        return helpers.pct(count, total, n);
      default:
        return helpers.atLeast(count, n);
    }
  },
  atLeast(count: number, n: U<Int>): U<boolean> {
    return n === undefined ? undefined : count >= Number(n);
  },
  pct(count: number, total: number, p: U<Int>): U<boolean> {
    if (p === undefined) return undefined;
    return total === 0 ? false : (count * 100) / total >= Number(p);
  },

  /** calls a module function (set up per rule set: c.fn). */
  call(c: { fn: Array<(self: any, ...args: any[]) => unknown> }, fi: number, self: any, ...args: any[]): any {
    for (let i = 0; i < args.length; i++) if (args[i] === undefined) return undefined;
    const r = c.fn[fi]!(self, ...args);
    return r === null ? undefined : r;
  },
};

export type Helpers = typeof helpers;
