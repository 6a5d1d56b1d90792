/**
 * Remote actions end to end: a real `Agent` (enrolled with a real token) against a real server
 * on 127.0.0.1 (SQLite), each action queued through the admin API and carried by the heartbeat
 * answer of `agent.cycle()`.
 *
 * Covered: a quarantine by path moves the file into the agent's vault and reports done, then a
 * restore by vault id puts it back byte for byte (mode and mtime too); quarantine and restore by
 * hash (the found path not reported under the default data policy); an endpoint whose
 * configuration does not allow remote quarantine refuses it (failed, the reason on the server,
 * the file untouched); a path outside the allowed roots, also through a symbolic link, is
 * refused; a scan of a path finds EICAR and the detection reaches the server; update without a
 * trust policy fails with the reason; the diagnostic bundle reaches the server without the
 * endpoint key and without log lines under a policy that keeps paths in; an action handed over
 * twice runs once; one the agent was running when it stopped is reported interrupted.
 */
import { createHash, randomBytes } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Agent, AgentFiles, enroll } from "@vigil/agent";
import type { Server } from "node:http";
import { Quarantine } from "@vigil/scanner";
import { EICAR, closeServer, makeKeys, policyFor, startWitness, writeRules } from "@vigil/test-kit";
import { publish } from "@vigil/updates";
import { startTestServer, type TestServer } from "@vigil/test-kit/server";

let s: TestServer;
let admin: { cookie: string; csrf: string };
const tmp: string[] = [];
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

function dir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tmp.push(d);
  return d;
}

interface Endpoint {
  agent: Agent;
  id: string;
  state: string;
  data: string;
}

/** Enrols an agent whose scan path is a fresh data directory; `allow` replaces its allowed action kinds. */
async function endpoint(allow?: string[]): Promise<Endpoint> {
  const state = dir("vigil-act-agent-");
  const data = dir("vigil-act-data-");
  const cfg = await enroll({ dir: state, server: s.url, token: await s.createToken(), hostname: "act-agent" });
  const files = new AgentFiles(state);
  files.saveConfig({
    ...cfg,
    scan: { ...cfg.scan, paths: [data] },
    ...(allow ? { actions: { ...cfg.actions, allow: allow as never } } : {}),
  });
  return { agent: new Agent({ dir: state }), id: cfg.endpointId, state, data };
}

async function queue(ep: Endpoint, body: Record<string, unknown>): Promise<string> {
  const r = await s.call("POST", `/api/admin/endpoints/${ep.id}/actions`, { ...admin, body });
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  return r.json.id;
}

const action = async (id: string) => (await s.call("GET", `/api/admin/actions/${id}`, admin)).json;

beforeAll(async () => {
  s = await startTestServer({ dialect: "sqlite" });
  admin = await s.loginAdmin();
});
afterAll(async () => {
  await s?.close();
  for (const d of tmp) rmSync(d, { recursive: true, force: true });
});

describe("remote actions on a real agent", () => {
  let a: Endpoint;
  beforeAll(async () => {
    a = await endpoint(["scan", "quarantine", "restore", "update", "diagnostics"]);
  });

  test("quarantine by path moves the file into the vault, done; restore by vault id puts it back byte for byte", async () => {
    const file = join(a.data, "docs", "report.bin");
    mkdirSync(join(a.data, "docs"));
    const bytes = randomBytes(300_000);
    writeFileSync(file, bytes);
    chmodSync(file, 0o640);
    utimesSync(file, new Date("2026-01-02T03:04:05Z"), new Date("2026-01-02T03:04:05Z"));
    const before = statSync(file);

    const q = await queue(a, { kind: "quarantine", path: file });
    expect((await action(q)).state).toBe("queued");
    const r1 = await a.agent.cycle();
    expect(r1.errors).toEqual([]);
    expect(r1.actions).toEqual([expect.objectContaining({ id: q, kind: "quarantine", state: "done", sent: true })]);
    expect(existsSync(file)).toBe(false);
    const vault = new Quarantine(join(a.state, "quarantine"));
    const entries = vault.list();
    expect(entries).toHaveLength(1);
    expect(entries[0]!).toMatchObject({ sha256: sha(bytes), size: bytes.length, originalPath: file });
    // the vault holds it encrypted, not as the plain bytes
    expect(readFileSync(join(vault.dir, `${entries[0]!.id}.data`)).equals(bytes)).toBe(false);
    const done = await action(q);
    expect(done).toMatchObject({ state: "done", message: `quarantined ${file} as ${entries[0]!.id}` });
    expect(done.details.entries[0]).toMatchObject({ quarantineId: entries[0]!.id, sha256: sha(bytes) });
    expect(done.deliveredAt).not.toBeNull();

    const r = await queue(a, { kind: "restore", quarantineId: done.details.entries[0].quarantineId });
    const r2 = await a.agent.cycle();
    expect(r2.actions).toEqual([expect.objectContaining({ id: r, state: "done", sent: true })]);
    expect(readFileSync(file).equals(bytes)).toBe(true);
    const after = statSync(file);
    expect(after.mode & 0o7777).toBe(0o640);
    expect(after.mtimeMs).toBe(before.mtimeMs);
    expect(vault.list()).toHaveLength(0);
    expect(await action(r)).toMatchObject({ state: "done", message: `restored vault entry ${entries[0]!.id}` });
  });

  test("quarantine and restore by hash; the found path is not reported under the default data policy", async () => {
    mkdirSync(join(a.data, "deep", "er"), { recursive: true });
    const file = join(a.data, "deep", "er", "tool.exe");
    const bytes = randomBytes(4096);
    writeFileSync(file, bytes);
    writeFileSync(join(a.data, "deep", "other.txt"), "something else");
    const q = await queue(a, { kind: "quarantine", sha256: sha(bytes) });
    await a.agent.cycle();
    expect(existsSync(file)).toBe(false);
    expect(existsSync(join(a.data, "deep", "other.txt"))).toBe(true);
    const done = await action(q);
    expect(done.state).toBe("done");
    expect(done.message).toMatch(/^quarantined 1 file \(\d+ files hashed under 1 root\)$/);
    expect(done.details.entries[0].sha256).toBe(sha(bytes));
    expect(JSON.stringify(done)).not.toContain("tool.exe");

    const missing = await queue(a, { kind: "quarantine", sha256: "0".repeat(64) });
    const r = await queue(a, { kind: "restore", sha256: sha(bytes) });
    await a.agent.cycle();
    expect(await action(missing)).toMatchObject({ state: "failed" });
    expect((await action(missing)).message).toContain("no file with sha256 000000000000");
    expect(await action(r)).toMatchObject({ state: "done" });
    expect(readFileSync(file).equals(bytes)).toBe(true);
  });

  test("a path outside the allowed roots is refused, also through a symbolic link; the file stays", async () => {
    const outside = dir("vigil-act-outside-");
    const secret = join(outside, "passwd");
    writeFileSync(secret, "root:x:0:0\n");
    symlinkSync(outside, join(a.data, "link"));
    const direct = await queue(a, { kind: "quarantine", path: secret });
    const viaLink = await queue(a, { kind: "quarantine", path: join(a.data, "link", "passwd") });
    await a.agent.cycle();
    for (const id of [direct, viaLink]) {
      const x = await action(id);
      expect(x.state).toBe("failed");
      expect(x.message).toContain("is not under the roots where this endpoint allows a remote quarantine");
    }
    expect(readFileSync(secret, "utf8")).toBe("root:x:0:0\n");
  });

  test("scan of a path: the EICAR file is found and its detection reaches the server; update without a trust policy fails", async () => {
    const sub = join(a.data, "incoming");
    mkdirSync(sub);
    writeFileSync(join(sub, "eicar.com"), EICAR);
    const scan = await queue(a, { kind: "scan", path: sub });
    const upd = await queue(a, { kind: "update" });
    const r = await a.agent.cycle();
    expect(r.actions?.map((o) => o.state)).toEqual(["done", "failed"]);
    const x = await action(scan);
    expect(x).toMatchObject({ state: "done", details: { files: 1, detections: 1 } });
    // the remote scan does not stand in for the scheduled one
    const dets = (await s.call("GET", `/api/admin/detections?endpoint=${a.id}`, admin)).json.detections;
    expect(dets.some((d: { sha256: string }) => d.sha256 === sha(Buffer.from(EICAR)))).toBe(true);
    expect((await action(upd)).message).toContain("no update trust policy or root is configured on this endpoint");
  });

  test("diagnostics: the bundle reaches the server without the endpoint key; log lines withheld when paths may not leave", async () => {
    const d = await queue(a, { kind: "diagnostics" });
    await a.agent.cycle();
    const x = await action(d);
    expect(x).toMatchObject({ state: "done", hasBundle: true });
    const dl = await s.call("GET", `/api/admin/actions/${d}/bundle`, admin);
    expect(dl.status).toBe(200);
    expect(dl.text).not.toContain(a.agent.config.key);
    expect(dl.text).not.toContain(a.data);
    const b = dl.json;
    expect(b.format).toBe("vigil-diagnostics/1");
    expect(b.config.key).toBe("(removed)");
    expect(b.config.endpointId).toBe(a.id);
    expect(b.versions.node).toBe(process.versions.node);
    expect(b.status.endpointId).toBe(a.id);
    expect(b.recentLog.withheld).toContain("does not allow paths");
    expect(b.recentLog.lines).toBeGreaterThan(0);
    expect(b.status.actions.allow).toEqual(["scan", "quarantine", "restore", "update", "diagnostics"]);

    // once the organisation's policy lets paths leave, the log lines (which name files) go too
    const pol = (await s.call("GET", "/api/admin/policy", admin)).json;
    const put = await s.call("PUT", "/api/admin/policy", {
      ...admin,
      body: { ...pol, send: { ...pol.send, path: true } },
    });
    expect(put.status).toBe(200);
    const ceiling = a.agent.config.ceiling;
    a.agent.config = { ...a.agent.config, ceiling: { ...ceiling, path: true } };
    try {
      const d2 = await queue(a, { kind: "diagnostics" });
      await a.agent.cycle();
      const b2 = (await s.call("GET", `/api/admin/actions/${d2}/bundle`, admin)).json;
      expect(Array.isArray(b2.recentLog)).toBe(true);
      expect(b2.recentLog.some((l: string) => l.includes(`remote action diagnostics (${d2}) from admin`))).toBe(true);
      expect(b2.config.scan.paths).toEqual([a.data]);
      expect(b2.config.key).toBe("(removed)");
      expect(JSON.stringify(b2)).not.toContain(a.agent.config.key);
    } finally {
      a.agent.config = { ...a.agent.config, ceiling };
      await s.call("PUT", "/api/admin/policy", { ...admin, body: pol });
    }
  });

  test("an action handed over twice runs once (its result sent again); one interrupted by a stop is reported failed", async () => {
    const file = join(a.data, "twice.bin");
    writeFileSync(file, "twice");
    const q = await queue(a, { kind: "quarantine", path: file });
    await a.agent.cycle();
    const first = await action(q);
    expect(first.state).toBe("done");
    const vaulted = new Quarantine(join(a.state, "quarantine")).list().length;
    writeFileSync(file, "twice"); // were it run again, this would be quarantined too
    a.agent.actions.accept([{ id: q, kind: "quarantine", path: file, requestedAt: Date.now(), requestedBy: "admin" }]);
    expect(await a.agent.runActions()).toEqual([]);
    expect(existsSync(file)).toBe(true);
    expect(new Quarantine(join(a.state, "quarantine")).list()).toHaveLength(vaulted);
    expect(a.agent.actions.list().find((r) => r.id === q)).toMatchObject({ state: "done", sent: true });

    // a scan cut short by a stop is not reported as a clean result
    const cut = await queue(a, { kind: "scan" });
    await a.agent.heartbeat();
    const ac = new AbortController();
    const running = a.agent.runActions(ac.signal);
    ac.abort();
    const outcome = await running;
    expect(outcome).toEqual([expect.objectContaining({ id: cut, state: "failed", sent: true })]);
    expect((await action(cut)).message).toMatch(/^interrupted: the agent was stopped after \d+ files/);

    // a record left "running" by a stopped agent: the next agent reports it interrupted
    const stuck = await queue(a, { kind: "scan" });
    const raw = JSON.parse(readFileSync(join(a.state, "actions.json"), "utf8"));
    raw.actions.push({ id: stuck, kind: "scan", state: "running", at: Date.now(), sent: false });
    writeFileSync(join(a.state, "actions.json"), JSON.stringify(raw));
    const again = new Agent({ dir: a.state });
    await again.cycle();
    const x = await action(stuck);
    expect(x.state).toBe("failed");
    expect(x.message).toContain("interrupted: the agent stopped while carrying it out");
  });
});

describe("an endpoint whose configuration does not allow remote quarantine", () => {
  test("refuses it: the action fails with the reason, the file stays", async () => {
    const b = await endpoint(); // the default: scan, update, diagnostics
    expect(b.agent.config.actions.allow).toEqual(["scan", "update", "diagnostics"]);
    const file = join(b.data, "keep.bin");
    const bytes = randomBytes(1000);
    writeFileSync(file, bytes);
    const q = await queue(b, { kind: "quarantine", path: file });
    const r = await b.agent.cycle();
    expect(r.actions).toEqual([expect.objectContaining({ id: q, state: "failed", sent: true })]);
    const x = await action(q);
    expect(x.state).toBe("failed");
    expect(x.message).toContain("refused: this endpoint's configuration does not allow remote quarantine actions");
    expect(x.message).toContain("its operator allows: scan, update, diagnostics");
    expect(readFileSync(file).equals(bytes)).toBe(true);
    expect(existsSync(join(b.state, "quarantine"))).toBe(false);
  });
});

describe("update rules now, and actions under `run`", () => {
  let u: TestServer;
  const witnesses: Server[] = [];
  afterAll(async () => {
    for (const w of witnesses) await closeServer(w);
    await u?.close();
  });

  test("update applies the published bundle; a scan action then finds its rule's marker; both under the scheduler", async () => {
    const root = dir("vigil-act-upd-");
    const logDir = join(root, "log");
    u = await startTestServer({ dialect: "sqlite", updatesDir: logDir });
    const uadmin = await u.loginAdmin();
    const keys = makeKeys();
    for (const [k, name] of [
      [keys.w1, "w1"],
      [keys.w2, "w2"],
    ] as const) {
      const w = await startWitness(
        k.signerKey,
        join(root, name),
        "rules.example/log",
        keys.log.verifierKey,
        `${u.url}/updates/`,
      );
      witnesses.push(w.server);
    }
    const rulesDir = join(root, "rules");
    await writeRules(rulesDir, {
      "marker.yar":
        'rule Action_Test_Marker {\n  meta:\n    severity = "critical"\n  strings:\n    $a = "VIGIL-ACTION-MARKER-51c0"\n  condition:\n    $a\n}\n',
    });
    const pub = await publish({
      rulesDir,
      logDir,
      publisherKey: keys.publisher.signerKey,
      logKey: keys.log.signerKey,
      witnesses: witnesses.map((w) => `http://127.0.0.1:${(w.address() as { port: number }).port}`),
    });
    expect(pub.cosignedBy).toHaveLength(2);
    const state = dir("vigil-act-agent-");
    const data = dir("vigil-act-data-");
    const cfg = await enroll({ dir: state, server: u.url, token: await u.createToken(), hostname: "upd" });
    // update checks only when asked: the schedule's interval is far off once the first check is done
    new AgentFiles(state).saveConfig({
      ...cfg,
      updates: { ...cfg.updates, trustPolicy: policyFor(keys) as never, everyMinutes: 24 * 60 },
    });
    const st = new AgentFiles(state);
    st.saveState({ ...st.state(), lastUpdateCheck: Date.now() });
    writeFileSync(join(data, "marker.txt"), "header VIGIL-ACTION-MARKER-51c0 footer\n");
    const agent = new Agent({ dir: state });
    const q = async (body: Record<string, unknown>) => {
      const r = await u.call("POST", `/api/admin/endpoints/${cfg.endpointId}/actions`, { ...uadmin, body });
      expect(r.status, JSON.stringify(r.json)).toBe(201);
      return r.json.id as string;
    };
    const get = async (id: string) => (await u.call("GET", `/api/admin/actions/${id}`, uadmin)).json;
    const upd = await q({ kind: "update" });
    const scan = await q({ kind: "scan", path: data });
    // the long-running loop: its first heartbeat carries both, run in order
    const ac = new AbortController();
    const running = agent.run(ac.signal);
    try {
      const deadline = Date.now() + 60_000;
      const settled = async () =>
        ["done", "failed"].includes((await get(scan)).state) &&
        (await u.call("GET", `/api/admin/endpoints/${cfg.endpointId}`, uadmin)).json.rulesVersion === "rules-1";
      // the heartbeat after the applied update reports the new rules version without waiting its interval
      while (Date.now() < deadline && !(await settled())) await new Promise((r) => setTimeout(r, 200));
    } finally {
      ac.abort();
      await running;
    }
    const a = await get(upd);
    expect(a.state, a.message).toBe("done");
    expect(a.message).toMatch(/^update check: applied/);
    expect(a.details).toMatchObject({ status: "applied", checkpoint: { origin: "rules.example/log", size: 1 } });
    const b = await get(scan);
    expect(b).toMatchObject({ state: "done", details: { files: 1, detections: 1 } });
    const ep = (await u.call("GET", `/api/admin/endpoints/${cfg.endpointId}`, uadmin)).json;
    expect(ep.rulesVersion).toBe("rules-1");
  }, 120_000);
});
