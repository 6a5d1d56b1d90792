/**
 * The `elf` module (YARA 4.5): ELF headers, sections, segments, the dynamic section and the
 * symbol tables (symtab, dynsym) of 32- and 64-bit files in either byte order, plus the
 * `import_md5()` function and the constants (ET_*, EM_*, SHT_*, SHF_*, PT_*, DT_*, STT_*, STB_*, PF_*).
 *
 * Data flow: `load` checks the ELF identification (magic, class, byte order), reads the file
 * header through a bounds-checked reader and fills the root object with YARA's rules for what is
 * defined when: the section table only when it lies inside the file and the name-table index is
 * valid, section names only from a string table that starts with a NUL and whose entry ends
 * inside the file, symbols only when both the symbol table and its string table lie inside the
 * file, dynamic entries up to DT_NULL or the end of the file. `entry_point` is the file offset of
 * e_entry, found through the program headers (ET_EXEC) or the sections (other types). Everything
 * is bounded by the file size: a hostile header cannot make the parser loop or allocate beyond it.
 *
 * `telfhash()` and `import_md5()` are YARA 4.3+ functions (Debian's yara 4.2.3 lacks them): they
 * follow YARA 4.5's code; TLSH itself is checked against Debian's `tlsh` tool.
 */
import { createHash } from "node:crypto";
import { array, integer, overloads, string, struct, type YaraModule } from "../schema.js";
import { tlsh } from "./tlsh.js";

const constants = {
  ET_NONE: 0,
  ET_REL: 1,
  ET_EXEC: 2,
  ET_DYN: 3,
  ET_CORE: 4,
  EM_NONE: 0,
  EM_M32: 1,
  EM_SPARC: 2,
  EM_386: 3,
  EM_68K: 4,
  EM_88K: 5,
  EM_860: 7,
  EM_MIPS: 8,
  EM_MIPS_RS3_LE: 10,
  EM_PPC: 20,
  EM_PPC64: 21,
  EM_ARM: 40,
  EM_X86_64: 62,
  EM_AARCH64: 183,
  SHT_NULL: 0,
  SHT_PROGBITS: 1,
  SHT_SYMTAB: 2,
  SHT_STRTAB: 3,
  SHT_RELA: 4,
  SHT_HASH: 5,
  SHT_DYNAMIC: 6,
  SHT_NOTE: 7,
  SHT_NOBITS: 8,
  SHT_REL: 9,
  SHT_SHLIB: 10,
  SHT_DYNSYM: 11,
  SHF_WRITE: 1,
  SHF_ALLOC: 2,
  SHF_EXECINSTR: 4,
} as const;

const constants2 = {
  PT_NULL: 0,
  PT_LOAD: 1,
  PT_DYNAMIC: 2,
  PT_INTERP: 3,
  PT_NOTE: 4,
  PT_SHLIB: 5,
  PT_PHDR: 6,
  PT_TLS: 7,
  PT_GNU_EH_FRAME: 0x6474e550,
  PT_GNU_STACK: 0x6474e551,
  DT_NULL: 0,
  DT_NEEDED: 1,
  DT_PLTRELSZ: 2,
  DT_PLTGOT: 3,
  DT_HASH: 4,
  DT_STRTAB: 5,
  DT_SYMTAB: 6,
  DT_RELA: 7,
  DT_RELASZ: 8,
  DT_RELAENT: 9,
  DT_STRSZ: 10,
  DT_SYMENT: 11,
  DT_INIT: 12,
  DT_FINI: 13,
  DT_SONAME: 14,
  DT_RPATH: 15,
  DT_SYMBOLIC: 16,
  DT_REL: 17,
  DT_RELSZ: 18,
  DT_RELENT: 19,
  DT_PLTREL: 20,
  DT_DEBUG: 21,
  DT_TEXTREL: 22,
  DT_JMPREL: 23,
  DT_BIND_NOW: 24,
  DT_INIT_ARRAY: 25,
  DT_FINI_ARRAY: 26,
  DT_INIT_ARRAYSZ: 27,
  DT_FINI_ARRAYSZ: 28,
  DT_RUNPATH: 29,
  DT_FLAGS: 30,
  DT_ENCODING: 32,
  STT_NOTYPE: 0,
  STT_OBJECT: 1,
  STT_FUNC: 2,
  STT_SECTION: 3,
  STT_FILE: 4,
  STT_COMMON: 5,
  STT_TLS: 6,
  STB_LOCAL: 0,
  STB_GLOBAL: 1,
  STB_WEAK: 2,
  PF_X: 1,
  PF_W: 2,
  PF_R: 4,
} as const;

const CONSTANTS: Readonly<Record<string, number>> = Object.freeze({ ...constants, ...constants2 });

const sym = struct({ name: string, value: integer, size: integer, type: integer, bind: integer, shndx: integer });

const declarations = struct({
  ...Object.fromEntries(Object.keys(constants).map((k) => [k, integer])),
  type: integer,
  machine: integer,
  entry_point: integer,
  number_of_sections: integer,
  sh_offset: integer,
  sh_entry_size: integer,
  number_of_segments: integer,
  ph_offset: integer,
  ph_entry_size: integer,
  sections: array(
    struct({ type: integer, flags: integer, address: integer, name: string, size: integer, offset: integer }),
  ),
  ...Object.fromEntries(Object.keys(constants2).map((k) => [k, integer])),
  segments: array(
    struct({
      type: integer,
      flags: integer,
      offset: integer,
      virtual_address: integer,
      physical_address: integer,
      file_size: integer,
      memory_size: integer,
      alignment: integer,
    }),
  ),
  dynamic_section_entries: integer,
  dynamic: array(struct({ type: integer, val: integer })),
  symtab_entries: integer,
  symtab: array(sym),
  dynsym_entries: integer,
  dynsym: array(sym),
  telfhash: overloads(["", "string", (self: ElfRoot) => telfhash(self)]),
  import_md5: overloads(["", "string", (self: ElfRoot) => importMd5(self)]),
});

interface ElfSymbol {
  name?: string | undefined;
  value: number | bigint;
  size: number | bigint;
  type: number;
  bind: number;
  shndx: number;
}

/**
 * What the deprecated `entrypoint` keyword needs beyond the parsed fields: yara computes it
 * apart from the module, and gives 0 (not undefined) for any ELF whose entry it cannot map,
 * including every big-endian ELF, which it reads as little-endian.
 */
const keywordInfo = new WeakMap<object, { le: boolean }>();

/** The symbol list import_md5 reads (dynsym when present, else symtab), kept beside the root. */
const hidden = new WeakMap<object, { list: ElfSymbol[]; visibility: Uint8Array }>();

type ElfRoot = Record<string, unknown>;

/** A YARA integer from a uint64 read: int64 two's complement, number when it fits. */
function i64(v: bigint): number | bigint {
  const s = BigInt.asIntN(64, v);
  return s >= -9007199254740991n && s <= 9007199254740991n ? Number(s) : s;
}

class Reader {
  private readonly view: DataView;
  /**
   * Work left for scans whose cost a hostile file could multiply (string lookups, dynamic
   * entries of many PT_DYNAMIC segments): far above what any real file needs, so real files
   * parse exactly as in YARA and crafted ones stop early instead of taking quadratic time.
   */
  budget: number;
  constructor(
    readonly bytes: Uint8Array,
    readonly le: boolean,
    readonly is64: boolean,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.budget = 16 * bytes.length + (1 << 20);
  }
  get size(): number {
    return this.bytes.length;
  }
  /** true when [off, off+len) lies in the data. */
  has(off: bigint | number, len: bigint | number): boolean {
    const o = BigInt(off);
    const l = BigInt(len);
    return o >= 0n && l >= 0n && o + l <= BigInt(this.bytes.length);
  }
  u8(off: number): number {
    return this.view.getUint8(off);
  }
  u16(off: number): number {
    return this.view.getUint16(off, this.le);
  }
  u32(off: number): number {
    return this.view.getUint32(off, this.le);
  }
  u64(off: number): bigint {
    return this.view.getBigUint64(off, this.le);
  }
  /** a word of the file's class (32 or 64 bits) as a bigint. */
  word(off: number): bigint {
    return this.is64 ? this.u64(off) : BigInt(this.u32(off));
  }
  /** a word of the file's class as a YARA integer (int64; a number when safe), without BigInt when possible. */
  int(off: number): number | bigint {
    if (!this.is64) return this.u32(off);
    const lo = this.view.getUint32(this.le ? off : off + 4, this.le);
    const hi = this.view.getUint32(this.le ? off + 4 : off, this.le);
    return hi < 0x200000 ? hi * 4294967296 + lo : i64(this.u64(off));
  }
}

/**
 * YARA's string-table lookup: the table must start with a NUL, the entry must start inside
 * [base, limit) and its NUL must come before limit. Returns the name or undefined.
 */
function tableString(r: Reader, base: number, limit: number, index: number): string | undefined {
  const end = Math.min(limit, r.size);
  if (base < 0 || base >= end) return undefined;
  if (r.bytes[base] !== 0) return undefined;
  if (index < 0) return undefined;
  const s = base + index;
  if (s >= end) return undefined;
  const e = end;
  if (r.budget <= 0) return undefined;
  const rel = r.bytes.subarray(s, e).indexOf(0);
  r.budget -= rel < 0 ? e - s : rel + 1;
  if (rel < 0) return undefined;
  const nul = s + rel;
  let out = "";
  for (let i = s; i < nul; i += 8192) {
    out += String.fromCharCode.apply(null, r.bytes.subarray(i, Math.min(nul, i + 8192)) as unknown as number[]);
  }
  return out;
}

const SHN_LORESERVE = 0xff00;
const PN_XNUM = 0xffff;

function rvaToOffset(r: Reader, type: number, rva: bigint, h: Header): number | bigint | undefined {
  const mask = r.is64 ? (1n << 64n) - 1n : (1n << 32n) - 1n;
  if (type === constants.ET_EXEC) {
    const phSize = r.is64 ? 56 : 32;
    if (
      h.phOffset === 0n ||
      h.phOffset > BigInt(r.size) ||
      h.phOffset + BigInt(h.phCount * phSize) > BigInt(r.size) ||
      h.phCount === 0
    ) {
      return undefined;
    }
    const base = Number(h.phOffset);
    for (let i = 0; i < h.phCount; i++) {
      const p = base + i * phSize;
      const vaddr = r.word(p + (r.is64 ? 16 : 8));
      const memsz = r.word(p + (r.is64 ? 40 : 20));
      const offset = r.word(p + (r.is64 ? 8 : 4));
      if (rva >= vaddr && rva < ((vaddr + memsz) & mask)) return i64((offset + (rva - vaddr)) & ((1n << 64n) - 1n));
    }
  } else {
    const shSize = r.is64 ? 64 : 40;
    if (
      h.shOffset === 0n ||
      h.shOffset > BigInt(r.size) ||
      h.shOffset + BigInt(h.shCount * shSize) > BigInt(r.size) ||
      h.shCount === 0
    ) {
      return undefined;
    }
    const base = Number(h.shOffset);
    for (let i = 0; i < h.shCount; i++) {
      const s = base + i * shSize;
      const stype = r.u32(s + 4);
      const addr = r.word(s + (r.is64 ? 16 : 12));
      const offset = r.word(s + (r.is64 ? 24 : 16));
      const size = r.word(s + (r.is64 ? 32 : 20));
      if (
        stype !== constants.SHT_NULL &&
        stype !== constants.SHT_NOBITS &&
        rva >= addr &&
        rva < ((addr + size) & mask)
      ) {
        return i64((offset + (rva - addr)) & ((1n << 64n) - 1n));
      }
    }
  }
  return undefined;
}

interface Header {
  type: number;
  entry: bigint;
  phOffset: bigint;
  shOffset: bigint;
  phCount: number;
  shCount: number;
  shstrndx: number;
}

function readSymbols(
  r: Reader,
  table: { off: bigint; size: bigint; strOff: bigint; strSize: bigint },
): { list: ElfSymbol[]; visibility: Uint8Array } | undefined {
  if (!r.has(table.strOff, table.strSize) || !r.has(table.off, table.size)) return undefined;
  const entSize = r.is64 ? 24 : 16;
  // YARA counts with the table size's own width (32 bits for ELF32).
  const count = Number(table.size / BigInt(entSize));
  const out: ElfSymbol[] = new Array(count);
  const visibility = new Uint8Array(count);
  const base = Number(table.off);
  const strOff = Number(table.strOff);
  const strLimit = Number(table.strOff + table.strSize);
  for (let j = 0; j < count; j++) {
    const p = base + j * entSize;
    const nameIdx = r.u32(p);
    const info = r.u8(p + (r.is64 ? 4 : 12));
    const shndx = r.u16(p + (r.is64 ? 6 : 14));
    visibility[j] = r.u8(p + (r.is64 ? 5 : 13)) & 3;
    const value = r.int(r.is64 ? p + 8 : p + 4);
    const size = r.int(r.is64 ? p + 16 : p + 8);
    out[j] = {
      // the C code passes the uint32 index as an int: indexes >= 2^31 are negative, hence no name.
      name: tableString(r, strOff, strLimit, nameIdx | 0),
      value,
      size,
      type: info & 0xf,
      bind: info >> 4,
      shndx,
    };
  }
  return { list: out, visibility };
}

function parse(data: Uint8Array, root: ElfRoot): void {
  if (data.length < 16) return;
  if (data[0] !== 0x7f || data[1] !== 0x45 || data[2] !== 0x4c || data[3] !== 0x46) return;
  const cls = data[4];
  const enc = data[5];
  if ((cls !== 1 && cls !== 2) || (enc !== 1 && enc !== 2)) return;
  const is64 = cls === 2;
  if (data.length >= (is64 ? 64 : 52)) keywordInfo.set(root, { le: enc === 1 });
  // YARA parses only when the data is strictly longer than the file header.
  if (data.length <= (is64 ? 64 : 52)) return;
  const r = new Reader(data, enc === 1, is64);

  const h: Header = {
    type: r.u16(16),
    entry: r.word(24),
    phOffset: r.word(is64 ? 32 : 28),
    shOffset: r.word(is64 ? 40 : 32),
    phCount: r.u16(is64 ? 56 : 44),
    shCount: r.u16(is64 ? 60 : 48),
    shstrndx: r.u16(is64 ? 62 : 50),
  };
  root.type = h.type;
  root.machine = r.u16(18);
  root.sh_offset = i64(h.shOffset);
  root.sh_entry_size = r.u16(is64 ? 58 : 46);
  root.number_of_sections = h.shCount;
  root.ph_offset = i64(h.phOffset);
  root.ph_entry_size = r.u16(is64 ? 54 : 42);
  root.number_of_segments = h.phCount;
  if (h.entry !== 0n) root.entry_point = rvaToOffset(r, h.type, h.entry, h);

  const shSize = is64 ? 64 : 40;
  const size = BigInt(data.length);
  if (
    h.shCount < SHN_LORESERVE &&
    h.shstrndx < h.shCount &&
    h.shOffset < size &&
    h.shOffset + BigInt(h.shCount * shSize) <= size
  ) {
    const tableOff = Number(h.shOffset);
    const strTabOffset = r.word(tableOff + h.shstrndx * shSize + (is64 ? 24 : 16));
    const strTab = strTabOffset < size ? strTabOffset : undefined;
    const sections: unknown[] = new Array(h.shCount);
    let symtab: { off: bigint; size: bigint; strOff: bigint; strSize: bigint } | undefined;
    let dynsym: typeof symtab;
    for (let i = 0; i < h.shCount; i++) {
      const s = tableOff + i * shSize;
      const nameIdx = r.u32(s);
      const type = r.u32(s + 4);
      const link = r.u32(s + (is64 ? 40 : 24));
      const sec: Record<string, unknown> = {
        type,
        flags: r.int(s + 8),
        address: r.int(s + (is64 ? 16 : 12)),
        name: undefined,
        size: r.int(s + (is64 ? 32 : 20)),
        offset: r.int(s + (is64 ? 24 : 16)),
      };
      if (BigInt(nameIdx) < size && strTab !== undefined && strTab > 0n) {
        sec.name = tableString(r, Number(strTab), data.length, nameIdx | 0);
      }
      sections[i] = sec;
      // the link must name a real section header: yara 4.5.8 compares it with the byte-swapped
      // count (4.2.3 compared the raw little-endian value, which let a big-endian file through)
      if ((type === constants.SHT_SYMTAB || type === constants.SHT_DYNSYM) && link < h.shCount) {
        const ss = tableOff + link * shSize;
        if (r.has(ss, shSize) && r.u32(ss + 4) === constants.SHT_STRTAB) {
          const t = {
            off: r.word(s + (is64 ? 24 : 16)),
            size: r.word(s + (is64 ? 32 : 20)),
            strOff: r.word(ss + (is64 ? 24 : 16)),
            strSize: r.word(ss + (is64 ? 32 : 20)),
          };
          if (type === constants.SHT_SYMTAB) symtab = t;
          else dynsym = t;
        }
      }
    }
    root.sections = sections;
    let dynList: ReturnType<typeof readSymbols>;
    let symList: ReturnType<typeof readSymbols>;
    if (symtab) {
      symList = readSymbols(r, symtab);
      if (symList) {
        root.symtab = symList.list;
        root.symtab_entries = symList.list.length;
      }
    }
    if (dynsym) {
      dynList = readSymbols(r, dynsym);
      if (dynList) {
        root.dynsym = dynList.list;
        root.dynsym_entries = dynList.list.length;
      }
    }
    // import_md5 and telfhash prefer dynsym, as YARA does.
    const keep = dynList ?? symList;
    if (keep) hidden.set(root, keep);
  }

  const phSize = is64 ? 56 : 32;
  if (h.phCount > 0 && h.phCount < PN_XNUM && h.phOffset < size && h.phOffset + BigInt(h.phCount * phSize) <= size) {
    const base = Number(h.phOffset);
    const segments: unknown[] = new Array(h.phCount);
    let dynamic: unknown[] | undefined;
    for (let i = 0; i < h.phCount; i++) {
      const p = base + i * phSize;
      const type = r.u32(p);
      const offset = r.word(p + (is64 ? 8 : 4));
      segments[i] = {
        type,
        flags: r.u32(p + (is64 ? 4 : 24)),
        offset: i64(offset),
        virtual_address: i64(r.word(p + (is64 ? 16 : 8))),
        physical_address: i64(r.word(p + (is64 ? 24 : 12))),
        file_size: i64(r.word(p + (is64 ? 32 : 16))),
        memory_size: i64(r.word(p + (is64 ? 40 : 20))),
        alignment: i64(r.word(p + (is64 ? 48 : 28))),
      };
      if (type === constants2.PT_DYNAMIC) {
        // Later PT_DYNAMIC segments overwrite the entries of earlier ones, as in YARA.
        dynamic ??= [];
        const entSize = is64 ? 16 : 8;
        let j = 0;
        for (let d = offset; r.has(d, entSize) && r.budget > 0; d += BigInt(entSize), j++, r.budget -= entSize) {
          const at = Number(d);
          const tag = r.word(at);
          dynamic[j] = { type: i64(tag), val: i64(r.word(at + (is64 ? 8 : 4))) };
          if (tag === 0n) {
            j++;
            break;
          }
        }
        root.dynamic_section_entries = j;
      }
    }
    root.segments = segments;
    if (dynamic) root.dynamic = dynamic;
  }
}

/** MD5 of the sorted, lowercased, comma-joined names of undefined (imported) symbols. */
function importMd5(root: ElfRoot): string | undefined {
  const list = hidden.get(root)?.list;
  if (!list) return undefined;
  const names: string[] = [];
  for (const s of list) {
    if (s.name === undefined || s.name === "" || s.shndx !== 0) continue;
    names.push(s.name.replace(/[A-Z]/g, (c) => c.toLowerCase()));
  }
  if (names.length === 0) return undefined;
  names.sort(byteCompare);
  return createHash("md5")
    .update(Buffer.from(names.join(","), "latin1"))
    .digest("hex");
}

const TELFHASH_EXCLUDED = new Set([
  "__libc_start_main",
  "main",
  "abort",
  "cachectl",
  "cacheflush",
  "puts",
  "atol",
  "malloc_trim",
]);

/**
 * Trend Micro's telfhash as YARA computes it: TLSH over the sorted, lowercased, comma-joined names
 * of global, default-visibility function symbols (dynsym when present, else symtab), leaving out
 * names starting with "." or "_", "str" or "mem", names ending in "64", and a few libc entry
 * points. Undefined without symbols to hash; "" when TLSH cannot hash the list (too short).
 */
function telfhash(root: ElfRoot): string | undefined {
  const kept = hidden.get(root);
  if (!kept) return undefined;
  const names: string[] = [];
  kept.list.forEach((s, i) => {
    const name = s.name;
    if (name === undefined || s.bind !== 1 || s.type !== 2 || kept.visibility[i] !== 0) return;
    if (
      name.startsWith(".") ||
      name.startsWith("_") ||
      name.endsWith("64") ||
      name.startsWith("str") ||
      name.startsWith("mem")
    )
      return;
    if (TELFHASH_EXCLUDED.has(name)) return;
    names.push(name.replace(/[A-Z]/g, (c) => c.toLowerCase()));
  });
  if (names.length === 0) return undefined;
  names.sort(byteCompare);
  return tlsh(Buffer.from(names.join(","), "latin1"));
}

/** strcmp order on byte strings. */
function byteCompare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export const elfModule: YaraModule = {
  name: "elf",
  declarations,
  load(ctx) {
    // The constants live on a shared prototype: copying ~130 properties per scan costs more than
    // parsing a small file (V8 makes such copies dictionary-mode objects).
    const root: ElfRoot = Object.create(CONSTANTS) as ElfRoot;
    try {
      parse(ctx.data, root);
    } catch {
      // A read past the end means a check above is missing; keep what was parsed so far
      // rather than abort the scan.
    }
    return root;
  },
  entrypoint(root) {
    const info = keywordInfo.get(root);
    if (!info) return undefined;
    const e = root.entry_point;
    return info.le && typeof e === "number" ? e : 0;
  },
};
