/**
 * `vigil watch [OPTIONS] PATH...`: on-access scanning. Files created or changed under the
 * paths are scanned once their writes settle, with the same rules, limits, report formats and
 * quarantine as `vigil scan`; `--event-log FILE` appends every event as ndjson; the
 * ransomware heuristic raises `Vigil.Heuristic.Ransomware.MassEncryption` when many files are
 * rewritten into high-entropy content within seconds. Runs until Ctrl-C (or --duration);
 * exits 1 if anything was found, 2 on errors only, else 0.
 */
import { appendFileSync, createWriteStream } from "node:fs";
import { join } from "node:path";
import { Command, Option } from "commander";
import {
  cacheDir,
  collect,
  defaultQuarantineDir,
  limitOptions,
  parseCount,
  parseOrExit,
  parseSize,
  phishingOptions,
  resolveDatabases,
  signatureOptions,
  useBuiltin,
} from "../options.js";
import {
  buildSignatures,
  defaultJobs,
  printable,
  Quarantine,
  reportWriter,
  Scanner,
  ScanStats,
  WatchSession,
  DEFAULT_LIMITS,
  type ReportFormat,
  type WatchEvent,
} from "@vigil/scanner";
import { fail, Output } from "../fail.js";
import { feedRuleDirs } from "../feed-dirs.js";
import { VERSION } from "../version.js";

export const summary = "watch directories and scan files as they are written (on-access, ransomware heuristic)";

function program(): Command {
  return limitOptions(signatureOptions(new Command("vigil watch")), { archives: false })
    .description("Scan files as they are created or changed under PATHs.")
    .argument("<paths...>", "directories or files to watch")
    .option("--exclude <glob>", "ignore paths matching the glob (repeatable)", collect, [])
    .option("--exclude-regex <re>", "ignore paths matching the regular expression (repeatable)", collect, [])
    .option("--include <glob>", "scan only files matching the glob (repeatable)", collect, [])
    .option("--include-regex <re>", "scan only files matching the regular expression (repeatable)", collect, [])
    .option("-j, --jobs <n>", "worker threads", String(Math.min(2, defaultJobs())))
    .option("--settle <ms>", "quiet time after the last write before a file is scanned", "500")
    .addOption(
      new Option("-f, --format <format>", "report format").choices(["text", "json", "ndjson", "sarif"]).default("text"),
    )
    .option("-o, --output <file>", "write the report to a file")
    .option("-a, --all", "also report clean files")
    .option("--event-log <file>", "append every event (results, alerts, errors) as ndjson")
    .option("--quarantine", "move detected files into the quarantine vault")
    .option("--quarantine-dir <dir>", "quarantine vault (implies --quarantine)")
    .option("--no-ransomware", "turn off the ransomware heuristic")
    .option("--ransomware-files <n>", "files rewritten to high entropy within the window that raise the alert", "10")
    .option("--ransomware-window <ms>", "the heuristic's time window", "10000")
    .option("--duration <s>", "stop after this many seconds (default: until Ctrl-C)")
    .option("-q, --quiet", "no status messages on stderr")
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });
}

interface Opts {
  rules: string[];
  feeds?: boolean;
  database: string[];
  builtin?: boolean;
  exclude: string[];
  excludeRegex: string[];
  include: string[];
  includeRegex: string[];
  jobs: string;
  settle: string;
  maxFilesize: string;
  maxScansize: string;
  maxScantime: string;
  format: ReportFormat;
  output?: string;
  all?: boolean;
  eventLog?: string;
  quarantine?: boolean;
  quarantineDir?: string;
  ransomware: boolean;
  ransomwareFiles: string;
  ransomwareWindow: string;
  duration?: string;
  quiet?: boolean;
  phishingSigs?: string | boolean;
  phishingScanUrls?: string | boolean;
  alertPhishingSsl?: boolean;
  alertPhishingCloak?: boolean;
}

export async function run(args: string[]): Promise<number> {
  const cmd = program();
  const exit = parseOrExit(cmd, args);
  if (exit !== undefined) return exit;
  try {
    return await watch(cmd.args, cmd.opts<Opts>());
  } catch (err) {
    return fail("watch", err);
  }
}

async function watch(paths: string[], o: Opts): Promise<number> {
  const limits = { ...DEFAULT_LIMITS, maxFileSize: parseSize(o.maxFilesize), maxScanSize: parseSize(o.maxScansize) };
  const feedRules = o.feeds !== false ? feedRuleDirs() : [];
  const { detector, spec, warnings } = buildSignatures({
    builtin: useBuiltin({ ...o, database: resolveDatabases(o) }),
    rules: [...o.rules, ...feedRules],
    databases: resolveDatabases(o),
    phishing: phishingOptions(o),
    timeoutMs: parseCount(o.maxScantime, "--max-scantime"),
    cacheDir: join(cacheDir(), "compiled"),
  });
  if (!o.quiet) for (const w of warnings.slice(0, 20)) process.stderr.write(`vigil: warning: ${w.message}\n`);
  if (!o.quiet && warnings.length > 20)
    process.stderr.write(`vigil: warning: ${warnings.length - 20} more database warnings\n`);
  const scanner = new Scanner({ detector, spec, jobs: parseCount(o.jobs, "--jobs"), limits });
  const vault = o.quarantine || o.quarantineDir ? new Quarantine(o.quarantineDir ?? defaultQuarantineDir()) : undefined;
  const stats = new ScanStats();
  const info = { toolVersion: VERSION, rulesVersion: detector.version, signatures: detector.signatures };
  const writer = reportWriter(o.format, info, { all: o.all });
  // results come as files settle: no back-pressure to apply, but a failed output still ends the command
  const out = o.output ? new Output(createWriteStream(o.output, { flags: "a" }), o.output) : new Output(process.stdout);
  const log = (e: object) => {
    if (o.eventLog) appendFileSync(o.eventLog, JSON.stringify(e) + "\n");
  };
  const say = (s: string) => {
    if (!o.quiet) process.stderr.write(s);
  };

  const onEvent = (e: WatchEvent) => {
    if (e.type === "result") {
      const r = e.result;
      stats.add(r);
      let quarantined: string | undefined;
      if (vault && r.detections.length) {
        try {
          quarantined = vault.add(r.path, {
            detections: [...new Set(r.detections.map((d) => d.name))],
            rulesVersion: detector.version,
          }).id;
          say(`${printable(r.path)}: moved to quarantine as ${quarantined}\n`);
        } catch (err) {
          stats.errors++;
          r.errors.push({ code: "QUARANTINE_FAILED", path: r.path, message: (err as Error).message });
        }
      }
      const text = writer.file(r);
      void out.write(text);
      log({
        type: r.detections.length ? "detection" : r.errors.length ? "error" : "scanned",
        time: e.time,
        trigger: e.trigger,
        path: r.path,
        detections: r.detections.map((d) => ({ name: d.name, rule: d.rule, path: d.path })),
        errors: r.errors,
        incomplete: r.incomplete,
        ...(quarantined ? { quarantined } : {}),
      });
    } else if (e.type === "ransomware") {
      stats.infected++;
      const line =
        `${e.name} FOUND: ${e.files} files rewritten to high-entropy content within ${e.windowMs / 1000}s: ` +
        e.evidence
          .slice(0, 5)
          .map((x) => `${printable(x.path)} (${x.entropyBefore.toFixed(2)} -> ${x.entropyAfter.toFixed(2)})`)
          .join(", ") +
        (e.evidence.length > 5 ? `, and ${e.evidence.length - 5} more` : "") +
        "\n";
      if (o.format === "text") void out.write(line);
      else if (o.format === "ndjson") void out.write(JSON.stringify(e) + "\n");
      say(o.format === "text" ? "" : line);
      log(e);
    } else if (e.type === "watch-error") {
      stats.errors++;
      say(`vigil watch: ${e.message}\n`);
      log(e);
    } else {
      say(`vigil watch: watching ${paths.map(printable).join(", ")} (${detector.signatures} rules); Ctrl-C to stop\n`);
      log(e);
    }
  };

  const session = new WatchSession(scanner, paths, onEvent, {
    settleMs: parseCount(o.settle, "--settle"),
    exclude: o.exclude,
    excludeRegex: o.excludeRegex,
    include: o.include,
    includeRegex: o.includeRegex,
    ransomware: o.ransomware
      ? {
          minFiles: parseCount(o.ransomwareFiles, "--ransomware-files"),
          windowMs: parseCount(o.ransomwareWindow, "--ransomware-window"),
        }
      : false,
  });
  let stop!: () => void;
  const stopped = new Promise<void>((res) => {
    stop = res;
  });
  let sigints = 0;
  const onSig = () => {
    if (++sigints > 1) process.exit(130);
    stop();
  };
  process.on("SIGINT", onSig);
  process.on("SIGTERM", onSig);
  const timer = o.duration !== undefined ? setTimeout(stop, parseCount(o.duration, "--duration") * 1000) : undefined;
  try {
    await session.start();
    await stopped;
  } finally {
    if (timer) clearTimeout(timer);
    process.off("SIGINT", onSig);
    process.off("SIGTERM", onSig);
    await session.close();
    await scanner.close();
  }
  stats.end = new Date();
  await out.write(writer.end(stats));
  await out.end();
  say(`vigil watch: stopped; ${stats.files} files scanned, ${stats.infected} infected, ${stats.errors} errors\n`);
  return stats.exitCode();
}
