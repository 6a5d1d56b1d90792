/**
 * ClamAV databases through the rule auditor. A bundle may carry ClamAV's databases (`.cvd`,
 * `.cld`, `.cud` containers and the signature files in them) as well as YARA rules; the witness,
 * the endpoint and the monitor audit them like rules: each body signature (`.ndb`, `.ndu`), each
 * subsignature of a logical signature (`.ldb`, `.ldu`) and each file-type magic (`.ftm`) is
 * decoded to the bytes it looks for and handed to `auditRules` as a generated YARA rule, one rule
 * per signature, on the same line number as the signature in its file, so a finding reads
 * `daily.cvd!daily.ndb:12: ... rule L12_Doc_Hunter_1: looks for the en classification marking
 * "TOP SECRET"`. The auditor then looks for document markings in every encoding it knows
 * (UTF-8, UTF-16, the legacy code pages, XOR...) exactly as in YARA strings.
 *
 * What is decoded: every run of three or more literal bytes of a hex signature (wildcards,
 * jumps, alternatives and anchors end a run; the bytes of each alternative are runs too);
 * `::i` (nocase) subsignatures become nocase text strings, `::w` wide ones wide. Not decoded:
 * PCRE subsignatures, hash signatures (`.hdb .hsb .mdb .msb .fp .sfp .imp`: there are no bytes
 * to read), phishing URL lists, bytecode, container metadata. YARA files inside a container are
 * audited as they are. A marking split by a wildcard (`TOP??SECRET`) is not seen as one.
 * A container that cannot be read is one `unparseable` finding: the auditor cannot vouch for it.
 *
 * Conditions: ClamAV's own ways of confining a signature to documents are handed to the auditor
 * beside the generated rule (`AuditOptions.confinedBy`) and read like a magic number in a YARA
 * condition: an `.ndb` target type 2 (OLE2) or 10 (PDF), an `.ldb` `Target:2`/`Target:10` or a
 * document `Container:` type (CL_TYPE_MSOLE2, _PDF, _RTF, _OOXML_*, _XML_*, _HWP*, _ONENOTE,
 * _XDP), and a subsignature at offset `0:` that starts with a document header (in an `.ldb`
 * only when the logical expression needs every subsignature). A confined signature with no
 * malware indicator in its bytes is a `document-target` finding, as in YARA.
 */
import { gunzipSync } from "node:zlib";
import { auditRules, documentHeader, type AuditOptions, type Finding } from "./auditor.js";
import type { Confinement } from "./conditions.js";
import type { AuditPolicy } from "./policy.js";

const CONTAINER = /\.(cvd|cld|cud)$/i;
const BODY = /\.(ndb|ndu)$/i;
const LOGICAL = /\.(ldb|ldu)$/i;
const MAGIC = /\.ftm$/i;
const YARA = /\.(yar|yara)$/i;
/** ClamAV database files: audited here, not parsed as YARA. */
export const CLAMAV_DATABASE =
  /\.(cvd|cld|cud|cdiff|hdb|hsb|hdu|hsu|mdb|msb|mdu|msu|ndb|ndu|ldb|ldu|fp|sfp|ign|ign2|cdb|idb|imp|ftm|cfg|pdb|gdb|wdb|crb|cat|cbc|info|sign)$/i;

/** Literal byte runs of a ClamAV hex signature (three bytes or more). */
export function literalRuns(hex: string, min = 3): Uint8Array[] {
  const runs: Uint8Array[] = [];
  let cur: number[] = [];
  const flush = () => {
    if (cur.length >= min) runs.push(Uint8Array.from(cur));
    cur = [];
  };
  let i = 0;
  const s = hex.toLowerCase();
  while (i < s.length) {
    if (/[0-9a-f]/.test(s[i]!) && /[0-9a-f]/.test(s[i + 1] ?? "")) {
      cur.push(Number.parseInt(s.slice(i, i + 2), 16));
      i += 2;
    } else {
      flush();
      // skip a jump or range whole, so its digits are not read as bytes
      if (s[i] === "{" || s[i] === "[") {
        const end = s.indexOf(s[i] === "{" ? "}" : "]", i);
        i = end < 0 ? s.length : end + 1;
      } else i++;
    }
  }
  flush();
  return runs;
}

const hexString = (b: Uint8Array) => `{ ${Buffer.from(b).toString("hex").replace(/../g, "$& ").trim()} }`;
const escaped = (b: Uint8Array) => `"${[...b].map((x) => `\\x${x.toString(16).padStart(2, "0")}`).join("")}"`;
const wide = (b: Uint8Array) => Uint8Array.from([...b].flatMap((x) => [x, 0]));

/** One subsignature's strings: `$sN = ...` entries. */
function subsigStrings(sub: string, n: { i: number }): string[] {
  let body = sub.trim();
  let mods = "";
  const m = /::([a-z]+)$/i.exec(body);
  if (m) {
    mods = m[1]!.toLowerCase();
    body = body.slice(0, m.index);
  }
  if (body.includes("/")) return []; // PCRE: not decoded
  // an offset before the hex (`EP+0:`, `0,2:`, `*:`): the hex is the last part
  const colon = body.lastIndexOf(":");
  if (colon >= 0) body = body.slice(colon + 1);
  const out: string[] = [];
  for (const run of literalRuns(body)) {
    if (mods.includes("i")) {
      const forms = [mods.includes("w") ? "wide" : "", mods.includes("w") && mods.includes("a") ? "ascii" : ""].filter(
        Boolean,
      );
      out.push(`$s${n.i++} = ${escaped(run)} nocase${forms.length ? ` ${forms.join(" ")}` : ""}`);
    } else {
      if (!mods.includes("w") || mods.includes("a")) out.push(`$s${n.i++} = ${hexString(run)}`);
      if (mods.includes("w")) out.push(`$s${n.i++} = ${hexString(wide(run))}`);
    }
  }
  return out;
}

const ruleName = (line: number, name: string) =>
  `L${line}_${name.replace(/[^A-Za-z0-9_]/g, "_").slice(0, 100) || "unnamed"}`;

/** `.ndb`/`.ldb` target types that are document formats (`cli_mtargets`). */
const DOCUMENT_TARGETS: Record<string, string> = { "2": "OLE2", "10": "PDF" };
/** Container types (`Container:` in an `.ldb`) that are documents. */
const DOCUMENT_CONTAINERS: Record<string, string> = {
  CL_TYPE_MSOLE2: "OLE2",
  CL_TYPE_PDF: "PDF",
  CL_TYPE_RTF: "RTF",
  CL_TYPE_OOXML_WORD: "OOXML",
  CL_TYPE_OOXML_PPT: "OOXML",
  CL_TYPE_OOXML_XL: "OOXML",
  CL_TYPE_OOXML_HWP: "OOXML",
  CL_TYPE_XML_WORD: "Office XML",
  CL_TYPE_XML_XL: "Office XML",
  CL_TYPE_XML_HWP: "Office XML",
  CL_TYPE_HWP3: "HWP",
  CL_TYPE_HWPOLE2: "HWP",
  CL_TYPE_ONENOTE: "OneNote",
  CL_TYPE_XDP: "XDP",
};

/** A subsignature anchored at offset 0 whose bytes start with a document header. */
function anchoredHeader(
  sub: string,
  policy: AuditPolicy | undefined,
): { formats: string[]; shown: string } | undefined {
  const body = sub.trim().replace(/::[a-z]+$/i, "");
  const m = /^0:([0-9a-fA-F]{4,})/.exec(body);
  if (!m) return undefined;
  const formats = documentHeader(Uint8Array.from(Buffer.from(m[1]!.slice(0, m[1]!.length & ~1), "hex")), policy);
  return formats.length ? { formats, shown: `0:${m[1]!.slice(0, 16)}` } : undefined;
}

/**
 * A ClamAV signature file as YARA source for the auditor: line N of the file becomes a rule on
 * line N (or an empty line when the signature gives no bytes to look at), and the confinement to
 * documents that the signature's target type, container type or a document header at offset 0
 * gives it, by generated rule name.
 */
export function clamavAudit(
  name: string,
  text: string,
  policy?: AuditPolicy,
): { source: string; confinedBy: Map<string, Confinement> } | undefined {
  const kind = BODY.test(name) ? "body" : LOGICAL.test(name) ? "logical" : MAGIC.test(name) ? "magic" : undefined;
  if (!kind) return undefined;
  const confinedBy = new Map<string, Confinement>();
  const lines = text.split("\n");
  const source = lines
    .map((raw, i) => {
      const line = raw.replace(/\r$/, "");
      if (!line || line.startsWith("#")) return "";
      const n = { i: 0 };
      let sigName: string;
      let strings: string[];
      const conf: Confinement = { formats: new Set(), evidence: [] };
      const confine = (format: string, why: string) => {
        conf.formats.add(format);
        conf.evidence.push(why);
      };
      if (kind === "body") {
        const f = line.split(":");
        sigName = f[0] ?? "";
        strings = subsigStrings(f[3] ?? "", n);
        const t = DOCUMENT_TARGETS[(f[1] ?? "").trim()];
        if (t) confine(t, `the signature's target type is ${f[1]} (${t})`);
        if ((f[2] ?? "").trim() === "0") {
          const h = anchoredHeader(`0:${f[3] ?? ""}`, policy);
          if (h)
            for (const fm of h.formats)
              confine(fm, `the signature's bytes at offset 0 are the ${fm} header (${h.shown})`);
        }
      } else if (kind === "logical") {
        const f = line.split(";");
        sigName = f[0] ?? "";
        const subs = f.slice(3);
        strings = subs.flatMap((s) => subsigStrings(s, n));
        for (const attr of (f[1] ?? "").split(",")) {
          const [k, v] = attr.split(":").map((x) => x.trim());
          if (k === "Target" && v && DOCUMENT_TARGETS[v])
            confine(DOCUMENT_TARGETS[v]!, `Target:${v} (${DOCUMENT_TARGETS[v]})`);
          if (k === "Container" && v && DOCUMENT_CONTAINERS[v])
            confine(DOCUMENT_CONTAINERS[v]!, `Container:${v} (${DOCUMENT_CONTAINERS[v]})`);
        }
        // a subsignature anchored at 0 confines when the logical expression needs every subsignature
        if (/^[\d&()\s]+$/.test(f[2] ?? ""))
          subs.forEach((sub, k) => {
            const h = anchoredHeader(sub, policy);
            if (h)
              for (const fm of h.formats) confine(fm, `subsignature ${k} is the ${fm} header at offset 0 (${h.shown})`);
          });
      } else {
        const f = line.split(":");
        sigName = f[3] ?? "magic";
        strings = subsigStrings(f[2] ?? "", n);
      }
      if (!strings.length) return "";
      const rule = ruleName(i + 1, sigName);
      if (conf.formats.size) confinedBy.set(rule, conf);
      return `rule ${rule} { strings: ${strings.join(" ")} condition: any of them }`;
    })
    .join("\n");
  return { source, confinedBy };
}

/** The YARA source of `clamavAudit`. */
export function clamavAuditSource(name: string, text: string): string | undefined {
  return clamavAudit(name, text)?.source;
}

function unreadable(path: string, why: string): Finding {
  return {
    rule: "(file)",
    file: path,
    code: "unparseable",
    severity: "high",
    reason: "the ClamAV database cannot be read, so it cannot be audited",
    evidence: why,
  };
}

/**
 * The regular files of a tar as sigtool writes it (ustar headers; the archive may end without
 * the two zero blocks). Bounded: at most `maxFiles` files and `maxTotal` bytes.
 */
export function readDatabaseTar(
  b: Uint8Array,
  maxFiles = 100_000,
  maxTotal = 1024 * 1024 * 1024,
): Array<{ name: string; data: Uint8Array }> {
  const out: Array<{ name: string; data: Uint8Array }> = [];
  let off = 0;
  let total = 0;
  while (off + 512 <= b.length) {
    const h = b.subarray(off, off + 512);
    if (h.every((x) => x === 0)) break;
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    const field = (o: number, n: number) =>
      Buffer.from(h.subarray(o, o + n))
        .toString("latin1")
        .replace(/\0.*$/s, "");
    const declared = Number.parseInt(field(148, 8).trim() || "x", 8);
    if (declared !== sum) throw new Error(`bad tar header checksum at offset ${off}`);
    const sizeText = field(124, 12).trim();
    if (!/^[0-7]*$/.test(sizeText)) throw new Error(`bad tar size field at offset ${off}`);
    const size = sizeText ? Number.parseInt(sizeText, 8) : 0;
    const prefix = field(345, 155);
    const name = (prefix ? `${prefix}/` : "") + field(0, 100);
    off += 512;
    if (off + size > b.length) throw new Error(`the tar is cut in ${name}`);
    const type = h[156];
    if (type === 0x30 || type === 0) {
      total += size;
      if (total > maxTotal || out.length >= maxFiles) throw new Error("the tar holds more than the audit reads");
      out.push({ name, data: b.subarray(off, off + size) });
    }
    off += Math.ceil(size / 512) * 512;
  }
  return out;
}

/** The files of a `.cvd`/`.cld`/`.cud`: 512-byte header, then a tar (gzip'd in .cvd and .cud). */
export function containerFiles(data: Uint8Array): Array<{ name: string; data: Uint8Array }> {
  if (data.length < 512 || Buffer.from(data.subarray(0, 11)).toString("latin1") !== "ClamAV-VDB:")
    throw new Error("no ClamAV-VDB header");
  let body = data.subarray(512);
  if (body[0] === 0x1f && body[1] === 0x8b) body = gunzipSync(body, { maxOutputLength: 1024 * 1024 * 1024 });
  return readDatabaseTar(body);
}

/**
 * Audits one file of a bundle: ClamAV databases as described above, everything else as YARA
 * rules (`auditRules`).
 */
export function auditBundleFile(path: string, data: Uint8Array, options: AuditOptions = {}): Finding[] {
  if (!CLAMAV_DATABASE.test(path)) return auditRules(data, { ...options, path });
  const one = (name: string, bytes: Uint8Array): Finding[] => {
    if (YARA.test(name)) return auditRules(bytes, { ...options, path: name });
    const gen = clamavAudit(name, Buffer.from(bytes).toString("latin1"), options.policy);
    return gen === undefined ? [] : auditRules(gen.source, { ...options, path: name, confinedBy: gen.confinedBy });
  };
  if (!CONTAINER.test(path)) return one(path, data);
  let files: Array<{ name: string; data: Uint8Array }>;
  try {
    files = containerFiles(data);
  } catch (e) {
    return [unreadable(path, (e as Error).message)];
  }
  return files.flatMap((f) => one(`${path}!${f.name}`, f.data));
}
