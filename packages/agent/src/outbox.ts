/**
 * The outbox: what is queued to leave the endpoint and the sending of it. Detections and scan
 * summaries wait in the spool, samples beside them, and the newest inventory report in
 * inventory.json (a newer one replaces it). `flush` sends them in that order, in batches, each
 * under the data policy in force when sending (a path or a summary queued under a wider policy
 * is dropped), and stops at the first network or server failure: what is left stays queued.
 * Events the server refuses as malformed are dropped, so one bad event cannot block the queue.
 */
import { readFileSync, existsSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import {
  BatchResponse,
  InventoryReport,
  InventoryResponse,
  type DataPolicy,
  type Detection,
  type ScanSummary,
} from "@vigil/protocol";
import { AgentHttpError, REVOKED_MESSAGE, type AgentClient } from "./client.js";
import { writeJsonAtomic, type AgentState } from "./config.js";
import type { LogLevel } from "./enroll.js";
import { AgentError, isFatal } from "./error.js";
import type { Spool } from "./spool.js";

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

export interface OutboxOptions {
  dir: string;
  client: AgentClient;
  spool: Spool;
  /** The effective data policy, asked again before each batch (a heartbeat may change it). */
  policy: () => DataPolicy;
  /** The agent's run state (lastInventoryResult is written here). */
  state: () => AgentState;
  log: (level: LogLevel, message: string) => void;
}

export class Outbox {
  /** The queued inventory report (the newest collected and not yet sent). */
  readonly inventoryFile: string;

  constructor(private readonly o: OutboxOptions) {
    this.inventoryFile = join(o.dir, "inventory.json");
  }

  inventoryQueued(): boolean {
    return existsSync(this.inventoryFile);
  }

  /** Queues `report` in place of any report still unsent. */
  queueInventory(report: InventoryReport): void {
    writeJsonAtomic(this.inventoryFile, report, 0o600);
  }

  dropInventory(): void {
    try {
      unlinkSync(this.inventoryFile);
    } catch {
      /* none queued */
    }
  }

  /** Something is waiting to be sent. */
  pending(): boolean {
    return this.o.spool.count().total > 0 || this.inventoryQueued();
  }

  /** Sends the queued events; stops at the first network or server failure (`stopped`). A revoked key or broken ledger throws. */
  async flush(): Promise<FlushReport> {
    const out: FlushReport = {
      detections: 0,
      scans: 0,
      samples: 0,
      inventory: 0,
      duplicates: 0,
      rejected: 0,
      remaining: 0,
    };
    try {
      await this.flushKind("detection", out);
      await this.flushKind("scan", out);
      await this.flushSamples(out);
      await this.flushInventory(out);
    } catch (err) {
      if (isFatal(err)) throw err;
      out.stopped = (err as Error).message;
    }
    out.remaining = this.o.spool.count().total;
    return out;
  }

  private async flushKind(kind: "detection" | "scan", out: FlushReport): Promise<void> {
    const { spool, client } = this.o;
    let batch = 200;
    for (;;) {
      const pol = this.o.policy();
      if (kind === "scan" && !pol.send.scanSummaries) {
        // the policy (or the ceiling) no longer wants summaries: they are not sent later either
        for (let t = spool.take("scan", 1000); t.names.length; t = spool.take("scan", 1000)) spool.remove(t.names);
        return;
      }
      const t = spool.take(kind, batch);
      if (!t.names.length) return;
      let body;
      if (kind === "detection") {
        // the policy in force when sending also applies: a path queued under a wider policy is dropped
        const detections = (t.events as Detection[]).map((d) =>
          pol.send.path ? d : (({ path: _p, ...rest }) => rest)(d),
        );
        body = { detections };
      } else body = { scans: t.events as ScanSummary[] };
      try {
        const r = await client.json(
          "POST",
          kind === "detection" ? "api/v1/detections" : "api/v1/scans",
          BatchResponse,
          { body },
        );
        spool.remove(t.names);
        if (kind === "detection") out.detections += r.accepted;
        else out.scans += r.accepted;
        out.duplicates += r.duplicates;
      } catch (err) {
        if (err instanceof AgentHttpError && err.status === 413 && batch > 1) {
          batch = Math.max(1, Math.floor(batch / 2));
          continue;
        }
        if (err instanceof AgentHttpError && (err.status === 400 || err.status === 413 || err.status === 422)) {
          // malformed for this server: retrying would fail forever and block the queue
          spool.remove(t.names);
          out.rejected += t.names.length;
          this.o.log("error", `the server refused ${t.names.length} queued ${kind}(s) (${err.message}); dropped`);
          continue;
        }
        throw err;
      }
    }
  }

  private async flushSamples(out: FlushReport): Promise<void> {
    const { spool, client } = this.o;
    for (const s of spool.samples()) {
      const pol = this.o.policy();
      if (!pol.samples.enabled || !(pol.samples.fileTypes as string[]).includes(s.type)) {
        spool.removeSample(s);
        continue;
      }
      let bytes: Buffer;
      try {
        bytes = readFileSync(s.file);
      } catch {
        spool.removeSample(s);
        continue;
      }
      if (bytes.length > pol.samples.maxBytes) {
        spool.removeSample(s);
        continue;
      }
      const r = await client.send("POST", `api/v1/samples?sha256=${s.sha256}&type=${s.type}`, {
        body: new Uint8Array(bytes),
        contentType: "application/octet-stream",
      });
      if (r.status === 401) throw new AgentHttpError(401, REVOKED_MESSAGE);
      if (r.status >= 200 && r.status < 300) {
        out.samples++;
        spool.removeSample(s);
        continue;
      }
      if (r.status >= 400 && r.status < 500 && r.status !== 429) {
        spool.removeSample(s);
        this.o.log("warn", `the server refused sample ${s.sha256.slice(0, 12)} (HTTP ${r.status}); dropped`);
        continue;
      }
      throw new AgentError("AGENT_HTTP", `sample upload: HTTP ${r.status}`);
    }
  }

  private async flushInventory(out: FlushReport): Promise<void> {
    if (!this.inventoryQueued()) return;
    const pol = this.o.policy();
    if (!pol.send.inventory) {
      this.dropInventory();
      return;
    }
    let report: InventoryReport;
    try {
      report = InventoryReport.parse(JSON.parse(readFileSync(this.inventoryFile, "utf8")));
    } catch (err) {
      this.dropInventory();
      this.o.log(
        "warn",
        `the queued inventory report is damaged (${(err as Error).message.slice(0, 200)}); dropped, the next collection replaces it`,
      );
      return;
    }
    // the policy in force when sending applies again: paths collected under a wider policy are dropped
    if (!pol.send.path) report = { ...report, items: report.items.map(({ installPath: _p, ...rest }) => rest) };
    const state = this.o.state();
    try {
      const r = await this.o.client.json("POST", "api/v1/inventory", InventoryResponse, {
        body: report,
        maxResponseBytes: 64 * 1024,
        timeoutMs: 120_000,
      });
      this.dropInventory();
      out.inventory++;
      state.lastInventoryResult = `sent ${r.items} items, ${r.findings} findings`;
    } catch (err) {
      if (
        err instanceof AgentHttpError &&
        (err.status === 400 || err.status === 403 || err.status === 413 || err.status === 422)
      ) {
        // refused for good (malformed, too large, or the server's policy says no): resending would fail again
        this.dropInventory();
        out.rejected++;
        state.lastInventoryResult = `the server refused the inventory (${err.message})`.slice(0, 1000);
        this.o.log("error", `the server refused the inventory report (${err.message}); dropped`);
        return;
      }
      throw err;
    }
  }
}
