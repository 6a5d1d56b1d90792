/**
 * Alert forwarding by webhook. A new alert (not one the allow list opened as a false positive)
 * queues a delivery row in the same transaction (alerts.ts); the forwarder drains due rows:
 * POST of `{type:"alert.new", alert, sentAt}` as JSON with headers `x-vigil-delivery` (the row id:
 * receivers drop repeats), `x-vigil-timestamp` (ms) and `x-vigil-signature: sha256=<hex>`, the
 * HMAC-SHA256 of `<timestamp>.<body>` under the shared secret. A 2xx answer delivers it; anything
 * else (or no answer in 10 s) retries after backoffMs, doubled per attempt up to an hour, until
 * maxAttempts, then the row is `failed` with its last error. A process claims a row by moving
 * its next_at forward in one conditional update, so several server processes send each once.
 */
import { createHmac } from "node:crypto";
import type { AlertWebhookConfig, ServerContext } from "../context.js";
import { ServerError } from "../error.js";
import { getAlert } from "./alerts.js";

const TIMEOUT_MS = 10_000;
const MAX_BACKOFF_MS = 3_600_000;

/** The signature header value for a body sent at `timestamp`. */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

/** Refuses a configuration that could not work, saying what to fix. */
export function checkWebhookConfig(w: AlertWebhookConfig): void {
  let u: URL;
  try {
    u = new URL(w.url);
  } catch (err) {
    throw new ServerError("SERVER_CONFIG", `alert webhook: ${JSON.stringify(w.url)} is not a URL`, { cause: err });
  }
  if (u.protocol !== "https:" && u.protocol !== "http:")
    throw new ServerError("SERVER_CONFIG", "alert webhook: the URL must be http:// or https://");
  if (w.secret.length < 16)
    throw new ServerError("SERVER_CONFIG", "alert webhook: the secret needs at least 16 characters");
}

/** Sends the deliveries due now (at most `limit`); returns how many were delivered. */
export async function deliverDue(ctx: ServerContext, limit = 20): Promise<number> {
  const w = ctx.config.alertWebhook;
  if (!w) return 0;
  const maxAttempts = w.maxAttempts ?? 10;
  const backoff = w.backoffMs ?? 5_000;
  const db = ctx.store.db;
  const now = ctx.now();
  const due = await db
    .selectFrom("alert_deliveries")
    .selectAll()
    .where("state", "=", "queued")
    .where("next_at", "<=", now)
    .orderBy("next_at")
    .limit(limit)
    .execute();
  let delivered = 0;
  for (const d of due) {
    // claim: only the process whose update matched the old next_at sends it
    const claim = await db
      .updateTable("alert_deliveries")
      .set({ next_at: now + TIMEOUT_MS * 3 })
      .where("id", "=", d.id)
      .where("state", "=", "queued")
      .where("next_at", "=", d.next_at)
      .executeTakeFirst();
    if (Number(claim.numUpdatedRows) !== 1) continue;
    let error: string | null = null;
    try {
      const { comments: _c, ...alert } = await getAlert(ctx, d.alert_id);
      const body = JSON.stringify({ type: "alert.new", alert, sentAt: ctx.now() });
      const ts = String(ctx.now());
      const res = await fetch(w.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": "vigil-server",
          "x-vigil-delivery": d.id,
          "x-vigil-timestamp": ts,
          "x-vigil-signature": signWebhook(w.secret, ts, body),
        },
        body,
        redirect: "manual",
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      await res.body?.cancel().catch(() => {});
      if (res.status < 200 || res.status > 299) error = `HTTP ${res.status}`;
    } catch (err) {
      error = (err as Error).message.slice(0, 500);
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
    } else if (attempts >= maxAttempts) {
      ctx.log.warn({ delivery: d.id, attempts, error }, "alert webhook: delivery given up");
      await db
        .updateTable("alert_deliveries")
        .set({ state: "failed", attempts, done_at: at, next_at: null, last_error: error })
        .where("id", "=", d.id)
        .execute();
    } else {
      const wait = Math.min(backoff * 2 ** (attempts - 1), MAX_BACKOFF_MS);
      ctx.log.info({ delivery: d.id, attempts, error, retryInMs: wait }, "alert webhook: will retry");
      await db
        .updateTable("alert_deliveries")
        .set({ attempts, next_at: at + wait, last_error: error })
        .where("id", "=", d.id)
        .execute();
    }
  }
  return delivered;
}

/** Drains due deliveries every `everyMs` until stopped; stop() waits for a round in progress. */
export function startWebhookForwarder(ctx: ServerContext, everyMs = 1_000): { stop(): Promise<void> } {
  let stopped = false;
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    if (stopped || running) return; // one round at a time
    running = deliverDue(ctx)
      .catch((err) => ctx.log.error({ err: (err as Error).message }, "alert webhook: round failed"))
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
    },
  };
}
