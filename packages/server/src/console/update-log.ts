/**
 * Reads the update log the server mirrors (config.updatesDir) or proxies (config.updatesUpstream)
 * for the console: the latest checkpoint and who signed it (log signature, witness cosignatures
 * with their times), the newest bundles (from the log's own entries, i.e. the signed manifests),
 * audit reports an operator saved next to the log (`audit/*.json`, the output of
 * `vigil audit --log ... --json` or `vigil audit rules ... --json`), and the check of an
 * endpoint's reported checkpoint against the log's tiles.
 *
 * Nothing here verifies signatures: the server holds no log or publisher key. Endpoints verify
 * (that is the point of the transparency log); the console shows what is there and whether an
 * endpoint's tree is the same tree.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { TileReader, decodeBase64, encodeBase64, parseCheckpoint, readEntries, splitNote } from "@vigil/tlog";
import { LIMITS, manifestOf, openSource, type Source } from "@vigil/updates";
import type { ServerConfig } from "../context.js";

export interface SignatureView {
  name: string;
  /** 8 hex digits. */
  keyId: string;
  kind: "signature" | "cosignature" | "other";
  /** Cosignature time, ms since the epoch. */
  time: number | null;
}

export interface CheckpointView {
  origin: string;
  size: number;
  rootHash: string;
  extensions: string[];
  signatures: SignatureView[];
  text: string;
}

export interface BundleView {
  index: number;
  name: string;
  version: number;
  time: string;
  files: number;
  bytes: number;
  engine: string;
  previous: string;
  /** Whether the archive is present (directory mirrors only; null when unknown). */
  archive: boolean | null;
}

export interface AuditFindingView {
  severity: string;
  rule: string;
  file: string | null;
  line: number | null;
  code: string;
  reason: string;
  evidence: string;
}

export interface AuditReportView {
  file: string;
  modified: number;
  kind: "monitor" | "rules" | "unknown";
  /** For monitor reports: tree sizes covered and bundles audited. */
  summary: string;
  findings: AuditFindingView[];
  problems: string[];
  error: string | null;
}

export interface UpdateLogView {
  mode: "dir" | "upstream" | "none";
  location: string | null;
  checkpoint: CheckpointView | null;
  /** The served tiles reproduce the checkpoint's root (null when not checked). */
  tilesMatch: boolean | null;
  bundles: BundleView[];
  audits: AuditReportView[];
  error: string | null;
}

/** Parses the signature block of a checkpoint note without verifying it. */
export function describeSignatures(note: string): SignatureView[] {
  const out: SignatureView[] = [];
  let lines: string[];
  try {
    lines = splitNote(note).signatureLines;
  } catch {
    return out;
  }
  for (const line of lines) {
    const body = line.slice(2).trimEnd(); // after "— "
    const sp = body.lastIndexOf(" ");
    const name = body.slice(0, sp);
    let decoded: Uint8Array | undefined;
    try {
      decoded = decodeBase64(body.slice(sp + 1));
    } catch {
      decoded = undefined;
    }
    if (!decoded) continue;
    const bytes = decoded;
    const keyId = Buffer.from(bytes.subarray(0, 4)).toString("hex");
    // Ed25519 note signature: key id + 64 bytes; tlog-cosignature: key id + 8-byte time + 64
    // bytes (Ed25519, cosignature/v1) or 2420 bytes (ML-DSA-44, subtree/v1)
    if (bytes.length === 68) out.push({ name, keyId, kind: "signature", time: null });
    else if (bytes.length === 76 || bytes.length === 4 + 8 + 2420) {
      const secs = Buffer.from(bytes.subarray(4, 12)).readBigUInt64BE(0);
      out.push({ name, keyId, kind: "cosignature", time: Number(secs) * 1000 });
    } else out.push({ name, keyId, kind: "other", time: null });
  }
  return out;
}

function sourceOf(config: ServerConfig): { mode: "dir" | "upstream"; location: string; source: Source } | null {
  if (config.updatesDir) return { mode: "dir", location: config.updatesDir, source: openSource(config.updatesDir) };
  if (config.updatesUpstream)
    return {
      mode: "upstream",
      location: config.updatesUpstream,
      source: openSource(config.updatesUpstream, { timeoutMs: 5000 }),
    };
  return null;
}

async function readCheckpoint(source: Source): Promise<CheckpointView> {
  const text = Buffer.from(await source.get("checkpoint", LIMITS.checkpoint)).toString("utf8");
  const body = splitNote(text).text;
  const cp = parseCheckpoint(body);
  return {
    origin: cp.origin,
    size: Number(cp.size),
    rootHash: encodeBase64(cp.rootHash),
    extensions: cp.extensions,
    signatures: describeSignatures(text),
    text,
  };
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function readAudits(dir: string, limit: number): Promise<AuditReportView[]> {
  const auditDir = join(dir, "audit");
  let names: string[];
  try {
    names = (await readdir(auditDir)).filter((n) => n.endsWith(".json"));
  } catch {
    return [];
  }
  const withTimes = await Promise.all(
    names.map(async (n) => {
      try {
        const st = await stat(join(auditDir, n));
        return st.isFile() ? { n, t: st.mtimeMs, size: st.size } : null;
      } catch {
        return null;
      }
    }),
  );
  const files = withTimes
    .filter((x): x is { n: string; t: number; size: number } => x !== null)
    .sort((a, b) => b.t - a.t)
    .slice(0, limit);
  const out: AuditReportView[] = [];
  for (const f of files) {
    const view: AuditReportView = {
      file: f.n,
      modified: f.t,
      kind: "unknown",
      summary: "",
      findings: [],
      problems: [],
      error: null,
    };
    out.push(view);
    if (f.size > 16 * 1024 * 1024) {
      view.error = `larger than 16 MiB (${f.size} bytes): not read`;
      continue;
    }
    try {
      const j = JSON.parse(await readFile(join(auditDir, f.n), "utf8")) as Record<string, unknown>;
      const toFinding = (x: Record<string, unknown>): AuditFindingView => ({
        severity: String(x.severity ?? ""),
        rule: String(x.rule ?? ""),
        file: typeof x.file === "string" ? x.file : null,
        line: typeof x.line === "number" ? x.line : null,
        code: String(x.code ?? ""),
        reason: String(x.reason ?? ""),
        evidence: String(x.evidence ?? ""),
      });
      if (Array.isArray(j.bundles)) {
        view.kind = "monitor";
        const bundles = j.bundles as Array<Record<string, unknown>>;
        view.summary = `log ${String(j.origin ?? "?")}, entries ${Number(j.fromSize ?? 0)}..${Number(j.toSize ?? 0)}, ${bundles.length} bundle(s) audited`;
        view.problems = Array.isArray(j.problems) ? (j.problems as unknown[]).map(String) : [];
        for (const b of bundles) {
          const label = `${String(b.name ?? "?")} v${String(b.version ?? "?")}`;
          if (Array.isArray(b.problems))
            view.problems.push(...(b.problems as unknown[]).map((p) => `${label}: ${String(p)}`));
          if (Array.isArray(b.findings))
            for (const x of b.findings as Array<Record<string, unknown>>)
              view.findings.push({ ...toFinding(x), file: `${label}: ${String(x.file ?? "")}` });
        }
      } else if (Array.isArray(j.findings)) {
        view.kind = "rules";
        view.summary = `rule audit (policy ${String(j.policy ?? "?")}), ${Array.isArray(j.files) ? j.files.length : "?"} file(s)`;
        for (const x of j.findings as Array<Record<string, unknown>>) view.findings.push(toFinding(x));
      } else view.error = "not a vigil audit report (no bundles or findings)";
    } catch (e) {
      view.error = `unreadable: ${message(e)}`;
    }
  }
  return out;
}

/** The console's view of the update log; never throws (problems go to `error`). */
export async function readUpdateLog(
  config: ServerConfig,
  opts: { bundles?: number; audits?: number } = {},
): Promise<UpdateLogView> {
  const src = sourceOf(config);
  const view: UpdateLogView = {
    mode: src?.mode ?? "none",
    location: src?.location ?? null,
    checkpoint: null,
    tilesMatch: null,
    bundles: [],
    audits: [],
    error: null,
  };
  if (!src) return view;
  try {
    view.checkpoint = await readCheckpoint(src.source);
  } catch (e) {
    view.error = `cannot read the checkpoint: ${message(e)}`;
  }
  const fetch = (p: string) => src.source.get(p, p.startsWith("tile/entries/") ? LIMITS.entryBundle : LIMITS.tile);
  if (view.checkpoint && view.checkpoint.size > 0) {
    const size = view.checkpoint.size;
    try {
      const root = await new TileReader(fetch, size).root();
      view.tilesMatch = encodeBase64(root) === view.checkpoint.rootHash;
    } catch (e) {
      view.tilesMatch = false;
      view.error = `cannot read the tiles: ${message(e)}`;
    }
    const n = Math.min(size, opts.bundles ?? 20);
    try {
      const entries = await readEntries(fetch, size, size - n, size);
      for (let i = entries.length - 1; i >= 0; i--) {
        const index = size - n + i;
        try {
          const m = manifestOf(Buffer.from(entries[i]!).toString("utf8"));
          let archive: boolean | null = null;
          if (src.mode === "dir") {
            try {
              archive = (await stat(join(src.location, "bundles", `${m.name}-${m.version}.tar`))).isFile();
            } catch {
              archive = false;
            }
          }
          view.bundles.push({
            index,
            name: m.name,
            version: m.version,
            time: m.time,
            files: m.files.length,
            bytes: m.files.reduce((s, f) => s + f.size, 0),
            engine: m.engine,
            previous: m.previous,
            archive,
          });
        } catch {
          // an entry that is not a bundle manifest (other logs may share the format): left out
        }
      }
    } catch (e) {
      view.error ??= `cannot read the log entries: ${message(e)}`;
    }
  }
  if (src.mode === "dir") view.audits = await readAudits(src.location, opts.audits ?? 10);
  return view;
}

export type CheckpointVerdict =
  | { state: "unknown"; reason: string }
  | { state: "none" }
  | { state: "match"; detail: string }
  | { state: "behind"; detail: string }
  | { state: "ahead"; detail: string }
  | { state: "mismatch"; detail: string };

/**
 * Compares an endpoint's verified checkpoint with the log: same origin, and the tree the endpoint
 * accepted is a prefix of the log's tree (its root equals the log's root at that size, computed
 * from the tiles). A different root is a split view: the endpoint was shown another log.
 */
export async function verifyEndpointCheckpoint(
  config: ServerConfig,
  cp: { origin: string; size: number; rootHash: string } | null,
  latest?: CheckpointView | null,
): Promise<CheckpointVerdict> {
  if (cp === null || !cp.rootHash) return { state: "none" };
  const src = sourceOf(config);
  if (!src) return { state: "unknown", reason: "no update log is configured on this server" };
  let log = latest ?? null;
  if (!log) {
    try {
      log = await readCheckpoint(src.source);
    } catch (e) {
      return { state: "unknown", reason: `cannot read the log's checkpoint: ${message(e)}` };
    }
  }
  if (cp.origin !== log.origin)
    return { state: "mismatch", detail: `origin ${cp.origin} is not this server's log (${log.origin})` };
  if (cp.size > log.size)
    return {
      state: "ahead",
      detail: `size ${cp.size} is larger than the server's copy of the log (${log.size}): the mirror is behind`,
    };
  if (cp.size === log.size) {
    return cp.rootHash === log.rootHash
      ? { state: "match", detail: `the latest checkpoint (size ${log.size})` }
      : {
          state: "mismatch",
          detail: `same size ${cp.size}, different root hash: the endpoint was shown a different log`,
        };
  }
  if (cp.size === 0) return { state: "behind", detail: `empty tree; the log has ${log.size} entries` };
  try {
    const fetch = (p: string) => src.source.get(p, LIMITS.tile);
    const root = await new TileReader(fetch, log.size).rangeHash(0n, BigInt(cp.size));
    if (encodeBase64(root) !== cp.rootHash)
      return {
        state: "mismatch",
        detail: `the log's root at size ${cp.size} differs from the endpoint's: the endpoint was shown a different log`,
      };
  } catch (e) {
    return { state: "unknown", reason: `cannot compute the log's root at size ${cp.size}: ${message(e)}` };
  }
  return {
    state: "behind",
    detail: `consistent prefix (size ${cp.size} of ${log.size}); ${log.size - cp.size} newer entr${log.size - cp.size === 1 ? "y" : "ies"} not yet verified`,
  };
}

const checkpointCache = new WeakMap<ServerConfig, { at: number; value: CheckpointView | null }>();

/**
 * The log's latest checkpoint for pages that only need its size (the dashboard), cached for 30 s
 * so an upstream log is not fetched on every page view; null when none is configured or readable.
 */
export async function latestCheckpoint(config: ServerConfig, now: number): Promise<CheckpointView | null> {
  const hit = checkpointCache.get(config);
  if (hit && now - hit.at < 30_000 && now >= hit.at) return hit.value;
  const src = sourceOf(config);
  let value: CheckpointView | null = null;
  if (src) {
    try {
      value = await readCheckpoint(src.source);
    } catch {
      value = null;
    }
  }
  checkpointCache.set(config, { at: now, value });
  return value;
}
