/**
 * @vigil/server: the self-hosted fleet server. `startServer` opens the store, migrates it and
 * listens; `createApp` is the Hono application (endpoint API, admin API, updates, console);
 * services/ holds the operations shared by the admin API, the console and the CLI.
 */
export { startServer, openServerContext, makeLogger, DEFAULT_CONFIG, type RunningServer, type ServerOptions } from "./server.js";
export { createApp, VERSION } from "./app.js";
export { ServerError, type ServerErrorCode } from "./error.js";
export { CLI_ACTOR, type Actor, type AppEnv, type PolicySigner, type Role, type ServerConfig, type ServerContext, type SessionUser } from "./context.js";
export { openStore, migrate, type Dialect, type Store } from "./db/connect.js";
export { hashPassword, verifyPassword, generatePassword } from "./auth/password.js";
export { keyIdOf } from "./signer.js";
export * as services from "./services/index.js";
