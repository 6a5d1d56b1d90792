/**
 * Prints a module's data for one scan in the layout of `yara -D` (YARA 4.2.3), so that
 * `vigil yara -D` output can be compared line for line with yara's:
 *
 *   elf
 *   	number_of_sections = 29
 *   	sections
 *   		[0]
 *   			name = ".interp"
 *
 * One line per object, indented with tabs; scalars as `name = 123`, `name = 1.500000` (C's %f),
 * `name = "text\x0a"` (printable ASCII as is, other bytes as \xNN) or `name = YR_UNDEFINED`;
 * structs, arrays and dictionaries as a bare name followed by their members; array items as
 * `[i]` (undefined items left out); dictionary items by their key. Like yara, structure members
 * are printed in reverse declaration order, and every copy yara makes to create an array or
 * dictionary item reverses them again: inside an item they come in declaration order, inside an
 * item of an item reversed, and so on. Functions are not printed.
 */
import type { FieldType, YaraModule } from "./schema.js";

function quote(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) & 0xff;
    out += c >= 0x20 && c < 0x7f ? s[i] : `\\x${c.toString(16).padStart(2, "0")}`;
  }
  return out + '"';
}

/** C's printf("%f"). */
function cFloat(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  if (Math.abs(x) < 1e21) return x.toFixed(6);
  // toFixed switches to exponent notation from 1e21: print the integer part exactly.
  return `${BigInt(x)}.000000`;
}

function scalar(type: FieldType, v: unknown): string {
  if (v === undefined || v === null) return " = YR_UNDEFINED";
  switch (type.kind) {
    case "integer":
      return ` = ${typeof v === "bigint" ? BigInt.asIntN(64, v) : Number(v)}`;
    case "float":
      return ` = ${cFloat(Number(v))}`;
    case "string":
      return ` = ${quote(String(v))}`;
    default:
      return "";
  }
}

function print(type: FieldType, v: unknown, label: string, indent: number, out: string[], copies = 0): void {
  const tabs = "\t".repeat(Math.min(indent, 31));
  switch (type.kind) {
    case "function":
      return;
    case "integer":
    case "float":
    case "string":
      out.push(tabs + label + scalar(type, v));
      return;
    case "struct": {
      out.push(tabs + label);
      const obj = (v !== null && typeof v === "object" ? v : {}) as Record<string, unknown>;
      const names = Object.keys(type.fields);
      if (copies % 2 === 0) names.reverse();
      for (const name of names) print(type.fields[name]!, obj[name], name, indent + 1, out, copies);
      return;
    }
    case "array": {
      out.push(tabs + label);
      if (!Array.isArray(v)) return;
      v.forEach((item: unknown, i: number) => {
        if (item !== undefined && item !== null) print(type.of, item, `[${i}]`, indent + 1, out, copies + 1);
      });
      return;
    }
    case "dictionary": {
      out.push(tabs + label);
      if (!(v instanceof Map)) return;
      for (const [k, item] of v as Map<string, unknown>) {
        if (item !== undefined && item !== null) print(type.of, item, quoteKey(String(k)), indent + 1, out, copies + 1);
      }
      return;
    }
  }
}

// Dictionary keys are printed raw by yara; keep our output one line per object.
function quoteKey(k: string): string {
  return k.replace(/[\x00-\x1f\x7f-\xff]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** Formats the module's root object (as returned by `load`) like `yara -D` does. */
export function formatModuleData(module: YaraModule, root: Record<string, unknown>): string {
  const out: string[] = [];
  print(module.declarations, root, module.name, 0, out);
  return out.join("\n") + "\n";
}
