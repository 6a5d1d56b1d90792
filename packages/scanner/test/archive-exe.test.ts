// Issue 15, executables: UPX-packed PEs (NRV2B/NRV2D/NRV2E/LZMA, rebuilt as ClamAV rebuilds
// them), archives and executables embedded in a PE (self-extractors), AutoIt EA05/EA06 scripts,
// InstallShield MSI payloads. Fixtures are generated here byte by byte; each is also truncated,
// corrupted and bombed (never a crash, a hang or OK); then clamav-testfiles' forms and a
// differential against clamscan for the UPX rebuild.
import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EICAR, makeZip, needs } from "@vigil/test-kit";
import { scanBytes, DEFAULT_LIMITS } from "../src/index.js";
import { readArchive, sniffArchive, type Member } from "../src/archive/index.js";
import { nrvDecompress } from "../src/archive/exe/nrv.js";
import { withRules } from "./helpers/detector.js";
import { nrvCompress, originalImage, upxPe, CLAMAV_STUB_TEXT, type Method } from "./helpers/upx.js";
import { autoit, ishield, wwpackPe, ycPe } from "./helpers/exe-fixtures.js";

const detector = withRules(
  `rule EICAR_Anywhere { strings: $e = "${EICAR.replace(/\\/g, "\\\\")}" condition: $e }`,
).detector;
const scan = (b: Uint8Array, name = "x.exe") => scanBytes(detector, b, name, { limits: DEFAULT_LIMITS });
const md5 = (b: Uint8Array) => createHash("md5").update(b).digest("hex");
const members = (b: Uint8Array): Member[] => {
  const kind = sniffArchive(b);
  return kind ? [...readArchive(kind, b, "x", () => 1 << 28)] : [];
};

/** Program text: code-like filler with repeats (so matches are used), EICAR inside. */
function program(size = 9000): Buffer {
  const parts: Buffer[] = [];
  let seed = 7;
  while (parts.reduce((n, p) => n + p.length, 0) < size) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    parts.push(Buffer.from(`push ${seed % 97}; call 0x${(seed >>> 8).toString(16)}; `));
    if (parts.length === 40) parts.push(Buffer.from(EICAR));
  }
  return Buffer.concat(parts).subarray(0, size);
}
const haveXz = !needs("UPX LZMA fixtures", { tools: ["xz"] });

describe("NRV2B, NRV2D, NRV2E", () => {
  for (const m of ["nrv2b", "nrv2d", "nrv2e"] as Method[]) {
    it(`${m}: round trip, and damaged streams end with an error`, () => {
      const data = Buffer.concat([program(20000), Buffer.alloc(5000, 0x41), program(3000)]);
      const packed = nrvCompress(m, data);
      expect(packed.length).toBeLessThan(data.length / 2);
      const out = new Uint8Array(data.length + 100);
      expect(nrvDecompress(m, packed, 0, packed.length, out)).toBe(data.length);
      expect(Buffer.from(out.subarray(0, data.length)).equals(data)).toBe(true);
      // truncated: no end marker
      expect(() => nrvDecompress(m, packed, 0, packed.length >> 1, new Uint8Array(data.length))).toThrow(
        /ends early|outside|before/,
      );
      // output larger than the room given
      expect(() => nrvDecompress(m, packed, 0, packed.length, new Uint8Array(1000))).toThrow(/larger than/);
      // garbage: never a hang, an error or a bounded result
      const junk = Uint8Array.from({ length: 4000 }, (_, i) => (i * 151 + 17) & 0xff);
      try {
        nrvDecompress(m, junk, 0, junk.length, new Uint8Array(50000));
      } catch (e) {
        expect((e as Error).message).toMatch(/./);
      }
    });
  }
});

describe("UPX-packed PE", () => {
  const text = program();
  const { image } = originalImage(text);
  const methods: Array<Method | "lzma"> = ["nrv2b", "nrv2d", "nrv2e", ...(haveXz ? (["lzma"] as const) : [])];
  for (const m of methods) {
    it(`${m}: unpacked and rebuilt as ClamAV does; EICAR inside is found at x.exe!UPX`, () => {
      const exe = upxPe(m, image);
      expect(exe.indexOf(Buffer.from(EICAR))).toBe(-1); // only the packed form is in the file
      const r = scan(exe);
      expect(r.incomplete).toEqual([]);
      expect(r.detections.map((d) => d.path)).toContain("x.exe!UPX");
      const upx = members(exe).find((x) => x.name === "UPX")!;
      const out = Buffer.from(upx.data!);
      expect(out.subarray(0, 2).toString("latin1")).toBe("MZ");
      expect(out.includes(CLAMAV_STUB_TEXT)).toBe(true);
      expect(out.subarray(0xd0, 0xd4).toString("latin1")).toBe("PE\0\0");
      expect(out.subarray(0xd0 + 8, 0xd0 + 12).toString("latin1")).toBe("CLAM"); // timestamp
      expect(out.readUInt32LE(0xd0 + 0x3c)).toBe(0x1000); // FileAlignment = SectionAlignment
      expect(out.readUInt32LE(0xd0 + 0xf8 + 20)).toBe(0x1000); // .text raw offset
      expect(out.subarray(0x1000, 0x1000 + text.length).equals(text)).toBe(true);
    });
  }

  it("no header to find: ClamAV's forged one-section PE around the data", () => {
    const data = Buffer.concat([program(5000), Buffer.alloc(3000)]);
    const out = Buffer.from(members(upxPe("nrv2b", data)).find((x) => x.name === "UPX")!.data!);
    expect(out.subarray(0xd0 + 8, 0xd0 + 12).toString("latin1")).toBe("CLAM");
    expect(out.subarray(0x1c8, 0x1d0).toString("latin1").replace(/\0+$/, "")).toBe(".clam01");
    expect(out.readUInt32LE(0xd0 + 0x50)).toBe(0x3000); // SizeOfImage: the data's size aligned, plus 0x1000
    expect(out.length).toBe(0x200 + 0x2000);
    expect(out.subarray(0x200, 0x200 + data.length).equals(data)).toBe(true);
  });

  const packedAt = 0x400;
  for (const m of ["nrv2b", "nrv2e"] as Method[]) {
    it(`${m}: truncated, corrupted, bombed: "not fully scanned" with the reason, never OK`, () => {
      const exe = upxPe(m, image);
      // truncated inside the packed data
      const cut = exe.subarray(0, packedAt + 300);
      const rc = scan(cut);
      expect(rc.errors).toEqual([]);
      expect(rc.incomplete.map((i) => [i.path, i.reason])).toContainEqual(["x.exe!UPX", "corrupt-archive"]);
      // corrupted: the packed bytes overwritten (all-literal bits run past the unpacked size)
      const bad = Buffer.from(exe);
      bad.fill(0xff, packedAt, packedAt + 2000);
      const rb = scan(bad);
      expect(rb.incomplete[0]?.message).toMatch(/UPX-packed executable not unpacked/);
      expect(rb.detections).toEqual([]);
      // bombed: UPX0 claims a gigabyte
      const bomb = Buffer.from(exe);
      bomb.writeUInt32LE(0x40000000, 0x80 + 24 + 0xe0 + 8);
      const t0 = Date.now();
      const rr = scan(bomb);
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(rr.incomplete.map((i) => i.reason)).toEqual(
        expect.arrayContaining([expect.stringMatching(/max-ratio|max-scansize/)]),
      );
    });
  }

  it("a PE with an empty section that is not UPX stays quiet (no false 'not fully scanned')", () => {
    const exe = upxPe("nrv2b", image);
    const plain = Buffer.from(exe);
    plain.fill(0, 0x80 + 24 + 0xe0, 0x80 + 24 + 0xe0 + 4); // no UPX0 name
    plain.fill(0, 0x80 + 24 + 0xe0 + 40, 0x80 + 24 + 0xe0 + 44); // no UPX1 name
    const ep = 0x400 + exe.readUInt32LE(0x80 + 24 + 16) - exe.readUInt32LE(0x80 + 24 + 0xe0 + 40 + 12);
    plain.fill(0, ep, ep + 0x200); // no loader
    plain.fill(0xff, packedAt, packedAt + 2000);
    const r = scan(plain);
    expect(r.incomplete).toEqual([]);
  });
});

describe("yoda's Crypter (yC 1.3)", () => {
  const text = program(3000);
  const exe = ycPe(text, 0x1234);
  it("the sections are decrypted by interpreting the crypter's routines; the yC section is cut off", () => {
    expect(exe.indexOf(Buffer.from(EICAR))).toBe(-1);
    const r = scan(exe);
    expect(r.incomplete).toEqual([]);
    expect(r.detections.map((d) => d.path)).toEqual(["x.exe!yC"]);
    const out = Buffer.from(members(exe).find((m) => m.name === "yC")!.data!);
    expect(out.length).toBe(0x400 + Math.ceil(text.length / 0x200) * 0x200);
    expect(out.subarray(0x400, 0x400 + text.length).equals(text)).toBe(true);
    expect(out.readUInt16LE(0x80 + 6)).toBe(1); // one section left
    expect(out.readUInt32LE(0x80 + 24 + 16)).toBe(0x1234); // the original entry point
    expect(out.readUInt32LE(0x80 + 24 + 0x68)).toBe(0); // import directory cleared
    expect(exe.readUInt32LE(0x80 + 24 + 0x68)).not.toBe(0); // the input is untouched
  });
  it("truncated, corrupted: not fully scanned, never OK", () => {
    const ycAt = exe.length - Math.ceil((0xc6 + 0x1000) / 0x200) * 0x200;
    const bad = Buffer.from(exe);
    bad[ycAt + 0x93] = 0x0f; // an instruction the routine language does not have
    expect(scan(bad).incomplete.map((i) => [i.path, i.message])).toEqual([
      ["x.exe!yC", "yC-encrypted executable not decrypted: yC: unknown instruction 0xf in the decryptor"],
    ]);
    const loop = Buffer.from(exe);
    loop.set([0xeb, 0xfe], ycAt + 0x93); // JMP to itself
    expect(scan(loop).incomplete[0]?.message).toMatch(/loops too long/);
  });
});

describe("WWPack32", () => {
  const text = program(5000);
  const exe = wwpackPe(text, 0x1234);
  it("the blocks are unpacked into the memory image, the header restored", () => {
    expect(exe.indexOf(Buffer.from(EICAR))).toBe(-1);
    const r = scan(exe);
    expect(r.incomplete).toEqual([]);
    expect(r.detections.map((d) => d.path)).toEqual(["x.exe!WWPack"]);
    const out = Buffer.from(members(exe).find((m) => m.name === "WWPack")!.data!);
    expect(out.subarray(0x1000, 0x1000 + text.length).equals(text)).toBe(true);
    expect(out.readUInt16LE(0x80 + 6)).toBe(1);
    expect(out.readUInt32LE(0x80 + 0x28)).toBe(0x1234);
    expect(out.readUInt32LE(0x80 + 24 + 0xe0 + 20)).toBe(0x1000); // raw offset = RVA in the image
  });
  it("truncated, corrupted, bombed: not fully scanned, never OK", () => {
    const table = 0x400 + exe.readUInt32LE(0x80 + 24 + 0xe0 + 16) + 0x2a1;
    const cases: Array<[string, (b: Buffer) => void, RegExp]> = [
      ["block outside", (b) => b.writeUInt32LE(0x3fffffff, table + 8), /block lies outside/],
      ["stream cut", (b) => b.fill(0, 0x400, 0x400 + exe.readUInt32LE(0x80 + 24 + 0xe0 + 16)), /ends early/],
      ["far copy", (b) => b.fill(0x9f, 0x400, 0x400 + 16), /points outside/],
    ];
    for (const [what, damage, message] of cases) {
      const bad = Buffer.from(exe);
      damage(bad);
      const r = scan(bad);
      expect(r.errors, what).toEqual([]);
      expect(
        r.incomplete.map((i) => [i.path, i.reason]),
        what,
      ).toEqual([["x.exe!WWPack", "corrupt-archive"]]);
      expect(r.incomplete[0]!.message, what).toMatch(message);
    }
    const bomb = Buffer.from(exe);
    bomb.writeUInt32LE(0x7ff00000, 0x80 + 24 + 0xe0 + 8); // .text claims 2 GB in memory
    expect(scan(bomb).incomplete.map((i) => i.reason)).toEqual([expect.stringMatching(/max-ratio|max-scansize/)]);
  });
});

describe("executables and archives embedded in a PE (self-extractors)", () => {
  const stub = upxPe("nrv2b", originalImage(program(3000)).image);
  it("a zip appended to a PE is opened; its member is found at x.exe!ZIP@N.zip!name", () => {
    const exe = Buffer.concat([stub, makeZip([{ name: "e.com", data: EICAR }])]);
    const r = scan(exe);
    expect(r.incomplete).toEqual([]);
    expect(r.detections.map((d) => d.path)).toContain(`x.exe!ZIP@${stub.length}.zip!e.com`);
  });
  it("an SFX whose zip offsets count from the executable's start (zip -A) reads as an intact zip", () => {
    const exe = makeZip(
      [
        { name: "e.com", data: EICAR },
        { name: "b.txt", data: "hello" },
      ],
      { prefix: stub },
    );
    const r = scan(exe);
    expect(r.incomplete).toEqual([]);
    expect(r.detections.map((d) => d.path)).toContain(`x.exe!ZIP@${stub.length}.zip!e.com`);
    const zip = members(exe).find((m) => m.name.startsWith("ZIP@"))!.data!;
    expect(md5(zip)).toBe(
      md5(
        makeZip([
          { name: "e.com", data: EICAR },
          { name: "b.txt", data: "hello" },
        ]),
      ),
    );
    expect(md5(exe.subarray(stub.length))).not.toBe(md5(zip)); // rebased on a copy
  });
  it("a PE embedded in a PE is scanned from its MZ to the end", () => {
    const inner = Buffer.concat([upxPe("nrv2d", originalImage(Buffer.from(`xx ${EICAR} yy`)).image)]);
    const exe = Buffer.concat([stub, inner]);
    const r = scan(exe);
    expect(r.detections.map((d) => d.path)).toContain(`x.exe!PE@${stub.length}.exe!UPX`);
  });
  it("MZ bytes that are no PE header are not yielded", () => {
    const exe = Buffer.concat([stub, Buffer.from("MZ not a header at all, MZ again"), Buffer.alloc(600)]);
    expect(members(exe).map((m) => m.name)).toEqual(["UPX"]);
  });
});

describe("AutoIt compiled scripts", () => {
  for (const v of [5, 6] as const) {
    const payload = Buffer.from(`MZ-ish payload ${EICAR} end`);
    const res = autoit(v, [
      { name: "C:\\build\\readme.txt", data: Buffer.from("just text, nothing here") },
      { name: "C:\\build\\dropped.bin", data: payload, compress: true },
    ]);
    it(`EA0${v}: each record decrypted (and decompressed) into a member named by its file name`, () => {
      const before = md5(res);
      const ms = members(res);
      expect(md5(res)).toBe(before); // decryption works on copies, never on the scanned bytes
      expect(ms.map((m) => [m.name, Buffer.from(m.data!).toString("latin1")])).toEqual([
        ["readme.txt", "just text, nothing here"],
        ["dropped.bin", payload.toString("latin1")],
      ]);
      const exe = Buffer.concat([upxPe("nrv2b", originalImage(program(2000)).image), res]);
      const r = scan(exe);
      expect(r.detections.map((d) => d.path)).toContain(`x.exe!AUTOIT@${exe.length - res.length}.au3!dropped.bin`);
    });
    it(`EA0${v}: truncated, corrupted, bombed: not fully scanned, never OK`, () => {
      const cut = scan(res.subarray(0, res.length - 20), "s.a3x");
      expect(cut.incomplete.map((i) => [i.path, i.reason])).toEqual([["s.a3x!dropped.bin", "corrupt-archive"]]);
      const bad = Buffer.from(res);
      bad[res.length - payload.length * 2] ^= 0xff; // inside the compressed record's bit stream
      const rb = scan(bad, "s.a3x");
      expect(rb.errors).toEqual([]);
      const bomb = autoit(v, [{ name: "big.bin", data: payload, compress: true, usize: 0x7fffff00 }]);
      const rr = scan(bomb, "s.a3x");
      expect(rr.incomplete.map((i) => i.reason)).toEqual([expect.stringMatching(/max-ratio|max-scansize/)]);
    });
  }
});

describe("InstallShield MSI payloads", () => {
  const files = [
    { name: "Setup.ini", data: Buffer.from("[Startup]\nProduct=Test\n") },
    { name: "clam.msi", data: Buffer.concat([Buffer.from(EICAR), Buffer.alloc(3000, 7)]) },
  ];
  const is = ishield(files);
  it("each file decoded into a member", () => {
    expect(members(is).map((m) => [m.name, md5(m.data!)])).toEqual(files.map((f) => [f.name, md5(f.data)]));
    const exe = Buffer.concat([upxPe("nrv2b", originalImage(program(2000)).image), is]);
    expect(scan(exe).detections.map((d) => d.path)).toContain(
      `x.exe!ISHIELD-MSI@${exe.length - is.length}.ismsi!clam.msi`,
    );
  });
  it("truncated, corrupted, bombed: not fully scanned, never OK", () => {
    const cut = scan(is.subarray(0, is.length - 10), "s.is");
    expect(cut.incomplete.map((i) => [i.path, i.reason])).toEqual([["s.is!clam.msi", "corrupt-archive"]]);
    const notZlib = scan(ishield(files, false), "s.is");
    expect(notZlib.incomplete.map((i) => i.message)[0]).toMatch(/not a zlib stream/);
    const bomb = scan(ishield([{ name: "zeros.bin", data: Buffer.alloc(20 << 20) }]), "s.is");
    expect(bomb.incomplete.map((i) => i.reason)).toEqual(["max-ratio"]);
  });
});

const TESTFILES = "/usr/share/clamav-testfiles";
describe.skipIf(needs("clamav-testfiles executables", { debianFiles: [TESTFILES] }))(
  "clamav-testfiles executables",
  () => {
    const tree = (file: string) => {
      const out: Array<[string, string]> = [];
      const walk = (b: Uint8Array, path: string, depth: number) => {
        for (const m of depth < 4 ? members(b) : []) {
          if (!m.data) continue;
          out.push([`${path}!${m.name}`, md5(m.data)]);
          walk(m.data, `${path}!${m.name}`, depth + 1);
        }
      };
      walk(readFileSync(join(TESTFILES, file)), file, 0);
      return out;
    };
    // the md5s are those clamscan --debug prints for the layers it scans (FP SIGNATURE lines)
    it("clam-upx.exe: the rebuilt image is byte for byte ClamAV's, clam.exe embedded in it", () => {
      const t = tree("clam-upx.exe");
      expect(t).toContainEqual(["clam-upx.exe!UPX", "3b03bc19b1f39587a0650c7b6fe35d38"]);
      expect(t).toContainEqual(["clam-upx.exe!UPX!PE@19936.exe", "aa15bcf478d165efd2065190eb473bcb"]);
    });
    it("clam.ea05.exe, clam.ea06.exe: the AutoIt resource and clam.exe in it", () => {
      expect(tree("clam.ea05.exe")).toEqual(
        expect.arrayContaining([
          ["clam.ea05.exe!AUTOIT@206848.au3", "1981f34af7f13fff04b0defb558b8c7c"],
          ["clam.ea05.exe!AUTOIT@206848.au3!clam.exe", "aa15bcf478d165efd2065190eb473bcb"],
        ]),
      );
      expect(tree("clam.ea06.exe")).toEqual(
        expect.arrayContaining([
          ["clam.ea06.exe!AUTOIT@252928.au3", "39eeaa866dcd2c841b627f5bc1475891"],
          ["clam.ea06.exe!AUTOIT@252928.au3!clam.exe", "aa15bcf478d165efd2065190eb473bcb"],
        ]),
      );
    });
    it("clam_ISmsi_*.exe: the InstallShield payload, clam.exe409.bmp and clam.msi in it", () => {
      expect(tree("clam_ISmsi_ext.exe")).toEqual(
        expect.arrayContaining([
          ["clam_ISmsi_ext.exe!ISHIELD-MSI@915561.ismsi", "aa3bc349fb930189cfb9cc8530d56155"],
          ["clam_ISmsi_ext.exe!ISHIELD-MSI@915561.ismsi!clam.exe409.bmp", "aa15bcf478d165efd2065190eb473bcb"],
        ]),
      );
      expect(tree("clam_ISmsi_int.exe")).toEqual(
        expect.arrayContaining([
          ["clam_ISmsi_int.exe!ISHIELD-MSI@915561.ismsi", "e9844c735fff5d5eeee644b820679797"],
          ["clam_ISmsi_int.exe!ISHIELD-MSI@915561.ismsi!clam.msi", "efa529f28de651b561dc36646733e7e6"],
        ]),
      );
    });
    it("clam-yc.exe: decrypted as ClamAV does, then unpacked as UPX", () => {
      expect(tree("clam-yc.exe")).toEqual([
        ["clam-yc.exe!yC", "8822fca1f7b0cb5506f15f8088956197"],
        ["clam-yc.exe!yC!UPX", "3b03bc19b1f39587a0650c7b6fe35d38"],
        ["clam-yc.exe!yC!UPX!PE@19936.exe", "aa15bcf478d165efd2065190eb473bcb"],
      ]);
    });
    it("clam-wwpack.exe: the memory image ClamAV builds, the zip in it, clam.exe", () => {
      expect(tree("clam-wwpack.exe")).toEqual([
        ["clam-wwpack.exe!WWPack", "7b8cd3dd6a198ec191afce0206665d2d"],
        ["clam-wwpack.exe!WWPack!ZIP@20076.zip", "37ee24a41abc0fdbe8ee342ededf33ef"],
        ["clam-wwpack.exe!WWPack!ZIP@20076.zip!clam.exe", "aa15bcf478d165efd2065190eb473bcb"],
      ]);
    });
    it("clam_IScab_*.exe: the cabinet in the overlay is yielded for the CAB reader", () => {
      expect(tree("clam_IScab_ext.exe").map(([p]) => p)).toContain("clam_IScab_ext.exe!CAB@476556.cab");
      expect(tree("clam_IScab_int.exe").map(([p]) => p)).toContain("clam_IScab_int.exe!CAB@471993.cab");
    });
  },
);

describe.skipIf(needs("the UPX rebuild differential against clamscan", { tools: ["clamscan"] }))(
  "UPX rebuild: clamscan finds each generated fixture by the md5 of Vigil's rebuilt image",
  () => {
    it("nrv2b, nrv2d, nrv2e and lzma fixtures, and the forged-header case", () => {
      const d = mkdtempSync(join(tmpdir(), "vigil-upx-"));
      const image = (m: string) => originalImage(Buffer.concat([Buffer.from(m), program()])).image;
      const cases: Array<[string, Buffer]> = (["nrv2b", "nrv2d", "nrv2e"] as Method[]).map((m) => [
        m,
        upxPe(m, image(m)),
      ]);
      if (haveXz) cases.push(["lzma", upxPe("lzma", image("lzma"))]);
      cases.push(["forged", upxPe("nrv2e", Buffer.concat([program(5000), Buffer.alloc(3000)]))]);
      const hdb: string[] = [];
      for (const [name, exe] of cases) {
        writeFileSync(join(d, `${name}.exe`), exe);
        const upx = members(exe).find((m) => m.name === "UPX")!.data!;
        hdb.push(`${md5(upx)}:${upx.length}:Rebuilt.${name}`);
      }
      writeFileSync(join(d, "r.hdb"), hdb.join("\n") + "\n");
      const r = spawnSync(
        "clamscan",
        ["--no-summary", "-d", join(d, "r.hdb"), ...cases.map(([n]) => join(d, `${n}.exe`))],
        {
          encoding: "utf8",
        },
      );
      const found = r.stdout.trim().split("\n").sort();
      expect(found).toEqual(cases.map(([n]) => `${join(d, `${n}.exe`)}: Rebuilt.${n}.UNOFFICIAL FOUND`).sort());
    });
  },
);
