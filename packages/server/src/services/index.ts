/**
 * The server's one read and write layer, one file per domain: every question the admin API and
 * the console ask of the store, every change they make, and what the endpoint API records for
 * agents (enrolment, heartbeats, detections, scans, inventories) is a function here. A change a
 * person makes writes the audit log; `actor` is the logged-in user plus the client address
 * (CLI_ACTOR for operator commands). Listings take a query object and have a `count*` twin for
 * pagers. Row shapes (EndpointInfo, DetectionInfo, ...) are the admin API's JSON as well.
 */
export { audit, countAudit, listAudit, type AuditEntry, type AuditQuery, type AuditRecord } from "./audit.js";
export { activityFeed, type ActivityItem } from "./activity.js";
export {
  createEnrollmentToken,
  listEnrollmentTokens,
  revokeEnrollmentToken,
  consumeEnrollmentToken,
  type CreatedToken,
  type TokenInfo,
  type TokenRequest,
} from "./tokens.js";
export {
  countEndpoints,
  endpointInfo,
  endpointStatus,
  enrollEndpoint,
  getEndpoint,
  listEndpoints,
  recordHeartbeat,
  revokeEndpoint,
  statusCondition,
  statusThresholds,
  thresholds,
  OFFLINE_AFTER_MS,
  STALE_AFTER_HEARTBEATS,
  STATUSES,
  type EndpointInfo,
  type EndpointQuery,
  type EndpointStatus,
  type EnrollmentInput,
  type HeartbeatInput,
  type Thresholds,
} from "./endpoints.js";
export {
  compareRuleVersions,
  connectedSince,
  endpointPresenceHours,
  endpointsOnRules,
  fleetCounts,
  presenceHeatMap,
  presencePerHour,
  reportedCheckpoints,
  rulesFreshness,
  type FleetCounts,
  type Freshness,
  type FreshnessQuery,
  type HeatMap,
} from "./fleet.js";
export {
  countDetections,
  detectionCountsByEndpoint,
  detectionsPerDay,
  listDetections,
  storeDetections,
  topEndpoints,
  topRules,
  SEVERITIES,
  type DailySeverity,
  type DetectionInfo,
  type DetectionInput,
  type DetectionQuery,
  type Severity,
  type TopEndpoint,
  type TopRule,
} from "./detections.js";
export { listScans, storeScans, type ScanInfo, type ScanInput, type ScanQuery } from "./scans.js";
export {
  ensurePolicy,
  getPolicy,
  getPolicyChange,
  getSignedPolicy,
  updatePolicy,
  PolicyInput,
  POLICY_CACHE_MS,
  endpointPolicy,
  resolvePolicy,
  DATA_FIELDS,
  SCAN_FIELDS,
  POLICY_FIELDS,
  type EffectivePolicy,
  type FieldSource,
  type PolicyField,
} from "./policy.js";
export {
  addGroupMembers,
  createGroup,
  deleteGroup,
  getGroup,
  globRegExp,
  groupEndpointIds,
  groupMembers,
  groupsOfEndpoint,
  listGroups,
  matchesRule,
  removeGroupMember,
  updateGroup,
  DataOverrides,
  GroupInput,
  GroupMatch,
  GroupMembersInput,
  ScanOverrides,
  type Group,
  type GroupInfo,
  type GroupMember,
  type Via,
} from "./groups.js";
export {
  createUser,
  disableUser,
  insertUser,
  listUsers,
  resetPassword,
  setUserRole,
  ROLES,
  type NewUser,
  type UserInfo,
  changeOwnPassword,
  initialPasswordFile,
} from "./users.js";
export {
  addReputation,
  hashEndpoints,
  lookupHash,
  lookupHashes,
  prefixOf,
  reputationByPrefix,
  type HashEndpoint,
  type HashReport,
  type HashSummary,
  type ReputationInput,
} from "./reputation.js";
export {
  endpointInventory,
  fleetInventoryCounts,
  listInventoryFindings,
  searchInventory,
  searchSoftware,
  storeInventory,
  type EndpointInventory,
  type FindingQuery,
  type InventoryFindingInfo,
  type InventoryItemInfo,
  type InventoryQuery,
  type SoftwareInfo,
  type StoredInventory,
} from "./inventory.js";
export { tableCounts } from "./health.js";
export {
  ALERT_STATES,
  commentOnAlert,
  countAlerts,
  getAlert,
  groupIntoAlerts,
  listAlerts,
  setAlertState,
  type AlertComment,
  type AlertInfo,
  type AlertQuery,
  type AlertState,
} from "./alerts.js";
export { checkWebhookConfig, deliverDue, signWebhook, startWebhookForwarder } from "./webhook.js";
