/**
 * A small DER reader for Authenticode signatures: one TLV at a time, every length checked
 * against what encloses it. Anything malformed throws DerError with what was wrong and where;
 * nothing here reads past the buffer or recurses (callers walk fixed structures level by level).
 */

export class DerError extends Error {}

/** One DER element: its tag byte, where its content lies in `buf`, and where the element ends. */
export interface Tlv {
  tag: number;
  /** offset of the element's first byte (its tag) */
  start: number;
  /** offset of the content */
  content: number;
  /** offset just past the content */
  end: number;
}

export const SEQUENCE = 0x30;
export const SET = 0x31;
export const INTEGER = 0x02;
export const BIT_STRING = 0x03;
export const OCTET_STRING = 0x04;
export const OID = 0x06;

/** Reads the element at `at`, which must end by `limit`. */
export function readTlv(buf: Uint8Array, at: number, limit = buf.length): Tlv {
  if (limit > buf.length) throw new DerError(`element limit ${limit} past the end of the data (${buf.length})`);
  if (at + 2 > limit) throw new DerError(`truncated element header at ${at}`);
  const tag = buf[at]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError(`multi-byte tag at ${at} (not used by Authenticode)`);
  let len = buf[at + 1]!;
  let p = at + 2;
  if (len === 0x80) throw new DerError(`indefinite length at ${at} (not DER)`);
  if (len > 0x80) {
    const n = len & 0x7f;
    if (n > 4) throw new DerError(`length of ${n} bytes at ${at}`);
    if (p + n > limit) throw new DerError(`truncated length at ${at}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i]!;
    p += n;
  }
  if (p + len > limit) throw new DerError(`element at ${at} claims ${len} bytes, only ${limit - p} remain`);
  return { tag, start: at, content: p, end: p + len };
}

/** Reads the element at `at` and requires its tag. */
export function expectTlv(buf: Uint8Array, at: number, tag: number, limit: number, what: string): Tlv {
  const t = readTlv(buf, at, limit);
  if (t.tag !== tag)
    throw new DerError(`${what}: expected tag 0x${tag.toString(16)} at ${at}, found 0x${t.tag.toString(16)}`);
  return t;
}

/** The elements directly inside `parent` (at most `max`). */
export function children(buf: Uint8Array, parent: Tlv, max = 10_000): Tlv[] {
  const out: Tlv[] = [];
  for (let p = parent.content; p < parent.end; ) {
    if (out.length >= max) throw new DerError(`more than ${max} elements in the element at ${parent.start}`);
    const t = readTlv(buf, p, parent.end);
    out.push(t);
    p = t.end;
  }
  return out;
}

/** Dotted form of the OBJECT IDENTIFIER element `t`. */
export function oid(buf: Uint8Array, t: Tlv): string {
  if (t.tag !== OID || t.end === t.content) throw new DerError(`expected an object identifier at ${t.start}`);
  if (t.end - t.content > 64) throw new DerError(`object identifier at ${t.start} is too long`);
  const parts: number[] = [];
  let v = 0;
  for (let i = t.content; i < t.end; i++) {
    v = v * 128 + (buf[i]! & 0x7f);
    if (!(buf[i]! & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  const first = parts.shift() ?? 0;
  return [first < 80 ? Math.floor(first / 40) : 2, first < 80 ? first % 40 : first - 80, ...parts].join(".");
}
