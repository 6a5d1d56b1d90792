/**
 * UPX-packed PE32 files, unpacked and rebuilt into a PE as ClamAV does (`libclamav/upx.c`,
 * `pe.c`), so that hash and body signatures written against ClamAV's rebuilt image match here:
 *
 * - recognition: the first section with no raw data but a virtual size, followed by one with
 *   both (UPX0, UPX1); the method from the loader bytes at the entry point (NRV2B, NRV2D, NRV2E
 *   at EP+0x69, LZMA at EP+0x2f or EP+0x39/0x45), then the other NRV methods in turn;
 * - decompression of UPX1's raw data into a buffer of UPX0+UPX1's virtual size;
 * - the rebuild: the original PE header is found after the import names the loader points at
 *   (or by a backwards search), its sections are laid out with file alignment = section
 *   alignment behind ClamAV's own DOS stub; with no header found, a one-section PE is forged
 *   around the data. Where ClamAV gives up on the rebuild, the raw buffer is the output, as there.
 */
import type { PeImage } from "@vigil/engine";
import { nrvDecompress, type NrvMethod } from "./nrv.js";
import { lzmaDecodeRaw } from "../xz.js";
import { contained, put32, u32 } from "./bytes.js";

/** ClamAV's DOS header and stub for rebuilt images (0xd0 bytes). */
export const HEADERS = Buffer.from(
  "4d5a90000200000004000f00ffff0000b00000000000000040001a000000000000000000000000000000000000000000000000000000000000000000d00000000e1fb409ba0d00cd21b44ccd21546869732066696c6520776173206372656174656420627920436c616d415620666f7220696e7465726e616c2075736520616e642073686f756c64206e6f742062652072756e2e0d0a436c616d4156202d20412047504c207669727573207363616e6e6572202d20687474703a2f2f7777772e636c616d61762e6e65740d0a24000000",
  "hex",
);
/** ClamAV's forged NT header and single section header (0x120 bytes). */
const FAKEPE = Buffer.from(
  "504500004c010100434c414d0000000000000000e000838f0b010000001000000010000000000000001000000010000000100000000040000010000000020000010000000000000003000a0000000000ffffffff00020000000000000200000000001000001000000000100000100000000000001000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000002e636c616d303100ffffffff00100000ffffffff00020000000000000000000000000000ffffffff",
  "hex",
);

/** Loader byte patterns at the entry point (facts from ClamAV's pe.c). */
const NRV2B = Buffer.from("11db11c901db75078b1e83eefc11db11c911c975204101db", "hex");
const NRV2D = Buffer.from("83f0ff7478d1f889c5eb0b01db75078b1e83eefc11db11c9", "hex");
const NRV2E = Buffer.from("eb5231c983e803721 1c1e0088a064683f0ff7475d1f889c5".replace(/ /g, ""), "hex");
const LZMA1_FIRST = Buffer.from("5683c304535 0c703".replace(/ /g, ""), "hex");
const LZMA1_SECOND = Buffer.from("909090555756 5383".replace(/ /g, ""), "hex");
const LZMA2 = Buffer.from("5683c30453 50c70303000200909090909055 5756".replace(/ /g, ""), "hex");

/** Where the loader keeps the import-table offset, per method (ClamAV's "magic" values). */
const IMPORT_MAGIC: Record<NrvMethod | "lzma", number[]> = {
  nrv2b: [0x108, 0x110, 0xd5],
  nrv2d: [0x11c, 0x124],
  nrv2e: [0x128, 0x130],
  lzma: [0xb16, 0xb1e],
};

const align = (o: number, a: number): number => (a ? Math.floor(o / a) * a : o) >>> 0;
const alignUp = (o: number, a: number): number => (a ? Math.ceil(o / a) * a : o) >>> 0;

/** Does `needle` occur anywhere in `hay`? */
function occurs(hay: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(hay.buffer, hay.byteOffset, hay.byteLength).indexOf(needle) >= 0;
}

/** A section as ClamAV normalises it (aligned, clipped to the file). */
export interface Sect {
  rva: number;
  vsz: number;
  raw: number;
  rsz: number;
  /** SizeOfRawData as written (clipped to the file). */
  ursz: number;
}

/**
 * The section table as ClamAV's PE reader leaves it for the unpackers (`cli_peheader`): addresses
 * and sizes aligned (in 32 bits), sizes clipped to the file; a section whose raw data starts past
 * the end of the file is emptied, or with `removeMissing` (as `cli_scanpe` asks) removed.
 */
export function sectionsOf(pe: PeImage, size: number, removeMissing = false): { sects: Sect[]; hdrSize: number } {
  const salign = pe.opt32(32);
  let falign = pe.opt32(36);
  for (const s of pe.sections)
    if (falign !== 0x200 && falign && s.rawDataSize && s.rawDataOffset % falign && !(s.rawDataOffset % 0x200))
      falign = 0x200;
  const sects: Sect[] = [];
  for (const s of pe.sections) {
    const x: Sect = {
      rva: align(s.virtualAddress, salign),
      vsz: alignUp(s.virtualSize, salign),
      raw: align(s.rawDataOffset, falign),
      rsz: alignUp(s.rawDataSize, falign),
      ursz: s.rawDataSize,
    };
    if (x.rsz) {
      if (x.raw >= size || s.rawDataOffset >= size) {
        if (removeMissing) continue;
        x.rsz = x.ursz = 0;
      } else {
        if (x.raw + x.rsz > size) x.rsz = size - x.raw;
        if (s.rawDataOffset + x.ursz > size) x.ursz = size - s.rawDataOffset;
      }
    }
    if (!x.vsz && x.rsz) x.vsz = alignUp(x.ursz, salign);
    sects.push(x);
  }
  return { sects, hdrSize: alignUp(pe.opt32(60), salign) };
}

export function rawAddr(rva: number, sects: Sect[], size: number, hdrSize: number): number | undefined {
  if (rva < hdrSize) return rva < size ? rva : undefined;
  for (let i = sects.length - 1; i >= 0; i--) {
    const s = sects[i]!;
    if (s.rsz && s.rva <= rva && s.rsz > rva - s.rva) return rva - s.rva + s.raw;
  }
  return undefined;
}

export interface UpxUnpacked {
  /** The rebuilt image (or what ClamAV would write out when the rebuild gives up). */
  data?: Uint8Array;
  method?: NrvMethod | "lzma";
  /** Why nothing could be unpacked although the file looks UPX-packed. */
  error?: string;
  /** Output size the unpacking needs (to check against the caller's cap first). */
  size: number;
  compressedSize: number;
}

/** A UPX layout in a PE: the sections and loader facts, before any decompression. */
interface Layout {
  src: Uint8Array;
  ssize: number;
  dsize: number;
  upx0: number;
  upx1: number;
  vep: number;
  ep: Uint8Array;
  imageBase: number;
  /** The loader or the section names say UPX (a failure is then reported, not ignored). */
  evident: boolean;
}

function layout(pe: PeImage, b: Uint8Array): Layout | { bad: string } | undefined {
  if (pe.is64) return undefined;
  const { sects, hdrSize } = sectionsOf(pe, b.length);
  let i = 0;
  for (; i + 1 < sects.length; i++) {
    const s = sects[i]!;
    const t = sects[i + 1]!;
    if (!s.rsz && s.vsz && t.rsz && t.vsz) break;
  }
  if (i + 1 >= sects.length) return undefined;
  const named = /^UPX0/.test(Buffer.from(pe.sections[i]!.nameBytes).toString("latin1"));
  const vep = pe.entryPointRva;
  const epOff = rawAddr(vep, sects, b.length, hdrSize);
  if (epOff === undefined)
    return named ? { bad: "the entry point (the UPX loader) lies outside the file: truncated?" } : undefined;
  const ep = new Uint8Array(4096);
  ep.set(b.subarray(epOff, Math.min(b.length, epOff + 4096)));
  const t = sects[i + 1]!;
  const ssize = t.rsz;
  const dsize = (sects[i]!.vsz + t.vsz) >>> 0;
  const evident =
    named ||
    [NRV2B, NRV2D, NRV2E].some(
      (sig) => occurs(sig, ep.subarray(0x69, 0x69 + 13)) || occurs(sig, ep.subarray(0x71, 0x71 + 13)),
    ) ||
    Buffer.compare(ep.subarray(0x2f, 0x2f + 20), LZMA2) === 0 ||
    (Buffer.compare(ep.subarray(0x39, 0x41), LZMA1_FIRST) === 0 &&
      Buffer.compare(ep.subarray(0x45, 0x4d), LZMA1_SECOND) === 0);
  if (ssize <= 0x19 || dsize <= ssize)
    return evident ? { bad: `UPX section sizes make no sense (packed ${ssize}, unpacked ${dsize} bytes)` } : undefined;
  return {
    src: b.subarray(t.raw, t.raw + ssize),
    ssize,
    dsize,
    upx0: sects[i]!.rva,
    upx1: t.rva,
    vep,
    ep,
    imageBase: Number(pe.imageBase) >>> 0,
    evident,
  };
}

/**
 * The rebuild. `dst` is the whole output buffer (dsize + 8192 bytes, zero beyond what was
 * decoded), `dsize` the unpacked size ClamAV passes, `dend` the decoded length. Returns the
 * output length, or -1 when the data is kept unrebuilt at `dsize` bytes (ClamAV's "return 0").
 */
function rebuild(
  src: Uint8Array,
  dst: Uint8Array,
  dsize: number,
  ep: number,
  upx0: number,
  upx1: number,
  magic: number[],
  dend: number,
): { out: Uint8Array; size: number } {
  const ssize = src.length;
  const base = ep - upx1; // where the loader sits in src
  let valign = 0;
  for (const m of magic) {
    const at = base + m - 2;
    if (contained(0, ssize - 5, at, 2) && src[at] === 0x8d && src[at + 1] === 0xbe) {
      valign = m;
      break;
    }
  }
  if (!valign && contained(0, ssize - 8, base + 0x80, 8)) {
    // "lea edi, [esi + imports]; mov eax, [edi]" somewhere after the loader start
    const s = Buffer.from(src.buffer, src.byteOffset, src.byteLength);
    let pt = base + 0x80;
    const limit = ssize - 8;
    for (;;) {
      const hit = s.indexOf(Buffer.from([0x8d, 0xbe]), pt);
      if (hit < 0 || hit + 2 > limit) break;
      if (src[hit + 6] === 0x8b && src[hit + 7] === 0x07) {
        valign = (hit + 2 - ep + upx1) >>> 0;
        break;
      }
      pt = hit + 1;
    }
  }
  let pehdr = -1;
  let realstuff = 0;
  let sectcnt = 0;
  const checkpe = (at: number): boolean => {
    if (!contained(0, dsize, at, 0xf8) || u32(dst, at) !== 0x4550) return false;
    const sa = u32(dst, at + 0x38);
    const n = dst[at + 6]! | (dst[at + 7]! << 8);
    if (!sa || !n || !contained(0, dsize, at + 0xf8, n * 0x28)) return false;
    valign = sa;
    sectcnt = n;
    return true;
  };
  if (valign && contained(0, ssize, (base + valign) >>> 0, 4)) {
    const imports = u32(src, (base + valign) >>> 0);
    realstuff = imports;
    if (realstuff < dsize) {
      // walk the import descriptors the loader uses: dll name list, function names, to the header
      let p = imports;
      while (contained(0, dsize, p, 8) && u32(dst, p)) {
        p += 8;
        while (contained(0, dsize, p, 2) && dst[p]) {
          p++;
          while (contained(0, dsize, p, 2) && dst[p]) p++;
          p++;
        }
        p++;
      }
      p += 4;
      if (checkpe(p)) pehdr = p;
    }
  }
  if (pehdr < 0 && dend > 0xf8 + 0x28) {
    for (let p = dend - 0xf8 - 0x28; p > 0; p--) {
      if (checkpe(p)) {
        pehdr = p;
        realstuff = p;
        break;
      }
    }
  }
  if (pehdr < 0) {
    // forge a one-section PE around the data
    const rebsz = alignUp(dend, 0x1000);
    const head = new Uint8Array(0x200);
    head.set(HEADERS, 0);
    head.set(FAKEPE, 0xd0);
    dst.copyWithin(0x200, 0, dend);
    dst.set(head, 0);
    put32(dst, 0xd0 + 0x50, (rebsz + 0x1000) >>> 0);
    put32(dst, 0xd0 + 0x100, rebsz);
    put32(dst, 0xd0 + 0x108, rebsz);
    return { out: dst, size: rebsz + 0x200 };
  }
  let foffset = alignUp(0xd0 + 0xf8 + 0x28 * sectcnt, valign);
  for (let k = 0; k < sectcnt; k++) {
    const sh = pehdr + 0xf8 + k * 0x28;
    const vsize = alignUp(u32(dst, sh + 8), valign);
    const urva = align(u32(dst, sh + 12), valign);
    if (!contained(upx0, realstuff, urva, vsize)) return { out: dst, size: -1 };
    put32(dst, sh + 8, vsize);
    put32(dst, sh + 12, urva);
    put32(dst, sh + 16, vsize);
    put32(dst, sh + 20, foffset);
    if (foffset + vsize > 0xffffffff) return { out: dst, size: -1 };
    foffset += vsize;
  }
  put32(dst, pehdr + 8, 0x4d414c43);
  put32(dst, pehdr + 0x3c, valign);
  const hdrLen = 0xf8 + 0x28 * sectcnt;
  if (foffset > dsize + 8192) return { out: dst, size: -1 };
  const out = new Uint8Array(foffset);
  out.set(HEADERS, 0);
  out.set(dst.subarray(pehdr, pehdr + hdrLen), 0xd0);
  for (let k = 0; k < sectcnt; k++) {
    const sh = pehdr + 0xf8 + k * 0x28;
    const o1 = u32(dst, sh + 20);
    const o2 = u32(dst, sh + 16);
    if (o1 > foffset || o2 > foffset || o1 + o2 > foffset) return { out: dst, size: dsize };
    const o3 = u32(dst, sh + 12);
    if ((o3 - upx0) >>> 0 > dsize) return { out: dst, size: dsize };
    out.set(dst.subarray(o3 - upx0, o3 - upx0 + o2), o1);
  }
  // the rebuilt image replaces the start of the buffer (what lies past it stays)
  dst.set(out, 0);
  return { out: dst, size: foffset };
}

const METHODS: NrvMethod[] = ["nrv2b", "nrv2d", "nrv2e"];

/**
 * Unpacks a UPX-packed PE32. undefined when the file does not have UPX's layout; `error` when it
 * does and nothing decompresses; `size` over `limit` returns before any work (no `data`).
 */
export function unpackUpx(pe: PeImage, b: Uint8Array, limit: number): UpxUnpacked | undefined {
  const l = layout(pe, b);
  if (!l) return undefined;
  if ("bad" in l) return { error: l.bad, size: 0, compressedSize: 0 };
  const { src, ssize, dsize, upx0, upx1, vep, ep } = l;
  const result: UpxUnpacked = { size: dsize, compressedSize: ssize };
  if (dsize + 8192 > limit) return result;
  const dst = new Uint8Array(dsize + 8192);
  const view = dst.subarray(0, dsize);
  let method: NrvMethod | "lzma" | undefined;
  let out: { out: Uint8Array; size: number } | undefined;
  const tryNrv = (m: NrvMethod, skew: number): boolean => {
    if (skew > ssize) return false;
    try {
      const dend = nrvDecompress(m, src, skew, ssize, view);
      out = rebuild(src.subarray(skew), dst, dsize, vep - skew, upx0, upx1, IMPORT_MAGIC[m], dend);
      method = m;
      return true;
    } catch {
      return false;
    }
  };
  let preferred: NrvMethod | undefined;
  const at = [ep.subarray(0x69, 0x69 + 13), ep.subarray(0x71, 0x71 + 13)];
  if (at.some((x) => occurs(NRV2B, x))) preferred = "nrv2b";
  else if (at.some((x) => occurs(NRV2D, x))) preferred = "nrv2d";
  else if (at.some((x) => occurs(NRV2E, x))) preferred = "nrv2e";
  let ok = false;
  if (preferred) {
    let skew = ((u32(ep, 2) - l.imageBase - upx1) | 0) as number;
    if (ep[1] !== 0xbe || skew <= 0 || skew > 0xfff || skew > ssize) skew = 0;
    ok = tryNrv(preferred, skew) || (skew !== 0 && tryNrv(preferred, 0));
  }
  for (const m of METHODS) {
    if (ok) break;
    if (m === preferred) continue;
    ok = tryNrv(m, 0) || (ssize > 0x15 && tryNrv(m, 0x15));
  }
  const lzma2 = Buffer.compare(ep.subarray(0x2f, 0x2f + 20), LZMA2) === 0;
  const lzma1 =
    !lzma2 &&
    Buffer.compare(ep.subarray(0x39, 0x41), LZMA1_FIRST) === 0 &&
    Buffer.compare(ep.subarray(0x45, 0x4d), LZMA1_SECOND) === 0;
  if (lzma1 || lzma2) {
    const strict = u32(ep, lzma2 ? 0x21 : 0x2b);
    const props = lzma2 ? 0x20003 : u32(ep, 0x41);
    let skew = 0;
    if (ssize > 0x15 && ep[0] === 0x60 && ep[1] === 0xbe) {
      skew = (u32(ep, 2) - upx1 - l.imageBase) >>> 0;
      if (skew !== 0x15) skew = 0;
    }
    ok = false;
    const lc = props & 0xff;
    const lp = (props >>> 8) & 0xff;
    const pb = (props >>> 16) & 0xff;
    if (strict <= dsize && lc < 9 && lp < 5 && pb < 5) {
      dst.fill(0, 0, strict);
      const r = lzmaDecodeRaw(src, skew + 2, ssize, lc, lp, pb, dst.subarray(0, strict));
      if (!r.error) {
        const built = rebuild(src.subarray(skew), dst, strict, vep, upx0, upx1, IMPORT_MAGIC.lzma, strict);
        // ClamAV writes the LZMA result at the section size, whatever the rebuild made
        out = { out: built.out, size: dsize };
        method = "lzma";
        ok = true;
      } else result.error = `UPX LZMA data is damaged: ${r.error}`;
    }
  }
  if (!ok || !out) {
    result.error ??= "UPX-packed sections could not be decompressed (damaged or an unknown UPX variant)";
    return l.evident ? result : undefined;
  }
  const size = out.size < 0 ? dsize : out.size;
  result.data = out.out.subarray(0, size);
  result.method = method;
  return result;
}
