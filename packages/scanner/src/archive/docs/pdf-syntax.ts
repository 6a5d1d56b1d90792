/**
 * PDF object syntax (ISO 32000-1 7.3): a small parser for the values a scanner needs to read
 * (dictionaries, arrays, names, numbers, strings, references). Nesting and sizes are bounded;
 * bad syntax ends the value early instead of throwing.
 */

export type PdfValue =
  | { t: "dict"; v: Map<string, PdfValue> }
  | { t: "array"; v: PdfValue[] }
  | { t: "name"; v: string }
  | { t: "num"; v: number }
  | { t: "str"; v: Uint8Array }
  | { t: "ref"; num: number; gen: number }
  | { t: "kw"; v: string };

const MAX_DEPTH = 64;
const MAX_ITEMS = 100_000;

export const isWhite = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0x0c || c === 0;
const isDelim = (c: number) =>
  c === 0x28 ||
  c === 0x29 ||
  c === 0x3c ||
  c === 0x3e ||
  c === 0x5b ||
  c === 0x5d ||
  c === 0x7b ||
  c === 0x7d ||
  c === 0x2f ||
  c === 0x25;

export class PdfParser {
  items = 0;
  /** where parsing stops (the end of the object being read): keeps hostile files linear */
  end: number;
  constructor(readonly b: Uint8Array) {
    this.end = b.length;
  }

  /** Parses one value at `p`, not reading past `end`. */
  valueWithin(p: number, end: number): { v: PdfValue; end: number } | undefined {
    this.items = 0;
    this.end = Math.min(end, this.b.length);
    try {
      return this.value(p);
    } finally {
      this.end = this.b.length;
    }
  }

  skipWhite(p: number): number {
    const b = this.b;
    while (p < this.end) {
      const c = b[p]!;
      if (isWhite(c)) p++;
      else if (c === 0x25) {
        while (p < this.end && b[p] !== 0x0a && b[p] !== 0x0d) p++; // a comment
      } else break;
    }
    return p;
  }

  private token(p: number): { s: string; end: number } {
    const b = this.b;
    let q = p;
    while (q < this.end && q - p < 256 && !isWhite(b[q]!) && !isDelim(b[q]!)) q++;
    return { s: Buffer.from(b.buffer, b.byteOffset + p, q - p).toString("latin1"), end: q };
  }

  /** Parses one value at `p` (after whitespace); undefined when none parses there. */
  value(p: number, depth = 0): { v: PdfValue; end: number } | undefined {
    const b = this.b;
    p = this.skipWhite(p);
    if (p >= this.end || depth > MAX_DEPTH || ++this.items > MAX_ITEMS) return undefined;
    const c = b[p]!;
    if (c === 0x3c && b[p + 1] === 0x3c) return this.dict(p + 2, depth);
    if (c === 0x3c) return this.hexString(p + 1);
    if (c === 0x28) return this.literal(p + 1);
    if (c === 0x5b) {
      const arr: PdfValue[] = [];
      let q = p + 1;
      for (;;) {
        q = this.skipWhite(q);
        if (q >= this.end) return { v: { t: "array", v: arr }, end: q };
        if (b[q] === 0x5d) return { v: { t: "array", v: arr }, end: q + 1 };
        const x = this.value(q, depth + 1);
        if (!x || x.end <= q) return { v: { t: "array", v: arr }, end: q };
        arr.push(x.v);
        q = x.end;
      }
    }
    if (c === 0x2f) {
      const t = this.token(p + 1);
      return { v: { t: "name", v: decodeName(t.s) }, end: t.end };
    }
    if ((c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e) {
      const t = this.token(p);
      const n = Number(t.s);
      if (!Number.isFinite(n)) return { v: { t: "kw", v: t.s }, end: t.end };
      // "num gen R" is a reference
      if (Number.isInteger(n) && n >= 0) {
        const q = this.skipWhite(t.end);
        const g = this.token(q);
        if (/^\d{1,5}$/.test(g.s)) {
          const r = this.skipWhite(g.end);
          if (b[r] === 0x52 && (r + 1 >= this.end || isWhite(b[r + 1]!) || isDelim(b[r + 1]!)))
            return { v: { t: "ref", num: n, gen: Number(g.s) }, end: r + 1 };
        }
      }
      return { v: { t: "num", v: n }, end: t.end };
    }
    if (isDelim(c)) return undefined;
    const t = this.token(p);
    return t.end > p ? { v: { t: "kw", v: t.s }, end: t.end } : undefined;
  }

  private dict(p: number, depth: number): { v: PdfValue; end: number } {
    const b = this.b;
    const m = new Map<string, PdfValue>();
    let q = p;
    for (;;) {
      q = this.skipWhite(q);
      if (q >= this.end) break;
      if (b[q] === 0x3e && b[q + 1] === 0x3e) return { v: { t: "dict", v: m }, end: q + 2 };
      const k = this.value(q, depth + 1);
      if (!k || k.end <= q) break;
      if (k.v.t !== "name") {
        q = k.end;
        continue;
      }
      const x = this.value(k.end, depth + 1);
      if (!x) {
        q = k.end;
        break;
      }
      if (!m.has(k.v.v)) m.set(k.v.v, x.v);
      q = x.end;
    }
    return { v: { t: "dict", v: m }, end: q };
  }

  private hexString(p: number): { v: PdfValue; end: number } {
    const b = this.b;
    const out: number[] = [];
    let hi = -1;
    let q = p;
    for (; q < this.end && b[q] !== 0x3e; q++) {
      const v = hexVal(b[q]!);
      if (v < 0) continue;
      if (hi < 0) hi = v;
      else {
        out.push((hi << 4) | v);
        hi = -1;
      }
    }
    if (hi >= 0) out.push(hi << 4);
    return { v: { t: "str", v: Uint8Array.from(out) }, end: Math.min(q + 1, this.end) };
  }

  private literal(p: number): { v: PdfValue; end: number } {
    const b = this.b;
    let out = new Uint8Array(64);
    let n = 0;
    const put = (x: number) => {
      if (n === out.length) {
        const next = new Uint8Array(out.length * 2);
        next.set(out);
        out = next;
      }
      out[n++] = x;
    };
    let depth = 1;
    let q = p;
    while (q < this.end) {
      const c = b[q++]!;
      if (c === 0x5c) {
        if (q >= this.end) break;
        const e = b[q++]!;
        if (e >= 0x30 && e <= 0x37) {
          let v = e - 0x30;
          for (let k = 0; k < 2 && q < this.end && b[q]! >= 0x30 && b[q]! <= 0x37; k++) v = v * 8 + (b[q++]! - 0x30);
          put(v & 0xff);
        } else if (e === 0x0d) {
          if (b[q] === 0x0a) q++; // a line continuation
        } else if (e !== 0x0a) {
          const map: Record<number, number> = { 110: 10, 114: 13, 116: 9, 98: 8, 102: 12 }; // \n \r \t \b \f
          put(map[e] ?? e);
        }
        continue;
      }
      if (c === 0x28) depth++;
      else if (c === 0x29 && --depth === 0) break;
      put(c);
    }
    return { v: { t: "str", v: out.slice(0, n) }, end: q };
  }
}

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

function decodeName(s: string): string {
  return s.replace(/#([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

export function dictGet(d: PdfValue | undefined, key: string): PdfValue | undefined {
  return d?.t === "dict" ? d.v.get(key) : undefined;
}

/** A PDF text string (UTF-16BE with a BOM, else PDFDocEncoding read as Latin-1). */
export function textString(s: Uint8Array): string {
  if (s.length >= 2 && s[0] === 0xfe && s[1] === 0xff) {
    let r = "";
    for (let i = 2; i + 1 < s.length; i += 2) r += String.fromCharCode((s[i]! << 8) | s[i + 1]!);
    return r;
  }
  return Buffer.from(s).toString("latin1");
}
