import { describe, expect, it } from "vitest";
import {
  NoteError,
  cosignCheckpoint,
  cosignatureLine,
  formatCheckpoint,
  generateKey,
  keyId,
  openNote,
  parseCheckpoint,
  parseSignerKey,
  parseVerifierKey,
  rootHash,
  signNote,
  verifierKeyOf,
  leafHash,
  withKeyType,
} from "@vigil/tlog";

// Vectors from golang.org/x/mod/sumdb/note's tests (Ed25519 is deterministic, so Sign is reproducible).
const peterV = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const peterS = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const enochV = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const peterSig =
  "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const enochSig =
  "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof NoteError) return e.code;
    throw e;
  }
  return undefined;
}

describe("keys", () => {
  it("parses Go verifier and signer keys", () => {
    const v = parseVerifierKey(peterV);
    expect(v.name).toBe("PeterNeumann");
    expect(v.keyId).toBe(0xc74f20a3);
    expect(v.type).toBe(1);
    expect(v.publicKey.length).toBe(32);
    const s = parseSignerKey(peterS);
    expect(s.keyId).toBe(0xc74f20a3);
    expect(s.publicKey).toEqual(v.publicKey);
    expect(verifierKeyOf(peterS)).toBe(peterV);
  });

  it("rejects every truncation and every single-character change of a verifier key", () => {
    for (let i = 0; i <= peterV.length; i++) {
      for (let j = i + 1; j <= peterV.length; j++) {
        if (i === 0 && j === peterV.length) continue;
        expect(code(() => parseVerifierKey(peterV.slice(i, j)))).toBe("MALFORMED");
      }
    }
    for (let i = 0; i < peterV.length; i++) {
      const changed = peterV.slice(0, i) + String.fromCharCode(peterV.charCodeAt(i) + 1) + peterV.slice(i + 1);
      expect(() => parseVerifierKey(changed)).toThrow(NoteError);
    }
    expect(() =>
      parseVerifierKey("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="),
    ).toThrow(/32 bytes/);
    expect(() => parseVerifierKey("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")).toThrow(
      /key type/,
    );
  });

  it("accepts published type 0x01 and 0x04 verifier keys and rejects bad ones", () => {
    // from transparency-dev/formats note tests (a real witness key and a note key)
    const remora = parseVerifierKey("remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2");
    expect(remora.type).toBe(4);
    expect(remora.keyId).toBe(0xda77ade7);
    expect(parseVerifierKey("TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6").type).toBe(1);
    expect(code(() => parseVerifierKey("bananas.sigstore.dev+12344556"))).toBe("MALFORMED");
    expect(code(() => parseVerifierKey("rekor.sigstore.dev+12345678+THIS_IS_NOT_BASE64!"))).toBe("MALFORMED");
    expect(code(() => parseVerifierKey("rekor.sigstore.dev+12345678+AwEB"))).toBe("MALFORMED");
    expect(code(() => parseVerifierKey("remora.n621.de+00000000+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"))).toBe(
      "MALFORMED",
    );
    expect(
      code(() => parseVerifierKey("remora.n621.de+NOT_A_NUMBER+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2")),
    ).toBe("MALFORMED");
  });

  it("rejects mangled signer keys", () => {
    for (let i = 0; i < peterS.length; i++) {
      const changed = peterS.slice(0, i) + String.fromCharCode(peterS.charCodeAt(i) + 1) + peterS.slice(i + 1);
      expect(() => parseSignerKey(changed)).toThrow(NoteError);
    }
    expect(() => parseSignerKey(peterS.slice(0, -4))).toThrow(NoteError);
  });

  it("generates self-consistent keys in Go's formats", () => {
    const { signerKey, verifierKey } = generateKey("example.com/log");
    expect(signerKey).toMatch(/^PRIVATE\+KEY\+example\.com\/log\+[0-9a-f]{8}\+A[A-Za-z0-9+/]{43}$/);
    expect(verifierKey).toMatch(/^example\.com\/log\+[0-9a-f]{8}\+A[A-Za-z0-9+/]{43}$/);
    expect(verifierKeyOf(signerKey)).toBe(verifierKey);
    const note = signNote("hello\n", signerKey);
    expect(openNote(note, [verifierKey]).verified).toEqual(["example.com/log"]);
    expect(() => generateKey("bad name")).toThrow(NoteError);
    expect(() => generateKey("a+b")).toThrow(NoteError);
    expect(() => generateKey("")).toThrow(NoteError);
  });

  it("computes key IDs as SHA-256(name || 0x0A || type || key)[:4]", () => {
    const v = parseVerifierKey(peterV);
    expect(keyId("PeterNeumann", 1, v.publicKey)).toBe(0xc74f20a3);
    expect(keyId("PeterNeumann", 4, v.publicKey)).not.toBe(0xc74f20a3);
    const w = withKeyType(peterS, 4);
    expect(parseVerifierKey(w.verifierKey).keyId).toBe(keyId("PeterNeumann", 4, v.publicKey));
    expect(w.verifierKey.split("+")[2]!.startsWith("B")).toBe(true); // base64 of 0x04...
  });
});

describe("signNote", () => {
  it("reproduces Go's signature byte for byte", () => {
    expect(signNote(text, [peterS])).toBe(text + "\n" + peterSig);
    expect(signNote(text, peterS)).toBe(text + "\n" + peterSig);
  });

  it("refuses text that Open could not read back", () => {
    expect(code(() => signNote("abc", peterS))).toBe("MALFORMED");
    expect(code(() => signNote("a\tb\n", peterS))).toBe("MALFORMED");
    expect(code(() => signNote("a\ud800\n", peterS))).toBe("MALFORMED");
  });
});

describe("openNote (golang.org/x/mod note.Open semantics)", () => {
  it("verifies one signature and ignores an unknown one", () => {
    const n = openNote(text + "\n" + peterSig + enochSig, [peterV]);
    expect(n.text).toBe(text);
    expect(n.verified).toEqual(["PeterNeumann"]);
    expect(n.signatures.map((s) => s.keyId)).toEqual([0xc74f20a3]);
    expect(n.unverified.map((s) => [s.name, s.keyId])).toEqual([["EnochRoot", 0xaf0cfe78]]);
  });

  it("verifies both when both keys are known", () => {
    const n = openNote(text + "\n" + peterSig + enochSig, [peterV, enochV]);
    expect(n.verified).toEqual(["PeterNeumann", "EnochRoot"]);
    expect(n.unverified).toEqual([]);
  });

  it("throws unverified when no key is known, keeping the parsed note", () => {
    try {
      openNote(text + "\n" + peterSig + enochSig, []);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(NoteError);
      expect((e as NoteError).code).toBe("UNVERIFIED");
      expect((e as NoteError).note?.text).toBe(text);
      expect((e as NoteError).note?.unverified.length).toBe(2);
    }
  });

  it("ignores a signature whose name or key ID alone matches", () => {
    const wrongName = peterSig.replace("PeterNeumann", "PeterNeuman");
    expect(code(() => openNote(text + "\n" + wrongName, [peterV]))).toBe("UNVERIFIED");
  });

  it("rejects an ambiguous key list only when the ambiguous key signed", () => {
    expect(() => openNote(text + "\n" + enochSig, [enochV, peterV, enochV])).toThrow(
      /ambiguous key EnochRoot\+af0cfe78/,
    );
    expect(openNote(text + "\n" + peterSig, [enochV, peterV, enochV]).verified).toEqual(["PeterNeumann"]);
  });

  it("rejects more than 100 signatures", () => {
    expect(code(() => openNote(text + "\n" + peterSig.repeat(101), [peterV]))).toBe("MALFORMED");
    expect(code(() => openNote(text + "\n" + peterSig.repeat(101), []))).toBe("MALFORMED");
    expect(openNote(text + "\n" + peterSig.repeat(100), [peterV]).verified).toEqual(["PeterNeumann"]);
  });

  it("rejects a bad signature by a known key", () => {
    const bad = peterSig.slice(0, 60) + "ABCD" + peterSig.slice(60);
    expect(code(() => openNote(text + "\n" + bad, [peterV]))).toBe("INVALID_SIGNATURE");
    expect(() => openNote(text + "\n" + bad, [peterV])).toThrow(/invalid signature for key PeterNeumann\+c74f20a3/);
    // altered text
    expect(code(() => openNote(text.replace("think", "thunk") + "\n" + peterSig, [peterV]))).toBe("INVALID_SIGNATURE");
  });

  it("drops duplicated signatures, verified and unverified", () => {
    const enochABCD = enochSig.slice(0, 60) + "ABCD" + enochSig.slice(60);
    const n = openNote(text + "\n" + peterSig + peterSig + enochSig + enochSig + enochABCD, [peterV]);
    expect(n.verified).toEqual(["PeterNeumann"]);
    expect(n.unverified.length).toBe(2);
    // a repeat of a known key is dropped before verification, as Go does
    const badPeter = peterSig.slice(0, 60) + "ABCD" + peterSig.slice(60);
    expect(openNote(text + "\n" + peterSig + badPeter, [peterV]).verified).toEqual(["PeterNeumann"]);
  });

  it("rejects malformed messages", () => {
    const bad = [
      text,
      text + "\n",
      text + "\n" + peterSig.slice(0, -1),
      "\x01" + text + "\n" + peterSig,
      text +
        "\n" +
        "\u2014 Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
      text + "\n" + peterSig + "Unexpected line.\n",
      text + "\n" + "\u2014 PeterNeumann\n",
      text + "\n" + "\u2014 PeterNeumann AAAA\n", // fewer than 5 bytes
      text + "\n" + "\u2014 PeterNeumann x08go!ZJ\n",
      text + "\n" + "- PeterNeumann " + peterSig.split(" ")[2],
    ];
    for (const m of bad) expect(code(() => openNote(m, [peterV]))).toBe("MALFORMED");
    // invalid UTF-8 as bytes
    const bytes = Buffer.concat([Buffer.from([0xff]), Buffer.from(text + "\n" + peterSig)]);
    expect(code(() => openNote(bytes, [peterV]))).toBe("MALFORMED");
    expect(openNote(Buffer.from(text + "\n" + peterSig), [peterV]).text).toBe(text);
  });

  it("takes the text up to the last blank line (the text may contain blank lines)", () => {
    const t = "a\n\nb\n";
    const note = signNote(t, peterS);
    expect(openNote(note, [peterV]).text).toBe(t);
  });
});

describe("checkpoints and cosignatures", () => {
  const root = rootHash([leafHash("a"), leafHash("b")]);
  const cpText = formatCheckpoint({ origin: "example.com/log", size: 2n, rootHash: root, extensions: [] });
  const log = generateKey("example.com/log");
  const w1 = generateKey("witness.example/w1", "cosignature");
  const w2 = generateKey("witness.example/w2", 4);

  it("formats and parses a checkpoint", () => {
    expect(cpText).toBe(`example.com/log\n2\n${Buffer.from(root).toString("base64")}\n`);
    const cp = parseCheckpoint(cpText);
    expect(cp).toEqual({ origin: "example.com/log", size: 2n, rootHash: root, extensions: [] });
    const withExt = formatCheckpoint("example.com/log", 2n, root, ["ext one", "ext two"]);
    expect(parseCheckpoint(withExt).extensions).toEqual(["ext one", "ext two"]);
    // the C2SP example checkpoint
    const ex = parseCheckpoint("example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n");
    expect(ex.size).toBe(20852163n);
    expect(parseCheckpoint(`o\n18446744073709551615\n${Buffer.from(root).toString("base64")}\n`).size).toBe(
      2n ** 64n - 1n,
    );
    expect(parseCheckpoint(`o\n0\n${Buffer.from(root).toString("base64")}\n`).size).toBe(0n);
  });

  it("rejects checkpoints the spec forbids", () => {
    const r = Buffer.from(root).toString("base64");
    const bad = [
      `o\n2\n${r}`, // no final newline
      `o\n2\n`, // two lines
      `\n2\n${r}\n`, // empty origin
      `o\n02\n${r}\n`, // leading zero
      `o\n+2\n${r}\n`,
      `o\n-2\n${r}\n`,
      `o\n2.0\n${r}\n`,
      `o\n 2\n${r}\n`,
      `o\n18446744073709551616\n${r}\n`, // 2^64
      `o\n2\n${r.slice(0, -1)}\n`, // bad padding
      `o\n2\n${Buffer.alloc(31).toString("base64")}\n`, // 31 bytes
      `o\n2\n${Buffer.alloc(33).toString("base64")}\n`,
      `o\n2\n${r.replace(/\+/g, "-").replace(/\//g, "_")}x\n`,
      `o\n2\n${r}\n\n`, // empty extension line
      `o\n2\n${r}\n\n\u2014 sig AAAA\n`, // a signed note, not its text
      `o\r\n2\n${r}\n`,
    ];
    for (const b of bad) expect(() => parseCheckpoint(b), JSON.stringify(b)).toThrow();
    // non-canonical base64 (non-zero trailing bits)
    const noncanon = r.slice(0, 42) + String.fromCharCode(r.charCodeAt(42) + 1) + "=";
    expect(() => parseCheckpoint(`o\n2\n${noncanon}\n`)).toThrow();
    expect(() => formatCheckpoint({ origin: "", size: 1n, rootHash: root })).toThrow();
    expect(() => formatCheckpoint({ origin: "o", size: -1n, rootHash: root })).toThrow();
    expect(() => formatCheckpoint({ origin: "o", size: 1n, rootHash: root.subarray(1) })).toThrow();
    expect(() => formatCheckpoint({ origin: "o", size: 1n, rootHash: root, extensions: [""] })).toThrow();
  });

  it("cosigns with key type 0x04, a 76-byte line and the timestamp exposed", () => {
    const signed = signNote(cpText, log.signerKey);
    const cosigned = cosignCheckpoint(signed, w1.signerKey, 1679315147);
    const line = cosigned.slice(signed.length);
    expect(line.startsWith("\u2014 witness.example/w1 ")).toBe(true);
    expect(Buffer.from(line.trim().split(" ")[2]!, "base64").length).toBe(76);
    const n = openNote(cosigned, [log.verifierKey, w1.verifierKey]);
    expect(n.verified).toEqual(["example.com/log", "witness.example/w1"]);
    expect(n.signatures[1]!.timestamp).toBe(1679315147);
    expect(n.signatures[1]!.timestampBig).toBe(1679315147n);
    expect(n.signatures[0]!.timestamp).toBeUndefined();
    // bare text gives a note with just the cosignature
    const only = cosignCheckpoint(cpText, w2.signerKey, 5n);
    expect(openNote(only, [w2.verifierKey]).signatures[0]!.timestamp).toBe(5);
    expect(cosignatureLine(cpText, w2.signerKey, 5n)).toBe(only.slice(cpText.length + 1));
  });

  it("lays out a cosignature as key ID, big-endian u64 timestamp, signature (76 bytes)", () => {
    // the timestamp of a published cosignature (transparency-dev/formats tests): 1727964367
    const raw = Buffer.from(
      "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==",
      "base64",
    );
    expect(raw.length).toBe(76);
    expect(raw.readBigUInt64BE(4)).toBe(1727964367n);
    const cos = cosignCheckpoint(cpText, w1.signerKey, 1727964367);
    const mine = Buffer.from(cos.trim().split("\n").pop()!.split(" ")[2]!, "base64");
    expect(mine.length).toBe(76);
    expect(mine.readUInt32BE(0)).toBe(parseVerifierKey(w1.verifierKey).keyId);
    expect(mine.readBigUInt64BE(4)).toBe(1727964367n);
  });

  it("verifies a cosignature produced by another implementation (sunlight's witness test data)", () => {
    const note =
      "rome2026h1.example.org\n300\nlCkHUpkmVBEms2r2T1K6Og69+wUuuN3MIEW1/ezu2v0=\n\n" +
      "\u2014 rome2026h1.example.org kVB1JgAAAZtxtEwABAMARzBFAiEAi+mTa2xjL1IdWpH82OeciGsGvwRAP+f1WkfKaSZCfFECIHoNPZ/Q3y6UNzvKOO9cuLr6V16vPNfhwhle9f6r5H/Z\n" +
      "\u2014 witness.example.org uKLPIAAAAABpVGeAhm2bOvKc3LaB9PFN1ruG19Y5yqslmcAAbhftnn1Zznmo0LXFZq4LGvqKqLX8jWlwLKasxEGTLIqAVusneCBmBw==\n";
    const vkey = "witness.example.org+b8a2cf20+BFLN3yikSfFkVAJtrnh/CiY3Zozkoy7clp+P7XB28qUN";
    const n = openNote(note, [vkey]);
    expect(n.verified).toEqual(["witness.example.org"]);
    expect(n.signatures[0]!.timestamp).toBe(1767139200);
    expect(n.unverified.map((u) => u.name)).toEqual(["rome2026h1.example.org"]); // a type 0x05 log signature we do not know
    expect(parseCheckpoint(n.text).size).toBe(300n);
    expect(code(() => openNote(note.replace("\n300\n", "\n301\n"), [vkey]))).toBe("INVALID_SIGNATURE");
  });

  it("signs the cosignature/v1 message, so a changed timestamp or checkpoint fails", () => {
    const cosigned = cosignCheckpoint(cpText, w1.signerKey, 1000);
    const [, , b64] = cosigned
      .slice(cpText.length + 1)
      .trim()
      .split(" ");
    const raw = Buffer.from(b64!, "base64");
    raw.writeBigUInt64BE(1001n, 4);
    const tampered = cpText + "\n" + `\u2014 witness.example/w1 ${raw.toString("base64")}\n`;
    expect(code(() => openNote(tampered, [w1.verifierKey]))).toBe("INVALID_SIGNATURE");
    const otherRoot = cpText.replace("\n2\n", "\n3\n");
    expect(code(() => openNote(otherRoot + cosigned.slice(cpText.length), [w1.verifierKey]))).toBe("INVALID_SIGNATURE");
    // a timestamp above 2^63-1 is invalid
    raw.writeBigUInt64BE(1n << 63n, 4);
    expect(
      code(() => openNote(cpText + "\n" + `\u2014 witness.example/w1 ${raw.toString("base64")}\n`, [w1.verifierKey])),
    ).toBe("INVALID_SIGNATURE");
    expect(() => cosignCheckpoint(cpText, w1.signerKey, -1)).toThrow();
    expect(() => cosignCheckpoint(cpText, w1.signerKey, 1n << 63n)).toThrow();
    expect(() => cosignCheckpoint("not a checkpoint\n", w1.signerKey, 1)).toThrow();
  });

  it("a cosigner key is not a note key: type 0x01 and 0x04 have different key IDs", () => {
    // the same Ed25519 key under type 0x04 does not verify a plain signature, and vice versa
    const as4 = withKeyType(log.signerKey, 4);
    const signed = signNote(cpText, log.signerKey);
    expect(code(() => openNote(signed, [as4.verifierKey]))).toBe("UNVERIFIED");
    const cos = cosignCheckpoint(cpText, log.signerKey, 7); // type 0x01 key used as cosigner
    expect(openNote(cos, [as4.verifierKey]).signatures[0]!.timestamp).toBe(7);
    expect(code(() => openNote(cos, [log.verifierKey]))).toBe("UNVERIFIED");
  });
});
