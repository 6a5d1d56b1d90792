/**
 * bench/daemon.ts: INSTREAM throughput and latency of `vigil daemon` vs Debian's clamd on the
 * same ClamAV signatures (generated .ndb body signatures and .hdb hashes), 1, 8 and 64
 * concurrent clients, 10 KB and 20 MB files, with each server's resident memory (idle and
 * peak while serving). Run by hand: `npx tsc -b && npx tsx bench/daemon.ts [--quick]`;
 * `--servers vigil` (or clamd) and `--sizes 10KB` (or 20MB) narrow the run, `--idle-after S`
 * reports each server's RSS again after S seconds of rest following the load (Vigil's scan
 * threads exit after 30 s idle), `--vigil-args "..."` adds `vigil daemon` options and
 * `--vigil-node-options "..."` Node.js options (e.g. "--max-semi-space-size=1").
 * clamd runs with DisableCache yes (its clean-file cache would make repeats free). Before
 * each file size, both servers get the same unmeasured warm-up requests.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const quick = process.argv.includes("--quick");
const arg = (name: string): string | undefined => { const i = process.argv.indexOf(name); return i >= 0 ? process.argv[i + 1] : undefined; };
const only = arg("--servers")?.split(",");
const sizes = arg("--sizes")?.split(",");
const idleAfter = Number(arg("--idle-after") ?? 0);
const vigilArgs = arg("--vigil-args")?.split(/\s+/).filter(Boolean) ?? [];
const vigilNode = arg("--vigil-node-options")?.split(/\s+/).filter(Boolean) ?? [];
const root = fileURLToPath(new URL("..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "vigil-bench-daemon-"));
const NDB = 2000;
const HDB = 2000;

function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, "127.0.0.1", () => { const p = (s.address() as { port: number }).port; s.close(() => res(p)); });
  });
}

function frame(data: Buffer, chunk = 1 << 16): Buffer {
  const parts: Buffer[] = [Buffer.from("zINSTREAM\0")];
  for (let at = 0; at < data.length; at += chunk) {
    const c = data.subarray(at, at + chunk);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(c.length);
    parts.push(len, c);
  }
  parts.push(Buffer.alloc(4));
  return Buffer.concat(parts);
}

function instream(port: number, framed: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1");
    let out = "";
    s.on("data", (b) => (out += b));
    s.on("end", () => { s.destroy(); resolve(out.replace(/\0$/, "")); });
    s.on("error", reject);
    s.write(framed);
  });
}

function rss(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch { return 0; }
}

async function waitPing(port: number, proc: ChildProcess): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}`);
    try {
      const r = await new Promise<string>((res, rej) => {
        const s = connect(port, "127.0.0.1");
        let out = "";
        s.on("data", (b) => (out += b));
        s.on("end", () => res(out));
        s.on("error", rej);
        s.write("zPING\0");
      });
      if (r === "PONG\0") return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("server did not answer PING");
}

interface Result { label: string; clients: number; requests: number; seconds: number; mbps: number; rps: number; p50: number; p99: number; peakRss: number; errors: number }

async function run(port: number, pid: number, framed: Buffer, size: number, clients: number, requests: number, expect: string): Promise<Result> {
  const lat: number[] = [];
  let next = 0;
  let errors = 0;
  let peak = rss(pid);
  const sampler = setInterval(() => { peak = Math.max(peak, rss(pid)); }, 50);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    while (next < requests) {
      next++;
      const t = performance.now();
      const r = await instream(port, framed).catch((e: Error) => `error ${e.message}`);
      lat.push(performance.now() - t);
      if (r !== expect) { errors++; if (errors <= 3) console.log(`  unexpected reply: ${r}`); }
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, rss(pid));
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!;
  return { label: "", clients, requests, seconds, mbps: (requests * size) / seconds / 1e6, rps: requests / seconds, p50: q(0.5), p99: q(0.99), peakRss: peak, errors };
}

async function main(): Promise<void> {
  // signatures: random 16-byte body signatures and MD5 hashes of random sizes
  const ndb: string[] = [];
  for (let i = 0; i < NDB; i++) ndb.push(`Bench.Body.Sig${i}-1:0:*:${randomBytes(16).toString("hex")}`);
  const marker = randomBytes(16);
  ndb.push(`Bench.Body.Marker-1:0:*:${marker.toString("hex")}`);
  const hdb: string[] = [];
  for (let i = 0; i < HDB; i++) hdb.push(`${createHash("md5").update(randomBytes(32)).digest("hex")}:${1000 + i}:Bench.Hash.Sig${i}-1`);
  const db = join(dir, "db");
  (await import("node:fs")).mkdirSync(db);
  writeFileSync(join(db, "bench.ndb"), ndb.join("\n") + "\n");
  writeFileSync(join(db, "bench.hdb"), hdb.join("\n") + "\n");

  const small = randomBytes(10 * 1024);
  const large = randomBytes(20 * 1024 * 1024);
  const infected = Buffer.concat([randomBytes(5000), marker, randomBytes(5000)]);

  const vport = await freePort();
  const cport = await freePort();
  const vigil = spawn(process.execPath, [...vigilNode, join(root, "packages/cli/bin/vigil.js"), "daemon", "--tcp", `127.0.0.1:${vport}`, "--no-builtin", "-d", db, "--stream-max-length", "25M", "--no-cache", "--max-queue", "200", ...vigilArgs], { stdio: ["ignore", "ignore", "inherit"] });
  const conf = join(dir, "clamd.conf");
  writeFileSync(conf, [
    "Foreground yes", `TCPSocket ${cport}`, "TCPAddr 127.0.0.1", `DatabaseDirectory ${db}`, `LogFile ${join(dir, "clamd.log")}`,
    "StreamMaxLength 25M", "DisableCache yes", "MaxThreads 10", "MaxQueue 200", `TemporaryDirectory ${dir}`,
  ].join("\n") + "\n");
  let clamd: ChildProcess | undefined = only && !only.includes("clamd") ? undefined : spawn("clamd", ["-c", conf], { stdio: "ignore" });
  const servers: { name: string; port: number; proc: ChildProcess }[] = only && !only.includes("vigil") ? [] : [{ name: "vigil", port: vport, proc: vigil }];
  if (clamd) {
    try {
      await waitPing(cport, clamd);
      servers.push({ name: "clamd", port: cport, proc: clamd });
    } catch (err) {
      console.log(`clamd not available (${(err as Error).message}): Vigil only`);
      clamd.kill();
      clamd = undefined;
    }
  }
  await waitPing(vport, vigil);
  console.log(`load average ${loadavg().map((x) => x.toFixed(2)).join(" ")} (${cpus().length} cores)`);

  const scenarios: { label: string; data: Buffer; plan: [number, number][] }[] = [
    { label: "10 KB", data: small, plan: quick ? [[1, 100], [8, 200], [64, 320]] : [[1, 300], [8, 1000], [64, 1920]] },
    { label: "20 MB", data: large, plan: quick ? [[1, 3], [8, 8], [64, 64]] : [[1, 6], [8, 24], [64, 64]] },
  ].filter((s) => !sizes || sizes.includes(s.label.replace(" ", "")));
  const rows: string[] = [];
  for (const s of servers) {
    const idle = rss(s.proc.pid!);
    // warm up and check detection works the same way on both
    const det = await instream(s.port, frame(infected));
    console.log(`${s.name}: idle RSS ${(idle / 1048576).toFixed(1)} MiB; detection check: ${det}`);
    rows.push(`${s.name.padEnd(6)} idle RSS ${(idle / 1048576).toFixed(1).padStart(7)} MiB`);
  }
  console.log("");
  console.log("server  file    clients  requests    MB/s   req/s   p50 ms   p99 ms  peak RSS MiB  errors");
  const table: Record<string, Result> = {};
  for (const sc of scenarios) {
    const framed = frame(sc.data);
    // warm-up, not measured, the same for both servers (Vigil's JIT, both servers' page cache)
    for (const s of servers) await run(s.port, s.proc.pid!, framed, sc.data.length, 1, sc.data.length > 1e6 ? 1 : 100, "stream: OK");
    for (const [clients, requests] of sc.plan) {
      for (const s of servers) {
        const r = await run(s.port, s.proc.pid!, framed, sc.data.length, clients, requests, "stream: OK");
        r.label = sc.label;
        table[`${s.name}|${sc.label}|${clients}`] = r;
        console.log(`${s.name.padEnd(7)} ${sc.label.padEnd(7)} ${String(clients).padStart(7)} ${String(requests).padStart(9)} ${r.mbps.toFixed(1).padStart(7)} ${r.rps.toFixed(1).padStart(7)} ${r.p50.toFixed(1).padStart(8)} ${r.p99.toFixed(1).padStart(8)} ${(r.peakRss / 1048576).toFixed(1).padStart(13)} ${String(r.errors).padStart(7)}`);
      }
    }
  }
  if (servers.length === 2) {
    console.log("\nVigil / clamd ratios (throughput: higher is better for Vigil; p99 and memory: lower is better):");
    for (const sc of scenarios) for (const [clients] of sc.plan) {
      const v = table[`vigil|${sc.label}|${clients}`]!;
      const c = table[`clamd|${sc.label}|${clients}`]!;
      console.log(`  ${sc.label.padEnd(6)} x${String(clients).padEnd(3)} throughput ${(v.mbps / c.mbps).toFixed(2)}  p99 ${(v.p99 / c.p99).toFixed(2)}  peak RSS ${(v.peakRss / c.peakRss).toFixed(2)}`);
    }
  }
  for (const r of rows) console.log(r);
  if (idleAfter > 0) {
    await new Promise((r) => setTimeout(r, idleAfter * 1000));
    for (const s of servers) console.log(`${s.name.padEnd(6)} RSS ${(rss(s.proc.pid!) / 1048576).toFixed(1).padStart(7)} MiB after ${idleAfter} s idle`);
  }
  console.log(`load average ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  vigil.kill("SIGTERM");
  clamd?.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 500));
  rmSync(dir, { recursive: true, force: true });
}

main().catch((err: unknown) => { console.error(err); process.exit(1); });
