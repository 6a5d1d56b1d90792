/**
 * A tar reader written from POSIX ustar and pax (IEEE 1003.1-2008 "pax Interchange Format"),
 * with GNU long names: it yields regular files as views into the archive (no copies).
 * Headers are checksum-verified. Damage is handled as GNU tar extracts: a header with a bad
 * checksum is reported and the walk resumes at the next valid header; a member cut short by
 * the end of the archive yields the bytes that are there, with a problem beside them.
 */
import { cleanName, type Member } from "./types.js";

function field(b: Uint8Array, at: number, len: number): string {
  let end = at;
  while (end < at + len && b[end] !== 0) end++;
  return Buffer.from(b.buffer, b.byteOffset + at, end - at).toString("utf8");
}

function octal(b: Uint8Array, at: number, len: number): number {
  if (b[at]! & 0x80) {
    // base-256 (GNU/star) for sizes over 8 GiB
    let n = 0;
    for (let i = at + 1; i < at + len; i++) n = n * 256 + b[i]!;
    return n;
  }
  const s = field(b, at, len).trim();
  if (!/^[0-7]*$/.test(s)) return NaN;
  return s ? parseInt(s, 8) : 0;
}

function checksumOk(b: Uint8Array, at: number): boolean {
  const stored = octal(b, at + 148, 8);
  if (Number.isNaN(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : b[at + i]!;
  return sum === stored;
}

export function isTar(b: Uint8Array): boolean {
  return b.length >= 512 && !allZero(b, 0) && checksumOk(b, 0);
}

function paxRecords(data: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("utf8");
  let p = 0;
  while (p < text.length) {
    const sp = text.indexOf(" ", p);
    if (sp < 0) break;
    const len = parseInt(text.slice(p, sp), 10);
    if (!(len > 0) || p + len > text.length) break;
    const rec = text.slice(sp + 1, p + len - 1);
    const eq = rec.indexOf("=");
    if (eq > 0) out.set(rec.slice(0, eq), rec.slice(eq + 1));
    p += len;
  }
  return out;
}

export function* readTar(b: Uint8Array): Generator<Member> {
  let p = 0;
  let pax: Map<string, string> | undefined;
  let longName: string | undefined;
  while (p + 512 <= b.length) {
    if (allZero(b, p)) return;
    if (!checksumOk(b, p)) {
      const at = p;
      do p += 512;
      while (p + 512 <= b.length && !(checksumOk(b, p) && !allZero(b, p)));
      const resumed = p + 512 <= b.length;
      yield {
        name: "",
        compressedSize: 0,
        problem: {
          reason: "corrupt-archive",
          message: `bad tar header checksum at offset ${at}; ${resumed ? `skipped to the next valid header at offset ${p}` : "no valid header after it"}`,
        },
      };
      pax = undefined;
      longName = undefined;
      continue;
    }
    const type = String.fromCharCode(b[p + 156]!);
    let size = octal(b, p + 124, 12);
    let name = field(b, p, 100);
    if (field(b, p + 257, 5) === "ustar") {
      const prefix = field(b, p + 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    if (pax?.has("path")) name = pax.get("path")!;
    if (pax?.has("size")) size = Number(pax.get("size"));
    if (longName !== undefined) name = longName;
    if (!Number.isFinite(size) || size < 0) {
      yield {
        name: cleanName(name),
        compressedSize: 0,
        problem: { reason: "corrupt-archive", message: `bad size in tar header at offset ${p}` },
      };
      return;
    }
    const start = p + 512;
    const end = start + size;
    if (end > b.length) {
      // what `tar x` writes for a cut archive: the bytes that are there
      const have = b.length - start;
      const problem = {
        reason: "corrupt-archive" as const,
        message: `tar member runs past the end of the archive (truncated: ${have} of ${size} bytes)${have > 0 && isFile(type) ? "; the bytes present were scanned" : ""}`,
      };
      yield have > 0 && isFile(type)
        ? { name: cleanName(name), compressedSize: size, data: b.subarray(start), problem }
        : { name: cleanName(name), compressedSize: size, problem };
      return;
    }
    const data = b.subarray(start, end);
    p = start + Math.ceil(size / 512) * 512;
    if (type === "x") {
      pax = paxRecords(data);
      continue;
    }
    if (type === "g") continue;
    if (type === "L") {
      longName = field(data, 0, data.length);
      continue;
    }
    pax = undefined;
    longName = undefined;
    if (isFile(type)) yield { name: cleanName(name), compressedSize: size, data };
  }
  if (p < b.length && !allZero(b, p, b.length - p)) {
    yield {
      name: "",
      compressedSize: 0,
      problem: { reason: "corrupt-archive", message: `tar archive ends inside a header at offset ${p} (truncated)` },
    };
  }
}

function isFile(type: string): boolean {
  return type === "0" || type === "\0" || type === "7";
}

function allZero(b: Uint8Array, at: number, len = 512): boolean {
  for (let i = at; i < at + len; i++) if (b[i] !== 0) return false;
  return true;
}
