/**
 * The NRV2B, NRV2D and NRV2E decompressors of the UCL library, in the 32-bit little-endian
 * bit-buffer form UPX's i386 loaders use (bits are taken from the top of a 32-bit word read
 * little-endian). Written from the published description of the format; every read and copy is
 * bounds-checked against the source and the output size, so damaged data ends with an error.
 */

export type NrvMethod = "nrv2b" | "nrv2d" | "nrv2e";

export class NrvError extends Error {}

/** Bit reader over the compressed bytes. */
class Bits {
  private word = 0;
  private left = 0;
  constructor(
    private readonly src: Uint8Array,
    public pos: number,
    private readonly end: number,
  ) {}
  bit(): number {
    if (this.left === 0) {
      if (this.pos + 4 > this.end) throw new NrvError("compressed data ends early");
      const s = this.src;
      const p = this.pos;
      this.word = (s[p]! | (s[p + 1]! << 8) | (s[p + 2]! << 16) | (s[p + 3]! << 24)) >>> 0;
      this.pos += 4;
      this.left = 32;
    }
    this.left--;
    return (this.word >>> this.left) & 1;
  }
  byte(): number {
    if (this.pos >= this.end) throw new NrvError("compressed data ends early");
    return this.src[this.pos++]!;
  }
}

/** Limits an Elias-gamma style number so hostile input cannot grow it without bound. */
const GAMMA_MAX = 0x1000000;
/** The largest offset code: 0x1000002 gives the end marker 0xffffffff with a 0xff byte. */
const OFFSET_MAX = 0x1000002;

/** 1, then bits appended until a stop bit: the long-length code. */
function gamma(r: Bits): number {
  let n = 1;
  do {
    n = n * 2 + r.bit();
    if (n > GAMMA_MAX) throw new NrvError("bad match length");
  } while (!r.bit());
  return n;
}

/**
 * Decompresses `src[start, end)` into `dst` (whose length is the output limit) and returns how
 * many bytes were written. Throws NrvError on damaged data (a read past the end, a copy from
 * before the output start, output past `dst`).
 */
export function nrvDecompress(method: NrvMethod, src: Uint8Array, start: number, end: number, dst: Uint8Array): number {
  const r = new Bits(src, start, end);
  let out = 0;
  let lastOff = 1;
  const limit = dst.length;
  for (;;) {
    while (r.bit()) {
      if (out >= limit) throw new NrvError("output larger than the unpacked size");
      dst[out++] = r.byte();
    }
    let off = 1;
    if (method === "nrv2b") {
      do {
        off = off * 2 + r.bit();
        if (off > OFFSET_MAX) throw new NrvError("bad match offset");
      } while (!r.bit());
    } else {
      for (;;) {
        off = off * 2 + r.bit();
        if (r.bit()) break;
        off = (off - 1) * 2 + r.bit();
        if (off > OFFSET_MAX) throw new NrvError("bad match offset");
      }
    }
    let len = 0; // NRV2D/NRV2E: the low length bit that travels with the offset
    if (off === 2) {
      off = lastOff;
      if (method !== "nrv2b") len = r.bit();
    } else {
      const code = (off - 3) * 256 + r.byte();
      if (code === 0xffffffff) break; // the end marker
      if (method === "nrv2b") off = code + 1;
      else {
        len = (code & 1) ^ 1;
        off = Math.floor(code / 2) + 1;
      }
      lastOff = off;
    }
    let n: number;
    if (method === "nrv2e") {
      if (len) n = 1 + r.bit();
      else if (r.bit()) n = 3 + r.bit();
      else n = gamma(r) + 3;
      n += off > 0x500 ? 1 : 0;
    } else {
      n = (method === "nrv2b" ? r.bit() : len) * 2 + r.bit();
      if (n === 0) n = gamma(r) + 2;
      n += off > (method === "nrv2b" ? 0xd00 : 0x500) ? 1 : 0;
    }
    n += 1;
    if (off > out) throw new NrvError("match reaches before the start of the output");
    if (out + n > limit) throw new NrvError("output larger than the unpacked size");
    let from = out - off;
    for (let i = 0; i < n; i++) dst[out++] = dst[from++]!;
  }
  return out;
}
