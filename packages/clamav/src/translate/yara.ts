/**
 * ClamAV body signatures -> YARA rule source: the pieces every format's translation uses.
 *
 * Each signature becomes one rule named `clamav_<n>_<sanitised name>` with meta `clamav_name` (the
 * name clamscan prints, `.UNOFFICIAL` included for files that are not signed CVDs), `clamav_format`
 * and `clamav_target`. Subsignatures become strings `$s0..$sN` (hex strings, or text/regex when a
 * `::i/w/a/f` modifier needs one); offsets become `at`/`in` or per-match predicates over `@s[i]`;
 * file types and the target description become conditions on magic bytes, `filesize` and the
 * `pe`/`elf` modules; the logical expression is rebuilt with ClamAV's own grouping (operators of
 * equal precedence, split at the first top-level operator) and its count semantics.
 *
 * What cannot be expressed faithfully is reported: `unsupported` (rule not emitted) or
 * `approximations` (rule emitted, with a note on how it differs).
 */

import {
  HexSyntaxError,
  parseHexSignature,
  translateHex,
  type HexNode,
  type PatternText,
} from "../signature/hexsig.js";
import { EXE_TARGETS, ruleIdentifier, SignatureSyntaxError, type OffsetSpec } from "../signature/fields.js";

const PLAIN_HEX = /^[0-9a-fA-F]+$/;

/** Expressions for the exe-relative bases of a target (PE via `pe`, ELF via `elf`). */
export function exeBase(target: number):
  | {
      ep: string;
      sectionStart: (x: string) => string;
      sectionSize: (x: string) => string;
      count: string;
      module: string;
    }
  | undefined {
  if (target === 1)
    return {
      ep: "pe.entry_point",
      sectionStart: (x) => `pe.sections[${x}].raw_data_offset`,
      sectionSize: (x) => `pe.sections[${x}].raw_data_size`,
      count: "pe.number_of_sections",
      module: "pe",
    };
  if (target === 6)
    return {
      ep: "elf.entry_point",
      sectionStart: (x) => `elf.sections[${x}].offset`,
      sectionSize: (x) => `elf.sections[${x}].size`,
      count: "elf.number_of_sections",
      module: "elf",
    };
  if (target === 9)
    return { ep: "macho.entry_point", sectionStart: () => "", sectionSize: () => "", count: "", module: "macho" };
  return undefined;
}

/** An offset as a range [lo, hi] of allowed match starts (YARA expressions), or undefined for anywhere. */
export function offsetRange(
  off: OffsetSpec,
  target: number,
  modules: Set<string>,
): { lo: string; hi: string } | undefined {
  const plus = (e: string, n: number) => (n === 0 ? e : n > 0 ? `${e} + ${n}` : `${e} - ${-n}`);
  const withShift = (lo: string, shift: number) => ({ lo, hi: shift === 0 ? lo : plus(lo, shift) });
  switch (off.kind) {
    case "any":
      return undefined;
    case "abs":
      return withShift(String(off.n), off.shift);
    case "eof":
      return withShift(plus("filesize", -off.n), off.shift);
    case "versionInfo":
      throw new SignatureSyntaxError("VI (PE version-info) offsets are not supported on PCRE subsignatures");
    case "macro":
      throw new SignatureSyntaxError("macro offsets ($n$) are not supported");
    default: {
      if (!EXE_TARGETS.has(target))
        throw new SignatureSyntaxError(
          `offset type ${off.kind} needs target 1, 6 or 9 (clamscan: Invalid offset type for target)`,
        );
      const b = exeBase(target)!;
      modules.add(b.module);
      if (off.kind === "ep") return withShift(plus(b.ep, off.n), off.shift);
      if (target === 9) throw new SignatureSyntaxError("section offsets of Mach-O files are not supported");
      if (off.kind === "section") return withShift(plus(b.sectionStart(String(off.section)), off.n), off.shift);
      if (off.kind === "lastSection") return withShift(plus(b.sectionStart(`${b.count} - 1`), off.n), off.shift);
      const start = b.sectionStart(String(off.section));
      return { lo: start, hi: plus(`${start} + ${b.sectionSize(String(off.section))}`, off.shift) };
    }
  }
}

/** One YARA string with the conditions for "matched" and "match count". */
export interface TranslatedString {
  decl: string;
  /** true when the subsignature matched (at an allowed place). */
  truth: string;
  /** integer expression of its match count when that is expressible exactly, else undefined. */
  count: string | undefined;
  /** `for N i in ...` form of "at least N allowed matches": replace N. */
  atLeast: (n: number) => string;
  approximations: string[];
}

export interface SubsigOptions {
  nocase?: boolean;
  wide?: boolean;
  ascii?: boolean;
  fullword?: boolean;
}

/** Translates one body pattern with its offset into a YARA string `$id` plus conditions. */
export function translateSubsig(
  id: string,
  hex: string,
  offset: OffsetSpec,
  target: number,
  modules: Set<string>,
  opts: SubsigOptions = {},
): TranslatedString {
  const textual = !!(opts.nocase || opts.wide || opts.fullword);
  let p: PatternText;
  if (!textual && hex.length % 2 === 0 && hex.length > 0 && PLAIN_HEX.test(hex)) {
    // fast path for the common plain-bytes signature
    p = { text: `{ ${hex.toUpperCase().replace(/(..)(?!$)/g, "$1 ")} }`, form: "hex", edges: [], approximations: [] };
  } else {
    let nodes: HexNode[];
    try {
      nodes = parseHexSignature(hex);
    } catch (e) {
      throw new SignatureSyntaxError(`bad hex signature: ${(e as Error).message}`);
    }
    try {
      p = translateHex(nodes, textual);
    } catch (e) {
      if (e instanceof HexSyntaxError) throw new SignatureSyntaxError(e.message);
      throw e;
    }
  }
  const mods: string[] = [];
  if (opts.nocase) mods.push("nocase");
  if (opts.wide) mods.push("wide");
  if (opts.wide && opts.ascii) mods.push("ascii");
  if (opts.fullword) mods.push("fullword");
  if (p.form === "regex" && opts.nocase) {
    // YARA's regex nocase is spelled as a modifier too
  }
  const decl = `${id} = ${p.text}${mods.length ? " " + mods.join(" ") : ""}`;
  const approximations = [...p.approximations];
  if (offset.kind === "versionInfo") {
    // ClamAV: the pattern starts at the file offset of a PE version-info String's key
    if (target !== 1)
      throw new SignatureSyntaxError(`VI offsets need target 1 (clamscan: Invalid offset type for target ${target})`);
    approximations.push(
      "VI offset: matched anywhere in the PE file, not only where a version-info key starts (the pattern is the UTF-16LE key, NUL padding and value, which rarely occur elsewhere)",
    );
    offset = { kind: "any" };
  }
  const range = offsetRange(offset, target, modules);
  const name = id.slice(1);
  if (p.edges.length > 0 && opts.wide)
    approximations.push(
      "(B)/(L)/(W) markers at the ends of a wide pattern are checked on the bytes next to the wide match",
    );
  const preds: string[] = [];
  if (range !== undefined)
    preds.push(range.lo === range.hi ? `OFF == ${range.lo}` : `OFF >= ${range.lo} and OFF <= ${range.hi}`);
  preds.push(...p.edges);
  if (preds.length === 0)
    return { decl, truth: id, count: `#${name}`, atLeast: (n) => `#${name} >= ${n}`, approximations };
  if (p.edges.length === 0 && range !== undefined) {
    const truth = range.lo === range.hi ? `${id} at ${range.lo}` : `${id} in (${range.lo}..${range.hi})`;
    const pred = preds.join(" and ").replace(/OFF/g, `@${name}[i]`);
    return { decl, truth, count: undefined, atLeast: (n) => `for ${n} i in (1..#${name}) : (${pred})`, approximations };
  }
  const pred = preds.join(" and ").replace(/OFF/g, `@${name}[i]`).replace(/END/g, `(@${name}[i] + !${name}[i])`);
  return {
    decl,
    truth: `for any i in (1..#${name}) : (${pred})`,
    count: undefined,
    atLeast: (n) => `for ${n} i in (1..#${name}) : (${pred})`,
    approximations,
  };
}

// ---------------------------------------------------------------------------------------------
// Rule emission

export interface TranslatedRule {
  /** ClamAV name as clamscan reports it. */
  name: string;
  ruleName: string;
  source: string;
  modules: string[];
  approximations: string[];
}

const yaraString = (s: string) =>
  `"${s
    .replace(/\\/g, "\\\\")
    .replace(/"/g, '\\"')
    .replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`)}"`;

export function emitRule(
  index: number,
  name: string,
  format: "ndb" | "ldb" | "imp",
  target: number,
  strings: string[],
  condition: string,
  modules: Set<string>,
  approximations: string[],
): TranslatedRule {
  const ruleName = ruleIdentifier(index, name.replace(/\.UNOFFICIAL$/, ""));
  const meta = [`clamav_name = ${yaraString(name)}`, `clamav_format = "${format}"`, `clamav_target = ${target}`];
  const source = `rule ${ruleName} {\n  meta:\n    ${meta.join("\n    ")}\n${strings.length ? `  strings:\n    ${strings.join("\n    ")}\n` : ""}  condition:\n    ${condition}\n}\n`;
  return { name, ruleName, source, modules: [...modules], approximations };
}
