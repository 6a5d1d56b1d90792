/**
 * ML-DSA-44 against public known answers, not only against itself: the FIPS 204 key generation
 * of NIST's ACVP vectors, and a checkpoint signed by a third party's ML-DSA-44 log key.
 *
 * C2SP has published no ML-DSA-44 cosignature vector that can be verified: tlog-cosignature.md
 * gives the message structure without an example, and tlog-witness.md's example response lines
 * are illustrative (no key given, the sign-subtree ones elided with "[...]"). The nearest public
 * one is litewitness's test data (vectors/README.md).
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ml_dsa44 } from "@noble/post-quantum/ml-dsa.js";
import {
  KEY_TYPE_MLDSA44_COSIGNATURE,
  NoteError,
  keyId,
  openNote,
  parseCheckpoint,
  parseSignerKey,
  parseVerifierKey,
} from "../src/index.js";

const vector = (name: string) => readFileSync(new URL(`./vectors/${name}`, import.meta.url), "utf8");

describe("FIPS 204 ML-DSA-44 key generation (NIST ACVP ML-DSA-keyGen-FIPS204, tcId 1)", () => {
  // seed (xi), the public key's first 32 bytes (rho) and the SHA-256 of the 1312-byte public key,
  // as NIST's ACVP-Server gen-val/json-files/ML-DSA-keyGen-FIPS204 publishes them
  const seed = Buffer.from("D71361C000F9A7BC99DFB425BCB6BB27C32C36AB444FF3708B2D93B4E66D5B5B", "hex");
  const pkPrefix = "b845fa2881407a59183071629b08223128116014fb58ff6bb4c8c9fe19cf5b0b";
  const pkSha256 = "451a808c522218fadbdab146fc12004b0741c7d069f238f43ad77216159f6a34";

  it("a Vigil signer key holding the seed derives NIST's public key", () => {
    const name = "witness.example/kat";
    const pk = ml_dsa44.keygen(new Uint8Array(seed)).publicKey;
    const id = keyId(name, KEY_TYPE_MLDSA44_COSIGNATURE, pk).toString(16).padStart(8, "0");
    const skey = `PRIVATE+KEY+${name}+${id}+${Buffer.concat([Buffer.of(6), seed]).toString("base64")}`;
    const k = parseSignerKey(skey);
    expect(k.publicKey.length).toBe(1312);
    expect(Buffer.from(k.publicKey.subarray(0, 32)).toString("hex")).toBe(pkPrefix);
    expect(createHash("sha256").update(k.publicKey).digest("hex")).toBe(pkSha256);
    // one changed seed bit: another key
    const other = Buffer.from(seed);
    other[0]! ^= 1;
    expect(
      createHash("sha256")
        .update(ml_dsa44.keygen(new Uint8Array(other)).publicKey)
        .digest("hex"),
    ).not.toBe(pkSha256);
  });
});

describe("a checkpoint signed by a third party's ML-DSA-44 log key (litewitness test data)", () => {
  const vkey = vector("torchwood-mldsa-log.txt").trim();
  const body = vector("torchwood-mldsa-add-checkpoint.txt");
  const note = body.slice(body.indexOf("\n\n") + 2);

  it("the vkey parses as type 0x06 and its key ID is SHA-256(name || 0x0A || 0x06 || pk)[:4]", () => {
    const v = parseVerifierKey(vkey);
    expect(v.type).toBe(KEY_TYPE_MLDSA44_COSIGNATURE);
    expect(v.name).toBe("example.com/mldsa-log");
    expect(v.keyId).toBe(0xb5df45c5);
  });

  it("openNote verifies its signature, timestamp 0, over origin, size and root", () => {
    const opened = openNote(note, [vkey]);
    expect(opened.verified).toEqual(["example.com/mldsa-log"]);
    expect(opened.signatures[0]!.timestamp).toBe(0);
    const cp = parseCheckpoint(opened.text);
    expect([cp.origin, cp.size]).toEqual(["example.com/mldsa-log", 1n]);
  });

  it("a changed root or size fails the signature", () => {
    const root = "+zoErtsZtGO6sfiSV/v4UJSIyowisE8hvjw0q5+bD38=";
    const forged = note.replace(root, Buffer.alloc(32, 7).toString("base64"));
    expect(() => openNote(forged, [vkey])).toThrow(NoteError);
    expect(() => openNote(note.replace("\n1\n", "\n2\n"), [vkey])).toThrow(/invalid signature/);
  });
});
