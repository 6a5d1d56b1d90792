/**
 * A pool of worker threads (node:worker_threads) that scan files in parallel. Each worker
 * builds its detector once from a DetectorSpec (for the engine: the serialised compiled
 * rules), so rules are compiled once in the parent and loaded, not recompiled, per worker.
 * A worker that dies fails only its current task (reported as an error result) and is
 * replaced.
 */
import { Worker } from "node:worker_threads";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { availableParallelism } from "node:os";
import { ScannerError } from "./error.js";
import type { ContentOptions } from "./content.js";
import type { DetectorSpec, FileResult } from "./types.js";
import type { WorkerInit, WorkerReply, WorkerTask } from "./worker.js";
import { emptyResult } from "./content.js";

type Job = { task: WorkerTask; resolve: (r: FileResult) => void; label: string };

interface Slot {
  worker: Worker;
  /** Jobs sent to this worker, in order; the first is the one it is working on. */
  jobs: Job[];
  ready: boolean;
  dead?: boolean;
}

/** file: URL of tsx's ESM API (its package.json "exports" entry for ./esm/api, import side). */
function tsxEsmApi(): string {
  const pkgPath = createRequire(import.meta.url).resolve("tsx/package.json");
  const pkg = JSON.parse(readFileSync(pkgPath, "utf8")) as { exports: Record<string, { import: { default: string } }> };
  return pathToFileURL(join(dirname(pkgPath), pkg.exports["./esm/api"]!.import.default)).href;
}

export function defaultJobs(): number {
  return Math.max(1, availableParallelism());
}

export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;
  private fatal?: ScannerError;
  private readonly workerUrl: URL;

  constructor(
    private readonly spec: DetectorSpec,
    private readonly options: ContentOptions,
    readonly size = defaultJobs(),
  ) {
    const here = import.meta.url;
    this.workerUrl = new URL(here.endsWith(".ts") ? "./worker.ts" : "./worker.js", here);
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  private spawn(): Slot {
    const init: WorkerInit = { spec: this.spec, options: this.options };
    let worker: Worker;
    if (this.workerUrl.pathname.endsWith(".ts")) {
      // Running from TypeScript sources (tests, tsx): register tsx inside the worker first.
      const tsx = tsxEsmApi();
      const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(this.workerUrl.href)}); });`;
      worker = new Worker(boot, { eval: true, workerData: init });
    } else {
      worker = new Worker(this.workerUrl, { workerData: init });
    }
    const slot: Slot = { worker, ready: false, jobs: [] };
    worker.on("message", (msg: WorkerReply) => {
      if ("ready" in msg) {
        slot.ready = true;
        this.pump();
      } else if ("fatal" in msg) {
        this.fatal = new ScannerError("WORKER_FAILED", msg.fatal);
        this.failAll();
      } else if (slot.jobs.length && slot.jobs[0]!.task.id === msg.id) {
        const job = slot.jobs.shift()!;
        job.resolve(msg.result);
        this.pump();
      }
    });
    const onDeath = (why: string) => {
      if (slot.dead) return;
      slot.dead = true;
      if (!slot.ready && !this.closed && !this.fatal) {
        // died before it could scan anything: replacing it would die the same way
        this.fatal = new ScannerError("WORKER_FAILED", `a scanning worker failed to start (${why})`);
        this.failAll();
      }
      // the first job is the one that was running; the others had not started: requeue them
      // (except buffers, which went to the dead worker with their memory)
      const [job, ...waiting] = slot.jobs;
      slot.jobs = [];
      for (const w of waiting.reverse()) {
        if (this.closed || this.fatal || "bytes" in w.task) w.resolve(this.failed(w.label));
        else this.queue.unshift(w);
      }
      const idx = this.slots.indexOf(slot);
      if (job) {
        const r = emptyResult(job.label, 0);
        r.errors.push({
          code: "WORKER_FAILED",
          path: job.label,
          message: `${job.label}: the scanning worker died (${why}); file not scanned`,
        });
        job.resolve(r);
      }
      if (idx >= 0 && !this.closed && !this.fatal) {
        this.slots[idx] = this.spawn();
      } else if (idx >= 0) this.slots.splice(idx, 1);
    };
    worker.on("error", (err) => onDeath(err.message));
    worker.on("exit", (code) => {
      if (!this.closed) onDeath(`exit code ${code}`);
    });
    return slot;
  }

  private failAll(): void {
    for (const job of this.queue.splice(0)) job.resolve(this.failed(job.label));
    for (const s of this.slots) for (const j of s.jobs.splice(0)) j.resolve(this.failed(j.label));
  }

  private failed(label: string): FileResult {
    const r = emptyResult(label, 0);
    r.errors.push({ code: "WORKER_FAILED", path: label, message: this.fatal?.message ?? "the worker pool failed" });
    return r;
  }

  /** Fails with WORKER_FAILED when the workers cannot build their detector. */
  get error(): ScannerError | undefined {
    return this.fatal;
  }

  private pump(): void {
    for (const s of this.slots) {
      if (!this.queue.length) return;
      // two jobs per worker: the next file is already there when one finishes
      while (s.ready && s.jobs.length < 2 && this.queue.length) {
        const job = this.queue.shift()!;
        s.jobs.push(job);
        const transfer = "bytes" in job.task ? [job.task.bytes.buffer as ArrayBuffer] : [];
        s.worker.postMessage(job.task, transfer);
      }
    }
  }

  get idle(): boolean {
    return this.queue.length === 0 && this.slots.every((s) => !s.jobs.length);
  }

  /** Number of tasks queued or running. */
  get pending(): number {
    return this.queue.length + this.slots.reduce((n, s) => n + s.jobs.length, 0);
  }

  scanPath(path: string, follow: boolean): Promise<FileResult> {
    return this.submit({ id: this.nextId++, path, follow }, path);
  }

  /** The buffer is transferred to the worker (detached here). */
  scanBytes(bytes: Uint8Array, name: string): Promise<FileResult> {
    return this.submit({ id: this.nextId++, bytes, name }, name);
  }

  private submit(task: WorkerTask, label: string): Promise<FileResult> {
    if (this.fatal) return Promise.resolve(this.failed(label));
    if (this.closed) return Promise.resolve(this.failed(label));
    return new Promise((resolve) => {
      this.queue.push({ task, resolve, label });
      this.pump();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.failAll();
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots.length = 0;
  }
}
