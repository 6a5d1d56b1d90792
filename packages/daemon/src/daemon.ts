/**
 * One daemon process: the Service (rules, slots, metrics) with its clamd listeners and,
 * optionally, the HTTP API. `start` waits for the rules and listens; `reload` (RELOAD, SIGHUP, SIGUSR2) swaps the
 * rules without touching connections; `stop` (SHUTDOWN, SIGTERM) closes everything.
 * With a `log` (clamd.conf LogFile), it writes clamd's log lines: start-up, each result the
 * clamd front end gives, reloads, SelfCheck, shutdown; with `pidFile` it writes and removes
 * the pid file; with `selfCheck` it looks at the database files (and rule files, feeds
 * included) every so many seconds and reloads when they changed, as clamd's SelfCheck does.
 */
import { readdir, stat, unlink, writeFile } from "node:fs/promises";
import { arch, platform } from "node:os";
import { ClamdServer, type ClamdLimits } from "./clamd.js";
import { HttpApi, type HttpOptions } from "./http.js";
import { Service, replyLines, type ServiceOptions } from "./service.js";
import { DaemonError } from "./error.js";
import { ctime, type ClamdLog } from "./log.js";
import { VERSION } from "./version.js";

export interface DaemonOptions extends ServiceOptions {
  /** TCP listeners "HOST:PORT" (default ["127.0.0.1:3310"] when no socket is given). */
  tcp?: string[];
  /** Unix socket paths. */
  socket?: string[];
  clamd?: Partial<ClamdLimits>;
  /** Listen backlog, socket mode and group, stale socket handling (clamd.conf). */
  listen?: { backlog?: number; fixStaleSocket?: boolean; socketMode?: number; socketGid?: number };
  /** HTTP API listener "HOST:PORT" (none by default). */
  http?: string;
  httpOptions?: Omit<HttpOptions, "listen">;
  /** clamd's log (clamd.conf LogFile and friends). */
  log?: ClamdLog;
  /** Written with the process id once listening, removed at stop (clamd.conf PidFile). */
  pidFile?: string;
  /** Seconds between database checks; 0 or absent: none (clamd.conf SelfCheck). */
  selfCheck?: number;
}

export interface DaemonAddresses {
  clamd: string[];
  http?: string;
}

/** A snapshot of database files: path -> size and mtime. */
async function databaseState(paths: string[]): Promise<string> {
  const parts: string[] = [];
  const visit = async (p: string, depth: number): Promise<void> => {
    const st = await stat(p).catch(() => undefined);
    if (!st) {
      parts.push(`${p}:missing`);
      return;
    }
    parts.push(`${p}:${st.size}:${st.mtimeMs}`);
    if (st.isDirectory() && depth < 2) {
      const names = (await readdir(p).catch(() => [] as string[])).sort();
      for (const n of names) await visit(`${p}/${n}`, depth + 1);
    }
  };
  for (const p of paths) await visit(p, 0);
  return parts.join("\n");
}

export class Daemon {
  readonly service: Service;
  readonly clamd: ClamdServer;
  http?: HttpApi;
  private stopping?: Promise<void>;
  private readonly stopped: Promise<void>;
  private resolveStopped!: () => void;
  private readonly log?: ClamdLog;
  private bound: string[] = [];
  private checkTimer?: NodeJS.Timeout;
  private dbState?: string;

  constructor(private readonly opts: DaemonOptions) {
    this.service = new Service(opts);
    this.clamd = new ClamdServer(this.service, opts.clamd);
    this.clamd.setShutdownHandler(() => this.stop());
    this.clamd.setReloadHandler(() => {
      this.reload().catch((err: unknown) => {
        process.emitWarning(`vigil daemon: reload failed, keeping the old rules: ${(err as Error).message}`);
      });
    });
    this.log = opts.log;
    const log = opts.log;
    if (log) {
      this.clamd.wantTop = log.extended;
      this.clamd.observer = (where, r, allMatch, top) => {
        const lines =
          r.errors.length && !r.detections.length ? replyLines(r, where) : log.resultLines(where, r, allMatch, top);
        for (const l of lines) log.info(l);
      };
    }
    this.stopped = new Promise((res) => {
      this.resolveStopped = res;
    });
  }

  private get databases(): string[] {
    return this.opts.signatures.databases ?? [];
  }

  /** What SelfCheck watches: the databases and the rule files or directories (feeds included). */
  private get watched(): string[] {
    return [...this.databases, ...(this.opts.signatures.rules ?? [])];
  }

  private logStart(): void {
    const log = this.log;
    if (!log) return;
    log.info(`+++ Started at ${ctime()}`);
    log.info(
      `vigil daemon ${VERSION} (clamd 1.4 protocol; OS: ${platform()}, ARCH: ${arch()}, Node.js ${process.versions.node})`,
    );
    const max = log.opts.maxSize ?? 0;
    log.info(`Log file size limited to ${max > 0 ? max : "9223372036854775807"} bytes.`);
    for (const d of this.databases) log.info(`Reading databases from ${d}`);
  }

  private logLoaded(): void {
    const log = this.log;
    if (!log) return;
    if (!this.opts.signatures.pua) log.info("Not loading PUA signatures.");
    log.info(`Loaded ${this.service.engines.generation.signatures} signatures.`);
  }

  private logListening(clamd: string[]): void {
    const log = this.log;
    if (!log) return;
    const backlog = this.opts.listen?.backlog ?? 511;
    for (const a of clamd) {
      if (a.startsWith("/") || !/:\d+$/.test(a)) {
        log.info(`LOCAL: Unix socket file ${a}`);
        log.info(`LOCAL: Setting connection queue length to ${backlog}`);
      } else {
        const m = /^\[?(.*?)\]?:(\d+)$/.exec(a)!;
        log.info(`TCP: Bound to [${m[1]}]:${m[2]}`);
        log.info(`TCP: Setting connection queue length to ${backlog}`);
      }
    }
    const l = this.opts.limits ?? {};
    const t = this.opts.signatures.timeoutMs;
    if (t !== undefined) log.info(`Limits: Global time limit set to ${t} milliseconds.`);
    if (l.maxScanSize !== undefined) log.info(`Limits: Global size limit set to ${l.maxScanSize} bytes.`);
    if (l.maxFileSize !== undefined) log.info(`Limits: File size limit set to ${l.maxFileSize} bytes.`);
    if (l.maxRecursion !== undefined) log.info(`Limits: Recursion level limit set to ${l.maxRecursion}.`);
    if (l.maxFiles !== undefined) log.info(`Limits: Files limit set to ${l.maxFiles}.`);
    log.info("Archive support enabled.");
    log.info(`AlertExceedsMax heuristic detection ${this.opts.alertExceedsMax ? "enabled" : "disabled"}.`);
    if (this.opts.selfCheck) log.info(`Self checking every ${this.opts.selfCheck} seconds.`);
  }

  async start(): Promise<DaemonAddresses> {
    const tcp = this.opts.tcp ?? (this.opts.socket?.length ? [] : ["127.0.0.1:3310"]);
    let clamd: string[];
    this.logStart();
    try {
      // the rules first (compiled in a child process): a daemon that cannot scan does not listen
      await this.service.engines.ready;
      this.logLoaded();
      clamd = await this.clamd.listen({ tcp, socket: this.opts.socket, ...this.opts.listen });
      this.bound = clamd;
      this.logListening(clamd);
      if (this.opts.pidFile) await writeFile(this.opts.pidFile, `${process.pid}\n`);
      await this.startSelfCheck();
      if (this.opts.http) {
        this.http = new HttpApi(
          this.service,
          { ...this.opts.httpOptions, listen: this.opts.http },
          () => this.clamd.connections,
        );
        const http = await this.http.listen();
        return { clamd, http };
      }
    } catch (err) {
      this.log?.info(`ERROR: ${(err as Error).message}`);
      await this.stop();
      if (err instanceof DaemonError) throw err;
      throw new DaemonError(
        "LISTEN_FAILED",
        `cannot listen: ${(err as Error).message} (is another daemon running there? pick another address with --tcp/--socket/--http)`,
        { cause: err },
      );
    }
    return { clamd };
  }

  private async startSelfCheck(): Promise<void> {
    const every = this.opts.selfCheck ?? 0;
    if (!every || !this.watched.length) return;
    this.dbState = await databaseState(this.watched);
    const tick = async () => {
      const now = await databaseState(this.watched);
      if (now !== this.dbState) {
        this.log?.info("SelfCheck: Database modification detected. Forcing reload.");
        await this.reload().catch(() => {
          /* logged by reload */
        });
      } else this.log?.info("SelfCheck: Database status OK.");
    };
    const loop = () => {
      this.checkTimer = setTimeout(() => {
        void tick().finally(() => {
          if (!this.stopping) loop();
        });
      }, every * 1000);
      this.checkTimer.unref();
    };
    loop();
  }

  /** Loads the rules again; scans in flight finish on the old ones. */
  async reload(): Promise<unknown> {
    const log = this.log;
    for (const d of this.databases) log?.info(`Reading databases from ${d}`);
    try {
      const state = this.opts.selfCheck ? databaseState(this.watched) : undefined;
      const g = await this.service.engines.reload();
      if (state) this.dbState = await state;
      log?.info(`Database correctly reloaded (${g.signatures} signatures)`);
      log?.info("Activating the newly loaded database...");
      return g;
    } catch (err) {
      log?.info(`ERROR: reload failed, the old database stays in use: ${(err as Error).message}`);
      throw err;
    }
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearTimeout(this.checkTimer);
      await this.clamd.close();
      await this.http?.close();
      await this.service.engines.close();
      if (
        this.opts.pidFile &&
        (await unlink(this.opts.pidFile).then(
          () => true,
          () => false,
        ))
      )
        this.log?.info("Pid file removed.");
      this.log?.info(`--- Stopped at ${ctime()}`);
      for (const a of this.bound)
        if (a.startsWith("/")) {
          // the unix socket file (Node removes it when the server closes)
          this.log?.info("Socket file removed.");
        }
      this.log?.close();
      this.resolveStopped();
    })();
    return this.stopping;
  }

  /** Resolves when the daemon has stopped (SHUTDOWN or stop()). */
  get done(): Promise<void> {
    return this.stopped;
  }
}
