import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, readdirSync, rmSync, truncateSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ClamavError,
  loadClamavDatabase,
  loadStores,
  locateSigset,
  readSigsetParts,
  serializeStores,
  sigsetPath,
  storeSignatureCount,
  writeSigset,
} from "../src/index.js";

const work = mkdtempSync(join(tmpdir(), "vigil-sigset-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const NAMES = ["rules", "hashes", "sections", "allow", "bodies"] as const;

describe("the compiled-signature cache file", () => {
  it("round-trips a database's stores and header fields into shared memory", () => {
    const db = join(work, "t.ndb");
    writeFileSync(db, "Cache.Body-1:0:*:6162636465\n");
    const hdb = join(work, "t.hdb");
    writeFileSync(hdb, "0cc175b9c0f1b6a831c399e269772661:1:Cache.Hash-1\n");
    const set = loadClamavDatabase([db, hdb], { nativeBodies: true });
    const stores = { hashes: set.hashes, sections: set.sectionHashes, allow: set.allow, bodies: set.bodies };
    const file = sigsetPath(join(work, "cache"), "ab12");
    writeSigset(
      file,
      "ab12",
      { signatures: 2, note: "x" },
      NAMES.map((name) => ({
        name,
        chunks: name === "rules" ? [Uint8Array.of(1, 2), Uint8Array.of(3)] : serializeStores(stores)[name as "hashes"],
      })),
    );

    expect(locateSigset(file, "other-key", NAMES)).toBeUndefined();
    const loc = locateSigset<{ signatures: number; note: string }>(file, "ab12", NAMES)!;
    expect(loc.fields).toEqual({ signatures: 2, note: "x" });
    // empty stores (sections, allow) are left out of the file
    expect(loc.parts.map((p) => p.name)).toEqual(["rules", "hashes", "bodies"]);
    const parts = readSigsetParts(loc);
    expect([...parts.rules!]).toEqual([1, 2, 3]);
    expect(parts.bodies!.buffer).toBeInstanceOf(SharedArrayBuffer);
    const back = loadStores(parts);
    expect(storeSignatureCount(back)).toBe(2);
    expect(back.bodies!.scan(Buffer.from("xxabcdexx")).length).toBe(1);
    expect(back.hashes!.lookupDigest("md5", Buffer.from("0cc175b9c0f1b6a831c399e269772661", "hex"), 1)?.name).toBe(
      "Cache.Hash-1.UNOFFICIAL",
    );
  });

  it("ignores files that are not sets or name unknown parts, and refuses one that shrank after it was located", () => {
    const dir = join(work, "bad");
    const file = sigsetPath(dir, "k");
    writeSigset(file, "k", {}, [{ name: "rules", chunks: [new Uint8Array(1000)] }]);
    expect(locateSigset(file, "k", ["bodies"])).toBeUndefined();
    const loc = locateSigset(file, "k", ["rules"])!;
    truncateSync(file, loc.size - 10);
    let err: unknown;
    try {
      readSigsetParts(loc);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ClamavError);
    expect((err as ClamavError).code).toBe("SIGDB_CACHE_CHANGED");
    // located again, the shortened file is no set at all
    expect(locateSigset(file, "k", ["rules"])).toBeUndefined();
    writeFileSync(join(dir, "signatures-ff.bin"), "not a set");
    expect(locateSigset(join(dir, "signatures-ff.bin"), "ff", ["rules"])).toBeUndefined();
  });

  it("keeps the 8 most recent sets in a directory", () => {
    const dir = join(work, "many");
    for (let i = 0; i < 11; i++) {
      const file = sigsetPath(dir, `a${i}`);
      writeSigset(file, `a${i}`, {}, [{ name: "rules", chunks: [Uint8Array.of(i)] }]);
      utimesSync(file, 1_000_000 + i, 1_000_000 + i);
    }
    writeSigset(sigsetPath(dir, "b"), "b", {}, [{ name: "rules", chunks: [Uint8Array.of(9)] }]);
    const left = readdirSync(dir).sort();
    expect(left).toHaveLength(8);
    expect(left).toContain("signatures-b.bin");
    expect(left).not.toContain("signatures-a0.bin");
  });
});
