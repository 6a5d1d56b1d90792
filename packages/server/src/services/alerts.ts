/**
 * Alerts: what an administrator acts on. Detections are grouped by (endpoint, file hash, rule)
 * as they arrive, so a rescan of the same infected files raises the count and last seen of the
 * same alerts instead of making new ones. People move an alert's state (new, acknowledged,
 * resolved, false positive; who and when are kept) one at a time or in bulk, and comment on it.
 * A false-positive verdict records the hash as clean in the hash reputation the fleet shares
 * (the allow list): a later detection of that hash on any endpoint opens its alert as a false
 * positive, not as new. A resolved alert seen again after it was resolved opens again as new.
 * Every change is in the audit log.
 */
import { randomUUID } from "node:crypto";
import { sql, type Kysely } from "kysely";
import type { Actor, ServerContext } from "../context.js";
import { containsPattern, countRows } from "../db/query.js";
import type { AlertState, Database } from "../db/schema.js";
import { ServerError } from "../error.js";
import { audit } from "./audit.js";
import type { Severity } from "./detections.js";
import { forwardChannels, queueDeliveries } from "./forward.js";
import { addReputation } from "./reputation.js";

export type { AlertState };
export const ALERT_STATES: readonly AlertState[] = ["new", "acknowledged", "resolved", "false_positive"];
const RANK: Record<Severity, number> = { low: 1, medium: 2, high: 3, critical: 4 };

export interface AlertInfo {
  id: string;
  endpointId: string;
  hostname: string | null;
  sha256: string;
  rule: string;
  name: string;
  severity: Severity;
  firstSeen: number;
  lastSeen: number;
  count: number;
  state: AlertState;
  stateBy: string | null;
  stateAt: number | null;
}

export interface AlertComment {
  id: string;
  time: number;
  username: string;
  text: string;
}

/** A stored detection, as grouping needs it. */
export interface GroupedDetection {
  sha256: string;
  rule: string;
  name: string | null;
  severity: Severity;
  time: number;
}

/**
 * Folds newly stored detections of one endpoint into its alerts: one per (hash, rule), created
 * or updated (count, first and last seen, the highest severity). A new alert for a hash the fleet
 * allow-lists (reputation verdict clean) starts as a false positive.
 */
export async function groupIntoAlerts(ctx: ServerContext, endpointId: string, rows: GroupedDetection[]): Promise<void> {
  if (rows.length === 0) return;
  const groups = new Map<string, GroupedDetection & { count: number; first: number }>();
  for (const r of rows) {
    const key = `${r.sha256}\u0000${r.rule}`;
    const g = groups.get(key);
    if (!g) groups.set(key, { ...r, count: 1, first: r.time });
    else {
      g.count++;
      g.first = Math.min(g.first, r.time);
      if (r.time > g.time) g.time = r.time;
      if (RANK[r.severity] > RANK[g.severity]) g.severity = r.severity;
      if (r.name) g.name = r.name;
    }
  }
  const db = ctx.store.db;
  const hashes = [...new Set([...groups.values()].map((g) => g.sha256))];
  const clean = new Set(
    (
      await db
        .selectFrom("reputation")
        .select("sha256")
        .where("sha256", "in", hashes)
        .where("verdict", "=", "clean")
        .execute()
    ).map((r) => r.sha256),
  );
  const now = ctx.now();
  // a fixed order: two processes upserting overlapping findings lock rows in the same order
  const list = [...groups.values()].sort((x, y) =>
    x.sha256 !== y.sha256 ? (x.sha256 < y.sha256 ? -1 : 1) : x.rule < y.rule ? -1 : x.rule > y.rule ? 1 : 0,
  );
  // one upsert per chunk: new findings are inserted, known ones counted on (both dialects take
  // `excluded` and the table's own name in ON CONFLICT DO UPDATE)
  for (let i = 0; i < list.length; i += 200) {
    const chunk = list.slice(i, i + 200);
    const rows = chunk.map((g) => {
      const allowed = clean.has(g.sha256);
      return {
        id: randomUUID(),
        endpoint_id: endpointId,
        sha256: g.sha256,
        rule: g.rule,
        name: g.name ?? g.rule,
        severity: g.severity,
        first_seen: g.first,
        last_seen: g.time,
        count: g.count,
        state: allowed ? ("false_positive" as const) : ("new" as const),
        state_by: allowed ? "allow list" : null,
        state_at: allowed ? now : null,
      };
    });
    const rank = (col: string) =>
      sql.raw(`(case ${col} when 'critical' then 4 when 'high' then 3 when 'medium' then 2 else 1 end)`);
    const stored = await db
      .insertInto("alerts")
      .values(rows)
      .onConflict((oc) =>
        oc.columns(["endpoint_id", "sha256", "rule"]).doUpdateSet({
          count: sql`alerts.count + excluded.count`,
          first_seen: sql`case when alerts.first_seen > excluded.first_seen then excluded.first_seen else alerts.first_seen end`,
          last_seen: sql`case when alerts.last_seen < excluded.last_seen then excluded.last_seen else alerts.last_seen end`,
          severity: sql`case when ${rank("excluded.severity")} > ${rank("alerts.severity")} then excluded.severity else alerts.severity end`,
          // an older agent's detection (no name: name = rule) keeps the name a newer one sent
          name: sql`case when excluded.name = excluded.rule then alerts.name else excluded.name end`,
          // seen again after it was resolved: it needs looking at again
          state: sql`case when alerts.state = 'resolved' and alerts.state_at < excluded.last_seen then 'new' else alerts.state end`,
        }),
      )
      .returning(["id", "state"])
      .execute();
    // a new alert leaves the server by each configured channel (webhook, syslog, ECS; not an
    // allow-listed one): a row was inserted when the id returned is the one generated here
    const channels = forwardChannels(ctx.config);
    if (channels.length === 0) continue;
    const generated = new Set<string>(rows.map((r) => r.id));
    const fresh = stored.filter((r) => generated.has(r.id) && r.state === "new");
    if (fresh.length)
      await queueDeliveries(
        db,
        fresh.map((r) => r.id),
        channels,
        now,
      );
  }
}

export interface AlertQuery {
  state?: AlertState | undefined;
  severity?: Severity | undefined;
  /** Part of the rule or the name (case-insensitive). */
  rule?: string | undefined;
  endpointId?: string | undefined;
  /** Only these endpoints (a group's members, groupEndpointIds); empty: none. */
  endpointIds?: string[] | undefined;
  sha256?: string | undefined;
  limit?: number | undefined;
  offset?: number | undefined;
}

// the filters on alerts alone: the count needs no host names (a join per alert made counting
// 100,000 alerts take seconds); the lists join the endpoints for them
function alertsWhere(db: Kysely<Database>, q: AlertQuery) {
  let query = db.selectFrom("alerts as a");
  if (q.state) query = query.where("a.state", "=", q.state);
  if (q.severity) query = query.where("a.severity", "=", q.severity);
  if (q.endpointId) query = query.where("a.endpoint_id", "=", q.endpointId);
  if (q.endpointIds)
    query = q.endpointIds.length ? query.where("a.endpoint_id", "in", q.endpointIds) : query.where(sql<boolean>`1 = 0`);
  if (q.sha256) query = query.where("a.sha256", "=", q.sha256);
  if (q.rule) {
    const pat = containsPattern(q.rule);
    query = query.where(sql<boolean>`(lower(a.rule) like ${pat} escape '\\' or lower(a.name) like ${pat} escape '\\')`);
  }
  return query;
}

/** An alerts row (with the endpoint's hostname) as the API shows it. */
export function alertInfo(r: Database["alerts"] & { hostname: string | null }): AlertInfo {
  return {
    id: r.id,
    endpointId: r.endpoint_id,
    hostname: r.hostname,
    sha256: r.sha256,
    rule: r.rule,
    name: r.name,
    severity: r.severity,
    firstSeen: Number(r.first_seen),
    lastSeen: Number(r.last_seen),
    count: Number(r.count),
    state: r.state,
    stateBy: r.state_by,
    stateAt: r.state_at === null ? null : Number(r.state_at),
  };
}

/** The alerts a query selects, most recently seen first (no paging: `listAlerts` pages, exports stream). */
export function alertsOrdered(db: Kysely<Database>, q: AlertQuery = {}) {
  // the host names need the endpoints; the count (countAlerts) does not join them
  return alertsWhere(db, q)
    .leftJoin("endpoints as e", "e.id", "a.endpoint_id")
    .selectAll("a")
    .select("e.hostname")
    .orderBy("a.last_seen", "desc")
    .orderBy("a.id", "desc");
}

/** Most recently seen first. */
export async function listAlerts(ctx: ServerContext, q: AlertQuery = {}): Promise<AlertInfo[]> {
  const rows = await alertsOrdered(ctx.store.db, q)
    .limit(Math.min(Math.max(q.limit ?? 50, 1), 1000))
    .offset(Math.max(q.offset ?? 0, 0))
    .execute();
  return rows.map((r) => alertInfo({ ...r, hostname: r.hostname ?? null }));
}

export async function countAlerts(ctx: ServerContext, q: AlertQuery = {}): Promise<number> {
  return countRows(alertsWhere(ctx.store.db, q));
}

/** One alert with its comments (oldest first); SERVER_NOT_FOUND when there is none. */
export async function getAlert(ctx: ServerContext, id: string): Promise<AlertInfo & { comments: AlertComment[] }> {
  const r = await alertsWhere(ctx.store.db, {})
    .leftJoin("endpoints as e", "e.id", "a.endpoint_id")
    .selectAll("a")
    .select("e.hostname")
    .where("a.id", "=", id)
    .executeTakeFirst();
  if (!r) throw new ServerError("SERVER_NOT_FOUND", `no alert ${id}; list them with GET /api/admin/alerts`);
  const comments = await ctx.store.db
    .selectFrom("alert_comments")
    .select(["id", "time", "username", "text"])
    .where("alert_id", "=", id)
    .orderBy("time")
    .orderBy("id")
    .execute();
  return {
    ...alertInfo({ ...r, hostname: r.hostname ?? null }),
    comments: comments.map((c) => ({ ...c, time: Number(c.time) })),
  };
}

/**
 * Moves alerts to a state (with an optional comment on each). A false positive also records each
 * alert's hash as clean in the hash reputation (the fleet's allow list). Returns how many changed.
 */
export async function setAlertState(
  ctx: ServerContext,
  ids: string[],
  state: AlertState,
  actor: Actor,
  comment?: string,
): Promise<number> {
  if (!ALERT_STATES.includes(state))
    throw new ServerError("SERVER_BAD_REQUEST", `state: one of ${ALERT_STATES.join(", ")}`, { path: "state" });
  const unique = [...new Set(ids)];
  if (unique.length === 0 || unique.length > 1000)
    throw new ServerError("SERVER_BAD_REQUEST", "ids: 1 to 1000 alert ids", { path: "ids" });
  const db = ctx.store.db;
  const found = await db.selectFrom("alerts").select(["id", "sha256", "name"]).where("id", "in", unique).execute();
  if (found.length !== unique.length) {
    const known = new Set(found.map((f) => f.id));
    const missing = unique.filter((i) => !known.has(i));
    throw new ServerError("SERVER_NOT_FOUND", `no alert ${missing.slice(0, 3).join(", ")}; nothing was changed`, {
      path: "ids",
    });
  }
  const now = ctx.now();
  await db
    .updateTable("alerts")
    .set({ state, state_by: actor.username, state_at: now })
    .where("id", "in", unique)
    .execute();
  if (comment) for (const id of unique) await insertComment(ctx, id, actor, comment, now);
  if (state === "false_positive") {
    const byHash = new Map(found.map((f) => [f.sha256, f.name]));
    await addReputation(
      ctx,
      [...byHash].map(([sha256, name]) => ({
        sha256,
        verdict: "clean" as const,
        name: `false positive: ${name}`.slice(0, 200),
        source: `alert:${actor.username}`,
      })),
      actor,
    );
  }
  await audit(ctx, {
    actor,
    action: "alert.state",
    target: unique.length === 1 ? unique[0]! : `${unique.length} alerts`,
    detail: {
      state,
      ids: unique.slice(0, 50),
      ...(state === "false_positive" ? { allowListed: [...new Set(found.map((f) => f.sha256))].length } : {}),
    },
  });
  return unique.length;
}

async function insertComment(ctx: ServerContext, alertId: string, actor: Actor, text: string, now: number) {
  await ctx.store.db
    .insertInto("alert_comments")
    .values({ id: randomUUID(), alert_id: alertId, time: now, username: actor.username, text })
    .execute();
}

/** Adds a comment to one alert (1 to 4000 characters). */
export async function commentOnAlert(ctx: ServerContext, id: string, text: string, actor: Actor): Promise<void> {
  const t = text.trim();
  if (t.length === 0 || t.length > 4000)
    throw new ServerError("SERVER_BAD_REQUEST", "text: a comment of 1 to 4000 characters", { path: "text" });
  await getAlert(ctx, id); // 404 for an unknown alert
  await insertComment(ctx, id, actor, t, ctx.now());
  await audit(ctx, { actor, action: "alert.comment", target: id });
}
