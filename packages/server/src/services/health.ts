/** The store's size for the health page: rows per table. */
import { sql } from "kysely";
import type { ServerContext } from "../context.js";
import { countRows } from "../db/query.js";

const TABLES = [
  "endpoints",
  "detections",
  "scans",
  "reputation",
  "endpoint_presence",
  "audit_log",
  "users",
  "sessions",
] as const;

/**
 * Rows per table. On PostgreSQL the planner's estimate (pg_class.reltuples, kept by autovacuum)
 * for big tables, listed in `estimated`: an exact count(*) reads the whole table.
 */
export async function tableCounts(
  ctx: ServerContext,
): Promise<{ counts: Record<string, number>; estimated: string[] }> {
  const db = ctx.store.db;
  const out: Record<string, number> = {};
  const estimated: string[] = [];
  if (ctx.store.dialect === "postgres") {
    const est = await sql<{
      relname: string;
      n: number;
    }>`select relname, reltuples::bigint as n from pg_class where relkind = 'r' and relname in (${sql.join(TABLES.map((t) => sql.lit(t)))}) and relnamespace = current_schema()::regnamespace`.execute(
      db,
    );
    for (const r of est.rows) {
      if (Number(r.n) >= 100_000) {
        out[r.relname] = Number(r.n);
        estimated.push(r.relname);
      }
    }
  }
  for (const t of TABLES) {
    if (t in out) continue;
    out[t] = await countRows(db.selectFrom(t));
  }
  return { counts: Object.fromEntries(TABLES.map((t) => [t, out[t]!])), estimated };
}
