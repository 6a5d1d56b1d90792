// Benchmark: `vigil scan` against Debian's `clamscan` 1.4.6 on the same ClamAV signatures
// (generated .ndb body signatures with wildcards and gaps, .hdb/.hsb hashes, .fp allow list)
// and the same generated file tree (a few thousand files; zip, gzip and tar.gz containers
// included), in one run: wall time, files/s, MB/s, peak memory (max RSS via /usr/bin/time),
// and the ratio clamscan time / vigil time (above 1 means Vigil is faster). Also checks that
// both report the same files.
//
//   npx tsx bench/scan.ts [--files 3000] [--size-kb 24] [--jobs N]
//   npx tsx bench/scan.ts --rfxn    # also load the rfxn corpus (11k real signatures; npm run fetch-corpora)
//   npx tsx bench/scan.ts --xz      # our xz/LZMA2 decoder against `xz -d` on the same data
//
// Build first (npx tsc -b): it runs the built bin.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir, availableParallelism } from "node:os";
import { join, dirname, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { makeCorpus } from "../packages/scanner/test/helpers/corpus.js";

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1]! : def;
};
const files = Number(arg("--files", "3000"));
const sizeKb = Number(arg("--size-kb", "24"));
const jobs = arg("--jobs", String(availableParallelism()));
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = join(root, "packages/cli/bin/vigil.js");

if (process.argv.includes("--xz")) {
  const { unxz } = await import("../packages/scanner/src/archive/xz.js");
  const { readFileSync } = await import("node:fs");
  const data = Buffer.concat([
    readFileSync(process.execPath).subarray(0, 16_000_000),
    Buffer.from("plain text line for the dictionary\n".repeat(200_000)),
  ]);
  const xz = spawnSync("xz", ["-c", "-6"], { input: data, maxBuffer: 1 << 30 }).stdout;
  const mbs = (ms: number) => (data.length / 1048576 / (ms / 1000)).toFixed(1);
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    unxz(xz, 1 << 30);
    best = Math.min(best, performance.now() - t);
  }
  let bestXz = Infinity;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    spawnSync("xz", ["-dc"], { input: xz, maxBuffer: 1 << 30 });
    bestXz = Math.min(bestXz, performance.now() - t);
  }
  console.log(`xz data: ${(data.length / 1048576).toFixed(1)} MB -> ${(xz.length / 1048576).toFixed(1)} MB`);
  console.log(
    `vigil unxz (best of 5): ${mbs(best)} MB/s; xz -dc (best of 3, incl. process start): ${mbs(bestXz)} MB/s; ratio ${(bestXz / best).toFixed(2)}`,
  );
  process.exit(0);
}

const work = mkdtempSync(join(tmpdir(), "vigil-bench-scan-"));
const corpus = makeCorpus(work, { files, sizeKb, seed: 7 });
console.log(
  `corpus: ${corpus.files} files, ${(corpus.bytes / 1048576).toFixed(1)} MB, ${corpus.expected.size} infected (${work})`,
);

function timed(cmd: string, args: string[]) {
  const t = process.hrtime.bigint();
  const r = spawnSync("/usr/bin/time", ["-f", "MAXRSS %M", cmd, ...args], { encoding: "utf8", maxBuffer: 256 << 20 });
  const secs = Number(process.hrtime.bigint() - t) / 1e9;
  const rss = Number(/MAXRSS (\d+)/.exec(r.stderr)?.[1] ?? NaN) / 1024;
  return { secs, rss, out: r.stdout, err: r.stderr, code: r.status };
}

function found(out: string, base: string): string {
  const s = new Set<string>();
  for (const l of out.split("\n")) {
    const m = /^(.*?): (\S+) FOUND$/.exec(l);
    if (m) s.add(`${relative(base, m[1]!.replace(/!.*$/, ""))} ${m[2]}`);
  }
  return [...s].sort().join("\n");
}

// warm the page cache so both read from memory
spawnSync("cat", ["-"], { input: "" });
spawnSync("sh", ["-c", `find ${corpus.root} -type f -exec cat {} + > /dev/null`]);

const dbs = [corpus.db];
const rfxn = corpus("clamav/rfxn");
if (process.argv.includes("--rfxn")) dbs.push(rfxn);
const dbArgs = dbs.flatMap((d) => ["-d", d]);
console.log(`signatures: ${dbs.join(" + ")}`);
const clam = timed("clamscan", ["-r", "--no-summary", "-i", ...dbArgs, corpus.root]);
const vig = timed(process.execPath, [
  bin,
  "scan",
  "--no-builtin",
  "--no-cache",
  "-i",
  "--no-summary",
  "--no-progress",
  "-j",
  jobs,
  ...dbArgs,
  corpus.root,
]);
const vig1 = timed(process.execPath, [
  bin,
  "scan",
  "--no-builtin",
  "--no-cache",
  "-i",
  "--no-summary",
  "--no-progress",
  "-j",
  "1",
  ...dbArgs,
  corpus.root,
]);

const mb = corpus.bytes / 1048576;
const row = (name: string, r: { secs: number; rss: number }) =>
  `${name.padEnd(22)} ${r.secs.toFixed(2).padStart(8)} s ${(corpus.files / r.secs).toFixed(0).padStart(8)} files/s ${(mb / r.secs).toFixed(1).padStart(7)} MB/s ${r.rss.toFixed(0).padStart(6)} MB peak`;
console.log(row("clamscan 1.4.6", clam));
console.log(row(`vigil scan -j ${jobs}`, vig));
console.log(row("vigil scan -j 1", vig1));
console.log(
  `ratio (clamscan time / vigil time): -j ${jobs}: ${(clam.secs / vig.secs).toFixed(2)}x, -j 1: ${(clam.secs / vig1.secs).toFixed(2)}x`,
);
const same = found(clam.out, corpus.root) === found(vig.out, corpus.root);
console.log(
  `same detections: ${same ? "yes" : "NO"} (${found(vig.out, corpus.root).split("\n").filter(Boolean).length} files)`,
);
if (!same) {
  console.log("clamscan:\n" + found(clam.out, corpus.root));
  console.log("vigil:\n" + found(vig.out, corpus.root));
}
rmSync(work, { recursive: true, force: true });
