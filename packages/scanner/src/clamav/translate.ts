/**
 * ClamAV `.ndb` and `.ldb` signatures -> YARA rule source.
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

import { HexSyntaxError, parseHexSignature, translateHex, type HexNode, type PatternText } from "./hexsig.js";

const PLAIN_HEX = /^[0-9a-fA-F]+$/;

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

const EXE_TARGETS = new Set([1, 6, 9]);

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
      return { note: "target 3 (HTML) is matched on the raw bytes; clamscan matches normalised HTML (lower-cased, whitespace folded)", modules: [] };
    case 4:
      return { note: "target 4 (mail) is matched on the raw bytes of any file; clamscan matches only files it types as mail", modules: [] };
    case 5:
      return {
        cond: "(uint32be(0) == 0x89504E47 or uint16be(0) == 0xFFD8 or uint32be(0) == 0x47494638 or uint16be(0) == 0x424D or uint32be(0) == 0x49492A00 or uint32be(0) == 0x4D4D002A)",
        note: "target 5 (graphics) is recognised by PNG/JPEG/GIF/BMP/TIFF magic only",
        modules: [],
      };
    case 6:
      return { cond: "uint32(0) == 0x464C457F", modules: [] };
    case 7:
      return { note: "target 7 (ASCII text) is matched on the raw bytes of any file; clamscan matches normalised text of files it types as text", modules: [] };
    case 9:
      return { cond: "(uint32(0) == 0xFEEDFACE or uint32(0) == 0xFEEDFACF or uint32(0) == 0xCEFAEDFE or uint32(0) == 0xCFFAEDFE)", modules: [] };
    case 10:
      return { cond: "uint32(0) == 0x46445025", note: "target 10 (PDF) requires %PDF at offset 0; clamscan also finds it a little later", modules: [] };
    case 11:
      return { cond: "(uint16(0) == 0x5746 or uint16(0) == 0x5743 or uint16(0) == 0x575A) and uint8(2) == 0x53", modules: [] };
    case 12:
      return { cond: "uint32be(0) == 0xCAFEBABE", modules: [] };
    default:
      return { note: `target ${target} is not a known type; matched on any file`, modules: [] };
  }
}

/** Expressions for the exe-relative bases of a target (PE via `pe`, ELF via `elf`). */
function exeBase(target: number): { ep: string; sectionStart: (x: string) => string; sectionSize: (x: string) => string; count: string; module: string } | undefined {
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
  if (target === 9) return { ep: "macho.entry_point", sectionStart: () => "", sectionSize: () => "", count: "", module: "macho" };
  return undefined;
}

/** An offset as a range [lo, hi] of allowed match starts (YARA expressions), or undefined for anywhere. */
function offsetRange(off: OffsetSpec, target: number, modules: Set<string>): { lo: string; hi: string } | undefined {
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
    case "macro":
      throw new SignatureSyntaxError(off.kind === "macro" ? "macro offsets ($n$) are not supported" : "VI (PE version-info) offsets are not supported");
    default: {
      if (!EXE_TARGETS.has(target)) throw new SignatureSyntaxError(`offset type ${off.kind} needs target 1, 6 or 9 (clamscan: Invalid offset type for target)`);
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
export function translateSubsig(id: string, hex: string, offset: OffsetSpec, target: number, modules: Set<string>, opts: SubsigOptions = {}): TranslatedString {
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
  const range = offsetRange(offset, target, modules);
  const name = id.slice(1);
  if (p.edges.length > 0 && opts.wide) approximations.push("(B)/(L)/(W) markers at the ends of a wide pattern are checked on the bytes next to the wide match");
  const preds: string[] = [];
  if (range !== undefined) preds.push(range.lo === range.hi ? `OFF == ${range.lo}` : `OFF >= ${range.lo} and OFF <= ${range.hi}`);
  preds.push(...p.edges);
  if (preds.length === 0) return { decl, truth: id, count: `#${name}`, atLeast: (n) => `#${name} >= ${n}`, approximations };
  if (p.edges.length === 0 && range !== undefined) {
    const truth = range.lo === range.hi ? `${id} at ${range.lo}` : `${id} in (${range.lo}..${range.hi})`;
    const pred = preds.join(" and ").replace(/OFF/g, `@${name}[i]`);
    return { decl, truth, count: undefined, atLeast: (n) => `for ${n} i in (1..#${name}) : (${pred})`, approximations };
  }
  const pred = preds
    .join(" and ")
    .replace(/OFF/g, `@${name}[i]`)
    .replace(/END/g, `(@${name}[i] + !${name}[i])`);
  return { decl, truth: `for any i in (1..#${name}) : (${pred})`, count: undefined, atLeast: (n) => `for ${n} i in (1..#${name}) : (${pred})`, approximations };
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

const yaraString = (s: string) => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`)}"`;

export function ruleIdentifier(index: number, name: string): string {
  const clean = name.replace(/[^A-Za-z0-9_]/g, "_").slice(0, 100);
  return `clamav_${index}_${clean}`;
}

function emitRule(index: number, name: string, format: "ndb" | "ldb", target: number, strings: string[], condition: string, modules: Set<string>, approximations: string[]): TranslatedRule {
  const ruleName = ruleIdentifier(index, name.replace(/\.UNOFFICIAL$/, ""));
  const meta = [`clamav_name = ${yaraString(name)}`, `clamav_format = "${format}"`, `clamav_target = ${target}`];
  const source = `rule ${ruleName} {\n  meta:\n    ${meta.join("\n    ")}\n${strings.length ? `  strings:\n    ${strings.join("\n    ")}\n` : ""}  condition:\n    ${condition}\n}\n`;
  return { name, ruleName, source, modules: [...modules], approximations };
}

export interface NdbSignature {
  name: string;
  target: number;
  offset: string;
  hex: string;
  minFlevel?: number;
  maxFlevel?: number;
}

/** Splits an `.ndb` line: `Name:Target:Offset:Hex[:min_flevel[:max_flevel]]`. */
export function parseNdbLine(line: string): NdbSignature {
  const f = line.split(":");
  if (f.length < 4 || f.length > 6) throw new SignatureSyntaxError("expected Name:TargetType:Offset:HexSignature[:min_flevel[:max_flevel]]");
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
  const cond = [t.cond, s.truth].filter((c): c is string => c !== undefined).map((c) => (t.cond !== undefined ? `(${c})` : c));
  return emitRule(index, reportedName, "ndb", sig.target, [s.decl], cond.join(" and "), modules, approximations);
}

// ---------------------------------------------------------------------------------------------
// Logical signatures

type Expr =
  | { kind: "leaf"; id: number; mod?: { op: "=" | "<" | ">"; n: number } }
  | { kind: "bin"; op: "&" | "|"; left: Expr; right: Expr; mod?: { op: "=" | "<" | ">"; n: number; distinct: number } };

/** Parses a logical expression with ClamAV's grouping: the first top-level operator splits it. */
export function parseLogicalExpression(src: string): Expr {
  if (!/^[0-9&|()=<>,]+$/.test(src)) throw new SignatureSyntaxError(`logical expression has characters other than digits, & | ( ) = < > ,`);
  const parse = (s: string): Expr => {
    if (s.length === 0) throw new SignatureSyntaxError("empty sub-expression");
    let depth = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s[i]!;
      if (c === "(") depth++;
      else if (c === ")") {
        depth--;
        if (depth < 0) throw new SignatureSyntaxError("missing opening parenthesis");
      } else if ((c === "&" || c === "|") && depth === 0) {
        return { kind: "bin", op: c, left: parse(s.slice(0, i)), right: parse(s.slice(i + 1)) };
      }
    }
    if (depth !== 0) throw new SignatureSyntaxError("missing closing parenthesis");
    if (s[0] === "(") {
      // find the matching parenthesis
      let d = 0;
      let close = -1;
      for (let i = 0; i < s.length; i++) {
        if (s[i] === "(") d++;
        else if (s[i] === ")" && --d === 0) {
          close = i;
          break;
        }
      }
      const inner = parse(s.slice(1, close));
      const rest = s.slice(close + 1);
      if (rest === "") return inner;
      const m = rest.match(/^([=<>])(\d+)(?:,(\d+))?$/);
      if (!m) throw new SignatureSyntaxError(`unexpected '${rest}' after ')'`);
      const mod = { op: m[1] as "=" | "<" | ">", n: +m[2]!, distinct: m[3] === undefined ? 0 : +m[3] };
      if (inner.kind === "leaf") {
        // ClamAV re-parses "(N)>x" as a leaf with its modifier
        return { kind: "leaf", id: inner.id, mod: { op: mod.op, n: mod.n } };
      }
      if (inner.mod !== undefined) throw new SignatureSyntaxError("two count modifiers on one group");
      return { ...inner, mod };
    }
    const m = s.match(/^(\d+)(?:([=<>])(\d+)(?:,\d+)?)?$/);
    if (!m) throw new SignatureSyntaxError(`cannot parse '${s}'`);
    const leaf: Expr = { kind: "leaf", id: +m[1]! };
    if (m[2] !== undefined) leaf.mod = { op: m[2] as "=" | "<" | ">", n: +m[3]! };
    return leaf;
  };
  return parse(src);
}

function maxId(e: Expr): number {
  return e.kind === "leaf" ? e.id : Math.max(maxId(e.left), maxId(e.right));
}

/** Longest condition text a count expansion may produce before the signature is reported as too complex. */
const MAX_CONDITION = 20_000;

interface Arith {
  /** 0/1: the node is true. */
  I: string;
  /** what the node adds to an enclosing group's count (0 when false). */
  C: string;
  /** per subsignature id: 0/1, the id reaches the enclosing group's distinct set. */
  P: Map<number, string>;
}

interface Case {
  guard: string;
  count: string;
}

class ExprTranslator {
  constructor(
    readonly subs: TranslatedString[],
    readonly approximations: string[],
  ) {}

  private cmp(value: string, op: "=" | "<" | ">", n: number): string {
    return `${value} ${op === "=" ? "==" : op} ${n}`;
  }

  leafTruth(e: Extract<Expr, { kind: "leaf" }>): string {
    const s = this.subs[e.id]!;
    if (e.mod === undefined) return s.truth;
    if (s.count !== undefined) return this.cmp(s.count, e.mod.op, e.mod.n);
    const n = e.mod.n;
    if (e.mod.op === ">") return s.atLeast(n + 1);
    if (e.mod.op === "<") return n === 0 ? "false" : `not (${s.atLeast(n)})`;
    return n === 0 ? `not (${s.truth})` : `(${s.atLeast(n)}) and not (${s.atLeast(n + 1)})`;
  }

  truth(e: Expr): string {
    if (e.kind === "leaf") return this.leafTruth(e);
    const plain = `(${this.truth(e.left)}) ${e.op === "&" ? "and" : "or"} (${this.truth(e.right)})`;
    if (e.mod === undefined) return plain;
    return this.blockTruth(e);
  }

  /** Contribution cases: under `guard`, the node adds `count` to its parent's count (0 when the node is false). */
  cases(e: Expr): Case[] {
    if (e.kind === "leaf") {
      const s = this.subs[e.id]!;
      let count = s.count;
      if (count === undefined) {
        this.approximations.push(`subsignature ${e.id} is counted with #s${e.id} (all matches), not only the matches at its offset`);
        count = `#s${e.id}`;
      }
      if (e.mod === undefined) return [{ guard: "true", count }];
      const t = this.leafTruth(e);
      return [
        { guard: t, count },
        { guard: `not (${t})`, count: "0" },
      ];
    }
    if (e.mod !== undefined) {
      const t = this.blockTruth(e);
      return [...this.innerCases(e).map((c) => ({ guard: `(${t}) and (${c.guard})`, count: c.count })), { guard: `not (${t})`, count: "0" }];
    }
    return this.innerCases(e);
  }

  private innerCases(e: Extract<Expr, { kind: "bin" }>): Case[] {
    const l = this.cases(e.left);
    const r = this.cases(e.right);
    if (l.length * r.length > 256) throw new SignatureSyntaxError("count modifier over too complex a group to translate");
    const out: Case[] = [];
    const t = e.op === "&" ? `(${this.truth(e.left)}) and (${this.truth(e.right)})` : undefined;
    for (const a of l)
      for (const b of r) {
        const guard = [t, a.guard, b.guard].filter((g) => g !== undefined && g !== "true").map((g) => `(${g})`).join(" and ") || "true";
        out.push({ guard, count: a.count === "0" ? b.count : b.count === "0" ? a.count : `${a.count} + ${b.count}` });
      }
    if (t !== undefined) out.push({ guard: `not (${t})`, count: "0" });
    if (out.some((c) => c.guard.length + c.count.length > MAX_CONDITION)) throw new SignatureSyntaxError("count modifier over too complex a group to translate");
    return out;
  }

  /**
   * Integer (0/1) encoding of truths, so that counts can be summed without YARA having a
   * boolean-to-integer conversion: [x > 0] is ((-x >> 63) & 1) for counts. Works when every leaf
   * below has an exact count (`#sN`); undefined otherwise.
   */
  private arith(e: Expr): Arith | undefined {
    const gt = (a: string, n: string) => `((((${n}) - (${a})) >> 63) & 1)`;
    const lt = (a: string, n: string) => `((((${a}) - (${n})) >> 63) & 1)`;
    const cmpI = (a: string, op: "=" | "<" | ">", n: number) => (op === ">" ? gt(a, String(n)) : op === "<" ? lt(a, String(n)) : `(1 - (${gt(a, String(n))} | ${lt(a, String(n))}))`);
    if (e.kind === "leaf") {
      const s = this.subs[e.id]!;
      if (s.count === undefined) return undefined;
      const I = e.mod === undefined ? gt(s.count, "0") : cmpI(s.count, e.mod.op, e.mod.n);
      return { I, C: e.mod === undefined ? s.count : `(${s.count}) * ${I}`, P: new Map([[e.id, I]]) };
    }
    const l = this.arith(e.left);
    const r = this.arith(e.right);
    if (l === undefined || r === undefined) return undefined;
    const I0 = e.op === "&" ? `(${l.I} * ${r.I})` : `(${l.I} | ${r.I})`;
    const C0 = e.op === "&" ? `((${l.C}) + (${r.C})) * ${I0}` : `(${l.C}) + (${r.C})`;
    const P0 = new Map<number, string>();
    for (const id of new Set([...l.P.keys(), ...r.P.keys()])) {
      const a = l.P.get(id);
      const b = r.P.get(id);
      const either = a !== undefined && b !== undefined ? `(${a} | ${b})` : (a ?? b)!;
      P0.set(id, e.op === "&" ? `(${either} * ${I0})` : either);
    }
    if (e.mod === undefined) return { I: I0, C: C0, P: P0 };
    const t = this.blockInts(C0, P0, e.mod);
    return { I: t, C: `(${C0}) * ${t}`, P: new Map() };
  }

  private blockInts(tcnt: string, ids: Map<number, string>, mod: { op: "=" | "<" | ">"; n: number; distinct: number }): string {
    const gt = (a: string, n: string) => `((((${n}) - (${a})) >> 63) & 1)`;
    const lt = (a: string, n: string) => `((((${a}) - (${n})) >> 63) & 1)`;
    const c = mod.op === ">" ? gt(tcnt, String(mod.n)) : mod.op === "<" ? lt(tcnt, String(mod.n)) : `(1 - (${gt(tcnt, String(mod.n))} | ${lt(tcnt, String(mod.n))}))`;
    if (mod.distinct === 0) return c;
    const distinct = ids.size === 0 ? "0" : [...ids.values()].join(" + ");
    return `(${c} * ${gt(distinct, String(mod.distinct - 1))})`;
  }

  private blockTruth(e: Extract<Expr, { kind: "bin" }>): string {
    const mod = e.mod!;
    const a = this.arith({ ...e, mod: undefined });
    if (a !== undefined) {
      const t = `${this.blockInts(a.C, a.P, mod)} == 1`;
      if (t.length > MAX_CONDITION * 10) throw new SignatureSyntaxError("count modifier over too complex a group to translate");
      return t;
    }
    const cases = this.innerCases(e);
    const parts = cases.map((c) => (c.guard === "true" ? this.cmp(`(${c.count})`, mod.op, mod.n) : `((${c.guard}) and ${this.cmp(`(${c.count})`, mod.op, mod.n)})`));
    let t = parts.length === 1 ? parts[0]! : `(${parts.join(" or ")})`;
    if (t.length > MAX_CONDITION) throw new SignatureSyntaxError("count modifier over too complex a group to translate");
    if (mod.distinct > 0) {
      const leaves = this.distinctLeaves(e);
      if (leaves === undefined) {
        this.approximations.push("the distinct-subsignature count of a group holding '&' or count modifiers is taken over all its subsignatures");
      }
      const ids = leaves ?? this.allLeaves(e);
      t = `(${t}) and ${mod.distinct} of (${ids.map((i) => `$s${i}`).join(", ")})`;
      if (ids.some((i) => this.subs[i]!.truth !== `$s${i}`)) this.approximations.push("distinct-subsignature counts ignore subsignature offsets");
    }
    return t;
  }

  private allLeaves(e: Expr): number[] {
    return e.kind === "leaf" ? [e.id] : [...this.allLeaves(e.left), ...this.allLeaves(e.right)];
  }

  /** Leaves of an OR-only tree of plain leaves (where ClamAV's distinct ids are exactly the matched leaves). */
  private distinctLeaves(e: Expr): number[] | undefined {
    if (e.kind === "leaf") return e.mod === undefined ? [e.id] : undefined;
    if (e.op !== "|") return undefined;
    const l = e.left.kind === "bin" && e.left.mod ? undefined : this.distinctLeaves(e.left);
    const r = e.right.kind === "bin" && e.right.mod ? undefined : this.distinctLeaves(e.right);
    return l && r ? [...l, ...r] : undefined;
  }
}

export interface LdbSignature {
  name: string;
  tdb: Record<string, string>;
  expression: string;
  subsigs: string[];
}

export function parseLdbLine(line: string): LdbSignature {
  const f = line.split(";");
  if (f.length < 4) throw new SignatureSyntaxError("expected Name;TargetDescriptionBlock;LogicalExpression;Subsig0[;Subsig1...]");
  if (f.length > 67) throw new SignatureSyntaxError("more than 64 subsignatures");
  const [name, tdbText, expression, ...subsigs] = f as [string, string, string, ...string[]];
  if (name === "") throw new SignatureSyntaxError("empty signature name");
  const tdb: Record<string, string> = {};
  for (const kv of tdbText.split(",")) {
    const c = kv.indexOf(":");
    if (c <= 0) throw new SignatureSyntaxError(`bad target description '${kv}' (expected Key:Value)`);
    tdb[kv.slice(0, c)] = kv.slice(c + 1);
  }
  if (subsigs.some((s) => s === "")) throw new SignatureSyntaxError("empty subsignature (a trailing ';'?)");
  return { name, tdb, expression, subsigs };
}

function rangeOf(v: string): [number, number] {
  const m = v.match(/^(\d+)(?:-(\d+))?$/);
  if (!m) throw new SignatureSyntaxError(`bad range '${v}'`);
  return [+m[1]!, m[2] === undefined ? +m[1]! : +m[2]];
}

/** Whether an ldb is loaded at this FLEVEL (Engine:X-Y). */
export function ldbEngineOk(sig: LdbSignature, flevel = FLEVEL): boolean {
  if (sig.tdb.Engine === undefined) return true;
  const m = sig.tdb.Engine.match(/^(\d+)(?:-(\d+))?$/);
  if (!m) throw new SignatureSyntaxError(`bad Engine range '${sig.tdb.Engine}'`);
  return +m[1]! <= flevel && (m[2] === undefined || flevel <= +m[2]);
}

/** PCRE subsignature: `[Offset:]Trigger/regex/flags`. */
const PCRE_RE = /^(?:([^/]*?):)?([0-9&|()=<>,]+)\/(.*)\/([a-zA-Z]*)$/s;

/** Translates a PCRE body to a YARA regex body, or throws with the reason. */
export function translatePcre(re: string, flags: string): { body: string; mods: string; anchored: boolean; notes: string[] } {
  const notes: string[] = [];
  for (const f of flags) if (!"grieEsmxAU".includes(f)) throw new SignatureSyntaxError(`unknown PCRE flag '${f}'`);
  let body = re.replace(/\\x3B/gi, "\\x3b");
  if (flags.includes("x")) {
    // extended: drop unescaped whitespace and comments outside classes
    let out = "";
    let inClass = false;
    for (let i = 0; i < body.length; i++) {
      const c = body[i]!;
      if (c === "\\") {
        out += c + (body[i + 1] ?? "");
        i++;
        continue;
      }
      if (c === "[") inClass = true;
      else if (c === "]") inClass = false;
      if (!inClass && /\s/.test(c)) continue;
      if (!inClass && c === "#") {
        while (i < body.length && body[i] !== "\n") i++;
        continue;
      }
      out += c;
    }
    body = out;
  }
  const unsupported: Array<[RegExp, string]> = [
    [/\(\?[=!]/, "lookahead"],
    [/\(\?<[=!]/, "lookbehind"],
    [/\(\?P?</, "named group"],
    [/\(\?>/, "atomic group"],
    [/\(\?[a-zA-Z-]+[):]/, "inline option group"],
    [/(^|[^\\])\\[1-9]/, "back-reference"],
    [/\\[pPhHvVRXKGzZAQE]/, "PCRE-only escape"],
    [/[*+?}]\+/, "possessive quantifier"],
    [/\\[0-7]{3}/, "octal escape"],
  ];
  for (const [rx, what] of unsupported) if (rx.test(body)) throw new SignatureSyntaxError(`PCRE ${what} has no equivalent in the engine's regular expressions`);
  if (flags.includes("m") && /(^|[^\\])[$^]/.test(body.slice(1))) throw new SignatureSyntaxError("PCRE multiline flag (m) with ^ or $ has no equivalent");
  body = body.replace(/\(\?:/g, "(");
  body = body.replace(/\//g, "\\/").replace(/\\\\\//g, "\\/");
  let mods = "";
  if (flags.includes("i")) mods += "i";
  if (flags.includes("s")) mods += "s";
  if (flags.includes("U")) notes.push("PCRE ungreedy flag (U) ignored: it changes what is captured, not whether it matches");
  if (flags.includes("E")) notes.push("PCRE dollar-end-only flag (E) ignored");
  return { body, mods, anchored: flags.includes("A"), notes };
}

export function translateLdb(sig: LdbSignature, index: number, reportedName: string): TranslatedRule {
  const modules = new Set<string>();
  const approximations: string[] = [];
  const target = sig.tdb.Target !== undefined ? +sig.tdb.Target : 0;
  if (sig.tdb.Target !== undefined && !/^\d+$/.test(sig.tdb.Target)) throw new SignatureSyntaxError(`bad Target '${sig.tdb.Target}'`);
  const keys = Object.keys(sig.tdb);
  if (sig.tdb.Engine !== undefined && keys[0] !== "Engine") throw new SignatureSyntaxError("Engine must be the first attribute of the target description block");
  if (keys.some((k) => k !== "Engine" && k !== "Target")) {
    const m = (sig.tdb.Engine ?? "").match(/^(\d+)/);
    if (!m || +m[1]! < 51) throw new SignatureSyntaxError("attributes other than Target need Engine:51 or above first in the target description block (as clamscan requires)");
  }
  const conds: string[] = [];
  const t = targetCondition(target);
  if (t.cond) conds.push(`(${t.cond})`);
  if (t.note) approximations.push(t.note);
  for (const [k, v] of Object.entries(sig.tdb)) {
    switch (k) {
      case "Engine":
      case "Target":
        break;
      case "FileSize": {
        const [lo, hi] = rangeOf(v);
        conds.push(`filesize >= ${lo} and filesize <= ${hi}`);
        break;
      }
      case "EntryPoint":
      case "NumberOfSections": {
        const b = exeBase(target);
        if (b === undefined || (target === 9 && k === "NumberOfSections")) throw new SignatureSyntaxError(`${k} needs target 1 or 6`);
        modules.add(b.module);
        const [lo, hi] = rangeOf(v);
        const e = k === "EntryPoint" ? b.ep : b.count;
        conds.push(`${e} >= ${lo} and ${e} <= ${hi}`);
        break;
      }
      case "Container":
        if (!/^CL_TYPE_[A-Z0-9_]+$/.test(v)) throw new SignatureSyntaxError(`bad Container '${v}'`);
        conds.push(v === "CL_TYPE_ANY" ? `clamav_container == ""` : `clamav_container == "${v}"`);
        break;
      default:
        throw new SignatureSyntaxError(`target description ${k} is not supported`);
    }
  }
  const expr = parseLogicalExpression(sig.expression);
  if (maxId(expr) >= sig.subsigs.length) throw new SignatureSyntaxError(`logical expression uses subsignature ${maxId(expr)} but only ${sig.subsigs.length} are given`);
  const subs: TranslatedString[] = [];
  const decls: string[] = [];
  const pcreConds = new Map<number, string>();
  sig.subsigs.forEach((raw, i) => {
    const id = `$s${i}`;
    const pm = raw.match(PCRE_RE);
    if (pm && !/^[0-9a-fA-F?*{}()|!\[\]\-BLW]*$/.test(raw)) {
      const [, offText, trigger, re, flags] = pm as unknown as [string, string | undefined, string, string, string];
      const p = translatePcre(re, flags);
      approximations.push(...p.notes);
      decls.push(`${id} = /${p.body}/${p.mods}`);
      const off = offText === undefined || offText === "" ? ({ kind: "any" } as OffsetSpec) : parseOffset(offText);
      const r = offsetRange(off, target, modules);
      let truth = id;
      if (p.anchored && r === undefined) truth = `${id} at 0`;
      else if (r !== undefined) {
        if (flags.includes("e")) approximations.push("PCRE encompass flag (e): the match must start in the offset range; its end is not checked");
        truth = p.anchored || r.lo === r.hi ? `${id} at ${r.lo}` : `${id} in (${r.lo}..${r.hi})`;
      }
      const trig = parseLogicalExpression(trigger);
      if (maxId(trig) >= sig.subsigs.length) throw new SignatureSyntaxError(`PCRE trigger uses subsignature ${maxId(trig)} that does not exist`);
      pcreConds.set(i, JSON.stringify(trig));
      subs.push({ decl: decls[decls.length - 1]!, truth, count: r === undefined ? `#s${i}` : undefined, atLeast: (n) => `#s${i} >= ${n}`, approximations: [] });
      return;
    }
    if (/^\d+\(/.test(raw) && /[<>]{2}|#/.test(raw)) throw new SignatureSyntaxError(`byte-compare subsignature ${i} is not supported`);
    if (raw.startsWith("${")) throw new SignatureSyntaxError(`macro subsignature ${i} is not supported`);
    if (raw.startsWith("fuzzy_img#")) throw new SignatureSyntaxError(`image fuzzy-hash subsignature ${i} is not supported`);
    let body = raw;
    const opts: SubsigOptions = {};
    const mm = raw.match(/^(.*)::([a-z]+)$/);
    if (mm) {
      body = mm[1]!;
      for (const f of mm[2]!) {
        if (f === "i") opts.nocase = true;
        else if (f === "w") opts.wide = true;
        else if (f === "a") opts.ascii = true;
        else if (f === "f") opts.fullword = true;
        else throw new SignatureSyntaxError(`unknown subsignature modifier '${f}'`);
      }
    }
    let offset: OffsetSpec = { kind: "any" };
    const colon = body.indexOf(":");
    if (colon >= 0) {
      offset = parseOffset(body.slice(0, colon));
      body = body.slice(colon + 1);
    }
    const s = translateSubsig(id, body, offset, target, modules, opts);
    approximations.push(...s.approximations);
    decls.push(s.decl);
    subs.push(s);
  });
  // a PCRE subsignature counts only when its trigger holds
  const tr = new ExprTranslator(subs, approximations);
  for (const [i, trig] of pcreConds) {
    const trigTruth = tr.truth(JSON.parse(trig) as Expr);
    subs[i] = { ...subs[i]!, truth: `(${trigTruth}) and (${subs[i]!.truth})`, count: undefined };
  }
  conds.push(`(${tr.truth(expr)})`);
  const cond = conds.join(" and ");
  return emitRule(index, reportedName, "ldb", target, decls, cond, modules, [...new Set(approximations)]);
}
