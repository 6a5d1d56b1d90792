// Issue 15, documents: `vigil scan` (the built bin) against Debian's clamscan on OLE2, PDF and
// RTF files: clamav-testfiles' clam.ole.doc, clam.ppt, clam.pdf and clam.exe.rtf with a
// one-line hash signature of clam.exe, and generated fixtures with a hash signature of EICAR
// (clamscan reading the generated files also checks the test writers against another reader).
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { deflateSync } from "node:zlib";
import {
  EICAR,
  makeCfb,
  makeEncryptedPdf,
  makePdf,
  makeRtf,
  msiStreamName,
  needs,
  ole10Native,
  ole1Object,
  pdfEncode,
} from "@vigil/test-kit";

const BIN = fileURLToPath(new URL("../bin/vigil.js", import.meta.url));

function found(out: string, root: string): Array<[string, string]> {
  const r: Array<[string, string]> = [];
  for (const line of out.split("\n")) {
    const x = /^(.*?): (\S+) FOUND$/.exec(line);
    if (x) r.push([relative(root, x[1]!), x[2]!]);
  }
  return r.sort((a, b) => a[0].localeCompare(b[0]));
}
const tops = (f: Array<[string, string]>) => [...new Set(f.map(([p, n]) => `${p.replace(/!.*$/, "")} ${n}`))].sort();

function clamscan(db: string, root: string) {
  const r = spawnSync("clamscan", ["-r", "--no-summary", "--infected", "-d", db, root], { encoding: "utf8" });
  return found(r.stdout, root);
}
function vigil(db: string, root: string) {
  const r = spawnSync(
    process.execPath,
    [BIN, "scan", "--no-builtin", "--no-cache", "-i", "--no-summary", "-d", db, root],
    {
      encoding: "utf8",
    },
  );
  expect(r.stderr).not.toMatch(/Error/);
  return found(r.stdout, root);
}

describe.skipIf(
  needs("documents: vigil scan vs clamscan", { tools: ["clamscan"], debianFiles: ["/usr/share/clamav-testfiles"] }),
)("documents: vigil scan vs clamscan 1.4.6", () => {
  it("clamav-testfiles clam.ole.doc, clam.ppt, clam.pdf, clam.exe.rtf: found, with the member path", () => {
    const d = mkdtempSync(join(tmpdir(), "vigil-docs-"));
    mkdirSync(join(d, "t"));
    const files = ["clam.ole.doc", "clam.ppt", "clam.pdf", "clam.exe.rtf"];
    for (const f of files) cpSync(join("/usr/share/clamav-testfiles", f), join(d, "t", f));
    writeFileSync(join(d, "test.hdb"), "aa15bcf478d165efd2065190eb473bcb:544:ClamAV-Test-File\n");
    const c = clamscan(join(d, "test.hdb"), join(d, "t"));
    const v = vigil(join(d, "test.hdb"), join(d, "t"));
    expect(tops(c)).toEqual(files.sort().map((f) => `${f} ClamAV-Test-File.UNOFFICIAL`));
    expect(tops(v)).toEqual(tops(c));
    expect(v.map(([p]) => p)).toEqual([
      "clam.exe.rtf!objdata0/clam.exe",
      "clam.ole.doc!ObjectPool/_1279313719/Ole10Native/clam.exe",
      "clam.pdf!clam.exe",
      "clam.ppt!PowerPoint Document/ExOleObjStg@4422!Ole10Native/clam.exe",
    ]);
  });

  it("generated OLE2, MSI, PDF (filters, embedded file, encrypted with and without a user password) and RTF fixtures: the same files as clamscan", () => {
    const d = mkdtempSync(join(tmpdir(), "vigil-docs-gen-"));
    const t = join(d, "t");
    mkdirSync(t);
    const md5 = createHash("md5").update(EICAR).digest("hex");
    writeFileSync(join(d, "eicar.hdb"), `${md5}:${EICAR.length}:Eicar-Hash\n`);
    const secret = [
      { dict: "<< /Type /Catalog >>" },
      { dict: "<< /Type /EmbeddedFile /Filter /FlateDecode >>", stream: deflateSync(Buffer.from(EICAR)) },
    ];
    const files: Record<string, Uint8Array> = {
      "ole10.doc": makeCfb([
        { path: "WordDocument", data: "w".repeat(5000) },
        { path: "ObjectPool/_1/\x01Ole10Native", data: ole10Native("eicar.com", EICAR) },
      ]),
      "v4.doc": makeCfb(
        [
          { path: "Big", data: "b".repeat(9000) },
          { path: "Payload", data: EICAR },
        ],
        { version: 4 },
      ),
      "stream.xls": makeCfb([
        { path: "Workbook", data: "b" },
        { path: "Attached", data: EICAR },
      ]),
      "table.msi": makeCfb([
        { path: msiStreamName("Property", true), data: "p" },
        { path: msiStreamName("eicar.com"), data: EICAR },
      ]),
      "embedded.pdf": makePdf([
        { dict: "<< /Type /Catalog /Names << /EmbeddedFiles << /Names [(eicar.com) 2 0 R] >> >> >>" },
        { dict: "<< /Type /Filespec /F (eicar.com) /EF << /F 3 0 R >> >>" },
        { dict: "<< /Type /EmbeddedFile /Filter /FlateDecode >>", stream: deflateSync(Buffer.from(EICAR)) },
      ]),
      "a85.pdf": makePdf([
        { dict: "<< /Type /Catalog >>" },
        {
          dict: "<< /Type /EmbeddedFile /Filter [/ASCII85Decode /FlateDecode] >>",
          stream: pdfEncode(EICAR, ["ASCII85Decode", "FlateDecode"]),
        },
      ]),
      "enc-rc4.pdf": makeEncryptedPdf(secret, "rc4-128"),
      "enc-aes128.pdf": makeEncryptedPdf(secret, "aes-128"),
      "enc-aes256.pdf": makeEncryptedPdf(secret, "aes-256"),
      "password.pdf": makeEncryptedPdf(secret, "aes-128", "secret"),
      "package.rtf": makeRtf(ole1Object("Package", ole10Native("eicar.com", EICAR))),
      "clean.pdf": makePdf([
        { dict: "<< /Type /Catalog >>" },
        { dict: "<< /Filter /FlateDecode >>", stream: deflateSync(Buffer.from("BT ET")) },
      ]),
      "clean.doc": makeCfb([{ path: "WordDocument", data: "nothing here" }]),
    };
    for (const [n, b] of Object.entries(files)) writeFileSync(join(t, n), b);
    const c = clamscan(join(d, "eicar.hdb"), t);
    const v = vigil(join(d, "eicar.hdb"), t);
    const infected = [
      "a85.pdf",
      "embedded.pdf",
      "enc-aes128.pdf",
      "enc-aes256.pdf",
      "enc-rc4.pdf",
      "ole10.doc",
      "package.rtf",
      "stream.xls",
      "table.msi",
      "v4.doc",
    ];
    expect(tops(c)).toEqual(infected.map((f) => `${f} Eicar-Hash.UNOFFICIAL`));
    expect(tops(v)).toEqual(tops(c));
    expect(v.map(([p]) => p)).toContain("embedded.pdf!eicar.com");
    expect(v.map(([p]) => p)).toContain("table.msi!eicar.com");
  });
});
