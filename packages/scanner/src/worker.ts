/**
 * The worker thread's side of the pool: it builds its own Detector from the DetectorSpec
 * (importing the spec's module and calling createDetector(init)), then scans the files or
 * byte buffers the pool sends it, one at a time, with one reused read buffer.
 */
import { parentPort, workerData } from "node:worker_threads";
import { ReadBuffer, scanBytes, scanFile, type FileScanOptions } from "./file.js";
import type { Detector, DetectorSpec, FileResult } from "./types.js";
import type { ContentOptions } from "./content.js";

export interface WorkerInit {
  spec: DetectorSpec;
  options: ContentOptions;
}

export type WorkerTask =
  | { id: number; path: string; follow: boolean }
  | { id: number; bytes: Uint8Array; name: string };

export type WorkerReply = { id: number; result: FileResult } | { id: -1; fatal: string } | { id: 0; ready: true };

async function main(): Promise<void> {
  const port = parentPort!;
  const init = workerData as WorkerInit;
  let detector: Detector;
  try {
    const mod = (await import(init.spec.module)) as { createDetector(init: unknown): Detector | Promise<Detector> };
    detector = await mod.createDetector(init.spec.init);
  } catch (err) {
    port.postMessage({
      id: -1,
      fatal: `could not build the detector in a worker: ${(err as Error)?.stack ?? String(err)}`,
    } satisfies WorkerReply);
    return;
  }
  const buffers = new ReadBuffer();
  port.on("message", (task: WorkerTask) => {
    let result: FileResult;
    if ("path" in task) {
      const opts: FileScanOptions = { ...init.options, follow: task.follow };
      result = scanFile(detector, task.path, buffers, opts);
    } else {
      result = scanBytes(detector, task.bytes, task.name, init.options);
    }
    port.postMessage({ id: task.id, result } satisfies WorkerReply);
  });
  port.postMessage({ id: 0, ready: true } satisfies WorkerReply);
}

void main();
