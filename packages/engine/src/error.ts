/**
 * Errors and warnings of the engine. Every diagnostic has a stable code, a message that says
 * what is wrong and what to do, and where: file, line and column.
 */

import type { ScanResult } from "./rules.js";

export type DiagnosticCode =
  // syntax
  | "E_SYNTAX"
  | "E_UNTERMINATED"
  | "E_ESCAPE"
  | "E_NUMBER"
  | "E_HEX"
  | "E_REGEX"
  // semantics
  | "E_DUPLICATE_RULE"
  | "E_RULE_MATCHES_WILDCARD"
  | "E_DUPLICATE_STRING"
  | "E_DUPLICATE_TAG"
  | "E_DUPLICATE_META"
  | "E_UNREFERENCED_STRING"
  | "E_UNDEFINED_STRING"
  | "E_UNDEFINED_IDENTIFIER"
  | "E_TYPE"
  | "E_MODIFIERS"
  | "E_UNKNOWN_MODULE"
  | "E_MODULE_UNAVAILABLE"
  | "E_MODULE_NOT_IMPORTED"
  | "E_INCLUDE"
  | "E_INCLUDE_CYCLE"
  | "E_ARGUMENTS"
  | "E_EMPTY_STRING"
  | "E_RANGE"
  | "E_LIMIT"
  | "E_EXTERNAL"
  // warnings
  | "W_SLOW_PATTERN"
  | "W_CONSTANT_CONDITION"
  | "W_NON_BOOLEAN"
  | "W_UNUSED"
  // lints of `vigil yara check` (style rules the user asks for)
  | "W_RULE_NAME"
  | "W_MISSING_META";

export interface Diagnostic {
  readonly code: DiagnosticCode;
  readonly message: string;
  readonly line: number;
  readonly column: number;
  readonly path?: string | undefined;
  /** what to do about it, when the message alone does not say. */
  readonly hint?: string | undefined;
  /** the rule the diagnostic is about, when it is inside one. */
  readonly rule?: string | undefined;
  /** the source line the diagnostic points at, when known. */
  readonly sourceLine?: string | undefined;
  /** how many characters the token at line:column spans (the caret is underlined that far). */
  readonly length?: number | undefined;
  /** the line yara reports for this error when it is not that of the token (yara-style output uses it). */
  readonly yaraLine?: number | undefined;
}

/** Characters of the source line shown under a diagnostic. */
const SOURCE_WINDOW = 120;

/** Formats a diagnostic with its source line and a caret, like a compiler. */
export function formatDiagnostic(
  d: Diagnostic,
  severity: "error" | "warning" = d.code.startsWith("W") ? "warning" : "error",
): string {
  const where = `${d.path ?? "<source>"}:${d.line}:${d.column}`;
  let out = `${where}: ${severity}[${d.code}]: ${d.message}`;
  if (d.hint) out += ` (${d.hint})`;
  if (d.sourceLine !== undefined) {
    const gutter = String(d.line).length;
    // a long line (a generated condition, a 50 KB regex) is shown as a window around the column
    let text = d.sourceLine,
      caret = Math.max(0, d.column - 1);
    if (text.length > SOURCE_WINDOW) {
      const from = Math.max(0, Math.min(caret - SOURCE_WINDOW / 2, text.length - SOURCE_WINDOW));
      const head = from > 0 ? "..." : "",
        tail = from + SOURCE_WINDOW < text.length ? "..." : "";
      text = head + text.slice(from, from + SOURCE_WINDOW) + tail;
      caret = caret - from + head.length;
    }
    const width = Math.max(1, Math.min(d.length ?? 1, text.length - caret));
    out += `\n${" ".repeat(gutter)} |\n${d.line} | ${text}\n${" ".repeat(gutter)} | ${" ".repeat(caret)}${"^".repeat(width)}`;
  }
  return out;
}

export class CompileError extends Error {
  readonly code = "COMPILE_ERROR" as const;
  readonly diagnostics: Diagnostic[];
  constructor(diagnostics: Diagnostic[], options?: { cause?: unknown }) {
    super(diagnostics.map((d) => formatDiagnostic(d)).join("\n"), options);
    this.name = "CompileError";
    this.diagnostics = diagnostics;
  }
}

export type ScanErrorCode = "SCAN_TIMEOUT" | "SCAN_TOO_MANY_MATCHES" | "SCAN_INTERNAL";

export class ScanError extends Error {
  readonly code: ScanErrorCode;
  /**
   * For SCAN_TIMEOUT thrown by `CompiledRules.scan`: what the scan established before it
   * stopped. `partial.matches` holds the rules known to match whatever the rest of the data
   * holds (a rule evaluated on complete matches, or one whose condition only grows with more
   * matches, such as `$a` or `any of them`); rules that might still change are left out.
   */
  readonly partial?: ScanResult;
  constructor(code: ScanErrorCode, message: string, options?: { cause?: unknown; partial?: ScanResult }) {
    super(message, options);
    this.name = "ScanError";
    this.code = code;
    if (options?.partial) this.partial = options.partial;
  }
}

export type LoadErrorCode = "LOAD_FORMAT" | "LOAD_VERSION";

export class LoadError extends Error {
  readonly code: LoadErrorCode;
  constructor(code: LoadErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LoadError";
    this.code = code;
  }
}

/** Thrown inside the front end and turned into a CompileError with position information. */
export class DiagnosticError extends Error {
  constructor(readonly diagnostic: Diagnostic) {
    super(diagnostic.message);
  }
}
