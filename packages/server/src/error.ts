/**
 * Errors of the server package. Each carries a string-literal code and the HTTP status it maps
 * to; the app's error handler turns them into the protocol's ApiError body
 * `{error:{code,message}}` (plus `path` for validation failures).
 */
export type ServerErrorCode =
  | "SERVER_BAD_REQUEST"
  | "SERVER_MALFORMED_JSON"
  | "SERVER_UNAUTHORIZED"
  | "SERVER_FORBIDDEN"
  | "SERVER_CSRF"
  | "SERVER_PASSWORD_CHANGE_REQUIRED"
  | "SERVER_NOT_FOUND"
  | "SERVER_CONFLICT"
  | "SERVER_TOO_LARGE"
  | "SERVER_RATE_LIMITED"
  | "SERVER_POLICY_DENIED"
  | "SERVER_TOKEN_INVALID"
  | "SERVER_UPSTREAM"
  | "SERVER_CONFIG"
  | "SERVER_INTERNAL";

const STATUS: Record<ServerErrorCode, number> = {
  SERVER_BAD_REQUEST: 400,
  SERVER_MALFORMED_JSON: 400,
  SERVER_UNAUTHORIZED: 401,
  SERVER_FORBIDDEN: 403,
  SERVER_CSRF: 403,
  SERVER_PASSWORD_CHANGE_REQUIRED: 403,
  SERVER_NOT_FOUND: 404,
  SERVER_CONFLICT: 409,
  SERVER_TOO_LARGE: 413,
  SERVER_RATE_LIMITED: 429,
  SERVER_POLICY_DENIED: 403,
  SERVER_TOKEN_INVALID: 401,
  SERVER_UPSTREAM: 502,
  SERVER_CONFIG: 500,
  SERVER_INTERNAL: 500,
};

export interface ServerErrorOptions {
  cause?: unknown;
  /** For SERVER_RATE_LIMITED: seconds until a retry can succeed (sent as Retry-After). */
  retryAfter?: number;
  /** For validation failures: the offending field, dotted (`detections.0.sha256`). */
  path?: string;
}

export class ServerError extends Error {
  readonly code: ServerErrorCode;
  readonly status: number;
  readonly retryAfter: number | undefined;
  readonly path: string | undefined;
  override readonly cause?: unknown;
  constructor(code: ServerErrorCode, message: string, opts: ServerErrorOptions = {}) {
    super(message);
    this.name = "ServerError";
    this.code = code;
    this.status = STATUS[code];
    this.retryAfter = opts.retryAfter;
    this.path = opts.path;
    if (opts.cause !== undefined) this.cause = opts.cause;
  }

  /** The ApiError body. */
  body(): { error: { code: string; message: string; path?: string } } {
    return {
      error: { code: this.code, message: this.message, ...(this.path !== undefined ? { path: this.path } : {}) },
    };
  }
}

export function statusOf(code: ServerErrorCode): number {
  return STATUS[code];
}
