/**
 * @vigil/inventory: installed-software inventory and vendor policy packs.
 *
 * Data flow: `collect({ root })` reads the files package systems and the OS leave on disk
 * (dpkg status and .list files, rpm's SQLite rpmdb, apk's installed db, snap and flatpak trees, Python dist-info
 * METADATA, npm global package.json, systemd units, kernel modules) under a root directory,
 * plus Windows uninstall .reg exports and macOS Info.plist bundles from mounted or exported
 * data, into `InventoryEntry` records (name, version, vendor, install path, source). Policy
 * packs (pack.ts) are signed JSON documents naming vendors, aliases, packages, publishers,
 * certificate subjects and file hashes with effective dates; `loadPack` verifies their Ed25519
 * signature before use. `evaluate` (match.ts) matches entries, and executables found on disk
 * (`scanExecutables`: PE version info and Authenticode signers through the engine's pe module,
 * ELF ownership through dpkg .list files, SHA-256), against the packs at a date, and
 * report.ts renders the result as text, JSON (the document a fleet agent would send) or SARIF.
 */
export { InventoryError, type InventoryErrorCode } from "./error.js";
export type { InventoryEntry, SourceKind, SourceProblem, SourceResult } from "./types.js";
export { collect, SOURCE_KINDS, type CollectOptions, type Inventory } from "./inventory.js";
export {
  dpkgSource,
  apkSource,
  snapSource,
  flatpakSource,
  pythonSource,
  npmSource,
  systemdSource,
  kernelModuleSource,
  LINUX_SOURCES,
  type Source,
  type SourceContext,
} from "./sources.js";
export { parseReg, decodeRegText, uninstallEntries, registrySource, type RegKey, type RegValue } from "./windows.js";
export { macosSource, vendorFromCopyright } from "./macos.js";
export { rpmSource, parseRpmHeader, rpmEntry } from "./rpm.js";
export { SqliteFile, type SqlValue } from "./sqlite.js";
export { parsePlist, type PlistValue } from "./plist.js";
export { stanzas } from "./fsutil.js";
export {
  FORBIDDABLE,
  builtinKeys,
  builtinPackPaths,
  dateValue,
  generatePackKey,
  keyIdOf,
  loadPack,
  parsePack,
  parsePublicKey,
  publicKeyFile,
  signPack,
  signedBytes,
  validatePack,
  verifyPack,
  PACKS_DIR,
  type Forbidden,
  type LoadedPack,
  type PackHash,
  type PackKey,
  type PackPackage,
  type PackProhibition,
  type PackSignature,
  type PackVendor,
  type PackageSource,
  type PolicyPack,
} from "./pack.js";
export {
  scanExecutables,
  peFacts,
  decodeVersionInfo,
  type ExecutableFacts,
  type ExecutableScan,
  type ExecutableScanOptions,
  type Signer,
} from "./executables.js";
export {
  evaluate,
  entryEvidence,
  fileEvidence,
  normalizeName,
  containsWords,
  globMatch,
  subjectNames,
  type Evidence,
  type EvidenceKind,
  type Finding,
} from "./match.js";
export {
  buildReport,
  renderText,
  renderSarif,
  type InventoryReport,
  type ReportEntry,
  type ReportFinding,
} from "./report.js";
