/**
 * A coarse file type from the first bytes, for detection reports and for deciding which files
 * get reputation lookups or may be uploaded as samples: executables (pe, elf, macho, dex),
 * scripts (#!), archives, else text or data.
 */
import { closeSync, openSync, readSync, constants } from "node:fs";
import { fsPath, sniffArchive, type ArchiveKind } from "@vigil/scanner";

export type FileType = "pe" | "elf" | "macho" | "dex" | "script" | ArchiveKind | "text" | "data" | "empty";

const MACHO = new Set([0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe, 0xcafebabe, 0xbebafeca]);

export function sniffType(b: Uint8Array): FileType {
  if (b.length === 0) return "empty";
  if (b.length >= 2 && b[0] === 0x4d && b[1] === 0x5a) return "pe";
  if (b.length >= 4 && b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46) return "elf";
  if (b.length >= 4) {
    const magic = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
    // 0xcafebabe is also a Java class file; those carry a major version >= 45 in bytes 6..7
    if (MACHO.has(magic) && !(magic === 0xcafebabe && b.length >= 8 && ((b[6]! << 8) | b[7]!) >= 45)) return "macho";
  }
  if (b.length >= 8 && b[0] === 0x64 && b[1] === 0x65 && b[2] === 0x78 && b[3] === 0x0a) return "dex";
  if (b.length >= 2 && b[0] === 0x23 && b[1] === 0x21) return "script";
  const archive = sniffArchive(b);
  if (archive) return archive;
  let printable = 0;
  const n = Math.min(b.length, 512);
  for (let i = 0; i < n; i++) {
    const c = b[i]!;
    if (c === 9 || c === 10 || c === 13 || (c >= 32 && c < 127) || c >= 128) printable++;
  }
  return printable / n > 0.95 ? "text" : "data";
}

/** Sniffs a file on disk from its first 4 KiB (undefined when it cannot be read). */
export function sniffFile(path: string): FileType | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(fsPath(path), constants.O_RDONLY | constants.O_NONBLOCK);
    const buf = Buffer.alloc(4096);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return sniffType(buf.subarray(0, n));
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
