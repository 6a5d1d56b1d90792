/**
 * ML-DSA-44 cosignatures (c2sp.org/tlog-cosignature, main / v1.1.0-rc.1, key type 0x06): the key
 * ID, the vkey, the binary `subtree/v1` message and the 2,420-byte signature, built here from
 * the spec's text byte by byte and checked against what Vigil signs and verifies.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ml_dsa44 } from "@noble/post-quantum/ml-dsa.js";
import {
  KEY_TYPE_MLDSA44_COSIGNATURE,
  MerkleTree,
  NoteError,
  cosignCheckpoint,
  decodeBase64,
  formatCheckpoint,
  generateKey,
  keyId,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  subtreeMessage,
} from "../src/index.js";

const origin = "example.com/behind-the-sofa";
const log = generateKey(origin);
const witness = generateKey("witness.example/pq", "cosignature-mldsa");
/** A vkey's three fields: split on the first two '+' only (base64 holds '+'). */
function vkeyParts(vkey: string): [string, string, string] {
  const a = vkey.indexOf("+");
  const b = vkey.indexOf("+", a + 1);
  return [vkey.slice(0, a), vkey.slice(a + 1, b), vkey.slice(b + 1)];
}
const tree = new MerkleTree();
for (let i = 0; i < 20; i++) tree.append(`leaf ${i}`);
const text = formatCheckpoint({ origin, size: 20n, rootHash: tree.root() });
const signed = signNote(text, log.signerKey);

describe("ML-DSA-44 witness keys", () => {
  it("vkey: type 0x06, 1312-byte public key, key ID = SHA-256(name || 0x0A || 0x06 || pk)[:4]", () => {
    const v = parseVerifierKey(witness.verifierKey);
    expect(v.type).toBe(KEY_TYPE_MLDSA44_COSIGNATURE);
    expect(v.publicKey.length).toBe(1312);
    const h = createHash("sha256").update("witness.example/pq\n").update(Buffer.of(0x06)).update(v.publicKey).digest();
    expect(v.keyId).toBe(h.readUInt32BE(0));
    expect(keyId(v.name, 6, v.publicKey)).toBe(v.keyId);
    const [name, id, b64] = vkeyParts(witness.verifierKey);
    expect([name, id]).toEqual(["witness.example/pq", h.subarray(0, 4).toString("hex")]);
    expect(decodeBase64(b64!)![0]).toBe(0x06);
    // the signer key holds the keygen seed; the public key is derived from it as FIPS 204 keygen does
    const s = parseSignerKey(witness.signerKey);
    expect(s.seed.length).toBe(32);
    expect(Buffer.from(ml_dsa44.keygen(s.seed).publicKey).equals(Buffer.from(v.publicKey))).toBe(true);
  });

  it("refuses a vkey whose ML-DSA key has the wrong length or whose ID does not match", () => {
    const [name, id, b64] = vkeyParts(witness.verifierKey);
    const key = decodeBase64(b64!)!;
    const short = Buffer.from(key.subarray(0, 1000)).toString("base64");
    expect(() => parseVerifierKey(`${name}+${id}+${short}`)).toThrow(/ML-DSA-44 public key is 1312 bytes/);
    expect(() => parseVerifierKey(`${name}+00000000+${b64}`)).toThrow(/does not match/);
  });
});

describe("ML-DSA-44 cosignatures", () => {
  const ts = 1_700_000_123n;
  const note = cosignCheckpoint(signed, witness.signerKey, ts);
  const line = note.trimEnd().split("\n").pop()!;

  it("the signed message is the spec's subtree/v1 struct, built here field by field", () => {
    const name = Buffer.from("witness.example/pq");
    const o = Buffer.from(origin);
    const u64 = (v: bigint) => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(v);
      return b;
    };
    const expected = Buffer.concat([
      Buffer.from("subtree/v1\n\0", "latin1"), // uint8 label[12]
      Buffer.of(name.length),
      name, // opaque cosigner_name<1..2^8-1>
      u64(ts),
      Buffer.of(o.length),
      o, // opaque log_origin<1..2^8-1>
      u64(0n), // start: 0 for a checkpoint
      u64(20n), // end: the tree size
      Buffer.from(tree.root()),
    ]);
    expect(Buffer.from(subtreeMessage("witness.example/pq", ts, text)!).equals(expected)).toBe(true);
    expect(expected.subarray(0, 12).length).toBe(12);
  });

  it("a line decodes to key ID, u64 timestamp and a 2420-byte ML-DSA-44 signature over that message", () => {
    expect(line.startsWith("\u2014 witness.example/pq ")).toBe(true);
    const raw = decodeBase64(line.split(" ")[2]!)!;
    expect(raw.length).toBe(4 + 8 + 2420);
    const v = parseVerifierKey(witness.verifierKey);
    expect(Buffer.from(raw.subarray(0, 4)).readUInt32BE(0)).toBe(v.keyId);
    expect(Buffer.from(raw.subarray(4, 12)).readBigUInt64BE(0)).toBe(ts);
    // an independent check with the library alone
    expect(ml_dsa44.verify(raw.subarray(12), subtreeMessage("witness.example/pq", ts, text)!, v.publicKey)).toBe(true);
  });

  it("openNote verifies it beside the log's Ed25519 signature, with its timestamp", () => {
    const opened = openNote(note, [log.verifierKey, witness.verifierKey]);
    expect(opened.verified).toEqual([origin, "witness.example/pq"]);
    expect(opened.signatures[1]!.type).toBe(6);
    expect(opened.signatures[1]!.timestampBig).toBe(ts);
  });

  it("a changed size, root or origin fails; extension lines are not covered (as the spec says)", () => {
    const other = new MerkleTree();
    for (let i = 0; i < 21; i++) other.append(`leaf ${i}`);
    const forged = [
      note.replace(`\n20\n`, `\n21\n`),
      note.replace(Buffer.from(tree.root()).toString("base64"), Buffer.from(other.root()).toString("base64")),
    ];
    for (const f of forged) {
      // the log's signature fails first when checked; alone, the witness's must fail too
      const witnessOnly = f.split("\n\u2014 ")[0] + "\n\u2014 " + line + "\n";
      expect(() => openNote(witnessOnly, [witness.verifierKey])).toThrow(NoteError);
    }
    // a different timestamp in the line: the signature no longer matches
    const raw = Buffer.from(decodeBase64(line.split(" ")[2]!)!);
    raw.writeBigUInt64BE(ts + 1n, 4);
    const shifted = `${text}\n\u2014 witness.example/pq ${raw.toString("base64")}\n`;
    expect(() => openNote(shifted, [witness.verifierKey])).toThrow(/invalid signature/);
    // an extension line added after signing: the ML-DSA cosignature still verifies
    const extended = text + "extension line\n";
    const withExt = `${extended}\n\u2014 ${line.slice(2)}\n`;
    expect(openNote(withExt, [witness.verifierKey]).verified).toEqual(["witness.example/pq"]);
  });

  it("a note that is no checkpoint cannot be ML-DSA cosigned, and a corrupt line is refused", () => {
    expect(() => signNote("just some text\n", witness.signerKey)).toThrow(/signs a checkpoint/);
    const raw = Buffer.from(decodeBase64(line.split(" ")[2]!)!);
    raw[100] ^= 1;
    expect(() =>
      openNote(`${text}\n\u2014 witness.example/pq ${raw.toString("base64")}\n`, [witness.verifierKey]),
    ).toThrow(/invalid signature/);
    const cut = raw.subarray(0, 500).toString("base64");
    expect(() => openNote(`${text}\n\u2014 witness.example/pq ${cut}\n`, [witness.verifierKey])).toThrow(
      /invalid signature/,
    );
  });
});
