/** Strict standard base64 (RFC 4648 §4, padded), as the C2SP specifications use it. */

const STD = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes padded standard base64. Returns undefined for anything else (whitespace, URL alphabet,
 * missing padding). With `canonical`, also rejects non-zero trailing bits, so that each byte
 * string has exactly one accepted encoding.
 */
export function decodeBase64(s: string, canonical = false): Uint8Array | undefined {
  if (!STD.test(s)) return undefined;
  const buf = Buffer.from(s, "base64");
  if (canonical && buf.toString("base64") !== s) return undefined;
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

export function encodeBase64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64");
}
