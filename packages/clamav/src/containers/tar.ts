/**
 * The tar inside a ClamAV database container, read and written as ClamAV's own tools do:
 * flat names (no `/`), regular files only (typeflag `0` or NUL), and an archive that may end at
 * the end of the data or at a block starting with NUL (freshclam writes no end-of-archive
 * blocks). The writer emits what freshclam's `.cld` builder emits: name, octal size and
 * checksum, everything else zero, no trailer.
 */
import { ClamavError } from "../error.js";

export interface ContainerFile {
  readonly name: string;
  readonly bytes: Uint8Array;
}

const BLOCK = 512;

function octal(bytes: Uint8Array, start: number, length: number): number | undefined {
  let value = 0;
  let seen = false;
  for (let i = start; i < start + length; i++) {
    const c = bytes[i]!;
    if (c === 0 || c === 0x20) {
      if (seen) break;
      continue;
    }
    if (c < 0x30 || c > 0x37) return undefined;
    value = value * 8 + (c - 0x30);
    seen = true;
  }
  return seen ? value : undefined;
}

/** Reads every file of a container's tar; `path` names the container in errors. */
export function readContainerTar(tar: Uint8Array, path: string): ContainerFile[] {
  const files: ContainerFile[] = [];
  const names = new Set<string>();
  let pos = 0;
  while (pos + BLOCK <= tar.length && tar[pos] !== 0) {
    const header = tar.subarray(pos, pos + BLOCK);
    const nameEnd = header.indexOf(0);
    const name = Buffer.from(header.subarray(0, nameEnd < 0 || nameEnd > 100 ? 100 : nameEnd)).toString("latin1");
    const size = octal(header, 124, 12);
    const type = header[156]!;
    if (size === undefined) {
      throw new ClamavError("CVD_BAD_ARCHIVE", `entry '${name}' at offset ${pos + 512} has no valid size`, { path });
    }
    if (name.includes("/") || name === "" || name === "." || name === "..") {
      throw new ClamavError("CVD_BAD_ARCHIVE", `entry name '${name}' is not a plain file name`, { path });
    }
    if (type !== 0x30 && type !== 0) {
      throw new ClamavError(
        "CVD_BAD_ARCHIVE",
        `entry '${name}' is not a regular file (type '${String.fromCharCode(type)}')`,
        { path },
      );
    }
    const start = pos + BLOCK;
    if (start + size > tar.length) {
      throw new ClamavError(
        "CVD_BAD_ARCHIVE",
        `entry '${name}' is truncated (${size} bytes declared, ${tar.length - start} present)`,
        { path },
      );
    }
    if (names.has(name)) {
      throw new ClamavError("CVD_BAD_ARCHIVE", `entry '${name}' appears twice`, { path });
    }
    names.add(name);
    files.push({ name, bytes: tar.subarray(start, start + size) });
    pos = start + Math.ceil(size / BLOCK) * BLOCK;
  }
  return files;
}

/** Writes files as freshclam's `.cld` builder does (no end-of-archive blocks). */
export function writeContainerTar(files: readonly ContainerFile[]): Uint8Array {
  let total = 0;
  for (const f of files) total += BLOCK + Math.ceil(f.bytes.length / BLOCK) * BLOCK;
  const out = new Uint8Array(total);
  let pos = 0;
  for (const f of files) {
    const header = out.subarray(pos, pos + BLOCK);
    header.set(Buffer.from(f.name, "latin1").subarray(0, 100), 0);
    header.set(Buffer.from(f.bytes.length.toString(8), "latin1"), 124);
    header.fill(0x20, 148, 156); // checksum field counts as spaces while summing
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += header[i]!;
    header.fill(0, 148, 156);
    header.set(Buffer.from(sum.toString(8).padStart(6, "0"), "latin1"), 148);
    out.set(f.bytes, pos + BLOCK);
    pos += BLOCK + Math.ceil(f.bytes.length / BLOCK) * BLOCK;
  }
  return out;
}
