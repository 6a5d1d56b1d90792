/**
 * Publishing: rules directory -> compiled check -> bundle (signed manifest + deterministic
 * archive) -> archive written under `bundles/` -> manifest appended to the log -> tiles and a new
 * checkpoint -> cosignatures requested from witnesses and added to the checkpoint -> a C2SP
 * tlog-proof (`bundles/<name>-<version>.tlog-proof`) for offline verification.
 */
import { TlogError, formatTlogProof } from "@vigil/tlog";
import {
  buildBundle,
  bundleArchivePath,
  compileBundleRules,
  manifestOf,
  readRulesDir,
  sha256Hex,
  type Manifest,
} from "./bundle.js";
import { UpdateError } from "./error.js";
import { DiskLog } from "./log.js";
import type { TlogPolicy } from "./tlog-policy.js";
import { requestCosignature } from "./witness.js";

export interface PublishOptions {
  readonly rulesDir: string;
  readonly logDir: string;
  /** publisher key (`PRIVATE+KEY+...`) that signs the manifest */
  readonly publisherKey: string;
  /** log key that signs checkpoints; defaults to the publisher key */
  readonly logKey?: string;
  /** bundle name (default "rules") */
  readonly name?: string;
  /**
   * witnesses to ask for cosignatures: a submission prefix URL, or a URL with the witness's
   * vkeys (then its answer is verified and lines by other keys dropped, as tlog-witness asks)
   */
  readonly witnesses?: ReadonlyArray<string | WitnessTarget>;
  readonly time?: Date;
  /** compile the rules with the engine and refuse bundles that do not compile (default true) */
  readonly compileCheck?: boolean;
}

/** A witness as a log asks it: its submission prefix and, when known, its verifier key(s). */
export interface WitnessTarget {
  readonly url: string;
  readonly keys?: readonly string[];
}

/**
 * The witnesses a C2SP tlog-policy lists with a URL (the spec recommends "the witness'
 * submission prefix URL"), each with its vkey: whom a log asks for cosignatures. Witnesses
 * without a URL are skipped (a policy for offline verification need not carry them).
 */
export function witnessesFromTlogPolicy(policy: TlogPolicy): WitnessTarget[] {
  const out: WitnessTarget[] = [];
  for (const w of policy.witnesses.values()) if (w.url) out.push({ url: w.url, keys: [w.vkey] });
  return out;
}

export interface PublishResult {
  readonly manifest: Manifest;
  readonly manifestHash: string;
  readonly index: number;
  readonly checkpoint: string;
  readonly ruleCount: number;
  readonly cosignedBy: string[];
  readonly refusedBy: Array<{ witness: string; reason: string }>;
}

/** The last manifest named `name` in the log and its hash, if any. */
export async function lastManifest(
  log: DiskLog,
  name: string,
): Promise<{ manifest: Manifest; hash: string; index: number } | undefined> {
  for (let i = log.size - 1; i >= 0; i--) {
    const signed = Buffer.from(await log.entry(i)).toString("utf8");
    let m: Manifest;
    try {
      m = manifestOf(signed);
    } catch {
      continue;
    }
    if (m.name === name) return { manifest: m, hash: sha256Hex(signed), index: i };
  }
  return undefined;
}

export async function publish(opts: PublishOptions): Promise<PublishResult> {
  const name = opts.name ?? "rules";
  const logKey = opts.logKey ?? opts.publisherKey;
  const files = await readRulesDir(opts.rulesDir);
  const ruleCount = opts.compileCheck === false ? -1 : compileBundleRules(files).ruleCount;
  const log = await DiskLog.open(opts.logDir, logKey);
  const prev = await lastManifest(log, name);
  const built = buildBundle(
    files,
    {
      name,
      version: (prev?.manifest.version ?? 0) + 1,
      previous: prev?.hash ?? "",
      ...(opts.time ? { time: opts.time } : {}),
    },
    opts.publisherKey,
  );
  // the archive goes out before the log entry, so whoever sees the entry can fetch the bundle
  await log.writeFile(bundleArchivePath(name, built.manifest.version), built.archive);
  const oldSize = log.size;
  let checkpoint = await log.append([Buffer.from(built.signedManifest, "utf8")], logKey);
  const cosignedBy: string[] = [];
  const refusedBy: Array<{ witness: string; reason: string }> = [];
  const lines: string[] = [];
  for (const target of opts.witnesses ?? []) {
    const w = typeof target === "string" ? target : target.url;
    const keys = typeof target === "string" ? undefined : target.keys;
    try {
      const got = await requestCosignature(
        w,
        checkpoint,
        (old) => {
          try {
            return log.tree.consistencyProof(old);
          } catch (e) {
            if (e instanceof TlogError)
              throw new UpdateError(
                "WITNESS_REFUSED",
                `witness ${w} claims a size ${old} this log never had: it saw a different log`,
                { cause: e },
              );
            throw e;
          }
        },
        BigInt(oldSize),
        keys,
      );
      lines.push(...got);
      cosignedBy.push(w);
    } catch (e) {
      refusedBy.push({ witness: w, reason: (e as Error).message });
    }
  }
  if (lines.length) checkpoint = await log.addCosignatures(lines);
  // a C2SP tlog-proof next to the archive: the entry's inclusion in the (cosigned) checkpoint,
  // verifiable offline with the MANIFEST inside the archive
  const index = log.size - 1;
  await log.writeFile(
    bundleArchivePath(name, built.manifest.version).replace(/\.tar$/, ".tlog-proof"),
    Buffer.from(formatTlogProof({ index: BigInt(index), proof: log.tree.inclusionProof(index), checkpoint })),
  );
  return {
    manifest: built.manifest,
    manifestHash: sha256Hex(built.signedManifest),
    index: log.size - 1,
    checkpoint,
    ruleCount,
    cosignedBy,
    refusedBy,
  };
}
