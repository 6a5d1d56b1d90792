/**
 * The abstract syntax tree of YARA rule files, as the parser produces it. It knows nothing of
 * the compiler. Every node carries the position (1-based line and column, 0-based offset) of
 * its first character. Text is kept as byte strings: the source is read as latin1, so a char
 * code is a byte (0..255) and string literals hold exactly the bytes written in the file.
 */

export interface Pos {
  readonly line: number;
  readonly column: number;
  readonly offset: number;
}

export interface RuleFile {
  readonly path?: string | undefined;
  readonly imports: Import[];
  readonly includes: Include[];
  readonly rules: Rule[];
}

export interface Import {
  readonly module: string;
  readonly pos: Pos;
}
export interface Include {
  readonly path: string;
  readonly pos: Pos;
}

export interface Rule {
  readonly name: string;
  readonly global: boolean;
  readonly private: boolean;
  readonly tags: string[];
  readonly meta: Meta[];
  readonly strings: StringDef[];
  readonly condition: Expr;
  readonly pos: Pos;
  /** position of the closing brace. */
  readonly end?: Pos;
  /** the namespace the rule was compiled into (set by the compiler's front end). */
  namespace?: string;
  /** path of the file the rule comes from, if any. */
  path?: string | undefined;
}

export interface Meta {
  readonly key: string;
  readonly value: string | number | bigint | boolean;
  readonly pos: Pos;
}

export interface StringModifiers {
  nocase?: boolean;
  wide?: boolean;
  ascii?: boolean;
  fullword?: boolean;
  private?: boolean;
  xor?: { min: number; max: number };
  base64?: { alphabet?: string };
  base64wide?: { alphabet?: string };
}

export type StringDef =
  | {
      readonly kind: "text";
      readonly id: string;
      readonly value: string;
      readonly modifiers: StringModifiers;
      readonly pos: Pos;
    }
  | {
      readonly kind: "hex";
      readonly id: string;
      readonly tokens: HexNode[];
      readonly modifiers: StringModifiers;
      readonly pos: Pos;
      readonly source: string;
    }
  | {
      readonly kind: "regex";
      readonly id: string;
      readonly source: string;
      readonly flags: string;
      readonly modifiers: StringModifiers;
      readonly pos: Pos;
    };

/** Hex string items. */
export type HexNode =
  | { readonly type: "byte"; readonly value: number; readonly mask: number; readonly not: boolean }
  | { readonly type: "jump"; readonly min: number; readonly max: number | null }
  | { readonly type: "alt"; readonly alternatives: HexNode[][] };

export type Quantifier =
  | { readonly kind: "all" | "any" | "none" }
  | { readonly kind: "expr"; readonly expr: Expr; readonly percent: boolean };

export type StringSet =
  | { readonly kind: "them"; readonly pos: Pos }
  | { readonly kind: "list"; readonly items: Array<{ id: string; wildcard: boolean; pos: Pos }>; readonly pos: Pos };

export interface RuleSetItem {
  readonly name: string;
  readonly wildcard: boolean;
  readonly pos: Pos;
}

export type Iterable =
  | { readonly kind: "range"; readonly lo: Expr; readonly hi: Expr }
  | { readonly kind: "list"; readonly items: Expr[] }
  | { readonly kind: "expr"; readonly expr: Expr };

export type BinaryOp =
  | "or"
  | "and"
  | "=="
  | "!="
  | "<"
  | "<="
  | ">"
  | ">="
  | "contains"
  | "icontains"
  | "startswith"
  | "istartswith"
  | "endswith"
  | "iendswith"
  | "iequals"
  | "matches"
  | "|"
  | "^"
  | "&"
  | "<<"
  | ">>"
  | "+"
  | "-"
  | "*"
  | "\\"
  | "%";

export type Expr = (
  | { type: "bool"; value: boolean }
  | {
      type: "int";
      value: number | bigint /** the literal as written, when not plain decimal (0x1F, 50KB). */;
      raw?: string;
    }
  | { type: "float"; value: number }
  | { type: "string"; value: string }
  | { type: "regex"; source: string; flags: string }
  | { type: "filesize" }
  | { type: "entrypoint" }
  | { type: "ident"; name: string }
  | { type: "field"; object: Expr; name: string /** position of the field name. */; namePos?: Pos }
  | { type: "index"; object: Expr; index: Expr }
  | { type: "call"; callee: Expr; args: Expr[] }
  | { type: "strMatch"; id: string; at?: Expr; range?: { lo: Expr; hi: Expr } }
  | { type: "strCount"; id: string; range?: { lo: Expr; hi: Expr } }
  | { type: "strOffset"; id: string; index?: Expr }
  | { type: "strLength"; id: string; index?: Expr }
  | { type: "unary"; op: "not" | "-" | "~" | "defined"; operand: Expr }
  | { type: "binary"; op: BinaryOp; left: Expr; right: Expr /** position of the operator. */; opPos?: Pos }
  | {
      type: "of";
      quantifier: Quantifier;
      strings?: StringSet;
      rules?: RuleSetItem[];
      at?: Expr;
      range?: { lo: Expr; hi: Expr };
    }
  | { type: "forIn"; quantifier: Quantifier; vars: string[]; iterable: Iterable; body: Expr }
  | { type: "forOf"; quantifier: Quantifier; strings: StringSet; body: Expr }
  | { type: "paren"; expr: Expr }
) & { pos: Pos };
