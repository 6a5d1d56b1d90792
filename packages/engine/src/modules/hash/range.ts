/**
 * Shared by the hash and math modules: YARA's rule for functions over `(offset, size)` of the
 * scanned data. The range is defined when offset >= 0, size >= 0 and offset < filesize; it is
 * then clipped to the end of the data (so `hash.md5(0, filesize + 100)` is the whole file's hash
 * and `hash.md5(filesize, 0)` is undefined).
 */

/** A YARA integer argument (number or bigint) as a JS number (bigints beyond 2^53 lose precision, harmlessly here). */
export function intArg(v: unknown): number {
  if (typeof v === "bigint") return Number(v);
  if (typeof v === "number") return v;
  return Number.NaN;
}

/** [start, end) within the data for YARA's (offset, size), or undefined where YARA is undefined. */
export function dataRange(data: Uint8Array, offset: unknown, size: unknown): [number, number] | undefined {
  const off = intArg(offset);
  const len = intArg(size);
  if (!(off >= 0) || !(len >= 0) || !(off < data.length)) return undefined;
  return [off, Math.min(data.length, off + len)];
}
