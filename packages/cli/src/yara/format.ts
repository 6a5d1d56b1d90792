/**
 * yara's text output, byte for byte: the rule line (`[ns:]rule [tags] [meta] path`), the
 * `-s` string lines and the diagnostics' shape (`error: rule "r" in file(line): message`).
 */
import type { Diagnostic, RuleMatch } from "@vigil/engine";

/** Meta values as yara prints them: integers `key =5`, booleans `key=true`, strings C-escaped. */
export function formatMeta(list: Array<[string, string | number | bigint | boolean]>): string {
  return list
    .map(([k, v]) => {
      if (typeof v === "string") return `${k}="${escapeMetaString(v)}"`;
      if (typeof v === "boolean") return `${k}=${v}`;
      return `${k} =${v}`;
    })
    .join(",");
}

/** C escapes as yara's meta printing does: \" \\ \n \t \r, other non-printables as octal. */
function escapeMetaString(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) & 0xff;
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += "\\\\";
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x09) out += "\\t";
    else if (c === 0x0d) out += "\\r";
    else if (c >= 0x20 && c < 0x7f) out += s[i];
    else out += "\\" + c.toString(8).padStart(3, "0");
  }
  return out;
}

export function formatRuleLine(
  m: { rule: string; namespace: string; tags: string[]; metaList: Array<[string, string | number | bigint | boolean]> },
  path: string,
  o: { namespace?: boolean; tags?: boolean; meta?: boolean },
): string {
  let line = o.namespace ? `${m.namespace}:${m.rule}` : m.rule;
  if (o.tags) line += ` [${m.tags.join(",")}]`;
  if (o.meta) line += ` [${formatMeta(m.metaList)}]`;
  return `${line} ${path}`;
}

/** Match data: printable ASCII as is, other bytes \xHH (uppercase); hex strings as "4D 5A". */
export function formatData(data: Uint8Array, isHex: boolean): string {
  if (isHex) return Array.from(data, (b) => b.toString(16).toUpperCase().padStart(2, "0")).join(" ");
  let out = "";
  for (const b of data)
    out += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : "\\x" + b.toString(16).toUpperCase().padStart(2, "0");
  return out;
}

/** The `-s` / `-L` lines of a match, one at a time (a string may match a million times). */
export function* formatStringLines(
  m: RuleMatch,
  hexIds: Set<string>,
  o: { length?: boolean; xor?: boolean; data?: boolean },
): Generator<string> {
  for (const s of m.strings) {
    for (const x of s.matches) {
      let line = `0x${x.offset.toString(16)}:`;
      if (o.length) line += `${x.data.length}:`; // yara prints the stored data length (at most 512)
      line += s.identifier;
      if (o.xor && x.xorKey !== undefined) {
        const plain = x.data.map((b) => b ^ x.xorKey!);
        line += `:xor(0x${x.xorKey.toString(16).padStart(2, "0")},${formatData(plain, false)})`;
      }
      // -L alone (yara 4.2.3) prints offset, length and identifier without the data
      if (o.data !== false) line += `: ${formatData(x.data, hexIds.has(s.identifier))}`;
      yield line;
    }
  }
}

/** A diagnostic in yara's shape. */
export function formatYaraDiagnostic(d: Diagnostic, severity: "error" | "warning"): string {
  const file = d.path ?? "<source>";
  const line = d.yaraLine ?? d.line; // e.g. an unreferenced string: yara names the line where the rule ends
  if (d.rule !== undefined) return `${severity}: rule "${d.rule}" in ${file}(${line}): ${d.message}`;
  return `${file}(${line}): ${severity}: ${d.message}`;
}
