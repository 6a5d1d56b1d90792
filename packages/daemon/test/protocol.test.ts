import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EICAR, makeZip } from "@vigil/test-kit";
import { chunked, startDaemon, talk, tempDir, u32, type Running } from "./helpers.js";
import { VERSION_COMMANDS } from "@vigil/daemon";
import { connect } from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const NAME = "Win.Test.EICAR_HDB-1";

describe("clamd protocol: commands and framing", () => {
  let d: Running;
  let files: ReturnType<typeof tempDir>;
  beforeAll(async () => {
    d = await startDaemon();
    files = tempDir();
    files.file("eicar.com", EICAR);
    files.file("clean.txt", "hello\n");
    files.file("sub/../clean2.txt", "nothing here\n");
  });
  afterAll(async () => {
    await d.stop();
    files.cleanup();
  });

  it("answers PING in the z, n and bare forms, each with its terminator, then closes", async () => {
    const z = await talk(d.port, ["zPING\0"]);
    expect(z.text).toBe("PONG\0");
    expect(z.ended).toBe("end");
    expect((await talk(d.port, ["nPING\n"])).text).toBe("PONG\n");
    expect((await talk(d.port, ["PING\n"])).text).toBe("PONG\n");
    // bare, no terminator: one packet is one command (what the npm clamscan package sends)
    expect((await talk(d.port, ["PING"])).text).toBe("PONG\n");
    expect((await talk(d.sock, ["zPING\0"])).text).toBe("PONG\0");
  });

  it("VERSION and VERSIONCOMMANDS as clamd words them", async () => {
    const v = (await talk(d.port, ["zVERSION\0"])).text;
    expect(v).toMatch(/^ClamAV 1\.4\.6\/Vigil 0\.1\.0\/[0-9a-f]{16}\0$/);
    const vc = (await talk(d.port, ["nVERSIONCOMMANDS\n"])).text;
    expect(vc).toBe(`${v.slice(0, -1)}| COMMANDS: ${VERSION_COMMANDS}\n`);
    expect(VERSION_COMMANDS).toBe(
      "SCAN QUIT RELOAD PING CONTSCAN VERSIONCOMMANDS VERSION END SHUTDOWN MULTISCAN FILDES STATS IDSESSION INSTREAM DETSTATSCLEAR DETSTATS ALLMATCHSCAN",
    );
  });

  it("refuses commands clamd refuses: bare INSTREAM/STATS/IDSESSION, unknown words, junk after a command, END outside a session", async () => {
    for (const c of [
      "INSTREAM\n",
      "STATS\n",
      "IDSESSION\n",
      "VERSIONCOMMANDS\n",
      "HELLO\n",
      "nPING extra\n",
      "nEND\n",
      "\u00ff\u00fe\n",
    ]) {
      const r = await talk(d.port, [c]);
      expect(r.text, c).toBe(c.startsWith("n") ? "UNKNOWN COMMAND\n" : "UNKNOWN COMMAND\n");
      expect(r.ended).toBe("end");
    }
    expect((await talk(d.port, ["zNOPE\0"])).text).toBe("UNKNOWN COMMAND\0");
  });

  it("STATS ends with END", async () => {
    const r = (await talk(d.port, ["zSTATS\0"])).text;
    expect(r.startsWith("POOLS: 1\n\nSTATE: VALID PRIMARY\nTHREADS: live ")).toBe(true);
    expect(r).toMatch(/QUEUE: 0 items\n/);
    expect(r.endsWith("\nEND\0")).toBe(true);
  });

  it("a stream not fully scanned is never OK: an encrypted zip member, a format not opened, a SCAN of such a file", async () => {
    const enc = makeZip([{ name: "secret.exe", data: "MZ payload", method: 0, flags: 1 }]);
    expect((await talk(d.port, ["zINSTREAM\0", chunked(enc)])).text).toBe(
      "stream: Not fully scanned (encrypted): secret.exe: encrypted member not scanned (no password) ERROR\0",
    );
    // MS compress's KWAJ variant: recognised, not opened by any reader
    const kwaj = Buffer.concat([Buffer.from([0x4b, 0x57, 0x41, 0x4a, 0x88, 0xf0, 0x27, 0xd1]), Buffer.alloc(20)]);
    expect((await talk(d.port, ["nINSTREAM\n", chunked(kwaj)])).text).toMatch(
      /^stream: Not fully scanned \(unsupported\): KWAJ.* is not opened by this version ERROR\n$/,
    );
    const dir = tempDir();
    try {
      dir.file("enc.zip", enc);
      const r = (await talk(d.port, [`nSCAN ${dir.dir}/enc.zip\n`])).text;
      expect(r).toMatch(/enc\.zip: Not fully scanned \(encrypted\): secret\.exe: .* ERROR\n/);
      expect(r).not.toMatch(/enc\.zip: OK/);
    } finally {
      dir.cleanup();
    }
  });

  it("INSTREAM: detection, clean, empty stream, chunks split across packets at every byte", async () => {
    expect((await talk(d.port, ["zINSTREAM\0", chunked(EICAR)])).text).toBe(`stream: ${NAME} FOUND\0`);
    expect((await talk(d.port, ["nINSTREAM\n", chunked("hello world")])).text).toBe("stream: OK\n");
    expect((await talk(d.port, ["zINSTREAM\0", u32(0)])).text).toBe("stream: OK\0");
    // command and data in one packet, one-byte chunks, written one byte at a time
    const all = Buffer.concat([Buffer.from("zINSTREAM\0"), chunked(EICAR, 1)]);
    const steps = [...all].map((b) => Buffer.from([b]));
    expect((await talk(d.port, steps)).text).toBe(`stream: ${NAME} FOUND\0`);
    expect((await talk(d.port, [all])).text).toBe(`stream: ${NAME} FOUND\0`);
  });

  it("SCAN of names that are not UTF-8 (and of UTF-8 ones): scanned, echoed as the bytes sent", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-clamd-bytes-"));
    const names = [Buffer.from(`${dir}/inv\xffalid.exe`, "latin1"), Buffer.from(`${dir}/café.exe`)];
    for (const n of names) writeFileSync(n, EICAR);
    for (const n of names) {
      const r = await talk(d.port, [Buffer.concat([Buffer.from("zSCAN "), n, Buffer.from("\0")])]);
      expect(r.data.equals(Buffer.concat([n, Buffer.from(`: ${NAME} FOUND\0`)]))).toBe(true);
    }
    const all = await talk(d.port, [`nCONTSCAN ${dir}\n`]);
    expect(all.data.toString("latin1").split("\n").filter(Boolean).sort()).toEqual(
      names.map((n) => `${n.toString("latin1")}: ${NAME} FOUND`).sort(),
    );
    const missing = Buffer.from(`${dir}/gone\xfe`, "latin1");
    const r = await talk(d.port, [Buffer.concat([Buffer.from("zSCAN "), missing, Buffer.from("\0")])]);
    expect(
      r.data.equals(
        Buffer.concat([missing, Buffer.from(": File path check failure: No such file or directory. ERROR\0")]),
      ),
    ).toBe(true);
    rmSync(dir, { recursive: true, force: true });
  });

  it("SCAN, CONTSCAN, MULTISCAN and ALLMATCHSCAN on files and directories", async () => {
    const e = `${files.dir}/eicar.com`;
    expect((await talk(d.port, [`zSCAN ${e}\0`])).text).toBe(`${e}: ${NAME} FOUND\0`);
    expect((await talk(d.port, [`SCAN ${files.dir}/clean.txt`])).text).toBe(`${files.dir}/clean.txt: OK\n`);
    expect((await talk(d.port, [`nSCAN ${files.dir}\n`])).text).toBe(`${e}: ${NAME} FOUND\n`);
    expect((await talk(d.port, [`nCONTSCAN ${files.dir}\n`])).text).toBe(`${e}: ${NAME} FOUND\n`);
    expect((await talk(d.port, [`nMULTISCAN ${files.dir}\n`])).text).toBe(`${e}: ${NAME} FOUND\n`);
    expect((await talk(d.port, [`nALLMATCHSCAN ${e}\n`])).text).toBe(`${e}: ${NAME} FOUND\n`);
    const clean = tempDir();
    clean.file("a.txt", "a");
    clean.file("b.txt", "b");
    expect((await talk(d.port, [`zCONTSCAN ${clean.dir}\0`])).text).toBe(`${clean.dir}: OK\0`);
    clean.cleanup();
    expect((await talk(d.port, ["zSCAN /no/such/file\0"])).text).toBe(
      "/no/such/file: File path check failure: No such file or directory. ERROR\0",
    );
    expect((await talk(d.port, ["zSCAN relative/path\0"])).text).toBe(
      "relative/path: File path check failure: No such file or directory. ERROR\0",
    );
  });

  it("FILDES gets a clear error instead of a hang", async () => {
    const r = await talk(d.sock, ["nFILDES\n", Buffer.from([0])]);
    expect(r.text).toMatch(/^FILDES: .*not supported.*INSTREAM\. ERROR\n$/);
    expect(r.ended).toBe("end");
  });

  it("IDSESSION: numbered replies in the command's framing, END closes after the replies", async () => {
    const r = await talk(d.port, [
      "nIDSESSION\n",
      "nPING\n",
      "nINSTREAM\n",
      chunked(EICAR),
      "zINSTREAM\0",
      chunked("clean"),
      `nSCAN ${files.dir}/clean.txt\n`,
      "nVERSION\n",
      "nEND\n",
    ]);
    expect(r.ended).toBe("end");
    const lines = r.text.split(/(?<=[\n\0])/).sort();
    expect(lines).toEqual(
      [
        "1: PONG\n",
        `2: stream: ${NAME} FOUND\n`,
        "3: stream: OK\0",
        `4: ${files.dir}/clean.txt: OK\n`,
        expect.stringMatching(/^5: ClamAV 1\.4\.6\/Vigil/),
      ].sort(),
    );
  });

  it("IDSESSION: a command not allowed inside ends the session with clamd's error", async () => {
    const r = await talk(d.port, ["zIDSESSION\0", "zPING\0", `zCONTSCAN ${files.dir}\0`, "zPING\0"]);
    expect(r.text).toBe("1: PONG\x002: Command invalid inside IDSESSION. ERROR\0");
    expect(r.ended).toBe("end");
  });
});

describe("clamd protocol: limits and hostile clients", () => {
  let d: Running;
  beforeAll(async () => {
    d = await startDaemon({
      clamd: { streamMaxLength: 1000, readTimeout: 300, commandReadTimeout: 300, idleTimeout: 300, maxConnections: 20 },
      maxThreads: 1,
      maxQueue: 1,
    });
  });
  afterAll(async () => {
    await d.stop();
  });

  it("StreamMaxLength: clamd's reply, delivered (FIN, not reset) even while the client keeps sending", async () => {
    const r = await talk(d.port, [
      "zINSTREAM\0",
      chunked(Buffer.alloc(600), 600, false),
      chunked(Buffer.alloc(600), 600, false),
      Buffer.alloc(1 << 20),
      { wait: 50 },
      Buffer.alloc(1 << 20),
    ]);
    expect(r.text).toBe("INSTREAM size limit exceeded. ERROR\0");
    expect(r.ended).toBe("end");
    // one chunk at exactly the limit is fine
    expect((await talk(d.port, ["zINSTREAM\0", chunked(Buffer.alloc(1000), 1000)])).text).toBe("stream: OK\0");
  });

  it("a chunk length with the top bit set (a 'negative' length) or 0xffffffff is over the limit", async () => {
    for (const n of [0x80000000, 0xffffffff, 0x7fffffff]) {
      const r = await talk(d.port, ["nINSTREAM\n", u32(n), "abc"]);
      expect(r.text).toBe("INSTREAM size limit exceeded. ERROR\n");
    }
  });

  it("a client that stops mid-chunk gets a ReadTimeout error", async () => {
    const r = await talk(d.port, ["zINSTREAM\0", u32(500), Buffer.alloc(100)]);
    expect(r.text).toBe("COMMAND READ TIMED OUT\n");
    expect(r.ended).toBe("end");
    expect(r.ms).toBeGreaterThanOrEqual(250);
    expect(r.ms).toBeLessThan(3000);
  });

  it("slowloris: a command trickled byte by byte is cut off by CommandReadTimeout", async () => {
    const steps = [..."zPING"].flatMap((c) => [c, { wait: 120 }]);
    const r = await talk(d.port, steps);
    expect(r.text).toBe("COMMAND READ TIMED OUT\n");
    expect(r.ended).toBe("end");
    // a silent client too
    expect((await talk(d.port, [])).text).toBe("COMMAND READ TIMED OUT\n");
  });

  it("an idle session is closed after IdleTimeout", async () => {
    const r = await talk(d.port, ["nIDSESSION\n", "nPING\n"]);
    expect(r.text).toBe("1: PONG\nCOMMAND READ TIMED OUT\n");
    expect(r.ended).toBe("end");
    expect(r.ms).toBeLessThan(3000);
  });

  it("half-closed sockets: a command followed by FIN still gets its reply; a stream cut by FIN gets an error", async () => {
    expect((await talk(d.port, ["zPING\0", { end: true }])).text).toBe("PONG\0");
    expect((await talk(d.port, ["PING", { end: true }])).text).toBe("PONG\n");
    expect((await talk(d.port, ["zINSTREAM\0", chunked(EICAR), { end: true }])).text).toBe(`stream: ${NAME} FOUND\0`);
    const cut = await talk(d.port, ["zINSTREAM\0", u32(10), "abc", { end: true }]);
    expect(cut.text).toBe("INSTREAM ended before its zero-length terminating chunk. ERROR\0");
  });

  it("a command longer than the limit gets an error, not an unbounded buffer", async () => {
    const r = await talk(d.port, ["zSCAN /" + "a".repeat(10_000)]);
    expect(r.text).toMatch(/^Command exceeds the \d+-byte limit\. ERROR\0$/);
  });

  it("slow uploaders hold no scan thread: with MaxThreads 1, other clients are served while they trickle", async () => {
    const holders = [connect(d.port, "127.0.0.1"), connect(d.port, "127.0.0.1"), connect(d.port, "127.0.0.1")];
    for (const h of holders) {
      h.on("error", () => {});
      h.write("zINSTREAM\0");
      h.write(u32(4));
    }
    await new Promise((r) => setTimeout(r, 50));
    const r = await talk(d.port, ["zINSTREAM\0", chunked(EICAR)]);
    expect(r.text).toBe(`stream: ${NAME} FOUND\0`);
    const replies = holders.map(
      (h) =>
        new Promise<string>((res) => {
          let s = "";
          h.on("data", (b) => (s += b));
          h.on("end", () => res(s));
        }),
    );
    for (const h of holders) h.write(Buffer.concat([Buffer.from("abcd"), u32(0)]));
    expect(await Promise.all(replies)).toEqual(["stream: OK\0", "stream: OK\0", "stream: OK\0"]);
  });

  it("MaxThreads busy and MaxQueue full: a new stream is refused with a busy error, then served once a slot frees", async () => {
    const slots = d.daemon.service.slots;
    const running = await slots.tryAcquire()!;
    const waiting = slots.tryAcquire()!;
    expect(slots.queued).toBe(1);
    const r = await talk(d.port, ["zINSTREAM\0", chunked("x")]);
    expect(r.text).toBe("stream: Server busy: MaxQueue (1) scans already waiting; retry later. ERROR\0");
    expect((await talk(d.port, [`zSCAN ${process.cwd()}/package.json\0`])).text).toMatch(
      /^\/.*package\.json: Server busy: MaxQueue \(1\) .* ERROR\0$/,
    );
    running();
    (await waiting)();
    expect((await talk(d.port, ["zINSTREAM\0", chunked("x")])).text).toBe("stream: OK\0");
  });

  it("a flood of connections: beyond maxConnections clients get an error, and the daemon recovers", async () => {
    const idle = Array.from({ length: 20 }, () => connect(d.port, "127.0.0.1"));
    for (const s of idle) s.on("error", () => {});
    await Promise.all(idle.map((s) => new Promise((r) => s.once("connect", r))));
    await new Promise((r) => setTimeout(r, 50));
    const over = await talk(d.port, ["zPING\0"]);
    expect(over.text).toBe("Too many connections (the limit is 20); retry later. ERROR\n");
    for (const s of idle) s.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const many = await Promise.all(Array.from({ length: 200 }, () => talk(d.port, ["zPING\0"], 10_000)));
    const ok = many.filter((m) => m.text === "PONG\0").length;
    const refused = many.filter((m) => m.text.startsWith("Too many connections")).length;
    expect(ok + refused).toBe(200);
    expect(ok).toBeGreaterThan(0);
    expect((await talk(d.port, ["zPING\0"])).text).toBe("PONG\0");
  });

  it("clients that disconnect before the reply leave the daemon serving", async () => {
    for (let i = 0; i < 20; i++) {
      const s = connect(d.port, "127.0.0.1");
      s.on("error", () => {});
      s.write(Buffer.concat([Buffer.from("zINSTREAM\0"), chunked(EICAR)]));
      s.destroy();
    }
    const rst = connect(d.port, "127.0.0.1");
    rst.on("error", () => {});
    rst.write("zINSTREAM\0");
    rst.resetAndDestroy();
    await new Promise((r) => setTimeout(r, 100));
    expect((await talk(d.port, ["zINSTREAM\0", chunked(EICAR)])).text).toBe(`stream: ${NAME} FOUND\0`);
    expect(d.daemon.service.slots.running).toBe(0);
  });

  it("random garbage never crashes the daemon and every connection ends", async () => {
    let seed = 42;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const prefixes = ["z", "n", "", "zINSTREAM\0", "nIDSESSION\n", "nIDSESSION\nnINSTREAM\n"];
    const runs = [];
    for (let i = 0; i < 60; i++) {
      const junk = Buffer.alloc(Math.floor(rnd() * 300));
      for (let j = 0; j < junk.length; j++) junk[j] = Math.floor(rnd() * 256);
      runs.push(talk(d.port, [prefixes[i % prefixes.length]!, junk, { end: true }], 5000));
    }
    const out = await Promise.all(runs);
    for (const o of out) expect(o.ended).not.toBe("timeout");
    expect((await talk(d.port, ["zPING\0"])).text).toBe("PONG\0");
  });
});

describe("clamd protocol: unix socket, SHUTDOWN", () => {
  it("replaces a stale socket file, and SHUTDOWN stops the daemon", async () => {
    const d = await startDaemon();
    await d.daemon.stop();
    // the socket file of a stopped server is stale: a new daemon takes its place
    const { Daemon } = await import("@vigil/daemon");
    const again = new Daemon({ signatures: {}, jobs: 0, socket: [d.sock] });
    expect((await again.start()).clamd).toEqual([d.sock]);
    // and a second one on a live socket refuses to start
    const third = new Daemon({ signatures: {}, jobs: 0, socket: [d.sock] });
    await expect(third.start()).rejects.toMatchObject({ code: "LISTEN_FAILED" });
    const r = await talk(d.sock, ["zSHUTDOWN\0"]);
    expect(r.text).toBe("");
    await again.done;
    const after = await talk(d.sock, ["zPING\0"], 1000);
    expect(after.text).toBe("");
    expect(after.ended).toBe("reset");
    await d.stop();
  });
});

describe("clamd protocol: memory", () => {
  it("returns to its baseline after abandoned, oversized and cut-off streams", async () => {
    const { setFlagsFromString } = await import("node:v8");
    const { runInNewContext } = await import("node:vm");
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const d = await startDaemon({ clamd: { streamMaxLength: 4 * 1024 * 1024, readTimeout: 200 } });
    const used = () => {
      gc();
      gc();
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };
    await talk(d.port, ["zINSTREAM\0", chunked(Buffer.alloc(1 << 20))]);
    const base = used();
    const big = Buffer.alloc(3 * 1024 * 1024, 0x61);
    for (let round = 0; round < 3; round++) {
      await Promise.all([
        ...Array.from({ length: 10 }, () => talk(d.port, ["zINSTREAM\0", chunked(big, 1 << 16, false)], 2000)), // stops before the end: ReadTimeout
        ...Array.from({ length: 10 }, () =>
          talk(d.port, ["zINSTREAM\0", chunked(big, 1 << 16, false), chunked(big, 1 << 20, false)], 2000),
        ), // over the limit
        ...Array.from({ length: 10 }, () => talk(d.port, ["zINSTREAM\0", chunked(big), { end: true }], 2000)), // complete
      ]);
    }
    await new Promise((r) => setTimeout(r, 300));
    const after = used();
    expect(d.daemon.clamd.connections).toBe(0);
    // 30 streams of 3 MiB went through each round; what is left is noise, not streams
    expect(after - base).toBeLessThan(8 * 1024 * 1024);
    expect((await talk(d.port, ["zPING\0"])).text).toBe("PONG\0");
    await d.stop();
  });
});

describe("clamd protocol: spooling streams beyond the memory budget", () => {
  it("spools to files past the budget, scans them with the same result, and removes them", async () => {
    const { mkdtempSync, readdirSync, rmSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const spool = mkdtempSync(join(tmpdir(), "vigil-spool-test-"));
    const d = await startDaemon({ memoryBudget: 0, spoolDir: spool, jobs: 1, clamd: { readTimeout: 200 } });
    const payload = Buffer.alloc(300_000, 0x20);
    const eicarFirst = Buffer.from(EICAR);
    const seen = new Set<string>();
    const watcher = setInterval(() => {
      for (const f of readdirSync(spool)) seen.add(f);
    }, 1);
    const [a, b, c] = await Promise.all([
      talk(d.port, ["zINSTREAM\0", chunked(payload, 4096)]),
      talk(d.port, ["zINSTREAM\0", chunked(eicarFirst, 7)]),
      talk(d.port, ["zINSTREAM\0", chunked(payload, 4096, false)]), // abandoned: ReadTimeout
    ]);
    clearInterval(watcher);
    expect(a.text).toBe("stream: OK\0");
    expect(b.text).toBe(`stream: ${NAME} FOUND\0`);
    expect(c.text).toBe("COMMAND READ TIMED OUT\n");
    expect(seen.size).toBeGreaterThan(0);
    expect([...seen].every((f) => /^vigil-stream-[0-9a-f]{16}$/.test(f))).toBe(true);
    expect(readdirSync(spool)).toEqual([]);
    expect(d.daemon.service.buffered).toBe(0);
    await d.stop();
    rmSync(spool, { recursive: true, force: true });
  });
});
