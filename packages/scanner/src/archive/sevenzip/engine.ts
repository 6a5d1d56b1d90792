/**
 * Runs 7-Zip (`7z-wasm`) in a worker thread and waits for it synchronously, so a reader can stay
 * an ordinary iterator: the request goes on a MessagePort, the caller blocks on a shared flag
 * (Atomics.wait) with a time limit, and takes the reply with receiveMessageOnPort. A call that
 * passes the time limit terminates the worker (7-Zip's memory goes with it) and the next call
 * starts a new one; so does a worker that died. The worker is unref'd: it never keeps the
 * process alive.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from "node:worker_threads";
import { WORKER_SOURCE } from "./worker-source.js";

export interface SevenZipFile {
  path: string;
  data: Uint8Array;
}

export interface SevenZipReply {
  /** Output of `7z l -slt` (one string per line); null when the extraction was clean and 7-Zip was not asked to list. */
  list: string[] | null;
  /** Output of `7z x`. */
  log: string[];
  files: SevenZipFile[];
  /** Directories 7-Zip created (some formats list them without a folder attribute). */
  dirs: string[];
  /** The file whose writing passed the output cap (7-Zip stopped there). */
  over?: string;
  /** 7-Zip threw (its state is unknown), or has run long: the worker is replaced before the next call. */
  recycle?: boolean;
}

export class SevenZipFailure extends Error {
  constructor(
    readonly kind: "timeout" | "crashed" | "unavailable",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** How long one archive may take in 7-Zip before its worker is terminated (milliseconds). */
let timeoutMs = 30_000;
export function setSevenZipTimeout(ms: number): void {
  timeoutMs = ms;
}

interface Slot {
  worker: Worker;
  port: MessagePort;
  flag: Int32Array;
  dead: boolean;
}
let slot: Slot | undefined;

// the global WebAssembly object of Node (the project's type libraries leave it out)
declare const WebAssembly: { Module: new (bytes: Uint8Array) => object };

let compiled: { path: string; wasm: object } | undefined;

/** 7z-wasm's loader and its WebAssembly module, compiled once per thread and shared with each worker. */
function sevenZipModule(): { path: string; wasm: object } {
  if (!compiled) {
    const path = createRequire(import.meta.url).resolve("7z-wasm");
    const wasm = new WebAssembly.Module(readFileSync(join(dirname(path), "7zz.wasm")));
    compiled = { path, wasm };
  }
  return compiled;
}

function start(): Slot {
  const { port1, port2 } = new MessageChannel();
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const { path, wasm } = sevenZipModule();
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { port: port2, flag, modulePath: path, wasm },
    transferList: [port2],
    // plain JavaScript: no loader flags of the parent (a tsx loader inherited by a worker
    // started from a worker waits on the blocked parent and never starts)
    execArgv: [],
    // 7-Zip's own memory is WebAssembly memory (at most 2 GiB, freed with the worker); this bounds the JS side
    resourceLimits: { maxOldGenerationSizeMb: 512 },
    stdout: true,
    stderr: true,
  });
  worker.unref();
  port1.unref();
  const s: Slot = { worker, port: port1, flag, dead: false };
  worker.on("error", () => (s.dead = true));
  worker.on("exit", () => (s.dead = true));
  return s;
}

function stop(s: Slot): void {
  s.dead = true;
  void s.worker.terminate().catch(() => undefined);
  s.port.close();
  if (slot === s) slot = undefined;
}

/** Extracts `data` with 7-Zip's handler `type` (7z, Rar, Cab, ...), at most `cap` bytes written. */
export function runSevenZip(data: Uint8Array, type: string, cap: number): SevenZipReply {
  if (!slot || slot.dead) slot = start();
  const s = slot;
  Atomics.store(s.flag, 0, 0);
  s.port.postMessage({ data, type, cap, password: "vigil-no-password" });
  // the worker posts its reply, then sets the flag and notifies. The flag is what counts: a wake-up
  // can be the late notify of the previous call (its store seen, its notify not yet sent).
  // A worker that dies without answering (its JS heap limit) is seen as a timeout: its exit
  // event cannot be delivered while this thread waits.
  const deadline = Date.now() + timeoutMs;
  while (Atomics.load(s.flag, 0) === 0) {
    const left = deadline - Date.now();
    if (left <= 0) {
      stop(s);
      throw new SevenZipFailure("timeout", `7-Zip took longer than ${timeoutMs} ms on this archive; stopped`);
    }
    Atomics.wait(s.flag, 0, 0, left);
  }
  const got = receiveMessageOnPort(s.port);
  if (!got) {
    stop(s);
    throw new SevenZipFailure("crashed", "the 7-Zip worker answered nothing");
  }
  return check(got.message);
}

function check(reply: SevenZipReply | { failed: string }): SevenZipReply {
  if ("failed" in reply) {
    if (slot) stop(slot);
    throw new SevenZipFailure("crashed", `7-Zip failed: ${reply.failed.split("\n")[0]}`);
  }
  if (reply.recycle && slot) stop(slot);
  return reply;
}
