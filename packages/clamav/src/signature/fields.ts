/**
 * The fields every ClamAV body-signature format shares (`.ndb`, `.ldb` subsignatures, and the
 * formats still to come): the functionality level, offsets, target types, the parsed `.ndb`
 * signature, and the rule identifier a signature is known by. The lowest layer with
 * ./hexsig.ts: the formats (../formats), the YARA translation (../translate) and the native
 * body store (../stores/bodydb) all build on it, and it imports none of them.
 */

/** Vigil's declared ClamAV functionality level (clamscan 1.4.6). */
export const FLEVEL = 216;

export type OffsetSpec =
  | { kind: "any" }
  | { kind: "abs"; n: number; shift: number }
  | { kind: "eof"; n: number; shift: number }
  | { kind: "ep"; n: number; shift: number }
  | { kind: "section"; section: number; n: number; shift: number }
  | { kind: "sectionEnd"; section: number; shift: number }
  | { kind: "lastSection"; n: number; shift: number }
  | { kind: "versionInfo" }
  | { kind: "macro"; group: number };

export class SignatureSyntaxError extends Error {}

/** Parses a ClamAV offset (`*`, `n`, `EOF-n`, `EP+n`, `EP-n`, `Sx+n`, `SEx`, `SL+n`, `VI`, `$n$`, each with an optional `,maxshift`). */
export function parseOffset(s: string): OffsetSpec {
  if (s.length > 64) throw new SignatureSyntaxError("offset longer than 64 characters");
  if (s === "*") return { kind: "any" };
  if (s === "VI") return { kind: "versionInfo" };
  let m = s.match(/^\$(\d+)\$$/);
  if (m) {
    if (+m[1]! >= 32) throw new SignatureSyntaxError("macro group must be below 32");
    return { kind: "macro", group: +m[1]! };
  }
  let shift = 0;
  const comma = s.indexOf(",");
  let base = s;
  if (comma >= 0) {
    const sh = s.slice(comma + 1);
    if (!/^\d+$/.test(sh)) throw new SignatureSyntaxError(`bad maxshift '${sh}'`);
    shift = +sh;
    base = s.slice(0, comma);
  }
  if ((m = base.match(/^(\d+)$/))) return { kind: "abs", n: +m[1]!, shift };
  if ((m = base.match(/^EOF-(\d+)$/))) return { kind: "eof", n: +m[1]!, shift };
  if ((m = base.match(/^EP([+-])(\d+)$/))) return { kind: "ep", n: (m[1] === "-" ? -1 : 1) * +m[2]!, shift };
  if ((m = base.match(/^SL\+(\d+)$/))) return { kind: "lastSection", n: +m[1]!, shift };
  if ((m = base.match(/^SE(\d+)$/))) return { kind: "sectionEnd", section: +m[1]!, shift };
  if ((m = base.match(/^S(\d+)\+(\d+)$/))) return { kind: "section", section: +m[1]!, n: +m[2]!, shift };
  throw new SignatureSyntaxError(`unknown offset '${s}'`);
}

export const EXE_TARGETS = new Set([1, 6, 9]);

/** Condition on the file type for a ClamAV target type, or undefined for "any"; `note` when approximate. */
export function targetCondition(target: number): { cond?: string; note?: string; modules: string[] } {
  switch (target) {
    case 0:
      return { modules: [] };
    case 1:
      return { cond: "uint16(0) == 0x5A4D", modules: [] };
    case 2:
      return { cond: "uint32(0) == 0xE011CFD0 and uint32(4) == 0xE11AB1A1", modules: [] };
    case 3:
      return {
        note: "target 3 (HTML) is matched on the raw bytes; clamscan matches normalised HTML (lower-cased, whitespace folded)",
        modules: [],
      };
    case 4:
      return {
        note: "target 4 (mail) is matched on the raw bytes of any file; clamscan matches only files it types as mail",
        modules: [],
      };
    case 5:
      return {
        cond: "(uint32be(0) == 0x89504E47 or uint16be(0) == 0xFFD8 or uint32be(0) == 0x47494638 or uint16be(0) == 0x424D or uint32be(0) == 0x49492A00 or uint32be(0) == 0x4D4D002A)",
        note: "target 5 (graphics) is recognised by PNG/JPEG/GIF/BMP/TIFF magic only",
        modules: [],
      };
    case 6:
      return { cond: "uint32(0) == 0x464C457F", modules: [] };
    case 7:
      return {
        note: "target 7 (ASCII text) is matched on the raw bytes of any file; clamscan matches normalised text of files it types as text",
        modules: [],
      };
    case 9:
      return {
        cond: "(uint32(0) == 0xFEEDFACE or uint32(0) == 0xFEEDFACF or uint32(0) == 0xCEFAEDFE or uint32(0) == 0xCFFAEDFE)",
        modules: [],
      };
    case 10:
      return {
        cond: "uint32(0) == 0x46445025",
        note: "target 10 (PDF) requires %PDF at offset 0; clamscan also finds it a little later",
        modules: [],
      };
    case 11:
      return {
        cond: "(uint16(0) == 0x5746 or uint16(0) == 0x5743 or uint16(0) == 0x575A) and uint8(2) == 0x53",
        modules: [],
      };
    case 12:
      return { cond: "uint32be(0) == 0xCAFEBABE", modules: [] };
    default:
      return { note: `target ${target} is not a known type; matched on any file`, modules: [] };
  }
}

export function ruleIdentifier(index: number, name: string): string {
  const clean = name.replace(/[^A-Za-z0-9_]/g, "_").slice(0, 100);
  return `clamav_${index}_${clean}`;
}

export interface NdbSignature {
  name: string;
  target: number;
  offset: string;
  hex: string;
  minFlevel?: number;
  maxFlevel?: number;
}
