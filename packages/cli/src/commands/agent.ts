/**
 * `vigil agent`: the endpoint side of the Vigil security network.
 *   vigil agent enroll URL TOKEN   exchange a one-time token for this endpoint's key
 *   vigil agent config [...]       show or change scan schedule, watch paths, data ceiling, updates
 *   vigil agent run [--once]       heartbeats, scheduled scans, watching, reports, update checks,
 *                                  the installed-software inventory (--inventory: collect it now)
 *   vigil agent status             enrolment, last contact, queue, effective policy, ledger head
 * Everything sent is recorded in the outbound ledger first (`vigil ledger`). Every subcommand
 * takes --state DIR (default $VIGIL_AGENT_DIR or ~/.local/share/vigil/agent).
 * Exit codes: 0 done (also when the server was unreachable and events stay queued), 1 the
 * server refused this endpoint (revoked key, refused enrolment) or the ledger is broken, 2 bad
 * usage or configuration.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Command } from "commander";
import * as agent from "@vigil/agent";
import { AGENT_REFUSALS, fail } from "../fail.js";
import { ScannerError } from "@vigil/scanner";
import { validatePolicy, verifyRootSelf } from "@vigil/updates";
import { collect, parseOrExit, parseSize } from "../options.js";

export const summary = "endpoint agent: enrol with a Vigil server, report scans and detections under the data policy";

const USAGE = `Usage: vigil agent <command> [options]

Commands:
  enroll URL TOKEN   enrol this endpoint with the server at URL using a one-time TOKEN
  config             show or change the agent's configuration (schedule, watch, data ceiling, updates)
  run                run the agent (--once: one cycle and exit)
  status             enrolment, last contact, queued events, effective policy, ledger head

Run 'vigil agent <command> --help' for its options.
`;

function stateOption(cmd: Command): Command {
  return cmd.option("--state <dir>", "agent state directory (default: $VIGIL_AGENT_DIR or ~/.local/share/vigil/agent)");
}

function stateDir(o: { state?: string }): string {
  return o.state ? resolve(o.state) : agent.defaultStateDir();
}

function newCommand(name: string): Command {
  return new Command(`vigil agent ${name}`)
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });
}

const fmtTime = (t: number | null | undefined) => (t ? new Date(t).toISOString() : "never");

function logger(quiet: boolean) {
  return (level: agent.LogLevel, message: string) => {
    if (quiet && level === "info") return;
    process.stderr.write(
      `${new Date().toISOString()} vigil agent: ${level === "info" ? "" : level + ": "}${message}\n`,
    );
  };
}

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  try {
    switch (sub) {
      case "enroll":
      case "enrol":
        return await enroll(rest);
      case "run":
        return await runAgent(rest);
      case "status":
        return await status(rest);
      case "config":
        return await config(rest);
      case undefined:
      case "-h":
      case "--help":
      case "help":
        process.stdout.write(USAGE);
        return sub === undefined ? 2 : 0;
      default:
        process.stderr.write(`vigil agent: unknown command '${sub}'\n\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    return fail("agent", err, { refusals: AGENT_REFUSALS });
  }
}

async function enroll(args: string[]): Promise<number> {
  const cmd = stateOption(newCommand("enroll"))
    .description(
      "Enrol this endpoint: exchanges a one-time token for the endpoint key and pins the server's policy key.",
    )
    .argument("<url>", "the server, e.g. https://vigil.example.org")
    .argument("<token>", "one-time enrolment token from the console")
    .option("--hostname <name>", "host name to register (default: this machine's)")
    .option("--tag <tag>", "a tag the server's groups can select this endpoint by (repeatable)", collect, [])
    .option("--json", "print the result as JSON");
  const exit = parseOrExit(cmd, args);
  if (exit !== undefined) return exit;
  const o = cmd.opts<{ state?: string; hostname?: string; tag: string[]; json?: boolean }>();
  for (const t of o.tag) checkTag(t);
  const [url, token] = cmd.args as [string, string];
  let server: URL;
  try {
    server = new URL(url);
    if (server.protocol !== "http:" && server.protocol !== "https:") throw new Error("not http");
  } catch {
    process.stderr.write(`vigil agent enroll: ${JSON.stringify(url)} is not an http(s) URL\n`);
    return 2;
  }
  const dir = stateDir(o);
  const c = await agent.enroll({
    dir,
    server: server.href.replace(/\/$/, ""),
    token,
    ...(o.hostname ? { hostname: o.hostname } : {}),
    ...(o.tag.length ? { tags: [...new Set(o.tag)] } : {}),
  });
  if (o.json)
    process.stdout.write(JSON.stringify({ endpointId: c.endpointId, server: c.server, stateDir: dir }) + "\n");
  else
    process.stdout.write(
      `enrolled: endpoint ${c.endpointId} with ${c.server}\nstate: ${dir} (key in agent.json, mode 0600)\n`,
    );
  return 0;
}

function openAgent(dir: string, quiet: boolean): agent.Agent {
  return new agent.Agent({ dir, log: logger(quiet) });
}

async function runAgent(args: string[]): Promise<number> {
  const cmd = stateOption(newCommand("run"))
    .description(
      "Run the agent: heartbeats, scheduled scans, watched paths, reports, update checks. Stops on SIGINT/SIGTERM.",
    )
    .option("--once", "run one cycle (heartbeat, due scan, send queued events, due update check) and exit")
    .option("--scan", "scan the configured paths now, whatever the schedule")
    .option("--inventory", "collect the installed-software inventory now and send it (when the data policy allows it)")
    .option("--json", "with --once: print the cycle's report as JSON")
    .option("-q, --quiet", "only warnings and errors on stderr");
  const exit = parseOrExit(cmd, args);
  if (exit !== undefined) return exit;
  const o = cmd.opts<{
    state?: string;
    once?: boolean;
    scan?: boolean;
    inventory?: boolean;
    json?: boolean;
    quiet?: boolean;
  }>();
  const dir = stateDir(o);
  const a = openAgent(dir, !!o.quiet);
  const unlock = agent.lockStateDir(dir);
  try {
    a.verifyLedger();
  } catch (err) {
    unlock();
    throw err;
  }
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  try {
    if (o.once) {
      const r = await a.cycle({ scan: !!o.scan, inventory: !!o.inventory, signal: ac.signal });
      if (o.json) process.stdout.write(JSON.stringify(r) + "\n");
      else {
        const parts = [r.contacted ? `server reached (policy version ${r.policyVersion})` : "server NOT reached"];
        if (r.scan)
          parts.push(
            `scanned ${r.scan.files} files: ${r.scan.detections} detection(s), ${r.scan.errors} error(s), ${r.scan.incomplete} not fully scanned`,
          );
        parts.push(
          `sent ${r.flush.detections} detection(s), ${r.flush.scans} scan summary(ies)${r.flush.samples ? `, ${r.flush.samples} sample(s)` : ""}${r.flush.duplicates ? ` (${r.flush.duplicates} already known)` : ""}`,
        );
        if (r.inventory?.collected)
          parts.push(
            `inventory: ${r.inventory.items} items, ${r.inventory.findings} finding(s), ${r.inventory.forbidden} forbidden`,
          );
        if (r.flush.inventory) parts.push("inventory sent");
        parts.push(`${r.queued} queued${r.inventoryQueued ? " (and an inventory report)" : ""}`);
        if (r.update) parts.push(`update: ${r.update.status}: ${r.update.message}`);
        process.stdout.write(parts.join("; ") + "\n");
        for (const e of r.errors) process.stderr.write(`vigil agent: warning: ${e}\n`);
      }
      return 0;
    }
    await a.run(ac.signal, { scan: !!o.scan, inventory: !!o.inventory });
    return 0;
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    unlock();
  }
}

async function status(args: string[]): Promise<number> {
  const cmd = stateOption(newCommand("status"))
    .description("Show enrolment, last contact, queued events, the effective data policy and the ledger head.")
    .option("--json", "print as JSON");
  const exit = parseOrExit(cmd, args);
  if (exit !== undefined) return exit;
  const o = cmd.opts<{ state?: string; json?: boolean }>();
  const a = openAgent(stateDir(o), true);
  const s = a.status();
  if (o.json) {
    process.stdout.write(JSON.stringify(s, null, 2) + "\n");
    return 0;
  }
  const p = s.effectivePolicy;
  const sc = s.effectiveScan;
  const onOff = (b: boolean) => (b ? "yes" : "no");
  const lines = [
    `endpoint:      ${s.endpointId}`,
    `server:        ${s.server}`,
    `enrolled:      ${fmtTime(s.enrolledAt)}`,
    `last contact:  ${fmtTime(s.lastContact)}${s.lastError && (s.lastAttempt ?? 0) > (s.lastContact ?? 0) ? ` (last attempt ${fmtTime(s.lastAttempt)} failed: ${s.lastError})` : ""}`,
    `queued:        ${s.queue.total} (${s.queue.detection} detections, ${s.queue.scan} scan summaries, ${s.queue.sample} samples)${s.dropped ? `; ${s.dropped} dropped when the queue was full` : ""}`,
    `policy:        server version ${s.serverPolicyVersion}${s.policyRejected ? ` (the last one offered was refused: ${s.policyRejected})` : ""}`,
    `  sends path:        ${onOff(p.send.path)}${s.ceiling.path ? "" : " (local ceiling: never)"}`,
    `  sends hostname:    ${onOff(p.send.hostname)}${s.ceiling.hostname ? "" : " (local ceiling: never)"}`,
    `  scan summaries:    ${onOff(p.send.scanSummaries)}${s.ceiling.scanSummaries ? "" : " (local ceiling: never)"}`,
    `  reputation:        ${onOff(p.reputation.enabled)}${s.ceiling.reputation ? "" : " (local ceiling: never)"}`,
    `  inventory:         ${onOff(!!p.send.inventory)}${s.ceiling.inventory ? "" : " (local ceiling: never)"}`,
    `  samples:           ${p.samples.enabled ? `yes, ${p.samples.fileTypes.join("/")} up to ${p.samples.maxBytes} bytes` : "no"}${s.ceiling.samples.enabled ? "" : " (local ceiling: never)"}`,
    `  heartbeat:         every ${p.heartbeatSeconds} s`,
    `ledger:        ${s.ledger.entries} lines, head ${s.ledger.head}${s.ledger.broken ? ` (BROKEN: ${s.ledger.broken})` : ""}`,
    `rules:         ${s.rulesVersion ?? "not built yet"}`,
    `checkpoint:    ${s.checkpoint ? `${s.checkpoint.origin} size ${s.checkpoint.size}` : "none verified"}${s.lastUpdateResult ? ` (last check ${fmtTime(s.lastUpdateCheck)}: ${s.lastUpdateResult})` : ""}`,
    `scan:          ${sc.paths.length ? `${sc.paths.join(", ")}${sc.everyMinutes ? ` every ${sc.everyMinutes} min` : ""}${sc.dailyAt ? ` daily at ${sc.dailyAt}` : ""}; last ${fmtTime(s.lastScanAt)}, next ${fmtTime(s.nextScanAt)}` : "no scheduled scan"}; on detection: ${sc.action}`,
    `watch:         ${sc.watchPaths.length ? sc.watchPaths.join(", ") : "nothing"}`,
    ...(sc.fromServer.length ? [`  from the server's policy: ${sc.fromServer.join(", ")}`] : []),
    ...sc.narrowed.map((n) => `  local scan ceiling: ${n}`),
    ...(s.tags.length ? [`tags:          ${s.tags.join(", ")}`] : []),
    `inventory:     ${s.inventory.everyHours > 0 ? `every ${s.inventory.everyHours} h` : "on demand only"}; last ${fmtTime(s.inventory.lastAt)}, next ${s.inventory.nextAt === null ? (p.send.inventory ? "on demand" : "not sent (policy)") : fmtTime(s.inventory.nextAt)}${s.inventory.queued ? "; a report is queued" : ""}${s.inventory.lastResult ? ` (${s.inventory.lastResult})` : ""}`,
  ];
  process.stdout.write(lines.join("\n") + "\n");
  return 0;
}

/** "90" (minutes), "30m", "2h", "1d" -> minutes. */
function parseMinutes(s: string): number {
  const m = /^(\d+)\s*(m|min|h|d)?$/i.exec(s.trim());
  if (!m || Number(m[1]) <= 0)
    throw new ScannerError(
      "BAD_OPTION",
      `invalid interval ${JSON.stringify(s)}: use minutes or a number with m, h or d (e.g. 6h)`,
    );
  return Number(m[1]) * ({ m: 1, min: 1, h: 60, d: 1440 }[(m[2] ?? "m").toLowerCase() as "m"] ?? 1);
}

/** A tag as the protocol allows it, or a BAD_OPTION error. */
function checkTag(t: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/.test(t))
    throw new ScannerError(
      "BAD_OPTION",
      `invalid tag ${JSON.stringify(t)}: up to 64 letters, digits, '.', '_', ':' or '-', starting with a letter or digit`,
    );
  return t;
}

function fieldList(s: string): agent.CeilingField[] {
  const out: agent.CeilingField[] = [];
  for (const f of s
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean)) {
    if (!(agent.CEILING_FIELDS as readonly string[]).includes(f))
      throw new ScannerError(
        "BAD_OPTION",
        `unknown data field ${JSON.stringify(f)}: use ${agent.CEILING_FIELDS.join(", ")}`,
      );
    out.push(f as agent.CeilingField);
  }
  return out;
}

async function config(args: string[]): Promise<number> {
  const cmd = stateOption(newCommand("config"))
    .description(
      "Show the configuration (without the key) and change it. The data ceiling bounds what the server's policy can ask for.",
    )
    .option("--scan <path>", "add a path to the scheduled scan (repeatable)", collect, [])
    .option("--clear-scan", "remove every scheduled scan path first")
    .option("--every <interval>", "scan every interval (minutes, or 30m, 6h, 1d); 'off' to stop")
    .option("--daily <HH:MM>", "scan daily at this local time; 'off' to stop")
    .option("--exclude <glob>", "leave matching paths out of scheduled scans (repeatable)", collect, [])
    .option("--watch <path>", "add a path to watch (repeatable)", collect, [])
    .option("--clear-watch", "remove every watched path first")
    .option(
      "--allow <fields>",
      `let these fields leave the endpoint when the policy asks (${agent.CEILING_FIELDS.join(",")})`,
    )
    .option("--deny <fields>", "never let these fields leave the endpoint, whatever the policy says")
    .option("--sample-max <size>", "largest sample this endpoint ever uploads (e.g. 10M)")
    .option("--sample-types <types>", "file types this endpoint ever uploads as samples (pe,elf,macho,dex,script)")
    .option("--action <action>", "report or quarantine detected files")
    .option("--rules <file|dir>", "extra YARA rules (repeatable)", collect, [])
    .option("--builtin <on|off>", "use the built-in starter rules")
    .option("--trust-policy <file>", "enable update checks with this trust policy (vigil-trust/v1 JSON)")
    .option(
      "--trust-root <file>",
      "enable update checks from this signed trust root (vigil root init), walking newer roots",
    )
    .option("--update-source <url|dir>", "the update log (default: the server's /updates/); 'server' to reset")
    .option("--update-every <interval>", "how often to check for updates")
    .option("--jobs <n>", "worker threads for scheduled scans")
    .option(
      "--inventory-hours <n>",
      "collect and send the installed-software inventory every N hours (0: only with 'run --inventory')",
    )
    .option("--inventory-root <dir>", "the filesystem root to inventory (default /)")
    .option(
      "--inventory-pack <file>",
      "also check the inventory against this signed policy pack (repeatable)",
      collect,
      [],
    )
    .option("--clear-inventory-packs", "remove the added policy packs first")
    .option(
      "--inventory-trust-key <file>",
      "trust this pack public key (NAME.pub.json) for added packs (repeatable)",
      collect,
      [],
    )
    .option("--inventory-builtin-packs <on|off>", "use the policy packs shipped with Vigil")
    .option(
      "--inventory-scan <path>",
      "also inspect the executables under PATH for the inventory (repeatable)",
      collect,
      [],
    )
    .option("--clear-inventory-scan", "remove every inventory scan path first")
    .option("--tag <tag>", "add a tag the server's groups can select this endpoint by (repeatable)", collect, [])
    .option("--clear-tags", "remove every tag first")
    .option("--server-scan <on|off>", "apply the scan part of the server's policy at all (the scan ceiling)")
    .option(
      "--server-scan-root <dir>",
      "the server may set scan and watch paths only under these directories (repeatable; replaces the list)",
      collect,
      [],
    )
    .option("--server-scan-min <interval>", "the server may not schedule scans more often than this")
    .option("--server-quarantine <on|off>", "the server may ask for detected files to be quarantined")
    .option("--json", "print the configuration as JSON");
  const exit = parseOrExit(cmd, args);
  if (exit !== undefined) return exit;
  const o = cmd.opts<{
    tag: string[];
    clearTags?: boolean;
    serverScan?: string;
    serverScanRoot: string[];
    serverScanMin?: string;
    serverQuarantine?: string;
    state?: string;
    scan: string[];
    clearScan?: boolean;
    every?: string;
    daily?: string;
    exclude: string[];
    watch: string[];
    clearWatch?: boolean;
    allow?: string;
    deny?: string;
    sampleMax?: string;
    sampleTypes?: string;
    action?: string;
    rules: string[];
    builtin?: string;
    trustPolicy?: string;
    trustRoot?: string;
    updateSource?: string;
    updateEvery?: string;
    jobs?: string;
    json?: boolean;
    inventoryHours?: string;
    inventoryRoot?: string;
    inventoryPack: string[];
    clearInventoryPacks?: boolean;
    inventoryTrustKey: string[];
    inventoryBuiltinPacks?: string;
    inventoryScan: string[];
    clearInventoryScan?: boolean;
  }>();
  const files = new agent.AgentFiles(stateDir(o));
  const c = files.config();
  if (o.clearScan) c.scan.paths = [];
  for (const p of o.scan) if (!c.scan.paths.includes(resolve(p))) c.scan.paths.push(resolve(p));
  if (o.clearWatch) c.watch.paths = [];
  for (const p of o.watch) if (!c.watch.paths.includes(resolve(p))) c.watch.paths.push(resolve(p));
  if (o.every !== undefined) c.scan.everyMinutes = o.every === "off" ? null : parseMinutes(o.every);
  if (o.daily !== undefined) {
    if (o.daily !== "off" && !/^([01]\d|2[0-3]):[0-5]\d$/.test(o.daily))
      throw new ScannerError("BAD_OPTION", `--daily needs a time as HH:MM (got ${JSON.stringify(o.daily)})`);
    c.scan.dailyAt = o.daily === "off" ? null : o.daily;
  }
  for (const g of o.exclude) if (!c.scan.exclude.includes(g)) c.scan.exclude.push(g);
  const setField = (f: agent.CeilingField, v: boolean) => {
    if (f === "samples") c.ceiling.samples.enabled = v;
    else c.ceiling[f] = v;
  };
  if (o.allow) for (const f of fieldList(o.allow)) setField(f, true);
  if (o.deny) for (const f of fieldList(o.deny)) setField(f, false);
  if (o.sampleMax) c.ceiling.samples.maxBytes = parseSize(o.sampleMax);
  if (o.sampleTypes) {
    const types = o.sampleTypes
      .split(",")
      .map((t) => t.trim())
      .filter(Boolean);
    for (const t of types)
      if (!agent.SampleType.safeParse(t).success)
        throw new ScannerError(
          "BAD_OPTION",
          `unknown sample type ${JSON.stringify(t)}: use pe, elf, macho, dex, script`,
        );
    c.ceiling.samples.fileTypes = types as agent.SampleType[];
  }
  if (o.action) {
    if (o.action !== "report" && o.action !== "quarantine")
      throw new ScannerError("BAD_OPTION", "--action is report or quarantine");
    c.action = o.action;
  }
  for (const r of o.rules) if (!c.rules.extra.includes(resolve(r))) c.rules.extra.push(resolve(r));
  if (o.builtin !== undefined) c.rules.builtin = o.builtin === "on";
  if (o.trustPolicy) {
    let obj: unknown;
    try {
      obj = JSON.parse(readFileSync(o.trustPolicy, "utf8"));
    } catch (err) {
      throw new ScannerError("BAD_OPTION", `cannot read the trust policy ${o.trustPolicy}: ${(err as Error).message}`);
    }
    validatePolicy(obj);
    c.updates.trustPolicy = obj as Record<string, unknown>;
    c.updates.trustRoot = null;
  }
  if (o.trustRoot) {
    let text: string;
    try {
      text = readFileSync(o.trustRoot, "utf8");
      verifyRootSelf(text);
    } catch (err) {
      throw new ScannerError("BAD_OPTION", `cannot use the trust root ${o.trustRoot}: ${(err as Error).message}`);
    }
    c.updates.trustRoot = text;
    c.updates.trustPolicy = null;
  }
  if (o.updateSource)
    c.updates.source =
      o.updateSource === "server"
        ? null
        : /^https?:\/\//i.test(o.updateSource)
          ? o.updateSource
          : resolve(o.updateSource);
  if (o.updateEvery) c.updates.everyMinutes = parseMinutes(o.updateEvery);
  if (o.jobs !== undefined) {
    if (!/^\d+$/.test(o.jobs)) throw new ScannerError("BAD_OPTION", "--jobs must be a whole number");
    c.jobs = Number(o.jobs);
  }
  const inv = c.inventory;
  if (o.inventoryHours !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(o.inventoryHours) || Number(o.inventoryHours) > 24 * 366)
      throw new ScannerError(
        "BAD_OPTION",
        `--inventory-hours needs a number of hours from 0 to ${24 * 366} (got ${JSON.stringify(o.inventoryHours)})`,
      );
    inv.everyHours = Number(o.inventoryHours);
  }
  if (o.inventoryRoot !== undefined) inv.root = resolve(o.inventoryRoot);
  if (o.clearInventoryPacks) inv.packs = [];
  for (const p of o.inventoryPack) if (!inv.packs.includes(resolve(p))) inv.packs.push(resolve(p));
  for (const k of o.inventoryTrustKey) if (!inv.trustKeys.includes(resolve(k))) inv.trustKeys.push(resolve(k));
  if (o.inventoryBuiltinPacks !== undefined) {
    if (o.inventoryBuiltinPacks !== "on" && o.inventoryBuiltinPacks !== "off")
      throw new ScannerError("BAD_OPTION", "--inventory-builtin-packs is on or off");
    inv.builtinPacks = o.inventoryBuiltinPacks === "on";
  }
  if (o.clearInventoryScan) inv.scan = [];
  for (const p of o.inventoryScan) if (!inv.scan.includes(resolve(p))) inv.scan.push(resolve(p));
  if (o.clearTags) c.tags = [];
  for (const t of o.tag) if (!c.tags.includes(checkTag(t))) c.tags.push(t);
  if (c.tags.length > 32) throw new ScannerError("BAD_OPTION", "at most 32 tags");
  const onOffOption = (name: string, v: string) => {
    if (v !== "on" && v !== "off") throw new ScannerError("BAD_OPTION", `${name} is on or off`);
    return v === "on";
  };
  if (o.serverScan !== undefined) c.scanCeiling.accept = onOffOption("--server-scan", o.serverScan);
  if (o.serverScanRoot.length) c.scanCeiling.roots = [...new Set(o.serverScanRoot.map((r) => resolve(r)))];
  if (o.serverScanMin !== undefined) c.scanCeiling.minEveryMinutes = parseMinutes(o.serverScanMin);
  if (o.serverQuarantine !== undefined)
    c.scanCeiling.quarantine = onOffOption("--server-quarantine", o.serverQuarantine);
  files.saveConfig(c);
  const shown = { ...files.config(), key: "(hidden)" };
  if (o.json) process.stdout.write(JSON.stringify(shown, null, 2) + "\n");
  else {
    const { trustPolicy, trustRoot, ...upd } = shown.updates;
    process.stdout.write(
      JSON.stringify(
        {
          ...shown,
          updates: { ...upd, trustPolicy: trustPolicy ? "(set)" : null, trustRoot: trustRoot ? "(set)" : null },
        },
        null,
        2,
      ) + "\n",
    );
  }
  return 0;
}
