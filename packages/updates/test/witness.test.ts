import { readFile, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MerkleTree, emptyRoot, formatCheckpoint, generateKey, leafHash, openNote, signNote } from "@vigil/tlog";
import { Witness, addCheckpointBody, update } from "@vigil/updates";
import { tempDir } from "./helpers.js";

/** A witness with no auditing over an in-memory log, driven through addCheckpoint directly. */
async function setup() {
  const log = generateKey("log.example/a");
  const other = generateKey("log.example/a");
  const wkey = generateKey("witness.example/w", "cosignature");
  const dir = await tempDir("vigil-wit-");
  let clock = 1_700_000_000;
  const make = () =>
    new Witness({
      key: wkey.signerKey,
      stateDir: dir,
      logs: [{ origin: "log.example/a", keys: [log.verifierKey], source: dir }],
      now: () => clock,
    });
  const tree = new MerkleTree();
  const grow = (n: number) => {
    for (let i = 0; i < n; i++) tree.append(`entry ${tree.size}`);
  };
  const cp = (size = tree.size, key = log.signerKey, root = tree.root(size)) =>
    signNote(formatCheckpoint({ origin: "log.example/a", size: BigInt(size), rootHash: root }), key);
  return { log, other, wkey, dir, make, tree, grow, cp, tick: (s: number) => (clock += s), now: () => clock };
}

describe("tlog-witness add-checkpoint", () => {
  it("cosigns a first checkpoint with old 0, then consistent growth; persists before answering", async () => {
    const s = await setup();
    const w = s.make();
    s.grow(5);
    const r = await w.addCheckpoint(addCheckpointBody(0n, [], s.cp()));
    expect(r.status).toBe(200);
    expect(r.body.startsWith("\u2014 witness.example/w ")).toBe(true);
    const note = s.cp() + r.body;
    const opened = openNote(note, [s.log.verifierKey, s.wkey.verifierKey]);
    expect(opened.signatures[1]!.timestamp).toBe(s.now());
    s.grow(7);
    s.tick(10);
    const r2 = await w.addCheckpoint(addCheckpointBody(5n, s.tree.consistencyProof(5), s.cp()));
    expect(r2.status).toBe(200);
    // a new instance over the same state directory remembers size 12
    const again = s.make();
    const r3 = await again.addCheckpoint(addCheckpointBody(5n, s.tree.consistencyProof(5), s.cp()));
    expect(r3).toEqual({ status: 409, body: "12\n", contentType: "text/x.tlog.size" });
    expect(await again.latest("log.example/a")).toContain("log.example/a\n12\n");
    // same size, same root: cosigned again with a fresh time
    s.tick(5);
    const same = await again.addCheckpoint(addCheckpointBody(12n, [], s.cp()));
    expect(same.status).toBe(200);
  });

  it("answers 404, 403, 400, 409 and 422 where the spec says", async () => {
    const s = await setup();
    const w = s.make();
    s.grow(4);
    // 404 unknown origin
    const foreign = signNote(
      formatCheckpoint({ origin: "other.example/log", size: 4n, rootHash: s.tree.root() }),
      s.log.signerKey,
    );
    expect((await w.addCheckpoint(addCheckpointBody(0n, [], foreign))).status).toBe(404);
    // 403 signed by an unknown key with the same name, or a bad signature by the known key
    expect((await w.addCheckpoint(addCheckpointBody(0n, [], s.cp(4, s.other.signerKey)))).status).toBe(403);
    const tampered = s.cp().replace("\n4\n", "\n5\n");
    expect((await w.addCheckpoint(addCheckpointBody(0n, [], tampered))).status).toBe(403);
    // 400 malformed bodies and old > size
    for (const body of [
      "",
      "old\n\n",
      "old 01\n\n" + s.cp(),
      "old 1\nnot base64!\n\n" + s.cp(),
      "old 1\n" + s.cp(),
      "nonsense",
    ]) {
      expect((await w.addCheckpoint(body)).status, JSON.stringify(body.slice(0, 20))).toBe(400);
    }
    expect((await w.addCheckpoint(addCheckpointBody(9n, [], s.cp()))).status).toBe(400);
    expect((await w.addCheckpoint("old 0\n" + "AAAA\n".repeat(64) + "\n" + s.cp())).status).toBe(400);
    // 422 non-empty proof with old 0
    expect((await w.addCheckpoint(addCheckpointBody(0n, [leafHash("x")], s.cp()))).status).toBe(422);
    // 422 size-0 checkpoint with a non-empty-tree root
    expect((await w.addCheckpoint(addCheckpointBody(0n, [], s.cp(0, s.log.signerKey, leafHash("x"))))).status).toBe(
      422,
    );
    expect((await w.addCheckpoint(addCheckpointBody(0n, [], s.cp(0, s.log.signerKey, emptyRoot())))).status).toBe(200);
    expect((await w.addCheckpoint(addCheckpointBody(0n, [], s.cp()))).status).toBe(200);
    // 409 wrong old size, with the stored size
    s.grow(4);
    const c409 = await w.addCheckpoint(addCheckpointBody(2n, s.tree.consistencyProof(2), s.cp()));
    expect(c409).toEqual({ status: 409, body: "4\n", contentType: "text/x.tlog.size" });
    // 422 bad consistency proof; the request is logged as evidence
    const bad = s.tree.consistencyProof(4);
    bad[0] = leafHash("forged");
    expect((await w.addCheckpoint(addCheckpointBody(4n, bad, s.cp()))).status).toBe(422);
    expect(await readFile(join(s.dir, "witness.log"), "utf8")).toMatch(
      /MISBEHAVIOUR log\.example\/a: consistency proof from 4 to 8/,
    );
    // 422 same size, different root
    const fork = s.cp(4, s.log.signerKey, leafHash("fork"));
    expect((await w.addCheckpoint(addCheckpointBody(4n, [], fork))).status).toBe(422);
    // still at 4: the good proof works
    expect((await w.addCheckpoint(addCheckpointBody(4n, s.tree.consistencyProof(4), s.cp()))).status).toBe(200);
  });

  it("serialises concurrent requests per log: of two requests from the same old size only one wins", async () => {
    const s = await setup();
    const w = s.make();
    s.grow(3);
    expect((await w.addCheckpoint(addCheckpointBody(0n, [], s.cp()))).status).toBe(200);
    s.grow(2);
    const a = s.cp();
    const pa = s.tree.consistencyProof(3, 5);
    s.grow(3);
    const b = s.cp();
    const pb = s.tree.consistencyProof(3, 8);
    const [ra, rb] = await Promise.all([
      w.addCheckpoint(addCheckpointBody(3n, pa, a)),
      w.addCheckpoint(addCheckpointBody(3n, pb, b)),
    ]);
    expect([ra.status, rb.status].sort()).toEqual([200, 409]);
    const stored = await w.latest("log.example/a");
    expect(stored).toContain(ra.status === 200 ? "\n5\n" : "\n8\n");
  });

  it("serves the protocol over HTTP on 127.0.0.1", async () => {
    const s = await setup();
    const w = s.make();
    const server = await w.listen(0);
    try {
      const port = (server.address() as { port: number }).port;
      s.grow(2);
      const res = await fetch(`http://127.0.0.1:${port}/add-checkpoint`, {
        method: "POST",
        body: addCheckpointBody(0n, [], s.cp()),
      });
      expect(res.status).toBe(200);
      expect((await res.text()).startsWith("\u2014 witness.example/w ")).toBe(true);
      const c = await fetch(`http://127.0.0.1:${port}/add-checkpoint`, {
        method: "POST",
        body: addCheckpointBody(0n, [], s.cp()),
      });
      expect(c.status).toBe(409);
      expect(c.headers.get("content-type")).toBe("text/x.tlog.size");
      expect(await c.text()).toBe("2\n");
      expect((await fetch(`http://127.0.0.1:${port}/add-checkpoint`)).status).toBe(405);
      const hash = (await import("node:crypto")).createHash("sha256").update("log.example/a").digest("hex");
      const mon = await fetch(`http://127.0.0.1:${port}/${hash}/checkpoint`);
      expect(mon.status).toBe(200);
      expect(openNote(await mon.text(), [s.log.verifierKey, s.wkey.verifierKey]).verified).toEqual([
        "log.example/a",
        "witness.example/w",
      ]);
      expect((await fetch(`http://127.0.0.1:${port}/${"0".repeat(64)}/checkpoint`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${port}/other`, { method: "POST", body: "x" })).status).toBe(404);
      const big = await fetch(`http://127.0.0.1:${port}/add-checkpoint`, {
        method: "POST",
        body: "x".repeat(200_000),
      }).catch(() => undefined);
      if (big) expect(big.status).toBe(413);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it("one process per state directory: a live lock is refused, a stale one taken over", async () => {
    const s = await setup();
    await mkdir(s.dir, { recursive: true });
    await writeFile(join(s.dir, "witness.lock"), `${process.ppid}\n`); // a process that is alive
    await expect(s.make().listen(0)).rejects.toThrow(/in use by process/);
    await writeFile(join(s.dir, "witness.lock"), "999999999\n"); // no such process
    const server = await s.make().listen(0);
    expect((await readFile(join(s.dir, "witness.lock"), "utf8")).trim()).toBe(String(process.pid));
    await new Promise((r) => server.close(r));
    // the endpoint's update takes the same kind of lock
    const ep = await tempDir("vigil-ep-");
    await writeFile(join(ep, "update.lock"), `${process.ppid}\n`);
    await expect(update({ source: ep, stateDir: ep, policy: {} as never })).rejects.toMatchObject({
      code: "BAD_INPUT",
    });
  });
});
