/**
 * The PDF standard security handler (ISO 32000-1 7.6.3, ISO 32000-2 7.6.4) for documents that
 * open without a password: the empty user password is tried (RC4 40-128, AES-128, AES-256 of
 * revisions 5 and 6), as viewers do silently, and malware relies on. When it is not the user
 * password, the document cannot be read and is reported as encrypted.
 */
import { createCipheriv, createDecipheriv, createHash } from "node:crypto";
import { dictGet, type PdfValue } from "./pdf-syntax.js";

const PAD = Buffer.from("28bf4e5e4e758a4164004e56fffa01082e2e00b6d0683e802f0ca9fe6453697a", "hex");

export function rc4(key: Uint8Array, data: Uint8Array): Uint8Array {
  const s = new Uint8Array(256);
  for (let i = 0; i < 256; i++) s[i] = i;
  for (let i = 0, j = 0; i < 256; i++) {
    j = (j + s[i]! + key[i % key.length]!) & 0xff;
    [s[i], s[j]] = [s[j]!, s[i]!];
  }
  const out = new Uint8Array(data.length);
  for (let k = 0, i = 0, j = 0; k < data.length; k++) {
    i = (i + 1) & 0xff;
    j = (j + s[i]!) & 0xff;
    [s[i], s[j]] = [s[j]!, s[i]!];
    out[k] = data[k]! ^ s[(s[i]! + s[j]!) & 0xff]!;
  }
  return out;
}

const md5 = (...parts: Uint8Array[]) => {
  const h = createHash("md5");
  for (const p of parts) h.update(p);
  return h.digest();
};

function aesDecrypt(bits: 128 | 256, key: Uint8Array, data: Uint8Array, iv?: Uint8Array): Uint8Array | undefined {
  const ivBytes = iv ?? data.subarray(0, 16);
  const body = iv ? data : data.subarray(16);
  if (ivBytes.length < 16 || body.length % 16) return undefined;
  const run = (padding: boolean) => {
    const d = createDecipheriv(`aes-${bits}-cbc`, key, ivBytes);
    d.setAutoPadding(padding);
    return Buffer.concat([d.update(body), d.final()]);
  };
  try {
    return run(!iv);
  } catch {
    return iv ? undefined : run(false); // bad padding: the bytes as they decrypt
  }
}

/** ISO 32000-2 algorithm 2.B: the hash of revision 6 (and, without its loop, revision 5). */
export function hashR6(password: Uint8Array, salt: Uint8Array, udata: Uint8Array, revision: number): Buffer {
  let k = createHash("sha256").update(password).update(salt).update(udata).digest();
  if (revision < 6) return k;
  for (let i = 0; ; i++) {
    const k1 = Buffer.concat(Array(64).fill(Buffer.concat([password, k, udata])));
    const c = createCipherNoPad(k.subarray(0, 16), k.subarray(16, 32), k1);
    let sum = 0;
    for (let j = 0; j < 16; j++) sum += c[j]!;
    k = createHash(["sha256", "sha384", "sha512"][sum % 3]!)
      .update(c)
      .digest();
    if (i >= 63 && c[c.length - 1]! <= i - 31) break; // 64 rounds at least, then until the last byte allows
  }
  return k.subarray(0, 32);
}

function createCipherNoPad(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Buffer {
  const c = createCipheriv("aes-128-cbc", key, iv);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(data), c.final()]);
}

function bytes(v: PdfValue | undefined): Uint8Array | undefined {
  return v?.t === "str" ? v.v : undefined;
}
function num(v: PdfValue | undefined, dflt: number): number {
  return v?.t === "num" ? v.v : dflt;
}
function nameOf(v: PdfValue | undefined): string | undefined {
  return v?.t === "name" ? v.v : undefined;
}

export interface Decryptor {
  /** decrypts a string or stream of object `num gen` */
  decrypt(num: number, gen: number, data: Uint8Array, kind: "stream" | "string"): Uint8Array;
  method: string;
}

/**
 * A decryptor for the empty user password, or a message saying why the document cannot be
 * read (another security handler, a user password, an unknown revision).
 */
export function openEncryption(enc: PdfValue | undefined, id0: Uint8Array): Decryptor | string {
  if (enc?.t !== "dict") return "the /Encrypt dictionary cannot be read";
  const filter = nameOf(dictGet(enc, "Filter"));
  if (filter !== "Standard") return `security handler /${filter ?? "?"} is not supported`;
  const v = num(dictGet(enc, "V"), 0);
  const r = num(dictGet(enc, "R"), 0);
  const o = bytes(dictGet(enc, "O"));
  const u = bytes(dictGet(enc, "U"));
  if (!o || !u) return "the /Encrypt dictionary lacks /O or /U";
  // which cipher: V4/V5 crypt filters name it, else RC4
  const cf = dictGet(enc, "CF");
  const stmf = nameOf(dictGet(enc, "StmF")) ?? "Identity";
  const strf = nameOf(dictGet(enc, "StrF")) ?? "Identity";
  const cfm = (name: string) => (name === "Identity" ? "None" : (nameOf(dictGet(dictGet(cf, name), "CFM")) ?? "None"));
  const stmMethod = v >= 4 ? cfm(stmf) : "V2";
  const strMethod = v >= 4 ? cfm(strf) : "V2";
  const empty = new Uint8Array(0);
  if (r === 5 || r === 6) {
    if (u.length < 48) return "/U is too short for revision 5/6";
    const ue = bytes(dictGet(enc, "UE"));
    if (!ue || ue.length < 32) return "/UE missing";
    if (!hashR6(empty, u.subarray(32, 40), empty, r).equals(Buffer.from(u.subarray(0, 32))))
      return "a user password is needed to open it";
    const fileKey = aesDecrypt(
      256,
      hashR6(empty, u.subarray(40, 48), empty, r),
      ue.subarray(0, 32),
      new Uint8Array(16),
    );
    if (!fileKey) return "the file key does not decrypt";
    const dec = (method: string, data: Uint8Array) =>
      method === "None" ? data : (aesDecrypt(256, fileKey, data) ?? new Uint8Array(0));
    return {
      method: `AES-256 (revision ${r})`,
      decrypt: (_n, _g, data, kind) => dec(kind === "stream" ? stmMethod : strMethod, data),
    };
  }
  if (r < 2 || r > 4) return `security handler revision ${r} is not supported`;
  const n = r === 2 ? 5 : Math.max(5, Math.min(16, num(dictGet(enc, "Length"), 40) / 8));
  const p = Buffer.alloc(4);
  p.writeInt32LE(num(dictGet(enc, "P"), 0) | 0);
  const meta = dictGet(enc, "EncryptMetadata");
  const parts: Uint8Array[] = [PAD, o.subarray(0, 32), p, id0];
  if (r >= 4 && meta?.t === "kw" && meta.v === "false") parts.push(Buffer.from([0xff, 0xff, 0xff, 0xff]));
  let h = md5(...parts);
  if (r >= 3) for (let i = 0; i < 50; i++) h = md5(h.subarray(0, n));
  const key = h.subarray(0, n);
  // check the key against /U (algorithms 4 and 5)
  let check: Uint8Array;
  if (r === 2) check = rc4(key, PAD);
  else {
    check = rc4(key, md5(PAD, id0));
    for (let i = 1; i <= 19; i++)
      check = rc4(
        key.map((b) => b ^ i),
        check,
      );
  }
  const cmp = r === 2 ? 32 : 16;
  if (!Buffer.from(check.subarray(0, cmp)).equals(Buffer.from(u.subarray(0, cmp))))
    return "a user password is needed to open it";
  const objectKey = (num: number, gen: number, aes: boolean) => {
    const x = Buffer.from([num & 0xff, (num >> 8) & 0xff, (num >> 16) & 0xff, gen & 0xff, (gen >> 8) & 0xff]);
    return md5(key, x, aes ? Buffer.from("sAlT", "latin1") : new Uint8Array(0)).subarray(0, Math.min(n + 5, 16));
  };
  const dec = (method: string, num: number, gen: number, data: Uint8Array) => {
    if (method === "None") return data;
    if (method === "AESV2") return aesDecrypt(128, objectKey(num, gen, true), data) ?? new Uint8Array(0);
    return rc4(objectKey(num, gen, false), data);
  };
  return {
    method: stmMethod === "AESV2" ? "AES-128" : `RC4 ${n * 8}-bit`,
    decrypt: (num, gen, data, kind) => dec(kind === "stream" ? stmMethod : strMethod, num, gen, data),
  };
}
