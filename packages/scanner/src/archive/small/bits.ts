/**
 * What the deflate64 and implode decoders share: an LSB-first bit reader over bytes in memory,
 * canonical Huffman tables (RFC 1951 section 3.2.2) decoded one bit at a time, and a growing
 * output bounded by the reader's cap. Bad data throws `Corrupt`; output past the cap throws
 * `OutputLimit`.
 */
import { OutputLimit } from "../types.js";

export class Corrupt extends Error {}

export class Bits {
  pos = 0;
  private buf = 0;
  private cnt = 0;
  constructor(readonly b: Uint8Array) {}

  /** `n` (0..24) bits, least significant first. */
  read(n: number): number {
    while (this.cnt < n) {
      if (this.pos >= this.b.length) throw new Corrupt("compressed data ends too soon (truncated)");
      this.buf |= this.b[this.pos++]! << this.cnt;
      this.cnt += 8;
    }
    const v = this.buf & ((1 << n) - 1);
    this.buf >>>= n;
    this.cnt -= n;
    return v;
  }

  /** Drops the bits left in the current byte. */
  align(): void {
    this.buf = 0;
    this.cnt = 0;
  }
}

/** A canonical Huffman code: how many codes of each length, and the symbols in code order. */
export interface Huffman {
  count: Uint16Array;
  symbol: Uint16Array;
}

/** Builds the code for `lengths` (0 = unused symbol); an over-subscribed set is corrupt. */
export function huffman(lengths: ArrayLike<number>, what: string): Huffman {
  const count = new Uint16Array(17);
  for (let i = 0; i < lengths.length; i++) count[lengths[i]!]!++;
  let left = 1;
  for (let len = 1; len <= 16; len++) {
    left = left * 2 - count[len]!;
    if (left < 0) throw new Corrupt(`${what}: over-subscribed code lengths`);
  }
  const offs = new Uint16Array(17);
  for (let len = 1; len < 16; len++) offs[len + 1] = offs[len]! + count[len]!;
  const symbol = new Uint16Array(lengths.length);
  for (let i = 0; i < lengths.length; i++) if (lengths[i]) symbol[offs[lengths[i]!]!++] = i;
  count[0] = 0;
  return { count, symbol };
}

/** Decodes one symbol; `invert` reads each bit inverted (implode's Shannon-Fano codes). */
export function decodeSymbol(bits: Bits, h: Huffman, invert = false): number {
  let code = 0;
  let first = 0;
  let index = 0;
  for (let len = 1; len <= 16; len++) {
    code |= invert ? bits.read(1) ^ 1 : bits.read(1);
    const count = h.count[len]!;
    if (code - count < first) return h.symbol[index + (code - first)]!;
    index += count;
    first = (first + count) << 1;
    code <<= 1;
  }
  throw new Corrupt("invalid Huffman code");
}

/** Output that grows as needed, up to `limit` bytes (past it: OutputLimit). */
export class Output {
  data: Uint8Array;
  n = 0;
  constructor(
    readonly limit: number,
    expected = 0,
  ) {
    this.data = new Uint8Array(Math.max(1024, Math.min(expected || 65536, limit)));
  }

  private grow(need: number): void {
    if (need > this.limit) throw new OutputLimit(this.limit);
    let size = this.data.length;
    while (size < need) size *= 2;
    const next = new Uint8Array(Math.min(size, Math.max(need, this.limit)));
    next.set(this.data.subarray(0, this.n));
    this.data = next;
  }

  byte(c: number): void {
    if (this.n >= this.data.length) this.grow(this.n + 1);
    this.data[this.n++] = c;
  }

  /** Copies `len` bytes from `dist` back (bytes before the start read as zeros). */
  copy(dist: number, len: number): void {
    if (this.n + len > this.data.length) this.grow(this.n + len);
    const d = this.data;
    for (let k = 0; k < len; k++, this.n++) d[this.n] = this.n - dist >= 0 ? d[this.n - dist]! : 0;
  }

  result(): Uint8Array {
    return this.data.subarray(0, this.n);
  }
}
