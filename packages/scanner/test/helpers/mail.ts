/**
 * Builders for the mail family's test fixtures, byte by byte: MIME messages, BinHex 4.0 and
 * TNEF. Written from the format descriptions (RFC 2045/2046, RFC 1741, MS-OXTNEF), not from
 * the reader they test; the TNEF and uuencode ones are checked against Debian's `tnef` and
 * `uuencode` where those are installed.
 */
export const enc = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));

export function concat(...parts: Array<Uint8Array | string>): Uint8Array {
  return new Uint8Array(Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "latin1") : p))));
}

/** base64 in 76-character lines (RFC 2045 6.8) with CRLF. */
export function b64(data: Uint8Array | string): string {
  const s = Buffer.from(typeof data === "string" ? Buffer.from(data, "latin1") : data).toString("base64");
  return s.replace(/.{1,76}/g, "$&\r\n");
}

export interface Part {
  headers: string;
  body: string;
}

export function attachment(name: string, data: Uint8Array | string, type = "application/octet-stream"): Part {
  return {
    headers: `Content-Type: ${type}; name="${name}"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="${name}"`,
    body: b64(data),
  };
}

export function textPart(text: string, encoding = "7bit", type = "text/plain"): Part {
  return { headers: `Content-Type: ${type}; charset=utf-8\r\nContent-Transfer-Encoding: ${encoding}`, body: text };
}

export function multipart(parts: Part[], boundary: string, subtype = "mixed", close = true): Part {
  const body =
    parts.map((p) => `--${boundary}\r\n${p.headers}\r\n\r\n${p.body}\r\n`).join("") +
    (close ? `--${boundary}--\r\n` : "");
  return {
    headers: `Content-Type: multipart/${subtype}; boundary="${boundary}"`,
    body: `This is a multi-part message in MIME format.\r\n${body}`,
  };
}

/** A whole message around a part. */
export function message(p: Part, subject = "test"): string {
  return `From: Alice <alice@example.com>\r\nTo: bob@example.com\r\nSubject: ${subject}\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n${p.headers}\r\n\r\n${p.body}`;
}

// ---- BinHex 4.0 (RFC 1741) ----

const HQX = "!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr";

export function crcXmodem(data: Uint8Array): number {
  let crc = 0;
  for (const byte of data) {
    crc ^= byte << 8;
    for (let k = 0; k < 8; k++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

function be(n: number, bytes: number): number[] {
  const out: number[] = [];
  for (let i = bytes - 1; i >= 0; i--) out.push(Math.floor(n / 2 ** (8 * i)) & 0xff);
  return out;
}

/** A BinHex 4.0 text: banner, header, data and resource forks with their CRCs, run-length coded. */
export function binhex(name: string, data: Uint8Array, rsrc: Uint8Array = new Uint8Array(0)): string {
  const header = new Uint8Array([
    name.length,
    ...Buffer.from(name, "latin1"),
    0,
    ...Buffer.from("BINAmac?", "latin1"),
    0,
    0,
    ...be(data.length, 4),
    ...be(rsrc.length, 4),
  ]);
  const withCrc = (b: Uint8Array) => [...b, ...be(crcXmodem(b), 2)];
  const stream = [...withCrc(header), ...withCrc(data), ...withCrc(rsrc)];
  // run-length: a run of 3 to 255 equal bytes is "c 0x90 n"; a literal 0x90 is "0x90 0x00"
  const rle: number[] = [];
  for (let i = 0; i < stream.length; ) {
    const c = stream[i]!;
    let run = 1;
    while (i + run < stream.length && stream[i + run] === c && run < 255) run++;
    if (c === 0x90) {
      rle.push(0x90, 0);
      i++;
    } else if (run >= 3) {
      rle.push(c, 0x90, run);
      i += run;
    } else {
      rle.push(c);
      i++;
    }
  }
  let text = "";
  for (let i = 0; i < rle.length; i += 3) {
    const [a, b = 0, c = 0] = [rle[i]!, rle[i + 1], rle[i + 2]];
    const n = (a << 16) | (b << 8) | c;
    const chars = i + 2 < rle.length ? 4 : i + 1 < rle.length ? 3 : 2;
    for (let k = 0; k < chars; k++) text += HQX[(n >> (18 - 6 * k)) & 63];
  }
  return `(This file must be converted with BinHex 4.0)\r\n\r\n:${text.replace(/.{1,64}/g, "$&\r\n").trimEnd()}:\r\n`;
}

// ---- TNEF (MS-OXTNEF) ----

function u16(n: number): number[] {
  return [n & 0xff, (n >> 8) & 0xff];
}
function u32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}

export function tnefAttr(level: 1 | 2, id: number, data: Uint8Array): Uint8Array {
  let sum = 0;
  for (const b of data) sum = (sum + b) & 0xffff;
  return new Uint8Array([level, ...u32(id), ...u32(data.length), ...data, ...u16(sum)]);
}

/** A MAPI property list holding one string property (PT_STRING8). */
export function mapiString(id: number, value: string): Uint8Array {
  const v = [...Buffer.from(`${value}\0`, "latin1")];
  while (v.length % 4) v.push(0);
  return new Uint8Array([...u32(1), ...u16(0x001e), ...u16(id), ...u32(1), ...u32(value.length + 1), ...v]);
}

export interface TnefAttachment {
  title: string;
  data: Uint8Array;
  longName?: string;
}

/** A TNEF stream (`winmail.dat`) with the given attachments. */
export function tnef(attachments: TnefAttachment[], body?: string): Uint8Array {
  const parts: Uint8Array[] = [
    new Uint8Array([...u32(0x223e9f78), ...u16(0x01af)]),
    tnefAttr(1, 0x00089006, new Uint8Array(u32(0x00010000))),
    tnefAttr(1, 0x00069007, new Uint8Array([...u32(1252), ...u32(0)])),
    tnefAttr(1, 0x00078008, enc("IPM.Microsoft Mail.Note\0")),
  ];
  if (body !== undefined) parts.push(tnefAttr(1, 0x0002800c, enc(body)));
  for (const a of attachments) {
    parts.push(tnefAttr(2, 0x00069002, new Uint8Array([1, 0, ...u32(0xffffffff), 0, 0, 0, 0, 0, 0, 0, 0])));
    parts.push(tnefAttr(2, 0x00018010, enc(`${a.title}\0`)));
    parts.push(tnefAttr(2, 0x0006800f, a.data));
    if (a.longName) parts.push(tnefAttr(2, 0x00069005, mapiString(0x3707, a.longName)));
  }
  return concat(...parts);
}

// ---- yEnc 1.3 ----

/** A yEnc block: `=ybegin`, lines of 128 characters (bytes + 42, critical ones escaped), `=yend`. */
export function yenc(name: string, data: Uint8Array): string {
  let line = "";
  const lines: string[] = [];
  for (const byte of data) {
    const c = (byte + 42) & 0xff;
    line +=
      c === 0x00 || c === 0x0a || c === 0x0d || c === 0x3d
        ? `=${String.fromCharCode((c + 64) & 0xff)}`
        : String.fromCharCode(c);
    if (line.length >= 128) {
      lines.push(line);
      line = "";
    }
  }
  if (line) lines.push(line);
  return `=ybegin line=128 size=${data.length} name=${name}\r\n${lines.join("\r\n")}\r\n=yend size=${data.length}\r\n`;
}
