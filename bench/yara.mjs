#!/usr/bin/env node
// Benchmark: `vigil yara` against Debian's `yara` on the same rules and files, in one run.
// For each rule set: compile time, scan throughput (MB/s), the ratio Vigil/yara (above 1 means
// Vigil is faster) and peak memory (max RSS from /usr/bin/time). Same number of threads.
//
//   npm run bench                 # all rule sets, 1 thread
//   node bench/yara.mjs --threads 2 --files 300
//
// The file set is reproducible: sorted listings of /usr/bin and /usr/lib/x86_64-linux-gnu
// (1 KB to 4 MB), gzip'd changelogs and licence texts, written to bench/out/files.txt.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { corpus } from "@vigil/test-kit";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "bench", "out");
mkdirSync(out, { recursive: true });
const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : def;
};
const threads = Number(arg("--threads", "1"));
const fileCount = Number(arg("--files", "300"));
const only = arg("--set", undefined);
const vigil = join(root, "packages/cli/bin/vigil.js");
const corpora = dirname(corpus("yara/yara-rules"));

function fileSet() {
  const picks = [];
  const take = (dir, n, filter) => {
    if (!existsSync(dir)) return;
    let k = 0;
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      let st;
      try {
        st = statSync(p);
      } catch {
        continue;
      }
      if (!st.isFile() || !filter(name, st.size)) continue;
      picks.push(p);
      if (++k >= n) break;
    }
  };
  const bins = Math.floor(fileCount * 0.45);
  take("/usr/bin", bins, (_, s) => s >= 1024 && s <= 4 << 20);
  take("/usr/lib/x86_64-linux-gnu", bins, (_, s) => s >= 1024 && s <= 4 << 20);
  const docs = readdirSync("/usr/share/doc")
    .sort()
    .map((d) => join("/usr/share/doc", d, "changelog.Debian.gz"))
    .filter((p) => existsSync(p));
  picks.push(...docs.slice(0, Math.floor(fileCount * 0.05)));
  take("/usr/share/common-licenses", fileCount - picks.length, () => true);
  return picks;
}

function ruleSet(name) {
  const dir = join(corpora, name);
  const list = readFileSync(join(dir, "COMPILES-WITH-YARA-4.2.3.txt"), "utf8")
    .split("\n")
    .filter(Boolean)
    .filter((f) => !/index/i.test(f));
  // files Vigil refuses by design (cuckoo) are left out of both sides
  return list
    .filter((f) => !readFileSync(join(dir, f), "latin1").includes('import "cuckoo"'))
    .map((f, i) => `n${i}:${join(dir, f)}`);
}

const DEFINES = ["filename", "filepath", "extension", "filetype", "owner"].flatMap((d) => ["-d", `${d}=`]);

function timed(cmd, args) {
  const r = spawnSync("/usr/bin/time", ["-f", "%e %M", cmd, ...args], { maxBuffer: 1 << 30 });
  const lines = r.stderr.toString().trim().split("\n");
  const [wall, rssKb] = lines[lines.length - 1].split(" ").map(Number);
  return {
    wall,
    rssMb: rssKb / 1024,
    status: r.status,
    stdout: r.stdout.toString(),
    stderr: lines.slice(0, -1).join("\n"),
  };
}

const files = fileSet();
const listFile = join(out, "files.txt");
writeFileSync(listFile, files.join("\n") + "\n");
const totalBytes = files.reduce((n, f) => n + statSync(f).size, 0);
const empty = join(out, "empty.bin");
writeFileSync(empty, "");
console.log(`files: ${files.length} (${(totalBytes / 1e6).toFixed(1)} MB), threads: ${threads}, list: ${listFile}`);

const results = [];
for (const set of ["yara-rules", "bartblaze"]) {
  if (only && only !== set) continue;
  const rules = ruleSet(set);
  const common = ["-w", ...DEFINES];
  const tools = {
    yara: (flags, target) => timed("yara", [...common, ...flags, ...rules, target]),
    vigil: (flags, target) => timed("node", [vigil, "yara", ...common, ...flags, ...rules, target]),
  };
  const row = { set, rules: rules.length };
  for (const [tool, runTool] of Object.entries(tools)) {
    const c = runTool([], empty);
    const s = runTool(["-p", String(threads), "-a", "120", "--scan-list"], listFile);
    if (s.status !== 0) console.log(`${tool} ${set}: exit ${s.status}: ${s.stderr.slice(0, 400)}`);
    const scanSeconds = Math.max(0.001, s.wall - c.wall);
    row[tool] = {
      compile: c.wall,
      scan: s.wall,
      mbps: totalBytes / 1e6 / scanSeconds,
      rss: s.rssMb,
      matches: s.stdout.split("\n").filter(Boolean).length,
    };
  }
  row.ratio = row.vigil.mbps / row.yara.mbps;
  results.push(row);
  console.log(
    `${set.padEnd(11)} rule files ${String(rules.length).padStart(4)} | compile s: yara ${row.yara.compile.toFixed(2)} vigil ${row.vigil.compile.toFixed(2)}` +
      ` | scan MB/s: yara ${row.yara.mbps.toFixed(1)} vigil ${row.vigil.mbps.toFixed(1)} ratio ${row.ratio.toFixed(2)}` +
      ` | peak RSS MB: yara ${row.yara.rss.toFixed(0)} vigil ${row.vigil.rss.toFixed(0)} | match lines: yara ${row.yara.matches} vigil ${row.vigil.matches}`,
  );
}
writeFileSync(
  join(out, "yara-bench.json"),
  JSON.stringify({ date: new Date().toISOString(), threads, files: files.length, bytes: totalBytes, results }, null, 2),
);
