/**
 * `vigil daemon [OPTIONS]`: the scan service. Speaks the clamd protocol on TCP (default
 * 127.0.0.1:3310) and unix sockets, so clamdscan and clamd client libraries work unchanged,
 * and optionally an HTTP scan API (`--http`). SIGHUP/SIGUSR2 (or the RELOAD command) reload
 * the rules without dropping connections; SIGTERM/SIGINT (or SHUTDOWN) stop it.
 */
import { chownSync, readFileSync, realpathSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { fail } from "../fail.js";
import { feedRuleDirs } from "../feed-dirs.js";
import {
  cacheDir,
  collect,
  limitOptions,
  parseCount,
  parseOrExit,
  parseSize,
  phishingOptions,
  resolveDatabases,
  signatureOptions,
  useBuiltin,
} from "../options.js";
import { ClamdLog, Daemon, DaemonError, clamdSettings, parseClamdConf, type ClamdSettings } from "@vigil/daemon";
import { defaultJobs, ScannerError } from "@vigil/scanner";

export const summary = "clamd-compatible scan daemon (TCP, unix socket) with an HTTP scan API";

const HELP = `
Clients: clamdscan (TCPSocket/LocalSocket in its config), the npm clamscan/clamdjs packages,
or HTTP: curl --data-binary @file http://127.0.0.1:8080/v1/scan

With --config-file (clamd's clamd.conf, e.g. /etc/clamav/clamd.conf) the daemon takes its
sockets, DatabaseDirectory, limits, LogFile, User, PidFile and SelfCheck from it, as clamd
does; options given on the command line win over the file. Each option it does not honour is
named once on stderr with the reason; a bad value stops it with the file and line.

Signals: SIGUSR2 reloads the rules (scans in flight finish on the old ones); SIGHUP reloads
them too, or with --config-file re-opens the log file, as clamd does; SIGTERM or SIGINT stop
the daemon. Exit codes: 0 stopped, 2 could not start.`;

function program(): Command {
  return limitOptions(signatureOptions(new Command("vigil daemon")), {
    archives: true,
    filesizeHelp: "files larger than this are not scanned (reported OK, as clamd does)",
  })
    .description("Run the scan service: the clamd protocol on TCP and unix sockets, and an optional HTTP API.")
    .option("-c, --config-file <file>", "read clamd's configuration file (clamd.conf) as clamd does")
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
  configFile?: string;
  tcp: string[];
  socket: string[];
  http?: string;
  httpToken?: string;
  httpMaxBody: string;
  rules: string[];
  feeds?: boolean;
  database: string[];
  clamavTrustKey: string[];
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
  phishingSigs?: string | boolean;
  phishingScanUrls?: string | boolean;
  alertPhishingSsl?: boolean;
  alertPhishingCloak?: boolean;
  cache: boolean;
}

/** uid and gid of a user name, from /etc/passwd. */
function lookupUser(name: string): { uid: number; gid: number } {
  for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
    const f = line.split(":");
    if (f[0] === name && f.length >= 4) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  throw new DaemonError(
    "BAD_CONFIG",
    `User ${name}: no such user in /etc/passwd (create it, or change User in the configuration)`,
  );
}

/** The groups that list a user as a member (/etc/group). */
function supplementaryGroups(user: string): number[] {
  const out: number[] = [];
  for (const line of readFileSync("/etc/group", "utf8").split("\n")) {
    const f = line.split(":");
    if (f.length >= 4 && f[3]!.split(",").includes(user)) out.push(Number(f[2]));
  }
  return out;
}

/**
 * The first directory on the way to `path` (from the root down, `path` included) that a user
 * with these ids may not search or read, described with its owner and mode; undefined if none.
 */
function firstDeniedDirectory(path: string, uid: number, gids: number[]): string | undefined {
  const chain: string[] = [];
  for (let d = path; ; d = dirname(d)) {
    chain.unshift(d);
    if (dirname(d) === d) break;
  }
  for (const d of chain) {
    const st = statSync(d);
    const bits = st.uid === uid ? (st.mode >> 6) & 7 : gids.includes(st.gid) ? (st.mode >> 3) & 7 : st.mode & 7;
    const need = d === path ? 5 : 1; // read and search the installation, search its parents
    if ((bits & need) !== need)
      return `directory ${d} is mode ${(st.mode & 0o777).toString(8)} owned by uid ${st.uid}, gid ${st.gid}`;
  }
  return undefined;
}

/** A group name or number, to a gid (/etc/group). */
function lookupGroup(name: string): number {
  if (/^\d+$/.test(name)) return Number(name);
  for (const line of readFileSync("/etc/group", "utf8").split("\n")) {
    const f = line.split(":");
    if (f[0] === name && f.length >= 3) return Number(f[2]);
  }
  throw new DaemonError(
    "BAD_CONFIG",
    `LocalSocketGroup ${name}: no such group in /etc/group (create it, or change LocalSocketGroup)`,
  );
}

/**
 * clamd's User: when started as root, switch to that user before loading anything (the log
 * file, opened first, is given to it, as clamd does). Not root: nothing to switch, as clamd.
 */
function dropPrivileges(user: string, logFile: string | undefined): void {
  if (process.getuid?.() !== 0) return;
  const { uid, gid } = lookupUser(user);
  // Node loads most of Vigil's code after this point (the scanner, its workers): a user who
  // cannot reach the installation would fail later with "Cannot find module"; say it now.
  const install = realpathSync(fileURLToPath(new URL("../../../..", import.meta.url)));
  const denied = firstDeniedDirectory(install, uid, [gid, ...supplementaryGroups(user)]);
  if (denied)
    throw new DaemonError(
      "USER_CANNOT_READ_INSTALL",
      `User ${user} cannot read Vigil's files under ${install}: ${denied} (make the installation readable to ${user}, e.g. chmod o+rx on that directory, install Vigil elsewhere, or remove User from the configuration)`,
    );
  if (logFile) chownSync(logFile, uid, gid);
  (process as unknown as { initgroups?: (u: string, g: number) => void }).initgroups?.(user, gid);
  process.setgid?.(gid);
  process.setuid?.(uid);
}

export async function run(args: string[]): Promise<number> {
  const cmd = program();
  const exit = parseOrExit(cmd, args);
  if (exit !== undefined) return exit;
  const o = cmd.opts<Opts>();
  const log = (s: string) => process.stderr.write(`vigil daemon: ${s}\n`);
  let conf: ClamdSettings | undefined;
  let clamdLog: ClamdLog | undefined;
  let daemon: Daemon;
  try {
    if (o.configFile !== undefined) {
      let text: string;
      try {
        text = readFileSync(o.configFile, "utf8");
      } catch (err) {
        throw new DaemonError(
          "BAD_CONFIG",
          `cannot read the configuration file ${o.configFile}: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      conf = clamdSettings(parseClamdConf(text, o.configFile));
      for (const w of conf.warnings) log(`warning: ${w}`);
      applyConf(cmd, o, conf);
      if (conf.logFile)
        clamdLog = new ClamdLog({
          file: conf.logFile,
          time: conf.logTime,
          clean: conf.logClean,
          extended: conf.extendedDetectionInfo,
          maxSize: conf.logFileMaxSize,
          rotate: conf.logRotate,
        });
      if (conf.user) dropPrivileges(conf.user, conf.logFile);
    }
    const seconds = (s: string, what: string) => parseCount(s, what) * 1000;
    const positive = (s: string, what: string) => {
      const n = parseCount(s, what);
      if (n < 1) throw new ScannerError("BAD_OPTION", `${what} must be at least 1`);
      return n;
    };
    daemon = new Daemon({
      signatures: {
        builtin: useBuiltin({ ...o, database: resolveDatabases(o) }),
        rules: [...o.rules, ...(o.feeds !== false ? feedRuleDirs() : [])],
        databases: resolveDatabases(o),
        ...(o.clamavTrustKey.length ? { clamavTrustKeys: o.clamavTrustKey.map((k) => resolve(k)) } : {}),
        ...(conf?.detectPua ? { pua: true } : {}),
        phishing: phishingOptions(o, conf ?? {}),
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
      ...(conf
        ? {
            listen: {
              fixStaleSocket: conf.fixStaleSocket,
              ...(conf.backlog !== undefined ? { backlog: conf.backlog } : {}),
              ...(conf.socketMode !== undefined ? { socketMode: conf.socketMode } : {}),
              ...(conf.socketGroup !== undefined ? { socketGid: lookupGroup(conf.socketGroup) } : {}),
            },
            walk: {
              excludeRegex: conf.excludePath,
              oneFileSystem: !conf.crossFilesystems,
              ...(conf.followSymlinks !== undefined ? { followSymlinks: conf.followSymlinks } : {}),
              ...(conf.maxDirectoryRecursion !== undefined ? { maxDepth: conf.maxDirectoryRecursion } : {}),
            },
            ...(clamdLog ? { log: clamdLog } : {}),
            ...(conf.pidFile ? { pidFile: conf.pidFile } : {}),
            selfCheck: conf.selfCheck,
          }
        : {}),
      clamd: {
        streamMaxLength: parseSize(o.streamMaxLength),
        readTimeout: seconds(o.readTimeout, "--read-timeout"),
        commandReadTimeout: seconds(o.commandReadTimeout, "--command-read-timeout"),
        idleTimeout: seconds(o.idleTimeout, "--idle-timeout"),
        maxConnections: positive(o.maxConnections, "--max-connections"),
        ...(conf ? { disabledCommands: conf.disabledCommands } : {}),
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
    clamdLog?.close();
    return fail("daemon", err);
  }
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
  const reopen = () => {
    clamdLog?.info("SIGHUP caught: re-opening log file.");
    try {
      clamdLog?.reopen();
    } catch (err) {
      log((err as Error).message);
    }
  };
  const handlers: [NodeJS.Signals, () => void][] = [
    ["SIGHUP", clamdLog ? reopen : reload],
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

/**
 * Takes clamd.conf's values for every option not given on the command line (commander's
 * option value source tells which were).
 */
function applyConf(cmd: Command, o: Opts, c: ClamdSettings): void {
  const fromCli = (k: string) => cmd.getOptionValueSource(k) === "cli";
  const put = (k: keyof Opts, v: string | undefined) => {
    if (v !== undefined && !fromCli(k)) (o as unknown as Record<string, unknown>)[k] = v;
  };
  if (!o.tcp.length && !o.socket.length) {
    if (!c.tcp.length && !c.socket)
      throw new DaemonError(
        "BAD_CONFIG",
        "the configuration defines no socket: set LocalSocket and/or TCPSocket (as clamd requires), or give --socket/--tcp",
      );
    o.tcp = c.tcp;
    o.socket = c.socket ? [c.socket] : [];
  }
  if (!o.database.length && !o.rules.length) {
    // clamd's DatabaseDirectory, /var/lib/clamav when the file does not say
    o.database = [c.databaseDirectory ?? "/var/lib/clamav"];
  }
  const n = (v: number | undefined) => (v === undefined ? undefined : String(v));
  put("streamMaxLength", n(c.streamMaxLength));
  put("maxThreads", n(c.maxThreads));
  put("maxQueue", n(c.maxQueue));
  put("readTimeout", n(c.readTimeout));
  put("commandReadTimeout", n(c.commandReadTimeout));
  put("idleTimeout", n(c.idleTimeout));
  put("maxFilesize", n(c.maxFileSize));
  put("maxScansize", n(c.maxScanSize));
  put("maxRecursion", n(c.maxRecursion));
  put("maxFiles", n(c.maxFiles));
  put("maxScantime", n(c.maxScanTime));
  put("spoolDir", c.tempDir);
  if (c.alertExceedsMax !== undefined && !fromCli("alertExceedsMax")) o.alertExceedsMax = c.alertExceedsMax;
}
