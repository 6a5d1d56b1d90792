/**
 * A cpio reader written from the format's description (cpio(5) of libarchive, GNU cpio's
 * manual): the portable ASCII forms "odc" (070707, octal fields, 76-byte header), "newc"
 * (070701) and "crc" (070702) (hex fields, 110-byte header, name and data padded to 4 bytes),
 * and the old binary form (the 16-bit magic 070707 in either byte order, 26-byte header, name
 * and data padded to 2 bytes). Regular files are yielded as views into the archive (no copies);
 * the walk ends at "TRAILER!!!". A header that does not parse, or data cut by the end of the
 * file, gives a `problem` beside what is there.
 */
import { damaged } from "../gzip.js";
import { cleanName, type Member } from "../types.js";

type Form = "odc" | "newc" | "bin-le" | "bin-be";

function formAt(b: Uint8Array, p: number): Form | undefined {
  if (
    p + 6 <= b.length &&
    b[p] === 0x30 &&
    b[p + 1] === 0x37 &&
    b[p + 2] === 0x30 &&
    b[p + 3] === 0x37 &&
    b[p + 4] === 0x30
  ) {
    const c = b[p + 5];
    if (c === 0x37) return "odc";
    if (c === 0x31 || c === 0x32) return "newc";
  }
  if (p + 26 <= b.length) {
    if (b[p] === 0xc7 && b[p + 1] === 0x71) return "bin-le";
    if (b[p] === 0x71 && b[p + 1] === 0xc7) return "bin-be";
  }
  return undefined;
}

/** Sniff: an ASCII magic at the start, or a binary header whose name size and name end are plausible. */
export function isCpio(b: Uint8Array): boolean {
  const form = formAt(b, 0);
  if (!form) return false;
  if (form === "odc" || form === "newc") return true; // six ASCII digits: the reader reports any damage
  const h = header(b, 0, form);
  return h !== undefined && h.namesize >= 1 && h.namesize <= 4096 && b[h.nameAt + h.namesize - 1] === 0;
}

interface Header {
  mode: number;
  namesize: number;
  filesize: number;
  nameAt: number;
  /** Padding after the header+name, and after the data. */
  align: number;
}

function num(b: Uint8Array, at: number, len: number, radix: 8 | 16): number {
  let n = 0;
  for (let i = at; i < at + len; i++) {
    const c = b[i]!;
    const d =
      c >= 0x30 && c <= 0x39
        ? c - 0x30
        : radix === 16 && (c | 0x20) >= 0x61 && (c | 0x20) <= 0x66
          ? (c | 0x20) - 0x57
          : -1;
    if (d < 0 || d >= radix) return NaN;
    n = n * radix + d;
  }
  return n;
}

function header(b: Uint8Array, p: number, form: Form): Header | undefined {
  if (form === "odc") {
    if (p + 76 > b.length) return undefined;
    const mode = num(b, p + 18, 6, 8);
    const namesize = num(b, p + 59, 6, 8);
    const filesize = num(b, p + 65, 11, 8);
    if ([mode, namesize, filesize].some(Number.isNaN)) return undefined;
    return { mode, namesize, filesize, nameAt: p + 76, align: 1 };
  }
  if (form === "newc") {
    if (p + 110 > b.length) return undefined;
    const mode = num(b, p + 14, 8, 16);
    const filesize = num(b, p + 54, 8, 16);
    const namesize = num(b, p + 94, 8, 16);
    if ([mode, namesize, filesize].some(Number.isNaN)) return undefined;
    return { mode, namesize, filesize, nameAt: p + 110, align: 4 };
  }
  if (p + 26 > b.length) return undefined;
  const w = (i: number) => (form === "bin-le" ? b[p + i]! | (b[p + i + 1]! << 8) : (b[p + i]! << 8) | b[p + i + 1]!);
  // 32-bit fields are two 16-bit words, the most significant first
  return { mode: w(6), namesize: w(20), filesize: w(22) * 0x10000 + w(24), nameAt: p + 26, align: 2 };
}

const pad = (n: number, align: number) => (align === 1 ? n : Math.ceil(n / align) * align);

export function* readCpio(b: Uint8Array): Generator<Member> {
  let p = 0;
  let index = 0;
  while (p < b.length) {
    const form = formAt(b, p);
    const h = form && header(b, p, form);
    if (!h) {
      const rest = b.subarray(p);
      if (rest.every((x) => x === 0)) return; // block padding after the trailer
      yield {
        name: "",
        compressedSize: b.length - p,
        problem: {
          reason: "corrupt-archive",
          message: `cpio header ${index + 1} at offset ${p} ${form ? "cut short or not readable" : "missing (no cpio magic)"}; the rest of the archive was not scanned`,
        },
      };
      return;
    }
    index++;
    const nameEnd = h.nameAt + h.namesize;
    if (h.namesize < 1 || nameEnd > b.length) {
      yield {
        name: "",
        compressedSize: b.length - p,
        problem: {
          reason: "corrupt-archive",
          message: `cpio header ${index} at offset ${p}: name of ${h.namesize} bytes runs past the end of the archive`,
        },
      };
      return;
    }
    let rawName = Buffer.from(b.buffer, b.byteOffset + h.nameAt, h.namesize - 1).toString("utf8");
    const zero = rawName.indexOf("\0");
    if (zero >= 0) rawName = rawName.slice(0, zero);
    if (rawName === "TRAILER!!!") return;
    const dataAt =
      form === "newc" ? p + pad(110 + h.namesize, 4) : form === "odc" ? nameEnd : p + 26 + pad(h.namesize, 2);
    const name = cleanName(rawName.replace(/^(\.\/)+/, ""));
    const regular = (h.mode & 0o170000) === 0o100000;
    const end = dataAt + h.filesize;
    if (end > b.length) {
      const there = b.subarray(Math.min(dataAt, b.length));
      if (regular)
        yield damaged(
          name,
          h.filesize,
          there,
          `cpio member data runs past the end of the archive (truncated: ${there.length} of ${h.filesize} bytes)`,
        );
      else
        yield {
          name,
          compressedSize: h.filesize,
          problem: { reason: "corrupt-archive", message: "cpio archive truncated inside this entry" },
        };
      return;
    }
    if (regular) yield { name, compressedSize: h.filesize, data: b.subarray(dataAt, end) };
    p = form === "odc" ? end : dataAt + pad(h.filesize, h.align);
  }
  yield {
    name: "",
    compressedSize: 0,
    problem: { reason: "corrupt-archive", message: "cpio archive ends without its TRAILER!!! entry (truncated?)" },
  };
}
