import { describe, expect, it } from "vitest";
import {
  MerkleTree,
  TileReader,
  TlogError,
  decodeEntryBundle,
  decodeHashTile,
  encodeEntryBundle,
  encodeHashTile,
  hashTileFromTree,
  leafHash,
  newTiles,
  readEntries,
  tileIndexPath,
  tilePath,
  tilesForSize,
  verifyConsistency,
  verifyInclusion,
  type TileFetch,
} from "@vigil/tlog";

describe("tilePath", () => {
  it("writes indices as x-prefixed 3-digit groups", () => {
    expect(tileIndexPath(0)).toBe("000");
    expect(tileIndexPath(7)).toBe("007");
    expect(tileIndexPath(999)).toBe("999");
    expect(tileIndexPath(1000)).toBe("x001/000");
    expect(tileIndexPath(1234067n)).toBe("x001/x234/067");
    expect(tileIndexPath(2n ** 56n)).toBe("x072/x057/x594/x037/x927/936");
  });

  it("adds .p/W for partial tiles only", () => {
    expect(tilePath(0, 1234067n)).toBe("tile/0/x001/x234/067");
    expect(tilePath(0, 1234067n, 256)).toBe("tile/0/x001/x234/067");
    expect(tilePath(1, 5, 17)).toBe("tile/1/005.p/17");
    expect(tilePath("entries", 3, 112)).toBe("tile/entries/003.p/112");
    expect(tilePath("data", 0)).toBe("tile/data/000");
    expect(tilePath(-1, 1234, 9)).toBe("tile/entries/x001/234.p/9");
    expect(() => tilePath(0, 0, 0)).toThrow(TlogError);
    expect(() => tilePath(0, 0, 257)).toThrow(TlogError);
    expect(() => tilePath(64, 0)).toThrow(TlogError);
    expect(() => tilePath(-2, 0)).toThrow(TlogError);
    expect(() => tilePath(0, -1)).toThrow(TlogError);
  });
});

describe("tiles of a tree", () => {
  it("matches the spec's example: size 70000", () => {
    const t = tilesForSize(70000n);
    const l0 = t.filter((x) => x.level === 0),
      l1 = t.filter((x) => x.level === 1),
      l2 = t.filter((x) => x.level === 2);
    expect(l0.filter((x) => x.width === 256).length).toBe(273);
    expect(l0.filter((x) => x.width < 256)).toEqual([{ level: 0, index: 273n, width: 112 }]);
    expect(l1).toEqual([
      { level: 1, index: 0n, width: 256 },
      { level: 1, index: 1n, width: 17 },
    ]);
    expect(l2).toEqual([{ level: 2, index: 0n, width: 1 }]);
    expect(t.length).toBe(273 + 1 + 2 + 1);
  });

  it("lists only new or wider tiles when a log grows", () => {
    expect(newTiles(0n, 0n)).toEqual([]);
    expect(newTiles(10n, 10n)).toEqual([]);
    expect(newTiles(10n, 12n)).toEqual([{ level: 0, index: 0n, width: 12 }]);
    expect(newTiles(250n, 300n)).toEqual([
      { level: 0, index: 0n, width: 256 },
      { level: 0, index: 1n, width: 44 },
      { level: 1, index: 0n, width: 1 },
    ]);
    expect(newTiles(256n, 257n)).toEqual([{ level: 0, index: 1n, width: 1 }]);
    expect(() => newTiles(5n, 4n)).toThrow(TlogError);
  });

  it("encodes and decodes hash tiles strictly", () => {
    const hs = [leafHash("a"), leafHash("b")];
    const bytes = encodeHashTile(hs);
    expect(bytes.length).toBe(64);
    expect(decodeHashTile(bytes)).toEqual(hs);
    expect(decodeHashTile(bytes, 2)).toEqual(hs);
    expect(() => decodeHashTile(bytes, 3)).toThrow(TlogError);
    expect(() => decodeHashTile(bytes.subarray(0, 63))).toThrow(TlogError);
    expect(() => decodeHashTile(new Uint8Array(0))).toThrow(TlogError);
    expect(() => decodeHashTile(new Uint8Array(257 * 32))).toThrow(TlogError);
    expect(() => encodeHashTile([])).toThrow(TlogError);
  });

  it("encodes and decodes entry bundles (uint16 big-endian lengths)", () => {
    const es = [Buffer.from("one"), new Uint8Array(0), new Uint8Array(300).fill(7)];
    const b = encodeEntryBundle(es);
    expect([...b.subarray(0, 5)]).toEqual([0, 3, 0x6f, 0x6e, 0x65]);
    expect(decodeEntryBundle(b).map((x) => Buffer.from(x))).toEqual(es.map((x) => Buffer.from(x)));
    expect(() => decodeEntryBundle(b, 2)).toThrow(TlogError);
    expect(() => decodeEntryBundle(b.subarray(0, b.length - 1))).toThrow(/truncated/);
    expect(() => decodeEntryBundle(b.subarray(0, 1))).toThrow(/truncated/);
    expect(() => decodeEntryBundle(new Uint8Array(0))).toThrow(TlogError);
    expect(() => encodeEntryBundle([new Uint8Array(65536)])).toThrow(/65535/);
    expect(decodeEntryBundle(encodeEntryBundle([new Uint8Array(65535)]))[0]!.length).toBe(65535);
    // 257 empty entries is too many
    expect(() => decodeEntryBundle(new Uint8Array(257 * 2))).toThrow(TlogError);
  });
});

/** A static "web server" in memory: writes every tile a growing log produces, like a real log. */
function memoryLog(total: number, steps: number[]) {
  const files = new Map<string, Uint8Array>();
  const tree = new MerkleTree();
  const entries: Uint8Array[] = [];
  let size = 0;
  for (const target of [...steps, total]) {
    while (tree.size < target) {
      const e = Buffer.from(`entry ${tree.size}`);
      entries.push(e);
      tree.append(e);
    }
    for (const ref of newTiles(BigInt(size), BigInt(target))) {
      files.set(tilePath(ref.level, ref.index, ref.width), hashTileFromTree(tree, ref));
      if (ref.level === 0) {
        const start = Number(ref.index) * 256;
        files.set(
          tilePath("entries", ref.index, ref.width),
          encodeEntryBundle(entries.slice(start, start + ref.width)),
        );
      }
    }
    size = target;
  }
  const fetches: string[] = [];
  const fetch: TileFetch = async (p) => {
    fetches.push(p);
    const f = files.get(p);
    if (!f) throw new Error(`404 ${p}`);
    return f;
  };
  return { files, tree, fetch, fetches, entries };
}

describe("TileReader", () => {
  it("computes roots and proofs from tiles equal to the in-memory tree's", async () => {
    const { tree, fetch } = memoryLog(70000, [1, 255, 256, 300, 65536, 65537]);
    for (const size of [1, 2, 255, 256, 257, 300, 1000, 65535, 65536, 65537, 70000]) {
      const r = new TileReader(fetch, BigInt(size));
      const root = await r.root();
      expect(root).toEqual(tree.root(size));
      for (const i of [0, Math.floor(size / 2), size - 1]) {
        const p = await r.inclusionProof(BigInt(i));
        expect(p).toEqual(tree.inclusionProof(i, size));
        expect(verifyInclusion(BigInt(i), BigInt(size), tree.leafHash(i), p, root)).toBe(true);
      }
      for (const m of [1, Math.max(1, size >> 1), size]) {
        const p = await r.consistencyProof(BigInt(m));
        expect(p).toEqual(tree.consistencyProof(m, size));
        expect(verifyConsistency(BigInt(m), BigInt(size), p, tree.root(m), root)).toBe(true);
      }
    }
  });

  it("fetches only tiles the size requires, and falls back to the full tile", async () => {
    const { fetch, fetches, files, tree } = memoryLog(600, [10]);
    const r = new TileReader(fetch, 10n);
    expect(await r.root()).toEqual(tree.root(10));
    expect(fetches).toEqual(["tile/0/000.p/10"]);
    // a log that pruned its partial tiles: the reader uses a prefix of the full tile
    files.delete("tile/0/000.p/10");
    fetches.length = 0;
    expect(await new TileReader(fetch, 10n).root()).toEqual(tree.root(10));
    expect(fetches).toEqual(["tile/0/000.p/10", "tile/0/000"]);
  });

  it("reports missing or malformed tiles as errors, not crashes", async () => {
    const { fetch, files } = memoryLog(300, []);
    await expect(new TileReader(fetch, 301n).root()).rejects.toThrow(TlogError);
    files.set("tile/0/001.p/44", new Uint8Array(44 * 32 - 1));
    await expect(new TileReader(fetch, 300n).root()).rejects.toThrow(/tile/);
    await expect(new TileReader(fetch, 300n).inclusionProof(300n)).rejects.toThrow(TlogError);
  });

  it("reads entries back from entry bundles", async () => {
    const { fetch, entries, tree } = memoryLog(700, [100, 256]);
    const got = await readEntries(fetch, 700n, 250n, 520n);
    expect(got.map((e) => Buffer.from(e).toString())).toEqual(
      entries.slice(250, 520).map((e) => Buffer.from(e).toString()),
    );
    const leaves = await new TileReader(fetch, 700n).leafHashes(0n, 700n);
    expect(leaves).toEqual(got.length ? entries.map((e) => leafHash(e)) : []);
    expect(leaves[699]).toEqual(tree.leafHash(699));
    await expect(readEntries(fetch, 700n, 0n, 701n)).rejects.toThrow(TlogError);
  });
});
