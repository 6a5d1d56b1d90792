/**
 * The PDF stream filters a scanner must undo (ISO 32000-1 7.4): FlateDecode, LZWDecode,
 * ASCIIHexDecode, ASCII85Decode, RunLengthDecode, with the PNG and TIFF predictors of
 * /DecodeParms. Each decoder writes at most `limit` bytes (OutputLimit past it) and, on
 * damage, returns what it decoded before the damage with the reason.
 */
import { inflateSalvage } from "../gzip.js";
import { OutputLimit } from "../types.js";

export interface Decoded {
  data: Uint8Array;
  error?: string;
}

class Sink {
  buf: Uint8Array;
  n = 0;
  constructor(
    private readonly limit: number,
    hint: number,
  ) {
    this.buf = new Uint8Array(Math.max(16, Math.min(limit, hint)));
  }
  need(k: number): void {
    if (this.n + k <= this.buf.length) return;
    if (this.n + k > this.limit) throw new OutputLimit(this.limit);
    const next = new Uint8Array(Math.min(this.limit, Math.max(this.n + k, this.buf.length * 2)));
    next.set(this.buf.subarray(0, this.n));
    this.buf = next;
  }
  push(x: number): void {
    this.need(1);
    this.buf[this.n++] = x;
  }
  done(error?: string): Decoded {
    return error ? { data: this.buf.subarray(0, this.n), error } : { data: this.buf.subarray(0, this.n) };
  }
}

export function flate(b: Uint8Array, limit: number): Decoded {
  // a zlib header (CMF/FLG) is skipped; raw deflate is accepted too, as readers do
  const z = b.length >= 2 && (b[0]! & 0x0f) === 8 && ((b[0]! << 8) | b[1]!) % 31 === 0 ? b.subarray(2) : b;
  const r = inflateSalvage(z, limit);
  return r.error ? { data: r.data, error: r.error } : { data: r.data };
}

const isWhite = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0x0c || c === 0;

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

export function asciiHex(b: Uint8Array, limit: number): Decoded {
  const out = new Sink(limit, b.length / 2 + 1);
  let hi = -1;
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c === 0x3e) break; // '>' ends the data
    if (isWhite(c)) continue;
    const v = hexVal(c);
    if (v < 0) return out.done(`ASCIIHexDecode: invalid character 0x${c.toString(16)} at byte ${i}`);
    if (hi < 0) hi = v;
    else {
      out.push((hi << 4) | v);
      hi = -1;
    }
  }
  if (hi >= 0) out.push(hi << 4);
  return out.done();
}

export function ascii85(b: Uint8Array, limit: number): Decoded {
  const out = new Sink(limit, (b.length * 4) / 5 + 4);
  let group = 0;
  let k = 0;
  let i = 0;
  if (b[0] === 0x3c && b[1] === 0x7e) i = 2; // optional "<~"
  for (; i < b.length; i++) {
    const c = b[i]!;
    if (isWhite(c)) continue;
    if (c === 0x7e) break; // "~>" ends the data
    if (c === 0x7a && k === 0) {
      out.need(4);
      for (let j = 0; j < 4; j++) out.push(0);
      continue;
    }
    if (c < 0x21 || c > 0x75) return out.done(`ASCII85Decode: invalid character 0x${c.toString(16)} at byte ${i}`);
    group = group * 85 + (c - 0x21);
    if (++k === 5) {
      if (group > 0xffffffff) return out.done(`ASCII85Decode: group overflows at byte ${i}`);
      out.need(4);
      out.push(group >>> 24);
      out.push((group >>> 16) & 0xff);
      out.push((group >>> 8) & 0xff);
      out.push(group & 0xff);
      group = 0;
      k = 0;
    }
  }
  if (k === 1) return out.done("ASCII85Decode: a final group of one character");
  if (k > 1) {
    for (let j = k; j < 5; j++) group = group * 85 + 84;
    for (let j = 0; j < k - 1; j++) out.push((group >>> (24 - 8 * j)) & 0xff);
  }
  return out.done();
}

export function runLength(b: Uint8Array, limit: number): Decoded {
  const out = new Sink(limit, b.length * 2);
  let i = 0;
  while (i < b.length) {
    const len = b[i++]!;
    if (len === 128) return out.done();
    if (len < 128) {
      const n = len + 1;
      if (i + n > b.length) {
        out.need(b.length - i);
        while (i < b.length) out.push(b[i++]!);
        return out.done("RunLengthDecode: literal run cut short");
      }
      out.need(n);
      for (let j = 0; j < n; j++) out.push(b[i++]!);
    } else {
      if (i >= b.length) return out.done("RunLengthDecode: repeat run cut short");
      const n = 257 - len;
      const x = b[i++]!;
      out.need(n);
      for (let j = 0; j < n; j++) out.push(x);
    }
  }
  return out.done("RunLengthDecode: no end-of-data marker");
}

export function lzw(b: Uint8Array, limit: number, earlyChange = 1): Decoded {
  const out = new Sink(limit, b.length * 3);
  // the dictionary: entry i is prefix[i] followed by suffix[i]; first[i] its first byte, len[i] its length
  const prefix = new Int32Array(4096);
  const suffix = new Uint8Array(4096);
  const len = new Uint32Array(4096);
  const first = new Uint8Array(4096);
  for (let i = 0; i < 256; i++) {
    prefix[i] = -1;
    suffix[i] = i;
    len[i] = 1;
    first[i] = i;
  }
  let next = 258;
  let width = 9;
  let prev = -1;
  let bitBuf = 0;
  let bitCount = 0;
  let p = 0;
  const write = (code: number) => {
    const n = len[code]!;
    out.need(n);
    let c = code;
    for (let j = n - 1; j >= 0; j--) {
      out.buf[out.n + j] = suffix[c]!;
      c = prefix[c]!;
    }
    out.n += n;
  };
  const firstByte = (code: number) => first[code]!;
  for (;;) {
    while (bitCount < width) {
      if (p >= b.length) return out.done(prev < 0 && out.n === 0 ? undefined : "LZWDecode: no end-of-data code");
      bitBuf = ((bitBuf << 8) | b[p++]!) >>> 0;
      bitCount += 8;
    }
    const code = (bitBuf >>> (bitCount - width)) & ((1 << width) - 1);
    bitCount -= width;
    bitBuf &= (1 << bitCount) - 1;
    if (code === 256) {
      next = 258;
      width = 9;
      prev = -1;
      continue;
    }
    if (code === 257) return out.done();
    if (prev < 0) {
      if (code > 255) return out.done(`LZWDecode: first code ${code} after a reset is no literal`);
      write(code);
      prev = code;
      continue;
    }
    let entry: number;
    if (code < next) {
      entry = code;
      if (next < 4096) {
        prefix[next] = prev;
        suffix[next] = firstByte(code);
        len[next] = len[prev]! + 1;
        first[next] = first[prev]!;
        next++;
      }
    } else if (code === next && next < 4096) {
      prefix[next] = prev;
      suffix[next] = firstByte(prev);
      len[next] = len[prev]! + 1;
      first[next] = first[prev]!;
      entry = next++;
    } else return out.done(`LZWDecode: code ${code} not yet defined`);
    write(entry);
    prev = entry;
    if (next + earlyChange >= 1 << width && width < 12) width++;
  }
}

/** Undoes a PNG (10-15) or TIFF (2) predictor. */
export function unpredict(b: Uint8Array, predictor: number, colors: number, bpc: number, columns: number): Decoded {
  const bpp = Math.max(1, Math.ceil((colors * bpc) / 8));
  const rowLen = Math.ceil((colors * bpc * columns) / 8);
  if (rowLen <= 0 || rowLen > 1 << 24) return { data: b, error: `predictor row length ${rowLen} not usable` };
  if (predictor === 2) {
    if (bpc !== 8) return { data: b, error: "TIFF predictor with other than 8 bits per component not supported" };
    const out = Uint8Array.from(b);
    for (let r = 0; r < out.length; r += rowLen)
      for (let i = r + bpp; i < Math.min(r + rowLen, out.length); i++) out[i] = (out[i]! + out[i - bpp]!) & 0xff;
    return { data: out };
  }
  const rows = Math.floor(b.length / (rowLen + 1));
  const out = new Uint8Array(rows * rowLen);
  for (let r = 0; r < rows; r++) {
    const type = b[r * (rowLen + 1)]!;
    const src = r * (rowLen + 1) + 1;
    const dst = r * rowLen;
    for (let i = 0; i < rowLen; i++) {
      const x = b[src + i]!;
      const left = i >= bpp ? out[dst + i - bpp]! : 0;
      const up = r > 0 ? out[dst - rowLen + i]! : 0;
      const upLeft = r > 0 && i >= bpp ? out[dst - rowLen + i - bpp]! : 0;
      let v: number;
      switch (type) {
        case 0:
          v = x;
          break;
        case 1:
          v = x + left;
          break;
        case 2:
          v = x + up;
          break;
        case 3:
          v = x + ((left + up) >> 1);
          break;
        case 4: {
          const pa = Math.abs(up - upLeft);
          const pb = Math.abs(left - upLeft);
          const pc = Math.abs(left + up - 2 * upLeft);
          v = x + (pa <= pb && pa <= pc ? left : pb <= pc ? up : upLeft);
          break;
        }
        default:
          return { data: out.subarray(0, dst), error: `PNG predictor: unknown row type ${type}` };
      }
      out[dst + i] = v & 0xff;
    }
  }
  return b.length % (rowLen + 1) ? { data: out, error: "PNG predictor: last row cut short" } : { data: out };
}
