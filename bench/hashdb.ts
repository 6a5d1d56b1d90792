// Hash-signature store benchmark: generates N SHA-256 signatures as a ClamAV .hsb file
// (hash:size:name, names drawn from 50,000 families), then reports text load time, bytes per
// signature held, lookups per second (hits and misses), compiled-form write and load times.
// Run: npx tsx bench/hashdb.ts [N=10000000]   (needs about 3 GB of RAM and 1 GB of /tmp)
import { randomBytes } from "node:crypto";
import { openSync, writeSync, closeSync, statSync, unlinkSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  HashStoreBuilder,
  loadHashFile,
  writeCompiledHashStore,
  readCompiledHashStore,
} from "../packages/clamav/src/index.js";

const N = Number(process.argv[2] ?? 10_000_000);
const dir = mkdtempSync(join(tmpdir(), "vigil-hashdb-bench-"));
const text = join(dir, "bench.hsb");
const compiled = join(dir, "bench.vhdb");
const ms = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e6;

// generate: digests from a seeded stream (sha256 of a counter block), written in 8 MiB chunks
let t = process.hrtime.bigint();
const fd = openSync(text, "w");
let chunk = "";
const sample: Buffer[] = [];
let block = randomBytes(0);
for (let i = 0; i < N; i++) {
  if (i % 65536 === 0) block = randomBytes(32 * 65536);
  const d = block.subarray((i % 65536) * 32, (i % 65536) * 32 + 32);
  if (i % Math.max(1, Math.floor(N / 100_000)) === 0) sample.push(Buffer.from(d));
  chunk += `${d.toString("hex")}:${1000 + (i % 5_000_000)}:Unix.Trojan.Family${i % 50_000}-${(i % 50_000) % 7}\n`;
  if (chunk.length > 8 << 20) {
    writeSync(fd, chunk);
    chunk = "";
  }
}
writeSync(fd, chunk);
closeSync(fd);
const textBytes = statSync(text).size;
console.log(
  `generated ${N.toLocaleString()} sha256 signatures: ${(textBytes / 1e6).toFixed(0)} MB of text in ${(ms(t) / 1000).toFixed(1)} s`,
);

globalThis.gc?.();
const heap0 = process.memoryUsage();
const cpu0 = process.cpuUsage();
t = process.hrtime.bigint();
const b = new HashStoreBuilder();
loadHashFile(b, text, "hdb", { suffix: ".UNOFFICIAL" });
const tParse = ms(t);
const cpu1 = process.cpuUsage(cpu0);
const store = b.finish();
const tLoad = ms(t);
const cpu2 = process.cpuUsage(cpu0);
const cpuS = (u: NodeJS.CpuUsage) => ((u.user + u.system) / 1e6).toFixed(2);
console.log(
  `text load: ${(tLoad / 1000).toFixed(2)} s wall (parse ${(tParse / 1000).toFixed(2)} s, finish ${((tLoad - tParse) / 1000).toFixed(2)} s), ${(textBytes / 1e6 / (tLoad / 1000)).toFixed(0)} MB/s; CPU ${cpuS(cpu2)} s (user ${(cpu2.user / 1e6).toFixed(2)}, system ${(cpu2.system / 1e6).toFixed(2)}; parse ${cpuS(cpu1)} s); load average ${(await import("node:os")).loadavg()[0]!.toFixed(1)} on ${(await import("node:os")).cpus().length} cores`,
);
console.log(
  `held: ${(store.byteLength / 1e6).toFixed(1)} MB = ${(store.byteLength / N).toFixed(2)} bytes/signature (names: ${store.names.count} distinct, ${(store.names.blob.length / 1e6).toFixed(2)} MB)`,
);
globalThis.gc?.();
const heap1 = process.memoryUsage();
console.log(
  `process arrayBuffers grew by ${((heap1.arrayBuffers - heap0.arrayBuffers) / N).toFixed(2)} bytes/signature`,
);

// lookups: hits (sampled digests with their size) and misses (random digests)
const misses = Array.from({ length: 100_000 }, () => randomBytes(32));
let found = 0;
t = process.hrtime.bigint();
const rounds = 10;
for (let r = 0; r < rounds; r++)
  for (let i = 0; i < sample.length; i++)
    if (
      store.lookupDigest("sha256", sample[i]!, 1000 + ((i * Math.max(1, Math.floor(N / 100_000))) % 5_000_000)) !==
      undefined
    )
      found++;
const tHits = ms(t);
t = process.hrtime.bigint();
let missFound = 0;
for (let r = 0; r < rounds; r++)
  for (const m of misses) if (store.lookupDigest("sha256", m, 1234) !== undefined) missFound++;
const tMiss = ms(t);
console.log(
  `lookups: hits ${((sample.length * rounds) / (tHits / 1000) / 1e6).toFixed(2)} M/s (${found}/${sample.length * rounds} found), misses ${((misses.length * rounds) / (tMiss / 1000) / 1e6).toFixed(2)} M/s (${missFound} false hits)`,
);

t = process.hrtime.bigint();
const written = writeCompiledHashStore(compiled, store);
console.log(`compiled write: ${(ms(t) / 1000).toFixed(2)} s, ${(written / 1e6).toFixed(0)} MB`);
t = process.hrtime.bigint();
const cpu3 = process.cpuUsage();
const loaded = readCompiledHashStore(compiled);
const tc = ms(t);
const cpu4 = process.cpuUsage(cpu3);
let again = 0;
for (let i = 0; i < 1000; i++)
  if (
    loaded.lookupDigest(
      "sha256",
      sample[i % sample.length]!,
      1000 + (((i % sample.length) * Math.max(1, Math.floor(N / 100_000))) % 5_000_000),
    ) !== undefined
  )
    again++;
console.log(
  `compiled load: ${(tc / 1000).toFixed(2)} s wall, CPU ${cpuS(cpu4)} s (${loaded.count.toLocaleString()} signatures, ${again}/1000 sampled hits)`,
);
unlinkSync(text);
rmSync(dir, { recursive: true, force: true });
