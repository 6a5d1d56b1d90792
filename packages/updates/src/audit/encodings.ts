/**
 * Marker words as bytes: every word of the policy encoded in the character sets documents use
 * (UTF-8, UTF-16LE/BE, Windows-1251, KOI8-R, GBK, Big5, Shift_JIS, EUC-KR, Windows-1252/1250/
 * 1254/1255/1256), in several cases and separator spellings; an index that finds them in a rule's
 * bytes as written, under a single-byte XOR key (by comparing XOR differences of adjacent bytes,
 * which do not depend on the key), and a text search for case-insensitive matches. `expandMarker`
 * lists the encoded variants a rule could use to hunt a word (wide, xor, base64, hex), which the
 * tests use to build hostile rules.
 */

export const CHARSETS = [
  "utf-8",
  "utf-16le",
  "utf-16be",
  "windows-1251",
  "koi8-r",
  "gbk",
  "big5",
  "shift_jis",
  "euc-kr",
  "windows-1252",
  "windows-1250",
  "windows-1254",
  "windows-1255",
  "windows-1256",
] as const;
export type Charset = (typeof CHARSETS)[number];

const SINGLE_BYTE = new Set<Charset>([
  "windows-1251",
  "koi8-r",
  "windows-1252",
  "windows-1250",
  "windows-1254",
  "windows-1255",
  "windows-1256",
]);
const DOUBLE_BYTE = new Set<Charset>(["gbk", "big5", "shift_jis", "euc-kr"]);
const tables = new Map<Charset, Map<string, number[]>>();

function table(cs: Charset): Map<string, number[]> {
  let t = tables.get(cs);
  if (t) return t;
  t = new Map();
  const dec = new TextDecoder(cs);
  if (SINGLE_BYTE.has(cs)) {
    for (let b = 0; b < 256; b++) {
      const ch = dec.decode(Uint8Array.of(b));
      if (ch.length === 1 && ch !== "\ufffd" && !t.has(ch)) t.set(ch, [b]);
    }
  } else if (DOUBLE_BYTE.has(cs)) {
    for (let b = 0; b < 0x80; b++) t.set(String.fromCharCode(b), [b]);
    // one decode call for every (lead, trail) pair, each followed by a newline that resynchronises
    const buf = new Uint8Array(126 * 191 * 3);
    let n = 0;
    for (let lead = 0x81; lead <= 0xfe; lead++) {
      for (let trail = 0x40; trail <= 0xfe; trail++) {
        buf[n++] = lead;
        buf[n++] = trail;
        buf[n++] = 0x0a;
      }
    }
    const pieces = dec.decode(buf.subarray(0, n)).split("\n");
    let i = 0;
    for (let lead = 0x81; lead <= 0xfe; lead++) {
      for (let trail = 0x40; trail <= 0xfe; trail++) {
        const ch = pieces[i++]!;
        if (ch.length >= 1 && [...ch].length === 1 && ch !== "\ufffd" && !t.has(ch)) t.set(ch, [lead, trail]);
      }
    }
    if (cs === "shift_jis")
      for (let b = 0xa1; b <= 0xdf; b++) {
        const ch = dec.decode(Uint8Array.of(b));
        if (!t.has(ch)) t.set(ch, [b]);
      }
  }
  tables.set(cs, t);
  return t;
}

/** Encodes `text` in a character set; undefined when a character has no encoding there. */
export function encodeText(text: string, cs: Charset): Uint8Array | undefined {
  if (cs === "utf-8") return new Uint8Array(Buffer.from(text, "utf8"));
  if (cs === "utf-16le") return new Uint8Array(Buffer.from(text, "utf16le"));
  if (cs === "utf-16be") {
    const b = Buffer.from(text, "utf16le");
    for (let i = 0; i + 1 < b.length; i += 2) [b[i], b[i + 1]] = [b[i + 1]!, b[i]!];
    return new Uint8Array(b);
  }
  const t = table(cs);
  const out: number[] = [];
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (code < 0x80 && SINGLE_BYTE.has(cs)) {
      out.push(code);
      continue;
    }
    const bytes = t.get(ch);
    if (!bytes) return undefined;
    out.push(...bytes);
  }
  return Uint8Array.from(out);
}

/** YARA's base64 modifier: the base64 of the text at the three alignments, without the edge characters that depend on neighbours. */
export function base64Variants(bytes: Uint8Array): string[] {
  const out: string[] = [];
  for (let pad = 0; pad < 3; pad++) {
    const padded = Buffer.concat([Buffer.alloc(pad), Buffer.from(bytes)]);
    let s = padded.toString("base64").replace(/=+$/, "");
    const lead = [0, 2, 3][pad]!;
    s = s.slice(lead);
    const tailBits = padded.length % 3;
    if (tailBits !== 0) s = s.slice(0, -1);
    out.push(s);
  }
  return out;
}

export interface MarkerVariant {
  readonly encoding: string;
  readonly bytes: Uint8Array;
}

/** Encoded forms of a word a rule could search for: per character set, wide, xor keys, base64 and hex text. */
export function expandMarker(word: string, options: { xorKeys?: number[] } = {}): MarkerVariant[] {
  const out: MarkerVariant[] = [];
  for (const cs of CHARSETS) {
    const b = encodeText(word, cs);
    if (b) out.push({ encoding: cs, bytes: b });
  }
  const utf8 = encodeText(word, "utf-8")!;
  for (const k of options.xorKeys ?? [0x01, 0x20, 0x41, 0x5a, 0xff])
    out.push({ encoding: `xor 0x${k.toString(16).padStart(2, "0")}`, bytes: utf8.map((x) => x ^ k) });
  // base64 text of the word inside a line, at the three alignments (the edges of a base64 run
  // depend on the neighbouring bytes, so the word is framed by spaces)
  for (let pad = 0; pad < 3; pad++) {
    const framed = Buffer.concat([Buffer.from("x".repeat(pad) + " "), Buffer.from(utf8), Buffer.from(" ")]);
    out.push({ encoding: "base64", bytes: new Uint8Array(Buffer.from(framed.toString("base64"), "latin1")) });
  }
  out.push({ encoding: "hex text", bytes: new Uint8Array(Buffer.from(Buffer.from(utf8).toString("hex"), "latin1")) });
  return out;
}

const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;

export interface MarkerWord {
  readonly word: string;
  readonly lang: string;
  readonly severity: "low" | "medium" | "high";
  readonly upperOnly: boolean;
  readonly kind: "marking" | "vocabulary" | "organisation" | "project" | "trade";
}

export interface MarkerHit {
  readonly marker: MarkerWord;
  /** how it was found: the character set, plus "xor 0xNN" when it was XOR-encoded */
  readonly encoding: string;
  readonly xorKey?: number;
}

interface Pattern {
  readonly marker: MarkerWord;
  readonly charset: Charset;
  readonly bytes: Uint8Array;
  readonly boundary: boolean;
  readonly unit: number;
}

function key3(b: Uint8Array, i: number): number {
  return (b[i]! << 16) | (b[i + 1]! << 8) | b[i + 2]!;
}

function caseVariants(w: string, upperOnly: boolean): string[] {
  const base = [w];
  if (!upperOnly) {
    base.push(
      w.toUpperCase(),
      w.toLowerCase(),
      w.toLowerCase().replace(/(^|[\s_-])(\p{L})/gu, (_m, a: string, b: string) => a + b.toUpperCase()),
    );
  }
  const out = new Set<string>();
  for (const v of base) {
    out.add(v);
    if (/[ -]/.test(v)) for (const sep of ["_", "-", "", " "]) out.add(v.replace(/[ -]+/g, sep));
  }
  return [...out];
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/** All marker and vocabulary words of a policy, indexed for byte and text search. */
export class MarkerIndex {
  private readonly plain = new Map<number, Pattern[]>();
  private readonly xor = new Map<number, Pattern[]>();
  private readonly textRes: Array<{ re: RegExp; marker: MarkerWord }> = [];
  /** the words in capitals without separators, indexed by their first two characters */
  private readonly normWords: string[] = [];
  private readonly byPrefix = new Map<string, number[]>();

  constructor(words: readonly MarkerWord[]) {
    for (const m of words) {
      const cjk = CJK.test(m.word);
      const sepFlex = m.word
        .trim()
        .split(/[\s-]+/)
        .map(escapeRe)
        .join("[\\s_\\-.]*");
      const body = cjk ? sepFlex : `(?<![\\p{L}\\p{N}_])${sepFlex}(?![\\p{L}\\p{N}_])`;
      this.textRes.push({ re: new RegExp(body, m.upperOnly ? "u" : "iu"), marker: m });
      // every policy character set is ASCII-compatible but UTF-16: an ASCII word needs only three
      const sets: readonly Charset[] = /^[\x00-\x7f]*$/.test(m.word) ? ["utf-8", "utf-16le", "utf-16be"] : CHARSETS;
      for (const v of caseVariants(m.word, m.upperOnly)) {
        for (const cs of sets) {
          const bytes = encodeText(v, cs);
          if (!bytes || bytes.length < 3) continue;
          const p: Pattern = { marker: m, charset: cs, bytes, boundary: !cjk, unit: cs.startsWith("utf-16") ? 2 : 1 };
          const k = key3(bytes, 0);
          let arr = this.plain.get(k);
          if (!arr) this.plain.set(k, (arr = []));
          if (!arr.some((q) => q.marker === m && Buffer.compare(q.bytes, bytes) === 0)) arr.push(p);
          if (bytes.length >= 5 && m.kind === "marking") {
            const d = delta(bytes);
            const dk = key3(d, 0);
            let xa = this.xor.get(dk);
            if (!xa) this.xor.set(dk, (xa = []));
            if (!xa.some((q) => q.marker === m && Buffer.compare(q.bytes, bytes) === 0)) xa.push(p);
          }
        }
      }
    }
    this.textRes.forEach(({ marker }, k) => {
      const n = normalise(marker.word);
      this.normWords.push(n);
      const key = n.slice(0, 2);
      const list = this.byPrefix.get(key);
      if (list) list.push(k);
      else this.byPrefix.set(key, [k]);
    });
  }

  /** Searches raw bytes for the words in every character set, as written and XOR-encoded. */
  searchBytes(b: Uint8Array, options: { xor?: boolean; nocase?: boolean; minLength?: number } = {}): MarkerHit[] {
    const hits: MarkerHit[] = [];
    const seen = new Set<string>();
    const add = (p: Pattern, key: number) => {
      const id = `${p.marker.word}\u0000${p.charset}\u0000${key}`;
      if (seen.has(id)) return;
      seen.add(id);
      hits.push(
        key === 0
          ? { marker: p.marker, encoding: p.charset }
          : { marker: p.marker, encoding: `${p.charset}, xor 0x${key.toString(16).padStart(2, "0")}`, xorKey: key },
      );
    };
    const minLen = options.minLength ?? 3;
    const scan = (data: Uint8Array, folded: boolean) => {
      for (let i = 0; i + 3 <= data.length; i++) {
        const cands = this.plain.get(key3(data, i));
        if (!cands) continue;
        for (const p of cands) {
          if (p.bytes.length < minLen || (folded && p.marker.upperOnly)) continue;
          if (matchAt(data, i, p.bytes, 0) && boundaryOk(data, i, p, 0)) add(p, 0);
        }
      }
    };
    scan(b, false);
    if (options.nocase) {
      const up = Uint8Array.from(b, (x) => (x >= 0x61 && x <= 0x7a ? x - 32 : x));
      scan(up, true);
    }
    if (options.xor !== false && b.length >= 5) {
      const d = delta(b);
      for (let i = 0; i + 3 <= d.length; i++) {
        const cands = this.xor.get(key3(d, i));
        if (!cands) continue;
        for (const p of cands) {
          if (p.bytes.length < minLen) continue;
          const key = b[i]! ^ p.bytes[0]!;
          if (key === 0 || key === 0x20) continue; // 0x20 only flips the case of letters
          if (matchAt(b, i, p.bytes, key) && boundaryOk(b, i, p, key)) add(p, key);
        }
      }
    }
    return hits;
  }

  /** Searches text (already decoded), case-insensitively for "insensitive" words, exactly for "upper" ones unless nocase. */
  searchText(text: string, nocase = false): MarkerHit[] {
    const hits: MarkerHit[] = [];
    // "upper" words count only as written in capitals: a nocase string must still spell them so
    // prefilter: words, in capitals and without separators, looked up by their first two characters
    const norm = normalise(text);
    const cands = new Set<number>();
    for (let i = 0; i + 2 <= norm.length; i++) {
      const list = this.byPrefix.get(norm.slice(i, i + 2));
      if (!list) continue;
      for (const k of list) if (norm.startsWith(this.normWords[k]!, i)) cands.add(k);
    }
    for (const k of cands) {
      const { re, marker } = this.textRes[k]!;
      if (re.test(text)) hits.push({ marker, encoding: nocase && !marker.upperOnly ? "text, nocase" : "text" });
    }
    return hits;
  }
}

function normalise(s: string): string {
  return s.toUpperCase().replace(/[\s_\-.]+/g, "");
}

function delta(b: Uint8Array): Uint8Array {
  const d = new Uint8Array(Math.max(0, b.length - 1));
  for (let i = 0; i + 1 < b.length; i++) d[i] = b[i]! ^ b[i + 1]!;
  return d;
}

function matchAt(data: Uint8Array, i: number, pat: Uint8Array, key: number): boolean {
  if (i + pat.length > data.length) return false;
  for (let j = 0; j < pat.length; j++) if ((data[i + j]! ^ key) !== pat[j]) return false;
  return true;
}

function isWordByte(x: number, unit: number): boolean {
  if (unit === 2) return false;
  return (x >= 0x30 && x <= 0x39) || (x >= 0x41 && x <= 0x5a) || (x >= 0x61 && x <= 0x7a) || x === 0x5f || x >= 0x80;
}

function boundaryOk(data: Uint8Array, i: number, p: Pattern, key: number): boolean {
  if (!p.boundary) return true;
  const end = i + p.bytes.length;
  if (p.unit === 2) {
    const before = i >= 2 ? [data[i - 2]! ^ key, data[i - 1]! ^ key] : undefined;
    const after = end + 1 < data.length ? [data[end]! ^ key, data[end + 1]! ^ key] : undefined;
    const letter = (u?: number[]) => {
      if (!u) return false;
      const code = p.charset === "utf-16le" ? u[0]! | (u[1]! << 8) : (u[0]! << 8) | u[1]!;
      return /[\p{L}\p{N}_]/u.test(String.fromCharCode(code));
    };
    return !letter(before) && !letter(after);
  }
  const b = i > 0 ? data[i - 1]! ^ key : -1;
  const a = end < data.length ? data[end]! ^ key : -1;
  return !(b >= 0 && isWordByte(b, 1)) && !(a >= 0 && isWordByte(a, 1));
}
