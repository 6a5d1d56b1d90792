/**
 * The outbound ledger: one JSON line per request the agent sends, written BEFORE the request
 * leaves, and one "result" line when it finishes (status or error). Every line is a link of a
 * hash chain: `hash = sha256(prev + canonicalJson(line without hash))`, `prev` being the previous
 * line's hash (64 zeros for the first). A small head file (`ledger.head`, replaced atomically
 * after each append) records the number of lines and the last hash, so cutting lines off the
 * end is detected too; the server keeps its own copy of the head from heartbeats.
 *
 * Requests and results are separate links (not a request line rewritten later) so that the file
 * is append-only: a line, once written, never changes.
 */
import { createHash } from "node:crypto";
import {
  appendFileSync,
  closeSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { AgentError } from "./error.js";

export const GENESIS = "0".repeat(64);

export interface LedgerRequestLine {
  seq: number;
  type: "request";
  /** ISO time the line was written (just before sending). */
  time: string;
  method: string;
  url: string;
  host: string;
  /** Body bytes sent (0 for a GET). */
  bytes: number;
  /** sha256 (hex) of the body bytes exactly as sent (the empty-string hash for no body). */
  bodySha256: string;
  prev: string;
  hash: string;
}

export interface LedgerResultLine {
  seq: number;
  type: "result";
  time: string;
  /** seq of the request line this result belongs to. */
  request: number;
  /** HTTP status, or null when no answer came (refused, timed out). */
  status: number | null;
  error?: string;
  /** Response body bytes read. */
  received: number;
  prev: string;
  hash: string;
}

export type LedgerLine = LedgerRequestLine | LedgerResultLine;

/** A request with its result folded in, as `vigil ledger` lists it. */
export interface LedgerRecord {
  seq: number;
  time: string;
  method: string;
  url: string;
  host: string;
  bytes: number;
  bodySha256: string;
  status: number | null | undefined;
  error?: string;
  hash: string;
}

export interface LedgerHead {
  entries: number;
  head: string;
}

export interface VerifyResult {
  ok: boolean;
  /** Lines that verified before the first problem (all of them when ok). */
  entries: number;
  /** Hash of the last good line (GENESIS when none). */
  head: string;
  requests: number;
  /** The first problem: 1-based line number (0 for a problem with the head file) and why. */
  problem?: { line: number; reason: string };
  /** Not failures, worth saying (e.g. a line written just before a crash, after the recorded head). */
  notes: string[];
}

/** JSON with object keys sorted at every level and no spaces: the bytes the chain hashes. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== "object") {
    if (typeof v === "number" && !Number.isFinite(v)) throw new TypeError("canonicalJson: non-finite number");
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(",")}}`;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** The hash a line must carry: over prev + the canonical JSON of every field but `hash`. */
export function lineHash(line: Omit<LedgerLine, "hash"> & { hash?: string }): string {
  const { hash: _h, ...rest } = line;
  return sha256Hex(line.prev + canonicalJson(rest));
}

export class Ledger {
  readonly file: string;
  readonly headFile: string;
  private last: LedgerHead | undefined;

  constructor(readonly dir: string) {
    this.file = join(dir, "ledger.jsonl");
    this.headFile = join(dir, "ledger.head");
  }

  /** The recorded head (count and last hash), from the head file. */
  readHead(): LedgerHead | undefined {
    let text: string;
    try {
      text = readFileSync(this.headFile, "utf8");
    } catch {
      return undefined;
    }
    try {
      const h = JSON.parse(text) as LedgerHead;
      if (!Number.isSafeInteger(h.entries) || typeof h.head !== "string") throw new Error("bad fields");
      return { entries: h.entries, head: h.head };
    } catch {
      throw new AgentError("LEDGER_BROKEN", `${this.headFile} is damaged; run \`vigil ledger verify\``);
    }
  }

  /**
   * Finds where to append: the last complete line, checked against the head file. A line
   * written just before a crash (one past the head) is adopted; a torn last line past the head
   * (a crash in the middle of a write) is cut off. Anything else (lines missing, edited tail, no
   * head file for a non-empty ledger) refuses: the agent does not write on top of a broken chain.
   */
  private open(): LedgerHead {
    if (this.last) return this.last;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const head = this.readHead();
    let fd: number;
    try {
      fd = openSync(this.file, "a+", 0o600);
    } catch (err) {
      throw new AgentError("LEDGER_BROKEN", `cannot open the ledger ${this.file}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    try {
      const size = fstatSync(fd).size;
      const tailLen = Math.min(size, 256 * 1024);
      const buf = Buffer.alloc(tailLen);
      readSync(fd, buf, 0, tailLen, size - tailLen);
      const text = buf.toString("utf8");
      const end = text.lastIndexOf("\n");
      const torn = text.length - (end + 1);
      let lastLine: LedgerLine | undefined;
      if (end >= 0) {
        const start = text.lastIndexOf("\n", end - 1) + 1;
        try {
          lastLine = JSON.parse(text.slice(start, end)) as LedgerLine;
        } catch {
          throw this.broken("its last line is not valid JSON");
        }
      } else if (size > 0 && size === tailLen) {
        // only a torn first line: nothing was committed
        lastLine = undefined;
      } else if (size > 0) {
        throw this.broken("its last line is longer than 256 KiB");
      }
      const found: LedgerHead = lastLine
        ? { entries: lastLine.seq, head: lastLine.hash }
        : { entries: 0, head: GENESIS };
      if (!head) {
        if (found.entries > 0)
          throw this.broken("the head file ledger.head is missing, so truncation cannot be ruled out");
      } else if (found.entries === head.entries + 1 && lastLine?.prev === head.head) {
        // a crash between writing the line and the head file
      } else if (found.entries !== head.entries || found.head !== head.head) {
        throw this.broken(
          `the head file records ${head.entries} lines ending in ${head.head.slice(0, 12)}, the file ends at line ${found.entries}`,
        );
      }
      if (torn > 0) ftruncateSync(fd, size - torn);
      this.last = found;
      this.writeHead(found);
      return found;
    } finally {
      closeSync(fd);
    }
  }

  private broken(why: string): AgentError {
    return new AgentError(
      "LEDGER_BROKEN",
      `the outbound ledger ${this.file} does not verify (${why}); the agent will not send anything on top of it. Inspect it with \`vigil ledger verify\`, keep a copy, then move ledger.jsonl and ledger.head aside to start a new ledger`,
    );
  }

  private writeHead(h: LedgerHead): void {
    const tmp = `${this.headFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(h) + "\n", { mode: 0o600 });
    renameSync(tmp, this.headFile);
  }

  private append<T extends LedgerLine>(fields: Omit<T, "seq" | "prev" | "hash">): T {
    const last = this.open();
    const line = { seq: last.entries + 1, ...fields, prev: last.head } as Omit<T, "hash">;
    const full = { ...line, hash: lineHash(line as Omit<LedgerLine, "hash">) } as T;
    try {
      appendFileSync(this.file, JSON.stringify(full) + "\n", { mode: 0o600 });
    } catch (err) {
      throw new AgentError(
        "LEDGER_BROKEN",
        `cannot write the ledger ${this.file}: ${(err as Error).message}; nothing was sent`,
        { cause: err },
      );
    }
    this.last = { entries: full.seq, head: full.hash };
    this.writeHead(this.last);
    return full;
  }

  /** Records a request about to be sent. Throws (and the request must not be sent) if the ledger cannot be written. */
  recordRequest(method: string, url: string, body: Uint8Array | undefined): LedgerRequestLine {
    const u = new URL(url);
    const bytes = body ?? new Uint8Array(0);
    return this.append<LedgerRequestLine>({
      type: "request",
      time: new Date().toISOString(),
      method: method.toUpperCase(),
      url: u.href,
      host: u.host,
      bytes: bytes.length,
      bodySha256: sha256Hex(bytes),
    });
  }

  recordResult(request: number, status: number | null, received: number, error?: string): LedgerResultLine {
    return this.append<LedgerResultLine>({
      type: "result",
      time: new Date().toISOString(),
      request,
      status,
      received,
      ...(error !== undefined ? { error: error.slice(0, 500) } : {}),
    });
  }

  /** Lines and last hash, as the heartbeat reports them. */
  head(): LedgerHead {
    return { ...this.open() };
  }

  /** Every line as written (no verification; see verify()). Malformed lines are skipped. */
  lines(): LedgerLine[] {
    let text: string;
    try {
      text = readFileSync(this.file, "utf8");
    } catch {
      return [];
    }
    const out: LedgerLine[] = [];
    for (const l of text.split("\n")) {
      if (!l) continue;
      try {
        out.push(JSON.parse(l) as LedgerLine);
      } catch {
        /* shown as broken by verify */
      }
    }
    return out;
  }

  /** Requests with their results folded in, oldest first. */
  records(): LedgerRecord[] {
    const byReq = new Map<number, LedgerRecord>();
    const out: LedgerRecord[] = [];
    for (const l of this.lines()) {
      if (l.type === "request") {
        const r: LedgerRecord = {
          seq: l.seq,
          time: l.time,
          method: l.method,
          url: l.url,
          host: l.host,
          bytes: l.bytes,
          bodySha256: l.bodySha256,
          status: undefined,
          hash: l.hash,
        };
        byReq.set(l.seq, r);
        out.push(r);
      } else if (l.type === "result") {
        const r = byReq.get(l.request);
        if (r) {
          r.status = l.status;
          if (l.error !== undefined) r.error = l.error;
        }
      }
    }
    return out;
  }

  /** Re-computes the whole chain and checks it against the head file. */
  verify(): VerifyResult {
    const notes: string[] = [];
    let text: string;
    try {
      text = readFileSync(this.file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT")
        throw new AgentError("LEDGER_BROKEN", `cannot read ${this.file}: ${(err as Error).message}`, { cause: err });
      text = "";
    }
    const res = (
      entries: number,
      head: string,
      requests: number,
      problem?: { line: number; reason: string },
    ): VerifyResult => ({ ok: !problem, entries, head, requests, ...(problem ? { problem } : {}), notes });
    const parts = text.split("\n");
    const tornTail = parts.pop()!; // "" when the file ends with a newline
    let prev = GENESIS;
    let requests = 0;
    const requestSeqs = new Set<number>();
    for (let i = 0; i < parts.length; i++) {
      const n = i + 1;
      let line: LedgerLine;
      try {
        line = JSON.parse(parts[i]!) as LedgerLine;
        if (typeof line !== "object" || line === null) throw new Error("not an object");
      } catch {
        return res(i, prev, requests, { line: n, reason: "not valid JSON (edited or cut)" });
      }
      if (line.seq !== n)
        return res(i, prev, requests, {
          line: n,
          reason: `carries seq ${String(line.seq)}, expected ${n} (a line was deleted, inserted or moved)`,
        });
      if (line.prev !== prev)
        return res(i, prev, requests, {
          line: n,
          reason: "its prev is not the hash of the line before (lines deleted or reordered)",
        });
      if (lineHash(line) !== line.hash)
        return res(i, prev, requests, { line: n, reason: "its hash does not match its content (the line was edited)" });
      if (line.type === "request") {
        requests++;
        requestSeqs.add(line.seq);
      } else if (line.type === "result") {
        if (!requestSeqs.has(line.request))
          return res(i, prev, requests, {
            line: n,
            reason: `a result for request ${line.request}, which is not an earlier request line`,
          });
      } else
        return res(i, prev, requests, {
          line: n,
          reason: `unknown line type ${JSON.stringify((line as { type?: unknown }).type)}`,
        });
      prev = line.hash;
    }
    const count = parts.length;
    let headRec: LedgerHead | undefined;
    try {
      headRec = this.readHead();
    } catch (err) {
      return res(count, prev, requests, { line: 0, reason: (err as Error).message });
    }
    if (tornTail) {
      // a torn final line is a crash mid-write only if the head does not count it
      if (!headRec || headRec.entries > count)
        return res(count, prev, requests, { line: count + 1, reason: "incomplete last line (the file was cut)" });
      notes.push(
        `line ${count + 1} is incomplete and past the recorded head (a crash while writing it); the agent drops it on its next start`,
      );
    }
    if (!headRec) {
      if (count > 0)
        return res(count, prev, requests, {
          line: 0,
          reason: "the head file ledger.head is missing, so truncation cannot be ruled out",
        });
      return res(0, GENESIS, 0);
    }
    if (headRec.entries > count) {
      return res(count, prev, requests, {
        line: count + 1,
        reason: `the head file records ${headRec.entries} lines, the ledger has ${count}: lines were cut off the end`,
      });
    }
    const atHead = headRec.entries === 0 ? GENESIS : (JSON.parse(parts[headRec.entries - 1]!) as LedgerLine).hash;
    if (atHead !== headRec.head)
      return res(count, prev, requests, {
        line: headRec.entries,
        reason: "the head file's hash is not this line's hash (the ledger was rewritten)",
      });
    if (count === headRec.entries + 1)
      notes.push(
        `line ${count} was written after the recorded head (a crash before the head file was updated); the agent adopts it on its next start`,
      );
    else if (count > headRec.entries + 1)
      return res(count, prev, requests, {
        line: headRec.entries + 1,
        reason: `${count - headRec.entries} lines follow the recorded head (added by something other than the agent)`,
      });
    return res(count, prev, requests);
  }
}
