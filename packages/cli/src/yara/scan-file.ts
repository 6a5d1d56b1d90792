/** Reads one file and scans it, turning every failure into a yara-style error message. */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { fsPath } from "@vigil/scanner/paths";
import { ScanError, type CompiledRules, type ScanOptions, type ScanResult } from "@vigil/engine";

export type ScanOutcome = { ok: true; result: ScanResult } | { ok: false; error: string } | { ok: "skipped" };

/** One read buffer reused from file to file (the scan keeps no reference to the bytes). */
let shared = new Uint8Array(1 << 20);
const MAX_SHARED = 64 << 20;

function readWhole(path: string, skipLarger: number | undefined): Uint8Array | "skipped" {
  const fd = openSync(fsPath(path), "r");
  try {
    const size = fstatSync(fd).size;
    if (skipLarger !== undefined && size > skipLarger) return "skipped";
    let buf: Uint8Array;
    if (size <= MAX_SHARED) {
      if (shared.length < size) shared = new Uint8Array(Math.max(size, shared.length * 2));
      buf = shared;
    } else buf = new Uint8Array(size);
    let n = 0;
    while (n < size) {
      const got = readSync(fd, buf, n, size - n, null);
      if (got === 0) break; // the file shrank while we read it
      n += got;
    }
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

export function scanOneFile(
  rules: CompiledRules,
  path: string,
  options: ScanOptions & { skipLarger?: number; keepModuleData?: boolean },
): ScanOutcome {
  let data: Uint8Array | "skipped";
  try {
    data = readWhole(path, options.skipLarger);
  } catch {
    return { ok: false, error: `error scanning ${path}: could not open file` };
  }
  if (data === "skipped") return { ok: "skipped" };
  try {
    const result = rules.scan(data, options);
    if (options.keepModuleData === false) result.moduleData = {};
    return { ok: true, result };
  } catch (e) {
    if (e instanceof ScanError && e.code === "SCAN_TIMEOUT")
      return { ok: false, error: `error scanning ${path}: timeout` };
    return { ok: false, error: `error scanning ${path}: internal error: ${(e as Error).message}` };
  }
}
