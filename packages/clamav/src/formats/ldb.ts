/**
 * `.ldb` logical signatures: `Name;TargetDescriptionBlock;LogicalExpression;Subsig0[;Subsig1...]`,
 * translated to one YARA rule each: the logical expression is rebuilt with ClamAV's own grouping
 * (operators of equal precedence, split at the first top-level operator) and its count
 * semantics; PCRE subsignatures become YARA regexes (translatePcre).
 */

import { FLEVEL, parseOffset, SignatureSyntaxError, targetCondition, type OffsetSpec } from "../signature/fields.js";
import {
  emitRule,
  exeBase,
  offsetRange,
  translateSubsig,
  type SubsigOptions,
  type TranslatedRule,
  type TranslatedString,
} from "../translate/yara.js";

type Expr =
  | { kind: "leaf"; id: number; mod?: { op: "=" | "<" | ">"; n: number } }
  | { kind: "bin"; op: "&" | "|"; left: Expr; right: Expr; mod?: { op: "=" | "<" | ">"; n: number; distinct: number } };

/** Parses a logical expression with ClamAV's grouping: the first top-level operator splits it. */
export function parseLogicalExpression(src: string): Expr {
  if (!/^[0-9&|()=<>,]+$/.test(src))
    throw new SignatureSyntaxError(`logical expression has characters other than digits, & | ( ) = < > ,`);
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

function leavesOf(e: Expr): number[] {
  return e.kind === "leaf" ? [e.id] : [...leavesOf(e.left), ...leavesOf(e.right)];
}

/** Messages of translation errors about forms that are valid ClamAV but not expressible here. */
export const UNSUPPORTED = /not supported|no equivalent|too complex|too large/;

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
        this.approximations.push(
          `subsignature ${e.id} is counted with #s${e.id} (all matches), not only the matches at its offset`,
        );
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
      return [
        ...this.innerCases(e).map((c) => ({ guard: `(${t}) and (${c.guard})`, count: c.count })),
        { guard: `not (${t})`, count: "0" },
      ];
    }
    return this.innerCases(e);
  }

  private innerCases(e: Extract<Expr, { kind: "bin" }>): Case[] {
    const l = this.cases(e.left);
    const r = this.cases(e.right);
    if (l.length * r.length > 256)
      throw new SignatureSyntaxError("count modifier over too complex a group to translate");
    const out: Case[] = [];
    const t = e.op === "&" ? `(${this.truth(e.left)}) and (${this.truth(e.right)})` : undefined;
    for (const a of l)
      for (const b of r) {
        const guard =
          [t, a.guard, b.guard]
            .filter((g) => g !== undefined && g !== "true")
            .map((g) => `(${g})`)
            .join(" and ") || "true";
        out.push({ guard, count: a.count === "0" ? b.count : b.count === "0" ? a.count : `${a.count} + ${b.count}` });
      }
    if (t !== undefined) out.push({ guard: `not (${t})`, count: "0" });
    if (out.some((c) => c.guard.length + c.count.length > MAX_CONDITION))
      throw new SignatureSyntaxError("count modifier over too complex a group to translate");
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
    const cmpI = (a: string, op: "=" | "<" | ">", n: number) =>
      op === ">"
        ? gt(a, String(n))
        : op === "<"
          ? lt(a, String(n))
          : `(1 - (${gt(a, String(n))} | ${lt(a, String(n))}))`;
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

  private blockInts(
    tcnt: string,
    ids: Map<number, string>,
    mod: { op: "=" | "<" | ">"; n: number; distinct: number },
  ): string {
    const gt = (a: string, n: string) => `((((${n}) - (${a})) >> 63) & 1)`;
    const lt = (a: string, n: string) => `((((${a}) - (${n})) >> 63) & 1)`;
    const c =
      mod.op === ">"
        ? gt(tcnt, String(mod.n))
        : mod.op === "<"
          ? lt(tcnt, String(mod.n))
          : `(1 - (${gt(tcnt, String(mod.n))} | ${lt(tcnt, String(mod.n))}))`;
    if (mod.distinct === 0) return c;
    const distinct = ids.size === 0 ? "0" : [...ids.values()].join(" + ");
    return `(${c} * ${gt(distinct, String(mod.distinct - 1))})`;
  }

  private blockTruth(e: Extract<Expr, { kind: "bin" }>): string {
    const mod = e.mod!;
    const a = this.arith({ ...e, mod: undefined });
    if (a !== undefined) {
      const t = `${this.blockInts(a.C, a.P, mod)} == 1`;
      if (t.length > MAX_CONDITION * 10)
        throw new SignatureSyntaxError("count modifier over too complex a group to translate");
      return t;
    }
    const cases = this.innerCases(e);
    const parts = cases.map((c) =>
      c.guard === "true"
        ? this.cmp(`(${c.count})`, mod.op, mod.n)
        : `((${c.guard}) and ${this.cmp(`(${c.count})`, mod.op, mod.n)})`,
    );
    let t = parts.length === 1 ? parts[0]! : `(${parts.join(" or ")})`;
    if (t.length > MAX_CONDITION)
      throw new SignatureSyntaxError("count modifier over too complex a group to translate");
    if (mod.distinct > 0) {
      const leaves = this.distinctLeaves(e);
      if (leaves === undefined) {
        this.approximations.push(
          "the distinct-subsignature count of a group holding '&' or count modifiers is taken over all its subsignatures",
        );
      }
      const ids = leaves ?? this.allLeaves(e);
      t = `(${t}) and ${mod.distinct} of (${ids.map((i) => `$s${i}`).join(", ")})`;
      if (ids.some((i) => this.subs[i]!.truth !== `$s${i}`))
        this.approximations.push("distinct-subsignature counts ignore subsignature offsets");
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
  if (f.length < 4)
    throw new SignatureSyntaxError("expected Name;TargetDescriptionBlock;LogicalExpression;Subsig0[;Subsig1...]");
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
export function translatePcre(
  re: string,
  flags: string,
): { body: string; mods: string; anchored: boolean; notes: string[] } {
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
  for (const [rx, what] of unsupported)
    if (rx.test(body))
      throw new SignatureSyntaxError(`PCRE ${what} has no equivalent in the engine's regular expressions`);
  if (flags.includes("m") && /(^|[^\\])[$^]/.test(body.slice(1)))
    throw new SignatureSyntaxError("PCRE multiline flag (m) with ^ or $ has no equivalent");
  body = body.replace(/\(\?:/g, "(");
  body = body.replace(/\//g, "\\/").replace(/\\\\\//g, "\\/");
  let mods = "";
  if (flags.includes("i")) mods += "i";
  if (flags.includes("s")) mods += "s";
  if (flags.includes("U"))
    notes.push("PCRE ungreedy flag (U) ignored: it changes what is captured, not whether it matches");
  if (flags.includes("E")) notes.push("PCRE dollar-end-only flag (E) ignored");
  return { body, mods, anchored: flags.includes("A"), notes };
}

export function translateLdb(sig: LdbSignature, index: number, reportedName: string): TranslatedRule {
  const modules = new Set<string>();
  const approximations: string[] = [];
  const target = sig.tdb.Target !== undefined ? +sig.tdb.Target : 0;
  if (sig.tdb.Target !== undefined && !/^\d+$/.test(sig.tdb.Target))
    throw new SignatureSyntaxError(`bad Target '${sig.tdb.Target}'`);
  const keys = Object.keys(sig.tdb);
  if (sig.tdb.Engine !== undefined && keys[0] !== "Engine")
    throw new SignatureSyntaxError("Engine must be the first attribute of the target description block");
  if (keys.some((k) => k !== "Engine" && k !== "Target")) {
    const m = (sig.tdb.Engine ?? "").match(/^(\d+)/);
    if (!m || +m[1]! < 51)
      throw new SignatureSyntaxError(
        "attributes other than Target need Engine:51 or above first in the target description block (as clamscan requires)",
      );
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
        if (b === undefined || (target === 9 && k === "NumberOfSections"))
          throw new SignatureSyntaxError(`${k} needs target 1 or 6`);
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
  if (maxId(expr) >= sig.subsigs.length)
    throw new SignatureSyntaxError(
      `logical expression uses subsignature ${maxId(expr)} but only ${sig.subsigs.length} are given`,
    );
  // clamscan's own check (cli_loadldb): the highest id in the expression names the last subsignature
  if (maxId(expr) + 1 !== sig.subsigs.length)
    throw new SignatureSyntaxError(
      `${sig.subsigs.length} subsignatures but the logical expression's highest id is ${maxId(expr)} (clamscan refuses this too)`,
    );
  const subs: TranslatedString[] = [];
  const decls: string[] = [];
  const pcreConds = new Map<number, string>();
  // the subsignatures whose matches the expression reads: its leaves and their PCRE triggers'
  const needed = new Set(leavesOf(expr));
  for (let grew = true; grew; ) {
    grew = false;
    for (const i of [...needed]) {
      const pm = sig.subsigs[i]!.match(PCRE_RE);
      if (!pm || /^[0-9a-fA-F?*{}()|![\]\-BLW]*$/.test(sig.subsigs[i]!)) continue;
      for (const t of leavesOf(parseLogicalExpression(pm[2]!))) {
        if (t >= sig.subsigs.length)
          throw new SignatureSyntaxError(
            `subsignature ${i}'s PCRE trigger uses subsignature ${t} but only ${sig.subsigs.length} are given`,
          );
        if (!needed.has(t)) {
          needed.add(t);
          grew = true;
        }
      }
    }
  }
  const translateOne = (raw: string, i: number): void => {
    const id = `$s${i}`;
    const pm = raw.match(PCRE_RE);
    if (pm && !/^[0-9a-fA-F?*{}()|![\]\-BLW]*$/.test(raw)) {
      const [, offText, trigger, re, flags] = pm as unknown as [string, string | undefined, string, string, string];
      const p = translatePcre(re, flags);
      approximations.push(...p.notes);
      decls.push(`${id} = /${p.body}/${p.mods}`);
      const off = offText === undefined || offText === "" ? ({ kind: "any" } as OffsetSpec) : parseOffset(offText);
      const r = offsetRange(off, target, modules);
      let truth = id;
      if (p.anchored && r === undefined) truth = `${id} at 0`;
      else if (r !== undefined) {
        if (flags.includes("e"))
          approximations.push(
            "PCRE encompass flag (e): the match must start in the offset range; its end is not checked",
          );
        truth = p.anchored || r.lo === r.hi ? `${id} at ${r.lo}` : `${id} in (${r.lo}..${r.hi})`;
      }
      const trig = parseLogicalExpression(trigger);
      if (maxId(trig) >= sig.subsigs.length)
        throw new SignatureSyntaxError(`PCRE trigger uses subsignature ${maxId(trig)} that does not exist`);
      pcreConds.set(i, JSON.stringify(trig));
      subs.push({
        decl: decls[decls.length - 1]!,
        truth,
        count: r === undefined ? `#s${i}` : undefined,
        atLeast: (n) => `#s${i} >= ${n}`,
        approximations: [],
      });
      return;
    }
    if (/^\d+\(/.test(raw) && /[<>]{2}|#/.test(raw))
      throw new SignatureSyntaxError(`byte-compare subsignature ${i} is not supported`);
    if (raw.startsWith("${")) throw new SignatureSyntaxError(`macro subsignature ${i} is not supported`);
    if (raw.startsWith("fuzzy_img#"))
      throw new SignatureSyntaxError(`image fuzzy-hash subsignature ${i} is not supported`);
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
  };
  sig.subsigs.forEach((raw, i) => {
    if (needed.has(i)) return translateOne(raw, i);
    // unread by the expression: a form the translation cannot express costs nothing here
    const at = decls.length;
    try {
      translateOne(raw, i);
    } catch (e) {
      if (!(e instanceof SignatureSyntaxError) || !UNSUPPORTED.test(e.message)) throw e;
      decls.length = at;
      subs.length = at;
      decls.push("");
      subs.push({ decl: "", truth: "false", count: "0", atLeast: () => "false", approximations: [] });
      pcreConds.delete(i);
    }
  });
  // a PCRE subsignature counts only when its trigger holds
  const tr = new ExprTranslator(subs, approximations);
  for (const [i, trig] of pcreConds) {
    const trigTruth = tr.truth(JSON.parse(trig) as Expr);
    subs[i] = { ...subs[i]!, truth: `(${trigTruth}) and (${subs[i]!.truth})`, count: undefined };
  }
  conds.push(`(${tr.truth(expr)})`);
  const cond = conds.join(" and ");
  // A subsignature the expression (or a used PCRE trigger) never names changes nothing in
  // ClamAV: its matches are not read. The engine refuses an unreferenced string, so it is left out.
  const used = new Set([...cond.matchAll(/[$#@!]s(\d+)\b/g)].map((m) => +m[1]!));
  const kept = decls.filter((_, i) => used.has(i));
  return emitRule(index, reportedName, "ldb", target, kept, cond, modules, [...new Set(approximations)]);
}
