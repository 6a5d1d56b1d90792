/**
 * zod schemas of the admin API (requests validated with them, responses described by them in
 * /openapi.json). The endpoint API's schemas are the agent protocol's (`@vigil/protocol`).
 */
import { z } from "zod";
import * as protocol from "@vigil/protocol";
import { DataOverrides, GroupMatch, ScanOverrides } from "../services/groups.js";

const sha256Hex = protocol.Sha256Hex;
export const Role = z.enum(["admin", "analyst", "viewer"]);

export const LoginRequest = z.object({ username: z.string().min(1).max(100), password: z.string().min(1).max(200) });
export const User = z.object({
  id: z.string(),
  username: z.string(),
  role: Role,
  /** Present (true) while the user must change a generated password before anything else. */
  mustChangePassword: z.boolean().optional(),
});
export const PasswordChange = z.object({
  currentPassword: z.string().min(1).max(200),
  newPassword: z.string().min(12).max(200),
});
export const Me = z.object({ user: User, csrfToken: z.string() });

export const TokenCreate = z.object({
  label: z.string().min(1).max(200),
  ttlHours: z.number().positive().max(8784).optional(),
  uses: z.number().int().min(1).max(100_000).optional(),
});
export const TokenCreated = z.object({
  token: z.string(),
  id: z.string(),
  label: z.string(),
  uses: z.number().int(),
  expiresAt: z.number().int(),
});
export const TokenInfo = z.object({
  id: z.string(),
  label: z.string(),
  createdBy: z.string(),
  createdAt: z.number().int(),
  expiresAt: z.number().int(),
  usesLeft: z.number().int(),
  lastUsedAt: z.number().int().nullable(),
  state: z.enum(["active", "used", "expired"]),
});

export const EndpointInfo = z.object({
  id: z.string(),
  hostname: z.string().nullable(),
  os: protocol.OsInfo.nullable(),
  agentVersion: z.string().nullable(),
  rulesVersion: z.string().nullable(),
  checkpoint: z
    .object({ origin: z.string(), size: z.number().int(), rootHash: z.string(), at: z.number().int().nullable() })
    .nullable(),
  /** The ledger head after `entries` lines as reported by the heartbeat at `at` (null: before the server recorded when). */
  ledger: z.object({ entries: z.number().int(), head: z.string(), at: z.number().int().nullable() }).nullable(),
  enrolledAt: z.number().int(),
  enrolledWith: z.string().nullable(),
  lastSeen: z.number().int().nullable(),
  revokedAt: z.number().int().nullable(),
  revokedBy: z.string().nullable(),
  status: z.enum(["online", "stale", "offline", "never", "revoked"]),
  tags: z.array(z.string()),
});

export const DetectionInfo = z.object({
  id: z.string(),
  endpointId: z.string(),
  hostname: z.string().nullable(),
  clientId: z.string(),
  time: z.number().int(),
  receivedAt: z.number().int(),
  /** The signature name the endpoint showed (as in `vigil scan`); the rule when the agent sent none. */
  name: z.string(),
  /** The rule that matched; differs from `name` for signature databases. */
  rule: z.string(),
  severity: protocol.Severity,
  bundleVersion: z.string().nullable(),
  sha256: sha256Hex,
  size: z.number().int().nullable(),
  fileType: z.string().nullable(),
  action: z.string(),
  path: z.string().nullable(),
});

export const ScanInfo = z.object({
  id: z.string(),
  endpointId: z.string(),
  clientId: z.string(),
  startedAt: z.number().int(),
  finishedAt: z.number().int(),
  kind: z.string(),
  files: z.number().int(),
  bytes: z.number().int(),
  detections: z.number().int(),
  errors: z.number().int(),
  bundleVersion: z.string().nullable(),
});

/** Query parameters are strings; numbers are parsed here. */
const int = z.coerce.number().int();
export const DetectionQuery = z.object({
  endpoint: z.string().max(64).optional(),
  rule: z.string().max(256).optional(),
  severity: protocol.Severity.optional(),
  sha256: sha256Hex.optional(),
  since: int.optional(),
  until: int.optional(),
  limit: int.min(1).max(5000).optional(),
  offset: int.min(0).optional(),
});
export const AlertState = z.enum(["new", "acknowledged", "resolved", "false_positive"]);
export const AlertInfo = z.object({
  id: z.string(),
  endpointId: z.string(),
  hostname: z.string().nullable(),
  sha256: sha256Hex,
  rule: z.string(),
  name: z.string(),
  severity: protocol.Severity,
  firstSeen: z.number().int(),
  lastSeen: z.number().int(),
  count: z.number().int(),
  state: AlertState,
  stateBy: z.string().nullable(),
  stateAt: z.number().int().nullable(),
});
export const AlertDetail = AlertInfo.extend({
  comments: z.array(z.object({ id: z.string(), time: z.number().int(), username: z.string(), text: z.string() })),
});
export const AlertQuery = z.object({
  state: AlertState.optional(),
  severity: protocol.Severity.optional(),
  rule: z.string().max(256).optional(),
  endpoint: z.string().max(64).optional(),
  /** Only the endpoints of this group (its id). */
  group: z.string().max(100).optional(),
  sha256: sha256Hex.optional(),
  limit: int.min(1).max(1000).optional(),
  offset: int.min(0).optional(),
});
export const AlertStateChange = z.object({
  ids: z.array(z.string().min(1).max(64)).min(1).max(1000),
  state: AlertState,
  comment: z.string().min(1).max(4000).optional(),
});
export const AlertCommentAdd = z.object({ text: z.string().min(1).max(4000) });
export const EndpointQuery = z.object({
  q: z.string().max(100).optional(),
  limit: int.min(1).max(5000).optional(),
  offset: int.min(0).optional(),
  revoked: z.enum(["0", "1"]).optional(),
});
export const PageQuery = z.object({ limit: int.min(1).max(5000).optional(), offset: int.min(0).optional() });
export const AuditQuery = z.object({
  limit: int.min(1).max(1000).optional(),
  before: int.optional(),
  action: z.string().max(64).optional(),
});

export const PolicyInput = protocol.DataPolicy.extend({ version: z.number().int().nonnegative().optional() });
export { GroupInput, GroupMembersInput } from "../services/groups.js";

export const UserInfo = z.object({
  id: z.string(),
  username: z.string(),
  role: Role,
  createdAt: z.number().int(),
  disabled: z.boolean(),
  lastSeen: z.number().int().nullable(),
});
export const UserCreate = z.object({
  username: z.string().min(1).max(64),
  role: Role,
  password: z.string().min(12).max(200).optional(),
});
export const UserCreated = z.object({ user: UserInfo, password: z.string() });
export const UserPatch = z.object({
  role: Role.optional(),
  disabled: z.boolean().optional(),
  resetPassword: z.boolean().optional(),
});
export const UserPatched = z.object({ user: UserInfo, password: z.string().optional() });

export const ReputationAdd = z.object({
  entries: z
    .array(
      z.object({
        sha256: sha256Hex,
        verdict: z.enum(["malicious", "suspicious", "clean"]),
        name: z.string().max(256).nullable().optional(),
        source: z.string().max(100).optional(),
      }),
    )
    .min(1)
    .max(10_000),
});
export const HashReport = z.object({
  sha256: sha256Hex,
  verdict: z.enum(["malicious", "suspicious", "clean", "unknown"]),
  name: z.string().nullable(),
  source: z.string().nullable(),
  updatedAt: z.number().int().nullable(),
  prevalence: z.number().int(),
  detections: z.number().int(),
  firstSeen: z.number().int().nullable(),
  lastSeen: z.number().int().nullable(),
  endpoints: z.array(z.string()),
});
export const AuditRecord = z.object({
  id: z.string(),
  time: z.number().int(),
  userId: z.string().nullable(),
  username: z.string().nullable(),
  action: z.string(),
  target: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()).nullable(),
  ip: z.string().nullable(),
});

export const Health = z.object({
  status: z.enum(["ok", "degraded"]),
  db: z.enum(["ok", "error"]),
  dialect: z.enum(["sqlite", "postgres"]),
  version: z.string(),
  uptimeSeconds: z.number().int(),
});
export const SampleStored = z.object({ stored: z.literal(true), sha256: sha256Hex, size: z.number().int() });

export const InventoryQuery = z.object({
  q: z.string().max(200).optional(),
  vendor: z.string().max(200).optional(),
  source: z.string().max(32).optional(),
  endpoint: z.string().max(64).optional(),
  limit: int.min(1).max(5000).optional(),
  offset: int.min(0).optional(),
});
export const InventoryItemInfo = z.object({
  endpointId: z.string(),
  hostname: z.string().nullable(),
  name: z.string(),
  version: z.string().nullable(),
  vendor: z.string().nullable(),
  source: z.string(),
  installedAt: z.string().nullable(),
  installPath: z.string().nullable(),
  firstSeen: z.number().int(),
  lastSeen: z.number().int(),
});
export const InventoryItems = z.object({ items: z.array(InventoryItemInfo), total: z.number().int() });
export const InventoryFindingQuery = z.object({
  endpoint: z.string().max(64).optional(),
  status: z.enum(["forbidden", "upcoming"]).optional(),
  pack: z.string().max(256).optional(),
  q: z.string().max(200).optional(),
  limit: int.min(1).max(5000).optional(),
  offset: int.min(0).optional(),
});
export const InventoryFindingInfo = z.object({
  endpointId: z.string(),
  hostname: z.string().nullable(),
  status: z.enum(["forbidden", "upcoming"]),
  packId: z.string(),
  packVersion: z.number().int(),
  vendor: z.string(),
  subject: z.string(),
  evidence: z.array(z.string()),
  inForceSince: z.string().nullable(),
  firstSeen: z.number().int(),
  lastSeen: z.number().int(),
});
export const InventoryFindings = z.object({ findings: z.array(InventoryFindingInfo), total: z.number().int() });

// remote actions (services/actions.ts)
export const ActionState = z.enum(["queued", "delivered", "done", "failed"]);
export const ActionCreate = z.object({
  kind: protocol.ActionKind,
  /** scan: a path (absent: the configured set); quarantine: the file's path. */
  path: z.string().min(1).max(4096).optional(),
  /** quarantine / restore: every file (vault entry) with this hash. */
  sha256: sha256Hex.optional(),
  /** restore: the vault entry id a quarantine result names. */
  quarantineId: z.string().min(1).max(64).optional(),
});
export const ActionQuery = z.object({
  state: ActionState.optional(),
  kind: protocol.ActionKind.optional(),
  limit: int.min(1).max(1000).optional(),
  offset: int.min(0).optional(),
});
export const ActionInfo = z.object({
  id: z.string(),
  endpointId: z.string(),
  hostname: z.string().nullable(),
  kind: z.string(),
  path: z.string().nullable(),
  sha256: z.string().nullable(),
  quarantineId: z.string().nullable(),
  state: ActionState,
  requestedBy: z.string(),
  requestedAt: z.number().int(),
  deliveredAt: z.number().int().nullable(),
  finishedAt: z.number().int().nullable(),
  message: z.string().nullable(),
  details: z.record(z.string(), z.unknown()).nullable(),
  hasBundle: z.boolean(),
});

// endpoint groups and the effective policy per endpoint (services/groups.ts, services/policy.ts)
export const GroupInfo = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  priority: z.number().int(),
  match: GroupMatch.nullable(),
  data: DataOverrides,
  scan: ScanOverrides,
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
  updatedBy: z.string().nullable(),
  manualMembers: z.number().int(),
});
const Via = z.enum(["manual", "rule", "manual+rule"]);
export const GroupDetail = GroupInfo.extend({
  total: z.number().int(),
  members: z.array(z.object({ id: z.string(), hostname: z.string().nullable(), via: Via })),
});
export const FieldSource = z.union([
  z.object({ kind: z.literal("default") }),
  z.object({ kind: z.literal("group"), id: z.string(), name: z.string(), priority: z.number().int() }),
  z.object({ kind: z.literal("unset") }),
]);
export const EffectivePolicyInfo = z.object({
  endpointId: z.string(),
  policy: protocol.DataPolicy,
  groups: z.array(z.object({ id: z.string(), name: z.string(), priority: z.number().int(), via: Via })),
  fields: z.array(z.object({ field: z.string(), value: z.unknown(), source: FieldSource })),
});
