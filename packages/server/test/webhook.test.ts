/**
 * Alert forwarding by webhook to a receiver on 127.0.0.1, on each database: a new alert is POSTed
 * once with a valid HMAC-SHA256 signature over `<timestamp>.<body>`; the receiver's failures are
 * retried with growing delays; a rescan of the same file sends nothing more; a receiver that
 * never accepts gets maxAttempts tries and the delivery is marked failed; a bad configuration is
 * refused at start.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { detection, dialects, startTestServer, type TestServer } from "@vigil/test-kit/server";

const SECRET = "a-shared-webhook-secret-of-32-chars";

interface Received {
  at: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

async function receiver(answer: (n: number) => number): Promise<{ url: string; got: Received[]; server: Server }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      got.push({ at: Date.now(), headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      res.statusCode = answer(got.length);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got, server };
}

function validSignature(r: Received): boolean {
  const ts = String(r.headers["x-vigil-timestamp"]);
  const want = createHmac("sha256", SECRET).update(`${ts}.${r.body}`).digest();
  const sig = String(r.headers["x-vigil-signature"]);
  if (!sig.startsWith("sha256=")) return false;
  const have = Buffer.from(sig.slice(7), "hex");
  return have.length === want.length && timingSafeEqual(have, want);
}

const until = async (cond: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 25));
  }
};

function suite(dialect: "sqlite" | "postgres") {
  describe(`alert webhook (${dialect})`, () => {
    let s: TestServer;
    let hook: Awaited<ReturnType<typeof receiver>>;
    beforeAll(async () => {
      // fails twice, then accepts
      hook = await receiver((n) => (n <= 2 ? 503 : 204));
      s = await startTestServer({
        dialect,
        alertWebhook: { url: hook.url, secret: SECRET, backoffMs: 100, maxAttempts: 5 },
        webhookIntervalMs: 20,
      });
    });
    afterAll(async () => {
      await s?.close();
      hook?.server.close();
    });

    it("a new alert arrives signed, after retries with growing delays, once", async () => {
      const ep = await s.enrollEndpoint({ hostname: "hook-host" });
      const sha256 = randomBytes(32).toString("hex");
      const d = { sha256, rule: "EICAR_Test_File", name: "Win.Test.EICAR_HDB-1" };
      await s.call("POST", "/api/v1/detections", { key: ep.key, body: { detections: [detection(d)] } });
      await until(() => hook.got.length >= 3);
      const [a, b, c] = hook.got;
      for (const r of hook.got) expect(validSignature(r)).toBe(true);
      // one delivery id across the retries; the delays grow (100 ms, then 200 ms)
      expect(new Set(hook.got.map((r) => r.headers["x-vigil-delivery"])).size).toBe(1);
      expect(b!.at - a!.at).toBeGreaterThanOrEqual(90);
      expect(c!.at - b!.at).toBeGreaterThanOrEqual(190);
      const body = JSON.parse(c!.body);
      expect(body.type).toBe("alert.new");
      expect(body.alert).toMatchObject({
        endpointId: ep.endpointId,
        hostname: "hook-host",
        sha256,
        name: "Win.Test.EICAR_HDB-1",
        rule: "EICAR_Test_File",
        state: "new",
        count: 1,
      });
      // a tampered body does not verify
      expect(validSignature({ ...c!, body: c!.body.replace("hook-host", "evil-host") })).toBe(false);
      // a rescan of the same file: the alert's count grows, nothing more is sent
      await s.call("POST", "/api/v1/detections", { key: ep.key, body: { detections: [detection(d)] } });
      await new Promise((r) => setTimeout(r, 400));
      expect(hook.got).toHaveLength(3);
      const rows = await s.ctx.store.db.selectFrom("alert_deliveries").selectAll().execute();
      expect(rows.map((r) => [r.state, Number(r.attempts)])).toEqual([["delivered", 3]]);
    });
  });

  describe(`alert webhook that never accepts (${dialect})`, () => {
    let s: TestServer;
    let hook: Awaited<ReturnType<typeof receiver>>;
    beforeAll(async () => {
      hook = await receiver(() => 500);
      s = await startTestServer({
        dialect,
        alertWebhook: { url: hook.url, secret: SECRET, backoffMs: 20, maxAttempts: 3 },
        webhookIntervalMs: 10,
      });
    });
    afterAll(async () => {
      await s?.close();
      hook?.server.close();
    });

    it("gives up after maxAttempts and keeps the last error", async () => {
      const ep = await s.enrollEndpoint();
      await s.call("POST", "/api/v1/detections", { key: ep.key, body: { detections: [detection()] } });
      await until(() => hook.got.length >= 3);
      await new Promise((r) => setTimeout(r, 300));
      expect(hook.got).toHaveLength(3);
      const [row] = await s.ctx.store.db.selectFrom("alert_deliveries").selectAll().execute();
      expect(row).toMatchObject({ state: "failed", last_error: "HTTP 500" });
      expect(Number(row!.attempts)).toBe(3);
    });
  });
}

for (const dialect of await dialects()) suite(dialect);

// the configuration is checked before any database is opened
it("a bad webhook configuration is refused at start", async () => {
  await expect(
    startTestServer({ dialect: "sqlite", alertWebhook: { url: "ftp://127.0.0.1/x", secret: SECRET } }),
  ).rejects.toMatchObject({ code: "SERVER_CONFIG" });
  await expect(
    startTestServer({ dialect: "sqlite", alertWebhook: { url: "http://127.0.0.1/x", secret: "short" } }),
  ).rejects.toThrow(/at least 16 characters/);
});
