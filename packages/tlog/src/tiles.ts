/**
 * C2SP tlog-tiles (c2sp.org/tlog-tiles): a log served as static files. Hash tiles
 * `tile/<L>/<N>[.p/<W>]` hold up to 256 hashes of Merkle level 8·L; entry bundles ("data tiles")
 * `tile/entries/<N>[.p/<W>]` hold up to 256 entries, each a big-endian uint16 length and the bytes.
 * Partial tiles (W < 256) exist for the right edge of a tree; they are never hashed upwards.
 *
 * `TileReader` computes any subtree hash, the root, inclusion and consistency proofs of a tree
 * of a given size by fetching only the tiles that size requires, through a caller-supplied
 * `fetch(path)` (files on disk, HTTP, memory).
 */
import { TlogError } from "./error.js";
import {
  HASH_SIZE,
  type MerkleTree,
  consistencyRanges,
  emptyRoot,
  foldSubtrees,
  inclusionRanges,
  nodeHash,
  perfectSubtrees,
  toBigIndex,
  type Range,
} from "./merkle.js";

export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;
/** Largest entry a bundle can hold (uint16 length prefix). */
export const MAX_ENTRY_SIZE = 0xffff;

/** Writes a tile index as zero-padded 3-digit groups, all but the last prefixed with 'x'. */
export function tileIndexPath(index: bigint | number): string {
  let n = toBigIndex(index, "tile index");
  const groups: string[] = [];
  do {
    groups.unshift((n % 1000n).toString().padStart(3, "0"));
    n /= 1000n;
  } while (n > 0n);
  return groups.map((g, i) => (i < groups.length - 1 ? "x" + g : g)).join("/");
}

/**
 * Path of a tile relative to the log prefix: `tile/<level>/<index>` for a full tile and
 * `tile/<level>/<index>.p/<width>` for a partial one (width 1..255; 256 or undefined means full).
 * `level` is 0..63, or "entries" (or -1, as Go's sumdb/tlog numbers data tiles) for an entry
 * bundle; "data" gives static-ct-api's `tile/data`.
 */
export function tilePath(level: number | "entries" | "data", index: bigint | number, width?: number): string {
  let l: string;
  if (level === "entries" || level === "data") l = level;
  else if (level === -1)
    l = "entries"; // Go's sumdb/tlog uses level -1 for data tiles
  else if (Number.isInteger(level) && level >= 0 && level <= 63) l = String(level);
  else
    throw new TlogError(
      "BAD_INDEX",
      `tile level must be an integer in 0..63, "entries" or "data" (got ${String(level)})`,
    );
  let p = `tile/${l}/${tileIndexPath(index)}`;
  if (width !== undefined && width !== TILE_WIDTH) {
    if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH) {
      throw new TlogError("BAD_INDEX", `tile width must be an integer in 1..256 (got ${String(width)})`);
    }
    p += `.p/${width}`;
  }
  return p;
}

export interface TileRef {
  readonly level: number;
  readonly index: bigint;
  /** number of hashes (or entries): 256 for a full tile */
  readonly width: number;
}

/** Number of complete hashes of tile level `level` in a tree of `size` leaves: floor(size / 256^level). */
export function levelCount(level: number, size: bigint): bigint {
  return size >> BigInt(TILE_HEIGHT * level);
}

/** Width of tile (level, index) in a tree of `size`, or 0 when that tile does not exist yet. */
export function tileWidth(level: number, index: bigint, size: bigint): number {
  const rest = levelCount(level, size) - index * BigInt(TILE_WIDTH);
  if (rest <= 0n) return 0;
  return rest >= BigInt(TILE_WIDTH) ? TILE_WIDTH : Number(rest);
}

/** Every hash tile (full and partial) a tree of `size` leaves has, level by level. */
export function tilesForSize(size: bigint | number): TileRef[] {
  return newTiles(0n, size);
}

/**
 * The hash tiles a log must write when it grows from `oldSize` to `newSize`: tiles that are new
 * or wider than before. Entry bundles follow level 0 (same indices and widths).
 */
export function newTiles(oldSize: bigint | number, newSize: bigint | number): TileRef[] {
  const o = toBigIndex(oldSize, "old size"),
    n = toBigIndex(newSize, "new size");
  if (o > n) throw new TlogError("BAD_INDEX", `old size ${o} is above new size ${n}`);
  const out: TileRef[] = [];
  for (let level = 0; levelCount(level, n) > 0n; level++) {
    const first = levelCount(level, o) / BigInt(TILE_WIDTH);
    const last = (levelCount(level, n) - 1n) / BigInt(TILE_WIDTH);
    for (let t = first; t <= last; t++) {
      const w = tileWidth(level, t, n);
      if (w > 0 && w !== tileWidth(level, t, o)) out.push({ level, index: t, width: w });
    }
  }
  return out;
}

/** Concatenates hashes into tile bytes. */
export function encodeHashTile(hashes: readonly Uint8Array[]): Uint8Array {
  if (hashes.length < 1 || hashes.length > TILE_WIDTH)
    throw new TlogError("BAD_TILE", `a tile holds 1..256 hashes (got ${hashes.length})`);
  const out = new Uint8Array(hashes.length * HASH_SIZE);
  hashes.forEach((h, i) => {
    if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE)
      throw new TlogError("BAD_HASH", `tile hash ${i} is not 32 bytes`);
    out.set(h, i * HASH_SIZE);
  });
  return out;
}

/** Splits tile bytes into hashes; with `width`, the tile must hold exactly that many. */
export function decodeHashTile(bytes: Uint8Array, width?: number): Uint8Array[] {
  if (
    !(bytes instanceof Uint8Array) ||
    bytes.length === 0 ||
    bytes.length % HASH_SIZE !== 0 ||
    bytes.length > TILE_WIDTH * HASH_SIZE
  ) {
    throw new TlogError("BAD_TILE", `a hash tile is 1..256 hashes of 32 bytes (got ${bytes?.length} bytes)`);
  }
  const n = bytes.length / HASH_SIZE;
  if (width !== undefined && n !== width)
    throw new TlogError("BAD_TILE", `expected a tile of ${width} hashes, got ${n}`);
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) out.push(bytes.slice(i * HASH_SIZE, (i + 1) * HASH_SIZE));
  return out;
}

/** Encodes entries as an entry bundle: each a big-endian uint16 length followed by its bytes. */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Uint8Array {
  if (entries.length < 1 || entries.length > TILE_WIDTH)
    throw new TlogError("BAD_TILE", `an entry bundle holds 1..256 entries (got ${entries.length})`);
  let total = 0;
  for (const e of entries) {
    if (e.length > MAX_ENTRY_SIZE)
      throw new TlogError("BAD_ENTRY", `a log entry is at most 65535 bytes (got ${e.length}); log a digest instead`);
    total += 2 + e.length;
  }
  const out = new Uint8Array(total);
  let p = 0;
  for (const e of entries) {
    out[p] = e.length >> 8;
    out[p + 1] = e.length & 0xff;
    out.set(e, p + 2);
    p += 2 + e.length;
  }
  return out;
}

/** Decodes an entry bundle; with `width`, it must hold exactly that many entries. */
export function decodeEntryBundle(bytes: Uint8Array, width?: number): Uint8Array[] {
  if (!(bytes instanceof Uint8Array)) throw new TlogError("BAD_TILE", "an entry bundle must be bytes");
  const out: Uint8Array[] = [];
  let p = 0;
  while (p < bytes.length) {
    if (out.length >= TILE_WIDTH) throw new TlogError("BAD_TILE", "an entry bundle holds at most 256 entries");
    if (p + 2 > bytes.length)
      throw new TlogError("BAD_TILE", `entry bundle truncated in the length of entry ${out.length}`);
    const len = (bytes[p]! << 8) | bytes[p + 1]!;
    if (p + 2 + len > bytes.length)
      throw new TlogError("BAD_TILE", `entry bundle truncated in entry ${out.length} (${len} bytes announced)`);
    out.push(bytes.slice(p + 2, p + 2 + len));
    p += 2 + len;
  }
  if (out.length === 0) throw new TlogError("BAD_TILE", "an entry bundle must not be empty");
  if (width !== undefined && out.length !== width)
    throw new TlogError("BAD_TILE", `expected an entry bundle of ${width} entries, got ${out.length}`);
  return out;
}

/** The bytes of hash tile `ref` of a tree held in memory (the tree may be larger than the tile needs). */
export function hashTileFromTree(tree: MerkleTree, ref: TileRef): Uint8Array {
  const level = ref.level * TILE_HEIGHT;
  const start = Number(ref.index) * TILE_WIDTH;
  if (tree.levelCount(level) < start + ref.width)
    throw new TlogError(
      "BAD_INDEX",
      `tree of size ${tree.size} has no tile ${tilePath(ref.level, ref.index, ref.width)}`,
    );
  const hashes: Uint8Array[] = [];
  for (let i = 0; i < ref.width; i++) hashes.push(tree.node(level, start + i));
  return encodeHashTile(hashes);
}

export type TileFetch = (path: string) => Promise<Uint8Array>;

/**
 * Reads a tree of a fixed `size` (normally from a verified checkpoint) from its tiles. Fetches
 * the partial tile the size implies; if that fails and the full tile exists, uses its prefix.
 * Tiles are cached per reader. Hashes computed here are only as good as the tiles: callers check
 * the root against a signed checkpoint (`root()`), after which every proof is bound to it.
 */
export class TileReader {
  readonly size: bigint;
  private readonly cache = new Map<string, Promise<Uint8Array[]>>();
  private readonly inner = new WeakMap<Uint8Array[], Uint8Array[][]>();

  constructor(
    private readonly fetch: TileFetch,
    size: bigint | number,
  ) {
    this.size = toBigIndex(size, "tree size");
  }

  /** The hashes in tile (level, index), as many as the tree size implies. */
  tile(level: number, index: bigint): Promise<Uint8Array[]> {
    const width = tileWidth(level, index, this.size);
    if (width === 0)
      return Promise.reject(
        new TlogError("BAD_INDEX", `tile ${level}/${index} does not exist in a tree of size ${this.size}`),
      );
    const key = `${level}/${index}`;
    let p = this.cache.get(key);
    if (!p) {
      p = this.load(level, index, width);
      this.cache.set(key, p);
      p.catch(() => this.cache.delete(key));
    }
    return p;
  }

  private async load(level: number, index: bigint, width: number): Promise<Uint8Array[]> {
    const path = tilePath(level, index, width);
    let bytes: Uint8Array;
    try {
      bytes = await this.fetch(path);
    } catch (cause) {
      if (width === TILE_WIDTH) throw new TlogError("MISSING_TILE", `could not read tile ${path}`, { cause });
      try {
        bytes = (await this.fetch(tilePath(level, index))).subarray(0, width * HASH_SIZE);
      } catch {
        throw new TlogError("MISSING_TILE", `could not read tile ${path} (nor the full tile)`, { cause });
      }
    }
    return decodeHashTile(bytes, width);
  }

  /** Hash of the complete subtree of 2^level leaves at `index` (must lie within the size). */
  async nodeHash(level: number, index: bigint): Promise<Uint8Array> {
    if (
      !Number.isInteger(level) ||
      level < 0 ||
      level > 63 ||
      index < 0n ||
      (index + 1n) << BigInt(level) > this.size
    ) {
      throw new TlogError("BAD_INDEX", `subtree ${level}/${index} is not complete in a tree of size ${this.size}`);
    }
    const tileLevel = Math.floor(level / TILE_HEIGHT);
    const r = level - tileLevel * TILE_HEIGHT;
    const first = index << BigInt(r);
    const t = first / BigInt(TILE_WIDTH);
    const hashes = await this.tile(tileLevel, t);
    const off = Number(first - t * BigInt(TILE_WIDTH));
    if (r === 0) return hashes[off]!;
    // the tile's inner levels, computed once per tile and kept
    let inner = this.inner.get(hashes);
    if (!inner) this.inner.set(hashes, (inner = [hashes]));
    for (let j = inner.length; j <= r; j++) {
      const below = inner[j - 1]!;
      const row: Uint8Array[] = [];
      for (let i = 0; i + 1 < below.length; i += 2) row.push(nodeHash(below[i]!, below[i + 1]!));
      inner.push(row);
    }
    return inner[r]![off >> r]!;
  }

  /** MTH(D[start:end]) for ranges that occur in RFC 6962 proofs (start aligned). */
  async rangeHash(start: bigint, end: bigint): Promise<Uint8Array> {
    if (start < 0n || start > end || end > this.size)
      throw new TlogError("BAD_INDEX", `range [${start}, ${end}) is outside a tree of size ${this.size}`);
    if (start === end) return emptyRoot();
    const parts = await Promise.all(perfectSubtrees(start, end).map(([l, i]) => this.nodeHash(l, i)));
    return foldSubtrees(parts);
  }

  async root(): Promise<Uint8Array> {
    return this.rangeHash(0n, this.size);
  }

  private hashRanges(ranges: Range[]): Promise<Uint8Array[]> {
    return Promise.all(ranges.map(([a, b]) => this.rangeHash(a, b)));
  }

  /** Inclusion proof for leaf `index` in this tree. */
  async inclusionProof(index: bigint | number): Promise<Uint8Array[]> {
    return this.hashRanges(inclusionRanges(toBigIndex(index, "leaf index"), this.size));
  }

  /** Consistency proof from `oldSize` to this tree's size. */
  async consistencyProof(oldSize: bigint | number): Promise<Uint8Array[]> {
    return this.hashRanges(consistencyRanges(toBigIndex(oldSize, "old size"), this.size));
  }

  /** Leaf hashes [start, end) read from level-0 tiles. */
  async leafHashes(start: bigint, end: bigint): Promise<Uint8Array[]> {
    if (start < 0n || start > end || end > this.size)
      throw new TlogError("BAD_INDEX", `leaves [${start}, ${end}) are outside a tree of size ${this.size}`);
    const out: Uint8Array[] = [];
    for (let i = start; i < end; ) {
      const t = i / BigInt(TILE_WIDTH);
      const tile = await this.tile(0, t);
      const off = Number(i - t * BigInt(TILE_WIDTH));
      const take = Math.min(tile.length - off, Number(end - i));
      out.push(...tile.slice(off, off + take));
      i += BigInt(take);
    }
    return out;
  }
}

/** Reads entries [start, end) of a tree of `size` from its entry bundles. */
export async function readEntries(
  fetch: TileFetch,
  size: bigint | number,
  start: bigint | number,
  end: bigint | number,
): Promise<Uint8Array[]> {
  const s = toBigIndex(size, "tree size"),
    a = toBigIndex(start, "start"),
    b = toBigIndex(end, "end");
  if (a > b || b > s) throw new TlogError("BAD_INDEX", `entries [${a}, ${b}) are outside a tree of size ${s}`);
  const out: Uint8Array[] = [];
  for (let i = a; i < b; ) {
    const t = i / BigInt(TILE_WIDTH);
    const width = tileWidth(0, t, s);
    const path = tilePath("entries", t, width);
    let bytes: Uint8Array;
    try {
      bytes = await fetch(path);
    } catch (cause) {
      throw new TlogError("MISSING_TILE", `could not read entry bundle ${path}`, { cause });
    }
    const entries = decodeEntryBundle(bytes, width);
    const off = Number(i - t * BigInt(TILE_WIDTH));
    const take = Math.min(width - off, Number(b - i));
    out.push(...entries.slice(off, off + take));
    i += BigInt(take);
  }
  return out;
}
