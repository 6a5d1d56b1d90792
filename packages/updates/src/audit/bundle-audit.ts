/**
 * The auditor as a witness's `BundleAuditor`: audits every file of a bundle under a policy (YARA
 * rules, and ClamAV databases decoded to the bytes their signatures look for: ./clamav.ts).
 */
import type { Manifest, RuleFileData } from "../bundle.js";
import type { AuditOutcome } from "../witness.js";
import { failing, formatFinding, type Finding } from "./auditor.js";
import { auditBundleFile } from "./clamav.js";
import { defaultAuditPolicy, type AuditPolicy } from "./policy.js";

export function bundleAuditor(
  policy: AuditPolicy = defaultAuditPolicy(),
): (m: Manifest, files: RuleFileData[]) => AuditOutcome & { findings: Finding[] } {
  return (_m, files) => {
    const findings = files.flatMap((f) => auditBundleFile(f.path, f.data, { policy }));
    const bad = failing(findings, policy);
    return { pass: bad.length === 0, reasons: bad.map(formatFinding), findings };
  };
}
