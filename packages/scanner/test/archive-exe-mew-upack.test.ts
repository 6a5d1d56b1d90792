// Issue 15, the MEW and Upack packers: ClamAV's rebuilt PE (clamrebuild.ts) from its facts, the
// MEW LZ block coder round trip, then clamav-testfiles' clam-mew.exe and clam-upack.exe: found
// with their member path, each layer's md5 the one clamscan --debug prints (its FP SIGNATURE
// lines), and each file truncated, corrupted (flipped bytes) and bombed, generated here from the
// real file: "not fully scanned" with the reason, never a crash, a hang or OK.
import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EICAR, needs } from "@vigil/test-kit";
import { DEFAULT_LIMITS, scanBytes } from "../src/index.js";
import { readArchive, sniffArchive } from "../src/archive/index.js";
import { unmewBlock } from "../src/archive/exe/mew.js";
import { rebuildFrom } from "../src/archive/exe/clamrebuild.js";
import { withRules } from "./helpers/detector.js";

const CLAM_EXE = "aa15bcf478d165efd2065190eb473bcb";
const detector = withRules(
  `import "hash"\nrule ClamExe { condition: hash.md5(0, filesize) == "${CLAM_EXE}" }`,
).detector;
const scan = (b: Uint8Array, name = "x.exe") => scanBytes(detector, b, name, { limits: DEFAULT_LIMITS });
const md5 = (b: Uint8Array) => createHash("md5").update(b).digest("hex");

describe("the PE ClamAV rebuilds around an unpacked image", () => {
  const buf = Buffer.alloc(0x3000);
  buf.write("first", 0);
  buf.write("second", 0x1000);
  it("headers, .clamNN sections, raw data at 0x200 boundaries, sizes aligned", () => {
    const r = rebuildFrom(
      buf,
      [
        { raw: 0, rva: 0x1000, rsz: 0x1000, vsz: 0x1000 },
        { raw: 0x1000, rva: 0x2000, rsz: 0x10, vsz: 0x10 },
      ],
      0x400000,
      0x1234,
      { align: 0x1000 },
    );
    if (!("data" in r)) throw new Error(r.error);
    const out = Buffer.from(r.data);
    expect(out.subarray(0, 2).toString("latin1")).toBe("MZ");
    expect(out.readUInt32LE(0x3c)).toBe(0xd0);
    expect(out.subarray(0x4d, 0x6c).toString("latin1")).toBe("This file was created by ClamAV");
    expect(out.readUInt16LE(0xd0 + 6)).toBe(2);
    expect(out.readUInt32LE(0xd0 + 0x28)).toBe(0x1234);
    expect(out.readUInt32LE(0xd0 + 0x34)).toBe(0x400000);
    expect(out.readUInt32LE(0xd0 + 0x54)).toBe(0x400); // headers: 0x148 + 0x80 + 2 x 0x28, to 0x200
    expect(out.readUInt32LE(0xd0 + 0x50)).toBe(0x3000); // image: headers' page + 2 pages
    const sect = (i: number) => 0x1c8 + 0x28 * i;
    expect(out.subarray(sect(0), sect(0) + 8).toString("latin1")).toBe(".clam01\0");
    expect(out.subarray(sect(1), sect(1) + 8).toString("latin1")).toBe(".clam02\0");
    expect([16, 20].map((o) => out.readUInt32LE(sect(1) + o))).toEqual([0x1000, 0x1400]); // size aligned, raw
    expect(out.readUInt32LE(sect(1) + 0x24)).toBe(0xffffffff);
    expect(out.subarray(0x400, 0x405).toString("latin1")).toBe("first");
    expect(out.subarray(0x1400, 0x1406).toString("latin1")).toBe("second");
    expect(out.length).toBe(0x2400);
  });
  it("a first section past the headers' page gets an `empty` ghost in front; 97 sections are refused", () => {
    const r = rebuildFrom(buf, [{ raw: 0, rva: 0x5000, rsz: 0x20, vsz: 0x20 }], 0x400000, 0x5000);
    if (!("data" in r)) throw new Error(r.error);
    const out = Buffer.from(r.data);
    expect(out.readUInt16LE(0xd0 + 6)).toBe(2);
    expect(out.subarray(0x1c8, 0x1ce).toString("latin1")).toBe("empty\0");
    expect([8, 12].map((o) => out.readUInt32LE(0x1c8 + o))).toEqual([0x4000, 0x1000]);
    const many = Array.from({ length: 97 }, (_, i) => ({ raw: 0, rva: 0x1000 * (i + 1), rsz: 1, vsz: 1 }));
    expect(rebuildFrom(buf, many, 0, 0)).toEqual({ error: "97 sections: more than a rebuilt PE holds (96)" });
    expect(rebuildFrom(buf, [{ raw: 0x2ff0, rva: 0x1000, rsz: 0x20, vsz: 0x20 }], 0, 0)).toEqual({
      error: "a section lies outside the unpacked image",
    });
  });
});

/**
 * A MEW LZ block encoder for the tests: literals, 1-byte matches (distance 1..127, length 2-3)
 * and zero bytes, the end marker; the tag bytes reserved in the stream when the decoder loads them.
 */
function mewEncode(data: Uint8Array): Buffer {
  const out: number[] = [data[0]!];
  let tagAt = -1;
  let left = 0;
  const bit = (b: number) => {
    if (!left) {
      tagAt = out.length;
      out.push(0);
      left = 8;
    }
    out[tagAt]! |= b << --left;
  };
  for (let i = 1; i < data.length; ) {
    let best = 0;
    let bestLen = 0;
    for (let d = 1; d <= Math.min(127, i); d++) {
      let n = 0;
      while (n < 3 && i + n < data.length && data[i + n - d] === data[i + n]) n++;
      if (n >= 2 && n > bestLen) [best, bestLen] = [d, n];
    }
    if (bestLen) {
      [1, 1, 0].forEach(bit);
      out.push((best << 1) | (bestLen - 2));
      i += bestLen;
    } else if (data[i] === 0) {
      [1, 1, 1, 0, 0, 0, 0].forEach(bit);
      i++;
    } else {
      bit(0);
      out.push(data[i++]!);
    }
  }
  [1, 1, 0].forEach(bit);
  out.push(0);
  return Buffer.from(out);
}

describe("MEW LZ blocks", () => {
  const text = Buffer.from(
    "MEW packs sections of text, text and text again; zeros \0\0\0 and more text: text, text, text.".repeat(3),
  );
  const packed = mewEncode(text);
  const run = (p: Uint8Array, room = text.length) => {
    const buf = Buffer.alloc(p.length + room);
    buf.set(p);
    const r = unmewBlock(buf, 0, p.length, p.length, room);
    return { ...r, out: buf.subarray(p.length, r.endDst) };
  };
  it("decodes literals, short copies and zero bytes up to the end marker", () => {
    expect(packed.length).toBeLessThan(text.length * 0.6);
    const r = run(packed);
    expect(Buffer.from(r.out).equals(text)).toBe(true);
    expect(r.endSrc).toBe(packed.length);
  });
  it("cut, a copy pointing before the start, an output larger than its room: errors, not exceptions of another kind", () => {
    expect(() => run(packed.subarray(0, packed.length - 2))).toThrow(/MEW: packed data ends early/);
    expect(() => run(packed, 20)).toThrow(/MEW: (output passes its bounds|a copy points outside)/);
    const far = Buffer.from([0x41, 0xc0, 0x7f << 1]); // tag 110..., a copy from 127 bytes back
    expect(() => run(far)).toThrow(/a copy points outside the output/);
  });
});

/** Raw LZMA as MEW's last stage has it (lc=4, lp=0, pb=2), from xz-utils; undefined without xz. */
function mewLzmaRaw(data: Uint8Array): Buffer | undefined {
  try {
    return execFileSync("xz", ["--format=raw", "--lzma1=lc=4,lp=0,pb=2,dict=64KiB", "-c"], { input: data });
  } catch {
    return undefined;
  }
}

const BASE = 0x400000;
/**
 * A MEW 11 SE PE built as the packer lays it out: an empty section "MEW" of `dsize` bytes, the
 * packer section (the entry point jumps to the loader's parameters at 0x154 in the header), one
 * LZ block of `stage1` unpacked at the image's start; with `lzma`, the loader calls its LZMA
 * routine: one LZMA block of the payload at 0x1000 (the "special" form: E8/E9 operands stored
 * big-endian absolute, as the packer stores them).
 */
function mewPe(
  stage1: Uint8Array,
  lzma?: { payload: Uint8Array; special: boolean },
  dsize = 0x10000,
): Buffer & { streamAt: number; endAt: number } {
  const s0rva = 0x1000;
  const s1rva = s0rva + dsize;
  const vma = BASE + s0rva;
  const off = 0x10;
  const parts: Buffer[] = [];
  let streamAt = 0;
  let endAt = 0;
  const head = Buffer.alloc(12);
  head.writeUInt32LE(BASE + 0x1234, 4); // the original entry point
  head.writeUInt32LE(vma, 8); // where the first block goes
  parts.push(Buffer.alloc(off), head, mewEncode(stage1), Buffer.alloc(4)); // next block: none
  if (lzma) {
    let payload = Buffer.from(lzma.payload);
    if (lzma.special) {
      payload = Buffer.from(payload);
      for (let i = 0; i < payload.length - 5; i++)
        if (payload[i] === 0xe8 || payload[i] === 0xe9) {
          payload.writeUInt32BE((payload.readUInt32LE(i + 1) + i + 1) >>> 0, i + 1);
          i += 4;
        }
    }
    const stream = mewLzmaRaw(payload)!;
    const p = Buffer.alloc(lzma.special ? 21 : 17);
    let at = 0;
    if (lzma.special) {
      p.writeUInt32LE(payload.length, 0); // bytes to scan for calls
      at = 4;
    }
    p.writeUInt32LE(vma + 0x8000, at); // the probability table, in the image
    p.writeUInt32LE(payload.length, at + 4);
    p.writeUInt32LE(vma + 0x1000, at + 8);
    p.writeUInt32LE(stream.length, at + 12);
    p[at + 16] = 0x5d; // (the properties byte: not read)
    parts.push(p);
    streamAt = 0x200 + parts.reduce((n, x) => n + x.length, 0);
    parts.push(stream);
    endAt = 0x200 + parts.reduce((n, x) => n + x.length, 0);
    if (!lzma.special) parts.push(Buffer.alloc(16)); // a block of 0 bytes: the end
  }
  const body = Buffer.concat(parts);
  const raw = Buffer.alloc(Math.ceil((body.length + 64) / 0x200) * 0x200);
  body.copy(raw);
  const epAt = raw.length - 32;
  const lzmaAt = raw.length - 56; // the LZMA routine: its byte 8 tells the special form (PUSH EAX)
  raw[lzmaAt + 8] = lzma?.special ? 0x50 : 0x90;
  const vep = s1rva + epAt;
  raw[epAt] = 0xe9;
  raw.writeUInt32LE((0x154 - vep - 5) >>> 0, epAt + 1);
  const h = Buffer.alloc(0x200);
  h.write("MZ", 0, "latin1");
  h.writeUInt32LE(0xc, 0x3c);
  h.write("PE\0\0", 0xc, "latin1");
  h.writeUInt16LE(0x14c, 0x10);
  h.writeUInt16LE(2, 0x12);
  h.writeUInt16LE(0xe0, 0x20);
  h.writeUInt16LE(0x10f, 0x22);
  const opt = 0x24;
  h.writeUInt16LE(0x10b, opt);
  h.writeUInt32LE(vep, opt + 16);
  h.writeUInt32LE(BASE, opt + 28);
  h.writeUInt32LE(0x1000, opt + 32);
  h.writeUInt32LE(0x200, opt + 36);
  h.writeUInt32LE(s1rva + 0x1000, opt + 56);
  h.writeUInt32LE(0x200, opt + 60);
  h.writeUInt32LE(16, opt + 92);
  const sec = opt + 0xe0;
  h.write("MEW", sec, "latin1");
  h.writeUInt32LE(dsize, sec + 8);
  h.writeUInt32LE(s0rva, sec + 12);
  h.writeUInt32LE(0xe0000060, sec + 36);
  h.writeUInt32LE(0x1000, sec + 40 + 8);
  h.writeUInt32LE(s1rva, sec + 40 + 12);
  h.writeUInt32LE(raw.length, sec + 40 + 16);
  h.writeUInt32LE(0x200, sec + 40 + 20);
  h.writeUInt32LE(0xe0000060, sec + 40 + 36);
  // the loader's parameters (0x154): where the packed data is; the call to the LZMA routine
  h[0x154] = 0xbe;
  h.writeUInt32LE(BASE + s1rva + off, 0x155);
  if (lzma) {
    h[0x154 + 0x7b] = 0xe8;
    h.writeUInt32LE((lzmaAt + dsize + 0x1000 - 0x154 - 0x80) >>> 0, 0x154 + 0x7c);
  }
  return Object.assign(Buffer.concat([h, raw]), { streamAt, endAt });
}

const haveXz = !needs("MEW LZMA fixtures", { tools: ["xz"] });
const eicarRule = withRules(
  `rule EICAR_Anywhere { strings: $e = "${EICAR.replace(/\\/g, "\\\\")}" condition: $e }`,
).detector;
const stage1 = Buffer.from("the loader's second stage: LZMA decoder code ".repeat(4));
const payload = Buffer.concat([
  Buffer.from("program text; call 0x401234: "),
  Buffer.from("e878563412e9f0ffffff", "hex"),
  Buffer.from(` then ${EICAR} and text again. `.repeat(3)),
]);

describe("MEW fixtures built as the packer lays them out", () => {
  const unpacked = (exe: Uint8Array) => {
    const kind = sniffArchive(exe);
    return [...(kind ? readArchive(kind, exe, "x.exe", () => 1 << 28) : [])].find((m) => m.name === "MEW")!;
  };
  it("LZ blocks only: the program at the image's start, the rebuilt PE's sections page by page", () => {
    const exe = mewPe(Buffer.concat([stage1, Buffer.from(EICAR)]), undefined, 0x4000);
    expect(exe.indexOf(EICAR)).toBe(-1);
    const r = scanBytes(eicarRule, exe, "x.exe", { limits: DEFAULT_LIMITS });
    expect(r.incomplete).toEqual([]);
    expect(r.detections.map((d) => d.path)).toEqual(["x.exe!MEW"]);
    const out = Buffer.from(unpacked(exe).data!);
    expect(out.readUInt32LE(0xd0 + 0x28)).toBe(0x1234); // the original entry point
    expect(out.readUInt16LE(0xd0 + 6)).toBe(1);
    expect(out.subarray(0x200, 0x200 + stage1.length).equals(stage1)).toBe(true); // headers: one page of 0x200
  });
  it.skipIf(!haveXz)("with the LZMA stage, plain and special (E8/E9 operands turned back)", () => {
    for (const special of [false, true]) {
      const exe = mewPe(stage1, { payload, special });
      const r = scanBytes(eicarRule, exe, "x.exe", { limits: DEFAULT_LIMITS });
      expect(r.incomplete, `special ${special}`).toEqual([]);
      expect(r.detections.map((d) => d.path)).toEqual(["x.exe!MEW"]);
      const out = Buffer.from(unpacked(exe).data!);
      // one section of the empty section's size; the payload at 0x1000 in it, calls relative again
      expect(out.readUInt16LE(0xd0 + 6)).toBe(1);
      expect(out.subarray(0x200 + 0x1000, 0x200 + 0x1000 + payload.length).equals(payload)).toBe(true);
    }
  });
  it.skipIf(!haveXz)(
    "the LZMA stage damaged: its data, a block past the image, the table outside it, too much output",
    () => {
      const exe = mewPe(stage1, { payload, special: false });
      const stream = exe.streamAt;
      const cases: Array<[string, (b: Buffer) => void, RegExp]> = [
        ["data damaged", (b) => b.fill(0xff, stream + 5, stream + 40), /LZMA: /],
        ["far block", (b) => b.writeUInt32LE(0x7ff00000, stream - 9), /LZMA output outside the image/],
        ["table", (b) => b.writeUInt32LE(BASE + 0x1000 + 0xe000, stream - 17), /probability table lies outside/],
        [
          "a second block claiming the whole image",
          (b) => [0x10f00, BASE + 0x1000, 0].forEach((v, i) => b.writeUInt32LE(v, exe.endAt + 4 * i)),
          /the LZMA blocks claim more output than the image holds/,
        ],
      ];
      for (const [what, damage, message] of cases) {
        const bad = Buffer.from(exe);
        damage(bad);
        const r = scanBytes(eicarRule, bad, "x.exe", { limits: DEFAULT_LIMITS });
        expect(r.errors, what).toEqual([]);
        expect(
          r.incomplete.map((i) => [i.path, i.reason]),
          what,
        ).toEqual([["x.exe!MEW", "corrupt-archive"]]);
        expect(r.incomplete[0]!.message, what).toMatch(message);
      }
    },
  );
});

describe.skipIf(needs("the MEW rebuild differential against clamscan", { tools: ["clamscan", "xz"] }))(
  "MEW rebuild: clamscan finds each generated fixture by the md5 of Vigil's rebuilt image",
  () => {
    it("LZ blocks only, LZMA, LZMA special (the probability table left in the image as ClamAV leaves it)", () => {
      const d = mkdtempSync(join(tmpdir(), "vigil-mew-"));
      const cases: Array<[string, Buffer]> = [
        ["lz", mewPe(Buffer.concat([stage1, Buffer.from(EICAR)]), undefined, 0x4000)],
        ["lzma", mewPe(stage1, { payload, special: false })],
        ["special", mewPe(stage1, { payload, special: true })],
      ];
      const hdb: string[] = [];
      for (const [name, exe] of cases) {
        writeFileSync(join(d, `${name}.exe`), exe);
        const kind = sniffArchive(exe)!;
        const out = [...readArchive(kind, exe, "x", () => 1 << 28)].find((m) => m.name === "MEW")!.data!;
        hdb.push(`${md5(out)}:${out.length}:Rebuilt.${name}`);
      }
      writeFileSync(join(d, "r.hdb"), `${hdb.join("\n")}\n`);
      const r = spawnSync(
        "clamscan",
        ["--no-summary", "-d", join(d, "r.hdb"), ...cases.map(([n]) => join(d, `${n}.exe`))],
        {
          encoding: "utf8",
        },
      );
      expect(r.stdout.trim().split("\n").sort()).toEqual(
        cases.map(([n]) => `${join(d, `${n}.exe`)}: Rebuilt.${n}.UNOFFICIAL FOUND`).sort(),
      );
    });
  },
);

const TESTFILES = "/usr/share/clamav-testfiles";
describe.skipIf(needs("clam-mew.exe and clam-upack.exe", { debianFiles: [TESTFILES] }))(
  "clamav-testfiles: clam-mew.exe and clam-upack.exe",
  () => {
    const file = (f: string) => readFileSync(join(TESTFILES, f));
    const tree = (b: Uint8Array, path: string) => {
      const out: Array<[string, string]> = [];
      const walk = (x: Uint8Array, p: string, depth: number) => {
        const kind = depth < 4 ? sniffArchive(x) : undefined;
        for (const m of kind ? readArchive(kind, x, p, () => 1 << 28) : []) {
          if (!m.data) continue;
          out.push([`${p}!${m.name}`, md5(m.data)]);
          walk(m.data, `${p}!${m.name}`, depth + 1);
        }
      };
      walk(b, path, 0);
      return out;
    };
    /** Every damaged form: nothing thrown, no error, not found, and "not fully scanned". */
    const damaged = (b: Uint8Array, what: string) => {
      const r = scan(b);
      expect(r.errors, what).toEqual([]);
      // (a bomb is also reported as the heuristic detection; clam.exe is never found)
      expect(
        r.detections.filter((d) => d.rule === "ClamExe"),
        what,
      ).toEqual([]);
      expect(r.incomplete.length, what).toBeGreaterThan(0);
      return r.incomplete.map((i) => [i.path, i.reason, i.message]);
    };
    const flip = (b: Buffer, at: number) => {
      const x = Buffer.from(b);
      x[at]! ^= 0x80;
      return x;
    };

    it("clam-mew.exe: unpacked and rebuilt byte for byte as ClamAV does; the zip in it, clam.exe", () => {
      const exe = file("clam-mew.exe");
      expect(tree(exe, "clam-mew.exe")).toEqual([
        ["clam-mew.exe!MEW", "eb55c7b07f6c22b7c09ea52a8eeaddec"],
        ["clam-mew.exe!MEW!ZIP@17004.zip", "79e58df48400009d83b9c4a660333aa7"],
        ["clam-mew.exe!MEW!ZIP@17004.zip!clam.exe", CLAM_EXE],
      ]);
      const r = scan(exe, "clam-mew.exe");
      expect(r.incomplete).toEqual([]);
      expect(r.detections.map((d) => d.path)).toEqual(["clam-mew.exe!MEW!ZIP@17004.zip!clam.exe"]);
    });
    it("clam-upack.exe: unpacked and rebuilt byte for byte as ClamAV does; the zip in it, clam.exe", () => {
      const exe = file("clam-upack.exe");
      expect(tree(exe, "clam-upack.exe")).toEqual([
        ["clam-upack.exe!Upack", "de4f18d10798acf90ab81dc899dffb14"],
        ["clam-upack.exe!Upack!ZIP@16492.zip", "7ec912aa69fe62ec097adf5cc9c5b76e"],
        ["clam-upack.exe!Upack!ZIP@16492.zip!clam.exe", CLAM_EXE],
      ]);
      const r = scan(exe, "clam-upack.exe");
      expect(r.incomplete).toEqual([]);
      expect(r.detections.map((d) => d.path)).toEqual(["clam-upack.exe!Upack!ZIP@16492.zip!clam.exe"]);
    });

    it("clam-mew.exe truncated: damaged (the cut named), or a packer not opened; never OK", () => {
      const exe = file("clam-mew.exe");
      for (const cut of [0x300, 0x400, 0x500, 0x5f0]) {
        const r = damaged(exe.subarray(0, cut), `cut at ${cut}`);
        expect(r).toEqual([
          ["x.exe!MEW", "corrupt-archive", expect.stringMatching(/MEW-packed executable not unpacked: .*cut short/)],
        ]);
      }
      // cut inside the headers or at the packer section's start: no loader to follow
      for (const cut of [0x160, 0x200])
        expect(damaged(exe.subarray(0, cut), `cut at ${cut}`)[0]![1]).toBe("unsupported");
    });
    it("clam-mew.exe corrupted: the loader's fields, the block stream, the zip it unpacks to", () => {
      const exe = file("clam-mew.exe");
      const cases: Array<[number, string, RegExp]> = [
        [0x40, "x.exe!MEW", /the packed data lies outside the packer section/], // image base
        [0x111, "x.exe!MEW", /a block lies outside the image/], // the empty section's address
        [0x229, "x.exe!MEW", /a copy points outside the output/], // the first block's stream
        [0x56f, "x.exe!MEW", /section 4 passes the unpacked program's space/],
        [0x3e6, "x.exe!MEW!ZIP@17004.zip!clam.exe", /deflate data corrupt/], // decodes, the zip is damaged
      ];
      for (const [at, path, message] of cases) {
        const r = damaged(flip(exe, at), `byte ${at} flipped`);
        expect(r, `byte ${at}`).toEqual([[path, "corrupt-archive", expect.stringMatching(message)]]);
      }
    });
    it("clam-mew.exe bombed: an empty section that claims 2 GB, a block sent past the image", () => {
      const exe = file("clam-mew.exe");
      const bomb = Buffer.from(exe);
      bomb.writeUInt32LE(0x7ff00000, 0x104 + 8);
      expect(damaged(bomb, "bomb").map(([p, reason]) => [p, reason])).toContainEqual(["x.exe!MEW", "max-ratio"]);
      const far = Buffer.from(exe);
      far.writeUInt32LE(0x7ff00000, 0x200 + 0x1c + 8); // the first block's output address
      expect(damaged(far, "far")).toEqual([
        ["x.exe!MEW", "corrupt-archive", expect.stringMatching(/a block lies outside the image/)],
      ]);
    });

    it("clam-upack.exe truncated: damaged with the cut named; never OK", () => {
      const exe = file("clam-upack.exe");
      for (const cut of [0x200, 0x300, 0x500, 0x610]) {
        const r = damaged(exe.subarray(0, cut), `cut at ${cut}`);
        expect(r).toEqual([
          [
            "x.exe!Upack",
            "corrupt-archive",
            expect.stringMatching(/Upack-packed executable not unpacked: .*cut short/),
          ],
        ]);
      }
      expect(damaged(exe.subarray(0, 0x100), "cut at 0x100")[0]![1]).toBe("unsupported");
    });
    it("clam-upack.exe corrupted: the loader's code and fields, the LZMA stream, the zip it unpacks to", () => {
      const exe = file("clam-upack.exe");
      const cases: Array<[number, string, string, RegExp]> = [
        [0x22, "x.exe!Upack", "unsupported", /unknown loader \(no first jump\)/],
        [0xa8, "x.exe!Upack", "corrupt-archive", /the output: outside the image/],
        [0x140, "x.exe!Upack", "corrupt-archive", /a call to fix: outside the image/],
        [0x188, "x.exe!Upack", "corrupt-archive", /LZMA distance beyond the dictionary/], // where the stream starts
        [0x641, "x.exe!Upack", "corrupt-archive", /literal context shift 133 out of range/],
        [0x198, "x.exe!Upack!ZIP@16620.zip", "corrupt-archive", /central directory damaged/],
      ];
      for (const [at, path, reason, message] of cases) {
        const r = damaged(flip(exe, at), `byte ${at} flipped`);
        expect(r[0], `byte ${at}`).toEqual([path, reason, expect.stringMatching(message)]);
      }
    });
    it("clam-upack.exe bombed: sections that claim 2 GB, an output end and a call count past the image", () => {
      const exe = file("clam-upack.exe");
      const bomb = Buffer.from(exe);
      bomb.writeUInt32LE(0x7ff00000, 0x170 + 40 + 8);
      expect(damaged(bomb, "bomb").map(([p, reason]) => [p, reason])).toEqual([["x.exe!Upack", "max-ratio"]]);
      const end = Buffer.from(exe);
      end.writeUInt32LE(0x7fffffff, 0x1c0); // where the output ends
      expect(damaged(end, "end")).toEqual([
        ["x.exe!Upack", "corrupt-archive", expect.stringMatching(/the output: outside/)],
      ]);
      const calls = Buffer.from(exe);
      calls.writeUInt32LE(0xffffffff, 0x190); // E8/E9 operands to fix
      expect(damaged(calls, "calls")).toEqual([
        ["x.exe!Upack", "corrupt-archive", expect.stringMatching(/a call to fix: outside the image/)],
      ]);
    });

    /**
     * clam-upack.exe with its program replaced: `program` LZMA-packed by xz (lc=3, lp=0, pb=0, the
     * range coder's zero byte dropped) where the packed data was (it must end before the loader's
     * decoder at 0x60f), the output end and the call count set to match; calls `E8 rel32` in the
     * program are stored as Upack stores them (the marker byte 0, then the absolute target in 24
     * bits, big-endian).
     */
    const upackWith = (program: Buffer): Buffer | undefined => {
      const stored = Buffer.from(program);
      let calls = 0;
      for (let i = 0; i + 5 <= stored.length; i++)
        if (stored[i] === 0xe8) {
          const abs = stored.readInt32LE(i + 1) + i + 5;
          stored[i + 1] = 0;
          stored.writeUIntBE(abs, i + 2, 3);
          calls++;
          i += 4;
        }
      let lzma: Buffer;
      try {
        lzma = execFileSync("xz", ["--format=raw", "--lzma1=lc=3,lp=0,pb=0,dict=64KiB", "-c"], { input: stored });
      } catch {
        return undefined;
      }
      const exe = Buffer.from(file("clam-upack.exe"));
      expect(0x2ae + lzma.length - 1 + 4).toBeLessThan(0x60f);
      exe.fill(0, 0x2ae, 0x60f);
      lzma.copy(exe, 0x2ae, 1);
      exe.writeUInt32LE(0x401000 + program.length, 0x1c0); // where the output ends
      exe.writeUInt32LE(calls, 0x190);
      return exe;
    };
    const program = Buffer.concat([
      Buffer.from("call 0x1234 / "),
      Buffer.from("e82c120000", "hex"),
      Buffer.from(` program text ${EICAR} then more text, `.repeat(20)),
      Buffer.from("e8f0ffffff", "hex"),
      Buffer.from("and the end of the program ".repeat(8)),
    ]);
    it.skipIf(!haveXz)("clam-upack.exe with another program packed in: decoded, calls turned back, EICAR found", () => {
      const exe = upackWith(program)!;
      const r = scanBytes(eicarRule, exe, "x.exe", { limits: DEFAULT_LIMITS });
      expect(r.incomplete).toEqual([]);
      expect(r.detections.map((d) => d.path)).toEqual(["x.exe!Upack"]);
      const out = readArchive("exe", exe, "x.exe", () => 1 << 28);
      const data = Buffer.from([...out].find((m) => m.name === "Upack")!.data!);
      expect(data.length).toBe(0x200 + Math.ceil(program.length / 0x200) * 0x200);
      expect(data.subarray(0x200, 0x200 + program.length).equals(program)).toBe(true);
    });
    it.skipIf(needs("the Upack differential against clamscan", { tools: ["clamscan", "xz"] }))(
      "clamscan finds that file by the md5 of Vigil's rebuilt image",
      () => {
        const d = mkdtempSync(join(tmpdir(), "vigil-upack-"));
        const exe = upackWith(program)!;
        writeFileSync(join(d, "p.exe"), exe);
        const out = [...readArchive("exe", exe, "x", () => 1 << 28)].find((m) => m.name === "Upack")!.data!;
        writeFileSync(join(d, "r.hdb"), `${md5(out)}:${out.length}:Rebuilt.upack\n`);
        const r = spawnSync("clamscan", ["--no-summary", "-d", join(d, "r.hdb"), join(d, "p.exe")], {
          encoding: "utf8",
        });
        expect(r.stdout.trim()).toBe(`${join(d, "p.exe")}: Rebuilt.upack.UNOFFICIAL FOUND`);
      },
    );

    it("every 11th byte flipped: never a crash or an error; the loader's fields are never OK", () => {
      for (const [name, fields] of [
        ["clam-mew.exe", [0x154, 0x204]],
        ["clam-upack.exe", [0x170, 0x1e8]],
      ] as const) {
        const exe = file(name);
        const seen = { found: 0, incomplete: 0, ok: 0 };
        for (let at = 0; at < exe.length; at += 11) {
          const r = scan(flip(exe, at));
          expect(r.errors, `${name} byte ${at}`).toEqual([]);
          const verdict = r.detections.length ? "found" : r.incomplete.length ? "incomplete" : "ok";
          seen[verdict]++;
          if (at >= fields[0] && at < fields[1]) expect(verdict, `${name} byte ${at}`).not.toBe("ok");
        }
        // OK remains where a flip leaves no PE (MZ, e_lfanew, "PE") or the stream decodes to other
        // valid data (neither format has a checksum; clamscan says OK there too)
        console.log(`${name}, every 11th byte flipped: ${JSON.stringify(seen)}`);
        expect(seen.incomplete).toBeGreaterThan(seen.ok);
      }
    });
  },
);
