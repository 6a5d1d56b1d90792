/**
 * How `vigil` fails, in one place. `fail(command, err)` turns any error into one line on stderr,
 * `vigil <command>: <message> (<CODE>)`, and returns the exit code after clamscan's convention:
 * 0 clean, 1 found (a detection, or a check that refused: a split view, a broken ledger, a
 * revoked key), 2 error. Expected errors (a package error with its code, a system error, bad
 * JSON) never print a stack trace; VIGIL_DEBUG=1 prints the stack and causes of any error.
 *
 * `guardOutput(command)` handles output failures for the whole process: a reader that went away
 * (EPIPE, `vigil ... | head -1`) ends the process quietly with status 141, as a process killed
 * by SIGPIPE does (yara, clamscan); any other write failure (a full disk) is one line on stderr
 * and exit 2. `Output` writes a report with back-pressure (it waits for 'drain') and stops the
 * process at once when its destination fails, so a scan never runs on for a reader that is gone.
 */
import type { Writable } from "node:stream";
import { hasRawBytes, pathToBytes, printable } from "@vigil/scanner/paths";

export const EXIT_CLEAN = 0;
export const EXIT_FOUND = 1;
export const EXIT_ERROR = 2;
/** 128 + SIGPIPE: what a shell reports for yara or clamscan writing into a closed pipe. */
export const EXIT_PIPE = 141;

/** Codes that mean "a check ran and refused" (exit 1) rather than "could not run" (exit 2). */
export const AGENT_REFUSALS: ReadonlySet<string> = new Set([
  "AGENT_REVOKED",
  "AGENT_HTTP",
  "AGENT_OFFLINE",
  "POLICY_REJECTED",
  "LEDGER_BROKEN",
]);
/** `vigil update`: every verification failure of the updates package (a note that does not verify too). */
export const UPDATE_REFUSALS: ReadonlySet<string> = new Set([
  "BAD_BUNDLE",
  "COMPILE_FAILED",
  "BAD_KEY",
  "LOG_CORRUPT",
  "BAD_LOG_SIGNATURE",
  "WRONG_ORIGIN",
  "NO_QUORUM",
  "STALE_CHECKPOINT",
  "FUTURE_CHECKPOINT",
  "INCONSISTENT",
  "ROLLBACK",
  "NOT_INCLUDED",
  "BAD_PUBLISHER_SIGNATURE",
  "FILE_MISMATCH",
  "WITNESS_REFUSED",
  "AUDIT_FAILED",
  "BAD_ROOT",
  "BAD_ROOT_POLICY",
  "ROOT_BAD_SIGNATURE",
  "ROOT_THRESHOLD_PREVIOUS",
  "ROOT_THRESHOLD_SELF",
  "ROOT_ROLLBACK",
  "ROOT_VERSION_SKIPPED",
  "ROOT_EXPIRED",
  "MALFORMED",
  "UNVERIFIED",
  "INVALID_SIGNATURE",
]);

export interface FailOptions {
  /** Codes that exit 1 and print "refused: " before the message (see AGENT_REFUSALS, UPDATE_REFUSALS). */
  refusals?: ReadonlySet<string>;
  /** Put before the message, e.g. "cannot open the database". */
  context?: string;
}

const debug = (): boolean => !!process.env.VIGIL_DEBUG && process.env.VIGIL_DEBUG !== "0";

/** The error's string code, if it has one. */
function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && code !== "" ? code : undefined;
}

/** A system error (node:fs, node:net): it has a syscall and an errno code. */
function isSystemError(err: unknown): err is NodeJS.ErrnoException {
  return (
    err instanceof Error && typeof (err as NodeJS.ErrnoException).syscall === "string" && codeOf(err) !== undefined
  );
}

/** A write into a pipe whose reader has gone (only said of stdout, stderr and report files). */
function isClosedPipe(err: unknown): boolean {
  return codeOf(err) === "EPIPE";
}

/** "ENOENT: no such file or directory, open '/x'" -> "/x: no such file or directory". */
function systemMessage(err: NodeJS.ErrnoException): string {
  const code = err.code!;
  let m = err.message.startsWith(`${code}: `) ? err.message.slice(code.length + 2) : err.message;
  if (err.path !== undefined) {
    const tail = `, ${err.syscall} '${err.path}'`;
    const k = m.indexOf(tail);
    if (k >= 0) m = m.slice(0, k);
    return `${err.path}: ${m}`;
  }
  if (err.syscall && m.endsWith(`, ${err.syscall}`)) m = m.slice(0, -(err.syscall.length + 2));
  return m;
}

/** The one-line message for an error, without the command prefix. */
export function describe(err: unknown): { message: string; code?: string; expected: boolean } {
  if (isSystemError(err)) return { message: systemMessage(err), code: err.code!, expected: true };
  if (err instanceof Error) {
    const code = codeOf(err);
    const message = err.message.replace(/\s*\n\s*/g, "; ");
    if (code !== undefined) return { message, code, expected: true };
    if (err instanceof SyntaxError) return { message, expected: true }; // JSON the user gave us
    return { message: `internal error: ${err.name}: ${message}`, expected: false };
  }
  return { message: `internal error: ${String(err)}`, expected: false };
}

/**
 * Prints `err` as one line on stderr and returns the exit code. Commander's own errors (help,
 * version, bad options) were already printed by commander: 0 for help and version, else 2. An
 * EPIPE here is a socket's (a server that hung up), an error like any other.
 */
export function fail(command: string, err: unknown, opts: FailOptions = {}): number {
  const code = codeOf(err);
  if (code?.startsWith("commander.")) {
    return code === "commander.helpDisplayed" || code === "commander.help" || code === "commander.version"
      ? EXIT_CLEAN
      : EXIT_ERROR;
  }
  // (a closed stdout never comes here: node reports it as an 'error' event, see guardOutput)
  const d = describe(err);
  const refused = code !== undefined && !!opts.refusals?.has(code);
  let line = `vigil ${command}: ${refused ? "refused: " : ""}${opts.context ? `${opts.context}: ` : ""}${d.message}`;
  if (d.code !== undefined) line += ` (${d.code})`;
  else if (!d.expected && !debug()) line += " (a bug: please report it; VIGIL_DEBUG=1 prints the stack trace)";
  writeErr(printable(line) + "\n"); // a path in the message: control characters and raw bytes as \xNN
  if (debug()) writeErr(stackOf(err));
  return refused ? EXIT_FOUND : EXIT_ERROR;
}

function stackOf(err: unknown): string {
  let out = "";
  for (let e: unknown = err, depth = 0; e !== undefined && depth < 8; e = (e as { cause?: unknown })?.cause, depth++) {
    out += (depth ? "caused by: " : "") + ((e as Error)?.stack ?? String(e)) + "\n";
  }
  return out;
}

/** stderr that never throws: when stderr itself is gone there is nobody left to tell. */
function writeErr(s: string): void {
  try {
    if (!process.stderr.destroyed) process.stderr.write(s);
  } catch {
    /* stderr is closed or full */
  }
}

let guardedCommand: string | undefined;
let ending = false;

/**
 * Ends the process because writing to `where` failed: quietly with 141 when the reader went
 * away, else with one line on stderr and exit 2. Never returns.
 */
export function outputFailed(err: unknown, where = "standard output"): never {
  if (!ending) {
    ending = true;
    if (!isClosedPipe(err)) {
      const d = describe(err);
      const message = d.message.startsWith(`${where}: `) ? d.message.slice(where.length + 2) : d.message;
      writeErr(
        `vigil${guardedCommand ? ` ${guardedCommand}` : ""}: cannot write to ${where}: ${message}${d.code ? ` (${d.code})` : ""}\n`,
      );
      if (debug()) writeErr(stackOf(err));
    }
  }
  process.exit(isClosedPipe(err) ? EXIT_PIPE : EXIT_ERROR);
}

/** Installs the process-wide handlers of stdout and stderr failures (once; the last command name wins). */
export function guardOutput(command?: string): void {
  guardedCommand = command;
  if (guardOutput.installed) return;
  guardOutput.installed = true;
  process.stdout.on("error", (err) => outputFailed(err, "standard output"));
  process.stderr.on("error", (err) => {
    // nothing can be said on a stderr that failed: end at once (141 for a closed pipe, else 2)
    ending = true;
    outputFailed(err, "standard error");
  });
}
guardOutput.installed = false;

function isStdio(s: unknown): boolean {
  return s === process.stdout || s === process.stderr;
}

/**
 * A report destination with back-pressure: `write()` returns a promise only when the stream's
 * buffer is full (await it, and the producer pauses until the reader catches up). A failed
 * destination ends the process through outputFailed(), synchronously when the failure is
 * already known, so no further work is done for a reader that is gone.
 */
export class Output {
  private waiting: Promise<void> | undefined;
  private failed: unknown;

  constructor(
    readonly stream: Writable | NodeJS.WritableStream,
    readonly where = "standard output",
  ) {
    // stdout and stderr are watched by guardOutput(); a file of -o is watched here
    if (!isStdio(stream))
      (stream as Writable).on("error", (err) => {
        this.failed ??= err;
        outputFailed(err, where);
      });
  }

  /**
   * Writes `s`; the promise (if any) resolves once the stream can take more. A path in `s`
   * whose name is not valid UTF-8 (lone surrogates, see @vigil/scanner's pathToBytes) is
   * written as its original bytes.
   */
  write(s: string): Promise<void> | undefined {
    if (s === "") return this.waiting;
    const data: string | Buffer = hasRawBytes(s) ? pathToBytes(s) : s;
    const w = this.stream as Writable;
    if (this.failed !== undefined) outputFailed(this.failed, this.where);
    let ok: boolean;
    try {
      ok = w.write(data);
    } catch (err) {
      outputFailed(err, this.where); // a synchronous write (a file such as /dev/full) threw
    }
    if (w.errored) outputFailed(w.errored, this.where);
    if (w.destroyed)
      outputFailed(Object.assign(new Error("write after the stream was closed"), { code: "EPIPE" }), this.where);
    if (ok || this.waiting) return this.waiting;
    this.waiting = new Promise<void>((resolve) => {
      w.once("drain", () => {
        this.waiting = undefined;
        resolve();
      });
    });
    return this.waiting;
  }

  /** Waits until everything written has been handed to the system (for a file: flushed and closed). */
  async end(): Promise<void> {
    const w = this.stream as Writable;
    if (isStdio(w)) {
      if (w.writableLength > 0) await new Promise<void>((resolve) => w.once("drain", () => resolve()));
      return;
    }
    await new Promise<void>((resolve) => w.end(() => resolve()));
    if (w.errored) outputFailed(w.errored, this.where);
  }
}
