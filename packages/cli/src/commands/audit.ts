/**
 * `vigil audit rules PATH...`: runs the rule auditor on rule files or directories and lists
 * findings (rule, reason, severity, evidence). `vigil audit --log URL|DIR --log-key VKEY`: replays
 * a whole log from its tiles, checks every checkpoint seen for consistency, diffs each bundle
 * against the previous version and audits it; incremental with --state. Text or --json reports.
 * `audit rules` also compiles each YARA file (as `vigil yara check` does): a file that does not
 * compile is reported with its diagnostics and fails the audit whatever --fail-on says. ClamAV
 * databases (`.cvd .cld .cud`, `.ndb .ldb .ftm` and the other signature files) are audited as a
 * witness audits them: signatures decoded to bytes, target and container types read as conditions.
 * Exit codes: 0 no failing finding or problem, 1 failing findings, rules that do not compile
 * or log problems, 2 error.
 */
import { readFile, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { Command } from "commander";
import { fail } from "../fail.js";
import { compile, CompileError, formatDiagnostic, type Diagnostic, type ExternalValue } from "@vigil/engine";
import {
  CLAMAV_DATABASE,
  SEVERITY_RANK,
  UpdateError,
  auditBundleFile,
  auditRules,
  formatFinding,
  formatMonitorReport,
  loadAuditPolicy,
  monitorLog,
  type Finding,
  type Severity,
} from "@vigil/updates";

export const summary = "audit rules for document hunting, or monitor and audit a whole update log";

async function ruleFiles(path: string): Promise<string[]> {
  const st = await stat(path);
  if (!st.isDirectory()) return [path];
  const out: string[] = [];
  for (const e of (await readdir(path, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = join(path, e.name);
    if (e.isDirectory()) out.push(...(await ruleFiles(p)));
    else if (/\.(yar|yara|rule|rules)$/i.test(e.name) || CLAMAV_DATABASE.test(e.name)) out.push(p);
  }
  return out;
}

/** -d NAME=VALUE, typed as yara types them (true/false, integers, floats, else strings). */
function parseDefines(list: string[]): Record<string, ExternalValue> {
  const out: Record<string, ExternalValue> = {};
  for (const d of list) {
    const k = d.indexOf("=");
    if (k <= 0) throw new UpdateError("BAD_INPUT", `--define ${d}: expected NAME=VALUE`);
    const v = d.slice(k + 1);
    out[d.slice(0, k)] =
      v === "true"
        ? true
        : v === "false"
          ? false
          : /^-?\d+$/.test(v)
            ? Number(v)
            : /^-?\d+\.\d+$/.test(v)
              ? Number(v)
              : v;
  }
  return out;
}

/** The compile errors of one rule file (includes resolved from its directory). */
function compileErrors(bytes: Uint8Array, path: string, externals: Record<string, ExternalValue>): Diagnostic[] {
  try {
    compile([{ source: Buffer.from(bytes).toString("latin1"), path }], { externals });
    return [];
  } catch (e) {
    if (e instanceof CompileError) return e.diagnostics;
    throw e;
  }
}

export async function run(args: string[]): Promise<number> {
  const result = { code: 0 };
  const collect = (v: string, acc: string[]) => [...acc, v];
  const root = new Command("vigil audit")
    .description("Audit rules, or monitor a log (--log)")
    .enablePositionalOptions()
    .option("--log <url-or-dir>", "monitor this log: replay it from tiles and audit every bundle")
    .option("--log-key <vkey>", "the log's verifier key (repeatable)", collect, [] as string[])
    .option(
      "--publisher <vkey>",
      "publisher verifier key to check manifests against (repeatable)",
      collect,
      [] as string[],
    )
    .option("--witness <vkey>", "witness verifier key to report cosignatures of (repeatable)", collect, [] as string[])
    .option(
      "--witness-url <url>",
      "compare with the latest checkpoint this witness cosigned (repeatable)",
      collect,
      [] as string[],
    )
    .option("--state <file>", "monitor state file (incremental runs)")
    .option("--policy <file>", "audit policy file (default: the built-in policy)")
    .option("--json", "print a JSON report")
    .option("-v, --verbose", "list every bundle and rule change")
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) })
    .action(
      async (o: {
        log?: string;
        logKey: string[];
        publisher: string[];
        witness: string[];
        witnessUrl: string[];
        state?: string;
        policy?: string;
        json?: boolean;
        verbose?: boolean;
      }) => {
        if (!o.log) {
          root.outputHelp();
          result.code = 2;
          return;
        }
        if (!o.logKey.length) throw new UpdateError("BAD_INPUT", "--log needs --log-key (the log's verifier key)");
        const policy = await loadAuditPolicy(o.policy);
        const r = await monitorLog({
          source: o.log,
          logKeys: o.logKey,
          policy,
          ...(o.publisher.length ? { publishers: o.publisher } : {}),
          ...(o.witness.length ? { witnesses: o.witness } : {}),
          ...(o.witnessUrl.length ? { witnessUrls: o.witnessUrl } : {}),
          ...(o.state ? { stateFile: o.state } : {}),
        });
        process.stdout.write(o.json ? JSON.stringify(r, null, 2) + "\n" : formatMonitorReport(r, o.verbose));
        const failing = r.bundles.some(
          (b) => b.problems.length || b.findings.some((f) => SEVERITY_RANK[f.severity] >= SEVERITY_RANK[policy.failOn]),
        );
        if (r.problems.length || failing) result.code = 1;
      },
    );
  root
    .command("rules")
    .description("audit rule files or directories")
    .argument("<paths...>")
    .option("--policy <file>", "audit policy file (default: the built-in policy)")
    .option("--fail-on <severity>", "lowest severity that fails (low, medium, high; default: the policy's)")
    .option("--json", "print findings as JSON")
    .option(
      "-d, --define <name=value>",
      "define an external variable the rules use (repeatable)",
      collect,
      [] as string[],
    )
    .action(async (paths: string[], o: { policy?: string; failOn?: string; json?: boolean; define: string[] }) => {
      const policy = await loadAuditPolicy(o.policy);
      const failOn = (o.failOn ?? policy.failOn) as Severity;
      if (!(failOn in SEVERITY_RANK)) throw new UpdateError("BAD_INPUT", "--fail-on must be low, medium or high");
      const externals = parseDefines(o.define);
      const findings: Finding[] = [];
      const errors: Diagnostic[] = [];
      let files = 0;
      for (const p of paths) {
        for (const f of await ruleFiles(p)) {
          files++;
          const bytes = await readFile(f);
          if (CLAMAV_DATABASE.test(f)) {
            findings.push(...auditBundleFile(f, bytes, { policy }));
            continue;
          }
          errors.push(...compileErrors(bytes, f, externals));
          findings.push(...auditRules(bytes, { policy, path: f }));
        }
      }
      if (o.json)
        process.stdout.write(JSON.stringify({ policy: policy.version, files, errors, findings }, null, 2) + "\n");
      else {
        for (const d of errors) process.stdout.write(formatDiagnostic(d, "error") + "\n");
        for (const f of findings) process.stdout.write(formatFinding(f) + "\n");
        process.stderr.write(
          `${files} file(s) audited with policy ${policy.version}: ${errors.length ? `${errors.length} compile error(s), ` : ""}${findings.length} finding(s)\n`,
        );
      }
      if (errors.length || findings.some((f) => SEVERITY_RANK[f.severity] >= SEVERITY_RANK[failOn])) result.code = 1;
    });
  try {
    if (!args.length) {
      root.outputHelp();
      return 2;
    }
    await root.parseAsync(args, { from: "user" });
    return result.code;
  } catch (err) {
    return fail("audit", err);
  }
}
