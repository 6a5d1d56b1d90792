/**
 * SZDD, the format of Microsoft's COMPRESS.EXE / EXPAND.EXE (files named `SETUP.EX_`), written
 * from its published description: a 14-byte header ("SZDD" 88 F0 27 33, mode 'A', the file
 * name's last character that the `_` replaced, the uncompressed length), then LZSS with a
 * 4096-byte window filled with spaces, writing from position 4080: each flag byte, low bit
 * first, says literal (1) or a 2-byte (offset, length 3..18) reference (0).
 */
import { damaged, stripSuffix } from "../gzip.js";
import { overLimit, type Member, type OutputCap } from "../types.js";

const MAGIC = [0x53, 0x5a, 0x44, 0x44, 0x88, 0xf0, 0x27, 0x33];

export function isSzdd(b: Uint8Array): boolean {
  if (b.length < 14) return false;
  for (let i = 0; i < 8; i++) if (b[i] !== MAGIC[i]) return false;
  return b[8] === 0x41;
}

/** The member's name: the outer name with its trailing `_` given back its letter. */
function memberName(b: Uint8Array, outerName: string): string {
  const base = outerName.slice(outerName.lastIndexOf("/") + 1).replace(/^.*!/, "");
  const missing = b[9]!;
  if (base.endsWith("_") && missing >= 0x20 && missing < 0x7f) return base.slice(0, -1) + String.fromCharCode(missing);
  return stripSuffix(outerName, /\.(szdd|_)$/i);
}

export function* readSzdd(b: Uint8Array, outerName: string, cap: OutputCap): Generator<Member> {
  const name = memberName(b, outerName);
  const size = (b[10]! | (b[11]! << 8) | (b[12]! << 16) | (b[13]! << 24)) >>> 0;
  const limit = cap(b.length);
  // LZSS gives at most 18 bytes for 2 bits of flag and 2 bytes: a header that announces more is a lie
  const room = Math.min(size, limit, Math.ceil((b.length * 8 * 18) / 17) + 18);
  const out = new Uint8Array(room);
  const window = new Uint8Array(4096).fill(0x20);
  let pos = 4096 - 16;
  let n = 0;
  let p = 14;
  while (n < room && p < b.length) {
    const flags = b[p++]!;
    for (let bit = 0; bit < 8 && n < room; bit++) {
      if (flags & (1 << bit)) {
        if (p >= b.length) break;
        const c = b[p++]!;
        out[n++] = c;
        window[pos] = c;
        pos = (pos + 1) & 0xfff;
      } else {
        if (p + 2 > b.length) {
          p = b.length;
          break;
        }
        const lo = b[p++]!;
        const hi = b[p++]!;
        let from = lo | ((hi & 0xf0) << 4);
        for (let k = (hi & 0x0f) + 3; k > 0 && n < room; k--) {
          const c = window[from]!;
          from = (from + 1) & 0xfff;
          out[n++] = c;
          window[pos] = c;
          pos = (pos + 1) & 0xfff;
        }
      }
    }
  }
  if (n < size && n === limit) {
    yield overLimit(name, b.length, limit);
    return;
  }
  if (n < size) {
    yield damaged(
      name,
      b.length,
      out.subarray(0, n),
      `SZDD data ends after ${n} of the ${size} bytes its header announces (truncated)`,
    );
    return;
  }
  yield { name, compressedSize: b.length, data: out };
}
