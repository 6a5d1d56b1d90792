/**
 * The scheduler behind `vigil agent run`: one loop that wakes at the earliest due time and runs
 * whatever is due, in this order: heartbeat (every policy.heartbeatSeconds; every minute at most
 * while the server does not answer) and the remote actions its answer carried, the scheduled scan, the inventory collection, sending the
 * outbox (soon after new events, again after a pause when sending failed), the update check
 * (an applied bundle restarts the watch session with the new rules; a changed checkpoint brings
 * the next heartbeat forward). The schedule, the scanned and watched paths and the action come
 * from agent.scanSettings() (the server's scan policy within the local scan ceiling); a new
 * policy that changes the watched paths restarts the watch session. Beside it runs the watch session, whose results are handled one
 * at a time and poke the loop when they queued something. A revoked key or a broken ledger
 * stops the loop (`run` rejects); everything else is logged and retried when next due.
 */
import { statSync } from "node:fs";
import type { Scanner, WatchEvent } from "@vigil/scanner";
import { WatchSession, fsPath } from "@vigil/scanner";
import type { Agent, LookupBudget } from "./agent.js";
import { isFatal } from "./error.js";

export interface RunOptions {
  /** Scan the configured paths at once, whatever the schedule. */
  scan?: boolean;
  /** Collect the inventory at once, whatever the schedule. */
  inventory?: boolean;
}

/** The longest the loop sleeps, so a changed clock or configuration is noticed. */
const MAX_SLEEP_MS = 60_000;

export class Scheduler {
  private wake: (() => void) | undefined;
  private flushWanted = true;
  private nextHeartbeat = 0;
  private nextFlush = 0;
  private forceScan: boolean;
  private forceInventory: boolean;
  private fatal: unknown;
  private watch: WatchSession | undefined;
  private watchScanner: Scanner | undefined;
  private watchQueue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly agent: Agent,
    private readonly signal: AbortSignal,
    o: RunOptions = {},
  ) {
    this.forceScan = !!o.scan;
    this.forceInventory = !!o.inventory;
  }

  private readonly poke = () => this.wake?.();

  /** Runs until the signal aborts; a revoked key or a broken ledger rejects. */
  async run(): Promise<void> {
    const { agent, signal } = this;
    signal.addEventListener("abort", this.poke);
    try {
      await this.restartWatch();
      while (!signal.aborted) {
        if (this.fatal) throw this.fatal;
        await this.heartbeatIfDue();
        if (!signal.aborted) await this.scanIfDue();
        if (!signal.aborted) await this.inventoryIfDue();
        await this.flushIfWanted();
        if (!signal.aborted) await this.updateIfDue();
        if (signal.aborted) break;
        await this.sleep(this.delay());
      }
      if (this.fatal) throw this.fatal;
    } finally {
      signal.removeEventListener("abort", this.poke);
      await this.stopWatch();
      agent.reputation.save();
      agent.saveState();
    }
  }

  private async heartbeatIfDue(): Promise<void> {
    const { agent } = this;
    if (agent.now() < this.nextHeartbeat) return;
    let ok = false;
    const watching = watchKey(agent);
    try {
      await agent.heartbeat();
      ok = true;
      // a new policy may watch other paths
      if (watchKey(agent) !== watching) await this.restartWatch();
    } catch (err) {
      if (isFatal(err)) throw err;
      agent.log("warn", `heartbeat: ${(err as Error).message}`);
    }
    const every = agent.policy.heartbeatSeconds * 1000;
    this.nextHeartbeat = agent.now() + (ok ? every : Math.min(every, 60_000));
    if (ok) this.wantFlush(0);
    if (ok && agent.actions.waiting()) {
      // remote actions the answer handed over: run them now, results sent at once
      try {
        const out = await agent.runActions(this.signal);
        if (out.some((o) => o.applied)) {
          await this.restartWatch(); // the new rules apply to watched files too
          this.nextHeartbeat = 0; // and the server learns the new rules version at once
        }
      } catch (err) {
        if (isFatal(err)) throw err;
        agent.log("error", `remote actions: ${(err as Error).message}`);
      }
    }
  }

  private async scanIfDue(): Promise<void> {
    const { agent } = this;
    const due = agent.nextScanAt();
    if (!this.forceScan && (due === null || due > agent.now())) return;
    try {
      await agent.scan(this.forceScan ? "manual" : "scheduled", this.signal);
    } catch (err) {
      if (isFatal(err)) throw err;
      agent.log("error", `scan: ${(err as Error).message}`);
      agent.state.lastScanAt = agent.now(); // do not retry a failing scan in a tight loop
      agent.saveState();
    }
    this.forceScan = false;
    this.flushWanted = true;
  }

  private async inventoryIfDue(): Promise<void> {
    const { agent } = this;
    const due = agent.nextInventoryAt();
    if (!this.forceInventory && (due === null || due > agent.now())) return;
    try {
      const r = await agent.collectInventory();
      if (r.skipped && this.forceInventory) agent.log("warn", `inventory not collected: ${r.skipped}`);
    } catch (err) {
      if (isFatal(err)) throw err;
      agent.log("error", `inventory: ${(err as Error).message}`);
    }
    this.forceInventory = false;
    this.wantFlush(0);
  }

  private async flushIfWanted(): Promise<void> {
    const { agent } = this;
    const now = agent.now();
    if (!this.flushWanted) return;
    if (!agent.outbox.pending()) {
      this.flushWanted = false;
      return;
    }
    if (now < this.nextFlush) return;
    const f = await agent.flush();
    if (f.stopped) {
      agent.log("warn", `sending paused: ${f.stopped} (${f.remaining} queued)`);
      this.nextFlush = now + Math.min(agent.policy.heartbeatSeconds * 1000, 60_000);
    } else {
      this.flushWanted = false;
      this.nextFlush = 0;
    }
  }

  private async updateIfDue(): Promise<void> {
    const { agent } = this;
    const due = agent.nextUpdateAt();
    if (due === null || due > agent.now()) return;
    const r = await agent.checkUpdates();
    if (r?.status === "applied") await this.restartWatch(); // the new rules apply to watched files too
    if (r?.changed) this.nextHeartbeat = 0;
  }

  /** Sending is wanted from `at` (0: at once). */
  private wantFlush(at: number): void {
    this.flushWanted = true;
    this.nextFlush = at;
  }

  private delay(): number {
    const { agent } = this;
    const now = agent.now();
    const times = [this.nextHeartbeat, now + MAX_SLEEP_MS];
    for (const t of [agent.nextScanAt(), agent.nextUpdateAt(), agent.nextInventoryAt()]) if (t !== null) times.push(t);
    if (this.flushWanted && this.nextFlush) times.push(this.nextFlush);
    return Math.max(50, Math.min(...times) - now);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((res) => {
      const t = setTimeout(() => {
        this.wake = undefined;
        res();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = undefined;
        res();
      };
    });
  }

  private async stopWatch(): Promise<void> {
    await this.watch?.close();
    await this.watchQueue;
    await this.watchScanner?.close();
    this.watch = undefined;
    this.watchScanner = undefined;
  }

  /** (Re)starts the watch session on the configured paths with the rules in force; a failure is logged, not fatal. */
  private async restartWatch(): Promise<void> {
    await this.stopWatch();
    try {
      await this.startWatch();
    } catch (err) {
      this.agent.log("error", `cannot watch: ${(err as Error).message}`);
    }
  }

  private async startWatch(): Promise<void> {
    const { agent } = this;
    const paths = agent.scanSettings().watchPaths;
    if (!paths.length) return;
    const rules = await agent.rules();
    const scanner = agent.newScanner(rules, Math.min(1, agent.config.jobs));
    const budget: LookupBudget = { left: agent.config.reputation.maxLookupsPerScan, offline: false, used: 0 };
    const onEvent = (e: WatchEvent) => {
      this.watchQueue = this.watchQueue.then(() => this.handleWatchEvent(e, rules, budget));
    };
    const s = new WatchSession(scanner, paths, onEvent, { settleMs: agent.config.watch.settleMs });
    await s.start();
    this.watch = s;
    this.watchScanner = scanner;
    agent.log("info", `watching ${paths.join(", ")}`);
  }

  private async handleWatchEvent(
    e: WatchEvent,
    rules: Awaited<ReturnType<Agent["rules"]>>,
    budget: LookupBudget,
  ): Promise<void> {
    const { agent } = this;
    try {
      let n = 0;
      if (e.type === "result") n = await agent.handleResult(e.result, rules, budget);
      else if (e.type === "ransomware") {
        const first = e.evidence[0];
        if (first)
          n = await agent.report(
            first.path,
            sizeOf(first.path),
            [{ rule: e.name, name: e.name, path: first.path, severity: "critical" }],
            rules.version,
          );
      } else if (e.type === "watch-error") agent.log("warn", `watch: ${e.message}`);
      if (n > 0) {
        this.wantFlush(Math.min(this.nextFlush || Infinity, agent.now() + 1000));
        this.poke();
      }
      agent.reputation.save();
    } catch (err) {
      if (isFatal(err)) {
        this.fatal = err;
        this.poke();
      } else agent.log("error", `watch: ${(err as Error).message}`);
    }
  }
}

function watchKey(agent: Agent): string {
  return JSON.stringify(agent.scanSettings().watchPaths);
}

function sizeOf(path: string): number {
  try {
    return statSync(fsPath(path)).size;
  } catch {
    return 0;
  }
}
