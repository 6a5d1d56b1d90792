/** Reads one file and scans it, turning every failure into a yara-style error message. */
import { readFileSync, statSync } from "node:fs";
import { ScanError, type CompiledRules, type ScanOptions, type ScanResult } from "@vigil/engine";

export type ScanOutcome =
  | { ok: true; result: ScanResult }
  | { ok: false; error: string }
  | { ok: "skipped" };

export function scanOneFile(rules: CompiledRules, path: string, options: ScanOptions & { skipLarger?: number; keepModuleData?: boolean }): ScanOutcome {
  let data: Uint8Array;
  try {
    if (options.skipLarger !== undefined && statSync(path).size > options.skipLarger) return { ok: "skipped" };
    data = readFileSync(path);
  } catch {
    return { ok: false, error: `error scanning ${path}: could not open file` };
  }
  try {
    const result = rules.scan(data, options);
    if (options.keepModuleData === false) result.moduleData = {};
    return { ok: true, result };
  } catch (e) {
    if (e instanceof ScanError && e.code === "SCAN_TIMEOUT") return { ok: false, error: `error scanning ${path}: timeout` };
    return { ok: false, error: `error scanning ${path}: internal error: ${(e as Error).message}` };
  }
}
