/**
 * Test helper: builds small, valid ELF files of either class (32/64-bit) and byte order, with a
 * program header table (PT_LOAD, PT_DYNAMIC), a text section, dynamic and static symbol tables
 * with their string tables, a dynamic section and a section-name table. Used to test the elf
 * module on layouts Debian's binaries do not cover (ELF32, big-endian) and as the base for
 * malformed variants.
 */

export interface ElfOptions {
  readonly is64: boolean;
  readonly le: boolean;
  readonly type?: number; // ET_EXEC by default
  readonly machine?: number;
}

export interface BuiltElf {
  readonly bytes: Uint8Array;
  /** file offsets of the header fields and tables, for making malformed variants. */
  readonly layout: {
    readonly headerSize: number;
    readonly phOffset: number;
    readonly phEntrySize: number;
    readonly shOffset: number;
    readonly shEntrySize: number;
    readonly dynamicOffset: number;
    readonly symtabOffset: number;
    readonly dynstrOffset: number;
  };
}

class Writer {
  readonly buf: Uint8Array;
  private readonly view: DataView;
  constructor(
    size: number,
    private readonly le: boolean,
    private readonly is64: boolean,
  ) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }
  u8(o: number, v: number) {
    this.view.setUint8(o, v);
  }
  u16(o: number, v: number) {
    this.view.setUint16(o, v, this.le);
  }
  u32(o: number, v: number) {
    this.view.setUint32(o, v >>> 0, this.le);
  }
  u64(o: number, v: bigint | number) {
    this.view.setBigUint64(o, BigInt(v), this.le);
  }
  word(o: number, v: bigint | number) {
    if (this.is64) this.u64(o, v);
    else this.u32(o, Number(v));
  }
  bytes(o: number, b: Uint8Array) {
    this.buf.set(b, o);
  }
}

function strtab(names: string[]): { data: Uint8Array; index: Map<string, number> } {
  const index = new Map<string, number>();
  const parts: number[] = [0];
  for (const n of names) {
    index.set(n, parts.length);
    for (const c of n) parts.push(c.charCodeAt(0));
    parts.push(0);
  }
  return { data: Uint8Array.from(parts), index };
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;

export function buildElf(opts: ElfOptions): BuiltElf {
  const { is64, le } = opts;
  const ehSize = is64 ? 64 : 52;
  const phEnt = is64 ? 56 : 32;
  const shEnt = is64 ? 64 : 40;
  const symEnt = is64 ? 24 : 16;
  const dynEnt = is64 ? 16 : 8;
  const base = 0x400000;

  const dynNames = ["puts", "Exit", "my_export", "libc.so.6"];
  const symNames = ["main.c", "main", "helper", "data_obj", "_start"];
  const shNames = [".text", ".dynsym", ".dynstr", ".symtab", ".strtab", ".dynamic", ".shstrtab"];
  const dynstr = strtab(dynNames);
  const symstr = strtab(symNames);
  const shstr = strtab(shNames);

  const dynsyms = [
    { name: 0, info: 0, other: 0, shndx: 0, value: 0, size: 0 },
    { name: dynstr.index.get("puts")!, info: 0x12, other: 0, shndx: 0, value: 0, size: 0 },
    { name: dynstr.index.get("Exit")!, info: 0x12, other: 0, shndx: 0, value: 0, size: 0 },
    { name: dynstr.index.get("my_export")!, info: 0x12, other: 0, shndx: 1, value: base + 0x1000, size: 16 },
  ];
  const syms = [
    { name: 0, info: 0, other: 0, shndx: 0, value: 0, size: 0 },
    { name: symstr.index.get("main.c")!, info: 0x04, other: 0, shndx: 0xfff1, value: 0, size: 0 },
    { name: symstr.index.get("main")!, info: 0x12, other: 0, shndx: 1, value: base + 0x1004, size: 12 },
    { name: symstr.index.get("helper")!, info: 0x02, other: 2, shndx: 1, value: base + 0x1010, size: 4 },
    { name: symstr.index.get("data_obj")!, info: 0x21, other: 0, shndx: 1, value: base + 0x1020, size: 8 },
    { name: symstr.index.get("_start")!, info: 0x12, other: 0, shndx: 1, value: base + 0x1000, size: 0 },
  ];
  const dynamic: Array<[number, number]> = [
    [1, dynstr.index.get("libc.so.6")!], // DT_NEEDED
    [5, 0], // DT_STRTAB (patched below)
    [6, 0], // DT_SYMTAB (patched below)
    [10, dynstr.data.length], // DT_STRSZ
    [11, symEnt], // DT_SYMENT
    [0, 0], // DT_NULL
    [0x6ffffef5, 0x1234], // after DT_NULL: not counted
  ];

  // layout
  let off = ehSize;
  const phOffset = off;
  off += 2 * phEnt;
  const textOffset = align(off, 16);
  const textSize = 0x40;
  off = textOffset + textSize;
  const dynsymOffset = align(off, 8);
  off = dynsymOffset + dynsyms.length * symEnt;
  const dynstrOffset = off;
  off += dynstr.data.length;
  const symtabOffset = align(off, 8);
  off = symtabOffset + syms.length * symEnt;
  const strtabOffset = off;
  off += symstr.data.length;
  const dynamicOffset = align(off, 8);
  off = dynamicOffset + dynamic.length * dynEnt;
  const shstrOffset = off;
  off += shstr.data.length;
  const shOffset = align(off, 8);
  const shCount = 1 + shNames.length;
  const total = shOffset + shCount * shEnt;

  // the text section is mapped at base + 0x1000
  const textAddr = base + 0x1000;
  const vaddrOf = (o: number) => textAddr + (o - textOffset);

  const w = new Writer(total, le, is64);
  // identification
  w.bytes(0, Uint8Array.of(0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, le ? 1 : 2, 1, 0));
  w.u16(16, opts.type ?? 2);
  w.u16(18, opts.machine ?? (is64 ? 62 : 3));
  w.u32(20, 1);
  w.word(24, textAddr + 4); // entry: inside .text
  w.word(is64 ? 32 : 28, phOffset);
  w.word(is64 ? 40 : 32, shOffset);
  w.u32(is64 ? 48 : 36, 0);
  w.u16(is64 ? 52 : 40, ehSize);
  w.u16(is64 ? 54 : 42, phEnt);
  w.u16(is64 ? 56 : 44, 2);
  w.u16(is64 ? 58 : 46, shEnt);
  w.u16(is64 ? 60 : 48, shCount);
  w.u16(is64 ? 62 : 50, shCount - 1); // .shstrtab is last

  // program headers: PT_LOAD of everything from .text, PT_DYNAMIC
  const ph = (i: number, type: number, flags: number, o: number, size: number, alignTo: number) => {
    const p = phOffset + i * phEnt;
    w.u32(p, type);
    if (is64) {
      w.u32(p + 4, flags);
      w.u64(p + 8, o);
      w.u64(p + 16, vaddrOf(o));
      w.u64(p + 24, vaddrOf(o));
      w.u64(p + 32, size);
      w.u64(p + 40, size + 0x100);
      w.u64(p + 48, alignTo);
    } else {
      w.u32(p + 4, o);
      w.u32(p + 8, vaddrOf(o));
      w.u32(p + 12, vaddrOf(o));
      w.u32(p + 16, size);
      w.u32(p + 20, size + 0x100);
      w.u32(p + 24, flags);
      w.u32(p + 28, alignTo);
    }
  };
  ph(0, 1, 5, textOffset, shOffset - textOffset, 0x1000);
  ph(1, 2, 6, dynamicOffset, dynamic.length * dynEnt, 8);

  for (let i = 0; i < textSize; i++) w.u8(textOffset + i, 0x90);

  const writeSym = (at: number, s: (typeof syms)[number]) => {
    w.u32(at, s.name);
    if (is64) {
      w.u8(at + 4, s.info);
      w.u8(at + 5, s.other);
      w.u16(at + 6, s.shndx);
      w.u64(at + 8, s.value);
      w.u64(at + 16, s.size);
    } else {
      w.u32(at + 4, s.value);
      w.u32(at + 8, s.size);
      w.u8(at + 12, s.info);
      w.u8(at + 13, s.other);
      w.u16(at + 14, s.shndx);
    }
  };
  dynsyms.forEach((s, i) => writeSym(dynsymOffset + i * symEnt, s));
  syms.forEach((s, i) => writeSym(symtabOffset + i * symEnt, s));
  w.bytes(dynstrOffset, dynstr.data);
  w.bytes(strtabOffset, symstr.data);
  w.bytes(shstrOffset, shstr.data);
  dynamic[1]![1] = vaddrOf(dynstrOffset);
  dynamic[2]![1] = vaddrOf(dynsymOffset);
  dynamic.forEach(([tag, val], i) => {
    w.word(dynamicOffset + i * dynEnt, tag);
    w.word(dynamicOffset + i * dynEnt + (is64 ? 8 : 4), val);
  });

  // section headers
  const sh = (
    i: number,
    name: string,
    type: number,
    flags: number,
    addr: number,
    o: number,
    size: number,
    link: number,
    entsize: number,
  ) => {
    const s = shOffset + i * shEnt;
    w.u32(s, shstr.index.get(name)!);
    w.u32(s + 4, type);
    w.word(s + 8, flags);
    w.word(s + (is64 ? 16 : 12), addr);
    w.word(s + (is64 ? 24 : 16), o);
    w.word(s + (is64 ? 32 : 20), size);
    w.u32(s + (is64 ? 40 : 24), link);
    w.u32(s + (is64 ? 44 : 28), type === 2 || type === 11 ? 1 : 0);
    w.word(s + (is64 ? 48 : 32), 8);
    w.word(s + (is64 ? 56 : 36), entsize);
  };
  sh(1, ".text", 1, 6, textAddr, textOffset, textSize, 0, 0);
  sh(2, ".dynsym", 11, 2, vaddrOf(dynsymOffset), dynsymOffset, dynsyms.length * symEnt, 3, symEnt);
  sh(3, ".dynstr", 3, 2, vaddrOf(dynstrOffset), dynstrOffset, dynstr.data.length, 0, 0);
  sh(4, ".symtab", 2, 0, 0, symtabOffset, syms.length * symEnt, 5, symEnt);
  sh(5, ".strtab", 3, 0, 0, strtabOffset, symstr.data.length, 0, 0);
  sh(6, ".dynamic", 6, 3, vaddrOf(dynamicOffset), dynamicOffset, dynamic.length * dynEnt, 3, dynEnt);
  sh(7, ".shstrtab", 3, 0, 0, shstrOffset, shstr.data.length, 0, 0);

  return {
    bytes: w.buf,
    layout: {
      headerSize: ehSize,
      phOffset,
      phEntrySize: phEnt,
      shOffset,
      shEntrySize: shEnt,
      dynamicOffset,
      symtabOffset,
      dynstrOffset,
    },
  };
}
