/**
 * Reading hash-signature files from disk in chunks into a builder. Big files are read ahead by a
 * helper thread into a ring of shared buffers, so the copy from the page cache (about a tenth of
 * the load time for a 1 GB file) overlaps with parsing on another core; small files, or any
 * trouble with the helper, use plain synchronous reads.
 */

import { openSync, readSync, closeSync, fstatSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { ClamavError } from "../error.js";
import { HashTextParser, type HashParseOptions, type HashParseStats, type HashTextFormat } from "./hash.js";
import type { HashStoreBuilder } from "../stores/hashdb/store.js";

const CHUNK = 16 << 20;
/** files at least this big are read ahead by a helper thread. */
const READ_AHEAD_MIN = 64 << 20;
const SLOTS = 3;
const SLOT = 8 << 20;
/** how long to wait for the helper to start (or for any one chunk) before reading synchronously. */
const READ_AHEAD_WAIT_MS = 10_000;

// Ring protocol, one Int32 pair per slot in `ctrl`: state (0 = free for the reader, 1 = filled)
// and length (bytes, 0 at the end of the file, -1 after a read error); ctrl[2 * SLOTS] set to 1
// tells the reader to stop. The reader fills slots in order from `start` and waits while the next
// one is still full; the parser takes them in the same order.
const READER = `
const { workerData } = require("node:worker_threads");
const { readSync } = require("node:fs");
const { fd, start, size, ring, ctrl: ctrlBuf, slots, slot } = workerData;
const ctrl = new Int32Array(ctrlBuf);
const STOP = 2 * slots;
const bytes = new Uint8Array(ring);
let pos = start;
for (let k = 0; ; k = (k + 1) % slots) {
  while (Atomics.load(ctrl, 2 * k) !== 0 && Atomics.load(ctrl, STOP) === 0) Atomics.wait(ctrl, 2 * k, 1);
  if (Atomics.load(ctrl, STOP) !== 0) break;
  let n = 0;
  try {
    while (n < slot && pos + n < size) {
      const r = readSync(fd, bytes, k * slot + n, Math.min(slot - n, size - pos - n), pos + n);
      if (r === 0) break;
      n += r;
    }
  } catch {
    n = -1;
  }
  ctrl[2 * k + 1] = n;
  Atomics.store(ctrl, 2 * k, 1);
  Atomics.notify(ctrl, 2 * k);
  if (n <= 0) break;
  pos += n;
}
`;

export interface HashLoadOptions extends HashParseOptions {
  /** files at least this big are read ahead by a helper thread (default 64 MiB). */
  readAheadMin?: number;
  /** size of each of the helper's three read-ahead buffers (default 8 MiB). */
  readAheadSlot?: number;
}

/** Streams a file through a `HashTextParser` (16 MiB at a time, or read ahead by a helper thread for big files). */
export function loadHashFile(
  builder: HashStoreBuilder,
  path: string,
  format: HashTextFormat,
  options: HashLoadOptions = {},
): HashParseStats {
  let fd: number;
  let bytes: number;
  try {
    fd = openSync(path, "r");
    bytes = fstatSync(fd).size;
  } catch (cause) {
    throw new ClamavError("SIGDB_READ", `cannot open: ${(cause as Error).message}`, { path, cause });
  }
  const readAheadMin = options.readAheadMin ?? READ_AHEAD_MIN;
  const averageLineLength = bytes >= readAheadMin ? sampleLineLength(fd, bytes) : undefined;
  const parser = new HashTextParser(builder, format, {
    expectedBytes: bytes,
    averageLineLength,
    ...options,
    path: options.path ?? path,
  });
  try {
    const position =
      bytes >= readAheadMin ? readAhead(fd, path, bytes, parser, Math.max(1, options.readAheadSlot ?? SLOT)) : 0;
    // whatever the helper did not read (all of a small file; a file that grew since; after a stall or an error, which this read reports)
    readFrom(fd, path, parser, position, Infinity, bytes - position);
  } finally {
    closeSync(fd);
  }
  return parser.end();
}

/** Loads hash signatures held in memory (a member of a .cvd/.cld); `options.path` names them in errors. */
export function loadHashBytes(
  builder: HashStoreBuilder,
  bytes: Uint8Array,
  format: HashTextFormat,
  options: HashLoadOptions = {},
): HashParseStats {
  const parser = new HashTextParser(builder, format, { expectedBytes: bytes.length, ...options });
  parser.push(bytes);
  return parser.end();
}

/**
 * Average line length of a big file from three 256 KiB samples (at a quarter, half and three
 * quarters), to pre-size the builder: the first lines of a file can be much shorter or longer
 * than the rest (small sizes, short names), and room reserved but never filled is prefaulted
 * memory. Undefined when the samples cannot be read or hold no line end.
 */
function sampleLineLength(fd: number, size: number): number | undefined {
  const SAMPLE = 1 << 18;
  const buf = new Uint8Array(SAMPLE);
  let bytes = 0;
  let lines = 0;
  try {
    for (const at of [0.25, 0.5, 0.75]) {
      const n = readSync(fd, buf, 0, SAMPLE, Math.floor(size * at));
      const first = buf.indexOf(10);
      const last = buf.lastIndexOf(10, n - 1);
      if (first < 0 || last <= first) continue;
      bytes += last - first;
      for (let i = buf.indexOf(10, first + 1); i >= 0 && i <= last; i = buf.indexOf(10, i + 1)) lines++;
    }
  } catch {
    return undefined; // the real reads report the error
  }
  return lines > 0 ? bytes / lines : undefined;
}

/** Synchronous reads from `position` up to `end` or the end of the file (`expected` bytes away); returns the position reached. */
function readFrom(
  fd: number,
  path: string,
  parser: HashTextParser,
  position: number,
  end: number,
  expected: number,
): number {
  const buf = new Uint8Array(Math.min(CHUNK, end - position, Math.max(1 << 16, expected + 1)));
  while (position < end) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, Math.min(buf.length, end - position), position);
    } catch (cause) {
      throw new ClamavError("SIGDB_READ", `read failed: ${(cause as Error).message}`, { path, cause });
    }
    if (n === 0) break;
    position += n;
    parser.push(buf.subarray(0, n));
  }
  return position;
}

/**
 * Parses a big file as a helper thread reads it ahead (the first slot is read here while the
 * helper starts). Returns the offset up to which the file went through the parser.
 */
function readAhead(fd: number, path: string, size: number, parser: HashTextParser, slot: number): number {
  const ring = new SharedArrayBuffer(SLOTS * slot);
  const ctrl = new Int32Array(new SharedArrayBuffer(4 * (2 * SLOTS + 1)));
  let worker: Worker;
  try {
    worker = new Worker(READER, {
      eval: true,
      execArgv: [],
      stdout: true,
      stderr: true,
      workerData: { fd, start: slot, size, ring, ctrl: ctrl.buffer, slots: SLOTS, slot },
    });
    worker.unref();
    worker.on("error", () => {});
  } catch {
    return 0;
  }
  let position = 0;
  try {
    position = readFrom(fd, path, parser, 0, slot, slot);
    if (position < slot) return position;
    for (let k = 0; ; k = (k + 1) % SLOTS) {
      if (
        Atomics.load(ctrl, 2 * k) !== 1 &&
        Atomics.wait(ctrl, 2 * k, 0, READ_AHEAD_WAIT_MS) === "timed-out" &&
        Atomics.load(ctrl, 2 * k) !== 1
      )
        return position;
      const n = ctrl[2 * k + 1]!;
      if (n <= 0) return position;
      // the parser keeps no reference to a chunk (a partial last line is copied), so the slot can be reused
      parser.push(new Uint8Array(ring, k * slot, n));
      position += n;
      Atomics.store(ctrl, 2 * k, 0);
      Atomics.notify(ctrl, 2 * k);
    }
  } finally {
    Atomics.store(ctrl, 2 * SLOTS, 1);
    for (let k = 0; k < SLOTS; k++) Atomics.notify(ctrl, 2 * k);
    void worker.terminate().catch(() => {});
  }
}

/** The hash format of a file extension: hdb/hsb (and PUA hdu/hsu), mdb/msb (mdu/msu), fp/sfp, and hash lists (.txt, .md5, .sha1, .sha256, .hashes, .lst). */
export function hashFormatForPath(path: string): HashTextFormat | "section" | undefined {
  const ext = path.slice(path.lastIndexOf(".") + 1).toLowerCase();
  switch (ext) {
    case "hdb":
    case "hsb":
    case "hdu":
    case "hsu":
      return "hdb";
    case "mdb":
    case "msb":
    case "mdu":
    case "msu":
      return "section";
    case "fp":
    case "sfp":
      return "fp";
    case "txt":
    case "md5":
    case "sha1":
    case "sha256":
    case "hashes":
    case "lst":
      return "list";
    default:
      return undefined;
  }
}
