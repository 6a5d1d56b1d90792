/**
 * FSG's LZ decoder, an aPLib variant (ClamAV's `cli_unfsg` and `unmew` in `libclamav/packlibs.c`
 * and `mew.c` decode the same stream): a bit stream interleaved with literal bytes; literals,
 * 4-bit short distances (distance 0 writes a zero byte), byte distances with 1-2 byte lengths
 * (distance 0 ends the stream), gamma-coded long distances and lengths, a repeat of the last
 * distance. Used by MEW's blocks (input and output in one buffer) and PESpin's compressed
 * sections. A stream that leaves either range is an `FsgError`, for the caller to report.
 */
import { contained } from "./bytes.js";

export class FsgError extends Error {}
const fail = (message: string): never => {
  throw new FsgError(message);
};

/**
 * Decodes `src[s0, s0+ssize)` into `dst[d0, d0+dsize)` (`src` and `dst` may be one buffer), up to
 * the end marker; the output may fill its range only partly. Returns where the input and the
 * output stopped.
 */
export function unfsg(
  src: Uint8Array,
  dst: Uint8Array,
  s0 = 0,
  ssize = src.length - s0,
  d0 = 0,
  dsize = dst.length - d0,
): { endSrc: number; endDst: number } {
  if (!contained(0, src.length, s0, ssize) || !contained(0, dst.length, d0, dsize))
    fail("the stream or its output is empty or lies outside its buffer");
  const srcEnd = s0 + ssize;
  const dstEnd = d0 + dsize;
  let s = s0;
  let d = d0;
  // the tag byte: its top bit is the next bit, a sentinel 1 marks when to load the next byte
  let tag = 0x80;
  const bit = (): number => {
    let old = tag;
    tag = (tag << 1) & 0xff;
    if (!(old & 0x7f)) {
      // (ClamAV never loads the stream's last byte as a tag)
      if (s >= srcEnd - 1) fail("packed data ends early");
      old = src[s++]!;
      tag = ((old << 1) | 1) & 0xff;
    }
    return (old >>> 7) & 1;
  };
  const gamma = (): number => {
    let v = 1;
    do v = (v * 2 + bit()) >>> 0;
    while (bit());
    return v;
  };
  dst[d++] = src[s++]!;
  let last = 0;
  let afterLiteral = 1;
  for (;;) {
    if (!bit()) {
      if (s >= srcEnd) fail("packed data ends early");
      if (d >= dstEnd) fail("output passes its bounds");
      dst[d++] = src[s++]!;
      afterLiteral = 1;
      continue;
    }
    let len: number;
    let dist: number;
    if (bit()) {
      if (bit()) {
        // a 4-bit distance: one byte (distance 0 writes a zero byte)
        dist = 0x10;
        while (dist < 0x100) dist = dist * 2 + bit();
        dist &= 0xff;
        afterLiteral = 1;
        if (!dist) {
          if (d >= dstEnd) fail("output passes its bounds");
          dst[d++] = 0;
          continue;
        }
        len = 1;
      } else {
        // a byte: 7-bit distance and 1 length bit; distance 0 ends the stream
        if (s >= srcEnd) fail("packed data ends early");
        const x = src[s++]!;
        dist = x >>> 1;
        if (!dist) break;
        len = (x & 1) + 2;
        last = dist;
        afterLiteral = 0;
      }
    } else {
      const g = (gamma() - 1 - afterLiteral) >>> 0;
      if (!g) {
        len = gamma();
        dist = last;
      } else {
        if (s >= srcEnd) fail("packed data ends early");
        dist = (src[s++]! + (((g - 1) << 8) >>> 0)) >>> 0;
        len = gamma();
        if (dist >= 0x7d00) len++;
        if (dist >= 0x500) len++;
        if (dist <= 0x7f) len += 2;
        last = dist;
      }
      afterLiteral = 0;
    }
    if (!contained(0, dsize, d - d0, len) || !contained(0, dsize, d - d0 - dist, len))
      fail("a copy points outside the output (damaged?)");
    for (let i = 0; i < len; i++, d++) dst[d] = dst[d - dist]!;
  }
  return { endSrc: s, endDst: d };
}
