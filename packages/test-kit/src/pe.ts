/**
 * Test helper: builds a minimal PE32 executable whose only section (.rsrc) holds a
 * VS_VERSIONINFO resource with the given StringFileInfo strings. No code, never run.
 */

function pad4(b: Buffer): Buffer {
  return b.length % 4 ? Buffer.concat([b, Buffer.alloc(4 - (b.length % 4))]) : b;
}

/** One version-info node: wLength, wValueLength, wType, szKey, padding, value, padding, children. */
function vnode(key: string, value: Buffer, type: 0 | 1, valueLength: number, children: Buffer[]): Buffer {
  const head = Buffer.alloc(6);
  const keyBytes = Buffer.from(key + "\0", "utf16le");
  const body = pad4(Buffer.concat([head, keyBytes]));
  const withValue = value.length ? pad4(Buffer.concat([body, value])) : body;
  const all = Buffer.concat([withValue, ...children.map(pad4)]);
  all.writeUInt16LE(all.length, 0);
  all.writeUInt16LE(valueLength, 2);
  all.writeUInt16LE(type, 4);
  return all;
}

export function versionInfo(strings: Record<string, string>): Buffer {
  const fixed = Buffer.alloc(52);
  fixed.writeUInt32LE(0xfeef04bd, 0);
  fixed.writeUInt32LE(0x00010000, 4);
  const strs = Object.entries(strings).map(([k, v]) => vnode(k, Buffer.from(v + "\0", "utf16le"), 1, v.length + 1, []));
  const table = vnode("040904B0", Buffer.alloc(0), 1, 0, strs);
  const sfi = vnode("StringFileInfo", Buffer.alloc(0), 1, 0, [table]);
  const translation = Buffer.from([0x09, 0x04, 0xb0, 0x04]);
  const vfi = vnode("VarFileInfo", Buffer.alloc(0), 1, 0, [vnode("Translation", translation, 0, 4, [])]);
  return vnode("VS_VERSION_INFO", fixed, 0, 52, [sfi, vfi]);
}

/** A PE32 file with one .rsrc section holding RT_VERSION/1/0x409 = versionInfo(strings). */
export function buildPe(strings: Record<string, string>): Buffer {
  const RSRC_RVA = 0x1000;
  const vi = versionInfo(strings);
  // resource tree: root -> type 16 -> id 1 -> language 0x409 -> data entry -> data
  const dir = (entryName: number, target: number) => {
    const d = Buffer.alloc(24);
    d.writeUInt16LE(1, 14); // NumberOfIdEntries
    d.writeUInt32LE(entryName, 16);
    d.writeUInt32LE(target, 20);
    return d;
  };
  const dataEntryAt = 72;
  const dataAt = 88;
  const rsrc = Buffer.concat([
    dir(16, (0x80000000 | 24) >>> 0),
    dir(1, (0x80000000 | 48) >>> 0),
    dir(0x409, dataEntryAt),
    (() => {
      const e = Buffer.alloc(16);
      e.writeUInt32LE(RSRC_RVA + dataAt, 0);
      e.writeUInt32LE(vi.length, 4);
      return e;
    })(),
    vi,
  ]);
  const rawSize = Math.ceil(rsrc.length / 0x200) * 0x200;
  const headers = Buffer.alloc(0x200);
  headers.write("MZ", 0, "latin1");
  headers.writeUInt32LE(0x40, 0x3c);
  headers.write("PE\0\0", 0x40, "latin1");
  const coff = 0x44;
  headers.writeUInt16LE(0x14c, coff); // i386
  headers.writeUInt16LE(1, coff + 2); // sections
  headers.writeUInt32LE(0x65000000, coff + 4);
  headers.writeUInt16LE(224, coff + 16);
  headers.writeUInt16LE(0x0102, coff + 18);
  const opt = coff + 20;
  headers.writeUInt16LE(0x10b, opt);
  headers.writeUInt32LE(RSRC_RVA, opt + 16); // entry point (never run)
  headers.writeUInt32LE(0x400000, opt + 28);
  headers.writeUInt32LE(0x1000, opt + 32);
  headers.writeUInt32LE(0x200, opt + 36);
  headers.writeUInt16LE(6, opt + 40);
  headers.writeUInt16LE(6, opt + 48);
  headers.writeUInt32LE(RSRC_RVA + Math.ceil(rsrc.length / 0x1000) * 0x1000, opt + 56);
  headers.writeUInt32LE(0x200, opt + 60);
  headers.writeUInt16LE(2, opt + 68); // GUI
  headers.writeUInt32LE(16, opt + 92);
  headers.writeUInt32LE(RSRC_RVA, opt + 96 + 2 * 8);
  headers.writeUInt32LE(rsrc.length, opt + 96 + 2 * 8 + 4);
  const sec = opt + 224;
  headers.write(".rsrc", sec, "latin1");
  headers.writeUInt32LE(rsrc.length, sec + 8);
  headers.writeUInt32LE(RSRC_RVA, sec + 12);
  headers.writeUInt32LE(rawSize, sec + 16);
  headers.writeUInt32LE(0x200, sec + 20);
  headers.writeUInt32LE(0x40000040, sec + 36);
  return Buffer.concat([headers, rsrc, Buffer.alloc(rawSize - rsrc.length)]);
}
