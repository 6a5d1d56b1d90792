/**
 * Writes the seed corpora under fuzz/corpus/TARGET/ (run: npx tsx fuzz/make-corpus.ts). Every
 * seed is built here from Vigil's own writers and the test builders: no corpus files copied, no
 * live malware (EICAR is a string). Keys are fresh test keys, written to fuzz/corpus/keys.json so
 * the targets can verify what the seeds were signed with.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateRawSync, deflateSync, gzipSync } from "node:zlib";
import {
  buildCld,
  buildSignedCdiff,
  buildSignedCvd,
  generateContainerKeys,
  openContainer,
  trustedKeysOf,
} from "@vigil/clamav";
import {
  EICAR,
  buildPe,
  makeZip,
  makeCfb,
  makePdf,
  makeEncryptedPdf,
  makeRtf,
  msiStreamName,
  ole10Native,
  ole1Object,
  pdfEncode,
  vbaProjectStreams,
} from "@vigil/test-kit";
import {
  encodeEntryBundle,
  encodeHashTile,
  formatCheckpoint,
  formatTlogProof,
  generateKey,
  signNote,
  leafHash,
} from "@vigil/tlog";
import { buildBundle, writeTar } from "@vigil/updates";
// the engine's module-test builders (a script, not a test: it runs when the corpus is remade)
import { buildElf } from "../packages/engine/test/modules/elf-builder.js";
import { buildMacho, buildFat } from "../packages/engine/test/modules/macho-builder.js";
import { buildDex } from "../packages/engine/test/modules/dex-builder.js";
import { originalImage, upxPe } from "../packages/scanner/test/helpers/upx.js";
import { autoit, ishield, wwpackPe, ycPe } from "../packages/scanner/test/helpers/exe-fixtures.js";
import { cab, rar4, rar5 } from "../packages/scanner/test/helpers/sevenzip-fixtures.js";
import { CORPUS_DIR } from "./targets.js";
import { mailSeeds } from "./corpus-mail.js";

const enc = (s: string) => new TextEncoder().encode(s);
const corpus: Record<string, Uint8Array[]> = {};
const add = (t: string, ...seeds: Array<Uint8Array | string>) =>
  (corpus[t] ??= []).push(...seeds.map((s) => (typeof s === "string" ? enc(s) : s)));

add(
  "engine-compile",
  'rule a { strings: $a = "EICAR" nocase wide ascii $b = { 4D 5A ?? [2-4] (01|02) } $c = /ab+c[^x]{2,3}/is condition: #a > 1 and @b[1] < 100 or $c at 0 }',
  'import "pe"\nimport "math"\nrule p : tag1 tag2 { meta: author = "x" score = 5 strings: $s = "x" xor(1-3) condition: $s and pe.number_of_sections > 1 and math.entropy(0, filesize) > 7.0 and for any i in (0..pe.number_of_sections - 1): (pe.sections[i].name == ".text") }',
  'private rule b { condition: uint32(0) == 0x464c457f } global rule c { condition: filesize < 1MB } rule d { strings: $x = "a" condition: b and not c and for all of ($*) : ( @ > 0 ) }',
  'rule e { strings: $a = "abc" base64 $b = "q" fullword condition: any of them and "abc" contains "b" and "x" matches /x/ and defined filesize }',
  "rule f { condition: 1 + 2 * 3 - 4 \\ 2 % 3 == 1 << 2 >> 1 & 3 | 4 ^ 5 and ~1 == -2 }",
);

const pe = buildPe({ CompanyName: "Vigil", ProductName: "fuzz" });
add("module-pe", pe);
add("module-dotnet", buildDotnet(), pe);
const elfs = [
  buildElf({ is64: true, le: true }),
  buildElf({ is64: false, le: true }),
  buildElf({ is64: true, le: false, type: 3 }),
];
add("module-elf", ...elfs.map((e) => (e as { bytes: Uint8Array }).bytes));
const machos = [
  buildMacho({ is64: true, le: true, cputype: 0x01000007, entry: "main" }),
  buildMacho({ is64: false, le: false, cputype: 18, entry: { pcOffset: 0, pcIs64: false, stateSize: 160 } }),
];
add("module-macho", ...machos, buildFat([{ cputype: 7, cpusubtype: 3, bytes: machos[0]! }]));
add("module-dex", buildDex().bytes, buildDex("039").bytes);

const tar = writeTar([
  { name: "eicar.com", data: enc(EICAR) },
  { name: "dir/readme.txt", data: enc("hello\n") },
]);
add("archive-tar", tar);
add("archive-gzip", gzipSync(enc(EICAR)), gzipSync(tar));
const tool = (cmd: string, data: Uint8Array) => new Uint8Array(execFileSync(cmd, ["-c"], { input: data }));
add("archive-bzip2", tool("bzip2", enc(EICAR + "\n" + "x".repeat(200))), tool("bzip2", tar));
add("archive-xz", tool("xz", enc(EICAR)), tool("xz", tar));
add(
  "archive-zip",
  makeZip([
    { name: "a.txt", data: "hello", method: 0 },
    { name: "dir/e.com", data: EICAR, method: 8 },
  ]),
  makeZip([{ name: "in.zip", data: makeZip([{ name: "x", data: EICAR }]), method: 0 }]),
);

for (const [t, seeds] of Object.entries(mailSeeds())) add(t, ...seeds);
// documents (issue 15): OLE2 with a VBA project, an Ole10Native object and MSI names; PDFs
// through each filter, an object stream and an embedded file; RTF objdata
add(
  "archive-ole2",
  makeCfb([
    { path: "WordDocument", data: "W".repeat(4200) },
    ...vbaProjectStreams(
      [{ name: "Module1", source: 'Attribute VB_Name = "Module1"\r\nSub AutoOpen()\r\nShell "calc"\r\nEnd Sub\r\n' }],
      "Macros/",
    ),
    { path: "ObjectPool/_1/\x01Ole10Native", data: ole10Native("eicar.com", EICAR) },
  ]),
  makeCfb([
    { path: msiStreamName("Property", true), data: "p" },
    { path: msiStreamName("Data1.cab"), data: EICAR },
  ]),
);
add(
  "archive-pdf",
  makePdf([
    {
      dict: "<< /Type /Catalog /Names << /EmbeddedFiles << /Names [(e.com) 2 0 R] >> >> /OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >> >>",
    },
    { dict: "<< /Type /Filespec /F (e.com) /EF << /F 3 0 R >> >>" },
    { dict: "<< /Type /EmbeddedFile /Filter /FlateDecode >>", stream: deflateSync(enc(EICAR)) },
    {
      dict: "<< /Filter [/ASCII85Decode /LZWDecode] /DecodeParms [null << /EarlyChange 1 >>] >>",
      stream: pdfEncode("BT (hello) Tj ET ".repeat(20), ["ASCII85Decode", "LZWDecode"]),
    },
    {
      dict: "<< /Filter [/ASCIIHexDecode /RunLengthDecode] >>",
      stream: pdfEncode("aaaaaaaabcd".repeat(10), ["ASCIIHexDecode", "RunLengthDecode"]),
    },
    { dict: "<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode >>", stream: deflateSync(enc("9 0 << /JS (x) >>")) },
    {
      dict: "<< /Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 4 >> >>",
      stream: deflateSync(new Uint8Array([2, 1, 2, 3, 4, 2, 1, 1, 1, 1])),
    },
  ]),
);
const sealed = [
  { dict: "<< /Type /Catalog /OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >> >>" },
  { dict: "<< /Type /EmbeddedFile /Filter /FlateDecode >>", stream: deflateSync(enc(EICAR)) },
];
add("archive-pdf", makeEncryptedPdf(sealed, "rc4-128"), makeEncryptedPdf(sealed, "aes-256"));
add(
  "archive-rtf",
  makeRtf(ole1Object("Package", ole10Native("eicar.com", EICAR))),
  makeRtf(ole1Object("Word.Document.8", makeCfb([{ path: "WordDocument", data: EICAR }]))),
);
// 7-Zip's formats: 7z and ARJ by their tools, RAR and CAB by the scanner tests' byte-level builders
const inDir = (cmd: string, args: string[], out: string): Uint8Array => {
  const d = mkdtempSync(join(tmpdir(), "vigil-seed-"));
  writeFileSync(join(d, "eicar.com"), EICAR);
  writeFileSync(join(d, "readme.txt"), "hello\n".repeat(50));
  execFileSync(cmd, args, { cwd: d, stdio: "ignore" });
  const b = new Uint8Array(readFileSync(join(d, out)));
  rmSync(d, { recursive: true });
  return b;
};
add(
  "archive-7z",
  inDir("7z", ["a", "-bd", "-m0=LZMA2", "a.7z", "eicar.com", "readme.txt"], "a.7z"),
  inDir("7z", ["a", "-bd", "-ms=on", "-mf=BCJ2", "-m0=LZMA", "b.7z", "eicar.com", "readme.txt"], "b.7z"),
  inDir("7z", ["a", "-bd", "-m0=PPMd", "c.7z", "eicar.com"], "c.7z"),
);
const rarFiles = [
  { name: "readme.txt", data: "hello" },
  { name: "dir/eicar.com", data: EICAR },
];
add("archive-rar", rar4(rarFiles), rar5(rarFiles));
const cabFiles = rarFiles.map((f) => ({ name: f.name, data: enc(f.data) }));
add("archive-cab", cab(cabFiles, "none"), cab(cabFiles, "mszip"));
add("archive-arj", inDir("arj", ["a", "-y", "a.arj", "eicar.com", "readme.txt"], "a.arj"));
// cpio (newc and old binary), SZDD, SIS, zip methods 6 and 9, and families only recognised
const newc = (files: [string, string][]) => {
  const parts: Uint8Array[] = [];
  const pad4 = (n: number) => new Uint8Array((4 - (n % 4)) % 4);
  for (const [name, data] of [...files, ["TRAILER!!!", ""] as [string, string]]) {
    const hex = (n: number) => n.toString(16).padStart(8, "0");
    const mode = name === "TRAILER!!!" ? 0 : 0o100644;
    const h = `070701${hex(1)}${hex(mode)}${hex(0)}${hex(0)}${hex(1)}${hex(0)}${hex(data.length)}${hex(0)}${hex(0)}${hex(0)}${hex(0)}${hex(name.length + 1)}${hex(0)}`;
    parts.push(enc(h), enc(name + "\0"), pad4(110 + name.length + 1), enc(data), pad4(data.length));
  }
  return Buffer.concat(parts);
};
const binCpio = (name: string, data: string) => {
  const h = Buffer.alloc(26);
  h.writeUInt16LE(0o70707, 0);
  h.writeUInt16LE(0o100644, 6);
  h.writeUInt16LE(name.length + 1, 20);
  h.writeUInt16LE(data.length, 24);
  const odd = (n: number) => new Uint8Array(n % 2);
  return Buffer.concat([h, enc(name + "\0"), odd(name.length + 1), enc(data), odd(data.length)]);
};
add(
  "archive-cpio",
  newc([
    ["e.com", EICAR],
    ["dir/r.txt", "hello\n"],
  ]),
  binCpio("e.com", EICAR),
);
const szddLiterals = (data: Uint8Array) => {
  const out = [0x53, 0x5a, 0x44, 0x44, 0x88, 0xf0, 0x27, 0x33, 0x41, 0x6d, data.length & 0xff, data.length >> 8, 0, 0];
  for (let i = 0; i < data.length; i += 8) out.push(0xff, ...data.subarray(i, i + 8));
  return Uint8Array.from([...out, 0x00, 0xf0, 0x0f]); // and one reference into the space-filled window
};
add("archive-szdd", szddLiterals(enc(EICAR)));
const sisOf = (data: Uint8Array) => {
  const head = Buffer.alloc(86);
  head.writeUInt32LE(0x10003a12, 4);
  head.writeUInt32LE(0x10000419, 8);
  head.writeUInt16LE(1, 18);
  head.writeUInt16LE(1, 20);
  head.writeUInt16LE(1, 36);
  head.writeUInt32LE(84, 48);
  head.writeUInt32LE(86, 52);
  const name = Buffer.from("e.com", "utf16le");
  const body = deflateSync(data);
  const r = Buffer.alloc(48);
  r.writeUInt32LE(name.length, 12);
  r.writeUInt32LE(86 + 48, 16);
  r.writeUInt32LE(body.length, 28);
  r.writeUInt32LE(86 + 48 + name.length, 32);
  r.writeUInt32LE(data.length, 36);
  return Buffer.concat([head, r, name, body]);
};
add("archive-sis", sisOf(enc(EICAR)));
const withMethod = (z: Buffer, method: number, size: number) => {
  const cd = z.indexOf(Buffer.from([0x50, 0x4b, 1, 2]));
  for (const base of [0, cd + 2]) {
    z.writeUInt16LE(method, base + 8);
    z.writeUInt32LE(size, base + 22);
  }
  return z;
};
// implode without a literal tree, every code 6 bits: literals are a 1 bit and 8 raw bits
const implodeLiterals = (data: Uint8Array) => {
  const bits: number[] = [];
  for (const c of data) for (const b of [1, ...Array.from({ length: 8 }, (_, i) => (c >> i) & 1)]) bits.push(b);
  const out = [3, 0xf5, 0xf5, 0xf5, 0xf5, 3, 0xf5, 0xf5, 0xf5, 0xf5];
  for (let i = 0; i < bits.length; i += 8) out.push(bits.slice(i, i + 8).reduce((a, b, k) => a | (b << k), 0));
  return Uint8Array.from(out);
};
add(
  "archive-zip-methods",
  // deflate output without length 258 is valid deflate64
  withMethod(makeZip([{ name: "e.com", data: deflateRawSync(enc(EICAR)), method: 0 }]), 9, 68),
  withMethod(makeZip([{ name: "e.com", data: implodeLiterals(enc(EICAR)), method: 0 }]), 6, 68),
);
add(
  "archive-recognise",
  Uint8Array.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c, 0, 4, ...new Uint8Array(40)]),
  "%PDF-1.4\n1 0 obj << /Filter /FlateDecode >> stream\nxx\nendstream\n",
  "From: a@example.com\nSubject: x\nContent-Type: text/plain\n\nbody\n",
  "begin 644 e.com\nM6#5/\n`\nend\n",
  buildPe({ ProductName: "fuzz" }),
);

add(
  "clamav-ndb",
  "Win.Test.A:0:*:41424344\nWin.Test.B:1:EP+0,16:4d5a??{2-4}(90|cc)*4142[1-3]43:51:255\nT.C:6:EOF-100:!(aabb)ccdd{-5}ee\nT.D:0:0:a?b?c?:18",
);
add(
  "clamav-ldb",
  "Win.Test.L;Engine:51-255,Target:1;0&1;41424344;45464748::i",
  "T.L2;Engine:51-255,Target:1,FileSize:10-100;(0|1)>2,1;aabb{1-4}ccdd;0/abc[de]+/i;EP+0:9090",
  "T.L3;Engine:51-255,Target:1,EntryPoint:0-4,NumberOfSections:2;0=2&1<3;4d5a*5045;2:00(01|02)",
);
add(
  "clamav-hash",
  "\x0044d88612fea8a8f36de82e1278abb02f:68:Win.Test.EICAR_HDB-1\n",
  "\x0168:44d88612fea8a8f36de82e1278abb02f:Win.Test.EICAR_MDB-1:73\n",
  "\x02*:44d88612fea8a8f36de82e1278abb02f:Fp\n",
  "\x03Win.Test.A\nWin.Test.B\n",
);
const stime = 1765000000;
const ndb = enc("A:0:*:41424344\nB:0:*:45464748\n");
const info = `ClamAV-VDB:06 Dec 2025 05-46 +0000:5:2:51:X:X:vigil:${stime}\ndaily.ndb:${ndb.length}:${createHash("sha256").update(ndb).digest("hex")}\n`;
const ckeys = generateContainerKeys();
const trusted = trustedKeysOf(ckeys);
const cvd = buildSignedCvd(
  [{ name: "daily.ndb", bytes: ndb }],
  { name: "daily", version: 5, signatures: 2, flevel: 51, stime },
  ckeys,
);
const opened = openContainer(cvd, { path: "daily.cvd", keys: trusted });
const cld = buildCld(opened.files, "daily.cld");
add(
  "clamav-container",
  new Uint8Array([0, ...cld]),
  new Uint8Array([2, ...cvd]),
  new Uint8Array([
    0,
    ...buildCld(
      [
        { name: "daily.info", bytes: enc(info) },
        { name: "daily.ndb", bytes: ndb },
      ],
      "daily.cld",
    ),
  ]),
);
const script = "OPEN daily.ndb\nADD D:0:*:4d4e4f50\nCLOSE\n";
add(
  "clamav-cdiff",
  buildSignedCdiff(script, 6, ckeys.cdiff),
  "OPEN daily.ndb\nADD D:0:*:4d4e4f50\nDEL 1 A:0:*:41424344\nXCHG 2 B:0:*:45464748 B:0:*:45464749\nCLOSE\n",
  "MOVE daily.ndb daily.hdb 1 A:0:*:41424344 2 X\nUNLINK daily.hdb\n",
);

const chunk = (b: string) => {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(b.length);
  return Buffer.concat([h, Buffer.from(b, "latin1")]);
};
add(
  "clamd",
  "zPING\0",
  "nVERSION\n",
  "PING",
  "zIDSESSION\0zPING\0zVERSION\0zEND\0",
  Buffer.concat([Buffer.from("zINSTREAM\0"), chunk(EICAR), chunk("more"), Buffer.alloc(4)]),
  Buffer.concat([Buffer.from("zIDSESSION\0nINSTREAM\n"), chunk("abc"), Buffer.alloc(4), Buffer.from("zSTATS\0zEND\0")]),
  "nVERSIONCOMMANDS\nzSCAN /nonexistent/file\0",
);
const part = (name: string, file: string, body: string) =>
  `--XyZ\r\nContent-Disposition: form-data; name="${name}"; filename="${file}"\r\nContent-Type: application/octet-stream\r\n\r\n${body}\r\n`;
add(
  "multipart",
  "\x01" + part("file", "a.txt", EICAR) + "--XyZ--\r\n",
  "\x07preamble\r\n" + part("f1", "x", "one") + part("f2", 'y"z', "two") + "--XyZ--\r\nepilogue",
  "\xf0--XyZ  \r\nContent-Disposition: form-data; name=\"f\"; filename*=utf-8''%e2%82%ac.bin\r\n\r\n" +
    "x".repeat(300) +
    "\r\n--XyZ--",
);

const mp = part("file", "e.com", EICAR) + "--XyZ--\r\n";
add(
  "http",
  "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n",
  "GET /v1/version HTTP/1.1\r\nHost: x\r\n\r\nHEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
  `POST /v1/scan?name=e.com HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${EICAR.length}\r\n\r\n${EICAR}`,
  `POST /v1/scan HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: ${mp.length}\r\n\r\n${mp}`,
  `POST /v1/scan HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
);

const key = generateKey("vigil-fuzz");
const note = signNote("vigil fuzz note\nline two\n", key.signerKey);
add("tlog-note", note, signNote("a\n", [key.signerKey, generateKey("other").signerKey]));
const root = leafHash(enc("x"));
const cp = formatCheckpoint({ origin: "example.com/log", size: 5, rootHash: root, extensions: ["ext"] });
add("tlog-checkpoint", cp);
add(
  "tlog-tile",
  new Uint8Array([0, ...encodeHashTile([root, leafHash(enc("y"))])]),
  new Uint8Array([1, ...encodeEntryBundle([enc("entry one"), enc("entry two")])]),
  new Uint8Array([3, ...enc(formatTlogProof({ index: 1n, proof: [root], checkpoint: signNote(cp, key.signerKey) }))]),
);
// executables: UPX-packed PEs (each method), a PE with a zip in its overlay, AutoIt, InstallShield
{
  const text = enc(`push 1; call 2; ${EICAR} `.repeat(20));
  const { image } = originalImage(text);
  const packed = (["nrv2b", "nrv2d", "nrv2e"] as const).map((m) => upxPe(m, image));
  add(
    "archive-exe",
    ...packed,
    Buffer.concat([packed[0]!, makeZip([{ name: "e.com", data: EICAR }])]),
    ycPe(text),
    wwpackPe(text),
  );
  const files = [
    { name: "C:\\a\\note.txt", data: enc("plain") },
    { name: "C:\\a\\e.com", data: enc(EICAR), compress: true },
  ];
  add("archive-autoit", autoit(5, files), autoit(6, files));
  add(
    "archive-ishield",
    ishield([
      { name: "Setup.ini", data: enc("[Startup]\n") },
      { name: "e.msi", data: enc(EICAR) },
    ]),
  );
}
const b = buildBundle(
  [
    { path: "a.yar", data: enc("rule a { condition: true }\n") },
    { path: "d/b.yar", data: enc('rule b { strings: $a = "x" condition: $a }\n') },
  ],
  { name: "fuzz", version: 1, previous: "", time: new Date(0) },
  key.signerKey,
);
add("updates-bundle", b.archive);

function hexKeys(k: ReturnType<typeof trustedKeysOf>): Record<string, Array<{ n: string; e: string }>> {
  return Object.fromEntries(
    Object.entries(k).map(([role, list]) => [
      role,
      (list as Array<{ n: bigint; e: bigint }>).map((x) => ({ n: x.n.toString(16), e: x.e.toString(16) })),
    ]),
  );
}

/** A minimal .NET assembly: a PE with a CLI header, metadata root and a Module and an Assembly row. */
function buildDotnet(): Uint8Array {
  const pad4 = (b: Buffer) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
  const u16 = (v: number) => {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v);
    return b;
  };
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    return b;
  };
  const strings = pad4(Buffer.from("\0fuzz.dll\0fuzz\0", "latin1"));
  const tables = pad4(
    Buffer.concat([
      u32(0),
      Buffer.from([2, 0, 0, 1]),
      u32(0x1),
      u32(0x1),
      u32(0),
      u32(0), // valid: Module (0) and Assembly (0x20); sorted: none
      u32(1),
      u32(1),
      u16(0),
      u16(1),
      u16(1),
      u16(0),
      u16(0), // Module: generation, name, mvid, encid, encbaseid
      u32(0x8004),
      u16(1),
      u16(2),
      u16(3),
      u16(4),
      u32(0),
      u16(0),
      u16(10),
      u16(0), // Assembly
    ]),
  );
  const guid = Buffer.from("00112233445566778899aabbccddeeff", "hex");
  const streams: Array<[string, Buffer]> = [
    ["#~", tables],
    ["#Strings", strings],
    ["#US", Buffer.alloc(4)],
    ["#GUID", guid],
    ["#Blob", Buffer.alloc(4)],
  ];
  const version = Buffer.from("v4.0.30319\0\0", "latin1");
  const headerLen =
    16 + version.length + 4 + streams.reduce((n, [name]) => n + 8 + pad4(Buffer.from(name + "\0", "latin1")).length, 0);
  let at = headerLen;
  const heads: Buffer[] = [];
  for (const [name, data] of streams) {
    heads.push(u32(at), u32(data.length), pad4(Buffer.from(name + "\0", "latin1")));
    at += data.length;
  }
  const meta = Buffer.concat([
    u32(0x424a5342),
    u16(1),
    u16(1),
    u32(0),
    u32(version.length),
    version,
    u16(0),
    u16(streams.length),
    ...heads,
    ...streams.map(([, d]) => d),
  ]);
  const RVA = 0x1000;
  const cli = Buffer.alloc(72);
  cli.writeUInt32LE(72, 0);
  cli.writeUInt16LE(2, 4);
  cli.writeUInt16LE(5, 6);
  cli.writeUInt32LE(RVA + 72, 8);
  cli.writeUInt32LE(meta.length, 12);
  cli.writeUInt32LE(1, 16);
  const text = Buffer.concat([cli, meta]);
  const raw = Math.ceil(text.length / 0x200) * 0x200;
  const h = Buffer.alloc(0x200);
  h.write("MZ", 0, "latin1");
  h.writeUInt32LE(0x40, 0x3c);
  h.write("PE\0\0", 0x40, "latin1");
  const coff = 0x44,
    opt = coff + 20,
    sec = opt + 224;
  h.writeUInt16LE(0x14c, coff);
  h.writeUInt16LE(1, coff + 2);
  h.writeUInt16LE(224, coff + 16);
  h.writeUInt16LE(0x2102, coff + 18);
  h.writeUInt16LE(0x10b, opt);
  h.writeUInt32LE(RVA, opt + 16);
  h.writeUInt32LE(0x400000, opt + 28);
  h.writeUInt32LE(0x1000, opt + 32);
  h.writeUInt32LE(0x200, opt + 36);
  h.writeUInt16LE(4, opt + 40);
  h.writeUInt16LE(4, opt + 48);
  h.writeUInt32LE(RVA + 0x1000, opt + 56);
  h.writeUInt32LE(0x200, opt + 60);
  h.writeUInt16LE(3, opt + 68);
  h.writeUInt32LE(16, opt + 92);
  h.writeUInt32LE(RVA, opt + 96 + 14 * 8);
  h.writeUInt32LE(72, opt + 96 + 14 * 8 + 4);
  h.write(".text", sec, "latin1");
  h.writeUInt32LE(text.length, sec + 8);
  h.writeUInt32LE(RVA, sec + 12);
  h.writeUInt32LE(raw, sec + 16);
  h.writeUInt32LE(0x200, sec + 20);
  h.writeUInt32LE(0x60000020, sec + 36);
  return Buffer.concat([h, text, Buffer.alloc(raw - text.length)]);
}

// with target names as arguments, only those folders are rewritten (keys.json and the signed
// seeds of the other targets stay as they are)
const only = process.argv.slice(2);
if (only.length) {
  for (const t of only) {
    if (!corpus[t]) throw new Error(`make-corpus: no seeds for target ${t}`);
    rmSync(join(CORPUS_DIR, t), { recursive: true, force: true });
  }
} else rmSync(CORPUS_DIR, { recursive: true, force: true });
for (const [t, seeds] of Object.entries(corpus)) {
  if (only.length && !only.includes(t)) continue;
  const dir = join(CORPUS_DIR, t);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [i, s] of seeds.entries()) writeFileSync(join(dir, `seed-${String(i).padStart(2, "0")}`), s);
}
if (!only.length)
  writeFileSync(
    join(CORPUS_DIR, "keys.json"),
    JSON.stringify(
      {
        note: "test keys made by fuzz/make-corpus.ts for the fuzz seeds only",
        noteVerifier: key.verifierKey,
        clamav: hexKeys(trusted),
      },
      null,
      2,
    ) + "\n",
  );
console.log(
  Object.entries(corpus)
    .map(([t, s]) => `${t}: ${s.length}`)
    .join("\n"),
);
