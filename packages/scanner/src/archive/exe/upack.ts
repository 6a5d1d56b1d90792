/**
 * Upack (0.39 with 3 or 2 sections, 1.1/1.2, and a variant of 0.39): the header is folded into
 * the sections (an optional header of 0x148 bytes with the loader's data in it, "KERNEL32.DLL"
 * in the DOS header). The loader's code is followed through its jumps to its parameters: where
 * the packed data, the output and the LZMA state (range, low, four distances, then the
 * probabilities) live, the number of probabilities and the literal context bits. The packed
 * data is LZMA (lc = 8 - the loader's shift, lp = 0, pb = 0, no leading zero byte), decoded with
 * the project's LZMA decoder; then E8/E9 operands whose first byte is the loader's marker are
 * turned from big-endian absolute back into relative. As ClamAV does (`libclamav/upack.c`,
 * `pe.c`), the sections are laid out in one buffer, unpacked in place and the output rebuilt into
 * a one-section PE (`clamrebuild.ts`).
 */
import type { PeImage } from "@vigil/engine";
import { put32, u32 } from "./bytes.js";
import type { Member, OutputCap } from "../types.js";
import { unpackedMember } from "./member.js";
import { lzmaDecodeRaw } from "../xz.js";
import { rawAddr, sectionsOf } from "./upx.js";
import { cutShort, rebuildFrom } from "./clamrebuild.js";

const i32 = (b: Uint8Array, o: number): number => u32(b, o) | 0;
const s8 = (v: number): number => (v << 24) >> 24;
const bswap = (v: number): number =>
  (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;

class UpackError extends Error {
  constructor(
    message: string,
    readonly unsupported = false,
  ) {
    super(`Upack: ${message}`);
  }
}
const fail = (message: string, unsupported = false): never => {
  throw new UpackError(message, unsupported);
};

type Version = "0.39" | "1.1/1.2" | "0151477" | "0297729";

/** The unpacking buffer: sections laid out as ClamAV lays them out, every access checked. */
class Mem {
  constructor(readonly b: Uint8Array) {}
  /** [at, at+n) is a non-empty range inside the buffer. */
  has(at: number, n: number): boolean {
    return n > 0 && at >= 0 && at + n <= this.b.length;
  }
  need(at: number, n: number, what: string): void {
    if (!this.has(at, n)) fail(`${what}: outside the image (damaged?)`);
  }
  byte(at: number, what: string): number {
    this.need(at, 1, what);
    return this.b[at]!;
  }
  u32(at: number, what: string): number {
    this.need(at, 4, what);
    return u32(this.b, at);
  }
  put(at: number, v: number, what: string): void {
    this.need(at, 4, what);
    put32(this.b, at, v);
  }
}

interface Setup {
  version: Version;
  /** Where the LZMA state starts: range, low, rep0..rep3, then the probabilities. */
  state: number;
  /** Packed data, output start and end (offsets in the buffer). */
  packed: number;
  out: number;
  end: number;
  /** Literal context: the previous byte shifted right by this. */
  shift: number;
  /** E8/E9 operands to turn back, and where the marker byte is. */
  calls: number;
  marker: number;
  originalEp: number;
}

/** The 3-section forms (optional header of 0x148 bytes): 0.39 and the 0297729 variant. */
function setup3(m: Mem, epb: Uint8Array, vma: number, ep: number, base: number): Setup {
  let version: Version = epb[5] === 0xff && epb[6] === 0x36 ? "0297729" : "0.39";
  let esi = (u32(epb, 1) - vma) >>> 0;
  m.need(esi, 12, "the loader's parameters");
  const originalEp = (m.u32(esi, "entry point") - vma) >>> 0;
  esi += 8;
  let edi = 0;
  let al: number;
  let longJump: number;
  if (version === "0.39") {
    edi = (m.u32(esi, "output address") - vma) >>> 0;
    if (!m.has(ep + 0xa, 2) || m.b[ep + 0xa] !== 0xeb) fail("unknown loader (no first jump)", true);
    esi = s8(m.b[ep + 0xb]!) + ep + 0xc;
    al = esi + 0x1a;
    if (!m.has(al, 2) || m.b[al] !== 0xeb) fail("unknown loader (no second jump)", true);
    al++;
    al += m.b[al]! + 1 + 0xa;
    longJump = 8;
  } else {
    if (!m.has(ep + 7, 5) || m.b[ep + 7] !== 0xe9) fail("unknown loader (no jump)", true);
    esi = i32(m.b, ep + 8) + ep + 0xc;
    al = esi + 0x25;
    longJump = 10;
  }
  if (!m.has(al, 2) || m.b[al] !== 0xb5) fail("unknown loader (no probability count)", true);
  al++;
  let count = m.b[al]!;
  if (!m.has(al, longJump + 5) || m.b[al + longJump] !== 0xe9) fail("unknown loader (no long jump)", true);
  let shl = u32(m.b, al + longJump + 1);
  shl =
    version === "0.39"
      ? (shl + esi + s8(m.byte(esi + 0x1b, "the loader")) + 0x1c + 0x18) >>> 0
      : (shl + esi + 0x35) >>> 0;
  // the decoder's head: JECXZ at +43 (0.39) or +46 (0151477, 0297729)
  al = shl + 43;
  let alJump = 8;
  let shrAt = 24;
  if (!m.has(al - 1, 2) || m.b[al - 1] !== 0xe3) {
    al = shl + 46;
    if (!m.has(al - 1, 2) || m.b[al - 1] !== 0xe3) fail("unknown loader (no JECXZ)", true);
    if (version !== "0297729") version = "0151477";
    alJump = 7;
    shrAt = 26;
  }
  al += m.b[al]! + 1;
  if (!m.has(al, alJump + 5) || m.b[al + alJump] !== 0xe9) fail("unknown loader (no jump to the call fix-up)", true);
  al += (u32(m.b, al + alJump + 1) + alJump + 1 + 4 + 27) >>> 0;
  if (version === "0297729") al += 2;
  if (!m.has(shl + shrAt, 3) || m.b[shl + shrAt] !== 0xc1 || m.b[shl + shrAt + 1] !== 0xed)
    fail("unknown loader (no SHR EBP)", true);
  const shift = m.b[shl + shrAt + 2]!;
  count *= 0x100;
  if (shift < 2 || shift > 8) fail(`literal context shift ${shift} out of range`);
  if (version === "0297729") {
    if (!m.has(esi + 6, 10) || m.b[esi + 6] !== 0xbe || m.b[esi + 11] !== 0xbf)
      fail("unknown loader (no MOV ESI/EDI)", true);
    const v = u32(m.b, esi + 7);
    if (v < base || v > vma) fail("the loader's data address lies outside the image");
    edi = (u32(m.b, esi + 12) - vma) >>> 0;
    esi = (v - base) >>> 0;
  } else {
    if (!m.has(esi + 7, 5) || m.b[esi + 7] !== 0xbe) fail("unknown loader (no MOV ESI)", true);
    esi = (u32(m.b, esi + 8) - vma) >>> 0;
  }
  // the loader copies its parameters next to the LZMA state, then sets the state up
  const words = version === "0297729" ? 0x16 : 0x27;
  const last = version === "0297729" ? 0x64 : 0x34;
  m.need(edi, words * 4 + 24 + 4 * count, "the LZMA state");
  m.need(esi, words * 4 + last + 4, "the loader's parameters");
  for (let j = 0; j < words; j++, esi += 4, edi += 4) put32(m.b, edi, u32(m.b, esi));
  let calls = u32(m.b, esi + 4);
  const packed = u32(m.b, edi - 4) - vma;
  const state = edi;
  initState(m, state, count);
  let out = u32(m.b, esi + 0xc) - vma;
  if (version === "0297729") out = vma - base;
  let end: number;
  if (version === "0297729") {
    end = u32(m.b, esi + 0x64) - vma;
    calls = u32(m.b, esi + 0x40);
  } else end = u32(m.b, esi + 0x34) - vma;
  return { version, state, packed, out, end, shift, calls, marker: al, originalEp };
}

/** Range 0xffffffff, low 0, four distances of 1, `count` probabilities of one half. */
function initState(m: Mem, at: number, count: number): void {
  m.need(at, 24 + 4 * count, "the LZMA state");
  put32(m.b, at, 0xffffffff);
  put32(m.b, at + 4, 0);
  for (let j = 0; j < 4; j++) put32(m.b, at + 8 + 4 * j, 1);
  for (let j = 0; j < count; j++) put32(m.b, at + 24 + 4 * j, 0x400);
}

/** The 2-section forms: 0.39 and 1.1/1.2. */
function setup2(m: Mem, epb: Uint8Array, vma: number, ep: number, base: number): Setup {
  const version: Version =
    epb[0] === 0xbe && epb[5] === 0xad && epb[6] === 0x8b && epb[7] === 0xf8 ? "1.1/1.2" : "0.39";
  let esi = vma + ep;
  const v11 = version === "1.1/1.2";
  const epJump = v11 ? 0x1a4 : 0x217;
  const stosd = v11 ? 0x1b : 0x3a;
  const ctx = v11 ? 0x41 : 0x5f;
  const marker = esi + (v11 ? 0x184 : 0x1c1);
  const loader = esi;
  m.need(esi, epJump + 4, "the loader");
  const originalEp = (esi + epJump + 4 + i32(m.b, esi + epJump)) >>> 0;
  let count = m.b[esi + stosd]!;
  const shift = (8 - m.b[esi + ctx]!) >>> 0;
  if (shift < 2 || shift > 8) fail(`literal context shift ${shift | 0} out of range`);
  count *= 0x100;
  let state: number;
  let packed: number;
  let out: number;
  let end: number;
  let calls: number;
  if (!v11) {
    esi += 4;
    const back = m.u32(esi + 2, "the loader's data offset");
    m.put(esi + 2, 0, "the loader's data offset");
    if (!back) fail("the loader's data offset is 0");
    esi -= (back - 2) >>> 0;
    m.need(esi, 12, "the loader's data");
    const ebx = (esi - (u32(m.b, esi) - base)) >>> 0;
    esi += 4;
    let save2 = u32(m.b, esi) - base;
    let edi = save2;
    esi += 4;
    const j = i32(m.b, esi);
    if (j < 0) fail("negative parameter count");
    esi += 4;
    if ((count + j) * 4 > 0xffffffff) fail("parameter count too large");
    m.need(esi, j * 4, "the loader's parameters");
    m.need(edi, (j + count) * 4, "the LZMA state");
    for (let k = 0; k < j; k++, edi += 4, esi += 4) put32(m.b, edi, u32(m.b, esi));
    m.need(save2, 8, "the loader's parameters");
    const ecx = u32(m.b, save2);
    save2 += 4;
    esi = save2 + (ecx === 0 ? 2 ** 32 : ecx) * (ebx + 4);
    const fill = m.u32(esi, "the probability value");
    esi += 4;
    for (let k = 0; k < count; k++, edi += 4) put32(m.b, edi, fill);
    m.put(esi + 0x10, (m.u32(esi + 0x10, "the loader's parameters") + ebx) >>> 0, "the loader's parameters");
    state = esi + 0x14;
    esi = save2;
    out = u32(m.b, esi) - base;
    esi += 4;
    m.need(state - 4, 12 + 16, "the LZMA state");
    m.need(esi + 0x24, 4, "the loader's parameters");
    m.need(esi + 0x40, 4, "the loader's parameters");
    packed = u32(m.b, state - 4) - base;
    end = u32(m.b, esi + 0x24) - base;
    const range = u32(m.b, state);
    put32(m.b, state, u32(m.b, state + 4));
    put32(m.b, state + 4, range);
    calls = u32(m.b, esi + 0x40);
  } else {
    esi = 0x148;
    const stateAt = m.u32(esi, "the LZMA state address") - base;
    esi += 4;
    packed = m.u32(esi, "the packed data address") - base;
    esi += 4;
    state = stateAt + 4;
    if ((count + 6) * 4 > 0xffffffff) fail("probability count too large");
    initState(m, state, count);
    out = m.u32(esi, "the output address") - base;
    esi += 8;
    end = m.u32(esi - 0x28, "the output end") - base;
    calls = u32(m.b, loader + 0x174);
  }
  return { version, state, packed, out, end, shift, calls, marker, originalEp };
}

/** The LZMA stage: the project's decoder where the loader's state is the standard start. */
function decode(m: Mem, s: Setup): void {
  if (s.out > s.end) fail("the output ends before it starts");
  const st = s.state;
  m.need(st, 24, "the LZMA state");
  if (u32(m.b, st) !== 0xffffffff || u32(m.b, st + 4) !== 0 || [8, 12, 16, 20].some((o) => u32(m.b, st + o) !== 1))
    fail("a range coder or distances that do not start as LZMA's are not supported", true);
  const n = s.end - s.out;
  if (!n) return;
  m.need(s.out, n, "the output");
  if (!m.has(s.packed, 4)) fail("the packed data lies outside the image (damaged?)");
  // the range coder starts at the packed data's first byte: LZMA's zero byte put in front
  const stream = new Uint8Array(1 + m.b.length - s.packed);
  stream.set(m.b.subarray(s.packed), 1);
  const out = new Uint8Array(n);
  const r = lzmaDecodeRaw(stream, 0, stream.length, 8 - s.shift, 0, 0, out);
  if (r.error) fail(`LZMA: ${r.error}`);
  if (r.written < n) fail("the LZMA data ends before the program does");
  m.b.set(out, s.out);
}

/** E8/E9 operands marked with the loader's byte: big-endian absolute back to relative. */
function fixCalls(m: Mem, s: Setup): void {
  const mark = m.byte(s.marker, "the call marker");
  let left = s.calls;
  let i = 0;
  while (left) {
    const at = s.out + i;
    const op = m.byte(at, "a call to fix");
    if (op === 0xe8 || op === 0xe9) {
      i++;
      const v = m.u32(at + 1, "a call operand");
      if ((v & 0xff) !== mark) continue;
      put32(m.b, at + 1, (bswap((v & 0xffffff00) >>> 0) - i - 4) >>> 0);
      i += 4;
      left--;
    } else i++;
  }
}

/** undefined: not Upack. Otherwise the rebuilt program, why it could not be unpacked, or the size it needs. */
export function unpackUpack(
  pe: PeImage,
  b: Uint8Array,
  limit: number,
): { data?: Uint8Array; error?: string; unsupported?: boolean; size?: number } | undefined {
  if (pe.is64) return undefined;
  const { sects, hdrSize } = sectionsOf(pe, b.length);
  const n = sects.length;
  if (n < 2) return undefined;
  const three = u32(b, pe.ntOffset + 20) % 0x10000 === 0x148;
  let found = false;
  for (let i = 0; i < n - 1; i++) {
    const s = sects[i]!;
    const t = sects[i + 1]!;
    if (!s.rsz && s.vsz && t.rsz && t.vsz) found = true;
  }
  if (!found && !three) return undefined;
  const ep = rawAddr(pe.entryPointRva, sects, b.length, hdrSize);
  if (ep === undefined || ep + 168 > b.length) return undefined;
  const epb = b.subarray(ep, ep + 4096);
  const base = pe.opt32(28);
  const min = Math.min(...sects.map((s) => s.rva));
  const esiRva = (u32(epb, 1) - base) >>> 0;
  const match3 =
    three &&
    n === 3 &&
    epb[0] === 0xbe &&
    esiRva > min &&
    ((epb[5] === 0xad && epb[6] === 0x50) || (epb[5] === 0xff && epb[6] === 0x36));
  const match2 =
    !three &&
    n === 2 &&
    ((epb[0] === 0x60 && epb[1] === 0xe8 && u32(epb, 2) === 9) ||
      (epb[0] === 0xbe &&
        esiRva < min &&
        i32(epb, 1) > (base | 0) &&
        epb[5] === 0xad &&
        epb[6] === 0x8b &&
        epb[7] === 0xf8));
  if (!match3 && !match2) return undefined;
  try {
    const [s0, s1] = [sects[0]!, sects[1]!];
    const uraw = (k: number) => pe.sections[k]!.rawDataOffset;
    const a = s0.vsz;
    const c = three ? sects[2]!.vsz : s1.rva;
    const dsize = (a + s1.vsz + c) >>> 0;
    const ssize = three ? s0.ursz + uraw(0) : uraw(1);
    const off = three ? s0.rva : 0;
    const vma = three ? (base + s0.rva) >>> 0 : (s1.rva - uraw(1)) >>> 0;
    if (Math.max(dsize, ssize, s1.ursz) > limit) return { size: Math.max(dsize, ssize, s1.ursz) };
    const within = (at: number, len: number) => dsize > 0 && len > 0 && len <= dsize && at + len <= dsize;
    const s1At = (s1.rva - off) >>> 0;
    if (!within(s1At, s1.ursz) || (three && !within((sects[2]!.rva - s0.rva) >>> 0, ssize)) || ssize > dsize)
      fail("the section layout makes no sense (damaged?)");
    if (ssize > b.length) fail("the header and first section are cut short");
    const m = new Mem(new Uint8Array(dsize));
    m.b.set(b.subarray(0, ssize));
    if (three) m.b.copyWithin(sects[2]!.rva - s0.rva, 0, ssize);
    m.b.set(b.subarray(uraw(1), uraw(1) + s1.ursz), s1At);
    const s = three ? setup3(m, epb, vma, ep, base) : setup2(m, epb, vma, ep, base);
    decode(m, s);
    fixCalls(m, s);
    const size = s.end - s.out;
    const va = s0.rva;
    if (three ? size > dsize : va + size > dsize) fail("the unpacked program passes the image");
    const r = rebuildFrom(
      three ? m.b : m.b.subarray(va),
      [{ raw: 0, rva: va, rsz: size, vsz: size }],
      base,
      s.originalEp,
    );
    if (!("data" in r)) return fail(`rebuild: ${"error" in r ? r.error : ""}`);
    return { data: r.data };
  } catch (err) {
    if (!(err instanceof UpackError)) throw err;
    // a loader not found in a file cut short is damage, not an unknown version
    const cut = cutShort(pe, b.length);
    return cut ? { error: `${err.message} (${cut})` } : { error: err.message, unsupported: err.unsupported };
  }
}

/** The member an Upack-packed PE yields (nothing when it is not one). */
export function* upackMembers(pe: PeImage, b: Uint8Array, cap: OutputCap): Iterable<Member> {
  const limit = cap(Math.max(b.length, 1));
  const r = unpackUpack(pe, b, limit);
  if (!r) return;
  yield unpackedMember("Upack", "Upack-packed executable not unpacked", r, b.length, limit);
}
