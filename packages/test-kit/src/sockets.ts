/**
 * Socket and file helpers for protocol tests: `talk` plays a script of writes and waits against a
 * TCP port or unix socket and collects the reply; `chunked` frames bytes as clamd INSTREAM chunks.
 */
import { connect, type Socket } from "node:net";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export function scratchDir(): { dir: string; file(name: string, data: string | Uint8Array): string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), "vigil-daemon-files-"));
  return {
    dir,
    file(name, data) {
      const p = join(dir, name);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, data);
      return p;
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Exchange {
  /** Everything the server sent until it closed (or the timeout). */
  data: Buffer;
  text: string;
  /** How the connection ended: "end" (FIN), "reset" (ECONNRESET/EPIPE), "timeout" (still open). */
  ended: "end" | "reset" | "timeout";
  ms: number;
}

export type Step = Buffer | string | { wait: number } | { end: true };

/** Connects, performs the steps (writes, pauses, half-close) and collects the reply. */
export function talk(target: number | string, steps: Step[], timeoutMs = 5000): Promise<Exchange> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s: Socket = typeof target === "number" ? connect(target, "127.0.0.1") : connect(target);
    const chunks: Buffer[] = [];
    let settled = false;
    const done = (ended: Exchange["ended"]) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      const data = Buffer.concat(chunks);
      resolve({ data, text: data.toString("latin1"), ended, ms: Date.now() - t0 });
    };
    const timer = setTimeout(() => done("timeout"), timeoutMs);
    s.on("data", (b) => chunks.push(b));
    s.on("end", () => done("end"));
    s.on("error", () => done("reset"));
    s.on("close", () => done("end"));
    s.once("connect", async () => {
      for (const st of steps) {
        if (settled || s.destroyed) return;
        if (typeof st === "string" || Buffer.isBuffer(st)) s.write(st);
        else if ("wait" in st) await new Promise((r) => setTimeout(r, st.wait));
        else s.end();
      }
    });
  });
}

/** INSTREAM framing: chunks of `size` bytes then the zero-length terminator. */
export function chunked(data: Buffer | string, size = 1 << 16, terminate = true): Buffer {
  const b = Buffer.isBuffer(data) ? data : Buffer.from(data, "latin1");
  const parts: Buffer[] = [];
  for (let at = 0; at < b.length; at += size) {
    const c = b.subarray(at, at + size);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(c.length);
    parts.push(len, c);
  }
  if (terminate) parts.push(Buffer.alloc(4));
  return Buffer.concat(parts);
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}
