/**
 * ClamAV's phishing URL check (clamscan --phishing-scan-urls, on by default): the links of the
 * text parts of a mail message (./links.ts) are checked one by one (./check.ts) against the
 * `.pdb` protected domains, the `.wdb` allow list and the `.gdb` hashes (./lists.ts), and each
 * link found suspicious is a `Heuristics.Phishing.*` or `Heuristics.Safebrowsing.*` detection.
 *
 * Which parts libclamav checks (libclamav/mbox.c, and clamscan's behaviour): a single-part
 * message whose type is text/* (or absent, without a disposition); in a multipart, a text/*
 * part shown inline (no disposition, or `inline`) unless it is text/plain in 7bit (or no)
 * encoding; never a part with a disposition whose encoding is named 7bit or is unknown. A part larger than 100 KiB once decoded is not
 * checked. HTML files on their own are not checked (ClamAV checks only mail), nor a
 * message/rfc822 part in 7bit, 8bit or binary encoding that holds no Content-Transfer-Encoding
 * line (libclamav does not open it at all: the mail reader marks it `closed`).
 */
import { checkLink, PHISH_NAMES, type PhishOptions, type PhishVerdict } from "./check.js";
import { extractLinks } from "./links.js";
import { buildLists, type PhishingLists } from "./lists.js";
import type { PhishEntry } from "../formats/phish.js";

export { checkLink, PHISH_NAMES, type PhishOptions, type PhishVerdict } from "./check.js";
export { extractLinks, type HtmlLink } from "./links.js";
export { buildLists, posixToRegExp, type PhishingLists } from "./lists.js";

/** What a mail reader says about one part (the facts libclamav decides on). */
export type MailPart = MailPartFacts;

export interface MailPartFacts {
  /** Content-Type value, lowercase (`text/html`); "" when the part has none */
  type: string;
  /** Content-Disposition value, lowercase; "" when none */
  disposition: string;
  /** Content-Transfer-Encoding value, lowercase; "" when none */
  encoding: string;
  /** the message's only body (not a part of a multipart) */
  single: boolean;
}

/** libclamav's limit: a part larger than this (decoded) is not checked for phishing. */
export const PHISH_MAX_PART = 100 * 1024;

/** Content-Transfer-Encoding names libclamav knows (message.c), and those that mean none. */
const KNOWN_ENCODINGS = new Set([
  "",
  "7bit",
  "text/plain",
  "quoted-printable",
  "base64",
  "8bit",
  "binary",
  "x-uuencode",
  "x-yencode",
  "x-binhex",
  "us-ascii",
  "x-uue",
  "uuencode",
]);
const NO_ENCODING = new Set(["", "7bit", "text/plain", "us-ascii"]);

/** Whether libclamav checks the links of this mail part. */
export function phishingChecksPart(part: MailPart, size: number): boolean {
  if (size === 0 || size > PHISH_MAX_PART) return false;
  const e = part.encoding;
  // seen with clamscan 1.4.6 (any header order): a part with a Content-Disposition whose
  // encoding is named 7bit (or is one libclamav does not know) is not checked
  if (part.disposition !== "" && ((e !== "" && NO_ENCODING.has(e)) || !KNOWN_ENCODINGS.has(e))) return false;
  if (part.single && part.type === "") return part.disposition === "";
  if (!part.type.startsWith("text/")) return false;
  if (part.single) return true;
  if (part.disposition !== "" && part.disposition !== "inline") return false;
  return !(part.type === "text/plain" && NO_ENCODING.has(e));
}

export interface PhishFinding {
  name: string;
  verdict: PhishVerdict;
  real: string;
  displayed: string;
}

/** The phishing check over loaded `.pdb`/`.wdb`/`.gdb` entries. */
export class PhishingChecker {
  readonly lists: PhishingLists;

  constructor(
    entries: { protect: PhishEntry[]; allow: PhishEntry[]; hashes: PhishEntry[] },
    readonly options: PhishOptions = {},
  ) {
    this.lists = buildLists(entries.protect, entries.allow, entries.hashes);
  }

  /** Whether anything would ever be reported (no protected domain and no hash: nothing). */
  get active(): boolean {
    return (
      this.lists.protect.size > 0 ||
      this.lists.hashes.size > 0 ||
      !!this.options.alwaysSsl ||
      !!this.options.alwaysCloak
    );
  }

  /**
   * The suspicious links of an HTML (or text) body, in document order. `deadline` (ms since the
   * epoch) stops the check: it throws PhishTimeout with what was found so far.
   */
  scan(body: Uint8Array, deadline?: number): PhishFinding[] {
    const out: PhishFinding[] = [];
    const links = extractLinks(body.subarray(0, PHISH_MAX_PART));
    const list = links.length ? links : textUrls(body.subarray(0, PHISH_MAX_PART));
    let n = 0;
    for (const l of list) {
      if (deadline !== undefined && (++n & 63) === 0 && Date.now() > deadline) throw new PhishTimeout(out);
      const verdict = checkLink(this.lists, l.tag, l.value, l.contents, this.options);
      if (verdict === "clean" || verdict === "undecided") continue;
      const real = l.tag === "href" ? l.value : (l.contents ?? "");
      const displayed = l.tag === "href" ? (l.contents ?? "") : l.value;
      out.push({ name: PHISH_NAMES[verdict], verdict, real, displayed });
    }
    return out;
  }
}

/** Thrown when a check runs past its deadline; `found` holds what it found before. */
export class PhishTimeout extends Error {
  constructor(readonly found: PhishFinding[]) {
    super("phishing check stopped at the scan time limit");
  }
}

/** URLs written as plain text (http:, https:, ftp:), when a body has no links: libclamav checks them too (their hashes only). */
function textUrls(b: Uint8Array): Array<{ tag: string; value: string; contents?: string }> {
  const s = Buffer.from(b.buffer, b.byteOffset, b.length).toString("latin1");
  const out: Array<{ tag: string; value: string }> = [];
  const re = /(?:https?|ftp):[^ \n\t]{0,1019}/gi;
  for (const m of s.matchAll(re)) {
    if (out.length >= 100_000) break;
    out.push({ tag: "href", value: m[0] });
  }
  return out;
}
