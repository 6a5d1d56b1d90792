/**
 * Phishing URL databases: `.pdb` (domains to protect: `R:regex`, `H:host`), `.wdb` (allow
 * list: `X:real:displayed`, `Y:real`, `M:realhost:displayedhost`, `S:W:sha256`) and `.gdb`
 * (Safe-Browsing-style hash prefixes: `S:P:`, `S:F:`, `S1:`, `S2:`, `S:W:`). The first
 * character picks the kind and what runs to the first ':' are filter flags; a trailing
 * `:min-` or `:min-max` (and only that form) is a functionality-level range. `.pdb` and `.gdb`
 * count one per kept line, `.wdb` none (as clamscan). ../phishing applies them to the links of
 * mail bodies.
 */

import { SignatureSyntaxError } from "../signature/fields.js";

export type PhishFormat = "pdb" | "wdb" | "gdb";

export interface PhishEntry {
  kind: string;
  pattern: string;
}

const KINDS: Record<PhishFormat, RegExp> = {
  pdb: /^[RH]/,
  wdb: /^([XYM]|S:W:)/,
  gdb: /^(S:[PFW]:|S[12]:)/,
};

/** One line; undefined when its trailing FLEVEL range excludes `flevel`. */
export function parsePhishLine(line: string, format: PhishFormat, flevel: number): PhishEntry | undefined {
  let text = line;
  const m = text.match(/:(\d+)-(\d*)$/);
  if (m) {
    if (+m[1]! > flevel || (m[2] !== "" && +m[2]! < flevel)) return undefined;
    text = text.slice(0, m.index);
  }
  if (!KINDS[format].test(text))
    throw new SignatureSyntaxError(
      `unknown ${format} entry kind '${text.slice(0, 4)}' (expected ${format === "pdb" ? "R or H" : format === "wdb" ? "X, Y, M or S:W:" : "S:P:, S:F:, S1:, S2: or S:W:"})`,
    );
  const colon = text.indexOf(":");
  if (colon < 0 || colon === text.length - 1) throw new SignatureSyntaxError("expected Kind[flags]:pattern");
  const kind = text.startsWith("S") ? text.slice(0, text.indexOf(":", colon + 1) + 1 || colon + 1) : text[0]!;
  return { kind, pattern: text.slice(colon + 1) };
}
