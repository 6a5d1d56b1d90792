/**
 * `vigil scan [OPTIONS] PATH...`: the on-demand scanner. Compiles the rules once (built-in
 * starter rules + --rules), scans the paths on a worker pool, prints clamscan-style lines
 * (or json/ndjson/SARIF), a summary on stderr, optionally quarantines what it finds, and
 * exits 0 (clean), 1 (found; wins over errors) or 2 (errors). Ctrl-C stops with a partial
 * summary; a second Ctrl-C exits at once.
 */
import { createWriteStream } from "node:fs";
import { join, resolve } from "node:path";
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
  signatureSourceNote,
  useBuiltin,
} from "../options.js";
import { paint, Progress, useColor } from "../progress.js";
import {
  buildSignatures,
  defaultJobs,
  printable,
  Quarantine,
  reportWriter,
  ScanCache,
  Scanner,
  type ScannerError,
  ScanStats,
  summaryText,
  walk,
  type FileResult,
  type Limits,
  type ReportFormat,
} from "@vigil/scanner";
import { fail, Output } from "../fail.js";
import { feedRuleDirs } from "../feed-dirs.js";
import { VERSION } from "../version.js";

export const summary = "scan files and directories for malware (clamscan-like; archives, quarantine, json/sarif)";

const EXIT_HELP = `
Exit codes:
  0  nothing found
  1  something found (wins over errors)
  2  errors (unreadable files, bad options, rules that do not compile)
  130 interrupted with nothing found

Sizes accept K, M, G suffixes (e.g. --max-filesize 25M).`;

function program(): Command {
  return limitOptions(signatureOptions(new Command("vigil scan")), { archives: true })
    .description("Scan files and directories (recursively) for malware. '-' scans standard input.")
    .argument("<paths...>", "files or directories to scan, or - for standard input")
    .option("-r, --recursive", "descend into directories (the default; accepted for clamscan/yara habits)")
    .option("--no-recursive", "scan only the files directly inside directory arguments")
    .option("--max-depth <n>", "directory levels to descend below each argument")
    .option("--exclude <glob>", "skip files and directories matching the glob (repeatable)", collect, [])
    .option("--exclude-regex <re>", "skip paths matching the regular expression (repeatable)", collect, [])
    .option("--include <glob>", "scan only files matching the glob (repeatable)", collect, [])
    .option(
      "--include-regex <re>",
      "scan only files whose path matches the regular expression (repeatable)",
      collect,
      [],
    )
    .option("--follow-symlinks", "follow symbolic links inside directories (loops are detected)")
    .option("--one-file-system", "do not cross into other file systems")
    .option("-j, --jobs <n>", `worker threads (default: one per core, here ${defaultJobs()})`)
    .option("--max-ratio <n>", "largest expansion ratio of an archive member before it is a bomb", "250")
    .option(
      "-z, --allmatch",
      "report every detection in a file (as clamscan -z); without it, the first one clamscan would report, and the file is not scanned further",
    )
    .option(
      "--detect-pua",
      "also load the potentially-unwanted-application databases (.hdu .hsu .mdu .msu .ndu .ldu), as clamscan --detect-pua",
    )
    .option("--alert-exceeds-max", "report limit overruns as detections (Heuristics.Limits.Exceeded.*)")
    .option("--no-cache", "rescan files even if unchanged since a clean scan with the same rules")
    .option("--cache-file <file>", "scan cache location")
    .option("-a, --all", "also print clean files (path: OK) and skipped entries")
    .option("-i, --infected", "print only infected files")
    .addOption(
      new Option("-f, --format <format>", "output format").choices(["text", "json", "ndjson", "sarif"]).default("text"),
    )
    .option("-o, --output <file>", "write the report to a file instead of standard output")
    .option("-q, --quiet", "print nothing but the report (no summary, no progress)")
    .option("--no-progress", "do not draw the progress line")
    .option("--no-summary", "do not print the summary")
    .option("--quarantine", "move detected files into the quarantine vault")
    .option("--quarantine-dir <dir>", "quarantine vault (implies --quarantine)")
    .addHelpText("after", EXIT_HELP)
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });
}

interface Opts {
  rules: string[];
  feeds?: boolean;
  database: string[];
  clamavTrustKey: string[];
  builtin?: boolean;
  recursive: boolean;
  maxDepth?: string;
  exclude: string[];
  excludeRegex: string[];
  include: string[];
  includeRegex: string[];
  followSymlinks?: boolean;
  oneFileSystem?: boolean;
  jobs?: string;
  maxFilesize: string;
  maxScansize: string;
  maxScantime: string;
  maxFiles: string;
  maxRecursion: string;
  maxRatio: string;
  alertExceedsMax?: boolean;
  allmatch?: boolean;
  detectPua?: boolean;
  phishingSigs?: string | boolean;
  phishingScanUrls?: string | boolean;
  alertPhishingSsl?: boolean;
  alertPhishingCloak?: boolean;
  cache: boolean;
  cacheFile?: string;
  all?: boolean;
  infected?: boolean;
  format: ReportFormat;
  output?: string;
  quiet?: boolean;
  progress: boolean;
  summary: boolean;
  quarantine?: boolean;
  quarantineDir?: string;
}

export async function run(args: string[]): Promise<number> {
  const cmd = program();
  const exit = parseOrExit(cmd, args);
  if (exit !== undefined) return exit;
  const o = cmd.opts<Opts>();
  const paths = cmd.args;
  try {
    return await scan(paths, o);
  } catch (err) {
    return fail("scan", err);
  }
}

async function scan(paths: string[], o: Opts): Promise<number> {
  const limits: Limits = {
    maxFileSize: parseSize(o.maxFilesize),
    maxScanSize: parseSize(o.maxScansize),
    maxFiles: parseCount(o.maxFiles, "--max-files"),
    maxRecursion: parseCount(o.maxRecursion, "--max-recursion"),
    maxRatio: parseCount(o.maxRatio, "--max-ratio"),
    ratioFloor: 1024 * 1024,
  };
  const jobs = o.jobs !== undefined ? parseCount(o.jobs, "--jobs") : defaultJobs();
  const maxDepth = o.maxDepth !== undefined ? parseCount(o.maxDepth, "--max-depth") : undefined;
  const stats = new ScanStats();
  const databases = resolveDatabases(o);
  const feedRules = o.feeds !== false ? feedRuleDirs() : [];
  const builtin = useBuiltin({ ...o, database: databases });
  if (!o.quiet && databases.length && !o.database.length)
    process.stderr.write(`vigil: using ClamAV's databases in ${databases[0]}\n`);
  const { detector, spec, warnings } = buildSignatures({
    builtin,
    rules: [...o.rules, ...feedRules],
    databases,
    pua: !!o.detectPua,
    phishing: phishingOptions(o),
    ...(o.clamavTrustKey.length ? { clamavTrustKeys: o.clamavTrustKey.map((k) => resolve(k)) } : {}),
    timeoutMs: parseCount(o.maxScantime, "--max-scantime"),
    ...(o.cache ? { cacheDir: join(cacheDir(), "compiled") } : {}),
  });
  if (!o.quiet) for (const w of warnings.slice(0, 20)) process.stderr.write(`vigil: warning: ${w.message}\n`);
  if (!o.quiet && warnings.length > 20)
    process.stderr.write(`vigil: warning: ${warnings.length - 20} more database warnings\n`);
  const contentOpts = { limits, alertExceedsMax: o.alertExceedsMax, allMatch: !!o.allmatch };
  let cache: ScanCache | undefined;
  if (o.cache) {
    const probe = contentOpts;
    cache = new ScanCache(o.cacheFile ?? join(cacheDir(), "scan-cache.bin"), Scanner.cacheVersion(detector, probe));
  }
  const scanner = new Scanner({ detector, spec, jobs, ...contentOpts, cache, lazyWorkers: true });
  const vault = o.quarantine || o.quarantineDir ? new Quarantine(o.quarantineDir ?? defaultQuarantineDir()) : undefined;

  // the report is written as results come, with back-pressure: the scan waits while the reader is slow
  const out = o.output ? new Output(createWriteStream(o.output), o.output) : new Output(process.stdout);
  const info = { toolVersion: VERSION, rulesVersion: detector.version, signatures: detector.signatures };
  const writer = reportWriter(o.format, info, { all: o.all, infectedOnly: o.infected });
  const color = !o.output && o.format === "text" && useColor(process.stdout);
  const showProgress = !o.quiet && o.progress && !!process.stderr.isTTY;
  const progress = showProgress ? new Progress(process.stderr, useColor(process.stderr)) : undefined;

  // Ctrl-C: first stops cleanly, second exits at once.
  const abort = new AbortController();
  let sigints = 0;
  const onSigint = () => {
    sigints++;
    if (sigints > 1) process.exit(130);
    abort.abort();
    stats.interrupted = true;
    progress?.clear();
    process.stderr.write("vigil scan: interrupted; finishing files in progress (Ctrl-C again to quit now)\n");
  };
  process.on("SIGINT", onSigint);

  const walkOpts = {
    recursive: o.recursive,
    maxDepth,
    exclude: o.exclude,
    excludeRegex: o.excludeRegex,
    include: o.include,
    includeRegex: o.includeRegex,
    followSymlinks: !!o.followSymlinks,
    oneFileSystem: !!o.oneFileSystem,
    signal: abort.signal,
  };
  if (progress) {
    // quick pre-count for the ETA, concurrently with the scan
    void (async () => {
      let n = 0;
      for await (const e of walk(
        paths.filter((p) => p !== "-"),
        { ...walkOpts, statFiles: false },
      ))
        if (e.kind === "file") n++;
      progress.setTotal(n + (paths.includes("-") ? 1 : 0));
    })().catch(() => undefined);
  }

  const handle = (r: FileResult): Promise<void> | undefined => {
    stats.add(r);
    if (vault && r.detections.length && r.stat) {
      try {
        const e = vault.add(r.path, {
          detections: [...new Set(r.detections.map((d) => d.name))],
          rulesVersion: detector.version,
        });
        if (o.format === "text" && !o.quiet)
          process.stderr.write(`${printable(r.path)}: moved to quarantine as ${e.id}\n`);
      } catch (err) {
        stats.errors++;
        r.errors.push({
          code: (err as ScannerError).code ?? "QUARANTINE_FAILED",
          path: r.path,
          message: (err as Error).message,
        });
      }
    }
    let text = writer.file(r);
    if (color && text)
      text = text.replace(/ FOUND$/gm, paint(true, 31, " FOUND")).replace(/ ERROR$/gm, paint(true, 33, " ERROR"));
    if (text && progress && !o.output) {
      // keep result lines and the progress line apart on the terminal
      progress.clear();
      const wait = out.write(text);
      progress.update(r.path, r.size, r.detections.length);
      progress.draw();
      return wait;
    }
    progress?.update(r.path, r.size, r.detections.length);
    return out.write(text);
  };

  try {
    for await (const ev of scanner.scan(paths, { ...walkOpts })) {
      let wait: Promise<void> | undefined;
      if (ev.type === "file") wait = handle(ev.result);
      else if (ev.type === "dir") stats.dirs++;
      else {
        stats.skipped++;
        wait = out.write(writer.skipped?.(ev.path, ev.reason) ?? "");
      }
      if (wait) await wait;
    }
  } finally {
    process.off("SIGINT", onSigint);
    await scanner.close();
    try {
      cache?.save();
    } catch {
      /* a cache we cannot write only costs time */
    }
  }
  stats.end = new Date();
  progress?.clear();
  await out.write(writer.end(stats));
  await out.end();
  if (!o.quiet && o.summary) {
    process.stderr.write(summaryText(stats, { signatures: detector.signatures, engineVersion: `vigil ${VERSION}` }));
    const note = signatureSourceNote({ ...o, database: databases, feedRules }, builtin);
    if (note) process.stderr.write(note);
  }
  if (stats.interrupted && !stats.infected) return 130;
  return stats.exitCode();
}
