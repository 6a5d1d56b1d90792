// The rule that comes first: every container, encoding and packer family Vigil recognises but
// does not open is reported "not fully scanned (unsupported)", in every report format, never OK.
import { describe, expect, it, beforeAll } from "vitest";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { DEFAULT_LIMITS, ScanStats, reportWriter, scanBytes, sniffArchive, type FileResult } from "../src/index.js";
import { recognise } from "../src/archive/recognise.js";
import { EICAR, buildPe, findTool, makeZip, needs } from "@vigil/test-kit";
import { starter } from "./helpers/detector.js";

const scan = (b: Uint8Array, name = "t") => scanBytes(starter().detector, b, name, { limits: DEFAULT_LIMITS });
const bytes = (...parts: (string | number[] | Uint8Array)[]) =>
  Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "latin1") : Buffer.from(p))));

/** A minimal PE: DOS header, PE header, one optional header, the given sections. */
function pe(
  sections: { name: string; vsize: number; raw: number; flags: number }[],
  entryRva = 0x1000,
  tail = Buffer.alloc(0),
) {
  const h = Buffer.alloc(0x200);
  h.write("MZ", 0);
  h.writeUInt32LE(0x80, 0x3c);
  h.write("PE\0\0", 0x80, "latin1");
  h.writeUInt16LE(0x14c, 0x84);
  h.writeUInt16LE(sections.length, 0x86);
  h.writeUInt16LE(0xe0, 0x94);
  h.writeUInt16LE(0x10b, 0x98);
  h.writeUInt32LE(entryRva, 0x98 + 16);
  let raw = 0x200;
  const bodies: Buffer[] = [];
  sections.forEach((s, i) => {
    const at = 0x98 + 0xe0 + 40 * i;
    h.write(s.name, at, "latin1");
    h.writeUInt32LE(s.vsize, at + 8);
    h.writeUInt32LE(0x1000 * (i + 1), at + 12);
    h.writeUInt32LE(s.raw, at + 16);
    h.writeUInt32LE(s.raw ? raw : 0, at + 20);
    h.writeUInt32LE(s.flags, at + 36);
    raw += s.raw;
    bodies.push(Buffer.alloc(s.raw, 0x90));
  });
  return Buffer.concat([h, ...bodies, tail]);
}
const CODE = 0x60000020;

/**
 * Never OK: a family with a reader now (most of them) reports what it made of these scraps
 * (damage, or a detection); one without is "not fully scanned (unsupported)" with its name.
 */
function expectUnsupported(b: Uint8Array, format: RegExp) {
  const r = scan(b, "f");
  // a family a reader opens: the reader read it (its own tests cover damage and bombs)
  if (sniffArchive(b)) return;
  expect(r.detections.length + r.incomplete.length, "reported OK").toBeGreaterThan(0);
  const top = r.incomplete.find((i) => i.reason === "unsupported" && i.path === "f");
  if (top && r.incomplete.length === 1) {
    expect(top.message).toMatch(format);
    // (a packer that exe/ unpacks: its unpacker did not find the loader)
    expect(top.message).toMatch(/is not opened by this version|loader or sections were not found \(damaged/);
  }
}

describe("recognise: families no reader opens are never OK", () => {
  const cases: [string, Uint8Array, RegExp][] = [
    ["7z", bytes([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c, 0, 4], Buffer.alloc(40)), /^7z archive/],
    ["RAR 4", bytes("Rar!\x1a\x07\x00", Buffer.alloc(40)), /^RAR 4 archive/],
    ["RAR 5", bytes("Rar!\x1a\x07\x01\x00", Buffer.alloc(40)), /^RAR 5 archive/],
    ["CAB", bytes("MSCF", Buffer.alloc(60)), /^CAB archive/],
    ["InstallShield cab", bytes("ISc(", Buffer.alloc(60)), /^InstallShield cabinet/],
    ["ARJ", bytes([0x60, 0xea, 0x2c, 0, 0x22, 0x0b, 1, 2, 0x10, 0, 2], Buffer.alloc(40)), /^ARJ archive/],
    ["CHM", bytes("ITSF", [3, 0, 0, 0], Buffer.alloc(80)), /^CHM help file/],
    ["SZDD", bytes([0x53, 0x5a, 0x44, 0x44, 0x88, 0xf0, 0x27, 0x33], Buffer.alloc(20)), /^SZDD/],
    ["KWAJ", bytes([0x4b, 0x57, 0x41, 0x4a, 0x88, 0xf0, 0x27, 0xd1], Buffer.alloc(20)), /^KWAJ/],
    ["SIS 9", bytes([0x7a, 0x1a, 0x20, 0x10], Buffer.alloc(40)), /^SIS \(Symbian 9\)/],
    ["OLE2", bytes([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1], Buffer.alloc(512)), /^OLE2 compound file/],
    ["TNEF", bytes([0x78, 0x9f, 0x3e, 0x22], Buffer.alloc(40)), /^TNEF/],
    ["PDF", bytes("%PDF-1.7\n1 0 obj\n<< /Filter /FlateDecode >>\nstream\nxx\nendstream\n"), /^PDF document/],
    ["PDF after junk", bytes(Buffer.alloc(300, 0x20), "%PDF-1.4\n"), /^PDF document/],
    ["RTF", bytes("{\\rtf1\\ansi {\\object\\objdata 0105000002000000}}"), /^RTF document/],
    ["BinHex", bytes("(This file must be converted with BinHex 4.0)\r:!!!\r"), /^BinHex/],
    [
      "uuencode",
      bytes("begin 644 eicar.com\nM6#5/(5`E0$%07S1<4%I8-30H4%XI-T-#*3=])$5)0T%2+5-404Y$05)$+4%.\n`\nend\n"),
      /^uuencoded/,
    ],
    [
      "MIME mail",
      bytes(
        "From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Transfer-Encoding: base64\r\n\r\nWDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElWSVJVUy1URVNULUZJTEUhJEgrSCo=\r\n--x--\r\n",
      ),
      /^MIME \/ RFC 822 mail message/,
    ],
    [
      "mbox",
      bytes(
        "From someone@example.com Thu Jul 31 13:51:21 2008\nFrom: someone\nSubject: x\n\nbody\n\n" +
          "From other@example.com Thu Jul 31 13:52:21 2008\nFrom: other\nContent-Transfer-Encoding: quoted-printable\n\na=3Db\n",
      ),
      /^mbox mailbox/,
    ],
    [
      "HTML data: URI",
      bytes('<html><a href="data:application/octet-stream;base64,TVpQAAIA">x</a></html>'),
      /^HTML with data: URIs/,
    ],
    [
      "UPX ELF",
      bytes([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], Buffer.alloc(200), "UPX!", Buffer.alloc(100)),
      /^UPX-packed ELF/,
    ],
    ["ISO 9660", bytes(Buffer.alloc(0x8001), "CD001", Buffer.alloc(2042)), /^ISO 9660 image/],
    ["UDF", bytes(Buffer.alloc(0x8001), "BEA01", Buffer.alloc(2042)), /^UDF image/],
    [
      "UPX PE",
      pe(
        [
          { name: "UPX0", vsize: 0x5000, raw: 0, flags: 0xe0000080 },
          { name: "UPX1", vsize: 0x1000, raw: 0x200, flags: 0xe0000040 },
        ],
        0x2000,
      ),
      /^UPX-packed PE/,
    ],
    [
      "ASPack PE",
      pe(
        [
          { name: ".text", vsize: 0x200, raw: 0x200, flags: CODE },
          { name: ".aspack", vsize: 0x200, raw: 0x200, flags: 0xc0000040 },
        ],
        0x2000,
      ),
      /^ASPack-packed PE/,
    ],
    [
      "NSIS",
      pe(
        [{ name: ".text", vsize: 0x200, raw: 0x200, flags: CODE }],
        0x1000,
        bytes([0xef, 0xbe, 0xad, 0xde], "NullsoftInst", Buffer.alloc(64)),
      ),
      /^NSIS installer/,
    ],
    [
      "AutoIt",
      pe([{ name: ".text", vsize: 0x200, raw: 0x200, flags: CODE }], 0x1000, bytes("AU3!EA06", Buffer.alloc(64))),
      /^AutoIt compiled script/,
    ],
    [
      "self-extracting 7z",
      pe(
        [{ name: ".text", vsize: 0x200, raw: 0x200, flags: CODE }],
        0x1000,
        bytes([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c, 0, 4], Buffer.alloc(40)),
      ),
      /^self-extracting 7z archive/,
    ],
    [
      "embedded PE",
      pe(
        [{ name: ".text", vsize: 0x200, raw: 0x200, flags: CODE }],
        0x1000,
        pe([{ name: ".text", vsize: 0x200, raw: 0x200, flags: CODE }]),
      ),
      /^PE with an embedded executable.*offset 1024/,
    ],
  ];
  for (const [name, b, format] of cases)
    it(`${name}: not fully scanned (unsupported), with the format named`, () => {
      expect(recognise(b)?.message).toMatch(format);
      if (b[0] === 0x4d && b[1] === 0x5a) {
        // a PE reader, where there is one, opens what it can (an embedded PE, an appended
        // archive, UPX) and the recogniser names what no reader found: never clean
        if (!/embedded executable/.test(format.source)) expect(scan(b).incomplete.length).toBeGreaterThan(0);
      } else expectUnsupported(b, format);
    });

  it("a packer that exe/ unpacks, whose loader was not found: damaged or another version, not 'not opened'", () => {
    const packed = (name: string) =>
      pe(
        [
          { name: ".text", vsize: 0x200, raw: 0x200, flags: CODE },
          { name, vsize: 0x200, raw: 0x200, flags: 0xc0000040 },
        ],
        0x2000,
      );
    for (const [name, packer] of [
      [".aspack", "ASPack"],
      [".petite", "Petite"],
      ["MEW", "MEW"],
      [".taz", "PESpin"],
    ]) {
      const r = recognise(packed(name))!;
      expect(r.format).toBe(`${packer}-packed PE`);
      expect(r.message).toBe(
        `${packer}-packed PE: the packer's loader or sections were not found (damaged, or a version not supported); ` +
          "the packed program is not unpacked, only the packer's bytes are scanned",
      );
      const top = scan(packed(name), "f").incomplete;
      expect(top.map((i) => [i.reason, i.message])).toEqual([["unsupported", r.message]]);
    }
    // a packer no unpacker reads keeps the plain wording
    expect(recognise(packed(".MPRESS1"))!.message).toMatch(/^MPRESS-packed PE is not opened by this version/);
  });

  it("a zip member in a method Vigil cannot decode is not fully scanned, with the member path", () => {
    const r = scan(makeZip([{ name: "a.exe", data: "MZ....", method: 14 }]), "m.zip");
    expect(r.incomplete).toEqual([
      { reason: "unsupported", path: "m.zip!a.exe", message: "compression method 14 not supported" },
    ]);
  });

  it("inside an archive: the member is named, and a detection elsewhere still wins", () => {
    const z = makeZip([
      { name: "inner.7z", data: bytes([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c, 0, 4], Buffer.alloc(40)), method: 0 },
      { name: "eicar.com", data: EICAR, method: 8 },
    ]);
    const r = scan(z, "o.zip");
    expect(r.detections.map((d) => d.path)).toEqual(["o.zip!eicar.com"]);
    // the 7z scrap is damaged (now that a reader opens 7z) or unsupported: either way named, never OK
    expect(r.incomplete.map((i) => i.path)).toEqual(["o.zip!inner.7z"]);
  });

  it("plain files are not flagged: text, JSON, a plain PE, an ELF, short or empty input", () => {
    for (const b of [
      bytes("hello world\n"),
      bytes('{"a": 1, "b": [1,2,3]}\n'),
      bytes("Subject of the talk: x\nnothing else\n"),
      // a message whose body is plain text is read whole as it is
      bytes("From: a@example.com\nTo: b@example.com\nSubject: hello\n\nplain text, nothing encoded\n"),
      bytes("<html><body><p>hi</p></body></html>"),
      buildPe({ ProductName: "x" }),
      pe([
        { name: ".text", vsize: 0x200, raw: 0x200, flags: CODE },
        { name: ".data", vsize: 0x200, raw: 0x200, flags: 0xc0000040 },
      ]),
      // a section with no bytes in the file (a .bss) is no packer
      pe(
        [
          { name: ".bss", vsize: 0x5000, raw: 0, flags: 0xe0000080 },
          { name: ".text", vsize: 0x200, raw: 0x200, flags: CODE },
        ],
        0x2000,
      ),
      bytes([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], Buffer.alloc(300)),
      bytes([0xc7, 0x71]),
      new Uint8Array(0),
    ]) {
      expect(recognise(b), Buffer.from(b).toString("latin1").slice(0, 30)).toBeUndefined();
      expect(scan(b).incomplete).toEqual([]);
    }
  });

  it("never throws on arbitrary bytes, nor on every prefix of each family's bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (b) => {
        recognise(b);
      }),
      { numRuns: 2000 },
    );
    for (const [, b] of cases) for (let n = 0; n <= Math.min(b.length, 600); n++) recognise(b.subarray(0, n));
  });

  it("the readers of sniffArchive take precedence: a zip, gzip or tar is opened, not flagged", () => {
    const z = makeZip([{ name: "a.txt", data: "x" }]);
    expect(sniffArchive(z)).toBe("zip");
    expect(scan(z).incomplete).toEqual([]);
  });
});

describe("reports: a file not fully scanned is never OK in text, json, ndjson or SARIF", () => {
  let result: FileResult;
  beforeAll(() => {
    result = scan(bytes([0x4b, 0x57, 0x41, 0x4a, 0x88, 0xf0, 0x27, 0xd1], Buffer.alloc(40)), "data.kwj");
  });
  const info = { toolVersion: "t", rulesVersion: "r", signatures: 1 };
  const run = (format: "text" | "json" | "ndjson" | "sarif", all = true) => {
    const w = reportWriter(format, info, { all });
    const stats = new ScanStats();
    stats.add(result);
    return w.file(result) + w.end(stats);
  };

  it("text: a WARNING line with the reason, no OK even with --all (-a)", () => {
    const t = run("text");
    expect(t).toBe(
      "data.kwj: Not fully scanned (unsupported): KWAJ (MS compress) file is not opened by this version WARNING\n",
    );
    expect(t).not.toMatch(/: OK/);
  });

  it("json and ndjson: status incomplete with the entry", () => {
    for (const f of ["json", "ndjson"] as const) {
      for (const all of [true, false]) {
        const text = run(f, all);
        const file =
          f === "json"
            ? JSON.parse(text).files[0]
            : text
                .trim()
                .split("\n")
                .map((l) => JSON.parse(l))
                .find((o) => o.type === "file");
        expect(file).toMatchObject({
          path: "data.kwj",
          status: "incomplete",
          incomplete: [
            {
              reason: "unsupported",
              path: "data.kwj",
              message: "KWAJ (MS compress) file is not opened by this version",
            },
          ],
        });
      }
    }
  });

  it("SARIF: a warning notification naming the file and reason", () => {
    const s = JSON.parse(run("sarif"));
    expect(s.runs[0].invocations[0].toolExecutionNotifications).toEqual([
      {
        level: "warning",
        message: {
          text: "data.kwj: not fully scanned (unsupported): KWAJ (MS compress) file is not opened by this version",
        },
        descriptor: { id: "unsupported" },
      },
    ]);
  });
});

describe("generated with Debian tools: recognised by content, never by name", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "vigil-recog-"));
    mkdirSync(join(dir, "in"));
    writeFileSync(join(dir, "in", "eicar.com"), EICAR);
  });
  const tool = (t: string, args: string[], cwd = dir) => execFileSync(t, args, { cwd, stdio: "pipe" });

  it.skipIf(needs("7z fixtures", { tools: ["7z"] }))("7z (also named .txt) is not fully scanned", () => {
    tool("7z", ["a", "-bd", join(dir, "a.7z"), join(dir, "in", "eicar.com")]);
    copyFileSync(join(dir, "a.7z"), join(dir, "a.txt"));
    const r = scan(readFileSync(join(dir, "a.txt")), "a.txt");
    // a 7z reader, once it lands, finds EICAR instead
    expect(r.detections.length + r.incomplete.length).toBeGreaterThan(0);
    if (!r.detections.length) expect(r.incomplete[0]!.message).toMatch(/^7z archive/);
  });

  it.skipIf(needs("arj fixtures", { tools: ["arj"] }))(
    "ARJ is not fully scanned (or opened once a reader lands)",
    () => {
      tool("arj", ["a", join(dir, "a.arj"), "eicar.com"], join(dir, "in"));
      const r = scan(readFileSync(join(dir, "a.arj")), "a.arj");
      expect(r.detections.length + r.incomplete.length).toBeGreaterThan(0);
      if (!r.detections.length) expect(r.incomplete[0]!.message).toMatch(/^ARJ archive/);
    },
  );

  it.skipIf(needs("ISO fixtures", { tools: ["genisoimage"] }))(
    "ISO 9660 image is not fully scanned (or opened once a reader lands)",
    () => {
      tool("genisoimage", ["-quiet", "-o", join(dir, "a.iso"), join(dir, "in")]);
      const r = scan(readFileSync(join(dir, "a.iso")), "a.iso");
      expect(r.detections.length + r.incomplete.length).toBeGreaterThan(0);
      if (!r.detections.length) expect(r.incomplete[0]!.message).toMatch(/^ISO 9660 image/);
    },
  );

  // upx-ucl is not in Debian 12's main archive, so CI cannot install it: this test is optional
  // (it does not fail under VIGIL_REQUIRE_ALL); the UPX reader's own tests build fixtures by hand
  const noUpx = findTool("upx-ucl")
    ? undefined
    : (console.warn("skipping UPX-packed ELF: upx-ucl is not installed (not in Debian 12's main archive)"), "no upx");
  it.skipIf(noUpx)("UPX-packed ELF is not fully scanned", () => {
    copyFileSync("/usr/bin/true", join(dir, "true"));
    tool("upx-ucl", ["-q", "-o", join(dir, "true.upx"), join(dir, "true")]);
    const r = scan(readFileSync(join(dir, "true.upx")), "true.upx");
    expect(r.detections.length + r.incomplete.length).toBeGreaterThan(0);
  });
});
