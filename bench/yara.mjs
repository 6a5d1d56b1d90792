#!/usr/bin/env node
// Benchmark: `vigil yara` against Debian's `yara` and against yara-x's Node binding
// (@litko/yara-x, run by bench/lib/yara-x-scan.mjs) on the same rules and files, in one run.
// For each feed (rule set of the corpora): compile time, scan throughput (MB/s), the ratios
// Vigil/yara and Vigil/yara-x (above 1 means Vigil is faster) and peak memory (max RSS from
// /usr/bin/time). Same number of threads for every tool.
//
//   npm run bench -- yara                        # every feed, 1 thread, 600 files (~120 MB)
//   node bench/yara.mjs --threads 2 --files 150 --set bartblaze --no-yara-x
//
// Compile time is the wall time of a run on an empty file (process start included); scan
// time is the wall time of the run on the file set less that. The same figures from CPU time
// (user + system, all threads) follow: on a shared machine they are the steadier ones. The file set (bench/lib/yara-sets.mjs)
// is written to bench/out/files.txt. The per-rule-file sweep is bench/yara-sweep.mjs.
import { spawnSync } from "node:child_process";
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { arg, DEFINES, FEEDS, fileSet, loadYaraX, root, ruleFiles } from "./lib/yara-sets.mjs";

const out = join(root, "bench", "out");
mkdirSync(out, { recursive: true });
const threads = Number(arg("--threads", "1"));
const fileCount = Number(arg("--files", "600"));
const only = arg("--set", undefined);
const vigil = join(root, "packages/cli/bin/vigil.js");
const yaraXScan = join(root, "bench/lib/yara-x-scan.mjs");
const { yx, reason: noYaraX } = process.argv.includes("--no-yara-x") ? { reason: "--no-yara-x" } : loadYaraX();
if (!yx) console.log(`yara-x left out: ${noYaraX}`);

function timed(cmd, args, env) {
  const r = spawnSync("/usr/bin/time", ["-f", "%e %U %S %M", cmd, ...args], {
    maxBuffer: 1 << 30,
    env: { ...process.env, ...env },
  });
  const lines = r.stderr.toString().trim().split("\n");
  const [wall, user, sys, rssKb] = lines[lines.length - 1].split(" ").map(Number);
  return {
    wall,
    cpu: user + sys,
    rssMb: rssKb / 1024,
    status: r.status,
    stdout: r.stdout.toString(),
    stderr: lines.slice(0, -1).join("\n"),
  };
}

const files = fileSet(fileCount);
const listFile = join(out, "files.txt");
writeFileSync(listFile, files.join("\n") + "\n");
const totalBytes = files.reduce((n, f) => n + statSync(f).size, 0);
const empty = join(out, "empty.bin");
writeFileSync(empty, "");
console.log(`files: ${files.length} (${(totalBytes / 1e6).toFixed(1)} MB), threads: ${threads}, list: ${listFile}`);

const results = [];
for (const set of FEEDS) {
  if (only && only !== set) continue;
  const { dir, files: ruleList, refusedByYaraX } = ruleFiles(set, yx);
  if (refusedByYaraX.length)
    console.log(`${set}: left out for every tool, refused by yara-x: ${refusedByYaraX.join(", ")}`);
  const rules = ruleList.map((f, i) => `n${i}:${join(dir, f)}`);
  const common = ["-w", ...DEFINES];
  const tools = {
    yara: (flags, target) => timed("yara", [...common, ...flags, ...rules, target]),
    vigil: (flags, target) => timed("node", [vigil, "yara", ...common, ...flags, ...rules, target]),
  };
  if (yx)
    tools["yara-x"] = (flags, target) =>
      timed("node", [yaraXScan, ...flags, ...ruleList.map((f) => join(dir, f)), target], {
        UV_THREADPOOL_SIZE: String(threads),
      });
  const row = { set, rules: rules.length };
  for (const [tool, runTool] of Object.entries(tools)) {
    const c = runTool([], empty);
    const s = runTool(["-p", String(threads), ...(tool === "yara-x" ? [] : ["-a", "120"]), "--scan-list"], listFile);
    // yara stops a --scan-list at a file it cannot scan (seen: "error: 4", a file it could not
    // map, under memory pressure from other work): its figure then covers part of the files only
    if (s.status !== 0)
      console.log(`${tool} ${set}: exit ${s.status}, the figures below are INCOMPLETE: ${s.stderr.slice(0, 400)}`);
    const scanSeconds = Math.max(0.001, s.wall - c.wall);
    row[tool] = {
      compile: c.wall,
      compileCpu: c.cpu,
      scan: s.wall,
      mbps: totalBytes / 1e6 / scanSeconds,
      mbpsCpu: totalBytes / 1e6 / Math.max(0.01, s.cpu - c.cpu),
      rss: s.rssMb,
      matches: s.stdout.split("\n").filter(Boolean).length,
      complete: s.status === 0,
    };
  }
  row.ratio = row.vigil.mbps / row.yara.mbps;
  row.ratioCpu = row.vigil.mbpsCpu / row.yara.mbpsCpu;
  if (row["yara-x"]) {
    row.ratioYaraX = row.vigil.mbps / row["yara-x"].mbps;
    row.ratioYaraXCpu = row.vigil.mbpsCpu / row["yara-x"].mbpsCpu;
  }
  results.push(row);
  const names = Object.keys(tools);
  const each = (f) => names.map((t) => `${t} ${f(row[t])}`).join(" ");
  console.log(
    `${set.padEnd(11)} rule files ${String(rules.length).padStart(4)}` +
      ` | compile s: ${each((r) => r.compile.toFixed(2))}` +
      ` | scan MB/s: ${each((r) => r.mbps.toFixed(1))}` +
      ` | ratio vigil/yara ${row.ratio.toFixed(2)}` +
      (row.ratioYaraX !== undefined ? ` vigil/yara-x ${row.ratioYaraX.toFixed(2)}` : "") +
      ` | by CPU time: compile s ${each((r) => r.compileCpu.toFixed(2))}, scan MB/s ${each((r) => r.mbpsCpu.toFixed(1))},` +
      ` ratio vigil/yara ${row.ratioCpu.toFixed(2)}` +
      (row.ratioYaraXCpu !== undefined ? ` vigil/yara-x ${row.ratioYaraXCpu.toFixed(2)}` : "") +
      ` | peak RSS MB: ${each((r) => r.rss.toFixed(0))}` +
      ` | match lines: ${each((r) => r.matches)}`,
  );
}
writeFileSync(
  join(out, "yara-bench.json"),
  JSON.stringify({ date: new Date().toISOString(), threads, files: files.length, bytes: totalBytes, results }, null, 2),
);
