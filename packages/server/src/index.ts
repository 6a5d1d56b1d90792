/**
 * @vigil/server: the self-hosted fleet server ("security network").
 *
 * Data flow: an agent enrols with a one-time token (services/tokens) and gets an endpoint key
 * that is stored only as a hash. Its requests to /api/v1 (api/endpoint.ts) are authenticated by
 * that key, validated against the zod wire schemas of @vigil/protocol, narrowed
 * by the organisation's data policy (services/policy.ts; endpoints fetch it signed with the
 * server's Ed25519 key, signer.ts) and written through Kysely (db/) to SQLite or PostgreSQL.
 * Reputation lookups take a 20-bit prefix and answer every known hash under it, so the server
 * never learns which file was asked about. People use the admin API (api/admin.ts) or the
 * console (console/), both behind sessions, roles and CSRF checks (auth/); the API and console
 * call the same services (services/, one file per domain) for every read and every change, and
 * the changes write the audit log. Neither queries the store itself, so an endpoint's status or a
 * detection row has one rule and one shape in the JSON and in the pages. Arriving detections are
 * grouped into alerts (services/alerts.ts) that people move through states; new ones leave
 * through one outbox (services/forward.ts) by a signed webhook, RFC 5424 syslog over UDP, TCP or
 * TLS (services/syslog.ts) and a JSON-lines file in Elastic Common Schema (services/ecs.ts).
 * Every list the console shows streams out as CSV, JSON or NDJSON with the page's filters
 * (services/export.ts). Remote actions people queue for an endpoint (services/actions.ts) go out
 * in its heartbeat answers and come back as the agent's results. /updates/ mirrors or proxies the
 * rule-update log.
 * `startServer` opens the store, migrates it, loads the shared signing key and listens;
 * `createApp` is the Hono application.
 */
export {
  startServer,
  openServerContext,
  makeLogger,
  DEFAULT_CONFIG,
  type RunningServer,
  type ServerOptions,
} from "./server.js";
export { createApp, VERSION } from "./app.js";
export { ServerError, type ServerErrorCode } from "./error.js";
export {
  CLI_ACTOR,
  type AlertEcsConfig,
  type AlertSyslogConfig,
  type AlertWebhookConfig,
  type Actor,
  type AppEnv,
  type PolicySigner,
  type Role,
  type ServerConfig,
  type ServerContext,
  type SessionUser,
} from "./context.js";
export { openStore, migrate, type Dialect, type Store } from "./db/connect.js";
export { hashPassword, verifyPassword, generatePassword } from "./auth/password.js";
export { keyIdOf } from "./signer.js";
export * as services from "./services/index.js";
