/** Archive sniffing and dispatch: which reader opens these bytes. */
import { isBzip2, isGzip, readBzip2, readGzip, readXz } from "./gzip.js";
import { isXz } from "./xz.js";
import { isTar, readTar } from "./tar.js";
import { isZip, readZip } from "./zip.js";
import { isOle2, isPdf, isRtf, readOle2, readPdf, readRtf } from "./docs/index.js";
import type { ArchiveKind, Member, OutputCap } from "./types.js";

export type { ArchiveKind, Member, OutputCap } from "./types.js";

export function sniffArchive(b: Uint8Array): ArchiveKind | undefined {
  if (isZip(b)) return "zip";
  if (isGzip(b)) return "gzip";
  if (isBzip2(b)) return "bzip2";
  if (isXz(b)) return "xz";
  if (isTar(b)) return "tar";
  if (isOle2(b)) return "ole2";
  if (isPdf(b)) return "pdf";
  if (isRtf(b)) return "rtf";
  return undefined;
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
    case "ole2":
      return readOle2(b, cap);
    case "pdf":
      return readPdf(b, cap);
    case "rtf":
      return readRtf(b, cap);
  }
}
