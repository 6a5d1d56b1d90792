/**
 * ClamAV's digital signatures. Three RSA keys, whose moduli and exponents ClamAV publishes as
 * decimal strings in its sources, sign three things:
 * - the `.cvd` header's dsig field: raw RSA (no padding) over the MD5 of the body, 1024 bits;
 * - the `.info` manifest's `DSIG:` line: RSASSA-PSS, SHA-256, MGF1-SHA-256, 32-byte salt, 2047 bits;
 * - the `.cdiff` trailer: the same PSS scheme under a third 2047-bit key.
 * A dsig is written in ClamAV's own base-64-like text: the alphabet `a-z A-Z 0-9 + /`, each
 * character a 6-bit digit, least significant first.
 */
import { createHash } from "node:crypto";
import { ClamavError } from "../error.js";

export interface RsaPublicKey {
  readonly n: bigint;
  readonly e: bigint;
}

/** `CLI_NSTR`/`CLI_ESTR` (libclamav/dsig.c): the .cvd header key. */
export const CVD_HEADER_KEY: RsaPublicKey = {
  n: BigInt(
    "118640995551645342603070001658453189751527774412027743746599405743243142607464144767361060640655844749760788890022283424922762488917565551002467771109669598189410434699034532232228621591089508178591428456220796841621637175567590476666928698770143328137383952820383197532047771780196576957695822641224262693037",
  ),
  e: 100001027n,
};

/** `INFO_NSTR`/`INFO_ESTR` (libclamav/readdb.c): the key of the `.info` manifest's DSIG line. */
export const INFO_KEY: RsaPublicKey = {
  n: BigInt(
    "11088894983048545473659556106627194923928941791795047620591658697413581043322715912172496806525381055880964520618400224333320534660299233983755341740679502866829909679955734391392668378361221524205396631090105151641270857277080310734320951653700508941717419168723942507890702904702707587451621691050754307850383399865346487203798464178537392211402786481359824461197231102895415093770394216666324484593935762408468516826633192140826667923494822045805347809932848454845886971706424360558667862775876072059437703365380209101697738577515476935085469455279994113145977994084618328482151013142393373316337519977244732747977",
  ),
  e: 100002049n,
};

/** `PUBLIC_KEY_MODULUS`/`PUBLIC_KEY_EXPONENT` (libclamav_rust/src/cdiff.rs): the `.cdiff` key. */
export const CDIFF_KEY: RsaPublicKey = {
  n: BigInt(
    "14783905874077467090262228516557917570254599638376203532031989214105552847269687489771975792123442185817287694951949800908791527542017115600501303394778618535864845235700041590056318230102449612217458549016089313306591388590790796515819654102320725712300822356348724011232654837503241736177907784198700834440681124727060540035754699658105895050096576226753008596881698828185652424901921668758326578462003247906470982092298106789657211905488986281078346361469524484829559560886227198091995498440676639639830463593211386055065360288422394053998134458623712540683294034953818412458362198117811990006021989844180721010947",
  ),
  e: 100002053n,
};

/** Which keys a loader trusts: ClamAV's by default; tests and private mirrors add their own. */
export interface TrustedKeys {
  readonly cvd: readonly RsaPublicKey[];
  readonly info: readonly RsaPublicKey[];
  readonly cdiff: readonly RsaPublicKey[];
}

export const CLAMAV_KEYS: TrustedKeys = { cvd: [CVD_HEADER_KEY], info: [INFO_KEY], cdiff: [CDIFF_KEY] };

/** ClamAV's keys and `more`: what a loader told to trust a test or private mirror's key checks with. */
export function withClamavKeys(more: TrustedKeys): TrustedKeys {
  return {
    cvd: [...CLAMAV_KEYS.cvd, ...more.cvd],
    info: [...CLAMAV_KEYS.info, ...more.info],
    cdiff: [...CLAMAV_KEYS.cdiff, ...more.cdiff],
  };
}

/**
 * A trusted-keys file as text: JSON `{"format":"vigil-clamav-keys/v1","cvd":[{"n":"...","e":"..."}],
 * "info":[...],"cdiff":[...]}`, each modulus and exponent a decimal string, as ClamAV publishes its own.
 */
export function trustedKeysText(keys: TrustedKeys): string {
  const list = (ks: readonly RsaPublicKey[]) => ks.map((k) => ({ n: k.n.toString(), e: k.e.toString() }));
  return `${JSON.stringify({ format: "vigil-clamav-keys/v1", cvd: list(keys.cvd), info: list(keys.info), cdiff: list(keys.cdiff) }, null, 2)}\n`;
}

/** Reads a trusted-keys file's text (see trustedKeysText); `path` names it in the error. */
export function parseTrustedKeys(text: string, path: string): TrustedKeys {
  const bad = (why: string): never => {
    throw new ClamavError(
      "CVD_BAD_KEY_FILE",
      `not a ClamAV trusted-keys file (${why}): expected JSON {"format":"vigil-clamav-keys/v1","cvd":[{"n":"decimal","e":"decimal"}],"info":[...],"cdiff":[...]}`,
      { path },
    );
  };
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (err) {
    return bad(`not JSON: ${(err as Error).message}`);
  }
  if (typeof j !== "object" || j === null || (j as { format?: unknown }).format !== "vigil-clamav-keys/v1")
    return bad("no format vigil-clamav-keys/v1");
  const keys = (field: "cvd" | "info" | "cdiff"): RsaPublicKey[] => {
    const v = (j as Record<string, unknown>)[field] ?? [];
    if (!Array.isArray(v)) return bad(`${field} is not a list`);
    return v.map((k: unknown, i) => {
      const { n, e } = (k ?? {}) as { n?: unknown; e?: unknown };
      if (typeof n !== "string" || typeof e !== "string" || !/^[1-9]\d{0,1200}$/.test(n) || !/^[1-9]\d{0,30}$/.test(e))
        return bad(`${field}[${i}] needs n and e as decimal strings`);
      return { n: BigInt(n), e: BigInt(e) };
    });
  };
  return { cvd: keys("cvd"), info: keys("info"), cdiff: keys("cdiff") };
}

const ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/";
const DIGIT = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DIGIT[ALPHABET.charCodeAt(i)] = i;

/** The integer a dsig text encodes, or undefined when it holds a character outside the alphabet. */
export function decodeDsig(text: string): bigint | undefined {
  if (text.length === 0) return undefined;
  let value = 0n;
  for (let i = text.length - 1; i >= 0; i--) {
    const c = text.charCodeAt(i);
    const d = c < 128 ? DIGIT[c]! : -1;
    if (d < 0) return undefined;
    value = (value << 6n) | BigInt(d);
  }
  return value;
}

/** Writes an integer as a dsig text (the inverse of decodeDsig; used to sign test databases). */
export function encodeDsig(value: bigint): string {
  let out = "";
  do {
    out += ALPHABET[Number(value & 63n)];
    value >>= 6n;
  } while (value > 0n);
  return out;
}

export function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  base %= modulus;
  while (exponent > 0n) {
    if (exponent & 1n) result = (result * base) % modulus;
    base = (base * base) % modulus;
    exponent >>= 1n;
  }
  return result;
}

export function bigintToBytes(value: bigint, length: number): Uint8Array | undefined {
  const out = new Uint8Array(length);
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(value & 255n);
    value >>= 8n;
  }
  return value === 0n ? out : undefined;
}

/** The `.cvd` header check: the dsig, raised to e mod n, is the MD5 of the body (16 bytes, no padding). */
export function verifyRawMd5(dsig: string, md5: Uint8Array, keys: readonly RsaPublicKey[]): boolean {
  const s = decodeDsig(dsig);
  if (s === undefined) return false;
  for (const key of keys) {
    const plain = bigintToBytes(modPow(s, key.e, key.n), md5.length);
    if (plain !== undefined && Buffer.from(plain).equals(Buffer.from(md5))) return true;
  }
  return false;
}

const PSS_LEN = 256; // the padded message length ClamAV works with
const HASH_LEN = 32;
const MASKED_LEN = PSS_LEN - HASH_LEN - 1;
const SALT_LEN = 32;

function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
}

/**
 * RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt over `message`, checked the way
 * ClamAV's `cli_versig2` checks it. That check is laxer than RFC 8017 for 2047-bit keys: it
 * clears only the top bit of the unmasked block (not the two bits the key length implies) and
 * takes the salt after the first 0x01 byte. Some signed ClamAV databases rely on that (the
 * `.info` of the test-5 update does), so a strict PSS verifier would refuse files ClamAV loads.
 */
export function verifyPss(dsig: string, message: Uint8Array, keys: readonly RsaPublicKey[]): boolean {
  const s = decodeDsig(dsig);
  if (s === undefined) return false;
  const mHash = sha256(message);
  for (const key of keys) {
    const em = bigintToBytes(modPow(s, key.e, key.n), PSS_LEN);
    if (em?.[PSS_LEN - 1] !== 0xbc) continue;
    const h = em.subarray(MASKED_LEN, MASKED_LEN + HASH_LEN);
    const db = new Uint8Array(MASKED_LEN);
    for (let counter = 0, at = 0; at < MASKED_LEN; counter++, at += HASH_LEN) {
      const block = sha256(h, Uint8Array.of(0, 0, counter >> 8, counter & 255));
      db.set(block.subarray(0, Math.min(HASH_LEN, MASKED_LEN - at)), at);
    }
    for (let i = 0; i < MASKED_LEN; i++) db[i]! ^= em[i]!;
    db[0]! &= 0x7f;
    const one = db.indexOf(1);
    if (one < 0 || MASKED_LEN - (one + 1) !== SALT_LEN) continue;
    const salt = db.subarray(one + 1);
    const expected = sha256(new Uint8Array(8), mHash, salt);
    if (expected.equals(h)) return true;
  }
  return false;
}
