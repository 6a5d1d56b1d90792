/**
 * `vigil server [OPTIONS]`: the fleet server (endpoint API for `vigil agent`, admin API, web
 * console, update distribution). With no flags it keeps its SQLite database, keys and the first
 * admin's password in ./vigil-data/ and listens on 127.0.0.1:8443. SIGINT/SIGTERM close it
 * gracefully. Operator sub-commands act on the same store without the console:
 * `vigil server token create` and `vigil server user add`.
 */
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { fail } from "../fail.js";
import {
  openServerContext,
  ServerError,
  services,
  startServer,
  CLI_ACTOR,
  type AlertSyslogConfig,
  type ServerContext,
} from "@vigil/server";
import { parseOrExit } from "../options.js";

export const summary = "fleet server: enrolment, endpoint API, reputation, signed data policy, updates, web console";

const LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
type Level = (typeof LEVELS)[number];

const HELP = `
Data: SQLite in --data (default ./vigil-data), or PostgreSQL with --database postgres://...
(default $VIGIL_DATABASE). Several server processes may share one PostgreSQL database.
The first start creates the user 'admin' and writes its password to <data>/initial-admin-password.

Operator commands (same --data/--database):
  vigil server token create --label L [--uses N] [--ttl-hours H]   prints an enrolment token
  vigil server user add NAME --role admin|analyst|viewer            prints the generated password

New alerts leave the server by --alert-webhook, --alert-syslog (RFC 5424; udp://, tcp:// with
octet counting, or tls:// per RFC 5425; the SD-ID is vigil@32473 until --alert-syslog-enterprise-id
gives your IANA number) and --alert-ecs (JSON lines in Elastic Common Schema, rotated). Each list
of the console and the admin API exports with ?format=csv|json|ndjson (alerts also ecs).

Exit codes: 0 stopped cleanly, 2 bad options or could not start.`;

function readPem(file: string, what: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new ServerError("SERVER_CONFIG", `${what}: cannot read ${file} (${(err as Error).message})`, { cause: err });
  }
}

/** `udp://host:514`, `tcp://host:514`, `tls://host:6514` (a bracketed IPv6 address works). */
function syslogTarget(spec: string): Pick<AlertSyslogConfig, "host" | "port" | "transport"> {
  const m = /^(udp|tcp|tls):\/\/(\[[0-9a-fA-F:.]+\]|[^:/\s]+)(?::(\d{1,5}))?\/?$/.exec(spec);
  if (!m)
    throw new ServerError(
      "SERVER_CONFIG",
      `--alert-syslog: ${JSON.stringify(spec)} is not udp://HOST[:PORT], tcp://HOST[:PORT] or tls://HOST[:PORT]`,
    );
  return {
    transport: m[1] as "udp" | "tcp" | "tls",
    host: m[2]!.replace(/^\[|\]$/g, ""),
    ...(m[3] ? { port: Number(m[3]) } : {}),
  };
}

function storeOptions(cmd: Command): Command {
  return cmd
    .option("--data <dir>", "data directory (SQLite database, samples, initial admin password)", "vigil-data")
    .option(
      "--database <url>",
      "postgres://user:pass@host/db, or a SQLite file (default $VIGIL_DATABASE, else <data>/vigil.db)",
    );
}

function configure(cmd: Command): Command {
  return cmd
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });
}

interface StoreOpts {
  data: string;
  database?: string;
}

function positiveInt(s: string, what: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0)
    throw new ServerError("SERVER_CONFIG", `${what} must be a whole number (got '${s}')`);
  return n;
}

/** Opens the store for an operator command; logs (e.g. the first admin's creation) go to stderr. */
async function openStoreCtx(o: StoreOpts): Promise<ServerContext> {
  return openServerContext({
    dataDir: o.data,
    database: o.database ?? process.env.VIGIL_DATABASE,
    logLevel: "warn",
    logStream: {
      write: (line: string) => {
        process.stderr.write(line);
      },
    },
  });
}

/** A database that cannot be reached is an operator problem, said as such, not a crash. */
function isDatabaseFailure(e: unknown): boolean {
  if (e instanceof ServerError) return false;
  const msg = (e as Error)?.message ?? String(e);
  return /ECONNREFUSED|ENOTFOUND|password authentication|does not exist|SQLITE_CANTOPEN|unable to open/i.test(msg);
}

async function withErrors(name: string, f: () => Promise<number>): Promise<number> {
  try {
    return await f();
  } catch (e) {
    return fail(name, e, { context: isDatabaseFailure(e) ? "cannot open the database" : undefined });
  }
}

async function tokenCreate(args: string[]): Promise<number> {
  const cmd = configure(storeOptions(new Command("vigil server token create")))
    .description("Create an enrolment token (printed once on stdout) for `vigil agent enroll URL TOKEN`.")
    .requiredOption("--label <text>", "what the token is for (shown in the console and the audit log)")
    .option("--uses <n>", "how many endpoints may enrol with it", "1")
    .option("--ttl-hours <h>", "hours until it expires", "24");
  const exit = parseOrExit(cmd, args);
  if (exit !== undefined) return exit;
  const o = cmd.opts<StoreOpts & { label: string; uses: string; ttlHours: string }>();
  return withErrors("server token create", async () => {
    const uses = positiveInt(o.uses, "--uses");
    const ttlHours = Number(o.ttlHours);
    if (!(ttlHours > 0))
      throw new ServerError("SERVER_CONFIG", `--ttl-hours must be a positive number (got '${o.ttlHours}')`);
    const ctx = await openStoreCtx(o);
    try {
      const t = await services.createEnrollmentToken(ctx, { label: o.label, uses, ttlHours }, CLI_ACTOR);
      process.stdout.write(`${t.token}\n`);
      process.stderr.write(
        `enrolment token '${t.label}': ${t.uses} use(s), expires ${new Date(t.expiresAt).toISOString()}; shown once, stored hashed\n`,
      );
      return 0;
    } finally {
      await ctx.store.close();
    }
  });
}

async function userAdd(args: string[]): Promise<number> {
  const cmd = configure(storeOptions(new Command("vigil server user add")))
    .description("Create a console/API user; the generated password is printed once on stdout.")
    .argument("<name>", "username")
    .requiredOption("--role <role>", "admin, analyst or viewer");
  const exit = parseOrExit(cmd, args);
  if (exit !== undefined) return exit;
  const o = cmd.opts<StoreOpts & { role: string }>();
  const name = cmd.args[0]!;
  return withErrors("server user add", async () => {
    if (!["admin", "analyst", "viewer"].includes(o.role))
      throw new ServerError("SERVER_CONFIG", `--role must be admin, analyst or viewer (got '${o.role}')`);
    const ctx = await openStoreCtx(o);
    try {
      const r = await services.createUser(
        ctx,
        { username: name, role: o.role as "admin" | "analyst" | "viewer" },
        CLI_ACTOR,
      );
      process.stdout.write(`${r.password}\n`);
      process.stderr.write(`user '${r.user.username}' (${r.user.role}) created; the password above is shown once\n`);
      return 0;
    } finally {
      await ctx.store.close();
    }
  });
}

async function serve(args: string[]): Promise<number> {
  const cmd = configure(storeOptions(new Command("vigil server")))
    .description("Run the fleet server: endpoint API, admin API, web console and update distribution.")
    .option("--host <addr>", "listen address", "127.0.0.1")
    .option("--port <n>", "listen port (0 picks a free one)", "8443")
    .option("--updates-dir <dir>", "serve this update log directory (as `vigil publish` writes it) under /updates/")
    .option("--updates-upstream <url>", "or proxy /updates/ to this publisher URL")
    .option("--log-level <level>", `log level: ${LEVELS.join(", ")}`, "info")
    .option("--secure-cookies", "mark session cookies Secure (when served over https or behind a TLS proxy)")
    .option(
      "--rate-limit <n>",
      "requests per minute per endpoint key and per client address on enrolment/login (0: off)",
      "120",
    )
    .option("--public-url <url>", "the URL agents use to reach this server (shown in the console)")
    .option(
      "--alert-webhook <url>",
      "POST each new alert to this URL, signed with HMAC-SHA256 (the key from $VIGIL_ALERT_WEBHOOK_SECRET, 16+ characters), retried with backoff",
    )
    .option("--alert-syslog <url>", "send each new alert as RFC 5424 syslog to udp://, tcp:// or tls://HOST[:PORT]")
    .option("--alert-syslog-ca <file>", "PEM CA(s) that sign the collector's certificate (tls; default the system's)")
    .option("--alert-syslog-cert <file>", "PEM client certificate for a collector that asks for one (tls)")
    .option("--alert-syslog-key <file>", "its PEM private key")
    .option("--alert-syslog-enterprise-id <n>", "your IANA private enterprise number for the SD-ID vigil@N", "32473")
    .option("--alert-syslog-facility <n>", "syslog facility 0-23", "4")
    .option("--alert-ecs <file>", "append each new alert to FILE as a JSON line in Elastic Common Schema")
    .option("--alert-ecs-max-mb <n>", "rotate the ECS file at this size (FILE.1, FILE.2, ...)", "100")
    .option("--alert-ecs-keep <n>", "rotated ECS files kept", "5")
    .addHelpText("after", HELP);
  const exit = parseOrExit(cmd, args);
  if (exit !== undefined) return exit;
  const o = cmd.opts<
    StoreOpts & {
      host: string;
      port: string;
      updatesDir?: string;
      updatesUpstream?: string;
      logLevel: string;
      secureCookies?: boolean;
      rateLimit: string;
      publicUrl?: string;
      alertWebhook?: string;
      alertSyslog?: string;
      alertSyslogCa?: string;
      alertSyslogCert?: string;
      alertSyslogKey?: string;
      alertSyslogEnterpriseId: string;
      alertSyslogFacility: string;
      alertEcs?: string;
      alertEcsMaxMb: string;
      alertEcsKeep: string;
    }
  >();
  return withErrors("server", async () => {
    if (!LEVELS.includes(o.logLevel as Level))
      throw new ServerError("SERVER_CONFIG", `--log-level must be one of ${LEVELS.join(", ")}`);
    const port = positiveInt(o.port, "--port");
    if (port > 65535) throw new ServerError("SERVER_CONFIG", "--port must be at most 65535");
    let alertWebhook: { url: string; secret: string } | undefined;
    if (o.alertWebhook) {
      const secret = process.env.VIGIL_ALERT_WEBHOOK_SECRET ?? "";
      if (secret.length < 16)
        throw new ServerError(
          "SERVER_CONFIG",
          "--alert-webhook needs its HMAC key in $VIGIL_ALERT_WEBHOOK_SECRET (at least 16 characters)",
        );
      alertWebhook = { url: o.alertWebhook, secret };
    }
    const alertSyslog: AlertSyslogConfig | undefined = o.alertSyslog
      ? {
          ...syslogTarget(o.alertSyslog),
          enterpriseId: positiveInt(o.alertSyslogEnterpriseId, "--alert-syslog-enterprise-id"),
          facility: Number.parseInt(o.alertSyslogFacility, 10),
          ...(o.alertSyslogCa ? { ca: readPem(o.alertSyslogCa, "--alert-syslog-ca") } : {}),
          ...(o.alertSyslogCert ? { cert: readPem(o.alertSyslogCert, "--alert-syslog-cert") } : {}),
          ...(o.alertSyslogKey ? { key: readPem(o.alertSyslogKey, "--alert-syslog-key") } : {}),
        }
      : undefined;
    const alertEcs = o.alertEcs
      ? {
          file: o.alertEcs,
          maxBytes: positiveInt(o.alertEcsMaxMb, "--alert-ecs-max-mb") * 1024 * 1024,
          keep: positiveInt(o.alertEcsKeep, "--alert-ecs-keep"),
        }
      : undefined;
    const server = await startServer({
      dataDir: o.data,
      database: o.database ?? process.env.VIGIL_DATABASE,
      host: o.host,
      port,
      logLevel: o.logLevel as Level,
      updatesDir: o.updatesDir,
      updatesUpstream: o.updatesUpstream,
      secureCookies: o.secureCookies ?? false,
      rateLimitPerMinute: positiveInt(o.rateLimit, "--rate-limit"),
      publicUrl: o.publicUrl,
      alertWebhook,
      alertSyslog,
      alertEcs,
    });
    process.stderr.write(
      `vigil server: listening on ${server.url} (console ${server.url}/console/, ${server.ctx.store.dialect} store ${server.ctx.store.location})\n`,
    );
    await new Promise<void>((resolve) => {
      const stop = (sig: string) => {
        process.stderr.write(`vigil server: ${sig}: stopping\n`);
        process.off("SIGINT", onInt);
        process.off("SIGTERM", onTerm);
        server.close().then(resolve, (e: unknown) => {
          process.stderr.write(`vigil server: ${(e as Error).message}\n`);
          resolve();
        });
      };
      const onInt = () => stop("SIGINT");
      const onTerm = () => stop("SIGTERM");
      process.on("SIGINT", onInt);
      process.on("SIGTERM", onTerm);
    });
    process.stderr.write("vigil server: stopped\n");
    return 0;
  });
}

export async function run(args: string[]): Promise<number> {
  if (args[0] === "token") {
    if (args[1] === "create") return tokenCreate(args.slice(2));
    process.stderr.write("vigil server token: the sub-command is 'create' (vigil server token create --label L)\n");
    return 2;
  }
  if (args[0] === "user") {
    if (args[1] === "add") return userAdd(args.slice(2));
    process.stderr.write("vigil server user: the sub-command is 'add' (vigil server user add NAME --role R)\n");
    return 2;
  }
  return serve(args);
}
