/**
 * MEW 11 SE: the first section is empty in the file (the unpacked program's space), the second
 * holds the loader and the packed data. The entry point jumps into the header (RVA 0x154 or
 * 0x158), where the loader's parameters start: the address of the packed data, the original
 * entry point and where the first block goes. Each block is LZ77 with a bit stream interleaved
 * with literal bytes (aPLib-like: literals, 4-bit short distances, byte distances with 1-2 byte
 * lengths, gamma-coded long distances and lengths, a repeat of the last distance); a block ends
 * with a distance byte of 0, followed by the address of the next block (0: the last). When the
 * loader calls its LZMA routine, a last stage follows: LZMA blocks (lc=4, lp=0, pb=2), their
 * probability table inside the image, and in one variant an E8/E9 call fix-up. As ClamAV does
 * (`libclamav/mew.c`, `packlibs.c`, `pe.c`), the two sections are laid out in one buffer,
 * unpacked in place and rebuilt into a PE (`clamrebuild.ts`, sections page-aligned).
 */
import type { PeImage } from "@vigil/engine";
import type { Member, OutputCap } from "../types.js";
import { unpackedMember } from "./member.js";
import { lzmaDecodeRaw } from "../xz.js";
import { rawAddr, sectionsOf } from "./upx.js";
import { put16, put32, u32 } from "./bytes.js";
import { cutShort, rebuildFrom, type BufferSect } from "./clamrebuild.js";
import { FsgError, unfsg } from "./fsg.js";

const bswap = (v: number): number =>
  (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
const up = (o: number, a: number): number => (Math.ceil(o / a) * a) >>> 0;
/** [at, at+n) is a non-empty range inside [0, size). */
const inside = (size: number, at: number, n: number): boolean => n > 0 && at >= 0 && at + n <= size;

class MewError extends Error {}
const fail = (message: string): never => {
  throw new MewError(`MEW: ${message}`);
};

/**
 * One LZ block (ClamAV's `unmew`, FSG's coder: `fsg.ts`): from `buf[src, src+ssize)` into
 * `buf[dst, dst+dsize)`, in the same buffer. Returns where the input and the output stopped.
 */
export function unmewBlock(
  buf: Uint8Array,
  src: number,
  dst: number,
  ssize: number,
  dsize: number,
): { endSrc: number; endDst: number } {
  try {
    return unfsg(buf, buf, src, ssize, dst, dsize);
  } catch (err) {
    if (err instanceof FsgError) fail(err.message);
    throw err;
  }
}

/**
 * The LZMA stage (ClamAV's `mew_lzma`): blocks of (output size, output address, packed size, 5
 * range coder bytes, data), ended by a size of 0; the "special" variant has one block, a call
 * count in front and E8/E9 operands turned back from absolute big-endian into relative.
 */
function mewLzma(buf: Uint8Array, at: number, vma: number, special: boolean): void {
  const size = buf.length;
  let p = at;
  let calls = 0;
  if (special) {
    calls = u32(buf, p);
    p += 4;
  }
  const probsAt = (u32(buf, p) - vma) >>> 0;
  p += 4;
  // each block fills its own part of the image: more output than the image holds is hostile
  let budget = size;
  for (let blocks = 0; ; blocks++) {
    if (blocks > 4096) fail("too many LZMA blocks");
    if (!inside(size, p, special ? 12 : 16)) fail("LZMA block header outside the image");
    if (!special && u32(buf, p) === 0) return;
    const outSize = u32(buf, p);
    const dest = (u32(buf, p + 4) - vma) >>> 0;
    const packed = u32(buf, p + 8);
    const rc = p + 13;
    p = rc + packed;
    if (!inside(size, probsAt, 0x6e6c)) fail("the LZMA probability table lies outside the image");
    // the loader's probability table is part of the image: reset for each block (1024 each)
    for (let i = 0; i < 0x6e6c; i += 2) put16(buf, probsAt + i, 0x400);
    if (!outSize) continue;
    if (!inside(size, rc, 5)) fail("LZMA data outside the image");
    if (!inside(size, dest, outSize)) fail("LZMA output outside the image");
    budget -= outSize;
    if (budget < 0) fail("the LZMA blocks claim more output than the image holds");
    // the range coder skips the first of its 5 bytes (LZMA's zero byte): zeroed while decoding
    const first = buf[rc]!;
    buf[rc] = 0;
    const out = new Uint8Array(outSize);
    const r = lzmaDecodeRaw(buf, rc, size, 4, 0, 2, out);
    buf[rc] = first;
    if (r.error) fail(`LZMA: ${r.error}`);
    buf.set(out.subarray(0, r.written), dest);
    // and left as decoding left it
    r.probs!.forEach((v, i) => put16(buf, probsAt + 2 * i, v));
    if (special) {
      if (calls < 5 || !inside(size, dest, calls)) return;
      for (let i = 0; i < calls - 5; i++) {
        const op = buf[dest + i];
        if (op === 0xe8 || op === 0xe9) {
          put32(buf, dest + i + 1, (bswap(u32(buf, dest + i + 1)) - i - 1) >>> 0);
          i += 4;
        }
      }
      return;
    }
  }
}

/** ClamAV's `unmew11`: the blocks, then the LZMA stage or the section list, then the rebuild. */
function unmew11(
  buf: Uint8Array,
  off: number,
  ssize: number,
  dsize: number,
  base: number,
  vadd: number,
  lzmaAt: number,
): Uint8Array {
  const vma = base + vadd;
  if (vma > 0xffffffff) fail("image base + section address pass 4 GB");
  const total = ssize + dsize;
  const source = dsize + off;
  if (!inside(total, source, 12)) fail("the loader's parameters lie outside the image");
  const entry = u32(buf, source + 4);
  let dst = (u32(buf, source + 8) - vma) >>> 0;
  let dleft = total - dst;
  let src = source + 12;
  let sleft = ssize - 12 - off;
  const sections: BufferSect[] = [];
  let raw = 0;
  let end = { endSrc: 0, endDst: 0 };
  // each block fills its own part of the image: more output than the image holds is hostile
  let budget = total;
  for (let i = 0; ; i++) {
    if (i >= 96) fail("more blocks than a PE has sections");
    if (!inside(total, src, sleft) || !inside(total, dst, dleft)) fail("a block lies outside the image");
    end = unmewBlock(buf, src, dst, sleft, dleft);
    budget -= end.endDst - dst;
    if (budget < 0) fail("the blocks write more than the image holds");
    const f1 = end.endSrc;
    if (!inside(total, f1, 4)) fail("the next block's address lies outside the image");
    sleft -= f1 + 4 - src;
    src = f1 + 4;
    const next = u32(buf, f1);
    dst = (next - vma) >>> 0;
    dleft = total - dst;
    if (!lzmaAt) {
      const val = up(end.endDst, 0x1000);
      if (i && val < raw) fail("blocks out of order");
      const rsz = i ? val - raw : val;
      if (raw + rsz > dsize) fail(`section ${i} passes the unpacked program's space`);
      sections.push({ raw, rva: (raw + vadd) >>> 0, rsz, vsz: rsz });
      raw = val;
    }
    if (!next) break;
  }
  if (lzmaAt) {
    if (!inside(total, lzmaAt + 8, 1)) fail("the LZMA routine lies outside the image");
    if (!inside(total, end.endSrc + 4, 29)) fail("the LZMA parameters lie outside the image");
    mewLzma(buf, end.endSrc + 4, vma, buf[lzmaAt + 8] === 0x50);
    sections.push({ raw: 0, rva: vadd, rsz: dsize, vsz: dsize });
  }
  const r = rebuildFrom(buf, sections, base, (entry - base) >>> 0, { align: 0x1000 });
  if (!("data" in r)) return fail(`rebuild: ${"error" in r ? r.error : ""}`);
  return r.data;
}

/** undefined: not MEW. Otherwise the rebuilt program, why it could not be unpacked, or the size it needs. */
export function unpackMew(
  pe: PeImage,
  b: Uint8Array,
  limit: number,
): { data?: Uint8Array; error?: string; size?: number } | undefined {
  if (pe.is64) return undefined;
  const { sects, hdrSize } = sectionsOf(pe, b.length);
  let i = 0;
  for (; i < sects.length - 1; i++) {
    const s = sects[i]!;
    const t = sects[i + 1]!;
    if (!s.rsz && s.vsz && t.rsz && t.vsz) break;
  }
  if (i >= sects.length - 1) return undefined;
  const vep = pe.entryPointRva;
  const ep = rawAddr(vep, sects, b.length, hdrSize);
  if (ep === undefined || ep + 16 > b.length) {
    // a file cut before its entry point: MEW's by its section name, else not recognised
    const named = pe.sections.some(
      (s) => s.nameBytes[0] === 0x4d && s.nameBytes[1] === 0x45 && s.nameBytes[2] === 0x57,
    );
    return named && cutShort(pe, b.length)
      ? { error: `MEW: the entry point is missing: ${cutShort(pe, b.length)}` }
      : undefined;
  }
  if (b[ep] !== 0xe9) return undefined;
  const at = (vep + u32(b, ep + 1) + 5) >>> 0;
  if (at !== 0x154 && at !== 0x158) return undefined;
  try {
    // the loader's parameters in the header
    if (at + 0xb0 > b.length) fail("the loader's parameters are cut off");
    const base = pe.opt32(28);
    const s0 = sects[0]!;
    const s1 = sects[1]!;
    const mew = sects[i + 1]!;
    let off = (u32(b, at + 1) - base) >>> 0;
    if (off <= mew.rva || off >= (mew.rva + mew.raw - 4) >>> 0) fail("the packed data lies outside the packer section");
    off -= mew.rva;
    const ssize = mew.vsz;
    const dsize = sects[i]!.vsz;
    if (ssize + dsize > 0xffffffff) fail("section sizes pass 4 GB");
    if (off >= ssize + dsize) fail("the packed data lies outside the image");
    if (ssize + dsize > limit) return { size: ssize + dsize };
    if (mew.rsz < off + 12 || mew.rsz > ssize) fail("the packer section's sizes do not match");
    let lzmaAt = 0;
    if (b[at + 0x7b] === 0xe8) {
      const call = (u32(b, at + 0x7c) + at + 0x80) >>> 0;
      if (!(s1.vsz >= 4 && call >= s1.rva && call + 4 <= s1.rva + s1.vsz))
        fail("the LZMA routine lies outside the packer section");
      lzmaAt = (u32(b, at + 0x7c) - ((s0.rva - at - 0x80) >>> 0)) >>> 0;
    }
    const buf = new Uint8Array(ssize + dsize);
    buf.set(b.subarray(mew.raw, mew.raw + mew.rsz), dsize);
    return { data: unmew11(buf, off, ssize, dsize, base, s0.rva, lzmaAt) };
  } catch (err) {
    if (!(err instanceof MewError)) throw err;
    const cut = cutShort(pe, b.length);
    return { error: cut ? `${err.message} (${cut})` : err.message };
  }
}

/** The member a MEW-packed PE yields (nothing when it is not one). */
export function* mewMembers(pe: PeImage, b: Uint8Array, cap: OutputCap): Iterable<Member> {
  const limit = cap(Math.max(b.length, 1));
  const r = unpackMew(pe, b, limit);
  if (!r) return;
  yield unpackedMember("MEW", "MEW-packed executable not unpacked", r, b.length, limit);
}
