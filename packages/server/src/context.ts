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
