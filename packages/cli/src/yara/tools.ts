/**
 * yara-x's tooling under `vigil yara`: `check` (compile and lint rule files, diagnostics in
 * yara-x's layout), `fmt` (the canonical formatter of @vigil/engine, in place or --check) and
 * `dump` (module output for a file, without rules, like `yr dump`).
 */
import { readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  builtinModules,
  compile,
  CompileError,
  formatModuleData,
  formatSource,
  parse,
  type Diagnostic,
  type ExternalValue,
} from "@vigil/engine";

type Write = (s: string) => void;

/** Rule files named on the command line; directories are walked for .yar / .yara files. */
function ruleFiles(paths: string[]): string[] {
  const out: string[] = [];
  const walk = (p: string, top: boolean) => {
    let st;
    try {
      st = statSync(p);
    } catch (e) {
      throw new ToolUsageError(
        `error: could not open ${p} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      );
    }
    if (!st.isDirectory()) {
      if (top || /\.(yar|yara)$/i.test(p)) out.push(p);
      return;
    }
    for (const n of readdirSync(p).sort()) walk(join(p, n), false);
  };
  for (const p of paths) walk(p, true);
  return out;
}

/**
 * A diagnostic in yara-x's layout:
 *
 *   error[E_UNDEFINED_IDENTIFIER]: unknown field 'no_such_field' in 'pe'
 *    --> rules.yar:2:24
 *     |
 *   2 | rule a { condition: pe.no_such_field == 1 }
 *     |                        ^^^^^^^^^^^^^
 *     = help: ...
 */
export function formatCheckDiagnostic(d: Diagnostic, severity: "error" | "warning"): string {
  const gutter = " ".repeat(String(d.line).length);
  let out = `${severity}[${d.code}]: ${d.message}\n${gutter}--> ${d.path ?? "<source>"}:${d.line}:${d.column}\n`;
  if (d.sourceLine !== undefined) {
    const text = d.sourceLine.length > 160 ? d.sourceLine.slice(0, 160) + "..." : d.sourceLine;
    const caret = Math.min(Math.max(0, d.column - 1), text.length);
    const width = Math.max(1, Math.min(d.length ?? 1, text.length - caret));
    out += `${gutter} |\n${d.line} | ${text}\n${gutter} | ${" ".repeat(caret)}${"^".repeat(width)}\n`;
  }
  if (d.hint) out += `${gutter} = help: ${d.hint}\n`;
  return out;
}

function parseDefine(v: string): [string, ExternalValue] {
  const k = v.indexOf("=");
  if (k <= 0) throw new ToolUsageError(`invalid value '${v}' for --define: expected NAME=VALUE`);
  const s = v.slice(k + 1);
  const value: ExternalValue =
    s === "true"
      ? true
      : s === "false"
        ? false
        : /^-?\d+$/.test(s)
          ? Number(s)
          : /^-?\d+\.\d+$/.test(s)
            ? Number(s)
            : s;
  return [v.slice(0, k), value];
}

export class ToolUsageError extends Error {}

/** Splits `args` into options (with values where `withValue` says) and positionals. */
function options(args: string[], flags: Record<string, string>, withValue: Set<string>) {
  const opts: Record<string, string[]> = {};
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (a.startsWith("-") && a !== "-") {
      const eq = a.indexOf("=");
      const name = flags[eq < 0 ? a : a.slice(0, eq)];
      if (!name) throw new ToolUsageError(`unknown option \`${a}\``);
      let value: string | undefined;
      if (withValue.has(name)) {
        value = eq >= 0 ? a.slice(eq + 1) : args[++i];
        if (value === undefined) throw new ToolUsageError(`option \`${a}\` requires an argument`);
      }
      (opts[name] ??= []).push(value ?? "");
    } else positionals.push(a);
  }
  return { opts, positionals };
}

const CHECK_HELP = `Usage: vigil yara check [OPTION]... RULES_FILE|DIR...
Compiles and lints rule files, each on its own; prints diagnostics with file:line:column, the
source line and a caret, then one status line per file. Exit 1 when a file has errors.

  -d, --define=VAR=VALUE      define an external variable
  -w, --no-warnings           do not print warnings
      --fail-on-warnings      exit 1 when a file has warnings too
      --required-meta=NAME    lint: every rule must have this meta entry (repeatable)
      --rule-name-regexp=RE   lint: every rule name must match this regular expression
  -h, --help                  show this help
`;

export function runCheck(args: string[], out: Write, err: Write): number {
  const { opts, positionals } = options(
    args,
    {
      "-d": "define",
      "--define": "define",
      "-w": "quiet",
      "--no-warnings": "quiet",
      "--fail-on-warnings": "strict",
      "--required-meta": "meta",
      "--rule-name-regexp": "name",
      "-h": "help",
      "--help": "help",
    },
    new Set(["define", "meta", "name"]),
  );
  if (opts.help) {
    out(CHECK_HELP);
    return 0;
  }
  if (!positionals.length) throw new ToolUsageError("vigil yara check: no rule file given (see --help)");
  const externals = Object.fromEntries((opts.define ?? []).map(parseDefine));
  let nameRe: RegExp | undefined;
  if (opts.name) {
    try {
      nameRe = new RegExp(opts.name.at(-1)!);
    } catch (e) {
      throw new ToolUsageError(`invalid --rule-name-regexp: ${(e as Error).message}`);
    }
  }
  let failed = 0,
    warned = 0,
    files = 0;
  for (const path of ruleFiles(positionals)) {
    files++;
    let source: string;
    try {
      source = readFileSync(path).toString("latin1");
    } catch (e) {
      err(`error: could not read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
      out(`[ FAIL ] ${path}\n`);
      failed++;
      continue;
    }
    let errors: Diagnostic[] = [];
    let warnings: Diagnostic[] = [];
    try {
      warnings = compile([{ source, path }], { externals }).warnings;
    } catch (e) {
      if (!(e instanceof CompileError)) throw e;
      errors = e.diagnostics;
    }
    if (!errors.length) warnings = [...warnings, ...lint(source, path, opts.meta ?? [], nameRe)];
    for (const d of errors) out(formatCheckDiagnostic(d, "error") + "\n");
    if (!opts.quiet) for (const d of warnings) out(formatCheckDiagnostic(d, "warning") + "\n");
    const status = errors.length ? "FAIL" : warnings.length ? "WARN" : "PASS";
    out(`[ ${status} ] ${path}\n`);
    if (errors.length || (opts.strict && warnings.length)) failed++;
    if (warnings.length) warned++;
  }
  err(`${files} file(s) checked: ${failed} failed, ${warned} with warnings\n`);
  return failed ? 1 : 0;
}

/** The style lints the user asked for, on a file that compiles. */
function lint(source: string, path: string, meta: string[], nameRe: RegExp | undefined): Diagnostic[] {
  if (!meta.length && !nameRe) return [];
  const lines = source.split("\n");
  const out: Diagnostic[] = [];
  for (const r of parse(source, { path }).rules) {
    const text = lines[r.pos.line - 1] ?? "";
    const k = text.indexOf(r.name, r.pos.column - 1); // the caret goes under the rule's name
    const column = k >= 0 ? k + 1 : r.pos.column;
    const at = { path, rule: r.name, line: r.pos.line, column, sourceLine: text, length: k >= 0 ? r.name.length : 1 };
    if (nameRe && !nameRe.test(r.name))
      out.push({ ...at, code: "W_RULE_NAME", message: `rule name "${r.name}" does not match ${nameRe}` });
    for (const m of meta)
      if (!r.meta.some((x) => x.key === m))
        out.push({ ...at, code: "W_MISSING_META", message: `rule "${r.name}" has no meta entry "${m}"` });
  }
  return out;
}

const FMT_HELP = `Usage: vigil yara fmt [OPTION]... RULES_FILE|DIR...
Formats rule files in place (indentation, spacing, one string or meta entry per line); the
formatted file parses to the same rules. Comments are kept.

  -c, --check    change nothing; exit 1 if a file would change, listing it
      --stdout   print the formatted text instead of writing the file
  -h, --help     show this help
`;

export function runFmt(args: string[], out: Write, err: Write): number {
  const { opts, positionals } = options(
    args,
    { "-c": "check", "--check": "check", "--stdout": "stdout", "-h": "help", "--help": "help" },
    new Set(),
  );
  if (opts.help) {
    out(FMT_HELP);
    return 0;
  }
  if (!positionals.length) throw new ToolUsageError("vigil yara fmt: no rule file given (see --help)");
  let code = 0;
  for (const path of ruleFiles(positionals)) {
    let source: string;
    try {
      source = readFileSync(path).toString("latin1");
    } catch (e) {
      err(`error: could not read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})\n`);
      code = 1;
      continue;
    }
    let formatted: string;
    try {
      formatted = formatSource(source);
    } catch (e) {
      // a file that does not parse is left as it is
      const d = (e as { diagnostic?: Diagnostic }).diagnostic;
      if (!d) throw e;
      err(formatCheckDiagnostic({ ...d, path }, "error"));
      code = 1;
      continue;
    }
    if (opts.stdout) out(formatted);
    else if (formatted !== source) {
      if (opts.check) {
        out(`${path}: would be reformatted\n`);
        code = 1;
      } else writeFileSync(path, Buffer.from(formatted, "latin1"));
    }
  }
  return code;
}

/** Modules `dump` shows, each with the test that says the file is in its format. */
const DUMPED: Array<[string, (root: Record<string, unknown>) => boolean]> = [
  ["pe", (r) => r.is_pe === 1],
  ["dotnet", (r) => r.is_dotnet === 1],
  ["elf", (r) => r.type !== undefined],
  ["macho", (r) => r.magic !== undefined || r.fat_magic !== undefined],
  ["dex", (r) => r.header !== undefined],
];

const DUMP_HELP = `Usage: vigil yara dump [OPTION]... FILE
Prints what the modules see in FILE, without rules (as \`yr dump\`): by default every module
that recognises the file's format (${DUMPED.map(([m]) => m).join(", ")}).

  -m, --module=NAME   dump this module (repeatable), whether or not it recognises the file
      --json          print JSON instead of yara -D's layout
  -h, --help          show this help
`;

function toJson(v: unknown): unknown {
  if (typeof v === "bigint") return v.toString();
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [k, toJson(x)]));
  if (Array.isArray(v)) return v.map((x) => (x === undefined ? null : toJson(x)));
  if (v && typeof v === "object")
    return Object.fromEntries(
      Object.entries(v)
        .filter(([, x]) => x !== undefined && typeof x !== "function")
        .map(([k, x]) => [k, toJson(x)]),
    );
  return v;
}

export function runDump(args: string[], out: Write, _err: Write): number {
  const { opts, positionals } = options(
    args,
    { "-m": "module", "--module": "module", "--json": "json", "-h": "help", "--help": "help" },
    new Set(["module"]),
  );
  if (opts.help) {
    out(DUMP_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new ToolUsageError("vigil yara dump: give exactly one file (see --help)");
  const asked = opts.module ?? [];
  for (const m of asked) {
    const mod = builtinModules.get(m);
    if (!mod || mod.unavailable)
      throw new ToolUsageError(
        `vigil yara dump: no module "${m}" (available: ${[...builtinModules.keys()].join(", ")})`,
      );
  }
  const names = asked.length ? asked : DUMPED.map(([m]) => m);
  const path = positionals[0]!;
  let data: Uint8Array;
  try {
    data = readFileSync(path);
  } catch (e) {
    throw new ToolUsageError(`error: could not open file: ${path} (${(e as NodeJS.ErrnoException).code ?? "error"})`);
  }
  // one rule that imports the modules and needs nothing else: the scan loads each module once
  const rules = compile(`${names.map((m) => `import "${m}"\n`).join("")}rule vigil_dump { condition: false }\n`);
  const result = rules.scan(data, {});
  const roots = result.moduleData;
  const shown = names.filter((m) => {
    const root = roots[m];
    if (!root) return false;
    if (asked.length) return true;
    return DUMPED.find(([n]) => n === m)![1](root);
  });
  if (opts.json) out(JSON.stringify(Object.fromEntries(shown.map((m) => [m, toJson(roots[m])])), null, 2) + "\n");
  else for (const m of shown) out(formatModuleData(builtinModules.get(m)!, roots[m]!));
  return 0;
}
