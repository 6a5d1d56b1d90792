/** Archive sniffing and dispatch: which reader opens these bytes. */
import { isBzip2, isGzip, readBzip2, readGzip, readXz } from "./gzip.js";
import { isXz } from "./xz.js";
import { isTar, readTar } from "./tar.js";
import { isZip, readZip } from "./zip.js";
import { isCpio, readCpio } from "./small/cpio.js";
import { isSzdd, readSzdd } from "./small/szdd.js";
import { isSis, readSis } from "./small/sis.js";
import type { ArchiveKind, Member, OutputCap } from "./types.js";

export type { ArchiveKind, Member, OutputCap } from "./types.js";

export function sniffArchive(b: Uint8Array): ArchiveKind | undefined {
  if (isZip(b)) return "zip";
  if (isGzip(b)) return "gzip";
  if (isBzip2(b)) return "bzip2";
  if (isXz(b)) return "xz";
  if (isTar(b)) return "tar";
  if (isCpio(b)) return "cpio";
  if (isSzdd(b)) return "szdd";
  if (isSis(b)) return "sis";
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
    case "cpio":
      return readCpio(b);
    case "szdd":
      return readSzdd(b, outerName, cap);
    case "sis":
      return readSis(b, cap);
  }
}
