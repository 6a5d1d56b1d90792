/**
 * HTML: the body of every inline `<script>` element (`script-1`, `script-2`, ...) and the
 * payload of every `data:` URI (RFC 2397; base64 or percent-encoded; `data-1`, ...) are
 * members, so rules see script text and embedded files as files of their own (ClamAV writes
 * the same to its `javascript` and `rfc2397` outputs). HTML is recognised by content: a `<`
 * first (after whitespace and a byte-order mark), and an HTML element among the first 4 KiB.
 *
 * The raw page is scanned as it is by the scanner; ClamAV instead matches hash signatures
 * against its normalised forms (`nocomment.html`, `notags.html`), which this reader does not
 * produce.
 */
import { cleanName, overLimit, OutputLimit, type Member, type OutputCap } from "../types.js";
import { decodeBase64, decodePercent } from "./decode.js";

const MARKERS = [
  "<html",
  "<!doctype html",
  "<head",
  "<body",
  "<script",
  "<iframe",
  "<a href",
  "<img",
  "<object",
  "<table",
  "<meta",
  "<title",
  "<div",
  "<form",
  "<style",
  "<svg",
];

export function isHtml(b: Uint8Array): boolean {
  let p = 0;
  if (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) p = 3;
  while (p < b.length && p < 1024 && (b[p] === 0x20 || b[p] === 0x09 || b[p] === 0x0a || b[p] === 0x0d)) p++;
  if (b[p] !== 0x3c) return false;
  const head = Buffer.from(b.buffer, b.byteOffset + p, Math.min(4096, b.length - p))
    .toString("latin1")
    .toLowerCase();
  return MARKERS.some((m) => {
    const i = head.indexOf(m);
    if (i < 0) return false;
    const after = head.charCodeAt(i + m.length);
    // the element name ends there (not `<header` for `<head`, `<tablet` for `<table`)
    return m.includes(" ") || Number.isNaN(after) || after === 0x3e || after <= 0x20 || after === 0x2f;
  });
}

/** Case-insensitive search for an ASCII lowercase needle. */
function findCi(b: Uint8Array, needle: string, from: number, end: number): number {
  const first = needle.charCodeAt(0);
  const up = first - 0x20;
  for (let i = from; i + needle.length <= end; i++) {
    const c = b[i]!;
    if (c !== first && c !== up) continue;
    let k = 1;
    for (; k < needle.length; k++) {
      const x = b[i + k]!;
      const n = needle.charCodeAt(k);
      if (x !== n && !(n >= 0x61 && n <= 0x7a && x === n - 0x20)) break;
    }
    if (k === needle.length) return i;
  }
  return -1;
}

/** Decodes the HTML character references a URI inside an attribute may carry (`&#43;`, `&amp;`). */
function unescapeEntities(b: Uint8Array, s: number, e: number): Uint8Array {
  if (b.subarray(s, e).indexOf(0x26) < 0) return b.subarray(s, e);
  const text = Buffer.from(b.buffer, b.byteOffset + s, e - s)
    .toString("latin1")
    .replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);?/gi, (m, ref: string) => {
      const r = ref.toLowerCase();
      if (r === "amp") return "&";
      if (r === "lt") return "<";
      if (r === "gt") return ">";
      if (r === "quot") return '"';
      if (r === "apos") return "'";
      const code = r.startsWith("#x") ? parseInt(r.slice(2), 16) : parseInt(r.slice(1), 10);
      return code < 256 ? String.fromCharCode(code) : m;
    });
  return new Uint8Array(Buffer.from(text, "latin1"));
}

export function* readHtml(b: Uint8Array, cap: OutputCap): Generator<Member> {
  const end = b.length;
  // scripts
  let scripts = 0;
  let p = 0;
  for (;;) {
    const open = findCi(b, "<script", p, end);
    if (open < 0) break;
    const after = b[open + 7];
    p = open + 7;
    if (after !== undefined && !(after === 0x3e || after <= 0x20 || after === 0x2f)) continue;
    const gt = b.indexOf(0x3e, p);
    if (gt < 0) break;
    const close = findCi(b, "</script", gt + 1, end);
    const bodyEnd = close < 0 ? end : close;
    p = close < 0 ? end : close + 8;
    let s = gt + 1;
    let e = bodyEnd;
    while (s < e && b[s]! <= 0x20) s++;
    while (e > s && b[e - 1]! <= 0x20) e--;
    if (e > s) yield { name: `script-${++scripts}`, compressedSize: e - s, data: b.subarray(s, e) };
  }
  // data: URIs
  let uris = 0;
  p = 0;
  for (;;) {
    const at = findCi(b, "data:", p, end);
    if (at < 0) break;
    p = at + 5;
    // a URI starts after a quote, '=', '(' or whitespace
    const before = at > 0 ? b[at - 1]! : 0x20;
    if (!(before === 0x22 || before === 0x27 || before === 0x3d || before === 0x28 || before <= 0x20)) continue;
    const near = b.subarray(p, Math.min(end, p + 513)).indexOf(0x2c);
    if (near < 0) continue;
    const comma = p + near;
    const meta = Buffer.from(b.buffer, b.byteOffset + p, comma - p).toString("latin1");
    if (/["'<>\s]/.test(meta)) continue;
    const quote = before === 0x22 || before === 0x27 ? before : before === 0x28 ? 0x29 : -1;
    let e = comma + 1;
    while (e < end) {
      const c = b[e]!;
      if (quote >= 0 ? c === quote : c <= 0x20 || c === 0x3e) break;
      if (quote < 0 && (c === 0x22 || c === 0x27)) break;
      e++;
    }
    p = e;
    const payload = unescapeEntities(b, comma + 1, e);
    const name = cleanName(`data-${++uris}`);
    const limit = cap(e - comma - 1);
    try {
      const base64 = /;base64$/i.test(meta);
      const r = base64
        ? decodeBase64(payload, 0, payload.length, limit)
        : decodePercent(payload, 0, payload.length, limit);
      if (!r.data.length) continue;
      yield r.error
        ? {
            name,
            compressedSize: e - comma - 1,
            data: r.data,
            problem: { reason: "corrupt-archive", message: `data: URI ${r.error}` },
          }
        : { name, compressedSize: e - comma - 1, data: r.data };
    } catch (err) {
      if (!(err instanceof OutputLimit)) throw err;
      yield overLimit(name, e - comma - 1, limit);
    }
  }
}
