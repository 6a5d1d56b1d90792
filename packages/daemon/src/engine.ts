/**
 * The rules the daemon scans with, and the scan slots. `Engines` holds the current
 * Generation (one compiled rule set and the scanners using it); every scan takes a lease on
 * the Generation current when it starts and releases it when it ends, so `reload` can swap in
 * new rules at any time: scans in flight finish on the old Generation, which is closed when its
 * last lease ends. `Slots` bounds concurrent scans (MaxThreads) and waiting ones (MaxQueue).
 *
 * Memory: rules are compiled in a short-lived child process (./compile.ts), so the compiler's
 * garbage never grows the daemon's own memory and a RELOAD does not stall the connections; the
 * daemon's thread keeps only the loaded detector (for small scans, see Service.inlineMax).
 * Scan threads for larger inputs start one at a time as the load needs them (up to `jobs`)
 * and each exits after `workerIdleTimeout` without work (clamd's idle threads exit the same
 * way), so an idle daemon holds no scanning threads, heaps or read buffers. A directory scan
 * (SCAN, CONTSCAN, MULTISCAN) runs on one thread; concurrent commands spread over the threads.
 */
import {
  Scanner,
  defaultJobs,
  type Detector,
  type DetectorSpec,
  type Limits,
  type SignatureOptions,
  type SignatureSetup,
} from "@vigil/scanner";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { compileInChild } from "./compile.js";
import { DaemonError } from "./error.js";

export interface EngineOptions {
  signatures: SignatureOptions;
  /** Worker threads for scanning (0: scan in the daemon's thread). */
  jobs?: number;
  limits?: Partial<Limits>;
  alertExceedsMax?: boolean;
  /** ms the worker pool may sit unused before its threads exit (default 30 s; 0: never). */
  workerIdleTimeout?: number;
}

/** Builds a rule set in this thread (tests, embedders); without one, rules compile in a child process. */
export type BuildSignatures = (o: SignatureOptions) => SignatureSetup;

export interface Lease {
  readonly generation: Generation;
  release(): void;
}

/** One loaded rule set: its in-thread scanner and its worker pool (started on demand). */
/** One scan thread: a single-worker Scanner and the scans it has now. */
interface Thread {
  scanner: Scanner;
  busy: number;
  idleTimer?: NodeJS.Timeout;
}

export class Generation {
  leases = 0;
  retired = false;
  readonly loadedAt = new Date();
  /** Scans in this thread (no worker round trip). */
  readonly inline: Scanner;
  private threads: Thread[] = [];
  private closed = false;
  private readonly jobs: number;

  constructor(
    readonly detector: Detector,
    readonly spec: DetectorSpec | undefined,
    readonly version: string,
    readonly signatures: number,
    private readonly opts: EngineOptions,
  ) {
    this.jobs = spec ? (opts.jobs ?? defaultJobs()) : 0;
    this.inline = new Scanner({ detector, jobs: 0, limits: opts.limits, alertExceedsMax: opts.alertExceedsMax });
  }

  /** True when scans can go to worker threads. */
  get threaded(): boolean {
    return this.jobs > 0;
  }

  /** Scan threads running now (0 at rest; up to `jobs` under load). */
  get workers(): number {
    return this.closed ? 0 : this.threads.length;
  }

  private startThread(): Thread {
    const t: Thread = {
      scanner: new Scanner({
        detector: this.detector,
        spec: this.spec,
        jobs: 1,
        limits: this.opts.limits,
        alertExceedsMax: this.opts.alertExceedsMax,
      }),
      busy: 0,
    };
    this.threads.push(t);
    return t;
  }

  /**
   * The least busy scan thread; a new one is started when every running thread has work and
   * fewer than `jobs` run, so one large upload at a time needs one thread, not `jobs`.
   */
  private pick(): Thread {
    let best: Thread | undefined;
    for (const t of this.threads) if (!best || t.busy < best.busy) best = t;
    if ((!best || best.busy > 0) && this.threads.length < this.jobs && !this.closed) best = this.startThread();
    return best!;
  }

  /** A worker-thread scanner (started now if none runs); the inline one when jobs is 0. */
  get scanner(): Scanner {
    if (!this.threaded || (this.closed && !this.threads.length)) return this.inline;
    return (this.threads[0] ?? this.startThread()).scanner;
  }

  /** Runs `f` on a scan thread, keeping that thread alive meanwhile. */
  async withPool<T>(f: (s: Scanner) => Promise<T>): Promise<T> {
    const t = this.pick();
    t.busy++;
    clearTimeout(t.idleTimer);
    try {
      return await f(t.scanner);
    } finally {
      if (--t.busy === 0) this.armIdle(t);
    }
  }

  private armIdle(t: Thread): void {
    const ms = this.opts.workerIdleTimeout ?? 30_000;
    if (!ms || this.closed) return;
    t.idleTimer = setTimeout(() => {
      if (t.busy || this.closed) return;
      this.threads = this.threads.filter((x) => x !== t);
      void t.scanner.close();
    }, ms);
    t.idleTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.threads) clearTimeout(t.idleTimer);
    await Promise.all(this.threads.map((t) => t.scanner.close()));
  }
}

export class Engines {
  private current?: Generation;
  private reloading?: Promise<Generation>;
  private again?: Promise<Generation>;
  /** Settles when the first rule set is loaded (rejects with RELOAD_FAILED if it cannot be). */
  readonly ready: Promise<void>;
  reloads = 0;

  constructor(
    private readonly opts: EngineOptions,
    private readonly build?: BuildSignatures,
  ) {
    if (build) {
      this.current = this.make(this.buildHere(build));
      this.ready = Promise.resolve();
    } else {
      this.ready = this.load().then((g) => {
        this.current = g;
      });
      this.ready.catch(() => {
        /* reported to whoever awaits ready (Daemon.start) */
      });
    }
  }

  private buildHere(build: BuildSignatures): SignatureSetup {
    try {
      return build(this.opts.signatures);
    } catch (err) {
      throw rulesFailed(err);
    }
  }

  private make(setup: SignatureSetup): Generation {
    return new Generation(setup.detector, setup.spec, setup.detector.version, setup.signatures, this.opts);
  }

  private async load(): Promise<Generation> {
    try {
      return this.make(this.build ? this.buildHere(this.build) : await compileInChild(this.opts.signatures));
    } catch (err) {
      throw rulesFailed(err);
    } finally {
      // the load's temporaries (pipe chunks, a failed load's arrays) are garbage now; see fullGc
      fullGc();
    }
  }

  /** The current rule set (only after `ready`). */
  get generation(): Generation {
    if (!this.current) throw new DaemonError("RELOAD_FAILED", "the rules are not loaded yet (await engines.ready)");
    return this.current;
  }

  lease(): Lease {
    const g = this.generation;
    g.leases++;
    let done = false;
    return {
      generation: g,
      release: () => {
        if (done) return;
        done = true;
        g.leases--;
        if (g.retired && g.leases === 0) void g.close().then(fullGc, () => {});
      },
    };
  }

  /**
   * Loads the rules again and swaps them in. A call while a reload runs gets one more reload
   * after it (the files may have changed since that one read them); further calls meanwhile
   * share that one. On failure the old rules stay and the error is thrown.
   */
  reload(): Promise<Generation> {
    if (this.reloading) {
      this.again ??= this.reloading
        .catch(() => {})
        .then(() => {
          this.again = undefined;
          return this.reload();
        });
      return this.again;
    }
    this.reloading = (async () => {
      await this.ready;
      // next macrotask: the RELOADING reply goes out before a build in this thread starts
      await new Promise((r) => setImmediate(r));
      const next = await this.load();
      const old = this.generation;
      this.current = next;
      this.reloads++;
      old.retired = true;
      if (old.leases === 0) void old.close().then(fullGc, () => {});
      return next;
    })().finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  async close(): Promise<void> {
    await this.ready.catch(() => {});
    if (!this.current) return;
    this.current.retired = true;
    await this.current.close();
  }
}

let collect: (() => void) | null | undefined;

/**
 * Runs a full garbage collection. After a (re)load the old rule set and the load's temporaries
 * can be hundreds of MB of garbage, and an idle daemon allocates too little for V8 ever to
 * run a full collection on its own, so the RSS would stay that high for good. Uses global.gc
 * when node runs with --expose-gc, else gets V8's gc function into a fresh context once
 * (the flag is switched off again so no other code sees a gc global); a no-op if neither works.
 */
export function fullGc(): void {
  if (collect === undefined) {
    const g = (globalThis as { gc?: unknown }).gc;
    if (typeof g === "function") collect = g as () => void;
    else {
      try {
        setFlagsFromString("--expose-gc");
        const f: unknown = runInNewContext("gc");
        collect = typeof f === "function" ? (f as () => void) : null;
        setFlagsFromString("--no-expose-gc");
      } catch {
        collect = null;
      }
    }
  }
  collect?.();
}

function rulesFailed(err: unknown): DaemonError {
  if (err instanceof DaemonError) return err;
  return new DaemonError(
    "RELOAD_FAILED",
    `cannot load the rules: ${(err as Error).message} (fix the rule files; the daemon keeps the rules it had)`,
    { cause: err },
  );
}

/** MaxThreads running, MaxQueue waiting; beyond that `tryAcquire` says no. */
export class Slots {
  running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    readonly maxThreads: number,
    readonly maxQueue: number,
  ) {}

  get queued(): number {
    return this.waiting.length;
  }

  /** A promise of a slot, or undefined when MaxThreads are busy and MaxQueue are waiting. */
  tryAcquire(): Promise<() => void> | undefined {
    const release = () => {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    };
    if (this.running < this.maxThreads) {
      this.running++;
      return Promise.resolve(once(release));
    }
    if (this.waiting.length >= this.maxQueue) return undefined;
    return new Promise((res) => this.waiting.push(() => res(once(release))));
  }
}

function once(f: () => void): () => void {
  let done = false;
  return () => {
    if (!done) {
      done = true;
      f();
    }
  };
}
