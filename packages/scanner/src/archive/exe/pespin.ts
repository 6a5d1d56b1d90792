/**
 * PESpin 1.1-packed PE32 files, unpacked and rebuilt as ClamAV does (`libclamav/spin.c`,
 * `packlibs.c`, `rebuildpe.c`), so that signatures written against ClamAV's rebuilt image match:
 *
 * - recognition: the entry point in the last section, with the loader's CALL $+5 / MOV EBX,[ESP]
 *   / ADD EBX at EP+4; the loader's own bytes carry the keys at fixed offsets from the entry point;
 * - the loader is decrypted in layers (a byte XOR with a falling key, then 32-bit LFSR streams),
 *   the sections are XOR-decrypted with a key that is a checksum of the file's head, then run
 *   through a small generated routine of AL/CL instructions (interpreted, never executed);
 * - the sections marked compressed are inflated with FSG's aPLib-like coder (as are resources
 *   past a split point), and the sections (without the packer's) are laid out in a PE of
 *   ClamAV's making: its DOS stub, one header, sections `.clam01`...
 *
 * Every step that fails (a key or a routine outside the file, a wrong length, an unknown
 * instruction, a stream that does not decode) is an error for the caller to report.
 */
import type { PeImage } from "@vigil/engine";
import { HEADERS, rawAddr, type Sect } from "./upx.js";

/** The rest of ClamAV's rebuilt header (from 0xd0): the PE and optional headers (0x78 bytes). */
const PE_HEADER = Buffer.from(
  "504500004c01ffff434c414d0000000000000000e000838f0b010000001000000010000000000000ffffffff0010000000100000ffffffff0010000000020000010000000000000003000a000000000000100000000400000000000002000000000010000010000000001000001000000000000010000000",
  "hex",
);
const LOADER = Buffer.from("e8000000008b1c2483c3", "hex");

const u32 = (b: Uint8Array, o: number): number =>
  (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
const put32 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
};
const align = (o: number, a: number): number => (a ? Math.floor(o / a) * a : o) >>> 0;
const alignUp = (o: number, a: number): number => (a ? Math.ceil(o / a) * a : o);

/** ClamAV's CLI_ISCONTAINED over offsets: [sb, sb+ss) non-empty and inside [bb, bb+bs). */
function contained(bb: number, bs: number, sb: number, ss: number): boolean {
  return bs > 0 && ss > 0 && ss <= bs && sb >= bb && sb + ss <= bb + bs;
}

class SpinError extends Error {}
const fail = (m: string): never => {
  throw new SpinError(m);
};

/**
 * The sections as ClamAV's PE reader leaves them for the unpackers: aligned, clipped to the
 * file, and those that start past its end removed.
 */
function spinSections(pe: PeImage, size: number): Sect[] {
  const salign = pe.opt32(32);
  let falign = pe.opt32(36);
  for (const s of pe.sections)
    if (falign !== 0x200 && falign && s.rawDataSize && s.rawDataOffset % falign && !(s.rawDataOffset % 0x200))
      falign = 0x200;
  const out: Sect[] = [];
  for (const s of pe.sections) {
    const x: Sect = {
      rva: align(s.virtualAddress, salign),
      vsz: alignUp(s.virtualSize, salign),
      raw: align(s.rawDataOffset, falign),
      rsz: alignUp(s.rawDataSize, falign),
      ursz: s.rawDataSize,
    };
    if (x.rsz) {
      if (x.raw >= size || s.rawDataOffset >= size) continue;
      if (x.raw + x.rsz > size) x.rsz = size - x.raw;
      if (s.rawDataOffset + x.ursz > size) x.ursz = size - s.rawDataOffset;
    }
    if (!x.vsz && x.rsz) x.vsz = alignUp(x.ursz, salign);
    out.push(x);
  }
  return out;
}

/**
 * FSG's decompressor (an aPLib variant; ClamAV's `cli_unfsg`): `src` into `dst`, which it may
 * fill only partly. Throws SpinError on a stream that leaves either buffer.
 */
export function unfsg(src: Uint8Array, dst: Uint8Array): void {
  const ssize = src.length;
  const dsize = dst.length;
  if (ssize <= 0 || dsize <= 0) fail("PESpin: empty compressed section");
  let tag = 0x80;
  let s = 0;
  let d = 0;
  const bit = (): number => {
    let old = tag;
    tag = (tag << 1) & 0xff;
    if (!(old & 0x7f)) {
      if (s >= ssize - 1) fail("PESpin: compressed stream ends early");
      old = src[s++]!;
      tag = ((old << 1) | 1) & 0xff;
    }
    return (old >>> 7) & 1;
  };
  const gamma = (): number => {
    let n = 1;
    do n = ((n << 1) + bit()) >>> 0;
    while (bit());
    return n;
  };
  let oldback = 0;
  let lostbit = 1;
  dst[d++] = src[s++]!;
  for (;;) {
    if (!bit()) {
      if (s >= ssize) fail("PESpin: compressed stream ends early");
      if (d >= dsize) fail("PESpin: compressed stream passes its bounds");
      dst[d++] = src[s++]!;
      lostbit = 1;
      continue;
    }
    let backsize = 0;
    let backbytes = 0;
    if (bit()) {
      if (bit()) {
        lostbit = 1;
        backsize = 1;
        backbytes = 0x10;
        while (backbytes < 0x100) backbytes = backbytes * 2 + bit();
        backbytes &= 0xff;
        if (!backbytes) {
          if (d >= dsize) fail("PESpin: compressed stream passes its bounds");
          dst[d++] = 0;
          continue;
        }
      } else {
        if (s >= ssize) fail("PESpin: compressed stream ends early");
        const c = src[s++]!;
        backsize = c & 1;
        backbytes = c >>> 1;
        if (!backbytes) return; // the end marker
        backsize += 2;
        oldback = backbytes;
        lostbit = 0;
      }
    } else {
      backsize = (gamma() - 1 - lostbit) >>> 0;
      if (!backsize) {
        backsize = gamma();
        backbytes = oldback;
      } else {
        if (s >= ssize) fail("PESpin: compressed stream ends early");
        backbytes = (src[s++]! + (((backsize - 1) << 8) >>> 0)) >>> 0;
        backsize = gamma();
        if (backbytes >= 0x7d00) backsize++;
        if (backbytes >= 0x500) backsize++;
        if (backbytes <= 0x7f) backsize += 2;
        oldback = backbytes;
      }
      lostbit = 0;
    }
    if (!contained(0, dsize, d, backsize) || !contained(0, dsize, d - backbytes, backsize))
      fail("PESpin: a back reference leaves the section");
    for (; backsize > 0; backsize--, d++) dst[d] = dst[d - backbytes]!;
  }
}

/**
 * Runs the loader's AL/CL routine at `code` (0x24 bytes, then 0xAA) over one byte `al` with
 * CL = `cl` (ClamAV's `exec86`): ADD/SUB/XOR with CL or a constant, INC/DEC, ROL/ROR, no-ops.
 */
function exec86(al: number, cl: number, f: Uint8Array, code: number): number {
  let n = 0;
  while (n < 0x24) {
    const op = f[code + n++]!;
    switch (op) {
      case 0xeb:
        n += 2;
        break;
      case 0x0a:
        n++;
        break;
      case 0x90:
      case 0xf8:
      case 0xf9:
        break;
      case 0x02:
        al = (al + cl) & 0xff;
        n++;
        break;
      case 0x2a:
        al = (al - cl) & 0xff;
        n++;
        break;
      case 0x04:
        al = (al + f[code + n++]!) & 0xff;
        break;
      case 0x2c:
        al = (al - f[code + n++]!) & 0xff;
        break;
      case 0x32:
        al ^= cl;
        n++;
        break;
      case 0x34:
        al ^= f[code + n++]!;
        break;
      case 0xfe:
        al = (f[code + n++] === 0xc0 ? al + 1 : al - 1) & 0xff;
        break;
      case 0xc0: {
        const rol = f[code + n++] === 0xc0;
        const k = f[code + n++]! & 7;
        al = rol ? ((al << k) | (al >>> ((8 - k) & 7))) & 0xff : ((al >>> k) | (al << ((8 - k) & 7))) & 0xff;
        break;
      }
      default:
        return fail(`PESpin: unknown instruction 0x${op.toString(16)} in the decryption routine`);
    }
  }
  if (n !== 0x24 || f[code + n] !== 0xaa) fail("PESpin: the decryption routine is malformed");
  return al;
}

/** The routine's result for every (AL, CL): one table per routine, then one lookup per byte. */
function routineTable(f: Uint8Array, code: number): Uint8Array {
  if (!contained(0, f.length, code, 0x25)) fail("PESpin: the decryption routine lies outside the file");
  const t = new Uint8Array(0x10000);
  for (let cl = 0; cl < 256; cl++) for (let al = 0; al < 256; al++) t[(cl << 8) | al] = exec86(al, cl, f, code);
  return t;
}

/** ClamAV's `summit`: the checksum of the file's head that the section key is derived from. */
export function checksum(b: Uint8Array, n: number): number {
  // int32 arithmetic throughout (V8 keeps it in registers); the result as unsigned
  let eax = -1;
  let ebx = -1;
  for (let i = 0; i < n; i++) {
    eax = ((eax ^ (b[i]! << 8)) >>> 3) & 0x1fffffff;
    for (let k = 0; k < 4; k++) {
      eax ^= (ebx >>> 8) & 0xff;
      eax = (eax + 0x7801a108) | 0;
      eax ^= ebx;
      const r = ebx & 31;
      eax = (eax >>> r) | (eax << (32 - r)); // a shift by 32 is one by 0 in JS: r = 0 keeps eax
      const t = eax;
      eax = ebx;
      ebx = t;
    }
  }
  return ebx >>> 0;
}

/** An LFSR stream XORed over `n` bytes at `at` (`tapOnSet`: the polynomial applies when bit 0 was set). */
function lfsr(f: Uint8Array, at: number, n: number, key: number, poly: number, tapOnSet: boolean): void {
  let k = key | 0;
  const p = poly | 0;
  const flip = tapOnSet ? 0 : 1;
  for (let i = 0; i < n; i++) {
    // branch-free: the polynomial masked in when bit 0 is (or is not) set
    k = (k >>> 1) ^ (p & -((k & 1) ^ flip));
    f[at + i]! ^= k & 0xff;
  }
}

export interface SpinUnpacked {
  data?: Uint8Array;
  error?: string;
}

/** A section of the rebuilt image: its bytes and memory layout. */
interface Out {
  rva: number;
  vsz: number;
  data: Uint8Array;
}

/** undefined: not PESpin. Otherwise the rebuilt image, or why there is none. */
export function unpackPespin(pe: PeImage, b: Uint8Array, limit: number): SpinUnpacked | undefined {
  if (pe.is64) return undefined;
  const size = b.length;
  const sects = spinSections(pe, size);
  const n = sects.length;
  if (n < 2) return undefined;
  const last = sects[n - 1]!;
  const vep = pe.entryPointRva;
  const end = (last.rva + last.rsz) >>> 0;
  // as in ClamAV, in unsigned 32-bit arithmetic (a section ending before 0x321b wraps around)
  if (!(vep >= last.rva && 0x3217 - 4 <= end && vep < (end - 0x3217 - 4) >>> 0)) return undefined;
  const epOff = rawAddr(vep, sects, size, alignUp(pe.opt32(60), pe.opt32(32)));
  if (epOff === undefined || !LOADER.equals(b.subarray(epOff + 4, epOff + 14))) return undefined;
  try {
    return { data: unspin(b, sects, vep, limit) };
  } catch (err) {
    if (err instanceof SpinError) return { error: err.message };
    if (err instanceof SpinLimit) return {};
    throw err;
  }
}

class SpinLimit extends Error {
  constructor(readonly needed: number) {
    super(`the unpacked image needs ${needed} bytes`);
  }
}

function unspin(b: Uint8Array, sects: Sect[], vep: number, limit: number): Uint8Array {
  const size = b.length;
  const count = sects.length - 1;
  const last = sects[count]!;
  // the packer's section, decrypted on its own first (the checksum is over the original file)
  const spin = Uint8Array.prototype.slice.call(b, last.raw, last.raw + last.rsz) as Uint8Array;
  const ep = vep - last.rva;
  if (spin[ep + 0xdb] !== 0xbb || spin[ep + 0xe0] !== 0xb9 || u32(spin, ep + 0xe1) !== 0x11fe)
    fail("PESpin: not PESpin 1.1 (the loader's first key is not where it should be)");
  let key8 = spin[ep + 0xdc]!;
  let len = 0x11fe;
  if (!contained(0, spin.length, ep, len + 0x1fe5 - 1)) fail("PESpin: the loader runs past its section");
  for (let at = ep + 0x1fe5 + len - 1; len > 0; len--, at--) {
    spin[at]! ^= key8;
    key8 = (key8 - 1) & 0xff;
  }
  if (!contained(0, spin.length, ep + 0x3217, 4)) fail("PESpin: the loader's key lies past its section");
  if (u32(spin, ep + 0x26eb + 5) !== 0x5a0) fail("PESpin: not PESpin 1.1 (second layer's length)");
  lfsr(spin, ep + 0x2d5, 0x5a0, u32(spin, ep + 0x26eb), 0x8c328834, true);
  const head = (size - u32(spin, ep + 0x429)) >>> 0;
  if (head >= size) fail("PESpin: the checksummed length lies outside the file");
  const key32 = (u32(spin, ep + 0x3217) - checksum(b, head)) >>> 0;

  const f = Uint8Array.prototype.slice.call(b) as Uint8Array;
  f.set(spin, last.raw);
  const e = vep + last.raw - last.rva; // the entry point in the file
  if (!contained(0, size, e + 0x3207, 4)) fail("PESpin: the section key lies outside the file");
  let bitmap = u32(f, e + 0x3207);
  for (let j = 0; j < count; j++, bitmap >>>= 1) {
    if (!(bitmap & 1)) continue;
    const s = sects[j]!;
    if (!contained(0, size, s.raw, s.rsz)) fail(`PESpin: section ${j} lies outside the file`);
    lfsr(f, s.raw, s.rsz, key32, 0xed43af31, false);
  }
  if (!contained(0, size, e + 0x644, 0x10) || u32(f, e + 0x644) !== 0x180)
    fail("PESpin: not PESpin 1.1 (third layer's length)");
  if (!contained(0, size, e + 0x28d3, 0x180)) fail("PESpin: the third layer lies outside the file");
  lfsr(f, e + 0x28d3, 0x180, u32(f, e + 0x644 + 0x0c), 0xed43af32, true);
  if (u32(f, e + 0x28dd) !== 0x1a1) fail("PESpin: not PESpin 1.1 (the routine's length)");
  // the routine decrypts part of the loader (the second routine and the bitmaps), then the sections
  if (!contained(0, size, e + 0x6d4, 0x1a1)) fail("PESpin: the routine's target lies outside the file");
  const poly1 = routineTable(f, e + 0x28ec);
  for (let i = 0, l = 0x1a1; l > 0; i++, l--) f[e + 0x6d4 + i] = poly1[((l & 0xff) << 8) | f[e + 0x6d4 + i]!]!;
  bitmap = u32(f, e + 0x6f1);
  let poly2: Uint8Array | undefined;
  for (let j = 0; j < count; j++, bitmap >>>= 1) {
    if (!(bitmap & 1)) continue;
    if (!contained(0, size, e + 0x755, 0x24)) fail("PESpin: the decryption routine lies outside the file");
    const s = sects[j]!;
    if (!s.rsz) continue;
    if (!contained(0, size, s.raw, s.rsz)) fail(`PESpin: section ${j} lies outside the file`);
    poly2 ??= routineTable(f, e + 0x755);
    for (let i = 0, l = s.rsz; l > 0; i++, l--) f[s.raw + i] = poly2[((l & 0xff) << 8) | f[s.raw + i]!]!;
  }

  // decompression: what it needs is checked against the cap before anything is allocated
  const packed = u32(f, e + 0x3061);
  const resAt = u32(f, e + 0x2fee);
  let needed = 0;
  for (let j = 0; j < count; j++) needed += j32(packed, j) ? sects[j]!.vsz : sects[j]!.rsz;
  let res = -1;
  if (resAt) {
    res = sects.findIndex(
      (s, j) => j < count && s.rva <= resAt && resAt - s.rva < s.vsz && contained(0, s.rsz, 0, resAt - s.rva),
    );
    if (res >= 0 && j32(packed, res)) res = -1; // a compressed section is inflated whole
    if (res >= 0) needed += sects[res]!.vsz;
  }
  if (needed + 0x1000 > limit) throw new SpinLimit(needed + 0x1000);
  const out: Out[] = [];
  for (let j = 0; j < count; j++) {
    const s = sects[j]!;
    if (j32(packed, j)) {
      const dst = new Uint8Array(s.vsz);
      unfsg(f.subarray(s.raw, s.raw + s.rsz), dst);
      out.push({ rva: s.rva, vsz: s.vsz, data: dst });
    } else out.push({ rva: s.rva, vsz: s.vsz, data: f.subarray(s.raw, s.raw + s.rsz) });
  }
  if (res >= 0) {
    // resources compressed past a split point; a failure here leaves them as they are (as ClamAV does)
    const s = sects[res]!;
    const split = resAt - s.rva;
    const grown = new Uint8Array(s.vsz);
    grown.set(f.subarray(s.raw, s.raw + split));
    try {
      unfsg(f.subarray(s.raw + split, s.raw + s.rsz), grown.subarray(split));
      out[res] = { rva: s.rva, vsz: s.vsz, data: grown };
    } catch (err) {
      if (!(err instanceof SpinError)) throw err;
    }
  }
  return rebuildPe(out, 0x400000, 0x1000);
}

/** Bit `j` of a 32-bit bitmap (none past 31). */
const j32 = (bitmap: number, j: number): number => (j < 32 ? (bitmap >>> j) & 1 : 0);

/**
 * ClamAV's rebuilt PE (`cli_rebuildpe`, no alignment): its DOS stub and headers, a section
 * "empty" covering the gap when the first section starts far past the headers, then each
 * section as `.clamNN` with its raw data at 0x200-aligned offsets.
 */
export function rebuildPe(sections: Out[], base: number, ep: number): Uint8Array {
  const count = sections.length;
  let rawbase = alignUp(0x148 + 0x80 + 0x28 * count, 0x200);
  const ghost = count > 0 && sections[0]!.rva > alignUp(rawbase, 0x1000) ? 1 : 0;
  if (ghost) rawbase = alignUp(0x148 + 0x80 + 0x28 * (count + 1), 0x200);
  if (count + ghost > 96) fail("PESpin: too many sections to rebuild");
  let total = rawbase;
  for (const s of sections) total += alignUp(s.data.length, 0x200);
  const pe = new Uint8Array(total);
  pe.set(HEADERS, 0);
  pe.set(PE_HEADER, 0xd0);
  pe[0xd0 + 6] = (count + ghost) & 0xff;
  pe[0xd0 + 7] = (count + ghost) >>> 8;
  put32(pe, 0xd0 + 40, ep);
  put32(pe, 0xd0 + 52, base);
  put32(pe, 0xd0 + 84, rawbase);
  let vsize = alignUp(rawbase, 0x1000);
  let h = 0x148 + 0x80;
  if (ghost) {
    pe.set(Buffer.from("empty", "latin1"), h);
    put32(pe, h + 8, (sections[0]!.rva - vsize) >>> 0);
    put32(pe, h + 12, vsize);
    put32(pe, h + 0x24, 0xffffffff);
    h += 40;
    vsize += alignUp(sections[0]!.rva - vsize, 0x1000);
  }
  sections.forEach((s, i) => {
    pe.set(Buffer.from(`.clam${String(i + 1).padStart(2, "0")}`.slice(0, 7), "latin1"), h);
    put32(pe, h + 8, s.vsz);
    put32(pe, h + 12, s.rva);
    put32(pe, h + 16, s.data.length);
    put32(pe, h + 20, rawbase);
    put32(pe, h + 0x24, 0xffffffff);
    pe.set(s.data, rawbase);
    h += 40;
    rawbase += alignUp(s.data.length, 0x200);
    vsize += alignUp(s.vsz, 0x1000);
  });
  put32(pe, 0xd0 + 80, vsize >>> 0);
  return pe;
}
