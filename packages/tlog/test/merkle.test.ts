import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  MerkleTree,
  TlogError,
  consistencyProof,
  emptyRoot,
  inclusionProof,
  leafHash,
  nodeHash,
  rootHash,
  verifyConsistency,
  verifyInclusion,
} from "@vigil/tlog";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const sha = (...parts: Uint8Array[]) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};

/** MTH written literally from RFC 6962 §2.1, recursive, as the test oracle. */
function mth(leaves: Uint8Array[]): Uint8Array {
  const n = leaves.length;
  if (n === 0) return sha();
  if (n === 1) return sha(Uint8Array.of(0), leaves[0]!);
  let k = 1;
  while (k * 2 < n) k *= 2;
  return sha(Uint8Array.of(1), mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

function entries(n: number, seed = 0): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => Buffer.from(`entry ${seed}:${i}`));
}

/** Deterministic PRNG so failures reproduce. */
function rng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return Math.floor((s / 2 ** 32) * n);
  };
}

function flip(h: Uint8Array, bit: number): Uint8Array {
  const c = h.slice();
  c[bit >> 3]! ^= 1 << (bit & 7);
  return c;
}

describe("RFC 6962 hashing", () => {
  it("matches the known answers", () => {
    expect(hex(emptyRoot())).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(hex(rootHash([]))).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(hex(leafHash(new Uint8Array()))).toBe("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
    expect(hex(leafHash(Buffer.from("L123456")))).toBe(
      "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56",
    );
    // node hash of two 32-byte values equals SHA-256(0x01 || l || r)
    const l = sha(Buffer.from("N123")),
      r = sha(Buffer.from("N456"));
    expect(nodeHash(l, r)).toEqual(sha(Uint8Array.of(1), l, r));
  });

  it("returns plain 32-byte Uint8Arrays", () => {
    const h = leafHash("x");
    expect(h).toBeInstanceOf(Uint8Array);
    expect(h.length).toBe(32);
    expect(leafHash("x")).toEqual(leafHash(Buffer.from("x")));
  });

  it("rejects node inputs that are not 32 bytes", () => {
    expect(() => nodeHash(new Uint8Array(31), new Uint8Array(32))).toThrow(TlogError);
    expect(() => nodeHash(new Uint8Array(32), new Uint8Array(33))).toThrow(/32-byte/);
    expect(() => rootHash([new Uint8Array(32), new Uint8Array(3)])).toThrow(TlogError);
  });

  it("equals the recursive MTH for every size from 0 to 300 (no padding)", () => {
    const all = entries(300);
    const leaves = all.map((e) => leafHash(e));
    const tree = new MerkleTree();
    expect(tree.root()).toEqual(mth([]));
    for (let n = 1; n <= 300; n++) {
      tree.appendLeafHash(leaves[n - 1]!);
      const want = mth(all.slice(0, n));
      expect(rootHash(leaves.slice(0, n))).toEqual(want);
      expect(tree.root()).toEqual(want);
    }
    // earlier sizes stay readable from the grown tree
    expect(tree.root(5)).toEqual(mth(all.slice(0, 5)));
  });
});

describe("RFC 6962 §2.1.3 example tree (7 leaves)", () => {
  const d = entries(7);
  const [a, b, c, dd, e, f, j] = d.map((x) => leafHash(x)) as [
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array,
  ];
  const g = nodeHash(a, b),
    h = nodeHash(c, dd),
    i = nodeHash(e, f);
  const k = nodeHash(g, h),
    l = nodeHash(i, j);
  const root = nodeHash(k, l);
  const leaves = [a, b, c, dd, e, f, j];

  it("has the audit paths of the RFC", () => {
    expect(rootHash(leaves)).toEqual(root);
    expect(inclusionProof(0n, leaves)).toEqual([b, h, l]);
    expect(inclusionProof(3n, leaves)).toEqual([c, g, l]);
    expect(inclusionProof(4n, leaves)).toEqual([f, j, k]);
    expect(inclusionProof(6n, leaves)).toEqual([i, k]);
    for (const idx of [0n, 3n, 4n, 6n]) {
      expect(verifyInclusion(idx, 7n, leaves[Number(idx)]!, inclusionProof(idx, leaves), root)).toBe(true);
    }
  });

  it("has the consistency proofs of the RFC", () => {
    expect(consistencyProof(3n, leaves)).toEqual([c, dd, g, l]);
    expect(consistencyProof(4n, leaves)).toEqual([l]);
    expect(consistencyProof(6n, leaves)).toEqual([i, j, k]);
    expect(verifyConsistency(3n, 7n, [c, dd, g, l], rootHash(leaves.slice(0, 3)), root)).toBe(true);
    expect(verifyConsistency(4n, 7n, [l], k, root)).toBe(true);
    expect(verifyConsistency(6n, 7n, [i, j, k], nodeHash(k, i), root)).toBe(true);
  });

  it("gives empty proofs where the RFC defines them empty", () => {
    expect(inclusionProof(0, [a])).toEqual([]);
    expect(consistencyProof(7, leaves)).toEqual([]);
    expect(consistencyProof(0, leaves)).toEqual([]);
    expect(() => inclusionProof(7n, leaves)).toThrow(TlogError);
    expect(() => consistencyProof(8n, leaves)).toThrow(TlogError);
  });
});

describe("verification edge cases", () => {
  const leaves = entries(10).map((e) => leafHash(e));
  const root = rootHash(leaves);
  const proof = inclusionProof(3n, leaves);

  it("rejects indices at or above the size, and size 0", () => {
    expect(verifyInclusion(3n, 10n, leaves[3]!, proof, root)).toBe(true);
    expect(verifyInclusion(10n, 10n, leaves[3]!, proof, root)).toBe(false);
    expect(verifyInclusion(0n, 0n, leaves[0]!, [], emptyRoot())).toBe(false);
    expect(verifyInclusion(-1n, 10n, leaves[3]!, proof, root)).toBe(false);
  });

  it("rejects hashes that are not 32 bytes, even where the literal RFC loop would accept", () => {
    expect(verifyInclusion(0n, 1n, new Uint8Array(0), [], new Uint8Array(0))).toBe(false);
    expect(verifyInclusion(3n, 10n, leaves[3]!, proof, root.subarray(0, 31))).toBe(false);
    expect(verifyInclusion(3n, 10n, leaves[3]!, [...proof.slice(0, -1), new Uint8Array(33)], root)).toBe(false);
    expect(verifyConsistency(5n, 5n, [], new Uint8Array(0), new Uint8Array(0))).toBe(false);
  });

  it("rejects proofs with too many or too few hashes", () => {
    expect(verifyInclusion(3n, 10n, leaves[3]!, [...proof, proof[0]!], root)).toBe(false);
    expect(verifyInclusion(3n, 10n, leaves[3]!, proof.slice(1), root)).toBe(false);
    expect(
      verifyInclusion(
        3n,
        10n,
        leaves[3]!,
        Array.from({ length: 65 }, () => proof[0]!),
        root,
      ),
    ).toBe(false);
  });

  it("treats equal sizes as consistent only with an empty proof and equal roots", () => {
    expect(verifyConsistency(10n, 10n, [], root, root)).toBe(true);
    expect(verifyConsistency(10n, 10n, [root], root, root)).toBe(false);
    expect(verifyConsistency(10n, 10n, [], root, leaves[0]!)).toBe(false);
  });

  it("rejects a proof from size 0 to a larger size, old > new, and an empty proof between different sizes", () => {
    expect(verifyConsistency(0n, 10n, [], emptyRoot(), root)).toBe(false);
    expect(verifyConsistency(0n, 10n, [root], emptyRoot(), root)).toBe(false);
    // 0 -> 0 is the equal-size case (transparency-dev/merkle checks equal sizes before size 0)
    expect(verifyConsistency(0n, 0n, [], emptyRoot(), emptyRoot())).toBe(true);
    expect(verifyConsistency(0n, 0n, [emptyRoot()], emptyRoot(), emptyRoot())).toBe(false);
    const r4 = rootHash(leaves.slice(0, 4));
    expect(verifyConsistency(10n, 4n, consistencyProof(4n, leaves), root, r4)).toBe(false);
    expect(verifyConsistency(4n, 10n, [], r4, root)).toBe(false);
    expect(verifyConsistency(4n, 10n, consistencyProof(4n, leaves), r4, root)).toBe(true);
  });

  it("handles sizes and indices beyond 2^53 as bigints", () => {
    // a tree of 2^60 + 3 leaves: the right edge is a 3-leaf subtree; verify the last leaf's path shape
    const size = (1n << 60n) + 3n;
    const index = size - 1n;
    const x = leafHash("x"),
      y = leafHash("y"),
      z = leafHash("z"),
      big = leafHash("big");
    // path for the last leaf of [.. 2^60 | x y z]: z's sibling is the 2-leaf node (x,y), then the left 2^60 subtree
    const xy = nodeHash(x, y);
    const root = nodeHash(big, nodeHash(xy, z));
    expect(verifyInclusion(index, size, z, [xy, big], root)).toBe(true);
    expect(verifyInclusion(index, size + 1n, z, [xy, big], root)).toBe(false);
    expect(verifyInclusion(2n ** 64n, 2n ** 64n, z, [xy, big], root)).toBe(false);
  });

  it("never throws on garbage input", () => {
    const junk: unknown[] = [undefined, null, "3", 1.5, -1, {}, [1, 2]];
    for (const v of junk) {
      expect(verifyInclusion(v as bigint, 10n, leaves[3]!, proof, root)).toBe(false);
      expect(verifyInclusion(3n, 10n, v as Uint8Array, proof, root)).toBe(false);
      expect(verifyInclusion(3n, 10n, leaves[3]!, v as Uint8Array[], root)).toBe(false);
      expect(verifyConsistency(v as bigint, 10n, [], root, root)).toBe(false);
      expect(verifyConsistency(4n, 10n, v as Uint8Array[], root, root)).toBe(false);
    }
  });
});

describe("property tests on random trees", () => {
  it("every inclusion proof verifies and every single-bit change fails", () => {
    const rand = rng(42);
    const sizes = [1, 2, 3, 5, 8, 13, 64, 127, 255, 256, 257, 1000, 2049, 4097];
    for (const n of sizes) {
      const leaves = Array.from({ length: n }, () => new Uint8Array(randomBytes(32)));
      const tree = new MerkleTree(leaves);
      const root = tree.root();
      expect(root).toEqual(rootHash(leaves));
      const indices =
        n <= 64 ? Array.from({ length: n }, (_, i) => i) : Array.from({ length: 40 }, () => rand(n)).concat([0, n - 1]);
      for (const i of indices) {
        const proof = tree.inclusionProof(i);
        expect(verifyInclusion(BigInt(i), BigInt(n), leaves[i]!, proof, root)).toBe(true);
        // flip one random bit in the leaf, the root, and in each proof element
        expect(verifyInclusion(BigInt(i), BigInt(n), flip(leaves[i]!, rand(256)), proof, root)).toBe(false);
        expect(verifyInclusion(BigInt(i), BigInt(n), leaves[i]!, proof, flip(root, rand(256)))).toBe(false);
        for (let p = 0; p < proof.length; p++) {
          const bad = proof.slice();
          bad[p] = flip(bad[p]!, rand(256));
          expect(verifyInclusion(BigInt(i), BigInt(n), leaves[i]!, bad, root)).toBe(false);
        }
        if (n > 1) expect(verifyInclusion(BigInt((i + 1) % n), BigInt(n), leaves[i]!, proof, root)).toBe(false);
      }
    }
  });

  it("every bit of a small tree's proofs matters", () => {
    const leaves = entries(11).map((e) => leafHash(e));
    const root = rootHash(leaves);
    const proof = inclusionProof(6n, leaves);
    for (let p = 0; p < proof.length; p++) {
      for (let bit = 0; bit < 256; bit++) {
        const bad = proof.slice();
        bad[p] = flip(bad[p]!, bit);
        expect(verifyInclusion(6n, 11n, leaves[6]!, bad, root)).toBe(false);
      }
    }
    const cons = consistencyProof(5n, leaves);
    const r5 = rootHash(leaves.slice(0, 5));
    for (let p = 0; p < cons.length; p++) {
      for (let bit = 0; bit < 256; bit++) {
        const bad = cons.slice();
        bad[p] = flip(bad[p]!, bit);
        expect(verifyConsistency(5n, 11n, bad, r5, root)).toBe(false);
      }
    }
  });

  it("every consistency proof verifies and every single-bit change fails", () => {
    const rand = rng(7);
    for (const n of [2, 3, 4, 7, 16, 17, 100, 511, 1024, 3000]) {
      const leaves = Array.from({ length: n }, () => new Uint8Array(randomBytes(32)));
      const tree = new MerkleTree(leaves);
      const root = tree.root();
      const olds =
        n <= 17
          ? Array.from({ length: n }, (_, i) => i + 1)
          : Array.from({ length: 30 }, () => 1 + rand(n)).concat([1, n - 1, n]);
      for (const m of olds) {
        const proof = tree.consistencyProof(m);
        const oldRoot = tree.root(m);
        expect(oldRoot).toEqual(rootHash(leaves.slice(0, m)));
        expect(verifyConsistency(BigInt(m), BigInt(n), proof, oldRoot, root)).toBe(true);
        expect(verifyConsistency(BigInt(m), BigInt(n), proof, flip(oldRoot, rand(256)), root)).toBe(false);
        expect(verifyConsistency(BigInt(m), BigInt(n), proof, oldRoot, flip(root, rand(256)))).toBe(false);
        for (let p = 0; p < proof.length; p++) {
          const bad = proof.slice();
          bad[p] = flip(bad[p]!, rand(256));
          expect(verifyConsistency(BigInt(m), BigInt(n), bad, oldRoot, root)).toBe(false);
        }
        if (proof.length > 0) {
          expect(verifyConsistency(BigInt(m), BigInt(n), proof.slice(0, -1), oldRoot, root)).toBe(false);
          expect(verifyConsistency(BigInt(m), BigInt(n), [...proof, proof[0]!], oldRoot, root)).toBe(false);
        }
      }
    }
  });

  it("the exported array functions agree with MerkleTree", () => {
    const leaves = entries(300, 3).map((e) => leafHash(e));
    const tree = new MerkleTree(leaves);
    for (const i of [0, 1, 128, 255, 256, 299])
      expect(inclusionProof(BigInt(i), leaves)).toEqual(tree.inclusionProof(i));
    for (const m of [1, 2, 100, 256, 299, 300])
      expect(consistencyProof(BigInt(m), leaves)).toEqual(tree.consistencyProof(m));
    // proofs for earlier tree sizes from the grown tree
    expect(tree.inclusionProof(10, 50)).toEqual(inclusionProof(10, leaves.slice(0, 50)));
    expect(tree.consistencyProof(10, 50)).toEqual(consistencyProof(10, leaves.slice(0, 50)));
  });
});

describe("Certificate Transparency reference corpus (8 leaves)", () => {
  const leaves = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
  ].map((h) => leafHash(Buffer.from(h, "hex")));
  const roots = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
  ];
  const H = (...xs: string[]) => xs.map((x) => new Uint8Array(Buffer.from(x, "hex")));

  it("has the published root at every size", () => {
    for (let n = 0; n <= 8; n++) expect(hex(rootHash(leaves.slice(0, n))), `size ${n}`).toBe(roots[n]);
  });

  it("has the published audit path and consistency proofs", () => {
    const path0of7 = H(
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e",
    );
    expect(inclusionProof(0n, leaves.slice(0, 7))).toEqual(path0of7);
    const c18 = H(
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    );
    const c68 = H(
      "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    );
    const c25 = H(
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    );
    expect(consistencyProof(1n, leaves)).toEqual(c18);
    expect(consistencyProof(6n, leaves)).toEqual(c68);
    expect(consistencyProof(2n, leaves.slice(0, 5))).toEqual(c25);
    const r = (n: number) => new Uint8Array(Buffer.from(roots[n]!, "hex"));
    expect(verifyConsistency(1n, 8n, c18, r(1), r(8))).toBe(true);
    expect(verifyConsistency(6n, 8n, c68, r(6), r(8))).toBe(true);
    expect(verifyConsistency(2n, 5n, c25, r(2), r(5))).toBe(true);
    expect(verifyConsistency(1n, 1n, [], r(1), r(1))).toBe(true);
    expect(verifyInclusion(0n, 7n, leaves[0]!, path0of7, r(7))).toBe(true);
    for (let n = 1; n <= 8; n++) {
      for (let i = 0; i < n; i++)
        expect(
          verifyInclusion(BigInt(i), BigInt(n), leaves[i]!, inclusionProof(BigInt(i), leaves.slice(0, n)), r(n)),
        ).toBe(true);
      for (let m = 1; m <= n; m++)
        expect(
          verifyConsistency(BigInt(m), BigInt(n), consistencyProof(BigInt(m), leaves.slice(0, n)), r(m), r(n)),
        ).toBe(true);
    }
  });
});
