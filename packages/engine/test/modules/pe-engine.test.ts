/**
 * The pe and dotnet modules through the whole engine: for a few real files, every value that
 * `yara -D` prints becomes a rule (`pe.sections[2].name == ".rsrc"`, `not defined pe.pdb_path`,
 * ...), plus rules calling the module functions; Vigil's compile + scan and Debian's yara must
 * match exactly the same rules.
 */
import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { needs } from "@vigil/test-kit";
import { compile } from "../../src/index.js";
import { literal, yaraDump, yaraMatches, type DumpNode } from "./yara-dump.js";
import { allPeFiles } from "./pe-fixtures.js";

const noYara = needs("pe module in rules vs yara 4.2.3", { tools: ["yara"] });

/** YARA expressions for every scalar yara printed, each with the value yara printed. */
function exprsFromDump(prefix: string, node: DumpNode, out: string[], max: number): void {
  if (out.length >= max) return;
  if (node.kind === "container") {
    for (const [k, child] of node.children) {
      if (out.length >= max) return;
      // 4.2.3 declares delay_import_details but Vigil follows 4.5's delayed_import_details
      if (k === "delay_import_details") continue;
      const m = /^\[(\d+)\]$/.exec(k);
      const path = m
        ? `${prefix}[${m[1]}]`
        : /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) && !prefix.endsWith("version_info")
          ? `${prefix}.${k}`
          : `${prefix}[${literal(k, "string")}]`;
      exprsFromDump(path, child, out, max);
    }
    return;
  }
  // 4.2.3 numbers import functions across DLLs (see pe-fixtures.ts); skip those paths.
  if (/import_details\[\d+\]\.(functions|number_of_functions)/.test(prefix)) return;
  if (/^dotnet\.(constants|assembly_refs\[\d+\]\.public_key_or_token)/.test(prefix)) return;
  if (node.kind === "undefined") out.push(`not defined ${prefix}`);
  else if (node.kind === "integer") out.push(`${prefix} == ${literal(node.value, "integer")}`);
  else if (node.kind === "string") out.push(`${prefix} == ${literal(node.value, "string")}`);
}

const FUNCTION_EXPRS = [
  `pe.imphash() == "00000000000000000000000000000000"`,
  `pe.imports("kernel32.dll", "ExitProcess")`,
  `pe.imports("KERNEL32.DLL")`,
  `pe.imports(/kernel32/i, /^(Get|Exit)/)`,
  `pe.exports("nsis_plugin_function") or pe.exports("Call")`,
  `pe.exports_index("Call") == 0`,
  `pe.section_index(".text") == 0`,
  `pe.section_index(pe.entry_point) == 0`,
  `pe.is_dll()`,
  `pe.is_32bit()`,
  `pe.is_64bit()`,
  `pe.calculate_checksum() == pe.checksum`,
  `pe.rva_to_offset(pe.entry_point_raw) == pe.entry_point`,
  `pe.locale(0x0409)`,
  `pe.language(0x09)`,
  `pe.rich_signature.toolid(0x93) > 0`,
  `for any s in pe.sections : (s.characteristics & pe.SECTION_MEM_EXECUTE)`,
  `for all i in (0 .. pe.number_of_sections - 1) : (pe.sections[i].raw_data_size <= filesize)`,
  `entrypoint == pe.entry_point`,
  `pe.number_of_signatures > 0 and pe.signatures[0].valid_on(1700000000)`,
  `dotnet.is_dotnet and dotnet.number_of_streams == 5`,
  `for any g in dotnet.guids : (g matches /^[0-9a-f-]{36}$/)`,
];

function files(): string[] {
  const all = allPeFiles();
  const pick = (re: RegExp, n: number) => all.filter((f) => re.test(f)).slice(0, n);
  return [
    ...pick(/clam(\.exe|_IScab_ext\.exe|-upx\.exe)$/, 3),
    ...pick(/\.efi\.signed$/, 1),
    ...pick(/Plugins\/(x86-ansi|amd64-unicode)\/System\.dll$/, 2),
    ...pick(/Mono\.Security\.dll$/, 1),
  ];
}

describe("pe and dotnet through compile + scan, against yara", () => {
  test.skipIf(noYara)("Vigil and yara match the same generated rules", () => {
    const list = files();
    expect(list.length).toBeGreaterThan(3);
    let total = 0;
    for (const f of list) {
      const dump = yaraDump(["pe", "dotnet"], f);
      const exprs: string[] = [];
      exprsFromDump("pe", dump.get("pe")!, exprs, 600);
      exprsFromDump("dotnet", dump.get("dotnet")!, exprs, 900);
      exprs.push(...FUNCTION_EXPRS);
      const source =
        `import "pe"\nimport "dotnet"\n` + exprs.map((e, i) => `rule r${i} { condition: ${e} }`).join("\n") + "\n";
      const theirs = yaraMatches(source, f);
      const ours = new Set(
        compile(source)
          .scan(new Uint8Array(readFileSync(f)))
          .matches.map((m) => m.rule),
      );
      const diff: string[] = [];
      exprs.forEach((e, i) => {
        if (theirs.has(`r${i}`) !== ours.has(`r${i}`))
          diff.push(`${e}: yara ${theirs.has(`r${i}`)}, Vigil ${ours.has(`r${i}`)}`);
      });
      expect(diff, f).toEqual([]);
      total += exprs.length;
    }
    expect(total).toBeGreaterThan(1000);
  });
});
