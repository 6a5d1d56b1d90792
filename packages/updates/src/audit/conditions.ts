/**
 * Condition analysis on the engine's AST: does a rule's condition confine it to document formats?
 * A condition is confined when every file it can match must be a document of some format:
 *  - `uint32(0)`, `uint32be(0)`, `uint16(0)` (and the signed forms) equal to a document magic;
 *  - a string that starts with a document header (`$m at N`, `$m in (lo..hi)`, `@m == N`, with
 *    N and hi at most 1024, the window a PDF header may sit in), or that names a container member
 *    only that format has (`word/document.xml`, the ODF mimetype), wherever it is;
 *  - `any of ($m*) at 0`, `for any of ($h*) : ($ at 0)`, `N of (...)` when fewer than N of the
 *    set are unconfined;
 *  - the magic module's `magic.mime_type()` / `magic.type()` and the `filetype`/`file_type`
 *    externals compared with a document type, and `filename`/`extension` externals compared with
 *    a document extension;
 *  - another rule of the file that is confined (a private `IsPDF` helper).
 * `and` is confined when one operand is, `or` when every operand is, `not` never.
 */
import type { Expr, Quantifier, Rule, StringDef, StringSet } from "@vigil/engine";

export interface Confinement {
  readonly formats: Set<string>;
  readonly evidence: string[];
}

/** What a string's bytes say about document formats. */
export interface StringFormat {
  /** formats whose header the string starts with: confining when anchored near offset 0 */
  readonly header: Set<string>;
  /** formats one of whose container members the string names: confining wherever it matches */
  readonly member: Set<string>;
  /** the length of the longest header the string starts with */
  readonly headerLength: number;
  readonly shown: string;
}

export interface ConditionContext {
  /** "u32:<value>" | "u32be:<value>" | "u16:<value>" -> format */
  readonly magic: ReadonlyMap<string, string>;
  /** by `stringKey` */
  readonly strings: ReadonlyMap<string, StringFormat>;
  readonly docExt: RegExp;
  /** the confinement of another rule of the file, by name */
  readonly rule: (name: string) => Confinement | undefined;
  /** whether another rule of the file requires a non-document type (its magic at 0) */
  readonly foreign: (name: string) => boolean;
}

/** Offsets at or below this count as "at the start" (PDF readers accept a header in the first 1024 bytes). */
export const HEADER_WINDOW = 1024n;

const TYPE_NAMES: Array<[RegExp, string]> = [
  [/pdf/i, "PDF"],
  [/officedocument|ooxml|microsoft (word|excel|powerpoint) 20\d\d/i, "OOXML"],
  [/msword|ms-excel|ms-powerpoint|vnd\.ms-office|x-ole-storage|composite document|cdf v2|ms-outlook/i, "OLE2"],
  [/opendocument/i, "ODF"],
  [/rtf|rich text/i, "RTF"],
];

function intValue(e: Expr): bigint | undefined {
  if (e.type === "int") return BigInt(e.value);
  if (e.type === "paren") return intValue(e.expr);
  return undefined;
}

/** `uint32(0)` -> "u32", `uint32be(0)` -> "u32be", `uint16(0)` -> "u16". */
export function magicRead(e: Expr): string | undefined {
  if (e.type !== "call" || e.callee.type !== "ident" || e.args.length !== 1) return undefined;
  if (intValue(e.args[0]!) !== 0n) return undefined;
  switch (e.callee.name) {
    case "uint32":
    case "int32":
      return "u32";
    case "uint32be":
    case "int32be":
      return "u32be";
    case "uint16":
    case "int16":
      return "u16";
    default:
      return undefined;
  }
}

function calleeName(e: Expr): string | undefined {
  if (e.type === "ident") return e.name;
  if (e.type === "field") {
    const o = calleeName(e.object);
    return o ? `${o}.${e.name}` : undefined;
  }
  return undefined;
}

function merge(parts: Confinement[]): Confinement {
  const formats = new Set<string>();
  const evidence: string[] = [];
  for (const p of parts) {
    for (const f of p.formats) formats.add(f);
    evidence.push(...p.evidence);
  }
  return { formats, evidence };
}

/** The operands of a chain of one binary operator, left to right, without recursion. */
function chain(e: Expr, op: string): Expr[] {
  const rights: Expr[] = [];
  let cur: Expr = e;
  while (cur.type === "binary" && cur.op === op) {
    rights.push(cur.right);
    cur = cur.left;
  }
  return [cur, ...rights.reverse()];
}

/** A string's key: its identifier, or `$#N` for the N-th string when it is anonymous. */
export const stringKey = (s: StringDef, i: number): string => (s.id === "$" ? `$#${i}` : s.id);
const shownId = (key: string) => key.replace(/#\d+$/, "");

export function setIds(set: StringSet, rule: Rule): string[] {
  const all = rule.strings.map((s: StringDef, i) => ({ id: s.id, key: stringKey(s, i) }));
  if (set.kind === "them") return all.map((x) => x.key);
  return set.items.flatMap((it) =>
    it.wildcard ? all.filter((x) => x.id.startsWith(it.id)).map((x) => x.key) : [it.id],
  );
}

/** How many of `n` members must hold for the quantifier to be true (undefined: none need to). */
function required(q: Quantifier, n: number): number | undefined {
  if (q.kind === "all") return n;
  if (q.kind === "any") return 1;
  if (q.kind !== "expr") return undefined;
  const v = intValue(q.expr);
  if (v === undefined) return undefined;
  const k = q.percent ? Math.ceil((n * Number(v)) / 100) : Number(v);
  return k >= 1 ? k : undefined;
}

export class ConditionAnalyzer {
  constructor(
    private readonly ctx: ConditionContext,
    private readonly rule: Rule,
  ) {}

  /** The document formats the condition confines the rule to, with the evidence; undefined if none. */
  confinement(e: Expr = this.rule.condition, depth = 0): Confinement | undefined {
    if (depth > 200) return undefined;
    switch (e.type) {
      case "paren":
        return this.confinement(e.expr, depth + 1);
      case "binary": {
        if (e.op === "and") {
          const operands = chain(e, "and");
          // a file whose first bytes are another type's magic (PNG, JPEG, LNK, ...) is no document
          // even if it holds one: the document is embedded, so the rule is not confined to documents
          if (operands.some((x) => this.foreignMagic(x, depth + 1))) return undefined;
          const parts = operands.map((x) => this.confinement(x, depth + 1)).filter((x): x is Confinement => !!x);
          return parts.length ? merge(parts) : undefined;
        }
        if (e.op === "or") {
          const parts: Confinement[] = [];
          for (const x of chain(e, "or")) {
            const c = this.confinement(x, depth + 1);
            if (!c) return undefined;
            parts.push(c);
          }
          return merge(parts);
        }
        return this.comparison(e);
      }
      case "ident":
        return this.viaRule(e.name);
      case "strMatch":
        return this.stringAt(e.id, e.at, e.range);
      case "of":
        return this.of(e);
      case "forOf": {
        const body = e.body.type === "paren" ? e.body.expr : e.body;
        if (body.type !== "strMatch" || body.id !== "$") return undefined;
        return this.quantified(e.quantifier, setIds(e.strings, this.rule), (id) =>
          this.stringAt(id, body.at, body.range),
        );
      }
      default:
        return undefined;
    }
  }

  /**
   * Whether `e` requires a non-document type: `uint32(0) == V` with V no document magic, a string
   * at 0 that is no document header, a rule that requires one; through `and`, `or` and parens.
   */
  foreignMagic(e: Expr = this.rule.condition, depth = 0): boolean {
    if (depth > 200) return false;
    if (e.type === "paren") return this.foreignMagic(e.expr, depth + 1);
    if (e.type === "ident") return this.ctx.foreign(e.name);
    if (e.type === "strMatch") {
      if (!e.at || intValue(e.at) !== 0n) return false;
      const i = this.rule.strings.findIndex((s) => s.id === e.id);
      const s = this.rule.strings[i];
      return !!s && s.kind !== "regex" && !this.ctx.strings.get(e.id)?.header.size;
    }
    if (e.type !== "binary") return false;
    if (e.op === "or") return chain(e, "or").every((x) => this.foreignMagic(x, depth + 1));
    if (e.op === "and") return chain(e, "and").some((x) => this.foreignMagic(x, depth + 1));
    if (e.op !== "==") return false;
    for (const [a, b] of [
      [e.left, e.right],
      [e.right, e.left],
    ] as const) {
      const read = magicRead(a);
      const v = intValue(b);
      if (read && v !== undefined) return !this.ctx.magic.has(`${read}:${v}`);
    }
    return false;
  }

  private viaRule(name: string): Confinement | undefined {
    const c = this.ctx.rule(name);
    return c ? { formats: c.formats, evidence: c.evidence.map((x) => `${x} (via rule ${name})`) } : undefined;
  }

  private of(e: Extract<Expr, { type: "of" }>): Confinement | undefined {
    if (e.rules) {
      const names = e.rules.flatMap((r) => (r.wildcard ? [] : [r.name]));
      if (names.length !== e.rules.length) return undefined;
      return this.quantified(e.quantifier, names, (n) => this.viaRule(n));
    }
    if (!e.strings) return undefined;
    return this.quantified(e.quantifier, setIds(e.strings, this.rule), (id) => this.stringAt(id, e.at, e.range));
  }

  private quantified(
    q: Quantifier,
    members: string[],
    one: (m: string) => Confinement | undefined,
  ): Confinement | undefined {
    const need = required(q, members.length);
    if (need === undefined || members.length === 0) return undefined;
    const confined = members.map(one);
    const loose = confined.filter((c) => !c).length;
    // at least `need` members match; when fewer than that are loose, a confined one is among them
    if (loose >= need) return undefined;
    return merge(confined.filter((c): c is Confinement => !!c));
  }

  /** `$id`, `$id at N`, `$id in (lo..hi)`. */
  private stringAt(id: string, at?: Expr, range?: { lo: Expr; hi: Expr }): Confinement | undefined {
    const s = this.ctx.strings.get(id);
    if (!s) return undefined;
    const parts: Confinement[] = [];
    if (s.member.size)
      parts.push({
        formats: new Set(s.member),
        evidence: [
          `${[...s.member].join("/")}: the condition requires ${shownId(id)}, a container member name ("${s.shown}")`,
        ],
      });
    if (s.header.size) {
      let where: string | undefined;
      if (at) {
        const n = intValue(at);
        if (n !== undefined && n >= 0n && n <= HEADER_WINDOW) where = `${shownId(id)} at ${n}`;
      } else if (range) {
        const lo = intValue(range.lo),
          hi = intValue(range.hi);
        if (lo !== undefined && hi !== undefined && lo >= 0n && hi <= HEADER_WINDOW)
          where = `${shownId(id)} in (${lo}..${hi})`;
      }
      // a header anywhere (4 bytes or more): the file holds such a document
      else if (!at && !range && s.headerLength >= 4) where = `${shownId(id)} (anywhere in the file)`;
      if (where)
        parts.push({
          formats: new Set(s.header),
          evidence: [`${[...s.header].join("/")}: the condition requires ${where} ("${s.shown}")`],
        });
    }
    return parts.length ? merge(parts) : undefined;
  }

  private comparison(e: Extract<Expr, { type: "binary" }>): Confinement | undefined {
    for (const [a, b] of [
      [e.left, e.right],
      [e.right, e.left],
    ] as const) {
      if (e.op === "==") {
        const read = magicRead(a);
        const v = intValue(b);
        if (read && v !== undefined) {
          const fmt = this.ctx.magic.get(`${read}:${v}`);
          if (fmt)
            return {
              formats: new Set([fmt]),
              evidence: [
                `the condition checks the ${fmt} magic (${read.replace("u", "uint")}(0) == 0x${v.toString(16)})`,
              ],
            };
        }
        // @m == N, @m[1] == N
        if (a.type === "strOffset" && v !== undefined && (!a.index || intValue(a.index) === 1n)) {
          const c = this.stringAt(a.id, { type: "int", value: v, pos: a.pos });
          if (c) return c;
        }
      }
      if (
        ![
          "==",
          "contains",
          "icontains",
          "startswith",
          "istartswith",
          "iequals",
          "matches",
          "endswith",
          "iendswith",
        ].includes(e.op)
      )
        continue;
      const text = b.type === "string" ? b.value : b.type === "regex" ? b.source : undefined;
      if (text === undefined) continue;
      const name = a.type === "call" ? calleeName(a.callee) : a.type === "ident" ? a.name : undefined;
      if (!name) continue;
      const shown = `${a.type === "call" ? `${name}()` : name} ${e.op} ${b.type === "string" ? JSON.stringify(text) : `/${text}/`}`;
      if (/^magic\.(mime_type|type)$/.test(name) || /^file_?type$/i.test(name)) {
        const fmts = TYPE_NAMES.filter(([re]) => re.test(text)).map(([, f]) => f);
        if (fmts.length)
          return { formats: new Set(fmts.slice(0, 1)), evidence: [`the condition checks ${shown} (${fmts[0]})`] };
      }
      if (/^(file_?name|file_?path|extension|file_?ext)$/i.test(name)) {
        if (this.ctx.docExt.test(text) || this.ctx.docExt.test(`.${text.replace(/^\./, "")}`))
          return { formats: new Set(["document file name"]), evidence: [`the condition checks ${shown}`] };
      }
    }
    return undefined;
  }
}

type Tri = "T" | "F" | "U";

/**
 * Whether a rule's condition can still hold when the strings `absent` (by `stringKey`) do not
 * match: a three-valued reading (true, false, unknown) where every other term is unknown. Used to
 * tell a decoy indicator (`... and ($name or $js)`) from one the rule needs.
 */
export function canHoldWithout(rule: Rule, absent: ReadonlySet<string>): boolean {
  if (absent.size === 0) return true;
  const gone = (id: string) => absent.has(id);
  const ofSet = (q: Quantifier, members: string[]): Tri => {
    const n = members.length;
    const possible = members.filter((m) => !gone(m)).length;
    if (q.kind === "none") return possible === 0 ? "T" : "U";
    const need = q.kind === "all" ? n : q.kind === "any" ? 1 : undefined;
    if (need === undefined) {
      if (q.kind !== "expr") return "U";
      const v = intValue(q.expr);
      if (v === undefined) return "U";
      const k = q.percent ? Math.ceil((n * Number(v)) / 100) : Number(v);
      return possible < k ? "F" : "U";
    }
    return possible < need ? "F" : "U";
  };
  const ev = (e: Expr, depth: number): Tri => {
    if (depth > 200) return "U";
    switch (e.type) {
      case "paren":
        return ev(e.expr, depth + 1);
      case "bool":
        return e.value ? "T" : "F";
      case "strMatch":
        return gone(e.id) ? "F" : "U";
      case "unary": {
        if (e.op !== "not") return "U";
        const v = ev(e.operand, depth + 1);
        return v === "T" ? "F" : v === "F" ? "T" : "U";
      }
      case "of":
        if (!e.strings) return "U";
        return ofSet(e.quantifier, setIds(e.strings, rule));
      case "forOf": {
        const body = e.body.type === "paren" ? e.body.expr : e.body;
        // `for Q of (set) : ($ ...)`: a member that does not match fails the body
        if (body.type === "strMatch" && body.id === "$") return ofSet(e.quantifier, setIds(e.strings, rule));
        return "U";
      }
      case "binary": {
        if (e.op === "and") {
          let all = true;
          for (const x of chain(e, "and")) {
            const v = ev(x, depth + 1);
            if (v === "F") return "F";
            if (v !== "T") all = false;
          }
          return all ? "T" : "U";
        }
        if (e.op === "or") {
          let none = true;
          for (const x of chain(e, "or")) {
            const v = ev(x, depth + 1);
            if (v === "T") return "T";
            if (v !== "F") none = false;
          }
          return none ? "F" : "U";
        }
        // #s > N, #s >= N (N >= 1) need the string
        const cnt = e.left.type === "strCount" ? e.left : undefined;
        const n = intValue(e.right);
        if (
          cnt &&
          n !== undefined &&
          gone(cnt.id) &&
          ((e.op === ">" && n >= 0n) || (e.op === ">=" && n >= 1n) || (e.op === "==" && n >= 1n))
        )
          return "F";
        return "U";
      }
      default:
        return "U";
    }
  };
  return ev(rule.condition, 0) !== "F";
}
