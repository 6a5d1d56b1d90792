// cpio (every -H form of GNU cpio, and binary in both byte orders), SZDD and SIS: members found
// and named outer!inner; truncated, corrupted and bombed forms give "not fully scanned", never
// a crash, a hang or a clean result.
import { describe, expect, it, beforeAll } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateSync, gzipSync } from "node:zlib";
import { DEFAULT_LIMITS, scanBytes, sniffArchive, readArchive, type Limits } from "../src/index.js";
import { EICAR, mulberry32, needs } from "@vigil/test-kit";
import { starter } from "./helpers/detector.js";

const limits = (over: Partial<Limits> = {}): Limits => ({ ...DEFAULT_LIMITS, ...over });
const scan = (b: Uint8Array, name = "t", over: Partial<Limits> = {}) =>
  scanBytes(starter().detector, b, name, { limits: limits(over) });
const EICAR_NAME = "Win.Test.EICAR_HDB-1";

/** Never clean: found something or said what it could not read. Never throws. */
function neverClean(b: Uint8Array, name: string, over: Partial<Limits> = {}) {
  const r = scan(b, name, over);
  expect(r.errors, name).toEqual([]);
  expect(r.detections.length + r.incomplete.length, `${name} (${b.length} bytes) reported clean`).toBeGreaterThan(0);
  return r;
}

function flips(b: Uint8Array, seed: number, n = 60): Uint8Array[] {
  const rnd = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const c = Uint8Array.from(b);
    for (let k = 0; k < 4; k++) c[Math.floor(rnd() * c.length)] = Math.floor(rnd() * 256);
    return c;
  });
}

/** Old binary cpio, byte-swapped: the same archive as a big-endian machine writes it. */
function swapBinaryCpio(le: Uint8Array): Uint8Array {
  const b = Uint8Array.from(le);
  let p = 0;
  const w = (i: number) => b[p + i]! | (b[p + i + 1]! << 8);
  while (p + 26 <= b.length && b[p] === 0xc7 && b[p + 1] === 0x71) {
    const namesize = w(20);
    const filesize = w(22) * 0x10000 + w(24);
    for (let i = 0; i < 26; i += 2) [b[p + i], b[p + i + 1]] = [b[p + i + 1]!, b[p + i]!];
    p += 26 + namesize + (namesize & 1);
    p += filesize + (filesize & 1);
  }
  return b;
}

describe.skipIf(needs("cpio fixtures", { tools: ["cpio"] }))("cpio: every form GNU cpio writes", () => {
  let dir: string;
  const archives = new Map<string, Uint8Array>();
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "vigil-cpio-"));
    execFileSync("mkdir", ["-p", join(dir, "in/sub")]);
    writeFileSync(join(dir, "in/sub/eicar.com"), EICAR);
    writeFileSync(join(dir, "in/readme.txt"), "odd length!");
    writeFileSync(join(dir, "in/inner.gz"), gzipSync(Buffer.from(EICAR)));
    for (const form of ["bin", "odc", "newc", "crc", "hpodc"]) {
      const out = execFileSync("sh", ["-c", `cd in && find . | sort | cpio -o -H ${form} 2>/dev/null`], { cwd: dir });
      archives.set(form, new Uint8Array(out));
    }
    archives.set("bin-be", swapBinaryCpio(archives.get("bin")!));
  });

  it("finds EICAR in plain and gzipped members, printed outer!inner, in every form", () => {
    for (const [form, b] of archives) {
      expect(sniffArchive(b), form).toBe("cpio");
      const r = scan(b, `a.${form}.cpio`);
      expect(r.detections.map((d) => [d.path, d.name]).sort(), form).toEqual([
        [`a.${form}.cpio!inner.gz!inner`, EICAR_NAME],
        [`a.${form}.cpio!sub/eicar.com`, EICAR_NAME],
      ]);
      expect(r.incomplete, form).toEqual([]);
      const names = [...readArchive("cpio", b, "x", () => 1 << 20)].map((m) => [m.name, m.data?.length]);
      expect(names, form).toEqual([
        ["inner.gz", gzipSync(Buffer.from(EICAR)).length],
        ["readme.txt", 11],
        ["sub/eicar.com", 68],
      ]);
    }
  });

  it("truncated at every length: the bytes that are there are scanned, and it is never clean", () => {
    for (const [form, b] of archives) {
      const end = b.length - [...b].reverse().findIndex((x) => x !== 0); // the trailer's end
      // binary headers are 26 bytes and their magic only 2: shorter prefixes are not cpio
      for (let n = form.startsWith("bin") ? 30 : 6; n < end - 20; n += 7) {
        const r = neverClean(b.subarray(0, n), `${form}:${n}`);
        if (!r.detections.length)
          expect(
            r.incomplete.some((i) => i.reason === "corrupt-archive" || i.reason === "unsupported"),
            `${form}:${n}`,
          ).toBe(true);
      }
    }
  });

  it("corrupted bytes never crash and never hang", () => {
    for (const [form, b] of archives) for (const c of flips(b, form.length)) scan(c, form);
  });

  it("a header that lies (name past the end, bad digits) is reported with its offset", () => {
    const newc = Uint8Array.from(archives.get("newc")!);
    newc.set(Buffer.from("FFFFFFFF"), 94); // namesize of the first header
    const r = neverClean(newc, "lie.cpio");
    expect(r.incomplete[0]).toMatchObject({ reason: "corrupt-archive", path: "lie.cpio" });
    expect(r.incomplete[0]!.message).toMatch(/cpio header 1 at offset 0: name of \d+ bytes runs past the end/);
    const odc = Uint8Array.from(archives.get("odc")!);
    odc.set(Buffer.from("9"), 65 + 3); // a non-octal digit in the first filesize
    expect(neverClean(odc, "bad.cpio").incomplete[0]!.message).toMatch(/cpio header 1 at offset 0/);
  });

  it("many members: the files limit stops the walk and says so", () => {
    const many = execFileSync(
      "sh",
      [
        "-c",
        "mkdir -p many && cd many && for i in $(seq 1 40); do echo $i > f$i; done && ls | cpio -o -H newc 2>/dev/null",
      ],
      { cwd: dir },
    );
    const r = scan(many, "many.cpio", { maxFiles: 10 });
    expect(r.incomplete).toEqual([expect.objectContaining({ reason: "max-files", path: "many.cpio" })]);
  });

  it("ClamAV's test files: the four cpio forms give clam.exe by name", () => {
    if (needs("clamav-testfiles cpio", { debianFiles: ["/usr/share/clamav-testfiles"] })) return;
    for (const f of ["clam.odc.cpio", "clam.newc.cpio", "clam.bin-le.cpio", "clam.bin-be.cpio"]) {
      const b = readFileSync(join("/usr/share/clamav-testfiles", f));
      const members = [...readArchive("cpio", b, f, () => 1 << 20)];
      expect(
        members.map((m) => [m.name, m.data?.length, m.problem]),
        f,
      ).toEqual([["clam.exe", 544, undefined]]);
    }
  });
});

/** An SZDD encoder: greedy LZSS over the 4096-byte window, as COMPRESS.EXE's format defines. */
function szdd(data: Uint8Array, missing = "m"): Uint8Array {
  const out: number[] = [0x53, 0x5a, 0x44, 0x44, 0x88, 0xf0, 0x27, 0x33, 0x41, missing.charCodeAt(0)];
  out.push(data.length & 0xff, (data.length >> 8) & 0xff, (data.length >> 16) & 0xff, (data.length >>> 24) & 0xff);
  const window = new Uint8Array(4096).fill(0x20);
  let pos = 4080;
  let i = 0;
  while (i < data.length) {
    const flagAt = out.length;
    out.push(0);
    for (let bit = 0; bit < 8 && i < data.length; bit++) {
      // the longest match in the window (the window as it will be while copying)
      let best = 0;
      let bestAt = 0;
      for (let s = 0; s < 4096 && best < 18; s++) {
        if (((pos - s) & 0xfff) < 18) continue; // a source the copy would overwrite
        let n = 0;
        while (n < 18 && i + n < data.length && window[(s + n) & 0xfff] === data[i + n]) n++;
        if (n > best) {
          best = n;
          bestAt = s;
        }
      }
      if (best >= 3) {
        out.push(bestAt & 0xff, ((bestAt >> 4) & 0xf0) | (best - 3));
        for (let k = 0; k < best; k++) {
          window[pos] = data[i]!;
          pos = (pos + 1) & 0xfff;
          i++;
        }
      } else {
        out[flagAt]! |= 1 << bit;
        out.push(data[i]!);
        window[pos] = data[i]!;
        pos = (pos + 1) & 0xfff;
        i++;
      }
    }
  }
  return Uint8Array.from(out);
}

describe("SZDD (MS compress)", () => {
  const payload = Buffer.from(`${EICAR}\n${"    padding padding padding ".repeat(20)}${EICAR}`);
  const packed = szdd(Buffer.from(EICAR));

  it("decodes literals and window references; the member takes back the name's last letter", () => {
    const rich = szdd(payload);
    expect(rich.length).toBeLessThan(payload.length / 2); // references were used
    expect(sniffArchive(rich)).toBe("szdd");
    const [m] = [...readArchive("szdd", rich, "dir/eicar.co_", () => 1 << 20)];
    expect(m!.name).toBe("eicar.com");
    expect(Buffer.from(m!.data!).equals(payload)).toBe(true);
    const r = scan(packed, "dir/eicar.co_");
    expect(r.detections.map((d) => d.path)).toEqual(["dir/eicar.co_!eicar.com"]);
    expect(r.incomplete).toEqual([]);
  });

  it("the spaces of the initial window are data too (a reference before any literal)", () => {
    const spaces = Buffer.from(`${" ".repeat(30)}${EICAR}`);
    const [m] = [...readArchive("szdd", szdd(spaces), "s.tx_", () => 1 << 20)];
    expect(Buffer.from(m!.data!).toString()).toBe(spaces.toString());
  });

  it("truncated: the bytes before the cut are scanned, and it is never clean", () => {
    for (let n = 14; n < packed.length; n += 5) {
      const r = neverClean(packed.subarray(0, n), `cut${n}`);
      expect(r.incomplete[0]?.message ?? "", `cut${n}`).toMatch(/SZDD data ends after \d+ of the \d+ bytes|^$/);
    }
  });

  it("a header announcing more than the data holds, and corrupted bytes: reported, never a crash", () => {
    const lie = Uint8Array.from(packed);
    lie[13] = 0x7f; // ~2 GB announced
    const r = neverClean(lie, "lie._");
    expect(r.detections.map((d) => d.path)).toEqual(["lie._!lie.m"]);
    expect(r.incomplete[0]!.reason).toBe("corrupt-archive");
    for (const c of flips(packed, 7)) scan(c, "x._");
  });

  it("a bomb (runs of references) stops at the ratio limit", () => {
    const zeros = szdd(new Uint8Array(20000));
    const r = scan(zeros, "bomb._", { maxRatio: 2, ratioFloor: 1000 });
    expect(r.incomplete.map((i) => i.reason)).toEqual(["max-ratio"]);
  });

  it("ClamAV's clam.exe.szdd gives clam.exe", () => {
    if (needs("clamav-testfiles szdd", { debianFiles: ["/usr/share/clamav-testfiles"] })) return;
    const b = readFileSync("/usr/share/clamav-testfiles/clam.exe.szdd");
    const [m] = [...readArchive("szdd", b, "clam.exe.szdd", () => 1 << 20)];
    expect(m!.name).toBe("clam.exe");
    expect(m!.data!.length).toBe(544);
    expect(m!.problem).toBeUndefined();
  });
});

/** An EPOC 6 SIS package with the given files (zlib-compressed unless `stored`). */
function sis(files: { name: string; data: Uint8Array }[], stored = false): Uint8Array {
  const head = Buffer.alloc(84);
  head.writeUInt32LE(0x10000000, 0);
  head.writeUInt32LE(0x10003a12, 4);
  head.writeUInt32LE(0x10000419, 8);
  head.writeUInt16LE(1, 18); // languages
  head.writeUInt16LE(files.length, 20);
  head.writeUInt16LE(1 | (stored ? 8 : 0), 36); // unicode names; stored when bit 3
  head.writeUInt32LE(84, 48); // language list
  const langs = Buffer.from([1, 0]); // English
  const recordsAt = 84 + 2;
  const records: Buffer[] = [];
  const blobs: Buffer[] = [];
  let blobAt = recordsAt + files.length * (4 + 24 + 12 + 8);
  const recordSize = 4 + 24 + 12 + 8;
  files.forEach((f) => {
    const name = Buffer.from(`C:\\src\\${f.name}`, "utf16le");
    const body = stored ? Buffer.from(f.data) : deflateSync(f.data);
    const r = Buffer.alloc(recordSize);
    r.writeUInt32LE(0, 0); // simple file
    r.writeUInt32LE(0, 4); // file type: simple
    r.writeUInt32LE(name.length, 12);
    r.writeUInt32LE(blobAt, 16);
    r.writeUInt32LE(0, 20);
    r.writeUInt32LE(0, 24);
    r.writeUInt32LE(body.length, 28);
    r.writeUInt32LE(blobAt + name.length, 32);
    r.writeUInt32LE(f.data.length, 36);
    records.push(r);
    blobs.push(name, body);
    blobAt += name.length + body.length;
  });
  head.writeUInt32LE(recordsAt, 52);
  return Buffer.concat([head, langs, ...records, ...blobs]);
}

describe("SIS (Symbian EPOC 3-6)", () => {
  const pkg = sis([
    { name: "readme.txt", data: Buffer.from("hello") },
    { name: "eicar.com", data: Buffer.from(EICAR) },
  ]);

  it("compressed and stored files are found and named by their source name", () => {
    for (const b of [pkg, sis([{ name: "eicar.com", data: Buffer.from(EICAR) }], true)]) {
      expect(sniffArchive(b)).toBe("sis");
      const r = scan(b, "app.sis");
      expect(r.detections.map((d) => [d.path, d.name])).toEqual([["app.sis!eicar.com", EICAR_NAME]]);
      expect(r.incomplete).toEqual([]);
    }
  });

  it("truncated anywhere, or with a file pointer out of the package: reported, never clean", () => {
    for (let n = 84; n < pkg.length; n += 9) neverClean(pkg.subarray(0, n), `cut${n}`);
    const bad = Buffer.from(pkg);
    bad.writeUInt32LE(0x7fffffff, 86 + 48 + 32); // the second file's data pointer
    const r = neverClean(bad, "bad.sis");
    expect(r.incomplete).toEqual([
      {
        reason: "corrupt-archive",
        path: "bad.sis!eicar.com",
        message: "file data offset 2147483647 is outside the package",
      },
    ]);
    for (const c of flips(pkg, 3)) scan(c, "x.sis");
  });

  it("a compressed bomb stops at the ratio limit", () => {
    const bomb = sis([{ name: "zeros", data: new Uint8Array(4 << 20) }]);
    const r = scan(bomb, "bomb.sis", { maxRatio: 50, ratioFloor: 1 << 16 });
    expect(r.incomplete.map((i) => [i.reason, i.path])).toEqual([["max-ratio", "bomb.sis!zeros"]]);
  });

  it("ClamAV's clam.sis gives clam.exe", () => {
    if (needs("clamav-testfiles sis", { debianFiles: ["/usr/share/clamav-testfiles"] })) return;
    const b = readFileSync("/usr/share/clamav-testfiles/clam.sis");
    const ms = [...readArchive("sis", b, "clam.sis", () => 1 << 20)];
    expect(ms.map((m) => [m.name, m.data?.length, m.problem])).toEqual([["clam.exe", 544, undefined]]);
  });
});
