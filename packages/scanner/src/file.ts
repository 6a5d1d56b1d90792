/**
 * Reading and scanning one file: the bytes are read in chunks into a buffer that is reused
 * from file to file (it only grows), then handed to scanContent. Opening uses O_NONBLOCK (a
 * file swapped for a fifo cannot block us) and, for files found inside trees, O_NOFOLLOW (a
 * file swapped for a symlink is not followed).
 */
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { emptyResult, addIncomplete, scanContent, type ContentOptions } from "./content.js";
import { fsError, ScannerError } from "./error.js";
import type { Detector, FileResult } from "./types.js";
import { fsPath } from "./bytepath.js";

const CHUNK = 1 << 20;

/** A growable byte buffer reused across reads. */
export class ReadBuffer {
  private buf = Buffer.allocUnsafe(1 << 16);
  ensure(n: number): Buffer {
    if (this.buf.length < n) {
      let size = this.buf.length;
      while (size < n) size *= 2;
      this.buf = Buffer.allocUnsafe(size);
    }
    return this.buf;
  }
}

export interface FileScanOptions extends ContentOptions {
  /** Follow a symlink at this path (true for paths named on the command line). */
  follow?: boolean;
  /** Name to report instead of the path (e.g. "stdin"). */
  displayPath?: string;
}

export function scanFile(detector: Detector, path: string, buffers: ReadBuffer, opts: FileScanOptions): FileResult {
  const display = opts.displayPath ?? path;
  let fd: number;
  try {
    fd = openSync(fsPath(path), constants.O_RDONLY | constants.O_NONBLOCK | (opts.follow ? 0 : constants.O_NOFOLLOW));
  } catch (err) {
    const r = emptyResult(display, 0);
    const e =
      (err as NodeJS.ErrnoException).code === "ELOOP" && !opts.follow
        ? new ScannerError("NOT_REGULAR", `${display}: became a symbolic link before it could be read; not followed`, {
            cause: err,
          })
        : fsError(err, display);
    r.errors.push({ code: e.code, path: display, message: e.message });
    return r;
  }
  try {
    const st = fstatSync(fd);
    const result = emptyResult(display, st.size);
    result.stat = { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, mode: st.mode };
    if (!st.isFile()) {
      result.errors.push({ code: "NOT_REGULAR", path: display, message: `${display}: not a regular file; skipped` });
      return result;
    }
    if (st.size > opts.limits.maxFileSize) {
      addIncomplete(
        result,
        {
          reason: "max-filesize",
          path: display,
          message: `file of ${st.size} bytes is over the ${opts.limits.maxFileSize}-byte limit (--max-filesize); not scanned`,
        },
        opts,
      );
      return result;
    }
    // Read up to the size seen, plus whatever was appended since, never past the limit.
    let buf = buffers.ensure(Math.max(st.size, 1));
    let n = 0;
    for (;;) {
      if (n === buf.length) {
        if (n >= opts.limits.maxFileSize) break;
        const bigger = buffers.ensure(Math.min(n * 2, opts.limits.maxFileSize));
        if (bigger !== buf) {
          buf.copy(bigger, 0, 0, n);
          buf = bigger;
        }
        if (n === buf.length) break;
      }
      const got = readSync(fd, buf, n, Math.min(CHUNK, buf.length - n), null);
      if (got === 0) break;
      n += got;
    }
    result.size = n;
    if (n >= opts.limits.maxFileSize && n > st.size) {
      addIncomplete(
        result,
        {
          reason: "max-filesize",
          path: display,
          message: `file grew past the ${opts.limits.maxFileSize}-byte limit while being read; only the start was scanned`,
        },
        opts,
      );
    }
    scanContent(detector, buf.subarray(0, n), result, opts);
    return result;
  } catch (err) {
    const r = emptyResult(display, 0);
    const e = fsError(err, display);
    r.errors.push({ code: e.code, path: display, message: e.message });
    return r;
  } finally {
    closeSync(fd);
  }
}

/** Scans bytes already in memory (stdin, a network stream) as one top-level file. */
export function scanBytes(detector: Detector, bytes: Uint8Array, name: string, opts: ContentOptions): FileResult {
  const result = emptyResult(name, bytes.length);
  if (bytes.length > opts.limits.maxFileSize) {
    addIncomplete(
      result,
      {
        reason: "max-filesize",
        path: name,
        message: `input of ${bytes.length} bytes is over the ${opts.limits.maxFileSize}-byte limit (--max-filesize); not scanned`,
      },
      opts,
    );
    return result;
  }
  scanContent(detector, bytes, result, opts);
  return result;
}
