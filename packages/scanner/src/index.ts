/**
 * @vigil/scanner: scanning files and trees with a Detector (the engine's compiled rules).
 *
 * Signatures: `buildSignatures` compiles the built-in starter rules, YARA files and ClamAV
 * databases into one Detector: @vigil/clamav reads the databases (`.ldb`, and the few `.ndb`
 * forms its body store cannot hold, translated to engine rules; `.ndb` body signatures and hash
 * signatures in its native stores), this package compiles the rules and applies them all in
 * ClamAV's order. Every part is a byte array the scan threads share, and the whole set is kept in
 * @vigil/clamav's compiled-signature cache file.
 *
 * Paths: every path is a string in which a byte of a name that is not valid UTF-8 stands as a
 * lone surrogate U+DC80+byte (bytepath.ts): lossless, a plain string for valid names; `fsPath()`
 * turns it into what `fs` needs, `printable()` into what people read.
 *
 * Data flow: `walk` lists the regular files under the given paths (symlinks not followed,
 * special files skipped, filters and depth applied, errors as entries); the `Scanner` skips
 * files the `ScanCache` knows are clean, scans empty files in place (no read, no worker),
 * and hands the rest to a `WorkerPool` whose threads
 * rebuild the detector once from its serialised form; each worker reads a file into a reused
 * buffer (`scanFile`), runs the detector on it and, for archives (zip with stored, deflate,
 * deflate64, implode and bzip2 members, gzip, bzip2, xz, tar, cpio, SZDD, SIS; 7z, RAR, CAB,
 * ARJ, CHM, ISO/UDF and NSIS through 7-Zip compiled to WebAssembly, run in a thread of its own
 * with an output cap and a time limit: archive/sevenzip/), executables (UPX, yC, WWPack, ASPack, Petite, PESpin,
 * MEW, Upack, AutoIt, InstallShield MSI and cabinet setups, archives and PEs embedded in a PE: archive/exe/), mail (MIME messages
 * and mbox, TNEF, uuencode, BinHex; HTML's scripts and `data:` URIs) and documents (OLE2
 * streams, VBA sources and embedded objects; PDF streams through their filters, embedded files
 * and scripts; RTF objects), on every member recursively within the `Limits` (`scanContent`; a
 * damaged container yields the bytes before the damage, scanned, with the damage noted). Bytes
 * no reader opens, or in which a reader finds nothing it knows (an executable packed with a
 * packer it does not unpack), but whose family `archive/recognise.ts` knows by content (packed
 * executables, installers, ...) are reported "not fully scanned (unsupported)", never clean; a
 * document read whole that embeds nothing (an RTF without `\objdata`, a PDF without a filtered
 * stream, an OLE2 file without a stream) is fully scanned as it is.
 * This produces one `FileResult`
 * per top-level file with detections, "not fully scanned" notes and errors. Results feed
 * `ScanStats` and a `ReportWriter` (text, json, ndjson, SARIF), and optionally the
 * `Quarantine` vault. `watch` runs the same scan on files as they settle after writes.
 */
export { DetectorTimeoutError, ScannerError, matchesBeforeTimeout, type ScannerErrorCode } from "./error.js";
export * from "./types.js";
export {
  fsPath,
  hasRawBytes,
  pathFromBytes,
  pathToBytes,
  printableToBytes,
  escapeRawBytes,
  jsonRawBytes,
} from "./bytepath.js";
export { globToRegExp, pathFilter, type PathFilter, type PathFilterSpec } from "./filter.js";
export { walk, type WalkEntry, type WalkOptions } from "./walk.js";
export { sniffArchive, readArchive, type ArchiveKind, type Member } from "./archive/index.js";
export { scanContent, toDetection, emptyResult, BOMB_NAME, type ContentOptions } from "./content.js";
export { ReadBuffer, scanFile, scanBytes, type FileScanOptions } from "./file.js";
export { WorkerPool, defaultJobs } from "./pool.js";
export { ScanCache } from "./cache.js";
export { Scanner, readAllLimited, type ScannerOptions, type ScanEvent, type ScanRunOptions } from "./scanner.js";
export { ScanStats, summaryText } from "./report/summary.js";
export {
  reportWriter,
  textWriter,
  jsonWriter,
  ndjsonWriter,
  sarifWriter,
  printable,
  type ReportFormat,
  type ReportInfo,
  type ReportWriter,
  type TextOptions,
} from "./report/formats.js";
export {
  compileRuleSet,
  engineDetector,
  engineDetectorWithSpec,
  createDetector,
  ruleFiles,
  starterSources,
  STARTER_RULES_DIR,
  type RuleSetOptions,
  type EngineDetectorInit,
} from "./rules.js";
export {
  buildSignatures,
  buildSignatureChunks,
  locateCompiledSignatures,
  readCompiledParts,
  peSections,
  type CompiledLocation,
  type SignatureOptions,
  type SignatureSetup,
  type FullDetectorInit,
} from "./signatures.js";
export {
  Quarantine,
  parseAge,
  type QuarantineEntry,
  type QuarantineOptions,
  type QuarantineStep,
  type RestoreOptions,
} from "./quarantine.js";
export { entropy } from "./entropy.js";
export {
  WatchSession,
  chokidarWatcher,
  DEFAULT_RANSOMWARE,
  type Watcher,
  type WatchChange,
  type WatchEvent,
  type WatchOptions,
  type RansomwareOptions,
  type RansomwareEvidence,
} from "./watch.js";
