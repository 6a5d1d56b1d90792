/**
 * TLSH (Trend Micro locality sensitive hash), the standard variant YARA uses for elf.telfhash():
 * 128 buckets, 1-byte checksum, 5-byte sliding window, at least 50 bytes of input. Written from
 * the TLSH paper and format (Oliver, Cheng, Chen 2013); the Pearson permutation table is the one
 * the format defines. Returns the 72-character "T1" + uppercase hex digest, or "" when the input
 * cannot be hashed (too short, too uniform), as TLSH's reference library does.
 */

// Pearson's random permutation of 0..255, as defined by TLSH.
const V = Uint8Array.from([
  1, 87, 49, 12, 176, 178, 102, 166, 121, 193, 6, 84, 249, 230, 44, 163, 14, 197, 213, 181, 161, 85, 218, 80, 64, 239,
  24, 226, 236, 142, 38, 200, 110, 177, 104, 103, 141, 253, 255, 50, 77, 101, 81, 18, 45, 96, 31, 222, 25, 107, 190, 70,
  86, 237, 240, 34, 72, 242, 20, 214, 244, 227, 149, 235, 97, 234, 57, 22, 60, 250, 82, 175, 208, 5, 127, 199, 111, 62,
  135, 248, 174, 169, 211, 58, 66, 154, 106, 195, 245, 171, 17, 187, 182, 179, 0, 243, 132, 56, 148, 75, 128, 133, 158,
  100, 130, 126, 91, 13, 153, 246, 216, 219, 119, 68, 223, 78, 83, 88, 201, 99, 122, 11, 92, 32, 136, 114, 52, 10, 138,
  30, 48, 183, 156, 35, 61, 26, 143, 74, 251, 94, 129, 162, 63, 152, 170, 7, 115, 167, 241, 206, 3, 150, 55, 59, 151,
  220, 90, 53, 23, 131, 125, 173, 15, 238, 79, 95, 89, 16, 105, 137, 225, 224, 217, 160, 37, 123, 118, 73, 2, 157, 46,
  116, 9, 145, 134, 228, 207, 212, 202, 215, 69, 229, 27, 188, 67, 124, 168, 252, 42, 4, 29, 108, 21, 247, 19, 205, 39,
  203, 233, 40, 186, 147, 198, 192, 155, 33, 164, 191, 98, 204, 165, 180, 117, 76, 140, 36, 210, 172, 41, 54, 159, 8,
  185, 232, 113, 196, 231, 47, 146, 120, 51, 65, 28, 144, 254, 221, 93, 189, 194, 139, 112, 43, 71, 109, 184, 209,
]);

/** Pearson hash of three bytes after a salt already passed through the table. */
const h3 = (salt: number, a: number, b: number, c: number): number => V[V[V[salt ^ a]! ^ b]! ^ c]!;

const MIN_LENGTH = 50;
const BUCKETS = 128;
const CODE_SIZE = 32;

/** TLSH's length encoding: a log scale in three ranges. */
function lengthCode(len: number): number {
  const l = Math.log(Math.fround(len));
  let i: number;
  if (len <= 656) i = Math.floor(l / 0.4054651);
  else if (len <= 3199) i = Math.floor(l / 0.26236426 - 8.72777);
  else i = Math.floor(l / 0.09531018 - 62.5472);
  return i & 0xff;
}

const swap = (b: number): number => ((b & 0xf0) >> 4) | ((b & 0x0f) << 4);
const hex = (b: number): string => b.toString(16).toUpperCase().padStart(2, "0");

export function tlsh(data: Uint8Array): string {
  const n = data.length;
  if (n < MIN_LENGTH) return "";
  const buckets = new Uint32Array(256);
  let checksum = 0;
  for (let i = 4; i < n; i++) {
    const a4 = data[i]!,
      a3 = data[i - 1]!,
      a2 = data[i - 2]!,
      a1 = data[i - 3]!,
      a0 = data[i - 4]!;
    checksum = h3(1, a4, a3, checksum);
    buckets[h3(49, a4, a3, a2)]!++;
    buckets[h3(12, a4, a3, a1)]!++;
    buckets[h3(178, a4, a2, a1)]!++;
    buckets[h3(166, a4, a2, a0)]!++;
    buckets[h3(84, a4, a3, a0)]!++;
    buckets[h3(230, a4, a1, a0)]!++;
  }
  const sorted = Array.from(buckets.subarray(0, BUCKETS)).sort((x, y) => x - y);
  const q1 = sorted[BUCKETS / 4 - 1]!;
  const q2 = sorted[BUCKETS / 2 - 1]!;
  const q3 = sorted[BUCKETS - BUCKETS / 4 - 1]!;
  if (q3 === 0) return "";
  let nonzero = 0;
  for (let i = 0; i < BUCKETS; i++) if (buckets[i]! > 0) nonzero++;
  if (nonzero <= BUCKETS / 2) return "";
  const code = new Uint8Array(CODE_SIZE);
  for (let i = 0; i < CODE_SIZE; i++) {
    let h = 0;
    for (let j = 0; j < 4; j++) {
      const k = buckets[4 * i + j]!;
      if (q3 < k) h += 3 << (j * 2);
      else if (q2 < k) h += 2 << (j * 2);
      else if (q1 < k) h += 1 << (j * 2);
    }
    code[i] = h;
  }
  // ratios computed in single precision, as the reference does
  const q1ratio = Math.trunc(Math.fround(Math.fround(q1 * 100) / Math.fround(q3))) % 16;
  const q2ratio = Math.trunc(Math.fround(Math.fround(q2 * 100) / Math.fround(q3))) % 16;
  let out = "T1" + hex(swap(checksum)) + hex(swap(lengthCode(n))) + hex(swap(q1ratio | (q2ratio << 4)));
  for (let i = CODE_SIZE - 1; i >= 0; i--) out += hex(code[i]!);
  return out;
}
