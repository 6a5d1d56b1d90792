/**
 * The transfer encodings of mail and the web, decoded leniently (as mail clients and ClamAV
 * do) into at most `limit` bytes (OutputLimit past it): base64 (RFC 2045, also `data:` URIs),
 * quoted-printable (RFC 2045), percent-encoding (RFC 3986, `data:` URIs), uuencode (POSIX
 * `uuencode`, also its `begin-base64` form) and BinHex 4.0 (RFC 1741). Damage never throws:
 * the bytes that decode are returned with `error` saying what was wrong.
 */
import { OutputLimit } from "../types.js";

export interface Decoded {
  data: Uint8Array;
  /** What was wrong with the encoding (the data is what decoded despite it). */
  error?: string;
}

const B64 = new Int8Array(256).fill(-1);
for (let i = 0; i < 64; i++) B64["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".charCodeAt(i)] = i;
// the URL-safe alphabet (RFC 4648 section 5) decodes too
B64["-".charCodeAt(0)] = 62;
B64["_".charCodeAt(0)] = 63;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0c || c === 0x0b;
}

/**
 * base64: whitespace is skipped; other characters outside the alphabet are skipped and
 * counted (reported as damage); `=` ends a quantum, and decoding resumes after it (some
 * encoders concatenate encoded pieces).
 */
export function decodeBase64(b: Uint8Array, start: number, end: number, limit: number): Decoded {
  // fast path for well-formed text (alphabet and line breaks, padding only at the end); the
  // careful loop below for anything else
  const bound = Math.floor(((end - start) * 3) / 4) + 3;
  if (bound <= limit) {
    const out = new Uint8Array(bound);
    let n = 0;
    let acc = 0;
    let q = 0;
    let i = start;
    for (; i < end; i++) {
      const c = b[i]!;
      const v = B64[c]!;
      if (v >= 0) {
        acc = (acc << 6) | v;
        if (++q === 4) {
          out[n] = acc >> 16;
          out[n + 1] = (acc >> 8) & 0xff;
          out[n + 2] = acc & 0xff;
          n += 3;
          q = 0;
          acc = 0;
        }
      } else if (c === 0x3d) break;
      else if (!isSpace(c)) return decodeBase64Slow(b, start, end, limit);
    }
    for (; i < end; i++) if (b[i] !== 0x3d && !isSpace(b[i]!)) return decodeBase64Slow(b, start, end, limit);
    if (q === 1) return decodeBase64Slow(b, start, end, limit);
    if (q === 2) out[n++] = (acc >> 4) & 0xff;
    else if (q === 3) {
      out[n++] = (acc >> 10) & 0xff;
      out[n++] = (acc >> 2) & 0xff;
    }
    return { data: out.subarray(0, n) };
  }
  return decodeBase64Slow(b, start, end, limit);
}

function decodeBase64Slow(b: Uint8Array, start: number, end: number, limit: number): Decoded {
  const bound = Math.floor(((end - start) * 3) / 4) + 3;
  const out = new Uint8Array(Math.min(bound, limit + 1));
  let n = 0;
  let acc = 0;
  let bits = 0;
  let bad = 0;
  let firstBad = -1;
  let quantum = 0;
  let dangling = 0;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    const v = B64[c]!;
    if (v < 0) {
      if (c === 0x3d) {
        // '=': padding ends the quantum
        if (quantum === 1) dangling++;
        acc = 0;
        bits = 0;
        quantum = 0;
      } else if (!isSpace(c)) {
        if (firstBad < 0) firstBad = i - start;
        bad++;
      }
      continue;
    }
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    quantum = (quantum + 1) & 3;
    if (bits >= 8) {
      bits -= 8;
      if (n >= limit) throw new OutputLimit(limit);
      out[n++] = (acc >> bits) & 0xff;
    }
  }
  if (quantum === 1) dangling++;
  const problems: string[] = [];
  if (bad > 0) problems.push(`${bad} character(s) outside the base64 alphabet skipped (first at offset ${firstBad})`);
  if (dangling > 0) problems.push("a base64 quantum is cut short (truncated?)");
  return problems.length
    ? { data: out.subarray(0, n), error: `base64 damaged: ${problems.join("; ")}` }
    : { data: out.subarray(0, n) };
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** quoted-printable: `=XX` and soft line breaks; a malformed `=` is kept as it is (RFC 2045 6.7 note). */
export function decodeQuotedPrintable(b: Uint8Array, start: number, end: number, limit: number): Decoded {
  const out = new Uint8Array(Math.min(end - start, limit + 1));
  let n = 0;
  const put = (v: number) => {
    if (n >= limit) throw new OutputLimit(limit);
    out[n++] = v;
  };
  let i = start;
  while (i < end) {
    const c = b[i]!;
    if (c !== 0x3d) {
      put(c);
      i++;
      continue;
    }
    const h = i + 1 < end ? hexValue(b[i + 1]!) : -1;
    const l = i + 2 < end ? hexValue(b[i + 2]!) : -1;
    if (h >= 0 && l >= 0) {
      put((h << 4) | l);
      i += 3;
      continue;
    }
    // soft line break: '=' then optional trailing whitespace then (CR)LF
    let j = i + 1;
    while (j < end && (b[j] === 0x20 || b[j] === 0x09)) j++;
    if (j < end && b[j] === 0x0d) j++;
    if (j >= end || b[j] === 0x0a) {
      i = j + 1;
      continue;
    }
    put(c);
    i++;
  }
  return { data: out.subarray(0, n) };
}

/** percent-encoding (`data:` URIs without `;base64`): `%XX`, everything else literally. */
export function decodePercent(b: Uint8Array, start: number, end: number, limit: number): Decoded {
  const out = new Uint8Array(Math.min(end - start, limit + 1));
  let n = 0;
  for (let i = start; i < end; i++) {
    if (n >= limit) throw new OutputLimit(limit);
    const c = b[i]!;
    if (c === 0x25 && i + 2 < end) {
      const h = hexValue(b[i + 1]!);
      const l = hexValue(b[i + 2]!);
      if (h >= 0 && l >= 0) {
        out[n++] = (h << 4) | l;
        i += 2;
        continue;
      }
    }
    out[n++] = c;
  }
  return { data: out.subarray(0, n) };
}

/**
 * Output that grows as it fills, up to `limit` bytes (OutputLimit past it): for decoders whose
 * input extent is not known in advance (a block inside a longer text), so that many small
 * blocks in a large text never each allocate for the rest of the text.
 */
class Output {
  private buf = new Uint8Array(4096);
  n = 0;
  constructor(private readonly limit: number) {}
  push(v: number): void {
    if (this.n >= this.limit) throw new OutputLimit(this.limit);
    if (this.n === this.buf.length) {
      const grown = new Uint8Array(Math.min(this.buf.length * 2, this.limit + 1));
      grown.set(this.buf);
      this.buf = grown;
    }
    this.buf[this.n++] = v;
  }
  get data(): Uint8Array {
    return this.buf.subarray(0, this.n);
  }
}

/** The end of the line starting at `p` (index of its LF, or `end`). */
export function lineEnd(b: Uint8Array, p: number, end: number): number {
  const i = b.indexOf(0x0a, p);
  return i < 0 || i >= end ? end : i;
}

/** The line [p, e) without its trailing CR. */
function trimCr(b: Uint8Array, p: number, e: number): number {
  return e > p && b[e - 1] === 0x0d ? e - 1 : e;
}

function startsWithEnd(b: Uint8Array, q: number, t: number): boolean {
  return t - q === 3 && b[q] === 0x65 && b[q + 1] === 0x6e && b[q + 2] === 0x64;
}

export interface UuBlock {
  /** The name on the `begin` line (empty when absent). */
  name: string;
  /** Offset of the `begin` line and the offset just past the block (its `end` line, or where decoding stopped). */
  start: number;
  end: number;
  /** Encoded size. */
  size: number;
}

const BEGIN = /^begin(-base64)? +[0-7]{1,4}(?: +(.*))?$/;

/** A `begin MODE NAME` (or `begin-base64 MODE NAME`) line at p, or undefined. */
export function uuBeginAt(b: Uint8Array, p: number, end: number): { name: string; base64: boolean } | undefined {
  if (b[p] !== 0x62 || b[p + 1] !== 0x65 || b[p + 2] !== 0x67) return undefined;
  const e = trimCr(b, p, Math.min(lineEnd(b, p, end), p + 1024));
  const m = BEGIN.exec(Buffer.from(b.buffer, b.byteOffset + p, e - p).toString("latin1"));
  return m ? { name: (m[2] ?? "").trim(), base64: !!m[1] } : undefined;
}

/**
 * Decodes one uuencoded block whose `begin` line is at `p`: traditional (length character,
 * then groups of four characters) or `begin-base64` (ending at `====`). Stops at `end` (the
 * block's `end` line); a block with no end line, or a line shorter than its length says, is
 * reported as damage beside the bytes that decoded.
 */
export function decodeUu(b: Uint8Array, p: number, stop: number, limit: number): Decoded & UuBlock {
  const begin = uuBeginAt(b, p, stop)!;
  let q = lineEnd(b, p, stop) + 1;
  const first = q;
  if (begin.base64) {
    // base64 lines until "===="
    let e = q;
    let closed = false;
    while (e < stop) {
      const le = lineEnd(b, e, stop);
      const t = trimCr(b, e, le);
      if (t - e === 4 && b[e] === 0x3d && b[e + 1] === 0x3d && b[e + 2] === 0x3d && b[e + 3] === 0x3d) {
        closed = true;
        const r = decodeBase64(b, q, e, limit);
        const errors = [r.error, closed ? undefined : "no ==== line (truncated)"].filter(Boolean);
        return {
          data: r.data,
          ...(errors.length ? { error: errors.join("; ") } : {}),
          name: begin.name,
          start: p,
          end: Math.min(le + 1, stop),
          size: e - first,
        };
      }
      e = le + 1;
    }
    const r = decodeBase64(b, q, stop, limit);
    return {
      data: r.data,
      error: [r.error, "uuencoded (base64) block has no ==== end line (truncated)"].filter(Boolean).join("; "),
      name: begin.name,
      start: p,
      end: stop,
      size: stop - first,
    };
  }
  const out = new Output(limit);
  let error: string | undefined;
  let ended = false;
  while (q < stop) {
    const le = lineEnd(b, q, stop);
    const t = trimCr(b, q, le);
    const next = le + 1;
    if (startsWithEnd(b, q, t)) {
      // "end"
      q = next;
      ended = true;
      break;
    }
    if (t === q) {
      q = next;
      continue;
    }
    const len = (b[q]! - 0x20) & 0x3f;
    if (len === 0) {
      // the zero-length line ends the data; an "end" line follows it
      q = next;
      ended = true;
      const ee = lineEnd(b, q, stop);
      if (startsWithEnd(b, q, trimCr(b, q, ee))) q = ee + 1;
      break;
    }
    const have = t - q - 1;
    // a line shorter than its length character says: decode the characters that are there
    const avail = Math.min(len, Math.floor((have * 3) / 4));
    if (avail < len)
      error ??= `uuencoded line at offset ${q} holds fewer characters than its length (${len} bytes) says`;
    let k = q + 1;
    let got = 0;
    while (got < avail) {
      const c0 = (b[k]! - 0x20) & 0x3f;
      const c1 = k + 1 < t ? (b[k + 1]! - 0x20) & 0x3f : 0;
      const c2 = k + 2 < t ? (b[k + 2]! - 0x20) & 0x3f : 0;
      const c3 = k + 3 < t ? (b[k + 3]! - 0x20) & 0x3f : 0;
      const three = [(c0 << 2) | (c1 >> 4), ((c1 & 0xf) << 4) | (c2 >> 2), ((c2 & 3) << 6) | c3];
      for (let j = 0; j < 3 && got < avail; j++, got++) out.push(three[j]! & 0xff);
      k += 4;
    }
    q = next;
  }
  const msg = ended ? error : [error, "uuencoded block has no end line (truncated)"].filter(Boolean).join("; ");
  return {
    data: out.data,
    ...(msg ? { error: msg } : {}),
    name: begin.name,
    start: p,
    end: Math.min(q, stop),
    size: Math.min(q, stop) - first,
  };
}

// ---- BinHex 4.0 ----

export const BINHEX_BANNER = "(This file must be converted with BinHex";
const HQX = "!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr";
const HQX_VALUE = new Int8Array(256).fill(-1);
for (let i = 0; i < 64; i++) HQX_VALUE[HQX.charCodeAt(i)] = i;

/** CRC-16/XMODEM (BinHex's CRC: CCITT polynomial, computed as if two zero bytes followed). */
function crc16(data: Uint8Array, from: number, to: number): number {
  let crc = 0;
  for (let i = from; i < to; i++) {
    crc ^= data[i]! << 8;
    for (let k = 0; k < 8; k++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

export interface BinHexFile {
  name: string;
  /** The data fork, and the resource fork when it is not empty. */
  data: Uint8Array;
  rsrc?: Uint8Array;
  error?: string;
  /** Encoded size (the characters between the colons). */
  size: number;
}

/**
 * Decodes a BinHex 4.0 file whose banner is at `p` (or whose data starts at the first `:`
 * after it): 6-bit characters, then the 0x90 run-length code, then the header (name, type,
 * creator, flags, fork lengths), the data fork and the resource fork, each with its CRC-16.
 * A bad CRC, a fork cut short or a missing closing colon is reported beside what decoded.
 */
export function decodeBinHex(b: Uint8Array, p: number, stop: number, limit: number): BinHexFile {
  let i = b.indexOf(0x3a, p); // ':'
  if (i < 0 || i >= stop)
    return { name: "", data: new Uint8Array(0), error: "BinHex data has no opening colon", size: 0 };
  i++;
  const from = i;
  // six-bit characters -> bytes (no more than there are characters before the closing colon)
  const closing = b.indexOf(0x3a, i);
  const raw = new Uint8Array(Math.ceil((((closing < 0 || closing > stop ? stop : closing) - i) * 3) / 4) + 3);
  let rn = 0;
  let acc = 0;
  let bits = 0;
  let closed = false;
  let bad = -1;
  for (; i < stop; i++) {
    const c = b[i]!;
    if (c === 0x3a) {
      closed = true;
      break;
    }
    const v = HQX_VALUE[c]!;
    if (v < 0) {
      if (isSpace(c)) continue;
      bad = i;
      break;
    }
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      raw[rn++] = (acc >> bits) & 0xff;
    }
  }
  const size = i - from;
  // run-length decoding (0x90 n: repeat the previous byte to n copies in all; 0x90 0: a literal 0x90)
  const max = limit;
  let out = new Uint8Array(Math.min(Math.max(rn * 2, 64), max + 1));
  let n = 0;
  const put = (v: number) => {
    if (n >= max) throw new OutputLimit(limit);
    if (n === out.length) {
      const grown = new Uint8Array(Math.min(out.length * 2, max + 1));
      grown.set(out);
      out = grown;
    }
    out[n++] = v;
  };
  let last = -1;
  for (let k = 0; k < rn; k++) {
    const c = raw[k]!;
    if (c !== 0x90) {
      put(c);
      last = c;
      continue;
    }
    if (k + 1 >= rn) break;
    const count = raw[++k]!;
    if (count === 0) {
      put(0x90);
      last = 0x90;
    } else if (last >= 0) {
      for (let r = 1; r < count; r++) put(last);
    }
  }
  const errors: string[] = [];
  if (bad >= 0) errors.push(`character outside the BinHex alphabet at offset ${bad}`);
  else if (!closed) errors.push("no closing colon (truncated)");
  const d = out.subarray(0, n);
  // header: name length, name, version, type(4), creator(4), flags(2), data length(4), rsrc length(4), crc(2)
  const nameLen = d[0] ?? 0;
  const headerEnd = 1 + nameLen + 1 + 4 + 4 + 2 + 4 + 4;
  if (d.length < headerEnd + 2) {
    errors.push("BinHex header cut short");
    return { name: "", data: new Uint8Array(0), error: errors.join("; "), size };
  }
  const name = Buffer.from(d.buffer, d.byteOffset + 1, nameLen).toString("latin1");
  const view = new DataView(d.buffer, d.byteOffset, d.byteLength);
  const dataLen = view.getUint32(headerEnd - 8);
  const rsrcLen = view.getUint32(headerEnd - 4);
  if (crc16(d, 0, headerEnd) !== view.getUint16(headerEnd)) errors.push("header CRC mismatch");
  const dStart = headerEnd + 2;
  const dEnd = Math.min(dStart + dataLen, d.length);
  if (dEnd < dStart + dataLen) errors.push(`data fork cut short (${dEnd - dStart} of ${dataLen} bytes)`);
  else if (dEnd + 2 <= d.length && crc16(d, dStart, dEnd) !== view.getUint16(dEnd))
    errors.push("data fork CRC mismatch");
  const rStart = dEnd + 2;
  let rsrc: Uint8Array | undefined;
  if (rsrcLen > 0 && rStart < d.length) {
    const rEnd = Math.min(rStart + rsrcLen, d.length);
    if (rEnd < rStart + rsrcLen) errors.push(`resource fork cut short (${rEnd - rStart} of ${rsrcLen} bytes)`);
    rsrc = d.subarray(rStart, rEnd);
  } else if (rsrcLen > 0) errors.push("resource fork missing (truncated)");
  return {
    name,
    data: d.subarray(dStart, dEnd),
    ...(rsrc?.length ? { rsrc } : {}),
    ...(errors.length ? { error: `BinHex damaged: ${errors.join("; ")}` } : {}),
    size,
  };
}

// ---- yEnc ----

/** The `=ybegin ... name=NAME` line at p (yEnc 1.3), or undefined. */
export function yencBeginAt(b: Uint8Array, p: number, end: number): { name: string; size: number } | undefined {
  if (b[p] !== 0x3d || b[p + 1] !== 0x79 || b[p + 2] !== 0x62) return undefined;
  const e = trimCr(b, p, Math.min(lineEnd(b, p, end), p + 1024));
  const line = Buffer.from(b.buffer, b.byteOffset + p, e - p).toString("latin1");
  if (!line.startsWith("=ybegin ")) return undefined;
  const name = /\bname=(.*)$/.exec(line)?.[1]?.trim() ?? "";
  const size = Number(/\bsize=(\d+)/.exec(line)?.[1] ?? Number.NaN);
  return { name, size };
}

/**
 * Decodes the yEnc block whose `=ybegin` line is at `p` (each byte is the character minus 42;
 * `=` escapes the next, minus 64 more), up to its `=yend` line; `=ypart` lines are skipped.
 * A missing `=yend` or a size other than the header's is reported beside what decoded.
 */
export function decodeYenc(b: Uint8Array, p: number, stop: number, limit: number): Decoded & UuBlock {
  const begin = yencBeginAt(b, p, stop)!;
  let q = lineEnd(b, p, stop) + 1;
  const first = q;
  const out = new Output(limit);
  let ended = false;
  while (q < stop) {
    const le = lineEnd(b, q, stop);
    const t = trimCr(b, q, le);
    if (b[q] === 0x3d && b[q + 1] === 0x79) {
      // =yend, =ypart
      const word = Buffer.from(b.buffer, b.byteOffset + q, Math.min(6, t - q)).toString("latin1");
      q = le + 1;
      if (word.startsWith("=yend")) {
        ended = true;
        break;
      }
      continue;
    }
    for (let i = q; i < t; i++) {
      let c = b[i]!;
      if (c === 0x3d && i + 1 < t) c = (b[++i]! - 64) & 0xff;
      out.push((c - 42) & 0xff);
    }
    q = le + 1;
  }
  const errors: string[] = [];
  if (!ended) errors.push("yEnc block has no =yend line (truncated)");
  else if (Number.isFinite(begin.size) && begin.size !== out.n)
    errors.push(`yEnc size is ${out.n} bytes, the header says ${begin.size}`);
  return {
    data: out.data,
    ...(errors.length ? { error: errors.join("; ") } : {}),
    name: begin.name,
    start: p,
    end: Math.min(q, stop),
    size: Math.min(q, stop) - first,
  };
}
