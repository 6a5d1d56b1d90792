/**
 * The `hash` module (YARA 4.5): md5, sha1, sha256 (lowercase hex strings), checksum32 (sum of
 * the bytes, modulo 2^32) and crc32 (CRC-32/ISO-HDLC, as zlib), each over a range of the
 * scanned data `(offset, size)` or over a string. Range results are undefined where YARA's are
 * (negative offset or size, offset at or past the end); sizes past the end are clipped. Digests
 * over ranges are cached per scan in `ctx.cache` under "hash:ALGO:OFFSET:SIZE", since rules
 * often test the same `hash.md5(0, filesize)` many times.
 */
import { createHash } from "node:crypto";
import * as zlib from "node:zlib";
import { overloads, struct, type ScanContext, type YaraModule } from "../schema.js";
import { dataRange, intArg } from "./range.js";

type Algo = "md5" | "sha1" | "sha256";

function digest(algo: Algo, bytes: Uint8Array): string {
  return createHash(algo).update(bytes).digest("hex");
}

function latin1(s: string): Uint8Array {
  return Buffer.from(s, "latin1");
}

let crcTable: Uint32Array | undefined;
function crc32Table(): Uint32Array {
  if (crcTable) return crcTable;
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return (crcTable = t);
}

const zlibCrc32 = (zlib as unknown as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** CRC-32 as YARA computes it (reflected polynomial 0xEDB88320, initial and final xor 0xFFFFFFFF). */
export function crc32(bytes: Uint8Array): number {
  if (zlibCrc32) return zlibCrc32(bytes) >>> 0;
  const t = crc32Table();
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = t[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Sum of the bytes modulo 2^32. */
export function checksum32(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i++) sum += bytes[i]!;
  // a JS number holds the exact sum for up to 2^45 bytes; reduce once at the end.
  return sum % 4294967296;
}

function rangeFn(algo: Algo) {
  return (_self: unknown, ctx: ScanContext, offset: unknown, size: unknown): string | undefined => {
    const r = dataRange(ctx.data, offset, size);
    if (r === undefined) return undefined;
    const key = `hash:${algo}:${intArg(offset)}:${intArg(size)}`;
    const hit = ctx.cache.get(key);
    if (typeof hit === "string") return hit;
    const d = digest(algo, ctx.data.subarray(r[0], r[1]));
    ctx.cache.set(key, d);
    return d;
  };
}

function stringFn(algo: Algo) {
  return (_self: unknown, _ctx: ScanContext, s: string): string => digest(algo, latin1(s));
}

export const hashModule: YaraModule = {
  name: "hash",
  declarations: struct({
    md5: overloads(["ii", "string", rangeFn("md5")], ["s", "string", stringFn("md5")]),
    sha1: overloads(["ii", "string", rangeFn("sha1")], ["s", "string", stringFn("sha1")]),
    sha256: overloads(["ii", "string", rangeFn("sha256")], ["s", "string", stringFn("sha256")]),
    checksum32: overloads(
      [
        "ii",
        "integer",
        (_self, ctx, offset, size) => {
          const r = dataRange(ctx.data, offset, size);
          return r === undefined ? undefined : checksum32(ctx.data.subarray(r[0], r[1]));
        },
      ],
      ["s", "integer", (_self, _ctx, s: string) => checksum32(latin1(s))],
    ),
    crc32: overloads(
      [
        "ii",
        "integer",
        (_self, ctx, offset, size) => {
          const r = dataRange(ctx.data, offset, size);
          if (r === undefined) return undefined;
          const key = `hash:crc32:${intArg(offset)}:${intArg(size)}`;
          const hit = ctx.cache.get(key);
          if (typeof hit === "number") return hit;
          const v = crc32(ctx.data.subarray(r[0], r[1]));
          ctx.cache.set(key, v);
          return v;
        },
      ],
      ["s", "integer", (_self, _ctx, s: string) => crc32(latin1(s))],
    ),
  }),
  load: () => ({}),
};
