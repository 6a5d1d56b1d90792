/**
 * ASPack 2.12 to 2.42: unpacked and rebuilt as ClamAV does (facts from `libclamav/aspack.c`,
 * `pe.c`), so hash signatures written against ClamAV's rebuilt file match here.
 *
 * - recognition: `pushad; call +3` at the entry point and the loader's `push 0; ret` (the
 *   original entry point's slot) at one of three offsets, which gives the version;
 * - the sections are laid out at their RVAs (the memory image); the loader (at the entry point
 *   - 1) holds a table of blocks (RVA, size), each compressed in place;
 * - each block is an LZ77 stream with canonical prefix codes (as in deflate): a main code of 721
 *   symbols (256 literals, 464 matches = 58 distance classes x 8 lengths, one "new codes"
 *   symbol), a length code and a distance-low-bits code, the codes' lengths themselves coded
 *   (19 symbols, run-length, delta to the previous table), a 3-entry history of distances;
 * - in the first block, E8/E9 calls and jumps whose target the packer made absolute (marked by
 *   a byte the loader names) are made relative again;
 * - the image is rebuilt into a PE without the packer's two sections (`clamrebuild.ts`).
 */
import type { PeImage } from "@vigil/engine";
import { put32, u32 } from "./bytes.js";
import type { Member, OutputCap } from "../types.js";
import { rebuiltMember } from "./member.js";
import { cutShort, rebuildFrom } from "./clamrebuild.js";
import { rawAddr, sectionsOf } from "./upx.js";

/** Where each version's loader keeps things, from the entry point - 1 (ClamAV's constants). */
const VERSIONS = [
  { name: "2.12", sig: 0x3b9, blocks: 0x57c, stride: 8, lengths: 0x70e, tables: 0x6d6, callByte: 0x148, oep: 0x39b },
  { name: "2.2x", sig: 0x41f, blocks: 0x5d8, stride: 12, lengths: 0x76a, tables: 0x732, callByte: 0x13a, oep: 0x401 },
  { name: "2.42", sig: 0x42b, blocks: 0x5e4, stride: 12, lengths: 0x776, tables: 0x73e, callByte: 0x148, oep: 0x40d },
] as const;
type Version = (typeof VERSIONS)[number];

const ENTRY = Buffer.from("60e803000000e9eb", "hex");
const PUSH_RET = Buffer.from("6800000000c3", "hex");

const eq = (b: Uint8Array, o: number, sig: Uint8Array): boolean =>
  o >= 0 && o + sig.length <= b.length && Buffer.compare(b.subarray(o, o + sig.length), sig) === 0;

class AspackError extends Error {}

/** Work units (symbols decoded, table entries built) one file may cost: hostile streams end here. */
const WORK_BUDGET = 150_000_000;

/** Sizes of the four codes: main, match length, distance low bits, code lengths. */
const CODE_SIZES = [721, 28, 8, 19] as const;

/** One canonical prefix code: limits per length (24-bit left-aligned), first index per length. */
class Code {
  /** symbol by canonical index */
  readonly symbols: Uint32Array;
  /** code length by the top 8 bits of the window (codes of up to 8 bits) */
  readonly short = new Uint8Array(0x100);
  readonly limit = new Uint32Array(24);
  readonly first = new Uint32Array(24);
  constructor(readonly size: number) {
    this.symbols = new Uint32Array(size);
  }

  /** Builds the code from `lengths` (one per symbol); false when they make no complete code. */
  build(lengths: Uint8Array): boolean {
    const count = new Uint32Array(18);
    const next = new Uint32Array(18);
    for (let i = 0; i < this.size; i++) {
      const l = lengths[i]!;
      if (l > 17) return false;
      count[l]!++;
    }
    this.limit.fill(0);
    this.first.fill(0);
    let sum = 0;
    let shortEnd = 0;
    // lengths 1..15; the code space is 2^24, a length-n code takes 2^(24-n) of it
    for (let i = 0, shift = 23; shift >= 9; i++, shift--) {
      // 32-bit arithmetic as the loader's (a hostile count wraps, and is then caught below)
      sum = (sum + ((count[i + 1]! << shift) >>> 0)) >>> 0;
      if (sum > 0x1000000) return false;
      this.limit[i + 1] = sum;
      this.first[i + 1] = next[i + 1] = count[i]! + this.first[i]!;
      if (shift >= 16) {
        const old = shortEnd;
        shortEnd = sum >>> 16;
        if (shortEnd < old || shortEnd > 0x100) return false;
        this.short.fill(i + 1, old, shortEnd);
      }
    }
    if (sum !== 0x1000000) return false;
    for (let i = 0; i < this.size; i++) {
      const l = lengths[i]!;
      if (!l) continue;
      if (next[l]! >= this.size) return false;
      this.symbols[next[l]!++] = i;
    }
    return true;
  }
}

/** The bit stream and the decoder's state (kept across blocks, as ClamAV keeps it). */
class Stream {
  input: Uint8Array = new Uint8Array(0);
  pos = 0;
  window = 0x10000;
  bitpos = 0;
  readonly codes = CODE_SIZES.map((n) => new Code(n));
  /** the previous code lengths, which new ones are coded against */
  readonly previous = new Uint8Array(757);
  /** lengths being read: [0] stays 0 (the "previous" of the first entry) */
  readonly lengths = new Uint8Array(758);
  readonly headLengths = new Uint8Array(19);
  /** false when every distance-low-bits code has length 3: low bits are then read raw */
  lowCoded = false;
  readonly base = new Uint32Array(58);
  work = 0;

  /** Refills the window so 24 bits from `bitpos` are available. */
  private fill(): void {
    while (this.bitpos >= 8) {
      if (this.pos >= this.input.length) throw new AspackError("ASPack: compressed data ends early");
      this.window = ((this.window << 8) | this.input[this.pos++]!) >>> 0;
      this.bitpos -= 8;
    }
  }
  /** The next 24 bits, not consumed. */
  peek(): number {
    this.fill();
    return (this.window >>> (8 - this.bitpos)) & 0xffffff;
  }
  bits(n: number): number {
    if (n > 24) throw new AspackError("ASPack: a field wider than 24 bits (damaged loader tables?)");
    const v = n ? this.peek() >>> (24 - n) : (this.fill(), 0);
    this.bitpos += n;
    return v;
  }
  symbol(which: number): number {
    const code = this.codes[which]!;
    const w = this.peek() & 0xfffe00;
    let len: number;
    if (w < code.limit[8]!) {
      len = code.short[w >>> 16]!;
      if (!len || len >= 24) throw new AspackError("ASPack: invalid code in the stream");
    } else {
      // (in the loader's order: limits of damaged tables need not grow, and then the order counts)
      const lim = code.limit;
      if (w < lim[10]!) len = w < lim[9]! ? 9 : 10;
      else if (w < lim[11]!) len = 11;
      else if (w < lim[12]!) len = 12;
      else if (w < lim[13]!) len = 13;
      else len = w < lim[14]! ? 14 : 15;
    }
    this.bitpos += len;
    const index = (((w - code.limit[len - 1]!) >>> 0) >>> (24 - len)) + code.first[len]!;
    if (index >= code.size) throw new AspackError("ASPack: invalid code in the stream");
    return code.symbols[index]!;
  }

  /** Reads new code lengths (coded by a 19-symbol code, against the previous ones) and builds the codes. */
  readCodes(): void {
    this.work += 2000;
    if (this.work > WORK_BUDGET) throw new AspackError("ASPack: the stream takes too long to decode (hostile?)");
    if (!this.bits(1)) this.previous.fill(0);
    for (let i = 0; i < 19; i++) this.headLengths[i] = this.bits(4);
    if (!this.codes[3]!.build(this.headLengths)) throw new AspackError("ASPack: invalid code lengths");
    const L = this.lengths;
    let n = 0;
    while (n < 757) {
      const s = this.symbol(3);
      if (s < 16) {
        L[1 + n] = (this.previous[n]! + s) & 0xf;
        n++;
        continue;
      }
      // 16: repeat the previous length 3-6 times; 17, 18: 3-10 or 11-138 zeros
      const run = s === 16 ? 3 + this.bits(2) : s === 17 ? 3 + this.bits(3) : 11 + this.bits(7);
      for (let k = 0; k < run && n < 757; k++, n++) L[1 + n] = s === 16 ? L[n]! : 0;
    }
    if (
      !this.codes[0]!.build(L.subarray(1, 722)) ||
      !this.codes[1]!.build(L.subarray(722, 750)) ||
      !this.codes[2]!.build(L.subarray(750, 758))
    )
      throw new AspackError("ASPack: invalid code lengths");
    this.lowCoded = false;
    for (let i = 750; i < 758; i++) if (L[i] !== 3) this.lowCoded = true;
    this.previous.set(L.subarray(1, 758));
  }
}

/** Decodes one block: `size` bytes into `out` (from the stream's input), `t` the loader's tables. */
function decodeBlock(s: Stream, t: Uint8Array, out: Uint8Array): void {
  s.previous.fill(0);
  s.bitpos = 32;
  s.readCodes();
  const size = out.length;
  const hist = [0, 0, 0];
  let n = 0;
  while (n < size) {
    if (++s.work > WORK_BUDGET) throw new AspackError("ASPack: the stream takes too long to decode (hostile?)");
    let sym = s.symbol(0);
    if (sym < 256) {
      out[n++] = sym;
      continue;
    }
    if (sym >= 720) {
      s.readCodes();
      continue;
    }
    const cls = (sym - 256) >>> 3;
    let len = ((sym - 256) & 7) + 2;
    if (len === 9) {
      sym = s.symbol(1);
      if (sym >= 0x56) throw new AspackError("ASPack: invalid length code");
      len += t[sym]! + s.bits(t[sym + 0x1c]!);
    }
    let dist = s.base[cls]!;
    const extra = t[cls + 0x38]!;
    if (!s.lowCoded || extra < 3) dist = (dist + s.bits(extra)) >>> 0;
    else {
      dist = (dist + s.bits(extra - 3) * 8) >>> 0;
      dist = (dist + s.symbol(2)) >>> 0;
    }
    let back: number;
    if (dist < 3) {
      back = hist[dist]!;
      if (dist) {
        hist[dist] = hist[0]!;
        hist[0] = back;
      }
    } else {
      hist[2] = hist[1]!;
      hist[1] = hist[0]!;
      back = hist[0] = dist - 3;
    }
    back = (back + 1) >>> 0;
    if (!back || back > n || len > size - n) throw new AspackError("ASPack: a copy reaches outside the block");
    for (let k = 0; k < len; k++, n++) out[n] = out[n - back]!;
  }
}

export interface AspackUnpacked {
  data?: Uint8Array;
  error?: string;
  /** the memory image's size: what the unpacking needs, checked against the caller's cap first */
  size: number;
  version?: string;
}

/** undefined: not ASPack. Otherwise the rebuilt program, or why it could not be unpacked. */
export function unpackAspack(pe: PeImage, b: Uint8Array, limit: number): AspackUnpacked | undefined {
  if (pe.is64) return undefined;
  const { sects, hdrSize } = sectionsOf(pe, b.length, true);
  const vep = pe.entryPointRva;
  const epOff = rawAddr(vep, sects, b.length, hdrSize);
  if (epOff === undefined || !eq(b, epOff, ENTRY)) return undefined;
  // (ClamAV needs the loader's tables in the file: 0x748 bytes from the entry point at least)
  if (b.length - epOff < 0x749) return { error: "ASPack: the loader is cut short (truncated?)", size: 0 };
  const ep = new Uint8Array(4096);
  ep.set(b.subarray(epOff, Math.min(b.length, epOff + 4096)));
  const v: Version | undefined = VERSIONS.find((x) => eq(ep, x.sig, PUSH_RET));
  if (!v) return undefined;
  let size = 0;
  for (const s of sects) size = Math.max(size, s.rva + s.vsz);
  if (!size) return { error: "ASPack: the sections have no size", size: 0 };
  if (size > limit) return { size };
  try {
    const image = new Uint8Array(size);
    for (const s of sects) {
      if (!s.rsz) continue;
      if (s.rva + s.rsz > size) throw new AspackError("ASPack: a section's raw data does not fit its place in memory");
      image.set(b.subarray(s.raw, s.raw + s.rsz), s.rva);
    }
    const at = vep - 1;
    const inImage = (o: number, n: number) => o >= 0 && o + n <= size;
    if (!inImage(at + v.tables, 0x72) || !inImage(at + v.callByte, 1) || !inImage(at + v.oep, 4))
      throw new AspackError("ASPack: the loader lies outside the image (truncated?)");
    const tables = image.slice(at + v.tables, at + v.tables + 0x72);
    const s = new Stream();
    let acc = 0;
    for (let i = 0; i < 58; i++) {
      s.base[i] = acc;
      if (at + v.lengths + i < size) acc = (acc + (1 << image[at + v.lengths + i]!)) >>> 0;
    }
    let blocks = at + v.blocks;
    let fixups = 0;
    let blockRva = 1;
    for (;;) {
      if (!inImage(blocks, 8)) break;
      blockRva = u32(image, blocks);
      const blockSize = u32(image, blocks + 4);
      if (!blockRva || !blockSize || !inImage(blockRva, blockSize)) break;
      // the block is decoded from a copy of itself (padded with zeros) over itself
      s.input = new Uint8Array(blockSize + 0x10e);
      s.input.set(image.subarray(blockRva, blockRva + blockSize));
      s.pos = 0;
      decodeBlock(s, tables, image.subarray(blockRva, blockRva + blockSize));
      if (fixups === 0 && blockSize > 7) {
        // E8/E9 with the loader's marker byte: the next 3 bytes are an absolute target, made relative
        while (fixups < blockSize - 6) {
          const p = blockRva + fixups;
          if ((image[p] === 0xe8 || image[p] === 0xe9) && image[p + 1] === image[at + v.callByte]) {
            put32(image, p + 1, ((u32(image, p + 1) >>> 8) - fixups) >>> 0);
            fixups += 4;
          }
          fixups++;
        }
      }
      blocks += v.stride;
      if (v.stride === 12) while (inImage(blocks + 4, 4) && u32(image, blocks + 4) === 0xfffffef2) blocks += 12;
    }
    if (blockRva)
      throw new AspackError(
        `ASPack: the block at RVA 0x${blockRva.toString(16)} could not be unpacked (outside the image or damaged)`,
      );
    let n = sects.length;
    if (n > 2 && at === sects[n - 2]!.rva && !sects[n - 1]!.rsz) n -= 2;
    const out = sects.slice(0, n).map((x) => ({ rva: x.rva, vsz: x.vsz, raw: x.rva, rsz: x.vsz }));
    const oep = u32(image, at + v.oep);
    const built = rebuildFrom(image, out, Number(pe.imageBase) >>> 0, oep, { limit });
    if ("over" in built) return { size: built.over };
    // where ClamAV cannot rebuild (too many sections), it scans the memory image as it is
    return { data: "data" in built ? built.data : image, size, version: v.name };
  } catch (err) {
    if (err instanceof AspackError) return { error: err.message, size, version: v.name };
    throw err;
  }
}

/**
 * The member an ASPack-packed PE yields: the rebuilt program, or why it is not fully scanned. A file
 * cut short still yields what unpacks from the bytes that are there, reported as damaged.
 */
export function* readAspack(pe: PeImage, b: Uint8Array, cap: OutputCap): Iterable<Member> {
  const limit = cap(Math.max(b.length, 1));
  const r = unpackAspack(pe, b, limit);
  if (!r) return;
  yield rebuiltMember("ASPack", r, !!cutShort(pe, b.length), b.length, limit);
}
