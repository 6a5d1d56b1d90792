/**
 * `vigil daemon [OPTIONS]`: the scan service. Speaks the clamd protocol on TCP (default
 * 127.0.0.1:3310) and unix sockets, so clamdscan and clamd client libraries work unchanged,
 * and optionally an HTTP scan API (`--http`). SIGHUP/SIGUSR2 (or the RELOAD command) reload
 * the rules without dropping connections; SIGTERM/SIGINT (or SHUTDOWN) stop it.
 */
import { join } from "node:path";
import { Command } from "commander";
import { fail } from "../fail.js";
import {
  cacheDir,
  collect,
  limitOptions,
  parseCount,
  parseOrExit,
  parseSize,
  resolveDatabases,
  signatureOptions,
  useBuiltin,
} from "../options.js";
import { Daemon } from "@vigil/daemon";
import { defaultJobs, ScannerError } from "@vigil/scanner";

export const summary = "clamd-compatible scan daemon (TCP, unix socket) with an HTTP scan API";

const HELP = `
Clients: clamdscan (TCPSocket/LocalSocket in its config), the npm clamscan/clamdjs packages,
or HTTP: curl --data-binary @file http://127.0.0.1:8080/v1/scan

Signals: SIGHUP or SIGUSR2 reload the rules (scans in flight finish on the old ones);
SIGTERM or SIGINT stop the daemon. Exit codes: 0 stopped, 2 could not start.`;

function program(): Command {
  return limitOptions(signatureOptions(new Command("vigil daemon")), {
    archives: true,
    filesizeHelp: "files larger than this are not scanned (reported OK, as clamd does)",
  })
    .description("Run the scan service: the clamd protocol on TCP and unix sockets, and an optional HTTP API.")
    .option(
      "--tcp <host:port>",
      "clamd protocol on TCP (repeatable; default 127.0.0.1:3310 unless only --socket is given)",
      collect,
      [],
    )
    .option("--socket <path>", "clamd protocol on a unix socket (repeatable)", collect, [])
    .option("--http <host:port>", "HTTP scan API (POST /v1/scan, /v1/health, /metrics, /v1/openapi.json)")
    .option("--http-token <token>", "bearer token for the HTTP API (required off loopback; default $VIGIL_HTTP_TOKEN)")
    .option("--http-max-body <size>", "largest HTTP request body", "25M")
    .option("-j, --jobs <n>", `worker threads (default: one per core, here ${defaultJobs()})`)
    .option("--stream-max-length <size>", "largest INSTREAM (clamd StreamMaxLength)", "25M")
    .option("--max-threads <n>", "concurrent scans (clamd MaxThreads)", "10")
    .option("--max-queue <n>", "scans waiting before new ones are refused (clamd MaxQueue)", "100")
    .option("--read-timeout <s>", "seconds to wait for stream data (clamd ReadTimeout)", "120")
    .option("--command-read-timeout <s>", "seconds to wait for a command (clamd CommandReadTimeout)", "30")
    .option("--idle-timeout <s>", "seconds a session may idle (clamd IdleTimeout)", "30")
    .option("--max-connections <n>", "open clamd connections before new ones are refused", "1024")
    .option(
      "--memory-budget <size>",
      "stream bytes held in memory across connections; beyond it streams are spooled to files",
      "64M",
    )
    .option(
      "--spool-threshold <size>",
      "a stream (INSTREAM, HTTP body or part) larger than this is spooled to a file and scanned from there",
      "1M",
    )
    .option("--spool-dir <dir>", "where spooled streams go (clamd TemporaryDirectory; default the OS temp directory)")
    .option("--alert-exceeds-max", "report limit overruns as detections (Heuristics.Limits.Exceeded.*)")
    .option("--no-cache", "do not use or write the compiled-signature cache")
    .addHelpText("after", HELP)
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });
}

interface Opts {
  tcp: string[];
  socket: string[];
  http?: string;
  httpToken?: string;
  httpMaxBody: string;
  rules: string[];
  database: string[];
  builtin?: boolean;
  jobs?: string;
  streamMaxLength: string;
  maxThreads: string;
  maxQueue: string;
  readTimeout: string;
  commandReadTimeout: string;
  idleTimeout: string;
  maxConnections: string;
  memoryBudget: string;
  spoolThreshold: string;
  spoolDir?: string;
  maxFilesize: string;
  maxScansize: string;
  maxFiles: string;
  maxRecursion: string;
  maxScantime: string;
  alertExceedsMax?: boolean;
  cache: boolean;
}

export async function run(args: string[]): Promise<number> {
  const cmd = program();
  const exit = parseOrExit(cmd, args);
  if (exit !== undefined) return exit;
  const o = cmd.opts<Opts>();
  let daemon: Daemon;
  try {
    const seconds = (s: string, what: string) => parseCount(s, what) * 1000;
    const positive = (s: string, what: string) => {
      const n = parseCount(s, what);
      if (n < 1) throw new ScannerError("BAD_OPTION", `${what} must be at least 1`);
      return n;
    };
    daemon = new Daemon({
      signatures: {
        builtin: useBuiltin({ ...o, database: resolveDatabases(o) }),
        rules: o.rules,
        databases: resolveDatabases(o),
        timeoutMs: parseCount(o.maxScantime, "--max-scantime"),
        ...(o.cache ? { cacheDir: join(cacheDir(), "compiled") } : {}),
      },
      jobs: o.jobs !== undefined ? parseCount(o.jobs, "--jobs") : defaultJobs(),
      limits: {
        maxFileSize: parseSize(o.maxFilesize),
        maxScanSize: parseSize(o.maxScansize),
        maxFiles: parseCount(o.maxFiles, "--max-files"),
        maxRecursion: parseCount(o.maxRecursion, "--max-recursion"),
      },
      ...(o.alertExceedsMax ? { alertExceedsMax: true } : {}),
      maxThreads: positive(o.maxThreads, "--max-threads"),
      maxQueue: parseCount(o.maxQueue, "--max-queue"),
      memoryBudget: parseSize(o.memoryBudget),
      spoolThreshold: parseSize(o.spoolThreshold),
      ...(o.spoolDir ? { spoolDir: o.spoolDir } : {}),
      ...(o.tcp.length ? { tcp: o.tcp } : {}),
      socket: o.socket,
      clamd: {
        streamMaxLength: parseSize(o.streamMaxLength),
        readTimeout: seconds(o.readTimeout, "--read-timeout"),
        commandReadTimeout: seconds(o.commandReadTimeout, "--command-read-timeout"),
        idleTimeout: seconds(o.idleTimeout, "--idle-timeout"),
        maxConnections: positive(o.maxConnections, "--max-connections"),
      },
      ...(o.http ? { http: o.http } : {}),
      httpOptions: {
        maxBodySize: parseSize(o.httpMaxBody),
        ...((o.httpToken ?? process.env.VIGIL_HTTP_TOKEN)
          ? { token: o.httpToken ?? process.env.VIGIL_HTTP_TOKEN }
          : {}),
      },
    });
  } catch (err) {
    return fail("daemon", err);
  }
  const log = (s: string) => process.stderr.write(`vigil daemon: ${s}\n`);
  let addresses;
  try {
    addresses = await daemon.start();
  } catch (err) {
    return fail("daemon", err);
  }
  const g = daemon.service.engines.generation;
  log(`${g.signatures} signatures loaded (rules ${g.version})`);
  for (const a of addresses.clamd) log(`clamd protocol on ${a}`);
  if (addresses.http) log(`HTTP API on http://${addresses.http}`);

  const reload = () => {
    log("reloading the rules");
    daemon.reload().then(
      () => {
        const n = daemon.service.engines.generation;
        log(`rules reloaded: ${n.signatures} signatures (rules ${n.version})`);
      },
      (err: unknown) => log(`${(err as Error).message}`),
    );
  };
  const stop = (sig: string) => {
    log(`${sig}: stopping`);
    void daemon.stop();
  };
  const handlers: [NodeJS.Signals, () => void][] = [
    ["SIGHUP", reload],
    ["SIGUSR2", reload],
    ["SIGTERM", () => stop("SIGTERM")],
    ["SIGINT", () => stop("SIGINT")],
  ];
  for (const [s, h] of handlers) process.on(s, h);
  await daemon.done;
  for (const [s, h] of handlers) process.off(s, h);
  log("stopped");
  return 0;
}
