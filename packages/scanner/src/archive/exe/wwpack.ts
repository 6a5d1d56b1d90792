/**
 * WWPack32: the packer's last section holds the loader and a table of compressed blocks; each
 * block is decompressed in place into the memory image (a bit stream of 32-bit little-endian
 * words read from the top: literal bytes, 2-byte copies and block copies with distances in
 * growing fields), then the header is restored (entry point, image size, section table). The
 * memory image is the member, as ClamAV builds it (`libclamav/wwunpack.c`, `pe.c`).
 */
import type { PeImage } from "@vigil/engine";
import { rawAddr, sectionsOf } from "./upx.js";
import { put32, u32 } from "./bytes.js";

const eq = (b: Uint8Array, o: number, hex: string): boolean =>
  Buffer.from(hex, "hex").equals(b.subarray(o, o + hex.length / 2));

class WwError extends Error {}

/** The bit reader: 32-bit words, most significant bit first; running out is an error. */
class Bits {
  private bt = 0;
  private bc = 0;
  pos = 0;
  constructor(private readonly c: Uint8Array) {
    this.reseed();
  }
  private reseed(): void {
    if (this.pos + 4 > this.c.length) throw new WwError("WWPack: compressed data ends early");
    this.bt = u32(this.c, this.pos);
    this.pos += 4;
    this.bc = 32;
  }
  bit(): number {
    const v = this.bt >>> 31;
    this.bt = (this.bt << 1) >>> 0;
    if (!--this.bc) this.reseed();
    return v;
  }
  bits(n: number): number {
    let v = this.bt >>> (32 - n);
    if (this.bc >= n) {
      this.bc -= n;
      this.bt = (this.bt << n) >>> 0;
      if (!this.bc) this.reseed();
    } else {
      if (this.pos + 4 > this.c.length) throw new WwError("WWPack: compressed data ends early");
      this.bt = u32(this.c, this.pos);
      this.pos += 4;
      this.bc += 32 - n;
      v = (v | (this.bt >>> this.bc)) >>> 0;
      this.bt = (this.bt << (32 - this.bc)) >>> 0;
    }
    return v;
  }
}

function inflate(exe: Uint8Array, at: number, c: Uint8Array): void {
  const r = new Bits(c);
  let u = at;
  const room = (p: number, n: number) => n > 0 && p >= 0 && p + n <= exe.length;
  for (;;) {
    if (!r.bit()) {
      if (!room(u, 1)) throw new WwError("WWPack: output outside the image");
      // a literal byte follows in the stream (at the reader's position)
      exe[u++] = takeByte(r, c);
      continue;
    }
    let bits = r.bits(2);
    if (bits === 3) {
      // 2-byte copy
      bits = r.bits(2);
      let shifted = bits + 5;
      let subbed = 31;
      if (bits >= 2) {
        shifted++;
        subbed += 0x80;
      }
      const back = (1 << shifted) - subbed;
      bits = r.bits(shifted);
      if (bits === 0x1ff) return; // end of the block
      const d = back + bits;
      if (!room(u, 2) || !room(u - d, 2)) throw new WwError("WWPack: a copy points outside the image");
      exe[u] = exe[u - d]!;
      exe[u + 1] = exe[u - d + 1]!;
      u += 2;
      continue;
    }
    const saved = bits;
    bits = r.bits(3);
    let back: number;
    if (bits < 6) {
      let n = bits;
      if (bits === 4) n = 10 + r.bit();
      else if (bits === 3) n = 8 + r.bit();
      else if (bits === 5) n = 12;
      else n += 5;
      back = r.bits(n) + (1 << n) - 31;
    } else if (bits === 6) back = r.bits(0x0e) + 0x1fe1;
    else back = r.bits(0x0f) + 0x5fe1;
    let size: number;
    if (!saved) {
      if (!r.bit()) size = r.bit() + 5;
      else {
        const b3 = r.bits(3);
        if (b3) size = b3 + 6;
        else {
          const b4 = r.bits(4);
          if (b4) size = b4 + 13;
          else {
            let cnt = 4;
            let shifted = 0x0d;
            let stop: number;
            do {
              if (cnt === 7) {
                cnt = 0x0e;
                shifted = 0;
                break;
              }
              shifted = ((shifted + 2) << 1) - 1;
              stop = r.bit();
              cnt++;
            } while (!stop);
            size = r.bits(cnt) + shifted;
          }
        }
      }
    } else size = saved + 2;
    back >>>= 0;
    if (!room(u, size) || !room(u - back, size)) throw new WwError("WWPack: a copy points outside the image");
    for (let i = 0; i < size; i++, u++) exe[u] = exe[u - back]!;
  }
}

/** Literal bytes are interleaved with the bit words: the next byte at the reader's position. */
function takeByte(r: Bits, c: Uint8Array): number {
  if (r.pos >= c.length) throw new WwError("WWPack: compressed data ends early");
  return c[r.pos++]!;
}

/** undefined: not WWPack. Otherwise the unpacked memory image, or why it could not be unpacked. */
export function unpackWwpack(
  pe: PeImage,
  b: Uint8Array,
  limit: number,
): { data?: Uint8Array; error?: string; size?: number } | undefined {
  if (pe.is64) return undefined;
  const { sects, hdrSize } = sectionsOf(pe, b.length);
  const n = sects.length;
  if (n < 2) return undefined;
  const last = sects[n - 1]!;
  if (pe.entryPointRva !== last.rva) return undefined;
  const epOff = rawAddr(pe.entryPointRva, sects, b.length, hdrSize);
  if (epOff === undefined) return undefined;
  const ep = b.subarray(epOff, epOff + 0x80);
  if (!eq(ep, 0, "53558be833dbeb") || !eq(ep, 0x68, "e8000000005 82d6d000000506033c9505850 50".replace(/ /g, "")))
    return undefined;
  let head = last.raw;
  let size = 0;
  for (let i = 0; i < n; i++) {
    if (sects[i]!.raw < head) head = sects[i]!.raw;
    if (i + 1 === n) break;
    size = Math.max(size, sects[i]!.rva + sects[i]!.vsz);
  }
  if (!head || !size || head > size) return { error: "WWPack: the section layout makes no sense" };
  if (size > limit) return { size };
  const exe = new Uint8Array(size);
  exe.set(b.subarray(0, head));
  for (let i = 0; i < n - 1; i++) {
    const s = sects[i]!;
    if (!s.rsz) continue;
    if (s.rva + s.rsz > size || s.raw + s.rsz > b.length)
      return { error: "WWPack: a section lies outside the image (damaged?)" };
    exe.set(b.subarray(s.raw, s.raw + s.rsz), s.rva);
  }
  const ww = b.subarray(last.raw, last.raw + last.rsz);
  if (!ww.length) return { error: "WWPack: the packer section is empty" };
  try {
    let t = 0x2a1;
    for (;;) {
      if (t + 17 > ww.length) break;
      const src = (last.rva - u32(ww, t)) >>> 0;
      const szd = (u32(ww, t + 8) * 4) >>> 0;
      const srcend = u32(ww, t + 12);
      t += 16;
      const at = (src + srcend + 4 - szd) >>> 0;
      // (ClamAV stops here and writes the image as it is; the rest is still packed: reported)
      if (!szd || at + szd > exe.length) throw new WwError("WWPack: a compressed block lies outside the image");
      const c = exe.slice(at, at + szd);
      exe.fill(0xff, at, at + szd);
      inflate(exe, at, c);
      if (!ww[t++]) break;
    }
    const nt = pe.ntOffset;
    if (nt + 0x54 > exe.length || 0x295 + 4 > ww.length) throw new WwError("WWPack: header outside the image");
    exe[nt + 6] = (n - 1) & 0xff;
    exe[nt + 7] = ((n - 1) >>> 8) & 0xff;
    put32(exe, nt + 0x28, (u32(ww, 0x295) + last.rva + 0x299) >>> 0);
    put32(exe, nt + 0x50, (u32(exe, nt + 0x50) - last.vsz) >>> 0);
    let st = (u32(exe, nt + 0x14) & 0xffff) + nt + 0x18;
    for (let i = 0; i < n - 1; i++, st += 0x28) {
      if (st + 0x28 > exe.length) throw new WwError("WWPack: section table outside the image");
      put32(exe, st + 8, sects[i]!.vsz);
      put32(exe, st + 12, sects[i]!.rva);
      put32(exe, st + 16, sects[i]!.vsz);
      put32(exe, st + 20, sects[i]!.rva);
    }
    if (st + 0x28 > exe.length) throw new WwError("WWPack: section table outside the image");
    exe.fill(0, st, st + 0x28);
    return { data: exe };
  } catch (err) {
    if (err instanceof WwError) return { error: err.message };
    throw err;
  }
}
