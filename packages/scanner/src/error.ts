/** Errors of the scanner package: each carries a string-literal code and says what to do. */
import type { RuleMatch } from "./types.js";

export type ScannerErrorCode =
  | "ENOENT_PATH"
  | "ACCESS_DENIED"
  | "VANISHED"
  | "READ_FAILED"
  | "SYMLINK_LOOP"
  | "NOT_REGULAR"
  | "BAD_OPTION"
  | "BAD_ARCHIVE"
  | "ENCRYPTED"
  | "LIMIT"
  | "SCAN_TIMEOUT"
  | "DETECTOR_FAILED"
  | "WORKER_FAILED"
  | "CACHE_CORRUPT"
  | "QUARANTINE_FAILED"
  | "QUARANTINE_NOT_FOUND"
  | "QUARANTINE_EXISTS"
  | "QUARANTINE_CORRUPT"
  | "WATCH_FAILED"
  | "RULES_FAILED";

export class ScannerError extends Error {
  readonly code: ScannerErrorCode;
  override readonly cause?: unknown;
  constructor(code: ScannerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ScannerError";
    this.code = code;
  }
}

/** Turns a node:fs error into a ScannerError with advice, keeping the original as cause. */
export function fsError(err: unknown, path: string): ScannerError {
  const code = (err as NodeJS.ErrnoException)?.code;
  switch (code) {
    case "ENOENT":
      return new ScannerError("VANISHED", `${path}: no such file (it was removed or renamed before it could be read)`, {
        cause: err,
      });
    case "EACCES":
    case "EPERM":
      return new ScannerError(
        "ACCESS_DENIED",
        `${path}: access denied (run as a user that can read it, or exclude it)`,
        { cause: err },
      );
    case "ELOOP":
      return new ScannerError("SYMLINK_LOOP", `${path}: too many levels of symbolic links`, { cause: err });
    default:
      return new ScannerError("READ_FAILED", `${path}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
}

/**
 * A Detector stopped at its time limit (--max-scantime). `matches` are the rules it knows
 * matched before it stopped: they are reported, and the file is also "not fully scanned".
 */
export class DetectorTimeoutError extends ScannerError {
  constructor(
    readonly matches: RuleMatch[],
    cause?: unknown,
  ) {
    super("SCAN_TIMEOUT", "scanning took longer than the time limit (--max-scantime); stopped", { cause });
    this.name = "DetectorTimeoutError";
  }
}

/**
 * The rules a detector's time-out error knows matched: a DetectorTimeoutError's `matches`, or
 * the engine's ScanError `partial.matches`; none for other errors.
 */
export function matchesBeforeTimeout(err: unknown): RuleMatch[] {
  const e = err as { matches?: RuleMatch[]; partial?: { matches?: RuleMatch[] } } | undefined;
  return e?.matches ?? e?.partial?.matches ?? [];
}
