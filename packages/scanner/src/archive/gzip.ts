/**
 * gzip (RFC 1952), bzip2 and xz single-member "archives": the decoded stream is one member, named
 * from the gzip FNAME field when present, else from the outer name without its suffix.
 *
 * Damaged streams (a flipped CRC or length trailer, a truncated stream, an invalid code or
 * distance, a bad bzip2 block) still yield the bytes that decode before the damage, as `gzip
 * -dc`, `bzip2 -dc` and `xz -dc` write them out, together with a `problem` saying what was wrong:
 * the scan looks at those bytes and reports the damage beside its result.
 */
import { constants as Z, gunzipSync, inflateRawSync } from "node:zlib";
import { createRequire } from "node:module";
import { cleanName, overLimit, OutputLimit, type Member, type OutputCap } from "./types.js";
import { unxzSalvage } from "./xz.js";

export function isGzip(b: Uint8Array): boolean {
  return b.length >= 18 && b[0] === 0x1f && b[1] === 0x8b && b[2] === 8;
}

export function isBzip2(b: Uint8Array): boolean {
  return (
    b.length >= 14 &&
    b[0] === 0x42 &&
    b[1] === 0x5a &&
    b[2] === 0x68 &&
    b[3]! >= 0x31 &&
    b[3]! <= 0x39 &&
    b[4] === 0x31 &&
    b[5] === 0x41
  );
}

function gzipName(b: Uint8Array): string | undefined {
  const flags = b[3]!;
  if (!(flags & 8)) return undefined;
  let p = 10;
  if (flags & 4) {
    if (p + 2 > b.length) return undefined;
    p += 2 + (b[p]! | (b[p + 1]! << 8));
  }
  const start = p;
  while (p < b.length && p - start < 4096 && b[p] !== 0) p++;
  if (p >= b.length || b[p] !== 0) return undefined;
  return Buffer.from(b.buffer, b.byteOffset + start, p - start).toString("latin1");
}

export function stripSuffix(outer: string, suffixes: RegExp): string {
  const base = outer.slice(outer.lastIndexOf("/") + 1).replace(/^.*!/, "");
  const stripped = base.replace(suffixes, "");
  return stripped && stripped !== base ? stripped : "data";
}

/** The offset where a gzip member's deflate data starts, or a message saying why it cannot be found. */
function gzipHeaderEnd(b: Uint8Array, p: number): number | string {
  if (p + 10 > b.length || b[p] !== 0x1f || b[p + 1] !== 0x8b || b[p + 2] !== 8) return "bad gzip member header";
  const flags = b[p + 3]!;
  let q = p + 10;
  if (flags & 4) {
    if (q + 2 > b.length) return "gzip header truncated";
    q += 2 + (b[q]! | (b[q + 1]! << 8));
  }
  for (const bit of [8, 16]) {
    if (!(flags & bit)) continue;
    while (q < b.length && b[q] !== 0) q++;
    q++;
  }
  if (flags & 2) q += 2;
  return q > b.length ? "gzip header truncated" : q;
}

function zlibCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

/** What a damaged deflate stream still gives: the bytes decoded before the damage. */
export interface Inflated {
  data: Uint8Array;
  /** Input bytes the stream took (meaningful when `error` is absent). */
  consumed: number;
  /** Why decoding stopped early (absent when the stream ended properly). */
  error?: string;
}

type InfoResult = { buffer: Buffer; engine: { bytesWritten: number } };

function inflateInfo(raw: Uint8Array, limit: number, partial: boolean): InfoResult {
  try {
    return inflateRawSync(raw, {
      maxOutputLength: Math.max(1, limit),
      info: true,
      ...(partial ? { finishFlush: Z.Z_SYNC_FLUSH } : {}),
    }) as unknown as InfoResult;
  } catch (err) {
    if (zlibCode(err) === "ERR_BUFFER_TOO_LARGE") throw new OutputLimit(limit);
    throw err;
  }
}

/**
 * Inflates raw deflate data into at most `limit` bytes (OutputLimit past it), keeping the
 * output produced before any damage. A truncated stream gives everything that decodes; an
 * invalid code or distance mid-stream gives the output of the longest prefix of the input
 * that decodes without error (found by bisection: only damaged streams pay for it).
 */
export function inflateSalvage(raw: Uint8Array, limit: number): Inflated {
  try {
    const r = inflateInfo(raw, limit, false);
    return { data: r.buffer, consumed: r.engine.bytesWritten };
  } catch (err) {
    if (err instanceof OutputLimit) throw err;
    const message = (err as Error)?.message ?? String(err);
    if (zlibCode(err) === "Z_BUF_ERROR") {
      // ran out of input: everything there is decodes
      const r = inflateInfo(raw, limit, true);
      return { data: r.buffer, consumed: raw.length, error: `deflate stream truncated (${message})` };
    }
    let lo = 0;
    let hi = raw.length;
    let best: Uint8Array = new Uint8Array(0);
    while (hi - lo > 1) {
      const mid = lo + Math.floor((hi - lo) / 2);
      try {
        best = inflateInfo(raw.subarray(0, mid), limit, true).buffer;
        lo = mid;
      } catch (e) {
        if (e instanceof OutputLimit) throw e;
        hi = mid;
      }
    }
    return { data: best, consumed: lo, error: `deflate data corrupt at input byte ${lo} (${message})` };
  }
}

/** All gzip members' output up to the first damage (no CRC or length checks: that is for the caller). */
function gunzipSalvage(b: Uint8Array, limit: number): Inflated {
  const parts: Uint8Array[] = [];
  let total = 0;
  let p = 0;
  let error: string | undefined;
  while (p < b.length) {
    const start = gzipHeaderEnd(b, p);
    if (typeof start === "string") {
      error = start;
      break;
    }
    const r = inflateSalvage(b.subarray(start), limit - total);
    parts.push(r.data);
    total += r.data.length;
    if (r.error) {
      error = r.error;
      break;
    }
    p = start + r.consumed + 8;
    if (p > b.length) {
      error = "gzip trailer missing (truncated)";
      break;
    }
    if (b[p] !== 0x1f || b[p + 1] !== 0x8b) break; // trailing bytes that are no member: gzip ignores them too
  }
  return {
    data: parts.length === 1 ? parts[0]! : Buffer.concat(parts, total),
    consumed: p,
    ...(error ? { error } : {}),
  };
}

export function* readGzip(b: Uint8Array, outerName: string, cap: OutputCap): Generator<Member> {
  const raw = gzipName(b);
  const name = raw ? cleanName(raw.replace(/^.*[\\/]/, "")) : stripSuffix(outerName, /\.(t?gz|gzip|z)$/i);
  const limit = cap(b.length);
  let failure: string;
  try {
    yield { name, compressedSize: b.length, data: gunzipSync(b, { maxOutputLength: Math.max(1, limit) }) };
    return;
  } catch (err) {
    if (zlibCode(err) === "ERR_BUFFER_TOO_LARGE") {
      yield overLimit(name, b.length, limit);
      return;
    }
    failure = (err as Error)?.message ?? String(err);
  }
  let salvaged: Inflated;
  try {
    salvaged = gunzipSalvage(b, limit);
  } catch (err) {
    if (err instanceof OutputLimit) {
      yield overLimit(name, b.length, limit);
      return;
    }
    throw err;
  }
  yield damaged(name, b.length, salvaged.data, `gzip data damaged: ${failure}`);
}

/** A member whose container is damaged: `data` is what decoded before the damage (if anything). */
export function damaged(name: string, compressedSize: number, data: Uint8Array, message: string): Member {
  const problem = {
    reason: "corrupt-archive" as const,
    message: data.length
      ? `${message}; the ${data.length} bytes decoded before the damage were scanned`
      : `${message}; nothing could be decoded`,
  };
  return data.length ? { name, compressedSize, data, problem } : { name, compressedSize, problem };
}

interface SeekBzip {
  decode(input: Uint8Array, output: { writeByte(b: number): void }, multistream?: boolean): void;
}
let bunzip: SeekBzip | undefined;

/**
 * Decodes a bzip2 stream into at most `limit` bytes; throws OutputLimit past it. A damaged
 * block ends decoding: `error` says why, `data` holds the blocks before it (and whatever of
 * the damaged block came out before the damage was seen, as `bzip2 -dc` writes it).
 */
export function bunzipSalvage(b: Uint8Array, limit: number): { data: Uint8Array; error?: string } {
  bunzip ??= createRequire(import.meta.url)("seek-bzip") as SeekBzip;
  let out = new Uint8Array(Math.max(1, Math.min(limit, Math.max(4096, b.length * 4))));
  let n = 0;
  const sink = {
    writeByte(byte: number) {
      if (n === out.length) {
        if (n >= limit) throw new OutputLimit(limit);
        const next = new Uint8Array(Math.min(limit, out.length * 2));
        next.set(out);
        out = next;
      }
      out[n++] = byte;
    },
  };
  try {
    bunzip.decode(Buffer.from(b.buffer, b.byteOffset, b.byteLength), sink, true);
  } catch (err) {
    if (err instanceof OutputLimit) throw err;
    return { data: out.subarray(0, n), error: String((err as Error)?.message ?? err) };
  }
  return { data: out.subarray(0, n) };
}

export function* readBzip2(b: Uint8Array, outerName: string, cap: OutputCap): Generator<Member> {
  const name = stripSuffix(outerName, /\.(bz2|tbz2?|bzip2)$/i);
  const limit = cap(b.length);
  let r: { data: Uint8Array; error?: string };
  try {
    r = bunzipSalvage(b, limit);
  } catch (err) {
    if (err instanceof OutputLimit) {
      yield overLimit(name, b.length, limit);
      return;
    }
    throw err;
  }
  yield r.error === undefined
    ? { name, compressedSize: b.length, data: r.data }
    : damaged(name, b.length, r.data, `bzip2 data damaged: ${r.error}`);
}

export function* readXz(b: Uint8Array, outerName: string, cap: OutputCap): Generator<Member> {
  const name = stripSuffix(outerName, /\.(xz|txz)$/i);
  const limit = cap(b.length);
  let r: { data: Uint8Array; error?: Error };
  try {
    r = unxzSalvage(b, limit);
  } catch (err) {
    if (err instanceof OutputLimit) {
      yield overLimit(name, b.length, limit);
      return;
    }
    throw err;
  }
  if (r.error === undefined) {
    yield { name, compressedSize: b.length, data: r.data };
    return;
  }
  const msg = r.error.message;
  if (/not supported/.test(msg)) {
    const m = damaged(name, b.length, r.data, `xz: ${msg}`);
    yield { ...m, problem: { reason: "unsupported", message: m.problem!.message } };
  } else yield damaged(name, b.length, r.data, `xz data damaged: ${msg}`);
}
