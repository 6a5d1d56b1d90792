/**
 * PKWARE "implode" (zip method 6), written from APPNOTE.TXT section 5.4: Shannon-Fano trees
 * (literals when general-purpose flag bit 2 is set; lengths; distances) stored as runs of
 * (bit length, count) bytes, then a stream where a 1 bit is a literal and a 0 bit a copy whose
 * distance has 6 (4 KiB dictionary) or 7 (8 KiB, flag bit 1) low bits raw and the rest coded.
 * The codes' bits are stored inverted; read that way they are canonical Huffman codes. The
 * data has no end marker: decoding stops at the uncompressed size the headers give.
 */
import { OutputLimit } from "../types.js";
import { Bits, Corrupt, Output, decodeSymbol, huffman, type Huffman } from "./bits.js";
import type { Decoded } from "./deflate64.js";

function tree(raw: Uint8Array, at: number, symbols: number, what: string): { code: Huffman; next: number } {
  if (at >= raw.length) throw new Corrupt(`${what} tree missing (truncated)`);
  const n = raw[at]! + 1;
  if (at + 1 + n > raw.length) throw new Corrupt(`${what} tree cut short (truncated)`);
  const lengths: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = raw[at + 1 + i]!;
    const len = (x & 0x0f) + 1;
    for (let k = (x >> 4) + 1; k > 0; k--) lengths.push(len);
  }
  if (lengths.length !== symbols)
    throw new Corrupt(`${what} tree describes ${lengths.length} codes, ${symbols} expected`);
  return { code: huffman(lengths, `${what} tree`), next: at + 1 + n };
}

/** Explodes `raw` to `size` bytes (`flags`: the zip member's general-purpose flags). */
export function explode(raw: Uint8Array, flags: number, size: number, limit: number): Decoded {
  const bigDict = (flags & 2) !== 0;
  const hasLit = (flags & 4) !== 0;
  const want = Math.min(size, limit);
  const out = new Output(limit, want);
  try {
    let p = 0;
    let lit: Huffman | undefined;
    if (hasLit) {
      const t = tree(raw, p, 256, "literal");
      lit = t.code;
      p = t.next;
    }
    const len = tree(raw, p, 64, "length");
    const dist = tree(raw, len.next, 64, "distance");
    const bits = new Bits(raw.subarray(dist.next));
    const lowBits = bigDict ? 7 : 6;
    const minMatch = hasLit ? 3 : 2;
    while (out.n < size) {
      if (out.n >= limit) throw new OutputLimit(limit);
      if (bits.read(1)) {
        out.byte(lit ? decodeSymbol(bits, lit, true) : bits.read(8));
      } else {
        const low = bits.read(lowBits);
        const back = ((decodeSymbol(bits, dist.code, true) << lowBits) | low) + 1;
        let n = decodeSymbol(bits, len.code, true);
        if (n === 63) n += bits.read(8);
        n += minMatch;
        out.copy(back, Math.min(n, size - out.n));
      }
    }
  } catch (err) {
    if (err instanceof OutputLimit) throw err;
    if (err instanceof Corrupt) return { data: out.result(), error: err.message };
    throw err;
  }
  return { data: out.result() };
}
