/**
 * Errors of @vigil/tlog. Each carries a string-literal `code` callers can switch on, a message
 * that says what is wrong and what to do, and an optional `cause`.
 */

export type TlogErrorCode =
  | "BAD_HASH" // a hash is not exactly 32 bytes
  | "BAD_INDEX" // an index or size is negative, not an integer, or out of range
  | "BAD_CHECKPOINT" // checkpoint text violates c2sp.org/tlog-checkpoint
  | "BAD_TILE" // a tile or entry bundle has the wrong length or structure
  | "BAD_ENTRY" // a log entry cannot be stored (too long for a uint16 length prefix)
  | "MISSING_TILE"; // a tile needed for a computation could not be read

export class TlogError extends Error {
  readonly code: TlogErrorCode;
  constructor(code: TlogErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TlogError";
    this.code = code;
  }
}

/**
 * Errors of signed notes, with the semantics of golang.org/x/mod/sumdb/note `Open`:
 * - `malformed`: the message or a key is not well-formed (bad UTF-8, control characters, no
 *   signature block, a bad signature line, more than 100 signatures, an ambiguous key list).
 * - `unverified`: the note is well-formed but no known key signed it. `note` holds what was parsed.
 * - `INVALID_SIGNATURE`: a signature by a known key (same name and key ID) does not verify.
 */
export type NoteErrorCode = "MALFORMED" | "UNVERIFIED" | "INVALID_SIGNATURE";

export interface UnverifiedNote {
  readonly text: string;
  readonly unverified: ReadonlyArray<{ name: string; keyId: number; base64: string }>;
}

export class NoteError extends Error {
  readonly code: NoteErrorCode;
  /** For `unverified`: the note's text and its signatures by unknown keys. */
  readonly note?: UnverifiedNote;
  /** For `INVALID_SIGNATURE`: the key whose signature failed. */
  readonly key?: { name: string; keyId: number };
  constructor(
    code: NoteErrorCode,
    message: string,
    options?: { cause?: unknown; note?: UnverifiedNote; key?: { name: string; keyId: number } },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "NoteError";
    this.code = code;
    if (options?.note) this.note = options.note;
    if (options?.key) this.key = options.key;
  }
}
