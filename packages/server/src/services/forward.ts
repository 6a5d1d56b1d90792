/**
 * The outbox every alert forwarding channel shares (webhook, syslog, ECS file). A new alert (not
 * one the allow list opened as a false positive) queues one `alert_deliveries` row per configured
 * channel, in the statement batch that created the alert (alerts.ts). Each channel's forwarder
 * drains its own due rows: a process claims a row by moving its next_at forward in one
 * conditional update (so several server processes on one database send each alert once), hands
 * the alert to the channel's sink, and marks the row delivered, or retries it after backoffMs
 * doubled per attempt (at most an hour) until maxAttempts, then marks it failed with its last
 * error.
 */
import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import type { ServerConfig, ServerContext } from "../context.js";
import type { Database } from "../db/schema.js";
import { getAlert, type AlertInfo } from "./alerts.js";

export type Channel = "webhook" | "syslog" | "ecs";

const CLAIM_MS = 30_000;
const MAX_BACKOFF_MS = 3_600_000;

/** An alert as it leaves the server: the alert plus what its latest detection said. */
export interface ForwardedAlert extends AlertInfo {
  /** The file's path in the latest detection (null when the data policy did not allow paths). */
  path: string | null;
  /** What the agent did about it (latest detection): `reported`, `quarantined`, ... */
  action: string | null;
  /** The rule bundle that matched (latest detection). */
  bundleVersion: string | null;
}

/** Where a channel sends one alert; throws (any error) when it was not accepted. */
export interface Sink {
  send(alert: ForwardedAlert, deliveryId: string): Promise<void>;
  /** Ends open connections or files (forwarder stop). */
  close?(): Promise<void>;
  maxAttempts: number;
  backoffMs: number;
}

/** The channels this configuration sends new alerts to. */
export function forwardChannels(config: ServerConfig): Channel[] {
  const out: Channel[] = [];
  if (config.alertWebhook) out.push("webhook");
  if (config.alertSyslog) out.push("syslog");
  if (config.alertEcs) out.push("ecs");
  return out;
}

/** Queues one delivery per alert per channel, due now. */
export async function queueDeliveries(
  db: Kysely<Database>,
  alertIds: string[],
  channels: Channel[],
  now: number,
): Promise<void> {
  const rows = alertIds.flatMap((alert_id) =>
    channels.map((channel) => ({
      id: randomUUID(),
      alert_id,
      channel,
      created_at: now,
      attempts: 0,
      next_at: now,
      state: "queued" as const,
      last_error: null,
      done_at: null,
    })),
  );
  for (let i = 0; i < rows.length; i += 200)
    await db
      .insertInto("alert_deliveries")
      .values(rows.slice(i, i + 200))
      .execute();
}

/** The alert with its latest detection's path, action and bundle (SERVER_NOT_FOUND when gone). */
export async function forwardedAlert(ctx: ServerContext, alertId: string): Promise<ForwardedAlert> {
  const { comments: _c, ...alert } = await getAlert(ctx, alertId);
  const d = await ctx.store.db
    .selectFrom("detections")
    .select(["path", "action", "bundle_version"])
    .where("endpoint_id", "=", alert.endpointId)
    .where("sha256", "=", alert.sha256)
    .where("rule", "=", alert.rule)
    .orderBy("time", "desc")
    .orderBy("id", "desc")
    .limit(1)
    .executeTakeFirst();
  return { ...alert, path: d?.path ?? null, action: d?.action ?? null, bundleVersion: d?.bundle_version ?? null };
}

/** Sends the channel's deliveries due now (at most `limit`); returns how many were delivered. */
export async function drainDue(ctx: ServerContext, channel: Channel, sink: Sink, limit = 20): Promise<number> {
  const db = ctx.store.db;
  const now = ctx.now();
  const due = await db
    .selectFrom("alert_deliveries")
    .selectAll()
    .where("channel", "=", channel)
    .where("state", "=", "queued")
    .where("next_at", "<=", now)
    .orderBy("next_at")
    .orderBy("created_at")
    .limit(limit)
    .execute();
  let delivered = 0;
  for (const d of due) {
    // claim: only the process whose update matched the old next_at sends it
    const claim = await db
      .updateTable("alert_deliveries")
      .set({ next_at: now + CLAIM_MS })
      .where("id", "=", d.id)
      .where("state", "=", "queued")
      .where("next_at", "=", d.next_at)
      .executeTakeFirst();
    if (Number(claim.numUpdatedRows) !== 1) continue;
    let error: string | null = null;
    try {
      await sink.send(await forwardedAlert(ctx, d.alert_id), d.id);
    } catch (err) {
      error = ((err as Error).message || String(err)).slice(0, 500);
    }
    const attempts = Number(d.attempts) + 1;
    const at = ctx.now();
    if (error === null) {
      delivered++;
      await db
        .updateTable("alert_deliveries")
        .set({ state: "delivered", attempts, done_at: at, next_at: null, last_error: null })
        .where("id", "=", d.id)
        .execute();
    } else if (attempts >= sink.maxAttempts) {
      ctx.log.warn({ delivery: d.id, channel, attempts, error }, `alert ${channel}: delivery given up`);
      await db
        .updateTable("alert_deliveries")
        .set({ state: "failed", attempts, done_at: at, next_at: null, last_error: error })
        .where("id", "=", d.id)
        .execute();
    } else {
      const wait = Math.min(sink.backoffMs * 2 ** (attempts - 1), MAX_BACKOFF_MS);
      ctx.log.info({ delivery: d.id, channel, attempts, error, retryInMs: wait }, `alert ${channel}: will retry`);
      await db
        .updateTable("alert_deliveries")
        .set({ attempts, next_at: at + wait, last_error: error })
        .where("id", "=", d.id)
        .execute();
    }
  }
  return delivered;
}

/** Drains the channel's due deliveries every `everyMs` until stopped; stop() waits for a round in progress. */
export function startForwarder(
  ctx: ServerContext,
  channel: Channel,
  sink: Sink,
  everyMs = 1_000,
): { stop(): Promise<void> } {
  let stopped = false;
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    if (stopped || running) return; // one round at a time
    running = drainDue(ctx, channel, sink)
      .catch((err) => ctx.log.error({ err: (err as Error).message }, `alert ${channel}: round failed`))
      .finally(() => {
        running = undefined;
      });
  }, everyMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
      await sink.close?.().catch(() => {});
    },
  };
}
