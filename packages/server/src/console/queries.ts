/**
 * The console's read queries: one Kysely code path for SQLite and PostgreSQL. Writes never
 * happen here (the services own them and write the audit log).
 *
 * Portability notes: aggregates are wrapped in Number() (pg returns numeric for sum()),
 * constants inside arithmetic are literals (sql.lit) so pg never has to guess a parameter's
 * type, and time buckets are integer division of millisecond times (both dialects truncate).
 */
import { sql, type Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import { containsPattern, countRows, prefixPattern } from "../db/query.js";

export { containsPattern, prefixPattern };
import { STALE_AFTER_HEARTBEATS } from "../services/endpoints.js";

type Db = Kysely<Database>;

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

export type Severity = "low" | "medium" | "high" | "critical";
export const SEVERITIES: readonly Severity[] = ["low", "medium", "high", "critical"];
export type EndpointStatus = "online" | "stale" | "offline" | "never" | "revoked";
export const STATUSES: readonly EndpointStatus[] = ["online", "stale", "offline", "never", "revoked"];

/** The subset of the data policy the console reads; the full shape lives in the agent protocol. */
export interface PolicyView {
  version: number;
  send: { path: boolean; hostname: boolean; scanSummaries: boolean; inventory?: boolean };
  reputation: { enabled: boolean };
  samples: { enabled: boolean; maxBytes: number; fileTypes: string[] };
  heartbeatSeconds: number;
}

/** Mirrors the protocol's DEFAULT_POLICY: what endpoints get before an admin saves one. */
export const FALLBACK_POLICY: PolicyView = {
  version: 1,
  send: { path: false, hostname: true, scanSummaries: true, inventory: true },
  reputation: { enabled: true },
  samples: { enabled: false, maxBytes: 10 * 1024 * 1024, fileTypes: ["pe", "elf", "macho"] },
  heartbeatSeconds: 300,
};

export interface StoredPolicy {
  policy: PolicyView;
  version: number;
  updatedAt: number | null;
  updatedBy: string | null;
  /** false when no row exists yet (the default applies). */
  stored: boolean;
}

export async function readPolicy(db: Db): Promise<StoredPolicy> {
  const row = await db.selectFrom("policy").selectAll().where("id", "=", 1).executeTakeFirst();
  if (!row) return { policy: FALLBACK_POLICY, version: FALLBACK_POLICY.version, updatedAt: null, updatedBy: null, stored: false };
  let parsed: Partial<PolicyView> = {};
  try {
    parsed = JSON.parse(row.body) as Partial<PolicyView>;
  } catch {
    // a damaged row shows as the default rather than breaking every page
  }
  const policy: PolicyView = {
    ...FALLBACK_POLICY,
    ...parsed,
    send: { ...FALLBACK_POLICY.send, ...(parsed.send ?? {}) },
    reputation: { ...FALLBACK_POLICY.reputation, ...(parsed.reputation ?? {}) },
    samples: { ...FALLBACK_POLICY.samples, ...(parsed.samples ?? {}) },
  };
  return { policy, version: Number(row.version), updatedAt: Number(row.updated_at), updatedBy: row.updated_by, stored: true };
}

/** Status thresholds from the policy's heartbeat interval. */
export interface Thresholds {
  now: number;
  /** last_seen at or after this: online (STALE_AFTER_HEARTBEATS intervals, as the admin API counts). */
  onlineSince: number;
  /** last_seen at or after this (and not online): stale (24 hours). */
  staleSince: number;
}

export function thresholds(heartbeatSeconds: number, now: number): Thresholds {
  const onlineSince = now - STALE_AFTER_HEARTBEATS * heartbeatSeconds * 1000;
  // with a heartbeat of 12 h or more "online" already covers a day: stale then starts there
  return { now, onlineSince, staleSince: Math.min(onlineSince, now - DAY_MS) };
}

export function statusOf(e: { last_seen: number | null; revoked_at: number | null }, t: Thresholds): EndpointStatus {
  if (e.revoked_at !== null) return "revoked";
  if (e.last_seen === null) return "never";
  if (e.last_seen >= t.onlineSince) return "online";
  if (e.last_seen >= t.staleSince) return "stale";
  return "offline";
}

function statusCondition(status: EndpointStatus, t: Thresholds) {
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

export type FleetCounts = Record<EndpointStatus, number> & { total: number };

export async function fleetCounts(db: Db, t: Thresholds): Promise<FleetCounts> {
  const row = await db
    .selectFrom("endpoints")
    .select([
      sql<number>`count(*)`.as("total"),
      sql<number>`sum(case when revoked_at is not null then 1 else 0 end)`.as("revoked"),
      sql<number>`sum(case when revoked_at is null and last_seen is null then 1 else 0 end)`.as("never"),
      sql<number>`sum(case when revoked_at is null and last_seen >= ${t.onlineSince} then 1 else 0 end)`.as("online"),
      sql<number>`sum(case when revoked_at is null and last_seen < ${t.onlineSince} and last_seen >= ${t.staleSince} then 1 else 0 end)`.as("stale"),
      sql<number>`sum(case when revoked_at is null and last_seen < ${t.staleSince} then 1 else 0 end)`.as("offline"),
    ])
    .executeTakeFirstOrThrow();
  return {
    total: Number(row.total ?? 0),
    revoked: Number(row.revoked ?? 0),
    never: Number(row.never ?? 0),
    online: Number(row.online ?? 0),
    stale: Number(row.stale ?? 0),
    offline: Number(row.offline ?? 0),
  };
}

export interface CheckIn {
  id: string;
  hostname: string | null;
  lastSeen: number;
  status: EndpointStatus;
  agentVersion: string | null;
}

/** The endpoints heard from most recently (the fleet card's "last check-ins"). */
export async function latestCheckIns(db: Db, t: Thresholds, limit = 5): Promise<CheckIn[]> {
  const rows = await db
    .selectFrom("endpoints")
    .select(["id", "hostname", "last_seen", "revoked_at", "agent_version"])
    .where("last_seen", "is not", null)
    .where("revoked_at", "is", null)
    .orderBy("last_seen", "desc")
    .orderBy("id")
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    id: r.id,
    hostname: r.hostname,
    lastSeen: Number(r.last_seen),
    status: statusOf({ last_seen: Number(r.last_seen), revoked_at: null }, t),
    agentVersion: r.agent_version,
  }));
}

/** Endpoints heard from per hour: `days` x 24 cells (UTC), oldest day first. */
export interface HeatMap {
  /** First hour (floor(ms / 3.6e6)) of the first day shown. */
  startHour: number;
  days: number;
  /** counts[d][h]: distinct endpoints heard from in that hour. */
  counts: number[][];
  max: number;
}

export async function presenceHeatMap(db: Db, now: number, days = 30): Promise<HeatMap> {
  const todayStartHour = Math.floor(now / DAY_MS) * 24;
  const startHour = todayStartHour - (days - 1) * 24;
  const rows = await db
    .selectFrom("endpoint_presence")
    .select(["hour", sql<number>`count(*)`.as("n")])
    .where("hour", ">=", startHour)
    .where("hour", "<", todayStartHour + 24)
    .groupBy("hour")
    .execute();
  const counts = Array.from({ length: days }, () => new Array<number>(24).fill(0));
  let max = 0;
  for (const r of rows) {
    const off = Number(r.hour) - startHour;
    const n = Number(r.n);
    counts[Math.floor(off / 24)]![off % 24] = n;
    if (n > max) max = n;
  }
  return { startHour, days, counts, max };
}

/** Detections per UTC day and severity, `days` days ending today. */
export interface DailySeverity {
  /** Day numbers (floor(ms / 8.64e7)), oldest first. */
  days: number[];
  counts: Record<Severity, number[]>;
  total: number;
}

export async function detectionsPerDay(db: Db, now: number, days = 30, endpointId?: string): Promise<DailySeverity> {
  const today = Math.floor(now / DAY_MS);
  const first = today - days + 1;
  const dayExpr = sql<number>`time / ${sql.lit(DAY_MS)}`;
  let q = db
    .selectFrom("detections")
    .select([dayExpr.as("day"), "severity", sql<number>`count(*)`.as("n")])
    .where("time", ">=", first * DAY_MS)
    .where("time", "<", (today + 1) * DAY_MS);
  if (endpointId) q = q.where("endpoint_id", "=", endpointId);
  const rows = await q.groupBy([dayExpr, "severity"]).execute();
  const dayList = Array.from({ length: days }, (_, i) => first + i);
  const counts = Object.fromEntries(SEVERITIES.map((s) => [s, new Array<number>(days).fill(0)])) as Record<Severity, number[]>;
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
  count: number;
  endpoints: number;
  lastSeen: number;
  severity: Severity;
}

const SEVERITY_CASE = sql<number>`max(case severity when 'critical' then 4 when 'high' then 3 when 'medium' then 2 else 1 end)`;
const RANK_SEVERITY: Record<number, Severity> = { 1: "low", 2: "medium", 3: "high", 4: "critical" };

export async function topRules(db: Db, since: number, limit = 10): Promise<TopRule[]> {
  const rows = await db
    .selectFrom("detections")
    .select([
      "rule",
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

export async function topEndpoints(db: Db, since: number, limit = 10): Promise<TopEndpoint[]> {
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
    const eps = await db.selectFrom("endpoints").select(["id", "hostname"]).where("id", "in", rows.map((r) => r.id)).execute();
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

/**
 * Orders rule-bundle versions: runs of digits compare as numbers, the rest as text, so
 * "rules-10" > "rules-9" and "1.10.0" > "1.9.3".
 */
export function compareRuleVersions(a: string, b: string): number {
  const pa = a.match(/\d+|\D+/g) ?? [];
  const pb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i], y = pb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d/.test(x), ny = /^\d/.test(y);
    if (nx && ny) {
      const d = Number(x) - Number(y);
      if (d !== 0) return d;
    } else if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

export interface FreshnessRow {
  id: string;
  hostname: string | null;
  rulesVersion: string | null;
  checkpointSize: number | null;
  checkpointAt: number | null;
  lastSeen: number | null;
  /** Why it is flagged: outdated rules, no rules, old or missing checkpoint. */
  reasons: string[];
}

export interface Freshness {
  newest: string | null;
  /** Active (not revoked, heard from at least once) endpoints considered. */
  considered: number;
  current: number;
  /** How many flagged endpoints are on the list (the rest were cut by `limit`). */
  flagged: FreshnessRow[];
  flaggedTotal: number;
  /** Endpoints per reason (one endpoint can have several). */
  reasons: { outdated: number; noRules: number; noCheckpoint: number; oldCheckpoint: number; behindLog: number };
  maxCheckpointAgeDays: number;
}

/**
 * Rules freshness: endpoints not on the newest rules version any endpoint reports, or whose
 * last verified checkpoint is older than `maxCheckpointAgeDays` (or missing). Endpoints never
 * heard from and revoked ones are left out: they have nothing to report.
 */
export async function rulesFreshness(db: Db, now: number, maxCheckpointAgeDays = 3, limit = 50, logSize?: number): Promise<Freshness> {
  const versions = await db
    .selectFrom("endpoints")
    .select("rules_version")
    .distinct()
    .where("revoked_at", "is", null)
    .where("rules_version", "is not", null)
    .execute();
  let newest: string | null = null;
  for (const v of versions) if (v.rules_version !== null && (newest === null || compareRuleVersions(v.rules_version, newest) > 0)) newest = v.rules_version;
  const oldCheckpoint = now - maxCheckpointAgeDays * DAY_MS;
  const base = db.selectFrom("endpoints").where("revoked_at", "is", null).where("last_seen", "is not", null);
  const flaggedWhere = (eb: any) => {
    const ors = [eb("rules_version", "is", null), eb("checkpoint_at", "is", null), eb("checkpoint_at", "<", oldCheckpoint)];
    if (newest !== null) ors.push(eb("rules_version", "<>", newest));
    if (logSize !== undefined) ors.push(eb("checkpoint_size", "<", logSize));
    return eb.or(ors);
  };
  const considered = await countRows(base);
  const flaggedCount = await countRows(base.where(flaggedWhere));
  const none = sql.lit(-1);
  const r: Record<string, number | null> = await base
    .select([
      sql<number>`sum(case when rules_version is not null and rules_version <> ${newest ?? ""} then 1 else 0 end)`.as("outdated"),
      sql<number>`sum(case when rules_version is null then 1 else 0 end)`.as("noRules"),
      sql<number>`sum(case when checkpoint_at is null then 1 else 0 end)`.as("noCheckpoint"),
      sql<number>`sum(case when checkpoint_at < ${oldCheckpoint} then 1 else 0 end)`.as("oldCheckpoint"),
      sql<number>`sum(case when checkpoint_size < ${logSize ?? none} then 1 else 0 end)`.as("behindLog"),
    ])
    .executeTakeFirstOrThrow();
  const rows = await base
    .select(["id", "hostname", "rules_version", "checkpoint_size", "checkpoint_at", "last_seen"])
    .where(flaggedWhere)
    .orderBy("last_seen", "desc")
    .limit(limit)
    .execute();
  const flagged = rows.map((r) => {
    const reasons: string[] = [];
    if (r.rules_version === null) reasons.push("no rules");
    else if (newest !== null && r.rules_version !== newest) reasons.push("outdated rules");
    if (r.checkpoint_at === null) reasons.push("no verified checkpoint");
    else if (Number(r.checkpoint_at) < oldCheckpoint) reasons.push(`checkpoint older than ${maxCheckpointAgeDays} days`);
    if (logSize !== undefined && r.checkpoint_size !== null && Number(r.checkpoint_size) < logSize) reasons.push(`checkpoint behind the log (${Number(r.checkpoint_size)} of ${logSize})`);
    return {
      id: r.id,
      hostname: r.hostname,
      rulesVersion: r.rules_version,
      checkpointSize: r.checkpoint_size === null ? null : Number(r.checkpoint_size),
      checkpointAt: r.checkpoint_at === null ? null : Number(r.checkpoint_at),
      lastSeen: r.last_seen === null ? null : Number(r.last_seen),
      reasons,
    };
  });
  const n = (k: string) => Number(r[k] ?? 0);
  return {
    newest,
    considered,
    current: considered - flaggedCount,
    flagged,
    flaggedTotal: flaggedCount,
    reasons: { outdated: newest === null ? 0 : n("outdated"), noRules: n("noRules"), noCheckpoint: n("noCheckpoint"), oldCheckpoint: n("oldCheckpoint"), behindLog: logSize === undefined ? 0 : n("behindLog") },
    maxCheckpointAgeDays,
  };
}

export type ActivityItem =
  | { kind: "audit"; time: number; id: string; username: string | null; action: string; target: string | null; detail: string | null; ip: string | null }
  | { kind: "detection"; time: number; id: string; endpointId: string; hostname: string | null; rule: string; severity: Severity; action: string };

/**
 * The dashboard feed: recent audit entries and recent detections, newest first. Detections are
 * ordered by their time on the endpoint (indexed); one that arrives late, from an agent that was
 * offline, sorts by when it happened.
 */
export async function activityFeed(db: Db, limit = 25): Promise<ActivityItem[]> {
  const audit = await db.selectFrom("audit_log").selectAll().orderBy("time", "desc").orderBy("id", "desc").limit(limit).execute();
  const dets = await db
    .selectFrom("detections as d")
    .leftJoin("endpoints as e", "e.id", "d.endpoint_id")
    .select(["d.id", "d.time", "d.endpoint_id", "e.hostname", "d.rule", "d.severity", "d.action"])
    .orderBy("d.time", "desc")
    .orderBy("d.id", "desc")
    .limit(limit)
    .execute();
  const items: ActivityItem[] = [
    ...audit.map((a) => ({ kind: "audit" as const, time: Number(a.time), id: a.id, username: a.username, action: a.action, target: a.target, detail: a.detail, ip: a.ip })),
    ...dets.map((d) => ({
      kind: "detection" as const,
      time: Number(d.time),
      id: d.id,
      endpointId: d.endpoint_id,
      hostname: d.hostname,
      rule: d.rule,
      severity: d.severity as Severity,
      action: d.action,
    })),
  ];
  items.sort((a, b) => b.time - a.time);
  return items.slice(0, limit);
}

export interface EndpointRow {
  id: string;
  hostname: string | null;
  os: string | null;
  agentVersion: string | null;
  rulesVersion: string | null;
  checkpointSize: number | null;
  checkpointAt: number | null;
  enrolledAt: number;
  lastSeen: number | null;
  revokedAt: number | null;
  status: EndpointStatus;
  detections30d: number;
}

export interface EndpointFilter {
  status?: EndpointStatus | undefined;
  /** Part of the hostname, or the start of the id. */
  q?: string | undefined;
  limit: number;
  offset: number;
}

export async function listEndpoints(db: Db, t: Thresholds, f: EndpointFilter): Promise<{ rows: EndpointRow[]; total: number }> {
  let q = db.selectFrom("endpoints");
  if (f.status) q = q.where(statusCondition(f.status, t));
  if (f.q) {
    const contains = containsPattern(f.q), prefix = prefixPattern(f.q);
    q = q.where(sql<boolean>`(lower(hostname) like ${contains} escape '\\' or lower(id) like ${prefix} escape '\\')`);
  }
  const total = await countRows(q);
  const rows = await q
    .selectAll()
    .orderBy(sql`case when last_seen is null then 1 else 0 end`)
    .orderBy("last_seen", "desc")
    .orderBy("id")
    .limit(f.limit)
    .offset(f.offset)
    .execute();
  const counts = new Map<string, number>();
  if (rows.length) {
    const c = await db
      .selectFrom("detections")
      .select(["endpoint_id", sql<number>`count(*)`.as("n")])
      .where("endpoint_id", "in", rows.map((r) => r.id))
      .where("time", ">=", t.now - 30 * DAY_MS)
      .groupBy("endpoint_id")
      .execute();
    for (const r of c) counts.set(r.endpoint_id, Number(r.n));
  }
  return {
    total,
    rows: rows.map((r) => {
      const lastSeen = r.last_seen === null ? null : Number(r.last_seen);
      const revokedAt = r.revoked_at === null ? null : Number(r.revoked_at);
      return {
        id: r.id,
        hostname: r.hostname,
        os: r.os,
        agentVersion: r.agent_version,
        rulesVersion: r.rules_version,
        checkpointSize: r.checkpoint_size === null ? null : Number(r.checkpoint_size),
        checkpointAt: r.checkpoint_at === null ? null : Number(r.checkpoint_at),
        enrolledAt: Number(r.enrolled_at),
        lastSeen,
        revokedAt,
        status: statusOf({ last_seen: lastSeen, revoked_at: revokedAt }, t),
        detections30d: counts.get(r.id) ?? 0,
      };
    }),
  };
}

export interface EndpointDetail {
  id: string;
  hostname: string | null;
  os: string | null;
  agentVersion: string | null;
  rulesVersion: string | null;
  checkpoint: { origin: string | null; size: number | null; root: string | null; at: number | null };
  ledger: { entries: number | null; head: string | null };
  enrolledAt: number;
  enrolledWith: string | null;
  lastSeen: number | null;
  revokedAt: number | null;
  revokedBy: string | null;
  status: EndpointStatus;
}

export async function getEndpoint(db: Db, id: string, t: Thresholds): Promise<EndpointDetail | undefined> {
  const r = await db.selectFrom("endpoints").selectAll().where("id", "=", id).executeTakeFirst();
  if (!r) return undefined;
  const num = (v: number | null) => (v === null ? null : Number(v));
  const lastSeen = num(r.last_seen), revokedAt = num(r.revoked_at);
  return {
    id: r.id,
    hostname: r.hostname,
    os: r.os,
    agentVersion: r.agent_version,
    rulesVersion: r.rules_version,
    checkpoint: { origin: r.checkpoint_origin, size: num(r.checkpoint_size), root: r.checkpoint_root, at: num(r.checkpoint_at) },
    ledger: { entries: num(r.ledger_entries), head: r.ledger_head },
    enrolledAt: Number(r.enrolled_at),
    enrolledWith: r.enrolled_with,
    lastSeen,
    revokedAt,
    revokedBy: r.revoked_by,
    status: statusOf({ last_seen: lastSeen, revoked_at: revokedAt }, t),
  };
}

export interface DetectionRow {
  id: string;
  endpointId: string;
  hostname: string | null;
  time: number;
  receivedAt: number;
  rule: string;
  severity: Severity;
  bundleVersion: string | null;
  sha256: string;
  size: number | null;
  fileType: string | null;
  action: string;
  path: string | null;
}

export interface DetectionFilter {
  severity?: Severity | undefined;
  /** Part of the rule name. */
  rule?: string | undefined;
  /** Exact endpoint id, or part of a hostname. */
  endpoint?: string | undefined;
  /** Exactly this endpoint. */
  endpointId?: string | undefined;
  sha256?: string | undefined;
  since?: number | undefined;
  until?: number | undefined;
  limit: number;
  offset: number;
}

export async function listDetections(db: Db, f: DetectionFilter): Promise<{ rows: DetectionRow[]; total: number }> {
  let q = db.selectFrom("detections as d").leftJoin("endpoints as e", "e.id", "d.endpoint_id");
  if (f.severity) q = q.where("d.severity", "=", f.severity);
  if (f.rule) q = q.where(sql<boolean>`lower(d.rule) like ${containsPattern(f.rule)} escape '\\'`);
  if (f.endpoint) {
    const ep = f.endpoint;
    q = q.where((eb) => eb.or([eb("d.endpoint_id", "=", ep), sql<boolean>`lower(e.hostname) like ${containsPattern(ep)} escape '\\'`]));
  }
  if (f.endpointId) q = q.where("d.endpoint_id", "=", f.endpointId);
  if (f.sha256) q = q.where("d.sha256", "=", f.sha256);
  if (f.since !== undefined) q = q.where("d.time", ">=", f.since);
  if (f.until !== undefined) q = q.where("d.time", "<", f.until);
  const total = await countRows(q);
  const rows = await q
    .select([
      "d.id", "d.endpoint_id", "e.hostname", "d.time", "d.received_at", "d.rule", "d.severity", "d.bundle_version", "d.sha256", "d.size",
      "d.file_type", "d.action", "d.path",
    ])
    .orderBy("d.time", "desc")
    .orderBy("d.id", "desc")
    .limit(f.limit)
    .offset(f.offset)
    .execute();
  return { total, rows: rows.map(detectionRow) };
}

function detectionRow(r: {
  id: string; endpoint_id: string; hostname: string | null; time: number; received_at: number; rule: string; severity: string;
  bundle_version: string | null; sha256: string; size: number | null; file_type: string | null; action: string; path: string | null;
}): DetectionRow {
  return {
    id: r.id,
    endpointId: r.endpoint_id,
    hostname: r.hostname,
    time: Number(r.time),
    receivedAt: Number(r.received_at),
    rule: r.rule,
    severity: r.severity as Severity,
    bundleVersion: r.bundle_version,
    sha256: r.sha256,
    size: r.size === null ? null : Number(r.size),
    fileType: r.file_type,
    action: r.action,
    path: r.path,
  };
}

export interface ScanRow {
  id: string;
  startedAt: number;
  finishedAt: number;
  kind: string;
  files: number;
  bytes: number;
  detections: number;
  errors: number;
  bundleVersion: string | null;
}

export async function endpointScans(db: Db, endpointId: string, limit = 20): Promise<ScanRow[]> {
  const rows = await db.selectFrom("scans").selectAll().where("endpoint_id", "=", endpointId).orderBy("finished_at", "desc").limit(limit).execute();
  return rows.map((r) => ({
    id: r.id,
    startedAt: Number(r.started_at),
    finishedAt: Number(r.finished_at),
    kind: r.kind,
    files: Number(r.files),
    bytes: Number(r.bytes),
    detections: Number(r.detections),
    errors: Number(r.errors),
    bundleVersion: r.bundle_version,
  }));
}

export async function endpointPresenceHours(db: Db, endpointId: string, sinceHour: number): Promise<number> {
  return countRows(db.selectFrom("endpoint_presence").where("endpoint_id", "=", endpointId).where("hour", ">=", sinceHour));
}

export interface HashInfo {
  sha256: string;
  verdict: "malicious" | "suspicious" | "clean" | "unknown";
  name: string | null;
  source: string | null;
  verdictUpdatedAt: number | null;
  /** Distinct endpoints that reported it. */
  prevalence: number;
  detections: number;
  firstSeen: number | null;
  lastSeen: number | null;
  rules: string[];
}

/** The first 20 bits of a sha256 given as hex (at least 5 digits), as stored in sha256_prefix. */
export function prefix20(hex: string): number {
  return parseInt(hex.slice(0, 5), 16);
}

/**
 * Hashes known to the server (reported in detections or holding a verdict) whose hex starts with
 * `hexPrefix` (5 to 64 lowercase hex digits). The 20-bit integer prefix uses the indexes; the
 * text comparison narrows to the full prefix.
 */
export async function lookupHashes(db: Db, hexPrefix: string, limit = 100): Promise<{ rows: HashInfo[]; truncated: boolean }> {
  const p20 = prefix20(hexPrefix);
  const like = prefixPattern(hexPrefix);
  const full = hexPrefix.length === 64;
  let dq = db
    .selectFrom("detections")
    .select([
      "sha256",
      sql<number>`count(*)`.as("n"),
      sql<number>`count(distinct endpoint_id)`.as("endpoints"),
      sql<number>`min(time)`.as("first"),
      sql<number>`max(time)`.as("last"),
    ])
    .where("sha256_prefix", "=", p20);
  dq = full ? dq.where("sha256", "=", hexPrefix) : dq.where(sql<boolean>`sha256 like ${like} escape '\\'`);
  const det = await dq.groupBy("sha256").orderBy("sha256").limit(limit + 1).execute();
  let rq = db.selectFrom("reputation").selectAll().where("sha256_prefix", "=", p20);
  rq = full ? rq.where("sha256", "=", hexPrefix) : rq.where(sql<boolean>`sha256 like ${like} escape '\\'`);
  const rep = await rq.orderBy("sha256").limit(limit + 1).execute();
  const byHash = new Map<string, HashInfo>();
  const get = (h: string): HashInfo => {
    let v = byHash.get(h);
    if (!v) {
      v = { sha256: h, verdict: "unknown", name: null, source: null, verdictUpdatedAt: null, prevalence: 0, detections: 0, firstSeen: null, lastSeen: null, rules: [] };
      byHash.set(h, v);
    }
    return v;
  };
  for (const d of det) {
    const v = get(d.sha256);
    v.prevalence = Number(d.endpoints);
    v.detections = Number(d.n);
    v.firstSeen = Number(d.first);
    v.lastSeen = Number(d.last);
  }
  for (const r of rep) {
    const v = get(r.sha256);
    v.verdict = r.verdict;
    v.name = r.name;
    v.source = r.source;
    v.verdictUpdatedAt = Number(r.updated_at);
  }
  const hashes = [...byHash.keys()].sort().slice(0, limit);
  if (hashes.length) {
    const rules = await db.selectFrom("detections").select(["sha256", "rule"]).distinct().where("sha256", "in", hashes).execute();
    for (const r of rules) byHash.get(r.sha256)?.rules.push(r.rule);
  }
  return { rows: hashes.map((h) => byHash.get(h)!), truncated: byHash.size > limit };
}

export interface HashEndpoint {
  id: string;
  hostname: string | null;
  detections: number;
  firstSeen: number;
  lastSeen: number;
  paths: string[];
}

/** Which endpoints reported a hash (only for a full sha256). */
export async function hashEndpoints(db: Db, sha256: string, limit = 100): Promise<HashEndpoint[]> {
  const rows = await db
    .selectFrom("detections as d")
    .leftJoin("endpoints as e", "e.id", "d.endpoint_id")
    .select([
      "d.endpoint_id as id",
      sql<string | null>`max(e.hostname)`.as("hostname"),
      sql<number>`count(*)`.as("n"),
      sql<number>`min(d.time)`.as("first"),
      sql<number>`max(d.time)`.as("last"),
    ])
    .where("d.sha256_prefix", "=", prefix20(sha256))
    .where("d.sha256", "=", sha256)
    .groupBy("d.endpoint_id")
    .orderBy(sql`max(d.time)`, "desc")
    .limit(limit)
    .execute();
  const paths = await db
    .selectFrom("detections")
    .select(["endpoint_id", "path"])
    .distinct()
    .where("sha256", "=", sha256)
    .where("path", "is not", null)
    .limit(500)
    .execute();
  const byEp = new Map<string, string[]>();
  for (const p of paths) if (p.path !== null) (byEp.get(p.endpoint_id) ?? byEp.set(p.endpoint_id, []).get(p.endpoint_id)!).push(p.path);
  return rows.map((r) => ({
    id: r.id,
    hostname: r.hostname,
    detections: Number(r.n),
    firstSeen: Number(r.first),
    lastSeen: Number(r.last),
    paths: byEp.get(r.id) ?? [],
  }));
}

export interface AuditRow {
  id: string;
  time: number;
  username: string | null;
  action: string;
  target: string | null;
  detail: string | null;
  ip: string | null;
}

export async function auditLog(db: Db, f: { action?: string | undefined; user?: string | undefined; limit: number; offset: number }): Promise<{ rows: AuditRow[]; total: number }> {
  let q = db.selectFrom("audit_log");
  if (f.action) q = q.where(sql<boolean>`lower(action) like ${containsPattern(f.action)} escape '\\'`);
  if (f.user) q = q.where(sql<boolean>`lower(username) like ${containsPattern(f.user)} escape '\\'`);
  const total = await countRows(q);
  const rows = await q.selectAll().orderBy("time", "desc").orderBy("id", "desc").limit(f.limit).offset(f.offset).execute();
  return {
    total,
    rows: rows.map((r) => ({ id: r.id, time: Number(r.time), username: r.username, action: r.action, target: r.target, detail: r.detail, ip: r.ip })),
  };
}

export interface UserRow {
  id: string;
  username: string;
  role: "admin" | "analyst" | "viewer";
  createdAt: number;
  disabled: boolean;
  lastSeen: number | null;
}

export async function listUsers(db: Db): Promise<UserRow[]> {
  const rows = await db
    .selectFrom("users as u")
    .leftJoin("sessions as s", "s.user_id", "u.id")
    .select(["u.id", "u.username", "u.role", "u.created_at", "u.disabled", sql<number | null>`max(s.last_seen)`.as("last")])
    .groupBy(["u.id", "u.username", "u.role", "u.created_at", "u.disabled"])
    .orderBy("u.username")
    .execute();
  return rows.map((r) => ({
    id: r.id,
    username: r.username,
    role: r.role,
    createdAt: Number(r.created_at),
    disabled: Number(r.disabled) !== 0,
    lastSeen: r.last === null ? null : Number(r.last),
  }));
}

export interface TokenRow {
  id: string;
  label: string;
  createdBy: string;
  createdAt: number;
  expiresAt: number;
  usesLeft: number;
  lastUsedAt: number | null;
}

export async function listEnrollmentTokens(db: Db, limit = 50): Promise<TokenRow[]> {
  const rows = await db.selectFrom("enrollment_tokens").selectAll().orderBy("created_at", "desc").limit(limit).execute();
  return rows.map((r) => ({
    id: r.id,
    label: r.label,
    createdBy: r.created_by,
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
    usesLeft: Number(r.uses_left),
    lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at),
  }));
}

/**
 * Rows per table, for the health page. On PostgreSQL the planner's estimate (pg_class.reltuples,
 * kept by autovacuum) for big tables: an exact count(*) reads the whole table.
 */
export async function tableCounts(db: Db, dialect: "sqlite" | "postgres"): Promise<{ counts: Record<string, number>; estimated: string[] }> {
  const tables = ["endpoints", "detections", "scans", "reputation", "endpoint_presence", "audit_log", "users", "sessions"] as const;
  const out: Record<string, number> = {};
  const estimated: string[] = [];
  if (dialect === "postgres") {
    const est = await sql<{ relname: string; n: number }>`select relname, reltuples::bigint as n from pg_class where relkind = 'r' and relname in (${sql.join(tables.map((t) => sql.lit(t)))}) and relnamespace = current_schema()::regnamespace`.execute(db);
    for (const r of est.rows) {
      if (Number(r.n) >= 100_000) {
        out[r.relname] = Number(r.n);
        estimated.push(r.relname);
      }
    }
  }
  for (const t of tables) {
    if (t in out) continue;
    out[t] = await countRows(db.selectFrom(t));
  }
  return { counts: Object.fromEntries(tables.map((t) => [t, out[t]!])), estimated };
}

export async function connectedSince(db: Db, since: number): Promise<number> {
  return countRows(db.selectFrom("endpoints").where("revoked_at", "is", null).where("last_seen", ">=", since));
}

/** Endpoints heard from per hour over the last `hours` hours (oldest first). */
export async function presencePerHour(db: Db, now: number, hours = 48): Promise<{ startHour: number; counts: number[] }> {
  const current = Math.floor(now / HOUR_MS);
  const startHour = current - hours + 1;
  const rows = await db
    .selectFrom("endpoint_presence")
    .select(["hour", sql<number>`count(*)`.as("n")])
    .where("hour", ">=", startHour)
    .where("hour", "<=", current)
    .groupBy("hour")
    .execute();
  const counts = new Array<number>(hours).fill(0);
  for (const r of rows) counts[Number(r.hour) - startHour] = Number(r.n);
  return { startHour, counts };
}
