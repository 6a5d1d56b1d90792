/**
 * Damaged archives built in code, for the "scan what a container yields" tests (issue 17,
 * finding 2) and their clamscan differential: each holds EICAR (or only clean text) before
 * the damage, the way `tar xzf` / `gzip -dc` / `bzip2 -dc` / `xz -dc` / 7z still write it out.
 */
import { execFileSync } from "node:child_process";
import { constants as Z, crc32, deflateRawSync, gzipSync } from "node:zlib";
import { makeZip, EICAR } from "@vigil/test-kit";

/** Deterministic incompressible bytes. */
export function noise(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

/** A ustar archive of regular files. */
export function makeTar(files: { name: string; data: Uint8Array | string }[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    const data = Buffer.from(f.data);
    const h = Buffer.alloc(512);
    h.write(f.name, 0, 100, "utf8");
    h.write("0000644\0", 100, "latin1");
    h.write("0000000\0", 108, "latin1");
    h.write("0000000\0", 116, "latin1");
    h.write(data.length.toString(8).padStart(11, "0") + "\0", 124, "latin1");
    h.write("00000000000\0", 136, "latin1");
    h.write("0", 156, "latin1");
    h.write("ustar\u000000", 257, "latin1");
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += h[i]!;
    h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "latin1");
    parts.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** gzip with the CRC32 trailer flipped (what the campaign found 65 times). */
export function gzipBadCrc(data: Uint8Array | string): Buffer {
  const g = Buffer.from(gzipSync(data));
  g.writeUInt32LE((g.readUInt32LE(g.length - 8) ^ 0xffffffff) >>> 0, g.length - 8);
  return g;
}

/** gzip with a wrong ISIZE (length) trailer. */
export function gzipBadSize(data: Uint8Array | string): Buffer {
  const g = Buffer.from(gzipSync(data));
  g.writeUInt32LE((g.readUInt32LE(g.length - 4) + 7) >>> 0, g.length - 4);
  return g;
}

/** gzip cut `keep` bytes into its deflate stream (no trailer). */
export function gzipTruncated(data: Uint8Array | string, keep: number): Buffer {
  return Buffer.from(gzipSync(data)).subarray(0, 10 + keep);
}

/** Little-endian bit writer for deflate. */
class Bits {
  private bytes: number[] = [];
  private cur = 0;
  private n = 0;
  put(value: number, count: number): void {
    for (let i = 0; i < count; i++) {
      this.cur |= ((value >>> i) & 1) << this.n;
      if (++this.n === 8) {
        this.bytes.push(this.cur);
        this.cur = 0;
        this.n = 0;
      }
    }
  }
  /** A Huffman code: most significant bit first. */
  code(value: number, count: number): void {
    for (let i = count - 1; i >= 0; i--) this.put((value >>> i) & 1, 1);
  }
  done(): Buffer {
    if (this.n) this.bytes.push(this.cur);
    return Buffer.from(this.bytes);
  }
}

/**
 * gzip whose deflate stream holds `data` intact, then a fixed-Huffman block with a match
 * 32768 bytes back: zlib stops with "invalid distance too far back" (data must be shorter).
 */
export function gzipInvalidDistance(data: Uint8Array | string): Buffer {
  const head = deflateRawSync(data, { finishFlush: Z.Z_SYNC_FLUSH }); // not final, byte-aligned
  const w = new Bits();
  w.put(1, 1); // BFINAL
  w.put(1, 2); // fixed Huffman
  w.code(0b0000001, 7); // length code 257: length 3
  w.code(29, 5); // distance code 29: 24577 + 13 extra bits
  w.put(0x1fff, 13); // distance 32768
  w.code(0, 7); // end of block
  const body = Buffer.concat([head, w.done()]);
  const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(Buffer.from(data)), 0);
  trailer.writeUInt32LE(Buffer.from(data).length, 4);
  return Buffer.concat([header, body, trailer]);
}

/** bzip2 (the `bzip2` tool, 100k blocks) with a byte damaged in its last block. */
export function bzip2DamagedLastBlock(data: Uint8Array): Buffer {
  const bz = Buffer.from(execFileSync("bzip2", ["-1", "-c"], { input: data, maxBuffer: 1 << 26 }));
  bz[bz.length - 200] ^= 0x55;
  return bz;
}

/** xz (the `xz` tool, small blocks) cut at `fraction` of its length. */
export function xzTruncated(data: Uint8Array, fraction: number): Buffer {
  const xz = Buffer.from(execFileSync("xz", ["-c", "-0", "--block-size=20000"], { input: data, maxBuffer: 1 << 26 }));
  return xz.subarray(0, Math.floor(xz.length * fraction));
}

/** A zip whose end record gives a central-directory size that does not fit the file. */
export function zipBadCentralSize(grow: number): Buffer {
  const z = makeZip([
    { name: "readme.txt", data: "nothing to see ".repeat(20) },
    { name: "e.com", data: EICAR },
  ]);
  const e = z.lastIndexOf(Buffer.from([0x50, 0x4b, 5, 6]));
  z.writeUInt32LE(z.readUInt32LE(e + 12) + grow, e + 12);
  return z;
}

export interface DamagedCase {
  file: string;
  bytes: Buffer;
  /** EICAR lies in the bytes an extraction tool still writes out. */
  infected: boolean;
}

/** Every damaged case, named as files. */
export function damagedCases(): DamagedCase[] {
  // EICAR then compressible text (so EICAR is coded, never stored in the clear), then noise
  const withNoise = Buffer.concat([
    Buffer.from(EICAR),
    Buffer.from("compressible text line\n".repeat(800)),
    noise(60_000),
  ]);
  const tarOf = (tail: number) =>
    makeTar([
      { name: "readme.txt", data: "clean text\n" },
      { name: "eicar.com", data: EICAR },
      { name: "big.bin", data: noise(tail, 3) },
    ]);
  const tgz = Buffer.from(gzipSync(tarOf(40_000)));
  const cases: DamagedCase[] = [
    { file: "crc.com.gz", bytes: gzipBadCrc(EICAR), infected: true },
    { file: "isize.com.gz", bytes: gzipBadSize(EICAR), infected: true },
    { file: "cut.com.gz", bytes: gzipTruncated(withNoise, 30_000), infected: true },
    { file: "distance.com.gz", bytes: gzipInvalidDistance(withNoise.subarray(0, 30_000)), infected: true },
    { file: "crc.tgz", bytes: gzipBadCrc(tarOf(40_000)), infected: true },
    { file: "cut.tgz", bytes: tgz.subarray(0, tgz.length - 20_000), infected: true },
    {
      file: "block.com.bz2",
      bytes: bzip2DamagedLastBlock(Buffer.concat([Buffer.from(EICAR), noise(250_000, 5)])),
      infected: true,
    },
    { file: "cut.com.xz", bytes: xzTruncated(withNoise, 0.6), infected: true },
    { file: "cdsize.zip", bytes: zipBadCentralSize(1000), infected: true },
    { file: "cdsmall.zip", bytes: zipBadCentralSize(-40), infected: true },
    { file: "crc-clean.txt.gz", bytes: gzipBadCrc("only clean text here\n".repeat(50)), infected: false },
  ];
  // none holds EICAR in the clear: finding it means decoding the damaged container
  for (const c of cases) if (c.bytes.includes(EICAR)) throw new Error(`${c.file} holds EICAR in the clear`);
  return cases;
}
