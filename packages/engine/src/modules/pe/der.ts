/**
 * A small, bounds-checked ASN.1 DER reader (X.690) for Authenticode: enough to walk PKCS#7
 * SignedData, X.509 certificates and their names. Every accessor returns undefined on
 * malformed input; nothing throws and nothing recurses without a depth limit.
 */

export interface Tlv {
  /** full tag byte (class, constructed bit and number; multi-byte tags are rejected). */
  readonly tag: number;
  /** offset of the tag byte. */
  readonly start: number;
  /** offset of the first content byte. */
  readonly body: number;
  /** offset just past the content. */
  readonly end: number;
}

/** Reads the TLV at `pos`, not extending past `limit`. */
export function readTlv(d: Uint8Array, pos: number, limit: number = d.length): Tlv | undefined {
  if (pos < 0 || pos + 2 > limit || limit > d.length) return undefined;
  const tag = d[pos]!;
  if ((tag & 0x1f) === 0x1f) return undefined;
  let len = d[pos + 1]!;
  let body = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || body + n > limit) return undefined; // indefinite or too long
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + d[body + i]!;
    body += n;
  }
  const end = body + len;
  if (end > limit) return undefined;
  return { tag, start: pos, body, end };
}

/** The children of a constructed TLV (stops at the first malformed child). */
export function children(d: Uint8Array, t: Tlv | undefined): Tlv[] {
  const out: Tlv[] = [];
  if (!t) return out;
  let p = t.body;
  while (p < t.end && out.length < 100_000) {
    const c = readTlv(d, p, t.end);
    if (!c) break;
    out.push(c);
    p = c.end;
  }
  return out;
}

export function oidToString(d: Uint8Array, t: Tlv | undefined): string | undefined {
  if (t?.tag !== 0x06 || t.end <= t.body) return undefined;
  const parts: number[] = [];
  let v = 0;
  for (let i = t.body; i < t.end; i++) {
    const b = d[i]!;
    v = v * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      if (parts.length === 0) {
        const first = v < 40 ? 0 : v < 80 ? 1 : 2;
        parts.push(first, v - first * 40);
      } else parts.push(v);
      v = 0;
    }
  }
  return parts.join(".");
}

export function bytes(d: Uint8Array, t: Tlv): Uint8Array {
  return d.subarray(t.body, t.end);
}

export function hex(b: Uint8Array, sep = ""): string {
  let s = "";
  for (let i = 0; i < b.length; i++) {
    if (i && sep) s += sep;
    s += b[i]!.toString(16).padStart(2, "0");
  }
  return s;
}

/** Parses UTCTime / GeneralizedTime to seconds since the epoch (UTC), as YARA's ASN1_get_time_t. */
export function parseTime(d: Uint8Array, t: Tlv | undefined): number | undefined {
  if (!t || (t.tag !== 0x17 && t.tag !== 0x18)) return undefined;
  const s = String.fromCharCode(...d.subarray(t.body, t.end));
  let i = 0;
  const two = () => {
    const v = (s.charCodeAt(i) - 48) * 10 + (s.charCodeAt(i + 1) - 48);
    i += 2;
    return v;
  };
  let year: number;
  if (t.tag === 0x17) {
    if (s.length < 12) return undefined;
    year = two();
    year += year < 50 ? 2000 : 1900;
  } else {
    if (s.length < 14) return undefined;
    year = two() * 100;
    year += two();
  }
  const month = two();
  const day = two();
  const hour = two();
  const min = two();
  const sec = two();
  const ms = Date.UTC(year, month - 1, day, hour, min, sec);
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : undefined;
}
