/**
 * Test harness: a real server on 127.0.0.1 (ephemeral port) over SQLite in a temp directory or a
 * freshly created PostgreSQL database (unique per call, dropped in close()), with a known admin,
 * log lines captured in `logs`, and helpers for logging in, enrolling endpoints and calling the
 * API. `dialects()` says which databases the suites run against.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { hidden, unmet } from "./needs.js";
import { startServer, type Dialect, type RunningServer, type ServerOptions } from "@vigil/server";

export const TEST_ADMIN = { username: "admin", password: "vigil-test-admin-pw-1" };
export const POSTGRES_URL = process.env.VIGIL_TEST_POSTGRES_URL ?? "postgres://vigil:vigil@127.0.0.1:5432/vigil_test";

let checked: Promise<Dialect[]> | undefined;

/**
 * ["sqlite","postgres"] when PostgreSQL answers, else ["sqlite"] after printing why (or a
 * failure with VIGIL_REQUIRE_POSTGRES=1 or VIGIL_REQUIRE_ALL=1; VIGIL_TEST_HIDE=postgres
 * plays an absent server).
 */
export function dialects(): Promise<Dialect[]> {
  return (checked ??= (async () => {
    const where = `PostgreSQL at ${POSTGRES_URL.replace(/:[^:@/]*@/, ":***@")}`;
    const hint = "start it and set VIGIL_TEST_POSTGRES_URL, as .ci/run does";
    if (hidden("postgres")) {
      unmet("the server tests on PostgreSQL", ["postgres"], `${where} hidden by VIGIL_TEST_HIDE`, hint);
      return ["sqlite"] as Dialect[];
    }
    const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.query("select 1");
      return ["sqlite", "postgres"] as Dialect[];
    } catch (e) {
      unmet(
        "the server tests on PostgreSQL",
        ["postgres"],
        `${where} is not reachable (${(e as Error).message})`,
        hint,
      );
      return ["sqlite"] as Dialect[];
    } finally {
      await client.end().catch(() => {});
    }
  })());
}

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** Creates an empty PostgreSQL database with a unique name; drop() removes it (closing leftovers). */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `vigil_t_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(POSTGRES_URL);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: POSTGRES_URL });
      await c.connect();
      try {
        // an autovacuum worker (a superuser backend) on the new database makes FORCE fail for a
        // non-superuser ("must be a member of the role whose process is being terminated"): it
        // finishes in moments, so try again a few times
        for (let attempt = 0; ; attempt++) {
          try {
            await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
            break;
          } catch (e) {
            if (attempt >= 20 || !/member of the role|being accessed by other users/.test((e as Error).message))
              throw e;
            await new Promise((r) => setTimeout(r, 250));
          }
        }
      } finally {
        await c.end();
      }
    },
  };
}

export interface ApiReply {
  status: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
  text: string;
}

export interface CallOptions {
  body?: unknown;
  /** Sent as is (a string or bytes) instead of JSON. */
  raw?: string | Uint8Array;
  key?: string;
  cookie?: string;
  csrf?: string;
  headers?: Record<string, string>;
}

export interface TestServer extends RunningServer {
  dialect: Dialect;
  dataDir: string;
  /** Every log line the server wrote (JSON text). */
  logs: string[];
  call(method: string, path: string, opts?: CallOptions): Promise<ApiReply>;
  loginAdmin(): Promise<{ cookie: string; csrf: string }>;
  login(username: string, password: string): Promise<{ cookie: string; csrf: string }>;
  createToken(opts?: { label?: string; uses?: number; ttlHours?: number }): Promise<string>;
  enrollEndpoint(opts?: { hostname?: string }): Promise<{ endpointId: string; key: string; enrollment: any }>;
}

export interface TestServerOptions extends ServerOptions {
  dialect: Dialect;
  /** Reuse this database (e.g. two servers on one PostgreSQL); not dropped by close(). */
  database?: string;
}

export async function startTestServer(opts: TestServerOptions): Promise<TestServer> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "vigil-server-test-"));
  const own = opts.dialect === "postgres" && !opts.database ? await createTestDatabase() : undefined;
  const database = opts.dialect === "postgres" ? (opts.database ?? own!.url) : opts.database;
  const logs: string[] = [];
  const logStream = {
    write: (s: string) => {
      logs.push(s);
    },
  };
  let server: RunningServer;
  try {
    server = await startServer({
      rateLimitPerMinute: 10_000,
      initialAdmin: TEST_ADMIN,
      ...opts,
      dataDir,
      database,
      host: "127.0.0.1",
      port: 0,
      logLevel: opts.logLevel ?? "debug",
      logStream,
      poolSize: opts.poolSize ?? 4,
    });
  } catch (e) {
    await own?.drop().catch(() => {});
    throw e;
  }

  const call = async (method: string, path: string, o: CallOptions = {}): Promise<ApiReply> => {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    let body: string | Uint8Array | undefined;
    if (o.raw !== undefined) body = o.raw;
    else if (o.body !== undefined) {
      body = JSON.stringify(o.body);
      headers["content-type"] ??= "application/json";
    }
    if (o.key) headers.authorization = `Bearer ${o.key}`;
    if (o.cookie) headers.cookie = o.cookie;
    if (o.csrf) headers["x-csrf-token"] = o.csrf;
    const init: RequestInit = { method, headers, body: body as RequestInit["body"], redirect: "manual" };
    let res: Response;
    try {
      res = await fetch(server.url + path, init);
    } catch (err) {
      // fetch reused a pooled keep-alive connection the server had already closed (after a 413,
      // or at its idle timeout): the request never reached the server, so sending it again on a
      // new connection is what a browser does too
      if ((err as { cause?: { code?: string } }).cause?.code !== "UND_ERR_SOCKET") throw err;
      res = await fetch(server.url + path, init);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, json, text };
  };

  const login = async (username: string, password: string) => {
    const r = await call("POST", "/api/admin/login", { body: { username, password } });
    if (r.status !== 200) throw new Error(`login failed: ${r.status} ${r.text}`);
    const set = r.headers.get("set-cookie") ?? "";
    const m = /vigil_session=([^;]+)/.exec(set);
    if (!m) throw new Error(`login set no session cookie: ${set}`);
    return { cookie: `vigil_session=${m[1]}`, csrf: r.json.csrfToken as string };
  };
  // one login shared by concurrent callers (the promise is cached, not its result)
  let adminSession: Promise<{ cookie: string; csrf: string }> | undefined;
  const loginAdmin = () => (adminSession ??= login(TEST_ADMIN.username, TEST_ADMIN.password));

  const createToken = async (o: { label?: string; uses?: number; ttlHours?: number } = {}) => {
    const s = await loginAdmin();
    const r = await call("POST", "/api/admin/enrollment-tokens", {
      ...s,
      body: {
        label: o.label ?? "test",
        ...(o.uses ? { uses: o.uses } : {}),
        ...(o.ttlHours ? { ttlHours: o.ttlHours } : {}),
      },
    });
    if (r.status !== 201) throw new Error(`token creation failed: ${r.status} ${r.text}`);
    return r.json.token as string;
  };

  const enrollEndpoint = async (o: { hostname?: string } = {}) => {
    const token = await createToken();
    const r = await call("POST", "/api/v1/enroll", {
      body: {
        token,
        hostname: o.hostname ?? `host-${randomBytes(3).toString("hex")}`,
        os: { platform: "linux", release: "6.1.0", arch: "x64" },
        agentVersion: "0.1.0",
      },
    });
    if (r.status !== 201) throw new Error(`enrolment failed: ${r.status} ${r.text}`);
    return { endpointId: r.json.endpointId as string, key: r.json.key as string, enrollment: r.json };
  };

  const close = async () => {
    await server.close();
    if (own) await own.drop();
    if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
  };

  return {
    ...server,
    close,
    dialect: opts.dialect,
    dataDir,
    logs,
    call,
    login,
    loginAdmin,
    createToken,
    enrollEndpoint,
  };
}

/** A detection as an agent would send it. */
export function detection(over: Partial<Record<string, unknown>> = {}): Record<string, unknown> {
  return {
    id: randomBytes(8).toString("hex"),
    time: Date.now(),
    rule: "EICAR_Test_File",
    severity: "high",
    bundleVersion: "1",
    sha256: randomBytes(32).toString("hex"),
    size: 68,
    fileType: "text",
    action: "reported",
    ...over,
  };
}

export const OS = { platform: "linux", release: "6.1.0", arch: "x64" };

export function heartbeat(over: Partial<Record<string, unknown>> = {}): Record<string, unknown> {
  return { time: Date.now(), agentVersion: "0.1.0", rulesVersion: "3", checkpoint: null, os: OS, ...over };
}

/** Text content of the HTML without tags, entities decoded (what a reader without JS sees). */
export function textOf(html: string): string {
  return html
    .replace(/<script[\s\S]*?<\/script>/g, " ")
    .replace(/<[^>]+>/g, " ")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, "&")
    .replace(/\s+/g, " ");
}
