/**
 * The scan cache: files found clean and fully scanned are remembered by device, inode, size,
 * mtime and ctime, together with the rules version and limits they were scanned with. A file
 * is skipped on the next run only when all of those are unchanged, so a rules update (a new
 * version) rescans everything and a cached entry can never hide a new detection. Files with
 * detections, errors or limits hit are never cached, and neither are empty files (scanning
 * one costs less than remembering it).
 *
 * On disk: an append-only binary file. A 48-byte header (magic, format, SHA-256 of the
 * version string), then 44-byte records, each `crc32 u32 | dev ino size mtimeMs ctimeMs f64`
 * (little-endian; size -1 forgets the file). A run appends only what changed, in batches,
 * so a warm run writes nothing. A kill -9 can leave at most a torn last batch: a record that
 * is cut short or fails its CRC ends the reading there and is cut off on the next append.
 * When superseded records outnumber live ones the file is rewritten compactly (temporary
 * file + rename). A different version starts the file afresh.
 */
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  ftruncateSync,
  writeSync,
  writeFileSync,
} from "node:fs";
import { createHash } from "node:crypto";
import { dirname } from "node:path";
import { crc32 } from "node:zlib";
import type { FileResult } from "./types.js";

const MAGIC = Buffer.from("VIGILSC\0", "latin1");
const FORMAT = 1;
const HEADER = 48; // magic 8, format u32, reserved u32, sha-256 32, reserved 4
const RECORD = 44;
const BATCH = 4096; // records per append

interface Entry {
  dev: number;
  s: number;
  m: number;
  c: number;
}

export class ScanCache {
  /** inode -> entry (the device is checked on lookup; two devices sharing an inode only miss). */
  private entries = new Map<number, Entry>();
  private pending: Buffer = Buffer.allocUnsafe(RECORD * 64);
  private pendingCount = 0;
  /** Bytes of the file that hold valid records (a torn tail after them is cut on append). */
  private validLength = 0;
  private records = 0;
  private fresh = true;
  private readonly versionHash: Buffer;
  hits = 0;

  /** `version` identifies the rules and settings (e.g. rules version + limits). */
  constructor(
    readonly file: string,
    readonly version: string,
  ) {
    this.versionHash = createHash("sha256").update(version).digest();
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch {
      return; // no cache yet (or unreadable: it only ever saves work)
    }
    if (
      data.length < HEADER ||
      !data.subarray(0, 8).equals(MAGIC) ||
      data.readUInt32LE(8) !== FORMAT ||
      !data.subarray(16, 48).equals(this.versionHash)
    )
      return;
    this.fresh = false;
    let p = HEADER;
    for (; p + RECORD <= data.length; p += RECORD) {
      if (crc32(data.subarray(p + 4, p + RECORD)) !== data.readUInt32LE(p)) break; // torn or damaged: stop here
      const dev = data.readDoubleLE(p + 4);
      const ino = data.readDoubleLE(p + 12);
      const s = data.readDoubleLE(p + 20);
      if (s < 0) this.entries.delete(ino);
      else this.entries.set(ino, { dev, s, m: data.readDoubleLE(p + 28), c: data.readDoubleLE(p + 36) });
      this.records++;
    }
    this.validLength = p;
  }

  get size(): number {
    return this.entries.size;
  }

  /** True when this file (by fstat identity) was found clean with the same rules. */
  isClean(st: { dev: number; ino: number; size: number; mtimeMs: number; ctimeMs: number }): boolean {
    const e = this.entries.get(st.ino);
    const hit = e !== undefined && e.dev === st.dev && e.s === st.size && e.m === st.mtimeMs && e.c === st.ctimeMs;
    if (hit) this.hits++;
    return hit;
  }

  record(r: FileResult): void {
    const st = r.stat;
    if (!st) return;
    const e = this.entries.get(st.ino);
    const known = e !== undefined && e.dev === st.dev;
    if (r.detections.length || r.errors.length || r.incomplete.length || st.size === 0) {
      if (known) {
        this.entries.delete(st.ino);
        this.append(st.dev, st.ino, -1, 0, 0);
      }
      return;
    }
    if (known && e.s === st.size && e.m === st.mtimeMs && e.c === st.ctimeMs) return;
    this.entries.set(st.ino, { dev: st.dev, s: st.size, m: st.mtimeMs, c: st.ctimeMs });
    this.append(st.dev, st.ino, st.size, st.mtimeMs, st.ctimeMs);
  }

  private append(dev: number, ino: number, s: number, m: number, c: number): void {
    if ((this.pendingCount + 1) * RECORD > this.pending.length) {
      const next = Buffer.allocUnsafe(this.pending.length * 2);
      this.pending.copy(next, 0, 0, this.pendingCount * RECORD);
      this.pending = next;
    }
    const p = this.pendingCount * RECORD;
    const b = this.pending;
    b.writeDoubleLE(dev, p + 4);
    b.writeDoubleLE(ino, p + 12);
    b.writeDoubleLE(s, p + 20);
    b.writeDoubleLE(m, p + 28);
    b.writeDoubleLE(c, p + 36);
    b.writeUInt32LE(crc32(b.subarray(p + 4, p + RECORD)), p);
    this.pendingCount++;
    if (this.pendingCount >= BATCH) {
      try {
        this.save();
      } catch {
        /* kept in memory; save() at the end tries again */
      }
    }
  }

  /** Writes what changed since the last save (appending, or rewriting a mostly stale file). */
  save(): void {
    if (!this.pendingCount) return;
    mkdirSync(dirname(this.file), { recursive: true });
    if (this.fresh || this.records + this.pendingCount > 2 * this.entries.size + 1024) {
      this.rewrite();
      return;
    }
    const fd = openSync(this.file, "r+");
    try {
      ftruncateSync(fd, this.validLength); // drop a torn tail left by an earlier kill
      const n = this.pendingCount * RECORD;
      let off = 0;
      while (off < n) off += writeSync(fd, this.pending, off, n - off, this.validLength + off);
      this.validLength += n;
      this.records += this.pendingCount;
      this.pendingCount = 0;
    } finally {
      closeSync(fd);
    }
  }

  /** The live entries only, into a temporary file renamed over the old one. */
  private rewrite(): void {
    const out = Buffer.alloc(HEADER + this.entries.size * RECORD);
    MAGIC.copy(out, 0);
    out.writeUInt32LE(FORMAT, 8);
    this.versionHash.copy(out, 16);
    let p = HEADER;
    for (const [ino, e] of this.entries) {
      out.writeDoubleLE(e.dev, p + 4);
      out.writeDoubleLE(ino, p + 12);
      out.writeDoubleLE(e.s, p + 20);
      out.writeDoubleLE(e.m, p + 28);
      out.writeDoubleLE(e.c, p + 36);
      out.writeUInt32LE(crc32(out.subarray(p + 4, p + RECORD)), p);
      p += RECORD;
    }
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, out);
    const fd = openSync(tmp, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
    this.fresh = false;
    this.validLength = out.length;
    this.records = this.entries.size;
    this.pendingCount = 0;
  }
}
