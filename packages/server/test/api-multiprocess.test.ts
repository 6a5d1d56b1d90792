/**
 * Two servers (two startServer calls, each with its own pool, limiters and caches) on one
 * PostgreSQL database: both migrate at once, end up with the same policy-signing key and one
 * first admin, and an endpoint enrolled on one works on the other (revocation too).
 */
import { createPublicKey, verify } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createTestDatabase,
  detection,
  dialects,
  heartbeat,
  startTestServer,
  type TestDatabase,
  type TestServer,
} from "@vigil/test-kit/server";

const run = (await dialects()).includes("postgres");

describe.skipIf(!run)("two server processes on one PostgreSQL", () => {
  let db: TestDatabase;
  let a: TestServer;
  let b: TestServer;
  beforeAll(async () => {
    db = await createTestDatabase();
    // started together: both run the migrations, key creation and first-admin creation concurrently
    [a, b] = await Promise.all([
      startTestServer({ dialect: "postgres", database: db.url }),
      startTestServer({ dialect: "postgres", database: db.url }),
    ]);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  it("share one signing key and one admin", async () => {
    expect(a.ctx.signer.keyId).toBe(b.ctx.signer.keyId);
    expect(a.ctx.signer.publicKey).toBe(b.ctx.signer.publicKey);
    const users = await a.ctx.store.db.selectFrom("users").select("username").execute();
    expect(users.map((u) => u.username)).toEqual(["admin"]);
    expect((await b.call("GET", "/healthz")).json.db).toBe("ok");
  });

  it("an endpoint enrolled on one works on the other, and a policy signed by either verifies", async () => {
    const ep = await a.enrollEndpoint({ hostname: "roams" });
    expect((await b.call("POST", "/api/v1/heartbeat", { key: ep.key, body: heartbeat() })).status).toBe(200);
    const d = detection();
    expect((await b.call("POST", "/api/v1/detections", { key: ep.key, body: { detections: [d] } })).json).toEqual({
      accepted: 1,
      duplicates: 0,
    });
    expect((await a.call("POST", "/api/v1/detections", { key: ep.key, body: { detections: [d] } })).json).toEqual({
      accepted: 0,
      duplicates: 1,
    });
    const pub = createPublicKey({ key: Buffer.from(ep.enrollment.policyKey, "base64"), format: "der", type: "spki" });
    const sp = (await b.call("GET", "/api/v1/policy", { key: ep.key })).json;
    expect(verify(null, Buffer.from(sp.payload), pub, Buffer.from(sp.signature, "base64"))).toBe(true);
    const seen = (await b.call("GET", `/api/admin/endpoints/${ep.endpointId}`, await b.loginAdmin())).json;
    expect(seen).toMatchObject({ hostname: "roams", status: "online" });
  });

  it("a revocation on one process is refused at once by the other", async () => {
    const ep = await b.enrollEndpoint();
    expect((await a.call("GET", "/api/v1/policy", { key: ep.key })).status).toBe(200);
    expect((await b.call("POST", `/api/admin/endpoints/${ep.endpointId}/revoke`, await b.loginAdmin())).status).toBe(
      200,
    );
    expect((await a.call("GET", "/api/v1/policy", { key: ep.key })).status).toBe(401);
  });

  it("a one-use token cannot be spent twice by racing both processes", async () => {
    const token = await a.createToken({ label: "race" });
    const body = { token, os: { platform: "linux", release: "1", arch: "x64" }, agentVersion: "1" };
    const results = await Promise.all([a, b, a, b].map((s) => s.call("POST", "/api/v1/enroll", { body })));
    expect(results.map((r) => r.status).sort()).toEqual([201, 401, 401, 401]);
  });
});
