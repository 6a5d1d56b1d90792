/**
 * ClamAV's PE rebuild (`libclamav/rebuildpe.c`, `cli_rebuildpe_align`), the one every unpacker
 * whose output ClamAV rebuilds this way uses (ASPack, Petite, MEW, Upack, PESpin): the "parsable,
 * not runnable" PE ClamAV writes around unpacked sections: its DOS stub and a fixed NT header
 * (0x148 bytes), 16 data directories (only the resource one may be set), then one section header
 * per section, named `.clam01`, `.clam02`..., all characteristics bits set, each section's bytes
 * at the next 0x200 boundary. A first section that starts past the headers' page gets a ghost
 * section `empty` in front. With an alignment (MEW's), section sizes and addresses are rounded up
 * to it. Hash signatures written against ClamAV's rebuilt files match this output byte for byte.
 *
 * Also ClamAV's view of a packed file that its unpackers share: `cutShort`, why a file looks cut
 * short (a section's raw data passes its end).
 */
import type { PeImage } from "@vigil/engine";
import { put32 } from "./bytes.js";
import { HEADERS } from "./upx.js";

/** ClamAV's NT header behind its DOS stub (`HEADERS`), up to the data directories (0x78 bytes). */
const NT_HEADER = Buffer.from(
  "504500004c01ffff434c414d0000000000000000e000838f0b010000001000000010000000000000ffffffff00100000" +
    "00100000ffffffff0010000000020000010000000000000003000a00000000000010000000040000000000000200" +
    "0000000010000010000000001000001000000000000010000000",
  "hex",
);
/** Where the NT header starts in the rebuilt file. */
const NT = 0xd0;
/** More sections than this (with the ghost) and ClamAV does not rebuild. */
const MAX_SECTIONS = 96;
/** ClamAV's CLI_MAX_ALLOCATION: more section data than this and it does not rebuild. */
const MAX_DATA = 1 << 30;

/** A section of the rebuilt image: its bytes (the raw size is their length), placed at `rva`. */
export interface RebuildSect {
  rva: number;
  vsz: number;
  data: Uint8Array;
}

/** A section as a range of an unpacked buffer: its `rsz` bytes at `raw`, placed at `rva`. */
export interface BufferSect {
  raw: number;
  rva: number;
  rsz: number;
  vsz: number;
}

export interface RebuildOptions {
  /** Rounds section sizes and addresses up to this (0: none). */
  align?: number;
  resRva?: number;
  resSize?: number;
  /** With a cap: a rebuilt file larger than this is `{ over }`, the size it would take. */
  limit?: number;
}

export type Rebuilt = { data: Uint8Array } | { error: string } | { over: number };

/** Rounds up to a multiple of `a` in 32 bits, as ClamAV's PESALIGN. */
const up = (o: number, a: number): number => (a ? (Math.ceil(o / a) * a) >>> 0 : o >>> 0);

/**
 * The rebuilt PE (`data`), or why ClamAV would not write one (`error`: no sections, too many,
 * too much data), or the size it would take when that is over `limit` (`over`).
 */
export function rebuildPe(
  sects: readonly RebuildSect[],
  base: number,
  ep: number,
  { align = 0, resRva = 0, resSize = 0, limit }: RebuildOptions = {},
): Rebuilt {
  const n = sects.length;
  if (!n) return { error: "no sections to rebuild" };
  let rawbase = up(0x148 + 0x80 + 0x28 * n, 0x200);
  const ghost = sects[0]!.rva > up(rawbase, 0x1000) ? 1 : 0;
  if (ghost) rawbase = up(0x148 + 0x80 + 0x28 * (n + 1), 0x200);
  if (n + ghost > MAX_SECTIONS) return { error: `${n} sections: more than a rebuilt PE holds (${MAX_SECTIONS})` };
  const rawSize = (rsz: number) => (align ? up(up(rsz, align), 0x200) : up(rsz, 0x200));
  let size = 0;
  for (const s of sects) size += rawSize(s.data.length);
  if (limit !== undefined && rawbase + size > limit) return { over: rawbase + size };
  if (size > MAX_DATA) return { error: "the rebuilt image would pass 1 GiB" };
  const out = new Uint8Array(rawbase + size);
  out.set(HEADERS, 0);
  out.set(NT_HEADER, NT);
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
    put32(out, hdr + 8, sects[0]!.rva - image);
    put32(out, hdr + 12, image);
    put32(out, hdr + 0x24, 0xffffffff);
    hdr += 0x28;
    image = (image + up(sects[0]!.rva - image, 0x1000)) >>> 0;
  }
  for (let i = 0; i < n; i++, hdr += 0x28) {
    const s = sects[i]!;
    const rsz = s.data.length;
    out.set(Buffer.from(`.clam${String(i + 1).padStart(2, "0")}`, "latin1"), hdr);
    put32(out, hdr + 8, up(s.vsz, align));
    put32(out, hdr + 12, up(s.rva, align));
    put32(out, hdr + 16, up(rsz, align));
    put32(out, hdr + 20, rawbase);
    put32(out, hdr + 0x24, 0xffffffff);
    out.set(s.data, rawbase);
    rawbase += rawSize(rsz);
    image = (image + up(up(s.vsz, align), 0x1000)) >>> 0;
  }
  put32(out, NT + 0x50, image);
  return { data: out };
}

/**
 * `rebuildPe` over sections given as ranges of one unpacked buffer; a range outside the buffer
 * is an `error` (an empty one is not looked at).
 */
export function rebuildFrom(
  buf: Uint8Array,
  sects: readonly BufferSect[],
  base: number,
  ep: number,
  options: RebuildOptions = {},
): Rebuilt {
  const out: RebuildSect[] = [];
  for (const s of sects) {
    if (s.rsz && (s.raw < 0 || s.raw + s.rsz > buf.length))
      return { error: "a section lies outside the unpacked image" };
    out.push({ rva: s.rva, vsz: s.vsz, data: s.rsz ? buf.subarray(s.raw, s.raw + s.rsz) : new Uint8Array(0) });
  }
  return rebuildPe(out, base, ep, options);
}

/** Why the file looks cut short (a section's raw data passes its end), or undefined. */
export function cutShort(pe: PeImage, size: number): string | undefined {
  const s = pe.sections.find((s) => s.rawDataSize && s.rawDataOffset + s.rawDataSize > size);
  return s
    ? `the file is cut short: section ${s.index + 1}'s data ends at ${s.rawDataOffset + s.rawDataSize}, the file at ${size}`
    : undefined;
}
