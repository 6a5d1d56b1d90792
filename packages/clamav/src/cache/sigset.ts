/**
 * The compiled-signature cache file (`VIGIL-SIGSET-1`): a compiled signature set written once and
 * read back on the next start instead of compiling again (a ClamAV database of thousands of body
 * signatures compiles in seconds but loads in a tenth of that).
 *
 * Layout: the magic line `VIGIL-SIGSET-1\n`, a u32le header length, a JSON header
 * `{ key, ...fields, parts: [{ name, length }] }` (length -1 for an absent part), then the parts'
 * bytes end to end in header order. `key` names the inputs the set was built from (the caller
 * hashes them); a file whose key differs is stale. Files are written to a temporary name and
 * renamed, so a reader never sees half a file; the directory keeps the 8 most recent sets.
 * Parts are read straight into SharedArrayBuffers, so scan threads share the one copy.
 *
 * What the parts are is the caller's business (the scanner stores its compiled rules and the
 * serialised stores of ../stores/parts.ts).
 */

import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { ClamavError } from "../error.js";

const MAGIC = "VIGIL-SIGSET-1\n";
/** Compiled sets kept in a cache directory (the most recent). */
const KEEP = 8;
const FILE_RE = /^signatures-[0-9a-f]+\.bin$/;

/** The cache file for the inputs hashed as `key` (hex) in directory `dir`. */
export function sigsetPath(dir: string, key: string): string {
  return join(dir, `signatures-${key}.bin`);
}

/** A part of a set to write: its chunks are written one after another, never joined. */
export interface SigsetPart {
  name: string;
  chunks: Uint8Array[] | undefined;
}

/** A cached set found on disk: its file, its header fields, and where each present part lies. */
export interface SigsetLocation<F> {
  file: string;
  size: number;
  fields: F;
  parts: Array<{ name: string; offset: number; length: number }>;
}

/**
 * Writes a set (best effort: a cache that cannot be written, a full disk say, only costs time,
 * and no half-written file stays), then prunes the directory to the most recent sets.
 */
export function writeSigset(file: string, key: string, fields: object, parts: SigsetPart[]): void {
  const header = Buffer.from(
    JSON.stringify({
      key,
      ...fields,
      parts: parts.map((p) => ({ name: p.name, length: p.chunks ? p.chunks.reduce((n, x) => n + x.length, 0) : -1 })),
    }),
  );
  const len = Buffer.alloc(4);
  len.writeUInt32LE(header.length);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(file), { recursive: true });
    // chunk by chunk: joining them first would copy hundreds of MB once more
    const fd = openSync(tmp, "w", 0o644);
    try {
      for (const b of [Buffer.from(MAGIC), len, header, ...parts.flatMap((p) => p.chunks ?? [])]) {
        for (let done = 0; done < b.length; ) done += writeSync(fd, b, done, b.length - done);
      }
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    const dir = dirname(file);
    const old = readdirSync(dir)
      .filter((n) => FILE_RE.test(n))
      .map((n) => ({ n, t: statSync(join(dir, n)).mtimeMs }))
      .sort((a, b) => b.t - a.t)
      .slice(KEEP);
    for (const o of old) unlinkSync(join(dir, o.n));
  } catch {
    try {
      unlinkSync(tmp);
    } catch {
      /* not created */
    }
  }
}

/**
 * Reads only the header of a cached set: undefined when the file is missing, unreadable, not a
 * set, built from other inputs (`key`), or names a part outside `partNames` or past its end.
 */
export function locateSigset<F extends object>(
  file: string,
  key: string,
  partNames: readonly string[],
): SigsetLocation<F> | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, "r");
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(MAGIC.length + 4);
    if (readSync(fd, head, 0, head.length, 0) !== head.length || head.subarray(0, MAGIC.length).toString() !== MAGIC)
      return undefined;
    const hlen = head.readUInt32LE(MAGIC.length);
    if (hlen > 64 << 20 || MAGIC.length + 4 + hlen > size) return undefined;
    const hb = Buffer.alloc(hlen);
    if (readSync(fd, hb, 0, hlen, head.length) !== hlen) return undefined;
    const {
      key: k,
      parts: listed,
      ...fields
    } = JSON.parse(hb.toString()) as { key: string; parts: { name: string; length: number }[] };
    if (k !== key || !Array.isArray(listed)) return undefined;
    let at = head.length + hlen;
    const parts: SigsetLocation<F>["parts"] = [];
    for (const p of listed) {
      if (p.length < 0) continue;
      if (!partNames.includes(p.name) || at + p.length > size) return undefined;
      parts.push({ name: p.name, offset: at, length: p.length });
      at += p.length;
    }
    return { file, size, fields: fields as F, parts };
  } catch {
    return undefined; // missing, unreadable or not ours: rebuild
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Reads the parts of a located set straight into SharedArrayBuffers (one copy, shared by the scan
 * threads). Throws SIGDB_CACHE_CHANGED when the file changed size since it was located or ends
 * early, and the fs error when it cannot be opened.
 */
export function readSigsetParts(loc: SigsetLocation<unknown>): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  const fd = openSync(loc.file, "r");
  try {
    if (fstatSync(fd).size !== loc.size)
      throw new ClamavError("SIGDB_CACHE_CHANGED", "the compiled-signature cache changed while it was read", {
        path: loc.file,
      });
    for (const p of loc.parts) {
      const bytes = new Uint8Array(new SharedArrayBuffer(p.length));
      for (let done = 0; done < p.length; ) {
        const n = readSync(fd, bytes, done, Math.min(p.length - done, 16 << 20), p.offset + done);
        if (n <= 0)
          throw new ClamavError("SIGDB_CACHE_CHANGED", "the compiled-signature cache is truncated", { path: loc.file });
        done += n;
      }
      out[p.name] = bytes;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}
