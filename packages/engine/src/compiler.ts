/**
 * AST -> compiled rule set. The compiler resolves identifiers (rules, strings, externals,
 * modules, loop variables), type-checks every condition against the module schemas, compiles
 * strings to patterns (patterns.ts) and emits each condition as JavaScript source that reads
 * the scan context `c` through the runtime helpers `h` (runtime.ts). The result is plain data
 * (`RuleSetData`) that serialises to JSON and is turned into a scanner by rules.ts.
 */
import type { Expr, Pos, Quantifier, Rule, RuleFile, StringDef, StringSet } from "./ast.js";
import { DiagnosticError, type Diagnostic, type DiagnosticCode } from "./error.js";
import { builtinModules } from "./modules/index.js";
import type { FieldType, FunctionOverload, StructType } from "./modules/schema.js";
import { checkMatcher, compileString, PatternError, type CompiledString } from "./patterns.js";
import { caseFold, parseRegex, RegexSyntaxError, toJsSource } from "./regex.js";
import { lineAt } from "./parser.js";

export type ExternalValue = string | number | bigint | boolean;

export interface RuleData {
  name: string;
  namespace: string;
  tags: string[];
  meta: Array<[string, string | number | boolean | { bigint: string }]>;
  global: boolean;
  private: boolean;
  /** global string indices of this rule's strings, in declaration order. */
  strings: number[];
  /** the condition is never true when none of the rule's strings matched (the scanner skips it then). */
  needsStrings?: boolean;
  /**
   * true when the condition, once true on some of the data's string matches, stays true with
   * more of them (`$a`, `#a > 2`, `any of them`, and/or of such terms, ...): a scan stopped by
   * a limit can then still report the rule as matched (see ScanError.partial).
   */
  monotone?: boolean;
}

export interface FunctionRef {
  module: string;
  /** path of field names from the module root to the function ("[]" steps into arrays/dicts). */
  path: string[];
  overload: number;
}

export interface RuleSetData {
  format: "vigil-rules";
  version: 1;
  rules: RuleData[];
  strings: CompiledString[];
  /** JS source of the condition factory: a function body taking `h` and returning the rule functions. */
  code: string;
  functions: FunctionRef[];
  modules: string[];
  externals: Array<[string, ExternalValue | { bigint: string }]>;
  /** indices of rules that need no string matches (for bookkeeping and stats). */
  namespaces: string[];
}

type Type =
  | { k: "bool" }
  | { k: "int" }
  | { k: "float" }
  | { k: "string" }
  | { k: "regex" }
  | { k: "struct"; t: StructType; path: PathRef }
  | { k: "array"; of: FieldType; path: PathRef }
  | { k: "dict"; of: FieldType; path: PathRef }
  | { k: "func"; overloads: readonly FunctionOverload[]; path: PathRef; self: string };

interface PathRef {
  module: string;
  path: string[];
}

const BOOL: Type = { k: "bool" },
  INT: Type = { k: "int" },
  FLOAT: Type = { k: "float" },
  STRING: Type = { k: "string" };

interface Compiled {
  code: string;
  type: Type;
  constant?: boolean;
}

const INT64_MAX = 0x7fffffffffffffffn;
const INT64_MIN = -0x8000000000000000n;

/** Where a binary operator's diagnostics point: at the operator, underlined. */
function opAt(e: Extract<Expr, { type: "binary" }>): Pos & { length?: number } {
  return e.opPos ? { ...e.opPos, length: e.op.length } : e.pos;
}

/** The value of a constant integer expression, or undefined when it is not known at compile time. */
function constInt(c: Compiled): bigint | undefined {
  if (!c.constant || c.type.k !== "int") return undefined;
  return BigInt(c.code.replace(/n$/, ""));
}

function intConstant(v: bigint): Compiled {
  v = BigInt.asIntN(64, v);
  const safe = v >= -9007199254740991n && v <= 9007199254740991n;
  return { code: safe ? String(v) : `${v}n`, type: INT, constant: true };
}

interface Scope {
  vars: Map<string, { code: string; type: Type }>;
  anonymous?: string; // code of the current string index in for..of
  anonymousSids?: number[]; // the strings that index ranges over
}

export interface CompilerInput {
  file: RuleFile;
  namespace: string;
  source: string;
}

function fieldToType(f: FieldType, path: PathRef, selfCode: string): Type {
  switch (f.kind) {
    case "integer":
      return INT;
    case "float":
      return FLOAT;
    case "string":
      return STRING;
    case "struct":
      return { k: "struct", t: f, path };
    case "array":
      return { k: "array", of: f.of, path };
    case "dictionary":
      return { k: "dict", of: f.of, path };
    case "function":
      return { k: "func", overloads: f.overloads, path, self: selfCode };
  }
}

function typeName(t: Type): string {
  switch (t.k) {
    case "bool":
      return "boolean";
    case "int":
      return "integer";
    case "float":
      return "float";
    case "string":
      return "string";
    case "regex":
      return "regexp";
    case "struct":
      return "structure";
    case "array":
      return "array";
    case "dict":
      return "dictionary";
    case "func":
      return "function";
  }
}

const js = JSON.stringify;
/** yara's limit on nested 'for' loops (YR_MAX_LOOP_NESTING). */
const MAX_LOOP_NESTING = 4;
const an2 = (t: Type) => an(typeName(t));
const an = (word: string) => (/^[aeiou]/.test(word) ? "an " : "a ") + word;

export class Compiler {
  readonly warnings: Diagnostic[] = [];
  private rules: RuleData[] = [];
  private strings: CompiledString[] = [];
  private ruleCode: string[] = [];
  private consts: string[] = [];
  private functions: FunctionRef[] = [];
  private functionIndex = new Map<string, number>();
  private modulesUsed = new Set<string>();
  private ruleIndex = new Map<string, number>(); // ns + "\0" + name
  /** rule-name prefixes used in rule sets (`1 of (a*)`), per namespace: a later rule may not match one. */
  private ruleWildcards = new Map<string, Array<{ prefix: string; rule: string }>>();
  private curRuleIdx = -1;
  private namespaces: string[] = [];
  private tmp = 0;
  /** 'for' loops around the expression being compiled. */
  private loopDepth = 0;
  /** where each rule is, to point at one whose emitted code V8 refuses (see codeDiagnostic). */
  private ruleSites: Array<{ pos: Pos; path: string | undefined; source: string; name: string }> = [];

  // per rule
  private source = "";
  private path: string | undefined;
  private imported = new Set<string>();
  private curStrings = new Map<string, number>();
  private curStringOrder: string[] = [];
  private referenced = new Set<string>();
  /** strings (global indices) whose conditions use more than whether they matched (see positionalUse). */
  private positional = new Set<number>();
  private curNamespace = "default";
  private curRule: string | undefined;

  constructor(private externals: Map<string, ExternalValue>) {}

  /** `pos` may carry the length of the token it points at, and the line yara would report. */
  private diag(
    code: DiagnosticCode,
    message: string,
    pos: (Pos & { length?: number; yaraLine?: number }) | undefined,
    hint?: string,
  ): DiagnosticError {
    return new DiagnosticError({
      code,
      message,
      hint,
      line: pos?.line ?? 0,
      column: pos?.column ?? 0,
      path: this.path,
      rule: this.curRule,
      sourceLine: pos ? lineAt(this.source, pos.offset) : undefined,
      ...(pos?.length ? { length: pos.length } : {}),
      ...(pos?.yaraLine !== undefined && pos.yaraLine !== pos.line ? { yaraLine: pos.yaraLine } : {}),
    });
  }
  private warn(code: DiagnosticCode, message: string, pos: Pos): void {
    this.warnings.push({
      code,
      message,
      line: pos.line,
      column: pos.column,
      path: this.path,
      rule: this.curRule,
      sourceLine: lineAt(this.source, pos.offset),
    });
  }

  addFile(input: CompilerInput, imports: Set<string>): void {
    this.startFile(input, imports);
    for (const rule of input.file.rules) this.addRule(rule);
  }

  /** What addFile does before the file's rules (its imports): then addRule for each of its rules, in order. */
  startFile(input: CompilerInput, imports: Set<string>): void {
    this.source = input.source;
    this.path = input.file.path;
    this.curNamespace = input.namespace;
    if (!this.namespaces.includes(input.namespace)) this.namespaces.push(input.namespace);
    this.imported = imports;
    for (const imp of input.file.imports) {
      const mod = builtinModules.get(imp.module);
      if (!mod)
        throw this.diag(
          "E_UNKNOWN_MODULE",
          `unknown module "${imp.module}" (available: ${[...builtinModules.keys()].filter((k) => !builtinModules.get(k)!.unavailable).join(", ")})`,
          imp.pos,
        );
      if (mod.unavailable)
        throw this.diag("E_MODULE_UNAVAILABLE", `module "${imp.module}" is not available: ${mod.unavailable}`, imp.pos);
      imports.add(imp.module);
      // every imported module is loaded for each scan (as yara does), in import order
      this.modulesUsed.add(imp.module);
    }
  }

  addRule(rule: Rule): void {
    const key = this.curNamespace + "\0" + rule.name;
    if (this.ruleIndex.has(key)) throw this.diag("E_DUPLICATE_RULE", `duplicated identifier "${rule.name}"`, rule.pos);
    if (this.externals.has(rule.name))
      throw this.diag("E_DUPLICATE_RULE", `rule identifier "${rule.name}" is already an external variable`, rule.pos);
    this.path = rule.path ?? this.path;
    const wildcard = this.ruleWildcards.get(this.curNamespace)?.find((w) => rule.name.startsWith(w.prefix));
    if (wildcard)
      throw this.diag(
        "E_RULE_MATCHES_WILDCARD",
        `rule identifier "${rule.name}" matches the wildcard "${wildcard.prefix}*" used in rule "${wildcard.rule}" before it`,
        rule.pos,
        `a rule set only holds rules defined before it: rename the rule, or define it before "${wildcard.rule}"`,
      );
    this.curRule = rule.name;
    this.curStrings = new Map();
    this.curStringOrder = [];
    this.referenced = new Set();
    const stringIdx: number[] = [];
    let anon = 0;
    for (const s of rule.strings) {
      let id = s.id;
      if (id === "$")
        id = `$\0${anon++}`; // anonymous strings
      else if (this.curStrings.has(id))
        throw this.diag("E_DUPLICATE_STRING", `duplicate string identifier "${s.id}" in rule "${rule.name}"`, s.pos);
      const compiled = this.compileStringDef(s);
      const gi = this.strings.length;
      this.strings.push(compiled);
      this.curStrings.set(id, gi);
      this.curStringOrder.push(id);
      stringIdx.push(gi);
      if (compiled.slow) this.warn("W_SLOW_PATTERN", compiled.slow, s.pos);
      if (compiled.slowAny) {
        this.warn("W_SLOW_PATTERN", compiled.slowAny, s.pos);
        compiled.slowAny = undefined; // not part of the compiled rules
      }
    }
    const seenMeta = new Set<string>();
    for (const m of rule.meta) seenMeta.add(m.key);
    const ruleIdx = this.rules.length;
    this.curRuleIdx = ruleIdx;
    const cond = this.compileCondition(rule.condition, { vars: new Map() });
    for (const gi of stringIdx) if (!this.positional.has(gi)) this.strings[gi]!.existsOnly = true;
    for (const id of this.curStringOrder) {
      const anonymous = id.startsWith("$\0");
      if (anonymous ? this.referenced.has("$\0any") : this.referenced.has(id)) continue;
      if (id.startsWith("$_")) continue; // YARA 4.5: a string whose name starts with '_' may be unreferenced
      // the caret is on the declaration; yara reports the line where the rule ends
      const decl = rule.strings[this.curStringOrder.indexOf(id)]!;
      throw this.diag(
        "E_UNREFERENCED_STRING",
        `unreferenced string "${anonymous ? "$" : id}"`,
        { ...decl.pos, length: decl.id.length, yaraLine: (rule.end ?? rule.pos).line },
        "use it in the condition (e.g. 'any of them'), or remove it, or name it $_... to keep it unreferenced",
      );
    }
    this.rules.push({
      name: rule.name,
      namespace: this.curNamespace,
      tags: rule.tags,
      meta: rule.meta.map((m) => [m.key, typeof m.value === "bigint" ? { bigint: m.value.toString() } : m.value]),
      global: rule.global,
      private: rule.private,
      strings: stringIdx,
      needsStrings: stringIdx.length > 0 && needsMatch(rule.condition),
      monotone: monotone(
        rule.condition,
        (name) => {
          const i = this.ruleIndex.get(this.curNamespace + "\0" + name);
          return i === undefined ? undefined : this.rules[i]!.monotone === true;
        },
        (prefix) => {
          let all = true;
          for (const [key, i] of this.ruleIndex) {
            const [ns, name] = key.split("\0") as [string, string];
            if (ns === this.curNamespace && name.startsWith(prefix) && this.rules[i]!.monotone !== true) all = false;
          }
          return all;
        },
      ),
    });
    this.ruleCode.push(`function(c){return ${cond};}`);
    this.ruleSites.push({ pos: rule.pos, path: this.path, source: this.source, name: rule.name });
    this.ruleIndex.set(key, ruleIdx);
    this.curRule = undefined;
  }

  private compileStringDef(s: StringDef): CompiledString {
    try {
      return compileString(s);
    } catch (e) {
      if (e instanceof PatternError) throw this.diag("E_MODIFIERS", `${e.message} (string ${s.id})`, s.pos);
      if (e instanceof RegexSyntaxError)
        throw this.diag("E_REGEX", `invalid regular expression in string ${s.id}: ${e.message}`, s.pos);
      throw e;
    }
  }

  private compileCondition(e: Expr, scope: Scope): string {
    const c = this.expr(e, scope);
    return this.toBool(c, e.pos);
  }

  /** Code giving true/false/undefined for any value type usable as a boolean. */
  private toBool(c: Compiled, pos: Pos): string {
    switch (c.type.k) {
      case "bool":
        return c.code;
      case "int":
      case "float":
        return `h.nb(${c.code})`;
      case "string":
        return `h.sb(${c.code})`;
      default:
        throw this.diag("E_TYPE", `wrong type: a ${typeName(c.type)} cannot be used as a boolean`, pos);
    }
  }

  private constant(code: string): string {
    this.consts.push(code);
    return `K${this.consts.length - 1}`;
  }

  private regexConst(source: string, flags: string, pos: Pos): string {
    try {
      let node = parseRegex(source, flags.includes("s"));
      if (flags.includes("i")) node = caseFold(node);
      const jsSource = toJsSource(node);
      checkMatcher(jsSource);
      return this.constant(`new RegExp(${js(jsSource)})`);
    } catch (e) {
      if (e instanceof RegexSyntaxError) throw this.diag("E_REGEX", `invalid regular expression: ${e.message}`, pos);
      throw e;
    }
  }

  /**
   * Notes that a condition uses more of string `s`'s matches than whether it has one (a count,
   * an offset, a length, `at` or `in`). `s` is the code of its index: a number, or the variable
   * of a `for ... of` loop, which stands for each string of the loop's set.
   */
  private positionalUse(s: string, scope: Scope): void {
    if (/^\d+$/.test(s)) this.positional.add(Number(s));
    else if (scope.anonymousSids) for (const sid of scope.anonymousSids) this.positional.add(sid);
    else for (const sid of this.curStrings.values()) this.positional.add(sid); // not expected: every string of the rule
  }

  private stringRef(id: string, pos: Pos, scope: Scope): string {
    if (id === "$") {
      if (scope.anonymous === undefined)
        throw this.diag("E_UNDEFINED_STRING", "'$' can only be used inside a 'for ... of' loop body", pos);
      return scope.anonymous;
    }
    const gi = this.curStrings.get(id);
    if (gi === undefined)
      throw this.diag("E_UNDEFINED_STRING", `undefined string identifier "${id}"`, { ...pos, length: id.length });
    this.referenced.add(id);
    return String(gi);
  }

  private stringSet(set: StringSet, pos: Pos): number[] {
    if (set.kind === "them") {
      if (this.curStringOrder.length === 0)
        throw this.diag("E_UNDEFINED_STRING", "'them' used in a rule without strings", pos);
      for (const id of this.curStringOrder) this.referenced.add(id);
      this.referenced.add("$\0any");
      return this.curStringOrder.map((id) => this.curStrings.get(id)!);
    }
    const out: number[] = [];
    for (const item of set.items) {
      if (item.wildcard) {
        let found = false;
        for (const id of this.curStringOrder) {
          if (id.startsWith(item.id) && !id.startsWith("$\0")) {
            out.push(this.curStrings.get(id)!);
            this.referenced.add(id);
            found = true;
          }
        }
        if (item.id === "$") {
          for (const id of this.curStringOrder)
            if (id.startsWith("$\0")) {
              out.push(this.curStrings.get(id)!);
              found = true;
            }
          this.referenced.add("$\0any");
        }
        if (!found)
          throw this.diag(
            "E_UNDEFINED_STRING",
            `undefined string identifier "${item.id}*": no string of this rule starts with ${item.id}`,
            item.pos,
          );
      } else {
        out.push(Number(this.stringRef(item.id, item.pos, { vars: new Map() })));
      }
    }
    return [...new Set(out)];
  }

  /** The two bounds of a range, with YARA's checks of bounds known at compile time. */
  private rangeBounds(r: { lo: Expr; hi: Expr }, scope: Scope): [string, string] {
    const lo = this.expr(r.lo, scope),
      hi = this.expr(r.hi, scope);
    for (const [c, e] of [
      [lo, r.lo],
      [hi, r.hi],
    ] as const)
      if (c.type.k !== "int")
        throw this.diag("E_TYPE", `wrong type for the range: expected an integer, got ${an2(c.type)}`, e.pos);
    const a = constInt(lo),
      b = constInt(hi);
    if (a !== undefined && b !== undefined) {
      if (a > b)
        throw this.diag(
          "E_RANGE",
          `invalid range (${a}..${b}): the lower bound must not exceed the upper one`,
          r.lo.pos,
        );
      if (a < 0n)
        throw this.diag("E_RANGE", `invalid range (${a}..${b}): the lower bound cannot be negative`, r.lo.pos);
    }
    return [lo.code, hi.code];
  }

  private range(r: { lo: Expr; hi: Expr }, scope: Scope): string {
    return this.rangeBounds(r, scope).join(", ");
  }

  private int(e: Expr, scope: Scope, what: string): string {
    const c = this.expr(e, scope);
    if (c.type.k !== "int")
      throw this.diag("E_TYPE", `wrong type for ${what}: expected an integer, got ${an2(c.type)}`, e.pos);
    return c.code;
  }

  private quantifier(q: Quantifier, scope: Scope): { kind: string; n: string; value?: bigint | undefined } {
    if (q.kind !== "expr") return { kind: q.kind, n: "0" };
    const c = this.expr(q.expr, scope);
    if (c.type.k !== "int")
      throw this.diag("E_TYPE", `wrong type for the quantifier: expected an integer, got ${an2(c.type)}`, q.expr.pos);
    const v = constInt(c);
    if (v !== undefined && v < 0n && !q.percent)
      throw this.diag("E_RANGE", `invalid quantifier ${v}: it cannot be negative`, q.expr.pos);
    if (v === 0n && !q.percent)
      this.warn(
        "W_CONSTANT_CONDITION",
        `quantifier 0: consider using the keyword "none", it is less ambiguous`,
        q.expr.pos,
      );
    if (q.percent && q.expr.type === "int" && (Number(q.expr.value) < 1 || Number(q.expr.value) > 100)) {
      throw this.diag("E_RANGE", `percentage must be between 1 and 100, got ${q.expr.value}`, q.expr.pos);
    }
    return { kind: q.percent ? "pct" : "n", n: c.code, value: v };
  }

  /** Code for a quantifier test given the count of true items and the total. */
  private quantTest(q: { kind: string; n: string }, count: string, total: string): string {
    switch (q.kind) {
      case "all":
        return `${count} === ${total}`;
      case "any":
        return `${count} >= 1`;
      case "none":
        return `${count} === 0`;
      case "pct":
        return `h.pct(${count}, ${total}, ${q.n})`;
      default:
        return `h.atLeast(${count}, ${q.n})`;
    }
  }

  expr(e: Expr, scope: Scope): Compiled {
    switch (e.type) {
      case "bool":
        return { code: String(e.value), type: BOOL, constant: true };
      case "int":
        return { code: typeof e.value === "bigint" ? `${e.value}n` : String(e.value), type: INT, constant: true };
      case "float":
        return { code: Number.isFinite(e.value) ? String(e.value) : "NaN", type: FLOAT, constant: true };
      case "string":
        return { code: js(e.value), type: STRING, constant: true };
      case "regex":
        return { code: this.regexConst(e.source, e.flags, e.pos), type: { k: "regex" } };
      case "filesize":
        return { code: "c.size", type: INT };
      case "entrypoint":
        return { code: "c.ep()", type: INT };
      case "paren":
        return this.expr(e.expr, scope);
      case "strMatch": {
        const s = this.stringRef(e.id, e.pos, scope);
        if (e.at || e.range) this.positionalUse(s, scope);
        if (e.at) return { code: `h.at(c.mo[${s}], ${this.int(e.at, scope, "'at'")})`, type: BOOL };
        if (e.range)
          return {
            code: `h.inr(c.mo[${s}], ${this.range(e.range, scope)})`,
            type: BOOL,
          };
        return { code: `(c.mo[${s}].length > 0)`, type: BOOL };
      }
      case "strCount": {
        const s = this.stringRef(e.id, e.pos, scope);
        this.positionalUse(s, scope);
        if (e.range)
          return {
            code: `h.cntin(c.mo[${s}], ${this.range(e.range, scope)})`,
            type: INT,
          };
        return { code: `c.mo[${s}].length`, type: INT };
      }
      case "strOffset":
      case "strLength": {
        const s = this.stringRef(e.id, e.pos, scope);
        this.positionalUse(s, scope);
        const arr = e.type === "strOffset" ? "mo" : "ml";
        const idx = e.index ? this.int(e.index, scope, "the match index") : "1";
        return { code: `h.nth(c.${arr}[${s}], ${idx})`, type: INT };
      }
      case "unary":
        return this.unaryChain(e, scope);
      case "binary":
        return this.binaryChain(e, scope);
      case "ident":
        return this.ident(e.name, e.pos, scope);
      case "field": {
        const obj = this.expr(e.object, scope);
        if (obj.type.k !== "struct")
          throw this.diag(
            "E_TYPE",
            `'${describeExpr(e.object)}' is not a structure: it has no field '${e.name}'`,
            e.pos,
          );
        const f = obj.type.t.fields[e.name];
        if (!f)
          throw this.diag(
            "E_UNDEFINED_IDENTIFIER",
            `unknown field '${e.name}' in '${describeExpr(e.object)}'`,
            e.namePos ? { ...e.namePos, length: e.name.length } : e.pos,
          );
        const code = `h.fld(${obj.code}, ${js(e.name)})`;
        const path = { module: obj.type.path.module, path: [...obj.type.path.path, e.name] };
        return { code, type: fieldToType(f, path, obj.code) };
      }
      case "index": {
        const obj = this.expr(e.object, scope);
        if (obj.type.k === "array") {
          const i = this.int(e.index, scope, "an array index");
          const path = { module: obj.type.path.module, path: [...obj.type.path.path, "[]"] };
          return { code: `h.idx(${obj.code}, ${i})`, type: fieldToType(obj.type.of, path, "undefined") };
        }
        if (obj.type.k === "dict") {
          const k = this.expr(e.index, scope);
          if (k.type.k !== "string")
            throw this.diag(
              "E_TYPE",
              `wrong type for a dictionary key: expected a string, got ${an2(k.type)}`,
              e.index.pos,
            );
          const path = { module: obj.type.path.module, path: [...obj.type.path.path, "[]"] };
          return { code: `h.dget(${obj.code}, ${k.code})`, type: fieldToType(obj.type.of, path, "undefined") };
        }
        throw this.diag("E_TYPE", `'${describeExpr(e.object)}' is not an array or dictionary`, e.pos);
      }
      case "call":
        return this.call(e, scope);
      case "of":
        return this.of(e, scope);
      case "forOf": {
        if (this.loopDepth + 1 > MAX_LOOP_NESTING)
          throw this.diag(
            "E_LIMIT",
            `loop nesting limit exceeded: at most ${MAX_LOOP_NESTING} nested 'for' loops (as yara)`,
            e.pos,
          );
        const sids = this.stringSet(e.strings, e.strings.pos);
        const q = this.quantifier(e.quantifier, scope);
        const v = `s${this.tmp++}`;
        this.loopDepth++;
        let body: string;
        try {
          body = this.toBool(this.expr(e.body, { vars: scope.vars, anonymous: v, anonymousSids: sids }), e.body.pos);
        } finally {
          this.loopDepth--;
        }
        const arr = this.constant(js(sids));
        return { code: this.loop(q, `const ${v} of ${arr}`, body, `${arr}.length`), type: BOOL };
      }
      case "forIn": {
        if (++this.loopDepth > MAX_LOOP_NESTING)
          throw this.diag(
            "E_LIMIT",
            `loop nesting limit exceeded: at most ${MAX_LOOP_NESTING} nested 'for' loops (as yara)`,
            e.pos,
          );
        try {
          return this.forIn(e, scope);
        } finally {
          this.loopDepth--;
        }
      }
    }
  }

  /** A quantified loop as an immediately invoked arrow function with early exits. */
  private loop(
    q: { kind: string; n: string },
    head: string,
    body: string,
    total: string,
    pre = "",
    totalVar?: string,
  ): string {
    const t = `t${this.tmp++}`;
    const exitAny =
      q.kind === "any"
        ? `if (r === true) return true;`
        : q.kind === "none"
          ? `if (r === true) return false;`
          : q.kind === "all"
            ? `if (r !== true) return false;`
            : "";
    return `(() => { ${pre}let ${t} = 0; for (${head}) { const r = ${body}; if (r === true) ${t}++; ${exitAny} } return ${this.quantTest(q, t, totalVar ?? total)}; })()`;
  }

  private forIn(e: Extract<Expr, { type: "forIn" }>, scope: Scope): Compiled {
    const q = this.quantifier(e.quantifier, scope);
    const it = e.iterable;
    const vars = new Map(scope.vars);
    const names = e.vars.map((n) => `v_${n}_${this.tmp++}`);
    if (it.kind === "range") {
      if (e.vars.length !== 1)
        throw this.diag("E_ARGUMENTS", "a range gives one value per iteration: use one loop variable", e.pos);
      const [lo, hi] = this.rangeBounds(it, scope);
      vars.set(e.vars[0]!, { code: names[0]!, type: INT });
      const body = this.toBool(this.expr(e.body, { ...scope, vars }), e.body.pos);
      const L = `lo${this.tmp++}`,
        H = `hi${this.tmp++}`;
      // YARA: a range with an undefined bound, or an empty range, makes the whole loop false
      const pre = `const ${L} = h.num(${lo}), ${H} = h.num(${hi}); if (${L} === undefined || ${H} === undefined || ${L} > ${H}) return false; `;
      // the deadline is checked every 65536 iterations
      const guarded = `((${names[0]} & 0xffff) === 0 && c.tick(), ${body})`;
      return {
        code: this.loop(
          q,
          `let ${names[0]} = ${L}; ${names[0]} <= ${H}; ${names[0]}++`,
          guarded,
          "",
          pre,
          `Math.max(0, ${H} - ${L} + 1)`,
        ),
        type: BOOL,
      };
    }
    if (it.kind === "list") {
      if (e.vars.length !== 1)
        throw this.diag("E_ARGUMENTS", "a list gives one value per iteration: use one loop variable", e.pos);
      const items = it.items.map((x) => this.expr(x, scope));
      const t0 = items[0]!.type;
      for (const [k, x] of items.entries()) {
        if (x.type.k !== t0.k || (t0.k !== "int" && t0.k !== "string"))
          throw this.diag("E_TYPE", "the items of a list must all be integers or all be strings", it.items[k]!.pos);
      }
      vars.set(e.vars[0]!, { code: names[0]!, type: t0 });
      const body = this.toBool(this.expr(e.body, { ...scope, vars }), e.body.pos);
      const A = `a${this.tmp++}`;
      return {
        code: this.loop(
          q,
          `const ${names[0]} of ${A}`,
          body,
          `${A}.length`,
          `const ${A} = [${items.map((x) => x.code).join(", ")}]; `,
        ),
        type: BOOL,
      };
    }
    const obj = this.expr(it.expr, scope);
    if (obj.type.k === "array") {
      if (e.vars.length !== 1)
        throw this.diag("E_ARGUMENTS", "an array gives one value per iteration: use one loop variable", e.pos);
      const path = { module: obj.type.path.module, path: [...obj.type.path.path, "[]"] };
      vars.set(e.vars[0]!, { code: names[0]!, type: fieldToType(obj.type.of, path, "undefined") });
      const body = this.toBool(this.expr(e.body, { ...scope, vars }), e.body.pos);
      const A = `a${this.tmp++}`;
      return {
        code: this.loop(
          q,
          `const ${names[0]} of ${A}`,
          body,
          `${A}.length`,
          `const ${A} = ${obj.code}; if (${A} === undefined) return undefined; `,
        ),
        type: BOOL,
      };
    }
    if (obj.type.k === "dict") {
      if (e.vars.length !== 2)
        throw this.diag(
          "E_ARGUMENTS",
          "a dictionary gives a key and a value per iteration: use two loop variables",
          e.pos,
        );
      const path = { module: obj.type.path.module, path: [...obj.type.path.path, "[]"] };
      vars.set(e.vars[0]!, { code: names[0]!, type: STRING });
      vars.set(e.vars[1]!, { code: names[1]!, type: fieldToType(obj.type.of, path, "undefined") });
      const body = this.toBool(this.expr(e.body, { ...scope, vars }), e.body.pos);
      const A = `a${this.tmp++}`;
      return {
        code: this.loop(
          q,
          `const [${names[0]}, ${names[1]}] of ${A}`,
          body,
          `${A}.size`,
          `const ${A} = ${obj.code}; if (${A} === undefined) return undefined; `,
        ),
        type: BOOL,
      };
    }
    throw this.diag(
      "E_TYPE",
      `'${describeExpr(it.expr)}' cannot be iterated: expected a range, a list, an array or a dictionary`,
      it.expr.pos,
    );
  }

  private of(e: Extract<Expr, { type: "of" }>, scope: Scope): Compiled {
    const q = this.quantifier(e.quantifier, scope);
    if (e.rules) {
      const idx: number[] = [];
      for (const r of e.rules) {
        let found = false;
        for (const [key, i] of this.ruleIndex) {
          const [ns, name] = key.split("\0") as [string, string];
          if (ns !== this.curNamespace) continue;
          if (r.wildcard ? name.startsWith(r.name) : name === r.name) {
            idx.push(i);
            found = true;
          }
        }
        if (r.wildcard) {
          // as in YARA, the rule being defined is in its own set (and false there, like "rule x { condition: x }")
          if (this.curRule?.startsWith(r.name)) {
            idx.push(this.curRuleIdx);
            found = true;
          }
          let list = this.ruleWildcards.get(this.curNamespace);
          if (!list) this.ruleWildcards.set(this.curNamespace, (list = []));
          list.push({ prefix: r.name, rule: this.curRule ?? "" });
        }
        if (!found)
          throw this.diag(
            "E_UNDEFINED_IDENTIFIER",
            `undefined identifier "${r.name}${r.wildcard ? "*" : ""}": rules in a set must be defined before the rule that uses them`,
            r.pos,
          );
      }
      const set = [...new Set(idx)];
      this.checkQuantity(e, set.length, q.value);
      const arr = this.constant(js(set));
      return { code: `(${this.quantTest(q, `h.countRules(c, ${arr})`, `${arr}.length`)})`, type: BOOL };
    }
    const sids = this.stringSet(e.strings!, e.strings!.pos);
    if (e.at || e.range) for (const sid of sids) this.positional.add(sid);
    this.checkQuantity(e, sids.length, q.value);
    const arr = this.constant(js(sids));
    let count: string;
    if (e.at) count = `h.countAt(c, ${arr}, ${this.int(e.at, scope, "'at'")})`;
    else if (e.range) count = `h.countIn(c, ${arr}, ${this.range(e.range, scope)})`;
    else count = `h.countMatched(c, ${arr})`;
    if (q.kind === "any" && !e.at && !e.range) return { code: `h.anyMatched(c, ${arr})`, type: BOOL };
    return { code: `h.quant(${count}, ${arr}.length, ${js(q.kind)}, ${q.n})`, type: BOOL };
  }

  /** YARA 4.5's warnings for `N of SET` that can never be true. */
  private checkQuantity(e: Extract<Expr, { type: "of" }>, size: number, value: bigint | undefined): void {
    const q = e.quantifier;
    const n = q.kind === "expr" && !q.percent ? value : undefined;
    if (n !== undefined && n > BigInt(size))
      this.warn(
        "W_CONSTANT_CONDITION",
        `expression always false: requesting ${n} of ${size} ${e.rules ? "rules" : "strings"}`,
        q.kind === "expr" ? q.expr.pos : e.pos,
      );
    if (e.at && ((n !== undefined && n > 1n) || (q.kind === "all" && size > 1)))
      this.warn("W_CONSTANT_CONDITION", "multiple strings at one offset: this is usually false", e.pos);
  }

  private ident(name: string, pos: Pos, scope: Scope): Compiled {
    const v = scope.vars.get(name);
    if (v) return { code: v.code, type: v.type };
    const ri = this.ruleIndex.get(this.curNamespace + "\0" + name);
    if (ri !== undefined) return { code: `(c.r[${ri}] === 1)`, type: BOOL };
    if (this.externals.has(name)) {
      const val = this.externals.get(name)!;
      const type =
        typeof val === "boolean"
          ? BOOL
          : typeof val === "string"
            ? STRING
            : typeof val === "number" && !Number.isInteger(val)
              ? FLOAT
              : INT;
      return { code: `c.ext[${js(name)}]`, type };
    }
    const mod = builtinModules.get(name);
    if (mod && this.imported.has(name)) {
      this.modulesUsed.add(name);
      return { code: `c.m[${js(name)}]`, type: { k: "struct", t: mod.declarations, path: { module: name, path: [] } } };
    }
    if (mod)
      throw this.diag(
        "E_MODULE_NOT_IMPORTED",
        `undefined identifier "${name}": add import "${name}" at the top of the file`,
        { ...pos, length: name.length },
      );
    throw this.diag("E_UNDEFINED_IDENTIFIER", `undefined identifier "${name}"`, { ...pos, length: name.length });
  }

  private call(e: Extract<Expr, { type: "call" }>, scope: Scope): Compiled {
    if (e.callee.type === "ident" && /^u?int(8|16|32)(be)?$/.test(e.callee.name) && !scope.vars.has(e.callee.name)) {
      if (e.args.length !== 1) throw this.diag("E_ARGUMENTS", `${e.callee.name} takes one argument (an offset)`, e.pos);
      const off = this.int(e.args[0]!, scope, `the argument of ${e.callee.name}`);
      return { code: `h.${e.callee.name}(c.data, ${off})`, type: INT };
    }
    const callee = this.expr(e.callee, scope);
    if (callee.type.k !== "func") throw this.diag("E_TYPE", `'${describeExpr(e.callee)}' is not a function`, e.pos);
    const args = e.args.map((a) => this.expr(a, scope));
    const codes = args.map((a) =>
      a.type.k === "bool"
        ? "i"
        : a.type.k === "int"
          ? "i"
          : a.type.k === "float"
            ? "f"
            : a.type.k === "string"
              ? "s"
              : a.type.k === "regex"
                ? "r"
                : "?",
    );
    let chosen = -1;
    callee.type.overloads.forEach((o, i) => {
      if (
        chosen < 0 &&
        o.args.length === codes.length &&
        o.args.every((a, k) => a === codes[k] || (a === "f" && codes[k] === "i"))
      )
        chosen = i;
    });
    if (chosen < 0) {
      const sigs = callee.type.overloads
        .map((o) => `(${o.args.map((a) => ({ i: "integer", f: "float", s: "string", r: "regexp" })[a]).join(", ")})`)
        .join(" or ");
      throw this.diag(
        "E_ARGUMENTS",
        `wrong arguments for '${describeExpr(e.callee)}': got (${args.map((a) => typeName(a.type)).join(", ")}), expected ${sigs}`,
        e.pos,
      );
    }
    const ref: FunctionRef = { module: callee.type.path.module, path: callee.type.path.path, overload: chosen };
    const key = JSON.stringify(ref);
    let fi = this.functionIndex.get(key);
    if (fi === undefined) {
      fi = this.functions.length;
      this.functions.push(ref);
      this.functionIndex.set(key, fi);
    }
    const overload = callee.type.overloads[chosen]!;
    const argCode = args.map((a, k) =>
      a.type.k === "regex"
        ? `h.reArg(${a.code})`
        : a.type.k === "bool"
          ? `h.b2i(${a.code})`
          : overload.args[k] === "f"
            ? `h.num(${a.code})`
            : a.code,
    );
    const ret = overload.returns === "integer" ? INT : overload.returns === "float" ? FLOAT : STRING;
    const selfCode = e.callee.type === "field" ? this.expr(e.callee.object, scope).code : "undefined";
    return { code: `h.call(c, ${fi}, ${selfCode}${argCode.map((a) => ", " + a).join("")})`, type: ret };
  }

  /**
   * A run of prefix operators (`not not ...`, `- ~ - ...`), compiled in a loop from the inside
   * out: generated conditions may hold thousands of them, more than recursion allows.
   */
  private unaryChain(e: Extract<Expr, { type: "unary" }>, scope: Scope): Compiled {
    const ops: Array<Extract<Expr, { type: "unary" }>> = [];
    let cur: Expr = e;
    while (cur.type === "unary") {
      ops.push(cur);
      cur = cur.operand;
    }
    const chain = new CodeChain(`u${this.tmp++}`);
    let acc = this.expr(cur, scope);
    for (let k = ops.length - 1; k >= 0; k--) acc = chain.step(this.unary(ops[k]!, acc), k === 0);
    return chain.close(acc);
  }

  private unary(e: Extract<Expr, { type: "unary" }>, c: Compiled): Compiled {
    if (e.op === "not") return { code: `h.not(${this.toBool(c, e.operand.pos)})`, type: BOOL };
    if (e.op === "defined") return { code: `(${c.code} !== undefined)`, type: BOOL };
    if (e.op === "-") {
      const v = constInt(c);
      if (v !== undefined) return intConstant(-v); // YARA folds constants, wrapping as int64
      if (c.type.k === "int") return { code: `h.neg(${c.code})`, type: INT };
      if (c.type.k === "float") return { code: `h.fneg(${c.code})`, type: FLOAT };
      throw this.diag("E_TYPE", `wrong type for '-': expected a number, got ${an2(c.type)}`, e.pos);
    }
    if (c.type.k !== "int")
      throw this.diag("E_TYPE", `wrong type for '~': expected an integer, got ${an2(c.type)}`, e.pos);
    const v = constInt(c);
    if (v !== undefined) return intConstant(~v);
    return { code: `h.bnot(${c.code})`, type: INT };
  }

  /**
   * A left-associative chain of binary operators (`a or b or c ...`, `1 + 2 + ...`): the parser
   * builds it as a tree as deep as the chain is long, so it is compiled walking down the left
   * spine in a loop; the emitted code is flattened into statements every few steps, so that
   * neither this compiler nor V8's parser nests as deep as the chain is long.
   */
  private binaryChain(e: Extract<Expr, { type: "binary" }>, scope: Scope): Compiled {
    const spine: Array<Extract<Expr, { type: "binary" }>> = [];
    let cur: Expr = e;
    while (cur.type === "binary") {
      spine.push(cur);
      cur = cur.left;
    }
    const chain = new CodeChain(`b${this.tmp++}`);
    let acc = this.expr(cur, scope);
    for (let k = spine.length - 1; k >= 0; k--) acc = chain.step(this.binary(spine[k]!, acc, scope), k === 0);
    return chain.close(acc);
  }

  /** One binary operator whose left operand `l` is already compiled. */
  private binary(e: Extract<Expr, { type: "binary" }>, l: Compiled, scope: Scope): Compiled {
    const op = e.op;
    if (op === "and" || op === "or") {
      const lb = this.toBool(l, e.left.pos);
      const r = this.toBool(this.expr(e.right, scope), e.right.pos);
      // YARA: "and" and "or" are never undefined (an undefined operand counts as false)
      if (op === "and") return { code: `((${lb}) === true && (${r}) === true)`, type: BOOL };
      return { code: `((${lb}) === true || (${r}) === true)`, type: BOOL };
    }
    if (op === "matches") {
      if (l.type.k !== "string")
        throw this.diag(
          "E_TYPE",
          `wrong type for 'matches': the left side must be a string, got ${an2(l.type)}`,
          e.pos,
        );
      const r = this.expr(e.right, scope);
      return { code: `h.matches(${l.code}, ${r.code})`, type: BOOL };
    }
    const r = this.expr(e.right, scope);
    const lt = l.type.k,
      rt = r.type.k;
    const num = (k: string) => k === "int" || k === "float";
    switch (op) {
      case "contains":
      case "icontains":
      case "startswith":
      case "istartswith":
      case "endswith":
      case "iendswith":
      case "iequals":
        if (lt !== "string" || rt !== "string")
          throw this.diag(
            "E_TYPE",
            `wrong type for '${op}': both sides must be strings, got ${typeName(l.type)} and ${typeName(r.type)}`,
            opAt(e),
          );
        return { code: `h.${op}(${l.code}, ${r.code})`, type: BOOL };
      case "==":
      case "!=":
      case "<":
      case "<=":
      case ">":
      case ">=": {
        // as in YARA's grammar, booleans cannot be compared (true == true is an error)
        const ok = (num(lt) && num(rt)) || (lt === "string" && rt === "string");
        if (!ok)
          throw this.diag(
            "E_TYPE",
            `wrong type: '${op}' cannot compare ${an(typeName(l.type))} with ${an(typeName(r.type))}`,
            opAt(e),
          );
        const name = { "==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge" }[op];
        return { code: `h.${name}(${l.code}, ${r.code})`, type: BOOL };
      }
      case "+":
      case "-":
      case "*":
      case "\\":
      case "%": {
        if (!num(lt) || !num(rt))
          throw this.diag(
            "E_TYPE",
            `wrong type for '${op}': expected numbers, got ${typeName(l.type)} and ${typeName(r.type)}`,
            opAt(e),
          );
        if (op === "%" && (lt !== "int" || rt !== "int"))
          throw this.diag("E_TYPE", "wrong type for '%': expected integers", opAt(e));
        const isFloat = lt === "float" || rt === "float";
        const name = { "+": "add", "-": "sub", "*": "mul", "\\": "div", "%": "mod" }[op];
        const a = constInt(l),
          b = constInt(r);
        if ((op === "\\" || op === "%") && b === 0n) throw this.diag("E_RANGE", "division by zero", e.right.pos);
        if (a !== undefined && b !== undefined) {
          // constant folding, with YARA's compile-time overflow checks (that of '*' is YARA's
          // conservative one: |a| > INT64_MAX / |b| is an overflow even when a * b == INT64_MIN)
          const abs = (x: bigint) => (x < 0n ? -x : x);
          const overflow =
            op === "+"
              ? a + b > INT64_MAX || a + b < INT64_MIN
              : op === "-"
                ? a - b > INT64_MAX || a - b < INT64_MIN
                : op === "*"
                  ? b !== 0n && abs(a) > INT64_MAX / abs(b)
                  : op === "\\" && a === INT64_MIN && b === -1n;
          if (overflow) throw this.diag("E_RANGE", `integer overflow in "${a} ${op} ${b}"`, opAt(e));
          if (op === "%") return intConstant(a % b);
          return intConstant(op === "+" ? a + b : op === "-" ? a - b : op === "*" ? a * b : a / b);
        }
        return { code: `h.${isFloat ? "f" : ""}${name}(${l.code}, ${r.code})`, type: isFloat ? FLOAT : INT };
      }
      case "&":
      case "|":
      case "^":
      case "<<":
      case ">>": {
        if (lt !== "int" || rt !== "int")
          throw this.diag(
            "E_TYPE",
            `wrong type for '${op}': expected integers, got ${typeName(l.type)} and ${typeName(r.type)}`,
            opAt(e),
          );
        const a = constInt(l),
          b = constInt(r);
        if ((op === "<<" || op === ">>") && b !== undefined && b < 0n)
          throw this.diag("E_RANGE", `invalid operand: cannot shift by a negative amount (${b})`, e.right.pos);
        if (a !== undefined && b !== undefined) {
          if (op === "<<" || op === ">>") return intConstant(b >= 64n ? 0n : op === "<<" ? a << b : a >> b);
          return intConstant(op === "&" ? a & b : op === "|" ? a | b : a ^ b);
        }
        const name = { "&": "band", "|": "bor", "^": "bxor", "<<": "shl", ">>": "shr" }[op];
        return { code: `h.${name}(${l.code}, ${r.code})`, type: INT };
      }
    }
    throw this.diag("E_SYNTAX", `unsupported operator ${op}`, e.pos);
  }

  /**
   * When the emitted condition code as a whole does not load (V8's parser has a nesting limit
   * of its own), finds the first rule whose condition alone does not, and gives a diagnostic
   * at that rule instead of a failure of the whole rule set.
   */
  codeDiagnostic(): Diagnostic | undefined {
    for (let i = 0; i < this.ruleCode.length; i++) {
      try {
        new Function("h", `"use strict"; return ${this.ruleCode[i]};`);
      } catch {
        const site = this.ruleSites[i]!;
        return {
          code: "E_LIMIT",
          message: `the condition of rule "${site.name}" is nested too deeply to be compiled: simplify it (fewer nested parentheses or loops)`,
          line: site.pos.line,
          column: site.pos.column,
          path: site.path,
          rule: site.name,
          sourceLine: lineAt(site.source, site.pos.offset),
        };
      }
    }
    return undefined;
  }

  finish(): RuleSetData {
    const code = [
      `"use strict";`,
      ...this.consts.map((c, i) => `const K${i} = ${c};`),
      `return [`,
      this.ruleCode.join(",\n"),
      `];`,
    ].join("\n");
    return {
      format: "vigil-rules",
      version: 1,
      rules: this.rules,
      strings: this.strings,
      code,
      functions: this.functions,
      modules: [...this.modulesUsed],
      externals: [...this.externals].map(([k, v]) => [k, typeof v === "bigint" ? { bigint: v.toString() } : v]),
      namespaces: this.namespaces,
    };
  }
}

/**
 * Emitted code for a chain of operators, each step wrapping the code of the previous one. Past
 * FLUSH_EVERY wrapped steps the code so far is assigned to a variable, and the chain becomes a
 * sequence of statements in an arrow function called in place: the nesting of the emitted
 * code stays bounded however long the chain (V8's parser overflows its stack past about a
 * thousand nested calls). Evaluation order and short-circuits are those of the nested form.
 */
const FLUSH_EVERY = 16;
class CodeChain {
  private stmts: string[] = [];
  private depth = 0;
  constructor(private readonly v: string) {}
  step(c: Compiled, last: boolean): Compiled {
    if (c.constant || last || ++this.depth < FLUSH_EVERY) return c;
    this.stmts.push(`${this.stmts.length ? "" : "let "}${this.v} = ${c.code};`);
    this.depth = 0;
    return { code: this.v, type: c.type };
  }
  close(c: Compiled): Compiled {
    if (!this.stmts.length) return c;
    return { code: `(() => { ${this.stmts.join(" ")} return ${c.code}; })()`, type: c.type };
  }
}

/**
 * True when `e` cannot evaluate to true while every string of the rule has no match: then the
 * rule need not be evaluated for data in which none of its strings matched. Conservative.
 */
export function needsMatch(e: Expr): boolean {
  switch (e.type) {
    case "paren":
      return needsMatch(e.expr);
    case "strMatch":
      return e.id !== "$";
    case "binary":
      if (e.op === "and" || e.op === "or") {
        // a chain of and/or is a left spine as deep as the chain is long: walk it in a loop
        const spine: Array<Extract<Expr, { type: "binary" }>> = [];
        let cur: Expr = e;
        while (cur.type === "binary" && (cur.op === "and" || cur.op === "or")) {
          spine.push(cur);
          cur = cur.left;
        }
        let v = needsMatch(cur);
        for (let k = spine.length - 1; k >= 0; k--) {
          const s = spine[k]!;
          v = s.op === "and" ? v || needsMatch(s.right) : v && needsMatch(s.right);
        }
        return v;
      }
      // #a > N, #a >= N (N >= 1): false when #a is 0
      if (e.left.type === "strCount" && !e.left.range && e.right.type === "int") {
        const n = Number(e.right.value);
        return (e.op === ">" && n >= 0) || (e.op === ">=" && n >= 1) || (e.op === "==" && n >= 1);
      }
      return false;
    case "of":
      if (!e.strings || e.quantifier.kind === "none") return false;
      if (e.quantifier.kind === "any" || e.quantifier.kind === "all") return true;
      return e.quantifier.kind === "expr" && e.quantifier.expr.type === "int" && Number(e.quantifier.expr.value) >= 1;
    default:
      return false;
  }
}

/** The direct subexpressions of `e`. */
function children(e: Expr): Expr[] {
  switch (e.type) {
    case "paren":
      return [e.expr];
    case "field":
      return [e.object];
    case "index":
      return [e.object, e.index];
    case "call":
      return [e.callee, ...e.args];
    case "strMatch":
      return [...(e.at ? [e.at] : []), ...(e.range ? [e.range.lo, e.range.hi] : [])];
    case "strCount":
      return e.range ? [e.range.lo, e.range.hi] : [];
    case "strOffset":
    case "strLength":
      return e.index ? [e.index] : [];
    case "unary":
      return [e.operand];
    case "binary":
      return [e.left, e.right];
    case "of":
      return [
        ...(e.quantifier.kind === "expr" ? [e.quantifier.expr] : []),
        ...(e.at ? [e.at] : []),
        ...(e.range ? [e.range.lo, e.range.hi] : []),
      ];
    case "forIn": {
      const it = e.iterable;
      const its = it.kind === "range" ? [it.lo, it.hi] : it.kind === "list" ? it.items : [it.expr];
      return [...(e.quantifier.kind === "expr" ? [e.quantifier.expr] : []), ...its, e.body];
    }
    case "forOf":
      return [...(e.quantifier.kind === "expr" ? [e.quantifier.expr] : []), e.body];
    default:
      return [];
  }
}

/**
 * True when `e` reads nothing of the string matches or of other rules' results (identifiers
 * that name a rule count as reading one). Walks with an explicit stack: generated conditions
 * are deeper than recursion allows.
 */
function independent(e: Expr, isRule: (name: string) => boolean): boolean {
  const stack: Expr[] = [e];
  while (stack.length) {
    const x = stack.pop()!;
    switch (x.type) {
      case "strMatch":
      case "strCount":
      case "strOffset":
      case "strLength":
      case "forOf":
        return false;
      case "of":
        return false;
      case "ident":
        if (isRule(x.name)) return false;
        break;
      default:
        break;
    }
    for (const c of children(x)) stack.push(c);
  }
  return true;
}

/**
 * True when `e`, evaluated as a boolean on a subset of the string matches, can only go from
 * false to true as matches are added: then a true value found on the matches recorded before a
 * scan limit is final. Conservative: anything it does not recognise is not monotone.
 * `ruleMonotone(name)` says whether the rule of that name (earlier in the namespace) is; it
 * returns undefined for names that are not rules. `prefixMonotone(p)` says whether all rules
 * whose names start with p are.
 */
export function monotone(
  e: Expr,
  ruleMonotone: (name: string) => boolean | undefined,
  prefixMonotone: (prefix: string) => boolean,
): boolean {
  const isRule = (n: string) => ruleMonotone(n) !== undefined;
  const indep = (x: Expr) => independent(x, isRule);
  const quantifierOk = (q: Quantifier) => q.kind === "any" || q.kind === "all" || (q.kind === "expr" && indep(q.expr));
  const up = (x: Expr): boolean => {
    switch (x.type) {
      case "paren":
        return up(x.expr);
      case "strMatch":
        return (!x.at || indep(x.at)) && (!x.range || (indep(x.range.lo) && indep(x.range.hi)));
      case "strCount":
        return !x.range || (indep(x.range.lo) && indep(x.range.hi));
      case "ident": {
        const m = ruleMonotone(x.name);
        return m === undefined ? indep(x) : m;
      }
      case "unary":
        return indep(x);
      case "binary": {
        if (x.op === "and" || x.op === "or") {
          // the left spine of a chain, in a loop
          let cur: Expr = x;
          while (cur.type === "binary" && (cur.op === "and" || cur.op === "or")) {
            if (!up(cur.right)) return false;
            cur = cur.left;
          }
          return up(cur);
        }
        const count = (y: Expr) => y.type === "strCount" && (!y.range || (indep(y.range.lo) && indep(y.range.hi)));
        if ((x.op === ">" || x.op === ">=") && count(x.left) && indep(x.right)) return true;
        if ((x.op === "<" || x.op === "<=") && count(x.right) && indep(x.left)) return true;
        return indep(x);
      }
      case "of": {
        if (!quantifierOk(x.quantifier)) return false;
        if ((x.at && !indep(x.at)) || (x.range && !(indep(x.range.lo) && indep(x.range.hi)))) return false;
        if (x.rules) return x.rules.every((r) => (r.wildcard ? prefixMonotone(r.name) : ruleMonotone(r.name) === true));
        return true;
      }
      case "forOf":
        return quantifierOk(x.quantifier) && up(x.body);
      case "forIn": {
        const it = x.iterable;
        const its = it.kind === "range" ? [it.lo, it.hi] : it.kind === "list" ? it.items : [it.expr];
        return quantifierOk(x.quantifier) && its.every(indep) && up(x.body);
      }
      default:
        return indep(x);
    }
  };
  return up(e);
}

function describeExpr(e: Expr): string {
  switch (e.type) {
    case "ident":
      return e.name;
    case "field":
      return `${describeExpr(e.object)}.${e.name}`;
    case "index":
      return `${describeExpr(e.object)}[...]`;
    case "call":
      return `${describeExpr(e.callee)}(...)`;
    default:
      return e.type;
  }
}
