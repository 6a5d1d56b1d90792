// The atom pre-filter's skip table (atomSkipTable): the pass that steps over positions where no
// atom can end finds every real atom occurrence, in the same order, that the pass probing every
// byte finds; of the bitmap's false candidates (hash collisions) it may report fewer.
import { describe, expect, it } from "vitest";
import { atomSkipTable, buildAtomFilter, findAtomHits, HitBuffer, type AtomFilter } from "../src/index.js";

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hits(bytes: Uint8Array, from: number, to: number, f: AtomFilter): Array<[number, number]> {
  const h = new HitBuffer();
  findAtomHits(bytes, from, to, f, h);
  return Array.from({ length: h.n }, (_, i) => [h.pos[i]!, h.len[i]!]);
}

const keyOf = (b: string | number[]) =>
  (typeof b === "string" ? Array.from(b, (c) => c.charCodeAt(0)) : b).reduce((k, x) => ((k << 8) | x) >>> 0, 0);

describe("atomSkipTable", () => {
  it("is only made for atoms of 3 or 4 bytes, when pairs that end an atom are rare", () => {
    expect(atomSkipTable([[], [], [], []])).toBeUndefined();
    expect(atomSkipTable([[0x41], [], [], [keyOf("abcd")]])).toBeUndefined();
    expect(atomSkipTable([[], [keyOf("ab")], [], [keyOf("abcd")]])).toBeUndefined();
    const t = atomSkipTable([[], [], [keyOf("xyz")], [keyOf("abcd")]])!;
    expect(t).toBeInstanceOf(Uint8Array);
    const pair = (s: string) => (s.charCodeAt(0) << 8) | s.charCodeAt(1);
    expect([t[pair("ab")], t[pair("bc")], t[pair("cd")], t[pair("xy")], t[pair("yz")], t[pair("qq")]]).toEqual([
      2, 1, 0, 1, 0, 2,
    ]);
    // every pair may end an atom: no table
    const dense: number[] = [];
    for (let p = 0; p < 65536; p++) dense.push((0x41 << 16) | p);
    expect(atomSkipTable([[], [], dense, []])).toBeUndefined();
  });

  it("finds every atom occurrence the byte-by-byte pass finds (random atoms, data and windows)", () => {
    const r = rng(15);
    let found = 0;
    for (let round = 0; round < 200; round++) {
      // a small alphabet makes atoms occur, overlap and share pairs
      const alphabet = 2 + Math.floor(r() * (round % 3 === 0 ? 254 : 6));
      const byte = () => 0x40 + Math.floor(r() * alphabet);
      const keys: number[][] = [[], [], [], []];
      const nAtoms = 1 + Math.floor(r() * 12);
      for (let a = 0; a < nAtoms; a++) {
        const len = 3 + Math.floor(r() * 2);
        keys[len - 1]!.push(keyOf(Array.from({ length: len }, byte)));
      }
      const sets = keys.map((k) => new Set(k));
      const plain = buildAtomFilter(keys);
      const skip = atomSkipTable(keys);
      if (!skip) continue;
      const skipping: AtomFilter = { ...buildAtomFilter(keys), skip };
      const n = Math.floor(r() * 3000);
      const data = Uint8Array.from({ length: n }, () => (r() < 0.05 ? Math.floor(r() * 256) : byte()));
      for (let w = 0; w < 4; w++) {
        const from = w === 0 ? 0 : Math.floor(r() * (n + 1));
        const to = w === 0 ? n : from + Math.floor(r() * (n - from + 1));
        const all = hits(data, from, to, plain);
        const fewer = hits(data, from, to, skipping);
        const real = (h: Array<[number, number]>) =>
          h.filter(([p, l]) => {
            let k = 0;
            for (let x = p; x < p + l; x++) k = ((k << 8) | data[x]!) >>> 0;
            return sets[l - 1]!.has(k);
          });
        expect(real(fewer)).toEqual(real(all));
        // the rest are candidates the byte-by-byte pass also gave
        const given = new Set(all.map(([p, l]) => `${p}:${l}`));
        expect(fewer.filter(([p, l]) => !given.has(`${p}:${l}`))).toEqual([]);
        found += real(all).length;
      }
    }
    expect(found).toBeGreaterThan(1000); // the rounds did find atoms
  });

  it("steps over text without the atoms' pairs and still finds an atom at the very start and end", () => {
    const keys = [[], [], [], [keyOf("mark")]];
    const f: AtomFilter = { ...buildAtomFilter(keys), skip: atomSkipTable(keys) };
    expect(f.skip).toBeDefined();
    const text = new TextEncoder().encode(`mark${"alpha beta gamma ".repeat(50)}mar markmark`);
    const want = [
      [0, 4],
      [text.length - 8, 4],
      [text.length - 4, 4],
    ];
    expect(hits(text, 0, text.length, f)).toEqual(want);
    expect(hits(text, 0, text.length, buildAtomFilter(keys))).toEqual(want);
    // a window starting inside an atom: the atom ends in the window, so it is a hit
    expect(hits(text, 2, 10, f)).toEqual([[0, 4]]);
  });
});
