/**
 * Recognising the formats 7-Zip opens for the scanner, by their magic bytes (never the name):
 * 7z, RAR 4 and 5, Microsoft Cabinet, ARJ, CHM (ITSF), ISO 9660 and UDF images, and NSIS
 * installers (the NSIS first header inside a PE). Facts from the formats' published
 * descriptions and ClamAV's recognisers (libclamav/filetypes_int.h, nsis/nulsft.c).
 */

export type SevenZipKind = "7z" | "rar" | "rar5" | "cab" | "arj" | "chm" | "iso" | "udf" | "nsis";

/** 7-Zip's handler name for each kind (its `-t` switch). */
export const HANDLER: Record<SevenZipKind, string> = {
  "7z": "7z",
  rar: "Rar",
  rar5: "Rar5",
  cab: "Cab",
  arj: "Arj",
  chm: "Chm",
  iso: "Iso",
  udf: "Udf",
  nsis: "Nsis",
};

function at(b: Uint8Array, off: number, sig: ArrayLike<number>): boolean {
  if (off < 0 || off + sig.length > b.length) return false;
  for (let i = 0; i < sig.length; i++) if (b[off + i] !== sig[i]) return false;
  return true;
}

const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

const SIG_7Z = [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c];
const SIG_RAR4 = [0x52, 0x61, 0x72, 0x21, 0x1a, 0x07, 0x00];
const SIG_RAR5 = [0x52, 0x61, 0x72, 0x21, 0x1a, 0x07, 0x01, 0x00];
const SIG_CAB = [0x4d, 0x53, 0x43, 0x46, 0, 0, 0, 0];
const SIG_ITSF = ascii("ITSF");
const SIG_CD001 = ascii("CD001");
const SIG_BEA01 = ascii("BEA01");
const SIG_NSR = ascii("NSR0");
/** NSIS first header, after its 4-byte flags: 0xDEADBEEF then "NullsoftInst". */
const SIG_NSIS = [0xef, 0xbe, 0xad, 0xde, ...ascii("NullsoftInst")];

function u16(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}
function u32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

function isArj(b: Uint8Array): boolean {
  // main header: 0x60 0xEA, basic header size (<= 2600), first header size, archiver version,
  // min version, host OS, flags, security version, file type 2 (the main header)
  if (b.length < 34 || b[0] !== 0x60 || b[1] !== 0xea) return false;
  const size = u16(b, 2);
  return size >= 30 && size <= 2600 && b[4]! >= 30 && b[4]! <= size && b[10] === 2;
}

function isIso(b: Uint8Array): boolean {
  return at(b, 0x8001, SIG_CD001) && b[0x8006] === 1;
}

function isUdf(b: Uint8Array): boolean {
  // volume recognition sequence from sector 16 (2048-byte sectors, after any ISO 9660
  // descriptors): BEA01, then NSR02 or NSR03
  let bea = false;
  for (let s = 16; s < 32; s++) {
    if (at(b, s * 2048 + 1, SIG_BEA01)) bea = true;
    else if (bea && at(b, s * 2048 + 1, SIG_NSR)) return true;
  }
  return false;
}

function isNsis(b: Uint8Array): boolean {
  if (b.length < 0x200 || b[0] !== 0x4d || b[1] !== 0x5a) return false;
  const pe = u32(b, 0x3c);
  if (!at(b, pe, [0x50, 0x45, 0, 0])) return false;
  // the first header is 512-byte aligned after the installer stub
  for (let o = 512; o + 4 + SIG_NSIS.length <= b.length; o += 512) if (at(b, o + 4, SIG_NSIS)) return true;
  return false;
}

export function sniffSevenZip(b: Uint8Array): SevenZipKind | undefined {
  if (at(b, 0, SIG_7Z) && b.length >= 32) return "7z";
  if (at(b, 0, SIG_RAR5)) return "rar5";
  if (at(b, 0, SIG_RAR4)) return "rar";
  if (at(b, 0, SIG_CAB) && b.length >= 36) return "cab";
  if (at(b, 0, SIG_ITSF) && b.length >= 0x60 && u32(b, 4) === 3) return "chm";
  if (isArj(b)) return "arj";
  if (isIso(b)) return "iso";
  if (isUdf(b)) return "udf";
  if (isNsis(b)) return "nsis";
  return undefined;
}
