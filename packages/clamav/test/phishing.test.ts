/**
 * ClamAV's phishing URL check (./src/phishing): the links libclamav's HTML reader gives, the
 * verdict of each against .pdb/.wdb/.gdb entries, which mail parts are checked, and hostile
 * input (a million links, a huge href, broken markup) staying bounded. The agreement with
 * clamscan itself is packages/cli/test/clamscan-phishing.test.ts.
 */
import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import {
  checkLink,
  extractLinks,
  parsePhishLine,
  PhishingChecker,
  phishingChecksPart,
  PhishTimeout,
  type PhishEntry,
} from "@vigil/clamav";
import { buildLists, posixToRegExp } from "../src/phishing/lists.js";

const entries = (format: "pdb" | "wdb" | "gdb", text: string): PhishEntry[] =>
  text
    .split("\n")
    .filter(Boolean)
    .map((l) => parsePhishLine(l, format, 216)!)
    .filter(Boolean);

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

const lists = buildLists(
  entries("pdb", "H:paypal.com\nR:.+\\.bank\\.example([/?].*)?:.+\\.mybank\\.com([/?].*)?\n"),
  entries(
    "wdb",
    "M:login.paypal-partner.net:www.paypal.com\nX:.+\\.trusted\\.org([/?].*)?:.+\\.paypal\\.com([/?].*)?\n",
  ),
  entries("gdb", `S2:F:${sha("phish.example.com/")}\nS:F:${sha("malware.example.com/x/")}\n`),
);
const verdict = (real: string, shown: string | undefined, tag = "href") => checkLink(lists, tag, real, shown);

const bytes = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));

describe("links as libclamav's HTML reader gives them", () => {
  it("a href with its text (markup inside dropped), title, img inside a, form action, area, iframe", () => {
    const links = extractLinks(
      bytes(
        `<a HREF='http://r.example/' title="T">x<b>y</b>z<img src="http://i.example/p.gif"></a>` +
          `<form action="http://act.example/"><a href="http://f.example/">f</a></form><area href="http://ar.example/">` +
          `<iframe src="http://if.example/"></iframe><!-- <a href="http://c.example/">hidden</a> -->`,
      ),
    );
    expect(links).toEqual([
      { tag: "href_title", value: "T", contents: "http://r.example/" },
      { tag: "href", value: "http://r.example/", contents: "xyz" },
      { tag: "src", value: "http://i.example/p.gif", contents: "http://r.example/" },
      { tag: "form", value: "http://f.example/", contents: "http://act.example/" },
      { tag: "href", value: "http://f.example/", contents: "f" },
      { tag: "area", value: "http://ar.example/" },
      { tag: "iframe", value: "http://if.example/" },
    ]);
  });

  it("character references are decoded in attributes, not in the text; an unclosed <a> takes the text to the end", () => {
    expect(
      extractLinks(
        bytes(`<a href="http://&#101;vil.example/?a=1&amp;b=2">w&#46;x</a><a href="http://u.example/">open`),
      ),
    ).toEqual([
      { tag: "href", value: "http://evil.example/?a=1&b=2", contents: "w&#46;x" },
      { tag: "href", value: "http://u.example/", contents: "open" },
    ]);
  });

  it("a space or '>' inside quotes ends the quoting, as libclamav reads broken markup", () => {
    expect(extractLinks(bytes(`<a href="http://a.example/>www.b.example</a><a href=http://c.example/>t</a>`))).toEqual([
      // the quoting broken, libclamav still drops the value's last character (the closing quote otherwise)
      { tag: "href", value: "http://a.example/>www.b.example</", contents: "" },
      { tag: "href", value: "http://c.example/", contents: "t" },
    ]);
  });
});

describe("verdicts", () => {
  it.each([
    ["http://evil.example.net/login", "www.paypal.com", "spoofed-domain"],
    ["http://evil.example.net/", "https://www.paypal.com/", "ssl-spoof"],
    ["http://evil.example.net/", "w w w . p a y p a l . c o m", "spoofed-domain"],
    ["http://%65vil.example.net/", "http://www.pay%70al.com/", "spoofed-domain"],
    ["http://192.168.1.10/", "www.paypal.com", "spoofed-domain"],
    ["http://www.bank.example/", "http://www.mybank.com", "spoofed-domain"],
    ["https://secure.paypal.com/", "www.paypal.com", "clean"],
    ["http://login.paypal-partner.net/x", "www.paypal.com", "clean"],
    ["http://www.trusted.org/", "www.paypal.com", "clean"],
    ["http://evil.example.net/", "www.notpaypal.com", "clean"],
    ["http://evil.example.net/", "click here", "clean"],
    ["http://evil.example.net/", "", "clean"],
    ["mailto:a@evil.example.net", "support@paypal.com", "clean"],
    ["http://phish.example.com/", "", "hash-phishing"],
    ["http://malware.example.com/x/y.exe", "x", "hash-malware"],
  ])("%s shown as %j: %s", (real, shown, expected) => {
    expect(verdict(real, shown)).toBe(expected);
  });

  it("an img's URL is the displayed one (its parent href the real one); unlisted SSL mismatches only when asked", () => {
    expect(verdict("http://www.paypal.com/logo.gif", "http://evil.example.net/", "src")).toBe("spoofed-domain");
    expect(verdict("http://evil.example.net/", "https://www.example.com/")).toBe("clean");
    expect(checkLink(lists, "href", "http://evil.example.net/", "https://www.example.com/", { alwaysSsl: true })).toBe(
      "ssl-spoof",
    );
  });

  it("POSIX regexes: escaped letters are letters, brackets take a backslash literally, classes by name", () => {
    expect(posixToRegExp("a\\.b\\d").test("a.bd")).toBe(true);
    expect(posixToRegExp("[\\]x").test("\\x")).toBe(true);
    expect(posixToRegExp("^[[:digit:]]+$").test("123")).toBe(true);
    expect(() => posixToRegExp("[abc")).toThrow(/bracket/);
  });
});

describe("which mail parts are checked", () => {
  it.each([
    [{ type: "text/html", disposition: "", encoding: "", single: true }, true],
    [{ type: "text/plain", disposition: "", encoding: "", single: true }, true],
    [{ type: "", disposition: "", encoding: "", single: true }, true],
    [{ type: "application/pdf", disposition: "", encoding: "base64", single: true }, false],
    [{ type: "text/html", disposition: "", encoding: "", single: false }, true],
    [{ type: "text/html", disposition: "attachment", encoding: "", single: false }, false],
    [{ type: "text/plain", disposition: "", encoding: "7bit", single: false }, false],
    [{ type: "text/plain", disposition: "inline", encoding: "quoted-printable", single: false }, true],
    // as clamscan: a disposition with an encoding named 7bit (or unknown) is never checked
    [{ type: "text/html", disposition: "inline", encoding: "7bit", single: false }, false],
    [{ type: "text/html", disposition: "inline", encoding: "8bit", single: true }, true],
    [{ type: "text/html", disposition: "attachment", encoding: "x-unknown", single: true }, false],
    [{ type: "", disposition: "attachment", encoding: "", single: true }, false],
  ])("%j: %s", (part, expected) => {
    expect(phishingChecksPart(part, 100)).toBe(expected);
  });

  it("a part over 100 KiB is not checked, as libclamav", () => {
    expect(phishingChecksPart({ type: "text/html", disposition: "", encoding: "", single: true }, 100 * 1024 + 1)).toBe(
      false,
    );
  });
});

describe("hostile input stays bounded", () => {
  const checker = new PhishingChecker({
    protect: entries("pdb", "H:paypal.com\nR:.+\\.paypal\\.com([/?].*)?:.+\\.paypal\\.com([/?].*)?\n"),
    allow: entries("wdb", "X:.+\\.trusted\\.org([/?].*)?:.+\\.paypal\\.com([/?].*)?\n"),
    hashes: entries("gdb", `S:F:${sha("x.example/")}\n`),
  });

  it("a million links: the reader stops at its cap, the checker at 100 KiB", () => {
    const one = `<a href="http://e.example/">www.paypal.com</a>`;
    const big = bytes(one.repeat(1_000_000));
    const t0 = performance.now();
    expect(extractLinks(big, 1000)).toHaveLength(1000);
    const found = checker.scan(big);
    // only the first 100 KiB are read: as many links as fit there, each spoofed
    expect(found.length).toBe(Math.floor((100 * 1024) / one.length));
    expect(performance.now() - t0).toBeLessThan(15_000);
  });

  it("a huge href and huge displayed text are cut at 1024 characters", () => {
    const host = `${"a".repeat(2_000_000)}.paypal.com`;
    const links = extractLinks(bytes(`<a href="http://${host}/">${"w".repeat(3_000_000)}</a>`));
    expect(links[0]!.value.length).toBe(1024);
    expect(links[0]!.contents!.length).toBe(1024);
    const t0 = performance.now();
    checker.scan(bytes(`<a href="http://${"a.".repeat(40_000)}evil.example/">${"www.".repeat(20_000)}paypal.com</a>`));
    expect(performance.now() - t0).toBeLessThan(5_000);
  });

  it("a 100 KiB part of links to 1 KB hosts shown as a protected domain is checked in bounded time", () => {
    const link = `<a href="http://${"a".repeat(1000)}.example/">${"www.".repeat(250)}paypal.com</a>`;
    const rules = Array.from({ length: 20 }, (_, i) => `R:.+\\.bank${i}\\.com([/?].*)?:.+\\.paypal\\.com([/?].*)?`);
    const many = new PhishingChecker({
      protect: entries("pdb", `H:paypal.com\n${rules.join("\n")}\n`),
      allow: [],
      hashes: [],
    });
    const t0 = performance.now();
    const found = many.scan(bytes(link.repeat(Math.ceil((100 * 1024) / link.length))));
    expect(found.length).toBeGreaterThan(40);
    // the .pdb regexes starting with .+ are anchored: a search from every start was quadratic here
    expect(performance.now() - t0).toBeLessThan(3_000);
  });

  it("broken markup: unterminated tags, quotes, comments, NULs and stray '<' read without error", () => {
    for (const s of [
      "<a href='http://x.example/",
      "<a href=",
      "<<<<<<a href=http://x.example/>y",
      "<!-- never closed <a href='http://x.example/'>www.paypal.com</a>",
      "<a\0 href\0=\0'http://e.example/'>www.paypal.com</a>",
      "<script><a href='http://e.example/'>www.paypal.com</a>",
      "</a></a><a></a>".repeat(10_000),
      "&#x110000;&#0;&#99999999999;",
    ])
      expect(() => checker.scan(bytes(s))).not.toThrow();
    // NULs are dropped as libclamav's reader does: the link is read
    expect(checker.scan(bytes("<a\0 href\0=\0'http://e.example/'>www.paypal.com</a>"))).toHaveLength(1);
  });

  it("a deadline stops a long check with what it found", () => {
    const many = bytes(`<a href="http://e.example/">www.paypal.com</a>`.repeat(2000));
    expect(() => checker.scan(many, Date.now() - 1)).toThrow(PhishTimeout);
    try {
      checker.scan(many, Date.now() - 1);
    } catch (e) {
      expect((e as PhishTimeout).found.length).toBeGreaterThan(0);
    }
  });
});
