/**
 * Endpoints as the admin API and console see them: listing with a derived status, one
 * endpoint's detail, revocation (its key stops working at once on every process, since each
 * request checks the row), and the detection and scan listings with filters.
 */
import type { Actor, ServerContext } from "../context.js";
import type { EndpointsTable } from "../db/schema.js";
import { ServerError } from "../error.js";
import { audit } from "./audit.js";
import { getPolicy } from "./policy.js";

export type EndpointStatus = "online" | "stale" | "offline" | "never" | "revoked";

export interface EndpointInfo {
  id: string;
  hostname: string | null;
  os: { platform: string; release: string; arch: string } | null;
  agentVersion: string | null;
  rulesVersion: string | null;
  checkpoint: { origin: string; size: number; rootHash: string; at: number | null } | null;
  ledger: { entries: number; head: string } | null;
  enrolledAt: number;
  enrolledWith: string | null;
  lastSeen: number | null;
  revokedAt: number | null;
  revokedBy: string | null;
  status: EndpointStatus;
}

/** Stale after this many missed heartbeats, offline after a day of silence. */
export const STALE_AFTER_HEARTBEATS = 2;
export const OFFLINE_AFTER_MS = 24 * 3_600_000;

export function endpointStatus(row: Pick<EndpointsTable, "last_seen" | "revoked_at">, now: number, heartbeatSeconds: number): EndpointStatus {
  if (row.revoked_at !== null) return "revoked";
  if (row.last_seen === null) return "never";
  const age = now - Number(row.last_seen);
  if (age <= STALE_AFTER_HEARTBEATS * heartbeatSeconds * 1000) return "online";
  if (age <= OFFLINE_AFTER_MS) return "stale";
  return "offline";
}

function parseOs(text: string | null): EndpointInfo["os"] {
  if (!text) return null;
  try {
    return JSON.parse(text) as EndpointInfo["os"];
  } catch {
    return null;
  }
}

export function endpointInfo(r: EndpointsTable, now: number, heartbeatSeconds: number): EndpointInfo {
  return {
    id: r.id,
    hostname: r.hostname,
    os: parseOs(r.os),
    agentVersion: r.agent_version,
    rulesVersion: r.rules_version,
    checkpoint: r.checkpoint_origin !== null
      ? { origin: r.checkpoint_origin, size: Number(r.checkpoint_size), rootHash: r.checkpoint_root ?? "", at: r.checkpoint_at === null ? null : Number(r.checkpoint_at) }
      : null,
    ledger: r.ledger_entries !== null ? { entries: Number(r.ledger_entries), head: r.ledger_head ?? "" } : null,
    enrolledAt: Number(r.enrolled_at),
    enrolledWith: r.enrolled_with,
    lastSeen: r.last_seen === null ? null : Number(r.last_seen),
    revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
    revokedBy: r.revoked_by,
    status: endpointStatus(r, now, heartbeatSeconds),
  };
}

export interface EndpointQuery {
  limit?: number | undefined;
  offset?: number | undefined;
  /** Substring of hostname or id. */
  q?: string | undefined;
  includeRevoked?: boolean | undefined;
}

export async function listEndpoints(ctx: ServerContext, q: EndpointQuery = {}): Promise<EndpointInfo[]> {
  const policy = await getPolicy(ctx);
  let query = ctx.store.db.selectFrom("endpoints").selectAll()
    .orderBy("last_seen", (ob) => ob.desc().nullsLast()).orderBy("id")
    .limit(Math.min(Math.max(q.limit ?? 200, 1), 5000)).offset(Math.max(q.offset ?? 0, 0));
  if (!q.includeRevoked) query = query.where("revoked_at", "is", null);
  if (q.q) {
    const like = `%${q.q.replace(/[\\%_]/g, (m) => "\\" + m)}%`;
    query = query.where((eb) => eb.or([eb("hostname", "like", like), eb("id", "like", like)]));
  }
  const now = ctx.now();
  return (await query.execute()).map((r) => endpointInfo(r, now, policy.heartbeatSeconds));
}

export async function getEndpoint(ctx: ServerContext, id: string): Promise<EndpointInfo> {
  const r = await ctx.store.db.selectFrom("endpoints").selectAll().where("id", "=", id).executeTakeFirst();
  if (!r) throw new ServerError("SERVER_NOT_FOUND", "no such endpoint");
  return endpointInfo(r, ctx.now(), (await getPolicy(ctx)).heartbeatSeconds);
}

export async function revokeEndpoint(ctx: ServerContext, endpointId: string, actor: Actor): Promise<void> {
  const r = await ctx.store.db
    .updateTable("endpoints")
    .set({ revoked_at: ctx.now(), revoked_by: actor.username })
    .where("id", "=", endpointId)
    .where("revoked_at", "is", null)
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) !== 1) {
    const exists = await ctx.store.db.selectFrom("endpoints").select("id").where("id", "=", endpointId).executeTakeFirst();
    if (!exists) throw new ServerError("SERVER_NOT_FOUND", "no such endpoint");
    return; // already revoked: nothing to do
  }
  await audit(ctx, { actor, action: "endpoint.revoke", target: endpointId });
}

export interface DetectionInfo {
  id: string;
  endpointId: string;
  hostname: string | null;
  clientId: string;
  time: number;
  receivedAt: number;
  rule: string;
  severity: "low" | "medium" | "high" | "critical";
  bundleVersion: string | null;
  sha256: string;
  size: number | null;
  fileType: string | null;
  action: string;
  path: string | null;
}

export interface DetectionQuery {
  endpointId?: string | undefined;
  rule?: string | undefined;
  severity?: string | undefined;
  sha256?: string | undefined;
  since?: number | undefined;
  until?: number | undefined;
  limit?: number | undefined;
  offset?: number | undefined;
}

export async function listDetections(ctx: ServerContext, q: DetectionQuery = {}): Promise<DetectionInfo[]> {
  let query = ctx.store.db
    .selectFrom("detections")
    .leftJoin("endpoints", "endpoints.id", "detections.endpoint_id")
    .selectAll("detections")
    .select("endpoints.hostname")
    .orderBy("detections.time", "desc")
    .orderBy("detections.id")
    .limit(Math.min(Math.max(q.limit ?? 100, 1), 5000))
    .offset(Math.max(q.offset ?? 0, 0));
  if (q.endpointId) query = query.where("detections.endpoint_id", "=", q.endpointId);
  if (q.rule) query = query.where("detections.rule", "=", q.rule);
  if (q.severity) query = query.where("detections.severity", "=", q.severity as DetectionInfo["severity"]);
  if (q.sha256) query = query.where("detections.sha256", "=", q.sha256);
  if (q.since !== undefined) query = query.where("detections.time", ">=", q.since);
  if (q.until !== undefined) query = query.where("detections.time", "<", q.until);
  const rows = await query.execute();
  return rows.map((r) => ({
    id: r.id, endpointId: r.endpoint_id, hostname: r.hostname ?? null, clientId: r.client_id, time: Number(r.time), receivedAt: Number(r.received_at),
    rule: r.rule, severity: r.severity, bundleVersion: r.bundle_version, sha256: r.sha256, size: r.size === null ? null : Number(r.size),
    fileType: r.file_type, action: r.action, path: r.path,
  }));
}

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

export async function listScans(ctx: ServerContext, q: { endpointId?: string | undefined; limit?: number | undefined; offset?: number | undefined } = {}): Promise<ScanInfo[]> {
  let query = ctx.store.db.selectFrom("scans").selectAll().orderBy("finished_at", "desc").orderBy("id")
    .limit(Math.min(Math.max(q.limit ?? 100, 1), 5000)).offset(Math.max(q.offset ?? 0, 0));
  if (q.endpointId) query = query.where("endpoint_id", "=", q.endpointId);
  return (await query.execute()).map((r) => ({
    id: r.id, endpointId: r.endpoint_id, clientId: r.client_id, startedAt: Number(r.started_at), finishedAt: Number(r.finished_at), kind: r.kind,
    files: Number(r.files), bytes: Number(r.bytes), detections: Number(r.detections), errors: Number(r.errors), bundleVersion: r.bundle_version,
  }));
}
