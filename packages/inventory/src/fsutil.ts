/** Bounded file reading under a root directory: every source reads through these. */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { readdir, readlink, stat } from "node:fs/promises";
import { join } from "node:path";

/** Largest file any source reads whole (a dpkg status file of a big system is a few MB). */
export const MAX_FILE = 64 * 1024 * 1024;

/** Joins a root and an absolute path inside it ("/" + "/var/lib" = "/var/lib"). */
export function under(root: string, abs: string): string {
  return join(root, abs);
}

/** Reads at most `max` bytes of a file; undefined when it does not exist or is not a regular file. */
export async function readBytes(path: string, max = MAX_FILE): Promise<Buffer | undefined> {
  // synchronous reads: thousands of small files (dpkg .list, METADATA) go several times faster
  // than through the thread pool, and an inventory is a batch job
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    if (isMissing(e) || (e as NodeJS.ErrnoException).code === "EISDIR") return undefined;
    throw e;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return undefined;
    const size = Math.min(st.size, max);
    const buf = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const n = readSync(fd, buf, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    return got === size ? buf : buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

export async function readText(path: string, max = MAX_FILE): Promise<string | undefined> {
  const b = await readBytes(path, max);
  return b === undefined ? undefined : b.toString("utf8");
}

/** Directory entry names, sorted; [] when the directory does not exist. */
export async function list(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (e) {
    if (isMissing(e) || (e as NodeJS.ErrnoException).code === "ENOTDIR") return [];
    throw e;
  }
}

export async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

export async function linkTarget(path: string): Promise<string | undefined> {
  try {
    return await readlink(path);
  } catch {
    return undefined;
  }
}

export function isMissing(e: unknown): boolean {
  const c = (e as NodeJS.ErrnoException).code;
  return c === "ENOENT" || c === "ENOTDIR";
}

/**
 * RFC 822-style stanzas (dpkg status, Python METADATA headers): "Field: value" lines,
 * continuation lines starting with a space or tab, stanzas separated by blank lines.
 * Field names are kept as written; later duplicates are ignored.
 */
export function* stanzas(text: string): Generator<Map<string, string>> {
  let cur = new Map<string, string>();
  let last: string | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line.trim() === "") {
      if (cur.size) yield cur;
      cur = new Map();
      last = undefined;
      continue;
    }
    if ((line[0] === " " || line[0] === "\t") && last !== undefined) {
      cur.set(last, `${cur.get(last)}\n${line.slice(1)}`);
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) {
      last = undefined;
      continue;
    }
    const key = line.slice(0, colon);
    if (!cur.has(key)) {
      cur.set(key, line.slice(colon + 1).trim());
      last = key;
    } else {
      last = undefined;
    }
  }
  if (cur.size) yield cur;
}

/** "Jane Doe <jane@example.org>" -> "Jane Doe"; an address alone is kept. */
export function personName(s: string | undefined): string | undefined {
  if (s === undefined) return undefined;
  const t = s
    .replace(/<[^>]*>/g, "")
    .replace(/\s+/g, " ")
    .trim()
    .replace(/^"|"$/g, "");
  return t || s.trim() || undefined;
}
