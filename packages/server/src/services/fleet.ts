/**
 * The fleet as a whole: endpoints per status, presence (which endpoints were heard from in which
 * hour: the dashboard's heat-map, the health page's hourly chart, an endpoint's online hours),
 * rules freshness (who is behind the newest rules or the update log), and which checkpoints and
 * rules versions the fleet reports (the update-log page).
 *
 * Portability notes: aggregates are wrapped in Number() (pg returns numeric for sum()) and
 * constants inside arithmetic are literals (sql.lit) so pg never has to guess a parameter's type.
 */
import { sql, type Expression, type ExpressionBuilder, type SqlBool } from "kysely";
import type { ServerContext } from "../context.js";
import { countRows } from "../db/query.js";
import type { Database } from "../db/schema.js";
import { DAY_MS, HOUR_MS } from "../time.js";
import {
  STATUSES,
  endpointInfo,
  statusCondition,
  statusThresholds,
  type EndpointInfo,
  type EndpointStatus,
  type Thresholds,
} from "./endpoints.js";

export type FleetCounts = Record<EndpointStatus, number> & { total: number };

/** Endpoints per status (the same rule as each endpoint's own status), in one pass. */
export async function fleetCounts(ctx: ServerContext, t?: Thresholds): Promise<FleetCounts> {
  const th = t ?? (await statusThresholds(ctx));
  const row: Record<string, unknown> = await ctx.store.db
    .selectFrom("endpoints")
    .select([
      sql<number>`count(*)`.as("total"),
      ...STATUSES.map((s) => sql<number>`sum(case when ${statusCondition(s, th)} then 1 else 0 end)`.as(s)),
    ])
    .executeTakeFirstOrThrow();
  const n = (k: string) => Number(row[k] ?? 0);
  return {
    total: n("total"),
    online: n("online"),
    stale: n("stale"),
    offline: n("offline"),
    never: n("never"),
    revoked: n("revoked"),
  };
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

async function presenceByHour(
  ctx: ServerContext,
  fromHour: number,
  toHour: number,
): Promise<Array<{ hour: number; n: number }>> {
  const rows = await ctx.store.db
    .selectFrom("endpoint_presence")
    .select(["hour", sql<number>`count(*)`.as("n")])
    .where("hour", ">=", fromHour)
    .where("hour", "<=", toHour)
    .groupBy("hour")
    .execute();
  return rows.map((r) => ({ hour: Number(r.hour), n: Number(r.n) }));
}

export async function presenceHeatMap(ctx: ServerContext, days = 30): Promise<HeatMap> {
  const todayStartHour = Math.floor(ctx.now() / DAY_MS) * 24;
  const startHour = todayStartHour - (days - 1) * 24;
  const counts = Array.from({ length: days }, () => new Array<number>(24).fill(0));
  let max = 0;
  for (const { hour, n } of await presenceByHour(ctx, startHour, todayStartHour + 23)) {
    const off = hour - startHour;
    counts[Math.floor(off / 24)]![off % 24] = n;
    if (n > max) max = n;
  }
  return { startHour, days, counts, max };
}

/** Endpoints heard from per hour over the last `hours` hours (oldest first). */
export async function presencePerHour(
  ctx: ServerContext,
  hours = 48,
): Promise<{ startHour: number; counts: number[] }> {
  const current = Math.floor(ctx.now() / HOUR_MS);
  const startHour = current - hours + 1;
  const counts = new Array<number>(hours).fill(0);
  for (const { hour, n } of await presenceByHour(ctx, startHour, current)) counts[hour - startHour] = n;
  return { startHour, counts };
}

/** Hours since `sinceHour` in which the endpoint was heard from. */
export async function endpointPresenceHours(
  ctx: ServerContext,
  endpointId: string,
  sinceHour: number,
): Promise<number> {
  return countRows(
    ctx.store.db.selectFrom("endpoint_presence").where("endpoint_id", "=", endpointId).where("hour", ">=", sinceHour),
  );
}

/** Active endpoints heard from at or after `since`. */
export async function connectedSince(ctx: ServerContext, since: number): Promise<number> {
  return countRows(
    ctx.store.db.selectFrom("endpoints").where("revoked_at", "is", null).where("last_seen", ">=", since),
  );
}

/**
 * Orders rule-bundle versions: runs of digits compare as numbers, the rest as text, so
 * "rules-10" > "rules-9" and "1.10.0" > "1.9.3".
 */
export function compareRuleVersions(a: string, b: string): number {
  const pa = a.match(/\d+|\D+/g) ?? [];
  const pb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i],
      y = pb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d/.test(x),
      ny = /^\d/.test(y);
    if (nx && ny) {
      const d = Number(x) - Number(y);
      if (d !== 0) return d;
    } else if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

export interface Freshness {
  newest: string | null;
  /** Active (not revoked, heard from at least once) endpoints considered. */
  considered: number;
  current: number;
  /** Flagged endpoints heard from most recently (at most `limit`), each with why it is flagged. */
  flagged: Array<EndpointInfo & { reasons: string[] }>;
  flaggedTotal: number;
  /** Endpoints per reason (one endpoint can have several). */
  reasons: { outdated: number; noRules: number; noCheckpoint: number; oldCheckpoint: number; behindLog: number };
  maxCheckpointAgeDays: number;
}

export interface FreshnessQuery {
  maxCheckpointAgeDays?: number;
  limit?: number;
  /** The update log's size: endpoints whose checkpoint is smaller are behind it. */
  logSize?: number | undefined;
}

/**
 * Rules freshness: endpoints not on the newest rules version any endpoint reports, or whose
 * last verified checkpoint is older than `maxCheckpointAgeDays` (or missing) when the fleet uses
 * an update log. The checkpoint's age is when the endpoint last reported it in a heartbeat (it
 * re-verifies the log at each update check), not when it was signed. Endpoints never heard from
 * and revoked ones are left out: they have nothing to report.
 */
export async function rulesFreshness(ctx: ServerContext, q: FreshnessQuery = {}, t?: Thresholds): Promise<Freshness> {
  const { maxCheckpointAgeDays = 3, limit = 50, logSize } = q;
  const th = t ?? (await statusThresholds(ctx));
  const db = ctx.store.db;
  const versions = await db
    .selectFrom("endpoints")
    .select("rules_version")
    .distinct()
    .where("revoked_at", "is", null)
    .where("rules_version", "is not", null)
    .execute();
  let newest: string | null = null;
  for (const v of versions)
    if (v.rules_version !== null && (newest === null || compareRuleVersions(v.rules_version, newest) > 0))
      newest = v.rules_version;
  const oldCheckpoint = th.now - maxCheckpointAgeDays * DAY_MS;
  const base = db.selectFrom("endpoints").where("revoked_at", "is", null).where("last_seen", "is not", null);
  // A verified checkpoint is asked of endpoints only when the fleet uses an update log: the
  // server has one, or some endpoint reports one. A fleet without one (rules installed by other
  // means) would otherwise never count an endpoint on the newest rules as up to date.
  const usesLog =
    logSize !== undefined ||
    (await base.select("id").where("checkpoint_at", "is not", null).limit(1).executeTakeFirst()) !== undefined;
  const flaggedWhere = (eb: ExpressionBuilder<Database, "endpoints">) => {
    const ors: Array<Expression<SqlBool>> = [eb("rules_version", "is", null)];
    if (usesLog) ors.push(eb("checkpoint_at", "is", null), eb("checkpoint_at", "<", oldCheckpoint));
    if (newest !== null) ors.push(eb("rules_version", "<>", newest));
    if (logSize !== undefined) ors.push(eb("checkpoint_size", "<", logSize));
    return eb.or(ors);
  };
  const considered = await countRows(base);
  const flaggedCount = await countRows(base.where(flaggedWhere));
  const none = sql.lit(-1);
  const r: Record<string, unknown> = await base
    .select([
      sql<number>`sum(case when rules_version is not null and rules_version <> ${newest ?? ""} then 1 else 0 end)`.as(
        "outdated",
      ),
      sql<number>`sum(case when rules_version is null then 1 else 0 end)`.as("noRules"),
      sql<number>`sum(case when checkpoint_at is null then 1 else 0 end)`.as("noCheckpoint"),
      sql<number>`sum(case when checkpoint_at < ${oldCheckpoint} then 1 else 0 end)`.as("oldCheckpoint"),
      sql<number>`sum(case when checkpoint_size < ${logSize ?? none} then 1 else 0 end)`.as("behindLog"),
    ])
    .executeTakeFirstOrThrow();
  const rows = await base.selectAll().where(flaggedWhere).orderBy("last_seen", "desc").limit(limit).execute();
  const flagged = rows.map((row) => {
    const e = endpointInfo(row, th);
    const reasons: string[] = [];
    if (e.rulesVersion === null) reasons.push("no rules");
    else if (newest !== null && e.rulesVersion !== newest) reasons.push("outdated rules");
    const at = row.checkpoint_at === null ? null : Number(row.checkpoint_at);
    if (!usesLog) {
      /* no update log in use: checkpoints are not asked for */
    } else if (at === null) reasons.push("no verified checkpoint");
    else if (at < oldCheckpoint) reasons.push(`checkpoint older than ${maxCheckpointAgeDays} days`);
    const size = row.checkpoint_size === null ? null : Number(row.checkpoint_size);
    if (logSize !== undefined && size !== null && size < logSize)
      reasons.push(`checkpoint behind the log (${size} of ${logSize})`);
    return { ...e, reasons };
  });
  const n = (k: string) => Number(r[k] ?? 0);
  return {
    newest,
    considered,
    current: considered - flaggedCount,
    flagged,
    flaggedTotal: flaggedCount,
    reasons: {
      outdated: newest === null ? 0 : n("outdated"),
      noRules: n("noRules"),
      noCheckpoint: usesLog ? n("noCheckpoint") : 0,
      oldCheckpoint: usesLog ? n("oldCheckpoint") : 0,
      behindLog: logSize === undefined ? 0 : n("behindLog"),
    },
    maxCheckpointAgeDays,
  };
}

/** Active endpoints per reported checkpoint (log origin and tree size), largest trees first. */
export async function reportedCheckpoints(
  ctx: ServerContext,
  limit = 20,
): Promise<Array<{ origin: string | null; size: number | null; endpoints: number }>> {
  const rows = await ctx.store.db
    .selectFrom("endpoints")
    .select(["checkpoint_origin", "checkpoint_size", sql<number>`count(*)`.as("n")])
    .where("revoked_at", "is", null)
    .groupBy(["checkpoint_origin", "checkpoint_size"])
    .orderBy("checkpoint_size", "desc")
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    origin: r.checkpoint_origin,
    size: r.checkpoint_size === null ? null : Number(r.checkpoint_size),
    endpoints: Number(r.n),
  }));
}

/** Active endpoints reporting any of these rules versions. */
export async function endpointsOnRules(ctx: ServerContext, versions: string[]): Promise<number> {
  if (versions.length === 0) return 0;
  return countRows(
    ctx.store.db.selectFrom("endpoints").where("revoked_at", "is", null).where("rules_version", "in", versions),
  );
}
