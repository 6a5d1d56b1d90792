/**
 * The rule auditor. Reads rules through the engine's parser (AST only) and flags rules that look
 * for documents or people rather than malware. Each finding names the rule, the reason, a
 * severity and the evidence. Checks:
 *  - classification-marking: a string (text, hex, regex, or a literal in the condition) holds a
 *    classification or handling marking of the policy, in any policy character set, under
 *    nocase/wide, XOR-encoded (any single-byte key), base64- or hex-encoded;
 *  - sensitive-vocabulary: the same for sensitive-document vocabulary (lower severity);
 *  - document-target: the rule's condition confines it to document formats (./conditions.ts: magic
 *    at 0, `uint32(0)` comparisons, `$magic at 0`, container member names, the magic module, a
 *    document file name) and no string or condition term carries an indicator of executable or
 *    script malware (code or binary structure bytes, API and macro names, payload URLs, shellcode,
 *    embedded executables, exploit keywords): a document hunter until shown otherwise. It is high
 *    when the strings name a person, an organisation, a project, a classification or the
 *    vocabulary of a defence or intelligence trade (./names.ts and the policy's `entities`), or
 *    when nothing but the format narrows the rule; medium otherwise;
 *  - matches-everything: the condition is always true (`true`, `filesize > 0`, ...);
 *  - short-atoms: every string is very short or very common and nothing else constrains the rule;
 *  - single-file-target: the rule picks one file by hash or exact size, and it is not an executable;
 *  - collection-request: meta or tags ask for the matched file to be uploaded or collected.
 * Private and global rules are helpers: their features count through the public rules that use them.
 */
import { parse, type Expr, type HexNode, type Rule, type RuleFile, type StringDef } from "@vigil/engine";
import {
  ConditionAnalyzer,
  canHoldWithout,
  magicRead,
  stringKey,
  type Confinement,
  type StringFormat,
} from "./conditions.js";
import { MarkerIndex, type MarkerHit, type MarkerWord } from "./encodings.js";
import { findNames, isBinary, textReadings, type NameHit } from "./names.js";
import { SEVERITY_RANK, defaultAuditPolicy, type AuditPolicy, type Severity } from "./policy.js";

export type FindingCode =
  | "classification-marking"
  | "sensitive-vocabulary"
  | "document-target"
  | "matches-everything"
  | "short-atoms"
  | "single-file-target"
  | "collection-request"
  | "unparseable";

export interface Finding {
  readonly rule: string;
  readonly file?: string;
  readonly line?: number;
  readonly code: FindingCode;
  readonly severity: Severity;
  readonly reason: string;
  readonly evidence: string;
}

interface Features {
  markings: Array<{ hit: MarkerHit; where: string }>;
  vocabulary: Array<{ hit: MarkerHit; where: string }>;
  /** organisations, projects, defence or intelligence vocabulary: they raise a document finding */
  entities: Array<{ hit: MarkerHit; where: string }>;
  names: Array<{ hit: NameHit; where: string }>;
  indicators: string[];
  /** keys (`stringKey`) of the strings that carry an indicator */
  indicatorStrings: Set<string>;
  /** indicators outside the strings (condition literals) */
  conditionIndicators: number;
  executable: string[];
  alwaysTrue?: string;
  hashTarget?: string;
  refs: Set<string>;
}

const compiled = new WeakMap<AuditPolicy, CompiledPolicy>();

interface CompiledPolicy {
  index: MarkerIndex;
  indicators: Array<{ s: string; re?: RegExp }>;
  /** document headers (magic numbers as bytes, header strings) and container member names */
  headers: Array<{ format: string; bytes: Uint8Array }>;
  members: Array<{ format: string; s: string }>;
  magic: Map<string, string>; // "u32:0x...", "u32be:...", "u16:..." -> format
  exeMagic: Set<string>;
  exeStrings: string[];
  docExt: RegExp;
  commonAtoms: Set<string>;
  exeModules: Set<string>;
  metaKeys: Set<string>;
  metaValueRes: RegExp[];
  tags: Set<string>;
}

function compilePolicy(p: AuditPolicy): CompiledPolicy {
  let c = compiled.get(p);
  if (c) return c;
  const words: MarkerWord[] = [];
  for (const l of p.markings)
    for (const w of l.words)
      words.push({ word: w, lang: l.lang, severity: l.severity, upperOnly: l.case === "upper", kind: "marking" });
  for (const l of p.vocabulary)
    for (const w of l.words)
      words.push({ word: w, lang: l.lang, severity: l.severity, upperOnly: l.case === "upper", kind: "vocabulary" });
  for (const l of p.entities)
    for (const w of l.words)
      words.push({
        word: w,
        lang: l.lang,
        severity: "high",
        // acronyms (SIGINT, ФСБ, OPLAN) count only in capitals
        upperOnly: w === w.toUpperCase() && w !== w.toLowerCase() && [...w].length <= 6,
        kind: l.kind,
      });
  const magic = new Map<string, string>();
  const headers: Array<{ format: string; bytes: Uint8Array }> = [];
  const members: Array<{ format: string; s: string }> = [];
  const le = (v: bigint, n: number) => Uint8Array.from({ length: n }, (_x, i) => Number((v >> BigInt(8 * i)) & 0xffn));
  for (const f of p.documentFormats) {
    const own: Uint8Array[] = [];
    for (const m of f.magic32 ?? []) {
      magic.set(`u32:${BigInt(m)}`, f.format);
      own.push(le(BigInt(m), 4));
    }
    for (const m of f.magic32be ?? []) {
      magic.set(`u32be:${BigInt(m)}`, f.format);
      own.push(le(BigInt(m), 4).reverse());
    }
    for (const m of f.magic16 ?? []) {
      magic.set(`u16:${BigInt(m)}`, f.format);
      own.push(le(BigInt(m), 2));
    }
    // header strings are those that start with one of the format's magic numbers
    for (const s of f.strings ?? []) {
      const b = latin1(s);
      if (own.some((m) => startsWith(b, m))) own.push(b);
    }
    for (const b of own) headers.push({ format: f.format, bytes: b });
    for (const s of f.members ?? []) members.push({ format: f.format, s: s.toLowerCase() });
  }
  const exeMagic = new Set<string>();
  for (const m of p.executableMagic.magic16 ?? []) exeMagic.add(`u16:${BigInt(m)}`);
  for (const m of p.executableMagic.magic32 ?? []) exeMagic.add(`u32:${BigInt(m)}`);
  c = {
    index: new MarkerIndex(words),
    // short alphanumeric indicators (DDE, VBA, CVE) must stand alone: "hidden" does not contain DDE
    indicators: p.malwareIndicators.map((x) => {
      const s = x.toLowerCase();
      return /^[a-z0-9]{1,5}$/.test(s) ? { s, re: new RegExp(`(?<![a-z0-9])${s}(?![a-z0-9])`) } : { s };
    }),
    headers,
    members,
    magic,
    exeMagic,
    exeStrings: [...(p.executableMagic.strings ?? [])],
    docExt: new RegExp(`\\.(${p.documentExtensions.map((e) => e.replace(/[^a-z0-9]/gi, "")).join("|")})\\b`, "i"),
    commonAtoms: new Set(p.commonAtoms.map((a) => a.toLowerCase())),
    exeModules: new Set(p.executableModules),
    metaKeys: new Set(p.collection.metaKeys.map((k) => k.toLowerCase())),
    metaValueRes: p.collection.metaValuePatterns.map((r) => new RegExp(r, "iu")),
    tags: new Set(p.collection.tags.map((t) => t.toLowerCase())),
  };
  compiled.set(p, c);
  return c;
}

const latin1 = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));

function startsWith(b: Uint8Array, prefix: Uint8Array): boolean {
  if (b.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (b[i] !== prefix[i]) return false;
  return true;
}

/** The bytes a string starts with for sure (a text string's value, a hex string's leading run). */
function leadingBytes(s: StringDef): Uint8Array | undefined {
  if (s.kind === "text") return latin1(s.value);
  if (s.kind === "hex") {
    const out: number[] = [];
    for (const t of s.tokens) {
      if (t.type !== "byte" || t.mask !== 0xff || t.not) break;
      out.push(t.value);
    }
    return out.length ? Uint8Array.from(out) : undefined;
  }
  return undefined;
}

/** What a string says about document formats: a header it starts with, a member name it holds. */
function stringFormat(s: StringDef, c: CompiledPolicy): StringFormat | undefined {
  const lead = leadingBytes(s);
  const header = new Set<string>();
  const member = new Set<string>();
  let headerLength = 0;
  if (lead && !s.modifiers.xor && !s.modifiers.base64 && !s.modifiers.base64wide)
    for (const h of c.headers)
      if (
        h.bytes.length >= 2 &&
        (startsWith(lead, h.bytes) ||
          (s.modifiers.nocase &&
            (startsWith(latin1(Buffer.from(lead).toString("latin1").toUpperCase()), h.bytes) ||
              startsWith(latin1(Buffer.from(lead).toString("latin1").toLowerCase()), h.bytes))))
      ) {
        header.add(h.format);
        headerLength = Math.max(headerLength, h.bytes.length);
      }
  const text = (
    s.kind === "regex" ? regexSkeleton(s.source) : lead ? Buffer.from(lead).toString("latin1") : ""
  ).toLowerCase();
  for (const m of c.members) if (text.includes(m.s)) member.add(m.format);
  if (!header.size && !member.size) return undefined;
  return { header, member, headerLength, shown: printable(lead ?? latin1(text)) };
}

/** Fixed byte runs of a hex string (split at wildcards, masks and jumps; alternatives separately). */
function hexRuns(tokens: readonly HexNode[]): Uint8Array[] {
  const runs: Uint8Array[] = [];
  let cur: number[] = [];
  const flush = () => {
    if (cur.length) runs.push(Uint8Array.from(cur));
    cur = [];
  };
  for (const t of tokens) {
    if (t.type === "byte" && t.mask === 0xff && !t.not) cur.push(t.value);
    else if (t.type === "alt") {
      flush();
      for (const alt of t.alternatives) runs.push(...hexRuns(alt));
    } else flush();
  }
  flush();
  return runs;
}

function hexHasGaps(tokens: readonly HexNode[]): boolean {
  return tokens.some((t) => t.type === "jump" || t.type === "alt" || (t.type === "byte" && (t.mask !== 0xff || t.not)));
}

/** A regular expression's literal skeleton: `T\s*O\s+P` -> `TOP`, `[Ss]ecret` -> `Secret`. */
export function regexSkeleton(src: string): string {
  let s = src.replace(/\(\?[a-z]+\)/g, "");
  s = s.replace(/\\[sWbB][*+?]?|\[\\s\][*+?]?|\[ \][*+?]?| [*+?]|\.[*+?]|\{\d+(,\d*)?\}/g, (m) =>
    /^\\b|^\\B/.test(m) ? "" : m.startsWith("{") ? "" : " ",
  );
  s = s.replace(/\[([^\]\\])[^\]]*\]/g, "$1");
  s = s.replace(/\\x([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
  s = s.replace(/\\([^a-zA-Z0-9])/g, "$1");
  s = s.replace(/[()^$|]/g, " ");
  return s.replace(/ +/g, " ").trim();
}

function tryBase64(s: string): Uint8Array[] {
  const t = s.replace(/=+$/, "");
  if (t.length < 8 || !/^[A-Za-z0-9+/]+$/.test(t)) return [];
  const out: Uint8Array[] = [];
  for (const pre of ["", "A", "AA", "AAA"]) {
    const u = pre + t;
    if (u.length % 4 !== 1) out.push(new Uint8Array(Buffer.from(u, "base64")));
  }
  return out;
}

function tryHexText(s: string): Uint8Array | undefined {
  const t = s.replace(/(?:\\x|0x)/gi, "").replace(/[\s:,-]/g, "");
  if (t.length < 8 || t.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(t)) return undefined;
  return new Uint8Array(Buffer.from(t, "hex"));
}

function printable(b: Uint8Array): string {
  let s = "";
  for (const x of b.subarray(0, 48))
    s += x >= 0x20 && x < 0x7f ? String.fromCharCode(x) : `\\x${x.toString(16).padStart(2, "0")}`;
  return b.length > 48 ? s + "..." : s;
}

class RuleAnalyzer {
  readonly f: Features = {
    markings: [],
    vocabulary: [],
    entities: [],
    names: [],
    indicators: [],
    indicatorStrings: new Set(),
    conditionIndicators: 0,
    executable: [],
    refs: new Set(),
  };
  constructor(
    private readonly c: CompiledPolicy,
    private readonly ruleNames: Set<string>,
  ) {}

  private hits(hs: MarkerHit[], where: string): void {
    const words = hs.map((h) => h.marker.word.toUpperCase());
    for (const hit of hs) {
      const w = hit.marker.word.toUpperCase();
      if (words.some((o) => o !== w && o.includes(w))) continue;
      const list =
        hit.marker.kind === "marking"
          ? this.f.markings
          : hit.marker.kind === "vocabulary"
            ? this.f.vocabulary
            : this.f.entities;
      if (!list.some((x) => x.hit.marker === hit.marker)) list.push({ hit, where });
    }
  }

  /** Checks a byte string for markers in every encoding and for document/indicator strings. */
  private scanBytes(
    bytes: Uint8Array,
    where: string,
    opts: { nocase?: boolean; text?: boolean; xor?: boolean; minLength?: number },
  ): void {
    const idx = this.c.index;
    this.hits(
      idx.searchBytes(bytes, { nocase: opts.nocase ?? false, xor: opts.xor ?? true, minLength: opts.minLength ?? 3 }),
      where,
    );
    if (opts.text) {
      const asUtf8 = new TextDecoder("utf-8").decode(bytes);
      this.hits(idx.searchText(asUtf8, opts.nocase), where);
      const asLatin = Buffer.from(bytes).toString("latin1");
      for (const b64 of tryBase64(asLatin))
        this.hits(
          idx.searchBytes(b64, { xor: true }).map((h) => ({ ...h, encoding: `base64, ${h.encoding}` })),
          where,
        );
      const hex = tryHexText(asLatin);
      if (hex)
        this.hits(
          idx.searchBytes(hex, { xor: true }).map((h) => ({ ...h, encoding: `hex text, ${h.encoding}` })),
          where,
        );
      // base64 of an executable (TVqQAAMAAAAEAAAA...) is an embedded executable
      for (const b64 of tryBase64(asLatin))
        if (b64[0] === 0x4d && b64[1] === 0x5a) {
          this.f.executable.push(`${where} is the base64 of an executable header`);
          break;
        }
    }
    for (const t of textReadings(bytes)) for (const hit of findNames(t)) this.f.names.push({ hit, where });
    if (isBinary(bytes) && !this.c.headers.some((h) => h.bytes.length >= 2 && startsWith(bytes, h.bytes)))
      this.indicator(where, `${where} holds binary bytes (code, a structure or an embedded file)`);
    let lower = Buffer.from(bytes).toString("latin1").toLowerCase();
    const hexText = tryHexText(lower);
    if (hexText) lower += "\n" + Buffer.from(hexText).toString("latin1").toLowerCase();
    for (const ind of this.c.indicators)
      if (ind.re ? ind.re.test(lower) : lower.includes(ind.s)) this.indicator(where, `${where} contains "${ind.s}"`);
    for (const e of this.c.exeStrings)
      if (Buffer.from(bytes).toString("latin1").startsWith(e))
        this.f.executable.push(`${where} starts with an executable magic`);
  }

  private key = "";

  private indicator(where: string, text: string): void {
    this.f.indicators.push(text);
    if (where.startsWith("string ")) this.f.indicatorStrings.add(this.key);
    else this.f.conditionIndicators++;
  }

  addString(s: StringDef, key: string = s.id): void {
    this.key = key;
    const where = `string ${s.id}`;
    const nocase = !!s.modifiers.nocase;
    if (s.kind === "text") {
      this.scanBytes(latin1(s.value), where, { nocase, text: true });
    } else if (s.kind === "hex") {
      const runs = hexRuns(s.tokens);
      // a code pattern (wildcards, jumps) holds binary: only longer words count there, against chance hits
      const code = hexHasGaps(s.tokens);
      for (const r of runs) this.scanBytes(r, where, { text: false, minLength: code ? 6 : 3 });
      // the whole string with gaps dropped catches words split by a wildcard
      const joined = runs.length > 1 ? Uint8Array.from(runs.flatMap((r) => [...r])) : undefined;
      if (joined) this.hits(this.c.index.searchBytes(joined, { xor: false, minLength: 6 }), where);
      if (hexHasGaps(s.tokens) && runs.reduce((n, r) => n + r.length, 0) >= 6)
        this.indicator(where, `${where} is a byte pattern with wildcards or jumps (code)`);
    } else {
      const skel = regexSkeleton(s.source);
      this.scanBytes(latin1(skel), where, { nocase: nocase || s.flags.includes("i"), text: true });
      // letters spread out by \s* or classes: try the skeleton with the gaps closed
      if (skel.includes(" "))
        this.scanBytes(latin1(skel.replace(/ /g, "")), where, {
          nocase: nocase || s.flags.includes("i"),
          text: true,
          xor: false,
        });
    }
  }

  /** Longest fixed run of literal bytes in the string. */
  static atomLength(s: StringDef): number {
    if (s.kind === "text") return s.value.length;
    if (s.kind === "hex") return Math.max(0, ...hexRuns(s.tokens).map((r) => r.length));
    return regexSkeleton(s.source).replace(/ /g, "").length;
  }

  walk(e: Expr): void {
    switch (e.type) {
      case "string":
        // a hex digest compared with hash.*() is not text
        if (!/^[0-9a-fA-F]{32,128}$/.test(e.value))
          this.scanBytes(latin1(e.value), "a condition literal", { text: true });
        return;
      case "regex":
        this.scanBytes(latin1(regexSkeleton(e.source)), "a condition regex", {
          text: true,
          nocase: e.flags.includes("i"),
        });
        return;
      case "ident":
        if (this.ruleNames.has(e.name)) this.f.refs.add(e.name);
        return;
      case "field": {
        const root = rootIdent(e);
        if (root && this.c.exeModules.has(root)) this.f.executable.push(`uses the ${root} module`);
        this.walk(e.object);
        return;
      }
      case "index":
        this.walk(e.object);
        this.walk(e.index);
        return;
      case "call": {
        const root = rootIdent(e.callee);
        if (root && this.c.exeModules.has(root)) this.f.executable.push(`uses the ${root} module`);
        this.walk(e.callee);
        for (const a of e.args) this.walk(a);
        return;
      }
      case "binary": {
        // a generated chain (a or b or ...) is as deep as it is long: walk its left spine in a loop
        const rights: Expr[] = [];
        let cur: Expr = e;
        while (cur.type === "binary") {
          this.checkComparison(cur);
          rights.push(cur.right);
          cur = cur.left;
        }
        this.walk(cur);
        for (let k = rights.length - 1; k >= 0; k--) this.walk(rights[k]!);
        return;
      }
      case "unary": {
        let cur: Expr = e;
        while (cur.type === "unary") cur = cur.operand;
        this.walk(cur);
        return;
      }
      case "paren":
        this.walk(e.expr);
        return;
      case "strMatch":
        if (e.at) this.walk(e.at);
        if (e.range) {
          this.walk(e.range.lo);
          this.walk(e.range.hi);
        }
        return;
      case "strCount":
      case "strOffset":
      case "strLength":
        return;
      case "of":
        if (e.rules) for (const r of e.rules) if (this.ruleNames.has(r.name)) this.f.refs.add(r.name);
        if (e.at) this.walk(e.at);
        if (e.quantifier.kind === "expr") this.walk(e.quantifier.expr);
        return;
      case "forIn":
        if (e.iterable.kind === "range") {
          this.walk(e.iterable.lo);
          this.walk(e.iterable.hi);
        } else if (e.iterable.kind === "list") e.iterable.items.forEach((x) => this.walk(x));
        else this.walk(e.iterable.expr);
        this.walk(e.body);
        return;
      case "forOf":
        this.walk(e.body);
        return;
      default:
        return;
    }
  }

  private checkComparison(e: Extract<Expr, { type: "binary" }>): void {
    if (e.op === "==" || e.op === "!=") {
      for (const [a, b] of [
        [e.left, e.right],
        [e.right, e.left],
      ] as const) {
        const read = magicRead(a);
        const v = intValue(b);
        if (read && v !== undefined && e.op === "==") {
          const exeKey = read === "u32be" ? `u32:${swap32(v)}` : `${read}:${v}`;
          if (this.c.exeMagic.has(exeKey))
            this.f.executable.push(`the condition checks an executable magic (0x${v.toString(16)})`);
        }
        // hash.xxx(0, filesize) == "..." or filesize == N
        if (e.op === "==" && b.type === "string" && a.type === "call" && rootIdent(a.callee) === "hash") {
          this.f.hashTarget = `the condition compares ${exprName(a.callee)}(...) with "${b.value.slice(0, 64)}"`;
        }
        if (e.op === "==" && a.type === "filesize" && v !== undefined)
          this.f.hashTarget ??= `the condition requires filesize == ${v}`;
      }
    }
  }
}

function swap32(v: bigint): bigint {
  return ((v & 0xffn) << 24n) | ((v & 0xff00n) << 8n) | ((v >> 8n) & 0xff00n) | ((v >> 24n) & 0xffn);
}

function rootIdent(e: Expr): string | undefined {
  if (e.type === "ident") return e.name;
  if (e.type === "field") return rootIdent(e.object);
  if (e.type === "index") return rootIdent(e.object);
  if (e.type === "call") return rootIdent(e.callee);
  return undefined;
}

function exprName(e: Expr): string {
  if (e.type === "ident") return e.name;
  if (e.type === "field") return `${exprName(e.object)}.${e.name}`;
  return "?";
}

function intValue(e: Expr): bigint | undefined {
  if (e.type === "int") return BigInt(e.value);
  if (e.type === "paren") return intValue(e.expr);
  return undefined;
}

/** Whether a condition is true for (almost) every file. */
function alwaysTrue(e: Expr): string | undefined {
  switch (e.type) {
    case "bool":
      return e.value ? "the condition is `true`" : undefined;
    case "paren":
      return alwaysTrue(e.expr);
    case "unary":
      return e.op === "not" && alwaysFalse(e.operand) ? "the condition is `not false`" : undefined;
    case "binary": {
      if (e.op === "or" || e.op === "and") {
        // the operands of a chain of one operator, left to right, without recursing down it
        const operands = spine(e, e.op);
        if (e.op === "or") {
          for (const x of operands) {
            const t = alwaysTrue(x);
            if (t) return t;
          }
          return undefined;
        }
        const first = alwaysTrue(operands[0]!);
        return first && operands.slice(1).every((x) => alwaysTrue(x)) ? first : undefined;
      }
      const l = e.left,
        r = e.right;
      const n = intValue(r);
      if (l.type === "filesize" && n !== undefined) {
        if ((e.op === ">" && n <= 0n) || (e.op === ">=" && n <= 1n) || (e.op === "!=" && n === 0n))
          return `the condition is \`filesize ${e.op} ${n}\``;
        if ((e.op === "<" || e.op === "<=") && n >= 1024n * 1024n)
          return `the condition only bounds the size (\`filesize ${e.op} ${n}\`)`;
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

/**
 * The operands of the chain of binary operators at `e` (of operator `op`, or of any binary
 * operator when op is undefined), left to right, found by walking the left spine in a loop.
 */
function spine(e: Expr, op?: string): Expr[] {
  const rights: Expr[] = [];
  let cur: Expr = e;
  while (cur.type === "binary" && (op === undefined || cur.op === op)) {
    rights.push(cur.right);
    cur = cur.left;
  }
  return [cur, ...rights.reverse()];
}

function alwaysFalse(e: Expr): boolean {
  if (e.type === "bool") return !e.value;
  if (e.type === "paren") return alwaysFalse(e.expr);
  return false;
}

function usesStrings(e: Expr): boolean {
  switch (e.type) {
    case "strMatch":
    case "strCount":
    case "strOffset":
    case "strLength":
    case "forOf":
      return true;
    case "of":
      return e.strings !== undefined;
    case "paren":
      return usesStrings(e.expr);
    case "unary": {
      let cur: Expr = e;
      while (cur.type === "unary") cur = cur.operand;
      return usesStrings(cur);
    }
    case "binary":
      return spine(e).some(usesStrings);
    case "forIn":
      return usesStrings(e.body);
    default:
      return false;
  }
}

function constrainsOtherwise(e: Expr): boolean {
  switch (e.type) {
    case "field":
    case "call":
    case "index":
      return true;
    case "binary": {
      let cur: Expr = e;
      while (cur.type === "binary") {
        if (
          (cur.op !== "and" && cur.op !== "or" && !(cur.left.type === "filesize" || cur.right.type === "filesize")) ||
          constrainsOtherwise(cur.right)
        )
          return true;
        cur = cur.left;
      }
      return constrainsOtherwise(cur);
    }
    case "paren":
      return constrainsOtherwise(e.expr);
    case "unary": {
      let cur: Expr = e;
      while (cur.type === "unary") cur = cur.operand;
      return constrainsOtherwise(cur);
    }
    case "strMatch":
      return e.at !== undefined || e.range !== undefined;
    case "ident":
      return true; // another rule or an external
    default:
      return false;
  }
}

export interface AuditOptions {
  readonly policy?: AuditPolicy;
  readonly path?: string;
  /**
   * Confinement known from outside the rule text, by rule name: a ClamAV signature's target type
   * or container type (./clamav.ts) confines it the way a magic number does.
   */
  readonly confinedBy?: ReadonlyMap<string, Confinement>;
}

const KIND_WORDS: Record<string, string> = {
  organisation: "name an organisation",
  project: "name a project",
  trade: "use the vocabulary of a defence or intelligence trade",
};

/** Why a document finding is raised: the names, markings and words in its strings. */
function raisers(f: Features): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const push = (what: string, text: string, where: string) => {
    const k = `${what}\u0000${text}`;
    if (seen.has(k) || out.length >= 6) return;
    seen.add(k);
    out.push(`${what} ("${text}", ${where})`);
  };
  for (const { hit, where } of f.markings) push("carry a classification marking", hit.marker.word, where);
  for (const { hit, where } of f.names)
    push(
      hit.kind === "person" ? `name a person${hit.why.replace(/^a person's name/, "")}` : `give ${hit.why}`,
      hit.text,
      where,
    );
  for (const { hit, where } of f.entities) push(KIND_WORDS[hit.marker.kind]!, hit.marker.word, where);
  for (const { hit, where } of f.vocabulary) push("use sensitive-document vocabulary", hit.marker.word, where);
  return out;
}

/** Audits parsed rules. */
export function auditRuleFile(file: RuleFile, options: AuditOptions = {}): Finding[] {
  const policy = options.policy ?? defaultAuditPolicy();
  const c = compilePolicy(policy);
  const names = new Set(file.rules.map((r) => r.name));
  const features = new Map<string, Features>();
  const byName = new Map(file.rules.map((r) => [r.name, r]));
  const confinements = new Map<string, Confinement | undefined>();
  const foreigns = new Map<string, boolean>();
  // rules reach each other in chains of any length: past this depth a reference is unknown
  let depth = 0;
  const foreign = (name: string): boolean => {
    if (foreigns.has(name)) return foreigns.get(name)!;
    const r = byName.get(name);
    if (!r || depth > 64) return false;
    foreigns.set(name, false); // a cycle requires nothing
    depth++;
    const v = analyzer(r).foreignMagic();
    depth--;
    foreigns.set(name, v);
    return v;
  };
  const analyzer = (r: Rule): ConditionAnalyzer => {
    const strings = new Map<string, StringFormat>();
    r.strings.forEach((s, i) => {
      const sf = stringFormat(s, c);
      if (sf) strings.set(stringKey(s, i), sf);
    });
    return new ConditionAnalyzer({ magic: c.magic, strings, docExt: c.docExt, rule: confinement, foreign }, r);
  };
  const confinement = (name: string): Confinement | undefined => {
    if (confinements.has(name)) return confinements.get(name);
    const r = byName.get(name);
    if (!r || depth > 64) return undefined;
    confinements.set(name, undefined); // a cycle confines nothing
    depth++;
    const own = analyzer(r).confinement();
    depth--;
    const outside = options.confinedBy?.get(name);
    const result =
      own && outside
        ? { formats: new Set([...outside.formats, ...own.formats]), evidence: [...outside.evidence, ...own.evidence] }
        : (own ?? outside);
    confinements.set(name, result);
    return result;
  };
  for (const r of file.rules) {
    const a = new RuleAnalyzer(c, names);
    r.strings.forEach((s, i) => a.addString(s, stringKey(s, i)));
    a.walk(r.condition);
    const at = alwaysTrue(r.condition);
    if (at) a.f.alwaysTrue = at;
    features.set(r.name, a.f);
  }
  const merged = (name: string, depth = 0, seen = new Set<string>()): Features => {
    const f = features.get(name)!;
    if (depth > 8 || seen.has(name)) return f;
    seen.add(name);
    const out: Features = {
      ...f,
      indicators: [...f.indicators],
      executable: [...f.executable],
      refs: f.refs,
    };
    for (const ref of f.refs) {
      const g = merged(ref, depth + 1, seen);
      out.indicators.push(...g.indicators);
      out.executable.push(...g.executable);
    }
    return out;
  };
  // in file order, so that a rule's references (defined before it) are known when it is read
  for (const r of file.rules) {
    foreign(r.name);
    confinement(r.name);
  }
  const findings: Finding[] = [];
  for (const r of file.rules) {
    const f = merged(r.name);
    const add = (code: FindingCode, severity: Severity, reason: string, evidence: string) =>
      findings.push({
        rule: r.name,
        ...((options.path ?? file.path) ? { file: (options.path ?? file.path)! } : {}),
        line: r.pos.line,
        code,
        severity,
        reason,
        evidence,
      });
    for (const { hit, where } of f.markings) {
      add(
        "classification-marking",
        hit.marker.severity,
        `looks for the ${hit.marker.lang} classification marking "${hit.marker.word}"`,
        `${where} (${hit.encoding})`,
      );
    }
    for (const { hit, where } of f.vocabulary) {
      add(
        "sensitive-vocabulary",
        hit.marker.severity,
        `looks for the sensitive-document term "${hit.marker.word}" (${hit.marker.lang})`,
        `${where} (${hit.encoding})`,
      );
    }
    collection(r, c, add);
    if (r.private || r.global) continue;
    const conf = confinement(r.name);
    // indicators only in strings the condition can do without, in a rule whose strings name
    // someone or something, are decoys: `$magic at 0 and ($ministry or $js)`. (Without names, a
    // mixed `any of` is the common shape of honest maldoc rules, and is left alone.)
    const decoy =
      conf !== undefined &&
      raisers(f).length > 0 &&
      f.indicators.length > 0 &&
      f.executable.length === 0 &&
      f.conditionIndicators === 0 &&
      f.indicators.length === features.get(r.name)!.indicators.length &&
      canHoldWithout(r, f.indicatorStrings);
    if (conf && ((f.indicators.length === 0 && f.executable.length === 0) || decoy)) {
      // high when the strings name someone or something, or when nothing but the format narrows
      // the rule (it takes every document); medium when other strings narrow it (an authoring
      // tool, a fingerprint), which still deserves a look
      const formatOnly = new Set(r.strings.filter((s) => stringFormat(s, c)).map((s) => s.id));
      const specific = r.strings.some((s) => !formatOnly.has(s.id));
      const raised = raisers(f);
      add(
        "document-target",
        !specific || raised.length > 0 ? "high" : "medium",
        `is confined by its condition to ${[...conf.formats].join(", ")} documents and carries no indicator of executable or script malware (code bytes, API or macro names, payload URLs, shellcode, exploit structure, embedded executables): a document hunter until shown otherwise` +
          (raised.length ? `; its strings ${raised.join("; ")}` : !specific ? "; it takes every such document" : ""),
        conf.evidence.slice(0, 3).join("; ") +
          (decoy
            ? `; its indicators (${[...f.indicatorStrings].map((k) => k.replace(/#\d+$/, "")).join(", ")}) are not needed: the condition holds without them`
            : ""),
      );
    }
    if (f.alwaysTrue && r.strings.length === 0) {
      add("matches-everything", "high", "matches (almost) every file", f.alwaysTrue);
    } else if (f.alwaysTrue && !usesStrings(r.condition)) {
      add(
        "matches-everything",
        "high",
        "matches (almost) every file: its strings do not matter to the condition",
        f.alwaysTrue,
      );
    } else if (r.strings.length > 0 && !constrainsOtherwise(r.condition)) {
      const weak = r.strings.every(
        (s) =>
          RuleAnalyzer.atomLength(s) < policy.minAtomLength ||
          (s.kind === "text" && c.commonAtoms.has(s.value.toLowerCase())),
      );
      if (weak)
        add(
          "short-atoms",
          "medium",
          `every string is shorter than ${policy.minAtomLength} bytes or very common, so the rule matches a large share of all files`,
          r.strings.map((s) => s.id).join(", "),
        );
    }
    if (f.hashTarget && f.executable.length === 0) {
      // a specific file of a document format, unless its strings show it is code (a JAR, a macro)
      const doc = conf !== undefined && f.indicators.length === 0;
      add(
        "single-file-target",
        doc ? "high" : "medium",
        doc
          ? "targets one specific document"
          : "targets one specific file that the rule does not check to be an executable",
        f.hashTarget,
      );
    }
  }
  return findings;
}

const DESCRIPTIVE_META =
  /^(description|desc|info|reference\d*|ref\d*|source|url|link|author|report|comment|notes?|date|version|hash\d*|sample\d*|malware|family|threat_name|category)$/i;

function collection(
  r: Rule,
  c: CompiledPolicy,
  add: (code: FindingCode, s: Severity, reason: string, evidence: string) => void,
): void {
  for (const m of r.meta) {
    const key = m.key.toLowerCase();
    const value = typeof m.value === "string" ? m.value : String(m.value);
    if (c.metaKeys.has(key) && value !== "" && value !== "false" && value !== "0") {
      add(
        "collection-request",
        "high",
        "its metadata asks for matched files to be sent or collected",
        `meta ${m.key} = ${JSON.stringify(value).slice(0, 80)}`,
      );
      return;
    }
    if (
      typeof m.value === "string" &&
      !m.value.includes("://") &&
      c.metaValueRes.some((re) => re.test(m.value as string)) &&
      !DESCRIPTIVE_META.test(m.key)
    ) {
      add(
        "collection-request",
        "high",
        "its metadata asks for matched files to be sent or collected",
        `meta ${m.key} = ${JSON.stringify(value).slice(0, 80)}`,
      );
      return;
    }
  }
  for (const t of r.tags) {
    if (c.tags.has(t.toLowerCase())) {
      add("collection-request", "high", "its tags ask for matched files to be sent or collected", `tag ${t}`);
      return;
    }
  }
}

/**
 * Audits rule source (bytes or a latin1/UTF-8 string). A file that does not parse gives one
 * `unparseable` finding: an auditor cannot vouch for what it cannot read.
 */
export function auditRules(source: string | Uint8Array, options: AuditOptions = {}): Finding[] {
  const text = typeof source === "string" ? source : Buffer.from(source).toString("latin1");
  let file: RuleFile;
  try {
    file = parse(text, { path: options.path });
  } catch (e) {
    return [
      {
        rule: "(file)",
        ...(options.path ? { file: options.path } : {}),
        code: "unparseable",
        severity: "high",
        reason: "the rules do not parse, so they cannot be audited",
        evidence: (e as Error).message.split("\n")[0]!,
      },
    ];
  }
  return auditRuleFile(file, options);
}

/** The document formats whose header some bytes start with (ClamAV signatures anchored at 0). */
export function documentHeader(bytes: Uint8Array, policy: AuditPolicy = defaultAuditPolicy()): string[] {
  const c = compilePolicy(policy);
  return [...new Set(c.headers.filter((h) => h.bytes.length >= 2 && startsWith(bytes, h.bytes)).map((h) => h.format))];
}

/** Whether findings reach the policy's failing severity. */
export function failing(findings: readonly Finding[], policy: AuditPolicy = defaultAuditPolicy()): Finding[] {
  return findings.filter((f) => SEVERITY_RANK[f.severity] >= SEVERITY_RANK[policy.failOn]);
}

export function formatFinding(f: Finding): string {
  const where = f.file ? `${f.file}:${f.line ?? 0}` : `line ${f.line ?? 0}`;
  return `${where}: ${f.severity}: rule ${f.rule}: ${f.reason} [${f.code}]\n    evidence: ${f.evidence}`;
}
