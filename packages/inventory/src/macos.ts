/**
 * macOS application bundles from a mounted or copied disk: ROOT/Applications/X.app (one level
 * of folders too, e.g. Applications/Utilities) and ROOT/Library/... are not walked further.
 * Each bundle's Contents/Info.plist (XML or binary) gives name, version, bundle identifier and
 * the copyright line, from which the vendor is taken.
 */
import { join } from "node:path";
import { isDir, list, readBytes, under } from "./fsutil.js";
import { parsePlist, type PlistValue } from "./plist.js";
import type { InventoryEntry, SourceResult } from "./types.js";
import type { SourceContext } from "./sources.js";

function s(v: PlistValue | undefined): string | undefined {
  return typeof v === "string" && v.trim() ? v.trim() : undefined;
}

/** "Copyright © 2024 AO Kaspersky Lab. All rights reserved." -> "AO Kaspersky Lab" */
export function vendorFromCopyright(c: string | undefined): string | undefined {
  if (!c) return undefined;
  const t = c
    .replace(/all rights reserved\.?/i, "")
    .replace(/copyright|\(c\)|©/gi, "")
    .replace(/\b(19|20)\d\d\s*(-|–|,)\s*(19|20)?\d\d\b|\b(19|20)\d\d\b/g, "")
    .replace(/^[\s,.-]+|[\s,.]+$/g, "")
    .trim();
  return t || undefined;
}

export async function macosSource({ root }: SourceContext): Promise<SourceResult> {
  const result: SourceResult = { entries: [], problems: [] };
  const apps: string[] = [];
  for (const base of ["/Applications", "/System/Applications"]) {
    for (const d of await list(under(root, base))) {
      if (d.endsWith(".app")) apps.push(`${base}/${d}`);
      else if (await isDir(under(root, `${base}/${d}`))) {
        for (const e of await list(under(root, `${base}/${d}`))) if (e.endsWith(".app")) apps.push(`${base}/${d}/${e}`);
      }
    }
  }
  for (const app of apps) {
    const path = join(under(root, app), "Contents", "Info.plist");
    try {
      const bytes = await readBytes(path, 16 << 20);
      if (bytes === undefined) continue;
      const p = parsePlist(bytes);
      if (!p || typeof p !== "object" || Array.isArray(p) || p instanceof Uint8Array) {
        result.problems.push({ source: "macos-app", path, message: `${path}: not a readable property list` });
        continue;
      }
      const copyright = s(p.NSHumanReadableCopyright);
      const entry: InventoryEntry = {
        name:
          s(p.CFBundleName) ??
          s(p.CFBundleDisplayName) ??
          app
            .split("/")
            .pop()!
            .replace(/\.app$/, ""),
        source: "macos-app",
        installPath: app,
      };
      const version = s(p.CFBundleShortVersionString) ?? s(p.CFBundleVersion);
      const vendor = vendorFromCopyright(copyright);
      if (version) entry.version = version;
      if (vendor) entry.vendor = vendor;
      const extra: Record<string, string> = {};
      const id = s(p.CFBundleIdentifier);
      if (id) extra.identifier = id;
      if (copyright) extra.copyright = copyright;
      const exe = s(p.CFBundleExecutable);
      if (exe) extra.executable = `${app}/Contents/MacOS/${exe}`;
      if (Object.keys(extra).length) entry.extra = extra;
      result.entries.push(entry);
    } catch (e) {
      result.problems.push({ source: "macos-app", path, message: (e as Error).message });
    }
  }
  return result;
}
