/**
 * `createApp(ctx)`: the Hono application. Middlewares run in this order: request log (pino; the
 * method, the path with any full hash cut to its prefix, status, ms, endpoint id or username;
 * never headers, cookies, tokens, passwords or bodies), secure headers, body limit (413 JSON;
 * sample uploads have their own limit), then the routes listed in README.md. Errors become the
 * protocol's ApiError JSON (HTML for console pages); unexpected ones are logged and answered 500
 * without details.
 */
import { Hono, type Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { secureHeaders } from "hono/secure-headers";
import { sql } from "kysely";
import type { AppEnv, ServerContext } from "./context.js";
import { ServerError } from "./error.js";
import { redactHashes } from "./http.js";
import { sessionMiddleware } from "./auth/session.js";
import { endpointApi } from "./api/endpoint.js";
import { adminApi } from "./api/admin.js";
import { openApiDocument } from "./api/openapi.js";
import { updatesApp } from "./updates.js";
import { consoleApp } from "./console/index.js";
import { VERSION } from "./version.js";

export { VERSION };

function wantsHtml(c: Context): boolean {
  return (
    !c.req.path.startsWith("/api/") &&
    !c.req.path.startsWith("/updates/") &&
    (c.req.header("accept") ?? "").includes("text/html")
  );
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function errorResponse(c: Context, err: ServerError): Response {
  if (err.retryAfter !== undefined) c.header("Retry-After", String(err.retryAfter));
  if (wantsHtml(c)) {
    const title = err.status === 403 ? "Forbidden" : err.status === 404 ? "Not found" : `Error ${err.status}`;
    return c.html(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title} · Vigil</title></head>` +
        `<body><main><h1>${title}</h1><p>${escapeHtml(err.message)}</p><p><a href="/console/">Back to the console</a></p></main></body></html>`,
      err.status as 400,
    );
  }
  return c.json(err.body(), err.status as 400);
}

export function createApp(ctx: ServerContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const started = Date.now();

  app.use(async (c, next) => {
    const t0 = performance.now();
    await next();
    const status = c.res.status;
    const entry: Record<string, unknown> = {
      method: c.req.method,
      route: redactHashes(c.req.path),
      status,
      ms: Math.round((performance.now() - t0) * 10) / 10,
    };
    const endpoint = c.get("endpointId");
    if (endpoint) entry.endpoint = endpoint;
    const user = c.get("user");
    if (user) entry.user = user.username;
    if (status >= 500) ctx.log.error(entry, "request");
    else ctx.log.info(entry, "request");
  });

  // the console sets its own stricter headers (CSP for its pages); everything else is data
  const headers = secureHeaders({
    contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"] },
    referrerPolicy: "same-origin",
    strictTransportSecurity: ctx.config.secureCookies ? "max-age=31536000" : false,
  });
  const consoleHeaders = secureHeaders({
    contentSecurityPolicy: undefined,
    referrerPolicy: "same-origin",
    strictTransportSecurity: ctx.config.secureCookies ? "max-age=31536000" : false,
  });
  app.use(async (c, next) =>
    c.req.path === "/console" || c.req.path.startsWith("/console/") ? consoleHeaders(c, next) : headers(c, next),
  );

  const limit = bodyLimit({
    maxSize: ctx.config.maxBodyBytes,
    onError: () => {
      throw new ServerError("SERVER_TOO_LARGE", `request body over the ${ctx.config.maxBodyBytes}-byte limit`);
    },
  });
  // an inventory report is one document of up to 50,000 items: its own, larger limit
  const inventoryBytes = ctx.config.maxInventoryBytes ?? 32 * 1024 * 1024;
  const inventoryLimit = bodyLimit({
    maxSize: inventoryBytes,
    onError: () => {
      throw new ServerError("SERVER_TOO_LARGE", `inventory report over the ${inventoryBytes}-byte limit`);
    },
  });
  app.use(async (c, next) =>
    c.req.path === "/api/v1/samples"
      ? next()
      : c.req.path === "/api/v1/inventory"
        ? inventoryLimit(c, next)
        : limit(c, next),
  );

  app.onError((err, c) => {
    if (err instanceof ServerError) return errorResponse(c, err);
    if (err instanceof HTTPException) return err.getResponse();
    ctx.log.error(
      {
        err: {
          type: (err as Error).name,
          message: redactHashes((err as Error).message),
          stack: redactHashes((err as Error).stack ?? ""),
        },
      },
      "unhandled error",
    );
    return errorResponse(c, new ServerError("SERVER_INTERNAL", "internal error; the server log has details"));
  });
  app.notFound((c) =>
    errorResponse(
      c,
      new ServerError("SERVER_NOT_FOUND", `no route ${c.req.method} ${redactHashes(c.req.path)}; see /openapi.json`),
    ),
  );

  app.get("/healthz", async (c) => {
    let db: "ok" | "error" = "ok";
    try {
      await sql`select 1`.execute(ctx.store.db);
    } catch {
      db = "error";
    }
    return c.json(
      {
        status: db === "ok" ? "ok" : "degraded",
        db,
        dialect: ctx.store.dialect,
        version: VERSION,
        uptimeSeconds: Math.floor((Date.now() - started) / 1000),
      },
      db === "ok" ? 200 : 503,
    );
  });

  const doc = openApiDocument(VERSION);
  app.get("/openapi.json", (c) => c.json(doc));

  app.route("/api/v1", endpointApi(ctx));
  app.route("/api/admin", adminApi(ctx));
  app.route("/updates", updatesApp(ctx));

  app.use("/console/*", sessionMiddleware(ctx));
  app.use("/console", sessionMiddleware(ctx));
  app.route("/console", consoleApp(ctx));
  app.get("/", (c) => c.redirect("/console/", 302));

  return app;
}
