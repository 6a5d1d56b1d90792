/**
 * The disk queue of events waiting for the server: every detection and scan summary is written
 * here first (one small JSON file each, written atomically) and removed only after the server
 * accepted the batch it was in, so events survive restarts and offline spells and are resent
 * with the same ids (the server drops duplicates). Bounded: past `maxEvents` the oldest scan
 * summaries go first, then the oldest detections, and the count of dropped events is kept.
 * Samples (file bytes, only when the policy allows) are queued beside them, at most `maxSamples`.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AgentError } from "./error.js";
import type { Detection, ScanSummary } from "@vigil/protocol";

export type SpoolKind = "detection" | "scan";
export type SpoolEvent<K extends SpoolKind> = K extends "detection" ? Detection : ScanSummary;

export interface SpooledSample {
  sha256: string;
  type: string;
  file: string;
}

const NAME = /^(\d{15})-(\d{6})-(detection|scan)-[0-9a-f]{8}\.json$/;
const SAMPLE = /^sample-([0-9a-f]{64})-([a-z]+)\.bin$/;

export class Spool {
  private counter = 0;
  private names: string[] | undefined;

  constructor(
    readonly dir: string,
    readonly maxEvents = 10_000,
    readonly maxSamples = 20,
  ) {}

  private ensure(): void {
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new AgentError("AGENT_CONFIG", `cannot create the spool directory ${this.dir}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  private all(): string[] {
    if (!this.names) {
      let list: string[] = [];
      try {
        list = readdirSync(this.dir);
      } catch {
        /* no spool yet */
      }
      this.names = list.filter((n) => NAME.test(n)).sort();
    }
    return this.names;
  }

  /** Queues one event; returns how many old events were dropped to make room. */
  add<K extends SpoolKind>(kind: K, event: SpoolEvent<K>): number {
    this.ensure();
    const names = this.all();
    let dropped = 0;
    while (names.length >= this.maxEvents) {
      let i = names.findIndex((n) => n.includes("-scan-"));
      if (i < 0) i = 0;
      this.unlink(names[i]!);
      names.splice(i, 1);
      dropped++;
    }
    const name = `${String(Date.now()).padStart(15, "0")}-${String(this.counter++ % 1e6).padStart(6, "0")}-${kind}-${randomBytes(4).toString("hex")}.json`;
    const tmp = join(this.dir, `.${name}.tmp`);
    writeFileSync(tmp, JSON.stringify(event), { mode: 0o600 });
    renameSync(tmp, join(this.dir, name));
    names.push(name);
    names.sort();
    return dropped;
  }

  /** The oldest `limit` events of a kind, with the file names to pass to remove(). */
  take<K extends SpoolKind>(kind: K, limit: number): { names: string[]; events: SpoolEvent<K>[] } {
    const out: { names: string[]; events: SpoolEvent<K>[] } = { names: [], events: [] };
    for (const n of this.all()) {
      if (out.names.length >= limit) break;
      if (NAME.exec(n)?.[3] !== kind) continue;
      try {
        out.events.push(JSON.parse(readFileSync(join(this.dir, n), "utf8")) as SpoolEvent<K>);
        out.names.push(n);
      } catch {
        this.remove([n]); // unreadable: it cannot be sent, and must not block the queue
      }
    }
    return out;
  }

  remove(names: string[]): void {
    const gone = new Set(names);
    for (const n of names) this.unlink(n);
    if (this.names) this.names = this.names.filter((n) => !gone.has(n));
  }

  private unlink(name: string): void {
    try {
      unlinkSync(join(this.dir, name));
    } catch {
      /* already gone */
    }
  }

  count(): { detection: number; scan: number; sample: number; total: number } {
    const names = this.all();
    const detection = names.filter((n) => n.includes("-detection-")).length;
    const sample = this.samples().length;
    return { detection, scan: names.length - detection, sample, total: names.length + sample };
  }

  /** Queues a sample's bytes; false when the sample queue is full or the sample is already queued. */
  addSample(sha256: string, type: string, bytes: Uint8Array): boolean {
    this.ensure();
    const list = this.samples();
    if (list.some((s) => s.sha256 === sha256) || list.length >= this.maxSamples) return false;
    const name = `sample-${sha256}-${type}.bin`;
    const tmp = join(this.dir, `.${name}.tmp`);
    writeFileSync(tmp, bytes, { mode: 0o600 });
    renameSync(tmp, join(this.dir, name));
    return true;
  }

  samples(): SpooledSample[] {
    let list: string[] = [];
    try {
      list = readdirSync(this.dir);
    } catch {
      return [];
    }
    return list.flatMap((n) => {
      const m = SAMPLE.exec(n);
      return m ? [{ sha256: m[1]!, type: m[2]!, file: join(this.dir, n) }] : [];
    });
  }

  removeSample(s: SpooledSample): void {
    try {
      unlinkSync(s.file);
    } catch {
      /* gone */
    }
  }
}
