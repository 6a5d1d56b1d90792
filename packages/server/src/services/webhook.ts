/**
 * Alert forwarding by webhook. A new alert (not one the allow list opened as a false positive)
 * queues a delivery row in the same transaction (alerts.ts); the forwarder drains due rows:
 * POST of `{type:"alert.new", alert, sentAt}` (alert: services/forward.ts ForwardedAlert) as JSON with headers `x-vigil-delivery` (the row id:
 * receivers drop repeats), `x-vigil-timestamp` (ms) and `x-vigil-signature: sha256=<hex>`, the
 * HMAC-SHA256 of `<timestamp>.<body>` under the shared secret. A 2xx answer delivers it; anything
 * else (or no answer in 10 s) retries after backoffMs, doubled per attempt up to an hour, until
 * maxAttempts, then the row is `failed` with its last error. The outbox, its claims (several
 * server processes send each once) and its retries are services/forward.ts, shared with syslog
 * and the ECS file.
 */
import { createHmac } from "node:crypto";
import type { AlertWebhookConfig, ServerContext } from "../context.js";
import { ServerError } from "../error.js";
import { drainDue, startForwarder, type Sink } from "./forward.js";

const TIMEOUT_MS = 10_000;

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

/** The webhook as an outbox sink: one signed POST per alert, 2xx within 10 s accepts it. */
export function webhookSink(w: AlertWebhookConfig, now: () => number): Sink {
  return {
    maxAttempts: w.maxAttempts ?? 10,
    backoffMs: w.backoffMs ?? 5_000,
    async send(alert, deliveryId) {
      const body = JSON.stringify({ type: "alert.new", alert, sentAt: now() });
      const ts = String(now());
      const res = await fetch(w.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": "vigil-server",
          "x-vigil-delivery": deliveryId,
          "x-vigil-timestamp": ts,
          "x-vigil-signature": signWebhook(w.secret, ts, body),
        },
        body,
        redirect: "manual",
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      await res.body?.cancel().catch(() => {});
      if (res.status < 200 || res.status > 299) throw new Error(`HTTP ${res.status}`);
    },
  };
}

/** Sends the webhook deliveries due now (at most `limit`); returns how many were delivered. */
export async function deliverDue(ctx: ServerContext, limit = 20): Promise<number> {
  const w = ctx.config.alertWebhook;
  if (!w) return 0;
  return drainDue(ctx, "webhook", webhookSink(w, ctx.now), limit);
}

/** Drains due webhook deliveries every `everyMs` until stopped; stop() waits for a round in progress. */
export function startWebhookForwarder(ctx: ServerContext, everyMs = 1_000): { stop(): Promise<void> } {
  const w = ctx.config.alertWebhook;
  if (!w) throw new ServerError("SERVER_CONFIG", "no alert webhook is configured");
  return startForwarder(ctx, "webhook", webhookSink(w, ctx.now), everyMs);
}
