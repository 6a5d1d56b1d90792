/**
 * The audit log: one row per admin action (who, from where, what, on which target, details as
 * JSON). Services call `audit` after the change they record; the admin API and the console read
 * it back with `listAudit`.
 */
import { randomUUID } from "node:crypto";
import { sql, type Kysely } from "kysely";
import type { Actor, ServerContext } from "../context.js";
import { containsPattern, countRows } from "../db/query.js";
import type { Database } from "../db/schema.js";

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
  limit?: number | undefined;
  offset?: number | undefined;
  /** Only entries older than this time (ms), for paging backwards. */
  before?: number | undefined;
  /** Exactly this action. */
  action?: string | undefined;
  /** Part of the action (case-insensitive). */
  actionContains?: string | undefined;
  userId?: string | undefined;
  /** Part of the username (case-insensitive). */
  userContains?: string | undefined;
}

function auditWhere(db: Kysely<Database>, q: AuditQuery) {
  let query = db.selectFrom("audit_log");
  if (q.before !== undefined) query = query.where("time", "<", q.before);
  if (q.action) query = query.where("action", "=", q.action);
  if (q.actionContains)
    query = query.where(sql<boolean>`lower(action) like ${containsPattern(q.actionContains)} escape '\\'`);
  if (q.userId) query = query.where("user_id", "=", q.userId);
  if (q.userContains)
    query = query.where(sql<boolean>`lower(username) like ${containsPattern(q.userContains)} escape '\\'`);
  return query;
}

function parseDetail(text: string | null): Record<string, unknown> | null {
  if (!text) return null;
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { text }; // written by an older or foreign tool: shown as it is
  }
}

/** The entries a query selects, newest first, without paging (exports stream it). */
export function auditOrdered(db: Kysely<Database>, q: AuditQuery = {}) {
  return auditWhere(db, q).selectAll().orderBy("time", "desc").orderBy("id", "desc");
}

/** Newest first. */
export async function listAudit(ctx: ServerContext, q: AuditQuery = {}): Promise<AuditRecord[]> {
  const rows = await auditOrdered(ctx.store.db, q)
    .limit(Math.min(Math.max(q.limit ?? 100, 1), 1000))
    .offset(Math.max(q.offset ?? 0, 0))
    .execute();
  return rows.map(auditRecord);
}

/** An audit_log row as the API shows it. */
export function auditRecord(r: Database["audit_log"]): AuditRecord {
  return {
    id: r.id,
    time: Number(r.time),
    userId: r.user_id,
    username: r.username,
    action: r.action,
    target: r.target,
    detail: parseDetail(r.detail),
    ip: r.ip,
  };
}

/** How many entries `listAudit` would page through. */
export async function countAudit(ctx: ServerContext, q: AuditQuery = {}): Promise<number> {
  return countRows(auditWhere(ctx.store.db, q));
}
