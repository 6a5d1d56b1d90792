/**
 * RTF documents: the hex of every `\objdata` group is decoded; an OLE1 embedded object in it
 * yields its native data: the packaged file for the Packager class (named by its file name),
 * else the object's own bytes (usually an OLE2 file, opened in turn), as `objdataN[/NAME]`.
 * Data that is no OLE1 object is yielded as decoded. `\bin N` runs inside the group are taken as
 * raw bytes. A group cut short by the end of the file yields what it held with a `problem`. A
 * document with no `\objdata` yields nothing: it is fully scanned as it is.
 */
import { overLimit, type Member, type OutputCap } from "../types.js";
import { ole10Native, parseOle1 } from "./ole-object.js";

export function isRtf(b: Uint8Array): boolean {
  return b.length >= 5 && b[0] === 0x7b && b[1] === 0x5c && b[2] === 0x72 && b[3] === 0x74 && b[4] === 0x66;
}

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

const OBJDATA = Buffer.from("\\objdata", "latin1");

/** Decodes the hex of an `\objdata` group from `p` to its closing brace (or `limit` bytes). */
function objdata(
  b: Uint8Array,
  p: number,
  limit: number,
): { data: Uint8Array; end: number; cut: boolean; over: boolean } {
  let out = new Uint8Array(Math.min(limit, Math.ceil((b.length - p) / 2) + 1, 1 << 16));
  let n = 0;
  const room = (k: number) => {
    // grows the output up to the limit; false when k more bytes would pass it
    if (n + k <= out.length) return true;
    if (n + k > limit) return false;
    const next = new Uint8Array(Math.min(limit, Math.max(n + k, out.length * 2)));
    next.set(out.subarray(0, n));
    out = next;
    return true;
  };
  let hi = -1;
  let depth = 1;
  let q = p;
  while (q < b.length) {
    const c = b[q]!;
    if (c === 0x7b) depth++;
    else if (c === 0x7d) {
      if (--depth === 0) return { data: out.subarray(0, n), end: q + 1, cut: false, over: false };
    } else if (c === 0x5c) {
      // a control word inside the data: \bin N takes N raw bytes; others are skipped
      let r = q + 1;
      while (r < b.length && ((b[r]! >= 0x61 && b[r]! <= 0x7a) || (b[r]! >= 0x41 && b[r]! <= 0x5a))) r++;
      const word = Buffer.from(b.buffer, b.byteOffset + q + 1, r - q - 1).toString("latin1");
      let s = r;
      if (b[s] === 0x2d) s++;
      while (s < b.length && b[s]! >= 0x30 && b[s]! <= 0x39 && s - r < 10) s++;
      const arg = Number(Buffer.from(b.buffer, b.byteOffset + r, s - r).toString("latin1")) || 0;
      if (b[s] === 0x20) s++;
      if (word === "bin" && arg > 0) {
        const take = Math.min(arg, b.length - s);
        if (!room(take)) return { data: out.subarray(0, n), end: q, cut: false, over: true };
        out.set(b.subarray(s, s + take), n);
        n += take;
        s += Math.min(arg, b.length - s);
      }
      q = s === q + 1 ? q + 2 : s;
      continue;
    } else {
      const v = hexVal(c);
      if (v >= 0) {
        if (hi < 0) hi = v;
        else {
          if (!room(1)) return { data: out.subarray(0, n), end: q, cut: false, over: true };
          out[n++] = (hi << 4) | v;
          hi = -1;
        }
      }
    }
    q++;
  }
  return { data: out.subarray(0, n), end: q, cut: true, over: false };
}

/**
 * The members of an RTF document. One that embeds nothing yields nothing (its own bytes are all
 * there is to scan), unless it does not end with its closing brace: then it was cut short and
 * what the rest held is unknown, a member with a `problem`.
 */
export function* readRtf(b: Uint8Array, cap: OutputCap): Generator<Member> {
  let n = 0;
  for (const m of rtfObjects(b, cap)) {
    n++;
    yield m;
  }
  let end = b.length;
  while (end > 0 && (b[end - 1] === 0 || b[end - 1] === 0x20 || (b[end - 1]! >= 0x09 && b[end - 1]! <= 0x0d))) end--;
  if (!n && b[end - 1] !== 0x7d)
    yield {
      name: "",
      compressedSize: b.length,
      problem: {
        reason: "corrupt-archive",
        message: "RTF document cut short (it does not end with its closing brace); the bytes present were scanned",
      },
    };
}

function* rtfObjects(b: Uint8Array, cap: OutputCap): Generator<Member> {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  let at = buf.indexOf(OBJDATA);
  let k = 0;
  while (at >= 0) {
    const after = at + OBJDATA.length;
    const c = b[after];
    if (c !== undefined && ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a))) {
      at = buf.indexOf(OBJDATA, after); // \objdataX is another word
      continue;
    }
    const name = `objdata${k++}`;
    const limit = cap(Math.ceil((b.length - after) / 2));
    const r = objdata(b, after, limit);
    if (r.over) {
      yield overLimit(name, r.data.length * 2, limit);
    } else if (r.data.length) {
      yield* objectMembers(name, r.data, r.cut);
    }
    at = buf.indexOf(OBJDATA, Math.max(r.end, after));
  }
}

function* objectMembers(name: string, data: Uint8Array, cut: boolean): Generator<Member> {
  const cutProblem = {
    reason: "corrupt-archive" as const,
    message: "RTF \\objdata group cut short by the end of the file; the bytes decoded were scanned",
  };
  const ole1 = parseOle1(data);
  if (!ole1) {
    yield cut
      ? { name, compressedSize: data.length, data, problem: cutProblem }
      : { name, compressedSize: data.length, data };
    return;
  }
  const payload = ole10Native(ole1.native);
  if (ole1.className === "Package" && payload) {
    yield { ...payload, name: `${name}/${payload.name}` };
    return;
  }
  const native = ole1.native.subarray(4);
  if (!native.length) return;
  yield ole1.truncated || cut
    ? {
        name,
        compressedSize: native.length,
        data: native,
        problem: {
          reason: "corrupt-archive",
          message: `RTF embedded ${ole1.className || "OLE"} object cut short; the ${native.length} bytes present were scanned`,
        },
      }
    : { name, compressedSize: native.length, data: native };
}
