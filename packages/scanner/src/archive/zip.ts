/**
 * A ZIP reader written from PKWARE's APPNOTE: it finds the end-of-central-directory record
 * (zip64 included), walks the central directory, and decodes stored, deflated and bzip2 (method 12) members from
 * their local headers; implode (6) and deflate64 (9) by the decoders in `small/`. Encrypted members (traditional or AES) are reported, never guessed.
 * Every offset is bounds-checked; a hostile archive gives a `problem`, never a crash.
 *
 * Damage is handled as extraction tools do: when the central directory is missing, cut or
 * inconsistent, the local file headers are walked from the start of the file and every member
 * found there is decoded; a member whose data is cut or corrupt yields what decodes before the
 * damage. Each such case carries a `problem` beside the bytes.
 */
import { cleanName, overLimit, OutputLimit, type Member, type OutputCap } from "./types.js";
import { bunzipSalvage, damaged, inflateSalvage } from "./gzip.js";
import { inflate64 } from "./small/deflate64.js";
import { explode } from "./small/implode.js";

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

export function isZip(b: Uint8Array): boolean {
  return (
    b.length >= 22 &&
    b[0] === 0x50 &&
    b[1] === 0x4b &&
    (b[2] === 3 || b[2] === 5 || b[2] === 7) &&
    (b[3] === 4 || b[3] === 6 || b[3] === 8)
  );
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

/** The central directory's entries, and what was wrong with it (the entries before the damage are kept). */
function readCentral(b: Uint8Array): { entries: Entry[]; damage?: string } {
  const entries: Entry[] = [];
  try {
    readCentralInto(b, entries);
  } catch (err) {
    if (!(err instanceof Corrupt)) throw err;
    return { entries, damage: err.message };
  }
  return { entries };
}

function readCentralInto(b: Uint8Array, entries: Entry[]): void {
  const v = dv(b);
  const e = findEocd(b, v);
  if (e < 0) throw new Corrupt("no end of central directory record");
  let count = v.getUint16(e + 10, true);
  let cdSize = v.getUint32(e + 12, true);
  let cdOffset = v.getUint32(e + 16, true);
  if (
    (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) &&
    e >= 20 &&
    v.getUint32(e - 20, true) === ZIP64_LOCATOR
  ) {
    const z = u64(v, e - 20 + 8);
    if (z + 56 > b.length || v.getUint32(z, true) !== ZIP64_EOCD)
      throw new Corrupt("bad zip64 end of central directory");
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
  let p = cdOffset;
  const end = cdOffset + cdSize;
  for (let i = 0; i < count; i++) {
    if (p + 46 > end)
      throw new Corrupt(`central directory size says ${cdSize} bytes, too small for its ${count} entries`);
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
        if (usize === 0xffffffff && q + 8 <= qEnd) {
          usize = u64(v, q);
          q += 8;
        }
        if (csize === 0xffffffff && q + 8 <= qEnd) {
          csize = u64(v, q);
          q += 8;
        }
        if (offset === 0xffffffff && q + 8 <= qEnd) {
          offset = u64(v, q);
          q += 8;
        }
      }
      x += 4 + len;
    }
    entries.push({ name, flags, method, csize, usize, offset });
    p += 46 + nameLen + extraLen + commentLen;
  }
}

/**
 * Yields the members of a ZIP archive held in memory. `cap(compressedSize)` bounds each
 * member's decoded size; a member over it is yielded with problem "over-limit".
 */
export function* readZip(b: Uint8Array, cap: OutputCap): Generator<Member> {
  const { entries, damage } = readCentral(b);
  const v = dv(b);
  const seen = new Map<number, number>(); // local header offset -> end of its data
  for (const en of entries) {
    const name = cleanName(en.name);
    if (name.endsWith("/") && en.usize === 0) continue; // directory
    if (en.flags & 1 || en.method === 99) {
      yield {
        name,
        compressedSize: en.csize,
        encrypted: true,
        problem: { reason: "encrypted", message: "encrypted member not scanned (no password)" },
      };
      continue;
    }
    if (en.offset + 30 > b.length || v.getUint32(en.offset, true) !== LOCAL) {
      yield { name, compressedSize: en.csize, problem: { reason: "corrupt-archive", message: "local header missing" } };
      continue;
    }
    const start = en.offset + 30 + v.getUint16(en.offset + 26, true) + v.getUint16(en.offset + 28, true);
    seen.set(en.offset, start + en.csize);
    yield decode(b, name, en.method, start, en.csize, cap, false, en.flags, en.usize);
  }
  if (damage === undefined) return;
  // what unzip -FF, 7z and bsdtar do with a broken directory: walk the local headers
  yield {
    name: "",
    compressedSize: b.length,
    problem: {
      reason: "corrupt-archive",
      message: `zip central directory damaged (${damage}); the members found by walking the local headers were scanned`,
    },
  };
  yield* localMembers(b, v, seen, cap);
}

/**
 * Members found by their local file headers, in file order, skipping members already read
 * (and their data: a stored inner archive's headers are not members of this one).
 */
function* localMembers(b: Uint8Array, v: DataView, seen: Map<number, number>, cap: OutputCap): Generator<Member> {
  let p = b.indexOf(0x50);
  while (p >= 0 && p + 30 <= b.length) {
    if (v.getUint32(p, true) !== LOCAL) {
      p = b.indexOf(0x50, p + 1);
      continue;
    }
    const done = seen.get(p);
    if (done !== undefined) {
      p = b.indexOf(0x50, Math.max(p + 1, done));
      continue;
    }
    const flags = v.getUint16(p + 6, true);
    const method = v.getUint16(p + 8, true);
    let csize = v.getUint32(p + 18, true);
    const usize = v.getUint32(p + 22, true);
    const nameLen = v.getUint16(p + 26, true);
    const extraLen = v.getUint16(p + 28, true);
    const start = p + 30 + nameLen + extraLen;
    if (start > b.length) break;
    const name = cleanName(Buffer.from(b.buffer, b.byteOffset + p + 30, nameLen).toString("utf8"));
    if (csize === 0xffffffff) {
      // zip64: the local extra field holds the uncompressed then the compressed size
      for (let x = p + 30 + nameLen; x + 4 <= start; x += 4 + v.getUint16(x + 2, true)) {
        if (v.getUint16(x, true) === 1 && x + 20 <= start) {
          csize = u64(v, x + 12);
          break;
        }
      }
    }
    const sizeLater = (flags & 8) !== 0 && csize === 0; // sizes in a data descriptor after the data
    let next = start + (sizeLater ? 0 : csize);
    if (name.endsWith("/") && csize === 0) {
      p = b.indexOf(0x50, Math.max(p + 1, next));
      continue;
    }
    if (flags & 1 || method === 99) {
      yield {
        name,
        compressedSize: csize,
        encrypted: true,
        problem: { reason: "encrypted", message: "encrypted member not scanned (no password)" },
      };
    } else if (sizeLater && method === 8) {
      // deflate ends itself: decode up to its end
      const m = decode(b, name, method, start, b.length - start, cap, true);
      next = start + (m.compressedSize ?? 0);
      yield m;
    } else if (sizeLater) {
      // stored with a data descriptor: the data ends at the descriptor whose size matches
      let end = -1;
      for (let q = b.indexOf(0x50, start); q >= 0 && q + 16 <= b.length; q = b.indexOf(0x50, q + 1)) {
        if (v.getUint32(q, true) === 0x08074b50 && v.getUint32(q + 8, true) === q - start) {
          end = q;
          break;
        }
      }
      const csz = end >= 0 ? end - start : b.length - start;
      yield decode(b, name, method, start, csz, cap, false, flags);
      next = start + csz;
    } else {
      yield decode(b, name, method, start, csize, cap, false, flags, usize);
    }
    p = b.indexOf(0x50, Math.max(p + 1, next));
  }
}

/**
 * Decodes one member's data at `start` (`csize` bytes, fewer when the file is cut). With
 * `selfDelimited` (deflate of unknown size), `compressedSize` of the result is what it took.
 */
function decode(
  b: Uint8Array,
  name: string,
  method: number,
  start: number,
  csize: number,
  cap: OutputCap,
  selfDelimited = false,
  flags = 0,
  /** Uncompressed size from the headers (implode has no end marker); unknown: 0. */
  usize = 0,
): Member {
  const end = Math.min(b.length, start + csize);
  const cut = start + csize > b.length;
  const raw = b.subarray(start, end);
  const limit = cap(csize);
  const cutNote = cut
    ? `member data runs past the end of the archive (truncated: ${raw.length} of ${csize} bytes)`
    : undefined;
  try {
    if (method === 0) {
      if (raw.length > limit) return overLimit(name, csize, limit);
      return cutNote ? damaged(name, csize, raw, cutNote) : { name, compressedSize: csize, data: raw };
    }
    if (method === 8) {
      const r = inflateSalvage(raw, limit);
      const size = selfDelimited ? r.consumed : csize;
      const why = r.error ?? cutNote;
      return why
        ? damaged(name, size, r.data, `zip member damaged: ${why}`)
        : { name, compressedSize: size, data: r.data };
    }
    if (method === 6 || method === 9) {
      const r = method === 6 ? explode(raw, flags, usize || limit, limit) : inflate64(raw, limit, usize);
      const why = r.error ?? cutNote;
      const what = method === 6 ? "implode" : "deflate64";
      return why
        ? damaged(name, csize, r.data, `zip member damaged: ${what} ${why}`)
        : { name, compressedSize: csize, data: r.data };
    }
    if (method === 12) {
      const r = bunzipSalvage(raw, limit);
      const why = r.error ?? cutNote;
      return why
        ? damaged(name, csize, r.data, `zip member damaged: bzip2 ${why}`)
        : { name, compressedSize: csize, data: r.data };
    }
  } catch (err) {
    if (err instanceof OutputLimit) return overLimit(name, csize, limit);
    throw err;
  }
  return {
    name,
    compressedSize: csize,
    problem: { reason: "unsupported", message: `compression method ${method} not supported` },
  };
}
