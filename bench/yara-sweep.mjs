#!/usr/bin/env node
// The per-rule-file sweep (`npm run bench -- yara-sweep`): each rule file of each feed compiled
// alone and scanned over the same file set by Vigil, yara (and yara-x when installed); the ratio
// Vigil/yara per rule file, sorted, worst first. Issue 16's goal: no rule file below 0.5x yara.
//
//   node bench/yara-sweep.mjs [--files 120] [--set bartblaze] [--top 25] [--min-ms 30] [--repeat 1] [--no-yara-x]
//
// Times are CPU time (user + system), which the other work on a shared machine disturbs less
// than wall time; yara's are the best of --repeat runs, Vigil's and yara-x's the best of --repeat + 1 (the first
// pass of a rule set also compiles its matchers lazily). yara runs as its command line, one process per
// rule file: its scan time is the CPU time of the scan of the file list less that of a run on an
// empty file (start-up and compile). Vigil and yara-x run in this process, compiled once per rule
// file, over the files held in memory, so their times have no process start-up in them. A rule file whose scan takes less than
// --min-ms for both tools is too quick to rank on a shared machine: it is counted, not ranked.
// Full results: bench/out/yara-sweep.json.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { compile } from "@vigil/engine";
import {
  arg,
  DEFINES,
  EXTERNALS,
  FEEDS,
  fileSet,
  loadYaraX,
  root,
  ruleFiles,
  YARAX_OPTIONS,
} from "./lib/yara-sets.mjs";

const out = join(root, "bench", "out");
mkdirSync(out, { recursive: true });
const fileCount = Number(arg("--files", "120"));
const only = arg("--set", undefined);
const top = Number(arg("--top", "25"));
const minMs = Number(arg("--min-ms", "30"));
const best = (n, f) => {
  let m = Infinity;
  for (let i = 0; i < n; i++) m = Math.min(m, f());
  return m;
};
const repeat = Number(arg("--repeat", "1"));
const { yx, reason: noYaraX } = process.argv.includes("--no-yara-x") ? { reason: "--no-yara-x" } : loadYaraX();
if (!yx) console.log(`yara-x left out: ${noYaraX}`);

const files = fileSet(fileCount);
const listFile = join(out, "sweep-files.txt");
writeFileSync(listFile, files.join("\n") + "\n");
const data = files.map((f) => readFileSync(f));
const totalBytes = data.reduce((n, d) => n + d.length, 0);
const empty = join(out, "empty.bin");
writeFileSync(empty, "");
console.log(`files: ${files.length} (${(totalBytes / 1e6).toFixed(1)} MB), list: ${listFile}`);

/** CPU ms (user + system) of one yara run, from bash's `times` (millisecond resolution). */
function yaraCpu(args) {
  const r = spawnSync(
    "bash",
    ["-c", 'yara "$@" >/dev/null; s=$?; times >&2; exit $s', "yara", "-w", ...DEFINES, ...args],
    {
      maxBuffer: 1 << 30,
    },
  );
  if (r.status !== 0) throw new Error(`yara ${args.join(" ")}: exit ${r.status}: ${r.stderr}`);
  const lines = r.stderr.toString().trim().split("\n");
  const secs = lines[lines.length - 1].match(/(\d+)m([\d.]+)s/g).map((x) => {
    const [, m, sec] = x.match(/(\d+)m([\d.]+)s/);
    return Number(m) * 60 + Number(sec);
  });
  return (secs[0] + secs[1]) * 1000;
}

/** CPU ms (user + system) of this process while fn runs. */
function cpu(fn) {
  const c = process.cpuUsage();
  fn();
  const d = process.cpuUsage(c);
  return (d.user + d.system) / 1000;
}

const rows = [];
for (const feed of FEEDS) {
  if (only && only !== feed) continue;
  const { dir, files: ruleList, refusedByYaraX } = ruleFiles(feed, undefined);
  const yxRefused = new Set(yx ? ruleFiles(feed, yx).refusedByYaraX : []);
  let done = 0;
  for (const f of ruleList) {
    const path = join(dir, f);
    const source = readFileSync(path, "latin1");
    // yara: scan = CPU(file list) - CPU(empty file), best of --repeat runs each
    const yaraCompile = best(repeat, () => yaraCpu([path, empty]));
    const scanArgs = ["-p", "1", "-a", "120", "--scan-list", path, listFile];
    const yaraScan = Math.max(0.1, best(repeat, () => yaraCpu(scanArgs)) - yaraCompile);
    let rules;
    const vigilCompile = cpu(() => {
      rules = compile([{ source, path }], { externals: EXTERNALS });
    });
    let vigilMatches = 0;
    const vigilPass = () =>
      cpu(() => {
        vigilMatches = 0;
        for (const d of data)
          vigilMatches += rules.scan(d, { externals: EXTERNALS, matchData: false, strings: false }).matches.length;
      });
    const vigilScan = Math.max(0.1, best(repeat + 1, vigilPass));
    const row = {
      feed,
      file: f,
      yaraCompile,
      yaraScan,
      vigilCompile,
      vigilScan,
      vigilMatches,
      ratio: yaraScan / vigilScan,
    };
    if (yx && !yxRefused.has(f)) {
      let x;
      row.yaraXCompile = cpu(() => {
        x = yx.compile(readFileSync(path, "utf8"), YARAX_OPTIONS);
      });
      const yaraXPass = () =>
        cpu(() => {
          for (const d of data) x.scan(d);
        });
      row.yaraXScan = Math.max(0.1, best(repeat + 1, yaraXPass));
      row.ratioYaraX = row.yaraXScan / vigilScan;
    }
    rows.push(row);
    if (++done % 50 === 0) console.log(`${feed}: ${done} of ${ruleList.length} rule files`);
  }
  if (refusedByYaraX.length)
    console.log(`${feed}: no yara-x figure for ${[...yxRefused].join(", ")} (refused by yara-x)`);
}

const ranked = rows.filter((r) => Math.max(r.yaraScan, r.vigilScan) >= minMs).sort((a, b) => a.ratio - b.ratio);
const ms = (x) => (x === undefined ? "-" : x.toFixed(0));
const rat = (x) => (x === undefined ? "-" : x.toFixed(2));
console.log(
  `\n${rows.length} rule files, ${ranked.length} ranked (scan >= ${minMs} ms for one tool); ` +
    `below 0.5x yara: ${ranked.filter((r) => r.ratio < 0.5).length}, below 1.0x: ${ranked.filter((r) => r.ratio < 1).length}`,
);
console.log(`\nworst ${Math.min(top, ranked.length)} (scan CPU ms over the file set; ratio = yara time / Vigil time):`);
console.log("| feed | rule file | yara ms | vigil ms | yara-x ms | vigil/yara | vigil/yara-x |");
console.log("| ---- | --------- | ------- | -------- | --------- | ---------- | ------------ |");
for (const r of ranked.slice(0, top))
  console.log(
    `| ${r.feed} | ${r.file} | ${ms(r.yaraScan)} | ${ms(r.vigilScan)} | ${ms(r.yaraXScan)} | ${rat(r.ratio)} | ${rat(r.ratioYaraX)} |`,
  );
const sum = (k, feed) => rows.filter((r) => r.feed === feed).reduce((n, r) => n + (r[k] ?? 0), 0);
for (const feed of FEEDS) {
  if (only && only !== feed) continue;
  console.log(
    `${feed}: summed scan CPU ms yara ${ms(sum("yaraScan", feed))} vigil ${ms(sum("vigilScan", feed))} yara-x ${ms(sum("yaraXScan", feed))}` +
      ` | summed compile CPU ms yara (with start-up) ${ms(sum("yaraCompile", feed))} vigil ${ms(sum("vigilCompile", feed))} yara-x ${ms(sum("yaraXCompile", feed))}`,
  );
}
writeFileSync(
  join(out, "yara-sweep.json"),
  JSON.stringify({ date: new Date().toISOString(), files: files.length, bytes: totalBytes, rows }, null, 2),
);
