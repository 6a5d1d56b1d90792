/**
 * `.crb` Authenticode trust and block rules (`;`-separated, 11 to 13 fields):
 * `Name;Trusted;Subject;Serial;Pubkey;Exponent;CodeSign;TimeSign;CertSign;NotBefore;Comment[;minFL[;maxFL]]`.
 * Parsed and checked; never counted (as clamscan). Block rules (Trusted 0) are matched against
 * a PE's signature certificates by ../authenticode/signature.ts (`blockedBy`); trust rules need
 * the chain verified up to the rule's certificate, which Vigil does not do yet.
 * `.cat` catalogs (PKCS#7, verified against the trusted `.crb` entries) are not parsed.
 */

import { SignatureSyntaxError } from "../signature/fields.js";
import { flevelExcludes } from "./flevel.js";

export interface CrbRule {
  name: string;
  trusted: boolean;
  /** SHA-1 of the subject name's DER content, hex */
  subject: string;
  /** SHA-1 of the serial number, hex; undefined for any serial */
  serial: string | undefined;
  modulus: string;
  codeSign: boolean;
  timeSign: boolean;
  certSign: boolean;
  notBefore: number | undefined;
}

export function parseCrbLine(line: string, flevel: number): CrbRule | undefined {
  const f = line.split(";");
  if (f.length < 11 || f.length > 13)
    throw new SignatureSyntaxError(
      "expected 11 to 13 ';' separated fields (Name;Trusted;Subject;Serial;Pubkey;Exponent;CodeSign;TimeSign;CertSign;NotBefore;Comment[;minFL[;maxFL]])",
    );
  if (flevelExcludes(f[11], f[12], flevel)) return undefined;
  const [name, trusted, subject, serial, pubkey, , code, time, cert, notBefore] = f as string[] as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (name === "") throw new SignatureSyntaxError("empty rule name");
  const bit = (v: string, what: string) => {
    if (v !== "0" && v !== "1") throw new SignatureSyntaxError(`${what} must be 0 or 1`);
    return v === "1";
  };
  if (!/^[0-9a-fA-F]{40}$/.test(subject)) throw new SignatureSyntaxError("Subject must be 40 hex digits (a SHA-1)");
  if (serial !== "" && !/^[0-9a-fA-F]{40}$/.test(serial))
    throw new SignatureSyntaxError("Serial must be empty or 40 hex digits (a SHA-1)");
  if (!/^[0-9a-fA-F]+$/.test(pubkey)) throw new SignatureSyntaxError("Pubkey must be the RSA modulus in hex");
  if (notBefore !== "" && !/^\d+$/.test(notBefore))
    throw new SignatureSyntaxError("NotBefore must be empty or a Unix time");
  return {
    name,
    trusted: bit(trusted, "Trusted"),
    subject: subject.toLowerCase(),
    serial: serial === "" ? undefined : serial.toLowerCase(),
    modulus: pubkey.toLowerCase(),
    codeSign: bit(code, "CodeSign"),
    timeSign: bit(time, "TimeSign"),
    certSign: bit(cert, "CertSign"),
    notBefore: notBefore === "" ? undefined : +notBefore,
  };
}
