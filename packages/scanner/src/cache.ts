/**
 * The scan cache: files found clean and fully scanned are remembered by device, inode, size,
 * mtime and ctime, together with the rules version and limits they were scanned with. A file
 * is skipped on the next run only when all of those are unchanged, so a rules update (a new
 * version) rescans everything and a cached entry can never hide a new detection. Files with
 * detections, errors or limits hit are never cached. Stored as one JSON file, written
 * atomically (temporary file + rename).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { FileResult } from "./types.js";

interface Entry { s: number; m: number; c: number }

interface CacheFile { format: "vigil-scan-cache/1"; version: string; entries: Record<string, Entry> }

export class ScanCache {
  private entries = new Map<string, Entry>();
  private dirty = false;
  hits = 0;

  /** `version` identifies the rules and settings (e.g. rules version + limits). */
  constructor(readonly file: string, readonly version: string) {
    try {
      const data = JSON.parse(readFileSync(file, "utf8")) as CacheFile;
      if (data?.format === "vigil-scan-cache/1" && data.version === version && data.entries && typeof data.entries === "object") {
        for (const [k, e] of Object.entries(data.entries)) {
          if (typeof e?.s === "number" && typeof e.m === "number" && typeof e.c === "number") this.entries.set(k, e);
        }
      }
    } catch {
      // missing or corrupt cache: start empty (it only ever saves work)
    }
  }

  get size(): number {
    return this.entries.size;
  }

  /** True when this file (by fstat identity) was found clean with the same rules. */
  isClean(st: { dev: number; ino: number; size: number; mtimeMs: number; ctimeMs: number }): boolean {
    const e = this.entries.get(`${st.dev}:${st.ino}`);
    const hit = e !== undefined && e.s === st.size && e.m === st.mtimeMs && e.c === st.ctimeMs;
    if (hit) this.hits++;
    return hit;
  }

  record(r: FileResult): void {
    if (!r.stat) return;
    const key = `${r.stat.dev}:${r.stat.ino}`;
    if (r.detections.length || r.errors.length || r.incomplete.length) {
      if (this.entries.delete(key)) this.dirty = true;
      return;
    }
    this.entries.set(key, { s: r.stat.size, m: r.stat.mtimeMs, c: r.stat.ctimeMs });
    this.dirty = true;
  }

  save(): void {
    if (!this.dirty) return;
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    const data: CacheFile = { format: "vigil-scan-cache/1", version: this.version, entries: Object.fromEntries(this.entries) };
    writeFileSync(tmp, JSON.stringify(data));
    renameSync(tmp, this.file);
    this.dirty = false;
  }
}
