/**
 * Seeds of the mail family's fuzz targets (archive-mail, -tnef, -uuencoded, -binhex, -html),
 * built with the scanner's test builders and Debian's uuencode. fuzz/make-corpus.ts adds them
 * with the rest; `npx tsx fuzz/corpus-mail.ts` rewrites only these (no keys change).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EICAR } from "@vigil/test-kit";
// the scanner's mail fixture builders (a script, not a test: it runs when the corpus is remade)
import { attachment, binhex, enc, message, multipart, textPart, tnef } from "../packages/scanner/test/helpers/mail.js";

export function mailSeeds(): Record<string, Uint8Array[]> {
  const uu = (name: string, data: string, base64 = false) =>
    new Uint8Array(execFileSync("uuencode", [...(base64 ? ["-m"] : []), name], { input: Buffer.from(data, "latin1") }));
  const winmail = tnef([{ title: "E.COM", longName: "eicar.com", data: enc(EICAR) }], "body");
  const hqx = binhex("e.com", enc(`${EICAR}${"\0".repeat(40)}`), enc("rsrc"));
  return {
    "archive-mail": [
      enc(message(multipart([textPart("caf=C3=A9", "quoted-printable"), attachment("e.com", EICAR)], "B"))),
      enc(
        `From a@b Mon Dec  7 10:00:00 2026\n${message(
          multipart(
            [
              multipart([textPart("x"), textPart("<p>y</p>", "7bit", "text/html")], "A", "alternative"),
              { headers: "Content-Type: message/rfc822", body: message(attachment("in.com", EICAR)) },
            ],
            "B",
          ),
        )}\n\nFrom c@d Mon Dec  7 10:01:00 2026\n${message(textPart(`see\n${Buffer.from(uu("u.com", EICAR)).toString("latin1")}`))}`,
      ),
      enc(
        message({ headers: 'Content-Type: application/mac-binhex40; name="e.hqx"', body: hqx.slice(hqx.indexOf(":")) }),
      ),
    ],
    "archive-tnef": [winmail],
    "archive-uuencoded": [uu("e.com", EICAR), uu("m.com", `${EICAR}\n${"x".repeat(100)}`, true)],
    "archive-binhex": [enc(hqx)],
    "archive-html": [
      enc(
        `<html><head><script>var a = 1;</script></head><body><a href="data:application/octet-stream;base64,${Buffer.from(EICAR).toString("base64")}">x</a><img src='data:text/plain,%41%42'></body></html>`,
      ),
    ],
  };
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const dir = join(import.meta.dirname, "corpus");
  for (const [t, seeds] of Object.entries(mailSeeds())) {
    rmSync(join(dir, t), { recursive: true, force: true });
    mkdirSync(join(dir, t), { recursive: true });
    for (const [i, s] of seeds.entries()) writeFileSync(join(dir, t, `seed-${String(i).padStart(2, "0")}`), s);
  }
}
