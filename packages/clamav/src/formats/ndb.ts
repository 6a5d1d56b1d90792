/**
 * `.ndb` extended body signatures: `Name:TargetType:Offset:HexSignature[:min_flevel[:max_flevel]]`.
 * Parsed here; held natively by ../stores/bodydb, or translated to one YARA rule (translateNdb)
 * for the forms the native store cannot hold.
 */

import { parseOffset, SignatureSyntaxError, targetCondition, type NdbSignature } from "../signature/fields.js";
import { emitRule, translateSubsig, type TranslatedRule } from "../translate/yara.js";

/** Splits an `.ndb` line: `Name:Target:Offset:Hex[:min_flevel[:max_flevel]]`. */
export function parseNdbLine(line: string): NdbSignature {
  const f = line.split(":");
  if (f.length < 4 || f.length > 6)
    throw new SignatureSyntaxError("expected Name:TargetType:Offset:HexSignature[:min_flevel[:max_flevel]]");
  const [name, target, offset, hex, minfl, maxfl] = f as [string, string, string, string, string?, string?];
  if (name === "") throw new SignatureSyntaxError("empty signature name");
  if (!/^(\d+|\*)$/.test(target)) throw new SignatureSyntaxError(`bad target type '${target}'`);
  const sig: NdbSignature = { name, target: target === "*" ? 0 : +target, offset, hex };
  if (minfl !== undefined && minfl !== "") {
    if (!/^\d+$/.test(minfl)) throw new SignatureSyntaxError("min_flevel must be a number");
    sig.minFlevel = +minfl;
  }
  if (maxfl !== undefined && maxfl !== "") {
    if (!/^\d+$/.test(maxfl)) throw new SignatureSyntaxError("max_flevel must be a number");
    sig.maxFlevel = +maxfl;
  }
  return sig;
}

export function translateNdb(sig: NdbSignature, index: number, reportedName: string): TranslatedRule {
  const modules = new Set<string>();
  const t = targetCondition(sig.target);
  const approximations = t.note ? [t.note] : [];
  const s = translateSubsig("$s", sig.hex, parseOffset(sig.offset), sig.target, modules);
  approximations.push(...s.approximations);
  const cond = [t.cond, s.truth]
    .filter((c): c is string => c !== undefined)
    .map((c) => (t.cond !== undefined ? `(${c})` : c));
  return emitRule(index, reportedName, "ndb", sig.target, [s.decl], cond.join(" and "), modules, approximations);
}
