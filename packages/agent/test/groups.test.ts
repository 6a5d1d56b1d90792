/**
 * A real Agent against a real `vigil server` (SQLite, 127.0.0.1) picking up the scan policy of a
 * group it is in by tag: the heartbeat brings the new per-endpoint policy version, the agent
 * fetches and verifies it, and from then on scans what the group asks (a new path and schedule)
 * instead of its local settings, within its local scan ceiling, which wins where they disagree:
 * a path outside its allowed roots is refused, a schedule tighter than its minimum is raised to
 * it, quarantine is refused until the operator allows it locally; with `accept: false` none of
 * the server's scan policy applies. Also pure checks of effectiveScan.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as agent from "@vigil/agent";
import { EICAR } from "@vigil/test-kit";
import { startTestServer, type TestServer } from "@vigil/test-kit/server";

const LOCAL: agent.LocalScan = {
  paths: ["/home"],
  exclude: [],
  everyMinutes: 60,
  dailyAt: null,
  watchPaths: [],
  action: "report",
};

describe("effectiveScan", () => {
  test("no scan part from the server: the local settings, untouched", () => {
    const s = agent.effectiveScan(LOCAL, undefined, agent.DEFAULT_SCAN_CEILING);
    expect(s).toEqual({ ...LOCAL, fromServer: [], narrowed: [] });
  });
  test("the server's fields over the local ones; a null schedule turns it off", () => {
    const s = agent.effectiveScan(
      LOCAL,
      { paths: ["/srv"], everyMinutes: null, dailyAt: "02:30", exclude: ["*.iso"] },
      agent.DEFAULT_SCAN_CEILING,
    );
    expect(s).toMatchObject({ paths: ["/srv"], everyMinutes: null, dailyAt: "02:30", exclude: ["*.iso"] });
    expect(s.fromServer.sort()).toEqual(["dailyAt", "everyMinutes", "exclude", "paths"]);
  });
  test("the ceiling: roots (lexically, after resolving ..), relative paths, the shortest interval, quarantine", () => {
    const c = { accept: true, roots: ["/srv"], minEveryMinutes: 30, quarantine: false };
    const s = agent.effectiveScan(
      LOCAL,
      {
        paths: ["/srv/a", "/srv/../etc", "srv/b", "/srvx"],
        watchPaths: ["/etc"],
        everyMinutes: 5,
        action: "quarantine",
      },
      c,
    );
    expect(s.paths).toEqual(["/srv/a"]);
    expect(s.watchPaths).toEqual([]); // none allowed: the local setting
    expect(s.everyMinutes).toBe(30);
    expect(s.action).toBe("report");
    expect(s.narrowed).toHaveLength(7);
    expect(agent.effectiveScan(LOCAL, { paths: ["/srv"] }, { ...c, accept: false }).paths).toEqual(["/home"]);
  });
});

describe("an agent in a group picks up its scan policy within its local ceiling", () => {
  const root = mkdtempSync(join(tmpdir(), "vigil-agent-groups-"));
  const state = join(root, "agent");
  const allowed = join(root, "allowed");
  const local = join(root, "local");
  const outside = mkdtempSync(join(tmpdir(), "vigil-agent-groups-outside-"));
  let s: TestServer;
  let admin: { cookie: string; csrf: string };
  let a: agent.Agent;
  const logs: string[] = [];
  const newAgent = () => new agent.Agent({ dir: state, log: (l, m) => logs.push(`${l}: ${m}`) });

  beforeAll(async () => {
    for (const d of [allowed, local]) mkdirSync(d, { recursive: true });
    writeFileSync(join(allowed, "eicar.com"), EICAR);
    writeFileSync(join(local, "clean.txt"), "nothing to see");
    writeFileSync(join(outside, "eicar.com"), EICAR);
    s = await startTestServer({ dialect: "sqlite" });
    admin = await s.loginAdmin();
    const token = await s.createToken();
    await agent.enroll({ dir: state, server: s.url, token, hostname: "kiosk-1", tags: ["kiosk"] });
    const files = new agent.AgentFiles(state);
    const cfg = files.config();
    files.saveConfig({
      ...cfg,
      // the operator's own settings: the local directory, no schedule
      scan: { paths: [local], everyMinutes: null, dailyAt: null, exclude: [] },
      rules: { builtin: true, updateBundle: false, extra: [] },
      scanCeiling: { accept: true, roots: [root], minEveryMinutes: 30, quarantine: false },
      quarantineDir: join(root, "quarantine"),
      inventory: { ...cfg.inventory, everyHours: 0 },
    });
    a = newAgent();
  });
  afterAll(async () => {
    await s?.close();
    rmSync(root, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  test("before any group: local settings, nothing scheduled", async () => {
    const r = await a.cycle();
    expect(r.contacted).toBe(true);
    expect(r.scan).toBeUndefined();
    expect(a.nextScanAt()).toBeNull();
    expect(a.scanSettings()).toMatchObject({ paths: [local], action: "report", fromServer: [] });
  });

  test("the group's path and schedule arrive signed; the ceiling refuses the outside path, raises the interval, keeps report", async () => {
    const g = await s.call("POST", "/api/admin/groups", {
      ...admin,
      body: {
        name: "Kiosks",
        match: { tags: ["kiosk"] },
        scan: { paths: [allowed, outside], everyMinutes: 5, watchPaths: [allowed], action: "quarantine" },
      },
    });
    expect(g.status).toBe(201);
    const before = a.serverPolicyVersion;
    const r = await a.cycle();
    expect(a.serverPolicyVersion).toBe(before + 1);
    const eff = (await s.call("GET", `/api/admin/endpoints/${a.config.endpointId}/policy`, admin)).json;
    expect(eff.policy.version).toBe(a.serverPolicyVersion);
    expect(eff.groups).toEqual([expect.objectContaining({ name: "Kiosks", via: "rule" })]);

    const set = a.scanSettings();
    expect(set.paths).toEqual([allowed]);
    expect(set.watchPaths).toEqual([allowed]);
    expect(set.everyMinutes).toBe(30);
    expect(set.action).toBe("report");
    expect(set.narrowed.join("\n")).toContain(outside);
    expect(logs.some((l) => l.startsWith("warn: scan policy: action quarantine refused"))).toBe(true);
    expect(a.status().effectiveScan.paths).toEqual([allowed]);

    // the cycle scanned what the group asked (due at once: never scanned), not the local directory
    expect(r.scan).toMatchObject({ files: 1, detections: 1 });
    expect(existsSync(join(allowed, "eicar.com"))).toBe(true); // reported, not quarantined
    expect(existsSync(join(outside, "eicar.com"))).toBe(true);
    const dets = (await s.call("GET", `/api/admin/detections?endpoint=${a.config.endpointId}`, admin)).json;
    expect(dets.detections).toHaveLength(1);
    expect(dets.detections[0].action).toBe("reported");
    const scans = (await s.call("GET", `/api/admin/endpoints/${a.config.endpointId}/scans`, admin)).json;
    expect(scans.scans[0]).toMatchObject({ files: 1, kind: "scheduled" });
    // the next one in 30 minutes (the ceiling's minimum), not 5
    expect(a.nextScanAt()).toBe(a.state.lastScanAt! + 30 * 60_000);
  });

  test("the operator allows quarantine locally: the group's action applies", async () => {
    const files = new agent.AgentFiles(state);
    files.saveConfig({ ...files.config(), scanCeiling: { ...a.config.scanCeiling, quarantine: true } });
    a = newAgent();
    expect(a.scanSettings().action).toBe("quarantine");
    const rep = await a.scan("manual");
    expect(rep.detections).toBe(1);
    expect(existsSync(join(allowed, "eicar.com"))).toBe(false);
    await a.flush();
    const dets = (await s.call("GET", `/api/admin/detections?endpoint=${a.config.endpointId}`, admin)).json;
    expect(dets.detections.map((d: { action: string }) => d.action).sort()).toEqual(["quarantined", "reported"]);
  });

  test("the running agent restarts its watch on the paths a changed group asks for", async () => {
    const watched = join(root, "incoming");
    mkdirSync(watched, { recursive: true });
    const admin2 = admin;
    const groups = (await s.call("GET", "/api/admin/groups", admin2)).json.groups;
    const put = await s.call("PUT", `/api/admin/groups/${groups[0].id}`, {
      ...admin2,
      body: {
        name: "Kiosks",
        match: { tags: ["kiosk"] },
        scan: { paths: [allowed], watchPaths: [watched], action: "quarantine" },
      },
    });
    expect(put.status).toBe(200);
    const count = async () =>
      (await s.call("GET", `/api/admin/detections?endpoint=${a.config.endpointId}`, admin)).json.detections.length;
    const before = await count();
    logs.length = 0;
    const stop = new AbortController();
    const running = a.run(stop.signal);
    try {
      // started on the old policy's watch paths, then the heartbeat brings the new ones
      const deadline = Date.now() + 20_000;
      while (!logs.includes(`info: watching ${watched}`) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      expect(logs).toContain(`info: watching ${allowed}`);
      expect(logs).toContain(`info: watching ${watched}`);
      writeFileSync(join(watched, "dropped.com"), EICAR);
      while ((await count()) === before && Date.now() < deadline + 20_000) await new Promise((r) => setTimeout(r, 200));
      expect(await count()).toBe(before + 1);
      expect(existsSync(join(watched, "dropped.com"))).toBe(false); // quarantined: the ceiling allows it now
    } finally {
      stop.abort();
      await running;
    }
  });

  test("an endpoint that does not accept a scan policy keeps its own settings", async () => {
    const files = new agent.AgentFiles(state);
    files.saveConfig({ ...files.config(), scanCeiling: { ...a.config.scanCeiling, accept: false } });
    a = newAgent();
    expect(a.scanSettings()).toMatchObject({ paths: [local], everyMinutes: null, action: "report", fromServer: [] });
    expect(a.nextScanAt()).toBeNull();
  });
});
