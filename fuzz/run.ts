/**
 * npm run fuzz -- TARGET|all [--runs N | --time S] [--seed N] [--limit MS] [--rss MB]
 *   npm run fuzz -- --list
 *   --fresh: start from the seeds only (by default the corpus grown by earlier runs, kept in
 *   fuzz/.work/TARGET/ and not committed, is loaded too)
 *
 * Runs the coverage-guided loop of fuzz/harness.ts on a target in a worker thread, with a
 * watchdog in this thread: an input that runs past the per-input limit is a hang even if the
 * target never returns (the worker is terminated). Crashes are minimised and written to
 * fuzz/crashes/TARGET/ (input .bin and a .txt with the message and stack); the replay test
 * (fuzz/fuzz.test.ts) runs every input there in `npm test`.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { CRASH_DIR, TARGETS } from "./targets.js";
import type { LoopStatus } from "./harness.js";

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
if (args.includes("--list") || args.length === 0) {
  for (const t of TARGETS.values()) console.log(`${t.name.padEnd(18)} ${t.about}`);
  process.exit(args.length === 0 ? 2 : 0);
}
const name = args[0]!;
const names = name === "all" ? [...TARGETS.keys()] : [name];
for (const n of names)
  if (!TARGETS.has(n)) {
    console.error(`fuzz: no target ${n}; npm run fuzz -- --list`);
    process.exit(2);
  }
const runs = opt("--runs") !== undefined ? Number(opt("--runs")) : undefined;
const timeS = opt("--time") !== undefined ? Number(opt("--time")) : undefined;
const seed = Number(opt("--seed") ?? 1);
const timeLimitMs = Number(opt("--limit") ?? 2000);
const rssCapMb = Number(opt("--rss") ?? 1536);
// inputs kept for new coverage are saved here and loaded by the next run (--fresh: start from the seeds)
const work = args.includes("--fresh") ? undefined : join(import.meta.dirname, ".work");

function save(
  target: string,
  c: { kind: string; input: Uint8Array; message: string; stack: string; original?: number },
): string {
  const dir = join(CRASH_DIR, target);
  mkdirSync(dir, { recursive: true });
  const id = createHash("sha256").update(c.input).digest("hex").slice(0, 12);
  const base = join(dir, `${c.kind}-${id}`);
  writeFileSync(base + ".bin", c.input);
  writeFileSync(
    base + ".txt",
    `${c.kind}: ${c.message}\n(minimised from ${c.original ?? c.input.length} to ${c.input.length} bytes)\n\n${c.stack}\n`,
  );
  return base + ".bin";
}

function one(target: string): Promise<{ status?: LoopStatus; crashes: number; died?: string }> {
  const shared = new SharedArrayBuffer(8 + 1024 * 1024);
  const head = new Int32Array(shared, 0, 2);
  const w = new Worker(new URL("./worker-entry.mjs", import.meta.url), {
    workerData: { work, target, runs, timeS, seed, timeLimitMs, rssCapMb, shared },
    resourceLimits: { maxOldGenerationSizeMb: rssCapMb },
    execArgv: process.execArgv,
  });
  let crashes = 0;
  let status: LoopStatus | undefined;
  return new Promise((resolve) => {
    let last = -1,
      since = Date.now();
    const current = () => new Uint8Array(shared, 8, Atomics.load(head, 1)).slice();
    const dog = setInterval(() => {
      const n = Atomics.load(head, 0);
      if (n !== last) {
        last = n;
        since = Date.now();
        return;
      }
      // a synchronous target stuck on one input (an async one is timed inside the worker)
      if (n > 0 && Date.now() - since > Math.max(10_000, timeLimitMs * 5)) {
        clearInterval(dog);
        const file = save(target, {
          kind: "hang",
          input: current(),
          message: `no progress for ${Math.round((Date.now() - since) / 1000)} s on one input`,
          stack: "",
        });
        console.log(`${target}: HANG, input kept in ${file}`);
        crashes++;
        void w.terminate();
        resolve({ ...(status ? { status } : {}), crashes, died: "hang" });
      }
    }, 500);
    w.on("message", (m: any) => {
      if (m.type === "status") {
        status = m.status;
        console.log(line(m.status));
      } else if (m.type === "found") console.log(`${target}: ${m.crash.kind.toUpperCase()} ${m.crash.message}`);
      else if (m.type === "crash") {
        crashes++;
        console.log(`${target}: kept ${save(target, m.crash)}`);
      } else if (m.type === "done") {
        status = m.status;
      }
    });
    w.on("error", (e) => {
      clearInterval(dog);
      if (Atomics.load(head, 0) === 0) {
        console.log(`${target}: the worker did not start: ${e.stack}`);
        resolve({ crashes: 1, died: e.message });
        return;
      }
      const file = save(target, {
        kind: "crash",
        input: current(),
        message: `the worker died: ${e.message}`,
        stack: e.stack ?? "",
      });
      console.log(`${target}: worker died (${e.message}); input kept in ${file}`);
      crashes++;
      resolve({ ...(status ? { status } : {}), crashes, died: e.message });
    });
    w.on("exit", () => {
      clearInterval(dog);
      resolve({ ...(status ? { status } : {}), crashes });
    });
  });
}

function line(s: LoopStatus): string {
  return `${s.target}: ${s.execs} execs in ${s.seconds.toFixed(1)} s (${Math.round(s.execsPerSecond)}/s), corpus ${s.corpus}, ${s.features} blocks, ${s.crashes} crashes, peak RSS ${s.peakRssMb} MB${s.liveHeapMb !== undefined ? `, ${s.liveHeapMb} MB live after a full GC` : ""}`;
}

let failed = 0;
if (names.length > 1) {
  // one process per target: RSS is per process, and memory a target leaves behind must not
  // count against the next one
  for (const n of names) {
    const r = spawnSync(process.execPath, [...process.execArgv, import.meta.filename, n, ...args.slice(1)], {
      stdio: "inherit",
    });
    if (r.status !== 0) failed++;
  }
} else {
  const r = await one(names[0]!);
  if (r.status) console.log(`DONE ${line(r.status)}`);
  if (r.crashes) failed++;
}
process.exit(failed ? 1 : 0);
