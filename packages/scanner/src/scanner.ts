/**
 * The Scanner: walks the given paths, skips files the cache knows are clean, scans the rest
 * on the worker pool (or in-process with jobs: 0), and yields one event per file, directory
 * or skipped entry as results arrive (not in walk order). Walk errors (unreadable, vanished,
 * loops) come out as file results carrying errors, so every report handles them alike.
 */
import { ReadBuffer, scanBytes, scanFile } from "./file.js";
import { emptyResult, scanContent, type ContentOptions } from "./content.js";
import { WorkerPool, defaultJobs } from "./pool.js";
import { walk, type WalkOptions } from "./walk.js";
import { DEFAULT_LIMITS, type Detector, type DetectorSpec, type FileResult, type Limits } from "./types.js";
import type { ScanCache } from "./cache.js";
import { ScannerError } from "./error.js";
import { CONTAINER_FORMATS } from "./archive/index.js";

export interface ScannerOptions {
  detector: Detector;
  /** How workers rebuild the detector; without it scanning happens in-process. */
  spec?: DetectorSpec;
  /** Worker threads (default one per core; 0 scans in this thread). */
  jobs?: number;
  limits?: Partial<Limits>;
  alertExceedsMax?: boolean;
  alertBombs?: boolean;
  allMatch?: boolean;
  cache?: ScanCache;
  /**
   * Start the worker threads when the first file needs one (default false: at construction).
   * A tree of empty files then never starts them.
   */
  lazyWorkers?: boolean;
}

export type ScanEvent =
  | { type: "file"; result: FileResult }
  | { type: "dir"; path: string }
  | { type: "skipped"; path: string; reason: string };

export interface ScanRunOptions extends WalkOptions {
  /** Reads standard input for the path "-" (default process.stdin). */
  stdin?: AsyncIterable<Uint8Array>;
}

export async function readAllLimited(
  stream: AsyncIterable<Uint8Array>,
  limit: number,
): Promise<{ bytes: Uint8Array; truncated: boolean }> {
  const chunks: Uint8Array[] = [];
  let n = 0;
  let truncated = false;
  for await (const c of stream) {
    if (n + c.length > limit) {
      chunks.push(c.subarray(0, limit - n));
      n = limit;
      truncated = true;
      break;
    }
    chunks.push(c);
    n += c.length;
  }
  return { bytes: Buffer.concat(chunks, n), truncated };
}

const EMPTY = new Uint8Array(0);

export class Scanner {
  readonly limits: Limits;
  readonly content: ContentOptions;
  private workers?: WorkerPool;
  private readonly jobs: number;
  private closed = false;
  private readonly buffers = new ReadBuffer();

  constructor(private readonly opts: ScannerOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    for (const [k, v] of Object.entries(this.limits)) {
      if (!(typeof v === "number" && v >= 0))
        throw new ScannerError("BAD_OPTION", `limit ${k} must be a number >= 0 (got ${String(v)})`);
    }
    this.content = {
      limits: this.limits,
      alertExceedsMax: opts.alertExceedsMax,
      alertBombs: opts.alertBombs,
      allMatch: opts.allMatch,
    };
    this.jobs = opts.spec ? (opts.jobs ?? defaultJobs()) : 0;
    if (!opts.lazyWorkers) void this.pool;
  }

  /** The worker pool (started at the first use with lazyWorkers), or undefined to scan in this thread. */
  private get pool(): WorkerPool | undefined {
    if (!this.workers && this.jobs > 0 && !this.closed)
      this.workers = new WorkerPool(this.opts.spec!, this.content, this.jobs);
    return this.workers;
  }

  get detector(): Detector {
    return this.opts.detector;
  }

  /** A string identifying the rules and every setting that changes results (for the cache). */
  static cacheVersion(detector: Detector, content: ContentOptions): string {
    return JSON.stringify([
      detector.version,
      CONTAINER_FORMATS,
      content.limits,
      !!content.alertExceedsMax,
      content.alertBombs !== false,
      content.allMatch !== false,
    ]);
  }

  async scanFile(path: string, follow = true): Promise<FileResult> {
    if (this.pool) return this.pool.scanPath(path, follow);
    return scanFile(this.opts.detector, path, this.buffers, { ...this.content, follow });
  }

  /** Scans bytes in memory as one file; with a pool, `bytes` is transferred (detached). */
  async scanBuffer(bytes: Uint8Array, name: string): Promise<FileResult> {
    if (
      this.pool &&
      bytes.byteOffset === 0 &&
      bytes.byteLength === bytes.buffer.byteLength &&
      bytes.buffer instanceof ArrayBuffer
    ) {
      return this.pool.scanBytes(bytes, name);
    }
    return scanBytes(this.opts.detector, bytes, name, this.content);
  }

  async *scan(paths: string[], run: ScanRunOptions = {}): AsyncGenerator<ScanEvent> {
    const cache = this.opts.cache;
    const maxInFlight = this.jobs > 0 ? this.jobs * 32 : 4;
    const done: ScanEvent[] = [];
    let inFlight = 0;
    let wake: (() => void) | undefined;
    const settle = (r: FileResult) => {
      inFlight--;
      cache?.record(r);
      done.push({ type: "file", result: r });
      wake?.();
    };
    const waitOne = () =>
      new Promise<void>((res) => {
        wake = () => {
          wake = undefined;
          res();
        };
      });

    const roots = paths.filter((p) => p !== "-");
    if (paths.includes("-")) {
      const { bytes, truncated } = await readAllLimited(run.stdin ?? process.stdin, this.limits.maxFileSize + 1);
      let r: FileResult;
      if (truncated) {
        r = emptyResult("stdin", bytes.length);
        r.incomplete.push({
          reason: "max-filesize",
          path: "stdin",
          message: `standard input is over the ${this.limits.maxFileSize}-byte limit (--max-filesize); not scanned`,
        });
      } else r = await this.scanBuffer(bytes, "stdin");
      yield { type: "file", result: r };
    }
    const rootSet = new Set(roots);
    // the walk's lstat is cheap (synchronous) and lets empty files skip the open and the worker
    const statFiles = run.statFiles ?? true;
    for await (const entry of walk(roots, { ...run, statFiles })) {
      if (run.signal?.aborted) break;
      while (done.length) yield done.shift()!;
      if (entry.kind === "dir") {
        yield { type: "dir", path: entry.path };
        continue;
      }
      if (entry.kind === "skipped") {
        yield { type: "skipped", path: entry.path, reason: entry.reason };
        continue;
      }
      if (entry.kind === "error") {
        const r = emptyResult(entry.path, 0);
        r.errors.push({ code: entry.error.code, path: entry.path, message: entry.error.message });
        yield { type: "file", result: r };
        continue;
      }
      const st = entry.stat;
      if (st && cache?.isClean(st)) {
        const r = emptyResult(entry.path, st.size);
        r.cached = true;
        r.stat = { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, mode: st.mode };
        yield { type: "file", result: r };
        continue;
      }
      if (st && st.size === 0 && st.isFile()) {
        // nothing to read: only rules that need no strings can match, here, without a worker
        const r = emptyResult(entry.path, 0);
        r.stat = { dev: st.dev, ino: st.ino, size: 0, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, mode: st.mode };
        scanContent(this.opts.detector, EMPTY, r, this.content);
        cache?.record(r);
        yield { type: "file", result: r };
        continue;
      }
      inFlight++;
      void this.scanFile(entry.path, rootSet.has(entry.path)).then(settle);
      while (done.length) yield done.shift()!;
      while (inFlight >= maxInFlight) {
        await waitOne();
        while (done.length) yield done.shift()!;
      }
    }
    while (inFlight > 0 || done.length) {
      while (done.length) yield done.shift()!;
      if (inFlight > 0) await waitOne();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.workers?.close();
  }
}
