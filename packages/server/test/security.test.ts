/**
 * Security properties through real HTTP, on each database: endpoints are isolated from each
 * other, roles hold, CSRF and session fixation are refused, oversized and malformed bodies get
 * 4xx, rate limits answer 429 with Retry-After, and no secret reaches the log.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  detection,
  dialects,
  heartbeat,
  OS,
  startTestServer,
  TEST_ADMIN,
  type TestServer,
} from "@vigil/test-kit/server";

function suite(dialect: "sqlite" | "postgres") {
  describe(`security (${dialect})`, () => {
    let s: TestServer;
    let admin: { cookie: string; csrf: string };
    beforeAll(async () => {
      s = await startTestServer({ dialect, maxBodyBytes: 64 * 1024 });
      admin = await s.loginAdmin();
    });
    afterAll(async () => {
      await s?.close();
    });

    const userWithRole = async (role: "viewer" | "analyst") => {
      const name = `${role}-${randomBytes(3).toString("hex")}`;
      const r = await s.call("POST", "/api/admin/users", { ...admin, body: { username: name, role } });
      return s.login(name, r.json.password);
    };

    describe("endpoint isolation", () => {
      it("an endpoint's reports land on its own id whatever the body says", async () => {
        const a = await s.enrollEndpoint({ hostname: "A" });
        const b = await s.enrollEndpoint({ hostname: "B" });
        const d = { ...detection(), endpointId: b.endpointId, endpoint_id: b.endpointId };
        const r = await s.call("POST", "/api/v1/detections", {
          key: a.key,
          body: { detections: [d], endpointId: b.endpointId },
        });
        expect(r.json.accepted).toBe(1);
        await s.call("POST", "/api/v1/heartbeat", {
          key: a.key,
          body: { ...heartbeat({ rulesVersion: "from-A" }), endpointId: b.endpointId },
        });
        const bDet = (await s.call("GET", `/api/admin/detections?endpoint=${b.endpointId}`, admin)).json.detections;
        expect(bDet).toEqual([]);
        const aDet = (await s.call("GET", `/api/admin/detections?endpoint=${a.endpointId}`, admin)).json.detections;
        expect(aDet).toHaveLength(1);
        expect((await s.call("GET", `/api/admin/endpoints/${b.endpointId}`, admin)).json.rulesVersion).toBeNull();
      });

      it("the same client id from two endpoints is two detections (idempotency is per endpoint)", async () => {
        const a = await s.enrollEndpoint();
        const b = await s.enrollEndpoint();
        const d = detection();
        expect(
          (await s.call("POST", "/api/v1/detections", { key: a.key, body: { detections: [d] } })).json.accepted,
        ).toBe(1);
        expect(
          (await s.call("POST", "/api/v1/detections", { key: b.key, body: { detections: [d] } })).json.accepted,
        ).toBe(1);
      });

      it("a key naming another endpoint's id with one's own secret is refused", async () => {
        const a = await s.enrollEndpoint();
        const b = await s.enrollEndpoint();
        const forged = `vgk_${b.endpointId}.${a.key.split(".")[1]}`;
        const r = await s.call("POST", "/api/v1/heartbeat", { key: forged, body: heartbeat() });
        expect(r.status).toBe(401);
        for (const bad of ["", "vgk_x.y", a.key + "x", a.key.replace(/.$/, (c) => (c === "A" ? "B" : "A"))]) {
          expect((await s.call("GET", "/api/v1/policy", { key: bad })).status).toBe(401);
        }
      });

      it("endpoint keys do not open the admin API, sessions do not open the endpoint API", async () => {
        const a = await s.enrollEndpoint();
        expect((await s.call("GET", "/api/admin/endpoints", { key: a.key })).status).toBe(401);
        expect((await s.call("GET", "/api/v1/policy", admin)).status).toBe(401);
      });
    });

    describe("roles", () => {
      it("a viewer reads but cannot change policy, create tokens, revoke, add reputation or manage users", async () => {
        const v = await userWithRole("viewer");
        expect((await s.call("GET", "/api/admin/policy", v)).status).toBe(200);
        expect((await s.call("GET", "/api/admin/endpoints", v)).status).toBe(200);
        const policy = (await s.call("GET", "/api/admin/policy", v)).json;
        const put = await s.call("PUT", "/api/admin/policy", {
          ...v,
          body: { ...policy, send: { ...policy.send, path: true } },
        });
        expect(put.status).toBe(403);
        expect(put.json.error.code).toBe("SERVER_FORBIDDEN");
        expect((await s.call("GET", "/api/admin/policy", admin)).json.send.path).toBe(false);
        const ep = await s.enrollEndpoint();
        expect((await s.call("POST", "/api/admin/enrollment-tokens", { ...v, body: { label: "x" } })).status).toBe(403);
        expect((await s.call("POST", `/api/admin/endpoints/${ep.endpointId}/revoke`, v)).status).toBe(403);
        expect(
          (
            await s.call("POST", "/api/admin/reputation", {
              ...v,
              body: { entries: [{ sha256: "a".repeat(64), verdict: "malicious" }] },
            })
          ).status,
        ).toBe(403);
        expect((await s.call("GET", `/api/admin/reputation/${"a".repeat(64)}`, v)).status).toBe(403);
        expect((await s.call("GET", "/api/admin/users", v)).status).toBe(403);
        expect((await s.call("GET", "/api/admin/audit", v)).status).toBe(403);
        expect((await s.call("POST", "/api/v1/heartbeat", { key: ep.key, body: heartbeat() })).status).toBe(200); // not revoked
      });

      it("an analyst adds and looks up reputation but cannot change policy", async () => {
        const an = await userWithRole("analyst");
        expect(
          (
            await s.call("POST", "/api/admin/reputation", {
              ...an,
              body: { entries: [{ sha256: "b".repeat(64), verdict: "clean" }] },
            })
          ).status,
        ).toBe(200);
        expect((await s.call("GET", `/api/admin/reputation/${"b".repeat(64)}`, an)).json.verdict).toBe("clean");
        const policy = (await s.call("GET", "/api/admin/policy", an)).json;
        expect((await s.call("PUT", "/api/admin/policy", { ...an, body: policy })).status).toBe(403);
      });

      it("without a session the admin API answers 401 and the console redirects to the login page", async () => {
        expect((await s.call("GET", "/api/admin/endpoints")).status).toBe(401);
        const r = await s.call("GET", "/console/endpoints?x=1");
        expect([302, 303]).toContain(r.status);
        expect(r.headers.get("location")).toMatch(/^\/console\/login\?next=/);
      });
    });

    describe("CSRF and sessions", () => {
      it("unsafe admin requests need the session's CSRF token", async () => {
        const body = { label: "csrf" };
        const none = await s.call("POST", "/api/admin/enrollment-tokens", { cookie: admin.cookie, body });
        expect(none.status).toBe(403);
        expect(none.json.error.code).toBe("SERVER_CSRF");
        const wrong = await s.call("POST", "/api/admin/enrollment-tokens", {
          cookie: admin.cookie,
          csrf: admin.csrf.slice(0, -2) + "xx",
          body,
        });
        expect(wrong.status).toBe(403);
        const other = await s.login(TEST_ADMIN.username, TEST_ADMIN.password);
        expect(
          (await s.call("POST", "/api/admin/enrollment-tokens", { cookie: admin.cookie, csrf: other.csrf, body }))
            .status,
        ).toBe(403);
        expect((await s.call("POST", "/api/admin/enrollment-tokens", { ...admin, body })).status).toBe(201);
        // form-encoded _csrf works the same way
        const form = await s.call("POST", "/api/admin/logout", {
          cookie: other.cookie,
          raw: "_csrf=nope",
          headers: { "content-type": "application/x-www-form-urlencoded" },
        });
        expect(form.status).toBe(403);
        const formOk = await s.call("POST", "/api/admin/logout", {
          cookie: other.cookie,
          raw: `_csrf=${encodeURIComponent(other.csrf)}`,
          headers: { "content-type": "application/x-www-form-urlencoded" },
        });
        expect(formOk.status).toBe(200);
        expect((await s.call("GET", "/api/admin/me", { cookie: other.cookie })).status).toBe(401);
      });

      it("session fixation: a cookie set before login is never the session after it", async () => {
        const planted = randomBytes(32).toString("base64url");
        const r = await s.call("POST", "/api/admin/login", {
          cookie: `vigil_session=${planted}`,
          body: { username: TEST_ADMIN.username, password: TEST_ADMIN.password },
        });
        expect(r.status).toBe(200);
        const issued = /vigil_session=([^;]+)/.exec(r.headers.get("set-cookie") ?? "")![1]!;
        expect(issued).not.toBe(planted);
        expect((await s.call("GET", "/api/admin/me", { cookie: `vigil_session=${planted}` })).status).toBe(401);
        expect((await s.call("GET", "/api/admin/me", { cookie: `vigil_session=${issued}` })).status).toBe(200);
        // logging in again from a live session replaces it too
        const again = await s.call("POST", "/api/admin/login", {
          cookie: `vigil_session=${issued}`,
          body: { username: TEST_ADMIN.username, password: TEST_ADMIN.password },
        });
        const next = /vigil_session=([^;]+)/.exec(again.headers.get("set-cookie") ?? "")![1]!;
        expect(next).not.toBe(issued);
        expect((await s.call("GET", "/api/admin/me", { cookie: `vigil_session=${issued}` })).status).toBe(401);
      });

      it("the session cookie is HttpOnly, SameSite=Strict, Path=/", async () => {
        const r = await s.call("POST", "/api/admin/login", {
          body: { username: TEST_ADMIN.username, password: TEST_ADMIN.password },
        });
        const c = r.headers.get("set-cookie")!;
        expect(c).toMatch(/HttpOnly/i);
        expect(c).toMatch(/SameSite=Strict/i);
        expect(c).toMatch(/Path=\//);
        expect(c).not.toMatch(/Secure/); // plain http in tests; --secure-cookies turns it on
      });

      it("a wrong password and an unknown user get the same answer", async () => {
        const a = await s.call("POST", "/api/admin/login", {
          body: { username: TEST_ADMIN.username, password: "wrong-password-123" },
        });
        const b = await s.call("POST", "/api/admin/login", {
          body: { username: "nobody-here", password: "wrong-password-123" },
        });
        expect(a.status).toBe(401);
        expect(b.status).toBe(401);
        expect(a.json).toEqual(b.json);
      });
    });

    describe("bodies", () => {
      it("an oversized body gets 413 JSON, with or without Content-Length", async () => {
        const ep = await s.enrollEndpoint();
        const big = { detections: Array.from({ length: 400 }, () => detection({ path: "x".repeat(200) })) };
        const r = await s.call("POST", "/api/v1/detections", { key: ep.key, body: big });
        expect(r.status).toBe(413);
        expect(r.json.error.code).toBe("SERVER_TOO_LARGE");
        const text = JSON.stringify(big);
        const stream = new ReadableStream({
          start(c) {
            for (let i = 0; i < text.length; i += 8192) c.enqueue(new TextEncoder().encode(text.slice(i, i + 8192)));
            c.close();
          },
        });
        const chunked = await fetch(`${s.url}/api/v1/detections`, {
          method: "POST",
          body: stream,
          headers: { authorization: `Bearer ${ep.key}`, "content-type": "application/json" },
          duplex: "half",
        } as RequestInit);
        expect(chunked.status).toBe(413);
        expect(
          (
            await s.call("POST", "/api/v1/enroll", {
              raw: "x".repeat(70_000),
              headers: { "content-type": "application/json" },
            })
          ).status,
        ).toBe(413);
      });

      it("malformed JSON gets 400 SERVER_MALFORMED_JSON; a schema failure names the field", async () => {
        const ep = await s.enrollEndpoint();
        const bad = await s.call("POST", "/api/v1/heartbeat", {
          key: ep.key,
          raw: '{"time": 1,',
          headers: { "content-type": "application/json" },
        });
        expect(bad.status).toBe(400);
        expect(bad.json.error.code).toBe("SERVER_MALFORMED_JSON");
        const field = await s.call("POST", "/api/v1/detections", {
          key: ep.key,
          body: { detections: [detection({ sha256: "ABC" })] },
        });
        expect(field.status).toBe(400);
        expect(field.json.error).toMatchObject({ code: "SERVER_BAD_REQUEST", path: "detections.0.sha256" });
        const empty = await s.call("POST", "/api/v1/detections", { key: ep.key, body: { detections: [] } });
        expect(empty.status).toBe(400);
        const notJson = await s.call("POST", "/api/admin/login", {
          raw: "username=a",
          headers: { "content-type": "text/plain" },
        });
        expect(notJson.status).toBe(400);
        // the server is still fine
        expect((await s.call("GET", "/healthz")).status).toBe(200);
      });
    });

    it("no secret appears in the logs: admin password, endpoint key, enrolment token, cookie, CSRF token", async () => {
      const token = await s.createToken({ label: "secret-check" });
      const en = await s.call("POST", "/api/v1/enroll", { body: { token, os: OS, agentVersion: "0.1.0" } });
      const key = en.json.key as string;
      await s.call("POST", "/api/v1/heartbeat", { key, body: heartbeat() });
      await s.call("POST", "/api/v1/heartbeat", { key: key + "x", body: heartbeat() });
      await s.call("POST", "/api/admin/login", {
        body: { username: TEST_ADMIN.username, password: TEST_ADMIN.password + "!" },
      });
      const sess = await s.login(TEST_ADMIN.username, TEST_ADMIN.password);
      await s.call("GET", "/api/admin/me", sess);
      await s.call("GET", "/console/", { cookie: sess.cookie });
      const logs = s.logs.join("\n");
      expect(s.logs.length).toBeGreaterThan(20);
      for (const secret of [
        TEST_ADMIN.password,
        key,
        key.split(".")[1]!,
        token,
        token.slice(4),
        admin.cookie.split("=")[1]!,
        sess.cookie.split("=")[1]!,
        sess.csrf,
        admin.csrf,
      ]) {
        expect(logs.includes(secret), `secret ${secret.slice(0, 6)}… in logs`).toBe(false);
      }
    });
  });

  describe(`rate limits (${dialect})`, () => {
    let s: TestServer;
    beforeAll(async () => {
      s = await startTestServer({ dialect, rateLimitPerMinute: 5 });
    });
    afterAll(async () => {
      await s?.close();
    });

    it("per endpoint key: the 6th request in a minute gets 429 with Retry-After; other endpoints are unaffected", async () => {
      // enrolment shares the per-IP budget, so enrol both first
      const a = await s.enrollEndpoint();
      const b = await s.enrollEndpoint();
      const codes: number[] = [];
      for (let i = 0; i < 6; i++)
        codes.push((await s.call("POST", "/api/v1/heartbeat", { key: a.key, body: heartbeat() })).status);
      expect(codes).toEqual([200, 200, 200, 200, 200, 429]);
      const limited = await s.call("GET", "/api/v1/policy", { key: a.key });
      expect(limited.status).toBe(429);
      expect(limited.json.error.code).toBe("SERVER_RATE_LIMITED");
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect((await s.call("POST", "/api/v1/heartbeat", { key: b.key, body: heartbeat() })).status).toBe(200);
    });

    it("per client address on enrolment and login", async () => {
      const codes: number[] = [];
      for (let i = 0; i < 7; i++)
        codes.push(
          (
            await s.call("POST", "/api/v1/enroll", {
              body: { token: "vet_" + "z".repeat(43), os: OS, agentVersion: "1" },
            })
          ).status,
        );
      // two enrolments above used two of the five
      expect(codes).toEqual([401, 401, 401, 429, 429, 429, 429]);
      const logins: number[] = [];
      for (let i = 0; i < 6; i++)
        logins.push(
          (await s.call("POST", "/api/admin/login", { body: { username: "admin", password: "not-the-password" } }))
            .status,
        );
      // the harness's admin login above used one of the five
      expect(logins).toEqual([401, 401, 401, 401, 429, 429]);
      // even the right password waits now
      expect(
        (
          await s.call("POST", "/api/admin/login", {
            body: { username: TEST_ADMIN.username, password: TEST_ADMIN.password },
          })
        ).status,
      ).toBe(429);
    });
  });
}

for (const dialect of await dialects()) suite(dialect);
