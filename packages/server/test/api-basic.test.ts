/**
 * Startup and the basics through real HTTP, on each database: health, the first admin, login,
 * an enrolment and a heartbeat, the root redirect and the OpenAPI document.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dialects, heartbeat, startTestServer, type TestServer } from "@vigil/test-kit/server";

for (const dialect of await dialects()) {
  describe(`server basics (${dialect})`, () => {
    let s: TestServer;
    beforeAll(async () => {
      s = await startTestServer({ dialect });
    });
    afterAll(async () => {
      await s?.close();
    });

    it("answers /healthz with the database state", async () => {
      const r = await s.call("GET", "/healthz");
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ status: "ok", db: "ok", dialect, version: "0.1.0" });
      expect(r.headers.get("x-content-type-options")).toBe("nosniff");
    });

    it("redirects / to the console", async () => {
      const r = await s.call("GET", "/");
      expect(r.status).toBe(302);
      expect(r.headers.get("location")).toBe("/console/");
    });

    it("logs in the initial admin and enrols an endpoint that can heartbeat", async () => {
      const { cookie, csrf } = await s.loginAdmin();
      const me = await s.call("GET", "/api/admin/me", { cookie });
      expect(me.json.user).toMatchObject({ username: "admin", role: "admin" });
      expect(me.json.csrfToken).toBe(csrf);
      const ep = await s.enrollEndpoint({ hostname: "pc-1" });
      expect(ep.key).toMatch(/^vgk_[0-9a-f-]{36}\.[A-Za-z0-9_-]{43}$/);
      const hb = await s.call("POST", "/api/v1/heartbeat", { key: ep.key, body: heartbeat() });
      expect(hb.status).toBe(200);
      expect(hb.json.policyVersion).toBe(1);
      const got = await s.call("GET", `/api/admin/endpoints/${ep.endpointId}`, { cookie });
      expect(got.json).toMatchObject({
        id: ep.endpointId,
        hostname: "pc-1",
        status: "online",
        agentVersion: "0.1.0",
        rulesVersion: "3",
      });
    });

    it("serves an OpenAPI 3.1 document listing every route", async () => {
      const r = await s.call("GET", "/openapi.json");
      expect(r.json.openapi).toBe("3.1.0");
      expect(Object.keys(r.json.paths)).toEqual(
        expect.arrayContaining([
          "/api/v1/enroll",
          "/api/v1/heartbeat",
          "/api/v1/detections",
          "/api/v1/scans",
          "/api/v1/reputation/{prefix}",
          "/api/v1/policy",
          "/api/v1/samples",
          "/api/admin/login",
          "/api/admin/policy",
          "/updates/{path}",
        ]),
      );
      const hb = r.json.paths["/api/v1/heartbeat"].post;
      expect(hb.requestBody.content["application/json"].schema.required).toEqual(
        expect.arrayContaining(["time", "agentVersion", "os"]),
      );
    });
  });
}
