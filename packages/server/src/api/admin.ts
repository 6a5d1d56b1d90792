/**
 * `/api/admin/*`: JSON routes for people and scripts. Log in with POST /login (sets the
 * `vigil_session` cookie, returns the CSRF token); every other non-GET request needs header
 * `x-csrf-token`. Roles: viewer reads; analyst also adds and looks up reputation; admin does
 * everything (tokens, revocation, policy, users, audit log). Changes go through services/,
 * which write the audit log.
 */
import { Hono } from "hono";
import { getCookie } from "hono/cookie";
import type { AppEnv, ServerContext } from "../context.js";
import { ServerError } from "../error.js";
import { clientIp, readJson, validate } from "../http.js";
import {
  actorOf,
  csrfProtect,
  login,
  logout,
  requireRole,
  SESSION_COOKIE,
  passwordChangeGate,
  sessionMiddleware,
  setSessionCookie,
  sha256Hex,
} from "../auth/session.js";
import * as svc from "../services/index.js";
import * as S from "./schemas.js";
import { exportIfAsked } from "./exports.js";
import { groupsApi } from "./groups.js";

export function adminApi(ctx: ServerContext): Hono<AppEnv> {
  const api = new Hono<AppEnv>();
  const anyone = requireRole("admin", "analyst", "viewer");
  const analyst = requireRole("admin", "analyst");
  const admin = requireRole("admin");

  api.use("/*", sessionMiddleware(ctx));

  api.post("/login", async (c) => {
    const req = await readJson(c, S.LoginRequest);
    const s = await svc_login(c, req.username, req.password);
    return c.json({ user: s.user, csrfToken: s.csrfToken });
  });

  async function svc_login(c: Parameters<typeof actorOf>[0], username: string, password: string) {
    const s = await login(ctx, username, password, clientIp(c));
    // a session the client already had ends here; the new one never reuses its id
    const old = getCookie(c, SESSION_COOKIE);
    if (old) await ctx.store.db.deleteFrom("sessions").where("id", "=", sha256Hex(old)).execute();
    setSessionCookie(c, ctx, s);
    return s;
  }

  // everything below needs a session; unsafe methods need the CSRF token
  api.use("/*", async (c, next) => (c.req.path.endsWith("/admin/login") ? next() : anyone(c, next)));
  api.use("/*", csrfProtect());
  api.use("/*", passwordChangeGate());

  // the user's own password (the first admin must change the generated one before anything else)
  api.post("/password", async (c) => {
    const req = await readJson(c, S.PasswordChange);
    await svc.changeOwnPassword(ctx, actorOf(c), req.currentPassword, req.newPassword);
    const user = c.get("user")!;
    delete user.mustChangePassword;
    return c.json({ ok: true });
  });

  api.post("/logout", async (c) => {
    await logout(ctx, c);
    return c.json({ ok: true });
  });

  api.get("/me", (c) => c.json({ user: c.get("user")!, csrfToken: c.get("csrfToken")! }));

  // enrolment tokens
  api.get("/enrollment-tokens", async (c) => c.json({ tokens: await svc.listEnrollmentTokens(ctx) }));
  api.post("/enrollment-tokens", admin, async (c) => {
    const req = await readJson(c, S.TokenCreate);
    return c.json(await svc.createEnrollmentToken(ctx, req, actorOf(c)), 201);
  });
  api.post("/enrollment-tokens/:id/revoke", admin, async (c) => {
    await svc.revokeEnrollmentToken(ctx, c.req.param("id"), actorOf(c));
    return c.json({ ok: true });
  });

  // endpoints
  api.get("/endpoints", async (c) => {
    const q = validate(S.EndpointQuery, c.req.query());
    const query = { q: q.q, limit: q.limit, offset: q.offset, includeRevoked: q.revoked === "1" };
    const exp = await exportIfAsked(ctx, c, { list: "endpoints", query });
    if (exp) return exp;
    return c.json({ endpoints: await svc.listEndpoints(ctx, query) });
  });
  api.get("/endpoints/:id", async (c) => c.json(await svc.getEndpoint(ctx, c.req.param("id"))));
  api.get("/endpoints/:id/scans", async (c) => {
    const q = validate(S.PageQuery, c.req.query());
    const query = { endpointId: c.req.param("id"), limit: q.limit, offset: q.offset };
    const exp = await exportIfAsked(ctx, c, { list: "scans", query });
    if (exp) return exp;
    return c.json({ scans: await svc.listScans(ctx, query) });
  });
  api.post("/endpoints/:id/revoke", admin, async (c) => {
    const id = c.req.param("id");
    await svc.revokeEndpoint(ctx, id, actorOf(c));
    return c.json(await svc.getEndpoint(ctx, id));
  });

  // detections
  api.get("/detections", async (c) => {
    const q = validate(S.DetectionQuery, c.req.query());
    const query = {
      endpointId: q.endpoint,
      rule: q.rule,
      severity: q.severity,
      sha256: q.sha256,
      since: q.since,
      until: q.until,
      limit: q.limit,
      offset: q.offset,
    };
    const exp = await exportIfAsked(ctx, c, { list: "detections", query });
    if (exp) return exp;
    return c.json({ detections: await svc.listDetections(ctx, query) });
  });

  // policy
  api.get("/policy", async (c) => c.json(await svc.getPolicy(ctx)));
  api.put("/policy", admin, async (c) => {
    const req = await readJson(c, S.PolicyInput);
    return c.json(await svc.updatePolicy(ctx, req, actorOf(c)));
  });

  // endpoint groups and the effective policy per endpoint (api/groups.ts)
  api.route("/", groupsApi(ctx));

  // users
  api.get("/users", admin, async (c) => c.json({ users: await svc.listUsers(ctx) }));
  api.post("/users", admin, async (c) => {
    const req = await readJson(c, S.UserCreate);
    return c.json(await svc.createUser(ctx, req, actorOf(c)), 201);
  });
  api.patch("/users/:id", admin, async (c) => {
    const id = c.req.param("id");
    const req = await readJson(c, S.UserPatch);
    const actor = actorOf(c);
    if (req.role !== undefined) await svc.setUserRole(ctx, id, req.role, actor);
    if (req.disabled !== undefined) await svc.disableUser(ctx, id, actor, req.disabled);
    const password = req.resetPassword ? await svc.resetPassword(ctx, id, actor) : undefined;
    const user = (await svc.listUsers(ctx)).find((u) => u.id === id);
    if (!user) throw new ServerError("SERVER_NOT_FOUND", "no such user");
    return c.json({ user, ...(password ? { password } : {}) });
  });

  // reputation
  api.post("/reputation", analyst, async (c) => {
    const req = await readJson(c, S.ReputationAdd);
    return c.json({ added: await svc.addReputation(ctx, req.entries, actorOf(c)) });
  });
  api.get("/reputation/:sha256", analyst, async (c) =>
    c.json(await svc.lookupHash(ctx, c.req.param("sha256"), actorOf(c))),
  );

  // alerts: detections grouped by (endpoint, hash, rule); analysts and admins move them and comment
  api.get("/alerts", async (c) => {
    const q = validate(S.AlertQuery, c.req.query());
    const query = {
      state: q.state,
      severity: q.severity,
      rule: q.rule,
      endpointId: q.endpoint,
      ...(q.group ? { endpointIds: await svc.groupEndpointIds(ctx, q.group) } : {}),
      sha256: q.sha256,
      limit: q.limit,
      offset: q.offset,
    };
    const exp = await exportIfAsked(ctx, c, { list: "alerts", query });
    if (exp) return exp;
    const [alerts, total] = await Promise.all([svc.listAlerts(ctx, query), svc.countAlerts(ctx, query)]);
    return c.json({ alerts, total });
  });
  api.get("/alerts/:id", async (c) => c.json(await svc.getAlert(ctx, c.req.param("id"))));
  api.post("/alerts/state", analyst, async (c) => {
    const req = await readJson(c, S.AlertStateChange);
    return c.json({ changed: await svc.setAlertState(ctx, req.ids, req.state, actorOf(c), req.comment) });
  });
  api.post("/alerts/:id/comments", analyst, async (c) => {
    const req = await readJson(c, S.AlertCommentAdd);
    await svc.commentOnAlert(ctx, c.req.param("id"), req.text, actorOf(c));
    return c.json({ ok: true }, 201);
  });

  // inventory (reported by agents when the policy allows it)
  api.get("/inventory", async (c) => {
    const q = validate(S.InventoryQuery, c.req.query());
    const query = {
      q: q.q,
      vendor: q.vendor,
      source: q.source,
      endpointId: q.endpoint,
      limit: q.limit,
      offset: q.offset,
    };
    const exp = await exportIfAsked(ctx, c, { list: "inventory", query });
    if (exp) return exp;
    return c.json(await svc.searchInventory(ctx, query));
  });
  api.get("/inventory/findings", async (c) => {
    const q = validate(S.InventoryFindingQuery, c.req.query());
    const query = {
      endpointId: q.endpoint,
      status: q.status,
      packId: q.pack,
      q: q.q,
      limit: q.limit,
      offset: q.offset,
    };
    const exp = await exportIfAsked(ctx, c, { list: "findings", query });
    if (exp) return exp;
    return c.json(await svc.listInventoryFindings(ctx, query));
  });

  // remote actions: the role each kind needs is checked by the service (services/actions.ts)
  api.get("/endpoints/:id/actions", async (c) => {
    const q = validate(S.ActionQuery, c.req.query());
    const query = { endpointId: c.req.param("id"), state: q.state, kind: q.kind, limit: q.limit, offset: q.offset };
    const [actions, total, agentKinds] = await Promise.all([
      svc.listActions(ctx, query),
      svc.countActions(ctx, query),
      svc.endpointActionKinds(ctx, c.req.param("id")),
    ]);
    return c.json({ actions, total, agentKinds });
  });
  api.post("/endpoints/:id/actions", analyst, async (c) => {
    const req = await readJson(c, S.ActionCreate);
    return c.json(await svc.queueAction(ctx, c.req.param("id"), req, actorOf(c)), 201);
  });
  api.get("/actions/:id", async (c) => c.json(await svc.getAction(ctx, c.req.param("id"))));
  api.post("/actions/:id/cancel", analyst, async (c) =>
    c.json(await svc.cancelAction(ctx, c.req.param("id"), actorOf(c))),
  );
  api.get("/actions/:id/bundle", admin, async (c) => {
    const { action, body } = await svc.actionBundle(ctx, c.req.param("id"), actorOf(c));
    c.header("Content-Disposition", `attachment; filename="vigil-diagnostics-${action.endpointId}-${action.id}.json"`);
    return c.body(body, 200, { "Content-Type": "application/json; charset=utf-8" });
  });

  // audit log
  api.get("/audit", admin, async (c) => {
    const q = validate(S.AuditQuery, c.req.query());
    const query = { limit: q.limit, before: q.before, action: q.action };
    const exp = await exportIfAsked(ctx, c, { list: "audit", query });
    if (exp) return exp;
    return c.json({ entries: await svc.listAudit(ctx, query) });
  });

  return api;
}
