// Issue 15, mail: the built `vigil scan` on clamav-testfiles' mail, mbox, uuencode, BinHex,
// TNEF and HTML forms of clam.exe with the one-line hash signature (clamscan 1.4.6 as the
// oracle), and on a generated .eml with EICAR as a base64 attachment (before: OK).
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { EICAR, needs } from "@vigil/test-kit";

const BIN = fileURLToPath(new URL("../bin/vigil.js", import.meta.url));
const FILES = [
  "clam.mail",
  "clam.exe.mbox.base64",
  "clam.exe.mbox.uu",
  "clam.exe.binhex",
  "clam.tnef",
  "clam.exe.html",
];

function lines(out: string): string[] {
  return out
    .split("\n")
    .filter((l) => l.endsWith(" FOUND"))
    .sort();
}

describe.skipIf(
  needs("mail forms of clamav-testfiles", { tools: ["clamscan"], debianFiles: ["/usr/share/clamav-testfiles"] }),
)("vigil scan on mail, TNEF, BinHex, uuencode and HTML", () => {
  it("clamav-testfiles: the same six files as clamscan, with the member path", () => {
    const d = mkdtempSync(join(tmpdir(), "vigil-mail-ctf-"));
    const t = join(d, "t");
    mkdirSync(t);
    for (const f of FILES) cpSync(join("/usr/share/clamav-testfiles", f), join(t, f));
    writeFileSync(join(d, "test.hdb"), "aa15bcf478d165efd2065190eb473bcb:544:ClamAV-Test-File\n");
    const c = spawnSync("clamscan", ["-r", "--no-summary", "--infected", "-d", join(d, "test.hdb"), t], {
      encoding: "utf8",
    });
    const v = spawnSync(
      process.execPath,
      [BIN, "scan", "--no-builtin", "--no-cache", "-i", "--no-summary", "-d", join(d, "test.hdb"), t],
      { encoding: "utf8" },
    );
    expect(lines(c.stdout)).toEqual(FILES.map((f) => `${join(t, f)}: ClamAV-Test-File.UNOFFICIAL FOUND`).sort());
    const member: Record<string, string> = {
      "clam.mail": "clam.exe",
      "clam.exe.mbox.base64": "clam.exe",
      "clam.exe.mbox.uu": "clam.exe",
      "clam.exe.binhex": "clam.exe",
      "clam.tnef": "clam.exe",
      "clam.exe.html": "data-1",
    };
    expect(lines(v.stdout)).toEqual(
      FILES.map((f) => `${join(t, f)}!${member[f]}: ClamAV-Test-File.UNOFFICIAL FOUND`).sort(),
    );
    // read whole: nothing reported as not fully scanned
    expect(v.stdout).not.toMatch(/Not fully scanned/);
    expect(v.status).toBe(1);
  });

  it("an .eml with EICAR as a base64 attachment: FOUND with the built-in rules, exit 1", () => {
    const d = mkdtempSync(join(tmpdir(), "vigil-mail-eml-"));
    const att = Buffer.from(EICAR).toString("base64");
    writeFileSync(
      join(d, "invoice.eml"),
      `From: a@example.com\r\nTo: b@example.com\r\nSubject: invoice\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="XX"\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--XX\r\nContent-Type: application/octet-stream; name="invoice.com"\r\nContent-Transfer-Encoding: base64\r\n\r\n${att}\r\n--XX--\r\n`,
    );
    const v = spawnSync(process.execPath, [BIN, "scan", "--no-cache", "--no-summary", join(d, "invoice.eml")], {
      encoding: "utf8",
    });
    expect(v.stdout).toMatch(/invoice\.eml!invoice\.com: \S+ FOUND/);
    expect(v.status).toBe(1);
  });
});
