/** Hostile input for updates: archives, manifests, witness requests and rule text. */
import { describe, expect, it } from "vitest";
import { MerkleTree, formatCheckpoint, generateKey, signNote } from "@vigil/tlog";
import {
  UpdateError,
  Witness,
  addCheckpointBody,
  auditRules,
  buildBundle,
  parseManifest,
  encodeManifest,
  readTar,
  openBundle,
} from "@vigil/updates";
import { tempDir } from "./helpers.js";

function rng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return Math.floor((s / 2 ** 32) * n);
  };
}

describe("fuzzing update inputs", () => {
  const key = generateKey("fuzz.example/pub");
  const b = buildBundle(
    [
      {
        path: "a.yar",
        data: new Uint8Array(Buffer.from('rule A { strings: $a = "fuzz target string" condition: $a }\n')),
      },
    ],
    { name: "rules", version: 1, previous: "" },
    key.signerKey,
  );

  it("mutated archives give UpdateError or the verified files, never a crash", () => {
    const rand = rng(5);
    for (let i = 0; i < 2000; i++) {
      const t = Buffer.from(b.archive);
      for (let k = 0; k < 1 + rand(4); k++) t[rand(t.length)] = rand(256);
      const cut = rand(4) === 0 ? t.subarray(0, rand(t.length)) : t;
      try {
        readTar(cut);
        const opened = openBundle(cut, b.signedManifest);
        expect(opened.files.length).toBe(1);
      } catch (e) {
        expect(e).toBeInstanceOf(UpdateError);
      }
    }
  });

  it("mutated manifests are refused with UpdateError", () => {
    const rand = rng(6);
    const text = encodeManifest(b.manifest);
    for (let i = 0; i < 2000; i++) {
      const chars = [...text];
      chars[rand(chars.length)] = String.fromCharCode(32 + rand(95));
      const m = chars.join("");
      try {
        expect(encodeManifest(parseManifest(m))).toBe(m);
      } catch (e) {
        expect(e).toBeInstanceOf(UpdateError);
      }
    }
  });

  it("a witness answers garbage with 4xx, never 500", async () => {
    const log = generateKey("fuzz.example/log");
    const w = new Witness({
      key: generateKey("fuzz.example/w", "cosignature").signerKey,
      stateDir: await tempDir("vigil-fz-"),
      logs: [{ origin: "fuzz.example/log", keys: [log.verifierKey] }],
    });
    const tree = new MerkleTree();
    for (const x of ["a", "b", "c"]) tree.append(x);
    const good = addCheckpointBody(
      0n,
      [],
      signNote(formatCheckpoint({ origin: "fuzz.example/log", size: 3n, rootHash: tree.root() }), log.signerKey),
    );
    const rand = rng(7);
    const seen = new Set<number>();
    for (let i = 0; i < 1500; i++) {
      const chars = [...good];
      for (let k = 0; k < 1 + rand(3); k++)
        chars.splice(rand(chars.length), rand(2), ["\n", " ", "A", "\u2014", "0", "=", ""][rand(7)]!);
      const r = await w.addCheckpoint(chars.join(""));
      seen.add(r.status);
      expect([200, 400, 403, 404, 409, 422]).toContain(r.status);
    }
    expect(seen.has(400)).toBe(true);
  });

  it("the auditor never throws on random rule text", () => {
    const rand = rng(8);
    const alphabet =
      'rule {}:$="\\/ abc0123 condition strings and or not of them wide nocase xor base64 ()[]-+*\n\x00\xff';
    for (let i = 0; i < 500; i++) {
      const s = Array.from({ length: rand(300) }, () => alphabet[rand(alphabet.length)]).join("");
      const f = auditRules(s);
      expect(Array.isArray(f)).toBe(true);
    }
  });
});
