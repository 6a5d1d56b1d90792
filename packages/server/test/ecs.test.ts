/**
 * Alerts as JSON lines in Elastic Common Schema: the `alertEcs` file gets one line per new alert,
 * checked here field by field (file.path only once the data policy allows paths), and is rotated
 * at maxBytes keeping `keep` files, every line whole.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { detection, startTestServer, type TestServer } from "@vigil/test-kit/server";

const until = async (cond: () => boolean, ms = 15_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 25));
  }
};

const linesOf = (f: string) =>
  existsSync(f)
    ? readFileSync(f, "utf8")
        .split("\n")
        .filter((l) => l.length)
    : [];

describe("alert ECS file", () => {
  let s: TestServer;
  const dir = mkdtempSync(join(tmpdir(), "vigil-ecs-"));
  const file = join(dir, "alerts.ndjson");
  beforeAll(async () => {
    s = await startTestServer({
      dialect: "sqlite",
      alertEcs: { file, maxBytes: 4096, keep: 2 },
      webhookIntervalMs: 20,
    });
  });
  afterAll(async () => {
    await s?.close();
  });

  it("one ECS document per new alert, field by field", async () => {
    const ep = await s.enrollEndpoint({ hostname: "ecs-host" });
    const sha256 = randomBytes(32).toString("hex");
    const t0 = Date.now() - 5_000;
    // the default policy does not let paths be stored: no file.path
    await s.call("POST", "/api/v1/detections", {
      key: ep.key,
      body: {
        detections: [
          detection({
            sha256,
            time: t0,
            name: "Win.Test.EICAR_HDB-1",
            severity: "critical",
            bundleVersion: "42",
            path: "/tmp/x",
          }),
        ],
      },
    });
    await until(() => linesOf(file).length >= 1);
    const doc = JSON.parse(linesOf(file)[0]!);
    const alert = (await s.ctx.store.db.selectFrom("alerts").selectAll().executeTakeFirstOrThrow()) as { id: string };
    expect(doc["@timestamp"]).toBe(new Date(t0).toISOString());
    expect(doc.ecs.version).toMatch(/^8\./);
    expect(doc.event.kind).toBe("alert");
    expect(doc.event.category).toEqual(["malware"]);
    expect(doc.event.type).toEqual(["info"]);
    expect(doc.event.severity).toBe(99);
    expect(doc.event.id).toBe(alert.id);
    expect(doc.event.start).toBe(new Date(t0).toISOString());
    expect(doc.event.end).toBe(new Date(t0).toISOString());
    expect(Date.parse(doc.event.created)).toBeGreaterThan(t0);
    expect(doc.event.action).toBe("reported");
    expect(doc.host).toEqual({ id: ep.endpointId, name: "ecs-host" });
    expect(doc.file).toEqual({ hash: { sha256 } });
    expect(doc.rule).toEqual({ name: "EICAR_Test_File", version: "42" });
    expect(doc.threat.software.name).toBe("Win.Test.EICAR_HDB-1");
    expect(doc.threat.indicator).toEqual({ type: "file", file: { hash: { sha256 } } });
    expect(doc.vigil.alert).toMatchObject({
      id: alert.id,
      state: "new",
      count: 1,
      severity: "critical",
      stateBy: null,
    });
    expect(doc.vigil.signature).toBe("Win.Test.EICAR_HDB-1");
    expect(doc.message).toContain("Win.Test.EICAR_HDB-1");

    // with paths allowed, file.path and file.name come along
    const admin = await s.loginAdmin();
    const cur = (await s.call("GET", "/api/admin/policy", admin)).json;
    cur.send.path = true;
    expect((await s.call("PUT", "/api/admin/policy", { ...admin, body: cur })).status).toBe(200);
    const sha2 = randomBytes(32).toString("hex");
    await s.call("POST", "/api/v1/detections", {
      key: ep.key,
      body: { detections: [detection({ sha256: sha2, severity: "low", path: "C:\\Users\\a\\evil.exe" })] },
    });
    await until(() => linesOf(file).length >= 2);
    const doc2 = JSON.parse(linesOf(file)[1]!);
    expect(doc2.file).toEqual({ hash: { sha256: sha2 }, path: "C:\\Users\\a\\evil.exe", name: "evil.exe" });
    expect(doc2.event.severity).toBe(21);
    // a rescan of the same file adds no line
    await s.call("POST", "/api/v1/detections", {
      key: ep.key,
      body: { detections: [detection({ sha256: sha2, severity: "low" })] },
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(linesOf(file)).toHaveLength(2);
  });

  it("rotates at maxBytes, keeping `keep` files of whole lines", async () => {
    const ep = await s.enrollEndpoint({ hostname: "rotating" });
    for (let i = 0; i < 12; i++)
      await s.call("POST", "/api/v1/detections", { key: ep.key, body: { detections: [detection()] } });
    const db = s.ctx.store.db;
    const settled = async () =>
      (await db.selectFrom("alert_deliveries").select("id").where("state", "=", "queued").execute()).length === 0;
    for (let t = 0; t < 600 && !(await settled()); t++) await new Promise((r) => setTimeout(r, 25));
    expect(await settled()).toBe(true);
    expect(existsSync(`${file}.2`)).toBe(true);
    expect(existsSync(`${file}.3`)).toBe(false);
    for (const f of [file, `${file}.1`, `${file}.2`]) {
      expect(statSync(f).size).toBeLessThanOrEqual(4096);
      for (const l of linesOf(f)) expect(JSON.parse(l).event.kind).toBe("alert");
    }
    const rows = await s.ctx.store.db.selectFrom("alert_deliveries").select("state").execute();
    expect(rows.every((r) => r.state === "delivered")).toBe(true);
  });
});

it("a bad ECS file configuration is refused at start", async () => {
  await expect(
    startTestServer({ dialect: "sqlite", alertEcs: { file: "/tmp/x.ndjson", maxBytes: 10 } }),
  ).rejects.toThrow(/4096 bytes/);
});
