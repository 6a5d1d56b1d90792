/** Errors of the daemon package: each carries a string-literal code and says what to do. */
export type DaemonErrorCode =
  | "BAD_OPTION"
  | "BAD_CONFIG"
  | "LISTEN_FAILED"
  | "RELOAD_FAILED"
  | "AUTH_REQUIRED"
  | "BAD_REQUEST"
  | "USER_CANNOT_READ_INSTALL";

export class DaemonError extends Error {
  readonly code: DaemonErrorCode;
  override readonly cause?: unknown;
  constructor(code: DaemonErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DaemonError";
    this.code = code;
  }
}
