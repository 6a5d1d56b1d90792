/**
 * One buffer through a database's two matchers: the compiled rules (YARA files plus the
 * signatures translated by ./translate) and the native body store (./stores/bodydb). The
 * matches come back in the order they would have if every ClamAV signature were a translated
 * rule: YARA rules first, then the ClamAV signatures by their position in the database files,
 * so what a scanner reports first does not depend on where a signature is held.
 */

import { ScanError, type CompiledRules, type ScanResult } from "@vigil/engine";
import { builtinTyper } from "./filetype/typer.js";
import type { BodyDb } from "./stores/bodydb/store.js";

/** A rule or body-signature match, with each string's match offsets and lengths. */
export interface SignatureMatch {
  rule: string;
  namespace: string;
  tags: string[];
  meta: Record<string, string | number | boolean | bigint>;
  strings: Array<{ identifier: string; matches: Array<{ offset: number; length: number }> }>;
}

export interface SignatureScanOptions {
  /** the rules' external variables for this buffer (`clamav_container`). */
  externals?: Record<string, string>;
  /**
   * the buffer's ClamAV file type (`CL_TYPE_*`), which decides the signatures with a target type:
   * give `set.typer.typeOf(bytes)` when the databases have `.ftm` entries; by default ClamAV's
   * built-in magic decides (a non-empty `externals.clamav_type` is taken as the type).
   */
  fileType?: string;
  /** time limit for the whole buffer (rules, then body signatures in what remains). */
  timeoutMs?: number;
}

/** Position of a translated ClamAV rule among the ClamAV signatures (its name is clamav_<n>_...), or -1. */
function clamavOrdinal(rule: string, namespace: string): number {
  if (!namespace.startsWith("clamav_")) return -1;
  const m = /^clamav_(\d+)_/.exec(rule);
  return m ? Number(m[1]) : -1;
}

/**
 * Scans `bytes` with `rules` and `bodies`, merged in translated-rule order. Throws the engine's
 * ScanError when the time limit passes, with `partial` holding the rules known to match.
 */
export function scanSignatures(
  rules: CompiledRules,
  bodies: BodyDb | undefined,
  bytes: Uint8Array,
  options: SignatureScanOptions = {},
): SignatureMatch[] {
  const started = Date.now();
  const fileType = options.fileType || options.externals?.clamav_type || builtinTyper().typeOf(bytes);
  // a database of body signatures alone compiles to no rules: no pass over the bytes for them
  const res =
    rules.ruleCount === 0
      ? ({ matches: [], moduleData: {}, console: [], warnings: [] } satisfies ScanResult)
      : rules.scan(bytes, {
          externals: { ...options.externals, clamav_type: fileType },
          ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
        });
  let body;
  try {
    body =
      bodies?.scan(bytes, options.timeoutMs !== undefined ? started + options.timeoutMs : Infinity, fileType) ?? [];
  } catch (e) {
    // the body store ran out of time after the rules finished: their matches stand
    if (e instanceof ScanError && e.code === "SCAN_TIMEOUT" && !e.partial)
      throw new ScanError("SCAN_TIMEOUT", e.message, { cause: e, partial: res });
    throw e;
  }
  const out: SignatureMatch[] = [];
  let b = 0;
  for (const m of res.matches) {
    const ord = clamavOrdinal(m.rule, m.namespace);
    if (ord >= 0) while (b < body.length && body[b]!.ordinal < ord) out.push(bodies!.ruleMatch(body[b++]!));
    out.push({
      rule: m.rule,
      namespace: m.namespace,
      tags: m.tags,
      meta: m.meta,
      strings: m.strings.map((s) => ({
        identifier: s.identifier,
        matches: s.matches.map((x) => ({ offset: x.offset, length: x.length })),
      })),
    });
  }
  while (b < body.length) out.push(bodies!.ruleMatch(body[b++]!));
  return out;
}

/** What `clamscanOrder` reads of a match: its ClamAV format (meta `clamav_format`) and string offsets. */
export interface OrderableMatch {
  meta?: Record<string, unknown> | undefined;
  strings?: Array<{ matches: Array<{ offset: number; length: number }> }> | undefined;
}

/**
 * Orders one buffer's matches as clamscan reports them (its first is what clamscan prints
 * without --allmatch): `.ndb` body signatures by where their first match ends (the order the
 * byte scan meets them), then whole-file hashes (`clamav_format` "hdb"), then logical
 * signatures and YARA rules in their database order, then PE section and import hashes ("mdb",
 * "imp": checked when clamscan parses the PE). Stable within each group.
 */
export function clamscanOrder<T extends OrderableMatch>(matches: T[]): T[] {
  const rank = (m: T): number => {
    const f = m.meta?.clamav_format;
    return f === "ndb" ? 0 : f === "hdb" ? 1 : f === "mdb" || f === "imp" ? 3 : 2;
  };
  const end = (m: T): number => {
    let best = Infinity;
    for (const s of m.strings ?? []) for (const x of s.matches) best = Math.min(best, x.offset + x.length);
    return best;
  };
  return matches
    .map((m, i) => ({ m, i, r: rank(m), e: rank(m) === 0 ? end(m) : 0 }))
    .sort((a, b) => a.r - b.r || a.e - b.e || a.i - b.i)
    .map((x) => x.m);
}
