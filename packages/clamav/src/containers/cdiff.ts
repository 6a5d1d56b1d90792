/**
 * `.cdiff` incremental updates: `ClamAV-Diff:<version>:<script length>:` + one gzip member
 * holding a script + `:` + a dsig (RSASSA-PSS/SHA-256 over every byte before that last colon).
 * The script edits the unpacked database line by line:
 *   OPEN <db> | ADD <text> | DEL <n> <prefix> | XCHG <n> <prefix> <text> | CLOSE
 *   | MOVE <src> <dst> <a> <aPrefix> <b> <bPrefix> | UNLINK <db>
 * Line numbers are 1-based in the file as it was at OPEN; a DEL/XCHG line must start with its
 * prefix; ADDs are appended at CLOSE after the edits. Any error aborts the whole patch: the
 * caller keeps the database it had.
 */
import { ClamavError } from "../error.js";
import { gunzipMember } from "./cvd.js";
import { CLAMAV_KEYS, verifyPss, type TrustedKeys } from "./dsig.js";
import type { ContainerFile } from "./tar.js";

export interface ParsedCdiff {
  /** the database version the patch produces */
  readonly version: number;
  readonly script: string;
}

export interface CdiffOptions {
  readonly path: string;
  readonly keys?: TrustedKeys;
  /** the largest script accepted (default 256 MiB) */
  readonly maxScriptBytes?: number;
}

/** Checks a `.cdiff`'s form and signature and returns its script. */
export function readCdiff(bytes: Uint8Array, options: CdiffOptions): ParsedCdiff {
  const { path } = options;
  const fail = (message: string): never => {
    throw new ClamavError("CDIFF_BAD_FORMAT", message, { path });
  };
  if (Buffer.from(bytes.subarray(0, 11)).toString("latin1") !== "ClamAV-Diff")
    fail("not a .cdiff: it does not start with 'ClamAV-Diff'");
  let headerEnd = -1;
  for (let i = 0, colons = 0; i < Math.min(bytes.length, 64); i++) {
    if (bytes[i] === 0x3a && ++colons === 3) {
      headerEnd = i + 1;
      break;
    }
  }
  if (headerEnd < 0) fail("the header is not 'ClamAV-Diff:version:size:'");
  const fields = Buffer.from(bytes.subarray(0, headerEnd)).toString("latin1").split(":");
  if (!/^\d{1,9}$/.test(fields[1]!)) fail(`the header's version '${fields[1]}' is not a number`);
  const version = Number(fields[1]);
  if (bytes.length < 350) fail(`a .cdiff is at least 350 bytes; this one has ${bytes.length}`);
  const sigEnd = bytes.lastIndexOf(0x3a);
  const dsig = Buffer.from(bytes.subarray(sigEnd + 1)).toString("latin1");
  if (sigEnd < headerEnd || dsig.length === 0 || dsig.length > 350) fail("no digital signature after the last ':'");
  if (!verifyPss(dsig, bytes.subarray(0, sigEnd), (options.keys ?? CLAMAV_KEYS).cdiff)) {
    throw new ClamavError(
      "CVD_BAD_SIGNATURE",
      "the .cdiff's digital signature does not verify with ClamAV's key: refused",
      { path },
    );
  }
  const script = gunzipMember(bytes.subarray(headerEnd, sigEnd), path, options.maxScriptBytes ?? 256 * 2 ** 20);
  return { version, script: Buffer.from(script).toString("latin1") };
}

const DB_NAME = /^[A-Za-z0-9._]+$/;

interface OpenFile {
  readonly name: string;
  readonly scriptLine: number;
  /** DEL (undefined text) or XCHG edits, by 1-based line number */
  readonly edits: Map<number, { prefix: string; text: string | undefined }>;
  readonly adds: string[];
}

/** Byte offset of the start of each line wanted (1-based line numbers, ascending), found by one scan. */
function lineStarts(bytes: Uint8Array, wanted: readonly number[]): Map<number, number> {
  const at = new Map<number, number>();
  let line = 1;
  let pos = 0;
  for (const n of wanted) {
    while (line < n && pos < bytes.length) {
      const nl = bytes.indexOf(0x0a, pos);
      if (nl < 0) {
        pos = bytes.length;
        break;
      }
      pos = nl + 1;
      line++;
    }
    if (line === n && pos < bytes.length) at.set(n, pos);
  }
  return at;
}

/** End (exclusive, after its newline) of the line starting at `start`. */
function lineEnd(bytes: Uint8Array, start: number): number {
  const nl = bytes.indexOf(0x0a, start);
  return nl < 0 ? bytes.length : nl + 1;
}

const startsWith = (bytes: Uint8Array, at: number, prefix: string): boolean => {
  const p = Buffer.from(prefix, "latin1");
  if (at + p.length > bytes.length) return false;
  for (let i = 0; i < p.length; i++) if (bytes[at + i] !== p[i]) return false;
  return true;
};

const linesOf = (texts: readonly string[]): Buffer => Buffer.from(texts.map((t) => `${t}\n`).join(""), "latin1");

/**
 * Applies a script to a set of files (name -> bytes) and returns the new set; the input is not
 * changed. Throws CDIFF_APPLY_FAILED with the script line on the first error.
 */
export function applyCdiffScript(
  files: ReadonlyMap<string, Uint8Array>,
  script: string,
  path: string,
): Map<string, Uint8Array> {
  const out = new Map(files);
  let open: OpenFile | undefined;
  const lines = script.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  const fail = (lineNo: number, message: string): never => {
    throw new ClamavError("CDIFF_APPLY_FAILED", `script line ${lineNo}: ${message}`, { path });
  };
  const name = (lineNo: number, s: string | undefined) => {
    if (s === undefined || !DB_NAME.test(s)) fail(lineNo, `'${s ?? ""}' is not a database file name`);
    return s!;
  };
  const lineNumber = (lineNo: number, s: string | undefined) => {
    if (s === undefined || !/^[1-9]\d{0,9}$/.test(s)) fail(lineNo, `'${s ?? ""}' is not a line number`);
    return Number(s);
  };
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i]!;
    if (line.startsWith("#")) continue;
    if (line === "") fail(lineNo, "empty line");
    if (line.endsWith("\r")) fail(lineNo, "carriage return at the end of the line");
    const space = line.indexOf(" ");
    const command = space < 0 ? line : line.slice(0, space);
    const rest = space < 0 ? "" : line.slice(space + 1);
    const args = rest === "" ? [] : rest.split(" ");
    switch (command) {
      case "OPEN":
        if (open) fail(lineNo, `OPEN while ${open.name} is open`);
        open = { name: name(lineNo, args[0]), scriptLine: lineNo, edits: new Map(), adds: [] };
        break;
      case "ADD":
        if (!open) fail(lineNo, "ADD with no file open");
        open!.adds.push(rest);
        break;
      case "DEL":
      case "XCHG": {
        if (!open) fail(lineNo, `${command} with no file open`);
        const n = lineNumber(lineNo, args[0]);
        const prefix = args[1];
        if (prefix === undefined || prefix === "") fail(lineNo, `${command} without a prefix`);
        let text: string | undefined;
        if (command === "XCHG") {
          const at = rest.indexOf(" ", rest.indexOf(" ") + 1);
          if (at < 0) fail(lineNo, "XCHG without new text");
          text = rest.slice(at + 1);
        }
        open!.edits.set(n, { prefix: prefix!, text });
        break;
      }
      case "CLOSE": {
        if (!open) fail(lineNo, "CLOSE with no file open");
        const f = open!;
        open = undefined;
        const current = out.get(f.name);
        if (current === undefined && f.edits.size > 0) fail(lineNo, `${f.name} does not exist`);
        // the new file is built from slices of the old one (no copy of unedited lines, no
        // string per line): memory is the old file, the new file and the script's edits
        const adds = linesOf(f.adds);
        if (f.edits.size === 0) {
          out.set(f.name, current ? Buffer.concat([current, adds]) : adds);
          break;
        }
        const old = current!;
        if (old.length > 0 && old[old.length - 1] !== 0x0a) fail(lineNo, `${f.name} has no final newline`);
        const numbers = [...f.edits.keys()].sort((a, b) => a - b);
        const starts = lineStarts(old, numbers);
        if (starts.size !== numbers.length)
          fail(lineNo, `${f.name}: not every edit was applied (a line past the end of the file)`);
        const parts: Uint8Array[] = [];
        let from = 0;
        for (const n of numbers) {
          const edit = f.edits.get(n)!;
          const at = starts.get(n)!;
          if (!startsWith(old, at, edit.prefix))
            fail(lineNo, `${f.name} line ${n} does not start with '${edit.prefix}'`);
          parts.push(old.subarray(from, at));
          if (edit.text !== undefined) parts.push(Buffer.from(`${edit.text}\n`, "latin1"));
          from = lineEnd(old, at);
        }
        parts.push(old.subarray(from), adds);
        out.set(f.name, Buffer.concat(parts));
        break;
      }
      case "MOVE": {
        if (open) fail(lineNo, `MOVE while ${open.name} is open`);
        if (args.length !== 6) fail(lineNo, "MOVE takes <src> <dst> <a> <aPrefix> <b> <bPrefix>");
        const src = name(lineNo, args[0]);
        const dst = name(lineNo, args[1]);
        const a = lineNumber(lineNo, args[2]);
        const b = lineNumber(lineNo, args[4]);
        const srcBytes = out.get(src);
        const dstBytes = out.get(dst);
        if (!srcBytes) fail(lineNo, `${src} does not exist`);
        if (!dstBytes) fail(lineNo, `${dst} does not exist`);
        const src0 = srcBytes!;
        if (b < a) fail(lineNo, `lines ${a}-${b} are not in ${src}`);
        const starts = lineStarts(src0, a === b ? [a] : [a, b]);
        const sa = starts.get(a);
        const sb = starts.get(b);
        if (sa === undefined || sb === undefined) fail(lineNo, `lines ${a}-${b} are not in ${src}`);
        if (!startsWith(src0, sa!, args[3]!) || !startsWith(src0, sb!, args[5]!)) {
          fail(lineNo, `${src} lines ${a}-${b} do not start with the given prefixes`);
        }
        const endB = lineEnd(src0, sb!);
        const moved = src0.subarray(sa!, endB);
        const movedNl = moved.length && moved[moved.length - 1] !== 0x0a ? Buffer.from("\n") : Buffer.alloc(0);
        out.set(src, Buffer.concat([src0.subarray(0, sa!), src0.subarray(endB)]));
        out.set(dst, Buffer.concat([dstBytes!, moved, movedNl]));
        break;
      }
      case "UNLINK": {
        if (open) fail(lineNo, `UNLINK while ${open.name} is open`);
        const target = name(lineNo, args[0]);
        if (!out.delete(target)) fail(lineNo, `${target} does not exist`);
        break;
      }
      default:
        fail(lineNo, `unknown command '${command}'`);
    }
  }
  // an OPEN never closed is dropped, as ClamAV does
  return out;
}

/** Applies verified `.cdiff` files in order to a container's files; each must raise the version by one. */
export function applyCdiffs(
  files: readonly ContainerFile[],
  fromVersion: number,
  cdiffs: readonly { path: string; bytes: Uint8Array }[],
  keys?: TrustedKeys,
): { files: ContainerFile[]; version: number } {
  let current = new Map(files.map((f) => [f.name, f.bytes] as const));
  let version = fromVersion;
  for (const diff of cdiffs) {
    const parsed = readCdiff(diff.bytes, { path: diff.path, ...(keys ? { keys } : {}) });
    if (parsed.version !== version + 1) {
      throw new ClamavError(
        "CDIFF_APPLY_FAILED",
        `this patch produces version ${parsed.version}, the database is at ${version}: apply them in order`,
        { path: diff.path },
      );
    }
    current = applyCdiffScript(current, parsed.script, diff.path);
    version = parsed.version;
  }
  return { files: [...current].map(([name, bytes]) => ({ name, bytes })), version };
}
