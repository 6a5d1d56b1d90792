/**
 * An xz decoder written from "The .xz File Format" 1.0.4 and the LZMA specification in the
 * LZMA SDK (lzma-specification.txt): stream header, blocks with the LZMA2 filter (chunks of
 * uncompressed data and LZMA chunks with state, property and dictionary resets), index and
 * footer, concatenated streams and stream padding. Other filters (BCJ, delta) are reported as
 * unsupported. Each block's integrity check (CRC32, CRC64 or SHA-256) is verified: a mismatch is
 * damage, reported as such, with the block's bytes kept and scanned (`xz -dc` writes them out
 * too before it complains). Damaged or truncated data keeps what decoded before the damage
 * (unxzSalvage), as `xz -dc` writes it out. Output is capped: decoding stops with OutputLimit past `limit`,
 * and every loop advances on the input or the output, so hostile data cannot hang it.
 */
import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import { OutputLimit } from "./types.js";

export class XzError extends Error {}

const MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];

export function isXz(b: Uint8Array): boolean {
  if (b.length < 32) return false;
  for (let i = 0; i < 6; i++) if (b[i] !== MAGIC[i]) return false;
  return true;
}

/** Growable output that is also the LZMA dictionary. */
class Out {
  buf: Uint8Array;
  pos = 0;
  constructor(
    readonly limit: number,
    hint: number,
  ) {
    this.buf = new Uint8Array(Math.max(64, Math.min(limit, hint)));
  }
  private grow(need: number): void {
    if (need > this.limit) throw new OutputLimit(this.limit);
    let size = this.buf.length;
    while (size < need) size *= 2;
    const next = new Uint8Array(Math.min(size, this.limit));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }
  put(byte: number): void {
    if (this.pos >= this.buf.length) this.grow(this.pos + 1);
    this.buf[this.pos++] = byte;
  }
  copy(dist: number, len: number): void {
    if (this.pos + len > this.buf.length) this.grow(this.pos + len);
    const b = this.buf;
    let from = this.pos - dist - 1;
    for (let i = 0; i < len; i++) b[this.pos++] = b[from++]!;
  }
  append(src: Uint8Array): void {
    if (this.pos + src.length > this.buf.length) this.grow(this.pos + src.length);
    this.buf.set(src, this.pos);
    this.pos += src.length;
  }
}

class RangeDecoder {
  range = 0xffffffff;
  code = 0;
  p: number;
  /** Reading past the chunk yields zeros; the caller checks `overrun` after the chunk. */
  overrun = false;
  constructor(
    private readonly b: Uint8Array,
    start: number,
    private readonly end: number,
  ) {
    if (start + 5 > end || b[start] !== 0) throw new XzError("bad LZMA range coder start");
    this.p = start + 1;
    for (let i = 0; i < 4; i++) this.code = ((this.code << 8) | this.byte()) >>> 0;
    if (this.code === this.range) throw new XzError("bad LZMA range coder start");
  }
  private byte(): number {
    if (this.p < this.end) return this.b[this.p++]!;
    this.overrun = true;
    return 0;
  }
  bit(probs: Uint16Array, i: number): number {
    const prob = probs[i]!;
    const bound = (this.range >>> 11) * prob;
    let bit: number;
    if (this.code < bound) {
      this.range = bound;
      probs[i] = prob + ((2048 - prob) >>> 5);
      bit = 0;
    } else {
      this.range = (this.range - bound) >>> 0;
      this.code = (this.code - bound) >>> 0;
      probs[i] = prob - (prob >>> 5);
      bit = 1;
    }
    if (this.range < 0x1000000) {
      this.range = (this.range << 8) >>> 0;
      this.code = ((this.code << 8) | this.byte()) >>> 0;
    }
    return bit;
  }
  direct(n: number): number {
    let r = 0;
    for (let i = 0; i < n; i++) {
      this.range >>>= 1;
      let bit = 0;
      if (this.code >= this.range) {
        this.code = (this.code - this.range) >>> 0;
        bit = 1;
      }
      r = ((r << 1) | bit) >>> 0;
      if (this.range < 0x1000000) {
        this.range = (this.range << 8) >>> 0;
        this.code = ((this.code << 8) | this.byte()) >>> 0;
      }
    }
    return r;
  }
  tree(probs: Uint16Array, base: number, bits: number): number {
    let m = 1;
    for (let i = 0; i < bits; i++) m = (m << 1) | this.bit(probs, base + m);
    return m - (1 << bits);
  }
  reverse(probs: Uint16Array, base: number, bits: number): number {
    let m = 1;
    let sym = 0;
    for (let i = 0; i < bits; i++) {
      const bit = this.bit(probs, base + m);
      m = (m << 1) | bit;
      sym |= bit << i;
    }
    return sym;
  }
}

// probability array layout
const STATES = 12;
const POS_MAX = 16;
const IS_MATCH = 0;
const IS_REP = IS_MATCH + STATES * POS_MAX;
const IS_REP_G0 = IS_REP + STATES;
const IS_REP_G1 = IS_REP_G0 + STATES;
const IS_REP_G2 = IS_REP_G1 + STATES;
const IS_REP0_LONG = IS_REP_G2 + STATES;
const POS_SLOT = IS_REP0_LONG + STATES * POS_MAX; // 4 x 64
const SPEC_POS = POS_SLOT + 4 * 64; // 115 (index 0 unused by the reverse trees' m=1 start)
const ALIGN = SPEC_POS + 115; // 16
const LEN = ALIGN + 16; // length decoder: choice, choice2, low 16x8, mid 16x8, high 256
const LEN_SIZE = 2 + 16 * 8 + 16 * 8 + 256;
const REP_LEN = LEN + LEN_SIZE;
const LITERAL = REP_LEN + LEN_SIZE;

class Lzma {
  lc = 0;
  lp = 0;
  pb = 0;
  probs = new Uint16Array(LITERAL + 0x300);
  state = 0;
  rep0 = 0;
  rep1 = 0;
  rep2 = 0;
  rep3 = 0;

  /** `lzma1`: raw LZMA allows lc + lp up to 12 (LZMA2 only up to 4). */
  setProps(byte: number, lzma1 = false): void {
    if (byte >= 9 * 5 * 5) throw new XzError("bad LZMA properties");
    this.lc = byte % 9;
    const rest = Math.floor(byte / 9);
    this.lp = rest % 5;
    this.pb = Math.floor(rest / 5);
    if (!lzma1 && this.lc + this.lp > 4) throw new XzError("LZMA2 requires lc + lp <= 4");
    const need = LITERAL + 0x300 * (1 << (this.lc + this.lp));
    if (this.probs.length !== need) this.probs = new Uint16Array(need);
  }

  reset(): void {
    this.probs.fill(1024);
    this.state = 0;
    this.rep0 = this.rep1 = this.rep2 = this.rep3 = 0;
  }

  private len(rc: RangeDecoder, base: number, posState: number): number {
    const p = this.probs;
    if (rc.bit(p, base) === 0) return rc.tree(p, base + 2 + posState * 8, 3);
    if (rc.bit(p, base + 1) === 0) return 8 + rc.tree(p, base + 2 + 128 + posState * 8, 3);
    return 16 + rc.tree(p, base + 2 + 256, 8);
  }

  /** Decodes exactly `unpacked` bytes of one LZMA chunk into `out`. */
  decode(rc: RangeDecoder, out: Out, unpacked: number, dictStart: number, stopAtOverrun = false): void {
    const p = this.probs;
    const end = out.pos + unpacked;
    const pbMask = (1 << this.pb) - 1;
    const lpMask = (1 << this.lp) - 1;
    while (out.pos < end) {
      if (stopAtOverrun && rc.overrun) return;
      const pos = out.pos - dictStart;
      const posState = pos & pbMask;
      const s = this.state;
      if (rc.bit(p, IS_MATCH + s * POS_MAX + posState) === 0) {
        const prev = pos > 0 ? out.buf[out.pos - 1]! : 0;
        const base = LITERAL + 0x300 * (((pos & lpMask) << this.lc) + (prev >>> (8 - this.lc)));
        let sym = 1;
        if (s >= 7) {
          if (this.rep0 >= pos) throw new XzError("LZMA distance beyond the dictionary");
          let match = out.buf[out.pos - this.rep0 - 1]!;
          do {
            const mbit = (match >>> 7) & 1;
            match <<= 1;
            const bit = rc.bit(p, base + ((1 + mbit) << 8) + sym);
            sym = (sym << 1) | bit;
            if (mbit !== bit) break;
          } while (sym < 0x100);
        }
        while (sym < 0x100) sym = (sym << 1) | rc.bit(p, base + sym);
        out.put(sym & 0xff);
        this.state = s < 4 ? 0 : s < 10 ? s - 3 : s - 6;
        continue;
      }
      let len: number;
      if (rc.bit(p, IS_REP + s) === 0) {
        this.rep3 = this.rep2;
        this.rep2 = this.rep1;
        this.rep1 = this.rep0;
        len = this.len(rc, LEN, posState);
        this.state = s < 7 ? 7 : 10;
        const lenState = len < 3 ? len : 3;
        const slot = rc.tree(p, POS_SLOT + lenState * 64, 6);
        let dist: number;
        if (slot < 4) dist = slot;
        else {
          const direct = (slot >>> 1) - 1;
          dist = ((2 | (slot & 1)) << direct) >>> 0;
          if (slot < 14) dist = (dist + rc.reverse(p, SPEC_POS + dist - slot, direct)) >>> 0;
          else {
            dist = (dist + (rc.direct(direct - 4) << 4)) >>> 0;
            dist = (dist + rc.reverse(p, ALIGN, 4)) >>> 0;
          }
        }
        if (dist === 0xffffffff) throw new XzError("unexpected end marker in an LZMA2 chunk");
        this.rep0 = dist;
      } else {
        if (rc.bit(p, IS_REP_G0 + s) === 0) {
          if (rc.bit(p, IS_REP0_LONG + s * POS_MAX + posState) === 0) {
            // short rep: one byte at rep0
            if (this.rep0 >= pos) throw new XzError("LZMA distance beyond the dictionary");
            this.state = s < 7 ? 9 : 11;
            out.put(out.buf[out.pos - this.rep0 - 1]!);
            continue;
          }
        } else {
          let dist: number;
          if (rc.bit(p, IS_REP_G1 + s) === 0) dist = this.rep1;
          else {
            if (rc.bit(p, IS_REP_G2 + s) === 0) dist = this.rep2;
            else {
              dist = this.rep3;
              this.rep3 = this.rep2;
            }
            this.rep2 = this.rep1;
          }
          this.rep1 = this.rep0;
          this.rep0 = dist;
        }
        len = this.len(rc, REP_LEN, posState);
        this.state = s < 7 ? 8 : 11;
      }
      if (this.rep0 >= pos) throw new XzError("LZMA distance beyond the dictionary");
      const n = Math.min(len + 2, end - out.pos);
      out.copy(this.rep0, n);
    }
  }
}

function varint(b: Uint8Array, at: { p: number }, end: number): number {
  let v = 0;
  for (let i = 0; i < 9; i++) {
    if (at.p >= end) throw new XzError("truncated block header");
    const x = b[at.p++]!;
    v += (x & 0x7f) * 2 ** (7 * i);
    if (!(x & 0x80)) return v;
  }
  throw new XzError("bad variable-length integer");
}

const CHECK_SIZE = [0, 4, 4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64];

/** Decodes LZMA2 chunks starting at `p`; returns the offset after the end chunk. */
function lzma2(b: Uint8Array, p: number, out: Out, lz: Lzma): number {
  let dictStart = out.pos;
  let needProps = true;
  for (;;) {
    if (p >= b.length) throw new XzError("LZMA2 data ends early");
    const control = b[p++]!;
    if (control === 0x00) return p;
    if (control === 0x01 || control === 0x02) {
      if (p + 2 > b.length) throw new XzError("LZMA2 data ends early");
      const size = ((b[p]! << 8) | b[p + 1]!) + 1;
      p += 2;
      if (p + size > b.length) throw new XzError("LZMA2 data ends early");
      if (control === 0x01) dictStart = out.pos;
      out.append(b.subarray(p, p + size));
      p += size;
      continue;
    }
    if (control < 0x80) throw new XzError(`bad LZMA2 control byte 0x${control.toString(16)}`);
    if (p + 4 > b.length) throw new XzError("LZMA2 data ends early");
    const unpacked = ((control & 0x1f) << 16) + ((b[p]! << 8) | b[p + 1]!) + 1;
    const packed = ((b[p + 2]! << 8) | b[p + 3]!) + 1;
    p += 4;
    const reset = (control >>> 5) & 3;
    if (reset === 3) dictStart = out.pos;
    if (reset >= 2) {
      if (p >= b.length) throw new XzError("LZMA2 data ends early");
      lz.setProps(b[p++]!);
      needProps = false;
    } else if (needProps) throw new XzError("LZMA2 chunk without properties");
    if (reset >= 1) lz.reset();
    if (p + packed > b.length) {
      // truncated: decode what is there, stopping where the input runs out
      const rc = new RangeDecoder(b, p, b.length);
      lz.decode(rc, out, unpacked, dictStart, true);
      throw new XzError("LZMA2 data ends early (truncated)");
    }
    const rc = new RangeDecoder(b, p, p + packed);
    lz.decode(rc, out, unpacked, dictStart);
    if (rc.overrun) throw new XzError("LZMA chunk data ends early");
    p += packed;
  }
}

/**
 * Decodes a whole .xz file (all streams) into at most `limit` bytes. Throws OutputLimit past
 * the limit, XzError on corrupt or unsupported data.
 */
export function unxz(b: Uint8Array, limit: number): Uint8Array {
  const r = unxzSalvage(b, limit);
  if (r.error) throw r.error;
  return r.data;
}

/**
 * As unxz, but corrupt, truncated or unsupported data ends decoding with `error` set and
 * `data` holding what decoded before it. Throws OutputLimit past the limit.
 */
export function unxzSalvage(b: Uint8Array, limit: number): { data: Uint8Array; error?: XzError } {
  const out = new Out(limit, b.length * 4);
  try {
    decodeStreams(b, out);
  } catch (err) {
    if (!(err instanceof XzError)) throw err;
    return { data: out.buf.subarray(0, out.pos), error: err };
  }
  return { data: out.buf.subarray(0, out.pos) };
}

function decodeStreams(b: Uint8Array, out: Out): void {
  const lz = new Lzma();
  let p = 0;
  let streams = 0;
  while (p < b.length) {
    // stream padding (multiples of four zero bytes) between streams
    if (streams > 0 && b[p] === 0) {
      while (p < b.length && b[p] === 0) p++;
      continue;
    }
    if (p + 12 > b.length) throw new XzError("truncated stream header");
    for (let i = 0; i < 6; i++) if (b[p + i] !== MAGIC[i]) throw new XzError("not an xz stream");
    if (b[p + 6] !== 0 || b[p + 7]! & 0xf0) throw new XzError("unsupported stream flags");
    const checkSize = CHECK_SIZE[b[p + 7]! & 0x0f]!;
    const streamFlagsAt = p + 7;
    p += 12;
    for (;;) {
      if (p >= b.length) throw new XzError("truncated stream");
      if (b[p] === 0) break; // index
      const hsize = (b[p]! + 1) * 4;
      const hend = p + hsize;
      if (hend > b.length) throw new XzError("truncated block header");
      const flags = b[p + 1]!;
      if (flags & 0x3c) throw new XzError("unsupported block flags");
      const at = { p: p + 2 };
      if (flags & 0x40) varint(b, at, hend - 4);
      if (flags & 0x80) varint(b, at, hend - 4);
      const filters = (flags & 3) + 1;
      let lzmaOk = false;
      for (let f = 0; f < filters; f++) {
        const id = varint(b, at, hend - 4);
        const psize = varint(b, at, hend - 4);
        at.p += psize;
        if (id === 0x21 && f === filters - 1 && psize === 1) lzmaOk = filters === 1;
        else if (f === filters - 1 || id !== 0x21) {
          throw new XzError(
            id === 0x21 ? "bad LZMA2 filter properties" : `xz filter 0x${id.toString(16)} (BCJ or delta) not supported`,
          );
        }
      }
      if (!lzmaOk) throw new XzError("only plain LZMA2 blocks are supported");
      const blockStart = out.pos;
      p = lzma2(b, hend, out, lz);
      while (p % 4 !== 0) p++; // block padding (relative to the file start: streams are 4-aligned)
      if (p + checkSize > b.length) throw new XzError("truncated block check");
      verifyCheck(b[streamFlagsAt]! & 0x0f, out.buf.subarray(blockStart, out.pos), b.subarray(p, p + checkSize));
      p += checkSize;
    }
    // index: indicator, count, records, padding, CRC32; then the 12-byte footer
    const at = { p: p + 1 };
    const records = varint(b, at, b.length);
    for (let i = 0; i < records; i++) {
      varint(b, at, b.length);
      varint(b, at, b.length);
    }
    p = at.p;
    while (p % 4 !== 0) p++;
    p += 4 + 12;
    if (p > b.length) throw new XzError("truncated index or footer");
    streams++;
  }
}

/** CRC-64 (ECMA-182, reflected, as xz uses it) as two 32-bit halves, table driven. */
const CRC64_LO = new Uint32Array(256);
const CRC64_HI = new Uint32Array(256);
{
  const polyLo = 0xd7870f42;
  const polyHi = 0xc96c5795;
  for (let n = 0; n < 256; n++) {
    let lo = n;
    let hi = 0;
    for (let k = 0; k < 8; k++) {
      const bit = lo & 1;
      lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
      hi >>>= 1;
      if (bit) {
        lo = (lo ^ polyLo) >>> 0;
        hi = (hi ^ polyHi) >>> 0;
      }
    }
    CRC64_LO[n] = lo;
    CRC64_HI[n] = hi;
  }
}

export function crc64(data: Uint8Array): { lo: number; hi: number } {
  let lo = 0xffffffff;
  let hi = 0xffffffff;
  for (let i = 0; i < data.length; i++) {
    const t = (lo ^ data[i]!) & 0xff;
    lo = (((lo >>> 8) | (hi << 24)) ^ CRC64_LO[t]!) >>> 0;
    hi = ((hi >>> 8) ^ CRC64_HI[t]!) >>> 0;
  }
  return { lo: ~lo >>> 0, hi: ~hi >>> 0 };
}

/** Compares a block's stored check with its decoded bytes; check types xz does not define are skipped. */
function verifyCheck(type: number, data: Uint8Array, stored: Uint8Array): void {
  const dv = new DataView(stored.buffer, stored.byteOffset, stored.byteLength);
  let ok = true;
  if (type === 1) ok = crc32(data) === dv.getUint32(0, true);
  else if (type === 4) {
    const c = crc64(data);
    ok = c.lo === dv.getUint32(0, true) && c.hi === dv.getUint32(4, true);
  } else if (type === 10) {
    const digest = createHash("sha256").update(data).digest();
    ok = Buffer.compare(digest, stored) === 0;
  }
  if (!ok)
    throw new XzError(`block integrity check failed (${type === 1 ? "CRC32" : type === 4 ? "CRC64" : "SHA-256"})`);
}

/** The probabilities in the LZMA SDK's order: this decoder keeps an unused slot before SpecPos's. */
function sdkLayout(p: Uint16Array): Uint16Array {
  const out = new Uint16Array(p.length - 1);
  out.set(p.subarray(0, SPEC_POS));
  out.set(p.subarray(SPEC_POS + 1), SPEC_POS);
  return out;
}

/**
 * Decodes a raw LZMA stream (no header: properties given, output size known) from
 * `b[start, end)` into `out`, stopping when `out` is full or at an end marker. `error` says why
 * decoding stopped early (damaged or truncated data); `written` counts the bytes produced;
 * `probs` is the probability table as decoding left it, in the LZMA SDK's layout (lc + lp up to 12).
 */
export function lzmaDecodeRaw(
  b: Uint8Array,
  start: number,
  end: number,
  lc: number,
  lp: number,
  pb: number,
  out: Uint8Array,
): { written: number; error?: string; probs?: Uint16Array } {
  const o = new Out(out.length, out.length);
  o.buf = out;
  const lz = new Lzma();
  try {
    lz.setProps(lc + 9 * (lp + 5 * pb), true);
    lz.reset();
    const rc = new RangeDecoder(b, start, end);
    lz.decode(rc, o, out.length, 0, true);
    if (rc.overrun) return { written: o.pos, error: "LZMA data ends early" };
    return { written: o.pos, probs: sdkLayout(lz.probs) };
  } catch (err) {
    if (err instanceof XzError && /end marker/.test(err.message)) return { written: o.pos, probs: sdkLayout(lz.probs) };
    return { written: o.pos, error: (err as Error).message };
  }
}
