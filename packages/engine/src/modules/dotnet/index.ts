/**
 * The `dotnet` module: what YARA's dotnet module exposes about .NET assemblies: the metadata
 * version, streams, GUIDs, module name, assembly and assembly references, manifest resources,
 * module references, the type library GUID, user strings, string constants and field RVAs.
 *
 * Data flow: the PE headers are read with the pe module's reader (pe/reader.ts); the CLI header
 * (data directory 14) leads to the metadata root, whose stream headers locate #~ (tables),
 * #Strings, #Blob, #GUID and #US. The #~ stream is walked twice as ECMA-335 II.24.2.6 requires:
 * once to learn every table's row count (which decides the width of indexes), then table by
 * table, reading the rows YARA reports. Every read is bounds-checked; YARA's limits are kept
 * (tables over 10000 rows stop the walk, strings over 1024 bytes are ignored, at most 16 GUIDs).
 *
 * When the whole #~ stream could be walked, the user types are decoded into `classes` (with
 * base types, generic parameters and methods) by classes.ts, as YARA 4.5 does.
 */
import { array, integer, string, struct, type ScanContext, type YaraModule } from "../schema.js";
import { PeImage, type Bytes, IMAGE_FILE_DLL } from "../pe/reader.js";
import { parseClasses, type ClassContext, type TableInfo } from "./classes.js";

type Obj = Record<string, unknown>;

const version = struct({ major: integer, minor: integer, build_number: integer, revision_number: integer });

const declarations = struct({
  is_dotnet: integer,
  version: string,
  module_name: string,
  streams: array(struct({ name: string, offset: integer, size: integer })),
  number_of_streams: integer,
  guids: array(string),
  number_of_guids: integer,
  resources: array(struct({ offset: integer, length: integer, name: string })),
  number_of_resources: integer,
  classes: array(
    struct({
      fullname: string,
      name: string,
      namespace: string,
      visibility: string,
      type: string,
      abstract: integer,
      sealed: integer,
      number_of_generic_parameters: integer,
      generic_parameters: array(string),
      number_of_base_types: integer,
      base_types: array(string),
      number_of_methods: integer,
      methods: array(
        struct({
          generic_parameters: array(string),
          number_of_generic_parameters: integer,
          parameters: array(struct({ name: string, type: string })),
          number_of_parameters: integer,
          return_type: string,
          abstract: integer,
          final: integer,
          virtual: integer,
          static: integer,
          visibility: string,
          name: string,
        }),
      ),
    }),
  ),
  number_of_classes: integer,
  assembly_refs: array(struct({ version, public_key_or_token: string, name: string })),
  number_of_assembly_refs: integer,
  assembly: struct({ version, name: string, culture: string }),
  modulerefs: array(string),
  number_of_modulerefs: integer,
  user_strings: array(string),
  number_of_user_strings: integer,
  typelib: string,
  constants: array(string),
  number_of_constants: integer,
  field_offsets: array(integer),
  number_of_field_offsets: integer,
});

// ECMA-335 II.22 table numbers (bits of the #~ Valid mask).
const T = {
  Module: 0x00,
  TypeRef: 0x01,
  TypeDef: 0x02,
  FieldPtr: 0x03,
  Field: 0x04,
  MethodDefPtr: 0x05,
  MethodDef: 0x06,
  Param: 0x08,
  InterfaceImpl: 0x09,
  MemberRef: 0x0a,
  Constant: 0x0b,
  CustomAttribute: 0x0c,
  FieldMarshal: 0x0d,
  DeclSecurity: 0x0e,
  ClassLayout: 0x0f,
  FieldLayout: 0x10,
  StandAloneSig: 0x11,
  EventMap: 0x12,
  EventPtr: 0x13,
  Event: 0x14,
  PropertyMap: 0x15,
  PropertyPtr: 0x16,
  Property: 0x17,
  MethodSemantics: 0x18,
  MethodImpl: 0x19,
  ModuleRef: 0x1a,
  TypeSpec: 0x1b,
  ImplMap: 0x1c,
  FieldRVA: 0x1d,
  EncLog: 0x1e,
  EncMap: 0x1f,
  Assembly: 0x20,
  AssemblyProcessor: 0x21,
  AssemblyOS: 0x22,
  AssemblyRef: 0x23,
  AssemblyRefProcessor: 0x24,
  AssemblyRefOS: 0x25,
  File: 0x26,
  ExportedType: 0x27,
  ManifestResource: 0x28,
  NestedClass: 0x29,
  GenericParam: 0x2a,
  MethodSpec: 0x2b,
  GenericParamConstraint: 0x2c,
} as const;

/** Tables whose row count can widen an index to 4 bytes (YARA's ROW_CHECK_WITH_INDEX). */
const INDEXED = new Set<number>([
  T.Module,
  T.ModuleRef,
  T.AssemblyRef,
  T.AssemblyRefProcessor,
  T.TypeRef,
  T.MethodDef,
  T.MemberRef,
  T.TypeDef,
  T.TypeSpec,
  T.Field,
  T.Param,
  T.Property,
  T.InterfaceImpl,
  T.Event,
  T.Assembly,
  T.GenericParam,
  T.MethodSpec,
]);
/** Tables whose row count YARA records (ROW_CHECK / ROW_CHECK_WITH_INDEX). */
const COUNTED = new Set<number>([
  ...INDEXED,
  T.StandAloneSig,
  T.File,
  T.ExportedType,
  T.ManifestResource,
  T.GenericParamConstraint,
]);

interface Stream {
  offset: number;
  size: number;
}

/** An ECMA-335 II.24.2.4 blob header at `o`: { size of the header, length of the data }, or size 0. */
function blobEntry(b: Bytes, o: number): { size: number; length: number } {
  const none = { size: 0, length: 0 };
  if (!b.fits(o, 1)) return none;
  const first = b.data[o]!;
  let size: number;
  let length: number;
  if ((first & 0x80) === 0) {
    size = 1;
    length = first;
  } else if ((first & 0xc0) === 0x80) {
    if (!b.fits(o, 2)) return none;
    size = 2;
    length = ((first & 0x3f) << 8) | b.data[o + 1]!;
  } else if (o + 4 < b.size && (first & 0xe0) === 0xc0) {
    size = 4;
    length = (((first & 0x1f) << 24) | (b.data[o + 1]! << 16) | (b.data[o + 2]! << 8) | b.data[o + 3]!) >>> 0;
  } else return none;
  if (!b.fits(o, size + length)) return none;
  return { size, length };
}

/** A NUL-terminated string of the #Strings heap, or undefined (YARA's pe_get_dotnet_string). */
function heapString(b: Bytes, heap: number, heapSize: number, index: number): string | undefined {
  const o = heap + index;
  if (!(o >= 0 && o < b.size && index < heapSize)) return undefined;
  const end = b.data.indexOf(0, o);
  if (end < 0 || end - o > 1024) return undefined;
  return b.str(o, end);
}

function isDotnet(pe: PeImage): { cli: number; metadata: number } | undefined {
  const b = pe.b;
  const dir = pe.directory(14);
  if (!dir) return undefined;
  const cli = pe.rvaToOffset(dir.virtualAddress);
  if (cli < 0 || !b.fits(cli, 72)) return undefined;
  if (b.u32At(cli) !== 72) return undefined;
  const metadata = pe.rvaToOffset(b.u32At(cli + 8));
  if (metadata < 0 || !b.fits(metadata, 16)) return undefined;
  if (b.u32At(metadata) !== 0x424a5342) return undefined;
  const len = b.u32At(metadata + 12);
  if (len === 0 || len > 255 || len % 4 !== 0 || !b.fits(metadata + 16, len)) return undefined;
  if (pe.is64) {
    if (pe.numberOfRvaAndSizes < 14) return undefined;
  } else if (!(pe.characteristics & IMAGE_FILE_DLL)) {
    const ep = pe.rvaToOffset(pe.entryPointRva);
    if (ep < 0 || !b.fits(ep, 2) || b.data[ep] !== 0xff || b.data[ep + 1] !== 0x25) return undefined;
  }
  return { cli, metadata };
}

function load(ctx: ScanContext): Obj {
  const root: Obj = {};
  const pe = PeImage.parse(ctx.data);
  if (!pe) return root;
  const found = isDotnet(pe);
  if (!found) {
    root.is_dotnet = 0;
    return root;
  }
  root.is_dotnet = 1;
  const b = pe.b;
  const { cli, metadata } = found;
  const mdLen = b.u32At(metadata + 12);
  const nul = b.data.subarray(metadata + 16, metadata + 16 + mdLen).indexOf(0);
  if (nul >= 0) root.version = b.str(metadata + 16, metadata + 16 + nul);

  let o = metadata + 16 + mdLen + 2;
  if (!b.fits(o, 2)) return root;
  const numStreams = b.data[o]!; // YARA reads the 16-bit count through a byte pointer
  o += 2;

  const streams: Obj[] = [];
  const found2: { tilde?: Stream; guid?: Stream; strings?: Stream; blob?: Stream; us?: Stream } = {};
  for (let i = 0; i < numStreams; i++) {
    if (!b.fits(o, 8) || !b.fits(o + 8, 32)) break;
    const nameEnd = b.data.subarray(o + 8, o + 40).indexOf(0);
    if (nameEnd < 0) break;
    const name = b.str(o + 8, o + 8 + nameEnd);
    const s = { offset: b.u32At(o), size: b.u32At(o + 4) };
    streams.push({ name, offset: metadata + s.offset, size: s.size });
    if ((name.startsWith("#~") || name.startsWith("#-")) && !found2.tilde) found2.tilde = s;
    else if (name.startsWith("#GUID")) found2.guid = s;
    else if (name.startsWith("#Strings") && !found2.strings) found2.strings = s;
    else if (name.startsWith("#Blob") && !found2.blob) found2.blob = s;
    else if (name.startsWith("#US") && !found2.us) found2.us = s;
    o += 8 + nameEnd + 4 - (nameEnd % 4);
  }
  root.streams = streams;
  root.number_of_streams = streams.length;

  if (found2.guid) parseGuids(b, metadata, found2.guid, root);
  if (found2.tilde && found2.strings && found2.blob) {
    parseTables(pe, cli, metadata, found2.tilde, found2.strings, found2.blob, root);
  }
  if (found2.us) parseUserStrings(b, metadata, found2.us, root);
  return root;
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}

function parseGuids(b: Bytes, metadata: number, s: Stream, root: Obj): void {
  let o = metadata + s.offset;
  let size = Math.min(s.size, 256);
  const guids: string[] = [];
  while (size >= 16 && b.fits(o, 16)) {
    const d = b.data;
    guids.push(
      `${hex(b.u32At(o), 8)}-${hex(b.u16At(o + 4), 4)}-${hex(b.u16At(o + 6), 4)}-` +
        `${hex(d[o + 8]!, 2)}${hex(d[o + 9]!, 2)}-` +
        [10, 11, 12, 13, 14, 15].map((k) => hex(d[o + k]!, 2)).join(""),
    );
    size -= 16;
    o += 16;
  }
  root.guids = guids;
  root.number_of_guids = guids.length;
}

function parseUserStrings(b: Bytes, metadata: number, s: Stream, root: Obj): void {
  let o = metadata + s.offset;
  const end = o + s.size;
  if (s.size === 0 || !b.fits(o, s.size)) return;
  if (b.data[o] !== 0) return;
  o++;
  const out: string[] = [];
  while (o < end) {
    const e = blobEntry(b, o);
    if (e.size === 0) break;
    o += e.size;
    let len = e.length;
    if (len > 0) len--; // the trailing byte that flags non-ASCII UTF-16
    if (len > 0 && b.fits(o, len)) {
      out.push(b.str(o, o + len));
      o += len;
    }
  }
  root.user_strings = out;
  root.number_of_user_strings = out.length;
}

function parseTables(
  pe: PeImage,
  cli: number,
  metadata: number,
  tilde: Stream,
  strings: Stream,
  blob: Stream,
  root: Obj,
): void {
  const b = pe.b;
  const th = metadata + tilde.offset;
  if (!b.fits(th, 24)) return;
  const heapSizes = b.data[th + 6]!;
  const validLo = b.u32At(th + 8);
  const validHi = b.u32At(th + 12);
  const valid = (bit: number) => ((bit < 32 ? validLo >>> bit : validHi >>> (bit - 32)) & 1) === 1;

  const rows = new Map<number, number>();
  const wide = new Set<number>();
  const rowsAt = th + 24;
  let matched = 0;
  for (let bit = 0; bit < 64; bit++) {
    if (!valid(bit)) continue;
    if (COUNTED.has(bit) && b.fits(rowsAt, (matched + 1) * 4)) {
      const n = b.u32At(rowsAt + matched * 4);
      rows.set(bit, n);
      if (INDEXED.has(bit) && n > 0xffff) wide.add(bit);
    }
    matched++;
  }
  const r = (t: number) => rows.get(t) ?? 0;
  const idx = (t: number) => (wide.has(t) ? 4 : 2);
  const strIdx = heapSizes & 0x01 ? 4 : 2;
  const guidIdx = heapSizes & 0x02 ? 4 : 2;
  const blobIdx = heapSizes & 0x04 ? 4 : 2;
  /** size of a coded index over `tables` using `tagBits` tag bits. */
  const coded = (tagBits: number, ...tables: number[]) => (Math.max(...tables.map(r)) > 0xffff >> tagBits ? 4 : 2);
  const readIdx = (o: number, size: number) => (size === 2 ? b.u16At(o) : b.u32At(o));

  const resourceBase = pe.rvaToOffset(b.u32At(cli + 24));
  const strHeap = metadata + strings.offset;
  const strSize = strings.size;
  const blobHeap = metadata + blob.offset;
  // #Strings entries are looked up many times (type names in every signature): decode each once.
  const strCache = new Map<number, string | undefined>();
  const str = (i: number) => {
    let v = strCache.get(i);
    if (v === undefined && !strCache.has(i)) {
      v = heapString(b, strHeap, strSize, i);
      strCache.set(i, v);
    }
    return v;
  };

  let table = rowsAt + 4 * matched;
  if (heapSizes & 0x40) table += 4;

  const noTable = (): TableInfo => ({ offset: 0, rows: 0, rowSize: 0 });
  const tables: ClassContext["tables"] = {
    module: noTable(),
    typeref: noTable(),
    typedef: noTable(),
    methoddef: noTable(),
    param: noTable(),
    interfaceimpl: noTable(),
    moduleref: noTable(),
    typespec: noTable(),
    assemblyref: noTable(),
    nestedclass: noTable(),
    genericparam: noTable(),
  };
  const record: Partial<Record<number, keyof ClassContext["tables"]>> = {
    [T.Module]: "module",
    [T.TypeRef]: "typeref",
    [T.TypeDef]: "typedef",
    [T.MethodDef]: "methoddef",
    [T.Param]: "param",
    [T.InterfaceImpl]: "interfaceimpl",
    [T.ModuleRef]: "moduleref",
    [T.TypeSpec]: "typespec",
    [T.AssemblyRef]: "assemblyref",
    [T.NestedClass]: "nestedclass",
    [T.GenericParam]: "genericparam",
  };
  let typerefAt = -1;
  let typerefRow = 0;
  let memberrefAt = -1;
  let memberrefRow = 0;
  matched = 0;
  for (let bit = 0; bit < 64; bit++) {
    if (!valid(bit)) continue;
    if (!b.fits(rowsAt + matched * 4, 4)) return;
    const n = b.u32At(rowsAt + matched * 4);
    if (n > 10000) return;
    let rowSize: number;
    switch (bit) {
      case T.Module:
        if (b.fits(table, 18)) {
          const name = str(readIdx(table + 2, strIdx));
          if (name !== undefined) root.module_name = name;
        }
        rowSize = 2 + strIdx + guidIdx * 3;
        break;
      case T.TypeRef:
        rowSize = coded(2, T.Module, T.ModuleRef, T.AssemblyRef, T.TypeRef) + strIdx * 2;
        typerefAt = table;
        typerefRow = rowSize;
        break;
      case T.TypeDef:
        rowSize = 4 + strIdx * 2 + coded(2, T.TypeDef, T.TypeRef, T.TypeSpec) + idx(T.Field) + idx(T.MethodDef);
        break;
      case T.FieldPtr:
        rowSize = idx(T.Field);
        break;
      case T.Field:
        rowSize = 2 + strIdx + blobIdx;
        break;
      case T.MethodDefPtr:
        rowSize = idx(T.MethodDef);
        break;
      case T.MethodDef:
        rowSize = 4 + 2 + 2 + strIdx + blobIdx + idx(T.Param);
        break;
      case T.Param:
        rowSize = 2 + 2 + strIdx;
        break;
      case T.InterfaceImpl:
        rowSize = idx(T.TypeDef) + coded(2, T.TypeDef, T.TypeRef, T.TypeSpec);
        break;
      case T.MemberRef:
        rowSize = coded(3, T.MethodDef, T.ModuleRef, T.TypeRef, T.TypeSpec) + strIdx + blobIdx;
        memberrefAt = table;
        memberrefRow = rowSize;
        break;
      case T.Constant: {
        const parent = coded(2, T.Param, T.Field, T.Property);
        rowSize = 1 + 1 + parent + blobIdx;
        const constants: string[] = [];
        for (let i = 0, p = table; i < n; i++, p += rowSize) {
          if (!b.fits(p, rowSize)) break;
          if (b.data[p] !== 0x0e) continue; // ELEMENT_TYPE_STRING
          const at = blobHeap + readIdx(p + 2 + parent, blobIdx);
          const e = blobEntry(b, at);
          if (e.size === 0) continue;
          const start = at + e.size;
          if (start + e.length >= b.size) continue;
          constants.push(b.str(start, start + e.length));
        }
        root.constants = constants;
        root.number_of_constants = constants.length;
        break;
      }
      case T.CustomAttribute: {
        const parentSize = coded(
          5,
          T.MethodDef,
          T.Field,
          T.TypeRef,
          T.TypeDef,
          T.Param,
          T.InterfaceImpl,
          T.MemberRef,
          T.Module,
          T.Property,
          T.Event,
          T.StandAloneSig,
          T.ModuleRef,
          T.TypeSpec,
          T.Assembly,
          T.AssemblyRef,
          T.File,
          T.ExportedType,
          T.ManifestResource,
          T.GenericParam,
          T.GenericParamConstraint,
          T.MethodSpec,
        );
        const typeSize = coded(3, T.MethodDef, T.MemberRef);
        rowSize = parentSize + typeSize + blobIdx;
        if (typerefAt >= 0 && memberrefAt >= 0) parseTypelib(table, n, rowSize, parentSize, typeSize);
        break;
      }
      case T.FieldMarshal:
        rowSize = coded(1, T.Field, T.Param) + blobIdx;
        break;
      case T.DeclSecurity:
        rowSize = 2 + coded(2, T.TypeDef, T.MethodDef, T.Assembly) + blobIdx;
        break;
      case T.ClassLayout:
        rowSize = 2 + 4 + idx(T.TypeDef);
        break;
      case T.FieldLayout:
        rowSize = 4 + idx(T.Field);
        break;
      case T.StandAloneSig:
        rowSize = blobIdx;
        break;
      case T.EventMap:
        rowSize = idx(T.TypeDef) + idx(T.Event);
        break;
      case T.EventPtr:
        rowSize = idx(T.Event);
        break;
      case T.Event:
        rowSize = 2 + strIdx + coded(2, T.TypeDef, T.TypeRef, T.TypeSpec);
        break;
      case T.PropertyMap:
        rowSize = idx(T.TypeDef) + idx(T.Property);
        break;
      case T.PropertyPtr:
        rowSize = idx(T.Property);
        break;
      case T.Property:
        rowSize = 2 + strIdx + blobIdx;
        break;
      case T.MethodSemantics:
        rowSize = 2 + idx(T.MethodDef) + coded(1, T.Event, T.Property);
        break;
      case T.MethodImpl:
        rowSize = idx(T.TypeDef) + coded(1, T.MethodDef, T.MemberRef) * 2;
        break;
      case T.ModuleRef: {
        rowSize = strIdx;
        const refs: string[] = [];
        for (let i = 0, p = table; i < n; i++, p += strIdx) {
          if (!b.fits(p, 4)) break;
          const name = str(readIdx(p, strIdx));
          if (name !== undefined) refs.push(name);
        }
        root.modulerefs = refs;
        root.number_of_modulerefs = refs.length;
        break;
      }
      case T.TypeSpec:
        rowSize = blobIdx;
        break;
      case T.ImplMap:
        rowSize = 2 + coded(1, T.Field, T.MethodDef) + strIdx + idx(T.ModuleRef);
        break;
      case T.FieldRVA: {
        rowSize = 4 + idx(T.Field);
        const offsets: number[] = [];
        for (let i = 0, p = table; i < n; i++, p += rowSize) {
          if (!b.fits(p, 8)) break;
          const off = pe.rvaToOffset(b.u32At(p));
          if (off >= 0) offsets.push(off);
        }
        root.field_offsets = offsets;
        root.number_of_field_offsets = offsets.length;
        break;
      }
      case T.EncLog:
        rowSize = 8;
        break;
      case T.EncMap:
        rowSize = 4;
        break;
      case T.Assembly: {
        rowSize = 4 + 2 + 2 + 2 + 2 + 4 + blobIdx + strIdx * 2;
        if (!b.fits(table, rowSize)) break;
        root.assembly = {
          version: {
            major: b.u16At(table + 4),
            minor: b.u16At(table + 6),
            build_number: b.u16At(table + 8),
            revision_number: b.u16At(table + 10),
          },
          name: str(readIdx(table + 16 + blobIdx, strIdx)),
          culture: nonEmpty(str(readIdx(table + 16 + blobIdx + strIdx, strIdx))),
        };
        break;
      }
      case T.AssemblyProcessor:
        rowSize = 4;
        break;
      case T.AssemblyOS:
        rowSize = 12;
        break;
      case T.AssemblyRef: {
        rowSize = 2 + 2 + 2 + 2 + 4 + blobIdx * 2 + strIdx * 2;
        const refs: Obj[] = [];
        let i = 0;
        for (let p = table; i < n; i++, p += rowSize) {
          if (!b.fits(p, rowSize)) break;
          const ref: Obj = {
            version: {
              major: b.u16At(p),
              minor: b.u16At(p + 2),
              build_number: b.u16At(p + 4),
              revision_number: b.u16At(p + 6),
            },
          };
          refs[i] = ref;
          const at = blobHeap + readIdx(p + 12, blobIdx);
          const e = blobEntry(b, at);
          if (e.size === 0 || !b.fits(at + e.size, e.length)) continue;
          if (e.length > 0) ref.public_key_or_token = b.str(at + e.size, at + e.size + e.length);
          ref.name = str(readIdx(p + 12 + blobIdx, strIdx));
        }
        root.assembly_refs = refs;
        root.number_of_assembly_refs = i;
        break;
      }
      case T.AssemblyRefProcessor:
        rowSize = 4 + idx(T.AssemblyRefProcessor);
        break;
      case T.AssemblyRefOS:
        rowSize = 12 + idx(T.AssemblyRef);
        break;
      case T.File:
        rowSize = 4 + strIdx + blobIdx;
        break;
      case T.ExportedType:
        rowSize = 8 + strIdx * 2 + coded(2, T.File, T.AssemblyRef, T.ExportedType);
        break;
      case T.ManifestResource: {
        const impl = coded(2, T.File, T.AssemblyRef);
        rowSize = 4 + 4 + strIdx + impl;
        const resources: Obj[] = [];
        for (let i = 0, p = table; i < n; i++, p += rowSize) {
          if (!b.fits(p, rowSize)) break;
          if (readIdx(p + 8 + strIdx, impl) !== 0) continue;
          const at = resourceBase + b.u32At(p);
          if (!b.fits(at, 4)) continue;
          const size = b.u32At(at);
          if (!b.fits(at, size)) continue;
          resources.push({ offset: at + 4, length: size, name: str(readIdx(p + 8, strIdx)) });
        }
        root.resources = resources;
        root.number_of_resources = resources.length;
        break;
      }
      case T.NestedClass:
        rowSize = idx(T.TypeDef) * 2;
        break;
      case T.GenericParam:
        rowSize = 2 + 2 + coded(1, T.TypeDef, T.MethodDef) + strIdx;
        break;
      case T.MethodSpec:
        rowSize = coded(1, T.MethodDef, T.MemberRef) + blobIdx;
        break;
      case T.GenericParamConstraint:
        rowSize = idx(T.GenericParam) + coded(2, T.TypeDef, T.TypeRef, T.TypeSpec);
        break;
      default:
        return; // a table YARA does not know (e.g. ParamPtr): it stops here
    }
    const rec = record[bit];
    if (rec) tables[rec] = { offset: table, rows: n, rowSize };
    table += rowSize * n;
    matched++;
  }

  const classes = parseClasses({
    b,
    str,
    blobHeap,
    blob: (at) => blobEntry(b, at),
    tables,
    idx: {
      string: strIdx,
      blob: blobIdx,
      field: idx(T.Field),
      methoddef: idx(T.MethodDef),
      param: idx(T.Param),
      typedef: idx(T.TypeDef),
    },
  });
  root.classes = classes.classes;
  root.number_of_classes = classes.count;

  /** The assembly's [GuidAttribute("...")] value, found through CustomAttribute -> MemberRef -> TypeRef. */
  function parseTypelib(start: number, n: number, rowSize: number, parentSize: number, typeSize: number): void {
    const scope = coded(2, T.Module, T.ModuleRef, T.AssemblyRef, T.TypeRef);
    const memberrefClassSize = idx(T.MemberRef);
    for (let i = 0, p = start; i < n; i++, p += rowSize) {
      if (!b.fits(p, rowSize)) break;
      if ((readIdx(p, parentSize) & 0x1f) !== 0x0e) continue; // parent: Assembly
      const type = readIdx(p + parentSize, typeSize);
      if ((type & 0x07) !== 0x03) continue; // type: MemberRef
      let typeIndex = type >>> 3;
      if (typeIndex > 0) typeIndex--;
      const mr = memberrefAt + memberrefRow * typeIndex;
      if (!b.fits(mr, memberrefRow)) break;
      const cls = readIdx(mr, memberrefClassSize);
      if ((cls & 0x07) !== 0x01) continue; // class: TypeRef
      let classIndex = cls >>> 3;
      if (classIndex > 0) classIndex--;
      const tr = typerefAt + typerefRow * classIndex;
      if (!b.fits(tr, typerefRow)) break;
      const name = str(readIdx(tr + scope, strIdx));
      if (name !== undefined && !name.startsWith("GuidAttribute")) continue;
      const blobIndex = readIdx(p + parentSize + typeSize, blobIdx);
      let at = blobHeap + blobIndex;
      if (blobIndex === 0 || at >= b.size) continue;
      const e = blobEntry(b, at);
      if (e.size === 0) continue;
      at += e.size;
      if (e.length < 3 || at + e.length >= b.size) continue;
      if (b.u16At(at) !== 0x0001) continue; // custom attribute prolog
      const len = b.data[at + 2]!;
      at += 3;
      if (at + len > b.size) continue;
      const first = b.data[at];
      if (first === 0xff || first === 0x00) root.typelib = "";
      else {
        const z = b.data.subarray(at, at + len).indexOf(0);
        root.typelib = b.str(at, z < 0 ? at + len : at + z);
      }
    }
  }
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === "" ? undefined : s;
}

export const dotnetModule: YaraModule = {
  name: "dotnet",
  declarations,
  load(ctx: ScanContext): Record<string, unknown> {
    try {
      return load(ctx);
    } catch {
      return {};
    }
  },
};
