/**
 * A helper thread for big loads into a `HashStoreBuilder`: it prefaults the shared staging
 * buffers while the parser fills them, then takes half of the `finish()` work.
 *
 * Why: a large hash store is written into a few hundred MB of new memory, and on virtual
 * machines the first touch of each page is expensive (measured: 3 to 4 ms of CPU per MB, about
 * as much as parsing the text); done on another core it overlaps with parsing. The helper writes
 * with `Atomics.add(view, i, 0)`, which faults the page in for writing but never changes a value,
 * so it may run ahead of, alongside or behind the parser without coordination. Pages are touched
 * in rounds (page k of every region, then page k+1), matching the parser, which fills all
 * first-byte parts at about the same pace.
 *
 * At `finish()` the parts still in the shared buffers are "jobs" that both threads take, one at a
 * time, through a shared state per job (0 free, 1 taken, 2 done), running the same `freezePart`
 * function (sent as source text: it uses no outside names). The main thread takes whatever the
 * helper has not, so a helper that is slow, busy or gone only costs the parallelism; the main
 * thread only waits for jobs the helper has actually taken.
 */

import { Worker } from "node:worker_threads";
import { ClamavError } from "../../error.js";

/** Bytes `from` to `to` of a buffer, to touch. */
export interface PrefaultRegion {
  buffer: SharedArrayBuffer;
  from: number;
  to: number;
}

/** The shared column buffers of a staging area (names 16- or 32-bit). */
export interface StagingBuffers {
  keys: SharedArrayBuffer;
  second: SharedArrayBuffer;
  rest: SharedArrayBuffer;
  sizes: SharedArrayBuffer;
  names: SharedArrayBuffer;
  /** rest bytes per entry. */
  R: number;
  /** name index width in bytes. */
  width: 2 | 4;
}

/** One part to put in bucket order: its place in the buffers (entry index `at`), entry count, first bucket and first entry index. */
export interface FreezeJob {
  at: number;
  m: number;
  b0: number;
  base: number;
}

const PAGE = 4096;
/** how long finish() waits for the jobs the helper has taken. */
const STALL_MS = 60_000;

const SOURCE = `
const { workerData, parentPort } = require("node:worker_threads");
globalThis.__name = (f) => f; // in case a transpiler named functions inside the kernel
const { regions, buffers: B, kernel } = workerData;
const views = regions.map((r) => new Uint8Array(r.buffer));
let max = 0;
for (const r of regions) max = Math.max(max, r.to - r.from);
for (let o = 0; o < max; o += ${PAGE}) {
  for (let k = 0; k < regions.length; k++) {
    const i = regions[k].from + o;
    if (i < regions[k].to) Atomics.add(views[k], i, 0);
  }
}
const freezePart = new Function("return (" + kernel + ")")();
parentPort.on("message", (msg) => {
  const { jobs, state, bucketStart: bs, shift, perPart, largest } = msg;
  const J = new Float64Array(jobs);
  const st = new Int32Array(state);
  const bucketStart = new Uint32Array(bs);
  const R = B.R;
  const wide = B.width === 4;
  const pos = new Uint32Array(perPart);
  const sk = new Uint32Array(largest);
  const sr = new Uint16Array((largest * R) >>> 1);
  const ss = new Uint32Array(largest);
  const sn = wide ? new Uint32Array(largest) : new Uint16Array(largest);
  for (let k = 0; k < st.length; k++) {
    if (Atomics.compareExchange(st, k, 0, 1) !== 0) continue;
    const at = J[4 * k], m = J[4 * k + 1], b0 = J[4 * k + 2], base = J[4 * k + 3];
    try {
      freezePart(new Uint32Array(B.keys, at * 4, m), new Uint8Array(B.second, at, m), new Uint8Array(B.rest, at * R, m * R), new Uint32Array(B.sizes, at * 4, m),
        wide ? new Uint32Array(B.names, at * 4, m) : new Uint16Array(B.names, at * 2, m), m, R, shift, perPart, bucketStart, b0, base, pos, sk, sr, ss, sn, true);
      Atomics.store(st, k, 2);
    } catch {
      Atomics.store(st, k, 0); // give it back (the kernel changes nothing before its final copy)
    }
    Atomics.notify(st, k);
  }
});
`;

/** The helper of one staging area. */
export class StagingHelper {
  private worker: Worker | undefined;

  private constructor(readonly buffers: StagingBuffers) {}

  /** Starts prefaulting the regions; `kernel` is the source of `freezePart`. Never throws: without a thread, nothing changes. */
  static start(buffers: StagingBuffers, regions: PrefaultRegion[], kernel: string): StagingHelper {
    const h = new StagingHelper(buffers);
    try {
      h.worker = new Worker(SOURCE, {
        eval: true,
        execArgv: [],
        stdout: true,
        stderr: true,
        workerData: { regions, buffers, kernel },
      });
      h.worker.unref();
      h.worker.on("error", () => {
        h.worker = undefined;
      });
    } catch {
      h.worker = undefined;
    }
    return h;
  }

  /**
   * Runs `run(job)` for every job, sharing them with the helper thread (which runs `freezePart`
   * with the same arguments), and returns when all are done.
   */
  freeze(
    jobs: FreezeJob[],
    bucketStart: Uint32Array,
    shift: number,
    perPart: number,
    largest: number,
    run: (job: FreezeJob, index: number) => void,
  ): void {
    if (jobs.length === 0) return;
    const state = new Int32Array(new SharedArrayBuffer(4 * jobs.length));
    if (this.worker !== undefined && bucketStart.buffer instanceof SharedArrayBuffer) {
      const table = new Float64Array(new SharedArrayBuffer(32 * jobs.length));
      jobs.forEach((j, k) => table.set([j.at, j.m, j.b0, j.base], 4 * k));
      try {
        this.worker.postMessage({
          jobs: table.buffer,
          state: state.buffer,
          bucketStart: bucketStart.buffer,
          shift,
          perPart,
          largest,
        });
      } catch {
        // the helper is gone: every job stays free for this thread
      }
    }
    // take jobs from the front while the helper takes them in the same order; then wait for the ones it holds
    for (let k = 0; k < jobs.length; k++) {
      if (Atomics.compareExchange(state, k, 0, 1) !== 0) continue;
      run(jobs[k]!, k);
      Atomics.store(state, k, 2);
    }
    const deadline = Date.now() + STALL_MS;
    for (let k = 0; k < jobs.length; k++) {
      for (;;) {
        const s = Atomics.load(state, k);
        if (s === 2) break;
        if (s === 0 && Atomics.compareExchange(state, k, 0, 1) === 0) {
          run(jobs[k]!, k); // given back by the helper
          Atomics.store(state, k, 2);
          break;
        }
        // a job takes milliseconds; one held this long means the thread died in it, and its part may be half written
        if (Date.now() > deadline)
          throw new ClamavError(
            "SIGDB_THREAD",
            "the hash store's helper thread stopped in the middle of its work; load the signatures again",
          );
        Atomics.wait(state, k, 1, 50);
      }
    }
  }

  stop(): void {
    void this.worker?.terminate().catch(() => {});
    this.worker = undefined;
  }
}
