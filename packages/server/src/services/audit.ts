/**
 * The audit log: one row per admin action (who, from where, what, on which target, details as
 * JSON). Services call `audit` after the change they record; the admin API and the console read
 * it back with `listAudit`.
 */
import { randomUUID } from "node:crypto";
import type { Actor, ServerContext } from "../context.js";

export interface AuditEntry {
  actor: Actor | null;
  action: string;
  target?: string | null;
  detail?: Record<string, unknown> | null;
  /** For actions without a known user (a failed login): the address. */
  ip?: string | null;
  /** Username attempted, when there is no actor (failed login). */
  username?: string | null;
}

export interface AuditRecord {
  id: string;
  time: number;
  userId: string | null;
  username: string | null;
  action: string;
  target: string | null;
  detail: Record<string, unknown> | null;
  ip: string | null;
}

export async function audit(ctx: ServerContext, e: AuditEntry): Promise<void> {
  await ctx.store.db
    .insertInto("audit_log")
    .values({
      id: randomUUID(),
      time: ctx.now(),
      user_id: e.actor?.id ?? null,
      username: e.actor?.username ?? e.username ?? null,
      action: e.action,
      target: e.target ?? null,
      detail: e.detail ? JSON.stringify(e.detail) : null,
      ip: e.actor?.ip ?? e.ip ?? null,
    })
    .execute();
}

export interface AuditQuery {
  limit?: number;
  /** Only entries older than this time (ms), for paging backwards. */
  before?: number;
  action?: string;
  userId?: string;
}

export async function listAudit(ctx: ServerContext, q: AuditQuery = {}): Promise<AuditRecord[]> {
  let query = ctx.store.db.selectFrom("audit_log").selectAll().orderBy("time", "desc").orderBy("id", "desc").limit(Math.min(Math.max(q.limit ?? 100, 1), 1000));
  if (q.before !== undefined) query = query.where("time", "<", q.before);
  if (q.action) query = query.where("action", "=", q.action);
  if (q.userId) query = query.where("user_id", "=", q.userId);
  const rows = await query.execute();
  return rows.map((r) => ({
    id: r.id, time: Number(r.time), userId: r.user_id, username: r.username, action: r.action, target: r.target,
    detail: r.detail ? (JSON.parse(r.detail) as Record<string, unknown>) : null, ip: r.ip,
  }));
}
