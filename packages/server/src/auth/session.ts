/**
 * Password sessions for people (admin API and console). The cookie `vigil_session` holds 32
 * random bytes; the database holds only their sha256, so a leaked database cannot be replayed.
 * Each session has its own CSRF token: unsafe methods must echo it (form field `_csrf` or header
 * `x-csrf-token`). `login` always creates a new session id and never adopts a cookie the
 * client brought (no session fixation). Sessions slide: each use extends them by the lifetime.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { sha256Hex } from "@vigil/updates";
import type { Context, MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { Actor, AppEnv, Role, ServerContext, SessionUser } from "../context.js";
import { ServerError } from "../error.js";
import { clientIp } from "../http.js";
import { audit } from "../services/audit.js";
import { DUMMY_HASH, verifyPassword } from "./password.js";
import { limiters } from "./ratelimit.js";

export const SESSION_COOKIE = "vigil_session";

/** Extending a session writes to the database at most once a minute per session. */
const SLIDE_EVERY_MS = 60_000;

export { sha256Hex };

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface LoginResult {
  /** The cookie value (shown to the client once, stored hashed). */
  sessionId: string;
  csrfToken: string;
  user: SessionUser;
  expiresAt: number;
}

/**
 * Checks the password and opens a new session. Throws SERVER_RATE_LIMITED when the address made
 * too many attempts and SERVER_UNAUTHORIZED for a wrong user, password or a disabled account
 * (one message for all, so usernames cannot be probed). Both outcomes go to the audit log.
 */
export async function login(
  ctx: ServerContext,
  username: string,
  password: string,
  ip: string | null,
): Promise<LoginResult> {
  limiters(ctx).login.check(ip ?? "unknown", "login");
  const row = await ctx.store.db.selectFrom("users").selectAll().where("username", "=", username).executeTakeFirst();
  // verify against a dummy hash when the user is unknown, so both paths take the same time
  const ok = await verifyPassword(password, row?.password_hash ?? DUMMY_HASH);
  if (!row || !ok || Number(row.disabled) !== 0) {
    await audit(ctx, { actor: null, username: username.slice(0, 100), ip, action: "login.failed" });
    throw new ServerError("SERVER_UNAUTHORIZED", "wrong username or password");
  }
  const sessionId = randomBytes(32).toString("base64url");
  const csrfToken = randomBytes(32).toString("base64url");
  const now = ctx.now();
  const expiresAt = now + ctx.config.sessionTtlMs;
  await ctx.store.db
    .insertInto("sessions")
    .values({
      id: sha256Hex(sessionId),
      user_id: row.id,
      csrf_token: csrfToken,
      created_at: now,
      expires_at: expiresAt,
      last_seen: now,
    })
    .execute();
  // opportunistic cleanup of expired sessions
  await ctx.store.db.deleteFrom("sessions").where("expires_at", "<", now).execute();
  const user: SessionUser = { id: row.id, username: row.username, role: row.role };
  await audit(ctx, { actor: { ...user, ip }, action: "login" });
  if (Number(row.must_change_password) !== 0) user.mustChangePassword = true;
  return { sessionId, csrfToken, user, expiresAt };
}

/** Sets the session cookie on the response (HttpOnly, SameSite=Strict, Secure when configured). */
export function setSessionCookie(c: Context, ctx: ServerContext, session: LoginResult): void {
  setCookie(c, SESSION_COOKIE, session.sessionId, {
    httpOnly: true,
    sameSite: "Strict",
    path: "/",
    secure: ctx.config.secureCookies,
    maxAge: Math.floor(ctx.config.sessionTtlMs / 1000),
  });
}

/** Ends the request's session (if any), clears the cookie and records it. */
export async function logout(ctx: ServerContext, c: Context<AppEnv>): Promise<void> {
  const cookie = getCookie(c, SESSION_COOKIE);
  if (cookie) await ctx.store.db.deleteFrom("sessions").where("id", "=", sha256Hex(cookie)).execute();
  deleteCookie(c, SESSION_COOKIE, { path: "/", secure: ctx.config.secureCookies, httpOnly: true, sameSite: "Strict" });
  const user = c.get("user");
  if (user) await audit(ctx, { actor: { ...user, ip: clientIp(c) }, action: "logout" });
  c.set("user", null);
  c.set("csrfToken", null);
}

/** Looks up the session of a cookie value; null when unknown, expired or the user is disabled. */
export async function sessionOf(
  ctx: ServerContext,
  cookie: string,
): Promise<{ user: SessionUser; csrfToken: string } | null> {
  const id = sha256Hex(cookie);
  const now = ctx.now();
  const row = await ctx.store.db
    .selectFrom("sessions")
    .innerJoin("users", "users.id", "sessions.user_id")
    .select([
      "sessions.csrf_token",
      "sessions.last_seen",
      "sessions.expires_at",
      "users.id",
      "users.username",
      "users.role",
      "users.disabled",
      "users.must_change_password",
    ])
    .where("sessions.id", "=", id)
    .executeTakeFirst();
  if (!row || Number(row.expires_at) <= now || Number(row.disabled) !== 0) return null;
  if (now - Number(row.last_seen) >= SLIDE_EVERY_MS) {
    await ctx.store.db
      .updateTable("sessions")
      .set({ last_seen: now, expires_at: now + ctx.config.sessionTtlMs })
      .where("id", "=", id)
      .execute();
  }
  const user: SessionUser = { id: row.id, username: row.username, role: row.role };
  if (Number(row.must_change_password) !== 0) user.mustChangePassword = true;
  return { user, csrfToken: row.csrf_token };
}

/** Sets c.var.user and c.var.csrfToken from the session cookie (null when not logged in). Idempotent. */
export function sessionMiddleware(ctx: ServerContext): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (c.get("user") === undefined) {
      c.set("user", null);
      c.set("csrfToken", null);
      const cookie = getCookie(c, SESSION_COOKIE);
      if (cookie && cookie.length <= 200) {
        const s = await sessionOf(ctx, cookie);
        if (s) {
          c.set("user", s.user);
          c.set("csrfToken", s.csrfToken);
        }
      }
    }
    await next();
  };
}

/**
 * A user who must change a generated password (the first admin) can do only that: under /api
 * every route but `me`, `logout` and `password` answers 403 SERVER_PASSWORD_CHANGE_REQUIRED;
 * console pages redirect to /console/password.
 */
export function passwordChangeGate(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!c.get("user")?.mustChangePassword) return next();
    const p = c.req.path;
    if (isApi(c)) {
      if (/\/api\/admin\/(me|logout|login|password)$/.test(p)) return next();
      throw new ServerError(
        "SERVER_PASSWORD_CHANGE_REQUIRED",
        "change the generated password first: POST /api/admin/password {currentPassword,newPassword}",
      );
    }
    if (/^\/console\/(password|logout|login|static\/.*)$/.test(p)) return next();
    if (c.req.header("hx-request")) {
      c.header("HX-Redirect", "/console/password");
      return c.body(null, 403);
    }
    return c.redirect("/console/password", 303);
  };
}

function isApi(c: Context): boolean {
  return c.req.path.startsWith("/api/");
}

/**
 * Lets the request through only for a logged-in user with one of `roles`. Not logged in: 401 JSON
 * under /api, else a redirect to /console/login?next=<path>. Wrong role: 403.
 */
export function requireRole(...roles: Role[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const user = c.get("user");
    if (!user) {
      if (isApi(c)) throw new ServerError("SERVER_UNAUTHORIZED", "log in first (POST /api/admin/login)");
      const url = new URL(c.req.url);
      return c.redirect(`/console/login?next=${encodeURIComponent(url.pathname + url.search)}`, 303);
    }
    if (!roles.includes(user.role)) {
      throw new ServerError("SERVER_FORBIDDEN", `this needs the ${roles.join(" or ")} role; you are ${user.role}`);
    }
    await next();
    return undefined;
  };
}

/**
 * For unsafe methods, requires the session's CSRF token in header `x-csrf-token` or form field
 * `_csrf`; 403 otherwise (also without a session). The form body stays readable by the handler.
 */
export function csrfProtect(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const m = c.req.method;
    if (m === "GET" || m === "HEAD" || m === "OPTIONS") return next();
    const expected = c.get("csrfToken");
    let given = c.req.header("x-csrf-token");
    if (!given) {
      const type = c.req.header("content-type") ?? "";
      if (/^(application\/x-www-form-urlencoded|multipart\/form-data)/i.test(type)) {
        const form = await c.req.parseBody();
        const v = form._csrf;
        if (typeof v === "string") given = v;
      }
    }
    if (!expected || !given || !safeEqual(given, expected)) {
      throw new ServerError("SERVER_CSRF", "missing or wrong CSRF token (header x-csrf-token or form field _csrf)");
    }
    return next();
  };
}

/** The request's actor for services (the logged-in user and client address); throws when not logged in. */
export function actorOf(c: Context<AppEnv>): Actor {
  const user = c.get("user");
  if (!user) throw new ServerError("SERVER_UNAUTHORIZED", "log in first");
  return { ...user, ip: clientIp(c) };
}
