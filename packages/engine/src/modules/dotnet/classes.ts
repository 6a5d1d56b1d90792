/**
 * `dotnet.classes`: the user types of an assembly (TypeDef rows) with their base types,
 * generic parameters and methods (MethodDef rows, with parameter names from Param and
 * parameter/return types decoded from the signature blobs, ECMA-335 II.23.2), named the way
 * YARA 4.5 names them ("System.Collections.Generic.List<T>", "ref int", "string[]", ...).
 *
 * Lookups that YARA does by scanning whole tables (interfaces of a type, generic parameters of
 * an owner, the enclosing type of a nested type) are indexed once, so the cost stays linear in
 * the table sizes; recursion is bounded by YARA's own depth limits.
 */
import type { Bytes } from "../pe/reader.js";

const MAX_ARRAY_RANK = 50;
const MAX_PARAM_COUNT = 2000;
const MAX_GEN_PARAM_COUNT = 1000;
const MAX_METHOD_COUNT = 20000;
const MAX_TYPE_DEPTH = 0x10;
const MAX_NAMESPACE_DEPTH = 0x0a;
/**
 * Work budgets (YARA has none): a hostile file can make every type claim the same 10000 methods
 * and every method the same 2000-parameter signature. Real assemblies stay far below these.
 */
const MAX_METHOD_VISITS = 100_000;
const MAX_SIGNATURE_STEPS = 1_000_000;

export interface TableInfo {
  offset: number;
  rows: number;
  rowSize: number;
}

export interface ClassContext {
  b: Bytes;
  str: (index: number) => string | undefined;
  blobHeap: number;
  /** blob entry header at an offset: { size, length } (size 0 when invalid). */
  blob: (o: number) => { size: number; length: number };
  tables: {
    module: TableInfo;
    typeref: TableInfo;
    typedef: TableInfo;
    methoddef: TableInfo;
    param: TableInfo;
    interfaceimpl: TableInfo;
    moduleref: TableInfo;
    typespec: TableInfo;
    assemblyref: TableInfo;
    nestedclass: TableInfo;
    genericparam: TableInfo;
  };
  idx: { string: number; blob: number; field: number; methoddef: number; param: number; typedef: number };
}

type Obj = Record<string, unknown>;

interface TypeDefRow {
  flags: number;
  name: number;
  namespace: number;
  extends: number;
  field: number;
  method: number;
}

const isNested = (flags: number) => (flags & 7) >= 2;

function typeVisibility(flags: number): string {
  switch (flags & 7) {
    case 1:
    case 2:
      return "public";
    case 4:
      return "protected";
    case 0:
    case 5:
      return "internal";
    case 6:
      return "private protected";
    case 7:
      return "protected internal";
    default:
      return "private";
  }
}

function methodVisibility(flags: number): string {
  switch (flags & 7) {
    case 1:
      return "private";
    case 2:
      return "private protected";
    case 3:
      return "internal";
    case 4:
      return "protected";
    case 5:
      return "protected internal";
    case 6:
      return "public";
    default:
      return "private";
  }
}

function cutGeneric(s: string): string {
  const i = s.indexOf("`");
  return i < 0 ? s : s.slice(0, i);
}

/** YARA's create_full_name: "namespace.name", generic arity suffixes removed. */
function fullName(name: string | undefined, ns: string | undefined): string | undefined {
  if (!name) return ns;
  if (!ns) return cutGeneric(name);
  return cutGeneric(`${ns}.${name}`);
}

/** Reads the signature blob with a cursor that never leaves the blob or the data. */
class Sig {
  constructor(
    private readonly b: Bytes,
    public pos: number,
    public len: number,
  ) {}
  u8(): number | undefined {
    if (this.len < 1 || !this.b.fits(this.pos, 1)) return undefined;
    this.len--;
    return this.b.data[this.pos++];
  }
  unsigned(): number {
    if (this.len < 1 || !this.b.fits(this.pos, 1)) return 0;
    const d = this.b.data;
    const first = d[this.pos]!;
    if (!(first & 0x80)) {
      this.pos++;
      this.len--;
      return first;
    }
    if (this.len < 2 || !this.b.fits(this.pos, 2)) return 0;
    if ((first & 0xc0) === 0x80) {
      const v = ((first << 8) | d[this.pos + 1]!) & 0x3fff;
      this.pos += 2;
      this.len -= 2;
      return v;
    }
    if (this.len < 4 || !this.b.fits(this.pos, 4)) return 0;
    if ((first & 0xe0) === 0xc0) {
      const v = ((first << 24) | (d[this.pos + 1]! << 16) | (d[this.pos + 2]! << 8) | d[this.pos + 3]!) & 0x1fffffff;
      this.pos += 4;
      this.len -= 4;
      return v;
    }
    return 0;
  }
  signed(): number {
    if (this.len < 1 || !this.b.fits(this.pos, 1)) return 0;
    const d = this.b.data;
    const first = d[this.pos]!;
    if (!(first & 0x80)) {
      this.pos++;
      this.len--;
      let v = first >> 1;
      if (first & 1) v |= 0xc0;
      return (v << 24) >> 24;
    }
    if (this.len < 2 || !this.b.fits(this.pos, 2)) return 0;
    if ((first & 0xc0) === 0x80) {
      const raw = (first << 8) | d[this.pos + 1]!;
      let v = (raw >> 1) & 0x3fff;
      if (raw & 1) v |= 0xc000;
      this.pos += 2;
      this.len -= 2;
      return (v << 16) >> 16;
    }
    if (this.len < 4 || !this.b.fits(this.pos, 4)) return 0;
    if ((first & 0xe0) === 0xc0) {
      const raw = ((first << 24) | (d[this.pos + 1]! << 16) | (d[this.pos + 2]! << 8) | d[this.pos + 3]!) >>> 0;
      let v = (raw >>> 1) & 0x1fffffff;
      if (raw & 1) v = (v | 0xe0000000) >>> 0;
      this.pos += 4;
      this.len -= 4;
      return v | 0;
    }
    return 0;
  }
}

export function parseClasses(c: ClassContext): { classes: Obj[]; count: number } {
  const { b, tables: t } = c;
  const rd = (o: number, size: number) => (size === 2 ? b.u16At(o) : b.u32At(o));
  const rowAt = (tbl: TableInfo, index: number) =>
    index < 1 || index > tbl.rows ? -1 : tbl.offset + tbl.rowSize * (index - 1);
  const wide = (n: number, bits: number) => (n > 0xffff >> bits ? 4 : 2);
  const extSize = wide(Math.max(t.typedef.rows, t.typeref.rows, t.typespec.rows), 2);
  const scopeSize = wide(Math.max(t.module.rows, t.moduleref.rows, t.assemblyref.rows, t.typeref.rows), 2);
  const ownerSize = wide(Math.max(t.typedef.rows, t.methoddef.rows), 1);
  const S = c.idx.string;

  const readTypeDef = (o: number): TypeDefRow | undefined => {
    if (o < 0 || !b.fits(o, t.typedef.rowSize)) return undefined;
    let p = o;
    const flags = b.u32At(p);
    p += 4;
    const name = rd(p, S);
    p += S;
    const namespace = rd(p, S);
    p += S;
    const ext = rd(p, extSize);
    p += extSize;
    const field = rd(p, c.idx.field);
    p += c.idx.field;
    const method = rd(p, c.idx.methoddef);
    return { flags, name, namespace, extends: ext, field, method };
  };

  // NestedClass: nested type index -> enclosing type index (first row wins, as YARA's scan)
  const enclosing = new Map<number, number>();
  for (let i = 1; i <= t.nestedclass.rows; i++) {
    const o = rowAt(t.nestedclass, i);
    if (!b.fits(o, t.nestedclass.rowSize)) continue;
    const nested = rd(o, c.idx.typedef);
    if (!enclosing.has(nested)) enclosing.set(nested, rd(o + c.idx.typedef, c.idx.typedef));
  }
  // GenericParam: owner -> names in table order; an invalid name empties the owner's list
  const generics = new Map<number, string[] | null>();
  for (let i = 1; i <= t.genericparam.rows; i++) {
    const o = rowAt(t.genericparam, i);
    if (!b.fits(o, t.genericparam.rowSize)) continue;
    const owner = rd(o + 4, ownerSize);
    const key = owner >>> 0; // the coded index: (row << 1) | (0 TypeDef, 1 MethodDef)
    if (generics.get(key) === null) continue;
    const name = c.str(rd(o + 4 + ownerSize, S));
    if (!name) generics.set(key, null);
    else {
      const list = generics.get(key) ?? [];
      list.push(name);
      generics.set(key, list);
    }
  }
  const NONE: string[] = [];
  const genericParams = (method: boolean, index: number): string[] =>
    generics.get(index * 2 + (method ? 1 : 0)) ?? NONE;
  // InterfaceImpl: class index -> interface coded indexes, in table order
  const ifaceSize = extSize;
  const interfaces = new Map<number, number[]>();
  for (let i = 1; i <= t.interfaceimpl.rows; i++) {
    const o = rowAt(t.interfaceimpl, i);
    if (!b.fits(o, t.interfaceimpl.rowSize)) continue;
    const cls = rd(o, c.idx.typedef);
    const list = interfaces.get(cls) ?? [];
    list.push(rd(o + c.idx.typedef, ifaceSize));
    interfaces.set(cls, list);
  }

  function enclosingName(nestedIdx: number, depth: number): string | undefined {
    if (depth > MAX_NAMESPACE_DEPTH) return undefined;
    const enc = enclosing.get(nestedIdx);
    if (enc === undefined) return undefined;
    const row = readTypeDef(rowAt(t.typedef, enc));
    if (!row) return undefined;
    const name = c.str(row.name);
    if (name === "<Module>") return undefined;
    const ns = c.str(row.namespace);
    if (isNested(row.flags) && enc !== nestedIdx) {
      return fullName(name, fullName(ns, enclosingName(enc, depth + 1)));
    }
    return fullName(name, ns);
  }

  // TypeDef and TypeRef names do not depend on the generic context: resolve each coded index once.
  const nameCache = new Map<number, string | undefined>();

  function typeDefOrRef(
    coded: number,
    classGen: string[],
    methodGen: string[] | undefined,
    depth: number,
  ): string | undefined {
    const index = coded >>> 2;
    if (!index) return undefined;
    if ((coded & 3) < 2) {
      let v = nameCache.get(coded);
      if (v === undefined && !nameCache.has(coded)) {
        v = typeDefOrRefName(coded, index);
        nameCache.set(coded, v);
      }
      return v;
    }
    return typeDefOrRefName(coded, index, classGen, depth);
  }

  function typeDefOrRefName(coded: number, index: number, classGen: string[] = NONE, depth = 0): string | undefined {
    switch (coded & 3) {
      case 0: {
        const row = readTypeDef(rowAt(t.typedef, index));
        if (!row) return undefined;
        const name = c.str(row.name);
        const ns = c.str(row.namespace);
        if (isNested(row.flags)) return fullName(name, fullName(ns, enclosingName(index, 1)));
        return fullName(name, ns);
      }
      case 1: {
        const o = rowAt(t.typeref, index);
        if (o < 0 || !b.fits(o, t.typeref.rowSize)) return undefined;
        return fullName(c.str(rd(o + scopeSize, S)), c.str(rd(o + scopeSize + S, S)));
      }
      case 2: {
        const o = rowAt(t.typespec, index);
        if (o < 0 || !b.fits(o, t.typespec.rowSize)) return undefined;
        const at = c.blobHeap + rd(o, c.idx.blob);
        const e = c.blob(at);
        if (!e.size) return undefined;
        return sigType(new Sig(b, at + e.size, e.length), classGen, undefined, depth);
      }
      default:
        return undefined;
    }
  }

  let steps = 0;
  let visits = 0;

  function sigType(s: Sig, classGen: string[], methodGen: string[] | undefined, depth: number): string | undefined {
    if (s.len < 1 || !b.fits(s.pos, 1) || depth > MAX_TYPE_DEPTH || ++steps > MAX_SIGNATURE_STEPS) return undefined;
    const type = s.u8()!;
    const d1 = depth + 1;
    switch (type) {
      case 0x01:
        return "void";
      case 0x02:
        return "bool";
      case 0x03:
        return "char";
      case 0x04:
        return "sbyte";
      case 0x05:
        return "byte";
      case 0x06:
        return "short";
      case 0x07:
        return "ushort";
      case 0x08:
        return "int";
      case 0x09:
        return "uint";
      case 0x0a:
        return "long";
      case 0x0b:
        return "ulong";
      case 0x0c:
        return "float";
      case 0x0d:
        return "double";
      case 0x0e:
        return "string";
      case 0x16:
        return "TypedReference";
      case 0x18:
        return "IntPtr";
      case 0x19:
        return "UIntPtr";
      case 0x1c:
        return "object";
      case 0x0f: {
        const x = sigType(s, classGen, methodGen, d1);
        return x === undefined ? undefined : `Ptr<${x}>`;
      }
      case 0x10: {
        const x = sigType(s, classGen, methodGen, d1);
        return x === undefined ? undefined : `ref ${x}`;
      }
      case 0x1d: {
        const x = sigType(s, classGen, methodGen, d1);
        return x === undefined ? undefined : `${x}[]`;
      }
      case 0x11:
      case 0x12:
        return typeDefOrRef(s.unsigned(), classGen, methodGen, depth + 1);
      case 0x13: {
        const i = s.unsigned();
        return i < classGen.length ? classGen[i] : undefined;
      }
      case 0x1e: {
        const i = s.unsigned();
        return methodGen && i < methodGen.length ? methodGen[i] : undefined;
      }
      case 0x14: {
        const elem = sigType(s, classGen, methodGen, d1);
        if (elem === undefined) return undefined;
        const rank = s.unsigned();
        if (!rank || rank > MAX_ARRAY_RANK) return undefined;
        const numSizes = s.unsigned();
        if (numSizes > rank) return undefined;
        const sizes: number[] = [];
        for (let i = 0; i < numSizes; i++) sizes.push(s.unsigned() | 0);
        const numLo = s.unsigned();
        if (numLo > rank) return undefined;
        const lo: number[] = [];
        for (let i = 0; i < numLo; i++) {
          lo.push(s.signed());
          if (numSizes > i) sizes[i] = (sizes[i]! + lo[i]!) | 0;
        }
        let out = `${elem}[`;
        for (let i = 0; i < rank; i++) {
          if (numSizes > i || numLo > i) {
            if (numLo > i && lo[i] !== 0) out += `${lo[i]}...`;
            if (numSizes > i && sizes[i] !== 0) out += `${sizes[i]}`;
          }
          if (i + 1 !== rank) out += ",";
        }
        return out + "]";
      }
      case 0x15: {
        const base = sigType(s, classGen, methodGen, d1);
        if (base === undefined) return undefined;
        const count = s.unsigned();
        if (count > MAX_GEN_PARAM_COUNT) return undefined;
        let out = `${base}<`;
        for (let i = 0; i < count; i++) {
          const p = sigType(s, classGen, methodGen, d1);
          if (p !== undefined) out += (i > 0 ? "," : "") + p;
        }
        return out + ">";
      }
      case 0x1b: {
        if (s.len <= 0) return undefined;
        s.pos++;
        s.len--; // calling convention flags
        const count = s.unsigned();
        if (count > MAX_PARAM_COUNT) return undefined;
        const ret = sigType(s, classGen, methodGen, d1);
        if (ret === undefined) return undefined;
        let out = `FnPtr<${ret}(`;
        for (let i = 0; i < count; i++) {
          const p = sigType(s, classGen, methodGen, d1);
          if (p !== undefined) out += (i > 0 ? ", " : "") + p;
        }
        return out + ")>";
      }
      case 0x1f:
      case 0x20:
        s.unsigned();
        return sigType(s, classGen, methodGen, d1);
      default:
        return undefined;
    }
  }

  function methods(list: number, count: number, classGen: string[]): { methods: Obj[]; defined: boolean } {
    const out: Obj[] = [];
    if (!list) return { methods: out, defined: false };
    const P = c.idx.param;
    for (let i = 0; i < count; i++) {
      const o = rowAt(t.methoddef, list + i);
      if (o < 0 || ++visits > MAX_METHOD_VISITS) break;
      if (!b.fits(o, t.methoddef.rowSize)) continue;
      const flags = b.u16At(o + 6);
      const name = c.str(rd(o + 8, S));
      if (!name) continue;
      const sigIndex = rd(o + 8 + S, c.idx.blob);
      const paramList = rd(o + 8 + S + c.idx.blob, P);
      const methodGen = genericParams(true, list + i);
      const at = c.blobHeap + sigIndex;
      const e = c.blob(at);
      if (!e.size || e.length < 3) continue;
      const s = new Sig(b, at + e.size, e.length);
      const sigFlags = s.u8()!;
      if (sigFlags & 0x10) s.unsigned();
      const paramCount = s.unsigned();
      const ret = sigType(s, classGen, methodGen, 0);
      if (ret === undefined || paramCount > MAX_PARAM_COUNT) continue;
      const m: Obj = {};
      if (paramList) {
        const params: Obj[] = [];
        let ok = true;
        for (let k = 0; k < paramCount; k++) {
          const po = rowAt(t.param, paramList + k);
          let pname: string | undefined;
          if (po >= 0) {
            if (!b.fits(po, t.param.rowSize)) {
              ok = false;
              break;
            }
            pname = c.str(rd(po + 4, S));
          } else pname = `P_${k}`;
          const ptype = sigType(s, classGen, methodGen, 0);
          if (ptype === undefined) {
            ok = false;
            break;
          }
          params.push({ name: pname, type: ptype });
        }
        if (!ok) continue;
        m.number_of_parameters = paramCount;
        m.parameters = params;
      }
      m.name = name;
      m.visibility = methodVisibility(flags);
      m.static = flags & 0x10 ? 1 : 0;
      m.virtual = flags & 0x40 ? 1 : 0;
      m.final = flags & 0x20 ? 1 : 0;
      m.abstract = flags & 0x400 ? 1 : 0;
      m.number_of_generic_parameters = methodGen.length;
      m.generic_parameters = [...methodGen];
      if (name !== ".ctor" && name !== ".cctor") m.return_type = ret;
      out.push(m);
    }
    return { methods: out, defined: true };
  }

  const classes: Obj[] = [];
  for (let i = 0; i < t.typedef.rows; i++) {
    const row = readTypeDef(rowAt(t.typedef, i + 1));
    if (!row) continue;
    const name = c.str(row.name);
    if (!name) continue;
    const tick = name.indexOf("`");
    if (tick === 0 || name === "<Module>") continue;
    const cls: Obj = { name: tick < 0 ? name : name.slice(0, tick) };
    let ns = c.str(row.namespace);
    if (isNested(row.flags)) ns = fullName(ns, enclosingName(i + 1, 1));
    cls.namespace = ns;
    cls.fullname = fullName(name, ns);
    cls.visibility = typeVisibility(row.flags);
    cls.type = row.flags & 0x20 ? "interface" : "class";
    cls.abstract = row.flags & 0x80 ? 1 : 0;
    cls.sealed = row.flags & 0x100 ? 1 : 0;
    const gen = genericParams(false, i + 1);
    cls.number_of_generic_parameters = gen.length;
    cls.generic_parameters = [...gen];
    const bases: string[] = [];
    const parent = typeDefOrRef(row.extends, gen, undefined, 0);
    if (parent !== undefined) bases.push(parent);
    for (const coded of interfaces.get(i + 1) ?? []) {
      const name2 = typeDefOrRef(coded, gen, undefined, 0);
      if (name2 !== undefined) bases.push(name2);
    }
    cls.base_types = bases;
    cls.number_of_base_types = bases.length;
    let count = 0;
    if (i + 1 < t.typedef.rows) {
      const nextRow = readTypeDef(rowAt(t.typedef, i + 2));
      if (nextRow && nextRow.method >= row.method) count = nextRow.method - row.method;
    } else if (t.methoddef.rows >= row.method) {
      count = t.methoddef.rows + 1 - row.method;
    }
    if (count <= MAX_METHOD_COUNT) {
      const m = methods(row.method, count, gen);
      cls.methods = m.methods;
      if (m.defined) cls.number_of_methods = m.methods.length;
    }
    classes.push(cls);
  }
  return { classes, count: classes.length };
}
