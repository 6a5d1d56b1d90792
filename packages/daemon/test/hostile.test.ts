/**
 * Hostile clamd clients (issue 17, finding 1): pipelined floods, clients that never read their
 * replies, input after END. No client may stop the daemon or make it buffer without bound.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type Socket } from "node:net";
import { MultipartReader } from "@vigil/daemon";
import { chunked, startDaemon, talk, tempDir, u32, type Running } from "./helpers.js";

/** One session of `n` pipelined `zPING`, then `zEND`, all written at once. */
function pings(n: number): Buffer {
  return Buffer.from("zIDSESSION\0" + "zPING\0".repeat(n) + "zEND\0", "latin1");
}

/** The same with `zSTATS`: 7 bytes in, about 300 out, so replies outgrow the kernel's socket buffers. */
function statsFlood(n: number): Buffer {
  return Buffer.from("zIDSESSION\0" + "zSTATS\0".repeat(n) + "zEND\0", "latin1");
}

function expectAllPongs(text: string, n: number): void {
  const lines = text.split("\0");
  expect(lines.pop()).toBe(""); // the last reply ends with its terminator
  expect(lines.length).toBe(n);
  // every reply, numbered 1..n, in order (PING is answered at once, so order is kept)
  for (let i = 0; i < n; i++) if (lines[i] !== `${i + 1}: PONG`) expect(lines[i]).toBe(`${i + 1}: PONG`);
}

function open(port: number): Promise<Socket> {
  return new Promise((res, rej) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => res(s));
    s.once("error", rej);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("clamd: hostile clients", () => {
  let d: Running;
  beforeAll(async () => {
    d = await startDaemon({ clamd: { idleTimeout: 10_000 } });
  });
  afterAll(async () => {
    await d.stop();
  });

  async function alive(): Promise<void> {
    expect((await talk(d.port, ["zPING\0"])).text).toBe("PONG\0");
  }

  it("5,000 pipelined PINGs in one session: all answered in order, the daemon serves others after", async () => {
    const r = await talk(d.port, [pings(5000)], 20_000);
    expect(r.ended).toBe("end");
    expectAllPongs(r.text, 5000);
    await alive();
  }, 30_000);

  it("50,000 pipelined PINGs in one session: all answered in order, the daemon serves others after", async () => {
    const r = await talk(d.port, [pings(50_000)], 60_000);
    expect(r.ended).toBe("end");
    expectAllPongs(r.text, 50_000);
    await alive();
  }, 90_000);

  it("a client that pipelines commands and never reads: the daemon stops reading it (bounded buffers), serves others, and still answers every command once it reads", async () => {
    const n = 60_000; // 0.4 MB of commands, 18 MB of replies: more than the kernel buffers hold
    const s = await open(d.port);
    s.pause(); // read nothing
    s.write(statsFlood(n));
    await sleep(1500);
    // the daemon holds a bounded amount for this client, however much it sent
    expect(d.daemon.clamd.buffered).toBeLessThan(1 << 20);
    await alive();
    // now read: every reply arrives, in order
    const chunks: Buffer[] = [];
    s.on("data", (b: Buffer) => chunks.push(b));
    await new Promise<void>((res) => {
      s.on("close", () => res());
      s.resume();
    });
    const replies = Buffer.concat(chunks).toString("latin1").split("\0");
    expect(replies.pop()).toBe("");
    expect(replies.length).toBe(n);
    for (let i = 0; i < n; i++) {
      const r = replies[i]!;
      if (!r.startsWith(`${i + 1}: POOLS: 1\n`) || !r.endsWith("\nEND"))
        expect(r.slice(0, 40)).toBe(`${i + 1}: POOLS: 1`);
    }
    await alive();
  }, 60_000);
});

describe("clamd: a client that never reads", () => {
  let d: Running;
  beforeAll(async () => {
    d = await startDaemon({ clamd: { idleTimeout: 500 } });
  });
  afterAll(async () => {
    await d.stop();
  });

  it("is cut off after IdleTimeout, and everything held for it is freed", async () => {
    const s = await open(d.port);
    s.pause();
    s.write(statsFlood(100_000));
    s.on("error", () => {});
    await sleep(300);
    expect(d.daemon.clamd.connections).toBe(1);
    // IdleTimeout, then the bounded linger after the error reply (5 s): the daemon drops it
    // (the client, reading nothing, does not even notice)
    const t0 = Date.now();
    while (d.daemon.clamd.connections > 0 && Date.now() - t0 < 10_000) await sleep(100);
    expect(d.daemon.clamd.connections).toBe(0);
    expect(d.daemon.clamd.buffered).toBe(0);
    s.destroy();
    expect((await talk(d.port, ["zPING\0"])).text).toBe("PONG\0");
  }, 30_000);
});

describe("clamd: INSTREAM in tiny chunks", () => {
  let d: Running;
  let files: ReturnType<typeof tempDir>;
  beforeAll(async () => {
    files = tempDir();
    const rule = files.file(
      "ends.yar",
      'rule Both_Ends { strings: $h = "HEAD-MARK-91" $t = "TAIL-MARK-42" condition: $h at 0 and $t at filesize - 12 and filesize == 400000 }\n',
    );
    d = await startDaemon({
      signatures: { builtin: false, rules: [rule] },
      memoryBudget: 256 << 20,
      spoolThreshold: 64 << 20,
    });
  });
  afterAll(async () => {
    await d.stop();
    files.cleanup();
  });

  it("a stream sent as 1-byte chunks costs about its size in memory, not an object per byte, and is scanned whole", async () => {
    const n = 400_000;
    const data = Buffer.alloc(n, 0x61);
    data.write("HEAD-MARK-91", 0, "latin1");
    data.write("TAIL-MARK-42", n - 12, "latin1");
    // 1-byte chunks (5 bytes on the wire per byte), with a few large chunks among them
    const framed = Buffer.concat([
      chunked(data.subarray(0, 150_000), 1, false),
      chunked(data.subarray(150_000, 250_000), 10_000, false),
      chunked(data.subarray(250_000), 1, false),
    ]);
    const s = await open(d.port);
    const got: Buffer[] = [];
    s.on("data", (b: Buffer) => got.push(b));
    const before = process.memoryUsage().heapUsed;
    s.write("zINSTREAM\0");
    s.write(framed);
    // wait until the daemon holds the whole stream (in memory: the threshold is above it)
    for (let i = 0; i < 200 && d.daemon.service.buffered < n; i++) await sleep(50);
    expect(d.daemon.service.buffered).toBe(n);
    const grown = process.memoryUsage().heapUsed - before;
    // one Buffer object per byte would be ~40 MB of heap; copied together it is ~0.4 MB plus
    // the garbage of the received packets
    expect(grown).toBeLessThan(16 << 20);
    s.end(u32(0));
    await new Promise<void>((res) => s.on("close", () => res()));
    expect(Buffer.concat(got).toString("latin1")).toBe("stream: Both_Ends FOUND\0");
    expect(d.daemon.service.buffered).toBe(0);
  }, 60_000);
});

describe("multipart reader: hostile bodies are refused early, not buffered", () => {
  const noop = { partStart() {}, partData() {}, partEnd() {} };

  it("endless transport padding after a boundary is an error within a line's worth, not a growing buffer", () => {
    const r = new MultipartReader("B", noop);
    r.write(Buffer.from("--B"));
    const spaces = Buffer.alloc(64 * 1024, 0x20);
    expect(() => {
      for (let i = 0; i < 40; i++) r.write(spaces);
    }).toThrow(/padding/);
    // a little padding (as RFC 2046 allows) is fine
    const parts: string[] = [];
    const ok = new MultipartReader("B", {
      partStart() {},
      partData(c) {
        parts.push(c.toString());
      },
      partEnd() {},
    });
    ok.write(Buffer.from('--B  \t\r\nContent-Disposition: form-data; name="f"\r\n\r\nhello\r\n--B--\r\n'));
    ok.end();
    expect(parts.join("")).toBe("hello");
  });

  it("part headers over the limit are refused even when they arrive in one piece", () => {
    const r = new MultipartReader("B", noop);
    const big = `--B\r\nX-Junk: ${"a".repeat(40_000)}\r\n\r\nbody\r\n--B--\r\n`;
    expect(() => r.write(Buffer.from(big))).toThrow(/headers longer than/);
  });
});

describe("HTTP: hostile uploads", () => {
  let d: Running;
  beforeAll(async () => {
    d = await startDaemon({ http: "127.0.0.1:0" });
  });
  afterAll(async () => {
    await d.stop();
  });

  it("a multipart body of endless padding gets 400 BAD_MULTIPART while it is still being sent, and the daemon serves others", async () => {
    const body = Buffer.concat([Buffer.from("--B"), Buffer.alloc(8 << 20, 0x20)]);
    const r = await fetch(`http://${d.http}/v1/scan`, {
      method: "POST",
      headers: { "content-type": "multipart/form-data; boundary=B" },
      body,
    });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { code: string; message: string } }).error).toMatchObject({
      code: "BAD_MULTIPART",
      message: expect.stringMatching(/padding/),
    });
    const h = await fetch(`http://${d.http}/v1/health`);
    expect(h.status).toBe(200);
  }, 30_000);
});

describe("HTTP: many connections", () => {
  let d: Running;
  beforeAll(async () => {
    d = await startDaemon({ http: "127.0.0.1:0", httpOptions: { maxConnections: 3 } });
  });
  afterAll(async () => {
    await d.stop();
  });

  it("past maxConnections new connections are dropped, and the API serves again once the idle ones go", async () => {
    const [host, port] = [d.http!.split(":")[0]!, Number(d.http!.split(":")[1])];
    const idle = await Promise.all(
      Array.from(
        { length: 3 },
        () =>
          new Promise<Socket>((res, rej) => {
            const s = connect(port, host);
            s.once("connect", () => res(s));
            s.once("error", rej);
          }),
      ),
    );
    await sleep(100);
    await expect(fetch(`http://${d.http}/v1/health`, { signal: AbortSignal.timeout(3000) })).rejects.toThrow();
    for (const s of idle) s.destroy();
    await sleep(200);
    expect((await fetch(`http://${d.http}/v1/health`)).status).toBe(200);
  }, 20_000);
});
