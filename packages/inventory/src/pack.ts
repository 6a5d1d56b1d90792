/**
 * Policy packs: versioned, human-readable JSON documents that say which software an authority
 * (a government, an organisation) no longer trusts, and from when. The format is described in
 * packs/FORMAT.md. A pack is signed with Ed25519 over its canonical form (every field but
 * `signatures`, keys sorted, no whitespace, after the line "vigil-policy-pack/v1\n"), and
 * `loadPack` accepts it only when a signature verifies with a trusted key.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { InventoryError } from "./error.js";
import { SOURCE_KINDS } from "./inventory.js";

/** What an effective date forbids. */
export const FORBIDDABLE = ["sale", "install", "updates", "network-service", "use"] as const;
export type Forbidden = (typeof FORBIDDABLE)[number];

/** Sources a package name can come from (the inventory's, plus rpm for packs that name rpm packages). */
export type PackageSource = (typeof SOURCE_KINDS)[number] | "rpm";

export interface PackPackage {
  /** an exact name or a glob with * and ? (case-insensitive). */
  name: string;
  /** the sources the name applies to; all when absent. */
  sources?: PackageSource[];
}

export interface PackHash {
  sha256: string;
  note?: string;
}

export interface PackVendor {
  /** a short id, referenced by prohibitions. */
  id: string;
  name: string;
  /** other names of the vendor (legal entities, transliterations, former names). */
  aliases?: string[];
  /** exact publisher strings: PE CompanyName, registry Publisher, package maintainer. */
  publishers?: string[];
  /** organisation or common names in code-signing certificate subjects (O= or CN=). */
  certificateSubjects?: string[];
  packages?: PackPackage[];
  hashes?: PackHash[];
}

export interface PackProhibition {
  /** "YYYY-MM-DD" (00:00 UTC that day) or a full ISO 8601 time. */
  effective: string;
  forbids: Forbidden[];
  /** vendor ids; all the pack's vendors when absent. */
  vendors?: string[];
  /** what the authority said, in a sentence. */
  text: string;
}

export interface PackSignature {
  keyId: string;
  algorithm: "ed25519";
  /** base64 Ed25519 signature. */
  signature: string;
}

export interface PolicyPack {
  format: "vigil-policy-pack";
  formatVersion: 1;
  id: string;
  /** increases with every change of the pack. */
  version: number;
  title: string;
  authority: string;
  issued: string;
  summary: string;
  references?: string[];
  vendors: PackVendor[];
  prohibitions: PackProhibition[];
  signatures?: PackSignature[];
}

/** A pack that was verified, with where it came from and who signed it. */
export interface LoadedPack {
  pack: PolicyPack;
  path: string;
  signedBy: string[];
}

/** A trusted pack-signing key. */
export interface PackKey {
  name: string;
  keyId: string;
  publicKey: KeyObject;
}

// ---------------------------------------------------------------- canonical form and keys

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") {
    const keys = Object.keys(v)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

/** The bytes a pack's signatures cover. */
export function signedBytes(pack: PolicyPack): Buffer {
  const { signatures: _s, ...rest } = pack;
  return Buffer.from(`vigil-policy-pack/v1\n${canonical(rest)}`, "utf8");
}

function rawPublic(key: KeyObject): Buffer {
  const der = key.export({ type: "spki", format: "der" });
  return der.subarray(der.length - 32);
}

/** The key id: the first 8 bytes of SHA-256 of the raw 32-byte public key, in hex. */
export function keyIdOf(key: KeyObject): string {
  return createHash("sha256").update(rawPublic(key)).digest("hex").slice(0, 16);
}

/** A public key file: one JSON object { name, keyId, algorithm: "ed25519", publicKey: base64 raw key }. */
export function publicKeyFile(name: string, key: KeyObject): string {
  return (
    JSON.stringify(
      { name, keyId: keyIdOf(key), algorithm: "ed25519", publicKey: rawPublic(key).toString("base64") },
      null,
      2,
    ) + "\n"
  );
}

export function parsePublicKey(text: string, path = "key"): PackKey {
  let j: { name?: unknown; algorithm?: unknown; publicKey?: unknown };
  try {
    j = JSON.parse(text) as typeof j;
  } catch (e) {
    throw new InventoryError("BAD_KEY", `${path}: not a pack public key file (JSON with name, algorithm, publicKey)`, {
      cause: e,
    });
  }
  const raw = typeof j.publicKey === "string" ? Buffer.from(j.publicKey, "base64") : undefined;
  if (j.algorithm !== "ed25519" || typeof j.name !== "string" || !raw || raw.length !== 32) {
    throw new InventoryError(
      "BAD_KEY",
      `${path}: a pack public key needs "name", "algorithm": "ed25519" and a base64 32-byte "publicKey"`,
    );
  }
  const publicKey = createPublicKey({
    key: Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), raw]),
    format: "der",
    type: "spki",
  });
  return { name: j.name, keyId: keyIdOf(publicKey), publicKey };
}

/** A new signing key: the private key as PKCS#8 PEM and the public key file. */
export function generatePackKey(name: string): { privatePem: string; publicFile: string; keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    privatePem: privateKey.export({ type: "pkcs8", format: "pem" }) as string,
    publicFile: publicKeyFile(name, publicKey),
    keyId: keyIdOf(publicKey),
  };
}

/** Signs a pack (validated first) and returns it with the signature added (replacing one by the same key). */
export function signPack(pack: PolicyPack, privatePem: string): PolicyPack {
  validatePack(pack, "pack");
  let priv: KeyObject;
  try {
    priv = createPrivateKey(privatePem);
  } catch (e) {
    throw new InventoryError(
      "BAD_KEY",
      "the signing key is not a PEM private key (make one with 'vigil inventory pack keygen')",
      { cause: e },
    );
  }
  if (priv.asymmetricKeyType !== "ed25519") throw new InventoryError("BAD_KEY", "pack signing keys are Ed25519");
  const keyId = keyIdOf(createPublicKey(priv));
  const signature = sign(null, signedBytes(pack), priv).toString("base64");
  return {
    ...pack,
    signatures: [
      ...(pack.signatures ?? []).filter((s) => s.keyId !== keyId),
      { keyId, algorithm: "ed25519", signature },
    ],
  };
}

/** The key names whose signatures on the pack verify. */
export function verifyPack(pack: PolicyPack, keys: PackKey[]): string[] {
  const bytes = signedBytes(pack);
  const ok: string[] = [];
  for (const s of pack.signatures ?? []) {
    const k = keys.find((x) => x.keyId === s.keyId);
    if (!k || s.algorithm !== "ed25519" || typeof s.signature !== "string") continue;
    if (verify(null, bytes, k.publicKey, Buffer.from(s.signature, "base64"))) ok.push(k.name);
  }
  return ok;
}

// ---------------------------------------------------------------- validation

const DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/;

/** The instant a date field means; NaN when malformed. */
export function dateValue(s: string): number {
  if (!DATE.test(s)) return NaN;
  return Date.parse(s.length === 10 ? `${s}T00:00:00Z` : s);
}

function fail(path: string, what: string): never {
  throw new InventoryError("BAD_PACK", `${path}: ${what} (see packages/inventory/packs/FORMAT.md)`);
}

function strArray(v: unknown, path: string): void {
  if (v === undefined) return;
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string" || x.trim() === ""))
    fail(path, "must be a list of non-empty strings");
}

/** Checks a parsed pack against the format; throws BAD_PACK naming the first bad field. */
export function validatePack(p: unknown, where: string): asserts p is PolicyPack {
  if (!p || typeof p !== "object" || Array.isArray(p)) fail(where, "a pack is a JSON object");
  const o = p as Record<string, unknown>;
  if (o.format !== "vigil-policy-pack") fail(`${where}.format`, 'must be "vigil-policy-pack"');
  if (o.formatVersion !== 1) fail(`${where}.formatVersion`, "must be 1 (this Vigil reads format version 1)");
  for (const k of ["id", "title", "authority", "summary"])
    if (typeof o[k] !== "string" || !(o[k] as string).trim()) fail(`${where}.${k}`, "must be a non-empty string");
  if (!Number.isSafeInteger(o.version) || (o.version as number) < 1)
    fail(`${where}.version`, "must be a positive integer");
  if (typeof o.issued !== "string" || Number.isNaN(dateValue(o.issued)))
    fail(`${where}.issued`, "must be a date YYYY-MM-DD");
  strArray(o.references, `${where}.references`);
  if (!Array.isArray(o.vendors) || !o.vendors.length) fail(`${where}.vendors`, "must list at least one vendor");
  const ids = new Set<string>();
  o.vendors.forEach((v: unknown, i: number) => {
    const at = `${where}.vendors[${i}]`;
    if (!v || typeof v !== "object") fail(at, "must be an object");
    const x = v as Record<string, unknown>;
    if (typeof x.id !== "string" || !/^[a-z0-9][a-z0-9._-]*$/.test(x.id)) fail(`${at}.id`, "must be a lower-case id");
    if (ids.has(x.id)) fail(`${at}.id`, `duplicate vendor id "${x.id}"`);
    ids.add(x.id);
    if (typeof x.name !== "string" || !x.name.trim()) fail(`${at}.name`, "must be a non-empty string");
    strArray(x.aliases, `${at}.aliases`);
    strArray(x.publishers, `${at}.publishers`);
    strArray(x.certificateSubjects, `${at}.certificateSubjects`);
    if (x.packages !== undefined) {
      if (!Array.isArray(x.packages)) fail(`${at}.packages`, "must be a list");
      x.packages.forEach((pk: unknown, j: number) => {
        const pa = `${at}.packages[${j}]`;
        if (
          !pk ||
          typeof pk !== "object" ||
          typeof (pk as PackPackage).name !== "string" ||
          !(pk as PackPackage).name.trim()
        )
          fail(pa, 'must be { "name": ..., "sources"?: [...] }');
        const src = (pk as PackPackage).sources;
        strArray(src, `${pa}.sources`);
        for (const s of src ?? [])
          if (s !== "rpm" && !SOURCE_KINDS.includes(s as never))
            fail(`${pa}.sources`, `unknown source "${s}" (one of ${[...SOURCE_KINDS, "rpm"].join(", ")})`);
      });
    }
    if (x.hashes !== undefined) {
      if (!Array.isArray(x.hashes)) fail(`${at}.hashes`, "must be a list");
      x.hashes.forEach((h: unknown, j: number) => {
        if (
          !h ||
          typeof h !== "object" ||
          typeof (h as PackHash).sha256 !== "string" ||
          !/^[0-9a-fA-F]{64}$/.test((h as PackHash).sha256)
        )
          fail(`${at}.hashes[${j}].sha256`, "must be 64 hex digits");
      });
    }
  });
  if (!Array.isArray(o.prohibitions) || !o.prohibitions.length)
    fail(`${where}.prohibitions`, "must list at least one prohibition");
  o.prohibitions.forEach((r: unknown, i: number) => {
    const at = `${where}.prohibitions[${i}]`;
    if (!r || typeof r !== "object") fail(at, "must be an object");
    const x = r as Record<string, unknown>;
    if (typeof x.effective !== "string" || Number.isNaN(dateValue(x.effective)))
      fail(`${at}.effective`, "must be a date YYYY-MM-DD or an ISO 8601 time");
    if (!Array.isArray(x.forbids) || !x.forbids.length || x.forbids.some((f) => !FORBIDDABLE.includes(f as Forbidden)))
      fail(`${at}.forbids`, `must list some of ${FORBIDDABLE.join(", ")}`);
    if (typeof x.text !== "string" || !x.text.trim()) fail(`${at}.text`, "must say what the authority decided");
    strArray(x.vendors, `${at}.vendors`);
    for (const id of (x.vendors as string[] | undefined) ?? [])
      if (!ids.has(id)) fail(`${at}.vendors`, `no vendor with id "${id}"`);
  });
  if (o.signatures !== undefined && !Array.isArray(o.signatures)) fail(`${where}.signatures`, "must be a list");
}

// ---------------------------------------------------------------- loading

/** Where the packs and keys shipped with Vigil live. */
export const PACKS_DIR = fileURLToPath(new URL("../packs/", import.meta.url));

/** The pack-signing keys shipped with Vigil (packs/keys/*.pub.json). */
export function builtinKeys(): PackKey[] {
  const dir = `${PACKS_DIR}keys/`;
  return readdirSync(dir)
    .filter((f) => f.endsWith(".pub.json"))
    .sort()
    .map((f) => parsePublicKey(readFileSync(dir + f, "utf8"), dir + f));
}

/** The signed packs shipped with Vigil (packs/*.json except the template). */
export function builtinPackPaths(): string[] {
  return readdirSync(PACKS_DIR)
    .filter((f) => f.endsWith(".json") && !f.startsWith("template"))
    .sort()
    .map((f) => PACKS_DIR + f);
}

/** Parses, validates and verifies a pack; throws unless a trusted key signed it. */
export function parsePack(text: string, path: string, keys: PackKey[]): LoadedPack {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new InventoryError("BAD_PACK", `${path}: not JSON (${(e as Error).message})`, { cause: e });
  }
  validatePack(j, path);
  if (!j.signatures?.length)
    throw new InventoryError(
      "PACK_SIGNATURE",
      `${path}: the pack is not signed; sign it with 'vigil inventory pack sign --key KEY ${path}'`,
    );
  const signedBy = verifyPack(j, keys);
  if (!signedBy.length) {
    const known = j.signatures.some((s) => keys.some((k) => k.keyId === s.keyId));
    throw new InventoryError(
      known ? "PACK_SIGNATURE" : "PACK_UNTRUSTED",
      known
        ? `${path}: the signature does not verify: the pack was changed after signing (re-sign it, or get an intact copy)`
        : `${path}: signed by key ${j.signatures.map((s) => s.keyId).join(", ")}, which is not trusted; add its public key with --trust-key FILE`,
    );
  }
  return { pack: j, path, signedBy };
}

export function loadPack(path: string, keys: PackKey[]): LoadedPack {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new InventoryError(
      "READ_FAILED",
      `${path}: cannot read the pack (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      { cause: e },
    );
  }
  return parsePack(text, path, keys);
}
