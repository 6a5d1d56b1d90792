// vigil inventory benchmark: (1) parsing a generated dpkg database of N packages with .list
// files, (2) collecting this machine's real inventory, (3) matching against the shipped packs,
// (4) hashing and inspecting executables under a directory (MB/s), including generated PE
// files with version info. Run by hand: npx tsx bench/inventory.ts [N=20000] [SCAN_DIR=/usr/bin]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  builtinKeys,
  builtinPackPaths,
  collect,
  dpkgSource,
  evaluate,
  loadPack,
  scanExecutables,
} from "../packages/inventory/src/index.js";
import { buildPe } from "@vigil/test-kit";

const N = Number(process.argv[2] ?? 20000);
const SCAN = process.argv[3] ?? "/usr/bin";
const ms = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e6;
const dir = mkdtempSync(join(tmpdir(), "vigil-inv-bench-"));

try {
  // 1. generated dpkg database
  const info = join(dir, "var/lib/dpkg/info");
  mkdirSync(info, { recursive: true });
  const stanzas: string[] = [];
  for (let i = 0; i < N; i++) {
    stanzas.push(
      `Package: pkg${i}\nStatus: install ok installed\nArchitecture: amd64\nMaintainer: Team ${i % 97} <t${i % 97}@example.org>\nVersion: 1.${i}-1\nDescription: package ${i}\n long text\n .\n more\n`,
    );
    writeFileSync(
      join(info, `pkg${i}.list`),
      Array.from({ length: 40 }, (_, j) => `/usr/share/pkg${i}/f${j}`).join("\n") + "\n",
    );
  }
  writeFileSync(join(dir, "var/lib/dpkg/status"), stanzas.join("\n"));
  let t = process.hrtime.bigint();
  const d = await dpkgSource({ root: dir });
  const dpkgMs = ms(t);
  console.log(
    `dpkg: ${d.entries.length} packages with ${d.entries.length * 40} listed files parsed in ${dpkgMs.toFixed(0)} ms (${Math.round(d.entries.length / (dpkgMs / 1000))} packages/s)`,
  );

  // 2. this machine
  t = process.hrtime.bigint();
  const inv = await collect({ root: "/" });
  console.log(`this machine: ${inv.entries.length} entries from ${inv.sources.join(", ")} in ${ms(t).toFixed(0)} ms`);

  // 3. matching
  const packs = builtinPackPaths().map((p) => loadPack(p, builtinKeys()));
  const all = [...inv.entries, ...d.entries];
  t = process.hrtime.bigint();
  const findings = evaluate(all, [], packs);
  console.log(
    `matching: ${all.length} entries against ${packs.length} pack(s) in ${ms(t).toFixed(0)} ms (${findings.length} findings)`,
  );

  // 4. executables
  const pes = join(dir, "pe");
  mkdirSync(pes);
  for (let i = 0; i < 2000; i++)
    writeFileSync(
      join(pes, `f${i}.exe`),
      buildPe({ CompanyName: i % 100 ? `Vendor ${i}` : "AO Kaspersky Lab", ProductName: `Product ${i}` }),
    );
  for (const target of [pes, SCAN]) {
    t = process.hrtime.bigint();
    const cpu = process.cpuUsage();
    const s = await scanExecutables([target], { entries: inv.entries });
    const el = ms(t);
    const c = process.cpuUsage(cpu);
    const bytes = s.files.reduce((a, f) => a + f.size, 0);
    const f = evaluate([], s.files, packs);
    console.log(
      `scan ${target}: ${s.examined} files, ${(bytes / 1e6).toFixed(1)} MB, ${s.files.filter((x) => x.kind !== "other").length} executables, ${s.files.filter((x) => x.owner).length} owned by packages, ${f.length} findings in ${el.toFixed(0)} ms (${(bytes / 1e6 / (el / 1000)).toFixed(0)} MB/s, ${Math.round(s.examined / (el / 1000))} files/s; user ${(c.user / 1000).toFixed(0)} ms, system ${(c.system / 1000).toFixed(0)} ms)`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
