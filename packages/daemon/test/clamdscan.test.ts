/**
 * Debian's clamdscan (the real client) against Vigil's daemon and against Debian's clamd on
 * the same ClamAV-format signatures (a hand-made .hdb and .ndb): same lines, same exit codes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EICAR, needs } from "@vigil/test-kit";
import { startDaemon, talk, tempDir, chunked, u32, type Running, type Step } from "./helpers.js";

interface Run {
  lines: string[];
  code: number;
  stderr: string;
}

function clamdscan(conf: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      "clamdscan",
      [`--config-file=${conf}`, "--no-summary", ...args],
      { timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === "number"
            ? (err as { code: number }).code
            : -1
          : 0;
        resolve({ lines: stdout.split("\n").filter(Boolean).sort(), code, stderr });
      },
    );
  });
}

function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

const TITLE = "Debian clamdscan: Vigil vs clamd on the same signatures";

describe.skipIf(needs(TITLE, { tools: ["clamdscan", "clamd"] }))(TITLE, () => {
  let files: ReturnType<typeof tempDir>;
  let vigil: Running;
  let clamd: ChildProcess;
  let vigilTcp: string, vigilUnix: string, realConf: string;
  let realPort: number;
  const f: Record<string, string> = {};

  beforeAll(async () => {
    files = tempDir();
    const db = join(files.dir, "db");
    mkdirSync(db);
    const hashed = randomBytes(3000);
    writeFileSync(join(db, "t.hdb"), `${createHash("md5").update(hashed).digest("hex")}:3000:Custom.Hash.Daemon-1\n`);
    writeFileSync(
      join(db, "t.ndb"),
      `Custom.Body.Daemon-1:0:*:${Buffer.from("VIGIL-DAEMON-TEST-BODY-MARKER").toString("hex")}\nCustom.Body.Second-1:0:*:${Buffer.from("SECOND-MARKER-XYZ").toString("hex")}\n`,
    );
    f.body = files.file("body.txt", "prefix VIGIL-DAEMON-TEST-BODY-MARKER suffix\n");
    f.both = files.file("both.txt", "VIGIL-DAEMON-TEST-BODY-MARKER and SECOND-MARKER-XYZ\n");
    f.hashed = files.file("hashed.bin", hashed);
    f.clean = files.file("clean.txt", "nothing to see\n");
    f.eicar = files.file("eicar.txt", EICAR); // no EICAR signature in this database: OK for both
    f.big = files.file("big.bin", Buffer.alloc(3 * 1024 * 1024, 0x41));
    mkdirSync(join(files.dir, "tree"), { recursive: true });
    f.tree = join(files.dir, "tree");
    files.file("tree/a.txt", "clean a\n");
    files.file("tree/b.txt", "VIGIL-DAEMON-TEST-BODY-MARKER in a tree\n");
    files.file("tree/c.bin", hashed);
    files.file("cleandir/a.txt", "a\n");
    files.file("cleandir/sub/b.txt", "b\n");
    files.file("onlyone/x.txt", "VIGIL-DAEMON-TEST-BODY-MARKER\n");

    vigil = await startDaemon({
      signatures: { builtin: false, databases: [db] },
      jobs: 1,
      clamd: { streamMaxLength: 2 * 1024 * 1024, commandReadTimeout: 2000, readTimeout: 2000, idleTimeout: 2000 },
    });
    vigilTcp = files.file("vigil-tcp.conf", `TCPSocket ${vigil.port}\nTCPAddr 127.0.0.1\n`);
    vigilUnix = files.file("vigil-unix.conf", `LocalSocket ${vigil.sock}\n`);
    const port = await freePort();
    const conf = files.file(
      "clamd.conf",
      [
        "Foreground yes",
        `TCPSocket ${port}`,
        "TCPAddr 127.0.0.1",
        `DatabaseDirectory ${db}`,
        `LogFile ${join(files.dir, "clamd.log")}`,
        "StreamMaxLength 2M",
        "DisableCache yes",
        "CommandReadTimeout 2",
        "ReadTimeout 2",
        "IdleTimeout 2",
        `PidFile ${join(files.dir, "clamd.pid")}`,
      ].join("\n") + "\n",
    );
    realConf = files.file("real.conf", `TCPSocket ${port}\nTCPAddr 127.0.0.1\n`);
    realPort = port;
    clamd = spawn("clamd", ["-c", conf], { stdio: "ignore" });
    for (let i = 0; i < 100; i++) {
      if ((await talk(port, ["zPING\0"], 500)).text === "PONG\0") break;
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  afterAll(async () => {
    clamd?.kill("SIGTERM");
    await vigil?.stop();
    files?.cleanup();
  });

  const cases: [string, () => string[]][] = [
    ["--stream on files", () => ["--stream", f.body!, f.hashed!, f.clean!, f.eicar!, f.both!]],
    ["-m --stream on files and a directory", () => ["-m", "--stream", f.body!, f.clean!, f.tree!]],
    ["--stream on a directory", () => ["--stream", f.tree!]],
    ["SCAN by path", () => [f.body!, f.clean!]],
    ["CONTSCAN of a directory", () => [f.tree!]],
    ["MULTISCAN (-m) of a directory", () => ["-m", f.tree!]],
    ["ALLMATCHSCAN (--allmatch)", () => ["--allmatch", f.both!]],
    ["a missing file", () => ["--stream", join(files.dir, "missing.txt")]],
  ];
  for (const [title, args] of cases) {
    it(`${title}: same lines and exit code`, async () => {
      const real = await clamdscan(realConf, args());
      const tcp = await clamdscan(vigilTcp, args());
      const unix = await clamdscan(vigilUnix, args());
      expect(real.lines.length + real.stderr.length).toBeGreaterThan(0);
      expect(tcp.stderr).toBe(real.stderr);
      expect(tcp.lines).toEqual(real.lines);
      expect(tcp.code).toBe(real.code);
      expect(unix.lines).toEqual(real.lines);
      expect(unix.code).toBe(real.code);
    });
  }

  it("raw protocol exchanges: byte-for-byte the same replies as clamd", async () => {
    const exchanges: [string, () => Step[], boolean?][] = [
      ["zPING", () => ["zPING\0"]],
      ["nPING", () => ["nPING\n"]],
      ["bare PING", () => ["PING\n"]],
      ["bare INSTREAM", () => ["INSTREAM\n"]],
      ["bare STATS", () => ["STATS\n"]],
      ["unknown", () => ["zFOO\0"]],
      ["junk after PING", () => ["nPING now\n"]],
      ["END outside a session", () => ["nEND\n"]],
      ["INSTREAM detection", () => ["zINSTREAM\0", chunked(readFileSync(f.body!))]],
      ["INSTREAM hash detection", () => ["nINSTREAM\n", chunked(readFileSync(f.hashed!), 1000)]],
      ["INSTREAM clean", () => ["zINSTREAM\0", chunked("clean bytes")]],
      ["INSTREAM empty", () => ["zINSTREAM\0", u32(0)]],
      ["INSTREAM one chunk over StreamMaxLength", () => ["zINSTREAM\0", u32(3 * 1024 * 1024)]],
      ["SCAN infected file", () => [`zSCAN ${f.body}\0`]],
      ["SCAN clean file", () => [`nSCAN ${f.clean}\n`]],
      ["SCAN missing file", () => [`zSCAN ${files.dir}/nope\0`]],
      ["SCAN relative path", () => ["zSCAN relative/x\0"]],
      ["CONTSCAN tree", () => [`zCONTSCAN ${f.tree}\0`], true],
      ["ALLMATCHSCAN two signatures", () => [`zALLMATCHSCAN ${f.both}\0`], true],
      [
        "IDSESSION",
        () => [
          "zIDSESSION\0",
          "zPING\0",
          "zINSTREAM\0",
          chunked(readFileSync(f.body!)),
          `zSCAN ${f.clean}\0`,
          "zEND\0",
        ],
        true,
      ],
      ["invalid in IDSESSION", () => ["nIDSESSION\n", "nPING\n", "nRELOAD\n"]],
      ["empty IDSESSION", () => ["zIDSESSION\0", "zEND\0"]],
      ["nested IDSESSION", () => ["zIDSESSION\0", "zIDSESSION\0"]],
      ["CONTSCAN clean dir", () => [`zCONTSCAN ${files.dir}/cleandir\0`]],
      ["SCAN tree stops at the first", () => [`zSCAN ${files.dir}/onlyone\0`]],
      [
        "size limit over several chunks",
        () => ["zINSTREAM\0", chunked(Buffer.alloc(2 * 1024 * 1024 + 10), 1 << 20, false)],
      ],
      ["PING then FIN", () => ["zPING\0", { end: true }]],
      ["VERSION with junk", () => ["zVERSION x\0"]],
      ["lowercase command", () => ["zping\0"]],
      ["SCAN without a path", () => ["zSCAN\0"]],
      ["SCAN with an empty path", () => ["zSCAN \0"]],
      ["CONTSCAN of /dev/null", () => ["zCONTSCAN /dev/null\0"]],
      ["SCAN with two spaces", () => [`zSCAN  ${f.body}\0`]],
      ["two commands in one packet", () => ["zPING\0zPING\0"]],
      ["session ended by FIN", () => ["zIDSESSION\0zPING\0", { end: true }]],
      ["unknown command in a session", () => ["nIDSESSION\n", "nPING\n", "nBOGUS\n"]],
      ["size limit in a session", () => ["nIDSESSION\n", "nINSTREAM\n", u32(3 * 1024 * 1024)]],
      ["MULTISCAN tree", () => [`zMULTISCAN ${f.tree}\0`], true],
    ];
    for (const [title, steps, unordered] of exchanges) {
      const real = await talk(realPort, steps());
      const ours = await talk(vigil.port, steps());
      const norm = (t: string) =>
        unordered
          ? t
              .split(/(?<=[\0\n])/)
              .sort()
              .join("")
          : t;
      if (title !== "empty IDSESSION") expect(real.text.length, title).toBeGreaterThan(0);
      expect(norm(ours.text), title).toBe(norm(real.text));
      expect(ours.ended, title).toBe(real.ended);
    }
    // a documented difference: clamd closes a stream cut by FIN without a word; Vigil says why
    const cut = (): Step[] => ["zINSTREAM\0", u32(100), "abc", { end: true }];
    expect((await talk(realPort, cut())).text).toBe("");
    expect((await talk(vigil.port, cut())).text).toBe(
      "INSTREAM ended before its zero-length terminating chunk. ERROR\0",
    );
  });

  it("STATS: clamd's layout, numbers aside", async () => {
    // numbers and clamd's per-thread task lines (tab-indented) depend on each server's state
    const norm = (t: string) =>
      t
        .split("\n")
        .filter((l) => !l.startsWith("\t"))
        .join("\n")
        .replace(/\d+(\.\d+)?/g, "N");
    for (const steps of [["zSTATS\0"], ["nSTATS\n"], ["nIDSESSION\n", "nSTATS\n", "nEND\n"]]) {
      const real = await talk(realPort, steps);
      expect(real.text).toMatch(/END[\0\n]$/);
      expect(norm((await talk(vigil.port, steps)).text)).toBe(norm(real.text));
    }
  });

  it("timeouts: the same words and framing as clamd (CommandReadTimeout, ReadTimeout, IdleTimeout)", async () => {
    const cases: [string, Step[]][] = [
      ["silent client", []],
      ["partial command", ["zPIN"]],
      ["stream stalled mid-chunk", ["zINSTREAM\0", u32(10), "abc"]],
      ["idle session", ["nIDSESSION\n", "nPING\n"]],
    ];
    const runs = await Promise.all(
      cases.map(async ([title, steps]) => ({
        title,
        real: await talk(realPort, steps, 8000),
        ours: await talk(vigil.port, steps, 8000),
      })),
    );
    for (const { title, real, ours } of runs) {
      expect(real.text, title).toMatch(/COMMAND READ TIMED OUT\n$/);
      expect(ours.text, title).toBe(real.text);
      expect(ours.ended, title).toBe(real.ended);
    }
  });

  it("the detections really are there (the comparison is not of two empty runs)", async () => {
    const r = await clamdscan(vigilTcp, ["--stream", f.body!, f.hashed!, f.clean!]);
    expect(r.lines).toEqual(
      [
        `${f.body}: Custom.Body.Daemon-1.UNOFFICIAL FOUND`,
        `${f.clean}: OK`,
        `${f.hashed}: Custom.Hash.Daemon-1.UNOFFICIAL FOUND`,
      ].sort(),
    );
    expect(r.code).toBe(1);
  });

  it("a stream over StreamMaxLength: an error and exit 2 (clamd's reply, never 'OK')", async () => {
    const r = await clamdscan(vigilTcp, ["--stream", f.big!]);
    expect(r.code).toBe(2);
    expect(r.lines.join("\n") + r.stderr).toMatch(/size limit exceeded/i);
    const real = await clamdscan(realConf, ["--stream", f.big!]);
    expect(real.code).toBe(2);
  });

  it("--ping, --version and --reload", async () => {
    for (const conf of [vigilTcp, vigilUnix, realConf]) {
      const ping = await clamdscan(conf, ["--ping", "1"]);
      expect(ping).toMatchObject({ lines: ["PONG"], code: 0 });
      const v = await clamdscan(conf, ["--version"]);
      expect(v.code).toBe(0);
      expect(v.lines[0]).toMatch(/^ClamAV 1\.4\.6/);
      const reload = await clamdscan(conf, ["--reload"]);
      expect(reload.code).toBe(0);
    }
    // rules compile in a child process: the reloads complete after their RELOADING replies
    for (let i = 0; i < 400 && vigil.daemon.service.engines.reloads < 2; i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(vigil.daemon.service.engines.reloads).toBeGreaterThanOrEqual(2);
  });
});
