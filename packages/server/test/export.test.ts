/**
 * Exports of the console's lists on each database: `?format=csv|json|ndjson` (and `ecs` for
 * alerts) on the admin API list routes give every row the page's filters select, streamed; CSV
 * parsed here by an RFC 4180 reader written for the test round-trips hostile values (quotes,
 * commas, CR LF, a leading = + - @ neutralised by a quote); JSON equals the paged listing; the
 * audit log records the export; roles and a bad format are refused; a 20,000-row export arrives
 * whole.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { detection, dialects, startTestServer, type TestServer } from "@vigil/test-kit/server";

/** RFC 4180: records of fields; a quoted field may hold "" , CR and LF. */
function parseCsv(text: string): string[][] {
  const out: string[][] = [];
  let row: string[] = [];
  let i = 0;
  for (;;) {
    let field = "";
    if (text[i] === '"') {
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) throw new Error("unterminated quoted field");
        field += text.slice(i, q);
        i = q + 1;
        if (text[i] === '"') {
          field += '"';
          i++;
        } else break;
      }
    } else {
      const m = /[,\r]/.exec(text.slice(i));
      const end = m ? i + m.index : text.length;
      field = text.slice(i, end);
      if (field.includes('"') || field.includes("\n")) throw new Error(`bare " or LF in field ${field}`);
      i = end;
    }
    row.push(field);
    if (text[i] === ",") {
      i++;
      continue;
    }
    if (text.startsWith("\r\n", i)) {
      out.push(row);
      row = [];
      i += 2;
      if (i >= text.length) return out;
      continue;
    }
    if (i >= text.length) {
      out.push(row);
      return out;
    }
    throw new Error(`unexpected ${JSON.stringify(text[i])} at ${i}`);
  }
}

const HOSTILE_HOST = '=cmd|"/C calc"!A0, evil\r\nhost';
const HOSTILE_NAME = '+SUM(1,2)"name"';
const HOSTILE_PATH = '@/tmp/a "b",\nc\r\nd';

for (const dialect of await dialects()) {
  describe(`exports (${dialect})`, () => {
    let s: TestServer;
    let admin: { cookie: string; csrf: string };
    let hostile: { endpointId: string; key: string };
    beforeAll(async () => {
      s = await startTestServer({ dialect });
      admin = await s.loginAdmin();
      const cur = (await s.call("GET", "/api/admin/policy", admin)).json;
      cur.send.path = true;
      expect((await s.call("PUT", "/api/admin/policy", { ...admin, body: cur })).status).toBe(200);
      hostile = await s.enrollEndpoint({ hostname: HOSTILE_HOST });
      const plain = await s.enrollEndpoint({ hostname: "plain-host" });
      await s.call("POST", "/api/v1/detections", {
        key: hostile.key,
        body: {
          detections: [
            detection({ name: HOSTILE_NAME, severity: "high", path: HOSTILE_PATH }),
            detection({ rule: "-Other_Rule", severity: "low" }),
          ],
        },
      });
      await s.call("POST", "/api/v1/detections", {
        key: plain.key,
        body: { detections: [detection({ severity: "high" }), detection({ severity: "medium" })] },
      });
    });
    afterAll(async () => {
      await s?.close();
    });

    it("alerts as CSV: the page's filters, RFC 4180, formula-safe", async () => {
      const r = await s.call("GET", "/api/admin/alerts?severity=high&format=csv", admin);
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toMatch(/^text\/csv/);
      expect(r.headers.get("content-disposition")).toMatch(/^attachment; filename="vigil-alerts-\d{8}T\d{6}Z\.csv"$/);
      expect(r.text.endsWith("\r\n")).toBe(true);
      const rows = parseCsv(r.text);
      const [header, ...data] = rows;
      expect(header).toEqual([
        "id",
        "endpointId",
        "hostname",
        "sha256",
        "rule",
        "name",
        "severity",
        "firstSeen",
        "lastSeen",
        "count",
        "state",
        "stateBy",
        "stateAt",
      ]);
      expect(data).toHaveLength(2);
      for (const d of data) expect(d[6]).toBe("high");
      const h = data.find((d) => d[1] === hostile.endpointId)!;
      // the leading = and + are neutralised by a quote; the rest is the value as it was
      expect(h[2]).toBe(`'${HOSTILE_HOST}`);
      expect(h[5]).toBe(`'${HOSTILE_NAME}`);
      expect(h[7]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(h[12]).toBe("");
      // the raw text: quotes doubled inside a quoted field
      expect(r.text).toContain(`"'=cmd|""/C calc""!A0, evil\r\nhost"`);
    });

    it("alerts as JSON equal the listing for the same filters; NDJSON and ECS too", async () => {
      const listed = (await s.call("GET", "/api/admin/alerts?state=new&limit=1000", admin)).json.alerts;
      const r = await s.call("GET", "/api/admin/alerts?state=new&format=json", admin);
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toMatch(/^application\/json/);
      expect(r.json).toEqual(listed);
      expect(listed).toHaveLength(4);
      const nd = await s.call("GET", "/api/admin/alerts?state=new&format=ndjson", admin);
      expect(
        nd.text
          .trimEnd()
          .split("\n")
          .map((l) => JSON.parse(l)),
      ).toEqual(listed);
      const ecs = await s.call("GET", `/api/admin/alerts?endpoint=${hostile.endpointId}&format=ecs`, admin);
      const docs = ecs.text
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l));
      expect(docs).toHaveLength(2);
      for (const d of docs) {
        expect(d.event.kind).toBe("alert");
        expect(d.host).toEqual({ id: hostile.endpointId, name: HOSTILE_HOST });
      }
      const high = docs.find((d) => d.event.severity === 73);
      expect(high.file.path).toBe(HOSTILE_PATH);
      expect(high.threat.software.name).toBe(HOSTILE_NAME);
      // an empty selection is a valid document
      const none = await s.call("GET", "/api/admin/alerts?state=resolved&format=json", admin);
      expect(none.json).toEqual([]);
      const noneCsv = await s.call("GET", "/api/admin/alerts?state=resolved&format=csv", admin);
      expect(parseCsv(noneCsv.text)).toHaveLength(1);
    });

    it("detections, endpoints, audit log and scans export with their filters", async () => {
      const det = await s.call("GET", `/api/admin/detections?endpoint=${hostile.endpointId}&format=csv`, admin);
      const [header, ...rows] = parseCsv(det.text);
      expect(rows).toHaveLength(2);
      const path = header!.indexOf("path");
      const rule = header!.indexOf("rule");
      expect(rows.map((r) => r[path]).sort()).toEqual(["", `'${HOSTILE_PATH}`]);
      expect(rows.map((r) => r[rule])).toContain("'-Other_Rule");

      const eps = await s.call("GET", "/api/admin/endpoints?format=json", admin);
      expect(eps.json.map((e: { hostname: string }) => e.hostname).sort()).toEqual([HOSTILE_HOST, "plain-host"]);
      const epsCsv = parseCsv((await s.call("GET", "/api/admin/endpoints?q=plain&format=csv", admin)).text);
      expect(epsCsv).toHaveLength(2);
      // nested values are JSON text in their cell
      expect(JSON.parse(epsCsv[1]![epsCsv[0]!.indexOf("os")]!)).toMatchObject({ platform: "linux" });

      const aud = await s.call("GET", "/api/admin/audit?action=export&format=json", admin);
      expect(aud.status).toBe(200);
      const exports = aud.json as { target: string; detail: { format: string; filters: unknown } }[];
      expect(exports.some((e) => e.target === "alerts" && e.detail.format === "csv")).toBe(true);
      expect(exports.find((e) => e.target === "detections")!.detail.filters).toEqual({
        endpointId: hostile.endpointId,
      });

      const scans = await s.call("GET", `/api/admin/endpoints/${hostile.endpointId}/scans?format=csv`, admin);
      expect(parseCsv(scans.text)[0]).toContain("finishedAt");
      const inv = await s.call("GET", "/api/admin/inventory?format=ndjson", admin);
      expect(inv.status).toBe(200);
      const fin = await s.call("GET", "/api/admin/inventory/findings?format=csv", admin);
      expect(parseCsv(fin.text)[0]![0]).toBe("endpointId");
    });

    it("each console list links its export, which answers with the page's own filters", async () => {
      const page = await s.call("GET", "/console/detections?severity=high&rule=eicar&page=1", {
        cookie: admin.cookie,
        headers: { accept: "text/html" },
      });
      expect(page.status).toBe(200);
      expect(page.text).toContain('href="/console/detections?severity=high&amp;rule=eicar&amp;format=csv"');
      // the console's detection filters (part of the rule or name, part of the hostname) are not the API's
      const csv = await s.call("GET", "/console/detections?severity=high&endpoint=evil&format=csv", {
        cookie: admin.cookie,
      });
      expect(csv.status).toBe(200);
      const [header, ...rows] = parseCsv(csv.text);
      expect(rows).toHaveLength(1);
      expect(rows[0]![header!.indexOf("hostname")]).toBe(`'${HOSTILE_HOST}`);
      for (const [path, marker] of [
        ["/console/alerts", "/console/alerts?format=csv"],
        ["/console/endpoints", "/console/endpoints?format=csv"],
        ["/console/activity", "/console/activity?format=csv"],
      ] as const) {
        const html = await s.call("GET", path, { cookie: admin.cookie, headers: { accept: "text/html" } });
        expect(html.text).toContain(`href="${marker}"`);
        const exp = await s.call("GET", marker, { cookie: admin.cookie });
        expect(exp.headers.get("content-type")).toMatch(/^text\/csv/);
      }
      // the hash pages: a prefix's known hashes, and a full hash's endpoints
      const hashes = (await s.call("GET", "/api/admin/alerts?format=json", admin)).json as { sha256: string }[];
      const sha = hashes[0]!.sha256;
      const byPrefix = await s.call("GET", `/console/hashes?q=${sha.slice(0, 6)}&format=json`, {
        cookie: admin.cookie,
      });
      expect(byPrefix.json.map((h: { sha256: string }) => h.sha256)).toContain(sha);
      const byHash = await s.call("GET", `/console/hashes?q=${sha}&format=csv`, { cookie: admin.cookie });
      const hashRows = parseCsv(byHash.text);
      expect(hashRows[0]).toEqual(["id", "hostname", "detections", "firstSeen", "lastSeen", "paths"]);
      expect(hashRows).toHaveLength(2);
      const hashPage = await s.call("GET", `/console/hashes?q=${sha}`, {
        cookie: admin.cookie,
        headers: { accept: "text/html" },
      });
      expect(hashPage.text).toContain(`href="/console/hashes?q=${sha}&amp;format=csv"`);
      // the update log (none configured here): a header and no rows
      const upd = await s.call("GET", "/console/updates?format=csv", { cookie: admin.cookie });
      expect(parseCsv(upd.text)).toEqual([
        ["index", "name", "version", "time", "files", "bytes", "engine", "previous", "archive", "endpointsOnIt"],
      ]);
      const eps = await s.call("GET", "/console/endpoints?q=plain&format=json", { cookie: admin.cookie });
      expect(eps.json.map((e: { hostname: string }) => e.hostname)).toEqual(["plain-host"]);
      // without a session: the login page, no data
      const anon = await s.call("GET", "/console/alerts?format=csv");
      expect(anon.status).toBe(303);
      expect(anon.headers.get("location")).toMatch(/^\/console\/login/);
    });

    it("refuses an unknown format, ecs outside alerts, and a viewer's audit export", async () => {
      expect((await s.call("GET", "/api/admin/alerts?format=xlsx", admin)).json.error.code).toBe("SERVER_BAD_REQUEST");
      expect((await s.call("GET", "/api/admin/detections?format=ecs", admin)).status).toBe(400);
      // the format parameter is documented on every exportable list
      const doc = (await s.call("GET", "/openapi.json")).json;
      const fmt = (p: string) =>
        doc.paths[p].get.parameters.find((x: { name: string }) => x.name === "format")?.schema.enum;
      expect(fmt("/api/admin/alerts")).toEqual(["csv", "json", "ndjson", "ecs"]);
      expect(fmt("/api/admin/audit")).toEqual(["csv", "json", "ndjson"]);
      const password = "viewer-password-123456";
      const u = await s.call("POST", "/api/admin/users", {
        ...admin,
        body: { username: "v1", role: "viewer", password },
      });
      expect(u.status).toBe(201);
      const viewer = await s.login("v1", password);
      expect((await s.call("GET", "/api/admin/audit?format=csv", viewer)).status).toBe(403);
      expect((await s.call("GET", "/api/admin/alerts?format=csv", viewer)).status).toBe(200);
    });

    it("a client that goes away mid-export frees its connection and its slot", async () => {
      // enough rows that the export cannot fit in the socket buffers at once
      const db = s.ctx.store.db;
      const t0 = Date.now();
      const rows = Array.from({ length: 20_000 }, (_, i) => ({
        id: randomUUID(),
        endpoint_id: "gone-client",
        client_id: `gone-${i}`,
        time: t0 - i,
        received_at: t0,
        rule: "Gone_Rule",
        name: null,
        severity: "low" as const,
        bundle_version: null,
        sha256: randomBytes(32).toString("hex"),
        sha256_prefix: 0,
        size: null,
        file_type: null,
        action: "reported",
        path: `/a/long/path/to/make/rows/wider/${"x".repeat(200)}/${i}`,
      }));
      for (let i = 0; i < rows.length; i += 1000)
        await db
          .insertInto("detections")
          .values(rows.slice(i, i + 1000))
          .execute();
      // more aborted exports than there are export slots (4) and pooled connections (4)
      for (let k = 0; k < 6; k++) {
        const ac = new AbortController();
        const res = await fetch(`${s.url}/api/admin/detections?rule=Gone_Rule&format=csv`, {
          headers: { cookie: admin.cookie },
          signal: ac.signal,
        });
        expect(res.status).toBe(200);
        const reader = res.body!.getReader();
        await reader.read();
        ac.abort();
        await reader.cancel().catch(() => {});
      }
      await new Promise((r) => setTimeout(r, 500));
      const whole = await s.call("GET", "/api/admin/detections?rule=Gone_Rule&format=ndjson", admin);
      expect(whole.status).toBe(200);
      expect(whole.text.trimEnd().split("\n")).toHaveLength(20_000);
      expect((await s.call("GET", "/api/admin/alerts", admin)).status).toBe(200);
      await db.deleteFrom("detections").where("endpoint_id", "=", "gone-client").execute();
    });

    it("a 20,000-row export arrives whole, in order", async () => {
      const db = s.ctx.store.db;
      const ep = hostile.endpointId;
      const t0 = Date.now();
      const rows = Array.from({ length: 20_000 }, (_, i) => ({
        id: randomUUID(),
        endpoint_id: ep,
        client_id: `bulk-${i}`,
        time: t0 - i,
        received_at: t0,
        rule: "Bulk_Rule",
        name: null,
        severity: "low" as const,
        bundle_version: null,
        sha256: randomBytes(32).toString("hex"),
        sha256_prefix: 0,
        size: null,
        file_type: null,
        action: "reported",
        path: null,
      }));
      for (let i = 0; i < rows.length; i += 1000)
        await db
          .insertInto("detections")
          .values(rows.slice(i, i + 1000))
          .execute();
      const started = performance.now();
      const r = await s.call("GET", "/api/admin/detections?rule=Bulk_Rule&format=csv", admin);
      const ms = performance.now() - started;
      const data = parseCsv(r.text).slice(1);
      expect(data).toHaveLength(20_000);
      expect(data[0]![4]).toBe(new Date(t0).toISOString());
      expect(data[19_999]![4]).toBe(new Date(t0 - 19_999).toISOString());
      console.log(`export of 20,000 detections as CSV on ${dialect}: ${Math.round(ms)} ms, ${r.text.length} bytes`);
    });
  });
}
