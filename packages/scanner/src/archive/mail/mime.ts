/**
 * RFC 822/5322 messages with MIME (RFC 2045-2049) and mbox mailboxes: each leaf part is a
 * member, decoded from its Content-Transfer-Encoding (base64, quoted-printable, uuencode,
 * yEnc, BinHex) and named by its filename (Content-Disposition `filename`, Content-Type `name`,
 * RFC 2231 and RFC 2047 forms decoded) or else by its part number ("1", "2", ...). A nested
 * multipart is a member holding that entity, and a message/rfc822 part a member holding the
 * message: the scanner opens them in turn, so nesting counts against the recursion limit like
 * any other container. Text parts are searched for uuencoded, yEnc and BinHex files too (as ClamAV
 * does). An mbox holding several messages prefixes each message's members with its number
 * (`2/clam.exe`).
 *
 * Written for hostile input: the message is never copied or turned into one string; only the
 * header fields that matter are read (each bounded to 64 KiB); boundaries are found with
 * `indexOf`; members come lazily, so a million parts stop at the member limit. Damage (broken
 * base64, a multipart with no closing boundary, an unknown encoding) is reported beside the
 * bytes that decoded.
 */
import { cleanName, overLimit, OutputLimit, type MailPart, type Member, type OutputCap } from "../types.js";
import {
  BINHEX_BANNER,
  decodeBase64,
  decodeBinHex,
  decodeQuotedPrintable,
  decodeUu,
  decodeYenc,
  lineEnd,
  uuBeginAt,
  yencBeginAt,
} from "./decode.js";
import { encodedBlocks, startsWithEncoded } from "./text.js";

/** Header names that mark the start of a message or entity (ClamAV's list and the MIME fields). */
const KNOWN = new Set([
  "from",
  "to",
  "cc",
  "subject",
  "date",
  "received",
  "received-spf",
  "return-path",
  "message-id",
  "mime-version",
  "content-type",
  "content-transfer-encoding",
  "content-disposition",
  "delivered-to",
  "delivery-date",
  "envelope-to",
  "for",
  "reply-to",
  "sender",
  "x-apparently-to",
  "x-envelope-from",
  "x-original-to",
  "x-real-to",
  "x-sieve",
  "x-uidl",
]);

/** How far into a file header lines are read to find a mail field (they are cheap to skip). */
const HEADER_WINDOW = 1024 * 1024;
const MAX_VALUE = 64 * 1024;

function latin1(b: Uint8Array, s: number, e: number): string {
  return Buffer.from(b.buffer, b.byteOffset + s, Math.max(0, e - s)).toString("latin1");
}

function isSpaceOrTab(c: number | undefined): boolean {
  return c === 0x20 || c === 0x09;
}

/** The colon ending a header field name on the line [p, t), or -1 (names are printable ASCII). */
function headerColon(b: Uint8Array, p: number, t: number): number {
  const stop = Math.min(t, p + 256);
  for (let i = p; i < stop; i++) {
    const c = b[i]!;
    if (c === 0x3a) return i > p ? i : -1;
    if (c <= 0x20 || c >= 0x7f) return -1;
  }
  return -1;
}

function startsWith(b: Uint8Array, p: number, s: string): boolean {
  if (p + s.length > b.length) return false;
  for (let i = 0; i < s.length; i++) if (b[p + i] !== s.charCodeAt(i)) return false;
  return true;
}

/** Mail by content: an mbox `From ` line, or header lines at the start naming a mail field. */
export function isMail(b: Uint8Array): boolean {
  const c = b[0];
  if (c === undefined || !((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x3e)) return false;
  let p = 0;
  if (startsWith(b, 0, "From ") || startsWith(b, 0, ">From ")) {
    // the mbox separator line, then the message's headers
    p = lineEnd(b, 0, Math.min(b.length, 4096)) + 1;
    if (p > b.length || p >= 4096) return false;
  }
  const end = Math.min(b.length, HEADER_WINDOW);
  let first = true;
  while (p < end) {
    const le = lineEnd(b, p, b.length);
    const t = le > p && b[le - 1] === 0x0d ? le - 1 : le;
    if (t === p) return false;
    if (isSpaceOrTab(b[p])) {
      if (first) return false;
    } else {
      const colon = headerColon(b, p, t);
      if (colon < 0) return false;
      const name = latin1(b, p, colon);
      const lower = name.toLowerCase();
      // mail writes field names capitalised ("Date:"); lowercase ones are only taken for the
      // MIME fields (as MIME parts are written), so YAML and front matter ("date: ...") are not mail
      if (KNOWN.has(lower) && (b[p]! < 0x61 || lower.startsWith("content-") || lower === "mime-version")) return true;
    }
    first = false;
    p = le + 1;
  }
  return false;
}

interface Fields {
  contentType?: string;
  encoding?: string;
  disposition?: string;
}

interface Head extends Fields {
  /** Where the body starts (after the blank line), or the entity's end when it has none. */
  bodyStart: number;
}

const WANTED: Record<string, keyof Fields> = {
  "content-type": "contentType",
  "content-transfer-encoding": "encoding",
  "content-disposition": "disposition",
};

/** Reads the header block of the entity at [start, end): the three MIME fields, unfolded. */
function readHead(b: Uint8Array, start: number, end: number): Head {
  const fields: Fields = {};
  let p = start;
  if (startsWith(b, p, "From ") || startsWith(b, p, ">From ")) p = lineEnd(b, p, end) + 1;
  let current: keyof Fields | undefined;
  while (p < end) {
    const le = lineEnd(b, p, end);
    const t = le > p && b[le - 1] === 0x0d ? le - 1 : le;
    if (t === p) return { ...fields, bodyStart: Math.min(le + 1, end) };
    if (isSpaceOrTab(b[p])) {
      if (current && fields[current]!.length < MAX_VALUE)
        fields[current] += latin1(b, p, Math.min(t, p + MAX_VALUE - fields[current]!.length));
    } else {
      const colon = headerColon(b, p, t);
      // a line that is not a header field: the body starts there (as mail readers do)
      if (colon < 0) return { ...fields, bodyStart: p };
      const key = WANTED[latin1(b, p, colon).toLowerCase()];
      current = key && fields[key] === undefined ? key : undefined;
      if (current) fields[current] = latin1(b, colon + 1, Math.min(t, colon + 1 + MAX_VALUE));
    }
    p = le + 1;
  }
  return { ...fields, bodyStart: end };
}

interface Parsed {
  value: string;
  params: Map<string, string>;
}

/** `type/subtype; a=b; c="d e"` with RFC 2231 continuations and charsets (`name*0*=utf-8''...`). */
export function parseField(v: string | undefined): Parsed {
  const params = new Map<string, string>();
  if (!v) return { value: "", params };
  const parts: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < v.length; i++) {
    const ch = v[i]!;
    if (quoted) {
      if (ch === "\\" && i + 1 < v.length) cur += v[++i];
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ";") {
      parts.push(cur);
      cur = "";
    } else cur += ch;
  }
  parts.push(cur);
  const value = parts[0]!.trim().toLowerCase();
  const pieces = new Map<string, Array<{ n: number; text: string; encoded: boolean }>>();
  for (const raw of parts.slice(1)) {
    const eq = raw.indexOf("=");
    if (eq < 0) continue;
    let key = raw.slice(0, eq).trim().toLowerCase();
    const text = raw.slice(eq + 1).trim();
    let encoded = false;
    if (key.endsWith("*")) {
      encoded = true;
      key = key.slice(0, -1);
    }
    const m = /^(.*)\*(\d+)$/.exec(key);
    const name = m ? m[1]! : key;
    const n = m ? Number(m[2]) : 0;
    let list = pieces.get(name);
    if (!list) pieces.set(name, (list = []));
    if (list.length < 1000) list.push({ n, text, encoded });
  }
  for (const [name, list] of pieces) {
    list.sort((a, b) => a.n - b.n);
    let charset = "";
    let out = "";
    for (const [i, piece] of list.entries()) {
      let text = piece.text;
      if (piece.encoded) {
        if (i === 0) {
          const m = /^([^']*)'[^']*'(.*)$/s.exec(text);
          if (m) {
            charset = m[1]!.toLowerCase();
            text = m[2]!;
          }
        }
        out += decodePercentText(text, charset);
      } else out += text;
    }
    params.set(name, out);
  }
  return { value, params };
}

function decodePercentText(s: string, charset: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "%" && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(s.charCodeAt(i) & 0xff);
  }
  return Buffer.from(bytes).toString(charset === "utf-8" || charset === "utf8" ? "utf8" : "latin1");
}

/** RFC 2047 encoded words (`=?utf-8?B?...?=`) in a header value. */
export function decodeWords(s: string): string {
  return s.replace(/=\?([^?]{1,40})\?([bBqQ])\?([^?]*)\?=/g, (_, charset: string, enc: string, text: string) => {
    const bytes =
      enc.toLowerCase() === "b"
        ? Buffer.from(text, "base64")
        : Buffer.from(
            text
              .replace(/_/g, " ")
              .replace(/=([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
            "latin1",
          );
    return bytes.toString(/^utf-?8$/i.test(charset) ? "utf8" : "latin1");
  });
}

function filenameOf(h: Head): string | undefined {
  const d = parseField(h.disposition).params.get("filename");
  const n = d ?? parseField(h.contentType).params.get("name");
  if (!n) return undefined;
  const clean = decodeWords(n).trim();
  return clean ? cleanName(clean.slice(0, 1024)) : undefined;
}

/** The boundary of the first line in [s, e) that starts with "--" (for a multipart without one). */
function guessBoundary(b: Uint8Array, s: number, e: number): string | undefined {
  for (let p = s; p < e; ) {
    const le = lineEnd(b, p, e);
    if (b[p] === 0x2d && b[p + 1] === 0x2d && le - p > 2) {
      const line = latin1(b, p + 2, Math.min(le, p + 202)).trimEnd();
      if (line && !/\s/.test(line)) return line;
    }
    p = le + 1;
  }
  return undefined;
}

interface Delim {
  /** offset of the `--boundary` line, and of the line after it */
  at: number;
  next: number;
  close: boolean;
}

/** The next `--boundary` line at or after `from` in [from, end). */
function nextDelimiter(b: Uint8Array, delim: Buffer, from: number, end: number): Delim | undefined {
  const body = Buffer.from(b.buffer, b.byteOffset, end);
  let i = from;
  for (;;) {
    const at = body.indexOf(delim, i);
    if (at < 0) return undefined;
    i = at + 1;
    if (at > 0 && b[at - 1] !== 0x0a) continue;
    let q = at + delim.length;
    const close = b[q] === 0x2d && b[q + 1] === 0x2d;
    if (close) q += 2;
    const le = lineEnd(b, q, end);
    // only whitespace may follow (else it is a longer boundary that starts the same)
    let ok = true;
    for (let k = q; k < le; k++)
      if (!(b[k] === 0x20 || b[k] === 0x09 || b[k] === 0x0d)) {
        ok = false;
        break;
      }
    if (!ok && !close) continue;
    return { at, next: Math.min(le + 1, end), close };
  }
}

/** Where a part before a delimiter line at `at` ends: the line break before it belongs to the delimiter. */
function partEnd(b: Uint8Array, start: number, at: number): number {
  let e = at;
  if (e > start && b[e - 1] === 0x0a) e--;
  if (e > start && b[e - 1] === 0x0d) e--;
  return e;
}

type Problem = Member["problem"];

/** The members of one entity (a message or a part) at [start, end). */
function* entity(
  b: Uint8Array,
  start: number,
  end: number,
  cap: OutputCap,
  prefix: string,
  number: string,
): Generator<Member> {
  const h = readHead(b, start, end);
  const type = parseField(h.contentType);
  if (type.value.startsWith("multipart/")) {
    const boundary = type.params.get("boundary");
    if (boundary) {
      yield* multipart(b, h.bodyStart, end, boundary, cap, prefix, type.value === "multipart/related");
      return;
    }
    // no boundary parameter (or one lost in a header over 64 KiB): split at the first "--" line
    const guess = guessBoundary(b, h.bodyStart, end);
    const message = `${type.value} has no boundary parameter; ${guess ? `parts split at the first "--${guess.slice(0, 80)}" line` : "no boundary line either: scanned as one part"}`;
    yield { name: "", compressedSize: 0, problem: { reason: "corrupt-archive", message } };
    if (guess) {
      yield* multipart(b, h.bodyStart, end, guess, cap, prefix, type.value === "multipart/related");
      return;
    }
  }
  yield* leaf(b, h, end, cap, prefix, number, type.value, undefined, true);
}

function* multipart(
  b: Uint8Array,
  bodyStart: number,
  end: number,
  boundary: string,
  cap: OutputCap,
  prefix: string,
  related = false,
): Generator<Member> {
  const delim = Buffer.from(`--${boundary.slice(0, 200)}`, "latin1");
  // multipart/related: ClamAV reads one text part as the message body (MailPart.single): the first
  // text/html one, else the last text/* one (found with a pass over the part headers, at most 10,000)
  let rootIndex = -1;
  if (related) {
    let lastText = -1;
    let q = nextDelimiter(b, delim, bodyStart, end);
    for (let i = 1; q && !q.close && i <= 10_000 && rootIndex < 0; i++) {
      const nx = nextDelimiter(b, delim, q.next, end);
      const t = parseField(readHead(b, q.next, nx ? partEnd(b, q.next, nx.at) : end).contentType).value;
      if (t === "text/html") rootIndex = i;
      else if (t.startsWith("text/")) lastText = i;
      q = nx;
    }
    if (rootIndex < 0) rootIndex = lastText;
  }
  let d = nextDelimiter(b, delim, bodyStart, end);
  if (!d) {
    // no part at all: the body as one part, and the damage said
    yield* leaf(b, { bodyStart }, end, cap, prefix, "1", "text/plain", {
      reason: "corrupt-archive",
      message: `multipart body has no "--${boundary.slice(0, 80)}" boundary line; scanned as one part`,
    });
    return;
  }
  // the preamble is not a part, but it may hide an encoded file
  yield* prefixed(encodedBlocks(b, bodyStart, d.at, cap), prefix);
  let index = 0;
  while (!d.close) {
    const s = d.next;
    const next = nextDelimiter(b, delim, s, end);
    index++;
    const e = next ? partEnd(b, s, next.at) : end;
    const problem: Problem = next
      ? undefined
      : {
          reason: "corrupt-archive",
          message: `multipart body ends without its closing boundary (truncated?); the part present was scanned`,
        };
    yield* part(b, s, e, cap, prefix, String(index), problem, index === rootIndex);
    if (!next) return;
    d = next;
  }
  // and so may the epilogue
  if (d.next < end) yield* prefixed(encodedBlocks(b, d.next, end, cap), prefix);
}

function* prefixed(members: Iterable<Member>, prefix: string): Generator<Member> {
  for (const m of members) yield prefix ? { ...m, name: prefix + m.name } : m;
}

/** One part of a multipart: nested multiparts and messages are members opened in turn. */
function* part(
  b: Uint8Array,
  s: number,
  e: number,
  cap: OutputCap,
  prefix: string,
  number: string,
  problem: Problem,
  root = false,
): Generator<Member> {
  const h = readHead(b, s, e);
  const type = parseField(h.contentType);
  if (type.value.startsWith("multipart/")) {
    // the whole entity, headers included: the scanner opens it as mail (a level deeper)
    const m: Member = { name: prefix + (filenameOf(h) ?? number), compressedSize: e - s, data: b.subarray(s, e) };
    yield problem ? { ...m, problem } : m;
    return;
  }
  yield* leaf(b, h, e, cap, prefix, number, type.value, problem, root);
}

/** A leaf part (or a single-part message): its body decoded. */
function* leaf(
  b: Uint8Array,
  h: Head,
  end: number,
  cap: OutputCap,
  prefix: string,
  number: string,
  type: string,
  damage?: Problem,
  single = false,
): Generator<Member> {
  const s = h.bodyStart;
  const size = end - s;
  const encoding = parseField(h.encoding).value;
  let name = prefix + (filenameOf(h) ?? number);
  const limit = cap(size);
  let data: Uint8Array;
  let error: string | undefined;
  let unsupported: string | undefined;
  try {
    switch (encoding) {
      case "base64": {
        const r = decodeBase64(b, s, end, limit);
        data = r.data;
        error = r.error;
        break;
      }
      case "quoted-printable": {
        data = decodeQuotedPrintable(b, s, end, limit).data;
        break;
      }
      case "x-uuencode":
      case "uuencode":
      case "x-uue":
      case "uue": {
        // the begin line is the first that is one
        let p = s;
        while (p < end && !uuBeginAt(b, p, end)) p = lineEnd(b, p, end) + 1;
        if (p >= end) {
          data = b.subarray(s, end);
          error = `${encoding} body has no "begin" line; the raw body was scanned`;
          break;
        }
        const r = decodeUu(b, p, end, limit);
        data = r.data;
        error = r.error;
        if (!filenameOf(h) && r.name) name = prefix + cleanName(r.name);
        break;
      }
      case "x-yencode": {
        let p = s;
        while (p < end && !yencBeginAt(b, p, end)) p = lineEnd(b, p, end) + 1;
        if (p >= end) {
          data = b.subarray(s, end);
          error = `${encoding} body has no "=ybegin" line; the raw body was scanned`;
          break;
        }
        const r = decodeYenc(b, p, end, limit);
        data = r.data;
        error = r.error;
        if (!filenameOf(h) && r.name) name = prefix + cleanName(r.name);
        break;
      }
      case "x-binhex":
      case "":
      case "7bit":
      case "8bit":
      case "binary":
        if (size > limit) throw new OutputLimit(limit);
        data = b.subarray(s, end);
        break;
      default:
        if (size > limit) throw new OutputLimit(limit);
        data = b.subarray(s, end);
        unsupported = `unknown Content-Transfer-Encoding "${encoding.slice(0, 40)}"; the raw body was scanned`;
    }
  } catch (err) {
    if (!(err instanceof OutputLimit)) throw err;
    yield overLimit(name, size, limit);
    return;
  }
  if (
    (type === "application/mac-binhex40" || encoding === "x-binhex") &&
    !startsWith(data, 0, BINHEX_BANNER) &&
    data.indexOf(0x3a) >= 0
  ) {
    // BinHex without its banner: decode it here (the scanner recognises the bannered form)
    try {
      const r = decodeBinHex(data, 0, data.length, cap(data.length));
      name = prefix + cleanName(r.name || number);
      data = r.data;
      error = [error, r.error].filter(Boolean).join("; ") || undefined;
    } catch (err) {
      if (!(err instanceof OutputLimit)) throw err;
      yield overLimit(name, size, cap(data.length));
      return;
    }
  }
  const problems = [damage?.message, error].filter(Boolean).join("; ");
  const problem: Problem = unsupported
    ? { reason: "unsupported", message: [problems, unsupported].filter(Boolean).join("; ") }
    : problems
      ? { reason: "corrupt-archive", message: problems }
      : undefined;
  const mail: MailPart = {
    type,
    disposition: parseField(h.disposition).value,
    encoding,
    single,
  };
  if (
    !single &&
    type === "message/rfc822" &&
    (encoding === "" || encoding === "7bit" || encoding === "8bit" || encoding === "binary") &&
    !/^content-transfer-encoding(?![^\n]*7bit)/im.test(
      Buffer.from(data.buffer, data.byteOffset, data.length).toString("latin1"),
    )
  )
    mail.closed = true;
  yield problem ? { name, compressedSize: size, data, problem, mail } : { name, compressedSize: size, data, mail };
  // text may carry uuencoded or BinHex files further in (one at its start is opened with it)
  const textual = type === "" || type.startsWith("text/") || type === "message/rfc822";
  if (textual && type !== "message/rfc822" && !startsWithEncoded(data))
    yield* prefixed(encodedBlocks(data, 0, data.length, cap), prefix);
}

/** The messages of an mbox: [start, end) of each, split at `From ` lines after a blank line. */
function* mboxMessages(b: Uint8Array): Generator<[number, number]> {
  let s = 0;
  let i = 0;
  const from = Buffer.from("\nFrom ", "latin1");
  const all = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  for (;;) {
    const at = all.indexOf(from, i);
    if (at < 0) break;
    i = at + 1;
    const blank = b[at - 1] === 0x0a || (b[at - 1] === 0x0d && b[at - 2] === 0x0a);
    if (!blank) continue;
    yield [s, at + 1];
    s = at + 1;
  }
  yield [s, b.length];
}

export function* readMail(b: Uint8Array, cap: OutputCap): Generator<Member> {
  if (startsWith(b, 0, "From ")) {
    const messages = mboxMessages(b);
    const first = messages.next().value as [number, number];
    const second = messages.next();
    if (second.done) {
      yield* entity(b, first[0], first[1], cap, "", "1");
      return;
    }
    yield* entity(b, first[0], first[1], cap, "1/", "1");
    yield* entity(b, second.value[0], second.value[1], cap, "2/", "1");
    let k = 2;
    for (const [s, e] of messages) yield* entity(b, s, e, cap, `${++k}/`, "1");
    return;
  }
  yield* entity(b, 0, b.length, cap, "", "1");
}
