// Issue 15, mail: the built `vigil scan` on clamav-testfiles' mail, mbox, uuencode, BinHex,
// TNEF and HTML forms of clam.exe with the one-line hash signature (clamscan 1.4.6 as the
// oracle), and on a generated .eml with EICAR as a base64 attachment (before: OK).
import { describe, expect, it } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { EICAR, needs } from "@vigil/test-kit";
// the scanner's mail fixture builders
import { attachment, binhex, enc, message, multipart, textPart, tnef } from "../../scanner/test/helpers/mail.js";

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

/** top-level file -> whether it was found, from clamscan's or vigil's output */
function foundFiles(out: string, root: string): string[] {
  return out
    .split("\n")
    .filter((l) => l.endsWith(" FOUND"))
    .map((l) => l.slice(root.length + 1).replace(/(!|: ).*$/, ""))
    .sort();
}

describe.skipIf(needs("mail differential against clamscan", { tools: ["clamscan", "uuencode"] }))(
  "generated mail fixtures: vigil scan against clamscan 1.4.6 (EICAR hash signature)",
  () => {
    it("finds every file clamscan finds, and three clamscan misses", () => {
      const d = mkdtempSync(join(tmpdir(), "vigil-mail-diff-"));
      const t = join(d, "t");
      mkdirSync(t);
      const uu = (name: string, data: string, m = false) =>
        execFileSync("uuencode", [...(m ? ["-m"] : []), name], { input: Buffer.from(data, "latin1") }).toString(
          "latin1",
        );
      const b64 = Buffer.from(EICAR).toString("base64");
      const files: Record<string, string | Uint8Array> = {
        "b64.eml": message(multipart([textPart("hi"), attachment("e.com", EICAR)], "B")),
        "qp.eml": message({
          headers: "Content-Type: application/octet-stream; name=e.com\r\nContent-Transfer-Encoding: quoted-printable",
          body: EICAR.replace(/=/g, "=3D"),
        }),
        "nested.eml": message(multipart([multipart([textPart("a"), attachment("e.com", EICAR)], "IN")], "OUT")),
        "rfc822.eml": message(
          multipart(
            [textPart("fwd"), { headers: "Content-Type: message/rfc822", body: message(attachment("e.com", EICAR)) }],
            "B",
          ),
        ),
        "two.mbox": `From a@b Mon Dec  7 10:00:00 2026\n${message(textPart("one"))}\n\nFrom a@b Mon Dec  7 10:01:00 2026\n${message(attachment("e.com", EICAR))}\n`,
        "e.uu": uu("e.com", EICAR),
        "e-m.uu": uu("e.com", EICAR, true),
        "uu-in-text.eml": message(textPart(`hello\n\n${uu("e.com", EICAR)}`)),
        "xuu.eml": message({
          headers: "Content-Type: application/octet-stream; name=e.com\r\nContent-Transfer-Encoding: x-uuencode",
          body: uu("e.com", EICAR),
        }),
        "e.hqx": binhex("e.com", enc(EICAR)),
        "hqx-att.eml": message({
          headers: 'Content-Type: application/mac-binhex40; name="e.hqx"',
          body: binhex("e.com", enc(EICAR)),
        }),
        "winmail.dat": tnef([{ title: "E.COM", data: enc(EICAR) }]),
        "tnef.eml": message(
          multipart(
            [
              textPart("x"),
              attachment("winmail.dat", tnef([{ title: "E.COM", data: enc(EICAR) }]), "application/ms-tnef"),
            ],
            "B",
          ),
        ),
        "data64.html": `<html><body><a href="data:application/octet-stream;base64,${b64}">x</a></body></html>`,
        "datapct.html": `<html><body><img src="data:text/plain,${encodeURIComponent(EICAR)}"></body></html>`,
        "html.eml": message(
          textPart(`<html><body><a href="data:;base64,${b64}">x</a></body></html>`, "7bit", "text/html"),
        ),
        "clean.eml": message(multipart([textPart("nothing"), attachment("x.txt", "hello")], "B")),
      };
      for (const [n, c] of Object.entries(files))
        writeFileSync(join(t, n), typeof c === "string" ? Buffer.from(c, "latin1") : c);
      writeFileSync(join(d, "e.hdb"), "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Hash\n");
      const c = spawnSync("clamscan", ["-r", "--no-summary", "--infected", "-d", join(d, "e.hdb"), t], {
        encoding: "utf8",
      });
      const v = spawnSync(
        process.execPath,
        [BIN, "scan", "--no-builtin", "--no-cache", "-i", "--no-summary", "-d", join(d, "e.hdb"), t],
        { encoding: "utf8" },
      );
      const theirs = foundFiles(c.stdout, t);
      const ours = foundFiles(v.stdout, t);
      // clamscan misses: a percent-encoded data: URI, uuencode's base64 form (begin-base64), and
      // a quoted-printable attachment (its line-by-line decoder adds a final line break)
      const extra = ["datapct.html", "e-m.uu", "qp.eml"];
      expect(theirs).toEqual(
        Object.keys(files)
          .filter((f) => f !== "clean.eml" && !extra.includes(f))
          .sort(),
      );
      expect(ours).toEqual([...theirs, ...extra].sort());
      expect(v.stdout).not.toMatch(/Not fully scanned/);
    });

    it("HTML: clamscan matches no hash signature on the raw page (it hashes only its normalised forms); vigil does", () => {
      const d = mkdtempSync(join(tmpdir(), "vigil-mail-html-"));
      const t = join(d, "t");
      mkdirSync(t);
      const page = Buffer.from("<html><body><p>hello</p><script>var a = 1;</script></body></html>\n");
      writeFileSync(join(t, "p.html"), page);
      const md5 = createHash("md5").update(page).digest("hex");
      writeFileSync(join(d, "p.hdb"), `${md5}:${page.length}:Raw-Page\n`);
      const c = spawnSync("clamscan", ["--no-summary", "-d", join(d, "p.hdb"), t], { encoding: "utf8" });
      const v = spawnSync(
        process.execPath,
        [BIN, "scan", "--no-builtin", "--no-cache", "--no-summary", "-d", join(d, "p.hdb"), t],
        {
          encoding: "utf8",
        },
      );
      expect(c.stdout).toMatch(/p\.html: OK/);
      expect(lines(v.stdout)).toEqual([`${join(t, "p.html")}: Raw-Page.UNOFFICIAL FOUND`]);
    });
  },
);
