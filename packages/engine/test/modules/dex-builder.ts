/**
 * Test helper: builds a small, valid DEX file (one class with static and instance fields, direct
 * and virtual methods, code items, a map list) following the Dalvik executable format. Debian has
 * no small package shipping DEX files, so the dex module is tested on this and on variants of it.
 */

export interface BuiltDex {
  readonly bytes: Uint8Array;
  readonly layout: {
    readonly stringIds: number;
    readonly classDefs: number;
    readonly classData: number;
    readonly codeItems: readonly number[];
    readonly map: number;
  };
}

const uleb = (v: number): number[] => {
  const out: number[] = [];
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
};

export function buildDex(version = "035"): BuiltDex {
  const strings = [
    "<init>",
    "Lcom/example/Main;",
    "Ljava/lang/Object;",
    "V",
    "I",
    "main",
    "count",
    "helper",
    "VL",
    "Ljava/lang/String;",
    "name",
    "II",
    "x".repeat(200),
  ];
  const types = [1, 2, 3, 4, 9];
  const protos: Array<[number, number, number]> = [
    [3, 2, 0],
    [8, 2, 0],
    [11, 3, 0],
  ];
  const fieldIds: Array<[number, number, number]> = [
    [0, 3, 6],
    [0, 4, 10],
  ];
  const methodIds: Array<[number, number, number]> = [
    [0, 0, 0],
    [0, 1, 5],
    [0, 2, 7],
    [1, 0, 0],
  ];

  const buf: number[] = new Array(0x70).fill(0);
  const u16 = (at: number, v: number) => {
    buf[at] = v & 0xff;
    buf[at + 1] = (v >>> 8) & 0xff;
  };
  const u32 = (at: number, v: number) => {
    for (let i = 0; i < 4; i++) buf[at + i] = (v >>> (8 * i)) & 0xff;
  };
  const reserve = (n: number) => {
    const at = buf.length;
    for (let i = 0; i < n; i++) buf.push(0);
    return at;
  };
  const align4 = () => {
    while (buf.length % 4) buf.push(0);
  };

  const stringIds = reserve(strings.length * 4);
  const typeIds = reserve(types.length * 4);
  const protoIds = reserve(protos.length * 12);
  const fieldIdsAt = reserve(fieldIds.length * 8);
  const methodIdsAt = reserve(methodIds.length * 8);
  const classDefs = reserve(32);
  const dataStart = buf.length;

  strings.forEach((s, i) => {
    u32(stringIds + i * 4, buf.length);
    buf.push(...uleb(s.length));
    for (const c of s) buf.push(c.charCodeAt(0));
    buf.push(0);
  });
  types.forEach((t, i) => u32(typeIds + i * 4, t));
  protos.forEach(([shorty, ret, params], i) => {
    u32(protoIds + i * 12, shorty);
    u32(protoIds + i * 12 + 4, ret);
    u32(protoIds + i * 12 + 8, params);
  });
  fieldIds.forEach(([cls, type, name], i) => {
    u16(fieldIdsAt + i * 8, cls);
    u16(fieldIdsAt + i * 8 + 2, type);
    u32(fieldIdsAt + i * 8 + 4, name);
  });
  methodIds.forEach(([cls, proto, name], i) => {
    u16(methodIdsAt + i * 8, cls);
    u16(methodIdsAt + i * 8 + 2, proto);
    u32(methodIdsAt + i * 8 + 4, name);
  });

  align4();
  const codeItems: number[] = [];
  const code = (regs: number, ins: number, outs: number, insns: number[]) => {
    align4();
    const at = reserve(16);
    u16(at, regs);
    u16(at + 2, ins);
    u16(at + 4, outs);
    u16(at + 6, 0);
    u32(at + 8, 0);
    u32(at + 12, insns.length);
    for (const w of insns) buf.push(w & 0xff, (w >>> 8) & 0xff);
    codeItems.push(at);
    return at;
  };
  const c1 = code(1, 1, 1, [0x1070, 0x0003, 0x0000, 0x000e]);
  const c2 = code(2, 1, 0, [0x000e]);

  const classData = buf.length;
  buf.push(...uleb(1), ...uleb(1), ...uleb(2), ...uleb(1));
  buf.push(...uleb(0), ...uleb(0x9)); // static field 0
  buf.push(...uleb(1), ...uleb(0x2)); // instance field 1
  buf.push(...uleb(0), ...uleb(0x10001), ...uleb(c1)); // <init>
  buf.push(...uleb(1), ...uleb(0x9), ...uleb(c2)); // main
  buf.push(...uleb(2), ...uleb(0x1), ...uleb(0)); // helper (abstract-like, no code)

  // class def
  u32(classDefs, 0);
  u32(classDefs + 4, 1);
  u32(classDefs + 8, 1);
  u32(classDefs + 12, 0);
  u32(classDefs + 16, 0xffffffff);
  u32(classDefs + 20, 0);
  u32(classDefs + 24, classData);
  u32(classDefs + 28, 0);

  align4();
  const map = buf.length;
  const mapItems: Array<[number, number, number]> = [
    [0x0000, 1, 0],
    [0x0001, strings.length, stringIds],
    [0x0002, types.length, typeIds],
    [0x0003, protos.length, protoIds],
    [0x0004, fieldIds.length, fieldIdsAt],
    [0x0005, methodIds.length, methodIdsAt],
    [0x0006, 1, classDefs],
    [0x2001, 2, codeItems[0]!],
    [0x2000, 1, classData],
    [0x1000, 1, 0],
  ];
  mapItems[mapItems.length - 1]![2] = map;
  const mapAt = reserve(4 + mapItems.length * 12);
  u32(mapAt, mapItems.length);
  mapItems.forEach(([type, size, off], i) => {
    u16(mapAt + 4 + i * 12, type);
    u32(mapAt + 4 + i * 12 + 4, size);
    u32(mapAt + 4 + i * 12 + 8, off);
  });

  // header
  const magic = `dex\n${version}\0`;
  for (let i = 0; i < 8; i++) buf[i] = magic.charCodeAt(i);
  u32(8, 0x12345678); // checksum (not verified by YARA)
  for (let i = 0; i < 20; i++) buf[12 + i] = (i * 13 + 7) & 0xff; // signature
  u32(32, buf.length);
  u32(36, 0x70);
  u32(40, 0x12345678);
  u32(44, 0);
  u32(48, 0);
  u32(52, map);
  u32(56, strings.length);
  u32(60, stringIds);
  u32(64, types.length);
  u32(68, typeIds);
  u32(72, protos.length);
  u32(76, protoIds);
  u32(80, fieldIds.length);
  u32(84, fieldIdsAt);
  u32(88, methodIds.length);
  u32(92, methodIdsAt);
  u32(96, 1);
  u32(100, classDefs);
  u32(104, buf.length - dataStart);
  u32(108, dataStart);

  return { bytes: Uint8Array.from(buf), layout: { stringIds, classDefs, classData, codeItems, map } };
}
