/** Scan summaries the endpoints reported (when the policy collects them), newest first. */
import type { ServerContext } from "../context.js";

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

export async function listScans(ctx: ServerContext, q: ScanQuery = {}): Promise<ScanInfo[]> {
  let query = ctx.store.db.selectFrom("scans").selectAll().orderBy("finished_at", "desc").orderBy("id")
    .limit(Math.min(Math.max(q.limit ?? 100, 1), 5000)).offset(Math.max(q.offset ?? 0, 0));
  if (q.endpointId) query = query.where("endpoint_id", "=", q.endpointId);
  return (await query.execute()).map((r) => ({
    id: r.id, endpointId: r.endpoint_id, clientId: r.client_id, startedAt: Number(r.started_at), finishedAt: Number(r.finished_at), kind: r.kind,
    files: Number(r.files), bytes: Number(r.bytes), detections: Number(r.detections), errors: Number(r.errors), bundleVersion: r.bundle_version,
  }));
}
