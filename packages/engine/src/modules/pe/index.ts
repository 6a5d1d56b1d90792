/**
 * The `pe` module: what YARA's PE module exposes about Windows PE images (headers, sections,
 * data directories, imports and delayed imports, exports, resources and version info, the
 * Rich header, the debug directory's PDB path, the overlay and Authenticode signatures),
 * plus its functions (imports, exports, imphash, section_index, rich_signature queries,
 * rva_to_offset, calculate_checksum, locale/language, is_dll/is_32bit/is_64bit).
 *
 * Data flow: `load(ctx)` checks the DOS/NT headers (reader.ts); a file YARA would not accept
 * as a PE gets only the constants and `is_pe = 0`. Otherwise each part is parsed by its own
 * bounds-checked function into a plain object tree with YARA's field names; every limit of
 * YARA (sections, imports, exports, resources, string lengths) is kept, and loops that a hostile
 * file could make long have an explicit budget. Functions read that tree (and, for
 * calculate_checksum, the scanned bytes), so they agree with what `yara -D` shows.
 */
import { createHash } from "node:crypto";
import {
  array,
  dictionary,
  fn,
  integer,
  overloads,
  string,
  struct,
  type FieldType,
  type RegexpValue,
  type ScanContext,
  type YaraModule,
} from "../schema.js";
import { PeImage, type Bytes, IMAGE_FILE_DLL, IMAGE_NT_OPTIONAL_HDR64_MAGIC } from "./reader.js";
import { PE_CONSTANTS } from "./constants.js";
import { ordinalName } from "./ordinals.js";
import { parseSignatures, type CertificateInfo } from "./authenticode.js";

export { PeImage, Bytes } from "./reader.js";

const MAX_PE_IMPORTS = 16384;
const MAX_PE_EXPORTS = 8192;
const MAX_EXPORT_NAME_LENGTH = 512;
const MAX_RESOURCES = 65536;
const MAX_PATH = 260;
/** Budget of resource directory entries visited (YARA has none; a looping tree could take forever). */
const MAX_RESOURCE_VISITS = 1 << 20;

type Obj = Record<string, unknown>;

// ---------------------------------------------------------------- declarations

const version = struct({ major: integer, minor: integer });
const certificateFields = {
  thumbprint: string,
  issuer: string,
  subject: string,
  version: integer,
  algorithm: string,
  algorithm_oid: string,
  serial: string,
  not_before: integer,
  not_after: integer,
};
const importDetails = array(
  struct({
    library_name: string,
    number_of_functions: integer,
    functions: array(struct({ name: string, ordinal: integer, rva: integer })),
  }),
);

function constantsDecl(): Record<string, FieldType> {
  const out: Record<string, FieldType> = {};
  // IMPORT_* are declared next to the import fields, where `yara -D` prints them.
  for (const k of Object.keys(PE_CONSTANTS)) if (!k.startsWith("IMPORT_")) out[k] = integer;
  return out;
}

const declarations = struct({
  ...constantsDecl(),
  is_pe: integer,
  machine: integer,
  number_of_sections: integer,
  timestamp: integer,
  pointer_to_symbol_table: integer,
  number_of_symbols: integer,
  size_of_optional_header: integer,
  characteristics: integer,
  entry_point: integer,
  entry_point_raw: integer,
  image_base: integer,
  number_of_rva_and_sizes: integer,
  number_of_version_infos: integer,
  version_info: dictionary(string),
  version_info_list: array(struct({ key: string, value: string })),
  opthdr_magic: integer,
  size_of_code: integer,
  size_of_initialized_data: integer,
  size_of_uninitialized_data: integer,
  base_of_code: integer,
  base_of_data: integer,
  section_alignment: integer,
  file_alignment: integer,
  linker_version: version,
  os_version: version,
  image_version: version,
  subsystem_version: version,
  win32_version_value: integer,
  size_of_image: integer,
  size_of_headers: integer,
  checksum: integer,
  calculate_checksum: fn("", "integer", (self: Obj, ctx: ScanContext) => calculateChecksum(self, ctx)),
  subsystem: integer,
  dll_characteristics: integer,
  size_of_stack_reserve: integer,
  size_of_stack_commit: integer,
  size_of_heap_reserve: integer,
  size_of_heap_commit: integer,
  loader_flags: integer,
  data_directories: array(struct({ virtual_address: integer, size: integer })),
  sections: array(
    struct({
      name: string,
      full_name: string,
      characteristics: integer,
      virtual_address: integer,
      virtual_size: integer,
      raw_data_offset: integer,
      raw_data_size: integer,
      pointer_to_relocations: integer,
      pointer_to_line_numbers: integer,
      number_of_relocations: integer,
      number_of_line_numbers: integer,
    }),
  ),
  overlay: struct({ offset: integer, size: integer }),
  rich_signature: struct({
    offset: integer,
    length: integer,
    key: integer,
    raw_data: string,
    clear_data: string,
    version_data: string,
    version: overloads(
      ["i", "integer", (self: Obj, _c: ScanContext, v: number | bigint) => richVersion(self, v, undefined)],
      [
        "ii",
        "integer",
        (self: Obj, _c: ScanContext, v: number | bigint, t: number | bigint) => richVersion(self, v, t),
      ],
    ),
    toolid: overloads(
      ["i", "integer", (self: Obj, _c: ScanContext, t: number | bigint) => richVersion(self, undefined, t)],
      [
        "ii",
        "integer",
        (self: Obj, _c: ScanContext, t: number | bigint, v: number | bigint) => richVersion(self, v, t),
      ],
    ),
  }),
  imphash: fn("", "string", (self: Obj, ctx: ScanContext) => imphash(self, ctx)),
  section_index: overloads(
    ["s", "integer", (self: Obj, _c: ScanContext, name: string) => sectionIndexByName(self, name)],
    ["i", "integer", (self: Obj, _c: ScanContext, addr: number | bigint) => sectionIndexByAddr(self, addr)],
  ),
  exports: overloads(
    ["s", "integer", (self: Obj, _c: ScanContext, name: string) => exportsBy(self, "name", name, false)],
    ["r", "integer", (self: Obj, _c: ScanContext, re: RegexpValue) => exportsBy(self, "regex", re, false)],
    ["i", "integer", (self: Obj, _c: ScanContext, ord: number | bigint) => exportsBy(self, "ordinal", ord, false)],
  ),
  exports_index: overloads(
    ["s", "integer", (self: Obj, _c: ScanContext, name: string) => exportsBy(self, "name", name, true)],
    ["i", "integer", (self: Obj, _c: ScanContext, ord: number | bigint) => exportsBy(self, "ordinal", ord, true)],
    ["r", "integer", (self: Obj, _c: ScanContext, re: RegexpValue) => exportsBy(self, "regex", re, true)],
  ),
  imports: overloads(
    ["ss", "integer", (self: Obj, _c: ScanContext, d: string, f: string) => importsFn(self, 1, "name", d, f)],
    [
      "si",
      "integer",
      (self: Obj, _c: ScanContext, d: string, o: number | bigint) => importsFn(self, 1, "ordinal", d, o),
    ],
    ["s", "integer", (self: Obj, _c: ScanContext, d: string) => importsFn(self, 1, "dll", d, undefined)],
    [
      "rr",
      "integer",
      (self: Obj, _c: ScanContext, d: RegexpValue, f: RegexpValue) => importsFn(self, 1, "regex", d, f),
    ],
    [
      "iss",
      "integer",
      (self: Obj, _c: ScanContext, fl: number | bigint, d: string, f: string) => importsFn(self, fl, "name", d, f),
    ],
    [
      "isi",
      "integer",
      (self: Obj, _c: ScanContext, fl: number | bigint, d: string, o: number | bigint) =>
        importsFn(self, fl, "ordinal", d, o),
    ],
    [
      "is",
      "integer",
      (self: Obj, _c: ScanContext, fl: number | bigint, d: string) => importsFn(self, fl, "dll", d, undefined),
    ],
    [
      "irr",
      "integer",
      (self: Obj, _c: ScanContext, fl: number | bigint, d: RegexpValue, f: RegexpValue) =>
        importsFn(self, fl, "regex", d, f),
    ],
  ),
  import_rva: overloads(
    [
      "ss",
      "integer",
      (self: Obj, _c: ScanContext, d: string, f: string) =>
        importRva(self, "import_details", "number_of_imports", d, f),
    ],
    [
      "si",
      "integer",
      (self: Obj, _c: ScanContext, d: string, o: number | bigint) =>
        importRva(self, "import_details", "number_of_imports", d, o),
    ],
  ),
  delayed_import_rva: overloads(
    [
      "ss",
      "integer",
      (self: Obj, _c: ScanContext, d: string, f: string) =>
        importRva(self, "delayed_import_details", "number_of_delayed_imports", d, f),
    ],
    [
      "si",
      "integer",
      (self: Obj, _c: ScanContext, d: string, o: number | bigint) =>
        importRva(self, "delayed_import_details", "number_of_delayed_imports", d, o),
    ],
  ),
  locale: fn("i", "integer", (self: Obj, _c: ScanContext, v: number | bigint) => resourceLanguage(self, v, 0xffff)),
  language: fn("i", "integer", (self: Obj, _c: ScanContext, v: number | bigint) => resourceLanguage(self, v, 0xff)),
  is_dll: fn("", "integer", (self: Obj) =>
    typeof self.characteristics === "number" ? self.characteristics & IMAGE_FILE_DLL : undefined,
  ),
  is_32bit: fn("", "integer", (self: Obj) =>
    self.is_pe === 1 ? (self.opthdr_magic === IMAGE_NT_OPTIONAL_HDR64_MAGIC ? 0 : 1) : undefined,
  ),
  is_64bit: fn("", "integer", (self: Obj) =>
    self.is_pe === 1 ? (self.opthdr_magic === IMAGE_NT_OPTIONAL_HDR64_MAGIC ? 1 : 0) : undefined,
  ),
  IMPORT_DELAYED: integer,
  IMPORT_STANDARD: integer,
  IMPORT_ANY: integer,
  number_of_imports: integer,
  number_of_imported_functions: integer,
  number_of_delayed_imports: integer,
  number_of_delayed_imported_functions: integer,
  number_of_exports: integer,
  dll_name: string,
  export_timestamp: integer,
  export_details: array(
    struct({ offset: integer, name: string, forward_name: string, ordinal: integer, rva: integer }),
  ),
  import_details: importDetails,
  delayed_import_details: importDetails,
  resource_timestamp: integer,
  resource_version: version,
  resources: array(
    struct({
      rva: integer,
      offset: integer,
      length: integer,
      type: integer,
      id: integer,
      language: integer,
      type_string: string,
      name_string: string,
      language_string: string,
    }),
  ),
  number_of_resources: integer,
  pdb_path: string,
  signatures: array(
    struct({
      ...certificateFields,
      verified: integer,
      digest_alg: string,
      digest: string,
      file_digest: string,
      number_of_certificates: integer,
      certificates: array(struct(certificateFields)),
      signer_info: struct({
        program_name: string,
        digest: string,
        digest_alg: string,
        length_of_chain: integer,
        chain: array(struct(certificateFields)),
      }),
      number_of_countersignatures: integer,
      countersignatures: array(
        struct({
          verified: integer,
          sign_time: integer,
          digest_alg: string,
          digest: string,
          length_of_chain: integer,
          chain: array(struct(certificateFields)),
        }),
      ),
      valid_on: fn("i", "integer", (self: Obj, _c: ScanContext, ts: number | bigint) => validOn(self, ts)),
    }),
  ),
  is_signed: integer,
  number_of_signatures: integer,
  rva_to_offset: fn("i", "integer", (self: Obj, ctx: ScanContext, rva: number | bigint) =>
    rvaToOffsetFn(self, ctx, rva),
  ),
});

// ---------------------------------------------------------------- load

function imageOf(ctx: ScanContext): PeImage | undefined {
  const key = "pe:image";
  if (ctx.cache.has(key)) return ctx.cache.get(key) as PeImage | undefined;
  const pe = PeImage.parse(ctx.data);
  ctx.cache.set(key, pe);
  return pe;
}

/** Where `entrypoint(root)` finds the value of the deprecated `entrypoint` keyword (not a field). */
const LEGACY_ENTRY_POINT = Symbol("pe.legacyEntryPoint");

/**
 * The deprecated `entrypoint` keyword is not the pe module's entry_point: YARA computes it with a
 * simpler mapping (libyara/exefiles.c) that only knows i386 and AMD64 images, does not round
 * PointerToRawData, ignores virtual sizes, looks at 60 sections and gives 0 when a section header
 * does not fit.
 */
function legacyEntryPoint(data: Uint8Array): number | undefined {
  if (data.length < 64 || data[0] !== 0x4d || data[1] !== 0x5a) return undefined;
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const lfanew = v.getUint32(0x3c, true);
  if (lfanew >= 0x80000000) return undefined;
  const size = data.length;
  if (size < lfanew + 24) return undefined;
  if (v.getUint32(lfanew, true) !== 0x4550) return undefined;
  const machine = v.getUint16(lfanew + 4, true);
  if ((machine !== 0x14c && machine !== 0x8664) || !(size > lfanew + 24 + 224)) return undefined;
  const rva = v.getUint32(lfanew + 24 + 16, true);
  const count = Math.min(v.getUint16(lfanew + 6, true), 60);
  const first = 24 + v.getUint16(lfanew + 20, true); // relative to the NT headers
  const available = size - lfanew;
  let sectionRva = 0;
  let sectionOffset = 0;
  for (let i = 0; i < count; i++) {
    const rel = first + 40 * i;
    if (!(rel + 40 < available)) return 0;
    const va = v.getUint32(lfanew + rel + 12, true);
    if (rva >= va && sectionRva <= va) {
      sectionRva = va;
      sectionOffset = v.getUint32(lfanew + rel + 20, true);
    }
  }
  return sectionOffset + (rva - sectionRva);
}

/** The constants live on a shared, frozen prototype of every root: copying them per scan costs more than parsing. */
const CONSTANTS_PROTO: Readonly<Record<string, number>> = Object.freeze({ ...PE_CONSTANTS });
const newRoot = (): Obj => {
  const root = Object.create(CONSTANTS_PROTO) as Obj;
  root.is_pe = 0;
  return root;
};

function load(ctx: ScanContext): Obj {
  const root = newRoot();
  Object.defineProperty(root, LEGACY_ENTRY_POINT, { value: legacyEntryPoint(ctx.data), enumerable: false });
  const pe = imageOf(ctx);
  if (!pe) return root;
  parseHeader(pe, root);
  parseRichSignature(pe, root);
  parseDebugDirectory(pe, root);
  parseCertificates(pe, root);
  parseImports(pe, root);
  parseDelayedImports(pe, root);
  parseExports(pe, root);
  return root;
}

const u32 = (n: number) => n >>> 0;

function parseHeader(pe: PeImage, root: Obj): void {
  const b = pe.b;
  root.is_pe = 1;
  root.machine = pe.machine;
  root.number_of_sections = pe.numberOfSections;
  root.timestamp = pe.timestamp;
  root.pointer_to_symbol_table = pe.pointerToSymbolTable;
  root.number_of_symbols = pe.numberOfSymbols;
  root.size_of_optional_header = pe.sizeOfOptionalHeader;
  root.characteristics = pe.characteristics;
  root.entry_point = pe.rvaToOffset(pe.entryPointRva);
  root.entry_point_raw = pe.entryPointRva;
  root.image_base = pe.imageBase;
  root.number_of_rva_and_sizes = pe.numberOfRvaAndSizes;
  root.opthdr_magic = pe.opt16(0);
  root.linker_version = { major: b.data[pe.optOffset + 2], minor: b.data[pe.optOffset + 3] };
  root.size_of_code = pe.opt32(4);
  root.size_of_initialized_data = pe.opt32(8);
  root.size_of_uninitialized_data = pe.opt32(12);
  root.base_of_code = pe.opt32(20);
  if (!pe.is64) root.base_of_data = pe.opt32(24);
  root.section_alignment = pe.opt32(32);
  root.file_alignment = pe.opt32(36);
  root.os_version = { major: pe.opt16(40), minor: pe.opt16(42) };
  root.image_version = { major: pe.opt16(44), minor: pe.opt16(46) };
  root.subsystem_version = { major: pe.opt16(48), minor: pe.opt16(50) };
  root.win32_version_value = pe.opt32(52);
  root.size_of_image = pe.opt32(56);
  root.size_of_headers = pe.opt32(60);
  root.checksum = pe.opt32(64);
  root.subsystem = pe.opt16(68);
  root.dll_characteristics = pe.opt16(70);
  root.size_of_stack_reserve = pe.optPtr(72, 72);
  root.size_of_stack_commit = pe.optPtr(76, 80);
  root.size_of_heap_reserve = pe.optPtr(80, 88);
  root.size_of_heap_commit = pe.optPtr(84, 96);
  root.loader_flags = pe.is64 ? pe.opt32(104) : pe.opt32(88);

  const dirs: Obj[] = [];
  // YARA keeps the count in a C int: 0x80000000 and above are negative, so no entries.
  const ddcount = Math.min(pe.numberOfRvaAndSizes | 0, 16);
  for (let i = 0; i < ddcount; i++) {
    const o = pe.dataDirOffset + i * 8;
    if (!b.fits(o, 8)) break;
    dirs.push({ virtual_address: b.u32At(o), size: b.u32At(o + 4) });
  }
  root.data_directories = dirs;

  const rs = { resources: [] as Obj[], versionInfo: new Map<string, string>(), versionList: [] as Obj[], visits: 0 };
  parseResources(pe, root, rs);
  root.resources = rs.resources;
  root.number_of_resources = rs.resources.length;
  root.version_info = rs.versionInfo;
  root.version_info_list = rs.versionList;
  root.number_of_version_infos = rs.versionList.length;

  const sections: Obj[] = [];
  let highestOfs = 0;
  let highestSize = 0;
  for (const s of pe.sections) {
    let len = 8;
    while (len > 0 && s.nameBytes[len - 1] === 0) len--;
    const name = b.str(s.headerOffset, s.headerOffset + len);
    sections.push({
      name,
      full_name: sectionFullName(pe, name),
      characteristics: s.characteristics,
      virtual_address: s.virtualAddress,
      virtual_size: s.virtualSize,
      raw_data_offset: s.rawDataOffset,
      raw_data_size: s.rawDataSize,
      pointer_to_relocations: s.pointerToRelocations,
      pointer_to_line_numbers: s.pointerToLineNumbers,
      number_of_relocations: s.numberOfRelocations,
      number_of_line_numbers: s.numberOfLineNumbers,
    });
    // YARA adds the two 32-bit fields in 32 bits: an end past 4 GiB wraps and is not the highest.
    const end = (s.rawDataOffset + s.rawDataSize) >>> 0;
    if (end > highestOfs + highestSize) {
      highestOfs = s.rawDataOffset;
      highestSize = s.rawDataSize;
    }
  }
  root.sections = sections;
  const last = highestOfs + highestSize;
  root.overlay = last && b.size > last ? { offset: last, size: b.size - last } : { offset: 0, size: 0 };
}

/** Section names "/123" refer to the COFF string table (after the symbol table). */
function sectionFullName(pe: PeImage, name: string): string | undefined {
  const coff = pe.pointerToSymbolTable;
  if (coff === 0 || name.charCodeAt(0) !== 0x2f) return name;
  const strings = coff + pe.numberOfSymbols * 18;
  let index = 0;
  for (let i = 1; i < 8 && i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x30 || c > 0x39) break;
    index = index * 10 + (c - 0x30);
  }
  const start = strings + index;
  const b = pe.b;
  for (let len = 0; b.fits(start, len + 1); len++) {
    const c = b.data[start + len]!;
    if (c === 0) return b.str(start, start + len);
    if (c < 0x20 || c > 0x7e) return undefined;
  }
  return undefined;
}

// ---------------------------------------------------------------- resources

interface ResourceState {
  resources: Obj[];
  versionInfo: Map<string, string>;
  versionList: Obj[];
  visits: number;
}

/** A resource directory string (length-prefixed UTF-16LE) as raw bytes, or undefined. */
function resourceName(b: Bytes, rsrcBase: number, name: number): string | undefined {
  if (!(name & 0x80000000)) return undefined;
  const o = rsrcBase + (name & 0x7fffffff);
  if (!b.fits(o, 2)) return undefined;
  const len = b.u16At(o);
  if (!b.fits(o, 2 + len * 2)) return undefined;
  return b.str(o + 2, o + 2 + len * 2);
}

/**
 * Where the walk is. As in YARA, the type, id and language integers are shared by the whole
 * walk (a data entry met at a shallow level reports the values the last deeper entry left),
 * while the name strings belong to each directory level and are passed down.
 */
interface ResourceIds {
  type: number;
  id: number;
  language: number;
}
interface ResourcePath {
  ids: ResourceIds;
  typeString: string | undefined;
  nameString: string | undefined;
  langString: string | undefined;
}

function parseResources(pe: PeImage, root: Obj, rs: ResourceState): void {
  const dir = pe.directory(2);
  if (!dir || dir.virtualAddress === 0) return;
  const offset = pe.rvaToOffset(dir.virtualAddress);
  if (offset < 0 || !pe.b.fits(offset, 16)) return;
  root.resource_timestamp = pe.b.u32At(offset + 4);
  root.resource_version = { major: pe.b.u16At(offset + 8), minor: pe.b.u16At(offset + 10) };
  const path: ResourcePath = {
    ids: { type: -1, id: -1, language: -1 },
    typeString: undefined,
    nameString: undefined,
    langString: undefined,
  };
  iterateResources(pe, root, rs, offset, offset, 0, path);
}

/** Returns true when the walk must stop (YARA's RESOURCE_ITERATOR_ABORTED). */
function iterateResources(
  pe: PeImage,
  root: Obj,
  rs: ResourceState,
  dirOffset: number,
  base: number,
  level: number,
  parent: ResourcePath,
): boolean {
  const b = pe.b;
  const named = b.u16At(dirOffset + 12);
  const ids = b.u16At(dirOffset + 14);
  if (b.u32At(dirOffset) !== 0 || named > 32768 || ids > 32768) return false;
  const total = named + ids;
  const path = { ...parent };
  for (let i = 0; i < total; i++) {
    const e = dirOffset + 16 + i * 8;
    if (!b.fits(e, 8) || ++rs.visits > MAX_RESOURCE_VISITS) return true;
    const name = b.u32At(e);
    const target = b.u32At(e + 4);
    if (level === 0) {
      path.ids.type = name | 0;
      path.typeString = resourceName(b, base, name);
    } else if (level === 1) {
      path.ids.id = name | 0;
      path.nameString = resourceName(b, base, name);
    } else if (level === 2) {
      path.ids.language = name | 0;
      path.langString = resourceName(b, base, name);
    }
    const child = base + (target & 0x7fffffff);
    if (target & 0x80000000 && level < 2) {
      if (!b.fits(child, 16)) return true;
      if (iterateResources(pe, root, rs, child, base, level + 1, path)) return true;
    } else {
      if (!b.fits(child, 16)) return true;
      collectResource(pe, rs, child, path);
    }
  }
  return false;
}

function collectResource(pe: PeImage, rs: ResourceState, entry: number, path: ResourcePath): void {
  if (rs.resources.length > MAX_RESOURCES) return;
  const b = pe.b;
  const rva = b.u32At(entry);
  const offset = pe.rvaToOffset(rva);
  const r: Obj = { rva, offset: offset < 0 ? undefined : offset, length: b.u32At(entry + 4) };
  const { type, id, language } = path.ids;
  if (path.typeString !== undefined) r.type_string = path.typeString;
  else r.type = type;
  if (path.nameString !== undefined) r.name_string = path.nameString;
  else r.id = id;
  if (path.langString !== undefined) r.language_string = path.langString;
  else r.language = language;
  if (type === 16) parseVersionInfo(pe, rs, rva);
  rs.resources.push(r);
}

/** Compares the UTF-16LE string at `o` with ASCII `s` (YARA's strcmp_w); undefined-safe. */
function wideEquals(b: Bytes, o: number, s: string): boolean {
  if (!b.fits(o, s.length * 2 + 2)) return false;
  for (let i = 0; i < s.length; i++) {
    if (b.data[o + 2 * i] !== s.charCodeAt(i) || b.data[o + 2 * i + 1] !== 0) return false;
  }
  return b.data[o + 2 * s.length] === 0 && b.data[o + 2 * s.length + 1] === 0;
}

/** Number of UTF-16 units before a 0x0000 unit, or -1 when no terminator fits in the data. */
function wideLength(b: Bytes, o: number): number {
  if (o < 0) return -1;
  for (let i = o; i + 1 < b.size; i += 2) {
    if (b.data[i] === 0 && b.data[i + 1] === 0) return (i - o) / 2;
  }
  return -1;
}

/** YARA's strlcpy_w: low bytes of the UTF-16 units until a unit whose low byte is 0, at most max-1. */
function wideToBytes(b: Bytes, o: number, max: number): string {
  let out = "";
  for (let i = o; i + 1 < b.size && out.length < max - 1; i += 2) {
    const c = b.data[i]!;
    if (c === 0) break;
    out += String.fromCharCode(c);
  }
  return out;
}

const align4 = (n: number) => (n + 3) & ~3;

function parseVersionInfo(pe: PeImage, rs: ResourceState, rva: number): void {
  const b = pe.b;
  const start = pe.rvaToOffset(rva);
  if (start < 0 || !b.fits(start, 6)) return;
  if (!b.fits(start + 6, 32) || !wideEquals(b, start + 6, "VS_VERSION_INFO")) return;
  let vi = start + align4(6 + 86);
  let guard = 0;
  while (
    guard++ < 4096 &&
    b.fits(vi, 6) &&
    b.fits(vi + 6, 24) &&
    wideEquals(b, vi + 6, "VarFileInfo") &&
    b.u16At(vi) !== 0
  ) {
    vi += align4(b.u16At(vi));
  }
  while (
    guard++ < 4096 &&
    b.fits(vi, 6) &&
    b.fits(vi + 6, 30) &&
    wideEquals(b, vi + 6, "StringFileInfo") &&
    b.u16At(vi) !== 0
  ) {
    let table = vi + align4(6 + 30);
    vi += align4(b.u16At(vi));
    while (guard++ < 4096 && b.fits(table, 6) && b.u16At(table) !== 0 && table < vi) {
      const keyLen = wideLength(b, table + 6);
      if (keyLen < 0) break;
      let str = table + align4(6 + 2 * (keyLen + 1));
      table += align4(b.u16At(table));
      while (guard++ < 65536 && b.fits(str, 6) && b.u16At(str) !== 0 && str < table) {
        const kl = wideLength(b, str + 6);
        if (kl < 0) break;
        const valueAt = str + align4(6 + 2 * (kl + 1));
        if (wideLength(b, valueAt) >= 0) {
          const key = wideToBytes(b, str + 6, 64);
          const value = b.u16At(str + 2) === 0 ? "" : wideToBytes(b, valueAt, 256);
          rs.versionInfo.set(key, value);
          rs.versionList.push({ key, value });
        }
        str += align4(b.u16At(str));
      }
    }
  }
}

// ---------------------------------------------------------------- rich signature, debug

function parseRichSignature(pe: PeImage, root: Obj): void {
  const b = pe.b;
  const nt = pe.ntOffset;
  if (nt < 4) return;
  let p = nt - 4;
  let key = 0;
  let richAt = -1;
  while (p >= 64) {
    if (b.u32At(p) === 0x68636952) {
      key = b.u32At(p + 4);
      richAt = p;
      p -= 4;
      break;
    }
    p -= 4;
  }
  if (key === 0) return;
  let start = -1;
  while (p >= 64) {
    if ((b.u32At(p) ^ key) >>> 0 === 0x536e6144) {
      start = p;
      break;
    }
    p -= 4;
  }
  if (start < 0 || !b.fits(start, 16)) return;
  const k1 = b.u32At(start + 4);
  if (k1 !== b.u32At(start + 8) || k1 !== b.u32At(start + 12) || (b.u32At(start) ^ k1) >>> 0 !== 0x536e6144) return;
  const len = richAt - start;
  const raw = b.data.subarray(start, start + len);
  const clear = new Uint8Array(len);
  const kb = [k1 & 0xff, (k1 >>> 8) & 0xff, (k1 >>> 16) & 0xff, k1 >>> 24];
  for (let i = 0; i < len; i++) clear[i] = raw[i]! ^ kb[i & 3]!;
  const count = Math.max(0, Math.floor((len - 16) / 8));
  let versionData = "";
  for (let i = 0; i < count; i++) {
    const o = 16 + i * 8;
    versionData += String.fromCharCode(clear[o]!, clear[o + 1]!, clear[o + 2]!, clear[o + 3]!);
  }
  root.rich_signature = {
    offset: start,
    length: len,
    key: k1,
    raw_data: b.str(start, start + len),
    clear_data: String.fromCharCode.apply(null, clear as unknown as number[]),
    version_data: versionData,
  };
}

function parseDebugDirectory(pe: PeImage, root: Obj): void {
  const b = pe.b;
  const dir = pe.directory(6);
  if (!dir || dir.size === 0 || dir.size % 28 !== 0 || dir.virtualAddress === 0) return;
  const base = pe.rvaToOffset(dir.virtualAddress);
  if (base < 0) return;
  const count = dir.size / 28;
  for (let i = 0; i < count; i++) {
    const d = base + i * 28;
    if (!b.fits(d, 28)) break;
    if (b.u32At(d + 12) !== 2) continue; // IMAGE_DEBUG_TYPE_CODEVIEW
    let cv = 0;
    const addr = b.u32At(d + 20);
    const ptr = b.u32At(d + 24);
    if (addr !== 0) cv = pe.rvaToOffset(addr);
    if (cv <= 0 && ptr !== 0) cv = ptr;
    if (cv <= 0 || !b.fits(cv, 8)) continue;
    const sig = b.u32At(cv);
    let nameAt = -1;
    if (sig === 0x3031424e && b.fits(cv, 20))
      nameAt = cv + 16; // NB10
    else if (sig === 0x53445352 && b.fits(cv, 28))
      nameAt = cv + 24; // RSDS
    else if (sig === 0x434f544d && b.fits(cv, 24)) nameAt = cv + 20; // MTOC
    if (nameAt >= 0) {
      const len = b.strnlen(nameAt, Math.min(b.available(nameAt), MAX_PATH));
      if (len > 0 && len < MAX_PATH) {
        root.pdb_path = b.str(nameAt, nameAt + len);
        break;
      }
    }
  }
}

// ---------------------------------------------------------------- signatures

function certObj(c: CertificateInfo): Obj {
  return {
    thumbprint: c.thumbprint,
    issuer: c.issuer,
    subject: c.subject,
    version: c.version,
    algorithm: c.algorithm,
    algorithm_oid: c.algorithm_oid,
    serial: c.serial,
    not_before: c.not_before,
    not_after: c.not_after,
  };
}

function parseCertificates(pe: PeImage, root: Obj): void {
  root.number_of_signatures = 0;
  let sigs;
  try {
    sigs = parseSignatures(pe);
  } catch {
    sigs = undefined;
  }
  if (!sigs || sigs.length === 0) return;
  const out: Obj[] = [];
  let lastValid = 0;
  for (const s of sigs) {
    const o: Obj = {
      ...(s.cert ? certObj(s.cert) : {}),
      verified: s.verified,
      digest_alg: s.digest_alg,
      digest: s.digest,
      file_digest: s.file_digest,
      number_of_certificates: s.certificates.length,
      certificates: s.certificates.map(certObj),
      number_of_countersignatures: s.countersignatures.length,
      countersignatures: s.countersignatures.map((c) => ({
        verified: c.verified,
        sign_time: c.sign_time,
        digest_alg: c.digest_alg,
        digest: c.digest,
        length_of_chain: c.chain.length,
        chain: c.chain.map(certObj),
      })),
    };
    if (s.signer) {
      o.signer_info = {
        program_name: s.signer.program_name,
        digest: s.signer.digest,
        digest_alg: s.signer.digest_alg,
        length_of_chain: s.signer.chain.length,
        chain: s.signer.chain.map(certObj),
      };
    }
    lastValid = s.verified;
    out.push(o);
  }
  root.signatures = out;
  root.number_of_signatures = out.length;
  root.is_signed = lastValid;
}

// ---------------------------------------------------------------- imports

interface ImportFn {
  name: string | undefined;
  ordinal: number | undefined;
  rva: number | undefined;
}
interface ImportDll {
  name: string;
  functions: ImportFn[];
}

/** YARA's pe_valid_dll_name: printable-ish, no "*<>?| and NUL-terminated inside the data. */
function dllNameAt(b: Bytes, o: number): string | undefined {
  if (o < 0 || o >= b.size) return undefined;
  let i = o;
  while (i < b.size && b.data[i] !== 0) {
    const c = b.data[i]!;
    if (c < 0x20 || c === 0x22 || c === 0x2a || c === 0x3c || c === 0x3e || c === 0x3f || c === 0x7c) return undefined;
    i++;
  }
  if (i === o || i >= b.size) return undefined;
  return b.str(o, i);
}

function validFunctionName(name: string): boolean {
  if (name === "") return false;
  return /^[A-Za-z0-9._?@$()<>]+$/.test(name);
}

function parseImports(pe: PeImage, root: Obj): void {
  const b = pe.b;
  root.number_of_imports = 0;
  root.number_of_imported_functions = 0;
  const dir = pe.directory(1);
  if (!dir || dir.virtualAddress === 0) return;
  const offset = pe.rvaToOffset(dir.virtualAddress);
  if (offset < 0) return;
  const dlls: ImportDll[] = [];
  let totalFunctions = 0;
  let parsed = 0;
  for (let d = offset; b.fits(d, 20) && b.u32At(d + 12) !== 0 && parsed < MAX_PE_IMPORTS; d += 20) {
    parsed++;
    const nameOff = pe.rvaToOffset(b.u32At(d + 12));
    if (nameOff < 0) continue;
    const dllName = dllNameAt(b, nameOff);
    if (dllName === undefined) continue;
    const firstThunk = b.u32At(d + 16);
    let t = pe.rvaToOffset(b.u32At(d));
    if (t <= 0) t = pe.rvaToOffset(firstThunk);
    if (t < 0) continue;
    const functions: ImportFn[] = [];
    const size = pe.is64 ? 8 : 4;
    let parsedHere = 0;
    for (let idx = 0; b.fits(t, size); idx++, t += size) {
      if (pe.is64 ? parsedHere >= MAX_PE_IMPORTS : totalFunctions >= MAX_PE_IMPORTS) break;
      let isOrdinal: boolean;
      let low: number;
      let value: number | bigint;
      if (pe.is64) {
        const v = b.u64(t)!;
        if (v === 0n) break;
        isOrdinal = (v & 0x8000000000000000n) !== 0n;
        low = Number(v & 0xffffn);
        value = v;
      } else {
        const v = b.u32At(t);
        if (v === 0) break;
        isOrdinal = (v & 0x80000000) !== 0;
        low = v & 0xffff;
        value = v;
      }
      parsedHere++;
      let name: string | undefined;
      let ordinal: number | undefined;
      if (!isOrdinal) {
        const o = pe.rvaToOffset(value);
        if (o >= 0 && b.fits(o, 4)) {
          const n = o + 2;
          name = b.str(n, n + b.strnlen(n, Math.min(b.available(n), 512)));
        }
      } else {
        name = ordinalName(dllName, low);
        ordinal = low;
      }
      if (name !== undefined && !validFunctionName(name)) continue;
      if (name !== undefined || ordinal !== undefined) {
        const rva = u32(firstThunk + size * idx);
        functions.push({ name, ordinal, rva: rva === 0 ? undefined : rva });
        totalFunctions++;
      }
    }
    if (functions.length > 0) dlls.push({ name: dllName, functions });
  }
  root.number_of_imports = dlls.length;
  root.number_of_imported_functions = totalFunctions;
  root.import_details = dlls.map(detailsObj);
}

function detailsObj(d: ImportDll): Obj {
  return {
    library_name: d.name,
    number_of_functions: d.functions.length,
    functions: d.functions.map((f) => ({ name: f.name, ordinal: f.ordinal, rva: f.rva })),
  };
}

function parseDelayedImports(pe: PeImage, root: Obj): void {
  const b = pe.b;
  root.number_of_delayed_imports = 0;
  root.number_of_delayed_imported_functions = 0;
  const dir = pe.directory(13);
  if (!dir || dir.virtualAddress === 0) return;
  const offset = pe.rvaToOffset(dir.virtualAddress);
  if (offset < 0) return;
  const imageBase = typeof pe.imageBase === "bigint" ? pe.imageBase : BigInt(pe.imageBase);
  const sizeOfImage = pe.sizeOfImage;
  const ptr = pe.is64 ? 8 : 4;
  const ordinalMask = pe.is64 ? 0x8000000000000000n : 0x80000000n;
  const normalize = (v: bigint): bigint =>
    v !== 0n && v > BigInt.asUintN(64, imageBase) ? v - BigInt.asUintN(64, imageBase) : v;
  const readPtr = (rva: bigint): bigint | undefined => {
    const o = pe.rvaToOffset(rva);
    if (o < 0 || !b.fits(o, ptr)) return undefined;
    return pe.is64 ? b.u64(o)! : BigInt(b.u32At(o));
  };
  const dlls: ImportDll[] = [];
  let totalFunctions = 0;
  for (let d = offset; b.fits(d, 32) && dlls.length < MAX_PE_IMPORTS; d += 32) {
    const f = [0, 4, 8, 12, 16, 20, 24, 28].map((k) => b.u32At(d + k));
    if (f.every((v) => v === 0)) break;
    const attributes = f[0]!;
    if (attributes > 1) break;
    let [dllNameRva, , iatRva, intRva] = [f[1]!, f[2]!, f[3]!, f[4]!];
    if (!pe.is64 && !attributes) {
      dllNameRva = Number(BigInt.asUintN(32, normalize(BigInt(dllNameRva))));
      iatRva = Number(BigInt.asUintN(32, normalize(BigInt(iatRva))));
      intRva = Number(BigInt.asUintN(32, normalize(BigInt(intRva))));
    }
    if (intRva >= sizeOfImage || iatRva >= sizeOfImage || dllNameRva < 64 || intRva < 64) break;
    const dllName = dllNameAt(b, pe.rvaToOffset(dllNameRva));
    if (dllName === undefined) continue;
    const functions: ImportFn[] = [];
    let nameRva = BigInt(intRva);
    let funcRva = BigInt(iatRva);
    while (totalFunctions < MAX_PE_IMPORTS) {
      let nameAddress = readPtr(nameRva);
      const funcAddress = readPtr(funcRva);
      if (nameAddress === undefined || funcAddress === undefined || nameAddress === 0n || funcAddress === 0n) break;
      let name: string | undefined;
      let ordinal: number | undefined;
      if (!(nameAddress & ordinalMask)) {
        if (!attributes) nameAddress = normalize(nameAddress);
        const o = pe.rvaToOffset(nameAddress + 2n);
        name = o < 0 ? "" : b.str(o, o + b.strnlen(o, Math.min(b.available(o), 512)));
      } else {
        ordinal = Number(nameAddress & 0xffffn);
        name = ordinalName(dllName, ordinal);
      }
      functions.push({ name, ordinal, rva: funcRva === 0n ? undefined : Number(BigInt.asUintN(32, funcRva)) });
      totalFunctions++;
      nameRva += BigInt(ptr);
      funcRva += BigInt(ptr);
    }
    dlls.push({ name: dllName, functions });
  }
  root.number_of_delayed_imports = dlls.length;
  root.number_of_delayed_imported_functions = totalFunctions;
  root.delayed_import_details = dlls.map(detailsObj);
}

// ---------------------------------------------------------------- exports

function parseExports(pe: PeImage, root: Obj): void {
  const b = pe.b;
  root.number_of_exports = 0;
  const dir = pe.directory(0);
  if (!dir || dir.virtualAddress === 0) return;
  const start = pe.rvaToOffset(dir.virtualAddress);
  if (start < 0 || !b.fits(start, 40)) return;
  const exportSize = dir.size;
  const n = Math.min(b.u32At(start + 20), MAX_PE_EXPORTS);
  const base = b.u32At(start + 16);
  const numberOfNames = b.u32At(start + 24);
  root.export_timestamp = b.u32At(start + 4);
  const nameOff = pe.rvaToOffset(b.u32At(start + 12));
  if (nameOff > 0) root.dll_name = b.str(nameOff, nameOff + b.strnlen(nameOff, b.size));
  if (n * 4 > b.size - nameOff) return;
  let names = -1;
  if (numberOfNames > 0) {
    names = pe.rvaToOffset(b.u32At(start + 32));
    if (names < 0 || numberOfNames * 4 > b.size - names) return;
  }
  const ordinals = pe.rvaToOffset(b.u32At(start + 36));
  if (ordinals < 0 || b.available(ordinals) < 2 * n) return;
  const functions = pe.rvaToOffset(b.u32At(start + 28));
  if (functions < 0 || b.available(functions) < 4 * n) return;
  const namesCount = Math.min(numberOfNames, n);
  // first name index j < namesCount whose ordinal-table entry is i
  const nameIndex = new Int32Array(n).fill(-1);
  if (names >= 0) {
    for (let j = namesCount - 1; j >= 0; j--) {
      const ord = b.u16At(ordinals + 2 * j);
      if (ord < n) nameIndex[ord] = j;
    }
  }
  const details: Obj[] = [];
  for (let i = 0; i < n; i++) {
    const rva = b.u32At(functions + 4 * i);
    const e: Obj = { ordinal: u32(base + i), rva };
    const off = pe.rvaToOffset(rva);
    if (off > start && off < start + exportSize) {
      e.forward_name = b.str(off, off + Math.min(b.strnlen(off, b.size), MAX_EXPORT_NAME_LENGTH));
    } else {
      e.offset = off < 0 ? undefined : off;
    }
    const j = nameIndex[i]!;
    if (j >= 0) {
      const no = pe.rvaToOffset(b.u32At(names + 4 * j));
      if (no > 0) e.name = b.str(no, no + Math.min(b.strnlen(no, b.size), MAX_EXPORT_NAME_LENGTH));
    }
    details.push(e);
  }
  root.export_details = details;
  root.number_of_exports = details.length;
}

// ---------------------------------------------------------------- functions

const num = (v: number | bigint): number => (typeof v === "bigint" ? Number(BigInt.asIntN(64, v)) : v);
const lower = (s: string) => s.toLowerCase();
const cstr = (s: string) => {
  const i = s.indexOf("\0");
  return i < 0 ? s : s.slice(0, i);
};

function calculateChecksum(self: Obj, ctx: ScanContext): number | undefined {
  if (self.is_pe !== 1) return undefined;
  const pe = imageOf(ctx);
  if (!pe) return undefined;
  const d = pe.b.data;
  const size = d.length;
  const csumOffset = pe.checksumOffset;
  let csum = 0;
  const words = Math.floor(size / 4);
  for (let i = 0; i <= words; i++) {
    if (4 * i === csumOffset) continue;
    if (4 * i + 4 <= size) {
      csum += d[4 * i]! + d[4 * i + 1]! * 0x100 + d[4 * i + 2]! * 0x10000 + d[4 * i + 3]! * 0x1000000;
    } else {
      for (let j = 0; j < size % 4; j++) csum += d[4 * i + j]! * 2 ** (8 * j);
    }
    if (csum > 0xffffffff) csum = (csum % 0x100000000) + Math.floor(csum / 0x100000000);
  }
  csum = (csum & 0xffff) + Math.floor(csum / 0x10000);
  csum += Math.floor(csum / 0x10000);
  csum &= 0xffff;
  return csum + size;
}

function richVersion(
  self: Obj,
  version: number | bigint | undefined,
  toolid: number | bigint | undefined,
): number | undefined {
  const rich = self as { length?: number; clear_data?: string };
  if (rich.length === undefined || rich.clear_data === undefined) return undefined;
  const data = rich.clear_data;
  const count = Math.floor((rich.length - 16) / 8);
  const v = version === undefined ? undefined : num(version);
  const t = toolid === undefined ? undefined : num(toolid);
  let result = 0;
  for (let i = 0; i < count; i++) {
    const o = 16 + i * 8;
    const id =
      (data.charCodeAt(o) |
        (data.charCodeAt(o + 1) << 8) |
        (data.charCodeAt(o + 2) << 16) |
        (data.charCodeAt(o + 3) << 24)) >>>
      0;
    const times =
      (data.charCodeAt(o + 4) |
        (data.charCodeAt(o + 5) << 8) |
        (data.charCodeAt(o + 6) << 16) |
        (data.charCodeAt(o + 7) << 24)) >>>
      0;
    if ((v === undefined || v === (id & 0xffff)) && (t === undefined || t === id >>> 16)) result += times;
  }
  return result;
}

function imphash(self: Obj, ctx: ScanContext): string | undefined {
  if (self.is_pe !== 1) return undefined;
  const key = "pe:imphash";
  const cached = ctx.cache.get(key);
  if (typeof cached === "string") return cached;
  const parts: string[] = [];
  for (const dll of (self.import_details as Obj[] | undefined) ?? []) {
    const name = dll.library_name as string;
    const dot = name.indexOf(".");
    const ext = dot >= 0 ? lower(name.slice(dot, dot + 4)) : "";
    const base = ext === ".ocx" || ext === ".sys" || ext === ".dll" ? name.slice(0, dot) : name;
    for (const f of dll.functions as Obj[]) parts.push(lower(`${base}.${f.name as string}`));
  }
  const h = createHash("md5")
    .update(Buffer.from(parts.join(","), "latin1"))
    .digest("hex");
  ctx.cache.set(key, h);
  return h;
}

function sectionIndexByName(self: Obj, name: string): number | undefined {
  const n = self.number_of_sections;
  if (typeof n !== "number") return undefined;
  const sections = (self.sections as Obj[] | undefined) ?? [];
  const want = cstr(name);
  for (let i = 0; i < Math.min(n, sections.length); i++) {
    const s = sections[i]!.name;
    if (typeof s === "string" && cstr(s) === want) return i;
  }
  return undefined;
}

function sectionIndexByAddr(self: Obj, addr: number | bigint): number | undefined {
  const n = self.number_of_sections;
  if (typeof n !== "number") return undefined;
  const a = num(addr);
  const sections = (self.sections as Obj[] | undefined) ?? [];
  for (let i = 0; i < Math.min(n, sections.length); i++) {
    const s = sections[i]!;
    const off = s.raw_data_offset as number;
    if (a >= off && a < off + (s.raw_data_size as number)) return i;
  }
  return undefined;
}

function exportsBy(self: Obj, kind: "name" | "regex" | "ordinal", arg: unknown, index: boolean): number | undefined {
  if (self.is_pe !== 1) return undefined;
  const n = (self.number_of_exports as number | undefined) ?? 0;
  const notFound = index ? undefined : 0;
  if (n === 0) return notFound;
  const details = (self.export_details as Obj[] | undefined) ?? [];
  if (kind === "ordinal") {
    const ord = num(arg as number | bigint);
    if (ord === 0 || ord > n) return notFound;
    for (let i = 0; i < n; i++) if (details[i]?.ordinal === ord) return index ? i : 1;
    return notFound;
  }
  for (let i = 0; i < n; i++) {
    const name = details[i]?.name;
    if (typeof name !== "string") continue;
    const hit = kind === "name" ? lower(name) === lower(arg as string) : (arg as RegexpValue).test(cstr(name));
    if (hit) return index ? i : 1;
  }
  return notFound;
}

function importsFn(
  self: Obj,
  flags: number | bigint,
  kind: "name" | "ordinal" | "dll" | "regex",
  dll: unknown,
  fnArg: unknown,
): number | undefined {
  if (self.is_pe !== 1) return undefined;
  const fl = num(flags);
  const lists: Obj[][] = [];
  if (fl & 1) lists.push((self.import_details as Obj[] | undefined) ?? []);
  if (fl & 2) lists.push((self.delayed_import_details as Obj[] | undefined) ?? []);
  let count = 0;
  for (const list of lists) {
    for (const d of list) {
      const libName = d.library_name as string;
      const fns = d.functions as Obj[];
      if (kind === "regex") {
        if (!(dll as RegexpValue).test(libName)) continue;
        for (const f of fns)
          if (typeof f.name === "string" && f.name !== "" && (fnArg as RegexpValue).test(f.name)) count++;
        continue;
      }
      if (lower(cstr(libName)) !== lower(dll as string)) continue;
      if (kind === "dll") count += fns.length;
      else if (kind === "name") {
        if (fns.some((f) => typeof f.name === "string" && lower(cstr(f.name)) === lower(fnArg as string))) return 1;
      } else {
        const ord = num(fnArg as number | bigint);
        if (fns.some((f) => f.ordinal === ord)) return 1;
      }
    }
  }
  return kind === "name" || kind === "ordinal" ? 0 : count;
}

function importRva(
  self: Obj,
  list: string,
  countField: string,
  dll: string,
  what: string | number | bigint,
): number | undefined {
  if (self.is_pe !== 1) return undefined;
  if (typeof self[countField] !== "number") return undefined;
  for (const d of (self[list] as Obj[] | undefined) ?? []) {
    if (lower(d.library_name as string) !== lower(dll)) continue;
    for (const f of d.functions as Obj[]) {
      if (typeof what === "string") {
        if (typeof f.name === "string" && lower(f.name) === lower(what)) return f.rva as number | undefined;
      } else if (f.ordinal !== undefined && f.ordinal === num(what)) return f.rva as number | undefined;
    }
  }
  return undefined;
}

function resourceLanguage(self: Obj, value: number | bigint, mask: number): number | undefined {
  if (self.is_pe !== 1 || typeof self.number_of_resources !== "number") return undefined;
  const v = num(value);
  for (const r of (self.resources as Obj[] | undefined) ?? []) {
    const lang = r.language;
    if (typeof lang === "number" && (lang & mask) === v) return 1;
  }
  return 0;
}

function validOn(self: Obj, ts: number | bigint): number | undefined {
  const nb = self.not_before;
  const na = self.not_after;
  if (typeof nb !== "number" || typeof na !== "number") return undefined;
  const t = num(ts);
  return t >= nb && t <= na ? 1 : 0;
}

function rvaToOffsetFn(self: Obj, ctx: ScanContext, rva: number | bigint): number | undefined {
  if (self.is_pe !== 1) return undefined;
  const pe = imageOf(ctx);
  if (!pe) return undefined;
  const o = pe.rvaToOffset(
    typeof rva === "bigint" ? BigInt.asUintN(64, rva) : rva < 0 ? BigInt.asUintN(64, BigInt(rva)) : rva,
  );
  return o < 0 ? undefined : o;
}

export const peModule: YaraModule = {
  name: "pe",
  declarations,
  load(ctx: ScanContext): Record<string, unknown> {
    try {
      return load(ctx);
    } catch {
      // A parser bug must not abort the scan: fall back to "not a PE".
      return newRoot();
    }
  },
  entrypoint(root: Record<string, unknown>): number | undefined {
    return (root as { [LEGACY_ENTRY_POINT]?: number })[LEGACY_ENTRY_POINT];
  },
};
