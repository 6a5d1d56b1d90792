/**
 * A PE's Authenticode signature, read as libclamav reads it for `.crb` rules: the security
 * data directory (entry 4) gives a WIN_CERTIFICATE whose content is a PKCS#7 SignedData in DER
 * (./pkcs7.ts); its certificates are compared with `.crb` block rules by the SHA-1 of the
 * subject Name's content octets, the RSA modulus and (unless the rule leaves it empty) the SHA-1
 * of the serial number's content, as ClamAV's certificate manager does. A blocked certificate
 * anywhere in the signature is a detection named after the rule, whether or not the signature
 * verifies (ClamAV checks block rules before verifying).
 *
 * `authenticodeHash` is the file's Authenticode hash as libclamav computes it (size-2 allow-list
 * entries, the hashes `.cat` catalogs list, make a file with that hash clean).
 *
 * Trust (a signature verifying up to a `.crb` trust rule, `.cat` catalogs) is ./trust.ts
 * (`checkAuthenticode`), which a scanner calls; these two are the block-rule view of the same.
 * A malformed signature (truncated DER, lying lengths, nesting past 32 levels) never throws:
 * the file is treated as unsigned and `reason` says why.
 */

import { createHash } from "node:crypto";
import type { CrbRule } from "../formats/crb.js";
import { DerError } from "./der.js";
import { OIDS, readSignedData } from "./pkcs7.js";

export interface SignerCertificate {
  /** SHA-1 of the subject Name's content octets, hex */
  subject: string;
  /** SHA-1 of the serial number's content octets, hex */
  serial: string;
  /** the RSA modulus, lower-case hex without leading zeros (certificates without an RSA key are skipped, as libclamav does) */
  modulus: string;
}

export type AuthenticodeResult =
  | { signed: false; reason: string }
  | { signed: true; certificates: SignerCertificate[] };

const u16 = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8);
const u32 = (b: Uint8Array, at: number) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

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

/** The certificates of a DER PKCS#7 SignedData (ContentInfo), as libclamav reads them. Throws DerError when malformed. */
export function signedDataCertificates(der: Uint8Array): SignerCertificate[] {
  return readSignedData(der, OIDS.spcIndirectData).certificates.map((c) => ({
    subject: c.subject,
    serial: c.serial,
    modulus: c.modulus,
  }));
}

/** Reads the Authenticode signature of a PE; never throws on malformed input. */
export function readAuthenticode(pe: Uint8Array): AuthenticodeResult {
  try {
    const dir = securityDirectory(pe);
    if (typeof dir === "string") return { signed: false, reason: dir };
    // libclamav reads the directory's size, not WIN_CERTIFICATE's own length (a mismatch is allowed)
    const revision = u16(pe, dir.offset + 4),
      type = u16(pe, dir.offset + 6);
    if (revision !== 0x200)
      return { signed: false, reason: `WIN_CERTIFICATE revision 0x${revision.toString(16)} is not 2.0` };
    if (type !== 2) return { signed: false, reason: `WIN_CERTIFICATE type ${type} is not PKCS#7 signed data` };
    return { signed: true, certificates: signedDataCertificates(pe.subarray(dir.offset + 8, dir.offset + dir.size)) };
  } catch (e) {
    if (e instanceof DerError || e instanceof RangeError)
      return { signed: false, reason: `malformed Authenticode signature: ${e.message}` };
    throw e;
  }
}

/**
 * The `.crb` block rule a certificate of the signature matches, as ClamAV's lookup finds it:
 * certificates in the order libclamav holds them (the last in the signature first), rules
 * newest first.
 */
export function blockedBy(certs: readonly SignerCertificate[], rules: readonly CrbRule[]): CrbRule | undefined {
  for (const c of certs)
    for (let i = rules.length - 1; i >= 0; i--) {
      const r = rules[i]!;
      if (r.trusted) continue;
      const modulus = r.modulus.toLowerCase().replace(/^(00)+/, "");
      if (
        c.subject === r.subject.toLowerCase() &&
        c.modulus === modulus &&
        (!r.serial || r.serial.toLowerCase() === c.serial)
      )
        return r;
    }
  return undefined;
}
