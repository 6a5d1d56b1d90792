/**
 * Source text -> tokens -> AST. A hand-written lexer and recursive-descent parser for the
 * YARA language (YARA 4.5's grammar). The source is a byte string (latin1: one char per
 * byte). The first syntax error stops parsing, as in YARA, and is thrown as a DiagnosticError
 * carrying the file, line and column.
 */
import type {
  BinaryOp,
  Expr,
  HexNode,
  Import,
  Include,
  Iterable,
  Meta,
  Pos,
  Quantifier,
  Rule,
  RuleFile,
  RuleSetItem,
  StringDef,
  StringModifiers,
  StringSet,
} from "./ast.js";
import { DiagnosticError, type DiagnosticCode } from "./error.js";

type TokKind =
  | "ident"
  | "keyword"
  | "strid"
  | "strcount"
  | "stroffset"
  | "strlength"
  | "int"
  | "float"
  | "text"
  | "regex"
  | "hex"
  | "punct"
  | "eof";

interface Token {
  kind: TokKind;
  value: string;
  /** numbers: the parsed value. */
  num?: number | bigint;
  /** regex flags. */
  flags?: string;
  pos: Pos;
}

const KEYWORDS = new Set([
  "all",
  "and",
  "any",
  "ascii",
  "at",
  "base64",
  "base64wide",
  "condition",
  "contains",
  "defined",
  "endswith",
  "entrypoint",
  "false",
  "filesize",
  "for",
  "fullword",
  "global",
  "icontains",
  "iendswith",
  "iequals",
  "import",
  "in",
  "include",
  "istartswith",
  "matches",
  "meta",
  "nocase",
  "none",
  "not",
  "of",
  "or",
  "private",
  "rule",
  "startswith",
  "strings",
  "them",
  "true",
  "wide",
  "xor",
]);

const PUNCT3 = ["..."];
const PUNCT2 = ["..", "==", "!=", "<=", ">=", "<<", ">>"];
const PUNCT1 = "{}()[]:=,.<>+-*\\%&|^~";

const INT64_MAX = (1n << 63n) - 1n;

/** Longest regular expression body, as yara's lexer buffer allows (8,192 bytes with its terminator and one spare). */
export const MAX_REGEX_LENGTH = 8190;

export interface ParseOptions {
  path?: string | undefined;
}

/** Converts a JS string that may hold characters above 0xFF into the UTF-8 byte string form. */
export function toByteString(source: string): string {
  return WIDE_CHAR.test(source) ? Buffer.from(source, "utf8").toString("latin1") : source;
}
const WIDE_CHAR = /[^\0-\xff]/;

export function parse(source: string, options: ParseOptions = {}): RuleFile {
  return new Parser(toByteString(source), options.path).parseFile();
}

/**
 * parse() of a byte string that hands each rule to `onRule` as soon as it is parsed, with the
 * imports read so far; a rule for which `onRule` returns true is left out of the file's rules
 * (compile() compiles a large file's rules as they come instead of holding its whole AST).
 */
export function parseEachRule(
  source: string,
  options: ParseOptions,
  onRule: (rule: Rule, imports: readonly Import[]) => boolean,
): RuleFile {
  return new Parser(source, options.path).parseFile(onRule);
}

class Lexer {
  private i = 0;
  private line = 1;
  private lineStart = 0;
  constructor(
    readonly src: string,
    readonly path: string | undefined,
  ) {}

  pos(): Pos {
    return { line: this.line, column: this.i - this.lineStart + 1, offset: this.i };
  }

  fail(code: DiagnosticCode, message: string, pos: Pos = this.pos()): never {
    throw new DiagnosticError({
      code,
      message,
      line: pos.line,
      column: pos.column,
      path: this.path,
      sourceLine: lineAt(this.src, pos.offset),
    });
  }

  private skipSpace(): void {
    const s = this.src;
    for (;;) {
      const c = s.charCodeAt(this.i);
      if (c === 10) {
        this.i++;
        this.line++;
        this.lineStart = this.i;
        continue;
      }
      if (c === 32 || c === 9 || c === 13 || c === 11 || c === 12) {
        this.i++;
        continue;
      }
      if (c === 47 /* / */) {
        const d = s.charCodeAt(this.i + 1);
        if (d === 47) {
          while (this.i < s.length && s.charCodeAt(this.i) !== 10) this.i++;
          continue;
        }
        if (d === 42) {
          const start = this.pos();
          this.i += 2;
          for (;;) {
            if (this.i >= s.length) this.fail("E_UNTERMINATED", "unterminated comment: add */", start);
            if (s.charCodeAt(this.i) === 42 && s.charCodeAt(this.i + 1) === 47) {
              this.i += 2;
              break;
            }
            if (s.charCodeAt(this.i) === 10) {
              this.line++;
              this.lineStart = this.i + 1;
            }
            this.i++;
          }
          continue;
        }
      }
      return;
    }
  }

  /** Next token. `regexAllowed` and `hexAllowed` say whether `/` and `{` start a regex / hex string here. */
  next(ctx: { regex: boolean; hex: boolean }): Token {
    this.skipSpace();
    const s = this.src;
    const pos = this.pos();
    if (this.i >= s.length) return { kind: "eof", value: "", pos };
    const c = s[this.i]!;
    if (isIdentStart(c)) {
      const start = this.i;
      while (this.i < s.length && isIdentChar(s[this.i]!)) this.i++;
      const word = s.slice(start, this.i);
      if (word.length > 128)
        this.fail("E_SYNTAX", `identifier '${word.slice(0, 20)}...' is longer than 128 characters`, pos);
      return { kind: KEYWORDS.has(word) ? "keyword" : "ident", value: word, pos };
    }
    if (c === "$" || c === "#" || c === "@" || (c === "!" && isIdentStart(s[this.i + 1] ?? "") && ctx.regex)) {
      const start = this.i++;
      while (this.i < s.length && isIdentChar(s[this.i]!)) this.i++;
      if (c === "$" && s[this.i] === "*") this.i++;
      const text = s.slice(start, this.i);
      const kind: TokKind = c === "$" ? "strid" : c === "#" ? "strcount" : c === "@" ? "stroffset" : "strlength";
      return { kind, value: text, pos };
    }
    if (isDigit(c)) return this.number(pos);
    if (c === '"') return this.text(pos);
    if (c === "/" && ctx.regex) return this.regex(pos);
    if (c === "{" && ctx.hex) return this.hex(pos);
    for (const p of PUNCT3)
      if (s.startsWith(p, this.i)) {
        this.i += 3;
        return { kind: "punct", value: p, pos };
      }
    for (const p of PUNCT2)
      if (s.startsWith(p, this.i)) {
        this.i += 2;
        return { kind: "punct", value: p, pos };
      }
    if (PUNCT1.includes(c)) {
      this.i++;
      return { kind: "punct", value: c, pos };
    }
    this.fail("E_SYNTAX", `unexpected character ${describeChar(c)}`, pos);
  }

  private number(pos: Pos): Token {
    const s = this.src;
    const start = this.i;
    let value: bigint;
    if (s[this.i] === "0" && (s[this.i + 1] === "x" || s[this.i + 1] === "X")) {
      this.i += 2;
      const d0 = this.i;
      while (this.i < s.length && isHexDigit(s.charCodeAt(this.i))) this.i++;
      if (this.i === d0) this.fail("E_NUMBER", "hexadecimal number without digits after 0x", pos);
      value = BigInt("0x" + s.slice(d0, this.i));
    } else if (s[this.i] === "0" && s[this.i + 1] === "o") {
      this.i += 2;
      const d0 = this.i;
      while (/[0-7]/.test(s[this.i] ?? "")) this.i++;
      if (this.i === d0) this.fail("E_NUMBER", "octal number without digits after 0o", pos);
      value = BigInt("0o" + s.slice(d0, this.i));
    } else {
      while (isDigit(s[this.i] ?? "")) this.i++;
      if (s[this.i] === "." && isDigit(s[this.i + 1] ?? "")) {
        this.i++;
        while (isDigit(s[this.i] ?? "")) this.i++;
        const text = s.slice(start, this.i);
        return { kind: "float", value: text, num: Number(text), pos };
      }
      value = BigInt(s.slice(start, this.i));
    }
    if (s.startsWith("KB", this.i)) {
      value *= 1024n;
      this.i += 2;
    } else if (s.startsWith("MB", this.i)) {
      value *= 1048576n;
      this.i += 2;
    }
    if (isIdentChar(s[this.i] ?? "")) this.fail("E_NUMBER", `invalid number '${s.slice(start, this.i + 1)}'`, pos);
    if (value > INT64_MAX)
      this.fail("E_NUMBER", `integer ${s.slice(start, this.i)} is too large: integers are signed 64-bit`, pos);
    return { kind: "int", value: s.slice(start, this.i), num: narrow(value), pos };
  }

  private text(pos: Pos): Token {
    const s = this.src;
    this.i++;
    // runs of plain characters are sliced from the source, not appended one by one (a string
    // built per character is a chain of one cons-string per character: 17 MB on a large feed)
    let out = "";
    let run = this.i;
    for (;;) {
      if (this.i >= s.length || s.charCodeAt(this.i) === 10)
        this.fail("E_UNTERMINATED", 'unterminated string: add the closing "', pos);
      const k = s.charCodeAt(this.i);
      if (k === 34 /* " */) {
        out = run === this.i ? out : out === "" ? s.slice(run, this.i) : out + s.slice(run, this.i);
        this.i++;
        break;
      }
      if (k === 92 /* \ */) {
        if (run < this.i) out += s.slice(run, this.i);
        const e = s[this.i + 1];
        const epos = this.pos();
        this.i += 2;
        switch (e) {
          case '"':
            out += '"';
            break;
          case "\\":
            out += "\\";
            break;
          case "t":
            out += "\t";
            break;
          case "n":
            out += "\n";
            break;
          case "r":
            out += "\r";
            break;
          case "x": {
            const h = s.slice(this.i, this.i + 2);
            if (!/^[0-9a-fA-F]{2}$/.test(h))
              this.fail("E_ESCAPE", `illegal escape sequence '\\x${h}': \\x takes two hexadecimal digits`, epos);
            out += String.fromCharCode(parseInt(h, 16));
            this.i += 2;
            break;
          }
          default:
            this.fail("E_ESCAPE", `illegal escape sequence '\\${e ?? ""}' (allowed: \\" \\\\ \\t \\n \\r \\xHH)`, epos);
        }
        run = this.i;
        continue;
      }
      this.i++;
    }
    return { kind: "text", value: out, pos };
  }

  private regex(pos: Pos): Token {
    const s = this.src;
    this.i++;
    let body = "";
    let run = this.i; // start of the run of characters not yet added to body (sliced, as in text())
    let inClass = false;
    for (;;) {
      if (this.i >= s.length || s.charCodeAt(this.i) === 10)
        this.fail("E_UNTERMINATED", "unterminated regular expression: add the closing /", pos);
      const k = s.charCodeAt(this.i);
      if (k === 92 /* \ */) {
        const next = s.charCodeAt(this.i + 1);
        if (this.i + 1 >= s.length || next === 10)
          this.fail("E_UNTERMINATED", "unterminated regular expression: add the closing /", pos);
        if (next === 47 /* / */) {
          // "\/" is an escaped slash: the regex sees "/".
          body += s.slice(run, this.i) + "/";
          run = this.i + 2;
        }
        this.i += 2;
        continue;
      }
      if (k === 91 /* [ */) inClass = true;
      else if (k === 93 /* ] */) inClass = false;
      if (k === 47 /* / */ && !inClass) {
        body = body === "" ? s.slice(run, this.i) : body + s.slice(run, this.i);
        this.i++;
        break;
      }
      this.i++;
    }
    let flags = "";
    while (s[this.i] === "i" || s[this.i] === "s") {
      if (!flags.includes(s[this.i]!)) flags += s[this.i];
      this.i++;
    }
    if (body === "") this.fail("E_REGEX", "empty regular expression", pos);
    if (body.length > MAX_REGEX_LENGTH) {
      this.fail(
        "E_LIMIT",
        `regular expression of ${body.length} bytes is longer than the limit of ${MAX_REGEX_LENGTH} bytes (yara's): split it, or write a literal as a hex string`,
        pos,
      );
    }
    return { kind: "regex", value: body, flags, pos };
  }

  private hex(pos: Pos): Token {
    const s = this.src;
    const start = this.i + 1;
    this.i++;
    for (;;) {
      if (this.i >= s.length) this.fail("E_UNTERMINATED", "unterminated hex string: add the closing }", pos);
      const c = s.charCodeAt(this.i);
      if (c === 125 /* } */) break;
      if (c === 10) {
        this.line++;
        this.lineStart = this.i + 1;
      }
      if (c === 47 /* / */ && s.charCodeAt(this.i + 1) === 47) {
        while (this.i < s.length && s.charCodeAt(this.i) !== 10) this.i++;
        continue;
      }
      if (c === 47 /* / */ && s.charCodeAt(this.i + 1) === 42 /* * */) {
        const end = s.indexOf("*/", this.i + 2);
        if (end < 0) this.fail("E_UNTERMINATED", "unterminated comment in hex string", this.pos());
        for (let k = this.i; k < end; k++)
          if (s[k] === "\n") {
            this.line++;
            this.lineStart = k + 1;
          }
        this.i = end + 2;
        continue;
      }
      this.i++;
    }
    const body = s.slice(start, this.i);
    this.i++;
    return { kind: "hex", value: body, pos };
  }
}

function narrow(v: bigint): number | bigint {
  return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
}
function isDigit(c: string): boolean {
  return c >= "0" && c <= "9";
}
function isHexDigit(k: number): boolean {
  return (k >= 48 && k <= 57) || (k >= 65 && k <= 70) || (k >= 97 && k <= 102);
}
function isIdentStart(c: string): boolean {
  return (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c === "_";
}
function isIdentChar(c: string): boolean {
  return isIdentStart(c) || isDigit(c);
}
function describeChar(c: string): string {
  const code = c.charCodeAt(0);
  return code >= 0x21 && code < 0x7f ? `'${c}'` : `0x${code.toString(16).padStart(2, "0")}`;
}
/** The source line holding `offset` (cut 200 characters after it: diagnostics show a window). */
export function lineAt(src: string, offset: number): string {
  const start = src.lastIndexOf("\n", offset - 1) + 1;
  let end = src.indexOf("\n", offset);
  if (end < 0) end = src.length;
  return src.slice(start, Math.min(end, offset + 200)).replace(/\r$/, "");
}

function describe(t: Token): string {
  switch (t.kind) {
    case "eof":
      return "end of file";
    case "ident":
      return `identifier '${t.value}'`;
    case "keyword":
      return `'${t.value}'`;
    case "int":
    case "float":
      return `number ${t.value}`;
    case "text":
      return "text string";
    case "regex":
      return "regular expression";
    case "hex":
      return "hex string";
    case "punct":
      return `'${t.value}'`;
    default:
      return `'${t.value}'`;
  }
}

const INT_FUNCTIONS = new Set([
  "int8",
  "int16",
  "int32",
  "uint8",
  "uint16",
  "uint32",
  "int8be",
  "int16be",
  "int32be",
  "uint8be",
  "uint16be",
  "uint32be",
]);

/** Binary operator precedence (higher binds tighter); `not`/`defined` sit between and and comparisons. */
const BINARY_PREC: Record<string, number> = {
  or: 1,
  and: 2,
  "==": 4,
  "!=": 4,
  contains: 4,
  icontains: 4,
  startswith: 4,
  istartswith: 4,
  endswith: 4,
  iendswith: 4,
  iequals: 4,
  matches: 4,
  "<": 5,
  "<=": 5,
  ">": 5,
  ">=": 5,
  "|": 6,
  "^": 7,
  "&": 8,
  "<<": 9,
  ">>": 9,
  "+": 10,
  "-": 10,
  "*": 11,
  "\\": 11,
  "%": 11,
};

/** Operators of YARA's primary expressions: a chain of them before 'of' is the quantifier. */
const ARITHMETIC = new Set<string>(["|", "^", "&", "<<", ">>", "+", "-", "*", "\\", "%"]);

/**
 * `left OP right` where `right` may have been read as `N of ...`: in YARA's grammar the
 * quantifier of 'of' is a whole primary expression, so `1 + -1 of them` is `(1 + -1) of them`
 * and `1050 % 100 % of them` is `(1050 % 100)% of them`; the tree is rotated to say so.
 */
function quantifiedBinary(op: BinaryOp, left: Expr, right: Expr, opPos: Pos): Expr {
  if (right.type === "of" && right.quantifier.kind === "expr") {
    const q = right.quantifier;
    const expr: Expr = { type: "binary", op, left, right: q.expr, pos: left.pos, opPos };
    return { ...right, quantifier: { kind: "expr", expr, percent: q.percent }, pos: left.pos };
  }
  return { type: "binary", op, left, right, pos: left.pos, opPos };
}

/** lexer modes (read only): where `/` starts a regex, and also `{` a hex string (a string's value). */
const REGEX_MODE = { regex: true, hex: false } as const;
const VALUE_MODE = { regex: true, hex: true } as const;

class Parser {
  private lex: Lexer;
  private tok: Token;
  private ahead: Token[] = [];
  /** whether the current token was lexed with regex/hex allowed; tokens are re-lexed lazily. */
  private mode = { regex: true, hex: false };

  constructor(
    private src: string,
    private path: string | undefined,
  ) {
    this.lex = new Lexer(src, path);
    this.tok = this.lex.next(this.mode);
  }

  private k(): TokKind {
    return this.tok.kind;
  }

  private curRule: string | undefined;

  private fail(message: string, pos: Pos = this.tok.pos, code: DiagnosticCode = "E_SYNTAX"): never {
    throw new DiagnosticError({
      code,
      message,
      line: pos.line,
      column: pos.column,
      path: this.path,
      rule: this.curRule,
      sourceLine: lineAt(this.src, pos.offset),
    });
  }

  private advance(mode = REGEX_MODE): Token {
    const t = this.tok;
    this.tok = this.ahead.length ? this.ahead.shift()! : this.lex.next(mode);
    return t;
  }

  private peek2(): Token {
    if (!this.ahead.length) this.ahead.push(this.lex.next(REGEX_MODE));
    return this.ahead[0]!;
  }

  private is(value: string, kind?: TokKind): boolean {
    return this.tok.value === value && (kind ? this.k() === kind : this.k() === "keyword" || this.k() === "punct");
  }

  private expect(value: string, what?: string): Token {
    if (!this.is(value)) this.fail(`syntax error: expected ${what ?? `'${value}'`}, found ${describe(this.tok)}`);
    return this.advance();
  }

  parseFile(onRule?: (rule: Rule, imports: readonly Import[]) => boolean): RuleFile {
    const imports: Import[] = [];
    const includes: Include[] = [];
    const rules: Rule[] = [];
    while (this.k() !== "eof") {
      if (this.is("import")) {
        const pos = this.advance().pos;
        if (this.k() !== "text")
          this.fail(`syntax error: expected a module name in quotes after import, found ${describe(this.tok)}`);
        imports.push({ module: this.advance().value, pos });
      } else if (this.is("include")) {
        const pos = this.advance().pos;
        if (this.k() !== "text")
          this.fail(`syntax error: expected a file name in quotes after include, found ${describe(this.tok)}`);
        includes.push({ path: this.advance().value, pos });
      } else {
        const rule = this.parseRule();
        if (!onRule?.(rule, imports)) rules.push(rule);
      }
    }
    return { path: this.path, imports, includes, rules };
  }

  private parseRule(): Rule {
    const pos = this.tok.pos;
    let isGlobal = false,
      isPrivate = false;
    while (this.is("global") || this.is("private")) {
      if (this.advance().value === "global") isGlobal = true;
      else isPrivate = true;
    }
    this.expect("rule", "'rule'");
    if (this.k() !== "ident") this.fail(`syntax error: expected a rule name, found ${describe(this.tok)}`);
    const nameTok = this.advance();
    this.curRule = nameTok.value;
    const tags: string[] = [];
    if (this.is(":")) {
      this.advance();
      if (this.k() !== "ident") this.fail(`syntax error: expected a tag after ':', found ${describe(this.tok)}`);
      while (this.k() === "ident") {
        const t = this.advance();
        if (tags.includes(t.value)) this.fail(`duplicate tag '${t.value}'`, t.pos, "E_DUPLICATE_TAG");
        tags.push(t.value);
      }
    }
    this.expect("{");
    const meta: Meta[] = [];
    const strings: StringDef[] = [];
    if (this.is("meta")) {
      this.advance();
      this.expect(":");
      while (this.k() === "ident" || (this.k() === "keyword" && this.peek2().value === "=")) {
        const key = this.advance();
        this.expect("=");
        let value: Meta["value"];
        if (this.k() === "text") value = this.advance().value;
        else if (this.is("true") || this.is("false")) value = this.advance().value === "true";
        else if (this.k() === "int") value = this.advance().num!;
        else if (this.is("-") && this.peek2().kind === "int") {
          this.advance();
          const n = this.advance().num!;
          value = typeof n === "bigint" ? -n : -n;
        } else
          this.fail(
            `syntax error: expected a string, number, true or false as the value of meta '${key.value}', found ${describe(this.tok)}`,
          );
        meta.push({ key: key.value, value, pos: key.pos });
      }
    }
    if (this.is("strings")) {
      this.advance();
      this.expect(":");
      if (this.k() !== "strid")
        this.fail(
          `syntax error: expected a string definition ($name = ...) after 'strings:', found ${describe(this.tok)}`,
        );
      while (this.k() === "strid") strings.push(this.parseStringDef());
    }
    if (!this.is("condition")) this.fail(`syntax error: expected 'condition:', found ${describe(this.tok)}`);
    this.advance();
    this.expect(":");
    const condition = this.parseExpr();
    if (!this.is("}"))
      this.fail(`syntax error: expected '}' to end rule '${nameTok.value}', found ${describe(this.tok)}`);
    const end = this.advance().pos;
    this.curRule = undefined;
    return {
      name: nameTok.value,
      global: isGlobal,
      private: isPrivate,
      tags,
      meta,
      strings,
      condition,
      pos,
      end,
      path: this.path,
    };
  }

  private parseStringDef(): StringDef {
    const idTok = this.advance();
    if (idTok.value.endsWith("*"))
      this.fail(`string identifier '${idTok.value}' cannot end with '*' in a definition`, idTok.pos);
    if (!this.is("=")) this.fail(`syntax error: expected '=' after ${idTok.value}, found ${describe(this.tok)}`);
    // the value after '=' may be a text string, a hex string or a regex
    this.tok = this.ahead.length ? this.ahead.shift()! : this.lex.next(VALUE_MODE);
    const v = this.tok;
    this.advance();
    const id = idTok.value;
    if (v.kind === "text") {
      if (v.value.length === 0) this.fail(`string ${id} is empty: give it at least one byte`, v.pos, "E_EMPTY_STRING");
      const modifiers = this.parseModifiers("text");
      return { kind: "text", id, value: v.value, modifiers, pos: idTok.pos };
    }
    if (v.kind === "hex") {
      const tokens = parseHexString(v.value, (msg) => this.fail(msg, v.pos, "E_HEX"));
      const modifiers = this.parseModifiers("hex");
      return { kind: "hex", id, tokens, modifiers, pos: idTok.pos, source: v.value };
    }
    if (v.kind === "regex") {
      const modifiers = this.parseModifiers("regex");
      return { kind: "regex", id, source: v.value, flags: v.flags ?? "", modifiers, pos: idTok.pos };
    }
    this.fail(
      `syntax error: expected a text string, hex string or regular expression after '${id} =', found ${describe(v)}`,
      v.pos,
    );
  }

  private parseModifiers(kind: "text" | "hex" | "regex"): StringModifiers {
    const m: StringModifiers = {};
    const allowed: Record<string, string[]> = {
      text: ["nocase", "wide", "ascii", "fullword", "private", "xor", "base64", "base64wide"],
      hex: ["private"],
      regex: ["nocase", "wide", "ascii", "fullword", "private"],
    };
    while (
      this.k() === "keyword" &&
      ["nocase", "wide", "ascii", "fullword", "private", "xor", "base64", "base64wide"].includes(this.tok.value)
    ) {
      const t = this.advance();
      const name = t.value as keyof StringModifiers;
      if (!allowed[kind]!.includes(name))
        this.fail(
          `modifier '${name}' cannot be used with ${kind === "hex" ? "hex strings" : "regular expressions"}`,
          t.pos,
          "E_MODIFIERS",
        );
      if (m[name] !== undefined) this.fail(`duplicate modifier '${name}'`, t.pos, "E_MODIFIERS");
      if (name === "xor") {
        let min = 0,
          max = 255;
        if (this.is("(")) {
          this.advance();
          const a = this.parseByteArg("xor");
          min = max = a;
          if (this.is("-")) {
            this.advance();
            max = this.parseByteArg("xor");
          }
          this.expect(")");
          if (max < min)
            this.fail(`xor range (${min}-${max}) is reversed: the lower bound must come first`, t.pos, "E_MODIFIERS");
        }
        m.xor = { min, max };
      } else if (name === "base64" || name === "base64wide") {
        let alphabet: string | undefined;
        if (this.is("(")) {
          this.advance();
          if (this.k() !== "text")
            this.fail(`syntax error: expected a 64-character alphabet in quotes, found ${describe(this.tok)}`);
          const a = this.advance();
          if (a.value.length !== 64)
            this.fail(`base64 alphabet must be 64 bytes long, this one has ${a.value.length}`, a.pos, "E_MODIFIERS");
          alphabet = a.value;
          this.expect(")");
        }
        m[name] = alphabet === undefined ? {} : { alphabet };
      } else {
        (m as Record<string, boolean>)[name] = true;
      }
    }
    return m;
  }

  private parseByteArg(what: string): number {
    if (this.k() !== "int")
      this.fail(`syntax error: expected a number from 0 to 255 in ${what}(...), found ${describe(this.tok)}`);
    const t = this.advance();
    const n = Number(t.num);
    if (n < 0 || n > 255) this.fail(`${what} value ${t.value} is out of range: use 0 to 255`, t.pos, "E_MODIFIERS");
    return n;
  }

  // ---------------- expressions ----------------

  private depth = 0;
  /** set while parseFor reads its quantifier: a primary followed by 'of' is not an 'of' expression then. */
  private forQuantifier = false;

  parseExpr(minPrec = 1): Expr {
    if (++this.depth > 400)
      this.fail("expression nested too deeply (more than 400 levels): simplify the condition", this.tok.pos, "E_LIMIT");
    try {
      return this.parseExprInner(minPrec);
    } finally {
      this.depth--;
    }
  }

  private parseExprInner(minPrec: number): Expr {
    let left = this.parseUnary(minPrec);
    for (;;) {
      const t = this.tok;
      if (t.kind !== "keyword" && t.kind !== "punct") break;
      const prec = BINARY_PREC[t.value];
      if (prec === undefined || prec < minPrec) break;
      // "N % of" is a percentage quantifier, not a modulo
      if (t.value === "%" && this.peek2().value === "of" && this.peek2().kind === "keyword") break;
      this.advance();
      const op = t.value as BinaryOp;
      let right: Expr;
      if (op === "matches") {
        if (this.k() !== "regex")
          this.fail(`syntax error: expected a regular expression after 'matches', found ${describe(this.tok)}`);
        const r = this.advance();
        right = { type: "regex", source: r.value, flags: r.flags ?? "", pos: r.pos };
      } else {
        right = this.parseExpr(prec + 1);
      }
      left = ARITHMETIC.has(op)
        ? quantifiedBinary(op, left, right, t.pos)
        : { type: "binary", op, left, right, pos: left.pos, opPos: t.pos };
    }
    return left;
  }

  /**
   * Prefix operators. A run of them (`not not ...`, `~~~...`, `- ~ - ...`) is read in a loop,
   * not by recursion, so a generated condition with thousands of them parses; the nested
   * unary nodes are built afterwards (the compiler walks such chains iteratively as well).
   */
  private parseUnary(minPrec: number): Expr {
    const t = this.tok;
    if (t.kind === "keyword" && (t.value === "not" || t.value === "defined") && minPrec <= 3) {
      const ops: Token[] = [];
      while (this.tok.kind === "keyword" && (this.tok.value === "not" || this.tok.value === "defined"))
        ops.push(this.advance());
      let operand = this.parseExpr(3);
      for (let k = ops.length - 1; k >= 0; k--)
        operand = { type: "unary", op: ops[k]!.value as "not" | "defined", operand, pos: ops[k]!.pos };
      return operand;
    }
    if (t.kind === "keyword" && (t.value === "not" || t.value === "defined")) {
      // e.g. "1 + not x": YARA's grammar does not allow it
      this.fail(`syntax error: '${t.value}' cannot be used here; add parentheses`);
    }
    if (t.kind === "punct" && (t.value === "-" || t.value === "~")) {
      const ops: Token[] = [];
      while (this.tok.kind === "punct" && (this.tok.value === "-" || this.tok.value === "~")) ops.push(this.advance());
      if (this.tok.kind === "keyword" && (this.tok.value === "not" || this.tok.value === "defined")) {
        this.fail(`syntax error: '${this.tok.value}' cannot be used here; add parentheses`);
      }
      let operand = this.parsePostfixQuantified();
      // "-1 of them": the sign belongs to the quantifier, as in YARA's grammar
      const quantified = operand.type === "of" && operand.quantifier.kind === "expr" ? operand : undefined;
      if (quantified) operand = (quantified.quantifier as { expr: Expr }).expr;
      for (let k = ops.length - 1; k >= 0; k--) {
        const op = ops[k]!;
        if (op.value === "-" && operand.type === "int") {
          const v = operand.value;
          const raw = operand.raw;
          operand = { type: "int", value: typeof v === "bigint" ? narrow(-v) : -v, pos: op.pos };
          if (raw !== undefined) operand.raw = raw.startsWith("-") ? raw.slice(1) : `-${raw}`;
        } else if (op.value === "-" && operand.type === "float") {
          operand = { type: "float", value: -operand.value, pos: op.pos };
        } else {
          operand = { type: "unary", op: op.value as "-" | "~", operand, pos: op.pos };
        }
      }
      if (quantified) {
        const q = quantified.quantifier as { kind: "expr"; percent: boolean };
        return { ...quantified, quantifier: { kind: "expr", expr: operand, percent: q.percent }, pos: operand.pos };
      }
      return operand;
    }
    return this.parsePostfixQuantified();
  }

  /** A primary expression, possibly followed by `of` (making it a quantifier). */
  private parsePostfixQuantified(): Expr {
    const t = this.tok;
    if (t.kind === "keyword" && (t.value === "all" || t.value === "any" || t.value === "none")) {
      this.advance();
      return this.parseOfRest({ kind: t.value as "all" | "any" | "none" }, t.pos);
    }
    if (t.kind === "keyword" && t.value === "for") return this.parseFor();
    const primary = this.parsePrimary();
    if (this.forQuantifier) return primary; // "for N of them: (...)": parseFor reads the 'of'
    if (this.is("of")) {
      return this.parseOfRest({ kind: "expr", expr: primary, percent: false }, primary.pos);
    }
    if (this.is("%") && this.peek2().value === "of") {
      this.advance();
      return this.parseOfRest({ kind: "expr", expr: primary, percent: true }, primary.pos);
    }
    return primary;
  }

  private parseOfRest(quantifier: Quantifier, pos: Pos): Expr {
    this.expect("of", "'of'");
    if (this.is("them")) {
      const p = this.advance().pos;
      return this.parseOfAnchor({ type: "of", quantifier, strings: { kind: "them", pos: p }, pos });
    }
    if (!this.is("("))
      this.fail(`syntax error: expected 'them' or a parenthesised set after 'of', found ${describe(this.tok)}`);
    const open = this.advance();
    if (this.k() === "strid") {
      return this.parseOfAnchor({ type: "of", quantifier, strings: this.parseStringList(open.pos), pos });
    }
    // a set of rules: names, possibly ending in '*'
    const rules: RuleSetItem[] = [];
    for (;;) {
      if (this.k() !== "ident")
        this.fail(`syntax error: expected a rule name or string identifier in the set, found ${describe(this.tok)}`);
      const n = this.advance();
      let wildcard = false;
      if (this.is("*")) {
        this.advance();
        wildcard = true;
      }
      rules.push({ name: n.value, wildcard, pos: n.pos });
      if (this.is(",")) {
        this.advance();
        continue;
      }
      break;
    }
    this.expect(")");
    return { type: "of", quantifier, rules, pos };
  }

  /** `$a, $b*, ...)` after the opening parenthesis of a string set. */
  private parseStringList(pos: Pos): StringSet {
    const items: Array<{ id: string; wildcard: boolean; pos: Pos }> = [];
    for (;;) {
      if (this.k() !== "strid")
        this.fail(`syntax error: expected a string identifier in the set, found ${describe(this.tok)}`);
      const s = this.advance();
      const wildcard = s.value.endsWith("*");
      items.push({ id: wildcard ? s.value.slice(0, -1) : s.value, wildcard, pos: s.pos });
      if (this.is(",")) {
        this.advance();
        continue;
      }
      break;
    }
    this.expect(")");
    return { kind: "list", items, pos };
  }

  private parseOfAnchor(e: Extract<Expr, { type: "of" }>): Expr {
    if (this.is("at")) {
      this.advance();
      e.at = this.parseExpr(5);
    } else if (this.is("in")) {
      this.advance();
      e.range = this.parseRange();
    }
    return e;
  }

  private parseRange(): { lo: Expr; hi: Expr } {
    this.expect("(", "'(' to start a range");
    const lo = this.parseExpr(5);
    this.expect("..", "'..' in the range");
    const hi = this.parseExpr(5);
    this.expect(")", "')' to end the range");
    return { lo, hi };
  }

  private parseFor(): Expr {
    const pos = this.advance().pos;
    let quantifier: Quantifier;
    if (this.is("all") || this.is("any") || this.is("none"))
      quantifier = { kind: this.advance().value as "all" | "any" | "none" };
    else {
      // the quantifier is a whole arithmetic expression ("for 1 + 1 of them"), as in YARA
      const saved = this.forQuantifier;
      this.forQuantifier = true;
      let expr: Expr;
      try {
        expr = this.parseExpr(BINARY_PREC["|"]!);
      } finally {
        this.forQuantifier = saved;
      }
      let percent = false;
      if (this.is("%")) {
        this.advance();
        percent = true;
      }
      quantifier = { kind: "expr", expr, percent };
    }
    if (this.is("of")) {
      this.advance();
      let strings: StringSet;
      if (this.is("them")) strings = { kind: "them", pos: this.advance().pos };
      else {
        const open = this.expect("(");
        strings = this.parseStringList(open.pos);
      }
      this.expect(":", "':' after the string set");
      const body = this.parseForBody();
      return { type: "forOf", quantifier, strings, body, pos };
    }
    const vars: string[] = [];
    for (;;) {
      if (this.k() !== "ident") this.fail(`syntax error: expected a loop variable name, found ${describe(this.tok)}`);
      vars.push(this.advance().value);
      if (this.is(",")) {
        this.advance();
        continue;
      }
      break;
    }
    this.expect("in", "'in'");
    let iterable: Iterable;
    if (this.is("(")) {
      this.advance();
      const first = this.parseExpr(5);
      if (this.is("..")) {
        this.advance();
        const hi = this.parseExpr(5);
        this.expect(")");
        iterable = { kind: "range", lo: first, hi };
      } else {
        const items = [first];
        while (this.is(",")) {
          this.advance();
          items.push(this.parseExpr(5));
        }
        this.expect(")");
        iterable = { kind: "list", items };
      }
    } else {
      iterable = { kind: "expr", expr: this.parsePrimary() };
    }
    this.expect(":", "':' after the iterable");
    const body = this.parseForBody();
    return { type: "forIn", quantifier, vars, iterable, body, pos };
  }

  private parseForBody(): Expr {
    this.expect("(", "'(' to start the loop body");
    const body = this.parseExpr();
    this.expect(")", "')' to end the loop body");
    return body;
  }

  private parsePrimary(): Expr {
    const t = this.tok;
    switch (t.kind) {
      case "int":
        this.advance();
        // the written form (0x10, 50KB) when it is not the decimal value, for the formatter
        if (t.value !== String(t.num)) return { type: "int", value: t.num!, pos: t.pos, raw: t.value };
        return { type: "int", value: t.num!, pos: t.pos };
      case "float":
        this.advance();
        return { type: "float", value: t.num as number, pos: t.pos };
      case "text":
        this.advance();
        return { type: "string", value: t.value, pos: t.pos };
      case "regex":
        this.advance();
        return { type: "regex", source: t.value, flags: t.flags ?? "", pos: t.pos };
      case "strid": {
        this.advance();
        if (t.value.endsWith("*"))
          this.fail(`'${t.value}' is only allowed inside a string set such as 'any of (${t.value})'`, t.pos);
        if (this.is("at")) {
          this.advance();
          return { type: "strMatch", id: t.value, at: this.parseExpr(5), pos: t.pos };
        }
        if (this.is("in")) {
          this.advance();
          return { type: "strMatch", id: t.value, range: this.parseRange(), pos: t.pos };
        }
        return { type: "strMatch", id: t.value, pos: t.pos };
      }
      case "strcount": {
        this.advance();
        const id = "$" + t.value.slice(1);
        if (this.is("in")) {
          this.advance();
          return { type: "strCount", id, range: this.parseRange(), pos: t.pos };
        }
        return { type: "strCount", id, pos: t.pos };
      }
      case "stroffset":
      case "strlength": {
        this.advance();
        const id = "$" + t.value.slice(1);
        let index: Expr | undefined;
        if (this.is("[")) {
          this.advance();
          index = this.parseExpr();
          this.expect("]");
        }
        const type = t.kind === "stroffset" ? "strOffset" : "strLength";
        return index ? { type, id, index, pos: t.pos } : { type, id, pos: t.pos };
      }
      case "keyword":
        if (t.value === "true" || t.value === "false") {
          this.advance();
          return { type: "bool", value: t.value === "true", pos: t.pos };
        }
        if (t.value === "filesize") {
          this.advance();
          return { type: "filesize", pos: t.pos };
        }
        if (t.value === "entrypoint") {
          this.advance();
          return { type: "entrypoint", pos: t.pos };
        }
        break;
      case "punct":
        if (t.value === "(") {
          this.advance();
          const expr = this.parseExpr();
          this.expect(")");
          return this.parsePostfix({ type: "paren", expr, pos: t.pos });
        }
        if (t.value === "-" || t.value === "~") return this.parseUnary(12);
        break;
      case "ident": {
        this.advance();
        let e: Expr = { type: "ident", name: t.value, pos: t.pos };
        if (INT_FUNCTIONS.has(t.value) && this.is("(")) {
          this.advance();
          const arg = this.parseExpr();
          this.expect(")");
          return { type: "call", callee: e, args: [arg], pos: t.pos };
        }
        e = this.parsePostfix(e);
        return e;
      }
      default:
        break;
    }
    this.fail(`syntax error: unexpected ${describe(t)}`);
  }

  private parsePostfix(e: Expr): Expr {
    for (;;) {
      if (this.is(".") && e.type !== "paren") {
        this.advance();
        if (this.k() !== "ident" && this.k() !== "keyword")
          this.fail(`syntax error: expected a field name after '.', found ${describe(this.tok)}`);
        const n = this.advance();
        e = { type: "field", object: e, name: n.value, pos: e.pos, namePos: n.pos };
      } else if (this.is("[") && e.type !== "paren") {
        this.advance();
        const index = this.parseExpr();
        this.expect("]");
        e = { type: "index", object: e, index, pos: e.pos };
      } else if (this.is("(") && e.type !== "paren") {
        this.advance();
        const args: Expr[] = [];
        if (!this.is(")")) {
          for (;;) {
            args.push(this.parseExpr());
            if (this.is(",")) {
              this.advance();
              continue;
            }
            break;
          }
        }
        this.expect(")");
        e = { type: "call", callee: e, args, pos: e.pos };
      } else return e;
    }
  }
}

/** Deepest nesting of alternatives in a hex string (yara allows 128 alternations in one string). */
export const MAX_HEX_NESTING = 128;

/** shared byte nodes by value | (high nibble known) << 9 | (low nibble known) << 8 | not << 10, filled as first seen. */
const BYTE_NODES: Array<{ type: "byte"; value: number; mask: number; not: boolean } | undefined> = new Array(2048);

/** Parses the body of a hex string (between the braces) into hex nodes, with YARA's rules. */
export function parseHexString(body: string, fail: (message: string) => never): HexNode[] {
  let i = 0;
  const s = body;
  const skip = () => {
    for (;;) {
      for (;;) {
        const k = s.charCodeAt(i); // NaN past the end
        if (k === 32 || (k >= 9 && k <= 13)) i++;
        else break;
      }
      if (s[i] === "/" && s[i + 1] === "/") {
        while (i < s.length && s[i] !== "\n") i++;
        continue;
      }
      if (s[i] === "/" && s[i + 1] === "*") {
        const e = s.indexOf("*/", i + 2);
        i = e < 0 ? s.length : e + 2;
        continue;
      }
      return;
    }
  };
  const isHex = (c: string | undefined) =>
    c !== undefined && ((c >= "0" && c <= "9") || (c >= "a" && c <= "f") || (c >= "A" && c <= "F"));
  const parseSeq = (depth: number): HexNode[] => {
    const out: HexNode[] = [];
    for (;;) {
      skip();
      const c = s[i];
      if (c === undefined || c === ")" || c === "|") return out;
      if (c === "~") {
        i++;
        const b = parseByte(true);
        if (b.mask === 0) fail("'~??' is not allowed in hex strings: negate a byte or a nibble");
        out.push(b);
        continue;
      }
      if (isHex(c) || c === "?") {
        out.push(parseByte(false));
        continue;
      }
      if (c === "[") {
        i++;
        skip();
        const num = (): number | null => {
          const from = i;
          while (i < s.length && s[i]! >= "0" && s[i]! <= "9") i++;
          return i === from ? null : Number(s.slice(from, i));
        };
        let min: number, max: number | null;
        const a = num();
        skip();
        if (s[i] === "-") {
          i++;
          skip();
          const b = num();
          min = a ?? 0;
          max = b;
        } else {
          if (a === null) fail("invalid jump in hex string: write [n], [n-m], [n-] or [-]");
          if (a === 0) fail("invalid jump length in hex string: [0] skips nothing (remove it, or write [0-n])");
          min = max = a;
        }
        skip();
        if (s[i] !== "]") fail("invalid jump in hex string: expected ']'");
        i++;
        if (max !== null && max < min)
          fail(`invalid jump length in hex string: [${min}-${max}] has its upper bound below its lower bound`);
        if (depth > 0 && max === null) fail("unbounded jumps are not allowed inside alternatives in hex strings");
        if (depth > 0 && max !== null && max > 200)
          fail("jumps over 200 bytes are not allowed inside alternatives in hex strings");
        out.push({ type: "jump", min, max });
        continue;
      }
      if (c === "(") {
        if (depth >= MAX_HEX_NESTING)
          fail(
            `hex string alternatives nested deeper than ${MAX_HEX_NESTING} levels: flatten the alternation (yara refuses such strings as too complex)`,
          );
        i++;
        const alternatives: HexNode[][] = [];
        for (;;) {
          const seq = parseSeq(depth + 1);
          if (seq.length === 0) fail("empty alternative in hex string");
          alternatives.push(seq);
          skip();
          if (s[i] === "|") {
            i++;
            continue;
          }
          if (s[i] === ")") {
            i++;
            break;
          }
          fail("unterminated alternative in hex string: expected ')'");
        }
        out.push({ type: "alt", alternatives });
        continue;
      }
      fail(`invalid character '${c}' in hex string`);
    }
  };
  /** a hex digit's value, 16 for '?', -1 for anything else (NaN past the end). */
  const digit = (k: number): number =>
    k >= 48 && k <= 57
      ? k - 48
      : k >= 97 && k <= 102
        ? k - 87
        : k >= 65 && k <= 70
          ? k - 55
          : k === 63 /* ? */
            ? 16
            : -1;
  const parseByte = (not: boolean): { type: "byte"; value: number; mask: number; not: boolean } => {
    const a = digit(s.charCodeAt(i)),
      b = digit(s.charCodeAt(i + 1));
    if (a < 0 || b < 0) {
      fail(
        "invalid hex string: bytes are two hexadecimal digits or '?' wildcards (an odd number of digits was written)",
      );
    }
    i += 2;
    const hi = a === 16 ? 0 : a,
      lo = b === 16 ? 0 : b;
    const mask = (a === 16 ? 0 : 0xf0) | (b === 16 ? 0 : 0x0f);
    // byte nodes are immutable: share one per (value, mask, not) instead of allocating each
    const key = (hi << 4) | lo | ((a === 16 ? 0 : 2) << 8) | ((b === 16 ? 0 : 1) << 8) | (not ? 1 << 10 : 0);
    let node = BYTE_NODES[key];
    if (!node) {
      node = { type: "byte", value: (hi << 4) | lo, mask, not };
      BYTE_NODES[key] = node;
    }
    return node;
  };
  const seq = parseSeq(0);
  skip();
  if (i < s.length)
    fail(
      s[i] === ")"
        ? "unbalanced ')' in hex string"
        : s[i] === "|"
          ? "'|' outside an alternative in hex string"
          : `invalid character '${s[i]}' in hex string`,
    );
  if (seq.length === 0) fail("empty hex string");
  if (seq[0]!.type === "jump" || seq[seq.length - 1]!.type === "jump")
    fail("a hex string cannot start or end with a jump");
  return seq;
}
