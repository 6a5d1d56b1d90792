/**
 * `vigil ledger`: what this endpoint's agent sent, from its outbound ledger: when, to whom, how
 * many bytes, the sha256 of each body, and the answer. `vigil ledger verify` re-computes the
 * hash chain and checks it against the recorded head: an edited, deleted, reordered or cut
 * line is reported with its line number (exit 1); otherwise it prints the head hash, which the
 * server also holds from heartbeats. Exit codes: 0 listed / verified, 1 broken, 2 bad usage.
 */
import { resolve } from "node:path";
import { Command } from "commander";
import * as agent from "@vigil/agent";
import { AGENT_REFUSALS, fail } from "../fail.js";
import { ScannerError } from "@vigil/scanner";
import { parseOrExit } from "../options.js";

export const summary = "list what the agent sent (outbound ledger); 'verify' checks its hash chain";

/** An ISO date/time, or a duration back from now: 30m, 12h, 7d. */
export function parseSince(s: string, now = Date.now()): number {
  const m = /^(\d+)\s*(s|m|h|d)$/i.exec(s.trim());
  if (m) return now - Number(m[1]) * { s: 1e3, m: 6e4, h: 36e5, d: 864e5 }[m[2]!.toLowerCase() as "s"];
  const t = Date.parse(s);
  if (Number.isNaN(t))
    throw new ScannerError(
      "BAD_OPTION",
      `--since: ${JSON.stringify(s)} is neither a date (2026-01-31, 2026-01-31T12:00Z) nor a duration (30m, 12h, 7d)`,
    );
  return t;
}

function command(name: string): Command {
  return new Command(name)
    .option("--state <dir>", "agent state directory (default: $VIGIL_AGENT_DIR or ~/.local/share/vigil/agent)")
    .option("--json", "print as JSON")
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });
}

export async function run(args: string[]): Promise<number> {
  try {
    if (args[0] === "verify") return verify(args.slice(1));
    return list(args);
  } catch (err) {
    return fail("ledger", err, { refusals: AGENT_REFUSALS });
  }
}

function list(args: string[]): number {
  const cmd = command("vigil ledger")
    .description("List the requests the agent sent, oldest first. 'vigil ledger verify' checks the hash chain.")
    .option("--since <when>", "only requests at or after this date/time or duration ago (30m, 12h, 7d)")
    .option("--limit <n>", "only the last n requests");
  const exit = parseOrExit(cmd, args);
  if (exit !== undefined) return exit;
  if (cmd.args.length) {
    process.stderr.write(
      `vigil ledger: unexpected argument ${JSON.stringify(cmd.args[0])} (did you mean 'vigil ledger verify'?)\n`,
    );
    return 2;
  }
  const o = cmd.opts<{ state?: string; json?: boolean; since?: string; limit?: string }>();
  const ledger = new agent.Ledger(o.state ? resolve(o.state) : agent.defaultStateDir());
  let recs = ledger.records();
  if (o.since) {
    const t = parseSince(o.since);
    recs = recs.filter((r) => Date.parse(r.time) >= t);
  }
  if (o.limit !== undefined) {
    if (!/^\d+$/.test(o.limit))
      throw new ScannerError("BAD_OPTION", `--limit must be a whole number (got ${JSON.stringify(o.limit)})`);
    recs = Number(o.limit) === 0 ? [] : recs.slice(-Number(o.limit));
  }
  if (o.json) {
    process.stdout.write(JSON.stringify(recs) + "\n");
    return 0;
  }
  if (!recs.length) {
    process.stdout.write("no requests recorded\n");
    return 0;
  }
  process.stdout.write(
    `${"TIME".padEnd(24)} ${"METHOD".padEnd(6)} ${"STATUS".padEnd(6)} ${"BYTES".padStart(8)} ${"BODY SHA256".padEnd(16)} URL\n`,
  );
  for (const r of recs) {
    const status = r.status === undefined ? "-" : r.status === null ? "none" : String(r.status);
    const u = new URL(r.url);
    process.stdout.write(
      `${r.time.padEnd(24)} ${r.method.padEnd(6)} ${status.padEnd(6)} ${String(r.bytes).padStart(8)} ${r.bodySha256.slice(0, 16)} ${u.protocol}//${u.host}${u.pathname}${u.search}${r.error ? `  (${r.error})` : ""}\n`,
    );
  }
  return 0;
}

function verify(args: string[]): number {
  const cmd = command("vigil ledger verify").description(
    "Re-compute the ledger's hash chain and check it against the recorded head.",
  );
  const exit = parseOrExit(cmd, args);
  if (exit !== undefined) return exit;
  const o = cmd.opts<{ state?: string; json?: boolean }>();
  const ledger = new agent.Ledger(o.state ? resolve(o.state) : agent.defaultStateDir());
  const v = ledger.verify();
  if (o.json) process.stdout.write(JSON.stringify({ file: ledger.file, ...v }) + "\n");
  else if (v.ok) {
    process.stdout.write(`ledger OK: ${v.entries} lines (${v.requests} requests)\nhead: ${v.head}\n`);
    for (const n of v.notes) process.stdout.write(`note: ${n}\n`);
  } else {
    const where = v.problem!.line === 0 ? "" : ` at line ${v.problem!.line}`;
    process.stdout.write(
      `ledger BROKEN${where}: ${v.problem!.reason}\nfile: ${ledger.file}\nverified: ${v.entries} lines, head ${v.head}\n`,
    );
  }
  return v.ok ? 0 : 1;
}
