/**
 * Self-extracting ZIPs whose offsets count from the start of the executable (what `zip -A` and
 * most SFX builders write): the archive is yielded from its first local header, so its central
 * directory and local-header offsets are rebased onto a copy, and the ZIP reader sees a
 * consistent archive instead of a damaged one. Plain concatenations (offsets from the archive's
 * own start) are yielded unchanged, as are archives whose layout fits neither reading.
 */

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;

/** The ZIP at `z` (a view from its first local header to the end of the executable), rebased when needed. */
export function rebaseSfxZip(z: Uint8Array, prefix: number): Uint8Array {
  if (prefix <= 0 || z.length < 22) return z;
  const v = new DataView(z.buffer, z.byteOffset, z.byteLength);
  // the end-of-central-directory record: last match in the final 64 KiB + 22 bytes
  let eocd = -1;
  for (let p = z.length - 22; p >= Math.max(0, z.length - 22 - 0xffff); p--) {
    if (v.getUint32(p, true) === EOCD && p + 22 + v.getUint16(p + 20, true) <= z.length) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) return z;
  const entries = v.getUint16(eocd + 10, true);
  const cdSize = v.getUint32(eocd + 12, true);
  const cdOffset = v.getUint32(eocd + 16, true);
  if (cdOffset === 0xffffffff || entries === 0xffff) return z; // zip64: left to the reader
  const cdStart = eocd - cdSize;
  if (cdStart < 0 || cdOffset !== cdStart + prefix) return z; // offsets are already the archive's own
  const out = Uint8Array.prototype.slice.call(z) as Uint8Array;
  const w = new DataView(out.buffer, out.byteOffset, out.byteLength);
  w.setUint32(eocd + 16, cdStart, true);
  let p = cdStart;
  for (let i = 0; i < entries; i++) {
    if (p + 46 > eocd || w.getUint32(p, true) !== CENTRAL) break;
    const local = w.getUint32(p + 42, true);
    if (local !== 0xffffffff && local >= prefix) w.setUint32(p + 42, local - prefix, true);
    p += 46 + w.getUint16(p + 28, true) + w.getUint16(p + 30, true) + w.getUint16(p + 32, true);
  }
  return out;
}
