/**
 * Where the rule feeds live and which rule directories are in use: what `vigil scan`, `vigil
 * watch` and `vigil daemon` read at start-up. Kept apart from feeds.ts (fetching, compiling and
 * auditing feeds), so that a scan does not load the rule auditor and the update machinery.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { dataDir } from "./options.js";

export function feedsDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.VIGIL_FEEDS_DIR || join(dataDir(env), "feeds");
}

export const recordsPath = (dir: string) => join(dir, "feeds.json");

/** The rule directories of every feed that has rules in use (for `vigil scan` and `vigil daemon`). */
export function feedRuleDirs(dir = feedsDir()): string[] {
  // synchronous: read at start-up by the scan and daemon commands
  try {
    const { feeds } = JSON.parse(readFileSync(recordsPath(dir), "utf8")) as {
      feeds?: Array<{ name: string; current?: string }>;
    };
    return (feeds ?? [])
      .filter((f) => f.current)
      .map((f) => join(dir, f.name, "current"))
      .filter((p) => existsSync(p));
  } catch {
    return [];
  }
}
