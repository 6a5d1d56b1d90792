/**
 * OLE2 compound files ([MS-CFB]): Word, Excel and PowerPoint 97-2003, MSI, Outlook `.msg`,
 * VBA projects (`vbaProject.bin`), embedded OLE objects. Written here rather than taken from the
 * `cfb` npm package, which throws TypeErrors on truncated or corrupt files (42 of 2,000 random
 * mutants of clam.ole.doc) and reads a FAT cycle without saying so.
 *
 * Every stream is yielded as a member, named by its storage path (`ObjectPool/_1279313719/\x01Ole10Native`;
 * MSI's compressed stream names decoded, tables prefixed `!`), streams the directory tree does
 * not reach included (hidden streams are a known trick). Beside the raw streams come what they
 * hold: each VBA module's decompressed source (`Macros/VBA/Module1.vba`), the payload of an
 * `\x01Ole10Native` stream (named by its file name), and the OLE objects a PowerPoint document
 * embeds (ExOleObjStg records, zlib-compressed). Every sector chain is walked with a bound and a
 * cycle check: a FAT loop, a chain leaving the file or a stream cut short yields the bytes read
 * before the damage with a `problem`.
 */
import { damaged, inflateSalvage } from "../gzip.js";
import { cleanName, overLimit, OutputLimit, type Member, type OutputCap } from "../types.js";
import { ole10Native } from "./ole-object.js";
import { vbaSources } from "./vba.js";

const MAGIC = [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];
const ENDOFCHAIN = 0xfffffffe;
const FREESECT = 0xffffffff;
const MAX_REGULAR = 0xfffffffa;

export function isOle2(b: Uint8Array): boolean {
  if (b.length < 512) return false;
  for (let i = 0; i < 8; i++) if (b[i] !== MAGIC[i]) return false;
  return true;
}

/** One directory entry. */
export interface DirEntry {
  index: number;
  name: string;
  type: number;
  left: number;
  right: number;
  child: number;
  start: number;
  size: number;
  /** storage path inside the file, set by the tree walk */
  path?: string;
}

class Corrupt extends Error {}

/** A parsed compound file: streams read on demand, each with what went wrong reading it. */
export class CompoundFile {
  readonly sectorSize: number;
  readonly miniSectorSize = 64;
  readonly miniCutoff: number;
  private readonly v: DataView;
  private readonly nSectors: number;
  private fat: Uint32Array;
  private miniFat: Uint32Array = new Uint32Array(0);
  private miniStream: Uint8Array = new Uint8Array(0);
  private readonly stamp: Uint32Array;
  private miniStamp: Uint32Array = new Uint32Array(1);
  private generation = 0;
  readonly entries: DirEntry[] = [];
  /** damage found while reading the structures (FAT, directory, mini stream) */
  readonly damage: string[] = [];

  constructor(private readonly b: Uint8Array) {
    this.v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const shift = this.v.getUint16(0x1e, true);
    if (shift !== 9 && shift !== 12) throw new Corrupt(`sector size 2^${shift} is neither 512 nor 4096 bytes`);
    this.sectorSize = 1 << shift;
    const mshift = this.v.getUint16(0x20, true);
    if (mshift !== 6) this.damage.push(`mini sector shift ${mshift} (6 expected); 64 used`);
    this.miniCutoff = this.v.getUint32(0x38, true) || 4096;
    this.nSectors = Math.max(0, Math.ceil((b.length - this.sectorSize) / this.sectorSize));
    this.stamp = new Uint32Array(Math.max(1, this.nSectors));
    this.fat = this.readFat();
    this.readDirectory();
    this.readMini();
  }

  private sectorOffset(s: number): number {
    return (s + 1) * this.sectorSize;
  }

  private u32(at: number): number {
    return at + 4 <= this.b.length ? this.v.getUint32(at, true) : FREESECT;
  }

  private readFat(): Uint32Array {
    const declared = this.v.getUint32(0x2c, true);
    const fatSectors: number[] = [];
    const wanted = Math.min(declared, this.nSectors);
    if (declared > this.nSectors)
      this.damage.push(`header declares ${declared} FAT sectors, the file has ${this.nSectors}`);
    for (let i = 0; i < 109 && fatSectors.length < wanted; i++) {
      const s = this.v.getUint32(0x4c + i * 4, true);
      if (s > MAX_REGULAR) break;
      fatSectors.push(s);
    }
    // the DIFAT chain: each sector lists FAT sectors, its last entry points to the next DIFAT sector
    let difat = this.v.getUint32(0x44, true);
    const per = this.sectorSize / 4 - 1;
    const seen = new Set<number>();
    while (difat <= MAX_REGULAR && fatSectors.length < wanted) {
      if (difat >= this.nSectors || seen.has(difat)) {
        this.damage.push(seen.has(difat) ? "DIFAT chain loops" : "DIFAT chain points outside the file");
        break;
      }
      seen.add(difat);
      const off = this.sectorOffset(difat);
      for (let i = 0; i < per && fatSectors.length < wanted; i++) {
        const s = this.u32(off + i * 4);
        if (s > MAX_REGULAR) continue;
        fatSectors.push(s);
      }
      difat = this.u32(off + per * 4);
    }
    const per2 = this.sectorSize / 4;
    const fat = new Uint32Array(Math.max(fatSectors.length * per2, 0)).fill(FREESECT);
    let bad = 0;
    fatSectors.forEach((s, i) => {
      if (s >= this.nSectors) {
        bad++;
        return;
      }
      const off = this.sectorOffset(s);
      const n = Math.min(per2, Math.floor((this.b.length - off) / 4));
      for (let j = 0; j < n; j++) fat[i * per2 + j] = this.v.getUint32(off + j * 4, true);
    });
    if (bad) this.damage.push(`${bad} FAT sectors lie outside the file`);
    return fat;
  }

  /**
   * Follows a chain of `unit`-byte sectors through `table` from `start`, for at most `size`
   * bytes (all of the chain when size is undefined). Returns the bytes and, when the chain is
   * damaged (a loop, a sector outside the file, cut short), why.
   */
  private chain(
    start: number,
    size: number | undefined,
    table: Uint32Array,
    unit: number,
    read: (s: number) => Uint8Array | undefined,
    what: string,
  ): { data: Uint8Array; error?: string } {
    const gen = ++this.generation;
    const limitUnits = table === this.fat ? this.nSectors : Math.ceil(this.miniStream.length / unit);
    const stamp = table === this.fat ? this.stamp : this.miniStamp;
    const want = size ?? limitUnits * unit;
    const out = new Uint8Array(Math.min(want, limitUnits * unit));
    let n = 0;
    let s = start;
    let error: string | undefined;
    while (n < out.length) {
      if (s === ENDOFCHAIN || s === FREESECT) {
        if (size !== undefined) error = `${what}: chain ends after ${n} of ${size} bytes`;
        break;
      }
      if (s >= limitUnits) {
        error = `${what}: chain points to sector ${s}, outside the file`;
        break;
      }
      if (stamp[s] === gen) {
        error = `${what}: sector chain loops (sector ${s} seen twice)`;
        break;
      }
      stamp[s] = gen;
      const piece = read(s);
      if (!piece) {
        error = `${what}: sector ${s} is cut off by the end of the file`;
        break;
      }
      const take = Math.min(piece.length, out.length - n);
      out.set(piece.subarray(0, take), n);
      n += take;
      if (piece.length < unit) {
        if (n < out.length) error = `${what}: sector ${s} is cut off by the end of the file`;
        break;
      }
      s = s < table.length ? table[s]! : FREESECT;
    }
    if (size !== undefined && n < size && !error) error = `${what}: ${n} of ${size} bytes readable`;
    return { data: out.subarray(0, n), ...(error ? { error } : {}) };
  }

  private bigChain(start: number, size: number | undefined, what: string) {
    return this.chain(
      start,
      size,
      this.fat,
      this.sectorSize,
      (s) => {
        const off = this.sectorOffset(s);
        if (off >= this.b.length) return undefined;
        return this.b.subarray(off, Math.min(off + this.sectorSize, this.b.length));
      },
      what,
    );
  }

  private readDirectory(): void {
    const dir = this.bigChain(this.v.getUint32(0x30, true), undefined, "directory");
    if (dir.error && !/chain ends/.test(dir.error)) this.damage.push(dir.error);
    const d = dir.data;
    const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
    const major = this.v.getUint16(0x1a, true);
    for (let i = 0; (i + 1) * 128 <= d.length; i++) {
      const p = i * 128;
      const type = d[p + 66]!;
      const nameLen = Math.min(dv.getUint16(p + 64, true), 64);
      let name = "";
      for (let j = 0; j + 1 < nameLen; j += 2) {
        const c = dv.getUint16(p + j, true);
        if (c === 0) break;
        name += String.fromCharCode(c);
      }
      const lo = dv.getUint32(p + 120, true);
      const hi = dv.getUint32(p + 124, true);
      const size = major === 4 && hi ? Number.MAX_SAFE_INTEGER : lo;
      this.entries.push({
        index: i,
        name,
        type,
        left: dv.getUint32(p + 68, true),
        right: dv.getUint32(p + 72, true),
        child: dv.getUint32(p + 76, true),
        start: dv.getUint32(p + 116, true),
        size,
      });
    }
    if (!this.entries.length || this.entries[0]!.type !== 5) throw new Corrupt("no root entry in the directory");
    this.walkTree();
  }

  /** Names every entry the red-black trees reach with its storage path (each entry at most once). */
  private walkTree(): void {
    const seen = new Uint8Array(this.entries.length);
    seen[0] = 1;
    const stack: Array<{ i: number; prefix: string }> = [];
    const root = this.entries[0]!;
    if (root.child < this.entries.length) stack.push({ i: root.child, prefix: "" });
    let loops = false;
    while (stack.length) {
      const { i, prefix } = stack.pop()!;
      if (seen[i]) {
        loops = true;
        continue;
      }
      seen[i] = 1;
      const e = this.entries[i]!;
      e.path = prefix + displayName(e.name);
      for (const next of [e.left, e.right]) if (next < this.entries.length) stack.push({ i: next, prefix });
      if (e.type === 1 && e.child < this.entries.length) stack.push({ i: e.child, prefix: `${e.path}/` });
    }
    if (loops) this.damage.push("directory tree loops (an entry is reached twice)");
  }

  private readMini(): void {
    const root = this.entries[0]!;
    const ms = this.bigChain(root.start, root.size, "mini stream");
    if (ms.error && root.size) this.damage.push(ms.error);
    this.miniStream = ms.data;
    this.miniStamp = new Uint32Array(Math.max(1, Math.ceil(ms.data.length / this.miniSectorSize)));
    const nMini = this.v.getUint32(0x40, true);
    const mf = this.bigChain(this.v.getUint32(0x3c, true), undefined, "mini FAT");
    if (nMini && mf.error && !/chain ends/.test(mf.error)) this.damage.push(mf.error);
    const words = Math.floor(mf.data.length / 4);
    this.miniFat = new Uint32Array(words);
    const dv = new DataView(mf.data.buffer, mf.data.byteOffset, mf.data.byteLength);
    for (let i = 0; i < words; i++) this.miniFat[i] = dv.getUint32(i * 4, true);
  }

  /** The bytes of a stream entry, capped at `limit` (OutputLimit past it). */
  read(e: DirEntry, limit = Number.MAX_SAFE_INTEGER): { data: Uint8Array; error?: string } {
    const what = `stream ${e.path ?? e.name}`;
    const available = e.size < this.miniCutoff ? this.miniStream.length : this.nSectors * this.sectorSize;
    if (Math.min(e.size, available) > limit) throw new OutputLimit(limit);
    if (e.size < this.miniCutoff) {
      return this.chain(
        e.start,
        e.size,
        this.miniFat,
        this.miniSectorSize,
        (s) => {
          const off = s * this.miniSectorSize;
          if (off >= this.miniStream.length) return undefined;
          return this.miniStream.subarray(off, Math.min(off + this.miniSectorSize, this.miniStream.length));
        },
        what,
      );
    }
    return this.bigChain(e.start, e.size, what);
  }

  private streamList?: DirEntry[];
  private byPath?: Map<string, DirEntry>;

  /** Stream entries in directory order (the ones no tree reaches named `[unlinked N]/NAME`). */
  streams(): DirEntry[] {
    if (!this.streamList) {
      this.streamList = this.entries.filter((e) => e.type === 2);
      for (const e of this.streamList) e.path ??= `[unlinked ${e.index}]/${displayName(e.name)}`;
    }
    return this.streamList;
  }

  /** The stream at a storage path (case-insensitive, as OLE2 names compare). */
  find(path: string): DirEntry | undefined {
    if (!this.byPath) {
      this.byPath = new Map();
      for (const e of this.streams()) {
        const k = e.path!.toLowerCase();
        if (!this.byPath.has(k)) this.byPath.set(k, e);
      }
    }
    return this.byPath.get(path.toLowerCase());
  }
}

const MSI_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._";

/** MSI stores stream names compressed: two characters of a 64-letter alphabet per UTF-16 unit. */
export function msiName(name: string): string | undefined {
  let out = "";
  let msi = false;
  for (const ch of name) {
    const c = ch.charCodeAt(0);
    if (c >= 0x3800 && c < 0x4800) {
      const u = c - 0x3800;
      out += MSI_CHARS[u & 0x3f]! + MSI_CHARS[(u >> 6) & 0x3f]!;
      msi = true;
    } else if (c >= 0x4800 && c < 0x4840) {
      out += MSI_CHARS[c - 0x4800]!;
      msi = true;
    } else if (c === 0x4840) {
      out += "!";
      msi = true;
    } else out += ch;
  }
  return msi ? out : undefined;
}

/** An entry's name as printed: MSI names decoded, leading control characters (`\x01Ole10Native`, `\x05SummaryInformation`) dropped. */
function displayName(name: string): string {
  // eslint-disable-next-line no-control-regex
  return cleanName((msiName(name) ?? name).replace(/^[\u0000-\u001f]+/, "")).replace(/\//g, "%2F") || "_";
}

/**
 * Outlook .msg: an attachment's data stream (`__substg1.0_37010102`) is named by the
 * attachment's file name (PR_ATTACH_LONG_FILENAME 0x3707, else PR_ATTACH_FILENAME 0x3704).
 */
function attachmentName(cf: CompoundFile, e: DirEntry): string | undefined {
  if (e.name.toLowerCase() !== "__substg1.0_37010102") return undefined;
  const storage = e.path!.slice(0, e.path!.lastIndexOf("/") + 1);
  if (!/__attach_version1\.0_#[0-9a-f]{8}\/$/i.test(storage)) return undefined;
  for (const tag of ["3707001F", "3707001E", "3704001F", "3704001E"]) {
    const n = cf.find(`${storage}__substg1.0_${tag}`);
    if (!n || n.size > 1024) continue;
    let raw: Uint8Array;
    try {
      raw = cf.read(n, 1024).data;
    } catch {
      continue;
    }
    const text = Buffer.from(raw)
      .toString(tag.endsWith("1F") ? "utf16le" : "latin1")
      .replace(/\0+$/, "");
    const base = cleanName(text.replace(/^.*[\\/]/, ""));
    if (base) return `${storage}${base}`;
  }
  return undefined;
}

/** Problem for a member whose stream chain is damaged (the bytes before the damage are kept). */
function streamMember(name: string, data: Uint8Array, error?: string): Member {
  if (!error) return { name, compressedSize: data.length, data };
  return damaged(name, data.length, data, `OLE2 ${error}`);
}

export function* readOle2(b: Uint8Array, cap: OutputCap): Generator<Member> {
  let cf: CompoundFile;
  try {
    cf = new CompoundFile(b);
  } catch (err) {
    if (!(err instanceof Corrupt)) throw err;
    yield {
      name: "",
      compressedSize: b.length,
      problem: { reason: "corrupt-archive", message: `OLE2 file damaged: ${err.message}` },
    };
    return;
  }
  if (cf.damage.length)
    yield {
      name: "",
      compressedSize: b.length,
      problem: { reason: "corrupt-archive", message: `OLE2 file damaged: ${cf.damage.join("; ")}` },
    };
  for (const e of cf.streams()) {
    const name = attachmentName(cf, e) ?? e.path!;
    let r: { data: Uint8Array; error?: string };
    try {
      r = cf.read(e, cap(e.size));
    } catch (err) {
      if (err instanceof OutputLimit) {
        yield overLimit(name, e.size, err.limit);
        continue;
      }
      throw err;
    }
    yield streamMember(name, r.data, r.error);
    const base = e.name.toLowerCase();
    if (base === "\x01ole10native") {
      const p = ole10Native(r.data);
      if (p) yield { ...p, name: `${name}/${p.name}` };
    } else if (base === "powerpoint document") {
      yield* pptObjects(r.data, name, cap);
    }
  }
  yield* vbaSources(cf, cap);
}

/**
 * The OLE objects a PowerPoint document stream embeds: ExOleObjStg records (type 0x1011);
 * instance 1 holds a 4-byte decompressed size and a zlib stream, instance 0 the object itself.
 */
function* pptObjects(s: Uint8Array, streamName: string, cap: OutputCap): Generator<Member> {
  const v = new DataView(s.buffer, s.byteOffset, s.byteLength);
  let p = 0;
  let count = 0;
  while (p + 8 <= s.length && count < 100_000) {
    count++;
    const verInst = v.getUint16(p, true);
    const type = v.getUint16(p + 2, true);
    const len = v.getUint32(p + 4, true);
    const body = p + 8;
    if ((verInst & 0xf) === 0xf) {
      p = body; // a container record: its children follow
      continue;
    }
    const end = Math.min(s.length, body + len);
    if (type === 0x1011) {
      const name = `${streamName}/ExOleObjStg@${p}`;
      const inst = verInst >> 4;
      if (inst === 1 && end - body >= 4) {
        const raw = s.subarray(body + 4, end);
        const z =
          raw.length >= 2 && (raw[0]! & 0x0f) === 8 && ((raw[0]! << 8) | raw[1]!) % 31 === 0 ? raw.subarray(2) : raw;
        const limit = cap(raw.length);
        try {
          const r = inflateSalvage(z, limit);
          yield r.error
            ? damaged(name, raw.length, r.data, `embedded object: ${r.error}`)
            : { name, compressedSize: raw.length, data: r.data };
        } catch (err) {
          if (!(err instanceof OutputLimit)) throw err;
          yield overLimit(name, raw.length, limit);
        }
      } else yield { name, compressedSize: end - body, data: s.subarray(body, end) };
    }
    if (body + len > s.length) break;
    p = body + len;
  }
}
