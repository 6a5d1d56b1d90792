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

/**
 * Which ClamAV file types (`CL_TYPE_*`, as ../filetype/typer.ts decides them) each `.ndb`/`.ldb`
 * TargetType selects: libclamav's table of targets. Targets 0, 8 and unknown ones are not listed.
 */
export const TARGET_TYPES: Readonly<Record<number, readonly string[]>> = {
  1: ["CL_TYPE_MSEXE"],
  2: ["CL_TYPE_MSOLE2"],
  3: ["CL_TYPE_HTML"],
  4: ["CL_TYPE_MAIL"],
  5: ["CL_TYPE_GRAPHICS", "CL_TYPE_GIF", "CL_TYPE_PNG", "CL_TYPE_JPEG", "CL_TYPE_TIFF"],
  6: ["CL_TYPE_ELF"],
  7: ["CL_TYPE_TEXT_ASCII"],
  9: ["CL_TYPE_MACHO", "CL_TYPE_MACHO_UNIBIN"],
  10: ["CL_TYPE_PDF"],
  11: ["CL_TYPE_SWF"],
  12: ["CL_TYPE_JAVA"],
  13: ["CL_TYPE_INTERNAL"],
  14: ["CL_TYPE_OTHER"],
};

/** Does content of ClamAV file type `type` get the signatures of target `target`? (0, 8 and unknown targets: every file.) */
export function targetSelects(target: number, type: string): boolean {
  const types = TARGET_TYPES[target];
  return types === undefined ? true : types.includes(type);
}

/**
 * Condition on the file type for a ClamAV target type, or undefined for "any"; `note` when
 * approximate. The rules read the file type from the external `clamav_type` (the `CL_TYPE_*`
 * name ../filetype/typer.ts gives the scanned buffer; ../scan.ts sets it per scan).
 */
export function targetCondition(target: number): { cond?: string; note?: string; modules: string[] } {
  if (target === 0) return { modules: [] };
  const types = TARGET_TYPES[target];
  if (!types) return { note: `target ${target} is not a known type; matched on any file`, modules: [] };
  const cond = types.map((t) => `clamav_type == "${t}"`).join(" or ");
  const out = { cond: types.length > 1 ? `(${cond})` : cond, modules: [] as string[] };
  if (target === 3)
    return {
      ...out,
      note: "target 3 (HTML) is matched on the raw bytes of files typed HTML; clamscan matches their normalised HTML (lower-cased, whitespace folded)",
    };
  if (target === 7)
    return {
      ...out,
      note: "target 7 (ASCII text) is matched on the raw bytes of files typed ASCII text; clamscan matches their normalised text",
    };
  return out;
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
