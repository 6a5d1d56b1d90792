/**
 * Streaming parsers for hash-signature text: ClamAV `.hdb/.hsb` (`hash:size:name[:minfl[:maxfl]]`),
 * `.mdb/.msb` (`size:hash:name[:minfl[:maxfl]]`), `.fp/.sfp` (same as `.hdb`, an allow list) and
 * plain hash lists (one md5/sha1/sha256 per line, optionally followed by whitespace, `:` or `,`
 * and a name). They work on bytes, chunk by chunk, straight into a `HashStoreBuilder`: no string
 * is made per line unless an ignore list has to see the name.
 *
 * ClamAV rules kept: `#` starts a comment line; the hash length picks the algorithm; the size is
 * a decimal in 1..2^32-2 or `*` (which needs min_flevel >= 73, else the line is malformed); lines
 * whose FLEVEL range excludes the engine's (`flevel`, default 216 as clamscan 1.4.6) are skipped.
 * Differences: blank lines are skipped (clamscan rejects the file); with `lenient` a malformed
 * line is skipped with a warning instead of failing the whole file as clamscan does.
 */

import { ClamavError } from "../error.js";
import { FLEVEL } from "../signature/fields.js";
import {
  ANY_SIZE,
  type HashStoreBuilder,
  algorithmForDigestLength,
  type HashAlgorithm,
  type StagePart,
} from "../stores/hashdb/store.js";

export type HashTextFormat = "hdb" | "mdb" | "fp" | "list";

/** FLEVEL of clamscan 1.4.6, which the differential tests compare against. */
export const CLAMAV_FLEVEL = FLEVEL;

export interface HashParseOptions {
  /** shown in errors and warnings. */
  path?: string;
  /** engine functionality level used for the min/max FLEVEL fields (default 216). */
  flevel?: number;
  /** appended to every name (".UNOFFICIAL" for ClamAV files not from a signed CVD). */
  suffix?: string;
  /** name for plain-list lines that have none. */
  defaultName?: string;
  /** drop signatures whose name this returns true for (the `.ign2` list); `line` is the whole line. */
  ignore?: (name: string, line: string) => boolean;
  /** skip malformed lines with a warning instead of throwing. */
  lenient?: boolean;
  onWarning?: (message: string, line: number) => void;
  /** total size of the text, if known: the staging area is sized from the average length of the first lines. */
  expectedBytes?: number;
  /** average line length of the text, if known (sampled across a file): a better basis for that estimate than the first lines. */
  averageLineLength?: number;
}

export interface HashParseStats {
  lines: number;
  loaded: number;
  skippedFlevel: number;
  ignored: number;
  malformed: number;
}

const HEX = (() => {
  const t = new Int8Array(256).fill(-1);
  for (let i = 0; i < 10; i++) t[48 + i] = i;
  for (let i = 0; i < 6; i++) {
    t[65 + i] = 10 + i;
    t[97 + i] = 10 + i;
  }
  return t;
})();

const HEX2 = (() => {
  const t = new Int16Array(65536).fill(-1);
  for (let a = 0; a < 256; a++)
    for (let b = 0; b < 256; b++) if (HEX[a]! >= 0 && HEX[b]! >= 0) t[(a << 8) | b] = (HEX[a]! << 4) | HEX[b]!;
  return t;
})();

const COLON = 58;
/** signatures read before the builder is pre-sized from the average line length. */
const ESTIMATE_AFTER = 2048;
const MAX_LINE = 1 << 20;
const NL = 10;
const CR = 13;
const utf8 = new TextDecoder("utf-8");

class LineError extends Error {
  constructor(
    readonly code: "SIGDB_MALFORMED_LINE" | "SIGDB_BAD_HASH" | "SIGDB_BAD_SIZE",
    message: string,
  ) {
    super(message);
  }
}

/** Feeds text in chunks (`push`), then `end()`; signatures go into the builder. */
export class HashTextParser {
  readonly stats: HashParseStats = { lines: 0, loaded: 0, skippedFlevel: 0, ignored: 0, malformed: 0 };
  private carry: Uint8Array | undefined;
  private pos = 0;
  /** digest length of the entry stageHash last started. */
  private slotLength = 0;
  /** bytes pushed before the buffer being parsed, and that buffer's offset in the text (for the size estimate). */
  private consumed = 0;
  private bufBase = 0;
  /** open-addressing table of raw names: [2k] name index (-1 when empty), [2k + 1] its hash, side by side so a probe is one cache miss. */
  private readonly scratch = new Uint8Array(32);
  private readonly suffix: Uint8Array | undefined;
  private readonly defaultName: Uint8Array;
  private readonly flevel: number;
  private defaultNameIndex = -1;

  constructor(
    private readonly builder: HashStoreBuilder,
    private readonly format: HashTextFormat,
    private readonly options: HashParseOptions = {},
  ) {
    const enc = new TextEncoder();
    this.suffix = options.suffix ? enc.encode(options.suffix) : undefined;
    this.defaultName = enc.encode(options.defaultName ?? "HashList.Match");
    this.flevel = options.flevel ?? CLAMAV_FLEVEL;
  }

  push(chunk: Uint8Array): void {
    let buf = chunk;
    let start = 0;
    if (this.carry !== undefined) {
      const nl = chunk.indexOf(NL);
      if (nl < 0) {
        if (this.carry.length + chunk.length > MAX_LINE)
          throw new ClamavError(
            "SIGDB_MALFORMED_LINE",
            `a line longer than ${MAX_LINE} bytes: not a hash signature file`,
            { path: this.options.path, line: this.stats.lines + 1 },
          );
        const c = new Uint8Array(this.carry.length + chunk.length);
        c.set(this.carry);
        c.set(chunk, this.carry.length);
        this.carry = c;
        this.consumed += chunk.length;
        return;
      }
      const c = new Uint8Array(this.carry.length + nl + 1);
      c.set(this.carry);
      c.set(chunk.subarray(0, nl + 1), this.carry.length);
      this.bufBase = this.consumed - this.carry.length;
      this.carry = undefined;
      this.lines(c, 0, c.length);
      start = nl + 1;
      buf = chunk;
    }
    const last = buf.lastIndexOf(NL);
    this.bufBase = this.consumed;
    this.consumed += chunk.length;
    if (last < start) {
      if (buf.length - start > MAX_LINE)
        throw new ClamavError(
          "SIGDB_MALFORMED_LINE",
          `a line longer than ${MAX_LINE} bytes: not a hash signature file`,
          { path: this.options.path, line: this.stats.lines + 1 },
        );
      if (start < buf.length) this.carry = buf.slice(start);
      return;
    }
    this.lines(buf, start, last + 1);
    if (last + 1 < buf.length) this.carry = buf.slice(last + 1);
  }

  end(): HashParseStats {
    if (this.carry !== undefined) {
      const c = new Uint8Array(this.carry.length + 1);
      c.set(this.carry);
      c[c.length - 1] = NL;
      this.carry = undefined;
      this.lines(c, 0, c.length);
    }
    return this.stats;
  }

  /** Parses the lines of buf[start..end), where buf[end-1] is a newline. */
  private lines(buf: Uint8Array, start: number, end: number): void {
    let p = start;
    const stats = this.stats;
    const plain = this.format === "list";
    while (p < end) {
      stats.lines++;
      const c = buf[p]!;
      if (c === NL) {
        p++;
        continue;
      }
      if (c === 35 /* # */ || (c === CR && buf[p + 1] === NL)) {
        p = buf.indexOf(NL, p) + 1;
        continue;
      }
      try {
        p = plain ? this.listLine(buf, p, buf.indexOf(NL, p)) : this.line(buf, p);
      } catch (err) {
        if (!(err instanceof LineError)) throw err;
        stats.malformed++;
        const lineNo = stats.lines;
        if (!this.options.lenient)
          throw new ClamavError(
            err.code,
            `${err.message}; fix or delete the line (clamscan also refuses the whole file)`,
            { path: this.options.path, line: lineNo },
          );
        this.options.onWarning?.(`${this.options.path ?? "<hashes>"}:${lineNo}: ${err.message}; line skipped`, lineNo);
        p = buf.indexOf(NL, p) + 1;
      }
    }
  }

  /** One `.hdb/.fp` or `.mdb` line starting at p; returns the start of the next line. */
  private line(buf: Uint8Array, p: number): number {
    const mdb = this.format === "mdb";
    let j = p;
    let size: number;
    let algoLen: number;
    let slot: StagePart | undefined;
    if (mdb) {
      size = this.sizeField(buf, j);
      j = this.pos + 1;
      algoLen = this.hashField(buf, j);
      j = this.pos;
    } else {
      slot = this.stageHash(buf, j);
      algoLen = slot === undefined ? this.hashField(buf, j) : this.slotLength;
      size = this.sizeField(buf, this.pos + 1);
      j = this.pos;
    }
    const anySize = size < 0;
    const algo = algoLen === 32 ? "sha256" : algoLen === 20 ? "sha1" : "md5";
    // name, hashed while scanning (FNV-1a, as internName expects)
    const ns = ++j;
    let h = 0x811c9dc5;
    for (;;) {
      const c = buf[j]!;
      if (c === COLON || c === NL || c === CR) break;
      h = Math.imul(h ^ c, 0x01000193);
      j++;
    }
    const ne = j;
    if (ne === ns) throw new LineError("SIGDB_MALFORMED_LINE", "empty signature name");
    let minfl = 0;
    let maxfl = Infinity;
    if (buf[j] === COLON) {
      minfl = this.flField(buf, j + 1);
      j = this.pos;
      if (buf[j] === COLON) {
        maxfl = this.flField(buf, j + 1);
        j = this.pos;
      }
      if (buf[j] === COLON)
        throw new LineError("SIGDB_MALFORMED_LINE", "too many ':' separated fields (expected 3 to 5)");
    }
    if (buf[j] === CR) j++;
    if (buf[j] !== NL) throw new LineError("SIGDB_MALFORMED_LINE", "unexpected character after the last field");
    if (anySize && minfl < 73)
      throw new LineError("SIGDB_BAD_SIZE", "size '*' needs a min_flevel field of at least 73 (e.g. HASH:*:NAME:73)");
    if (minfl > this.flevel || maxfl < this.flevel) {
      this.stats.skippedFlevel++;
      return j + 1;
    }
    if (this.options.ignore !== undefined) {
      const lineEnd = buf[j - 1] === CR ? j - 1 : j;
      if (this.options.ignore(utf8.decode(buf.subarray(ns, ne)), utf8.decode(buf.subarray(p, lineEnd)))) {
        this.stats.ignored++;
        return j + 1;
      }
    }
    const nameIndex = this.intern(buf, ns, ne, h);
    if (slot !== undefined) this.builder.commitSlot(slot, anySize ? ANY_SIZE : size, nameIndex);
    else this.builder.addRaw(this.scratch, 0, algo, anySize ? ANY_SIZE : size, nameIndex);
    this.stats.loaded++;
    if (this.stats.loaded === ESTIMATE_AFTER && this.options.expectedBytes !== undefined)
      this.reserve(algo, this.bufBase + j + 1);
    return j + 1;
  }

  /**
   * Pre-sizes the builder for the rest of the text once ESTIMATE_AFTER signatures are in, from
   * the average line length so far (one line alone can be far from the average).
   */
  private reserve(algo: HashAlgorithm, bytesSoFar: number): void {
    const left = this.options.expectedBytes! - bytesSoFar;
    if (left <= 0) return;
    const lineLength = this.options.averageLineLength ?? bytesSoFar / this.stats.lines;
    this.builder.expect(algo, (left / lineLength) * (this.stats.loaded / this.stats.lines));
  }

  /** Name index of buf[ns..ne) (+ this parser's suffix); `h` is the FNV-1a hash of the name's bytes. */
  private intern(buf: Uint8Array, ns: number, ne: number, h: number): number {
    return this.builder.internNameHashed(buf, ns, ne, h, this.suffix);
  }

  /**
   * The common case of a `.hdb` hash field, decoded straight into the builder's staging area: a
   * hash of exactly 32, 40 or 64 hex digits followed by ':'. Returns the part holding the entry
   * (to commit once the rest of the line is valid) and sets pos and slotLength, or undefined for
   * anything else, which hashField then reads or reports.
   */
  private stageHash(buf: Uint8Array, j: number): StagePart | undefined {
    const L = buf[j + 32] === COLON ? 16 : buf[j + 40] === COLON ? 20 : buf[j + 64] === COLON ? 32 : 0;
    if (L === 0) return undefined;
    const b0 = HEX2[(buf[j]! << 8) | buf[j + 1]!]!;
    const b1 = HEX2[(buf[j + 2]! << 8) | buf[j + 3]!]!;
    const b2 = HEX2[(buf[j + 4]! << 8) | buf[j + 5]!]!;
    const b3 = HEX2[(buf[j + 6]! << 8) | buf[j + 7]!]!;
    const b4 = HEX2[(buf[j + 8]! << 8) | buf[j + 9]!]!;
    const b5 = HEX2[(buf[j + 10]! << 8) | buf[j + 11]!]!;
    if ((b0 | b1 | b2 | b3 | b4 | b5) < 0) return undefined;
    const part = this.builder.stageSlot(L === 32 ? "sha256" : L === 20 ? "sha1" : "md5", b0);
    const i = part.count;
    part.second[i] = b1;
    part.keys[i] = ((b2 << 24) | (b3 << 16) | (b4 << 8) | b5) >>> 0;
    const rest = part.rest;
    let o = i * (L - 6);
    const end = j + 2 * L;
    let bad = 0;
    for (let k = j + 12; k < end; k += 2) {
      const v = HEX2[(buf[k]! << 8) | buf[k + 1]!]!;
      bad |= v;
      rest[o++] = v;
    }
    if (bad < 0) return undefined;
    this.pos = end;
    this.slotLength = L;
    return part;
  }

  /** Decodes hex at j into scratch; returns the digest length (16, 20 or 32) and sets pos to the ':' after it. */
  private hashField(buf: Uint8Array, j: number): number {
    const out = this.scratch;
    let i = 0;
    while (i < 32) {
      const v = HEX2[(buf[j]! << 8) | buf[j + 1]!]!;
      if (v < 0) break;
      out[i++] = v;
      j += 2;
    }
    if (buf[j] !== COLON) {
      if (buf[j] === NL || buf[j] === CR)
        throw new LineError("SIGDB_MALFORMED_LINE", "expected hash:size:name (or size:hash:name for .mdb)");
      throw new LineError(
        "SIGDB_BAD_HASH",
        "a hash must be 32 (md5), 40 (sha1) or 64 (sha256) hex digits followed by ':'",
      );
    }
    if (i !== 16 && i !== 20 && i !== 32)
      throw new LineError(
        "SIGDB_BAD_HASH",
        `a hash must be 32 (md5), 40 (sha1) or 64 (sha256) hex digits, got ${2 * i}`,
      );
    this.pos = j;
    return i;
  }

  /** Reads a size at j: the value, or -1 for '*'; sets pos to the ':' after it. */
  private sizeField(buf: Uint8Array, j: number): number {
    if (buf[j] === 42 /* * */ && buf[j + 1] === COLON) {
      this.pos = j + 1;
      return -1;
    }
    let v = 0;
    const s = j;
    for (;;) {
      const c = buf[j]! - 48;
      if (c < 0 || c > 9) break;
      v = v * 10 + c;
      j++;
    }
    if (buf[j] !== COLON)
      throw new LineError(
        buf[j] === NL || buf[j] === CR ? "SIGDB_MALFORMED_LINE" : "SIGDB_BAD_SIZE",
        buf[j] === NL || buf[j] === CR
          ? "expected hash:size:name (or size:hash:name for .mdb)"
          : "size must be a decimal from 1 to 4294967294, or '*'",
      );
    if (j === s || j - s > 10 || v === 0 || v >= ANY_SIZE)
      throw new LineError("SIGDB_BAD_SIZE", "size must be a decimal from 1 to 4294967294, or '*'");
    this.pos = j;
    return v;
  }

  private flField(buf: Uint8Array, j: number): number {
    let v = 0;
    const s = j;
    for (;;) {
      const c = buf[j]! - 48;
      if (c < 0 || c > 9) break;
      v = v * 10 + c;
      j++;
    }
    if (j === s || j - s > 9) throw new LineError("SIGDB_MALFORMED_LINE", "FLEVEL fields must be decimal numbers");
    this.pos = j;
    return v;
  }

  private listLine(buf: Uint8Array, p: number, nl: number): number {
    const next = nl + 1;
    const le = nl > p && buf[nl - 1] === CR ? nl - 1 : nl;
    while (p < le && (buf[p] === 32 || buf[p] === 9)) p++;
    if (p === le) return next;
    let he = p;
    while (he < le && HEX[buf[he]!]! >= 0) he++;
    if (he < le && buf[he] !== 32 && buf[he] !== 9 && buf[he] !== COLON && buf[he] !== 44)
      throw new LineError("SIGDB_BAD_HASH", "expected a 32, 40 or 64 digit hex hash at the start of the line");
    const algo = this.decodeHash(buf, p, he);
    let ns = he;
    while (ns < le && (buf[ns] === 32 || buf[ns] === 9 || buf[ns] === COLON || buf[ns] === 44)) ns++;
    let ne = le;
    while (ne > ns && (buf[ne - 1] === 32 || buf[ne - 1] === 9)) ne--;
    let nameIndex: number;
    if (ne > ns) {
      if (this.options.ignore?.(utf8.decode(buf.subarray(ns, ne)), utf8.decode(buf.subarray(p, le)))) {
        this.stats.ignored++;
        return next;
      }
      nameIndex = this.builder.internName(buf, ns, ne, this.suffix);
    } else {
      if (this.defaultNameIndex < 0)
        this.defaultNameIndex = this.builder.internName(this.defaultName, 0, this.defaultName.length, this.suffix);
      nameIndex = this.defaultNameIndex;
    }
    this.builder.addRaw(this.scratch, 0, algo, ANY_SIZE, nameIndex);
    this.stats.loaded++;
    return next;
  }

  private decodeHash(buf: Uint8Array, hs: number, he: number): "md5" | "sha1" | "sha256" {
    const n = he - hs;
    const algo = n % 2 === 0 ? algorithmForDigestLength(n / 2) : undefined;
    if (algo === undefined)
      throw new LineError(
        "SIGDB_BAD_HASH",
        `a hash must be 32 (md5), 40 (sha1) or 64 (sha256) hex digits, got ${n} characters`,
      );
    const out = this.scratch;
    const L = n >>> 1;
    for (let i = 0, j = hs; i < L; i++, j += 2) {
      const hi = HEX[buf[j]!]!;
      const lo = HEX[buf[j + 1]!]!;
      if ((hi | lo) < 0) throw new LineError("SIGDB_BAD_HASH", "the hash contains a character that is not a hex digit");
      out[i] = (hi << 4) | lo;
    }
    return algo;
  }
}

function _decimal(buf: Uint8Array, s: number, e: number): number {
  if (e <= s || e - s > 10) return NaN;
  let v = 0;
  for (let i = s; i < e; i++) {
    const c = buf[i]! - 48;
    if (c < 0 || c > 9) return NaN;
    v = v * 10 + c;
  }
  return v;
}

/** Parses one whole text (bytes or string) into the builder. */
export function parseHashText(
  builder: HashStoreBuilder,
  format: HashTextFormat,
  text: Uint8Array | string,
  options: HashParseOptions = {},
): HashParseStats {
  const p = new HashTextParser(builder, format, options);
  p.push(typeof text === "string" ? new TextEncoder().encode(text) : text);
  return p.end();
}
