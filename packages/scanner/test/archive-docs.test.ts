// Issue 15, documents: OLE2 compound files (streams, MSI names, VBA macro sources, embedded
// OLE objects, PowerPoint objects), PDF (each filter, object streams, embedded files,
// JavaScript, broken xref, encryption) and RTF (\objdata), each also truncated, corrupted and
// bombed: "not fully scanned" with the reason, never a crash, a hang or OK.
import { describe, expect, it } from "vitest";
import { deflateSync } from "node:zlib";
import {
  EICAR,
  EICAR_YARA,
  cfbFatEntryOffset,
  makeCfb,
  makeEncryptedPdf,
  makePdf,
  makeRtf,
  makeZip,
  msiStreamName,
  mulberry32,
  ole10Native,
  ole1Object,
  ovbaCompress,
  pdfEncode,
  vbaProjectStreams,
  type PdfFilter,
} from "@vigil/test-kit";
import { DEFAULT_LIMITS, readArchive, scanBytes, sniffArchive, type Limits } from "../src/index.js";
import { ovbaDecompress } from "../src/archive/docs/vba.js";
import { lzw } from "../src/archive/docs/pdf-filters.js";
import { withRules } from "./helpers/detector.js";

const RULES = `
rule EICAR_Test_File { strings: $e = "${EICAR_YARA}" condition: $e at 0 }
rule Macro_Shell { strings: $a = "Shell \\"cmd.exe /c calc.exe\\"" condition: $a }
rule Pdf_Script { strings: $a = "app.alert('vigil-js-marker')" condition: $a }
`;
const detector = withRules(RULES).detector;
const scan = (b: Uint8Array, name: string, limits: Limits = DEFAULT_LIMITS) => scanBytes(detector, b, name, { limits });
const rules = (r: ReturnType<typeof scan>) => r.detections.map((d) => `${d.rule}@${d.path}`);

const MACRO = `Attribute VB_Name = "Module1"\r\nSub AutoOpen()\r\n  Dim i As Integer\r\n  For i = 1 To 3\r\n    Shell "cmd.exe /c calc.exe"\r\n  Next\r\nEnd Sub\r\n${"' padding comment line\r\n".repeat(300)}`;

function names(b: Uint8Array): string[] {
  const kind = sniffArchive(b)!;
  return [...readArchive(kind, b, "x", () => 1 << 26)].map((m) => m.name);
}

describe("OLE2 compound files", () => {
  const doc = makeCfb([
    { path: "WordDocument", data: `${"W".repeat(6000)}` },
    { path: "Data", data: EICAR }, // a mini stream
    { path: "Big", data: Buffer.concat([Buffer.from(EICAR), Buffer.alloc(9000, 0x41)]) }, // regular sectors
    { path: "ObjectPool/_1279313719/\x01Ole10Native", data: ole10Native("eicar.com", EICAR) },
    { path: "\x05SummaryInformation", data: "summary" },
  ]);

  it("is recognised by its magic and yields every stream by storage path", () => {
    expect(sniffArchive(doc)).toBe("ole2");
    expect(names(doc)).toEqual([
      "WordDocument",
      "Data",
      "Big",
      "ObjectPool/_1279313719/Ole10Native",
      "ObjectPool/_1279313719/Ole10Native/eicar.com",
      "SummaryInformation",
    ]);
  });

  it("finds EICAR in a mini stream, a regular stream and an Ole10Native payload", () => {
    const r = scan(doc, "t.doc");
    expect(r.incomplete).toEqual([]);
    expect(rules(r)).toEqual([
      "EICAR_Test_File@t.doc!Data",
      "EICAR_Test_File@t.doc!Big",
      "EICAR_Test_File@t.doc!ObjectPool/_1279313719/Ole10Native/eicar.com",
    ]);
  });

  it("version 4 files (4096-byte sectors) read the same", () => {
    const v4 = makeCfb(
      [
        { path: "Data", data: EICAR },
        { path: "Big", data: Buffer.concat([Buffer.from(EICAR), Buffer.alloc(30000, 0x41)]) },
      ],
      { version: 4 },
    );
    expect(v4.readUInt16LE(0x1e)).toBe(12);
    const r = scan(v4, "v4.msi");
    expect(r.incomplete).toEqual([]);
    expect(rules(r)).toEqual(["EICAR_Test_File@v4.msi!Data", "EICAR_Test_File@v4.msi!Big"]);
  });

  it("FAT sectors listed in a DIFAT sector are found; a DIFAT chain that loops is reported", () => {
    const f = makeCfb([{ path: "Big", data: Buffer.concat([Buffer.from(EICAR), Buffer.alloc(9000, 0x41)]) }], {
      difat: true,
    });
    expect(f.readUInt32LE(0x4c)).toBe(0xffffffff);
    const r = scan(f, "difat.doc");
    expect(r.incomplete).toEqual([]);
    expect(rules(r)).toEqual(["EICAR_Test_File@difat.doc!Big"]);
    // the DIFAT sector's "next" entry points back to itself, and the header claims more FAT sectors
    const difatSector = f.readUInt32LE(0x44);
    f.writeUInt32LE(difatSector, (difatSector + 1) * 512 + 508);
    f.writeUInt32LE(f.readUInt32LE(0x2c) + 3, 0x2c);
    const loop = scan(f, "difat-loop.doc");
    expect(rules(loop)).toEqual(["EICAR_Test_File@difat-loop.doc!Big"]);
    expect(loop.incomplete.map((i) => i.message).join()).toMatch(/DIFAT chain loops/);
  });

  it("decodes MSI stream names (tables as !Name), so a cabinet stream is named as in the MSI", () => {
    const msi = makeCfb([
      { path: msiStreamName("Property", true), data: "props" },
      { path: msiStreamName("Data1.cab"), data: EICAR },
      { path: msiStreamName("Binary.SetAllUsers.dll"), data: "MZ" },
    ]);
    expect(names(msi)).toEqual(["!Property", "Data1.cab", "Binary.SetAllUsers.dll"]);
    expect(rules(scan(msi, "x.msi"))).toEqual(["EICAR_Test_File@x.msi!Data1.cab"]);
  });

  it("Outlook .msg: an attachment's data stream is scanned, named by the attachment's file name", () => {
    const msg = makeCfb([
      { path: "__properties_version1.0", data: Buffer.alloc(32) },
      { path: "__substg1.0_0037001F", data: Buffer.from("Invoice", "utf16le") },
      { path: "__attach_version1.0_#00000000/__substg1.0_3707001F", data: Buffer.from("invoice.com", "utf16le") },
      { path: "__attach_version1.0_#00000000/__substg1.0_37010102", data: EICAR },
    ]);
    expect(rules(scan(msg, "mail.msg"))).toEqual([
      "EICAR_Test_File@mail.msg!__attach_version1.0_#00000000/invoice.com",
    ]);
  });

  it("yields the streams no directory tree reaches", () => {
    const f = makeCfb([
      { path: "A", data: "a" },
      { path: "B", data: EICAR },
    ]);
    // unlink B: A's right sibling becomes "none"
    const v = new DataView(f.buffer, f.byteOffset);
    const dirAt = (v.getUint32(0x30, true) + 1) * 512;
    f.writeUInt32LE(0xffffffff, dirAt + 128 + 72);
    expect(names(f)).toEqual(["A", "[unlinked 2]/B"]);
    expect(rules(scan(f, "h.doc"))).toEqual(["EICAR_Test_File@h.doc![unlinked 2]/B"]);
  });

  it("a FAT cycle is reported, the bytes before it scanned, in bounded time", () => {
    const f = makeCfb([{ path: "Big", data: Buffer.concat([Buffer.from(EICAR), Buffer.alloc(20000, 0x41)]) }]);
    // Big's chain starts after the directory sector (sector 1): make its third sector point back to its first
    f.writeUInt32LE(1, cfbFatEntryOffset(f, 3));
    const t = Date.now();
    const r = scan(f, "loop.doc");
    expect(Date.now() - t).toBeLessThan(2000);
    expect(rules(r)).toEqual(["EICAR_Test_File@loop.doc!Big"]);
    expect(r.incomplete.map((i) => [i.reason, i.path])).toEqual([["corrupt-archive", "loop.doc!Big"]]);
    expect(r.incomplete[0]!.message).toMatch(/sector chain loops \(sector 1 seen twice\)/);
  });

  it("a directory chain that loops onto itself ends, reported", () => {
    const f = makeCfb([{ path: "A", data: EICAR }]);
    f.writeUInt32LE(0, cfbFatEntryOffset(f, 0)); // directory sector 0 -> 0
    const r = scan(f, "dirloop.doc");
    expect(rules(r)).toEqual(["EICAR_Test_File@dirloop.doc!A"]);
    expect(r.incomplete.map((i) => i.message).join()).toMatch(/directory: sector chain loops/);
  });

  it("huge declared counts (FAT sectors, stream sizes) are bounded by the file", () => {
    const f = makeCfb([{ path: "Big", data: Buffer.alloc(10000, 0x42) }]);
    f.writeUInt32LE(0x7fffffff, 0x2c); // FAT sectors
    const dirAt = (f.readUInt32LE(0x30) + 1) * 512;
    f.writeUInt32LE(0xfffffff0, dirAt + 128 + 120); // Big's size: 4 GiB
    const t = Date.now();
    const r = scan(f, "huge.doc");
    expect(Date.now() - t).toBeLessThan(2000);
    expect(r.errors).toEqual([]);
    expect(r.incomplete.map((i) => i.reason)).toContain("corrupt-archive");
    expect(r.incomplete.map((i) => i.message).join()).toMatch(/declares 2147483647 FAT sectors/);
  });

  it("thousands of small streams stay linear (one cycle-check table per file, not per stream)", () => {
    const f = makeCfb(Array.from({ length: 12000 }, (_, i) => ({ path: `S${i}`, data: Buffer.alloc(200, i & 0xff) })));
    const t = Date.now();
    const r = scan(f, "many.doc");
    expect(Date.now() - t).toBeLessThan(8000);
    expect(r.incomplete.map((i) => i.reason)).toEqual(["max-files"]);
  });

  it("truncated: what remains is scanned, the cut reported, never OK", () => {
    const f = makeCfb([
      { path: "Big", data: Buffer.concat([Buffer.from(EICAR), Buffer.alloc(20000, 0x41)]) },
      { path: "Small", data: "s" },
    ]);
    for (const cut of [600, 2048, 5000, f.length - 600]) {
      const r = scan(f.subarray(0, cut), "cut.doc");
      expect(r.errors).toEqual([]);
      expect(r.incomplete.length, `cut at ${cut}`).toBeGreaterThan(0);
      expect(r.incomplete.map((i) => i.reason)).toContain("corrupt-archive");
    }
  });

  it("random corruption never crashes or hangs, and a changed file is never silently less read", () => {
    const base = makeCfb([
      { path: "WordDocument", data: Buffer.alloc(6000, 0x57) },
      ...vbaProjectStreams([{ name: "Module1", source: MACRO }], "Macros/"),
      { path: "ObjectPool/_1/\x01Ole10Native", data: ole10Native("a.exe", "MZ") },
    ]);
    const rnd = mulberry32(15);
    const t = Date.now();
    for (let i = 0; i < 300; i++) {
      const b = Buffer.from(base);
      for (let k = 0; k < 4; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      const r = scan(b, "m.doc");
      expect(r.errors).toEqual([]);
    }
    expect(Date.now() - t).toBeLessThan(20_000);
  });

  it("a header that is no compound file (bad sector size) is not fully scanned", () => {
    const f = makeCfb([{ path: "A", data: "a" }]);
    f.writeUInt16LE(30, 0x1e);
    const r = scan(f, "bad.doc");
    expect(r.incomplete.map((i) => [i.reason, i.message])).toEqual([
      ["corrupt-archive", "OLE2 file damaged: sector size 2^30 is neither 512 nor 4096 bytes"],
    ]);
  });

  it("PowerPoint: an ExOleObjStg record's zlib-compressed object is opened", () => {
    const inner = makeCfb([{ path: "\x01Ole10Native", data: ole10Native("clam.exe", EICAR) }]);
    const z = deflateSync(inner);
    const rec = Buffer.alloc(12);
    rec.writeUInt16LE(0x0010, 0); // version 0, instance 1
    rec.writeUInt16LE(0x1011, 2);
    rec.writeUInt32LE(z.length + 4, 4);
    rec.writeUInt32LE(inner.length, 8);
    const container = Buffer.alloc(8);
    container.writeUInt16LE(0x000f, 0);
    container.writeUInt16LE(0x03e8, 2);
    container.writeUInt32LE(rec.length + z.length, 4);
    const ppt = makeCfb([
      { path: "PowerPoint Document", data: Buffer.concat([container, rec, z]) },
      { path: "Current User", data: "u" },
    ]);
    expect(rules(scan(ppt, "p.ppt"))).toEqual([
      "EICAR_Test_File@p.ppt!PowerPoint Document/ExOleObjStg@8!Ole10Native/clam.exe",
    ]);
  });

  it("PowerPoint: a compressed object that expands past the ratio limit is stopped and reported", () => {
    const z = deflateSync(Buffer.alloc(32 << 20));
    const rec = Buffer.alloc(12);
    rec.writeUInt16LE(0x0010, 0);
    rec.writeUInt16LE(0x1011, 2);
    rec.writeUInt32LE(z.length + 4, 4);
    rec.writeUInt32LE(32 << 20, 8);
    const ppt = makeCfb([{ path: "PowerPoint Document", data: Buffer.concat([rec, z]) }]);
    const t = Date.now();
    const r = scan(ppt, "bomb.ppt");
    expect(Date.now() - t).toBeLessThan(5000);
    expect(r.incomplete.map((i) => [i.reason, i.path])).toEqual([
      ["max-ratio", "bomb.ppt!PowerPoint Document/ExOleObjStg@0"],
    ]);
  });
});

describe("VBA macros", () => {
  it("MS-OVBA compression round-trips (copy tokens at every offset width)", () => {
    const rnd = mulberry32(7);
    for (const len of [0, 1, 17, 300, 4095, 4096, 4097, 13000]) {
      const words = ["Sub ", "End Sub\r\n", "Dim x", " As Long", "\r\n", "Shell ", '"calc"'];
      let s = "";
      while (s.length < len) s += words[Math.floor(rnd() * words.length)]!;
      s = s.slice(0, len);
      const c = ovbaCompress(s);
      const d = ovbaDecompress(c, 1 << 20);
      expect(d.error).toBeUndefined();
      expect(Buffer.from(d.data).toString("latin1")).toBe(s);
    }
  });

  it("decodes the two worked examples of [MS-OVBA] 3.2", () => {
    const ex = (hex: string) =>
      Buffer.from(ovbaDecompress(Buffer.from(hex.replace(/ /g, ""), "hex"), 1 << 20).data).toString("latin1");
    expect(ex("01 19 B0 00 61 62 63 64 65 66 67 68 00 69 6A 6B 6C 6D 6E 6F 70 00 71 72 73 74 75 76 2E")).toBe(
      "abcdefghijklmnopqrstuv.",
    );
    expect(
      ex(
        "01 2F B0 00 23 61 61 61 62 63 64 65 82 66 00 70 61 67 68 69 6A 01 38 08 61 6B 6C 00 30 6D 6E 6F 70 06 71 02 70 04 10 72 73 74 75 76 10 77 78 79 7A 00 3C",
      ),
    ).toBe("#aaabcdefaaaaghijaaaaaklaaamnopqaaaaaaaaaaaarstuvwxyzaaa");
  });

  it("an OOXML .docm: zip -> vbaProject.bin -> decompressed module source, matched by a YARA rule", () => {
    const bin = makeCfb(
      vbaProjectStreams([
        { name: "Module1", source: MACRO },
        { name: "ThisDocument", source: 'Attribute VB_Name = "ThisDocument"\r\n' },
      ]),
    );
    const docm = makeZip([
      { name: "[Content_Types].xml", data: "<Types/>" },
      { name: "word/document.xml", data: "<w:document/>" },
      { name: "word/vbaProject.bin", data: bin },
    ]);
    // the rule cannot match the compressed bytes: only the decompressed source
    expect(bin.includes('Shell "cmd.exe /c calc.exe"')).toBe(false);
    const r = scan(docm, "invoice.docm");
    expect(r.incomplete).toEqual([]);
    expect(rules(r)).toEqual(["Macro_Shell@invoice.docm!word/vbaProject.bin!VBA/Module1.vba"]);
  });

  it("a Word 97 file's Macros/VBA storage gives the same source", () => {
    const doc = makeCfb([
      { path: "WordDocument", data: "w" },
      ...vbaProjectStreams([{ name: "Module1", source: MACRO }], "Macros/"),
    ]);
    expect(rules(scan(doc, "m.doc"))).toEqual(["Macro_Shell@m.doc!Macros/VBA/Module1.vba"]);
  });

  it("a damaged dir stream: module streams are searched for their source, and the damage reported", () => {
    const streams = vbaProjectStreams([{ name: "Module1", source: MACRO }]);
    streams[0]!.data = Buffer.from([1, 0xff, 0x00]); // dir: bad chunk signature
    const r = scan(makeCfb(streams), "d.bin");
    expect(rules(r)).toEqual(["Macro_Shell@d.bin!VBA/Module1.vba"]);
    expect(r.incomplete.map((i) => [i.reason, i.path])).toEqual([["corrupt-archive", "d.bin!VBA/dir"]]);
  });

  it("a module source cut short: what decoded is scanned, the damage reported", () => {
    const streams = vbaProjectStreams([{ name: "Module1", source: MACRO }]);
    const mod = streams.find((s) => s.path === "VBA/Module1")!;
    mod.data = (mod.data as Buffer).subarray(0, 333 + 200);
    const r = scan(makeCfb(streams), "c.bin");
    expect(rules(r)).toEqual(["Macro_Shell@c.bin!VBA/Module1.vba"]);
    expect(r.incomplete.map((i) => i.message).join()).toMatch(/VBA source damaged: (copy token|compressed chunk) cut/);
  });
});

describe("PDF", () => {
  const page = "BT /F1 12 Tf 72 712 Td (Hello) Tj ET\n";
  const filterSets: PdfFilter[][] = [
    ["FlateDecode"],
    ["LZWDecode"],
    ["ASCIIHexDecode"],
    ["ASCII85Decode"],
    ["RunLengthDecode"],
    ["ASCII85Decode", "FlateDecode"],
    ["ASCIIHexDecode", "LZWDecode"],
  ];
  for (const fs of filterSets) {
    it(`a stream through ${fs.join(" + ")} is decoded and scanned`, () => {
      const content = `${EICAR}\n${page.repeat(50)}`;
      const filter = fs.length === 1 ? `/${fs[0]}` : `[${fs.map((f) => `/${f}`).join(" ")}]`;
      const pdf = makePdf([
        { dict: "<< /Type /Catalog /Pages 2 0 R >>" },
        { dict: "<< /Type /Pages /Kids [3 0 R] /Count 1 >>" },
        { dict: "<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>" },
        { dict: `<< /Filter ${filter} >>`, stream: pdfEncode(content, fs) },
      ]);
      // RunLength keeps literal runs as they are; the others hide the string
      if (fs.join() !== "RunLengthDecode") expect(Buffer.from(pdf).includes(EICAR)).toBe(false);
      const r = scan(pdf, "f.pdf");
      expect(r.incomplete).toEqual([]);
      expect(rules(r)).toEqual(["EICAR_Test_File@f.pdf!obj4.0"]);
    });
  }

  it("LZW with EarlyChange 0 and long inputs (dictionary resets) decodes exactly", () => {
    const rnd = mulberry32(3);
    const s = Buffer.from(Array.from({ length: 60000 }, () => 97 + Math.floor(rnd() * 6)));
    const d = lzw(pdfEncode(s, ["LZWDecode"]), 1 << 20);
    expect(d.error).toBeUndefined();
    expect(Buffer.from(d.data).equals(s)).toBe(true);
  });

  const embedded = () =>
    makePdf([
      { dict: "<< /Type /Catalog /Names << /EmbeddedFiles << /Names [(eicar.com) 2 0 R] >> >> >>" },
      { dict: "<< /Type /Filespec /F (eicar.com) /EF << /F 3 0 R >> >>" },
      { dict: "<< /Type /EmbeddedFile /Filter /FlateDecode >>", stream: deflateSync(Buffer.from(EICAR)) },
    ]);

  it("a Flate-compressed embedded file is found, named by its file specification", () => {
    const r = scan(embedded(), "att.pdf");
    expect(rules(r)).toEqual(["EICAR_Test_File@att.pdf!eicar.com"]);
    expect(r.incomplete).toEqual([]);
  });

  it("a broken or missing xref changes nothing (objects are found by `obj ... endobj`)", () => {
    const broken = makePdf(
      [
        { dict: "<< /Type /Catalog >>" },
        { dict: "<< /Type /EmbeddedFile /Filter /FlateDecode >>", stream: deflateSync(Buffer.from(EICAR)) },
      ],
      { brokenXref: true },
    );
    expect(rules(scan(broken, "x.pdf"))).toEqual(["EICAR_Test_File@x.pdf!obj2.0"]);
    const noXref = Buffer.from(broken.toString("latin1").replace(/xref[\s\S]*$/, ""), "latin1");
    expect(rules(scan(noXref, "y.pdf"))).toEqual(["EICAR_Test_File@y.pdf!obj2.0"]);
  });

  it("an indirect /Length and an unfiltered embedded file (as in clam.pdf)", () => {
    const pdf = Buffer.from(
      `%PDF-1.4\n1 0 obj\n<< /Type /EmbeddedFile /Length 2 0 R >>\nstream\n${EICAR}\nendstream\nendobj\n2 0 obj\n${EICAR.length}\nendobj\n3 0 obj << /F (e.com) /EF << /F 1 0 R >> >> endobj\n%%EOF\n`,
      "latin1",
    );
    expect(rules(scan(pdf, "u.pdf"))).toEqual(["EICAR_Test_File@u.pdf!e.com"]);
  });

  it("JavaScript in an object stream (/ObjStm) and in a compressed /JS stream is scanned", () => {
    const inner = "<< /S /JavaScript /JS (app.alert\\('vigil-js-marker'\\)) >>";
    const header = `5 0 `;
    const objstm = `${header}${inner}`;
    const js = makePdf([
      { dict: "<< /Type /Catalog /OpenAction 5 0 R >>" },
      {
        dict: `<< /Type /ObjStm /N 1 /First ${header.length} /Filter /FlateDecode >>`,
        stream: deflateSync(Buffer.from(objstm)),
      },
      { dict: "<< /S /JavaScript /JS 4 0 R >>" },
      { dict: "<< /Filter /FlateDecode >>", stream: deflateSync(Buffer.from("app.alert('vigil-js-marker');")) },
    ]);
    expect(Buffer.from(js).includes("vigil-js-marker")).toBe(false);
    const r = scan(js, "js.pdf");
    expect(rules(r)).toEqual(["Pdf_Script@js.pdf!obj4.0.js", "Pdf_Script@js.pdf!obj5.0.js"]);
  });

  const secret = [
    { dict: "<< /Type /Catalog >>" },
    { dict: "<< /Type /EmbeddedFile /Filter /FlateDecode >>", stream: deflateSync(Buffer.from(EICAR)) },
  ];
  for (const cipher of ["rc4-40", "rc4-128", "aes-128", "aes-256"] as const) {
    it(`encrypted with ${cipher} and an empty user password: decrypted and scanned, as viewers open it`, () => {
      const pdf = makeEncryptedPdf(secret, cipher);
      expect(pdf.includes(deflateSync(Buffer.from(EICAR)))).toBe(false);
      const r = scan(pdf, "enc.pdf");
      expect(r.incomplete).toEqual([]);
      expect(rules(r)).toEqual(["EICAR_Test_File@enc.pdf!obj2.0"]);
    });
  }

  it("encrypted with a user password: reported not fully scanned (encrypted), never OK", () => {
    for (const cipher of ["rc4-128", "aes-256"] as const) {
      const r = scan(makeEncryptedPdf(secret, cipher, "secret"), "pw.pdf");
      expect(r.detections).toEqual([]);
      expect(r.incomplete.map((i) => [i.reason, i.path])).toEqual([["encrypted", "pw.pdf"]]);
      expect(r.incomplete[0]!.message).toMatch(/a user password is needed to open it/);
    }
    const other = makePdf([{ dict: "<< /Type /Catalog >>" }, { dict: "<< /Filter /Adobe.PubSec /V 4 >>" }], {
      trailer: "/Encrypt 2 0 R",
    });
    expect(scan(other, "pk.pdf").incomplete.map((i) => i.message)).toEqual([
      "PDF is encrypted (security handler /Adobe.PubSec is not supported): its streams and strings were not decrypted, only its raw bytes were scanned",
    ]);
  });

  it("a Flate bomb stops at the ratio limit and is reported", () => {
    const bomb = makePdf([
      { dict: "<< /Type /Catalog >>" },
      { dict: "<< /Filter /FlateDecode >>", stream: deflateSync(Buffer.alloc(64 << 20)) },
    ]);
    const t = Date.now();
    const r = scan(bomb, "bomb.pdf");
    expect(Date.now() - t).toBeLessThan(5000);
    expect(r.incomplete.map((i) => [i.reason, i.path])).toEqual([["max-ratio", "bomb.pdf!obj2.0"]]);
  });

  it("truncated inside a stream: the bytes decoded are scanned, the cut reported", () => {
    const content = Buffer.concat([Buffer.from(EICAR), Buffer.from(page.repeat(3000))]);
    const pdf = makePdf([
      { dict: "<< /Type /Catalog >>" },
      { dict: "<< /Filter /FlateDecode >>", stream: deflateSync(content) },
    ]);
    const at = pdf.indexOf("stream\n") + 7 + 200;
    const r = scan(pdf.subarray(0, at), "cut.pdf");
    expect(rules(r)).toEqual(["EICAR_Test_File@cut.pdf!obj2.0"]);
    expect(r.incomplete.map((i) => [i.reason, i.path])).toEqual([["corrupt-archive", "cut.pdf!obj2.0"]]);
    expect(r.incomplete[0]!.message).toMatch(/no endstream/);
  });

  it("corrupt filter data and unknown filters are not fully scanned", () => {
    const bad = makePdf([
      { dict: "<< /Type /Catalog >>" },
      { dict: "<< /Filter /FlateDecode >>", stream: Buffer.from("this is not zlib data at all") },
    ]);
    expect(scan(bad, "b.pdf").incomplete.map((i) => i.reason)).toEqual(["corrupt-archive"]);
    const unk = makePdf([
      { dict: "<< /Type /Catalog >>" },
      { dict: "<< /Filter /MadeUpDecode >>", stream: Buffer.from("x") },
    ]);
    expect(scan(unk, "u.pdf").incomplete.map((i) => [i.reason, i.message])).toEqual([
      [
        "unsupported",
        "PDF object 2 0: filter /MadeUpDecode is not supported; the 1 bytes decoded before it were scanned",
      ],
    ]);
  });

  it("hostile syntax stays linear: thousands of objects with unterminated strings, dictionaries and streams", () => {
    for (const piece of ["(", "<", "<<", "[", "<< /Length 99999999 >> stream\n"]) {
      const parts = ["%PDF-1.7\n"];
      for (let i = 1; i <= 20000; i++) parts.push(`${i} 0 obj ${piece}xxxxxxxxxx\n`);
      const pdf = Buffer.from(parts.join(""), "latin1");
      const t = Date.now();
      const r = scan(pdf, "h.pdf");
      expect(Date.now() - t, piece).toBeLessThan(3000);
      expect(r.errors).toEqual([]);
    }
  });

  it("an object stream whose offsets all point at one unterminated string stays linear", () => {
    const n = 20000;
    const header = Array.from({ length: n }, (_, i) => `${i + 10} 0`).join(" ");
    const body = `${header} (${"x".repeat(200_000)}`;
    const pdf = makePdf([
      { dict: "<< /Type /Catalog >>" },
      {
        dict: `<< /Type /ObjStm /N ${n} /First ${header.length + 1} /Filter /FlateDecode >>`,
        stream: deflateSync(Buffer.from(body)),
      },
    ]);
    const t = Date.now();
    expect(scan(pdf, "o.pdf").errors).toEqual([]);
    expect(Date.now() - t).toBeLessThan(3000);
  });

  it("random corruption never crashes or hangs", () => {
    const base = Buffer.concat([
      embedded(),
      makePdf([
        {
          dict: "<< /Filter [/ASCII85Decode /LZWDecode] >>",
          stream: pdfEncode(page.repeat(20), ["ASCII85Decode", "LZWDecode"]),
        },
      ]),
    ]);
    const rnd = mulberry32(11);
    for (let i = 0; i < 300; i++) {
      const b = Buffer.from(base);
      for (let k = 0; k < 4; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      expect(scan(b, "m.pdf").errors).toEqual([]);
    }
  });
});

describe("RTF", () => {
  it("\\objdata with a Packager object: the packaged file is scanned", () => {
    const rtf = makeRtf(ole1Object("Package", ole10Native("eicar.com", EICAR)));
    expect(sniffArchive(rtf)).toBe("rtf");
    const r = scan(rtf, "d.rtf");
    expect(r.incomplete).toEqual([]);
    expect(rules(r)).toEqual(["EICAR_Test_File@d.rtf!objdata0/eicar.com"]);
  });

  it("\\objdata with an embedded OLE2 document: opened in turn", () => {
    const doc = makeCfb([
      { path: "WordDocument", data: "w" },
      ...vbaProjectStreams([{ name: "Module1", source: MACRO }], "Macros/"),
    ]);
    const r = scan(makeRtf(ole1Object("Word.Document.8", doc)), "o.rtf");
    expect(rules(r)).toEqual(["Macro_Shell@o.rtf!objdata0!Macros/VBA/Module1.vba"]);
  });

  it("cut short: the bytes decoded are scanned, the cut reported", () => {
    const full = makeRtf(ole1Object("Package", ole10Native("eicar.com", `${EICAR}${"x".repeat(400)}`)));
    const r = scan(full.subarray(0, full.indexOf("objdata") + 600), "cut.rtf");
    expect(rules(r)).toEqual(["EICAR_Test_File@cut.rtf!objdata0/eicar.com"]);
    expect(r.incomplete.map((i) => i.reason)).toEqual(["corrupt-archive"]);
  });

  it("objdata that is no OLE1 object is yielded as decoded", () => {
    const rtf = makeRtf(Buffer.from(EICAR));
    expect(rules(scan(rtf, "h.rtf"))).toEqual(["EICAR_Test_File@h.rtf!objdata0"]);
  });
});

describe("documents that embed nothing: fully scanned as they are, unless cut short", () => {
  const plainRtf = Buffer.from(
    "{\\rtf1\\ansi\\deff0{\\fonttbl{\\f0 Times New Roman;}}\n" +
      "{\\*\\generator Vigil test;}\\pard\\plain\\f0\\fs20 GNU GENERAL PUBLIC LICENSE\\par\n" +
      "Version 2, June 1991\\par\n}\r\n",
    "latin1",
  );
  it("an RTF with no \\objdata (a licence text) is OK, not 'not fully scanned (RTF document)'", () => {
    expect(sniffArchive(plainRtf)).toBe("rtf");
    const r = scan(plainRtf, "license.rtf");
    expect(r.incomplete).toEqual([]);
    expect(r.detections).toEqual([]);
  });
  it("a plain RTF cut short (no closing brace) is not fully scanned: what the rest held is unknown", () => {
    const r = scan(plainRtf.subarray(0, 60), "cut.rtf");
    expect(r.incomplete.map((i) => [i.path, i.reason])).toEqual([["cut.rtf", "corrupt-archive"]]);
    expect(r.incomplete[0]!.message).toMatch(/RTF document cut short/);
  });
  it("a PDF with no stream, or with unfiltered streams only, is OK", () => {
    for (const pdf of [
      makePdf([{ dict: "<< /Type /Catalog /Pages 2 0 R >>" }, { dict: "<< /Type /Pages /Kids [] /Count 0 >>" }]),
      makePdf([{ dict: "<< /Type /Catalog >>" }, { dict: "<< >>", stream: Buffer.from("BT (Hello) Tj ET") }]),
    ]) {
      expect(sniffArchive(pdf)).toBe("pdf");
      const r = scan(pdf, "plain.pdf");
      expect(r.incomplete).toEqual([]);
      expect(r.errors).toEqual([]);
    }
  });
  it("an OLE2 file with no stream is OK; one whose header is damaged is not", () => {
    const empty = makeCfb([]);
    expect(sniffArchive(empty)).toBe("ole2");
    expect(scan(empty, "e.doc").incomplete).toEqual([]);
    const bad = Buffer.from(empty);
    bad.writeUInt32LE(0xfffffff0, 0x30); // the directory's first sector: past the end
    expect(scan(bad, "bad.doc").incomplete.map((i) => [i.path, i.reason])).toEqual([["bad.doc", "corrupt-archive"]]);
  });
  it("a PDF cut short with no stream in what is there is not fully scanned", () => {
    const pdf = makePdf([{ dict: "<< /Type /Catalog >>" }, { dict: "<< /Type /Pages /Kids [] /Count 0 >>" }]);
    const r = scan(pdf.subarray(0, pdf.indexOf("xref")), "cut.pdf");
    expect(r.incomplete.map((i) => [i.path, i.reason])).toEqual([["cut.pdf", "corrupt-archive"]]);
    expect(r.incomplete[0]!.message).toMatch(/PDF cut short \(no %%EOF\)/);
  });
});

describe("MS-OVBA bombs", () => {
  it("a module that decompresses past the cap stops there", () => {
    const src = "A".repeat(400_000);
    const c = ovbaCompress(src);
    expect(() => ovbaDecompress(c, 10_000)).toThrow(/exceeds 10000 bytes/);
  });
});
