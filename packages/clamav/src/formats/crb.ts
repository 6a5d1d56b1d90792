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
  // the flags are read by their first character, as clamscan reads them ("1x" is 1)
  const bit = (v: string, what: string) => {
    if (v[0] !== "0" && v[0] !== "1") throw new SignatureSyntaxError(`${what} must be 0 or 1`);
    return v[0] === "1";
  };
  if (!/^[0-9a-fA-F]{40}$/.test(subject)) throw new SignatureSyntaxError("Subject must be 40 hex digits (a SHA-1)");
  if (serial !== "" && !/^[0-9a-fA-F]{40}$/.test(serial))
    throw new SignatureSyntaxError("Serial must be empty or 40 hex digits (a SHA-1)");
  if (!/^[0-9a-fA-F]+$/.test(pubkey)) throw new SignatureSyntaxError("Pubkey must be the RSA modulus in hex");
  return {
    // clamscan reports a block rule without a name so
    name: name === "" ? "(unnamed CRB rule)" : name,
    trusted: bit(trusted, "Trusted"),
    subject: subject.toLowerCase(),
    serial: serial === "" ? undefined : serial.toLowerCase(),
    modulus: pubkey.toLowerCase(),
    codeSign: bit(code, "CodeSign"),
    timeSign: bit(time, "TimeSign"),
    certSign: bit(cert, "CertSign"),
    notBefore: notBefore === "" ? undefined : atoi(notBefore),
  };
}

/** C's atoi as glibc does it (strtol's leading number, 0 without one, cut to a 32-bit int): how clamscan reads NotBefore. */
function atoi(v: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(v);
  if (!m) return 0;
  let n = BigInt(m[1]!);
  const max = (1n << 63n) - 1n;
  if (n > max) n = max;
  if (n < -max - 1n) n = -max - 1n;
  return Number(BigInt.asIntN(32, n));
}
