/**
 * One daemon process: the Service (rules, slots, metrics) with its clamd listeners and,
 * optionally, the HTTP API. `start` waits for the rules and listens; `reload` (RELOAD, SIGHUP, SIGUSR2) swaps the
 * rules without touching connections; `stop` (SHUTDOWN, SIGTERM) closes everything.
 */
import { ClamdServer, type ClamdLimits } from "./clamd.js";
import { HttpApi, type HttpOptions } from "./http.js";
import { Service, type ServiceOptions } from "./service.js";
import { DaemonError } from "./error.js";

export interface DaemonOptions extends ServiceOptions {
  /** TCP listeners "HOST:PORT" (default ["127.0.0.1:3310"] when no socket is given). */
  tcp?: string[];
  /** Unix socket paths. */
  socket?: string[];
  clamd?: Partial<ClamdLimits>;
  /** HTTP API listener "HOST:PORT" (none by default). */
  http?: string;
  httpOptions?: Omit<HttpOptions, "listen">;
}

export interface DaemonAddresses {
  clamd: string[];
  http?: string;
}

export class Daemon {
  readonly service: Service;
  readonly clamd: ClamdServer;
  http?: HttpApi;
  private stopping?: Promise<void>;
  private readonly stopped: Promise<void>;
  private resolveStopped!: () => void;

  constructor(private readonly opts: DaemonOptions) {
    this.service = new Service(opts);
    this.clamd = new ClamdServer(this.service, opts.clamd);
    this.clamd.setShutdownHandler(() => this.stop());
    this.stopped = new Promise((res) => {
      this.resolveStopped = res;
    });
  }

  async start(): Promise<DaemonAddresses> {
    const tcp = this.opts.tcp ?? (this.opts.socket?.length ? [] : ["127.0.0.1:3310"]);
    let clamd: string[];
    try {
      // the rules first (compiled in a child process): a daemon that cannot scan does not listen
      await this.service.engines.ready;
      clamd = await this.clamd.listen({ tcp, socket: this.opts.socket });
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

  /** Loads the rules again; scans in flight finish on the old ones. */
  reload(): Promise<unknown> {
    return this.service.engines.reload();
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.clamd.close();
      await this.http?.close();
      await this.service.engines.close();
      this.resolveStopped();
    })();
    return this.stopping;
  }

  /** Resolves when the daemon has stopped (SHUTDOWN or stop()). */
  get done(): Promise<void> {
    return this.stopped;
  }
}
