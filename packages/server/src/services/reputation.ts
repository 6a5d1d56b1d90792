/**
 * Hash reputation. The organisation (or an imported feed) records verdicts for hashes; agents
 * ask by a 20-bit prefix (k-anonymity: the server learns only which of ~1M buckets the file falls
 * in) and get every known hash under it with its verdict and fleet prevalence (distinct
 * endpoints that reported it). Analysts can look a full hash up through the admin API.
 */
import * as protocol from "@vigil/protocol";
import type { Actor, ServerContext } from "../context.js";
import { ServerError } from "../error.js";
import { audit } from "./audit.js";

/** The first 20 bits of a hex sha256 as an integer. */
export function prefixOf(sha256: string): number {
  return parseInt(sha256.slice(0, 5), 16);
}

export interface ReputationInput {
  sha256: string;
  verdict: "malicious" | "suspicious" | "clean";
  name?: string | null | undefined;
  source?: string | undefined;
}

const SHA_RE = /^[0-9a-f]{64}$/;

export async function addReputation(ctx: ServerContext, entries: ReputationInput[], actor: Actor): Promise<number> {
  if (entries.length === 0) return 0;
  if (entries.length > 10_000) throw new ServerError("SERVER_BAD_REQUEST", "at most 10000 entries at a time", { path: "entries" });
  const now = ctx.now();
  const rows = entries.map((e, i) => {
    const sha = e.sha256.toLowerCase();
    if (!SHA_RE.test(sha)) throw new ServerError("SERVER_BAD_REQUEST", `entries.${i}.sha256: a hex sha256`, { path: `entries.${i}.sha256` });
    if (!["malicious", "suspicious", "clean"].includes(e.verdict)) throw new ServerError("SERVER_BAD_REQUEST", `entries.${i}.verdict: malicious, suspicious or clean`, { path: `entries.${i}.verdict` });
    return { sha256: sha, sha256_prefix: prefixOf(sha), verdict: e.verdict, name: e.name ?? null, source: e.source ?? `user:${actor.username}`, updated_at: now };
  });
  // one statement per chunk keeps within both dialects' parameter limits
  for (let i = 0; i < rows.length; i += 500) {
    await ctx.store.db
      .insertInto("reputation")
      .values(rows.slice(i, i + 500))
      .onConflict((oc) => oc.column("sha256").doUpdateSet((eb) => ({
        verdict: eb.ref("excluded.verdict"), name: eb.ref("excluded.name"), source: eb.ref("excluded.source"), updated_at: eb.ref("excluded.updated_at"),
      })))
      .execute();
  }
  // the audit detail names how many and the verdicts, not the hashes (they are in the table)
  await audit(ctx, { actor, action: "reputation.add", target: `${rows.length} hashes`, detail: { verdicts: countBy(rows.map((r) => r.verdict)) } });
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
    ctx.store.db.selectFrom("reputation").select(["sha256", "verdict", "name"]).where("sha256_prefix", "=", prefix).execute(),
    ctx.store.db
      .selectFrom("detections")
      .select(["sha256", (eb) => eb.fn.count<number>("endpoint_id").distinct().as("n")])
      .where("sha256_prefix", "=", prefix)
      .groupBy("sha256")
      .execute(),
  ]);
  const prevalence = new Map(seen.map((r) => [r.sha256, Number(r.n)]));
  const entries: protocol.ReputationEntry[] = verdicts.map((v) => ({ sha256: v.sha256, verdict: v.verdict, name: v.name, prevalence: prevalence.get(v.sha256) ?? 0 }));
  const known = new Set(verdicts.map((v) => v.sha256));
  for (const [sha256, n] of prevalence) if (!known.has(sha256)) entries.push({ sha256, verdict: "unknown", name: null, prevalence: n });
  entries.sort((a, b) => (a.sha256 < b.sha256 ? -1 : 1));
  return { prefix: prefixHex, entries };
}

export interface HashReport {
  sha256: string;
  verdict: "malicious" | "suspicious" | "clean" | "unknown";
  name: string | null;
  source: string | null;
  updatedAt: number | null;
  prevalence: number;
  detections: number;
  firstSeen: number | null;
  lastSeen: number | null;
  endpoints: string[];
}

/** Everything the server knows about one full hash (analysts; the lookup is audited, not logged). */
export async function lookupHash(ctx: ServerContext, sha256: string, actor: Actor): Promise<HashReport> {
  const sha = sha256.toLowerCase();
  if (!SHA_RE.test(sha)) throw new ServerError("SERVER_BAD_REQUEST", "a hex sha256 (64 digits)", { path: "sha256" });
  const rep = await ctx.store.db.selectFrom("reputation").selectAll().where("sha256", "=", sha).executeTakeFirst();
  const agg = await ctx.store.db
    .selectFrom("detections")
    .select((eb) => [eb.fn.countAll<number>().as("n"), eb.fn.min<number>("time").as("first"), eb.fn.max<number>("time").as("last")])
    .where("sha256_prefix", "=", prefixOf(sha))
    .where("sha256", "=", sha)
    .executeTakeFirstOrThrow();
  const eps = await ctx.store.db.selectFrom("detections").select("endpoint_id").distinct().where("sha256_prefix", "=", prefixOf(sha)).where("sha256", "=", sha).limit(1000).execute();
  await audit(ctx, { actor, action: "reputation.lookup", target: sha });
  return {
    sha256: sha,
    verdict: rep?.verdict ?? "unknown",
    name: rep?.name ?? null,
    source: rep?.source ?? null,
    updatedAt: rep ? Number(rep.updated_at) : null,
    prevalence: eps.length,
    detections: Number(agg.n),
    firstSeen: agg.first === null ? null : Number(agg.first),
    lastSeen: agg.last === null ? null : Number(agg.last),
    endpoints: eps.map((e) => e.endpoint_id),
  };
}
