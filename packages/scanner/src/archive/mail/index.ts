/**
 * Mail and the text encodings malware travels in: RFC 822/MIME messages and mbox ("mail"),
 * TNEF `winmail.dat` ("tnef"), uuencoded and BinHex files ("uuencoded", "binhex") and HTML
 * ("html": inline scripts and `data:` URIs). Each is recognised by content, never by name.
 */
import type { Member, OutputCap } from "../types.js";
import { isHtml, readHtml } from "./html.js";
import { isMail, readMail } from "./mime.js";
import { isTnef, readTnef } from "./tnef.js";
import { isBinHex, isUuencoded, readEncodedText } from "./text.js";

export type MailKind = "mail" | "tnef" | "uuencoded" | "binhex" | "html";

/** Which of these formats the bytes are, if any (checked after the binary archive formats). */
export function sniffMail(b: Uint8Array): MailKind | undefined {
  if (isTnef(b)) return "tnef";
  if (isBinHex(b)) return "binhex";
  if (isUuencoded(b)) return "uuencoded";
  if (isMail(b)) return "mail";
  if (isHtml(b)) return "html";
  return undefined;
}

export function readMailKind(kind: MailKind, b: Uint8Array, cap: OutputCap): Iterable<Member> {
  switch (kind) {
    case "tnef":
      return readTnef(b, cap);
    case "binhex":
    case "uuencoded":
      return readEncodedText(b, cap);
    case "mail":
      return readMail(b, cap);
    case "html":
      return readHtml(b, cap);
  }
}
