/**
 * Petite 2.1 and 2.2: unpacked and rebuilt as ClamAV does (facts from `libclamav/petite.c`,
 * `pe.c`), so hash signatures written against ClamAV's rebuilt file match here.
 *
 * - recognition: `mov eax, <the packer section's address>` at the entry point (the last section
 *   for 2.2, the one before it for 2.1);
 * - the sections are laid out at their RVAs; the loader (0x1b8 or 0x178 bytes into its section)
 *   holds a list of descriptors: "move N dwords" (the packed data moved to the end of its
 *   section, before it is unpacked over the start) and "unpack section" (source RVA, size,
 *   destination RVA);
 * - each section is an LZ77 stream of single bits taken from bytes (most significant first):
 *   literals XORed with the count of bytes still to come, matches with Elias-gamma coded
 *   offsets and lengths (a "same offset again" form, a longer length for far offsets);
 * - the Petite code left in the last unpacked section is cut off; the original entry point is
 *   decrypted from the loader's key and the import table; the sections are compacted and rebuilt
 *   into a PE (`clamrebuild.ts`), the resource directory kept.
 */
import type { PeImage } from "@vigil/engine";
import { u32 } from "./bytes.js";
import type { Member, OutputCap } from "../types.js";
import { rebuiltMember } from "./member.js";
import { cutShort, rebuildFrom, type BufferSect } from "./clamrebuild.js";
import { rawAddr, sectionsOf, type Sect } from "./upx.js";

class PetiteError extends Error {}

/** Most sections a Petite file may describe (ClamAV's limit). */
const MAX_SECTIONS = 96;
const INT_HALF = 0x3fffffff; // INT_MAX / 2

/** Unpacks the sections laid out in `buf` (RVA `min` at offset 0); the rebuilt PE, or why not. */
function inflate(
  buf: Uint8Array,
  min: number,
  sections: Sect[],
  imageBase: number,
  pep: number,
  version: 1 | 2,
  res: { rva: number; size: number },
  limit: number,
): Uint8Array | { over: number } {
  const size0 = buf.length;
  const fail = (why: string): never => {
    throw new PetiteError(`Petite: ${why}`);
  };
  /** CLI_ISCONTAINED over offsets into buf */
  const inBuf = (o: number, n: number) => n > 0 && n <= size0 && o >= 0 && o + n <= size0;
  // work done (bytes written or moved): a legitimate file writes its image about twice
  let budget = 4 * size0 + (16 << 20);
  const spend = (n: number) => {
    budget -= n;
    if (budget < 0) fail("the packed data describes far more work than its size allows (hostile?)");
  };
  const last = sections[sections.length - 1]!;
  let packed = last.rva - min + (version === 2 ? 0x1b8 : 0x178);
  const grown = version === 2 ? 0x355 : 0x323;
  const skew = version === 2 ? 0x35 : 0x34;
  const out: Array<{ rva: number; vsz: number; rsz: number; raw: number }> = [];
  let bottom = 0;
  let encEp = 0;
  let irva = 0;
  let mangled = false;
  let resourcesNext = 0;
  for (;;) {
    if (!inBuf(packed, 4)) fail("the section list runs outside the image (damaged?)");
    const srva = u32(buf, packed);
    if (!srva) break;
    const count = srva & 0x7fffffff;
    if (srva & 0x80000000) {
      // move `count` dwords from the end of the packed data to the end of the section
      resourcesNext = 0;
      if (!inBuf(packed + 4, 8)) fail("the section list runs outside the image (damaged?)");
      const end = u32(buf, packed + 8);
      if (end > 0xffffffff - 4) fail("a section end lies past 4 GB");
      bottom = end + 4;
      const back = ((count - 1) * 4) % 2 ** 32;
      const from = u32(buf, packed + 4) - min - back;
      const to = end - min - back;
      const n = (count * 4) % 2 ** 32;
      if (!inBuf(from, n) || !inBuf(to, n)) fail("packed data lies outside the image (damaged?)");
      spend(n);
      buf.copyWithin(to, from, from + n);
      packed += 12;
      continue;
    }
    if (!inBuf(packed + 4, 8)) fail("the section list runs outside the image (damaged?)");
    let size = u32(buf, packed + 4);
    const thisRva = u32(buf, packed + 8);
    packed += 16;
    if (out.length >= MAX_SECTIONS) fail(`more than ${MAX_SECTIONS} sections`);
    const diff = (bottom - thisRva) | 0;
    const s = { rva: thisRva, rsz: size, vsz: diff > 0 ? diff >>> 0 : size, raw: 0 };
    out.push(s);
    if (!size) continue; // a section with no data (relocations stripped)
    // the section holding it gives the unpacked section's start (data before it was stored as is)
    const holder = sections.find(
      (q) =>
        q.vsz > 0 &&
        s.vsz > 0 &&
        s.vsz <= q.vsz &&
        s.rva >= q.rva &&
        s.rva + s.vsz <= q.rva + q.vsz &&
        s.rva + s.vsz > q.rva &&
        s.rva < q.rva + q.vsz,
    );
    if (!holder)
      throw new PetiteError(
        `Petite: an unpacked section (RVA 0x${thisRva.toString(16)}) lies in no section of the file`,
      );
    if (!resourcesNext) {
      s.rva = holder.rva;
      s.rsz = (thisRva - holder.rva + size) >>> 0;
    }
    const [check1, check2, goback] =
      size < 0x10000 ? [-0x3fa0, -0x3a0, 5] : size < 0x40000 ? [-0x7e80, -0x680, 7] : [-0x7d00, -0x500, 8];
    let src = srva - min;
    let dst = thisRva - min;
    if (!inBuf(src, 1) || !inBuf(dst, 1)) fail("packed data lies outside the image (damaged?)");
    // the bit reader: a byte at a time, most significant bit first (a marker bit tells when to load)
    let dl = 0;
    const bit = (): number => {
      const old = dl;
      if (!(old & 0x7f)) {
        if (src < 0 || src >= size0 - 1) fail("packed data ends early (truncated?)");
        const byte = buf[src++]!;
        dl = ((byte << 1) | 1) & 0xff;
        return byte >>> 7;
      }
      dl = (old << 1) & 0xff;
      return old >>> 7;
    };
    size--;
    buf[dst++] = buf[src++]!;
    let oldBack = 0;
    spend(Math.min(size, size0));
    while (size > 0) {
      if (!bit()) {
        if (!inBuf(src, 1) || !inBuf(dst, 1)) fail("a literal lies outside the image (damaged?)");
        buf[dst++] = buf[src++]! ^ (size & 0xff);
        size--;
        continue;
      }
      let add = 0;
      let back = 1;
      do {
        const b = bit();
        if (back >= INT_HALF) fail("an offset too large (damaged?)");
        back = back * 2 + b;
      } while (bit());
      back -= 3;
      let len: number;
      if (back >= 0) {
        for (let k = goback; k > 0; k--) {
          const b = bit();
          if (back >= INT_HALF) fail("an offset too large (damaged?)");
          back = back * 2 + b;
        }
        back = ~back;
        add += 1 + (back < check2 ? 1 : 0) + (back < check1 ? 1 : 0);
        oldBack = back;
        len = 0;
      } else {
        len = back + 1;
        back = oldBack;
      }
      len = (len * 2 + bit()) >>> 0;
      len = (len * 2 + bit()) >>> 0;
      if (!len) {
        len = 1;
        do len = (len * 2 + bit()) >>> 0;
        while (bit());
        len = (len + 2) >>> 0;
      }
      len = (len + add) >>> 0;
      size = (size - len) >>> 0;
      if (!inBuf(dst, len) || !inBuf(dst + back, len)) fail("a copy reaches outside the image (damaged?)");
      for (let k = 0; k < len; k++, dst++) buf[dst] = buf[dst + back]!;
    }
    // the Petite code unpacked at the end of the last section: found by its bytes, then cut off
    const cur = out[out.length - 1]!;
    const codeAt = (reloc: number) => {
      const o = dst - grown + 5 + 0x4f - reloc;
      return inBuf(o, 8) && u32(buf, o) === 0x645ec033 && u32(buf, o + 4) === 0x1b8b188b;
    };
    let reloc = -1;
    if (cur.rsz > grown && codeAt(0)) reloc = 0;
    else if (cur.rsz > grown + skew && codeAt(skew)) reloc = skew;
    if (reloc >= 0 && inBuf(dst - grown + 0x0f - 8 - reloc, 8)) {
      const k = dst - grown - reloc;
      const test1 = (u32(buf, k + 0x0f - 8) ^ 0x9d6661aa) >>> 0;
      const test2 = (u32(buf, k + 0x0f - 4) ^ 0xe908c483) >>> 0;
      if (test1 === test2 && inBuf(k + 0x0f, 0x1c0 - 0x0f + 4)) {
        irva = u32(buf, k + 0x121);
        encEp = (u32(buf, k + 0x0f) ^ test1) >>> 0;
        mangled = u32(buf, k + 0x1c0) !== 0x90909090;
      }
      cur.rsz = (cur.rsz - grown - reloc) >>> 0;
    }
    resourcesNext++;
  }
  if (!out.length) fail("no section to unpack");
  out.sort((a, b) => a.rva - b.rva);
  for (let t = 0; t + 1 < out.length; t++) out[t]!.vsz = (out[t + 1]!.rva - out[t]!.rva) >>> 0;
  if (encEp) {
    // the entry point was encrypted with a key the import table (as the loader walks it) undoes
    let virt = (pep + 5 + imageBase) >>> 0;
    let rndm = 0;
    let more = true;
    let done = version === 1;
    let thunk = irva - min;
    const limitAddr = (sections[sections.length - 1]!.rva + imageBase) >>> 0;
    let steps = 0;
    if (version === 2)
      while (more && inBuf(thunk, 4)) {
        const t = u32(buf, thunk);
        if (!t) {
          done = true;
          break;
        }
        let imp = t - min;
        thunk += 4;
        more = false;
        while (inBuf(imp, 4)) {
          if (++steps > 0x1000000) fail("the import table walk does not end (hostile?)");
          more = false;
          imp += 4;
          let api = u32(buf, imp - 4);
          if (!api) {
            more = true;
            break;
          }
          if (!(api & 0x80000000) && mangled && --rndm < 0) {
            api = virt;
            virt = (virt + 5) >>> 0;
            rndm = virt & 7;
          } else api = 0xbff01337;
          if (limitAddr < api) encEp = (encEp - 1) >>> 0;
          if (api < virt) encEp = (encEp - 1) >>> 0;
          encEp = ((encEp >>> 3) | ((encEp & 7) << 29)) >>> 0;
        }
      }
    encEp = (pep + 5 + encEp) >>> 0;
    // (ClamAV then uses the first section's start, a guess: kept so the rebuilt bytes agree)
    if (!done) encEp = out[0]!.rva;
  }
  // compact: each section's bytes follow the previous one's from the start of the buffer
  const rebuilt: BufferSect[] = [];
  for (let t = 0; t < out.length; t++) {
    const s = out[t]!;
    const prev = rebuilt[t - 1];
    s.raw = prev ? prev.raw + prev.rsz : 0;
    if (s.rsz) {
      if (inBuf(s.raw, s.rsz)) {
        if (!inBuf(s.rva - min, s.rsz)) fail("an unpacked section lies outside the image (damaged?)");
        buf.copyWithin(s.raw, s.rva - min, s.rva - min + s.rsz);
      } else {
        s.raw = prev ? prev.raw : 0;
        s.rsz = 0;
      }
    }
    rebuilt.push({ rva: s.rva, vsz: s.vsz, raw: s.raw, rsz: s.rsz });
  }
  const pe = rebuildFrom(buf, rebuilt, imageBase, encEp, { resRva: res.rva, resSize: res.size, limit });
  if ("error" in pe) throw new PetiteError(`Petite: the unpacked program could not be rebuilt: ${pe.error}`);
  return "over" in pe ? pe : pe.data;
}

export interface PetiteUnpacked {
  data?: Uint8Array;
  error?: string;
  /** recognised but a form this version does not unpack (level 0) */
  unsupported?: string;
  /** the memory image's size: what the unpacking needs, checked against the caller's cap first */
  size: number;
}

/** undefined: not Petite. Otherwise the rebuilt program, or why it could not be unpacked. */
export function unpackPetite(pe: PeImage, b: Uint8Array, limit: number): PetiteUnpacked | undefined {
  if (pe.is64) return undefined;
  const { sects, hdrSize } = sectionsOf(pe, b.length, true);
  const n = sects.length;
  if (!n) return undefined;
  const epOff = rawAddr(pe.entryPointRva, sects, b.length, hdrSize);
  if (epOff === undefined || b.length - epOff < 200 || b[epOff] !== 0xb8) return undefined;
  const base = Number(pe.imageBase) >>> 0;
  const target = u32(b, epOff + 1);
  const version: 1 | 2 | 0 =
    target === (sects[n - 1]!.rva + base) >>> 0 ? 2 : n >= 2 && target === (sects[n - 2]!.rva + base) >>> 0 ? 1 : 0;
  if (!version) return undefined;
  if (u32(b, epOff + 0x80) === 0x163c988d)
    return { unsupported: "Petite level-0 (stored) files are not unpacked", size: 0 };
  let min = sects[0]!.rva;
  let max = sects[0]!.rva + sects[0]!.rsz;
  for (const s of sects) {
    min = Math.min(min, s.rva);
    max = Math.max(max, s.rva + s.rsz);
  }
  const size = max - min;
  if (size <= 0) return { error: "Petite: the sections hold no data", size: 0 };
  if (size > limit) return { size };
  try {
    const buf = new Uint8Array(size);
    for (const s of sects) {
      if (!s.raw) continue;
      if (!s.rsz) throw new PetiteError("Petite: a section's data lies outside the file (truncated?)");
      if (!(s.ursz > 0 && s.rva - min + s.ursz <= size))
        throw new PetiteError("Petite: the section layout makes no sense");
      buf.set(b.subarray(s.raw, s.raw + s.ursz), s.rva - min);
    }
    const dirs = pe.dataDirOffset + 2 * 8;
    const res = dirs + 8 <= b.length ? { rva: u32(b, dirs), size: u32(b, dirs + 4) } : { rva: 0, size: 0 };
    const used = version === 1 ? sects.slice(0, n - 1) : sects;
    const out = inflate(buf, min, used, base, pe.entryPointRva, version, res, limit);
    return out instanceof Uint8Array ? { data: out, size } : { size: out.over };
  } catch (err) {
    if (err instanceof PetiteError) return { error: err.message, size };
    throw err;
  }
}

/**
 * The member a Petite-packed PE yields: the rebuilt program, or why it is not fully scanned. A file
 * cut short still yields what unpacks from the bytes that are there, reported as damaged.
 */
export function* readPetite(pe: PeImage, b: Uint8Array, cap: OutputCap): Iterable<Member> {
  const limit = cap(Math.max(b.length, 1));
  const r = unpackPetite(pe, b, limit);
  if (!r) return;
  yield rebuiltMember("Petite", r, !!cutShort(pe, b.length), b.length, limit);
}
