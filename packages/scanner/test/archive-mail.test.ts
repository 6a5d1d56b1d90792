// Issue 15, mail: RFC 822/MIME messages and mbox, uuencode, BinHex, TNEF and HTML opened by
// content; every fixture is generated here (Debian's uuencode and tnef check the builders
// where installed); each form also truncated, corrupted and bombed: a clear "not fully
// scanned" with the reason, never a crash, a hang or OK.
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EICAR, needs } from "@vigil/test-kit";
import { scanBytes, DEFAULT_LIMITS, sniffArchive, readArchive, type Limits } from "../src/index.js";
import { starter, withRules } from "./helpers/detector.js";
import {
  attachment,
  b64,
  binhex,
  concat,
  enc,
  message,
  multipart,
  textPart,
  tnef,
  tnefAttr,
  mapiString,
  yenc,
} from "./helpers/mail.js";

// EICAR at the start of a (member) file: the raw container never matches, its decoded members do
const detector = withRules(
  `rule EICAR_Member { strings: $e = "${EICAR.replace(/\\/g, "\\\\")}" condition: $e at 0 }`,
).detector;
const limits = (over: Partial<Limits> = {}): Limits => ({ ...DEFAULT_LIMITS, ...over });
const scan = (b: Uint8Array | string, name: string, over: Partial<Limits> = {}) =>
  scanBytes(detector, typeof b === "string" ? enc(b) : b, name, { limits: limits(over) });
const found = (r: ReturnType<typeof scan>) => r.detections.map((d) => d.path).sort();
const reasons = (r: ReturnType<typeof scan>) => r.incomplete.map((i) => `${i.reason} ${i.path}`);
const members = (b: Uint8Array | string) => {
  const bytes = typeof b === "string" ? enc(b) : b;
  const kind = sniffArchive(bytes);
  if (!kind) return undefined;
  return [...readArchive(kind, bytes, "x", () => 1 << 30)].map((m) => ({
    name: m.name,
    text: m.data ? Buffer.from(m.data).toString("latin1") : undefined,
    problem: m.problem?.message,
  }));
};
const tmp = () => mkdtempSync(join(tmpdir(), "vigil-mail-"));

const eicarMail = () =>
  message(multipart([textPart("Hello, see the attachment."), attachment("eicar.com", EICAR)], "=_outer_1"));

describe("MIME messages", () => {
  it("an .eml with EICAR as a base64 attachment is found (the issue's example; before: OK)", () => {
    const r = scanBytes(starter().detector, enc(eicarMail()), "mail.eml", { limits: limits() });
    expect(r.detections.map((d) => [d.path, d.name])).toEqual([["mail.eml!eicar.com", "Win.Test.EICAR_HDB-1"]]);
    expect(r.incomplete).toEqual([]);
  });

  it("names parts by filename (RFC 2231, RFC 2047) or number; quoted-printable and 7bit parts decode", () => {
    const m = message(
      multipart(
        [
          textPart("caf=C3=A9 =\r\nsoft break", "quoted-printable"),
          {
            headers: `Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename*=utf-8''%E2%82%AC%20bill.com`,
            body: b64(EICAR),
          },
          {
            headers: `Content-Type: application/octet-stream; name="=?utf-8?B?${Buffer.from("résumé.com").toString("base64")}?="\r\nContent-Transfer-Encoding: base64`,
            body: b64(EICAR),
          },
        ],
        "b1",
      ),
    );
    expect(members(m)).toEqual([
      { name: "1", text: "caf\xc3\xa9 soft break", problem: undefined },
      { name: "€ bill.com", text: EICAR, problem: undefined },
      { name: "résumé.com", text: EICAR, problem: undefined },
    ]);
    expect(found(scan(m, "m.eml"))).toEqual(["m.eml!résumé.com", "m.eml!€ bill.com"]);
  });

  it("nested multiparts and message/rfc822 parts are opened a level deeper each", () => {
    const inner = message(multipart([textPart("inner"), attachment("deep.com", EICAR)], "in"), "forwarded");
    const m = message(
      multipart(
        [
          multipart([textPart("plain"), textPart("<p>html</p>", "7bit", "text/html")], "alt", "alternative"),
          { headers: `Content-Type: message/rfc822; name="fwd.eml"`, body: inner },
          attachment("top.com", EICAR),
        ],
        "mixed",
      ),
    );
    const r = scan(m, "n.eml");
    expect(found(r)).toEqual(["n.eml!fwd.eml!deep.com", "n.eml!top.com"]);
    expect(r.incomplete).toEqual([]);
    expect(members(m)!.map((x) => x.name)).toEqual(["1", "fwd.eml", "top.com"]);
  });

  it("mbox: messages split at From lines, members prefixed with the message number", () => {
    const box = `From alice@example.com Mon Dec  7 10:00:00 2026\n${message(textPart("first"))}\n\nFrom bob@example.com Mon Dec  7 10:05:00 2026\n${eicarMail()}\n`;
    expect(found(scan(box, "box.mbox"))).toEqual(["box.mbox!2/eicar.com"]);
    // one message: no prefix (clamav-testfiles' clam.exe.mbox.base64 is one)
    const one = `From x@y Mon Dec  7 10:00:00 2026\n${eicarMail()}`;
    expect(found(scan(one, "one.mbox"))).toEqual(["one.mbox!eicar.com"]);
  });

  it("recognised by content, not by name: header lines at the start; other text is not opened", () => {
    for (const start of [
      "Received: from x",
      "MIME-Version: 1.0",
      "Content-Type: text/plain",
      "content-type: text/plain",
      "Return-Path: <a@b>",
      "X-Mailer: x\r\nX-Other: y\r\nSubject: z",
    ])
      expect(sniffArchive(enc(`${start}\r\n\r\nbody`))).toBe("mail");
    for (const text of [
      "Hello world\nFrom: x",
      "Note: this is not mail\n\nbody",
      " From: x\n",
      "From nowhere",
      "title: a post\ndate: 2026-12-07\n\nYAML front matter, not mail",
    ])
      expect(sniffArchive(enc(text))).toBeUndefined();
    expect(sniffArchive(enc(eicarMail()))).toBe("mail");
  });

  it("damage: broken base64 and a missing closing boundary are reported, what decoded is scanned", () => {
    const full = eicarMail();
    const broken = full.replace(b64(EICAR).slice(0, 20), `${b64(EICAR).slice(0, 20)}!!**`);
    const r = scan(broken, "b.eml");
    // the stray characters are skipped (as mail readers do): the attachment still decodes
    expect(found(r)).toEqual(["b.eml!eicar.com"]);
    expect(r.incomplete.map((i) => [i.reason, i.path])).toEqual([["corrupt-archive", "b.eml!eicar.com"]]);
    expect(r.incomplete[0]!.message).toMatch(/outside the base64 alphabet/);
    // cut inside the attachment: the closing boundary is gone, the cut part is reported
    const cut = full.slice(0, full.indexOf(b64(EICAR)) + 40);
    const c = scan(cut, "c.eml");
    expect(c.incomplete.map((i) => i.reason)).toEqual(["corrupt-archive"]);
    expect(c.incomplete[0]!.message).toMatch(/without its closing boundary/);
    // a multipart with no boundary line at all is scanned as one part, reported
    const none = message({ headers: `Content-Type: multipart/mixed; boundary="zz"`, body: "no parts here" });
    expect(reasons(scan(none, "z.eml"))).toEqual(["corrupt-archive z.eml!1"]);
    // a multipart without its boundary parameter: split at the first "--" line, reported
    const lost = message({
      headers: "Content-Type: multipart/mixed",
      body: `--QQ\r\n${attachment("e.com", EICAR).headers}\r\n\r\n${b64(EICAR)}\r\n--QQ--\r\n`,
    });
    const l = scan(lost, "l.eml");
    expect(found(l)).toEqual(["l.eml!e.com"]);
    expect(l.incomplete.map((i) => i.message)).toEqual([
      'multipart/mixed has no boundary parameter; parts split at the first "--QQ" line',
    ]);
    // an unknown transfer encoding: scanned raw, reported as unsupported
    const odd = message({ headers: "Content-Type: text/plain\r\nContent-Transfer-Encoding: x-gzip64", body: "abc" });
    expect(reasons(scan(odd, "o.eml"))).toEqual(["unsupported o.eml!1"]);
  });

  it("every truncation of a message with an attachment: never a crash or an error; found, or not fully scanned", () => {
    const full = enc(eicarMail());
    for (let n = 1; n < full.length; n += 7) {
      const r = scan(full.subarray(0, n), "t.eml");
      expect(r.errors).toEqual([]);
      if (found(r).length === 0 && n > full.length - 20) expect(r.incomplete.length).toBeGreaterThan(0);
    }
  });

  it("bomb: 10,000 nested multiparts stop at the recursion limit, reported, in time", () => {
    let open = "";
    let close = "";
    for (let i = 0; i < 10_000; i++) {
      open += `--b${i}\r\nContent-Type: multipart/mixed; boundary="b${i + 1}"\r\n\r\n`;
      close = `\r\n--b${i}--\r\n${close}`;
    }
    const m = `From: a@b\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b0"\r\n\r\n${open}--b10000\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64(EICAR)}\r\n--b10000--${close}`;
    const t0 = Date.now();
    const r = scan(m, "deep.eml");
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(r.errors).toEqual([]);
    expect(r.incomplete.map((i) => i.reason)).toEqual(["max-recursion"]);
    expect(r.incomplete[0]!.path).toBe(`deep.eml${"!1".repeat(DEFAULT_LIMITS.maxRecursion)}`);
  });

  it("bomb: a base64 part over the scan budget and 100,000 parts over the member limit are reported", () => {
    const big = message(attachment("big.bin", new Uint8Array(3 << 20)));
    const r = scan(big, "big.eml", { maxScanSize: 6 << 20 });
    expect(r.incomplete.map((i) => [i.reason, i.path])).toEqual([["max-scansize", "big.eml!big.bin"]]);
    const parts = Array.from({ length: 100_000 }, (_, i) => textPart(`p${i}`));
    const many = message(multipart(parts, "m"));
    const t0 = Date.now();
    const s = scan(many, "many.eml", { maxFiles: 1000 });
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(s.incomplete.map((i) => i.reason)).toEqual(["max-files"]);
  });

  it("a 20 MB header line is skipped without holding it, and the attachment after it is found", () => {
    const m = `From: a@b\r\nX-Long: ${"a".repeat(20 << 20)}\r\n${eicarMail().slice("From: Alice <alice@example.com>\r\n".length)}`;
    expect(found(scan(m, "long.eml"))).toEqual(["long.eml!eicar.com"]);
  });
});

describe("uuencode", () => {
  const uu = (data: string, name: string, base64 = false) =>
    execFileSync("uuencode", [...(base64 ? ["-m"] : []), name], { input: Buffer.from(data, "latin1") }).toString(
      "latin1",
    );
  const missing = needs("uuencode fixtures", { tools: ["uuencode"] });

  it.skipIf(missing)("bare uuencoded files (classic and -m) and blocks inside text parts and x-uuencode bodies", () => {
    expect(found(scan(uu(EICAR, "e.com"), "e.uu"))).toEqual(["e.uu!e.com"]);
    expect(found(scan(uu(EICAR, "m.com", true), "m.uu"))).toEqual(["m.uu!m.com"]);
    const data = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff)).toString("latin1");
    expect(members(uu(data, "bin.dat"))).toEqual([{ name: "bin.dat", text: data, problem: undefined }]);
    const text = message(textPart(`Hi,\r\nhere it is:\r\n\r\n${uu(EICAR, "in-text.com")}\r\nbye\r\n`));
    expect(found(scan(text, "t.eml"))).toEqual(["t.eml!in-text.com"]);
    // in a multipart's preamble, right at its start (no part holds it)
    const pre = `From: a@b\r\nContent-Type: multipart/mixed; boundary="P"\r\n\r\n${uu(EICAR, "pre.com")}--P\r\n\r\nx\r\n--P--\r\n`;
    expect(found(scan(pre, "p.eml"))).toEqual(["p.eml!pre.com"]);
    const xuu = message({
      headers: 'Content-Type: application/octet-stream; name="x.com"\r\nContent-Transfer-Encoding: x-uuencode',
      body: uu(EICAR, "x.com"),
    });
    expect(found(scan(xuu, "x.eml"))).toEqual(["x.eml!x.com"]);
  });

  it.skipIf(missing)("truncated and corrupted uuencode: reported beside what decoded", () => {
    const full = uu(`${EICAR}${"z".repeat(300)}`, "e.com");
    const cut = full.slice(0, full.indexOf("\n", 120) + 1);
    const r = scan(cut, "cut.uu");
    expect(found(r)).toEqual(["cut.uu!e.com"]);
    expect(r.incomplete.map((i) => [i.reason, i.path])).toEqual([["corrupt-archive", "cut.uu!e.com"]]);
    expect(r.incomplete[0]!.message).toMatch(/no end line/);
    const short = full.replace(/\nM(.{20}).*\n/, "\nM$1\n");
    expect(scan(short, "short.uu").incomplete[0]!.message).toMatch(/fewer characters than its length/);
  });
});

describe("yEnc", () => {
  it("blocks in text parts and x-yencode bodies decode (escapes included); damage is reported", () => {
    const data = concat(EICAR, new Uint8Array([0, 0xd6, 0xe0, 0xe3, 0x13, 10, 13, 61, 255]));
    const y = yenc("y.com", data);
    const text = message(textPart(`Here:\r\n${y}\r\nbye`));
    expect(members(text)!.slice(1)).toEqual([
      { name: "y.com", text: Buffer.from(data).toString("latin1"), problem: undefined },
    ]);
    expect(found(scan(text, "y.eml"))).toEqual(["y.eml!y.com"]);
    const body = message({
      headers: "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: x-yencode",
      body: y,
    });
    expect(found(scan(body, "b.eml"))).toEqual(["b.eml!y.com"]);
    const cut = scan(message(textPart(`x\r\n${y.slice(0, y.indexOf("=yend"))}`)), "c.eml");
    expect(found(cut)).toEqual(["c.eml!y.com"]);
    expect(cut.incomplete[0]!.message).toMatch(/no =yend line/);
  });
});

describe("many encoded blocks in one text", () => {
  it("5,000 uuencoded, yEnc and BinHex blocks in a mail text: each allocates for itself, in time", () => {
    const block = ["begin 644 u.txt\n#86)C\n`\nend\n", yenc("y.txt", enc("abc")), binhex("b.txt", enc("abc"))];
    const text = Array.from({ length: 5000 }, (_, i) => `line ${i}\n${block[i % 3]}`).join("") + "x".repeat(2 << 20);
    const t0 = Date.now();
    const r = scan(message(textPart(text)), "many.eml", { maxFiles: 100_000 });
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(r.errors).toEqual([]);
    expect(r.incomplete.map((i) => [i.path, i.message])).toEqual([]);
    const m = members(message(textPart(text)))!;
    expect(m.length).toBe(1 + 5000);
    expect(new Set(m.slice(1).map((x) => x.text))).toEqual(new Set(["abc"]));
  });
});

describe("BinHex 4.0", () => {
  it("decodes the data fork (run-length coded) and names it from the header", () => {
    const data = concat(EICAR, new Uint8Array(600), enc("\x90\x90tail"));
    const hqx = binhex("e.com", data, enc("resource"));
    expect(members(hqx)).toEqual([
      { name: "e.com", text: Buffer.from(data).toString("latin1"), problem: undefined },
      { name: "e.com.rsrc", text: "resource", problem: undefined },
    ]);
    expect(found(scan(hqx, "e.hqx"))).toEqual(["e.hqx!e.com"]);
    // inside a mail text part, and as an application/mac-binhex40 attachment
    expect(found(scan(message(textPart(`see below\r\n${hqx}`)), "t.eml"))).toEqual(["t.eml!e.com"]);
    const att = message({
      headers: 'Content-Type: application/mac-binhex40; name="e.hqx"',
      body: hqx.slice(hqx.indexOf(":")),
    });
    expect(found(scan(att, "a.eml"))).toEqual(["a.eml!e.com"]);
  });

  it("damage: a bad CRC, a cut file and a bad character are reported beside what decoded", () => {
    const hqx = binhex("e.com", concat(EICAR, "x".repeat(200)));
    const flipped = hqx.replace(/:(.{30})(.)/, (_m, a: string, c: string) => `:${a}${c === "!" ? '"' : "!"}`);
    const r = scan(flipped, "f.hqx");
    expect(r.incomplete.map((i) => i.reason)).toEqual(["corrupt-archive"]);
    expect(r.incomplete[0]!.message).toMatch(/CRC mismatch/);
    const cut = scan(hqx.slice(0, hqx.length - 15), "c.hqx");
    expect(found(cut)).toEqual(["c.hqx!e.com"]);
    expect(cut.incomplete[0]!.message).toMatch(/data fork cut short|no closing colon/);
    const bad = scan(hqx.replace(/:(.{40})/, ":$1~"), "b.hqx");
    expect(bad.incomplete[0]!.message).toMatch(/outside the BinHex alphabet/);
  });

  it("bomb: a run-length coded file expanding past the ratio limit is stopped", () => {
    // 3 encoded bytes per 255 output bytes, repeated
    const runs = new Uint8Array(1 << 20);
    const hqx = binhex("zeros.bin", runs);
    const r = scan(hqx, "z.hqx", { ratioFloor: 64 << 10, maxRatio: 20 });
    expect(r.incomplete.map((i) => [i.reason, i.path])).toEqual([["max-ratio", "z.hqx!binhex-1"]]);
  });
});

describe("TNEF (winmail.dat)", () => {
  const file = () =>
    tnef(
      [
        { title: "EICAR~1.COM", longName: "eicar long name.com", data: enc(EICAR) },
        { title: "notes.txt", data: enc("just notes\r\n") },
      ],
      "the body",
    );

  it("attachments are members named by their long file name, else their title; the body too", () => {
    expect(members(file())).toEqual([
      { name: "eicar long name.com", text: EICAR, problem: undefined },
      { name: "notes.txt", text: "just notes\r\n", problem: undefined },
      { name: "body.txt", text: "the body", problem: undefined },
    ]);
    expect(found(scan(file(), "winmail.dat"))).toEqual(["winmail.dat!eicar long name.com"]);
    // inside a message, as ms-tnef attachment
    const m = message(multipart([textPart("x"), attachment("winmail.dat", file(), "application/ms-tnef")], "t"));
    expect(found(scan(m, "t.eml"))).toEqual(["t.eml!winmail.dat!eicar long name.com"]);
  });

  it.skipIf(needs("TNEF checked with Debian's tnef", { tools: ["tnef"] }))(
    "Debian's tnef extracts the same files with the same bytes",
    () => {
      const d = tmp();
      writeFileSync(join(d, "winmail.dat"), file());
      execFileSync("tnef", ["-C", d, "-f", join(d, "winmail.dat")]);
      const extracted = readdirSync(d)
        .filter((f) => f !== "winmail.dat")
        .sort();
      const ours = members(file())!.filter((m) => !m.name.startsWith("body"));
      expect(extracted).toEqual(ours.map((m) => m.name).sort());
      for (const m of ours) expect(readFileSync(join(d, m.name), "latin1")).toBe(m.text);
    },
  );

  it.skipIf(
    needs("compressed RTF checked with Debian's tnef", {
      tools: ["tnef"],
      debianFiles: ["/usr/share/clamav-testfiles/clam.tnef"],
    }),
  )("the compressed RTF body (LZFu) decompresses to the bytes Debian's tnef writes", () => {
    const d = tmp();
    execFileSync(
      "tnef",
      ["-K", "--save-body=body", "--body-pref=R", "-C", d, "-f", "/usr/share/clamav-testfiles/clam.tnef"],
      {
        stdio: "ignore",
      },
    );
    const rtf = members(readFileSync("/usr/share/clamav-testfiles/clam.tnef"))!.find((m) => m.name === "body.rtf")!;
    expect(rtf.problem).toBeUndefined();
    expect(rtf.text).toBe(readFileSync(join(d, "body.rtf"), "latin1"));
    expect(rtf.text!.startsWith("{\\rtf1")).toBe(true);
  });

  it("compressed RTF: literals and the end reference; a damaged property list is reported", () => {
    const u32 = (n: number) => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff];
    const text = "{\\rtf1 hello}";
    // literals, then a reference to the write position (the ring's prefix is 207 bytes): the end
    const w = 207 + text.length;
    const items: Array<number | "end"> = [...Buffer.from(text, "latin1"), "end"];
    const body: number[] = [];
    for (let i = 0; i < items.length; i += 8) {
      let control = 0;
      const bytes: number[] = [];
      items.slice(i, i + 8).forEach((item, k) => {
        if (item === "end") {
          control |= 1 << k;
          bytes.push(w >> 4, (w & 0xf) << 4);
        } else bytes.push(item);
      });
      body.push(control, ...bytes);
    }
    const lzfu = [...u32(body.length + 12), ...u32(text.length), ...u32(0x75465a4c), ...u32(0), ...body];
    const pad = (a: number[]) => [...a, ...new Array((4 - (a.length % 4)) % 4).fill(0)];
    const prop = (value: number[], len = value.length) =>
      new Uint8Array([...u32(1), 0x02, 0x01, 0x09, 0x10, ...u32(1), ...u32(len), ...pad(value)]);
    expect(members(concat(tnef([]), tnefAttr(1, 0x00069003, prop(lzfu))))).toEqual([
      { name: "body.rtf", text, problem: undefined },
    ]);
    // a property whose length runs past the attribute: reported, not a crash
    const lying = members(concat(tnef([]), tnefAttr(1, 0x00069003, prop(lzfu.slice(0, 10), lzfu.length))));
    expect(lying!.map((m) => m.problem)).toEqual([expect.stringMatching(/MAPI property 1 of 1: value length/)]);
  });

  it("damage: truncated attributes and a bad level are reported; bytes before the cut are scanned", () => {
    const full = file();
    const at = Buffer.from(full).indexOf(EICAR) + 20;
    const r = scan(full.subarray(0, at), "cut.dat");
    expect(r.errors).toEqual([]);
    expect(r.incomplete.map((i) => i.reason)).toEqual(["corrupt-archive"]);
    expect(r.incomplete[0]!.message).toMatch(/runs past the end of the file \(truncated/);
    const bad = full.slice();
    bad[6] = 7;
    expect(scan(bad, "bad.dat").incomplete[0]!.message).toMatch(/bad TNEF attribute level 7/);
    // a MAPI property list that lies about its sizes does not crash and keeps the title
    const lying = concat(
      tnef([]),
      tnefAttr(2, 0x00069002, new Uint8Array(14)),
      tnefAttr(2, 0x00018010, enc("t.com\0")),
      tnefAttr(2, 0x0006800f, enc(EICAR)),
      tnefAttr(
        2,
        0x00069005,
        concat(mapiString(0x3707, "x").subarray(0, 12), new Uint8Array([0xff, 0xff, 0xff, 0x7f])),
      ),
    );
    expect(found(scan(lying, "l.dat"))).toEqual(["l.dat!t.com"]);
    for (let n = 6; n < full.length; n += 5) expect(scan(full.subarray(0, n), "t.dat").errors).toEqual([]);
  });
});

describe("HTML", () => {
  it("inline scripts and data: URIs (base64, percent-encoded, entity-escaped) are members", () => {
    const page = `<!DOCTYPE html>\n<html><head><script type="text/javascript">\n  var a = 1;\n</script><script src="x.js"></script></head>
<body><a href="data:application/octet-stream;base64,${Buffer.from(EICAR).toString("base64")}">x</a>
<img src='data:text/plain,${encodeURIComponent(EICAR)}'>
<div style="background:url(data:image/png;base64,iVBORw0KGgo=)"></div>
<iframe src="data:text/html;base64,${Buffer.from("<b>hi</b>").toString("base64").replace(/=/g, "&#61;")}"></iframe>
</body></html>`;
    expect(members(page)).toEqual([
      { name: "script-1", text: "var a = 1;", problem: undefined },
      { name: "data-1", text: EICAR, problem: undefined },
      { name: "data-2", text: EICAR, problem: undefined },
      { name: "data-3", text: "\x89PNG\r\n\x1a\n", problem: undefined },
      { name: "data-4", text: "<b>hi</b>", problem: undefined },
    ]);
    expect(found(scan(page, "p.html"))).toEqual(["p.html!data-1", "p.html!data-2"]);
  });

  it("recognised by content: a tag first, an HTML element near the start", () => {
    expect(sniffArchive(enc("  \n<html><body>x</body></html>"))).toBe("html");
    expect(sniffArchive(enc('<a href="x">t</a>'))).toBe("html");
    for (const t of ["<header>not an element we know</header>", "text <script>", "<?xml version='1.0'?><root/>"])
      expect(sniffArchive(enc(t))).toBeUndefined();
  });

  it("damage and bombs: broken base64 reported; a million data: URIs stop at the member limit", () => {
    const r = scan(
      `<html><img src="data:;base64,${Buffer.from(EICAR).toString("base64").slice(0, 30)}**"></html>`,
      "d.html",
    );
    expect(r.incomplete.map((i) => [i.reason, i.path])).toEqual([["corrupt-archive", "d.html!data-1"]]);
    const many = `<html>${'<img src="data:,x">'.repeat(1_000_000)}</html>`;
    const t0 = Date.now();
    const m = scan(many, "many.html", { maxFiles: 100 });
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(m.incomplete.map((i) => i.reason)).toEqual(["max-files"]);
    // an unterminated script runs to the end of the file, like a browser reads it
    expect(members(`<html><script>${EICAR}`)).toEqual([{ name: "script-1", text: EICAR, problem: undefined }]);
  });
});
