/**
 * gzip (RFC 1952), bzip2 and xz single-member "archives": the decoded stream is one member, named
 * from the gzip FNAME field when present, else from the outer name without its suffix.
 */
import { gunzipSync } from "node:zlib";
import { createRequire } from "node:module";
import { cleanName, overLimit, OutputLimit, type Member, type OutputCap } from "./types.js";
import { unxz } from "./xz.js";

export function isGzip(b: Uint8Array): boolean {
  return b.length >= 18 && b[0] === 0x1f && b[1] === 0x8b && b[2] === 8;
}

export function isBzip2(b: Uint8Array): boolean {
  return b.length >= 14 && b[0] === 0x42 && b[1] === 0x5a && b[2] === 0x68 && b[3]! >= 0x31 && b[3]! <= 0x39 && b[4] === 0x31 && b[5] === 0x41;
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

export function* readGzip(b: Uint8Array, outerName: string, cap: OutputCap): Generator<Member> {
  const raw = gzipName(b);
  const name = raw ? cleanName(raw.replace(/^.*[\\/]/, "")) : stripSuffix(outerName, /\.(t?gz|gzip|z)$/i);
  const limit = cap(b.length);
  try {
    yield { name, compressedSize: b.length, data: gunzipSync(b, { maxOutputLength: Math.max(1, limit) }) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") yield overLimit(name, b.length, limit);
    else yield { name, compressedSize: b.length, problem: { reason: "corrupt-archive", message: `gzip data corrupt: ${(err as Error).message}` } };
  }
}

interface SeekBzip {
  decode(input: Uint8Array, output: { writeByte(b: number): void }, multistream?: boolean): void;
}
let bunzip: SeekBzip | undefined;

/** Decodes a bzip2 stream into at most `limit` bytes; throws OutputLimit past it. */
export function bunzipLimited(b: Uint8Array, limit: number): Uint8Array {
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
  bunzip.decode(Buffer.from(b.buffer, b.byteOffset, b.byteLength), sink, true);
  return out.subarray(0, n);
}

export function* readBzip2(b: Uint8Array, outerName: string, cap: OutputCap): Generator<Member> {
  const name = stripSuffix(outerName, /\.(bz2|tbz2?|bzip2)$/i);
  const limit = cap(b.length);
  let data: Uint8Array;
  try {
    data = bunzipLimited(b, limit);
  } catch (err) {
    if (err instanceof OutputLimit) yield overLimit(name, b.length, limit);
    else yield { name, compressedSize: b.length, problem: { reason: "corrupt-archive", message: `bzip2 data corrupt: ${String((err as Error)?.message ?? err)}` } };
    return;
  }
  yield { name, compressedSize: b.length, data };
}

export function* readXz(b: Uint8Array, outerName: string, cap: OutputCap): Generator<Member> {
  const name = stripSuffix(outerName, /\.(xz|txz)$/i);
  const limit = cap(b.length);
  let data: Uint8Array;
  try {
    data = unxz(b, limit);
  } catch (err) {
    if (err instanceof OutputLimit) yield overLimit(name, b.length, limit);
    else {
      const msg = String((err as Error)?.message ?? err);
      const reason = /not supported/.test(msg) ? "unsupported" : "corrupt-archive";
      yield { name, compressedSize: b.length, problem: { reason, message: `xz: ${msg}` } };
    }
    return;
  }
  yield { name, compressedSize: b.length, data };
}
