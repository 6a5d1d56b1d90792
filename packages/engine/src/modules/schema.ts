/**
 * The module contract: how a YARA module (pe, elf, math, hash, ...) declares what it offers
 * and produces its data for one scan. The compiler type-checks rule conditions against the
 * declarations; the scanner calls `load` once per scan for every imported module and the
 * compiled condition code reads the returned object tree.
 *
 * Value representation (shared by every module and the condition code):
 * - integer: a JS `number` when it is a safe integer, else a `bigint` (YARA integers are
 *   signed 64-bit; a value outside the int64 range must be wrapped with BigInt.asIntN(64)).
 *   Booleans are integers 0/1, as in YARA.
 * - float: a JS `number`.
 * - string: a *byte string*: a JS string whose every char code is 0..255 (latin1), so
 *   `Buffer.from(bytes).toString("latin1")` makes one. Never put UTF-16 text above 0xFF in it.
 * - struct: a plain object; a missing or `undefined` property is YARA's "undefined".
 * - array: a JS array (holes / undefined entries are undefined values).
 * - dictionary: a `Map<string, value>` whose keys are byte strings.
 * - regexp argument of a function: a `RegexpValue` (below).
 * A function returns a value of its declared type, or `undefined` for YARA's undefined.
 */

export type ScalarKind = "integer" | "float" | "string";

export type FieldType =
  | { readonly kind: "integer"; readonly doc?: string }
  | { readonly kind: "float"; readonly doc?: string }
  | { readonly kind: "string"; readonly doc?: string }
  | StructType
  | { readonly kind: "array"; readonly of: FieldType; readonly doc?: string }
  | { readonly kind: "dictionary"; readonly of: FieldType; readonly doc?: string }
  | FunctionType;

export interface StructType {
  readonly kind: "struct";
  readonly fields: Readonly<Record<string, FieldType>>;
  readonly doc?: string;
}

/** Argument type codes as in YARA's module declarations: i integer, f float, s string, r regexp. */
export type ArgCode = "i" | "f" | "s" | "r";

export interface FunctionOverload {
  readonly args: readonly ArgCode[];
  readonly returns: ScalarKind;
  /**
   * `self` is the struct the function is declared in (the module's root object for
   * top-level functions), `ctx` the scan. Arguments arrive as described above.
   */
  readonly impl: (self: any, ctx: ScanContext, ...args: any[]) => unknown;
}

export interface FunctionType {
  readonly kind: "function";
  readonly overloads: readonly FunctionOverload[];
  readonly doc?: string;
}

/** A compiled regular expression handed to a module function (e.g. pe.exports(/^Dll/)). */
export interface RegexpValue {
  /** true when the regexp matches somewhere in the byte string `s`. */
  test(s: string): boolean;
  /** the YARA source of the regexp, for diagnostics. */
  readonly source: string;
  /** the length of the first match in the byte string `s`, or -1 when there is none (yara's yr_re_match). */
  matchLength?(s: string): number;
}

/** What a module sees of the current scan. */
export interface ScanContext {
  /** the whole scanned data. */
  readonly data: Uint8Array;
  /** the scanned data as a byte string (computed once, lazily). */
  text(): string;
  /** extra data given for this module (yara -x MODULE=FILE), if any. */
  readonly moduleData?: Uint8Array | undefined;
  /** per-scan cache shared by module code (e.g. hash results). Keys should be namespaced by module. */
  readonly cache: Map<string, unknown>;
  /** console-style output (the console module writes here). */
  log(message: string): void;
}

export interface YaraModule {
  readonly name: string;
  readonly declarations: StructType;
  /**
   * Parses the scanned data and returns the module's root object for this scan. Must never
   * throw on malformed input (leave fields undefined instead) and must be bounded in time
   * and memory whatever the input. Constants (e.g. pe.MACHINE_I386) are set every time.
   */
  load(ctx: ScanContext): Record<string, unknown>;
  /**
   * Optional: the entry point file offset (used for the deprecated `entrypoint` keyword),
   * computed from the object that `load` returned.
   */
  entrypoint?(root: Record<string, unknown>): number | undefined;
  /** Set for modules that cannot be provided here: importing them is a compile error with this text. */
  readonly unavailable?: string;
}

// ---- builders, so declarations read like YARA's module declarations ----

export const integer: FieldType = { kind: "integer" };
export const float: FieldType = { kind: "float" };
export const string: FieldType = { kind: "string" };

export function struct(fields: Record<string, FieldType>, doc?: string): StructType {
  return doc === undefined ? { kind: "struct", fields } : { kind: "struct", fields, doc };
}
export function array(of: FieldType): FieldType {
  return { kind: "array", of };
}
export function dictionary(of: FieldType): FieldType {
  return { kind: "dictionary", of };
}
/**
 * fn("ss", "i", impl) declares one overload taking two strings and returning an integer;
 * pass several [args, returns, impl] triples with `overloads` for overloaded functions.
 */
export function fn(args: string, returns: ScalarKind, impl: FunctionOverload["impl"]): FunctionType {
  return { kind: "function", overloads: [{ args: [...args] as ArgCode[], returns, impl }] };
}
export function overloads(...list: Array<[string, ScalarKind, FunctionOverload["impl"]]>): FunctionType {
  return {
    kind: "function",
    overloads: list.map(([args, returns, impl]) => ({ args: [...args] as ArgCode[], returns, impl })),
  };
}

/** Converts bytes to a byte string (latin1), the representation of YARA strings. */
export function bytesToString(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let out = "";
  const CHUNK = 8192;
  for (let i = start; i < end; i += CHUNK) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, Math.min(end, i + CHUNK)) as unknown as number[]);
  }
  return out;
}
