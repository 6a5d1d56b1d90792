/** Hostile input: random and mutated notes, checkpoints, tiles and proofs give clear errors or false, never a crash. */
import { describe, expect, it } from "vitest";
import {
  NoteError,
  TlogError,
  decodeEntryBundle,
  decodeHashTile,
  formatCheckpoint,
  generateKey,
  leafHash,
  openNote,
  parseCheckpoint,
  rootHash,
  signNote,
  verifyConsistency,
  verifyInclusion,
  cosignCheckpoint,
} from "@vigil/tlog";

function rng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return Math.floor((s / 2 ** 32) * n);
  };
}

function mutate(s: string, rand: (n: number) => number): string {
  const chars = [...s];
  const ops = 1 + rand(4);
  for (let k = 0; k < ops; k++) {
    const i = rand(chars.length + 1);
    const pick = [
      "\n",
      " ",
      "\u2014",
      "+",
      "=",
      "A",
      "\u0000",
      "\t",
      "\ud800",
      "0",
      "\u00e9",
      String.fromCharCode(rand(0x3000)),
    ][rand(12)]!;
    const op = rand(3);
    if (op === 0) chars.splice(i, 1);
    else if (op === 1) chars.splice(i, 0, pick);
    else chars[i] = pick;
  }
  return chars.join("");
}

describe("fuzzing tlog inputs", () => {
  const log = generateKey("fuzz.example/log");
  const w = generateKey("fuzz.example/w", "cosignature");
  const text = formatCheckpoint({
    origin: "fuzz.example/log",
    size: 5n,
    rootHash: rootHash([leafHash("a")]),
    extensions: ["ext"],
  });
  const note = cosignCheckpoint(signNote(text, log.signerKey), w.signerKey, 1_700_000_000);

  it("openNote only ever returns or throws NoteError on mutated notes", () => {
    const rand = rng(1);
    let opened = 0;
    for (let i = 0; i < 3000; i++) {
      const m = mutate(note, rand);
      try {
        const r = openNote(m, [log.verifierKey, w.verifierKey]);
        expect(r.verified.length).toBeGreaterThan(0);
        opened++;
      } catch (e) {
        expect(e).toBeInstanceOf(NoteError);
      }
    }
    // a mutation that leaves the signed text and lines intact may still open; most must not
    expect(opened).toBeLessThan(3000);
    const bytes = new Uint8Array(4096);
    for (let i = 0; i < 300; i++) {
      for (let j = 0; j < bytes.length; j++) bytes[j] = rand(256);
      expect(() => openNote(bytes.subarray(0, rand(4096)), [log.verifierKey])).toThrow(NoteError);
    }
  });

  it("parseCheckpoint only ever returns or throws TlogError", () => {
    const rand = rng(2);
    for (let i = 0; i < 3000; i++) {
      const m = mutate(text, rand);
      try {
        const cp = parseCheckpoint(m);
        expect(cp.rootHash.length).toBe(32);
      } catch (e) {
        expect(e).toBeInstanceOf(TlogError);
      }
    }
    expect(() => parseCheckpoint("o\n" + "9".repeat(100000) + "\nAAAA\n")).toThrow(TlogError);
  });

  it("tile and bundle decoders reject random bytes with TlogError", () => {
    const rand = rng(3);
    for (let i = 0; i < 2000; i++) {
      const b = Uint8Array.from({ length: rand(9000) }, () => rand(256));
      for (const f of [() => decodeHashTile(b), () => decodeEntryBundle(b), () => decodeEntryBundle(b, 3)]) {
        try {
          f();
        } catch (e) {
          expect(e).toBeInstanceOf(TlogError);
        }
      }
    }
  });

  it("verification returns false on random proofs and sizes", () => {
    const rand = rng(4);
    const h = () => Uint8Array.from({ length: 32 }, () => rand(256));
    for (let i = 0; i < 2000; i++) {
      const proof = Array.from({ length: rand(70) }, () => (rand(10) === 0 ? new Uint8Array(rand(40)) : h()));
      const size = BigInt(rand(1000)) * (rand(2) ? 1n : 1n << BigInt(rand(64)));
      expect(verifyInclusion(BigInt(rand(1000)), size, h(), proof, h())).toBe(false);
      expect(verifyConsistency(BigInt(rand(1000)), size, proof, h(), h())).toBe(false);
    }
  });
});
