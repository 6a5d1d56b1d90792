// Generated ClamAV signatures and files for differential tests against clamscan and yara.
// Every case has a signature and files built so that it should match ("hit") or just not
// ("miss": one byte off, one position off, wrong type...). Nothing here is malware.

export interface FileSpec {
  name: string;
  bytes: Uint8Array;
}

export interface SigCase {
  /** ClamAV name (without .UNOFFICIAL). */
  name: string;
  format: "ndb" | "ldb";
  line: string;
  hits: FileSpec[];
  misses: FileSpec[];
}

const enc = new TextEncoder();
const h = (s: string) => Buffer.from(s, "latin1").toString("hex");

/** Filler that contains no boundary, marker or hex-pattern bytes: lower-case 'q'..'z' cycling. */
export function filler(n: number, seed = 0): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = 0x71 + ((i * 7 + seed) % 10);
  return out;
}

/** A file of `size` filler bytes with `parts` written at offsets. */
export function file(size: number, parts: Array<[number, Uint8Array | string]>, seed = 0): Uint8Array {
  const b = filler(size, seed);
  for (const [off, p] of parts) b.set(typeof p === "string" ? enc.encode(p) : p, off < 0 ? size + off : off);
  return b;
}

// --- minimal executables -------------------------------------------------------------------

/** A PE32 with two sections (.text raw 0x200..0x400, .data raw 0x400..0x600), entry point at file offset 0x210. */
export function makePe(patches: Array<[number, Uint8Array | string]> = []): Uint8Array {
  const b = filler(0x600, 3);
  const dv = new DataView(b.buffer);
  b.fill(0, 0, 0x200);
  b.set(enc.encode("MZ"), 0);
  dv.setUint32(0x3c, 0x40, true);
  b.set(enc.encode("PE\0\0"), 0x40);
  const coff = 0x44;
  dv.setUint16(coff, 0x14c, true); // i386
  dv.setUint16(coff + 2, 2, true); // sections
  dv.setUint16(coff + 16, 0xe0, true); // optional header size
  dv.setUint16(coff + 18, 0x0102, true);
  const opt = coff + 20;
  dv.setUint16(opt, 0x10b, true);
  dv.setUint32(opt + 4, 0x400, true); // size of code
  dv.setUint32(opt + 16, 0x1010, true); // entry point RVA
  dv.setUint32(opt + 20, 0x1000, true); // base of code
  dv.setUint32(opt + 24, 0x2000, true); // base of data
  dv.setUint32(opt + 28, 0x400000, true); // image base
  dv.setUint32(opt + 32, 0x1000, true); // section alignment
  dv.setUint32(opt + 36, 0x200, true); // file alignment
  dv.setUint16(opt + 40, 4, true); // os version
  dv.setUint16(opt + 48, 4, true); // subsystem version
  dv.setUint32(opt + 56, 0x3000, true); // size of image
  dv.setUint32(opt + 60, 0x200, true); // size of headers
  dv.setUint16(opt + 68, 2, true); // GUI
  dv.setUint32(opt + 72, 0x100000, true);
  dv.setUint32(opt + 76, 0x1000, true);
  dv.setUint32(opt + 80, 0x100000, true);
  dv.setUint32(opt + 84, 0x1000, true);
  dv.setUint32(opt + 92, 16, true); // data directories
  const sec = opt + 0xe0;
  const section = (at: number, name: string, va: number, raw: number, flags: number) => {
    b.set(enc.encode(name), at);
    dv.setUint32(at + 8, 0x200, true);
    dv.setUint32(at + 12, va, true);
    dv.setUint32(at + 16, 0x200, true);
    dv.setUint32(at + 20, raw, true);
    dv.setUint32(at + 36, flags, true);
  };
  section(sec, ".text", 0x1000, 0x200, 0x60000020);
  section(sec + 40, ".data", 0x2000, 0x400, 0xc0000040);
  for (const [off, p] of patches) b.set(typeof p === "string" ? enc.encode(p) : p, off);
  return b;
}
export const PE_EP = 0x210;
export const PE_S0 = 0x200;
export const PE_S1 = 0x400;

/** An ELF64 executable: one PT_LOAD of the whole file at 0x400000, entry at file offset 0x100, sections .text (0x100, 0x80) and .data (0x180, 0x80). */
export function makeElf(patches: Array<[number, Uint8Array | string]> = []): Uint8Array {
  const size = 0x300;
  const b = filler(size, 5);
  b.fill(0, 0, 0x100);
  b.fill(0, 0x200, size);
  const dv = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0);
  dv.setUint16(16, 2, true); // EXEC
  dv.setUint16(18, 0x3e, true); // x86-64
  dv.setUint32(20, 1, true);
  dv.setBigUint64(24, 0x400100n, true); // entry
  dv.setBigUint64(32, 0x40n, true); // phoff
  dv.setBigUint64(40, 0x200n, true); // shoff
  dv.setUint16(52, 64, true);
  dv.setUint16(54, 56, true);
  dv.setUint16(56, 1, true);
  dv.setUint16(58, 64, true);
  dv.setUint16(60, 4, true); // shnum
  dv.setUint16(62, 3, true); // shstrndx
  // PT_LOAD
  dv.setUint32(0x40, 1, true);
  dv.setUint32(0x44, 5, true);
  dv.setBigUint64(0x48, 0n, true);
  dv.setBigUint64(0x50, 0x400000n, true);
  dv.setBigUint64(0x58, 0x400000n, true);
  dv.setBigUint64(0x60, BigInt(size), true);
  dv.setBigUint64(0x68, BigInt(size), true);
  dv.setBigUint64(0x70, 0x1000n, true);
  // section headers at 0x200 (4 x 64 = 256 bytes => up to 0x300); strings live at 0xe0 in the header gap
  const strtab = "\0.text\0.data\0.shstrtab\0";
  b.set(enc.encode(strtab), 0xe0);
  const sh = (i: number, name: number, type: number, flags: bigint, addr: bigint, off: number, sz: number) => {
    const at = 0x200 + i * 64;
    dv.setUint32(at, name, true);
    dv.setUint32(at + 4, type, true);
    dv.setBigUint64(at + 8, flags, true);
    dv.setBigUint64(at + 16, addr, true);
    dv.setBigUint64(at + 24, BigInt(off), true);
    dv.setBigUint64(at + 32, BigInt(sz), true);
    dv.setBigUint64(at + 48, 1n, true);
  };
  sh(1, 1, 1, 6n, 0x400100n, 0x100, 0x80);
  sh(2, 7, 1, 3n, 0x400180n, 0x180, 0x80);
  sh(3, 13, 3, 0n, 0n, 0xe0, strtab.length);
  for (const [off, p] of patches) b.set(typeof p === "string" ? enc.encode(p) : p, off);
  return b;
}
export const ELF_EP = 0x100;

// --- the catalogue --------------------------------------------------------------------------

export function catalogue(): SigCase[] {
  const cases: SigCase[] = [];
  const P = "VGPATTERN"; // 9 bytes, no boundary bytes
  const ph = h(P);
  const add = (c: SigCase) => cases.push(c);
  const f = (name: string, bytes: Uint8Array): FileSpec => ({ name, bytes });

  // offsets
  add({
    name: "Vg.Ndb.Abs-1",
    format: "ndb",
    line: `Vg.Ndb.Abs-1:0:16:${ph}`,
    hits: [f("abs-hit", file(64, [[16, P]]))],
    misses: [f("abs-miss", file(64, [[17, P]]))],
  });
  add({
    name: "Vg.Ndb.Shift-1",
    format: "ndb",
    line: `Vg.Ndb.Shift-1:0:10,5:${h("SHIFTED1")}`,
    hits: [f("shift-lo", file(64, [[10, "SHIFTED1"]])), f("shift-hi", file(64, [[15, "SHIFTED1"]]))],
    misses: [f("shift-miss", file(64, [[16, "SHIFTED1"]]))],
  });
  add({
    name: "Vg.Ndb.Eof-1",
    format: "ndb",
    line: `Vg.Ndb.Eof-1:0:EOF-20:${h("ENDMARK1")}`,
    hits: [f("eof-hit", file(100, [[80, "ENDMARK1"]]))],
    misses: [f("eof-miss", file(100, [[79, "ENDMARK1"]]))],
  });
  add({
    name: "Vg.Ndb.EofShift-1",
    format: "ndb",
    line: `Vg.Ndb.EofShift-1:0:EOF-30,4:${h("ENDMARK2")}`,
    hits: [f("eofs-hit", file(100, [[74, "ENDMARK2"]]))],
    misses: [f("eofs-miss", file(100, [[75, "ENDMARK2"]]))],
  });
  add({
    name: "Vg.Ndb.Any-1",
    format: "ndb",
    line: `Vg.Ndb.Any-1:0:*:${h("ANYWHERE")}`,
    hits: [f("any-hit", file(300, [[201, "ANYWHERE"]]))],
    misses: [f("any-miss", file(300, [[201, "ANYWHERF"]]))],
  });
  // body forms
  add({
    name: "Vg.Ndb.Wild-1",
    format: "ndb",
    line: `Vg.Ndb.Wild-1:0:*:${h("WILD")}??${h("CARD")}`,
    hits: [f("wild-hit", file(64, [[5, "WILD#CARD"]]))],
    misses: [f("wild-miss", file(64, [[5, "WILDCARD"]]))],
  });
  add({
    name: "Vg.Ndb.Nibble-1",
    format: "ndb",
    line: `Vg.Ndb.Nibble-1:0:*:${h("NIB")}4?${h("BLE")}?3${h("END")}`,
    hits: [f("nib-hit", file(64, [[5, "NIBMBLEcEND"]]))],
    misses: [f("nib-miss1", file(64, [[5, "NIBxBLEcEND"]])), f("nib-miss2", file(64, [[5, "NIBMBLEdEND"]]))],
  });
  add({
    name: "Vg.Ndb.Star-1",
    format: "ndb",
    line: `Vg.Ndb.Star-1:0:*:${h("STARTA")}*${h("STARTB")}`,
    hits: [
      f(
        "star-hit",
        file(400, [
          [10, "STARTA"],
          [300, "STARTB"],
        ]),
      ),
    ],
    misses: [
      f(
        "star-miss",
        file(400, [
          [300, "STARTA"],
          [10, "STARTB"],
        ]),
      ),
    ],
  });
  add({
    name: "Vg.Ndb.Exact-1",
    format: "ndb",
    line: `Vg.Ndb.Exact-1:0:*:${h("EXACT")}{4}${h("JUMP")}`,
    hits: [f("exact-hit", file(64, [[3, "EXACTxxxxJUMP"]]))],
    misses: [f("exact-miss", file(64, [[3, "EXACTxxxJUMP"]]))],
  });
  add({
    name: "Vg.Ndb.UpTo-1",
    format: "ndb",
    line: `Vg.Ndb.UpTo-1:0:*:${h("UPTO")}{-3}${h("JUMP")}`,
    hits: [f("upto-hit0", file(64, [[3, "UPTOJUMP"]])), f("upto-hit3", file(64, [[3, "UPTOxxxJUMP"]]))],
    misses: [f("upto-miss", file(64, [[3, "UPTOxxxxJUMP"]]))],
  });
  add({
    name: "Vg.Ndb.AtLeast-1",
    format: "ndb",
    line: `Vg.Ndb.AtLeast-1:0:*:${h("LEAST")}{5-}${h("JUMP")}`,
    hits: [
      f(
        "least-hit",
        file(200, [
          [3, "LEAST"],
          [100, "JUMP"],
        ]),
      ),
    ],
    misses: [f("least-miss", file(64, [[3, "LEASTxxxxJUMP"]]))],
  });
  add({
    name: "Vg.Ndb.Range-1",
    format: "ndb",
    line: `Vg.Ndb.Range-1:0:*:${h("RANGE")}{2-4}${h("JUMP")}`,
    hits: [f("range-hit", file(64, [[3, "RANGExxxJUMP"]]))],
    misses: [f("range-miss1", file(64, [[3, "RANGExJUMP"]])), f("range-miss5", file(64, [[3, "RANGExxxxxJUMP"]]))],
  });
  add({
    name: "Vg.Ndb.Bracket-1",
    format: "ndb",
    line: `Vg.Ndb.Bracket-1:0:*:${h("B")}[1-3]${h("RACKET")}`,
    hits: [f("bracket-hit", file(64, [[3, "BxxRACKET"]]))],
    misses: [f("bracket-miss", file(64, [[3, "BxxxxRACKET"]]))],
  });
  add({
    name: "Vg.Ndb.AltByte-1",
    format: "ndb",
    line: `Vg.Ndb.AltByte-1:0:*:${h("ALT")}(31|32|33)${h("BYTE")}`,
    hits: [f("altb-hit", file(64, [[3, "ALT2BYTE"]]))],
    misses: [f("altb-miss", file(64, [[3, "ALT4BYTE"]]))],
  });
  add({
    name: "Vg.Ndb.AltFixed-1",
    format: "ndb",
    line: `Vg.Ndb.AltFixed-1:0:*:${h("ALTF")}(${h("ONE")}|${h("TWO")})${h("END")}`,
    hits: [f("altf-hit", file(64, [[3, "ALTFTWOEND"]]))],
    misses: [f("altf-miss", file(64, [[3, "ALTFSIXEND"]]))],
  });
  add({
    name: "Vg.Ndb.AltGeneric-1",
    format: "ndb",
    line: `Vg.Ndb.AltGeneric-1:0:*:${h("ALTG")}(${h("A")}??${h("C")}|${h("LONG")}{2}${h("X")})${h("END")}`,
    hits: [f("altg-hit1", file(64, [[3, "ALTGAbCEND"]])), f("altg-hit2", file(64, [[3, "ALTGLONGyyXEND"]]))],
    misses: [f("altg-miss", file(64, [[3, "ALTGLONGyyyXEND"]]))],
  });
  add({
    name: "Vg.Ndb.NotByte-1",
    format: "ndb",
    line: `Vg.Ndb.NotByte-1:0:*:${h("NOT")}!(31|32)${h("BYTE")}`,
    hits: [f("notb-hit", file(64, [[3, "NOT3BYTE"]]))],
    misses: [f("notb-miss", file(64, [[3, "NOT1BYTE"]]))],
  });
  add({
    name: "Vg.Ndb.NotFixed-1",
    format: "ndb",
    line: `Vg.Ndb.NotFixed-1:0:*:${h("NOTF")}!(${h("AB")}|${h("CD")})${h("END")}`,
    hits: [f("notf-hit", file(64, [[3, "NOTFACEND"]]))],
    misses: [f("notf-miss", file(64, [[3, "NOTFCDEND"]]))],
  });
  add({
    name: "Vg.Ndb.BoundaryL-1",
    format: "ndb",
    line: `Vg.Ndb.BoundaryL-1:0:*:(B)${h("WORDB")}`,
    hits: [f("bl-hit", file(64, [[3, " WORDB"]])), f("bl-hit0", file(64, [[0, "WORDB"]]))],
    misses: [f("bl-miss", file(64, [[3, "xWORDB"]]))],
  });
  add({
    name: "Vg.Ndb.BoundaryR-1",
    format: "ndb",
    line: `Vg.Ndb.BoundaryR-1:0:*:${h("WORDR")}(B)`,
    hits: [f("br-hit", file(64, [[3, "WORDR="]])), f("br-hitend", file(64, [[-5, "WORDR"]]))],
    misses: [f("br-miss", file(64, [[3, "WORDRx"]]))],
  });
  add({
    name: "Vg.Ndb.BoundaryM-1",
    format: "ndb",
    line: `Vg.Ndb.BoundaryM-1:0:*:${h("MID")}(B)${h("BOUND")}`,
    hits: [f("bm-hit", file(64, [[3, "MID-BOUND"]]))],
    misses: [f("bm-miss", file(64, [[3, "MIDxBOUND"]]))],
  });
  add({
    name: "Vg.Ndb.LineL-1",
    format: "ndb",
    line: `Vg.Ndb.LineL-1:0:*:(L)${h("LINESTART")}`,
    hits: [f("ll-hit", file(64, [[3, "\nLINESTART"]]))],
    misses: [f("ll-miss", file(64, [[3, " LINESTART"]]))],
  });
  add({
    name: "Vg.Ndb.LineR-1",
    format: "ndb",
    line: `Vg.Ndb.LineR-1:0:*:${h("LINEEND")}(L)`,
    hits: [f("lr-hit", file(64, [[3, "LINEEND\r\n"]])), f("lr-hitlf", file(64, [[3, "LINEEND\n"]]))],
    misses: [f("lr-miss", file(64, [[3, "LINEEND\rx"]]))],
  });
  add({
    name: "Vg.Ndb.LineM-1",
    format: "ndb",
    line: `Vg.Ndb.LineM-1:0:*:${h("TWO")}(L)${h("LINES")}`,
    hits: [f("lm-hit", file(64, [[3, "TWO\r\nLINES"]])), f("lm-hitlf", file(64, [[3, "TWO\nLINES"]]))],
    misses: [f("lm-miss", file(64, [[3, "TWO LINES"]]))],
  });
  add({
    name: "Vg.Ndb.WordL-1",
    format: "ndb",
    line: `Vg.Ndb.WordL-1:0:*:(W)${h("WORDW")}`,
    hits: [f("wl-hit", file(64, [[3, "#WORDW"]]))],
    misses: [f("wl-miss", file(64, [[3, "9WORDW"]]))],
  });
  add({
    name: "Vg.Ndb.NotWordR-1",
    format: "ndb",
    line: `Vg.Ndb.NotWordR-1:0:*:${h("NWORD")}!(W)`,
    hits: [f("nwr-hit", file(64, [[3, "NWORDa"]]))],
    misses: [f("nwr-miss", file(64, [[3, "NWORD!"]]))],
  });
  // file types and exe offsets
  add({
    name: "Vg.Ndb.PeAny-1",
    format: "ndb",
    line: `Vg.Ndb.PeAny-1:1:*:${h("PEONLY")}`,
    hits: [f("pe-any.exe", makePe([[0x500, "PEONLY"]]))],
    misses: [f("pe-any-notpe", file(0x600, [[0x500, "PEONLY"]]))],
  });
  add({
    name: "Vg.Ndb.PeEp-1",
    format: "ndb",
    line: `Vg.Ndb.PeEp-1:1:EP+0:${h("ENTRYPT")}`,
    hits: [f("pe-ep.exe", makePe([[PE_EP, "ENTRYPT"]]))],
    misses: [f("pe-ep-miss.exe", makePe([[PE_EP + 1, "ENTRYPT"]]))],
  });
  add({
    name: "Vg.Ndb.PeEpPlus-1",
    format: "ndb",
    line: `Vg.Ndb.PeEpPlus-1:1:EP+16:${h("EPPLUS")}`,
    hits: [f("pe-epp.exe", makePe([[PE_EP + 16, "EPPLUS"]]))],
    misses: [f("pe-epp-miss.exe", makePe([[PE_EP + 15, "EPPLUS"]]))],
  });
  add({
    name: "Vg.Ndb.PeEpMinus-1",
    format: "ndb",
    line: `Vg.Ndb.PeEpMinus-1:1:EP-8,4:${h("EPMINUS")}`,
    hits: [f("pe-epm.exe", makePe([[PE_EP - 6, "EPMINUS"]]))],
    misses: [f("pe-epm-miss.exe", makePe([[PE_EP - 9, "EPMINUS"]]))],
  });
  add({
    name: "Vg.Ndb.PeS1-1",
    format: "ndb",
    line: `Vg.Ndb.PeS1-1:1:S1+32:${h("SECTONE")}`,
    hits: [f("pe-s1.exe", makePe([[PE_S1 + 32, "SECTONE"]]))],
    misses: [f("pe-s1-miss.exe", makePe([[PE_S0 + 32, "SECTONE"]]))],
  });
  add({
    name: "Vg.Ndb.PeSE0-1",
    format: "ndb",
    line: `Vg.Ndb.PeSE0-1:1:SE0:${h("INSECT")}`,
    hits: [f("pe-se0.exe", makePe([[PE_S0 + 100, "INSECT"]]))],
    misses: [f("pe-se0-miss.exe", makePe([[PE_S1 + 100, "INSECT"]]))],
  });
  add({
    name: "Vg.Ndb.PeSL-1",
    format: "ndb",
    line: `Vg.Ndb.PeSL-1:1:SL+4:${h("LASTSEC")}`,
    hits: [f("pe-sl.exe", makePe([[PE_S1 + 4, "LASTSEC"]]))],
    misses: [f("pe-sl-miss.exe", makePe([[PE_S1 + 5, "LASTSEC"]]))],
  });
  add({
    name: "Vg.Ndb.ElfEp-1",
    format: "ndb",
    line: `Vg.Ndb.ElfEp-1:6:EP+4:${h("ELFENTRY")}`,
    hits: [f("elf-ep", makeElf([[ELF_EP + 4, "ELFENTRY"]]))],
    misses: [f("elf-ep-miss", makeElf([[ELF_EP + 5, "ELFENTRY"]]))],
  });
  add({
    name: "Vg.Ndb.ElfAny-1",
    format: "ndb",
    line: `Vg.Ndb.ElfAny-1:6:*:${h("ELFBODY")}`,
    hits: [f("elf-any", makeElf([[0x190, "ELFBODY"]]))],
    misses: [f("elf-any-miss", file(0x300, [[0x190, "ELFBODY"]]))],
  });
  add({
    name: "Vg.Ndb.Pdf-1",
    format: "ndb",
    line: `Vg.Ndb.Pdf-1:10:*:${h("PDFMARK")}`,
    hits: [
      f(
        "doc.pdf",
        file(200, [
          [0, "%PDF-1.4\n"],
          [100, "PDFMARK"],
        ]),
      ),
    ],
    misses: [f("notpdf", file(200, [[100, "PDFMARK"]]))],
  });
  // logical signatures
  const A = h("SUBONE");
  const B = h("SUBTWO");
  const _C = h("SUBTHREE");
  add({
    name: "Vg.Ldb.And-1",
    format: "ldb",
    line: `Vg.Ldb.And-1;Engine:51-255,Target:0;0&1;${A};${B}`,
    hits: [
      f(
        "and-hit",
        file(200, [
          [10, "SUBONE"],
          [100, "SUBTWO"],
        ]),
      ),
    ],
    misses: [f("and-miss", file(200, [[10, "SUBONE"]]))],
  });
  add({
    name: "Vg.Ldb.Group-1",
    format: "ldb",
    line: `Vg.Ldb.Group-1;Engine:51-255,Target:0;0&1|2;${h("GRPA")};${h("GRPB")};${h("GRPC")}`,
    hits: [
      f(
        "grp-ac",
        file(200, [
          [10, "GRPA"],
          [100, "GRPC"],
        ]),
      ),
      f(
        "grp-ab",
        file(200, [
          [10, "GRPA"],
          [100, "GRPB"],
        ]),
      ),
    ],
    misses: [f("grp-c", file(200, [[100, "GRPC"]]))],
  });
  add({
    name: "Vg.Ldb.Paren-1",
    format: "ldb",
    line: `Vg.Ldb.Paren-1;Target:0;(0|1)&2;${h("PARA")};${h("PARB")};${h("PARC")}`,
    hits: [
      f(
        "par-bc",
        file(200, [
          [10, "PARB"],
          [100, "PARC"],
        ]),
      ),
    ],
    misses: [
      f(
        "par-ab",
        file(200, [
          [10, "PARA"],
          [100, "PARB"],
        ]),
      ),
    ],
  });
  add({
    name: "Vg.Ldb.CountGt-1",
    format: "ldb",
    line: `Vg.Ldb.CountGt-1;Target:0;0>2;${h("REPEAT")}`,
    hits: [
      f(
        "gt-3",
        file(200, [
          [10, "REPEAT"],
          [50, "REPEAT"],
          [90, "REPEAT"],
        ]),
      ),
    ],
    misses: [
      f(
        "gt-2",
        file(200, [
          [10, "REPEAT"],
          [50, "REPEAT"],
        ]),
      ),
    ],
  });
  add({
    name: "Vg.Ldb.CountEq-1",
    format: "ldb",
    line: `Vg.Ldb.CountEq-1;Target:0;0=2&1;${h("TWICE")};${h("ANCHOR")}`,
    hits: [
      f(
        "eq-2",
        file(200, [
          [10, "TWICE"],
          [50, "TWICE"],
          [120, "ANCHOR"],
        ]),
      ),
    ],
    misses: [
      f(
        "eq-3",
        file(200, [
          [10, "TWICE"],
          [50, "TWICE"],
          [90, "TWICE"],
          [120, "ANCHOR"],
        ]),
      ),
    ],
  });
  add({
    name: "Vg.Ldb.CountLt-1",
    format: "ldb",
    line: `Vg.Ldb.CountLt-1;Target:0;1&0<2;${h("FEWER")};${h("ANCHOR2")}`,
    hits: [
      f(
        "lt-1",
        file(200, [
          [10, "FEWER"],
          [120, "ANCHOR2"],
        ]),
      ),
      f("lt-0", file(200, [[120, "ANCHOR2"]])),
    ],
    misses: [
      f(
        "lt-2",
        file(200, [
          [10, "FEWER"],
          [50, "FEWER"],
          [120, "ANCHOR2"],
        ]),
      ),
    ],
  });
  add({
    name: "Vg.Ldb.GroupCount-1",
    format: "ldb",
    line: `Vg.Ldb.GroupCount-1;Target:0;(0|1|2)>3,2;${h("GCA")};${h("GCB")};${h("GCC")}`,
    hits: [
      f(
        "gc-hit",
        file(200, [
          [10, "GCA"],
          [30, "GCA"],
          [50, "GCA"],
          [70, "GCB"],
        ]),
      ),
    ],
    misses: [
      f(
        "gc-one-kind",
        file(200, [
          [10, "GCA"],
          [30, "GCA"],
          [50, "GCA"],
          [70, "GCA"],
          [90, "GCA"],
        ]),
      ),
      f(
        "gc-few",
        file(200, [
          [10, "GCA"],
          [70, "GCB"],
        ]),
      ),
    ],
  });
  add({
    name: "Vg.Ldb.GroupZero-1",
    format: "ldb",
    line: `Vg.Ldb.GroupZero-1;Target:0;(0|1)=0&2;${h("NEVERA")};${h("NEVERB")};${h("PRESENT")}`,
    hits: [f("gz-hit", file(200, [[10, "PRESENT"]]))],
    misses: [
      f(
        "gz-miss",
        file(200, [
          [10, "PRESENT"],
          [50, "NEVERB"],
        ]),
      ),
    ],
  });
  add({
    name: "Vg.Ldb.SubOffset-1",
    format: "ldb",
    line: `Vg.Ldb.SubOffset-1;Target:0;0&1;0:${h("HEADER")};EOF-7:${h("TRAILER")}`,
    hits: [
      f(
        "so-hit",
        file(100, [
          [0, "HEADER"],
          [93, "TRAILER"],
        ]),
      ),
    ],
    misses: [
      f(
        "so-miss",
        file(100, [
          [1, "HEADER"],
          [93, "TRAILER"],
        ]),
      ),
    ],
  });
  add({
    name: "Vg.Ldb.Nocase-1",
    format: "ldb",
    line: `Vg.Ldb.Nocase-1;Engine:81-255,Target:0;0;${h("mixedcase")}::i`,
    hits: [f("nc-hit", file(100, [[10, "MiXeDcAsE"]]))],
    misses: [f("nc-miss", file(100, [[10, "MiXeDcAsF"]]))],
  });
  add({
    name: "Vg.Ldb.Wide-1",
    format: "ldb",
    line: `Vg.Ldb.Wide-1;Engine:81-255,Target:0;0;${h("widestr")}::w`,
    hits: [f("w-hit", file(100, [[10, Buffer.from("widestr", "utf16le")]]))],
    misses: [f("w-miss", file(100, [[10, "widestr"]]))],
  });
  add({
    name: "Vg.Ldb.WideAscii-1",
    format: "ldb",
    line: `Vg.Ldb.WideAscii-1;Engine:81-255,Target:0;0;${h("bothstr")}::wa`,
    hits: [
      f("wa-hitw", file(100, [[10, Buffer.from("bothstr", "utf16le")]])),
      f("wa-hita", file(100, [[10, "bothstr"]])),
    ],
    misses: [f("wa-miss", file(100, [[10, "bothst"]]))],
  });
  add({
    name: "Vg.Ldb.Fullword-1",
    format: "ldb",
    line: `Vg.Ldb.Fullword-1;Engine:81-255,Target:0;0;${h("fullword")}::f`,
    hits: [f("fw-hit", file(100, [[10, " fullword "]]))],
    misses: [f("fw-miss", file(100, [[10, "xfullwordx"]]))],
  });
  add({
    name: "Vg.Ldb.NocaseWild-1",
    format: "ldb",
    line: `Vg.Ldb.NocaseWild-1;Engine:81-255,Target:0;0;${h("case")}??${h("wild")}::i`,
    hits: [f("ncw-hit", file(100, [[10, "CASE-WILD"]]))],
    misses: [f("ncw-miss", file(100, [[10, "CASEWILD"]]))],
  });
  add({
    name: "Vg.Ldb.FileSize-1",
    format: "ldb",
    line: `Vg.Ldb.FileSize-1;Engine:51-255,Target:0,FileSize:100-200;0;${h("SIZED")}`,
    hits: [f("fs-hit", file(150, [[10, "SIZED"]]))],
    misses: [f("fs-miss", file(250, [[10, "SIZED"]]))],
  });
  add({
    name: "Vg.Ldb.PeTdb-1",
    format: "ldb",
    line: `Vg.Ldb.PeTdb-1;Engine:51-255,Target:1,NumberOfSections:2-2,EntryPoint:528-528;0;${h("PETDB")}`,
    hits: [f("petdb-hit.exe", makePe([[0x300, "PETDB"]]))],
    misses: [f("petdb-miss", file(0x600, [[0x300, "PETDB"]]))],
  });
  add({
    name: "Vg.Ldb.PeSub-1",
    format: "ldb",
    line: `Vg.Ldb.PeSub-1;Engine:51-255,Target:1;0&1;EP+0:${h("EPSUB")};S1+0:${h("S1SUB")}`,
    hits: [
      f(
        "pesub-hit.exe",
        makePe([
          [PE_EP, "EPSUB"],
          [PE_S1, "S1SUB"],
        ]),
      ),
    ],
    misses: [
      f(
        "pesub-miss.exe",
        makePe([
          [PE_EP, "EPSUB"],
          [PE_S1 + 1, "S1SUB"],
        ]),
      ),
    ],
  });
  add({
    name: "Vg.Ldb.Container-1",
    format: "ldb",
    line: `Vg.Ldb.Container-1;Engine:81-255,Container:CL_TYPE_ANY,Target:0;0;${h("ROOTONLY")}`,
    hits: [f("ctr-hit", file(100, [[10, "ROOTONLY"]]))],
    misses: [f("ctr-miss", file(100, [[10, "ROOTONLX"]]))],
  });
  add({
    name: "Vg.Ldb.Pcre-1",
    format: "ldb",
    line: `Vg.Ldb.Pcre-1;Engine:81-255,Target:0;0&1;${h("PCRETRIG")};0/eval\\(base64_[a-z]+\\(/`,
    hits: [
      f(
        "pcre-hit",
        file(200, [
          [10, "PCRETRIG"],
          [100, "eval(base64_decode("],
        ]),
      ),
    ],
    misses: [
      f("pcre-notrig", file(200, [[100, "eval(base64_decode("]])),
      f(
        "pcre-nore",
        file(200, [
          [10, "PCRETRIG"],
          [100, "eval(base64_DECODE("],
        ]),
      ),
    ],
  });
  add({
    name: "Vg.Ldb.PcreI-1",
    format: "ldb",
    line: `Vg.Ldb.PcreI-1;Engine:81-255,Target:0;0&1;${h("PCRETRI2")};0/shell_exec\\s*\\(/i`,
    hits: [
      f(
        "pcrei-hit",
        file(200, [
          [10, "PCRETRI2"],
          [100, "SHELL_EXEC  ("],
        ]),
      ),
    ],
    misses: [
      f(
        "pcrei-miss",
        file(200, [
          [10, "PCRETRI2"],
          [100, "shell-exec("],
        ]),
      ),
    ],
  });
  // more targets
  const ole = new Uint8Array([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]);
  add({
    name: "Vg.Ndb.Ole2-1",
    format: "ndb",
    line: `Vg.Ndb.Ole2-1:2:*:${h("OLEBODY")}`,
    hits: [
      f(
        "doc.ole",
        file(600, [
          [0, ole],
          [300, "OLEBODY"],
        ]),
      ),
    ],
    misses: [f("notole", file(600, [[300, "OLEBODY"]]))],
  });
  const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  add({
    name: "Vg.Ndb.Png-1",
    format: "ndb",
    line: `Vg.Ndb.Png-1:5:*:${h("PNGBODY")}`,
    hits: [
      f(
        "img.png",
        file(300, [
          [0, png],
          [100, "PNGBODY"],
        ]),
      ),
    ],
    misses: [f("notpng", file(300, [[100, "PNGBODY"]]))],
  });
  const java = new Uint8Array([0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 0x34]);
  add({
    name: "Vg.Ndb.Java-1",
    format: "ndb",
    line: `Vg.Ndb.Java-1:12:*:${h("JAVABODY")}`,
    hits: [
      f(
        "a.class",
        file(300, [
          [0, java],
          [100, "JAVABODY"],
        ]),
      ),
    ],
    misses: [f("notclass", file(300, [[100, "JAVABODY"]]))],
  });
  add({
    name: "Vg.Ndb.Text-1",
    format: "ndb",
    line: `Vg.Ndb.Text-1:7:*:${h("lowercase text marker")}`,
    hits: [
      f(
        "t.txt",
        file(300, [
          [0, "plain text file\n"],
          [100, "lowercase text marker"],
        ]),
      ),
    ],
    misses: [
      f(
        "t-miss.txt",
        file(300, [
          [0, "plain text file\n"],
          [100, "lowercase text markex"],
        ]),
      ),
    ],
  });
  add({
    name: "Vg.Ndb.ElfS1-1",
    format: "ndb",
    line: `Vg.Ndb.ElfS1-1:6:S1+8:${h("ELFSECT")}`,
    hits: [f("elf-s1", makeElf([[0x108, "ELFSECT"]]))],
    misses: [f("elf-s1-miss", makeElf([[0x188, "ELFSECT"]]))],
  });
  const macho = new Uint8Array(32);
  new DataView(macho.buffer).setUint32(0, 0xfeedfacf, true);
  new DataView(macho.buffer).setUint32(4, 0x01000007, true);
  new DataView(macho.buffer).setUint32(8, 3, true);
  new DataView(macho.buffer).setUint32(12, 2, true);
  add({
    name: "Vg.Ndb.MachO-1",
    format: "ndb",
    line: `Vg.Ndb.MachO-1:9:*:${h("MACHOBODY")}`,
    hits: [
      f(
        "a.macho",
        file(300, [
          [0, macho],
          [100, "MACHOBODY"],
        ]),
      ),
    ],
    misses: [f("notmacho", file(300, [[100, "MACHOBODY"]]))],
  });
  add({
    name: "Vg.Ndb.Swf-1",
    format: "ndb",
    line: `Vg.Ndb.Swf-1:11:*:${h("SWFBODY")}`,
    hits: [
      f(
        "a.swf",
        file(300, [
          [0, new Uint8Array([0x46, 0x57, 0x53, 0x0a, 0x2c, 0x01, 0, 0])],
          [100, "SWFBODY"],
        ]),
      ),
    ],
    misses: [f("notswf", file(300, [[100, "SWFBODY"]]))],
  });
  // more body forms
  add({
    name: "Vg.Ndb.NotBoundaryL-1",
    format: "ndb",
    line: `Vg.Ndb.NotBoundaryL-1:0:*:!(B)${h("GLUED")}`,
    hits: [f("nbl-hit", file(64, [[3, "xGLUED"]]))],
    misses: [f("nbl-miss", file(64, [[3, " GLUED"]]))],
  }); // a match at offset 0 crashes clamscan 1.4.6 (SIGSEGV), so no such file here
  add({
    name: "Vg.Ndb.WordM-1",
    format: "ndb",
    line: `Vg.Ndb.WordM-1:0:*:${h("WMID")}(W)${h("DLE")}`,
    hits: [f("wm-hit", file(64, [[3, "WMID.DLE"]]))],
    misses: [f("wm-miss", file(64, [[3, "WMIDzDLE"]]))],
  });
  add({
    name: "Vg.Ndb.AltNibble-1",
    format: "ndb",
    line: `Vg.Ndb.AltNibble-1:0:*:${h("ALTN")}(3?|?A)${h("END")}`,
    hits: [f("altn-hit1", file(64, [[3, "ALTN7END"]])), f("altn-hit2", file(64, [[3, "ALTNZEND"]]))],
    misses: [f("altn-miss", file(64, [[3, "ALTNaEND"]]))],
  });
  add({
    name: "Vg.Ndb.LongJump-1",
    format: "ndb",
    line: `Vg.Ndb.LongJump-1:0:*:${h("LONGJ")}{300}${h("TARGET")}`,
    hits: [
      f(
        "lj-hit",
        file(600, [
          [10, "LONGJ"],
          [315, "TARGET"],
        ]),
      ),
    ],
    misses: [
      f(
        "lj-miss",
        file(600, [
          [10, "LONGJ"],
          [316, "TARGET"],
        ]),
      ),
    ],
  });
  add({
    name: "Vg.Ndb.FlevelSkip-1",
    format: "ndb",
    line: `Vg.Ndb.FlevelSkip-1:0:*:${h("FUTURESIG")}:250`,
    hits: [],
    misses: [f("flevel-file", file(64, [[3, "FUTURESIG"]]))],
  });
  // more logical forms
  add({
    name: "Vg.Ldb.GroupEqDistinct-1",
    format: "ldb",
    line: `Vg.Ldb.GroupEqDistinct-1;Engine:51-255,Target:0;(0|1)=3,2;${h("EQDA")};${h("EQDB")}`,
    hits: [
      f(
        "ged-hit",
        file(200, [
          [10, "EQDA"],
          [40, "EQDA"],
          [80, "EQDB"],
        ]),
      ),
    ],
    misses: [
      f(
        "ged-samekind",
        file(200, [
          [10, "EQDA"],
          [40, "EQDA"],
          [80, "EQDA"],
        ]),
      ),
      f(
        "ged-four",
        file(200, [
          [10, "EQDA"],
          [40, "EQDA"],
          [80, "EQDB"],
          [120, "EQDB"],
        ]),
      ),
    ],
  });
  add({
    name: "Vg.Ldb.AndCount-1",
    format: "ldb",
    line: `Vg.Ldb.AndCount-1;Engine:51-255,Target:0;(0&1)>2;${h("ACNTA")};${h("ACNTB")}`,
    hits: [
      f(
        "ac-hit",
        file(200, [
          [10, "ACNTA"],
          [40, "ACNTA"],
          [80, "ACNTB"],
        ]),
      ),
    ],
    misses: [
      f(
        "ac-onlya",
        file(200, [
          [10, "ACNTA"],
          [40, "ACNTA"],
          [80, "ACNTA"],
        ]),
      ),
      f(
        "ac-two",
        file(200, [
          [10, "ACNTA"],
          [80, "ACNTB"],
        ]),
      ),
    ],
  });
  add({
    name: "Vg.Ldb.Nested-1",
    format: "ldb",
    line: `Vg.Ldb.Nested-1;Engine:51-255,Target:0;((0|1)>1)&(2|3);${h("NESTA")};${h("NESTB")};${h("NESTC")};${h("NESTD")}`,
    hits: [
      f(
        "nest-hit",
        file(200, [
          [10, "NESTA"],
          [40, "NESTB"],
          [80, "NESTD"],
        ]),
      ),
    ],
    misses: [
      f(
        "nest-one",
        file(200, [
          [10, "NESTA"],
          [80, "NESTD"],
        ]),
      ),
      f(
        "nest-noc",
        file(200, [
          [10, "NESTA"],
          [40, "NESTB"],
        ]),
      ),
    ],
  });
  add({
    name: "Vg.Ldb.ShiftSub-1",
    format: "ldb",
    line: `Vg.Ldb.ShiftSub-1;Engine:51-255,Target:0;0;20,10:${h("SHIFTSUB")}`,
    hits: [f("ss-hit", file(100, [[30, "SHIFTSUB"]]))],
    misses: [f("ss-miss", file(100, [[31, "SHIFTSUB"]]))],
  });
  add({
    name: "Vg.Ldb.NocaseAlt-1",
    format: "ldb",
    line: `Vg.Ldb.NocaseAlt-1;Engine:81-255,Target:0;0;${h("nocase")}(${h("one")}|${h("two")})::i`,
    hits: [f("nca-hit", file(100, [[10, "NOCASETWO"]]))],
    misses: [f("nca-miss", file(100, [[10, "NOCASESIX"]]))],
  });
  add({
    name: "Vg.Ldb.ElfSub-1",
    format: "ldb",
    line: `Vg.Ldb.ElfSub-1;Engine:51-255,Target:6;0;EP+0:${h("ELFSUB")}`,
    hits: [f("elfsub-hit", makeElf([[ELF_EP, "ELFSUB"]]))],
    misses: [f("elfsub-miss", makeElf([[ELF_EP + 2, "ELFSUB"]]))],
  });
  add({
    name: "Vg.Ldb.PcreOffset-1",
    format: "ldb",
    line: `Vg.Ldb.PcreOffset-1;Engine:81-255,Target:0;0&1;${h("PCREOFF")};50:0/needle[0-9]/`,
    hits: [
      f(
        "pco-hit",
        file(200, [
          [10, "PCREOFF"],
          [50, "needle7"],
        ]),
      ),
    ],
    misses: [
      f(
        "pco-miss",
        file(200, [
          [10, "PCREOFF"],
          [60, "needle7"],
        ]),
      ),
    ],
  });
  add({
    name: "Vg.Ldb.Many-1",
    format: "ldb",
    line: `Vg.Ldb.Many-1;Engine:51-255,Target:0;0&1&2&3&4&5&6&7&8&9;${Array.from({ length: 10 }, (_, k) => h(`MANY${k}X`)).join(";")}`,
    hits: [
      f(
        "many-hit",
        file(
          400,
          Array.from({ length: 10 }, (_, k) => [10 + k * 30, `MANY${k}X`] as [number, string]),
        ),
      ),
    ],
    misses: [
      f(
        "many-miss",
        file(
          400,
          Array.from({ length: 9 }, (_, k) => [10 + k * 30, `MANY${k}X`] as [number, string]),
        ),
      ),
    ],
  });
  return cases;
}

/** Cases whose translation is known to differ from clamscan, with why (kept empty when all agree). */
export const KNOWN_DIFFERENCES: Record<string, string> = {};
