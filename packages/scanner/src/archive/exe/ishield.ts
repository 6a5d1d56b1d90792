/**
 * InstallShield "MSI" setup payloads: the block an InstallShield setup.exe carries after the
 * string "InstallShield\0" (the exe reader yields it from there). A 0x20-byte header holds the
 * file count; each file follows as a 312-byte block (a NUL-terminated name in 0x104 bytes, the
 * stored size at byte 268) and its data: every byte nibble-swapped and XORed with the name
 * (itself XORed with EC CA 79 F8), then a zlib stream. Each file, typically the .msi package
 * (an OLE2 file) and its cabinets, is a member. Facts from ClamAV's `ishield.c`.
 */
import { inflateSalvage } from "../gzip.js";
import { cleanName, OutputLimit, overLimit, type Member, type OutputCap } from "../types.js";
import { u32 } from "./bytes.js";

const MAGIC = Buffer.from("InstallShield\0", "latin1");
const KEY = [0xec, 0xca, 0x79, 0xf8];
const BLOCK = 312;

export function isIshieldMsi(b: Uint8Array): boolean {
  const p = 14 + 292;
  return (
    b.length >= p + 21 &&
    Buffer.from(b.buffer, b.byteOffset, 14).equals(MAGIC) &&
    u32(b, p) === 6 &&
    u32(b, p + 4) === 0 &&
    u32(b, p + 16) === 0 &&
    b[p + 20] === 1
  );
}

function damaged(name: string, compressedSize: number, message: string, data?: Uint8Array): Member {
  return {
    name,
    compressedSize,
    ...(data?.length ? { data } : {}),
    problem: { reason: "corrupt-archive", message },
  };
}

export function* readIshieldMsi(b: Uint8Array, cap: OutputCap): Iterable<Member> {
  if (!isIshieldMsi(b)) return;
  let off = 14;
  for (let i = 8; i < 0x20; i += 4) if (u32(b, off + i)) return; // not the layout ClamAV opens
  let count = u32(b, off);
  off += 0x20;
  for (let n = 1; count > 0; count--, n++) {
    if (off + BLOCK > b.length) {
      yield damaged(`ishield.${n}`, 0, "InstallShield file block truncated");
      return;
    }
    const fname = b.subarray(off, off + 0x103);
    let keyLen = fname.indexOf(0);
    if (keyLen < 0) keyLen = 0x103;
    if (!keyLen) return;
    const name =
      cleanName(
        Buffer.from(fname.subarray(0, keyLen))
          .toString("latin1")
          .replace(/^.*[\\/]/, ""),
      ) || `ishield.${n}`;
    const csizeBig = Buffer.from(b.buffer, b.byteOffset + off + 268, 8).readBigUInt64LE();
    off += BLOCK;
    if (csizeBig > BigInt(b.length - off)) {
      yield damaged(
        name,
        Number(BigInt.asUintN(52, csizeBig)),
        `InstallShield file data truncated (${b.length - off} bytes left of ${csizeBig})`,
      );
      return;
    }
    const csize = Number(csizeBig);
    const key = new Uint8Array(keyLen);
    for (let i = 0; i < keyLen; i++) key[i] = fname[i]! ^ KEY[i & 3]!;
    const data = new Uint8Array(csize);
    for (let i = 0; i < csize; i++) {
      const c = b[off + i]!;
      data[i] = (((c >>> 4) | (c << 4)) & 0xff) ^ key[(i & 0x3ff) % keyLen]!;
    }
    off += csize;
    // a zlib stream: 2 header bytes, then deflate
    if (csize < 2 || (data[0]! & 0x0f) !== 8 || ((data[0]! << 8) | data[1]!) % 31 !== 0) {
      yield damaged(name, csize, "InstallShield file is not a zlib stream (damaged or another InstallShield version)");
      continue;
    }
    const limit = cap(csize);
    try {
      const r = inflateSalvage(data.subarray(2), limit);
      if (r.error) yield damaged(name, csize, `InstallShield file damaged: ${r.error}`, r.data);
      else yield { name, data: r.data, compressedSize: csize };
    } catch (err) {
      if (err instanceof OutputLimit) yield overLimit(name, csize, limit);
      else throw err;
    }
  }
}
