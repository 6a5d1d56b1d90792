/**
 * Trust roots: an endpoint's trust policy (policy.ts) that can change without a reinstall, the
 * way TUF rotates its root metadata (TUF specification, "root.json" and client workflow
 * "Update the root role").
 *
 * A root is a signed note (c2sp.org/signed-note, Ed25519 note keys of type 0x01) whose text is
 * the canonical JSON of
 *
 * ```json
 * { "expires": "2027-12-31T00:00:00Z", "format": "vigil-root/v1",
 *   "keys": ["root.example/r1+1234abcd+AQ...", ...], "policy": { "format": "vigil-trust/v1", ... },
 *   "threshold": 2, "version": 3 }
 * ```
 * (keys sorted, two-space indentation, integers only, one final newline: exactly what
 * `encodeRoot` writes; any other spelling of the same document is refused, so the bytes signed
 * are the bytes read). Root N+1 is trusted only when a threshold of root N's keys AND a threshold
 * of its own keys signed it, each key counted once. An endpoint keeps the newest root it trusts
 * in `<state>/root.note` (replaced atomically at each step), fetches `roots/<N+1>.note` from the
 * update source beside the log, then N+2, ..., stops at the first one missing, and refuses to go
 * on when the newest root has expired (a freeze). Expiry is not checked on the intermediate roots
 * (as in TUF): an endpoint that was offline for years can still walk forward.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  KEY_TYPE_ED25519,
  NoteError,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signatureLine,
  splitNote,
  type OpenedNote,
} from "@vigil/tlog";
import { UpdateError, type UpdateErrorCode } from "./error.js";
import { writeFileAtomic } from "./fsutil.js";
import { validatePolicy, type TrustPolicy } from "./policy.js";
import type { Source } from "./source.js";

export const ROOT_FORMAT = "vigil-root/v1";
/** A root note is at most this large (a tlog-policy with many witnesses fits easily). */
export const ROOT_MAX_BYTES = 256 * 1024;
/** At most this many root keys (old and new keys together stay under signed-note's 100 signatures). */
export const MAX_ROOT_KEYS = 32;
/** At most this many roots are walked in one update (the rest on the next one). */
export const MAX_ROOT_STEPS = 256;
/** Where an endpoint keeps the newest root it trusts, under its state directory. */
export const ROOT_STATE_FILE = "root.note";

/** The signed content of a root. `policy` is the vigil-trust/v1 object as written (JSON). */
export interface RootDocument {
  readonly format: typeof ROOT_FORMAT;
  readonly version: number;
  /** RFC 3339 UTC, whole seconds: `YYYY-MM-DDTHH:MM:SSZ` */
  readonly expires: string;
  /** Ed25519 note verifier keys (type 0x01) that sign the next root */
  readonly keys: readonly string[];
  readonly threshold: number;
  readonly policy: unknown;
}

/** A root that verified: its document, its policy, and the note as read (for persisting). */
export interface TrustedRoot {
  readonly document: RootDocument;
  readonly policy: TrustPolicy;
  readonly note: string;
  /** the expiry in POSIX seconds */
  readonly expiresAt: number;
}

function fail(code: UpdateErrorCode, msg: string, cause?: unknown): UpdateError {
  return new UpdateError(code, msg, cause === undefined ? undefined : { cause });
}

/** The canonical JSON of a value: object keys sorted, two-space indentation, safe integers only. */
export function canonicalJson(value: unknown): string {
  const norm = (v: unknown, depth: number): unknown => {
    if (depth > 32) throw fail("BAD_ROOT", "root: JSON nested too deeply");
    if (v === null || typeof v === "string" || typeof v === "boolean") return v;
    if (typeof v === "number") {
      if (!Number.isSafeInteger(v)) throw fail("BAD_ROOT", `root: ${v} is not an integer (a root holds integers only)`);
      return v;
    }
    if (Array.isArray(v)) return v.map((x) => norm(x, depth + 1));
    if (typeof v === "object") {
      const o = v as Record<string, unknown>;
      return Object.fromEntries(
        Object.keys(o)
          .sort()
          .map((k) => [k, norm(o[k], depth + 1)]),
      );
    }
    throw fail("BAD_ROOT", `root: a ${typeof v} cannot be written in JSON`);
  };
  return JSON.stringify(norm(value, 0), null, 2);
}

const EXPIRES = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/;

/** `YYYY-MM-DDTHH:MM:SSZ` to POSIX seconds, or undefined when it is not such a (real) date. */
export function parseExpires(s: unknown): number | undefined {
  if (typeof s !== "string" || !EXPIRES.test(s)) return undefined;
  const ms = Date.parse(s);
  if (!Number.isFinite(ms) || new Date(ms).toISOString().replace(".000Z", "Z") !== s) return undefined;
  return ms / 1000;
}

/** POSIX seconds to the `expires` form. */
export function formatExpires(seconds: number): string {
  return new Date(Math.floor(seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The root's text: what its keys sign. Checks the document's form, not its embedded policy. */
export function encodeRoot(doc: RootDocument): string {
  checkDocument(doc);
  return canonicalJson(doc) + "\n";
}

function checkDocument(o: unknown): RootDocument {
  const bad = (m: string) => fail("BAD_ROOT", `root: ${m}`);
  if (typeof o !== "object" || o === null || Array.isArray(o)) throw bad("must be a JSON object");
  const d = o as Record<string, unknown>;
  for (const k of Object.keys(d))
    if (!["format", "version", "expires", "keys", "threshold", "policy"].includes(k))
      throw bad(
        `unknown field ${JSON.stringify(k)} (a ${ROOT_FORMAT} root has format, version, expires, keys, threshold, policy)`,
      );
  if (d.format !== ROOT_FORMAT) throw bad(`"format" must be "${ROOT_FORMAT}"`);
  if (typeof d.version !== "number" || !Number.isSafeInteger(d.version) || d.version < 1)
    throw bad('"version" must be an integer of at least 1');
  if (parseExpires(d.expires) === undefined) throw bad('"expires" must be a UTC time written YYYY-MM-DDTHH:MM:SSZ');
  if (!Array.isArray(d.keys) || d.keys.length < 1 || d.keys.length > MAX_ROOT_KEYS)
    throw bad(`"keys" must list 1 to ${MAX_ROOT_KEYS} root keys`);
  const seenKey = new Set<string>();
  const seenId = new Set<string>();
  for (const k of d.keys) {
    let v;
    try {
      v = parseVerifierKey(k as string);
    } catch (e) {
      throw fail("BAD_ROOT", `root: bad key in "keys": ${(e as Error).message}`, e);
    }
    if (v.type !== KEY_TYPE_ED25519) throw bad(`root keys are Ed25519 note keys (type 0x01); ${v.name} is not`);
    const pk = Buffer.from(v.publicKey).toString("hex");
    const id = `${v.name}\u0000${v.keyId}`;
    if (seenKey.has(pk) || seenId.has(id)) throw bad(`root key ${v.name} is listed twice (each key once)`);
    seenKey.add(pk);
    seenId.add(id);
  }
  if (
    typeof d.threshold !== "number" ||
    !Number.isSafeInteger(d.threshold) ||
    d.threshold < 1 ||
    d.threshold > d.keys.length
  )
    throw bad(`"threshold" must be between 1 and the number of keys (${d.keys.length})`);
  if (typeof d.policy !== "object" || d.policy === null || Array.isArray(d.policy))
    throw bad('"policy" must be a vigil-trust/v1 trust policy object');
  return d as unknown as RootDocument;
}

/** A root file as read: its text and signature lines (none for a draft), nothing verified. */
export interface RootFile {
  readonly text: string;
  readonly signatureLines: readonly string[];
  readonly document: RootDocument;
}

/**
 * Parses a root file: a signed note, or a draft (the text alone, before anyone signed it). The
 * text must be the canonical encoding of a well-formed root document (BAD_ROOT otherwise).
 */
export function parseRoot(note: string | Uint8Array): RootFile {
  let s: string;
  if (typeof note === "string") s = note;
  else {
    try {
      s = new TextDecoder("utf-8", { fatal: true }).decode(note);
    } catch (e) {
      throw fail("BAD_ROOT", "root: not valid UTF-8", e);
    }
  }
  let text: string;
  let signatureLines: string[] = [];
  if (s.includes("\n\n")) {
    try {
      ({ text, signatureLines } = splitNote(s));
    } catch (e) {
      throw fail("BAD_ROOT", `root: not a signed note: ${(e as Error).message}`, e);
    }
  } else text = s;
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw fail("BAD_ROOT", "root: the text is not JSON", e);
  }
  const document = checkDocument(obj);
  if (canonicalJson(obj) + "\n" !== text)
    throw fail(
      "BAD_ROOT",
      "root: the text is not in canonical form (sorted keys, two-space indentation, integers, one final newline); write it with `vigil root` and sign that",
    );
  return { text, signatureLines, document };
}

/** The note of a root file: text, blank line, signature lines. */
export function formatRootFile(f: { text: string; signatureLines: readonly string[] }): string {
  return f.signatureLines.length ? `${f.text}\n${f.signatureLines.join("")}` : f.text;
}

/**
 * Adds signatures to a root file (draft or signed) with Ed25519 note signer keys. A key that
 * already signed it is not added twice.
 */
export function signRoot(note: string, signerKeys: readonly string[]): string {
  const f = parseRoot(note);
  const lines = [...f.signatureLines];
  for (const sk of signerKeys) {
    let k;
    try {
      k = parseSignerKey(sk);
    } catch (e) {
      throw fail("BAD_KEY", `cannot sign the root: ${(e as Error).message}`, e);
    }
    if (k.type !== KEY_TYPE_ED25519)
      throw fail("BAD_KEY", `root keys are Ed25519 note keys (type 0x01); ${k.name} is a witness key`);
    const line = signatureLine(f.text, k);
    if (lines.some((l) => sameSigner(l, line))) continue;
    lines.push(line);
  }
  return formatRootFile({ text: f.text, signatureLines: lines });
}

/** Whether two signature lines carry the same key name and key ID. */
function sameSigner(a: string, b: string): boolean {
  const id = (l: string) => {
    const sp = l.indexOf(" ", 2);
    const raw = Buffer.from(l.slice(sp + 1).trim(), "base64");
    return `${l.slice(2, sp)}\u0000${raw.subarray(0, 4).toString("hex")}`;
  };
  return id(a) === id(b);
}

/**
 * The distinct keys of `keys` whose signatures on the root verify. A signature by one of them
 * over other bytes is ROOT_BAD_SIGNATURE (the root was altered after signing, or signatures were
 * copied from another root).
 */
export function rootSigners(f: RootFile, keys: readonly string[]): string[] {
  if (f.signatureLines.length === 0) return [];
  let opened: OpenedNote;
  try {
    opened = openNote(formatRootFile(f), keys);
  } catch (e) {
    if (e instanceof NoteError && e.code === "UNVERIFIED") return [];
    if (e instanceof NoteError && e.code === "INVALID_SIGNATURE")
      throw fail(
        "ROOT_BAD_SIGNATURE",
        `root version ${f.document.version}: the signature of root key ${e.key?.name} does not verify over this root's bytes: it was altered after signing, or the signature was copied from another root; refusing it`,
        e,
      );
    throw fail("BAD_ROOT", `root version ${f.document.version}: ${(e as Error).message}`, e);
  }
  const byId = new Map(
    keys.map((k) => {
      const v = parseVerifierKey(k);
      return [`${v.name}\u0000${v.keyId}`, k] as const;
    }),
  );
  const out = new Set<string>();
  for (const s of opened.signatures) {
    const k = byId.get(`${s.name}\u0000${s.keyId}`);
    if (k) out.add(k);
  }
  return [...out];
}

function embeddedPolicy(doc: RootDocument): TrustPolicy {
  try {
    return validatePolicy(doc.policy);
  } catch (e) {
    throw fail(
      "BAD_ROOT_POLICY",
      `root version ${doc.version} embeds an invalid trust policy (${(e as Error).message}); its signers must issue a corrected root`,
      e,
    );
  }
}

function selfThreshold(f: RootFile): void {
  const own = rootSigners(f, f.document.keys);
  if (own.length < f.document.threshold)
    throw fail(
      "ROOT_THRESHOLD_SELF",
      `root version ${f.document.version} is signed by ${own.length} of its own keys, it needs ${f.document.threshold}: its new keys must sign it too (vigil root sign)`,
    );
}

function trusted(f: RootFile, policy: TrustPolicy): TrustedRoot {
  return { document: f.document, policy, note: formatRootFile(f), expiresAt: parseExpires(f.document.expires)! };
}

/**
 * Verifies a root taken on trust (an endpoint's first root, installed by the operator): well
 * formed, signed by a threshold of its own keys, its policy valid. Expiry is not checked here.
 */
export function verifyRootSelf(note: string | Uint8Array): TrustedRoot {
  const f = parseRoot(note);
  selfThreshold(f);
  return trusted(f, embeddedPolicy(f.document));
}

/**
 * Verifies `note` as the successor of the trusted root `prev` (TUF, "Update the root role"): a
 * threshold of prev's keys signed it (ROOT_THRESHOLD_PREVIOUS), its version is exactly prev's + 1
 * (ROOT_ROLLBACK at or below, ROOT_VERSION_SKIPPED above), a threshold of its own keys signed it
 * (ROOT_THRESHOLD_SELF), and its policy is valid (BAD_ROOT_POLICY). Expiry is not checked here.
 */
export function verifyNextRoot(prev: TrustedRoot, note: string | Uint8Array): TrustedRoot {
  const f = parseRoot(note);
  const doc = f.document;
  if (f.signatureLines.length === 0)
    throw fail("ROOT_THRESHOLD_PREVIOUS", `root version ${doc.version} carries no signature at all`);
  const old = rootSigners(f, prev.document.keys);
  if (old.length < prev.document.threshold)
    throw fail(
      "ROOT_THRESHOLD_PREVIOUS",
      `root version ${doc.version} is signed by ${old.length} key(s) of root version ${prev.document.version}, which requires ${prev.document.threshold}: refusing it`,
    );
  if (doc.version <= prev.document.version)
    throw fail(
      "ROOT_ROLLBACK",
      `root version ${doc.version} is not above the trusted root version ${prev.document.version}: refusing (rollback)`,
    );
  if (doc.version !== prev.document.version + 1)
    throw fail(
      "ROOT_VERSION_SKIPPED",
      `root version ${doc.version} was offered as the successor of version ${prev.document.version}: roots change one version at a time; refusing it`,
    );
  selfThreshold(f);
  return trusted(f, embeddedPolicy(doc));
}

/** Refuses an expired root (a freeze: an attacker withholding newer roots). */
export function checkRootFresh(root: TrustedRoot, now: number): void {
  if (now >= root.expiresAt)
    throw fail(
      "ROOT_EXPIRED",
      `the newest trusted root (version ${root.document.version}) expired at ${root.document.expires}: the source may be withholding newer roots (freeze), or its signers have not issued the next one; refusing to update`,
    );
}

/**
 * Reads a root file an operator installed (`vigil update --root FILE`) and checks it verifies on
 * its own (well formed, a threshold of its own keys, a valid policy); returns its note.
 */
export async function loadRootFile(path: string): Promise<string> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (e) {
    throw fail("BAD_INPUT", `cannot read the trust root ${path}`, e);
  }
  if (data.length > ROOT_MAX_BYTES) throw fail("BAD_ROOT", `${path} is over ${ROOT_MAX_BYTES} bytes: no root is`);
  return verifyRootSelf(data).note;
}

/** The root an endpoint trusts, from its state directory (null before the first root). */
export async function loadTrustedRoot(stateDir: string): Promise<TrustedRoot | null> {
  const path = join(stateDir, ROOT_STATE_FILE);
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw fail("BAD_INPUT", `cannot read ${path}`, e);
  }
  try {
    return verifyRootSelf(data);
  } catch (e) {
    throw fail(
      "BAD_INPUT",
      `${path} is damaged (${(e as Error).message}); restore it from backup, or remove it to start again from the root given with --root`,
      e,
    );
  }
}

export interface RootUpdateResult {
  readonly root: TrustedRoot;
  /** the version the walk started from */
  readonly from: number;
}

/**
 * The newest trusted root for an endpoint: starts from the newer of `bootstrap` (the root the
 * operator installed) and the one in the state directory, walks `roots/<N+1>.note`, ... on the
 * source, persists each verified step, and refuses an expired result (ROOT_EXPIRED).
 */
export async function updateRoot(opts: {
  readonly source: Source;
  readonly stateDir: string;
  readonly bootstrap: string | Uint8Array;
  readonly now: number;
  readonly maxSteps?: number;
}): Promise<RootUpdateResult> {
  const given = verifyRootSelf(opts.bootstrap);
  const kept = await loadTrustedRoot(opts.stateDir);
  const statePath = join(opts.stateDir, ROOT_STATE_FILE);
  let cur = kept && kept.document.version >= given.document.version ? kept : given;
  if (cur !== kept) await writeFileAtomic(statePath, cur.note);
  const from = cur.document.version;
  for (let i = 0; i < (opts.maxSteps ?? MAX_ROOT_STEPS); i++) {
    let data: Uint8Array;
    const path = `roots/${cur.document.version + 1}.note`;
    try {
      data = await opts.source.get(path, ROOT_MAX_BYTES);
    } catch (e) {
      if (e instanceof UpdateError && e.code === "FETCH_FAILED") break; // the end of the chain
      if (e instanceof UpdateError && e.code === "TOO_LARGE")
        throw fail("BAD_ROOT", `${path} from ${opts.source.location} is over ${ROOT_MAX_BYTES} bytes: no root is`, e);
      throw e;
    }
    try {
      cur = verifyNextRoot(cur, data);
    } catch (e) {
      if (!(e instanceof UpdateError)) throw e;
      // what was offered, beside what was trusted: evidence for the operator (kept by the endpoint)
      throw new UpdateError(e.code, `${path} from ${opts.source.location}: ${e.message}`, {
        cause: e,
        evidence: { "trusted root": cur.note, [`offered ${path}`]: Buffer.from(data).toString("utf8") },
      });
    }
    await writeFileAtomic(statePath, cur.note);
  }
  checkRootFresh(cur, opts.now);
  return { root: cur, from };
}
