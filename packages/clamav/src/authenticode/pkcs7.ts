/**
 * A PKCS#7 SignedData read the way libclamav reads Authenticode signatures and `.cat` catalogs
 * (facts from libclamav's asn1.c): one signer, version 1, the content directly in `[0]`
 * (`SpcIndirectDataContent` for a PE's own signature, a certificate trust list for a catalog),
 * certificates in `[0]`, RSA only. Certificates are read into the fields ClamAV's certificate
 * manager compares (SHA-1 of the subject, issuer and serial contents, modulus and exponent,
 * validity, and the code/time/cert-signing purposes it derives from the extensions); a
 * certificate ClamAV would skip is skipped, with the reason kept.
 *
 * Everything throws DerError on malformed input; nothing reads outside the buffer, and nothing
 * recurses (each level of the structure is a fixed step), so nesting costs nothing.
 */

import { createHash } from "node:crypto";
import {
  children,
  DerError,
  expectTlv,
  INTEGER,
  OCTET_STRING,
  OID,
  oid,
  readTlv,
  SEQUENCE,
  SET,
  type Tlv,
} from "./der.js";

export type HashName = "md5" | "sha1" | "sha256" | "sha384" | "sha512";
export const HASH_SIZE: Record<HashName, number> = { md5: 16, sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

/** Digest algorithms a SignedData, signer or catalog entry may name (asn1_expect_hash_algo). */
const DIGEST_OIDS: Record<string, HashName> = {
  "1.3.14.3.2.26": "sha1",
  "1.2.840.113549.1.1.5": "sha1",
  "1.2.840.113549.2.5": "md5",
  "1.2.840.113549.1.1.4": "md5",
  "2.16.840.1.101.3.4.2.1": "sha256",
  "1.2.840.113549.1.1.11": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "1.2.840.113549.1.1.12": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
  "1.2.840.113549.1.1.13": "sha512",
};
/** Certificate signature algorithms (asn1_expect_rsa); "rsa" and "md2" parse but cannot be hashed. */
const CERT_SIG_OIDS: Record<string, HashName | "rsa" | "md2"> = {
  "1.3.14.3.2.29": "sha1",
  "1.2.840.113549.1.1.5": "sha1",
  "1.2.840.113549.1.1.4": "md5",
  "1.2.840.113549.1.1.1": "rsa",
  "1.2.840.113549.1.1.2": "md2",
  "1.2.840.113549.1.1.11": "sha256",
  "1.2.840.113549.1.1.12": "sha384",
  "1.2.840.113549.1.1.13": "sha512",
};

export const OIDS = {
  signedData: "1.2.840.113549.1.7.2",
  rsaEncryption: "1.2.840.113549.1.1.1",
  contentType: "1.2.840.113549.1.9.3",
  messageDigest: "1.2.840.113549.1.9.4",
  signingTime: "1.2.840.113549.1.9.5",
  data: "1.2.840.113549.1.7.1",
  timestampToken: "1.2.840.113549.1.9.16.1.4",
  counterSignature: "1.2.840.113549.1.9.6",
  spcIndirectData: "1.3.6.1.4.1.311.2.1.4",
  spcPeImageData: "1.3.6.1.4.1.311.2.1.15",
  spcCabData: "1.3.6.1.4.1.311.2.1.25",
  nestedSignatures: "1.3.6.1.4.1.311.2.4.1",
  rfc3161: "1.3.6.1.4.1.311.3.3.1",
  ctl: "1.3.6.1.4.1.311.10.1",
  catalogList: "1.3.6.1.4.1.311.12.1.1",
  catalogListMember: "1.3.6.1.4.1.311.12.1.2",
  catalogListMember2: "1.3.6.1.4.1.311.12.1.3",
} as const;

/** A certificate as ClamAV's certificate manager holds it (hex strings: JSON-safe, comparable). */
export interface Cert {
  /** SHA-1 of the subject Name's content octets */
  subject: string;
  /** SHA-1 of the issuer Name's content octets */
  issuer: string;
  /** SHA-1 of the serial number's content octets */
  serial: string;
  /** RSA modulus and exponent, lower-case hex without leading zeros */
  modulus: string;
  exponent: string;
  /** Unix seconds */
  notBefore: number;
  notAfter: number;
  codeSign: boolean;
  timeSign: boolean;
  certSign: boolean;
  /** the hash of the certificate's own signature algorithm */
  hash: HashName;
  /** that hash over the DER TBSCertificate, hex */
  tbsHash: string;
  /** the signature value (BIT STRING content), hex */
  signature: string;
}

export interface SignerInfo {
  /** SHA-1 of the issuer Name content and of the serial content (issuerAndSerialNumber) */
  issuer: string;
  serial: string;
  /** the digest of the authenticated attributes as signed (SET tag, then their content) */
  attributesDigest: Buffer;
  /** the messageDigest attribute */
  messageDigest: Buffer;
  encryptedDigest: Buffer;
  /**
   * The PKCS#9 counterSignature among the unauthenticated attributes (a time-stamp over the
   * encrypted digest), when there is one; RFC 3161 time-stamps and nested signatures are
   * noted and not read, as libclamav.
   */
  counterSignature: CounterSignature | undefined;
}

export interface CounterSignature {
  issuer: string;
  serial: string;
  hash: HashName;
  /** its signingTime attribute (Unix seconds) */
  signingTime: number;
  attributesDigest: Buffer;
  encryptedDigest: Buffer;
}

export interface SignedData {
  hash: HashName;
  /** the signed content's inner SEQUENCE content (what messageDigest covers) */
  content: Uint8Array;
  /** certificates read, in the order ClamAV's list holds them (last in the signature first) */
  certificates: Cert[];
  /** certificates skipped as ClamAV skips them, with why */
  skipped: string[];
  /** the signer, or why the SignerInfo did not parse (the certificates still count for block rules) */
  signer: SignerInfo | string;
}

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
const hexNoLeadingZeros = (b: Uint8Array) => hex(b).replace(/^(00)+/, "");
const digest = (h: HashName, ...parts: Uint8Array[]) => {
  const c = createHash(h);
  for (const p of parts) c.update(p);
  return c.digest();
};

/** The elements inside `t`, which must be exactly `n`..`max` of them. */
function kids(buf: Uint8Array, t: Tlv, what: string, min: number, max = min): Tlv[] {
  const c = children(buf, t, max + 1);
  if (c.length < min || c.length > max) throw new DerError(`${what}: ${c.length} elements, expected ${min}..${max}`);
  return c;
}

function oidOf(buf: Uint8Array, t: Tlv | undefined, what: string): string {
  if (!t || t.tag !== OID) throw new DerError(`${what}: expected an object identifier`);
  return oid(buf, t);
}

/** AlgorithmIdentifier: SEQUENCE { OID, optional NULL }, nothing else (asn1_expect_algo). */
function algorithm(buf: Uint8Array, t: Tlv | undefined, what: string): string {
  if (!t || t.tag !== SEQUENCE) throw new DerError(`${what}: expected an AlgorithmIdentifier`);
  const [id, param, ...rest] = children(buf, t, 3);
  const o = oidOf(buf, id, what);
  if (rest.length || (param && (param.tag !== 0x05 || param.end !== param.content)))
    throw new DerError(`${what}: unexpected algorithm parameters`);
  return o;
}

export function digestAlgorithm(buf: Uint8Array, t: Tlv | undefined, what: string): HashName {
  const o = algorithm(buf, t, what);
  const h = DIGEST_OIDS[o];
  if (!h) throw new DerError(`${what}: unsupported digest algorithm ${o}`);
  return h;
}

/** UTCTime or GeneralizedTime as libclamav reads it (seconds optional; its GeneralizedTime reads the century twice). */
function time(buf: Uint8Array, t: Tlv | undefined): number {
  if (!t || (t.tag !== 0x17 && t.tag !== 0x18)) throw new DerError("validity: expected a time");
  const len = t.tag === 0x17 ? 13 : 15;
  if (t.content + len > buf.length) throw new DerError("validity: truncated time");
  const s = Buffer.from(buf.subarray(t.content, t.content + len)).toString("latin1");
  const num = (i: number) => (/^\d\d$/.test(s.slice(i, i + 2)) ? +s.slice(i, i + 2) : -1);
  let year: number;
  let p: number;
  if (t.tag === 0x18) {
    const c = num(0);
    if (c < 0) throw new DerError("validity: bad year");
    year = c * 100 + c; // libclamav reads the first two digits twice
    p = 4;
  } else {
    const y = num(0);
    if (y < 0) throw new DerError("validity: bad year");
    year = y >= 50 ? 1900 + y : 2000 + y;
    p = 2;
  }
  const mon = num(p),
    day = num(p + 2),
    hour = num(p + 4),
    min = num(p + 6);
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 || min < 0 || min > 59)
    throw new DerError("validity: bad date");
  let sec = 0;
  if (s[p + 8] !== "Z") {
    sec = num(p + 8);
    if (sec < 0 || sec > 59 || s[p + 10] !== "Z") throw new DerError("validity: bad time");
  }
  return Date.UTC(year, mon - 1, day, hour, min, sec) / 1000;
}

/** One certificate (asn1_get_x509); throws DerError for a certificate ClamAV skips. */
function certificate(buf: Uint8Array, crt: Tlv): Cert {
  const [tbs, sigAlg, sigBits] = kids(buf, crt, "certificate", 3);
  if (tbs!.tag !== SEQUENCE) throw new DerError("certificate: no TBSCertificate");
  const f = children(buf, tbs!, 16);
  let i = 0;
  let version = 1;
  let codeSign = false,
    timeSign = false,
    certSign = false;
  if (f[0]?.tag === 0xa0) {
    const v = kids(buf, f[0], "version", 1)[0]!;
    if (v.tag !== INTEGER || v.end - v.content !== 1 || buf[v.content] !== 2)
      throw new DerError("certificate: only version 3 (or 1) is read");
    version = 3;
    i = 1;
  } else if (f[0]?.tag === INTEGER) {
    // a version 1 certificate says nothing about its purpose: ClamAV takes it as a time-stamping CA
    certSign = timeSign = true;
  } else throw new DerError("certificate: no serial number");
  const serial = f[i];
  if (serial?.tag !== INTEGER) throw new DerError("certificate: no serial number");
  const hash1 = CERT_SIG_OIDS[algorithm(buf, f[i + 1], "certificate signature algorithm")];
  if (!hash1) throw new DerError("certificate: signature algorithm is not RSA");
  const issuer = f[i + 2],
    validity = f[i + 3],
    subject = f[i + 4],
    spki = f[i + 5];
  if (issuer?.tag !== SEQUENCE) throw new DerError("certificate: no issuer");
  if (validity?.tag !== SEQUENCE) throw new DerError("certificate: no validity");
  const [nb, na] = kids(buf, validity, "validity", 2);
  const notBefore = time(buf, nb),
    notAfter = time(buf, na);
  if (notBefore >= notAfter) throw new DerError("certificate: notBefore is not before notAfter");
  if (subject?.tag !== SEQUENCE) throw new DerError("certificate: no subject");
  if (spki?.tag !== SEQUENCE) throw new DerError("certificate: no public key");
  const [keyAlg, keyBits] = kids(buf, spki, "subjectPublicKeyInfo", 2);
  if (algorithm(buf, keyAlg, "public key algorithm") !== OIDS.rsaEncryption)
    throw new DerError("certificate: the key is not RSA");
  if (keyBits!.tag !== 0x03 || keyBits!.end === keyBits!.content || buf[keyBits!.content] !== 0)
    throw new DerError("certificate: bad public key bits");
  const rsa = expectTlv(buf, keyBits!.content + 1, SEQUENCE, keyBits!.end, "RSA public key");
  if (rsa.end !== keyBits!.end) throw new DerError("certificate: data after the RSA public key");
  const [n, e] = kids(buf, rsa, "RSA public key", 2);
  if (n!.tag !== INTEGER || e!.tag !== INTEGER) throw new DerError("certificate: RSA key fields are not integers");
  const nLen = n!.end - n!.content,
    eLen = e!.end - e!.content;
  if (nLen < 128 || nLen > 513) throw new DerError("certificate: RSA modulus outside 1024..4096 bits");
  if (eLen < 1 || eLen > nLen) throw new DerError("certificate: bad RSA exponent");
  const rest = f.slice(i + 6);
  if (version === 1 && rest.length) throw new DerError("certificate: version 1 with extra fields");
  let last = 0xa0;
  for (let k = 0; k < rest.length; k++) {
    const o = rest[k]!;
    if (o.tag <= last || o.tag > 0xa3) throw new DerError("certificate: unexpected field after the public key");
    last = o.tag;
    if (o.tag !== 0xa3) continue;
    const inner = children(buf, o, 2);
    if (inner[0]?.tag !== SEQUENCE) throw new DerError("certificate: extensions are not a SEQUENCE");
    if (inner.length > 1) {
      // libclamav stops reading here; it is only an error when more fields follow
      if (k !== rest.length - 1) throw new DerError("certificate: data after the extensions");
      break;
    }
    let haveKeyUsage = false,
      haveExtKeyUsage = false;
    for (const ext of children(buf, inner[0], 256)) {
      if (ext.tag !== SEQUENCE) throw new DerError("extension: not a SEQUENCE");
      const parts = children(buf, ext, 4);
      const id = parts[0];
      if (id?.tag !== OID) throw new DerError("extension: no identifier");
      let v = 1;
      if (parts[v]?.tag === 0x01) {
        if (parts[v]!.end - parts[v]!.content !== 1) throw new DerError("extension: bad critical flag");
        v++;
      }
      const value = parts[v];
      if (value?.tag !== OCTET_STRING || parts.length !== v + 1) throw new DerError("extension: bad value");
      if (id.end - id.content !== 3 || buf[id.content] !== 0x55 || buf[id.content + 1] !== 0x1d) continue;
      const kind = buf[id.content + 2];
      const vb = buf.subarray(value.content, value.end);
      if (kind === 0x0f) {
        // KeyUsage: a BIT STRING of 2 or 3 bytes; keyCertSign is bit 5
        haveKeyUsage = true;
        if (vb.length < 4 || vb.length > 5 || vb[0] !== 0x03 || vb[1] !== vb.length - 2 || vb[2]! > 7)
          throw new DerError("extension: bad KeyUsage");
        let usage = vb[3]!;
        if (vb.length === 4) usage &= ~((1 << vb[2]!) - 1);
        certSign = (usage & 4) !== 0;
      } else if (kind === 0x25) {
        haveExtKeyUsage = true;
        const seq = readTlv(buf, value.content, value.end);
        if (seq.tag !== SEQUENCE || seq.end !== value.end) throw new DerError("extension: bad ExtKeyUsage");
        for (const p of children(buf, seq, 256)) {
          if (p.tag !== OID) throw new DerError("extension: bad key purpose");
          const po = oid(buf, p);
          if (po === "1.3.6.1.5.5.7.3.3") codeSign = true;
          else if (po === "1.3.6.1.5.5.7.3.8") timeSign = true;
        }
      } else if (kind === 0x13) {
        const seq = readTlv(buf, value.content, value.end);
        if (seq.tag !== SEQUENCE) throw new DerError("extension: bad BasicConstraints");
        if (seq.end === seq.content) certSign = false;
        else {
          const first = readTlv(buf, seq.content, seq.end);
          if (first.tag === 0x01) {
            if (first.end - first.content !== 1) throw new DerError("extension: bad cA flag");
            certSign = buf[first.content] !== 0;
          } else if (first.tag === INTEGER) certSign = false;
          else throw new DerError("extension: bad BasicConstraints");
        }
      }
    }
    // no EKU: any purpose; no KeyUsage: may sign certificates (as libclamav decides)
    if (!haveExtKeyUsage) codeSign = timeSign = true;
    if (!haveKeyUsage) certSign = true;
  }
  const hash2 = CERT_SIG_OIDS[algorithm(buf, sigAlg, "certificate signature algorithm")];
  if (hash2 !== hash1) throw new DerError("certificate: the two signature algorithms differ");
  if (hash1 === "rsa" || hash1 === "md2") throw new DerError(`certificate: ${hash1} signatures are not checked`);
  if (sigBits!.tag !== 0x03 || sigBits!.end - sigBits!.content > 513)
    throw new DerError("certificate: bad signature value");
  return {
    subject: digest("sha1", buf.subarray(subject.content, subject.end)).toString("hex"),
    issuer: digest("sha1", buf.subarray(issuer.content, issuer.end)).toString("hex"),
    serial: digest("sha1", buf.subarray(serial.content, serial.end)).toString("hex"),
    modulus: hexNoLeadingZeros(buf.subarray(n!.content, n!.end)),
    exponent: hexNoLeadingZeros(buf.subarray(e!.content, e!.end)),
    notBefore,
    notAfter,
    codeSign,
    timeSign,
    certSign,
    hash: hash1,
    tbsHash: digest(hash1, buf.subarray(tbs!.start, tbs!.end)).toString("hex"),
    signature: hexNoLeadingZeros(buf.subarray(sigBits!.content, sigBits!.end)),
  };
}

const sameCert = (a: Cert, b: Cert) =>
  a.subject === b.subject &&
  a.issuer === b.issuer &&
  a.serial === b.serial &&
  a.modulus === b.modulus &&
  a.exponent === b.exponent &&
  a.hash === b.hash;

function signerInfo(der: Uint8Array, set: Tlv, hash: HashName, contentType: string): SignerInfo {
  const signers = children(der, set, 2);
  if (signers.length !== 1 || signers[0]!.tag !== SEQUENCE) throw new DerError("exactly one SignerInfo is read");
  const f = children(der, signers[0]!, 8);
  if (f[0]?.tag !== INTEGER || f[0].end - f[0].content !== 1 || der[f[0].content] !== 1)
    throw new DerError("SignerInfo version is not 1");
  const ias = f[1];
  if (ias?.tag !== SEQUENCE) throw new DerError("SignerInfo: no issuerAndSerialNumber");
  const [iss, ser] = kids(der, ias, "issuerAndSerialNumber", 2);
  if (iss!.tag !== SEQUENCE || ser!.tag !== INTEGER) throw new DerError("SignerInfo: bad issuerAndSerialNumber");
  if (digestAlgorithm(der, f[2], "SignerInfo digest algorithm") !== hash)
    throw new DerError("SignerInfo digest algorithm differs from SignedData's");
  const attrs = f[3];
  if (attrs?.tag !== 0xa0 || attrs.end - attrs.start < 2) throw new DerError("SignerInfo: no authenticated attributes");
  let ct: string | undefined;
  let md: Buffer | undefined;
  for (const a of children(der, attrs, 256)) {
    if (a.tag !== SEQUENCE) throw new DerError("authenticated attribute is not a SEQUENCE");
    const [id, values, ...more] = children(der, a, 3);
    if (id?.tag !== OID) throw new DerError("authenticated attribute without a type");
    const o = oid(der, id);
    if (o !== OIDS.contentType && o !== OIDS.messageDigest) continue;
    if (values?.tag !== SET || more.length) throw new DerError("authenticated attribute: bad values");
    const [v, ...extra] = children(der, values, 2);
    if (extra.length || !v) throw new DerError("authenticated attribute: one value expected");
    if (o === OIDS.contentType) {
      if (ct !== undefined) throw new DerError("contentType appears twice");
      ct = oidOf(der, v, "contentType");
      if (ct !== contentType) throw new DerError(`contentType attribute is ${ct}, not ${contentType}`);
    } else {
      if (md) throw new DerError("messageDigest appears twice");
      if (v.tag !== OCTET_STRING || v.end - v.content !== HASH_SIZE[hash])
        throw new DerError("messageDigest has the wrong size");
      md = Buffer.from(der.subarray(v.content, v.end));
    }
  }
  if (ct === undefined || !md) throw new DerError("contentType or messageDigest attribute missing");
  if (algorithm(der, f[4], "digest encryption algorithm") !== OIDS.rsaEncryption)
    throw new DerError("the signer's algorithm is not RSA");
  const enc = f[5];
  if (enc?.tag !== OCTET_STRING || enc.end - enc.content > 513) throw new DerError("bad encryptedDigest");
  let counterSignature: CounterSignature | undefined;
  if (f.length > 6) {
    const u = f[6]!;
    if (u.tag !== 0xa1 || f.length > 7) throw new DerError("unexpected data after the encryptedDigest");
    const seen = new Set<string>();
    for (const a of children(der, u, 256)) {
      if (a.tag !== SEQUENCE) throw new DerError("unauthenticated attribute is not a SEQUENCE");
      const [id, values, ...more] = children(der, a, 3);
      const o = oidOf(der, id, "unauthenticated attribute");
      if (o !== OIDS.counterSignature && o !== OIDS.nestedSignatures && o !== OIDS.rfc3161) continue;
      if (values?.tag !== SET || more.length) throw new DerError("unauthenticated attribute: bad values");
      if (seen.has(o)) throw new DerError("a counterSignature or nested signature appears twice");
      seen.add(o);
      if (o === OIDS.counterSignature) {
        const [cs, ...extra] = children(der, values, 2);
        if (!cs || extra.length) throw new DerError("counterSignature: one SignerInfo expected");
        counterSignature = counterSignerInfo(der, cs, der.subarray(enc.content, enc.end));
      }
    }
  }
  return {
    issuer: digest("sha1", der.subarray(iss!.content, iss!.end)).toString("hex"),
    serial: digest("sha1", der.subarray(ser!.content, ser!.end)).toString("hex"),
    attributesDigest: digest(hash, Uint8Array.of(0x31), der.subarray(attrs.start + 1, attrs.end)),
    messageDigest: md,
    encryptedDigest: Buffer.from(der.subarray(enc.content, enc.end)),
    counterSignature,
  };
}

/** A PKCS#9 counterSignature's SignerInfo (asn1_parse_countersignature); `message` is what it signs. */
function counterSignerInfo(der: Uint8Array, t: Tlv, message: Uint8Array): CounterSignature {
  if (t.tag !== SEQUENCE) throw new DerError("counterSignature is not a SEQUENCE");
  const f = children(der, t, 8);
  // version 1, or 0 as some signers write it
  if (f[0]?.tag !== INTEGER || f[0].end - f[0].content !== 1 || der[f[0].content]! > 1)
    throw new DerError("counterSignature version is not 0 or 1");
  const ias = f[1];
  if (ias?.tag !== SEQUENCE) throw new DerError("counterSignature: no issuerAndSerialNumber");
  const [iss, ser] = kids(der, ias, "counterSignature issuerAndSerialNumber", 2);
  if (iss!.tag !== SEQUENCE || ser!.tag !== INTEGER) throw new DerError("counterSignature: bad issuerAndSerialNumber");
  const hash = digestAlgorithm(der, f[2], "counterSignature digest algorithm");
  const md = digest(hash, message);
  const attrs = f[3];
  if (attrs?.tag !== 0xa0) throw new DerError("counterSignature: no authenticated attributes");
  const seen = new Set<string>();
  let signingTime = 0;
  for (const a of children(der, attrs, 256)) {
    if (a.tag !== SEQUENCE) throw new DerError("counterSignature attribute is not a SEQUENCE");
    const [id, values, ...more] = children(der, a, 3);
    if (id?.tag !== OID) throw new DerError("counterSignature attribute without a type");
    const o = oid(der, id);
    if (o !== OIDS.contentType && o !== OIDS.messageDigest && o !== OIDS.signingTime) continue;
    if (seen.has(o)) throw new DerError("counterSignature attribute appears twice");
    seen.add(o);
    if (values?.tag !== SET || more.length) throw new DerError("counterSignature attribute: bad values");
    const [v, ...extra] = children(der, values, 2);
    if (!v || extra.length) throw new DerError("counterSignature attribute: one value expected");
    if (o === OIDS.contentType) {
      const c = oidOf(der, v, "counterSignature contentType");
      if (c !== OIDS.data && c !== OIDS.timestampToken)
        throw new DerError("counterSignature contentType is neither data nor a timestamp token");
    } else if (o === OIDS.messageDigest) {
      if (v.tag !== OCTET_STRING || !md.equals(der.subarray(v.content, v.end)))
        throw new DerError("counterSignature messageDigest is not the digest of the signature");
    } else signingTime = time(der, v);
  }
  if (seen.size !== 3) throw new DerError("counterSignature: contentType, messageDigest or signingTime missing");
  const alg = CERT_SIG_OIDS[algorithm(der, f[4], "counterSignature algorithm")];
  if (alg !== "rsa" && alg !== hash) throw new DerError("counterSignature algorithm is not RSA with its digest");
  const enc = f[5];
  if (enc?.tag !== OCTET_STRING || enc.end - enc.content > 513 || f.length > 6)
    throw new DerError("counterSignature: bad encryptedDigest");
  return {
    issuer: digest("sha1", der.subarray(iss!.content, iss!.end)).toString("hex"),
    serial: digest("sha1", der.subarray(ser!.content, ser!.end)).toString("hex"),
    hash,
    signingTime,
    attributesDigest: digest(hash, Uint8Array.of(0x31), der.subarray(attrs.start + 1, attrs.end)),
    encryptedDigest: Buffer.from(der.subarray(enc.content, enc.end)),
  };
}

/**
 * Reads a DER SignedData (ContentInfo) whose content type is `contentType`
 * (SpcIndirectDataContent for a PE's signature, the CTL for a catalog). Trailing bytes after
 * the ContentInfo are ignored, as signtool pads them. Throws DerError when malformed.
 */
export function readSignedData(der: Uint8Array, contentType: string): SignedData {
  // no walk over the whole tree first: libclamav reads only the fields it needs, so a broken
  // element inside a certificate skips that certificate and nothing else (nothing here
  // recurses: every level is a fixed step of the structure)
  const ci = expectTlv(der, 0, SEQUENCE, der.length, "ContentInfo");
  const [type, explicit] = kids(der, ci, "ContentInfo", 2);
  if (oidOf(der, type, "ContentInfo") !== OIDS.signedData) throw new DerError("not a PKCS#7 SignedData");
  if (explicit!.tag !== 0xa0) throw new DerError("SignedData content missing");
  const [sd] = kids(der, explicit!, "SignedData content", 1);
  if (sd!.tag !== SEQUENCE) throw new DerError("SignedData is not a SEQUENCE");
  const parts = children(der, sd!, 8);
  if (parts[0]?.tag !== INTEGER || parts[1]?.tag !== SET || parts[2]?.tag !== SEQUENCE)
    throw new DerError("SignedData fields out of order");
  // Authenticode is PKCS#7 1.5 as signtool writes it: version 1, the content directly in [0]
  if (parts[0].end - parts[0].content !== 1 || der[parts[0].content] !== 1)
    throw new DerError("SignedData version is not 1 (not an Authenticode PKCS#7)");
  const [alg] = kids(der, parts[1], "digestAlgorithms", 1);
  const hash = digestAlgorithm(der, alg, "SignedData digest algorithm");
  const [ctype, wrapped] = kids(der, parts[2], "contentInfo", 2);
  const ct = oidOf(der, ctype, "contentInfo");
  if (ct !== contentType) throw new DerError(`signed content is ${ct}, not ${contentType}`);
  if (wrapped!.tag !== 0xa0) throw new DerError("signed content is not in [0]");
  const [inner] = kids(der, wrapped!, "signed content", 1);
  if (inner!.tag !== SEQUENCE) throw new DerError("signed content is not a SEQUENCE directly in [0]");
  const certs = parts[3];
  if (certs?.tag !== 0xa0) throw new DerError("SignedData has no certificates");
  const certificates: Cert[] = [];
  const skipped: string[] = [];
  for (const c of children(der, certs, 256)) {
    if (c.tag !== SEQUENCE) throw new DerError(`certificate at ${c.start} is not a SEQUENCE`);
    try {
      const cert = certificate(der, c);
      // ClamAV's list adds at the front and drops a certificate it already holds
      if (!certificates.some((x) => sameCert(x, cert))) certificates.unshift(cert);
    } catch (e) {
      if (!(e instanceof DerError)) throw e;
      skipped.push(e.message);
    }
  }
  let signer: SignerInfo | string;
  try {
    let k = 4;
    if (parts[k]?.tag === 0xa1) k++; // CRLs
    const set = parts[k];
    if (set?.tag !== SET || parts.length !== k + 1) throw new DerError("SignerInfos missing or followed by data");
    signer = signerInfo(der, set, hash, contentType);
  } catch (e) {
    if (!(e instanceof DerError)) throw e;
    signer = e.message;
  }
  return { hash, content: der.subarray(inner!.content, inner!.end), certificates, skipped, signer };
}

/** The SpcIndirectDataContent of a PE signature: the Authenticode digest it signs, and its algorithm. */
export function indirectDigest(content: Uint8Array): { hash: HashName; digest: Buffer } {
  // content is the inner SEQUENCE's content: SpcAttributeTypeAndOptionalValue, DigestInfo
  const whole = { tag: SEQUENCE, start: 0, content: 0, end: content.length };
  const [data, info] = kids(content, whole, "SpcIndirectDataContent", 2);
  if (data!.tag !== SEQUENCE) throw new DerError("SpcIndirectDataContent: no data");
  const [type] = children(content, data!, 2);
  if (oidOf(content, type, "SpcIndirectDataContent type") !== OIDS.spcPeImageData)
    throw new DerError("SpcIndirectDataContent is not spcPEImageData");
  if (info!.tag !== SEQUENCE) throw new DerError("SpcIndirectDataContent: no DigestInfo");
  const [alg, value] = kids(content, info!, "DigestInfo", 2);
  const hash = digestAlgorithm(content, alg, "Authenticode digest algorithm");
  if (value!.tag !== OCTET_STRING || value!.end - value!.content !== HASH_SIZE[hash])
    throw new DerError("Authenticode digest has the wrong size");
  return { hash, digest: Buffer.from(content.subarray(value!.content, value!.end)) };
}

/**
 * The file hashes a catalog's certificate trust list holds (asn1_load_mscat): each member's
 * SpcIndirectDataContent, kind 2 for a PE image hash, 1 for a CAB. Entries are collected until
 * the first malformed one (libclamav keeps the hashes it added before failing); `error` says why
 * it stopped.
 */
export function catalogHashes(ctl: Uint8Array): {
  hashes: Array<{ hash: "sha1" | "sha256"; digest: string; kind: 1 | 2 }>;
  error?: string;
} {
  const hashes: Array<{ hash: "sha1" | "sha256"; digest: string; kind: 1 | 2 }> = [];
  try {
    const whole = { tag: SEQUENCE, start: 0, content: 0, end: ctl.length };
    const f = children(ctl, whole, 16);
    const usage = f[0];
    if (usage?.tag !== SEQUENCE) throw new DerError("CTL: no subject usage");
    const [u, ...ux] = children(ctl, usage, 2);
    if (oidOf(ctl, u, "CTL subject usage") !== OIDS.catalogList || ux.length)
      throw new DerError("CTL subject usage is not a catalog list");
    if (f[1]?.tag !== OCTET_STRING) throw new DerError("CTL: no list identifier");
    if (f[2]?.tag !== 0x17) throw new DerError("CTL: no effective date (UTCTime)");
    const member = algorithm(ctl, f[3], "CTL subject algorithm");
    if (member !== OIDS.catalogListMember && member !== OIDS.catalogListMember2)
      throw new DerError("CTL subject algorithm is not a catalog list member");
    if (f[4]?.tag !== SEQUENCE) throw new DerError("CTL: no entries");
    for (const entry of children(ctl, f[4], 1_000_000)) {
      if (entry.tag !== SEQUENCE) throw new DerError("CTL entry is not a SEQUENCE");
      const [tag, attrs] = kids(ctl, entry, "CTL entry", 2);
      if (tag!.tag !== OCTET_STRING || attrs!.tag !== SET) throw new DerError("CTL entry: bad tag or attributes");
      for (const a of children(ctl, attrs!, 256)) {
        if (a.tag !== SEQUENCE) throw new DerError("CTL attribute is not a SEQUENCE");
        const [id, values, ...more] = children(ctl, a, 3);
        if (oidOf(ctl, id, "CTL attribute") !== OIDS.spcIndirectData) continue;
        if (values?.tag !== SET || more.length) throw new DerError("CTL attribute: bad values");
        const [spc] = kids(ctl, values, "CTL attribute values", 1);
        if (spc!.tag !== SEQUENCE) throw new DerError("CTL attribute: SpcIndirectDataContent is not a SEQUENCE");
        const [data, info] = kids(ctl, spc!, "SpcIndirectDataContent", 2);
        if (data!.tag !== SEQUENCE) throw new DerError("CTL member: no data");
        const [type] = children(ctl, data!, 2);
        const t = oidOf(ctl, type, "CTL member type");
        const kind = t === OIDS.spcPeImageData ? 2 : t === OIDS.spcCabData ? 1 : undefined;
        if (!kind) throw new DerError(`CTL member type ${t} is neither a PE nor a CAB hash`);
        if (info!.tag !== SEQUENCE) throw new DerError("CTL member: no DigestInfo");
        const [alg, value] = kids(ctl, info!, "CTL DigestInfo", 2);
        const hash = digestAlgorithm(ctl, alg, "CTL member digest");
        if (hash !== "sha1" && hash !== "sha256") throw new DerError("only SHA-1 and SHA-256 catalog hashes are read");
        if (value!.tag !== OCTET_STRING || value!.end - value!.content !== HASH_SIZE[hash])
          throw new DerError("CTL member hash has the wrong size");
        hashes.push({ hash, digest: hex(ctl.subarray(value!.content, value!.end)), kind });
      }
    }
    return { hashes };
  } catch (e) {
    if (!(e instanceof DerError || e instanceof RangeError)) throw e;
    return { hashes, error: (e as Error).message };
  }
}
