/**
 * Alert forwarding by syslog: each new alert becomes one RFC 5424 message
 *
 *   <PRI>1 TIMESTAMP HOSTNAME vigil PROCID alert [vigil@32473 id="..." ...] BOM? MSG
 *
 * PRI is facility * 8 + severity (critical 2, high 3, medium 4, low 5; facility 4,
 * security/authorization, unless configured); TIMESTAMP the alert's first seen (UTC, ms);
 * HOSTNAME this server's name (printable US-ASCII, at most 255); the alert's fields are one
 * SD-ELEMENT whose SD-ID is `vigil@<enterpriseId>` (32473 is RFC 5612's number for
 * documentation: an organisation with its own IANA private enterprise number sets it), with `"`,
 * `\` and `]` escaped by a backslash in the values; MSG is a one-line summary (a UTF-8 BOM
 * before it only when it is not plain ASCII). Transports: UDP (RFC 5426: one datagram each, at
 * most 2048 octets: the summary cut to fit, and the path left out of the SD-ELEMENT when it alone
 * would not fit; sent is delivered, nothing comes back), TCP with
 * octet counting (RFC 6587: `LEN SP MSG`) or TLS (RFC 5425, the same framing; the collector's
 * certificate is checked against `ca` or the system's roots, a client certificate is sent when
 * given). TCP and TLS keep one connection open and retry through the outbox (services/forward.ts)
 * when it fails; a message the kernel accepted before the collector went away can be lost, as
 * syslog over TCP has no acknowledgement.
 */
import { createSocket } from "node:dgram";
import { lookup } from "node:dns/promises";
import { hostname as osHostname } from "node:os";
import { connect as netConnect, isIP, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { AlertSyslogConfig } from "../context.js";
import { ServerError } from "../error.js";
import type { ForwardedAlert, Sink } from "./forward.js";

/** RFC 5612: the private enterprise number reserved for documentation examples. */
export const EXAMPLE_ENTERPRISE_ID = 32473;
const CONNECT_TIMEOUT_MS = 10_000;
const UDP_MAX_OCTETS = 2048;
const SEVERITY_CODE = { critical: 2, high: 3, medium: 4, low: 5 } as const;

/** Refuses a configuration that could not work, saying what to fix. */
export function checkSyslogConfig(s: AlertSyslogConfig): void {
  const where = "alert syslog";
  if (!s.host || /[\s/]/.test(s.host))
    throw new ServerError(
      "SERVER_CONFIG",
      `${where}: the host must be a name or an address, not ${JSON.stringify(s.host)}`,
    );
  if (s.transport !== undefined && !["udp", "tcp", "tls"].includes(s.transport))
    throw new ServerError(
      "SERVER_CONFIG",
      `${where}: the transport is udp, tcp or tls, not ${JSON.stringify(s.transport)}`,
    );
  if (s.port !== undefined && (!Number.isInteger(s.port) || s.port < 1 || s.port > 65535))
    throw new ServerError("SERVER_CONFIG", `${where}: the port is 1 to 65535`);
  if (s.facility !== undefined && (!Number.isInteger(s.facility) || s.facility < 0 || s.facility > 23))
    throw new ServerError("SERVER_CONFIG", `${where}: the facility is 0 to 23 (4: security/authorization)`);
  if (s.enterpriseId !== undefined && (!Number.isInteger(s.enterpriseId) || s.enterpriseId < 1))
    throw new ServerError(
      "SERVER_CONFIG",
      `${where}: the enterprise id is a positive integer (your IANA private enterprise number)`,
    );
  if ((s.cert === undefined) !== (s.key === undefined))
    throw new ServerError("SERVER_CONFIG", `${where}: give both the client certificate and its key, or neither`);
  if ((s.ca || s.cert) && (s.transport ?? "tcp") !== "tls")
    throw new ServerError("SERVER_CONFIG", `${where}: certificates are for the tls transport`);
}

/** Printable US-ASCII (33-126) only, at most `max` characters; "-" (the NILVALUE) when empty. */
function headerField(s: string, max: number): string {
  const clean = s.replace(/[^\x21-\x7e]/g, "_").slice(0, max);
  return clean.length ? clean : "-";
}

/** An SD-PARAM value: `"`, `\` and `]` escaped with a backslash (RFC 5424 6.3.3). */
export function escapeSdValue(v: string): string {
  return v.replace(/["\\\]]/g, (c) => `\\${c}`);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export interface SyslogFormat {
  enterpriseId?: number | undefined;
  facility?: number | undefined;
  hostname?: string | undefined;
  procId?: string | undefined;
}

/** The RFC 5424 message for an alert (without transport framing). `maxOctets` cuts the summary to fit. */
export function formatSyslog(a: ForwardedAlert, f: SyslogFormat = {}, maxOctets?: number): Buffer {
  const pri = (f.facility ?? 4) * 8 + SEVERITY_CODE[a.severity];
  const header = [
    `<${pri}>1`,
    iso(a.firstSeen),
    headerField(f.hostname ?? osHostname(), 255),
    "vigil",
    headerField(f.procId ?? String(process.pid), 128),
    "alert",
  ].join(" ");
  const params: [string, string | number | null][] = [
    ["id", a.id],
    ["endpoint", a.endpointId],
    ["host", a.hostname],
    ["sha256", a.sha256],
    ["rule", a.rule],
    ["name", a.name],
    ["severity", a.severity],
    ["count", a.count],
    ["firstSeen", iso(a.firstSeen)],
    ["lastSeen", iso(a.lastSeen)],
    ["state", a.state],
    ["path", a.path],
    ["action", a.action],
  ];
  const element = (ps: typeof params) =>
    `[vigil@${f.enterpriseId ?? EXAMPLE_ENTERPRISE_ID}${ps
      .filter(([, v]) => v !== null && v !== undefined)
      .map(([k, v]) => ` ${k}="${escapeSdValue(String(v))}"`)
      .join("")}]`;
  let sd = element(params);
  // a datagram too small for a long path keeps every other field (the path is in the summary, cut)
  if (maxOctets !== undefined && Buffer.byteLength(`${header} ${sd} `) > maxOctets)
    sd = element(params.filter(([k]) => k !== "path"));
  const summary = `${a.name} (${a.severity}) on ${a.hostname ?? a.endpointId}: ${a.path ?? a.sha256}`.replace(
    /[\r\n]+/g,
    " ",
  );
  const head = Buffer.from(`${header} ${sd} `, "utf8");
  // eslint-disable-next-line no-control-regex
  const ascii = /^[\x00-\x7f]*$/.test(summary);
  let msg = Buffer.concat([ascii ? Buffer.alloc(0) : Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(summary, "utf8")]);
  if (maxOctets !== undefined && head.length + msg.length > maxOctets) {
    // cut, then drop a UTF-8 sequence the cut left incomplete
    const cut = msg.subarray(0, Math.max(0, maxOctets - head.length)).toString("utf8");
    msg = Buffer.from(cut.replace(/\uFFFD+$/, ""), "utf8");
  }
  return Buffer.concat([head, msg]);
}

/** RFC 6587 octet counting: `MSG-LEN SP SYSLOG-MSG`. */
export function octetCounted(msg: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${msg.length} `, "ascii"), msg]);
}

/** The syslog channel as an outbox sink. */
export function syslogSink(s: AlertSyslogConfig): Sink {
  const transport = s.transport ?? "tcp";
  const port = s.port ?? (transport === "tls" ? 6514 : 514);
  const format: SyslogFormat = { enterpriseId: s.enterpriseId, facility: s.facility, hostname: s.hostname };
  let conn: Promise<Socket> | undefined;

  const open = (onDrop: () => void): Promise<Socket> =>
    new Promise<Socket>((resolve, reject) => {
      const sock =
        transport === "tls"
          ? tlsConnect({
              host: s.host,
              port,
              servername: isIP(s.servername ?? s.host) ? undefined : (s.servername ?? s.host),
              ...(s.ca ? { ca: s.ca } : {}),
              ...(s.cert ? { cert: s.cert, key: s.key } : {}),
            })
          : netConnect({ host: s.host, port });
      const fail = (err: Error) => {
        sock.destroy();
        reject(err);
      };
      const timer = setTimeout(
        () => fail(new Error(`no connection to ${s.host}:${port} within ${CONNECT_TIMEOUT_MS} ms`)),
        CONNECT_TIMEOUT_MS,
      );
      sock.once("error", fail);
      sock.once(transport === "tls" ? "secureConnect" : "connect", () => {
        clearTimeout(timer);
        sock.off("error", fail);
        // the collector sends nothing; reading lets its close be noticed before the next write
        sock.resume();
        const drop = () => {
          onDrop();
          sock.destroy();
        };
        sock.on("error", drop);
        sock.on("end", drop);
        sock.on("close", drop);
        resolve(sock);
      });
    });
  const connect = (): Promise<Socket> => {
    const p: Promise<Socket> = open(() => {
      if (conn === p) conn = undefined;
    });
    conn = p;
    p.catch(() => {
      if (conn === p) conn = undefined;
    });
    return p;
  };

  const sendStream = async (frame: Buffer) => {
    const sock = await (conn ?? connect());
    if (sock.destroyed) {
      conn = undefined;
      throw new Error(`the connection to ${s.host}:${port} was closed`);
    }
    await new Promise<void>((resolve, reject) => {
      sock.write(frame, (err) => (err ? reject(err) : resolve()));
    }).catch((err) => {
      sock.destroy();
      conn = undefined;
      throw err;
    });
  };

  const sendDatagram = async (msg: Buffer) => {
    const address = isIP(s.host) ? s.host : (await lookup(s.host)).address;
    const sock = createSocket(isIP(address) === 6 ? "udp6" : "udp4");
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once("error", reject);
        sock.send(msg, port, address, (err) => (err ? reject(err) : resolve()));
      });
    } finally {
      sock.close();
    }
  };

  return {
    maxAttempts: s.maxAttempts ?? 10,
    backoffMs: s.backoffMs ?? 5_000,
    async send(alert) {
      if (transport === "udp") await sendDatagram(formatSyslog(alert, format, UDP_MAX_OCTETS));
      else await sendStream(octetCounted(formatSyslog(alert, format)));
    },
    async close() {
      const c = conn;
      conn = undefined;
      if (!c) return;
      const sock = await c.catch(() => undefined);
      if (sock && !sock.destroyed) await new Promise<void>((r) => sock.end(() => r()));
      sock?.destroy();
    },
  };
}
