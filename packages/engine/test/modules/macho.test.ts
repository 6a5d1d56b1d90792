import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { needs } from "@vigil/test-kit";
import { machoModule } from "../../src/modules/macho/index.js";
import { formatModuleData } from "../../src/modules/dump.js";
import { callFn, makeContext } from "./context.js";
import { buildFat, buildMacho, type MachoOptions } from "./macho-builder.js";
import {
  checkWithVigil,
  checkWithYara,
  compareWithDump,
  fieldCases,
  yaraDump,
  type FunctionCase,
} from "./yara-dump.js";

const noYara = needs("macho module vs yara 4.2.3", { tools: ["yara"] });

let dir = "";
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "vigil-macho-"));
});
function write(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

const C = machoModule.load(makeContext("")) as Record<string, number>;

const thin: Array<[string, MachoOptions]> = [
  ["x86_64-main", { is64: true, le: true, cputype: 0x01000007, entry: "main" }],
  [
    "arm64-thread",
    {
      is64: true,
      le: true,
      cputype: 0x0100000c,
      cpusubtype: 0,
      entry: { pcOffset: 256, pcIs64: true, stateSize: 272 },
    },
  ],
  [
    "x86_64-thread",
    { is64: true, le: true, cputype: 0x01000007, entry: { pcOffset: 128, pcIs64: true, stateSize: 168 } },
  ],
  // a thread state shorter than the CPU's layout: yara takes address 0 (here inside __PAGEZERO, so offset 0)
  [
    "x86_64-short-state",
    { is64: true, le: true, cputype: 0x01000007, entry: { pcOffset: 128, pcIs64: true, stateSize: 136 } },
  ],
  ["i386-thread", { is64: false, le: true, cputype: 7, entry: { pcOffset: 40, pcIs64: false, stateSize: 64 } }],
  [
    "arm-thread",
    { is64: false, le: true, cputype: 12, cpusubtype: 9, entry: { pcOffset: 60, pcIs64: false, stateSize: 68 } },
  ],
  [
    "ppc-thread-be",
    { is64: false, le: false, cputype: 18, cpusubtype: 0, entry: { pcOffset: 0, pcIs64: false, stateSize: 160 } },
  ],
  // big-endian: yara checks the state size against the command size read little-endian
  [
    "ppc-short-state-be",
    { is64: false, le: false, cputype: 18, cpusubtype: 0, entry: { pcOffset: 0, pcIs64: false, stateSize: 16 } },
  ],
  [
    "ppc64-thread-be",
    { is64: true, le: false, cputype: 0x01000012, cpusubtype: 0, entry: { pcOffset: 0, pcIs64: true, stateSize: 304 } },
  ],
  [
    "sparc-thread-be",
    { is64: false, le: false, cputype: 14, cpusubtype: 0, entry: { pcOffset: 4, pcIs64: false, stateSize: 76 } },
  ],
  [
    "m68k-thread-be",
    { is64: false, le: false, cputype: 6, cpusubtype: 0, entry: { pcOffset: 68, pcIs64: false, stateSize: 72 } },
  ],
  [
    "m88k-thread-be",
    { is64: false, le: false, cputype: 13, cpusubtype: 0, entry: { pcOffset: 124, pcIs64: false, stateSize: 136 } },
  ],
  ["ppc-main-be", { is64: false, le: false, cputype: 18, cpusubtype: 0, entry: "main" }],
];

function fat(is64: boolean): Uint8Array {
  return buildFat(
    [
      { cputype: 0x01000007, cpusubtype: 3, bytes: buildMacho(thin[0]![1]) },
      { cputype: 0x0100000c, cpusubtype: 0, bytes: buildMacho(thin[1]![1]) },
      { cputype: 7, cpusubtype: 3, bytes: buildMacho(thin[3]![1]) },
    ],
    is64,
  );
}

function expectSameAsYara(file: string, bytes: Uint8Array): void {
  const ours = machoModule.load(makeContext(bytes));
  const theirs = yaraDump(["macho"], file).get("macho");
  expect(theirs).toBeDefined();
  expect(compareWithDump(machoModule, ours, theirs), file).toEqual([]);
}

describe("macho module against yara 4.2.3", () => {
  test.skipIf(noYara)("thin images of every supported CPU, both byte orders, LC_MAIN and LC_UNIXTHREAD", () => {
    for (const [name, opts] of thin) {
      const bytes = buildMacho(opts);
      const root = machoModule.load(makeContext(bytes));
      expect(root.number_of_segments, name).toBe(3);
      expect(root.entry_point, name).toBe(opts.entry === "main" ? 0x800 : name === "x86_64-short-state" ? 0 : 0x810);
      expectSameAsYara(write(name, bytes), bytes);
    }
  });

  test.skipIf(noYara)("fat binaries (32- and 64-bit headers) and the arch functions", async () => {
    for (const is64 of [false, true]) {
      const bytes = fat(is64);
      const file = write(`fat-${is64}`, bytes);
      const root = machoModule.load(makeContext(bytes));
      expect(root.nfat_arch).toBe(3);
      expect((root.file as unknown[]).length).toBe(3);
      expectSameAsYara(file, bytes);
      const ctx = makeContext(bytes);
      const d = machoModule.declarations;
      const cases: FunctionCase[] = [];
      for (const [t, s] of [
        [0x01000007, 3],
        [0x0100000c, 0],
        [7, 3],
        [7, 4],
        [18, 0],
      ] as const) {
        cases.push({
          expr: `macho.file_index_for_arch(${t})`,
          value: callFn(d, "file_index_for_arch", "i", root, ctx, t),
          kind: "integer",
        });
        cases.push({
          expr: `macho.file_index_for_arch(${t}, ${s})`,
          value: callFn(d, "file_index_for_arch", "ii", root, ctx, t, s),
          kind: "integer",
        });
        cases.push({
          expr: `macho.entry_point_for_arch(${t})`,
          value: callFn(d, "entry_point_for_arch", "i", root, ctx, t),
          kind: "integer",
        });
        cases.push({
          expr: `macho.entry_point_for_arch(${t}, ${s})`,
          value: callFn(d, "entry_point_for_arch", "ii", root, ctx, t, s),
          kind: "integer",
        });
      }
      expect(cases.filter((c) => c.value !== undefined).length).toBeGreaterThan(8);
      expect(checkWithYara(["macho"], file, cases)).toEqual([]);
      expect(await checkWithVigil(["macho"], bytes, cases)).toEqual([]);
    }
  });

  test.skipIf(noYara)("fields as rule conditions: yara and Vigil's engine agree with the module data", async () => {
    for (const [name, bytes] of [
      ["r-thin", buildMacho(thin[0]![1])],
      ["r-be", buildMacho(thin[5]![1])],
      ["r-fat", fat(true)],
    ] as const) {
      const file = write(name, bytes);
      const root = machoModule.load(makeContext(bytes));
      const cases = fieldCases(machoModule, root, { maxItems: 3 });
      // yara's deprecated entrypoint keyword ignores Mach-O files
      cases.push({ expr: "entrypoint", value: undefined, kind: "integer" });
      expect(cases.length).toBeGreaterThan(100);
      expect(checkWithYara(["macho"], file, cases), name).toEqual([]);
      expect(await checkWithVigil(["macho"], bytes, cases), name).toEqual([]);
    }
  });

  test.skipIf(noYara)("the yara -D printer reproduces yara's output for thin and fat files", () => {
    for (const [name, bytes] of [
      ["p-thin", buildMacho(thin[0]![1])],
      ["p-be", buildMacho(thin[5]![1])],
      ["p-fat", fat(false)],
    ] as const) {
      const file = write(name, bytes);
      const rule = write("dump.yar", 'import "macho"\nrule r { condition: false }\n');
      const out = spawnSync("yara", ["-D", rule, file]).stdout.toString("latin1");
      expect(formatModuleData(machoModule, machoModule.load(makeContext(bytes)))).toBe(out);
    }
  });

  test.skipIf(noYara)("truncated and corrupted images: no exception, same fields as yara", () => {
    for (const [name, opts] of [thin[0]!, thin[5]!]) {
      const base = buildMacho(opts);
      const cuts = [3, 4, 27, 28, 31, 32, 33, 40, 56, 84, 104, 105, 200, 300, 400, 500, 600];
      for (const cut of cuts) {
        const b = base.slice(0, cut);
        expectSameAsYara(write(`cut-${name}-${cut}`, b), b);
      }
    }
    const base = buildMacho(thin[0]![1]);
    const dv = (b: Uint8Array) => new DataView(b.buffer);
    const patches: Array<[string, (b: Uint8Array) => void]> = [
      ["ncmds huge", (b) => dv(b).setUint32(16, 0xffffffff, true)],
      ["first cmdsize huge", (b) => dv(b).setUint32(36, 0x7fffffff, true)],
      ["nsects huge", (b) => dv(b).setUint32(32 + 72 + 64, 0xffffffff, true)],
      ["fat count huge", () => undefined],
    ];
    for (const [name, patch] of patches) {
      const b = base.slice();
      patch(b);
      const t0 = performance.now();
      machoModule.load(makeContext(b));
      expect(performance.now() - t0).toBeLessThan(1000);
      expectSameAsYara(write(`bad-${name.replace(/ /g, "_")}`, b), b);
    }
    const f = fat(false);
    const fatPatches: Array<[string, (b: Uint8Array) => void]> = [
      ["nfat huge", (b) => dv(b).setUint32(4, 0x7fffffff)],
      ["arch offset past end", (b) => dv(b).setUint32(8 + 8, 0x7ffffff0)],
      ["arch size past end", (b) => dv(b).setUint32(8 + 20 + 12, 0x7ffffff0)],
      ["arch offset inside header", (b) => dv(b).setUint32(8 + 8, 0)],
    ];
    for (const [name, patch] of fatPatches) {
      const b = f.slice();
      patch(b);
      expectSameAsYara(write(`badfat-${name.replace(/ /g, "_")}`, b), b);
    }
  });
});

describe("macho module", () => {
  test("non-Mach-O data: constants only", () => {
    const root = machoModule.load(makeContext("\x7fELF and more bytes here............................"));
    expect(root.MH_MAGIC).toBe(0xfeedface);
    expect(root.CPU_TYPE_ARM64).toBe(0x0100000c);
    expect(root.magic).toBeUndefined();
    expect(root.nfat_arch).toBeUndefined();
    expect(callFn(machoModule.declarations, "file_index_for_arch", "i", root, makeContext(""), 7)).toBeUndefined();
  });

  test("a zero cmdsize does not spin over billions of commands", () => {
    const b = buildMacho(thin[0]![1]);
    const dv = new DataView(b.buffer);
    dv.setUint32(16, 0xffffffff, true); // ncmds
    dv.setUint32(36, 0, true); // first cmdsize
    const t0 = performance.now();
    const root = machoModule.load(makeContext(b));
    expect(performance.now() - t0).toBeLessThan(100);
    expect(root.number_of_segments).toBe(0);
  });

  test("sections, names, stack size on a 64-bit image", () => {
    const root = machoModule.load(makeContext(buildMacho(thin[0]![1])));
    const segs = root.segments as Array<Record<string, unknown>>;
    expect(segs.map((s) => s.segname)).toEqual(["__PAGEZERO", "__TEXT", "__LINKEDIT"]);
    const secs = segs[1]!.sections as Array<Record<string, unknown>>;
    expect(secs.map((s) => s.sectname)).toEqual(["__text", "__cstring"]);
    expect(secs[0]).toMatchObject({
      segname: "__TEXT",
      addr: 0x100000800,
      size: 0x40,
      offset: 0x800,
      flags: 0x80000400,
      reserved3: 0,
    });
    expect(root.stack_size).toBe(0x10000);
    expect(machoModule.entrypoint).toBeUndefined();
    expect(root.cputype).toBe(C.CPU_TYPE_X86_64);
  });
});
