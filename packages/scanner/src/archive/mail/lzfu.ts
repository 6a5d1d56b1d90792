/**
 * Compressed RTF (MS-OXRTFCP), the PR_RTF_COMPRESSED body of TNEF and Outlook messages: a
 * 16-byte header (compressed size, raw size, "LZFu" or "MELA" (stored), CRC-32) then LZ77
 * runs: a control byte of 8 flags, least significant first, each a literal byte (0) or a
 * big-endian reference (1: 12-bit offset into a 4096-byte ring pre-filled with a fixed RTF
 * prefix, 4-bit length + 2); a reference to the write position ends the stream.
 */
import { OutputLimit } from "../types.js";
import type { Decoded } from "./decode.js";

const PREFIX =
  "{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript " +
  "\\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n\\par " +
  "\\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx";

const LZFU = 0x75465a4c;
const MELA = 0x414c454d;

export function decodeLzfu(b: Uint8Array, limit: number): Decoded {
  if (b.length < 16) return { data: new Uint8Array(0), error: "compressed RTF header cut short" };
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const compSize = v.getUint32(0, true);
  const rawSize = v.getUint32(4, true);
  const magic = v.getUint32(8, true);
  const end = Math.min(b.length, compSize + 4);
  if (magic === MELA) {
    const stored = b.subarray(16, Math.min(b.length, 16 + rawSize));
    if (stored.length > limit) throw new OutputLimit(limit);
    return stored.length < rawSize
      ? { data: stored, error: `stored RTF cut short (${stored.length} of ${rawSize} bytes)` }
      : { data: stored };
  }
  if (magic !== LZFU) return { data: new Uint8Array(0), error: `unknown compressed RTF type 0x${magic.toString(16)}` };
  const ring = new Uint8Array(4096);
  for (let i = 0; i < PREFIX.length; i++) ring[i] = PREFIX.charCodeAt(i);
  let w = PREFIX.length;
  // grown as it fills: the header's raw size is only a claim (a hostile one must not allocate)
  let out = new Uint8Array(Math.min(rawSize, limit, 1 << 16) + 1);
  let n = 0;
  const put = (c: number) => {
    if (n >= limit) throw new OutputLimit(limit);
    if (n === out.length) {
      const grown = new Uint8Array(Math.min(out.length * 2, limit + 1));
      grown.set(out);
      out = grown;
    }
    out[n++] = c;
    ring[w] = c;
    w = (w + 1) & 0xfff;
  };
  let p = 16;
  while (p < end) {
    const control = b[p++]!;
    for (let bit = 0; bit < 8; bit++) {
      if (p >= end) break;
      if (!(control & (1 << bit))) {
        put(b[p++]!);
        continue;
      }
      if (p + 1 >= end) return { data: out.subarray(0, n), error: "compressed RTF cut short" };
      const ref = (b[p]! << 8) | b[p + 1]!;
      p += 2;
      const offset = ref >> 4;
      if (offset === w) return { data: out.subarray(0, n) };
      const len = (ref & 0xf) + 2;
      for (let k = 0; k < len; k++) put(ring[(offset + k) & 0xfff]!);
    }
  }
  const data = out.subarray(0, n);
  return n >= rawSize ? { data } : { data, error: `compressed RTF ends early (${n} of ${rawSize} bytes)` };
}
