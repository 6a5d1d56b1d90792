/**
 * bench/server.ts: the fleet server under a simulated fleet. N endpoints (10,000 by default) enrol
 * through the real API, then a purpose-built load generator on loopback sends heartbeats and
 * detection reports as fast as the server answers them, with a fixed number of requests in flight,
 * for a fixed time. Reported per configuration: sustained events/s, p50/p99 latency, errors, and the
 * server processes' resident memory (peak and at the end).
 *
 * Configurations: SQLite (one process), PostgreSQL (one process), PostgreSQL with two server
 * processes sharing the database (requests alternate between them).
 * Run: `npm run bench -- server` or `npx tsc -b && npx tsx bench/server.ts [--quick] [--endpoints N]
 * [--seconds S] [--inflight K]`. PostgreSQL runs use VIGIL_BENCH_POSTGRES_URL (default: the test
 * server postgres://vigil:vigil@127.0.0.1:5432/vigil_test, a fresh database is created per run).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const argv = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const quick = argv.includes("--quick");
const ENDPOINTS = opt("--endpoints", quick ? 1000 : 10_000);
const SECONDS = opt("--seconds", quick ? 5 : 20);
const INFLIGHT = opt("--inflight", 64);
const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "packages/cli/bin/vigil.js");
const pgBase = process.env.VIGIL_BENCH_POSTGRES_URL ?? "postgres://vigil:vigil@127.0.0.1:5432/vigil_test";

function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

const agent = new Agent({ keepAlive: true, maxSockets: INFLIGHT });

interface Reply {
  status: number;
  body: string;
  ms: number;
}
function call(base: string, method: string, path: string, body?: unknown, key?: string): Promise<Reply> {
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const u = new URL(path, base);
  const headers: Record<string, string | number> = {};
  if (data) {
    headers["content-type"] = "application/json";
    headers["content-length"] = data.length;
  }
  if (key) headers.authorization = `Bearer ${key}`;
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, host: u.hostname, port: u.port, method, path: u.pathname + u.search, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), ms: performance.now() - t0 }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(data);
  });
}

function rssKiB(pid: number): { rss: number; hwm: number } {
  try {
    const s = readFileSync(`/proc/${pid}/status`, "utf8");
    const get = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(s)?.[1] ?? 0);
    return { rss: get("VmRSS"), hwm: get("VmHWM") };
  } catch {
    return { rss: 0, hwm: 0 };
  }
}

interface ServerProc {
  url: string;
  child: ChildProcess;
}

async function startServerProc(dataDir: string, database: string | undefined): Promise<ServerProc> {
  const port = await freePort();
  const args = [
    bin,
    "server",
    "--data",
    dataDir,
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "--log-level",
    "warn",
    "--rate-limit",
    "0",
  ];
  if (database) args.push("--database", database);
  // VIGIL_BENCH_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the server processes.
  const flags = (process.env.VIGIL_BENCH_NODE_FLAGS ?? "").split(/\s+/).filter(Boolean);
  const child = spawn(process.execPath, [...flags, ...args], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr!.on("data", (b) => {
    err += b;
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`server exited: ${err}`);
    try {
      const r = await call(url, "GET", "/healthz");
      if (r.status === 200) return { url, child };
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server did not start: ${err}`);
}

function vigil(args: string[]): string {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`vigil ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

async function pool<T>(items: T[], width: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

const OS = { platform: "linux", release: "6.1.0", arch: "x64" };

async function runConfig(
  label: string,
  database: string | undefined,
  processes: number,
): Promise<Record<string, string | number>> {
  const dataDir = mkdtempSync(join(tmpdir(), "vigil-bench-server-"));
  const servers: ServerProc[] = [];
  try {
    for (let i = 0; i < processes; i++) servers.push(await startServerProc(dataDir, database));
    const tokenArgs = [
      "server",
      "token",
      "create",
      "--label",
      "bench",
      "--uses",
      String(ENDPOINTS),
      "--ttl-hours",
      "2",
      "--data",
      dataDir,
    ];
    if (database) tokenArgs.push("--database", database);
    const token = /^vet_\S+/m.exec(vigil(tokenArgs))?.[0];
    if (!token) throw new Error("vigil server token create printed no token");

    // Enrolment: every simulated endpoint gets its own key through the real API.
    const keys: string[] = [];
    const t0 = performance.now();
    await pool(
      Array.from({ length: ENDPOINTS }, (_, i) => i),
      INFLIGHT,
      async (i) => {
        const r = await call(servers[i % servers.length]!.url, "POST", "/api/v1/enroll", {
          token,
          hostname: `host-${i}`,
          os: OS,
          agentVersion: "bench",
        });
        if (r.status !== 201) throw new Error(`enrol ${r.status} ${r.body}`);
        keys[i] = (JSON.parse(r.body) as { key: string }).key;
      },
    );
    const enrolS = (performance.now() - t0) / 1000;

    // Sustained load: heartbeats (4 in 5) and one-detection reports (1 in 5) from random endpoints.
    const lat: number[] = [];
    let errors = 0,
      sent = 0,
      peakKiB = 0;
    const sampler = setInterval(() => {
      let sum = 0;
      for (const s of servers) sum += rssKiB(s.child.pid!).rss;
      peakKiB = Math.max(peakKiB, sum);
    }, 250);
    const end = performance.now() + SECONDS * 1000;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: INFLIGHT }, async () => {
        while (performance.now() < end) {
          const i = Math.floor(Math.random() * ENDPOINTS);
          const base = servers[sent++ % servers.length]!.url;
          const now = Date.now();
          let r: Reply;
          if (Math.random() < 0.8) {
            r = await call(
              base,
              "POST",
              "/api/v1/heartbeat",
              {
                time: now,
                agentVersion: "bench",
                rulesVersion: "2026.11.24",
                checkpoint: null,
                os: OS,
                hostname: `host-${i}`,
              },
              keys[i],
            );
          } else {
            r = await call(
              base,
              "POST",
              "/api/v1/detections",
              {
                detections: [
                  {
                    id: randomUUID(),
                    time: now,
                    rule: `Bench_Rule_${i % 50}`,
                    severity: "high",
                    bundleVersion: "2026.11.24",
                    sha256: randomBytes(32).toString("hex"),
                    size: 1234,
                    fileType: "pe",
                    action: "reported",
                  },
                ],
              },
              keys[i],
            );
          }
          lat.push(r.ms);
          if (r.status !== 200) errors++;
        }
      }),
    );
    const elapsed = (performance.now() - started) / 1000;
    clearInterval(sampler);
    lat.sort((a, b) => a - b);
    const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!.toFixed(1);
    const endKiB = servers.reduce((s, p) => s + rssKiB(p.child.pid!).rss, 0);
    const hwmKiB = servers.reduce((s, p) => s + rssKiB(p.child.pid!).hwm, 0);
    return {
      config: label,
      endpoints: ENDPOINTS,
      "enrol s": enrolS.toFixed(1),
      "events/s": Math.round(lat.length / elapsed),
      "p50 ms": q(0.5),
      "p99 ms": q(0.99),
      errors,
      "RSS peak MiB": Math.round(Math.max(peakKiB, hwmKiB) / 1024),
      "RSS end MiB": Math.round(endKiB / 1024),
    };
  } finally {
    for (const s of servers) s.child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 500));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function freshPgDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const pg = (await import("pg")).default;
  const name = `vigil_bench_${Date.now()}_${process.pid}`;
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

const rows: Record<string, string | number>[] = [];
console.log(
  `fleet server load: ${ENDPOINTS} endpoints, ${INFLIGHT} requests in flight, ${SECONDS} s per configuration (80% heartbeats, 20% detections)`,
);
rows.push(await runConfig("SQLite, 1 process", undefined, 1));
console.table(rows);
let pgOk = true;
try {
  const d = await freshPgDatabase();
  await d.drop();
} catch (e) {
  pgOk = false;
  console.log(`PostgreSQL skipped: ${(e as Error).message} (set VIGIL_BENCH_POSTGRES_URL)`);
}
if (pgOk) {
  for (const [label, n] of [
    ["PostgreSQL, 1 process", 1],
    ["PostgreSQL, 2 processes", 2],
  ] as const) {
    const d = await freshPgDatabase();
    try {
      rows.push(await runConfig(label, d.url, n));
    } finally {
      await d.drop();
    }
    console.table(rows);
  }
}
agent.destroy();
