/**
 * InstallShield setups before MSI ("IScab"): the setup.exe carries its files in the PE's
 * overlay as a list of entries, each four NUL-terminated strings (file name, path, version, size
 * in decimal) followed by that many bytes. Each file is a member, except the cabinet set:
 * `data1.hdr` (magic "ISc(") holds the file table of the `dataN.cab` files, whose entries are
 * streams of chunks (a 16-bit length, then raw deflate) at an offset in cabinet N. Each file the
 * table marks as stored in a cabinet is inflated and yielded as `dataN.cab!name`; without a
 * usable table the cabinets themselves are yielded, marked not fully scanned. Facts from
 * ClamAV's `ishield.c` (`cli_scanishield`, `is_parse_hdr`, `is_extract_cab`) and `pe.c` (the
 * overlay starts after the section that ends last in memory).
 */
import { createHash } from "node:crypto";
import type { PeImage } from "@vigil/engine";
import { inflateSalvage } from "../gzip.js";
import { cleanName, OutputLimit, overLimit, type Member, type OutputCap } from "../types.js";
import { sectionsOf } from "./upx.js";
import { u16, u32 } from "./bytes.js";

const HDR_MAGIC = 0x28635349; // "ISc("
/** Longest string of an entry's header (ClamAV reads at most 2048 bytes for each). */
const MAX_STRING = 2048;
/** data_off of the header, then the OBJECTS block ClamAV reads (0x4a bytes). */
const OBJECTS = 0x4a;
/** A file table entry (IS_FILEITEM, packed). */
const ITEM = 87;

/** A 64-bit little-endian size, as a number (past 2^53: Infinity, larger than any file). */
const u64 = (b: Uint8Array, o: number): number =>
  u32(b, o + 4) >= 0x200000 ? Infinity : u32(b, o + 4) * 2 ** 32 + u32(b, o);

/**
 * Where ClamAV's PE reader puts the overlay: after the raw data of the section (past the first)
 * whose end in memory is the highest. undefined when there is none (nothing follows).
 */
export function overlayStart(pe: PeImage, size: number): number | undefined {
  const { sects } = sectionsOf(pe, size);
  if (!sects.length) return undefined;
  let max = sects[0]!.rva + sects[0]!.rsz;
  let start = 0;
  for (let i = 1; i < sects.length; i++) {
    const s = sects[i]!;
    if (s.rva + s.rsz > max) {
      max = s.rva + s.rsz;
      start = s.raw + s.rsz;
    }
  }
  return start > 0 && start < size ? start : undefined;
}

interface Entry {
  /** The file name's bytes: [start, nameEnd). */
  nameEnd: number;
  /** Offset of the file's data and its length (`size` may pass the end: truncated). */
  at: number;
  size: number;
}

const view = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/**
 * The entry at `o`: four NUL-terminated strings of at most MAX_STRING bytes each (name, path,
 * version, size in decimal) and where its data lies; "eof" when the strings run into the end of
 * the file (a truncated entry, or no entry), undefined when these are no entry. Only the
 * positions are taken here: a list of a million empty entries costs no strings.
 */
function entryAt(b: Buffer, o: number): Entry | "eof" | undefined {
  let p = o;
  let nameEnd = o;
  let sizeAt = o;
  for (let i = 0; i < 4; i++) {
    const limit = Math.min(b.length, p + MAX_STRING);
    const nul = b.indexOf(0, p);
    if (nul < 0 || nul >= limit) return limit === b.length ? "eof" : undefined;
    if (i === 0) nameEnd = nul;
    sizeAt = p;
    p = nul + 1;
  }
  const digits = p - 1 - sizeAt;
  if (digits < 1 || digits > 15) return undefined;
  let size = 0;
  for (let i = sizeAt; i < p - 1; i++) {
    const d = b[i]! - 0x30;
    if (d < 0 || d > 9) return undefined;
    size = size * 10 + d;
  }
  return { nameEnd, at: p, size };
}

/** True when the bytes at `start` begin an InstallShield file list (its first entry parses). */
export function isIshieldOverlay(b: Uint8Array, start: number): boolean {
  const e = entryAt(view(b), start);
  return typeof e === "object" && e.nameEnd > start;
}

function problem(
  name: string,
  compressedSize: number,
  message: string,
  reason: "corrupt-archive" | "unsupported" = "corrupt-archive",
  data?: Uint8Array,
): Member {
  return { name, compressedSize, ...(data?.length ? { data } : {}), problem: { reason, message } };
}

const baseName = (s: string): string => s.replace(/^.*[\\/]/, "");

interface Cab {
  no: number;
  name: string;
  at: number;
  size: number;
}

/**
 * The members of the InstallShield file list in `b` from `start` (the PE's overlay): the plain
 * files, then what the cabinet set holds.
 */
export function* readIshieldOverlay(b: Uint8Array, start: number, cap: OutputCap): Iterable<Member> {
  const cabs: Cab[] = [];
  let hdr: { name: string; at: number; size: number } | undefined;
  const buf = view(b);
  let o = start;
  for (let n = 0; o < b.length; n++) {
    const e = entryAt(buf, o);
    if (e === undefined) break; // what follows is no entry: the list ends
    if (e === "eof") {
      // an entry cut off by the end of the file (NUL bytes alone are padding)
      if (n > 0 && b.subarray(o).some((c) => c !== 0))
        yield problem(`ishield.${n + 1}`, b.length - o, "InstallShield file entry truncated");
      break;
    }
    if (!e.size) {
      o = e.at;
      continue; // nothing to scan (ClamAV skips empty files too)
    }
    const fname = buf.toString("latin1", o, e.nameEnd);
    const name = cleanName(baseName(fname)) || `ishield.${n + 1}`;
    if (e.at + e.size > b.length) {
      yield problem(
        name,
        e.size,
        `InstallShield file data truncated (${b.length - e.at} bytes left of ${e.size})`,
        "corrupt-archive",
        b.subarray(e.at),
      );
      break;
    }
    o = e.at + e.size;
    const data = b.subarray(e.at, o);
    // the cabinet set: read through data1.hdr below
    const cab = /^data([0-9]+)\.cab$/i.exec(fname);
    const no = cab ? Number(cab[1]) : 0;
    if (/^data1\.hdr$/i.test(fname) && !hdr) {
      hdr = { name, at: e.at, size: e.size };
      continue;
    }
    if (no > 0 && no < 65536 && !cabs.some((c) => c.no === no)) {
      cabs.push({ no, name, at: e.at, size: e.size });
      continue;
    }
    yield { name, data, compressedSize: e.size };
  }
  if (!cabs.length && !hdr) return;
  const table = hdr ? fileTable(b.subarray(hdr.at, hdr.at + hdr.size)) : "no data1.hdr in the setup";
  if (typeof table === "string" || !cabs.length) {
    // the cabinets and the header cannot be read: their bytes are scanned as they are
    const why = typeof table === "string" ? table : "no dataN.cab in the setup";
    for (const f of [...(hdr ? [hdr] : []), ...cabs])
      if (f.size)
        yield problem(
          f.name,
          f.size,
          `InstallShield cabinet not opened: ${why}`,
          "unsupported",
          b.subarray(f.at, f.at + f.size),
        );
    return;
  }
  for (const item of table.items) {
    const cab = cabs.find((c) => c.no === item.cab);
    if (!cab) continue; // on another disk: not in this file
    const name = `${cab.name}!${item.name}`;
    if (item.problem) {
      const [reason, message] = item.problem;
      yield problem(name, Number.isFinite(item.csize) ? item.csize : 0, message, reason);
      continue;
    }
    if (item.offset + item.csize > cab.size) {
      yield problem(
        name,
        item.csize,
        `InstallShield file lies outside ${cab.name} (${item.offset}+${item.csize} of ${cab.size} bytes)`,
      );
      continue;
    }
    yield inflateItem(b.subarray(cab.at + item.offset, cab.at + item.offset + item.csize), name, item, cap);
  }
  if (table.damage) yield problem(hdr!.name, hdr!.size, table.damage);
}

interface Item {
  name: string;
  cab: number;
  offset: number;
  size: number;
  csize: number;
  md5: string;
  /** Why the entry is not extracted. */
  problem?: ["corrupt-archive" | "unsupported", string];
}

/**
 * The files data1.hdr lists as stored in a cabinet (flags 4, not a duplicate, not empty), or
 * why the header cannot be read. `damage`: why the table ends before its stated count.
 */
function fileTable(h: Uint8Array): { items: Item[]; damage?: string } | string {
  if (h.length < 20) return "data1.hdr is too short for its header";
  if (u32(h, 0) !== HDR_MAGIC) return "data1.hdr has no ISc( magic (another InstallShield version)";
  const dataOff = u32(h, 12);
  if (dataOff + OBJECTS > h.length) return "data1.hdr's object table lies past its end";
  const dirsOff = u32(h, dataOff + 0x0c);
  const count = u32(h, dataOff + 0x28);
  const base = dataOff + dirsOff;
  const items: Item[] = [];
  const str = (o: number): string => {
    if (o >= h.length) return "";
    const end = h.indexOf(0, o);
    return Buffer.from(h.subarray(o, end < 0 ? h.length : end)).toString("latin1");
  };
  let off = base + u32(h, dataOff + 0x2c);
  for (let i = 0; i < count; i++, off += ITEM) {
    if (off + ITEM > h.length)
      return { items, damage: `data1.hdr's file table ends after ${i} of ${count} entries (truncated)` };
    const flags = u16(h, off);
    // 0: a file outside the cabinets (the overlay's own), 4: in a cabinet; bit 0 at 84: a duplicate
    if (!flags || h[off + 84]! & 1) continue;
    const size = u64(h, off + 2);
    if (!size) continue;
    const dirRel = base + 4 * u16(h, off + 62);
    const dir = dirRel + 4 <= h.length ? str(u32(h, dirRel) + base) : "";
    const file = str(base + u32(h, off + 58));
    const name = cleanName(dir ? `${dir}\\${file}` : file).replace(/^\\+/, "") || `file${i}`;
    const csize = u64(h, off + 10);
    const offset = u64(h, off + 18);
    const md5 = Buffer.from(h.subarray(off + 26, off + 42)).toString("hex");
    const item: Item = { name, cab: u16(h, off + 85), offset, size, csize, md5 };
    if (!Number.isFinite(size) || !Number.isFinite(csize) || !Number.isFinite(offset))
      item.problem = ["corrupt-archive", "InstallShield file entry with an impossible size or offset"];
    else if (flags !== 4)
      item.problem = [
        "unsupported",
        `InstallShield file entry of a kind not read (flags ${flags}): its data is not extracted`,
      ];
    items.push(item);
  }
  return { items };
}

/** Inflates a cabinet stream: chunks of a 16-bit length and raw deflate data, each on its own. */
function inflateItem(s: Uint8Array, name: string, item: Item, cap: OutputCap): Member {
  const limit = cap(item.csize);
  const parts: Uint8Array[] = [];
  let total = 0;
  let p = 0;
  let error: string | undefined;
  try {
    while (p < s.length) {
      if (p + 2 > s.length) {
        error = "chunk length cut off";
        break;
      }
      const len = u16(s, p);
      p += 2;
      if (!len) continue;
      if (p + len > s.length) {
        error = `chunk of ${len} bytes passes the stream's end`;
        break;
      }
      const r = inflateSalvage(s.subarray(p, p + len), limit - total);
      p += len;
      parts.push(r.data);
      total += r.data.length;
      if (r.error) {
        error = r.error;
        break;
      }
    }
  } catch (err) {
    if (err instanceof OutputLimit) return overLimit(name, item.csize, limit);
    throw err;
  }
  const data = Buffer.concat(parts, total);
  if (error) return problem(name, item.csize, `InstallShield cabinet file damaged: ${error}`, "corrupt-archive", data);
  if (total !== item.size)
    return problem(
      name,
      item.csize,
      `InstallShield cabinet file damaged: ${total} bytes decoded, the table says ${item.size}`,
      "corrupt-archive",
      data,
    );
  if (createHash("md5").update(data).digest("hex") !== item.md5)
    return problem(
      name,
      item.csize,
      "InstallShield cabinet file damaged: MD5 differs from the table's",
      "corrupt-archive",
      data,
    );
  return { name, data, compressedSize: item.csize };
}
