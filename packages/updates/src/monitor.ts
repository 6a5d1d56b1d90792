/**
 * The log monitor behind `vigil audit --log`: replays a log from its tiles and audits every
 * bundle. Incremental: its state (a JSON file) keeps the compact range of the tree (the right
 * edge's subtree hashes), every checkpoint it has seen, and each bundle name's last rules, so a
 * run reads only new entries. Each run:
 *  - opens the checkpoint with the log keys (and counts witness cosignatures if keys are given);
 *  - refuses a tree smaller than one already seen;
 *  - reads the new entries from the entry bundles, extends the tree and checks the recomputed
 *    root against the checkpoint;
 *  - checks every checkpoint seen before, and the latest checkpoint each given witness cosigned,
 *    for consistency with the new one (proofs from tiles);
 *  - for each new entry: parses the manifest, checks the publisher signature (if keys are given),
 *    version order and previous-hash chain, fetches the archive, checks its files, diffs the rules
 *    against the previous version (added, removed, changed) and runs the auditor.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { parse, type Rule, type RuleFile } from "@vigil/engine";
import {
  type TileReader,
  decodeBase64,
  encodeBase64,
  equalBytes,
  foldSubtrees,
  leafHash,
  nodeHash,
  openNote,
  parseCheckpoint,
  readEntries,
  verifyConsistency,
} from "@vigil/tlog";
import { auditRuleFile, type Finding } from "./audit/auditor.js";
import { auditBundleFile } from "./audit/clamav.js";
import { defaultAuditPolicy, type AuditPolicy } from "./audit/policy.js";
import { bundleArchivePath, manifestOf, openBundle, openManifest, sha256Hex, type Manifest } from "./bundle.js";
import { UpdateError } from "./error.js";
import { writeFileAtomic } from "./fsutil.js";
import { LIMITS, openSource, tileFetcher, transportDamage, verifiedTree } from "./source.js";

export interface MonitorOptions {
  readonly source: string;
  readonly logKeys: readonly string[];
  /** state file; without it every run starts from the beginning */
  readonly stateFile?: string;
  readonly publishers?: readonly string[];
  readonly witnesses?: readonly string[];
  readonly policy?: AuditPolicy;
  /** stop after this many new entries in one run (the next run continues) */
  readonly maxEntries?: number;
  /**
   * witness base URLs whose latest cosigned checkpoint (`GET <url>/<sha256(origin)>/checkpoint`)
   * is compared with the log's: a monitor must not be shown a different or older tree than clients
   */
  readonly witnessUrls?: readonly string[];
}

export interface RuleDiff {
  readonly added: string[];
  readonly removed: string[];
  readonly changed: string[];
}

export interface BundleReport {
  readonly index: number;
  readonly name?: string;
  readonly version?: number;
  readonly manifestHash: string;
  readonly publisherVerified: boolean | null;
  readonly diff?: RuleDiff;
  readonly findings: Finding[];
  readonly problems: string[];
}

export interface MonitorReport {
  readonly origin: string;
  readonly fromSize: number;
  readonly toSize: number;
  readonly checkpointSize: number;
  readonly witnessCosignatures: string[];
  readonly checkpointsChecked: number;
  readonly bundles: BundleReport[];
  /** log-level problems: shrinking tree, root mismatch, inconsistency */
  readonly problems: string[];
}

interface MonitorState {
  format: "vigil-monitor/v1";
  origin: string;
  size: number;
  /** compact range: subtree hashes of the right edge, largest first (base64) */
  range: string[];
  checkpoints: Array<{ size: number; root: string }>;
  last: Record<string, { version: number; hash: string; rules: Record<string, string> }>;
}

/** Parses each file once: audit findings plus a fingerprint per rule (its AST without positions). */
function auditFiles(
  files: Array<{ path: string; data: Uint8Array }>,
  policy: AuditPolicy,
): { findings: Finding[]; rules: Record<string, string> } {
  const rules: Record<string, string> = {};
  const findings: Finding[] = [];
  for (const f of files) {
    let parsed: RuleFile;
    try {
      parsed = parse(Buffer.from(f.data).toString("latin1"), { path: f.path });
    } catch {
      rules[`${f.path}:(unparseable)`] = sha256Hex(f.data);
      findings.push(...auditBundleFile(f.path, f.data, { policy }));
      continue;
    }
    findings.push(...auditRuleFile(parsed, { policy, path: f.path }));
    for (const r of parsed.rules as Rule[]) {
      const text = JSON.stringify(r, (k, v) =>
        k === "pos" || k === "path" ? undefined : typeof v === "bigint" ? v.toString() : v,
      );
      rules[`${f.path}:${r.name}`] = createHash("sha256").update(text).digest("hex");
    }
  }
  return { findings, rules };
}

function diffRules(before: Record<string, string>, after: Record<string, string>): RuleDiff {
  const added: string[] = [],
    removed: string[] = [],
    changed: string[] = [];
  for (const k of Object.keys(after))
    if (!(k in before)) added.push(k);
    else if (before[k] !== after[k]) changed.push(k);
  for (const k of Object.keys(before)) if (!(k in after)) removed.push(k);
  return { added: added.sort(), removed: removed.sort(), changed: changed.sort() };
}

/** Appends a leaf to a compact range (RFC 9162 §2.1.2's stack, kept between runs). */
function pushLeaf(range: Uint8Array[], size: number, leaf: Uint8Array): void {
  range.push(leaf);
  for (let i = size; (i & 1) === 1; i = Math.floor(i / 2)) {
    const right = range.pop()!;
    const left = range.pop()!;
    range.push(nodeHash(left, right));
  }
}

async function loadState(file: string | undefined): Promise<MonitorState | undefined> {
  if (!file) return undefined;
  try {
    const s = JSON.parse(await readFile(file, "utf8")) as MonitorState;
    if (s.format !== "vigil-monitor/v1") throw new Error("unknown format");
    return s;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new UpdateError("BAD_INPUT", `monitor state ${file} is damaged; remove it to replay the log from the start`, {
      cause: e,
    });
  }
}

export async function monitorLog(opts: MonitorOptions): Promise<MonitorReport> {
  const policy = opts.policy ?? defaultAuditPolicy();
  const src = openSource(opts.source);
  const fetchTile = tileFetcher(src);
  const note = Buffer.from(await src.get("checkpoint", LIMITS.checkpoint)).toString("utf8");
  let opened;
  try {
    opened = openNote(note, [...opts.logKeys, ...(opts.witnesses ?? [])]);
  } catch (e) {
    throw new UpdateError(
      "BAD_LOG_SIGNATURE",
      `the log's checkpoint does not verify with the given log keys: ${(e as Error).message}`,
      { cause: e },
    );
  }
  const cp = parseCheckpoint(opened.text);
  const witnessCosignatures = opened.signatures.filter((s) => s.timestamp !== undefined).map((s) => s.name);
  const prior = await loadState(opts.stateFile);
  const problems: string[] = [];
  if (prior && prior.origin !== cp.origin)
    throw new UpdateError("WRONG_ORIGIN", `the state file belongs to log ${prior.origin}, not ${cp.origin}`);
  const state: MonitorState = prior ?? {
    format: "vigil-monitor/v1",
    origin: cp.origin,
    size: 0,
    range: [],
    checkpoints: [],
    last: {},
  };
  const fromSize = state.size;
  const cpSize = Number(cp.size);
  if (cpSize < state.size) {
    problems.push(`the log's tree shrank from ${state.size} to ${cpSize} entries: it rolled back or forked`);
    return {
      origin: cp.origin,
      fromSize,
      toSize: state.size,
      checkpointSize: cpSize,
      witnessCosignatures,
      checkpointsChecked: 0,
      bundles: [],
      problems,
    };
  }

  // every checkpoint seen before must be consistent with this one. Proofs come from tiles
  // checked against the signed root: missing or damaged tiles are transport damage (thrown),
  // not a fork; only a well-formed proof that fails is reported as one.
  let tree: TileReader | undefined;
  const signedTree = async () => (tree ??= await verifiedTree(src, cp));
  const proofFrom = async (size: bigint) => {
    const reader = await signedTree();
    try {
      return await reader.consistencyProof(size);
    } catch (e) {
      throw transportDamage(e, `cannot read the consistency proof from size ${size} to ${cp.size}`, src.location);
    }
  };
  let checked = 0;
  for (const old of state.checkpoints) {
    if (old.size === 0) continue;
    const oldRoot = decodeBase64(old.root)!;
    const ok =
      old.size === cpSize
        ? equalBytes(oldRoot, cp.rootHash)
        : verifyConsistency(BigInt(old.size), cp.size, await proofFrom(BigInt(old.size)), oldRoot, cp.rootHash);
    checked++;
    if (!ok)
      problems.push(
        `checkpoint of size ${old.size} seen earlier is not consistent with the current checkpoint of size ${cpSize}: the log forked`,
      );
  }

  // what the witnesses cosigned must be a prefix of what the log shows us
  for (const url of opts.witnessUrls ?? []) {
    const path = `${url.replace(/\/$/, "")}/${createHash("sha256").update(cp.origin).digest("hex")}/checkpoint`;
    let wnote: string;
    try {
      const res = await fetch(path, { signal: AbortSignal.timeout(30_000) });
      if (res.status === 404) continue; // the witness has not cosigned this log yet
      if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
      wnote = await res.text();
    } catch (e) {
      problems.push(`cannot read the witness checkpoint at ${path}: ${(e as Error).message}`);
      continue;
    }
    let wcp;
    try {
      wcp = parseCheckpoint(openNote(wnote, opts.logKeys).text);
    } catch (e) {
      problems.push(`the witness at ${url} serves a checkpoint not signed by the log key: ${(e as Error).message}`);
      continue;
    }
    if (wcp.size > cp.size) {
      problems.push(
        `the witness at ${url} cosigned a tree of ${wcp.size} entries, larger than the ${cp.size} the log shows this monitor: the monitor may be partitioned`,
      );
      continue;
    }
    const ok =
      wcp.size === cp.size
        ? equalBytes(wcp.rootHash, cp.rootHash)
        : wcp.size === 0n || verifyConsistency(wcp.size, cp.size, await proofFrom(wcp.size), wcp.rootHash, cp.rootHash);
    checked++;
    if (!ok)
      problems.push(
        `the checkpoint of size ${wcp.size} cosigned by the witness at ${url} is not consistent with the log's checkpoint of size ${cp.size}: split view`,
      );
  }

  const end = Math.min(cpSize, state.size + (opts.maxEntries ?? Number.MAX_SAFE_INTEGER));
  const range = state.range.map((r) => decodeBase64(r)!);
  const bundles: BundleReport[] = [];
  for (let start = state.size; start < end; ) {
    const stop = Math.min(end, start - (start % 256) + 256);
    let entries: Uint8Array[];
    try {
      entries = await readEntries(fetchTile, cp.size, BigInt(start), BigInt(stop));
    } catch (e) {
      throw transportDamage(e, `cannot read the log's entries ${start}..${stop - 1}`, src.location);
    }
    for (let i = 0; i < entries.length; i++) {
      const index = start + i;
      const entry = entries[i]!;
      pushLeaf(range, index, leafHash(entry));
      bundles.push(await auditEntry(index, entry, opts, policy, state, src));
    }
    start = stop;
  }
  state.size = end;
  state.range = range.map(encodeBase64);
  if (end === cpSize) {
    const root = foldSubtrees([...range]);
    if (!equalBytes(root, cp.rootHash))
      problems.push(
        `the entries served do not hash to the checkpoint's root at size ${cpSize}: the tiles and the checkpoint disagree`,
      );
    else if (!state.checkpoints.some((c) => c.size === cpSize))
      state.checkpoints.push({ size: cpSize, root: encodeBase64(cp.rootHash) });
  }
  if (opts.stateFile && problems.length === 0) await writeFileAtomic(opts.stateFile, JSON.stringify(state) + "\n");
  return {
    origin: cp.origin,
    fromSize,
    toSize: end,
    checkpointSize: cpSize,
    witnessCosignatures,
    checkpointsChecked: checked,
    bundles,
    problems,
  };
}

async function auditEntry(
  index: number,
  entry: Uint8Array,
  opts: MonitorOptions,
  policy: AuditPolicy,
  state: MonitorState,
  src: ReturnType<typeof openSource>,
): Promise<BundleReport> {
  const signed = Buffer.from(entry).toString("utf8");
  const manifestHash = sha256Hex(entry);
  const problems: string[] = [];
  let manifest: Manifest;
  let publisherVerified: boolean | null = null;
  try {
    manifest = manifestOf(signed);
  } catch (e) {
    return {
      index,
      manifestHash,
      publisherVerified,
      findings: [],
      problems: [`entry is not a bundle manifest: ${(e as Error).message}`],
    };
  }
  if (opts.publishers) {
    try {
      openManifest(signed, opts.publishers);
      publisherVerified = true;
    } catch {
      publisherVerified = false;
      problems.push("the manifest is not signed by a known publisher key");
    }
  }
  const last = state.last[manifest.name];
  if (last) {
    if (manifest.version <= last.version)
      problems.push(`version ${manifest.version} does not increase (last was ${last.version})`);
    if (manifest.previous !== last.hash)
      problems.push(`previous-manifest hash does not name version ${last.version}'s manifest: the chain is broken`);
  } else if (manifest.previous !== "") {
    problems.push("first bundle of its name but names a previous manifest");
  }
  let findings: Finding[] = [];
  let diff: RuleDiff | undefined;
  try {
    const archive = await src.get(bundleArchivePath(manifest.name, manifest.version), LIMITS.bundle);
    const { files } = openBundle(archive, signed);
    const audited = auditFiles(files, policy);
    findings = audited.findings;
    const rules = audited.rules;
    diff = diffRules(last?.rules ?? {}, rules);
    state.last[manifest.name] = { version: manifest.version, hash: manifestHash, rules };
  } catch (e) {
    problems.push(`bundle archive: ${(e as Error).message}`);
    state.last[manifest.name] = { version: manifest.version, hash: manifestHash, rules: last?.rules ?? {} };
  }
  return {
    index,
    name: manifest.name,
    version: manifest.version,
    manifestHash,
    publisherVerified,
    ...(diff ? { diff } : {}),
    findings,
    problems,
  };
}

export function formatMonitorReport(r: MonitorReport, verbose = false): string {
  const lines = [
    `log ${r.origin}: entries ${r.fromSize}..${r.toSize} of ${r.checkpointSize}; ${r.checkpointsChecked} earlier checkpoint(s) checked; witness cosignatures: ${r.witnessCosignatures.join(", ") || "none"}`,
  ];
  for (const p of r.problems) lines.push(`PROBLEM: ${p}`);
  for (const b of r.bundles) {
    const d = b.diff;
    const head =
      `#${b.index} ${b.name ?? "?"} v${b.version ?? "?"} ${b.manifestHash.slice(0, 16)}` +
      (d ? `: +${d.added.length} -${d.removed.length} ~${d.changed.length} rules` : "");
    if (!verbose && b.findings.length === 0 && b.problems.length === 0) continue;
    lines.push(head);
    if (verbose && d) {
      for (const x of d.added) lines.push(`  + ${x}`);
      for (const x of d.removed) lines.push(`  - ${x}`);
      for (const x of d.changed) lines.push(`  ~ ${x}`);
    }
    for (const p of b.problems) lines.push(`  PROBLEM: ${p}`);
    for (const f of b.findings)
      lines.push(`  ${f.severity}: ${f.file}:${f.line} rule ${f.rule}: ${f.reason} [${f.code}] (${f.evidence})`);
  }
  const nf = r.bundles.reduce((n, b) => n + b.findings.length, 0);
  lines.push(
    `${r.bundles.length} new bundle(s), ${nf} finding(s), ${r.problems.length + r.bundles.reduce((n, b) => n + b.problems.length, 0)} problem(s)`,
  );
  return lines.join("\n") + "\n";
}
