/**
 * Test helper: builds small Mach-O images (32/64-bit, either byte order) with __PAGEZERO,
 * __TEXT (two sections) and __LINKEDIT segments and an LC_MAIN or LC_UNIXTHREAD entry point,
 * and fat (universal) binaries wrapping several images. Debian has no small package shipping
 * Mach-O files, so the macho module is tested on these.
 */

export interface MachoOptions {
  readonly is64: boolean;
  readonly le: boolean;
  readonly cputype: number;
  readonly cpusubtype?: number;
  /** "main" (LC_MAIN) or the thread-state offset of the program counter for LC_UNIXTHREAD. */
  readonly entry: "main" | { readonly pcOffset: number; readonly pcIs64: boolean; readonly stateSize: number };
}

class W {
  private readonly parts: number[] = [];
  constructor(private readonly le: boolean) {}
  get length() {
    return this.parts.length;
  }
  u32(v: number) {
    const b = [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
    this.parts.push(...(this.le ? b : b.reverse()));
  }
  u64(v: bigint | number) {
    const x = BigInt(v);
    const lo = Number(x & 0xffffffffn),
      hi = Number(x >> 32n);
    if (this.le) {
      this.u32(lo);
      this.u32(hi);
    } else {
      this.u32(hi);
      this.u32(lo);
    }
  }
  name(s: string) {
    for (let i = 0; i < 16; i++) this.parts.push(i < s.length ? s.charCodeAt(i) : 0);
  }
  zeros(n: number) {
    for (let i = 0; i < n; i++) this.parts.push(0);
  }
  set32(at: number, v: number) {
    const b = [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
    const bb = this.le ? b : b.reverse();
    for (let i = 0; i < 4; i++) this.parts[at + i] = bb[i]!;
  }
  patch(at: number, b: Uint8Array) {
    b.forEach((x, i) => (this.parts[at + i] = x));
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

export function buildMacho(o: MachoOptions): Uint8Array {
  const { is64, le } = o;
  const w = new W(le);
  const textAddr = is64 ? 0x100000000 : 0x1000;
  w.u32(is64 ? 0xfeedfacf : 0xfeedface);
  w.u32(o.cputype);
  w.u32(o.cpusubtype ?? 3);
  w.u32(2); // MH_EXECUTE
  const ncmdsAt = w.length;
  w.u32(0); // ncmds, patched
  const sizeAt = w.length;
  w.u32(0); // sizeofcmds, patched
  w.u32(0x200085); // flags
  if (is64) w.u32(0);
  const cmdsStart = w.length;
  let ncmds = 0;
  const word = (v: number) => (is64 ? w.u64(v) : w.u32(v));
  const segment = (
    name: string,
    vmaddr: number,
    vmsize: number,
    fileoff: number,
    filesize: number,
    sections: Array<[string, number, number]>,
  ) => {
    ncmds++;
    const secSize = is64 ? 80 : 68;
    w.u32(is64 ? 0x19 : 0x1);
    w.u32((is64 ? 72 : 56) + sections.length * secSize);
    w.name(name);
    word(vmaddr);
    word(vmsize);
    word(fileoff);
    word(filesize);
    w.u32(7);
    w.u32(5);
    w.u32(sections.length);
    w.u32(0);
    for (const [sect, addr, size] of sections) {
      w.name(sect);
      w.name(name);
      word(addr);
      word(size);
      w.u32(addr - vmaddr + fileoff);
      w.u32(4);
      w.u32(0);
      w.u32(0);
      w.u32(0x80000400);
      w.u32(0);
      w.u32(0);
      if (is64) w.u32(0);
    }
  };
  segment("__PAGEZERO", 0, textAddr, 0, 0, []);
  segment("__TEXT", textAddr, 0x1000, 0, 0x1000, [
    ["__text", textAddr + 0x800, 0x40],
    ["__cstring", textAddr + 0x840, 0x10],
  ]);
  segment("__LINKEDIT", textAddr + 0x1000, 0x1000, 0x1000, 0x100, []);
  if (o.entry === "main") {
    ncmds++;
    w.u32(0x80000028);
    w.u32(24);
    w.u64(0x800);
    w.u64(0x10000);
  } else {
    ncmds++;
    const stateSize = o.entry.stateSize;
    w.u32(0x5);
    w.u32(16 + stateSize);
    w.u32(1);
    w.u32(stateSize / 4);
    const stateStart = w.length;
    w.zeros(stateSize);
    const pc = textAddr + 0x810;
    // write the program counter in the image's byte order
    const tmp = new W(le);
    if (o.entry.pcIs64) tmp.u64(pc);
    else tmp.u32(pc);
    w.patch(stateStart + o.entry.pcOffset, tmp.bytes());
  }
  w.set32(ncmdsAt, ncmds);
  w.set32(sizeAt, w.length - cmdsStart);
  // pad the file to cover __TEXT and __LINKEDIT
  w.zeros(0x1100 - w.length);
  return w.bytes();
}

/** A fat binary (big-endian headers) holding the given images, each aligned to 4 KiB. */
export function buildFat(
  images: Array<{ cputype: number; cpusubtype: number; bytes: Uint8Array }>,
  is64 = false,
): Uint8Array {
  const headerSize = 8 + images.length * (is64 ? 32 : 20);
  let off = Math.ceil(headerSize / 0x1000) * 0x1000;
  const offsets = images.map((img) => {
    const at = off;
    off = Math.ceil((off + img.bytes.length) / 0x1000) * 0x1000;
    return at;
  });
  const out = new Uint8Array(off);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, is64 ? 0xcafebabf : 0xcafebabe);
  dv.setUint32(4, images.length);
  images.forEach((img, i) => {
    const a = 8 + i * (is64 ? 32 : 20);
    dv.setUint32(a, img.cputype);
    dv.setUint32(a + 4, img.cpusubtype);
    if (is64) {
      dv.setBigUint64(a + 8, BigInt(offsets[i]!));
      dv.setBigUint64(a + 16, BigInt(img.bytes.length));
      dv.setUint32(a + 24, 12);
    } else {
      dv.setUint32(a + 8, offsets[i]!);
      dv.setUint32(a + 12, img.bytes.length);
      dv.setUint32(a + 16, 12);
    }
    out.set(img.bytes, offsets[i]!);
  });
  return out;
}
