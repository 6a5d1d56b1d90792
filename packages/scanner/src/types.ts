/** Data types shared by every part of the scanner: detectors, limits, per-file results. */
import type { ArchiveKind, MailPart } from "./archive/types.js";

/** One match of one rule, in the shape @vigil/engine reports it (only what the scanner needs). */
export interface RuleMatch {
  rule: string;
  namespace?: string;
  tags?: string[];
  meta?: Record<string, string | number | boolean | bigint | undefined>;
  strings?: { identifier: string; matches: { offset: number; length: number }[] }[];
}

/** What a detector is told about the bytes it scans. */
export interface ScanContextInfo {
  /** Display path (e.g. `a.zip!b.exe`). */
  path: string;
  size: number;
  /** The archive format these bytes were extracted from (absent for top-level files). */
  container?: ArchiveKind;
  /** For a mail part: what its headers say (ClamAV checks the links of some text parts for phishing). */
  mail?: MailPart;
}

/**
 * Something that looks at bytes and says which rules match. The real one wraps the engine's
 * compiled rules; tests may use a trivial one. `version` changes whenever the rules change
 * (the scan cache keys on it). A detector that stops at its time limit throws an error with
 * code SCAN_TIMEOUT carrying the rules it knows matched before (DetectorTimeoutError, or the
 * engine's ScanError with `partial`): those are reported, beside "not fully scanned".
 */
export interface Detector {
  readonly version: string;
  readonly signatures: number;
  scan(bytes: Uint8Array, context: ScanContextInfo): RuleMatch[];
  /**
   * Optional: rules on what an archive says about a member (ClamAV `.cdb` container metadata),
   * asked for every member before it is decoded, encrypted and undecodable ones included.
   */
  scanMember?(member: MemberInfo): RuleMatch[];
  /**
   * Optional: true when the buffer is trusted as it is (a PE whose Authenticode signature or a
   * catalog ClamAV's `.crb`/`.cat` trust): it is reported clean and not unpacked, as clamscan
   * stops at a trusted layer.
   */
  trusts?(bytes: Uint8Array): boolean;
}

/** What an archive says about one member. */
export interface MemberInfo {
  /** Display path of the member (e.g. `a.zip!b.exe`). */
  path: string;
  container: ArchiveKind;
  /** size of the archive holding it */
  containerSize: number;
  name: string;
  compressedSize: number;
  /** decoded size, when it was decoded */
  size?: number;
  encrypted: boolean;
  /** 1-based position among the archive's members */
  position: number;
}

/**
 * How a worker thread builds its own Detector: it imports `module` (a file: URL) and calls its
 * exported `createDetector(init)`. `init` must be structured-cloneable (e.g. serialised rules).
 */
export interface DetectorSpec {
  module: string;
  init: unknown;
}

/** Scan limits, like clamscan's. Sizes in bytes. */
export interface Limits {
  /** Files larger than this are not scanned (reported as not fully scanned). */
  maxFileSize: number;
  /** Bytes scanned per top-level file, archive members included. */
  maxScanSize: number;
  /** Members scanned per archive. */
  maxFiles: number;
  /** Archive nesting depth. */
  maxRecursion: number;
  /** Largest expansion ratio (output / input) tolerated for a member bigger than ratioFloor. */
  maxRatio: number;
  /** Members smaller than this are never treated as bombs by ratio. */
  ratioFloor: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxFileSize: 100 * 1024 * 1024,
  maxScanSize: 400 * 1024 * 1024,
  maxFiles: 10000,
  maxRecursion: 17,
  maxRatio: 250,
  ratioFloor: 1024 * 1024,
};

/** A matched string, as byte offsets relative to the (inner) file it was found in. */
export interface MatchedString {
  identifier: string;
  offset: number;
  length: number;
}

export interface Detection {
  /** The name shown to people: meta clamav_name when present, else the rule name. */
  name: string;
  rule: string;
  namespace: string;
  tags: string[];
  /** Display path of the (possibly inner) file, e.g. `a.zip!dir/b.exe`. */
  path: string;
  strings: MatchedString[];
  /** The rule's `severity` meta, lower-cased, when it has one (e.g. "critical"; any text the rule wrote). */
  severity?: string;
  /** The ClamAV signature name (meta `clamav_name`) when the detection came from a ClamAV signature. */
  clamavName?: string;
}

/** Why a file was not fully scanned. */
export type IncompleteReason =
  | "max-filesize"
  | "max-scansize"
  | "max-files"
  | "max-recursion"
  | "max-ratio"
  | "max-scantime"
  | "encrypted"
  | "corrupt-archive"
  | "unsupported";

export interface Incomplete {
  reason: IncompleteReason;
  /** Display path of the file or member concerned. */
  path: string;
  message: string;
}

export interface ScanIssue {
  code: string;
  path: string;
  message: string;
}

/** The outcome of scanning one top-level file (archive members included). */
export interface FileResult {
  path: string;
  size: number;
  /** Bytes given to the detector (members included). */
  scannedBytes: number;
  detections: Detection[];
  incomplete: Incomplete[];
  errors: ScanIssue[];
  /** True when the result came from the scan cache. */
  cached?: boolean;
  /** Identity used by the cache and quarantine. */
  stat?: { dev: number; ino: number; size: number; mtimeMs: number; ctimeMs: number; mode: number };
}
