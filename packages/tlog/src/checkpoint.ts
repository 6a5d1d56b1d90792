/**
 * C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint) note text: origin, tree size, root hash,
 * optional extension lines; and C2SP tlog-cosignature/v1 cosigning of a checkpoint.
 */
import { decodeBase64, encodeBase64 } from "./base64.js";
import { NoteError, TlogError } from "./error.js";
import { HASH_SIZE } from "./merkle.js";
import {
  KEY_TYPE_COSIGNATURE_V1,
  KEY_TYPE_ED25519,
  parseSignerKey,
  signatureLine,
  withKeyType,
  type SignerKey,
} from "./note.js";

export interface Checkpoint {
  readonly origin: string;
  readonly size: bigint;
  readonly rootHash: Uint8Array;
  readonly extensions: string[];
}

const MAX_U64 = (1n << 64n) - 1n;
const DECIMAL = /^(?:0|[1-9][0-9]*)$/;

function fail(message: string): TlogError {
  return new TlogError("BAD_CHECKPOINT", message);
}

function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) < 0x20) return true;
  return false;
}

/**
 * Whether a log origin follows C2SP tlog-checkpoint's recommendation ("it SHOULD be a
 * schema-less URL containing neither Unicode spaces nor plus (U+002B), such as
 * `example.com/log42`"): undefined when it does, otherwise a sentence saying what to change. Only
 * advice: "clients MUST NOT assume that the origin is following this format", and nothing here
 * refuses an origin that does not.
 */
export function originAdvice(origin: string): string | undefined {
  const tip = "C2SP tlog-checkpoint recommends a schema-less URL such as example.com/log42";
  if (typeof origin !== "string" || origin === "") return `the origin is empty; ${tip}`;
  if (/[\s\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u.test(origin) || origin.includes("+"))
    return `the origin ${JSON.stringify(origin)} contains a space or '+'; ${tip}`;
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(origin))
    return `the origin ${JSON.stringify(origin)} carries a scheme; ${tip} (drop the scheme)`;
  const host = origin.split("/")[0]!;
  if (
    !/^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9-]{2,63}(?::[0-9]{1,5})?$/.test(host)
  )
    return `the origin ${JSON.stringify(origin)} does not start with a domain name; ${tip}`;
  return undefined;
}

/** Parses a tree size written in ASCII decimal with no leading zeros, up to 2^64-1. */
export function parseTreeSize(s: string): bigint | undefined {
  if (!DECIMAL.test(s) || s.length > 20) return undefined;
  const v = BigInt(s);
  return v <= MAX_U64 ? v : undefined;
}

/**
 * Parses checkpoint note text (not the signed note: open it with `openNote` first). Rejects:
 * text not ending in a newline, fewer than three lines, an empty origin, a size with leading
 * zeros, a sign, non-digits or above 2^64-1, a root hash that is not canonical padded base64 of
 * exactly 32 bytes, an empty extension line, and control characters.
 */
export function parseCheckpoint(text: string | Uint8Array): Checkpoint {
  let t: string;
  if (typeof text === "string") t = text;
  else if (text instanceof Uint8Array) {
    try {
      t = new TextDecoder("utf-8", { fatal: true }).decode(text);
    } catch (cause) {
      throw new TlogError("BAD_CHECKPOINT", "checkpoint is not valid UTF-8", { cause });
    }
  } else throw fail("checkpoint must be a string");
  if (!t.endsWith("\n")) throw fail("checkpoint text must end with a newline");
  const lines = t.slice(0, -1).split("\n");
  if (lines.length < 3) throw fail(`checkpoint needs at least 3 lines (origin, size, root hash), got ${lines.length}`);
  for (const l of lines) {
    if (hasControl(l)) throw fail("checkpoint lines must not contain control characters");
  }
  const [origin, sizeLine, rootLine, ...extensions] = lines as [string, string, string, ...string[]];
  if (origin.length === 0) throw fail("checkpoint origin (line 1) must be non-empty");
  const size = parseTreeSize(sizeLine);
  if (size === undefined) {
    throw fail(
      `checkpoint tree size (line 2) must be ASCII decimal without leading zeros, at most 2^64-1 (got ${JSON.stringify(sizeLine.slice(0, 40))})`,
    );
  }
  const root = decodeBase64(rootLine, true);
  if (!root || root.length !== HASH_SIZE)
    throw fail("checkpoint root hash (line 3) must be standard base64 of exactly 32 bytes");
  for (const e of extensions)
    if (e.length === 0)
      throw fail("checkpoint extension lines must be non-empty (is this a signed note? open it first)");
  return { origin, size, rootHash: root, extensions };
}

/**
 * Formats checkpoint note text. Accepts `formatCheckpoint({origin, size, rootHash, extensions})`
 * or `formatCheckpoint(origin, size, rootHash, extensions?)`; validates like `parseCheckpoint`.
 */
export function formatCheckpoint(
  cp: { origin: string; size: bigint | number; rootHash: Uint8Array; extensions?: readonly string[] } | string,
  size?: bigint | number,
  rootHash?: Uint8Array,
  extensions?: readonly string[],
): string {
  const c =
    typeof cp === "string" ? { origin: cp, size: size!, rootHash: rootHash!, extensions: extensions ?? [] } : cp;
  if (typeof c.origin !== "string" || c.origin.length === 0 || c.origin.includes("\n") || hasControl(c.origin)) {
    throw fail("checkpoint origin must be a non-empty single line");
  }
  const s = typeof c.size === "bigint" ? c.size : Number.isSafeInteger(c.size) ? BigInt(c.size) : -1n;
  if (s < 0n || s > MAX_U64) throw fail(`checkpoint size must be an integer in 0..2^64-1 (got ${String(c.size)})`);
  if (!(c.rootHash instanceof Uint8Array) || c.rootHash.length !== HASH_SIZE)
    throw fail("checkpoint root hash must be 32 bytes");
  let out = `${c.origin}\n${s}\n${encodeBase64(c.rootHash)}\n`;
  for (const e of c.extensions ?? []) {
    if (typeof e !== "string" || e.length === 0 || e.includes("\n") || hasControl(e))
      throw fail("checkpoint extension lines must be non-empty single lines");
    out += e + "\n";
  }
  return out;
}

/**
 * Cosigns a checkpoint with a tlog-cosignature (Ed25519 cosignature/v1, key type 0x04, or
 * ML-DSA-44 subtree/v1, key type 0x06) at `timestamp`
 * (POSIX seconds, bigint or number, or a Date). `checkpoint` is either the bare checkpoint text
 * or an already signed checkpoint note; the result is the note with the cosignature line
 * appended (for bare text: text, blank line, cosignature). A signer key of type 0x01 is used as
 * the same Ed25519 key under type 0x04. Use `cosignatureLine` to get only the line.
 */
export function cosignCheckpoint(
  checkpoint: string,
  signerKey: string | SignerKey,
  timestamp: number | bigint | Date,
): string {
  const { text, note } = checkpointText(checkpoint);
  return (note ?? text + "\n") + cosignatureLine(text, signerKey, timestamp);
}

/** The cosignature line alone, `— name base64(keyID || u64 timestamp || signature)\n`. */
export function cosignatureLine(
  checkpointText: string,
  signerKey: string | SignerKey,
  timestamp: number | bigint | Date,
): string {
  parseCheckpoint(checkpointText);
  let k = typeof signerKey === "string" ? parseSignerKey(signerKey) : signerKey;
  // an ML-DSA-44 key (0x06) signs as itself; an Ed25519 note key (0x01) as the same key under 0x04
  if (k.type === KEY_TYPE_ED25519) k = parseSignerKey(withKeyType(k.skey, KEY_TYPE_COSIGNATURE_V1).signerKey);
  return signatureLine(checkpointText, k, timestamp);
}

function checkpointText(s: string): { text: string; note?: string } {
  if (typeof s !== "string") throw fail("checkpoint must be a string");
  const split = s.lastIndexOf("\n\n");
  if (split >= 0 && s.slice(split + 2).startsWith("\u2014 ")) {
    if (!s.endsWith("\n"))
      throw new NoteError("MALFORMED", "malformed note: the signature block does not end in a newline");
    return { text: s.slice(0, split + 1), note: s };
  }
  return { text: s };
}
