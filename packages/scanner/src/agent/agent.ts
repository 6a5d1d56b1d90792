/**
 * The agent: enrolment, heartbeats, the signed data policy, scheduled scans, watched paths,
 * reputation lookups, the event spool and update checks, put together. Everything it sends goes
 * through AgentClient (and so the ledger); everything it reports is first queued in the spool.
 *
 * A cycle is: heartbeat (and fetch the policy if the server has a new version), the scheduled
 * scan when due, flushing the spool, the update check when due (and one more heartbeat when the
 * verified checkpoint changed). `run` repeats that on timers and adds the watch session;
 * `cycle` does it once (`vigil agent run --once`). Updates need @vigil/updates, which this
 * package does not depend on: the caller passes an `Updater`. Likewise the installed-software
 * inventory needs @vigil/inventory: the caller passes an `Inventorier`; the agent decides when
 * to collect (every `inventory.everyHours`, or on demand), keeps only the newest report queued
 * (inventory.json) and sends it when the data policy allows it.
 */
import { createHash, randomUUID } from "node:crypto";
import { closeSync, createReadStream, existsSync, openSync, readFileSync, readdirSync, statSync, unlinkSync, writeSync, constants } from "node:fs";
import { arch, hostname as osHostname, platform, release } from "node:os";
import { join } from "node:path";
import { parse } from "@vigil/engine";
import { ScannerError } from "../error.js";
import { Quarantine } from "../quarantine.js";
import { ruleFiles, starterSources } from "../rules.js";
import { Scanner } from "../scanner.js";
import { buildSignatures, type SignatureSetup } from "../signatures.js";
import type { FileResult } from "../types.js";
import { WatchSession, type WatchEvent } from "../watch.js";
import { AgentClient, AgentHttpError, REVOKED_MESSAGE } from "./client.js";
import { AGENT_VERSION, AgentFiles, nextScanAt, writeJsonAtomic, type AgentConfig, type AgentState } from "./config.js";
import { sniffFile, type FileType } from "./filetype.js";
import { Ledger } from "./ledger.js";
import { closedPolicy, effectivePolicy, verifyPolicy, type DataCeiling } from "./policy.js";
import {
  BatchResponse, DataPolicy, EnrollResponse, HeartbeatResponse, InventoryReport, InventoryResponse, SignedPolicy,
  type CheckpointRef, type Detection, type EnrollRequest, type Heartbeat, type OsInfo, type ScanSummary, type Severity,
} from "./protocol.js";
import { ReputationCache } from "./reputation.js";
import { Spool } from "./spool.js";

export type LogLevel = "info" | "warn" | "error";

export interface UpdateCheck {
  /** applied / up-to-date; refused: a security check failed (nothing applied); failed: could not check. */
  status: "applied" | "up-to-date" | "refused" | "failed";
  message: string;
  /** The newest checkpoint this endpoint has verified, after the check. */
  checkpoint: CheckpointRef | null;
  /** Set by the agent: the verified checkpoint differs from the one before the check. */
  changed?: boolean;
}

/** The verified update client, as the agent uses it (implemented over @vigil/updates by the CLI). */
export interface Updater {
  check(): Promise<UpdateCheck>;
  /** The bundle in force: its directory and a version string, or null before the first update. */
  current(): Promise<{ dir: string; version: string } | null>;
  /** The last verified checkpoint, or null. */
  checkpoint(): Promise<CheckpointRef | null>;
}

/** Collects the installed-software inventory (implemented over @vigil/inventory by the CLI). */
export interface Inventorier {
  /** The whole report; install paths only when `includePaths` (the effective policy allows paths). */
  collect(o: { includePaths: boolean; now: number }): Promise<InventoryReport>;
}

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
  updater?: Updater;
  inventorier?: Inventorier;
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
  reputationLookups: number;
}

export interface FlushReport {
  detections: number;
  scans: number;
  samples: number;
  duplicates: number;
  /** Events the server refused as malformed (dropped, not retried). */
  rejected: number;
  remaining: number;
  /** Inventory reports sent (0 or 1: only the newest is kept). */
  inventory: number;
  /** Why the flush stopped early (offline, server error). */
  stopped?: string;
}

export interface CycleReport {
  contacted: boolean;
  policyVersion: number;
  scan?: ScanReport;
  flush: FlushReport;
  update?: UpdateCheck;
  inventory?: InventoryRun;
  queued: number;
  /** An inventory report is waiting to be sent. */
  inventoryQueued: boolean;
  errors: string[];
}

interface Rules {
  key: string;
  setup: SignatureSetup;
  version: string;
  severity: Map<string, Severity>;
}

interface LookupBudget {
  left: number;
  offline: boolean;
  used: number;
}

const SEVERITIES = new Set<Severity>(["low", "medium", "high", "critical"]);

/** Errors that stop the agent: the server no longer knows this endpoint, or the ledger cannot be trusted. */
export function isFatal(err: unknown): boolean {
  return err instanceof ScannerError && (err.code === "AGENT_REVOKED" || err.code === "LEDGER_BROKEN");
}

export function osInfo(): OsInfo {
  return { platform: process.platform, release: release().slice(0, 256), arch: arch() };
}

/** Rule name -> severity from `meta: severity = "..."` in the rule sources (unparseable files are skipped). */
export function severityMap(sources: { source: string; path?: string }[]): Map<string, Severity> {
  const out = new Map<string, Severity>();
  for (const s of sources) {
    let file;
    try {
      file = parse(s.source, { path: s.path });
    } catch {
      continue; // the compiler reports broken rules; a missing severity just means "high"
    }
    for (const r of file.rules) {
      const m = r.meta.find((x) => x.key.toLowerCase() === "severity");
      const v = typeof m?.value === "string" ? m.value.toLowerCase() : undefined;
      if (v && SEVERITIES.has(v as Severity) && !out.has(r.name)) out.set(r.name, v as Severity);
    }
  }
  return out;
}

/** The rule files of an installed bundle directory (recursive; MANIFEST excluded). */
export function bundleRuleFiles(dir: string): string[] {
  const out: string[] = [];
  const walkDir = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walkDir(p);
      else if (e.isFile() && /\.(yar|yara)$/i.test(e.name)) out.push(p);
    }
  };
  walkDir(dir);
  return out;
}

export async function fileSha256(path: string): Promise<string | undefined> {
  try {
    const h = createHash("sha256");
    for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
    return h.digest("hex");
  } catch {
    return undefined;
  }
}

/** An exclusive lock on the state directory (run.lock holding the pid); stale locks are taken over. */
export function lockStateDir(dir: string): () => void {
  const file = join(dir, "run.lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => { try { unlinkSync(file); } catch { /* gone */ } };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw new ScannerError("AGENT_CONFIG", `cannot create ${file}: ${(err as Error).message}`, err);
      let pid = NaN;
      try { pid = Number(readFileSync(file, "utf8").trim()); } catch { /* vanished */ }
      let alive = false;
      if (Number.isInteger(pid) && pid > 0) {
        try { process.kill(pid, 0); alive = true; } catch (e) { alive = (e as NodeJS.ErrnoException).code === "EPERM"; }
      }
      if (alive) throw new ScannerError("AGENT_BUSY", `another agent (pid ${pid}) is running on ${dir}; stop it first or use another --state directory`);
      try { unlinkSync(file); } catch { /* raced */ }
    }
  }
  throw new ScannerError("AGENT_BUSY", `cannot take the lock ${file}`);
}

export interface EnrollOptions {
  dir: string;
  server: string;
  token: string;
  hostname?: string;
  log?: (level: LogLevel, message: string) => void;
}

export class Agent {
  readonly dir: string;
  readonly files: AgentFiles;
  readonly ledger: Ledger;
  readonly spool: Spool;
  readonly reputation: ReputationCache;
  config: AgentConfig;
  client: AgentClient;
  /** The verified update client; set after construction when it needs this agent's client. */
  updater: Updater | undefined;
  /** The inventory collector; without one the agent collects no inventory. */
  inventorier: Inventorier | undefined;
  state: AgentState;
  private serverPolicy: DataPolicy | undefined;
  private rulesCache: Rules | undefined;
  private readonly log: (level: LogLevel, message: string) => void;
  private readonly now: () => number;
  private readonly hostname: string;

  constructor(private readonly opts: AgentOptions) {
    this.dir = opts.dir;
    this.updater = opts.updater;
    this.inventorier = opts.inventorier;
    this.files = new AgentFiles(opts.dir);
    this.config = this.files.config();
    this.ledger = new Ledger(opts.dir);
    this.client = new AgentClient({ server: this.config.server, key: this.config.key, ledger: this.ledger });
    this.spool = new Spool(join(opts.dir, "spool"), this.config.spool.maxEvents);
    this.now = opts.now ?? Date.now;
    this.reputation = new ReputationCache(join(opts.dir, "reputation.json"), this.config.reputation.ttlSeconds, this.now);
    this.state = this.files.state();
    this.log = opts.log ?? (() => {});
    this.hostname = (opts.hostname ?? this.config.hostname ?? osHostname()).slice(0, 256);
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
   * Exchanges an enrolment token for an endpoint key: verifies the policy that comes with it
   * against the policy key it also returns (pinned from then on) and writes agent.json (0600).
   * Re-enrolling keeps the endpoint's other settings (scan, watch, ceiling).
   */
  static async enroll(o: EnrollOptions): Promise<AgentConfig> {
    const files = new AgentFiles(o.dir);
    files.ensureDir();
    const old = files.tryConfig();
    const ceiling: DataCeiling | undefined = old?.ceiling;
    const ledger = new Ledger(o.dir);
    const client = new AgentClient({ server: o.server, ledger });
    const body: EnrollRequest = {
      token: o.token, os: osInfo(), agentVersion: AGENT_VERSION,
      ...(ceiling?.hostname === false ? {} : { hostname: (o.hostname ?? old?.hostname ?? osHostname()).slice(0, 256) }),
    };
    let res: EnrollResponse;
    try {
      res = await client.json("POST", "api/v1/enroll", EnrollResponse, { body, auth: false });
    } catch (err) {
      if (err instanceof AgentHttpError && (err.status === 401 || err.status === 403 || err.status === 400 || err.status === 404)) {
        throw new ScannerError("AGENT_HTTP", `enrolment refused: ${err.status === 401 || err.status === 403 ? "the token is unknown, used up or expired" : err.message}; ask an administrator for a new token`, err);
      }
      throw err;
    }
    const pinned = { key: res.policyKey, keyId: res.policyKeyId };
    const policy = verifyPolicy(res.policy, pinned);
    const config = {
      ...(old ?? {}),
      format: "vigil-agent/v1" as const,
      server: o.server,
      endpointId: res.endpointId,
      key: res.key,
      policyKey: res.policyKey,
      policyKeyId: res.policyKeyId,
      enrolledAt: Date.now(),
      hostname: o.hostname ?? old?.hostname ?? null,
    };
    files.saveConfig(config as AgentConfig);
    files.savePolicy({ signed: res.policy, version: policy.version, acceptedAt: Date.now() });
    o.log?.("info", `enrolled as ${res.endpointId} with ${o.server}`);
    return files.config();
  }

  /**
   * Re-computes the whole ledger chain (run at start): the agent does not send anything on top of
   * a ledger that was edited, cut or reordered; the operator inspects it and moves it aside.
   */
  verifyLedger(): void {
    const v = this.ledger.verify();
    if (!v.ok) {
      const where = v.problem!.line ? ` at line ${v.problem!.line}` : "";
      throw new ScannerError("LEDGER_BROKEN", `the outbound ledger ${this.ledger.file} does not verify${where} (${v.problem!.reason}); nothing will be sent on top of it. Keep a copy, then move ledger.jsonl and ledger.head aside to start a new ledger`);
    }
  }

  /** What the agent obeys now: the narrower of the last verified server policy and the ceiling. */
  get policy(): DataPolicy {
    return this.serverPolicy ? effectivePolicy(this.serverPolicy, this.config.ceiling) : closedPolicy();
  }

  get serverPolicyVersion(): number {
    return this.serverPolicy?.version ?? 0;
  }

  private saveState(): void {
    this.files.saveState(this.state);
  }

  private noteError(err: unknown): string {
    const msg = (err as Error).message;
    this.state.lastError = msg;
    return msg;
  }

  /** Fetches and verifies the signed policy; keeps the last good one when it does not verify. */
  async refreshPolicy(): Promise<boolean> {
    const signed = await this.client.json("GET", "api/v1/policy", SignedPolicy);
    const last = this.files.storedPolicy();
    try {
      const p = verifyPolicy(signed, { key: this.config.policyKey, keyId: this.config.policyKeyId }, last ? { version: last.version, payload: last.signed.payload } : undefined);
      if (!last || last.signed.payload !== signed.payload) {
        this.files.savePolicy({ signed, version: p.version, acceptedAt: this.now() });
        this.log("info", `data policy version ${p.version} accepted`);
      }
      this.serverPolicy = p;
      this.state.policyRejected = null;
      return true;
    } catch (err) {
      if (!(err instanceof ScannerError)) throw err;
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
    if (this.updater) {
      try { this.state.checkpoint = await this.updater.checkpoint(); } catch { /* keep the last known */ }
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
    };
    this.state.lastAttempt = this.now();
    let r: HeartbeatResponse;
    try {
      r = await this.client.json("POST", "api/v1/heartbeat", HeartbeatResponse, { body });
    } catch (err) {
      this.noteError(err);
      this.saveState();
      throw err;
    }
    this.state.lastContact = this.now();
    this.state.lastError = null;
    this.saveState();
    if (r.policyVersion !== this.serverPolicy?.version) await this.refreshPolicy();
    return r;
  }

  /** The rules in force (built-in, extra files, the installed update bundle), compiled once per change. */
  async rules(): Promise<Rules> {
    const cfg = this.config.rules;
    const current = cfg.updateBundle && this.updater ? await this.updater.current() : null;
    const key = JSON.stringify([current?.dir ?? null, current?.version ?? null, cfg]);
    if (this.rulesCache?.key === key) return this.rulesCache;
    const files = [...cfg.extra.flatMap((p) => ruleFiles(p)), ...(current ? bundleRuleFiles(current.dir) : [])];
    const setup = buildSignatures({ builtin: cfg.builtin, rules: files, cacheDir: join(this.dir, "compiled") });
    const sources = [...(cfg.builtin ? starterSources() : []), ...files.map((path) => ({ path, source: readFileSync(path, "latin1") }))];
    const version = current ? current.version : `starter-${setup.detector.version}`;
    this.rulesCache = { key, setup, version, severity: severityMap(sources) };
    if (this.state.rulesVersion !== version) {
      this.state.rulesVersion = version;
      this.saveState();
    }
    return this.rulesCache;
  }

  private newScanner(rules: Rules, jobs = this.config.jobs): Scanner {
    return new Scanner({ detector: rules.setup.detector, spec: rules.setup.spec, jobs });
  }

  /** Queues detections for one file result; looks up the reputation of clean executables. Returns the detections queued. */
  async handleResult(result: FileResult, rules: Rules, budget: LookupBudget): Promise<number> {
    if (result.errors.length && !result.detections.length) return 0;
    if (result.detections.length) {
      const names = [...new Map(result.detections.map((d) => [d.rule, d])).values()];
      return this.report(result.path, result.size, names.map((d) => ({ rule: d.rule, name: d.name, path: d.path, severity: rules.severity.get(d.rule) ?? "high" })), rules.version);
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
    if (this.reputation.asked.length > askedBefore) { budget.left--; budget.used++; }
    if (entry?.verdict !== "malicious") return 0;
    const rule = `reputation:${entry.name ?? "malicious"}`.slice(0, 256);
    return this.report(result.path, result.size, [{ rule, name: rule, path: result.path, severity: "high" }], rules.version, { sha, type });
  }

  /** Hashes, optionally keeps a sample of and quarantines a detected file, then queues one detection per rule. */
  private async report(path: string, size: number, hits: { rule: string; name: string; path: string; severity: Severity }[], bundleVersion: string | null, known?: { sha: string; type: FileType }): Promise<number> {
    const sha = known?.sha ?? (await fileSha256(path));
    if (!sha) {
      this.log("warn", `${path}: detected (${hits.map((h) => h.name).join(", ")}) but it could not be read again to hash it; not reported`);
      return 0;
    }
    const type = known?.type ?? sniffFile(path) ?? null;
    const pol = this.policy;
    if (pol.samples.enabled && type && (pol.samples.fileTypes as string[]).includes(type) && size <= pol.samples.maxBytes) {
      try {
        const bytes = readFileSync(path);
        if (createHash("sha256").update(bytes).digest("hex") === sha) this.spool.addSample(sha, type, bytes);
      } catch { /* changed or gone: no sample */ }
    }
    let action: Detection["action"] = "reported";
    if (this.config.action === "quarantine") {
      try {
        new Quarantine(this.config.quarantineDir ?? join(this.dir, "quarantine")).add(path, { detections: hits.map((h) => h.name), rulesVersion: bundleVersion ?? "" });
        action = "quarantined";
      } catch (err) {
        action = "failed";
        this.log("warn", (err as Error).message);
      }
    }
    for (const h of hits) {
      const d: Detection = {
        id: randomUUID(), time: this.now(), rule: h.rule.slice(0, 256), severity: h.severity, bundleVersion, sha256: sha, size, fileType: type, action,
        ...(pol.send.path ? { path: h.path.slice(0, 4096) } : {}),
      };
      this.drop(this.spool.add("detection", d));
      this.log("info", `detected ${h.name} in ${path} (${action})`);
    }
    return hits.length;
  }

  private drop(n: number): void {
    if (n > 0) {
      this.state.dropped += n;
      this.log("warn", `the spool is full (${this.config.spool.maxEvents} events): ${n} oldest event(s) dropped`);
    }
  }

  /** Runs the scheduled scan over the configured paths now. */
  async scan(kind: ScanSummary["kind"] = "scheduled", signal?: AbortSignal): Promise<ScanReport> {
    const rules = await this.rules();
    const scanner = this.newScanner(rules);
    const budget: LookupBudget = { left: this.config.reputation.maxLookupsPerScan, offline: false, used: 0 };
    const rep: ScanReport = { startedAt: this.now(), finishedAt: 0, files: 0, bytes: 0, detections: 0, errors: 0, reputationLookups: 0 };
    try {
      for await (const ev of scanner.scan(this.config.scan.paths, { exclude: this.config.scan.exclude, ...(signal ? { signal } : {}) })) {
        if (ev.type !== "file") continue;
        rep.files++;
        rep.bytes += ev.result.size;
        rep.errors += ev.result.errors.length;
        rep.detections += await this.handleResult(ev.result, rules, budget);
      }
    } finally {
      await scanner.close();
      this.reputation.save();
    }
    rep.finishedAt = this.now();
    rep.reputationLookups = budget.used;
    if (this.policy.send.scanSummaries) {
      this.drop(this.spool.add("scan", {
        id: randomUUID(), startedAt: rep.startedAt, finishedAt: rep.finishedAt, kind, files: rep.files, bytes: rep.bytes,
        detections: rep.detections, errors: rep.errors, bundleVersion: rules.version,
      }));
    }
    this.state.lastScanAt = rep.startedAt;
    this.saveState();
    this.log("info", `scan: ${rep.files} files, ${rep.detections} detections, ${rep.errors} errors`);
    return rep;
  }

  /** Sends the queued events in batches; stops at the first network or server failure (they stay queued). */
  async flush(): Promise<FlushReport> {
    const out: FlushReport = { detections: 0, scans: 0, samples: 0, inventory: 0, duplicates: 0, rejected: 0, remaining: 0 };
    try {
      await this.flushKind("detection", out);
      await this.flushKind("scan", out);
      await this.flushSamples(out);
      await this.flushInventory(out);
    } catch (err) {
      if (isFatal(err)) throw err;
      out.stopped = this.noteError(err);
    }
    out.remaining = this.spool.count().total;
    this.saveState();
    return out;
  }

  private async flushKind(kind: "detection" | "scan", out: FlushReport): Promise<void> {
    let batch = 200;
    for (;;) {
      const pol = this.policy;
      if (kind === "scan" && !pol.send.scanSummaries) {
        // the policy (or the ceiling) no longer wants summaries: they are not sent later either
        for (let t = this.spool.take("scan", 1000); t.names.length; t = this.spool.take("scan", 1000)) this.spool.remove(t.names);
        return;
      }
      const t = this.spool.take(kind, batch);
      if (!t.names.length) return;
      let body;
      if (kind === "detection") {
        // the policy in force when sending also applies: a path queued under a wider policy is dropped
        const detections = (t.events as Detection[]).map((d) => (pol.send.path ? d : (({ path: _p, ...rest }) => rest)(d)));
        body = { detections };
      } else body = { scans: t.events as ScanSummary[] };
      try {
        const r = await this.client.json("POST", kind === "detection" ? "api/v1/detections" : "api/v1/scans", BatchResponse, { body });
        this.spool.remove(t.names);
        if (kind === "detection") out.detections += r.accepted; else out.scans += r.accepted;
        out.duplicates += r.duplicates;
      } catch (err) {
        if (err instanceof AgentHttpError && err.status === 413 && batch > 1) { batch = Math.max(1, Math.floor(batch / 2)); continue; }
        if (err instanceof AgentHttpError && (err.status === 400 || err.status === 413 || err.status === 422)) {
          // malformed for this server: retrying would fail forever and block the queue
          this.spool.remove(t.names);
          out.rejected += t.names.length;
          this.log("error", `the server refused ${t.names.length} queued ${kind}(s) (${err.message}); dropped`);
          continue;
        }
        throw err;
      }
    }
  }

  private async flushSamples(out: FlushReport): Promise<void> {
    for (const s of this.spool.samples()) {
      const pol = this.policy;
      if (!pol.samples.enabled || !(pol.samples.fileTypes as string[]).includes(s.type)) { this.spool.removeSample(s); continue; }
      let bytes: Buffer;
      try { bytes = readFileSync(s.file); } catch { this.spool.removeSample(s); continue; }
      if (bytes.length > pol.samples.maxBytes) { this.spool.removeSample(s); continue; }
      const r = await this.client.send("POST", `api/v1/samples?sha256=${s.sha256}&type=${s.type}`, { body: new Uint8Array(bytes), contentType: "application/octet-stream" });
      if (r.status === 401) throw new AgentHttpError(401, REVOKED_MESSAGE);
      if (r.status >= 200 && r.status < 300) { out.samples++; this.spool.removeSample(s); continue; }
      if (r.status >= 400 && r.status < 500 && r.status !== 429) {
        this.spool.removeSample(s);
        this.log("warn", `the server refused sample ${s.sha256.slice(0, 12)} (HTTP ${r.status}); dropped`);
        continue;
      }
      throw new ScannerError("AGENT_HTTP", `sample upload: HTTP ${r.status}`);
    }
  }

  /** The queued inventory report (the newest collected and not yet sent). */
  get inventoryFile(): string {
    return join(this.dir, "inventory.json");
  }

  inventoryQueued(): boolean {
    return existsSync(this.inventoryFile);
  }

  private dropInventory(): void {
    try { unlinkSync(this.inventoryFile); } catch { /* none queued */ }
  }

  /**
   * When the next inventory is due, or null: no collector, only on demand (everyHours 0), or
   * the effective policy does not let the inventory leave (then nothing is collected at all).
   */
  nextInventoryAt(): number | null {
    if (!this.inventorier || !this.policy.send.inventory) return null;
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
    if (!this.inventorier) return { collected: false, skipped: "no inventory collector", items: 0, findings: 0, forbidden: 0 };
    const pol = this.policy;
    if (!pol.send.inventory) {
      this.dropInventory();
      return { collected: false, skipped: "the data policy (or this endpoint's ceiling) does not allow sending the inventory", items: 0, findings: 0, forbidden: 0 };
    }
    const started = this.now();
    let report: InventoryReport;
    try {
      report = InventoryReport.parse(await this.inventorier.collect({ includePaths: pol.send.path, now: started }));
    } catch (err) {
      this.state.lastInventoryAt = started; // a failing collection is retried at the next due time, not in a loop
      this.state.lastInventoryResult = `collection failed: ${(err as Error).message}`.slice(0, 1000);
      this.saveState();
      throw err;
    }
    writeJsonAtomic(this.inventoryFile, report, 0o600);
    const forbidden = report.findings.filter((f) => f.status === "forbidden").length;
    this.state.lastInventoryAt = started;
    this.state.lastInventoryResult = `collected ${report.items.length} items, ${report.findings.length} findings (${forbidden} forbidden)`;
    this.saveState();
    this.log(forbidden ? "warn" : "info", `inventory: ${report.items.length} items, ${report.findings.length} findings, ${forbidden} forbidden`);
    return { collected: true, items: report.items.length, findings: report.findings.length, forbidden };
  }

  private async flushInventory(out: FlushReport): Promise<void> {
    if (!this.inventoryQueued()) return;
    const pol = this.policy;
    if (!pol.send.inventory) { this.dropInventory(); return; }
    let report: InventoryReport;
    try {
      report = InventoryReport.parse(JSON.parse(readFileSync(this.inventoryFile, "utf8")));
    } catch (err) {
      this.dropInventory();
      this.log("warn", `the queued inventory report is damaged (${(err as Error).message.slice(0, 200)}); dropped, the next collection replaces it`);
      return;
    }
    // the policy in force when sending applies again: paths collected under a wider policy are dropped
    if (!pol.send.path) report = { ...report, items: report.items.map(({ installPath: _p, ...rest }) => rest) };
    try {
      const r = await this.client.json("POST", "api/v1/inventory", InventoryResponse, { body: report, maxResponseBytes: 64 * 1024, timeoutMs: 120_000 });
      this.dropInventory();
      out.inventory++;
      this.state.lastInventoryResult = `sent ${r.items} items, ${r.findings} findings`;
    } catch (err) {
      if (err instanceof AgentHttpError && (err.status === 400 || err.status === 403 || err.status === 413 || err.status === 422)) {
        // refused for good (malformed, too large, or the server's policy says no): resending would fail again
        this.dropInventory();
        out.rejected++;
        this.state.lastInventoryResult = `the server refused the inventory (${err.message})`.slice(0, 1000);
        this.log("error", `the server refused the inventory report (${err.message}); dropped`);
        return;
      }
      throw err;
    }
  }

  /** Runs the verified update check (when an updater is configured). */
  async checkUpdates(): Promise<UpdateCheck | undefined> {
    if (!this.updater) return undefined;
    const before = JSON.stringify(this.state.checkpoint);
    const r = await this.updater.check();
    this.state.lastUpdateCheck = this.now();
    this.state.lastUpdateResult = `${r.status}: ${r.message}`.slice(0, 1000);
    if (r.checkpoint) this.state.checkpoint = r.checkpoint;
    if (r.status === "applied") this.rulesCache = undefined;
    this.saveState();
    this.log(r.status === "refused" || r.status === "failed" ? "warn" : "info", `update check: ${r.status}: ${r.message}`);
    return { ...r, changed: JSON.stringify(this.state.checkpoint) !== before };
  }

  nextScanAt(): number | null {
    return nextScanAt(this.config.scan, this.state.lastScanAt, this.now());
  }

  nextUpdateAt(): number | null {
    if (!this.updater) return null;
    return this.state.lastUpdateCheck === null ? this.now() : this.state.lastUpdateCheck + this.config.updates.everyMinutes * 60_000;
  }

  /** One cycle: heartbeat, due scan (or forced), due inventory (or forced), flush, due update check. A revoked key throws. */
  async cycle(o: { scan?: boolean; inventory?: boolean; signal?: AbortSignal } = {}): Promise<CycleReport> {
    const errors: string[] = [];
    let contacted = false;
    try {
      await this.heartbeat();
      contacted = true;
    } catch (err) {
      if (isFatal(err)) throw err;
      errors.push(`heartbeat: ${(err as Error).message}`);
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
      if (update && update.changed && contacted) {
        try { await this.heartbeat(); } catch (err) {
          if (isFatal(err)) throw err;
        }
      }
    }
    return {
      contacted, policyVersion: this.serverPolicyVersion, ...(scan ? { scan } : {}), flush, ...(update ? { update } : {}), ...(inventory ? { inventory } : {}),
      queued: this.spool.count().total, inventoryQueued: this.inventoryQueued(), errors,
    };
  }

  /**
   * Runs until `signal` aborts: heartbeats every policy.heartbeatSeconds (every minute at most
   * while the server does not answer), scheduled scans, the watch session, flushing soon after
   * events, update checks. Resolves when stopped; a revoked key rejects.
   */
  async run(signal: AbortSignal, o: { scan?: boolean; inventory?: boolean } = {}): Promise<void> {
    let wake: (() => void) | undefined;
    const poke = () => wake?.();
    signal.addEventListener("abort", poke);
    let flushWanted = true;
    let nextHeartbeat = 0;
    let nextFlush = 0;
    let forceScan = !!o.scan;
    let forceInventory = !!o.inventory;
    let watch: WatchSession | undefined;
    let watchScanner: Scanner | undefined;
    let watchQueue: Promise<unknown> = Promise.resolve();
    let fatal: unknown;
    const stopWatch = async () => {
      await watch?.close();
      await watchQueue;
      await watchScanner?.close();
      watch = undefined;
      watchScanner = undefined;
    };
    const startWatch = async () => {
      if (!this.config.watch.paths.length) return;
      const rules = await this.rules();
      const scanner = this.newScanner(rules, Math.min(1, this.config.jobs));
      const budget: LookupBudget = { left: this.config.reputation.maxLookupsPerScan, offline: false, used: 0 };
      const emit = (e: WatchEvent) => {
        watchQueue = watchQueue.then(async () => {
          try {
            let n = 0;
            if (e.type === "result") n = await this.handleResult(e.result, rules, budget);
            else if (e.type === "ransomware") {
              const first = e.evidence[0];
              if (first) n = await this.report(first.path, statSafe(first.path), [{ rule: e.name, name: e.name, path: first.path, severity: "critical" }], rules.version);
            } else if (e.type === "watch-error") this.log("warn", `watch: ${e.message}`);
            if (n > 0) {
              flushWanted = true;
              nextFlush = Math.min(nextFlush || Infinity, this.now() + 1000);
              poke();
            }
            this.reputation.save();
          } catch (err) {
            if (isFatal(err)) { fatal = err; poke(); }
            else this.log("error", `watch: ${(err as Error).message}`);
          }
        });
      };
      const s = new WatchSession(scanner, this.config.watch.paths, emit, { settleMs: this.config.watch.settleMs });
      await s.start();
      watch = s;
      watchScanner = scanner;
      this.log("info", `watching ${this.config.watch.paths.join(", ")}`);
    };
    try {
      try { await startWatch(); } catch (err) { this.log("error", `cannot watch: ${(err as Error).message}`); }
      while (!signal.aborted) {
        if (fatal) throw fatal;
        let now = this.now();
        if (now >= nextHeartbeat) {
          let ok = false;
          try {
            await this.heartbeat();
            ok = true;
          } catch (err) {
            if (isFatal(err)) throw err;
            this.log("warn", `heartbeat: ${(err as Error).message}`);
          }
          const every = this.policy.heartbeatSeconds * 1000;
          nextHeartbeat = this.now() + (ok ? every : Math.min(every, 60_000));
          if (ok) { flushWanted = true; nextFlush = 0; }
        }
        const scanDue = this.nextScanAt();
        if (!signal.aborted && (forceScan || (scanDue !== null && scanDue <= this.now()))) {
          try {
            await this.scan(forceScan ? "manual" : "scheduled", signal);
          } catch (err) {
            if (isFatal(err)) throw err;
            this.log("error", `scan: ${(err as Error).message}`);
            this.state.lastScanAt = this.now(); // do not retry a failing scan in a tight loop
            this.saveState();
          }
          forceScan = false;
          flushWanted = true;
        }
        const invDue = this.nextInventoryAt();
        if (!signal.aborted && (forceInventory || (invDue !== null && invDue <= this.now()))) {
          try {
            const r = await this.collectInventory();
            if (r.skipped && forceInventory) this.log("warn", `inventory not collected: ${r.skipped}`);
          } catch (err) {
            if (isFatal(err)) throw err;
            this.log("error", `inventory: ${(err as Error).message}`);
          }
          forceInventory = false;
          flushWanted = true;
          nextFlush = 0;
        }
        now = this.now();
        const pending = () => this.spool.count().total > 0 || this.inventoryQueued();
        if (flushWanted && now >= nextFlush && pending()) {
          const f = await this.flush();
          if (f.stopped) {
            this.log("warn", `sending paused: ${f.stopped} (${f.remaining} queued)`);
            nextFlush = now + Math.min(this.policy.heartbeatSeconds * 1000, 60_000);
          } else { flushWanted = false; nextFlush = 0; }
        } else if (flushWanted && !pending()) flushWanted = false;
        const upd = this.nextUpdateAt();
        if (!signal.aborted && upd !== null && upd <= this.now()) {
          const r = await this.checkUpdates();
          if (r?.status === "applied") {
            await stopWatch();
            try { await startWatch(); } catch (err) { this.log("error", `cannot watch: ${(err as Error).message}`); }
          }
          if (r && r.changed) nextHeartbeat = 0;
        }
        if (signal.aborted) break;
        now = this.now();
        const times = [nextHeartbeat, now + 60_000];
        const s = this.nextScanAt();
        if (s !== null) times.push(s);
        const u = this.nextUpdateAt();
        if (u !== null) times.push(u);
        const inv = this.nextInventoryAt();
        if (inv !== null) times.push(inv);
        if (flushWanted && nextFlush) times.push(nextFlush);
        const delay = Math.max(50, Math.min(...times) - now);
        await new Promise<void>((res) => {
          const t = setTimeout(() => { wake = undefined; res(); }, delay);
          wake = () => { clearTimeout(t); wake = undefined; res(); };
        });
      }
      if (fatal) throw fatal;
    } finally {
      signal.removeEventListener("abort", poke);
      await stopWatch();
      this.reputation.save();
      this.saveState();
    }
  }

  /** What `vigil agent status` shows. */
  status(): AgentStatus {
    return {
      stateDir: this.dir,
      server: this.config.server,
      endpointId: this.config.endpointId,
      enrolledAt: this.config.enrolledAt,
      lastContact: this.state.lastContact,
      lastAttempt: this.state.lastAttempt,
      lastError: this.state.lastError,
      queue: this.spool.count(),
      dropped: this.state.dropped,
      serverPolicyVersion: this.serverPolicyVersion,
      policyRejected: this.state.policyRejected,
      effectivePolicy: this.policy,
      ceiling: this.config.ceiling,
      ledger: ledgerHead(this.ledger),
      rulesVersion: this.state.rulesVersion,
      checkpoint: this.state.checkpoint,
      lastScanAt: this.state.lastScanAt,
      nextScanAt: this.nextScanAt(),
      lastUpdateCheck: this.state.lastUpdateCheck,
      lastUpdateResult: this.state.lastUpdateResult,
      scan: this.config.scan,
      watch: this.config.watch.paths,
      inventory: {
        everyHours: this.config.inventory.everyHours,
        collector: this.inventorier !== undefined,
        lastAt: this.state.lastInventoryAt,
        nextAt: this.nextInventoryAt(),
        lastResult: this.state.lastInventoryResult,
        queued: this.inventoryQueued(),
      },
    };
  }
}

function ledgerHead(l: Ledger): { entries: number; head: string; broken?: string } {
  try {
    return l.head();
  } catch (err) {
    const v = l.verify();
    return { entries: v.entries, head: v.head, broken: (err as Error).message };
  }
}

function statSafe(path: string): number {
  try { return statSync(path).size; } catch { return 0; }
}

export interface AgentStatus {
  stateDir: string;
  server: string;
  endpointId: string;
  enrolledAt: number;
  lastContact: number | null;
  lastAttempt: number | null;
  lastError: string | null;
  queue: { detection: number; scan: number; sample: number; total: number };
  dropped: number;
  serverPolicyVersion: number;
  policyRejected: string | null;
  effectivePolicy: DataPolicy;
  ceiling: DataCeiling;
  ledger: { entries: number; head: string; broken?: string };
  rulesVersion: string | null;
  checkpoint: CheckpointRef | null;
  lastScanAt: number | null;
  nextScanAt: number | null;
  lastUpdateCheck: number | null;
  lastUpdateResult: string | null;
  scan: AgentConfig["scan"];
  watch: string[];
  inventory: { everyHours: number; collector: boolean; lastAt: number | null; nextAt: number | null; lastResult: string | null; queued: boolean };
}
