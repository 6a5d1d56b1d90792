/**
 * Seeded mutation tests for the elf, macho and dex parsers: random byte, word and truncation
 * mutations of generated files (deterministic seeds), each parsed by Vigil in bounded time and
 * compared field by field with yara 4.2.3's `yara -D`; plus foreign files (clamav-testfiles:
 * PE, archives, documents) on which every parsed field must stay undefined, as in yara.
 * More mutants by hand: MUTANTS=300 SEED=777 npx vitest run packages/engine/test/modules/elf-macho-dex-mutants.test.ts --testTimeout 600000
 */
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { needs } from "@vigil/test-kit";
import { elfModule } from "../../src/modules/elf/index.js";
import { machoModule } from "../../src/modules/macho/index.js";
import { dexModule } from "../../src/modules/dex/index.js";
import type { YaraModule } from "../../src/modules/schema.js";
import { makeContext } from "./context.js";
import { buildElf } from "./elf-builder.js";
import { buildFat, buildMacho } from "./macho-builder.js";
import { buildDex } from "./dex-builder.js";
import { compareWithDump, yaraDump } from "./yara-dump.js";

const noYara = needs("elf, macho and dex mutants vs yara 4.2.3", { tools: ["yara"] });

let dir = "";
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "vigil-mutants-"));
});

/** xorshift32: a small deterministic generator, so failures reproduce. */
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

function mutate(base: Uint8Array, rand: () => number, hot: number): Uint8Array {
  const b = base.slice();
  const kind = Math.floor(rand() * 4);
  const at = () => (rand() < 0.7 ? Math.floor(rand() * Math.min(hot, b.length)) : Math.floor(rand() * b.length));
  if (kind === 0) {
    for (let i = 0; i < 1 + Math.floor(rand() * 4); i++) b[at()] = Math.floor(rand() * 256);
  } else if (kind === 1) {
    const p = at() & ~3;
    const v = [0, 0xffffffff, 0x7fffffff, 0x80000000, b.length, b.length - 1, Math.floor(rand() * 4294967296)][
      Math.floor(rand() * 7)
    ]!;
    if (p + 4 <= b.length) new DataView(b.buffer).setUint32(p, v >>> 0, rand() < 0.5);
  } else if (kind === 2) {
    return b.slice(0, Math.floor(rand() * b.length));
  } else {
    const p = at();
    b[p] = b[p]! ^ (1 << Math.floor(rand() * 8));
  }
  return b;
}

function checkMutants(
  module: YaraModule,
  name: string,
  bases: Uint8Array[],
  count: number,
  hot: number,
  seed: number,
): void {
  const rand = rng(seed);
  for (let i = 0; i < count; i++) {
    const b = mutate(bases[i % bases.length]!, rand, hot);
    const t0 = performance.now();
    const ours = module.load(makeContext(b));
    expect(performance.now() - t0, `${name} mutant ${i}`).toBeLessThan(2000);
    const file = join(dir, `${name}-${i}`);
    writeFileSync(file, b);
    const theirs = yaraDump([module.name], file).get(module.name);
    expect(compareWithDump(module, ours, theirs), `${name} mutant ${i} (seed ${seed}), file ${file}`).toEqual([]);
  }
}

describe("mutated files: no exception, bounded time, same fields as yara 4.2.3", () => {
  test.skipIf(noYara)("elf", () => {
    const bases = [buildElf({ is64: true, le: true }).bytes, buildElf({ is64: false, le: false, type: 3 }).bytes];
    checkMutants(elfModule, "elf", bases, Number(process.env.MUTANTS ?? 30), 0x200, Number(process.env.SEED ?? 1234));
  });
  test.skipIf(noYara)("macho", () => {
    const thin = buildMacho({ is64: true, le: true, cputype: 0x01000007, entry: "main" });
    const fat = buildFat([
      { cputype: 0x01000007, cpusubtype: 3, bytes: thin },
      {
        cputype: 7,
        cpusubtype: 3,
        bytes: buildMacho({ is64: false, le: true, cputype: 7, entry: { pcOffset: 40, pcIs64: false, stateSize: 64 } }),
      },
    ]);
    checkMutants(
      machoModule,
      "macho",
      [thin, fat],
      Number(process.env.MUTANTS ?? 30),
      0x300,
      Number(process.env.SEED ?? 99),
    );
  });
  test.skipIf(noYara)("dex", () => {
    checkMutants(
      dexModule,
      "dex",
      [buildDex().bytes],
      Number(process.env.MUTANTS ?? 30),
      0x300,
      Number(process.env.SEED ?? 4321),
    );
  });
});

const testfiles = "/usr/share/clamav-testfiles";
const noForeign = needs("foreign files vs yara 4.2.3", { tools: ["yara"], debianFiles: [testfiles] });

describe("foreign files (clamav-testfiles): elf, macho and dex leave every parsed field undefined, as yara", () => {
  test.skipIf(noForeign)("all files", () => {
    let n = 0;
    for (const f of readdirSync(testfiles).sort()) {
      const p = join(testfiles, f);
      if (!statSync(p).isFile()) continue;
      const bytes = new Uint8Array(readFileSync(p));
      const dumps = yaraDump(["elf", "macho", "dex"], p);
      for (const m of [elfModule, machoModule, dexModule]) {
        const ours = m.load(makeContext(bytes));
        expect(compareWithDump(m, ours, dumps.get(m.name)), `${m.name} on ${f}`).toEqual([]);
      }
      n++;
    }
    expect(n).toBeGreaterThan(20);
  });
});
