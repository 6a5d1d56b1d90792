/**
 * C2SP signed-note (c2sp.org/signed-note) with Go's key string formats (golang.org/x/mod/sumdb/note):
 * verifier keys `name+hex8(keyID)+base64(type||public key)`, signer keys
 * `PRIVATE+KEY+name+hex8(keyID)+base64(type||seed)`. Key types: 0x01 Ed25519 over the note
 * text, 0x04 timestamped Ed25519 cosignature (c2sp.org/tlog-cosignature v1), 0x06 ML-DSA-44
 * (sub)tree cosignature (tlog-cosignature main / v1.1.0-rc.1: post-quantum, over a binary
 * `subtree/v1` message built from the checkpoint's origin, size and root, not its text).
 * Ed25519 comes from node:crypto; ML-DSA-44 (FIPS 204), which Node 20's OpenSSL lacks, from
 * @noble/post-quantum. `openNote` follows Go's `note.Open` step by step.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign as edSign,
  verify as edVerify,
  type KeyObject,
} from "node:crypto";
import { ml_dsa44 } from "@noble/post-quantum/ml-dsa.js";
import { decodeBase64, encodeBase64 } from "./base64.js";
import { NoteError } from "./error.js";

export const KEY_TYPE_ED25519 = 0x01;
export const KEY_TYPE_COSIGNATURE_V1 = 0x04;
export const KEY_TYPE_MLDSA44_COSIGNATURE = 0x06;
export type KeyType = typeof KEY_TYPE_ED25519 | typeof KEY_TYPE_COSIGNATURE_V1 | typeof KEY_TYPE_MLDSA44_COSIGNATURE;
/** ML-DSA-44 sizes (FIPS 204): public key, signature; the signer key holds the 32-byte keygen seed. */
const MLDSA44_PUBLIC_KEY = 1312;
const MLDSA44_SIGNATURE = 2420;
const PUBLIC_KEY_LENGTH: Record<KeyType, number> = { 1: 32, 4: 32, 6: MLDSA44_PUBLIC_KEY };
/** Go's limit on signature lines per note (the spec asks verifiers to accept at least 16). */
export const MAX_SIGNATURES = 100;
const MAX_TIMESTAMP = (1n << 63n) - 1n;
const SIG_PREFIX = "\u2014 ";
const SPKI_ED25519 = Buffer.from("302a300506032b6570032100", "hex");
const PKCS8_ED25519 = Buffer.from("302e020100300506032b657004220420", "hex");

export interface VerifierKey {
  readonly name: string;
  readonly keyId: number;
  readonly type: KeyType;
  readonly publicKey: Uint8Array;
  /** the key in `name+id+base64` form */
  readonly vkey: string;
}

export interface SignerKey {
  readonly name: string;
  readonly keyId: number;
  readonly type: KeyType;
  readonly seed: Uint8Array;
  readonly publicKey: Uint8Array;
  readonly skey: string;
}

export interface NoteSignature {
  readonly name: string;
  readonly keyId: number;
  readonly base64: string;
  /** key type of the verifier that checked it (absent for unverified signatures) */
  readonly type?: KeyType;
  /** for cosignatures (types 0x04 and 0x06): the POSIX timestamp, in seconds */
  readonly timestamp?: number;
  /** the same timestamp as an exact bigint */
  readonly timestampBig?: bigint;
}

export interface OpenedNote {
  readonly text: string;
  /** names of the keys whose signatures verified, in signature order */
  readonly verified: string[];
  readonly signatures: NoteSignature[];
  /** signatures by keys not in the verifier list (ignored, kept for the caller) */
  readonly unverified: NoteSignature[];
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function wellFormed(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}

const SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;

/** A key name: non-empty, valid UTF-8, no Unicode space, no '+'. */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && wellFormed(name) && !SPACE.test(name) && !name.includes("+");
}

/** SHA-256(name || 0x0A || type || public key)[:4] as a big-endian uint32. */
export function keyId(name: string, type: number, publicKey: Uint8Array): number {
  const h = createHash("sha256")
    .update(name, "utf8")
    .update(Buffer.from([0x0a, type]))
    .update(publicKey)
    .digest();
  return h.readUInt32BE(0);
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, "0");
}

function chop(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, ""] : [s.slice(0, i), s.slice(i + sep.length)];
}

function bad(message: string): NoteError {
  return new NoteError("MALFORMED", message);
}

function parseKeyType(t: number | undefined, what: string): KeyType {
  if (t === KEY_TYPE_ED25519 || t === KEY_TYPE_COSIGNATURE_V1 || t === KEY_TYPE_MLDSA44_COSIGNATURE) return t;
  throw bad(
    `${what} has key type ${t === undefined ? "(none)" : "0x" + t.toString(16).padStart(2, "0")}; supported: 0x01 (Ed25519), 0x04 (Ed25519 cosignature/v1) and 0x06 (ML-DSA-44 cosignature)`,
  );
}

/** The expanded ML-DSA-44 secret key of a signer key (keygen from its seed is costly: once per key). */
const mldsaSecrets = new WeakMap<object, Uint8Array>();
function mldsaSecret(k: SignerKey): Uint8Array {
  let sk = mldsaSecrets.get(k.seed);
  if (!sk) {
    sk = ml_dsa44.keygen(k.seed).secretKey;
    mldsaSecrets.set(k.seed, sk);
  }
  return sk;
}

function parseHash(h: string, what: string): number {
  if (!/^[0-9a-fA-F]{8}$/.test(h))
    throw bad(`${what}: the key ID must be 8 hexadecimal digits (got ${JSON.stringify(h)})`);
  return parseInt(h, 16) >>> 0;
}

const keyObjects = new WeakMap<object, KeyObject>();

function publicKeyObject(k: VerifierKey | SignerKey): KeyObject {
  let o = keyObjects.get(k);
  if (!o) {
    o = createPublicKey({ key: Buffer.concat([SPKI_ED25519, k.publicKey]), format: "der", type: "spki" });
    keyObjects.set(k, o);
  }
  return o;
}

function privateKeyObject(k: SignerKey): KeyObject {
  let o = keyObjects.get(k.seed);
  if (!o) {
    o = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, k.seed]), format: "der", type: "pkcs8" });
    keyObjects.set(k.seed, o);
  }
  return o;
}

function publicFromSeed(seed: Uint8Array): Uint8Array {
  const priv = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: "der", type: "pkcs8" });
  const spki = createPublicKey(priv).export({ format: "der", type: "spki" });
  return new Uint8Array(spki.subarray(spki.length - 32));
}

const parsedVerifiers = new Map<string, VerifierKey>();
const parsedSigners = new Map<string, SignerKey>();

function remember<T>(cache: Map<string, T>, key: string, value: T): T {
  if (cache.size >= 512) cache.clear();
  cache.set(key, value);
  return value;
}

/** Parses a verifier key `name+id+base64(type||key)`, checking the name, the type, the length and the key ID. */
export function parseVerifierKey(vkey: string): VerifierKey {
  const known = typeof vkey === "string" ? parsedVerifiers.get(vkey) : undefined;
  return known ?? remember(parsedVerifiers, vkey, parseVerifierKeyUncached(vkey));
}

function parseVerifierKeyUncached(vkey: string): VerifierKey {
  if (typeof vkey !== "string") throw bad("a verifier key must be a string of the form name+keyid+base64");
  const [name, rest] = chop(vkey, "+");
  const [hash16, key64] = chop(rest, "+");
  if (!isValidKeyName(name))
    throw bad(`verifier key ${JSON.stringify(vkey)}: the name must be non-empty, without spaces or '+'`);
  const id = parseHash(hash16, `verifier key for ${name}`);
  const key = decodeBase64(key64);
  if (!key || key.length === 0) throw bad(`verifier key for ${name}: the key material is not valid base64`);
  const type = parseKeyType(key[0], `verifier key for ${name}`);
  if (key.length !== PUBLIC_KEY_LENGTH[type] + 1)
    throw bad(
      `verifier key for ${name}: ${type === KEY_TYPE_MLDSA44_COSIGNATURE ? "an ML-DSA-44" : "an Ed25519"} public key is ${PUBLIC_KEY_LENGTH[type]} bytes (got ${key.length - 1})`,
    );
  const publicKey = key.slice(1);
  if (keyId(name, type, publicKey) !== id) {
    throw bad(
      `verifier key for ${name}: key ID ${hash16} does not match the key (expected ${hex8(keyId(name, type, publicKey))})`,
    );
  }
  return { name, keyId: id, type, publicKey, vkey };
}

/** Parses a signer key `PRIVATE+KEY+name+id+base64(type||seed)`. */
export function parseSignerKey(skey: string): SignerKey {
  const known = typeof skey === "string" ? parsedSigners.get(skey) : undefined;
  return known ?? remember(parsedSigners, skey, parseSignerKeyUncached(skey));
}

function parseSignerKeyUncached(skey: string): SignerKey {
  if (typeof skey !== "string") throw bad("a signer key must be a string of the form PRIVATE+KEY+name+keyid+base64");
  const [p1, r1] = chop(skey, "+");
  const [p2, r2] = chop(r1, "+");
  const [name, r3] = chop(r2, "+");
  const [hash16, key64] = chop(r3, "+");
  if (p1 !== "PRIVATE" || p2 !== "KEY") throw bad("a signer key must start with PRIVATE+KEY+");
  if (!isValidKeyName(name))
    throw bad(`signer key: the name ${JSON.stringify(name)} must be non-empty, without spaces or '+'`);
  const id = parseHash(hash16, `signer key for ${name}`);
  const key = decodeBase64(key64);
  if (!key || key.length === 0) throw bad(`signer key for ${name}: the key material is not valid base64`);
  const type = parseKeyType(key[0], `signer key for ${name}`);
  if (key.length !== 33) throw bad(`signer key for ${name}: a key seed is 32 bytes (got ${key.length - 1})`);
  const seed = key.slice(1);
  const publicKey = type === KEY_TYPE_MLDSA44_COSIGNATURE ? ml_dsa44.keygen(seed).publicKey : publicFromSeed(seed);
  if (keyId(name, type, publicKey) !== id) throw bad(`signer key for ${name}: key ID ${hash16} does not match the key`);
  return { name, keyId: id, type, seed, publicKey, skey };
}

function formatKeys(
  name: string,
  type: KeyType,
  seed: Uint8Array,
  publicKey: Uint8Array,
): { signerKey: string; verifierKey: string } {
  const id = hex8(keyId(name, type, publicKey));
  return {
    signerKey: `PRIVATE+KEY+${name}+${id}+${encodeBase64(Uint8Array.of(type, ...seed))}`,
    verifierKey: `${name}+${id}+${encodeBase64(Uint8Array.of(type, ...publicKey))}`,
  };
}

/**
 * Generates a key pair named `name`: Ed25519 as Go's note.GenerateKey does; `type` 0x04 (or
 * "cosignature") makes a tlog-cosignature/v1 witness key instead of a plain note key, 0x06 (or
 * "cosignature-mldsa") an ML-DSA-44 witness key (the signer key holds the 32-byte keygen seed).
 */
export function generateKey(
  name: string,
  type: KeyType | "ed25519" | "cosignature" | "cosignature-mldsa" = KEY_TYPE_ED25519,
): { signerKey: string; verifierKey: string } {
  if (!isValidKeyName(name)) throw bad(`key name ${JSON.stringify(name)} must be non-empty, without spaces or '+'`);
  const t: KeyType =
    type === "ed25519"
      ? KEY_TYPE_ED25519
      : type === "cosignature"
        ? KEY_TYPE_COSIGNATURE_V1
        : type === "cosignature-mldsa"
          ? KEY_TYPE_MLDSA44_COSIGNATURE
          : parseKeyType(type, "generateKey");
  if (t === KEY_TYPE_MLDSA44_COSIGNATURE) {
    const seed = new Uint8Array(randomBytes(32));
    return formatKeys(name, t, seed, ml_dsa44.keygen(seed).publicKey);
  }
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const pkcs8 = privateKey.export({ format: "der", type: "pkcs8" });
  const spki = publicKey.export({ format: "der", type: "spki" });
  return formatKeys(
    name,
    t,
    new Uint8Array(pkcs8.subarray(pkcs8.length - 32)),
    new Uint8Array(spki.subarray(spki.length - 32)),
  );
}

/** The verifier key matching a signer key. */
export function verifierKeyOf(signerKey: string | SignerKey): string {
  const k = typeof signerKey === "string" ? parseSignerKey(signerKey) : signerKey;
  return formatKeys(k.name, k.type, k.seed, k.publicKey).verifierKey;
}

/** The same Ed25519 key pair under a different key type (e.g. a log key reused as a cosigner). */
export function withKeyType(signerKey: string, type: KeyType): { signerKey: string; verifierKey: string } {
  const k = parseSignerKey(signerKey);
  if ((type === KEY_TYPE_MLDSA44_COSIGNATURE) !== (k.type === KEY_TYPE_MLDSA44_COSIGNATURE))
    throw bad(`key ${k.name}: an Ed25519 key and an ML-DSA-44 key cannot stand in for each other`);
  return formatKeys(k.name, type, k.seed, k.publicKey);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function checkText(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 && c !== 0x0a) return false;
  }
  return wellFormed(s);
}

/** The message a cosignature/v1 signs: header, time line, then the checkpoint text. */
export function cosignatureMessage(text: string, timestamp: bigint): Uint8Array {
  return Buffer.from(`cosignature/v1\ntime ${timestamp}\n${text}`, "utf8");
}

/**
 * The message an ML-DSA-44 cosignature signs (tlog-cosignature, "ML-DSA-44 signed message"):
 * `"subtree/v1\n\0" || u8-len cosigner name || u64 timestamp || u8-len origin || u64 start ||
 * u64 end || hash[32]`; for a checkpoint, start 0 and end its size. Undefined when `text` is no
 * checkpoint (origin, decimal size, base64 32-byte root): nothing to sign or verify then.
 */
export function subtreeMessage(cosigner: string, timestamp: bigint, text: string): Uint8Array | undefined {
  const lines = text.split("\n");
  if (lines.length < 4) return undefined;
  const [origin, sizeText, rootText] = lines as [string, string, string];
  if (!/^(0|[1-9][0-9]{0,19})$/.test(sizeText)) return undefined;
  const size = BigInt(sizeText);
  const root = decodeBase64(rootText);
  const name = Buffer.from(cosigner, "utf8");
  const originBytes = Buffer.from(origin, "utf8");
  if (size >= 1n << 64n || !root || root.length !== 32) return undefined;
  if (name.length < 1 || name.length > 255 || originBytes.length < 1 || originBytes.length > 255) return undefined;
  const u64 = (v: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(v);
    return b;
  };
  return Buffer.concat([
    Buffer.from("subtree/v1\n\0", "latin1"),
    Buffer.of(name.length),
    name,
    u64(timestamp),
    Buffer.of(originBytes.length),
    originBytes,
    u64(0n),
    u64(size),
    root,
  ]);
}

function toTimestamp(t: number | bigint | Date): bigint {
  let v: bigint;
  if (t instanceof Date) v = BigInt(Math.floor(t.getTime() / 1000));
  else if (typeof t === "bigint") v = t;
  else if (Number.isSafeInteger(t)) v = BigInt(t);
  else throw bad(`a cosignature timestamp must be an integer number of seconds (got ${String(t)})`);
  if (v < 0n || v > MAX_TIMESTAMP) throw bad(`a cosignature timestamp must be in 0..2^63-1 (got ${v})`);
  return v;
}

function asSigner(k: string | SignerKey): SignerKey {
  return typeof k === "string" ? parseSignerKey(k) : k;
}

/** One signature line `— name base64(keyID||sig)\n` over `text`. */
export function signatureLine(text: string, signerKey: string | SignerKey, timestamp?: number | bigint | Date): string {
  const k = asSigner(signerKey);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(k.keyId >>> 0);
  let payload: Buffer;
  if (k.type === KEY_TYPE_COSIGNATURE_V1) {
    const ts = toTimestamp(timestamp ?? new Date());
    const tsb = Buffer.alloc(8);
    tsb.writeBigUInt64BE(ts);
    payload = Buffer.concat([head, tsb, edSign(null, cosignatureMessage(text, ts), privateKeyObject(k))]);
  } else if (k.type === KEY_TYPE_MLDSA44_COSIGNATURE) {
    const ts = toTimestamp(timestamp ?? new Date());
    const message = subtreeMessage(k.name, ts, text);
    if (!message)
      throw bad(
        `an ML-DSA-44 cosignature signs a checkpoint (origin, size, 32-byte root); ${k.name} was given other text`,
      );
    const tsb = Buffer.alloc(8);
    tsb.writeBigUInt64BE(ts);
    payload = Buffer.concat([head, tsb, ml_dsa44.sign(message, mldsaSecret(k))]);
  } else {
    payload = Buffer.concat([head, edSign(null, Buffer.from(text, "utf8"), privateKeyObject(k))]);
  }
  return `${SIG_PREFIX}${k.name} ${payload.toString("base64")}\n`;
}

/**
 * Signs `text` (which must end in a newline, be valid UTF-8 and hold no control character but
 * newline) with each key, returning the note: text, a blank line, one signature line per key.
 * A cosignature key (type 0x04) signs with the current time.
 */
export function signNote(text: string, signerKeys: string | SignerKey | ReadonlyArray<string | SignerKey>): string {
  if (typeof text !== "string" || !text.endsWith("\n") || !checkText(text)) {
    throw bad("note text must be valid UTF-8 ending in a newline, with no control characters other than newline");
  }
  const keys = Array.isArray(signerKeys) ? signerKeys : [signerKeys as string | SignerKey];
  let out = text + "\n";
  for (const k of keys) out += signatureLine(text, k);
  return out;
}

function verifySig(k: VerifierKey, textBytes: Uint8Array, text: string, sig: Uint8Array): { ok: boolean; ts?: bigint } {
  try {
    if (k.type === KEY_TYPE_ED25519) {
      return { ok: sig.length === 64 && edVerify(null, textBytes, publicKeyObject(k), sig) };
    }
    if (k.type === KEY_TYPE_MLDSA44_COSIGNATURE) {
      if (sig.length !== 8 + MLDSA44_SIGNATURE) return { ok: false };
      const ts = Buffer.from(sig.buffer, sig.byteOffset, 8).readBigUInt64BE(0);
      if (ts > MAX_TIMESTAMP) return { ok: false };
      const message = subtreeMessage(k.name, ts, text);
      return { ok: message !== undefined && ml_dsa44.verify(sig.subarray(8), message, k.publicKey), ts };
    }
    if (sig.length !== 72) return { ok: false };
    const ts = Buffer.from(sig.buffer, sig.byteOffset, 8).readBigUInt64BE(0);
    if (ts > MAX_TIMESTAMP) return { ok: false };
    return { ok: edVerify(null, cosignatureMessage(text, ts), publicKeyObject(k), sig.subarray(8)), ts };
  } catch {
    return { ok: false };
  }
}

/**
 * Opens a signed note, with the semantics of golang.org/x/mod/sumdb/note `Open`: the text is
 * everything up to the last blank line; every following line must be a signature line;
 * signatures by unknown (name, key ID) pairs are ignored (kept in `unverified`); a repeated
 * signature by a known key is dropped; a known key's bad signature throws `INVALID_SIGNATURE`;
 * no verified signature throws `unverified`; anything ill-formed throws `malformed`.
 */
export function openNote(
  message: string | Uint8Array,
  verifierKeys: ReadonlyArray<string | VerifierKey> | string = [],
): OpenedNote {
  let msg: string;
  if (typeof message === "string") {
    msg = message;
  } else if (message instanceof Uint8Array) {
    try {
      msg = utf8.decode(message);
    } catch (cause) {
      throw new NoteError("MALFORMED", "malformed note: not valid UTF-8", { cause });
    }
  } else {
    throw bad("malformed note: expected a string or bytes");
  }
  if (!checkText(msg)) throw bad("malformed note: invalid UTF-8 or a control character other than newline");
  const split = msg.lastIndexOf("\n\n");
  if (split < 0) throw bad("malformed note: no blank line before the signature block");
  const text = msg.slice(0, split + 1);
  let sigs = msg.slice(split + 2);
  if (sigs.length === 0 || !sigs.endsWith("\n"))
    throw bad("malformed note: the signature block is empty or does not end in a newline");

  const list = typeof verifierKeys === "string" ? [verifierKeys] : verifierKeys;
  const byId = new Map<string, VerifierKey[]>();
  for (const k of list) {
    const v = typeof k === "string" ? parseVerifierKey(k) : k;
    const id = `${v.name}\u0000${v.keyId}`;
    const arr = byId.get(id);
    if (arr) arr.push(v);
    else byId.set(id, [v]);
  }

  const textBytes = Buffer.from(text, "utf8");
  const signatures: NoteSignature[] = [];
  const unverified: NoteSignature[] = [];
  const seen = new Set<string>();
  const seenUnverified = new Set<string>();
  let count = 0;
  while (sigs.length > 0) {
    const nl = sigs.indexOf("\n");
    let line = sigs.slice(0, nl);
    sigs = sigs.slice(nl + 1);
    if (!line.startsWith(SIG_PREFIX))
      throw bad("malformed note: a line in the signature block does not start with '\u2014 '");
    line = line.slice(SIG_PREFIX.length);
    const [name, b64] = chop(line, " ");
    const sig = decodeBase64(b64);
    if (!sig || !isValidKeyName(name) || b64 === "" || sig.length < 5) {
      throw bad("malformed note: bad signature line (name, base64 or length)");
    }
    const id = Buffer.from(sig.buffer, sig.byteOffset, 4).readUInt32BE(0);
    const body = sig.subarray(4);
    if (++count > MAX_SIGNATURES) throw bad(`malformed note: more than ${MAX_SIGNATURES} signatures`);
    const candidates = byId.get(`${name}\u0000${id}`);
    if (!candidates) {
      if (seenUnverified.has(line)) continue;
      seenUnverified.add(line);
      unverified.push({ name, keyId: id, base64: b64 });
      continue;
    }
    if (candidates.length > 1) {
      throw new NoteError(
        "MALFORMED",
        `ambiguous key ${name}+${hex8(id)}: the verifier list holds it more than once; pass each key once`,
      );
    }
    const v = candidates[0]!;
    const nameHash = `${name}\u0000${id}`;
    if (seen.has(nameHash)) continue;
    seen.add(nameHash);
    const res = verifySig(v, textBytes, text, body);
    if (!res.ok) {
      throw new NoteError(
        "INVALID_SIGNATURE",
        `invalid signature for key ${name}+${hex8(id)}: the note was altered or signed by another key; reject it`,
        {
          key: { name, keyId: id },
        },
      );
    }
    const s: NoteSignature =
      res.ts === undefined
        ? { name, keyId: id, base64: b64, type: v.type }
        : { name, keyId: id, base64: b64, type: v.type, timestamp: Number(res.ts), timestampBig: res.ts };
    signatures.push(s);
  }
  if (signatures.length === 0) {
    throw new NoteError("UNVERIFIED", "note has no verifiable signatures: none of the given keys signed it", {
      note: { text, unverified: unverified.map((u) => ({ name: u.name, keyId: u.keyId, base64: u.base64 })) },
    });
  }
  return { text, verified: signatures.map((s) => s.name), signatures, unverified };
}

/** Splits a signed note into its text and signature lines without verifying anything. */
export function splitNote(message: string): { text: string; signatureLines: string[] } {
  if (!checkText(message)) throw bad("malformed note: invalid UTF-8 or a control character other than newline");
  const split = message.lastIndexOf("\n\n");
  if (split < 0) throw bad("malformed note: no blank line before the signature block");
  const sigs = message.slice(split + 2);
  if (sigs.length === 0 || !sigs.endsWith("\n"))
    throw bad("malformed note: the signature block is empty or does not end in a newline");
  const lines = sigs
    .slice(0, -1)
    .split("\n")
    .map((l) => l + "\n");
  for (const l of lines)
    if (!l.startsWith(SIG_PREFIX))
      throw bad("malformed note: a line in the signature block does not start with '\u2014 '");
  return { text: message.slice(0, split + 1), signatureLines: lines };
}
