/** Errors of the scanner package: each carries a string-literal code and says what to do. */
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
  constructor(code: ScannerErrorCode, message: string, cause?: unknown) {
    super(message);
    this.name = "ScannerError";
    this.code = code;
    if (cause !== undefined) this.cause = cause;
  }
}

/** Turns a node:fs error into a ScannerError with advice, keeping the original as cause. */
export function fsError(err: unknown, path: string): ScannerError {
  const code = (err as NodeJS.ErrnoException)?.code;
  switch (code) {
    case "ENOENT":
      return new ScannerError("VANISHED", `${path}: no such file (it was removed or renamed before it could be read)`, err);
    case "EACCES":
    case "EPERM":
      return new ScannerError("ACCESS_DENIED", `${path}: access denied (run as a user that can read it, or exclude it)`, err);
    case "ELOOP":
      return new ScannerError("SYMLINK_LOOP", `${path}: too many levels of symbolic links`, err);
    default:
      return new ScannerError("READ_FAILED", `${path}: ${(err as Error)?.message ?? String(err)}`, err);
  }
}
