/**
 * The wire format between `vigil agent` and `vigil server`, as zod schemas both sides use:
 * the server validates every request body with them and the agent builds its requests from
 * the same types. Changing a schema changes the protocol; add fields as optional.
 *
 * Endpoint routes (all JSON, `Authorization: Bearer <endpoint key>` except enrol):
 *   POST /api/v1/enroll            EnrollRequest      -> EnrollResponse
 *   POST /api/v1/heartbeat         Heartbeat          -> HeartbeatResponse
 *   POST /api/v1/detections        DetectionBatch     -> BatchResponse
 *   POST /api/v1/scans             ScanBatch          -> BatchResponse
 *   GET  /api/v1/reputation/:prefix  (5 hex digits = 20 bits) -> ReputationResponse
 *   GET  /api/v1/policy                               -> SignedPolicy (the endpoint's effective policy: the default with its groups' fields)
 *   POST /api/v1/samples?sha256=..&type=..  raw bytes (only when the policy allows) -> { stored: true }
 *   POST /api/v1/inventory         InventoryReport    -> InventoryResponse (only when the policy allows)
 *   POST /api/v1/actions/:id/result  ActionResult     -> ActionResultResponse (the outcome of a remote action)
 *   GET  /updates/<path>           the update log mirror: tiles, checkpoint, cosignatures, bundles
 */
import { z } from "zod";

/** A sha256 as lowercase hex (also used by the server's admin API schemas). */
export const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "a lowercase hex sha256");
const sha256Hex = Sha256Hex;
const shortText = z.string().max(256);

export const Severity = z.enum(["low", "medium", "high", "critical"]);
export type Severity = z.infer<typeof Severity>;

export const OsInfo = z.object({
  platform: shortText, // process.platform
  release: shortText, // os.release()
  arch: shortText,
});
export type OsInfo = z.infer<typeof OsInfo>;

/**
 * A label the endpoint's operator gives it in its configuration (`tags` in agent.json, `vigil
 * agent enroll --tag`); the server's groups can take endpoints in by tag.
 */
export const Tag = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, "a tag: letters, digits, '.', '_', ':', '-'");
export const Tags = z.array(Tag).max(32);

export const EnrollRequest = z.object({
  token: z.string().min(16).max(200),
  hostname: shortText.optional(),
  os: OsInfo,
  agentVersion: shortText,
  /** Absent from older agents: no tags. */
  tags: Tags.optional(),
});
export type EnrollRequest = z.infer<typeof EnrollRequest>;

export const CheckpointRef = z.object({
  origin: shortText,
  size: z.number().int().nonnegative(),
  rootHash: z.string().max(128), // base64 as in the signed note
});
export type CheckpointRef = z.infer<typeof CheckpointRef>;

export const Heartbeat = z.object({
  time: z.number().int(), // agent clock, ms since epoch
  agentVersion: shortText,
  rulesVersion: shortText.nullable(),
  /** The newest checkpoint of the update log the agent verified (signature, witnesses, consistency). */
  checkpoint: CheckpointRef.nullable(),
  os: OsInfo,
  hostname: shortText.optional(), // only when the policy allows it
  ledger: z.object({ entries: z.number().int().nonnegative(), head: z.string().max(128) }).optional(),
  /**
   * The remote action kinds this agent can carry out (ACTION_KINDS it implements, whatever its
   * operator allows); absent from older agents, which are then never handed an action.
   */
  actionKinds: z.array(shortText).max(32).optional(),
  /** The endpoint's tags as configured now; absent from older agents (the server keeps what it has). */
  tags: Tags.optional(),
});
export type Heartbeat = z.infer<typeof Heartbeat>;

export const Detection = z.object({
  id: z.string().min(1).max(64), // agent-chosen, makes retries idempotent
  time: z.number().int(),
  /** The rule that matched (a YARA rule, a signature's rule in its database, `reputation:NAME`). */
  rule: shortText,
  /** The signature name the user sees in `vigil scan` (e.g. `Win.Test.EICAR_HDB-1`); absent from older agents: the rule is the name then. */
  name: shortText.optional(),
  severity: Severity,
  bundleVersion: shortText.nullable(),
  sha256: sha256Hex,
  size: z.number().int().nonnegative().nullable(),
  fileType: z.string().max(64).nullable(),
  action: z.enum(["reported", "quarantined", "deleted", "blocked", "failed"]),
  path: z.string().max(4096).optional(), // only when the policy allows it
});
export type Detection = z.infer<typeof Detection>;

export const DetectionBatch = z.object({ detections: z.array(Detection).min(1).max(1000) });
export type DetectionBatch = z.infer<typeof DetectionBatch>;

export const ScanSummary = z.object({
  id: z.string().min(1).max(64),
  startedAt: z.number().int(),
  finishedAt: z.number().int(),
  kind: z.enum(["scheduled", "manual", "watch"]),
  files: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  detections: z.number().int().nonnegative(),
  errors: z.number().int().nonnegative(),
  /** Files not fully scanned (reported "not fully scanned", never clean); absent from older agents. */
  incomplete: z.number().int().nonnegative().optional(),
  bundleVersion: shortText.nullable(),
});
export type ScanSummary = z.infer<typeof ScanSummary>;

export const ScanBatch = z.object({ scans: z.array(ScanSummary).min(1).max(1000) });
export type ScanBatch = z.infer<typeof ScanBatch>;

export const BatchResponse = z.object({ accepted: z.number().int(), duplicates: z.number().int() });
export type BatchResponse = z.infer<typeof BatchResponse>;

const scanPath = z.string().min(1).max(4096);

/**
 * What the organisation asks an endpoint to scan, and how to act on a detection. Every field is
 * optional: an absent field is not managed by the server and the endpoint's own configuration
 * applies; `null` for a schedule field turns that kind of schedule off. The agent applies it
 * within its local scan ceiling (allowed roots, shortest interval, whether quarantine may be
 * asked), which stays the final word.
 */
export const ScanPolicy = z.object({
  /** What the scheduled scan covers. */
  paths: z.array(scanPath).max(64).optional(),
  /** Globs left out of the scheduled scan. */
  exclude: z.array(z.string().max(1024)).max(256).optional(),
  /** Scan every N minutes (null: not by interval). */
  everyMinutes: z.number().int().min(1).max(527_040).nullable().optional(),
  /** Scan once a day at this endpoint-local time, "HH:MM" (null: not daily). */
  dailyAt: z
    .string()
    .regex(/^([01]\d|2[0-3]):[0-5]\d$/, "a time as HH:MM")
    .nullable()
    .optional(),
  /** Directories watched for new and changed files. */
  watchPaths: z.array(scanPath).max(64).optional(),
  /** What to do with a detected file. */
  action: z.enum(["report", "quarantine"]).optional(),
});
export type ScanPolicy = z.infer<typeof ScanPolicy>;

/** What the organisation lets endpoints send. The agent applies the narrower of this and its own config. */
export const DataPolicy = z.object({
  version: z.number().int().nonnegative(),
  send: z.object({
    path: z.boolean(),
    hostname: z.boolean(),
    scanSummaries: z.boolean(),
    /**
     * The installed-software inventory and what the policy packs say about it. Optional so that
     * policies stored before it existed still parse; absent means false.
     */
    inventory: z.boolean().optional(),
  }),
  reputation: z.object({ enabled: z.boolean() }),
  samples: z.object({
    enabled: z.boolean(),
    maxBytes: z.number().int().nonnegative(),
    fileTypes: z.array(z.enum(["pe", "elf", "macho", "dex", "script"])),
  }),
  heartbeatSeconds: z.number().int().min(10).max(86_400),
  /**
   * The scan policy (what the endpoint scans and watches, and how it acts on a detection). Absent
   * in policies from before groups existed, and ignored by older agents: their own configuration
   * applies then.
   */
  scan: ScanPolicy.optional(),
});
export type DataPolicy = z.infer<typeof DataPolicy>;

export const DEFAULT_POLICY: DataPolicy = {
  version: 1,
  send: { path: false, hostname: true, scanSummaries: true, inventory: true },
  reputation: { enabled: true },
  samples: { enabled: false, maxBytes: 10 * 1024 * 1024, fileTypes: ["pe", "elf", "macho"] },
  heartbeatSeconds: 300,
};

/**
 * The policy as endpoints fetch it: `payload` is the exact JSON text that was signed (Ed25519,
 * base64 signature), so the agent verifies bytes, not a re-serialisation.
 */
export const SignedPolicy = z.object({
  payload: z.string(),
  signature: z.string(),
  keyId: z.string(),
});
export type SignedPolicy = z.infer<typeof SignedPolicy>;

export const EnrollResponse = z.object({
  endpointId: z.string(),
  /** The endpoint key; shown once, stored hashed on the server. */
  key: z.string(),
  /** The server's policy-signing public key (SPKI DER, base64), pinned by the agent at enrolment. */
  policyKey: z.string(),
  policyKeyId: z.string(),
  policy: SignedPolicy,
});
export type EnrollResponse = z.infer<typeof EnrollResponse>;

/**
 * Remote actions an administrator queues for one endpoint: scan now (a path, or the configured
 * set), quarantine a file (by path, or every file with a hash under the endpoint's allowed
 * roots), restore from quarantine (by vault entry id, or every entry with a hash), update rules
 * now, collect the diagnostic bundle.
 */
export const ACTION_KINDS = ["scan", "quarantine", "restore", "update", "diagnostics"] as const;
export const ActionKind = z.enum(ACTION_KINDS);
export type ActionKind = z.infer<typeof ActionKind>;

/**
 * One action as the heartbeat response hands it to the agent. `kind` is plain text so that an
 * agent receiving a kind newer than itself still parses the response (and reports that action
 * failed) instead of refusing the whole answer.
 */
export const Action = z.object({
  id: z.string().min(1).max(64),
  kind: shortText,
  /** scan: the path to scan (absent: the configured set); quarantine: the file. */
  path: z.string().max(4096).optional(),
  /** quarantine and restore: every file (vault entry) with this hash. */
  sha256: sha256Hex.optional(),
  /** restore: the vault entry id (as a quarantine action's result names it). */
  quarantineId: z.string().max(64).optional(),
  requestedAt: z.number().int(),
  /** The username that queued it (shown in the agent's log). */
  requestedBy: shortText,
});
export type Action = z.infer<typeof Action>;

export const HeartbeatResponse = z.object({
  serverTime: z.number().int(),
  policyVersion: z.number().int(),
  /** Actions waiting for this endpoint; only sent to agents that announced `actionKinds`. */
  actions: z.array(Action).max(100).optional(),
});
export type HeartbeatResponse = z.infer<typeof HeartbeatResponse>;

/** The diagnostic bundle's largest JSON text, bytes (the agent trims log lines to fit). */
export const DIAGNOSTICS_MAX_BYTES = 512 * 1024;

/** The outcome of one action, reported by the agent that ran (or refused) it. */
export const ActionResult = z.object({
  state: z.enum(["done", "failed"]),
  /** One line for the console: what was done, or why it was refused or failed. */
  message: z.string().min(1).max(4000),
  /** Structured facts (files scanned, vault entry ids, the update check's status, ...). */
  details: z.record(z.string(), z.unknown()).optional(),
  /** diagnostics: the bundle (status, configuration without secrets, recent log lines, versions). */
  bundle: z.record(z.string(), z.unknown()).optional(),
  finishedAt: z.number().int(),
});
export type ActionResult = z.infer<typeof ActionResult>;

export const ActionResultResponse = z.object({
  state: z.enum(["queued", "delivered", "done", "failed"]),
  /** true when the action had a result already (a retried report): nothing changed. */
  duplicate: z.boolean(),
});
export type ActionResultResponse = z.infer<typeof ActionResultResponse>;

export const ReputationEntry = z.object({
  sha256: sha256Hex,
  verdict: z.enum(["malicious", "suspicious", "clean", "unknown"]),
  name: z.string().nullable(),
  /** Distinct endpoints of the fleet that reported the hash. */
  prevalence: z.number().int().nonnegative(),
});
export type ReputationEntry = z.infer<typeof ReputationEntry>;

export const ReputationResponse = z.object({
  prefix: z.string().regex(/^[0-9a-f]{5}$/),
  entries: z.array(ReputationEntry),
});
export type ReputationResponse = z.infer<typeof ReputationResponse>;

/** One installed piece of software, as the endpoint's inventory lists it. */
export const InventoryItem = z.object({
  name: z.string().min(1).max(512),
  version: z.string().max(256).optional(),
  /** vendor, publisher or maintainer as the source records it. */
  vendor: z.string().max(512).optional(),
  /** where the entry comes from: dpkg, rpm, apk, snap, flatpak, python, npm, systemd, kernel-module, windows-registry, macos-app, ... */
  source: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, "a source name (lowercase letters, digits, '-')"),
  /** when it was installed or last updated, as far as the source records it (ISO 8601). */
  installedAt: z.string().max(64).optional(),
  /** only when the effective policy allows paths. */
  installPath: z.string().max(4096).optional(),
});
export type InventoryItem = z.infer<typeof InventoryItem>;

/** What a policy pack says about one entry or file of the inventory. */
export const InventoryFinding = z.object({
  /** forbidden: a prohibition is in force now; upcoming: one will be. */
  status: z.enum(["forbidden", "upcoming"]),
  packId: shortText,
  packVersion: z.number().int().nonnegative(),
  /** the vendor's name in the pack. */
  vendor: shortText,
  /** the package or application name, or the file name for an executable. */
  subject: z.string().min(1).max(512),
  /** short descriptions of what matched ("package \"kesl\" matches \"kesl\""). */
  evidence: z.array(z.string().max(512)).max(20),
  /** the earliest prohibition in force, "YYYY-MM-DD" or an ISO time. */
  inForceSince: z.string().max(64).optional(),
});
export type InventoryFinding = z.infer<typeof InventoryFinding>;

export const INVENTORY_MAX_ITEMS = 50_000;

/**
 * The endpoint's whole inventory at one time. Each report replaces the previous one on the server
 * (items no longer listed are gone), so it is sent whole, never in parts.
 */
export const InventoryReport = z.object({
  collectedAt: z.number().int(), // agent clock, ms since epoch
  packs: z
    .array(z.object({ id: shortText, version: z.number().int().nonnegative(), title: z.string().max(1024) }))
    .max(100),
  items: z.array(InventoryItem).max(INVENTORY_MAX_ITEMS),
  findings: z.array(InventoryFinding).max(10_000),
});
export type InventoryReport = z.infer<typeof InventoryReport>;

export const InventoryResponse = z.object({ items: z.number().int(), findings: z.number().int() });
export type InventoryResponse = z.infer<typeof InventoryResponse>;

/** Error body of every 4xx/5xx reply. */
export const ApiError = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
export type ApiError = z.infer<typeof ApiError>;
