/**
 * Remote actions through real HTTP on 127.0.0.1, on each database: the role each kind needs (a
 * viewer queues nothing, an analyst scans, quarantines and updates, restore and diagnostics need
 * an admin), parameter checks, the states queued -> delivered (in the heartbeat answer, only to
 * agents that announce actionKinds; a kind the agent lacks fails with the reason) -> done or
 * failed (the agent's result; a retried report changes nothing; another endpoint cannot report
 * it), redelivery of a delivered action without a result, cancelling a queued action, the
 * diagnostics bundle (admin download only) and the audit log entries.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dialects, heartbeat, startTestServer, type TestServer } from "@vigil/test-kit/server";

type Session = { cookie: string; csrf: string };
const ALL_KINDS = ["scan", "quarantine", "restore", "update", "diagnostics"];

function suite(dialect: "sqlite" | "postgres") {
  describe(`remote actions (${dialect})`, () => {
    let s: TestServer;
    let admin: Session;
    let analyst: Session;
    let viewer: Session;
    let ep: { endpointId: string; key: string };
    let other: { endpointId: string; key: string };
    let skew = 0; // the server's clock runs this far ahead
    const queue = (who: Session, body: unknown, id = ep.endpointId) =>
      s.call("POST", `/api/admin/endpoints/${id}/actions`, { ...who, body });
    const beat = (kinds?: string[], key = ep.key, agentVersion = "0.2.0") =>
      s.call("POST", "/api/v1/heartbeat", {
        key,
        body: heartbeat({ agentVersion, ...(kinds ? { actionKinds: kinds } : {}) }),
      });
    const report = (id: string, body: Record<string, unknown>, key = ep.key) =>
      s.call("POST", `/api/v1/actions/${id}/result`, { key, body: { finishedAt: Date.now(), ...body } });
    const action = async (id: string) => (await s.call("GET", `/api/admin/actions/${id}`, viewer)).json;

    beforeAll(async () => {
      s = await startTestServer({ dialect, now: () => Date.now() + skew });
      admin = await s.loginAdmin();
      const mk = async (username: string, role: string) => {
        const r = await s.call("POST", "/api/admin/users", { ...admin, body: { username, role } });
        expect(r.status).toBe(201);
        return s.login(username, r.json.password);
      };
      analyst = await mk("ana", "analyst");
      viewer = await mk("vic", "viewer");
      ep = await s.enrollEndpoint({ hostname: "act-host" });
      other = await s.enrollEndpoint({ hostname: "other-host" });
    });
    afterAll(async () => {
      await s?.close();
    });

    it("roles: a viewer queues nothing; an analyst scans, quarantines, updates; restore and diagnostics need an admin", async () => {
      const v = await queue(viewer, { kind: "scan" });
      expect(v.status).toBe(403);
      expect(v.json.error.code).toBe("SERVER_FORBIDDEN");
      for (const body of [
        { kind: "scan", path: "/srv/data" },
        { kind: "quarantine", path: "/srv/data/evil.bin" },
        { kind: "update" },
      ]) {
        const r = await queue(analyst, body);
        expect(r.status, JSON.stringify(body)).toBe(201);
        expect(r.json).toMatchObject({ ...body, state: "queued", requestedBy: "ana", hostname: "act-host" });
        expect(r.json.deliveredAt).toBeNull();
      }
      for (const body of [{ kind: "restore", sha256: "a".repeat(64) }, { kind: "diagnostics" }]) {
        const r = await queue(analyst, body);
        expect(r.status).toBe(403);
        expect(r.json.error.message).toContain("needs the admin role; you are analyst");
      }
      expect((await queue(admin, { kind: "restore", quarantineId: "20261207T223000Z-0123456789ab" })).status).toBe(201);
      const list = (await s.call("GET", `/api/admin/endpoints/${ep.endpointId}/actions`, viewer)).json;
      expect(list.total).toBe(4);
      expect(list.actions.map((a: { kind: string }) => a.kind).sort()).toEqual([
        "quarantine",
        "restore",
        "scan",
        "update",
      ]);
      const audit = (await s.call("GET", "/api/admin/audit?action=action.queue", admin)).json.entries;
      expect(audit).toHaveLength(4);
      expect(audit.find((e: { username: string }) => e.username === "ana").target).toBe(ep.endpointId);
    });

    it("refuses bad parameters, unknown and revoked endpoints", async () => {
      const cases: Array<[unknown, string]> = [
        [{ kind: "reboot" }, "kind"],
        [{ kind: "quarantine" }, "path"],
        [{ kind: "quarantine", path: "/x", sha256: "b".repeat(64) }, "path"],
        [{ kind: "scan", path: "relative/dir" }, "path"],
        [{ kind: "scan", sha256: "c".repeat(64) }, "sha256"],
        [{ kind: "restore", quarantineId: "../../etc" }, "quarantineId"],
        [{ kind: "quarantine", sha256: "XYZ" }, "sha256"],
      ];
      for (const [body, path] of cases) {
        const r = await queue(admin, body);
        expect(r.status, JSON.stringify(body)).toBe(400);
        expect(r.json.error.path, JSON.stringify(body)).toBe(path);
      }
      expect((await queue(admin, { kind: "scan" }, "no-such-endpoint")).status).toBe(404);
      const gone = await s.enrollEndpoint({ hostname: "gone" });
      await s.call("POST", `/api/admin/endpoints/${gone.endpointId}/revoke`, admin);
      const r = await queue(admin, { kind: "scan" }, gone.endpointId);
      expect(r.status).toBe(409);
      expect(r.json.error.message).toContain("revoked");
    });

    it("queued -> delivered in the heartbeat answer, only to agents announcing kinds; a kind the agent lacks fails", async () => {
      // an older agent (no actionKinds) is handed nothing and the actions stay queued
      const old = await beat(undefined);
      expect(old.status).toBe(200);
      expect(old.json.actions).toBeUndefined();
      const listed = (await s.call("GET", `/api/admin/endpoints/${ep.endpointId}/actions`, viewer)).json;
      expect(listed.agentKinds).toBeNull();
      expect((await s.call("GET", `/console/endpoints/${ep.endpointId}`, viewer)).text).toContain(
        "(version 0.2.0) did not announce remote actions in its last heartbeat",
      );
      expect(
        (await s.call("GET", `/api/admin/endpoints/${ep.endpointId}/actions?state=queued`, viewer)).json.total,
      ).toBe(4);
      // this agent implements scan, quarantine and restore only
      const r = await beat(["scan", "quarantine", "restore"]);
      expect(r.status).toBe(200);
      const handed = r.json.actions as Array<Record<string, unknown>>;
      expect(handed.map((a) => a.kind)).toEqual(["scan", "quarantine", "restore"]);
      expect(handed[0]).toMatchObject({ kind: "scan", path: "/srv/data", requestedBy: "ana" });
      expect(handed[2]).toMatchObject({ quarantineId: "20261207T223000Z-0123456789ab", requestedBy: "admin" });
      for (const a of handed) expect(await action(a.id as string)).toMatchObject({ state: "delivered" });
      const after = (await s.call("GET", `/api/admin/endpoints/${ep.endpointId}/actions`, viewer)).json;
      expect(after.agentKinds).toEqual(["quarantine", "restore", "scan"]);
      expect((await s.call("GET", `/console/endpoints/${ep.endpointId}`, viewer)).text).not.toContain(
        "did not announce remote actions",
      );
      const update = (await s.call("GET", `/api/admin/endpoints/${ep.endpointId}/actions?kind=update`, viewer)).json
        .actions[0];
      expect(update.state).toBe("failed");
      expect(update.message).toContain("version 0.2.0) cannot carry out update actions; update the agent");
      // handed over once: the next heartbeat carries nothing, another endpoint never sees them
      expect((await beat(ALL_KINDS)).json.actions).toBeUndefined();
      expect((await beat(ALL_KINDS, other.key)).json.actions).toBeUndefined();
    });

    it("delivered -> done or failed with the agent's result; a retried report changes nothing; not another endpoint's", async () => {
      const delivered = (await s.call("GET", `/api/admin/endpoints/${ep.endpointId}/actions?state=delivered`, viewer))
        .json.actions as Array<{ id: string; kind: string }>;
      const scan = delivered.find((a) => a.kind === "scan")!;
      const quarantine = delivered.find((a) => a.kind === "quarantine")!;
      // another endpoint cannot report (or learn of) this endpoint's action
      const theirs = await report(scan.id, { state: "done", message: "x" }, other.key);
      expect(theirs.status).toBe(404);
      expect((await action(scan.id)).state).toBe("delivered");
      expect((await report("no-such-action", { state: "done", message: "x" })).status).toBe(404);
      expect((await report(scan.id, { state: "finished", message: "x" })).status).toBe(400);

      const done = await report(scan.id, {
        state: "done",
        message: "scanned 12 files, 1 detection",
        details: { files: 12, detections: 1 },
      });
      expect(done.json).toEqual({ state: "done", duplicate: false });
      const a = await action(scan.id);
      expect(a).toMatchObject({
        state: "done",
        message: "scanned 12 files, 1 detection",
        details: { files: 12, detections: 1 },
      });
      expect(a.finishedAt).toBeGreaterThanOrEqual(a.deliveredAt);
      const again = await report(scan.id, { state: "failed", message: "late" });
      expect(again.json).toEqual({ state: "done", duplicate: true });
      expect((await action(scan.id)).message).toBe("scanned 12 files, 1 detection");

      const refused = await report(quarantine.id, {
        state: "failed",
        message: "refused: this endpoint's configuration does not allow remote quarantine actions",
      });
      expect(refused.json).toEqual({ state: "failed", duplicate: false });
      expect(await action(quarantine.id)).toMatchObject({
        state: "failed",
        message: "refused: this endpoint's configuration does not allow remote quarantine actions",
      });
      const results = (await s.call("GET", "/api/admin/audit?action=action.result", admin)).json.entries;
      expect(results.map((e: { detail: { id: string } }) => e.detail.id).sort()).toEqual(
        [scan.id, quarantine.id].sort(),
      );
      expect(results[0].username).toBe(`endpoint ${ep.endpointId}`);
    });

    it("a delivered action without a result is handed over again after the redelivery delay", async () => {
      const restore = (await s.call("GET", `/api/admin/endpoints/${ep.endpointId}/actions?kind=restore`, viewer)).json
        .actions[0];
      expect(restore.state).toBe("delivered");
      expect((await beat(ALL_KINDS)).json.actions).toBeUndefined();
      skew = 16 * 60_000;
      try {
        const r = await beat(ALL_KINDS);
        expect(r.json.actions.map((a: { id: string }) => a.id)).toEqual([restore.id]);
        expect((await action(restore.id)).deliveredAt).toBeGreaterThan(restore.deliveredAt + 15 * 60_000);
        expect((await beat(ALL_KINDS)).json.actions).toBeUndefined();
      } finally {
        skew = 0;
      }
      expect((await report(restore.id, { state: "done", message: "restored 1 file" })).json.state).toBe("done");
    });

    it("cancels a queued action (not a delivered one; not as a viewer)", async () => {
      const q = (await queue(analyst, { kind: "scan" })).json;
      expect((await s.call("POST", `/api/admin/actions/${q.id}/cancel`, viewer)).status).toBe(403);
      const c = await s.call("POST", `/api/admin/actions/${q.id}/cancel`, analyst);
      expect(c.status).toBe(200);
      expect(c.json).toMatchObject({ state: "failed", message: "cancelled by ana before delivery" });
      expect((await beat(ALL_KINDS)).json.actions).toBeUndefined();
      const q2 = (await queue(analyst, { kind: "update" })).json;
      expect((await beat(ALL_KINDS)).json.actions.map((a: { id: string }) => a.id)).toEqual([q2.id]);
      const late = await s.call("POST", `/api/admin/actions/${q2.id}/cancel`, analyst);
      expect(late.status).toBe(409);
      expect(late.json.error.message).toContain("is delivered");
      expect((await s.call("GET", "/api/admin/audit?action=action.cancel", admin)).json.entries).toHaveLength(1);
    });

    it("diagnostics: the bundle the agent uploads is downloadable by an admin only (audited)", async () => {
      const q = (await queue(admin, { kind: "diagnostics" })).json;
      expect((await s.call("GET", `/api/admin/actions/${q.id}/bundle`, admin)).status).toBe(404);
      const handed = (await beat(ALL_KINDS)).json.actions;
      expect(handed).toEqual([expect.objectContaining({ id: q.id, kind: "diagnostics" })]);
      const marker = randomBytes(8).toString("hex");
      const bundle = {
        format: "vigil-diagnostics/1",
        versions: { agent: "0.2.0" },
        recentLog: [`info ${marker}`],
      };
      expect((await report(q.id, { state: "done", message: "diagnostic bundle, 1 log line", bundle })).status).toBe(
        200,
      );
      const info = await action(q.id);
      expect(info).toMatchObject({ state: "done", hasBundle: true });
      const denied = await s.call("GET", `/api/admin/actions/${q.id}/bundle`, analyst);
      expect(denied.status).toBe(403);
      const dl = await s.call("GET", `/api/admin/actions/${q.id}/bundle`, admin);
      expect(dl.status).toBe(200);
      expect(dl.headers.get("content-disposition")).toContain(`vigil-diagnostics-${ep.endpointId}`);
      expect(dl.json).toEqual(bundle);
      const audit = (await s.call("GET", "/api/admin/audit?action=action.bundle", admin)).json.entries;
      expect(audit).toHaveLength(1);
      expect(audit[0]).toMatchObject({ username: "admin", target: ep.endpointId, detail: { id: q.id } });
      // a bundle sent with another kind's result is not stored
      const scan = (await queue(admin, { kind: "scan" })).json;
      await beat(ALL_KINDS);
      await report(scan.id, { state: "done", message: "ok", bundle: { x: 1 } });
      expect((await action(scan.id)).hasBundle).toBe(false);
      expect((await s.call("GET", `/api/admin/actions/${scan.id}/bundle`, admin)).status).toBe(404);
    });

    it("console: the endpoint page's buttons follow the role; a form post queues; the history shows it", async () => {
      const page = (who: Session) => s.call("GET", `/console/endpoints/${ep.endpointId}`, who);
      const v = (await page(viewer)).text;
      expect(v).toContain('id="action-history"');
      expect(v).not.toContain("Scan now");
      expect(v).toContain("can see the actions but not queue them");
      const an = (await page(analyst)).text;
      for (const b of ["Scan now", "Quarantine", "Update rules now"]) expect(an).toContain(b);
      expect(an).not.toContain("Collect diagnostics");
      expect(an).not.toContain("vault entry id or sha256");
      expect(an).not.toContain("Download the bundle");
      const ad = (await page(admin)).text;
      for (const b of ["Collect diagnostics", "vault entry id or sha256", "Download the bundle"])
        expect(ad).toContain(b);
      const form = (who: Session, fields: Record<string, string>) =>
        s.call("POST", `/console/endpoints/${ep.endpointId}/actions`, {
          cookie: who.cookie,
          raw: new URLSearchParams({ _csrf: who.csrf, ...fields }).toString(),
          headers: { "content-type": "application/x-www-form-urlencoded" },
        });
      expect((await form(viewer, { kind: "scan" })).status).toBe(403);
      const hash = randomBytes(32).toString("hex");
      const r = await form(analyst, { kind: "quarantine", target: hash.toUpperCase() });
      expect(r.status).toBe(303);
      expect(r.headers.get("location")).toContain("done=action#actions");
      const q = (await s.call("GET", `/api/admin/endpoints/${ep.endpointId}/actions?state=queued`, admin)).json
        .actions[0];
      expect(q).toMatchObject({ kind: "quarantine", sha256: hash, path: null, requestedBy: "ana" });
      expect((await page(viewer)).text).toContain(`sha256 ${hash.slice(0, 16)}`);
    });

    it("/openapi.json lists the action routes", async () => {
      const doc = (await s.call("GET", "/openapi.json")).json;
      for (const p of [
        "/api/v1/actions/{id}/result",
        "/api/admin/endpoints/{id}/actions",
        "/api/admin/actions/{id}",
        "/api/admin/actions/{id}/cancel",
        "/api/admin/actions/{id}/bundle",
      ])
        expect(doc.paths[p], p).toBeDefined();
    });
  });
}

for (const dialect of await dialects()) suite(dialect);
