/**
 * Test fixtures for the UPX reader, built byte by byte (Debian's upx-ucl is not always there):
 * an NRV2B/NRV2D/NRV2E compressor (greedy matching, UCL's 32-bit little-endian bit layout) and
 * a PE32 laid out as UPX lays out its output: UPX0 (no raw data), UPX1 (the packed image and a
 * loader at the entry point whose bytes carry the method's signature), the original PE header
 * at the end of the unpacked data.
 */
import { execFileSync } from "node:child_process";

export type Method = "nrv2b" | "nrv2d" | "nrv2e";

class BitWriter {
  out: number[] = [];
  private slot = -1;
  private word = 0;
  private n = 0;
  bit(b: number): void {
    if (this.n === 0) {
      this.slot = this.out.length;
      this.out.push(0, 0, 0, 0);
    }
    this.word = ((this.word << 1) | (b & 1)) >>> 0;
    if (++this.n === 32) this.flush();
  }
  byte(b: number): void {
    this.out.push(b & 0xff);
  }
  flush(): void {
    if (this.n === 0) return;
    const w = (this.word << (32 - this.n)) >>> 0;
    for (let i = 0; i < 4; i++) this.out[this.slot + i] = (w >>> (8 * i)) & 0xff;
    this.n = 0;
    this.word = 0;
  }
}

/** 1-prefixed Elias gamma with a stop bit after each data bit (lengths; NRV2B offsets). */
function gamma(w: BitWriter, v: number): void {
  const bits = v.toString(2).slice(1);
  for (let i = 0; i < bits.length; i++) {
    w.bit(Number(bits[i]));
    w.bit(i === bits.length - 1 ? 1 : 0);
  }
}

/** NRV2D/NRV2E offset code: two data bits per stop bit after the first pair. */
function gammaD(w: BitWriter, v: number, last = 1): void {
  const p = v >>> 1;
  if (p === 1) {
    w.bit(v & 1);
    w.bit(last);
    return;
  }
  gammaD(w, (p >>> 1) + 1, 0);
  w.bit(p & 1);
  w.bit(v & 1);
  w.bit(last);
}

export function nrvCompress(method: Method, data: Uint8Array): Uint8Array {
  const w = new BitWriter();
  const table = new Map<number, number>();
  let lastOff = 1;
  let i = 0;
  const far = method === "nrv2b" ? 0xd00 : 0x500;
  while (i < data.length) {
    let off = 0;
    let len = 0;
    if (i + 3 <= data.length) {
      const key = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16);
      const cand = table.get(key);
      table.set(key, i);
      if (cand !== undefined && i - cand <= 0xfffff) {
        let l = 0;
        while (i + l < data.length && data[cand + l] === data[i + l] && l < 2000) l++;
        off = i - cand;
        len = l;
      }
    }
    const min = 3 + (off > far ? 1 : 0);
    if (len < min) {
      w.bit(1);
      w.byte(data[i]!);
      i++;
      continue;
    }
    w.bit(0);
    const m = len - 1 - (off > far ? 1 : 0); // the decoder adds these back
    if (method === "nrv2b") {
      if (off === lastOff) gamma(w, 2);
      else {
        const code = off - 1;
        gamma(w, (code >>> 8) + 3);
        w.byte(code & 0xff);
      }
      if (m <= 3) {
        w.bit(m >> 1);
        w.bit(m & 1);
      } else {
        w.bit(0);
        w.bit(0);
        gamma(w, m - 2);
      }
    } else {
      // the low length bit travels with the offset
      let low: number;
      if (method === "nrv2d") low = m <= 3 ? m >> 1 : 0;
      else low = m <= 2 ? 1 : 0;
      if (off === lastOff) {
        gammaD(w, 2);
        w.bit(low);
      } else {
        const code = ((off - 1) << 1) | (low ^ 1);
        gammaD(w, (code >>> 8) + 3);
        w.byte(code & 0xff);
      }
      if (method === "nrv2d") {
        if (m <= 3) w.bit(m & 1);
        else {
          w.bit(0);
          gamma(w, m - 2);
        }
      } else if (m <= 2) w.bit(m - 1);
      else if (m <= 4) {
        w.bit(1);
        w.bit(m - 3);
      } else {
        w.bit(0);
        gamma(w, m - 3);
      }
    }
    lastOff = off;
    for (let k = 0; k < len; k++) {
      if (i + k + 3 <= data.length) table.set(data[i + k]! | (data[i + k + 1]! << 8) | (data[i + k + 2]! << 16), i + k);
    }
    i += len;
  }
  // end marker: offset code 0x1000002 and byte 0xff
  w.bit(0);
  if (method === "nrv2b") gamma(w, 0x1000002);
  else gammaD(w, 0x1000002);
  w.byte(0xff);
  w.flush();
  return Uint8Array.from(w.out);
}

/** Raw LZMA (lc=3, lp=0, pb=2) from xz-utils, or undefined without `xz`. */
export function lzmaRaw(data: Uint8Array): Uint8Array | undefined {
  try {
    return execFileSync("xz", ["--format=raw", "--lzma1=lc=3,lp=0,pb=2,dict=1MiB", "-c"], {
      input: data,
      maxBuffer: 64 << 20,
    });
  } catch {
    return undefined;
  }
}

/** The loader signatures ClamAV's pe.c looks for at the entry point. */
const SIG = {
  nrv2b: "11db11c901db75078b1e83eefc11db11c911c975204101db",
  nrv2d: "83f0ff7478d1f889c5eb0b01db75078b1e83eefc11db11c9",
  nrv2e: "eb5231c983e8037211c1e0088a064683f0ff7475d1f889c5",
  lzma2: "5683c3045350c70303000200909090909055575 6".replace(/ /g, ""),
};

const IMAGE_BASE = 0x400000;
const TEXT_RVA = 0x1000;
const ALIGN = 0x1000;

/**
 * The program UPX would pack: its .text section content (`text`, placed at RVA 0x1000) and a
 * PE header describing it. Returns the unpacked image UPX0 holds: section data then the header.
 */
export function originalImage(text: Uint8Array): { image: Uint8Array; headerAt: number } {
  const textSize = Math.ceil(text.length / ALIGN) * ALIGN;
  const hdr = Buffer.alloc(0xf8 + 0x28);
  hdr.write("PE\0\0", 0, "latin1");
  hdr.writeUInt16LE(0x14c, 4);
  hdr.writeUInt16LE(1, 6);
  hdr.writeUInt16LE(0xe0, 20);
  hdr.writeUInt16LE(0x102, 22);
  hdr.writeUInt16LE(0x10b, 24);
  hdr.writeUInt32LE(TEXT_RVA, 24 + 16);
  hdr.writeUInt32LE(IMAGE_BASE, 24 + 28);
  hdr.writeUInt32LE(ALIGN, 24 + 32); // SectionAlignment (0x38 from "PE")
  hdr.writeUInt32LE(0x200, 24 + 36);
  hdr.writeUInt32LE(TEXT_RVA + textSize, 24 + 56);
  hdr.writeUInt32LE(0x400, 24 + 60);
  hdr.writeUInt32LE(16, 24 + 92);
  hdr.write(".text", 0xf8, "latin1");
  hdr.writeUInt32LE(text.length, 0xf8 + 8);
  hdr.writeUInt32LE(TEXT_RVA, 0xf8 + 12);
  hdr.writeUInt32LE(Math.ceil(text.length / 0x200) * 0x200, 0xf8 + 16);
  hdr.writeUInt32LE(0x400, 0xf8 + 20);
  hdr.writeUInt32LE(0x60000020, 0xf8 + 36);
  const image = Buffer.alloc(textSize + hdr.length);
  image.set(text, 0);
  image.set(hdr, textSize);
  return { image, headerAt: textSize };
}

/**
 * A PE32 packed the way UPX packs: UPX0 at RVA 0x1000 (virtual only), UPX1 after it holding the
 * compressed image followed by a loader stub at the entry point. `method` picks the signature
 * bytes placed in the stub; for "lzma" the stub carries the LZMA2-variant pattern and sizes.
 */
export function upxPe(method: Method | "lzma", image: Uint8Array, packed?: Uint8Array): Buffer {
  const payload = packed ?? (method === "lzma" ? lzmaWithHeader(image) : nrvCompress(method, image));
  const upx0Size = Math.ceil(image.length / ALIGN) * ALIGN;
  const stubAt = Math.ceil((payload.length + 16) / 16) * 16;
  const stub = Buffer.alloc(0x200);
  stub[0] = 0x60; // pusha
  stub[1] = 0xbe; // mov esi, UPX1 start
  const upx1Rva = TEXT_RVA + upx0Size;
  stub.writeUInt32LE(IMAGE_BASE + upx1Rva, 2);
  if (method === "lzma") {
    stub.writeUInt32LE(image.length, 0x21);
    Buffer.from(SIG.lzma2, "hex").copy(stub, 0x2f);
  } else Buffer.from(SIG[method], "hex").copy(stub, 0x69, 0, 13);
  const upx1Raw = Buffer.alloc(Math.ceil((stubAt + stub.length) / 0x200) * 0x200);
  upx1Raw.set(payload, 0);
  upx1Raw.set(stub, stubAt);
  const upx1Virt = Math.ceil(upx1Raw.length / ALIGN) * ALIGN;
  const headers = Buffer.alloc(0x400);
  headers.write("MZ", 0, "latin1");
  headers.writeUInt32LE(0x80, 0x3c);
  const pe = 0x80;
  headers.write("PE\0\0", pe, "latin1");
  headers.writeUInt16LE(0x14c, pe + 4);
  headers.writeUInt16LE(2, pe + 6);
  headers.writeUInt16LE(0xe0, pe + 20);
  headers.writeUInt16LE(0x102, pe + 22);
  const opt = pe + 24;
  headers.writeUInt16LE(0x10b, opt);
  headers.writeUInt32LE(upx1Rva + stubAt, opt + 16);
  headers.writeUInt32LE(IMAGE_BASE, opt + 28);
  headers.writeUInt32LE(ALIGN, opt + 32);
  headers.writeUInt32LE(0x200, opt + 36);
  headers.writeUInt16LE(4, opt + 40);
  headers.writeUInt16LE(4, opt + 48);
  headers.writeUInt32LE(upx1Rva + upx1Virt, opt + 56);
  headers.writeUInt32LE(0x400, opt + 60);
  headers.writeUInt16LE(2, opt + 68);
  headers.writeUInt32LE(16, opt + 92);
  const sec = opt + 0xe0;
  headers.write("UPX0", sec, "latin1");
  headers.writeUInt32LE(upx0Size, sec + 8);
  headers.writeUInt32LE(TEXT_RVA, sec + 12);
  headers.writeUInt32LE(0xe0000080, sec + 36);
  headers.write("UPX1", sec + 40, "latin1");
  headers.writeUInt32LE(upx1Virt, sec + 40 + 8);
  headers.writeUInt32LE(upx1Rva, sec + 40 + 12);
  headers.writeUInt32LE(upx1Raw.length, sec + 40 + 16);
  headers.writeUInt32LE(0x400, sec + 40 + 20);
  headers.writeUInt32LE(0xe0000040, sec + 40 + 36);
  return Buffer.concat([headers, upx1Raw]);
}

/** UPX's LZMA payload: two header bytes, then the raw stream. */
function lzmaWithHeader(image: Uint8Array): Uint8Array {
  const raw = lzmaRaw(image);
  if (!raw) throw new Error("xz is needed for LZMA fixtures");
  return Buffer.concat([Buffer.from([0x00, 0x00]), raw]);
}

/**
 * The image ClamAV's rebuild makes from `originalImage(text)` (what the reader must produce):
 * ClamAV's DOS stub, the header with timestamp "CLAM" and FileAlignment = SectionAlignment, and
 * each section at its aligned virtual size.
 */
export const CLAMAV_STUB_TEXT = "This file was created by ClamAV for internal use";
