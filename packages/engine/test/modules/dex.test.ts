import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { needs } from "@vigil/test-kit";
import { dexModule } from "../../src/modules/dex/index.js";
import { formatModuleData } from "../../src/modules/dump.js";
import { callFn, makeContext, regexp } from "./context.js";
import { buildDex } from "./dex-builder.js";
import {
  checkWithVigil,
  checkWithYara,
  compareWithDump,
  fieldCases,
  yaraDump,
  type FunctionCase,
} from "./yara-dump.js";

const noYara = needs("dex module vs yara 4.2.3", { tools: ["yara"] });

let dir = "";
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "vigil-dex-"));
});
function write(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}
function expectSameAsYara(file: string, bytes: Uint8Array): void {
  const ours = dexModule.load(makeContext(bytes));
  const theirs = yaraDump(["dex"], file).get("dex");
  expect(theirs).toBeDefined();
  expect(compareWithDump(dexModule, ours, theirs), file).toEqual([]);
}

describe("dex module against yara 4.2.3", () => {
  test.skipIf(noYara)("a generated DEX file of every version: all tables, fields, methods and code items", () => {
    for (const v of ["035", "036", "037", "038", "039"]) {
      const { bytes } = buildDex(v);
      const root = dexModule.load(makeContext(bytes));
      expect(root.number_of_methods).toBe(3);
      expect(root.number_of_fields).toBe(2);
      expectSameAsYara(write(`gen-${v}`, bytes), bytes);
    }
  });

  test.skipIf(noYara)("has_method and has_class agree with yara and Vigil's engine", async () => {
    const { bytes } = buildDex();
    const file = write("funcs", bytes);
    const ctx = makeContext(bytes);
    const root = dexModule.load(ctx);
    const d = dexModule.declarations;
    const cases: FunctionCase[] = [];
    for (const m of ["main", "helper", "<init>", "nothere", "mai"]) {
      cases.push({
        expr: `dex.has_method("${m}")`,
        value: callFn(d, "has_method", "s", root, ctx, m),
        kind: "integer",
      });
      for (const c of ["Lcom/example/Main;", "Ljava/lang/Object;", "LNope;"]) {
        cases.push({
          expr: `dex.has_method("${c}", "${m}")`,
          value: callFn(d, "has_method", "ss", root, ctx, c, m),
          kind: "integer",
        });
      }
    }
    const res: Array<[string, RegExp]> = [
      ["/^ma/", /^ma/],
      ["/elp/", /elp/],
      ["/^x$/", /^x$/],
    ];
    for (const [src, re] of res) {
      cases.push({
        expr: `dex.has_method(${src})`,
        value: callFn(d, "has_method", "r", root, ctx, regexp(re)),
        kind: "integer",
      });
      cases.push({
        expr: `dex.has_method(/example/, ${src})`,
        value: callFn(d, "has_method", "rr", root, ctx, regexp(/example/), regexp(re)),
        kind: "integer",
      });
    }
    for (const c of ["Lcom/example/Main;", "Ljava/lang/Object;"]) {
      cases.push({ expr: `dex.has_class("${c}")`, value: callFn(d, "has_class", "s", root, ctx, c), kind: "integer" });
    }
    cases.push({
      expr: `dex.has_class(/^Lcom\\//)`,
      value: callFn(d, "has_class", "r", root, ctx, regexp(/^Lcom\//)),
      kind: "integer",
    });
    cases.push({
      expr: `dex.has_class(/Object/)`,
      value: callFn(d, "has_class", "r", root, ctx, regexp(/Object/)),
      kind: "integer",
    });
    expect(cases.filter((c) => c.value === 1).length).toBeGreaterThan(5);
    expect(cases.filter((c) => c.value === 0).length).toBeGreaterThan(5);
    expect(checkWithYara(["dex"], file, cases)).toEqual([]);
    expect(await checkWithVigil(["dex"], bytes, cases)).toEqual([]);
  });

  test.skipIf(noYara)("fields as rule conditions: yara and Vigil's engine agree with the module data", async () => {
    const { bytes } = buildDex("038");
    const file = write("rules", bytes);
    const root = dexModule.load(makeContext(bytes));
    // field[i].static/instance are newer than yara 4.2.3
    const cases = fieldCases(dexModule, root, { maxItems: 4 }).filter(
      (c) => !/^dex\.field\[\d+\]\.(static|instance)$/.test(c.expr),
    );
    expect(cases.length).toBeGreaterThan(100);
    expect(checkWithYara(["dex"], file, cases)).toEqual([]);
    expect(await checkWithVigil(["dex"], bytes, cases)).toEqual([]);
  });

  test.skipIf(noYara)("the yara -D printer reproduces yara's output", () => {
    const { bytes } = buildDex();
    const file = write("print", bytes);
    const rule = write("dump.yar", 'import "dex"\nrule r { condition: false }\n');
    const out = spawnSync("yara", ["-D", rule, file]).stdout.toString("latin1");
    // field[i].static and field[i].instance are newer than yara 4.2.3: leave them out of the comparison
    const ours = formatModuleData(dexModule, dexModule.load(makeContext(bytes)))
      .split("\n")
      .filter((l) => !/^\t{3}(static|instance) = /.test(l))
      .join("\n");
    expect(ours).toBe(out);
  });

  test.skipIf(noYara)("truncated and corrupted files: no exception, same fields as yara", () => {
    const { bytes, layout } = buildDex();
    const cuts = [
      7,
      8,
      0x6f,
      0x70,
      0x71,
      layout.stringIds + 10,
      layout.classDefs + 16,
      layout.classData + 3,
      layout.classData + 12,
      layout.codeItems[0]! + 8,
      layout.codeItems[0]! + 20,
      layout.map + 2,
      layout.map + 30,
      bytes.length - 1,
    ];
    for (const cut of cuts) {
      const b = bytes.slice(0, cut);
      expectSameAsYara(write(`cut-${cut}`, b), b);
    }
    const dv = (b: Uint8Array) => new DataView(b.buffer);
    const patches: Array<[string, (b: Uint8Array) => void]> = [
      ["string count huge", (b) => dv(b).setUint32(56, 0x7fffffff, true)],
      ["string offset past end", (b) => dv(b).setUint32(layout.stringIds + 4, 0x7ffffff0, true)],
      ["type ids past end", (b) => dv(b).setUint32(68, 0xfffffff0, true)],
      ["class defs past end", (b) => dv(b).setUint32(96, 0x10000, true)],
      ["class data past end", (b) => dv(b).setUint32(layout.classDefs + 24, b.length - 4, true)],
      ["method count huge", (b) => void (b[layout.classData + 2] = 0x7f)],
      ["field index out of range", (b) => void (b[layout.classData + 6] = 0x50)],
      ["code offset past end", (b) => dv(b).setUint32(layout.codeItems[0]! + 12, 0x7fffffff, true)],
      ["map size huge", (b) => dv(b).setUint32(layout.map, 0x0fffffff, true)],
      ["map offset zero", (b) => dv(b).setUint32(52, 0, true)],
    ];
    for (const [name, patch] of patches) {
      const b = bytes.slice();
      patch(b);
      const t0 = performance.now();
      dexModule.load(makeContext(b));
      expect(performance.now() - t0, name).toBeLessThan(1000);
      expectSameAsYara(write(`bad-${name.replace(/ /g, "_")}`, b), b);
    }
  });
});

describe("dex module", () => {
  test("non-DEX data: constants only, functions undefined", () => {
    const ctx = makeContext("dex\n034\0" + "\0".repeat(200));
    const root = dexModule.load(ctx);
    expect(root.DEX_FILE_MAGIC_035).toBeDefined();
    expect(root.ENDIAN_CONSTANT).toBe(0x12345678);
    expect(root.header).toBeUndefined();
    expect(callFn(dexModule.declarations, "has_method", "s", root, ctx, "main")).toBeUndefined();
  });

  test("methods resolve names, classes, prototypes and code", () => {
    const root = dexModule.load(makeContext(buildDex().bytes));
    const methods = root.method as Array<Record<string, unknown>>;
    expect(methods.map((m) => [m.class_name, m.name, m.proto])).toEqual([
      ["Lcom/example/Main;", "<init>", "V"],
      ["Lcom/example/Main;", "main", "VL"],
      ["Lcom/example/Main;", "helper", "II"],
    ]);
    expect((methods[0]!.code_item as Record<string, unknown>).insns).toBe("\x70\x10\x03\x00\x00\x00\x0e\x00");
    expect(methods[2]!.code_item).toBeUndefined();
    const fields = root.field as Array<Record<string, unknown>>;
    expect(fields.map((f) => [f.name, f.proto, f.static, f.instance])).toEqual([
      ["count", "I", 1, 0],
      ["name", "Ljava/lang/String;", 0, 1],
    ]);
  });

  test("hostile class data shared by many classes stays bounded", () => {
    const { bytes, layout } = buildDex();
    // 20,000 class definitions all pointing at one class data item that claims 2^28 methods
    const count = 20_000;
    const extra = new Uint8Array(bytes.length + count * 32 + 400_000);
    extra.set(bytes);
    const dv = new DataView(extra.buffer);
    const defs = bytes.length;
    const data = defs + count * 32;
    for (let i = 0; i < count; i++) dv.setUint32(defs + i * 32 + 24, data, true);
    extra.set([0, 0, 0x80, 0x80, 0x80, 0x01, 0], data); // 0 static, 0 instance, 2^21 direct methods
    for (let i = data + 7; i < extra.length; i += 3) extra.set([0, 1, 0], i); // diff 0, flags 1, no code
    dv.setUint32(96, count, true);
    dv.setUint32(100, defs, true);
    void layout;
    const t0 = performance.now();
    const root = dexModule.load(makeContext(extra));
    expect(performance.now() - t0).toBeLessThan(15_000);
    expect(root.number_of_methods as number).toBeLessThanOrEqual(2_000_000);
  });
});
