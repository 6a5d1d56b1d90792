/**
 * Iteration over module arrays and dictionaries, and module fields in conditions, compared
 * with yara 4.2.3 on real files: ELF from /usr/bin, PE and .NET from Debian packages that CI
 * installs (mono, nsis). Files that are missing are reported and left out.
 */
import { existsSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { compile } from "../../src/index.js";
import { haveDebianFile, needs } from "@vigil/test-kit";

const TITLE = "differential: module iteration vs yara 4.2.3";
const FIXTURES = [
  "/usr/lib/mono/4.5/I18N.dll",
  "/usr/share/nsis/Contrib/UIs/modern.exe",
  "/usr/share/nsis/Contrib/UIs/default.exe",
];
const missing = needs(TITLE, { tools: ["yara"] });
// the .NET and PE fixtures are left out (with a printed reason) when their packages are missing
needs(`${TITLE} on PE and .NET files`, { debianFiles: FIXTURES });
const FILES = ["/usr/bin/ls", "/usr/bin/bash", ...FIXTURES.filter(haveDebianFile)].filter((f) => existsSync(f));

const RULES = String.raw`
import "elf"
import "pe"
import "dotnet"
rule elf_any_text { condition: for any s in elf.sections : ( s.name == ".text" ) }
rule elf_all_named { condition: elf.number_of_sections > 0 and for all s in elf.sections : ( s.name != "nope" ) }
rule elf_index { condition: for any i in (0..elf.number_of_sections - 1) : ( elf.sections[i].name == ".dynsym" and elf.sections[i].size > 0 ) }
rule elf_segments_n { condition: for 2 seg in elf.segments : ( seg.type == elf.PT_LOAD ) }
rule elf_dynsym_none { condition: for none s in elf.dynsym : ( s.name == "no_such_symbol" ) }
rule pe_sections { condition: for any s in pe.sections : ( s.name == ".text" ) }
rule pe_sections_all { condition: pe.number_of_sections > 0 and for all s in pe.sections : ( s.raw_data_size >= 0 ) }
rule pe_version_dict { condition: for any k, v in pe.version_info : ( k == "CompanyName" or v contains "Microsoft" ) }
rule pe_version_key { condition: pe.version_info["ProductName"] != "" }
rule pe_imports { condition: pe.number_of_imports > 0 and for any i in (0..pe.number_of_imports - 1) : ( pe.import_details[i].library_name icontains "kernel32" ) }
rule dotnet_streams { condition: for any s in dotnet.streams : ( s.name == "#Strings" ) }
rule dotnet_refs { condition: for any r in dotnet.assembly_refs : ( r.name == "mscorlib" ) }
rule not_pe { condition: not pe.is_pe }
`;

describe.skipIf(missing)(TITLE, () => {
  test(`same rules match on ${FILES.length} real files`, () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-iter-"));
    const rulesFile = join(dir, "r.yar");
    writeFileSync(rulesFile, RULES);
    const rules = compile(RULES);
    let compared = 0,
      matched = 0;
    for (const f of FILES) {
      const y = spawnSync("yara", ["-w", rulesFile, f]);
      expect(y.status, y.stderr.toString()).toBe(0);
      const yaraRules = y.stdout
        .toString()
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split(" ")[0])
        .sort();
      const vigilRules = rules
        .scan(readFileSync(f))
        .matches.map((m) => m.rule)
        .sort();
      expect(vigilRules, f).toEqual(yaraRules);
      compared++;
      matched += vigilRules.length;
    }
    expect(compared).toBeGreaterThanOrEqual(2);
    expect(matched).toBeGreaterThan(3);
  });
});
