/**
 * @vigil/agent: the endpoint side of the Vigil security network (`vigil agent`, `vigil ledger`).
 *
 * Data flow: `enroll` exchanges a one-time token for an endpoint key and pins the server's
 * policy key (agent.json in the state directory, config.ts). An `Agent` then heartbeats, and
 * obeys the signed data policy it fetches (verified with the pinned key, narrowed by the local
 * ceiling, policy.ts). It scans the configured paths with @vigil/scanner on a schedule and
 * watches others, looks up the reputation of clean executables by hash prefix (reputation.ts)
 * and of detected files (a hash the fleet allow-lists, a false positive, is not reported), collects the installed-software inventory with @vigil/inventory (inventory.ts) and checks for
 * rule updates with @vigil/updates (updater.ts, which reads the update log through the agent's
 * client). Remote actions (scan now, quarantine, restore, update now, diagnostics) arrive in the
 * heartbeat's answer and run under the operator's action ceiling (actions.ts). Whatever it
 * reports is first queued in the outbox (spool.ts, outbox.ts) and sent
 * under the policy in force when sending; every request, update reads included, goes through
 * `AgentClient` (client.ts), which writes it to the hash-chained outbound ledger (ledger.ts)
 * before a byte leaves. The wire format is @vigil/protocol. `cycle` runs one round; `run` hands
 * the agent to the scheduler (scheduler.ts) until stopped.
 */
export { AgentError, isFatal, type AgentErrorCode } from "./error.js";
export {
  Agent,
  fileSha256,
  type AgentOptions,
  type CycleReport,
  type Hit,
  type InventoryRun,
  type LookupBudget,
  type ScanReport,
} from "./agent.js";
export { ActionRunner, redactedConfig, RECENT_LOG_LINES, type ActionOutcome } from "./actions.js";
export { enroll, osInfo, type EnrollOptions, type LogLevel } from "./enroll.js";
export { Scheduler, type RunOptions } from "./scheduler.js";
export { Outbox, type FlushReport, type OutboxOptions } from "./outbox.js";
export { agentStatus, type AgentStatus } from "./status.js";
export { lockStateDir } from "./lock.js";
export { bundleRuleFiles, compileRules, severityOf, type Rules } from "./rules.js";
export {
  AgentUpdates,
  checkpointRef,
  ledgeredSource,
  updatesFor,
  type AgentUpdatesOptions,
  type UpdateCheck,
} from "./updater.js";
export { collectInventory, inventoryPacks, wireReport } from "./inventory.js";
export * from "./ledger.js";
export * from "./policy.js";
export * from "./config.js";
export * from "./client.js";
export * from "./spool.js";
export * from "./reputation.js";
export * from "./filetype.js";
