/**
 * The formats 7-Zip opens for the scanner: 7z (LZMA, LZMA2, PPMd, BCJ/BCJ2, ARM and other
 * filters, solid blocks), RAR 4 and 5, CAB (MSZIP, LZX, Quantum), ARJ, CHM, ISO 9660 and UDF
 * images, NSIS installers. Recognised by magic bytes (./sniff.ts), extracted by 7-Zip 24.09
 * compiled to WebAssembly (the `7z-wasm` package) in a worker thread (./engine.ts), which
 * bounds the output (the archive's OutputCap on all its members together), the time (a worker
 * that passes it is terminated) and the memory (7-Zip's heap dies with its worker).
 *
 * Every member 7-Zip lists is yielded: with its bytes when extracted; with a `problem` when it
 * is encrypted, damaged (the bytes that decoded are kept), past the cap, or not reached because
 * extraction stopped. A container 7-Zip cannot open, or whose headers are encrypted, yields one
 * nameless member with the problem, so it is reported on the container itself, never as clean.
 */
import { cleanName, overLimit, type Member, type OutputCap } from "../types.js";
import { runSevenZip, SevenZipFailure, type SevenZipReply } from "./engine.js";
import { HANDLER, type SevenZipKind } from "./sniff.js";

export { sniffSevenZip, type SevenZipKind } from "./sniff.js";
export { setSevenZipTimeout } from "./engine.js";

interface Entry {
  path: string;
  size?: number;
  packed?: number;
  encrypted: boolean;
  folder: boolean;
  method?: string;
}

/** Parses `7z l -slt` output: the archive block, then one block per entry after "----------". */
export function parseListing(lines: string[]): { entries: Entry[]; opened: boolean } {
  const entries: Entry[] = [];
  const start = lines.indexOf("----------");
  if (start < 0) return { entries, opened: false };
  let cur: Map<string, string> | undefined;
  const flush = () => {
    const e = cur;
    if (!e?.has("Path")) return;
    const num = (k: string) => {
      const v = e.get(k);
      return v && /^\d+$/.test(v) ? Number(v) : undefined;
    };
    entries.push({
      path: e.get("Path")!,
      size: num("Size"),
      packed: num("Packed Size"),
      encrypted: e.get("Encrypted") === "+",
      folder: e.get("Folder") === "+" || /^D/.test(e.get("Attributes") ?? ""),
      method: e.get("Method") || undefined,
    });
  };
  for (const line of lines.slice(start + 1)) {
    if (line === "") {
      flush();
      cur = undefined;
      continue;
    }
    const eq = line.indexOf(" = ");
    if (eq < 0) continue;
    cur ??= new Map();
    cur.set(line.slice(0, eq), line.slice(eq + 3));
  }
  flush();
  return { entries, opened: true };
}

/** 7z archives whose header is itself encrypted (7zAES coder 06 F1 07 01 in the encoded header). */
function encryptedHeader(b: Uint8Array): boolean {
  if (b.length < 32) return false;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const off = 32 + Number(dv.getBigUint64(12, true));
  const size = Number(dv.getBigUint64(20, true));
  if (off >= b.length || b[off] !== 0x17) return false;
  const end = Math.min(b.length, off + size);
  for (let i = off; i + 4 <= end; i++)
    if (b[i] === 0x06 && b[i + 1] === 0xf1 && b[i + 2] === 0x07 && b[i + 3] === 0x01) return true;
  return false;
}

/**
 * 7-Zip's error lines: per-file ones ("ERROR: Data Error : name" for a listed name), and the
 * archive's ("Open ERROR: ...", the lines under "ERRORS:", any other "ERROR: ...").
 */
function errorLines(lines: string[], listed: Set<string>): { archive: string[]; files: Map<string, string> } {
  const archive: string[] = [];
  const files = new Map<string, string>();
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!.trim();
    if (l === "ERROR: /in : /in" || l === "ERROR: /in" || l === "/in") continue;
    const m = /^ERROR: (.+?) : (.+)$/.exec(l);
    if (m && listed.has(m[2]!)) files.set(m[2]!, m[1]!);
    else if (l.startsWith("Open ERROR: ")) archive.push(l.slice(12));
    else if (l.startsWith("ERROR: ")) archive.push(l.slice(7));
    else if (l === "ERRORS:")
      for (i++; i < lines.length && !/^$|^WARNINGS:$| = /.test(lines[i]!.trim()); i++) archive.push(lines[i]!.trim());
    else if (l.startsWith("THROWN: ")) archive.push("7-Zip stopped with an internal error");
  }
  return { archive: [...new Set(archive)], files };
}

function problemOf(reason: string): Member["problem"] & object {
  if (/password|encrypt/i.test(reason))
    return { reason: "encrypted", message: `encrypted: ${reason}; not decrypted (no password is tried)` };
  if (/unsupported/i.test(reason)) return { reason: "unsupported", message: `7-Zip: ${reason}` };
  return { reason: "corrupt-archive", message: `damaged member: ${reason}` };
}

export function* readSevenZip(kind: SevenZipKind, b: Uint8Array, cap: OutputCap): Generator<Member> {
  const label = kind === "rar5" ? "RAR 5" : kind === "nsis" ? "NSIS installer" : kind.toUpperCase();
  if (kind === "7z" && encryptedHeader(b)) {
    yield {
      name: "",
      compressedSize: b.length,
      encrypted: true,
      problem: {
        reason: "encrypted",
        message: "7z archive with encrypted headers: its member list and contents cannot be read without the password",
      },
    };
    return;
  }
  const limit = cap(b.length);
  let reply: SevenZipReply;
  try {
    reply = runSevenZip(b, HANDLER[kind], limit);
  } catch (err) {
    if (!(err instanceof SevenZipFailure)) throw err;
    yield {
      name: "",
      compressedSize: b.length,
      problem: {
        reason: err.kind === "timeout" ? "max-scantime" : "corrupt-archive",
        message: `${label} not extracted: ${err.message}`,
      },
    };
    return;
  }
  // a clean extraction is not listed: its members are the files 7-Zip wrote
  const { entries, opened } = reply.list
    ? parseListing(reply.list)
    : { entries: reply.files.map((f): Entry => ({ path: f.path, encrypted: false, folder: false })), opened: true };
  const dirs = new Set(reply.dirs);
  const listed = new Set(entries.filter((e) => !e.folder && !dirs.has(e.path)).map((e) => e.path));
  const found = errorLines([...(reply.list ?? []), ...reply.log], listed);
  const perFile = found.files;
  // the write that passed the cap fails with errno 22 (EFBIG): that is the bomb, reported as one
  const errors = reply.over
    ? found.archive.filter((l) => !/errno=22|File too large|internal error/.test(l))
    : found.archive;
  const files = new Map(reply.files.map((f) => [f.path, f.data]));
  let stopped = false;
  for (const e of entries) {
    if (!listed.has(e.path)) continue;
    const name = cleanName(e.path);
    const compressedSize = e.packed ?? b.length;
    if (reply.over === e.path) {
      stopped = true;
      yield overLimit(name, compressedSize, limit);
      continue;
    }
    const data = files.get(e.path);
    const err = perFile.get(e.path);
    if (err || e.encrypted) {
      const problem = problemOf(err ?? "encrypted member");
      const keep = data && problem.reason !== "encrypted" ? { data } : {};
      yield { name, compressedSize, encrypted: e.encrypted, problem, ...keep };
      continue;
    }
    if (data) {
      yield { name, compressedSize, data };
      continue;
    }
    // after the member past the cap, 7-Zip stopped: that member's report covers the archive
    if (stopped) continue;
    yield {
      name,
      compressedSize,
      problem: {
        reason: "corrupt-archive",
        message: `7-Zip listed this member but did not extract it${errors.length ? ` (${errors.join("; ")})` : ""}`,
      },
    };
  }
  // files 7-Zip wrote under a name the listing does not have (names it sanitised)
  for (const [path, data] of files) {
    if (listed.has(path)) continue;
    if (reply.over === path) yield overLimit(cleanName(path), b.length, limit);
    else yield { name: cleanName(path), compressedSize: b.length, data };
  }
  if (!opened || errors.length)
    yield {
      name: "",
      compressedSize: b.length,
      problem: {
        reason: "corrupt-archive",
        message: opened
          ? `${label} archive is damaged: ${errors.join("; ")}`
          : `${label} archive could not be opened: ${errors.join("; ") || "7-Zip did not recognise it"}`,
      },
    };
}
