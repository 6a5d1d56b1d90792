/**
 * The clamd protocol server (clamd 1.4's commands and replies) over TCP and unix sockets.
 *
 * Per connection: bytes arrive in a ByteQueue; a command is cut off by its framing (`z...\0`,
 * `n...\n`, or a bare command ending at `\n` or at the end of the packet); INSTREAM switches
 * to reading `<uint32 big-endian length><bytes>` chunks up to a zero-length chunk, bounded by
 * StreamMaxLength; a stream is kept in memory up to the Service's spoolThreshold (and while
 * the daemon-wide memoryBudget allows), past it the bytes go to a spool file, with the socket
 * paused while the file's writes lag behind (or the budget is full), so memory per connection
 * stays bounded; the bytes go to the Service's scanner and the reply goes back in the
 * command's framing. Outside IDSESSION the connection is closed after the reply; inside it,
 * replies are numbered `N: ...` and may come out of order. Commands are taken in a loop (no
 * recursion a client controls), and replies are written with back-pressure: while the client
 * does not read its replies, its socket is not read either, so however many commands it
 * pipelines, a connection holds a bounded amount of memory. Timeouts (CommandReadTimeout,
 * ReadTimeout, IdleTimeout) and limits (StreamMaxLength, MaxQueue, connections) always answer
 * with an error line before closing, and closing is a FIN after the reply with the rest of the
 * client's input read and discarded (for a while), so the client sees the reply instead of a
 * reset.
 */
import { createServer, type Server, type Socket } from "node:net";
import { isAbsolute } from "node:path";
import { lstat, unlink } from "node:fs/promises";
import type { Service } from "./service.js";
import { SpoolWriter } from "./spool.js";
import { BusyError, CLAMD_VERSION, replyLines } from "./service.js";
import { fsPath, pathFromBytes, pathToBytes, type FileResult } from "@vigil/scanner";
import { createHash } from "node:crypto";
import { chmodSync, chownSync, createReadStream } from "node:fs";
import type { Scanned } from "./log.js";

/**
 * Sees each scan result the clamd front end replies with (the daemon's log): `where` is the
 * path, or the stream as clamd names it (`instream(local)`, `instream(IP@PORT)`); `top` is
 * the md5 and size of the scanned object, given when `ClamdServer.wantTop` and a detection
 * was found in the object itself.
 */
export type ClamdObserver = (where: string, r: FileResult, allMatch: boolean, top?: Scanned) => void;

function md5Of(bytes: Uint8Array): Scanned {
  return { md5: createHash("md5").update(bytes).digest("hex"), size: bytes.length };
}

async function md5OfFile(path: string): Promise<Scanned | undefined> {
  try {
    const h = createHash("md5");
    let size = 0;
    for await (const c of createReadStream(fsPath(path))) {
      h.update(c as Buffer);
      size += (c as Buffer).length;
    }
    return { md5: h.digest("hex"), size };
  } catch {
    return undefined;
  }
}

const topDetection = (r: FileResult) => r.detections.some((d) => d.path === r.path);

export interface ClamdLimits {
  /** Largest INSTREAM in bytes (clamd StreamMaxLength; default 25 MiB as Debian ships it). */
  streamMaxLength: number;
  /** ms to wait for INSTREAM data (clamd ReadTimeout, default 120 s). */
  readTimeout: number;
  /** ms a session may sit idle between commands (clamd IdleTimeout, default 30 s). */
  idleTimeout: number;
  /** ms from connecting to a complete first command (clamd CommandReadTimeout, default 30 s). */
  commandReadTimeout: number;
  /** Open connections; more are answered with an error and closed. */
  maxConnections: number;
  /** Requests in flight per IDSESSION before its input is paused. */
  maxSessionQueue: number;
  /**
   * Commands turned off in clamd.conf (EnableShutdownCommand, EnableReloadCommand,
   * EnableVersionCommand, EnableStatsCommand no: `COMMAND UNAVAILABLE`; AllowAllMatchScan no:
   * `PATH: ALLMATCHSCAN command disabled by clamd configuration. ERROR`), as clamd answers.
   */
  disabledCommands: string[];
}

export const DEFAULT_CLAMD_LIMITS: ClamdLimits = {
  streamMaxLength: 25 * 1024 * 1024,
  readTimeout: 120_000,
  idleTimeout: 30_000,
  commandReadTimeout: 30_000,
  maxConnections: 1024,
  maxSessionQueue: 16,
  disabledCommands: [],
};

/** Longest command line accepted (clamd reads commands into a small buffer too). */
const MAX_COMMAND = 1024 + 4096;
/** After the last reply, unread client input is discarded for this long, then the socket closed. */
const LINGER_MS = 5000;

export const VERSION_COMMANDS =
  "SCAN QUIT RELOAD PING CONTSCAN VERSIONCOMMANDS VERSION END SHUTDOWN MULTISCAN FILDES STATS IDSESSION INSTREAM DETSTATSCLEAR DETSTATS ALLMATCHSCAN";
const OLD_STYLE = new Set(["SCAN", "QUIT", "RELOAD", "PING", "CONTSCAN", "VERSION", "SHUTDOWN", "MULTISCAN", "FILDES"]);
const IN_SESSION = new Set(["SCAN", "INSTREAM", "FILDES", "VERSION", "VERSIONCOMMANDS", "PING", "STATS", "END"]);
const WITH_PATH = new Set(["SCAN", "CONTSCAN", "MULTISCAN", "ALLMATCHSCAN"]);

/** A queue of received buffers read without copying them into one. */
class ByteQueue {
  private bufs: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    if (b.length) {
      this.bufs.push(b);
      this.length += b.length;
    }
  }
  /** Index of `byte` within the first `limit` bytes, or -1. */
  indexOf(byte: number, limit: number): number {
    let base = 0;
    for (const b of this.bufs) {
      const i = b.subarray(0, Math.max(0, limit - base)).indexOf(byte);
      if (i >= 0) return base + i;
      base += b.length;
      if (base >= limit) break;
    }
    return -1;
  }
  byteAt(i: number): number {
    for (const b of this.bufs) {
      if (i < b.length) return b[i]!;
      i -= b.length;
    }
    return -1;
  }
  /** Removes and returns the first n bytes as slices. */
  take(n: number): Buffer[] {
    const out: Buffer[] = [];
    this.length -= n;
    while (n > 0) {
      const b = this.bufs[0]!;
      if (b.length <= n) {
        out.push(b);
        this.bufs.shift();
        n -= b.length;
      } else {
        out.push(b.subarray(0, n));
        this.bufs[0] = b.subarray(n);
        n = 0;
      }
    }
    return out;
  }
  takeBuffer(n: number): Buffer {
    const parts = this.take(n);
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
  }
  clear(): void {
    this.bufs = [];
    this.length = 0;
  }
}

/** Pieces shorter than this are copied together (see Coalescer). */
const SMALL_PIECE = 4096;
const COALESCE_SIZE = 64 * 1024;

/**
 * Copies small pieces of a stream into shared 64 KiB buffers. A client sending 1-byte INSTREAM
 * chunks would otherwise make one Buffer object (about 100 bytes of heap) per byte received,
 * which no byte-counting budget sees; with this, objects per stream stay below bytes / 4 KiB.
 */
class Coalescer {
  private buf?: Buffer;
  private used = 0;
  /** Returns the pieces to keep, in order: large ones as they are, small ones copied together. */
  add(parts: Buffer[]): Buffer[] {
    const out: Buffer[] = [];
    for (const p of parts) {
      if (p.length >= SMALL_PIECE) {
        this.flushInto(out);
        out.push(p);
        continue;
      }
      if (this.buf && this.used + p.length > this.buf.length) this.flushInto(out);
      this.buf ??= Buffer.allocUnsafe(COALESCE_SIZE);
      p.copy(this.buf, this.used);
      this.used += p.length;
    }
    return out;
  }
  /** The bytes copied so far and not yet handed out. */
  flush(): Buffer[] {
    const out: Buffer[] = [];
    this.flushInto(out);
    return out;
  }
  private flushInto(out: Buffer[]): void {
    if (this.buf && this.used) out.push(this.buf.subarray(0, this.used));
    this.buf = undefined;
    this.used = 0;
  }
}

interface Command {
  name: string;
  arg?: string;
  /** Reply terminator: "\0" for z, "\n" for n and bare commands. */
  term: string;
  prefixed: boolean;
  /** Text after the name that is not a valid argument (makes the command unknown). */
  junk: boolean;
}

function parseCommand(raw: Buffer): Command {
  let text = raw.toString("latin1");
  let term = "\n";
  let prefixed = false;
  if (text[0] === "z" || text[0] === "n") {
    term = text[0] === "z" ? "\0" : "\n";
    prefixed = true;
    text = text.slice(1);
  }
  if (!prefixed && text.endsWith("\r")) text = text.slice(0, -1);
  const sp = text.indexOf(" ");
  const name = sp < 0 ? text : text.slice(0, sp);
  const arg = sp < 0 ? undefined : text.slice(sp + 1);
  // a path command needs its argument; anything else must have none
  return { name, arg, term, prefixed, junk: WITH_PATH.has(name) ? arg === undefined : arg !== undefined };
}

type State =
  | { kind: "command" }
  | {
      kind: "stream";
      cmd: Command;
      id: number;
      chunks: Buffer[];
      received: number;
      need: number;
      inMemory: number;
      spool?: SpoolWriter;
      small: Coalescer;
    }
  | { kind: "discard" };

class Connection {
  private readonly input = new ByteQueue();
  private state: State = { kind: "command" };
  private session = false;
  private ending = false;
  private closed = false;
  private nextId = 1;
  private inFlight = 0;
  private timer?: NodeJS.Timeout;
  private gotCommand = false;
  /** Our side is done (FIN sent); input is discarded. */
  private finished = false;
  private peerEnded = false;
  /** Reading is paused until the spool file's writes catch up (or the memory budget frees). */
  private spoolWait = false;
  private budgetWait = false;
  /** Reading is paused until the client reads the replies written so far. */
  private writeWait = false;
  /** pump() is running: a reply made inside it does not start another (no recursion). */
  private pumping = false;

  constructor(
    private readonly socket: Socket,
    private readonly server: ClamdServer,
  ) {
    socket.setNoDelay(true);
    socket.on("data", (b: Buffer) => this.onData(b));
    socket.on("drain", () => this.onDrain());
    socket.on("end", () => this.onEnd());
    socket.on("error", () => this.destroy());
    socket.on("close", () => this.destroy());
    this.arm(this.server.limits.commandReadTimeout, () => this.reply("COMMAND READ TIMED OUT", "\n", undefined, true));
  }

  /** How clamd names this connection's streams in its log. */
  private get streamName(): string {
    const a = this.socket.remoteAddress;
    if (!a) return "instream(local)";
    return `instream(${a.replace(/^::ffff:/, "")}@${this.socket.remotePort ?? 0})`;
  }

  private get limits(): ClamdLimits {
    return this.server.limits;
  }

  private arm(ms: number, f: () => void): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(f, ms);
    this.timer.unref();
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** ReadTimeout runs only while we wait for the client, not while we hold its input back. */
  private armRead(): void {
    if (this.spoolWait) this.disarm();
    else this.arm(this.limits.readTimeout, () => this.streamTimeout());
  }

  /**
   * Pauses or resumes the socket: paused while a session has too many requests in flight, a
   * spool file lags, or the client has not read the replies already written.
   */
  private updateFlow(): void {
    if (this.closed || this.finished) return;
    const want = this.spoolWait || this.writeWait || this.inFlight >= this.limits.maxSessionQueue;
    if (want && !this.socket.isPaused()) this.socket.pause();
    else if (!want && this.socket.isPaused()) this.socket.resume();
  }

  private onData(b: Buffer): void {
    // after END (or a last reply) nothing more is read: the bytes are dropped, not kept
    if (this.closed || this.finished || this.ending || this.state.kind === "discard") return;
    this.input.push(b);
    this.pump(true);
  }

  /** The client has read what was written: read and process its commands again. */
  private onDrain(): void {
    if (!this.writeWait || this.closed || this.finished) return;
    this.writeWait = false;
    this.updateFlow();
    if (this.peerEnded && !this.ending) this.endOfInput();
    else this.pump(false);
  }

  /** Bytes this connection holds: unprocessed input plus replies the client has not read yet. */
  get buffered(): number {
    return this.input.length + (this.closed ? 0 : this.socket.writableLength);
  }

  private onEnd(): void {
    this.peerEnded = true;
    if (this.closed) return;
    if (this.finished) {
      this.destroy();
      return;
    }
    // commands still queued behind unread replies: handled when the client reads (onDrain)
    if (this.writeWait && this.state.kind === "command") return;
    this.endOfInput();
  }

  /** The client sent FIN and every command before it has been taken. */
  private endOfInput(): void {
    if (this.state.kind === "command") this.pump(true, true);
    if (this.writeWait && this.state.kind === "command") return;
    const st = this.state as State;
    if (this.closed || this.finished) return;
    if (st.kind === "stream") {
      this.state = { kind: "command" };
      this.inFlight--;
      this.dropStream(st);
      this.reply(
        "INSTREAM ended before its zero-length terminating chunk. ERROR",
        st.cmd.term,
        this.session ? st.id : undefined,
        true,
      );
      return;
    }
    // nothing more will come: finish once the replies in flight are out
    this.ending = true;
    this.maybeFinish();
  }

  /**
   * Processes whatever complete commands and chunks are buffered, in a loop: replies made on
   * the way do not call back into it, so the stack depth does not depend on how many commands
   * a client pipelines.
   */
  private pump(packetEnd: boolean, eof = false): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      this.pumpLoop(packetEnd, eof);
    } finally {
      this.pumping = false;
    }
  }

  private pumpLoop(packetEnd: boolean, eof: boolean): void {
    while (!this.closed && !this.ending) {
      const st = this.state;
      if (st.kind === "discard") return;
      if (st.kind === "stream") {
        if (!this.readStream(st)) return;
        continue;
      }
      if (this.input.length === 0) return;
      // a session with many requests in flight, or replies the client has not read: leave the
      // rest buffered (input is paused; at most one read's worth is held)
      if (this.session && this.inFlight >= this.limits.maxSessionQueue) return;
      if (this.writeWait) return;
      const first = this.input.byteAt(0);
      let end: number;
      let skip = 1;
      if (first === 0x7a /* z */) end = this.input.indexOf(0, MAX_COMMAND);
      else if (first === 0x6e /* n */) end = this.input.indexOf(0x0a, MAX_COMMAND);
      else {
        end = this.input.indexOf(0x0a, MAX_COMMAND);
        // old style: one packet is one command
        if (end < 0 && (packetEnd || eof) && this.input.length <= MAX_COMMAND) {
          end = this.input.length;
          skip = 0;
        }
      }
      if (end < 0) {
        if (this.input.length >= MAX_COMMAND) {
          this.reply(
            `Command exceeds the ${MAX_COMMAND}-byte limit. ERROR`,
            first === 0x7a ? "\0" : "\n",
            this.session ? this.nextId++ : undefined,
            true,
          );
        }
        return;
      }
      const raw = this.input.takeBuffer(end);
      if (skip) this.input.take(skip);
      this.gotCommand = true;
      this.command(parseCommand(raw));
      packetEnd = true;
    }
  }

  private command(cmd: Command): void {
    const id = this.session ? this.nextId++ : undefined;
    this.disarm();
    if (this.session && cmd.name === "" && cmd.prefixed) {
      this.idle();
      return;
    } // stray empty command in a session
    // in a session, anything but the session commands (unknown words included) ends it, as in clamd
    if (this.session && !IN_SESSION.has(cmd.name)) {
      this.reply("Command invalid inside IDSESSION. ERROR", cmd.term, id, true);
      return;
    }
    const known = (OLD_STYLE.has(cmd.name) || VERSION_COMMANDS.split(" ").includes(cmd.name)) && !cmd.junk;
    if (!known || (!cmd.prefixed && !OLD_STYLE.has(cmd.name))) {
      this.reply("UNKNOWN COMMAND", cmd.term, id, true);
      return;
    }
    if (this.limits.disabledCommands.includes(cmd.name) && cmd.name !== "ALLMATCHSCAN") {
      this.reply("COMMAND UNAVAILABLE", cmd.term, id, true);
      return;
    }
    switch (cmd.name) {
      case "PING":
        this.reply("PONG", cmd.term, id);
        return;
      case "VERSION":
        this.reply(this.server.service.version, cmd.term, id);
        return;
      case "VERSIONCOMMANDS":
        this.reply(`${this.server.service.version}| COMMANDS: ${VERSION_COMMANDS}`, cmd.term, id);
        return;
      case "STATS":
        this.reply(this.server.stats(), cmd.term, id);
        return;
      case "IDSESSION":
        this.session = true;
        this.idle();
        return;
      case "END":
        if (!this.session) {
          this.reply("UNKNOWN COMMAND", cmd.term, id, true);
          return;
        }
        this.ending = true;
        this.maybeFinish();
        return;
      case "RELOAD":
        this.reply("RELOADING", cmd.term, id);
        this.server.reload("RELOAD");
        return;
      case "SHUTDOWN":
      case "QUIT":
        this.destroy();
        void this.server.shutdown();
        return;
      case "FILDES":
        this.reply(
          "FILDES: file descriptor passing is not supported by Vigil; send the bytes with INSTREAM. ERROR",
          cmd.term,
          id,
          true,
        );
        return;
      case "DETSTATS":
      case "DETSTATSCLEAR":
        this.reply("UNKNOWN COMMAND", cmd.term, id, true);
        return;
      case "INSTREAM": {
        // receiving takes no scan thread (as in clamd): only a full queue refuses a stream now
        try {
          this.server.service.admit();
        } catch (err) {
          if (!(err instanceof BusyError)) throw err;
          this.reply(`stream: ${err.message} ERROR`, cmd.term, id, true);
          return;
        }
        this.inFlight++;
        this.state = {
          kind: "stream",
          cmd,
          id: id ?? 0,
          chunks: [],
          received: 0,
          need: -1,
          inMemory: 0,
          small: new Coalescer(),
        };
        this.arm(this.limits.readTimeout, () => this.streamTimeout());
        return;
      }
      default:
        this.pathCommand(cmd, id);
    }
  }

  private streamTimeout(): void {
    if (this.state.kind !== "stream") return;
    const s = this.state;
    this.state = { kind: "command" };
    this.dropStream(s);
    this.inFlight--;
    // clamd's words and framing (unnumbered, newline) whatever the command's prefix
    this.reply("COMMAND READ TIMED OUT", "\n", undefined, true);
  }

  /** Reads chunks; returns false when it needs more input. */
  private readStream(st: Extract<State, { kind: "stream" }>): boolean {
    for (;;) {
      if (st.need < 0) {
        if (this.input.length < 4) {
          this.armRead();
          return false;
        }
        const len = this.input.takeBuffer(4).readUInt32BE(0);
        if (len === 0) {
          this.disarm();
          this.state = { kind: "command" };
          this.finishStream(st);
          return true;
        }
        if (len > this.limits.streamMaxLength - st.received) {
          this.state = { kind: "command" };
          this.inFlight--;
          this.dropStream(st);
          this.server.service.metrics.rejected++;
          this.reply("INSTREAM size limit exceeded. ERROR", st.cmd.term, this.session ? st.id : undefined, true);
          return false;
        }
        st.need = len;
      }
      if (this.input.length === 0) {
        this.armRead();
        return false;
      }
      const n = Math.min(st.need, this.input.length);
      if (!this.store(st, this.input.take(n), n)) return false;
      st.received += n;
      st.need -= n;
      if (st.need > 0) {
        this.armRead();
        return false;
      }
      st.need = -1;
    }
  }

  /**
   * Keeps stream bytes in memory up to the spool threshold while the daemon-wide budget
   * allows, else in a spool file. Returns false (after replying with an error) when the spool
   * file cannot be written.
   */
  private store(st: Extract<State, { kind: "stream" }>, parts: Buffer[], n: number): boolean {
    const svc = this.server.service;
    try {
      if (!st.spool && (st.received + n > svc.spoolThreshold || svc.buffered + n > svc.memoryBudget)) {
        st.spool = new SpoolWriter(svc.spoolDir, (d) => svc.account(d));
        svc.metrics.spooled++;
        for (const c of st.chunks) st.spool.write(c);
        svc.account(-st.inMemory);
        st.inMemory = 0;
        st.chunks = [];
      }
      const keep = st.small.add(parts);
      if (st.spool) {
        if (st.spool.error) throw st.spool.error;
        for (const c of keep) st.spool.write(c);
        this.holdForSpool(st.spool);
      } else {
        for (const c of keep) st.chunks.push(c);
        st.inMemory += n;
        svc.account(n);
      }
      return true;
    } catch (err) {
      this.state = { kind: "command" };
      this.inFlight--;
      this.dropStream(st);
      this.reply(
        `stream: Can't write to the spool file (${(err as Error).message}). ERROR`,
        st.cmd.term,
        this.session ? st.id : undefined,
        true,
      );
      return false;
    }
  }

  /** Pauses reading while the spool file's writes lag or stream memory is over the budget. */
  private holdForSpool(w: SpoolWriter): void {
    const svc = this.server.service;
    if (!w.congested && !svc.overBudget) return;
    if (!this.spoolWait) {
      this.spoolWait = true;
      this.disarm();
      this.updateFlow();
    }
    if (w.congested)
      w.onDrain = () => {
        w.onDrain = undefined;
        this.spoolProgress(w);
      };
    else if (!this.budgetWait) {
      this.budgetWait = true;
      svc.whenUnderBudget(() => {
        this.budgetWait = false;
        this.spoolProgress(w);
      });
    }
  }

  private spoolProgress(w: SpoolWriter): void {
    if (!this.spoolWait || this.closed) return;
    const st = this.state;
    if (st.kind === "stream" && st.spool === w && (w.congested || this.server.service.overBudget)) {
      this.holdForSpool(w);
      return;
    }
    this.spoolWait = false;
    this.updateFlow();
    if (this.state.kind === "stream") this.armRead();
  }

  /** Frees an abandoned stream: memory accounting, spool file. */
  private dropStream(st: Extract<State, { kind: "stream" }>): void {
    this.server.service.account(-st.inMemory);
    st.inMemory = 0;
    st.chunks = [];
    st.spool?.discard();
    st.spool = undefined;
    this.spoolWait = false;
  }

  private finishStream(st: Extract<State, { kind: "stream" }>): void {
    const svc = this.server.service;
    for (const c of st.small.flush()) {
      if (st.spool) st.spool.write(c);
      else st.chunks.push(c);
    }
    let slot: Promise<() => void>;
    try {
      slot = svc.reserve();
    } catch (err) {
      if (!(err instanceof BusyError)) throw err;
      this.inFlight--;
      this.dropStream(st);
      this.reply(`stream: ${err.message} ERROR`, st.cmd.term, this.session ? st.id : undefined, true);
      return;
    }
    const id = this.session ? st.id : undefined;
    const term = st.cmd.term;
    const server = this.server;
    const wantTop = (r: FileResult) => server.observer !== undefined && server.wantTop && topDetection(r);
    const done = (p: Promise<{ result: FileResult; top?: Scanned }>) => {
      p.then(
        ({ result, top }) => {
          this.inFlight--;
          server.observer?.(this.streamName, result, false, top);
          this.reply(replyLines(result, "stream")[0]!, term, id);
        },
        (err: unknown) => {
          this.inFlight--;
          this.reply(`stream: ${(err as Error).message} ERROR`, term, id);
        },
      );
    };
    if (this.session) this.idle();
    else this.state = { kind: "discard" };
    if (st.spool) {
      const w = st.spool;
      const size = st.received;
      st.spool = undefined;
      w.onDrain = undefined;
      this.spoolWait = false;
      this.updateFlow();
      done(
        w
          .end()
          .then(
            () => svc.scanSpooled(w.path, size, "stream", "clamd", slot),
            (err: unknown) => {
              void slot.then((r) => r());
              throw new Error(`Can't write to the spool file (${(err as Error).message}).`);
            },
          )
          // the md5 for the log, before the spool file goes
          .then(async (res) => (wantTop(res.result) ? { ...res, top: await md5OfFile(w.path) } : res))
          .finally(() => w.remove()),
      );
      this.throttle();
      return;
    }
    const held = st.inMemory;
    st.inMemory = 0;
    let bytes: Uint8Array;
    if (st.chunks.length === 1 && st.received <= svc.inlineMax) {
      // scanned in this thread: the received chunk as it is, no copy
      bytes = st.chunks[0]!;
    } else {
      // one exact-size, unshared buffer: the worker pool can take it without a copy
      bytes = new Uint8Array(st.received);
      let at = 0;
      for (const c of st.chunks) {
        bytes.set(c, at);
        at += c.length;
      }
    }
    st.chunks = [];
    done(
      svc
        .scanBytes(bytes, "stream", "clamd", slot)
        .then((res) => (wantTop(res.result) ? { ...res, top: md5Of(bytes) } : res))
        .finally(() => svc.account(-held)),
    );
    this.throttle();
  }

  private pathCommand(cmd: Command, id: number | undefined): void {
    // the path's bytes as the client sent them (a name need not be UTF-8; see @vigil/scanner's fsPath)
    const path = pathFromBytes(Buffer.from(cmd.arg ?? "", "latin1"));
    const allMatch = cmd.name === "ALLMATCHSCAN";
    const stopAtFirst = cmd.name === "SCAN";
    if (allMatch && this.limits.disabledCommands.includes("ALLMATCHSCAN")) {
      this.reply(`${path}: ALLMATCHSCAN command disabled by clamd configuration. ERROR`, cmd.term, id, true);
      return;
    }
    if (!isAbsolute(path)) {
      this.reply(`${path}: File path check failure: No such file or directory. ERROR`, cmd.term, id);
      return;
    }
    let slot: Promise<() => void>;
    try {
      slot = this.server.service.reserve();
    } catch (err) {
      if (!(err instanceof BusyError)) throw err;
      this.reply(`${path}: ${err.message} ERROR`, cmd.term, id, true);
      return;
    }
    this.inFlight++;
    if (this.session) this.idle();
    else this.state = { kind: "discard" };
    void (async () => {
      const lines: string[] = [];
      try {
        const st = await lstat(fsPath(path)).catch((err: NodeJS.ErrnoException) => err);
        if (st instanceof Error) {
          void slot.then((r) => r());
          const why =
            st.code === "ENOENT"
              ? "No such file or directory"
              : st.code === "EACCES"
                ? "Permission denied"
                : st.message;
          lines.push(`${path}: File path check failure: ${why}. ERROR`);
          return;
        }
        let found = false;
        const server = this.server;
        const logged: Promise<void>[] = [];
        let partial = false;
        await server.service.scanPath(path, slot, (r) => {
          const rl = replyLines(r, r.path, allMatch);
          if (r.detections.length) found = true;
          if (r.incomplete.length && !r.errors.length) partial = true;
          if (r.detections.length || r.errors.length || r.incomplete.length) lines.push(...rl);
          const see = server.observer;
          if (see) {
            if (server.wantTop && topDetection(r))
              logged.push(md5OfFile(r.path).then((top) => see(r.path, r, allMatch, top)));
            else see(r.path, r, allMatch);
          }
          return !(stopAtFirst && found);
        });
        await Promise.all(logged);
        // like clamd: the summary OK comes whenever nothing was found, errors or not; but
        // never for a file not fully scanned
        if (!found && !partial) lines.push(`${path}: OK`);
      } catch (err) {
        lines.push(`${path}: ${(err as Error).message} ERROR`);
      } finally {
        this.inFlight--;
        // one write, so a session that already got END still receives every line
        this.reply(lines.join(id !== undefined ? `${cmd.term}${id}: ` : cmd.term), cmd.term, id);
      }
    })();
    this.throttle();
  }

  /** Pauses reading while a session has too many requests in flight. */
  private throttle(): void {
    this.updateFlow();
  }

  private idle(): void {
    if (this.inFlight === 0)
      this.arm(this.limits.idleTimeout, () => this.reply("COMMAND READ TIMED OUT", "\n", undefined, true));
    else this.disarm();
  }

  /**
   * Sends one reply. Outside a session (id undefined) and for `last` replies the connection
   * then closes; in a session with `last`, after the replies still in flight.
   */
  private reply(text: string, term: string, id: number | undefined, last = false): void {
    if (this.closed || this.finished) return;
    const line = id !== undefined ? `${id}: ${text}${term}` : `${text}${term}`;
    // write() returning false: the client is not reading its replies; stop reading its
    // commands until 'drain' (back-pressure, so a pipelining client cannot grow our buffers)
    // paths in replies are written as the bytes they stand for, as clamd echoes them
    if (this.socket.writable && !this.socket.write(pathToBytes(line))) this.writeWait = true;
    if (id === undefined || last) {
      this.ending = true;
      this.maybeFinish();
      return;
    }
    this.updateFlow();
    if (this.ending) this.maybeFinish();
    else if (this.session) {
      this.idle();
      this.pump(false);
    }
  }

  private maybeFinish(): void {
    if (this.inFlight > 0) return;
    this.finish();
  }

  /** FIN after the replies; unread input is discarded until the peer closes or LINGER_MS. */
  private finish(): void {
    if (this.closed || this.finished) return;
    this.finished = true;
    this.disarm();
    this.state = { kind: "discard" };
    this.input.clear();
    if (this.socket.isPaused()) this.socket.resume();
    this.socket.end();
    if (this.peerEnded) {
      this.socket.destroySoon();
      return;
    }
    this.arm(LINGER_MS, () => this.destroy());
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.disarm();
    if (this.state.kind === "stream") this.dropStream(this.state);
    this.state = { kind: "discard" };
    this.input.clear();
    this.socket.destroy();
    this.server.forget(this);
  }

  /** For SHUTDOWN: a connection that had not sent a command yet is simply closed. */
  get idleAtStart(): boolean {
    return !this.gotCommand;
  }
}

export interface ClamdListenOptions {
  /** TCP "host:port" listeners (port 0 picks a free port). */
  tcp?: string[];
  /** Unix socket paths (a stale socket file is replaced, like clamd's FixStaleSocket). */
  socket?: string[];
  /** The listen backlog (clamd MaxConnectionQueueLength; default 511). */
  backlog?: number;
  /** false: a stale socket file is an error instead of being replaced (clamd FixStaleSocket no). */
  fixStaleSocket?: boolean;
  /** The unix sockets' permission bits (clamd LocalSocketMode). */
  socketMode?: number;
  /** The unix sockets' group id (clamd LocalSocketGroup). */
  socketGid?: number;
}

export class ClamdServer {
  readonly servers: Server[] = [];
  private readonly conns = new Set<Connection>();
  readonly limits: ClamdLimits;
  private onShutdown?: () => Promise<void> | void;
  private onReload?: (why: string) => void;
  /** Sees every scan result (the daemon's log). */
  observer?: ClamdObserver;
  /** Give the observer the md5 and size of objects with a detection (ExtendedDetectionInfo). */
  wantTop = false;

  constructor(
    readonly service: Service,
    limits: Partial<ClamdLimits> = {},
  ) {
    this.limits = { ...DEFAULT_CLAMD_LIMITS, ...limits };
  }

  /** Called when a client sends SHUTDOWN (the Daemon stops everything). */
  setShutdownHandler(f: () => Promise<void> | void): void {
    this.onShutdown = f;
  }

  /** Called for RELOAD instead of reloading the engines here (the Daemon logs the reload). */
  setReloadHandler(f: (why: string) => void): void {
    this.onReload = f;
  }

  get connections(): number {
    return this.conns.size;
  }

  /** Bytes held for all connections: unprocessed input plus written replies not yet read. */
  get buffered(): number {
    let n = 0;
    for (const c of this.conns) n += c.buffered;
    return n;
  }

  private accept(socket: Socket): void {
    if (this.conns.size >= this.limits.maxConnections) {
      socket.on("error", () => socket.destroy());
      socket.end(`Too many connections (the limit is ${this.limits.maxConnections}); retry later. ERROR\n`);
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    this.conns.add(new Connection(socket, this));
  }

  forget(c: Connection): void {
    this.conns.delete(c);
  }

  /** Starts listening; resolves with the bound addresses ("host:port" or socket path). */
  async listen(opts: ClamdListenOptions): Promise<string[]> {
    const bound: string[] = [];
    for (const spec of opts.tcp ?? []) {
      const m = /^(.*):(\d+)$/.exec(spec);
      if (!m) throw new Error(`bad TCP address '${spec}': use HOST:PORT, e.g. 127.0.0.1:3310`);
      const host = m[1]!.replace(/^\[(.*)\]$/, "$1");
      const srv = createServer({ allowHalfOpen: true }, (s) => this.accept(s));
      await new Promise<void>((res, rej) => {
        srv.once("error", rej);
        srv.listen(Number(m[2]), host, opts.backlog ?? 511, () => {
          srv.off("error", rej);
          res();
        });
      });
      const a = srv.address();
      bound.push(typeof a === "object" && a ? `${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}` : spec);
      this.servers.push(srv);
    }
    for (const path of opts.socket ?? []) {
      await removeStaleSocket(path, opts.fixStaleSocket ?? true);
      const srv = createServer({ allowHalfOpen: true }, (s) => this.accept(s));
      await new Promise<void>((res, rej) => {
        srv.once("error", rej);
        // LocalSocketMode from the start: the socket is made under a umask that gives its mode
        // (bind is synchronous for unix sockets), and the group and mode are set again before
        // the first connection is handled (the listening callback runs before any accept)
        const umask = opts.socketMode !== undefined ? process.umask(~opts.socketMode & 0o777) : undefined;
        try {
          srv.listen(path, opts.backlog ?? 511, () => {
            srv.off("error", rej);
            try {
              if (opts.socketGid !== undefined) chownSync(fsPath(path), -1, opts.socketGid);
              if (opts.socketMode !== undefined) chmodSync(fsPath(path), opts.socketMode);
              res();
            } catch (err) {
              rej(err);
            }
          });
        } finally {
          if (umask !== undefined) process.umask(umask);
        }
      });
      bound.push(path);
      this.servers.push(srv);
    }
    return bound;
  }

  reload(why = "RELOAD"): void {
    if (this.onReload) {
      this.onReload(why);
      return;
    }
    this.service.engines.reload().catch((err: unknown) => {
      process.emitWarning(`vigil daemon: reload failed, keeping the old rules: ${(err as Error).message}`);
    });
  }

  async shutdown(): Promise<void> {
    if (this.onShutdown) await this.onShutdown();
    else await this.close();
  }

  stats(): string {
    const s = this.service.slots;
    const mem = process.memoryUsage();
    const mb = (n: number) => (n / 1048576).toFixed(3);
    return [
      "POOLS: 1",
      "",
      "STATE: VALID PRIMARY",
      // the STATS request itself is a live thread, as in clamd
      `THREADS: live ${s.running + 1}  idle 0 max ${s.maxThreads} idle-timeout ${Math.round(this.limits.idleTimeout / 1000)}`,
      `QUEUE: ${s.queued} items`,
      "\tSTATS 0.000000 ",
      "",
      `MEMSTATS: heap N/A mmap N/A used N/A free N/A releasable N/A pools 1 pools_used ${mb(mem.heapUsed + mem.arrayBuffers)}M pools_total ${mb(mem.rss)}M`,
      "END",
    ].join("\n");
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    await Promise.all(this.servers.map((s) => new Promise<void>((res) => s.close(() => res()))));
    this.servers.length = 0;
    for (const c of [...this.conns]) c.destroy();
  }
}

async function removeStaleSocket(path: string, fix: boolean): Promise<void> {
  const st = await lstat(fsPath(path)).catch(() => undefined);
  if (!st) return;
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket; remove it or choose another --socket path`);
  // a socket nobody listens on any more
  const { connect } = await import("node:net");
  const live = await new Promise<boolean>((res) => {
    const c = connect(path);
    c.once("connect", () => {
      c.destroy();
      res(true);
    });
    c.once("error", () => res(false));
  });
  if (live) throw new Error(`${path} is in use by a running server; stop it or choose another --socket path`);
  if (!fix) throw new Error(`socket file ${path} exists (FixStaleSocket is off); remove it, or set FixStaleSocket yes`);
  await unlink(path);
}

export { CLAMD_VERSION };
