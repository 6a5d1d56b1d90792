/**
 * Runs one assertion of YARA's own test suite (cases.json, extracted by extract.sh from
 * yara's tests/test-rules.c) through the engine, with the same set-up as yara's test
 * harness (tests/util.c): the externals var_zero, var_one, var_true, var_false; "dummy" as
 * the scanned data when a test passes none; a rule "matches" when the callback would report
 * it (private rules do not count).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { compile, CompileError, type CompiledRules } from "../../src/index.js";

export interface YaraCase {
  src: string;
  kind: "true" | "false" | "count" | "capture" | "error" | "warning";
  line: number;
  fn: string;
  rule: string; // hex bytes
  data?: string; // hex bytes
  file?: string;
  moduleDataFile?: string;
  expected?: string; // hex bytes (capture)
  count?: number;
  error?: string;
  warnings?: number;
  strictEscape?: boolean;
}

export const EXTERNALS = { var_zero: 0, var_one: 1, var_true: true, var_false: false };

/** Where yara's source tree is read from: YARA_SRC (a checkout) or YARA_REPO (a git clone). */
const YARA_SRC = process.env.YARA_SRC;
const YARA_REPO = process.env.YARA_REPO ?? "/work/.mirror/VirusTotal+yara/repo";
export const YARA_TAG = "v4.5.8";

const fileCache = new Map<string, Uint8Array | null>();
/** A file of yara's source tree (tests/data/...), or null when no copy of yara is at hand. */
export function yaraFile(path: string): Uint8Array | null {
  if (!fileCache.has(path)) {
    let bytes: Uint8Array | null = null;
    try {
      bytes = YARA_SRC
        ? readFileSync(join(YARA_SRC, path))
        : execFileSync("git", ["-C", YARA_REPO, "show", `${YARA_TAG}:${path}`], {
            stdio: ["ignore", "pipe", "ignore"],
            maxBuffer: 64 << 20,
          });
    } catch {
      bytes = null;
    }
    fileCache.set(path, bytes);
  }
  return fileCache.get(path)!;
}

export const hexToBytes = (h: string) => Uint8Array.from(Buffer.from(h, "hex"));
export const hexToLatin1 = (h: string) => Buffer.from(h, "hex").toString("latin1");

export type CaseResult = { status: "pass" } | { status: "fail"; detail: string } | { status: "skip"; detail: string };

/** The engine's diagnostic codes that stand for each yara error code of the suite. */
export const ERROR_CODES: Record<string, string[]> = {
  ERROR_SYNTAX_ERROR: ["E_SYNTAX", "E_NUMBER", "E_MODIFIERS", "E_ARGUMENTS", "E_UNTERMINATED", "E_ESCAPE", "E_HEX"],
  ERROR_INTEGER_OVERFLOW: ["E_RANGE", "E_NUMBER"],
  ERROR_INVALID_OPERAND: ["E_RANGE"],
  ERROR_DUPLICATED_STRING_IDENTIFIER: ["E_DUPLICATE_STRING"],
  // "rule test rule test": yara sees the repeated name, the engine the missing '{' first
  ERROR_DUPLICATED_IDENTIFIER: ["E_DUPLICATE_RULE", "E_SYNTAX"],
  ERROR_INVALID_VALUE: ["E_RANGE", "E_TYPE"],
  ERROR_UNREFERENCED_STRING: ["E_UNREFERENCED_STRING"],
  ERROR_INVALID_MODIFIER: ["E_MODIFIERS"],
  ERROR_DUPLICATED_MODIFIER: ["E_MODIFIERS"],
  ERROR_INVALID_HEX_STRING: ["E_HEX"],
  ERROR_UNDEFINED_IDENTIFIER: ["E_UNDEFINED_IDENTIFIER"],
  ERROR_IDENTIFIER_MATCHES_WILDCARD: ["E_RULE_MATCHES_WILDCARD"],
  ERROR_UNDEFINED_STRING: ["E_UNDEFINED_STRING"],
  ERROR_INVALID_PERCENTAGE: ["E_RANGE"],
  ERROR_WRONG_TYPE: ["E_TYPE"],
  ERROR_INVALID_REGULAR_EXPRESSION: ["E_REGEX"],
  ERROR_INVALID_MODULE_NAME: ["E_UNKNOWN_MODULE"],
  ERROR_DUPLICATED_TAG_IDENTIFIER: ["E_DUPLICATE_TAG"],
};

function compileCase(c: YaraCase): CompiledRules {
  return compile(hexToLatin1(c.rule), {
    externals: EXTERNALS,
    readFile: (p) => {
      const rel = p.replace(/^.*?@YARA\//, "");
      const b = yaraFile(rel);
      if (!b) throw Object.assign(new Error(`no copy of yara's ${rel}`), { code: "ENOENT" });
      return b;
    },
  });
}

export function runCase(c: YaraCase): CaseResult {
  const needs = c.file ?? c.moduleDataFile ?? (hexToLatin1(c.rule).includes("@YARA/") ? "tests/data" : undefined);
  if (needs && !yaraFile(c.file ?? c.moduleDataFile ?? "tests/data/foo.yar"))
    return { status: "skip", detail: `needs ${needs} from yara's source tree (set YARA_SRC or YARA_REPO)` };
  let rules: CompiledRules;
  try {
    rules = compileCase(c);
  } catch (e) {
    if (!(e instanceof CompileError)) return { status: "fail", detail: `crash: ${(e as Error).stack}` };
    if (c.kind === "error") {
      const d = e.diagnostics[0]!;
      if (c.error === "ERROR_SUCCESS")
        return { status: "fail", detail: `expected success, got ${d.code}: ${d.message}` };
      const allowed = ERROR_CODES[c.error!];
      if (!allowed) return { status: "fail", detail: `no engine code is mapped to ${c.error}` };
      return allowed.includes(d.code)
        ? { status: "pass" }
        : { status: "fail", detail: `error ${d.code} (${d.message}) where yara gives ${c.error}` };
    }
    return { status: "fail", detail: `does not compile: ${e.diagnostics[0]?.code}: ${e.diagnostics[0]?.message}` };
  }
  if (c.kind === "error")
    return c.error === "ERROR_SUCCESS" ? { status: "pass" } : { status: "fail", detail: `compiles; yara: ${c.error}` };
  if (c.kind === "warning") {
    const n = rules.warnings.length;
    if (c.warnings === 0)
      return n === 0
        ? { status: "pass" }
        : { status: "fail", detail: `unexpected warning: ${rules.warnings[0]!.message}` };
    return n >= c.warnings!
      ? { status: "pass" }
      : { status: "fail", detail: `${n} warnings, yara gives ${c.warnings}` };
  }
  const data = c.file ? yaraFile(c.file)! : hexToBytes(c.data ?? "");
  const moduleData = c.moduleDataFile ? { tests: yaraFile(c.moduleDataFile)! } : undefined;
  let result;
  try {
    result = rules.scan(data, { externals: EXTERNALS, ...(moduleData ? { moduleData } : {}), timeoutMs: 20_000 });
  } catch (e) {
    return { status: "fail", detail: `scan error: ${(e as Error).message}` };
  }
  const n = result.matches.length;
  switch (c.kind) {
    case "true":
      return n > 0 ? { status: "pass" } : { status: "fail", detail: "no rule matches (yara: matches)" };
    case "false":
      return n === 0 ? { status: "pass" } : { status: "fail", detail: `${n} rules match (yara: none)` };
    case "count":
      return n === c.count ? { status: "pass" } : { status: "fail", detail: `${n} rules match (yara: ${c.count})` };
    case "capture": {
      const want = c.expected!;
      const got: string[] = [];
      for (const m of result.matches)
        for (const s of m.strings) for (const x of s.matches) got.push(Buffer.from(x.data).toString("hex"));
      return got.includes(want)
        ? { status: "pass" }
        : {
            status: "fail",
            detail: `no match equals ${JSON.stringify(hexToLatin1(want))}; got ${JSON.stringify(got.slice(0, 4).map(hexToLatin1))}`,
          };
    }
  }
}

/**
 * The same assertion under Debian's `yara` command (4.2.3 on this machine): "pass" when yara
 * agrees with the expectation of the 4.5 test suite, "fail" when it does not. Captures are
 * not compared (yara prints match data escaped); they return "skip".
 */
export function runCaseWithYara(c: YaraCase): CaseResult {
  if (c.kind === "capture") return { status: "skip", detail: "captures are not compared with the yara command" };
  const dir = mkdtempSync(join(tmpdir(), "vigil-yara-suite-"));
  try {
    let rule = hexToLatin1(c.rule);
    for (const m of rule.matchAll(/@YARA\/([^"]+)/g)) {
      const b = yaraFile(m[1]!);
      if (!b) return { status: "skip", detail: `needs ${m[1]} from yara's source tree` };
      mkdirSync(join(dir, dirname(m[1]!)), { recursive: true });
      writeFileSync(join(dir, m[1]!), b);
      // included files include others relative to themselves
      if (m[1]!.endsWith("foo.yar")) {
        for (const extra of ["tests/data/include/bar.yar", "tests/data/baz.yar"]) {
          mkdirSync(join(dir, dirname(extra)), { recursive: true });
          writeFileSync(join(dir, extra), yaraFile(extra) ?? "");
        }
      }
    }
    rule = rule.replaceAll("@YARA/", dir + "/");
    writeFileSync(join(dir, "rules.yar"), Buffer.from(rule, "latin1"));
    const data = c.file ? yaraFile(c.file) : hexToBytes(c.data ?? "");
    if (!data) return { status: "skip", detail: `needs ${c.file} from yara's source tree` };
    writeFileSync(join(dir, "data"), data);
    const args = ["-d", "var_zero=0", "-d", "var_one=1", "-d", "var_true=true", "-d", "var_false=false"];
    if (c.moduleDataFile) {
      const md = yaraFile(c.moduleDataFile);
      if (!md) return { status: "skip", detail: `needs ${c.moduleDataFile}` };
      writeFileSync(join(dir, "module-data"), md);
      args.push("-x", `tests=${join(dir, "module-data")}`);
    }
    const r = spawnSync("yara", [...args, join(dir, "rules.yar"), join(dir, "data")], { timeout: 30_000 });
    if (r.error) return { status: "skip", detail: `yara not runnable: ${r.error.message}` };
    const stderr = r.stderr.toString("latin1");
    const compiled = !/error/.test(stderr) && r.status === 0;
    const n = r.stdout
      .toString("latin1")
      .split("\n")
      .filter((l) => l !== "").length;
    const warned = /warning/.test(stderr);
    const fail = (detail: string) => ({ status: "fail", detail: `yara 4.2.3: ${detail}` }) as const;
    switch (c.kind) {
      case "error":
        if (c.error === "ERROR_SUCCESS") return compiled ? { status: "pass" } : fail(stderr.trim());
        return compiled ? fail("compiles") : { status: "pass" };
      case "warning":
        if (!compiled) return fail(`does not compile: ${stderr.trim()}`);
        return (c.warnings === 0 ? !warned : warned) ? { status: "pass" } : fail(warned ? stderr.trim() : "no warning");
      default:
        if (!compiled) return fail(`does not compile: ${stderr.trim()}`);
        if (c.kind === "true") return n > 0 ? { status: "pass" } : fail("no match");
        if (c.kind === "false") return n === 0 ? { status: "pass" } : fail(`${n} matches`);
        return n === c.count ? { status: "pass" } : fail(`${n} matches`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
