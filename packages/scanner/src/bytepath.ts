/**
 * File names are bytes on Linux, not always valid UTF-8. Every path in the scanner is a string
 * in which a byte that is not part of valid UTF-8 stands as the lone low surrogate U+DC80..U+DCFF
 * (the "surrogateescape" mapping of Python's PEP 383): valid names are the ordinary strings
 * they always were, and every byte sequence maps to exactly one string and back
 * (`pathFromBytes` / `pathToBytes`). Such strings cross worker `postMessage` and JSON.parse
 * unchanged. Pass them to `fs` through `fsPath()`, which gives a Buffer when the name holds raw
 * bytes. People see `printable()`: raw bytes and control characters as `\xNN`, and a backslash
 * that would read as such an escape as `\x5c`; `printableToBytes()` maps that text back.
 * Exported from the package index and, for callers that need nothing else (the CLI's start-up,
 * `vigil yara`), alone as `@vigil/scanner/paths`, which loads no other module.
 */

/** A byte that is not valid UTF-8 (a lone low surrogate not preceded by a high surrogate). */
const RAW = /(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/;
const RAW_G = /(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/g;

/** True when `path` stands for a name that is not valid UTF-8. */
export function hasRawBytes(path: string): boolean {
  return RAW.test(path);
}

/** The string for a file name's bytes (valid UTF-8 decoded, other bytes as U+DC80+byte). */
export function pathFromBytes(bytes: Uint8Array): string {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fast = b.toString("utf8");
  if (!fast.includes("\uFFFD")) return fast; // every invalid sequence decodes to U+FFFD
  let out = "";
  let i = 0;
  const n = b.length;
  while (i < n) {
    const c = b[i]!;
    if (c < 0x80) {
      out += String.fromCharCode(c);
      i++;
      continue;
    }
    let len = 0;
    let lo = 0x80,
      hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c === 0xe0) lo = 0xa0;
      else if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c === 0xf0) lo = 0x90;
      else if (c === 0xf4) hi = 0x8f;
    }
    let ok = len > 0 && i + len <= n;
    if (ok) {
      const c1 = b[i + 1]!;
      if (c1 < lo || c1 > hi) ok = false;
      for (let k = 2; ok && k < len; k++) if ((b[i + k]! & 0xc0) !== 0x80) ok = false;
    }
    if (ok) {
      out += b.toString("utf8", i, i + len);
      i += len;
    } else {
      out += String.fromCharCode(0xdc00 + c);
      i++;
    }
  }
  return out;
}

/** The bytes a path string stands for (the inverse of pathFromBytes). */
export function pathToBytes(path: string): Buffer {
  if (!RAW.test(path)) return Buffer.from(path, "utf8");
  const parts: Buffer[] = [];
  let last = 0;
  for (const m of path.matchAll(RAW_G)) {
    if (m.index! > last) parts.push(Buffer.from(path.slice(last, m.index), "utf8"));
    parts.push(Buffer.of(m[0].charCodeAt(0) - 0xdc00));
    last = m.index! + 1;
  }
  if (last < path.length) parts.push(Buffer.from(path.slice(last), "utf8"));
  return Buffer.concat(parts);
}

/** What to hand to `fs` for a path string: itself, or its bytes when it holds raw bytes. */
export function fsPath(path: string): string | Buffer {
  return RAW.test(path) ? pathToBytes(path) : path;
}

/** Only the raw bytes as `\xNN` (lower-case hex): the rest, control characters included, kept. */
export function escapeRawBytes(s: string): string {
  return RAW.test(s) ? s.replace(RAW_G, (c) => `\\x${(c.charCodeAt(0) - 0xdc00).toString(16)}`) : s;
}

// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f]|\\(?=x[0-9a-fA-F]{2})|(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/g;

/**
 * A path (or a message holding one) for people and line-based reports: control characters,
 * DEL and bytes that are not valid UTF-8 as `\xNN`, a backslash that would read as such an
 * escape as `\x5c`; everything else as is. A file name cannot forge report lines, the text is
 * valid UTF-8, and `printableToBytes()` gives the exact bytes back.
 */
export function printable(s: string): string {
  return s.replace(UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    return `\\x${(code >= 0xdc80 ? code - 0xdc00 : code).toString(16).padStart(2, "0")}`;
  });
}

/** The bytes of a name shown by printable() (`\xNN` back to byte NN, the rest as UTF-8). */
export function printableToBytes(shown: string): Buffer {
  const parts: Buffer[] = [];
  let last = 0;
  for (const m of shown.matchAll(/\\x([0-9a-fA-F]{2})/g)) {
    parts.push(Buffer.from(shown.slice(last, m.index), "utf8"), Buffer.of(parseInt(m[1]!, 16)));
    last = m.index! + m[0].length;
  }
  parts.push(Buffer.from(shown.slice(last), "utf8"));
  return Buffer.concat(parts);
}

/**
 * JSON text (from JSON.stringify) with every raw byte, which JSON.stringify writes as a lone
 * `\udcNN` escape, written as the text `\xNN` instead: valid Unicode for every JSON reader.
 */
export function jsonRawBytes(json: string): string {
  if (!json.includes("\\udc")) return json;
  return json.replace(/(?<!\\)((?:\\\\)*)\\udc([89a-f][0-9a-f])/g, "$1\\\\x$2");
}
