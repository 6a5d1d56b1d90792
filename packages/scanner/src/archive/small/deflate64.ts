/**
 * Deflate64 ("enhanced deflate", zip method 9), written from RFC 1951 and the differences
 * PKWARE documents for it: a 64 KiB window, length code 285 meaning 3 + 16 extra bits (not 258),
 * and distance codes 30 and 31 (32769 and 49153, 14 extra bits each). Stored, fixed and dynamic
 * blocks. Returns what decoded before any damage, with the reason.
 */
import { OutputLimit } from "../types.js";
import { Bits, Corrupt, Output, decodeSymbol, huffman, type Huffman } from "./bits.js";

const LBASE = [
  3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 3,
];
const LEXT = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 16];
const DBASE = [
  1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
  8193, 12289, 16385, 24577, 32769, 49153,
];
const DEXT = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14];
const ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

let fixed: { lit: Huffman; dist: Huffman } | undefined;
function fixedCodes() {
  if (!fixed) {
    const l = new Array<number>(288);
    for (let i = 0; i < 288; i++) l[i] = i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8;
    fixed = {
      lit: huffman(l, "fixed literal code"),
      dist: huffman(new Array<number>(32).fill(5), "fixed distance code"),
    };
  }
  return fixed;
}

function dynamicCodes(bits: Bits): { lit: Huffman; dist: Huffman } {
  const nlen = bits.read(5) + 257;
  const ndist = bits.read(5) + 1;
  const ncode = bits.read(4) + 4;
  const lengths = new Array<number>(19).fill(0);
  for (let i = 0; i < ncode; i++) lengths[ORDER[i]!] = bits.read(3);
  const lencode = huffman(lengths, "code length code");
  const all = new Array<number>(nlen + ndist).fill(0);
  for (let i = 0; i < nlen + ndist; ) {
    const sym = decodeSymbol(bits, lencode);
    if (sym < 16) all[i++] = sym;
    else {
      let len = 0;
      let rep: number;
      if (sym === 16) {
        if (i === 0) throw new Corrupt("repeat with no previous length");
        len = all[i - 1]!;
        rep = 3 + bits.read(2);
      } else if (sym === 17) rep = 3 + bits.read(3);
      else rep = 11 + bits.read(7);
      if (i + rep > nlen + ndist) throw new Corrupt("code lengths repeat past the end");
      while (rep--) all[i++] = len;
    }
  }
  if (!all[256]) throw new Corrupt("no end-of-block code");
  return { lit: huffman(all.slice(0, nlen), "literal/length code"), dist: huffman(all.slice(nlen), "distance code") };
}

export interface Decoded {
  data: Uint8Array;
  /** Why decoding stopped early (the data is what decoded before). */
  error?: string;
}

/** Decodes deflate64 data; output past `limit` throws OutputLimit. */
export function inflate64(raw: Uint8Array, limit: number, expected = 0): Decoded {
  const bits = new Bits(raw);
  const out = new Output(limit, expected);
  try {
    let last = 0;
    while (!last) {
      last = bits.read(1);
      const type = bits.read(2);
      if (type === 0) {
        bits.align();
        const p = bits.pos;
        if (p + 4 > raw.length) throw new Corrupt("compressed data ends too soon (truncated)");
        const len = raw[p]! | (raw[p + 1]! << 8);
        if ((len ^ 0xffff) !== (raw[p + 2]! | (raw[p + 3]! << 8))) throw new Corrupt("stored block length check fails");
        if (p + 4 + len > raw.length) throw new Corrupt("compressed data ends too soon (truncated)");
        for (let i = 0; i < len; i++) out.byte(raw[p + 4 + i]!);
        bits.pos = p + 4 + len;
      } else if (type === 3) {
        throw new Corrupt("invalid block type");
      } else {
        const { lit, dist } = type === 1 ? fixedCodes() : dynamicCodes(bits);
        for (;;) {
          const sym = decodeSymbol(bits, lit);
          if (sym < 256) out.byte(sym);
          else if (sym === 256) break;
          else {
            const l = sym - 257;
            if (l >= 29) throw new Corrupt(`invalid length code ${sym}`);
            const len = LBASE[l]! + bits.read(LEXT[l]!);
            const d = decodeSymbol(bits, dist);
            if (d >= 32) throw new Corrupt(`invalid distance code ${d}`);
            const back = DBASE[d]! + bits.read(DEXT[d]!);
            if (back > out.n) throw new Corrupt(`distance ${back} reaches before the start of the data`);
            out.copy(back, len);
          }
        }
      }
    }
  } catch (err) {
    if (err instanceof OutputLimit) throw err;
    if (err instanceof Corrupt) return { data: out.result(), error: err.message };
    throw err;
  }
  return { data: out.result() };
}
