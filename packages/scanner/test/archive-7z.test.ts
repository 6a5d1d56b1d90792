// Issue 15: the formats 7-Zip (7z-wasm) opens for the scanner. Fixtures are made here: by
// p7zip, arj, gcab and genisoimage when present (skipped with the reason otherwise), and byte by
// byte for RAR 4/5 and CAB (./helpers/sevenzip-fixtures.ts). Each format is also truncated,
// corrupted and, where it compresses, bombed: "not fully scanned" with the reason, never OK.
import { describe, expect, it, beforeAll, afterEach } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { scanBytes, BOMB_NAME, DEFAULT_LIMITS, sniffArchive, type Limits } from "../src/index.js";
import { setSevenZipTimeout } from "../src/archive/sevenzip/index.js";
import { runSevenZip } from "../src/archive/sevenzip/engine.js";
import { EICAR, EICAR_YARA, needs } from "@vigil/test-kit";
import { withRules } from "./helpers/detector.js";
import { cab, rar4, rar5 } from "./helpers/sevenzip-fixtures.js";

const detector = withRules(`rule EICAR_Test_File { strings: $e = "${EICAR_YARA}" condition: $e at 0 }`).detector;
const scan = (b: Uint8Array, name: string, over: Partial<Limits> = {}) =>
  scanBytes(detector, b, name, { limits: { ...DEFAULT_LIMITS, ...over } });
const paths = (r: ReturnType<typeof scan>) => r.detections.map((d) => d.path).sort();
const reasons = (r: ReturnType<typeof scan>) => r.incomplete.map((i) => i.reason);
/** Never "OK": a detection, or "not fully scanned". */
const notClean = (r: ReturnType<typeof scan>) => r.detections.length > 0 || r.incomplete.length > 0;

let dir: string;
let n = 0;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "vigil-7z-"));
});

/** A fresh folder with `files` in it. */
function tree(files: Record<string, string | Uint8Array>): string {
  const d = join(dir, `t${n++}`);
  for (const [name, data] of Object.entries(files)) {
    mkdirSync(join(d, name, ".."), { recursive: true });
    writeFileSync(join(d, name), data);
  }
  return d;
}

function run(tool: string, args: string[], cwd: string, input?: Uint8Array): void {
  const r = spawnSync(tool, args, { cwd, input, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${tool} ${args.join(" ")}: ${r.stderr?.toString() ?? r.error}`);
}

/** `7z a` with `args` over a tree holding dir/eicar.com and two other files. */
function make7z(args: string[], files: Record<string, string | Uint8Array> = {}): Buffer {
  const d = tree({ "dir/eicar.com": EICAR, "readme.txt": "hello ".repeat(500), ...files });
  run("7z", ["a", "-bd", ...args, "out.7z", "dir", "readme.txt", ...Object.keys(files)], d);
  return readFileSync(join(d, "out.7z"));
}

/** x86 code-like bytes, so the BCJ filters have calls to convert. */
function codeLike(size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i + 5 <= size; i += 7) {
    b[i] = 0xe8;
    b.writeInt32LE((i * 31) % 4096, i + 1);
  }
  return b;
}

afterEach(() => setSevenZipTimeout(30_000));

describe("recognised by magic bytes, never by name", () => {
  it("sniffs each format and leaves look-alikes alone", () => {
    expect(sniffArchive(rar4([{ name: "a", data: "x" }]))).toBe("rar");
    expect(sniffArchive(rar5([{ name: "a", data: "x" }]))).toBe("rar5");
    const c = cab([{ name: "a", data: Buffer.from("x") }], "none");
    expect(sniffArchive(c)).toBe("cab");
    const notCab = Buffer.from(c);
    notCab[5] = 1; // reserved field must be zero
    expect(sniffArchive(notCab)).toBeUndefined();
    expect(sniffArchive(Buffer.from("7z\xbc\xaf'\x1c but short", "latin1"))).toBeUndefined();
    // a PE without the NSIS first header is not an installer (it is a PE, opened as one)
    const pe = Buffer.alloc(4096);
    pe.write("MZ");
    pe.writeUInt32LE(0x80, 0x3c);
    pe.write("PE\0\0", 0x80, "latin1");
    expect(sniffArchive(pe)).not.toBe("nsis");
    pe.writeUInt32LE(0xdeadbeef, 1024 + 4);
    pe.write("NullsoftInst", 1024 + 8, "latin1");
    expect(sniffArchive(pe)).toBe("nsis");
  });
});

describe.skipIf(needs("7z archives made by p7zip", { tools: ["7z"] }))("7z", () => {
  const methods: [string, string[], Record<string, string | Uint8Array>?][] = [
    ["LZMA", ["-m0=LZMA"]],
    ["LZMA2", ["-m0=LZMA2"]],
    ["PPMd", ["-m0=PPMd"]],
    ["BZip2", ["-m0=BZip2"]],
    ["Deflate", ["-m0=Deflate"]],
    ["Copy", ["-m0=Copy"]],
    ["BCJ + LZMA", ["-mf=BCJ", "-m0=LZMA"], { "prog.exe": codeLike(20_000) }],
    ["BCJ2 + LZMA", ["-mf=BCJ2", "-m0=LZMA"], { "prog.exe": codeLike(20_000) }],
    ["solid LZMA2 block", ["-ms=on", "-m0=LZMA2"], { "more/a.txt": "a".repeat(3000), "more/b.bin": codeLike(9000) }],
  ];
  for (const [label, args, extra] of methods) {
    it(`${label}: EICAR found as out.7z!dir/eicar.com, nothing left unscanned`, () => {
      const r = scan(make7z(args, extra), "out.7z");
      expect(r.errors).toEqual([]);
      expect(r.incomplete).toEqual([]);
      expect(paths(r)).toEqual(["out.7z!dir/eicar.com"]);
    });
  }

  it("a clean archive is read in one run of 7-Zip; one holding a link is also listed, the link reported", () => {
    expect(runSevenZip(make7z([]), "7z", 1 << 20).list).toBeNull();
    const d = tree({ "d/eicar.com": EICAR });
    run("ln", ["-s", "eicar.com", join(d, "d/link")], d);
    run("7z", ["a", "-snl", "out.7z", "d"], d);
    const archive = readFileSync(join(d, "out.7z"));
    expect(runSevenZip(archive, "7z", 1 << 20).list).not.toBeNull();
    const r = scan(archive, "out.7z");
    expect(paths(r)).toEqual(["out.7z!d/eicar.com"]);
    expect(r.incomplete.map((i) => i.path)).toEqual(["out.7z!d/link"]);
  });

  it("an encrypted member is reported encrypted at its path; encrypted headers on the archive", () => {
    const enc = scan(make7z(["-psecret"]), "enc.7z");
    expect(enc.detections).toEqual([]);
    expect(enc.incomplete.filter((i) => i.reason === "encrypted").map((i) => i.path)).toContain("enc.7z!dir/eicar.com");
    const hidden = scan(make7z(["-psecret", "-mhe=on"]), "hidden.7z");
    expect(hidden.detections).toEqual([]);
    expect(hidden.incomplete).toEqual([
      expect.objectContaining({
        reason: "encrypted",
        path: "hidden.7z",
        message: expect.stringMatching(/encrypted headers/),
      }),
    ]);
  });

  it("every truncation is reported not fully scanned; a damaged stream keeps the bytes before the damage", () => {
    const good = make7z(["-m0=LZMA2"]);
    for (let cut = 32; cut < good.length; cut += 23) {
      const r = scan(good.subarray(0, cut), "cut.7z");
      expect(notClean(r), `cut at ${cut}`).toBe(true);
      expect(r.incomplete.length, `cut at ${cut}`).toBeGreaterThan(0);
      expect(r.errors).toEqual([]);
    }
    const bad = Buffer.from(make7z(["-m0=Copy"]));
    const at = bad.indexOf("hello");
    bad[at + 100] ^= 0xff; // in readme.txt's bytes: its CRC no longer matches
    const r = scan(bad, "crc.7z");
    expect(paths(r)).toEqual(["crc.7z!dir/eicar.com"]);
    expect(r.incomplete).toEqual([
      expect.objectContaining({
        reason: "corrupt-archive",
        path: "crc.7z!readme.txt",
        message: expect.stringMatching(/CRC/),
      }),
    ]);
  });

  it("a bomb (64 MiB of zeros in a few KiB) is stopped at the ratio limit and reported", () => {
    const d = tree({ "readme.txt": "" });
    run("7z", ["a", "-bd", "-si", "-mx1", "bomb.7z"], d, Buffer.alloc(64 << 20));
    const b = readFileSync(join(d, "bomb.7z"));
    expect(b.length).toBeLessThan(64 << 10);
    const t = Date.now();
    const r = scan(b, "bomb.7z", { ratioFloor: 1 << 20, maxRatio: 250 });
    expect(Date.now() - t).toBeLessThan(20_000);
    expect(reasons(r)).toEqual(["max-ratio"]);
    expect(r.incomplete[0]!.path).toMatch(/^bomb\.7z!/);
    expect(r.detections.map((x) => x.name)).toEqual([BOMB_NAME]);
  });

  it("nesting deeper than the recursion limit is reported; EICAR within it is found", () => {
    let inner: Buffer = Buffer.from(EICAR);
    let name = "eicar.com";
    for (let level = 0; level < 6; level++) {
      const d = tree({ [name]: inner });
      run("7z", ["a", "-bd", `l${level}.7z`, name], d);
      inner = readFileSync(join(d, `l${level}.7z`));
      name = `l${level}.7z`;
    }
    const deep = scan(inner, "top.7z", { maxRecursion: 3 });
    expect(deep.detections).toEqual([]);
    expect(reasons(deep)).toEqual(["max-recursion"]);
    const ok = scan(inner, "top.7z", { maxRecursion: 10 });
    expect(paths(ok)).toEqual(["top.7z!l4.7z!l3.7z!l2.7z!l1.7z!l0.7z!eicar.com"]);
    expect(ok.incomplete).toEqual([]);
  });

  it("7-Zip past its time limit is stopped, reported max-scantime, and the next archive opens", () => {
    // 16 MB to decode: far more than the 1 ms allowed, however fast the machine
    const big = make7z(["-m0=LZMA2"], { "big.bin": codeLike(16 << 20) });
    setSevenZipTimeout(1);
    const slow = scan(big, "slow.7z");
    expect(slow.incomplete).toEqual([expect.objectContaining({ reason: "max-scantime", path: "slow.7z" })]);
    setSevenZipTimeout(30_000);
    expect(paths(scan(make7z(["-m0=LZMA2"]), "again.7z"))).toEqual(["again.7z!dir/eicar.com"]);
  });
});

describe("RAR 4 and RAR 5 (stored members, built byte by byte)", () => {
  const files = [
    { name: "readme.txt", data: "hello" },
    { name: "dir/eicar.com", data: EICAR },
  ];
  for (const [label, build, name] of [
    ["RAR 4", () => rar4(files.map((f) => ({ ...f, name: f.name.replace("/", "\\") }))), "a.rar"],
    ["RAR 5", () => rar5(files), "b.rar"],
  ] as const) {
    it(`${label}: EICAR found; a flipped byte is a CRC failure; truncations are never OK`, () => {
      const good = build();
      const r = scan(good, name);
      expect(r.incomplete).toEqual([]);
      expect(paths(r)).toEqual([`${name}!dir/eicar.com`]);

      const bad = Buffer.from(good);
      bad[bad.indexOf("EICAR") + 2] ^= 0x20;
      const c = scan(bad, name);
      expect(c.detections).toEqual([]);
      expect(c.incomplete).toEqual([
        expect.objectContaining({
          reason: "corrupt-archive",
          path: `${name}!dir/eicar.com`,
          message: expect.stringMatching(/CRC/),
        }),
      ]);

      // cut inside EICAR's bytes, and inside its header
      const data = good.indexOf("X5O!");
      for (const cut of [data + 30, data - 10]) {
        const t = scan(good.subarray(0, cut), name);
        expect(t.incomplete.length, `cut at ${cut}`).toBeGreaterThan(0);
        expect(t.detections).toEqual([]);
      }
    });
  }
});

describe("CAB (built byte by byte: stored and MSZIP)", () => {
  const members = [
    { name: "readme.txt", data: Buffer.from("hello ".repeat(3000)) },
    { name: "eicar.com", data: Buffer.from(EICAR) },
  ];
  for (const method of ["none", "mszip"] as const) {
    it(`${method}: EICAR found; corrupted and truncated cabinets are never OK`, () => {
      const good = cab(members, method);
      const r = scan(good, "a.cab");
      expect(r.incomplete).toEqual([]);
      expect(paths(r)).toEqual(["a.cab!eicar.com"]);
      for (let cut = 40; cut < good.length; cut += Math.ceil(good.length / 25)) {
        const t = scan(good.subarray(0, cut), "cut.cab");
        expect(t.incomplete.length, `cut at ${cut}`).toBeGreaterThan(0);
      }
      const bad = Buffer.from(good);
      bad[bad.length - 20] ^= 0x55; // the last data block no longer matches its checksum
      const c = scan(bad, "bad.cab");
      expect(c.detections).toEqual([]);
      expect(reasons(c)).toContain("corrupt-archive");
    });
  }

  it("an MSZIP bomb (50 MB of zeros in ~90 KB) is stopped at the ratio limit", () => {
    const b = cab([{ name: "zeros.bin", data: Buffer.alloc(50_000_000) }], "mszip");
    const r = scan(b, "bomb.cab");
    expect(reasons(r)).toEqual(["max-ratio"]);
    expect(r.incomplete[0]!.path).toBe("bomb.cab!zeros.bin");
    expect(r.detections.map((x) => x.name)).toEqual([BOMB_NAME]);
  });

  it("a member whose declared size lies (1 KB declared, 50 MB in the folder) yields at most what it declares", () => {
    const b = cab([{ name: "liar.bin", data: Buffer.alloc(50_000_000) }], "mszip", 1000);
    const r = scan(b, "liar.cab");
    expect(r.scannedBytes).toBeLessThan(b.length + 2000);
    expect(r.errors).toEqual([]);
  });

  it.skipIf(needs("cabinets made by gcab", { tools: ["gcab"] }))("gcab's MSZIP cabinets", () => {
    const d = tree({ "eicar.com": EICAR, "readme.txt": "hello ".repeat(1000) });
    run("gcab", ["-c", "-z", "g.cab", "eicar.com", "readme.txt"], d);
    expect(paths(scan(readFileSync(join(d, "g.cab")), "g.cab"))).toEqual(["g.cab!eicar.com"]);
  });
});

describe.skipIf(needs("ARJ archives made by arj", { tools: ["arj"] }))("ARJ", () => {
  it("EICAR found; truncated and corrupted archives are never OK", () => {
    const d = tree({ "eicar.com": EICAR, "readme.txt": "hello ".repeat(1000) });
    run("arj", ["a", "-y", "x.arj", "eicar.com", "readme.txt"], d);
    const good = readFileSync(join(d, "x.arj"));
    expect(sniffArchive(good)).toBe("arj");
    expect(paths(scan(good, "x.arj"))).toEqual(["x.arj!eicar.com"]);
    for (let cut = 40; cut < good.length; cut += 17) {
      const t = scan(good.subarray(0, cut), "cut.arj");
      expect(notClean(t), `cut at ${cut}`).toBe(true);
    }
    const bad = Buffer.from(good);
    bad[bad.indexOf("hello") + 50] ^= 0xff;
    expect(reasons(scan(bad, "bad.arj"))).toContain("corrupt-archive");
  });
});

describe.skipIf(needs("ISO and UDF images made by genisoimage", { tools: ["genisoimage"] }))("ISO 9660 and UDF", () => {
  it("ISO 9660, UDF bridge and UDF-only images; a truncated image is never OK", () => {
    const d = tree({ "src/dir/eicar.com": EICAR, "src/readme.txt": "hello" });
    run("genisoimage", ["-quiet", "-R", "-J", "-o", "a.iso", "src"], d);
    run("genisoimage", ["-quiet", "-udf", "-R", "-J", "-o", "u.iso", "src"], d);
    const iso = readFileSync(join(d, "a.iso"));
    const udf = Buffer.from(readFileSync(join(d, "u.iso")));
    expect(sniffArchive(iso)).toBe("iso");
    expect(paths(scan(iso, "a.iso"))).toEqual(["a.iso!dir/eicar.com"]);
    expect(paths(scan(udf, "u.iso"))).toEqual(["u.iso!dir/eicar.com"]);
    udf.fill(0, 16 * 2048, 19 * 2048); // no ISO 9660 descriptors left: UDF only
    expect(sniffArchive(udf)).toBe("udf");
    expect(paths(scan(udf, "u-only.img"))).toEqual(["u-only.img!dir/eicar.com"]);
    const cut = scan(iso.subarray(0, 60_000), "cut.iso");
    expect(cut.detections).toEqual([]);
    expect(reasons(cut)).toEqual(["corrupt-archive"]);
  });
});

describe.skipIf(needs("CHM and NSIS files of clamav-testfiles", { debianFiles: ["/usr/share/clamav-testfiles"] }))(
  "CHM and NSIS (clamav-testfiles, damaged in memory)",
  () => {
    it("clam.chm and clam-nsis.exe yield clam.exe; truncated and corrupted copies are never OK", () => {
      const clamExe = readFileSync("/usr/share/clamav-testfiles/clam.exe");
      const clamRule = withRules(
        `rule Clam { strings: $a = { ${clamExe.subarray(0, 64).toString("hex")} } condition: $a at 0 }`,
      ).detector;
      const s = (b: Uint8Array, name: string) => scanBytes(clamRule, b, name, { limits: DEFAULT_LIMITS });
      for (const [file, member] of [
        ["clam.chm", "clam.chm!clam.exe.txt"],
        ["clam-nsis.exe", "clam-nsis.exe!clam.exe"],
      ] as const) {
        const b = readFileSync(`/usr/share/clamav-testfiles/${file}`);
        const r = s(b, file);
        expect(r.detections.map((d) => d.path)).toContain(member);
        expect(r.incomplete).toEqual([]);
        // (an installer cut before its NSIS first header is no longer one: cut after it)
        const start = file === "clam.chm" ? 0 : b.indexOf("NullsoftInst") + 12;
        for (const cut of [start + Math.floor((b.length - start) / 3), b.length - 200, b.length - 5]) {
          const t = s(b.subarray(0, cut), file);
          expect(t.incomplete.length, `${file} cut at ${cut}`).toBeGreaterThan(0);
        }
        const bad = Buffer.from(b);
        for (let i = Math.floor(b.length / 2); i < b.length; i += 97) bad[i] ^= 0xa5;
        expect(notClean(s(bad, file))).toBe(true);
      }
    });
  },
);

it("the fixtures folder is only the test's own", () => {
  expect(readdirSync(dir).length).toBeGreaterThan(0);
});
