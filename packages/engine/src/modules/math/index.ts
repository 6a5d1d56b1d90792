/**
 * The `math` module (YARA 4.5): statistics over a range of the scanned data `(offset, size)` or
 * over a string (entropy, mean, deviation, serial_correlation, monte_carlo_pi), byte counts over a
 * range or the whole data (count, percentage, mode), and integer helpers (in_range, min, max,
 * to_number, abs, to_string). MEAN_BYTES is 127.5.
 *
 * Results are computed with the same operations in the same order as YARA, so floats compare
 * equal with `==` as they do under yara: range statistics go through a 256-entry byte histogram
 * (summed by byte value), string statistics walk the bytes in order and, like YARA on x86, treat
 * string bytes as signed chars for mean, deviation and serial_correlation. percentage divides in
 * single precision as YARA does. Ranges follow YARA's rule (undefined for a negative offset or
 * size or an offset at or past the end; clipped to the end). Histograms are cached per scan in
 * `ctx.cache`.
 *
 * Differences from Debian's yara 4.2.3, which predates them: `to_string` (4.3+) is provided as
 * YARA 4.5 documents it. `to_number` takes a boolean in YARA; here booleans are integers 0/1.
 */
import {
  float,
  overloads,
  struct,
  type FieldType,
  type ScanContext,
  type StructType,
  type YaraModule,
} from "../schema.js";
import { dataRange, intArg } from "../hash/range.js";

function histogram(bytes: Uint8Array, start: number, end: number): Uint32Array {
  // four interleaved tables avoid a store-to-load dependency when neighbouring bytes repeat
  const a = new Uint32Array(256),
    b = new Uint32Array(256),
    c = new Uint32Array(256),
    d = new Uint32Array(256);
  let i = start;
  for (; i + 4 <= end; i += 4) {
    a[bytes[i]!]!++;
    b[bytes[i + 1]!]!++;
    c[bytes[i + 2]!]!++;
    d[bytes[i + 3]!]!++;
  }
  for (; i < end; i++) a[bytes[i]!]!++;
  for (let k = 0; k < 256; k++) a[k] = a[k]! + b[k]! + c[k]! + d[k]!;
  return a;
}

/** The byte histogram of YARA's (offset, size) range, or undefined where YARA's is. */
function rangeHistogram(ctx: ScanContext, offset: unknown, size: unknown): Uint32Array | undefined {
  const r = dataRange(ctx.data, offset, size);
  if (r === undefined) return undefined;
  const key = `math:hist:${r[0]}:${r[1]}`;
  const hit = ctx.cache.get(key);
  if (hit instanceof Uint32Array) return hit;
  const h = histogram(ctx.data, r[0], r[1]);
  ctx.cache.set(key, h);
  return h;
}

/** The whole data's histogram; undefined for empty data, as yara has no data block to read then. */
function globalHistogram(ctx: ScanContext): Uint32Array | undefined {
  return rangeHistogram(ctx, 0, ctx.data.length);
}

function total(h: Uint32Array): number {
  let t = 0;
  for (let i = 0; i < 256; i++) t += h[i]!;
  return t;
}

function entropyOf(h: Uint32Array, n: number): number {
  let e = 0;
  for (let i = 0; i < 256; i++) {
    const c = h[i]!;
    if (c !== 0) {
      const x = c / n;
      e -= x * Math.log2(x);
    }
  }
  return e;
}

/** Bytes as C's (signed) char on x86. */
const signed = (b: number): number => (b << 24) >> 24;

function serialCorrelation(values: ArrayLike<number>, n: number, map: (b: number) => number): number {
  let t1 = 0;
  let t2 = 0;
  let t3 = 0;
  let last = 0;
  for (let i = 0; i < n; i++) {
    const u = map(values[i]!);
    t1 += last * u;
    t2 += u;
    t3 += u * u;
    last = u;
  }
  if (n > 0) t1 += last * map(values[0]!);
  t2 *= t2;
  const d = n * t3 - t2;
  return d === 0 ? -100000 : (n * t1 - t2) / d;
}

const INCIRC = (256.0 ** 3.0 - 1) ** 2.0;
const PI = 3.141592653589793;

function monteCarloPi(values: ArrayLike<number>, n: number, map: (b: number) => number): number | undefined {
  const monte = [0, 0, 0, 0, 0, 0];
  let count = 0;
  let inside = 0;
  for (let i = 0; i < n; i++) {
    monte[i % 6] = map(values[i]!);
    if (i % 6 === 5) {
      count++;
      let mx = 0;
      let my = 0;
      for (let j = 0; j < 3; j++) {
        mx = mx * 256.0 + monte[j]!;
        my = my * 256.0 + monte[j + 3]!;
      }
      if (mx * mx + my * my <= INCIRC) inside++;
    }
  }
  if (count === 0) return undefined;
  const mpi = 4.0 * (inside / count);
  return Math.abs((mpi - PI) / PI);
}

const codes = (s: string): number[] => {
  const out = new Array<number>(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
};

function byteArg(v: unknown): number | undefined {
  const b = intArg(v);
  return b >= 0 && b <= 255 ? b : undefined;
}

/** YARA integers as int64 bigints. */
const i64 = (v: unknown): bigint => BigInt.asIntN(64, typeof v === "bigint" ? v : BigInt(Math.trunc(Number(v)) || 0));
/** A bigint result as a YARA integer value (number when safe). */
const intValue = (b: bigint): number | bigint => {
  const s = BigInt.asIntN(64, b);
  return s >= BigInt(Number.MIN_SAFE_INTEGER) && s <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(s) : s;
};

/** YARA turns a NaN result (e.g. the mean of an empty string, 0/0) into undefined. */
function noNaN(decls: StructType): StructType {
  const fields: Record<string, FieldType> = {};
  for (const [name, t] of Object.entries(decls.fields)) {
    fields[name] =
      t.kind !== "function"
        ? t
        : {
            kind: "function",
            overloads: t.overloads.map((o) =>
              o.returns !== "float"
                ? o
                : {
                    ...o,
                    impl: (self: unknown, ctx: ScanContext, ...args: unknown[]) => {
                      const v = o.impl(self, ctx, ...args);
                      return typeof v === "number" && Number.isNaN(v) ? undefined : v;
                    },
                  },
            ),
          };
  }
  return struct(fields);
}

export const mathModule: YaraModule = {
  name: "math",
  declarations: noNaN(
    struct({
      MEAN_BYTES: float,
      in_range: overloads([
        "fff",
        "integer",
        (_s, _c, test: number, lower: number, upper: number) => (lower <= test && test <= upper ? 1 : 0),
      ]),
      deviation: overloads(
        [
          "iif",
          "float",
          (_s, ctx, offset, size, mean: number) => {
            const h = rangeHistogram(ctx, offset, size);
            if (h === undefined) return undefined;
            let sum = 0;
            let n = 0;
            for (let i = 0; i < 256; i++) {
              n += h[i]!;
              sum += Math.abs(i - mean) * h[i]!;
            }
            return sum / n;
          },
        ],
        [
          "sf",
          "float",
          (_s, _c, str: string, mean: number) => {
            let sum = 0;
            for (let i = 0; i < str.length; i++) sum += Math.abs(signed(str.charCodeAt(i) & 0xff) - mean);
            return sum / str.length;
          },
        ],
      ),
      mean: overloads(
        [
          "ii",
          "float",
          (_s, ctx, offset, size) => {
            const h = rangeHistogram(ctx, offset, size);
            if (h === undefined) return undefined;
            let sum = 0;
            let n = 0;
            for (let i = 0; i < 256; i++) {
              n += h[i]!;
              sum += i * h[i]!;
            }
            return sum / n;
          },
        ],
        [
          "s",
          "float",
          (_s, _c, str: string) => {
            let sum = 0;
            for (let i = 0; i < str.length; i++) sum += signed(str.charCodeAt(i) & 0xff);
            return sum / str.length;
          },
        ],
      ),
      serial_correlation: overloads(
        [
          "ii",
          "float",
          (_s, ctx, offset, size) => {
            const r = dataRange(ctx.data, offset, size);
            if (r === undefined) return undefined;
            return serialCorrelation(ctx.data.subarray(r[0], r[1]), r[1] - r[0], (b) => b);
          },
        ],
        ["s", "float", (_s, _c, str: string) => serialCorrelation(codes(str), str.length, signed)],
      ),
      monte_carlo_pi: overloads(
        [
          "ii",
          "float",
          (_s, ctx, offset, size) => {
            const r = dataRange(ctx.data, offset, size);
            if (r === undefined) return undefined;
            return monteCarloPi(ctx.data.subarray(r[0], r[1]), r[1] - r[0], (b) => b);
          },
        ],
        // YARA converts a (signed) char to unsigned int: bytes >= 0x80 become 0xFFFFFF80.. .
        ["s", "float", (_s, _c, str: string) => monteCarloPi(codes(str), str.length, (b) => signed(b) >>> 0)],
      ),
      entropy: overloads(
        [
          "ii",
          "float",
          (_s, ctx, offset, size) => {
            const h = rangeHistogram(ctx, offset, size);
            return h === undefined ? undefined : entropyOf(h, total(h));
          },
        ],
        [
          "s",
          "float",
          (_s, _c, str: string) => {
            const b = codes(str);
            const h = new Uint32Array(256);
            for (const x of b) h[x]!++;
            return entropyOf(h, str.length);
          },
        ],
      ),
      min: overloads([
        "ii",
        "integer",
        (_s, _c, a, b) => {
          const x = BigInt.asUintN(64, i64(a));
          const y = BigInt.asUintN(64, i64(b));
          return intValue(x < y ? x : y);
        },
      ]),
      max: overloads([
        "ii",
        "integer",
        (_s, _c, a, b) => {
          const x = BigInt.asUintN(64, i64(a));
          const y = BigInt.asUintN(64, i64(b));
          return intValue(x > y ? x : y);
        },
      ]),
      to_number: overloads([
        "i",
        "integer",
        (_s, _c, v) => ((typeof v === "bigint" ? v !== 0n : Number(v) !== 0) ? 1 : 0),
      ]),
      abs: overloads([
        "i",
        "integer",
        (_s, _c, v) => {
          const x = i64(v);
          return intValue(x < 0n ? -x : x);
        },
      ]),
      count: overloads(
        [
          "iii",
          "integer",
          (_s, ctx, byte, offset, size) => {
            const b = byteArg(byte);
            if (b === undefined) return undefined;
            return rangeHistogram(ctx, offset, size)?.[b];
          },
        ],
        [
          "i",
          "integer",
          (_s, ctx, byte) => {
            const b = byteArg(byte);
            return b === undefined ? undefined : globalHistogram(ctx)?.[b];
          },
        ],
      ),
      percentage: overloads(
        [
          "iii",
          "float",
          (_s, ctx, byte, offset, size) => {
            const b = byteArg(byte);
            if (b === undefined) return undefined;
            const h = rangeHistogram(ctx, offset, size);
            return h === undefined ? undefined : Math.fround(Math.fround(h[b]!) / Math.fround(total(h)));
          },
        ],
        [
          "i",
          "float",
          (_s, ctx, byte) => {
            const b = byteArg(byte);
            if (b === undefined) return undefined;
            const h = globalHistogram(ctx);
            if (h === undefined) return undefined;
            return Math.fround(Math.fround(h[b]!) / Math.fround(total(h)));
          },
        ],
      ),
      mode: overloads(
        [
          "ii",
          "integer",
          (_s, ctx, offset, size) => {
            const h = rangeHistogram(ctx, offset, size);
            return h === undefined ? undefined : modeOf(h);
          },
        ],
        [
          "",
          "integer",
          (_s, ctx) => {
            const h = globalHistogram(ctx);
            return h === undefined ? undefined : modeOf(h);
          },
        ],
      ),
      to_string: overloads(
        ["i", "string", (_s, _c, v) => i64(v).toString(10)],
        [
          "ii",
          "string",
          (_s, _c, v, base) => {
            const x = i64(v);
            switch (intArg(base)) {
              case 10:
                return x.toString(10);
              case 8:
                return BigInt.asUintN(64, x).toString(8);
              case 16:
                return BigInt.asUintN(64, x).toString(16);
              default:
                return undefined;
            }
          },
        ],
      ),
    }),
  ),
  load: () => ({ MEAN_BYTES: 127.5 }),
};

function modeOf(h: Uint32Array): number {
  let best = 0;
  for (let i = 0; i < 256; i++) if (h[i]! > h[best]!) best = i;
  return best;
}
