/**
 * Authenticode trust as libclamav decides it (facts from its crtmgr.c, asn1.c and pe.c), from
 * `.crb` rules and `.cat` catalogs:
 *
 * - The trust store starts as the `.crb` rules. Block rules (Trusted 0) match a certificate of
 *   the signature by subject, modulus and serial (an empty serial: any); the first certificate
 *   blocked makes the file a detection under the rule's name, before anything is verified.
 * - A certificate is trusted directly when a trust rule (Trusted 1) has its subject, modulus
 *   and serial (unless the rule leaves it empty), its notBefore is not earlier than the rule's,
 *   and its code/time/cert-signing purposes are ones the rule allows; or indirectly when a
 *   trusted certificate with CertSign and its issuer's subject verifies its RSA signature
 *   (a `.crb` rule verifies with exponent 65537, as ClamAV sets it).
 * - The signer (issuer and serial of the SignerInfo) must be a trusted certificate with the
 *   code-signing purpose whose RSA signature over the authenticated attributes verifies; their
 *   messageDigest must be the digest of the signed content; without a countersignature the
 *   signer's certificate must be valid now.
 * - A PE's signature then trusts the file when its SpcIndirectDataContent digest is the file's
 *   Authenticode hash. A catalog (`.cat`) that verifies adds its PE hashes (and the certificates
 *   it trusted, as libclamav does with its global store) to what trusts a file: a PE whose
 *   Authenticode SHA-1 or SHA-256 is listed is trusted, signed or not.
 *
 * - A PKCS#9 countersignature (time-stamp) replaces the "valid now" check: its signing time must
 *   lie in the signing certificate's validity and its signer be a trusted certificate with the
 *   time-stamping purpose. RFC 3161 time-stamps and nested signatures are not read (as
 *   libclamav), so those signatures are judged by the certificate's validity now.
 *
 * - A catalog's CAB entries are whole-file hashes: a file whose SHA-1 one lists is clean, as
 *   libclamav's allow-list check treats them (`cab`; the scanner applies them).
 */

import { constants, createHash, createPublicKey, type KeyObject, publicDecrypt } from "node:crypto";
import type { CrbRule } from "../formats/crb.js";
import { DerError } from "./der.js";
import { type Cert, catalogHashes, type HashName, indirectDigest, OIDS, readSignedData } from "./pkcs7.js";

/** A trusted certificate: a `.crb` rule (`rule` set) or one a verified catalog added. */
export interface TrustedCert {
  name?: string | undefined;
  /** a `.crb` rule: compared by subject, modulus, serial and purposes, never by issuer */
  rule: boolean;
  subject: string;
  /** SHA-1 of the serial, undefined for a rule with an empty serial */
  serial: string | undefined;
  issuer: string;
  modulus: string;
  exponent: string;
  notBefore: number;
  notAfter: number;
  codeSign: boolean;
  timeSign: boolean;
  certSign: boolean;
  hash: HashName | "any";
}

/** What a scanner needs to apply Authenticode trust: serialisable (hex strings and numbers). */
export interface AuthenticodeTrust {
  /** `.crb` block rules, in load order */
  block: CrbRule[];
  /** trusted certificates, in the order they were added */
  trusted: TrustedCert[];
  /** Authenticode hashes (hex) of PE files listed in verified catalogs */
  catalog: { sha1: string[]; sha256: string[] };
  /**
   * Whole-file hashes (hex) of the CAB entries of verified catalogs. libclamav checks the SHA-1
   * ones (as size-1 allow-list entries) before reporting any detection, whatever the file's
   * type; its SHA-256 ones practically never (it computes SHA-256 only when the allow list
   * holds entries of the file's size), so Vigil keeps them and applies only the SHA-1 ones.
   */
  cab: { sha1: string[]; sha256: string[] };
  /** set (with why) when the engine configuration turns Authenticode off: nothing is applied */
  disabled?: string;
}

export type AuthenticodeVerdict =
  | { verdict: "blocked"; name: string }
  | { verdict: "trusted"; by: string }
  | { verdict: "none"; reason: string };

const digestOf = (h: HashName, b: Uint8Array) => createHash(h).update(b).digest();
const NOT_AFTER_MAX = Number.MAX_SAFE_INTEGER;
const strip = (h: string) => h.toLowerCase().replace(/^(00)+/, "");

export function emptyTrust(): AuthenticodeTrust {
  return { block: [], trusted: [], catalog: { sha1: [], sha256: [] }, cab: { sha1: [], sha256: [] } };
}

/** Adds a `.crb` rule as cli_loadcrt does (a duplicate of a rule already held is not added). */
export function addCrbRule(t: AuthenticodeTrust, r: CrbRule): void {
  if (!r.trusted) {
    if (!blockLookup(t.block, { subject: r.subject, modulus: strip(r.modulus), serial: r.serial ?? "" }))
      t.block.push(r);
    return;
  }
  addTrusted(t.trusted, {
    name: r.name,
    rule: true,
    subject: r.subject,
    serial: r.serial,
    issuer: "ca".repeat(20),
    modulus: strip(r.modulus),
    exponent: "010001",
    notBefore: r.notBefore ?? 0,
    notAfter: NOT_AFTER_MAX,
    codeSign: r.codeSign,
    timeSign: r.timeSign,
    certSign: r.certSign,
    hash: "any",
  });
}

/** The block rule a certificate matches; the store is searched newest first, as ClamAV's list. */
function blockLookup(
  block: readonly CrbRule[],
  c: { subject: string; modulus: string; serial: string },
): CrbRule | undefined {
  for (let i = block.length - 1; i >= 0; i--) {
    const r = block[i]!;
    if (r.subject === c.subject && strip(r.modulus) === c.modulus && (!r.serial || r.serial === c.serial)) return r;
  }
  return undefined;
}

/** crtmgr_trust_list_lookup: `rulesOnly` compares with `.crb` rules alone. */
function trustLookup(store: readonly TrustedCert[], x: TrustedCert, rulesOnly: boolean): TrustedCert | undefined {
  for (let k = store.length - 1; k >= 0; k--) {
    const i = store[k]!;
    if (rulesOnly) {
      if (!i.rule) continue;
    } else if (
      x.hash !== i.hash ||
      x.issuer !== i.issuer ||
      (x.serial === undefined) !== (i.serial === undefined) ||
      x.exponent !== i.exponent
    )
      continue;
    if (i.serial !== undefined && i.serial !== x.serial) continue;
    if (
      x.notBefore >= i.notBefore &&
      x.notAfter <= i.notAfter &&
      (!x.certSign || i.certSign) &&
      (!x.codeSign || i.codeSign) &&
      (!x.timeSign || i.timeSign) &&
      x.subject === i.subject &&
      x.modulus === i.modulus
    )
      return i;
  }
  return undefined;
}

function addTrusted(store: TrustedCert[], c: TrustedCert): void {
  if (!trustLookup(store, c, false)) store.push(c);
}

const asTrusted = (c: Cert): TrustedCert => ({
  rule: false,
  subject: c.subject,
  serial: c.serial,
  issuer: c.issuer,
  modulus: c.modulus,
  exponent: c.exponent,
  notBefore: c.notBefore,
  notAfter: c.notAfter,
  codeSign: c.codeSign,
  timeSign: c.timeSign,
  certSign: c.certSign,
  hash: c.hash,
});

const DIGEST_INFO_PREFIX: Record<HashName, string> = {
  md5: "3020300c06082a864886f70d020505000410",
  sha1: "3021300906052b0e03021a05000414",
  sha256: "3031300d060960864801650304020105000420",
  sha384: "3041300d060960864801650304020205000430",
  sha512: "3051300d060960864801650304020305000440",
};

/** public keys made from trusted certificates, kept across calls (a few, bounded) */
const KEYS = new Map<string, KeyObject>();
const b64url = (h: string) => Buffer.from(h.length % 2 ? `0${h}` : h, "hex").toString("base64url");

/** crtmgr_rsa_verify: the signature, opened with the key, is a PKCS#1 v1.5 DigestInfo of `refhash`. */
export function rsaVerify(
  key: { modulus: string; exponent: string },
  sigHex: string,
  hash: HashName,
  refhash: Buffer,
): boolean {
  const n = Buffer.from(key.modulus.length % 2 ? `0${key.modulus}` : key.modulus, "hex");
  let sig = Buffer.from(sigHex.length % 2 ? `0${sigHex}` : sigHex, "hex");
  while (sig.length > n.length && sig[0] === 0) sig = sig.subarray(1);
  if (Math.abs(sig.length - n.length) > 1 || sig.length > n.length) return false;
  if (sig.length < n.length) sig = Buffer.concat([Buffer.alloc(n.length - sig.length), sig]);
  try {
    const id = `${key.modulus}:${key.exponent}`;
    let pub = KEYS.get(id);
    if (!pub) {
      pub = createPublicKey({ key: { kty: "RSA", n: b64url(key.modulus), e: b64url(key.exponent) }, format: "jwk" });
      if (KEYS.size >= 256) KEYS.clear();
      KEYS.set(id, pub);
    }
    const out = publicDecrypt({ key: pub, padding: constants.RSA_PKCS1_PADDING }, sig);
    return out.toString("hex") === DIGEST_INFO_PREFIX[hash] + refhash.toString("hex");
  } catch {
    return false; // a signature that does not open with the key (or a key node refuses)
  }
}

/** crtmgr_verify_crt: the trusted certificate that signed `x`, preferring one allowing all its purposes. */
function verifyCert(store: readonly TrustedCert[], x: Cert): TrustedCert | undefined {
  let best: TrustedCert | undefined;
  let score = 0;
  for (let k = store.length - 1; k >= 0; k--) {
    const i = store[k]!;
    if (!i.certSign || i.subject !== x.issuer) continue;
    if (!rsaVerify(i, x.signature, x.hash, Buffer.from(x.tbsHash, "hex"))) continue;
    if ((!x.codeSign || i.codeSign) && (!x.timeSign || i.timeSign)) return i;
    const s = (x.codeSign && i.codeSign ? 1 : 0) + (x.timeSign && i.timeSign ? 1 : 0);
    if (s > score) {
      best = i;
      score = s;
    }
  }
  return best;
}

/** crtmgr_verify_pkcs7: the trusted certificate, allowed `purpose`, with this issuer and serial whose key opens the signature. */
function verifyPkcs7(
  store: readonly TrustedCert[],
  s: { issuer: string; serial: string; encryptedDigest: Buffer; attributesDigest: Buffer },
  hash: HashName,
  purpose: "code" | "time",
): TrustedCert | undefined {
  if (s.encryptedDigest.length < 128 || s.encryptedDigest.length > 513) return undefined;
  for (let k = store.length - 1; k >= 0; k--) {
    const i = store[k]!;
    if (purpose === "code" ? !i.codeSign : !i.timeSign) continue;
    if (i.issuer !== s.issuer || i.serial !== s.serial) continue;
    if (rsaVerify(i, s.encryptedDigest.toString("hex"), hash, s.attributesDigest)) return i;
  }
  return undefined;
}

/**
 * asn1_parse_mscat: reads and verifies a SignedData against `store` (which it extends with the
 * certificates it comes to trust, as libclamav does). Returns the verified content, or the
 * block rule a certificate matched, or why it is not trusted.
 */
function verifySignedData(
  der: Uint8Array,
  contentType: string,
  t: { block: readonly CrbRule[]; store: TrustedCert[] },
  now: number,
): { ok: Uint8Array; hash: HashName } | { blocked: CrbRule } | { reason: string } {
  let sd;
  try {
    sd = readSignedData(der, contentType);
  } catch (e) {
    if (e instanceof DerError || e instanceof RangeError)
      return { reason: `malformed Authenticode signature: ${(e as Error).message}` };
    throw e;
  }
  const pending: Cert[] = [];
  for (const c of sd.certificates) {
    const b = blockLookup(t.block, c);
    if (b) return { blocked: b };
    if (trustLookup(t.store, asTrusted(c), true)) addTrusted(t.store, asTrusted(c));
    else pending.push(c);
  }
  // certificates trusted because a trusted one signed them; start over after each one added
  for (let k = 0; k < pending.length; ) {
    const c = pending[k]!;
    if (trustLookup(t.store, asTrusted(c), false)) {
      pending.splice(k, 1);
      continue;
    }
    const parent = verifyCert(t.store, c);
    if (parent) {
      addTrusted(t.store, {
        ...asTrusted(c),
        codeSign: c.codeSign && parent.codeSign,
        timeSign: c.timeSign && parent.timeSign,
      });
      pending.splice(k, 1);
      k = 0;
      continue;
    }
    k++;
  }
  const s = sd.signer;
  if (typeof s === "string") return { reason: `malformed Authenticode signature: ${s}` };
  const contentDigest = digestOf(sd.hash, sd.content);
  if (!contentDigest.equals(s.messageDigest)) return { reason: "the messageDigest does not match the signed content" };
  const signer = verifyPkcs7(t.store, s, sd.hash, "code");
  if (!signer)
    return {
      reason:
        "the signer's certificate is not trusted (no .crb trust rule reaches it) or its signature does not verify",
    };
  const cs = s.counterSignature;
  if (cs) {
    // a time-stamp: signed at a time the signing certificate was valid, by a trusted
    // time-stamping certificate; then the certificate's validity now does not matter
    if (cs.signingTime < signer.notBefore || cs.signingTime > signer.notAfter)
      return { reason: "the countersignature's signing time is outside the signing certificate's validity" };
    if (!verifyPkcs7(t.store, cs, cs.hash, "time"))
      return {
        reason: "the countersignature's certificate is not trusted for time-stamping or its signature does not verify",
      };
  } else if (now < signer.notBefore || now > signer.notAfter)
    return { reason: "no countersignature and the signing certificate is not valid now" };
  return { ok: sd.content, hash: sd.hash };
}

const u16 = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8);
const u32 = (b: Uint8Array, at: number) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

/** The byte ranges of a PE its Authenticode hash covers (cli_check_auth_header), and its certificate table. */
export function authenticodeLayout(
  pe: Uint8Array,
): { regions: Array<[number, number]>; certTable?: { offset: number; size: number } } | { reason: string } {
  if (pe.length < 0x40 || u16(pe, 0) !== 0x5a4d) return { reason: "not a PE (no MZ header)" };
  const peOff = u32(pe, 0x3c);
  if (peOff + 24 > pe.length || u32(pe, peOff) !== 0x00004550) return { reason: "not a PE (no PE header)" };
  const opt = peOff + 24;
  if (opt + 2 > pe.length) return { reason: "truncated optional header" };
  const magic = u16(pe, opt);
  if (magic !== 0x10b && magic !== 0x20b) return { reason: `unknown optional header magic 0x${magic.toString(16)}` };
  const dirs = opt + (magic === 0x10b ? 96 : 112);
  const checksum = opt + 64,
    security = dirs + 4 * 8;
  if (security + 8 > pe.length) return { reason: "truncated data directories" };
  if (security + 8 > u32(pe, opt + 60)) return { reason: "the data directories lie past SizeOfHeaders" };
  const offset = u32(pe, security),
    size = u32(pe, security + 4);
  const regions: Array<[number, number]> = [
    [0, checksum],
    [checksum + 4, security],
  ];
  if (offset === 0) {
    regions.push([security + 8, pe.length]);
    return { regions };
  }
  if (offset + size !== pe.length) return { reason: "the certificate table is not at the end of the file" };
  if (offset < security + 8) return { reason: "the certificate table overlaps the PE header" };
  regions.push([security + 8, offset]);
  return { regions, certTable: { offset, size } };
}

function hashRegions(pe: Uint8Array, regions: Array<[number, number]>, h: HashName): Buffer {
  const c = createHash(h);
  for (const [a, b] of regions) c.update(pe.subarray(a, b));
  return c.digest();
}

/**
 * The Authenticode verdict on a PE, in libclamav's order: a block rule on any certificate of its
 * signature; a signature that verifies to a trusted certificate and whose digest is the file's
 * Authenticode hash; a catalog listing that hash. Never throws on malformed input (a malformed
 * signature reads as unsigned); `now` in Unix seconds.
 */
export function checkAuthenticode(
  pe: Uint8Array,
  trust: AuthenticodeTrust,
  opts: {
    now?: number;
    /** more catalog hashes: size-2 `.fp`/`.sfp` allow-list entries, which libclamav treats as catalog hashes */
    catalogAllow?: (h: "sha1" | "sha256", digest: Buffer) => boolean;
  } = {},
): AuthenticodeVerdict {
  if (trust.disabled) return { verdict: "none", reason: trust.disabled };
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  const haveCatalog = trust.catalog.sha1.length > 0 || trust.catalog.sha256.length > 0 || !!opts.catalogAllow;
  if (!trust.block.length && !trust.trusted.length && !haveCatalog) return { verdict: "none", reason: "no rules" };
  const layout = authenticodeLayout(pe);
  if ("reason" in layout) return { verdict: "none", reason: layout.reason };
  let why = "not signed";
  const ct = layout.certTable;
  if (ct && ct.size >= 8) {
    const revision = u16(pe, ct.offset + 4),
      type = u16(pe, ct.offset + 6);
    if (revision !== 0x200) why = `WIN_CERTIFICATE revision 0x${revision.toString(16)} is not 2.0`;
    else if (type !== 2) why = `WIN_CERTIFICATE type ${type} is not PKCS#7 signed data`;
    else {
      const der = pe.subarray(ct.offset + 8, ct.offset + ct.size);
      const v = verifySignedData(der, OIDS.spcIndirectData, { block: trust.block, store: [...trust.trusted] }, now);
      if ("blocked" in v) return { verdict: "blocked", name: v.blocked.name };
      if ("reason" in v) why = v.reason;
      else {
        try {
          const d = indirectDigest(v.ok);
          if (hashRegions(pe, layout.regions, d.hash).equals(d.digest))
            return { verdict: "trusted", by: "its Authenticode signature" };
          why = "the signed digest is not the file's Authenticode hash (modified after signing)";
        } catch (e) {
          if (!(e instanceof DerError || e instanceof RangeError)) throw e;
          why = `malformed Authenticode signature: ${(e as Error).message}`;
        }
      }
    }
  } else if (!haveCatalog) return { verdict: "none", reason: "not signed" };
  for (const h of ["sha1", "sha256"] as const) {
    const list = trust.catalog[h];
    if (!list.length && !opts.catalogAllow) continue;
    const mine = hashRegions(pe, layout.regions, h);
    if (list.includes(mine.toString("hex")) || opts.catalogAllow?.(h, mine))
      return { verdict: "trusted", by: `a catalog listing its ${h} Authenticode hash` };
  }
  return { verdict: "none", reason: why };
}

/**
 * Loads a `.cat` catalog as cli_loadmscat does: verified against the trust so far (certificates
 * it comes to trust join it), its PE hashes join `trust.catalog`. A catalog that does not verify
 * adds nothing; one whose list turns malformed keeps the hashes read before. Returns what was
 * added and, when something went wrong, why.
 */
export function loadCatalog(
  der: Uint8Array,
  trust: AuthenticodeTrust,
  now = Math.floor(Date.now() / 1000),
): { added: number; error?: string } {
  const v = verifySignedData(der, OIDS.ctl, { block: trust.block, store: trust.trusted }, now);
  if ("blocked" in v) return { added: 0, error: `a certificate of the catalog is blocked by ${v.blocked.name}` };
  if ("reason" in v) return { added: 0, error: v.reason };
  const { hashes, error } = catalogHashes(v.ok);
  let added = 0;
  for (const h of hashes) {
    (h.kind === 2 ? trust.catalog : trust.cab)[h.hash].push(h.digest);
    added++;
  }
  return error ? { added, error } : { added };
}
