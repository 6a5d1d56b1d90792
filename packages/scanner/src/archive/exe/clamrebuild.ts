/**
 * ClamAV's view of a PE for its unpackers, and its PE rebuild (facts from `libclamav/pe.c` and
 * `rebuildpe.c`), shared by the ASPack and Petite unpackers:
 *
 * - `clamSections`: the section table as `cli_scanpe` normalises it (addresses aligned, sizes
 *   clipped to the file, sections that start past the end of the file removed);
 * - `rebuildPe`: the "parsable, not runnable" PE ClamAV writes around unpacked sections: its DOS
 *   stub and fake NT header (0x148 bytes), a table of `.clamNN` sections (all characteristics
 *   bits set; a leading `empty` one when the first section starts past the headers' page), each
 *   section's bytes at 0x200-aligned file offsets. Hash signatures written against ClamAV's
 *   rebuilt files match this output byte for byte.
 */
import type { PeImage } from "@vigil/engine";
import { sectionsOf, type Sect } from "./upx.js";

/** ClamAV's DOS header, stub and fake NT header up to the data directories (0x148 bytes). */
const HEADERS = Buffer.from(
  "4d5a90000200000004000f00ffff0000b00000000000000040001a000000000000000000000000000000000000000000" +
    "000000000000000000000000d00000000e1fb409ba0d00cd21b44ccd21546869732066696c6520776173206372656174" +
    "656420627920436c616d415620666f7220696e7465726e616c2075736520616e642073686f756c64206e6f7420626520" +
    "72756e2e0d0a436c616d4156202d20412047504c207669727573207363616e6e6572202d20687474703a2f2f7777772e" +
    "636c616d61762e6e65740d0a24000000504500004c01ffff434c414d0000000000000000e000838f0b01000000100000" +
    "0010000000000000ffffffff0010000000100000ffffffff0010000000020000010000000000000003000a0000000000" +
    "00100000000400000000000002000000000010000010000000001000001000000000000010000000",
  "hex",
);

/** More sections than this and ClamAV does not rebuild. */
const MAX_SECTIONS = 96;

export interface RebuildSect {
  rva: number;
  vsz: number;
  /** Offset of the section's bytes in the buffer given to `rebuildPe`. */
  raw: number;
  rsz: number;
}

const alignUp = (o: number, a: number): number => Math.ceil(o / a) * a;

const put32 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
};

/**
 * The rebuilt PE (`data`), or why it cannot be built (`error`: too many sections, a section
 * outside the buffer), or the size it would take when that is over `limit` (`over`).
 */
export function rebuildPe(
  buf: Uint8Array,
  sects: RebuildSect[],
  base: number,
  ep: number,
  resRva: number,
  resSize: number,
  limit: number,
): { data: Uint8Array } | { error: string } | { over: number } {
  const n = sects.length;
  if (!n) return { error: "no sections to rebuild" };
  let rawbase = alignUp(0x148 + 0x80 + 0x28 * n, 0x200);
  const ghost = sects[0]!.rva > alignUp(rawbase, 0x1000) ? 1 : 0;
  if (ghost) rawbase = alignUp(0x148 + 0x80 + 0x28 * (n + 1), 0x200);
  if (n + ghost > MAX_SECTIONS) return { error: `${n} sections: more than ClamAV rebuilds (${MAX_SECTIONS})` };
  let total = rawbase;
  for (const s of sects) {
    if (s.rsz && (s.raw < 0 || s.raw + s.rsz > buf.length))
      return { error: "a section lies outside the unpacked image" };
    total += alignUp(s.rsz, 0x200);
  }
  if (total > limit) return { over: total };
  const out = new Uint8Array(total);
  out.set(HEADERS, 0);
  const pe = 0xd0;
  out[pe + 6] = (n + ghost) & 0xff;
  out[pe + 7] = ((n + ghost) >>> 8) & 0xff;
  put32(out, pe + 0x28, ep);
  put32(out, pe + 0x34, base);
  put32(out, pe + 0x54, rawbase);
  // the data directories: only the resources survive (Petite keeps them)
  put32(out, 0x148 + 0x10, resRva);
  put32(out, 0x148 + 0x14, resSize);
  let vaddr = alignUp(rawbase, 0x1000);
  let hdr = 0x148 + 0x80;
  if (ghost) {
    out.set(Buffer.from("empty", "latin1"), hdr);
    put32(out, hdr + 8, sects[0]!.rva - vaddr);
    put32(out, hdr + 12, vaddr);
    put32(out, hdr + 0x24, 0xffffffff);
    hdr += 0x28;
    vaddr += alignUp((sects[0]!.rva - vaddr) >>> 0, 0x1000);
  }
  for (let i = 0; i < n; i++) {
    const s = sects[i]!;
    out.set(Buffer.from(`.clam${String(i + 1).padStart(2, "0")}`, "latin1"), hdr);
    put32(out, hdr + 8, s.vsz);
    put32(out, hdr + 12, s.rva);
    put32(out, hdr + 16, s.rsz);
    put32(out, hdr + 20, rawbase);
    put32(out, hdr + 0x24, 0xffffffff);
    if (s.rsz) out.set(buf.subarray(s.raw, s.raw + s.rsz), rawbase);
    hdr += 0x28;
    rawbase += alignUp(s.rsz, 0x200);
    vaddr += alignUp(s.vsz, 0x1000);
  }
  put32(out, pe + 0x50, vaddr);
  return { data: out };
}

/**
 * The sections as `cli_scanpe` sees them: `sectionsOf` (aligned, clipped), with those whose raw
 * data starts past the end of the file removed rather than emptied.
 */
export function clamSections(pe: PeImage, size: number): { sects: Sect[]; hdrSize: number } {
  const { sects, hdrSize } = sectionsOf(pe, size);
  let falign = pe.opt32(36);
  for (const s of pe.sections)
    if (falign !== 0x200 && falign && s.rawDataSize && s.rawDataOffset % falign && !(s.rawDataOffset % 0x200))
      falign = 0x200;
  const kept = sects.filter((_, i) => {
    const h = pe.sections[i]!;
    const rsz = falign ? Math.ceil(h.rawDataSize / falign) * falign : h.rawDataSize;
    const raw = falign ? Math.floor(h.rawDataOffset / falign) * falign : h.rawDataOffset;
    return !(rsz && (raw >= size || h.rawDataOffset >= size));
  });
  return { sects: kept, hdrSize };
}

/**
 * Whether a section's raw data runs past the end of the file: the file was cut short, and what
 * an unpacker reads there (zeros) is not the packed program.
 */
export function cutShort(pe: PeImage, size: number): boolean {
  return pe.sections.some((s) => s.rawDataSize > 0 && s.rawDataOffset + s.rawDataSize > size);
}
