/**
 * The rule formatter (`vigil yara fmt`): source text -> parse tree -> canonical text. The
 * output parses to the same tree as the input (positions aside): parentheses are printed
 * exactly where the source had them (they are nodes of the tree), literals are printed in a
 * form the lexer reads back to the same bytes or value. Comments are kept: a comment on its
 * own line(s) is printed before the next import, rule, meta entry or string (or before the
 * rule's closing brace when it sits inside the condition); a comment after code on the same
 * line stays at the end of that line when the code is an import, include, meta entry or string.
 */
import type {
  Expr,
  HexNode,
  Meta,
  Pos,
  Quantifier,
  Rule,
  RuleFile,
  StringDef,
  StringModifiers,
  StringSet,
} from "./ast.js";
import { parse } from "./parser.js";

export interface FormatOptions {
  /** indentation unit (default two spaces). */
  indent?: string;
  /** a condition longer than this is broken at its top-level `and` / `or` (default 100). */
  width?: number;
}

interface Comment {
  start: number;
  end: number;
  text: string;
  /** there is code before it on its line. */
  trailing: boolean;
}

/** Formats one rule file's source (a latin1 byte string). Throws CompileError-like diagnostics via `parse`. */
export function formatSource(source: string, options: FormatOptions = {}): string {
  const file = parse(source);
  return new Printer(source, findComments(source), options).file(file);
}

/** Comments of the source, outside string literals, regular expressions and hex strings. */
function findComments(s: string): Comment[] {
  const out: Comment[] = [];
  let i = 0;
  let lineHasCode = false;
  let prevSignificant = ""; // last significant character, to tell a regex from other uses of '/'
  while (i < s.length) {
    const c = s[i]!;
    if (c === "\n") {
      lineHasCode = false;
      i++;
      continue;
    }
    if (c === " " || c === "\t" || c === "\r") {
      i++;
      continue;
    }
    if (c === "/" && s[i + 1] === "/") {
      let j = s.indexOf("\n", i);
      if (j < 0) j = s.length;
      out.push({ start: i, end: j, text: s.slice(i, j).replace(/\s+$/, ""), trailing: lineHasCode });
      i = j;
      continue;
    }
    if (c === "/" && s[i + 1] === "*") {
      let j = s.indexOf("*/", i + 2);
      j = j < 0 ? s.length : j + 2;
      out.push({ start: i, end: j, text: s.slice(i, j), trailing: lineHasCode });
      i = j;
      continue;
    }
    lineHasCode = true;
    if (c === '"') {
      i++;
      while (i < s.length && s[i] !== '"' && s[i] !== "\n") i += s[i] === "\\" ? 2 : 1;
      i++;
      prevSignificant = '"';
      continue;
    }
    if (c === "/") {
      // a regular expression (YARA has no division by '/')
      i++;
      let inClass = false;
      while (i < s.length && s[i] !== "\n") {
        const d = s[i]!;
        if (d === "\\") {
          i += 2;
          continue;
        }
        if (d === "[") inClass = true;
        else if (d === "]") inClass = false;
        else if (d === "/" && !inClass) break;
        i++;
      }
      i++;
      prevSignificant = "/";
      continue;
    }
    if (c === "{" && prevSignificant === "=") {
      // a hex string: may hold // or /* only as comments, which YARA allows there too
      const j = s.indexOf("}", i);
      const end = j < 0 ? s.length : j + 1;
      const body = s.slice(i, end);
      let k = 0;
      while (k < body.length) {
        if (body[k] === "/" && (body[k + 1] === "/" || body[k + 1] === "*")) {
          const abs = i + k;
          const stop =
            body[k + 1] === "/"
              ? Math.min(s.indexOf("\n", abs) < 0 ? s.length : s.indexOf("\n", abs), end)
              : s.indexOf("*/", abs + 2) + 2;
          out.push({ start: abs, end: stop, text: s.slice(abs, stop).replace(/\s+$/, ""), trailing: true });
          k = stop - i;
          continue;
        }
        k++;
      }
      i = end;
      prevSignificant = "}";
      continue;
    }
    prevSignificant = c;
    i++;
  }
  return out;
}

type Anchor = { offset: number; line: number; inline: boolean; key: object };

class Printer {
  private readonly ind: string;
  private readonly width: number;
  private readonly leading = new Map<object, string[]>();
  private readonly trailing = new Map<object, string[]>();
  private tail: string[] = [];

  constructor(
    private readonly src: string,
    private readonly comments: Comment[],
    o: FormatOptions,
  ) {
    this.ind = o.indent ?? "  ";
    this.width = o.width ?? 100;
  }

  /** Assigns every comment to the element it is printed with. */
  private place(anchors: Anchor[]): void {
    anchors.sort((a, b) => a.offset - b.offset);
    const lineStarts = [0];
    for (let i = 0; i < this.src.length; i++) if (this.src.charCodeAt(i) === 10) lineStarts.push(i + 1);
    for (const c of this.comments) {
      // the first anchor at or after the comment (binary search)
      let lo = 0,
        hi = anchors.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (anchors[mid]!.offset < c.start) lo = mid + 1;
        else hi = mid;
      }
      const prev = lo > 0 ? anchors[lo - 1] : undefined;
      const next = anchors[lo];
      let l = 0,
        h = lineStarts.length;
      while (l < h) {
        const mid = (l + h) >> 1;
        if (lineStarts[mid]! <= c.start) l = mid + 1;
        else h = mid;
      }
      const line = l;
      if (c.trailing && prev?.inline && prev.line === line && !c.text.includes("\n")) {
        push(this.trailing, prev.key, c.text);
      } else if (next) push(this.leading, next.key, c.text);
      else this.tail.push(c.text);
    }
  }

  file(f: RuleFile): string {
    const anchors: Anchor[] = [];
    const at = (p: Pos, key: object, inline: boolean) => anchors.push({ offset: p.offset, line: p.line, inline, key });
    for (const i of f.imports) at(i.pos, i, true);
    for (const i of f.includes) at(i.pos, i, true);
    for (const r of f.rules) {
      at(r.pos, r, false);
      for (const m of r.meta) at(m.pos, m, true);
      for (const s of r.strings) at(s.pos, s, true);
      if (r.end) at(r.end, r.end, false);
    }
    this.place(anchors);

    const parts: string[] = [];
    // imports and includes in source order
    const heads = [...f.imports.map((i) => ({ pos: i.pos, node: i as object, text: `import ${quote(i.module)}` }))];
    heads.push(...f.includes.map((i) => ({ pos: i.pos, node: i as object, text: `include ${quote(i.path)}` })));
    heads.sort((a, b) => a.pos.offset - b.pos.offset);
    if (heads.length) parts.push(heads.map((h) => this.line("", h.node, h.text)).join(""));
    for (const r of f.rules) parts.push(this.rule(r));
    let out = parts.join("\n");
    if (this.tail.length) out += (out ? "\n" : "") + this.tail.map((t) => t + "\n").join("");
    return out;
  }

  /** One printed line of `text` at `indent`, with the element's comments. */
  private line(indent: string, node: object, text: string): string {
    let out = "";
    for (const c of this.leading.get(node) ?? []) out += reindent(c, indent) + "\n";
    out += indent + text;
    const t = this.trailing.get(node);
    if (t) out += " " + t.join(" ");
    return out + "\n";
  }

  private rule(r: Rule): string {
    const i1 = this.ind,
      i2 = this.ind + this.ind;
    let head = "";
    if (r.private) head += "private ";
    if (r.global) head += "global ";
    head += `rule ${r.name}`;
    if (r.tags.length) head += ` : ${r.tags.join(" ")}`;
    let out = this.line("", r, head + " {");
    if (r.meta.length) {
      out += `${i1}meta:\n`;
      for (const m of r.meta) out += this.line(i2, m, `${m.key} = ${metaValue(m)}`);
    }
    if (r.strings.length) {
      out += `${i1}strings:\n`;
      for (const s of r.strings) out += this.line(i2, s, stringDef(s));
    }
    out += `${i1}condition:\n`;
    out += this.condition(r.condition, i2);
    for (const c of r.end ? (this.leading.get(r.end) ?? []) : []) out += reindent(c, i2) + "\n";
    return out + "}\n";
  }

  private condition(e: Expr, indent: string): string {
    const one = expr(e);
    if (indent.length + one.length <= this.width || e.type !== "binary" || (e.op !== "and" && e.op !== "or"))
      return `${indent}${one}\n`;
    // a long chain of one boolean operator: one operand per line
    const op = e.op;
    const operands: Expr[] = [];
    let cur: Expr = e;
    while (cur.type === "binary" && cur.op === op) {
      operands.push(cur.right);
      cur = cur.left;
    }
    operands.push(cur);
    operands.reverse();
    return operands.map((x, k) => `${indent}${expr(x)}${k < operands.length - 1 ? ` ${op}` : ""}\n`).join("");
  }
}

function push(map: Map<object, string[]>, key: object, text: string): void {
  const list = map.get(key);
  if (list) list.push(text);
  else map.set(key, [text]);
}

/** A comment moved to a new indentation: its first line is re-indented, the others kept. */
function reindent(comment: string, indent: string): string {
  return indent + comment;
}

/** A text literal that the lexer reads back to the same bytes. */
export function quote(bytes: string): string {
  let out = '"';
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += "\\\\";
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x09) out += "\\t";
    else if (c === 0x0d) out += "\\r";
    else if (c >= 0x20 && c < 0x7f) out += bytes[i];
    else out += "\\x" + c.toString(16).padStart(2, "0");
  }
  return out + '"';
}

function metaValue(m: Meta): string {
  if (typeof m.value === "string") return quote(m.value);
  return String(m.value);
}

/** A regular expression literal: '/' outside a class is escaped, as the lexer unescaped it. */
function regexLiteral(source: string, flags: string): string {
  let out = "/";
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === "\\") {
      out += c + (source[i + 1] ?? "");
      i++;
      continue;
    }
    if (c === "[") inClass = true;
    else if (c === "]") inClass = false;
    out += c === "/" && !inClass ? "\\/" : c;
  }
  return out + "/" + flags;
}

function hexNodes(nodes: HexNode[]): string {
  return nodes
    .map((n) => {
      if (n.type === "byte") {
        const hi = n.mask & 0xf0 ? ((n.value >> 4) & 0xf).toString(16).toUpperCase() : "?";
        const lo = n.mask & 0x0f ? (n.value & 0xf).toString(16).toUpperCase() : "?";
        return (n.not ? "~" : "") + hi + lo;
      }
      if (n.type === "jump") {
        if (n.max === null) return n.min === 0 ? "[-]" : `[${n.min}-]`;
        return n.min === n.max ? `[${n.min}]` : `[${n.min}-${n.max}]`;
      }
      return `( ${n.alternatives.map(hexNodes).join(" | ")} )`;
    })
    .join(" ");
}

function modifiers(m: StringModifiers): string {
  const out: string[] = [];
  if (m.ascii) out.push("ascii");
  if (m.wide) out.push("wide");
  if (m.nocase) out.push("nocase");
  if (m.fullword) out.push("fullword");
  if (m.private) out.push("private");
  if (m.xor) {
    const { min, max } = m.xor;
    out.push(min === 0 && max === 255 ? "xor" : min === max ? `xor(${min})` : `xor(${min}-${max})`);
  }
  if (m.base64) out.push(m.base64.alphabet === undefined ? "base64" : `base64(${quote(m.base64.alphabet)})`);
  if (m.base64wide)
    out.push(m.base64wide.alphabet === undefined ? "base64wide" : `base64wide(${quote(m.base64wide.alphabet)})`);
  return out.length ? " " + out.join(" ") : "";
}

function stringDef(s: StringDef): string {
  const body =
    s.kind === "text"
      ? quote(s.value)
      : s.kind === "hex"
        ? `{ ${hexNodes(s.tokens)} }`
        : regexLiteral(s.source, s.flags);
  return `${s.id} = ${body}${modifiers(s.modifiers)}`;
}

function quantifier(q: Quantifier): string {
  if (q.kind !== "expr") return q.kind;
  return expr(q.expr) + (q.percent ? "%" : "");
}

function stringSet(s: StringSet): string {
  if (s.kind === "them") return "them";
  return `(${s.items.map((i) => i.id + (i.wildcard ? "*" : "")).join(", ")})`;
}

function range(r: { lo: Expr; hi: Expr }): string {
  return `(${expr(r.lo)}..${expr(r.hi)})`;
}

function float(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  let t = String(v);
  if (/e/i.test(t)) t = v.toFixed(20).replace(/0+$/, "");
  if (!t.includes(".")) t += ".0";
  if (t.endsWith(".")) t += "0";
  return t;
}

/** A condition expression on one line. */
export function expr(e: Expr): string {
  switch (e.type) {
    case "bool":
      return e.value ? "true" : "false";
    case "int":
      return e.raw ?? String(e.value);
    case "float":
      return float(e.value);
    case "string":
      return quote(e.value);
    case "regex":
      return regexLiteral(e.source, e.flags);
    case "filesize":
      return "filesize";
    case "entrypoint":
      return "entrypoint";
    case "ident":
      return e.name;
    case "field":
      return `${expr(e.object)}.${e.name}`;
    case "index":
      return `${expr(e.object)}[${expr(e.index)}]`;
    case "call":
      return `${expr(e.callee)}(${e.args.map(expr).join(", ")})`;
    case "strMatch":
      return e.id + (e.at ? ` at ${expr(e.at)}` : "") + (e.range ? ` in ${range(e.range)}` : "");
    case "strCount":
      return "#" + e.id.slice(1) + (e.range ? ` in ${range(e.range)}` : "");
    case "strOffset":
      return "@" + e.id.slice(1) + (e.index ? `[${expr(e.index)}]` : "");
    case "strLength":
      return "!" + e.id.slice(1) + (e.index ? `[${expr(e.index)}]` : "");
    case "unary": {
      // a run of prefix operators (a generated `not not ... x`) is walked in a loop, as parsed
      const ops: string[] = [];
      let cur: Expr = e;
      while (cur.type === "unary") {
        ops.push(cur.op);
        cur = cur.operand;
      }
      let out = expr(cur);
      for (let k = ops.length - 1; k >= 0; k--) {
        const op = ops[k]!;
        if (op === "not" || op === "defined") out = `${op} ${out}`;
        else out = op + (out.startsWith("-") || out.startsWith("~") ? " " : "") + out;
      }
      return out;
    }
    case "binary": {
      // a left-associative chain (`a or b or ...`, thousands long in generated rules) in a loop
      const spine: Array<Extract<Expr, { type: "binary" }>> = [];
      let cur: Expr = e;
      while (cur.type === "binary") {
        spine.push(cur);
        cur = cur.left;
      }
      let out = expr(cur);
      for (let k = spine.length - 1; k >= 0; k--) out += ` ${spine[k]!.op} ${expr(spine[k]!.right)}`;
      return out;
    }
    case "of": {
      let out = `${quantifier(e.quantifier)} of `;
      out += e.rules ? `(${e.rules.map((r) => r.name + (r.wildcard ? "*" : "")).join(", ")})` : stringSet(e.strings!);
      if (e.at) out += ` at ${expr(e.at)}`;
      if (e.range) out += ` in ${range(e.range)}`;
      return out;
    }
    case "forIn": {
      const it = e.iterable;
      const iter =
        it.kind === "range" ? range(it) : it.kind === "list" ? `(${it.items.map(expr).join(", ")})` : expr(it.expr);
      return `for ${quantifier(e.quantifier)} ${e.vars.join(", ")} in ${iter} : ( ${expr(e.body)} )`;
    }
    case "forOf":
      return `for ${quantifier(e.quantifier)} of ${stringSet(e.strings)} : ( ${expr(e.body)} )`;
    case "paren":
      return `(${expr(e.expr)})`;
  }
}

/** A tree without positions, for comparing the parse of a source with that of its formatted text. */
export function stripPositions(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripPositions);
  if (typeof value === "bigint") return { bigint: value.toString() };
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === "pos" || k === "end" || k === "namePos" || k === "opPos" || k === "path" || k === "raw") continue;
      if (k === "source" && "tokens" in value) continue; // a hex string's raw text; its tokens are compared
      out[k] = stripPositions(v);
    }
    return out;
  }
  return value;
}
