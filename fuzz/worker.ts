/** The fuzzing worker: runs the loop for one target and reports to fuzz/run.ts. */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import { Coverage, fuzz, minimise } from "./harness.js";

// coverage starts before the targets' code is loaded, so every function of it is instrumented
const coverage = new Coverage();
const { target } = await import("./targets.js");

interface Job {
  work?: string;
  target: string;
  runs?: number;
  timeS?: number;
  seed: number;
  timeLimitMs: number;
  rssCapMb: number;
  shared: SharedArrayBuffer;
}
const job = workerData as Job;
const t = target(job.target);
// the current input, for the watchdog: [execs, length, bytes...]
const head = new Int32Array(job.shared, 0, 2);
const body = new Uint8Array(job.shared, 8);

// the corpus grown by earlier runs (not committed): a campaign resumes where the last one stopped
const work = job.work ? join(job.work, job.target) : undefined;
const grown =
  work && existsSync(work)
    ? readdirSync(work)
        .sort()
        .map((f) => new Uint8Array(readFileSync(join(work, f))))
    : [];
if (work) mkdirSync(work, { recursive: true });

const { status, crashes } = await fuzz(t, {
  corpus: grown,
  onKeep(d) {
    if (work) writeFileSync(join(work, createHash("sha256").update(d).digest("hex").slice(0, 16)), d);
  },
  ...(job.runs !== undefined ? { runs: job.runs } : {}),
  ...(job.timeS !== undefined ? { timeS: job.timeS } : {}),
  seed: job.seed,
  timeLimitMs: job.timeLimitMs,
  rssCapMb: job.rssCapMb,
  coverage,
  onInput(d, execs) {
    const n = Math.min(d.length, body.length);
    body.set(d.subarray(0, n));
    Atomics.store(head, 1, n);
    Atomics.store(head, 0, execs + 1);
  },
  onStatus(s) {
    parentPort!.postMessage({ type: "status", status: s });
  },
  onCrash(c) {
    parentPort!.postMessage({ type: "found", crash: { kind: c.kind, message: c.message } });
  },
});
for (const c of crashes) {
  const small = await minimise(t, c, job.timeLimitMs);
  parentPort!.postMessage({ type: "crash", crash: { ...c, input: small, original: c.input.length } });
}
parentPort!.postMessage({ type: "done", status });
