/**
 * Embedded OLE objects: the `\x01Ole10Native` stream of an OLE2 storage and the OLE1 object
 * an RTF `\objdata` group holds ([MS-OLEDS] 2.2.4/2.2.5). Both carry a "native data" block:
 * a 4-byte size, then, for the Packager class, a header (type, label, source path, temporary
 * path) and the packaged file, whose bytes are the payload scanned.
 */
import { cleanName, type Member } from "../types.js";

function cstring(b: Uint8Array, p: number, max = 4096): { s: string; next: number } | undefined {
  let q = p;
  while (q < b.length && q - p < max && b[q] !== 0) q++;
  if (q >= b.length || b[q] !== 0) return undefined;
  return { s: Buffer.from(b.buffer, b.byteOffset + p, q - p).toString("latin1"), next: q + 1 };
}

function baseName(path: string): string {
  const n = path.replace(/^.*[\\/]/, "");
  return cleanName(n) || "native";
}

/**
 * The payload of native data (a 4-byte size, then a Packager header and the file, or the
 * object's bytes directly). Undefined when there is nothing to yield.
 */
export function ole10Native(b: Uint8Array): Member | undefined {
  if (b.length < 4) return undefined;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const total = v.getUint32(0, true);
  const rest = b.length - 4;
  if (b.length >= 6 && v.getUint16(4, true) === 2) {
    // try the Packager header; if it does not parse, the native data is the object itself
    const pkg = packaged(b, v);
    if (pkg) return pkg;
  }
  const data = b.subarray(4, 4 + Math.min(total, rest));
  if (!data.length) return undefined;
  if (total > rest)
    return {
      name: "native",
      compressedSize: data.length,
      data,
      problem: {
        reason: "corrupt-archive",
        message: `OLE native data cut short: ${rest} of ${total} bytes; the ${rest} bytes present were scanned`,
      },
    };
  return { name: "native", compressedSize: data.length, data };
}

function packaged(b: Uint8Array, v: DataView): Member | undefined {
  let p = 6; // size, then a 2-byte type
  const label = cstring(b, p);
  if (!label) return undefined;
  const source = cstring(b, label.next);
  if (!source) return undefined;
  p = source.next + 8; // 2 reserved bytes, 2 type bytes, 4-byte length of the temporary path
  const temp = cstring(b, p);
  if (!temp || temp.next + 4 > b.length) return undefined;
  const size = v.getUint32(temp.next, true);
  const start = temp.next + 4;
  const name = baseName(temp.s || source.s || label.s);
  const data = b.subarray(start, Math.min(b.length, start + size));
  if (start + size > b.length)
    return {
      name,
      compressedSize: data.length,
      data,
      problem: {
        reason: "corrupt-archive",
        message: `packaged file cut short: ${data.length} of ${size} bytes; the bytes present were scanned`,
      },
    };
  return { name, compressedSize: size, data };
}

export interface Ole1Object {
  className: string;
  /** native data with its 4-byte size in front (the Ole10Native layout) */
  native: Uint8Array;
  /** the native data is cut short */
  truncated: boolean;
}

/** Parses an OLE1 embedded object (ObjectHeader + NativeData); undefined when it is not one. */
export function parseOle1(b: Uint8Array): Ole1Object | undefined {
  if (b.length < 12) return undefined;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const format = v.getUint32(4, true);
  if (format !== 2) return undefined;
  let p = 8;
  let className = "";
  for (let i = 0; i < 3; i++) {
    if (p + 4 > b.length) return undefined;
    const n = v.getUint32(p, true);
    if (n > 1024 || p + 4 + n > b.length) return undefined;
    if (i === 0)
      className = Buffer.from(b.buffer, b.byteOffset + p + 4, n)
        .toString("latin1")
        .replace(/\0+$/, "");
    p += 4 + n;
  }
  if (p + 4 > b.length) return undefined;
  const size = v.getUint32(p, true);
  const end = Math.min(b.length, p + 4 + size);
  return { className, native: b.subarray(p, end), truncated: p + 4 + size > b.length };
}
