/**
 * The compiled on-disk form of a `HashStore`: the store's typed arrays written as they are, so
 * loading is one read plus typed-array views (no parsing, no sorting).
 *
 * Layout, all integers little-endian u32, every section starting at a multiple of 4:
 *   0   "VIGILHDB" magic, version (1), nameCount, nameBlobLength, reserved
 *   24  for md5, sha1, sha256: count, nameIndexWidth | bucketBits << 8 (0 when absent; width 2 or 4, bits 16..24)
 *   48  reserved up to 64
 *   64  name offsets (nameCount + 1), name blob (padded), then per present table:
 *       bucketStart (2^bits + 1), keys (count), sizes (count), nameIndex (count * width, padded),
 *       rest (count * (L-6), padded)
 * A loader checks every length against the file size, offsets and bucket starts for monotony and
 * name indexes against nameCount, so a truncated or hostile file is refused with SIGDB_BAD_COMPILED
 * instead of reading out of bounds.
 */

import { readFileSync, openSync, writeSync, closeSync, renameSync } from "node:fs";
import { ClamavError } from "../../error.js";
import {
  DIGEST_LENGTH,
  HASH_ALGORITHMS,
  HashStore,
  HashTable,
  NameTable,
  type HashAlgorithm,
  type HashPart,
} from "./store.js";

const MAGIC = "VIGILHDB";
const VERSION = 3;
const HEADER = 64;
const pad4 = (n: number) => (n + 3) & ~3;

const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** The compiled form as a list of byte chunks (to write one after another without concatenating). */
export function serializeHashStore(store: HashStore): Uint8Array[] {
  if (!littleEndian)
    throw new ClamavError("SIGDB_BAD_COMPILED", "compiled hash stores are little-endian; this machine is big-endian");
  const header = new Uint8Array(HEADER);
  const dv = new DataView(header.buffer);
  header.set(new TextEncoder().encode(MAGIC), 0);
  dv.setUint32(8, VERSION, true);
  dv.setUint32(12, store.names.count, true);
  dv.setUint32(16, store.names.blob.length, true);
  const parts: Uint8Array[] = [
    header,
    bytesOf(store.names.offsets),
    store.names.blob,
    new Uint8Array(pad4(store.names.blob.length) - store.names.blob.length),
  ];
  HASH_ALGORITHMS.forEach((a, k) => {
    const t = store.tables[a];
    if (t === undefined || t.count === 0) return;
    dv.setUint32(24 + 8 * k, t.count, true);
    dv.setUint32(28 + 8 * k, t.nameIndexWidth | (t.bucketBits << 8), true);
    // each column is the concatenation of the 256 parts, so the file is one contiguous table
    const column = (pick: (p: HashPart) => ArrayBufferView) => {
      let len = 0;
      for (const p of t.parts) {
        const a = pick(p);
        if (a.byteLength > 0) parts.push(bytesOf(a));
        len += a.byteLength;
      }
      parts.push(new Uint8Array(pad4(len) - len));
    };
    parts.push(bytesOf(t.bucketStart));
    column((p) => p.keys);
    column((p) => p.sizes);
    column((p) => p.nameIndex);
    column((p) => p.rest);
  });
  return parts;
}

/** Writes the compiled form to `path` (through a temporary file renamed into place). */
export function writeCompiledHashStore(path: string, store: HashStore): number {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w");
  let total = 0;
  try {
    for (const part of serializeHashStore(store)) {
      let off = 0;
      while (off < part.length) off += writeSync(fd, part, off, part.length - off);
      total += part.length;
    }
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  return total;
}

function bad(msg: string): never {
  throw new ClamavError("SIGDB_BAD_COMPILED", `${msg}; rebuild the compiled hash store from its sources`);
}

/** Reads a compiled store. The returned arrays are views into `bytes` (copied once if misaligned). */
export function deserializeHashStore(input: Uint8Array): HashStore {
  if (!littleEndian) bad("compiled hash stores are little-endian; this machine is big-endian");
  if (input.length < HEADER) bad("file too short for a compiled hash store");
  const bytes = input.byteOffset % 4 === 0 ? input : input.slice();
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) bad("not a compiled hash store (bad magic)");
  if (dv.getUint32(8, true) !== VERSION) bad(`unsupported compiled hash store version ${dv.getUint32(8, true)}`);
  const nameCount = dv.getUint32(12, true);
  const blobLength = dv.getUint32(16, true);
  let off = HEADER;
  const take = (n: number): number => {
    const at = off;
    if (n < 0 || at + n > bytes.length) bad("truncated compiled hash store");
    off = at + pad4(n);
    return at;
  };
  const u32 = (n: number) => new Uint32Array(bytes.buffer, bytes.byteOffset + take(n * 4), n);
  const offsets = u32(nameCount + 1);
  const blobAt = take(blobLength);
  const blob = bytes.subarray(blobAt, blobAt + blobLength);
  if (offsets[0] !== 0 || offsets[nameCount] !== blobLength) bad("name offsets do not cover the name blob");
  for (let i = 0; i < nameCount; i++) if (offsets[i]! > offsets[i + 1]!) bad("name offsets are not in order");
  const tables: Partial<Record<HashAlgorithm, HashTable>> = {};
  HASH_ALGORITHMS.forEach((a, k) => {
    const count = dv.getUint32(24 + 8 * k, true);
    const field = dv.getUint32(28 + 8 * k, true);
    if (field === 0) return;
    const width = field & 0xff;
    const bits = field >>> 8;
    if (width !== 2 && width !== 4) bad(`bad name index width ${width}`);
    if (bits < 16 || bits > 24) bad(`bad bucket size 2^${bits}`);
    const buckets = 1 << bits;
    const bucketStart = u32(buckets + 1);
    if (bucketStart[0] !== 0 || bucketStart[buckets] !== count) bad("bucket table does not cover the entries");
    for (let i = 0; i < buckets; i++) if (bucketStart[i]! > bucketStart[i + 1]!) bad("bucket table is not in order");
    const keys = u32(count);
    const sizes = u32(count);
    const nameAt = take(count * width);
    const nameIndex =
      width === 2
        ? new Uint16Array(bytes.buffer, bytes.byteOffset + nameAt, count)
        : new Uint32Array(bytes.buffer, bytes.byteOffset + nameAt, count);
    for (let i = 0; i < count; i++) if (nameIndex[i]! >= nameCount) bad("a name index points past the name table");
    const R = DIGEST_LENGTH[a] - 6;
    const restAt = take(count * R);
    const rest = bytes.subarray(restAt, restAt + count * R);
    // the table's parts are views of the contiguous columns, split at each first byte's first bucket
    const parts: HashPart[] = [];
    const sub = bits - 8;
    for (let p = 0; p < 256; p++) {
      const from = bucketStart[p << sub]!;
      const to = bucketStart[(p + 1) << sub]!;
      parts.push({
        keys: keys.subarray(from, to),
        rest: rest.subarray(from * R, to * R),
        sizes: sizes.subarray(from, to),
        nameIndex: nameIndex.subarray(from, to),
      });
    }
    tables[a] = new HashTable(a, count, bucketStart, parts, width);
  });
  return new HashStore(tables, new NameTable(blob, offsets));
}

export function readCompiledHashStore(path: string): HashStore {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (cause) {
    throw new ClamavError("SIGDB_READ", `cannot read compiled hash store: ${(cause as Error).message}`, {
      path,
      cause,
    });
  }
  try {
    return deserializeHashStore(bytes);
  } catch (e) {
    if (e instanceof ClamavError) throw new ClamavError(e.code, e.message, { path, cause: e });
    throw e;
  }
}
