/**
 * Remote actions on the endpoint. The server hands them over in the heartbeat answer (the
 * heartbeat announces the kinds this agent implements, ACTION_KINDS); `ActionRunner.run` carries
 * each out once, or refuses it, and reports the outcome on POST /api/v1/actions/:id/result
 * through the agent's client (so the ledger records it).
 *
 * The operator's ceiling (`actions` in agent.json, policy.ts) is the final word: a kind not in
 * `actions.allow` is refused and reported failed with the reason; a quarantine by path must name
 * a file under `actions.roots` (by default the configured scan and watch paths; symbolic links
 * resolved first), and a quarantine by hash looks for the file only there. What a result carries
 * obeys the effective data policy: paths the server did not send are reported only when the
 * policy allows paths, and the diagnostic bundle withholds paths, log lines and the host name
 * the policy does not let leave.
 *
 * actions.json in the state directory remembers each action run (its result, and whether the
 * server has it): a re-delivered action is never run twice, a result that did not reach the
 * server is sent again with the next heartbeat, and an action the agent was running when it
 * stopped is reported failed ("interrupted").
 */
import { readFileSync, realpathSync } from "node:fs";
import { arch, platform, release } from "node:os";
import { basename, dirname, join, resolve, sep } from "node:path";
import { z } from "zod";
import {
  ACTION_KINDS,
  ActionResult,
  ActionResultResponse,
  DIAGNOSTICS_MAX_BYTES,
  type Action,
  type ActionKind,
} from "@vigil/protocol";
import { Quarantine, fsPath, printable, walk, type QuarantineEntry } from "@vigil/scanner";
import { fileSha256, type Agent } from "./agent.js";
import { AgentHttpError } from "./client.js";
import { AGENT_VERSION, writeJsonAtomic, type AgentConfig } from "./config.js";
import { isFatal } from "./error.js";

/** What one action came to, as `run` returns it (and the cycle report lists it). */
export interface ActionOutcome {
  id: string;
  kind: string;
  state: "done" | "failed";
  message: string;
  /** The result reached the server. */
  sent: boolean;
  /** An update action applied a new bundle (the watch session restarts with it). */
  applied?: boolean;
}

/** One line of actions.json: an action this agent ran (or is running). */
const ActionRecordSchema = z.object({
  id: z.string(),
  kind: z.string(),
  state: z.enum(["running", "done", "failed"]),
  at: z.number().int(),
  result: ActionResult.optional(),
  sent: z.boolean().default(false),
});
type ActionRecord = z.infer<typeof ActionRecordSchema>;
const RecordFile = z.object({ actions: z.array(ActionRecordSchema) });

/** How many action records actions.json keeps (the newest). */
const KEEP_RECORDS = 500;
/** Log lines kept in memory for the diagnostic bundle. */
export const RECENT_LOG_LINES = 300;

function isUnder(path: string, root: string): boolean {
  const r = root.endsWith(sep) ? root : root + sep;
  return path === root || path.startsWith(r);
}

/** The real path of `p` (symbolic links in its directories resolved; the last component kept). */
function realOf(p: string): string {
  const abs = resolve(p);
  try {
    return join(realpathSync(fsPath(dirname(abs))), basename(abs));
  } catch {
    return abs;
  }
}

function realRoot(p: string): string {
  try {
    return realpathSync(fsPath(resolve(p)));
  } catch {
    return resolve(p);
  }
}

/** The configuration as the diagnostic bundle carries it: the endpoint key removed, paths withheld unless allowed. */
export function redactedConfig(c: AgentConfig, paths: boolean, hostname: boolean): Record<string, unknown> {
  const withheld = "(withheld: the data policy does not allow paths)";
  const list = (xs: string[]) => (paths ? xs : xs.length ? [withheld] : []);
  return {
    ...c,
    key: "(removed)",
    hostname: hostname ? c.hostname : "(withheld: the data policy does not allow the host name)",
    scan: { ...c.scan, paths: list(c.scan.paths), exclude: list(c.scan.exclude) },
    watch: { ...c.watch, paths: list(c.watch.paths) },
    rules: { ...c.rules, extra: list(c.rules.extra) },
    quarantineDir: paths || c.quarantineDir === null ? c.quarantineDir : withheld,
    inventory: {
      ...c.inventory,
      root: paths ? c.inventory.root : withheld,
      packs: list(c.inventory.packs),
      trustKeys: list(c.inventory.trustKeys),
      scan: list(c.inventory.scan),
    },
    updates: { ...c.updates, source: paths || !c.updates.source?.startsWith("/") ? c.updates.source : withheld },
    actions: { ...c.actions, roots: list(c.actions.roots) },
    scanCeiling: { ...c.scanCeiling, roots: list(c.scanCeiling.roots) },
  };
}

export class ActionRunner {
  private readonly file: string;
  private records: ActionRecord[];
  /** Handed over by the last heartbeat answers, not yet run. */
  private pending: Action[] = [];
  private running = new Set<string>();

  constructor(private readonly agent: Agent) {
    this.file = join(agent.dir, "actions.json");
    this.records = this.load();
  }

  private load(): ActionRecord[] {
    let text: string;
    try {
      text = readFileSync(this.file, "utf8");
    } catch {
      return [];
    }
    try {
      return RecordFile.parse(JSON.parse(text)).actions;
    } catch {
      // damaged: ids are forgotten; the server's own state still keeps a finished action from re-delivery
      this.agent.log("warn", `${this.file} is damaged; starting a new record of remote actions`);
      return [];
    }
  }

  private save(): void {
    this.records = this.records.slice(-KEEP_RECORDS);
    writeJsonAtomic(this.file, { actions: this.records }, 0o600);
  }

  /** The records (newest last), for status and tests. */
  list(): readonly ActionRecord[] {
    return this.records;
  }

  /** Takes the actions of a heartbeat answer (each id once). */
  accept(actions: Action[] | undefined): void {
    for (const a of actions ?? []) if (!this.pending.some((p) => p.id === a.id)) this.pending.push(a);
  }

  /** Something to run or to send. */
  waiting(): boolean {
    return this.pending.length > 0 || this.records.some((r) => r.result && !r.sent);
  }

  /**
   * Runs the actions handed over (each at most once, in order) and sends every result the
   * server does not have yet. Sending stops at the first network failure (the results stay for
   * the next heartbeat); a revoked key or a broken ledger throws.
   */
  async run(signal?: AbortSignal): Promise<ActionOutcome[]> {
    const out: ActionOutcome[] = [];
    const todo = this.pending;
    this.pending = [];
    for (const a of todo) {
      if (signal?.aborted) {
        this.pending.push(a);
        continue;
      }
      const known = this.records.find((r) => r.id === a.id);
      if (known?.state === "running" && this.running.has(a.id)) continue;
      if (known?.state === "running") {
        // this agent stopped while running it: it may have done part of it
        known.state = "failed";
        known.result = {
          state: "failed",
          message: "interrupted: the agent stopped while carrying it out; queue it again if it is still wanted",
          finishedAt: this.agent.now(),
        };
        known.sent = false;
        this.save();
      }
      if (known) {
        known.sent = false; // handed over again: the server does not have the result
        continue;
      }
      const rec: ActionRecord = { id: a.id, kind: a.kind, state: "running", at: this.agent.now(), sent: false };
      this.records.push(rec);
      this.save();
      this.running.add(a.id);
      let result: ActionResult & { applied?: boolean };
      try {
        this.agent.log("info", `remote action ${a.kind} (${a.id}) from ${printable(a.requestedBy)}`);
        result = await this.execute(a, signal);
      } catch (err) {
        if (isFatal(err)) throw err;
        result = { state: "failed", message: (err as Error).message.slice(0, 4000), finishedAt: this.agent.now() };
      } finally {
        this.running.delete(a.id);
      }
      const { applied, ...wire } = result;
      rec.state = wire.state;
      rec.result = wire;
      this.save();
      this.agent.log(
        wire.state === "done" ? "info" : "warn",
        `remote action ${a.kind} (${a.id}) ${wire.state}: ${wire.message}`,
      );
      out.push({
        id: a.id,
        kind: a.kind,
        state: wire.state,
        message: wire.message,
        sent: false,
        ...(applied ? { applied } : {}),
      });
    }
    await this.send(out);
    return out;
  }

  /** Sends the results the server does not have; marks them sent (also when the server no longer knows the action). */
  private async send(out: ActionOutcome[]): Promise<void> {
    for (const rec of this.records) {
      if (!rec.result || rec.sent) continue;
      try {
        await this.agent.client.json(
          "POST",
          `api/v1/actions/${encodeURIComponent(rec.id)}/result`,
          ActionResultResponse,
          {
            body: rec.result,
            maxResponseBytes: 64 * 1024,
          },
        );
        rec.sent = true;
      } catch (err) {
        if (isFatal(err)) throw err;
        if (err instanceof AgentHttpError && (err.status === 404 || err.status === 400)) {
          // the server does not know the action (or refuses the report): sending again cannot help
          this.agent.log("warn", `result of remote action ${rec.id} not taken: ${err.message}`);
          rec.sent = true;
        } else {
          this.agent.log("warn", `results of remote actions not sent yet: ${(err as Error).message}`);
          break;
        }
      } finally {
        this.save();
      }
      const o = out.find((x) => x.id === rec.id);
      if (o) o.sent = rec.sent;
    }
  }

  private refuse(message: string): ActionResult {
    return { state: "failed", message, finishedAt: this.agent.now() };
  }

  private done(message: string, details?: Record<string, unknown>): ActionResult {
    return { state: "done", message, ...(details ? { details } : {}), finishedAt: this.agent.now() };
  }

  /** Checks the ceiling, then carries the action out. */
  private async execute(a: Action, signal?: AbortSignal): Promise<ActionResult & { applied?: boolean }> {
    const cfg = this.agent.config;
    if (!(ACTION_KINDS as readonly string[]).includes(a.kind))
      return this.refuse(`this agent (version ${AGENT_VERSION}) does not know ${a.kind} actions`);
    const kind = a.kind as ActionKind;
    if (!cfg.actions.allow.includes(kind))
      return this.refuse(
        `refused: this endpoint's configuration does not allow remote ${kind} actions (its operator allows: ${cfg.actions.allow.join(", ") || "none"}; "actions.allow" in agent.json)`,
      );
    switch (kind) {
      case "scan":
        return this.scan(a, signal);
      case "quarantine":
        return this.quarantine(a, signal);
      case "restore":
        return this.restore(a);
      case "update":
        return this.update();
      case "diagnostics":
        return this.diagnostics();
    }
  }

  private async scan(a: Action, signal?: AbortSignal): Promise<ActionResult> {
    const paths = a.path ? [a.path] : this.agent.config.scan.paths;
    if (!paths.length) return this.refuse("no path given and no scan paths configured on this endpoint");
    const r = await this.agent.scan("manual", signal, a.path ? paths : undefined);
    // a scan cut short is not a clean result
    if (signal?.aborted)
      return this.refuse(
        `interrupted: the agent was stopped after ${r.files} files (${r.detections} detections); queue the scan again`,
      );
    return this.done(
      `scanned ${r.files} file${r.files === 1 ? "" : "s"}: ${r.detections} detection${r.detections === 1 ? "" : "s"}, ${r.errors} errors, ${r.incomplete} not fully scanned`,
      {
        files: r.files,
        bytes: r.bytes,
        detections: r.detections,
        errors: r.errors,
        incomplete: r.incomplete,
        seconds: Math.round((r.finishedAt - r.startedAt) / 100) / 10,
      },
    );
  }

  /** Where a remote quarantine may act: actions.roots, else the scan and watch paths (real paths). */
  roots(): string[] {
    const c = this.agent.config;
    const roots = c.actions.roots.length ? c.actions.roots : [...c.scan.paths, ...c.watch.paths];
    return [...new Set(roots.map(realRoot))];
  }

  private vault(): Quarantine {
    return new Quarantine(this.agent.config.quarantineDir ?? join(this.agent.dir, "quarantine"));
  }

  private async quarantine(a: Action, signal?: AbortSignal): Promise<ActionResult> {
    const roots = this.roots();
    if (!roots.length)
      return this.refuse(
        'refused: no roots where a remote quarantine may act (set "actions.roots", or scan or watch paths, in agent.json)',
      );
    const paths = this.agent.policy.send.path;
    const note = { detections: [`remote action by ${a.requestedBy}`.slice(0, 200)], rulesVersion: "" };
    const entryOf = (e: QuarantineEntry, showPath: boolean) => ({
      quarantineId: e.id,
      sha256: e.sha256,
      size: e.size,
      ...(showPath ? { path: e.originalPath } : {}),
    });
    if (a.path) {
      const real = realOf(a.path);
      if (!roots.some((r) => isUnder(real, r)))
        return this.refuse(
          `refused: ${a.path} is not under the roots where this endpoint allows a remote quarantine ("actions.roots", or the scan and watch paths)`,
        );
      const e = this.vault().add(real, note);
      return this.done(`quarantined ${a.path} as ${e.id}`, { entries: [entryOf(e, true)] });
    }
    const want = a.sha256!;
    let hashed = 0;
    let limited = false;
    const found: QuarantineEntry[] = [];
    const failures: string[] = [];
    const vaultDir = realRoot(this.vault().dir);
    for await (const ent of walk(roots, { ...(signal ? { signal } : {}) })) {
      if (ent.kind !== "file" || isUnder(ent.path, vaultDir)) continue;
      if (hashed >= this.agent.config.actions.maxHashFiles) {
        limited = true;
        break;
      }
      hashed++;
      if ((await fileSha256(ent.path)) !== want) continue;
      try {
        found.push(this.vault().add(ent.path, note));
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
    if (signal?.aborted && !found.length)
      return this.refuse(`interrupted: the agent was stopped after hashing ${hashed} files; queue it again`);
    const where = `${hashed} files hashed under ${roots.length} root${roots.length === 1 ? "" : "s"}${limited ? `, stopped at the limit of ${this.agent.config.actions.maxHashFiles}` : ""}`;
    if (!found.length)
      return this.refuse(
        failures.length
          ? `found the file but could not quarantine it: ${paths ? failures[0] : `${failures.length} failure(s)`} (${where})`
          : `no file with sha256 ${want.slice(0, 12)}… found (${where})`,
      );
    const details = { entries: found.map((e) => entryOf(e, paths)), failures: failures.length };
    const n = `${found.length} file${found.length === 1 ? "" : "s"}`;
    // a copy left in place is not contained: the action failed, with what it did quarantine
    if (failures.length)
      return { ...this.done(`quarantined ${n}, ${failures.length} could not be (${where})`, details), state: "failed" };
    return this.done(`quarantined ${n} (${where})`, details);
  }

  private restore(a: Action): ActionResult {
    const vault = this.vault();
    const ids = a.quarantineId
      ? [a.quarantineId]
      : vault
          .list()
          .filter((e) => e.sha256 === a.sha256)
          .map((e) => e.id);
    if (!ids.length) return this.refuse(`no vault entry with sha256 ${a.sha256!.slice(0, 12)}… on this endpoint`);
    const paths = this.agent.policy.send.path;
    const restored: Array<Record<string, unknown>> = [];
    const failures: string[] = [];
    for (const id of ids) {
      try {
        // never replaces a file that is there now (Quarantine.restore refuses it)
        const to = vault.restore(id);
        restored.push({ quarantineId: id, ...(paths ? { path: to } : {}) });
      } catch (err) {
        failures.push(`${id}: ${(err as Error).message}`);
      }
    }
    if (failures.length) {
      const why = paths ? failures[0]! : failures[0]!.split(":")[0]!;
      return {
        ...this.done(
          `restored ${restored.length} of ${ids.length} vault entr${ids.length === 1 ? "y" : "ies"}; ${failures.length} could not be (${why}${paths ? "" : ": see the agent's log"})`,
          { restored, failures: failures.length },
        ),
        state: "failed",
      };
    }
    return this.done(
      `restored ${ids.length === 1 ? `vault entry ${ids[0]}` : `${ids.length} vault entries`}${paths && restored.length === 1 ? ` to ${restored[0]!.path as string}` : ""}`,
      { restored },
    );
  }

  private async update(): Promise<ActionResult & { applied?: boolean }> {
    const r = await this.agent.checkUpdates();
    if (!r)
      return this.refuse(
        'no update trust policy or root is configured on this endpoint ("updates.trustPolicy" or "updates.trustRoot" in agent.json)',
      );
    const details = { status: r.status, ...(r.checkpoint ? { checkpoint: r.checkpoint } : {}) };
    if (r.status === "refused" || r.status === "failed")
      return {
        state: "failed",
        message: `update check ${r.status}: ${r.message}`.slice(0, 4000),
        details,
        finishedAt: this.agent.now(),
      };
    return {
      ...this.done(`update check: ${r.status}: ${r.message}`.slice(0, 4000), details),
      applied: r.status === "applied",
    };
  }

  /** The diagnostic bundle: versions, status, the configuration without secrets, recent log lines. */
  bundle(): Record<string, unknown> {
    const agent = this.agent;
    const pol = agent.policy;
    const st = agent.status();
    const withheld = "(withheld: the data policy does not allow paths)";
    const status = {
      ...st,
      stateDir: pol.send.path ? st.stateDir : withheld,
      scan: redactedConfig(agent.config, pol.send.path, pol.send.hostname).scan,
      watch: pol.send.path ? st.watch : st.watch.length ? [withheld] : [],
      actions: { ...st.actions, roots: pol.send.path ? st.actions.roots : st.actions.roots.length ? [withheld] : [] },
      // the server's scan policy over the local one: its paths, and the ceiling's sentences that name them
      effectiveScan: pol.send.path
        ? st.effectiveScan
        : {
            ...st.effectiveScan,
            paths: st.effectiveScan.paths.length ? [withheld] : [],
            exclude: st.effectiveScan.exclude.length ? [withheld] : [],
            watchPaths: st.effectiveScan.watchPaths.length ? [withheld] : [],
            narrowed: st.effectiveScan.narrowed.length ? [`${st.effectiveScan.narrowed.length} ${withheld}`] : [],
          },
      scanCeiling: redactedConfig(agent.config, pol.send.path, pol.send.hostname).scanCeiling,
    };
    const bundle: Record<string, unknown> = {
      format: "vigil-diagnostics/1",
      collectedAt: agent.now(),
      versions: {
        agent: AGENT_VERSION,
        node: process.versions.node,
        os: { platform: platform(), release: release(), arch: arch() },
        rules: st.rulesVersion,
        policy: st.serverPolicyVersion,
      },
      status,
      config: redactedConfig(agent.config, pol.send.path, pol.send.hostname),
      actions: this.records.slice(-20).map((r) => ({ id: r.id, kind: r.kind, state: r.state, at: r.at })),
    };
    // log lines name files: only when the policy lets paths leave
    if (!pol.send.path) {
      bundle.recentLog = {
        withheld: "the data policy does not allow paths, which log lines name",
        lines: agent.recentLog.length,
      };
      return bundle;
    }
    const lines = [...agent.recentLog];
    for (;;) {
      bundle.recentLog = lines;
      if (Buffer.byteLength(JSON.stringify(bundle)) <= DIAGNOSTICS_MAX_BYTES - 1024 || !lines.length) break;
      lines.splice(0, Math.max(1, Math.ceil(lines.length / 4))); // the oldest go first
    }
    return bundle;
  }

  private diagnostics(): ActionResult {
    const bundle = this.bundle();
    const log = Array.isArray(bundle.recentLog)
      ? `${bundle.recentLog.length} log lines`
      : "log lines withheld (policy)";
    return { ...this.done(`diagnostic bundle: status, configuration without secrets, ${log}`), bundle };
  }
}
