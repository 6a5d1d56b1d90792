/**
 * Hash reputation. The organisation (or an imported feed) records verdicts for hashes; agents
 * ask by a 20-bit prefix (k-anonymity: the server learns only which of ~1M buckets the file falls
 * in) and get every known hash under it with its verdict and fleet prevalence (distinct
 * endpoints that reported it). Analysts look a full hash up (audited); the console also lists
 * the known hashes under a prefix and which endpoints reported a hash.
 */
import type * as protocol from "@vigil/protocol";
import { sql } from "kysely";
import type { Actor, ServerContext } from "../context.js";
import { prefixOf, prefixPattern } from "../db/query.js";
import { ServerError } from "../error.js";
import { audit } from "./audit.js";

export { prefixOf };

export interface ReputationInput {
  sha256: string;
  verdict: "malicious" | "suspicious" | "clean";
  name?: string | null | undefined;
  source?: string | undefined;
}

const SHA_RE = /^[0-9a-f]{64}$/;

export async function addReputation(ctx: ServerContext, entries: ReputationInput[], actor: Actor): Promise<number> {
  if (entries.length === 0) return 0;
  if (entries.length > 10_000)
    throw new ServerError("SERVER_BAD_REQUEST", "at most 10000 entries at a time", { path: "entries" });
  const now = ctx.now();
  const rows = entries.map((e, i) => {
    const sha = e.sha256.toLowerCase();
    if (!SHA_RE.test(sha))
      throw new ServerError("SERVER_BAD_REQUEST", `entries.${i}.sha256: a hex sha256`, { path: `entries.${i}.sha256` });
    if (!["malicious", "suspicious", "clean"].includes(e.verdict))
      throw new ServerError("SERVER_BAD_REQUEST", `entries.${i}.verdict: malicious, suspicious or clean`, {
        path: `entries.${i}.verdict`,
      });
    return {
      sha256: sha,
      sha256_prefix: prefixOf(sha),
      verdict: e.verdict,
      name: e.name ?? null,
      source: e.source ?? `user:${actor.username}`,
      updated_at: now,
    };
  });
  // one statement per chunk keeps within both dialects' parameter limits
  for (let i = 0; i < rows.length; i += 500) {
    await ctx.store.db
      .insertInto("reputation")
      .values(rows.slice(i, i + 500))
      .onConflict((oc) =>
        oc.column("sha256").doUpdateSet((eb) => ({
          verdict: eb.ref("excluded.verdict"),
          name: eb.ref("excluded.name"),
          source: eb.ref("excluded.source"),
          updated_at: eb.ref("excluded.updated_at"),
        })),
      )
      .execute();
  }
  // the audit detail names how many and the verdicts, not the hashes (they are in the table)
  await audit(ctx, {
    actor,
    action: "reputation.add",
    target: `${rows.length} hashes`,
    detail: { verdicts: countBy(rows.map((r) => r.verdict)) },
  });
  return rows.length;
}

function countBy(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

/** Every known hash under a 5-hex-digit prefix: verdicts from the table, prevalence from detections. */
export async function reputationByPrefix(ctx: ServerContext, prefixHex: string): Promise<protocol.ReputationResponse> {
  const prefix = parseInt(prefixHex, 16);
  const [verdicts, seen] = await Promise.all([
    ctx.store.db
      .selectFrom("reputation")
      .select(["sha256", "verdict", "name"])
      .where("sha256_prefix", "=", prefix)
      .execute(),
    ctx.store.db
      .selectFrom("detections")
      .select(["sha256", (eb) => eb.fn.count<number>("endpoint_id").distinct().as("n")])
      .where("sha256_prefix", "=", prefix)
      .groupBy("sha256")
      .execute(),
  ]);
  const prevalence = new Map(seen.map((r) => [r.sha256, Number(r.n)]));
  const entries: protocol.ReputationEntry[] = verdicts.map((v) => ({
    sha256: v.sha256,
    verdict: v.verdict,
    name: v.name,
    prevalence: prevalence.get(v.sha256) ?? 0,
  }));
  const known = new Set(verdicts.map((v) => v.sha256));
  for (const [sha256, n] of prevalence)
    if (!known.has(sha256)) entries.push({ sha256, verdict: "unknown", name: null, prevalence: n });
  entries.sort((a, b) => (a.sha256 < b.sha256 ? -1 : 1));
  return { prefix: prefixHex, entries };
}

const SEVERITY_RANK = sql<number>`max(case severity when 'critical' then 4 when 'high' then 3 when 'medium' then 2 else 1 end)`;

/** The source shown for a verdict taken from the endpoints' detections rather than recorded by someone. */
export const DETECTED_SOURCE = "detections (no verdict recorded)";

/**
 * The verdict a hash has when nobody recorded one but endpoints detected it: malicious when a
 * detection was high or critical, suspicious otherwise; undefined when it was never detected.
 * A recorded verdict (a feed, an analyst, a false positive marked clean) always wins.
 */
function detectedVerdict(detections: number, severityRank: unknown): "malicious" | "suspicious" | undefined {
  if (!detections) return undefined;
  return Number(severityRank) >= 3 ? "malicious" : "suspicious";
}

/** What the server knows about one hash: its verdict (if any) and the detections of it. */
export interface HashSummary {
  sha256: string;
  verdict: "malicious" | "suspicious" | "clean" | "unknown";
  name: string | null;
  source: string | null;
  /** When the verdict was recorded. */
  updatedAt: number | null;
  /** Distinct endpoints that reported it. */
  prevalence: number;
  detections: number;
  firstSeen: number | null;
  lastSeen: number | null;
}

export interface HashReport extends HashSummary {
  endpoints: string[];
}

/** Everything the server knows about one full hash (analysts; the lookup is audited, not logged). */
export async function lookupHash(ctx: ServerContext, sha256: string, actor: Actor): Promise<HashReport> {
  const sha = sha256.toLowerCase();
  if (!SHA_RE.test(sha)) throw new ServerError("SERVER_BAD_REQUEST", "a hex sha256 (64 digits)", { path: "sha256" });
  const rep = await ctx.store.db.selectFrom("reputation").selectAll().where("sha256", "=", sha).executeTakeFirst();
  const agg = await ctx.store.db
    .selectFrom("detections")
    .select((eb) => [
      eb.fn.countAll<number>().as("n"),
      eb.fn.min<number>("time").as("first"),
      eb.fn.max<number>("time").as("last"),
      SEVERITY_RANK.as("sev"),
      sql<string | null>`max(coalesce(name, rule))`.as("name"),
    ])
    .where("sha256_prefix", "=", prefixOf(sha))
    .where("sha256", "=", sha)
    .executeTakeFirstOrThrow();
  const eps = await ctx.store.db
    .selectFrom("detections")
    .select("endpoint_id")
    .distinct()
    .where("sha256_prefix", "=", prefixOf(sha))
    .where("sha256", "=", sha)
    .limit(1000)
    .execute();
  await audit(ctx, { actor, action: "reputation.lookup", target: sha });
  const derived = detectedVerdict(Number(agg.n), agg.sev);
  return {
    sha256: sha,
    verdict: rep?.verdict ?? derived ?? "unknown",
    name: rep ? rep.name : derived ? agg.name : null,
    source: rep?.source ?? (derived ? DETECTED_SOURCE : null),
    updatedAt: rep ? Number(rep.updated_at) : null,
    prevalence: eps.length,
    detections: Number(agg.n),
    firstSeen: agg.first === null ? null : Number(agg.first),
    lastSeen: agg.last === null ? null : Number(agg.last),
    endpoints: eps.map((e) => e.endpoint_id),
  };
}

/**
 * Hashes known to the server (reported in detections or holding a verdict) whose hex starts with
 * `hexPrefix` (5 to 64 lowercase hex digits), each with the detection names it was reported under. The 20-bit
 * integer prefix uses the indexes; the text comparison narrows to the full prefix.
 */
export async function lookupHashes(
  ctx: ServerContext,
  hexPrefix: string,
  limit = 100,
): Promise<{ rows: Array<HashSummary & { rules: string[] }>; truncated: boolean }> {
  if (!/^[0-9a-f]{5,64}$/.test(hexPrefix))
    throw new ServerError("SERVER_BAD_REQUEST", "a prefix of 5 to 64 lowercase hex digits", { path: "prefix" });
  const db = ctx.store.db;
  const p20 = prefixOf(hexPrefix);
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
      SEVERITY_RANK.as("sev"),
    ])
    .where("sha256_prefix", "=", p20);
  dq = full ? dq.where("sha256", "=", hexPrefix) : dq.where(sql<boolean>`sha256 like ${like} escape '\\'`);
  const det = await dq
    .groupBy("sha256")
    .orderBy("sha256")
    .limit(limit + 1)
    .execute();
  let rq = db.selectFrom("reputation").selectAll().where("sha256_prefix", "=", p20);
  rq = full ? rq.where("sha256", "=", hexPrefix) : rq.where(sql<boolean>`sha256 like ${like} escape '\\'`);
  const rep = await rq
    .orderBy("sha256")
    .limit(limit + 1)
    .execute();
  const byHash = new Map<string, HashSummary & { rules: string[] }>();
  const get = (h: string) => {
    let v = byHash.get(h);
    if (!v) {
      v = {
        sha256: h,
        verdict: "unknown",
        name: null,
        source: null,
        updatedAt: null,
        prevalence: 0,
        detections: 0,
        firstSeen: null,
        lastSeen: null,
        rules: [],
      };
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
    const derived = detectedVerdict(v.detections, d.sev);
    if (derived) {
      v.verdict = derived;
      v.source = DETECTED_SOURCE;
    }
  }
  for (const r of rep) {
    const v = get(r.sha256);
    v.verdict = r.verdict; // a recorded verdict wins over one derived from detections
    v.name = r.name;
    v.source = r.source;
    v.updatedAt = Number(r.updated_at);
  }
  const hashes = [...byHash.keys()].sort().slice(0, limit);
  if (hashes.length) {
    const rules = await db
      .selectFrom("detections")
      .select(["sha256", sql<string>`coalesce(name, rule)`.as("rule")])
      .distinct()
      .where("sha256", "in", hashes)
      .execute();
    for (const r of rules) byHash.get(r.sha256)?.rules.push(r.rule); // the names endpoints showed
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

/** Which endpoints reported a full hash, most recent first, with the paths the policy let them send. */
export async function hashEndpoints(ctx: ServerContext, sha256: string, limit = 100): Promise<HashEndpoint[]> {
  const db = ctx.store.db;
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
    .where("d.sha256_prefix", "=", prefixOf(sha256))
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
  for (const p of paths)
    if (p.path !== null) (byEp.get(p.endpoint_id) ?? byEp.set(p.endpoint_id, []).get(p.endpoint_id)!).push(p.path);
  return rows.map((r) => ({
    id: r.id,
    hostname: r.hostname,
    detections: Number(r.n),
    firstSeen: Number(r.first),
    lastSeen: Number(r.last),
    paths: byEp.get(r.id) ?? [],
  }));
}
