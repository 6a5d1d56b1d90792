/**
 * `vigil update --source URL|DIR --policy FILE` (or `--root FILE`): fetches the log's checkpoint, proofs and newest
 * bundle and applies it only if every check of the trust policy holds (log signature, witness
 * quorum and freshness, consistency with the last accepted checkpoint, inclusion, publisher
 * signature, higher version, file hashes; with --audit or --audit-policy, the endpoint's own rule
 * audit). With `--root FILE` (a signed trust root, `vigil root`) instead of a policy, the roots
 * published beside the log (`roots/<N+1>.note`, ...) are walked from the newer of FILE and the root
 * kept in STATE/root.note, each signed by a threshold of the previous root's keys and of its own,
 * and the newest root's policy is used. `--rollback` puts the previous bundle back (operator
 * action). The bundle in force is STATE/current. Exit codes: 0 applied or up to date, 1 refused
 * (a security check failed; see the message and STATE/evidence), 2 error.
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { fail, UPDATE_REFUSALS } from "../fail.js";
import { loadAuditPolicy, loadPolicy, loadRootFile, rollback, update } from "@vigil/updates";

export const summary = "verify and apply the newest rule bundle from a log (or roll back)";

function defaultState(): string {
  return (
    process.env.VIGIL_UPDATE_STATE ??
    join(process.env.XDG_DATA_HOME ?? join(homedir(), ".local", "share"), "vigil", "updates")
  );
}

function rootNote(root: { version: number; from: number; expires: string } | undefined): string {
  if (!root) return "";
  const days = (Date.parse(root.expires) - Date.now()) / 86_400_000;
  if (days < 30)
    process.stderr.write(
      `vigil update: warning: trust root ${root.version} expires on ${root.expires}; after that updates are refused (ROOT_EXPIRED) until its key holders publish the next root\n`,
    );
  return root.version === root.from ? `; trust root ${root.version}` : `; trust root ${root.from} -> ${root.version}`;
}

export async function run(args: string[]): Promise<number> {
  const cmd = new Command("vigil update")
    .description("Verify and apply rule updates")
    .option("--source <url-or-dir>", "log base URL (http/https) or directory")
    .option("--policy <file>", "trust policy (JSON, format vigil-trust/v1)")
    .option("--root <file>", "instead of --policy: a signed trust root (vigil-root/v1, see `vigil root`)")
    .option("--state <dir>", "endpoint state directory (default: $VIGIL_UPDATE_STATE or ~/.local/share/vigil/updates)")
    .option("--audit-policy <file>", "also run the rule auditor with this policy file and refuse failing bundles")
    .option("--audit", "also run the rule auditor with the built-in policy")
    .option("--rollback", "operator action: put the previous bundle back in force")
    .option("--json", "print the result as JSON")
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });
  try {
    await cmd.parseAsync(args, { from: "user" });
    const o = cmd.opts<{
      source?: string;
      policy?: string;
      root?: string;
      state?: string;
      rollback?: boolean;
      json?: boolean;
      audit?: boolean;
      auditPolicy?: string;
    }>();
    const stateDir = o.state ?? defaultState();
    if (o.rollback) {
      const r = await rollback(stateDir);
      process.stdout.write(
        o.json ? JSON.stringify(r) + "\n" : `rolled back from version ${r.from} to version ${r.version}\n`,
      );
      return 0;
    }
    if (!o.source || !o.policy === !o.root) {
      process.stderr.write("vigil update: --source and one of --policy or --root are required (or --rollback)\n");
      return 2;
    }
    const trust = o.root ? { root: await loadRootFile(o.root) } : { policy: await loadPolicy(o.policy!) };
    const auditPolicy = o.auditPolicy || o.audit ? await loadAuditPolicy(o.auditPolicy) : undefined;
    const r = await update({ source: o.source, stateDir, ...trust, ...(auditPolicy ? { auditPolicy } : {}) });
    if (o.json) process.stdout.write(JSON.stringify({ ...r, checkpointSize: r.checkpointSize.toString() }) + "\n");
    else if (r.status === "applied")
      process.stdout.write(
        `applied version ${r.version}${r.previousVersion !== null ? ` (was ${r.previousVersion})` : ""}; log size ${r.checkpointSize}; witnesses: ${r.witnesses.length}${rootNote(r.root)}\n`,
      );
    else process.stdout.write(`up to date (version ${r.version}; log size ${r.checkpointSize}${rootNote(r.root)})\n`);
    return 0;
  } catch (err) {
    return fail("update", err, { refusals: UPDATE_REFUSALS });
  }
}
