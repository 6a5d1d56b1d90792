/**
 * Alert forwarding by syslog to receivers on 127.0.0.1: over UDP (one datagram), TCP (RFC 6587
 * octet counting) and TLS (RFC 5425, a certificate made for the test by openssl), each receiver
 * gets one RFC 5424 message per new alert, parsed here by a parser written from the RFC's ABNF
 * (not the server's formatter): PRI, version, timestamp, hostname, app-name, msgid, the SD-ID
 * `vigil@32473`, and SD values holding `]`, `"` and `\` escaped. TCP retries with backoff until
 * the collector listens; two servers on one database send each alert once.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer as createNetServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer as createTlsServer } from "node:tls";
import { afterAll, describe, expect, it } from "vitest";
import {
  createTestDatabase,
  detection,
  dialects,
  startTestServer,
  type TestDatabase,
  type TestServer,
} from "@vigil/test-kit/server";
import { services, type AlertSyslogConfig } from "@vigil/server";

const { formatSyslog, octetCounted } = services;

interface Parsed {
  pri: number;
  version: string;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  sd: { id: string; params: Record<string, string> }[];
  msg: Buffer;
}

/** RFC 5424 section 6, read from its ABNF. */
function parse5424(buf: Buffer): Parsed {
  const text = buf.toString("utf8");
  const m = /^<(\d{1,3})>(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+) /.exec(text);
  if (!m) throw new Error(`not an RFC 5424 header: ${text.slice(0, 80)}`);
  for (const [field, max] of [
    [m[4]!, 255],
    [m[5]!, 48],
    [m[6]!, 128],
    [m[7]!, 32],
  ] as const) {
    if (field.length > max || !/^[\x21-\x7e]+$/.test(field)) throw new Error(`bad header field ${field}`);
  }
  let i = m[0].length;
  const sd: Parsed["sd"] = [];
  if (text[i] === "-") i++;
  else
    while (text[i] === "[") {
      i++;
      const idEnd = text.slice(i).search(/[ \]]/);
      const id = text.slice(i, i + idEnd);
      i += idEnd;
      const params: Record<string, string> = {};
      while (text[i] === " ") {
        i++;
        const eq = text.indexOf("=", i);
        const name = text.slice(i, eq);
        if (!/^[^= \]"]{1,32}$/.test(name)) throw new Error(`bad PARAM-NAME ${name}`);
        if (text[eq + 1] !== '"') throw new Error("PARAM-VALUE not quoted");
        i = eq + 2;
        let v = "";
        for (;;) {
          const ch = text[i]!;
          if (ch === undefined) throw new Error("unterminated PARAM-VALUE");
          if (ch === "\\" && ['"', "\\", "]"].includes(text[i + 1]!)) {
            v += text[i + 1];
            i += 2;
          } else if (ch === '"') {
            i++;
            break;
          } else if (ch === "]") throw new Error("unescaped ] in PARAM-VALUE");
          else {
            v += ch;
            i++;
          }
        }
        params[name] = v;
      }
      if (text[i] !== "]") throw new Error(`SD-ELEMENT not closed at ${i}: ${text.slice(i, i + 20)}`);
      i++;
      sd.push({ id, params });
    }
  if (i < text.length && text[i] !== " ") throw new Error("no SP before MSG");
  const msg = Buffer.from(text.slice(i + 1), "utf8");
  return {
    pri: Number(m[1]),
    version: m[2]!,
    timestamp: m[3]!,
    hostname: m[4]!,
    appName: m[5]!,
    procId: m[6]!,
    msgId: m[7]!,
    sd,
    msg,
  };
}

/** Splits an RFC 6587 octet-counted stream into messages. */
function octetFrames(onFrame: (b: Buffer) => void) {
  let buf = Buffer.alloc(0);
  return (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const sp = buf.indexOf(0x20);
      if (sp < 0) return;
      const len = Number(buf.subarray(0, sp).toString("ascii"));
      if (!Number.isInteger(len) || len <= 0) throw new Error(`bad MSG-LEN ${buf.subarray(0, sp)}`);
      if (buf.length < sp + 1 + len) return;
      onFrame(buf.subarray(sp + 1, sp + 1 + len));
      buf = buf.subarray(sp + 1 + len);
    }
  };
}

interface Receiver {
  port: number;
  got: Buffer[];
  close(): Promise<void>;
}

async function udpReceiver(): Promise<Receiver> {
  const sock = createSocket("udp4");
  const got: Buffer[] = [];
  sock.on("message", (m) => got.push(m));
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
  return { port: sock.address().port, got, close: () => new Promise((r) => sock.close(() => r())) };
}

async function streamReceiver(server: Server, port = 0, tls = false): Promise<Receiver> {
  const got: Buffer[] = [];
  const sockets = new Set<Socket>();
  server.on(tls ? "secureConnection" : "connection", (s: Socket) => {
    sockets.add(s);
    s.on(
      "data",
      octetFrames((f) => got.push(Buffer.from(f))),
    );
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
  const addr = server.address();
  return {
    port: typeof addr === "object" && addr ? addr.port : 0,
    got,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

let tlsMaterial: { cert: string; key: string } | undefined | null;
function testCertificate(): { cert: string; key: string } | undefined {
  if (tlsMaterial !== undefined) return tlsMaterial ?? undefined;
  try {
    const dir = mkdtempSync(join(tmpdir(), "vigil-syslog-tls-"));
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
      ],
      { stdio: "ignore" },
    );
    tlsMaterial = {
      cert: readFileSync(join(dir, "cert.pem"), "utf8"),
      key: readFileSync(join(dir, "key.pem"), "utf8"),
    };
  } catch (err) {
    console.log(`syslog over TLS skipped: openssl could not make a test certificate (${(err as Error).message})`);
    tlsMaterial = null;
  }
  return tlsMaterial ?? undefined;
}

const until = async (cond: () => boolean | Promise<boolean>, ms = 15_000) => {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 25));
  }
};

const HOSTILE_NAME = 'Evil]"name\\with"]\\[brackets] ünïcode';

async function allowPaths(s: TestServer) {
  const admin = await s.loginAdmin();
  const cur = (await s.call("GET", "/api/admin/policy", admin)).json;
  cur.send.path = true;
  const r = await s.call("PUT", "/api/admin/policy", { ...admin, body: cur });
  expect(r.status).toBe(200);
}

function checkFrame(frame: Buffer, want: { endpointId: string; sha256: string; path: string }) {
  const p = parse5424(frame);
  expect(p.version).toBe("1");
  expect(p.pri).toBe(4 * 8 + 3); // facility 4 (security), severity 3 (error) for a high detection
  expect(p.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  expect(p.hostname).toBe("vigil-test-server");
  expect(p.appName).toBe("vigil");
  expect(p.procId).toBe(String(process.pid));
  expect(p.msgId).toBe("alert");
  expect(p.sd).toHaveLength(1);
  expect(p.sd[0]!.id).toBe("vigil@32473");
  expect(p.sd[0]!.params).toMatchObject({
    endpoint: want.endpointId,
    host: "syslog-host",
    sha256: want.sha256,
    rule: "EICAR_Test_File",
    name: HOSTILE_NAME,
    severity: "high",
    count: "1",
    state: "new",
    path: want.path,
    action: "reported",
  });
  // the raw frame has every ] " \ of the name escaped
  expect(frame.toString("utf8")).toContain('name="Evil\\]\\"name\\\\with\\"\\]\\\\[brackets\\] ünïcode"');
  // a non-ASCII summary is UTF-8 with a BOM
  expect([...p.msg.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
  expect(p.msg.subarray(3).toString("utf8")).toContain(want.path);
}

async function raise(s: TestServer) {
  const ep = await s.enrollEndpoint({ hostname: "syslog-host" });
  const sha256 = randomBytes(32).toString("hex");
  const path = '/home/u/evil "x"]\\.exe';
  const r = await s.call("POST", "/api/v1/detections", {
    key: ep.key,
    body: { detections: [detection({ sha256, name: HOSTILE_NAME, path })] },
  });
  expect(r.status).toBe(200);
  return { endpointId: ep.endpointId, sha256, path };
}

const servers: TestServer[] = [];
const receivers: Receiver[] = [];
const dropAfter: TestDatabase[] = [];
afterAll(async () => {
  for (const s of servers) await s.close().catch(() => {});
  for (const r of receivers) await r.close().catch(() => {});
  for (const d of dropAfter) await d.drop().catch(() => {});
});

async function start(dialect: "sqlite" | "postgres", syslog: AlertSyslogConfig, database?: string) {
  const s = await startTestServer({
    dialect,
    ...(database ? { database } : {}),
    alertSyslog: { hostname: "vigil-test-server", backoffMs: 50, maxAttempts: 20, ...syslog },
    webhookIntervalMs: 20,
  });
  servers.push(s);
  return s;
}

for (const dialect of await dialects()) {
  describe(`alert syslog (${dialect})`, () => {
    it("UDP: one RFC 5424 datagram per new alert, delivered once", async () => {
      const rx = await udpReceiver();
      receivers.push(rx);
      const s = await start(dialect, { host: "127.0.0.1", port: rx.port, transport: "udp" });
      await allowPaths(s);
      const want = await raise(s);
      await until(() => rx.got.length >= 1);
      checkFrame(rx.got[0]!, want);
      await new Promise((r) => setTimeout(r, 200));
      expect(rx.got).toHaveLength(1);
      const rows = await s.ctx.store.db.selectFrom("alert_deliveries").selectAll().execute();
      expect(rows.map((r) => [r.channel, r.state])).toEqual([["syslog", "delivered"]]);
    });

    it("TCP: octet-counted frames; retried with backoff until the collector listens", async () => {
      // a port nobody listens on yet
      const probe = createNetServer();
      await new Promise<void>((r) => probe.listen(0, "127.0.0.1", () => r()));
      const port = (probe.address() as { port: number }).port;
      await new Promise((r) => probe.close(() => r(undefined)));
      const s = await start(dialect, { host: "127.0.0.1", port, transport: "tcp" });
      await allowPaths(s);
      const want = await raise(s);
      const db = s.ctx.store.db;
      await until(async () => {
        const row = await db.selectFrom("alert_deliveries").selectAll().executeTakeFirst();
        return !!row && Number(row.attempts) >= 2;
      });
      const failing = await db.selectFrom("alert_deliveries").selectAll().executeTakeFirstOrThrow();
      expect(failing.state).toBe("queued");
      expect(failing.last_error).toMatch(/ECONNREFUSED/);
      const rx = await streamReceiver(createNetServer(), port);
      receivers.push(rx);
      await until(() => rx.got.length >= 1);
      checkFrame(rx.got[0]!, want);
      await until(
        async () =>
          (await db.selectFrom("alert_deliveries").selectAll().executeTakeFirstOrThrow()).state === "delivered",
      );
      // a second alert goes over the same connection
      const again = await raise(s);
      await until(() => rx.got.length >= 2);
      checkFrame(rx.got[1]!, again);
    });

    it("TLS (RFC 5425): the collector's certificate is checked; a wrong CA is refused", async () => {
      const tls = testCertificate();
      if (!tls) return;
      const rx = await streamReceiver(createTlsServer({ cert: tls.cert, key: tls.key }), 0, true);
      receivers.push(rx);
      const s = await start(dialect, { host: "127.0.0.1", port: rx.port, transport: "tls", ca: tls.cert });
      await allowPaths(s);
      const want = await raise(s);
      await until(() => rx.got.length >= 1);
      checkFrame(rx.got[0]!, want);

      // a server that does not trust the collector's certificate never sends to it
      const rx2 = await streamReceiver(createTlsServer({ cert: tls.cert, key: tls.key }), 0, true);
      receivers.push(rx2);
      const s2 = await start(dialect, { host: "127.0.0.1", port: rx2.port, transport: "tls" });
      await raise(s2);
      await until(async () => {
        const row = await s2.ctx.store.db.selectFrom("alert_deliveries").selectAll().executeTakeFirst();
        return !!row?.last_error;
      });
      const row = await s2.ctx.store.db.selectFrom("alert_deliveries").selectAll().executeTakeFirstOrThrow();
      expect(row.last_error).toMatch(/certificate/i);
      expect(rx2.got).toHaveLength(0);
    });

    it("two servers on one database send each alert once", async () => {
      const rx = await streamReceiver(createNetServer());
      receivers.push(rx);
      const shared = dialect === "postgres" ? await createTestDatabase() : undefined;
      if (shared) dropAfter.push(shared);
      const a = await start(dialect, { host: "127.0.0.1", port: rx.port, transport: "tcp" }, shared?.url);
      const database = shared?.url ?? join(a.dataDir, "vigil.db");
      const b = await start(dialect, { host: "127.0.0.1", port: rx.port, transport: "tcp" }, database);
      for (let i = 0; i < 5; i++) await raise(i % 2 ? a : b);
      await until(() => rx.got.length >= 5);
      await new Promise((r) => setTimeout(r, 300));
      expect(rx.got).toHaveLength(5);
      const ids = rx.got.map((f) => parse5424(f).sd[0]!.params.id);
      expect(new Set(ids).size).toBe(5);
    });
  });
}

it("a UDP message fits 2048 octets: the path leaves the SD-ELEMENT, the summary is cut on a character", () => {
  const alert = {
    id: "a1",
    endpointId: "e1",
    hostname: "h",
    sha256: "ab".repeat(32),
    rule: "R",
    name: "N",
    severity: "low" as const,
    firstSeen: 0,
    lastSeen: 0,
    count: 1,
    state: "new" as const,
    stateBy: null,
    stateAt: null,
    path: `/${"é".repeat(3000)}"]`,
    action: "reported",
    bundleVersion: null,
  };
  const udp = formatSyslog(alert, { hostname: "x" }, 2048);
  expect(udp.length).toBeLessThanOrEqual(2048);
  expect(udp.length).toBeGreaterThan(2040);
  const p = parse5424(udp);
  expect(p.sd[0]!.params.path).toBeUndefined();
  expect(p.sd[0]!.params.sha256).toBe(alert.sha256);
  expect(p.msg.toString("utf8")).not.toContain("\uFFFD");
  // over TCP nothing is cut
  const tcp = parse5424(formatSyslog(alert, { hostname: "x" }));
  expect(tcp.sd[0]!.params.path).toBe(alert.path);
  expect(octetCounted(Buffer.from("abc")).toString()).toBe("3 abc");
});

it("a bad syslog configuration is refused at start", async () => {
  for (const [bad, msg] of [
    [{ host: "127.0.0.1", transport: "sctp" }, /udp, tcp or tls/],
    [{ host: "127.0.0.1", port: 70000 }, /port/],
    [{ host: "127.0.0.1", facility: 24 }, /facility/],
    [{ host: "127.0.0.1", transport: "tcp", ca: "x" }, /tls/],
    [{ host: "a b" }, /host/],
  ] as const)
    await expect(
      startTestServer({ dialect: "sqlite", alertSyslog: bad as unknown as AlertSyslogConfig }),
    ).rejects.toThrow(msg);
});
