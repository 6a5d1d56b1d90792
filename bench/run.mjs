#!/usr/bin/env node
// `npm run bench [-- NAME...]`: runs the benchmarks in bench/ one after another (all of them,
// or the named ones: yara, yara-sweep, scan, tree, clamav, containers, hashdb, modules, tlog, updates, server, fleet, soak) and prints their
// reports. Each compares Vigil with the reference tool in the same run where one exists.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const wanted = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const order = [
  "yara",
  "modules",
  "scan",
  "tree",
  "clamav",
  "containers",
  "hashdb",
  "tlog",
  "updates",
  "daemon",
  "inventory",
  "server",
  "fleet",
];
// long runs that only run when named (`npm run bench -- soak`): the daemon soak takes ~10 minutes,
// the per-rule-file sweep of the YARA feeds (yara-sweep) about as long on a loaded machine
const onlyWhenNamed = ["soak", "yara-sweep"];
// benchmarks run more than once, with these arguments (the daemon: the small set, ClamAV's real
// scale as loose files, then the same set as signed main.cvd + daily.cvd, for the load figures)
const runs = {
  daemon: [
    [],
    ["--scale", "real", "--clients", "1,8,64", "--restart"],
    ["--scale", "real", "--cvd", "--clients", "1", "--sizes", "10KB", "--quick"],
  ],
};
const files = readdirSync(here).filter((f) => /\.(mjs|ts)$/.test(f) && f !== "run.mjs");
const names = files
  .map((f) => f.replace(/\.(mjs|ts)$/, ""))
  .sort((a, b) => ((order.indexOf(a) + 99) % 99) - ((order.indexOf(b) + 99) % 99));
const build = spawnSync("npx", ["tsc", "-b"], { cwd: root, stdio: "inherit" });
if (build.status !== 0) process.exit(build.status ?? 1);
let failed = 0;
for (const name of names) {
  if (wanted.length ? !wanted.includes(name) : onlyWhenNamed.includes(name)) continue;
  const file = files.find((f) => f.replace(/\.(mjs|ts)$/, "") === name);
  for (const args of runs[name] ?? [[]]) {
    console.log(`\n=== bench/${file}${args.length ? " " + args.join(" ") : ""} ===`);
    const cmd = file.endsWith(".ts")
      ? ["npx", ["tsx", join(here, file), ...args]]
      : ["node", [join(here, file), ...args]];
    const r = spawnSync(cmd[0], cmd[1], { cwd: root, stdio: "inherit" });
    if (r.status !== 0) {
      failed++;
      console.log(`bench/${file} exited with ${r.status}`);
    }
  }
}
process.exit(failed ? 1 : 0);
