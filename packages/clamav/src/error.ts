/**
 * Errors of @vigil/clamav: reading ClamAV databases, the hash and body stores, and the
 * compiled-signature cache. Each error has a stable UPPER_SNAKE code (the `SIGDB_*` values are
 * the ones the scanner has always exposed, unchanged), says where (file and line) and what to do,
 * and keeps the underlying cause.
 */

export type ClamavErrorCode =
  | "SIGDB_MALFORMED_LINE" // a line that does not follow its format: fix or remove the line
  | "SIGDB_BAD_HASH" // a hash field that is not 32, 40 or 64 hex digits
  | "SIGDB_BAD_SIZE" // a size field that is not a positive decimal below 2^32-1, nor `*`
  | "SIGDB_BAD_COMPILED" // a compiled hash store that is truncated, corrupt or of another version
  | "SIGDB_UNKNOWN_EXTENSION" // a database file whose extension names no supported format
  | "SIGDB_READ" // the file could not be read
  | "SIGDB_INFO_ALONE" // a .info manifest named on its own: it is only read inside its container
  | "SIGDB_LIMIT" // a database too large for this store (over 2^32-1 entries or 4 GiB of names)
  | "SIGDB_THREAD" // a helper thread of a big load stopped in the middle of its work: load again
  | "SIGDB_CACHE_CHANGED" // a compiled-signature cache file changed or shrank while it was read: build again
  | "CVD_BAD_HEADER" // a .cvd/.cld/.cud whose 512-byte header is not ClamAV-VDB:...: not a ClamAV database, or damaged
  | "CVD_BAD_MD5" // the body's MD5 differs from the header's: the file is damaged or was altered; download it again
  | "CVD_BAD_SIGNATURE" // a digital signature (header dsig, .info DSIG, .cdiff trailer) does not verify: refuse it
  | "CVD_BAD_ARCHIVE" // the tar (or gzip) body cannot be read: damaged or truncated; download it again
  | "CVD_BAD_INFO" // the .info manifest is missing, malformed, disagrees with the header, or a file's size or sha256 differs
  | "CVD_BAD_KEY_FILE" // a trusted-keys file (keys besides ClamAV's to check containers with) that cannot be read
  | "CDIFF_BAD_FORMAT" // a .cdiff that is not ClamAV-Diff:version:size: + gzip script + :dsig
  | "CDIFF_APPLY_FAILED"; // a .cdiff script line that cannot be applied (prefix mismatch, missing file): update from a whole .cvd

export class ClamavError extends Error {
  readonly code: ClamavErrorCode;
  readonly path: string | undefined;
  readonly line: number | undefined;
  override readonly cause: unknown;

  constructor(
    code: ClamavErrorCode,
    message: string,
    where: { path?: string | undefined; line?: number | undefined; cause?: unknown } = {},
  ) {
    const loc =
      where.path !== undefined
        ? `${where.path}${where.line !== undefined ? `:${where.line}` : ""}: `
        : where.line !== undefined
          ? `line ${where.line}: `
          : "";
    super(`${loc}${message}`);
    this.name = "ClamavError";
    this.code = code;
    this.path = where.path;
    this.line = where.line;
    this.cause = where.cause;
  }
}
