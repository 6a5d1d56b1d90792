/**
 * Memory bounds of the daemon: INSTREAM spool files (created 0600, removed on every path),
 * memory held while many large streams arrive at once, the scan pool starting on demand and
 * stopping when idle, and RELOAD compiling away from the connections' thread.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SpoolWriter } from "@vigil/daemon";
import { chunked, startDaemon, talk, tempDir, u32, type Running } from "./helpers.js";

const MARK = "SPOOL-MARK-51c2";
const RULE = `rule Spool_Mark { strings: $a = "${MARK}" condition: $a }\n`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(f: () => boolean, ms = 5000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(10)) if (f()) return true;
  return f();
}

describe("INSTREAM spool files", () => {
  let d: Running;
  let spool: string;
  let rules: ReturnType<typeof tempDir>;
  beforeAll(async () => {
    spool = mkdtempSync(join(tmpdir(), "vigil-spool-"));
    rules = tempDir();
    d = await startDaemon({
      signatures: { builtin: false, rules: [rules.file("r.yar", RULE)] },
      jobs: 1,
      spoolThreshold: 64 * 1024,
      spoolDir: spool,
      clamd: { readTimeout: 300, streamMaxLength: 2 * 1024 * 1024 },
    });
  });
  afterAll(async () => {
    await d.stop();
    rules.cleanup();
    rmSync(spool, { recursive: true, force: true });
  });

  it("a stream past the threshold is written to a 0600 file, scanned from it with the same result, and the file removed", async () => {
    const body = Buffer.concat([Buffer.alloc(1024 * 1024, 0x20), Buffer.from(MARK)]);
    const s = connect(d.port, "127.0.0.1");
    let got = "";
    s.on("data", (b) => (got += b));
    await new Promise((r) => s.once("connect", r));
    s.write("zINSTREAM\0");
    s.write(chunked(body, 32 * 1024, false));
    expect(await until(() => readdirSync(spool).length === 1)).toBe(true);
    const [name] = readdirSync(spool);
    expect(name).toMatch(/^vigil-stream-[0-9a-f]{16}$/);
    expect(statSync(join(spool, name!)).mode & 0o777).toBe(0o600);
    s.write(u32(0));
    await new Promise((r) => s.once("end", r));
    s.destroy();
    expect(got).toBe("stream: Spool_Mark FOUND\0");
    expect(readdirSync(spool)).toEqual([]);
    expect(d.daemon.service.buffered).toBe(0);
  });

  it("the spool file is removed when the client disconnects mid-stream, times out, or goes over StreamMaxLength", async () => {
    const piece = chunked(Buffer.alloc(512 * 1024, 0x41), 64 * 1024, false);
    // disconnects mid-stream
    const gone = connect(d.port, "127.0.0.1");
    gone.on("error", () => {});
    await new Promise((r) => gone.once("connect", r));
    gone.write("zINSTREAM\0");
    gone.write(piece);
    expect(await until(() => readdirSync(spool).length === 1)).toBe(true);
    gone.destroy();
    expect(await until(() => readdirSync(spool).length === 0)).toBe(true);
    // stops sending: ReadTimeout (300 ms)
    const slow = await talk(d.port, ["zINSTREAM\0", piece], 3000);
    expect(slow.text).toBe("COMMAND READ TIMED OUT\n");
    // over StreamMaxLength (2 MiB) after 1.5 MiB spooled
    const over = await talk(d.port, ["zINSTREAM\0", piece, piece, piece, u32(1024 * 1024)], 3000);
    expect(over.text).toBe("INSTREAM size limit exceeded. ERROR\0");
    expect(await until(() => readdirSync(spool).length === 0)).toBe(true);
    expect(d.daemon.service.buffered).toBe(0);
    expect(await until(() => d.daemon.clamd.connections === 0)).toBe(true);
  });

  it("a spool directory that cannot be written: the client gets an error reply, and the daemon keeps serving", async () => {
    const bad = await startDaemon({ spoolThreshold: 1024, spoolDir: join(spool, "does-not-exist") });
    try {
      const r = await talk(bad.port, ["zINSTREAM\0", chunked(Buffer.alloc(8192))]);
      expect(r.text).toMatch(/^stream: Can't write to the spool file \(ENOENT.*\)\. ERROR\0$/);
      expect(r.ended).toBe("end");
      expect((await talk(bad.port, ["zINSTREAM\0", chunked("small")])).text).toBe("stream: OK\0");
      expect(bad.daemon.service.buffered).toBe(0);
    } finally {
      await bad.stop();
    }
  });
});

describe("SpoolWriter", () => {
  it("discarding with writes in flight still removes the file, and the accounting returns to zero", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-spoolw-"));
    let held = 0;
    const w = new SpoolWriter(dir, (n) => (held += n));
    for (let i = 0; i < 50; i++) w.write(Buffer.alloc(64 * 1024, i));
    expect(held).toBe(50 * 64 * 1024);
    expect(w.congested).toBe(true);
    w.discard();
    expect(await until(() => readdirSync(dir).length === 0 && held === 0)).toBe(true);
    // a finished writer: end() resolves with every byte on disk, remove() deletes it
    const w2 = new SpoolWriter(dir, (n) => (held += n));
    w2.write(Buffer.from("abc"));
    w2.write(new Uint8Array([0x64]));
    await w2.end();
    expect(statSync(w2.path).size).toBe(4);
    expect(held).toBe(0);
    w2.remove();
    expect(readdirSync(dir)).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe("memory while many large streams arrive at once", () => {
  it("32 concurrent 8 MiB streams: stream memory stays within the budget plus a bounded write queue per connection", async () => {
    const spool = mkdtempSync(join(tmpdir(), "vigil-spool-"));
    const budget = 16 * 1024 * 1024;
    const d = await startDaemon({
      jobs: 1,
      memoryBudget: budget,
      spoolDir: spool,
      clamd: { streamMaxLength: 16 * 1024 * 1024 },
    });
    try {
      const framed = Buffer.concat([Buffer.from("zINSTREAM\0"), chunked(Buffer.alloc(8 * 1024 * 1024, 0x5a))]);
      await talk(d.port, [framed], 20_000); // warm up: pool started, buffers allocated
      const base = process.memoryUsage().arrayBuffers;
      let peakBuffered = 0;
      let peakArrays = 0;
      const sampler = setInterval(() => {
        peakBuffered = Math.max(peakBuffered, d.daemon.service.buffered);
        peakArrays = Math.max(peakArrays, process.memoryUsage().arrayBuffers - base);
      }, 5);
      const replies = await Promise.all(Array.from({ length: 32 }, () => talk(d.port, [framed], 60_000)));
      clearInterval(sampler);
      if (process.env.VIGIL_TEST_VERBOSE)
        console.log(
          `peak stream memory ${(peakBuffered / 1048576).toFixed(1)} MiB, peak array buffers +${(peakArrays / 1048576).toFixed(1)} MiB`,
        );
      expect(replies.map((r) => r.text)).toEqual(Array(32).fill("stream: OK\0"));
      // 256 MiB went through. Held in memory at most: the budget, plus per connection one
      // spool write queue (256 KiB high-water mark) and what one read can add to it.
      expect(peakBuffered).toBeLessThanOrEqual(budget + 32 * (256 + 128) * 1024);
      // and all array buffers in this process (client side included; socket reads freed by
      // the GC late): well under the 256 MiB that holding the streams would take
      expect(peakArrays).toBeLessThan(96 * 1024 * 1024);
      expect(await until(() => readdirSync(spool).length === 0 && d.daemon.service.buffered === 0)).toBe(true);
    } finally {
      await d.stop();
      rmSync(spool, { recursive: true, force: true });
    }
  }, 120_000);
});

describe("scan threads on demand", () => {
  it("no scan threads at idle; threads start as large inputs need them and exit after workerIdleTimeout", async () => {
    // an idle timeout long enough that a loaded machine reads the count before the thread exits
    const d = await startDaemon({ jobs: 2, workerIdleTimeout: 2000 });
    try {
      const g = d.daemon.service.engines.generation;
      expect(g.workers).toBe(0);
      // small streams are scanned in the daemon's thread: still no pool
      expect((await talk(d.port, ["zINSTREAM\0", chunked("small")])).text).toBe("stream: OK\0");
      expect(g.workers).toBe(0);
      const big = chunked(Buffer.alloc(200 * 1024, 0x61));
      // one large stream at a time: one thread
      expect((await talk(d.port, ["zINSTREAM\0", big])).text).toBe("stream: OK\0");
      expect(g.workers).toBe(1);
      expect((await talk(d.port, ["zINSTREAM\0", big])).text).toBe("stream: OK\0");
      expect(g.workers).toBe(1);
      expect(await until(() => g.workers === 0, 10_000)).toBe(true);
      // several at once: up to jobs threads
      const many = await Promise.all(Array.from({ length: 6 }, () => talk(d.port, ["zINSTREAM\0", big])));
      expect(many.map((r) => r.text)).toEqual(Array(6).fill("stream: OK\0"));
      expect(g.workers).toBe(2);
      expect(await until(() => g.workers === 0, 10_000)).toBe(true);
    } finally {
      await d.stop();
    }
  });
});

describe("RELOAD compiles away from the connections", () => {
  it("PING answers promptly while a large rule set compiles", async () => {
    const files = tempDir();
    const db = join(files.dir, "db");
    const { mkdirSync } = await import("node:fs");
    const { randomBytes } = await import("node:crypto");
    mkdirSync(db);
    const sigs = (n: number) =>
      Array.from({ length: n }, (_, i) => `Reload.Sig${i}-1:0:*:${randomBytes(16).toString("hex")}`).join("\n") + "\n";
    writeFileSync(join(db, "a.ndb"), sigs(10));
    const d = await startDaemon({ signatures: { builtin: false, databases: [db] } });
    try {
      writeFileSync(join(db, "a.ndb"), sigs(4000));
      const t0 = Date.now();
      let done = false;
      const reload = d.daemon.reload().then(() => {
        done = true;
      });
      let worst = 0;
      let pings = 0;
      while (!done) {
        const t = Date.now();
        const r = await talk(d.port, ["zPING\0"]);
        expect(r.text).toBe("PONG\0");
        worst = Math.max(worst, Date.now() - t);
        pings++;
      }
      await reload;
      const took = Date.now() - t0;
      expect(d.daemon.service.engines.generation.signatures).toBe(4000);
      // compiling in this thread would hold a PING for the whole compile
      expect(pings).toBeGreaterThan(3);
      expect(worst).toBeLessThan(Math.max(100, took / 2));
    } finally {
      await d.stop();
      files.cleanup();
    }
  });
});
