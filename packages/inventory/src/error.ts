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
  constructor(code: InventoryErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "InventoryError";
    this.code = code;
  }
}
