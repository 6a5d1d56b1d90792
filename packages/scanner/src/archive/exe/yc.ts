/**
 * yoda's Crypter (yC 1.3 and variants): each section is encrypted byte by byte by a small
 * generated routine of x86 instructions on AL and CL (ADD/SUB/XOR with a constant or CL, DEC,
 * ROL/ROR), which the crypter's own section carries. As ClamAV does (`libclamav/yc.c`), the
 * routine is interpreted rather than run: first over the crypter's second-stage code, then over
 * every encrypted section; the yC section is cut off and the header fixed (sections, imports,
 * entry point, image size). The result, the original program, is the member.
 */
import type { PeImage } from "@vigil/engine";
import { rawAddr, sectionsOf } from "./upx.js";
import { u32 } from "./bytes.js";

const s8 = (v: number): number => (v << 24) >> 24;
const eq = (b: Uint8Array, o: number, hex: string): boolean =>
  Buffer.from(hex, "hex").equals(b.subarray(o, o + hex.length / 2));

class YcError extends Error {}

/** Runs the decryption routine at `dec` over `count` bytes at `code` (in place), CL starting at count. */
function emulate(
  f: Uint8Array,
  size: number,
  dec: number,
  code: number,
  count: number,
  maxEmu: number,
  budget: { steps: number },
): void {
  const inFile = (o: number) => {
    if (o < 0 || o >= size) throw new YcError("yC: the decryptor reaches outside the file");
  };
  let cl = count & 0xff;
  for (let i = 0; i < count && i < maxEmu; i++) {
    inFile(code + i);
    let al = f[code + i]!;
    // j is a 32-bit unsigned counter as in the routine's C model: a jump back to -1 wraps to 0
    for (let j = 0; j < 0x30; j = (j + 1) >>> 0) {
      inFile(dec + j);
      const op = f[dec + j]!;
      switch (op) {
        case 0xeb: // JMP short (backward jumps could loop: bounded as ClamAV bounds them)
          if (--budget.steps < 0) throw new YcError("yC: the decryptor loops too long");
          j++;
          inFile(dec + j);
          j = (j + s8(f[dec + j]!)) >>> 0;
          break;
        case 0xfe: // DEC AL
          al = (al - 1) & 0xff;
          j++;
          break;
        case 0x2a: // SUB AL,CL
          al = (al - cl) & 0xff;
          j++;
          break;
        case 0x02: // ADD AL,CL
          al = (al + cl) & 0xff;
          j++;
          break;
        case 0x32: // XOR AL,CL
          al ^= cl;
          j++;
          break;
        case 0x04: // ADD AL,imm
        case 0x34: // XOR AL,imm
        case 0x2c: {
          // SUB AL,imm
          j++;
          inFile(dec + j);
          const v = f[dec + j]!;
          al = op === 0x04 ? (al + v) & 0xff : op === 0x34 ? al ^ v : (al - v) & 0xff;
          break;
        }
        case 0xc0: {
          // ROL/ROR AL,imm
          j++;
          inFile(dec + j);
          const rol = f[dec + j] === 0xc0;
          j++;
          inFile(dec + j);
          const n = f[dec + j]! & 7;
          al = rol ? ((al << n) | (al >>> (8 - n))) & 0xff : ((al >>> n) | (al << (8 - n))) & 0xff;
          break;
        }
        case 0xd2: {
          // ROR/ROL AL,CL
          j++;
          inFile(dec + j);
          const ror = f[dec + j] === 0xc8;
          j++;
          const n = cl & 7;
          al = ror ? ((al >>> n) | (al << (8 - n))) & 0xff : ((al << n) | (al >>> (8 - n))) & 0xff;
          break;
        }
        case 0x90:
        case 0xf8:
        case 0xf9:
          break;
        default:
          throw new YcError(`yC: unknown instruction 0x${op.toString(16)} in the decryptor`);
      }
    }
    cl = (cl - 1) & 0xff;
    f[code + i] = al;
  }
}

const SKIP = new Set([0x63727372, 0x7273722e, 0x6f6c6572, 0x6c65722e, 0x6164652e, 0x6164722e, 0x6164692e, 0x736c742e]);

/** undefined: not yC. Otherwise the decrypted program, or why it could not be decrypted. */
export function unpackYc(pe: PeImage, b: Uint8Array): { data?: Uint8Array; error?: string } | undefined {
  if (pe.is64) return undefined;
  const { sects, hdrSize } = sectionsOf(pe, b.length);
  const n = sects.length;
  if (n < 2 || pe.entryPointRva !== sects[n - 1]!.rva + 0x60) return undefined;
  const epOff = rawAddr(pe.entryPointRva, sects, b.length, hdrSize);
  if (epOff === undefined) return undefined;
  const ep = new Uint8Array(0x100);
  ep.set(b.subarray(epOff, Math.min(b.length, epOff + 0x100)));
  let ecx = 0;
  let offset = 0;
  if (
    eq(ep, 0, "558bec535657 60e8000000005d81ed".replace(/ /g, "")) &&
    eq(ep, 0x26, "8d3a8bf733c0eb0490eb01c2ac") &&
    ep[0x13] === 0xb9 &&
    (ep[0x18]! | (ep[0x19]! << 8)) === 0xe981 &&
    eq(ep, 0x1e, "8bd581c2")
  ) {
    offset = 0;
    if ((0x6c - u32(ep, 0xf) + u32(ep, 0x22)) >>> 0 === 0xc6) ecx = (u32(ep, 0x14) - u32(ep, 0x1a)) >>> 0;
  }
  if (!ecx && eq(ep, 0, "558bec83ec40535657") && eq(ep, 0x17, "e8000000005d81ed") && ep[0x23] === 0xb9) {
    offset = 0x10;
    if ((0x6c - u32(ep, 0x1f) + u32(ep, 0x32)) >>> 0 === 0xc6) ecx = (u32(ep, 0x24) - u32(ep, 0x2a)) >>> 0;
  }
  if (
    !ecx &&
    eq(ep, 0, "60e8000000005d81ed") &&
    ep[0xd] === 0xb9 &&
    (ep[0x12]! | (ep[0x13]! << 8)) === 0xbd8d &&
    eq(ep, 0x18, "8bf7ac")
  ) {
    offset = -0x18;
    if ((0x66 - u32(ep, 0x9) + u32(ep, 0x14)) >>> 0 === 0xae) ecx = u32(ep, 0xe);
  }
  const last = sects[n - 1]!;
  if (!(ecx > 0x800 && ecx < 0x2000 && eq(ep, 0x63 + offset, "aae2cc") && b.length >= last.raw + 0xc6 + ecx + offset))
    return undefined;
  const f = Uint8Array.prototype.slice.call(b) as Uint8Array;
  const size = f.length;
  const yc = last.raw + offset;
  const budget = { steps: 10_000_000 };
  try {
    emulate(f, size, yc + 0x93, yc + 0xc6, ecx, ecx, budget);
    const outSize = size - last.ursz;
    if (outSize <= 0) throw new YcError("yC: the crypter section is the whole file");
    const nt = pe.ntOffset;
    const names = nt + 24 + pe.sizeOfOptionalHeader;
    for (let i = 0; i < n - 1; i++) {
      const s = sects[i]!;
      const name = u32(f, names + i * 0x28);
      if (!s.raw || !s.rsz || SKIP.has(name) || (name & 0xffff) === 0x4379) continue;
      const maxEmu = outSize - s.raw;
      if (maxEmu <= 0) throw new YcError("yC: a section lies past the end of the program");
      emulate(f, size, yc + (offset === -0x18 ? 0x3ea : 0x457), s.raw, s.ursz, maxEmu, budget);
    }
    if (yc + 0xa0f + 4 > size) throw new YcError("yC: the original entry point lies outside the file");
    const view = new DataView(f.buffer, f.byteOffset, f.byteLength);
    view.setUint16(nt + 6, n - 1, true);
    f.fill(0, nt + 24 + 0x68, nt + 24 + 0x70);
    view.setUint32(nt + 24 + 16, u32(f, yc + 0xa0f), true);
    view.setUint32(nt + 24 + 0x38, (u32(f, nt + 24 + 0x38) - last.vsz) >>> 0, true);
    return { data: f.subarray(0, outSize) };
  } catch (err) {
    if (err instanceof YcError) return { error: err.message };
    throw err;
  }
}
