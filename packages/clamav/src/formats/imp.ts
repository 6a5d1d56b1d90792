/**
 * `.imp` PE import-table hash signatures: `hash:size:Name[:minFL[:maxFL]]` (`.hdb` field order),
 * the hash an MD5 of the PE's import string (lower-case `dll.function` joined with `,`, the
 * same string as the `pe` module's imphash) and `size` that string's length. Each becomes one
 * rule over `pe.imphash()` for 32-bit PE files (ClamAV never matches PE32+). What does not
 * carry over: SHA-1/SHA-256 import hashes (the engine computes only the MD5 imphash: skipped
 * with a warning), and the size, which the rule does not check (an approximation: another
 * import string with the same MD5 would be needed to tell).
 */

import { SignatureSyntaxError } from "../signature/fields.js";
import { emitRule, type TranslatedRule } from "../translate/yara.js";
import { flevelExcludes } from "./flevel.js";

export interface ImpSignature {
  hash: string;
  /** byte length of the hashed import string, or undefined for `*` */
  size: number | undefined;
  name: string;
}

export function parseImpLine(line: string, flevel: number): ImpSignature | undefined {
  const f = line.split(":");
  if (f.length < 3 || f.length > 5) throw new SignatureSyntaxError("expected hash:size:Name[:minFL[:maxFL]]");
  if (flevelExcludes(f[3], f[4], flevel)) return undefined;
  const [hash, size, name] = f as [string, string, string];
  if (!/^([0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$/.test(hash))
    throw new SignatureSyntaxError("hash must be 32, 40 or 64 hex digits");
  if (name === "") throw new SignatureSyntaxError("empty signature name");
  if (size === "*") {
    if (f[3] === undefined || +f[3] < 73)
      throw new SignatureSyntaxError("a '*' size needs a minimum functionality level of 73 or more");
    return { hash: hash.toLowerCase(), size: undefined, name };
  }
  if (!/^\d+$/.test(size) || +size === 0 || +size >= 0xffffffff) throw new SignatureSyntaxError(`bad size '${size}'`);
  return { hash: hash.toLowerCase(), size: +size, name };
}

export function translateImp(sig: ImpSignature, index: number, reportedName: string): TranslatedRule {
  if (sig.hash.length !== 32)
    throw new SignatureSyntaxError(
      "SHA-1 and SHA-256 import hashes are not supported (the engine computes the MD5 imphash only)",
    );
  const notes: string[] = [];
  if (sig.size === undefined)
    notes.push("a '*' size matches in every scan here; clamscan reports it only with --allmatch");
  const modules = new Set(["pe"]);
  return emitRule(index, reportedName, "imp", 1, [], `pe.is_32bit() and pe.imphash() == "${sig.hash}"`, modules, notes);
}
