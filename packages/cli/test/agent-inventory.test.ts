/**
 * The agent's inventory (`vigil agent run --once --inventory`, the built bin as a process)
 * against a real `vigil server` on 127.0.0.1 over SQLite, through a relay that records what
 * reaches the server and can play an unreachable server. The endpoint's "machine" is a
 * generated root: a dpkg status file and .list files, one package (kesl, maintained by AO
 * Kaspersky Lab) forbidden by the shipped US Commerce 2024 Kaspersky pack.
 *
 * Covered: the finding (pack, vendor, status, date in force, evidence) and the items reach the
 * admin API and match the ledger's body hash; the default policy keeps install paths home and a
 * policy plus ceiling that both allow paths send them; the 24-hour schedule (not collected again
 * within it, collected once it is due); a new report replaces the old set; offline, only the
 * newest report stays queued and is delivered once when the server is back; with the inventory
 * off in the server's policy, or forbidden by the endpoint's ceiling, nothing is collected or
 * sent and the ledger holds no inventory request.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestServer, type TestServer } from "@vigil/test-kit/server";
import { dpkgStanza } from "@vigil/test-kit";
import { Relay, type Seen } from "./relay.js";

const BIN = join(__dirname, "../bin/vigil.js");
const built = existsSync(join(__dirname, "../dist/commands/agent.js"));
if (!built) console.log("agent inventory tests need the build (npm test runs tsc -b first): not run");

/** The relay, and the inventory reports it forwarded. */
class InventoryRelay extends Relay {
  inventoryPosts(): Seen[] {
    return this.seen.filter((s) => s.method === "POST" && s.path === "/api/v1/inventory");
  }
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function vigil(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 120_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err
        ? typeof (err as { code?: unknown }).code === "number"
          ? (err as { code: number }).code
          : 99
        : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const MAINT = "Debian Maintainers <debian@example.org>";

/** Writes the fake machine's dpkg database: status stanzas, a .list per package (its time is installedAt). */
function writeDpkg(
  root: string,
  pkgs: Array<{ name: string; version: string; maintainer?: string; files: string[]; installed: string }>,
): void {
  const info = join(root, "var/lib/dpkg/info");
  mkdirSync(info, { recursive: true });
  writeFileSync(
    join(root, "var/lib/dpkg/status"),
    pkgs.map((p) => dpkgStanza({ name: p.name, version: p.version, maintainer: p.maintainer ?? MAINT })).join("\n"),
  );
  for (const p of pkgs) {
    const list = join(info, `${p.name}.list`);
    writeFileSync(list, ["/.", ...p.files].join("\n") + "\n");
    const t = new Date(p.installed);
    utimesSync(list, t, t);
  }
}

const BASH = {
  name: "bash",
  version: "5.2.15-2+b2",
  files: ["/bin", "/bin/bash", "/usr/share/doc/bash/copyright"],
  installed: "2024-01-10T08:00:00Z",
};
const KESL = {
  name: "kesl",
  version: "12.1.0.1297",
  maintainer: "AO Kaspersky Lab <support@kaspersky.com>",
  files: ["/opt/kaspersky/kesl/bin/kesl", "/opt/kaspersky/kesl/lib/libkesl.so"],
  installed: "2024-08-15T12:00:00Z",
};

describe.skipIf(!built)("vigil agent inventory against a real server", () => {
  const dir = mkdtempSync(join(tmpdir(), "vigil-agent-inv-"));
  const state = join(dir, "agent");
  const machine = join(dir, "machine");
  const relay = new InventoryRelay();
  let server: TestServer;
  let admin: { cookie: string; csrf: string };
  let endpointId = "";
  const S = ["--state", state];

  const once = async (...extra: string[]) => {
    const r = await vigil(["agent", "run", "--once", "--json", "-q", ...S, ...extra]);
    let report: any;
    try {
      report = JSON.parse(r.stdout);
    } catch {
      report = undefined;
    }
    return { ...r, report };
  };
  const get = async (path: string) => {
    const r = await server.call("GET", path, admin);
    expect(r.status, r.text).toBe(200);
    return r.json;
  };
  const setPolicy = async (change: (p: any) => void) => {
    const cur = (await server.call("GET", "/api/admin/policy", admin)).json;
    change(cur);
    const r = await server.call("PUT", "/api/admin/policy", { ...admin, body: cur });
    expect(r.status, r.text).toBe(200);
  };
  const ledgerInventoryLines = () =>
    readFileSync(join(state, "ledger.jsonl"), "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .filter((l) => typeof l.url === "string" && l.url.endsWith("/api/v1/inventory"));
  const items = async () => (await get(`/api/admin/inventory?endpoint=${endpointId}`)).items as any[];
  const findings = async () => (await get(`/api/admin/inventory/findings?endpoint=${endpointId}`)).findings as any[];

  beforeAll(async () => {
    writeDpkg(machine, [BASH, KESL]);
    server = await startTestServer({ dialect: "sqlite", dataDir: join(dir, "server"), logLevel: "info" });
    relay.target = server.url;
    await relay.start();
    admin = await server.login("admin", "vigil-test-admin-pw-1");
    const token = await server.createToken({ label: "inventory-it" });
    const r = await vigil(["agent", "enroll", relay.url, token, ...S, "--hostname", "inv-host", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    endpointId = JSON.parse(r.stdout).endpointId;
    const c = await vigil(["agent", "config", ...S, "--inventory-root", machine, "--json"]);
    expect(c.code, c.stderr).toBe(0);
    expect(JSON.parse(c.stdout).inventory).toEqual({
      everyHours: 24,
      root: machine,
      builtinPacks: true,
      packs: [],
      trustKeys: [],
      scan: [],
    });
  });

  afterAll(async () => {
    await relay.stop();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("--inventory: the forbidden package's finding and the items reach the server; no paths under the default policy", async () => {
    const r = await once("--inventory");
    expect(r.code, r.stderr).toBe(0);
    expect(r.report).toMatchObject({
      contacted: true,
      inventory: { collected: true, items: 2, findings: 1, forbidden: 1 },
      flush: { inventory: 1 },
      inventoryQueued: false,
    });
    const f = await findings();
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({
      hostname: "inv-host",
      status: "forbidden",
      packId: "us-commerce-2024-kaspersky",
      packVersion: 1,
      vendor: "Kaspersky",
      subject: "kesl",
      inForceSince: "2024-07-20",
    });
    expect(f[0].evidence).toEqual(
      expect.arrayContaining([
        'package "kesl" matches "kesl"',
        'publisher "AO Kaspersky Lab" matches "AO Kaspersky Lab"',
      ]),
    );
    const it = await items();
    expect(it.map((i) => [i.name, i.version, i.source, i.installedAt, i.installPath])).toEqual([
      ["bash", BASH.version, "dpkg", "2024-01-10T08:00:00.000Z", null],
      ["kesl", KESL.version, "dpkg", "2024-08-15T12:00:00.000Z", null],
    ]);
    // the fleet search finds it by name and by vendor
    expect((await get("/api/admin/inventory?q=KESL")).items.map((i: any) => i.hostname)).toEqual(["inv-host"]);
    expect((await get("/api/admin/inventory?vendor=kaspersky")).total).toBe(1);
    // what left the endpoint: no path, and the ledger names the request with the body's hash
    const posts = relay.inventoryPosts();
    expect(posts).toHaveLength(1);
    expect(posts[0]!.body).not.toContain("/opt/kaspersky");
    expect(JSON.parse(posts[0]!.body).items.every((i: any) => i.installPath === undefined)).toBe(true);
    const lines = ledgerInventoryLines();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ method: "POST", bodySha256: posts[0]!.sha256 });
    const st = JSON.parse((await vigil(["agent", "status", ...S, "--json"])).stdout);
    expect(st.effectivePolicy.send.inventory).toBe(true);
    expect(st.inventory).toMatchObject({ everyHours: 24, collector: true, queued: false });
    expect(st.inventory.nextAt - st.inventory.lastAt).toBe(24 * 3_600_000);
  });

  test("the schedule: no second collection within 24 h; collected again once due; the new report replaces the old set", async () => {
    const before = relay.inventoryPosts().length;
    const r = await once();
    expect(r.code, r.stderr).toBe(0);
    expect(r.report.inventory).toBeUndefined();
    expect(relay.inventoryPosts()).toHaveLength(before);
    const firstSeenBash = (await items()).find((i) => i.name === "bash").firstSeen;
    // kesl removed, bash upgraded, a new package; and the last collection moved 25 h back
    writeDpkg(machine, [
      { ...BASH, version: "5.2.21-2" },
      { name: "curl", version: "8.5.0-2", files: ["/usr/bin/curl"], installed: "2024-11-02T09:30:00Z" },
    ]);
    const stFile = join(state, "state.json");
    const st = JSON.parse(readFileSync(stFile, "utf8"));
    st.lastInventoryAt -= 25 * 3_600_000;
    writeFileSync(stFile, JSON.stringify(st));
    const r2 = await once();
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.report).toMatchObject({ inventory: { collected: true, items: 2, findings: 0 }, flush: { inventory: 1 } });
    expect(relay.inventoryPosts()).toHaveLength(before + 1);
    expect(await findings()).toEqual([]);
    const it = await items();
    expect(it.map((i) => [i.name, i.version])).toEqual([
      ["bash", "5.2.21-2"],
      ["curl", "8.5.0-2"],
    ]);
    expect(it.find((i) => i.name === "bash").firstSeen).toBe(firstSeenBash);
  });

  test("offline: only the newest report stays queued; it is delivered once when the server answers again", async () => {
    await relay.stop();
    const before = relay.inventoryPosts().length;
    try {
      writeDpkg(machine, [BASH, { name: "offline-one", version: "1", files: [], installed: "2025-01-01T00:00:00Z" }]);
      const r1 = await once("--inventory");
      expect(r1.code, r1.stderr).toBe(0);
      expect(r1.report).toMatchObject({
        contacted: false,
        inventory: { collected: true },
        flush: { inventory: 0 },
        inventoryQueued: true,
      });
      writeDpkg(machine, [
        BASH,
        KESL,
        { name: "offline-two", version: "2", files: [], installed: "2025-01-02T00:00:00Z" },
      ]);
      const r2 = await once("--inventory");
      expect(r2.report).toMatchObject({
        contacted: false,
        inventory: { collected: true, items: 3, forbidden: 1 },
        inventoryQueued: true,
      });
      const queued = JSON.parse(readFileSync(join(state, "inventory.json"), "utf8"));
      expect(queued.items.map((i: any) => i.name).sort()).toEqual(["bash", "kesl", "offline-two"]);
      // each attempt is in the ledger even though nothing arrived
      expect(ledgerInventoryLines().length).toBeGreaterThanOrEqual(before + 2);
    } finally {
      await relay.start();
    }
    const r3 = await once();
    expect(r3.code, r3.stderr).toBe(0);
    expect(r3.report).toMatchObject({ contacted: true, flush: { inventory: 1 }, inventoryQueued: false });
    expect(r3.report.inventory).toBeUndefined();
    expect(relay.inventoryPosts()).toHaveLength(before + 1);
    expect((await items()).map((i) => i.name)).toEqual(["bash", "kesl", "offline-two"]);
    expect((await findings()).map((f) => f.subject)).toEqual(["kesl"]);
    expect(existsSync(join(state, "inventory.json"))).toBe(false);
    // delivered once: another cycle sends nothing
    await once();
    expect(relay.inventoryPosts()).toHaveLength(before + 1);
  });

  test("paths leave only when both the policy and the endpoint's ceiling allow them", async () => {
    await setPolicy((p) => {
      p.send.path = true;
    });
    let r = await once("--inventory");
    expect(r.code, r.stderr).toBe(0);
    expect((await items()).every((i) => i.installPath === null)).toBe(true);
    expect(relay.inventoryPosts().at(-1)!.body).not.toContain("/opt/kaspersky");
    expect((await vigil(["agent", "config", ...S, "--allow", "path"])).code).toBe(0);
    r = await once("--inventory");
    expect(r.code, r.stderr).toBe(0);
    expect((await items()).find((i) => i.name === "kesl").installPath).toBe("/opt/kaspersky");
    expect((await vigil(["agent", "config", ...S, "--deny", "path"])).code).toBe(0);
    await setPolicy((p) => {
      p.send.path = false;
    });
  });

  test("inventory off in the server's policy, or denied by the ceiling: nothing collected, nothing sent, no ledger line", async () => {
    const ledgerBefore = ledgerInventoryLines().length;
    const seenBefore = relay.inventoryPosts().length;
    await setPolicy((p) => {
      p.send.inventory = false;
    });
    // the first cycle learns the new policy from the heartbeat, before it would collect
    const r = await once("--inventory");
    expect(r.code, r.stderr).toBe(0);
    expect(r.report.inventory).toMatchObject({ collected: false, skipped: expect.stringMatching(/does not allow/) });
    expect(r.report.errors.join("\n")).toMatch(/inventory: not collected/);
    expect(r.report.inventoryQueued).toBe(false);
    let st = JSON.parse((await vigil(["agent", "status", ...S, "--json"])).stdout);
    expect(st.effectivePolicy.send.inventory).toBe(false);
    expect(st.inventory.nextAt).toBeNull();
    // the server's policy allows it again, the endpoint's owner does not
    await setPolicy((p) => {
      p.send.inventory = true;
    });
    expect((await vigil(["agent", "config", ...S, "--deny", "inventory"])).code).toBe(0);
    const r2 = await once("--inventory");
    expect(r2.report.inventory).toMatchObject({ collected: false });
    st = JSON.parse((await vigil(["agent", "status", ...S, "--json"])).stdout);
    expect(st.effectivePolicy.send.inventory).toBe(false);
    expect(st.ceiling.inventory).toBe(false);
    const text = await vigil(["agent", "status", ...S]);
    expect(text.stdout).toMatch(/inventory: +no \(local ceiling: never\)/);
    expect(ledgerInventoryLines()).toHaveLength(ledgerBefore);
    expect(relay.inventoryPosts()).toHaveLength(seenBefore);
    // the ledger still verifies
    expect((await vigil(["ledger", "verify", ...S])).code).toBe(0);
  });

  test("a broken extra pack is a clear error in the cycle, not a crash; nothing is sent", async () => {
    expect((await vigil(["agent", "config", ...S, "--allow", "inventory"])).code).toBe(0);
    const bad = join(dir, "bad-pack.json");
    writeFileSync(bad, JSON.stringify({ format: "vigil-policy-pack", formatVersion: 1, id: "x" }));
    expect((await vigil(["agent", "config", ...S, "--inventory-pack", bad])).code).toBe(0);
    const seen = relay.inventoryPosts().length;
    const r = await once("--inventory");
    expect(r.code, r.stderr).toBe(0);
    expect(r.report.errors.join("\n")).toMatch(/inventory: .*bad-pack\.json/);
    expect(relay.inventoryPosts()).toHaveLength(seen);
    expect((await vigil(["agent", "config", ...S, "--clear-inventory-packs"])).code).toBe(0);
    const bad2 = await vigil(["agent", "config", ...S, "--inventory-hours", "soon"]);
    expect(bad2.code).toBe(2);
    expect(bad2.stderr).toMatch(/^vigil agent: --inventory-hours .*\(BAD_OPTION\)\n$/);
  });
});
