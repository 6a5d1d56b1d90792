/**
 * A PE's Authenticode signature, read as libclamav reads it for `.crb` rules: the security
 * data directory (entry 4) gives a WIN_CERTIFICATE whose content is a PKCS#7 SignedData in DER;
 * its certificates are compared with `.crb` block rules by the SHA-1 of the subject Name's
 * content octets, the RSA modulus and (unless the rule leaves it empty) the SHA-1 of the serial
 * number's content, as ClamAV's certificate manager does. A blocked certificate anywhere in the
 * signature is a detection named after the rule, whether or not the signature verifies (ClamAV
 * checks block rules before verifying).
 *
 * `authenticodeHash` is the file's Authenticode hash as libclamav computes it (size-2 allow-list
 * entries, the hashes `.cat` catalogs list, make a file with that hash clean).
 *
 * Not done yet: trust. A trusted rule makes a file clean only when the signer chain verifies up
 * to it and the Authenticode PE hash matches the signed digest; that needs RSA verification of
 * the chain and the PE hash, which are left for later: `trusted` rules are never applied.
 * A malformed signature (truncated DER, lying lengths, nesting past 32 levels) never throws:
 * the file is treated as unsigned and `reason` says why.
 */

import { createHash } from "node:crypto";
import type { CrbRule } from "../formats/crb.js";
import {
  checkDepth,
  children,
  DerError,
  expectTlv,
  INTEGER,
  OID,
  oid,
  readTlv,
  SEQUENCE,
  SET,
  type Tlv,
} from "./der.js";

export interface SignerCertificate {
  /** SHA-1 of the subject Name's content octets, hex */
  subject: string;
  /** SHA-1 of the serial number's content octets, hex */
  serial: string;
  /** the RSA modulus, lower-case hex without leading zeros ("" for a key that is not RSA) */
  modulus: string;
}

export type AuthenticodeResult =
  | { signed: false; reason: string }
  | { signed: true; certificates: SignerCertificate[] };

const SIGNED_DATA = "1.2.840.113549.1.7.2";
const RSA = "1.2.840.113549.1.1.1";
const SPC_INDIRECT_DATA = "1.3.6.1.4.1.311.2.1.4";
const MAX_DEPTH = 32;

const u16 = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8);
const u32 = (b: Uint8Array, at: number) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
const sha1 = (b: Uint8Array) => createHash("sha1").update(b).digest("hex");
const hexNoLeadingZeros = (b: Uint8Array) =>
  Buffer.from(b)
    .toString("hex")
    .replace(/^(00)+/, "");

/** Where the PE's WIN_CERTIFICATE lies, or why there is none. */
function securityDirectory(pe: Uint8Array): { offset: number; size: number } | string {
  if (pe.length < 0x40 || u16(pe, 0) !== 0x5a4d) return "not a PE (no MZ header)";
  const peOff = u32(pe, 0x3c);
  if (peOff + 24 > pe.length || u32(pe, peOff) !== 0x00004550) return "not a PE (no PE header)";
  const opt = peOff + 24;
  if (opt + 2 > pe.length) return "truncated optional header";
  const magic = u16(pe, opt);
  const dirs = magic === 0x10b ? opt + 96 : magic === 0x20b ? opt + 112 : -1;
  if (dirs < 0) return `unknown optional header magic 0x${magic.toString(16)}`;
  if (dirs - 4 + 4 > pe.length || u32(pe, dirs - 4) < 5) return "no security directory";
  if (dirs + 5 * 8 > pe.length) return "truncated data directories";
  const offset = u32(pe, dirs + 4 * 8),
    size = u32(pe, dirs + 4 * 8 + 4);
  if (offset === 0 || size === 0) return "no Authenticode signature";
  if (offset + size > pe.length || size < 8) return "security directory points outside the file";
  // MS13-098, as libclamav: the certificate table must be the last thing in the file
  if (offset + size !== pe.length) return "the certificate table is not at the end of the file";
  return { offset, size };
}

/**
 * The Authenticode hash of a PE as libclamav computes it (what `.cat` catalogs list, and what
 * `.fp`/`.sfp` allow-list entries of size 2 match): the file without the optional header's
 * CheckSum, without the security directory entry and without the certificate table at its end.
 * Undefined, with the reason, for a file that is not a PE or whose directory is inconsistent.
 */
export function authenticodeHash(pe: Uint8Array, algorithm: "sha1" | "sha256"): { hash: string } | { reason: string } {
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
  const sizeOfHeaders = u32(pe, opt + 60);
  if (security + 8 > sizeOfHeaders) return { reason: "the data directories lie past SizeOfHeaders" };
  const secOffset = u32(pe, security),
    secSize = u32(pe, security + 4);
  let end = pe.length;
  if (secOffset !== 0) {
    if (secOffset + secSize !== pe.length) return { reason: "the certificate table is not at the end of the file" };
    if (secOffset < security + 8) return { reason: "the certificate table overlaps the PE header" };
    end = secOffset;
  }
  const h = createHash(algorithm);
  h.update(pe.subarray(0, checksum));
  h.update(pe.subarray(checksum + 4, security));
  h.update(pe.subarray(security + 8, end));
  return { hash: h.digest("hex") };
}

function certificate(buf: Uint8Array, cert: Tlv): SignerCertificate {
  const [tbs] = children(buf, cert, 3);
  if (!tbs || tbs.tag !== SEQUENCE) throw new DerError(`certificate at ${cert.start} has no TBSCertificate`);
  const f = children(buf, tbs, 16);
  let i = 0;
  if (f[i]?.tag === 0xa0) i++; // [0] version
  // serialNumber, signature algorithm, issuer, validity, subject, subjectPublicKeyInfo
  const serial = f[i],
    subject = f[i + 4],
    spki = f[i + 5];
  if (!serial || serial.tag !== INTEGER) throw new DerError(`certificate at ${cert.start}: no serial number`);
  if (!subject || subject.tag !== SEQUENCE) throw new DerError(`certificate at ${cert.start}: no subject`);
  if (!spki || spki.tag !== SEQUENCE) throw new DerError(`certificate at ${cert.start}: no public key`);
  let modulus = "";
  const [alg, bits] = children(buf, spki, 2);
  if (alg?.tag === SEQUENCE && bits?.tag === 0x03) {
    const algOid = children(buf, alg, 2)[0];
    if (algOid?.tag === OID && oid(buf, algOid) === RSA && bits.end > bits.content + 1) {
      const key = expectTlv(buf, bits.content + 1, SEQUENCE, bits.end, "RSA public key");
      const n = expectTlv(buf, key.content, INTEGER, key.end, "RSA modulus");
      modulus = hexNoLeadingZeros(buf.subarray(n.content, n.end));
    }
  }
  return {
    subject: sha1(buf.subarray(subject.content, subject.end)),
    serial: sha1(buf.subarray(serial.content, serial.end)),
    modulus,
  };
}

/** The certificates of a DER PKCS#7 SignedData (ContentInfo). Throws DerError when malformed. */
export function signedDataCertificates(der: Uint8Array): SignerCertificate[] {
  const ci = expectTlv(der, 0, SEQUENCE, der.length, "ContentInfo");
  checkDepth(der, ci, MAX_DEPTH);
  const [type, explicit] = children(der, ci, 2);
  if (!type || type.tag !== OID || oid(der, type) !== SIGNED_DATA) throw new DerError("not a PKCS#7 SignedData");
  if (explicit?.tag !== 0xa0) throw new DerError("SignedData content missing");
  const sd = expectTlv(der, explicit.content, SEQUENCE, explicit.end, "SignedData");
  const parts = children(der, sd, 8);
  // version, digestAlgorithms SET, encapContentInfo, [0] certificates, [1] crls, signerInfos SET
  if (parts[0]?.tag !== INTEGER || parts[1]?.tag !== SET || parts[2]?.tag !== SEQUENCE)
    throw new DerError("SignedData fields out of order");
  // Authenticode is PKCS#7 1.5 as signtool writes it: version 1, SpcIndirectDataContent directly
  // in [0]; libclamav reads nothing else (a CMS version 3 signature is not read, so not blocked)
  if (parts[0].end - parts[0].content !== 1 || der[parts[0].content] !== 1)
    throw new DerError("SignedData version is not 1 (not an Authenticode PKCS#7)");
  const [ctype, content] = children(der, parts[2], 2);
  if (!ctype || ctype.tag !== OID || oid(der, ctype) !== SPC_INDIRECT_DATA)
    throw new DerError("signed content is not an SpcIndirectDataContent");
  if (content?.tag !== 0xa0 || readTlv(der, content.content, content.end).tag !== SEQUENCE)
    throw new DerError("SpcIndirectDataContent is not a SEQUENCE directly in [0]");
  const certs = parts.find((p, i) => i >= 3 && p.tag === 0xa0);
  if (!certs) return [];
  return children(der, certs, 256)
    .filter((c) => c.tag === SEQUENCE)
    .map((c) => certificate(der, c));
}

/** Reads the Authenticode signature of a PE; never throws on malformed input. */
export function readAuthenticode(pe: Uint8Array): AuthenticodeResult {
  try {
    const dir = securityDirectory(pe);
    if (typeof dir === "string") return { signed: false, reason: dir };
    const len = u32(pe, dir.offset),
      type = u16(pe, dir.offset + 6);
    if (len < 8 || len > dir.size)
      return { signed: false, reason: "WIN_CERTIFICATE length disagrees with the directory" };
    if (type !== 2) return { signed: false, reason: `WIN_CERTIFICATE type ${type} is not PKCS#7 signed data` };
    const der = pe.subarray(dir.offset + 8, dir.offset + len);
    const outer = readTlv(der, 0);
    return { signed: true, certificates: signedDataCertificates(der.subarray(0, outer.end)) };
  } catch (e) {
    if (e instanceof DerError || e instanceof RangeError)
      return { signed: false, reason: `malformed Authenticode signature: ${e.message}` };
    throw e;
  }
}

/** The first `.crb` block rule a certificate of the signature matches (ClamAV's block-list lookup). */
export function blockedBy(certs: readonly SignerCertificate[], rules: readonly CrbRule[]): CrbRule | undefined {
  for (const r of rules) {
    if (r.trusted) continue;
    const modulus = r.modulus.toLowerCase().replace(/^(00)+/, "");
    for (const c of certs)
      if (
        c.subject === r.subject.toLowerCase() &&
        c.modulus === modulus &&
        (!r.serial || r.serial.toLowerCase() === c.serial)
      )
        return r;
  }
  return undefined;
}
