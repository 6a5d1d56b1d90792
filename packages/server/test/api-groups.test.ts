/**
 * Endpoint groups and the effective policy through real HTTP on 127.0.0.1, on each database:
 * group CRUD, membership by hostname glob, OS and tags (tags from enrolment and heartbeats) and
 * by hand, inheritance from the default field by field, priority between two groups of one
 * endpoint (ties by name), the per-endpoint signed policy and its version (moves only when the
 * content does, never backwards), the data part applied on arrival per endpoint, role checks (a
 * viewer or analyst cannot change groups) and the audit log.
 */
import { createPublicKey, verify } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { detection, dialects, heartbeat, OS, startTestServer, textOf, type TestServer } from "@vigil/test-kit/server";

type Session = { cookie: string; csrf: string };
type Field = { field: string; value: unknown; source: { kind: string; name?: string } };

function suite(dialect: "sqlite" | "postgres") {
  describe(`groups (${dialect})`, () => {
    let s: TestServer;
    let admin: Session;
    let analyst: Session;
    let viewer: Session;
    let web: { endpointId: string; key: string };
    let db: { endpointId: string; key: string };
    let lab: { endpointId: string; key: string; policyKey: string };

    const effective = async (id: string) => {
      const r = await s.call("GET", `/api/admin/endpoints/${id}/policy`, viewer);
      expect(r.status).toBe(200);
      return r.json as {
        policy: Record<string, any>;
        groups: { name: string; via: string }[];
        fields: Field[];
      };
    };
    const field = (fields: Field[], name: string) => fields.find((f) => f.field === name)!;
    const signed = async (key: string) => {
      const r = await s.call("GET", "/api/v1/policy", { key });
      expect(r.status).toBe(200);
      return { ...r.json, policy: JSON.parse(r.json.payload) };
    };
    const create = async (body: Record<string, unknown>, who: Session = admin) =>
      s.call("POST", "/api/admin/groups", { ...who, body });
    /** A console form post as a browser sends it. */
    const post = (path: string, who: Session, fields: Record<string, string>) =>
      s.call("POST", path, {
        cookie: who.cookie,
        headers: { "content-type": "application/x-www-form-urlencoded" },
        raw: new URLSearchParams({ ...fields, _csrf: who.csrf }).toString(),
      });

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
      web = await s.enrollEndpoint({ hostname: "WEB-01.example" });
      db = await s.enrollEndpoint({ hostname: "db-01.example" });
      const token = await s.createToken();
      const r = await s.call("POST", "/api/v1/enroll", {
        body: {
          token,
          hostname: "lab-7",
          os: { ...OS, platform: "win32" },
          agentVersion: "0.1.0",
          tags: ["lab", "eu"],
        },
      });
      expect(r.status).toBe(201);
      lab = { endpointId: r.json.endpointId, key: r.json.key, policyKey: r.json.policyKey };
    });
    afterAll(async () => {
      await s?.close();
    });

    it("without groups an endpoint gets the default, every field from it, scan fields unset", async () => {
      const def = (await s.call("GET", "/api/admin/policy", viewer)).json;
      const e = await effective(web.endpointId);
      expect(e.groups).toEqual([]);
      expect(e.policy).toEqual(def); // the default's version and content: what agents held before groups
      expect(e.policy.heartbeatSeconds).toBe(def.heartbeatSeconds);
      expect(field(e.fields, "send.path")).toEqual({ field: "send.path", value: false, source: { kind: "default" } });
      expect(field(e.fields, "scan.paths")).toEqual({ field: "scan.paths", value: null, source: { kind: "unset" } });
      expect(e.policy.scan).toBeUndefined();
      // stable while nothing changes
      expect((await effective(web.endpointId)).policy.version).toBe(e.policy.version);
      const hb = await s.call("POST", "/api/v1/heartbeat", { key: web.key, body: heartbeat() });
      expect(hb.json.policyVersion).toBe(e.policy.version);
      // the enrolment's signed policy carries the tags' endpoint's own version and verifies
      const sp = await signed(lab.key);
      const key = createPublicKey({ key: Buffer.from(lab.policyKey, "base64"), format: "der", type: "spki" });
      expect(verify(null, Buffer.from(sp.payload), key, Buffer.from(sp.signature, "base64"))).toBe(true);
      const info = (await s.call("GET", `/api/admin/endpoints/${lab.endpointId}`, viewer)).json;
      expect(info.tags).toEqual(["lab", "eu"]);
    });

    let webGroup: string;
    let linuxGroup: string;
    it("a group by hostname glob takes in matching endpoints; its fields win over the default, the rest inherit", async () => {
      const before = (await effective(web.endpointId)).policy.version;
      const r = await create({
        name: "Web servers",
        priority: 10,
        match: { hostname: "web-*" },
        data: { send: { path: true } },
        scan: { paths: ["/srv/www"], everyMinutes: 60, watchPaths: ["/srv/www/uploads"], action: "quarantine" },
      });
      expect(r.status).toBe(201);
      webGroup = r.json.id;
      expect(r.json).toMatchObject({ name: "Web servers", priority: 10, manualMembers: 0, updatedBy: "admin" });

      const e = await effective(web.endpointId);
      expect(e.groups).toEqual([expect.objectContaining({ name: "Web servers", via: "rule" })]);
      expect(e.policy.version).toBe(before + 1);
      expect(e.policy.send.path).toBe(true);
      expect(e.policy.scan).toEqual({
        paths: ["/srv/www"],
        everyMinutes: 60,
        watchPaths: ["/srv/www/uploads"],
        action: "quarantine",
      });
      expect(field(e.fields, "send.path").source).toMatchObject({ kind: "group", name: "Web servers" });
      expect(field(e.fields, "send.hostname").source).toEqual({ kind: "default" });
      expect(field(e.fields, "scan.dailyAt").source).toEqual({ kind: "unset" });
      // the endpoint learns the new version from its heartbeat and fetches it signed
      const hb = await s.call("POST", "/api/v1/heartbeat", { key: web.key, body: heartbeat() });
      expect(hb.json.policyVersion).toBe(e.policy.version);
      const sp = await signed(web.key);
      expect(sp.policy).toEqual(e.policy);

      // db-01 does not match: untouched
      const other = await effective(db.endpointId);
      expect(other.groups).toEqual([]);
      expect(other.policy.scan).toBeUndefined();

      const detail = (await s.call("GET", `/api/admin/groups/${webGroup}`, viewer)).json;
      expect(detail.total).toBe(1);
      expect(detail.members).toEqual([{ id: web.endpointId, hostname: "WEB-01.example", via: "rule" }]);
    });

    it("the data part is applied on arrival per endpoint: paths kept for the group's endpoint only", async () => {
      for (const ep of [web, db])
        await s.call("POST", "/api/v1/detections", {
          key: ep.key,
          body: { detections: [detection({ path: "/srv/www/x.php" })] },
        });
      const path = async (id: string) =>
        (await s.call("GET", `/api/admin/detections?endpoint=${id}`, viewer)).json.detections[0].path;
      expect(await path(web.endpointId)).toBe("/srv/www/x.php");
      expect(await path(db.endpointId)).toBeNull();
    });

    it("alerts filter by group (members by rule), in the API and the console", async () => {
      const all = (await s.call("GET", "/api/admin/alerts", viewer)).json;
      expect(all.total).toBe(2);
      const mine = (await s.call("GET", `/api/admin/alerts?group=${webGroup}`, viewer)).json;
      expect(mine.total).toBe(1);
      expect(mine.alerts[0].endpointId).toBe(web.endpointId);
      expect((await s.call("GET", "/api/admin/alerts?group=nope", viewer)).status).toBe(404);
      const page = await s.call("GET", `/console/alerts?group=${webGroup}`, viewer);
      expect(page.text).toContain("WEB-01.example");
      expect(page.text).not.toContain("db-01.example");
      expect(page.text).toMatch(/<option value="[^"]+" selected="">Web servers<\/option>/);
    });

    it("two groups: each field comes from the higher priority that sets it; equal priorities go by name", async () => {
      const r = await create({
        name: "Linux",
        priority: 50,
        match: { os: "LINUX" },
        data: { heartbeatSeconds: 120 },
        scan: { everyMinutes: 30, exclude: ["*.iso"] },
      });
      expect(r.status).toBe(201);
      linuxGroup = r.json.id;
      let e = await effective(web.endpointId);
      expect(e.groups.map((g) => g.name)).toEqual(["Linux", "Web servers"]);
      expect(e.policy.scan.everyMinutes).toBe(30);
      expect(field(e.fields, "scan.everyMinutes").source).toMatchObject({ name: "Linux" });
      expect(e.policy.scan.paths).toEqual(["/srv/www"]);
      expect(field(e.fields, "scan.paths").source).toMatchObject({ name: "Web servers" });
      expect(e.policy.heartbeatSeconds).toBe(120);
      // the Windows lab machine is not Linux
      expect((await effective(lab.endpointId)).groups).toEqual([]);

      // raise Web servers to the same priority: "Linux" < "Web servers" by name, Linux still wins
      const body = {
        name: "Web servers",
        priority: 50,
        match: { hostname: "web-*" },
        data: { send: { path: true } },
        scan: { paths: ["/srv/www"], everyMinutes: 60, watchPaths: ["/srv/www/uploads"], action: "quarantine" },
      };
      const put = await s.call("PUT", `/api/admin/groups/${webGroup}`, { ...admin, body });
      expect(put.status).toBe(200);
      expect(put.json.priority).toBe(50);
      e = await effective(web.endpointId);
      expect(e.policy.scan.everyMinutes).toBe(30);
      // above it: Web servers wins
      expect(
        (await s.call("PUT", `/api/admin/groups/${webGroup}`, { ...admin, body: { ...body, priority: 51 } })).status,
      ).toBe(200);
      e = await effective(web.endpointId);
      expect(e.groups.map((g) => g.name)).toEqual(["Web servers", "Linux"]);
      expect(e.policy.scan.everyMinutes).toBe(60);
      expect(e.policy.heartbeatSeconds).toBe(120); // only Linux sets it
      // a PUT with a field the group schema does not know is refused whole
      const extra = await s.call("PUT", `/api/admin/groups/${webGroup}`, {
        ...admin,
        body: { ...body, manualMembers: 3 },
      });
      expect(extra.status).toBe(400);
    });

    it("refuses a field that is not part of a policy, a taken name, a sample limit over the server's, a rule with no criterion", async () => {
      const bad = await create({ name: "x", data: { send: { paths: true } } });
      expect(bad.status).toBe(400);
      expect(bad.json.error.path).toContain("data.send");
      expect((await create({ name: "Linux" })).status).toBe(409);
      const big = await create({ name: "big", data: { samples: { maxBytes: 10 ** 12 } } });
      expect(big.status).toBe(400);
      expect(big.json.error.path).toBe("data.samples.maxBytes");
      expect((await create({ name: "empty", match: {} })).status).toBe(400);
      expect((await create({ name: "bad time", scan: { dailyAt: "25:00" } })).status).toBe(400);
      expect((await s.call("GET", "/api/admin/groups/nope", viewer)).status).toBe(404);
    });

    it("tags from enrolment choose groups, and a heartbeat's tags replace them", async () => {
      const r = await create({ name: "Lab", priority: 5, match: { tags: ["lab"] }, scan: { dailyAt: "03:00" } });
      expect(r.status).toBe(201);
      let e = await effective(lab.endpointId);
      expect(e.groups.map((g) => g.name)).toEqual(["Lab"]);
      expect(e.policy.scan.dailyAt).toBe("03:00");
      const v1 = e.policy.version;
      await s.call("POST", "/api/v1/heartbeat", {
        key: lab.key,
        body: heartbeat({ os: { ...OS, platform: "win32" }, tags: ["eu"] }),
      });
      e = await effective(lab.endpointId);
      expect(e.groups).toEqual([]);
      expect(e.policy.version).toBe(v1 + 1);
      // an older agent's heartbeat (no tags) keeps the tags the server has
      await s.call("POST", "/api/v1/heartbeat", {
        key: lab.key,
        body: heartbeat({ os: { ...OS, platform: "win32" } }),
      });
      expect((await s.call("GET", `/api/admin/endpoints/${lab.endpointId}`, viewer)).json.tags).toEqual(["eu"]);
    });

    it("manual members: added and removed by an admin, unknown ids refused", async () => {
      const add = await s.call("POST", `/api/admin/groups/${webGroup}/members`, {
        ...admin,
        body: { endpointIds: [db.endpointId, web.endpointId] },
      });
      expect(add.json).toEqual({ added: 2 });
      const detail = (await s.call("GET", `/api/admin/groups/${webGroup}`, viewer)).json;
      expect(detail.manualMembers).toBe(2);
      expect(detail.members).toEqual([
        { id: db.endpointId, hostname: "db-01.example", via: "manual" },
        { id: web.endpointId, hostname: "WEB-01.example", via: "manual+rule" },
      ]);
      expect((await effective(db.endpointId)).policy.scan.paths).toEqual(["/srv/www"]);
      const unknown = await s.call("POST", `/api/admin/groups/${webGroup}/members`, {
        ...admin,
        body: { endpointIds: ["no-such-endpoint"] },
      });
      expect(unknown.status).toBe(400);
      expect(unknown.json.error.message).toContain("no-such-endpoint");
      const del = await s.call("DELETE", `/api/admin/groups/${webGroup}/members/${db.endpointId}`, admin);
      expect(del.json).toEqual({ removed: 1 });
      expect((await effective(db.endpointId)).groups).toEqual([expect.objectContaining({ name: "Linux" })]);
    });

    it("a viewer or an analyst can read groups but not change them", async () => {
      expect((await s.call("GET", "/api/admin/groups", viewer)).status).toBe(200);
      for (const who of [viewer, analyst]) {
        expect((await create({ name: "mine" }, who)).status).toBe(403);
        expect((await s.call("PUT", `/api/admin/groups/${webGroup}`, { ...who, body: { name: "x" } })).status).toBe(
          403,
        );
        expect((await s.call("DELETE", `/api/admin/groups/${webGroup}`, who)).status).toBe(403);
        expect(
          (
            await s.call("POST", `/api/admin/groups/${webGroup}/members`, {
              ...who,
              body: { endpointIds: [db.endpointId] },
            })
          ).status,
        ).toBe(403);
        expect((await s.call("PUT", "/api/admin/policy", { ...who, body: {} })).status).toBe(403);
      }
      expect((await s.call("GET", `/api/admin/groups/${webGroup}`, viewer)).json.manualMembers).toBe(1);
    });

    it("the default's scan part is inherited; a default saved without scan keeps it", async () => {
      const def = (await s.call("GET", "/api/admin/policy", admin)).json;
      const put = await s.call("PUT", "/api/admin/policy", {
        ...admin,
        body: { ...def, scan: { paths: ["/home"], everyMinutes: 240, action: "report" } },
      });
      expect(put.status).toBe(200);
      const e = await effective(db.endpointId);
      expect(e.policy.scan.paths).toEqual(["/home"]);
      expect(field(e.fields, "scan.paths").source).toEqual({ kind: "default" });
      expect(e.policy.scan.everyMinutes).toBe(30); // Linux group
      const { scan: _s, ...withoutScan } = put.json;
      const again = await s.call("PUT", "/api/admin/policy", { ...admin, body: withoutScan });
      expect(again.json.scan).toEqual({ paths: ["/home"], everyMinutes: 240, action: "report" });
    });

    it("deleting a group gives its endpoints the next version, never an older one", async () => {
      const before = (await effective(web.endpointId)).policy.version;
      expect((await s.call("DELETE", `/api/admin/groups/${linuxGroup}`, admin)).status).toBe(200);
      const e = await effective(web.endpointId);
      expect(e.groups.map((g) => g.name)).toEqual(["Web servers"]);
      expect(e.policy.version).toBe(before + 1);
      expect(e.policy.scan.everyMinutes).toBe(60);
      expect(e.policy.heartbeatSeconds).toBe(300);
      expect((await s.call("GET", `/api/admin/groups/${linuxGroup}`, admin)).status).toBe(404);
    });

    it("the console: a group made with the form, its members, the endpoint's policy with sources; viewers only read", async () => {
      const made = await post("/console/groups", admin, {
        name: "Console made",
        priority: "70",
        "match.hostname": "db-*",
        "send.path": "yes",
        "send.hostname": "",
        heartbeatSeconds: "90",
        "scan.paths": "/var/lib/db\n/opt/db",
        "scan.everyMinutes": "off",
        "scan.action": "report",
      });
      expect(made.status).toBe(303);
      const id = made.headers.get("location")!.match(/groups\/([0-9a-f-]+)/)![1]!;
      const g = (await s.call("GET", `/api/admin/groups/${id}`, viewer)).json;
      expect(g).toMatchObject({
        name: "Console made",
        priority: 70,
        match: { hostname: "db-*" },
        data: { send: { path: true }, heartbeatSeconds: 90 },
        scan: { paths: ["/var/lib/db", "/opt/db"], everyMinutes: null, action: "report" },
      });
      expect(g.data.send.hostname).toBeUndefined(); // "inherit" sets nothing
      const page = textOf((await s.call("GET", `/console/groups/${id}`, viewer)).text);
      expect(page).toContain("db-01.example");
      expect(page).toContain("by rule");
      expect(page).not.toContain("Delete Console made"); // no admin forms for a viewer
      const list = textOf((await s.call("GET", "/console/groups", viewer)).text);
      expect(list).toContain("Console made");
      expect(list).toContain("Scan every (minutes): off");
      const ep = textOf((await s.call("GET", `/console/endpoints/${db.endpointId}`, viewer)).text);
      expect(ep).toMatch(/Heartbeat interval \(s\)\s*90\s*group Console made/);
      expect(ep).toMatch(/Send the hostname\s*yes\s*default/);
      expect(ep).toMatch(/Watched paths\s*not set\s*the endpoint's own configuration/);
      // a bad value is shown on the form, not saved
      const bad = await post(`/console/groups/${id}`, admin, { name: "Console made", "scan.dailyAt": "7pm" });
      expect(bad.status).toBe(400);
      expect(textOf(bad.text)).toContain("Not saved");
      // viewers cannot post the forms
      expect((await post("/console/groups", viewer, { name: "nope" })).status).toBe(403);
      expect((await post(`/console/groups/${id}/delete`, viewer, {})).status).toBe(403);
      expect((await post(`/console/groups/${id}/delete`, admin, {})).status).toBe(303);
      expect((await s.call("GET", `/api/admin/groups/${id}`, viewer)).status).toBe(404);
    });

    it("every change is in the audit log with who did it", async () => {
      const entries = (await s.call("GET", "/api/admin/audit?limit=100", admin)).json.entries as {
        action: string;
        username: string;
        target: string;
        detail: any;
      }[];
      const of = (a: string) => entries.filter((e) => e.action === a);
      expect(
        of("group.create")
          .map((e) => e.detail.name)
          .sort(),
      ).toEqual(["Console made", "Lab", "Linux", "Web servers"]);
      expect(of("group.update").every((e) => e.username === "admin" && e.target === webGroup)).toBe(true);
      expect(of("group.update").some((e) => e.detail.from.priority === 10 && e.detail.to.priority === 50)).toBe(true);
      expect(of("group.update")).toHaveLength(2);
      expect(of("group.members.add")[0]!.detail.endpoints).toEqual([db.endpointId, web.endpointId]);
      expect(of("group.members.remove")[0]!.detail).toEqual({ endpoint: db.endpointId });
      expect(of("group.delete").find((e) => e.target === linuxGroup)).toMatchObject({ detail: { name: "Linux" } });
      // refused attempts changed nothing and wrote nothing
      expect(of("group.create")).toHaveLength(4);
    });
  });
}

for (const dialect of await dialects()) suite(dialect);
