/**
 * Alerts through real HTTP on 127.0.0.1, on each database: a rescan of the same files groups into
 * the same alerts (count, first and last seen); filters; state changes in bulk with who and when,
 * comments, the role check (a viewer cannot resolve), a resolved alert reopening when seen again,
 * and a false positive that allow-lists the hash for the fleet (audited) so the same file on
 * another endpoint opens as a false positive.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { detection, dialects, startTestServer, type TestServer } from "@vigil/test-kit/server";

type Session = { cookie: string; csrf: string };

function suite(dialect: "sqlite" | "postgres") {
  describe(`alerts (${dialect})`, () => {
    let s: TestServer;
    let admin: Session;
    let analyst: Session;
    let viewer: Session;
    let ep: { endpointId: string; key: string };
    const files = Array.from({ length: 8 }, (_, i) => ({
      sha256: randomBytes(32).toString("hex"),
      rule: i < 6 ? "EICAR_Test_File" : "Trojan_Generic",
      name: i < 6 ? "Win.Test.EICAR_HDB-1" : "Trojan_Generic",
      severity: i < 6 ? "high" : "critical",
    }));
    const scan = (time: number, which = files) =>
      s.call("POST", "/api/v1/detections", {
        key: ep.key,
        body: { detections: which.map((f) => detection({ ...f, time })) },
      });
    const alerts = async (query = "") =>
      (await s.call("GET", `/api/admin/alerts?endpoint=${ep.endpointId}${query}`, admin)).json;
    const alertOf = async (sha256: string) => (await alerts(`&sha256=${sha256}`)).alerts[0];

    beforeAll(async () => {
      s = await startTestServer({ dialect });
      admin = await s.loginAdmin();
      const mk = async (username: string, role: string) => {
        const r = await s.call("POST", "/api/admin/users", { ...admin, body: { username, role } });
        expect(r.status).toBe(201);
        return s.login(username, r.json.password);
      };
      analyst = await mk("ana", "analyst");
      viewer = await mk("vic", "viewer");
      ep = await s.enrollEndpoint({ hostname: "alert-host" });
    });
    afterAll(async () => {
      await s?.close();
    });

    it("a rescan of the same 8 files keeps 8 alerts, each counted twice", async () => {
      expect((await scan(1_000)).json.accepted).toBe(8);
      expect((await scan(5_000)).json.accepted).toBe(8);
      const detections = (await s.call("GET", `/api/admin/detections?endpoint=${ep.endpointId}`, admin)).json;
      expect(detections.detections).toHaveLength(16);
      const all = await alerts();
      expect(all.total).toBe(8);
      for (const a of all.alerts) {
        expect(a).toMatchObject({ count: 2, firstSeen: 1_000, lastSeen: 5_000, state: "new", stateBy: null });
        expect(a.hostname).toBe("alert-host");
      }
      const eicar = await alertOf(files[0]!.sha256);
      expect(eicar).toMatchObject({ name: "Win.Test.EICAR_HDB-1", rule: "EICAR_Test_File", severity: "high" });
    });

    it("filters by state, severity and rule (name or rule)", async () => {
      expect((await alerts("&severity=critical")).total).toBe(2);
      expect((await alerts("&rule=hdb-1")).total).toBe(6);
      expect((await alerts("&rule=trojan&severity=high")).total).toBe(0);
      expect((await alerts("&state=acknowledged")).total).toBe(0);
      // the console's list filters by endpoint too, and the endpoint page links to it
      const page = await s.call("GET", `/console/alerts?endpoint=${ep.endpointId}&severity=critical`, admin);
      expect(page.text.match(/name="ids"/g)).toHaveLength(2);
      expect((await s.call("GET", "/console/alerts?endpoint=nobody", admin)).text).toContain("No alerts match");
      const epPage = await s.call("GET", `/console/endpoints/${ep.endpointId}`, admin);
      expect(epPage.text).toContain(`/console/alerts?endpoint=${ep.endpointId}`);
      const bad = await s.call("GET", "/api/admin/alerts?state=closed", admin);
      expect(bad.status).toBe(400);
      expect(bad.json.error.path).toBe("state");
    });

    it("a viewer can read but not change an alert; an analyst acknowledges in bulk with a comment", async () => {
      const ids = (await alerts("&severity=critical")).alerts.map((a: { id: string }) => a.id);
      expect((await s.call("GET", `/api/admin/alerts/${ids[0]}`, viewer)).status).toBe(200);
      const refused = await s.call("POST", "/api/admin/alerts/state", {
        ...viewer,
        body: { ids, state: "resolved" },
      });
      expect(refused.status).toBe(403);
      expect(refused.json.error.code).toBe("SERVER_FORBIDDEN");
      expect(
        (await s.call("POST", `/api/admin/alerts/${ids[0]}/comments`, { ...viewer, body: { text: "x" } })).status,
      ).toBe(403);
      const before = Date.now();
      const ok = await s.call("POST", "/api/admin/alerts/state", {
        ...analyst,
        body: { ids, state: "acknowledged", comment: "looking at it" },
      });
      expect(ok.json).toEqual({ changed: 2 });
      for (const id of ids) {
        const a = (await s.call("GET", `/api/admin/alerts/${id}`, viewer)).json;
        expect(a).toMatchObject({ state: "acknowledged", stateBy: "ana" });
        expect(a.stateAt).toBeGreaterThanOrEqual(before);
        expect(a.comments.map((c: { username: string; text: string }) => [c.username, c.text])).toEqual([
          ["ana", "looking at it"],
        ]);
      }
      const c2 = await s.call("POST", `/api/admin/alerts/${ids[0]}/comments`, {
        ...analyst,
        body: { text: "a trojan" },
      });
      expect(c2.status).toBe(201);
      expect((await s.call("GET", `/api/admin/alerts/${ids[0]}`, admin)).json.comments).toHaveLength(2);
      expect((await alerts("&state=acknowledged")).total).toBe(2);
      // an unknown id changes nothing and says which
      const missing = await s.call("POST", "/api/admin/alerts/state", {
        ...analyst,
        body: { ids: [ids[1], "no-such-alert"], state: "resolved" },
      });
      expect(missing.status).toBe(404);
      expect(missing.json.error.message).toContain("no-such-alert");
      expect((await s.call("GET", `/api/admin/alerts/${ids[1]}`, admin)).json.state).toBe("acknowledged");
      expect((await s.call("GET", "/api/admin/alerts/no-such-alert", admin)).status).toBe(404);
    });

    it("a resolved alert seen again opens again as new, with its count going on", async () => {
      const f = files[6]!;
      const a = await alertOf(f.sha256);
      expect(
        (await s.call("POST", "/api/admin/alerts/state", { ...admin, body: { ids: [a.id], state: "resolved" } }))
          .status,
      ).toBe(200);
      expect((await alertOf(f.sha256)).state).toBe("resolved");
      await scan(Date.now() + 60_000, [f]);
      expect(await alertOf(f.sha256)).toMatchObject({ id: a.id, state: "new", count: 3 });
    });

    it("a false positive allow-lists the hash for the fleet, audited; the same file elsewhere opens as a false positive", async () => {
      const f = files[0]!;
      const a = await alertOf(f.sha256);
      const r = await s.call("POST", "/api/admin/alerts/state", {
        ...analyst,
        body: { ids: [a.id], state: "false_positive", comment: "our own test file" },
      });
      expect(r.json).toEqual({ changed: 1 });
      const rep = (await s.call("GET", `/api/admin/reputation/${f.sha256}`, admin)).json;
      expect(rep).toMatchObject({ verdict: "clean", source: "alert:ana" });
      const audit = (await s.call("GET", "/api/admin/audit?limit=10", admin)).json.entries;
      const state = audit.find((e: { action: string }) => e.action === "alert.state");
      expect(state).toMatchObject({ username: "ana", target: a.id });
      expect(state.detail).toMatchObject({ state: "false_positive", allowListed: 1 });
      expect(
        audit.some((e: { action: string; username: string }) => e.action === "reputation.add" && e.username === "ana"),
      ).toBe(true);
      // the endpoints learn the verdict by prefix
      const byPrefix = (await s.call("GET", `/api/v1/reputation/${f.sha256.slice(0, 5)}`, { key: ep.key })).json;
      expect(byPrefix.entries.find((e: { sha256: string }) => e.sha256 === f.sha256).verdict).toBe("clean");
      // another endpoint reporting the same file: its alert starts as a false positive
      const other = await s.enrollEndpoint({ hostname: "other-host" });
      await s.call("POST", "/api/v1/detections", { key: other.key, body: { detections: [detection({ ...f })] } });
      const theirs = (await s.call("GET", `/api/admin/alerts?endpoint=${other.endpointId}`, admin)).json.alerts;
      expect(theirs).toHaveLength(1);
      expect(theirs[0]).toMatchObject({ state: "false_positive", stateBy: "allow list" });
      expect((await s.call("GET", `/api/admin/alerts?state=new&sha256=${f.sha256}`, admin)).json.total).toBe(0);
    });
  });
}

for (const dialect of await dialects()) suite(dialect);
