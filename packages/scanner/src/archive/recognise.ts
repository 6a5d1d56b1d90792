/**
 * The rule that comes first: a file Vigil cannot read completely is never reported OK.
 *
 * `recognise` names the container, encoding or packer family of bytes that no reader of
 * `sniffArchive` opens (ClamAV's test set's families: archives, documents, mail, installers,
 * packed executables), by content only (magic bytes, never the file name). The scan reports
 * such bytes "not fully scanned (unsupported)" instead of OK. A real reader registered in
 * `sniffArchive` takes precedence: this is consulted only when it returns nothing.
 */

export interface Recognised {
  /** The family's name, as printed: "7z", "PDF", "UPX-packed PE", ... */
  format: string;
  /** Why it is not fully scanned, for the "not fully scanned" entry. */
  message: string;
}

function said(format: string, detail?: string): Recognised {
  return { format, message: `${format} is not opened by this version${detail ? ` (${detail})` : ""}` };
}

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

function startsWith(b: Uint8Array, at: number, sig: Uint8Array | number[]): boolean {
  if (at < 0 || at + sig.length > b.length) return false;
  for (let i = 0; i < sig.length; i++) if (b[at + i] !== sig[i]) return false;
  return true;
}

function indexOf(b: Uint8Array, sig: Uint8Array, from = 0, to = b.length): number {
  const within = to < b.length ? b.subarray(0, to) : b;
  const end = within.length - sig.length;
  const first = sig[0]!;
  for (let i = within.indexOf(first, from); i >= 0 && i <= end; i = within.indexOf(first, i + 1))
    if (startsWith(b, i, sig)) return i;
  return -1;
}

const u16 = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8);
const u32 = (b: Uint8Array, at: number) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

const text = (b: Uint8Array, at: number, n: number) =>
  at >= b.length ? "" : Buffer.from(b.buffer, b.byteOffset + at, Math.min(n, b.length - at)).toString("latin1");

const SEVEN_Z = [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c];
const RAR4 = ascii("Rar!\x1a\x07\x00");
const RAR5 = ascii("Rar!\x1a\x07\x01\x00");
const OLE2 = [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];
const TNEF = [0x78, 0x9f, 0x3e, 0x22];
const SZDD = [0x53, 0x5a, 0x44, 0x44, 0x88, 0xf0, 0x27, 0x33];
const KWAJ = [0x4b, 0x57, 0x41, 0x4a, 0x88, 0xf0, 0x27, 0xd1];
const NSIS = ascii("NullsoftInst");
const AUTOIT = ascii("AU3!EA0");
const INSTALLSHIELD = ascii("InstallShield");
const ISCAB = ascii("ISc(");
const UPX = ascii("UPX!");
const BINHEX = ascii("(This file must be converted with BinHex");
const KERNEL32 = ascii("KERNEL32.DLL");
const MSCF = ascii("MSCF");
const CPIO_ASCII = ascii("0707");
const ITSF = ascii("ITSF");
const PDF = ascii("%PDF-");
const RTF = ascii("{\\rtf");

/** Section names that packers give their sections (the test set's and their usual names). */
const PACKER_SECTIONS: [RegExp, string][] = [
  [/^UPX[0-9!]?$/, "UPX"],
  [/^\.aspack$|^\.adata$/, "ASPack"],
  [/^\.petite$/, "Petite"],
  [/^\.WWP32$/, "WWPack32"],
  [/^yC$/, "yC"],
  [/^MEW/, "MEW"],
  [/^\.taz$|^ KuNgBiM$/, "PESpin"],
  [/^\.MPRESS[12]$/, "MPRESS"],
  [/^\.nsp[012]$/, "NsPack"],
  [/^PEC2|^pec[12]$/, "PECompact"],
  [/^\.packed$|^\.RLPack$/, "RLPack"],
  [/^\.themida$|^\.winlice$/, "Themida"],
  [/^\.vmp[012]$/, "VMProtect"],
  [/^\.enigma[12]$/, "Enigma"],
  [/^FSG!$/, "FSG"],
];

/** The packers whose PE files `exe/` unpacks: seen here, the unpacker did not find its loader. */
const UNPACKED = new Set(["UPX", "ASPack", "Petite", "WWPack32", "yC", "MEW", "PESpin", "Upack"]);

interface Pe {
  header: number;
  sections: { name: string; vsize: number; rva: number; rsize: number; raw: number; flags: number }[];
  entry: number;
  /** End of the last section's raw data: what follows is the overlay. */
  end: number;
}

/** The PE file at `at` (an "MZ" whose e_lfanew points at "PE\0\0"), or undefined. */
function parsePe(b: Uint8Array, at = 0): Pe | undefined {
  if (!startsWith(b, at, [0x4d, 0x5a]) || at + 0x40 > b.length) return undefined;
  const header = at + u32(b, at + 0x3c);
  if (header + 24 > b.length || !startsWith(b, header, [0x50, 0x45, 0, 0])) return undefined;
  const count = u16(b, header + 6);
  const optSize = u16(b, header + 20);
  const entry = header + 24 + 20 <= b.length ? u32(b, header + 24 + 16) : 0;
  const sections = [];
  let end = 0;
  const first = header + 24 + optSize;
  for (let i = 0; i < Math.min(count, 96); i++) {
    const s = first + 40 * i;
    if (s + 40 > b.length) break;
    let name = "";
    for (let k = 0; k < 8 && b[s + k]; k++) name += String.fromCharCode(b[s + k]!);
    const sec = {
      name,
      vsize: u32(b, s + 8),
      rva: u32(b, s + 12),
      rsize: u32(b, s + 16),
      raw: u32(b, s + 20),
      flags: u32(b, s + 36),
    };
    sections.push(sec);
    if (sec.rsize) end = Math.max(end, sec.raw + sec.rsize);
  }
  return { header: header - at, sections, entry, end };
}

/** What in a PE file this version does not open: a packer, an installer, an appended archive. */
function recognisePe(b: Uint8Array, pe: Pe): Recognised | undefined {
  const packed = (packer: string): Recognised =>
    UNPACKED.has(packer)
      ? {
          format: `${packer}-packed PE`,
          message:
            `${packer}-packed PE: the packer's loader or sections were not found (damaged, or a version ` +
            "not supported); the packed program is not unpacked, only the packer's bytes are scanned",
        }
      : said(`${packer}-packed PE`, "the packed program is not unpacked, only the packer's bytes are scanned");
  for (const s of pe.sections) for (const [re, packer] of PACKER_SECTIONS) if (re.test(s.name)) return packed(packer);
  if (startsWith(b, 2, KERNEL32)) return packed("Upack");
  if (indexOf(b, UPX, 0, Math.min(b.length, 4096)) >= 0) return packed("UPX");
  // (a section with no bytes in the file is no sign on its own: linkers write those too)
  const installer = (format: string) => said(format, "its payload is not extracted");
  if (indexOf(b, NSIS) >= 0) return installer("NSIS installer");
  if (indexOf(b, AUTOIT) >= 0) return installer("AutoIt compiled script");
  // InstallShield's own DLLs and a bare setup.exe name it too: an installer carries a payload
  if (appendedBytes(b, pe) > 512 && (indexOf(b, ISCAB) >= 0 || indexOf(b, INSTALLSHIELD) >= 0))
    return installer("InstallShield installer");
  // an archive or document appended to the program: a self-extractor
  const overlay = b.subarray(Math.min(pe.end, b.length));
  if (overlay.length >= 16) {
    const inner = recogniseData(overlay, false) ?? appendedArchive(overlay);
    if (inner) return said(`self-extracting ${inner}`, `the ${inner} appended at offset ${pe.end} is not scanned`);
  }
  // another executable inside this one (ClamAV scans it on its own)
  for (let i = b.indexOf(0x4d, 1); i >= 0 && i + 0x40 <= b.length; i = b.indexOf(0x4d, i + 1)) {
    if (b[i + 1] !== 0x5a) continue;
    const inner = parsePe(b, i);
    if (inner?.sections.length)
      return said("PE with an embedded executable", `the executable at offset ${i} is not scanned on its own`);
  }
  return undefined;
}

/** Bytes past the sections' raw data, not counting an Authenticode certificate at the end. */
function appendedBytes(b: Uint8Array, pe: Pe): number {
  const end = Math.min(pe.end, b.length);
  const opt = pe.header + 24;
  const dir = opt + (u16(b, opt) === 0x20b ? 144 : 128);
  if (dir + 8 <= b.length) {
    const at = u32(b, dir);
    const size = u32(b, dir + 4);
    if (size && at >= end && at + size + 8 >= b.length) return at - end;
  }
  return b.length - end;
}

/** Archive magics worth naming in a PE's overlay (zip, gzip and the rest have readers of their own). */
function appendedArchive(b: Uint8Array): string | undefined {
  if (startsWith(b, 0, [0x50, 0x4b, 3, 4])) return "zip archive";
  if (startsWith(b, 0, [0x1f, 0x8b])) return "gzip archive";
  return undefined;
}

/** cpio's old binary header (magic 070707 as a 16-bit word, either byte order) with a plausible name. */
function isBinaryCpio(b: Uint8Array): boolean {
  if (b.length < 28) return false;
  const le = b[0] === 0xc7 && b[1] === 0x71;
  if (!le && !(b[0] === 0x71 && b[1] === 0xc7)) return false;
  const namesize = le ? u16(b, 20) : (b[20]! << 8) | b[21]!;
  return namesize >= 1 && namesize <= 4096 && 26 + namesize <= b.length && b[26 + namesize - 1] === 0;
}

/** Families recognised anywhere (a file's start, or a PE overlay when `top` is false). */
function recogniseData(b: Uint8Array, top: boolean): string | undefined {
  if (startsWith(b, 0, SEVEN_Z)) return "7z archive";
  if (startsWith(b, 0, RAR5)) return "RAR 5 archive";
  if (startsWith(b, 0, RAR4)) return "RAR 4 archive";
  if (startsWith(b, 0, MSCF) && b.length >= 36 && u32(b, 4) === 0) return "CAB archive";
  if (startsWith(b, 0, ISCAB)) return "InstallShield cabinet";
  if (startsWith(b, 0, [0x60, 0xea]) && b.length >= 12 && u16(b, 2) <= 2600 && b[4]! >= 30 && b[10] === 2)
    return "ARJ archive";
  if (startsWith(b, 0, CPIO_ASCII) && /^07070[127]$/.test(text(b, 0, 6))) return "cpio archive";
  if (isBinaryCpio(b)) return "cpio archive";
  if (startsWith(b, 0, ITSF) && b.length >= 8 && u32(b, 4) === 3) return "CHM help file";
  if (startsWith(b, 0, SZDD)) return "SZDD (MS compress) file";
  if (startsWith(b, 0, KWAJ)) return "KWAJ (MS compress) file";
  if (b.length >= 16 && u32(b, 8) === 0x10000419 && (u32(b, 4) === 0x1000006d || u32(b, 4) === 0x10003a12))
    return "SIS (Symbian) package";
  if (b.length >= 16 && u32(b, 0) === 0x10201a7a) return "SIS (Symbian 9) package";
  if (startsWith(b, 0, OLE2)) return "OLE2 compound file (Office 97-2003, MSI)";
  if (startsWith(b, 0, TNEF)) return "TNEF (winmail.dat)";
  if (startsWith(b, 0, [0xa3, 0x48, 0x4b, 0xbe, 0x98, 0x6c, 0x4a, 0xa9])) return "AutoIt compiled script";
  if (top) {
    for (const at of [0x8001, 0x8801, 0x9001]) {
      const id = text(b, at, 5);
      if (id === "CD001") return "ISO 9660 image";
      if (id === "BEA01" || id === "NSR02" || id === "NSR03") return "UDF image";
    }
  }
  if (indexOf(b, PDF, 0, 1024 + 5) >= 0) return "PDF document";
  if (startsWith(b, 0, RTF)) return "RTF document";
  if (indexOf(b, BINHEX, 0, 4096) >= 0) return "BinHex file";
  return undefined;
}

const ENCODED_PART =
  /^(content-transfer-encoding:\s*(base64|quoted-printable|x-uue|uue|x-uuencode|uuencode|binhex)|content-type:\s*(multipart|message|application\/(mac-)?binhex)|begin [0-7]{3,4} \S|\(This file must be converted with BinHex)/im;

/** Lines of text at the start: a message's header block, an mbox, a uuencoded file, HTML. */
function recogniseText(b: Uint8Array): string | undefined {
  // text starts with a printable byte, white space or a UTF-8 byte order mark
  const c = b[0]!;
  if (c < 0x09 || (c > 0x0d && c < 0x20 && c !== 0x1b) || c === 0x7f) return undefined;
  const head = text(b, 0, 64 * 1024);
  if (head.includes("begin") && /^begin(-base64)? [0-7]{3,4} \S/m.test(head)) return "uuencoded file";
  const lines = head.replace(/^\ufeff|^\xef\xbb\xbf/, "").split(/\r?\n/, 40);
  let i = 0;
  const mbox = /^From \S+/.test(lines[0] ?? "");
  if (mbox) i = 1;
  let headers = 0;
  let mailish = false;
  for (; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === "") break;
    if (/^[ \t]/.test(line) && headers) continue; // folded header
    const m = /^([!-9;-~]+):/.exec(line);
    if (!m) {
      headers = 0;
      break;
    }
    headers++;
    if (
      /^(from|to|cc|subject|date|received|return-path|message-id|mime-version|content-type|delivered-to|reply-to)$/i.test(
        m[1]!,
      )
    )
      mailish = true;
  }
  // a message whose parts are all plain text is read whole as it is; one with encoded parts is not
  if (headers >= 2 && mailish && ENCODED_PART.test(text(b, 0, 64 << 20)))
    return mbox ? "mbox mailbox" : "MIME / RFC 822 mail message";
  if (/^\s*</.test(head) && /data:[\w/+.-]*(;[\w=.-]+)*;base64,/i.test(head)) return "HTML with data: URIs";
  return undefined;
}

/**
 * The family of `b` when it is one this version recognises but does not open, or undefined.
 * Only consulted for bytes no reader of `sniffArchive` took.
 */
export function recognise(b: Uint8Array): Recognised | undefined {
  if (b.length < 4) return undefined;
  const pe = parsePe(b);
  if (pe) return recognisePe(b, pe);
  if (startsWith(b, 0, [0x7f, 0x45, 0x4c, 0x46])) {
    if (indexOf(b, UPX, 0, Math.min(b.length, 4096)) >= 0)
      return said("UPX-packed ELF", "the packed program is not unpacked, only the packer's bytes are scanned");
    return undefined;
  }
  const format = recogniseData(b, true) ?? recogniseText(b);
  return format ? said(format) : undefined;
}
