/**
 * Writers of document containers for tests, written from the format specifications: OLE2
 * compound files ([MS-CFB], with mini stream), MSI stream names, MS-OVBA compression and VBA
 * projects, OLE1/Packager objects, PDF (with each stream filter) and RTF `\objdata`.
 */
import { createCipheriv, createHash } from "node:crypto";
import { deflateSync } from "node:zlib";

const ENDOFCHAIN = 0xfffffffe;
const FREESECT = 0xffffffff;
const FATSECT = 0xfffffffd;

export interface CfbStream {
  /** storage path, `/`-separated (storages are created as needed) */
  path: string;
  data: Uint8Array | string;
}

interface Node {
  name: string;
  type: 1 | 2 | 5;
  data?: Uint8Array;
  children: Node[];
  index?: number;
  start?: number;
}

/**
 * A compound file: version 3 (512-byte sectors) or, with `version: 4`, 4096-byte sectors;
 * streams under 4096 bytes in the mini stream.
 * Names are written as given (UTF-16): pass `msiStreamName()` output for MSI-style names.
 */
export function makeCfb(streams: CfbStream[], opts: { version?: 3 | 4; difat?: boolean } = {}): Buffer {
  const SS = opts.version === 4 ? 4096 : 512;
  const root: Node = { name: "Root Entry", type: 5, children: [] };
  for (const s of streams) {
    const parts = s.path.split("/");
    let at = root;
    for (const part of parts.slice(0, -1)) {
      let next = at.children.find((c) => c.name === part && c.type === 1);
      if (!next) {
        next = { name: part, type: 1, children: [] };
        at.children.push(next);
      }
      at = next;
    }
    at.children.push({
      name: parts.at(-1)!,
      type: 2,
      data: typeof s.data === "string" ? Buffer.from(s.data, "latin1") : s.data,
      children: [],
    });
  }
  const nodes: Node[] = [];
  const number = (n: Node) => {
    n.index = nodes.length;
    nodes.push(n);
    for (const c of n.children) number(c);
  };
  number(root);
  // the mini stream: small streams in 64-byte units
  const miniFat: number[] = [];
  const miniParts: Buffer[] = [];
  for (const n of nodes) {
    if (n.type !== 2 || n.data!.length >= 4096 || n.data!.length === 0) continue;
    const units = Math.ceil(n.data!.length / 64);
    n.start = miniFat.length;
    for (let i = 0; i < units; i++) miniFat.push(i === units - 1 ? ENDOFCHAIN : miniFat.length + 1);
    const padded = Buffer.alloc(units * 64);
    padded.set(n.data!);
    miniParts.push(padded);
  }
  const miniStream = Buffer.concat(miniParts);
  // regular sectors: directory, mini FAT, mini stream, big streams; then the FAT itself
  const chains: Array<{ data: Uint8Array; set: (start: number) => void }> = [];
  const dirBytes = Buffer.alloc(Math.ceil(nodes.length / (SS / 128)) * SS);
  let dirStart = 0;
  let miniFatStart = ENDOFCHAIN;
  chains.push({ data: dirBytes, set: (s) => (dirStart = s) });
  const miniFatBytes = Buffer.alloc(Math.ceil((miniFat.length * 4) / SS) * SS, 0xff);
  miniFat.forEach((v, i) => miniFatBytes.writeUInt32LE(v >>> 0, i * 4));
  if (miniFat.length) chains.push({ data: miniFatBytes, set: (s) => (miniFatStart = s) });
  if (miniStream.length) chains.push({ data: miniStream, set: (s) => (root.start = s) });
  for (const n of nodes)
    if (n.type === 2 && n.data!.length >= 4096) chains.push({ data: n.data!, set: (s) => (n.start = s) });
  let used = 0;
  const fat: number[] = [];
  const bodies: Uint8Array[] = [];
  for (const c of chains) {
    const k = Math.ceil(c.data.length / SS);
    c.set(used);
    for (let i = 0; i < k; i++) fat.push(i === k - 1 ? ENDOFCHAIN : used + i + 1);
    // the directory is filled in below: keep a reference, pad when joining
    bodies.push(c.data, Buffer.alloc(k * SS - c.data.length));
    used += k;
  }
  // with `difat`, the FAT sectors are listed in one DIFAT sector after them, not in the header
  const difatCount = opts.difat ? 1 : 0;
  let fatCount = 1;
  while (Math.ceil((used + fatCount + difatCount) / (SS / 4)) > fatCount) fatCount++;
  if (fatCount > (opts.difat ? SS / 4 - 1 : 109)) throw new Error("makeCfb: too big for this writer's DIFAT");
  for (let i = 0; i < fatCount; i++) fat.push(FATSECT);
  if (opts.difat) fat.push(0xfffffffc);
  const fatBytes = Buffer.alloc(fatCount * SS, 0xff);
  fat.forEach((v, i) => fatBytes.writeUInt32LE(v >>> 0, i * 4));
  // directory entries: each storage's children chained through right siblings
  for (const n of nodes) {
    const p = n.index! * 128;
    const name = Buffer.from(`${n.name}\0`, "utf16le");
    name.copy(dirBytes, p, 0, Math.min(64, name.length));
    dirBytes.writeUInt16LE(Math.min(64, name.length), p + 64);
    dirBytes[p + 66] = n.type;
    dirBytes[p + 67] = 1;
    dirBytes.writeUInt32LE(FREESECT, p + 68);
    dirBytes.writeUInt32LE(FREESECT, p + 72);
    dirBytes.writeUInt32LE(n.children.length ? n.children[0]!.index! : FREESECT, p + 76);
    const size = n.type === 5 ? miniStream.length : (n.data?.length ?? 0);
    dirBytes.writeUInt32LE((n.start ?? ENDOFCHAIN) >>> 0, p + 116);
    dirBytes.writeUInt32LE(size, p + 120);
  }
  for (const n of nodes)
    n.children.forEach((c, i) => {
      const next = n.children[i + 1];
      if (next) dirBytes.writeUInt32LE(next.index!, c.index! * 128 + 72);
    });
  for (let i = nodes.length; i < dirBytes.length / 128; i++) {
    dirBytes.writeUInt32LE(FREESECT, i * 128 + 68);
    dirBytes.writeUInt32LE(FREESECT, i * 128 + 72);
    dirBytes.writeUInt32LE(FREESECT, i * 128 + 76);
  }
  const h = Buffer.alloc(SS);
  Buffer.from("d0cf11e0a1b11ae1", "hex").copy(h, 0);
  h.writeUInt16LE(0x3e, 0x18);
  h.writeUInt16LE(opts.version ?? 3, 0x1a);
  h.writeUInt16LE(0xfffe, 0x1c);
  h.writeUInt16LE(SS === 4096 ? 12 : 9, 0x1e);
  h.writeUInt16LE(6, 0x20);
  h.writeUInt32LE(fatCount, 0x2c);
  h.writeUInt32LE(dirStart, 0x30);
  h.writeUInt32LE(4096, 0x38);
  h.writeUInt32LE(miniFatStart >>> 0, 0x3c);
  h.writeUInt32LE(miniFat.length ? miniFatBytes.length / SS : 0, 0x40);
  h.writeUInt32LE(ENDOFCHAIN, 0x44);
  h.writeUInt32LE(0, 0x48);
  for (let i = 0; i < 109; i++) h.writeUInt32LE(i < fatCount && !opts.difat ? used + i : FREESECT, 0x4c + i * 4);
  if (!opts.difat) return Buffer.concat([h, ...bodies, fatBytes]);
  const difat = Buffer.alloc(SS, 0xff);
  for (let i = 0; i < fatCount; i++) difat.writeUInt32LE(used + i, i * 4);
  difat.writeUInt32LE(ENDOFCHAIN, SS - 4);
  h.writeUInt32LE(used + fatCount, 0x44);
  h.writeUInt32LE(1, 0x48);
  return Buffer.concat([h, ...bodies, fatBytes, difat]);
}

/** Where sector `s` of a 512-byte-sector compound file starts, and the FAT entry offset for it. */
export function cfbFatEntryOffset(file: Uint8Array, s: number): number {
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const fatSector = v.getUint32(0x4c + Math.floor(s / 128) * 4, true);
  return (fatSector + 1) * 512 + (s % 128) * 4;
}

const MSI_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._";

/** MSI's compressed stream-name encoding (two alphabet characters per UTF-16 unit). */
export function msiStreamName(name: string, table = false): string {
  let out = table ? String.fromCharCode(0x4840) : "";
  for (let i = 0; i < name.length; i += 2) {
    const a = MSI_CHARS.indexOf(name[i]!);
    const b = i + 1 < name.length ? MSI_CHARS.indexOf(name[i + 1]!) : -1;
    if (a < 0) throw new Error(`msiStreamName: ${name[i]} is outside MSI's alphabet`);
    out += String.fromCharCode(b < 0 ? 0x4800 + a : 0x3800 + a + (b << 6));
  }
  return out;
}

/** MS-OVBA compression (greedy matches within each 4096-byte chunk). */
export function ovbaCompress(data: Uint8Array | string): Buffer {
  const src = typeof data === "string" ? Buffer.from(data, "latin1") : Buffer.from(data);
  const out: number[] = [1];
  for (let cs = 0; cs < src.length; cs += 4096) {
    const ce = Math.min(src.length, cs + 4096);
    const body: number[] = [];
    let i = cs;
    while (i < ce) {
      const flagAt = body.length;
      body.push(0);
      for (let bit = 0; bit < 8 && i < ce; bit++) {
        const diff = i - cs;
        let bits = 4;
        while (1 << bits < diff) bits++;
        if (bits > 12) bits = 12;
        const maxLen = (0xffff >> bits) + 3;
        let bestLen = 0;
        let bestOff = 0;
        for (let off = 1; off <= Math.min(diff, 1 << bits); off++) {
          let l = 0;
          while (l < maxLen && i + l < ce && src[i + l] === src[i + l - off]) l++;
          if (l > bestLen) {
            bestLen = l;
            bestOff = off;
          }
        }
        if (bestLen >= 3) {
          const token = ((bestOff - 1) << (16 - bits)) | (bestLen - 3);
          body.push(token & 0xff, token >> 8);
          body[flagAt]! |= 1 << bit;
          i += bestLen;
        } else body.push(src[i++]!);
      }
    }
    if (body.length > 4096) {
      // does not compress: an uncompressed chunk (4096 bytes, padded)
      out.push(0xff, 0x3f);
      const raw = Buffer.alloc(4096);
      src.copy(raw, 0, cs, ce);
      out.push(...raw);
    } else {
      const h = 0xb000 | (body.length + 2 - 3);
      out.push(h & 0xff, h >> 8, ...body);
    }
  }
  return Buffer.from(out);
}

function rec(id: number, body: Uint8Array | string): Buffer {
  const b = typeof body === "string" ? Buffer.from(body, "latin1") : Buffer.from(body);
  const h = Buffer.alloc(6);
  h.writeUInt16LE(id, 0);
  h.writeUInt32LE(b.length, 2);
  return Buffer.concat([h, b]);
}

function u32le(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

/**
 * The streams of a VBA project under `prefix` (e.g. "" for vbaProject.bin, "Macros/" for a
 * Word file): `VBA/dir`, one stream per module (p-code bytes, then the compressed source at
 * the offset dir names), `VBA/_VBA_PROJECT` and `PROJECT`.
 */
export function vbaProjectStreams(modules: Array<{ name: string; source: string }>, prefix = ""): CfbStream[] {
  const ver = Buffer.alloc(12);
  ver.writeUInt16LE(0x0009, 0);
  ver.writeUInt32LE(4, 2);
  ver.writeUInt32LE(0x65be0257, 6);
  ver.writeUInt16LE(0x11, 10);
  const parts: Buffer[] = [
    rec(0x0001, u32le(1)),
    rec(0x0002, u32le(0x409)),
    rec(0x0003, Buffer.from([0xe4, 0x04])),
    rec(0x0004, "VBAProject"),
    ver,
  ];
  parts.push(rec(0x000f, Buffer.from([modules.length, 0])), rec(0x0013, Buffer.from([0xff, 0xff])));
  const streams: CfbStream[] = [];
  for (const m of modules) {
    const pcode = Buffer.alloc(333, 0xcc);
    parts.push(
      rec(0x0019, m.name),
      rec(0x001a, m.name),
      rec(0x0032, Buffer.from(m.name, "utf16le")),
      rec(0x001c, ""),
      rec(0x0048, Buffer.alloc(0)),
      rec(0x0031, u32le(pcode.length)),
      rec(0x0021, Buffer.alloc(0)),
      rec(0x002b, Buffer.alloc(0)),
    );
    streams.push({ path: `${prefix}VBA/${m.name}`, data: Buffer.concat([pcode, ovbaCompress(m.source)]) });
  }
  parts.push(rec(0x0010, Buffer.alloc(0)));
  streams.unshift(
    { path: `${prefix}VBA/dir`, data: ovbaCompress(Buffer.concat(parts)) },
    { path: `${prefix}VBA/_VBA_PROJECT`, data: Buffer.from([0xcc, 0x61, 0xff, 0xff, 0, 0, 0]) },
    {
      path: `${prefix}PROJECT`,
      data: `ID="{00000000-0000-0000-0000-000000000000}"\r\n${modules.map((m) => `Module=${m.name}\r\n`).join("")}`,
    },
  );
  return streams;
}

/** Packager native data (the `\x01Ole10Native` stream layout): size, header, file. */
export function ole10Native(fileName: string, data: Uint8Array | string): Buffer {
  const body = typeof data === "string" ? Buffer.from(data, "latin1") : Buffer.from(data);
  const z = (s: string) => Buffer.from(`${s}\0`, "latin1");
  const temp = `C:\\Temp\\${fileName}`;
  const inner = Buffer.concat([
    Buffer.from([2, 0]),
    z(fileName),
    z(`C:\\src\\${fileName}`),
    Buffer.from([0, 0, 3, 0]),
    u32le(temp.length + 1),
    z(temp),
    u32le(body.length),
    body,
    Buffer.alloc(6),
  ]);
  return Buffer.concat([u32le(inner.length), inner]);
}

/** An OLE1 embedded object (ObjectHeader + native data), as RTF `\objdata` holds it. */
export function ole1Object(className: string, native: Uint8Array): Buffer {
  const lp = (s: string) => Buffer.concat([u32le(s.length + 1), Buffer.from(`${s}\0`, "latin1")]);
  // native as given is the Ole10Native layout (size first) for Package; else raw bytes get a size
  const nativeWithSize = className === "Package" ? Buffer.from(native) : Buffer.concat([u32le(native.length), native]);
  // topic and item names empty (length 0), as Office writes them
  return Buffer.concat([u32le(0x0501), u32le(2), lp(className), u32le(0), u32le(0), nativeWithSize]);
}

/** An RTF document with one `\object` whose `\objdata` is the hex of `object`. */
export function makeRtf(object: Uint8Array, opts: { cut?: number } = {}): Buffer {
  const hex = Buffer.from(object)
    .toString("hex")
    .replace(/(.{128})/g, "$1\r\n");
  const doc = `{\\rtf1\\ansi\\deff0{\\fonttbl{\\f0 Times;}}\\pard Hello\\par{\\object\\objemb{\\*\\objclass Package}\\objw100\\objh100{\\*\\objdata ${hex}}{\\result {\\pict}}}\\par}`;
  const b = Buffer.from(doc, "latin1");
  return opts.cut ? b.subarray(0, opts.cut) : b;
}

// ---- PDF ----

export function lzwEncode(data: Uint8Array | string, earlyChange = 1): Buffer {
  const src = typeof data === "string" ? Buffer.from(data, "latin1") : Buffer.from(data);
  const out: number[] = [];
  let acc = 0;
  let nbits = 0;
  let width = 9;
  const emit = (code: number) => {
    acc = (acc << width) | code;
    nbits += width;
    while (nbits >= 8) {
      out.push((acc >>> (nbits - 8)) & 0xff);
      nbits -= 8;
    }
    acc &= (1 << nbits) - 1;
  };
  let dict = new Map<string, number>();
  let next = 258;
  emit(256);
  let w = "";
  for (const byte of src) {
    const c = String.fromCharCode(byte);
    const wc = w + c;
    if (w === "" || dict.has(wc) || wc.length === 1) {
      w = wc;
      continue;
    }
    emit(w.length === 1 ? w.charCodeAt(0) : dict.get(w)!);
    dict.set(wc, next++);
    if (next + earlyChange > 1 << width) {
      if (width < 12) width++;
    }
    if (next >= 4094) {
      emit(256);
      dict = new Map();
      next = 258;
      width = 9;
    }
    w = c;
  }
  if (w) emit(w.length === 1 ? w.charCodeAt(0) : dict.get(w)!);
  emit(257);
  if (nbits) out.push((acc << (8 - nbits)) & 0xff);
  return Buffer.from(out);
}

export function ascii85Encode(data: Uint8Array | string): Buffer {
  const src = typeof data === "string" ? Buffer.from(data, "latin1") : Buffer.from(data);
  let s = "";
  for (let i = 0; i < src.length; i += 4) {
    const chunk = Buffer.alloc(4);
    src.copy(chunk, 0, i, Math.min(i + 4, src.length));
    const n = Math.min(4, src.length - i);
    let v = chunk.readUInt32BE(0);
    if (v === 0 && n === 4) {
      s += "z";
      continue;
    }
    const digits: string[] = [];
    for (let k = 0; k < 5; k++) {
      digits.unshift(String.fromCharCode(33 + (v % 85)));
      v = Math.floor(v / 85);
    }
    s += digits.slice(0, n + 1).join("");
  }
  return Buffer.from(`${s}~>`, "latin1");
}

export function runLengthEncode(data: Uint8Array | string): Buffer {
  const src = typeof data === "string" ? Buffer.from(data, "latin1") : Buffer.from(data);
  const out: number[] = [];
  let i = 0;
  while (i < src.length) {
    let r = 1;
    while (r < 128 && i + r < src.length && src[i + r] === src[i]) r++;
    if (r >= 3) {
      out.push(257 - r, src[i]!);
      i += r;
      continue;
    }
    const start = i;
    while (i < src.length && i - start < 128 && !(i + 2 < src.length && src[i] === src[i + 1] && src[i] === src[i + 2]))
      i++;
    out.push(i - start - 1, ...src.subarray(start, i));
  }
  out.push(128);
  return Buffer.from(out);
}

export type PdfFilter = "FlateDecode" | "LZWDecode" | "ASCIIHexDecode" | "ASCII85Decode" | "RunLengthDecode";

/** Encodes `data` so that decoding through `filters` in order gives it back. */
export function pdfEncode(data: Uint8Array | string, filters: PdfFilter[]): Buffer {
  let b: Buffer = typeof data === "string" ? Buffer.from(data, "latin1") : Buffer.from(data);
  for (const f of [...filters].reverse()) {
    if (f === "FlateDecode") b = deflateSync(b);
    else if (f === "LZWDecode") b = lzwEncode(b);
    else if (f === "ASCIIHexDecode") b = Buffer.from(`${b.toString("hex")}>`, "latin1");
    else if (f === "ASCII85Decode") b = ascii85Encode(b);
    else b = runLengthEncode(b);
  }
  return b;
}

export interface PdfObjectSpec {
  /** the dictionary or value text (without `obj`/`endobj`) */
  dict: string;
  /** stream bytes (already encoded); `/Length` is added to the dictionary */
  stream?: Uint8Array;
}

/**
 * A PDF file: objects numbered from 1 in the order given, an xref table and trailer whose
 * /Root is object 1. `brokenXref` writes a table of wrong offsets and a bad startxref.
 */
export function makePdf(objects: PdfObjectSpec[], opts: { brokenXref?: boolean; trailer?: string } = {}): Buffer {
  const parts: Buffer[] = [Buffer.from("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "latin1")];
  let offset = parts[0]!.length;
  const offsets: number[] = [];
  objects.forEach((o, i) => {
    offsets.push(offset);
    let body: Buffer;
    if (o.stream) {
      const dict = o.dict.replace(/>>\s*$/, ` /Length ${o.stream.length} >>`);
      body = Buffer.concat([
        Buffer.from(`${i + 1} 0 obj\n${dict}\nstream\n`, "latin1"),
        Buffer.from(o.stream),
        Buffer.from("\nendstream\nendobj\n", "latin1"),
      ]);
    } else body = Buffer.from(`${i + 1} 0 obj\n${o.dict}\nendobj\n`, "latin1");
    parts.push(body);
    offset += body.length;
  });
  const xref = [`xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`];
  for (const off of offsets) xref.push(`${String(opts.brokenXref ? 7 : off).padStart(10, "0")} 00000 n \n`);
  const trailer = `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R ${opts.trailer ?? ""}>>\nstartxref\n${opts.brokenXref ? 999999 : offset}\n%%EOF\n`;
  parts.push(Buffer.from(xref.join("") + trailer, "latin1"));
  return Buffer.concat(parts);
}

// ---- PDF encryption (standard security handler), for the decryption tests ----

const PDF_PAD = Buffer.from("28bf4e5e4e758a4164004e56fffa01082e2e00b6d0683e802f0ca9fe6453697a", "hex");

function rc4Crypt(key: Uint8Array, data: Uint8Array): Buffer {
  const s = Array.from({ length: 256 }, (_, i) => i);
  let j = 0;
  for (let i = 0; i < 256; i++) {
    j = (j + s[i]! + key[i % key.length]!) % 256;
    const t = s[i]!;
    s[i] = s[j]!;
    s[j] = t;
  }
  const out = Buffer.alloc(data.length);
  let a = 0;
  let b = 0;
  for (let k = 0; k < data.length; k++) {
    a = (a + 1) % 256;
    b = (b + s[a]!) % 256;
    const t = s[a]!;
    s[a] = s[b]!;
    s[b] = t;
    out[k] = data[k]! ^ s[(s[a]! + s[b]!) % 256]!;
  }
  return out;
}

/** ISO 32000-2 algorithm 2.B (revision 6), for a user password. */
function pdfHash6(pw: Buffer, salt: Buffer): Buffer {
  let k = createHash("sha256")
    .update(Buffer.concat([pw, salt]))
    .digest();
  let round = 0;
  let e = Buffer.alloc(0);
  while (round < 64 || e[e.length - 1]! > round - 32) {
    const block = Buffer.concat([pw, k]);
    const c = createCipheriv("aes-128-cbc", k.subarray(0, 16), k.subarray(16, 32));
    c.setAutoPadding(false);
    e = Buffer.concat([c.update(Buffer.concat(Array(64).fill(block))), c.final()]);
    const mod = e.subarray(0, 16).reduce((x, y) => x + y, 0) % 3;
    k = createHash(["sha256", "sha384", "sha512"][mod]!).update(e).digest();
    round++;
  }
  return k.subarray(0, 32);
}

export type PdfCipher = "rc4-40" | "rc4-128" | "aes-128" | "aes-256";

/**
 * A PDF whose streams are encrypted with the standard security handler; the user password is
 * empty unless given (then a reader without it cannot open the document).
 */
export function makeEncryptedPdf(objects: PdfObjectSpec[], cipher: PdfCipher, userPassword = ""): Buffer {
  const id = createHash("md5").update(`vigil-${cipher}`).digest();
  const pw = Buffer.from(userPassword, "latin1");
  const hex = (b: Uint8Array) => `<${Buffer.from(b).toString("hex")}>`;
  const P = -44;
  let encryptDict: string;
  let encStream: (num: number, data: Uint8Array) => Buffer;
  if (cipher === "aes-256") {
    const fileKey = createHash("sha256").update("file key").digest();
    const vsalt = Buffer.from("vsaltvsa");
    const ksalt = Buffer.from("ksaltksa");
    const U = Buffer.concat([pdfHash6(pw, vsalt), vsalt, ksalt]);
    const c = createCipheriv("aes-256-cbc", pdfHash6(pw, ksalt), Buffer.alloc(16));
    c.setAutoPadding(false);
    const UE = Buffer.concat([c.update(fileKey), c.final()]);
    encryptDict = `<< /Filter /Standard /V 5 /R 6 /Length 256 /CF << /StdCF << /CFM /AESV3 /Length 32 /AuthEvent /DocOpen >> >> /StmF /StdCF /StrF /StdCF /O ${hex(Buffer.alloc(48, 7))} /U ${hex(U)} /OE ${hex(Buffer.alloc(32, 8))} /UE ${hex(UE)} /Perms ${hex(Buffer.alloc(16, 9))} /P ${P} >>`;
    encStream = (_n, data) => {
      const iv = createHash("md5").update(data).digest();
      const e = createCipheriv("aes-256-cbc", fileKey, iv);
      return Buffer.concat([iv, e.update(data), e.final()]);
    };
  } else {
    const r = cipher === "rc4-40" ? 2 : cipher === "rc4-128" ? 3 : 4;
    const n = r === 2 ? 5 : 16;
    const O = createHash("sha256").update("owner").digest();
    const p = Buffer.alloc(4);
    p.writeInt32LE(P);
    const padded = Buffer.concat([pw, PDF_PAD]).subarray(0, 32);
    let h = createHash("md5")
      .update(Buffer.concat([padded, O, p, id]))
      .digest();
    if (r >= 3) for (let i = 0; i < 50; i++) h = createHash("md5").update(h.subarray(0, n)).digest();
    const key = h.subarray(0, n);
    let U: Buffer;
    if (r === 2) U = rc4Crypt(key, PDF_PAD);
    else {
      let x = rc4Crypt(
        key,
        createHash("md5")
          .update(Buffer.concat([PDF_PAD, id]))
          .digest(),
      );
      for (let i = 1; i <= 19; i++) x = rc4Crypt(Buffer.from(key.map((v) => v ^ i)), x);
      U = Buffer.concat([x, Buffer.alloc(16, 0x55)]);
    }
    const objKey = (num: number, aes: boolean) =>
      createHash("md5")
        .update(
          Buffer.concat([
            key,
            Buffer.from([num & 0xff, (num >> 8) & 0xff, num >> 16, 0, 0]),
            aes ? Buffer.from("sAlT") : Buffer.alloc(0),
          ]),
        )
        .digest()
        .subarray(0, Math.min(n + 5, 16));
    if (cipher === "aes-128") {
      encryptDict = `<< /Filter /Standard /V 4 /R 4 /Length 128 /CF << /StdCF << /CFM /AESV2 /Length 16 /AuthEvent /DocOpen >> >> /StmF /StdCF /StrF /StdCF /O ${hex(O)} /U ${hex(U)} /P ${P} >>`;
      encStream = (num, data) => {
        const iv = createHash("md5").update(data).digest();
        const e = createCipheriv("aes-128-cbc", objKey(num, true), iv);
        return Buffer.concat([iv, e.update(data), e.final()]);
      };
    } else {
      encryptDict = `<< /Filter /Standard /V ${r === 2 ? 1 : 2} /R ${r} /Length ${n * 8} /O ${hex(O)} /U ${hex(U)} /P ${P} >>`;
      encStream = (num, data) => rc4Crypt(objKey(num, false), data);
    }
  }
  const enc = objects.map((o, i) => (o.stream ? { dict: o.dict, stream: encStream(i + 1, o.stream) } : o));
  enc.push({ dict: encryptDict });
  return makePdf(enc, { trailer: `/Encrypt ${enc.length} 0 R /ID [${hex(id)} ${hex(id)}] ` });
}
