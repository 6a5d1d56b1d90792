/** Errors of the agent package: each carries a string-literal code and says what to do. */
export type AgentErrorCode =
  /** agent.json or the state directory is unusable (unreadable, malformed, not writable). */
  | "AGENT_CONFIG"
  /** No agent.json: run `vigil agent enroll` first. */
  | "AGENT_NOT_ENROLLED"
  /** The server answered 401: the endpoint key was revoked or is unknown. */
  | "AGENT_REVOKED"
  /** The server answered with an error status, or refused the enrolment. */
  | "AGENT_HTTP"
  /** The server could not be reached (network error, timeout). */
  | "AGENT_OFFLINE"
  /** Another agent holds the state directory's lock. */
  | "AGENT_BUSY"
  /** A signed data policy did not verify (key, signature, version, shape). */
  | "POLICY_REJECTED"
  /** The outbound ledger does not verify, or could not be written. */
  | "LEDGER_BROKEN";

export class AgentError extends Error {
  readonly code: AgentErrorCode;
  constructor(code: AgentErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AgentError";
    this.code = code;
  }
}

/** Errors that stop the agent: the server no longer knows this endpoint, or the ledger cannot be trusted. */
export function isFatal(err: unknown): boolean {
  return err instanceof AgentError && (err.code === "AGENT_REVOKED" || err.code === "LEDGER_BROKEN");
}
