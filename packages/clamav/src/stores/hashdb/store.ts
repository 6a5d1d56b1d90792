/**
 * The hash-signature store: md5, sha1 and sha256 digests, each with a file (or section) size or
 * "any size", and a detection name.
 *
 * Layout (per algorithm, after `HashStoreBuilder.finish()`): the leading bits of the digest
 * select a bucket (`bucketStart`: 2^16 buckets, or more for big tables, about 8 entries each, so
 * at most ~0.5 byte per entry); within a bucket entries keep load order. Per entry: digest bytes
 * 2..5 as a `Uint32Array` key, the remaining bytes in one `Uint8Array` (`rest`: 26 per sha256,
 * 14 per sha1, 10 per md5; bytes 0..1 are implied by the bucket), a `Uint32Array` of sizes
 * (ANY_SIZE = 0xffffffff for `*`) and a name index (`Uint16Array` while there are at most 65,536
 * distinct names, else `Uint32Array`). These columns are kept per first digest byte (256
 * `HashPart`s), because that is how the builder stages entries as they arrive: `finish()` then
 * reorders each part in place instead of copying the whole table once more. Names are interned
 * once as UTF-8 in one blob with offsets and decoded only when a lookup hits. No JS object or
 * string exists per signature: a sha256 entry costs 36 or 38 bytes plus its share of the bucket
 * table and name blob.
 *
 * A lookup is a bucket index plus a scan of that bucket's keys (a cache line or two), then the
 * rest of the digest and the size for a key that matches.
 */

import { ClamavError } from "../../error.js";
import { StagingHelper, type FreezeJob, type PrefaultRegion } from "./helper.js";

export type HashAlgorithm = "md5" | "sha1" | "sha256";
export const HASH_ALGORITHMS: readonly HashAlgorithm[] = ["md5", "sha1", "sha256"];
export const DIGEST_LENGTH: Readonly<Record<HashAlgorithm, number>> = { md5: 16, sha1: 20, sha256: 32 };
/** The size value that stands for ClamAV's `*`: the signature matches a digest of any size. */
export const ANY_SIZE = 0xffffffff;

function digestLength(a: HashAlgorithm): number {
  return a === "sha256" ? 32 : a === "sha1" ? 20 : 16;
}

export function algorithmForDigestLength(bytes: number): HashAlgorithm | undefined {
  return bytes === 16 ? "md5" : bytes === 20 ? "sha1" : bytes === 32 ? "sha256" : undefined;
}

/** Digests of one file (or section), raw bytes or hex; give those the store asks for (`algorithms`). */
export type Digests = Partial<Record<HashAlgorithm, Uint8Array | string>>;

export interface HashMatch {
  readonly name: string;
  readonly algorithm: HashAlgorithm;
  /** the signature's size field (ANY_SIZE for `*`). */
  readonly size: number;
}

/** Buckets for n entries: about 8 entries a bucket, from 2^16 to 2^24 buckets (at most ~0.5 byte per entry past 512k). */
export function bucketBitsFor(n: number): number {
  let bits = 16;
  while (bits < 24 && n > 8 << bits) bits++;
  return bits;
}
const decoder = new TextDecoder("utf-8");

const HEX_VALUE = (() => {
  const t = new Int8Array(256).fill(-1);
  for (let i = 0; i < 10; i++) t[48 + i] = i;
  for (let i = 0; i < 6; i++) {
    t[65 + i] = 10 + i;
    t[97 + i] = 10 + i;
  }
  return t;
})();

/** Decodes hex text to bytes; undefined if it is not an even number of hex digits. */
export function hexToBytes(hex: string): Uint8Array | undefined {
  if (hex.length % 2 !== 0) return undefined;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = HEX_VALUE[hex.charCodeAt(2 * i) & 0xff]!;
    const lo = HEX_VALUE[hex.charCodeAt(2 * i + 1) & 0xff]!;
    if (hi < 0 || lo < 0 || hex.charCodeAt(2 * i) > 0xff || hex.charCodeAt(2 * i + 1) > 0xff) return undefined;
    out[i] = (hi << 4) | lo;
  }
  return out;
}

/**
 * One first-byte partition of a table: the entries whose digest starts with one byte value, in
 * bucket order (load order within a bucket). Per entry: digest bytes 2..5 as a key, the bytes
 * after them (`rest`, restLength each), the size and the name index.
 */
export interface HashPart {
  readonly keys: Uint32Array;
  readonly rest: Uint8Array;
  readonly sizes: Uint32Array;
  readonly nameIndex: Uint16Array | Uint32Array;
}

/**
 * The frozen table of one algorithm: entries grouped in buckets by their leading digest bits, in
 * load order within a bucket. The entries of each first-byte value live in their own arrays (a
 * `HashPart`), so the builder can stage them in place and `finish()` needs no second copy of
 * the table; entry indexes (`find`) count across the 256 parts in order, as in the compiled form.
 */
export class HashTable {
  readonly algorithm: HashAlgorithm;
  readonly restLength: number;
  /** log2 of the bucket count: 16 up to ~512k entries, then one more bit per doubling, at most 24. */
  readonly bucketBits: number;
  /** bucket bits within a part (bucketBits - 8). */
  private readonly partBits: number;
  /** index of each part's first entry (257): a small copy of every 2^partBits-th bucket start, which stays in cache. */
  private readonly partBase: Uint32Array;
  constructor(
    algorithm: HashAlgorithm,
    readonly count: number,
    /** first entry index of each bucket (2^bucketBits + 1, the last is `count`). */
    readonly bucketStart: Uint32Array,
    /** 256 parts, one per first digest byte. */
    readonly parts: readonly HashPart[],
    /** bytes per name index: 2 while the store has at most 65,536 names, else 4. */
    readonly nameIndexWidth: 2 | 4,
  ) {
    this.algorithm = algorithm;
    this.restLength = digestLength(algorithm) - 6;
    this.bucketBits = Math.log2(bucketStart.length - 1);
    this.partBits = this.bucketBits - 8;
    this.partBase = new Uint32Array(257);
    for (let p = 0; p <= 256; p++) this.partBase[p] = bucketStart[p << this.partBits]!;
  }

  get byteLength(): number {
    let n = this.bucketStart.byteLength;
    for (const p of this.parts)
      n += p.keys.byteLength + p.rest.byteLength + p.sizes.byteLength + p.nameIndex.byteLength;
    return n;
  }

  /** Index of the first entry at or after `from` whose digest equals `d` and whose size fits `size`, or -1. */
  find(d: Uint8Array, size: number, from = 0): number {
    const R = this.restLength;
    if (d.length !== R + 6) return -1;
    const b = ((d[0]! << 16) | (d[1]! << 8) | d[2]!) >>> (24 - this.bucketBits);
    const key = ((d[2]! << 24) | (d[3]! << 16) | (d[4]! << 8) | d[5]!) >>> 0;
    const part = this.parts[d[0]!]!;
    const base = this.partBase[d[0]!]!;
    const keys = part.keys;
    const rest = part.rest;
    const end = this.bucketStart[b + 1]! - base;
    for (let i = Math.max(this.bucketStart[b]!, from) - base; i < end; i++) {
      if (keys[i] !== key) continue;
      const o = i * R;
      let k = 0;
      while (k < R && rest[o + k] === d[k + 6]) k++;
      if (k < R) continue;
      const s = part.sizes[i]!;
      if (s === ANY_SIZE || s === size) return base + i;
    }
    return -1;
  }

  /** Indexes of every entry whose digest equals `d` and whose size fits `size` (for all-match scans). */
  findAll(d: Uint8Array, size: number): number[] {
    const out: number[] = [];
    for (let i = this.find(d, size); i >= 0; i = this.find(d, size, i + 1)) out.push(i);
    return out;
  }

  /** The size field (ANY_SIZE for `*`) of entry `i`, found by `find` for a digest starting with byte `first`. */
  sizeAt(i: number, first: number): number {
    return this.parts[first]!.sizes[i - this.partBase[first]!]!;
  }

  /** The name index of entry `i`, found by `find` for a digest starting with byte `first`. */
  nameIndexAt(i: number, first: number): number {
    return this.parts[first]!.nameIndex[i - this.partBase[first]!]!;
  }
}

/** The names of a store, interned: one UTF-8 blob and `count + 1` offsets. */
export class NameTable {
  private readonly cache = new Map<number, string>();
  constructor(
    readonly blob: Uint8Array,
    readonly offsets: Uint32Array,
  ) {}
  get count(): number {
    return this.offsets.length - 1;
  }
  get(i: number): string {
    let s = this.cache.get(i);
    if (s === undefined) {
      s = decoder.decode(this.blob.subarray(this.offsets[i], this.offsets[i + 1]));
      if (this.cache.size < 65536) this.cache.set(i, s);
    }
    return s;
  }
}

export class HashStore {
  constructor(
    readonly tables: Readonly<Partial<Record<HashAlgorithm, HashTable>>>,
    readonly names: NameTable,
  ) {}

  static empty(): HashStore {
    return new HashStore({}, new NameTable(new Uint8Array(0), new Uint32Array(1)));
  }

  /** Number of signatures held. */
  get count(): number {
    let n = 0;
    for (const a of HASH_ALGORITHMS) n += this.tables[a]?.count ?? 0;
    return n;
  }

  /** Memory held by the tables and names, in bytes. */
  get byteLength(): number {
    let n = this.names.blob.byteLength + this.names.offsets.byteLength;
    for (const a of HASH_ALGORITHMS) n += this.tables[a]?.byteLength ?? 0;
    return n;
  }

  /** The algorithms with at least one signature: compute only these digests per file. */
  get algorithms(): HashAlgorithm[] {
    return HASH_ALGORITHMS.filter((a) => (this.tables[a]?.count ?? 0) > 0);
  }

  /** The first signature matching one of the digests at this size, or undefined. */
  lookup(digests: Digests, size: number): HashMatch | undefined {
    for (const a of HASH_ALGORITHMS) {
      const d = digests[a];
      if (d === undefined) continue;
      const m = this.lookupDigest(a, d, size);
      if (m !== undefined) return m;
    }
    return undefined;
  }

  /** Looks one digest up (raw bytes or hex); `size` is the file's (or section's) size in bytes. */
  lookupDigest(algorithm: HashAlgorithm, digest: Uint8Array | string, size: number): HashMatch | undefined {
    const t = this.tables[algorithm];
    if (t === undefined) return undefined;
    const d = typeof digest === "string" ? hexToBytes(digest) : digest;
    if (d === undefined) return undefined;
    const i = t.find(d, size);
    if (i < 0) return undefined;
    return { name: this.names.get(t.nameIndexAt(i, d[0]!)), algorithm, size: t.sizeAt(i, d[0]!) };
  }

  /** Every signature matching the digest at this size (clamscan --allmatch reports each). */
  lookupAllDigest(algorithm: HashAlgorithm, digest: Uint8Array | string, size: number): HashMatch[] {
    const t = this.tables[algorithm];
    if (t === undefined) return [];
    const d = typeof digest === "string" ? hexToBytes(digest) : digest;
    if (d === undefined) return [];
    return t
      .findAll(d, size)
      .map((i) => ({ name: this.names.get(t.nameIndexAt(i, d[0]!)), algorithm, size: t.sizeAt(i, d[0]!) }));
  }

  /** True when a digest (any size) is present: for allow lists, where only presence counts. */
  has(digests: Digests, size: number): boolean {
    return this.lookup(digests, size) !== undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Building

/**
 * Staged entries whose digests start with one byte value, already in the final per-entry form
 * (key, rest, size, name index) plus digest byte 1, which `finish()` needs to find the bucket.
 * `finish()` reorders a part in place and keeps its arrays as the table's part, so the memory
 * written while parsing is the memory the store ends up in (on small VMs first-touching memory
 * costs as much as the parsing itself).
 */
export class StagePart {
  count = 0;
  keys: Uint32Array;
  second: Uint8Array;
  rest: Uint8Array;
  sizes: Uint32Array;
  names: Uint16Array | Uint32Array;
  constructor(
    readonly R: number,
    capacity: number,
    wide: boolean,
    /** the staging of this part's algorithm (its total count). */
    readonly owner: { count: number },
  ) {
    this.keys = new Uint32Array(capacity);
    this.second = new Uint8Array(capacity);
    this.rest = new Uint8Array(capacity * R);
    this.sizes = new Uint32Array(capacity);
    this.names = wide ? new Uint32Array(capacity) : new Uint16Array(capacity);
  }
  get capacity(): number {
    return this.keys.length;
  }
  /** Moves the entries to new arrays with room for `cap`. */
  resize(cap: number): void {
    const wide = this.names instanceof Uint32Array;
    this.moveTo(
      new Uint32Array(cap),
      new Uint8Array(cap),
      new Uint8Array(cap * this.R),
      new Uint32Array(cap),
      wide ? new Uint32Array(cap) : new Uint16Array(cap),
    );
  }
  /** Moves the entries to the given arrays (all of one capacity, names of the same width). */
  moveTo(
    keys: Uint32Array,
    second: Uint8Array,
    rest: Uint8Array,
    sizes: Uint32Array,
    names: Uint16Array | Uint32Array,
  ): void {
    const n = this.count;
    keys.set(this.keys.subarray(0, n));
    second.set(this.second.subarray(0, n));
    rest.set(this.rest.subarray(0, n * this.R));
    sizes.set(this.sizes.subarray(0, n));
    names.set(this.names.subarray(0, n));
    this.keys = keys;
    this.second = second;
    this.rest = rest;
    this.sizes = sizes;
    this.names = names;
  }
  /** Switches the name indexes to 32 bits. */
  widen(): void {
    const nm = new Uint32Array(this.capacity);
    nm.set(this.names.subarray(0, this.count));
    this.names = nm;
  }
}

/** Reservations of at least this many entries are staged on shared memory, with a helper thread (helper.ts). */
const PREFAULT_MIN_ENTRIES = 1 << 20;

/** Entries of one algorithm as they are added, split by their first digest byte. */
class Staging {
  count = 0;
  readonly parts: StagePart[];
  readonly R: number;
  /** the helper thread of the last big reservation. */
  helper: StagingHelper | undefined;
  constructor(
    readonly algorithm: HashAlgorithm,
    wide: boolean,
  ) {
    this.R = digestLength(algorithm) - 6;
    this.parts = Array.from({ length: 256 }, () => new StagePart(this.R, 0, wide, this));
  }
  /**
   * Makes room for `count` more entries, spread evenly over the parts (digests are uniform), with
   * a margin of four standard deviations so that almost no part has to grow again. Room that is
   * never written costs address space only, not memory.
   */
  reserve(count: number): void {
    const mean = count / 256;
    const per = Math.ceil(mean * 1.01 + 4 * Math.sqrt(mean) + 16);
    const grow = this.parts.filter((p) => p.capacity < p.count + per);
    if (count < PREFAULT_MIN_ENTRIES) {
      for (const p of grow) p.resize(p.count + per);
      return;
    }
    // Big: one shared buffer per column for all parts (a single large allocation is mapped fresh
    // rather than cleared by the allocator), each part a region of it, and a helper thread that
    // touches the pages each part is expected to fill (not the margin) ahead of the parser and
    // later shares the finish() work.
    let total = 0;
    for (const p of grow) total += p.count + per;
    const wide = this.parts[0]!.names instanceof Uint32Array;
    const R = this.R;
    const K = new SharedArrayBuffer(total * 4);
    const S2 = new SharedArrayBuffer(total);
    const RR = new SharedArrayBuffer(total * R);
    const SZ = new SharedArrayBuffer(total * 4);
    const NM = new SharedArrayBuffer(total * (wide ? 4 : 2));
    const regions: PrefaultRegion[] = [];
    const expected = Math.ceil(mean);
    let at = 0;
    for (const p of grow) {
      const cap = p.count + per;
      p.moveTo(
        new Uint32Array(K, at * 4, cap),
        new Uint8Array(S2, at, cap),
        new Uint8Array(RR, at * R, cap * R),
        new Uint32Array(SZ, at * 4, cap),
        wide ? new Uint32Array(NM, at * 4, cap) : new Uint16Array(NM, at * 2, cap),
      );
      const from = at + p.count;
      const to = at + Math.min(cap, p.count + expected);
      regions.push(
        { buffer: K, from: from * 4, to: to * 4 },
        { buffer: S2, from, to },
        { buffer: RR, from: from * R, to: to * R },
        { buffer: SZ, from: from * 4, to: to * 4 },
        { buffer: NM, from: from * (wide ? 4 : 2), to: to * (wide ? 4 : 2) },
      );
      at += cap;
    }
    this.helper?.stop();
    this.helper = StagingHelper.start(
      { keys: K, second: S2, rest: RR, sizes: SZ, names: NM, R, width: wide ? 4 : 2 },
      regions,
      freezePart.toString(),
    );
  }
  /** Stops the helper thread (the staged arrays become the store's). */
  done(): void {
    this.helper?.stop();
    this.helper = undefined;
  }
}

/**
 * Spreads an FNV-1a hash over all its bits (murmur3's finaliser): FNV's low bits, the ones a
 * power-of-two table uses, depend only on the low bits of the input, and names that differ
 * in a few digits then crowd into neighbouring slots.
 */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * Collects signatures (from parsers or `add`) and builds a `HashStore`. Names are interned as
 * bytes through an open-addressing table, so adding a signature allocates nothing.
 */
export class HashStoreBuilder {
  private readonly staging: Partial<Record<HashAlgorithm, Staging>> = {};
  private nameBlob = new Uint8Array(1 << 16);
  private nameBlobLength = 0;
  private nameOffsets = new Uint32Array(1024);
  private nameCount = 0;
  /** name indexes are staged as 16-bit until a 65,537th name appears. */
  private wideNames = false;
  /**
   * Open addressing over names: pairs (name index or -1, mixed hash), side by side so a probe
   * costs one cache miss, and most probes settle on the hash without touching the names.
   */
  private slots = new Int32Array(2 << 12).fill(-1);
  private readonly encoder = new TextEncoder();

  get count(): number {
    let n = 0;
    for (const a of HASH_ALGORITHMS) n += this.staging[a]?.count ?? 0;
    return n;
  }

  private stagingFor(algorithm: HashAlgorithm): Staging {
    return (this.staging[algorithm] ??= new Staging(algorithm, this.wideNames));
  }

  /** Pre-sizes the staging area for `count` more signatures of one algorithm (avoids regrowth). */
  expect(algorithm: HashAlgorithm, count: number): void {
    this.stagingFor(algorithm).reserve(count);
    // the names too, at the rate and length of the names so far: growing by doubling copies
    // them again and again, and on a big load fresh pages cost more than the copying. An
    // estimate too high (names that recur later) only reserves address space: pages never
    // written are never faulted in, and finish() copies the used part out of a roomy array.
    const seen = this.count;
    if (seen === 0 || this.nameCount === 0) return;
    const names = Math.ceil(((count * this.nameCount) / seen) * 1.05) + 2;
    const blob = Math.ceil(this.nameBlobLength + (names * this.nameBlobLength) / this.nameCount);
    if (blob > this.nameBlob.length && blob <= 0xffffffff) {
      const nb = new Uint8Array(blob);
      nb.set(this.nameBlob.subarray(0, this.nameBlobLength));
      this.nameBlob = nb;
    }
    if (this.nameCount + names > this.nameOffsets.length) {
      const no = new Uint32Array(this.nameCount + names);
      no.set(this.nameOffsets.subarray(0, this.nameCount + 1));
      this.nameOffsets = no;
    }
  }

  /** Adds one signature. `digest` is raw bytes (16, 20 or 32); `size` ANY_SIZE for any. */
  add(digest: Uint8Array, size: number, name: string): void {
    const a = algorithmForDigestLength(digest.length);
    if (a === undefined)
      throw new ClamavError("SIGDB_BAD_HASH", `a digest must be 16, 20 or 32 bytes, got ${digest.length}`);
    const nb = this.encoder.encode(name);
    this.addRaw(digest, 0, a, size, this.internName(nb, 0, nb.length, undefined));
  }

  /** Adds a digest found at `digest[offset..]` with a name index from `internName`. */
  addRaw(digest: Uint8Array, offset: number, algorithm: HashAlgorithm, size: number, nameIndex: number): void {
    const s = this.staging[algorithm] ?? this.stagingFor(algorithm);
    if (s.count === 0xffffffff)
      throw new ClamavError("SIGDB_LIMIT", "too many hash signatures for one store (over 2^32-1)");
    const part = s.parts[digest[offset]!]!;
    const i = part.count;
    if (i === part.keys.length) part.resize(Math.max(16, i * 2));
    part.second[i] = digest[offset + 1]!;
    part.keys[i] =
      ((digest[offset + 2]! << 24) | (digest[offset + 3]! << 16) | (digest[offset + 4]! << 8) | digest[offset + 5]!) >>>
      0;
    const R = s.R;
    const rest = part.rest;
    const o = i * R;
    const from = offset + 6;
    for (let k = 0; k < R; k++) rest[o + k] = digest[from + k]!;
    part.sizes[i] = size >>> 0;
    part.names[i] = nameIndex;
    part.count = i + 1;
    s.count++;
  }

  /**
   * For parsers that decode a digest straight into the staging area: the part for digests of
   * `algorithm` starting with byte `first`, with room for one more entry at index `count`. Write
   * digest byte 1 to `second`, bytes 2..5 to `keys` (big-endian) and the rest to `rest`, then
   * call `commitSlot`; an entry never committed is simply overwritten by the next one.
   */
  stageSlot(algorithm: HashAlgorithm, first: number): StagePart {
    const s = this.staging[algorithm] ?? this.stagingFor(algorithm);
    if (s.count === 0xffffffff)
      throw new ClamavError("SIGDB_LIMIT", "too many hash signatures for one store (over 2^32-1)");
    const part = s.parts[first]!;
    if (part.count === part.keys.length) part.resize(Math.max(16, part.count * 2));
    return part;
  }

  /** Completes the entry started with `stageSlot` (the part must not have been asked for again since). */
  commitSlot(part: StagePart, size: number, nameIndex: number): void {
    const i = part.count;
    part.sizes[i] = size >>> 0;
    part.names[i] = nameIndex;
    part.count = i + 1;
    part.owner.count++;
  }

  /** Interns `bytes[start..end]` (+ optional suffix bytes) and returns its index. */
  internName(bytes: Uint8Array, start: number, end: number, suffix: Uint8Array | undefined): number {
    let h = 0x811c9dc5;
    for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
    return this.internNameHashed(bytes, start, end, h, suffix);
  }

  /** As internName, with `h` the FNV-1a hash (offset basis 0x811c9dc5, prime 0x01000193) of bytes[start..end). */
  internNameHashed(bytes: Uint8Array, start: number, end: number, h: number, suffix: Uint8Array | undefined): number {
    const len = end - start;
    const slen = suffix === undefined ? 0 : suffix.length;
    for (let i = 0; i < slen; i++) h = Math.imul(h ^ suffix![i]!, 0x01000193);
    h = mix(h);
    const slots = this.slots;
    const mask = (slots.length >>> 1) - 1;
    let p = h & mask;
    const blob = this.nameBlob;
    for (; ; p = (p + 1) & mask) {
      const idx = slots[2 * p]!;
      if (idx < 0) break;
      if (slots[2 * p + 1] !== h) continue;
      const o = this.nameOffsets[idx]!;
      if (this.nameOffsets[idx + 1]! - o !== len + slen) continue;
      let eq = true;
      for (let i = 0; i < len; i++)
        if (blob[o + i] !== bytes[start + i]) {
          eq = false;
          break;
        }
      if (eq)
        for (let i = 0; i < slen; i++)
          if (blob[o + len + i] !== suffix![i]) {
            eq = false;
            break;
          }
      if (eq) return idx;
    }
    // new name
    const idx = this.nameCount;
    if (idx === 0x10000 && !this.wideNames) {
      this.wideNames = true;
      for (const a of HASH_ALGORITHMS) for (const part of this.staging[a]?.parts ?? []) part.widen();
    }
    if (this.nameBlobLength + len + slen > this.nameBlob.length) {
      let cap = this.nameBlob.length * 2;
      while (cap < this.nameBlobLength + len + slen) cap *= 2;
      if (cap > 0xffffffff) throw new ClamavError("SIGDB_LIMIT", "detection names exceed 4 GiB");
      const nb = new Uint8Array(cap);
      nb.set(this.nameBlob.subarray(0, this.nameBlobLength));
      this.nameBlob = nb;
    }
    // byte loops: names are short, and subarray+set would allocate a view per name
    const nb = this.nameBlob,
      at = this.nameBlobLength;
    for (let i = 0; i < len; i++) nb[at + i] = bytes[start + i]!;
    for (let i = 0; i < slen; i++) nb[at + len + i] = suffix![i]!;
    this.nameBlobLength += len + slen;
    if (idx + 2 > this.nameOffsets.length) {
      const no = new Uint32Array(this.nameOffsets.length * 2);
      no.set(this.nameOffsets);
      this.nameOffsets = no;
    }
    this.nameOffsets[idx + 1] = this.nameBlobLength;
    this.nameCount++;
    slots[2 * p] = idx;
    slots[2 * p + 1] = h;
    if (this.nameCount * 4 > slots.length) this.rehash();
    return idx;
  }

  /** True when name `idx` is bytes[start..end) followed by `extra` more bytes (a parser's fixed suffix). */
  nameStartsWith(idx: number, bytes: Uint8Array, start: number, end: number, extra: number): boolean {
    const o = this.nameOffsets[idx]!;
    const len = end - start;
    if (this.nameOffsets[idx + 1]! - o !== len + extra) return false;
    const blob = this.nameBlob;
    for (let i = 0; i < len; i++) if (blob[o + i] !== bytes[start + i]) return false;
    return true;
  }

  /** Doubles the name table. */
  private rehash(): void {
    const old = this.slots;
    const slots = new Int32Array(2 * old.length).fill(-1);
    const mask = old.length - 1; // pairs in the new table, less one
    for (let q = 0; q < old.length; q += 2) {
      const idx = old[q]!;
      if (idx < 0) continue;
      const h = old[q + 1]!;
      let p = h & mask;
      while (slots[2 * p]! >= 0) p = (p + 1) & mask;
      slots[2 * p] = idx;
      slots[2 * p + 1] = h;
    }
    this.slots = slots;
  }

  /** Groups and freezes everything added so far into a store. The builder must not be reused. */
  finish(): HashStore {
    // views when the arrays are nearly full (no copy of a big name table), copies otherwise
    const fit = <T extends Uint8Array | Uint32Array>(a: T, n: number): T =>
      a.length - n <= a.length / 8 ? (a.subarray(0, n) as T) : (a.slice(0, n) as T);
    const names = new NameTable(fit(this.nameBlob, this.nameBlobLength), fit(this.nameOffsets, this.nameCount + 1));
    // the builder is done: let go of its tables (and of roomy name arrays copied out above)
    this.slots = new Int32Array(2).fill(-1);
    if (names.blob.buffer !== this.nameBlob.buffer) this.nameBlob = new Uint8Array(0);
    if (names.offsets.buffer !== this.nameOffsets.buffer) this.nameOffsets = new Uint32Array(1);
    const tables: Partial<Record<HashAlgorithm, HashTable>> = {};
    for (const a of HASH_ALGORITHMS) {
      const s = this.staging[a];
      if (s === undefined) continue;
      try {
        if (s.count > 0) tables[a] = freezeStaging(s, this.wideNames ? 4 : 2);
      } finally {
        s.done();
      }
      delete this.staging[a];
    }
    return new HashStore(tables, names);
  }
}

/**
 * Puts each staged part into bucket order in place (`freezePart`), with the helper thread taking
 * a share of the parts still in its shared buffers. A part left with much more room than entries
 * (grown by doubling) is copied to its exact size instead.
 */
function freezeStaging(s: Staging, width: 2 | 4): HashTable {
  const n = s.count;
  const R = s.R;
  const bits = bucketBitsFor(n);
  const sub = bits - 8;
  const shift = 16 - sub;
  const perPart = 1 << sub;
  const helper = s.helper;
  const bucketStart = new Uint32Array(
    helper !== undefined ? new SharedArrayBuffer(4 * ((1 << bits) + 1)) : new ArrayBuffer(4 * ((1 << bits) + 1)),
  );
  const B = helper?.buffers;
  const inHelperBuffers = (p: StagePart) =>
    B !== undefined &&
    p.keys.buffer === B.keys &&
    p.second.buffer === B.second &&
    p.rest.buffer === B.rest &&
    p.sizes.buffer === B.sizes &&
    p.names.buffer === B.names;
  const jobs: FreezeJob[] = [];
  const jobPart: number[] = [];
  const own: number[] = [];
  const base: number[] = [];
  let largest = 0;
  let largestJob = 0;
  for (let p = 0, b = 0; p < 256; p++) {
    const part = s.parts[p]!;
    const m = part.count;
    base.push(b);
    largest = Math.max(largest, m);
    if (m > 0 && !tooRoomy(part) && inHelperBuffers(part)) {
      jobs.push({ at: part.keys.byteOffset / 4, m, b0: p << sub, base: b });
      jobPart.push(p);
      largestJob = Math.max(largestJob, m);
    } else own.push(p);
    b += m;
  }
  const pos = new Uint32Array(perPart);
  const sk = new Uint32Array(largest);
  const sr = new Uint16Array((largest * R) >>> 1);
  const ss = new Uint32Array(largest);
  const sn = width === 4 ? new Uint32Array(largest) : new Uint16Array(largest);
  const parts: HashPart[] = new Array<HashPart>(256);
  for (const p of own) {
    const part = s.parts[p]!;
    const m = part.count;
    const exact = tooRoomy(part);
    freezePart(
      part.keys,
      part.second,
      part.rest,
      part.sizes,
      part.names,
      m,
      R,
      shift,
      perPart,
      bucketStart,
      p << sub,
      base[p]!,
      pos,
      sk,
      sr,
      ss,
      sn,
      !exact,
    );
    parts[p] = exact
      ? {
          keys: sk.slice(0, m),
          rest: new Uint8Array(sr.buffer, 0, m * R).slice(),
          sizes: ss.slice(0, m),
          nameIndex: sn.slice(0, m),
        }
      : {
          keys: part.keys.subarray(0, m),
          rest: part.rest.subarray(0, m * R),
          sizes: part.sizes.subarray(0, m),
          nameIndex: part.names.subarray(0, m),
        };
  }
  helper?.freeze(jobs, bucketStart, shift, perPart, largestJob, (job, k) => {
    const part = s.parts[jobPart[k]!]!;
    freezePart(
      part.keys,
      part.second,
      part.rest,
      part.sizes,
      part.names,
      job.m,
      R,
      shift,
      perPart,
      bucketStart,
      job.b0,
      job.base,
      pos,
      sk,
      sr,
      ss,
      sn,
      true,
    );
  });
  jobPart.forEach((p) => {
    const part = s.parts[p]!;
    const m = part.count;
    parts[p] = {
      keys: part.keys.subarray(0, m),
      rest: part.rest.subarray(0, m * R),
      sizes: part.sizes.subarray(0, m),
      nameIndex: part.names.subarray(0, m),
    };
  });
  for (let p = 0; p < 256; p++) s.parts[p] = new StagePart(R, 0, false, s); // the staging no longer owns these arrays
  bucketStart[1 << bits] = n;
  return new HashTable(s.algorithm, n, bucketStart, parts, width);
}

/** True when a part has much more room than entries (it grew by doubling): its table part is then an exact-size copy. */
function tooRoomy(part: StagePart): boolean {
  return part.capacity > part.count + (part.count >>> 1) + 64;
}

/**
 * Puts one staged part into bucket order: a count per bucket (recorded in `bucketStart` from
 * bucket `b0`, entry indexes from `base`), a stable scatter into the scratch arrays (`pos`, `sk`,
 * `sr`, `ss`, `sn`, at least `m` entries), and, when `inPlace`, a copy back. No comparison sort:
 * digests are uniform and a lookup scans its bucket's ~8 keys. The helper thread runs this
 * function from its source text, so it must use no outside names and define no inner functions.
 */
export function freezePart(
  keys: Uint32Array,
  second: Uint8Array,
  rest: Uint8Array,
  sizes: Uint32Array,
  names: Uint16Array | Uint32Array,
  m: number,
  R: number,
  shift: number,
  perPart: number,
  bucketStart: Uint32Array,
  b0: number,
  base: number,
  pos: Uint32Array,
  sk: Uint32Array,
  sr: Uint16Array,
  ss: Uint32Array,
  sn: Uint16Array | Uint32Array,
  inPlace: boolean,
): void {
  const R2 = R >>> 1; // rest is copied in 16-bit units (R is 26, 14 or 10; parts start at even offsets)
  pos.fill(0);
  for (let i = 0; i < m; i++) pos[((second[i]! << 8) | (keys[i]! >>> 24)) >>> shift]!++;
  let run = 0;
  for (let lb = 0; lb < perPart; lb++) {
    const c = pos[lb]!;
    bucketStart[b0 + lb] = base + run;
    pos[lb] = run;
    run += c;
  }
  const r16 = new Uint16Array(rest.buffer, rest.byteOffset, m * R2);
  for (let i = 0; i < m; i++) {
    const j = pos[((second[i]! << 8) | (keys[i]! >>> 24)) >>> shift]!++;
    sk[j] = keys[i]!;
    const src = i * R2;
    const dst = j * R2;
    for (let k = 0; k < R2; k++) sr[dst + k] = r16[src + k]!;
    ss[j] = sizes[i]!;
    sn[j] = names[i]!;
  }
  if (!inPlace) return;
  keys.set(sk.subarray(0, m));
  rest.set(new Uint8Array(sr.buffer, sr.byteOffset, m * R));
  sizes.set(ss.subarray(0, m));
  names.set(sn.subarray(0, m));
}
