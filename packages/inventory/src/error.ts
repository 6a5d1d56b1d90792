/** Errors of the inventory package: each carries a string-literal code and says what to do. */
export type InventoryErrorCode =
  | "BAD_ROOT"
  | "READ_FAILED"
  | "BAD_PACK"
  | "PACK_SIGNATURE"
  | "PACK_UNTRUSTED"
  | "BAD_KEY"
  | "BAD_OPTION";

export class InventoryError extends Error {
  readonly code: InventoryErrorCode;
  override readonly cause?: unknown;
  constructor(code: InventoryErrorCode, message: string, cause?: unknown) {
    super(message);
    this.name = "InventoryError";
    this.code = code;
    if (cause !== undefined) this.cause = cause;
  }
}
