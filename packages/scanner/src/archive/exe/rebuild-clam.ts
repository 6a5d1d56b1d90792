/**
 * The PE that ClamAV writes around an unpacked memory image (`libclamav/rebuildpe.c`,
 * `cli_rebuildpe_align`), used by the unpackers whose output ClamAV rebuilds this way (MEW,
 * Upack): ClamAV's DOS stub and a fixed NT header (0x148 bytes), 16 data directories (only the
 * resource one may be set), then one section header per section, named `.clam01`, `.clam02`,
 * ..., each section's raw data at the next 0x200 boundary. A first section that starts past the
 * headers' page gets a ghost section `empty` in front. With an alignment, section sizes and
 * addresses are rounded up to it. The result is the member, so that hash signatures written
 * against ClamAV's rebuilt file match here.
 */

/** ClamAV's DOS header, stub and NT header up to the data directories (0x148 bytes). */
const HEADERS = Buffer.from(
  "4d5a90000200000004000f00ffff0000b00000000000000040001a000000000000000000000000000000000000000000000000000000000000000000d0000000" +
    "0e1fb409ba0d00cd21b44ccd21546869732066696c6520776173206372656174656420627920436c616d415620666f7220696e7465726e616c2075736520616e" +
    "642073686f756c64206e6f742062652072756e2e0d0a436c616d4156202d20412047504c207669727573207363616e6e6572202d20687474703a2f2f7777772e" +
    "636c616d61762e6e65740d0a24000000504500004c01ffff434c414d0000000000000000e000838f0b010000001000000010000000000000ffffffff00100000" +
    "00100000ffffffff0010000000020000010000000000000003000a00000000000010000000040000000000000200000000001000001000000000100000100000" +
    "0000000010000000",
  "hex",
);
/** Where the NT header starts in the rebuilt file. */
const NT = 0xd0;

/** A section of the unpacked buffer: its bytes at `raw`, placed at `rva` in the image. */
export interface ClamSection {
  raw: number;
  rva: number;
  rsz: number;
  vsz: number;
}

const put32 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
};
/** Rounds up to a multiple of `a` in 32 bits, as ClamAV's PESALIGN. */
const up = (o: number, a: number): number => (a ? (Math.ceil(o / a) * a) >>> 0 : o >>> 0);

/**
 * The rebuilt PE, or why ClamAV would not write one (too many sections, too large, a section
 * outside the buffer).
 */
export function rebuildClamPe(
  buf: Uint8Array,
  sections: readonly ClamSection[],
  base: number,
  ep: number,
  align: number,
  resRva = 0,
  resSize = 0,
): { data: Uint8Array } | { error: string } {
  const n = sections.length;
  if (!n) return { error: "no section to rebuild" };
  let rawbase = up(0x148 + 0x80 + 0x28 * n, 0x200);
  const ghost = sections[0]!.rva > up(rawbase, 0x1000) ? 1 : 0;
  if (ghost) rawbase = up(0x148 + 0x80 + 0x28 * (n + 1), 0x200);
  if (n + ghost > 96) return { error: `${n} sections: more than a rebuilt PE holds (96)` };
  let size = 0;
  for (const s of sections) {
    if (s.raw + s.rsz > buf.length) return { error: "a section lies outside the unpacked image" };
    size += align ? up(up(s.rsz, align), 0x200) : up(s.rsz, 0x200);
  }
  if (size > 1 << 30) return { error: "the rebuilt image would pass 1 GiB" };
  const out = new Uint8Array(rawbase + size);
  out.set(HEADERS);
  out[NT + 6] = (n + ghost) & 0xff;
  out[NT + 7] = ((n + ghost) >>> 8) & 0xff;
  put32(out, NT + 0x28, ep);
  put32(out, NT + 0x34, base);
  put32(out, NT + 0x54, rawbase);
  put32(out, 0x148 + 0x10, resRva);
  put32(out, 0x148 + 0x14, resSize);
  let image = up(rawbase, 0x1000);
  let hdr = 0x148 + 0x80;
  if (ghost) {
    out.set(Buffer.from("empty", "latin1"), hdr);
    put32(out, hdr + 8, sections[0]!.rva - image);
    put32(out, hdr + 12, image);
    put32(out, hdr + 0x24, 0xffffffff);
    hdr += 40;
    image = (image + up(sections[0]!.rva - image, 0x1000)) >>> 0;
  }
  for (let i = 0; i < n; i++, hdr += 40) {
    const s = sections[i]!;
    out.set(Buffer.from(`.clam${String(i + 1).padStart(2, "0")}`.slice(0, 7), "latin1"), hdr);
    put32(out, hdr + 8, align ? up(s.vsz, align) : s.vsz);
    put32(out, hdr + 12, align ? up(s.rva, align) : s.rva);
    put32(out, hdr + 16, align ? up(s.rsz, align) : s.rsz);
    put32(out, hdr + 20, rawbase);
    put32(out, hdr + 0x24, 0xffffffff);
    out.set(buf.subarray(s.raw, s.raw + s.rsz), rawbase);
    rawbase += align ? up(up(s.rsz, align), 0x200) : up(s.rsz, 0x200);
    image = (image + (align ? up(up(s.vsz, align), 0x1000) : up(s.vsz, 0x1000))) >>> 0;
  }
  put32(out, NT + 0x50, image);
  return { data: out };
}
