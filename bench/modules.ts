/**
 * Benchmark: parsing cost of the YARA modules, per file, against Debian's yara.
 * Run by hand (not part of npm test):  npx tsx bench/modules.ts [maxFiles]
 *
 * For each module section: time `load()` (and the module's typical functions) over real files,
 * print files/s and MB/s, then time yara 4.2.3 (single thread, -p 1) over the same files with a
 * rule that imports the module and one that imports nothing, and print yara's module cost
 * (the difference) beside ours. Other module owners add their section below (one function each).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { ScanContext, YaraModule } from "../packages/engine/src/modules/schema.js";
import { bytesToString } from "../packages/engine/src/modules/schema.js";
import { elfModule } from "../packages/engine/src/modules/elf/index.js";
import { hashModule } from "../packages/engine/src/modules/hash/index.js";
import { mathModule } from "../packages/engine/src/modules/math/index.js";
import { machoModule } from "../packages/engine/src/modules/macho/index.js";
import { dexModule } from "../packages/engine/src/modules/dex/index.js";
import { peModule } from "../packages/engine/src/modules/pe/index.js";
import { dotnetModule } from "../packages/engine/src/modules/dotnet/index.js";
import { allPeFiles } from "../packages/engine/test/modules/pe-fixtures.js";
import { buildMacho, buildFat } from "../packages/engine/test/modules/macho-builder.js";
import { buildDex } from "../packages/engine/test/modules/dex-builder.js";

const maxFiles = Number(process.argv[2] ?? 400);
const work = mkdtempSync(join(tmpdir(), "vigil-bench-modules-"));

function ctxOf(data: Uint8Array): ScanContext {
  let text: string | undefined;
  return { data, text: () => (text ??= bytesToString(data)), cache: new Map(), log: () => {} };
}

function elfFiles(): string[] {
  const out: string[] = [];
  for (const d of ["/usr/bin", "/usr/lib/x86_64-linux-gnu"]) {
    let names: string[] = [];
    try {
      names = readdirSync(d).sort();
    } catch {
      continue;
    }
    for (const n of names) {
      if (out.length >= maxFiles) break;
      const p = join(d, n);
      try {
        const st = statSync(p);
        if (!st.isFile() || st.size > 20_000_000) continue;
        const head = readFileSync(p).subarray(0, 4);
        if (head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46) out.push(p);
      } catch {
        /* unreadable */
      }
    }
  }
  return out;
}

/** Times fn over the loaded files (several rounds, best round), returns files/s and MB/s. */
function timeOurs(
  datas: Uint8Array[],
  fn: (d: Uint8Array) => void,
): { filesPerSec: number; mbPerSec: number; ms: number } {
  const bytes = datas.reduce((a, d) => a + d.length, 0);
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const t0 = performance.now();
    for (const d of datas) fn(d);
    best = Math.min(best, performance.now() - t0);
  }
  return { filesPerSec: (datas.length / best) * 1000, mbPerSec: bytes / 1e6 / (best / 1000), ms: best };
}

/** yara -p 1 over a directory of links to the files; returns the best wall time of 3 runs, in ms. */
function timeYara(rule: string, dir: string): number {
  const rulePath = join(work, `r${Math.random().toString(36).slice(2)}.yar`);
  writeFileSync(rulePath, rule);
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    spawnSync("yara", ["-p", "1", "-w", rulePath, dir], { maxBuffer: 1 << 26 });
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

function linkDir(name: string, files: string[]): string {
  const dir = mkdtempSync(join(work, `${name}-`));
  files.forEach((f, i) => symlinkSync(f, join(dir, `f${i}`)));
  return dir;
}

function writeDir(name: string, datas: Uint8Array[]): { dir: string; files: string[] } {
  const dir = mkdtempSync(join(work, `${name}-`));
  const files = datas.map((d, i) => {
    const p = join(dir, `f${i}`);
    writeFileSync(p, d);
    return p;
  });
  return { dir, files };
}

let haveYara = true;
try {
  execFileSync("yara", ["-v"]);
} catch {
  haveYara = false;
}

function report(
  label: string,
  module: string,
  datas: Uint8Array[],
  dir: string,
  fn: (d: Uint8Array) => void,
  condition: string,
): void {
  const ours = timeOurs(datas, fn);
  let line = `${label.padEnd(34)} ${String(datas.length).padStart(5)} files  Vigil ${ours.filesPerSec.toFixed(0).padStart(8)} files/s ${ours.mbPerSec.toFixed(0).padStart(6)} MB/s`;
  if (haveYara) {
    const withModule = timeYara(`import "${module}"\nrule r { condition: ${condition} }\n`, dir);
    const without = timeYara(`rule r { condition: filesize == 0xFFFFFFFFFF }\n`, dir);
    const yaraModuleMs = Math.max(withModule - without, 0.001);
    line += ` | yara module cost ${((yaraModuleMs / datas.length) * 1000).toFixed(1)} µs/file (${withModule.toFixed(0)} ms with, ${without.toFixed(0)} ms without), Vigil ${((ours.ms / datas.length) * 1000).toFixed(1)} µs/file`;
  }
  console.log(line);
}

// ---- elf, hash, math, macho, dex ----
function benchElfHashMathMachoDex(): void {
  const files = elfFiles();
  const datas = files.map((f) => new Uint8Array(readFileSync(f)));
  const dir = linkDir("elf", files);
  const mb = datas.reduce((a, d) => a + d.length, 0) / 1e6;
  console.log(`ELF sample: ${files.length} files, ${mb.toFixed(1)} MB from /usr/bin and /usr/lib/x86_64-linux-gnu`);
  report("elf load()", "elf", datas, dir, (d) => void elfModule.load(ctxOf(d)), "elf.number_of_sections > 0");
  const md5 = (hashModule.declarations.fields.md5 as { overloads: Array<{ impl: Function }> }).overloads[0]!.impl;
  const sha256 = (hashModule.declarations.fields.sha256 as { overloads: Array<{ impl: Function }> }).overloads[0]!.impl;
  report(
    "hash.md5(0, filesize)",
    "hash",
    datas,
    dir,
    (d) => void md5({}, ctxOf(d), 0, d.length),
    'hash.md5(0, filesize) == "x"',
  );
  report(
    "hash.sha256(0, filesize)",
    "hash",
    datas,
    dir,
    (d) => void sha256({}, ctxOf(d), 0, d.length),
    'hash.sha256(0, filesize) == "x"',
  );
  const entropy = (mathModule.declarations.fields.entropy as { overloads: Array<{ impl: Function }> }).overloads[0]!
    .impl;
  report(
    "math.entropy(0, filesize)",
    "math",
    datas,
    dir,
    (d) => void entropy({}, ctxOf(d), 0, d.length),
    "math.entropy(0, filesize) > 9.0",
  );

  // Mach-O and DEX: generated files (Debian ships none); many copies to get measurable times
  const machos: Uint8Array[] = [];
  for (let i = 0; i < 500; i++) {
    machos.push(
      i % 2
        ? buildMacho({ is64: true, le: true, cputype: 0x01000007, entry: "main" })
        : buildFat([
            {
              cputype: 0x01000007,
              cpusubtype: 3,
              bytes: buildMacho({ is64: true, le: true, cputype: 0x01000007, entry: "main" }),
            },
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
    );
  }
  const m = writeDir("macho", machos);
  report(
    "macho load() (generated)",
    "macho",
    machos,
    m.dir,
    (d) => void machoModule.load(ctxOf(d)),
    "macho.number_of_segments > 100",
  );
  const dexes = Array.from({ length: 500 }, () => buildDex().bytes);
  const x = writeDir("dex", dexes);
  report(
    "dex load() (generated)",
    "dex",
    dexes,
    x.dir,
    (d) => void dexModule.load(ctxOf(d)),
    "dex.number_of_methods > 100",
  );
}

// ---- pe, dotnet ----
function benchPeDotnet(): void {
  const files = allPeFiles();
  if (files.length === 0) {
    console.log(
      "no PE fixtures: apt-get install clamav-testfiles shim-helpers-amd64-signed libmono-system4.0-cil nsis-common gpgv-win32",
    );
    return;
  }
  const datas = files.map((f) => new Uint8Array(readFileSync(f)));
  const dir = linkDir("pe", files);
  const mb = datas.reduce((a, d) => a + d.length, 0) / 1e6;
  console.log(`PE sample: ${files.length} files, ${mb.toFixed(1)} MB (clamav-testfiles, shim, Mono, NSIS, gpgv-win32)`);
  report("pe load()", "pe", datas, dir, (d) => void peModule.load(ctxOf(d)), "pe.number_of_sections > 1000");
  const imphash = (peModule.declarations.fields.imphash as { overloads: Array<{ impl: Function }> }).overloads[0]!.impl;
  report(
    "pe load() + imphash()",
    "pe",
    datas,
    dir,
    (d) => {
      const ctx = ctxOf(d);
      imphash(peModule.load(ctx), ctx);
    },
    'pe.imphash() == "x"',
  );
  const dotnet = files.filter((f) => f.startsWith("/usr/lib/mono/"));
  if (dotnet.length) {
    // only 4 assemblies: take each 10 times so the timing is not dominated by the JIT's warm-up
    const copies = Array.from({ length: 10 }, () => dotnet).flat();
    const dd = copies.map((f) => new Uint8Array(readFileSync(f)));
    report(
      "dotnet load() (Mono assemblies x10)",
      "dotnet",
      dd,
      linkDir("dotnet", copies),
      (d) => void dotnetModule.load(ctxOf(d)),
      "dotnet.number_of_streams > 1000",
    );
  }
}

const sections: Array<[string, () => void]> = [
  ["elf, hash, math, macho, dex", benchElfHashMathMachoDex],
  ["pe, dotnet", benchPeDotnet],
];
for (const [name, run] of sections) {
  console.log(`== ${name}`);
  run();
}
void ({} as YaraModule);
