/**
 * PDF documents: objects are found by scanning for `N G obj` (the cross-reference table is not
 * trusted, so a broken or missing xref changes nothing), each stream is decoded through its
 * filter chain (Flate, LZW, ASCIIHex, ASCII85, RunLength, with predictors) and yielded as a
 * member `objN.G`; object streams (/ObjStm) are opened and the objects in them read; embedded
 * files (/EmbeddedFile) are yielded even when unfiltered, named by their file specification;
 * JavaScript (/JS strings and streams) is yielded as `objN.G.js`. Image codecs (DCT, JPX,
 * JBIG2, CCITTFax) end a chain: their bytes are what is scanned. Unfiltered streams other than
 * embedded files and scripts are already in the file's own bytes and are not yielded again.
 *
 * An encrypted PDF is decrypted when the empty user password opens it (RC4, AES-128, AES-256:
 * pdf-crypt.ts), as viewers do without asking; otherwise it yields one "encrypted" problem and
 * the file is reported not fully scanned. Damaged streams (cut, corrupt filter data, an
 * unknown filter) yield what decoded before the damage with a `problem`.
 */
import { cleanName, overLimit, OutputLimit, type Member, type OutputCap } from "../types.js";
import { ascii85, asciiHex, flate, lzw, runLength, unpredict, type Decoded } from "./pdf-filters.js";
import { dictGet, PdfParser, textString, type PdfValue } from "./pdf-syntax.js";
import { openEncryption, type Decryptor } from "./pdf-crypt.js";

export function isPdf(b: Uint8Array): boolean {
  // "%PDF-" in the first 1024 bytes, as readers (and ClamAV) accept it
  const head = Buffer.from(b.buffer, b.byteOffset, Math.min(b.length, 1024));
  return head.indexOf("%PDF-") >= 0;
}

interface PdfObject {
  num: number;
  gen: number;
  dict: PdfValue | undefined;
  /** stream data (raw, before filters) */
  stream?: Uint8Array;
  streamProblem?: string;
}

const IMAGE_FILTERS = new Set(["DCTDecode", "DCT", "JPXDecode", "JBIG2Decode", "CCITTFaxDecode", "CCF"]);
const MAX_OBJECTS = 1_000_000;

/** Where the objects of a file start, and where each one's syntax may end. */
export interface PdfLayout {
  text: string;
  starts: Array<{ at: number; body: number; num: number; gen: number }>;
  /** the end of object i's syntax: its `endobj`, else the next object, else the end of the file */
  extent(i: number): number;
}

export function pdfLayout(b: Uint8Array): PdfLayout {
  const text = Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");
  const re = /(\d{1,10})[ \t\r\n\f\0]+(\d{1,5})[ \t\r\n\f\0]+obj(?![A-Za-z0-9])/g;
  const starts: PdfLayout["starts"] = [];
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) && starts.length < MAX_OBJECTS)
    starts.push({ at: m.index, body: m.index + m[0].length, num: Number(m[1]), gen: Number(m[2]) });
  const ends: number[] = [];
  for (let e = text.indexOf("endobj"); e >= 0 && ends.length < MAX_OBJECTS; e = text.indexOf("endobj", e + 6))
    ends.push(e);
  return {
    text,
    starts,
    extent(i) {
      const from = starts[i]!.body;
      const next = starts[i + 1]?.at ?? b.length;
      let lo = 0;
      let hi = ends.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (ends[mid]! < from) lo = mid + 1;
        else hi = mid;
      }
      return Math.min(next, ends[lo] ?? b.length);
    },
  };
}

/** Reads every object of the layout, with its dictionary and raw stream. */
function scanObjects(b: Uint8Array, layout: PdfLayout, lengthOf: (ref: PdfValue) => number | undefined): PdfObject[] {
  const { text, starts } = layout;
  const parser = new PdfParser(b);
  const out: PdfObject[] = [];
  let skipTo = 0;
  for (let i = 0; i < starts.length; i++) {
    const o = starts[i]!;
    if (o.at < skipTo) continue; // inside the data of a stream read before
    const val = parser.valueWithin(o.body, layout.extent(i));
    const obj: PdfObject = { num: o.num, gen: o.gen, dict: val?.v };
    out.push(obj);
    if (val?.v.t !== "dict") continue;
    let p = parser.skipWhite(val.end);
    if (text.startsWith("stream", p)) {
      p += 6;
      if (b[p] === 0x0d && b[p + 1] === 0x0a) p += 2;
      else if (b[p] === 0x0a || b[p] === 0x0d) p++;
      const declared = lengthOf(dictGet(val.v, "Length") ?? { t: "kw", v: "null" });
      let end = -1;
      if (declared !== undefined && declared >= 0 && p + declared <= b.length) {
        const after = parser.skipWhite(p + declared);
        if (text.startsWith("endstream", after)) end = p + declared;
      }
      if (end < 0) {
        const e = text.indexOf("endstream", p);
        if (e >= 0) {
          end = e;
          if (b[end - 1] === 0x0a) end--;
          if (b[end - 1] === 0x0d) end--;
          if (end < p) end = p;
        }
      }
      if (end < 0) {
        end = b.length;
        obj.streamProblem = `stream of object ${obj.num} ${obj.gen} has no endstream (the file is cut short)`;
      }
      obj.stream = b.subarray(p, end);
      skipTo = end;
    }
  }
  return out;
}

function names(v: PdfValue | undefined): string[] {
  if (!v) return [];
  if (v.t === "name") return [v.v];
  if (v.t === "array") return v.v.map((x) => (x.t === "name" ? x.v : "?"));
  return [];
}

function num(d: PdfValue | undefined, key: string, dflt: number): number {
  const v = dictGet(d, key);
  return v?.t === "num" ? v.v : dflt;
}

/** Runs a stream through its filters, each stage capped at `limit` bytes. */
export function decodeStream(
  raw: Uint8Array,
  dict: PdfValue | undefined,
  limit: number,
  resolve: (v: PdfValue | undefined) => PdfValue | undefined = (v) => v,
): Decoded & { unsupported?: boolean } {
  const filters = names(resolve(dictGet(dict, "Filter")));
  const parmsV = resolve(dictGet(dict, "DecodeParms") ?? dictGet(dict, "DP"));
  let data = raw;
  for (let i = 0; i < filters.length && i < 32; i++) {
    const f = filters[i]!;
    const parms = resolve(parmsV?.t === "array" ? parmsV.v[i] : parmsV);
    let r: Decoded;
    switch (f) {
      case "FlateDecode":
      case "Fl":
        r = flate(data, limit);
        break;
      case "LZWDecode":
      case "LZW":
        r = lzw(data, limit, num(parms, "EarlyChange", 1));
        break;
      case "ASCIIHexDecode":
      case "AHx":
        r = asciiHex(data, limit);
        break;
      case "ASCII85Decode":
      case "A85":
        r = ascii85(data, limit);
        break;
      case "RunLengthDecode":
      case "RL":
        r = runLength(data, limit);
        break;
      case "Crypt":
        if (names(dictGet(parms, "Name"))[0] === "Identity" || !parms) continue;
        return { data, error: "Crypt filter: the stream is encrypted", unsupported: true };
      default:
        if (IMAGE_FILTERS.has(f)) return { data };
        return { data, error: `filter /${f} is not supported`, unsupported: true };
    }
    if ((f === "FlateDecode" || f === "Fl" || f === "LZWDecode" || f === "LZW") && !r.error) {
      const pred = num(parms, "Predictor", 1);
      if (pred >= 2)
        r = unpredict(
          r.data,
          pred,
          num(parms, "Colors", 1),
          num(parms, "BitsPerComponent", 8),
          num(parms, "Columns", 1),
        );
    }
    if (r.error) return { data: r.data, error: r.error };
    data = r.data;
  }
  return { data };
}

/**
 * The members of a PDF. One with nothing encoded in it (no filtered stream, no embedded file or
 * script) yields nothing: its own bytes are all there is to scan; unless it has no `%%EOF`: then
 * it was cut short and what the rest held is unknown, a member with a `problem`.
 */
export function* readPdf(b: Uint8Array, cap: OutputCap): Generator<Member> {
  let n = 0;
  for (const m of pdfMembers(b, cap)) {
    n++;
    yield m;
  }
  if (!n && Buffer.from(b.buffer, b.byteOffset, b.byteLength).lastIndexOf("%%EOF") < 0)
    yield {
      name: "",
      compressedSize: b.length,
      problem: {
        reason: "corrupt-archive",
        message: "PDF cut short (no %%EOF) and no stream found in what is there; its bytes were scanned",
      },
    };
}

function* pdfMembers(b: Uint8Array, cap: OutputCap): Generator<Member> {
  const layout = pdfLayout(b);
  const { text } = layout;
  // direct values of objects, looked up by number (for indirect /Length and friends)
  const valueCache = new Map<string, PdfValue | undefined>();
  const parser = new PdfParser(b);
  // which object each number is (the last definition wins, as incremental updates mean)
  const index = new Map<string, number>();
  layout.starts.forEach((o, i) => index.set(`${o.num} ${o.gen}`, i));
  const lookup = (num: number, gen: number): PdfValue | undefined => {
    const key = `${num} ${gen}`;
    if (valueCache.has(key)) return valueCache.get(key);
    valueCache.set(key, undefined);
    const i = index.get(key);
    const v = i === undefined ? undefined : parser.valueWithin(layout.starts[i]!.body, layout.extent(i))?.v;
    valueCache.set(key, v);
    return v;
  };
  const resolveShallow = (v: PdfValue | undefined) => (v?.t === "ref" ? lookup(v.num, v.gen) : v);
  const lengthOf = (v: PdfValue) => {
    const r = resolveShallow(v);
    return r?.t === "num" ? r.v : undefined;
  };

  // encryption: the empty user password is tried; without it nothing but the raw bytes can be read
  let crypt: Decryptor | undefined;
  let cryptObject: string | undefined;
  const encAt = /\/Encrypt(?![A-Za-z0-9])/.exec(text);
  if (encAt) {
    const ref = parser.valueWithin(encAt.index + encAt[0].length, encAt.index + 4096)?.v;
    if (ref?.t === "ref") cryptObject = `${ref.num}.${ref.gen}`;
    const idAt = /\/ID[ \t\r\n\f\0]*\[/.exec(text);
    const ids = idAt ? parser.valueWithin(idAt.index + 3, idAt.index + 4096)?.v : undefined;
    const id0 = ids?.t === "array" && ids.v[0]?.t === "str" ? ids.v[0].v : new Uint8Array(0);
    const opened = openEncryption(resolveShallow(ref), id0);
    if (typeof opened === "string") {
      yield {
        name: "",
        compressedSize: b.length,
        encrypted: true,
        problem: {
          reason: "encrypted",
          message: `PDF is encrypted (${opened}): its streams and strings were not decrypted, only its raw bytes were scanned`,
        },
      };
      return;
    }
    crypt = opened;
  }
  const decryptString = (where: { num: number; gen: number } | undefined, s: Uint8Array) =>
    crypt && where && `${where.num}.${where.gen}` !== cryptObject
      ? crypt.decrypt(where.num, where.gen, s, "string")
      : s;

  const objects = scanObjects(b, layout, lengthOf);
  // no objects: nothing is encoded, the file's own bytes were all there is to scan
  if (!objects.length) return;

  // what the document says about its streams: embedded files' names, JavaScript streams
  const fileNames = new Map<string, string>();
  const jsRefs = new Set<string>();
  const jsStrings: Array<{ where: string; s: Uint8Array }> = [];
  const inspect = (v: PdfValue | undefined, where: string, obj?: { num: number; gen: number }, depth = 0) => {
    if (!v || depth > 32) return;
    if (v.t === "array") for (const x of v.v) inspect(x, where, obj, depth + 1);
    if (v.t !== "dict") return;
    const ef = dictGet(v, "EF");
    const fname = dictGet(v, "UF") ?? dictGet(v, "F");
    if (ef?.t === "dict" && fname?.t === "str")
      for (const r of ef.v.values())
        if (r.t === "ref") fileNames.set(`${r.num}.${r.gen}`, textString(decryptString(obj, fname.v)));
    const js = dictGet(v, "JS");
    if (js?.t === "str") jsStrings.push({ where, s: decryptString(obj, js.v) });
    else if (js?.t === "ref") jsRefs.add(`${js.num}.${js.gen}`);
    for (const x of v.v.values()) inspect(x, where, obj, depth + 1);
  };
  for (const o of objects) inspect(o.dict, `obj${o.num}.${o.gen}`, o);

  const decodeOne = (o: PdfObject): { member?: Member; data?: Uint8Array } => {
    const id = `${o.num}.${o.gen}`;
    const type = dictGet(o.dict, "Type");
    const embedded = type?.t === "name" && type.v === "EmbeddedFile";
    const fileName = fileNames.get(id);
    const name =
      embedded && fileName
        ? cleanName(fileName.replace(/^.*[\\/]/, "")) || `obj${id}`
        : jsRefs.has(id)
          ? `obj${id}.js`
          : `obj${id}`;
    const isXref = type?.t === "name" && type.v === "XRef";
    const raw = crypt && !isXref && id !== cryptObject ? crypt.decrypt(o.num, o.gen, o.stream!, "stream") : o.stream!;
    const limit = cap(raw.length);
    let r: Decoded & { unsupported?: boolean };
    try {
      r = decodeStream(raw, o.dict, limit, resolveShallow);
    } catch (err) {
      if (!(err instanceof OutputLimit)) throw err;
      return { member: overLimit(name, raw.length, limit) };
    }
    const error = o.streamProblem ?? r.error;
    if (error) {
      const reason = r.unsupported ? ("unsupported" as const) : ("corrupt-archive" as const);
      const message = r.data.length
        ? `PDF object ${o.num} ${o.gen}: ${error}; the ${r.data.length} bytes decoded before it were scanned`
        : `PDF object ${o.num} ${o.gen}: ${error}`;
      return {
        member: {
          name,
          compressedSize: raw.length,
          ...(r.data.length ? { data: r.data } : {}),
          problem: { reason, message },
        },
        data: r.data,
      };
    }
    const filtered = names(resolveShallow(dictGet(o.dict, "Filter"))).some((f) => !IMAGE_FILTERS.has(f));
    if (!filtered && !embedded && !jsRefs.has(id)) return { data: r.data };
    return { member: { name, compressedSize: raw.length, data: r.data }, data: r.data };
  };

  // object streams first: the objects in them may name embedded files and scripts
  const isObjStm = (o: PdfObject) => {
    const type = dictGet(o.dict, "Type");
    return type?.t === "name" && type.v === "ObjStm";
  };
  for (const o of objects) {
    if (!o.stream || !isObjStm(o)) continue;
    const { member, data } = decodeOne(o);
    if (member) yield member;
    if (data) yield* objStm(data, o, (v, where) => inspect(v, where));
  }
  for (const o of objects) {
    if (!o.stream || isObjStm(o)) continue;
    const { member } = decodeOne(o);
    if (member) yield member;
  }
  for (const [i, j] of jsStrings.entries())
    yield { name: `${j.where}.js${i ? `.${i}` : ""}`, compressedSize: j.s.length, data: j.s };
}

/**
 * The objects of an object stream: `/N` pairs of object number and offset, then the objects
 * from `/First`. Their JavaScript strings join the document's; problems are yielded.
 */
function* objStm(
  data: Uint8Array,
  o: PdfObject,
  inspect: (v: PdfValue | undefined, where: string) => void,
): Generator<Member> {
  const n = Math.min(num(o.dict, "N", 0), 1_000_000);
  const first = num(o.dict, "First", 0);
  const p = new PdfParser(data);
  let q = 0;
  const pairs: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) {
    p.items = 0;
    const a = p.value(q);
    const b = a && p.value(a.end);
    if (!a || !b || a.v.t !== "num" || b.v.t !== "num") break;
    pairs.push([a.v.v, b.v.v]);
    q = b.end;
  }
  if (pairs.length < n || first <= 0 || first > data.length) {
    yield {
      name: `obj${o.num}.${o.gen}`,
      compressedSize: data.length,
      problem: {
        reason: "corrupt-archive",
        message: `PDF object stream ${o.num} ${o.gen}: header damaged (${pairs.length} of ${n} entries)`,
      },
    };
  }
  // each object ends where the next one (by offset) starts: hostile offsets stay linear
  const offsets = [...new Set(pairs.map(([, off]) => off))]
    .filter((off) => first + off < data.length)
    .sort((x, y) => x - y);
  const endOf = new Map(offsets.map((off, i) => [off, first + (offsets[i + 1] ?? data.length - first)]));
  const done = new Set<number>();
  for (const [objNum, off] of pairs) {
    if (first + off >= data.length || done.has(off)) continue;
    done.add(off);
    inspect(p.valueWithin(first + off, endOf.get(off)!)?.v, `obj${objNum}.0`);
  }
}
