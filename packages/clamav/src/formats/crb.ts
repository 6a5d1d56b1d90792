/**
 * `.crb` Authenticode trust and block rules (`;`-separated, 11 to 13 fields):
 * `Name;Trusted;Subject;Serial;Pubkey;Exponent;CodeSign;TimeSign;CertSign;NotBefore;Comment[;minFL[;maxFL]]`.
 * Parsed and checked; never counted (as clamscan). The loader (../database.ts) carries the
 * serial and NotBefore over from line to line as clamscan does, and hands the rules to
 * ../authenticode/trust.ts, which applies them: block rules (Trusted 0) make a PE whose
 * signature holds the certificate a detection under the rule's name; trust rules (Trusted 1)
 * make a PE whose signature chains to them clean, and let `.cat` catalogs they sign trust
 * the files they list. Exponent is ignored (65537), as in clamscan.
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
