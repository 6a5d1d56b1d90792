/**
 * Windows executables (PE) as containers, as ClamAV treats them: what a PE hides is yielded as
 * members for the other readers and the detector:
 *
 * - the image a UPX-packed PE unpacks to, rebuilt as ClamAV rebuilds it (`upx.ts`), or the
 *   program a yC-encrypted PE decrypts to (`yc.ts`), or the memory image of a WWPack32-packed
 *   one (`wwpack.ts`);
 * - the program an ASPack-, Petite-, MEW-, Upack- or PESpin-packed PE unpacks to (`aspack.ts`,
 *   `petite.ts`, `mew.ts`, `upack.ts`, `pespin.ts`; MEW's and PESpin's LZ coder: `fsg.ts`),
 *   rebuilt as ClamAV rebuilds it (`clamrebuild.ts`);
 * - what is embedded at an offset past the start, found by its magic bytes as ClamAV's file-type
 *   scan finds it: another PE (from its MZ to the end of the file), a ZIP, RAR, 7z, CAB or ARJ
 *   archive (self-extracting archives: the stub's overlay), an AutoIt compiled script, an
 *   InstallShield MSI package. Each is yielded from its offset (a CAB with its own length; a ZIP
 *   whose offsets count from the executable's start rebased onto a copy, `sfx.ts`) so
 *   the reader that recognises its magic opens it; for each kind the first hit is yielded, and a
 *   later one is reached through it (an embedded PE holds the rest of the file);
 * - the files of an InstallShield setup listed in the overlay (`iscab.ts`).
 */
import { PeImage } from "@vigil/engine";
import type { Member, OutputCap } from "../types.js";
import { unpackedMember } from "./member.js";
import { unpackUpx } from "./upx.js";
import { unpackYc } from "./yc.js";
import { rebaseSfxZip } from "./sfx.js";
import { unpackWwpack } from "./wwpack.js";
import { readAspack } from "./aspack.js";
import { readPetite } from "./petite.js";
import { isIshieldOverlay, overlayStart, readIshieldOverlay } from "./iscab.js";
import { unpackPespin } from "./pespin.js";
import { mewMembers } from "./mew.js";
import { upackMembers } from "./upack.js";
import { u16, u32 } from "./bytes.js";

/** ClamAV's MaxEmbeddedPE default: embedded PEs with more bytes behind them are not opened. */
const MAX_EMBEDDED_PE = 40 << 20;

export function isExe(b: Uint8Array): boolean {
  return b.length >= 64 && b[0] === 0x4d && b[1] === 0x5a && PeImage.parse(b) !== undefined;
}

interface Embedded {
  kind: string;
  magic: Buffer;
  /** Checks the hit and returns the member's length from `at` (0: not a real one). */
  check(b: Uint8Array, at: number): number;
  /** The member starts this many bytes before the magic. */
  before?: number;
  ext: string;
}

const rest = (b: Uint8Array, at: number): number => b.length - at;

const EMBEDDED: Embedded[] = [
  {
    kind: "PE",
    ext: "exe",
    magic: Buffer.from("MZ", "latin1"),
    check(b, at) {
      if (at + 64 > b.length) return 0;
      const lfanew = u32(b, at + 0x3c);
      if (lfanew < 62 || lfanew > 302) return 0;
      if (rest(b, at) > MAX_EMBEDDED_PE) return 0;
      return PeImage.parse(b.subarray(at)) ? rest(b, at) : 0;
    },
  },
  {
    kind: "ZIP",
    ext: "zip",
    magic: Buffer.from("PK\x03\x04", "latin1"),
    check(b, at) {
      // a plausible local header: version, known method, a name that fits
      if (at + 30 > b.length) return 0;
      const method = u16(b, at + 8);
      const nameLen = u16(b, at + 26);
      if (u16(b, at + 4) > 0x3f || nameLen === 0 || at + 30 + nameLen > b.length) return 0;
      if (![0, 1, 6, 8, 9, 12, 14, 93, 95, 98, 99].includes(method)) return 0;
      return rest(b, at);
    },
  },
  {
    kind: "RAR",
    ext: "rar",
    magic: Buffer.from("Rar!\x1a\x07", "latin1"),
    check: (b, at) => (b[at + 6]! <= 1 ? rest(b, at) : 0),
  },
  {
    kind: "7Z",
    ext: "7z",
    magic: Buffer.from("377abcaf271c", "hex"),
    check: (b, at) => (at + 32 <= b.length ? rest(b, at) : 0),
  },
  {
    kind: "CAB",
    ext: "cab",
    magic: Buffer.from("MSCF\0\0\0\0", "latin1"),
    check(b, at) {
      if (at + 36 > b.length) return 0;
      const size = u32(b, at + 8);
      if (size < 36 || b[at + 25] !== 1 || u16(b, at + 26) === 0) return 0;
      return Math.min(size, rest(b, at));
    },
  },
  {
    kind: "ARJ",
    ext: "arj",
    magic: Buffer.from([0x60, 0xea]),
    check: (b, at) => (at + 11 <= b.length && b[at + 9]! <= 2 && b[at + 10] === 2 ? rest(b, at) : 0),
  },
  {
    kind: "AUTOIT",
    ext: "au3",
    magic: Buffer.from("a3484bbe986c4aa9994c530a86d6487d4155332145413", "hex"),
    check: (b, at) => (b[at + 23] === 0x35 || b[at + 23] === 0x36 ? rest(b, at) : 0),
  },
  {
    kind: "ISHIELD-MSI",
    ext: "ismsi",
    magic: Buffer.from("InstallShield\0", "latin1"),
    check(b, at) {
      const p = at + 14 + 292;
      if (p + 21 > b.length) return 0;
      if (u32(b, p) !== 6 || u32(b, p + 4) !== 0 || u32(b, p + 16) !== 0 || b[p + 20] !== 1) return 0;
      return rest(b, at);
    },
  },
];

/** The first valid hit of `e` past offset 0, as [offset, length]. */
function findEmbedded(buf: Buffer, e: Embedded): [number, number] | undefined {
  let from = 1;
  for (;;) {
    const at = buf.indexOf(e.magic, from);
    if (at < 0) return undefined;
    const len = e.check(buf, at);
    if (len > 0) return [at, len];
    from = at + 1;
  }
}

export function* readExe(b: Uint8Array, cap: OutputCap): Iterable<Member> {
  const pe = PeImage.parse(b);
  if (!pe) return;
  yield* mewMembers(pe, b, cap);
  yield* upackMembers(pe, b, cap);
  const upx = unpackUpx(pe, b, cap(Math.max(b.length, 1)));
  // ClamAV tries yC after UPX: a yC-encrypted UPX file is not unpacked as UPX, but decrypted
  const yc = upx?.data ? undefined : unpackYc(pe, b);
  if (yc) yield unpackedMember("yC", "yC-encrypted executable not decrypted", yc, b.length, 0);
  const ww = upx?.data || yc ? undefined : unpackWwpack(pe, b, cap(Math.max(b.length, 1)));
  if (ww)
    yield unpackedMember("WWPack", "WWPack-packed executable not unpacked", ww, b.length, cap(Math.max(b.length, 1)));
  if (!upx?.data && !yc && !ww) yield* readPetite(pe, b, cap);
  if (!upx?.data && !yc && !ww) yield* readAspack(pe, b, cap);
  if (upx && !yc && !ww)
    yield unpackedMember(
      "UPX",
      "UPX-packed executable not unpacked",
      upx,
      upx.compressedSize,
      cap(Math.max(b.length, 1)),
    );
  const spin = upx?.data || yc || ww ? undefined : unpackPespin(pe, b, cap(Math.max(b.length, 1)));
  if (spin)
    yield unpackedMember("PESpin", "PESpin-packed executable not unpacked", spin, b.length, cap(Math.max(b.length, 1)));
  // an InstallShield setup's files in the overlay (iscab.ts)
  const ov = overlayStart(pe, b.length);
  if (ov !== undefined && isIshieldOverlay(b, ov)) yield* readIshieldOverlay(b, ov, cap);
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  for (const e of EMBEDDED) {
    const hit = findEmbedded(buf, e);
    if (!hit) continue;
    const [at, len] = hit;
    let data = b.subarray(at, at + len);
    if (e.kind === "ZIP") data = rebaseSfxZip(data, at);
    yield { name: `${e.kind}@${at}.${e.ext}`, data, compressedSize: len };
  }
}
