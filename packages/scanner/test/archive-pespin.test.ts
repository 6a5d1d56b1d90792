// Issue 15, PESpin (clam-pespin.exe): the packed program unpacked and rebuilt as ClamAV rebuilds
// it, byte for byte (the md5 is that of the file clamscan --leave-temps writes out), clam.exe
// found in it with its member path; then variants generated from the real file: truncated,
// corrupted, bombed, each "not fully scanned" with a reason, never a crash, a hang or OK. The
// FSG decompressor on its own: round trips of streams written here, damaged streams end in errors.
import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { needs } from "@vigil/test-kit";
import { DEFAULT_LIMITS, scanBytes } from "../src/index.js";
import { readArchive, sniffArchive, type Member } from "../src/archive/index.js";
import { FsgError, unfsg } from "../src/archive/exe/fsg.js";
import { checksum } from "../src/archive/exe/pespin.js";
import { withRules } from "./helpers/detector.js";

const FILE = "/usr/share/clamav-testfiles/clam-pespin.exe";
const CLAM_MD5 = "aa15bcf478d165efd2065190eb473bcb";
/** The rebuilt image clamscan --leave-temps --debug writes for clam-pespin.exe ("PEspin: Unpacked and rebuilt"). */
const CLAMAV_REBUILT = { md5: "ea58113cd88ec4715020f5189529d35b", size: 6656 };
const md5 = (b: Uint8Array) => createHash("md5").update(b).digest("hex");
const detector = withRules(
  `import "hash"\nrule ClamExe { condition: filesize == 544 and hash.md5(0, filesize) == "${CLAM_MD5}" }`,
).detector;
const scan = (b: Uint8Array, name = "p.exe") => scanBytes(detector, b, name, { limits: DEFAULT_LIMITS });
const members = (b: Uint8Array): Member[] => {
  const kind = sniffArchive(b);
  return kind ? [...readArchive(kind, b, "x", () => 1 << 28)] : [];
};

/** An FSG/aPLib-style stream of literals only, then the end marker: bits are read MSB first. */
function literals(data: Uint8Array): Uint8Array {
  // first byte raw; then per byte a 0 tag bit and the byte; end: tag bits 1,1,0 and a zero offset byte
  const out: number[] = [data[0]!];
  let tagAt = -1;
  let bitsLeft = 0;
  const put = (bit: number) => {
    if (!bitsLeft) {
      tagAt = out.length;
      out.push(0);
      bitsLeft = 8;
    }
    bitsLeft--;
    if (bit) out[tagAt]! |= 1 << bitsLeft;
  };
  for (let i = 1; i < data.length; i++) {
    put(0);
    out.push(data[i]!);
  }
  put(1);
  put(1);
  put(0);
  out.push(0);
  out.push(0, 0); // the reader wants a byte past any tag it loads
  return Uint8Array.from(out);
}

describe("FSG decompression (PESpin's sections, MEW's blocks)", () => {
  it("literals round trip; the output buffer bounds every write", () => {
    const data = Buffer.from("PESpin packs sections with FSG's coder. ".repeat(20));
    const dst = new Uint8Array(data.length);
    unfsg(literals(data), dst);
    expect(Buffer.from(dst).equals(data)).toBe(true);
    expect(() => unfsg(literals(data), new Uint8Array(100))).toThrow(/passes its bounds/);
  });
  it("truncated and garbage streams end with an error or a bounded result, never a hang", () => {
    const data = Buffer.from("x".repeat(3000));
    expect(() => unfsg(literals(data).subarray(0, 500), new Uint8Array(3000))).toThrow(/ends early/);
    let seed = 3;
    for (let k = 0; k < 300; k++) {
      const junk = Uint8Array.from({ length: 64 + k * 7 }, () => {
        seed = (seed * 1103515245 + 12345) >>> 0;
        return seed >>> 24;
      });
      try {
        unfsg(junk, new Uint8Array(1 << 16));
      } catch (err) {
        expect(err).toBeInstanceOf(FsgError);
      }
    }
  });
});

describe.skipIf(needs("clamav-testfiles PESpin", { debianFiles: [FILE] }))("PESpin: clam-pespin.exe", () => {
  const orig = readFileSync(FILE);
  const variant = (f: (b: Buffer) => void) => {
    const b = Buffer.from(orig);
    f(b);
    return b;
  };
  // layout of the real file: entry point at file offset 0xc87, section headers at 0x1c0
  const EP = 0xc87;

  it("the rebuilt image is byte for byte ClamAV's; clam.exe is found in it with its path", () => {
    const m = members(orig);
    expect(m.map((x) => [x.name, x.data?.length, x.problem])).toEqual([["PESpin", CLAMAV_REBUILT.size, undefined]]);
    expect(md5(m[0]!.data!)).toBe(CLAMAV_REBUILT.md5);
    const r = scan(orig, "clam-pespin.exe");
    expect(r.detections.map((d) => d.path)).toEqual(["clam-pespin.exe!PESpin!PE@6112.exe"]);
    expect(r.incomplete).toEqual([]);
  });

  it("resources compressed past a split point are grown as ClamAV grows them", () => {
    // the real file with its .rsrc (section 2: rva 0x3000, raw 0x800, 0x200 bytes, not encrypted)
    // holding an FSG stream from 0x80 on, the loader pointing at it (the dword at EP+0x2fee, under
    // the key8 layer: plaintext 0, so XORing the value in sets it), and the stored section key
    // corrected for the new checksum of the file's head (the key itself lies past the head)
    const head = 0x3e9d;
    const payload = Buffer.from(`grown resource ${"R".repeat(40)} ${"0123456789".repeat(20)}`);
    const b = Buffer.from(orig);
    const stream = literals(payload);
    expect(stream.length).toBeLessThanOrEqual(0x180);
    Buffer.from(stream).copy(b, 0x880);
    for (let i = 0; i < 4; i++) b[EP + 0x2fee + i]! ^= (0x3080 >>> (8 * i)) & 0xff;
    const key = (orig.readUInt32LE(EP + 0x3217) - checksum(orig, head)) >>> 0;
    b.writeUInt32LE((key + checksum(b, head)) >>> 0, EP + 0x3217);
    const image = members(b)[0]!.data!;
    // .clam03 grows from 0x200 raw bytes to its 0x1000 of memory: the head kept, the stream inflated
    const h = 0x148 + 0x80 + 2 * 40;
    expect(Buffer.from(image.subarray(h, h + 7)).toString("latin1")).toBe(".clam03");
    const rsz = Buffer.from(image).readUInt32LE(h + 16);
    const at = Buffer.from(image).readUInt32LE(h + 20);
    expect(rsz).toBe(0x1000);
    expect(Buffer.from(image.subarray(at, at + 0x80)).equals(orig.subarray(0x800, 0x880))).toBe(true);
    expect(Buffer.from(image.subarray(at + 0x80, at + 0x80 + payload.length)).equals(payload)).toBe(true);
    // clam.exe is still in the last section
    expect(scan(b).detections.map((d) => d.path)).toEqual([`p.exe!PESpin!PE@${image.length - 544}.exe`]);
    if (!needs("the grown resources against clamscan", { tools: ["clamscan"] })) {
      const d = mkdtempSync(join(tmpdir(), "vigil-spin-res-"));
      writeFileSync(join(d, "r.exe"), b);
      writeFileSync(join(d, "r.hdb"), `${md5(image)}:${image.length}:Rebuilt.PESpinRes\n`);
      const r = spawnSync("clamscan", ["--no-summary", "-d", join(d, "r.hdb"), join(d, "r.exe")], {
        encoding: "utf8",
      });
      expect(r.stdout.trim()).toBe(`${join(d, "r.exe")}: Rebuilt.PESpinRes.UNOFFICIAL FOUND`);
    }
  });

  it("truncated: not fully scanned, whether or not the loader is still recognised", () => {
    for (const cut of [0x3000, 0x3e00, 0x3fff]) {
      const r = scan(orig.subarray(0, cut));
      expect(r.detections).toEqual([]);
      expect(r.incomplete.length, `cut at ${cut}`).toBe(1);
      expect(r.incomplete[0]!.message).toMatch(/PESpin/);
    }
    const r = scan(orig.subarray(0, 0x3fff));
    expect(r.incomplete.map((i) => [i.path, i.reason])).toEqual([["p.exe!PESpin", "corrupt-archive"]]);
  });

  it("corrupted: each damaged layer is named, nothing is reported clean", () => {
    const cases: Array<[string, Buffer, RegExp]> = [
      ["the loader's first key", variant((b) => (b[EP + 0xdb] = 0)), /not PESpin 1\.1/],
      ["the third layer's length", variant((b) => (b[EP + 0x644] ^= 1)), /third layer's length/],
      ["the decryption routine", variant((b) => (b[EP + 0x28ec] ^= 0x55)), /unknown instruction 0x5f/],
      ["the compressed section", variant((b) => b.fill(0xff, 0xa10, 0xa40)), /a copy points outside the output/],
      // the section key is a checksum of the file's head: one bit changes every section
      ["the checksummed head", variant((b) => (b[0x10]! ^= 1)), /a copy points outside the output/],
    ];
    for (const [what, b, message] of cases) {
      const r = scan(b);
      expect(
        r.incomplete.map((i) => [i.path, i.reason]),
        what,
      ).toEqual([["p.exe!PESpin", "corrupt-archive"]]);
      expect(r.incomplete[0]!.message, what).toMatch(message);
      expect(r.incomplete[0]!.message).toMatch(/^PESpin-packed executable not unpacked: /);
    }
  });

  it("bombed: a compressed section claiming 112 MiB is stopped before anything is allocated", () => {
    const b = variant((x) => x.writeUInt32LE(0x7000000, 0x1c0 + 3 * 40 + 8));
    const t = Date.now();
    const r = scan(b);
    expect(r.incomplete.map((i) => [i.path, i.reason])).toEqual([["p.exe!PESpin", "max-ratio"]]);
    expect(Date.now() - t).toBeLessThan(5000);
  });

  it("random damage past the headers: no crash, no hang", () => {
    let seed = 11;
    for (let k = 0; k < 150; k++) {
      const b = Buffer.from(orig);
      for (let j = 0; j < 4; j++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        b[0x400 + (seed % (b.length - 0x400))] = seed >>> 24;
      }
      const r = scan(b);
      expect(r.errors).toEqual([]);
      // either clam.exe is still found or the file is not reported clean
      if (!r.detections.length) expect(r.incomplete.length).toBeGreaterThan(0);
    }
  });

  it.skipIf(needs("the PESpin rebuild against clamscan", { tools: ["clamscan"] }))(
    "clamscan finds the real file by the md5 of Vigil's rebuilt image",
    () => {
      const d = mkdtempSync(join(tmpdir(), "vigil-spin-"));
      const image = members(orig)[0]!.data!;
      writeFileSync(join(d, "r.hdb"), `${md5(image)}:${image.length}:Rebuilt.PESpin\n`);
      const r = spawnSync("clamscan", ["--no-summary", "-d", join(d, "r.hdb"), FILE], { encoding: "utf8" });
      expect(r.stdout.trim()).toBe(`${FILE}: Rebuilt.PESpin.UNOFFICIAL FOUND`);
    },
  );
});
