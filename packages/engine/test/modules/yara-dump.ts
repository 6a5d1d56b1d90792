/**
 * Test helper shared by the module tests: runs Debian's `yara` (the behavioural oracle) and
 * reads what it says.
 *
 * - `yaraDump(modules, file)` runs `yara -D` with a rule importing the modules and parses the
 *   printed module data into a tree (`parseYaraDump`).
 * - `compareWithDump(module, ours, dumped)` walks the module's declarations and lists every
 *   field where our `load()` result differs from yara's (values, definedness, array lengths).
 * - `yaraMatches(rules, file)` runs generated rules and returns the names of those that matched,
 *   for checking module functions (`math.entropy(0, filesize) == 7.5` and so on).
 *
 * `yara -D` layout (4.2.3): one line per object, indented with tabs; a module name at column 0;
 * `name = 123`, `name = 1.500000`, `name = "bytes\x0a"` or `name = YR_UNDEFINED` for scalars;
 * a bare `name` line for structs, arrays and dictionaries; array items as `[i]` lines; dictionary
 * items as `key = value` or a bare `key` line. Structure members come in reverse declaration order.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FieldType, StructType, YaraModule } from "../../src/modules/schema.js";

export type DumpNode =
  | { kind: "integer"; value: bigint }
  | { kind: "float"; value: number; raw: string }
  | { kind: "string"; value: string }
  | { kind: "undefined" }
  /** a struct, array or dictionary: children by name (`[3]` for array items). */
  | { kind: "container"; children: Map<string, DumpNode> };

function unescapeYaraString(s: string): string {
  // yara prints printable bytes as they are and everything else as \xNN.
  return s.replace(/\\x([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

function parseValue(raw: string): DumpNode {
  if (raw === "YR_UNDEFINED" || raw === "UNDEFINED") return { kind: "undefined" };
  if (raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2) {
    return { kind: "string", value: unescapeYaraString(raw.slice(1, -1)) };
  }
  if (/^-?\d+$/.test(raw)) return { kind: "integer", value: BigInt(raw) };
  return { kind: "float", value: Number(raw), raw };
}

/** Parses `yara -D` output (stdout, latin1) into module name -> root container. */
export function parseYaraDump(text: string): Map<string, DumpNode & { kind: "container" }> {
  const modules = new Map<string, DumpNode & { kind: "container" }>();
  const stack: Array<DumpNode & { kind: "container" }> = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    let depth = 0;
    while (line.charCodeAt(depth) === 9) depth++;
    const body = line.slice(depth);
    if (depth === 0) {
      // a module name, or a match line ("r /path") that yara prints for matching rules.
      if (/^[a-z_][a-z0-9_]*$/.test(body)) {
        const root = { kind: "container" as const, children: new Map<string, DumpNode>() };
        modules.set(body, root);
        stack.length = 0;
        stack.push(root);
      } else {
        stack.length = 0;
      }
      continue;
    }
    if (stack.length === 0) continue;
    stack.length = Math.min(stack.length, depth);
    const parent = stack[stack.length - 1]!;
    const eq = body.indexOf(" = ");
    if (eq >= 0) {
      parent.children.set(body.slice(0, eq), parseValue(body.slice(eq + 3)));
    } else {
      const node = { kind: "container" as const, children: new Map<string, DumpNode>() };
      parent.children.set(body, node);
      stack.push(node);
    }
  }
  return modules;
}

let tmp: string | undefined;
function tmpFile(name: string, content: string): string {
  tmp ??= mkdtempSync(join(tmpdir(), "vigil-yara-"));
  const p = join(tmp, name);
  writeFileSync(p, content, "latin1");
  return p;
}

/** Runs `yara -D` on a file with a rule importing `modules`, and parses what it prints. */
export function yaraDump(modules: string[], file: string): Map<string, DumpNode & { kind: "container" }> {
  const rule = tmpFile(
    `dump-${modules.join("-")}.yar`,
    `${modules.map((m) => `import "${m}"`).join("\n")}\nrule vigil_dump { condition: false }\n`,
  );
  const r = spawnSync("yara", ["-D", rule, file], { maxBuffer: 512 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`yara -D failed on ${file}: ${r.stderr.toString()}`);
  return parseYaraDump(r.stdout.toString("latin1"));
}

/**
 * Runs `rules` (YARA source) over `file` with Debian's yara and returns the names of the rules
 * that matched. Throws with yara's message if the rules do not compile.
 */
export function yaraMatches(rules: string, file: string, extraArgs: string[] = []): Set<string> {
  const path = tmpFile(`rules-${process.pid}-${Math.random().toString(36).slice(2)}.yar`, rules);
  const r = spawnSync("yara", ["-w", ...extraArgs, path, file], { maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`yara failed: ${r.stderr.toString()}`);
  const out = new Set<string>();
  for (const line of r.stdout.toString("latin1").split("\n")) {
    const sp = line.indexOf(" ");
    if (sp > 0) out.add(line.slice(0, sp));
  }
  return out;
}

function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "bigint") return `${v}n`;
  return String(v);
}

/** `%f` as C's printf prints it (6 decimals), for comparing floats with yara's dump. */
export function cFloat(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  return x.toFixed(6);
}

export interface CompareOptions {
  /** field paths (e.g. "elf.telfhash") to leave out, for fields yara 4.2.3 does not have. */
  readonly ignore?: readonly string[];
  /** stop after this many differences (default 50). */
  readonly limit?: number;
}

/**
 * Walks `decl` and compares our module data with yara's dump. Returns a list of differences,
 * each "path: ours X, yara Y"; empty when they agree. Fields absent from yara's dump (fields
 * newer than yara 4.2.3) are skipped unless yara prints something for them.
 */
export function compareWithDump(
  module: YaraModule,
  ours: Record<string, unknown>,
  dumped: DumpNode | undefined,
  options: CompareOptions = {},
): string[] {
  const diffs: string[] = [];
  const limit = options.limit ?? 50;
  const ignore = new Set(options.ignore ?? []);
  const push = (s: string) => {
    if (diffs.length < limit) diffs.push(s);
  };

  const cmp = (type: FieldType, v: unknown, d: DumpNode | undefined, path: string): void => {
    if (ignore.has(path) || diffs.length >= limit) return;
    switch (type.kind) {
      case "function":
        return;
      case "integer": {
        if (d === undefined) return; // field not in this yara version
        const mine = v === undefined ? undefined : BigInt.asIntN(64, BigInt(v as number | bigint));
        if (d.kind === "undefined") {
          if (mine !== undefined) push(`${path}: ours ${mine}, yara undefined`);
        } else if (d.kind === "integer") {
          if (mine === undefined) push(`${path}: ours undefined, yara ${d.value}`);
          else if (mine !== BigInt.asIntN(64, d.value)) push(`${path}: ours ${mine}, yara ${d.value}`);
        } else push(`${path}: yara printed a ${d.kind}, declared integer`);
        return;
      }
      case "float": {
        if (d === undefined) return;
        if (d.kind === "undefined") {
          if (v !== undefined) push(`${path}: ours ${describe(v)}, yara undefined`);
        } else if (d.kind === "float" || d.kind === "integer") {
          const raw = d.kind === "float" ? d.raw : String(d.value);
          if (typeof v !== "number") push(`${path}: ours ${describe(v)}, yara ${raw}`);
          else if (cFloat(v) !== raw) push(`${path}: ours ${cFloat(v)}, yara ${raw}`);
        } else push(`${path}: yara printed a ${d.kind}, declared float`);
        return;
      }
      case "string": {
        if (d === undefined) return;
        if (d.kind === "undefined") {
          if (v !== undefined) push(`${path}: ours ${describe(v)}, yara undefined`);
        } else if (d.kind === "string") {
          if (v !== d.value) push(`${path}: ours ${describe(v)}, yara ${describe(d.value)}`);
        } else push(`${path}: yara printed a ${d.kind}, declared string`);
        return;
      }
      case "struct": {
        if (d !== undefined && d.kind !== "container") {
          push(`${path}: yara printed a ${d.kind}, declared struct`);
          return;
        }
        const obj = (v ?? {}) as Record<string, unknown>;
        for (const [name, ft] of Object.entries(type.fields)) {
          cmp(ft, obj[name], d?.children.get(name), `${path}.${name}`);
        }
        return;
      }
      case "array": {
        if (d === undefined) return;
        if (d.kind !== "container") {
          push(`${path}: yara printed a ${d.kind}, declared array`);
          return;
        }
        const arr = Array.isArray(v) ? (v as unknown[]) : [];
        let yLen = 0;
        for (const k of d.children.keys()) {
          const m = /^\[(\d+)\]$/.exec(k);
          if (m) yLen = Math.max(yLen, Number(m[1]) + 1);
        }
        if (arr.length !== yLen) push(`${path}: ours has ${arr.length} items, yara ${yLen}`);
        const n = Math.min(arr.length, yLen);
        for (let i = 0; i < n && diffs.length < limit; i++) {
          const item = d.children.get(`[${i}]`);
          if (item === undefined && arr[i] === undefined) continue;
          cmp(type.of, arr[i], item ?? emptyLike(type.of), `${path}[${i}]`);
        }
        return;
      }
      case "dictionary": {
        if (d === undefined) return;
        if (d.kind !== "container") {
          push(`${path}: yara printed a ${d.kind}, declared dictionary`);
          return;
        }
        const map = v instanceof Map ? (v as Map<string, unknown>) : new Map<string, unknown>();
        for (const k of map.keys()) if (!d.children.has(k)) push(`${path}[${describe(k)}]: ours only`);
        for (const [k, item] of d.children) {
          if (!map.has(k)) push(`${path}[${describe(k)}]: yara only`);
          else cmp(type.of, map.get(k), item, `${path}[${describe(k)}]`);
        }
        return;
      }
    }
  };
  cmp(module.declarations, ours, dumped, module.name);
  return diffs;
}

function emptyLike(t: FieldType): DumpNode {
  return t.kind === "struct" || t.kind === "array" || t.kind === "dictionary"
    ? { kind: "container", children: new Map() }
    : { kind: "undefined" };
}

/** The declarations' struct type, for callers that need to walk a sub-struct. */
export function fieldOf(t: StructType, name: string): FieldType | undefined {
  return t.fields[name];
}

/** A YARA float literal (no exponent notation, which yara rejects) that parses back to exactly `x`. */
export function floatLiteral(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`no YARA literal for ${x}`);
  if (Object.is(x, -0)) x = 0;
  let s = x.toPrecision(17);
  if (s.includes("e")) {
    const digits = Math.min(100, Math.max(1, 17 - Math.floor(Math.log10(Math.abs(x)))));
    s = x.toFixed(digits);
  }
  if (!s.includes(".")) s += ".0";
  if (Number(s) !== x) throw new Error(`float literal ${s} does not round-trip ${x}`);
  return s;
}

/** A YARA text-string literal for a byte string, escaping everything but plain printable ASCII. */
export function stringLiteral(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) & 0xff;
    out += c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c ? s[i] : `\\x${c.toString(16).padStart(2, "0")}`;
  }
  return out + '"';
}

/** A YARA literal for a module value: integer, float or byte string. */
export function literal(v: number | bigint | string, kind: "integer" | "float" | "string"): string {
  if (kind === "string") return stringLiteral(String(v));
  if (kind === "float") return floatLiteral(Number(v));
  const b = BigInt.asIntN(64, typeof v === "bigint" ? v : BigInt(v));
  // yara cannot parse -9223372036854775808 as a literal; write it as an expression.
  return b === -(2n ** 63n) ? "(-9223372036854775807 - 1)" : b.toString();
}

export interface FunctionCase {
  /** a YARA expression, e.g. `hash.md5(0, filesize)`. */
  readonly expr: string;
  /** what Vigil's module computes for it (undefined for YARA's undefined). */
  readonly value: unknown;
  readonly kind: "integer" | "float" | "string";
}

/**
 * Checks, with one run of Debian's yara over `file`, that every expression evaluates under yara
 * to exactly the value Vigil computed (floats compared with ==, undefined with `not defined`,
 * NaN as neither <= 0 nor > 0). Returns the cases yara disagrees with, as readable lines.
 */
export function checkWithYara(imports: readonly string[], file: string, cases: readonly FunctionCase[]): string[] {
  const rules: string[] = imports.map((m) => `import "${m}"`);
  cases.forEach((c, i) => {
    let cond: string;
    if (c.value === undefined) cond = `not defined (${c.expr})`;
    else if (c.kind === "float" && Number.isNaN(c.value))
      cond = `defined (${c.expr}) and not ((${c.expr}) <= 0.0) and not ((${c.expr}) > 0.0)`;
    else cond = `(${c.expr}) == ${literal(c.value as number | bigint | string, c.kind)}`;
    rules.push(`rule case_${i} { condition: ${cond} }`);
  });
  const matched = yaraMatches(rules.join("\n") + "\n", file);
  const out: string[] = [];
  cases.forEach((c, i) => {
    if (!matched.has(`case_${i}`)) out.push(`${c.expr}: Vigil ${describe(c.value)}, yara differs`);
  });
  return out;
}

/**
 * Expressions for the scalar fields of a module's data (e.g. `elf.sections[3].name`), with the
 * values Vigil's `load` produced, for checking them as rule conditions under yara and Vigil.
 * Arrays contribute their first `maxItems` items and their length is not checked here.
 */
export function fieldCases(
  module: YaraModule,
  root: Record<string, unknown>,
  options: { maxItems?: number; maxCases?: number } = {},
): FunctionCase[] {
  const maxItems = options.maxItems ?? 3;
  const maxCases = options.maxCases ?? 400;
  const out: FunctionCase[] = [];
  const walk = (t: FieldType, v: unknown, path: string): void => {
    if (out.length >= maxCases) return;
    switch (t.kind) {
      case "integer":
      case "float":
      case "string":
        out.push({ expr: path, value: v, kind: t.kind });
        return;
      case "struct":
        for (const [k, ft] of Object.entries(t.fields))
          walk(ft, (v as Record<string, unknown> | undefined)?.[k], `${path}.${k}`);
        return;
      case "array":
        if (Array.isArray(v))
          v.slice(0, maxItems).forEach((item, i) => item !== undefined && walk(t.of, item, `${path}[${i}]`));
        return;
      case "dictionary":
        if (v instanceof Map) {
          let n = 0;
          for (const [k, item] of v) {
            if (n++ >= maxItems) break;
            walk(t.of, item, `${path}[${stringLiteral(String(k))}]`);
          }
        }
        return;
      default:
        return;
    }
  };
  walk(module.declarations, root, module.name);
  return out;
}

/**
 * Evaluates the same generated rules as `checkWithYara` with Vigil's own engine (compile + scan)
 * over `bytes`, and returns the cases whose rule did not match.
 */
export async function checkWithVigil(
  imports: readonly string[],
  bytes: Uint8Array,
  cases: readonly FunctionCase[],
): Promise<string[]> {
  const engine = await import("../../src/index.js");
  const rules: string[] = imports.map((m) => `import "${m}"`);
  cases.forEach((c, i) => {
    let cond: string;
    if (c.value === undefined) cond = `not defined (${c.expr})`;
    else if (c.kind === "float" && Number.isNaN(c.value))
      cond = `defined (${c.expr}) and not ((${c.expr}) <= 0.0) and not ((${c.expr}) > 0.0)`;
    else cond = `(${c.expr}) == ${literal(c.value as number | bigint | string, c.kind)}`;
    rules.push(`rule case_${i} { condition: ${cond} }`);
  });
  const compiled = engine.compile(rules.join("\n") + "\n");
  const result = compiled.scan(bytes, {});
  const matched = new Set(result.matches.map((m: { rule: string }) => m.rule));
  const out: string[] = [];
  cases.forEach((c, i) => {
    if (!matched.has(`case_${i}`)) out.push(`${c.expr}: Vigil module ${describe(c.value)}, Vigil engine differs`);
  });
  return out;
}
