/**
 * `vigil agent` and `vigil ledger` (the built bin, as processes) against a real `vigil server`
 * on 127.0.0.1 over SQLite, with a recording relay in between that plays the network: it
 * records every request as the server receives it (method, path, sha256 of the body), can be
 * switched off (the server is unreachable) and can tamper with or replay the signed policy.
 * A real update log (publisher, two witnesses) is served by the server's /updates/ mirror.
 *
 * Covered: enrolment with a real token; one cycle over a directory holding the EICAR string
 * (built here, never stored in the repository): the detection arrives without a path under the
 * default policy, still without one when the admin allows paths but the endpoint's ceiling
 * forbids them, and with the path when both allow it; a tampered and a replayed policy are
 * refused and the last good one kept; reputation lookups send only a 5-hex prefix, once per
 * TTL, and a hash the server calls malicious becomes a detection; the verified update client
 * applies a bundle and the checkpoint reaches the server; offline catch-up across a server
 * restart on the same data directory delivers queued events once; the ledger matches what the
 * server saw (count and body hashes) and `vigil ledger verify` detects an edit; a revoked key
 * gives a clear error and a non-zero exit.
 */
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { publish } from "@vigil/updates";
import { startTestServer, type TestServer } from "@vigil/test-kit/server";
import { Relay } from "./relay.js";
import { closeServer, makeKeys, policyFor, startWitness, writeRules } from "@vigil/test-kit";

const BIN = join(__dirname, "../bin/vigil.js");
const built = existsSync(join(__dirname, "../dist/commands/agent.js"));
if (!built) console.log("agent CLI tests need the build (npm test runs tsc -b first): not run");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function vigil(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err
        ? typeof (err as { code?: unknown }).code === "number"
          ? (err as { code: number }).code
          : 99
        : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

// the EICAR test string, assembled at run time so that no file of this repository contains it
const EICAR = ["X5O!P%@AP[4\\PZX54(P^)7CC)7}$", "EICAR-STANDARD-ANTIVIRUS", "-TEST-FILE!$H+H*"].join("");
const sha = (b: string | Buffer) => createHash("sha256").update(b).digest("hex");

describe.skipIf(!built)("vigil agent against a real server", () => {
  const root = mkdtempSync(join(tmpdir(), "vigil-agent-it-"));
  const serverData = join(root, "server");
  const logDir = join(root, "log");
  const state = join(root, "agent");
  const scanDir = join(root, "scan");
  const relay = new Relay();
  const keys = makeKeys();
  let server: TestServer;
  let witnesses: Server[] = [];
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
  const detections = async () =>
    (await server.call("GET", `/api/admin/detections?endpoint=${endpointId}&limit=1000`, admin)).json
      .detections as any[];
  const setPolicy = async (change: (p: any) => void) => {
    const cur = (await server.call("GET", "/api/admin/policy", admin)).json;
    change(cur);
    const r = await server.call("PUT", "/api/admin/policy", { ...admin, body: cur });
    expect(r.status, r.text).toBe(200);
    return r.json;
  };
  const startServer = async () => {
    server = await startTestServer({ dialect: "sqlite", dataDir: serverData, updatesDir: logDir, logLevel: "info" });
    relay.target = server.url;
    admin = await server.login("admin", "vigil-test-admin-pw-1");
  };

  beforeAll(async () => {
    mkdirSync(logDir, { recursive: true });
    mkdirSync(scanDir, { recursive: true });
    writeFileSync(join(scanDir, "eicar.com"), EICAR);
    writeFileSync(join(scanDir, "notes.txt"), "nothing to see here\n");
    // a format this version does not open: never counted clean
    // a format Vigil recognises but does not open (MS compress's KWAJ variant)
    writeFileSync(
      join(scanDir, "setup.ex_"),
      Buffer.concat([Buffer.from([0x4b, 0x57, 0x41, 0x4a, 0x88, 0xf0, 0x27, 0xd1]), Buffer.alloc(20)]),
    );
    await startServer();
    await relay.start();
  });

  afterAll(async () => {
    await relay.stop();
    for (const w of witnesses) await closeServer(w);
    await server?.close();
    rmSync(root, { recursive: true, force: true });
  });

  test("enrol with a real token: key stored 0600, policy key pinned", async () => {
    const token = await server.createToken({ label: "agent-it" });
    const r = await vigil(["agent", "enroll", relay.url, token, ...S, "--hostname", "it-host", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    endpointId = JSON.parse(r.stdout).endpointId;
    expect(endpointId).toBeTruthy();
    const cfgFile = join(state, "agent.json");
    expect(statSync(cfgFile).mode & 0o777).toBe(0o600);
    const cfg = JSON.parse(readFileSync(cfgFile, "utf8"));
    expect(cfg.key).toContain(endpointId);
    expect(cfg.policyKey.length).toBeGreaterThan(40);
    expect(cfg.ceiling).toMatchObject({
      path: false,
      hostname: true,
      scanSummaries: true,
      samples: { enabled: false },
    });
    // the token went out only as a body hash in the ledger
    expect(readFileSync(join(state, "ledger.jsonl"), "utf8")).not.toContain(token);
    // the same token does not enrol twice
    const again = await vigil(["agent", "enroll", server.url, token, "--state", join(root, "other")]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/enrolment refused/);
    const cfgRun = await vigil(["agent", "config", ...S, "--scan", scanDir, "--every", "1h", "--json"]);
    expect(cfgRun.code, cfgRun.stderr).toBe(0);
    expect(JSON.parse(cfgRun.stdout)).toMatchObject({ key: "(hidden)", scan: { paths: [scanDir], everyMinutes: 60 } });
  });

  test("one cycle: the EICAR detection arrives without a path under the default policy", async () => {
    const r = await once();
    expect(r.code, r.stderr).toBe(0);
    expect(r.report).toMatchObject({
      contacted: true,
      scan: { files: 3, detections: 1, incomplete: 1 },
      flush: { detections: 1, scans: 1 },
      queued: 0,
    });
    const d = await detections();
    expect(d).toHaveLength(1);
    expect(d[0]).toMatchObject({
      rule: "EICAR_Test_File",
      name: "Win.Test.EICAR_HDB-1", // the name `vigil scan` and the agent log print
      severity: "high",
      sha256: sha(EICAR),
      size: EICAR.length,
      fileType: "text",
      action: "reported",
      path: null,
    });
    expect(d[0].bundleVersion).toMatch(/^starter-/);
    // the file not fully scanned is named in the agent's log and counted in its report
    expect(r.stderr + r.stdout).toMatch(
      /setup\.ex_: not fully scanned \(unsupported\): KWAJ \(MS compress\) file is not opened/,
    );
    const ep = (await server.call("GET", `/api/admin/endpoints/${endpointId}`, admin)).json;
    expect(ep.hostname).toBe("it-host");
    expect(ep.ledger.entries).toBeGreaterThan(0);
    expect(ep.rulesVersion).toBe(d[0].bundleVersion);
    // nothing that left the endpoint named the file (the server would drop a path anyway under this policy)
    expect(relay.seen.length).toBeGreaterThan(3);
    for (const s of relay.seen) expect(s.body).not.toContain("eicar.com");
    // a second cycle within the hour does not scan again
    const r2 = await once();
    expect(r2.report.scan).toBeUndefined();
    expect(await detections()).toHaveLength(1);
  });

  test("the admin allows paths but the endpoint's ceiling forbids them: still no path", async () => {
    const p = await setPolicy((x) => {
      x.send.path = true;
    });
    const r = await once("--scan");
    expect(r.code, r.stderr).toBe(0);
    expect(r.report.policyVersion).toBe(p.version);
    const d = await detections();
    expect(d).toHaveLength(2);
    expect(d.every((x) => x.path === null)).toBe(true);
    const st = JSON.parse((await vigil(["agent", "status", ...S, "--json"])).stdout);
    expect(st.serverPolicyVersion).toBe(p.version);
    expect(st.effectivePolicy.send.path).toBe(false);
  });

  test("both allow paths: the path is sent", async () => {
    const c = await vigil(["agent", "config", ...S, "--allow", "path"]);
    expect(c.code, c.stderr).toBe(0);
    const r = await once("--scan");
    expect(r.code, r.stderr).toBe(0);
    const d = await detections();
    expect(d).toHaveLength(3);
    expect(d.filter((x) => x.path !== null).map((x) => x.path)).toEqual([join(scanDir, "eicar.com")]);
  });

  test("a tampered policy and a replayed older policy are refused; the last good one stays in force", async () => {
    const goodVersion = JSON.parse((await vigil(["agent", "status", ...S, "--json"])).stdout).serverPolicyVersion;
    const oldSigned = (
      await server.call("GET", "/api/v1/policy", {
        key: JSON.parse(readFileSync(join(state, "agent.json"), "utf8")).key,
      })
    ).json;
    // the server moves on to a narrower policy (no hostname), the relay changes it in transit
    await setPolicy((x) => {
      x.send.hostname = false;
    });
    relay.rewrite = (path, body) =>
      path === "/api/v1/policy"
        ? Buffer.from(body.toString().replace('\\"hostname\\":false', '\\"hostname\\":true'))
        : body;
    try {
      const r = await once();
      expect(r.code, r.stderr).toBe(0);
      const st = JSON.parse((await vigil(["agent", "status", ...S, "--json"])).stdout);
      expect(st.serverPolicyVersion).toBe(goodVersion);
      expect(st.policyRejected).toMatch(/signature does not verify/);
    } finally {
      relay.rewrite = undefined;
    }
    // now the genuine new policy is accepted
    await once();
    const st2 = JSON.parse((await vigil(["agent", "status", ...S, "--json"])).stdout);
    expect(st2.serverPolicyVersion).toBe(goodVersion + 1);
    expect(st2.effectivePolicy.send.hostname).toBe(false);
    expect(st2.policyRejected).toBeNull();
    // a replay of the older (validly signed) policy is refused
    await setPolicy((x) => {
      x.send.hostname = true;
    });
    relay.rewrite = (path, body) => (path === "/api/v1/policy" ? Buffer.from(JSON.stringify(oldSigned)) : body);
    try {
      await once();
      const st3 = JSON.parse((await vigil(["agent", "status", ...S, "--json"])).stdout);
      expect(st3.serverPolicyVersion).toBe(goodVersion + 1);
      expect(st3.policyRejected).toMatch(/older than version/);
    } finally {
      relay.rewrite = undefined;
    }
    await once();
    expect(JSON.parse((await vigil(["agent", "status", ...S, "--json"])).stdout).effectivePolicy.send.hostname).toBe(
      true,
    );
  });

  test("reputation: only a 5-hex prefix leaves, once per TTL; a hash the server calls malicious is a detection", async () => {
    const script = `#!/bin/sh\necho "agent reputation test ${Date.now()}"\n`;
    const h = sha(script);
    writeFileSync(join(scanDir, "tool.sh"), script, { mode: 0o755 });
    const add = await server.call("POST", "/api/admin/reputation", {
      ...admin,
      body: { entries: [{ sha256: h, verdict: "malicious", name: "Test.Shell.Bad" }] },
    });
    expect(add.status, add.text).toBe(200);
    const before = relay.seen.length;
    const r = await once("--scan");
    expect(r.code, r.stderr).toBe(0);
    // the detected EICAR file is asked about on every scan (the fleet may have allow-listed it);
    // a clean file's prefix once per TTL
    const eicarAsk = `/api/v1/reputation/${sha(EICAR).slice(0, 5)}`;
    const asked = relay.seen.slice(before).filter((s) => s.path.startsWith("/api/v1/reputation/"));
    expect(asked.map((s) => s.path).sort()).toEqual([`/api/v1/reputation/${h.slice(0, 5)}`, eicarAsk].sort());
    const d = (await detections()).filter((x) => x.rule === "reputation:Test.Shell.Bad");
    expect(d).toHaveLength(1);
    expect(d[0]).toMatchObject({ sha256: h, fileType: "script", severity: "high" });
    // the full hash went out only inside the detection report, never in a lookup
    for (const s of relay.seen) if (s.path.startsWith("/api/v1/reputation/")) expect(s.path).not.toContain(h);
    // a second scan answers from the cache: no new lookup, same verdict
    const mark = relay.seen.length;
    await once("--scan");
    expect(
      relay.seen
        .slice(mark)
        .filter((s) => s.path.startsWith("/api/v1/reputation/"))
        .map((s) => s.path),
    ).toEqual([eicarAsk]);
    expect((await detections()).filter((x) => x.rule === "reputation:Test.Shell.Bad")).toHaveLength(2);
  });

  test("samples: uploaded only when both the policy and the ceiling allow the type and size", async () => {
    const script = readFileSync(join(scanDir, "tool.sh"));
    const h = sha(script);
    const stored = join(serverData, "samples", h.slice(0, 2), h);
    await setPolicy((x) => {
      x.samples = { enabled: true, maxBytes: 1 << 20, fileTypes: ["pe", "elf", "script"] };
    });
    // the ceiling still says no: nothing uploaded
    const r1 = await once("--scan");
    expect(r1.code, r1.stderr).toBe(0);
    expect(r1.report.flush.samples).toBe(0);
    expect(existsSync(stored)).toBe(false);
    // the ceiling allows samples but not scripts: still nothing
    expect((await vigil(["agent", "config", ...S, "--allow", "samples", "--sample-types", "pe,elf"])).code).toBe(0);
    expect((await once("--scan")).report.flush.samples).toBe(0);
    expect(existsSync(stored)).toBe(false);
    // both allow scripts: the detected script goes up, byte for byte
    expect((await vigil(["agent", "config", ...S, "--sample-types", "script"])).code).toBe(0);
    const r3 = await once("--scan");
    expect(r3.report.flush.samples).toBe(1);
    expect(readFileSync(stored)).toEqual(script);
    const upload = relay.seen.filter((x) => x.path.startsWith("/api/v1/samples?"));
    expect(upload).toHaveLength(1);
    expect(upload[0]!.sha256).toBe(h);
    expect((await vigil(["agent", "config", ...S, "--deny", "samples"])).code).toBe(0);
    await setPolicy((x) => {
      x.samples.enabled = false;
    });
  });

  test("update checks go through the verified update client; the bundle's rules are used and the checkpoint reaches the server", async () => {
    const w1 = await startWitness(
      keys.w1.signerKey,
      join(root, "w1"),
      "rules.example/log",
      keys.log.verifierKey,
      `${server.url}/updates/`,
    );
    const w2 = await startWitness(
      keys.w2.signerKey,
      join(root, "w2"),
      "rules.example/log",
      keys.log.verifierKey,
      `${server.url}/updates/`,
    );
    witnesses = [w1.server, w2.server];
    const rulesDir = join(root, "rules");
    await writeRules(rulesDir, {
      "marker.yar":
        'rule Agent_Test_Marker {\n  meta:\n    severity = "critical"\n  strings:\n    $a = "VIGIL-AGENT-IT-MARKER-7f3a"\n  condition:\n    $a\n}\n',
    });
    const pub = await publish({
      rulesDir,
      logDir,
      publisherKey: keys.publisher.signerKey,
      logKey: keys.log.signerKey,
      witnesses: [w1.url, w2.url],
    });
    expect(pub.cosignedBy).toHaveLength(2);
    const trust = join(root, "trust.json");
    writeFileSync(trust, JSON.stringify(policyFor(keys)));
    const c = await vigil(["agent", "config", ...S, "--trust-policy", trust]);
    expect(c.code, c.stderr).toBe(0);
    writeFileSync(join(scanDir, "marker.txt"), "header VIGIL-AGENT-IT-MARKER-7f3a footer\n");
    const mark = relay.seen.length;
    const r = await once();
    expect(r.code, r.stderr).toBe(0);
    expect(r.report.update).toMatchObject({ status: "applied", checkpoint: { origin: "rules.example/log", size: 1 } });
    // the update client's requests are in the ledger like all others: they went through the relay
    expect(relay.seen.slice(mark).some((s) => s.path === "/updates/checkpoint")).toBe(true);
    expect(relay.seen.slice(mark).some((s) => s.path === "/updates/bundles/rules-1.tar")).toBe(true);
    const ep = (await server.call("GET", `/api/admin/endpoints/${endpointId}`, admin)).json;
    expect(ep.checkpoint).toMatchObject({ origin: "rules.example/log", size: 1 });
    expect(ep.rulesVersion).toBe("rules-1");
    // the dashboard counts it up to date: newest rules, a checkpoint verified now, the log's size
    const dash = (await server.call("GET", "/console/", admin)).text.replace(/<[^>]+>/g, " ").replace(/\s+/g, " ");
    expect(dash).toContain("1 of 1 active endpoint up to date");
    const r2 = await once("--scan");
    expect(r2.code, r2.stderr).toBe(0);
    const m = (await detections()).filter((x) => x.rule === "Agent_Test_Marker");
    expect(m).toHaveLength(1);
    expect(m[0]).toMatchObject({ severity: "critical", bundleVersion: "rules-1", path: join(scanDir, "marker.txt") });
    rmSync(join(scanDir, "marker.txt"));
  });

  test("offline: events queue on disk; after a server restart on the same data directory the next cycle delivers them once", async () => {
    const before = (await detections()).length;
    await relay.stop();
    const r = await once("--scan");
    expect(r.code, r.stderr).toBe(0);
    expect(r.report.contacted).toBe(false);
    expect(r.report.queued).toBeGreaterThanOrEqual(2); // the EICAR and reputation detections, plus the summary
    const queuedIds = readdirSync(join(state, "spool"))
      .filter((n) => n.includes("-detection-"))
      .map((n) => JSON.parse(readFileSync(join(state, "spool", n), "utf8")).id)
      .sort();
    expect(queuedIds.length).toBe(2);
    const st = JSON.parse((await vigil(["agent", "status", ...S, "--json"])).stdout);
    expect(st.queue.detection).toBe(2);
    expect(st.lastError).toMatch(/cannot reach/);
    // a second offline cycle keeps them (and adds nothing: no scan is due)
    expect((await once()).report.queued).toBe(r.report.queued);

    await server.close();
    await startServer();
    await relay.start();
    const r2 = await once();
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.report).toMatchObject({ contacted: true, queued: 0, flush: { detections: 2 } });
    const after = await detections();
    expect(after.length).toBe(before + 2);
    expect(
      after
        .map((d) => d.clientId)
        .filter((id) => queuedIds.includes(id))
        .sort(),
    ).toEqual(queuedIds);
    // and once only
    const r3 = await once();
    expect(r3.report.flush.detections).toBe(0);
    expect((await detections()).length).toBe(before + 2);
  });

  test("the ledger matches what the server saw (count and body hashes) and verifies; an edit is detected", async () => {
    const led = await vigil(["ledger", ...S, "--json"]);
    expect(led.code, led.stderr).toBe(0);
    const recs = JSON.parse(led.stdout) as {
      method: string;
      url: string;
      bodySha256: string;
      bytes: number;
      status: number | null;
    }[];
    const answered = recs.filter((x) => x.status !== null);
    expect(answered.length).toBe(relay.seen.length);
    for (let i = 0; i < answered.length; i++) {
      const a = answered[i]!,
        s = relay.seen[i]!;
      expect(`${a.method} ${new URL(a.url).pathname}${new URL(a.url).search}`).toBe(`${s.method} ${s.path}`);
      expect(a.bodySha256).toBe(s.sha256);
      expect(a.bytes).toBe(s.bytes);
      expect(a.status).toBe(s.status);
    }
    // requests made while the relay was down are in the ledger with no status
    expect(recs.some((x) => x.status === null)).toBe(true);
    expect(JSON.parse((await vigil(["ledger", ...S, "--json", "--since", "1h"])).stdout)).toHaveLength(recs.length);
    expect((await vigil(["ledger", ...S, "--since", "2099-01-01"])).stdout).toBe("no requests recorded\n");
    const text = await vigil(["ledger", ...S, "--limit", "3"]);
    expect(text.stdout.split("\n").filter(Boolean)).toHaveLength(4);
    const v = await vigil(["ledger", "verify", ...S]);
    expect(v.code, v.stdout).toBe(0);
    const head = JSON.parse(readFileSync(join(state, "ledger.head"), "utf8")).head;
    expect(v.stdout).toContain(head);
    // the server holds the head the agent reported in its last heartbeat: a line of this chain
    const ep = (await server.call("GET", `/api/admin/endpoints/${endpointId}`, admin)).json;
    const lines = readFileSync(join(state, "ledger.jsonl"), "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    expect(lines[ep.ledger.entries - 1].hash).toBe(ep.ledger.head);
    // edit one line: verify names it and fails; the agent refuses to send on top of it
    const copy = join(root, "agent-edited");
    rmSync(copy, { recursive: true, force: true });
    mkdirSync(copy);
    for (const f of ["agent.json", "ledger.head", "policy.json"])
      writeFileSync(join(copy, f), readFileSync(join(state, f)));
    const edited = lines.map((l) => JSON.stringify(l));
    edited[4] = edited[4]!.replace(/"bytes":\d+/, '"bytes":1');
    writeFileSync(join(copy, "ledger.jsonl"), edited.join("\n") + "\n");
    const bad = await vigil(["ledger", "verify", "--state", copy]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/BROKEN at line 5/);
    const refused = await vigil(["agent", "run", "--once", "-q", "--state", copy]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^vigil agent: refused: .*line 5.*\(LEDGER_BROKEN\)$/m);
  });

  test("vigil agent run: a file written under a watched path is reported within seconds; SIGTERM stops it cleanly", async () => {
    const watchDir = join(root, "watched");
    mkdirSync(watchDir, { recursive: true });
    expect((await vigil(["agent", "config", ...S, "--watch", watchDir])).code).toBe(0);
    const before = (await detections()).length;
    const child = spawn(process.execPath, [BIN, "agent", "run", ...S], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      const deadline = Date.now() + 30_000;
      while (!stderr.includes("watching") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(stderr).toContain("watching");
      // a second agent on the same state directory is refused while this one runs
      const busy = await vigil(["agent", "run", "--once", ...S]);
      expect(busy.code).toBe(2);
      expect(busy.stderr).toMatch(/AGENT_BUSY/);
      writeFileSync(join(watchDir, "dropped.com"), EICAR);
      let d: any[] = [];
      while (Date.now() < deadline + 15_000) {
        d = await detections();
        if (d.length > before) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(d.length).toBe(before + 1);
      expect(d[0]).toMatchObject({ rule: "EICAR_Test_File", path: join(watchDir, "dropped.com"), sha256: sha(EICAR) });
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
    expect(existsSync(join(state, "run.lock"))).toBe(false);
    expect((await vigil(["agent", "config", ...S, "--clear-watch"])).code).toBe(0);
  });

  test("with action quarantine the detected file is moved into the vault and reported as quarantined", async () => {
    expect((await vigil(["agent", "config", ...S, "--action", "quarantine"])).code).toBe(0);
    writeFileSync(join(scanDir, "q.com"), EICAR);
    const r = await once("--scan");
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(scanDir, "q.com"))).toBe(false);
    expect(existsSync(join(scanDir, "eicar.com"))).toBe(false);
    // the two EICAR files and the script the server's reputation calls malicious
    expect(readdirSync(join(state, "quarantine")).filter((n) => n.endsWith(".json"))).toHaveLength(3);
    expect(existsSync(join(scanDir, "tool.sh"))).toBe(false);
    expect(existsSync(join(scanDir, "notes.txt"))).toBe(true);
    const q = (await detections()).filter((d) => d.action === "quarantined");
    expect(q.map((d) => d.path).sort()).toEqual([
      join(scanDir, "eicar.com"),
      join(scanDir, "q.com"),
      join(scanDir, "tool.sh"),
    ]);
    const status = await vigil(["agent", "status", ...S]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/sends path: +yes/);
    expect(status.stdout).toMatch(/queued: +0 /);
  });

  test("a revoked key: clear error, non-zero exit", async () => {
    const rv = await server.call("POST", `/api/admin/endpoints/${endpointId}/revoke`, admin);
    expect(rv.status, rv.text).toBe(200);
    const r = await vigil(["agent", "run", "--once", ...S]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("this endpoint's key was revoked or is unknown; enrol again");
  });
});
