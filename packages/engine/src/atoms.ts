/**
 * The atom table: every atom (1 to 4 concrete bytes) of every string of every rule, and the
 * single pass that finds where they occur. Atoms are keyed by their bytes as a 32-bit value;
 * for each atom length a bitmap over a multiplicative hash of the key (sized to the number of
 * atoms) answers "maybe" in one probe, and a Map gives the exact targets. The pass writes
 * candidate positions into a reusable buffer; verification happens afterwards, outside the
 * hot loop, so the loop stays small enough for the JIT to compile it tightly.
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
    this.filter = buildAtomFilter(this.maps.map((m) => m.keys()));
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
