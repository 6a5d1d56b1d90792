// The hand-over of compiled rules from the compiler child process: byte arrays arrive once,
// in SharedArrayBuffers, and still detect; a full collection after a load really runs.
import { describe, expect, it } from "vitest";
import { mkdirSync, writeFileSync } from "node:fs";
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import { compileInChild } from "../src/compile.js";
import { fullGc } from "../src/engine.js";
import { chunked, startDaemon, talk, tempDir } from "./helpers.js";

function hashDb(dir: string, n: number, planted: Buffer): void {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) lines.push(`${randomBytes(32).toString("hex")}:${100 + i}:Bulk.Hash${i}-1`);
  lines.push(`${createHash("sha256").update(planted).digest("hex")}:${planted.length}:Planted.Sha256-1`);
  writeFileSync(join(dir, "bulk.hsb"), lines.join("\n") + "\n");
  writeFileSync(join(dir, "body.ndb"), `Planted.Body-1:0:*:${Buffer.from("HANDOVER-BODY-MARKER").toString("hex")}\n`);
}

describe("compileInChild", () => {
  it("delivers every byte array of the spec in a SharedArrayBuffer, and the result detects", async () => {
    const files = tempDir();
    try {
      const db = join(files.dir, "db");
      mkdirSync(db);
      const planted = randomBytes(777);
      hashDb(db, 20000, planted);
      const s = await compileInChild({ builtin: false, databases: [db] });
      expect(s.signatures).toBe(20002);
      const arrays = Object.values(s.spec.init as Record<string, unknown>).filter((v) => v instanceof Uint8Array) as Uint8Array[];
      expect(arrays.length).toBeGreaterThan(0);
      for (const a of arrays) expect(a.buffer).toBeInstanceOf(SharedArrayBuffer);
      // 20,000 sha256 digests at least
      expect(arrays.reduce((t, a) => t + a.length, 0)).toBeGreaterThan(20000 * 32);

      const d = await startDaemon({ signatures: { builtin: false, databases: [db] }, jobs: 1 });
      try {
        const hit = await talk(d.port, ["zINSTREAM\0", chunked(planted)]);
        expect(hit.text).toBe("stream: Planted.Sha256-1.UNOFFICIAL FOUND\0");
        const body = await talk(d.port, ["zINSTREAM\0", chunked("x HANDOVER-BODY-MARKER y")]);
        expect(body.text).toBe("stream: Planted.Body-1.UNOFFICIAL FOUND\0");
        const clean = await talk(d.port, ["zINSTREAM\0", chunked(randomBytes(777))]);
        expect(clean.text).toBe("stream: OK\0");
      } finally {
        await d.stop();
      }
    } finally {
      files.cleanup();
    }
  }, 60000);

  it("reports a compile error from the child as an error, not a hang", async () => {
    const files = tempDir();
    try {
      const db = join(files.dir, "db");
      mkdirSync(db);
      writeFileSync(join(db, "bad.ndb"), "Broken-1:0:*:zz-not-hex\n");
      await expect(compileInChild({ builtin: false, databases: [db] })).rejects.toThrow(/./);
    } finally {
      files.cleanup();
    }
  }, 30000);
});

describe("fullGc", () => {
  it("collects unreachable objects without --expose-gc", async () => {
    const tick = () => new Promise((r) => setImmediate(r));
    const ref = (() => new WeakRef({ big: new Array(1000).fill(1) }))();
    await tick();
    fullGc();
    await tick();
    expect(ref.deref()).toBeUndefined();
    // a second call reuses the gc function found the first time
    fullGc();
  });
});
