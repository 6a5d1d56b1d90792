/**
 * The public rule feeds (corpora/yara, from npm run fetch-corpora) that import pe or dotnet (and that Debian's yara
 * compiles): every one compiles with Vigil, and over real PE files Vigil and yara report exactly
 * the same matching rules.
 */
import { existsSync, readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { describe, expect, test } from "vitest";
import { corpus, needs } from "@vigil/test-kit";
import { compile, type SourceUnit } from "../../src/index.js";
import { allPeFiles } from "./pe-fixtures.js";

const EXTERNALS = { filename: "", filepath: "", extension: "", filetype: "", owner: "" };

function moduleRuleFiles(): Array<{ namespace: string; path: string }> {
  const out: Array<{ namespace: string; path: string }> = [];
  for (const feed of ["yara-rules", "bartblaze"]) {
    const list = join(corpus(`yara/${feed}`), "COMPILES-WITH-YARA-4.2.3.txt");
    if (!existsSync(list)) continue;
    for (const rel of readFileSync(list, "utf8").split("\n").filter(Boolean)) {
      const path = join(corpus(`yara/${feed}`), rel);
      if (/import\s+"(pe|dotnet)"/.test(readFileSync(path, "latin1"))) out.push({ namespace: `n${out.length}`, path });
    }
  }
  return out;
}

const noCorpora = needs("public rule feeds importing pe or dotnet", { corpora: ["yara/yara-rules", "yara/bartblaze"] });
const noYara = noCorpora ?? needs("public rule feeds importing pe or dotnet vs yara 4.2.3", { tools: ["yara"] });
const ruleFiles = noCorpora ? [] : moduleRuleFiles();

describe("public rule feeds that import pe or dotnet", () => {
  test.skipIf(noCorpora)("every file yara 4.2.3 compiles compiles with Vigil", { timeout: 300_000 }, () => {
    const failures: string[] = [];
    for (const { path } of ruleFiles) {
      try {
        compile([{ source: readFileSync(path, "latin1"), path }], { externals: EXTERNALS, includeDir: dirname(path) });
      } catch (e) {
        failures.push(`${path}: ${(e as Error).message.split("\n")[0]}`);
      }
    }
    expect(failures).toEqual([]);
    expect(ruleFiles.length).toBeGreaterThan(100);
  });

  test.skipIf(noYara)("Vigil and yara match the same rules on real PE and .NET files", { timeout: 300_000 }, () => {
    const units: SourceUnit[] = ruleFiles.map(({ namespace, path }) => ({
      namespace,
      path,
      source: readFileSync(path, "latin1"),
    }));
    const rules = compile(units, { externals: EXTERNALS });
    const targets = allPeFiles().filter((f) =>
      /clam\.exe$|clam_ISmsi_ext|clam-upx|clam-nsis|x86-ansi\/System\.dll|mmx64\.efi\.signed|Mono\.Security|gpgv|UIs\/modern\.exe/.test(
        f,
      ),
    );
    const args = [
      "-w",
      "-e",
      "-a",
      "60",
      ...Object.keys(EXTERNALS).flatMap((k) => ["-d", `${k}=`]),
      ...ruleFiles.map(({ namespace, path }) => `${namespace}:${path}`),
    ];
    let matched = 0;
    for (const f of targets) {
      const r = spawnSync("yara", [...args, f], { maxBuffer: 1 << 26 });
      expect(r.status, r.stderr.toString()).toBe(0);
      const theirs = new Set(
        r.stdout
          .toString("latin1")
          .split("\n")
          .filter(Boolean)
          .map((l) => l.split(" ")[0]!),
      );
      const ours = new Set(
        rules
          .scan(new Uint8Array(readFileSync(f)), { timeoutMs: 60_000 })
          .matches.map((m) => `${m.namespace}:${m.rule}`),
      );
      expect(
        [...ours].filter((x) => !theirs.has(x)),
        `${f}: only Vigil`,
      ).toEqual([]);
      expect(
        [...theirs].filter((x) => !ours.has(x)),
        `${f}: only yara`,
      ).toEqual([]);
      matched += ours.size;
    }
    console.log(
      `${ruleFiles.length} rule files importing pe/dotnet: ${matched} rule matches over ${targets.length} files, the same under Vigil and yara`,
    );
    // the rule sets do fire on these files (packers, installers, signed binaries)
    expect(matched).toBeGreaterThan(5);
  });
});
