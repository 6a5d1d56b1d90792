/** What `vigil agent status` shows: enrolment, contact, queue, the effective policy, ledger head, schedule. */
import type { CheckpointRef, DataPolicy } from "@vigil/protocol";
import type { Agent } from "./agent.js";
import type { AgentConfig } from "./config.js";
import type { Ledger } from "./ledger.js";
import type { DataCeiling, ScanCeiling, ScanSettings } from "./policy.js";

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
  /** What is scanned, watched and done now: the local settings with the server's scan policy within the scan ceiling. */
  effectiveScan: ScanSettings;
  scanCeiling: ScanCeiling;
  tags: string[];
  inventory: {
    everyHours: number;
    collector: boolean;
    lastAt: number | null;
    nextAt: number | null;
    lastResult: string | null;
    queued: boolean;
  };
  /** The remote actions this endpoint's operator allows, and the latest ones run (actions.ts). */
  actions: {
    allow: string[];
    roots: string[];
    recent: Array<{ id: string; kind: string; state: string; at: number; sent: boolean }>;
  };
}

function ledgerHead(l: Ledger): { entries: number; head: string; broken?: string } {
  try {
    return l.head();
  } catch (err) {
    const v = l.verify();
    return { entries: v.entries, head: v.head, broken: (err as Error).message };
  }
}

export function agentStatus(a: Agent): AgentStatus {
  return {
    stateDir: a.dir,
    server: a.config.server,
    endpointId: a.config.endpointId,
    enrolledAt: a.config.enrolledAt,
    lastContact: a.state.lastContact,
    lastAttempt: a.state.lastAttempt,
    lastError: a.state.lastError,
    queue: a.spool.count(),
    dropped: a.state.dropped,
    serverPolicyVersion: a.serverPolicyVersion,
    policyRejected: a.state.policyRejected,
    effectivePolicy: a.policy,
    ceiling: a.config.ceiling,
    ledger: ledgerHead(a.ledger),
    rulesVersion: a.state.rulesVersion,
    checkpoint: a.state.checkpoint,
    lastScanAt: a.state.lastScanAt,
    nextScanAt: a.nextScanAt(),
    lastUpdateCheck: a.state.lastUpdateCheck,
    lastUpdateResult: a.state.lastUpdateResult,
    scan: a.config.scan,
    watch: a.config.watch.paths,
    effectiveScan: a.scanSettings(),
    scanCeiling: a.config.scanCeiling,
    tags: a.config.tags,
    inventory: {
      everyHours: a.config.inventory.everyHours,
      // the agent always has the @vigil/inventory collector (kept for the status format)
      collector: true,
      lastAt: a.state.lastInventoryAt,
      nextAt: a.nextInventoryAt(),
      lastResult: a.state.lastInventoryResult,
      queued: a.inventoryQueued(),
    },
    actions: {
      allow: [...a.config.actions.allow],
      roots: a.actions.roots(),
      recent: a.actions
        .list()
        .slice(-10)
        .map((r) => ({ id: r.id, kind: r.kind, state: r.state, at: r.at, sent: r.sent })),
    },
  };
}
