/**
 * Hash reputation by k-anonymity: the agent sends only the first 20 bits (5 hex digits) of a
 * file's sha256 and receives every known hash under that prefix; it looks for its own hash
 * locally, so the server never learns which file was asked about. Answers are cached per prefix
 * for `ttlSeconds` (reputation.json in the state directory), so a prefix already asked is not
 * sent again until it expires.
 */
import { readFileSync } from "node:fs";
import type { AgentClient } from "./client.js";
import { writeJsonAtomic } from "./config.js";
import { ReputationResponse, type ReputationEntry } from "@vigil/protocol";

const MAX_PREFIXES = 100_000;

interface CacheFile {
  format: "vigil-reputation-cache/v1";
  prefixes: Record<string, { at: number; entries: ReputationEntry[] }>;
}

export function prefixOf(sha256: string): string {
  return sha256.slice(0, 5).toLowerCase();
}

export class ReputationCache {
  private data: CacheFile;
  private dirty = false;
  /** Prefixes actually sent to the server by this process (tests and status use it). */
  readonly asked: string[] = [];

  constructor(
    readonly file: string,
    readonly ttlSeconds: number,
    private readonly now: () => number = Date.now,
  ) {
    this.data = { format: "vigil-reputation-cache/v1", prefixes: {} };
    try {
      const d = JSON.parse(readFileSync(file, "utf8")) as CacheFile;
      if (d.format === "vigil-reputation-cache/v1" && d.prefixes && typeof d.prefixes === "object") this.data = d;
    } catch {
      /* no cache yet, or damaged: start empty */
    }
  }

  /** The cached entries of a prefix when still fresh. */
  get(prefix: string): ReputationEntry[] | undefined {
    const e = this.data.prefixes[prefix];
    if (!e || this.now() - e.at > this.ttlSeconds * 1000 || e.at > this.now() + 60_000) return undefined;
    return e.entries;
  }

  put(prefix: string, entries: ReputationEntry[]): void {
    this.data.prefixes[prefix] = { at: this.now(), entries };
    this.dirty = true;
  }

  size(): number {
    return Object.keys(this.data.prefixes).length;
  }

  save(): void {
    if (!this.dirty) return;
    const now = this.now();
    const live = Object.entries(this.data.prefixes).filter(([, v]) => now - v.at <= this.ttlSeconds * 1000);
    live.sort((a, b) => b[1].at - a[1].at);
    this.data.prefixes = Object.fromEntries(live.slice(0, MAX_PREFIXES));
    writeJsonAtomic(this.file, this.data, 0o600);
    this.dirty = false;
  }

  /**
   * The server's verdict on `sha256` (undefined: not known to the server). Asks the server only
   * when the prefix is not cached, or always with `fresh` (a detected file: its full hash leaves
   * in the detection anyway, and a false positive marked a minute ago must count); network errors
   * propagate (the caller decides to go on).
   */
  async lookup(client: AgentClient, sha256: string, fresh = false): Promise<ReputationEntry | undefined> {
    const prefix = prefixOf(sha256);
    let entries = fresh ? undefined : this.get(prefix);
    if (!entries) {
      const r = await client.json("GET", `api/v1/reputation/${prefix}`, ReputationResponse);
      if (r.prefix !== prefix) return undefined;
      // keep only entries that really are under the prefix (a confused server cannot poison others)
      entries = r.entries.filter((e) => e.sha256.startsWith(prefix));
      this.asked.push(prefix);
      this.put(prefix, entries);
    }
    return entries.find((e) => e.sha256 === sha256.toLowerCase());
  }
}
