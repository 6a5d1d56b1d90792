/**
 * @vigil/updates: verifiable rule updates. A publisher turns a rules directory into a bundle
 * (a signed manifest plus a deterministic archive, bundle.ts), appends the signed manifest to a
 * transparency log kept on disk as C2SP tiles (log.ts, publish.ts) and asks witnesses to cosign
 * the new checkpoint, which serveLog (log-server.ts) can serve over HTTP. A witness (witness.ts,
 * C2SP tlog-witness) checks consistency, fetches every new bundle, runs the rule auditor (audit/)
 * and cosigns only what passes; it can also witness, without audit, the logs of a witness
 * network's list (log-list.ts). An endpoint (endpoint.ts)
 * downloads checkpoint, proofs and bundle from a Source (source.ts: a URL or directory, or the
 * caller's own, e.g. the agent's ledgered one) and applies the bundle atomically only when the
 * log signature, witness quorum and freshness, consistency with its last checkpoint, inclusion,
 * publisher signature, version and file hashes all hold, under a trust policy (policy.ts), given
 * as it is or held by a signed, versioned trust root (root.ts) that the endpoint walks forward
 * from the update source, each new root signed by a threshold of the previous root's keys. The
 * monitor (monitor.ts) replays a whole log and audits every bundle.
 *
 * A bundle may carry ClamAV databases (`.cvd`, `.cld`, `.ndb`, `.ldb`, ...) beside or instead of
 * YARA rules: they are logged, cosigned and applied the same way, and the auditor reads their
 * body and logical signatures decoded to bytes (audit/clamav.ts), so a ClamAV update hunting
 * documents is refused by the witnesses like a YARA one.
 *
 * ClamAV's own databases come from a ClamAV mirror instead (clamav-mirror.ts, freshclam's
 * protocol): an HTTP mirror or a mirror directory is probed for each database's header, the local
 * `.cvd`/`.cld` is patched by its `.cdiff` chain (or replaced by a whole `.cvd`), everything is
 * verified with @vigil/clamav's container checks and swapped in atomically, and a running clamd
 * or `vigil daemon` is told to RELOAD.
 */
export { UpdateError, type UpdateErrorCode } from "./error.js";
export {
  MANIFEST_FORMAT,
  MAX_ENTRY_BYTES,
  buildBundle,
  bundleArchivePath,
  compareVersions,
  compileBundleRules,
  encodeManifest,
  isValidBundlePath,
  manifestOf,
  openBundle,
  openManifest,
  parseManifest,
  readRulesDir,
  sha256Hex,
  signManifest,
  type BuildOptions,
  type BuiltBundle,
  type Manifest,
  type ManifestFile,
  type OpenedManifest,
  type RuleFileData,
} from "./bundle.js";
export { readTar, writeTar, type TarFile } from "./tar.js";
export { openSource, LIMITS, type Source } from "./source.js";
export { writeFileAtomic } from "./fsutil.js";
export { DiskLog } from "./log.js";
export { publish, lastManifest, type PublishOptions, type PublishResult } from "./publish.js";
export {
  Witness,
  addCheckpointBody,
  requestCosignature,
  type AuditOutcome,
  type BundleAuditor,
  type WitnessLogConfig,
  type WitnessOptions,
  type WitnessResponse,
} from "./witness.js";
export { parseLogList, witnessLogsFromList, type LogListEntry } from "./log-list.js";
export { serveLog } from "./log-server.js";
export { witnessesFromTlogPolicy, type WitnessTarget } from "./publish.js";
export { loadPolicy, meetsQuorum, validatePolicy, type TrustPolicy } from "./policy.js";
export {
  MAX_ROOT_KEYS,
  MAX_ROOT_STEPS,
  ROOT_FORMAT,
  ROOT_MAX_BYTES,
  ROOT_STATE_FILE,
  canonicalJson,
  checkRootFresh,
  encodeRoot,
  formatExpires,
  formatRootFile,
  loadRootFile,
  loadTrustedRoot,
  parseExpires,
  parseRoot,
  rootSigners,
  signRoot,
  updateRoot,
  verifyNextRoot,
  verifyRootSelf,
  type RootDocument,
  type RootFile,
  type RootUpdateResult,
  type TrustedRoot,
} from "./root.js";
export {
  formatTlogPolicy,
  parseTlogPolicy,
  quorumSatisfied,
  witnessNames,
  type TlogPolicy,
  type TlogPolicyEntry,
  type TlogPolicyGroup,
  type TlogPolicyMember,
} from "./tlog-policy.js";
export {
  currentBundleDir,
  installedManifest,
  loadState,
  recoverEndpoint,
  rollback,
  update,
  verifyCheckpointNote,
  type EndpointState,
  type InstalledBundle,
  type UpdateOptions,
  type UpdateResult,
} from "./endpoint.js";
export {
  auditRuleFile,
  auditRules,
  failing,
  formatFinding,
  regexSkeleton,
  type AuditOptions,
  type Finding,
  type FindingCode,
} from "./audit/auditor.js";
export {
  defaultAuditPolicy,
  loadAuditPolicy,
  parseAuditPolicy,
  SEVERITY_RANK,
  type AuditPolicy,
  type DocumentFormat,
  type Severity,
  type WordList,
} from "./audit/policy.js";
export {
  CHARSETS,
  MarkerIndex,
  base64Variants,
  encodeText,
  expandMarker,
  type Charset,
  type MarkerHit,
  type MarkerVariant,
  type MarkerWord,
} from "./audit/encodings.js";
export { bundleAuditor } from "./audit/bundle-audit.js";
export { mirrorClamavToLog, type MirrorToLogOptions, type MirrorToLogResult } from "./clamav-publish.js";
export { auditBundleFile, clamavAuditSource, containerFiles, literalRuns, CLAMAV_DATABASE } from "./audit/clamav.js";
export {
  monitorLog,
  formatMonitorReport,
  type MonitorOptions,
  type MonitorReport,
  type BundleReport,
  type RuleDiff,
} from "./monitor.js";
export {
  CLAMAV_STANDARD_DATABASES,
  notifyClamd,
  updateClamavDatabases,
  type ClamavDatabaseResult,
  type ClamavDatabaseStatus,
  type ClamavMirrorOptions,
  type ClamavMirrorResult,
} from "./clamav-mirror.js";
