#!/usr/bin/env node
// The yara-x side of bench/yara.mjs, run as its own process so that /usr/bin/time measures its
// peak memory: compiles the rule files with yara-x's Node binding (@litko/yara-x) and scans one
// file or a --scan-list, printing "rule path" per match as yara does.
//
//   node bench/lib/yara-x-scan.mjs [-p N] [--scan-list] RULE_FILE... FILE_OR_LIST
//
// The binding takes one source, so the rule files are joined (yara's namespaces are not
// available to it; the corpora's rule names do not collide). With -p N above 1, N scans are in
// flight at once on libuv's thread pool (UV_THREADPOOL_SIZE is set to N by the caller).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

// the options of bench/lib/yara-sets.mjs (not imported: it loads the test kit, which would
// count in yara-x's start-up time)
const YARAX_OPTIONS = {
  relaxedReSyntax: true,
  defineVariables: { filename: "", filepath: "", extension: "", filetype: "", owner: "" },
};

const args = process.argv.slice(2);
let threads = 1;
let list = false;
const rest = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "-p") threads = Number(args[++i]);
  else if (args[i] === "--scan-list") list = true;
  else rest.push(args[i]);
}
let yx;
try {
  yx = createRequire(import.meta.url)("@litko/yara-x");
} catch (e) {
  console.error(`yara-x: ${String(e.message ?? e).split("\n")[0]}`);
  process.exit(2);
}
const target = rest.pop();
const t0 = performance.now();
const rules = yx.compile(rest.map((f) => readFileSync(f, "utf8")).join("\n"), YARAX_OPTIONS);
const t1 = performance.now();
const files = list ? readFileSync(target, "utf8").split("\n").filter(Boolean) : [target];
let out = "";
const report = (path, matches) => {
  for (const m of matches) out += `${m.ruleIdentifier} ${path}\n`;
};
if (threads <= 1) {
  for (const f of files) {
    try {
      report(f, rules.scanFile(f));
    } catch (e) {
      console.error(`error scanning ${f}: ${e.message}`);
    }
  }
} else {
  let next = 0;
  const lane = async () => {
    while (next < files.length) {
      const f = files[next++];
      try {
        report(f, await rules.scanFileAsync(f));
      } catch (e) {
        console.error(`error scanning ${f}: ${e.message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: threads }, lane));
}
const t2 = performance.now();
process.stdout.write(out);
console.error(`yara-x: compile ${(t1 - t0).toFixed(0)} ms, scan ${(t2 - t1).toFixed(0)} ms`);
