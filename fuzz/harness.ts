/**
 * The fuzzing loop: a seeded mutation fuzzer guided by V8's block coverage (inspector
 * Profiler.startPreciseCoverage, detailed). Every input runs through a target; an input that
 * reaches a block no earlier input reached joins the corpus and is mutated further. Anything a
 * target throws that is not one of its package's own error classes is a crash, as is an input
 * that runs past the per-input time limit (a hang) or pushes RSS over the cap.
 *
 * The loop is deterministic for a given seed, corpus and target code.
 */
import { Session } from "node:inspector";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** A full GC on demand (also inside a worker, where --expose-gc cannot be passed). */
function collectGarbage(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}

export interface Target {
  readonly name: string;
  /** what the target feeds (one line for the README and --list) */
  readonly about: string;
  /** the errors a bad input may raise: the package's own classes */
  readonly allowed: ReadonlyArray<abstract new (...a: never[]) => Error>;
  /** longest input the mutator produces */
  readonly maxLen: number;
  /** seed inputs (the committed corpus is made from these) */
  seeds(): Uint8Array[];
  /** tokens the mutator splices in (keywords, magic numbers) */
  readonly dictionary?: readonly string[];
  /** one-off set-up (servers, keys); called once before the first input */
  setup?(): Promise<void> | void;
  teardown?(): Promise<void> | void;
  run(data: Uint8Array): void | Promise<void>;
}

export interface Crash {
  kind: "crash" | "hang" | "memory";
  input: Uint8Array;
  message: string;
  stack: string;
}

/** Runs one input; returns a Crash for anything but success or an allowed error. */
export async function runOne(t: Target, data: Uint8Array, timeLimitMs: number): Promise<Crash | undefined> {
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const r = t.run(data);
    if (r instanceof Promise) {
      await Promise.race([
        r,
        new Promise((_, rej) => {
          timer = setTimeout(() => rej(new HangError(`no answer within ${timeLimitMs} ms`)), timeLimitMs);
        }),
      ]);
    }
  } catch (e) {
    if (e instanceof HangError) return { kind: "hang", input: data, message: e.message, stack: "" };
    if (!t.allowed.some((c) => e instanceof c)) {
      const err = e instanceof Error ? e : new Error(String(e));
      return {
        kind: "crash",
        input: data,
        message: `${err.name}: ${err.message}`.slice(0, 500),
        stack: err.stack ?? "",
      };
    }
  } finally {
    clearTimeout(timer);
  }
  const ms = performance.now() - t0;
  if (ms > timeLimitMs)
    return { kind: "hang", input: data, message: `took ${ms.toFixed(0)} ms (limit ${timeLimitMs} ms)`, stack: "" };
  return undefined;
}

class HangError extends Error {}

/** Block coverage of the Vigil packages, as a set of feature ids. */
export class Coverage {
  private readonly session = new Session();
  private readonly seen = new Set<string>();
  private readonly urls = new Map<string, boolean>();
  private readonly blocks = new Map<string, Array<[number, number]>>();

  constructor(private readonly include: RegExp = /\/packages\/[^/]+\/(src|dist)\//) {
    this.session.connect();
    this.post("Profiler.enable");
    this.post("Profiler.startPreciseCoverage", { callCount: false, detailed: true });
  }

  private post(method: string, params?: object): any {
    let out: any;
    let err: Error | null = null;
    this.session.post(method, params, (e, r) => {
      err = e;
      out = r;
    });
    if (err) throw err;
    return out;
  }

  /**
   * Takes (and resets) the coverage since the last call; returns how many new features it holds.
   * With commit false the features are not recorded as seen (a batch probe).
   */
  collect(commit = true): number {
    const { result } = this.post("Profiler.takePreciseCoverage") as {
      result: Array<{
        url: string;
        functions: Array<{ ranges: Array<{ startOffset: number; endOffset: number; count: number }> }>;
      }>;
    };
    let fresh = 0;
    for (const script of result) {
      let keep = this.urls.get(script.url);
      if (keep === undefined) {
        keep = this.include.test(script.url);
        this.urls.set(script.url, keep);
      }
      if (!keep) continue;
      for (const fn of script.functions) {
        const rs = fn.ranges;
        if (rs.length === 0 || rs[0]!.count === 0) continue;
        // V8 lists a function's nested block ranges only where their count differs from the
        // enclosing range's: a block is covered when the innermost listed range holding it ran.
        // The blocks of a function are learned from the takes where they did not run.
        const fk = `${script.url}:${rs[0]!.startOffset}`;
        let known = this.blocks.get(fk);
        if (!known) {
          known = [[rs[0]!.startOffset, rs[0]!.endOffset]];
          this.blocks.set(fk, known);
        }
        for (let i = 1; i < rs.length; i++) {
          const r = rs[i]!;
          if (!known.some((k) => k[0] === r.startOffset && k[1] === r.endOffset))
            known.push([r.startOffset, r.endOffset]);
        }
        for (const [a, b] of known) {
          let best = rs[0]!;
          for (let i = 1; i < rs.length; i++) {
            const r = rs[i]!;
            if (
              r.startOffset <= a &&
              b <= r.endOffset &&
              r.endOffset - r.startOffset <= best.endOffset - best.startOffset
            )
              best = r;
          }
          if (best.count === 0) continue;
          const id = `${fk}:${a}:${b}`;
          if (!this.seen.has(id)) {
            if (commit) this.seen.add(id);
            fresh++;
          }
        }
      }
    }
    return fresh;
  }

  get features(): number {
    return this.seen.size;
  }

  close(): void {
    try {
      this.post("Profiler.stopPreciseCoverage");
    } catch {
      /* closing */
    }
    this.session.disconnect();
  }
}

/** mulberry32: a small seeded generator (the loop must be reproducible). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INTERESTING = [
  0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 16, 32, 64, 100, 255, 256, 512,
  1000, 1024, 4096,
];

export class Mutator {
  private readonly dict: Buffer[];
  constructor(
    private readonly r: () => number,
    private readonly maxLen: number,
    dictionary: readonly string[] = [],
  ) {
    this.dict = dictionary.map((s) => Buffer.from(s, "latin1"));
  }

  private int(n: number): number {
    return Math.floor(this.r() * n);
  }

  /** One to a few stacked mutations of `input` (`other` is a corpus entry for crossover). */
  mutate(input: Uint8Array, other: Uint8Array): Uint8Array {
    let b: Buffer = Buffer.from(input);
    const n = 1 + this.int(4);
    for (let i = 0; i < n; i++) b = this.once(b, other);
    return b.length > this.maxLen ? b.subarray(0, this.maxLen) : b;
  }

  private once(b: Buffer, other: Uint8Array): Buffer {
    const len = b.length;
    const at = () => this.int(Math.max(1, len));
    switch (this.int(len === 0 ? 3 : 12)) {
      case 0: {
        // insert random bytes
        const k = 1 + this.int(8);
        const ins = Buffer.alloc(k);
        for (let i = 0; i < k; i++) ins[i] = this.int(256);
        const p = this.int(len + 1);
        return Buffer.concat([b.subarray(0, p), ins, b.subarray(p)]);
      }
      case 1: {
        // insert a dictionary token
        if (this.dict.length === 0) return this.once(b, other);
        const p = this.int(len + 1);
        return Buffer.concat([b.subarray(0, p), this.dict[this.int(this.dict.length)]!, b.subarray(p)]);
      }
      case 2: {
        // splice with another input
        const p = this.int(len + 1);
        const q = this.int(other.length + 1);
        return Buffer.concat([b.subarray(0, p), Buffer.from(other.subarray(q))]);
      }
      case 3: {
        const p = at();
        b[p] = b[p]! ^ (1 << this.int(8));
        return b;
      } // flip a bit
      case 4: {
        b[at()] = this.int(256);
        return b;
      } // random byte
      case 5: {
        const p = at();
        b[p] = (b[p]! + (this.int(33) - 16)) & 0xff;
        return b;
      } // arithmetic
      case 6: {
        // an interesting 8/16/32-bit value, either endianness
        const v = INTERESTING[this.int(INTERESTING.length)]!;
        const w = [1, 2, 4][this.int(3)]!;
        const p = this.int(Math.max(1, len - w + 1));
        for (let i = 0; i < w && p + i < len; i++) {
          const shift = this.r() < 0.5 ? i * 8 : (w - 1 - i) * 8;
          b[p + i] = (v >>> shift) & 0xff;
        }
        return b;
      }
      case 7: {
        // delete a range
        const p = at();
        const k = 1 + this.int(Math.min(64, len - p));
        return Buffer.concat([b.subarray(0, p), b.subarray(p + k)]);
      }
      case 8: {
        // duplicate a range
        const p = at();
        const k = 1 + this.int(Math.min(256, len - p));
        const reps = 1 + this.int(this.r() < 0.1 ? 64 : 3);
        const piece = b.subarray(p, p + k);
        return Buffer.concat([b.subarray(0, p), ...Array(reps).fill(piece), b.subarray(p)]);
      }
      case 9: {
        // copy a range over another place
        const p = at(),
          q = at();
        const k = 1 + this.int(Math.min(32, len - Math.max(p, q)));
        b.copy(b, q, p, p + k);
        return b;
      }
      case 10: {
        // overwrite with a dictionary token
        if (this.dict.length === 0) return this.once(b, other);
        const tok = this.dict[this.int(this.dict.length)]!;
        const p = at();
        tok.copy(b, p, 0, Math.min(tok.length, len - p));
        return b;
      }
      default: {
        // truncate
        return b.subarray(0, this.int(len + 1));
      }
    }
  }
}

export interface LoopOptions {
  runs?: number;
  timeS?: number;
  seed?: number;
  timeLimitMs?: number;
  rssCapMb?: number;
  /** extra starting inputs (the committed corpus) */
  corpus?: Uint8Array[];
  /**
   * take coverage (default true); without it the loop keeps no inputs. Pass a Coverage made
   * before the target's code was first run: V8 does not instrument functions compiled before
   * precise coverage started.
   */
  coverage?: boolean | Coverage;
  /** mutants per coverage probe (default 32) */
  batch?: number;
  /** stop at the first crash (default false: keep going, collecting distinct crashes) */
  stopOnCrash?: boolean;
  /** called before each input (the watchdog keeps the current input) */
  onInput?(data: Uint8Array, execs: number): void;
  onCrash?(c: Crash): void;
  /** called for each mutant kept for reaching new blocks (run.ts saves them for the next run) */
  onKeep?(data: Uint8Array): void;
  onStatus?(s: LoopStatus): void;
}

export interface LoopStatus {
  target: string;
  execs: number;
  seconds: number;
  execsPerSecond: number;
  corpus: number;
  features: number;
  crashes: number;
  peakRssMb: number;
  /**
   * JavaScript heap and array buffers in use after a full collection at the end of the run: what
   * the process really holds. Peak RSS grows with V8's lazy collection (a worker's old
   * generation is capped at the RSS cap) and RSS is not given back at once; a leak shows here.
   */
  liveHeapMb?: number;
}

/** Runs the loop; returns its figures and the distinct crashes (by first stack line). */
export async function fuzz(t: Target, o: LoopOptions): Promise<{ status: LoopStatus; crashes: Crash[] }> {
  const r = rng(o.seed ?? 1);
  const mut = new Mutator(r, t.maxLen, t.dictionary);
  const timeLimit = o.timeLimitMs ?? 2000;
  const rssCap = (o.rssCapMb ?? 1536) * 1024 * 1024;
  const cov = o.coverage === false ? undefined : o.coverage instanceof Coverage ? o.coverage : new Coverage();
  const corpus: Uint8Array[] = [];
  const crashes: Crash[] = [];
  const seenCrash = new Set<string>();
  let execs = 0;
  let peak = 0;
  let gc: (() => void) | undefined;
  const t0 = performance.now();
  const deadline = o.timeS !== undefined ? t0 + o.timeS * 1000 : Infinity;
  const maxRuns = o.runs ?? (o.timeS !== undefined ? Infinity : 1000);
  let lastStatus = t0;
  const status = (): LoopStatus => {
    const seconds = (performance.now() - t0) / 1000;
    return {
      target: t.name,
      execs,
      seconds,
      execsPerSecond: execs / Math.max(seconds, 1e-9),
      corpus: corpus.length,
      features: cov?.features ?? 0,
      crashes: crashes.length,
      peakRssMb: Math.round(peak / 1048576),
    };
  };
  /** Runs an input (counted unless it is a re-run); with `probe`, returns whether it reached new blocks. */
  const one = async (data: Uint8Array, probe = true, count = true): Promise<boolean> => {
    o.onInput?.(data, execs);
    let c = await runOne(t, data, timeLimit);
    if (count) execs++;
    const rss = process.memoryUsage.rss();
    if (rss > peak) peak = rss;
    if (!c && rss > rssCap) {
      // RSS over the cap counts only if a full collection does not bring it back under
      (gc ??= collectGarbage())();
      if (process.memoryUsage.rss() > rssCap)
        c = {
          kind: "memory",
          input: data,
          message: `RSS ${Math.round(rss / 1048576)} MB over the ${Math.round(rssCap / 1048576)} MB cap`,
          stack: "",
        };
    }
    if (c) {
      const key = c.kind + ":" + (c.stack.split("\n").slice(0, 3).join("|") || c.message.replace(/\d+/g, "N"));
      if (!seenCrash.has(key)) {
        seenCrash.add(key);
        crashes.push(c);
        o.onCrash?.(c);
      }
    }
    if (!probe) return false;
    const fresh = cov ? cov.collect() : 0;
    return fresh > 0 || !cov;
  };
  try {
    await t.setup?.();
    cov?.collect(); // set-up's own coverage is not the inputs'
    for (const s of [...t.seeds(), ...(o.corpus ?? [])]) {
      if (execs >= maxRuns || performance.now() >= deadline) break;
      if ((await one(s)) || corpus.length === 0) corpus.push(s);
      if (o.stopOnCrash && crashes.length) break;
    }
    if (corpus.length === 0) corpus.push(new Uint8Array(0));
    // Mutants run in batches with one coverage probe per batch (taking coverage costs more than
    // most inputs); a batch that reached something new is run again input by input to keep the
    // inputs that did.
    const batch = o.batch ?? 32;
    while (execs < maxRuns && performance.now() < deadline && !(o.stopOnCrash && crashes.length)) {
      const inputs: Uint8Array[] = [];
      for (let i = 0; i < batch && execs < maxRuns; i++) {
        // favour recent (newer coverage) entries a little
        const pick =
          corpus[
            r() < 0.3
              ? corpus.length - 1 - Math.floor(r() * Math.min(8, corpus.length))
              : Math.floor(r() * corpus.length)
          ]!;
        const other = corpus[Math.floor(r() * corpus.length)]!;
        const input = mut.mutate(pick, other);
        inputs.push(input);
        await one(input, false);
        if (o.stopOnCrash && crashes.length) break;
      }
      if (cov && cov.collect(false) > 0) {
        for (const input of inputs)
          if (await one(input, true, false)) {
            corpus.push(input);
            o.onKeep?.(input);
          }
      }
      // let the event loop turn: Node's sync zlib calls that fail leave their engine's buffers to
      // callbacks queued with process.nextTick, which a loop of awaits alone never runs (the
      // "leak" of the archive targets: ~10 KB per damaged deflate stream, freed here)
      await new Promise<void>((resolve) => setImmediate(resolve));
      const now = performance.now();
      if (o.onStatus && now - lastStatus > 5000) {
        lastStatus = now;
        o.onStatus(status());
      }
    }
  } finally {
    cov?.close();
    await t.teardown?.();
  }
  (gc ??= collectGarbage())();
  const m = process.memoryUsage();
  return { status: { ...status(), liveHeapMb: Math.round((m.heapUsed + m.arrayBuffers) / 1048576) }, crashes };
}

/**
 * Shrinks a crashing input: drops ever smaller ranges and simplifies bytes while the same kind
 * of failure (same first stack frame or message) still happens.
 */
export async function minimise(t: Target, c: Crash, timeLimitMs: number, budgetMs = 20_000): Promise<Uint8Array> {
  const sig = (x: Crash | undefined) =>
    x ? x.kind + ":" + (x.stack.split("\n")[1] ?? x.message.replace(/\d+/g, "N")) : "";
  const want = sig(c);
  const still = async (d: Uint8Array) => sig(await runOne(t, d, timeLimitMs)) === want;
  const end = performance.now() + budgetMs;
  let best = Buffer.from(c.input);
  for (let chunk = Math.max(1, best.length >> 1); chunk >= 1 && performance.now() < end; chunk >>= 1) {
    for (let i = 0; i < best.length && performance.now() < end; ) {
      const cand = Buffer.concat([best.subarray(0, i), best.subarray(i + chunk)]);
      if (await still(cand)) best = cand;
      else i += chunk;
    }
  }
  return best;
}
