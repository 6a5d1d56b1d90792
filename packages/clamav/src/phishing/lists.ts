/**
 * The `.pdb` protected-domain list and the `.wdb` allow list as matchers, with the lookups
 * libclamav's regex_list.c makes (facts, not its code):
 *
 * - the text looked up is `real:displayed/` (`R` and `X` lines: the cleaned URLs; `M` lines: the
 *   two hosts), `displayedhost/` (`H` lines) or `real/` (`Y` lines), a leading '.' dropped;
 * - each pattern gets a '/' appended; a regex (`R`, `X`, `Y`) ending in `([/?].*)?` or `([/?].*)`
 *   has that tail dropped first (only the host is compared). Regexes are POSIX extended, case
 *   sensitive, and match anywhere in the text;
 * - a plain pattern (`H`, `M`) matches a suffix of the text that is the whole text or starts
 *   after a '.' (or after a space the displayed text had before its spaces were removed, when
 *   the displayed host is looked up).
 */
import type { PhishEntry } from "../formats/phish.js";

/** A POSIX extended regular expression as a JavaScript one (same matches for the forms ClamAV's lists use). */
export function posixToRegExp(ere: string): RegExp {
  let out = "";
  for (let i = 0; i < ere.length; i++) {
    const c = ere[i]!;
    if (c === "\\") {
      const d = ere[i + 1];
      i++;
      if (d === undefined) out += "\\\\";
      // an escaped letter or digit is that character in POSIX (no \d, \w, \b classes)
      else if (/[A-Za-z0-9]/.test(d)) out += d;
      else out += `\\${d}`;
    } else if (c === "[") {
      // a bracket expression: ']' first is literal, a backslash is literal, [:class:] names a class
      let j = i + 1;
      let body = "";
      if (ere[j] === "^") {
        body += "^";
        j++;
      }
      let first = true;
      for (; j < ere.length; j++) {
        const e = ere[j]!;
        if (e === "]" && !first) break;
        first = false;
        if (e === "[" && ere[j + 1] === ":") {
          const close = ere.indexOf(":]", j + 2);
          if (close > 0) {
            body += CLASSES[ere.slice(j + 2, close)] ?? "";
            j = close + 1;
            continue;
          }
        }
        body += e === "\\" || e === "]" || e === "[" ? `\\${e}` : e;
      }
      if (j >= ere.length) throw new SyntaxError(`unterminated bracket expression in ${JSON.stringify(ere)}`);
      out += `[${body}]`;
      i = j;
    } else out += c;
  }
  return new RegExp(out);
}

const CLASSES: Record<string, string> = {
  alpha: "A-Za-z",
  digit: "0-9",
  alnum: "0-9A-Za-z",
  upper: "A-Z",
  lower: "a-z",
  space: " \\t\\n\\r\\f\\v",
  blank: " \\t",
  xdigit: "0-9A-Fa-f",
  punct: "!-\\/:-@\\[-`{-~",
  print: " -~",
  graph: "!-~",
  cntrl: "\\x00-\\x1f\\x7f",
};

/**
 * Text every match of a regex contains (its trailing run of literal characters, '' when it has
 * an alternation at the top level), so that most texts are passed over without running it.
 */
function literalTail(ere: string): string {
  const atoms: Array<string | undefined> = []; // a literal character, or undefined for anything else
  let depth = 0;
  for (let i = 0; i < ere.length; i++) {
    const c = ere[i]!;
    if (c === "\\") {
      atoms.push(ere[i + 1]);
      i++;
    } else if (c === "[") {
      let j = i + 1;
      if (ere[j] === "^") j++;
      if (ere[j] === "]") j++;
      while (j < ere.length && ere[j] !== "]") j++;
      atoms.push(undefined);
      i = j;
    } else if (c === "*" || c === "+" || c === "?" || c === "{") {
      if (atoms.length) atoms[atoms.length - 1] = undefined;
      if (c === "{") while (i < ere.length && ere[i] !== "}") i++;
    } else if (c === "|") {
      if (depth === 0) return "";
      atoms.push(undefined);
    } else if (c === "(" || c === ")" || c === "." || c === "^" || c === "$") {
      if (c === "(") depth++;
      if (c === ")") depth--;
      atoms.push(undefined);
    } else atoms.push(c);
  }
  let tail = "";
  for (let k = atoms.length - 1; k >= 0 && atoms[k] !== undefined; k--) tail = atoms[k] + tail;
  return tail;
}

function hasTopLevelAlternation(ere: string): boolean {
  let depth = 0;
  for (let i = 0; i < ere.length; i++) {
    const c = ere[i];
    if (c === "\\") i++;
    else if (c === "[") {
      let j = i + 1;
      if (ere[j] === "^") j++;
      if (ere[j] === "]") j++;
      while (j < ere.length && ere[j] !== "]") j++;
      i = j;
    } else if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "|" && depth === 0) return true;
  }
  return false;
}

interface RegexEntry {
  re: RegExp;
  /** text every match contains */
  needle: string;
}

/** One list (patterns of one kind): regexes and plain suffix patterns. */
export class PatternList {
  private readonly regexes: RegexEntry[] = [];
  private readonly plain: string[] = [];

  addRegex(pattern: string): void {
    let p = `${pattern}/`;
    for (const tail of ["([/?].*)?/", "([/?].*)/"])
      if (p.length > tail.length + 1 && p.endsWith(tail)) p = `${p.slice(0, -tail.length)}/`;
    const re = posixToRegExp(p);
    // a search for `.+X` or `.*X` (no top-level '|') finds a match iff one starts at 0 (the texts hold
    // no line break): anchoring it saves trying every start, which is quadratic on long hosts
    const anchored = /^\.[+*]/.test(p) && !hasTopLevelAlternation(p) ? new RegExp(`^${re.source}`) : re;
    this.regexes.push({ re: anchored, needle: literalTail(p) });
  }

  addPlain(pattern: string): void {
    this.plain.push(`${pattern}/`);
  }

  get size(): number {
    return this.regexes.length + this.plain.length;
  }

  /**
   * The first pattern `text` (already holding its trailing '/') matches, and whether it is a
   * plain one. `boundary(pos)` gives the character before a plain pattern's match (`pos`:
   * 1-based, as libclamav counts; default: the text's own character there).
   */
  match(text: string, boundary?: (pos: number) => string): { pattern: string; plain: boolean } | undefined {
    for (const r of this.regexes)
      if (text.includes(r.needle) && r.re.test(text)) return { pattern: r.re.source, plain: false };
    for (const pat of this.plain) {
      if (!text.endsWith(pat)) continue;
      if (pat.length === text.length) return { pattern: pat, plain: true };
      const c = boundary ? boundary(text.length - pat.length) : text[text.length - pat.length - 1];
      if (c === "." || c === " ") return { pattern: pat, plain: true };
    }
    return undefined;
  }
}

/** The lists one SignatureSet's phishing entries make. */
export interface PhishingLists {
  /** `.pdb` R (regex) and H (plain) lines: one list, as in libclamav, each lookup tries both kinds */
  protect: PatternList;
  /** `.wdb` X, Y (regex) and M (plain) lines, likewise */
  allow: PatternList;
  /** `.gdb`/`.pdb` full SHA-256 hashes (uppercase hex) and the kind of verdict each gives: '0' '1' '2' or 'W' (allowed) */
  hashes: Map<string, "0" | "1" | "2" | "W">;
  /** entries whose pattern does not compile, with the reason (skipped) */
  skipped: Array<{ entry: PhishEntry; reason: string }>;
}

export function buildLists(protect: PhishEntry[], allow: PhishEntry[], hashes: PhishEntry[]): PhishingLists {
  const lists: PhishingLists = {
    protect: new PatternList(),
    allow: new PatternList(),
    hashes: new Map(),
    skipped: [],
  };
  const regex = (list: PatternList, e: PhishEntry) => {
    try {
      list.addRegex(e.pattern);
    } catch (err) {
      lists.skipped.push({ entry: e, reason: (err as Error).message });
    }
  };
  const hash = (e: PhishEntry) => {
    // S:F:hash (full SHA-256), S1:F:, S2:F:, S:W:hash (allowed); S:P: prefixes are loaded but never decide
    const m = e.pattern.match(/^([PFW]):([0-9a-fA-F]+)$/);
    if (!m) {
      lists.skipped.push({ entry: e, reason: "expected S:F:, S:P: or S:W: and hex digits" });
      return;
    }
    if (m[1] === "P") return;
    const key = m[2]!.toUpperCase();
    if (key.length !== 64) return;
    const kind = m[1] === "W" ? "W" : e.kind.startsWith("S1") ? "1" : e.kind.startsWith("S2") ? "2" : "0";
    // a hash allowed earlier stays allowed
    if (lists.hashes.get(key) !== "W") lists.hashes.set(key, kind);
  };
  for (const e of protect) {
    if (e.kind === "R") regex(lists.protect, e);
    else if (e.kind === "H") lists.protect.addPlain(e.pattern);
    else if (e.kind.startsWith("S")) hash(e);
  }
  for (const e of hashes) hash(e);
  for (const e of allow) {
    if (e.kind === "X" || e.kind === "Y") regex(lists.allow, e);
    else if (e.kind === "M") lists.allow.addPlain(e.pattern);
  }
  return lists;
}
