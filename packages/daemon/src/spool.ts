/**
 * A private temporary file that one incoming stream (an INSTREAM, an HTTP body or multipart
 * part) is written to once it is too big to keep in memory. Writes are asynchronous and
 * queued; the bytes waiting to be written are reported to an accounting callback (so they
 * count against the daemon's memory budget) and `congested` tells the caller to stop reading
 * its socket until `onDrain` fires, so memory per stream stays bounded whatever the client
 * sends. The file is created exclusively with mode 0600 and removed by `discard` (any time,
 * even with a write in progress) or by the caller after the scan (`remove`).
 */
import { closeSync, openSync, unlinkSync, writev } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";

/** Bytes waiting to be written above which the writer asks its caller to pause reading. */
export const SPOOL_HIGH_WATER = 256 * 1024;

export class SpoolWriter {
  readonly path: string;
  private fd: number;
  private queue: Buffer[] = [];
  private queued = 0;
  private inFlight = 0;
  private closed = false;
  private discarded = false;
  private flushed?: { resolve: () => void; reject: (e: Error) => void };
  /** The first write error (ENOSPC, EIO...); later writes are dropped. */
  error?: Error;
  /** Bytes written to the file so far. */
  written = 0;
  /** Called when the queue falls below the high-water mark again. */
  onDrain?: () => void;

  /**
   * Creates the file now (synchronously, so a failure is known at once and throws).
   * `account(delta)` is told of bytes entering (+) and leaving (-) the write queue.
   */
  constructor(
    dir: string,
    private readonly account: (delta: number) => void = () => {},
  ) {
    this.path = join(dir, `vigil-stream-${randomBytes(8).toString("hex")}`);
    this.fd = openSync(this.path, "wx", 0o600);
  }

  /** Bytes accepted but not yet on disk. */
  get pending(): number {
    return this.queued + this.inFlight;
  }

  /** True while the caller should not feed more data (resume on onDrain). */
  get congested(): boolean {
    return this.pending >= SPOOL_HIGH_WATER;
  }

  /** Queues bytes; the buffer must not be modified afterwards. */
  write(b: Buffer | Uint8Array): void {
    if (this.closed || this.error || !b.length) return;
    const buf = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    this.queue.push(buf);
    this.queued += buf.length;
    this.account(buf.length);
    this.pump();
  }

  private pump(): void {
    if (this.inFlight || !this.queue.length || this.discarded) return;
    const batch = this.queue;
    this.queue = [];
    this.inFlight = this.queued;
    this.queued = 0;
    const n = this.inFlight;
    writev(this.fd, batch, (err, wrote) => {
      this.inFlight = 0;
      this.account(-n);
      if (this.discarded) {
        this.cleanup();
        return;
      }
      if (err || wrote !== n) {
        this.error ??= err ?? new Error(`short write to ${this.path} (${wrote} of ${n} bytes)`);
        this.account(-this.queued);
        this.queue = [];
        this.queued = 0;
      } else this.written += n;
      if (this.queue.length) this.pump();
      else if (this.closed) this.settle();
      if (!this.congested) this.onDrain?.();
    });
  }

  /** No more writes: resolves once everything is on disk and the file is closed. */
  end(): Promise<void> {
    this.closed = true;
    return new Promise<void>((resolve, reject) => {
      this.flushed = { resolve, reject };
      if (!this.inFlight && !this.queue.length) this.settle();
    });
  }

  private settle(): void {
    const f = this.flushed;
    if (!f || this.discarded) return;
    this.flushed = undefined;
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
    this.fd = -1;
    if (this.error) {
      this.remove();
      f.reject(this.error);
    } else f.resolve();
  }

  /** Abandons the stream: queued bytes are dropped and the file removed (after a write in progress). */
  discard(): void {
    if (this.discarded) return;
    this.discarded = true;
    this.closed = true;
    this.account(-this.queued);
    this.queue = [];
    this.queued = 0;
    const f = this.flushed;
    this.flushed = undefined;
    if (!this.inFlight) this.cleanup();
    f?.reject(new Error("stream abandoned"));
  }

  private cleanup(): void {
    if (this.fd >= 0) {
      try {
        closeSync(this.fd);
      } catch {
        /* already closed */
      }
      this.fd = -1;
    }
    this.remove();
  }

  /** Removes the file (after its scan); safe to call more than once. */
  remove(): void {
    try {
      unlinkSync(this.path);
    } catch {
      /* already gone */
    }
  }
}
