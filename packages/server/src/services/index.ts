/**
 * The operations the admin API and the console forms share. Each change writes the audit log;
 * `actor` is the logged-in user plus the client address (CLI_ACTOR for operator commands).
 */
export { audit, listAudit, type AuditEntry, type AuditQuery, type AuditRecord } from "./audit.js";
export {
  createEnrollmentToken, listEnrollmentTokens, revokeEnrollmentToken, consumeEnrollmentToken,
  type CreatedToken, type TokenInfo, type TokenRequest,
} from "./tokens.js";
export {
  endpointInfo, endpointStatus, getEndpoint, listDetections, listEndpoints, listScans, revokeEndpoint, OFFLINE_AFTER_MS, STALE_AFTER_HEARTBEATS,
  type DetectionInfo, type DetectionQuery, type EndpointInfo, type EndpointQuery, type EndpointStatus, type ScanInfo,
} from "./endpoints.js";
export { ensurePolicy, getPolicy, getSignedPolicy, updatePolicy, PolicyInput, POLICY_CACHE_MS } from "./policy.js";
export { createUser, disableUser, insertUser, listUsers, resetPassword, setUserRole, ROLES, type NewUser, type UserInfo } from "./users.js";
export { addReputation, lookupHash, prefixOf, reputationByPrefix, type HashReport, type ReputationInput } from "./reputation.js";
export {
  endpointInventory, fleetInventoryCounts, listInventoryFindings, searchInventory, searchSoftware, storeInventory,
  type EndpointInventory, type FindingQuery, type InventoryFindingInfo, type InventoryItemInfo, type InventoryQuery, type SoftwareInfo, type StoredInventory,
} from "./inventory.js";
