/**
 * The module conformance suite (issue 13): one set of checks that every module in
 * `builtinModules` runs, as one router suite runs over every router. For each module, small
 * valid samples (made by the builders in this folder, plus Debian fixtures when installed),
 * their truncations and seeded mutations must each:
 *   - load without throwing, in bounded time;
 *   - print as `yara -D` (formatModuleData) without throwing, the same text on a second load;
 *   - answer every top-level function with plain arguments without throwing.
 * A module added to builtinModules without samples here fails the first test.
 * More mutants by hand: CONFORMANCE_MUTANTS=500 CONFORMANCE_SEED=7 npx vitest run packages/engine/test/modules/conformance.test.ts
 */
import { readFileSync, statSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { builtinModules } from "../../src/modules/index.js";
import { formatModuleData } from "../../src/modules/dump.js";
import type { ArgCode, YaraModule } from "../../src/modules/schema.js";
import { makeContext, regexp } from "./context.js";
import { buildElf } from "./elf-builder.js";
import { buildFat, buildMacho } from "./macho-builder.js";
import { buildDex } from "./dex-builder.js";
import { allPeFiles } from "./pe-fixtures.js";

const MUTANTS = Number(process.env.CONFORMANCE_MUTANTS ?? 40);
const SEED = Number(process.env.CONFORMANCE_SEED ?? 20261207);
/** Per input (load + dump + functions); generous for a shared, loaded machine. */
const MAX_MS = 3000;

/** A minimal PE32 executable: headers, one .text section holding a few bytes of code. */
function minimalPe(): Uint8Array {
  const b = new Uint8Array(0x400);
  const v = new DataView(b.buffer);
  v.setUint16(0, 0x5a4d, true);
  v.setUint32(0x3c, 0x40, true);
  v.setUint32(0x40, 0x4550, true);
  v.setUint16(0x44, 0x14c, true); // i386
  v.setUint16(0x46, 1, true); // one section
  v.setUint32(0x48, 0x5f5e100, true); // timestamp
  v.setUint16(0x54, 224, true); // size of the optional header
  v.setUint16(0x56, 0x102, true); // executable, 32-bit
  const opt = 0x58;
  v.setUint16(opt, 0x10b, true);
  v.setUint32(opt + 16, 0x1000, true); // entry point
  v.setUint32(opt + 28, 0x400000, true); // image base
  v.setUint32(opt + 32, 0x1000, true); // section alignment
  v.setUint32(opt + 36, 0x200, true); // file alignment
  v.setUint16(opt + 40, 4, true); // OS version
  v.setUint16(opt + 48, 4, true); // subsystem version
  v.setUint32(opt + 56, 0x2000, true); // size of image
  v.setUint32(opt + 60, 0x200, true); // size of headers
  v.setUint16(opt + 68, 3, true); // console subsystem
  v.setUint32(opt + 92, 16, true); // data directories
  const sec = opt + 224;
  b.set([0x2e, 0x74, 0x65, 0x78, 0x74], sec); // .text
  v.setUint32(sec + 8, 0x10, true);
  v.setUint32(sec + 12, 0x1000, true);
  v.setUint32(sec + 16, 0x200, true);
  v.setUint32(sec + 20, 0x200, true);
  v.setUint32(sec + 36, 0x60000020, true);
  b.set([0x55, 0x89, 0xe5, 0x31, 0xc0, 0x5d, 0xc3], 0x200); // push ebp; mov ebp, esp; xor eax, eax; pop ebp; ret
  return b;
}

const text = (s: string) => Uint8Array.from(Buffer.from(s, "latin1"));
const GENERIC = [
  text("The quick brown fox jumps over the lazy dog.\n"),
  Uint8Array.from({ length: 300 }, (_, i) => (i * 37) & 0xff),
];

/** The smallest installed Debian PE fixture matching `re` (none when the packages are absent). */
function smallestFixture(re: RegExp): Uint8Array[] {
  const files = allPeFiles()
    .filter((f) => re.test(f))
    .map((f) => [f, statSync(f).size] as const)
    .filter(([, size]) => size < 400_000);
  if (!files.length) return [];
  files.sort((a, b) => a[1] - b[1]);
  return [Uint8Array.from(readFileSync(files[0]![0]))];
}

/** Small valid samples per module. A new module needs an entry here. */
const SAMPLES: Record<string, () => Uint8Array[]> = {
  pe: () => [minimalPe(), ...smallestFixture(/clam\.exe$|\.dll$/)],
  dotnet: () => [minimalPe(), ...smallestFixture(/Mono\.Security\.dll$/)],
  elf: () => [buildElf({ is64: true, le: true }).bytes, buildElf({ is64: false, le: false, type: 3 }).bytes],
  macho: () => {
    const thin = buildMacho({ is64: true, le: true, cputype: 0x01000007, entry: "main" });
    return [
      thin,
      buildFat([
        { cputype: 0x01000007, cpusubtype: 3, bytes: thin },
        {
          cputype: 7,
          cpusubtype: 3,
          bytes: buildMacho({
            is64: false,
            le: true,
            cputype: 7,
            entry: { pcOffset: 40, pcIs64: false, stateSize: 64 },
          }),
        },
      ]),
    ];
  },
  dex: () => [buildDex().bytes, buildDex("038").bytes],
  hash: () => GENERIC,
  math: () => GENERIC,
  time: () => GENERIC,
  console: () => GENERIC,
  string: () => GENERIC,
  tests: () => GENERIC,
};

if (allPeFiles().length === 0)
  console.log(
    "module conformance: no Debian PE fixtures installed (apt-get install clamav-testfiles libmono-system4.0-cil): pe and dotnet run on the built minimal PE only",
  );

/** xorshift32: deterministic, so a failing mutant reproduces from the seed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4294967296;
  };
}

function mutate(base: Uint8Array, rand: () => number): Uint8Array {
  const b = base.slice();
  if (b.length === 0) return b;
  const at = () => (rand() < 0.7 ? Math.floor(rand() * Math.min(0x400, b.length)) : Math.floor(rand() * b.length));
  switch (Math.floor(rand() * 5)) {
    case 0:
      for (let i = 0; i < 1 + Math.floor(rand() * 8); i++) b[at()] = Math.floor(rand() * 256);
      return b;
    case 1: {
      const p = at() & ~3;
      const v = [0, 0xffffffff, 0x7fffffff, 0x80000000, b.length, b.length - 1, Math.floor(rand() * 4294967296)][
        Math.floor(rand() * 7)
      ]!;
      if (p + 4 <= b.length) new DataView(b.buffer).setUint32(p, v >>> 0, rand() < 0.5);
      return b;
    }
    case 2:
      return b.slice(0, Math.floor(rand() * b.length));
    case 3: {
      const p = at();
      b[p] = b[p]! ^ (1 << Math.floor(rand() * 8));
      return b;
    }
    default: {
      // a block copied over another (duplicated headers, overlapping tables)
      const from = at(),
        to = at(),
        n = Math.min(1 + Math.floor(rand() * 64), b.length - Math.max(from, to));
      if (n > 0) b.copyWithin(to, from, from + n);
      return b;
    }
  }
}

/** Truncations at the edges of the headers and at seeded points. */
function truncations(base: Uint8Array, rand: () => number): Uint8Array[] {
  const cuts = new Set([
    0,
    1,
    2,
    3,
    4,
    8,
    16,
    32,
    52,
    64,
    0x40,
    0x58,
    0x78,
    0x100,
    0x178,
    0x200,
    base.length >> 1,
    base.length - 1,
  ]);
  for (let i = 0; i < 8; i++) cuts.add(Math.floor(rand() * base.length));
  return [...cuts]
    .filter((n) => n >= 0 && n < base.length)
    .sort((a, b) => a - b)
    .map((n) => base.slice(0, n));
}

const ARGS: Record<ArgCode, unknown[]> = {
  i: [0, 1, -1, 16, 0x7fffffff, 2 ** 40],
  f: [0, 0.5, -1.5],
  s: ["", "a", "\x00\xff", "kernel32.dll"],
  r: [regexp(/a/), regexp(/^$/)],
};

/** Every top-level function of the module, each overload called with a few argument vectors. */
function callFunctions(
  module: YaraModule,
  root: Record<string, unknown>,
  ctx: ReturnType<typeof makeContext>,
  rand: () => number,
): number {
  let calls = 0;
  for (const field of Object.values(module.declarations.fields)) {
    if (field.kind !== "function") continue;
    for (const o of field.overloads) {
      for (let k = 0; k < 3; k++) {
        const args = o.args.map((code) => {
          const list = ARGS[code];
          return list[Math.floor(rand() * list.length)];
        });
        const v = o.impl(root, ctx, ...args);
        // a declared type or undefined, never anything else
        const ok =
          v === undefined ||
          (o.returns === "string" ? typeof v === "string" : typeof v === "number" || typeof v === "bigint");
        if (!ok) throw new Error(`${module.name}: a function returning ${o.returns} gave ${typeof v}`);
        calls++;
      }
    }
  }
  return calls;
}

/** One input through the whole contract; returns the dump. */
function check(module: YaraModule, bytes: Uint8Array, label: string, rand: () => number): string {
  const started = Date.now();
  let dump: string;
  try {
    const ctx = makeContext(bytes);
    const root = module.load(ctx);
    dump = formatModuleData(module, root);
    callFunctions(module, root, ctx, rand);
    // a second, independent load prints the same text
    const again = formatModuleData(module, module.load(makeContext(bytes.slice())));
    if (again !== dump) throw new Error("the dump differs between two loads of the same bytes");
  } catch (e) {
    throw new Error(`${module.name} on ${label} (${bytes.length} bytes, seed ${SEED}): ${(e as Error).stack ?? e}`);
  }
  const ms = Date.now() - started;
  expect(ms, `${module.name} on ${label} took ${ms} ms`).toBeLessThan(MAX_MS);
  return dump;
}

describe("module conformance: every builtin module", () => {
  test("every module has samples here, and unavailable modules load to nothing", () => {
    const missing = [...builtinModules.values()].filter((m) => !m.unavailable && !SAMPLES[m.name]).map((m) => m.name);
    expect(missing, "add samples for these modules to SAMPLES in conformance.test.ts").toEqual([]);
    for (const m of builtinModules.values()) if (m.unavailable) expect(m.load(makeContext(GENERIC[0]!))).toEqual({});
  });

  for (const module of [...builtinModules.values()].filter((m) => !m.unavailable)) {
    describe(module.name, () => {
      test("valid samples: load, print and answer its functions", () => {
        const rand = rng(SEED);
        for (const [i, s] of SAMPLES[module.name]!().entries()) {
          const dump = check(module, s, `sample ${i}`, rand);
          expect(dump.startsWith(`${module.name}\n`)).toBe(true);
        }
      });

      test("truncated samples: no throw, bounded time, stable dump", () => {
        const rand = rng(SEED + 1);
        let n = 0;
        for (const [i, s] of SAMPLES[module.name]!().entries())
          for (const t of truncations(s, rand)) {
            check(module, t, `sample ${i} cut at ${t.length}`, rand);
            n++;
          }
        expect(n).toBeGreaterThan(5);
      });

      test(`${MUTANTS} seeded mutants per sample: no throw, bounded time, stable dump`, () => {
        const samples = SAMPLES[module.name]!();
        for (const [i, s] of samples.entries()) {
          const rand = rng(SEED + 101 * (i + 1));
          let cur = s;
          // a large fixture (a .NET assembly) gets fewer: each of its loads costs tens of ms
          const count = s.length > 65536 ? Math.ceil(MUTANTS / 4) : MUTANTS;
          for (let k = 0; k < count; k++) {
            // every fourth mutant stacks on the previous one, so damage accumulates
            cur = mutate(k % 4 === 0 ? s : cur, rand);
            check(module, cur, `sample ${i} mutant ${k}`, rand);
          }
        }
      });
    });
  }
});
