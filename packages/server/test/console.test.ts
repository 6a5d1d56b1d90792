/**
 * The web console through `app.request()` (the whole app: session middleware, CSRF, error
 * handling) over a seeded store with a fixed clock, on SQLite and on PostgreSQL: every page for
 * every role, the data present in the HTML without JavaScript, escaping, CSRF on every form,
 * role checks on every change, the revoke/enrolment/policy/verdict/user flows through the
 * services (checked in the tables and the audit log), status thresholds, polling fragments, and
 * the update-log page over a real published log with a witness cosignature and an audit report.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKey, parseCheckpoint, signatureLine, splitNote, encodeBase64 } from "@vigil/tlog";
import { monitorLog, publish } from "@vigil/updates";
import { createApp } from "../src/app.js";
import { ago, bytes } from "../src/console/format.js";
import { safeNext } from "../src/console/index.js";
import { containsPattern } from "../src/db/query.js";
import { compareRuleVersions, endpointStatus as statusOf, thresholds } from "../src/services/index.js";
import type { AppEnv, ServerContext } from "../src/context.js";
import type { Dialect } from "../src/db/connect.js";
import { openServerContext, type ServerOptions } from "../src/server.js";
import { insertUser } from "../src/services/users.js";
import { createTestDatabase, dialects, textOf } from "@vigil/test-kit/server";

const NOW = Date.UTC(2026, 0, 15, 12, 30, 0);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const PASSWORDS = { admin: "console-admin-pw-1", analyst: "console-analyst-pw-1", viewer: "console-viewer-pw-1" };
const EVIL_HOST = `<script>alert("x")</script>`;
type RoleName = keyof typeof PASSWORDS;

interface Session {
  cookie: string;
  csrf: string;
}

interface Seeded {
  ctx: ServerContext;
  app: Hono<AppEnv>;
  ids: {
    online: string;
    stale: string;
    offline: string;
    never: string;
    revoked: string;
    evil: string;
    hashes: { eicar: string; trojan: string; other: string };
  };
  request(path: string, init?: RequestInit & { session?: Session }): Promise<Response>;
  loginAs(role: RoleName): Promise<Session>;
  close(): Promise<void>;
}

const hex = (n: number) => randomBytes(n).toString("hex");
const prefix = (sha: string) => parseInt(sha.slice(0, 5), 16);

async function seed(dialect: Dialect, opts: Partial<ServerOptions> = {}): Promise<Seeded> {
  const dataDir = mkdtempSync(join(tmpdir(), "vigil-console-test-"));
  const pgdb = dialect === "postgres" ? await createTestDatabase() : undefined;
  const ctx = await openServerContext({
    dataDir,
    database: pgdb?.url,
    initialAdmin: { username: "admin", password: PASSWORDS.admin },
    logLevel: "silent",
    rateLimitPerMinute: 10_000,
    now: () => NOW,
    ...opts,
  });
  await insertUser(ctx, "analyst", "analyst", PASSWORDS.analyst);
  await insertUser(ctx, "viewer", "viewer", PASSWORDS.viewer);
  const db = ctx.store.db;
  const os = JSON.stringify({ platform: "linux", release: "6.1.0", arch: "x64" });
  const ep = (over: Record<string, unknown>) => ({
    id: randomUUID(),
    key_hash: hex(32),
    hostname: null,
    os,
    agent_version: "0.1.0",
    rules_version: "rules-7",
    checkpoint_origin: "updates.example/log",
    checkpoint_size: 5,
    checkpoint_root: "cm9vdA==",
    checkpoint_at: NOW - HOUR,
    ledger_entries: 42,
    ledger_head: "c0ffee" + hex(29),
    enrolled_at: NOW - 40 * DAY,
    enrolled_with: "lab",
    last_seen: NOW - 60_000,
    revoked_at: null,
    revoked_by: null,
    ...over,
  });
  const rows = {
    online: ep({ hostname: "web-01" }),
    // the default heartbeat is 300 s: online within 600 s, stale within 24 h
    stale: ep({ hostname: "db-01", last_seen: NOW - 11 * 60_000, rules_version: "rules-6" }),
    offline: ep({ hostname: "old-01", last_seen: NOW - 3 * DAY, checkpoint_at: NOW - 10 * DAY }),
    never: ep({
      hostname: null,
      last_seen: null,
      rules_version: null,
      checkpoint_origin: null,
      checkpoint_size: null,
      checkpoint_root: null,
      checkpoint_at: null,
      ledger_entries: null,
      ledger_head: null,
    }),
    revoked: ep({ hostname: "gone-01", revoked_at: NOW - DAY, revoked_by: "admin" }),
    evil: ep({ hostname: EVIL_HOST }),
  };
  for (const r of Object.values(rows))
    await db
      .insertInto("endpoints")
      .values(r as never)
      .execute();

  // presence: web-01 every hour of the last 30 days, db-01 from 08:00 to 17:59 UTC
  const presence: Array<{ endpoint_id: string; hour: number }> = [];
  const nowHour = Math.floor(NOW / HOUR);
  for (let h = nowHour - 30 * 24 + 1; h <= nowHour; h++) {
    presence.push({ endpoint_id: rows.online.id, hour: h });
    if (h % 24 >= 8 && h % 24 < 18) presence.push({ endpoint_id: rows.stale.id, hour: h });
  }
  for (let i = 0; i < presence.length; i += 400)
    await db
      .insertInto("endpoint_presence")
      .values(presence.slice(i, i + 400))
      .execute();

  const hashes = {
    eicar: "0" + hex(32).slice(1),
    trojan: "abcde" + hex(32).slice(5),
    other: "abcde" + hex(32).slice(5),
  };
  const det = (
    endpoint: string,
    daysAgo: number,
    rule: string,
    severity: string,
    sha: string,
    path: string | null = null,
  ) => ({
    id: randomUUID(),
    endpoint_id: endpoint,
    client_id: hex(8),
    time: NOW - daysAgo * DAY - HOUR,
    received_at: NOW - daysAgo * DAY - HOUR + 1000,
    rule,
    severity,
    bundle_version: "rules-7",
    sha256: sha,
    sha256_prefix: prefix(sha),
    size: 68,
    file_type: "text",
    action: "reported",
    path,
  });
  await db
    .insertInto("detections")
    .values([
      det(rows.online.id, 0, "EICAR_Test_File", "high", hashes.eicar, "/home/alice/<b>eicar</b>.com"),
      det(rows.online.id, 1, "EICAR_Test_File", "high", hashes.eicar),
      det(rows.stale.id, 2, "EICAR_Test_File", "high", hashes.eicar),
      det(rows.stale.id, 5, "EICAR_Test_File", "medium", hashes.eicar),
      det(rows.offline.id, 10, "Trojan_Generic", "critical", hashes.trojan),
      det(rows.online.id, 10, "Trojan_Generic", "critical", hashes.trojan),
      det(rows.evil.id, 3, "Rule_<i>odd</i>", "low", hashes.other),
      det(rows.online.id, 45, "Old_Rule", "low", hex(32)),
    ] as never)
    .execute();
  await db
    .insertInto("scans")
    .values({
      id: randomUUID(),
      endpoint_id: rows.online.id,
      client_id: hex(8),
      started_at: NOW - 2 * HOUR,
      finished_at: NOW - 2 * HOUR + 95_000,
      kind: "scheduled",
      files: 12345,
      bytes: 987654321,
      detections: 1,
      errors: 2,
      bundle_version: "rules-7",
    })
    .execute();
  await db
    .insertInto("reputation")
    .values({
      sha256: hashes.trojan,
      sha256_prefix: prefix(hashes.trojan),
      verdict: "malicious",
      name: "Trojan.Test",
      source: "feed",
      updated_at: NOW - DAY,
    })
    .execute();

  const app = createApp(ctx);
  const request = async (path: string, init: RequestInit & { session?: Session } = {}) => {
    const { session, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (session) headers.set("cookie", session.cookie);
    return app.request(path, { ...rest, headers, redirect: "manual" });
  };
  const loginAs = async (role: RoleName): Promise<Session> => {
    const res = await request("/console/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ username: role, password: PASSWORDS[role], next: "/console/" }).toString(),
    });
    if (res.status !== 303) throw new Error(`console login as ${role} gave ${res.status}`);
    const cookie = `vigil_session=${/vigil_session=([^;]+)/.exec(res.headers.get("set-cookie") ?? "")![1]}`;
    const page = await (await request("/console/policy", { session: { cookie, csrf: "" } })).text();
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page)?.[1];
    if (!csrf) throw new Error("no CSRF token in the page");
    return { cookie, csrf };
  };
  const close = async () => {
    await ctx.store.close();
    await pgdb?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  return {
    ctx,
    app,
    request,
    loginAs,
    close,
    ids: {
      online: rows.online.id,
      stale: rows.stale.id,
      offline: rows.offline.id,
      never: rows.never.id,
      revoked: rows.revoked.id,
      evil: rows.evil.id,
      hashes,
    },
  };
}

function post(
  session: Session | undefined,
  fields: Record<string, string | string[]>,
  csrf: string | null = session?.csrf ?? null,
): RequestInit & { session?: Session } {
  const p = new URLSearchParams();
  if (csrf !== null) p.set("_csrf", csrf);
  for (const [k, v] of Object.entries(fields)) for (const x of Array.isArray(v) ? v : [v]) p.append(k, x);
  return {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: p.toString(),
    ...(session ? { session } : {}),
  };
}

describe("console helpers", () => {
  it("accepts only console paths as the login `next`", () => {
    expect(safeNext("/console/endpoints?status=online")).toBe("/console/endpoints?status=online");
    expect(safeNext("/console")).toBe("/console");
    for (const bad of [
      "https://evil.example/",
      "//evil.example/console",
      "/console//evil.example",
      "/consolex",
      "/api/admin/users",
      "/console/\\evil",
      "javascript:alert(1)",
      "/console/\nx",
    ]) {
      expect(safeNext(bad)).toBe("/console/");
    }
  });

  it("orders rule versions numerically and escapes LIKE patterns", () => {
    expect(compareRuleVersions("rules-10", "rules-9")).toBeGreaterThan(0);
    expect(compareRuleVersions("1.10.0", "1.9.3")).toBeGreaterThan(0);
    expect(compareRuleVersions("7", "7")).toBe(0);
    expect(containsPattern("50%_a\\b")).toBe("%50\\%\\_a\\\\b%");
  });

  it("formats times and sizes", () => {
    expect(ago(NOW - 30_000, NOW)).toBe("just now");
    expect(ago(NOW - 5 * 60_000, NOW)).toBe("5 min ago");
    expect(ago(NOW - 3 * DAY, NOW)).toBe("3 d ago");
    expect(ago(NOW + 2 * HOUR, NOW)).toBe("in 2 h");
    expect(bytes(68)).toBe("68 B");
    expect(bytes(987654321)).toBe("942 MiB");
  });

  it("derives status from the heartbeat interval", () => {
    const t = thresholds(300, NOW);
    const at = (ago: number | null) => statusOf({ last_seen: ago === null ? null : NOW - ago, revoked_at: null }, t);
    expect(at(599_000)).toBe("online");
    expect(at(601_000)).toBe("stale");
    expect(at(DAY - 1000)).toBe("stale");
    expect(at(DAY + 1000)).toBe("offline");
    expect(at(null)).toBe("never");
    expect(statusOf({ last_seen: NOW, revoked_at: NOW }, t)).toBe("revoked");
    // a heartbeat of 12 h or more: online covers the day, nothing is stale
    const slow = thresholds(43_200, NOW);
    expect(statusOf({ last_seen: NOW - 20 * HOUR, revoked_at: null }, slow)).toBe("online");
    expect(statusOf({ last_seen: NOW - 25 * HOUR, revoked_at: null }, slow)).toBe("offline");
  });
});

const DIALECTS = await dialects();

describe.each(DIALECTS)("console on %s", (dialect) => {
  let s: Seeded;
  const sessions = {} as Record<RoleName, Session>;

  beforeAll(async () => {
    s = await seed(dialect);
    for (const r of ["admin", "analyst", "viewer"] as const) sessions[r] = await s.loginAs(r);
  });
  afterAll(async () => {
    await s?.close();
  });

  const page = async (path: string, role: RoleName = "admin") => {
    const r = await s.request(path, { session: sessions[role] });
    return { status: r.status, html: await r.text(), headers: r.headers };
  };

  describe("login", () => {
    it("redirects to the login form with `next` when not logged in", async () => {
      const r = await s.request("/console/endpoints?status=online");
      expect(r.status).toBe(303);
      expect(r.headers.get("location")).toBe(
        `/console/login?next=${encodeURIComponent("/console/endpoints?status=online")}`,
      );
      const form = await (await s.request(r.headers.get("location")!)).text();
      expect(form).toContain('<label for="password">Password</label>');
      expect(form).toContain('value="/console/endpoints?status=online"');
    });

    it("says a wrong password or user is wrong without saying which", async () => {
      const wrongPw = await s.request(
        "/console/login",
        post(undefined, { username: "admin", password: "nope-nope-nope", next: "/console/" }, null),
      );
      const noUser = await s.request(
        "/console/login",
        post(undefined, { username: "nobody", password: "nope-nope-nope", next: "/console/" }, null),
      );
      expect(wrongPw.status).toBe(401);
      expect(noUser.status).toBe(401);
      const a = await wrongPw.text(),
        b = await noUser.text();
      expect(a).toContain("Wrong username or password.");
      expect(b).toContain("Wrong username or password.");
      expect(wrongPw.headers.get("set-cookie")).toBeNull();
      const fails = await s.ctx.store.db
        .selectFrom("audit_log")
        .select("username")
        .where("action", "=", "login.failed")
        .execute();
      expect(fails.map((f) => f.username)).toEqual(expect.arrayContaining(["admin", "nobody"]));
    });

    it("follows `next` only inside the console and refuses cross-site login posts", async () => {
      const ok = await s.request(
        "/console/login",
        post(
          undefined,
          { username: "viewer", password: PASSWORDS.viewer, next: "/console/detections?severity=high" },
          null,
        ),
      );
      expect(ok.status).toBe(303);
      expect(ok.headers.get("location")).toBe("/console/detections?severity=high");
      const evil = await s.request(
        "/console/login",
        post(undefined, { username: "viewer", password: PASSWORDS.viewer, next: "https://evil.example/" }, null),
      );
      expect(evil.headers.get("location")).toBe("/console/");
      const cross = await s.request("/console/login", {
        ...post(undefined, { username: "viewer", password: PASSWORDS.viewer }, null),
        headers: { "content-type": "application/x-www-form-urlencoded", origin: "https://evil.example" },
      });
      expect(cross.status).toBe(403);
      expect(cross.headers.get("set-cookie")).toBeNull();
    });

    it("ignores a session cookie the client made up (a new id at login) and logs out with CSRF", async () => {
      const planted = "vigil_session=" + "A".repeat(43);
      const r = await s.request("/console/login", {
        ...post(undefined, { username: "viewer", password: PASSWORDS.viewer }, null),
        headers: { "content-type": "application/x-www-form-urlencoded", cookie: planted },
      });
      const got = /vigil_session=([^;]+)/.exec(r.headers.get("set-cookie") ?? "")![1];
      expect(got).not.toBe("A".repeat(43));
      const session = { cookie: `vigil_session=${got}`, csrf: "" };
      session.csrf = /name="_csrf" value="([^"]+)"/.exec(await (await s.request("/console/", { session })).text())![1]!;
      expect((await s.request("/console/logout", post(session, {}, "wrong"))).status).toBe(403);
      expect((await s.request("/console/", { session })).status).toBe(200);
      const out = await s.request("/console/logout", post(session, {}));
      expect(out.status).toBe(303);
      expect((await s.request("/console/", { session })).status).toBe(303);
    });
  });

  describe("pages by role", () => {
    const common = [
      "/console/",
      "/console/endpoints",
      "/console/detections",
      "/console/hashes",
      "/console/policy",
      "/console/updates",
      "/console/activity",
      "/console/health",
    ];

    it("every role can read the shared pages; only admins see users and enrolment", async () => {
      for (const role of ["admin", "analyst", "viewer"] as const) {
        for (const p of [...common, `/console/endpoints/${s.ids.online}`, `/console/hashes?q=${s.ids.hashes.trojan}`]) {
          const r = await page(p, role);
          expect(r.status, `${role} ${p}`).toBe(200);
          expect(r.html, `${role} ${p}`).toMatch(/^<!doctype html><html lang="en">/);
          expect(r.headers.get("content-security-policy")).toContain("script-src 'self'");
          expect(r.headers.get("cache-control")).toBe("no-store");
        }
        for (const p of ["/console/users", "/console/enrollment", `/console/endpoints/${s.ids.online}/revoke`]) {
          expect((await page(p, role)).status, `${role} ${p}`).toBe(role === "admin" ? 200 : 403);
        }
        const nav = (await page("/console/", role)).html;
        expect(nav.includes('href="/console/users"')).toBe(role === "admin");
        expect(nav.includes('href="/console/enrollment"')).toBe(role === "admin");
      }
    });

    it("shows admin forms to admins only and the verdict form to analysts and admins", async () => {
      const policyAdmin = (await page("/console/policy", "admin")).html;
      const policyViewer = (await page("/console/policy", "viewer")).html;
      expect(policyAdmin).toContain('action="/console/policy"');
      expect(policyViewer).not.toContain('action="/console/policy"');
      expect(policyViewer).toContain("Only admins can change the policy.");
      const ep = (role: RoleName) => page(`/console/endpoints/${s.ids.online}`, role).then((r) => r.html);
      expect(await ep("admin")).toContain(`/console/endpoints/${s.ids.online}/revoke`);
      expect(await ep("analyst")).not.toContain("/revoke");
      expect(await ep("viewer")).not.toContain("/revoke");
      const hash = (role: RoleName) => page(`/console/hashes?q=${s.ids.hashes.eicar}`, role).then((r) => r.html);
      expect(await hash("analyst")).toContain('action="/console/hashes/verdict"');
      expect(await hash("admin")).toContain('action="/console/hashes/verdict"');
      expect(await hash("viewer")).not.toContain('action="/console/hashes/verdict"');
    });

    it("refuses every change from a viewer with 403 even with a valid CSRF token", async () => {
      const v = sessions.viewer;
      const attempts: Array<[string, Record<string, string>]> = [
        ["/console/policy", { heartbeatSeconds: "60", "samples.maxBytes": "1000" }],
        [`/console/endpoints/${s.ids.online}/revoke`, {}],
        ["/console/hashes/verdict", { sha256: s.ids.hashes.eicar, verdict: "clean" }],
        ["/console/enrollment", { label: "x", uses: "1", ttlHours: "1" }],
        ["/console/enrollment/revoke", { id: "0".repeat(64) }],
        ["/console/users", { username: "mallory", role: "admin" }],
        ["/console/users/role", { id: "x", role: "admin" }],
        ["/console/users/disable", { id: "x" }],
        ["/console/users/password", { id: "x" }],
      ];
      for (const [path, fields] of attempts) {
        const r = await s.request(path, post(v, fields));
        expect(r.status, path).toBe(403);
        expect(await r.text(), path).toContain("Not allowed");
      }
      // analysts may record verdicts but not change the policy
      expect((await s.request("/console/policy", post(sessions.analyst, { heartbeatSeconds: "60" }))).status).toBe(403);
      const ep = await s.ctx.store.db
        .selectFrom("endpoints")
        .select("revoked_at")
        .where("id", "=", s.ids.online)
        .executeTakeFirstOrThrow();
      expect(ep.revoked_at).toBeNull();
      expect(
        await s.ctx.store.db.selectFrom("users").select("id").where("username", "=", "mallory").executeTakeFirst(),
      ).toBeUndefined();
    });

    it("needs the session's CSRF token on every form", async () => {
      const a = sessions.admin;
      for (const path of [
        "/console/policy",
        `/console/endpoints/${s.ids.stale}/revoke`,
        "/console/hashes/verdict",
        "/console/enrollment",
        "/console/users",
        "/console/logout",
      ]) {
        for (const token of [null, "wrong-token", sessions.viewer.csrf]) {
          const r = await s.request(
            path,
            post(
              a,
              {
                label: "x",
                sha256: s.ids.hashes.eicar,
                verdict: "clean",
                heartbeatSeconds: "60",
                username: "csrfuser",
                role: "viewer",
              },
              token,
            ),
          );
          expect(r.status, `${path} with ${token}`).toBe(403);
        }
      }
      const ep = await s.ctx.store.db
        .selectFrom("endpoints")
        .select("revoked_at")
        .where("id", "=", s.ids.stale)
        .executeTakeFirstOrThrow();
      expect(ep.revoked_at).toBeNull();
      expect((await page("/console/", "admin")).status).toBe(200); // still logged in
    });
  });

  describe("data in the HTML (no JavaScript needed)", () => {
    it("dashboard: fleet counts, heat-map, detections table, top rules and endpoints, freshness, feed", async () => {
      const { html } = await page("/console/");
      const text = textOf(html);
      // one online besides the evil one, one stale, one offline, one never, one revoked
      const card = (status: string) =>
        new RegExp(`href="/console/endpoints\\?status=${status}"><span class="big">(\\d+)</span>`).exec(html)?.[1];
      expect([card("online"), card("stale"), card("offline"), card("never"), card("revoked")]).toEqual([
        "2",
        "1",
        "1",
        "1",
        "1",
      ]);
      expect(text).toContain("6 endpoints enrolled");
      // heat-map: 30 day columns x 24 rows; web-01 every hour and db-01 office hours
      expect(html.match(/<td class="l\d"><span class="sr-only">/g)).toHaveLength(30 * 24);
      expect(text).toMatch(/Peak: 2 endpoints on 2025-12-17 at 08:00/);
      // detections per day: the table holds the numbers the chart is drawn from
      expect(html).toContain('data-chart="stacked-bar"');
      expect(html).toMatch(
        /<th scope="row">2026-01-15<\/th><td class="num">0<\/td><td class="num">0<\/td><td class="num">1<\/td><td class="num">0<\/td>/,
      );
      expect(html).toMatch(
        /<th scope="row">2026-01-05<\/th><td class="num">0<\/td><td class="num">0<\/td><td class="num">0<\/td><td class="num">2<\/td>/,
      );
      expect(text).toContain("7 in total"); // the 45-day-old one is outside the 30 days
      expect(text).toMatch(/EICAR_Test_File high 4 2/);
      expect(text).toMatch(/Trojan_Generic critical 2 2/);
      expect(text).toMatch(/web-01 critical 3 2/);
      // freshness: db-01 runs rules-6, old-01 has an old checkpoint
      expect(text).toContain("Newest rules version reported: rules-7");
      expect(text).toMatch(/db-01 rules-6 .*outdated rules/);
      expect(text).toMatch(/old-01 rules-7 .*checkpoint older than 3 days/);
      expect(text).toContain("2 of 4 active endpoints up to date");
      expect(text).toContain("1 on older rules 1 with a checkpoint older than 3 days");
      // polled regions are live regions
      expect(html).toMatch(
        /<div id="fleet" aria-live="polite"[^>]*><div hx-get="\/console\/fragments\/fleet\?v=[0-9a-f]{16}" hx-trigger="every 10s"/,
      );
      expect(html).toMatch(/<div id="activity" aria-live="polite"/);
      expect(text).toContain("detection high EICAR_Test_File on web-01");
    });

    it("endpoints: status filter and search by hostname or id", async () => {
      const all = textOf((await page("/console/endpoints")).html);
      for (const h of ["web-01", "db-01", "old-01", "gone-01", EVIL_HOST]) expect(all).toContain(h);
      const stale = textOf((await page("/console/endpoints?status=stale")).html);
      expect(stale).toContain("db-01");
      expect(stale).not.toContain("web-01");
      const never = (await page("/console/endpoints?status=never")).html;
      expect(never).toContain(s.ids.never.slice(0, 8));
      expect(textOf(never)).toContain("1 result");
      const byHost = textOf((await page("/console/endpoints?q=DB-")).html);
      expect(byHost).toContain("db-01");
      expect(byHost).not.toContain("old-01");
      const byId = textOf((await page(`/console/endpoints?q=${s.ids.offline.slice(0, 6)}`)).html);
      expect(byId).toContain("old-01");
      const wild = textOf((await page("/console/endpoints?q=%25")).html); // a literal %, not a wildcard
      expect(wild).toContain("No endpoints match these filters.");
      expect((await page("/console/endpoints?status=bogus&page=-3")).status).toBe(200);
    });

    it("endpoint detail: overview, ledger, checkpoint, detections, scans", async () => {
      const text = textOf((await page(`/console/endpoints/${s.ids.online}`)).html);
      expect(text).toContain("web-01 Online");
      expect(text).toContain("linux 6.1.0 (x64)");
      expect(text).toMatch(/Online hours, 30 days 720 of 720/);
      expect(text).toMatch(/Entries 42 Head after that entry c0ffee[0-9a-f]{58}/);
      expect(text).toContain("Not checked: no update log is configured on this server.");
      expect(text).toContain("/home/alice/<b>eicar</b>.com");
      expect(text).toMatch(/scheduled 95 s 12,345 942 MiB 1 2 rules-7/);
      expect((await page(`/console/endpoints/${randomUUID()}`)).status).toBe(404);
      const never = textOf((await page(`/console/endpoints/${s.ids.never}`)).html);
      expect(never).toContain("Never seen");
      expect(never).toContain("No verified checkpoint reported yet.");
      expect(never).toContain("The agent has not reported its ledger yet.");
    });

    it("detections: filters by severity, rule, endpoint and time", async () => {
      const rows = (html: string) => (html.match(/<tr><th scope="row"><time/g) ?? []).length;
      expect(rows((await page("/console/detections")).html)).toBe(8);
      expect(rows((await page("/console/detections?severity=critical")).html)).toBe(2);
      expect(rows((await page("/console/detections?rule=eicar")).html)).toBe(4);
      expect(rows((await page("/console/detections?endpoint=db-01")).html)).toBe(2);
      expect(rows((await page(`/console/detections?endpoint=${s.ids.offline}`)).html)).toBe(1);
      expect(rows((await page("/console/detections?range=24h")).html)).toBe(1);
      expect(rows((await page("/console/detections?range=7d&severity=high")).html)).toBe(3);
      expect(rows((await page("/console/detections?from=2026-01-05&to=2026-01-05")).html)).toBe(2);
      expect(textOf((await page("/console/detections?rule=nothing-like-this")).html)).toContain(
        "No detections match these filters.",
      );
    });

    it("hashes: prefix and full lookups, verdict, prevalence and endpoints", async () => {
      const list = textOf((await page("/console/hashes?q=ABCDE")).html);
      expect(list).toContain(s.ids.hashes.trojan);
      expect(list).toContain(s.ids.hashes.other);
      expect(list).toMatch(/malicious Trojan\.Test 2 2 Trojan_Generic/);
      const full = await page(`/console/hashes?q=${s.ids.hashes.trojan}`, "analyst");
      const t = textOf(full.html);
      expect(t).toMatch(/Verdict malicious Trojan\.Test/);
      expect(t).toMatch(/Prevalence 2 endpoints/);
      expect(t).toContain("old-01");
      expect(t).toContain("web-01");
      const bad = await page("/console/hashes?q=xyz");
      expect(bad.status).toBe(400);
      expect(textOf(bad.html)).toContain("is not a SHA-256 or a prefix of one");
      expect(textOf((await page("/console/hashes?q=fffff")).html)).toContain("No known hash starts with fffff.");
    });

    it("escapes every user-controlled value", async () => {
      for (const p of [
        "/console/",
        "/console/endpoints",
        `/console/endpoints/${s.ids.evil}`,
        "/console/detections",
        `/console/hashes?q=${s.ids.hashes.other}`,
      ]) {
        const { html } = await page(p);
        expect(html, p).not.toContain("<script>alert");
        expect(html, p).not.toContain("<i>odd</i>");
        expect(html, p).not.toContain("<b>eicar</b>");
      }
      const ep = (await page(`/console/endpoints/${s.ids.evil}`)).html;
      expect(ep).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
      const search = (await page(`/console/endpoints?q=${encodeURIComponent('"><script>x()</script>')}`)).html;
      expect(search).not.toContain("<script>x()");
      expect(search).toContain('value="&quot;&gt;&lt;script&gt;x()&lt;/script&gt;"');
      const bad = (await page(`/console/hashes?q=${encodeURIComponent("<img src=x onerror=alert(1)>")}`)).html;
      expect(bad).not.toContain("<img src=x");
    });
  });

  describe("polling fragments", () => {
    it("answer 204 while unchanged and new content (and version) after a change", async () => {
      const dash = (await page("/console/")).html;
      const v = /fragments\/activity\?v=([0-9a-f]{16})/.exec(dash)![1]!;
      const same = await s.request(`/console/fragments/activity?v=${v}`, {
        session: sessions.viewer,
        headers: { "hx-request": "true" },
      });
      expect(same.status).toBe(204);
      await s.ctx.store.db
        .insertInto("detections")
        .values({
          id: randomUUID(),
          endpoint_id: s.ids.stale,
          client_id: hex(8),
          time: NOW,
          received_at: NOW,
          rule: "Fresh_Rule",
          severity: "critical",
          bundle_version: null,
          sha256: hex(32),
          sha256_prefix: 1,
          size: null,
          file_type: null,
          action: "quarantined",
          path: null,
        })
        .execute();
      const changed = await s.request(`/console/fragments/activity?v=${v}`, {
        session: sessions.viewer,
        headers: { "hx-request": "true" },
      });
      expect(changed.status).toBe(200);
      const html = await changed.text();
      expect(html).toMatch(/^<div hx-get="\/console\/fragments\/activity\?v=[0-9a-f]{16}"/);
      expect(html).not.toContain(`v=${v}`);
      expect(textOf(html)).toContain("detection critical Fresh_Rule on db-01 (quarantined)");
      const fleet = await s.request("/console/fragments/fleet", { session: sessions.viewer });
      expect(textOf(await fleet.text())).toMatch(/2 Online 1 Stale 1 Offline 1 Never seen 1 Revoked/);
    });

    it("send htmx to the login page when the session is gone", async () => {
      const r = await s.request("/console/fragments/fleet", { headers: { "hx-request": "true" } });
      expect(r.status).toBe(401);
      expect(r.headers.get("hx-redirect")).toMatch(/^\/console\/login\?next=/);
    });
  });

  describe("changes through the services", () => {
    it("revokes an endpoint after a confirmation page; its key row is marked and audited", async () => {
      const confirm = await page(`/console/endpoints/${s.ids.offline}/revoke`);
      expect(confirm.html).toContain(`action="/console/endpoints/${s.ids.offline}/revoke"`);
      expect(textOf(confirm.html)).toContain("This cannot be undone.");
      const r = await s.request(`/console/endpoints/${s.ids.offline}/revoke`, post(sessions.admin, {}));
      expect(r.status).toBe(303);
      expect(r.headers.get("location")).toBe(`/console/endpoints/${s.ids.offline}?done=revoked`);
      const row = await s.ctx.store.db
        .selectFrom("endpoints")
        .select(["revoked_at", "revoked_by"])
        .where("id", "=", s.ids.offline)
        .executeTakeFirstOrThrow();
      expect(Number(row.revoked_at)).toBe(NOW);
      expect(row.revoked_by).toBe("admin");
      const after = textOf((await page(`/console/endpoints/${s.ids.offline}?done=revoked`)).html);
      expect(after).toContain("The endpoint was revoked");
      expect(after).toContain("old-01 Revoked");
      const audit = await s.ctx.store.db
        .selectFrom("audit_log")
        .selectAll()
        .where("action", "=", "endpoint.revoke")
        .where("target", "=", s.ids.offline)
        .execute();
      expect(audit).toHaveLength(1);
      expect(audit[0]!.username).toBe("admin");
      expect(textOf((await page("/console/activity?action=revoke")).html)).toContain(
        `admin endpoint.revoke ${s.ids.offline}`,
      );
      expect((await s.request(`/console/endpoints/${randomUUID()}/revoke`, post(sessions.admin, {}))).status).toBe(404);
    });

    it("edits the policy (checkboxes, sizes, file types), bumps the version and rejects bad values", async () => {
      const before = await s.ctx.store.db
        .selectFrom("policy")
        .select("version")
        .where("id", "=", 1)
        .executeTakeFirstOrThrow();
      const r = await s.request(
        "/console/policy",
        post(sessions.admin, {
          "send.path": "1",
          "send.scanSummaries": "1",
          "reputation.enabled": "1",
          "samples.enabled": "1",
          "samples.maxBytes": "2048",
          "samples.fileTypes": ["pe", "script"],
          heartbeatSeconds: "60",
        }),
      );
      expect(r.status).toBe(303);
      const row = await s.ctx.store.db.selectFrom("policy").selectAll().where("id", "=", 1).executeTakeFirstOrThrow();
      const body = JSON.parse(row.body);
      expect(Number(row.version)).toBe(Number(before.version) + 1);
      expect(body.send).toEqual({ path: true, hostname: false, scanSummaries: true, inventory: false });
      expect(body.samples).toEqual({ enabled: true, maxBytes: 2048, fileTypes: ["pe", "script"] });
      expect(body.heartbeatSeconds).toBe(60);
      const shown = textOf((await page("/console/policy?done=saved", "viewer")).html);
      expect(shown).toContain(`Policy saved as version ${row.version}.`);
      expect(shown).toMatch(/Sample upload on ?: pe, script, up to 2\.0 KiB/);
      expect(shown).toMatch(/Heartbeat interval 60 s/);
      // the heartbeat defines "online": 120 s now, so db-01 (11 min) stays stale and web-01 (1 min) online
      expect(textOf((await page("/console/fragments/fleet")).html)).toMatch(/^ ?2 Online 1 Stale/);
      for (const bad of [
        { heartbeatSeconds: "5" },
        { heartbeatSeconds: "abc" },
        { "samples.fileTypes": ["exe"] },
        { "samples.maxBytes": String(10 ** 12) },
      ]) {
        const res = await s.request(
          "/console/policy",
          post(sessions.admin, { heartbeatSeconds: "60", "samples.maxBytes": "1000", ...bad }),
        );
        expect(res.status, JSON.stringify(bad)).toBe(400);
        expect(textOf(await res.text())).toContain("Not saved:");
      }
      const after = await s.ctx.store.db
        .selectFrom("policy")
        .select("version")
        .where("id", "=", 1)
        .executeTakeFirstOrThrow();
      expect(after.version).toBe(row.version);
      expect(
        await s.ctx.store.db.selectFrom("audit_log").select("id").where("action", "=", "policy.update").execute(),
      ).toHaveLength(1);
    });

    it("creates an enrolment token shown once, lists it without the secret, and withdraws it", async () => {
      const r = await s.request(
        "/console/enrollment",
        post(sessions.admin, { label: "Lab <b>PCs</b>", uses: "3", ttlHours: "48" }),
      );
      expect(r.status).toBe(200);
      const html = await r.text();
      const token = /id="new-token" class="mono token" readonly="" value="(vet_[A-Za-z0-9_-]+)"/.exec(html)?.[1];
      expect(token).toBeDefined();
      expect(textOf(html)).toContain(`vigil agent enroll http://localhost ${token}`);
      expect(html).not.toContain("<b>PCs</b>");
      const list = await page("/console/enrollment");
      expect(list.html).not.toContain(token!);
      expect(textOf(list.html)).toMatch(/Lab <b>PCs<\/b> active 3/);
      const id = /name="id" value="([0-9a-f]{64})"/.exec(list.html)![1]!;
      const w = await s.request("/console/enrollment/revoke", post(sessions.admin, { id }));
      expect(w.status).toBe(303);
      expect(textOf((await page("/console/enrollment?done=revoked")).html)).toMatch(/Lab <b>PCs<\/b> used 0/);
      const bad = await s.request("/console/enrollment", post(sessions.admin, { label: "", uses: "0", ttlHours: "1" }));
      expect(bad.status).toBe(400);
    });

    it("records a verdict as an analyst and shows it to everyone", async () => {
      const r = await s.request(
        "/console/hashes/verdict",
        post(sessions.analyst, { sha256: s.ids.hashes.eicar, verdict: "malicious", name: "EICAR <test>" }),
      );
      expect(r.status).toBe(303);
      expect(r.headers.get("location")).toBe(`/console/hashes?q=${s.ids.hashes.eicar}&done=verdict`);
      const rep = await s.ctx.store.db
        .selectFrom("reputation")
        .selectAll()
        .where("sha256", "=", s.ids.hashes.eicar)
        .executeTakeFirstOrThrow();
      expect(rep.verdict).toBe("malicious");
      expect(rep.name).toBe("EICAR <test>");
      expect(rep.source).toBe("user:analyst");
      const shown = await page(`/console/hashes?q=${s.ids.hashes.eicar}`, "viewer");
      expect(textOf(shown.html)).toMatch(/Verdict malicious EICAR <test>/);
      expect(shown.html).not.toContain("EICAR <test>");
      expect(
        (await s.request("/console/hashes/verdict", post(sessions.analyst, { sha256: "abc", verdict: "malicious" })))
          .status,
      ).toBe(400);
      expect(
        (
          await s.request(
            "/console/hashes/verdict",
            post(sessions.analyst, { sha256: s.ids.hashes.eicar, verdict: "evil" }),
          )
        ).status,
      ).toBe(400);
    });

    it("manages users: add with a generated password shown once, change role, disable, refuse demoting the last admin", async () => {
      const add = await s.request("/console/users", post(sessions.admin, { username: "carol", role: "viewer" }));
      expect(add.status).toBe(200);
      const pw = /id="new-password" class="mono token" readonly="" value="([^"]+)"/.exec(await add.text())?.[1];
      expect(pw).toMatch(/^[A-Za-z0-9]{20}$/);
      const carol = await s.ctx.store.db
        .selectFrom("users")
        .selectAll()
        .where("username", "=", "carol")
        .executeTakeFirstOrThrow();
      expect(carol.password_hash).not.toContain(pw!);
      const login = await s.request("/console/login", post(undefined, { username: "carol", password: pw! }, null));
      expect(login.status).toBe(303);
      expect(
        (await s.request("/console/users/role", post(sessions.admin, { id: carol.id, role: "analyst" }))).status,
      ).toBe(303);
      expect(
        (await s.ctx.store.db.selectFrom("users").select("role").where("id", "=", carol.id).executeTakeFirstOrThrow())
          .role,
      ).toBe("analyst");
      expect((await s.request("/console/users/disable", post(sessions.admin, { id: carol.id }))).status).toBe(303);
      expect(
        (await s.request("/console/login", post(undefined, { username: "carol", password: pw! }, null))).status,
      ).toBe(401);
      const adminId = (
        await s.ctx.store.db.selectFrom("users").select("id").where("username", "=", "admin").executeTakeFirstOrThrow()
      ).id;
      const last = await s.request("/console/users/role", post(sessions.admin, { id: adminId, role: "viewer" }));
      expect(last.status).toBe(409);
      expect(textOf(await last.text())).toContain("Not changed: this is the last admin");
      const dup = await s.request("/console/users", post(sessions.admin, { username: "carol", role: "viewer" }));
      expect(dup.status).toBe(409);
      const actions = (
        await s.ctx.store.db.selectFrom("audit_log").select("action").where("target", "=", "carol").execute()
      ).map((a) => a.action);
      expect(actions).toEqual(expect.arrayContaining(["user.create", "user.role", "user.disable"]));
    });
  });

  describe("health and static files", () => {
    it("health names the database and counts connected endpoints", async () => {
      const t = textOf((await page("/console/health", "viewer")).html);
      expect(t).toContain(`Database ${dialect === "sqlite" ? "SQLite" : "PostgreSQL"}`);
      if (dialect === "postgres") expect(t).not.toContain(":vigil@");
      expect(t).toMatch(/Resident memory \d/);
      expect(t).toMatch(/Console requests \d/);
      expect(t).toMatch(/(\d+) in the last hour/);
      expect(t).toMatch(/endpoint_presence \d/);
    });

    it("serves the stylesheet, console.js, htmx and Chart.js without a session", async () => {
      for (const [f, type, marker] of [
        ["console.css", "text/css", "--accent"],
        ["console.js", "text/javascript", "data-chart-for"],
        ["htmx.min.js", "text/javascript", "htmx"],
        ["chart.umd.min.js", "text/javascript", "Chart"],
      ] as const) {
        const r = await s.request(`/console/static/${f}`);
        expect(r.status, f).toBe(200);
        expect(r.headers.get("content-type")).toContain(type);
        expect(await r.text()).toContain(marker);
      }
      expect((await s.request("/console/static/../../package.json")).status).toBe(404);
      expect((await s.request("/console/static/secret.txt")).status).toBe(404);
    });
  });
});

describe.each(DIALECTS)("update log page on %s", (dialect) => {
  let s: Seeded;
  let logDir: string;
  let first: { size: number; root: string };
  let latest: { origin: string; size: number; root: string };

  beforeAll(async () => {
    logDir = mkdtempSync(join(tmpdir(), "vigil-console-log-"));
    const rules = join(logDir, "..", `rules-${hex(4)}`);
    mkdirSync(rules);
    writeFileSync(join(rules, "a.yar"), 'rule Console_Test { strings: $a = "console-test-marker" condition: $a }\n');
    const publisher = generateKey("publisher.test");
    const logKey = generateKey("log.test");
    await publish({
      rulesDir: rules,
      logDir,
      publisherKey: publisher.signerKey,
      logKey: logKey.signerKey,
      compileCheck: false,
      time: new Date(NOW - 2 * DAY),
    });
    const cp1 = parseCheckpoint(
      splitNote((await import("node:fs")).readFileSync(join(logDir, "checkpoint"), "utf8")).text,
    );
    first = { size: Number(cp1.size), root: encodeBase64(cp1.rootHash) };
    writeFileSync(join(rules, "b.yar"), 'rule Console_Test_Two { strings: $a = "TOP SECRET" condition: $a }\n');
    await publish({
      rulesDir: rules,
      logDir,
      publisherKey: publisher.signerKey,
      logKey: logKey.signerKey,
      compileCheck: false,
      time: new Date(NOW - DAY),
    });
    // a witness cosignature appended to the checkpoint, as `vigil publish --witness` does
    const fs = await import("node:fs");
    const note = fs.readFileSync(join(logDir, "checkpoint"), "utf8");
    const witness = generateKey("witness.test", "cosignature");
    fs.writeFileSync(
      join(logDir, "checkpoint"),
      note + signatureLine(splitNote(note).text, witness.signerKey, Math.floor((NOW - HOUR) / 1000)),
    );
    const cp = parseCheckpoint(splitNote(note).text);
    latest = { origin: cp.origin, size: Number(cp.size), root: encodeBase64(cp.rootHash) };
    // an audit report saved next to the log
    const report = await monitorLog({ source: logDir, logKeys: [logKey.verifierKey] });
    mkdirSync(join(logDir, "audit"));
    writeFileSync(join(logDir, "audit", "monitor.json"), JSON.stringify(report));
    writeFileSync(join(logDir, "audit", "broken.json"), "{not json");
    rmSync(rules, { recursive: true, force: true });
    s = await seed(dialect, { updatesDir: logDir });
    const db = s.ctx.store.db;
    await db
      .updateTable("endpoints")
      .set({ checkpoint_origin: latest.origin, checkpoint_size: latest.size, checkpoint_root: latest.root })
      .where("id", "=", s.ids.online)
      .execute();
    await db
      .updateTable("endpoints")
      .set({ checkpoint_origin: latest.origin, checkpoint_size: first.size, checkpoint_root: first.root })
      .where("id", "=", s.ids.stale)
      .execute();
    await db
      .updateTable("endpoints")
      .set({
        checkpoint_origin: latest.origin,
        checkpoint_size: first.size,
        checkpoint_root: encodeBase64(randomBytes(32)),
      })
      .where("id", "=", s.ids.evil)
      .execute();
  });
  afterAll(async () => {
    await s?.close();
    rmSync(logDir, { recursive: true, force: true });
  });

  it("shows the checkpoint, its log signature and witness cosignature, bundles and audit findings", async () => {
    const admin = await s.loginAs("viewer");
    const html = await (await s.request("/console/updates", { session: admin })).text();
    const t = textOf(html);
    expect(t).toContain(`Mirrored from the directory ${logDir}`);
    expect(t).toMatch(/Log log\.test Tree size 2 entries/);
    expect(t).toContain("reproduce the root hash");
    expect(t).toMatch(/log\.test [0-9a-f]{8} log signature/);
    expect(t).toMatch(/witness\.test [0-9a-f]{8} witness cosignature 2026-01-15 11:30 UTC/);
    expect(t).toMatch(/rules-2 1 2026-01-14T12:30:00Z 2/);
    expect(t).toMatch(/rules-1 0 2026-01-13T12:30:00Z 1/);
    expect(t).toContain("monitor.json");
    expect(t).toContain("broken.json");
    expect(t).toContain("unreadable");
    // the default audit policy flags a classification marking in the second bundle
    expect(t).toContain("Console_Test_Two");
    expect(t).toMatch(/TOP SECRET/);
    // which checkpoints the fleet verified
    expect(t).toMatch(/log\.test 2 1 latest/);
    expect(t).toMatch(/log\.test 1 2 1 entry behind/);
  });

  it("verifies each endpoint's checkpoint against the log's tiles", async () => {
    const viewer = await s.loginAs("viewer");
    const get = async (id: string) =>
      textOf(await (await s.request(`/console/endpoints/${id}`, { session: viewer })).text());
    expect(await get(s.ids.online)).toContain("Verified: matches the latest checkpoint (size 2).");
    expect(await get(s.ids.stale)).toContain(
      "Behind: consistent prefix (size 1 of 2); 1 newer entry not yet verified.",
    );
    expect(await get(s.ids.evil)).toContain("Mismatch: the log's root at size 1 differs from the endpoint's");
    // a checkpoint from another log
    expect(await get(s.ids.offline)).toContain(
      "Mismatch: origin updates.example/log is not this server's log (log.test)",
    );
    // the dashboard flags endpoints behind the log
    const dash = textOf(await (await s.request("/console/", { session: viewer })).text());
    expect(dash).toContain("the update log has 2 entries");
    expect(dash).toMatch(/db-01 rules-6 size 1, .*checkpoint behind the log \(1 of 2\)/);
  });

  it("reads a proxied upstream log over HTTP, and reports an unreadable log without failing the page", async () => {
    const { createServer } = await import("node:http");
    const { readFile } = await import("node:fs/promises");
    const http = createServer((req, res) => {
      const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname).slice(1);
      if (path.split("/").includes("..")) return res.writeHead(400).end();
      readFile(join(logDir, path)).then(
        (b) => res.writeHead(200).end(b),
        () => res.writeHead(404).end(),
      );
    });
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    const port = (http.address() as { port: number }).port;
    const up = await seed("sqlite", { updatesUpstream: `http://127.0.0.1:${port}/` });
    const empty = mkdtempSync(join(tmpdir(), "vigil-console-emptylog-"));
    const broken = await seed("sqlite", { updatesDir: empty });
    try {
      const v = await up.loginAs("viewer");
      const t = textOf(await (await up.request("/console/updates", { session: v })).text());
      expect(t).toContain(`Proxied from http://127.0.0.1:${port}/`);
      expect(t).toMatch(/Log log\.test Tree size 2 entries/);
      expect(t).toContain("reproduce the root hash");
      expect(t).toMatch(/rules-2 1 /);
      expect(t).not.toContain("Audit findings"); // audit reports are read from directories only
      const b = await broken.loginAs("viewer");
      const r = await broken.request("/console/updates", { session: b });
      expect(r.status).toBe(200);
      expect(textOf(await r.text())).toContain("cannot read the checkpoint");
      const ep = textOf(await (await broken.request(`/console/endpoints/${broken.ids.online}`, { session: b })).text());
      expect(ep).toContain("Not checked: cannot read the log's checkpoint");
    } finally {
      await up.close();
      await broken.close();
      rmSync(empty, { recursive: true, force: true });
      await new Promise((r) => http.close(r));
    }
  });

  it("says when no update log is configured", async () => {
    const plain = await seed("sqlite");
    try {
      const v = await plain.loginAs("viewer");
      const t = textOf(await (await plain.request("/console/updates", { session: v })).text());
      expect(t).toContain("Not configured: this server neither mirrors an update log");
    } finally {
      await plain.close();
    }
  });
});
