/**
 * Exports of the lists the console shows (alerts, detections, endpoints, an endpoint's scans,
 * inventory items and findings, the audit log): one mechanism behind `?format=csv|json|ndjson`
 * on each admin API list route (and `ecs` for alerts), with the same filters as the page and
 * every matching row (limit and offset are ignored). Rows are streamed, never held: the list's
 * own ordered query (services/*Ordered) runs on a dedicated read-only SQLite connection (WAL
 * lets writers go on) iterated row by row, or inside a PostgreSQL transaction through a server
 * side cursor fetched 2,000 rows at a time, and each chunk is written when the client has taken
 * the previous one (backpressure), so a 1M-row export holds a chunk, not a million rows. CSV is
 * RFC 4180 (CRLF line ends, a field with `"`, `,`, CR or LF quoted and its `"` doubled) and safe
 * to open in a spreadsheet: a text cell starting with `=`, `+`, `-`, `@`, tab or CR gets a
 * leading `'` so it is not read as a formula. Nested values (an endpoint's os, an audit entry's
 * detail) are JSON text in CSV cells, times ISO 8601 (JSON keeps the API's milliseconds). A failure after the first bytes aborts the response (the
 * client sees a cut transfer, never a short file that looks complete). At most 4 exports run at
 * once per process (the fifth gets 429). Each export is recorded in the audit log.
 */
import { CompiledQuery, type Compilable } from "kysely";
import type { Actor, ServerContext } from "../context.js";
import type { Store } from "../db/connect.js";
import { ServerError } from "../error.js";
import { audit } from "./audit.js";

export const EXPORT_FORMATS = ["csv", "json", "ndjson"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number] | "ecs";

const CHUNK = 2000;
/** Millisecond times, written as ISO 8601 (UTC) in CSV for spreadsheets; JSON keeps the API's numbers. */
const TIME_KEYS = new Set([
  "time",
  "receivedAt",
  "firstSeen",
  "lastSeen",
  "stateAt",
  "enrolledAt",
  "revokedAt",
  "startedAt",
  "finishedAt",
  "updatedAt",
]);
const MAX_CONCURRENT = 4;
const running = new WeakMap<ServerContext, number>();

/** One CSV field (RFC 4180), formula-injection safe. */
export function csvCell(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "number" || typeof v === "bigint") return String(v);
  if (typeof v === "boolean") return v ? "true" : "false";
  let s = typeof v === "string" ? v : JSON.stringify(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  if (/[",\r\n]/.test(s)) s = `"${s.replace(/"/g, '""')}"`;
  return s;
}

/** One CSV record with its CRLF. */
export function csvRow(values: unknown[]): string {
  return `${values.map(csvCell).join(",")}\r\n`;
}

/**
 * Runs the query and hands its rows to `onChunk` a chunk at a time, waiting for each; nothing
 * else is kept. On SQLite a dedicated read-only connection; on PostgreSQL a cursor in a
 * transaction on one pooled connection.
 */
export async function forEachChunk<R>(
  store: Store,
  query: Compilable<R>,
  onChunk: (rows: R[]) => Promise<void>,
  chunk = CHUNK,
): Promise<void> {
  const c = query.compile();
  if (store.dialect === "sqlite") {
    const SQLite = (await import("better-sqlite3")).default;
    const conn = new SQLite(store.location, { readonly: true, fileMustExist: true });
    try {
      conn.pragma("busy_timeout = 5000");
      let batch: R[] = [];
      for (const row of conn.prepare(c.sql).iterate(...(c.parameters as unknown[]))) {
        batch.push(row as R);
        if (batch.length >= chunk) {
          await onChunk(batch);
          batch = [];
        }
      }
      if (batch.length) await onChunk(batch);
    } finally {
      conn.close();
    }
    return;
  }
  await store.db.transaction().execute(async (trx) => {
    await trx.executeQuery(CompiledQuery.raw(`declare vigil_export no scroll cursor for ${c.sql}`, [...c.parameters]));
    for (;;) {
      const r = await trx.executeQuery<R>(CompiledQuery.raw(`fetch forward ${chunk} from vigil_export`));
      if (r.rows.length) await onChunk(r.rows);
      if (r.rows.length < chunk) break;
    }
  });
}

export interface ExportSpec<R> {
  /** The list's name: in the file name and the audit log (`alerts`, `detections`, ...). */
  list: string;
  format: ExportFormat;
  /** The list's ordered query without paging (streamed) ... */
  query?: Compilable<R> | undefined;
  /** ... or the rows of a short list a page already holds (the update log's bundles, a hash's endpoints). */
  rows?: R[] | undefined;
  /** A row as the API shows it. */
  map: (row: R) => Record<string, unknown>;
  /** The CSV columns: keys of `map`'s objects, in order (the header row, also of an empty export). */
  columns: readonly string[];
  /** The filters, for the audit log. */
  filters: Record<string, unknown>;
}

/** Parses `?format=`: undefined when absent, SERVER_BAD_REQUEST when unknown. */
export function exportFormat(value: string | undefined, allowEcs = false): ExportFormat | undefined {
  if (value === undefined || value === "") return undefined;
  const ok: string[] = [...EXPORT_FORMATS, ...(allowEcs ? ["ecs"] : [])];
  if (!ok.includes(value))
    throw new ServerError("SERVER_BAD_REQUEST", `format: one of ${ok.join(", ")}`, { path: "format" });
  return value as ExportFormat;
}

const TYPES: Record<ExportFormat, [string, string]> = {
  csv: ["text/csv; charset=utf-8; header=present", "csv"],
  json: ["application/json; charset=utf-8", "json"],
  ndjson: ["application/x-ndjson; charset=utf-8", "ndjson"],
  ecs: ["application/x-ndjson; charset=utf-8", "ecs.ndjson"],
};

/** The streamed export as an HTTP response (200 at once; rows follow as they are read). */
export async function exportResponse<R>(ctx: ServerContext, actor: Actor, spec: ExportSpec<R>): Promise<Response> {
  const n = running.get(ctx) ?? 0;
  if (n >= MAX_CONCURRENT)
    throw new ServerError("SERVER_RATE_LIMITED", `${MAX_CONCURRENT} exports are running; try again when one ends`, {
      retryAfter: 10,
    });
  running.set(ctx, n + 1);
  const release = () => running.set(ctx, Math.max(0, (running.get(ctx) ?? 1) - 1));
  try {
    await audit(ctx, {
      actor,
      action: "export",
      target: spec.list,
      detail: { format: spec.format, filters: spec.filters },
    });
  } catch (err) {
    release();
    throw err;
  }
  const enc = new TextEncoder();
  const pipe = new TransformStream<Uint8Array, Uint8Array>(undefined, { highWaterMark: 4 });
  const w = pipe.writable.getWriter();
  const put = async (text: string) => {
    await w.ready;
    await w.write(enc.encode(text));
  };
  void (async () => {
    let first = true;
    const columns = spec.columns;
    try {
      if (spec.format === "json") await put("[");
      if (spec.format === "csv") await put(csvRow([...columns]));
      const each = async (rows: R[]) => {
        let out = "";
        for (const row of rows) {
          const o = spec.map(row);
          if (spec.format === "csv")
            out += csvRow(
              columns.map((k) => {
                const v = o[k];
                return TIME_KEYS.has(k) && typeof v === "number" ? new Date(v).toISOString() : v;
              }),
            );
          else if (spec.format === "json") out += `${first ? "\n" : ",\n"}${JSON.stringify(o)}`;
          else out += `${JSON.stringify(o)}\n`;
          first = false;
        }
        await put(out);
      };
      if (spec.query) await forEachChunk(ctx.store, spec.query, each);
      else if (spec.rows?.length) await each(spec.rows);
      if (spec.format === "json") await put(first ? "]\n" : "\n]\n");
      await w.close();
    } catch (err) {
      // a client that went away cancels the stream with no reason
      const reason = err instanceof Error ? err.message : err === undefined ? "the client went away" : String(err);
      ctx.log.info({ list: spec.list, reason }, "export ended early");
      await w.abort(err).catch(() => {});
    } finally {
      release();
    }
  })();
  const [type, ext] = TYPES[spec.format];
  const stamp = new Date(ctx.now()).toISOString().replace(/[-:]/g, "").replace(/\..*/, "Z");
  return new Response(pipe.readable, {
    status: 200,
    headers: {
      "content-type": type,
      "content-disposition": `attachment; filename="vigil-${spec.list}-${stamp}.${ext}"`,
      "cache-control": "no-store",
    },
  });
}
