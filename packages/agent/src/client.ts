/**
 * The agent's only way out: every HTTP request goes through `AgentClient.send`, which records it
 * in the outbound ledger (method, URL, host, body size and sha256) before a byte leaves, then
 * records the outcome. Redirects are not followed (a followed redirect would send the body to an
 * address the ledger does not name). Responses are read up to a size limit.
 */
import type { z } from "zod";
import { AgentError } from "./error.js";
import type { Ledger } from "./ledger.js";
import { ApiError } from "@vigil/protocol";

export const REVOKED_MESSAGE = "this endpoint's key was revoked or is unknown; enrol again";

/** An HTTP answer the agent did not want (4xx, 5xx, 3xx), with its status. */
export class AgentHttpError extends AgentError {
  constructor(
    readonly status: number,
    message: string,
    readonly apiCode?: string,
  ) {
    super(status === 401 ? "AGENT_REVOKED" : "AGENT_HTTP", message);
  }
}

export interface SendOptions {
  /** JSON value (serialised here) or raw bytes. */
  body?: unknown;
  contentType?: string;
  /** Send the endpoint key (default true when the client has one). */
  auth?: boolean;
  maxResponseBytes?: number;
  timeoutMs?: number;
}

export interface SendResult {
  status: number;
  headers: Headers;
  body: Uint8Array;
}

export interface ClientOptions {
  /** Base URL of the server, e.g. http://127.0.0.1:8080 */
  server: string;
  key?: string;
  ledger: Ledger;
  timeoutMs?: number;
}

export class AgentClient {
  private readonly base: string;
  constructor(private readonly opts: ClientOptions) {
    this.base = opts.server.endsWith("/") ? opts.server : opts.server + "/";
  }

  get server(): string {
    return this.opts.server;
  }

  /** A path (relative to the server, e.g. "api/v1/heartbeat") or an absolute http(s) URL. */
  url(pathOrUrl: string): string {
    if (/^https?:\/\//i.test(pathOrUrl)) return pathOrUrl;
    return new URL(pathOrUrl.replace(/^\/+/, ""), this.base).href;
  }

  /** Sends one request (ledgered) and returns whatever status came back. Network failures throw AGENT_OFFLINE. */
  async send(method: string, pathOrUrl: string, o: SendOptions = {}): Promise<SendResult> {
    const url = this.url(pathOrUrl);
    let body: Uint8Array | undefined;
    let contentType = o.contentType;
    if (o.body instanceof Uint8Array) body = o.body;
    else if (o.body !== undefined) {
      body = Buffer.from(JSON.stringify(o.body), "utf8");
      contentType ??= "application/json";
    }
    const headers: Record<string, string> = { accept: "application/json" };
    if (contentType) headers["content-type"] = contentType;
    if (o.auth !== false && this.opts.key) headers.authorization = `Bearer ${this.opts.key}`;
    // the ledger line is written first: if it cannot be written, nothing is sent
    const entry = this.opts.ledger.recordRequest(method, url, body);
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        redirect: "manual",
        signal: AbortSignal.timeout(o.timeoutMs ?? this.opts.timeoutMs ?? 30_000),
        ...(body ? { body } : {}),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err as Error).message;
      this.opts.ledger.recordResult(entry.seq, null, 0, why);
      throw new AgentError("AGENT_OFFLINE", `cannot reach ${new URL(url).host} (${why})`, { cause: err });
    }
    const limit = o.maxResponseBytes ?? 1024 * 1024;
    const chunks: Uint8Array[] = [];
    let total = 0;
    try {
      if (res.body) {
        const reader = res.body.getReader();
        for (;;) {
          const r = await reader.read();
          if (r.done) break;
          total += r.value.length;
          if (total > limit) {
            await reader.cancel();
            this.opts.ledger.recordResult(entry.seq, res.status, total, `response over ${limit} bytes`);
            throw new AgentError("AGENT_HTTP", `${method} ${url}: the answer is over ${limit} bytes; refusing it`);
          }
          chunks.push(r.value);
        }
      }
    } catch (err) {
      if (err instanceof AgentError) throw err;
      this.opts.ledger.recordResult(
        entry.seq,
        res.status,
        total,
        `reading the answer failed: ${(err as Error).message}`,
      );
      throw new AgentError("AGENT_OFFLINE", `${method} ${url}: the connection broke while reading the answer`, {
        cause: err,
      });
    }
    this.opts.ledger.recordResult(entry.seq, res.status, total);
    return { status: res.status, headers: res.headers, body: Buffer.concat(chunks, total) };
  }

  /** Sends and expects a 2xx JSON answer matching `schema`; other answers throw AgentHttpError. */
  async json<T>(method: string, path: string, schema: z.ZodType<T>, o: SendOptions = {}): Promise<T> {
    const r = await this.send(method, path, o);
    if (r.status < 200 || r.status > 299) throw httpError(method, this.url(path), r);
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(r.body).toString("utf8"));
    } catch {
      throw new AgentError("AGENT_HTTP", `${method} ${path}: the server's answer is not JSON`);
    }
    const v = schema.safeParse(parsed);
    if (!v.success)
      throw new AgentError(
        "AGENT_HTTP",
        `${method} ${path}: unexpected answer from the server (${v.error.issues[0]?.path.join(".")}: ${v.error.issues[0]?.message})`,
      );
    return v.data;
  }
}

export function httpError(method: string, url: string, r: SendResult): AgentHttpError {
  if (r.status === 401) return new AgentHttpError(401, REVOKED_MESSAGE);
  let detail = "";
  let apiCode: string | undefined;
  try {
    const e = ApiError.parse(JSON.parse(Buffer.from(r.body).toString("utf8")));
    detail = `: ${e.error.message}`;
    apiCode = e.error.code;
  } catch {
    /* not an API error body */
  }
  if (r.status >= 300 && r.status < 400) {
    return new AgentHttpError(
      r.status,
      `${method} ${url}: the server redirects to ${r.headers.get("location") ?? "?"}; redirects are not followed (configure the final address)`,
    );
  }
  return new AgentHttpError(r.status, `${method} ${url}: HTTP ${r.status}${detail}`, apiCode);
}
