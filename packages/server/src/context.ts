/**
 * What every part of the server is handed: the store, the logger, the configuration, the
 * policy signer and a clock (tests move it). Also the Hono environment: per-request variables
 * set by the authentication middlewares.
 */
import type { Logger } from "pino";
import type { Store } from "./db/connect.js";

export type Role = "admin" | "analyst" | "viewer";

export interface ServerConfig {
  /** Where SQLite, keys and the initial admin password live (default ./vigil-data). */
  dataDir: string;
  /** The public URL agents use (for messages and enrolment hints). */
  publicUrl?: string | undefined;
  /** A directory served read-only under /updates/ (a tlog-tiles log with bundles), or undefined. */
  updatesDir?: string | undefined;
  /** An upstream publisher URL proxied under /updates/ when no updatesDir is set. */
  updatesUpstream?: string | undefined;
  /** Largest JSON body accepted, bytes. */
  maxBodyBytes: number;
  /** Largest inventory report accepted (POST /api/v1/inventory: up to 50,000 items), bytes; default 32 MiB. */
  maxInventoryBytes?: number;
  /** Largest sample upload accepted (the policy may lower it), bytes. */
  maxSampleBytes: number;
  /** Requests per minute per endpoint key / per client IP for unauthenticated routes. */
  rateLimitPerMinute: number;
  /** Session lifetime, ms. */
  sessionTtlMs: number;
  /** Secure cookies (set when served over https or behind a TLS proxy). */
  secureCookies: boolean;
  /** Where new alerts are POSTed (services/webhook.ts), signed with HMAC-SHA256 over `<timestamp>.<body>`. */
  alertWebhook?: AlertWebhookConfig | undefined;
  /** Where new alerts are sent as RFC 5424 syslog messages (services/syslog.ts). */
  alertSyslog?: AlertSyslogConfig | undefined;
  /** A file new alerts are appended to as JSON lines in Elastic Common Schema (services/ecs.ts). */
  alertEcs?: AlertEcsConfig | undefined;
}

export interface AlertSyslogConfig {
  /** The collector's address (a name or an IP). */
  host: string;
  /** Default 514 for udp and tcp, 6514 for tls. */
  port?: number | undefined;
  /** udp (RFC 5426), tcp (RFC 6587 octet counting) or tls (RFC 5425); default tcp. */
  transport?: "udp" | "tcp" | "tls" | undefined;
  /** PEM of the CA(s) that sign the collector's certificate (tls; default: the system's). */
  ca?: string | undefined;
  /** PEM client certificate and key, when the collector asks for one (tls). */
  cert?: string | undefined;
  key?: string | undefined;
  /** The name checked against the collector's certificate (tls; default host). */
  servername?: string | undefined;
  /** The private enterprise number in the SD-ID `vigil@N` (default 32473, RFC 5612's documentation number). */
  enterpriseId?: number | undefined;
  /** The syslog facility, 0-23 (default 4, security/authorization). */
  facility?: number | undefined;
  /** The HOSTNAME header field (default this machine's name). */
  hostname?: string | undefined;
  /** Attempts before a delivery is given up (tcp, tls; default 10). */
  maxAttempts?: number | undefined;
  /** The first retry's delay, doubled each time up to an hour (default 5000 ms). */
  backoffMs?: number | undefined;
}

export interface AlertEcsConfig {
  /** The file lines are appended to (created mode 0640). */
  file: string;
  /** Size at which the file is rotated to FILE.1 (FILE.1 to FILE.2, ...): default 100 MiB. */
  maxBytes?: number | undefined;
  /** Rotated files kept (default 5). */
  keep?: number | undefined;
}

export interface AlertWebhookConfig {
  /** An http(s) URL. */
  url: string;
  /** The shared HMAC key (at least 16 characters). */
  secret: string;
  /** Attempts before a delivery is given up (default 10). */
  maxAttempts?: number | undefined;
  /** The first retry's delay, doubled each time up to an hour (default 5000 ms). */
  backoffMs?: number | undefined;
}

export interface PolicySigner {
  keyId: string;
  /** SPKI DER, base64. */
  publicKey: string;
  sign(payload: string): string;
}

export interface ServerContext {
  store: Store;
  log: Logger;
  config: ServerConfig;
  signer: PolicySigner;
  now(): number;
}

export interface SessionUser {
  id: string;
  username: string;
  role: Role;
  /** True while the user must change a generated password (the first admin) before anything else. */
  mustChangePassword?: boolean;
}

/** Who performs an operation (audit log): a logged-in user plus the client address. */
export interface Actor extends SessionUser {
  ip: string | null;
}

/** The actor for operator commands run on the server machine (`vigil server token create`, ...). */
export const CLI_ACTOR: Actor = { id: "cli", username: "(command line)", role: "admin", ip: null };

export interface AppEnv {
  Variables: {
    /** Set by the session middleware for console and admin routes; null when not logged in. */
    user: SessionUser | null;
    /** The session's CSRF token (rendered into forms as `_csrf`), null when not logged in. */
    csrfToken: string | null;
    /** Set by the endpoint-key middleware on /api/v1 routes. */
    endpointId: string;
  };
}
