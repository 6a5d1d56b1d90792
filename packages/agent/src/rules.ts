/**
 * The rules in force on an endpoint: the built-in starter rules (unless turned off), the extra
 * rule files of the configuration and the installed update bundle, compiled into one signature
 * setup (cached on disk under compiled/). A detection's severity is its rule's own `severity`
 * meta, which the scanner carries on each detection; "high" when the rule has none or names no
 * known level.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { Severity } from "@vigil/protocol";
import { buildSignatures, ruleFiles, type SignatureSetup } from "@vigil/scanner";
import type { AgentConfig } from "./config.js";

type RulesConfig = AgentConfig["rules"];

export interface Rules {
  /** Changes whenever the inputs change (the agent recompiles then). */
  key: string;
  setup: SignatureSetup;
  /** Reported as bundleVersion: the update bundle's name-version, or starter-<detector version>. */
  version: string;
}

const SEVERITIES = new Set<string>(["low", "medium", "high", "critical"]);

/** The wire severity of a detection: its rule's `severity` meta when it names a known level, else "high". */
export function severityOf(d: { severity?: string }): Severity {
  return d.severity !== undefined && SEVERITIES.has(d.severity) ? (d.severity as Severity) : "high";
}

/** The rule files of an installed bundle directory (recursive; MANIFEST excluded). */
export function bundleRuleFiles(dir: string): string[] {
  const out: string[] = [];
  const walkDir = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walkDir(p);
      else if (e.isFile() && /\.(yar|yara)$/i.test(e.name)) out.push(p);
    }
  };
  walkDir(dir);
  return out;
}

/** The key of the rules `cfg` and `bundle` describe: equal keys mean the compiled rules can be reused. */
export function rulesKey(cfg: RulesConfig, bundle: { dir: string; version: string } | null): string {
  return JSON.stringify([bundle?.dir ?? null, bundle?.version ?? null, cfg]);
}

/** Compiles the rules the configuration names, plus the installed bundle's. */
export function compileRules(
  cfg: RulesConfig,
  bundle: { dir: string; version: string } | null,
  cacheDir: string,
): Rules {
  const files = [...cfg.extra.flatMap((p) => ruleFiles(p)), ...(bundle ? bundleRuleFiles(bundle.dir) : [])];
  const setup = buildSignatures({ builtin: cfg.builtin, rules: files, cacheDir });
  return { key: rulesKey(cfg, bundle), setup, version: bundle ? bundle.version : `starter-${setup.detector.version}` };
}
