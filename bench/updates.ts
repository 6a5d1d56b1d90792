/**
 * Benchmark of @vigil/updates: builds a log of N bundles (default 10,000), then times the log
 * monitor (`vigil audit --log`) replaying and auditing all of it, an incremental monitor run,
 * one publish into the big log, one endpoint update, and appending M raw entries (default
 * 1,000,000) to a log on disk. With the shared YARA corpus present
 * (corpora/yara or ../shared/corpora/yara, read in place, never copied), also reports the auditor's findings on
 * public malware rules. Run by hand: `npx tsx bench/updates.ts [N] [M]`.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { corpus as corpusDir } from "@vigil/test-kit";
import { generateKey, cosignCheckpoint } from "@vigil/tlog";
import {
  DiskLog,
  auditRules,
  buildBundle,
  bundleArchivePath,
  monitorLog,
  publish,
  sha256Hex,
  update,
} from "@vigil/updates";

const N = Number(process.argv[2] ?? 10_000);
const root = await mkdtemp(join(tmpdir(), "vigil-bench-upd-"));
const logDir = join(root, "log");
const pub = generateKey("bench.example/publisher");
const logKey = generateKey("bench.example/log");
const w = generateKey("bench.example/witness", "cosignature");
const ms = (t: number) => `${Math.round(performance.now() - t)} ms`;

const base = `rule Bench_Static {\n  strings:\n    $a = "static malware marker string" ascii wide\n  condition:\n    uint16(0) == 0x5A4D and $a\n}\n`;
let t = performance.now();
await mkdir(join(logDir, "bundles"), { recursive: true });
const entries: Uint8Array[] = [];
let previous = "";
for (let v = 1; v <= N; v++) {
  const files = [
    { path: "base.yar", data: new Uint8Array(Buffer.from(base)) },
    {
      path: "daily.yar",
      data: new Uint8Array(
        Buffer.from(
          `rule Daily_${v % 50} {\n  strings:\n    $a = "dropper payload marker ${v}"\n    $b = { 4D 5A ?? ?? ${(v % 256).toString(16).padStart(2, "0")} }\n  condition:\n    $b at 0 and $a\n}\n`,
        ),
      ),
    },
  ];
  const b = buildBundle(
    files,
    { name: "rules", version: v, previous, time: new Date(Date.UTC(2026, 0, 1) + v * 60_000) },
    pub.signerKey,
  );
  await writeFile(join(logDir, ...bundleArchivePath("rules", v).split("/")), b.archive);
  entries.push(Buffer.from(b.signedManifest));
  previous = sha256Hex(b.signedManifest);
}
const log = await DiskLog.open(logDir, logKey.signerKey);
await log.append(entries, logKey.signerKey);
await log.addCosignatures([
  cosignCheckpoint(log.checkpoint, w.signerKey, Math.floor(Date.now() / 1000))
    .split("\n")
    .filter((l) => l.startsWith("\u2014 bench.example/witness"))[0]! + "\n",
]);
console.log(`build a ${N.toLocaleString("en")}-bundle log (sign, archive, tiles): ${ms(t)}`);

t = performance.now();
const r = await monitorLog({
  source: logDir,
  logKeys: [logKey.verifierKey],
  publishers: [pub.verifierKey],
  stateFile: join(root, "monitor.json"),
});
const el = performance.now() - t;
const findings = r.bundles.reduce((n, b) => n + b.findings.length, 0);
const problems = r.problems.length + r.bundles.reduce((n, b) => n + b.problems.length, 0);
console.log(
  `vigil audit --log, full replay of ${r.bundles.length.toLocaleString("en")} bundles: ${Math.round(el)} ms (${Math.round((r.bundles.length / el) * 1000)} bundles/s), ${findings} findings, ${problems} problems`,
);
t = performance.now();
const again = await monitorLog({
  source: logDir,
  logKeys: [logKey.verifierKey],
  stateFile: join(root, "monitor.json"),
});
console.log(
  `vigil audit --log, incremental run with nothing new: ${ms(t)} (${again.bundles.length} bundles, ${again.checkpointsChecked} checkpoint checked)`,
);

const rulesDir = join(root, "rules");
await mkdir(rulesDir);
await writeFile(join(rulesDir, "base.yar"), base);
t = performance.now();
await publish({ rulesDir, logDir, publisherKey: pub.signerKey, logKey: logKey.signerKey });
console.log(`vigil publish into the ${N.toLocaleString("en")}-bundle log (open, compile, append, tiles): ${ms(t)}`);
const big = await DiskLog.open(logDir, logKey.signerKey);
await big.addCosignatures([
  cosignCheckpoint(big.checkpoint, w.signerKey, Math.floor(Date.now() / 1000))
    .split("\n")
    .filter((l) => l.startsWith("\u2014 bench.example/witness"))[0]! + "\n",
]);
t = performance.now();
const u = await update({
  source: logDir,
  stateDir: join(root, "endpoint"),
  policy: {
    format: "vigil-trust/v1",
    log: { origin: "bench.example/log", keys: [logKey.verifierKey] },
    publishers: [pub.verifierKey],
    witnesses: [w.verifierKey],
    quorum: 1,
    maxCheckpointAge: 3600,
    maxClockSkew: 300,
    bundle: "rules",
  },
});
console.log(`vigil update (all checks, apply v${u.version}): ${ms(t)}`);

// the log on disk: 1,000,000 small entries appended in batches of 10,000 (tiles and a signed
// checkpoint written, each file fsynced, after every batch)
const M = Number(process.argv[3] ?? 1_000_000);
const rawDir = join(root, "raw-log");
const raw = await DiskLog.open(rawDir, logKey.signerKey);
t = performance.now();
for (let done = 0; done < M; done += 10_000) {
  const batch: Uint8Array[] = [];
  for (let i = done; i < Math.min(M, done + 10_000); i++) {
    const e = Buffer.alloc(64, 0x61);
    e.writeUInt32BE(i, 0);
    batch.push(e);
  }
  await raw.append(batch, logKey.signerKey);
}
const rawMs = performance.now() - t;
console.log(
  `log on disk: append ${M.toLocaleString("en")} entries in batches of 10,000 (tiles + checkpoint, fsynced): ${Math.round(rawMs)} ms (${Math.round((M / rawMs) * 1000).toLocaleString("en")} entries/s)`,
);
t = performance.now();
const reopened = await DiskLog.open(rawDir, logKey.signerKey);
console.log(
  `log on disk: reopen and re-verify ${reopened.size.toLocaleString("en")} entries against the checkpoint: ${ms(t)}`,
);

const corpus = dirname(corpusDir("yara/yara-rules"));
if (existsSync(corpus)) {
  const files: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d)) {
      const p = join(d, e);
      if ((await stat(p)).isDirectory()) await walk(p);
      else if (/\.(yar|yara)$/.test(e)) files.push(p);
    }
  };
  await walk(corpus);
  t = performance.now();
  let rules = 0;
  const by: Record<string, number> = {};
  const rulesWithHigh = new Set<string>();
  for (const f of files) {
    const src = await readFile(f);
    rules += (src.toString("latin1").match(/^\s*(private\s+|global\s+)*rule\s/gm) ?? []).length;
    for (const x of auditRules(src, { path: f })) {
      by[`${x.code}/${x.severity}`] = (by[`${x.code}/${x.severity}`] ?? 0) + 1;
      if (x.severity === "high") rulesWithHigh.add(`${f}:${x.rule}`);
    }
  }
  console.log(
    `auditor on the public YARA corpus: ${files.length} files, ~${rules} rules in ${ms(t)}; rules with a high (failing) finding: ${rulesWithHigh.size} (${((100 * rulesWithHigh.size) / rules).toFixed(2)}%)`,
  );
  console.log(`  findings by kind: ${JSON.stringify(by)}`);
}
await rm(root, { recursive: true, force: true });
