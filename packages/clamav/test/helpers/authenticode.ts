// Authenticode material built in the test with node:crypto (no openssl): RSA keys, X.509 v3
// certificates, PKCS#7 SignedData as signtool writes it (version 1, SpcIndirectDataContent
// directly in [0]), signed PEs and Microsoft catalogs (a CTL of Authenticode hashes). DER is
// written by hand here, independently of the reader under test.
import { createHash, generateKeyPairSync, type KeyObject, sign } from "node:crypto";

export type Hash = "sha1" | "sha256";

export function tlv(tag: number, ...bodies: Uint8Array[]): Buffer {
  const body = Buffer.concat(bodies);
  const n = body.length;
  const len =
    n < 0x80
      ? [n]
      : n < 0x100
        ? [0x81, n]
        : n < 0x10000
          ? [0x82, n >> 8, n & 0xff]
          : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...len]), body]);
}
export const seq = (...b: Uint8Array[]) => tlv(0x30, ...b);
export const set = (...b: Uint8Array[]) => tlv(0x31, ...b);
export const octets = (b: Uint8Array) => tlv(0x04, b);
export const NULL = Buffer.from([0x05, 0x00]);

export function oid(dotted: string): Buffer {
  const p = dotted.split(".").map(Number);
  const out = [40 * p[0]! + p[1]!];
  for (const v of p.slice(2)) {
    const enc = [v & 0x7f];
    for (let x = Math.floor(v / 128); x > 0; x = Math.floor(x / 128)) enc.unshift((x & 0x7f) | 0x80);
    out.push(...enc);
  }
  return tlv(0x06, Buffer.from(out));
}
/** An INTEGER from unsigned big-endian bytes (a 0 is prefixed when the top bit is set). */
export function integer(b: Uint8Array): Buffer {
  let v = Buffer.from(b);
  while (v.length > 1 && v[0] === 0 && !(v[1]! & 0x80)) v = v.subarray(1);
  if (v[0]! & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
  return tlv(0x02, v);
}
export const small = (n: number) => integer(Buffer.from([n]));

const HASH_OID: Record<Hash, string> = { sha1: "1.3.14.3.2.26", sha256: "2.16.840.1.101.3.4.2.1" };
const SIG_OID: Record<Hash, string> = { sha1: "1.2.840.113549.1.1.5", sha256: "1.2.840.113549.1.1.11" };
const algo = (o: string) => seq(oid(o), NULL);

export const name = (cn: string) => seq(set(seq(oid("2.5.4.3"), tlv(0x0c, Buffer.from(cn)))));
function time(d: Date): Buffer {
  const s = d.toISOString().replace(/[-:T]/g, "").slice(2, 14);
  return tlv(0x17, Buffer.from(`${s}Z`));
}

export interface Key {
  priv: KeyObject;
  modulus: Buffer;
  exponent: Buffer;
  spki: Buffer;
}
export function rsaKey(bits = 2048): Key {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: bits });
  const jwk = publicKey.export({ format: "jwk" });
  return {
    priv: privateKey,
    modulus: Buffer.from(jwk.n!, "base64url"),
    exponent: Buffer.from(jwk.e!, "base64url"),
    spki: publicKey.export({ type: "spki", format: "der" }) as Buffer,
  };
}

export interface CertSpec {
  subject: string;
  issuer: string;
  serial: Buffer;
  key: Key;
  signer: Key;
  notBefore?: Date;
  notAfter?: Date;
  /** extended key usage purposes; undefined: no EKU extension */
  eku?: Array<"code" | "time">;
  /** KeyUsage keyCertSign (true) or digitalSignature only (false); undefined: no KeyUsage */
  keyCertSign?: boolean;
  /** BasicConstraints cA */
  ca?: boolean;
  hash?: Hash;
}
export interface Cert {
  der: Buffer;
  /** what a .crb rule names: SHA-1 of the subject and serial contents, the modulus in hex */
  subjectSha1: string;
  serialSha1: string;
  modulusHex: string;
  issuerName: Buffer;
  serialInteger: Buffer;
}

export function certificate(s: CertSpec): Cert {
  const hash = s.hash ?? "sha256";
  const exts: Buffer[] = [];
  if (s.ca !== undefined)
    exts.push(seq(oid("2.5.29.19"), octets(seq(...(s.ca ? [tlv(0x01, Buffer.from([0xff]))] : [])))));
  if (s.keyCertSign !== undefined)
    exts.push(seq(oid("2.5.29.15"), octets(tlv(0x03, Buffer.from(s.keyCertSign ? [0x01, 0x06] : [0x07, 0x80])))));
  if (s.eku)
    exts.push(
      seq(
        oid("2.5.29.37"),
        octets(seq(...s.eku.map((p) => oid(p === "code" ? "1.3.6.1.5.5.7.3.3" : "1.3.6.1.5.5.7.3.8")))),
      ),
    );
  const subject = name(s.subject),
    issuer = name(s.issuer);
  const serialInteger = integer(s.serial);
  const tbs = seq(
    tlv(0xa0, small(2)),
    serialInteger,
    algo(SIG_OID[hash]),
    issuer,
    seq(
      time(s.notBefore ?? new Date(Date.now() - 86400_000)),
      time(s.notAfter ?? new Date(Date.now() + 30 * 86400_000)),
    ),
    subject,
    s.key.spki,
    ...(exts.length ? [tlv(0xa3, seq(...exts))] : []),
  );
  const sig = sign(hash, tbs, s.signer.priv);
  const der = seq(tbs, algo(SIG_OID[hash]), tlv(0x03, Buffer.from([0]), sig));
  const content = (t: Buffer) => t.subarray(t[1]! & 0x80 ? 2 + (t[1]! & 0x7f) : 2);
  return {
    der,
    subjectSha1: createHash("sha1").update(content(subject)).digest("hex"),
    serialSha1: createHash("sha1").update(content(serialInteger)).digest("hex"),
    modulusHex: s.key.modulus.toString("hex").replace(/^(00)+/, ""),
    issuerName: issuer,
    serialInteger,
  };
}

/** A .crb line for `c` (Trusted 1 or 0), serial left empty with `anySerial`. */
export function crbLine(
  ruleName: string,
  trusted: boolean,
  c: Cert,
  flags: { code: boolean; time: boolean; cert: boolean },
  anySerial = false,
): string {
  const b = (v: boolean) => (v ? "1" : "0");
  return `${ruleName};${b(trusted)};${c.subjectSha1};${anySerial ? "" : c.serialSha1};${c.modulusHex};010001;${b(flags.code)};${b(flags.time)};${b(flags.cert)};;test\n`;
}

export const OID_SPC_INDIRECT = "1.3.6.1.4.1.311.2.1.4";
export const OID_CTL = "1.3.6.1.4.1.311.10.1";

/**
 * A SignedData (ContentInfo) over `inner` (a SEQUENCE, written directly in [0]), signed by
 * `signer` (whose certificate `cert` names issuer and serial), carrying `certs`.
 */
export function signedData(o: {
  contentType: string;
  inner: Buffer;
  certs: Buffer[];
  cert: Cert;
  signer: Key;
  hash?: Hash;
  /** an unauthenticated counterSignature attribute: a time-stamp by `cert`, or (true) a bogus one */
  counterSignature?: true | CounterSigner;
}): Buffer {
  const hash = o.hash ?? "sha256";
  const innerContent = o.inner.subarray(o.inner[1]! & 0x80 ? 2 + (o.inner[1]! & 0x7f) : 2);
  const md = createHash(hash).update(innerContent).digest();
  const attrs = [
    seq(oid("1.2.840.113549.1.9.3"), set(oid(o.contentType))),
    seq(oid("1.2.840.113549.1.9.4"), set(octets(md))),
  ];
  const signedAttrs = set(...attrs); // what is signed: the attributes under a SET tag
  const sig = sign(hash, signedAttrs, o.signer.priv);
  const signerInfo = seq(
    small(1),
    seq(o.cert.issuerName, o.cert.serialInteger),
    algo(HASH_OID[hash]),
    tlv(0xa0, ...attrs),
    algo("1.2.840.113549.1.1.1"),
    octets(sig),
    ...(o.counterSignature === true
      ? [tlv(0xa1, seq(oid("1.2.840.113549.1.9.6"), set(seq(small(1)))))]
      : o.counterSignature
        ? [tlv(0xa1, seq(oid("1.2.840.113549.1.9.6"), set(counterSigner(o.counterSignature, sig))))]
        : []),
  );
  const sd = seq(
    small(1),
    set(algo(HASH_OID[hash])),
    seq(oid(o.contentType), tlv(0xa0, o.inner)),
    tlv(0xa0, ...o.certs),
    set(signerInfo),
  );
  return seq(oid("1.2.840.113549.1.7.2"), tlv(0xa0, sd));
}

export interface CounterSigner {
  cert: Cert;
  key: Key;
  time: Date;
  hash?: Hash;
}

/** A PKCS#9 countersignature SignerInfo over `signature` (the signer's encrypted digest). */
function counterSigner(c: CounterSigner, signature: Buffer): Buffer {
  const hash = c.hash ?? "sha256";
  const attrs = [
    seq(oid("1.2.840.113549.1.9.3"), set(oid("1.2.840.113549.1.7.1"))),
    seq(oid("1.2.840.113549.1.9.5"), set(time(c.time))),
    seq(oid("1.2.840.113549.1.9.4"), set(octets(createHash(hash).update(signature).digest()))),
  ];
  return seq(
    small(1),
    seq(c.cert.issuerName, c.cert.serialInteger),
    algo(HASH_OID[hash]),
    tlv(0xa0, ...attrs),
    algo("1.2.840.113549.1.1.1"),
    octets(sign(hash, set(...attrs), c.key.priv)),
  );
}

/** SpcIndirectDataContent for a PE image hash (or, with `cab`, a CAB file's). */
export function spcIndirect(hash: Hash, digest: Buffer, cab = false): Buffer {
  return seq(
    seq(
      oid(cab ? "1.3.6.1.4.1.311.2.1.25" : "1.3.6.1.4.1.311.2.1.15"),
      seq(tlv(0x03, Buffer.from([0])), tlv(0xa0, tlv(0xa2, tlv(0x80, Buffer.alloc(0))))),
    ),
    seq(algo(HASH_OID[hash]), octets(digest)),
  );
}

/** A certificate trust list (catalog) of PE Authenticode hashes. */
export function ctl(entries: Array<{ hash: Hash; digest: Buffer; cab?: boolean }>): Buffer {
  return seq(
    seq(oid("1.3.6.1.4.1.311.12.1.1")),
    octets(Buffer.from("0123456789abcdef")),
    time(new Date()),
    seq(oid("1.3.6.1.4.1.311.12.1.2"), NULL),
    seq(
      ...entries.map((e, i) =>
        seq(
          octets(Buffer.from(`${i}`.padStart(8, "0"))),
          set(seq(oid(OID_SPC_INDIRECT), set(spcIndirect(e.hash, e.digest, e.cab)))),
        ),
      ),
    ),
  );
}

const u32 = (b: Uint8Array, at: number) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).readUInt32LE(at);

/** The Authenticode hash of a PE32 (CheckSum, the security directory entry and the certificate table left out). */
export function peHash(pe: Uint8Array, hash: Hash): Buffer {
  const opt = u32(pe, 0x3c) + 24;
  const checksum = opt + 64,
    security = opt + 96 + 32;
  const off = u32(pe, security);
  const end = off ? off : pe.length;
  return createHash(hash)
    .update(pe.subarray(0, checksum))
    .update(pe.subarray(checksum + 4, security))
    .update(pe.subarray(security + 8, end))
    .digest();
}

/** `pe` (a PE32 without a certificate table) with `der` appended as its WIN_CERTIFICATE. */
export function attach(pe: Uint8Array, der: Uint8Array): Buffer {
  const len = 8 + der.length,
    padded = (len + 7) & ~7;
  const wc = Buffer.alloc(padded);
  wc.writeUInt32LE(padded, 0);
  wc.writeUInt16LE(0x200, 4);
  wc.writeUInt16LE(2, 6);
  Buffer.from(der).copy(wc, 8);
  const out = Buffer.concat([pe, wc]);
  const security = u32(out, 0x3c) + 24 + 96 + 32;
  out.writeUInt32LE(pe.length, security);
  out.writeUInt32LE(padded, security + 4);
  return out;
}

/** Signs a PE32 as signtool would: its Authenticode hash in an SpcIndirectDataContent. */
export function signPe(
  pe: Uint8Array,
  o: { certs: Buffer[]; cert: Cert; signer: Key; hash?: Hash; counterSignature?: true | CounterSigner },
): Buffer {
  const hash = o.hash ?? "sha256";
  // the directory entry is filled in before hashing (it is left out of the hash anyway)
  const digest = peHash(pe, hash);
  return attach(pe, signedData({ contentType: OID_SPC_INDIRECT, inner: spcIndirect(hash, digest), ...o, hash }));
}
