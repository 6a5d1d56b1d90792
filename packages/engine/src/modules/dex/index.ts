/**
 * The `dex` module (YARA 4.5): Android DEX files. The header, the string/type/proto/field/method
 * id tables, the map list, class definitions with their class data, and the flattened `field`
 * and `method` lists (names, class names and prototypes resolved through the id tables, code items
 * with their instructions), plus has_method(...) and has_class(...).
 *
 * Data flow: `load` checks the 8-byte magic (dex\n035..039) and a full 0x70-byte header, then
 * reads each table only if it lies inside the data, in YARA's order and with YARA's stopping
 * rules (a table that does not fit ends the parse; an entry that does not fit is skipped).
 * Encoded fields and methods are ULEB128 values read with an end bound. A string's value is taken
 * as YARA takes it: `size` (the ULEB128 length) bytes starting one byte after the string's offset.
 * Index lookups beyond 0x80000 are undefined, as in YARA. Where yara 4.2.3 (the reference we test
 * against) and later versions differ, this follows 4.2.3: the magic strings are 7 bytes
 * ("dex\n035", no trailing NUL), and code_item declares padding/tries/handlers (never set);
 * field[i].static and field[i].instance come from later versions.
 *
 * Bounds for hostile files (where YARA's cost grows with the square of the size): the encoded
 * fields and methods parsed in total, and the bytes copied into string values, have budgets far
 * above what a real DEX needs; past them the remaining entries or values are left undefined.
 */
import {
  array,
  integer,
  overloads,
  string,
  struct,
  bytesToString,
  type RegexpValue,
  type YaraModule,
} from "../schema.js";

const constants = {
  DEX_FILE_MAGIC_035: "dex\n035",
  DEX_FILE_MAGIC_036: "dex\n036",
  DEX_FILE_MAGIC_037: "dex\n037",
  DEX_FILE_MAGIC_038: "dex\n038",
  DEX_FILE_MAGIC_039: "dex\n039",
  ENDIAN_CONSTANT: 0x12345678,
  REVERSE_ENDIAN_CONSTANT: 0x78563412,
  NO_INDEX: 0xffffffff,
  ACC_PUBLIC: 0x1,
  ACC_PRIVATE: 0x2,
  ACC_PROTECTED: 0x4,
  ACC_STATIC: 0x8,
  ACC_FINAL: 0x10,
  ACC_SYNCHRONIZED: 0x20,
  ACC_VOLATILE: 0x40,
  ACC_BRIDGE: 0x40,
  ACC_TRANSIENT: 0x80,
  ACC_VARARGS: 0x80,
  ACC_NATIVE: 0x100,
  ACC_INTERFACE: 0x200,
  ACC_ABSTRACT: 0x400,
  ACC_STRICT: 0x800,
  ACC_SYNTHETIC: 0x1000,
  ACC_ANNOTATION: 0x2000,
  ACC_ENUM: 0x4000,
  ACC_CONSTRUCTOR: 0x10000,
  ACC_DECLARED_SYNCHRONIZED: 0x20000,
  TYPE_HEADER_ITEM: 0x0000,
  TYPE_STRING_ID_ITEM: 0x0001,
  TYPE_TYPE_ID_ITEM: 0x0002,
  TYPE_PROTO_ID_ITEM: 0x0003,
  TYPE_FIELD_ID_ITEM: 0x0004,
  TYPE_METHOD_ID_ITEM: 0x0005,
  TYPE_CLASS_DEF_ITEM: 0x0006,
  TYPE_CALL_SITE_ID_ITEM: 0x0007,
  TYPE_METHOD_HANDLE_ITEM: 0x0008,
  TYPE_MAP_LIST: 0x1000,
  TYPE_TYPE_LIST: 0x1001,
  TYPE_ANNOTATION_SET_REF_LIST: 0x1002,
  TYPE_ANNOTATION_SET_ITEM: 0x1003,
  TYPE_CLASS_DATA_ITEM: 0x2000,
  TYPE_CODE_ITEM: 0x2001,
  TYPE_STRING_DATA_ITEM: 0x2002,
  TYPE_DEBUG_INFO_ITEM: 0x2003,
  TYPE_ANNOTATION_ITEM: 0x2004,
  TYPE_ENCODED_ARRAY_ITEM: 0x2005,
  TYPE_ANNOTATIONS_DIRECTORY_ITEM: 0x2006,
} as const;

type Obj = Record<string, unknown>;

const CONSTANTS: Readonly<Record<string, unknown>> = Object.freeze({ ...constants });

const HEADER_SIZE = 0x70;
const MAX_INDEX = 0x80000;

class Dex {
  private readonly view: DataView;
  /** encoded fields and methods left to parse (see the module comment). */
  items: number;
  /** bytes left to copy into string values. */
  bytes: number;
  constructor(readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.items = Math.min(Math.floor(data.length / 2) + 1000, 2_000_000);
    this.bytes = 4 * data.length + (1 << 20);
  }
  get size(): number {
    return this.data.length;
  }
  /** YARA's fits_in_dex: [off, off+len) inside the data. */
  fits(off: number, len: number): boolean {
    return len >= 0 && len <= this.data.length && off >= 0 && off <= this.data.length - len;
  }
  u16(o: number): number {
    return this.view.getUint16(o, true);
  }
  u32(o: number): number {
    return this.view.getUint32(o, true);
  }
  /** bytes [off, off+len) as a byte string, or undefined past the copy budget. */
  str(off: number, len: number): string | undefined {
    if (len > this.bytes) return undefined;
    this.bytes -= len;
    return bytesToString(this.data, off, off + len);
  }
}

/** ULEB128 as YARA reads it (at most 5 bytes, high bits of the 5th kept), bounded by the data end. */
function uleb(d: Uint8Array, pos: number): { value: number; size: number } | undefined {
  let result = 0;
  let size = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    if (pos + size >= d.length) return undefined;
    const cur = d[pos + size]!;
    size++;
    if (shift === 28) {
      result |= cur << 28;
      break;
    }
    result |= (cur & 0x7f) << shift;
    if (cur <= 0x7f) break;
  }
  return { value: result >>> 0, size };
}

/** Table lookups as YARA's dex_get_integer / dex_get_string: undefined outside 0..0x80000. */
function lookup<T>(table: Array<Obj | undefined> | undefined, index: unknown, key: string): T | undefined {
  if (typeof index !== "number" || index < 0 || index > MAX_INDEX || !table) return undefined;
  return table[index]?.[key] as T | undefined;
}

function strnlen(d: Uint8Array, off: number, max: number): string {
  const z = d.subarray(off, off + max).indexOf(0);
  return bytesToString(d, off, off + (z < 0 ? max : z));
}

function setIf(o: Obj, key: string, v: unknown): void {
  if (v !== undefined) o[key] = v;
}

/** YARA truncates some indexes to a C int before the lookup: values >= 2^31 become negative. */
const asInt = (v: unknown): unknown => (typeof v === "number" ? v | 0 : v);

function parse(dex: Dex, root: Obj): void {
  const d = dex.data;
  const h: Obj = {};
  root.header = h;
  // yara 4.2.3 stores the magic and the signature up to their first NUL byte (so header.magic
  // equals DEX_FILE_MAGIC_035, "dex\n035", for a version 035 file).
  h.magic = strnlen(d, 0, 8);
  h.checksum = dex.u32(8);
  h.signature = strnlen(d, 12, 20);
  const names = [
    "file_size",
    "header_size",
    "endian_tag",
    "link_size",
    "link_offset",
    "map_offset",
    "string_ids_size",
    "string_ids_offset",
    "type_ids_size",
    "type_ids_offset",
    "proto_ids_size",
    "proto_ids_offset",
    "field_ids_size",
    "field_ids_offset",
    "method_ids_size",
    "method_ids_offset",
    "class_defs_size",
    "class_defs_offset",
    "data_size",
    "data_offset",
  ];
  names.forEach((n, i) => (h[n] = dex.u32(32 + 4 * i)));
  const hv = (n: string) => h[n] as number;

  // string ids
  if (!dex.fits(hv("string_ids_offset"), hv("string_ids_size") * 4)) return;
  const strings: Array<Obj | undefined> = [];
  for (let i = 0; i < hv("string_ids_size"); i++) {
    const off = dex.u32(hv("string_ids_offset") + i * 4);
    if (!dex.fits(off, 4)) continue;
    const len = uleb(d, off);
    if (len === undefined) continue;
    if (!dex.fits(off + 1, len.value)) continue;
    strings[i] = { offset: off, size: len.value, value: dex.str(off + 1, len.value) };
  }
  root.string_ids = strings;
  const stringAt = (idx: unknown) => lookup<string>(strings, idx, "value");

  const table = (sizeKey: string, offKey: string, entry: number, read: (at: number) => Obj): Obj[] | undefined => {
    if (!dex.fits(hv(offKey), hv(sizeKey) * entry)) return undefined;
    const out: Obj[] = new Array(hv(sizeKey));
    for (let i = 0; i < hv(sizeKey); i++) out[i] = read(hv(offKey) + i * entry);
    return out;
  };
  const types = table("type_ids_size", "type_ids_offset", 4, (a) => ({ descriptor_idx: dex.u32(a) }));
  if (!types) return;
  root.type_ids = types;
  const protos = table("proto_ids_size", "proto_ids_offset", 12, (a) => ({
    shorty_idx: dex.u32(a),
    return_type_idx: dex.u32(a + 4),
    parameters_offset: dex.u32(a + 8),
  }));
  if (!protos) return;
  root.proto_ids = protos;
  const fieldIds = table("field_ids_size", "field_ids_offset", 8, (a) => ({
    class_idx: dex.u16(a),
    type_idx: dex.u16(a + 2),
    name_idx: dex.u32(a + 4),
  }));
  if (!fieldIds) return;
  root.field_ids = fieldIds;
  const methodIds = table("method_ids_size", "method_ids_offset", 8, (a) => ({
    class_idx: dex.u16(a),
    proto_idx: dex.u16(a + 2),
    name_idx: dex.u32(a + 4),
  }));
  if (!methodIds) return;
  root.method_ids = methodIds;

  // map list
  const mapOff = hv("map_offset");
  if (mapOff !== 0 && dex.fits(mapOff, 4)) {
    const count = dex.u32(mapOff);
    const mapList: Obj = { size: count };
    root.map_list = mapList;
    // yara 4.2.3's check of the whole list expands to "4 + 12 * count <= size and offset <= size
    // - 4 + 12 * count" (its macro lacks parentheses), then it reads the items while they fit and
    // ends the whole parse at the first that does not.
    const n = dex.size;
    if (!(4 + count * 12 <= n && mapOff <= n - 4 + count * 12)) return;
    const items: Obj[] = [];
    mapList.map_item = items;
    for (let i = 0; i < count; i++) {
      const a = mapOff + 4 + i * 12;
      if (!dex.fits(a, 12)) return;
      items.push({ type: dex.u16(a), unused: dex.u16(a + 2), size: dex.u32(a + 4), offset: dex.u32(a + 8) });
    }
  }

  // class definitions and class data
  if (!dex.fits(hv("class_defs_offset"), hv("class_defs_size") * 32)) return;
  const classDefs: Obj[] = [];
  const classData: Obj[] = [];
  const fields: Obj[] = [];
  const methods: Obj[] = [];
  root.class_defs = classDefs;
  root.class_data_item = classData;
  root.field = fields;
  root.method = methods;

  const loadField = (start: number, prev: { idx: number }, index: number, isStatic: number): number => {
    if (!dex.fits(start, 8)) return 0;
    const diff = uleb(d, start);
    if (!diff) return 0;
    const flags = uleb(d, start + diff.size);
    if (!flags) return 0;
    // An entry left half-done by a failed lookup is reused by the next one, keeping the values the
    // next one does not set, as in YARA.
    const f: Obj = (fields[index] ??= {});
    Object.assign(f, {
      field_idx_diff: diff.value,
      access_flags: flags.value,
      static: isStatic,
      instance: 1 - isStatic,
    });
    prev.idx = (prev.idx + diff.value) >>> 0;
    const nameIdx = lookup<number>(fieldIds, prev.idx, "name_idx");
    if (nameIdx === undefined) return 0;
    setIf(f, "name", stringAt(nameIdx));
    const descriptor = lookup<number>(types, lookup<number>(fieldIds, prev.idx, "class_idx"), "descriptor_idx");
    setIf(f, "class_name", stringAt(descriptor));
    const shorty = asInt(
      lookup<number>(types, asInt(lookup<number>(fieldIds, prev.idx, "type_idx")), "descriptor_idx"),
    );
    setIf(f, "proto", stringAt(shorty));
    return diff.size + flags.size;
  };

  const loadMethod = (start: number, prev: { idx: number }, index: number, isDirect: number): number => {
    if (!dex.fits(start, 12)) return 0;
    const diff = uleb(d, start);
    if (!diff) return 0;
    const flags = uleb(d, start + diff.size);
    if (!flags) return 0;
    const code = uleb(d, start + diff.size + flags.size);
    if (!code) return 0;
    const m: Obj = (methods[index] ??= {});
    Object.assign(m, {
      method_idx_diff: diff.value,
      access_flags: flags.value,
      code_off: code.value,
      direct: isDirect,
      virtual: 1 - isDirect,
    });
    prev.idx = (prev.idx + diff.value) >>> 0;
    const nameIdx = lookup<number>(methodIds, prev.idx, "name_idx");
    if (nameIdx === undefined) return 0;
    setIf(m, "name", stringAt(nameIdx));
    const descriptor = lookup<number>(types, lookup<number>(methodIds, prev.idx, "class_idx"), "descriptor_idx");
    setIf(m, "class_name", stringAt(descriptor));
    const shorty = lookup<number>(protos, lookup<number>(methodIds, prev.idx, "proto_idx"), "shorty_idx");
    setIf(m, "proto", stringAt(shorty));
    if (code.value !== 0 && dex.fits(code.value, 16)) {
      const c = code.value;
      const insnsSize = dex.u32(c + 12);
      const item: Obj = (m.code_item ??= {}) as Obj;
      Object.assign(item, {
        registers_size: dex.u16(c),
        ins_size: dex.u16(c + 2),
        outs_size: dex.u16(c + 4),
        tries_size: dex.u16(c + 6),
        debug_info_off: dex.u32(c + 8),
        insns_size: insnsSize,
      });
      // YARA computes the byte length in 32 bits.
      const len = (insnsSize * 2) >>> 0;
      if (dex.fits(c + 16, len)) setIf(item, "insns", dex.str(c + 16, len));
    }
    return diff.size + flags.size + code.size;
  };

  let fieldIndex = 0;
  let methodIndex = 0;
  for (let i = 0; i < hv("class_defs_size"); i++) {
    const a = hv("class_defs_offset") + i * 32;
    const def: Obj = {
      class_idx: dex.u32(a),
      access_flags: dex.u32(a + 4),
      super_class_idx: dex.u32(a + 8),
      interfaces_offset: dex.u32(a + 12),
      source_file_idx: dex.u32(a + 16),
      annotations_offset: dex.u32(a + 20),
      class_data_offset: dex.u32(a + 24),
      static_values_offset: dex.u32(a + 28),
    };
    classDefs[i] = def;
    const cdo = def.class_data_offset as number;
    if (cdo === 0) continue;
    if (!dex.fits(cdo, 16)) return;
    let pos = 0;
    const sizes: number[] = [];
    for (let k = 0; k < 4; k++) {
      const v = uleb(d, cdo + pos);
      if (!v) return;
      sizes.push(v.value);
      pos += v.size;
    }
    classData.push({
      static_fields_size: sizes[0],
      instance_fields_size: sizes[1],
      direct_methods_size: sizes[2],
      virtual_methods_size: sizes[3],
    });
    for (const [count, isStatic] of [
      [sizes[0]!, 1],
      [sizes[1]!, 0],
    ] as const) {
      const prev = { idx: 0 };
      for (let j = 0; j < count && dex.items > 0; j++, dex.items--) {
        const n = loadField(cdo + pos, prev, fieldIndex, isStatic);
        if (n === 0) break;
        pos += n;
        fieldIndex++;
      }
    }
    for (const [count, isDirect] of [
      [sizes[2]!, 1],
      [sizes[3]!, 0],
    ] as const) {
      const prev = { idx: 0 };
      for (let j = 0; j < count && dex.items > 0; j++, dex.items--) {
        const n = loadMethod(cdo + pos, prev, methodIndex, isDirect);
        if (n === 0) break;
        pos += n;
        methodIndex++;
      }
    }
  }
  root.number_of_methods = methodIndex;
  root.number_of_fields = fieldIndex;
}

/** C string view of a byte string (up to its first NUL), as strcmp and the regexp matcher see it. */
const cstr = (s: string): string => {
  const z = s.indexOf("\0");
  return z < 0 ? s : s.slice(0, z);
};

function methodsOf(root: Obj): Obj[] | undefined {
  if (typeof root.number_of_methods !== "number") return undefined;
  const list = Array.isArray(root.method) ? (root.method as Array<Obj | undefined>) : [];
  const out: Obj[] = [];
  for (let i = 0; i < (root.number_of_methods as number); i++) out.push(list[i] ?? {});
  return out;
}

type Test = (s: string) => boolean;
const byString = (want: string): Test => {
  const w = cstr(want);
  return (s) => cstr(s) === w;
};
const byRegexp =
  (re: RegexpValue): Test =>
  (s) =>
    re.test(cstr(s));

function hasMethod(root: Obj, name: Test, cls?: Test): number | undefined {
  const list = methodsOf(root);
  if (!list) return undefined;
  for (const m of list) {
    // a method whose class name is unknown is not excluded by the class test, as in YARA
    if (cls && typeof m.class_name === "string" && !cls(m.class_name)) continue;
    if (typeof m.name === "string" && name(m.name)) return 1;
  }
  return 0;
}

function hasClass(root: Obj, cls: Test): number | undefined {
  const list = methodsOf(root);
  if (!list) return undefined;
  return list.some((m) => typeof m.class_name === "string" && cls(m.class_name)) ? 1 : 0;
}

const idTables = {
  string_ids: array(struct({ offset: integer, size: integer, value: string })),
  type_ids: array(struct({ descriptor_idx: integer })),
  proto_ids: array(struct({ shorty_idx: integer, return_type_idx: integer, parameters_offset: integer })),
  field_ids: array(struct({ class_idx: integer, type_idx: integer, name_idx: integer })),
  method_ids: array(struct({ class_idx: integer, proto_idx: integer, name_idx: integer })),
};

export const dexModule: YaraModule = {
  name: "dex",
  declarations: struct({
    ...Object.fromEntries(Object.entries(constants).map(([k, v]) => [k, typeof v === "string" ? string : integer])),
    header: struct(
      Object.fromEntries(
        [
          "magic",
          "checksum",
          "signature",
          "file_size",
          "header_size",
          "endian_tag",
          "link_size",
          "link_offset",
          "map_offset",
          "string_ids_size",
          "string_ids_offset",
          "type_ids_size",
          "type_ids_offset",
          "proto_ids_size",
          "proto_ids_offset",
          "field_ids_size",
          "field_ids_offset",
          "method_ids_size",
          "method_ids_offset",
          "class_defs_size",
          "class_defs_offset",
          "data_size",
          "data_offset",
        ].map((n) => [n, n === "magic" || n === "signature" ? string : integer]),
      ),
    ),
    ...idTables,
    class_defs: array(
      struct({
        class_idx: integer,
        access_flags: integer,
        super_class_idx: integer,
        interfaces_offset: integer,
        source_file_idx: integer,
        annotations_offset: integer,
        class_data_offset: integer,
        static_values_offset: integer,
      }),
    ),
    class_data_item: array(
      struct({
        static_fields_size: integer,
        instance_fields_size: integer,
        direct_methods_size: integer,
        virtual_methods_size: integer,
      }),
    ),
    map_list: struct({
      size: integer,
      map_item: array(struct({ type: integer, unused: integer, size: integer, offset: integer })),
    }),
    number_of_fields: integer,
    field: array(
      struct({
        class_name: string,
        name: string,
        proto: string,
        static: integer,
        instance: integer,
        field_idx_diff: integer,
        access_flags: integer,
      }),
    ),
    has_method: overloads(
      ["s", "integer", (self: Obj, _c, name: string) => hasMethod(self, byString(name))],
      ["ss", "integer", (self: Obj, _c, cls: string, name: string) => hasMethod(self, byString(name), byString(cls))],
      ["r", "integer", (self: Obj, _c, name: RegexpValue) => hasMethod(self, byRegexp(name))],
      [
        "rr",
        "integer",
        (self: Obj, _c, cls: RegexpValue, name: RegexpValue) => hasMethod(self, byRegexp(name), byRegexp(cls)),
      ],
    ),
    has_class: overloads(
      ["s", "integer", (self: Obj, _c, cls: string) => hasClass(self, byString(cls))],
      ["r", "integer", (self: Obj, _c, cls: RegexpValue) => hasClass(self, byRegexp(cls))],
    ),
    number_of_methods: integer,
    method: array(
      struct({
        class_name: string,
        name: string,
        proto: string,
        direct: integer,
        virtual: integer,
        method_idx_diff: integer,
        access_flags: integer,
        code_off: integer,
        code_item: struct({
          registers_size: integer,
          ins_size: integer,
          outs_size: integer,
          tries_size: integer,
          debug_info_off: integer,
          insns_size: integer,
          insns: string,
          // declared by yara 4.2.3 and never set
          padding: integer,
          tries: struct({}),
          handlers: array(struct({})),
        }),
      }),
    ),
  }),
  load(ctx) {
    // constants on a shared prototype (copying them per scan is slow in V8)
    const root: Obj = Object.create(CONSTANTS) as Obj;
    const d = ctx.data;
    if (d.length < HEADER_SIZE) return root;
    const magic = bytesToString(d, 0, 8);
    if (!/^dex\n03[5-9]\0$/.test(magic)) return root;
    try {
      parse(new Dex(d), root);
    } catch {
      // every read above is bounds-checked; keep what was parsed if one is not.
    }
    return root;
  },
};
