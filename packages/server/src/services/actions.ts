/**
 * Remote actions: an administrator (or analyst) queues an action for one endpoint (scan now,
 * quarantine a file by path or hash, restore from quarantine, update rules now, collect the
 * diagnostic bundle); the endpoint's next heartbeat answer carries it to the agent (only agents
 * that announce the kinds they implement are handed any); the agent runs it, or refuses it when
 * its operator's local configuration does not allow that kind, and reports the outcome.
 *
 * States: queued -> delivered (handed over in a heartbeat answer) -> done | failed (the agent's
 * result, with its message: what it did, or why it refused or failed). A queued action can be
 * cancelled (failed, "cancelled by ..."). An action delivered but without a result after
 * REDELIVER_AFTER_MS is handed over again (the agent remembers the ids it ran and never runs one
 * twice; a result that was lost is sent again). An agent that does not implement a kind gets the
 * action failed by the server, with the reason.
 *
 * Roles (checked here, so the API and the console agree): a viewer queues nothing; an analyst
 * may queue scan, quarantine and update (containment, reversible); restore (puts a detected file
 * back) and diagnostics (the endpoint's configuration and log lines) need an admin, and only an
 * admin downloads a bundle. Queuing, cancelling, each result and each bundle download are in the
 * audit log.
 */
import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import { ACTION_KINDS, type Action, type ActionKind, type ActionResult } from "@vigil/protocol";
import type { Actor, Role, ServerContext } from "../context.js";
import { countRows } from "../db/query.js";
import type { ActionState, ActionsTable, Database } from "../db/schema.js";
import { ServerError } from "../error.js";
import { audit } from "./audit.js";

export type { ActionKind, ActionState };
export { ACTION_KINDS };
export const ACTION_STATES: readonly ActionState[] = ["queued", "delivered", "done", "failed"];

/** Who may queue each kind. */
export const ACTION_ROLES: Record<ActionKind, readonly Role[]> = {
  scan: ["admin", "analyst"],
  quarantine: ["admin", "analyst"],
  update: ["admin", "analyst"],
  restore: ["admin"],
  diagnostics: ["admin"],
};

/** A delivered action without a result is handed over again after this long. */
export const REDELIVER_AFTER_MS = 15 * 60_000;
/** Actions waiting for one endpoint at most (a heartbeat answer carries up to 100). */
export const MAX_PENDING_PER_ENDPOINT = 100;
const MAX_DETAILS_CHARS = 64 * 1024;
/** A vault entry id as @vigil/scanner's Quarantine makes them. */
const QUARANTINE_ID = /^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}$/;
const SHA256 = /^[0-9a-f]{64}$/;

export interface ActionInput {
  kind: ActionKind;
  path?: string | undefined;
  sha256?: string | undefined;
  quarantineId?: string | undefined;
}

export interface ActionInfo {
  id: string;
  endpointId: string;
  hostname: string | null;
  kind: string;
  path: string | null;
  sha256: string | null;
  quarantineId: string | null;
  state: ActionState;
  requestedBy: string;
  requestedAt: number;
  deliveredAt: number | null;
  finishedAt: number | null;
  /** The agent's result line, or why it was refused, failed or cancelled. */
  message: string | null;
  details: Record<string, unknown> | null;
  /** A diagnostics bundle was uploaded (GET /api/admin/actions/:id/bundle). */
  hasBundle: boolean;
}

export interface ActionQuery {
  endpointId?: string | undefined;
  state?: ActionState | undefined;
  kind?: string | undefined;
  limit?: number | undefined;
  offset?: number | undefined;
}

function isAbsolute(p: string): boolean {
  return p.startsWith("/") || /^[A-Za-z]:[\\/]/.test(p) || p.startsWith("\\\\");
}

function bad(path: string, message: string): ServerError {
  return new ServerError("SERVER_BAD_REQUEST", `${path}: ${message}`, { path });
}

/** Checks an action's parameters for its kind; returns the params stored (and sent) with it. */
export function actionParams(input: ActionInput): { path?: string; sha256?: string; quarantineId?: string } {
  if (!(ACTION_KINDS as readonly string[]).includes(input.kind)) throw bad("kind", `one of ${ACTION_KINDS.join(", ")}`);
  const path = input.path?.trim() || undefined;
  const sha256 = input.sha256?.trim().toLowerCase() || undefined;
  const quarantineId = input.quarantineId?.trim() || undefined;
  if (path !== undefined) {
    if (path.length > 4096 || path.includes("\u0000")) throw bad("path", "at most 4096 characters, no NUL");
    if (!isAbsolute(path)) throw bad("path", "an absolute path on the endpoint (/... or C:\\...)");
  }
  if (sha256 !== undefined && !SHA256.test(sha256)) throw bad("sha256", "a sha256 as 64 hex digits");
  if (quarantineId !== undefined && !QUARANTINE_ID.test(quarantineId))
    throw bad("quarantineId", "a vault entry id as a quarantine result names it (20261207T223000Z-0123456789ab)");
  const extra = (names: string[]) => {
    const given = names.filter((n) => ({ path, sha256, quarantineId })[n as "path"] !== undefined);
    if (given.length) throw bad(given[0]!, `not a parameter of a ${input.kind} action`);
  };
  switch (input.kind) {
    case "scan":
      extra(["sha256", "quarantineId"]);
      return path ? { path } : {};
    case "quarantine":
      extra(["quarantineId"]);
      if ((path === undefined) === (sha256 === undefined))
        throw bad("path", "a quarantine action takes the file's path or its sha256 (one of them)");
      return path ? { path } : { sha256: sha256! };
    case "restore":
      extra(["path"]);
      if ((quarantineId === undefined) === (sha256 === undefined))
        throw bad("quarantineId", "a restore action takes the vault entry id or the file's sha256 (one of them)");
      return quarantineId ? { quarantineId } : { sha256: sha256! };
    case "update":
    case "diagnostics":
      extra(["path", "sha256", "quarantineId"]);
      return {};
  }
}

function parseJson(text: string | null): Record<string, unknown> | null {
  if (!text) return null;
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return null;
  }
}

type ActionRow = ActionsTable & { hostname: string | null; bundle: string | null };

function actionInfo(r: ActionRow): ActionInfo {
  const p = (parseJson(r.params) ?? {}) as { path?: string; sha256?: string; quarantineId?: string };
  return {
    id: r.id,
    endpointId: r.endpoint_id,
    hostname: r.hostname,
    kind: r.kind,
    path: p.path ?? null,
    sha256: p.sha256 ?? null,
    quarantineId: p.quarantineId ?? null,
    state: r.state,
    requestedBy: r.requested_by,
    requestedAt: Number(r.requested_at),
    deliveredAt: r.delivered_at === null ? null : Number(r.delivered_at),
    finishedAt: r.finished_at === null ? null : Number(r.finished_at),
    message: r.message,
    details: parseJson(r.details),
    hasBundle: r.bundle !== null,
  };
}

function actionsWhere(db: Kysely<Database>, q: ActionQuery) {
  let query = db
    .selectFrom("actions as a")
    .leftJoin("endpoints as e", "e.id", "a.endpoint_id")
    .leftJoin("action_bundles as b", "b.action_id", "a.id");
  if (q.endpointId) query = query.where("a.endpoint_id", "=", q.endpointId);
  if (q.state) query = query.where("a.state", "=", q.state);
  if (q.kind) query = query.where("a.kind", "=", q.kind);
  return query;
}

function selectInfo(db: Kysely<Database>, q: ActionQuery) {
  return actionsWhere(db, q).selectAll("a").select(["e.hostname", "b.action_id as bundle"]);
}

/** Newest first. */
export async function listActions(ctx: ServerContext, q: ActionQuery = {}): Promise<ActionInfo[]> {
  const rows = await selectInfo(ctx.store.db, q)
    .orderBy("a.requested_at", "desc")
    .orderBy("a.id", "desc")
    .limit(Math.min(Math.max(q.limit ?? 50, 1), 1000))
    .offset(Math.max(q.offset ?? 0, 0))
    .execute();
  return rows.map((r) => actionInfo({ ...r, hostname: r.hostname ?? null, bundle: r.bundle ?? null }));
}

export async function countActions(ctx: ServerContext, q: ActionQuery = {}): Promise<number> {
  return countRows(actionsWhere(ctx.store.db, q));
}

/** One action; SERVER_NOT_FOUND when there is none. */
export async function getAction(ctx: ServerContext, id: string): Promise<ActionInfo> {
  const r = await selectInfo(ctx.store.db, {}).where("a.id", "=", id).executeTakeFirst();
  if (!r)
    throw new ServerError("SERVER_NOT_FOUND", `no action ${id}; list them with GET /api/admin/endpoints/ID/actions`);
  return actionInfo({ ...r, hostname: r.hostname ?? null, bundle: r.bundle ?? null });
}

/** The action kinds the endpoint's agent announced in its last heartbeat; null: none (an older agent, or never heard from). */
export async function endpointActionKinds(ctx: ServerContext, endpointId: string): Promise<string[] | null> {
  const r = await ctx.store.db
    .selectFrom("endpoints")
    .select("action_kinds")
    .where("id", "=", endpointId)
    .executeTakeFirst();
  if (!r?.action_kinds) return null;
  try {
    const v = JSON.parse(r.action_kinds) as unknown;
    return Array.isArray(v) ? v.filter((k): k is string => typeof k === "string") : null;
  } catch {
    return null;
  }
}

/** Whether `role` may queue `kind`; SERVER_FORBIDDEN says who may. */
export function checkActionRole(kind: ActionKind, role: Role): void {
  const roles = ACTION_ROLES[kind];
  if (!roles?.includes(role))
    throw new ServerError(
      "SERVER_FORBIDDEN",
      `a ${kind} action needs the ${(roles ?? ["admin"]).join(" or ")} role; you are ${role}`,
    );
}

/** Queues an action for an endpoint (not revoked), after the role check; audited. */
export async function queueAction(
  ctx: ServerContext,
  endpointId: string,
  input: ActionInput,
  actor: Actor,
): Promise<ActionInfo> {
  const params = actionParams(input);
  checkActionRole(input.kind, actor.role);
  const db = ctx.store.db;
  const ep = await db
    .selectFrom("endpoints")
    .select(["id", "revoked_at"])
    .where("id", "=", endpointId)
    .executeTakeFirst();
  if (!ep) throw new ServerError("SERVER_NOT_FOUND", `no endpoint ${endpointId}`);
  if (ep.revoked_at !== null)
    throw new ServerError("SERVER_CONFLICT", "the endpoint is revoked: it can no longer receive actions");
  const pending = await countRows(
    db.selectFrom("actions").where("endpoint_id", "=", endpointId).where("state", "in", ["queued", "delivered"]),
  );
  if (pending >= MAX_PENDING_PER_ENDPOINT)
    throw new ServerError(
      "SERVER_CONFLICT",
      `${pending} actions are already waiting for this endpoint; wait for them or cancel some`,
    );
  const id = randomUUID();
  await db
    .insertInto("actions")
    .values({
      id,
      endpoint_id: endpointId,
      kind: input.kind,
      params: JSON.stringify(params),
      state: "queued",
      requested_by: actor.username,
      requested_at: ctx.now(),
      delivered_at: null,
      finished_at: null,
      message: null,
      details: null,
    })
    .execute();
  await audit(ctx, { actor, action: "action.queue", target: endpointId, detail: { id, kind: input.kind, ...params } });
  return getAction(ctx, id);
}

/** Cancels a queued action (not one already handed to the agent); audited. */
export async function cancelAction(ctx: ServerContext, id: string, actor: Actor): Promise<ActionInfo> {
  const a = await getAction(ctx, id);
  checkActionRole(a.kind as ActionKind, actor.role);
  const r = await ctx.store.db
    .updateTable("actions")
    .set({ state: "failed", finished_at: ctx.now(), message: `cancelled by ${actor.username} before delivery` })
    .where("id", "=", id)
    .where("state", "=", "queued")
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) !== 1)
    throw new ServerError(
      "SERVER_CONFLICT",
      `the action is ${(await getAction(ctx, id)).state}: only a queued action can be cancelled`,
    );
  await audit(ctx, { actor, action: "action.cancel", target: a.endpointId, detail: { id, kind: a.kind } });
  return getAction(ctx, id);
}

/**
 * The actions to hand to an endpoint in its heartbeat answer: the queued ones (and delivered ones
 * without a result for REDELIVER_AFTER_MS), oldest first, marked delivered. Kinds the agent does
 * not implement are failed here with the reason. An agent that announced no kinds gets nothing.
 */
export async function deliverActions(
  ctx: ServerContext,
  endpointId: string,
  agentKinds: string[] | undefined,
  agentVersion: string,
): Promise<Action[]> {
  const db = ctx.store.db;
  // what the agent takes, kept for the console ("actions stay queued: an older agent"); written only when it changed
  const announced = agentKinds ? JSON.stringify([...agentKinds].sort()) : null;
  await db
    .updateTable("endpoints")
    .set({ action_kinds: announced })
    .where("id", "=", endpointId)
    .where((eb) =>
      announced === null
        ? eb("action_kinds", "is not", null)
        : eb.or([eb("action_kinds", "is", null), eb("action_kinds", "<>", announced)]),
    )
    .execute();
  if (!agentKinds) return [];
  const now = ctx.now();
  const redeliverBefore = now - REDELIVER_AFTER_MS;
  const rows = await db
    .selectFrom("actions")
    .selectAll()
    .where("endpoint_id", "=", endpointId)
    .where((eb) =>
      eb.or([
        eb("state", "=", "queued"),
        eb.and([eb("state", "=", "delivered"), eb("delivered_at", "<", redeliverBefore)]),
      ]),
    )
    .orderBy("requested_at")
    .orderBy("id")
    .limit(100)
    .execute();
  if (rows.length === 0) return [];
  const unknown = rows.filter((r) => !agentKinds.includes(r.kind));
  for (const r of unknown) {
    await db
      .updateTable("actions")
      .set({
        state: "failed",
        finished_at: now,
        message: `the agent (version ${agentVersion.slice(0, 40)}) cannot carry out ${r.kind} actions; update the agent`,
      })
      .where("id", "=", r.id)
      .where("state", "in", ["queued", "delivered"])
      .execute();
  }
  const wanted = rows.filter((r) => agentKinds.includes(r.kind));
  if (wanted.length === 0) return [];
  // claimed by this update: a second process answering a heartbeat at the same moment gets none
  const claimed = await db
    .updateTable("actions")
    .set({ state: "delivered", delivered_at: now })
    .where(
      "id",
      "in",
      wanted.map((r) => r.id),
    )
    .where((eb) =>
      eb.or([
        eb("state", "=", "queued"),
        eb.and([eb("state", "=", "delivered"), eb("delivered_at", "<", redeliverBefore)]),
      ]),
    )
    .returning("id")
    .execute();
  const ids = new Set(claimed.map((c) => c.id));
  return wanted
    .filter((r) => ids.has(r.id))
    .map((r) => {
      const p = (parseJson(r.params) ?? {}) as { path?: string; sha256?: string; quarantineId?: string };
      return {
        id: r.id,
        kind: r.kind,
        ...(p.path ? { path: p.path } : {}),
        ...(p.sha256 ? { sha256: p.sha256 } : {}),
        ...(p.quarantineId ? { quarantineId: p.quarantineId } : {}),
        requestedAt: Number(r.requested_at),
        requestedBy: r.requested_by.slice(0, 256),
      };
    });
}

/**
 * Records the agent's result for one of its own actions (done or failed, the message, details,
 * and for diagnostics the bundle). A result for an action that has one already changes nothing
 * (a retried report). Audited with the endpoint as the actor.
 */
export async function recordActionResult(
  ctx: ServerContext,
  endpointId: string,
  id: string,
  result: ActionResult,
): Promise<{ state: ActionState; duplicate: boolean }> {
  const db = ctx.store.db;
  const row = await db
    .selectFrom("actions")
    .select(["id", "kind", "state"])
    .where("id", "=", id)
    .where("endpoint_id", "=", endpointId)
    .executeTakeFirst();
  // another endpoint's action is as unknown as a made-up id
  if (!row) throw new ServerError("SERVER_NOT_FOUND", `no action ${id} for this endpoint`);
  if (row.state === "done" || row.state === "failed") return { state: row.state, duplicate: true };
  const now = ctx.now();
  let details = result.details ? JSON.stringify(result.details) : null;
  if (details && details.length > MAX_DETAILS_CHARS)
    details = JSON.stringify({ truncated: true, chars: details.length });
  const r = await db
    .updateTable("actions")
    .set({ state: result.state, finished_at: now, message: result.message.slice(0, 4000), details })
    .where("id", "=", id)
    .where("state", "in", ["queued", "delivered"])
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) !== 1) {
    const again = await db.selectFrom("actions").select("state").where("id", "=", id).executeTakeFirstOrThrow();
    return { state: again.state, duplicate: true };
  }
  if (row.kind === "diagnostics" && result.bundle && result.state === "done") {
    const body = JSON.stringify(result.bundle);
    await db
      .insertInto("action_bundles")
      .values({ action_id: id, received_at: now, size: Buffer.byteLength(body), body })
      .onConflict((oc) => oc.column("action_id").doNothing())
      .execute();
  }
  await audit(ctx, {
    actor: null,
    username: `endpoint ${endpointId}`,
    action: "action.result",
    target: endpointId,
    detail: { id, kind: row.kind, state: result.state, message: result.message.slice(0, 300) },
  });
  return { state: result.state, duplicate: false };
}

/** A diagnostics action's bundle (JSON text) for an admin; the download is audited. */
export async function actionBundle(
  ctx: ServerContext,
  id: string,
  actor: Actor,
): Promise<{ action: ActionInfo; body: string }> {
  if (actor.role !== "admin")
    throw new ServerError("SERVER_FORBIDDEN", `a diagnostic bundle needs the admin role; you are ${actor.role}`);
  const action = await getAction(ctx, id);
  const b = await ctx.store.db
    .selectFrom("action_bundles")
    .select("body")
    .where("action_id", "=", id)
    .executeTakeFirst();
  if (!b)
    throw new ServerError(
      "SERVER_NOT_FOUND",
      action.kind === "diagnostics"
        ? `action ${id} has no bundle (it is ${action.state}); wait for the agent's result`
        : `action ${id} is a ${action.kind} action; only diagnostics actions have a bundle`,
    );
  await audit(ctx, { actor, action: "action.bundle", target: action.endpointId, detail: { id } });
  return { action, body: b.body };
}
