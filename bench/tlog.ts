/**
 * Benchmark of @vigil/tlog: append N entries (default 1,000,000), build every tile, compute the
 * root, then generate and verify inclusion and consistency proofs (in memory and from tiles),
 * and sign, cosign and open checkpoints. Run by hand: `npx tsx bench/tlog.ts [N]`.
 */
import {
  MerkleTree,
  TileReader,
  cosignCheckpoint,
  encodeEntryBundle,
  formatCheckpoint,
  generateKey,
  hashTileFromTree,
  leafHash,
  newTiles,
  openNote,
  signNote,
  tilePath,
  verifyConsistency,
  verifyInclusion,
} from "@vigil/tlog";

const N = Number(process.argv[2] ?? 1_000_000);
const rate = (n: number, ms: number) => `${Math.round((n / ms) * 1000).toLocaleString("en")}/s`;
function time<T>(label: string, n: number, f: () => T): T {
  const t = performance.now();
  const r = f();
  const ms = performance.now() - t;
  console.log(`${label.padEnd(44)} ${String(Math.round(ms)).padStart(7)} ms  ${rate(n, ms)}`);
  return r;
}
async function timeAsync<T>(label: string, n: number, f: () => Promise<T>): Promise<T> {
  const t = performance.now();
  const r = await f();
  const ms = performance.now() - t;
  console.log(`${label.padEnd(44)} ${String(Math.round(ms)).padStart(7)} ms  ${rate(n, ms)}`);
  return r;
}

let seed = 12345;
const rand = (n: number) => {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return seed % n;
};

console.log(`node ${process.version}, ${N.toLocaleString("en")} entries of ~200 bytes`);
const entries: Uint8Array[] = [];
const template = Buffer.alloc(200, 0x61);
for (let i = 0; i < N; i++) {
  const e = Buffer.from(template);
  e.writeUInt32BE(i, 0);
  entries.push(e);
}
const tree = new MerkleTree();
time(`append ${N.toLocaleString("en")} entries (leaf + node hashes)`, N, () => {
  for (const e of entries) tree.append(e);
});
const root = time("root hash", 1, () => tree.root());
const files = new Map<string, Uint8Array>();
const tiles = newTiles(0n, BigInt(N));
time(`build ${tiles.length} hash tiles + entry bundles`, tiles.length, () => {
  for (const ref of tiles) {
    files.set(tilePath(ref.level, ref.index, ref.width), hashTileFromTree(tree, ref));
    if (ref.level === 0) {
      const s = Number(ref.index) * 256;
      files.set(tilePath("entries", ref.index, ref.width), encodeEntryBundle(entries.slice(s, s + ref.width)));
    }
  }
});
const P = 100_000;
const idx = Array.from({ length: P }, () => rand(N));
const proofs = time(`generate ${P.toLocaleString("en")} inclusion proofs (memory)`, P, () =>
  idx.map((i) => tree.inclusionProof(i)),
);
const leaves = idx.map((i) => tree.leafHash(i));
time(`verify ${P.toLocaleString("en")} inclusion proofs`, P, () => {
  let ok = 0;
  for (let k = 0; k < P; k++) if (verifyInclusion(BigInt(idx[k]!), BigInt(N), leaves[k]!, proofs[k]!, root)) ok++;
  if (ok !== P) throw new Error("a proof failed");
});
const C = 20_000;
const olds = Array.from({ length: C }, () => 1 + rand(N - 1));
const cproofs = time(`generate ${C.toLocaleString("en")} consistency proofs (memory)`, C, () =>
  olds.map((m) => tree.consistencyProof(m)),
);
const oldRoots = olds.map((m) => tree.root(m));
time(`verify ${C.toLocaleString("en")} consistency proofs`, C, () => {
  for (let k = 0; k < C; k++)
    if (!verifyConsistency(BigInt(olds[k]!), BigInt(N), cproofs[k]!, oldRoots[k]!, root))
      throw new Error("consistency failed");
});
const reader = new TileReader(async (p) => {
  const f = files.get(p);
  if (!f) throw new Error(`missing ${p}`);
  return f;
}, BigInt(N));
const T = 10_000;
await timeAsync(`generate ${T.toLocaleString("en")} inclusion proofs from tiles`, T, async () => {
  for (let k = 0; k < T; k++) {
    const p = await reader.inclusionProof(BigInt(idx[k]!));
    if (!verifyInclusion(BigInt(idx[k]!), BigInt(N), leaves[k]!, p, root)) throw new Error("tile proof failed");
  }
});
const log = generateKey("bench.example/log");
const w = generateKey("bench.example/witness", "cosignature");
const text = formatCheckpoint({ origin: "bench.example/log", size: BigInt(N), rootHash: root });
const S = 5_000;
const notes = time(`sign ${S.toLocaleString("en")} checkpoints + cosign`, S, () =>
  Array.from({ length: S }, (_, i) => cosignCheckpoint(signNote(text, log.signerKey), w.signerKey, 1_700_000_000 + i)),
);
time(`open ${S.toLocaleString("en")} cosigned checkpoints (2 sigs each)`, S, () => {
  for (const n of notes)
    if (openNote(n, [log.verifierKey, w.verifierKey]).verified.length !== 2) throw new Error("open failed");
});
console.log(
  `leaf hash check: ${Buffer.from(leafHash(entries[0]!)).toString("hex").slice(0, 16)}..., heap ${Math.round(process.memoryUsage().heapUsed / 1e6)} MB, rss ${Math.round(process.memoryUsage().rss / 1e6)} MB`,
);
