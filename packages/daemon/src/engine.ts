/**
 * The rules the daemon scans with, and the scan slots. `Engines` holds the current Scanner
 * (built from a SignatureOptions by `load`); every scan takes a lease on the Scanner current
 * when it starts and releases it when it ends, so `reload` can swap in new rules at any time:
 * scans in flight finish on the old Scanner, which is closed when its last lease ends.
 * `Slots` bounds concurrent scans (MaxThreads) and waiting ones (MaxQueue).
 */
import { Scanner, buildSignatures, type SignatureOptions, type Limits } from "@vigil/scanner";
import { DaemonError } from "./error.js";

export interface EngineOptions {
  signatures: SignatureOptions;
  /** Worker threads for scanning (0: scan in the daemon's thread). */
  jobs?: number;
  limits?: Partial<Limits>;
  alertExceedsMax?: boolean;
}

export interface Generation {
  scanner: Scanner;
  version: string;
  signatures: number;
  loadedAt: Date;
  leases: number;
  retired: boolean;
}

export interface Lease {
  readonly generation: Generation;
  release(): void;
}

export class Engines {
  private current: Generation;
  private reloading?: Promise<Generation>;
  reloads = 0;

  constructor(private readonly opts: EngineOptions, private readonly build: (o: SignatureOptions) => ReturnType<typeof buildSignatures> = buildSignatures) {
    this.current = this.load();
  }

  private load(): Generation {
    let setup;
    try {
      setup = this.build(this.opts.signatures);
    } catch (err) {
      throw new DaemonError("RELOAD_FAILED", `cannot load the rules: ${(err as Error).message} (fix the rule files; the daemon keeps the rules it had)`, err);
    }
    const scanner = new Scanner({ detector: setup.detector, spec: setup.spec, jobs: this.opts.jobs, limits: this.opts.limits, alertExceedsMax: this.opts.alertExceedsMax });
    return { scanner, version: setup.detector.version, signatures: setup.signatures, loadedAt: new Date(), leases: 0, retired: false };
  }

  get generation(): Generation {
    return this.current;
  }

  lease(): Lease {
    const g = this.current;
    g.leases++;
    let done = false;
    return {
      generation: g,
      release: () => {
        if (done) return;
        done = true;
        g.leases--;
        if (g.retired && g.leases === 0) void g.scanner.close();
      },
    };
  }

  /**
   * Loads the rules again and swaps them in; concurrent calls share one reload. On failure the
   * old rules stay and the error is thrown.
   */
  reload(): Promise<Generation> {
    if (this.reloading) return this.reloading;
    this.reloading = new Promise<Generation>((resolve, reject) => {
      // next macrotask: the RELOADING reply goes out before the (synchronous) compile
      setImmediate(() => {
        try {
          const next = this.load();
          const old = this.current;
          this.current = next;
          this.reloads++;
          old.retired = true;
          if (old.leases === 0) void old.scanner.close();
          resolve(next);
        } catch (err) {
          reject(err);
        }
      });
    }).finally(() => { this.reloading = undefined; });
    return this.reloading;
  }

  async close(): Promise<void> {
    this.current.retired = true;
    await this.current.scanner.close();
  }
}

/** MaxThreads running, MaxQueue waiting; beyond that `tryAcquire` says no. */
export class Slots {
  running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly maxThreads: number, readonly maxQueue: number) {}

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
  return () => { if (!done) { done = true; f(); } };
}
