/**
 * On-access scanning: a Watcher reports file system changes under the watched paths; each
 * file is scanned once its writes have settled (no event for `settleMs` and the same size and
 * mtime on two looks), with the same Scanner, actions and reports as `vigil scan`. Besides
 * scan results, the session runs a ransomware heuristic: when, within `windowMs`, at least
 * `minFiles` files in the tree are rewritten from low-entropy to high-entropy content (or a
 * low-entropy file is deleted and a high-entropy file appears beside it), it raises one alert
 * listing the paths and entropy before and after. The session survives directories being
 * created, renamed and deleted under it (the Watcher follows the tree).
 */
import { openSync, readSync, closeSync, statSync, lstatSync, readdirSync, constants } from "node:fs";
import { basename, dirname, join } from "node:path";
import { watch as chokidarWatch, type FSWatcher } from "chokidar";
import { entropy } from "./entropy.js";
import { fsPath, pathFromBytes } from "./bytepath.js";
import { pathFilter, type PathFilterSpec } from "./filter.js";
import { walk } from "./walk.js";
import type { Scanner } from "./scanner.js";
import type { FileResult } from "./types.js";

export type WatchChange = { type: "add" | "change" | "unlink" | "addDir" | "unlinkDir"; path: string };

/** What the session needs from a file system watcher (chokidar or another implementation). */
export interface Watcher {
  onChange(fn: (c: WatchChange) => void): void;
  onError(fn: (err: Error) => void): void;
  /** Resolves when the initial tree has been indexed. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

export function chokidarWatcher(
  paths: string[],
  opts: { followSymlinks?: boolean; ignored?: (p: string) => boolean } = {},
): Watcher {
  const w: FSWatcher = chokidarWatch(paths, {
    ignoreInitial: true,
    followSymlinks: !!opts.followSymlinks,
    ignorePermissionErrors: true,
    atomic: false,
    ...(opts.ignored ? { ignored: opts.ignored } : {}),
  });
  const ready = new Promise<void>((res) => w.once("ready", () => res()));
  return {
    onChange(fn) {
      for (const type of ["add", "change", "unlink", "addDir", "unlinkDir"] as const)
        w.on(type, (path: string) => fn({ type, path }));
      // chokidar drops a name that is not valid UTF-8 (it cannot stat the U+FFFD form it reads);
      // the raw fs.watch event still names the file: passed on, the session finds its bytes
      w.on("raw", (event: string, name: string, opts: unknown) => {
        const details = opts as { watchedPath?: string } | undefined;
        if (typeof name === "string" && name.includes("\uFFFD") && details?.watchedPath) {
          fn({ type: event === "rename" ? "add" : "change", path: join(details.watchedPath, name) });
        }
      });
    },
    onError(fn) {
      w.on("error", (e) => fn(e instanceof Error ? e : new Error(String(e))));
    },
    ready: () => ready,
    close: () => w.close(),
  };
}

/**
 * The real paths behind a path a watcher reported. chokidar reads names as UTF-8, so a name that
 * is not valid UTF-8 reaches us with U+FFFD in place of its bytes and cannot be opened: such a
 * path is looked up again in its directory, read as bytes (every name that decodes to it).
 */
function byteNames(path: string): string[] {
  if (!path.includes("\uFFFD")) return [path];
  try {
    lstatSync(fsPath(path));
    return [path];
  } catch {
    /* lossy: look it up */
  }
  const name = basename(path);
  const out: string[] = [];
  for (const dir of byteNames(dirname(path))) {
    let names: Buffer[];
    try {
      names = readdirSync(fsPath(dir), { encoding: "buffer" });
    } catch {
      continue;
    }
    for (const n of names) if (n.toString("utf8") === name) out.push(join(dir, pathFromBytes(n)));
  }
  return out;
}

export interface RansomwareOptions {
  windowMs: number;
  minFiles: number;
  /** entropy (bits/byte) at or above which content counts as encrypted/compressed */
  high: number;
  /** entropy below which the earlier content counts as ordinary */
  low: number;
}

export const DEFAULT_RANSOMWARE: RansomwareOptions = { windowMs: 10_000, minFiles: 10, high: 7.5, low: 6.0 };

export interface RansomwareEvidence {
  path: string;
  entropyBefore: number;
  entropyAfter: number;
  kind: "rewritten" | "replaced";
  replaced?: string;
}

export type WatchEvent =
  | { type: "ready"; time: string; paths: string[]; baselineFiles: number }
  | { type: "result"; time: string; result: FileResult; trigger: WatchChange["type"] }
  | {
      type: "ransomware";
      time: string;
      name: "Vigil.Heuristic.Ransomware.MassEncryption";
      windowMs: number;
      files: number;
      evidence: RansomwareEvidence[];
    }
  | { type: "watch-error"; time: string; message: string };

export interface WatchOptions extends PathFilterSpec {
  settleMs?: number;
  /** A file that never stops changing (a growing log) is scanned anyway after this long (default 30 s). */
  maxWaitMs?: number;
  ransomware?: Partial<RansomwareOptions> | false;
  /** Files whose entropy is recorded at start (bounded baseline; later scans update it). */
  baselineFiles?: number;
  followSymlinks?: boolean;
  watcher?: Watcher;
}

function sampleEntropy(path: string): number | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(fsPath(path), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const buf = Buffer.allocUnsafe(65536);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return entropy(buf.subarray(0, n));
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export class WatchSession {
  private readonly watcher: Watcher;
  private readonly settleMs: number;
  private readonly rw?: RansomwareOptions;
  private readonly pending = new Map<
    string,
    { timer: NodeJS.Timeout; trigger: WatchChange["type"]; size: number; mtimeMs: number; since: number }
  >();
  private readonly entropyOf = new Map<string, number>();
  private readonly recentUnlinks: { path: string; dir: string; entropy: number; at: number }[] = [];
  private evidence: (RansomwareEvidence & { at: number })[] = [];
  private lastAlert = 0;
  private inFlight = 0;
  private closed = false;
  private readonly filter;

  constructor(
    private readonly scanner: Scanner,
    private readonly paths: string[],
    private readonly emit: (e: WatchEvent) => void,
    private readonly opts: WatchOptions = {},
  ) {
    this.settleMs = opts.settleMs ?? 500;
    this.rw = opts.ransomware === false ? undefined : { ...DEFAULT_RANSOMWARE, ...opts.ransomware };
    this.filter = pathFilter(opts);
    this.watcher =
      opts.watcher ??
      chokidarWatcher(paths, { followSymlinks: opts.followSymlinks, ignored: (p) => this.filter.excluded(p) });
  }

  async start(): Promise<void> {
    this.watcher.onChange((c) => this.onChange(c));
    this.watcher.onError((e) => this.emit({ type: "watch-error", time: new Date().toISOString(), message: e.message }));
    let baseline = 0;
    if (this.rw) {
      const max = this.opts.baselineFiles ?? 20_000;
      for await (const e of walk(this.paths, { ...this.opts, followSymlinks: this.opts.followSymlinks })) {
        if (e.kind !== "file") continue;
        if (baseline >= max) break;
        const h = sampleEntropy(e.path);
        if (h !== undefined) {
          this.entropyOf.set(e.path, h);
          baseline++;
        }
      }
    }
    await this.watcher.ready();
    this.emit({ type: "ready", time: new Date().toISOString(), paths: this.paths, baselineFiles: baseline });
  }

  private onChange(c: WatchChange): void {
    if (this.closed) return;
    if (c.type === "unlink") {
      this.cancel(c.path);
      const h = this.entropyOf.get(c.path);
      this.entropyOf.delete(c.path);
      if (h !== undefined && this.rw) {
        this.recentUnlinks.push({ path: c.path, dir: dirname(c.path), entropy: h, at: Date.now() });
        if (this.recentUnlinks.length > 10_000) this.recentUnlinks.shift();
      }
      return;
    }
    if (c.type === "unlinkDir") {
      const prefix = c.path.endsWith("/") ? c.path : c.path + "/";
      for (const p of [...this.pending.keys()]) if (p.startsWith(prefix)) this.cancel(p);
      for (const p of [...this.entropyOf.keys()]) if (p.startsWith(prefix)) this.entropyOf.delete(p);
      return;
    }
    if (c.type === "addDir") return; // chokidar reports the files inside as "add"
    for (const path of byteNames(c.path)) if (this.filter.included(path)) this.schedule(path, c.type);
  }

  private cancel(path: string): void {
    const p = this.pending.get(path);
    if (p) {
      clearTimeout(p.timer);
      this.pending.delete(path);
    }
  }

  private schedule(path: string, trigger: WatchChange["type"]): void {
    const prev = this.pending.get(path);
    if (prev) {
      clearTimeout(prev.timer);
      if (Date.now() - prev.since >= (this.opts.maxWaitMs ?? 30_000)) {
        // changing for too long: scan it now rather than never
        prev.timer = setTimeout(() => this.settled(path), 0);
        prev.size = -2;
        return;
      }
    }
    let size = -1,
      mtimeMs = -1;
    try {
      const st = statSync(fsPath(path));
      size = st.size;
      mtimeMs = st.mtimeMs;
    } catch {
      /* vanished: the check below drops it */
    }
    const entry = {
      timer: setTimeout(() => this.settled(path), this.settleMs),
      trigger: prev?.trigger === "add" ? "add" : trigger,
      size,
      mtimeMs,
      since: prev?.since ?? Date.now(),
    };
    this.pending.set(path, entry);
  }

  private settled(path: string): void {
    const p = this.pending.get(path);
    if (!p || this.closed) return;
    let st;
    try {
      st = statSync(fsPath(path));
    } catch {
      this.pending.delete(path);
      return;
    }
    if ((st.size !== p.size || st.mtimeMs !== p.mtimeMs) && Date.now() - p.since < (this.opts.maxWaitMs ?? 30_000)) {
      // still being written: look again later
      p.size = st.size;
      p.mtimeMs = st.mtimeMs;
      p.timer = setTimeout(() => this.settled(path), this.settleMs);
      return;
    }
    this.pending.delete(path);
    if (!st.isFile()) return;
    this.inFlight++;
    void this.scanner.scanFile(path, false).then((result) => {
      this.inFlight--;
      if (this.closed) return;
      this.emit({ type: "result", time: new Date().toISOString(), result, trigger: p.trigger });
      if (this.rw) this.checkRansomware(path);
    });
  }

  private checkRansomware(path: string): void {
    const rw = this.rw!;
    const after = sampleEntropy(path);
    if (after === undefined) return;
    const before = this.entropyOf.get(path);
    this.entropyOf.set(path, after);
    const now = Date.now();
    let ev: RansomwareEvidence | undefined;
    if (after >= rw.high) {
      if (before !== undefined && before < rw.low)
        ev = { path, entropyBefore: before, entropyAfter: after, kind: "rewritten" };
      else if (before === undefined) {
        const dir = dirname(path);
        const i = this.recentUnlinks.findIndex((u) => u.dir === dir && now - u.at <= rw.windowMs && u.entropy < rw.low);
        if (i >= 0) {
          const u = this.recentUnlinks.splice(i, 1)[0]!;
          ev = { path, entropyBefore: u.entropy, entropyAfter: after, kind: "replaced", replaced: u.path };
        }
      }
    }
    this.evidence = this.evidence.filter((e) => now - e.at <= rw.windowMs);
    if (ev) this.evidence.push({ ...ev, at: now });
    if (this.evidence.length >= rw.minFiles && now - this.lastAlert > rw.windowMs) {
      this.lastAlert = now;
      const round = (x: number) => Math.round(x * 1000) / 1000;
      this.emit({
        type: "ransomware",
        time: new Date().toISOString(),
        name: "Vigil.Heuristic.Ransomware.MassEncryption",
        windowMs: rw.windowMs,
        files: this.evidence.length,
        evidence: this.evidence.map(({ at: _at, ...e }) => ({
          ...e,
          entropyBefore: round(e.entropyBefore),
          entropyAfter: round(e.entropyAfter),
        })),
      });
      this.evidence = [];
    }
  }

  /** Files waiting to settle or being scanned. */
  get busy(): number {
    return this.pending.size + this.inFlight;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
    await this.watcher.close();
  }
}
