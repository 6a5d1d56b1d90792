/**
 * Opens the store: SQLite (better-sqlite3) in a data directory by default, PostgreSQL (a pg
 * pool) for a `postgres://` URL. Both sit behind the same Kysely<Database>; `migrate` brings
 * either to the latest schema (safe to run from several processes on one PostgreSQL: Kysely's
 * migrator takes a lock).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from "kysely";
import type { Database } from "./schema.js";
import { migrationProvider } from "./migrations.js";

export type Dialect = "sqlite" | "postgres";

export interface Store {
  db: Kysely<Database>;
  dialect: Dialect;
  /** Where the store lives, for logs and the health page (the PostgreSQL password is removed). */
  location: string;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** `postgres://...` / `postgresql://...`, a path to a SQLite file, or undefined for `<dataDir>/vigil.db`. */
  database?: string | undefined;
  dataDir: string;
  /** pg pool size per process. */
  poolSize?: number;
}

export async function openStore(opts: OpenOptions): Promise<Store> {
  const url = opts.database;
  if (url && /^postgres(ql)?:\/\//i.test(url)) {
    const pg = (await import("pg")).default;
    // int8 (bigint) columns hold millisecond times and counters: all fit in a double.
    pg.types.setTypeParser(20, (v: string) => Number(v));
    const pool = new pg.Pool({ connectionString: url, max: opts.poolSize ?? 10 });
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return { db, dialect: "postgres", location: redactUrl(url), close: () => db.destroy() };
  }
  const file = url ?? join(opts.dataDir, "vigil.db");
  if (!url) mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const SQLite = (await import("better-sqlite3")).default;
  const sqlite = new SQLite(file);
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("synchronous = NORMAL");
  sqlite.pragma("foreign_keys = ON");
  sqlite.pragma("busy_timeout = 5000");
  // Kysely prepares every query afresh; the server runs the same few statements thousands of
  // times a second, so keep prepared statements by SQL text (bounded: ad-hoc console filters vary).
  const statements = new Map<string, ReturnType<typeof sqlite.prepare>>();
  const database = {
    close: () => {
      statements.clear();
      sqlite.close();
    },
    prepare: (text: string) => {
      let stmt = statements.get(text);
      if (!stmt) {
        if (statements.size >= 1000) statements.clear();
        stmt = sqlite.prepare(text);
        statements.set(text, stmt);
      }
      return stmt;
    },
  };
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  return { db, dialect: "sqlite", location: file, close: () => db.destroy() };
}

/** Applies every pending migration; throws with the failing migration's name. */
export async function migrate(db: Kysely<Database>): Promise<void> {
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === "Error")?.migrationName ?? "unknown";
    throw new Error(`database migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "postgres://(unparsable url)";
  }
}
