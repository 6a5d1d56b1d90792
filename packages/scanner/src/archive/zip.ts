/**
 * A ZIP reader written from PKWARE's APPNOTE: it finds the end-of-central-directory record
 * (zip64 included), walks the central directory, and decodes stored, deflated and bzip2 (method 12) members from
 * their local headers. Encrypted members (traditional or AES) are reported, never guessed.
 * Every offset is bounds-checked; a hostile archive gives a `problem`, never a crash.
 */
import { inflateRawSync } from "node:zlib";
import { cleanName, overLimit, OutputLimit, type Member, type OutputCap } from "./types.js";
import { bunzipLimited } from "./gzip.js";

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

export function isZip(b: Uint8Array): boolean {
  return b.length >= 22 && b[0] === 0x50 && b[1] === 0x4b && (b[2] === 3 || b[2] === 5 || b[2] === 7) && (b[3] === 4 || b[3] === 6 || b[3] === 8);
}

interface Entry {
  name: string;
  flags: number;
  method: number;
  csize: number;
  usize: number;
  offset: number;
}

class Corrupt extends Error {}

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function u64(v: DataView, at: number): number {
  const n = v.getBigUint64(at, true);
  return n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n);
}

function findEocd(b: Uint8Array, v: DataView): number {
  const stop = Math.max(0, b.length - 22 - 0xffff);
  for (let i = b.length - 22; i >= stop; i--) {
    if (v.getUint32(i, true) === EOCD && i + 22 + v.getUint16(i + 20, true) <= b.length) return i;
  }
  return -1;
}

function readCentral(b: Uint8Array): Entry[] {
  const v = dv(b);
  const e = findEocd(b, v);
  if (e < 0) throw new Corrupt("no end of central directory record");
  let count = v.getUint16(e + 10, true);
  let cdSize = v.getUint32(e + 12, true);
  let cdOffset = v.getUint32(e + 16, true);
  if ((count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) && e >= 20 && v.getUint32(e - 20, true) === ZIP64_LOCATOR) {
    const z = u64(v, e - 20 + 8);
    if (z + 56 > b.length || v.getUint32(z, true) !== ZIP64_EOCD) throw new Corrupt("bad zip64 end of central directory");
    count = u64(v, z + 32);
    cdSize = u64(v, z + 40);
    cdOffset = u64(v, z + 48);
  }
  if (cdOffset + cdSize > b.length) {
    // Self-extractors and prepended data: the directory sits before the EOCD record.
    const shift = e - (cdOffset + cdSize);
    if (shift < 0 || cdOffset + shift + cdSize > b.length) throw new Corrupt("central directory outside the file");
    cdOffset += shift;
  }
  const entries: Entry[] = [];
  let p = cdOffset;
  const end = cdOffset + cdSize;
  for (let i = 0; i < count && p + 46 <= end; i++) {
    if (v.getUint32(p, true) !== CENTRAL) throw new Corrupt(`bad central directory entry ${i}`);
    const flags = v.getUint16(p + 8, true);
    const method = v.getUint16(p + 10, true);
    let csize = v.getUint32(p + 20, true);
    let usize = v.getUint32(p + 24, true);
    const nameLen = v.getUint16(p + 28, true);
    const extraLen = v.getUint16(p + 30, true);
    const commentLen = v.getUint16(p + 32, true);
    let offset = v.getUint32(p + 42, true);
    if (p + 46 + nameLen + extraLen > b.length) throw new Corrupt(`central directory entry ${i} runs past the end`);
    const name = Buffer.from(b.buffer, b.byteOffset + p + 46, nameLen).toString("utf8");
    // zip64 extended information: the fields that were 0xFFFFFFFF, in a fixed order.
    let x = p + 46 + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = v.getUint16(x, true);
      const len = v.getUint16(x + 2, true);
      if (id === 0x0001) {
        let q = x + 4;
        const qEnd = Math.min(x + 4 + len, xEnd);
        if (usize === 0xffffffff && q + 8 <= qEnd) { usize = u64(v, q); q += 8; }
        if (csize === 0xffffffff && q + 8 <= qEnd) { csize = u64(v, q); q += 8; }
        if (offset === 0xffffffff && q + 8 <= qEnd) { offset = u64(v, q); q += 8; }
      }
      x += 4 + len;
    }
    entries.push({ name, flags, method, csize, usize, offset });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/**
 * Yields the members of a ZIP archive held in memory. `cap(compressedSize)` bounds each
 * member's decoded size; a member over it is yielded with problem "over-limit".
 */
export function* readZip(b: Uint8Array, cap: OutputCap): Generator<Member> {
  let entries: Entry[];
  try {
    entries = readCentral(b);
  } catch (err) {
    yield { name: "", compressedSize: b.length, problem: { reason: "corrupt-archive", message: `not a readable zip: ${(err as Error).message}` } };
    return;
  }
  const v = dv(b);
  for (const en of entries) {
    const name = cleanName(en.name);
    if (name.endsWith("/") && en.usize === 0) continue; // directory
    if (en.flags & 1 || en.method === 99) {
      yield { name, compressedSize: en.csize, encrypted: true, problem: { reason: "encrypted", message: "encrypted member not scanned (no password)" } };
      continue;
    }
    if (en.offset + 30 > b.length || v.getUint32(en.offset, true) !== LOCAL) {
      yield { name, compressedSize: en.csize, problem: { reason: "corrupt-archive", message: "local header missing" } };
      continue;
    }
    const start = en.offset + 30 + v.getUint16(en.offset + 26, true) + v.getUint16(en.offset + 28, true);
    const end = start + en.csize;
    if (end > b.length) {
      yield { name, compressedSize: en.csize, problem: { reason: "corrupt-archive", message: "member data runs past the end of the archive" } };
      continue;
    }
    const raw = b.subarray(start, end);
    const limit = cap(en.csize);
    if (en.method === 0) {
      if (raw.length > limit) {
        yield overLimit(name, en.csize, limit);
        continue;
      }
      yield { name, compressedSize: en.csize, data: raw };
    } else if (en.method === 8) {
      let data: Uint8Array;
      try {
        data = inflateRawSync(raw, { maxOutputLength: Math.max(1, limit) });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") yield overLimit(name, en.csize, limit);
        else yield { name, compressedSize: en.csize, problem: { reason: "corrupt-archive", message: `deflate data corrupt: ${(err as Error).message}` } };
        continue;
      }
      yield { name, compressedSize: en.csize, data };
    } else if (en.method === 12) {
      let data: Uint8Array;
      try {
        data = bunzipLimited(raw, limit);
      } catch (err) {
        if (err instanceof OutputLimit) yield overLimit(name, en.csize, limit);
        else yield { name, compressedSize: en.csize, problem: { reason: "corrupt-archive", message: `bzip2 data corrupt: ${String((err as Error)?.message ?? err)}` } };
        continue;
      }
      yield { name, compressedSize: en.csize, data };
    } else {
      yield { name, compressedSize: en.csize, problem: { reason: "unsupported", message: `compression method ${en.method} not supported` } };
    }
  }
}
