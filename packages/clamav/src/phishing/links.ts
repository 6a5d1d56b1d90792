/**
 * The links of an HTML text as libclamav's HTML normaliser hands them to the phishing check
 * (facts from libclamav/htmlnorm.c): each `<a href>` with the raw text between `<a>` and `</a>`
 * as its displayed text (a `title` attribute is a displayed link of its own, `href_title`), each
 * `<img src>`/`dynsrc`, `<iframe src>` and `<area href>` (inside an `<a>`, with that link's
 * href as their "contents"), and inside a `<form action>` each of those again as a `form` link
 * whose contents is the action. Attribute values have their character references decoded;
 * values and displayed texts stop at 1024 characters, as in libclamav. An `<a>` never closed
 * takes the text up to the end. NUL bytes are dropped, as libclamav's reader does. A quoted
 * value ends at its quote, or is cut at white space or '>' inside the quotes (libclamav's
 * reading of broken markup, kept because it decides which links exist).
 *
 * Bounded: one pass over the text, at most `maxLinks` links, no recursion.
 */

export interface HtmlLink {
  /** href, href_title, src, dynsrc, iframe, area or form (libclamav's tag names for them) */
  tag: string;
  value: string;
  /** the displayed text (for href), or the related URL (parent href, form action); undefined: none */
  contents?: string;
}

/** libclamav's HTML_STR_LENGTH: attribute values and an `<a>`'s text stop at this length. */
const STR_MAX = 1024;

const NAMED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: "\xa0" };

function decodeRef(ref: string, m: string): string {
  if (ref[0] !== "#") return NAMED[ref.toLowerCase()] ?? m;
  const code = ref[1] === "x" || ref[1] === "X" ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
  if (code === 0 || !Number.isFinite(code) || code > 0x10ffff) return m;
  // as libclamav, a character past one byte is written as its UTF-8 bytes
  return code < 0x80 ? String.fromCharCode(code) : Buffer.from(String.fromCodePoint(code), "utf8").toString("latin1");
}

const REF = /&(#[xX][0-9a-fA-F]{1,6}|#\d{1,7}|[a-zA-Z]{2,6});?/y;

/**
 * An attribute value as libclamav reads it: character references decoded, and the UTF-8 full
 * stops (U+3002, U+FF0E, U+FE52) read as '.'. A multi-byte character is written out only when
 * the next plain character comes, so a reference right after it lands before it (libclamav's
 * order, kept: "www。&#x70;aypal" reads "wwwp.aypal").
 */
function decodeValue(raw: string): string {
  if (!/[&\x80-\xff]/.test(raw)) return raw;
  let out = "";
  let mb = 0;
  const flush = () => {
    if (mb === 0xe38082 || mb === 0xefbc8e || mb === 0xefb992) out += ".";
    else {
      const c0 = mb >>> 16;
      const c1 = (mb >>> 8) & 0xff;
      if (c0) out += String.fromCharCode(c0);
      if (c0 || c1) out += String.fromCharCode(c1);
      out += String.fromCharCode(mb & 0xff);
    }
    mb = 0;
  };
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x26) {
      REF.lastIndex = i;
      const m = REF.exec(raw);
      if (m) {
        out += decodeRef(m[1]!, m[0]);
        i += m[0].length - 1;
      } else out += "&";
      continue;
    }
    if (mb && (c < 0x80 || mb >= 0x10000)) flush();
    if (c >= 0x80) mb = ((mb << 8) | c) >>> 0;
    else out += raw[i];
  }
  // a character still pending at the end is not written (libclamav keeps it for the next value)
  return out;
}

/** The UTF-8 full stops libclamav reads as '.' in an <a>'s text. */
function foldDots(s: string): string {
  return /[\xe3\xef]/.test(s) ? s.replace(/\xe3\x80\x82|\xef\xbc\x8e|\xef\xb9\x92/g, ".") : s;
}

const isSpace = (c: number) => c === 0x20 || (c >= 0x09 && c <= 0x0d);

interface Tag {
  name: string;
  attrs: Map<string, string>;
  /** offset just after the tag */
  end: number;
}

/** Reads the tag starting at `s[at] === '<'`; undefined when the text ends inside it. */
function readTag(s: string, at: number): Tag | undefined {
  const n = s.length;
  let p = at + 1;
  while (p < n && isSpace(s.charCodeAt(p))) p++;
  const ns = p;
  while (p < n && !isSpace(s.charCodeAt(p)) && s[p] !== ">") p++;
  const name = s.slice(ns, Math.min(p, ns + STR_MAX)).toLowerCase();
  const attrs = new Map<string, string>();
  for (;;) {
    while (p < n && isSpace(s.charCodeAt(p))) p++;
    if (p >= n) return undefined;
    if (s[p] === ">") return { name, attrs, end: p + 1 };
    const as = p;
    while (p < n && !isSpace(s.charCodeAt(p)) && s[p] !== ">" && s[p] !== "=") p++;
    const an = s.slice(as, Math.min(p, as + STR_MAX)).toLowerCase();
    while (p < n && isSpace(s.charCodeAt(p))) p++;
    if (s[p] !== "=") {
      if (an && !attrs.has(an)) attrs.set(an, "");
      if (as === p) p++; // a stray character
      continue;
    }
    p++;
    while (p < n && isSpace(s.charCodeAt(p))) p++;
    // a value: a quote opens it; white space or '>' inside the quotes ends the quoting (they
    // are kept, as one space or '>') and the value goes on unquoted to the next white space or '>'
    let value = "";
    let quote = s[p] === '"' || s[p] === "'" ? s[p] : undefined;
    const quoted = quote !== undefined;
    let closed = false;
    if (quote) p++;
    while (p < n) {
      const c = s[p]!;
      if (quote && c === quote) {
        p++;
        closed = true;
        break;
      }
      if (isSpace(c.charCodeAt(0)) || c === ">") {
        if (!quote) break;
        if (value.length < STR_MAX) value += c === ">" ? ">" : " ";
        p++;
        while (p < n && isSpace(s.charCodeAt(p))) p++;
        quote = undefined;
        continue;
      }
      if (value.length < STR_MAX) value += c === "'" ? '"' : c;
      p++;
    }
    if (p >= n && quote) return undefined;
    // libclamav drops the last character of a value that began with a quote (normally the closing one)
    if (quoted && !closed) value = value.slice(0, -1);
    if (an && !attrs.has(an)) attrs.set(an, decodeValue(value).slice(0, STR_MAX));
  }
}

/** The links of `html` (bytes read as latin1), in document order. */
export function extractLinks(html: Uint8Array, maxLinks = 100_000): HtmlLink[] {
  let s = Buffer.from(html.buffer, html.byteOffset, html.length).toString("latin1");
  if (s.includes("\0")) s = s.replace(/\0/g, "");
  const n = s.length;
  const links: HtmlLink[] = [];
  let inA = -1; // index in `links` of the open <a>'s href
  let text = ""; // displayed text of the open <a>
  let textFrom = -1; // where the pending text portion starts (-1: none)
  let formAction: string | undefined;
  const add = (l: HtmlLink) => {
    if (links.length < maxLinks) links.push(l);
  };
  const appendText = (to: number) => {
    if (textFrom >= 0 && text.length < STR_MAX) text += foldDots(s.slice(textFrom, to)).slice(0, STR_MAX - text.length);
    textFrom = -1;
  };
  const closeA = () => {
    const l = links[inA];
    if (l) l.contents = text;
    inA = -1;
    text = "";
  };
  const withParent = (tag: string, value: string) => {
    add(inA >= 0 ? { tag, value, contents: links[inA]!.value } : { tag, value });
    if (formAction !== undefined) add({ tag: "form", value, contents: formAction });
  };
  let p = 0;
  while (p < n && links.length < maxLinks) {
    const lt = s.indexOf("<", p);
    if (lt < 0) break;
    if (inA >= 0) appendText(lt);
    if (s.startsWith("<!--", lt)) {
      const e = s.indexOf("-->", lt + 4);
      p = e < 0 ? n : e + 3;
      if (inA >= 0) textFrom = p;
      continue;
    }
    const tag = readTag(s, lt);
    if (!tag) break;
    p = tag.end;
    const name = tag.name;
    if (name === "script" || name === "style") {
      // their bodies are not markup
      const close = new RegExp(`</${name}`, "gi");
      close.lastIndex = p;
      p = close.exec(s)?.index ?? n;
      continue;
    }
    if (name.startsWith("/")) {
      if (name === "/a" && inA >= 0) closeA();
      if (name === "/form") formAction = undefined;
      if (inA >= 0) textFrom = p;
      continue;
    }
    if (inA >= 0) textFrom = p;
    const attr = (k: string) => tag.attrs.get(k);
    if (name === "a") {
      const href = attr("href");
      if (href) {
        if (inA >= 0) closeA(); // nested <a>: the previous one ends here
        const title = attr("title");
        if (title !== undefined) add({ tag: "href_title", value: title, contents: href });
        if (formAction !== undefined) add({ tag: "form", value: href, contents: formAction });
        add({ tag: "href", value: href });
        inA = links.length - 1;
        text = "";
        textFrom = p;
      }
    } else if (name === "form") {
      const action = attr("action");
      if (action !== undefined) formAction = action;
    } else if (name === "img") {
      const src = attr("src");
      if (src) withParent("src", src);
      const dyn = attr("dynsrc");
      if (dyn) withParent("dynsrc", dyn);
    } else if (name === "iframe") {
      const src = attr("src");
      if (src) withParent("iframe", src);
    } else if (name === "area") {
      const href = attr("href");
      if (href) withParent("area", href);
    }
  }
  // an <a> never closed is closed at the end
  if (inA >= 0) {
    if (textFrom >= 0) appendText(n);
    closeA();
  }
  return links;
}
