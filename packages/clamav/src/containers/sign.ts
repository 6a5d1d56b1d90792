/**
 * Signing ClamAV containers with keys of one's own: for a private mirror, for tests, and for the
 * benchmark that packs a generated signature set as `main.cvd`/`daily.cvd`. A loader verifies
 * such files only when it is told to trust the public half (`TrustedKeys`); ClamAV's own private
 * keys are, of course, not here.
 */
import { createHash, generateKeyPairSync, sign, constants, type KeyObject } from "node:crypto";
import { gzipSync } from "node:zlib";
import { encodeDsig, modPow, type RsaPublicKey, type TrustedKeys } from "./dsig.js";
import { writeContainerTar, type ContainerFile } from "./tar.js";

export interface SigningKey {
  readonly publicKey: RsaPublicKey;
  readonly d: bigint;
  readonly keyObject: KeyObject;
}

function fromB64url(s: string): bigint {
  return BigInt("0x" + Buffer.from(s, "base64url").toString("hex"));
}

/** A new RSA key: 1024 bits for the header's raw signature, 2048 for the PSS ones. */
export function generateSigningKey(bits: 1024 | 2048): SigningKey {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: bits, publicExponent: 65537 });
  const jwk = privateKey.export({ format: "jwk" });
  return { publicKey: { n: fromB64url(jwk.n!), e: fromB64url(jwk.e!) }, d: fromB64url(jwk.d!), keyObject: privateKey };
}

export interface ContainerSigningKeys {
  readonly cvd: SigningKey;
  readonly info: SigningKey;
  readonly cdiff: SigningKey;
}

export function generateContainerKeys(): ContainerSigningKeys {
  return { cvd: generateSigningKey(1024), info: generateSigningKey(2048), cdiff: generateSigningKey(2048) };
}

export function trustedKeysOf(keys: ContainerSigningKeys): TrustedKeys {
  return { cvd: [keys.cvd.publicKey], info: [keys.info.publicKey], cdiff: [keys.cdiff.publicKey] };
}

export function signRawMd5(md5: Uint8Array, key: SigningKey): string {
  const m = BigInt("0x" + Buffer.from(md5).toString("hex"));
  return encodeDsig(modPow(m, key.d, key.publicKey.n));
}

export function signPss(message: Uint8Array, key: SigningKey): string {
  const sig = sign("sha256", message, { key: key.keyObject, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
  return encodeDsig(BigInt("0x" + sig.toString("hex")));
}

export interface CvdFields {
  /** the database name (`daily`): the .info is `<name>.info` */
  readonly name: string;
  readonly version: number;
  readonly signatures: number;
  readonly flevel: number;
  readonly builder?: string;
  /** seconds since the epoch */
  readonly stime: number;
  /** zlib level of the body (default 6; the benchmark packs hundreds of MB at 1) */
  readonly gzipLevel?: number;
}

function buildTimeText(stime: number): string {
  const d = new Date(stime * 1000);
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(d.getUTCDate())} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${two(d.getUTCHours())}-${two(d.getUTCMinutes())} +0000`;
}

/** Packs signature files as a signed `.cvd`: COPYING, the signed .info, the files, gzip'd. */
export function buildSignedCvd(
  files: readonly ContainerFile[],
  fields: CvdFields,
  keys: ContainerSigningKeys,
): Uint8Array {
  return buildContainer(files, fields, keys);
}

/**
 * Packs the same files as an unsigned `.cud` (the .info without DSIG, the header's dsig `X`):
 * what clamd loads without ClamAV's keys, reading it otherwise as a `.cvd`.
 */
export function buildUnsignedCud(files: readonly ContainerFile[], fields: CvdFields): Uint8Array {
  return buildContainer(files, fields, undefined);
}

function buildContainer(
  files: readonly ContainerFile[],
  fields: CvdFields,
  keys: ContainerSigningKeys | undefined,
): Uint8Array {
  const builder = fields.builder ?? "vigil";
  const time = buildTimeText(fields.stime);
  const headerLine = (md5: string, dsig: string) =>
    `ClamAV-VDB:${time}:${fields.version}:${fields.signatures}:${fields.flevel}:${md5}:${dsig}:${builder}:${fields.stime}`;
  let info = headerLine("X", "X") + "\n";
  for (const f of files) info += `${f.name}:${f.bytes.length}:${createHash("sha256").update(f.bytes).digest("hex")}\n`;
  const infoBytes = Buffer.from(info, "latin1");
  const infoFile = keys
    ? Buffer.concat([infoBytes, Buffer.from(`DSIG:${signPss(infoBytes, keys.info)}\n`, "latin1")])
    : infoBytes;
  const tar = writeContainerTar([
    { name: "COPYING", bytes: Buffer.from("Test database built by Vigil; not ClamAV's.\n") },
    { name: `${fields.name}.info`, bytes: infoFile },
    ...files,
  ]);
  const body = gzipSync(tar, { level: fields.gzipLevel ?? 6 });
  const md5 = createHash("md5").update(body).digest();
  const header = Buffer.alloc(512, 0x20);
  header.write(headerLine(md5.toString("hex"), keys ? signRawMd5(md5, keys.cvd) : "X"), "latin1");
  return Buffer.concat([header, body]);
}

/** A signed `.cdiff` carrying `script` and producing `version`. */
export function buildSignedCdiff(script: string, version: number, key: SigningKey): Uint8Array {
  const gz = gzipSync(Buffer.from(script, "latin1"));
  const head = Buffer.from(`ClamAV-Diff:${version}:${Buffer.byteLength(script, "latin1")}:`, "latin1");
  let signed = Buffer.concat([head, gz]);
  // a .cdiff is at least 350 bytes: pad short test scripts after the gzip member (ignored by readers)
  if (signed.length + 1 + 342 < 350) signed = Buffer.concat([signed, Buffer.alloc(350 - signed.length)]);
  return Buffer.concat([signed, Buffer.from(":" + signPss(signed, key), "latin1")]);
}
