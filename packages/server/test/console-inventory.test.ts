/**
 * The console's inventory fleet view through `app.request()` (the whole app: sessions, CSRF,
 * roles, error pages) on SQLite and PostgreSQL, over inventories stored by the same service the
 * endpoint API uses: the findings table across the fleet (endpoint, software, vendor, pack and
 * version, forbidden/upcoming, in force since, first seen, evidence) with filters and paging;
 * "which endpoints run what" by name and by vendor (versions, install dates, first seen); the
 * Inventory section of the endpoint page; revoked endpoints left out; the policy notice and the
 * policy form's inventory checkbox; HTML escaping of everything an endpoint sends; a viewer reads
 * it all, and nobody without a session does.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { randomBytes, randomUUID } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type * as protocol from "@vigil/protocol";
import { createApp } from "../src/app.js";
import type { AppEnv, ServerContext } from "../src/context.js";
import { openServerContext } from "../src/server.js";
import { storeInventory } from "../src/services/inventory.js";
import { updatePolicy, getPolicy } from "../src/services/policy.js";
import { insertUser } from "../src/services/users.js";
import { CLI_ACTOR } from "../src/context.js";
import { createTestDatabase, dialects, textOf } from "@vigil/test-kit/server";

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const EVIL = `<script>alert("inv")</script>`;
const PASSWORDS = { admin: "inv-console-admin-pw", viewer: "inv-console-viewer-pw" };

interface Session {
  cookie: string;
  csrf: string;
}

const KESL: protocol.InventoryFinding = {
  status: "forbidden",
  packId: "us-commerce-2024-kaspersky",
  packVersion: 1,
  vendor: "Kaspersky",
  subject: "kesl",
  evidence: ['package "kesl" matches "kesl"', 'publisher "AO Kaspersky Lab" matches "AO Kaspersky Lab"'],
  inForceSince: "2024-07-20",
};

const item = (name: string, over: Partial<protocol.InventoryItem> = {}): protocol.InventoryItem => ({
  name,
  version: "1.0",
  vendor: "Debian",
  source: "dpkg",
  ...over,
});
const report = (
  items: protocol.InventoryItem[],
  findings: protocol.InventoryFinding[] = [],
): protocol.InventoryReport => ({
  collectedAt: NOW,
  packs: [{ id: "us-commerce-2024-kaspersky", version: 1, title: "US Commerce 2024" }],
  items,
  findings,
});

for (const dialect of await dialects()) {
  describe(`console inventory (${dialect})`, () => {
    let ctx: ServerContext;
    let app: Hono<AppEnv>;
    let dataDir = "";
    let drop: (() => Promise<void>) | undefined;
    let clock = NOW - 2 * DAY;
    const sessions = {} as Record<"admin" | "viewer", Session>;
    const ids = { office: "", lab: "", evil: "", quiet: "", gone: "" };

    const request = (path: string, init: RequestInit & { session?: Session } = {}) => {
      const { session, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (session) headers.set("cookie", session.cookie);
      return app.request(path, { ...rest, headers, redirect: "manual" });
    };
    const page = async (path: string, who: "admin" | "viewer" = "viewer") => {
      const r = await request(path, { session: sessions[who] });
      return { status: r.status, html: await r.text() };
    };
    const login = async (username: "admin" | "viewer"): Promise<Session> => {
      const res = await request("/console/login", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ username, password: PASSWORDS[username], next: "/console/" }).toString(),
      });
      expect(res.status).toBe(303);
      const cookie = `vigil_session=${/vigil_session=([^;]+)/.exec(res.headers.get("set-cookie") ?? "")![1]}`;
      const html = await (await request("/console/policy", { session: { cookie, csrf: "" } })).text();
      return { cookie, csrf: /name="_csrf" value="([^"]+)"/.exec(html)![1]! };
    };

    beforeAll(async () => {
      dataDir = mkdtempSync(join(tmpdir(), "vigil-console-inv-"));
      const pg = dialect === "postgres" ? await createTestDatabase() : undefined;
      drop = pg?.drop;
      ctx = await openServerContext({
        dataDir,
        database: pg?.url,
        initialAdmin: { username: "admin", password: PASSWORDS.admin },
        logLevel: "silent",
        now: () => clock,
      });
      await insertUser(ctx, "viewer", "viewer", PASSWORDS.viewer);
      const db = ctx.store.db;
      const ep = async (hostname: string | null, over: Record<string, unknown> = {}) => {
        const id = randomUUID();
        await db
          .insertInto("endpoints")
          .values({
            id,
            key_hash: randomBytes(32).toString("hex"),
            hostname,
            os: null,
            agent_version: "0.1.0",
            rules_version: null,
            checkpoint_origin: null,
            checkpoint_size: null,
            checkpoint_root: null,
            checkpoint_at: null,
            ledger_entries: null,
            ledger_head: null,
            enrolled_at: NOW - 30 * DAY,
            enrolled_with: "t",
            last_seen: NOW - 60_000,
            revoked_at: null,
            revoked_by: null,
            ...over,
          })
          .execute();
        return id;
      };
      ids.office = await ep("office-01");
      ids.lab = await ep("lab-02");
      ids.evil = await ep(EVIL);
      ids.quiet = await ep("quiet-03");
      ids.gone = await ep("gone-04");
      // two days ago: office and lab report; today office again (kesl kept, first_seen stays two days back)
      await storeInventory(
        ctx,
        ids.office,
        report(
          [
            item("kesl", {
              version: "12.1.0.1297",
              vendor: "AO Kaspersky Lab",
              installedAt: "2024-08-15T12:00:00.000Z",
            }),
            item("bash", { version: "5.2" }),
          ],
          [KESL],
        ),
      );
      await storeInventory(
        ctx,
        ids.lab,
        report(
          [
            item("kesl", { version: "11.4.0", vendor: "AO Kaspersky Lab" }),
            item("Kaspersky Free 21.3", { source: "windows-registry", vendor: "Kaspersky", version: "21.3.10.391" }),
          ],
          [
            KESL,
            {
              ...KESL,
              subject: "Kaspersky Free 21.3",
              evidence: ['product-name "Kaspersky Free 21.3" matches "Kaspersky"'],
            },
          ],
        ),
      );
      await storeInventory(
        ctx,
        ids.gone,
        report(
          [item("kesl", { version: "10.0", vendor: "AO Kaspersky Lab" })],
          [{ ...KESL, subject: "kesl-gone-host" }],
        ),
      );
      await db
        .updateTable("endpoints")
        .set({ revoked_at: NOW - DAY, revoked_by: "admin" })
        .where("id", "=", ids.gone)
        .execute();
      clock = NOW;
      await storeInventory(
        ctx,
        ids.office,
        report(
          [
            item("kesl", {
              version: "12.1.0.1297",
              vendor: "AO Kaspersky Lab",
              installedAt: "2024-08-15T12:00:00.000Z",
            }),
            item("bash", { version: "5.2.21" }),
            item("curl", { version: "8.5" }),
          ],
          [KESL],
        ),
      );
      // hostile names from an endpoint
      const { inForceSince: _s, ...upcoming } = KESL;
      await storeInventory(
        ctx,
        ids.evil,
        report(
          [item(EVIL, { vendor: `Evil & <b>Co</b>`, version: `"><img src=x>` })],
          [
            {
              ...upcoming,
              status: "upcoming",
              subject: EVIL,
              vendor: `Vendor <i>x</i>`,
              evidence: [`package "${EVIL}" matches "x"`],
            },
          ],
        ),
      );
      app = createApp(ctx);
      sessions.admin = await login("admin");
      sessions.viewer = await login("viewer");
    });
    afterAll(async () => {
      await ctx?.store.close();
      await drop?.();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it("lists the findings across the fleet for a viewer: endpoint, software, vendor, pack, status, in force since, first seen, evidence", async () => {
      const r = await page("/console/inventory");
      expect(r.status).toBe(200);
      const t = textOf(r.html);
      expect(r.html).toMatch(/<a href="\/console\/inventory" aria-current="page">Inventory<\/a>/);
      expect(t).toContain("Endpoints reporting an inventory 3 of 4");
      expect(t).toContain("Endpoints running forbidden software 2");
      expect(t).toContain("Endpoints with prohibitions to come 1");
      // forbidden first; office's kesl first seen two days ago (kept across its second report)
      expect(t).toMatch(
        /office-01 kesl Kaspersky us-commerce-2024-kaspersky v1 Forbidden 2024-07-20 2026-01-13 12:00 UTC \(2 d ago\) package "kesl" matches "kesl"/,
      );
      expect(t).toMatch(/lab-02 Kaspersky Free 21\.3 Kaspersky us-commerce-2024-kaspersky v1 Forbidden 2024-07-20/);
      expect(t).toMatch(/Upcoming not yet/);
      expect(t.indexOf("Forbidden 2024-07-20")).toBeLessThan(t.indexOf("Upcoming not yet"));
      // the revoked endpoint is left out
      expect(t).not.toContain("kesl-gone-host");
      expect(r.html).toContain(`href="/console/endpoints/${ids.office}"`);
    });

    it("filters findings by status and text", async () => {
      const up = textOf((await page("/console/inventory?status=upcoming")).html);
      expect(up).toContain("Upcoming not yet");
      expect(up).not.toContain("Forbidden 2024-07-20");
      const free = textOf((await page("/console/inventory?fq=free")).html);
      expect(free).toContain("Kaspersky Free 21.3 Kaspersky");
      expect(free).not.toMatch(/office-01 kesl/);
      expect(textOf((await page("/console/inventory?fq=nothing-like-this")).html)).toContain(
        "No findings match these filters.",
      );
    });

    it("which endpoints run what: by name, with versions, install dates and first seen; by vendor", async () => {
      const r = await page("/console/inventory?q=KESL");
      const t = textOf(r.html);
      expect(t).toMatch(/Matching software Software Source Vendor Endpoints Versions kesl dpkg AO Kaspersky Lab 2 2/);
      expect(t).toMatch(/lab-02 kesl 11\.4\.0 dpkg AO Kaspersky Lab – 2026-01-13 12:00 UTC \(2 d ago\)/);
      expect(t).toMatch(
        /office-01 kesl 12\.1\.0\.1297 dpkg AO Kaspersky Lab 2024-08-15 2026-01-13 12:00 UTC \(2 d ago\) just now not sent/,
      );
      expect(t).not.toContain("10.0"); // the revoked endpoint's copy
      const v = textOf((await page("/console/inventory?vendor=kaspersky")).html);
      expect(v).toContain("Kaspersky Free 21.3 windows-registry Kaspersky 1 1");
      const running = v.slice(v.indexOf("Endpoints running it"));
      expect(running).toMatch(/lab-02 Kaspersky Free 21\.3 21\.3\.10\.391 windows-registry Kaspersky/);
      expect(running.match(/ kesl /g)).toHaveLength(2);
      // curl appeared today on office: first seen now; bash's first seen is kept across the upgrade
      const c = textOf((await page(`/console/inventory?endpoint=${ids.office}`)).html);
      expect(c).toMatch(/office-01 bash 5\.2\.21 dpkg Debian – 2026-01-13 12:00 UTC/);
      expect(c).toMatch(/office-01 curl 8\.5 dpkg Debian – 2026-01-15 12:00 UTC \(just now\)/);
      expect(textOf((await page("/console/inventory?q=zzz-none")).html)).toContain("No installed software matches.");
      // LIKE wildcards are literal
      expect(textOf((await page(`/console/inventory?q=${encodeURIComponent("%")}`)).html)).toContain(
        "No installed software matches.",
      );
    });

    it("pages long lists, each list with its own page parameter", async () => {
      const many = Array.from({ length: 60 }, (_, i) => item(`pagepkg-${String(i).padStart(2, "0")}`));
      await storeInventory(
        ctx,
        ids.quiet,
        report(
          many,
          many.map((m) => ({ ...KESL, subject: m.name })),
        ),
      );
      try {
        const p1 = await page("/console/inventory?q=pagepkg");
        expect(textOf(p1.html)).toContain("Page 1 of 2 (60 results)");
        expect(p1.html).toContain('href="/console/inventory?q=pagepkg&amp;page=2#software"');
        const p2all = textOf((await page("/console/inventory?q=pagepkg&page=2")).html);
        const p2 = p2all.slice(p2all.indexOf("Endpoints running it"));
        expect(p2).toContain("quiet-03 pagepkg-59");
        expect(p2).not.toContain("pagepkg-49");
        expect(p2).toContain("Page 2 of 2 (60 results)");
        const f2 = textOf((await page("/console/inventory?fq=pagepkg&fpage=2")).html);
        expect(f2).toContain("Page 2 of 2 (60 results)");
      } finally {
        await storeInventory(ctx, ids.quiet, report([]));
      }
    });

    it("the endpoint page has an Inventory section: counts by source and the endpoint's findings", async () => {
      const lab = textOf((await page(`/console/endpoints/${ids.lab}`)).html);
      expect(lab).toMatch(
        /Inventory Last report 2026-01-13 12:00 UTC \(2 d ago\) Installed items 2 \(dpkg 1, windows-registry 1\) Forbidden by a pack 2 Prohibitions to come 0/,
      );
      expect(lab).toMatch(/kesl Kaspersky us-commerce-2024-kaspersky v1 Forbidden 2024-07-20/);
      const quiet = textOf((await page(`/console/endpoints/${ids.quiet}`)).html);
      expect(quiet).toContain("No policy pack finds anything on this endpoint.");
      const office = await page(`/console/endpoints/${ids.office}`);
      expect(office.html).toContain(`href="/console/inventory?endpoint=${ids.office}#software"`);
    });

    it("escapes everything an endpoint sends", async () => {
      for (const path of [
        "/console/inventory",
        `/console/inventory?q=${encodeURIComponent("<script>")}`,
        `/console/endpoints/${ids.evil}`,
      ]) {
        const r = await page(path);
        expect(r.status).toBe(200);
        expect(r.html).not.toContain(EVIL);
        expect(r.html).not.toContain("<b>Co</b>");
        expect(r.html).not.toContain("<i>x</i>");
        expect(r.html).not.toContain(`"><img src=x>`);
        expect(textOf(r.html)).toContain(EVIL);
      }
      expect(textOf((await page(`/console/inventory?q=${encodeURIComponent("<script>")}`)).html)).toContain(
        `Evil & <b>Co</b>`,
      );
    });

    it("without a session: redirected to the login form", async () => {
      const r = await request("/console/inventory?q=kesl");
      expect(r.status).toBe(303);
      expect(r.headers.get("location")).toBe(`/console/login?next=${encodeURIComponent("/console/inventory?q=kesl")}`);
    });

    it("the policy page shows and sets the inventory; with it off the fleet view says so", async () => {
      const pol = await page("/console/policy", "admin");
      expect(pol.html).toMatch(/<input type="checkbox" id="p-inv" name="send.inventory" value="1" checked=""/);
      expect(textOf(pol.html)).toContain("Send the software inventory yes");
      const cur = await getPolicy(ctx);
      await updatePolicy(ctx, { ...cur, send: { ...cur.send, inventory: false } }, CLI_ACTOR);
      try {
        const r = textOf((await page("/console/inventory")).html);
        expect(r).toContain("The data policy does not collect inventories");
        expect(r).toContain("office-01 kesl"); // what was reported before stays visible
        expect(textOf((await page("/console/policy")).html)).toContain("Send the software inventory no");
        // the form turns it back on
        const body = new URLSearchParams({
          _csrf: sessions.admin.csrf,
          "send.hostname": "1",
          "send.scanSummaries": "1",
          "send.inventory": "1",
          "reputation.enabled": "1",
          "samples.maxBytes": "1024",
          heartbeatSeconds: "300",
        });
        const saved = await request("/console/policy", {
          method: "POST",
          session: sessions.admin,
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: body.toString(),
        });
        expect(saved.status).toBe(303);
        expect((await getPolicy(ctx)).send.inventory).toBe(true);
      } finally {
        const p = await getPolicy(ctx);
        await updatePolicy(ctx, { ...p, send: { ...p.send, inventory: true } }, CLI_ACTOR);
      }
    });
  });
}
