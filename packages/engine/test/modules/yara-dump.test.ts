/** Tests of the shared module-test helpers (yara -D parser and comparator) and of the yara -D printer. */
import { describe, expect, test } from "vitest";
import { formatModuleData } from "../../src/modules/dump.js";
import { array, dictionary, float, integer, string, struct, type YaraModule } from "../../src/modules/schema.js";
import { elfModule } from "../../src/modules/elf/index.js";
import { machoModule } from "../../src/modules/macho/index.js";
import { dexModule } from "../../src/modules/dex/index.js";
import { makeContext } from "./context.js";
import { buildElf } from "./elf-builder.js";
import { buildFat, buildMacho } from "./macho-builder.js";
import { buildDex } from "./dex-builder.js";
import { cFloat, compareWithDump, floatLiteral, parseYaraDump, stringLiteral } from "./yara-dump.js";

const toy: YaraModule = {
  name: "toy",
  declarations: struct({
    n: integer,
    f: float,
    s: string,
    u: integer,
    items: array(struct({ a: integer, b: string })),
    d: dictionary(string),
    inner: struct({ x: integer }),
  }),
  load: () => ({}),
};

describe("yara -D parser, printer and comparator", () => {
  test("parses scalars, escapes, undefined values, arrays and dictionaries", () => {
    const text = [
      "toy",
      "\tinner",
      "\t\tx = -5",
      "\td",
      '\t\tCompanyName = "Acme \\x22Q\\x22"',
      "\titems",
      "\t\t[0]",
      "\t\t\ta = 1",
      '\t\t\tb = "x\\x00y"',
      "\t\t[2]",
      "\t\t\ta = 3",
      "\t\t\tb = YR_UNDEFINED",
      "\tu = YR_UNDEFINED",
      '\ts = "a\\x0ab"',
      "\tf = 0.500000",
      "\tn = 18446744073709551615",
      "other",
      "\tk = 1",
      "",
    ].join("\n");
    const mods = parseYaraDump(text);
    expect([...mods.keys()]).toEqual(["toy", "other"]);
    const root = mods.get("toy")!;
    expect(root.children.get("s")).toEqual({ kind: "string", value: "a\nb" });
    expect(root.children.get("u")).toEqual({ kind: "undefined" });
    const ours = {
      n: -1,
      f: 0.5,
      s: "a\nb",
      u: undefined,
      items: [{ a: 1, b: "x\0y" }, undefined, { a: 3, b: undefined }],
      d: new Map([["CompanyName", 'Acme "Q"']]),
      inner: { x: -5 },
    };
    expect(compareWithDump(toy, ours, root)).toEqual([]);
    // negative controls: each kind of difference is reported
    expect(compareWithDump(toy, { ...ours, n: 1 }, root)).toEqual(["toy.n: ours 1, yara 18446744073709551615"]);
    expect(compareWithDump(toy, { ...ours, f: 0.25 }, root)).toEqual(["toy.f: ours 0.250000, yara 0.500000"]);
    expect(compareWithDump(toy, { ...ours, u: 3 }, root)).toEqual(["toy.u: ours 3, yara undefined"]);
    expect(compareWithDump(toy, { ...ours, items: ours.items.slice(0, 1) }, root)).toEqual([
      "toy.items: ours has 1 items, yara 3",
    ]);
    expect(compareWithDump(toy, { ...ours, d: new Map() }, root)).toEqual(['toy.d["CompanyName"]: yara only']);
  });

  test("the printer's output parses back to the same data (elf, macho, dex on generated files)", () => {
    const cases: Array<[YaraModule, Uint8Array]> = [
      [elfModule, buildElf({ is64: true, le: false }).bytes],
      [
        machoModule,
        buildFat([
          { cputype: 7, cpusubtype: 3, bytes: buildMacho({ is64: false, le: true, cputype: 7, entry: "main" }) },
        ]),
      ],
      [dexModule, buildDex().bytes],
    ];
    for (const [m, bytes] of cases) {
      const root = m.load(makeContext(bytes));
      const text = formatModuleData(m, root);
      expect(text.startsWith(`${m.name}\n\t`)).toBe(true);
      expect(compareWithDump(m, root, parseYaraDump(text).get(m.name)), m.name).toEqual([]);
    }
  });

  test("printer layout: reversed members at top level, declaration order inside array items, escapes", () => {
    const text = formatModuleData(toy, {
      n: 7,
      s: '\x01\xff"',
      items: [{ a: 1, b: "q" }],
      d: new Map([["k\n", "v"]]),
      inner: { x: 2 },
    });
    expect(text).toBe(
      [
        "toy",
        "\tinner",
        "\t\tx = 2",
        "\td",
        '\t\tk\\x0a = "v"',
        "\titems",
        "\t\t[0]",
        "\t\t\ta = 1",
        '\t\t\tb = "q"',
        "\tu = YR_UNDEFINED",
        '\ts = "\\x01\\xff""',
        "\tf = YR_UNDEFINED",
        "\tn = 7",
        "",
      ].join("\n"),
    );
  });

  test("literals for generated rules round-trip", () => {
    for (const x of [0, 1.5, -2.25, 1e-7, 123456789.123, Math.PI, 7.999999999999999])
      expect(Number(floatLiteral(x))).toBe(x);
    expect(floatLiteral(1e-7)).not.toContain("e");
    expect(stringLiteral('a"b\\c\x00\xff')).toBe('"a\\x22b\\x5cc\\x00\\xff"');
    expect(cFloat(1 / 3)).toBe("0.333333");
  });
});
