/**
 * `vigil audit rules` on rules that hunt documents by their condition (issue 19), YARA and ClamAV
 * alike, run as a process on the built bin.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, test } from "vitest";

const BIN = fileURLToPath(new URL("../bin/vigil.js", import.meta.url));
const built = existsSync(fileURLToPath(new URL("../dist/index.js", import.meta.url)));
if (!built) console.log("CLI tests need the build (npm test runs tsc -b first): not run");
const dir = mkdtempSync(join(tmpdir(), "vigil-audit-cond-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const vigil = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 60_000 });
const hex = (s: string) => Buffer.from(s, "latin1").toString("hex");

describe.runIf(built)("vigil audit rules reads conditions", () => {
  test("a YARA rule confined to OLE2 by uint32(0) with an office's name fails; a macro rule passes", () => {
    const hunt = join(dir, "hunt");
    const ok = join(dir, "ok");
    for (const d of [hunt, ok]) rmSync(d, { recursive: true, force: true });
    for (const d of [hunt, ok]) mkdirSync(d, { recursive: true });
    writeFileSync(
      join(hunt, "office.yar"),
      'rule Office { strings: $a = "Joint Staff" nocase condition: uint32(0) == 0xE011CFD0 and $a }\n',
    );
    writeFileSync(
      join(ok, "macro.yar"),
      'rule Macro { strings: $a = "AutoOpen" $b = "Shell" condition: uint32(0) == 0xE011CFD0 and all of them }\n',
    );
    const r = vigil(["audit", "rules", hunt]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(
      /high: rule Office: is confined by its condition to OLE2 documents .*organisation.*\[document-target\]/,
    );
    expect(r.stdout).toMatch(/evidence: the condition checks the OLE2 magic \(uint32\(0\) == 0xe011cfd0\)/);
    expect(vigil(["audit", "rules", ok]).status).toBe(0);
  });

  test("a ClamAV .ldb in a directory is audited like a witness audits it: Target:10 confines to PDF", () => {
    const clam = join(dir, "clam");
    mkdirSync(clam, { recursive: true });
    writeFileSync(
      join(clam, "local.ldb"),
      `Pdf.Hunt-1;Engine:51-255,Target:10;0;${hex("Ministry of Foreign Affairs")}\n`,
    );
    const r = vigil(["audit", "rules", "--json", clam]);
    expect(r.status).toBe(1);
    const j = JSON.parse(r.stdout) as {
      files: number;
      errors: unknown[];
      findings: Array<{ code: string; evidence: string }>;
    };
    expect(j.files).toBe(1);
    expect(j.errors).toEqual([]);
    expect(j.findings.map((f) => f.code)).toEqual(["document-target"]);
    expect(j.findings[0]!.evidence).toMatch(/Target:10 \(PDF\)/);
  });
});
