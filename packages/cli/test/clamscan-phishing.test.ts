// Issue 14, phishing URL databases: `vigil scan` (the built bin) against Debian's clamscan
// (`--phishing-sigs=yes --phishing-scan-urls=yes`, its defaults) on generated mail and HTML:
// spoofed displayed domains, allow-listed pairs (.wdb M and X), the same domain, IP-address and
// encoded URLs, nested and encoded multiparts, parts ClamAV does not check, and .gdb hashes.
// The (file, name) pairs must be the same.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { mulberry32, needs } from "@vigil/test-kit";

const BIN = fileURLToPath(new URL("../bin/vigil.js", import.meta.url));

function found(out: string, root: string): string[] {
  const r = new Set<string>();
  for (const line of out.split("\n")) {
    const x = /^(.*?): (\S+) FOUND$/.exec(line);
    // Vigil names the part (`a.eml!1`), clamscan the file: compare files
    if (x) r.add(`${relative(root, x[1]!).replace(/!.*$/, "")} ${x[2]!}`);
  }
  return [...r].sort();
}

function clamscan(dbs: string[], root: string, extra: string[] = []) {
  const defaults = ["--phishing-sigs=yes", "--phishing-scan-urls=yes"].filter(
    (o) => !extra.some((e) => e.startsWith(o.split("=")[0]!)),
  );
  const args = ["-r", "--no-summary", "--infected", ...defaults, ...extra];
  for (const d of dbs) args.push("-d", d);
  const r = spawnSync("clamscan", [...args, root], { encoding: "utf8" });
  return found(r.stdout, root);
}

function vigil(dbs: string[], root: string, extra: string[] = []) {
  const args = [BIN, "scan", "--no-builtin", "--no-cache", "-i", "--no-summary", ...extra];
  for (const d of dbs) args.push("-d", d);
  const r = spawnSync(process.execPath, [...args, root], { encoding: "utf8" });
  expect(r.stderr).not.toMatch(/Error/);
  return found(r.stdout, root);
}

const HEAD = "From: a@example.org\nTo: b@example.org\nSubject: your account\nMIME-Version: 1.0\n";
/** A single-part message. */
const single = (type: string, body: string, encoding = "") =>
  `${HEAD}Content-Type: ${type}\n${encoding ? `Content-Transfer-Encoding: ${encoding}\n` : ""}\n${body}\n`;
const html = (body: string) => `<html><body>${body}</body></html>`;
const a = (href: string, text: string) => `<a href="${href}">${text}</a>`;

function multipart(parts: Array<{ head: string; body: string }>, boundary = "b0undary", type = "multipart/mixed") {
  const out = [`${HEAD}Content-Type: ${type}; boundary="${boundary}"\n\npreamble\n`];
  for (const p of parts) out.push(`--${boundary}\n${p.head}\n${p.body}\n`);
  out.push(`--${boundary}--\n`);
  return out.join("");
}
const qp = (s: string) => s.replace(/=/g, "=3D").replace(/(.{70})/g, "$1=\n");
const b64 = (s: string) =>
  (
    Buffer.from(s)
      .toString("base64")
      .match(/.{1,76}/g) ?? []
  ).join("\n");

/** Mail and HTML files, and what clamscan is expected to say about a few of them (the rest are compared only). */
function cases(): Record<string, string> {
  const spoof = html(a("http://evil.example.net/login", "www.paypal.com"));
  return {
    "spoof.eml": single("text/html", spoof),
    "spoof-https.eml": single("text/html", html(a("http://evil.example.net/", "https://www.paypal.com/signin"))),
    "allow-m.eml": single("text/html", html(a("http://login.paypal-partner.net/x", "www.paypal.com"))),
    "allow-x.eml": single("text/html", html(a("http://www.trusted.org/x", "www.paypal.com"))),
    "same-domain.eml": single("text/html", html(a("https://www.paypal.com/x?y=1", "www.paypal.com"))),
    "same-registered.eml": single("text/html", html(a("https://secure.paypal.com/", "http://www.paypal.com"))),
    "subdomain-lookalike.eml": single("text/html", html(a("http://evil.example.net/", "www.notpaypal.com"))),
    "suffix-lookalike.eml": single("text/html", html(a("http://evil.example.net/", "www.paypal.com.evil.example.net"))),
    "ip-real.eml": single("text/html", html(a("http://192.168.1.10/paypal", "www.paypal.com"))),
    "ip-real-https.eml": single("text/html", html(a("http://10.0.0.1/", "https://www.paypal.com/"))),
    "ip-display.eml": single("text/html", html(a("http://evil.example.net/", "http://192.168.1.10/"))),
    "encoded-host.eml": single("text/html", html(a("http://%65vil.example.net/", "http://www.pay%70al.com/"))),
    "entity-href.eml": single("text/html", html(a("http://&#101;vil.example.net/", "www.p&#97;ypal.com"))),
    "uppercase.eml": single("text/html", html(a("HTTP://EVIL.EXAMPLE.NET/", "WWW.PAYPAL.COM"))),
    "spaced.eml": single("text/html", html(a("http://evil.example.net/", "w w w . p a y p a l . c o m"))),
    "markup-in-text.eml": single("text/html", html(a("http://evil.example.net/", "<b>www.</b><i>paypal</i>.com"))),
    "title.eml": single(
      "text/html",
      html(`<a href="http://evil.example.net/" title="http://www.paypal.com/">click here</a>`),
    ),
    "img-in-a.eml": single(
      "text/html",
      html(a("http://evil.example.net/", '<img src="http://www.paypal.com/logo.gif">')),
    ),
    "form.eml": single(
      "text/html",
      html(`<form action="http://evil.example.net/post">${a("http://www.paypal.com/", "www.paypal.com")}</form>`),
    ),
    "area.eml": single(
      "text/html",
      html(a("http://www.paypal.com/", '<map><area href="http://evil.example.net/"></map>')),
    ),
    "regex-r.eml": single("text/html", html(a("http://www.bank.example/", "http://www.mybank.com"))),
    "co-uk.eml": single("text/html", html(a("http://www.evil.co.uk/", "www.bank.co.uk"))),
    "co-uk-same.eml": single("text/html", html(a("http://login.bank.co.uk/", "www.bank.co.uk"))),
    "mailto.eml": single("text/html", html(a("mailto:x@evil.example.net", "support@paypal.com"))),
    "ssl-unlisted.eml": single("text/html", html(a("http://evil.example.net/", "https://www.example.com/"))),
    "many-links.eml": single(
      "text/html",
      html(
        `${a("https://www.paypal.com/", "www.paypal.com")} ${a("http://news.example.org/", "read more")} ${a("http://evil.example.net/", "http://paypal.com")}`,
      ),
    ),
    "unclosed-a.eml": single("text/html", `<html><body><a href="http://evil.example.net/">www.paypal.com`),
    "broken.eml": single(
      "text/html",
      `<html><body><a href="http://evil.example.net/>www.paypal.com</a><a href=http://evil.example.net/>www.paypal.com</a>`,
    ),
    "enriched.eml": single("text/enriched", html(a("http://evil.example.net/", "www.paypal.com"))),
    "plain-single.eml": single("text/plain", html(a("http://evil.example.net/", "www.paypal.com"))),
    "qp.eml": single("text/html", qp(spoof), "quoted-printable"),
    "base64.eml": single("text/html", b64(spoof), "base64"),
    "nested-multipart.eml": multipart([
      { head: "Content-Type: text/plain\n", body: "hello" },
      {
        head: 'Content-Type: multipart/alternative; boundary="inner"\n',
        body: multipart(
          [
            { head: "Content-Type: text/plain\n", body: "see www.paypal.com" },
            { head: "Content-Type: text/html\nContent-Transfer-Encoding: quoted-printable\n", body: qp(spoof) },
          ],
          "inner",
          "multipart/alternative",
        ).slice(HEAD.length + 'Content-Type: multipart/alternative; boundary="inner"\n\n'.length),
      },
    ]),
    "multipart-html.eml": multipart([
      { head: "Content-Type: text/plain\n", body: "hello" },
      { head: "Content-Type: text/html\n", body: spoof },
    ]),
    "multipart-plain-7bit.eml": multipart([{ head: "Content-Type: text/plain\n", body: spoof }]),
    "multipart-plain-qp.eml": multipart([
      { head: "Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n", body: qp(spoof) },
    ]),
    "multipart-attachment.eml": multipart([
      { head: 'Content-Type: text/html\nContent-Disposition: attachment; filename="x.html"\n', body: spoof },
    ]),
    "multipart-inline.eml": multipart([
      { head: "Content-Type: text/html\nContent-Disposition: inline\n", body: spoof },
    ]),
    "multipart-base64.eml": multipart([
      { head: "Content-Type: text/html\nContent-Transfer-Encoding: base64\n", body: b64(spoof) },
    ]),
    "inline-7bit.eml": single("text/html", spoof, "7bit").replace(
      "Content-Type: text/html\n",
      "Content-Type: text/html\nContent-Disposition: inline\n",
    ),
    "inline-8bit.eml": single("text/html", spoof, "8bit").replace(
      "Content-Type: text/html\n",
      "Content-Type: text/html\nContent-Disposition: inline\n",
    ),
    "untyped.eml": `${HEAD}\n${spoof}\n`,
    "untyped-attachment.eml": `${HEAD}Content-Disposition: attachment\n\n${spoof}\n`,
    "related-attachment-html.eml": multipart(
      [
        {
          head: 'Content-Type: text/html\nContent-Disposition: attachment; filename="a.html"\nContent-Transfer-Encoding: 8bit\n',
          body: spoof,
        },
        { head: "Content-Type: image/gif\n", body: "GIF89a" },
      ],
      "rel",
      "multipart/related",
    ),
    "related-plain-only.eml": multipart(
      [{ head: 'Content-Type: text/plain\nContent-Disposition: attachment; filename="a.txt"\n', body: spoof }],
      "rel",
      "multipart/related",
    ),
    "single-rfc822.eml": single("message/rfc822", single("text/html", spoof)),
    "attached-message.eml": multipart([
      { head: "Content-Type: text/plain\n", body: "forwarded" },
      { head: "Content-Type: message/rfc822\n", body: single("text/html", spoof) },
    ]),
    "big-part.eml": single(
      "text/html",
      html(`${"<p>filler text</p>\n".repeat(6000)}${a("http://evil.example.net/", "www.paypal.com")}`),
    ),
    "lone.html": spoof,
    "hash-malware.eml": single("text/html", html(a("http://malware.example.com/dl/file.exe", "download"))),
    "hash-phishing.eml": single("text/html", html(a("http://phish.example.com/", "update"))),
    "hash-blocked.eml": single("text/html", html(a("http://blocked.example.com/a/b/c.html?x=1", "x"))),
    "hash-allowed.eml": single("text/html", html(a("http://allowed.example.com/", "x"))),
    "hash-text.eml": multipart([
      {
        head: "Content-Type: text/plain\nContent-Transfer-Encoding: 8bit\n",
        body: "go to http://phish.example.com/ now",
      },
    ]),
  };
}

const sha = (s: string) => createHash("sha256").update(s).digest("hex").toUpperCase();

function databases(d: string): string[] {
  writeFileSync(
    join(d, "my.pdb"),
    "H:paypal.com\nH:bank.co.uk\nR:.+\\.bank\\.example([/?].*)?:.+\\.mybank\\.com([/?].*)?\n",
  );
  writeFileSync(
    join(d, "my.wdb"),
    "M:login.paypal-partner.net:www.paypal.com\nX:.+\\.trusted\\.org([/?].*)?:.+\\.paypal\\.com([/?].*)?\n",
  );
  writeFileSync(
    join(d, "my.gdb"),
    [
      `S:F:${sha("example.com/dl/")}`,
      `S2:F:${sha("phish.example.com/")}`,
      `S1:F:${sha("blocked.example.com/a/b/c.html")}`,
      `S:W:${sha("allowed.example.com/")}`,
      `S:F:${sha("allowed.example.com/")}`,
      `S:P:${sha("anything/").slice(0, 8)}`,
      "",
    ].join("\n"),
  );
  return ["my.pdb", "my.wdb", "my.gdb"].map((f) => join(d, f));
}

const SUITE = "phishing URL checks: vigil scan vs clamscan";
describe.skipIf(needs(SUITE, { tools: ["clamscan"] }))("phishing URL checks: vigil scan vs clamscan 1.4.6", () => {
  const d = mkdtempSync(join(tmpdir(), "vigil-phish-"));
  const t = join(d, "t");
  mkdirSync(t);
  for (const [name, text] of Object.entries(cases())) writeFileSync(join(t, name), text, "latin1");
  const dbs = databases(d);

  it("the same (file, name) pairs as clamscan on every generated case", { timeout: 120_000 }, () => {
    const c = clamscan(dbs, t);
    const v = vigil(dbs, t);
    // the cases do what they are named for (so that agreeing is not agreeing on nothing)
    expect(c).toEqual(expect.arrayContaining(["spoof.eml Heuristics.Phishing.Email.SpoofedDomain"]));
    expect(c.filter((x) => x.startsWith("nested-multipart.eml "))).toEqual([
      "nested-multipart.eml Heuristics.Phishing.Email.SpoofedDomain",
    ]);
    expect(c.filter((x) => /^(allow-m|allow-x|same-domain|lone)\./.test(x))).toEqual([]);
    // libclamav's choice of parts: a related message's text part is its body whatever its
    // disposition; a part with a disposition and 7bit is not checked, with 8bit it is
    const has = (f: string) => c.some((x) => x.startsWith(`${f} `));
    expect(
      ["related-attachment-html.eml", "related-plain-only.eml", "inline-8bit.eml", "untyped.eml"].filter(has),
    ).toHaveLength(4);
    expect(
      ["inline-7bit.eml", "untyped-attachment.eml", "multipart-attachment.eml", "multipart-plain-7bit.eml"].filter(has),
    ).toEqual([]);
    expect(c.filter((x) => x.startsWith("hash-"))).toEqual([
      "hash-blocked.eml Heuristics.Phishing.URL.Blocked",
      "hash-malware.eml Heuristics.Safebrowsing.Suspected-malware_safebrowsing.clamav.net",
      "hash-phishing.eml Heuristics.Safebrowsing.Suspected-phishing_safebrowsing.clamav.net",
      "hash-text.eml Heuristics.Safebrowsing.Suspected-phishing_safebrowsing.clamav.net",
    ]);
    expect(v).toEqual(c);
  });

  it("--alert-phishing-ssl and --alert-phishing-cloak as clamscan's; --phishing-scan-urls=no checks nothing", {
    timeout: 120_000,
  }, () => {
    const flags = ["--alert-phishing-ssl=yes", "--alert-phishing-cloak=yes"];
    const c = clamscan(dbs, t, flags);
    expect(c).toContain("ssl-unlisted.eml Heuristics.Phishing.Email.SSL-Spoof");
    expect(vigil(dbs, t, ["--alert-phishing-ssl", "--alert-phishing-cloak"])).toEqual(c);
    expect(clamscan(dbs, t, ["--phishing-scan-urls=no"])).toEqual([]);
    expect(vigil(dbs, t, ["--phishing-scan-urls=no"])).toEqual([]);
  });

  it("a signature elsewhere in the message wins over the heuristic without -z; -z reports both, as clamscan", {
    timeout: 120_000,
  }, () => {
    const m = join(d, "m");
    mkdirSync(m);
    const marker = "VIGIL-PHISHING-PRECEDENCE-MARKER";
    const spoof = html(a("http://evil.example.net/", "www.paypal.com"));
    const attach = (encoding: string, body: string) => ({
      head: `Content-Type: application/octet-stream\nContent-Disposition: attachment; filename="x.bin"\n${encoding ? `Content-Transfer-Encoding: ${encoding}\n` : ""}`,
      body,
    });
    writeFileSync(
      join(m, "html-first.eml"),
      multipart([{ head: "Content-Type: text/html\n", body: spoof }, attach("base64", b64(`..${marker}..`))]),
    );
    writeFileSync(
      join(m, "attachment-first.eml"),
      multipart([
        attach("base64", b64(`..${marker}..`)),
        { head: "Content-Type: text/html\n", body: `${spoof}\n${spoof}` },
      ]),
    );
    const ndb = join(d, "marker.ndb");
    writeFileSync(ndb, `Test.Marker-1:0:*:${Buffer.from(marker).toString("hex")}\n`);
    const all = [...dbs, ndb];
    const c = clamscan(all, m);
    expect(c).toEqual(["attachment-first.eml Test.Marker-1.UNOFFICIAL", "html-first.eml Test.Marker-1.UNOFFICIAL"]);
    expect(vigil(all, m)).toEqual(c);
    const cz = clamscan(all, m, ["-z"]);
    expect(cz).toContain("html-first.eml Heuristics.Phishing.Email.SpoofedDomain");
    expect(vigil(all, m, ["-z"])).toEqual(cz);
  });

  it("600 random link pairs (seeded): hosts, schemes, paths, encodings, spacing, tags and broken markup", {
    timeout: 180_000,
  }, () => {
    const r = join(d, "random");
    mkdirSync(r);
    const rnd = mulberry32(20261208);
    const pick = <T>(a: T[]): T => a[Math.floor(rnd() * a.length)]!;
    const hosts = [
      "www.paypal.com",
      "paypal.com",
      "secure.paypal.com",
      "WWW.PAYPAL.COM",
      "a.b.c.d.e.paypal.com",
      "paypal.com.evil.net",
      "notpaypal.com",
      "evil.example.net",
      "192.168.1.10",
      "10.0.0.1:8080",
      "1.2.3.4",
      "0x7f.1",
      "localhost",
      "www.bank.co.uk",
      "bank.co.uk",
      "evil.co.uk",
      "login.paypal-partner.net",
      "www.trusted.org",
      "www.mybank.com",
      "www.bank.example",
      "user@evil.example.net",
      "x@y@www.paypal.com",
      "real-example.com%00fake.example.com",
      "www\u3002paypal\u3002com",
      "paypal%2ecom",
      "www.paypal.com.",
      ".paypal.com",
      "a..paypal.com",
      "www.paypal.com:80",
      "javascript:alert(1)",
      "//www.paypal.com",
      "www.paypal.com\\evil",
      "ftp.paypal.com",
      "xn--pypal-4ve.com",
    ];
    const schemes = ["http://", "https://", "", "ftp://", "HTTP://", "http:/", "http:\\\\", "mailto:", "  http://"];
    const paths = ["", "/", "/login", "/a/b?c=d", "?x=1", "#frag", "/%2e%2e/x", ":443/"];
    const enc = (x: string) => {
      const v = rnd();
      return v < 0.15
        ? x.replace(/a/g, "%61")
        : v < 0.25
          ? x.replace(/\./g, "&#46;")
          : v < 0.3
            ? x.replace(/p/g, "&#x70;")
            : x;
    };
    const deco = (x: string) => {
      const v = rnd();
      if (v < 0.1) return x.split("").join(" ");
      if (v < 0.2) return `<b>${x}</b>`;
      if (v < 0.3) return `Click ${x} now`;
      if (v < 0.35) return `${x}.`;
      if (v < 0.4) return `[${x}]`;
      return v < 0.45 ? x.toUpperCase() : x;
    };
    for (let i = 0; i < 600; i++) {
      const real = enc(pick(schemes) + pick(hosts) + pick(paths));
      const shown = deco(enc(pick(schemes) + pick(hosts) + pick(paths)));
      const v = rnd();
      const link =
        v < 0.5
          ? `<a href="${real}">${shown}</a>`
          : v < 0.55
            ? `<a href=${real}>${shown}</a>`
            : v < 0.6
              ? `<a href='${real}'>\n${shown}\n</a>`
              : v < 0.65
                ? `<a href="${real}">${shown}<a href="http://x.example/">z</a>`
                : v < 0.7
                  ? `<A HREF = "${real}" >${shown}</A>`
                  : v < 0.8
                    ? `<a href='${real}' title="${shown}">x</a>`
                    : v < 0.9
                      ? `<a href="${real}"><img src="${shown}"></a>`
                      : `<form action="${real}"><a href="${shown}">y</a></form>`;
      writeFileSync(join(r, `m${i}.eml`), single("text/html; charset=utf-8", html(link)), "utf8");
    }
    for (const flags of [[], ["--alert-phishing-ssl", "--alert-phishing-cloak"]]) {
      const c = clamscan(
        dbs,
        r,
        flags.map((f) => `${f}=yes`),
      );
      expect(c.length).toBeGreaterThan(50);
      expect(vigil(dbs, r, flags)).toEqual(c);
    }
  });
});
