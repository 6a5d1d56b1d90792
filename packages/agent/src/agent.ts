/**
 * The agent: heartbeats, the signed data policy, scheduled scans, reputation lookups, the
 * installed-software inventory and update checks, put together over the state directory.
 * Everything it sends goes through AgentClient (and so the ledger); everything it reports is
 * first queued in the outbox (outbox.ts). Enrolment is enroll.ts; the long-running loop is
 * scheduler.ts.
 *
 * A cycle is: heartbeat (and fetch the policy if the server has a new version), the remote
 * actions its answer handed over (actions.ts: run, or refused under the operator's ceiling, and
 * their results sent), the scheduled scan when due, the inventory when due, flushing the outbox, the update check when due (and
 * one more heartbeat when the verified checkpoint changed). `cycle` does it once (`vigil agent
 * run --once`); `run` hands the agent to the Scheduler. Updates go through @vigil/updates
 * (updater.ts) when the configuration has a trust policy; the inventory through
 * @vigil/inventory (inventory.ts), every `inventory.everyHours` or on demand, and only when the
 * data policy allows sending it (only the newest report is kept queued).
 */
import { createHash, randomUUID } from "node:crypto";
import { createReadStream, readFileSync } from "node:fs";
import { hostname as osHostname } from "node:os";
import { join } from "node:path";
import {
  ACTION_KINDS,
  DataPolicy,
  HeartbeatResponse,
  InventoryReport,
  SignedPolicy,
  type Detection,
  type Heartbeat,
  type ScanSummary,
  type Severity,
} from "@vigil/protocol";
import { Quarantine, Scanner, escapeRawBytes, fsPath, printable, type FileResult } from "@vigil/scanner";
import { ActionRunner, RECENT_LOG_LINES, type ActionOutcome } from "./actions.js";
import { AgentClient } from "./client.js";
import { AGENT_VERSION, AgentFiles, nextScanAt, type AgentConfig, type AgentState } from "./config.js";
import { osInfo, type LogLevel } from "./enroll.js";
import { AgentError, isFatal } from "./error.js";
import { sniffFile, type FileType } from "./filetype.js";
import { collectInventory } from "./inventory.js";
import { Ledger } from "./ledger.js";
import { closedPolicy, effectivePolicy, effectiveScan, verifyPolicy, type ScanSettings } from "./policy.js";
import { Outbox, type FlushReport } from "./outbox.js";
import { ReputationCache } from "./reputation.js";
import { compileRules, rulesKey, severityOf, type Rules } from "./rules.js";
import { Scheduler, type RunOptions } from "./scheduler.js";
import { Spool } from "./spool.js";
import { agentStatus, type AgentStatus } from "./status.js";
import { updatesFor, type AgentUpdates, type UpdateCheck } from "./updater.js";

/** What one inventory collection did. */
export interface InventoryRun {
  /** false: nothing collected (the reason in `skipped`). */
  collected: boolean;
  skipped?: string;
  items: number;
  findings: number;
  forbidden: number;
}

export interface AgentOptions {
  dir: string;
  log?: (level: LogLevel, message: string) => void;
  /** Host name reported when the policy allows it (default os.hostname()). */
  hostname?: string;
  /** Clock (tests). */
  now?: () => number;
}

export interface ScanReport {
  startedAt: number;
  finishedAt: number;
  files: number;
  bytes: number;
  detections: number;
  errors: number;
  /** Files not fully scanned (a format not opened, encryption, damage, a limit): never counted clean. */
  incomplete: number;
  reputationLookups: number;
  /** Detected files not reported because the fleet allow-lists their hash (a false positive marked on the server). */
  allowListed: number;
}

export interface CycleReport {
  contacted: boolean;
  policyVersion: number;
  scan?: ScanReport;
  flush: FlushReport;
  update?: UpdateCheck;
  inventory?: InventoryRun;
  /** Remote actions run (or refused) this cycle. */
  actions?: ActionOutcome[];
  queued: number;
  /** An inventory report is waiting to be sent. */
  inventoryQueued: boolean;
  errors: string[];
}

/** How many reputation lookups a scan (or the watch session) may still make. */
export interface LookupBudget {
  left: number;
  offline: boolean;
  used: number;
  /** Detected files the fleet's allow list kept from being reported. */
  allowListed?: number;
  /** A fresh lookup for a detected file failed: no more this round. */
  freshOffline?: boolean;
}

/** One rule that matched a file, as reported. */
export interface Hit {
  rule: string;
  name: string;
  path: string;
  severity: Severity;
}

export async function fileSha256(path: string): Promise<string | undefined> {
  try {
    const h = createHash("sha256");
    for await (const chunk of createReadStream(fsPath(path))) h.update(chunk as Buffer);
    return h.digest("hex");
  } catch {
    return undefined;
  }
}

export class Agent {
  readonly dir: string;
  readonly files: AgentFiles;
  readonly ledger: Ledger;
  readonly spool: Spool;
  readonly outbox: Outbox;
  readonly reputation: ReputationCache;
  config: AgentConfig;
  client: AgentClient;
  /** The verified update client; undefined when the configuration has no trust policy. */
  readonly updates: AgentUpdates | undefined;
  state: AgentState;
  readonly log: (level: LogLevel, message: string) => void;
  /** The latest log lines of this process (for the diagnostic bundle), oldest first. */
  readonly recentLog: string[] = [];
  /** Remote actions handed over by the server (actions.ts). */
  readonly actions: ActionRunner;
  readonly now: () => number;
  private serverPolicy: DataPolicy | undefined;
  private rulesCache: Rules | undefined;
  private readonly hostname: string;

  constructor(opts: AgentOptions) {
    this.dir = opts.dir;
    this.files = new AgentFiles(opts.dir);
    this.config = this.files.config();
    this.ledger = new Ledger(opts.dir);
    this.client = new AgentClient({ server: this.config.server, key: this.config.key, ledger: this.ledger });
    this.spool = new Spool(join(opts.dir, "spool"), this.config.spool.maxEvents);
    this.now = opts.now ?? Date.now;
    this.reputation = new ReputationCache(
      join(opts.dir, "reputation.json"),
      this.config.reputation.ttlSeconds,
      this.now,
    );
    this.state = this.files.state();
    const log = opts.log ?? (() => {});
    this.log = (level, message) => {
      this.recentLog.push(`${new Date(this.now()).toISOString()} ${level} ${message}`.slice(0, 2000));
      if (this.recentLog.length > RECENT_LOG_LINES) this.recentLog.splice(0, this.recentLog.length - RECENT_LOG_LINES);
      log(level, message);
    };
    this.hostname = (opts.hostname ?? this.config.hostname ?? osHostname()).slice(0, 256);
    this.updates = updatesFor(this);
    this.outbox = new Outbox({
      dir: this.dir,
      client: this.client,
      spool: this.spool,
      policy: () => this.policy,
      state: () => this.state,
      log: this.log,
    });
    this.actions = new ActionRunner(this);
    const sp = this.files.storedPolicy();
    if (sp) {
      try {
        this.serverPolicy = DataPolicy.parse(JSON.parse(sp.signed.payload));
      } catch {
        this.serverPolicy = undefined; // damaged: obey the closed policy until a good one arrives
      }
    }
  }

  /**
   * Re-computes the whole ledger chain (run at start): the agent does not send anything on top of
   * a ledger that was edited, cut or reordered; the operator inspects it and moves it aside.
   */
  verifyLedger(): void {
    const v = this.ledger.verify();
    if (!v.ok) {
      const where = v.problem!.line ? ` at line ${v.problem!.line}` : "";
      throw new AgentError(
        "LEDGER_BROKEN",
        `the outbound ledger ${this.ledger.file} does not verify${where} (${v.problem!.reason}); nothing will be sent on top of it. Keep a copy, then move ledger.jsonl and ledger.head aside to start a new ledger`,
      );
    }
  }

  /** What the agent obeys now: the narrower of the last verified server policy and the ceiling. */
  get policy(): DataPolicy {
    return this.serverPolicy ? effectivePolicy(this.serverPolicy, this.config.ceiling) : closedPolicy();
  }

  /**
   * What the agent scans, watches and does on a detection: its own configuration with the scan
   * part of the last verified server policy over it, within the scan ceiling (policy.ts).
   */
  scanSettings(): ScanSettings {
    const c = this.config;
    return effectiveScan(
      {
        paths: c.scan.paths,
        exclude: c.scan.exclude,
        everyMinutes: c.scan.everyMinutes,
        dailyAt: c.scan.dailyAt,
        watchPaths: c.watch.paths,
        action: c.action,
      },
      this.serverPolicy?.scan,
      c.scanCeiling,
    );
  }

  get serverPolicyVersion(): number {
    return this.serverPolicy?.version ?? 0;
  }

  saveState(): void {
    this.files.saveState(this.state);
  }

  /** Fetches and verifies the signed policy; keeps the last good one when it does not verify. */
  async refreshPolicy(): Promise<boolean> {
    const signed = await this.client.json("GET", "api/v1/policy", SignedPolicy);
    const last = this.files.storedPolicy();
    try {
      const p = verifyPolicy(
        signed,
        { key: this.config.policyKey, keyId: this.config.policyKeyId },
        last ? { version: last.version, payload: last.signed.payload } : undefined,
      );
      const changed = !last || last.signed.payload !== signed.payload;
      if (changed) {
        this.files.savePolicy({ signed, version: p.version, acceptedAt: this.now() });
        this.log("info", `data policy version ${p.version} accepted`);
      }
      this.serverPolicy = p;
      if (changed) for (const n of this.scanSettings().narrowed) this.log("warn", `scan policy: ${n}`);
      this.state.policyRejected = null;
      return true;
    } catch (err) {
      if (!(err instanceof AgentError)) throw err;
      this.state.policyRejected = err.message;
      this.log("warn", err.message);
      this.saveState();
      return false;
    }
  }

  private async rulesVersionSafe(): Promise<string | null> {
    try {
      return (await this.rules()).version;
    } catch {
      return this.state.rulesVersion;
    }
  }

  async heartbeat(): Promise<HeartbeatResponse> {
    const pol = this.policy;
    if (this.updates) {
      try {
        this.state.checkpoint = await this.updates.checkpoint();
      } catch {
        /* keep the last known */
      }
    }
    const body: Heartbeat = {
      time: this.now(),
      agentVersion: AGENT_VERSION,
      rulesVersion: await this.rulesVersionSafe(),
      checkpoint: this.state.checkpoint,
      os: osInfo(),
      ...(pol.send.hostname ? { hostname: this.hostname } : {}),
      // the ledger as it stands before this request (its own line cannot include itself)
      ledger: this.ledger.head(),
      // the remote action kinds this agent implements (its operator's ceiling is checked on each)
      actionKinds: [...ACTION_KINDS],
      // always sent (even empty) so that a tag taken out of the configuration leaves the server too
      tags: this.config.tags,
    };
    this.state.lastAttempt = this.now();
    let r: HeartbeatResponse;
    try {
      r = await this.client.json("POST", "api/v1/heartbeat", HeartbeatResponse, { body });
    } catch (err) {
      this.state.lastError = (err as Error).message;
      this.saveState();
      throw err;
    }
    this.state.lastContact = this.now();
    this.state.lastError = null;
    this.saveState();
    if (r.policyVersion !== this.serverPolicy?.version) await this.refreshPolicy();
    this.actions.accept(r.actions);
    return r;
  }

  /** The rules in force (built-in, extra files, the installed update bundle), compiled once per change. */
  async rules(): Promise<Rules> {
    const cfg = this.config.rules;
    const bundle = cfg.updateBundle && this.updates ? await this.updates.current() : null;
    if (this.rulesCache?.key === rulesKey(cfg, bundle)) return this.rulesCache;
    this.rulesCache = compileRules(cfg, bundle, join(this.dir, "compiled"));
    if (this.state.rulesVersion !== this.rulesCache.version) {
      this.state.rulesVersion = this.rulesCache.version;
      this.saveState();
    }
    return this.rulesCache;
  }

  newScanner(rules: Rules, jobs = this.config.jobs): Scanner {
    return new Scanner({ detector: rules.setup.detector, spec: rules.setup.spec, jobs });
  }

  /** Queues detections for one file result; looks up the reputation of clean executables. Returns the detections queued. */
  async handleResult(result: FileResult, rules: Rules, budget: LookupBudget): Promise<number> {
    if (result.errors.length && !result.detections.length) return 0;
    if (result.detections.length) {
      const byRule = [...new Map(result.detections.map((d) => [d.rule, d])).values()];
      const sha = await fileSha256(result.path);
      if (sha && (await this.fleetAllows(sha, budget))) {
        budget.allowListed = (budget.allowListed ?? 0) + 1;
        this.log(
          "info",
          `${printable(result.path)}: detected (${byRule.map((d) => d.name).join(", ")}) but the fleet allow-lists its hash (a false positive): not reported`,
        );
        return 0;
      }
      return this.report(
        result.path,
        result.size,
        byRule.map((d) => ({ rule: d.rule, name: d.name, path: d.path, severity: severityOf(d) })),
        rules.version,
        sha ? { sha } : undefined,
      );
    }
    const pol = this.policy;
    if (!pol.reputation.enabled || budget.offline || budget.left <= 0) return 0;
    const type = sniffFile(result.path);
    if (!type || !(this.config.reputation.fileTypes as string[]).includes(type)) return 0;
    const sha = await fileSha256(result.path);
    if (!sha) return 0;
    const askedBefore = this.reputation.asked.length;
    let entry;
    try {
      entry = await this.reputation.lookup(this.client, sha);
    } catch (err) {
      if (isFatal(err)) throw err;
      budget.offline = true; // no more lookups this round; the next scan asks again
      this.log("warn", `reputation lookups paused: ${(err as Error).message}`);
      return 0;
    }
    if (this.reputation.asked.length > askedBefore) {
      budget.left--;
      budget.used++;
    }
    if (entry?.verdict !== "malicious") return 0;
    const rule = `reputation:${entry.name ?? "malicious"}`.slice(0, 256);
    return this.report(
      result.path,
      result.size,
      [{ rule, name: rule, path: result.path, severity: "high" }],
      rules.version,
      { sha, type },
    );
  }

  /**
   * True when the server's hash reputation calls a detected file clean: the fleet's allow list,
   * where an analyst's false-positive verdict lands. Asked fresh for each detected file (the
   * detection would send the full hash anyway) while the scan's lookup budget lasts; when the
   * policy forbids lookups or the server cannot be asked, the file is reported as usual.
   */
  private async fleetAllows(sha: string, budget: LookupBudget): Promise<boolean> {
    if (!this.policy.reputation.enabled || budget.offline || budget.freshOffline || budget.left <= 0) return false;
    let entry;
    try {
      entry = await this.reputation.lookup(this.client, sha, true);
    } catch (err) {
      if (isFatal(err)) throw err;
      // no more fresh asks this round; clean files still get their cached verdicts
      budget.freshOffline = true;
      this.log("warn", `allow-list lookups paused: ${(err as Error).message}`);
      return false;
    }
    budget.left--;
    budget.used++;
    return entry?.verdict === "clean";
  }

  /** Hashes, optionally keeps a sample of and quarantines a detected file, then queues one detection per rule. */
  async report(
    path: string,
    size: number,
    hits: Hit[],
    bundleVersion: string | null,
    known?: { sha: string; type?: FileType },
  ): Promise<number> {
    const sha = known?.sha ?? (await fileSha256(path));
    if (!sha) {
      this.log(
        "warn",
        `${printable(path)}: detected (${hits.map((h) => h.name).join(", ")}) but it could not be read again to hash it; not reported`,
      );
      return 0;
    }
    const type = known?.type ?? sniffFile(path) ?? null;
    const pol = this.policy;
    if (
      pol.samples.enabled &&
      type &&
      (pol.samples.fileTypes as string[]).includes(type) &&
      size <= pol.samples.maxBytes
    ) {
      try {
        const bytes = readFileSync(fsPath(path));
        if (createHash("sha256").update(bytes).digest("hex") === sha) this.spool.addSample(sha, type, bytes);
      } catch {
        /* changed or gone: no sample */
      }
    }
    let action: Detection["action"] = "reported";
    if (this.scanSettings().action === "quarantine") {
      try {
        new Quarantine(this.config.quarantineDir ?? join(this.dir, "quarantine")).add(path, {
          detections: hits.map((h) => h.name),
          rulesVersion: bundleVersion ?? "",
        });
        action = "quarantined";
      } catch (err) {
        action = "failed";
        this.log("warn", (err as Error).message);
      }
    }
    for (const h of hits) {
      const d: Detection = {
        id: randomUUID(),
        time: this.now(),
        rule: h.rule.slice(0, 256),
        name: h.name.slice(0, 256),
        severity: h.severity,
        bundleVersion,
        sha256: sha,
        size,
        fileType: type,
        action,
        // a name that is not valid UTF-8 is sent with its bytes as the text \xNN (valid Unicode)
        ...(pol.send.path ? { path: escapeRawBytes(h.path).slice(0, 4096) } : {}),
      };
      this.drop(this.spool.add("detection", d));
      this.log("info", `detected ${h.name} in ${printable(path)} (${action})`);
    }
    return hits.length;
  }

  private drop(n: number): void {
    if (n > 0) {
      this.state.dropped += n;
      this.log("warn", `the spool is full (${this.config.spool.maxEvents} events): ${n} oldest event(s) dropped`);
    }
  }

  /**
   * Runs the scheduled scan over the configured paths now, or over `paths` (a remote scan action:
   * the schedule's last scan time is then left alone).
   */
  async scan(kind: ScanSummary["kind"] = "scheduled", signal?: AbortSignal, paths?: string[]): Promise<ScanReport> {
    const rules = await this.rules();
    const settings = this.scanSettings();
    const scanner = this.newScanner(rules);
    const budget: LookupBudget = { left: this.config.reputation.maxLookupsPerScan, offline: false, used: 0 };
    const rep: ScanReport = {
      startedAt: this.now(),
      finishedAt: 0,
      files: 0,
      bytes: 0,
      detections: 0,
      errors: 0,
      incomplete: 0,
      reputationLookups: 0,
      allowListed: 0,
    };
    try {
      for await (const ev of scanner.scan(paths ?? settings.paths, {
        exclude: settings.exclude,
        ...(signal ? { signal } : {}),
      })) {
        if (ev.type !== "file") continue;
        rep.files++;
        rep.bytes += ev.result.size;
        rep.errors += ev.result.errors.length;
        if (ev.result.incomplete.length) {
          // a file not fully read is never reported clean: counted, and named in the log
          if (++rep.incomplete <= 20) {
            const i = ev.result.incomplete[0]!;
            this.log("warn", `${printable(i.path)}: not fully scanned (${i.reason}): ${i.message}`);
          }
        }
        rep.detections += await this.handleResult(ev.result, rules, budget);
      }
    } finally {
      await scanner.close();
      this.reputation.save();
    }
    rep.finishedAt = this.now();
    rep.reputationLookups = budget.used;
    rep.allowListed = budget.allowListed ?? 0;
    if (this.policy.send.scanSummaries) {
      this.drop(
        this.spool.add("scan", {
          id: randomUUID(),
          startedAt: rep.startedAt,
          finishedAt: rep.finishedAt,
          kind,
          files: rep.files,
          bytes: rep.bytes,
          detections: rep.detections,
          errors: rep.errors,
          incomplete: rep.incomplete,
          bundleVersion: rules.version,
        }),
      );
    }
    if (!paths) this.state.lastScanAt = rep.startedAt;
    this.saveState();
    this.log(
      "info",
      `scan: ${rep.files} files, ${rep.detections} detections, ${rep.errors} errors, ${rep.incomplete} not fully scanned`,
    );
    return rep;
  }

  /** Sends the queued events (outbox.ts); stops at the first network or server failure (they stay queued). */
  async flush(): Promise<FlushReport> {
    const out = await this.outbox.flush();
    if (out.stopped) this.state.lastError = out.stopped;
    this.saveState();
    return out;
  }

  inventoryQueued(): boolean {
    return this.outbox.inventoryQueued();
  }

  /**
   * When the next inventory is due, or null: only on demand (everyHours 0), or the effective
   * policy does not let the inventory leave (then nothing is collected at all).
   */
  nextInventoryAt(): number | null {
    if (!this.policy.send.inventory) return null;
    const hours = this.config.inventory.everyHours;
    if (hours <= 0) return null;
    const last = this.state.lastInventoryAt;
    return last === null ? this.now() : last + hours * 3_600_000;
  }

  /**
   * Collects the inventory and queues it in place of any report still unsent (only the newest
   * matters: each report replaces the previous one on the server). Nothing is collected when the
   * effective policy does not allow sending it.
   */
  async collectInventory(): Promise<InventoryRun> {
    const pol = this.policy;
    if (!pol.send.inventory) {
      this.outbox.dropInventory();
      return {
        collected: false,
        skipped: "the data policy (or this endpoint's ceiling) does not allow sending the inventory",
        items: 0,
        findings: 0,
        forbidden: 0,
      };
    }
    const started = this.now();
    let report: InventoryReport;
    try {
      report = InventoryReport.parse(
        await collectInventory(this.config.inventory, { includePaths: pol.send.path, now: started }),
      );
    } catch (err) {
      this.state.lastInventoryAt = started; // a failing collection is retried at the next due time, not in a loop
      this.state.lastInventoryResult = `collection failed: ${(err as Error).message}`.slice(0, 1000);
      this.saveState();
      throw err;
    }
    this.outbox.queueInventory(report);
    const forbidden = report.findings.filter((f) => f.status === "forbidden").length;
    this.state.lastInventoryAt = started;
    this.state.lastInventoryResult = `collected ${report.items.length} items, ${report.findings.length} findings (${forbidden} forbidden)`;
    this.saveState();
    this.log(
      forbidden ? "warn" : "info",
      `inventory: ${report.items.length} items, ${report.findings.length} findings, ${forbidden} forbidden`,
    );
    return { collected: true, items: report.items.length, findings: report.findings.length, forbidden };
  }

  /** Runs the verified update check (when updates are configured). */
  async checkUpdates(): Promise<UpdateCheck | undefined> {
    if (!this.updates) return undefined;
    const before = JSON.stringify(this.state.checkpoint);
    const r = await this.updates.check();
    this.state.lastUpdateCheck = this.now();
    this.state.lastUpdateResult = `${r.status}: ${r.message}`.slice(0, 1000);
    if (r.checkpoint) this.state.checkpoint = r.checkpoint;
    if (r.status === "applied") this.rulesCache = undefined;
    this.saveState();
    this.log(
      r.status === "refused" || r.status === "failed" ? "warn" : "info",
      `update check: ${r.status}: ${r.message}`,
    );
    return { ...r, changed: JSON.stringify(this.state.checkpoint) !== before };
  }

  nextScanAt(): number | null {
    return nextScanAt(this.scanSettings(), this.state.lastScanAt, this.now());
  }

  nextUpdateAt(): number | null {
    if (!this.updates) return null;
    return this.state.lastUpdateCheck === null
      ? this.now()
      : this.state.lastUpdateCheck + this.config.updates.everyMinutes * 60_000;
  }

  /**
   * Runs the remote actions the last heartbeat answers handed over and sends their results
   * (actions.ts); a revoked key or a broken ledger throws.
   */
  async runActions(signal?: AbortSignal): Promise<ActionOutcome[]> {
    const out = await this.actions.run(signal);
    if (out.some((o) => o.applied)) this.rulesCache = undefined;
    return out;
  }

  /** One cycle: heartbeat, remote actions, due scan (or forced), due inventory (or forced), flush, due update check. A revoked key throws. */
  async cycle(o: RunOptions & { signal?: AbortSignal } = {}): Promise<CycleReport> {
    const errors: string[] = [];
    let contacted = false;
    try {
      await this.heartbeat();
      contacted = true;
    } catch (err) {
      if (isFatal(err)) throw err;
      errors.push(`heartbeat: ${(err as Error).message}`);
    }
    let actions: ActionOutcome[] | undefined;
    if (this.actions.waiting()) {
      try {
        actions = await this.runActions(o.signal);
        // an update action applied new rules: the server learns the new version now
        if (actions.some((x) => x.applied)) await this.heartbeat();
      } catch (err) {
        if (isFatal(err)) throw err;
        errors.push(`actions: ${(err as Error).message}`);
      }
    }
    let scan: ScanReport | undefined;
    const due = this.nextScanAt();
    if (o.scan || (due !== null && due <= this.now())) {
      try {
        scan = await this.scan(o.scan ? "manual" : "scheduled", o.signal);
      } catch (err) {
        if (isFatal(err)) throw err;
        errors.push(`scan: ${(err as Error).message}`);
      }
    }
    let inventory: InventoryRun | undefined;
    const invDue = this.nextInventoryAt();
    if (o.inventory || (invDue !== null && invDue <= this.now())) {
      try {
        inventory = await this.collectInventory();
        if (o.inventory && inventory.skipped) errors.push(`inventory: not collected: ${inventory.skipped}`);
      } catch (err) {
        if (isFatal(err)) throw err;
        errors.push(`inventory: ${(err as Error).message}`);
      }
    }
    const flush = await this.flush();
    if (flush.stopped) errors.push(`sending: ${flush.stopped}`);
    let update: UpdateCheck | undefined;
    const upd = this.nextUpdateAt();
    if (upd !== null && upd <= this.now()) {
      update = await this.checkUpdates();
      if (update?.changed && contacted) {
        try {
          await this.heartbeat();
        } catch (err) {
          if (isFatal(err)) throw err;
        }
      }
    }
    return {
      contacted,
      policyVersion: this.serverPolicyVersion,
      ...(scan ? { scan } : {}),
      flush,
      ...(update ? { update } : {}),
      ...(inventory ? { inventory } : {}),
      ...(actions ? { actions } : {}),
      queued: this.spool.count().total,
      inventoryQueued: this.inventoryQueued(),
      errors,
    };
  }

  /** Runs the scheduler (scheduler.ts) until `signal` aborts; a revoked key or a broken ledger rejects. */
  run(signal: AbortSignal, o: RunOptions = {}): Promise<void> {
    return new Scheduler(this, signal, o).run();
  }

  /** What `vigil agent status` shows. */
  status(): AgentStatus {
    return agentStatus(this);
  }
}
