/**
 * Test fixtures for the executable readers, built byte by byte: an AutoIt EA05/EA06 resource
 * (records encrypted with the reader's own ciphers: XOR keystreams, so encrypting is decrypting)
 * and an InstallShield MSI payload.
 */
import { deflateSync } from "node:zlib";
import { lameDecrypt, mtDecrypt } from "../../src/archive/exe/autoit.js";

/** An AutoIt EA05/EA06 resource with the given records, encrypted as AutoIt does. */
export function autoit(
  version: 5 | 6,
  files: Array<{ name: string; data: Uint8Array; compress?: boolean; usize?: number }>,
): Buffer {
  const ea06 = version === 6;
  const crypt = ea06 ? lameDecrypt : mtDecrypt;
  const head = Buffer.concat([
    Buffer.from("a3484bbe986c4aa9994c530a86d6487d41553321454130", "hex"),
    Buffer.from([ea06 ? 0x36 : 0x35]),
    Buffer.from("0123456789abcdef"), // EA05: summed into the data key
  ]);
  let m4sum = 0;
  for (let i = 24; i < 40; i++) m4sum += head[i]!;
  const k = ea06
    ? {
        magic: 0x52ca436b,
        tag: 0xadbc,
        tagSeed: 0xb33f,
        name: 0xf820,
        nameSeed: 0xf479,
        size: 0x87bc,
        data: 0x2477,
        comp: "EA06",
      }
    : {
        magic: 0xceb06dff,
        tag: 0x29bc,
        tagSeed: 0xa25e,
        name: 0x29ac,
        nameSeed: 0xf25e,
        size: 0x45aa,
        data: 0x22af + m4sum,
        comp: "EA05",
      };
  const text = (s: string) => (ea06 ? Buffer.from(s, "utf16le") : Buffer.from(s, "latin1"));
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    return b;
  };
  const parts: Buffer[] = [head];
  for (const f of files) {
    const tag = text(">>>AUTOIT NO CMDEXECUTE<<<");
    crypt(tag, ((ea06 ? tag.length / 2 : tag.length) + k.tagSeed) >>> 0);
    const name = text(f.name);
    crypt(name, ((ea06 ? name.length / 2 : name.length) + k.nameSeed) >>> 0);
    let body: Buffer;
    if (f.compress) {
      // literals only, the flag bit saying "literal" (1 in EA06, 0 in EA05), 16-bit BE words
      const bits: number[] = [];
      for (const c of f.data) {
        bits.push(ea06 ? 1 : 0);
        for (let i = 7; i >= 0; i--) bits.push((c >> i) & 1);
      }
      while (bits.length % 16) bits.push(0);
      const words = Buffer.alloc(bits.length / 8);
      for (let i = 0; i < bits.length; i++) if (bits[i]) words[i >> 3]! |= 0x80 >> (i & 7);
      const size = Buffer.alloc(4);
      size.writeUInt32BE(f.usize ?? f.data.length);
      body = Buffer.concat([Buffer.from(k.comp, "latin1"), size, words]);
    } else body = Buffer.from(f.data);
    crypt(body, k.data >>> 0);
    const rec = Buffer.alloc(13 + 16);
    rec[0] = f.compress ? 1 : 0;
    rec.writeUInt32LE((body.length ^ k.size) >>> 0, 1);
    rec.writeUInt32LE(((f.usize ?? f.data.length) ^ k.size) >>> 0, 5);
    parts.push(u32(k.magic), u32((ea06 ? tag.length / 2 : tag.length) ^ k.tag), tag);
    parts.push(u32((ea06 ? name.length / 2 : name.length) ^ k.name), name, rec, body);
  }
  return Buffer.concat(parts);
}

/** An InstallShield MSI payload ("InstallShield\0", header, file blocks, encoded zlib data). */
export function ishield(files: Array<{ name: string; data: Uint8Array }>, zlib = true): Buffer {
  const head = Buffer.alloc(14 + 0x20);
  head.write("InstallShield\0", 0, "latin1");
  head.writeUInt32LE(files.length, 14);
  const parts = [head];
  for (const f of files) {
    const block = Buffer.alloc(312);
    block.write(f.name, 0, "latin1");
    block.writeUInt32LE(6, 0x104);
    block.writeUInt32LE(1, 0x104 + 4 + 4 + 8 + 4);
    const z = zlib ? deflateSync(f.data) : Buffer.from(f.data);
    const key = Buffer.from(f.name, "latin1").map((c, i) => c ^ [0xec, 0xca, 0x79, 0xf8][i & 3]!);
    const enc = Buffer.from(
      z.map((c, i) => {
        const x = c ^ key[(i & 0x3ff) % key.length]!;
        return ((x >> 4) | (x << 4)) & 0xff;
      }),
    );
    block.writeBigUInt64LE(BigInt(enc.length), 268);
    parts.push(block, enc);
  }
  return Buffer.concat(parts);
}

/** yC's decryption routine used here: XOR AL,k; ADD AL,CL; NOPs to 0x30 bytes. */
function ycRoutine(k: number): Buffer {
  const r = Buffer.alloc(0x30, 0x90);
  Buffer.from([0x34, k, 0x02, 0xc1]).copy(r);
  return r;
}
/** Encrypts what ycRoutine(k) decrypts: byte i of n is decrypted with CL = (n - i) & 0xff. */
function ycEncrypt(b: Buffer, k: number): void {
  for (let i = 0; i < b.length; i++) b[i] = ((b[i]! - ((b.length - i) & 0xff)) & 0xff) ^ k;
}

/**
 * A PE encrypted as yoda's Crypter 1.3 leaves it: .text encrypted by a routine at yC+0x457,
 * that routine and the original entry point (yC+0xa0f) encrypted by the routine at yC+0x93,
 * the loader at the entry point (yC section + 0x60) with the bytes ClamAV recognises.
 */
export function ycPe(text: Uint8Array, oep = 0x1000): Buffer {
  const ECX = 0x1000;
  const textRaw = Buffer.alloc(Math.ceil(text.length / 0x200) * 0x200);
  textRaw.set(text);
  const yc = Buffer.alloc(0x200 * Math.ceil((0xc6 + ECX) / 0x200));
  const ep = Buffer.alloc(0x66);
  Buffer.from("558bec53565760e8000000005d81ed", "hex").copy(ep, 0);
  ep[0x13] = 0xb9;
  ep.writeUInt32LE(ECX, 0x14);
  ep.writeUInt16LE(0xe981, 0x18);
  Buffer.from("8bd581c2", "hex").copy(ep, 0x1e);
  ep.writeUInt32LE(0x5a, 0x22); // 0x6c - 0 + 0x5a == 0xc6
  Buffer.from("8d3a8bf733c0eb0490eb01c2ac", "hex").copy(ep, 0x26);
  Buffer.from("aae2cc", "hex").copy(ep, 0x63);
  ep.copy(yc, 0x60);
  ycRoutine(0x3c).copy(yc, 0x93);
  // the second stage: the section routine and the original entry point, encrypted by the first
  const stage2 = Buffer.alloc(ECX);
  ycRoutine(0xa5).copy(stage2, 0x457 - 0xc6);
  stage2.writeUInt32LE(oep, 0xa0f - 0xc6);
  ycEncrypt(stage2, 0x3c);
  stage2.copy(yc, 0xc6);
  // .text encrypted by the section routine (CL counts down from the raw size)
  const enc = Buffer.from(textRaw);
  ycEncrypt(enc, 0xa5);
  const headers = Buffer.alloc(0x400);
  headers.write("MZ", 0, "latin1");
  headers.writeUInt32LE(0x80, 0x3c);
  const pe = 0x80;
  headers.write("PE\0\0", pe, "latin1");
  headers.writeUInt16LE(0x14c, pe + 4);
  headers.writeUInt16LE(2, pe + 6);
  headers.writeUInt16LE(0xe0, pe + 20);
  headers.writeUInt16LE(0x102, pe + 22);
  const opt = pe + 24;
  const textVirt = Math.ceil(textRaw.length / 0x1000) * 0x1000;
  const ycRva = 0x1000 + textVirt;
  headers.writeUInt16LE(0x10b, opt);
  headers.writeUInt32LE(ycRva + 0x60, opt + 16);
  headers.writeUInt32LE(0x400000, opt + 28);
  headers.writeUInt32LE(0x1000, opt + 32);
  headers.writeUInt32LE(0x200, opt + 36);
  headers.writeUInt32LE(ycRva + Math.ceil(yc.length / 0x1000) * 0x1000, opt + 56);
  headers.writeUInt32LE(0x400, opt + 60);
  headers.writeUInt32LE(16, opt + 92);
  headers.writeUInt32LE(ycRva + 0x100, opt + 0x68); // an import directory yC's loader would fix
  const sec = opt + 0xe0;
  headers.write(".text", sec, "latin1");
  headers.writeUInt32LE(textRaw.length, sec + 8);
  headers.writeUInt32LE(0x1000, sec + 12);
  headers.writeUInt32LE(textRaw.length, sec + 16);
  headers.writeUInt32LE(0x400, sec + 20);
  headers.write("yC", sec + 40, "latin1");
  headers.writeUInt32LE(yc.length, sec + 40 + 8);
  headers.writeUInt32LE(ycRva, sec + 40 + 12);
  headers.writeUInt32LE(yc.length, sec + 40 + 16);
  headers.writeUInt32LE(0x400 + textRaw.length, sec + 40 + 20);
  return Buffer.concat([headers, enc, yc]);
}

/** WWPack32's stream for `data` as literals only, then the end code (a 9-bit all-ones distance). */
function wwStream(data: Uint8Array): Buffer {
  const out: number[] = [0, 0, 0, 0];
  let slot = 0;
  let word = 0;
  let n = 0;
  const bit = (b: number) => {
    word = ((word << 1) | b) >>> 0;
    if (++n === 32) {
      for (let i = 0; i < 4; i++) out[slot + i] = (word >>> (8 * i)) & 0xff;
      slot = out.length; // the reader takes the next word as soon as this one is used up
      out.push(0, 0, 0, 0);
      word = 0;
      n = 0;
    }
  };
  for (const c of data) {
    bit(0);
    out.push(c);
  }
  for (const b of [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]) bit(b);
  if (n) {
    const w = (word << (32 - n)) >>> 0;
    for (let i = 0; i < 4; i++) out[slot + i] = (w >>> (8 * i)) & 0xff;
  }
  while (out.length % 4) out.push(0);
  return Buffer.from(out);
}

/**
 * A PE packed as WWPack32 lays it out: .text holds one compressed block (unpacked in place at
 * its RVA), the packer section (entry point at its start, with the loader bytes ClamAV checks)
 * holds the block table at +0x2a1 and the original entry point at +0x295.
 */
export function wwpackPe(text: Uint8Array, oep = 0x1000): Buffer {
  const c = wwStream(text);
  const textRaw = Buffer.alloc(Math.ceil(c.length / 0x200) * 0x200);
  c.copy(textRaw);
  const textVirt = Math.ceil(Math.max(text.length, c.length) / 0x1000) * 0x1000 + 0x1000;
  const wwRva = 0x1000 + textVirt;
  const ww = Buffer.alloc(0x400);
  Buffer.from("53558be833dbeb", "hex").copy(ww, 0);
  Buffer.from("e800000000582d6d000000506033c950585050", "hex").copy(ww, 0x68);
  ww.writeUInt32LE(oep - wwRva - 0x299 + 0x100000000 * (oep < wwRva + 0x299 ? 1 : 0), 0x295);
  ww.writeUInt32LE(wwRva - 0x1000, 0x2a1); // block source: .text
  ww.writeUInt32LE(c.length / 4, 0x2a1 + 8);
  ww.writeUInt32LE(c.length - 4, 0x2a1 + 12); // unpacks at .text's start
  ww[0x2a1 + 16] = 0; // the last block
  const headers = Buffer.alloc(0x400);
  headers.write("MZ", 0, "latin1");
  headers.writeUInt32LE(0x80, 0x3c);
  const pe = 0x80;
  headers.write("PE\0\0", pe, "latin1");
  headers.writeUInt16LE(0x14c, pe + 4);
  headers.writeUInt16LE(2, pe + 6);
  headers.writeUInt16LE(0xe0, pe + 20);
  headers.writeUInt16LE(0x102, pe + 22);
  const opt = pe + 24;
  headers.writeUInt16LE(0x10b, opt);
  headers.writeUInt32LE(wwRva, opt + 16);
  headers.writeUInt32LE(0x400000, opt + 28);
  headers.writeUInt32LE(0x1000, opt + 32);
  headers.writeUInt32LE(0x200, opt + 36);
  headers.writeUInt32LE(wwRva + 0x1000, opt + 56);
  headers.writeUInt32LE(0x400, opt + 60);
  headers.writeUInt32LE(16, opt + 92);
  const sec = opt + 0xe0;
  headers.write(".text", sec, "latin1");
  headers.writeUInt32LE(textVirt, sec + 8);
  headers.writeUInt32LE(0x1000, sec + 12);
  headers.writeUInt32LE(textRaw.length, sec + 16);
  headers.writeUInt32LE(0x400, sec + 20);
  headers.write(".WWP32", sec + 40, "latin1");
  headers.writeUInt32LE(0x1000, sec + 40 + 8);
  headers.writeUInt32LE(wwRva, sec + 40 + 12);
  headers.writeUInt32LE(ww.length, sec + 40 + 16);
  headers.writeUInt32LE(0x400 + textRaw.length, sec + 40 + 20);
  return Buffer.concat([headers, textRaw, ww]);
}
