/**
 * The atom table: every atom (1 to 4 concrete bytes) of every string of every rule, and the
 * single pass that finds where they occur. Atoms are keyed by their bytes as a 32-bit value;
 * for each atom length a bitmap over a multiplicative hash of the key (sized to the number of
 * atoms) answers "maybe" in one probe, and a Map gives the exact targets. The pass writes
 * candidate positions into a reusable buffer; verification happens afterwards, outside the
 * hot loop, so the loop stays small enough for the JIT to compile it tightly. When every atom
 * has 3 or 4 bytes, a skip table over byte pairs (as in Wu and Manber's multi-pattern search)
 * lets the pass step over positions where no atom can end: every atom occurrence is still a
 * hit, in the same order, with fewer probes (and fewer of the bitmaps' false candidates).
 */

const HASH = 0x9e3779b1;

export class AtomTable<T> {
  /** per atom length 1..4: key -> targets. */
  readonly maps: Array<Map<number, T[]>> = [new Map(), new Map(), new Map(), new Map()];
  private filter: AtomFilter = buildAtomFilter([[], [], [], []]);
  private built = false;

  add(atom: readonly number[], target: T): void {
    if (atom.length < 1 || atom.length > 4) throw new Error(`atom length ${atom.length} is outside 1..4`);
    let key = 0;
    for (const b of atom) key = (key << 8) | b;
    const map = this.maps[atom.length - 1]!;
    const list = map.get(key);
    if (list) list.push(target);
    else map.set(key, [target]);
    this.built = false;
  }

  /** Sizes and fills the bitmaps (about 32 bits per atom, between 2^10 and 2^24 bits). */
  build(): void {
    const keys = this.maps.map((m) => [...m.keys()]);
    this.filter = buildAtomFilter(keys);
    this.filter.skip = atomSkipTable(keys);
    this.built = true;
  }

  /**
   * Finds candidate atom ends in bytes[from, to): fills `hits` with (position of the atom's
   * first byte, atom length) pairs, in increasing order of atom end.
   */
  find(bytes: Uint8Array, from: number, to: number, hits: HitBuffer): void {
    if (!this.built) this.build();
    findAtomHits(bytes, from, to, this.filter, hits);
  }

  targets(bytes: Uint8Array, pos: number, len: number): T[] | undefined {
    let key = 0;
    for (let k = 0; k < len; k++) key = (key << 8) | bytes[pos + k]!;
    return this.maps[len - 1]!.get(key);
  }

  get size(): number {
    return this.maps.reduce((n, m) => n + m.size, 0);
  }
}

/**
 * The pre-filter over a set of atoms, in typed arrays only (so a caller can keep it in shared
 * memory): per atom length a bitmap over a multiplicative hash of the key and its shift, and
 * `tail`, indexed by the last two bytes of the window, saying which atom lengths (bit l-1) may
 * end there.
 */
export interface AtomFilter {
  tail: Uint8Array;
  bits: Array<Uint32Array | null>;
  shifts: number[];
  /** Optional skip table (atomSkipTable): the same atom occurrences, found with fewer probes. */
  skip?: Uint8Array | undefined;
}

/** Builds the pre-filter for atom keys given per length (index 0: 1-byte keys ... 3: 4-byte keys). */
export function buildAtomFilter(keysByLength: Array<Iterable<number>>): AtomFilter {
  const tail = new Uint8Array(65536);
  const bits: Array<Uint32Array | null> = [null, null, null, null];
  const shifts = [32, 32, 32, 32];
  for (let l = 0; l < 4; l++) {
    const keys = [...(keysByLength[l] ?? [])];
    for (const key of keys) {
      if (l === 0) for (let x = 0; x < 256; x++) tail[(x << 8) | (key & 0xff)]! |= 1;
      else tail[key & 0xffff]! |= 1 << l;
    }
    if (keys.length === 0) continue;
    let log = 10;
    while (log < 24 && 1 << log < keys.length * 32) log++;
    const bm = new Uint32Array(1 << (log - 5));
    const shift = 32 - log;
    for (const key of keys) {
      const h = Math.imul(key, HASH) >>> shift;
      bm[h >>> 5]! |= 1 << (h & 31);
    }
    bits[l] = bm;
    shifts[l] = shift;
  }
  return { tail, bits, shifts };
}

/**
 * Finds candidate atom ends in bytes[from, to) under a pre-filter: fills `hits` with (position
 * of the atom's first byte, atom length) pairs, in increasing order of atom end.
 */
export function findAtomHits(bytes: Uint8Array, from: number, to: number, f: AtomFilter, hits: HitBuffer): void {
  hits.n = 0;
  const b = f.bits;
  if (b[0] === null && b[1] === null && b[2] === null && b[3] === null) return; // no atoms: nothing can hit
  // (a skip table is only for atoms of 3 or 4 bytes)
  if (f.skip !== undefined && b[0] === null && b[1] === null) {
    findHitsSkipping(bytes, from, to, f.skip, f.tail, b[2]!, f.shifts[2]!, b[3]!, f.shifts[3]!, hits);
    return;
  }
  findHits(
    bytes,
    from,
    to,
    f.tail,
    f.bits[0]!,
    f.shifts[0]!,
    f.bits[1]!,
    f.shifts[1]!,
    f.bits[2]!,
    f.shifts[2]!,
    f.bits[3]!,
    f.shifts[3]!,
    hits,
  );
}

export class HitBuffer {
  pos = new Int32Array(1024);
  len = new Uint8Array(1024);
  n = 0;
  grow(): void {
    const p = new Int32Array(this.pos.length * 2);
    p.set(this.pos);
    const l = new Uint8Array(this.len.length * 2);
    l.set(this.len);
    this.pos = p;
    this.len = l;
  }
}

function push(hits: HitBuffer, pos: number, len: number): void {
  if (hits.n === hits.pos.length) hits.grow();
  hits.pos[hits.n] = pos;
  hits.len[hits.n] = len;
  hits.n++;
}

/**
 * The hot loop: one rolling 32-bit window and one probe per byte in a 64 KiB table indexed by
 * the window's last two bytes, which says which atom lengths may end here; only then are the
 * per-length bitmaps probed.
 */
function findHits(
  bytes: Uint8Array,
  from: number,
  to: number,
  tail: Uint8Array,
  b1: Uint32Array | null,
  s1: number,
  b2: Uint32Array | null,
  s2: number,
  b3: Uint32Array | null,
  s3: number,
  b4: Uint32Array | null,
  s4: number,
  hits: HitBuffer,
): void {
  // the window holds the bytes before `from` too, so atoms may start before it
  let v = 0;
  for (let k = Math.max(0, from - 3); k < from; k++) v = (v << 8) | bytes[k]!;
  for (let i = from; i < to; i++) {
    v = (v << 8) | bytes[i]!;
    const f = tail[v & 0xffff]!;
    if (f === 0) continue;
    if ((f & 8) !== 0 && i >= 3) {
      const h = Math.imul(v, HASH) >>> s4;
      if ((b4![h >>> 5]! & (1 << (h & 31))) !== 0) push(hits, i - 3, 4);
    }
    if ((f & 4) !== 0 && i >= 2) {
      const h = Math.imul(v & 0xffffff, HASH) >>> s3;
      if ((b3![h >>> 5]! & (1 << (h & 31))) !== 0) push(hits, i - 2, 3);
    }
    if ((f & 2) !== 0 && i >= 1) {
      const h = Math.imul(v & 0xffff, HASH) >>> s2;
      if ((b2![h >>> 5]! & (1 << (h & 31))) !== 0) push(hits, i - 1, 2);
    }
    if ((f & 1) !== 0) {
      const h = Math.imul(v & 0xff, HASH) >>> s1;
      if ((b1![h >>> 5]! & (1 << (h & 31))) !== 0) push(hits, i, 1);
    }
  }
}

/**
 * The skip table for atom keys given per length (as buildAtomFilter takes them), or undefined
 * when skipping would not pay: some atom is shorter than 3 bytes, or byte pairs that may end an
 * atom are common. Entry p (a byte pair, first byte high) is how many positions the search may
 * move on when the pair ends at the current position: at most the shortest atom's length
 * minus one, and for a pair found inside an atom, that atom's bytes after it. No atom ends
 * at the positions stepped over: such an atom would hold the pair that many bytes or fewer
 * before its end, or would be shorter than the shortest.
 */
export function atomSkipTable(keysByLength: Array<Iterable<number>>): Uint8Array | undefined {
  const byLength = keysByLength.map((k) => [...(k ?? [])]);
  if (byLength[0]?.length || byLength[1]?.length) return undefined;
  const shortest = byLength[2]?.length ? 3 : byLength[3]?.length ? 4 : 0;
  if (shortest === 0) return undefined;
  const skip = new Uint8Array(65536).fill(shortest - 1);
  for (let l = 3; l <= 4; l++) {
    for (const key of byLength[l - 1] ?? []) {
      // the pair ending at byte j of the atom (0 is its first byte) is followed by l-1-j bytes
      for (let j = 1; j < l; j++) {
        const pair = (key >>> (8 * (l - 1 - j))) & 0xffff;
        const after = l - 1 - j;
        if (after < skip[pair]!) skip[pair] = after;
      }
    }
  }
  // the expected step over uniformly random pairs: below 1.5 the extra work per probe loses
  let sum = 0;
  for (let p = 0; p < 65536; p++) sum += skip[p]! === 0 ? 1 : skip[p]!;
  return sum >= 1.5 * 65536 ? skip : undefined;
}

/**
 * findHits with a skip table (atomSkipTable; every atom has 3 or 4 bytes): at each position the
 * byte pair ending there says how far to move on; where it says 0 the position is probed as
 * findHits probes it. Every atom occurrence findHits reports is reported, in its order; the
 * positions stepped over can only hold the bitmaps' false candidates, which verification drops.
 */
function findHitsSkipping(
  bytes: Uint8Array,
  from: number,
  to: number,
  skip: Uint8Array,
  tail: Uint8Array,
  b3: Uint32Array | null,
  s3: number,
  b4: Uint32Array | null,
  s4: number,
  hits: HitBuffer,
): void {
  let i = from;
  // no atom of 3 or more bytes ends at position 0 or 1
  if (i < 2) i = 2;
  while (i < to) {
    const step = skip[(bytes[i - 1]! << 8) | bytes[i]!]!;
    if (step !== 0) {
      i += step;
      continue;
    }
    const v = (i >= 3 ? bytes[i - 3]! << 24 : 0) | (bytes[i - 2]! << 16) | (bytes[i - 1]! << 8) | bytes[i]!;
    const f = tail[v & 0xffff]!;
    if ((f & 8) !== 0 && i >= 3) {
      const h = Math.imul(v, HASH) >>> s4;
      if ((b4![h >>> 5]! & (1 << (h & 31))) !== 0) push(hits, i - 3, 4);
    }
    if ((f & 4) !== 0) {
      const h = Math.imul(v & 0xffffff, HASH) >>> s3;
      if ((b3![h >>> 5]! & (1 << (h & 31))) !== 0) push(hits, i - 2, 3);
    }
    i++;
  }
}
