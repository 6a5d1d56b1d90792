/**
 * The `macho` module (YARA 4.5): Mach-O headers, segments with their sections, entry point and
 * stack size, for thin files (32/64-bit, either byte order) and fat (universal) binaries, whose
 * architectures are described in `fat_arch` and parsed into `file[i]` with the same fields.
 * Functions: file_index_for_arch(cputype[, cpusubtype]) and entry_point_for_arch(cputype[, cpusubtype]).
 *
 * Data flow: `load` reads the magic (as YARA does, as a little-endian word), then walks the load
 * commands within `ncmds` and the data: LC_SEGMENT/LC_SEGMENT_64 add a segment and the sections
 * that fit in the command, LC_MAIN sets entry_point (a file offset) and stack_size, LC_UNIXTHREAD
 * sets entry_point from the thread state's program counter mapped through the segments read so
 * far. Commands shorter than their 8-byte header stop the walk (YARA would spin on a zero
 * cmdsize), so the work is bounded by the data size. Fields of a command that YARA reads past
 * the command's end come from the following bytes of the file, or 0 past the end of the data.
 * Like yara, the deprecated `entrypoint` keyword does not look at Mach-O files (no `entrypoint`
 * hook here); rules use macho.entry_point.
 */
import { array, integer, overloads, string, struct, type ScanContext, type YaraModule } from "../schema.js";
import { machoConstants } from "./constants.js";

const section = struct({
  sectname: string,
  segname: string,
  addr: integer,
  size: integer,
  offset: integer,
  align: integer,
  reloff: integer,
  nreloc: integer,
  flags: integer,
  reserved1: integer,
  reserved2: integer,
  reserved3: integer,
});
const segment = struct({
  segname: string,
  vmaddr: integer,
  vmsize: integer,
  fileoff: integer,
  fsize: integer,
  maxprot: integer,
  initprot: integer,
  nsects: integer,
  flags: integer,
  sections: array(section),
});
const fileFields = {
  magic: integer,
  cputype: integer,
  cpusubtype: integer,
  filetype: integer,
  ncmds: integer,
  sizeofcmds: integer,
  flags: integer,
  reserved: integer,
  number_of_segments: integer,
  segments: array(segment),
  entry_point: integer,
  stack_size: integer,
};

const _CPU_TYPE = machoConstants;
const LC_SEGMENT = 0x1;
const LC_UNIXTHREAD = 0x5;
const LC_SEGMENT_64 = 0x19;
const LC_MAIN = 0x80000028;

type Obj = Record<string, unknown>;

/** A YARA integer from a uint64: int64 two's complement, number when it fits. */
function i64(v: bigint): number | bigint {
  const s = BigInt.asIntN(64, v);
  return s >= -9007199254740991n && s <= 9007199254740991n ? Number(s) : s;
}

/** Reads from the whole scanned data (0 past its end), at offsets relative to a sub-file. */
class Reader {
  constructor(
    private readonly data: Uint8Array,
    private readonly base: number,
    private readonly le: boolean,
  ) {}
  u8(o: number): number {
    const p = this.base + o;
    return p >= 0 && p < this.data.length ? this.data[p]! : 0;
  }
  u32(o: number): number {
    const b0 = this.u8(o),
      b1 = this.u8(o + 1),
      b2 = this.u8(o + 2),
      b3 = this.u8(o + 3);
    return (this.le ? b0 | (b1 << 8) | (b2 << 16) | (b3 << 24) : (b0 << 24) | (b1 << 16) | (b2 << 8) | b3) >>> 0;
  }
  u64(o: number): bigint {
    const lo = BigInt(this.u32(this.le ? o : o + 4));
    const hi = BigInt(this.u32(this.le ? o + 4 : o));
    return (hi << 32n) | lo;
  }
  /** a C char[16] field: bytes up to the first NUL. */
  name16(o: number): string {
    let s = "";
    for (let i = 0; i < 16; i++) {
      const c = this.u8(o + i);
      if (c === 0) break;
      s += String.fromCharCode(c);
    }
    return s;
  }
}

function parseSegment(r: Reader, cmd: number, cmdSize: number, is64: boolean): Obj {
  const w = (o: number): number | bigint => (is64 ? i64(r.u64(cmd + o)) : r.u32(cmd + o));
  const seg: Obj = {
    segname: r.name16(cmd + 8),
    vmaddr: w(24),
    vmsize: w(is64 ? 32 : 28),
    fileoff: w(is64 ? 40 : 32),
    fsize: w(is64 ? 48 : 36),
    maxprot: r.u32(cmd + (is64 ? 56 : 40)),
    initprot: r.u32(cmd + (is64 ? 60 : 44)),
    nsects: r.u32(cmd + (is64 ? 64 : 48)),
    flags: r.u32(cmd + (is64 ? 68 : 52)),
  };
  const segSize = is64 ? 72 : 56;
  const secSize = is64 ? 80 : 68;
  const nsects = seg.nsects as number;
  const sections: Obj[] = [];
  let parsed = segSize;
  for (let j = 0; j < nsects; j++) {
    parsed += secSize;
    if (cmdSize < parsed) break;
    const s = cmd + segSize + j * secSize;
    const sec: Obj = {
      sectname: r.name16(s),
      segname: r.name16(s + 16),
      addr: is64 ? i64(r.u64(s + 32)) : r.u32(s + 32),
      size: is64 ? i64(r.u64(s + 40)) : r.u32(s + 36),
    };
    const t = s + (is64 ? 48 : 40);
    sec.offset = r.u32(t);
    sec.align = r.u32(t + 4);
    sec.reloff = r.u32(t + 8);
    sec.nreloc = r.u32(t + 12);
    sec.flags = r.u32(t + 16);
    sec.reserved1 = r.u32(t + 20);
    sec.reserved2 = r.u32(t + 24);
    if (is64) sec.reserved3 = r.u32(t + 28);
    sections.push(sec);
  }
  if (sections.length > 0) seg.sections = sections;
  return seg;
}

/** Thread-state size and program-counter offset per CPU type (Mach-O thread_status.h layouts). */
const THREAD_STATES: ReadonlyMap<number, { size: number; pc: number; is64: boolean }> = new Map([
  [machoConstants.CPU_TYPE_MC680X0, { size: 72, pc: 68, is64: false }],
  [machoConstants.CPU_TYPE_MC88000, { size: 136, pc: 124, is64: false }],
  [machoConstants.CPU_TYPE_SPARC, { size: 76, pc: 4, is64: false }],
  [machoConstants.CPU_TYPE_POWERPC, { size: 160, pc: 0, is64: false }],
  [machoConstants.CPU_TYPE_X86, { size: 64, pc: 40, is64: false }],
  [machoConstants.CPU_TYPE_ARM, { size: 68, pc: 60, is64: false }],
  [machoConstants.CPU_TYPE_X86_64, { size: 168, pc: 128, is64: true }],
  [machoConstants.CPU_TYPE_ARM64, { size: 272, pc: 256, is64: true }],
  [machoConstants.CPU_TYPE_POWERPC64, { size: 304, pc: 0, is64: true }],
]);

/**
 * The entry address of an LC_UNIXTHREAD command, as yara 4.2.3 reads it: the command size is
 * taken in little-endian order whatever the file's byte order and capped by the bytes left; a
 * thread state too small for the CPU's layout gives address 0; unknown CPUs give nothing.
 */
function threadPc(r: Reader, cmd: number, remaining: number, cputype: unknown): bigint | undefined {
  if (remaining < 16) return undefined;
  const rawSize = r.u8(cmd + 4) | (r.u8(cmd + 5) << 8) | (r.u8(cmd + 6) << 16) | (r.u8(cmd + 7) << 24);
  const cmdSize = Math.min(remaining, rawSize >>> 0);
  if (cmdSize < 16) return undefined;
  const st = THREAD_STATES.get(cputype as number);
  if (st === undefined) return undefined;
  if (cmdSize - 16 < st.size) return 0n;
  return st.is64 ? r.u64(cmd + 16 + st.pc) : BigInt(r.u32(cmd + 16 + st.pc));
}

const U64 = (1n << 64n) - 1n;

function rvaToOffset(address: bigint, segments: Array<Obj | undefined>): bigint | undefined {
  for (const s of segments) {
    if (s === undefined) continue;
    const start = BigInt.asUintN(64, BigInt(s.vmaddr as number | bigint));
    const end = (start + BigInt.asUintN(64, BigInt(s.vmsize as number | bigint))) & U64;
    if (address >= start && address < end) {
      return (BigInt.asUintN(64, BigInt(s.fileoff as number | bigint)) + (address - start)) & U64;
    }
  }
  return undefined;
}

/** Parses one (thin) Mach-O image at [base, base+size) of the data into `obj`. */
function parseFile(data: Uint8Array, base: number, size: number, obj: Obj): void {
  // As yara: the byte order and word size come from the magic read big-endian; anything that is
  // not a big-endian magic is parsed little-endian, and every image needs a 64-bit header's size.
  const beMagic = new Reader(data, base, false).u32(0);
  const is64 = !(beMagic === 0xfeedface || beMagic === 0xcefaedfe);
  const le = !(beMagic === 0xfeedface || beMagic === 0xfeedfacf || beMagic === 0xcafebabe || beMagic === 0xcafebabf);
  const headerSize = is64 ? 32 : 28;
  if (size < 32) return;
  const r = new Reader(data, base, le);
  // yara 4.2.3 reports the magic as read in little-endian order (0xcefaedfe for a big-endian file).
  obj.magic = new Reader(data, base, true).u32(0);
  obj.cputype = r.u32(4);
  obj.cpusubtype = r.u32(8);
  obj.filetype = r.u32(12);
  const ncmds = r.u32(16);
  obj.ncmds = ncmds;
  obj.sizeofcmds = r.u32(20);
  obj.flags = r.u32(24);
  if (is64) obj.reserved = r.u32(28);

  // Walks the load commands as YARA does: stops at a command that does not fit in the image or
  // is shorter than its own header (so a zero cmdsize cannot make it spin).
  const walk = (visit: (type: number, cmd: number, cmdSize: number, remaining: number) => void) => {
    let parsed = headerSize;
    for (let i = 0; i < ncmds; i++) {
      if (parsed + 8 > size) break;
      const cmdSize = r.u32(parsed + 4);
      if (size - parsed < cmdSize || cmdSize < 8) break;
      visit(r.u32(parsed), parsed, cmdSize, size - parsed);
      parsed += cmdSize;
    }
  };
  // First pass: segments (a segment command cut short by the end of the image keeps its slot).
  const segments: Array<Obj | undefined> = [];
  let segCount = 0;
  walk((type, cmd, cmdSize, remaining) => {
    if (type !== LC_SEGMENT && type !== LC_SEGMENT_64) return;
    const seg64 = type === LC_SEGMENT_64;
    if (remaining >= (seg64 ? 72 : 56)) segments[segCount] = parseSegment(r, cmd, cmdSize, seg64);
    segCount++;
  });
  // Second pass: entry point and stack size, mapped through all the segments.
  walk((type, cmd, _cmdSize, remaining) => {
    if (type === LC_UNIXTHREAD) {
      const pc = threadPc(r, cmd, remaining, obj.cputype);
      if (pc === undefined) return;
      const off = rvaToOffset(pc, segments);
      if (off !== undefined) obj.entry_point = i64(off);
    } else if (type === LC_MAIN && remaining >= 24) {
      obj.entry_point = i64(r.u64(cmd + 8));
      obj.stack_size = i64(r.u64(cmd + 16));
    }
  });
  obj.number_of_segments = segCount;
  if (segments.length > 0) obj.segments = segments;
}

function parseFat(data: Uint8Array, root: Obj): void {
  if (data.length < 8) return;
  const r = new Reader(data, 0, false); // fat headers are big-endian
  const is64 = data[3] !== 0xbe;
  root.fat_magic = r.u32(0);
  const count = r.u32(4);
  root.nfat_arch = count;
  const archSize = is64 ? 32 : 20;
  if (data.length < 8 + count * archSize) return;
  const archs: Obj[] = [];
  // like a YARA array, `file` is as long as its last parsed item (skipped architectures are holes)
  const files: Array<Obj | undefined> = [];
  for (let i = 0; i < count; i++) {
    const a = 8 + i * archSize;
    const offset = is64 ? r.u64(a + 8) : BigInt(r.u32(a + 8));
    const size = is64 ? r.u64(a + 16) : BigInt(r.u32(a + 12));
    archs.push({
      cputype: r.u32(a),
      cpusubtype: r.u32(a + 4),
      offset: i64(offset),
      size: i64(size),
      align: r.u32(a + (is64 ? 24 : 16)),
    });
    if (BigInt(data.length) < offset + size) continue;
    const file: Obj = {};
    parseFile(data, Number(offset), Number(size), file);
    files[i] = file;
  }
  root.fat_arch = archs;
  if (files.length > 0) root.file = files;
}

const CONSTANTS: Readonly<Record<string, number>> = Object.freeze({ ...machoConstants });

const MH_MAGICS = new Set([0xfeedface, 0xcefaedfe, 0xfeedfacf, 0xcffaedfe]);
const FAT_MAGICS = new Set([0xcafebabe, 0xbebafeca, 0xcafebabf, 0xbfbafeca]);

function files(root: Obj): Array<Obj | undefined> {
  return Array.isArray(root.file) ? (root.file as Array<Obj | undefined>) : [];
}
function fatArchs(root: Obj): Obj[] {
  return Array.isArray(root.fat_arch) ? (root.fat_arch as Obj[]) : [];
}
const eq = (a: unknown, b: unknown) =>
  a !== undefined && b !== undefined && BigInt(a as number) === BigInt(b as number);

function fileIndex(root: Obj, type: unknown, subtype?: unknown): number | undefined {
  if (root.nfat_arch === undefined) return undefined;
  const list = files(root);
  for (let i = 0; i < list.length; i++) {
    const f = list[i];
    if (f && eq(f.cputype, type) && (subtype === undefined || eq(f.cpusubtype, subtype))) return i;
  }
  return undefined;
}

function entryForArch(root: Obj, type: unknown, subtype?: unknown): number | bigint | undefined {
  if (root.nfat_arch === undefined) return undefined;
  const archs = fatArchs(root);
  for (let i = 0; i < archs.length; i++) {
    const a = archs[i]!;
    if (eq(a.cputype, type) && (subtype === undefined || eq(a.cpusubtype, subtype))) {
      const ep = files(root)[i]?.entry_point;
      // YARA adds the offset to its undefined marker here; an undefined entry point stays undefined.
      if (ep === undefined) return undefined;
      return i64(BigInt(a.offset as number | bigint) + BigInt(ep as number | bigint));
    }
  }
  return undefined;
}

export const machoModule: YaraModule = {
  name: "macho",
  declarations: struct({
    ...Object.fromEntries(Object.keys(machoConstants).map((k) => [k, integer])),
    ...fileFields,
    fat_magic: integer,
    nfat_arch: integer,
    fat_arch: array(struct({ cputype: integer, cpusubtype: integer, offset: integer, size: integer, align: integer })),
    file: array(struct(fileFields)),
    file_index_for_arch: overloads(
      ["i", "integer", (self: Obj, _c: ScanContext, t) => fileIndex(self, t)],
      ["ii", "integer", (self: Obj, _c: ScanContext, t, s) => fileIndex(self, t, s)],
    ),
    entry_point_for_arch: overloads(
      ["i", "integer", (self: Obj, _c: ScanContext, t) => entryForArch(self, t)],
      ["ii", "integer", (self: Obj, _c: ScanContext, t, s) => entryForArch(self, t, s)],
    ),
  }),
  load(ctx) {
    // constants on a shared prototype (copying 150 properties per scan is slow in V8)
    const root: Obj = Object.create(CONSTANTS) as Obj;
    const d = ctx.data;
    if (d.length < 4) return root;
    const magic = (d[0]! | (d[1]! << 8) | (d[2]! << 16) | (d[3]! << 24)) >>> 0;
    try {
      if (MH_MAGICS.has(magic)) parseFile(d, 0, d.length, root);
      else if (FAT_MAGICS.has(magic)) parseFat(d, root);
    } catch {
      // every read above is bounds-checked; keep what was parsed if one is not.
    }
    return root;
  },
};
