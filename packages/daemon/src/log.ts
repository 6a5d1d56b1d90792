/**
 * The daemon's log in clamd's format (clamd.conf `LogFile`, `LogTime`, `LogClean`,
 * `ExtendedDetectionInfo`, `LogFileMaxSize`, `LogRotate`): the lines clamd writes at start-up
 * (version, databases, signatures loaded, listeners, limits), for each detection
 * (`/path: Name FOUND`, with `(md5:size)` of the object it was found in when
 * ExtendedDetectionInfo is on), for each clean file with LogClean (`/path: OK`), streams named
 * as clamd names them (`instream(local)`, `instream(127.0.0.1@41234)`), on a reload and at
 * shutdown. With LogTime each line starts with the local time as ctime prints it and ` -> `.
 *
 * The file is opened for appending and written line by line (synchronously, so a line is in
 * the file when the reply has gone); past LogFileMaxSize it is renamed
 * `NAME-YYYYMMDD_HHMMSS.log` and a new one started, as clamd rotates (clamd rotates even with
 * LogRotate off, after saying so in the log; so does this). `reopen()` (SIGHUP) starts writing
 * to the path again after an outside log rotation.
 */
import { closeSync, existsSync, fstatSync, openSync, renameSync, writeSync } from "node:fs";
import type { FileResult } from "@vigil/scanner";
import { DaemonError } from "./error.js";

export interface ClamdLogOptions {
  file: string;
  /** LogTime: prefix each line with the time. */
  time?: boolean;
  /** LogClean: log clean files too. */
  clean?: boolean;
  /** ExtendedDetectionInfo: `(md5:size)` after the signature name. */
  extended?: boolean;
  /** LogFileMaxSize in bytes (0: no limit). */
  maxSize?: number;
  /** LogRotate. */
  rotate?: boolean;
  /** Also write each line here (tests; `Foreground` output). */
  echo?: (line: string) => void;
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** The local time as C's ctime() prints it, without the newline: `Mon Dec  7 19:23:01 2026`. */
export function ctime(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, " ")} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())} ${d.getFullYear()}`;
}

/** What the log needs of the object a detection was found in. */
export interface Scanned {
  md5: string;
  size: number;
}

export class ClamdLog {
  private fd: number;
  private size: number;
  readonly opts: ClamdLogOptions;

  constructor(opts: ClamdLogOptions) {
    this.opts = opts;
    this.fd = ClamdLog.open(opts.file);
    this.size = fstatSync(this.fd).size;
  }

  private static open(file: string): number {
    try {
      return openSync(file, "a", 0o640);
    } catch (err) {
      throw new DaemonError(
        "BAD_CONFIG",
        `cannot open the log file ${file}: ${(err as Error).message} (check LogFile and the directory's permissions)`,
        { cause: err },
      );
    }
  }

  get clean(): boolean {
    return this.opts.clean ?? false;
  }

  get extended(): boolean {
    return this.opts.extended ?? false;
  }

  /** Writes one line (a trailing newline is added when missing). */
  info(message: string): void {
    const text = message.endsWith("\n") ? message : `${message}\n`;
    const line = this.opts.time ? `${ctime()} -> ${text}` : text;
    this.opts.echo?.(line);
    const buf = Buffer.from(line);
    try {
      writeSync(this.fd, buf);
      this.size += buf.length;
    } catch {
      // a full disk or a revoked file: the daemon keeps serving; the next line tries again
      return;
    }
    const max = this.opts.maxSize ?? 0;
    if (max > 0 && this.size > max) this.rotate(max);
  }

  private rotate(max: number): void {
    if (!this.opts.rotate) {
      const note = `Log size = ${this.size}, max = ${max}\nWARNING: Log size limit met but log file rotation turned off. Forcing log file rotation anyways.\n`;
      try {
        writeSync(this.fd, note);
      } catch {
        // as above
      }
    }
    const d = new Date();
    const p = (n: number) => String(n).padStart(2, "0");
    const stamp = `-${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}_${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}.log`;
    const f = this.opts.file;
    const base = f.endsWith(".log") ? f.slice(0, -4) + stamp : f + stamp;
    // two rotations in one second would share a name (clamd's would overwrite the first)
    let target = base;
    for (let i = 1; existsSync(target); i++) target = base.replace(/\.log$/, `.${i}.log`);
    try {
      renameSync(f, target);
      this.reopen();
    } catch {
      // cannot rename: keep writing where we are
    }
  }

  /** Opens the log file again (after an outside rotation; SIGHUP). */
  reopen(): void {
    const fd = ClamdLog.open(this.opts.file);
    closeSync(this.fd);
    this.fd = fd;
    this.size = fstatSync(fd).size;
  }

  close(): void {
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
  }

  /**
   * The lines clamd logs for one scanned file or stream named `where`: each detection (every
   * one with allMatch, else the first), else `where: OK` with LogClean, or the error.
   * `top` is the scanned object's md5 and size, used for detections in it (not in its members).
   * With allMatch, clamd writes each detection twice when it has the md5 (with and without it),
   * and so does this.
   */
  resultLines(where: string, r: FileResult, allMatch: boolean, top?: Scanned): string[] {
    if (r.detections.length) {
      const out: string[] = [];
      const seen = new Set<string>();
      for (const d of allMatch ? r.detections : r.detections.slice(0, 1)) {
        if (seen.has(d.name)) continue;
        seen.add(d.name);
        const extra = this.extended && top && d.path === r.path && top.size > 0 ? `(${top.md5}:${top.size})` : "";
        out.push(`${where}: ${d.name}${extra} FOUND`);
        // clamd's all-match path logs the plain line after the extended one too
        if (allMatch && extra) out.push(`${where}: ${d.name} FOUND`);
      }
      return out;
    }
    if (r.errors.length) return [`${where}: ${r.errors[0]!.message.replace(/[\0\n\r]/g, " ")} ERROR`];
    return this.clean ? [`${where}: OK`] : [];
  }
}
