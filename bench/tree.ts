// Benchmark: the per-file cost of `vigil scan` on a tree of many empty (or tiny) files, the
// case where walking, opening and reporting dominate and the scan cache must pay for itself
// (issue 17, finding 9). Runs, in one go on the same tree: vigil without the cache, with the
// cache cold (no cache file), with the cache warm (second run), and clamscan when installed;
// each with wall time and peak RSS (/usr/bin/time). Both tools get the same one-line
// signature database (vigil with --no-builtin), so rule loading is not what is measured.
//
//   npx tsx bench/tree.ts [--files 100000] [--size 0] [--jobs N]
//
// Build first (npx tsc -b): it runs the built bin.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir, availableParallelism } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1]! : def;
};
const files = Number(arg("--files", "100000"));
const size = Number(arg("--size", "0"));
const jobs = arg("--jobs", String(availableParallelism()));
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = join(root, "packages/cli/bin/vigil.js");

const work = mkdtempSync(join(tmpdir(), "vigil-bench-tree-"));
const tree = join(work, "tree");
const content = Buffer.alloc(size, 0x61);
const t0 = performance.now();
for (let d = 0; d * 1000 < files; d++) {
  const dir = join(tree, `d${d}`);
  mkdirSync(dir, { recursive: true });
  for (let i = d * 1000; i < Math.min(files, (d + 1) * 1000); i++) writeFileSync(join(dir, `f${i}`), content);
}
console.log(
  `tree: ${files} files of ${size} bytes in ${Math.ceil(files / 1000)} directories (made in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${work})`,
);
const db = join(work, "one.ndb");
writeFileSync(db, "Bench.Marker:0:*:62656e63682d6d61726b65722d6e6f742d696e2d746869732d74726565\n");

// each run is stopped after a minute (the machine is shared), and reported as such
function timed(cmd: string, args: string[]) {
  const t = process.hrtime.bigint();
  const r = spawnSync("/usr/bin/time", ["-f", "MAXRSS %M", cmd, ...args], {
    encoding: "utf8",
    maxBuffer: 256 << 20,
    timeout: 60_000,
    killSignal: "SIGKILL",
  });
  const secs = Number(process.hrtime.bigint() - t) / 1e9;
  const rss = Number(/MAXRSS (\d+)/.exec(r.stderr)?.[1] ?? NaN) / 1024;
  return { secs, rss, out: r.stdout, err: r.stderr, code: r.status };
}

const cacheFile = join(work, "scan-cache");
const vigil = (cache: boolean) =>
  timed(process.execPath, [
    bin,
    "scan",
    "--no-builtin",
    "-d",
    db,
    "-j",
    jobs,
    "--no-summary",
    "-i",
    ...(cache ? ["--cache-file", cacheFile] : ["--no-cache"]),
    tree,
  ]);
const rows: [string, ReturnType<typeof timed>, string?][] = [];
rows.push(["vigil scan --no-cache", vigil(false)]);
const cold = vigil(true);
const cacheSize = existsSync(cacheFile) ? statSync(cacheFile).size : 0;
rows.push(["vigil scan, cache cold", cold, `cache file ${(cacheSize / 1048576).toFixed(2)} MB`]);
rows.push(["vigil scan, cache warm", vigil(true)]);
const clam = spawnSync("sh", ["-c", "command -v clamscan"], { encoding: "utf8" }).stdout.trim();
if (clam) rows.push(["clamscan -r", timed(clam, ["-r", "--no-summary", "-i", "-d", db, tree])]);
else console.log("clamscan not installed (Debian package clamav): no reference row");

console.log(`\n${"run".padEnd(26)} ${"wall s".padStart(8)} ${"files/s".padStart(9)} ${"peak MB".padStart(8)}  exit`);
for (const [name, r, note] of rows) {
  console.log(
    `${name.padEnd(26)} ${r.secs.toFixed(2).padStart(8)} ${Math.round(files / r.secs)
      .toString()
      .padStart(9)} ${r.rss.toFixed(0).padStart(8)}  ${r.code}${note ? `  (${note})` : ""}`,
  );
  if (r.code === null) console.log("  ! stopped after 60 s (the figures above are a lower bound)");
  else if (r.code !== 0)
    console.log(`  ! unexpected exit ${r.code}: ${(r.err || r.out).split("\n").slice(0, 5).join(" | ")}`);
}
rmSync(work, { recursive: true, force: true });
