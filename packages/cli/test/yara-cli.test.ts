/**
 * `vigil yara` against Debian's `yara` 4.2.3, run as processes on the same rules and files:
 * stdout byte for byte (lines sorted where yara's directory order is unspecified), exit codes,
 * and the shape of error messages. Runs the built bin (npm test builds first).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, mkdirSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { needs } from "@vigil/test-kit";

const BIN = join(__dirname, "../bin/vigil.js");
const noYara = needs("vigil yara vs yara", { tools: ["yara"] });
const built = existsSync(join(__dirname, "../dist/index.js"));
if (!built) console.log("CLI tests need the build (npm test runs tsc -b first): not run");

const dir = mkdtempSync(join(tmpdir(), "vigil-yara-cli-"));
const data = join(dir, "data");
mkdirSync(join(data, "sub"), { recursive: true });
writeFileSync(join(data, "a.bin"), Buffer.from('MZ\x90\x00hello\nworld\x01\xff"\\ EICAR and evil.exe', "latin1"));
writeFileSync(join(data, "b.txt"), "nothing to see here, just text\n");
writeFileSync(join(data, "sub", "c.txt"), "hello again from a subdirectory; evil\n");
const rulesPath = join(dir, "rules.yar");
writeFileSync(
  rulesPath,
  String.raw`
import "console"
rule a : t1 t2 { meta: author = "x\"y\\z\n" score = 5 neg = -3 ok = true hx = 0x10 strings: $a = "hello" $h = { 4D 5A } $w = "world" condition: all of them }
rule b { condition: false }
private rule p { condition: true }
rule c : t2 { strings: $a = /hello\nworld\x01\xff"\\/ condition: $a }
rule d { strings: $e = "evil" nocase $x = "nope" condition: $e or $x }
rule logs { condition: console.log("size: ", filesize) and console.hex(filesize) }
rule ext { condition: ext_int > 2 and ext_str == "abc" and ext_bool }
`,
);

const elfRules = join(dir, "elf.yar");
writeFileSync(
  elfRules,
  'import "elf"\nimport "math"\nrule big_elf { condition: elf.number_of_sections > 5 and math.entropy(0, filesize) > 1 }\n',
);

// directory scans: yara scans with several threads and prints console-module lines from any of
// them, so its output interleaves; those cases use rules without the console module
const dirRulesPath = join(dir, "dir-rules.yar");
writeFileSync(
  dirRulesPath,
  readFileSync(rulesPath, "latin1")
    .replace('import "console"', "")
    .replace(/^rule logs .*$/m, ""),
);

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { encoding: "latin1" });
  return { out: r.stdout, err: r.stderr, status: r.status };
}
const sortLines = (s: string) => s.split("\n").filter(Boolean).sort().join("\n");
const defines = ["-d", "ext_int=3", "-d", "ext_str=abc", "-d", "ext_bool=true"];

describe.runIf(!noYara && built)("vigil yara vs yara", () => {
  const cases: Array<[string, string[], boolean]> = [
    ["plain", [rulesPath, join(data, "a.bin")], false],
    ["strings", ["-s", rulesPath, join(data, "a.bin")], false],
    ["strings with lengths", ["-s", "-L", rulesPath, join(data, "a.bin")], false],
    ["lengths without -s (offset:length:identifier lines)", ["-L", rulesPath, join(data, "a.bin")], false],
    ["meta, tags, namespace", ["-m", "-g", "-e", rulesPath, join(data, "a.bin")], false],
    ["combined short flags", ["-smge", rulesPath, join(data, "a.bin")], false],
    ["negate", ["-n", rulesPath, join(data, "b.txt")], false],
    ["count", ["-c", rulesPath, join(data, "a.bin")], false],
    ["count over a directory", ["-c", dirRulesPath, data], true],
    ["directory", [dirRulesPath, data], true],
    ["recursive", ["-r", "-s", dirRulesPath, data], true],
    ["tag filter", ["-t", "t2", rulesPath, join(data, "a.bin")], false],
    ["identifier filter", ["-i", "d", rulesPath, join(data, "a.bin")], false],
    ["namespace prefix", ["-e", `myns:${rulesPath}`, join(data, "a.bin")], false],
    ["max rules", ["-l", "1", rulesPath, join(data, "a.bin")], false],
    ["threads", ["-p", "2", "-r", dirRulesPath, data], true],
    ["module data (-D) on a real ELF file", ["-D", elfRules, "/usr/bin/ls"], false],
  ];
  for (const [name, args, unordered] of cases) {
    test(name, () => {
      const y = run("yara", ["-w", ...defines, ...args]);
      const v = run("node", [BIN, "yara", "-w", ...defines, ...args]);
      expect(v.status).toBe(y.status);
      if (unordered) expect(sortLines(v.out)).toBe(sortLines(y.out));
      else expect(v.out).toBe(y.out);
    });
  }

  test("-X prints the xor key and the plain text (YARA 4.3+ output; not in yara 4.2.3)", () => {
    const rules = join(dir, "xor.yar");
    const target = join(dir, "xor.bin");
    writeFileSync(rules, 'rule x { strings: $a = "evil" xor(1-3) condition: $a }\n');
    writeFileSync(target, Buffer.from("..evil..dwhm..", "latin1"));
    const v = run("node", [BIN, "yara", "-s", "-X", rules, target]);
    expect(v.status).toBe(0);
    expect(v.out).toBe(`x ${target}\n0x8:$a:xor(0x01,evil): dwhm\n`);
  });

  test("a missing target: same message and exit code", () => {
    const y = run("yara", [...defines, rulesPath, join(dir, "nope")]);
    const v = run("node", [BIN, "yara", ...defines, rulesPath, join(dir, "nope")]);
    expect(v.status).toBe(1);
    expect(v.status).toBe(y.status);
    expect(v.err).toBe(y.err);
  });

  test("compile errors: yara's shape, file and line, exit 1", () => {
    const bad = join(dir, "bad.yar");
    writeFileSync(bad, "rule ok { condition: true }\nrule x { condition: foo }\n");
    const y = run("yara", [bad, join(data, "a.bin")]);
    const v = run("node", [BIN, "yara", bad, join(data, "a.bin")]);
    expect(v.status).toBe(1);
    expect(y.status).toBe(1);
    expect(v.err).toBe(y.err); // error: rule "x" in FILE(2): undefined identifier "foo"
  });

  test("unreferenced string error matches yara's", () => {
    const bad = join(dir, "bad2.yar");
    writeFileSync(bad, 'rule x {\n strings: $a = "abc"\n condition: true }\n');
    const y = run("yara", ["-w", bad, join(data, "a.bin")]);
    const v = run("node", [BIN, "yara", "-w", bad, join(data, "a.bin")]);
    expect(v.status).toBe(y.status);
    expect(v.err.split(":").slice(0, 2).join(":")).toBe(y.err.split(":").slice(0, 2).join(":"));
    expect(v.err).toContain('unreferenced string "$a"');
  });

  test("compile to a file, then scan with -C gives the same output", () => {
    const out = join(dir, "compiled.vrules");
    const c = run("node", [BIN, "yara", "compile", ...defines, rulesPath, "-o", out]);
    expect(c.status).toBe(0);
    const direct = run("node", [BIN, "yara", "-s", ...defines, rulesPath, join(data, "a.bin")]);
    const loaded = run("node", [BIN, "yara", "-s", "-C", out, join(data, "a.bin")]);
    expect(loaded.status).toBe(0);
    expect(loaded.out).toBe(direct.out);
    expect(readFileSync(out).length).toBeGreaterThan(100);
  });

  test("a corrupted compiled rules file is a clear error, not a crash", () => {
    const out = join(dir, "broken.vrules");
    writeFileSync(out, "{ not json");
    const v = run("node", [BIN, "yara", "-C", out, join(data, "a.bin")]);
    expect(v.status).toBe(1);
    expect(v.err).toMatch(/not a Vigil compiled rules file/);
  });

  test("an unknown option is one line on stderr, as yara's, exit 1", () => {
    for (const opt of ["--no-such-option", "-y"]) {
      const y = run("yara", [opt, rulesPath, join(data, "a.bin")]);
      const v = run("node", [BIN, "yara", opt, rulesPath, join(data, "a.bin")]);
      expect(v.status).toBe(1);
      expect(v.status).toBe(y.status);
      expect(v.err).toBe(y.err); // unknown option `--no-such-option`
      expect(v.out).toBe("");
    }
  });

  test("--scan-list: a listed file that cannot be opened is reported and the exit code is yara's", () => {
    const list = join(dir, "list.txt");
    writeFileSync(list, `${join(data, "a.bin")}\n${join(dir, "missing.bin")}\n${join(data, "b.txt")}\n`);
    const y = run("yara", ["-p", "1", ...defines, "--scan-list", rulesPath, list]);
    const v = run("node", [BIN, "yara", ...defines, "--scan-list", rulesPath, list]);
    expect(y.status).toBe(0);
    expect(v.status).toBe(y.status);
    expect(sortLines(v.out)).toBe(sortLines(y.out)); // yara scans a list with several threads: its order varies
    expect(v.err).toContain(`error scanning ${join(dir, "missing.bin")}: could not open file`);
    // the list itself missing: yara's message, exit 1
    const y2 = run("yara", ["--scan-list", rulesPath, join(dir, "no-list.txt")]);
    const v2 = run("node", [BIN, "yara", "--scan-list", rulesPath, join(dir, "no-list.txt")]);
    expect(v2.status).toBe(1);
    expect(v2.status).toBe(y2.status);
    expect(v2.err).toBe(y2.err);
  });

  test("-S prints the rule set's statistics, then scans", () => {
    const v = run("node", [BIN, "yara", "-S", ...defines, rulesPath, join(data, "a.bin")]);
    expect(v.status).toBe(0);
    expect(v.out).toMatch(/^number of rules {20}: 7\nnumber of strings {18}: 6\n/);
    expect(v.out).toContain(`a ${join(data, "a.bin")}\n`);
  });

  test("-C on a file compiled by yarac says so and how to recompile", () => {
    const compiled = join(dir, "yarac.out");
    const c = run("yarac", [...defines, dirRulesPath, compiled]);
    if (c.status !== 0) {
      console.log(`yarac could not compile the test rules (${c.err.trim()}): this case is not run`);
      return;
    }
    const v = run("node", [BIN, "yara", "-C", compiled, join(data, "a.bin")]);
    expect(v.status).toBe(1);
    expect(v.err).toMatch(/compiled by yarac .*recompile the source rules with 'vigil yara compile/);
  });
});

describe.skipIf(!built)("vigil yara --profile", () => {
  test("prints the slowest strings with their rules on stderr; the matches and exit code are unchanged", () => {
    const rules = join(dir, "profile.yar");
    writeFileSync(
      rules,
      'rule Text { strings: $t = "needle" condition: $t }\nrule Hex { strings: $h = { 6E 65 65 ?? 6C 65 } condition: $h }\n',
    );
    const target = join(dir, "profile.txt");
    writeFileSync(target, "hay needle hay ".repeat(1000));
    const plain = run(process.execPath, [BIN, "yara", rules, target]);
    const r = run(process.execPath, [BIN, "yara", "--profile", rules, target]);
    expect(r.status).toBe(plain.status);
    expect(sortLines(r.out)).toBe(sortLines(plain.out));
    expect(r.err).toMatch(/^profile: slowest strings of this scan\n\s+ms verifications\s+starts {2}rule:string\n/);
    // the hex string is verified at each of its 1,000 atom hits
    expect(r.err).toMatch(/ 1000 +\d+ {2}default:Hex:\$h\n/);
  });
});
