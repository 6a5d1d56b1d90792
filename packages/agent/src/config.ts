/**
 * The agent's files in its state directory (--state DIR, else $VIGIL_AGENT_DIR, else
 * $XDG_DATA_HOME/vigil/agent, by default ~/.local/share/vigil/agent):
 *   agent.json   configuration and credentials (mode 0600): server, endpoint id and key, the
 *                pinned policy key, scan schedule, watch paths, rules, updates, the data and
 *                scan ceilings, tags
 *   policy.json  the last signed policy that verified (kept when a newer one is refused)
 *   state.json   run state: last contact, last scan, last update check, verified checkpoint
 *   ledger.jsonl + ledger.head   the outbound ledger (ledger.ts)
 *   spool/       events waiting to be sent (spool.ts)
 *   reputation.json   the prefix cache (reputation.ts)
 *   inventory.json    the newest inventory report not yet sent (a newer one replaces it)
 *   actions.json the remote actions run (ids, results, whether each result reached the server)
 *   updates/     the verified update client's state (bundles, accepted checkpoint)
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync, chmodSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { AgentError } from "./error.js";
import { CheckpointRef, SignedPolicy, Tags } from "@vigil/protocol";
import {
  ActionCeiling,
  DataCeiling,
  DEFAULT_ACTION_CEILING,
  DEFAULT_CEILING,
  DEFAULT_SCAN_CEILING,
  SampleType,
  ScanCeiling,
} from "./policy.js";
import { VERSION } from "./version.js";

export const AGENT_VERSION = VERSION;

export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.VIGIL_AGENT_DIR || join(env.XDG_DATA_HOME || join(homedir(), ".local", "share"), "vigil", "agent");
}

const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;

export const ScanSchedule = z.object({
  paths: z.array(z.string().min(1)).default([]),
  /** Scan every N minutes (null: not by interval). */
  everyMinutes: z.number().int().positive().nullable().default(null),
  /** Scan once a day at this local time, "HH:MM" (null: not daily). */
  dailyAt: z.string().regex(HHMM, "a time as HH:MM").nullable().default(null),
  exclude: z.array(z.string()).default([]),
});
export type ScanSchedule = z.infer<typeof ScanSchedule>;

export const InventorySettings = z.object({
  /** Collect and send every N hours; 0: only on demand (`vigil agent run --once --inventory`). */
  everyHours: z
    .number()
    .nonnegative()
    .max(24 * 366)
    .default(24),
  /** The filesystem root to inventory. */
  root: z.string().min(1).default("/"),
  /** Use the policy packs shipped with Vigil. */
  builtinPacks: z.boolean().default(true),
  /** More signed pack files. */
  packs: z.array(z.string().min(1)).default([]),
  /** Public key files (NAME.pub.json) trusted for those packs, besides the shipped keys. */
  trustKeys: z.array(z.string().min(1)).default([]),
  /** Also inspect the executables under these paths (PE version info, signers, hashes). */
  scan: z.array(z.string().min(1)).default([]),
});
export type InventorySettings = z.infer<typeof InventorySettings>;

export const AgentConfig = z.object({
  format: z.literal("vigil-agent/v1"),
  server: z.string().url(),
  endpointId: z.string().min(1),
  key: z.string().min(1),
  /** The server's policy-signing key (SPKI DER, base64) pinned at enrolment. */
  policyKey: z.string().min(1),
  policyKeyId: z.string().min(1),
  enrolledAt: z.number().int(),
  /** The host name reported (when the policy allows it); null: this machine's. */
  hostname: z.string().max(256).nullable().default(null),
  scan: ScanSchedule.default({ paths: [], everyMinutes: null, dailyAt: null, exclude: [] }),
  watch: z
    .object({ paths: z.array(z.string().min(1)).default([]), settleMs: z.number().int().nonnegative().default(500) })
    .default({ paths: [], settleMs: 500 }),
  rules: z
    .object({
      /** The built-in starter rules. */
      builtin: z.boolean().default(true),
      /** The bundle the verified update client keeps in force (updates/current), when there is one. */
      updateBundle: z.boolean().default(true),
      /** More YARA files or directories. */
      extra: z.array(z.string()).default([]),
    })
    .default({ builtin: true, updateBundle: true, extra: [] }),
  updates: z
    .object({
      /** The update log (URL or directory); null: the server's /updates/. */
      source: z.string().nullable().default(null),
      /** The trust policy (vigil-trust/v1 JSON); null: no update checks. */
      trustPolicy: z.record(z.string(), z.unknown()).nullable().default(null),
      /**
       * A signed trust root (vigil-root/v1 note text) to start from instead of a fixed policy: the
       * update client walks the log's newer roots from it (key rotation, witnesses, quorum).
       */
      trustRoot: z
        .string()
        .max(1 << 20)
        .nullable()
        .default(null),
      everyMinutes: z.number().int().positive().default(60),
    })
    .default({ source: null, trustPolicy: null, trustRoot: null, everyMinutes: 60 }),
  /** What to do with a detected file. */
  action: z.enum(["report", "quarantine"]).default("report"),
  quarantineDir: z.string().nullable().default(null),
  /** The local data ceiling: what this endpoint ever lets leave it. */
  ceiling: DataCeiling.default(DEFAULT_CEILING),
  /** The remote actions this endpoint's operator allows (actions.ts): kinds, and where a quarantine may act. */
  actions: ActionCeiling.default(DEFAULT_ACTION_CEILING),
  /** How far the scan part of the server's policy may go here (policy.ts). */
  scanCeiling: ScanCeiling.default(DEFAULT_SCAN_CEILING),
  /** Labels the server's groups can select this endpoint by (sent at enrolment and with each heartbeat). */
  tags: Tags.default([]),
  reputation: z
    .object({
      ttlSeconds: z
        .number()
        .int()
        .nonnegative()
        .default(6 * 3600),
      /** Files of these types are looked up (hashing every file of a tree would be slow and chatty). */
      fileTypes: z.array(SampleType).default(["pe", "elf", "macho", "dex", "script"]),
      maxLookupsPerScan: z.number().int().nonnegative().default(2000),
    })
    .default({ ttlSeconds: 6 * 3600, fileTypes: ["pe", "elf", "macho", "dex", "script"], maxLookupsPerScan: 2000 }),
  spool: z.object({ maxEvents: z.number().int().positive().default(10_000) }).default({ maxEvents: 10_000 }),
  /** Worker threads for scheduled scans. */
  jobs: z.number().int().nonnegative().default(1),
  /**
   * The installed-software inventory (collected through @vigil/inventory, inventory.ts, and sent
   * when the data policy allows it): how often, which root, which policy packs.
   */
  inventory: InventorySettings.default({
    everyHours: 24,
    root: "/",
    builtinPacks: true,
    packs: [],
    trustKeys: [],
    scan: [],
  }),
});
export type AgentConfig = z.infer<typeof AgentConfig>;

export const AgentState = z.object({
  lastContact: z.number().int().nullable().default(null),
  lastAttempt: z.number().int().nullable().default(null),
  lastError: z.string().nullable().default(null),
  lastScanAt: z.number().int().nullable().default(null),
  lastUpdateCheck: z.number().int().nullable().default(null),
  lastUpdateResult: z.string().nullable().default(null),
  checkpoint: CheckpointRef.nullable().default(null),
  rulesVersion: z.string().nullable().default(null),
  /** Events dropped because the spool was full. */
  dropped: z.number().int().nonnegative().default(0),
  policyRejected: z.string().nullable().default(null),
  /** When the inventory was last collected, and what came of the last collection or sending. */
  lastInventoryAt: z.number().int().nullable().default(null),
  lastInventoryResult: z.string().nullable().default(null),
});
export type AgentState = z.infer<typeof AgentState>;

export const StoredPolicy = z.object({ signed: SignedPolicy, version: z.number().int(), acceptedAt: z.number().int() });
export type StoredPolicy = z.infer<typeof StoredPolicy>;

/** Writes a file atomically (temp + rename) with the given mode. */
export function writeJsonAtomic(file: string, value: unknown, mode = 0o600): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(value, null, 2) + "\n", { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

function readJson(file: string): unknown | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new AgentError("AGENT_CONFIG", `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new AgentError(
      "AGENT_CONFIG",
      `${file} is not valid JSON (${(err as Error).message}); fix it or enrol again`,
      { cause: err },
    );
  }
}

function issues(err: z.ZodError): string {
  return err.issues
    .slice(0, 5)
    .map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`)
    .join("; ");
}

/** The state directory's files, read and written with validation. */
export class AgentFiles {
  readonly configFile: string;
  readonly stateFile: string;
  readonly policyFile: string;
  constructor(readonly dir: string) {
    this.configFile = join(dir, "agent.json");
    this.stateFile = join(dir, "state.json");
    this.policyFile = join(dir, "policy.json");
  }

  ensureDir(): void {
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new AgentError(
        "AGENT_CONFIG",
        `cannot create the agent state directory ${this.dir}: ${(err as Error).message} (pass --state DIR)`,
        { cause: err },
      );
    }
  }

  /** The configuration, or undefined before enrolment. */
  tryConfig(): AgentConfig | undefined {
    const raw = readJson(this.configFile);
    if (raw === undefined) return undefined;
    const r = AgentConfig.safeParse(raw);
    if (!r.success)
      throw new AgentError("AGENT_CONFIG", `${this.configFile} is not a valid agent configuration: ${issues(r.error)}`);
    return r.data;
  }

  config(): AgentConfig {
    const c = this.tryConfig();
    if (!c)
      throw new AgentError(
        "AGENT_NOT_ENROLLED",
        `this endpoint is not enrolled (no ${this.configFile}); run \`vigil agent enroll URL TOKEN\` first`,
      );
    return c;
  }

  saveConfig(c: AgentConfig): void {
    this.ensureDir();
    writeJsonAtomic(this.configFile, AgentConfig.parse(c), 0o600);
  }

  state(): AgentState {
    const raw = readJson(this.stateFile);
    const r = AgentState.safeParse(raw ?? {});
    // a damaged run state only loses timestamps: start afresh rather than refuse to run
    return r.success ? r.data : AgentState.parse({});
  }

  saveState(s: AgentState): void {
    this.ensureDir();
    writeJsonAtomic(this.stateFile, s, 0o600);
  }

  storedPolicy(): StoredPolicy | undefined {
    const raw = readJson(this.policyFile);
    if (raw === undefined) return undefined;
    const r = StoredPolicy.safeParse(raw);
    return r.success ? r.data : undefined;
  }

  savePolicy(p: StoredPolicy): void {
    this.ensureDir();
    writeJsonAtomic(this.policyFile, p, 0o600);
  }
}

/** When the next scheduled scan is due (ms since epoch), or null when none is scheduled. */
export function nextScanAt(s: ScanSchedule, lastScanAt: number | null, now = Date.now()): number | null {
  if (!s.paths.length || (s.everyMinutes === null && s.dailyAt === null)) return null;
  if (lastScanAt === null) return now;
  const candidates: number[] = [];
  if (s.everyMinutes !== null) candidates.push(lastScanAt + s.everyMinutes * 60_000);
  if (s.dailyAt !== null) {
    const [hh, mm] = s.dailyAt.split(":").map(Number) as [number, number];
    const d = new Date(lastScanAt);
    d.setHours(hh, mm, 0, 0);
    if (d.getTime() <= lastScanAt) d.setDate(d.getDate() + 1);
    candidates.push(d.getTime());
  }
  return Math.min(...candidates);
}
