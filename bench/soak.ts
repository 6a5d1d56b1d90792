/**
 * bench/soak.ts: a day's traffic through `vigil daemon`, good and hostile clients mixed, while
 * its resident memory, open file descriptors and spool files are sampled. Issue 17's bar: after
 * warm-up, RSS stays within 10% of its warm-up level; no descriptor and no spool file leaks.
 *
 * "A day" is 86,400 requests (one a second, a busy mail gateway's rate), sent as fast as the
 * daemon answers them from 8 concurrent clients: clamd INSTREAM (clean, EICAR, spooled 2 MB,
 * over StreamMaxLength, cut mid-stream), a zIDSESSION of pipelined commands, SCAN of a path,
 * PING/VERSION/STATS, an unknown command, a client that connects and sends nothing, HTTP
 * POST /v1/scan (raw and multipart), a malformed multipart, an upload aborted half way.
 * Run by hand: `npm run bench -- soak` or `npx tsx bench/soak.ts [--requests N] [--clients C]`.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const total = Number(arg("--requests", "86400"));
const clients = Number(arg("--clients", "8"));
const root = fileURLToPath(new URL("..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "vigil-soak-"));
const spool = join(dir, "spool");
const EICAR = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

const free = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });

const clamdPort = await free();
const httpPort = await free();
mkdirSync(spool, { recursive: true });
writeFileSync(join(dir, "eicar.com"), EICAR);
writeFileSync(join(dir, "clean.txt"), "nothing to see here\n".repeat(100));

const daemon = spawn(
  process.execPath,
  [
    join(root, "packages/cli/bin/vigil.js"),
    "daemon",
    "--tcp",
    `127.0.0.1:${clamdPort}`,
    "--http",
    `127.0.0.1:${httpPort}`,
    "--spool-dir",
    spool,
    "--stream-max-length",
    "4M",
    "--command-read-timeout",
    "2",
    "--read-timeout",
    "2",
    "--idle-timeout",
    "2",
    "--no-cache",
  ],
  { stdio: ["ignore", "ignore", "pipe"] },
);
let daemonErr = "";
daemon.stderr!.on("data", (d) => (daemonErr += d));

async function waitUp(): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      if ((await clamd(Buffer.from("zPING\0"))).includes("PONG")) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the daemon did not start: ${daemonErr}`);
}

/** One clamd connection: sends `data` (then ends unless `hold`), resolves with the reply. */
function clamd(data: Buffer, opts: { cutAfter?: number; hold?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(clamdPort, "127.0.0.1");
    let out = "";
    s.on("data", (d) => (out += d));
    s.on("error", (e) =>
      (e as NodeJS.ErrnoException).code === "ECONNRESET" || (e as NodeJS.ErrnoException).code === "EPIPE"
        ? resolve(out)
        : reject(e),
    );
    s.on("close", () => resolve(out));
    s.setTimeout(30_000, () => s.destroy());
    s.on("connect", () => {
      if (opts.cutAfter !== undefined) {
        s.write(data.subarray(0, opts.cutAfter), () => s.destroy());
        return;
      }
      s.write(data);
      if (!opts.hold) s.end();
    });
  });
}

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const instream = (payload: Buffer, chunk = 65536) => {
  const parts = [Buffer.from("zINSTREAM\0")];
  for (let i = 0; i < payload.length; i += chunk) {
    const c = payload.subarray(i, i + chunk);
    parts.push(u32(c.length), c);
  }
  parts.push(u32(0));
  return Buffer.concat(parts);
};

function http(path: string, body: Buffer, headers: Record<string, string>, abortAfter?: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port: httpPort, path, method: "POST", headers }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", () => resolve(-1));
    if (abortAfter !== undefined) {
      req.write(body.subarray(0, abortAfter), () => {
        req.destroy();
        resolve(-2);
      });
      return;
    }
    req.end(body);
  });
}

const clean = Buffer.from("nothing to see here\n".repeat(500));
const big = Buffer.alloc(2 * 1048576, 0x41); // spooled (threshold 1M)
const tooBig = Buffer.alloc(5 * 1048576, 0x42); // over StreamMaxLength 4M
const boundary = "soakboundary";
const multipart = Buffer.from(
  `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="e.com"\r\n\r\n${EICAR}\r\n--${boundary}--\r\n`,
);
const badMultipart = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"\r\n\r\nno end`);

const kinds: Array<[string, () => Promise<boolean>]> = [
  ["instream clean", async () => (await clamd(instream(clean))).includes("OK")],
  ["instream eicar", async () => (await clamd(instream(Buffer.from(EICAR)))).includes("FOUND")],
  ["instream spooled 2 MB", async () => (await clamd(instream(big))).includes("OK")],
  ["instream over limit", async () => (await clamd(instream(tooBig))).includes("size limit exceeded")],
  ["instream cut", async () => (await clamd(instream(big), { cutAfter: 700_000 }), true)],
  [
    "session pipelined",
    async () => {
      const cmds = [Buffer.from("zIDSESSION\0")];
      for (let i = 0; i < 50; i++) cmds.push(Buffer.from("zPING\0"));
      cmds.push(instream(Buffer.from(EICAR)).subarray(0), Buffer.from("zEND\0"));
      const r = await clamd(Buffer.concat(cmds));
      return r.includes("PONG") && r.includes("FOUND");
    },
  ],
  ["scan path", async () => (await clamd(Buffer.from(`zSCAN ${join(dir, "eicar.com")}\0`))).includes("FOUND")],
  ["ping/version/stats", async () => (await clamd(Buffer.from("zVERSION\0"))).length > 0],
  ["unknown command", async () => (await clamd(Buffer.from("zFROBNICATE\0"))).includes("UNKNOWN COMMAND")],
  ["silent client", async () => (await clamd(Buffer.alloc(0), { hold: true }), true)],
  ["http raw", async () => (await http("/v1/scan", Buffer.from(EICAR), {})) === 200],
  [
    "http multipart",
    async () =>
      (await http("/v1/scan", multipart, { "content-type": `multipart/form-data; boundary=${boundary}` })) === 200,
  ],
  [
    "http bad multipart",
    async () =>
      (await http("/v1/scan", badMultipart, { "content-type": `multipart/form-data; boundary=${boundary}` })) === 400,
  ],
  ["http aborted", async () => (await http("/v1/scan", big, { "content-length": String(big.length) }, 600_000), true)],
];
// how often each kind comes up, per 100 requests: mostly ordinary scans, some hostility
const weights = [30, 10, 3, 1, 2, 5, 10, 10, 2, 1, 12, 8, 3, 3];
const deck: number[] = [];
weights.forEach((w, k) => {
  for (let i = 0; i < w; i++) deck.push(k);
});

function sample() {
  const status = readFileSync(`/proc/${daemon.pid}/status`, "utf8");
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)![1]) * 1024;
  const fds = readdirSync(`/proc/${daemon.pid}/fd`).length;
  const spooled = readdirSync(spool).length;
  return { rss, fds, spooled };
}

await waitUp();
const started = Date.now();
const samples: Array<{ done: number; rss: number; fds: number; spooled: number }> = [];
const failures = new Map<string, number>();
let done = 0;
let next = 0;
const sampler = setInterval(() => samples.push({ done, ...sample() }), 2000);
await Promise.all(
  Array.from({ length: clients }, async () => {
    while (next < total) {
      const i = next++;
      const k = deck[(i * 7919) % deck.length]!;
      const [name, run] = kinds[k]!;
      let ok = false;
      try {
        ok = await run();
      } catch {
        ok = false;
      }
      if (!ok) failures.set(name, (failures.get(name) ?? 0) + 1);
      done++;
      if (done % 10_000 === 0)
        process.stdout.write(`  ${done} requests, ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
    }
  }),
);
clearInterval(sampler);
// let the timeouts (2 s) close what hostile clients left open, then take the final reading
await new Promise((r) => setTimeout(r, 5000));
const end = sample();
const seconds = (Date.now() - started) / 1000;
daemon.kill("SIGTERM");
await new Promise((r) => daemon.on("exit", r));
rmSync(dir, { recursive: true, force: true });

// the RSS curve: the median of the samples in each tenth of the run
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const deciles = Array.from({ length: 10 }, (_, d) =>
  median(samples.filter((s) => s.done >= (total * d) / 10 && s.done < (total * (d + 1)) / 10).map((s) => s.rss)),
);
const warm = samples.filter((s) => s.done >= total * 0.1);
// warm-up is the first tenth; "flat" compares the later tenths' medians with the second one's
const base = { rss: deciles[1] || end.rss };
const rssValues = warm.map((s) => s.rss);
const maxRss = Math.max(...rssValues, end.rss);
const minRss = Math.min(...rssValues, end.rss);
const mb = (b: number) => `${(b / 1048576).toFixed(0)} MB`;
const drift = (end.rss - base.rss) / base.rss;
const firstFds = samples.length ? samples[0]!.fds : end.fds;
console.log(
  `soak: ${done} requests in ${seconds.toFixed(0)} s (${(done / seconds).toFixed(0)}/s) from ${clients} clients`,
);
console.log(
  `  RSS after warm-up (median of the second tenth) ${mb(base.rss)}, min ${mb(minRss)}, max ${mb(maxRss)}, at the end ${mb(end.rss)} (drift ${(drift * 100).toFixed(1)}%)`,
);
console.log(`  RSS by tenth of the run (median): ${deciles.map((r) => mb(r).replace(" MB", "")).join(" ")} MB`);
console.log(
  `  file descriptors: ${firstFds} at the first sample, ${end.fds} at the end; spool files left: ${end.spooled}`,
);
const expectedFailures = [...failures].filter(([n]) => n !== "instream cut" && n !== "http aborted");
console.log(
  `  unexpected answers: ${expectedFailures.length ? expectedFailures.map(([n, c]) => `${n} ${c}`).join(", ") : "none"}`,
);
const later = deciles.slice(1).filter((r) => r > 0);
const flat = later.every((r) => Math.abs(r - base.rss) <= base.rss * 0.1) && Math.abs(drift) <= 0.1;
const pass = flat && end.fds <= firstFds + 2 && end.spooled === 0 && expectedFailures.length === 0;
console.log(
  `  verdict: ${pass ? "PASS" : "FAIL"} (RSS within 10% of warm-up, no fd or spool leak, every answer as expected)`,
);
process.exit(pass ? 0 : 1);
