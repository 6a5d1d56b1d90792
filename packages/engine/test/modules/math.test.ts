import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { needs } from "@vigil/test-kit";
import { mathModule } from "../../src/modules/math/index.js";
import { callFn, fileContext, makeContext } from "./context.js";
import { checkWithVigil, checkWithYara, type FunctionCase } from "./yara-dump.js";

const noYara = needs("math module vs yara 4.2.3", { tools: ["yara"] });

const decl = mathModule.declarations;
const files: string[] = [];

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), "vigil-math-"));
  const gen: Array<[string, Uint8Array]> = [
    ["empty", new Uint8Array(0)],
    ["one", Uint8Array.of(0x80)],
    ["five", Uint8Array.of(1, 2, 3, 4, 5)],
    ["zeros", new Uint8Array(4096)],
    ["all-bytes", Uint8Array.from({ length: 2048 }, (_, i) => (i * 7) & 0xff)],
    ["random", new Uint8Array(randomBytes(50_003))],
    ["text", new TextEncoder().encode("The quick brown fox jumps over the lazy dog. ".repeat(200))],
  ];
  for (const [name, bytes] of gen) {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    files.push(p);
  }
  for (const p of [
    "/usr/bin/ls",
    "/usr/lib/x86_64-linux-gnu/libc.so.6",
    "/usr/share/clamav-testfiles/clam.exe",
    "/usr/share/clamav-testfiles/clam.pdf",
    "/usr/share/clamav-testfiles/clam.zip",
  ])
    if (existsSync(p)) files.push(p);
});

function ranges(size: number): Array<[string, number, number]> {
  return [
    ["0, filesize", 0, size],
    ["0, filesize + 7", 0, size + 7],
    ["0, 0", 0, 0],
    ["3, 100", 3, 100],
    ["filesize - 1, 1", size - 1, 1],
    ["filesize, 1", size, 1],
    ["-1, 10", -1, 10],
    ["0, -5", 0, -5],
    ["filesize \\ 3, filesize \\ 2", Math.floor(size / 3), Math.floor(size / 2)],
  ];
}

/**
 * serial_correlation as yara 4.2.3 computes it: it closes the cycle with last*last where YARA 4.3+
 * (and Vigil) use last*first, as `ent` does. Used only to check that the rest of the computation
 * (range handling, byte order, signedness) agrees with yara 4.2.3.
 */
function legacySerialCorrelation(v: number[]): number | undefined {
  let t1 = 0,
    t2 = 0,
    t3 = 0,
    last = 0,
    un = 0;
  for (const x of v) {
    un = x;
    t1 += last * un;
    t2 += un;
    t3 += un * un;
    last = un;
  }
  t1 += last * un;
  t2 *= t2;
  const d = v.length * t3 - t2;
  const r = d === 0 ? -100000 : (v.length * t1 - t2) / d;
  return Number.isNaN(r) ? undefined : r;
}

const f = (name: string, codes: string, ctx: ReturnType<typeof makeContext>, ...args: unknown[]) =>
  callFn(decl, name, codes, {}, ctx, ...args);

describe("math module against yara 4.2.3 (exact float equality)", () => {
  test.skipIf(noYara)(
    "range and global functions agree with yara and Vigil's engine on real and generated files",
    async () => {
      let checked = 0;
      for (const file of files) {
        const ctx = fileContext(file);
        const cases: FunctionCase[] = [];
        for (const [a, off, len] of ranges(ctx.data.length)) {
          for (const name of ["entropy", "mean", "monte_carlo_pi"]) {
            cases.push({ expr: `math.${name}(${a})`, value: f(name, "ii", ctx, off, len), kind: "float" });
          }
          const ours = f("serial_correlation", "ii", ctx, off, len);
          const r = ours === undefined ? undefined : [off, Math.min(off + len, ctx.data.length)];
          cases.push({
            expr: `math.serial_correlation(${a})`,
            value: r === undefined ? undefined : legacySerialCorrelation([...ctx.data.subarray(r[0], r[1])]),
            kind: "float",
          });
          for (const mean of [0, 89.5, 127.5, 255]) {
            cases.push({
              expr: `math.deviation(${a}, ${mean.toFixed(1)})`,
              value: f("deviation", "iif", ctx, off, len, mean),
              kind: "float",
            });
          }
          // bytes outside 0..255: yara 4.2.3 reads past its histogram; YARA 4.5 returns undefined (tested below).
          for (const byte of [0, 0x41, 0xff]) {
            cases.push({
              expr: `math.count(${byte}, ${a})`,
              value: f("count", "iii", ctx, byte, off, len),
              kind: "integer",
            });
            cases.push({
              expr: `math.percentage(${byte}, ${a})`,
              value: f("percentage", "iii", ctx, byte, off, len),
              kind: "float",
            });
          }
          cases.push({ expr: `math.mode(${a})`, value: f("mode", "ii", ctx, off, len), kind: "integer" });
        }
        for (const byte of [0, 0x20, 0x41, 0xff]) {
          cases.push({ expr: `math.count(${byte})`, value: f("count", "i", ctx, byte), kind: "integer" });
          cases.push({ expr: `math.percentage(${byte})`, value: f("percentage", "i", ctx, byte), kind: "float" });
        }
        cases.push({ expr: `math.mode()`, value: f("mode", "", ctx), kind: "integer" });
        expect(checkWithYara(["math"], file, cases), file).toEqual([]);
        // serial_correlation cases carry yara 4.2.3's value; Vigil follows YARA 4.3+ (see below)
        const mine = cases.filter((c) => !c.expr.startsWith("math.serial_correlation"));
        expect(await checkWithVigil(["math"], ctx.data, mine), file).toEqual([]);
        checked += cases.length;
      }
      expect(checked).toBeGreaterThan(1000);
    },
  );

  test.skipIf(noYara)(
    "string overloads agree with yara and Vigil's engine, high bytes as signed chars like yara on x86",
    async () => {
      const ctx = makeContext("");
      const strings = [
        "",
        "a",
        "abcdef",
        "\x80",
        "\xff\x00\x7f\x80\x81\x82",
        "\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4\xf3",
        "hello world, hello math",
        "\x01\x02\x03\x04\x05\x06\x07",
      ];
      const cases: FunctionCase[] = [];
      for (const s of strings) {
        const lit = `"${[...s].map((c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`).join("")}"`;
        for (const name of ["entropy", "mean", "monte_carlo_pi"]) {
          cases.push({ expr: `math.${name}(${lit})`, value: f(name, "s", ctx, s), kind: "float" });
        }
        const signed = [...s].map((c) => (c.charCodeAt(0) << 24) >> 24);
        cases.push({ expr: `math.serial_correlation(${lit})`, value: legacySerialCorrelation(signed), kind: "float" });
        cases.push({
          expr: `math.deviation(${lit}, 10.25)`,
          value: f("deviation", "sf", ctx, s, 10.25),
          kind: "float",
        });
      }
      expect(checkWithYara(["math"], files[2]!, cases)).toEqual([]);
      expect(
        await checkWithVigil(
          ["math"],
          new Uint8Array(0),
          cases.filter((c) => !c.expr.startsWith("math.serial_correlation")),
        ),
      ).toEqual([]);
    },
  );

  test.skipIf(noYara)(
    "integer helpers agree with yara and Vigil's engine (unsigned min/max, abs, to_number, in_range)",
    async () => {
      const ctx = makeContext("");
      const ints: Array<[string, bigint]> = [
        ["0", 0n],
        ["1", 1n],
        ["-1", -1n],
        ["-5", -5n],
        ["9223372036854775807", 2n ** 63n - 1n],
        ["(-9223372036854775807 - 1)", -(2n ** 63n)],
      ];
      const cases: FunctionCase[] = [];
      for (const [la, a] of ints) {
        cases.push({ expr: `math.abs(${la})`, value: f("abs", "i", ctx, a), kind: "integer" });
        cases.push({
          expr: `math.to_number(${la} == 0)`,
          value: f("to_number", "i", ctx, a === 0n ? 1 : 0),
          kind: "integer",
        });
        for (const [lb, b] of ints) {
          cases.push({ expr: `math.min(${la}, ${lb})`, value: f("min", "ii", ctx, a, b), kind: "integer" });
          cases.push({ expr: `math.max(${la}, ${lb})`, value: f("max", "ii", ctx, a, b), kind: "integer" });
        }
      }
      for (const [t, lo, hi] of [
        [1, 0, 2],
        [0, 0, 0],
        [2.5, 2.6, 3],
        [-1, -2, -1],
      ] as const) {
        cases.push({
          expr: `math.in_range(${t.toFixed(1)}, ${lo.toFixed(1)}, ${hi.toFixed(1)})`,
          value: f("in_range", "fff", ctx, t, lo, hi),
          kind: "integer",
        });
      }
      expect(checkWithYara(["math"], files[2]!, cases)).toEqual([]);
      expect(await checkWithVigil(["math"], new Uint8Array(0), cases)).toEqual([]);
    },
  );
});

describe("math module", () => {
  test("MEAN_BYTES and known values", () => {
    const ctx = makeContext(Uint8Array.from({ length: 256 }, (_, i) => i));
    expect(mathModule.load(ctx)).toEqual({ MEAN_BYTES: 127.5 });
    expect(f("entropy", "ii", ctx, 0, 256)).toBe(8);
    expect(f("mean", "ii", ctx, 0, 256)).toBe(127.5);
    expect(f("entropy", "s", ctx, "aaaa")).toBe(0);
    expect(f("percentage", "i", ctx, 0)).toBe(Math.fround(1 / 256));
  });

  // to_string is YARA 4.3+ (Debian's yara 4.2.3 does not have it): checked against YARA 4.5's documentation.
  test("to_string follows YARA 4.5's documentation (not in yara 4.2.3)", () => {
    const ctx = makeContext("");
    expect(f("to_string", "i", ctx, 123)).toBe("123");
    expect(f("to_string", "i", ctx, -123)).toBe("-123");
    expect(f("to_string", "ii", ctx, 32, 16)).toBe("20");
    expect(f("to_string", "ii", ctx, 8, 8)).toBe("10");
    expect(f("to_string", "ii", ctx, -1, 16)).toBe("ffffffffffffffff");
    expect(f("to_string", "ii", ctx, 10, 2)).toBeUndefined();
  });

  test("undefined ranges, empty strings and byte out of range", () => {
    const ctx = makeContext("abc");
    expect(f("entropy", "ii", ctx, 3, 1)).toBeUndefined();
    expect(f("monte_carlo_pi", "ii", ctx, 0, 3)).toBeUndefined(); // fewer than 6 bytes
    expect(f("count", "iii", ctx, 256, 0, 3)).toBeUndefined();
    expect(f("count", "iii", ctx, -1, 0, 3)).toBeUndefined();
    expect(f("percentage", "i", ctx, 300)).toBeUndefined();
    expect(f("mode", "", makeContext(""))).toBeUndefined(); // no data at all, as yara
    expect(f("count", "i", makeContext(""), 0)).toBeUndefined();
    // NaN results (0/0) are undefined, as in yara
    expect(f("mean", "s", ctx, "")).toBeUndefined();
    expect(f("mean", "ii", ctx, 0, 0)).toBeUndefined();
  });

  test("serial_correlation closes the cycle with the first byte (YARA 4.3+, ent)", () => {
    const ctx = makeContext("\x00\xff\x00\xff");
    expect(f("serial_correlation", "ii", ctx, 0, 4)).toBe(-1);
    expect(f("serial_correlation", "s", ctx, "\x01\x7f\x01\x7f")).toBe(-1);
    expect(f("serial_correlation", "s", ctx, "aaaa")).toBe(-100000);
  });

  test("histograms are cached per scan", () => {
    const ctx = makeContext("aab");
    f("entropy", "ii", ctx, 0, 3);
    expect([...ctx.cache.keys()]).toEqual(["math:hist:0:3"]);
    f("mean", "ii", ctx, 0, 100); // clipped to the same range: same histogram
    expect(ctx.cache.size).toBe(1);
  });
});
