import { describe, expect, it } from "vitest";
import {
  MerkleTree,
  TlogError,
  cosignCheckpoint,
  formatCheckpoint,
  formatTlogProof,
  generateKey,
  leafHash,
  openNote,
  parseCheckpoint,
  parseTlogProof,
  signNote,
  verifyInclusion,
} from "@vigil/tlog";

describe("tlog-proof", () => {
  const log = generateKey("example.com/fancylog");
  const w = generateKey("witness1.example", "cosignature");
  const tree = new MerkleTree();
  for (let i = 0; i < 1000; i++) tree.append(`record ${i}`);
  const cp = cosignCheckpoint(
    signNote(formatCheckpoint({ origin: "example.com/fancylog", size: 1000n, rootHash: tree.root() }), log.signerKey),
    w.signerKey,
    1_700_000_000,
  );

  it("round-trips and verifies offline", () => {
    const text = formatTlogProof({
      index: 737n,
      proof: tree.inclusionProof(737),
      checkpoint: cp,
      extra: new Uint8Array(Buffer.from("bundle rules v3")),
    });
    expect(text.startsWith("c2sp.org/tlog-proof@v1\nextra YnVuZGxlIHJ1bGVzIHYz\nindex 737\n")).toBe(true);
    const p = parseTlogProof(text);
    expect(p.index).toBe(737n);
    expect(Buffer.from(p.extra!).toString()).toBe("bundle rules v3");
    const opened = openNote(p.checkpoint, [log.verifierKey, w.verifierKey]);
    expect(opened.verified.length).toBe(2);
    const c = parseCheckpoint(opened.text);
    expect(verifyInclusion(p.index, c.size, leafHash("record 737"), p.proof, c.rootHash)).toBe(true);
    expect(verifyInclusion(p.index, c.size, leafHash("record 736"), p.proof, c.rootHash)).toBe(false);
    const noExtra = parseTlogProof(formatTlogProof({ index: 0n, proof: tree.inclusionProof(0), checkpoint: cp }));
    expect(noExtra.extra).toBeUndefined();
  });

  it("rejects malformed proofs", () => {
    const good = formatTlogProof({ index: 5n, proof: tree.inclusionProof(5), checkpoint: cp });
    const bad = [
      good.replace("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2"),
      good.replace("index 5", "index 05"),
      good.replace("index 5", "index -5"),
      good.replace("index 5\n", "index 5\nnot-base64!\n"),
      good.replace("index 5\n", `index 5\n${Buffer.alloc(31).toString("base64")}\n`),
      good.slice(0, good.indexOf("\n\n") + 2),
      "c2sp.org/tlog-proof@v1\nextra \nindex 1\n\n" + cp,
      "c2sp.org/tlog-proof@v1",
    ];
    for (const b of bad) expect(() => parseTlogProof(b), JSON.stringify(b.slice(0, 60))).toThrow(TlogError);
  });
});
