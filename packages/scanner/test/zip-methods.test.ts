// zip methods 6 (implode) and 9 (deflate64), which Debian's tools cannot write: ClamAV's test
// files, mutations of them, and byte-level encoders here (fixed-Huffman deflate64 with the
// 64 KiB-only codes; implode without a literal tree, every code 6 bits). Bzip2 (method 12) too.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { DEFAULT_LIMITS, scanBytes, readArchive, type Limits } from "../src/index.js";
import { inflate64 } from "../src/archive/small/deflate64.js";
import { explode } from "../src/archive/small/implode.js";
import { EICAR, makeZip, mulberry32, needs } from "@vigil/test-kit";
import { starter } from "./helpers/detector.js";

const limits = (over: Partial<Limits> = {}): Limits => ({ ...DEFAULT_LIMITS, ...over });
const scan = (b: Uint8Array, name = "t", over: Partial<Limits> = {}) =>
  scanBytes(starter().detector, b, name, { limits: limits(over) });
const EICAR_NAME = "Win.Test.EICAR_HDB-1";

class BitWriter {
  out: number[] = [];
  private acc = 0;
  private n = 0;
  /** `count` bits of `v`, least significant first. */
  bits(v: number, count: number): this {
    for (let i = 0; i < count; i++) {
      this.acc |= ((v >>> i) & 1) << this.n;
      if (++this.n === 8) {
        this.out.push(this.acc);
        this.acc = 0;
        this.n = 0;
      }
    }
    return this;
  }
  /** A Huffman code: its most significant bit first. */
  code(v: number, len: number): this {
    for (let i = len - 1; i >= 0; i--) this.bits((v >> i) & 1, 1);
    return this;
  }
  done(): Uint8Array {
    if (this.n) this.out.push(this.acc);
    return Uint8Array.from(this.out);
  }
}

const LBASE = [
  3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 3,
];
const LEXT = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 16];
const DBASE = [
  1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
  8193, 12289, 16385, 24577, 32769, 49153,
];
const DEXT = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14];

type Op = { lit: Uint8Array } | { dist: number; len: number };

/** One fixed-Huffman deflate64 block. */
function deflate64(ops: Op[]): Uint8Array {
  const w = new BitWriter().bits(1, 1).bits(1, 2);
  const sym = (s: number) => {
    if (s < 144) w.code(0x30 + s, 8);
    else if (s < 256) w.code(0x190 + s - 144, 9);
    else if (s < 280) w.code(s - 256, 7);
    else w.code(0xc0 + s - 280, 8);
  };
  for (const op of ops) {
    if ("lit" in op) for (const c of op.lit) sym(c);
    else {
      // length code 285 is 3 + 16 bits in deflate64; the others as in deflate
      const l = op.len >= 259 ? 28 : LBASE.findLastIndex((b, i) => i < 28 && b <= op.len);
      sym(257 + l);
      w.bits(op.len - LBASE[l]!, LEXT[l]!);
      const d = DBASE.findLastIndex((b) => b <= op.dist);
      w.code(d, 5);
      w.bits(op.dist - DBASE[d]!, DEXT[d]!);
    }
  }
  sym(256);
  return w.done();
}

/** Implode with a 4 KiB dictionary, no literal tree, and every length and distance code 6 bits long. */
function implode(ops: Op[]): Uint8Array {
  const trees = [3, 0xf5, 0xf5, 0xf5, 0xf5, 3, 0xf5, 0xf5, 0xf5, 0xf5]; // 4 x (16 codes of 6 bits), twice
  const w = new BitWriter();
  for (const op of ops) {
    if ("lit" in op) for (const c of op.lit) w.bits(1, 1).bits(c, 8);
    else {
      const d = op.dist - 1;
      w.bits(0, 1)
        .bits(d & 0x3f, 6)
        .code(~(d >> 6) & 0x3f, 6);
      const n = op.len - 2;
      if (n >= 63)
        w.code(0, 6).bits(n - 63, 8); // code 63 inverted
      else w.code(~n & 0x3f, 6);
    }
  }
  return Uint8Array.from([...trees, ...w.done()]);
}

function expand(ops: Op[]): Uint8Array {
  const out: number[] = [];
  for (const op of ops) {
    if ("lit" in op) out.push(...op.lit);
    else for (let k = 0; k < op.len; k++) out.push(out.length - op.dist >= 0 ? out[out.length - op.dist]! : 0);
  }
  return Uint8Array.from(out);
}

/** A zip of one member whose data is already compressed with `method`. */
function zipOf(name: string, method: number, body: Uint8Array, size: number, flags = 0): Buffer {
  const z = makeZip([{ name, data: body, method: 0, flags }]);
  // makeZip stored it: make the headers say `method` and the real uncompressed size
  const cd = z.indexOf(Buffer.from([0x50, 0x4b, 1, 2]));
  for (const at of [0, cd]) {
    const base = at === 0 ? 0 : at + 2;
    z.writeUInt16LE(method, base + 8);
    z.writeUInt32LE(size, base + 22);
  }
  return z;
}

const random = (n: number, seed: number) => {
  const r = mulberry32(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
};

describe("deflate64 (zip method 9)", () => {
  it("the 64 KiB-only codes: distances past 32 KiB (codes 30, 31) and length code 285 (3 + 16 bits)", () => {
    const ops: Op[] = [
      { lit: random(50000, 1) },
      { dist: 50000, len: 1000 }, // distance code 31
      { dist: 33000, len: 300 }, // distance code 30
      { lit: Uint8Array.of(65) },
      { dist: 1, len: 60003 }, // length code 285 with 16 extra bits
    ];
    const want = expand(ops);
    const r = inflate64(deflate64(ops), 1 << 20);
    expect(r.error).toBeUndefined();
    expect(Buffer.from(r.data).equals(Buffer.from(want))).toBe(true);
  });

  it("a member found in a zip, named outer!inner", () => {
    const z = zipOf("e/eicar.com", 9, deflate64([{ lit: Buffer.from(EICAR) }]), 68);
    const r = scan(z, "d64.zip");
    expect(r.detections.map((d) => [d.path, d.name])).toEqual([["d64.zip!e/eicar.com", EICAR_NAME]]);
    expect(r.incomplete).toEqual([]);
  });

  it("a bomb (runs of 65 KiB copies) stops at the ratio limit", () => {
    const ops: Op[] = [{ lit: Uint8Array.of(0) }, ...Array.from({ length: 200 }, () => ({ dist: 1, len: 65538 }))];
    const body = deflate64(ops);
    expect(body.length).toBeLessThan(1000);
    const r = scan(zipOf("zeros", 9, body, 13107601), "bomb.zip", { maxRatio: 100, ratioFloor: 1 << 16 });
    expect(r.incomplete.map((i) => [i.reason, i.path])).toEqual([["max-ratio", "bomb.zip!zeros"]]);
  });

  it("ClamAV's clam.d64.zip, truncated and corrupted: found, or not fully scanned; never a crash", () => {
    if (needs("clamav-testfiles deflate64", { debianFiles: ["/usr/share/clamav-testfiles"] })) return;
    const b = readFileSync("/usr/share/clamav-testfiles/clam.d64.zip");
    const [m] = [...readArchive("zip", b, "clam.d64.zip", () => 1 << 20)];
    expect([m!.name, m!.data?.length, m!.problem]).toEqual(["clam.exe", 544, undefined]);
    mutations(b, "clam.d64.zip");
  });
});

describe("implode (zip method 6)", () => {
  it("literals and copies (short and 63 + 8-bit lengths, distances with 6 low bits) decode exactly", () => {
    const ops: Op[] = [
      { lit: Buffer.from("abcdefgh") },
      { dist: 8, len: 20 },
      { lit: random(3000, 2) },
      { dist: 2900, len: 200 },
      { dist: 1, len: 2 },
    ];
    const want = expand(ops);
    const r = explode(implode(ops), 0, want.length, 1 << 20);
    expect(r.error).toBeUndefined();
    expect(Buffer.from(r.data).equals(Buffer.from(want))).toBe(true);
  });

  it("a member found in a zip; cut data gives what decoded, not fully scanned", () => {
    const body = implode([{ lit: Buffer.from(EICAR) }]);
    const r = scan(zipOf("eicar.com", 6, body, 68), "impl.zip");
    expect(r.detections.map((d) => [d.path, d.name])).toEqual([["impl.zip!eicar.com", EICAR_NAME]]);
    const cut = scan(zipOf("eicar.com", 6, body.subarray(0, 40), 68), "cut.zip");
    expect(cut.incomplete[0]).toMatchObject({ reason: "corrupt-archive", path: "cut.zip!eicar.com" });
    expect(cut.incomplete[0]!.message).toMatch(/implode compressed data ends too soon/);
  });

  it("a tree that describes the wrong number of codes is reported", () => {
    const body = implode([{ lit: Buffer.from("x") }]);
    body[0] = 2; // three bytes: 48 length codes, not 64
    const r = scan(zipOf("x", 6, body, 1), "t.zip");
    expect(r.incomplete[0]!.message).toMatch(/length tree describes 48 codes, 64 expected/);
  });

  it("a bomb stops at the ratio limit", () => {
    const ops: Op[] = [{ lit: Uint8Array.of(0) }, ...Array.from({ length: 20000 }, () => ({ dist: 1, len: 320 }))];
    const r = scan(zipOf("zeros", 6, implode(ops), 6400001), "bomb.zip", { maxRatio: 20, ratioFloor: 1 << 16 });
    expect(r.incomplete.map((i) => [i.reason, i.path])).toEqual([["max-ratio", "bomb.zip!zeros"]]);
  });

  it("ClamAV's clam.impl.zip, truncated and corrupted: found, or not fully scanned; never a crash", () => {
    if (needs("clamav-testfiles implode", { debianFiles: ["/usr/share/clamav-testfiles"] })) return;
    const b = readFileSync("/usr/share/clamav-testfiles/clam.impl.zip");
    const [m] = [...readArchive("zip", b, "clam.impl.zip", () => 1 << 20)];
    expect([m!.name, m!.data?.length, m!.problem]).toEqual(["CLAM.EXE", 544, undefined]);
    mutations(b, "clam.impl.zip");
  });
});

describe("bzip2 (zip method 12)", () => {
  it("ClamAV's clam.bz2.zip gives clam.exe", () => {
    if (needs("clamav-testfiles bzip2 zip", { debianFiles: ["/usr/share/clamav-testfiles"] })) return;
    const b = readFileSync("/usr/share/clamav-testfiles/clam.bz2.zip");
    const [m] = [...readArchive("zip", b, "clam.bz2.zip", () => 1 << 20)];
    expect([m!.name, m!.data?.length, m!.problem]).toEqual(["clam.exe", 544, undefined]);
  });
});

/** Every truncation never clean; random corruptions never throw. */
function mutations(b: Buffer, name: string) {
  const data = b.readUInt16LE(26) + b.readUInt16LE(28) + 30;
  for (let n = data + 1; n < b.length; n += 3) {
    const r = scan(b.subarray(0, n), `${name}:${n}`);
    expect(r.errors).toEqual([]);
    expect(r.detections.length + r.incomplete.length, `${name} cut at ${n}`).toBeGreaterThan(0);
  }
  const rnd = mulberry32(name.length);
  for (let k = 0; k < 300; k++) {
    const c = Buffer.from(b);
    for (let j = 0; j < 3; j++) c[data + Math.floor(rnd() * (b.length - data))] = Math.floor(rnd() * 256);
    const r = scan(c, name);
    expect(r.errors).toEqual([]);
  }
}
