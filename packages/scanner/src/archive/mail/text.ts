/**
 * Encoded files inside text: uuencoded blocks (`begin 644 name` ... `end`, and `begin-base64`),
 * yEnc blocks (`=ybegin ... name=` ... `=yend`) and BinHex 4.0 files (the `(This file must be converted with BinHex 4.0)` banner), found at
 * the start of a line anywhere in a text. A file that starts with one is its own container
 * ("uuencoded", "binhex"); a mail text part that holds one further in yields it too.
 */
import { cleanName, overLimit, OutputLimit, type Member, type OutputCap } from "../types.js";
import { BINHEX_BANNER, decodeBinHex, decodeUu, decodeYenc, lineEnd, uuBeginAt, yencBeginAt } from "./decode.js";

const BANNER = Buffer.from(BINHEX_BANNER, "latin1");

export function isUuencoded(b: Uint8Array): boolean {
  return uuBeginAt(b, 0, Math.min(b.length, 1024)) !== undefined;
}

export function isBinHex(b: Uint8Array): boolean {
  if (b.length < BANNER.length) return false;
  for (let i = 0; i < BANNER.length; i++) if (b[i] !== BANNER[i]) return false;
  return true;
}

/** Whether an encoded block starts at offset 0 (then the text is opened as its own container). */
export function startsWithEncoded(b: Uint8Array): boolean {
  return isUuencoded(b) || isBinHex(b);
}

/**
 * Every uuencoded, yEnc and BinHex block in [start, end) of `b`, as members. (A text that
 * starts with one and is yielded as a member itself is opened as its own container instead.)
 */
export function* encodedBlocks(b: Uint8Array, start: number, end: number, cap: OutputCap): Generator<Member> {
  let p = start;
  let index = 0;
  while (p < end) {
    const le = lineEnd(b, p, end);
    const here = p;
    p = le + 1;
    const c = b[here];
    if (c !== 0x62 && c !== 0x28 && c !== 0x3d) continue; // 'b'egin, '('banner, '='ybegin
    if (c === 0x3d) {
      if (!yencBeginAt(b, here, end)) continue;
      index++;
      const size = end - here;
      const limit = cap(size);
      try {
        const r = decodeYenc(b, here, end, limit);
        const name = cleanName(r.name || `yenc-${index}`);
        p = Math.max(p, r.end);
        yield r.error
          ? { name, compressedSize: r.size, data: r.data, problem: { reason: "corrupt-archive", message: r.error } }
          : { name, compressedSize: r.size, data: r.data };
      } catch (err) {
        if (!(err instanceof OutputLimit)) throw err;
        yield overLimit(`yenc-${index}`, size, limit);
        return;
      }
      continue;
    }
    if (c === 0x62) {
      if (!uuBeginAt(b, here, end)) continue;
      index++;
      const size = end - here;
      const limit = cap(size);
      try {
        const r = decodeUu(b, here, end, limit);
        const name = cleanName(r.name || `uuencoded-${index}`);
        p = Math.max(p, r.end);
        yield r.error
          ? { name, compressedSize: r.size, data: r.data, problem: { reason: "corrupt-archive", message: r.error } }
          : { name, compressedSize: r.size, data: r.data };
      } catch (err) {
        if (!(err instanceof OutputLimit)) throw err;
        yield overLimit(`uuencoded-${index}`, size, limit);
        return;
      }
      continue;
    }
    if (le - here < BANNER.length || !isBinHex(b.subarray(here, here + BANNER.length))) continue;
    index++;
    const size = end - here;
    const limit = cap(size);
    let r;
    try {
      r = decodeBinHex(b, here, end, limit);
    } catch (err) {
      if (!(err instanceof OutputLimit)) throw err;
      yield overLimit(`binhex-${index}`, size, limit);
      return;
    }
    const name = cleanName(r.name || `binhex-${index}`);
    const problem = r.error ? { problem: { reason: "corrupt-archive" as const, message: r.error } } : {};
    yield { name, compressedSize: r.size, data: r.data, ...problem };
    if (r.rsrc) yield { name: `${name}.rsrc`, compressedSize: r.size, data: r.rsrc };
    // a BinHex file runs to its closing colon
    const close = b.indexOf(0x3a, b.indexOf(0x3a, here) + 1);
    p = close < 0 || close >= end ? end : lineEnd(b, close, end) + 1;
  }
}

/** A uuencoded or BinHex text file: every encoded block in it. */
export function readEncodedText(b: Uint8Array, cap: OutputCap): Iterable<Member> {
  return encodedBlocks(b, 0, b.length, cap);
}
