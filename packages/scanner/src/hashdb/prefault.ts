/**
 * Touches the pages of freshly allocated shared buffers from a helper thread, so that the
 * thread filling them (the text parser) seldom takes a page fault itself.
 *
 * Why: a large hash store is written into a few hundred MB of new memory, and on virtual
 * machines the first touch of each page is expensive (measured: 3 to 4 ms of CPU per MB, about
 * as much as parsing the text). Done on another core it overlaps with parsing. The helper writes
 * with `Atomics.add(view, i, 0)`, which faults the page in for writing but never changes a value,
 * so it may run ahead of, alongside or behind the parser without coordination. Pages are touched
 * in rounds (page k of every buffer, then page k+1), matching the parser, which fills all
 * first-byte parts at about the same pace. It is only an optimisation: if the thread cannot be
 * started, nothing else changes.
 */

import { Worker } from "node:worker_threads";

/** Bytes `from` to `to` of a buffer, to touch. */
export interface PrefaultRegion {
  buffer: SharedArrayBuffer;
  from: number;
  to: number;
}

const PAGE = 4096;

const SOURCE = `
const { workerData } = require("node:worker_threads");
const regions = workerData.regions;
const views = regions.map((r) => new Uint8Array(r.buffer));
let max = 0;
for (const r of regions) max = Math.max(max, r.to - r.from);
for (let o = 0; o < max; o += ${PAGE}) {
  for (let k = 0; k < regions.length; k++) {
    const i = regions[k].from + o;
    if (i < regions[k].to) Atomics.add(views[k], i, 0);
  }
}
`;

/** Starts touching the regions in a helper thread; `stop()` ends it early (e.g. when the builder finishes). */
export function prefault(regions: PrefaultRegion[]): { stop(): void } {
  let worker: Worker | undefined;
  try {
    worker = new Worker(SOURCE, { eval: true, workerData: { regions }, execArgv: [], stdout: true, stderr: true });
    worker.unref();
    worker.on("error", () => {}); // an optimisation only: a failure changes nothing
  } catch {
    worker = undefined;
  }
  return {
    stop() {
      void worker?.terminate().catch(() => {});
      worker = undefined;
    },
  };
}
