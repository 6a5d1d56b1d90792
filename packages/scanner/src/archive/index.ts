/** Archive sniffing and dispatch: which reader opens these bytes. */
import { isBzip2, isGzip, readBzip2, readGzip, readXz } from "./gzip.js";
import { isXz } from "./xz.js";
import { isTar, readTar } from "./tar.js";
import { isZip, readZip } from "./zip.js";
import { isExe, readExe } from "./exe/index.js";
import { isAutoit, readAutoit } from "./exe/autoit.js";
import { isIshieldMsi, readIshieldMsi } from "./exe/ishield.js";
import { isOle2, isPdf, isRtf, readOle2, readPdf, readRtf } from "./docs/index.js";
import { readSevenZip, sniffSevenZip } from "./sevenzip/index.js";
import { isCpio, readCpio } from "./small/cpio.js";
import { isSzdd, readSzdd } from "./small/szdd.js";
import { isSis, readSis } from "./small/sis.js";
import type { ArchiveKind, Member, OutputCap } from "./types.js";
import { readMailKind, sniffMail } from "./mail/index.js";

export type { ArchiveKind, Member, OutputCap } from "./types.js";

/**
 * The containers this version opens, part of the scan cache's key: a file found clean before
 * a reader for its format existed is scanned again (each new reader adds its kind here).
 */

export function sniffArchive(b: Uint8Array): ArchiveKind | undefined {
  if (isZip(b)) return "zip";
  if (isGzip(b)) return "gzip";
  if (isBzip2(b)) return "bzip2";
  if (isXz(b)) return "xz";
  if (isTar(b)) return "tar";
  if (isCpio(b)) return "cpio";
  if (isSzdd(b)) return "szdd";
  if (isSis(b)) return "sis";
  // 7-Zip's formats (magic at 0, images, NSIS inside a PE) before PE as a container
  const sevenZip = sniffSevenZip(b);
  if (sevenZip) return sevenZip;
  if (isOle2(b)) return "ole2";
  if (isPdf(b)) return "pdf";
  if (isRtf(b)) return "rtf";
  if (isExe(b)) return "exe";
  if (isAutoit(b)) return "autoit";
  if (isIshieldMsi(b)) return "ishield-msi";
  // text formats last: every binary format is sniffed first
  return sniffMail(b);
}

/**
 * Whether `kind`'s reader reads the whole file and yields a member with a `problem` for whatever
 * it cannot read (a group or stream cut short or not decoded, encryption): when it yields
 * nothing, the file embeds nothing and its own bytes, scanned as they are, were all there is (an
 * RTF with no `\objdata`, a PDF with no filtered stream, an OLE2 file with no stream: its
 * directory is read whole and damage is reported). For other kinds, no member means the
 * reader found nothing it knows (an executable packed with an unknown packer): not fully scanned.
 */
export function readsWhole(kind: ArchiveKind): boolean {
  return kind === "rtf" || kind === "pdf" || kind === "ole2";
}

export function readArchive(kind: ArchiveKind, b: Uint8Array, outerName: string, cap: OutputCap): Iterable<Member> {
  switch (kind) {
    case "zip":
      return readZip(b, cap);
    case "gzip":
      return readGzip(b, outerName, cap);
    case "bzip2":
      return readBzip2(b, outerName, cap);
    case "xz":
      return readXz(b, outerName, cap);
    case "tar":
      return readTar(b);
    case "cpio":
      return readCpio(b);
    case "szdd":
      return readSzdd(b, outerName, cap);
    case "sis":
      return readSis(b, cap);
    case "exe":
      return readExe(b, cap);
    case "autoit":
      return readAutoit(b, cap);
    case "ishield-msi":
      return readIshieldMsi(b, cap);
    case "mail":
    case "tnef":
    case "uuencoded":
    case "binhex":
    case "html":
      return readMailKind(kind, b, cap);
    case "ole2":
      return readOle2(b, cap);
    case "pdf":
      return readPdf(b, cap);
    case "rtf":
      return readRtf(b, cap);
    default:
      return readSevenZip(kind, b, cap);
  }
}
