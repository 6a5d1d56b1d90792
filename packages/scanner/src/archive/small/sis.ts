/**
 * Symbian installation packages (SIS) of EPOC releases 3 to 6, written from the published
 * description of the format: four UIDs (the third 0x10000419), a header whose flags say
 * Unicode names (bit 0) and uncompressed files (bit 3), and a list of records at `pfiles`:
 * files (one, or one per language) with their names, sizes and offsets, zlib-compressed unless
 * the flag says otherwise; options, #if/#elsif/#else/#endif records are stepped over. Symbian
 * 9 packages (UID 0x10201A7A) are another format, recognised but not opened.
 */
import { damaged, inflateSalvage } from "../gzip.js";
import { cleanName, overLimit, OutputLimit, type Member, type OutputCap } from "../types.js";

const UID3 = 0x10000419;
const HEADER_END = 16 + 68;

const u16 = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8);
const u32 = (b: Uint8Array, at: number) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

export function isSis(b: Uint8Array): boolean {
  if (b.length < HEADER_END) return false;
  const uid2 = u32(b, 4);
  return u32(b, 8) === UID3 && (uid2 === 0x1000006d || uid2 === 0x10003a12);
}

class Bad extends Error {}

function need(b: Uint8Array, at: number, n: number, what: string): void {
  if (at < 0 || at + n > b.length) throw new Bad(`${what} at offset ${at} runs past the end of the package`);
}

function nameAt(b: Uint8Array, ptr: number, len: number, unicode: boolean): string {
  if (!len || ptr + len > b.length || len > 4096) return "";
  const raw = Buffer.from(b.buffer, b.byteOffset + ptr, len);
  const s = unicode ? raw.toString("utf16le") : raw.toString("latin1");
  return s.replace(/^.*[\\/]/, "");
}

export function* readSis(b: Uint8Array, cap: OutputCap): Generator<Member> {
  const langs = u16(b, 18);
  const files = u16(b, 20);
  const flags = u16(b, 36);
  const unicode = (flags & 1) !== 0;
  const compressed = (flags & 8) === 0;
  let p = u32(b, 52);
  let index = 0;
  try {
    if (langs === 0 || langs > 256) throw new Bad(`${langs} languages in the header`);
    if (p < HEADER_END) throw new Bad("file records point inside the header");
    for (let i = 0; i < files; i++) {
      need(b, p, 4, `record ${i}`);
      const type = u32(b, p);
      p += 4;
      if (type === 0 || type === 1) {
        const count = type === 0 ? 1 : langs;
        need(b, p, 24 + 12 * count, `file record ${i}`);
        const ftype = u32(b, p);
        const name =
          nameAt(b, u32(b, p + 12), u32(b, p + 8), unicode) || nameAt(b, u32(b, p + 20), u32(b, p + 16), unicode);
        p += 24;
        const lens = Array.from({ length: count }, (_, j) => u32(b, p + 4 * j));
        const ptrs = Array.from({ length: count }, (_, j) => u32(b, p + 4 * (count + j)));
        const olens = Array.from({ length: count }, (_, j) => u32(b, p + 4 * (2 * count + j)));
        p += 12 * count + 8; // and the MIME type's length and pointer
        if (ftype === 4) continue; // "null": a file the package only removes
        for (let j = 0; j < count; j++) {
          if (!lens[j]) continue;
          index++;
          const base = cleanName(name || `file${index}`);
          const member = count > 1 ? `${base}#lang${j}` : base;
          yield file(b, member, ptrs[j]!, lens[j]!, olens[j]!, compressed, cap);
        }
      } else if (type === 2) {
        need(b, p, 4, `option record ${i}`);
        p += 4 + u32(b, p) * langs * 8;
      } else if (type === 3 || type === 4) {
        need(b, p, 4, `condition record ${i}`);
        p += 4 + u32(b, p);
      } else if (type !== 5 && type !== 6) {
        throw new Bad(`record ${i} has unknown type ${type}`);
      }
    }
  } catch (err) {
    if (!(err instanceof Bad)) throw err;
    yield {
      name: "",
      compressedSize: b.length,
      problem: { reason: "corrupt-archive", message: `SIS package damaged: ${err.message}; the rest was not scanned` },
    };
  }
}

function file(
  b: Uint8Array,
  name: string,
  ptr: number,
  len: number,
  olen: number,
  compressed: boolean,
  cap: OutputCap,
): Member {
  if (ptr < HEADER_END || ptr >= b.length)
    return {
      name,
      compressedSize: len,
      problem: { reason: "corrupt-archive", message: `file data offset ${ptr} is outside the package` },
    };
  const raw = b.subarray(ptr, Math.min(b.length, ptr + len));
  const cut =
    raw.length < len
      ? `file data runs past the end of the package (truncated: ${raw.length} of ${len} bytes)`
      : undefined;
  const limit = cap(len);
  if (!compressed) {
    if (raw.length > limit) return overLimit(name, len, limit);
    return cut ? damaged(name, len, raw, cut) : { name, compressedSize: len, data: raw };
  }
  try {
    // zlib: a 2-byte header, deflate, an Adler-32 trailer
    if (raw.length < 2 || (raw[0]! & 0x0f) !== 8 || ((raw[0]! << 8) | raw[1]!) % 31 !== 0)
      return damaged(name, len, new Uint8Array(0), "SIS file data is not a zlib stream");
    const r = inflateSalvage(raw.subarray(2), limit);
    const why =
      r.error ??
      cut ??
      (r.data.length !== olen ? `decoded ${r.data.length} bytes, the record says ${olen}` : undefined);
    return why ? damaged(name, len, r.data, `SIS file damaged: ${why}`) : { name, compressedSize: len, data: r.data };
  } catch (err) {
    if (err instanceof OutputLimit) return overLimit(name, len, limit);
    throw err;
  }
}
