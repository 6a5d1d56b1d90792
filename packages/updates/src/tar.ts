/**
 * A deterministic ustar writer and a strict reader, enough for rule bundles: regular files only,
 * fixed mode, owner and mtime, names sorted by the caller. Same inputs, same bytes. The reader
 * refuses anything else (links, devices, long names, bad checksums, truncation, oversized entries).
 */
import { UpdateError } from "./error.js";

const BLOCK = 512;

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, "0") + "\0";
}

function header(name: string, size: number): Uint8Array {
  const h = new Uint8Array(BLOCK);
  const enc = new TextEncoder();
  const put = (s: string, off: number) => h.set(enc.encode(s), off);
  const nameBytes = enc.encode(name);
  if (nameBytes.length > 100)
    throw new UpdateError("BAD_BUNDLE", `file name too long for the bundle archive (max 100 bytes): ${name}`);
  h.set(nameBytes, 0);
  put(octal(0o644, 8), 100);
  put(octal(0, 8), 108);
  put(octal(0, 8), 116);
  put(octal(size, 12), 124);
  put(octal(0, 12), 136);
  put("        ", 148);
  h[156] = 0x30; // '0' regular file
  put("ustar\0", 257);
  put("00", 263);
  let sum = 0;
  for (const b of h) sum += b;
  put(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  return h;
}

export interface TarFile {
  readonly name: string;
  readonly data: Uint8Array;
}

export function writeTar(files: readonly TarFile[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const f of files) {
    parts.push(header(f.name, f.data.length), f.data);
    const pad = (BLOCK - (f.data.length % BLOCK)) % BLOCK;
    if (pad) parts.push(new Uint8Array(pad));
  }
  parts.push(new Uint8Array(BLOCK * 2));
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function readOctal(h: Uint8Array, off: number, len: number): number {
  const s = new TextDecoder()
    .decode(h.subarray(off, off + len))
    .replace(/[\0 ]+$/, "")
    .replace(/^ +/, "");
  if (!/^[0-7]*$/.test(s)) throw new UpdateError("BAD_BUNDLE", "bundle archive: a numeric header field is not octal");
  return s === "" ? 0 : parseInt(s, 8);
}

export function readTar(bytes: Uint8Array, limits: { maxFiles?: number; maxTotal?: number } = {}): TarFile[] {
  const maxFiles = limits.maxFiles ?? 10_000;
  const maxTotal = limits.maxTotal ?? 256 * 1024 * 1024;
  const out: TarFile[] = [];
  let off = 0;
  let total = 0;
  for (;;) {
    if (off + BLOCK > bytes.length)
      throw new UpdateError("BAD_BUNDLE", "bundle archive is truncated (no end-of-archive marker)");
    const h = bytes.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) break;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    if (readOctal(h, 148, 8) !== sum)
      throw new UpdateError("BAD_BUNDLE", `bundle archive: bad header checksum at offset ${off}`);
    if (h[156] !== 0x30 && h[156] !== 0)
      throw new UpdateError("BAD_BUNDLE", "bundle archive: only regular files are allowed");
    const nameEnd = h.subarray(0, 100).indexOf(0);
    const name = new TextDecoder("utf-8", { fatal: true }).decode(h.subarray(0, nameEnd < 0 ? 100 : nameEnd));
    if (h[345] !== 0) throw new UpdateError("BAD_BUNDLE", "bundle archive: prefixed (long) names are not allowed");
    const size = readOctal(h, 124, 12);
    off += BLOCK;
    if (off + size > bytes.length) throw new UpdateError("BAD_BUNDLE", `bundle archive is truncated in ${name}`);
    total += size;
    if (total > maxTotal) throw new UpdateError("TOO_LARGE", `bundle archive holds more than ${maxTotal} bytes`);
    if (out.length >= maxFiles) throw new UpdateError("TOO_LARGE", `bundle archive holds more than ${maxFiles} files`);
    out.push({ name, data: bytes.slice(off, off + size) });
    off += Math.ceil(size / BLOCK) * BLOCK;
  }
  return out;
}
