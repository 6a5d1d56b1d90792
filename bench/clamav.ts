// ClamAV database loading benchmark: the rfxn sets and generated large sets, each loaded by Vigil
// as the scanner does (.ndb into the native body store, the rest translated to YARA and compiled
// by the engine; "all as YARA" is the translation of everything, for comparison) and by clamscan
// (load + scan of one tiny file, which is almost all load time), side by side.
// Run: npx tsx bench/clamav.ts [ndbCount=100000] [ldbCount=10000]
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { corpus } from "@vigil/test-kit";
import { compile } from "../packages/engine/src/index.js";
import { loadClamavDatabase } from "../packages/clamav/src/index.js";

const NDB = Number(process.argv[2] ?? 100_000);
const LDB = Number(process.argv[3] ?? 10_000);
const RFXN = corpus("clamav/rfxn");
const dir = mkdtempSync(join(tmpdir(), "vigil-clamav-bench-"));
const tiny = join(dir, "tiny.txt");
writeFileSync(tiny, "hello\n");

function clamscanLoad(dbs: string[]): { ms: number; known: number } {
  const t = performance.now();
  const r = spawnSync("clamscan", [...dbs.flatMap((d) => ["-d", d]), tiny], { encoding: "utf8" });
  return { ms: performance.now() - t, known: Number(r.stdout.match(/Known viruses: (\d+)/)?.[1] ?? NaN) };
}

function vigilLoad(
  dbs: string[],
  nativeBodies: boolean,
): { load: number; compile: number; count: number; rules: number; warnings: number } {
  let t = performance.now();
  const set = loadClamavDatabase(dbs, { nativeBodies });
  const load = performance.now() - t;
  t = performance.now();
  if (set.yara.length > 0) compile(set.yara, { externals: set.externals });
  return {
    load,
    compile: performance.now() - t,
    count: set.count,
    rules: set.rules.length,
    warnings: set.warnings.length,
  };
}

function report(label: string, dbs: string[]): void {
  const c = clamscanLoad(dbs);
  for (const native of [true, false]) {
    vigilLoad(dbs, native); // warm the JIT once
    const v = vigilLoad(dbs, native);
    const total = v.load + v.compile;
    console.log(
      `${label}${native ? "" : " (all as YARA)"}: vigil load ${v.load.toFixed(0)} ms + compile ${v.compile.toFixed(0)} ms = ${total.toFixed(0)} ms (${v.count} signatures, ${v.warnings} warnings); ` +
        `clamscan load+scan ${c.ms.toFixed(0)} ms (${c.known} known); ratio clamscan/vigil ${(c.ms / total).toFixed(2)}`,
    );
  }
}

report("rfxn.ndb + rfxn.hdb", [join(RFXN, "rfxn.ndb"), join(RFXN, "rfxn.hdb")]);
report("rfxn.ndb", [join(RFXN, "rfxn.ndb")]);

// generated sets: literal body signatures (16-40 random bytes, some with a wildcard or jump) and
// logical signatures of 2-4 subsignatures
const ndbLines: string[] = [];
for (let i = 0; i < NDB; i++) {
  const body = randomBytes(16 + (i % 25)).toString("hex");
  const form = i % 10;
  const hex =
    form === 0
      ? `${body.slice(0, 16)}??${body.slice(18)}`
      : form === 1
        ? `${body.slice(0, 16)}{2-8}${body.slice(16)}`
        : body;
  const offset = i % 7 === 0 ? "0" : i % 11 === 0 ? "EOF-100,50" : "*";
  ndbLines.push(`Bench.Ndb.Sig-${i}:0:${offset}:${hex}`);
}
const ldbLines: string[] = [];
for (let i = 0; i < LDB; i++) {
  const k = 2 + (i % 3);
  const subs = Array.from({ length: k }, () => randomBytes(8 + (i % 9)).toString("hex"));
  const expr = k === 2 ? "0&1" : k === 3 ? "(0|1)&2" : "((0|1|2)>1,2)&3";
  ldbLines.push(`Bench.Ldb.Sig-${i};Engine:51-255,Target:0;${expr};${subs.join(";")}`);
}
const genNdb = join(dir, "gen.ndb");
const genLdb = join(dir, "gen.ldb");
writeFileSync(genNdb, ndbLines.join("\n") + "\n");
writeFileSync(genLdb, ldbLines.join("\n") + "\n");
report(`generated ${NDB} ndb`, [genNdb]);
report(`generated ${LDB} ldb`, [genLdb]);
rmSync(dir, { recursive: true, force: true });
