/** Scan summaries the endpoints report (stored only when the policy collects them), newest first. */
import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import type { ServerContext } from "../context.js";
import type { Database } from "../db/schema.js";
import { getPolicy } from "./policy.js";

export interface ScanInfo {
  id: string;
  endpointId: string;
  clientId: string;
  startedAt: number;
  finishedAt: number;
  kind: string;
  files: number;
  bytes: number;
  detections: number;
  errors: number;
  bundleVersion: string | null;
}

export interface ScanQuery {
  endpointId?: string | undefined;
  limit?: number | undefined;
  offset?: number | undefined;
}

/** The scans a query selects, newest first, without paging (exports stream it). */
export function scansOrdered(db: Kysely<Database>, q: ScanQuery = {}) {
  let query = db.selectFrom("scans").selectAll().orderBy("finished_at", "desc").orderBy("id");
  if (q.endpointId) query = query.where("endpoint_id", "=", q.endpointId);
  return query;
}

export async function listScans(ctx: ServerContext, q: ScanQuery = {}): Promise<ScanInfo[]> {
  const query = scansOrdered(ctx.store.db, q)
    .limit(Math.min(Math.max(q.limit ?? 100, 1), 5000))
    .offset(Math.max(q.offset ?? 0, 0));
  return (await query.execute()).map(scanInfo);
}

/** A scans row as the API shows it. */
export function scanInfo(r: Database["scans"]): ScanInfo {
  return {
    id: r.id,
    endpointId: r.endpoint_id,
    clientId: r.client_id,
    startedAt: Number(r.started_at),
    finishedAt: Number(r.finished_at),
    kind: r.kind,
    files: Number(r.files),
    bytes: Number(r.bytes),
    detections: Number(r.detections),
    errors: Number(r.errors),
    bundleVersion: r.bundle_version,
  };
}

/** A scan summary as the endpoint API validated it (the agent protocol's ScanSummary). */
export interface ScanInput {
  /** The agent's id for it: a repeat is counted once. */
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

/** Stores an endpoint's scan summaries; none when the policy does not collect them. */
export async function storeScans(
  ctx: ServerContext,
  endpointId: string,
  scans: ScanInput[],
): Promise<{ accepted: number; duplicates: number }> {
  if (!(await getPolicy(ctx, endpointId)).send.scanSummaries) return { accepted: 0, duplicates: 0 };
  const rows = scans.map((s) => ({
    id: randomUUID(),
    endpoint_id: endpointId,
    client_id: s.id,
    started_at: s.startedAt,
    finished_at: s.finishedAt,
    kind: s.kind,
    files: s.files,
    bytes: s.bytes,
    detections: s.detections,
    errors: s.errors,
    bundle_version: s.bundleVersion,
  }));
  let accepted = 0;
  for (let i = 0; i < rows.length; i += 500) {
    const r = await ctx.store.db
      .insertInto("scans")
      .values(rows.slice(i, i + 500))
      .onConflict((oc) => oc.columns(["endpoint_id", "client_id"]).doNothing())
      .executeTakeFirst();
    accepted += Number(r.numInsertedOrUpdatedRows ?? 0n);
  }
  return { accepted, duplicates: rows.length - accepted };
}
