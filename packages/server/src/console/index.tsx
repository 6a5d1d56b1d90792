/** @jsxImportSource hono/jsx */
/**
 * The web console, `consoleApp(ctx)`, mounted at /console: server-rendered pages (Hono JSX),
 * htmx for polling and small updates, Chart.js drawn from the HTML tables. Serves its own static
 * files under /console/static/ (the stylesheet, console.js, and htmx and Chart.js from
 * node_modules) so the console works wherever it is mounted.
 *
 * Access: /console/login and /console/static/* are public; everything else needs a session
 * (the server's session middleware, applied here too; it does nothing when app.ts already ran
 * it). Forms post with the session's CSRF token in `_csrf`; roles are checked per route.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Hono, type Context } from "hono";
import {
  csrfProtect,
  login,
  logout,
  passwordChangeGate,
  sessionMiddleware,
  setSessionCookie,
} from "../auth/session.js";
import type { AppEnv, ServerContext } from "../context.js";
import { ServerError } from "../error.js";
import { clientIp } from "../http.js";
import { BASE, Page } from "./layout.js";
import { registerActionPages } from "./pages/actions.js";
import { registerAdminPages } from "./pages/admin.js";
import { registerAlertPages } from "./pages/alerts.js";
import { registerDashboard } from "./pages/dashboard-routes.js";
import { registerEndpointPages } from "./pages/endpoints.js";
import { registerFindPages } from "./pages/find.js";
import { registerGroupPages } from "./pages/groups.js";
import { registerInventoryPages } from "./pages/inventory.js";
import { LoginPage } from "./pages/login.js";
import { registerPasswordPage } from "./pages/password.js";
import { registerSystemPages } from "./pages/system.js";
import { RequestStats } from "./stats.js";

const require = createRequire(import.meta.url);
/** static/ sits two levels above this file in src/console/ and in dist/console/ alike. */
const STATIC_DIR = fileURLToPath(new URL("../../static/", import.meta.url));

const STATIC_FILES: Record<string, { path: () => string; type: string }> = {
  "console.css": { path: () => join(STATIC_DIR, "console.css"), type: "text/css; charset=utf-8" },
  "console.js": { path: () => join(STATIC_DIR, "console.js"), type: "text/javascript; charset=utf-8" },
  "htmx.min.js": { path: () => require.resolve("htmx.org/dist/htmx.min.js"), type: "text/javascript; charset=utf-8" },
  // chart.js exports no subpaths: find its dist directory from the main entry
  "chart.umd.min.js": {
    path: () => join(dirname(require.resolve("chart.js")), "chart.umd.min.js"),
    type: "text/javascript; charset=utf-8",
  },
};

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  // Chart.js sizes its canvas through element.style (allowed); 'unsafe-inline' is not needed
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "object-src 'none'",
].join("; ");

/** `next` after login: only a path inside the console (no scheme, no //host, no backslash tricks). */
export function safeNext(next: string | undefined): string {
  if (!next) return `${BASE}/`;
  if (!/^\/console(\/[^\\]*)?(\?[^\\]*)?$/.test(next) || next.includes("//") || /[\u0000-\u001f]/.test(next))
    return `${BASE}/`;
  return next;
}

export function consoleApp(ctx: ServerContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const stats = new RequestStats(() => ctx.now());
  const staticCache = new Map<string, Buffer>();

  app.onError((err, c) => errorPage(ctx, c, err));

  app.use("*", async (c, next) => {
    const start = performance.now();
    c.header("Content-Security-Policy", CSP);
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "same-origin");
    c.header("X-Frame-Options", "DENY");
    // pages show session-specific data and one-time secrets: never cache them
    if (!c.req.path.startsWith(`${BASE}/static/`)) c.header("Cache-Control", "no-store");
    await next();
    stats.record(c.res.status, performance.now() - start);
  });

  app.get("/static/:file", async (c) => {
    const f = STATIC_FILES[c.req.param("file")];
    if (!f) return c.text("not found", 404);
    let body = staticCache.get(c.req.param("file"));
    if (!body) {
      body = await readFile(f.path());
      staticCache.set(c.req.param("file"), body);
    }
    c.header("Content-Type", f.type);
    c.header("Cache-Control", "public, max-age=3600");
    return c.body(new Uint8Array(body));
  });

  app.use("*", sessionMiddleware(ctx));

  app.get("/login", (c) => {
    const next = safeNext(c.req.query("next"));
    if (c.get("user")) return c.redirect(next, 303);
    return c.html(<LoginPage next={next} />);
  });

  app.post("/login", async (c) => {
    // the login form has no session yet, so no CSRF token: refuse cross-site posts by Origin
    const origin = c.req.header("origin");
    if (origin && origin !== "null" && new URL(c.req.url).host !== safeHost(origin)) {
      throw new ServerError("SERVER_CSRF", "login form posted from another site");
    }
    const form = await c.req.parseBody();
    const username = typeof form.username === "string" ? form.username.slice(0, 200) : "";
    const password = typeof form.password === "string" ? form.password.slice(0, 1000) : "";
    const next = safeNext(typeof form.next === "string" ? form.next : undefined);
    try {
      const session = await login(ctx, username, password, clientIp(c));
      setSessionCookie(c, ctx, session);
      return c.redirect(next, 303);
    } catch (e) {
      if (e instanceof ServerError && (e.code === "SERVER_UNAUTHORIZED" || e.code === "SERVER_RATE_LIMITED")) {
        const msg =
          e.code === "SERVER_UNAUTHORIZED" ? "Wrong username or password." : `Too many attempts. ${e.message}.`;
        if (e.retryAfter) c.header("Retry-After", String(e.retryAfter));
        return c.html(<LoginPage next={next} username={username} error={msg} />, e.status as 401 | 429);
      }
      throw e;
    }
  });

  // everything below needs a session
  app.use("*", async (c, next) => {
    if (c.get("user")) return next();
    const url = new URL(c.req.url);
    const to = `${BASE}/login?next=${encodeURIComponent(url.pathname + url.search)}`;
    // htmx polling after the session ended: send the whole page to the login form
    if (c.req.header("hx-request")) {
      c.header("HX-Redirect", to);
      return c.body(null, 401);
    }
    if (c.req.method !== "GET" && c.req.method !== "HEAD")
      throw new ServerError("SERVER_UNAUTHORIZED", "your session has ended; log in again");
    return c.redirect(to, 303);
  });
  app.use("*", csrfProtect());
  app.use("*", passwordChangeGate());

  app.post("/logout", async (c) => {
    await logout(ctx, c);
    return c.redirect(`${BASE}/login`, 303);
  });

  registerPasswordPage(app, ctx);
  registerDashboard(app, ctx);
  registerAlertPages(app, ctx);
  registerEndpointPages(app, ctx);
  registerActionPages(app, ctx);
  registerFindPages(app, ctx);
  registerInventoryPages(app, ctx);
  registerAdminPages(app, ctx);
  registerGroupPages(app, ctx);
  registerSystemPages(app, ctx, stats);

  app.notFound((c) => errorPage(ctx, c, new ServerError("SERVER_NOT_FOUND", "there is no such page")));
  return app;
}

function safeHost(origin: string): string | null {
  try {
    return new URL(origin).host;
  } catch {
    return null;
  }
}

const TITLES: Record<number, string> = {
  400: "Bad request",
  401: "Not logged in",
  403: "Not allowed",
  404: "Not found",
  409: "Conflict",
  413: "Too large",
  429: "Too many requests",
};

function errorPage(ctx: ServerContext, c: Context<AppEnv>, err: Error): Response | Promise<Response> {
  let status = 500;
  let message = "Something went wrong on the server; the error was logged.";
  if (err instanceof ServerError) {
    status = err.status;
    if (status < 500) message = err.message;
    if (err.retryAfter) c.header("Retry-After", String(err.retryAfter));
  } else {
    ctx.log.error({ err, path: c.req.path }, "console page failed");
  }
  // a failed poll keeps its old content (htmx does not swap 5xx); forms get the page (its <main>)
  if (c.req.header("hx-request") && c.req.path.startsWith(`${BASE}/fragments/`)) return c.text(message, status as 500);
  const user = c.get("user") ?? null;
  const title = TITLES[status] ?? "Server error";
  return c.html(
    <Page title={title} user={user} csrf={c.get("csrfToken") ?? null}>
      <h1>{title}</h1>
      <p role="alert">{message}</p>
      <p>
        <a href={`${BASE}/`}>Back to the dashboard</a>
      </p>
    </Page>,
    status as 500,
  );
}
