// Issue 15, InstallShield setups before MSI (clam_IScab_ext.exe, clam_IScab_int.exe): the
// files in a setup.exe's overlay, and the files data1.hdr lists in the dataN.cab cabinets.
// The real test files are detected with their member paths (the md5s are those of the files
// clamscan --leave-temps writes out); then variants generated from them: truncated, corrupted,
// bombed, each "not fully scanned" with a reason, never a crash, a hang or OK.
import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { deflateRawSync } from "node:zlib";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { needs } from "@vigil/test-kit";
import { PeImage } from "@vigil/engine";
import { DEFAULT_LIMITS, scanBytes } from "../src/index.js";
import { readArchive, sniffArchive, type Member } from "../src/archive/index.js";
import { overlayStart } from "../src/archive/exe/iscab.js";
import { recognise } from "../src/archive/recognise.js";
import { withRules } from "./helpers/detector.js";

const DIR = "/usr/share/clamav-testfiles";
const CLAM_MD5 = "aa15bcf478d165efd2065190eb473bcb";
const md5 = (b: Uint8Array) => createHash("md5").update(b).digest("hex");
const detector = withRules(
  `import "hash"\nrule ClamExe { condition: filesize == 544 and hash.md5(0, filesize) == "${CLAM_MD5}" }`,
).detector;
const scan = (b: Uint8Array, name = "s.exe") => scanBytes(detector, b, name, { limits: DEFAULT_LIMITS });
const members = (b: Uint8Array): Member[] => {
  const kind = sniffArchive(b);
  return kind ? [...readArchive(kind, b, "x", () => 1 << 28)] : [];
};

/** An overlay entry: four NUL-terminated strings, then the data. */
const entry = (name: string, data: Uint8Array) =>
  Buffer.concat([Buffer.from(`${name}\0Disk1\\${name}\0${"0.0.0.0"}\0${data.length}\0`, "latin1"), data]);

/** A cabinet stream: chunks of a 16-bit length and raw deflate of up to `piece` bytes each. */
function stream(data: Uint8Array, piece = 0x8000): Buffer {
  const out: Buffer[] = [];
  for (let p = 0; p < data.length; p += piece) {
    const c = deflateRawSync(data.subarray(p, p + piece));
    const n = Buffer.alloc(2);
    n.writeUInt16LE(c.length);
    out.push(n, c);
  }
  return Buffer.concat(out);
}

/**
 * data1.hdr and data1.cab for `files` (the layout ClamAV's is_parse_hdr reads): the header, the
 * object block at data_off, the directory table, one 87-byte item per file, the names.
 */
function cabinetSet(files: Array<{ name: string; data: Uint8Array; md5?: string }>): { hdr: Buffer; cab: Buffer } {
  const streams: Buffer[] = [];
  const offsets: number[] = [];
  let at = 0x200;
  for (const f of files) {
    const s = stream(f.data);
    offsets.push(at);
    streams.push(s);
    at += s.length;
  }
  const cab = Buffer.concat([Buffer.from("ISc(\0\0\x01\0", "latin1"), Buffer.alloc(0x200 - 8), ...streams]);
  const dataOff = 0x20;
  const dirsOff = 0x50; // the directory table, relative to data_off
  const base = dataOff + dirsOff;
  const tableAt = 8; // dir_sz2: the file items follow the directory table
  const namesAt = tableAt + 87 * files.length;
  const names = files.map((f) => Buffer.from(`${f.name}\0`, "latin1"));
  const h = Buffer.alloc(base + namesAt + names.reduce((n, x) => n + x.length, 0));
  h.writeUInt32LE(0x28635349, 0);
  h.writeUInt32LE(dataOff, 12);
  h.writeUInt32LE(dirsOff, dataOff + 0x0c);
  h.writeUInt32LE(files.length, dataOff + 0x28);
  h.writeUInt32LE(tableAt, dataOff + 0x2c);
  h.writeUInt32LE(4, base); // directory 0: the empty string at base+4
  let nameOff = namesAt;
  files.forEach((f, i) => {
    const o = base + tableAt + 87 * i;
    h.writeUInt16LE(4, o); // stored in a cabinet
    h.writeBigUInt64LE(BigInt(f.data.length), o + 2);
    h.writeBigUInt64LE(BigInt(streams[i]!.length), o + 10);
    h.writeBigUInt64LE(BigInt(offsets[i]!), o + 18);
    Buffer.from(f.md5 ?? md5(f.data), "hex").copy(h, o + 26);
    h.writeUInt32LE(nameOff, o + 58);
    h.writeUInt16LE(1, o + 85); // data1.cab
    names[i]!.copy(h, base + nameOff);
    nameOff += names[i]!.length;
  });
  return { hdr: h, cab };
}

describe.skipIf(needs("clamav-testfiles InstallShield cabinets", { debianFiles: [`${DIR}/clam_IScab_ext.exe`] }))(
  "InstallShield setups (IScab)",
  () => {
    const ext = readFileSync(`${DIR}/clam_IScab_ext.exe`);
    const int = readFileSync(`${DIR}/clam_IScab_int.exe`);
    const clam = readFileSync(`${DIR}/clam.exe`);
    const stubEnd = overlayStart(PeImage.parse(ext)!, ext.length)!;
    const stub = ext.subarray(0, stubEnd); // the real setup.exe, without its files
    const setup = (...entries: Buffer[]) => Buffer.concat([stub, ...entries]);

    it("the overlay starts after the last section, as ClamAV's PE reader puts it", () => {
      expect(stubEnd).toBe(0x1c200);
    });

    it("clam_IScab_ext.exe: clam.exe stored in the overlay; the cabinets' files as ClamAV extracts them", () => {
      const m = members(ext);
      expect(m.filter((x) => x.problem)).toEqual([]);
      const got = new Map(m.map((x) => [x.name, md5(x.data!)]));
      expect(got.get("clam.exe")).toBe(CLAM_MD5);
      // md5s of the files clamscan --allmatch --leave-temps writes out
      expect(got.get("data1.cab!_IsRes.dll")).toBe("d28b31e1e3d9972cce01e4deb0288b31");
      expect(m.find((x) => x.name === "data2.cab!GPL.exe")!.data!.length).toBe(17991);
      expect(scan(ext, "clam_IScab_ext.exe").detections.map((d) => d.path)).toEqual(["clam_IScab_ext.exe!clam.exe"]);
      // nothing this reader yields is left unread (the embedded-PE search, which runs from clam.exe's
      // MZ to the end of the file, finds InstallShield's code with bytes behind it)
      for (const i of scan(ext, "clam_IScab_ext.exe").incomplete) expect(i.path).toMatch(/^clam_IScab_ext\.exe!PE@/);
    });

    it("clam_IScab_int.exe: clam.exe inflated from data2.cab through data1.hdr's file table", () => {
      const m = members(int);
      const names = m.map((x) => x.name);
      expect(names).toEqual(
        expect.arrayContaining([
          "engine32.cab",
          "setup.exe",
          "setup.inx",
          "data1.cab!license.rtf",
          "data1.cab!isrt.dll",
          "data2.cab!clam.exe",
        ]),
      );
      // the cabinets and the header are read through the table, not yielded raw
      expect(names).not.toContain("data1.cab");
      expect(names).not.toContain("data1.hdr");
      expect(md5(m.find((x) => x.name === "data2.cab!clam.exe")!.data!)).toBe(CLAM_MD5);
      expect(md5(m.find((x) => x.name === "data1.cab!isrt.dll")!.data!)).toBe("9a7790ae29bbadfa35650751ecceb0e7");
      const r = scan(int, "clam_IScab_int.exe");
      expect(r.detections.map((d) => d.path)).toEqual(["clam_IScab_int.exe!data2.cab!clam.exe"]);
    });

    it("InstallShield's own DLLs (the name in their code, nothing appended) are not 'not fully scanned'", () => {
      const dll = members(int).find((x) => x.name === "data1.cab!isrt.dll")!.data!;
      expect(dll.indexOf(Buffer.from("InstallShield"))).toBeGreaterThan(0);
      expect(recognise(dll)).toBeUndefined();
      // the setup.exe with its payload still is, when no reader takes the payload
      expect(recognise(setup(Buffer.alloc(4096, 0xcc)))?.message).toMatch(/^InstallShield installer/);
    });

    it("a generated setup: stored files and a cabinet set, each found with its path", () => {
      const { hdr, cab } = cabinetSet([
        { name: "readme.txt", data: Buffer.from("hello\r\n".repeat(500)) },
        { name: "clam.exe", data: clam },
      ]);
      const s = setup(entry("a.txt", Buffer.from("x")), entry("data1.hdr", hdr), entry("data1.cab", cab));
      const r = scan(s);
      expect(r.detections.map((d) => d.path)).toEqual(["s.exe!data1.cab!clam.exe"]);
      expect(r.incomplete).toEqual([]);
      expect(members(s).map((x) => x.name)).toEqual(["a.txt", "data1.cab!readme.txt", "data1.cab!clam.exe"]);
    });

    it("truncated: the real file cut inside clam.exe, or inside data1.hdr's table: not fully scanned", () => {
      const cut = scan(ext.subarray(0, 0x1c224 + 300), "cut.exe");
      expect(cut.incomplete.map((i) => [i.path, i.reason])).toEqual([["cut.exe!clam.exe", "corrupt-archive"]]);
      expect(cut.incomplete[0]!.message).toMatch(/data truncated \(300 bytes left of 544\)/);
      // cut in the middle of an entry's strings
      const mid = scan(ext.subarray(0, 0x1c224 + 544 + 12), "mid.exe");
      expect(mid.incomplete.map((i) => i.message)).toEqual(["InstallShield file entry truncated"]);
      expect(mid.detections.map((d) => d.path)).toEqual(["mid.exe!clam.exe"]);
      // data1.hdr whose file table stops short of its count
      const { hdr, cab } = cabinetSet([{ name: "clam.exe", data: clam }]);
      hdr.writeUInt32LE(3, 0x20 + 0x28);
      const r = scan(setup(entry("data1.hdr", hdr), entry("data1.cab", cab)));
      expect(r.detections.map((d) => d.path)).toEqual(["s.exe!data1.cab!clam.exe"]);
      expect(r.incomplete.map((i) => [i.path, i.message])).toEqual([
        ["s.exe!data1.hdr", "data1.hdr's file table ends after 1 of 3 entries (truncated)"],
      ]);
    });

    it("corrupted: a damaged deflate chunk, a wrong MD5, a stream outside its cabinet, a bad header", () => {
      const { hdr, cab } = cabinetSet([{ name: "clam.exe", data: clam }]);
      const bad = Buffer.from(cab);
      bad.fill(0xff, 0x200 + 2, 0x200 + 40); // the first chunk's deflate data
      const r1 = scan(setup(entry("data1.hdr", hdr), entry("data1.cab", bad)));
      expect(r1.incomplete.map((i) => [i.path, i.reason])).toEqual([["s.exe!data1.cab!clam.exe", "corrupt-archive"]]);
      expect(r1.incomplete[0]!.message).toMatch(/InstallShield cabinet file damaged/);
      // the bytes decode, but not to what the table says
      const wrong = cabinetSet([{ name: "clam.exe", data: clam, md5: "00".repeat(16) }]);
      const r2 = scan(setup(entry("data1.hdr", wrong.hdr), entry("data1.cab", wrong.cab)));
      expect(r2.incomplete.map((i) => i.message)).toEqual([
        "InstallShield cabinet file damaged: MD5 differs from the table's",
      ]);
      expect(r2.detections.map((d) => d.path)).toEqual(["s.exe!data1.cab!clam.exe"]); // still scanned
      // a stream offset past the cabinet
      const far = Buffer.from(hdr);
      far.writeBigUInt64LE(1n << 40n, 0x20 + 0x50 + 8 + 18);
      const r3 = scan(setup(entry("data1.hdr", far), entry("data1.cab", cab)));
      expect(r3.incomplete.map((i) => i.message)[0]).toMatch(/lies outside data1\.cab/);
      far.writeBigUInt64LE(1n << 60n, 0x20 + 0x50 + 8 + 18);
      const r3b = scan(setup(entry("data1.hdr", far), entry("data1.cab", cab)));
      expect(r3b.incomplete.map((i) => [i.reason, i.message])).toEqual([
        ["corrupt-archive", "InstallShield file entry with an impossible size or offset"],
      ]);
      // an entry of a kind ClamAV does not read either (flags other than 0 and 4): named, not skipped
      const kind = Buffer.from(hdr);
      kind.writeUInt16LE(12, 0x20 + 0x50 + 8);
      const r6 = scan(setup(entry("data1.hdr", kind), entry("data1.cab", cab)));
      expect(r6.incomplete.map((i) => [i.path, i.reason, i.message])).toEqual([
        [
          "s.exe!data1.cab!clam.exe",
          "unsupported",
          "InstallShield file entry of a kind not read (flags 12): its data is not extracted",
        ],
      ]);
      // a header of another version: the cabinets are scanned raw, and said not opened
      const other = Buffer.from(hdr);
      other.write("XXXX", 0, "latin1");
      const r4 = scan(setup(entry("data1.hdr", other), entry("data1.cab", cab)));
      expect(r4.incomplete.map((i) => [i.path, i.reason])).toEqual(
        expect.arrayContaining([
          ["s.exe!data1.hdr", "unsupported"],
          ["s.exe!data1.cab", "unsupported"],
        ]),
      );
      expect(r4.incomplete.find((i) => i.path === "s.exe!data1.cab")!.message).toMatch(/no ISc\( magic/);
      // the real file with clam.exe's stream in data2.cab damaged
      const i2 = Buffer.from(int);
      const at = int.indexOf(Buffer.from("data2.cab\0Disk1\\data2.cab\0", "latin1"));
      const data2 = at + "data2.cab\0Disk1\\data2.cab\0".length + "0.0.0.0\x3f0\0".length;
      i2.fill(0, data2 + 0x200 + 2, data2 + 0x200 + 200);
      const r5 = scan(i2, "clam_IScab_int.exe");
      expect(r5.detections).toEqual([]);
      expect(r5.incomplete.map((i) => i.path)).toContain("clam_IScab_int.exe!data2.cab!clam.exe");
    });

    it("bombed: a cabinet file of 64 MiB of zeros is stopped at the ratio limit", () => {
      const { hdr, cab } = cabinetSet([{ name: "zeros.bin", data: Buffer.alloc(64 << 20) }]);
      expect(cab.length).toBeLessThan(200_000);
      const t = Date.now();
      const r = scan(setup(entry("data1.hdr", hdr), entry("data1.cab", cab)));
      expect(r.incomplete.map((i) => [i.path, i.reason])).toEqual([["s.exe!data1.cab!zeros.bin", "max-ratio"]]);
      expect(Date.now() - t).toBeLessThan(10_000);
      // a table of a million entries in a small header cannot make work past its own bytes
      const many = Buffer.from(hdr);
      many.writeUInt32LE(1_000_000, 0x20 + 0x28);
      const r2 = scan(setup(entry("data1.hdr", many), entry("data1.cab", cab)));
      expect(r2.incomplete.map((i) => i.reason)).toEqual(["max-ratio", "corrupt-archive"]);
    });

    it.skipIf(needs("the IScab differential against clamscan", { tools: ["clamscan"] }))(
      "clamscan reads the generated setups as Vigil does: same files found by their md5",
      () => {
        const d = mkdtempSync(join(tmpdir(), "vigil-iscab-"));
        // payloads unique to this run, one stored in the overlay, one in the cabinet set
        const stored = Buffer.from(`stored payload ${process.pid} ${Date.now()}\n`.repeat(40));
        const inCab = Buffer.from(`cabinet payload ${process.pid} ${Date.now()}\n`.repeat(90));
        const { hdr, cab } = cabinetSet([
          { name: "readme.txt", data: Buffer.from("hello\r\n".repeat(500)) },
          { name: "payload.bin", data: inCab },
        ]);
        // ClamAV stops before an entry that ends exactly at the end of the file: a trailing entry
        const s = setup(
          entry("stored.bin", stored),
          entry("data1.hdr", hdr),
          entry("data1.cab", cab),
          entry("tail.txt", Buffer.from("end")),
          Buffer.from("\0"),
        );
        writeFileSync(join(d, "setup.exe"), s);
        writeFileSync(
          join(d, "p.hdb"),
          `${md5(stored)}:${stored.length}:IS.Stored\n${md5(inCab)}:${inCab.length}:IS.Cabinet\n`,
        );
        const run = (extra: string[]) =>
          spawnSync("clamscan", ["--no-summary", ...extra, "-d", join(d, "p.hdb"), join(d, "setup.exe")], {
            encoding: "utf8",
          }).stdout.trim();
        expect(run(["--allmatch"]).split("\n").sort()).toEqual(
          [
            `${join(d, "setup.exe")}: IS.Cabinet.UNOFFICIAL FOUND`,
            `${join(d, "setup.exe")}: IS.Stored.UNOFFICIAL FOUND`,
          ].sort(),
        );
        const got = members(s).map((m) => [m.name, md5(m.data!)]);
        expect(got).toEqual(
          expect.arrayContaining([
            ["stored.bin", md5(stored)],
            ["data1.cab!payload.bin", md5(inCab)],
          ]),
        );
      },
    );

    it("random overlays and junk entries: no crash, no hang", () => {
      let seed = 5;
      for (let k = 0; k < 200; k++) {
        const s = Buffer.from(ext.subarray(0, stubEnd + 600 + k * 37));
        for (let j = 0; j < 8; j++) {
          seed = (seed * 1103515245 + 12345) >>> 0;
          s[stubEnd + (seed % (s.length - stubEnd))] = seed >>> 24;
        }
        const r = scan(s);
        expect(r.errors).toEqual([]);
      }
    });
  },
);
