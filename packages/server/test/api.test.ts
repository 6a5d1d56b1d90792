/**
 * The endpoint and admin APIs through real HTTP on 127.0.0.1, one suite per database
 * (hono common.case style): enrolment and tokens, revocation, heartbeats, detections and scans
 * (duplicates counted once, policy-forbidden fields dropped), reputation by prefix (verdicts,
 * prevalence, and no full hash in any log line), the signed policy, sample uploads.
 */
import { createHash, createPublicKey, randomBytes, verify } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as protocol from "@vigil/protocol";
import { detection, dialects, heartbeat, OS, startTestServer, type TestServer } from "@vigil/test-kit/server";

const HEX64 = /[0-9a-f]{64}/i;

function shaWithPrefix(prefix: string): string {
  return prefix + randomBytes(32).toString("hex").slice(prefix.length);
}

function suite(dialect: "sqlite" | "postgres") {
  describe(`endpoint and admin API (${dialect})`, () => {
    let s: TestServer;
    let admin: { cookie: string; csrf: string };
    let offset = 0; // moves the server's clock
    beforeAll(async () => {
      s = await startTestServer({ dialect, now: () => Date.now() + offset });
      admin = await s.loginAdmin();
    });
    afterAll(async () => {
      await s?.close();
    });

    const setPolicy = async (change: (p: protocol.DataPolicy) => void) => {
      const cur = (await s.call("GET", "/api/admin/policy", admin)).json as protocol.DataPolicy;
      change(cur);
      const r = await s.call("PUT", "/api/admin/policy", { ...admin, body: cur });
      expect(r.status).toBe(200);
      return r.json as protocol.DataPolicy;
    };

    describe("enrolment", () => {
      it("a one-use token enrols once; a second use is refused", async () => {
        const token = await s.createToken({ label: "once" });
        const body = { token, hostname: "a", os: OS, agentVersion: "0.1.0" };
        const first = await s.call("POST", "/api/v1/enroll", { body });
        expect(first.status).toBe(201);
        expect(protocol.EnrollResponse.parse(first.json).key).toContain(first.json.endpointId);
        const again = await s.call("POST", "/api/v1/enroll", { body });
        expect(again.status).toBe(401);
        expect(again.json.error.code).toBe("SERVER_TOKEN_INVALID");
      });

      it("a token with 3 uses enrols 3 endpoints, each with its own key", async () => {
        const token = await s.createToken({ label: "three", uses: 3 });
        const keys = new Set<string>();
        for (let i = 0; i < 4; i++) {
          const r = await s.call("POST", "/api/v1/enroll", { body: { token, os: OS, agentVersion: "0.1.0" } });
          if (i < 3) {
            expect(r.status).toBe(201);
            keys.add(r.json.key);
          } else expect(r.status).toBe(401);
        }
        expect(keys.size).toBe(3);
        const list = await s.call("GET", "/api/admin/enrollment-tokens", admin);
        const t = list.json.tokens.find((x: { label: string }) => x.label === "three");
        expect(t).toMatchObject({ usesLeft: 0, state: "used" });
        expect(JSON.stringify(list.json)).not.toContain(token);
      });

      it("an expired token is refused", async () => {
        const token = await s.createToken({ label: "short", ttlHours: 0.01 }); // 36 s
        offset = 60_000;
        try {
          const r = await s.call("POST", "/api/v1/enroll", { body: { token, os: OS, agentVersion: "0.1.0" } });
          expect(r.status).toBe(401);
          expect(r.json.error.code).toBe("SERVER_TOKEN_INVALID");
        } finally {
          offset = 0;
        }
      });

      it("an unknown token and a malformed body are refused", async () => {
        const r = await s.call("POST", "/api/v1/enroll", {
          body: { token: "vet_" + "x".repeat(43), os: OS, agentVersion: "1" },
        });
        expect(r.status).toBe(401);
        const bad = await s.call("POST", "/api/v1/enroll", { body: { token: "short", os: OS, agentVersion: "1" } });
        expect(bad.status).toBe(400);
        expect(bad.json.error).toMatchObject({ code: "SERVER_BAD_REQUEST", path: "token" });
      });
    });

    describe("endpoint routes", () => {
      it("heartbeat updates the endpoint and the hourly presence", async () => {
        const ep = await s.enrollEndpoint({ hostname: "hb-host" });
        const r = await s.call("POST", "/api/v1/heartbeat", {
          key: ep.key,
          body: heartbeat({
            rulesVersion: "7",
            checkpoint: { origin: "vigil.example/log", size: 12, rootHash: "abc=" },
            ledger: { entries: 5, head: "ff" },
          }),
        });
        expect(r.status).toBe(200);
        expect(protocol.HeartbeatResponse.parse(r.json).serverTime).toBeGreaterThan(0);
        await s.call("POST", "/api/v1/heartbeat", { key: ep.key, body: heartbeat({ rulesVersion: "7" }) });
        const got = (await s.call("GET", `/api/admin/endpoints/${ep.endpointId}`, admin)).json;
        expect(got).toMatchObject({
          rulesVersion: "7",
          status: "online",
          os: OS,
          ledger: { entries: 5, head: "ff" },
          checkpoint: { origin: "vigil.example/log", size: 12, rootHash: "abc=" },
        });
        const presence = await s.ctx.store.db
          .selectFrom("endpoint_presence")
          .selectAll()
          .where("endpoint_id", "=", ep.endpointId)
          .execute();
        expect(presence).toHaveLength(1);
        expect(Number(presence[0]!.hour)).toBe(Math.floor(Date.now() / 3_600_000));
      });

      it("detections: a repeated batch is counted once, repeats inside a batch too", async () => {
        const ep = await s.enrollEndpoint();
        const batch = { detections: [detection(), detection(), detection()] };
        const first = await s.call("POST", "/api/v1/detections", { key: ep.key, body: batch });
        expect(first.json).toEqual({ accepted: 3, duplicates: 0 });
        const again = await s.call("POST", "/api/v1/detections", { key: ep.key, body: batch });
        expect(again.json).toEqual({ accepted: 0, duplicates: 3 });
        const d = detection();
        const inner = await s.call("POST", "/api/v1/detections", {
          key: ep.key,
          body: { detections: [d, d, detection()] },
        });
        expect(inner.json).toEqual({ accepted: 2, duplicates: 1 });
        const list = await s.call("GET", `/api/admin/detections?endpoint=${ep.endpointId}`, admin);
        expect(list.json.detections).toHaveLength(5);
      });

      it("detections: the path is dropped unless the policy allows it", async () => {
        const ep = await s.enrollEndpoint();
        const a = detection({ path: "/home/alice/secret.exe" });
        await s.call("POST", "/api/v1/detections", { key: ep.key, body: { detections: [a] } });
        await setPolicy((p) => {
          p.send.path = true;
        });
        const b = detection({ path: "/srv/allowed.exe" });
        await s.call("POST", "/api/v1/detections", { key: ep.key, body: { detections: [b] } });
        await setPolicy((p) => {
          p.send.path = false;
        });
        const list = (await s.call("GET", `/api/admin/detections?endpoint=${ep.endpointId}`, admin)).json.detections;
        const byClient = Object.fromEntries(
          list.map((d: { clientId: string; path: string | null }) => [d.clientId, d.path]),
        );
        expect(byClient[a.id as string]).toBeNull();
        expect(byClient[b.id as string]).toBe("/srv/allowed.exe");
      });

      it("heartbeat: the hostname is dropped when the policy forbids it", async () => {
        const ep = await s.enrollEndpoint({ hostname: "named" });
        await setPolicy((p) => {
          p.send.hostname = false;
        });
        try {
          await s.call("POST", "/api/v1/heartbeat", { key: ep.key, body: heartbeat({ hostname: "still-named" }) });
          expect((await s.call("GET", `/api/admin/endpoints/${ep.endpointId}`, admin)).json.hostname).toBeNull();
          const other = await s.enrollEndpoint({ hostname: "never-stored" });
          expect((await s.call("GET", `/api/admin/endpoints/${other.endpointId}`, admin)).json.hostname).toBeNull();
        } finally {
          await setPolicy((p) => {
            p.send.hostname = true;
          });
        }
      });

      it("scans: accepted and duplicates; nothing stored when the policy turns summaries off", async () => {
        const ep = await s.enrollEndpoint();
        const scan = (id: string) => ({
          id,
          startedAt: 1000,
          finishedAt: 2000,
          kind: "scheduled",
          files: 10,
          bytes: 100,
          detections: 0,
          errors: 0,
          bundleVersion: "1",
        });
        expect(
          (await s.call("POST", "/api/v1/scans", { key: ep.key, body: { scans: [scan("s1"), scan("s2")] } })).json,
        ).toEqual({ accepted: 2, duplicates: 0 });
        expect(
          (await s.call("POST", "/api/v1/scans", { key: ep.key, body: { scans: [scan("s2"), scan("s3")] } })).json,
        ).toEqual({ accepted: 1, duplicates: 1 });
        await setPolicy((p) => {
          p.send.scanSummaries = false;
        });
        expect((await s.call("POST", "/api/v1/scans", { key: ep.key, body: { scans: [scan("s4")] } })).json).toEqual({
          accepted: 0,
          duplicates: 0,
        });
        await setPolicy((p) => {
          p.send.scanSummaries = true;
        });
        const scans = (await s.call("GET", `/api/admin/endpoints/${ep.endpointId}/scans`, admin)).json.scans;
        expect(scans.map((x: { clientId: string }) => x.clientId).sort()).toEqual(["s1", "s2", "s3"]);
      });

      it("revocation: the key stops working at once, and it is audited", async () => {
        const ep = await s.enrollEndpoint();
        expect((await s.call("POST", "/api/v1/heartbeat", { key: ep.key, body: heartbeat() })).status).toBe(200);
        const r = await s.call("POST", `/api/admin/endpoints/${ep.endpointId}/revoke`, admin);
        expect(r.json).toMatchObject({ status: "revoked", revokedBy: "admin" });
        for (const [m, p, body] of [
          ["POST", "/api/v1/heartbeat", heartbeat()],
          ["GET", "/api/v1/policy", undefined],
          ["GET", "/api/v1/reputation/00000", undefined],
        ] as const) {
          const x = await s.call(m, p, { key: ep.key, ...(body ? { body } : {}) });
          expect(x.status).toBe(401);
          expect(x.json.error.code).toBe("SERVER_UNAUTHORIZED");
        }
        const audit = (await s.call("GET", "/api/admin/audit?action=endpoint.revoke", admin)).json.entries;
        expect(
          audit.some((e: { target: string; username: string }) => e.target === ep.endpointId && e.username === "admin"),
        ).toBe(true);
      });
    });

    describe("reputation by prefix", () => {
      it("returns verdicts and fleet prevalence for hashes under the prefix only", async () => {
        const prefix = randomBytes(3).toString("hex").slice(0, 5);
        const bad = shaWithPrefix(prefix);
        const sus = shaWithPrefix(prefix);
        const seenOnly = shaWithPrefix(prefix);
        const elsewhere = shaWithPrefix(
          prefix === "fffff" ? "00000" : (parseInt(prefix, 16) + 1).toString(16).padStart(5, "0"),
        );
        const add = await s.call("POST", "/api/admin/reputation", {
          ...admin,
          body: {
            entries: [
              { sha256: bad, verdict: "malicious", name: "Trojan.X" },
              { sha256: sus, verdict: "suspicious" },
              { sha256: elsewhere, verdict: "malicious" },
            ],
          },
        });
        expect(add.json).toEqual({ added: 3 });
        const [e1, e2, e3] = [await s.enrollEndpoint(), await s.enrollEndpoint(), await s.enrollEndpoint()];
        // bad: seen by two endpoints (one of them twice); seenOnly: by one; sus: by none
        await s.call("POST", "/api/v1/detections", {
          key: e1.key,
          body: {
            detections: [detection({ sha256: bad }), detection({ sha256: bad }), detection({ sha256: seenOnly })],
          },
        });
        await s.call("POST", "/api/v1/detections", { key: e2.key, body: { detections: [detection({ sha256: bad })] } });
        const r = await s.call("GET", `/api/v1/reputation/${prefix}`, { key: e3.key });
        expect(r.status).toBe(200);
        const body = protocol.ReputationResponse.parse(r.json);
        expect(body.prefix).toBe(prefix);
        const by = Object.fromEntries(body.entries.map((e) => [e.sha256, e]));
        expect(Object.keys(by).sort()).toEqual([bad, sus, seenOnly].sort());
        expect(by[bad]).toEqual({ sha256: bad, verdict: "malicious", name: "Trojan.X", prevalence: 2 });
        expect(by[sus]).toMatchObject({ verdict: "suspicious", prevalence: 0 });
        expect(by[seenOnly]).toMatchObject({ verdict: "unknown", prevalence: 1 });
        // an analyst's full-hash lookup agrees
        const full = await s.call("GET", `/api/admin/reputation/${bad}`, admin);
        expect(full.json).toMatchObject({ verdict: "malicious", prevalence: 2, detections: 3 });
        expect(full.json.endpoints.sort()).toEqual([e1.endpointId, e2.endpointId].sort());
        // no log line contains a full hash: not the lookups, not the reports, not the admin calls
        const leaked = s.logs.filter((l) => HEX64.test(l));
        expect(leaked).toEqual([]);
        expect(s.logs.some((l) => l.includes(`/api/v1/reputation/${prefix}`))).toBe(true);
      });

      it("refuses anything but 5 lowercase hex digits", async () => {
        const ep = await s.enrollEndpoint();
        for (const p of ["0000", "000000", "ABCDE", "g0000", randomBytes(32).toString("hex")]) {
          const r = await s.call("GET", `/api/v1/reputation/${p}`, { key: ep.key });
          expect(r.status, p).toBe(400);
        }
        expect(s.logs.filter((l) => HEX64.test(l))).toEqual([]);
      });

      it("is refused when the policy turns reputation off", async () => {
        const ep = await s.enrollEndpoint();
        await setPolicy((p) => {
          p.reputation.enabled = false;
        });
        try {
          const r = await s.call("GET", "/api/v1/reputation/abcde", { key: ep.key });
          expect(r.status).toBe(403);
          expect(r.json.error.code).toBe("SERVER_POLICY_DENIED");
        } finally {
          await setPolicy((p) => {
            p.reputation.enabled = true;
          });
        }
      });
    });

    describe("signed policy", () => {
      it("verifies with node:crypto against the key pinned at enrolment, and follows updates", async () => {
        const ep = await s.enrollEndpoint();
        const pub = createPublicKey({
          key: Buffer.from(ep.enrollment.policyKey, "base64"),
          format: "der",
          type: "spki",
        });
        expect(ep.enrollment.policyKeyId).toBe(
          createHash("sha256").update(Buffer.from(ep.enrollment.policyKey, "base64")).digest("hex").slice(0, 16),
        );
        const check = (sp: protocol.SignedPolicy) => {
          expect(sp.keyId).toBe(ep.enrollment.policyKeyId);
          expect(verify(null, Buffer.from(sp.payload, "utf8"), pub, Buffer.from(sp.signature, "base64"))).toBe(true);
          const tampered = sp.payload.replace('"path":false', '"path":true');
          expect(verify(null, Buffer.from(tampered, "utf8"), pub, Buffer.from(sp.signature, "base64"))).toBe(false);
          return protocol.DataPolicy.parse(JSON.parse(sp.payload));
        };
        const before = check(ep.enrollment.policy);
        const fetched = check((await s.call("GET", "/api/v1/policy", { key: ep.key })).json);
        expect(fetched).toEqual(before);
        const updated = await setPolicy((p) => {
          p.heartbeatSeconds = 120;
        });
        expect(updated.version).toBe(before.version + 1);
        const after = check((await s.call("GET", "/api/v1/policy", { key: ep.key })).json);
        expect(after).toMatchObject({ version: updated.version, heartbeatSeconds: 120 });
        expect((await s.call("POST", "/api/v1/heartbeat", { key: ep.key, body: heartbeat() })).json.policyVersion).toBe(
          updated.version,
        );
        const audit = (await s.call("GET", "/api/admin/audit?action=policy.update", admin)).json.entries;
        expect(audit[0].detail.to.heartbeatSeconds).toBe(120);
      });
    });

    describe("samples", () => {
      const pe = Buffer.concat([Buffer.from("MZ"), randomBytes(200)]);
      const sha = createHash("sha256").update(pe).digest("hex");
      const upload = (key: string, body: Uint8Array, q: string) =>
        s.call("POST", `/api/v1/samples?${q}`, {
          key,
          raw: body,
          headers: { "content-type": "application/octet-stream" },
        });

      it("are refused while the policy keeps them off (the default)", async () => {
        const ep = await s.enrollEndpoint();
        const r = await upload(ep.key, pe, `sha256=${sha}&type=pe`);
        expect(r.status).toBe(403);
        expect(r.json.error.code).toBe("SERVER_POLICY_DENIED");
        expect(existsSync(join(s.dataDir, "samples", sha.slice(0, 2), sha))).toBe(false);
      });

      it("are accepted within the policy: type, size and hash checked", async () => {
        const ep = await s.enrollEndpoint();
        await setPolicy((p) => {
          p.samples = { enabled: true, maxBytes: 1000, fileTypes: ["pe"] };
        });
        try {
          expect((await upload(ep.key, pe, `sha256=${sha}&type=elf`)).status).toBe(403);
          const big = randomBytes(1001);
          expect(
            (await upload(ep.key, big, `sha256=${createHash("sha256").update(big).digest("hex")}&type=pe`)).status,
          ).toBe(413);
          const wrong = await upload(ep.key, pe, `sha256=${"0".repeat(64)}&type=pe`);
          expect(wrong.status).toBe(400);
          expect(wrong.json.error.path).toBe("sha256");
          const ok = await upload(ep.key, pe, `sha256=${sha}&type=pe`);
          expect(ok.status).toBe(201);
          expect(ok.json).toMatchObject({ stored: true, size: pe.length });
          expect(readFileSync(join(s.dataDir, "samples", sha.slice(0, 2), sha)).equals(pe)).toBe(true);
        } finally {
          await setPolicy((p) => {
            p.samples.enabled = false;
          });
        }
        expect(s.logs.filter((l) => HEX64.test(l))).toEqual([]);
      });
    });

    describe("admin API", () => {
      it("lists endpoints and detections with filters", async () => {
        const ep = await s.enrollEndpoint({ hostname: "filter-host" });
        await s.call("POST", "/api/v1/detections", {
          key: ep.key,
          body: {
            detections: [
              detection({ rule: "R_one", severity: "low", time: 1000 }),
              detection({ rule: "R_two", severity: "critical", time: 2000 }),
            ],
          },
        });
        const crit = (await s.call("GET", `/api/admin/detections?endpoint=${ep.endpointId}&severity=critical`, admin))
          .json.detections;
        expect(crit.map((d: { rule: string }) => d.rule)).toEqual(["R_two"]);
        expect(crit[0].hostname).toBe("filter-host");
        const since = (await s.call("GET", `/api/admin/detections?endpoint=${ep.endpointId}&since=1500`, admin)).json
          .detections;
        expect(since).toHaveLength(1);
        const bad = await s.call("GET", "/api/admin/detections?severity=urgent", admin);
        expect(bad.status).toBe(400);
        expect(bad.json.error.path).toBe("severity");
        const eps = (await s.call("GET", "/api/admin/endpoints?q=filter-host", admin)).json.endpoints;
        expect(eps.map((e: { id: string }) => e.id)).toEqual([ep.endpointId]);
      });

      it("manages users: create with a generated password, change role, disable", async () => {
        const name = `u${randomBytes(3).toString("hex")}`;
        const created = await s.call("POST", "/api/admin/users", {
          ...admin,
          body: { username: name, role: "viewer" },
        });
        expect(created.status).toBe(201);
        expect(created.json.password).toHaveLength(20);
        const viewer = await s.login(name, created.json.password);
        expect((await s.call("GET", "/api/admin/me", viewer)).json.user.role).toBe("viewer");
        const id = created.json.user.id;
        expect(
          (await s.call("PATCH", `/api/admin/users/${id}`, { ...admin, body: { role: "analyst" } })).json.user.role,
        ).toBe("analyst");
        expect((await s.call("GET", "/api/admin/me", viewer)).json.user.role).toBe("analyst");
        await s.call("PATCH", `/api/admin/users/${id}`, { ...admin, body: { disabled: true } });
        expect((await s.call("GET", "/api/admin/me", viewer)).status).toBe(401);
        expect(
          (await s.call("POST", "/api/admin/users", { ...admin, body: { username: name, role: "viewer" } })).status,
        ).toBe(409);
        const me = (await s.call("GET", "/api/admin/me", admin)).json.user;
        const last = await s.call("PATCH", `/api/admin/users/${me.id}`, { ...admin, body: { role: "viewer" } });
        expect(last.status).toBe(409); // the last admin stays admin
      });

      it("records every admin action in the audit log", async () => {
        const actions = new Set(
          (await s.call("GET", "/api/admin/audit?limit=1000", admin)).json.entries.map(
            (e: { action: string }) => e.action,
          ),
        );
        for (const a of [
          "login",
          "token.create",
          "endpoint.revoke",
          "policy.update",
          "user.create",
          "user.role",
          "user.disable",
          "reputation.add",
          "reputation.lookup",
        ]) {
          expect(actions.has(a), a).toBe(true);
        }
      });

      it("documents every API route in /openapi.json", async () => {
        const doc = (await s.call("GET", "/openapi.json")).json;
        const documented = new Set<string>();
        for (const [p, ops] of Object.entries(doc.paths as Record<string, object>))
          for (const m of Object.keys(ops)) documented.add(`${m.toUpperCase()} ${p}`);
        const routes = s.app.routes
          .filter((r) => /^\/(api|healthz|openapi|updates)/.test(r.path) && r.method !== "ALL" && !r.path.endsWith("*"))
          .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, "{$1}")}`);
        expect(routes.length).toBeGreaterThan(20);
        for (const r of routes) expect(documented.has(r), r).toBe(true);
      });
    });
  });
}

for (const dialect of await dialects()) suite(dialect);
