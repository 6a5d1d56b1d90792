import { mkdtempSync, writeFileSync, existsSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { needs } from "@vigil/test-kit";
import { hashModule } from "../../src/modules/hash/index.js";
import { callFn, fileContext, makeContext } from "./context.js";
import { checkWithVigil, checkWithYara, type FunctionCase } from "./yara-dump.js";

const noYara = needs("hash module vs yara 4.2.3", { tools: ["yara"] });

const decl = hashModule.declarations;
const files: string[] = [];

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), "vigil-hash-"));
  const gen: Array<[string, Uint8Array]> = [
    ["empty", new Uint8Array(0)],
    ["one", Uint8Array.of(0xab)],
    ["all-bytes", Uint8Array.from({ length: 1024 }, (_, i) => i & 0xff)],
    ["random", new Uint8Array(randomBytes(70_001))],
  ];
  for (const [name, bytes] of gen) {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    files.push(p);
  }
  for (const p of [
    "/usr/bin/ls",
    "/usr/bin/true",
    "/usr/share/clamav-testfiles/clam.exe",
    "/usr/share/clamav-testfiles/clam.pdf",
    "/usr/share/clamav-testfiles/clam.zip",
  ])
    if (existsSync(p)) files.push(p);
});

function rangeCases(size: number): Array<[string, number, number]> {
  return [
    ["0, filesize", 0, size],
    ["0, filesize + 100", 0, size + 100],
    ["0, 0", 0, 0],
    ["1, 10", 1, 10],
    ["filesize - 1, 10", size - 1, 10],
    ["filesize, 0", size, 0],
    ["filesize, 1", size, 1],
    ["-1, 10", -1, 10],
    ["0, -1", 0, -1],
    ["filesize \\ 2, filesize", Math.floor(size / 2), size],
  ];
}

describe("hash module against yara 4.2.3", () => {
  test.skipIf(noYara)(
    "range functions agree with yara, and with rules run by Vigil's engine, on every case",
    async () => {
      let checked = 0;
      for (const file of files) {
        const ctx = fileContext(file);
        const cases: FunctionCase[] = [];
        for (const [args, off, len] of rangeCases(ctx.data.length)) {
          for (const f of ["md5", "sha1", "sha256"]) {
            cases.push({ expr: `hash.${f}(${args})`, value: callFn(decl, f, "ii", {}, ctx, off, len), kind: "string" });
          }
          for (const f of ["checksum32", "crc32"]) {
            cases.push({
              expr: `hash.${f}(${args})`,
              value: callFn(decl, f, "ii", {}, ctx, off, len),
              kind: "integer",
            });
          }
        }
        expect(checkWithYara(["hash"], file, cases), file).toEqual([]);
        expect(await checkWithVigil(["hash"], ctx.data, cases), file).toEqual([]);
        checked += cases.length;
      }
      expect(checked).toBeGreaterThan(200);
    },
  );

  test.skipIf(noYara)(
    "string functions agree with yara and Vigil's engine, including bytes above 0x7f and NUL",
    async () => {
      const ctx = makeContext("x");
      const strings = ["", "abc", "123456789", '\x00\x01\xff\x80 "\\', "\xff".repeat(300)];
      const cases: FunctionCase[] = [];
      for (const s of strings) {
        const yaraLit = [...s].map((c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`).join("");
        for (const f of ["md5", "sha1", "sha256"])
          cases.push({ expr: `hash.${f}("${yaraLit}")`, value: callFn(decl, f, "s", {}, ctx, s), kind: "string" });
        for (const f of ["checksum32", "crc32"])
          cases.push({ expr: `hash.${f}("${yaraLit}")`, value: callFn(decl, f, "s", {}, ctx, s), kind: "integer" });
      }
      expect(checkWithYara(["hash"], files[0]!, cases)).toEqual([]);
      expect(await checkWithVigil(["hash"], new Uint8Array(0), cases)).toEqual([]);
    },
  );
});

describe("hash module", () => {
  test("known vectors", () => {
    const ctx = makeContext("123456789");
    expect(callFn(decl, "crc32", "s", {}, ctx, "123456789")).toBe(0xcbf43926);
    expect(callFn(decl, "crc32", "ii", {}, ctx, 0, 9)).toBe(0xcbf43926);
    expect(callFn(decl, "md5", "s", {}, ctx, "")).toBe("d41d8cd98f00b204e9800998ecf8427e");
    expect(callFn(decl, "sha1", "s", {}, ctx, "abc")).toBe("a9993e364706816aba3e25717850c26c9cd0d89d");
    expect(callFn(decl, "checksum32", "s", {}, ctx, "\xff\xff")).toBe(510);
    expect(callFn(decl, "sha256", "ii", {}, ctx, 0, 3)).toBe(
      "a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3",
    );
  });

  test("range digests are cached per scan and reused", () => {
    const ctx = makeContext("hello world");
    const a = callFn(decl, "md5", "ii", {}, ctx, 0, 11);
    expect(ctx.cache.get("hash:md5:0:11")).toBe(a);
    ctx.cache.set("hash:md5:0:11", "cached");
    expect(callFn(decl, "md5", "ii", {}, ctx, 0, 11)).toBe("cached");
    // a different range is a different entry
    expect(callFn(decl, "md5", "ii", {}, ctx, 0, 5)).toBe("5d41402abc4b2a76b9719d911017c592");
  });

  test("checksum32 wraps modulo 2^32 and bigint arguments work", () => {
    const big = new Uint8Array(17_000_000).fill(0xff); // sum 4.335e9 > 2^32
    const ctx = makeContext(big);
    expect(callFn(decl, "checksum32", "ii", {}, ctx, 0n, BigInt(big.length))).toBe((0xff * big.length) % 2 ** 32);
    expect(callFn(decl, "md5", "ii", {}, ctx, 2n ** 62n, 1)).toBeUndefined();
  });
});
