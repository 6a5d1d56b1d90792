/**
 * `/api/admin/groups*` and `/api/admin/endpoints/:id/policy`: endpoint groups and the effective
 * policy per endpoint, mounted inside the admin API (so its session, CSRF and password-change
 * gates apply). Everyone with a session reads; only admins change groups, their policies and
 * their members (as for the default policy).
 */
import { Hono } from "hono";
import type { AppEnv, ServerContext } from "../context.js";
import { readJson } from "../http.js";
import { actorOf, requireRole } from "../auth/session.js";
import * as svc from "../services/index.js";

export function groupsApi(ctx: ServerContext): Hono<AppEnv> {
  const api = new Hono<AppEnv>();
  const admin = requireRole("admin");

  api.get("/groups", async (c) => c.json({ groups: await svc.listGroups(ctx) }));
  api.post("/groups", admin, async (c) => {
    const req = await readJson(c, svc.GroupInput);
    return c.json(await svc.createGroup(ctx, req, actorOf(c)), 201);
  });
  api.get("/groups/:id", async (c) => {
    const id = c.req.param("id");
    const group = await svc.getGroup(ctx, id);
    return c.json({ ...group, ...(await svc.groupMembers(ctx, id)) });
  });
  api.put("/groups/:id", admin, async (c) => {
    const req = await readJson(c, svc.GroupInput);
    return c.json(await svc.updateGroup(ctx, c.req.param("id"), req, actorOf(c)));
  });
  api.delete("/groups/:id", admin, async (c) => {
    await svc.deleteGroup(ctx, c.req.param("id"), actorOf(c));
    return c.json({ ok: true });
  });
  api.post("/groups/:id/members", admin, async (c) => {
    const req = await readJson(c, svc.GroupMembersInput);
    return c.json(await svc.addGroupMembers(ctx, c.req.param("id"), req.endpointIds, actorOf(c)));
  });
  api.delete("/groups/:id/members/:endpointId", admin, async (c) =>
    c.json(await svc.removeGroupMember(ctx, c.req.param("id"), c.req.param("endpointId"), actorOf(c))),
  );

  api.get("/endpoints/:id/policy", async (c) => c.json(await svc.endpointPolicy(ctx, c.req.param("id"))));
  return api;
}
