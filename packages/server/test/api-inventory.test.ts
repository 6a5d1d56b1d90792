/**
 * Inventory reports through real HTTP on 127.0.0.1, on SQLite and PostgreSQL: a report replaces
 * the endpoint's previous set (gone items deleted, first_seen kept for the rest, findings
 * likewise), endpoints never touch each other's rows, the data policy applies on arrival (403
 * when inventory is off or absent from an older policy, install paths dropped when paths are
 * off), search by name and vendor (case-insensitive, LIKE wildcards taken literally), the
 * findings listing, a viewer can read, the inventory's own body limit, and /openapi.json.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as protocol from "@vigil/protocol";
import { dialects, startTestServer, type TestServer } from "@vigil/test-kit/server";

const T0 = Date.UTC(2025, 2, 1, 9, 0, 0);
const MIB = 1024 * 1024;
const HOUR = 3_600_000;

function item(name: string, over: Partial<protocol.InventoryItem> = {}): protocol.InventoryItem {
  return {
    name,
    version: "1.0",
    vendor: "Example Org <pkg@example.org>",
    source: "dpkg",
    installedAt: "2024-05-01T10:00:00.000Z",
    installPath: `/usr/share/doc/${name}`,
    ...over,
  };
}

const KESL_FINDING: protocol.InventoryFinding = {
  status: "forbidden",
  packId: "us-commerce-2024-kaspersky",
  packVersion: 1,
  vendor: "Kaspersky",
  subject: "kesl",
  evidence: ['package "kesl" matches "kesl"', 'publisher "AO Kaspersky Lab" matches "AO Kaspersky Lab"'],
  inForceSince: "2024-07-20",
};

function report(items: protocol.InventoryItem[], findings: protocol.InventoryFinding[] = []): protocol.InventoryReport {
  return {
    collectedAt: Date.now(),
    packs: [{ id: "us-commerce-2024-kaspersky", version: 1, title: "US Commerce 2024" }],
    items,
    findings,
  };
}

for (const dialect of await dialects()) {
  describe(`inventory API (${dialect})`, () => {
    let s: TestServer;
    let admin: { cookie: string; csrf: string };
    let viewer: { cookie: string; csrf: string };
    let clock = T0;
    beforeAll(async () => {
      s = await startTestServer({ dialect, now: () => clock, maxInventoryBytes: 6 * MIB });
      admin = await s.loginAdmin();
      const u = await s.call("POST", "/api/admin/users", {
        ...admin,
        body: { username: "inv-viewer", role: "viewer", password: "inventory-viewer-pw-1" },
      });
      expect(u.status, u.text).toBe(201);
      viewer = await s.login("inv-viewer", "inventory-viewer-pw-1");
    });
    afterAll(async () => {
      await s?.close();
    });

    const setPolicy = async (change: (p: protocol.DataPolicy) => void) => {
      const cur = (await s.call("GET", "/api/admin/policy", admin)).json as protocol.DataPolicy;
      change(cur);
      const r = await s.call("PUT", "/api/admin/policy", { ...admin, body: cur });
      expect(r.status, r.text).toBe(200);
      return r.json as protocol.DataPolicy;
    };
    const items = async (query: string, who = admin) => {
      const r = await s.call("GET", `/api/admin/inventory?${query}`, who);
      expect(r.status, r.text).toBe(200);
      return r.json as { items: any[]; total: number };
    };
    const findings = async (query: string, who = admin) => {
      const r = await s.call("GET", `/api/admin/inventory/findings?${query}`, who);
      expect(r.status, r.text).toBe(200);
      return r.json as { findings: any[]; total: number };
    };

    it("the default policy collects the inventory; a report is stored and readable", async () => {
      expect(((await s.call("GET", "/api/admin/policy", admin)).json as protocol.DataPolicy).send.inventory).toBe(true);
      const ep = await s.enrollEndpoint({ hostname: "inv-a" });
      const r = await s.call("POST", "/api/v1/inventory", {
        key: ep.key,
        body: report([item("bash", { version: "5.2" }), item("kesl", { vendor: "AO Kaspersky Lab" })], [KESL_FINDING]),
      });
      expect(r.status, r.text).toBe(200);
      expect(protocol.InventoryResponse.parse(r.json)).toEqual({ items: 2, findings: 1 });
      const got = await items(`endpoint=${ep.endpointId}`);
      expect(got.total).toBe(2);
      expect(got.items.map((i) => i.name)).toEqual(["bash", "kesl"]);
      expect(got.items[0]).toMatchObject({
        endpointId: ep.endpointId,
        hostname: "inv-a",
        version: "5.2",
        source: "dpkg",
        installedAt: "2024-05-01T10:00:00.000Z",
        firstSeen: T0,
        lastSeen: T0,
      });
      // the default policy does not collect paths
      expect(got.items.every((i) => i.installPath === null)).toBe(true);
      const f = await findings(`endpoint=${ep.endpointId}`);
      expect(f.findings).toEqual([
        {
          endpointId: ep.endpointId,
          hostname: "inv-a",
          status: "forbidden",
          packId: "us-commerce-2024-kaspersky",
          packVersion: 1,
          vendor: "Kaspersky",
          subject: "kesl",
          evidence: KESL_FINDING.evidence,
          inForceSince: "2024-07-20",
          firstSeen: T0,
          lastSeen: T0,
        },
      ]);
      const e = await s.call("GET", `/api/admin/endpoints/${ep.endpointId}`, admin);
      expect(e.status).toBe(200);
    });

    it("a report replaces the previous one: gone items deleted, first_seen kept for the rest, findings likewise", async () => {
      const ep = await s.enrollEndpoint({ hostname: "inv-replace" });
      clock = T0 + 1000;
      const { inForceSince: _since, ...rest } = KESL_FINDING;
      const upcoming: protocol.InventoryFinding = { ...rest, status: "upcoming", subject: "klnagent" };
      let r = await s.call("POST", "/api/v1/inventory", {
        key: ep.key,
        body: report([item("a"), item("b", { version: "1" }), item("c"), item("klnagent")], [KESL_FINDING, upcoming]),
      });
      expect(r.status, r.text).toBe(200);
      const t1 = clock;
      clock = T0 + 2 * HOUR; // sessions last 12 h on this clock
      // b upgraded, a and c removed, d installed; kesl gone, the klnagent finding now in force
      r = await s.call("POST", "/api/v1/inventory", {
        key: ep.key,
        body: report(
          [item("b", { version: "2" }), item("d"), item("klnagent")],
          [{ ...upcoming, status: "forbidden", inForceSince: "2024-09-29" }],
        ),
      });
      expect(r.status, r.text).toBe(200);
      const got = await items(`endpoint=${ep.endpointId}`);
      expect(got.items.map((i) => [i.name, i.version, i.firstSeen, i.lastSeen])).toEqual([
        ["b", "2", t1, clock],
        ["d", "1.0", clock, clock],
        ["klnagent", "1.0", t1, clock],
      ]);
      const f = await findings(`endpoint=${ep.endpointId}`);
      expect(f.findings.map((x) => [x.subject, x.status, x.inForceSince, x.firstSeen, x.lastSeen])).toEqual([
        ["klnagent", "forbidden", "2024-09-29", t1, clock],
      ]);
      // an empty report empties the set
      r = await s.call("POST", "/api/v1/inventory", { key: ep.key, body: report([]) });
      expect(r.status).toBe(200);
      expect((await items(`endpoint=${ep.endpointId}`)).total).toBe(0);
      expect((await findings(`endpoint=${ep.endpointId}`)).total).toBe(0);
      // the same name twice from one source (two site-packages) is kept as two items
      r = await s.call("POST", "/api/v1/inventory", {
        key: ep.key,
        body: report([
          item("six", { source: "python", version: "1.16" }),
          item("six", { source: "python", version: "1.15" }),
          item("six", { source: "python", version: "1.15" }),
        ]),
      });
      expect(r.status, r.text).toBe(200);
      expect((await items(`endpoint=${ep.endpointId}`)).items.map((i) => i.version).sort()).toEqual([
        "1.15",
        "1.15",
        "1.16",
      ]);
    });

    it("endpoints are isolated: one endpoint's report never touches another's rows", async () => {
      clock = T0 + 3 * HOUR;
      const a = await s.enrollEndpoint({ hostname: "iso-a" });
      const b = await s.enrollEndpoint({ hostname: "iso-b" });
      expect(
        (
          await s.call("POST", "/api/v1/inventory", {
            key: a.key,
            body: report(
              [item("isotool", { version: "1.1" }), item("only-a")],
              [{ ...KESL_FINDING, subject: "isotool" }],
            ),
          })
        ).status,
      ).toBe(200);
      expect(
        (await s.call("POST", "/api/v1/inventory", { key: b.key, body: report([item("isotool", { version: "2.0" })]) }))
          .status,
      ).toBe(200);
      // b reports again with nothing: a keeps its rows
      expect((await s.call("POST", "/api/v1/inventory", { key: b.key, body: report([]) })).status).toBe(200);
      expect((await items(`endpoint=${a.endpointId}`)).total).toBe(2);
      expect((await findings(`endpoint=${a.endpointId}`)).total).toBe(1);
      expect(
        (await s.call("POST", "/api/v1/inventory", { key: b.key, body: report([item("isotool", { version: "2.0" })]) }))
          .status,
      ).toBe(200);
      const both = await items("q=isotool");
      expect(both.items.map((i) => [i.hostname, i.version])).toEqual([
        ["iso-a", "1.1"],
        ["iso-b", "2.0"],
      ]);
      // a body cannot name another endpoint: the id comes from the key only
      const forged = { ...report([item("forged")]), endpointId: a.endpointId };
      expect((await s.call("POST", "/api/v1/inventory", { key: b.key, body: forged })).status).toBe(200);
      expect((await items(`endpoint=${a.endpointId}`)).items.map((i) => i.name)).toEqual(["isotool", "only-a"]);
      // an endpoint key opens no admin route, and no key opens no endpoint route
      expect((await s.call("GET", "/api/admin/inventory", { key: a.key })).status).toBe(401);
      expect((await s.call("POST", "/api/v1/inventory", { body: report([]) })).status).toBe(401);
      // a revoked endpoint is refused and left out of the fleet view
      expect((await s.call("POST", `/api/admin/endpoints/${b.endpointId}/revoke`, admin)).status).toBe(200);
      expect((await s.call("POST", "/api/v1/inventory", { key: b.key, body: report([]) })).status).toBe(401);
      expect((await items("q=forged")).total).toBe(0);
    });

    it("search by name and vendor is case-insensitive and takes % and _ literally", async () => {
      const ep = await s.enrollEndpoint({ hostname: "search-host" });
      const r = await s.call("POST", "/api/v1/inventory", {
        key: ep.key,
        body: report([
          item("Kaspersky Endpoint Security 12", { source: "windows-registry", vendor: "AO Kaspersky Lab" }),
          item("100%_tool"),
          item("100x-tool"),
          item("libfoo", { vendor: "ACME Corp" }),
        ]),
      });
      expect(r.status, r.text).toBe(200);
      expect((await items("q=KASPERSKY")).items.map((i) => i.name)).toEqual(["Kaspersky Endpoint Security 12"]);
      expect((await items(`q=${encodeURIComponent("%_")}`)).items.map((i) => i.name)).toEqual(["100%_tool"]);
      expect((await items("vendor=acme")).items.map((i) => i.name)).toEqual(["libfoo"]);
      expect((await items("vendor=kaspersky&source=windows-registry")).total).toBe(1);
      expect((await items("vendor=kaspersky&source=dpkg&endpoint=" + ep.endpointId)).total).toBe(0);
      // paging
      const p1 = await items(`endpoint=${ep.endpointId}&limit=2`);
      const p2 = await items(`endpoint=${ep.endpointId}&limit=2&offset=2`);
      expect(p1.total).toBe(4);
      expect([...p1.items, ...p2.items].map((i) => i.name)).toEqual([
        "100%_tool",
        "100x-tool",
        "Kaspersky Endpoint Security 12",
        "libfoo",
      ]);
      // bad query parameters are 400s naming the field
      const bad = await s.call("GET", "/api/admin/inventory?limit=0", admin);
      expect(bad.status).toBe(400);
      expect(bad.json.error.path).toBe("limit");
      expect((await s.call("GET", "/api/admin/inventory/findings?status=maybe", admin)).status).toBe(400);
    });

    it("a viewer can read both routes; without a session they are refused", async () => {
      expect((await items("q=kesl", viewer)).total).toBeGreaterThan(0);
      const f = await findings("status=forbidden", viewer);
      expect(f.total).toBeGreaterThan(0);
      expect(f.findings.every((x) => x.status === "forbidden")).toBe(true);
      expect((await s.call("GET", "/api/admin/inventory")).status).toBe(401);
      expect((await s.call("GET", "/api/admin/inventory/findings")).status).toBe(401);
    });

    it("the policy applies on arrival: install paths only when paths are allowed, 403 when the inventory is off or absent", async () => {
      const ep = await s.enrollEndpoint({ hostname: "policy-host" });
      await setPolicy((p) => {
        p.send.path = true;
      });
      expect(
        (await s.call("POST", "/api/v1/inventory", { key: ep.key, body: report([item("withpath")]) })).status,
      ).toBe(200);
      expect((await items(`endpoint=${ep.endpointId}`)).items[0].installPath).toBe("/usr/share/doc/withpath");
      await setPolicy((p) => {
        p.send.path = false;
      });
      expect(
        (await s.call("POST", "/api/v1/inventory", { key: ep.key, body: report([item("withpath")]) })).status,
      ).toBe(200);
      expect((await items(`endpoint=${ep.endpointId}`)).items[0].installPath).toBeNull();
      await setPolicy((p) => {
        p.send.inventory = false;
      });
      const off = await s.call("POST", "/api/v1/inventory", { key: ep.key, body: report([item("refused")]) });
      expect(off.status).toBe(403);
      expect(off.json.error.code).toBe("SERVER_POLICY_DENIED");
      expect((await items("q=refused")).total).toBe(0);
      // a policy written before the inventory existed (no send.inventory) collects nothing
      await setPolicy((p) => {
        delete (p.send as Partial<protocol.DataPolicy["send"]>).inventory;
      });
      expect(
        ((await s.call("GET", "/api/admin/policy", admin)).json as protocol.DataPolicy).send.inventory,
      ).toBeUndefined();
      expect((await s.call("POST", "/api/v1/inventory", { key: ep.key, body: report([item("refused")]) })).status).toBe(
        403,
      );
      await setPolicy((p) => {
        p.send.inventory = true;
      });
      expect(
        (await s.call("POST", "/api/v1/inventory", { key: ep.key, body: report([item("accepted")]) })).status,
      ).toBe(200);
    });

    it("malformed reports are 400s naming the field; the inventory has its own body limit", async () => {
      const ep = await s.enrollEndpoint({ hostname: "limits-host" });
      const bad = await s.call("POST", "/api/v1/inventory", {
        key: ep.key,
        body: report([item("x", { source: "Not A Source" })]),
      });
      expect(bad.status).toBe(400);
      expect(bad.json.error.path).toBe("items.0.source");
      const noName = await s.call("POST", "/api/v1/inventory", {
        key: ep.key,
        body: { ...report([]), items: [{ source: "dpkg" }] },
      });
      expect(noName.status).toBe(400);
      expect(
        (
          await s.call("POST", "/api/v1/inventory", {
            key: ep.key,
            raw: "{not json",
            headers: { "content-type": "application/json" },
          })
        ).status,
      ).toBe(400);
      const tooMany = await s.call("POST", "/api/v1/inventory", {
        key: ep.key,
        body: report(
          Array.from({ length: protocol.INVENTORY_MAX_ITEMS + 1 }, (_, i) => ({ name: `p${i}`, source: "npm" })),
        ),
      });
      expect(tooMany.status).toBe(400);
      // over the general 4 MiB JSON limit but under the inventory's 6 MiB (this server): accepted
      const pad = randomBytes(60).toString("hex");
      const big = report(
        Array.from({ length: 20_000 }, (_, i) => item(`pkg-${i}`, { vendor: `Vendor ${pad}`, version: `1.${i}` })),
      );
      const bigText = JSON.stringify(big);
      expect(bigText.length).toBeGreaterThan(4 * MIB);
      expect(bigText.length).toBeLessThan(6 * MIB);
      const ok = await s.call("POST", "/api/v1/inventory", {
        key: ep.key,
        raw: bigText,
        headers: { "content-type": "application/json" },
      });
      expect(ok.status, ok.text.slice(0, 300)).toBe(200);
      expect(ok.json).toEqual({ items: 20_000, findings: 0 });
      expect((await items(`endpoint=${ep.endpointId}&limit=1`)).total).toBe(20_000);
      const huge = JSON.stringify(
        report(Array.from({ length: 30_000 }, (_, i) => item(`pkg-${i}`, { vendor: `Vendor ${pad}` }))),
      );
      expect(huge.length).toBeGreaterThan(6 * MIB);
      const over = await s.call("POST", "/api/v1/inventory", {
        key: ep.key,
        raw: huge,
        headers: { "content-type": "application/json" },
      });
      expect(over.status).toBe(413);
      // the refused report left the stored one alone
      expect((await items(`endpoint=${ep.endpointId}&limit=1`)).total).toBe(20_000);
    });

    it("/openapi.json lists the endpoint and admin inventory routes", async () => {
      const doc = (await s.call("GET", "/openapi.json")).json;
      expect(
        doc.paths["/api/v1/inventory"].post.requestBody.content["application/json"].schema.properties.items.maxItems,
      ).toBe(protocol.INVENTORY_MAX_ITEMS);
      expect(Object.keys(doc.paths["/api/v1/inventory"].post.responses)).toEqual(
        expect.arrayContaining(["200", "403", "413"]),
      );
      expect(doc.paths["/api/admin/inventory"].get.parameters.map((p: { name: string }) => p.name)).toEqual(
        expect.arrayContaining(["q", "vendor", "source", "endpoint"]),
      );
      expect(doc.paths["/api/admin/inventory/findings"].get.responses["200"]).toBeDefined();
    });
  });
}
