/**
 * Detections the endpoints report: storing a batch (idempotent by the agent's id, the path only
 * when the policy collects paths; what was new is grouped into alerts, alerts.ts), the listing with filters (and its count, for pagers), counts
 * per endpoint, detections per day by severity, and the rules and endpoints with the most
 * detections. Time buckets are integer division of millisecond times (both dialects truncate).
 */
import { randomUUID } from "node:crypto";
import { sql, type Kysely, type Selectable } from "kysely";
import type { ServerContext } from "../context.js";
import { containsPattern, countRows, prefixOf } from "../db/query.js";
import type { Database } from "../db/schema.js";
import { DAY_MS } from "../time.js";
import { groupIntoAlerts } from "./alerts.js";
import { getPolicy } from "./policy.js";

export type Severity = "low" | "medium" | "high" | "critical";
export const SEVERITIES: readonly Severity[] = ["low", "medium", "high", "critical"];

export interface DetectionInfo {
  id: string;
  endpointId: string;
  hostname: string | null;
  clientId: string;
  time: number;
  receivedAt: number;
  /** The signature name the endpoint showed (the rule when an older agent sent none). */
  name: string;
  /** The rule that matched (the same as `name` for most engines). */
  rule: string;
  severity: Severity;
  bundleVersion: string | null;
  sha256: string;
  size: number | null;
  fileType: string | null;
  action: string;
  path: string | null;
}

/** A detection as the endpoint API validated it (the agent protocol's Detection). */
export interface DetectionInput {
  /** The agent's id for it: a repeat is counted once. */
  id: string;
  time: number;
  rule: string;
  name?: string | undefined;
  severity: Severity;
  bundleVersion: string | null;
  sha256: string;
  size: number | null;
  fileType: string | null;
  action: string;
  path?: string | undefined;
}

/** Stores an endpoint's detections; repeats (earlier batches or the same batch) count as duplicates. */
export async function storeDetections(
  ctx: ServerContext,
  endpointId: string,
  detections: DetectionInput[],
): Promise<{ accepted: number; duplicates: number }> {
  const policy = await getPolicy(ctx, endpointId);
  const now = ctx.now();
  const rows = detections.map((d) => ({
    id: randomUUID(),
    endpoint_id: endpointId,
    client_id: d.id,
    time: d.time,
    received_at: now,
    rule: d.rule,
    // stored only where it differs: null means "the rule is the name"
    name: d.name !== undefined && d.name !== d.rule ? d.name : null,
    severity: d.severity,
    bundle_version: d.bundleVersion,
    sha256: d.sha256,
    sha256_prefix: prefixOf(d.sha256),
    size: d.size,
    file_type: d.fileType,
    action: d.action,
    path: policy.send.path ? (d.path ?? null) : null,
  }));
  let accepted = 0;
  for (let i = 0; i < rows.length; i += 500) {
    // both dialects return only the rows inserted (not the repeats the conflict clause skipped)
    const stored = await ctx.store.db
      .insertInto("detections")
      .values(rows.slice(i, i + 500))
      .onConflict((oc) => oc.columns(["endpoint_id", "client_id"]).doNothing())
      .returning(["sha256", "rule", "name", "severity", "time"])
      .execute();
    accepted += stored.length;
    await groupIntoAlerts(
      ctx,
      endpointId,
      stored.map((r) => ({ ...r, time: Number(r.time) })),
    );
  }
  // ON CONFLICT DO NOTHING also absorbs repeats inside one batch; they count as duplicates
  if (accepted > 0) ctx.log.info({ endpoint: endpointId, accepted }, "detections received");
  return { accepted, duplicates: rows.length - accepted };
}

export interface DetectionQuery {
  /** Exactly this endpoint. */
  endpointId?: string | undefined;
  /** An endpoint id, or part of a hostname (case-insensitive). */
  endpoint?: string | undefined;
  /** Exactly this rule. */
  rule?: string | undefined;
  /** Part of the rule or of the signature name (case-insensitive). */
  ruleContains?: string | undefined;
  severity?: Severity | undefined;
  sha256?: string | undefined;
  since?: number | undefined;
  until?: number | undefined;
  limit?: number | undefined;
  offset?: number | undefined;
}

function detectionsWhere(db: Kysely<Database>, q: DetectionQuery) {
  let query = db.selectFrom("detections as d").leftJoin("endpoints as e", "e.id", "d.endpoint_id");
  if (q.endpointId) query = query.where("d.endpoint_id", "=", q.endpointId);
  if (q.endpoint) {
    const ep = q.endpoint;
    query = query.where((eb) =>
      eb.or([eb("d.endpoint_id", "=", ep), sql<boolean>`lower(e.hostname) like ${containsPattern(ep)} escape '\\'`]),
    );
  }
  if (q.rule) query = query.where("d.rule", "=", q.rule);
  if (q.ruleContains) {
    const pat = containsPattern(q.ruleContains);
    query = query.where(sql<boolean>`(lower(d.rule) like ${pat} escape '\\' or lower(d.name) like ${pat} escape '\\')`);
  }
  if (q.severity) query = query.where("d.severity", "=", q.severity);
  if (q.sha256) query = query.where("d.sha256", "=", q.sha256);
  if (q.since !== undefined) query = query.where("d.time", ">=", q.since);
  if (q.until !== undefined) query = query.where("d.time", "<", q.until);
  return query;
}

/** The detections a query selects, newest first (no paging: `listDetections` pages, exports stream). */
export function detectionsOrdered(db: Kysely<Database>, q: DetectionQuery = {}) {
  return detectionsWhere(db, q).selectAll("d").select("e.hostname").orderBy("d.time", "desc").orderBy("d.id", "desc");
}

/** Newest first (by the time on the endpoint, then id). */
export async function listDetections(ctx: ServerContext, q: DetectionQuery = {}): Promise<DetectionInfo[]> {
  const rows = await detectionsOrdered(ctx.store.db, q)
    .limit(Math.min(Math.max(q.limit ?? 100, 1), 5000))
    .offset(Math.max(q.offset ?? 0, 0))
    .execute();
  return rows.map(detectionInfo);
}

/** A detections row (with the endpoint's hostname) as the API shows it. */
export function detectionInfo(r: Selectable<Database["detections"]> & { hostname: string | null }): DetectionInfo {
  return {
    id: r.id,
    endpointId: r.endpoint_id,
    hostname: r.hostname ?? null,
    clientId: r.client_id,
    time: Number(r.time),
    receivedAt: Number(r.received_at),
    name: r.name ?? r.rule,
    rule: r.rule,
    severity: r.severity,
    bundleVersion: r.bundle_version,
    sha256: r.sha256,
    size: r.size === null ? null : Number(r.size),
    fileType: r.file_type,
    action: r.action,
    path: r.path,
  };
}

/** How many detections `listDetections` would page through. */
export async function countDetections(ctx: ServerContext, q: DetectionQuery = {}): Promise<number> {
  return countRows(detectionsWhere(ctx.store.db, q));
}

/** Detections per endpoint at or after `since`, for the given endpoints (absent: none). */
export async function detectionCountsByEndpoint(
  ctx: ServerContext,
  endpointIds: string[],
  since: number,
): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  if (endpointIds.length === 0) return counts;
  const rows = await ctx.store.db
    .selectFrom("detections")
    .select(["endpoint_id", sql<number>`count(*)`.as("n")])
    .where("endpoint_id", "in", endpointIds)
    .where("time", ">=", since)
    .groupBy("endpoint_id")
    .execute();
  for (const r of rows) counts.set(r.endpoint_id, Number(r.n));
  return counts;
}

/** Detections per UTC day and severity, `days` days ending today. */
export interface DailySeverity {
  /** Day numbers (floor(ms / 8.64e7)), oldest first. */
  days: number[];
  counts: Record<Severity, number[]>;
  total: number;
}

export async function detectionsPerDay(ctx: ServerContext, days = 30, endpointId?: string): Promise<DailySeverity> {
  const today = Math.floor(ctx.now() / DAY_MS);
  const first = today - days + 1;
  const dayExpr = sql<number>`time / ${sql.lit(DAY_MS)}`;
  let q = ctx.store.db
    .selectFrom("detections")
    .select([dayExpr.as("day"), "severity", sql<number>`count(*)`.as("n")])
    .where("time", ">=", first * DAY_MS)
    .where("time", "<", (today + 1) * DAY_MS);
  if (endpointId) q = q.where("endpoint_id", "=", endpointId);
  const rows = await q.groupBy([dayExpr, "severity"]).execute();
  const dayList = Array.from({ length: days }, (_, i) => first + i);
  const counts = Object.fromEntries(SEVERITIES.map((s) => [s, new Array<number>(days).fill(0)])) as Record<
    Severity,
    number[]
  >;
  let total = 0;
  for (const r of rows) {
    const i = Math.floor(Number(r.day)) - first;
    const sev = r.severity as Severity;
    if (i < 0 || i >= days || !counts[sev]) continue;
    counts[sev][i]! += Number(r.n);
    total += Number(r.n);
  }
  return { days: dayList, counts, total };
}

export interface TopRule {
  rule: string;
  /** The signature name endpoints showed for it (the rule when none was sent). */
  name: string;
  count: number;
  endpoints: number;
  lastSeen: number;
  severity: Severity;
}

const SEVERITY_CASE = sql<number>`max(case severity when 'critical' then 4 when 'high' then 3 when 'medium' then 2 else 1 end)`;
const RANK_SEVERITY: Record<number, Severity> = { 1: "low", 2: "medium", 3: "high", 4: "critical" };

/** The rules with the most detections at or after `since`. */
export async function topRules(ctx: ServerContext, since: number, limit = 10): Promise<TopRule[]> {
  const rows = await ctx.store.db
    .selectFrom("detections")
    .select([
      "rule",
      sql<string | null>`max(name)`.as("name"),
      sql<number>`count(*)`.as("n"),
      sql<number>`count(distinct endpoint_id)`.as("endpoints"),
      sql<number>`max(time)`.as("last"),
      SEVERITY_CASE.as("sev"),
    ])
    .where("time", ">=", since)
    .groupBy("rule")
    .orderBy(sql`count(*)`, "desc")
    .orderBy("rule")
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    rule: r.rule,
    name: r.name ?? r.rule,
    count: Number(r.n),
    endpoints: Number(r.endpoints),
    lastSeen: Number(r.last),
    severity: RANK_SEVERITY[Number(r.sev)] ?? "low",
  }));
}

export interface TopEndpoint {
  id: string;
  hostname: string | null;
  count: number;
  rules: number;
  lastSeen: number;
  severity: Severity;
}

/** The endpoints with the most detections at or after `since`. */
export async function topEndpoints(ctx: ServerContext, since: number, limit = 10): Promise<TopEndpoint[]> {
  const db = ctx.store.db;
  // aggregate first, then name only the winners (a join before grouping costs a lookup per row)
  const rows = await db
    .selectFrom("detections")
    .select([
      "endpoint_id as id",
      sql<number>`count(*)`.as("n"),
      sql<number>`count(distinct rule)`.as("rules"),
      sql<number>`max(time)`.as("last"),
      SEVERITY_CASE.as("sev"),
    ])
    .where("time", ">=", since)
    .groupBy("endpoint_id")
    .orderBy(sql`count(*)`, "desc")
    .orderBy("endpoint_id")
    .limit(limit)
    .execute();
  const names = new Map<string, string | null>();
  if (rows.length) {
    const eps = await db
      .selectFrom("endpoints")
      .select(["id", "hostname"])
      .where(
        "id",
        "in",
        rows.map((r) => r.id),
      )
      .execute();
    for (const e of eps) names.set(e.id, e.hostname);
  }
  return rows.map((r) => ({
    id: r.id,
    hostname: names.get(r.id) ?? null,
    count: Number(r.n),
    rules: Number(r.rules),
    lastSeen: Number(r.last),
    severity: RANK_SEVERITY[Number(r.sev)] ?? "low",
  }));
}
