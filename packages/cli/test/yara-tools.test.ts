/**
 * yara-x's tooling under `vigil yara` (check, fmt, dump) and `vigil audit rules` compiling what
 * it audits, run as processes on the built bin. `dump` is compared with `yara -D` (Debian's
 * yara 4.2.3) on a real ELF file.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { needs } from "@vigil/test-kit";

const BIN = join(__dirname, "../bin/vigil.js");
const built = existsSync(join(__dirname, "../dist/index.js"));
if (!built) console.log("CLI tests need the build (npm test runs tsc -b first): not run");
const noYara = needs("vigil yara dump vs yara -D", { tools: ["yara"] });

const dir = mkdtempSync(join(tmpdir(), "vigil-yara-tools-"));
const vigil = (args: string[]) => {
  const r = spawnSync("node", [BIN, ...args], { encoding: "latin1" });
  return { out: r.stdout, err: r.stderr, status: r.status };
};
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text, "latin1");
  return p;
};

describe.runIf(built)("vigil yara check", () => {
  test("an unknown field: the caret is under the field, not the module", () => {
    const p = file("field.yar", 'import "pe"\nrule a { condition: pe.no_such_field == 1 }\n');
    const r = vigil(["yara", "check", p]);
    expect(r.status).toBe(1);
    expect(r.out).toContain(
      [
        "error[E_UNDEFINED_IDENTIFIER]: unknown field 'no_such_field' in 'pe'",
        ` --> ${p}:2:24`,
        "  |",
        "2 | rule a { condition: pe.no_such_field == 1 }",
        "  |                        ^^^^^^^^^^^^^",
      ].join("\n"),
    );
    expect(r.out).toContain(`[ FAIL ] ${p}\n`);
  });

  test("an unreferenced string: the caret is on its declaration", () => {
    const p = file("unref.yar", 'rule u {\n  strings:\n    $a = "abc"\n    $b = "def"\n  condition:\n    $a\n}\n');
    const r = vigil(["yara", "check", p]);
    expect(r.status).toBe(1);
    expect(r.out).toContain(` --> ${p}:4:5\n  |\n4 |     $b = "def"\n  |     ^^\n`);
    expect(r.out).toContain("= help: use it in the condition");
  });

  test("a type error points at the operator", () => {
    const p = file("type.yar", 'rule t { condition: filesize == "big" }\n');
    const r = vigil(["yara", "check", p]);
    expect(r.out).toContain('1 | rule t { condition: filesize == "big" }\n  |                              ^^\n');
  });

  test("warnings pass (exit 0) unless --fail-on-warnings; clean files PASS; a directory is walked", () => {
    const w = file("warn.yar", 'rule w { strings: $a = "abcd" condition: 2 of them }\n');
    const ok = file("ok.yar", 'rule ok { strings: $a = "abcd" condition: $a }\n');
    const r = vigil(["yara", "check", w, ok]);
    expect(r.status).toBe(0);
    expect(r.out).toContain("warning[W_CONSTANT_CONDITION]: expression always false: requesting 2 of 1 strings");
    expect(r.out).toContain(`[ WARN ] ${w}\n`);
    expect(r.out).toContain(`[ PASS ] ${ok}\n`);
    expect(vigil(["yara", "check", "--fail-on-warnings", w]).status).toBe(1);
    expect(vigil(["yara", "check", "-w", w]).out).not.toContain("warning[");
    const all = vigil(["yara", "check", dir]);
    expect(all.status).toBe(1); // field.yar, unref.yar, type.yar fail
    expect(all.err).toMatch(/file\(s\) checked: 3 failed/);
  });

  test("lints on request: rule names and required meta, under the rule's name", () => {
    const p = file(
      "lint.yar",
      'rule bad_Name { meta: author = "x" condition: true }\nrule GoodName { condition: true }\n',
    );
    const args = ["yara", "check", "--required-meta", "author", "--rule-name-regexp", "^[A-Z][A-Za-z]+$"];
    const r = vigil([...args, p]);
    expect(r.status).toBe(0);
    expect(r.out).toContain(
      'warning[W_RULE_NAME]: rule name "bad_Name" does not match /^[A-Z][A-Za-z]+$/\n --> ' +
        `${p}:1:6\n  |\n1 | rule bad_Name { meta: author = "x" condition: true }\n  |      ^^^^^^^^\n`,
    );
    expect(r.out).toContain('warning[W_MISSING_META]: rule "GoodName" has no meta entry "author"');
    expect(vigil([...args, "--fail-on-warnings", p]).status).toBe(1);
  });

  test("externals with -d; usage errors are one line", () => {
    const p = file("ext.yar", "rule e { condition: ext_int > 2 }\n");
    expect(vigil(["yara", "check", p]).status).toBe(1);
    expect(vigil(["yara", "check", "-d", "ext_int=3", p]).status).toBe(0);
    const missing = vigil(["yara", "check", join(dir, "missing.yar")]);
    expect(missing.status).toBe(1);
    expect(missing.err).toBe(`error: could not open ${join(dir, "missing.yar")} (ENOENT)\n`);
    const u = vigil(["yara", "check", "--bogus", p]);
    expect(u.status).toBe(1);
    expect(u.err).toBe("unknown option `--bogus`\n");
  });
});

describe.runIf(built)("vigil yara fmt", () => {
  const messy = '// keep me\nrule   m:tag {strings: $a="x"   nocase\n $h={4d 5a} condition:$a and\n#a>0x1 or $h}\n';
  test("--check reports, --stdout prints, the default rewrites in place; the result is stable", () => {
    const p = file("messy.yar", messy);
    const c = vigil(["yara", "fmt", "--check", p]);
    expect(c.status).toBe(1);
    expect(c.out).toBe(`${p}: would be reformatted\n`);
    expect(readFileSync(p, "latin1")).toBe(messy); // --check changes nothing
    const s = vigil(["yara", "fmt", "--stdout", p]);
    expect(s.out).toBe(
      '// keep me\nrule m : tag {\n  strings:\n    $a = "x" nocase\n    $h = { 4D 5A }\n  condition:\n    $a and #a > 0x1 or $h\n}\n',
    );
    expect(vigil(["yara", "fmt", p]).status).toBe(0);
    expect(readFileSync(p, "latin1")).toBe(s.out);
    expect(vigil(["yara", "fmt", "--check", p]).status).toBe(0);
  });

  test("a file that does not parse is left alone and reported", () => {
    const p = file("broken.yar", "rule b { condition: }\n");
    const r = vigil(["yara", "fmt", p]);
    expect(r.status).toBe(1);
    expect(r.err).toMatch(/^error\[E_SYNTAX\]/);
    expect(readFileSync(p, "latin1")).toBe("rule b { condition: }\n");
  });
});

describe.runIf(built)("vigil yara dump", () => {
  test.runIf(!noYara)("the elf module's output equals yara -D's for /usr/bin/ls", () => {
    const rules = file("elf.yar", 'import "elf"\nrule x { condition: false }\n');
    const y = spawnSync("yara", ["-D", rules, "/usr/bin/ls"], { encoding: "latin1" });
    const v = vigil(["yara", "dump", "-m", "elf", "/usr/bin/ls"]);
    expect(v.status).toBe(0);
    expect(v.out).toBe(y.stdout);
  });

  test("by default only the modules that recognise the format; --json; errors", () => {
    const v = vigil(["yara", "dump", "/usr/bin/ls"]);
    expect(v.status).toBe(0);
    expect(v.out.startsWith("elf\n")).toBe(true);
    expect(v.out).not.toMatch(/^pe$/m);
    const j = JSON.parse(vigil(["yara", "dump", "--json", "/usr/bin/ls"]).out) as Record<string, { type?: number }>;
    expect(Object.keys(j)).toEqual(["elf"]);
    expect(j.elf!.type).toBe(3); // ET_DYN
    const text = file("plain.txt", "just text\n");
    expect(vigil(["yara", "dump", text]).out).toBe("");
    expect(vigil(["yara", "dump", join(dir, "missing")]).status).toBe(1);
    expect(vigil(["yara", "dump", "-m", "nosuch", text]).err).toMatch(/no module "nosuch"/);
  });
});

describe.runIf(built)("vigil audit rules compiles what it audits", () => {
  test("a file that does not compile fails the audit with its diagnostic", () => {
    const sub = mkdtempSync(join(tmpdir(), "vigil-audit-compile-"));
    writeFileSync(join(sub, "bad.yar"), "rule bad { condition: foo }\n");
    const r = vigil(["audit", "rules", sub]);
    expect(r.status).toBe(1);
    expect(r.out).toContain(`${join(sub, "bad.yar")}:1:23: error[E_UNDEFINED_IDENTIFIER]: undefined identifier "foo"`);
    expect(r.err).toContain("1 compile error(s)");
    const j = JSON.parse(vigil(["audit", "rules", "--json", sub]).out) as { errors: Array<{ code: string }> };
    expect(j.errors.map((e) => e.code)).toEqual(["E_UNDEFINED_IDENTIFIER"]);
    writeFileSync(join(sub, "bad.yar"), 'rule ok { strings: $a = "some marker" condition: $a }\n');
    expect(vigil(["audit", "rules", sub]).status).toBe(0);
  });
});
