/**
 * The HTTP scan API (node:http): POST /v1/scan takes a raw body (one file) or
 * multipart/form-data (one file per part); the body is read as it arrives, each file's bytes
 * are collected up to the body limit and handed to the Service's scanner, and the answer is
 * JSON with a verdict per file. A file larger than the Service's spoolThreshold (or arriving
 * while stream memory is over the budget) goes to a spool file as it arrives, with the request
 * left unread while the file's writes lag, and is scanned from there. GET /v1/health, /v1/version, /metrics (Prometheus text) and
 * /v1/openapi.json. A bearer token is required when listening anywhere but loopback.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createHash, timingSafeEqual } from "node:crypto";
import type { FileResult } from "@vigil/scanner";
import { BusyError, CLAMD_VERSION, VIGIL_VERSION, verdictOf, type Service } from "./service.js";
import { DaemonError } from "./error.js";
import { boundaryOf, MultipartError, MultipartReader } from "./multipart.js";
import { openApiDocument } from "./openapi.js";
import type { Verdict } from "./metrics.js";
import { SpoolWriter } from "./spool.js";

export interface HttpOptions {
  /** "HOST:PORT" (port 0 picks a free one). */
  listen: string;
  /** Bearer token; required when the host is not loopback. */
  token?: string;
  /** Largest request body in bytes (default 25 MiB). */
  maxBodySize?: number;
  /** Files per multipart request (default 100). */
  maxFiles?: number;
  /** Open connections (default 1024, as clamd's); more are dropped at once until some close. */
  maxConnections?: number;
}

export interface FileVerdict {
  name: string;
  size: number;
  verdict: Verdict;
  detections: {
    name: string;
    rule: string;
    namespace: string;
    path: string;
    strings: { identifier: string; offset: number; length: number }[];
  }[];
  notFullyScanned: { reason: string; path: string; message: string }[];
  errors: { code: string; message: string }[];
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h) || h === "::ffff:127.0.0.1";
}

/** How long the rest of a refused request body is read and dropped before the connection closes. */
const LINGER_MS = 5000;

class HttpFail extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

export class HttpApi {
  private server?: Server;
  readonly maxBodySize: number;
  readonly maxFiles: number;
  private readonly tokenHash?: Buffer;
  private readonly host: string;
  private readonly port: number;

  constructor(
    private readonly service: Service,
    private readonly opts: HttpOptions,
    private readonly connections: () => number = () => 0,
  ) {
    const m = /^(.*):(\d+)$/.exec(opts.listen);
    if (!m)
      throw new DaemonError("BAD_OPTION", `bad --http address '${opts.listen}': use HOST:PORT, e.g. 127.0.0.1:8080`);
    this.host = m[1]!.replace(/^\[(.*)\]$/, "$1");
    this.port = Number(m[2]);
    if (!isLoopback(this.host) && !opts.token) {
      throw new DaemonError(
        "AUTH_REQUIRED",
        `the HTTP API on ${opts.listen} is reachable from other machines: give a bearer token (--http-token or VIGIL_HTTP_TOKEN), or listen on 127.0.0.1`,
      );
    }
    if (opts.token) this.tokenHash = createHash("sha256").update(opts.token).digest();
    this.maxBodySize = opts.maxBodySize ?? 25 * 1024 * 1024;
    this.maxFiles = opts.maxFiles ?? 100;
  }

  async listen(): Promise<string> {
    const srv = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => this.fail(req, res, err));
    });
    srv.requestTimeout = 120_000;
    srv.headersTimeout = 30_000;
    // many idle or slow clients cannot take all file descriptors: past the limit, new
    // connections are closed at once (headersTimeout and requestTimeout end slow ones)
    srv.maxConnections = this.opts.maxConnections ?? 1024;
    this.server = srv;
    await new Promise<void>((res, rej) => {
      srv.once("error", rej);
      srv.listen(this.port, this.host, () => {
        srv.off("error", rej);
        res();
      });
    });
    const a = srv.address();
    return typeof a === "object" && a
      ? `${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}`
      : this.opts.listen;
  }

  async close(): Promise<void> {
    const srv = this.server;
    if (!srv) return;
    this.server = undefined;
    srv.closeAllConnections();
    await new Promise<void>((res) => srv.close(() => res()));
  }

  private authorized(req: IncomingMessage): boolean {
    if (!this.tokenHash) return true;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "");
    if (!m) return false;
    return timingSafeEqual(createHash("sha256").update(m[1]!).digest(), this.tokenHash);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = url.pathname;
    const routes: Record<string, string> = {
      "/v1/scan": "POST",
      "/v1/health": "GET",
      "/v1/version": "GET",
      "/metrics": "GET",
      "/v1/openapi.json": "GET",
    };
    const method = routes[path];
    if (!method) throw new HttpFail(404, `no such endpoint ${path}; see /v1/openapi.json`, "NOT_FOUND");
    if (req.method !== method && !(method === "GET" && req.method === "HEAD")) {
      res.setHeader("Allow", method === "GET" ? "GET, HEAD" : method);
      throw new HttpFail(405, `${path} takes ${method}`, "METHOD_NOT_ALLOWED");
    }
    if (path !== "/v1/health" && !this.authorized(req)) {
      res.setHeader("WWW-Authenticate", 'Bearer realm="vigil"');
      throw new HttpFail(401, "missing or wrong bearer token: send 'Authorization: Bearer <token>'", "UNAUTHORIZED");
    }
    const g = this.service.engines.generation;
    switch (path) {
      case "/v1/health":
        return this.json(res, 200, {
          status: "ok",
          signatures: g.signatures,
          rulesVersion: g.version,
          uptimeSeconds: Math.round((Date.now() - this.service.metrics.started) / 1000),
        });
      case "/v1/version":
        return this.json(res, 200, {
          vigil: VIGIL_VERSION,
          clamdProtocol: CLAMD_VERSION,
          rulesVersion: g.version,
          signatures: g.signatures,
          rulesLoadedAt: g.loadedAt.toISOString(),
        });
      case "/metrics":
        res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" });
        res.end(
          this.service.metrics.render({
            queueDepth: this.service.slots.queued,
            running: this.service.slots.running,
            connections: this.connections(),
            signatures: g.signatures,
            reloads: this.service.engines.reloads,
            streamBytes: this.service.buffered,
            scanThreads: g.workers,
            spooled: this.service.metrics.spooled,
          }),
        );
        return;
      case "/v1/openapi.json":
        return this.json(res, 200, openApiDocument(this.maxBodySize));
      default:
        return this.scan(req, res, url);
    }
  }

  private async scan(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const t0 = performance.now();
    const declared = Number(req.headers["content-length"] ?? NaN);
    if (declared > this.maxBodySize)
      throw new HttpFail(
        413,
        `request body of ${declared} bytes is over the ${this.maxBodySize}-byte limit`,
        "BODY_TOO_LARGE",
      );
    const ctype = req.headers["content-type"];
    const multipart = /^multipart\//i.test(ctype ?? "");
    const boundary = boundaryOf(ctype);
    if (multipart && !boundary)
      throw new HttpFail(
        400,
        "multipart body without a boundary parameter (or not multipart/form-data)",
        "BAD_MULTIPART",
      );

    type Pending = Promise<{ result: FileResult; version: string }>;
    const svc = this.service;
    const scans: { name: string; p: Pending }[] = [];
    // one file being received: in memory up to the spool threshold (and while the daemon-wide
    // budget allows), then in a spool file, as clamd INSTREAM streams are
    interface Part {
      name: string;
      chunks: Buffer[];
      size: number;
      inMemory: number;
      spool?: SpoolWriter;
    }
    const spools: SpoolWriter[] = [];
    const add = (p: Part, c: Buffer) => {
      p.size += c.length;
      if (!p.spool && (p.size > svc.spoolThreshold || svc.buffered + c.length > svc.memoryBudget)) {
        try {
          p.spool = new SpoolWriter(svc.spoolDir, (d) => svc.account(d));
          svc.metrics.spooled++;
        } catch (err) {
          throw new HttpFail(
            500,
            `cannot create a spool file for the upload in ${svc.spoolDir}: ${(err as Error).message}`,
            "SPOOL_FAILED",
          );
        }
        spools.push(p.spool);
        for (const x of p.chunks) p.spool.write(x);
        svc.account(-p.inMemory);
        p.inMemory = 0;
        p.chunks = [];
      }
      if (p.spool) p.spool.write(c);
      else {
        p.chunks.push(c);
        p.inMemory += c.length;
        svc.account(c.length);
      }
    };
    const start = (p: Part) => {
      let slot: Promise<() => void>;
      try {
        slot = svc.reserve();
      } catch (err) {
        if (err instanceof BusyError) throw new HttpFail(503, err.message, "BUSY");
        throw err;
      }
      if (p.spool) {
        const w = p.spool;
        scans.push({
          name: p.name,
          p: w
            .end()
            .then(
              () => svc.scanSpooled(w.path, p.size, p.name, "http", slot),
              (err: unknown) => {
                void slot.then((r) => r());
                throw new HttpFail(
                  500,
                  `cannot write the upload to the spool file: ${(err as Error).message}`,
                  "SPOOL_FAILED",
                );
              },
            )
            .finally(() => w.remove()),
        });
        return;
      }
      let bytes: Uint8Array;
      if (p.chunks.length === 1 && p.size <= svc.inlineMax)
        bytes = p.chunks[0]!; // scanned in this thread: no copy
      else {
        bytes = new Uint8Array(p.size);
        let at = 0;
        for (const c of p.chunks) {
          bytes.set(c, at);
          at += c.length;
        }
      }
      const held = p.inMemory;
      p.chunks = [];
      p.inMemory = 0;
      scans.push({ name: p.name, p: svc.scanBytes(bytes, p.name, "http", slot).finally(() => svc.account(-held)) });
    };
    /** Waits (not reading the request) while the part's spool writes lag or memory is over the budget. */
    const settle = async (p: Part | undefined) => {
      const w = p?.spool;
      while (w && !w.error && (w.congested || (svc.overBudget && w.pending > 0))) {
        await new Promise<void>((r) => {
          if (w.congested)
            w.onDrain = () => {
              w.onDrain = undefined;
              r();
            };
          else svc.whenUnderBudget(r);
        });
      }
    };

    let total = 0;
    let current: Part | undefined;
    const raw = !multipart;
    const rawPart: Part = { name: url.searchParams.get("name") ?? "body", chunks: [], size: 0, inMemory: 0 };
    const reader = boundary
      ? new MultipartReader(boundary, {
          partStart: (h) => {
            if (scans.length >= this.maxFiles)
              throw new HttpFail(413, `more than ${this.maxFiles} files in one request`, "TOO_MANY_FILES");
            current = { name: h.filename ?? h.name ?? `part${scans.length + 1}`, chunks: [], size: 0, inMemory: 0 };
          },
          // a copy: the reader's slice may share memory with bytes it keeps
          partData: (c) => add(current!, Buffer.from(c)),
          partEnd: () => {
            const c = current!;
            current = undefined;
            start(c);
          },
        })
      : undefined;

    try {
      // not destroyed when we stop early: the error answer must still reach the client (see fail)
      for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
        total += chunk.length;
        if (total > this.maxBodySize)
          throw new HttpFail(413, `request body is over the ${this.maxBodySize}-byte limit`, "BODY_TOO_LARGE");
        if (raw) {
          add(rawPart, chunk);
          await settle(rawPart);
        } else {
          reader!.write(chunk);
          await settle(current);
        }
      }
      if (raw) start(rawPart);
      else reader!.end();
      if (!scans.length)
        throw new HttpFail(
          400,
          "no file in the request: send the bytes as the body, or multipart/form-data parts",
          "NO_FILE",
        );
    } catch (err) {
      // parts not handed to a scan: memory and spool files back; scans already started finish
      for (const p of [rawPart, current])
        if (p?.inMemory) {
          svc.account(-p.inMemory);
          p.inMemory = 0;
          p.chunks = [];
        }
      for (const w of spools) w.discard();
      await Promise.allSettled(scans.map((s) => s.p));
      if (err instanceof MultipartError) throw new HttpFail(400, err.message, "BAD_MULTIPART");
      throw err;
    }
    let done;
    try {
      done = await Promise.all(scans.map((s) => s.p));
    } catch (err) {
      await Promise.allSettled(scans.map((s) => s.p));
      throw err;
    }
    const files: FileVerdict[] = done.map(({ result }, i) => ({
      name: scans[i]!.name,
      size: result.size,
      verdict: verdictOf(result),
      detections: result.detections.map((d) => ({
        name: d.name,
        rule: d.rule,
        namespace: d.namespace,
        path: d.path,
        strings: d.strings,
      })),
      notFullyScanned: result.incomplete.map((x) => ({ reason: x.reason, path: x.path, message: x.message })),
      errors: result.errors.map((e) => ({ code: e.code, message: e.message })),
    }));
    const verdict = files.some((f) => f.verdict === "infected")
      ? "infected"
      : files.some((f) => f.verdict === "error")
        ? "error"
        : files.some((f) => f.verdict === "incomplete")
          ? "incomplete"
          : "clean";
    this.json(res, 200, {
      verdict,
      files,
      rulesVersion: done[0]!.version,
      elapsedMs: Math.round((performance.now() - t0) * 1000) / 1000,
    });
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
    res.writeHead(status, {
      "Content-Type": "application/json; charset=utf-8",
      "Content-Length": Buffer.byteLength(text),
    });
    res.end(text);
  }

  private fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    const f =
      err instanceof HttpFail
        ? err
        : new HttpFail(500, `internal error: ${(err as Error)?.message ?? String(err)}`, "INTERNAL");
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (f.status === 503) res.setHeader("Retry-After", "1");
    if (!req.complete) {
      // A body we stopped reading. Closing now would reset the connection while the client is
      // still sending, and a reset can destroy this answer in the client's receive queue
      // (curl then reports no status at all). So the connection is not closed after the answer
      // ("Connection: close" would make Node close it at once): the rest of the body is read
      // and dropped, for at most LINGER_MS, after which a client still sending is cut off.
      const socket = req.socket;
      const timer = setTimeout(() => socket.destroy(), LINGER_MS);
      timer.unref();
      const clear = () => clearTimeout(timer);
      req.once("end", clear);
      socket.once("close", clear);
      req.on("error", () => {});
      req.resume();
    }
    this.json(res, f.status, { error: { code: f.code, message: f.message } });
  }
}
