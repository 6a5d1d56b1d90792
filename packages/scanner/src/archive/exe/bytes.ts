/** Little-endian reads and writes, and ClamAV's range check, for the executable readers. */

export const u16 = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8);
export const u32 = (b: Uint8Array, o: number): number =>
  (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
export const put16 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
};
export const put32 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
};

/** ClamAV's CLI_ISCONTAINED over offsets: [sb, sb+ss) non-empty and inside [bb, bb+bs). */
export function contained(bb: number, bs: number, sb: number, ss: number): boolean {
  return bs > 0 && ss > 0 && ss <= bs && sb >= bb && sb + ss <= bb + bs;
}
