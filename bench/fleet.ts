/**
 * bench/fleet.ts: alerts at fleet scale. 10,000 simulated endpoints enrol through the real API of a
 * `vigil server` process on loopback; 1% of them are infected (10 findings each: 5 files every
 * infected endpoint has, 5 of its own) and report the same findings again and again (a rescan
 * storm), in the agent outbox's batches of 200 detections, through POST /api/v1/detections (the
 * path that stores detections and groups them into alerts). Then analysts' work is played (part
 * of the alerts acknowledged, resolved, marked false positive) and the pages an administrator
 * opens are timed over HTTP: the console's alert list (plain, filtered, a later page, one
 * alert with its detections) and the admin API's alert list with filters.
 *
 * Reported per database: enrolment and detection insert rates, detection rows against alert
 * rows (and the distinct findings sent), p50/p99 per page, and the load average.
 *
 * Run: `npm run bench -- fleet` (100,000 detection rows) or `npx tsc -b && npx tsx bench/fleet.ts
 * [--full] [--rows N] [--endpoints N] [--own N] [--requests N] [--db sqlite|postgres|both]`;
 * `--full` is 1,000,000 detection rows; `--own 1000` gives each infected endpoint 1,000 files of its
 * own (a table of ~100,000 alerts). PostgreSQL uses VIGIL_BENCH_POSTGRES_URL (default: the test server
 * postgres://vigil:vigil@127.0.0.1:5432/vigil_test; a fresh database is created and dropped).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { createServer } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1]! : dflt;
};
const full = argv.includes("--full");
const ENDPOINTS = Number(opt("--endpoints", "10000"));
const ROWS = Number(opt("--rows", full ? "1000000" : "100000"));
const REQUESTS = Number(opt("--requests", "200")); // timed requests per page
const DBS = opt("--db", "both");
const INFECTED = Math.max(1, Math.round(ENDPOINTS / 100));
const SHARED = 5; // files every infected endpoint has (one outbreak)
const OWN = Number(opt("--own", "5")); // files only this endpoint has (--own 1000: a large alerts table)
const FINDINGS = SHARED + OWN;
const BATCH = 200; // the agent outbox's batch
const INFLIGHT = 8;
const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "packages/cli/bin/vigil.js");
const pgBase = process.env.VIGIL_BENCH_POSTGRES_URL ?? "postgres://vigil:vigil@127.0.0.1:5432/vigil_test";
const OS = { platform: "linux", release: "6.1.0", arch: "x64" };
const SEVERITIES = ["low", "medium", "high", "critical"] as const;

const httpAgent = new Agent({ keepAlive: true, maxSockets: 64 });

interface Reply {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
  ms: number;
}
/** One request; sent again once when a pooled keep-alive socket the server had closed is reset. */
async function call(
  base: string,
  method: string,
  path: string,
  o: { body?: unknown; key?: string; cookie?: string; csrf?: string } = {},
): Promise<Reply> {
  try {
    return await call1(base, method, path, o);
  } catch (e) {
    if ((e as { code?: string }).code !== "ECONNRESET") throw e;
    return call1(base, method, path, o);
  }
}

function call1(
  base: string,
  method: string,
  path: string,
  o: { body?: unknown; key?: string; cookie?: string; csrf?: string } = {},
): Promise<Reply> {
  const data = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
  const u = new URL(path, base);
  const headers: Record<string, string | number> = {};
  if (data) {
    headers["content-type"] = "application/json";
    headers["content-length"] = data.length;
  }
  if (o.key) headers.authorization = `Bearer ${o.key}`;
  if (o.cookie) headers.cookie = o.cookie;
  if (o.csrf) headers["x-csrf-token"] = o.csrf;
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      { agent: httpAgent, host: u.hostname, port: u.port, method, path: u.pathname + u.search, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString(),
            headers: res.headers,
            ms: performance.now() - t0,
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(data);
  });
}

function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

function vigil(args: string[]): string {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`vigil ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

async function startServerProc(
  dataDir: string,
  database: string | undefined,
): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const args = [bin, "server", "--data", dataDir, "--host", "127.0.0.1", "--port", String(port)];
  args.push("--log-level", "warn", "--rate-limit", "0");
  if (database) args.push("--database", database);
  const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr!.on("data", (b) => {
    err += b;
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`server exited: ${err}`);
    try {
      if ((await call(url, "GET", "/healthz")).status === 200) return { url, child };
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server did not start: ${err}`);
}

async function pool<T>(items: T[], width: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

const hostOf = (i: number) => `host-${String(i).padStart(5, "0")}`;
const hex = (s: string) => createHash("sha256").update(s).digest("hex");

interface Finding {
  sha256: string;
  rule: string;
  name: string;
  severity: (typeof SEVERITIES)[number];
}

/** The findings of infected endpoint `i`: the outbreak's shared files, then its own. */
function findingsOf(i: number): Finding[] {
  const out: Finding[] = [];
  for (let k = 0; k < SHARED; k++)
    out.push({
      sha256: hex(`outbreak-${k}`),
      rule: `Outbreak_Dropper_${k}`,
      name: `Win.Trojan.Outbreak-${k}`,
      severity: k < 2 ? "critical" : "high",
    });
  for (let k = 0; k < OWN; k++)
    out.push({
      sha256: hex(`endpoint-${i}-file-${k}`),
      rule: `Generic_Rule_${(i * OWN + k) % 40}`,
      name: `Unix.Malware.Agent-${(i * OWN + k) % 40}`,
      severity: SEVERITIES[(i + k) % 4]!,
    });
  return out;
}

function quantiles(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!;
  return { p50: q(0.5), p99: q(0.99), max: s[s.length - 1]! };
}

async function runDatabase(label: string, database: string | undefined): Promise<Record<string, string | number>[]> {
  const dataDir = mkdtempSync(join(tmpdir(), "vigil-bench-fleet-"));
  const dbArgs = database ? ["--database", database] : [];
  const srv = await startServerProc(dataDir, database);
  const out: Record<string, string | number>[] = [];
  try {
    const base = srv.url;
    const token = /^vet_\S+/m.exec(
      vigil([
        "server",
        "token",
        "create",
        "--label",
        "bench",
        "--uses",
        String(INFECTED),
        "--ttl-hours",
        "2",
        "--data",
        dataDir,
        ...dbArgs,
      ]),
    )?.[0];
    if (!token) throw new Error("vigil server token create printed no token");
    const password = vigil([
      "server",
      "user",
      "add",
      "bench-admin",
      "--role",
      "admin",
      "--data",
      dataDir,
      ...dbArgs,
    ]).trim();

    // 1. the infected 1% enrol through the real API (they report); the other 99% are inserted in
    // bulk into the endpoints table (enrolment through the API runs at ~50/s on the loaded machine)
    const infected = Array.from({ length: INFECTED }, (_, n) => Math.floor((n * ENDPOINTS) / INFECTED));
    const ids: string[] = [];
    const keys: string[] = [];
    let t0 = performance.now();
    await pool(infected, 16, async (i) => {
      const r = await call(base, "POST", "/api/v1/enroll", {
        body: { token, hostname: hostOf(i), os: OS, agentVersion: "bench" },
      });
      if (r.status !== 201) throw new Error(`enrol ${r.status} ${r.body}`);
      const j = JSON.parse(r.body) as { key: string; endpointId: string };
      keys[i] = j.key;
      ids[i] = j.endpointId;
    });
    const enrolS = (performance.now() - t0) / 1000;
    const isInfected = new Set(infected);
    t0 = performance.now();
    await bulkEndpoints(
      dataDir,
      database,
      Array.from({ length: ENDPOINTS }, (_, i) => i).filter((i) => !isInfected.has(i)),
    );
    const bulkS = (performance.now() - t0) / 1000;
    console.log(
      `[${label}] ${INFECTED} endpoints enrolled through the API in ${enrolS.toFixed(1)} s, ${ENDPOINTS - INFECTED} inserted in bulk in ${bulkS.toFixed(1)} s`,
    );

    // 2. the rescan storm: each infected endpoint reports its findings again and again, oldest
    // scans first, in outbox batches; endpoints report side by side (INFLIGHT requests at a time)
    const rescans = Math.max(1, Math.round(ROWS / (INFECTED * FINDINGS)));
    const perBatch = Math.max(1, Math.floor(BATCH / FINDINGS)); // rescans per request
    const now = Date.now();
    const span = 29 * 24 * 3600_000; // the storm spreads over 29 days (the console's 30-day charts)
    const step = Math.floor(span / rescans);
    const jobs: Array<{ ep: number; from: number }> = [];
    for (let from = 0; from < rescans; from += perBatch) for (const ep of infected) jobs.push({ ep, from });
    let sent = 0;
    const postLat: number[] = [];
    t0 = performance.now();
    let lastPrint = t0;
    await pool(jobs, INFLIGHT, async ({ ep, from }) => {
      const fs = findingsOf(ep);
      const detections = [];
      for (let r = from; r < Math.min(rescans, from + perBatch); r++)
        for (const f of fs)
          detections.push({
            id: randomUUID(),
            time: now - span + r * step,
            rule: f.rule,
            name: f.name,
            severity: f.severity,
            bundleVersion: "2026.12.07",
            sha256: f.sha256,
            size: 65536,
            fileType: "pe",
            action: "reported",
          });
      for (let k = 0; k < detections.length; k += BATCH) {
        const body = { detections: detections.slice(k, k + BATCH) };
        const r = await call(base, "POST", "/api/v1/detections", { body, key: keys[ep] });
        if (r.status !== 200) throw new Error(`detections ${r.status} ${r.body}`);
        postLat.push(r.ms);
        sent += body.detections.length;
      }
      if (performance.now() - lastPrint > 15_000) {
        lastPrint = performance.now();
        console.log(`[${label}] ${sent} detections sent (${Math.round(sent / ((lastPrint - t0) / 1000))}/s)`);
      }
    });
    const stormS = (performance.now() - t0) / 1000;
    const distinct = new Set(infected.flatMap((ep) => findingsOf(ep).map((f) => `${ids[ep]} ${f.sha256} ${f.rule}`)))
      .size;

    // 3. an analyst's work: some alerts acknowledged, resolved, a few marked false positive
    const admin = await call(base, "POST", "/api/admin/login", { body: { username: "bench-admin", password } });
    if (admin.status !== 200) throw new Error(`login ${admin.status} ${admin.body}`);
    const cookie = /vigil_session=[^;]+/.exec(String(admin.headers["set-cookie"]))![0];
    const csrf = (JSON.parse(admin.body) as { csrfToken: string }).csrfToken;
    const auth = { cookie, csrf };
    const total = async (path: string) => {
      const r = await call(base, "GET", path, auth);
      if (r.status !== 200) throw new Error(`${path}: ${r.status} ${r.body}`);
      return (JSON.parse(r.body) as { total: number }).total;
    };
    const alertRows = await total("/api/admin/alerts?limit=1");
    const detectionRows = await countDetectionRows(dataDir, database);
    const all = JSON.parse((await call(base, "GET", "/api/admin/alerts?limit=1000", auth)).body) as {
      alerts: Array<{ id: string; endpointId: string; sha256: string; rule: string }>;
    };
    const move = async (state: string, list: string[]) => {
      for (let i = 0; i < list.length; i += 1000) {
        const r = await call(base, "POST", "/api/admin/alerts/state", {
          ...auth,
          body: { ids: list.slice(i, i + 1000), state, comment: `bench: ${state}` },
        });
        if (r.status !== 200) throw new Error(`alerts/state ${r.status} ${r.body}`);
      }
    };
    const own = all.alerts.filter((a) => !a.rule.startsWith("Outbreak_"));
    await move(
      "acknowledged",
      own.filter((_, i) => i % 3 === 0).map((a) => a.id),
    );
    await move(
      "resolved",
      own.filter((_, i) => i % 3 === 1).map((a) => a.id),
    );
    await move(
      "false_positive",
      own.filter((_, i) => i % 50 === 2).map((a) => a.id),
    );

    // 4. the pages an administrator opens, timed one request at a time after a warm-up
    const oneAlert = all.alerts.find((a) => a.rule.startsWith("Outbreak_"))!;
    const someEndpoint = oneAlert.endpointId;
    const pages: Array<[string, string]> = [
      ["console: alert list", "/console/alerts"],
      ["console: state new, severity critical", "/console/alerts?state=new&severity=critical"],
      ["console: name or rule contains", "/console/alerts?rule=agent-1"],
      ["console: page 10", "/console/alerts?page=10"],
      ["console: one alert (its detections)", `/console/alerts/${oneAlert.id}`],
      ["API: alert list", "/api/admin/alerts"],
      ["API: state + severity", "/api/admin/alerts?state=new&severity=high"],
      ["API: rule contains", "/api/admin/alerts?rule=outbreak"],
      ["API: one endpoint's alerts", `/api/admin/alerts?endpoint=${someEndpoint}`],
      ["API: one hash's alerts", `/api/admin/alerts?sha256=${oneAlert.sha256}`],
    ];
    const load = loadavg()[0]!.toFixed(1);
    for (const [what, path] of pages) {
      for (let i = 0; i < 5; i++) await call(base, "GET", path, auth);
      const lat: number[] = [];
      for (let i = 0; i < REQUESTS; i++) {
        const r = await call(base, "GET", path, auth);
        if (r.status !== 200) throw new Error(`${path}: ${r.status} ${r.body.slice(0, 300)}`);
        lat.push(r.ms);
      }
      const q = quantiles(lat);
      out.push({
        database: label,
        page: what,
        "p50 ms": q.p50.toFixed(1),
        "p99 ms": q.p99.toFixed(1),
        "max ms": q.max.toFixed(1),
        "p99 < 200 ms": q.p99 < 200 ? "yes" : "NO",
      });
    }
    await explainPlans(label, dataDir, database, oneAlert);
    const p = quantiles(postLat);
    console.log(
      `[${label}] storm: ${sent} detections from ${INFECTED} infected endpoints (${rescans} rescans of ${FINDINGS} findings) in ${stormS.toFixed(1)} s = ${Math.round(sent / stormS)} rows/s (requests of ${perBatch * FINDINGS}: p50 ${p.p50.toFixed(0)} ms, p99 ${p.p99.toFixed(0)} ms)`,
    );
    console.log(
      `[${label}] detection rows ${detectionRows}, alert rows ${alertRows}, distinct findings sent ${distinct}; API enrolment ${Math.round(INFECTED / enrolS)}/s; load average during the timing ${load} (${loadavg()
        .map((x) => x.toFixed(1))
        .join(" ")} at the end)`,
    );
    console.table(out);
    if (alertRows !== distinct) throw new Error(`grouping: ${alertRows} alerts for ${distinct} distinct findings`);
    return out;
  } finally {
    srv.child.kill("SIGTERM");
    await new Promise((r) => srv.child.once("exit", r));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Endpoints that never report, inserted as enrolment would record them (a random key hash). */
async function bulkEndpoints(dataDir: string, database: string | undefined, which: number[]): Promise<void> {
  const now = Date.now();
  const cols = ["id", "key_hash", "hostname", "os", "agent_version", "enrolled_at", "enrolled_with", "last_seen"];
  const rowOf = (i: number) => [
    randomUUID(),
    createHash("sha256").update(randomUUID()).digest("hex"),
    hostOf(i),
    JSON.stringify(OS),
    "bench",
    now,
    "bench",
    now - (i % 600) * 1000,
  ];
  if (database) {
    const pg = (await import("pg")).default;
    const c = new pg.Client({ connectionString: database });
    await c.connect();
    try {
      for (let k = 0; k < which.length; k += 1000) {
        const chunk = which.slice(k, k + 1000);
        const params: unknown[] = [];
        const tuples = chunk.map((i) => {
          const r = rowOf(i);
          const at = params.length;
          params.push(...r);
          return `(${r.map((_, j) => `$${at + j + 1}`).join(",")})`;
        });
        await c.query(`insert into endpoints (${cols.join(",")}) values ${tuples.join(",")}`, params);
      }
    } finally {
      await c.end();
    }
    return;
  }
  const SQLite = (await import("better-sqlite3")).default;
  const db = new SQLite(join(dataDir, "vigil.db"));
  db.pragma("busy_timeout = 10000");
  try {
    const ins = db.prepare(`insert into endpoints (${cols.join(",")}) values (${cols.map(() => "?").join(",")})`);
    db.transaction(() => {
      for (const i of which) ins.run(...rowOf(i));
    })();
  } finally {
    db.close();
  }
}

/** The plans of the queries behind the alert pages, printed (EXPLAIN ANALYZE on PostgreSQL). */
async function explainPlans(
  label: string,
  dataDir: string,
  database: string | undefined,
  a: { endpointId: string; sha256: string; rule: string },
): Promise<void> {
  const queries: Array<[string, string, unknown[]]> = [
    [
      "alert list",
      "select a.*, e.hostname from alerts a left join endpoints e on e.id = a.endpoint_id order by a.last_seen desc, a.id desc limit 50",
      [],
    ],
    [
      "alert count, state and severity",
      "select count(*) from alerts a where a.state = 'new' and a.severity = 'critical'",
      [],
    ],
    [
      "one alert's detections",
      "select d.*, e.hostname from detections d left join endpoints e on e.id = d.endpoint_id where d.endpoint_id = $1 and d.sha256 = $2 and d.rule = $3 order by d.time desc, d.id desc limit 20",
      [a.endpointId, a.sha256, a.rule],
    ],
  ];
  if (database) {
    const pg = (await import("pg")).default;
    const c = new pg.Client({ connectionString: database });
    await c.connect();
    try {
      for (const [what, q, params] of queries) {
        const r = await c.query(`explain analyze ${q}`, params);
        console.log(`[${label}] plan, ${what}:\n  ${r.rows.map((x) => x["QUERY PLAN"]).join("\n  ")}`);
      }
    } finally {
      await c.end();
    }
    return;
  }
  const SQLite = (await import("better-sqlite3")).default;
  const db = new SQLite(join(dataDir, "vigil.db"), { readonly: true });
  try {
    for (const [what, q, params] of queries) {
      const plan = db.prepare(`explain query plan ${q.replace(/\$\d/g, "?")}`).all(...params) as Array<{
        detail: string;
      }>;
      const t = performance.now();
      db.prepare(q.replace(/\$\d/g, "?")).all(...params);
      console.log(
        `[${label}] plan, ${what} (${(performance.now() - t).toFixed(1)} ms in the bench process): ${plan.map((x) => x.detail).join("; ")}`,
      );
    }
  } finally {
    db.close();
  }
}

/** The detections table's row count, read from the database itself (the API lists, it does not count). */
async function countDetectionRows(dataDir: string, database: string | undefined): Promise<number> {
  if (database) {
    const pg = (await import("pg")).default;
    const c = new pg.Client({ connectionString: database });
    await c.connect();
    try {
      return Number((await c.query("select count(*) as n from detections")).rows[0].n);
    } finally {
      await c.end();
    }
  }
  const SQLite = (await import("better-sqlite3")).default;
  const db = new SQLite(join(dataDir, "vigil.db"), { readonly: true });
  try {
    return Number((db.prepare("select count(*) as n from detections").get() as { n: number }).n);
  } finally {
    db.close();
  }
}

async function freshPgDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const pg = (await import("pg")).default;
  const name = `vigil_bench_fleet_${Date.now()}_${process.pid}`;
  const admin = new pg.Client({ connectionString: pgBase });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(pgBase);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: pgBase });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

console.log(
  `fleet alerts: ${ENDPOINTS} endpoints, ${INFECTED} infected with ${FINDINGS} findings each, ${ROWS} detection rows, ${REQUESTS} timed requests per page; 2-core shared machine: latencies are upper bounds`,
);
const table: Record<string, string | number>[] = [];
if (DBS !== "postgres") table.push(...(await runDatabase("SQLite", undefined)));
if (DBS !== "sqlite") {
  let d: Awaited<ReturnType<typeof freshPgDatabase>> | undefined;
  try {
    d = await freshPgDatabase();
  } catch (e) {
    console.log(`PostgreSQL skipped: ${(e as Error).message} (set VIGIL_BENCH_POSTGRES_URL)`);
  }
  if (d) {
    try {
      table.push(...(await runDatabase("PostgreSQL", d.url)));
    } finally {
      await d.drop();
    }
  }
}
console.table(table);
httpAgent.destroy();
