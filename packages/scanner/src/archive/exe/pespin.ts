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
import { contained, u32 } from "./bytes.js";
import { rebuildPe, type RebuildSect } from "./clamrebuild.js";
import { FsgError, unfsg } from "./fsg.js";
import { rawAddr, sectionsOf, type Sect } from "./upx.js";

const LOADER = Buffer.from("e8000000008b1c2483c3", "hex");

class SpinError extends Error {}
const fail = (m: string): never => {
  throw new SpinError(m);
};

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

/** undefined: not PESpin. Otherwise the rebuilt image, or why there is none. */
export function unpackPespin(pe: PeImage, b: Uint8Array, limit: number): SpinUnpacked | undefined {
  if (pe.is64) return undefined;
  const size = b.length;
  const { sects, hdrSize } = sectionsOf(pe, size, true);
  const n = sects.length;
  if (n < 2) return undefined;
  const last = sects[n - 1]!;
  const vep = pe.entryPointRva;
  const end = (last.rva + last.rsz) >>> 0;
  // as in ClamAV, in unsigned 32-bit arithmetic (a section ending before 0x321b wraps around)
  if (!(vep >= last.rva && 0x3217 - 4 <= end && vep < (end - 0x3217 - 4) >>> 0)) return undefined;
  const epOff = rawAddr(vep, sects, size, hdrSize);
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
  const out: RebuildSect[] = [];
  for (let j = 0; j < count; j++) {
    const s = sects[j]!;
    if (j32(packed, j)) {
      const dst = new Uint8Array(s.vsz);
      try {
        unfsg(f.subarray(s.raw, s.raw + s.rsz), dst);
      } catch (err) {
        if (err instanceof FsgError) fail(`PESpin: section ${j}: ${err.message}`);
        throw err;
      }
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
      if (!(err instanceof FsgError)) throw err;
    }
  }
  const r = rebuildPe(out, 0x400000, 0x1000);
  if (!("data" in r)) return fail(`PESpin: the unpacked program could not be rebuilt: ${"error" in r ? r.error : ""}`);
  return r.data;
}

/** Bit `j` of a 32-bit bitmap (none past 31). */
const j32 = (bitmap: number, j: number): number => (j < 32 ? (bitmap >>> j) & 1 : 0);
