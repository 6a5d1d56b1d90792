/**
 * AutoIt v3 compiled scripts (the "AU3!EA05" and "AU3!EA06" resources an AutoIt executable
 * carries; the exe reader yields them from their magic). Each record is a file the script
 * installs (FileInstall) or the script itself, encrypted (EA05: Mersenne Twister keystream,
 * EA06: the "LAME" lagged generator) and optionally compressed (an LZSS variant); every record
 * decodes to a member, named by its decrypted original file name. Facts from the published
 * format descriptions and ClamAV's `autoit.c`. EA06 scripts are yielded as their decompressed
 * token stream (ClamAV additionally decompiles them to text; not done here).
 */
import { cleanName, overLimit, type Member, type OutputCap } from "../types.js";
import { u32 } from "./bytes.js";

export const AUTOIT_MAGIC = Buffer.from("a3484bbe986c4aa9994c530a86d6487d41553321454130", "hex");

export function isAutoit(b: Uint8Array): boolean {
  return (
    b.length >= 24 && (b[23] === 0x35 || b[23] === 0x36) && Buffer.from(b.buffer, b.byteOffset, 23).equals(AUTOIT_MAGIC)
  );
}

/** A copy of b[start, end): decryption works in place, and the scanned bytes must stay intact (a Buffer's slice is a view). */
const copy = (b: Uint8Array, start: number, end: number): Uint8Array => Uint8Array.prototype.slice.call(b, start, end);

/** MT19937 keystream (bits 1..8 of each output word) XORed over `buf` (EA05). */
export function mtDecrypt(buf: Uint8Array, seed: number): void {
  const mt = new Uint32Array(624);
  mt[0] = seed >>> 0;
  for (let i = 1; i < 624; i++) {
    const p = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
    mt[i] = (Math.imul(0x6c078965, p) + i) >>> 0;
  }
  let next = 624;
  for (let k = 0; k < buf.length; k++) {
    if (next >= 624) {
      for (let i = 0; i < 624; i++) {
        const y = (mt[i]! & 0x80000000) | (mt[(i + 1) % 624]! & 0x7fffffff);
        mt[i] = mt[(i + 397) % 624]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      next = 0;
    }
    let r = mt[next++]!;
    r ^= r >>> 11;
    r ^= (r << 7) & 0x9d2c5680;
    r ^= (r << 15) & 0xefc60000;
    r ^= r >>> 18;
    buf[k]! ^= (r >>> 1) & 0xff;
  }
}

const rotl = (x: number, n: number): number => ((x << n) | (x >>> (32 - n))) >>> 0;

/** The EA06 generator: 17 words, two taps; each output byte is the top byte of a second step. */
export function lameDecrypt(buf: Uint8Array, seed: number): void {
  const g = new Uint32Array(17);
  let s = seed >>> 0;
  for (let i = 0; i < 17; i++) {
    s = (1 - Math.imul(s, 0x53a9b4fb)) >>> 0;
    g[i] = s;
  }
  let c0 = 0;
  let c1 = 10;
  const step = (): number => {
    const r = (rotl(g[c0]!, 9) + rotl(g[c1]!, 13)) >>> 0;
    g[c0] = r;
    c0 = c0 ? c0 - 1 : 16;
    c1 = c1 ? c1 - 1 : 16;
    return r;
  };
  for (let i = 0; i < 9; i++) step();
  for (let k = 0; k < buf.length; k++) {
    step();
    buf[k]! ^= step() >>> 24;
  }
}

/** UTF-16LE (or byte) file names as text. */
function utf16(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength & ~1).toString("utf16le");
}

/**
 * The LZSS variant: 16-bit big-endian words read MSB first; a flag bit (1 = match in EA05,
 * 0 = match in EA06), then a 15-bit distance and a length in growing fields, or an 8-bit literal.
 * Returns the output and, when the data ran out or pointed outside, where it stopped.
 */
function unpack(inb: Uint8Array, usize: number, ea06: boolean): { data: Uint8Array; error?: string } {
  const out = new Uint8Array(usize);
  let o = 0;
  let pos = 8;
  let word = 0;
  let avail = 0;
  let failed = false;
  const bits = (n: number): number => {
    if (n > avail && (Math.floor((n - avail - 1) / 16) + 1) * 2 > inb.length - pos) {
      failed = true;
      return 0;
    }
    let v = 0;
    for (let i = 0; i < n; i++) {
      if (!avail) {
        word = (inb[pos]! << 8) | inb[pos + 1]!;
        pos += 2;
        avail = 16;
      }
      avail--;
      v = (v << 1) | ((word >>> avail) & 1);
    }
    return v;
  };
  while (!failed && o < usize) {
    if (bits(1) === (ea06 ? 0 : 1)) {
      const dist = bits(15);
      let add = 0;
      let len = bits(2);
      if (len === 3) {
        add = 3;
        if ((len = bits(3)) === 7) {
          add = 10;
          if ((len = bits(5)) === 31) {
            add = 41;
            if ((len = bits(8)) === 255) {
              add = 296;
              while (!failed && (len = bits(8)) === 255) add += 255;
            }
          }
        }
      }
      len += 3 + add;
      if (failed) break;
      if (o + len > usize || dist > o || dist === 0 || o - dist + len > usize) {
        return { data: out.subarray(0, o), error: `a match points outside the output at byte ${o}` };
      }
      for (let i = 0; i < len; i++, o++) out[o] = out[o - dist]!;
    } else out[o++] = bits(8);
  }
  return failed ? { data: out.subarray(0, o), error: `compressed data ends early after ${o} bytes` } : { data: out };
}

function damaged(name: string, compressedSize: number, message: string, data?: Uint8Array): Member {
  return { name, compressedSize, ...(data ? { data } : {}), problem: { reason: "corrupt-archive", message } };
}

export function* readAutoit(b: Uint8Array, cap: OutputCap): Iterable<Member> {
  if (!isAutoit(b)) return;
  const ea06 = b[23] === 0x36;
  const v = ea06 ? "EA06" : "EA05";
  let base = 24;
  let m4sum = 0;
  if (b.length < base + 16) {
    yield damaged("autoit", b.length, `AutoIt ${v} header truncated`);
    return;
  }
  if (!ea06) for (let i = 0; i < 16; i++) m4sum += b[base + i]!;
  base += 16;
  let files = 0;
  const k = ea06
    ? {
        magic: 0x52ca436b,
        tag: 0xadbc,
        tagSeed: 0xb33f,
        name: 0xf820,
        nameSeed: 0xf479,
        size: 0x87bc,
        data: 0x2477,
        comp: 0x36304145,
        unit: 2,
      }
    : {
        magic: 0xceb06dff,
        tag: 0x29bc,
        tagSeed: 0xa25e,
        name: 0x29ac,
        nameSeed: 0xf25e,
        size: 0x45aa,
        data: 0x22af + m4sum,
        comp: 0x35304145,
        unit: 1,
      };
  const decrypt = ea06 ? lameDecrypt : mtDecrypt;
  for (let guard = 0; guard < 1_000_000; guard++) {
    if (base + 8 > b.length) return;
    if (u32(b, base) !== k.magic) return; // no more records
    const tagLen = (u32(b, base + 4) ^ k.tag) >>> 0;
    if (tagLen * k.unit >= 0x80000000) return;
    base += 8;
    let script = false;
    if (tagLen < 300 && base + tagLen * k.unit <= b.length) {
      const tag = copy(b, base, base + tagLen * k.unit);
      decrypt(tag, (tagLen + k.tagSeed) >>> 0);
      const text = ea06 ? utf16(tag) : Buffer.from(tag).toString("latin1");
      script = /^>>>AUTOIT (NO)?CMDEXECUTE<<<|^>>>AUTOIT SCRIPT<<<|^>AUTOIT UNICODE SCRIPT<|^>AUTOIT SCRIPT</.test(
        text,
      );
    }
    base += tagLen * k.unit;
    if (base + 4 > b.length) {
      yield damaged(`autoit.${files + 1}`, 0, `AutoIt ${v} record truncated`);
      return;
    }
    const nameLen = (u32(b, base) ^ k.name) >>> 0;
    if (nameLen * k.unit >= 0x80000000) return;
    base += 4;
    let name = "";
    if (nameLen < 4096 && base + nameLen * k.unit <= b.length) {
      const raw = copy(b, base, base + nameLen * k.unit);
      decrypt(raw, (nameLen + k.nameSeed) >>> 0);
      name = ea06 ? utf16(raw) : Buffer.from(raw).toString("latin1");
    }
    base += nameLen * k.unit;
    if (base + 13 > b.length) {
      yield damaged(`autoit.${files + 1}`, 0, `AutoIt ${v} record truncated`);
      return;
    }
    const comp = b[base]!;
    const csize = (u32(b, base + 1) ^ k.size) >>> 0;
    if (csize >= 0x80000000) {
      yield damaged(`autoit.${files + 1}`, 0, `AutoIt ${v} record has a bad size`);
      return;
    }
    base += 29;
    if (!csize) continue;
    if (comp === 1 && csize < 4) continue;
    files++;
    const memberName = cleanName(script ? "script.au3" : name.replace(/^.*[\\/]/, "") || `autoit.${files}`);
    if (base + csize > b.length) {
      yield damaged(memberName, csize, `AutoIt ${v} file data truncated (${b.length - base} of ${csize} bytes)`);
      return;
    }
    const data = copy(b, base, base + csize);
    base += csize;
    decrypt(data, k.data >>> 0);
    if (comp !== 1) {
      if (data.length >= 4) yield { name: memberName, data, compressedSize: csize };
      continue;
    }
    if (u32(data, 0) !== k.comp) {
      yield damaged(
        memberName,
        csize,
        `AutoIt ${v} compressed file has a bad signature (damaged or another AutoIt version)`,
      );
      continue;
    }
    let usize = ((data[4]! << 24) | (data[5]! << 16) | (data[6]! << 8) | data[7]!) >>> 0;
    if (!usize) usize = csize;
    const limit = cap(csize);
    if (usize > limit) {
      yield overLimit(memberName, csize, limit);
      continue;
    }
    const r = unpack(data, usize, ea06);
    if (r.error)
      yield damaged(memberName, csize, `AutoIt ${v} data damaged: ${r.error}`, r.data.length ? r.data : undefined);
    else if (r.data.length >= 4) yield { name: memberName, data: r.data, compressedSize: csize };
  }
}
