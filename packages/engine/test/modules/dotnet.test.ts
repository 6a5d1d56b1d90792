/**
 * The dotnet module against Debian's yara 4.2.3 on Mono's assemblies (and on the other PE
 * fixtures, which are not .NET), plus truncated and corrupted variants.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { needs } from "@vigil/test-kit";
import { dotnetModule } from "../../src/modules/dotnet/index.js";
import { makeContext } from "./context.js";
import { compareWithDump, yaraDump } from "./yara-dump.js";
import { allPeFiles, peFixtures, reportMissing, toYara423Dotnet as toYara423 } from "./pe-fixtures.js";

const noYara = needs("dotnet module vs yara 4.2.3", { tools: ["yara"] });

type Obj = Record<string, any>;
const load = (bytes: Uint8Array): Obj => dotnetModule.load(makeContext(bytes)) as Obj;
const read = (f: string) => new Uint8Array(readFileSync(f));
const assemblies = allPeFiles().filter((f) => f.startsWith("/usr/lib/mono/"));
const MONO_SECURITY = "/usr/lib/mono/4.5/Mono.Security.dll";
const noMono = needs("dotnet module on Mono's assemblies", { debianFiles: [MONO_SECURITY] });

beforeAll(() => reportMissing(peFixtures()));

describe("dotnet module against yara -D", () => {
  test.skipIf(noYara)(
    "every field yara 4.2.3 prints agrees on every PE fixture (.NET or not) and on an ELF file",
    () => {
      const failures: string[] = [];
      for (const f of [...allPeFiles(), "/usr/bin/true"]) {
        const ours = toYara423(load(read(f)));
        const diffs = compareWithDump(dotnetModule, ours, yaraDump(["dotnet"], f).get("dotnet"));
        if (diffs.length) failures.push(`${f}:\n  ${diffs.join("\n  ")}`);
      }
      expect(failures).toEqual([]);
    },
  );

  test.skipIf(noMono)(
    "Mono assemblies: metadata version, streams, module name, assembly, references, user strings",
    () => {
      const sec = load(read("/usr/lib/mono/4.5/Mono.Security.dll"));
      expect(sec.is_dotnet).toBe(1);
      expect(sec.version).toBe("v4.0.30319");
      expect(sec.module_name).toBe("Mono.Security.dll");
      expect(sec.streams.map((s: Obj) => s.name)).toEqual(["#~", "#Strings", "#US", "#GUID", "#Blob"]);
      expect(sec.number_of_guids).toBe(1);
      expect(sec.guids[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(sec.assembly.name).toBe("Mono.Security");
      expect(sec.assembly.version).toEqual({ major: 4, minor: 0, build_number: 0, revision_number: 0 });
      expect(sec.assembly.culture).toBeUndefined();
      const mscorlib = sec.assembly_refs.find((r: Obj) => r.name === "mscorlib");
      expect(Buffer.from(mscorlib.public_key_or_token, "latin1").toString("hex")).toBe("b77a5c561934e089");
      expect(sec.number_of_user_strings).toBeGreaterThan(10);
      expect(sec.number_of_constants).toBe(sec.constants.length);
      // mscorlib has tables over YARA's 10000-row limit: the walk stops, as in YARA.
      const corlib = load(read("/usr/lib/mono/4.5/mscorlib.dll"));
      expect(corlib.is_dotnet).toBe(1);
      expect(corlib.assembly).toBeUndefined();
      expect(corlib.number_of_user_strings).toBeGreaterThan(1000);
    },
  );

  test.skipIf(noMono)(
    "classes (YARA 4.5): types with namespaces, base types, methods, parameters and their decoded types",
    () => {
      const r = load(read("/usr/lib/mono/4.5/Mono.Security.dll"));
      expect(r.number_of_classes).toBe(r.classes.length);
      expect(r.number_of_classes).toBeGreaterThan(100);
      const byName = new Map((r.classes as Obj[]).map((c) => [c.fullname, c]));
      const asn1 = byName.get("Mono.Security.ASN1")!;
      expect(asn1).toMatchObject({
        name: "ASN1",
        namespace: "Mono.Security",
        type: "class",
        visibility: "public",
        abstract: 0,
        sealed: 0,
      });
      expect(asn1.base_types).toEqual(["System.Object"]);
      const add = (asn1.methods as Obj[]).find((m) => m.name === "Add")!;
      expect(add).toMatchObject({
        visibility: "public",
        static: 0,
        return_type: "Mono.Security.ASN1",
        number_of_parameters: 1,
      });
      expect(add.parameters).toEqual([{ name: "asn1", type: "Mono.Security.ASN1" }]);
      const ctor = (asn1.methods as Obj[]).find((m) => m.name === ".ctor")!;
      expect(ctor.return_type).toBeUndefined();
      // a delegate: sealed class deriving from MulticastDelegate, with Invoke/BeginInvoke/EndInvoke
      const prim = byName.get("Mono.Math.Prime.PrimalityTest")!;
      expect(prim).toMatchObject({ sealed: 1, base_types: ["System.MulticastDelegate"] });
      expect((prim.methods as Obj[]).map((m) => m.name)).toEqual([".ctor", "Invoke", "BeginInvoke", "EndInvoke"]);
      // every type name is a non-empty byte string without the generic arity suffix
      for (const c of r.classes as Obj[]) {
        expect(c.name).not.toMatch(/`/);
        expect(c.number_of_base_types).toBe(c.base_types.length);
        if (c.number_of_methods !== undefined) expect(c.number_of_methods).toBe(c.methods.length);
      }
      // generic types and methods carry their parameter names
      const generic = (r.classes as Obj[]).filter((c) => c.number_of_generic_parameters > 0);
      for (const g of generic) expect(g.generic_parameters.length).toBe(g.number_of_generic_parameters);
    },
  );

  test("a PE that is not .NET has is_dotnet = 0; a non-PE has nothing defined", () => {
    const clam = allPeFiles().find((f) => f.endsWith("clam.exe"));
    if (clam) expect(load(read(clam))).toEqual({ is_dotnet: 0 });
    expect(load(read("/usr/bin/true"))).toEqual({});
  });
});

describe("malformed .NET files", () => {
  test.skipIf(noYara ?? noMono)(
    "truncated and corrupted assemblies: the same fields defined, with the same values, as yara",
    () => {
      const f = MONO_SECURITY;
      const tmp = mkdtempSync(join(tmpdir(), "vigil-dotnet-"));
      const bytes = read(f);
      const r = load(bytes);
      const variants: Array<[string, Uint8Array]> = [];
      const cuts = new Set<number>();
      for (const s of r.streams as Obj[]) for (const d of [0, 4, 12, 24, 30, 100, 1000]) cuts.add(s.offset + d);
      for (let i = 1; i < 10; i++) cuts.add(Math.floor((bytes.length * i) / 10));
      for (const cut of cuts) variants.push([`cut at ${cut}`, bytes.subarray(0, cut)]);
      const md = (r.streams as Obj[])[0]!.offset as number;
      const mutate = (name: string, m: (b: Uint8Array) => void) => {
        const b = bytes.slice();
        m(b);
        variants.push([name, b]);
      };
      mutate("#~ Valid mask all ones", (b) => b.fill(0xff, md + 8, md + 16));
      mutate("#~ row counts 0xffffffff", (b) => b.fill(0xff, md + 24, md + 24 + 64));
      mutate("#~ row counts 0x7f7f7f7f", (b) => b.fill(0x7f, md + 24, md + 24 + 200));
      mutate("wide heap indexes", (b) => {
        b[md + 6] = 0x07;
      });
      for (const s of (r.streams as Obj[]).slice(1)) {
        mutate(`${s.name} filled with 0xff`, (b) => b.fill(0xff, s.offset, s.offset + 64));
        mutate(`${s.name} filled with 0xc0`, (b) => b.fill(0xc0, s.offset, s.offset + 64));
        mutate(`${s.name} zeroed`, (b) => b.fill(0x00, s.offset + 1, s.offset + 200));
      }
      const failures: string[] = [];
      variants.forEach(([name, b], i) => {
        const p = join(tmp, `v${i}`);
        writeFileSync(p, b);
        const diffs = compareWithDump(dotnetModule, toYara423(load(b)), yaraDump(["dotnet"], p).get("dotnet"), {
          limit: 5,
        });
        if (diffs.length) failures.push(`${name}:\n  ${diffs.join("\n  ")}`);
      });
      expect(failures).toEqual([]);
      expect(variants.length).toBeGreaterThan(50);
    },
  );

  test.skipIf(noMono)(
    "the #~ EXTRA_DATA heap flag shifts the tables by 4 bytes (YARA 4.5; yara 4.2.3 ignores it)",
    () => {
      const f = MONO_SECURITY;
      const bytes = read(f);
      const md = (load(bytes).streams as Obj[])[0]!.offset as number;
      const b = bytes.slice();
      b[md + 6]! |= 0x40;
      const r = load(b);
      // the Module row is now read 4 bytes late: its name index lands elsewhere
      expect(r.module_name).not.toBe("Mono.Security.dll");
    },
  );

  test.skipIf(noMono)("truncated anywhere and with corrupted metadata: no exception, bounded time", () => {
    let variants = 0;
    for (const f of assemblies.filter((x) => readFileSync(x).length < 2_000_000)) {
      const bytes = read(f);
      const r = load(bytes);
      const md = r.streams?.[0]?.offset as number | undefined;
      const cuts = new Set<number>();
      for (let i = 1; i < 40; i++) cuts.add(Math.floor((bytes.length * i) / 40));
      for (const s of (r.streams as Obj[] | undefined) ?? [])
        for (const d of [0, 4, 12, 24, 30]) cuts.add(s.offset + d);
      for (const cut of cuts) {
        const t = performance.now();
        const res = load(bytes.subarray(0, Math.min(cut, bytes.length)));
        expect(performance.now() - t).toBeLessThan(2000);
        expect(res.is_dotnet === undefined || res.is_dotnet === 0 || res.is_dotnet === 1).toBe(true);
        variants++;
      }
      if (md === undefined) continue;
      // corrupt the #~ header: every table present, huge row counts, wide heaps
      const mutations: Array<(b: Uint8Array) => void> = [
        (b) => b.fill(0xff, md + 8, md + 16),
        (b) => b.fill(0xff, md + 24, md + 24 + 64),
        (b) => {
          b[md + 6] = 0xff;
        },
        (b) => b.fill(0x7f, md + 24, md + 24 + 200),
      ];
      for (const s of (r.streams as Obj[]).slice(1)) {
        mutations.push((b) => b.fill(0xff, s.offset, s.offset + 64));
        mutations.push((b) => b.fill(0xc0, s.offset, s.offset + 64));
      }
      for (const m of mutations) {
        const b = bytes.slice();
        m(b);
        const t = performance.now();
        load(b);
        expect(performance.now() - t).toBeLessThan(3000);
        variants++;
      }
    }
    expect(variants).toBeGreaterThan(100);
  });
});

describe("dotnet classes on hostile tables", () => {
  test("types that all claim the same 10000 methods with 2000-parameter signatures finish in bounded time", async () => {
    const { parseClasses } = await import("../../src/modules/dotnet/classes.js");
    const { Bytes } = await import("../../src/modules/pe/reader.js");
    const types = 10000;
    const methods = 10000;
    // layout: [strings "\0Name\0"] [blob: len, sig] [typedef rows] [methoddef rows]
    const strings = Uint8Array.from([0, ...Buffer.from("Evil\0", "latin1")]);
    const sig = [0x00, 0x80 | (2000 >> 8), 2000 & 0xff, 0x01, ...new Array(2000).fill(0x08)]; // void M(int x 2000)
    const blob = Uint8Array.from([0xc0, 0, (sig.length >> 8) & 0xff, sig.length & 0xff, ...sig]);
    const typedefRow = 4 + 2 + 2 + 2 + 2 + 2;
    const methodRow = 4 + 2 + 2 + 2 + 2 + 2;
    const typedefAt = strings.length + blob.length;
    const methodAt = typedefAt + types * typedefRow;
    const data = new Uint8Array(methodAt + methods * methodRow);
    data.set(strings, 0);
    data.set(blob, strings.length);
    const v = new DataView(data.buffer);
    for (let i = 0; i < types; i++) {
      const o = typedefAt + i * typedefRow;
      v.setUint32(o, 0x1, true); // public class
      v.setUint16(o + 4, 1, true); // name "Evil"
      v.setUint16(o + 12, i % 2 ? methods : 1, true); // method list alternating 1 / 10000
    }
    for (let i = 0; i < methods; i++) {
      const o = methodAt + i * methodRow;
      v.setUint16(o + 6, 0x16, true);
      v.setUint16(o + 8, 1, true); // name
      v.setUint16(o + 10, strings.length, true); // signature blob (index relative to blob heap 0)
      v.setUint16(o + 12, 1, true); // param list 1 (no Param table: names P_0, P_1, ...)
    }
    const b = new Bytes(data);
    const t0 = performance.now();
    const r = parseClasses({
      b,
      str: (i) => (i > 0 && i < strings.length ? "Evil" : i === 0 ? "" : undefined),
      blobHeap: 0,
      blob: (at) => (at === strings.length ? { size: 4, length: sig.length } : { size: 0, length: 0 }),
      tables: {
        module: { offset: 0, rows: 0, rowSize: 0 },
        typeref: { offset: 0, rows: 0, rowSize: 6 },
        typedef: { offset: typedefAt, rows: types, rowSize: typedefRow },
        methoddef: { offset: methodAt, rows: methods, rowSize: methodRow },
        param: { offset: 0, rows: 0, rowSize: 6 },
        interfaceimpl: { offset: 0, rows: 0, rowSize: 4 },
        moduleref: { offset: 0, rows: 0, rowSize: 2 },
        typespec: { offset: 0, rows: 0, rowSize: 2 },
        assemblyref: { offset: 0, rows: 0, rowSize: 20 },
        nestedclass: { offset: 0, rows: 0, rowSize: 4 },
        genericparam: { offset: 0, rows: 0, rowSize: 8 },
      },
      idx: { string: 2, blob: 2, field: 2, methoddef: 2, param: 2, typedef: 2 },
    });
    const ms = performance.now() - t0;
    expect(r.count).toBe(types);
    expect(ms).toBeLessThan(15000);
    // the first type got its methods before the work budget ran out
    const first = (r.classes[0]!.methods as Array<Record<string, any>>)[0]!;
    expect(first.number_of_parameters).toBe(2000);
    expect(first.parameters[1999]).toEqual({ name: "P_1999", type: "int" });
  });
});
