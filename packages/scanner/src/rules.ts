/**
 * Building a Detector from rules: the built-in starter rules (rules/*.yar in this package)
 * plus the user's YARA files, compiled once by @vigil/engine. The engine detector turns the
 * engine's matches into RuleMatch lists; `engineSpec` lets worker threads load the serialised
 * rules (`loadRules`) instead of recompiling them.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import {
  compile,
  loadRules,
  CompileError,
  ScanError,
  type CompiledRules,
  type RuleMatch as EngineRuleMatch,
  type ScanResult,
  type SourceUnit,
} from "@vigil/engine";
import { DetectorTimeoutError, ScannerError } from "./error.js";
import type { Detector, DetectorSpec, RuleMatch } from "./types.js";

export const STARTER_RULES_DIR = fileURLToPath(new URL("../rules/", import.meta.url));

const RULE_EXT = /\.(yar|yara|rule|rules)$/i;

/** Lists rule files: a file as is, a directory's *.yar/*.yara files (not recursive), sorted. */
export function ruleFiles(pathOrDir: string): string[] {
  let st;
  try {
    st = statSync(pathOrDir);
  } catch (err) {
    throw new ScannerError(
      "RULES_FAILED",
      `cannot read rules at ${pathOrDir}: ${(err as Error).message} (check the --rules path)`,
      { cause: err },
    );
  }
  if (!st.isDirectory()) return [pathOrDir];
  return readdirSync(pathOrDir)
    .filter((f) => RULE_EXT.test(f))
    .sort()
    .map((f) => join(pathOrDir, f));
}

export function starterSources(): SourceUnit[] {
  return ruleFiles(STARTER_RULES_DIR).map((path) => ({
    namespace: "vigil",
    source: readFileSync(path, "latin1"),
    path,
  }));
}

export interface RuleSetOptions {
  /** Include the built-in starter rules (default true). */
  builtin?: boolean;
  /** YARA rule files or directories. */
  rules?: string[];
  /** Extra sources (e.g. ClamAV signatures translated to YARA). */
  extra?: SourceUnit[];
  externals?: Record<string, string | number | boolean>;
}

export function compileRuleSet(opts: RuleSetOptions = {}): CompiledRules {
  const units: SourceUnit[] = opts.builtin === false ? [] : starterSources();
  for (const p of opts.rules ?? []) {
    for (const path of ruleFiles(p)) {
      let source: string;
      try {
        source = readFileSync(path, "latin1");
      } catch (err) {
        throw new ScannerError("RULES_FAILED", `cannot read rule file ${path}: ${(err as Error).message}`, {
          cause: err,
        });
      }
      units.push({ namespace: "default", source, path });
    }
  }
  units.push(...(opts.extra ?? []));
  if (!units.length)
    throw new ScannerError("RULES_FAILED", "no rules to scan with: drop --no-builtin or give --rules/--database");
  try {
    return compile(units, { externals: opts.externals });
  } catch (err) {
    if (err instanceof CompileError)
      throw new ScannerError("RULES_FAILED", `rules do not compile: ${err.message}`, { cause: err });
    throw err;
  }
}

export interface EngineDetectorInit {
  serialized: Uint8Array;
  version: string;
  timeoutMs?: number;
}

export function engineDetector(rules: CompiledRules, version: string, timeoutMs?: number): Detector {
  return {
    version,
    signatures: rules.ruleCount,
    scan(bytes): RuleMatch[] {
      let res: ScanResult;
      try {
        res = rules.scan(bytes, timeoutMs !== undefined ? { timeoutMs } : {});
      } catch (e) {
        // the rules known to match before the time limit are kept
        if (e instanceof ScanError && e.code === "SCAN_TIMEOUT")
          throw new DetectorTimeoutError((e.partial?.matches ?? []).map(toRuleMatch), e);
        throw e;
      }
      return res.matches.map(toRuleMatch);
    },
  };
}

/** An engine match in the scanner's shape (offsets and lengths, not the matched bytes). */
export function toRuleMatch(m: EngineRuleMatch): RuleMatch {
  return {
    rule: m.rule,
    namespace: m.namespace,
    tags: m.tags,
    meta: m.meta,
    strings: m.strings.map((s) => ({
      identifier: s.identifier,
      matches: s.matches.map((x) => ({ offset: x.offset, length: x.length })),
    })),
  };
}

/** The compiled rules as a Detector plus the spec workers use to load them. */
export function engineDetectorWithSpec(
  rules: CompiledRules,
  timeoutMs?: number,
): { detector: Detector; spec: DetectorSpec } {
  const serialized = rules.serialize();
  const version = createHash("sha256").update(serialized).digest("hex").slice(0, 16);
  const init: EngineDetectorInit = { serialized, version, timeoutMs };
  return { detector: engineDetector(rules, version, timeoutMs), spec: { module: import.meta.url, init } };
}

/** Worker-side entry point (see DetectorSpec). */
export function createDetector(init: EngineDetectorInit): Detector {
  return engineDetector(loadRules(init.serialized), init.version, init.timeoutMs);
}
