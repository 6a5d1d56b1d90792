/**
 * RFC 6962 / RFC 9162 Merkle trees: hashing (MTH with 0x00 leaf and 0x01 node prefixes, no
 * padding), audit paths and consistency proofs (RFC 6962 §2.1.1/§2.1.2), and their verification
 * (RFC 9162 §2.1.3.2/§2.1.4.2) with bigint sizes and indices.
 *
 * Proof generation is split in two: `inclusionRanges` / `consistencyRanges` say which subtree
 * ranges [start, end) a proof consists of (pure index arithmetic), and a range hasher turns each
 * range into a hash. The in-memory `MerkleTree` and the tile reader (tiles.ts) are two hashers.
 */
import { createHash, hash as oneShotHash } from "node:crypto";
import { TlogError } from "./error.js";

export const HASH_SIZE = 32;
/** Proofs longer than this are rejected before any hashing (a uint64 tree has at most 64 levels). */
export const MAX_PROOF_LENGTH = 64;
const LEAF_PREFIX = new Uint8Array([0]);
const TWO_64 = 1n << 64n;

function toU8(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function checkHash(h: unknown, what: string): asserts h is Uint8Array {
  if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
    const len = h instanceof Uint8Array ? `${h.length} bytes` : typeof h;
    throw new TlogError("BAD_HASH", `${what} must be a 32-byte SHA-256 hash (got ${len})`);
  }
}

function isHash(h: unknown): h is Uint8Array {
  return h instanceof Uint8Array && h.length === HASH_SIZE;
}

/** SHA-256 of the empty string: the root of the empty tree. */
export function emptyRoot(): Uint8Array {
  return toU8(createHash("sha256").digest());
}

const leafScratch = new Uint8Array(4097);
const nodeScratch = new Uint8Array(65);
nodeScratch[0] = 1;

function sha256(data: Uint8Array): Uint8Array {
  return toU8(oneShotHash("sha256", data, "buffer"));
}

/** RFC 6962 leaf hash: SHA-256(0x00 || entry). A string entry is hashed as its UTF-8 bytes. */
export function leafHash(entry: Uint8Array | string): Uint8Array {
  const data = typeof entry === "string" ? Buffer.from(entry, "utf8") : entry;
  if (data.length < leafScratch.length) {
    leafScratch[0] = 0;
    leafScratch.set(data, 1);
    return sha256(leafScratch.subarray(0, data.length + 1));
  }
  return toU8(createHash("sha256").update(LEAF_PREFIX).update(data).digest());
}

/** RFC 6962 interior node hash: SHA-256(0x01 || left || right). Both must be 32 bytes. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  checkHash(left, "left hash");
  checkHash(right, "right hash");
  return rawNode(left, right);
}

function rawNode(left: Uint8Array, right: Uint8Array): Uint8Array {
  nodeScratch.set(left, 1);
  nodeScratch.set(right, 33);
  return sha256(nodeScratch);
}

/**
 * MTH over leaf hashes (RFC 9162 §2.1.1), any size, computed with the stack algorithm of
 * RFC 9162 §2.1.2. The empty list gives SHA-256("").
 */
export function rootHash(leafHashes: readonly Uint8Array[]): Uint8Array {
  if (leafHashes.length === 0) return emptyRoot();
  const stack: Uint8Array[] = [];
  for (let i = 0; i < leafHashes.length; i++) {
    const h = leafHashes[i];
    checkHash(h, `leaf hash ${i}`);
    stack.push(h);
    for (let j = i; (j & 1) === 1; j >>>= 1) {
      const right = stack.pop()!;
      const left = stack.pop()!;
      stack.push(rawNode(left, right));
    }
  }
  let acc = stack.pop()!;
  while (stack.length > 0) acc = rawNode(stack.pop()!, acc);
  return acc;
}

/** Converts a size or index given as bigint or safe integer number to bigint; rejects the rest. */
export function toBigIndex(v: bigint | number, what: string): bigint {
  if (typeof v === "bigint") {
    if (v < 0n || v >= TWO_64) throw new TlogError("BAD_INDEX", `${what} must be in 0..2^64-1 (got ${v})`);
    return v;
  }
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  throw new TlogError("BAD_INDEX", `${what} must be a non-negative integer, preferably a bigint (got ${String(v)})`);
}

function largestPow2Below(n: bigint): bigint {
  // largest power of two k with k < n, for n > 1
  let k = 1n;
  while (k << 1n < n) k <<= 1n;
  return k;
}

export type Range = readonly [start: bigint, end: bigint];

/** The subtree ranges whose hashes form the RFC 6962 audit path PATH(index, D[0:size]), leaf level first. */
export function inclusionRanges(index: bigint, size: bigint): Range[] {
  if (index < 0n || index >= size) {
    throw new TlogError(
      "BAD_INDEX",
      `leaf index ${index} is outside a tree of size ${size}; the index must be below the size`,
    );
  }
  const out: Range[] = [];
  const walk = (m: bigint, a: bigint, b: bigint): void => {
    const n = b - a;
    if (n === 1n) return;
    const k = largestPow2Below(n);
    if (m < a + k) {
      walk(m, a, a + k);
      out.push([a + k, b]);
    } else {
      walk(m, a + k, b);
      out.push([a, a + k]);
    }
  };
  walk(index, 0n, size);
  return out;
}

/**
 * The subtree ranges forming the RFC 6962 consistency proof PROOF(oldSize, D[0:newSize]).
 * Empty when oldSize is 0 or equals newSize (tlog-witness: "old 0" carries an empty proof).
 */
export function consistencyRanges(oldSize: bigint, newSize: bigint): Range[] {
  if (oldSize < 0n || oldSize > newSize) {
    throw new TlogError("BAD_INDEX", `old size ${oldSize} must be between 0 and the new size ${newSize}`);
  }
  const out: Range[] = [];
  if (oldSize === 0n || oldSize === newSize) return out;
  const sub = (m: bigint, a: bigint, b: bigint, whole: boolean): void => {
    const n = b - a;
    if (m === n) {
      if (!whole) out.push([a, b]);
      return;
    }
    const k = largestPow2Below(n);
    if (m <= k) {
      sub(m, a, a + k, whole);
      out.push([a + k, b]);
    } else {
      sub(m - k, a + k, b, false);
      out.push([a, a + k]);
    }
  };
  sub(oldSize, 0n, newSize, true);
  return out;
}

/**
 * The perfect (power-of-two, aligned) subtrees that make up MTH(D[start:end]), left to right, as
 * [level, index] pairs where the subtree covers leaves [index·2^level, (index+1)·2^level).
 * MTH(D[start:end]) = fold from the right with nodeHash.
 */
export function perfectSubtrees(start: bigint, end: bigint): Array<[level: number, index: bigint]> {
  const out: Array<[number, bigint]> = [];
  let a = start;
  while (a < end) {
    const n = end - a;
    // largest power of two k <= n such that a is aligned to k
    let level = 0;
    while (1n << BigInt(level + 1) <= n && a % (1n << BigInt(level + 1)) === 0n) level++;
    out.push([level, a >> BigInt(level)]);
    a += 1n << BigInt(level);
  }
  return out;
}

/** Combines the hashes of `perfectSubtrees(start, end)` into MTH(D[start:end]). */
export function foldSubtrees(hashes: readonly Uint8Array[]): Uint8Array {
  if (hashes.length === 0) return emptyRoot();
  let acc = hashes[hashes.length - 1]!;
  for (let i = hashes.length - 2; i >= 0; i--) acc = rawNode(hashes[i]!, acc);
  return acc;
}

/**
 * An in-memory append-only Merkle tree. Keeps every complete subtree hash, level by level, in
 * flat growable buffers (about 64 bytes per leaf), so any range hash costs O(log n) and proofs
 * O(log² n). Indices are numbers here: an in-memory tree stays far below 2^53 leaves.
 */
export class MerkleTree {
  /** levels[l] holds the hashes of complete subtrees of 2^l leaves, 32 bytes each. */
  private levels: Uint8Array[] = [];
  private counts: number[] = [];
  private n = 0;

  constructor(leafHashes: Iterable<Uint8Array> = []) {
    for (const h of leafHashes) this.appendLeafHash(h);
  }

  get size(): number {
    return this.n;
  }

  /** Appends an entry (hashing it as a leaf) and returns its index. */
  append(entry: Uint8Array | string): number {
    return this.appendLeafHash(leafHash(entry));
  }

  appendLeafHash(h: Uint8Array): number {
    checkHash(h, "leaf hash");
    const index = this.n;
    this.push(0, h);
    let level = 0;
    let i = index;
    while ((i & 1) === 1) {
      const c = this.counts[level]!;
      const buf = this.levels[level]!;
      const left = buf.subarray((c - 2) * 32, (c - 1) * 32);
      const right = buf.subarray((c - 1) * 32, c * 32);
      this.push(level + 1, rawNode(left, right));
      level++;
      i = Math.floor(i / 2);
    }
    this.n++;
    return index;
  }

  private push(level: number, h: Uint8Array): void {
    if (this.levels.length <= level) {
      this.levels.push(new Uint8Array(32 * 64));
      this.counts.push(0);
    }
    let buf = this.levels[level]!;
    const c = this.counts[level]!;
    if ((c + 1) * 32 > buf.length) {
      const bigger = new Uint8Array(buf.length * 2);
      bigger.set(buf);
      this.levels[level] = buf = bigger;
    }
    buf.set(h, c * 32);
    this.counts[level] = c + 1;
  }

  /** Hash of the complete subtree at `level`, `index` (a copy). */
  node(level: number, index: number): Uint8Array {
    const c = this.counts[level] ?? 0;
    if (!Number.isInteger(index) || index < 0 || index >= c) {
      throw new TlogError(
        "BAD_INDEX",
        `no complete subtree at level ${level} index ${index} in a tree of size ${this.n}`,
      );
    }
    return this.levels[level]!.slice(index * 32, index * 32 + 32);
  }

  /** Number of complete subtree hashes stored at a level. */
  levelCount(level: number): number {
    return this.counts[level] ?? 0;
  }

  leafHash(index: number): Uint8Array {
    return this.node(0, index);
  }

  /** MTH(D[start:end]) for 0 <= start <= end <= size. */
  rangeHash(start: bigint | number, end: bigint | number): Uint8Array {
    const a = Number(start),
      b = Number(end);
    if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b) || a < 0 || a > b || b > this.n) {
      throw new TlogError("BAD_INDEX", `range [${start}, ${end}) is outside a tree of size ${this.n}`);
    }
    return this.range(a, b);
  }

  /** A view of a stored complete subtree hash (no copy). */
  private view(level: number, index: number): Uint8Array {
    return this.levels[level]!.subarray(index * 32, index * 32 + 32);
  }

  /** MTH(D[a:b]) from stored perfect subtrees, with number arithmetic. */
  private range(a: number, b: number): Uint8Array {
    if (a === b) return emptyRoot();
    const parts: Uint8Array[] = [];
    while (a < b) {
      let level = 0,
        size = 1;
      while (size * 2 <= b - a && a % (size * 2) === 0) {
        size *= 2;
        level++;
      }
      parts.push(this.view(level, a / size));
      a += size;
    }
    if (parts.length === 1) return parts[0]!.slice();
    let acc = parts[parts.length - 1]!;
    for (let i = parts.length - 2; i >= 0; i--) acc = rawNode(parts[i]!, acc);
    return acc;
  }

  private path(m: number, a: number, b: number, out: Uint8Array[]): void {
    const n = b - a;
    if (n === 1) return;
    let k = 1;
    while (k * 2 < n) k *= 2;
    if (m < a + k) {
      this.path(m, a, a + k, out);
      out.push(this.range(a + k, b));
    } else {
      this.path(m, a + k, b, out);
      out.push(this.range(a, a + k));
    }
  }

  private subproof(m: number, a: number, b: number, whole: boolean, out: Uint8Array[]): void {
    const n = b - a;
    if (m === n) {
      if (!whole) out.push(this.range(a, b));
      return;
    }
    let k = 1;
    while (k * 2 < n) k *= 2;
    if (m <= k) {
      this.subproof(m, a, a + k, whole, out);
      out.push(this.range(a + k, b));
    } else {
      this.subproof(m - k, a + k, b, false, out);
      out.push(this.range(a, a + k));
    }
  }

  /** The root at `size` (default: the current size); any earlier size works too. */
  root(size: bigint | number = this.n): Uint8Array {
    return this.rangeHash(0, size);
  }

  inclusionProof(index: bigint | number, size: bigint | number = this.n): Uint8Array[] {
    const s = Number(toBigIndex(size, "tree size"));
    const i = Number(toBigIndex(index, "leaf index"));
    if (s > this.n) throw new TlogError("BAD_INDEX", `tree size ${s} is above the current size ${this.n}`);
    if (i >= s)
      throw new TlogError(
        "BAD_INDEX",
        `leaf index ${i} is outside a tree of size ${s}; the index must be below the size`,
      );
    const out: Uint8Array[] = [];
    this.path(i, 0, s, out);
    return out;
  }

  consistencyProof(oldSize: bigint | number, newSize: bigint | number = this.n): Uint8Array[] {
    const n = Number(toBigIndex(newSize, "new size"));
    const m = Number(toBigIndex(oldSize, "old size"));
    if (n > this.n) throw new TlogError("BAD_INDEX", `tree size ${n} is above the current size ${this.n}`);
    if (m > n) throw new TlogError("BAD_INDEX", `old size ${m} must be between 0 and the new size ${n}`);
    const out: Uint8Array[] = [];
    if (m === 0 || m === n) return out;
    this.subproof(m, 0, n, true, out);
    return out;
  }
}

/** RFC 6962 audit path for leaf `index` in the tree made of `leafHashes`. */
export function inclusionProof(index: bigint | number, leafHashes: readonly Uint8Array[]): Uint8Array[] {
  const i = toBigIndex(index, "leaf index");
  const size = BigInt(leafHashes.length);
  if (i >= size) throw new TlogError("BAD_INDEX", `leaf index ${i} is outside a tree of size ${size}`);
  return new MerkleTree(leafHashes).inclusionProof(i);
}

/** RFC 6962 consistency proof from the tree's first `oldSize` leaves to all of `leafHashes`. */
export function consistencyProof(oldSize: bigint | number, leafHashes: readonly Uint8Array[]): Uint8Array[] {
  const m = toBigIndex(oldSize, "old size");
  if (m > BigInt(leafHashes.length)) {
    throw new TlogError("BAD_INDEX", `old size ${m} is above the tree size ${leafHashes.length}`);
  }
  return new MerkleTree(leafHashes).consistencyProof(m);
}

function asBig(v: unknown): bigint | undefined {
  if (typeof v === "bigint") return v >= 0n && v < TWO_64 ? v : undefined;
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  return undefined;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

function validProof(proof: unknown): proof is Uint8Array[] {
  return Array.isArray(proof) && proof.length <= MAX_PROOF_LENGTH && proof.every(isHash);
}

/**
 * Root recomputed from an inclusion proof (RFC 9162 §2.1.3.2 steps 1-4), or undefined when the
 * proof has the wrong shape for (index, size).
 */
export function rootFromInclusionProof(
  index: bigint | number,
  size: bigint | number,
  leaf: Uint8Array,
  proof: readonly Uint8Array[],
): Uint8Array | undefined {
  const i = asBig(index),
    s = asBig(size);
  if (i === undefined || s === undefined || i >= s || !isHash(leaf) || !validProof(proof)) return undefined;
  let fn = i,
    sn = s - 1n;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) return undefined;
    if ((fn & 1n) === 1n || fn === sn) {
      r = rawNode(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = rawNode(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n ? r : undefined;
}

/**
 * Verifies that `leafHash` is at `index` in the tree of `size` leaves with root `root`
 * (RFC 9162 §2.1.3.2). Returns false, never throws, on any bad input: index >= size, a hash that
 * is not 32 bytes, more than 64 proof hashes.
 */
export function verifyInclusion(
  index: bigint | number,
  size: bigint | number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!isHash(root)) return false;
  const r = rootFromInclusionProof(index, size, leafHash, proof);
  return r !== undefined && equalBytes(r, root);
}

/**
 * Verifies that the tree of `oldSize` leaves with `oldRoot` is a prefix of the tree of `newSize`
 * leaves with `newRoot` (RFC 9162 §2.1.4.2). Equal sizes (0 included) need an empty proof and
 * equal roots. A proof from size 0 to a larger size is meaningless and returns false, as in
 * transparency-dev/merkle: a first checkpoint has to be trusted some other way. Never throws.
 */
export function verifyConsistency(
  oldSize: bigint | number,
  newSize: bigint | number,
  proof: readonly Uint8Array[],
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
): boolean {
  const first = asBig(oldSize),
    second = asBig(newSize);
  if (first === undefined || second === undefined) return false;
  if (!isHash(oldRoot) || !isHash(newRoot) || !validProof(proof)) return false;
  if (first > second) return false;
  if (first === second) return proof.length === 0 && equalBytes(oldRoot, newRoot);
  if (first === 0n) return false;
  if (proof.length === 0) return false;
  const path = (first & (first - 1n)) === 0n ? [oldRoot, ...proof] : [...proof];
  let fn = first - 1n,
    sn = second - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0]!,
    sr = path[0]!;
  for (let j = 1; j < path.length; j++) {
    const c = path[j]!;
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      fr = rawNode(c, fr);
      sr = rawNode(c, sr);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      sr = rawNode(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && equalBytes(fr, oldRoot) && equalBytes(sr, newRoot);
}

export { equalBytes };
