/**
 * Authenticode signatures of a PE (the `pe.signatures` array): the WIN_CERTIFICATE entries of
 * the security directory hold PKCS#7 SignedData whose content is an SpcIndirectDataContent
 * carrying the file's digest. For each signer we report the signing certificate as YARA does
 * (thumbprint, issuer and subject in OpenSSL's one-line form, serial, algorithm, validity),
 * the certificates, the signer chain, the digests, and `verified`: the signed attributes'
 * message digest matches the content, the signature verifies with the signer's key and the
 * file's Authenticode digest matches. Nested signatures (the unauthenticated attribute
 * 1.3.6.1.4.1.311.2.4.1) count as further signatures, as in YARA 4.5.
 */
import { createHash, createPublicKey, verify as cryptoVerify, X509Certificate, type KeyObject } from "node:crypto";
import { readTlv, children, oidToString, bytes, hex, parseTime, type Tlv } from "./der.js";
import type { PeImage } from "./reader.js";

const OID_SIGNED_DATA = "1.2.840.113549.1.7.2";
const OID_SPC_INDIRECT_DATA = "1.3.6.1.4.1.311.2.1.4";
const OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4";
const OID_SPC_SP_OPUS_INFO = "1.3.6.1.4.1.311.2.1.12";
const OID_NESTED_SIGNATURE = "1.3.6.1.4.1.311.2.4.1";
const OID_COUNTERSIGNATURE = "1.2.840.113549.1.9.6";
const OID_SIGNING_TIME = "1.2.840.113549.1.9.5";
const OID_TST_INFO = "1.2.840.113549.1.9.16.1.4";
const OID_MS_COUNTERSIGNATURE = "1.3.6.1.4.1.311.3.3.1";

/** OpenSSL long names of the algorithms seen in Authenticode. */
const ALGORITHM_NAMES: Record<string, string> = {
  "1.2.840.113549.1.1.1": "rsaEncryption",
  "1.2.840.113549.1.1.2": "md2WithRSAEncryption",
  "1.2.840.113549.1.1.4": "md5WithRSAEncryption",
  "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
  "1.2.840.113549.1.1.10": "rsassaPss",
  "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
  "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
  "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
  "1.2.840.113549.1.1.14": "sha224WithRSAEncryption",
  "1.2.840.10040.4.3": "dsaWithSHA1",
  "1.2.840.10045.4.1": "ecdsa-with-SHA1",
  "1.2.840.10045.4.3.1": "ecdsa-with-SHA224",
  "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
  "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
  "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
  "1.3.14.3.2.29": "sha1WithRSA",
  "1.3.101.112": "ED25519",
};

/** Digest algorithm OIDs: [YARA's name, node's hash name]. */
const DIGESTS: Record<string, [string, string]> = {
  "1.2.840.113549.2.5": ["md5", "md5"],
  "1.3.14.3.2.26": ["sha1", "sha1"],
  "2.16.840.1.101.3.4.2.1": ["sha256", "sha256"],
  "2.16.840.1.101.3.4.2.2": ["sha384", "sha384"],
  "2.16.840.1.101.3.4.2.3": ["sha512", "sha512"],
  "2.16.840.1.101.3.4.2.4": ["sha224", "sha224"],
};

/** OpenSSL short names of X.509 name attributes. */
const NAME_ATTRIBUTES: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.4": "SN",
  "2.5.4.5": "serialNumber",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.9": "street",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.12": "title",
  "2.5.4.13": "description",
  "2.5.4.15": "businessCategory",
  "2.5.4.17": "postalCode",
  "2.5.4.41": "name",
  "2.5.4.42": "GN",
  "2.5.4.43": "initials",
  "2.5.4.46": "dnQualifier",
  "2.5.4.65": "pseudonym",
  "2.5.4.97": "organizationIdentifier",
  "1.2.840.113549.1.9.1": "emailAddress",
  "0.9.2342.19200300.100.1.25": "DC",
  "0.9.2342.19200300.100.1.1": "UID",
  "1.3.6.1.4.1.311.60.2.1.1": "jurisdictionL",
  "1.3.6.1.4.1.311.60.2.1.2": "jurisdictionST",
  "1.3.6.1.4.1.311.60.2.1.3": "jurisdictionC",
};

export interface CertificateInfo {
  thumbprint: string;
  issuer: string | undefined;
  subject: string | undefined;
  version: number | undefined;
  algorithm: string | undefined;
  algorithm_oid: string | undefined;
  serial: string | undefined;
  not_before: number | undefined;
  not_after: number | undefined;
  /** DER of issuer and subject names and of the whole certificate, for chain building. */
  issuerDer: string;
  subjectDer: string;
  serialDer: string;
  der: Uint8Array;
}

export interface SignatureInfo {
  cert: CertificateInfo | undefined;
  verified: number;
  digest_alg: string | undefined;
  digest: string | undefined;
  file_digest: string | undefined;
  certificates: CertificateInfo[];
  signer:
    | {
        program_name: string | undefined;
        digest: string | undefined;
        digest_alg: string | undefined;
        chain: CertificateInfo[];
      }
    | undefined;
  countersignatures: CountersignatureInfo[];
}

export interface CountersignatureInfo {
  verified: number;
  sign_time: number | undefined;
  digest_alg: string | undefined;
  digest: string | undefined;
  chain: CertificateInfo[];
}

/** OpenSSL's X509_NAME_oneline: "/C=US/O=Org/CN=Name", bytes outside 0x20..0x7e as \xHH. */
function nameOneline(d: Uint8Array, name: Tlv | undefined): string | undefined {
  if (name?.tag !== 0x30) return undefined;
  let out = "";
  for (const rdn of children(d, name)) {
    for (const atv of children(d, rdn)) {
      const [oidT, valT] = children(d, atv);
      const oid = oidToString(d, oidT);
      if (!oid || !valT) continue;
      out += "/" + (NAME_ATTRIBUTES[oid] ?? oid) + "=";
      for (let i = valT.body; i < valT.end; i++) {
        const c = d[i]!;
        out += c < 0x20 || c > 0x7e ? "\\x" + c.toString(16).toUpperCase().padStart(2, "0") : String.fromCharCode(c);
      }
    }
  }
  return out;
}

function latin1(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
  return s;
}

function parseCertificate(d: Uint8Array, cert: Tlv): CertificateInfo | undefined {
  const [tbs, sigAlg] = children(d, cert);
  if (tbs?.tag !== 0x30) return undefined;
  const f = children(d, tbs);
  let i = 0;
  let version = 1;
  if (f[0] && f[0].tag === 0xa0) {
    const v = children(d, f[0])[0];
    if (v && v.tag === 0x02 && v.end - v.body === 1) version = d[v.body]! + 1;
    i = 1;
  }
  const serialT = f[i];
  const issuerT = f[i + 2];
  const validity = children(d, f[i + 3]);
  const subjectT = f[i + 4];
  if (serialT?.tag !== 0x02) return undefined;
  const algOid = oidToString(d, children(d, sigAlg)[0]);
  const der = d.subarray(cert.start, cert.end);
  return {
    thumbprint: createHash("sha1").update(der).digest("hex"),
    issuer: nameOneline(d, issuerT),
    subject: nameOneline(d, subjectT),
    version,
    algorithm: algOid === undefined ? undefined : (ALGORITHM_NAMES[algOid] ?? algOid),
    algorithm_oid: algOid,
    serial: hex(bytes(d, serialT), ":"),
    not_before: parseTime(d, validity[0]),
    not_after: parseTime(d, validity[1]),
    issuerDer: issuerT ? latin1(d.subarray(issuerT.start, issuerT.end)) : "",
    subjectDer: subjectT ? latin1(d.subarray(subjectT.start, subjectT.end)) : "",
    serialDer: latin1(bytes(d, serialT)),
    der,
  };
}

const fileDigests = new WeakMap<PeImage, Map<string, string | undefined>>();

/** The Authenticode digest of the file, computed once per algorithm however many signatures use it. */
function fileDigest(pe: PeImage, hashName: string): string | undefined {
  let cache = fileDigests.get(pe);
  if (!cache) fileDigests.set(pe, (cache = new Map()));
  if (!cache.has(hashName)) cache.set(hashName, computeFileDigest(pe, hashName));
  return cache.get(hashName);
}

/** The Authenticode digest of the file: everything but the checksum, the security entry and the certificate table. */
function computeFileDigest(pe: PeImage, hashName: string): string | undefined {
  const sec = pe.directory(4);
  if (!sec) return undefined;
  const data = pe.b.data;
  const cs = pe.checksumOffset;
  const sd = sec.offset;
  const certStart = sec.virtualAddress;
  if (!(cs + 4 <= sd && sd + 8 <= certStart && certStart <= data.length)) return undefined;
  const h = createHash(hashName);
  h.update(data.subarray(0, cs));
  h.update(data.subarray(cs + 4, sd));
  h.update(data.subarray(sd + 8, certStart));
  return h.digest("hex");
}

function publicKeyOf(cert: CertificateInfo): KeyObject | undefined {
  try {
    return new X509Certificate(cert.der).publicKey;
  } catch {
    try {
      return createPublicKey({ key: Buffer.from(cert.der), format: "der", type: "spki" });
    } catch {
      return undefined;
    }
  }
}

/** The chain from a signing certificate up through the issuers present in `certs`. */
function buildChain(first: CertificateInfo | undefined, certs: CertificateInfo[]): CertificateInfo[] {
  const chain: CertificateInfo[] = [];
  let cur = first;
  while (cur && chain.length < 16 && !chain.includes(cur)) {
    chain.push(cur);
    if (cur.issuerDer === cur.subjectDer) break;
    const issuer: string = cur.issuerDer;
    cur = certs.find((c) => c.subjectDer === issuer && !chain.includes(c));
  }
  return chain;
}

/** A SignerInfo's parts (RFC 5652 5.3, issuerAndSerialNumber form). */
interface SignerParts {
  issuerDer: string;
  serialDer: string;
  digest: [string, string] | undefined;
  authAttrs: Tlv | undefined;
  encDigest: Tlv | undefined;
  unauth: Tlv | undefined;
  attrs: Map<string, Tlv>;
}

function signerParts(d: Uint8Array, si: Tlv): SignerParts {
  const f = children(d, si);
  const [issuerT, serialT] = children(d, f[1]);
  let k = 3;
  let authAttrs: Tlv | undefined;
  if (f[k] && f[k]!.tag === 0xa0) authAttrs = f[k++];
  k++; // digestEncryptionAlgorithm
  const encDigest = f[k] && f[k]!.tag === 0x04 ? f[k] : undefined;
  k++;
  const unauth = f[k] && f[k]!.tag === 0xa1 ? f[k] : undefined;
  const oid = oidToString(d, children(d, f[2])[0]);
  const attrs = new Map<string, Tlv>();
  for (const attr of children(d, authAttrs)) {
    const [oidT, values] = children(d, attr);
    const a = oidToString(d, oidT);
    const v = children(d, values)[0];
    if (a && v && !attrs.has(a)) attrs.set(a, v);
  }
  return {
    issuerDer: issuerT ? latin1(d.subarray(issuerT.start, issuerT.end)) : "",
    serialDer: serialT ? latin1(bytes(d, serialT)) : "",
    digest: oid ? DIGESTS[oid] : undefined,
    authAttrs,
    encDigest,
    unauth,
    attrs,
  };
}

/** Verifies a SignerInfo's signature over its signed attributes with the certificate's key. */
function signatureValid(d: Uint8Array, s: SignerParts, cert: CertificateInfo): boolean {
  if (!s.authAttrs || !s.encDigest || !s.digest) return false;
  const key = publicKeyOf(cert);
  if (!key) return false;
  const signed = Buffer.from(d.subarray(s.authAttrs.start, s.authAttrs.end));
  signed[0] = 0x31; // [0] IMPLICIT SET is signed as a SET
  try {
    return cryptoVerify(s.digest[1], signed, key, bytes(d, s.encDigest));
  } catch {
    return false;
  }
}

const hashHex = (alg: string, data: Uint8Array) => createHash(alg).update(data).digest("hex");

/** A PKCS#9 countersignature: a SignerInfo over the countersigned signature's encrypted digest. */
function pkcs9Countersignature(
  d: Uint8Array,
  si: Tlv,
  certs: CertificateInfo[],
  countersigned: Uint8Array,
): CountersignatureInfo {
  const out: CountersignatureInfo = {
    verified: 0,
    sign_time: undefined,
    digest_alg: undefined,
    digest: undefined,
    chain: [],
  };
  const s = signerParts(d, si);
  out.digest_alg = s.digest?.[0];
  const time = s.attrs.get(OID_SIGNING_TIME);
  if (!time) return out;
  out.sign_time = parseTime(d, time);
  const cert = certs.find((c) => c.issuerDer === s.issuerDer && c.serialDer === s.serialDer);
  if (!cert) return out;
  out.chain = buildChain(cert, certs);
  const md = s.attrs.get(OID_MESSAGE_DIGEST);
  if (md?.tag !== 0x04 || md.end === md.body) return out;
  out.digest = hex(bytes(d, md));
  if (!s.digest) return out;
  out.verified = signatureValid(d, s, cert) && hashHex(s.digest[1], countersigned) === out.digest ? 1 : 0;
  return out;
}

/** A Microsoft (RFC 3161) countersignature: a timestamp token whose imprint is the countersigned signature's digest. */
function msCountersignature(d: Uint8Array, ci: Tlv, countersigned: Uint8Array): CountersignatureInfo {
  const out: CountersignatureInfo = {
    verified: 0,
    sign_time: undefined,
    digest_alg: undefined,
    digest: undefined,
    chain: [],
  };
  const [typeT, content] = children(d, ci);
  if (oidToString(d, typeT) !== OID_SIGNED_DATA || !content || content.tag !== 0xa0) return out;
  const sd = children(d, children(d, content)[0]);
  const [eType, eContent] = children(d, sd[2]);
  if (oidToString(d, eType) !== OID_TST_INFO || !eContent || eContent.tag !== 0xa0) return out;
  const tstOctets = children(d, eContent)[0];
  if (tstOctets?.tag !== 0x04) return out;
  const tst = children(d, readTlv(d, tstOctets.body, tstOctets.end));
  // TSTInfo: version, policy, messageImprint, serialNumber, genTime, ...
  const genTime = tst[4];
  if (!genTime) return out;
  out.sign_time = parseTime(d, genTime);
  let certs: CertificateInfo[] = [];
  let signerInfos: Tlv | undefined;
  for (let k = 3; k < sd.length; k++) {
    const t = sd[k]!;
    if (t.tag === 0xa0)
      certs = children(d, t)
        .map((c) => parseCertificate(d, c))
        .filter((c): c is CertificateInfo => c !== undefined);
    else if (t.tag === 0x31) signerInfos = t;
  }
  const si = children(d, signerInfos)[0];
  if (!si) return out;
  const s = signerParts(d, si);
  const cert = certs.find((c) => c.issuerDer === s.issuerDer && c.serialDer === s.serialDer);
  if (!cert) return out;
  out.chain = buildChain(cert, certs);
  const [algT, imprintT] = children(d, tst[2]);
  const algOid = oidToString(d, children(d, algT)[0]);
  const alg = algOid ? DIGESTS[algOid] : undefined;
  out.digest_alg = alg?.[0] ?? algOid;
  if (imprintT?.tag !== 0x04 || imprintT.end === imprintT.body) return out;
  out.digest = hex(bytes(d, imprintT));
  if (!alg || !s.digest) return out;
  const versionOk = tst[0] && tst[0].tag === 0x02 && tst[0].end - tst[0].body === 1 && d[tst[0].body] === 1;
  if (hashHex(alg[1], countersigned) !== out.digest || !versionOk) return out;
  // the token's signer vouches for the TSTInfo through its messageDigest attribute
  const md = s.attrs.get(OID_MESSAGE_DIGEST);
  const contentOk =
    md !== undefined && md.tag === 0x04 && hex(bytes(d, md)) === hashHex(s.digest[1], bytes(d, tstOctets));
  out.verified = contentOk && signatureValid(d, s, cert) ? 1 : 0;
  return out;
}

function parseSignedData(pe: PeImage, d: Uint8Array, ci: Tlv, out: SignatureInfo[], depth: number): void {
  if (depth > 4 || out.length >= 16) return;
  const [typeT, content] = children(d, ci);
  if (oidToString(d, typeT) !== OID_SIGNED_DATA || !content || content.tag !== 0xa0) return;
  const sd = children(d, children(d, content)[0]);
  // version, digestAlgorithms, contentInfo, [0] certificates?, [1] crls?, signerInfos
  const contentInfo = sd[2];
  let certs: CertificateInfo[] = [];
  let signerInfos: Tlv | undefined;
  for (let k = 3; k < sd.length; k++) {
    const t = sd[k]!;
    if (t.tag === 0xa0) {
      certs = children(d, t)
        .map((c) => parseCertificate(d, c))
        .filter((c): c is CertificateInfo => c !== undefined);
    } else if (t.tag === 0x31) signerInfos = t;
  }
  // SpcIndirectDataContent: the file digest the signer vouches for.
  let digestAlg: [string, string] | undefined;
  let digest: string | undefined;
  let indirect: Tlv | undefined;
  const [ctype, cval] = children(d, contentInfo);
  if (oidToString(d, ctype) === OID_SPC_INDIRECT_DATA && cval && cval.tag === 0xa0) {
    indirect = children(d, cval)[0];
    const digestInfo = children(d, indirect)[1];
    const [alg, dig] = children(d, digestInfo);
    const algOid = oidToString(d, children(d, alg)[0]);
    digestAlg = algOid ? DIGESTS[algOid] : undefined;
    if (dig && dig.tag === 0x04) digest = hex(bytes(d, dig));
  }
  const fileDig = digestAlg ? fileDigest(pe, digestAlg[1]) : undefined;

  for (const si of children(d, signerInfos)) {
    if (out.length >= 16) return;
    const f = children(d, si);
    const [iasn, digAlgT] = [f[1], f[2]];
    const [issuerT, serialT] = children(d, iasn);
    let k = 3;
    let authAttrs: Tlv | undefined;
    if (f[k] && f[k]!.tag === 0xa0) authAttrs = f[k++];
    k++; // digestEncryptionAlgorithm
    const encDigest = f[k++];
    const unauth = f[k] && f[k]!.tag === 0xa1 ? f[k] : undefined;
    const issuerDer = issuerT ? latin1(d.subarray(issuerT.start, issuerT.end)) : "";
    const serialDer = serialT ? latin1(bytes(d, serialT)) : "";
    const signerCert = certs.find((c) => c.issuerDer === issuerDer && c.serialDer === serialDer);
    const sdOid = oidToString(d, children(d, digAlgT)[0]);
    const signerDigest = sdOid ? DIGESTS[sdOid] : undefined;

    let programName: string | undefined;
    let messageDigest: string | undefined;
    for (const attr of children(d, authAttrs)) {
      const [oidT, values] = children(d, attr);
      const oid = oidToString(d, oidT);
      const v = children(d, values)[0];
      if (oid === OID_MESSAGE_DIGEST && v && v.tag === 0x04) messageDigest = hex(bytes(d, v));
      else if (oid === OID_SPC_SP_OPUS_INFO && v) {
        const prog = children(d, v).find((x) => x.tag === 0xa0);
        const str = children(d, prog)[0];
        if (str) programName = spcString(d, str);
      }
    }

    const chain = buildChain(signerCert, certs);

    let verified = 0;
    if (
      signerCert &&
      authAttrs &&
      encDigest &&
      encDigest.tag === 0x04 &&
      signerDigest &&
      indirect &&
      digest !== undefined
    ) {
      // The signed attributes' message digest covers the content of SpcIndirectDataContent.
      const contentHash = createHash(signerDigest[1]).update(d.subarray(indirect.body, indirect.end)).digest("hex");
      if (contentHash === messageDigest && fileDig !== undefined && fileDig === digest) {
        const key = publicKeyOf(signerCert);
        if (key) {
          const signed = Buffer.from(d.subarray(authAttrs.start, authAttrs.end));
          signed[0] = 0x31; // [0] IMPLICIT SET is signed as a SET
          try {
            verified = cryptoVerify(signerDigest[1], signed, key, bytes(d, encDigest)) ? 1 : 0;
          } catch {
            verified = 0;
          }
        }
      }
    }

    const countersigned = encDigest && encDigest.tag === 0x04 ? bytes(d, encDigest) : new Uint8Array(0);
    const pkcs9: CountersignatureInfo[] = [];
    const ms: CountersignatureInfo[] = [];
    const nested: Tlv[] = [];
    for (const attr of children(d, unauth)) {
      const [oidT, values] = children(d, attr);
      const oid = oidToString(d, oidT);
      for (const v of children(d, values)) {
        if (pkcs9.length + ms.length >= 16) break;
        if (oid === OID_COUNTERSIGNATURE) pkcs9.push(pkcs9Countersignature(d, v, certs, countersigned));
        else if (oid === OID_MS_COUNTERSIGNATURE) ms.push(msCountersignature(d, v, countersigned));
      }
      if (oid === OID_NESTED_SIGNATURE) nested.push(...children(d, values));
    }
    const countersignatures = [...pkcs9, ...ms];

    out.push({
      cert: chain[0],
      verified,
      digest_alg: digestAlg?.[0],
      digest,
      file_digest: fileDig,
      certificates: certs,
      signer: {
        program_name: programName,
        digest: messageDigest,
        digest_alg: signerDigest?.[0],
        chain,
      },
      countersignatures,
    });
    for (const n of nested) parseSignedData(pe, d, n, out, depth + 1);
  }
}

/** SpcString: [0] BMPString or [1] IA5String, returned as UTF-8 bytes in a byte string. */
function spcString(d: Uint8Array, t: Tlv): string | undefined {
  const b = bytes(d, t);
  if (t.tag === 0x80 || t.tag === 0xa0) {
    let s = "";
    for (let i = 0; i + 1 < b.length; i += 2) s += String.fromCharCode((b[i]! << 8) | b[i + 1]!);
    return latin1(new TextEncoder().encode(s));
  }
  if (t.tag === 0x81 || t.tag === 0xa1) return latin1(b);
  return undefined;
}

/** Parses every Authenticode signature of the image. */
export function parseSignatures(pe: PeImage): SignatureInfo[] | undefined {
  const dir = pe.directory(4);
  if (!dir) return undefined;
  const size = pe.b.size;
  const va = dir.virtualAddress;
  if (va === 0 || va > size || dir.size > size || va + dir.size > size) return undefined;
  const d = pe.b.data;
  const out: SignatureInfo[] = [];
  // YARA 4.5 reads only the first WIN_CERTIFICATE (its PKCS#7 and the signatures nested in it);
  // yara 4.2.3 walked them all.
  if (dir.size < 8 || va + 8 > size) return out;
  const length = pe.b.u32At(va);
  if (length < 8 || va + length > size) return out;
  const ci = readTlv(d, va + 8, va + length);
  if (ci && ci.tag === 0x30) parseSignedData(pe, d, ci, out, 0);
  return out;
}
