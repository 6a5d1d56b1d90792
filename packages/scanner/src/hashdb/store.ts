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
 * distinct names, else `Uint32Array`). Names are interned once as UTF-8 in one blob with offsets
 * and decoded only when a lookup hits. No JS object or string exists per signature: a sha256
 * entry costs 36 or 38 bytes plus its share of the bucket table and name blob.
 *
 * A lookup is a bucket index plus a scan of that bucket's keys (a cache line or two), then the
 * rest of the digest and the size for a key that matches.
 */

import { SignatureDbError } from "./error.js";

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
 * The frozen table of one algorithm: entries grouped in buckets by their leading digest bits, in
 * load order within a bucket. Per entry: the next four digest bytes as a `Uint32`
 * key (`keys`), the remaining bytes (`rest`), the size and the name index.
 */
export class HashTable {
  readonly algorithm: HashAlgorithm;
  readonly restLength: number;
  /** log2 of the bucket count: 16 up to ~512k entries, then one more bit per doubling, at most 24. */
  readonly bucketBits: number;
  constructor(
    algorithm: HashAlgorithm,
    readonly count: number,
    readonly bucketStart: Uint32Array,
    readonly keys: Uint32Array,
    readonly rest: Uint8Array,
    readonly sizes: Uint32Array,
    readonly nameIndex: Uint16Array | Uint32Array,
  ) {
    this.algorithm = algorithm;
    this.restLength = digestLength(algorithm) - 6;
    this.bucketBits = Math.log2(bucketStart.length - 1);
  }

  get byteLength(): number {
    return this.bucketStart.byteLength + this.keys.byteLength + this.rest.byteLength + this.sizes.byteLength + this.nameIndex.byteLength;
  }

  /** Index of the first entry at or after `from` whose digest equals `d` and whose size fits `size`, or -1. */
  find(d: Uint8Array, size: number, from = 0): number {
    const R = this.restLength;
    if (d.length !== R + 6) return -1;
    const b = ((d[0]! << 16) | (d[1]! << 8) | d[2]!) >>> (24 - this.bucketBits);
    const key = ((d[2]! << 24) | (d[3]! << 16) | (d[4]! << 8) | d[5]!) >>> 0;
    const keys = this.keys;
    const rest = this.rest;
    const end = this.bucketStart[b + 1]!;
    for (let i = Math.max(this.bucketStart[b]!, from); i < end; i++) {
      if (keys[i] !== key) continue;
      const base = i * R;
      let k = 0;
      while (k < R && rest[base + k] === d[k + 6]) k++;
      if (k < R) continue;
      const s = this.sizes[i]!;
      if (s === ANY_SIZE || s === size) return i;
    }
    return -1;
  }

  /** Indexes of every entry whose digest equals `d` and whose size fits `size` (for all-match scans). */
  findAll(d: Uint8Array, size: number): number[] {
    const out: number[] = [];
    for (let i = this.find(d, size); i >= 0; i = this.find(d, size, i + 1)) out.push(i);
    return out;
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
    return { name: this.names.get(t.nameIndex[i]!), algorithm, size: t.sizes[i]! };
  }

  /** Every signature matching the digest at this size (clamscan --allmatch reports each). */
  lookupAllDigest(algorithm: HashAlgorithm, digest: Uint8Array | string, size: number): HashMatch[] {
    const t = this.tables[algorithm];
    if (t === undefined) return [];
    const d = typeof digest === "string" ? hexToBytes(digest) : digest;
    if (d === undefined) return [];
    return t.findAll(d, size).map((i) => ({ name: this.names.get(t.nameIndex[i]!), algorithm, size: t.sizes[i]! }));
  }

  /** True when a digest (any size) is present: for allow lists, where only presence counts. */
  has(digests: Digests, size: number): boolean {
    return this.lookup(digests, size) !== undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Building

/** Staged entries whose digests start with one byte value (one of 256 partitions per algorithm). */
class Part {
  count = 0;
  digests: Uint8Array;
  sizes: Uint32Array;
  names: Uint32Array;
  constructor(
    readonly L: number,
    capacity: number,
  ) {
    this.digests = new Uint8Array(capacity * L);
    this.sizes = new Uint32Array(capacity);
    this.names = new Uint32Array(capacity);
  }
  resize(cap: number): void {
    const d = new Uint8Array(cap * this.L);
    d.set(this.digests.subarray(0, this.count * this.L));
    this.digests = d;
    const s = new Uint32Array(cap);
    s.set(this.sizes.subarray(0, this.count));
    this.sizes = s;
    const n = new Uint32Array(cap);
    n.set(this.names.subarray(0, this.count));
    this.names = n;
  }
}

/**
 * Entries of one algorithm as they are added, already split by their first digest byte, so that
 * `finish()` places each partition within a cache-sized region of the final arrays.
 */
class Staging {
  count = 0;
  readonly parts: Part[];
  readonly L: number;
  constructor(readonly algorithm: HashAlgorithm, capacity = 1024) {
    this.L = digestLength(algorithm);
    this.parts = Array.from({ length: 256 }, () => new Part(this.L, Math.max(4, Math.ceil(capacity / 256))));
  }
  /** Makes room for `count` more entries spread evenly over the partitions. */
  reserve(count: number): void {
    const per = Math.ceil((count / 256) * 1.1) + 16;
    for (const p of this.parts) if (p.sizes.length < p.count + per) p.resize(p.count + per);
  }
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
  private slots = new Int32Array(1 << 12).fill(-1);
  private readonly encoder = new TextEncoder();

  get count(): number {
    let n = 0;
    for (const a of HASH_ALGORITHMS) n += this.staging[a]?.count ?? 0;
    return n;
  }

  /** Pre-sizes the staging area for `count` more signatures of one algorithm (avoids regrowth). */
  expect(algorithm: HashAlgorithm, count: number): void {
    let s = this.staging[algorithm];
    if (s === undefined) s = this.staging[algorithm] = new Staging(algorithm, 1024);
    s.reserve(count);
  }

  /** Adds one signature. `digest` is raw bytes (16, 20 or 32); `size` ANY_SIZE for any. */
  add(digest: Uint8Array, size: number, name: string): void {
    const a = algorithmForDigestLength(digest.length);
    if (a === undefined) throw new SignatureDbError("SIGDB_BAD_HASH", `a digest must be 16, 20 or 32 bytes, got ${digest.length}`);
    const nb = this.encoder.encode(name);
    this.addRaw(digest, 0, a, size, this.internName(nb, 0, nb.length, undefined));
  }

  /** Adds a digest found at `digest[offset..]` with a name index from `internName`. */
  addRaw(digest: Uint8Array, offset: number, algorithm: HashAlgorithm, size: number, nameIndex: number): void {
    let s = this.staging[algorithm];
    if (s === undefined) s = this.staging[algorithm] = new Staging(algorithm);
    if (s.count === 0xffffffff) throw new SignatureDbError("SIGDB_LIMIT", "too many hash signatures for one store (over 2^32-1)");
    const part = s.parts[digest[offset]!]!;
    if (part.count === part.sizes.length) part.resize(part.count * 2);
    const L = s.L;
    const dst = part.count * L;
    const dd = part.digests;
    for (let k = 0; k < L; k++) dd[dst + k] = digest[offset + k]!;
    part.sizes[part.count] = size >>> 0;
    part.names[part.count] = nameIndex;
    part.count++;
    s.count++;
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
    const mask = this.slots.length - 1;
    let p = h & mask;
    const blob = this.nameBlob;
    for (;;) {
      const idx = this.slots[p]!;
      if (idx < 0) break;
      const o = this.nameOffsets[idx]!;
      if (this.nameOffsets[idx + 1]! - o === len + slen) {
        let eq = true;
        for (let i = 0; i < len; i++) if (blob[o + i] !== bytes[start + i]) { eq = false; break; }
        if (eq) for (let i = 0; i < slen; i++) if (blob[o + len + i] !== suffix![i]) { eq = false; break; }
        if (eq) return idx;
      }
      p = (p + 1) & mask;
    }
    // new name
    const idx = this.nameCount;
    if (this.nameBlobLength + len + slen > this.nameBlob.length) {
      let cap = this.nameBlob.length * 2;
      while (cap < this.nameBlobLength + len + slen) cap *= 2;
      if (cap > 0xffffffff) throw new SignatureDbError("SIGDB_LIMIT", "detection names exceed 4 GiB");
      const nb = new Uint8Array(cap);
      nb.set(this.nameBlob.subarray(0, this.nameBlobLength));
      this.nameBlob = nb;
    }
    this.nameBlob.set(bytes.subarray(start, end), this.nameBlobLength);
    if (slen > 0) this.nameBlob.set(suffix!, this.nameBlobLength + len);
    this.nameBlobLength += len + slen;
    if (idx + 2 > this.nameOffsets.length) {
      const no = new Uint32Array(this.nameOffsets.length * 2);
      no.set(this.nameOffsets);
      this.nameOffsets = no;
    }
    this.nameOffsets[idx + 1] = this.nameBlobLength;
    this.nameCount++;
    this.slots[p] = idx;
    if (this.nameCount * 2 > this.slots.length) this.rehash();
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

  private rehash(): void {
    const slots = new Int32Array(this.slots.length * 2).fill(-1);
    const mask = slots.length - 1;
    for (let idx = 0; idx < this.nameCount; idx++) {
      let h = 0x811c9dc5;
      for (let i = this.nameOffsets[idx]!; i < this.nameOffsets[idx + 1]!; i++) h = Math.imul(h ^ this.nameBlob[i]!, 0x01000193);
      let p = h & mask;
      while (slots[p]! >= 0) p = (p + 1) & mask;
      slots[p] = idx;
    }
    this.slots = slots;
  }

  /** Sorts and freezes everything added so far into a store. The builder must not be reused. */
  finish(): HashStore {
    const names = new NameTable(this.nameBlob.slice(0, this.nameBlobLength), this.nameOffsets.slice(0, this.nameCount + 1));
    const tables: Partial<Record<HashAlgorithm, HashTable>> = {};
    for (const a of HASH_ALGORITHMS) {
      const s = this.staging[a];
      if (s === undefined || s.count === 0) continue;
      tables[a] = sortStaging(s, this.nameCount);
      delete this.staging[a];
    }
    return new HashStore(tables, names);
  }
}

/**
 * Groups staged entries by bucket: a counting pass, then each first-byte partition is placed
 * into its own contiguous range of buckets (stable, so the first loaded of equal entries is found
 * first). No sort: a lookup scans
 * its bucket's 32-bit keys, about 8 of them (16 or fewer tables hold 2^16 buckets).
 */
function sortStaging(s: Staging, nameCount: number): HashTable {
  const n = s.count;
  const L = s.L;
  const R = L - 6;
  const R2 = R >>> 1;
  const L2 = L >>> 1;
  const bits = bucketBitsFor(n);
  const shift = 24 - bits;
  const buckets = 1 << bits;
  const counts = new Uint32Array(buckets + 1);
  for (const part of s.parts) {
    const d = part.digests;
    for (let i = 0, b = 0; i < part.count; i++, b += L) counts[(((d[b]! << 16) | (d[b + 1]! << 8) | d[b + 2]!) >>> shift) + 1]!++;
  }
  for (let i = 1; i <= buckets; i++) counts[i]! += counts[i - 1]!;
  const bucketStart = counts.slice();
  const keys = new Uint32Array(n);
  const rest = new Uint8Array(n * R);
  const sizes = new Uint32Array(n);
  const nameIndex = nameCount <= 0x10000 ? new Uint16Array(n) : new Uint32Array(n);
  const r16 = new Uint16Array(rest.buffer, 0, n * R2);
  // each partition fills one contiguous range of buckets, so its writes stay within that range
  for (let p = 0; p < 256; p++) {
    const part = s.parts[p]!;
    const d = part.digests;
    const d16 = new Uint16Array(d.buffer, d.byteOffset, part.count * L2);
    const ss = part.sizes;
    const sn = part.names;
    for (let i = 0, b = 0; i < part.count; i++, b += L) {
      const j = counts[((d[b]! << 16) | (d[b + 1]! << 8) | d[b + 2]!) >>> shift]!++;
      keys[j] = ((d[b + 2]! << 24) | (d[b + 3]! << 16) | (d[b + 4]! << 8) | d[b + 5]!) >>> 0;
      const src = i * L2 + 3;
      const dst = j * R2;
      for (let k = 0; k < R2; k++) r16[dst + k] = d16[src + k]!;
      sizes[j] = ss[i]!;
      nameIndex[j] = sn[i]!;
    }
    s.parts[p] = new Part(L, 0); // release the partition
  }
  return new HashTable(s.algorithm, n, bucketStart, keys, rest, sizes, nameIndex);
}
