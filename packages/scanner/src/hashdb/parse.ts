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

import { SignatureDbError } from "./error.js";
import { ANY_SIZE, HashStoreBuilder, algorithmForDigestLength } from "./store.js";

export type HashTextFormat = "hdb" | "mdb" | "fp" | "list";

/** FLEVEL of clamscan 1.4.6, which the differential tests compare against. */
export const CLAMAV_FLEVEL = 216;

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
  /** total size of the text, if known: the staging area is sized from the first line's length. */
  expectedBytes?: number;
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

const COLON = 58;
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
        const c = new Uint8Array(this.carry.length + chunk.length);
        c.set(this.carry);
        c.set(chunk, this.carry.length);
        this.carry = c;
        return;
      }
      const c = new Uint8Array(this.carry.length + nl + 1);
      c.set(this.carry);
      c.set(chunk.subarray(0, nl + 1), this.carry.length);
      this.carry = undefined;
      this.lines(c, 0, c.length);
      start = nl + 1;
      buf = chunk;
    }
    const last = buf.lastIndexOf(NL);
    if (last < start) {
      if (start < buf.length) this.carry = buf.slice(start);
      return;
    }
    this.lines(buf, start, last + 1);
    if (last + 1 < buf.length) this.carry = buf.slice(last + 1);
  }

  end(): HashParseStats {
    if (this.carry !== undefined) {
      const c = this.carry;
      this.carry = undefined;
      this.lines(c, 0, c.length);
    }
    return this.stats;
  }

  private lines(buf: Uint8Array, start: number, end: number): void {
    let p = start;
    while (p < end) {
      let e = buf.indexOf(NL, p);
      if (e < 0 || e > end) e = end;
      let le = e;
      if (le > p && buf[le - 1] === CR) le--;
      this.stats.lines++;
      if (le > p && buf[p] !== 35 /* # */) {
        try {
          this.line(buf, p, le);
        } catch (err) {
          if (!(err instanceof LineError)) throw err;
          this.stats.malformed++;
          const lineNo = this.stats.lines;
          if (!this.options.lenient) throw new SignatureDbError(err.code, `${err.message}; fix or delete the line (clamscan also refuses the whole file)`, { path: this.options.path, line: lineNo });
          this.options.onWarning?.(`${this.options.path ?? "<hashes>"}:${lineNo}: ${err.message}; line skipped`, lineNo);
        }
      }
      p = e + 1;
    }
  }

  private line(buf: Uint8Array, p: number, le: number): void {
    if (this.format === "list") return this.listLine(buf, p, le);
    // fields: hash/size (order per format), name, optional min and max FLEVEL
    const mdb = this.format === "mdb";
    let hs: number, he: number, ss: number, se: number;
    if (mdb) {
      ss = p;
      se = ss;
      while (se < le && buf[se] !== COLON) se++;
      hs = se + 1;
      he = hs;
      while (he < le && buf[he] !== COLON) he++;
    } else {
      hs = p;
      he = hs;
      while (he < le && buf[he] !== COLON) he++;
      ss = he + 1;
      se = ss;
      while (se < le && buf[se] !== COLON) se++;
    }
    const ns = (mdb ? he : se) + 1;
    if (ns > le) throw new LineError("SIGDB_MALFORMED_LINE", `expected ${mdb ? "size:hash:name" : "hash:size:name"}[:min_flevel[:max_flevel]]`);
    let ne = ns;
    while (ne < le && buf[ne] !== COLON) ne++;
    if (ne === ns) throw new LineError("SIGDB_MALFORMED_LINE", "empty signature name");
    let minfl = 0;
    let maxfl = Infinity;
    if (ne < le) {
      let e = ne + 1;
      while (e < le && buf[e] !== COLON) e++;
      minfl = decimal(buf, ne + 1, e);
      if (e < le) {
        let e2 = e + 1;
        while (e2 < le && buf[e2] !== COLON) e2++;
        if (e2 < le) throw new LineError("SIGDB_MALFORMED_LINE", "too many ':' separated fields (expected 3 to 5)");
        maxfl = decimal(buf, e + 1, e2);
      }
      if (Number.isNaN(minfl) || Number.isNaN(maxfl)) throw new LineError("SIGDB_MALFORMED_LINE", "FLEVEL fields must be decimal numbers");
    }
    let size: number;
    if (se - ss === 1 && buf[ss] === 42 /* * */) {
      if (minfl < 73) throw new LineError("SIGDB_BAD_SIZE", "size '*' needs a min_flevel field of at least 73 (e.g. HASH:*:NAME:73)");
      size = ANY_SIZE;
    } else {
      size = decimal(buf, ss, se);
      if (Number.isNaN(size) || size === 0 || size >= ANY_SIZE) throw new LineError("SIGDB_BAD_SIZE", "size must be a decimal from 1 to 4294967294, or '*'");
    }
    const algo = this.decodeHash(buf, hs, he);
    if (minfl > this.flevel || maxfl < this.flevel) {
      this.stats.skippedFlevel++;
      return;
    }
    if (this.options.ignore !== undefined) {
      const name = utf8.decode(buf.subarray(ns, ne));
      if (this.options.ignore(name, utf8.decode(buf.subarray(p, le)))) {
        this.stats.ignored++;
        return;
      }
    }
    const nameIndex = this.builder.internName(buf, ns, ne, this.suffix);
    this.builder.addRaw(this.scratch, 0, algo, size, nameIndex);
    this.stats.loaded++;
    if (this.stats.loaded === 1 && this.options.expectedBytes !== undefined) this.builder.expect(algo, (this.options.expectedBytes / (le - p + 1)) * 1.02);
  }

  private listLine(buf: Uint8Array, p: number, le: number): void {
    while (p < le && (buf[p] === 32 || buf[p] === 9)) p++;
    if (p === le) return;
    let he = p;
    while (he < le && HEX[buf[he]!]! >= 0) he++;
    if (he < le && buf[he] !== 32 && buf[he] !== 9 && buf[he] !== COLON && buf[he] !== 44) throw new LineError("SIGDB_BAD_HASH", "expected a 32, 40 or 64 digit hex hash at the start of the line");
    const algo = this.decodeHash(buf, p, he);
    let ns = he;
    while (ns < le && (buf[ns] === 32 || buf[ns] === 9 || buf[ns] === COLON || buf[ns] === 44)) ns++;
    let ne = le;
    while (ne > ns && (buf[ne - 1] === 32 || buf[ne - 1] === 9)) ne--;
    let nameIndex: number;
    if (ne > ns) {
      if (this.options.ignore !== undefined && this.options.ignore(utf8.decode(buf.subarray(ns, ne)), utf8.decode(buf.subarray(p, le)))) {
        this.stats.ignored++;
        return;
      }
      nameIndex = this.builder.internName(buf, ns, ne, this.suffix);
    } else {
      if (this.defaultNameIndex < 0) this.defaultNameIndex = this.builder.internName(this.defaultName, 0, this.defaultName.length, this.suffix);
      nameIndex = this.defaultNameIndex;
    }
    this.builder.addRaw(this.scratch, 0, algo, ANY_SIZE, nameIndex);
    this.stats.loaded++;
  }

  private decodeHash(buf: Uint8Array, hs: number, he: number): "md5" | "sha1" | "sha256" {
    const n = he - hs;
    const algo = n % 2 === 0 ? algorithmForDigestLength(n / 2) : undefined;
    if (algo === undefined) throw new LineError("SIGDB_BAD_HASH", `a hash must be 32 (md5), 40 (sha1) or 64 (sha256) hex digits, got ${n} characters`);
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

function decimal(buf: Uint8Array, s: number, e: number): number {
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
export function parseHashText(builder: HashStoreBuilder, format: HashTextFormat, text: Uint8Array | string, options: HashParseOptions = {}): HashParseStats {
  const p = new HashTextParser(builder, format, options);
  p.push(typeof text === "string" ? new TextEncoder().encode(text) : text);
  return p.end();
}
