/**
 * `vigil yara`: a drop-in for the `yara` command (same flags, output byte for byte, exit codes
 * 0 on success and 1 on error), plus `vigil yara compile RULES... -o OUT` (like yarac) whose
 * output `vigil yara -C OUT TARGET` loads, and yara-x's tools: `vigil yara check`, `fmt` and
 * `dump` (../yara/tools.ts).
 */
import { readFileSync, readdirSync, lstatSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import {
  builtinModules,
  compile,
  formatModuleData,
  CompileError,
  loadRules,
  LoadError,
  type CompiledRules,
  type ExternalValue,
  type ScanOptions,
  type SourceUnit,
  type RuleMatch,
  type ProfileRow,
} from "@vigil/engine";
import { formatRuleLine, formatStringLines, formatYaraDiagnostic } from "../yara/format.js";
import { scanOneFile, type ScanOutcome } from "../yara/scan-file.js";
import { runCheck, runDump, runFmt, ToolUsageError } from "../yara/tools.js";
import { Output } from "../fail.js";
import { fsPath, hasRawBytes, pathFromBytes, pathToBytes } from "@vigil/scanner/paths";
import { VERSION } from "../version.js";

export const summary =
  "scan with YARA rules: a drop-in for the yara command (and 'vigil yara compile', 'check', 'fmt', 'dump')";

const HELP = `YARA-compatible scanner (Vigil ${VERSION}).
Usage: vigil yara [OPTION]... [NAMESPACE:]RULES_FILE... FILE | DIR
       vigil yara compile [NAMESPACE:]RULES_FILE... -o OUTPUT
       vigil yara check RULES_FILE|DIR...    compile and lint, with diagnostics (see check --help)
       vigil yara fmt [--check] RULES_FILE|DIR...   format rule files (see fmt --help)
       vigil yara dump [-m MODULE] FILE      module output for FILE, without rules

  -C,  --compiled-rules                    load compiled rules
  -c,  --count                             print only number of matches
  -d,  --define=VAR=VALUE                  define external variable
       --fail-on-warnings                  fail on warnings
  -f,  --fast-scan                         fast matching mode (accepted; no effect)
  -h,  --help                              show this help and exit
  -i,  --identifier=IDENTIFIER             print only rules named IDENTIFIER
  -l,  --max-rules=NUMBER                  abort scanning after matching a NUMBER of rules
       --max-strings-per-rule=NUMBER       set maximum number of strings per rule (default=10000)
  -x,  --module-data=MODULE=FILE           pass FILE's content as extra data to MODULE
  -n,  --negate                            print only not satisfied rules (negate)
  -N,  --no-follow-symlinks                do not follow symlinks when scanning
  -w,  --no-warnings                       disable warnings
  -m,  --print-meta                        print metadata
  -D,  --print-module-data                 print module data
  -e,  --print-namespace                   print rules' namespace
  -s,  --print-strings                     print matching strings
  -L,  --print-string-length               print length of matched strings
  -S,  --print-stats                       print rules' statistics
       --profile                           print the slowest strings of the scan, with their rules (yara-x's --profiling; scans in one thread)
  -X,  --print-xor-key                     print xor key and plaintext of matched strings
  -g,  --print-tags                        print tags
  -r,  --recursive                         recursively search directories
       --scan-list                         scan files listed in FILE, one per line
  -z,  --skip-larger=NUMBER                skip files larger than the given size when scanning a directory
  -k,  --stack-size=SLOTS                  accepted for compatibility; no effect
  -t,  --tag=TAG                           print only rules tagged as TAG
  -p,  --threads=NUMBER                    use the specified NUMBER of threads to scan a directory
  -a,  --timeout=SECONDS                   abort scanning after the given number of SECONDS
  -v,  --version                           show version information
`;

interface Opts {
  compiled: boolean;
  count: boolean;
  defines: Array<[string, string]>;
  failOnWarnings: boolean;
  identifiers: string[];
  maxRules?: number;
  maxStrings: number;
  moduleData: Array<[string, string]>;
  negate: boolean;
  noFollow: boolean;
  noWarnings: boolean;
  meta: boolean;
  moduleDump: boolean;
  namespace: boolean;
  strings: boolean;
  length: boolean;
  stats: boolean;
  profile: boolean;
  xor: boolean;
  tags: boolean;
  recursive: boolean;
  scanList: boolean;
  skipLarger?: number;
  tagFilter: string[];
  threads: number;
  timeout?: number;
  output?: string;
  positionals: string[];
}

const SHORT_WITH_VALUE = new Set(["d", "i", "l", "x", "t", "p", "a", "z", "k", "o"]);
const LONG: Record<string, [keyof Opts | "help" | "version" | "fast" | "stack", boolean]> = {
  "compiled-rules": ["compiled", false],
  count: ["count", false],
  define: ["defines", true],
  "fail-on-warnings": ["failOnWarnings", false],
  "fast-scan": ["fast", false],
  help: ["help", false],
  identifier: ["identifiers", true],
  "max-rules": ["maxRules", true],
  "max-strings-per-rule": ["maxStrings", true],
  "module-data": ["moduleData", true],
  negate: ["negate", false],
  "no-follow-symlinks": ["noFollow", false],
  "no-warnings": ["noWarnings", false],
  "print-meta": ["meta", false],
  "print-module-data": ["moduleDump", false],
  "print-namespace": ["namespace", false],
  "print-strings": ["strings", false],
  "print-string-length": ["length", false],
  "print-stats": ["stats", false],
  profile: ["profile", false],
  "print-xor-key": ["xor", false],
  "print-tags": ["tags", false],
  recursive: ["recursive", false],
  "scan-list": ["scanList", false],
  "skip-larger": ["skipLarger", true],
  "stack-size": ["stack", true],
  tag: ["tagFilter", true],
  threads: ["threads", true],
  timeout: ["timeout", true],
  version: ["version", false],
  output: ["output", true],
};
const SHORT: Record<string, string> = {
  C: "compiled-rules",
  c: "count",
  d: "define",
  f: "fast-scan",
  h: "help",
  i: "identifier",
  l: "max-rules",
  x: "module-data",
  n: "negate",
  N: "no-follow-symlinks",
  w: "no-warnings",
  m: "print-meta",
  D: "print-module-data",
  e: "print-namespace",
  s: "print-strings",
  L: "print-string-length",
  S: "print-stats",
  X: "print-xor-key",
  g: "print-tags",
  r: "recursive",
  z: "skip-larger",
  k: "stack-size",
  t: "tag",
  p: "threads",
  a: "timeout",
  v: "version",
  o: "output",
};

class UsageError extends Error {}
/** The --scan-list file itself cannot be read (yara's message and exit code 1). */
class ListError extends Error {}

function parseArgs(args: string[]): Opts | "help" | "version" {
  const o: Opts = {
    compiled: false,
    count: false,
    defines: [],
    failOnWarnings: false,
    identifiers: [],
    maxStrings: 10000,
    moduleData: [],
    negate: false,
    noFollow: false,
    noWarnings: false,
    meta: false,
    moduleDump: false,
    namespace: false,
    strings: false,
    length: false,
    stats: false,
    profile: false,
    xor: false,
    tags: false,
    recursive: false,
    scanList: false,
    tagFilter: [],
    threads: 1,
    positionals: [],
  };
  let special: "help" | "version" | undefined;
  const set = (long: string, value: string | undefined) => {
    const spec = LONG[long];
    if (!spec) throw new UsageError(`unknown option \`--${long}\``);
    const [key, takesValue] = spec;
    if (takesValue && value === undefined) throw new UsageError(`option \`--${long}\` requires an argument`);
    const num = (v: string) => {
      const n = Number(v);
      if (!Number.isFinite(n)) throw new UsageError(`invalid number '${v}' for --${long}`);
      return n;
    };
    const pair = (v: string, sep = "=") => {
      const k = v.indexOf(sep);
      if (k <= 0) throw new UsageError(`invalid value '${v}' for --${long}: expected NAME=VALUE`);
      return [v.slice(0, k), v.slice(k + 1)] as [string, string];
    };
    switch (key) {
      case "help":
        special = "help";
        break;
      case "version":
        special ??= "version";
        break;
      case "fast":
      case "stack":
        break;
      case "defines":
        o.defines.push(pair(value!));
        break;
      case "moduleData":
        o.moduleData.push(pair(value!));
        break;
      case "identifiers":
        o.identifiers.push(value!);
        break;
      case "tagFilter":
        o.tagFilter.push(value!);
        break;
      case "maxRules":
        o.maxRules = num(value!);
        break;
      case "maxStrings":
        o.maxStrings = num(value!);
        break;
      case "skipLarger":
        o.skipLarger = num(value!);
        break;
      case "threads":
        o.threads = Math.max(1, Math.min(32, num(value!)));
        break;
      case "timeout":
        o.timeout = num(value!);
        break;
      case "output":
        o.output = value!;
        break;
      default:
        (o as unknown as Record<string, boolean>)[key] = true;
    }
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") {
      o.positionals.push(...args.slice(i + 1));
      break;
    }
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const spec = LONG[name];
      let value = eq < 0 ? undefined : a.slice(eq + 1);
      if (spec?.[1] && value === undefined) value = args[++i];
      set(name, value);
    } else if (a.startsWith("-") && a.length > 1) {
      for (let k = 1; k < a.length; k++) {
        const ch = a[k]!;
        const long = SHORT[ch];
        if (!long) throw new UsageError(`unknown option \`-${ch}\``);
        if (SHORT_WITH_VALUE.has(ch)) {
          const rest = a.slice(k + 1);
          set(long, rest !== "" ? rest.replace(/^=/, "") : args[++i]);
          break;
        }
        set(long, undefined);
      }
    } else o.positionals.push(a);
  }
  return special ?? o;
}

function parseExternal(value: string): ExternalValue {
  if (value === "true") return true;
  if (value === "false") return false;
  if (/^-?(0x[0-9a-fA-F]+|\d+)$/.test(value)) {
    const b = BigInt(value);
    return b >= -9007199254740991n && b <= 9007199254740991n ? Number(b) : b;
  }
  if (/^-?\d+\.\d+$/.test(value)) return Number(value);
  return value;
}

function ruleUnits(files: string[]): SourceUnit[] {
  return files.map((spec) => {
    // NAMESPACE:FILE, but not a Windows-style drive letter or a file that exists as written
    const k = spec.indexOf(":");
    let ns: string | undefined,
      path = spec;
    if (k > 0) {
      let exists = false;
      try {
        statSync(spec);
        exists = true;
      } catch {
        /* not a plain path */
      }
      if (!exists) {
        ns = spec.slice(0, k);
        path = spec.slice(k + 1);
      }
    }
    const source = readFileSync(path).toString("latin1");
    return ns !== undefined ? { namespace: ns, source, path } : { source, path };
  });
}

function loadRuleSet(
  o: Opts,
  ruleFiles: string[],
  externals: Record<string, ExternalValue>,
): { rules: CompiledRules; warnings: string[] } {
  if (o.compiled) {
    if (ruleFiles.length !== 1) throw new UsageError("can't accept multiple rules files if they are precompiled");
    let raw: Uint8Array;
    try {
      raw = readFileSync(ruleFiles[0]!);
    } catch {
      throw new Error(`error: could not open file: ${ruleFiles[0]}`);
    }
    try {
      if (raw.length >= 4 && Buffer.from(raw.subarray(0, 4)).toString("latin1") === "YARA")
        throw new Error(
          `error: ${ruleFiles[0]}: compiled by yarac (YARA's compiler), not by Vigil: Vigil cannot load yarac's format; ` +
            `recompile the source rules with 'vigil yara compile RULES_FILE... -o ${ruleFiles[0]}', or pass the source rules without -C`,
        );
      return { rules: loadRules(raw), warnings: [] };
    } catch (e) {
      if (e instanceof LoadError) throw new Error(`error: ${ruleFiles[0]}: ${e.message}`);
      throw e;
    }
  }
  let units: SourceUnit[];
  try {
    units = ruleUnits(ruleFiles);
  } catch (e) {
    throw new Error(`error: could not open file: ${(e as NodeJS.ErrnoException).path ?? ruleFiles.join(" ")}`);
  }
  const rules = compile(units, { externals });
  const warnings = rules.warnings.map((w) => formatYaraDiagnostic(w, "warning"));
  for (const r of rules.data.rules) {
    if (r.strings.length > o.maxStrings)
      throw new Error(`error: rule "${r.name}" has too many strings (limit ${o.maxStrings})`);
  }
  return { rules, warnings };
}

function listTargets(target: string, o: Opts): string[] {
  if (o.scanList) {
    // one path per line, as bytes (a name need not be UTF-8)
    let raw: Buffer;
    try {
      raw = readFileSync(fsPath(target));
    } catch {
      throw new ListError(`error: could not open file "${target}".`);
    }
    const text = pathFromBytes(raw);
    return text.split(/\r?\n/).filter((l) => l.trim() !== "");
  }
  let st;
  try {
    st = statSync(fsPath(target));
  } catch {
    return [target];
  } // reported as "could not open file"
  if (!st.isDirectory()) return [target];
  const out: string[] = [];
  const seen = new Set<string>();
  const walk = (dir: string) => {
    let real: string;
    // a directory is known by device and inode (realpathSync cannot take a name that is not UTF-8)
    try {
      const st = statSync(fsPath(dir));
      real = `${st.dev}:${st.ino}`;
    } catch {
      return;
    }
    if (seen.has(real)) return;
    seen.add(real);
    // names as bytes: one that is not valid UTF-8 is kept exactly (see @vigil/scanner's fsPath)
    let names: Buffer[];
    try {
      names = readdirSync(fsPath(dir), { encoding: "buffer" });
    } catch {
      return;
    }
    for (const name of names) {
      const p = join(dir, pathFromBytes(name));
      let ls;
      try {
        ls = lstatSync(fsPath(p));
      } catch {
        continue;
      }
      if (ls.isSymbolicLink()) {
        if (o.noFollow) continue;
        try {
          ls = statSync(fsPath(p));
        } catch {
          continue;
        }
      }
      if (ls.isDirectory()) {
        if (o.recursive) walk(p);
      } else if (ls.isFile()) out.push(p);
    }
  };
  walk(target);
  return out;
}

/** Output is written in pieces of about this size, each awaited (back-pressure). */
const CHUNK = 64 * 1024;

export async function run(args: string[]): Promise<number> {
  const output = new Output(process.stdout);
  const out = (s: string) => void output.write(s);
  // a path holding bytes that are not UTF-8 is written as those bytes, as yara does
  const err = (s: string) => process.stderr.write(hasRawBytes(s) ? pathToBytes(s) : s);
  const tool = { check: runCheck, fmt: runFmt, dump: runDump }[args[0] ?? ""];
  if (tool) {
    try {
      return tool(args.slice(1), out, err);
    } catch (e) {
      if (e instanceof ToolUsageError) {
        err(`${e.message}\n`);
        return 1;
      }
      throw e;
    } finally {
      await output.end();
    }
  }
  let o: Opts | "help" | "version";
  const isCompile = args[0] === "compile";
  try {
    o = parseArgs(isCompile ? args.slice(1) : args);
  } catch (e) {
    if (e instanceof UsageError) {
      // one line, as yara prints it; the help is one --help away
      err(`${e.message}\n`);
      return 1;
    }
    throw e;
  }
  if (o === "help") {
    out(HELP);
    return 0;
  }
  if (o === "version") {
    out(`4.5.0 (vigil ${VERSION})\n`);
    return 0;
  }

  const externals: Record<string, ExternalValue> = {};
  for (const [k, v] of o.defines) externals[k] = parseExternal(v);

  if (isCompile) {
    if (!o.output || o.positionals.length === 0) {
      err("usage: vigil yara compile [NAMESPACE:]RULES_FILE... -o OUTPUT\n");
      return 1;
    }
    try {
      const { rules, warnings } = loadRuleSet({ ...o, compiled: false }, o.positionals, externals);
      if (!o.noWarnings) for (const w of warnings) err(w + "\n");
      if (o.failOnWarnings && warnings.length) return 1;
      writeFileSync(o.output, rules.serialize());
      return 0;
    } catch (e) {
      return reportCompileFailure(e, err);
    }
  }

  if (o.positionals.length < 2) {
    err(
      "vigil yara: wrong number of arguments\nUsage: vigil yara [OPTION]... [NAMESPACE:]RULES_FILE... FILE | DIR\n\nTry `--help` for more options\n",
    );
    return 1;
  }
  const target = o.positionals[o.positionals.length - 1]!;
  const ruleFiles = o.positionals.slice(0, -1);
  let rules: CompiledRules;
  try {
    const loaded = loadRuleSet(o, ruleFiles, externals);
    rules = loaded.rules;
    if (!o.noWarnings) for (const w of loaded.warnings) err(w + "\n");
    if (o.failOnWarnings && loaded.warnings.length) return 1;
  } catch (e) {
    return reportCompileFailure(e, err);
  }
  if (o.stats) out(formatStats(rules));
  if (/^\d+$/.test(target)) {
    let isFile = false;
    try {
      statSync(fsPath(target));
      isFile = true;
    } catch {
      /* a PID */
    }
    if (!isFile) {
      err(`error scanning ${target}: scanning process memory is not supported by vigil\n`);
      return 1;
    }
  }

  const moduleData: Record<string, Uint8Array> = {};
  for (const [mod, file] of o.moduleData) {
    try {
      moduleData[mod] = readFileSync(file);
    } catch {
      err(`error: could not open file "${file}"\n`);
      return 1;
    }
  }
  const scanOptions: ScanOptions & { skipLarger?: number; keepModuleData?: boolean } = {
    externals,
    reportNonMatching: o.negate,
    matchData: o.strings || o.length,
    strings: o.strings || o.length,
    moduleData,
    log: (m) => out(m + "\n"),
  };
  if (o.timeout !== undefined) scanOptions.timeoutMs = o.timeout * 1000;
  if (o.maxRules !== undefined) scanOptions.maxRules = o.maxRules;
  // --profile: one profile for the whole scan, so the scan runs in this thread
  const profile = o.profile ? rules.newProfile() : undefined;
  if (profile) {
    scanOptions.profile = profile;
    o.threads = 1;
  }

  let isDir = false;
  try {
    isDir = statSync(fsPath(target)).isDirectory();
  } catch {
    /* reported below */
  }
  let files: string[];
  try {
    files = listTargets(target, o);
  } catch (e) {
    if (e instanceof ListError) {
      err(e.message + "\n");
      return 1;
    }
    throw e;
  }
  if (isDir && o.skipLarger !== undefined) scanOptions.skipLarger = o.skipLarger;
  const hexIds = new Map<string, Set<string>>(); // "ns\0rule" -> hex string identifiers
  for (const r of rules.data.rules) {
    const ids = new Set<string>();
    for (const sid of r.strings) if (rules.data.strings[sid]!.kind === "hex") ids.add(rules.data.strings[sid]!.id);
    hexIds.set(r.namespace + "\0" + r.name, ids);
  }
  let failed = false;
  const printOutcome = async (path: string, outcome: ScanOutcome): Promise<void> => {
    if (outcome.ok === "skipped") return;
    if (outcome.ok === false) {
      err(outcome.error + "\n");
      // as yara: a file of a --scan-list that cannot be scanned is reported, and the exit code stays 0
      if (!o.scanList) failed = true;
      return;
    }
    const result = outcome.result;
    let text = "";
    for (const line of result.console) text += line + "\n"; // console module output (worker mode)
    if (o.moduleDump) {
      for (const [name, root] of Object.entries(result.moduleData)) {
        const mod = builtinModules.get(name);
        if (mod) text += formatModuleData(mod, root);
      }
    }
    const pick = (m: { rule: string; tags: string[] }) =>
      (o.identifiers.length === 0 || o.identifiers.includes(m.rule)) &&
      (o.tagFilter.length === 0 || m.tags.some((t) => o.tagFilter.includes(t)));
    const list = o.negate ? (result.nonMatching ?? []) : result.matches;
    const shown = list.filter(pick);
    if (o.count) {
      text += isDir || o.scanList ? `${path}: ${shown.length}\n` : `${shown.length}\n`;
    } else {
      for (const m of shown) {
        text += formatRuleLine(m, path, { namespace: o.namespace, tags: o.tags, meta: o.meta }) + "\n";
        if ((o.strings || o.length) && !o.negate && "strings" in m) {
          for (const l of formatStringLines(m as RuleMatch, hexIds.get(m.namespace + "\0" + m.rule) ?? new Set(), {
            length: o.length,
            xor: o.xor,
            data: o.strings,
          })) {
            text += l + "\n";
            if (text.length >= CHUNK) {
              await output.write(text);
              text = "";
            }
          }
        }
        if (text.length >= CHUNK) {
          await output.write(text);
          text = "";
        }
      }
    }
    await output.write(text);
    for (const w of result.warnings) if (!o.noWarnings) err(`warning: ${path}: ${w}\n`);
  };

  // one file's output at a time, in order of completion; the next file waits for the reader
  let printed: Promise<void> = Promise.resolve();
  const print = (path: string, outcome: ScanOutcome) => (printed = printed.then(() => printOutcome(path, outcome)));
  if (o.threads > 1 && files.length > 1) {
    await scanWithWorkers(
      rules,
      files,
      o.threads,
      { ...scanOptions, log: undefined, keepModuleData: o.moduleDump },
      print,
    );
  } else {
    for (const f of files) await print(f, scanOneFile(rules, f, scanOptions));
  }
  await printed;
  await output.end();
  if (profile) err(formatProfile(rules.profileReport(profile, 20)));
  return failed ? 1 : 0;
}

/** `--profile`: the slowest strings of the scan (time, verifications at atom hits, regex starts tried). */
function formatProfile(rows: ProfileRow[]): string {
  if (rows.length === 0) return "profile: no string needed verifying\n";
  const head = `${"ms".padStart(10)} ${"verifications".padStart(13)} ${"starts".padStart(10)}  rule:string\n`;
  return (
    "profile: slowest strings of this scan\n" +
    head +
    rows
      .map(
        (r) =>
          `${r.ms.toFixed(1).padStart(10)} ${String(r.verifications).padStart(13)} ${String(r.starts).padStart(10)}  ${r.namespace}:${r.rule}:${r.string}\n`,
      )
      .join("")
  );
}

/** `-S`: yara prints statistics of its Aho-Corasick tables; Vigil prints those of its rule set. */
function formatStats(rules: CompiledRules): string {
  const strings = rules.data.strings;
  const count = (k: string) => strings.filter((s) => s.kind === k).length;
  const line = (label: string, v: number) => `${label.padEnd(35)}: ${v}\n`;
  return (
    line("number of rules", rules.data.rules.length) +
    line("number of strings", strings.length) +
    line("number of text strings", count("text")) +
    line("number of hex strings", count("hex")) +
    line("number of regular expressions", count("regex"))
  );
}

function reportCompileFailure(e: unknown, err: (s: string) => void): number {
  if (e instanceof CompileError) {
    for (const d of e.diagnostics) err(formatYaraDiagnostic(d, "error") + "\n");
    return 1;
  }
  if (e instanceof UsageError) {
    err(`${e.message}\n`);
    return 1;
  }
  if (e instanceof Error && e.message.startsWith("error")) {
    err(e.message + "\n");
    return 1;
  }
  throw e;
}

/**
 * Scans with `threads` threads: the main thread, which already holds the compiled rules,
 * scans too, and threads - 1 workers load the serialised rules. All take files from one queue.
 */
async function scanWithWorkers(
  rules: CompiledRules,
  files: string[],
  threads: number,
  options: ScanOptions & { skipLarger?: number; keepModuleData?: boolean },
  onResult: (path: string, outcome: ScanOutcome) => Promise<void>,
): Promise<void> {
  const serialized = rules.serialize();
  const workerUrl = new URL("../yara/worker.js", import.meta.url);
  const n = Math.min(threads - 1, files.length - 1);
  let next = 0;
  const { log: _log, ...cloneable } = options;
  const workers = Array.from(
    { length: n },
    () =>
      new Promise<void>((resolve, reject) => {
        const w = new Worker(fileURLToPath(workerUrl), { workerData: { rules: serialized, options: cloneable } });
        const feed = () => {
          if (next >= files.length) {
            w.postMessage(null);
            return;
          }
          const id = next++;
          w.postMessage({ id, path: files[id]! });
        };
        // a worker gets its next file once its last result is printed: a slow reader slows the scan
        w.on("message", (msg: { id: number; outcome: ScanOutcome }) => {
          onResult(files[msg.id]!, msg.outcome).then(feed, reject);
        });
        w.on("error", reject);
        w.on("exit", () => resolve());
        w.once("online", feed);
      }),
  );
  // the main thread's share, yielding between files so worker replies are handled
  while (next < files.length) {
    const id = next++;
    await onResult(files[id]!, scanOneFile(rules, files[id]!, options));
    await new Promise((r) => setImmediate(r));
  }
  await Promise.all(workers);
}
