/**
 * Names in a rule's strings that no word list holds: a person's name (a document metadata field
 * with a name-shaped value, or a string that is a name and nothing else) and a government or
 * military address. They are no finding alone; in a rule confined to documents they make the
 * document finding high. Text comes in decoded (UTF-8 or Latin-1 text strings, UTF-16 hex
 * strings, regex skeletons); a name in CJK script counts only as a metadata field's value (no
 * letter case marks it elsewhere).
 */

export interface NameHit {
  readonly kind: "person" | "address";
  readonly text: string;
  readonly why: string;
}

/** Capitalised words that are no personal name (software, formats, common title words). */
const NOT_NAMES = new Set(
  (
    "microsoft office word excel powerpoint outlook adobe acrobat reader distiller pdf windows document documents " +
    "corporation company library producer creator author version normal template google apple open libre writer calc " +
    "impress scribus notepad quartz mac print printer driver program files system visual basic project new file " +
    "data report the of and for table contents page title subject keywords creation date modified saved user admin " +
    "administrator default unknown owner staff joint directorate operations ministry department agency office " +
    "bureau command service security intelligence foreign affairs defence defense state national general central " +
    "united states kingdom republic federal army navy air force marine police court council committee university " +
    "institute center centre group team lab laboratory bank trust ltd inc gmbh llc plc mail server client script " +
    "shell object stream root entry summary information equation native editor package control storage macro " +
    "module form sheet book workbook worksheet chart picture image text field link frame button box list view tree " +
    "source code key value string number internet explorer edge chrome firefox java flash player media update " +
    "setup install installer manager task service host local remote network connection proxy agent loader " +
    "dropper payload shellcode exploit attachment message content type encoding version info product name " +
    "description copyright trademark original filename internal legal company build debug release enable " +
    "editing content click warning protected open save copy paste macros please allow run cancel next back close " +
    "help error security settings options tools sign in out account password login download upload"
  ).split(" "),
);

const WORD = "\\p{Lu}[\\p{Ll}'’-]+";
const PERSON = new RegExp(`^${WORD}(?:\\s\\p{Lu}\\.)?(?:\\s${WORD}){1,2}$`, "u");
const METADATA =
  /(\/Author|\/Creator|<dc:creator>|<cp:lastModifiedBy>|<meta:initial-creator>|<meta:creator>|\bAuthor\b|\bLast ?Saved ?By\b|\bLastModifiedBy\b|\bManager\b)[\s:=(>"]*([^\s<)"][^<)"\r\n]{1,60})/iu;
const GOV_ADDRESS =
  /(?:^|[^\w.-])((?:[a-z0-9-]+\.)*(?:gov|mil|mod|mfa|army|navy|airforce|government)(?:\.[a-z0-9-]+)*)\b/i;

/** A name in Han or Hangul script: two to four characters (as a metadata field's value only). */
const CJK_NAME = /^(?:\p{Script=Han}{2,4}|\p{Script=Hangul}{2,4})$/u;

function personShaped(s: string): boolean {
  const t = s.trim();
  if (!PERSON.test(t)) return false;
  return t.split(/\s+/).every((w) => !NOT_NAMES.has(w.replace(/\.$/, "").toLowerCase()));
}

/** Person names and government/military addresses in one decoded text. */
export function findNames(text: string): NameHit[] {
  const out: NameHit[] = [];
  const m = METADATA.exec(text);
  if (m && (personShaped(m[2]!) || CJK_NAME.test(m[2]!.trim())))
    out.push({ kind: "person", text: m[2]!.trim(), why: `a person's name in the ${m[1]} metadata field` });
  else if (personShaped(text)) out.push({ kind: "person", text: text.trim(), why: "a person's name" });
  const at = text.indexOf("@");
  const addr = GOV_ADDRESS.exec(at >= 0 ? text.slice(at) : text);
  if (addr && (at >= 0 || /\.(gov|mil)(\.[a-z]{2})?$/i.test(addr[1]!)))
    out.push({ kind: "address", text: addr[1]!, why: "a government or military address" });
  return out;
}

const UTF8 = new TextDecoder("utf-8");
const PRINTABLE = /^[\p{L}\p{N}\p{P}\p{S}\p{Zs}\t]+$/u;

/** The readings of some bytes as text worth looking at for names: UTF-8 (else Latin-1), UTF-16LE/BE. */
export function textReadings(b: Uint8Array): string[] {
  const out: string[] = [];
  if (b.length < 3) return out;
  let control = false;
  let zeroEven = 0;
  let zeroOdd = 0;
  for (let i = 0; i < b.length; i++) {
    const x = b[i]!;
    if (x < 0x09 || (x > 0x0d && x < 0x20) || x === 0x7f) control = true;
    if (x === 0) {
      if (i % 2) zeroOdd++;
      else zeroEven++;
    }
  }
  let first: string | undefined;
  if (!control) {
    const u = UTF8.decode(b);
    first = u.includes("\ufffd") ? Buffer.from(b).toString("latin1") : u;
    if (PRINTABLE.test(first)) out.push(first);
  }
  // UTF-16: Latin text has a zero in every other byte; other scripts none in either (CJK, Cyrillic)
  if (b.length >= 6 && b.length % 2 === 0 && (control ? zeroOdd + zeroEven > 0 : true)) {
    for (const le of [true, false]) {
      let s = "";
      for (let i = 0; i + 1 < b.length; i += 2)
        s += String.fromCharCode(le ? b[i]! | (b[i + 1]! << 8) : (b[i]! << 8) | b[i + 1]!);
      if (s !== first && PRINTABLE.test(s)) out.push(s);
    }
  }
  return out;
}

/**
 * Whether bytes are binary content (code, a structure, an embedded file): a control byte, and no
 * reading as UTF-16 text or as single-byte-XOR-encoded text. Six bytes at least.
 */
export function isBinary(b: Uint8Array): boolean {
  if (b.length < 6) return false;
  let control = 0;
  for (const x of b) if (x < 0x09 || (x > 0x0d && x < 0x20) || x === 0x7f) control++;
  if (control === 0) return false;
  if (textReadings(b).length > 0) return false;
  // single-byte XOR of letters, digits and spaces
  for (let k = 1; k < 256; k++) {
    let ok = true;
    for (const x of b) {
      const y = x ^ k;
      if (!((y >= 0x41 && y <= 0x5a) || (y >= 0x61 && y <= 0x7a) || (y >= 0x30 && y <= 0x39) || y === 0x20)) {
        ok = false;
        break;
      }
    }
    if (ok) return false;
  }
  return true;
}
