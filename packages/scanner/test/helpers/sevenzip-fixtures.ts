/**
 * Archives built byte by byte, for the formats no free tool here writes: RAR 4 and RAR 5 with
 * stored members (from RARLAB's published technote and "RAR 5.0 archive format"), and Microsoft
 * Cabinet files with stored or MSZIP members (from the Microsoft Cabinet Format specification),
 * the MSZIP ones also as a bomb.
 */
import { deflateRawSync } from "node:zlib";

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) c = TABLE[(c ^ x) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const bytes = (s: string | Uint8Array) => (typeof s === "string" ? Buffer.from(s, "latin1") : Buffer.from(s));

function le(n: number, size: 1 | 2 | 4): Buffer {
  const b = Buffer.alloc(size);
  if (size === 1) b.writeUInt8(n);
  else if (size === 2) b.writeUInt16LE(n);
  else b.writeUInt32LE(n >>> 0);
  return b;
}

export interface Stored {
  name: string;
  data: string | Uint8Array;
}

/** RAR 4: marker block, main header, one stored (method 0x30) file header per member, end block. */
export function rar4(files: Stored[]): Buffer {
  // HEAD_CRC is the low 16 bits of the CRC32 of the header from HEAD_TYPE on
  const block = (rest: Buffer) => Buffer.concat([le(crc32(rest) & 0xffff, 2), rest]);
  const parts = [Buffer.from([0x52, 0x61, 0x72, 0x21, 0x1a, 0x07, 0x00])];
  parts.push(block(Buffer.concat([le(0x73, 1), le(0, 2), le(13, 2), le(0, 2), le(0, 4)])));
  for (const f of files) {
    const data = bytes(f.data);
    const name = Buffer.from(f.name, "latin1");
    const head = Buffer.concat([
      le(0x74, 1),
      le(0x8000, 2), // LONG_BLOCK: PACK_SIZE (ADD_SIZE) follows
      le(32 + name.length, 2),
      le(data.length, 4), // PACK_SIZE
      le(data.length, 4), // UNP_SIZE
      le(2, 1), // HOST_OS: Windows
      le(crc32(data), 4),
      le(0x5a210000, 4), // FTIME (DOS date and time)
      le(20, 1), // UNP_VER 2.0
      le(0x30, 1), // METHOD: store
      le(name.length, 2),
      le(0x20, 4), // ATTR: archive
      name,
    ]);
    parts.push(block(head), data);
  }
  parts.push(block(Buffer.concat([le(0x7b, 1), le(0x4000, 2), le(7, 2)])));
  return Buffer.concat(parts);
}

function vint(n: number): Buffer {
  const out: number[] = [];
  do {
    let x = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) x |= 0x80;
    out.push(x);
  } while (n > 0);
  return Buffer.from(out);
}

/** RAR 5: signature, main archive header, one stored file header per member, end of archive. */
export function rar5(files: Stored[]): Buffer {
  // each header: CRC32 (of what follows it), header size (vint), then the header itself
  const header = (body: Buffer) => {
    const withSize = Buffer.concat([vint(body.length), body]);
    return Buffer.concat([le(crc32(withSize), 4), withSize]);
  };
  const parts = [Buffer.from([0x52, 0x61, 0x72, 0x21, 0x1a, 0x07, 0x01, 0x00])];
  parts.push(header(Buffer.concat([vint(1), vint(0), vint(0)]))); // type 1 main, flags 0, archive flags 0
  for (const f of files) {
    const data = bytes(f.data);
    const name = Buffer.from(f.name, "utf8");
    const body = Buffer.concat([
      vint(2), // file header
      vint(0x0002), // header flags: data area present
      vint(data.length), // data size
      vint(0x0004), // file flags: CRC32 present
      vint(data.length), // unpacked size
      vint(0x20), // attributes
      le(crc32(data), 4),
      vint(0), // compression: version 0, method 0 (store), no solid
      vint(0), // host OS Windows
      vint(name.length),
      name,
    ]);
    parts.push(header(body), data);
  }
  parts.push(header(Buffer.concat([vint(5), vint(0), vint(0)]))); // end of archive
  return Buffer.concat(parts);
}

/** The CFDATA checksum of the Microsoft Cabinet Format: XOR of little-endian 32-bit words, the tail bytes high first. */
function cabSum(b: Uint8Array, seed: number): number {
  let sum = seed;
  let i = 0;
  for (; i + 4 <= b.length; i += 4) sum ^= b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
  let tail = 0;
  for (; i < b.length; i++) tail = (tail << 8) | b[i]!;
  return (sum ^ tail) >>> 0;
}

export interface CabFile {
  name: string;
  data: Uint8Array;
}

/**
 * A cabinet with one folder: the files' bytes concatenated and cut into data blocks of 32 KiB
 * (stored, or MSZIP: "CK" and a deflate stream per block), each with its checksum. `declared` overrides each file's
 * cbFile (a lying size).
 */
export function cab(files: CabFile[], method: "none" | "mszip", declared?: number): Buffer {
  const all = Buffer.concat(files.map((f) => Buffer.from(f.data)));
  const blocks: Buffer[] = [];
  for (let o = 0; o < all.length || (o === 0 && blocks.length === 0); o += 32768) {
    const raw = all.subarray(o, o + 32768);
    const payload = method === "none" ? raw : Buffer.concat([Buffer.from("CK"), deflateRawSync(raw)]);
    const sizes = Buffer.concat([le(payload.length, 2), le(raw.length, 2)]);
    blocks.push(Buffer.concat([le(cabSum(sizes, cabSum(payload, 0)), 4), sizes, payload]));
    if (all.length === 0) break;
  }
  const fileEntries: Buffer[] = [];
  let off = 0;
  for (const f of files) {
    fileEntries.push(
      Buffer.concat([
        le(declared ?? f.data.length, 4),
        le(off, 4),
        le(0, 2), // folder 0
        le(0x5a21, 2),
        le(0, 2),
        le(0x20, 2),
        Buffer.from(f.name + "\0", "latin1"),
      ]),
    );
    off += f.data.length;
  }
  const files_ = Buffer.concat(fileEntries);
  const coffFiles = 36 + 8;
  const dataStart = coffFiles + files_.length;
  const data = Buffer.concat(blocks);
  const total = dataStart + data.length;
  const head = Buffer.concat([
    Buffer.from("MSCF"),
    le(0, 4),
    le(total, 4),
    le(0, 4),
    le(coffFiles, 4),
    le(0, 4),
    le(3, 1),
    le(1, 1),
    le(1, 2), // folders
    le(files.length, 2),
    le(0, 2), // flags
    le(0x1234, 2), // set id
    le(0, 2),
  ]);
  const folder = Buffer.concat([le(dataStart, 4), le(blocks.length, 2), le(method === "none" ? 0 : 1, 2)]);
  return Buffer.concat([head, folder, files_, data]);
}
