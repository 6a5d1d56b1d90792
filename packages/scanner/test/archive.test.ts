import { describe, expect, it, beforeAll } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync, deflateRawSync } from "node:zlib";
import { scanBytes, BOMB_NAME, DEFAULT_LIMITS, sniffArchive, readArchive, type Limits } from "../src/index.js";
import { EICAR, makeZip, needs } from "@vigil/test-kit";
import { unxz } from "../src/archive/xz.js";
import { starter } from "./helpers/detector.js";

const limits = (over: Partial<Limits> = {}): Limits => ({ ...DEFAULT_LIMITS, ...over });
const scan = (b: Uint8Array, name = "t", over: Partial<Limits> = {}, alertExceedsMax = false) =>
  scanBytes(starter().detector, b, name, { limits: limits(over), alertExceedsMax });

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "vigil-arc-"));
});

describe("zip", () => {
  it("finds EICAR in stored and deflated members and names them outer!inner", () => {
    const z = makeZip([
      { name: "readme.txt", data: "hello", method: 0 },
      { name: "dir/eicar.com", data: EICAR, method: 8 },
      { name: "plain/eicar2.com", data: EICAR, method: 0 },
    ]);
    const r = scan(z, "a.zip");
    expect(r.detections.map((d) => [d.path, d.name]).sort()).toEqual([
      ["a.zip!dir/eicar.com", "Win.Test.EICAR_HDB-1"],
      ["a.zip!plain/eicar2.com", "Win.Test.EICAR_HDB-1"],
    ]);
    expect(r.incomplete).toEqual([]);
    expect(r.scannedBytes).toBe(z.length + 5 + 68 + 68);
  });

  it("reads zip64 records", () => {
    const z = makeZip([{ name: "x/eicar.com", data: EICAR }], { zip64: true });
    expect(scan(z, "z64.zip").detections.map((d) => d.path)).toEqual(["z64.zip!x/eicar.com"]);
  });

  it("reads archives with prepended data (self-extractor layout)", () => {
    const z = makeZip([{ name: "e.com", data: EICAR }], { prefix: Buffer.alloc(1000, 0x90) });
    // not sniffed as a zip (no PK at 0), but the reader finds members past the prefix
    expect(sniffArchive(z)).toBeUndefined();
    const members = [...readArchive("zip", z, "sfx.exe", () => 1000)];
    expect(members.map((m) => [m.name, Buffer.from(m.data!).toString()])).toEqual([["e.com", EICAR]]);
  });

  it("reports encrypted members as not fully scanned, never guessed", () => {
    const z = makeZip([
      { name: "secret.bin", data: "xx", method: 0, flags: 1 },
      { name: "aes.bin", data: "yy", method: 99 },
    ]);
    const r = scan(z, "enc.zip");
    expect(r.detections).toEqual([]);
    expect(r.incomplete.map((i) => [i.reason, i.path])).toEqual([
      ["encrypted", "enc.zip!secret.bin"],
      ["encrypted", "enc.zip!aes.bin"],
    ]);
  });

  it.skipIf(needs("zip -P archives", { tools: ["zip"] }))("reports zip -P encrypted archives made by Info-ZIP", () => {
    const d = mkdtempSync(join(dir, "zp-"));
    writeFileSync(join(d, "eicar.com"), EICAR);
    execFileSync("zip", ["-q", "-P", "secret", "enc.zip", "eicar.com"], { cwd: d });
    const r = scan(readFileSync(join(d, "enc.zip")), "enc.zip");
    expect(r.detections).toEqual([]);
    expect(r.incomplete[0]?.reason).toBe("encrypted");
  });

  it.skipIf(needs("Info-ZIP archives", { tools: ["zip"] }))(
    "agrees with Info-ZIP on a real deflated archive with nested folders",
    () => {
      const d = mkdtempSync(join(dir, "zi-"));
      mkdirSync(join(d, "a/b"), { recursive: true });
      writeFileSync(join(d, "a/b/eicar.com"), EICAR);
      writeFileSync(join(d, "a/clean.txt"), "clean ".repeat(1000));
      execFileSync("zip", ["-q", "-r", "t.zip", "a"], { cwd: d });
      const r = scan(readFileSync(join(d, "t.zip")), "t.zip");
      expect(r.detections.map((x) => x.path)).toEqual(["t.zip!a/b/eicar.com"]);
    },
  );

  it("survives truncated and garbage archives with a clear note", () => {
    const z = makeZip([{ name: "e.com", data: EICAR }]);
    for (const cut of [10, 40]) {
      const r = scan(z.subarray(0, cut), "cut.zip");
      expect(r.errors).toEqual([]);
      expect(r.detections).toEqual([]);
    }
    // cut in the central directory: the member is still found by its local header (as 7z does)
    for (const cut of [z.length - 30, z.length - 1]) {
      const r = scan(z.subarray(0, cut), "cut.zip");
      expect(r.errors).toEqual([]);
      expect(r.detections.map((d) => d.path)).toEqual(["cut.zip!e.com"]);
      expect(r.incomplete.map((i) => i.reason)).toEqual(["corrupt-archive"]);
    }
    const bad = Buffer.from(z);
    bad.writeUInt32LE(0xfffffff0, bad.length - 6); // central directory offset far away
    const r = scan(bad, "bad.zip");
    expect(r.incomplete.map((i) => i.reason)).toEqual(["corrupt-archive"]);
    expect(r.detections.map((d) => d.path)).toEqual(["bad.zip!e.com"]);
  });

  it("fuzzed archives never crash the scan", () => {
    const z = makeZip([
      { name: "a/e.com", data: EICAR },
      { name: "b.txt", data: "x".repeat(300) },
    ]);
    let seed = 1;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (let i = 0; i < 300; i++) {
      const m = Buffer.from(z);
      for (let k = 0; k < 4; k++) m[Math.floor(rnd() * m.length)] = Math.floor(rnd() * 256);
      const r = scan(m, "f.zip");
      expect(r.errors).toEqual([]);
    }
  });
});

describe("hostile tar, gzip and bzip2", () => {
  it.skipIf(needs("fuzzed bzip2 inputs", { tools: ["bzip2"] }))("fuzzed and truncated inputs never crash", () => {
    const d = mkdtempSync(join(dir, "fz-"));
    writeFileSync(join(d, "e.com"), EICAR);
    writeFileSync(join(d, "t.txt"), "text ".repeat(500));
    execFileSync("tar", ["-cf", "a.tar", "e.com", "t.txt"], { cwd: d });
    execFileSync("bzip2", ["-k", "a.tar"], { cwd: d });
    const inputs = [
      readFileSync(join(d, "a.tar")),
      gzipSync(readFileSync(join(d, "a.tar"))),
      readFileSync(join(d, "a.tar.bz2")),
    ];
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (const input of inputs) {
      for (let i = 0; i < 120; i++) {
        const m = Buffer.from(input);
        for (let k = 0; k < 3; k++) m[Math.floor(rnd() * m.length)] = Math.floor(rnd() * 256);
        const cut = i % 3 === 0 ? m.subarray(0, Math.floor(rnd() * m.length)) : m;
        expect(scan(cut, "f").errors).toEqual([]);
      }
    }
  });

  it("a tar header claiming a huge size is reported as truncated", () => {
    const d = mkdtempSync(join(dir, "ts-"));
    writeFileSync(join(d, "x"), "abc");
    execFileSync("tar", ["-cf", "x.tar", "x"], { cwd: d });
    const t = Buffer.from(readFileSync(join(d, "x.tar")));
    t.write("77777777777", 124, "latin1");
    let sum = 0;
    t.fill(0x20, 148, 156);
    for (let i = 0; i < 512; i++) sum += t[i]!;
    t.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "latin1");
    const r = scan(t, "huge.tar");
    expect(r.incomplete.map((i) => i.reason)).toEqual(["corrupt-archive"]);
  });
});

describe("bombs and limits", () => {
  it("stops a zip bomb and reports it as such", () => {
    const zeros = Buffer.alloc(50 * 1024 * 1024);
    const z = makeZip([{ name: "bomb.bin", data: zeros }]);
    expect(z.length).toBeLessThan(100_000);
    const t = Date.now();
    const r = scan(z, "bomb.zip");
    expect(Date.now() - t).toBeLessThan(5000);
    expect(r.detections.map((d) => d.name)).toEqual([BOMB_NAME]);
    expect(r.incomplete[0]).toMatchObject({ reason: "max-ratio", path: "bomb.zip!bomb.bin" });
    expect(r.scannedBytes).toBeLessThan(z.length + 1);
  });

  it("stops a gzip bomb", () => {
    const g = gzipSync(Buffer.alloc(30 * 1024 * 1024));
    const r = scan(g, "bomb.gz");
    expect(r.incomplete[0]?.reason).toBe("max-ratio");
    expect(r.detections[0]?.name).toBe(BOMB_NAME);
  });

  it("a nested zip bomb (zip of zips) is stopped by the scan budget", () => {
    const inner = makeZip([{ name: "z.bin", data: Buffer.alloc(2 * 1024 * 1024) }]);
    const outer = makeZip(Array.from({ length: 40 }, (_, i) => ({ name: `in${i}.zip`, data: inner })));
    const r = scan(outer, "nest.zip", { maxScanSize: 20 * 1024 * 1024, maxRatio: 1e9 });
    expect(r.incomplete.some((i) => i.reason === "max-scansize")).toBe(true);
    expect(r.scannedBytes).toBeLessThanOrEqual(20 * 1024 * 1024);
  });

  it("honours max-recursion and reports it", () => {
    let b: Buffer = makeZip([{ name: "e.com", data: EICAR }]);
    for (let i = 0; i < 5; i++) b = makeZip([{ name: `l${i}.zip`, data: b }]);
    expect(scan(b, "deep.zip").detections.map((d) => d.path)).toEqual([
      "deep.zip!l4.zip!l3.zip!l2.zip!l1.zip!l0.zip!e.com",
    ]);
    const r = scan(b, "deep.zip", { maxRecursion: 3 });
    expect(r.detections).toEqual([]);
    expect(r.incomplete).toEqual([
      expect.objectContaining({ reason: "max-recursion", path: "deep.zip!l4.zip!l3.zip!l2.zip" }),
    ]);
    const alerted = scan(b, "deep.zip", { maxRecursion: 3 }, true);
    expect(alerted.detections.map((d) => d.name)).toEqual(["Heuristics.Limits.Exceeded.MaxRecursion"]);
  });

  it("honours max-files", () => {
    const z = makeZip([
      ...Array.from({ length: 10 }, (_, i) => ({ name: `f${i}`, data: "x" })),
      { name: "last.com", data: EICAR },
    ]);
    const r = scan(z, "many.zip", { maxFiles: 5 });
    expect(r.detections).toEqual([]);
    expect(r.incomplete.map((i) => i.reason)).toEqual(["max-files"]);
    expect(scan(z, "many.zip").detections).toHaveLength(1);
  });

  it("max-filesize skips the file and says so", () => {
    const r = scan(Buffer.from(EICAR), "e.com", { maxFileSize: 10 });
    expect(r.detections).toEqual([]);
    expect(r.incomplete.map((i) => i.reason)).toEqual(["max-filesize"]);
  });
});

describe("gzip, bzip2, tar", () => {
  it("gzip member named from FNAME or the outer name", () => {
    const d = mkdtempSync(join(dir, "gz-"));
    writeFileSync(join(d, "eicar.com"), EICAR);
    execFileSync("gzip", ["-k", "eicar.com"], { cwd: d });
    expect(scan(readFileSync(join(d, "eicar.com.gz")), "x.gz").detections.map((x) => x.path)).toEqual([
      "x.gz!eicar.com",
    ]);
    expect(scan(gzipSync(EICAR), "d/sample.com.gz").detections.map((x) => x.path)).toEqual([
      "d/sample.com.gz!sample.com",
    ]);
  });

  it.skipIf(needs("bzip2 via seek-bzip", { tools: ["bzip2"] }))("bzip2 via seek-bzip, bounded", () => {
    const d = mkdtempSync(join(dir, "bz-"));
    writeFileSync(join(d, "eicar.com"), EICAR);
    writeFileSync(join(d, "zeros"), Buffer.alloc(20 * 1024 * 1024));
    execFileSync("bzip2", ["-k", "eicar.com", "zeros"], { cwd: d });
    expect(scan(readFileSync(join(d, "eicar.com.bz2")), "eicar.com.bz2").detections.map((x) => x.path)).toEqual([
      "eicar.com.bz2!eicar.com",
    ]);
    const bomb = scan(readFileSync(join(d, "zeros.bz2")), "zeros.bz2");
    expect(bomb.incomplete[0]?.reason).toBe("max-ratio");
    const corrupt = Buffer.from(readFileSync(join(d, "eicar.com.bz2")));
    corrupt[20] ^= 0xff;
    const r = scan(corrupt, "c.bz2");
    expect(r.errors).toEqual([]);
    expect(r.incomplete.map((i) => i.reason)).toEqual(["corrupt-archive"]);
  });

  it.skipIf(needs("tar.bz2 nesting", { tools: ["bzip2"] }))(
    "tar in ustar, pax and gnu formats, and tar.gz / tar.bz2 nesting",
    () => {
      const d = mkdtempSync(join(dir, "tar-"));
      const long = "d".repeat(60) + "/" + "e".repeat(60);
      mkdirSync(join(d, "src", long), { recursive: true });
      writeFileSync(join(d, "src", long, "eicar.com"), EICAR);
      writeFileSync(join(d, "src", "clean.txt"), "clean");
      for (const fmt of ["ustar", "pax", "gnu"]) {
        execFileSync("tar", ["-c", `--format=${fmt}`, "-f", `${fmt}.tar`, "src"], { cwd: d });
        const r = scan(readFileSync(join(d, `${fmt}.tar`)), `${fmt}.tar`);
        expect(r.detections.map((x) => x.path)).toEqual([`${fmt}.tar!src/${long}/eicar.com`]);
      }
      execFileSync("tar", ["-czf", "t.tgz", "src"], { cwd: d });
      execFileSync("tar", ["-cjf", "t.tbz2", "src"], { cwd: d });
      expect(scan(readFileSync(join(d, "t.tgz")), "t.tgz").detections.map((x) => x.path)).toEqual([
        `t.tgz!t!src/${long}/eicar.com`,
      ]);
      expect(scan(readFileSync(join(d, "t.tbz2")), "t.tbz2").detections.map((x) => x.path)).toEqual([
        `t.tbz2!t!src/${long}/eicar.com`,
      ]);
      const tr = readFileSync(join(d, "pax.tar"));
      const cut = scan(tr.subarray(0, 1500), "cut.tar");
      expect(cut.errors).toEqual([]);
    },
  );

  it("escapes control characters in member names", () => {
    const z = makeZip([{ name: "evil\n/x: OK\r.com", data: EICAR }]);
    const r = scan(z, "n.zip");
    expect(r.detections[0]?.path).toBe("n.zip!evil\\x0a/x: OK\\x0d.com");
  });

  it("deflate data that does not decode is reported, not thrown", () => {
    const z = makeZip([{ name: "x", data: "abc", method: 0 }]);
    // declare the stored member as deflated garbage
    const m = Buffer.from(z);
    m.writeUInt16LE(8, 8); // local method
    const cdAt = m.indexOf(Buffer.from([0x50, 0x4b, 1, 2]));
    m.writeUInt16LE(8, cdAt + 10);
    m.write("\xff\xff\xff", 30 + 1, "latin1");
    const r = scan(m, "g.zip");
    expect(r.errors).toEqual([]);
    void deflateRawSync;
  });
});

describe.skipIf(needs("xz (our LZMA2 decoder) vs xz", { tools: ["xz"] }))("xz (our LZMA2 decoder)", () => {
  it("decodes what xz writes: presets, lc/lp/pb variants, blocks, checks, concatenated streams", () => {
    const text = Buffer.from("the quick brown fox jumps over the lazy dog 0123456789\n".repeat(5000));
    const bin = readFileSync(process.execPath).subarray(0, 400_000);
    const mixed = Buffer.concat([text.subarray(0, 50_000), bin.subarray(0, 200_000), text]);
    for (const data of [text, bin, mixed, Buffer.alloc(0)]) {
      for (const args of [
        ["-0"],
        ["-6"],
        ["-9e"],
        ["--lzma2=lc=0,lp=2,pb=0"],
        ["--lzma2=lc=4,lp=0,pb=4"],
        ["--block-size=10000"],
        ["-C", "sha256"],
        ["-C", "none"],
      ]) {
        const xz = execFileSync("xz", ["-c", ...args], { input: data, maxBuffer: 1 << 28 });
        expect(Buffer.from(unxz(xz, 1 << 28)).equals(data)).toBe(true);
      }
    }
    const two = Buffer.concat([
      execFileSync("xz", ["-c"], { input: text }),
      Buffer.alloc(8),
      execFileSync("xz", ["-c"], { input: bin }),
    ]);
    expect(Buffer.from(unxz(two, 1 << 28)).equals(Buffer.concat([text, bin]))).toBe(true);
  });

  it("finds EICAR in .xz and .tar.xz, stops xz bombs, reports BCJ filters as unsupported", () => {
    const d = mkdtempSync(join(dir, "xz-"));
    writeFileSync(join(d, "eicar.com"), EICAR);
    execFileSync("tar", ["-cJf", "e.tar.xz", "eicar.com"], { cwd: d });
    execFileSync("xz", ["-k", "eicar.com"], { cwd: d });
    expect(scan(readFileSync(join(d, "eicar.com.xz")), "eicar.com.xz").detections.map((x) => x.path)).toEqual([
      "eicar.com.xz!eicar.com",
    ]);
    expect(scan(readFileSync(join(d, "e.tar.xz")), "e.tar.xz").detections.map((x) => x.path)).toEqual([
      "e.tar.xz!e.tar!eicar.com",
    ]);
    const bomb = execFileSync("xz", ["-c"], { input: Buffer.alloc(40 * 1024 * 1024), maxBuffer: 1 << 28 });
    const r = scan(bomb, "zeros.xz");
    expect(r.incomplete.map((i) => i.reason)).toEqual(["max-ratio"]);
    expect(r.detections.map((x) => x.name)).toEqual([BOMB_NAME]);
    const bcj = execFileSync("xz", ["-c", "--x86", "--lzma2"], { input: Buffer.from(EICAR) });
    expect(scan(bcj, "x.xz").incomplete.map((i) => i.reason)).toEqual(["unsupported"]);
  });

  it("fuzzed and truncated xz never crashes or hangs", () => {
    const src = execFileSync("xz", ["-c"], {
      input: Buffer.concat([Buffer.from(EICAR), readFileSync(process.execPath).subarray(0, 20_000)]),
    });
    let seed = 3;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const t = Date.now();
    for (let i = 0; i < 300; i++) {
      const m = Buffer.from(src);
      for (let k = 0; k < 3; k++) m[12 + Math.floor(rnd() * (m.length - 12))] = Math.floor(rnd() * 256);
      const cut = i % 4 === 0 ? m.subarray(0, 12 + Math.floor(rnd() * (m.length - 12))) : m;
      expect(scan(cut, "f.xz").errors).toEqual([]);
    }
    expect(Date.now() - t).toBeLessThan(20_000);
  });
});

describe("zip-based containers", () => {
  it("Office documents, JAR and APK are opened as zip", () => {
    const docx = makeZip([
      { name: "[Content_Types].xml", data: "<Types/>" },
      { name: "word/embeddings/oleObject1.bin", data: EICAR },
    ]);
    expect(scan(docx, "report.docx").detections.map((d) => d.path)).toEqual([
      "report.docx!word/embeddings/oleObject1.bin",
    ]);
    const jar = makeZip([
      { name: "META-INF/MANIFEST.MF", data: "Manifest-Version: 1.0\n" },
      { name: "lib/inner.jar", data: makeZip([{ name: "a/B.class", data: EICAR }]) },
    ]);
    expect(scan(jar, "app.jar").detections.map((d) => d.path)).toEqual(["app.jar!lib/inner.jar!a/B.class"]);
    const apk = makeZip([
      { name: "AndroidManifest.xml", data: "x" },
      { name: "assets/payload.bin", data: EICAR },
    ]);
    expect(scan(apk, "app.apk").detections.map((d) => d.name)).toEqual(["Win.Test.EICAR_HDB-1"]);
  });
});
