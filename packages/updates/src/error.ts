/**
 * Errors of @vigil/updates. The `code` says which check failed; the message says what to do.
 * The endpoint's update refusals all use these codes, so operators and tests can tell a frozen
 * checkpoint from a split view from a tampered file.
 */
export type UpdateErrorCode =
  | "BAD_INPUT" // a file, directory or option given by the user is unusable
  | "BAD_BUNDLE" // a bundle archive or manifest is malformed
  | "COMPILE_FAILED" // the rules of a bundle do not compile
  | "BAD_KEY" // a key file cannot be read or parsed
  | "LOG_CORRUPT" // the log on disk disagrees with its own checkpoint
  | "FETCH_FAILED" // a file could not be downloaded or read from the source
  | "TRANSPORT_DAMAGED" // the log's tiles or entry bundles arrived truncated, missing or not matching the signed checkpoint (no evidence of an attack: retry)
  | "TOO_LARGE" // a download exceeded its size limit
  | "BAD_POLICY" // the trust policy file is invalid
  | "BAD_LOG_SIGNATURE" // the checkpoint is not signed by the trusted log key
  | "WRONG_ORIGIN" // the checkpoint belongs to another log
  | "NO_QUORUM" // not enough valid witness cosignatures
  | "STALE_CHECKPOINT" // the witness cosignatures are older than the policy's maximum age (freeze attack)
  | "FUTURE_CHECKPOINT" // cosignature timestamps too far in the future
  | "INCONSISTENT" // the new checkpoint does not extend the accepted one (split view / fork)
  | "ROLLBACK" // the log or bundle is older than what this endpoint already accepted
  | "NOT_INCLUDED" // the manifest is not in the checkpoint's tree
  | "BAD_PUBLISHER_SIGNATURE" // the manifest is not signed by a trusted publisher key
  | "FILE_MISMATCH" // a bundle file does not match the manifest
  | "APPLY_FAILED" // writing the bundle on the endpoint failed
  | "NO_PREVIOUS" // rollback asked but there is no previous bundle
  | "WITNESS_REFUSED" // a witness refused to cosign
  | "AUDIT_FAILED" // the rule auditor rejected a bundle
  | "COOL_DOWN" // a ClamAV mirror answered 403/429: no request until its cool-down ends
  | "NOTIFY_FAILED" // clamd (or vigil daemon) could not be told to RELOAD
  | "BAD_ROOT" // a trust root is malformed (not a vigil-root/v1 document in canonical form, bad keys or threshold)
  | "BAD_ROOT_POLICY" // a trust root's embedded trust policy is invalid
  | "ROOT_BAD_SIGNATURE" // a root key's signature does not verify over the root's bytes (altered, or copied from another root)
  | "ROOT_THRESHOLD_PREVIOUS" // a new root is not signed by a threshold of the previous root's keys
  | "ROOT_THRESHOLD_SELF" // a root is not signed by a threshold of its own keys
  | "ROOT_ROLLBACK" // a root's version is not above the trusted root's
  | "ROOT_VERSION_SKIPPED" // a root offered as version N+1 holds a higher version
  | "ROOT_EXPIRED"; // the newest trusted root has expired (freeze)

export class UpdateError extends Error {
  readonly code: UpdateErrorCode;
  /** evidence kept for a security failure (e.g. both checkpoints of a split view) */
  readonly evidence?: Record<string, string>;
  constructor(
    code: UpdateErrorCode,
    message: string,
    options?: { cause?: unknown; evidence?: Record<string, string> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "UpdateError";
    this.code = code;
    if (options?.evidence) this.evidence = options.evidence;
  }
}
