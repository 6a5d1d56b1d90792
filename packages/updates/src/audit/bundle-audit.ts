/** The auditor as a witness's `BundleAuditor`: audits every rule file of a bundle under a policy. */
import type { Manifest, RuleFileData } from "../bundle.js";
import type { AuditOutcome } from "../witness.js";
import { auditRules, failing, formatFinding, type Finding } from "./auditor.js";
import { defaultAuditPolicy, type AuditPolicy } from "./policy.js";

export function bundleAuditor(
  policy: AuditPolicy = defaultAuditPolicy(),
): (m: Manifest, files: RuleFileData[]) => AuditOutcome & { findings: Finding[] } {
  return (_m, files) => {
    const findings = files.flatMap((f) => auditRules(f.data, { policy, path: f.path }));
    const bad = failing(findings, policy);
    return { pass: bad.length === 0, reasons: bad.map(formatFinding), findings };
  };
}
