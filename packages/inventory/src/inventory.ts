/**
 * Collects the inventory of one machine (or a mounted image) from every source present. The
 * command renders it as a report (report.ts); the fleet agent (packages/cli/src/agent/inventory.ts)
 * sends it to the server in the protocol's InventoryReport form.
 */
import { stat } from "node:fs/promises";
import { hostname } from "node:os";
import { InventoryError } from "./error.js";
import { macosSource } from "./macos.js";
import { rpmSource } from "./rpm.js";
import { LINUX_SOURCES, type Source } from "./sources.js";
import type { InventoryEntry, SourceKind, SourceProblem } from "./types.js";
import { registrySource } from "./windows.js";

export interface CollectOptions {
  /** the filesystem root to inventory (default "/"). */
  root?: string;
  /** Windows .reg exports of the Uninstall keys to read as well. */
  regFiles?: string[];
  /** only these sources (default: all). */
  sources?: SourceKind[];
}

export interface Inventory {
  /** the root that was read. */
  root: string;
  /** host name of the machine that collected it. */
  collector: string;
  collectedAt: string;
  entries: InventoryEntry[];
  /** sources that found something. */
  sources: SourceKind[];
  problems: SourceProblem[];
}

const ALL: Record<SourceKind, Source | undefined> = {
  ...(LINUX_SOURCES as Record<string, Source>),
  rpm: rpmSource,
  "macos-app": macosSource,
  "windows-registry": undefined,
} as Record<SourceKind, Source | undefined>;

export const SOURCE_KINDS: SourceKind[] = [
  "dpkg",
  "rpm",
  "apk",
  "snap",
  "flatpak",
  "python",
  "npm",
  "systemd",
  "kernel-module",
  "windows-registry",
  "macos-app",
];

export async function collect(opts: CollectOptions = {}): Promise<Inventory> {
  const root = opts.root ?? "/";
  try {
    if (!(await stat(root)).isDirectory()) throw new Error("not a directory");
  } catch (e) {
    throw new InventoryError(
      "BAD_ROOT",
      `${root}: cannot read the root directory (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); give --root a mounted filesystem or a directory tree`,
      { cause: e },
    );
  }
  const wanted = new Set(opts.sources ?? SOURCE_KINDS);
  const entries: InventoryEntry[] = [];
  const problems: SourceProblem[] = [];
  const found = new Set<SourceKind>();
  for (const kind of SOURCE_KINDS) {
    if (!wanted.has(kind)) continue;
    let r;
    try {
      if (kind === "windows-registry") {
        if (!opts.regFiles?.length) continue;
        r = await registrySource(opts.regFiles);
      } else {
        r = await ALL[kind]!({ root });
      }
    } catch (e) {
      problems.push({ source: kind, path: root, message: (e as Error).message });
      continue;
    }
    if (r.entries.length) found.add(kind);
    entries.push(...r.entries);
    problems.push(...r.problems);
  }
  return { root, collector: hostname(), collectedAt: new Date().toISOString(), entries, sources: [...found], problems };
}
