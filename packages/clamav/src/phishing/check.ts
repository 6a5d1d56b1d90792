/**
 * ClamAV's phishing check of one link (facts from libclamav/phishcheck.c, its design notes and
 * behaviour; written anew): is the displayed text a fair picture of where the link goes?
 *
 * For a link (real URL, displayed text) in order: the real URL must look like a URL; its
 * Safe-Browsing hashes (`.gdb`) are looked up; identical texts, or an empty displayed text, are
 * clean; both are cleaned (spaces, `%xx`, `&lt;`, case of the host; the path cut off) and are
 * clean when equal; the displayed text must look like a URL; the `.wdb` allow list (X: both
 * URLs, Y: the real one) makes it clean; the `.pdb` R lines mark it listed; the hosts are taken;
 * the `.wdb` M lines (both hosts) make it clean; the `.pdb` H lines (displayed host) mark it
 * listed, and an unlisted link keeps only the checks asked for always (--alert-phishing-ssl,
 * --alert-phishing-cloak); then a real URL holding %00 is "Cloaked.Null", an https displayed
 * link to an http real one "SSL-Spoof", an unlisted link clean, the same registered domain
 * clean, and anything else "SpoofedDomain".
 *
 * Quirks kept because they decide what clamscan reports: the hosts carry a leading '.', so the
 * numeric-IP test (`Cloaked.NumericIP`) and the user-name test (`Cloaked.Username`) never fire;
 * `%xx` is decoded only where three more characters follow the '%'; with hashes loaded, a real
 * URL without ':' is clean.
 */
import { createHash } from "node:crypto";
import type { PhishingLists } from "./lists.js";
import { CCTLDS, TLDS } from "./tld.js";

export type PhishVerdict =
  | "clean"
  | "undecided"
  | "cloaked-username"
  | "numeric-ip"
  | "cloaked-null"
  | "ssl-spoof"
  | "spoofed-domain"
  | "hash-malware"
  | "hash-blocked"
  | "hash-phishing";

/** The name clamscan reports for each verdict. */
export const PHISH_NAMES: Record<Exclude<PhishVerdict, "clean" | "undecided">, string> = {
  "cloaked-username": "Heuristics.Phishing.Email.Cloaked.Username",
  "numeric-ip": "Heuristics.Phishing.Email.Cloaked.NumericIP",
  "cloaked-null": "Heuristics.Phishing.Email.Cloaked.Null",
  "ssl-spoof": "Heuristics.Phishing.Email.SSL-Spoof",
  "spoofed-domain": "Heuristics.Phishing.Email.SpoofedDomain",
  "hash-malware": "Heuristics.Safebrowsing.Suspected-malware_safebrowsing.clamav.net",
  "hash-blocked": "Heuristics.Phishing.URL.Blocked",
  "hash-phishing": "Heuristics.Safebrowsing.Suspected-phishing_safebrowsing.clamav.net",
};

export interface PhishOptions {
  /** check http/https mismatches of unlisted links too (clamscan --alert-phishing-ssl, clamd AlertPhishingSSLMismatch) */
  alwaysSsl?: boolean;
  /** check cloaked (%00) real URLs of unlisted links too (--alert-phishing-cloak, AlertPhishingCloak) */
  alwaysCloak?: boolean;
}

const CHECK_SSL = 1;
const CHECK_CLOAKING = 2;
const CHECK_IMG_URL = 8;
const ALL_CHECKS = CHECK_SSL | CHECK_CLOAKING | CHECK_IMG_URL | 4;

const PHISHY_NUMERIC_IP = 2;
const REAL_IS_MAILTO = 4;
const DOMAIN_LISTED = 8;

const isAlnum = (c: string | undefined) => c !== undefined && /^[0-9A-Za-z]$/.test(c);
const isSpace = (c: string | undefined) =>
  c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\v" || c === "\f";
const inTld = (s: string) => TLDS.has(s);

const HEX = "0123456789abcdef";
function hexValue(c: string | undefined): number {
  const i = c === undefined ? -1 : HEX.indexOf(c.toLowerCase());
  return i < 0 ? 0 : i;
}
const isHex = (c: string | undefined) => c !== undefined && /^[0-9A-Fa-f]$/.test(c);

/** `%xx` decoding as libclamav does it (%00 becomes \x01; repeated while a decoded '%' appears). */
function decodeHex(s: string): string {
  if (s.length < 2) return s;
  const a = [...s];
  let begin = 0;
  if (a[0] === "%") {
    a[2] = a[1] === "0" && a[2] === "0" ? "\x01" : String.fromCharCode((hexValue(a[1]) << 4) | hexValue(a[2]));
    begin = 2;
  }
  let again = true;
  while (again) {
    again = false;
    // a '%' is decoded only when at least one more character follows its two digits
    for (let i = begin + 1; i + 3 <= a.length - 1; i++) {
      if (a[i] === "%" && isHex(a[i + 1]) && isHex(a[i + 2])) {
        const c =
          a[i + 1] === "0" && a[i + 2] === "0"
            ? "\x01"
            : String.fromCharCode((hexValue(a[i + 1]) << 4) | hexValue(a[i + 2]));
        a.splice(i, 3, c);
        if (c === "%") again = true;
      }
    }
  }
  return a.slice(begin).join("");
}

/** `url` cleaned as libclamav cleans a link before comparing: [cleaned, before the space fix-up]. */
function cleanup(url: string, isReal: boolean): [string, string] {
  // bytes above 127 lose their top bit, control characters become spaces
  let s = "";
  for (let i = 0; i < url.length; i++) {
    const c = url.charCodeAt(i) & 0x7f;
    s += String.fromCharCode(c < 32 ? 32 : c);
  }
  let b = 0;
  while (b < s.length && isSpace(s[b])) b++;
  if (s.length - b <= 1) return ["", ""];
  let end = s.length - 1;
  while (end > b && isSpace(s[end])) end--;
  const rest = s.slice(b);
  if (rest.startsWith(".net") || rest.startsWith("ado.net") || rest.startsWith("asp.net")) return ["", ""];
  let a = [...s];
  for (let i = b; i <= end; i++) if (a[i] === "\\") a[i] = "/";
  // the host: after the first ':' and its slashes, to the next ':', '/' or '?'
  let hb = a.indexOf(":", b);
  while (hb >= 0 && hb < end && a[hb + 1] === "/") hb++;
  hb = hb < 0 ? b : hb + 1;
  let hl = 0;
  while (hb + hl < a.length && !":/?".includes(a[hb + hl]!)) hl++;
  if (hb + hl > end + 1) hl = Math.max(0, end - hb + 1);
  else end = hb + hl - 1; // the path is cut off
  a = a.slice(0, hb + hl);
  for (let i = hb; i < hb + hl; i++) a[i] = a[i]!.toLowerCase();
  for (let i = b; i <= end && i < a.length; i++) if ('<>";'.includes(a[i]!)) a[i] = " ";
  let t = a.slice(b, end + 1).join("");
  t = t.split("&lt").join("").split("&gt").join("");
  t = decodeHex(t);
  if (isReal) return [t.split(" ").join(""), ""];
  t = t.replace(/^ +| +$/g, "");
  const pre = t;
  // displayed text: spaces removed, non-alphanumeric characters trimmed (a final '/' kept)
  let f = t.split(" ").join("");
  let fs = 0;
  let fe = f.length - 1;
  while (fs <= fe && !isAlnum(f[fs])) fs++;
  while (fe >= fs && !isAlnum(f[fe])) fe--;
  if (f[fe + 1] === "/") fe++;
  f = fs <= fe ? f.slice(fs, fe + 1) : "";
  return [f, pre];
}

/** Whether `url` looks like a URL libclamav can check; with `anyProto` the text may be cut after its last TLD. */
function isUrl(input: string, anyProto: boolean): { ok: boolean; url: string } {
  const url = input.replace(/^ +/, "");
  let start = -1;
  if (url.startsWith("https:")) start = 5;
  else if (url.startsWith("http:")) start = 4;
  else if (url.startsWith("ftp:")) start = 3;
  else if (url.startsWith("mailto://")) start = 8;
  if (start >= 0 && url[start + 1] === "/" && url[start + 2] === "/") return { ok: true, url: input };
  let hasProto = false;
  start = anyProto ? url.indexOf(":") : start;
  if (start >= 0) {
    const scheme = url.slice(0, start);
    if (/^[A-Za-z][!"$%&'()*,\-0-9@A-Z_a-z]*$/.test(scheme)) {
      if (url[start + 1] === "/") {
        start += 2;
        if (url[start] === "/") start++;
      } else start++;
      hasProto = true;
    } else start = 0;
  } else start = 0;
  let p = start;
  let end = url.indexOf("/", p);
  if (end < 0) end = url.length;
  if (!hasProto) {
    const at = url.slice(p, end).indexOf("@");
    if (at >= 0) {
      // an e-mail address is not checked, unless what precedes the '@' ends in a TLD
      const q = p + at;
      let q2 = q - 1;
      while (q2 > p && url[q2] !== ".") q2--;
      if (q2 === p || !inTld(url.slice(q2 + 1, q))) return { ok: false, url: input };
    }
  }
  let lastTldEnd = -1;
  for (;;) {
    const q = url.indexOf(".", p);
    if (q < 0 || q > end) break;
    if (!/^[!"#$%&'()*+,\-0-9@A-Z_a-z]+$/.test(url.slice(p, q))) return { ok: false, url: input };
    if (anyProto && inTld(url.slice(p, q))) lastTldEnd = q;
    p = q + 1;
  }
  if (p === start) return { ok: false, url: input };
  if (end < p) end = p;
  while (url[end] === " " && end > p) end--;
  if (inTld(url.slice(p, end))) return { ok: true, url: input };
  if (!anyProto) return { ok: false, url: input };
  // the displayed text is cut after its last TLD-like label (libclamav writes a NUL there)
  if (lastTldEnd >= 0) return { ok: true, url: input.slice(0, input.length - url.length + lastTldEnd) };
  return { ok: false, url: input };
}

/** [host start, host end) in `url`, and the flags it raises. */
function hostOf(url: string, isReal: boolean, phishy: { v: number }): [number, number] {
  let start: number;
  let mailto = 0;
  let end = -1;
  const proto = url.indexOf("://");
  if (proto < 0) {
    if (url.startsWith("mailto:")) {
      start = 7;
      mailto = 1;
    } else if (!isReal && phishy.v & REAL_IS_MAILTO) {
      end = url.length + 1;
      start = url.search(/[: ]/);
      start = start < 0 ? url.length + 1 : start + 1;
      if (start === end) start = 0;
      mailto = 1;
    } else {
      start = 0;
      if (!isReal) mailto = 2;
    }
  } else start = proto + 3;
  if (!mailto || !isReal) {
    for (;;) {
      const e = start + spanUntil(url, start, ":/?");
      const at = url.indexOf("@", start);
      end = e;
      if (at < 0 || (start !== e && at > e)) break;
      // a user name before the host (http://bank@evil.example/) is skipped; libclamav tests the
      // TLD after it with its dot included, which never matches, so Cloaked.Username never fires
      start = at + 1;
    }
  } else if (mailto && isReal) phishy.v |= REAL_IS_MAILTO;
  if (end < 0) end = start + spanUntil(url, start, ":/?");
  return [Math.min(start, url.length), Math.min(end, url.length)];
}

function spanUntil(s: string, from: number, stops: string): number {
  let i = from;
  while (i < s.length && !stops.includes(s[i]!)) i++;
  return i - from;
}

/** libclamav's isNumeric: four decimals 0-256 separated by dots, the whole text (7 to 15 characters). */
function isNumeric(host: string): boolean {
  if (host.length < 7 || host.length > 15) return false;
  const m = host.match(/^\s*([+-]?\d+)\.\s*([+-]?\d+)\.\s*([+-]?\d+)\.\s*([+-]?\d+)$/);
  return !!m && m.slice(1).every((x) => +x >= 0 && +x <= 256);
}

/** The registered domain of a host (`.a.b.example.co.uk` -> `example.co.uk`). */
function domainOf(host: string): string {
  let tld = host.lastIndexOf(".");
  if (tld < 0) return host;
  if (CCTLDS.has(host.slice(tld + 1))) {
    const cc = tld + 1;
    const prev = tld > 0 ? host.lastIndexOf(".", tld - 1) : -1;
    if (prev < 0) return host;
    if (!inTld(host.slice(prev + 1, cc - 1))) return host.slice(prev + 1);
    tld = prev;
  }
  const d = tld > 0 ? host.lastIndexOf(".", tld - 1) : -1;
  return d < 0 ? host : host.slice(d + 1);
}

/** The lookup text of libclamav's regex_list_match. */
function lookupText(real: string, display: string, mode: "pair" | "host" | "real"): string {
  const r = real.startsWith(".") ? real.slice(1) : real;
  const d = display.startsWith(".") ? display.slice(1) : display;
  return mode === "pair" ? `${r}:${d}/` : `${r}/`;
}

/** SHA-256 lookups of the real URL's host and path prefixes (Safe-Browsing style, `.gdb`). */
function hashLookup(lists: PhishingLists, inurl: string): PhishVerdict {
  if (!lists.hashes.size) return "undecided";
  let url = inurl.slice(0, 1024);
  const colon = url.indexOf(":");
  if (colon < 0) return "clean";
  let hb = colon + 1;
  while (hb < url.length && url[hb] === "/") hb++;
  const hl = spanUntil(url, hb, ":/?");
  const at = url.slice(hb, hb + hl).indexOf("@");
  if (at >= 0) hb += at + 1;
  url = decodeHex(url.slice(hb));
  let h = 0;
  while (h < url.length && url[h] === "/") h++;
  while (h < url.length && url[h] === ".") h++;
  url = url.slice(h);
  // /./ and /component/../ removed
  url = url.replace(/\/\.(?=\/)/g, "");
  for (let guard = 0; guard < 64 && /\/[^/]*\/\.\.(\/|$)/.test(url); guard++)
    url = url.replace(/\/[^/]*\/\.\.(\/|$)/, "/");
  // bytes outside printable ASCII, '%' and '#' escaped again
  url = url.replace(
    /[\x00-\x20\x7f-\uffff%#]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`,
  );
  const hostLen = spanUntil(url, 0, ":/?");
  const host = url.slice(0, hostLen).toLowerCase();
  let path = url.slice(hostLen + 1);
  const hash = path.indexOf("#");
  if (hash >= 0) path = path.slice(0, hash);
  // up to five host suffixes (two labels first, the whole host last), up to four path prefixes
  const hosts: string[] = [];
  let dot = host.lastIndexOf(".");
  while (dot > 0 && hosts.length < 4) {
    const prev = host.lastIndexOf(".", dot - 1);
    if (prev < 0) break;
    hosts.push(host.slice(prev + 1));
    dot = prev;
  }
  hosts.push(host);
  const paths: string[] = [path];
  const q = path.indexOf("?");
  if (q >= 0) paths.push(path.slice(0, q));
  if (path.length) {
    paths.push("");
    let from = 0;
    while (paths.length < 6) {
      const slash = path.indexOf("/", from + 1);
      if (slash <= 0) break;
      paths.push(path.slice(0, slash + 1));
      from = slash + 1;
    }
  } else paths.length = 1;
  for (let ki = paths.length - 1; ki >= 0; ki--)
    for (const hs of hosts) {
      const digest = createHash("sha256").update(`${hs}/${paths[ki]}`, "latin1").digest("hex").toUpperCase();
      const kind = lists.hashes.get(digest);
      if (kind === "0") return "hash-malware";
      if (kind === "1") return "hash-blocked";
      if (kind === "2") return "hash-phishing";
    }
  return "undecided";
}

/** libclamav's character before position `pos` of the displayed host, counted in the displayed text before its spaces were removed. */
function charBefore(pre: string, hostStart: number, pos: number): string {
  let realpos = 0;
  pos += hostStart;
  while (realpos < pre.length && !isAlnum(pre[realpos])) realpos++;
  for (; realpos < pre.length && pos > 0; pos--) {
    while (pre[realpos] === " ") realpos++;
    realpos++;
  }
  while (pre[realpos] === " ") realpos++;
  if (pos > 0 && realpos >= pre.length) return "\0";
  return pre[realpos > 0 ? realpos - 1 : 0] ?? "\0";
}

/**
 * The verdict for one link. `tag` is the libclamav tag name (href, src, form, ...); for
 * anything but href the two texts are swapped before the check, as libclamav does.
 */
export function checkLink(
  lists: PhishingLists,
  tag: string,
  value: string,
  contents: string | undefined,
  opts: PhishOptions = {},
): PhishVerdict {
  let real = value;
  let display = contents ?? "";
  if (tag !== "href") [real, display] = [display, real];
  let flags = tag === "href" ? ALL_CHECKS : ALL_CHECKS & ~CHECK_SSL;
  const image = tag === "src";
  const always = (opts.alwaysSsl ? CHECK_SSL : 0) | (opts.alwaysCloak ? CHECK_CLOAKING : 0);
  const phishy = { v: 0 };

  if (!isUrl(real, false).ok) return "clean";
  const hashed = hashLookup(lists, real);
  if (hashed !== "undecided") return hashed;
  if (real === display) return "clean";
  if (display === "") return "clean";
  [real] = cleanup(real, true);
  const cleaned = cleanup(display, false);
  display = cleaned[0];
  const pre = cleaned[1];
  if (real === display) return "clean";
  const shown = isUrl(display, true);
  if (!shown.ok) return "clean";
  display = shown.url;
  const { allow, protect } = lists;
  if (allow.size && allow.match(lookupText(real, display, "pair"))) return "clean"; // X
  if (allow.size && allow.match(lookupText(real, display, "real"))) return "clean"; // Y
  if (protect.size && protect.match(lookupText(real, display, "pair"))) phishy.v |= DOMAIN_LISTED; // R

  // the hosts, each with a leading '.'
  const [ds, de] = hostOf(display, false, phishy);
  let displayHost = `.${display.slice(ds, de)}`;
  if (displayHost.includes(" ")) return "clean";
  if (phishy.v & REAL_IS_MAILTO) return "clean";
  if (isNumeric(displayHost)) phishy.v |= PHISHY_NUMERIC_IP;
  const preHost = pre.slice(0, de);
  const [rs, re] = hostOf(real, true, phishy);
  const realHost = `.${real.slice(rs, re)}`;
  if (realHost.includes("..") || phishy.v & REAL_IS_MAILTO || realHost.includes(" ")) return "clean";
  if (isNumeric(realHost)) phishy.v |= PHISHY_NUMERIC_IP;
  if (real === display) return "clean";
  if (allow.size && allow.match(lookupText(realHost, displayHost, "pair"))) return "clean"; // M
  const listed = protect.size
    ? protect.match(lookupText(displayHost, realHost, "host"), (pos) => charBefore(preHost, ds, pos))
    : undefined; // H
  if (listed) {
    phishy.v |= DOMAIN_LISTED;
    // a plain match after a space of the displayed text: the host is read with a '.' there
    const cut = displayHost.length - listed.pattern.length;
    if (listed.plain && cut > 0 && displayHost[cut] !== ".")
      displayHost = `${displayHost.slice(1, cut + 1)}.${displayHost.slice(cut + 1)}`;
  } else flags &= always;
  if (image && !(flags & CHECK_IMG_URL)) return "clean";
  if (flags & CHECK_CLOAKING && real.includes("\x01")) return "cloaked-null";
  if (flags & CHECK_SSL && display.startsWith("https:") && !real.startsWith("https:")) return "ssl-spoof";
  if (!(phishy.v & DOMAIN_LISTED)) return "clean";
  if (domainOf(realHost) === domainOf(displayHost)) return "clean";
  if (phishy.v & PHISHY_NUMERIC_IP) return "numeric-ip";
  return "spoofed-domain";
}
