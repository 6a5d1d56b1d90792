/**
 * Issue 18 through real HTTP on 127.0.0.1, on each database: one name for a detection everywhere
 * (the signature name the endpoint showed, with the rule beside it), the hash verdict of a
 * detected hash, the ledger head with the time it was reported, rules freshness for a fleet
 * with and without an update log, and the forced password change of the first admin.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { detection, dialects, heartbeat, startTestServer, type TestServer } from "@vigil/test-kit/server";

const textOf = (html: string) =>
  html
    .replace(/<[^>]+>/g, " ")
    .replace(/&quot;/g, '"')
    .replace(/\s+/g, " ");

function suite(dialect: "sqlite" | "postgres") {
  describe(`fleet papercuts (${dialect})`, () => {
    let s: TestServer;
    let admin: { cookie: string; csrf: string };
    beforeAll(async () => {
      s = await startTestServer({ dialect });
      admin = await s.loginAdmin();
    });
    afterAll(async () => {
      await s?.close();
    });

    it("a detection carries the signature name the endpoint showed, with the rule beside it; old agents still accepted", async () => {
      const ep = await s.enrollEndpoint({ hostname: "name-host" });
      const sha = randomBytes(32).toString("hex");
      const r = await s.call("POST", "/api/v1/detections", {
        key: ep.key,
        body: {
          detections: [
            detection({ sha256: sha, rule: "EICAR_Test_File", name: "Win.Test.EICAR_HDB-1" }),
            detection({ rule: "Old_Agent_Rule" }), // an agent before `name`
          ],
        },
      });
      expect(r.json).toEqual({ accepted: 2, duplicates: 0 });
      const list = (await s.call("GET", `/api/admin/detections?endpoint=${ep.endpointId}`, admin)).json.detections;
      const byRule = Object.fromEntries(list.map((d: { rule: string; name: string }) => [d.rule, d.name]));
      expect(byRule).toEqual({ EICAR_Test_File: "Win.Test.EICAR_HDB-1", Old_Agent_Rule: "Old_Agent_Rule" });
      // a name over 256 characters is refused with the field named
      const bad = await s.call("POST", "/api/v1/detections", {
        key: ep.key,
        body: { detections: [detection({ name: "x".repeat(257) })] },
      });
      expect(bad.status).toBe(400);
      expect(bad.json.error.path).toBe("detections.0.name");
      // the console shows the name, the rule beside it, and finds it by either
      const page = await s.call("GET", `/console/detections?rule=HDB-1`, admin);
      const text = textOf(page.text);
      expect(text).toContain("Win.Test.EICAR_HDB-1 (rule EICAR_Test_File)");
      expect(text).not.toContain("Old_Agent_Rule");
      const ep2 = await s.call("GET", `/console/endpoints/${ep.endpointId}`, admin);
      expect(textOf(ep2.text)).toContain("Win.Test.EICAR_HDB-1 (rule EICAR_Test_File)");
      expect(textOf(ep2.text)).not.toContain("Old_Agent_Rule (rule");
      const dash = textOf((await s.call("GET", "/console/", admin)).text);
      expect(dash).toContain("Win.Test.EICAR_HDB-1 (rule EICAR_Test_File)");
    });

    it("a detected hash has a verdict from its detections until someone records one", async () => {
      const ep = await s.enrollEndpoint();
      const high = randomBytes(32).toString("hex");
      const low = randomBytes(32).toString("hex");
      await s.call("POST", "/api/v1/detections", {
        key: ep.key,
        body: {
          detections: [
            detection({ sha256: high, severity: "high", rule: "EICAR_Test_File", name: "Win.Test.EICAR_HDB-1" }),
            detection({ sha256: low, severity: "low", rule: "PUA_Toolbar" }),
          ],
        },
      });
      const h = (await s.call("GET", `/api/admin/reputation/${high}`, admin)).json;
      expect(h).toMatchObject({ verdict: "malicious", name: "Win.Test.EICAR_HDB-1", detections: 1, prevalence: 1 });
      expect(h.source).toMatch(/detections/);
      expect((await s.call("GET", `/api/admin/reputation/${low}`, admin)).json.verdict).toBe("suspicious");
      const never = randomBytes(32).toString("hex");
      expect((await s.call("GET", `/api/admin/reputation/${never}`, admin)).json.verdict).toBe("unknown");
      // the console's hash page and the prefix listing say the same
      const page = textOf((await s.call("GET", `/console/hashes?q=${high}`, admin)).text);
      expect(page).toMatch(/Verdict malicious Win\.Test\.EICAR_HDB-1/);
      const prefix = textOf((await s.call("GET", `/console/hashes?q=${high.slice(0, 12)}`, admin)).text);
      expect(prefix).toContain("malicious");
      expect(prefix).toContain("Win.Test.EICAR_HDB-1");
      // a recorded verdict wins (a false positive marked clean)
      const put = await s.call("POST", "/api/admin/reputation", {
        ...admin,
        body: { entries: [{ sha256: high, verdict: "clean" }] },
      });
      expect(put.status).toBe(200);
      expect((await s.call("GET", `/api/admin/reputation/${high}`, admin)).json.verdict).toBe("clean");
    });

    it("the ledger head says when it was reported and which entry it follows", async () => {
      const ep = await s.enrollEndpoint({ hostname: "ledger-host" });
      const head = "ab".repeat(32);
      const before = Date.now();
      await s.call("POST", "/api/v1/heartbeat", { key: ep.key, body: heartbeat({ ledger: { entries: 7, head } }) });
      const info = (await s.call("GET", `/api/admin/endpoints/${ep.endpointId}`, admin)).json;
      expect(info.ledger.entries).toBe(7);
      expect(info.ledger.head).toBe(head);
      expect(info.ledger.at).toBeGreaterThanOrEqual(before);
      expect(info.ledger.at).toBeLessThanOrEqual(Date.now());
      const text = textOf((await s.call("GET", `/console/endpoints/${ep.endpointId}`, admin)).text);
      expect(text).toContain("the chain after entry 7");
      expect(text).toContain("entry 7 of vigil ledger --json must carry this hash");
      expect(text).toMatch(/Reported \d{4}-\d\d-\d\d/);
    });
  });

  describe(`rules freshness (${dialect})`, () => {
    let s: TestServer;
    let admin: { cookie: string; csrf: string };
    beforeAll(async () => {
      s = await startTestServer({ dialect });
      admin = await s.loginAdmin();
    });
    afterAll(async () => {
      await s?.close();
    });

    it("an endpoint on the newest rules in a fleet without an update log is up to date", async () => {
      const ep = await s.enrollEndpoint({ hostname: "fresh-01" });
      await s.call("POST", "/api/v1/heartbeat", { key: ep.key, body: heartbeat({ rulesVersion: "rules-7" }) });
      const text = textOf((await s.call("GET", "/console/", admin)).text);
      expect(text).toContain("1 of 1 active endpoint up to date");
    });

    it("once the fleet uses an update log, an endpoint without a verified checkpoint is flagged", async () => {
      const other = await s.enrollEndpoint({ hostname: "fresh-02" });
      await s.call("POST", "/api/v1/heartbeat", {
        key: other.key,
        body: heartbeat({
          rulesVersion: "rules-7",
          checkpoint: { origin: "example.org/log", size: 5, rootHash: "AA==" },
        }),
      });
      const text = textOf((await s.call("GET", "/console/", admin)).text);
      expect(text).toContain("1 of 2 active endpoints up to date");
      expect(text).toMatch(/fresh-01 rules-7 .*no verified checkpoint/);
    });
  });

  describe(`first login with the generated password (${dialect})`, () => {
    let s: TestServer;
    beforeAll(async () => {
      s = await startTestServer({ dialect, initialAdmin: undefined });
    });
    afterAll(async () => {
      await s?.close();
    });

    it("forces a password change before anything else, then removes the password file", async () => {
      const file = join(s.dataDir, "initial-admin-password");
      const generated = /password: (\S+)/.exec(readFileSync(file, "utf8"))![1]!;
      const me = await s.login("admin", generated);
      const who = await s.call("GET", "/api/admin/me", me);
      expect(who.json.user).toMatchObject({ username: "admin", mustChangePassword: true });
      const refused = await s.call("GET", "/api/admin/endpoints", me);
      expect(refused.status).toBe(403);
      expect(refused.json.error.code).toBe("SERVER_PASSWORD_CHANGE_REQUIRED");
      expect((await s.call("POST", "/api/admin/enrollment-tokens", { ...me, body: { label: "x" } })).status).toBe(403);
      // the console sends every page to the password form
      const dash = await s.call("GET", "/console/endpoints", me);
      expect(dash.status).toBe(303);
      expect(dash.headers.get("location")).toBe("/console/password");
      const form = await s.call("GET", "/console/password", me);
      expect(form.status).toBe(200);
      expect(textOf(form.text)).toContain("You logged in with the generated password");
      // a wrong current password, a short one and the same one are refused
      const form2 = (current: string, next: string) =>
        s.call("POST", "/console/password", {
          cookie: me.cookie,
          headers: { "content-type": "application/x-www-form-urlencoded", origin: s.url },
          raw: new URLSearchParams({ _csrf: me.csrf, currentPassword: current, newPassword: next }).toString(),
        });
      expect((await form2("wrong-password-123", "a-new-password-42")).status).toBe(403);
      expect((await form2(generated, "short")).status).toBe(400);
      expect(
        (
          await s.call("POST", "/api/admin/password", {
            ...me,
            body: { currentPassword: generated, newPassword: generated },
          })
        ).status,
      ).toBe(400);
      expect(existsSync(file)).toBe(true);
      const ok = await form2(generated, "a-new-password-42");
      expect(ok.status).toBe(303);
      expect(existsSync(file)).toBe(false);
      expect((await s.call("GET", "/api/admin/endpoints", me)).status).toBe(200);
      expect((await s.call("GET", "/api/admin/me", me)).json.user.mustChangePassword).toBeUndefined();
      expect((await s.call("GET", "/console/endpoints", me)).status).toBe(200);
      // the generated password no longer works; the new one does and is not forced to change
      await expect(s.login("admin", generated)).rejects.toThrow();
      const again = await s.login("admin", "a-new-password-42");
      expect((await s.call("GET", "/api/admin/endpoints", again)).status).toBe(200);
      const audit = (await s.call("GET", "/api/admin/audit?action=user.password.change", again)).json.entries;
      expect(audit).toHaveLength(1);
      expect(audit[0].detail).toEqual({ forced: true, passwordFileRemoved: true });
    });
  });
}

for (const dialect of await dialects()) suite(dialect);
