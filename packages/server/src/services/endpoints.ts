/**
 * Endpoints: enrolment and heartbeats (the endpoint API), and as the admin API and console see
 * them: the one status rule (online, stale, offline, never, revoked) as a function of a row and
 * as an SQL condition, listing and counting with filters, one endpoint's detail, and revocation
 * (its key stops working at once on every process, since each request checks the row).
 */
import { sql, type Kysely } from "kysely";
import type { Actor, ServerContext } from "../context.js";
import { containsPattern, countRows, prefixPattern } from "../db/query.js";
import type { Database, EndpointsTable } from "../db/schema.js";
import { ServerError } from "../error.js";
import { newEndpointKey } from "../auth/keys.js";
import { DAY_MS, HOUR_MS } from "../time.js";
import { audit } from "./audit.js";
import { getPolicy } from "./policy.js";
import { consumeEnrollmentToken } from "./tokens.js";

export type EndpointStatus = "online" | "stale" | "offline" | "never" | "revoked";
export const STATUSES: readonly EndpointStatus[] = ["online", "stale", "offline", "never", "revoked"];

/** Online while heard from within this many heartbeat intervals; stale until a day of silence, then offline. */
export const STALE_AFTER_HEARTBEATS = 2;
export const OFFLINE_AFTER_MS = DAY_MS;

/** The status rule's cut-offs at one moment, from the policy's heartbeat interval. */
export interface Thresholds {
  now: number;
  heartbeatSeconds: number;
  /** last_seen at or after this: online. */
  onlineSince: number;
  /** last_seen at or after this (and not online): stale. */
  staleSince: number;
}

export function thresholds(heartbeatSeconds: number, now: number): Thresholds {
  const onlineSince = now - STALE_AFTER_HEARTBEATS * heartbeatSeconds * 1000;
  // with a heartbeat of 12 h or more "online" already covers a day: stale then starts there
  return { now, heartbeatSeconds, onlineSince, staleSince: Math.min(onlineSince, now - OFFLINE_AFTER_MS) };
}

/** The cut-offs now, under the current policy. */
export async function statusThresholds(ctx: ServerContext): Promise<Thresholds> {
  return thresholds((await getPolicy(ctx)).heartbeatSeconds, ctx.now());
}

export function endpointStatus(e: Pick<EndpointsTable, "last_seen" | "revoked_at">, t: Thresholds): EndpointStatus {
  if (e.revoked_at !== null) return "revoked";
  if (e.last_seen === null) return "never";
  const seen = Number(e.last_seen);
  if (seen >= t.onlineSince) return "online";
  if (seen >= t.staleSince) return "stale";
  return "offline";
}

/** The same rule as `endpointStatus`, as a condition on the endpoints table. */
export function statusCondition(status: EndpointStatus, t: Thresholds) {
  switch (status) {
    case "revoked":
      return sql<boolean>`revoked_at is not null`;
    case "never":
      return sql<boolean>`revoked_at is null and last_seen is null`;
    case "online":
      return sql<boolean>`revoked_at is null and last_seen >= ${t.onlineSince}`;
    case "stale":
      return sql<boolean>`revoked_at is null and last_seen < ${t.onlineSince} and last_seen >= ${t.staleSince}`;
    case "offline":
      return sql<boolean>`revoked_at is null and last_seen < ${t.staleSince}`;
  }
}

export interface EndpointInfo {
  id: string;
  hostname: string | null;
  os: { platform: string; release: string; arch: string } | null;
  agentVersion: string | null;
  rulesVersion: string | null;
  checkpoint: { origin: string; size: number; rootHash: string; at: number | null } | null;
  /** The head after `entries` lines, as the heartbeat at `at` (server time) reported it; the endpoint's ledger has grown since. */
  ledger: { entries: number; head: string; at: number | null } | null;
  enrolledAt: number;
  enrolledWith: string | null;
  lastSeen: number | null;
  revokedAt: number | null;
  revokedBy: string | null;
  status: EndpointStatus;
  /** The tags its configuration gives it (groups can take endpoints in by tag). */
  tags: string[];
}

function parseOs(text: string | null): EndpointInfo["os"] {
  if (!text) return null;
  try {
    return JSON.parse(text) as EndpointInfo["os"];
  } catch {
    return null;
  }
}

function parseTags(text: string | null): string[] {
  if (!text) return [];
  try {
    const t = JSON.parse(text) as unknown;
    return Array.isArray(t) ? t.filter((x): x is string => typeof x === "string") : [];
  } catch {
    return [];
  }
}

export function endpointInfo(r: EndpointsTable, t: Thresholds): EndpointInfo {
  return {
    id: r.id,
    hostname: r.hostname,
    os: parseOs(r.os),
    agentVersion: r.agent_version,
    rulesVersion: r.rules_version,
    checkpoint:
      r.checkpoint_origin !== null
        ? {
            origin: r.checkpoint_origin,
            size: Number(r.checkpoint_size),
            rootHash: r.checkpoint_root ?? "",
            at: r.checkpoint_at === null ? null : Number(r.checkpoint_at),
          }
        : null,
    ledger:
      r.ledger_entries !== null
        ? {
            entries: Number(r.ledger_entries),
            head: r.ledger_head ?? "",
            at: r.ledger_at === null ? null : Number(r.ledger_at),
          }
        : null,
    enrolledAt: Number(r.enrolled_at),
    enrolledWith: r.enrolled_with,
    lastSeen: r.last_seen === null ? null : Number(r.last_seen),
    revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
    revokedBy: r.revoked_by,
    status: endpointStatus(r, t),
    tags: parseTags(r.tags),
  };
}

export interface EndpointQuery {
  limit?: number | undefined;
  offset?: number | undefined;
  /** Part of the hostname, or the start of the id (case-insensitive). */
  q?: string | undefined;
  /** Only endpoints with this status (under the thresholds the listing uses). */
  status?: EndpointStatus | undefined;
  /** Without a status filter, revoked endpoints are left out unless this is set. */
  includeRevoked?: boolean | undefined;
}

function endpointsWhere(db: Kysely<Database>, q: EndpointQuery, t: Thresholds) {
  let query = db.selectFrom("endpoints");
  if (q.status) query = query.where(statusCondition(q.status, t));
  else if (!q.includeRevoked) query = query.where("revoked_at", "is", null);
  if (q.q) {
    const contains = containsPattern(q.q),
      prefix = prefixPattern(q.q);
    query = query.where(
      sql<boolean>`(lower(hostname) like ${contains} escape '\\' or lower(id) like ${prefix} escape '\\')`,
    );
  }
  return query;
}

/** The endpoints a query selects in `listEndpoints` order, without paging (exports stream it). */
export function endpointsOrdered(db: Kysely<Database>, q: EndpointQuery, t: Thresholds) {
  return endpointsWhere(db, q, t)
    .selectAll()
    .orderBy(sql`case when last_seen is null then 1 else 0 end`)
    .orderBy("last_seen", "desc")
    .orderBy("id");
}

/** Endpoints heard from most recently first (never heard from last), then by id. */
export async function listEndpoints(
  ctx: ServerContext,
  q: EndpointQuery = {},
  t?: Thresholds,
): Promise<EndpointInfo[]> {
  const th = t ?? (await statusThresholds(ctx));
  const rows = await endpointsOrdered(ctx.store.db, q, th)
    .limit(Math.min(Math.max(q.limit ?? 200, 1), 5000))
    .offset(Math.max(q.offset ?? 0, 0))
    .execute();
  return rows.map((r) => endpointInfo(r, th));
}

/** How many endpoints `listEndpoints` would page through. */
export async function countEndpoints(ctx: ServerContext, q: EndpointQuery = {}, t?: Thresholds): Promise<number> {
  return countRows(endpointsWhere(ctx.store.db, q, t ?? (await statusThresholds(ctx))));
}

export async function getEndpoint(ctx: ServerContext, id: string, t?: Thresholds): Promise<EndpointInfo> {
  const r =
    id.length <= 100
      ? await ctx.store.db.selectFrom("endpoints").selectAll().where("id", "=", id).executeTakeFirst()
      : undefined;
  if (!r) throw new ServerError("SERVER_NOT_FOUND", "there is no endpoint with this id");
  return endpointInfo(r, t ?? (await statusThresholds(ctx)));
}

export async function revokeEndpoint(ctx: ServerContext, endpointId: string, actor: Actor): Promise<void> {
  const r = await ctx.store.db
    .updateTable("endpoints")
    .set({ revoked_at: ctx.now(), revoked_by: actor.username })
    .where("id", "=", endpointId)
    .where("revoked_at", "is", null)
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) !== 1) {
    const exists = await ctx.store.db
      .selectFrom("endpoints")
      .select("id")
      .where("id", "=", endpointId)
      .executeTakeFirst();
    if (!exists) throw new ServerError("SERVER_NOT_FOUND", "there is no endpoint with this id");
    return; // already revoked: nothing to do
  }
  await audit(ctx, { actor, action: "endpoint.revoke", target: endpointId });
}

type OsInfo = { platform: string; release: string; arch: string };

/** An enrolment request as the endpoint API validated it (the agent protocol's EnrollRequest). */
export interface EnrollmentInput {
  token: string;
  hostname?: string | undefined;
  os: OsInfo;
  agentVersion: string;
  tags?: string[] | undefined;
}

/**
 * Takes one use of the token and records a new endpoint (its hostname only when the policy
 * collects hostnames). Returns the endpoint's key, which is stored only as a hash.
 */
export async function enrollEndpoint(
  ctx: ServerContext,
  req: EnrollmentInput,
): Promise<{ endpointId: string; key: string }> {
  const label = await consumeEnrollmentToken(ctx, req.token);
  const policy = await getPolicy(ctx);
  const { endpointId, key, keyHash } = newEndpointKey();
  await ctx.store.db
    .insertInto("endpoints")
    .values({
      id: endpointId,
      key_hash: keyHash,
      hostname: policy.send.hostname ? (req.hostname ?? null) : null,
      os: JSON.stringify(req.os),
      agent_version: req.agentVersion,
      rules_version: null,
      checkpoint_origin: null,
      checkpoint_size: null,
      checkpoint_root: null,
      checkpoint_at: null,
      ledger_entries: null,
      ledger_head: null,
      ledger_at: null,
      enrolled_at: ctx.now(),
      enrolled_with: label,
      last_seen: null,
      revoked_at: null,
      revoked_by: null,
      tags: req.tags ? JSON.stringify(req.tags) : null,
    })
    .execute();
  ctx.log.info({ endpoint: endpointId, token: label }, "endpoint enrolled");
  return { endpointId, key };
}

/** A heartbeat as the endpoint API validated it (the agent protocol's Heartbeat). */
export interface HeartbeatInput {
  agentVersion: string;
  rulesVersion: string | null;
  checkpoint: { origin: string; size: number; rootHash: string } | null;
  os: OsInfo;
  hostname?: string | undefined;
  ledger?: { entries: number; head: string } | undefined;
  tags?: string[] | undefined;
}

/** Per context: the hour each endpoint's presence was last recorded, so a heartbeat inserts presence once an hour, not each time. */
const presenceHours = new WeakMap<ServerContext, Map<string, number>>();

/**
 * Records a heartbeat: versions, OS, the checkpoint the agent verified, its ledger head, the
 * hostname as the policy allows (dropped when it does not), and the hour of presence. Returns the
 * server's time and the policy version the endpoint should hold.
 */
export async function recordHeartbeat(
  ctx: ServerContext,
  endpointId: string,
  hb: HeartbeatInput,
): Promise<{ serverTime: number; policyVersion: number }> {
  const policy = await getPolicy(ctx, endpointId);
  const now = ctx.now();
  await ctx.store.db
    .updateTable("endpoints")
    .set({
      agent_version: hb.agentVersion,
      rules_version: hb.rulesVersion,
      os: JSON.stringify(hb.os),
      last_seen: now,
      ...(policy.send.hostname && hb.hostname !== undefined ? { hostname: hb.hostname } : {}),
      ...(!policy.send.hostname ? { hostname: null } : {}),
      ...(hb.checkpoint
        ? {
            checkpoint_origin: hb.checkpoint.origin,
            checkpoint_size: hb.checkpoint.size,
            checkpoint_root: hb.checkpoint.rootHash,
            checkpoint_at: now,
          }
        : {}),
      ...(hb.ledger ? { ledger_entries: hb.ledger.entries, ledger_head: hb.ledger.head, ledger_at: now } : {}),
      ...(hb.tags !== undefined ? { tags: JSON.stringify(hb.tags) } : {}),
    })
    .where("id", "=", endpointId)
    .execute();
  const hour = Math.floor(now / HOUR_MS);
  let seen = presenceHours.get(ctx);
  if (!seen) presenceHours.set(ctx, (seen = new Map()));
  if (seen.get(endpointId) !== hour) {
    await ctx.store.db
      .insertInto("endpoint_presence")
      .values({ endpoint_id: endpointId, hour })
      .onConflict((oc) => oc.columns(["endpoint_id", "hour"]).doNothing())
      .execute();
    seen.set(endpointId, hour);
  }
  // the effective policy after this heartbeat (its hostname, OS and tags choose groups)
  return { serverTime: now, policyVersion: (await getPolicy(ctx, endpointId)).version };
}
