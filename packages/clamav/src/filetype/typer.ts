/**
 * The ClamAV file type of a buffer, decided as libclamav decides it for a file it scans, so
 * that `.ndb`/`.ldb` target types select the same files as in clamscan:
 *
 * 1. type-0 magic (bytes at an offset) on the first 1024 bytes, the last loaded entry first;
 *    no match: ASCII text, UTF-8 text or binary data by the characters of those bytes;
 * 2. for text and binary data, the type-1 entries (`.ndb`-syntax body patterns, each retyping
 *    content typed `rtype`) run over the same 1024 bytes: in the order their matches end, an
 *    entry whose type ranks above the type found so far (or is an SFX type or MS-EXE) takes
 *    over; `CL_TYPE_IGNORED` wins outright; SFX types found this way do not retype the file.
 *
 * The entries are ClamAV's built-in table (./builtin.ts) unless the databases bring type-0
 * entries of their own: then, as libclamav, only the databases' entries are used. Type-1
 * entries from databases are added to the built-in ones when the built-in table is used.
 *
 * Not done (no target type depends on them): the tar checksum test, the OOXML look inside ZIPs,
 * the MBR/GPT check, UTF-16 text and HTML written in UTF-16 or behind a byte-order mark.
 */

import { parseFtmLine, type FtmEntry } from "../formats/ftm.js";
import { FLEVEL } from "../signature/fields.js";
export { TARGET_TYPES, targetSelects } from "../signature/fields.js";
import { BodyDbBuilder, type BodyDb } from "../stores/bodydb/store.js";
import { BUILTIN_FTM } from "./builtin.js";

/** libclamav's file types in their numeric order (CL_TYPE_TEXT_ASCII is 500): the order decides which type-1 match wins. */
const TYPE_ORDER = [
  "CL_TYPE_TEXT_ASCII",
  "CL_TYPE_TEXT_UTF8",
  "CL_TYPE_TEXT_UTF16LE",
  "CL_TYPE_TEXT_UTF16BE",
  "CL_TYPE_BINARY_DATA",
  "CL_TYPE_ERROR",
  "CL_TYPE_MSEXE",
  "CL_TYPE_ELF",
  "CL_TYPE_MACHO",
  "CL_TYPE_MACHO_UNIBIN",
  "CL_TYPE_POSIX_TAR",
  "CL_TYPE_OLD_TAR",
  "CL_TYPE_CPIO_OLD",
  "CL_TYPE_CPIO_ODC",
  "CL_TYPE_CPIO_NEWC",
  "CL_TYPE_CPIO_CRC",
  "CL_TYPE_GZ",
  "CL_TYPE_ZIP",
  "CL_TYPE_BZ",
  "CL_TYPE_RAR",
  "CL_TYPE_ARJ",
  "CL_TYPE_MSSZDD",
  "CL_TYPE_MSOLE2",
  "CL_TYPE_MSCAB",
  "CL_TYPE_MSCHM",
  "CL_TYPE_SIS",
  "CL_TYPE_SCRENC",
  "CL_TYPE_GRAPHICS",
  "CL_TYPE_GIF",
  "CL_TYPE_PNG",
  "CL_TYPE_JPEG",
  "CL_TYPE_TIFF",
  "CL_TYPE_RIFF",
  "CL_TYPE_BINHEX",
  "CL_TYPE_TNEF",
  "CL_TYPE_CRYPTFF",
  "CL_TYPE_PDF",
  "CL_TYPE_UUENCODED",
  "CL_TYPE_SCRIPT",
  "CL_TYPE_HTML_UTF16",
  "CL_TYPE_RTF",
  "CL_TYPE_7Z",
  "CL_TYPE_SWF",
  "CL_TYPE_JAVA",
  "CL_TYPE_XAR",
  "CL_TYPE_XZ",
  "CL_TYPE_OOXML_WORD",
  "CL_TYPE_OOXML_PPT",
  "CL_TYPE_OOXML_XL",
  "CL_TYPE_INTERNAL",
  "CL_TYPE_HWP3",
  "CL_TYPE_OOXML_HWP",
  "CL_TYPE_PS",
  "CL_TYPE_EGG",
  "CL_TYPE_ONENOTE",
  "CL_TYPE_PYTHON_COMPILED",
  "CL_TYPE_LHA_LZH",
  "CL_TYPE_AI_MODEL",
  "CL_TYPE_ZSTD",
  "CL_TYPE_PART_ANY",
  "CL_TYPE_PART_HFSPLUS",
  "CL_TYPE_MBR",
  "CL_TYPE_HTML",
  "CL_TYPE_MAIL",
  "CL_TYPE_SFX",
  "CL_TYPE_ZIPSFX",
  "CL_TYPE_RARSFX",
  "CL_TYPE_7ZSFX",
  "CL_TYPE_CABSFX",
  "CL_TYPE_ARJSFX",
  "CL_TYPE_EGGSFX",
  "CL_TYPE_NULSFT",
  "CL_TYPE_AUTOIT",
  "CL_TYPE_ISHIELD_MSI",
  "CL_TYPE_ISO9660",
  "CL_TYPE_DMG",
  "CL_TYPE_GPT",
  "CL_TYPE_APM",
  "CL_TYPE_XDP",
  "CL_TYPE_XML_WORD",
  "CL_TYPE_XML_XL",
  "CL_TYPE_XML_HWP",
  "CL_TYPE_HWPOLE2",
  "CL_TYPE_MHTML",
  "CL_TYPE_LNK",
  "CL_TYPE_UDF",
  "CL_TYPE_ALZ",
  "CL_TYPE_OTHER",
  "CL_TYPE_IGNORED",
];
const RANK = new Map<string, number>([["CL_TYPE_ANY", 0], ...TYPE_ORDER.map((t, i) => [t, 500 + i] as const)]);
const rank = (t: string) => RANK.get(t) ?? -1;

/** The types a type-1 match found while typing never retypes the file to (left to the scan of embedded files). */
const SFX_KEPT = new Set([
  "CL_TYPE_ZIPSFX",
  "CL_TYPE_ARJSFX",
  "CL_TYPE_RARSFX",
  "CL_TYPE_EGGSFX",
  "CL_TYPE_CABSFX",
  "CL_TYPE_7ZSFX",
]);

/** How many leading bytes libclamav types a file by. */
export const MAGIC_BYTES = 1024;

// character classes of libclamav's text test: 0 never in text, 1 plain ASCII, 2 ISO-8859, 3 other extended ASCII
const TEXT_CLASS = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  TEXT_CLASS[c] =
    c >= 0x20 && c < 0x7f
      ? 1
      : c >= 0xa0
        ? 2
        : c >= 0x80
          ? c === 0x85
            ? 1
            : 3
          : [7, 8, 9, 10, 12, 13, 27].includes(c)
            ? 1
            : 0;
}

function textType(b: Uint8Array): string {
  let ascii = true;
  for (let i = 0; i < b.length; i++)
    if (TEXT_CLASS[b[i]!] === 0) {
      ascii = false;
      break;
    }
  if (ascii) return "CL_TYPE_TEXT_ASCII";
  // UTF-8: well-formed sequences, plain characters only, at least one multi-byte sequence
  let multi = false;
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if ((c & 0x80) === 0) {
      if (TEXT_CLASS[c] !== 1) return "CL_TYPE_BINARY_DATA";
      continue;
    }
    if ((c & 0x40) === 0) return "CL_TYPE_BINARY_DATA";
    let follow = 0;
    for (let bit = 0x20; c & bit && follow < 5; bit >>= 1) follow++;
    if (follow === 5 && c & 0x02) return "CL_TYPE_BINARY_DATA";
    follow += 1;
    for (let j = 0; j < follow; j++) {
      if (++i >= b.length) return multi ? "CL_TYPE_TEXT_UTF8" : "CL_TYPE_BINARY_DATA";
      if ((b[i]! & 0x80) === 0 || b[i]! & 0x40) return "CL_TYPE_BINARY_DATA";
    }
    multi = true;
  }
  return multi ? "CL_TYPE_TEXT_UTF8" : "CL_TYPE_BINARY_DATA";
}

interface Magic0 {
  offset: number;
  bytes: Uint8Array;
  type: string;
}

/** Decides ClamAV file types with a set of `.ftm` entries (see the file comment). */
export class FileTyper {
  private readonly magic: Magic0[];
  private readonly patterns: FtmEntry[];
  private readonly bodies: BodyDb | undefined;
  /** type-1 entries the native matcher cannot hold (they never retype anything). */
  readonly unsupported: FtmEntry[] = [];

  /** `entries`: the `.ftm` entries of the loaded databases, in load order. */
  constructor(entries: readonly FtmEntry[] = []) {
    const own0 = entries.some((e) => e.magicType === 0);
    const all: FtmEntry[] = [];
    if (!own0)
      for (const line of BUILTIN_FTM) {
        const e = parseFtmLine(line, FLEVEL);
        if (e) all.push(e);
      }
    all.push(...entries);
    // each type-0 entry is put in front of the ones before it: the last loaded is tried first
    this.magic = all
      .filter((e) => e.magicType === 0)
      .map((e) => ({ offset: +e.offset, bytes: Buffer.from(e.magic, "hex"), type: e.type }))
      .reverse();
    this.patterns = [];
    const builder = new BodyDbBuilder("");
    for (const e of all) {
      if (e.magicType !== 1) continue;
      const i = this.patterns.length;
      if (builder.add({ name: String(i), target: 0, offset: e.offset, hex: e.magic }, i, "ftm")) this.patterns.push(e);
      else this.unsupported.push(e);
    }
    this.bodies = this.patterns.length ? builder.finish() : undefined;
  }

  /** The ClamAV type name (`CL_TYPE_*`) of content starting with `bytes`. */
  typeOf(bytes: Uint8Array): string {
    const head = bytes.subarray(0, MAGIC_BYTES);
    let type: string | undefined;
    for (const m of this.magic) {
      if (m.offset + m.bytes.length > head.length) continue;
      let ok = true;
      for (let i = 0; i < m.bytes.length; i++)
        if (head[m.offset + i] !== m.bytes[i]) {
          ok = false;
          break;
        }
      if (ok) {
        type = m.type;
        break;
      }
    }
    type ??= textType(head);
    const r = rank(type);
    if (r < rank("CL_TYPE_TEXT_ASCII") || r > rank("CL_TYPE_BINARY_DATA") || !this.bodies) return type;
    const found = this.retype(head, type);
    return found !== undefined && !SFX_KEPT.has(found) ? found : type;
  }

  /** The type-1 scan of the head of content typed `ftype`: the type the entries settle on, if any. */
  private retype(head: Uint8Array, ftype: string): string | undefined {
    const bodies = this.bodies!;
    // the matches in the order a left-to-right scan completes them
    const hits: Array<{ end: number; e: FtmEntry }> = [];
    for (const m of bodies.scan(head)) {
      const e = this.patterns[m.ordinal]!;
      for (let k = 0; k < m.starts.length; k++) hits.push({ end: m.starts[k]! + m.lengths[k]!, e });
    }
    hits.sort((a, b) => a.end - b.end);
    let type = 0;
    let name: string | undefined;
    for (const { e } of hits) {
      if (e.rtype !== "CL_TYPE_ANY" && e.rtype !== ftype) continue;
      if (e.type === "CL_TYPE_IGNORED") return e.type;
      const r = rank(e.type);
      if (r > type || r >= rank("CL_TYPE_SFX") || e.type === "CL_TYPE_MSEXE") {
        type = r;
        name = e.type;
      }
    }
    return name;
  }
}

let builtin: FileTyper | undefined;

/** The typer with ClamAV's built-in table only (what clamscan uses when no database has `.ftm` entries). */
export function builtinTyper(): FileTyper {
  return (builtin ??= new FileTyper());
}

/** The entries as `.ftm` lines, one a line (what a scanner carries to its scan threads; "" for none). */
export function ftmLines(entries: readonly FtmEntry[]): string {
  return entries.map((e) => `${e.magicType}:${e.offset}:${e.magic}:${e.name}:${e.rtype}:${e.type}`).join("\n");
}

const byLines = new Map<string, FileTyper>();

/** The typer for the `.ftm` lines `ftmLines` gave (built once per distinct text; "" or undefined: built-in only). */
export function fileTyperFor(lines: string | undefined): FileTyper {
  if (!lines) return builtinTyper();
  let t = byLines.get(lines);
  if (!t) {
    const entries: FtmEntry[] = [];
    for (const line of lines.split("\n")) {
      const e = parseFtmLine(line, FLEVEL);
      if (e) entries.push(e);
    }
    t = new FileTyper(entries);
    if (byLines.size > 16) byLines.clear();
    byLines.set(lines, t);
  }
  return t;
}

/** Can the typer run this entry? (type 0 always; a type-1 pattern when the native body matcher holds its form.) */
export function ftmPatternSupported(e: FtmEntry): boolean {
  return (
    e.magicType !== 1 ||
    new BodyDbBuilder("").add({ name: "t", target: 0, offset: e.offset, hex: e.magic }, 0, "ftm") !== undefined
  );
}
