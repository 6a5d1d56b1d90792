import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { connect } from "node:net";
import { Daemon, HttpApi, MultipartReader, boundaryOf, isLoopback, type Service } from "@vigil/daemon";
import { EICAR, makeZip, needs } from "@vigil/test-kit";
import { startDaemon, talk, chunked, tempDir, type Running } from "./helpers.js";

function curl(args: string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      "curl",
      ["-s", "-w", "\n%{http_code}", ...args],
      { timeout: 20_000, maxBuffer: 1 << 24 },
      (err, stdout) => {
        if (err && !stdout) return reject(err);
        const i = stdout.lastIndexOf("\n");
        resolve({ status: Number(stdout.slice(i + 1)), body: stdout.slice(0, i) });
      },
    );
  });
}

const noCurl = needs("HTTP API tests (curl as the client)", { tools: ["curl"] });

describe.skipIf(noCurl)("HTTP scan API", () => {
  let d: Running;
  let base: string;
  let files: ReturnType<typeof tempDir>;
  beforeAll(async () => {
    d = await startDaemon({ http: "127.0.0.1:0", httpOptions: { maxBodySize: 1024 * 1024 } });
    base = `http://${d.http}`;
    files = tempDir();
    files.file("eicar.com", EICAR);
    files.file("clean.txt", "hello\n");
    files.file("big.bin", Buffer.alloc(2 * 1024 * 1024));
  });
  afterAll(async () => {
    await d.stop();
    files.cleanup();
  });

  it("POST /v1/scan with a raw body: verdict, detection with offsets, rules version, time", async () => {
    const r = await curl(["-X", "POST", "--data-binary", `@${files.dir}/eicar.com`, `${base}/v1/scan?name=upload.com`]);
    expect(r.status).toBe(200);
    const j = JSON.parse(r.body);
    expect(j.verdict).toBe("infected");
    expect(j.rulesVersion).toBe(d.daemon.service.engines.generation.version);
    expect(typeof j.elapsedMs).toBe("number");
    expect(j.files).toHaveLength(1);
    expect(j.files[0]).toMatchObject({ name: "upload.com", size: 68, verdict: "infected" });
    expect(j.files[0].detections[0]).toMatchObject({
      name: "Win.Test.EICAR_HDB-1",
      strings: [{ offset: 0, length: 68 }],
    });
    const clean = JSON.parse((await curl(["-X", "POST", "--data-binary", "hello", `${base}/v1/scan`])).body);
    expect(clean).toMatchObject({ verdict: "clean", files: [{ name: "body", verdict: "clean", detections: [] }] });
  });

  it("a file not fully scanned gets verdict incomplete, never clean: encrypted zip member, format not opened", async () => {
    files.file("enc.zip", makeZip([{ name: "secret.exe", data: "MZ payload", method: 0, flags: 1 }]));
    const r = await curl(["-X", "POST", "--data-binary", `@${files.dir}/enc.zip`, `${base}/v1/scan?name=enc.zip`]);
    const j = JSON.parse(r.body);
    expect(j.verdict).toBe("incomplete");
    expect(j.files[0]).toMatchObject({
      name: "enc.zip",
      verdict: "incomplete",
      notFullyScanned: [{ reason: "encrypted", path: "enc.zip!secret.exe" }],
    });
    // MS compress's KWAJ variant: recognised, not opened by any reader
    files.file(
      "setup.ex_",
      Buffer.concat([Buffer.from([0x4b, 0x57, 0x41, 0x4a, 0x88, 0xf0, 0x27, 0xd1]), Buffer.alloc(20)]),
    );
    const p = JSON.parse(
      (await curl(["-X", "POST", "--data-binary", `@${files.dir}/setup.ex_`, `${base}/v1/scan?name=setup.ex_`])).body,
    );
    expect(p.verdict).toBe("incomplete");
    expect(p.files[0].notFullyScanned[0]).toMatchObject({
      reason: "unsupported",
      message: expect.stringMatching(/KWAJ.* is not opened/),
    });
    // the metrics count it under its own verdict
    const m = await curl([`${base}/metrics`]);
    expect(m.body).toMatch(/vigil_scans_total\{interface="http",verdict="incomplete"\} [1-9]/);
  });

  it("POST /v1/scan with multipart/form-data: one verdict per file", async () => {
    const r = await curl([
      "-F",
      `one=@${files.dir}/clean.txt`,
      "-F",
      `two=@${files.dir}/eicar.com;filename=x.com`,
      `${base}/v1/scan`,
    ]);
    expect(r.status).toBe(200);
    const j = JSON.parse(r.body);
    expect(j.verdict).toBe("infected");
    expect(j.files.map((f: { name: string; verdict: string }) => [f.name, f.verdict])).toEqual([
      ["clean.txt", "clean"],
      ["x.com", "infected"],
    ]);
  });

  it("chunked uploads are read as they come", async () => {
    const r = await curl([
      "-H",
      "Transfer-Encoding: chunked",
      "--data-binary",
      `@${files.dir}/eicar.com`,
      `${base}/v1/scan`,
    ]);
    expect(JSON.parse(r.body).verdict).toBe("infected");
  });

  it("body size limit: 413 from Content-Length, and 413 for a chunked body that goes over", async () => {
    const r = await curl(["--data-binary", `@${files.dir}/big.bin`, `${base}/v1/scan`]);
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body).error.code).toBe("BODY_TOO_LARGE");
    const c = await curl([
      "-H",
      "Transfer-Encoding: chunked",
      "--data-binary",
      `@${files.dir}/big.bin`,
      `${base}/v1/scan`,
    ]);
    expect(c.status).toBe(413);
  });

  it("clear 4xx errors: truncated multipart, no boundary, empty multipart, unknown path, wrong method", async () => {
    const trunc = await curl([
      "-H",
      "Content-Type: multipart/form-data; boundary=XX",
      "--data-binary",
      '--XX\r\nContent-Disposition: form-data; name="a"; filename="a"\r\n\r\nabc',
      `${base}/v1/scan`,
    ]);
    expect(trunc.status).toBe(400);
    expect(JSON.parse(trunc.body).error.message).toMatch(/closing boundary/);
    expect(
      (await curl(["-H", "Content-Type: multipart/form-data", "--data-binary", "x", `${base}/v1/scan`])).status,
    ).toBe(400);
    const empty = await curl([
      "-H",
      "Content-Type: multipart/form-data; boundary=XX",
      "--data-binary",
      "--XX--\r\n",
      `${base}/v1/scan`,
    ]);
    expect(empty.status).toBe(400);
    expect(JSON.parse(empty.body).error.code).toBe("NO_FILE");
    expect((await curl([`${base}/v2/nothing`])).status).toBe(404);
    expect((await curl([`${base}/v1/scan`])).status).toBe(405);
    expect((await curl(["-X", "POST", `${base}/v1/health`])).status).toBe(405);
  });

  it("GET /v1/health, /v1/version, /v1/openapi.json", async () => {
    const h = JSON.parse((await curl([`${base}/v1/health`])).body);
    expect(h).toMatchObject({ status: "ok", rulesVersion: d.daemon.service.engines.generation.version });
    expect(h.signatures).toBeGreaterThan(0);
    const v = JSON.parse((await curl([`${base}/v1/version`])).body);
    expect(v).toMatchObject({ vigil: "0.1.0", clamdProtocol: "ClamAV 1.4.6" });
    const o = JSON.parse((await curl([`${base}/v1/openapi.json`])).body);
    expect(o.openapi).toBe("3.1.0");
    expect(Object.keys(o.paths).sort()).toEqual([
      "/metrics",
      "/v1/health",
      "/v1/openapi.json",
      "/v1/scan",
      "/v1/version",
    ]);
  });

  it("GET /metrics: Prometheus text whose counters move with scans over both interfaces", async () => {
    const get = async () => (await curl([`${base}/metrics`])).body;
    const num = (text: string, series: string) =>
      Number(new RegExp(`^${series.replace(/[{}"|.]/g, "\\$&")} (\\S+)$`, "m").exec(text)?.[1]);
    const before = await get();
    await curl(["--data-binary", EICAR, `${base}/v1/scan`]);
    await talk(d.port, ["zINSTREAM\0", chunked("clean bytes")]);
    const after = await get();
    expect(
      num(after, 'vigil_scans_total{interface="http",verdict="infected"}') -
        num(before, 'vigil_scans_total{interface="http",verdict="infected"}'),
    ).toBe(1);
    expect(
      num(after, 'vigil_scans_total{interface="clamd",verdict="clean"}') -
        num(before, 'vigil_scans_total{interface="clamd",verdict="clean"}'),
    ).toBe(1);
    expect(num(after, "vigil_detections_total") - num(before, "vigil_detections_total")).toBe(1);
    expect(num(after, "vigil_scanned_bytes_total") - num(before, "vigil_scanned_bytes_total")).toBe(68 + 11);
    expect(num(after, "vigil_scan_duration_seconds_count") - num(before, "vigil_scan_duration_seconds_count")).toBe(2);
    expect(after).toMatch(/^# TYPE vigil_scan_duration_seconds histogram$/m);
    expect(after).toMatch(/^vigil_queue_depth 0$/m);
  });

  it("a client that drops mid-upload leaves the API serving", async () => {
    const [host, port] = d.http!.split(":");
    const s = connect(Number(port), host);
    s.on("error", () => {});
    s.write("POST /v1/scan HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc");
    await new Promise((r) => setTimeout(r, 50));
    s.destroy();
    expect((await curl([`${base}/v1/health`])).status).toBe(200);
  });
});

describe.skipIf(noCurl)("HTTP API authentication", () => {
  it("refuses to listen off loopback without a token", () => {
    const fake = {} as Service;
    expect(() => new HttpApi(fake, { listen: "0.0.0.0:0" })).toThrow(
      expect.objectContaining({ code: "AUTH_REQUIRED" }),
    );
    expect(() => new HttpApi(fake, { listen: "127.0.0.1:0" })).not.toThrow();
    expect(
      isLoopback("127.0.0.1") &&
        isLoopback("[::1]") &&
        isLoopback("localhost") &&
        !isLoopback("0.0.0.0") &&
        !isLoopback("10.0.0.1"),
    ).toBe(true);
  });

  it("with a token: 401 without or with a wrong one, 200 with it; health stays open", async () => {
    const d = new Daemon({
      signatures: {},
      jobs: 0,
      tcp: ["127.0.0.1:0"],
      http: "0.0.0.0:0",
      httpOptions: { token: "s3cret-token" },
    });
    const a = await d.start();
    const port = a.http!.split(":").pop();
    const url = `http://127.0.0.1:${port}`;
    try {
      const none = await curl(["--data-binary", "x", `${url}/v1/scan`]);
      expect(none.status).toBe(401);
      expect(JSON.parse(none.body).error.code).toBe("UNAUTHORIZED");
      expect((await curl(["-H", "Authorization: Bearer wrong", `${url}/metrics`])).status).toBe(401);
      expect(
        (await curl(["-H", "Authorization: Bearer s3cret-token", "--data-binary", "x", `${url}/v1/scan`])).status,
      ).toBe(200);
      expect((await curl(["-H", "Authorization: Bearer s3cret-token", `${url}/metrics`])).status).toBe(200);
      expect((await curl([`${url}/v1/health`])).status).toBe(200);
    } finally {
      await d.stop();
    }
  });
});

describe("multipart reader", () => {
  const body = (b: string) =>
    Buffer.from(
      `preamble\r\n--${b}\r\nContent-Disposition: form-data; name="f1"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\n` +
        `line one\r\n--not-the-boundary\r\n\r\n--${b}\r\nContent-Disposition: form-data; name="field"\r\n\r\nvalue\r\n--${b}--\r\nepilogue`,
      "latin1",
    );

  it("gives the same parts however the body is split", () => {
    const b = "----WebKitFormBoundary7MA4YWxkTrZu0gW";
    const whole = body(b);
    for (let size = 1; size <= whole.length; size += size < 10 ? 1 : 17) {
      const parts: { h: unknown; data: string }[] = [];
      const r = new MultipartReader(b, {
        partStart: (h) => parts.push({ h, data: "" }),
        partData: (c) => {
          parts[parts.length - 1]!.data += c.toString("latin1");
        },
        partEnd: () => {},
      });
      for (let at = 0; at < whole.length; at += size) r.write(whole.subarray(at, at + size));
      r.end();
      expect(parts, `split ${size}`).toEqual([
        { h: { name: "f1", filename: "a.txt", contentType: "text/plain" }, data: "line one\r\n--not-the-boundary\r\n" },
        { h: { name: "field" }, data: "value" },
      ]);
    }
  });

  it("boundaryOf reads quoted and bare boundaries, and only for multipart/form-data", () => {
    expect(boundaryOf('multipart/form-data; boundary="a b"')).toBe("a b");
    expect(boundaryOf("multipart/form-data;boundary=xyz; charset=utf-8")).toBe("xyz");
    expect(boundaryOf("multipart/mixed; boundary=xyz")).toBeUndefined();
    expect(boundaryOf("text/plain")).toBeUndefined();
  });

  it("rejects oversized part headers and a missing CRLF after a boundary", () => {
    const noop = { partStart() {}, partData() {}, partEnd() {} };
    const r = new MultipartReader("B", noop);
    expect(() => r.write(Buffer.from(`--B\r\n${"x".repeat(20_000)}`))).toThrow(/headers longer/);
    expect(() => new MultipartReader("B", noop).write(Buffer.from("--Bxx\r\n"))).toThrow(/CRLF/);
  });
});

describe.skipIf(noCurl)("HTTP API: large uploads go to spool files", () => {
  it("bodies and parts past the spool threshold or the memory budget are spooled, scanned alike, and removed", async () => {
    const { mkdtempSync, readdirSync, rmSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const spool = mkdtempSync(join(tmpdir(), "vigil-http-spool-"));
    const rules = tempDir();
    const rule = rules.file("tail.yar", 'rule Tail_Marker { strings: $a = "TAIL-MARKER-7f3a" condition: $a }\n');
    // threshold 64 KiB; budget 4 KiB: even small parts spool while another upload holds memory
    const d = await startDaemon({
      signatures: { builtin: false, rules: [rule] },
      http: "127.0.0.1:0",
      memoryBudget: 4096,
      spoolThreshold: 64 * 1024,
      spoolDir: spool,
      jobs: 1,
    });
    const seen = new Set<string>();
    const watcher = setInterval(() => {
      for (const f of readdirSync(spool)) seen.add(f);
    }, 1);
    try {
      const files = tempDir();
      // a marker at the end of 3 MiB of padding: a detection only if every spooled byte is scanned
      const big = files.file(
        "big.bin",
        Buffer.concat([Buffer.alloc(3 * 1024 * 1024, 0x20), Buffer.from("TAIL-MARKER-7f3a")]),
      );
      const clean = files.file("clean.bin", Buffer.alloc(100_000, 0x41));
      const [raw, multi, small] = await Promise.all([
        curl(["--data-binary", `@${big}`, `http://${d.http}/v1/scan?name=big.bin`]),
        curl(["-F", `a=@${clean}`, "-F", `b=@${big};filename=inner.bin`, `http://${d.http}/v1/scan`]),
        curl(["--data-binary", "TAIL-MARKER-7f3a", `http://${d.http}/v1/scan`]),
      ]);
      files.cleanup();
      expect(raw.status).toBe(200);
      expect(JSON.parse(raw.body).files[0]).toMatchObject({
        name: "big.bin",
        size: 3 * 1024 * 1024 + 16,
        verdict: "infected",
        detections: [{ name: "Tail_Marker", strings: [{ offset: 3 * 1024 * 1024, length: 16 }] }],
      });
      const m = JSON.parse(multi.body);
      expect(m.files.map((f: { name: string; verdict: string; size: number }) => [f.name, f.verdict, f.size])).toEqual([
        ["clean.bin", "clean", 100_000],
        ["inner.bin", "infected", 3 * 1024 * 1024 + 16],
      ]);
      expect(JSON.parse(small.body).verdict).toBe("infected");
      expect(seen.size).toBeGreaterThan(0);
      expect([...seen].every((f) => /^vigil-stream-[0-9a-f]{16}$/.test(f))).toBe(true);
      expect(readdirSync(spool)).toEqual([]);
      expect(d.daemon.service.buffered).toBe(0);
      const metrics = (await curl([`http://${d.http}/metrics`])).body;
      // the 3 MiB body, the 3 MiB part and the 100 KB part are over the 64 KiB threshold
      expect(Number(/^vigil_spooled_streams_total (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(3);
      expect(metrics).toMatch(/^vigil_stream_memory_bytes 0$/m);
      expect(metrics).toMatch(/^vigil_scan_threads 1$/m);
    } finally {
      clearInterval(watcher);
      await d.stop();
      rules.cleanup();
      rmSync(spool, { recursive: true, force: true });
    }
  });

  it("an upload cut off mid-body, or over the body limit, leaves no spool file and no memory held", async () => {
    const { mkdtempSync, readdirSync, rmSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const spool = mkdtempSync(join(tmpdir(), "vigil-http-spool-"));
    const d = await startDaemon({
      http: "127.0.0.1:0",
      spoolThreshold: 16 * 1024,
      spoolDir: spool,
      httpOptions: { maxBodySize: 1024 * 1024 },
    });
    try {
      const [host, port] = [d.http!.split(":")[0]!, Number(d.http!.split(":")[1])];
      // declares 900 KB, sends 300 KB, then disconnects
      const cut = connect(port, host);
      cut.on("error", () => {});
      await new Promise((r) => cut.once("connect", r));
      cut.write(`POST /v1/scan HTTP/1.1\r\nHost: x\r\nContent-Length: 900000\r\n\r\n`);
      cut.write(Buffer.alloc(300_000, 0x42));
      for (let i = 0; i < 100 && readdirSync(spool).length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(readdirSync(spool)).toHaveLength(1);
      cut.destroy();
      // chunked (no Content-Length): over the limit only once the bytes arrive
      const over = connect(port, host);
      over.on("error", () => {});
      let reply = "";
      over.on("data", (b) => (reply += b));
      await new Promise((r) => over.once("connect", r));
      over.write(`POST /v1/scan HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`);
      const piece = Buffer.alloc(256 * 1024, 0x43);
      for (let i = 0; i < 5 && !reply; i++) {
        over.write(`${piece.length.toString(16)}\r\n`);
        over.write(piece);
        over.write("\r\n");
        await new Promise((r) => setTimeout(r, 20));
      }
      for (let i = 0; i < 200 && !reply.includes("BODY_TOO_LARGE"); i++) await new Promise((r) => setTimeout(r, 10));
      expect(reply).toMatch(/^HTTP\/1\.1 413/);
      over.destroy();
      for (let i = 0; i < 200 && (readdirSync(spool).length || d.daemon.service.buffered); i++)
        await new Promise((r) => setTimeout(r, 10));
      expect(readdirSync(spool)).toEqual([]);
      expect(d.daemon.service.buffered).toBe(0);
      expect(JSON.parse((await curl(["--data-binary", EICAR, `http://${d.http}/v1/scan`])).body).verdict).toBe(
        "infected",
      );
    } finally {
      await d.stop();
      rmSync(spool, { recursive: true, force: true });
    }
  });
});
