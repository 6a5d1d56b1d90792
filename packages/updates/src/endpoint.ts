/**
 * The endpoint's side: `update` downloads the checkpoint, proofs and the newest bundle from a
 * `Source` (or a URL or directory) and applies it only when every check holds, in this order:
 *  0. with a trust root instead of a plain policy: the root chain is walked forward on the source
 *     (root.ts: each new root signed by a threshold of the previous root's keys and of its own),
 *     the newest is kept in STATE/root.note, and its policy is the one used below;
 *  1. the checkpoint is signed by the trusted log key and has the trusted origin;
 *  2. a quorum of distinct trusted witnesses cosigned it, recently enough (maxCheckpointAge) and
 *     not in the future (maxClockSkew);
 *  3. it is consistent with the last checkpoint this endpoint accepted (same size: same root;
 *     larger: a consistency proof computed from the log's tiles verifies; smaller: rollback);
 *  4. the newest manifest of the policy's bundle name is included in it (inclusion proof);
 *  5. the manifest is signed by a trusted publisher, its version is above every version this
 *     endpoint ever accepted, and this engine is recent enough;
 *  6. the archive's files match the manifest;
 *  7. optionally, the rules pass the endpoint's own audit policy.
 * Apply is atomic: the bundle is written and fsynced to its own directory, then state.json is
 * replaced atomically (the commit point), then the `current` symlink is swapped. A crash at any
 * point leaves either the old or the new bundle in force, never a mix; `open` repairs the symlink.
 * Security failures keep their evidence (both checkpoints) under `evidence/`.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, readdir, readlink, rename, rm, symlink, open as openFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ENGINE_VERSION } from "@vigil/engine";
import {
  KEY_TYPE_COSIGNATURE_V1,
  KEY_TYPE_MLDSA44_COSIGNATURE,
  NoteError,
  type TileReader,
  equalBytes,
  leafHash,
  openNote,
  parseCheckpoint,
  parseVerifierKey,
  readEntries,
  verifyConsistency,
  verifyInclusion,
  type Checkpoint,
  type OpenedNote,
} from "@vigil/tlog";
import { bundleArchivePath, compareVersions, manifestOf, openBundle, openManifest, type Manifest } from "./bundle.js";
import { UpdateError } from "./error.js";
import { fsyncDir, lockDir, writeFileAtomic } from "./fsutil.js";
import { meetsQuorum, type TrustPolicy } from "./policy.js";
import { updateRoot } from "./root.js";
import { failing, formatFinding } from "./audit/auditor.js";
import { auditBundleFile } from "./audit/clamav.js";
import type { AuditPolicy } from "./audit/policy.js";
import { LIMITS, openSource, tileFetcher, transportDamage, verifiedTree, type Source } from "./source.js";

export interface InstalledBundle {
  readonly name: string;
  readonly version: number;
  readonly manifestHash: string;
  /** directory name under `bundles/` */
  readonly dir: string;
}

export interface EndpointState {
  readonly format: "vigil-endpoint/v1";
  /** the last accepted checkpoint note, with its cosignatures */
  readonly checkpoint: string | null;
  readonly current: InstalledBundle | null;
  readonly previous: InstalledBundle | null;
  /** highest bundle version ever accepted: nothing at or below it is applied again */
  readonly highestVersion: number;
}

export interface UpdateOptions {
  /** Where the log is read from: a Source (e.g. one whose reads are ledgered), or a URL or directory for `openSource`. */
  readonly source: Source | string;
  readonly stateDir: string;
  /** the trust policy, as a plain vigil-trust/v1 policy; or give `root` instead */
  readonly policy?: TrustPolicy;
  /**
   * A signed trust root (root.ts, the note's text or bytes) installed by the operator: the
   * endpoint then walks `roots/<N+1>.note`, ... on the source from the newer of this root and
   * the one kept in its state directory, and uses the newest root's policy.
   */
  readonly root?: string | Uint8Array;
  /** clock in POSIX seconds (tests move it) */
  readonly now?: () => number;
  /** test hook: throw at this point of the apply, as a crash there would stop it */
  readonly failpoint?: "after-extract" | "after-state";
  /** the endpoint's own audit policy: when set, a bundle with failing findings is refused */
  readonly auditPolicy?: AuditPolicy;
  /** instrumentation hooks, called at the two points of the apply (tests kill the process there) */
  readonly hooks?: {
    readonly afterExtract?: () => void | Promise<void>;
    readonly afterCommit?: () => void | Promise<void>;
  };
}

export interface UpdateResult {
  readonly status: "applied" | "up-to-date";
  readonly version: number;
  readonly previousVersion: number | null;
  readonly checkpointSize: bigint;
  readonly witnesses: string[];
  /** with a trust root: the version of the root whose policy was used, and the one the walk started from */
  readonly root?: { readonly version: number; readonly from: number; readonly expires: string };
}

/** How far back from the end of the log an endpoint looks for its bundle name. */
const MAX_SEARCH = 4096;

const EMPTY_STATE: EndpointState = {
  format: "vigil-endpoint/v1",
  checkpoint: null,
  current: null,
  previous: null,
  highestVersion: 0,
};

export async function loadState(stateDir: string): Promise<EndpointState> {
  let text: string;
  try {
    text = await readFile(join(stateDir, "state.json"), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return EMPTY_STATE;
    throw new UpdateError("BAD_INPUT", `cannot read ${join(stateDir, "state.json")}`, { cause: e });
  }
  try {
    const s = JSON.parse(text) as EndpointState;
    if (s.format !== "vigil-endpoint/v1") throw new Error("unknown format");
    return s;
  } catch (cause) {
    throw new UpdateError(
      "BAD_INPUT",
      `${join(stateDir, "state.json")} is damaged; restore it from backup or remove the state directory to re-bootstrap`,
      { cause },
    );
  }
}

async function saveState(stateDir: string, s: EndpointState): Promise<void> {
  await writeFileAtomic(join(stateDir, "state.json"), JSON.stringify(s, null, 2) + "\n");
}

async function pointCurrent(stateDir: string, dir: string | null): Promise<void> {
  const link = join(stateDir, "current");
  if (dir === null) return;
  const target = join("bundles", dir);
  try {
    if ((await readlink(link)) === target) return;
  } catch {
    /* missing link */
  }
  const tmp = `${link}.tmp-${randomBytes(4).toString("hex")}`;
  await symlink(target, tmp);
  await rename(tmp, link);
  await fsyncDir(stateDir);
}

/**
 * Opens an endpoint state directory after a possible crash: points `current` at the bundle
 * state.json names and removes unfinished staging directories. Returns the state.
 */
export async function recoverEndpoint(stateDir: string): Promise<EndpointState> {
  await mkdir(join(stateDir, "bundles"), { recursive: true });
  const state = await loadState(stateDir);
  for (const d of await readdir(join(stateDir, "bundles"))) {
    if (d.startsWith(".staging-")) await rm(join(stateDir, "bundles", d), { recursive: true, force: true });
  }
  await pointCurrent(stateDir, state.current?.dir ?? null);
  return state;
}

/** The directory of the bundle in force (what the scanner loads), or null before the first update. */
export async function currentBundleDir(stateDir: string): Promise<string | null> {
  const s = await loadState(stateDir);
  return s.current ? join(stateDir, "bundles", s.current.dir) : null;
}

async function keepEvidence(stateDir: string, code: string, parts: Record<string, string>): Promise<string> {
  const file = join(stateDir, "evidence", `${new Date().toISOString().replace(/[:.]/g, "-")}-${code}.txt`);
  const body = Object.entries(parts)
    .map(([k, v]) => `== ${k}\n${v}`)
    .join("\n");
  await writeFileAtomic(file, body);
  return file;
}

function countQuorum(
  opened: OpenedNote,
  policy: TrustPolicy,
  now: number,
): { fresh: string[]; stale: string[]; future: string[] } {
  const witnessKeys = new Map(
    policy.witnesses.map((w) => {
      const k = parseVerifierKey(w);
      return [`${k.name}\u0000${k.keyId}`, w] as const;
    }),
  );
  const fresh = new Set<string>(),
    stale = new Set<string>(),
    future = new Set<string>();
  for (const s of opened.signatures) {
    if ((s.type !== KEY_TYPE_COSIGNATURE_V1 && s.type !== KEY_TYPE_MLDSA44_COSIGNATURE) || s.timestampBig === undefined)
      continue;
    const key = witnessKeys.get(`${s.name}\u0000${s.keyId}`);
    if (!key) continue;
    const ts = s.timestampBig;
    if (ts > BigInt(now + policy.maxClockSkew)) future.add(key);
    else if (BigInt(now) - ts > BigInt(policy.maxCheckpointAge)) stale.add(key);
    else fresh.add(key);
  }
  return { fresh: [...fresh], stale: [...stale], future: [...future] };
}

/** Verifies a checkpoint note against the policy: log signature, origin, witness quorum and freshness. */
export function verifyCheckpointNote(
  note: string,
  policy: TrustPolicy,
  now: number,
): { checkpoint: Checkpoint; opened: OpenedNote; witnesses: string[] } {
  let opened: OpenedNote;
  try {
    opened = openNote(note, [...policy.log.keys, ...policy.witnesses]);
  } catch (e) {
    if (e instanceof NoteError && e.code === "INVALID_SIGNATURE") {
      const isLog = policy.log.keys.some((k) => {
        const v = parseVerifierKey(k);
        return v.name === e.key?.name && v.keyId === e.key?.keyId;
      });
      if (isLog)
        throw new UpdateError("BAD_LOG_SIGNATURE", "the checkpoint's log signature is invalid: refusing it", {
          cause: e,
        });
      throw new UpdateError(
        "NO_QUORUM",
        `a witness cosignature on this checkpoint is invalid (${e.key?.name}): the checkpoint was altered after cosigning, or cosignatures were copied from another tree (split view?)`,
        { cause: e },
      );
    }
    throw new UpdateError(
      "BAD_LOG_SIGNATURE",
      `the checkpoint is not signed by the trusted log key (${e instanceof NoteError ? e.code : "error"})`,
      { cause: e },
    );
  }
  const logNames = new Set(
    policy.log.keys.map((k) => {
      const v = parseVerifierKey(k);
      return `${v.name}\u0000${v.keyId}`;
    }),
  );
  if (!opened.signatures.some((s) => logNames.has(`${s.name}\u0000${s.keyId}`))) {
    throw new UpdateError(
      "BAD_LOG_SIGNATURE",
      "the checkpoint carries witness cosignatures but no signature by the trusted log key",
    );
  }
  let cp: Checkpoint;
  try {
    cp = parseCheckpoint(opened.text);
  } catch (e) {
    throw new UpdateError("BAD_LOG_SIGNATURE", `the signed checkpoint is malformed: ${(e as Error).message}`, {
      cause: e,
    });
  }
  if (cp.origin !== policy.log.origin)
    throw new UpdateError(
      "WRONG_ORIGIN",
      `checkpoint origin ${JSON.stringify(cp.origin)} is not the trusted log ${JSON.stringify(policy.log.origin)}`,
    );
  const q = countQuorum(opened, policy, now);
  if (!meetsQuorum(policy, q.fresh)) {
    if (meetsQuorum(policy, [...q.fresh, ...q.stale])) {
      throw new UpdateError(
        "STALE_CHECKPOINT",
        `only ${q.fresh.length} of ${policy.quorum} required witness cosignatures are newer than ${policy.maxCheckpointAge} s: the log may be frozen; refusing`,
      );
    }
    if (q.future.length > 0)
      throw new UpdateError(
        "FUTURE_CHECKPOINT",
        `${q.future.length} witness cosignature(s) are dated in the future; check this machine's clock`,
      );
    throw new UpdateError(
      "NO_QUORUM",
      `${q.fresh.length} valid witness cosignature(s), the policy needs ${policy.tlogPolicy ? `its tlog-policy quorum (at least ${policy.quorum})` : policy.quorum}: the witnesses have not (yet) vouched for this checkpoint`,
    );
  }
  return { checkpoint: cp, opened, witnesses: q.fresh };
}

/** Runs one update. Throws UpdateError with the failed check's code; nothing is applied then. */
export async function update(opts: UpdateOptions): Promise<UpdateResult> {
  const release = await lockDir(opts.stateDir, "update");
  try {
    return await updateLocked(opts);
  } finally {
    await release();
  }
}

async function updateLocked(opts: UpdateOptions): Promise<UpdateResult> {
  const now = (opts.now ?? (() => Math.floor(Date.now() / 1000)))();
  const { stateDir } = opts;
  const state = await recoverEndpoint(stateDir);
  const src = typeof opts.source === "string" ? openSource(opts.source) : opts.source;
  // 0. the trust policy: given as it is, or the newest root reachable from the trusted one
  let policy: TrustPolicy;
  let rootInfo: { version: number; from: number; expires: string } | undefined;
  if (opts.root !== undefined) {
    if (opts.policy)
      throw new UpdateError("BAD_INPUT", "give a trust policy or a trust root, not both: the root holds the policy");
    let r: Awaited<ReturnType<typeof updateRoot>>;
    try {
      r = await updateRoot({ source: src, stateDir, bootstrap: opts.root, now });
    } catch (e) {
      if (e instanceof UpdateError && e.evidence) {
        const file = await keepEvidence(stateDir, e.code.toLowerCase(), e.evidence);
        throw new UpdateError(e.code, `${e.message}; evidence kept in ${file}`, { cause: e, evidence: e.evidence });
      }
      throw e;
    }
    policy = r.root.policy;
    rootInfo = { version: r.root.document.version, from: r.from, expires: r.root.document.expires };
  } else if (opts.policy) policy = opts.policy;
  else
    throw new UpdateError(
      "BAD_INPUT",
      "an update needs a trust policy (vigil-trust/v1) or a trust root (vigil-root/v1)",
    );
  const withRoot = <T extends object>(r: T): T => (rootInfo ? { ...r, root: rootInfo } : r);
  const note = Buffer.from(await src.get("checkpoint", LIMITS.checkpoint)).toString("utf8");
  const { checkpoint: cp, witnesses } = verifyCheckpointNote(note, policy, now);

  // 3. consistency with what we accepted before. The tree is read from tiles checked against the
  // signed root first: tiles that are missing or damaged are transport damage (refused, retry),
  // not a split view; only a well-formed proof that fails is evidence of one.
  const fetchTile = tileFetcher(src);
  let tree: TileReader | undefined;
  const signedTree = async () => (tree ??= await verifiedTree(src, cp));
  if (state.checkpoint) {
    const oldText = state.checkpoint.slice(0, state.checkpoint.lastIndexOf("\n\n") + 1);
    const old = parseCheckpoint(oldText);
    if (cp.size < old.size) {
      throw new UpdateError(
        "ROLLBACK",
        `the log offers a tree of ${cp.size} entries, smaller than the ${old.size} this endpoint already accepted: refusing (rollback)`,
      );
    }
    let ok: boolean;
    if (cp.size === old.size) ok = equalBytes(cp.rootHash, old.rootHash);
    else if (old.size === 0n) ok = true;
    else {
      const reader = await signedTree();
      let proof: Uint8Array[];
      try {
        proof = await reader.consistencyProof(old.size);
      } catch (e) {
        throw transportDamage(e, `cannot read the consistency proof from size ${old.size} to ${cp.size}`, src.location);
      }
      ok = verifyConsistency(old.size, cp.size, proof, old.rootHash, cp.rootHash);
    }
    if (!ok) {
      const file = await keepEvidence(stateDir, "inconsistent", {
        "accepted checkpoint": state.checkpoint,
        "offered checkpoint": note,
      });
      throw new UpdateError(
        "INCONSISTENT",
        `the offered checkpoint (size ${cp.size}) does not extend the accepted one (size ${old.size}): the log shows this endpoint a different tree (split view). Evidence kept in ${file}`,
        {
          evidence: { accepted: state.checkpoint, offered: note },
        },
      );
    }
  }
  if (cp.size === 0n) {
    return withRoot({
      status: "up-to-date",
      version: state.current?.version ?? 0,
      previousVersion: state.previous?.version ?? null,
      checkpointSize: 0n,
      witnesses,
    });
  }

  // 4. the newest manifest of our bundle name (searched backwards, one entry bundle at a time,
  // over at most MAX_SEARCH entries), and its inclusion
  let leafIndex = -1n;
  let signed = "";
  let manifest: Manifest | undefined;
  const stop = cp.size > BigInt(MAX_SEARCH) ? cp.size - BigInt(MAX_SEARCH) : 0n;
  for (let end = cp.size; end > stop && !manifest; ) {
    const start = end - 1n - ((end - 1n) % 256n);
    let chunk: Uint8Array[];
    try {
      chunk = await readEntries(fetchTile, cp.size, start, end);
    } catch (e) {
      throw transportDamage(e, `cannot read the log's entries ${start}..${end - 1n}`, src.location);
    }
    for (let i = chunk.length - 1; i >= 0 && !manifest; i--) {
      const s = Buffer.from(chunk[i]!).toString("utf8");
      try {
        const m = manifestOf(s);
        if (m.name === policy.bundle) {
          manifest = m;
          signed = s;
          leafIndex = start + BigInt(i);
        }
      } catch {
        /* not a bundle manifest */
      }
    }
    end = start;
  }
  if (!manifest)
    throw new UpdateError(
      "NOT_INCLUDED",
      `no manifest of bundle ${policy.bundle} among the log's last ${MAX_SEARCH} entries`,
    );
  const reader = await signedTree();
  let proof: Uint8Array[];
  try {
    proof = await reader.inclusionProof(leafIndex);
  } catch (e) {
    throw transportDamage(e, `cannot read the inclusion proof of entry ${leafIndex}`, src.location);
  }
  if (!verifyInclusion(leafIndex, cp.size, leafHash(Buffer.from(signed, "utf8")), proof, cp.rootHash)) {
    throw new UpdateError(
      "NOT_INCLUDED",
      `the manifest at index ${leafIndex} is not included in the checkpoint's tree: refusing`,
    );
  }

  // 5. publisher, version, engine
  const opened = openManifest(signed, policy.publishers);
  manifest = opened.manifest;
  if (manifest.version <= state.highestVersion) {
    // the bundle in force, or the one an operator rolled back from: nothing to do
    if (
      (state.current && opened.hash === state.current.manifestHash) ||
      (state.previous && opened.hash === state.previous.manifestHash)
    ) {
      await saveState(stateDir, { ...state, checkpoint: note });
      return withRoot({
        status: "up-to-date",
        version: manifest.version,
        previousVersion: state.previous?.version ?? null,
        checkpointSize: cp.size,
        witnesses,
      });
    }
    throw new UpdateError(
      "ROLLBACK",
      `bundle version ${manifest.version} is not above version ${state.highestVersion} already accepted: refusing (rollback)`,
    );
  }
  if (compareVersions(ENGINE_VERSION, manifest.engine) < 0) {
    throw new UpdateError(
      "BAD_BUNDLE",
      `bundle ${manifest.version} needs engine ${manifest.engine}, this is ${ENGINE_VERSION}: upgrade Vigil first`,
    );
  }

  // 6. files
  const archive = await src.get(bundleArchivePath(manifest.name, manifest.version), LIMITS.bundle);
  const { files } = openBundle(archive, signed);
  if (opts.auditPolicy) {
    const policy = opts.auditPolicy;
    const bad = failing(
      files.flatMap((f) => auditBundleFile(f.path, f.data, { policy })),
      policy,
    );
    if (bad.length) {
      throw new UpdateError(
        "AUDIT_FAILED",
        `bundle ${manifest.version} fails this endpoint's audit policy (${policy.version}):\n${bad.map(formatFinding).join("\n")}`,
      );
    }
  }

  // apply
  const dirName = `${manifest.name}-${manifest.version}-${opened.hash.slice(0, 12)}`;
  const bundlesDir = join(stateDir, "bundles");
  const staging = join(bundlesDir, `.staging-${randomBytes(6).toString("hex")}`);
  try {
    for (const f of [{ path: "MANIFEST", data: new Uint8Array(Buffer.from(signed, "utf8")) }, ...files]) {
      const full = join(staging, ...f.path.split("/"));
      await mkdir(dirname(full), { recursive: true });
      const h = await openFile(full, "wx", 0o644);
      try {
        await h.writeFile(f.data);
        await h.sync();
      } finally {
        await h.close();
      }
    }
    await fsyncDir(staging);
    await rm(join(bundlesDir, dirName), { recursive: true, force: true });
    await rename(staging, join(bundlesDir, dirName));
    await fsyncDir(bundlesDir);
  } catch (cause) {
    await rm(staging, { recursive: true, force: true });
    throw new UpdateError("APPLY_FAILED", `could not write bundle ${manifest.version} under ${bundlesDir}`, { cause });
  }
  await opts.hooks?.afterExtract?.();
  if (opts.failpoint === "after-extract") throw new Error("failpoint after-extract");
  const installed: InstalledBundle = {
    name: manifest.name,
    version: manifest.version,
    manifestHash: opened.hash,
    dir: dirName,
  };
  await saveState(stateDir, {
    format: "vigil-endpoint/v1",
    checkpoint: note,
    current: installed,
    previous: state.current,
    highestVersion: manifest.version,
  });
  await opts.hooks?.afterCommit?.();
  if (opts.failpoint === "after-state") throw new Error("failpoint after-state");
  await pointCurrent(stateDir, dirName);
  // keep only the current and previous bundles
  for (const d of await readdir(bundlesDir)) {
    if (d !== dirName && d !== state.current?.dir && !d.startsWith("."))
      await rm(join(bundlesDir, d), { recursive: true, force: true });
  }
  return withRoot({
    status: "applied",
    version: manifest.version,
    previousVersion: state.current?.version ?? null,
    checkpointSize: cp.size,
    witnesses,
  });
}

/**
 * Operator rollback: puts the previous bundle back in force. The highest accepted version stays,
 * so the bundle rolled away from is not re-applied by the next update; a newer one will be.
 */
export async function rollback(stateDir: string): Promise<{ version: number; from: number }> {
  const release = await lockDir(stateDir, "update");
  try {
    const state = await recoverEndpoint(stateDir);
    if (!state.current || !state.previous)
      throw new UpdateError("NO_PREVIOUS", "there is no previous bundle to roll back to");
    await saveState(stateDir, { ...state, current: state.previous, previous: state.current });
    await pointCurrent(stateDir, state.previous.dir);
    return { version: state.previous.version, from: state.current.version };
  } finally {
    await release();
  }
}

/** Reads the manifest of the bundle in force. */
export async function installedManifest(stateDir: string): Promise<Manifest | null> {
  const dir = await currentBundleDir(stateDir);
  if (!dir) return null;
  return manifestOf(await readFile(join(dir, "MANIFEST"), "utf8"));
}
