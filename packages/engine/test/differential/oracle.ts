/**
 * Runs Debian's `yara` and Vigil's engine on the same rules and files and returns both
 * results in one comparable shape: per file, per matching rule, per string the sorted list of
 * "offset:length". Used by the differential tests.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compile, type CompileOptions } from "../../src/index.js";

export type Outcome = Record<string, Record<string, Record<string, string[]>>>; // file -> rule -> string -> ["off:len"]

/** Writes the files into a fresh directory and returns it. */
export function writeFiles(files: Record<string, Uint8Array | string>): string {
  const dir = mkdtempSync(join(tmpdir(), "vigil-diff-"));
  for (const [name, data] of Object.entries(files))
    writeFileSync(join(dir, name), typeof data === "string" ? Buffer.from(data, "latin1") : data);
  return dir;
}

export function runYara(
  rules: string,
  dir: string,
  defines: Record<string, string> = {},
): { outcome: Outcome; stderr: string; status: number } {
  const ruleFile = join(mkdtempSync(join(tmpdir(), "vigil-rules-")), "rules.yar");
  writeFileSync(ruleFile, Buffer.from(rules, "latin1"));
  const args = ["-s", "-L", "-w"];
  for (const [k, v] of Object.entries(defines)) args.push("-d", `${k}=${v}`);
  const r = spawnSync("yara", [...args, ruleFile, dir], { maxBuffer: 256 * 1024 * 1024 });
  const outcome: Outcome = {};
  for (const f of readdirSync(dir)) outcome[f] = {};
  let cur: Record<string, string[]> | undefined;
  for (const line of r.stdout.toString("latin1").split("\n")) {
    if (line === "") continue;
    const m = /^0x([0-9a-f]+):(\d+):(\$[A-Za-z0-9_]*): /.exec(line);
    if (m) {
      if (!cur) throw new Error(`string line before any rule line: ${line}`);
      (cur[m[3]!] ??= []).push(`${parseInt(m[1]!, 16)}:${m[2]}`);
      continue;
    }
    const sp = line.indexOf(" ");
    const rule = line.slice(0, sp);
    const file = line
      .slice(sp + 1)
      .split("/")
      .pop()!;
    cur = {};
    (outcome[file] ??= {})[rule] = cur;
  }
  return { outcome, stderr: r.stderr.toString(), status: r.status ?? -1 };
}

export function runVigil(rules: string, dir: string, options: CompileOptions = {}): Outcome {
  const compiled = compile(rules, options);
  const outcome: Outcome = {};
  for (const f of readdirSync(dir)) {
    const res = compiled.scan(readFileSync(join(dir, f)), options.externals ? { externals: options.externals } : {});
    const perFile: Record<string, Record<string, string[]>> = {};
    for (const m of res.matches) {
      const strings: Record<string, string[]> = {};
      // yara -L prints the match length capped at 512 (its stored match data), so compare that
      for (const s of m.strings)
        if (s.matches.length)
          strings[s.identifier] = [
            ...(strings[s.identifier] ?? []),
            ...s.matches.map((x) => `${x.offset}:${Math.min(x.length, 512)}`),
          ];
      perFile[m.rule] = strings;
    }
    outcome[f] = perFile;
  }
  return outcome;
}

/** Sorts string match lists so that both sides compare independently of print order. */
export function normalise(o: Outcome): Outcome {
  const out: Outcome = {};
  for (const [f, rules] of Object.entries(o)) {
    out[f] = {};
    for (const [r, strings] of Object.entries(rules)) {
      out[f]![r] = {};
      for (const [s, list] of Object.entries(strings))
        out[f]![r]![s] = [...list].sort((a, b) => parseInt(a, 10) - parseInt(b, 10) || a.localeCompare(b));
    }
  }
  return out;
}

export { execFileSync };
