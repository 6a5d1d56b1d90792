/**
 * Errors of @vigil/updates. The `code` says which check failed; the message says what to do.
 * The endpoint's update refusals all use these codes, so operators and tests can tell a frozen
 * checkpoint from a split view from a tampered file.
 */
export type UpdateErrorCode =
  | "bad-input" // a file, directory or option given by the user is unusable
  | "bad-bundle" // a bundle archive or manifest is malformed
  | "compile-failed" // the rules of a bundle do not compile
  | "bad-key" // a key file cannot be read or parsed
  | "log-corrupt" // the log on disk disagrees with its own checkpoint
  | "fetch-failed" // a file could not be downloaded or read from the source
  | "transport-damaged" // the log's tiles or entry bundles arrived truncated, missing or not matching the signed checkpoint (no evidence of an attack: retry)
  | "too-large" // a download exceeded its size limit
  | "bad-policy" // the trust policy file is invalid
  | "bad-log-signature" // the checkpoint is not signed by the trusted log key
  | "wrong-origin" // the checkpoint belongs to another log
  | "no-quorum" // not enough valid witness cosignatures
  | "stale-checkpoint" // the witness cosignatures are older than the policy's maximum age (freeze attack)
  | "future-checkpoint" // cosignature timestamps too far in the future
  | "inconsistent" // the new checkpoint does not extend the accepted one (split view / fork)
  | "rollback" // the log or bundle is older than what this endpoint already accepted
  | "not-included" // the manifest is not in the checkpoint's tree
  | "bad-publisher-signature" // the manifest is not signed by a trusted publisher key
  | "file-mismatch" // a bundle file does not match the manifest
  | "apply-failed" // writing the bundle on the endpoint failed
  | "no-previous" // rollback asked but there is no previous bundle
  | "witness-refused" // a witness refused to cosign
  | "audit-failed" // the rule auditor rejected a bundle
  | "cool-down" // a ClamAV mirror answered 403/429: no request until its cool-down ends
  | "notify-failed"; // clamd (or vigil daemon) could not be told to RELOAD

export class UpdateError extends Error {
  readonly code: UpdateErrorCode;
  /** evidence kept for a security failure (e.g. both checkpoints of a split view) */
  readonly evidence?: Record<string, string>;
  constructor(code: UpdateErrorCode, message: string, options?: { cause?: unknown; evidence?: Record<string, string> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "UpdateError";
    this.code = code;
    if (options?.evidence) this.evidence = options.evidence;
  }
}
