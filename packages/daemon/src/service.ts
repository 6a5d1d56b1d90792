/**
 * What the clamd and HTTP front ends share: the rules (Engines), the scan slots (Slots), the
 * metrics, and the mapping from a scanner FileResult to clamd's reply lines.
 */
import type { FileResult, Scanner, WalkOptions } from "@vigil/scanner";
import { tmpdir } from "node:os";
import { Engines, Slots, type EngineOptions, type Lease } from "./engine.js";
import { Metrics, type Interface, type Verdict } from "./metrics.js";
import { VERSION } from "./version.js";

export const CLAMD_VERSION = "ClamAV 1.4.6";
/** The daemon package's version (its package.json). */
export const VIGIL_VERSION = VERSION;

export interface ServiceOptions extends EngineOptions {
  /** Concurrent scans (clamd MaxThreads, default 10). */
  maxThreads?: number;
  /** Scans waiting for a thread before new ones are refused (clamd MaxQueue, default 100). */
  maxQueue?: number;
  /**
   * Bytes of incoming streams held in memory across all connections (default 64 MiB), spool
   * writes in progress included; beyond it new stream bytes go to spool files.
   */
  memoryBudget?: number;
  /**
   * A stream (INSTREAM, HTTP body or part) larger than this goes to a spool file in `spoolDir`
   * and is scanned from there (default 1 MiB), so one connection holds at most about this much.
   */
  spoolThreshold?: number;
  /** Where spooled streams go (default the OS temp directory). */
  spoolDir?: string;
  /**
   * Inputs up to this size are scanned on the daemon's thread, not sent to a worker: for small
   * inputs the round trip costs more than the scan (default 64 KiB; 0 sends all to workers).
   */
  inlineMax?: number;
  /**
   * How SCAN/CONTSCAN/MULTISCAN/ALLMATCHSCAN walk a directory (clamd.conf ExcludePath,
   * FollowDirectorySymlinks/FollowFileSymlinks, CrossFilesystems, MaxDirectoryRecursion).
   */
  walk?: Pick<WalkOptions, "excludeRegex" | "followSymlinks" | "oneFileSystem" | "maxDepth">;
}

export class BusyError extends Error {
  constructor(readonly maxQueue: number) {
    super(`Server busy: MaxQueue (${maxQueue}) scans already waiting; retry later.`);
  }
}

export function verdictOf(r: FileResult): Verdict {
  if (r.detections.length) return "infected";
  if (r.errors.length) return "error";
  // a file not fully read is never clean
  if (r.incomplete.length) return "incomplete";
  return "clean";
}

/** clamd's wording for a scanner error code. */
function errorText(r: FileResult): string {
  const e = r.errors[0]!;
  switch (e.code) {
    case "ACCESS_DENIED":
      return "Access denied.";
    case "VANISHED":
    case "ENOENT_PATH":
      return "File path check failure: No such file or directory.";
    case "NOT_SUPPORTED":
      return "Not supported file type";
    default: {
      // the scanner's messages start with the path; clamd puts the path in front itself
      const msg = e.message.startsWith(`${e.path}: `) ? e.message.slice(e.path.length + 2) : e.message;
      return msg.replace(/[\0\n\r]/g, " ");
    }
  }
}

/**
 * The clamd reply lines for one scanned file, named `name`: `NAME: SIG FOUND` (the first
 * detection, or every one with allMatch), `NAME: OK`, or `NAME: reason ERROR`. A file not fully
 * scanned (a limit, encryption, damage, a format not opened) is never OK: with nothing found it
 * is `NAME: Not fully scanned (REASON): [MEMBER: ]MESSAGE ERROR` (alertExceedsMax makes limits
 * detections instead, as clamd does).
 */
export function replyLines(r: FileResult, name: string, allMatch = false): string[] {
  if (r.detections.length) {
    const ds = allMatch ? r.detections : r.detections.slice(0, 1);
    const seen = new Set<string>();
    const out: string[] = [];
    for (const d of ds) {
      if (seen.has(d.name)) continue;
      seen.add(d.name);
      out.push(`${name}: ${d.name} FOUND`);
    }
    return out;
  }
  if (r.errors.length) return [`${name}: ${errorText(r)} ERROR`];
  if (r.incomplete.length) {
    // never OK for what was not read: clamd's only other answer is ERROR
    const i = r.incomplete[0]!;
    const msg = i.message;
    const member = i.path.startsWith(`${r.path}!`) ? `${i.path.slice(r.path.length + 1)}: ` : "";
    return [`${name}: Not fully scanned (${i.reason}): ${member}${msg} ERROR`.replace(/[\0\n\r]/g, " ")];
  }
  return [`${name}: OK`];
}

export class Service {
  readonly engines: Engines;
  readonly slots: Slots;
  readonly metrics = new Metrics();
  readonly memoryBudget: number;
  readonly spoolThreshold: number;
  readonly spoolDir: string;
  readonly inlineMax: number;
  private readonly walk: ServiceOptions["walk"];
  /** Stream bytes held in memory now (see memoryBudget). */
  buffered = 0;
  private budgetWaiters = new Set<() => void>();

  constructor(opts: ServiceOptions) {
    this.engines = new Engines(opts);
    this.slots = new Slots(opts.maxThreads ?? 10, opts.maxQueue ?? 100);
    this.memoryBudget = opts.memoryBudget ?? 64 * 1024 * 1024;
    this.spoolThreshold = opts.spoolThreshold ?? 1024 * 1024;
    this.spoolDir = opts.spoolDir ?? tmpdir();
    this.inlineMax = opts.inlineMax ?? 64 * 1024;
    this.walk = opts.walk;
  }

  /** Counts stream bytes entering (+) or leaving (-) memory; wakes waiters once under the budget. */
  account(delta: number): void {
    this.buffered += delta;
    if (delta < 0 && this.budgetWaiters.size && this.buffered <= this.memoryBudget) {
      const ws = [...this.budgetWaiters];
      this.budgetWaiters.clear();
      for (const w of ws) w();
    }
  }

  /** True while stream bytes in memory are over the budget (spooling streams should pause). */
  get overBudget(): boolean {
    return this.buffered > this.memoryBudget;
  }

  /** Calls `f` once the bytes in memory are back under the budget. */
  whenUnderBudget(f: () => void): void {
    if (!this.overBudget) f();
    else this.budgetWaiters.add(f);
  }

  /** "ClamAV 1.4.6/Vigil 0.1.0/<rules version>", the VERSION reply. */
  get version(): string {
    return `${CLAMD_VERSION}/Vigil ${VIGIL_VERSION}/${this.engines.generation.version}`;
  }

  /** Throws BusyError when MaxQueue scans are already waiting (checked before receiving a stream). */
  admit(): void {
    if (this.slots.running >= this.slots.maxThreads && this.slots.queued >= this.slots.maxQueue) {
      this.metrics.rejected++;
      throw new BusyError(this.slots.maxQueue);
    }
  }

  /** Takes a scan slot (running, or waiting in the queue), or throws BusyError when the queue is full. */
  reserve(): Promise<() => void> {
    const p = this.slots.tryAcquire();
    if (!p) {
      this.metrics.rejected++;
      throw new BusyError(this.slots.maxQueue);
    }
    return p;
  }

  /** Runs `f` on the inline scanner for small inputs, else on the worker pool. */
  private route<T>(lease: Lease, size: number, f: (s: Scanner) => Promise<T>): Promise<T> {
    const g = lease.generation;
    return size <= this.inlineMax || !g.threaded ? f(g.inline) : g.withPool(f);
  }

  /** Scans bytes as one file on the current rules, in a slot already reserved. */
  async scanBytes(
    bytes: Uint8Array,
    name: string,
    iface: Interface,
    slot: Promise<() => void>,
  ): Promise<{ result: FileResult; seconds: number; version: string }> {
    const release = await slot;
    const lease = this.engines.lease();
    const t0 = performance.now();
    try {
      const size = bytes.length;
      const result = await this.route(lease, size, (s) => s.scanBuffer(bytes, name));
      const seconds = (performance.now() - t0) / 1000;
      this.metrics.record(iface, verdictOf(result), size, result.detections.length, seconds);
      return { result, seconds, version: lease.generation.version };
    } finally {
      lease.release();
      release();
    }
  }

  /** Scans a spooled stream file of `size` bytes, reported as `name`. */
  async scanSpooled(
    path: string,
    size: number,
    name: string,
    iface: Interface,
    slot: Promise<() => void>,
  ): Promise<{ result: FileResult; seconds: number; version: string }> {
    const release = await slot;
    const lease = this.engines.lease();
    const t0 = performance.now();
    try {
      const r = await this.route(lease, size, (s) => s.scanFile(path, false));
      const rename = (p: string) => (p.startsWith(path) ? name + p.slice(path.length) : p);
      const result: FileResult = {
        ...r,
        path: name,
        detections: r.detections.map((d) => ({ ...d, path: rename(d.path) })),
        incomplete: r.incomplete.map((x) => ({
          ...x,
          path: rename(x.path),
          message: x.message.split(path).join(name),
        })),
        errors: r.errors.map((e) => ({ ...e, path: rename(e.path), message: e.message.split(path).join(name) })),
      };
      delete result.stat;
      const seconds = (performance.now() - t0) / 1000;
      this.metrics.record(iface, verdictOf(result), result.size, result.detections.length, seconds);
      return { result, seconds, version: lease.generation.version };
    } finally {
      lease.release();
      release();
    }
  }

  /** Scans a file or a directory tree; `onFile` gets each file's result; false stops the walk. */
  async scanPath(path: string, slot: Promise<() => void>, onFile: (r: FileResult) => boolean | void): Promise<void> {
    const release = await slot;
    const lease = this.engines.lease();
    try {
      const g = lease.generation;
      const walk = async (scanner: Scanner) => {
        for await (const ev of scanner.scan([path], this.walk ?? {})) {
          if (ev.type === "skipped" && ev.reason === "special") {
            // a fifo, socket or device: clamd's "Not supported file type"
            onFile({
              path: ev.path,
              size: 0,
              scannedBytes: 0,
              detections: [],
              incomplete: [],
              errors: [{ code: "NOT_SUPPORTED", path: ev.path, message: "Not supported file type" }],
            });
            continue;
          }
          if (ev.type !== "file") continue;
          const r = ev.result;
          this.metrics.record("clamd", verdictOf(r), r.size, r.detections.length, 0);
          if (onFile(r) === false) break;
        }
      };
      await (g.threaded ? g.withPool(walk) : walk(g.inline));
    } finally {
      lease.release();
      release();
    }
  }
}
