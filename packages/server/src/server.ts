/**
 * `startServer(options)`: opens the store (SQLite in the data directory, or PostgreSQL),
 * migrates it, loads or creates the shared policy-signing key and the default policy, creates the
 * first admin when there are no users (its random password goes to
 * `<dataDir>/initial-admin-password`, mode 0600, never to the log), and listens with
 * @hono/node-server. `close()` stops accepting, ends open connections and closes the store.
 * `openServerContext` does the same without listening, for operator commands.
 */
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import type { Hono } from "hono";
import { pino, type DestinationStream, type Level, type Logger } from "pino";
import type { AppEnv, Role, ServerConfig, ServerContext } from "./context.js";
import { migrate, openStore } from "./db/connect.js";
import { ServerError } from "./error.js";
import { checkWebhookConfig, startWebhookForwarder } from "./services/webhook.js";
import { startForwarder } from "./services/forward.js";
import { checkSyslogConfig, syslogSink } from "./services/syslog.js";
import { checkEcsConfig, ecsFileSink } from "./services/ecs.js";
import { generatePassword } from "./auth/password.js";
import { ensurePolicy } from "./services/policy.js";
import { insertUser } from "./services/users.js";
import { loadOrCreateSigner } from "./signer.js";
import { createApp } from "./app.js";

export const DEFAULT_CONFIG: Omit<ServerConfig, "dataDir"> = {
  maxBodyBytes: 4 * 1024 * 1024,
  maxSampleBytes: 32 * 1024 * 1024,
  maxInventoryBytes: 32 * 1024 * 1024,
  rateLimitPerMinute: 120,
  sessionTtlMs: 12 * 3_600_000,
  secureCookies: false,
};

export interface ServerOptions extends Partial<ServerConfig> {
  /** `postgres://...`, a SQLite file path, or undefined for `<dataDir>/vigil.db`. */
  database?: string | undefined;
  /** Listen address (default 127.0.0.1). */
  host?: string | undefined;
  /** Listen port (default 8443; 0 picks a free one). */
  port?: number | undefined;
  logLevel?: Level | "silent" | undefined;
  /** Where log lines go (default stdout). */
  logStream?: DestinationStream | undefined;
  /** The first admin's credentials when there are no users (tests); otherwise a random password. */
  initialAdmin?: { username: string; password: string } | undefined;
  /** pg pool size per process. */
  poolSize?: number | undefined;
  /** A clock (tests). */
  now?: (() => number) | undefined;
  /** How often the alert forwarders (webhook, syslog, ECS file) look for due deliveries (default 1000 ms). */
  webhookIntervalMs?: number | undefined;
}

export interface RunningServer {
  url: string;
  ctx: ServerContext;
  app: Hono<AppEnv>;
  close(): Promise<void>;
}

export function makeLogger(opts: Pick<ServerOptions, "logLevel" | "logStream">): Logger {
  return pino(
    {
      level: opts.logLevel ?? "info",
      base: { svc: "vigil-server" },
      // defence in depth: code never logs these, and if it did they would be cut
      redact: {
        paths: [
          "password",
          "*.password",
          "token",
          "*.token",
          "key",
          "*.key",
          "authorization",
          "*.authorization",
          "cookie",
          "*.cookie",
        ],
        censor: "[redacted]",
      },
    },
    opts.logStream ?? pino.destination({ dest: 1, sync: false }),
  );
}

/** Opens, migrates and prepares the store; returns the context every part of the server uses. */
export async function openServerContext(opts: ServerOptions = {}): Promise<ServerContext> {
  const dataDir = resolve(opts.dataDir ?? "vigil-data");
  const config: ServerConfig = {
    ...DEFAULT_CONFIG,
    ...Object.fromEntries(Object.entries(opts).filter(([k, v]) => v !== undefined && k in DEFAULT_CONFIG)),
    dataDir,
    updatesDir: opts.updatesDir !== undefined ? resolve(opts.updatesDir) : undefined,
    updatesUpstream: opts.updatesUpstream,
    publicUrl: opts.publicUrl,
    alertWebhook: opts.alertWebhook,
    alertSyslog: opts.alertSyslog,
    alertEcs: opts.alertEcs,
  };
  if (config.alertWebhook) checkWebhookConfig(config.alertWebhook);
  if (config.alertSyslog) checkSyslogConfig(config.alertSyslog);
  if (config.alertEcs) checkEcsConfig(config.alertEcs);
  if (config.updatesDir && config.updatesUpstream)
    throw new ServerError("SERVER_CONFIG", "give either an updates directory or an upstream URL, not both");
  if (config.updatesUpstream && !/^https?:\/\//.test(config.updatesUpstream))
    throw new ServerError("SERVER_CONFIG", "the updates upstream must be an http(s) URL");
  const log = makeLogger(opts);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const store = await openStore({
    database: opts.database,
    dataDir,
    ...(opts.poolSize ? { poolSize: opts.poolSize } : {}),
  });
  const now = opts.now ?? Date.now;
  if (store.dialect === "sqlite") {
    // the database holds the signing key and hashed credentials: owner only
    for (const suffix of ["", "-wal", "-shm"]) {
      try {
        chmodSync(store.location + suffix, 0o600);
      } catch {
        /* not created yet */
      }
    }
  }
  try {
    await migrate(store.db);
    const signer = await loadOrCreateSigner(store, now());
    const ctx: ServerContext = { store, log, config, signer, now };
    await ensurePolicy(ctx);
    await ensureFirstAdmin(ctx, opts.initialAdmin);
    return ctx;
  } catch (e) {
    await store.close().catch(() => {});
    throw e;
  }
}

async function ensureFirstAdmin(ctx: ServerContext, given?: { username: string; password: string }): Promise<void> {
  const any = await ctx.store.db.selectFrom("users").select("id").limit(1).executeTakeFirst();
  if (any) return;
  const username = given?.username ?? "admin";
  const password = given?.password ?? generatePassword();
  const role: Role = "admin";
  // several processes may race here on one PostgreSQL: only the one whose insert wins reports it
  // a generated password must be changed at the first login (the file is removed then)
  if (!(await insertUser(ctx, username, role, password, !given))) return;
  if (given) {
    ctx.log.info({ username }, "initial admin created");
    return;
  }
  const file = resolve(ctx.config.dataDir, "initial-admin-password");
  writeFileSync(file, `username: ${username}\npassword: ${password}\n`, { mode: 0o600 });
  ctx.log.warn({ username }, `initial admin password written to ${file}`);
}

export async function startServer(opts: ServerOptions = {}): Promise<RunningServer> {
  const ctx = await openServerContext(opts);
  const app = createApp(ctx);
  const host = opts.host ?? "127.0.0.1";
  const port = opts.port ?? 8443;
  let server: ServerType;
  try {
    server = await new Promise<ServerType>((res, rej) => {
      const s = serve({ fetch: app.fetch, hostname: host, port }, () => res(s));
      s.once("error", rej);
    });
  } catch (e) {
    await ctx.store.close().catch(() => {});
    throw new ServerError("SERVER_CONFIG", `cannot listen on ${host}:${port}: ${(e as Error).message}`, { cause: e });
  }
  const addr = server.address() as AddressInfo;
  const url = `http://${addr.family === "IPv6" ? `[${addr.address}]` : addr.address}:${addr.port}`;
  ctx.log.info(
    { url, dialect: ctx.store.dialect, store: ctx.store.location, policyKeyId: ctx.signer.keyId },
    "vigil server listening",
  );
  const every = opts.webhookIntervalMs;
  const forwarders = [
    ctx.config.alertWebhook ? startWebhookForwarder(ctx, every) : undefined,
    ctx.config.alertSyslog ? startForwarder(ctx, "syslog", syslogSink(ctx.config.alertSyslog), every) : undefined,
    ctx.config.alertEcs ? startForwarder(ctx, "ecs", ecsFileSink(ctx.config.alertEcs, ctx.now), every) : undefined,
  ];
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      await Promise.all(forwarders.map((f) => f?.stop()));
      await new Promise<void>((res) => {
        server.close(() => res());
        const s = server as unknown as { closeIdleConnections?: () => void; closeAllConnections?: () => void };
        s.closeIdleConnections?.();
        // requests in flight get a moment to finish, then their connections are cut
        setTimeout(() => s.closeAllConnections?.(), 2_000).unref();
      });
      await ctx.store.close();
      ctx.log.info("vigil server stopped");
      ctx.log.flush?.();
    })());
  return { url, ctx, app, close };
}
