/**
 * Property lists (Apple's Info.plist): the XML form and the binary form ("bplist00").
 * Values: dict -> plain object, array -> array, string/date -> string, integer/real -> number,
 * true/false -> boolean, data -> Uint8Array. Malformed input yields undefined, never a throw;
 * nesting depth and object counts are bounded.
 */
import { decodeXml } from "./sources.js";

export type PlistValue = string | number | boolean | Uint8Array | PlistValue[] | { [key: string]: PlistValue };

const MAX_DEPTH = 64;

export function parsePlist(bytes: Uint8Array): PlistValue | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.subarray(0, 8).toString("latin1") === "bplist00") return parseBinary(b);
  return parseXml(b.toString("utf8"));
}

// ---------------------------------------------------------------- XML

type Tok = { kind: "open" | "close" | "empty"; name: string } | { kind: "text"; text: string };

/** A linear scan: every construct is found with indexOf, so unterminated ones end the input. */
function* tokens(xml: string): Generator<Tok> {
  let i = 0;
  const n = xml.length;
  while (i < n) {
    const lt = xml.indexOf("<", i);
    if (lt < 0) {
      yield { kind: "text", text: decodeXml(xml.slice(i)) };
      return;
    }
    if (lt > i) yield { kind: "text", text: decodeXml(xml.slice(i, lt)) };
    const close = (marker: string, from: number): number => {
      const e = xml.indexOf(marker, from);
      return e < 0 ? n : e + marker.length;
    };
    if (xml.startsWith("<!--", lt)) {
      i = close("-->", lt + 4);
      continue;
    }
    if (xml.startsWith("<?", lt)) {
      i = close("?>", lt + 2);
      continue;
    }
    if (xml.startsWith("<![CDATA[", lt)) {
      const e = xml.indexOf("]]>", lt + 9);
      if (e < 0) return;
      yield { kind: "text", text: xml.slice(lt + 9, e) };
      i = e + 3;
      continue;
    }
    if (xml.startsWith("<!", lt)) {
      i = close(">", lt + 2);
      continue;
    }
    const gt = xml.indexOf(">", lt + 1);
    if (gt < 0) return;
    const inner = xml.slice(lt + 1, gt);
    i = gt + 1;
    const m = /^(\/?)([A-Za-z_][\w.-]*)/.exec(inner);
    if (!m) continue;
    yield { kind: m[1] ? "close" : inner.endsWith("/") ? "empty" : "open", name: m[2]! };
  }
}

function parseXml(xml: string): PlistValue | undefined {
  const it = tokens(xml);
  let t = it.next();
  const next = (): Tok | undefined => {
    while (!t.done && t.value.kind === "text" && t.value.text.trim() === "") t = it.next();
    if (t.done) return undefined;
    const v = t.value;
    t = it.next();
    return v;
  };
  const value = (tok: Tok | undefined, depth: number): PlistValue | undefined => {
    if (!tok || tok.kind === "text" || tok.kind === "close" || depth > MAX_DEPTH) return undefined;
    const name = tok.name;
    if (tok.kind === "empty") {
      switch (name) {
        case "true":
          return true;
        case "false":
          return false;
        case "string":
          return "";
        case "dict":
          return {};
        case "array":
          return [];
        case "data":
          return new Uint8Array(0);
        default:
          return undefined;
      }
    }
    if (name === "plist") return value(next(), depth + 1);
    if (name === "dict") {
      const out: { [k: string]: PlistValue } = {};
      for (;;) {
        const k = next();
        if (!k) return undefined;
        if (k.kind === "close") return out;
        if (k.kind !== "open" || k.name !== "key") return undefined;
        const key = textUntilClose();
        if (key === undefined) return undefined;
        const v = value(next(), depth + 1);
        if (v === undefined) return undefined;
        if (key !== "__proto__") out[key] = v;
      }
    }
    if (name === "array") {
      const out: PlistValue[] = [];
      for (;;) {
        const k = next();
        if (!k) return undefined;
        if (k.kind === "close") return out;
        const v = value(k, depth + 1);
        if (v === undefined) return undefined;
        out.push(v);
      }
    }
    const text = textUntilClose();
    if (text === undefined) return undefined;
    switch (name) {
      case "string":
      case "date":
        return text;
      case "integer": {
        const n = Number(text.trim());
        return Number.isFinite(n) ? n : undefined;
      }
      case "real": {
        const n = Number(text.trim());
        return Number.isNaN(n) ? undefined : n;
      }
      case "data":
        return new Uint8Array(Buffer.from(text.replace(/\s+/g, ""), "base64"));
      default:
        return undefined;
    }
  };
  // text up to the closing tag of the element just opened (whitespace kept)
  const textUntilClose = (): string | undefined => {
    let s = "";
    while (!t.done) {
      const v = t.value;
      t = it.next();
      if (v.kind === "text") s += v.text;
      else if (v.kind === "close") return s;
      else return undefined;
    }
    return undefined;
  };
  return value(next(), 0);
}

// ---------------------------------------------------------------- binary

function parseBinary(b: Buffer): PlistValue | undefined {
  if (b.length < 8 + 32) return undefined;
  const tr = b.length - 32;
  const offSize = b[tr + 6]!;
  const refSize = b[tr + 7]!;
  const numObjects = Number(b.readBigUInt64BE(tr + 8));
  const top = Number(b.readBigUInt64BE(tr + 16));
  const tableAt = Number(b.readBigUInt64BE(tr + 24));
  if (offSize < 1 || offSize > 8 || refSize < 1 || refSize > 8) return undefined;
  if (numObjects < 1 || top >= numObjects || tableAt + numObjects * offSize > tr || tableAt < 8) return undefined;
  const uint = (at: number, size: number): number => {
    let v = 0;
    for (let i = 0; i < size; i++) v = v * 256 + b[at + i]!;
    return v;
  };
  const offsetOf = (ref: number): number | undefined =>
    ref < numObjects ? uint(tableAt + ref * offSize, offSize) : undefined;
  const active = new Set<number>();
  const obj = (ref: number, depth: number): PlistValue | undefined => {
    const at = offsetOf(ref);
    if (at === undefined || at < 8 || at >= tableAt || depth > MAX_DEPTH || active.has(ref)) return undefined;
    const marker = b[at]!;
    const hi = marker >> 4;
    const lo = marker & 0xf;
    if (hi === 0) return lo === 8 ? false : lo === 9 ? true : undefined;
    if (hi === 1) {
      const n = 1 << lo;
      if (at + 1 + n > tableAt || n > 8) return undefined;
      return n === 8 ? Number(b.readBigInt64BE(at + 1)) : uint(at + 1, n);
    }
    if (hi === 2) {
      if (lo === 2 && at + 5 <= tableAt) return b.readFloatBE(at + 1);
      if (lo === 3 && at + 9 <= tableAt) return b.readDoubleBE(at + 1);
      return undefined;
    }
    if (hi === 3) {
      if (lo !== 3 || at + 9 > tableAt) return undefined;
      const d = new Date(Date.UTC(2001, 0, 1) + b.readDoubleBE(at + 1) * 1000);
      return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
    }
    // length: the low nibble, or an integer object after the marker when it is 0xF
    let count = lo;
    let start = at + 1;
    if (lo === 0xf) {
      const m = b[at + 1];
      if (m === undefined || m >> 4 !== 1 || (m & 0xf) > 3) return undefined;
      const n = 1 << (m & 0xf);
      count = uint(at + 2, n);
      start = at + 2 + n;
    }
    const need =
      hi === 4 || hi === 5
        ? count
        : hi === 6
          ? count * 2
          : hi === 0xa
            ? count * refSize
            : hi === 0xd
              ? count * 2 * refSize
              : -1;
    if (need < 0 || start + need > tableAt) return undefined;
    if (hi === 4) return new Uint8Array(b.subarray(start, start + count));
    if (hi === 5) return b.subarray(start, start + count).toString("latin1");
    if (hi === 6)
      return Buffer.from(b.subarray(start, start + count * 2))
        .swap16()
        .toString("utf16le");
    active.add(ref);
    try {
      if (hi === 0xa) {
        const out: PlistValue[] = [];
        for (let i = 0; i < count; i++) {
          const v = obj(uint(start + i * refSize, refSize), depth + 1);
          if (v === undefined) return undefined;
          out.push(v);
        }
        return out;
      }
      const out: { [k: string]: PlistValue } = {};
      for (let i = 0; i < count; i++) {
        const k = obj(uint(start + i * refSize, refSize), depth + 1);
        const v = obj(uint(start + (count + i) * refSize, refSize), depth + 1);
        if (typeof k !== "string" || v === undefined) return undefined;
        if (k !== "__proto__") out[k] = v;
      }
      return out;
    } finally {
      active.delete(ref);
    }
  };
  return obj(top, 0);
}
