// Benchmark: `vigil scan` against `clamscan` on a mixed corpus of containers and documents
// (issue 15): zip (stored, deflate), gzip, tar.gz, cpio, SZDD, nested zips, plain files, and
// formats Vigil only recognises (PDF, mail), a few thousand files generated reproducibly from a
// seed. One in 20 files carries a marker string, inside its container; both tools get the same
// one-line body signature (vigil with --no-builtin), so what is measured is reading, unpacking
// and matching. Reports wall and CPU seconds (user + system, every thread: on a busy machine the
// CPU time is the steadier figure), files/s, MB/s, peak RSS and how many files each tool found.
//
//   npx tsx bench/containers.ts [--files 3000] [--jobs N] [--seed 15] [--keep]
//
// Build first (npx tsc -b): it runs the built bin. Each run is stopped after a minute.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { deflateSync, gzipSync } from "node:zlib";
import { makeZip, mulberry32 } from "@vigil/test-kit";

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1]! : def;
};
const files = Number(arg("--files", "3000"));
const jobs = arg("--jobs", String(availableParallelism()));
const rnd = mulberry32(Number(arg("--seed", "15")));
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = join(root, "packages/cli/bin/vigil.js");
const MARKER = "bench-marker-not-in-this-corpus-otherwise";

const int = (n: number) => Math.floor(rnd() * n);
/** Mostly text-like bytes (compressible, as real files are), some random. */
function payload(marked: boolean): Buffer {
  const n = 512 + int(48 * 1024);
  const words = ["alpha ", "beta ", "gamma ", "delta\n", "0123 ", "{x: 1} "];
  const parts: string[] = [];
  let len = 0;
  while (len < n) {
    const w = words[int(words.length)]!;
    parts.push(w);
    len += w.length;
  }
  const b = Buffer.concat([
    Buffer.from(parts.join("")),
    Buffer.from(Array.from({ length: int(2048) }, () => int(256))),
  ]);
  if (!marked) return b;
  const at = int(b.length);
  return Buffer.concat([b.subarray(0, at), Buffer.from(MARKER), b.subarray(at)]);
}

function tar(name: string, data: Buffer): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0);
  h.write("0000644\0", 100);
  h.write("0000000\0", 108);
  h.write("0000000\0", 116);
  h.write(data.length.toString(8).padStart(11, "0") + "\0", 124);
  h.write("00000000000\0", 136);
  h.write("0", 156);
  h.write("ustar\0" + "00", 257);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const c of h) sum += c;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  return Buffer.concat([h, data, Buffer.alloc((512 - (data.length % 512)) % 512), Buffer.alloc(1024)]);
}

function cpio(name: string, data: Buffer): Buffer {
  const hex = (n: number) => n.toString(16).padStart(8, "0");
  const entry = (nm: string, d: Buffer, mode: number) => {
    const head = `070701${hex(1)}${hex(mode)}${hex(0)}${hex(0)}${hex(1)}${hex(0)}${hex(d.length)}${"0".repeat(32)}${hex(nm.length + 1)}${hex(0)}`;
    const pad = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
    return Buffer.concat([Buffer.from(head), Buffer.from(nm + "\0"), pad(110 + nm.length + 1), d, pad(d.length)]);
  };
  return Buffer.concat([entry(name, data, 0o100644), entry("TRAILER!!!", Buffer.alloc(0), 0)]);
}

/** SZDD with literals only (what matters here is reading it, not its ratio). */
function szdd(data: Buffer): Buffer {
  const out = [0x53, 0x5a, 0x44, 0x44, 0x88, 0xf0, 0x27, 0x33, 0x41, 0]; // ClamAV wants no missing letter
  out.push(data.length & 0xff, (data.length >> 8) & 0xff, (data.length >> 16) & 0xff, data.length >>> 24);
  for (let i = 0; i < data.length; i += 8) out.push(0xff, ...data.subarray(i, i + 8));
  return Buffer.from(out);
}

const kinds: [string, (d: Buffer) => Buffer][] = [
  ["txt", (d) => d],
  [
    "zip",
    (d) =>
      makeZip([
        { name: "a/readme.txt", data: "hello" },
        { name: "a/data.bin", data: d },
      ]),
  ],
  ["stored.zip", (d) => makeZip([{ name: "data.bin", data: d, method: 0 }])],
  ["gz", (d) => gzipSync(d)],
  ["tar.gz", (d) => gzipSync(tar("dir/data.bin", d))],
  ["cpio", (d) => cpio("data.bin", d)],
  ["ex_", (d) => szdd(d)],
  ["nested.zip", (d) => makeZip([{ name: "inner.zip", data: makeZip([{ name: "x.bin", data: d }]), method: 0 }])],
  [
    "pdf",
    (d) => {
      const z = deflateSync(d);
      return Buffer.concat([
        Buffer.from(`%PDF-1.4\n1 0 obj\n<< /Length ${z.length} /Filter /FlateDecode >>\nstream\n`),
        z,
        Buffer.from("\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"),
      ]);
    },
  ],
  [
    "eml",
    (d) =>
      Buffer.from(
        `From: a@example.com\nTo: b@example.com\nSubject: x\nMIME-Version: 1.0\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n${d
          .toString("base64")
          .replace(/.{76}/g, "$&\n")}\n`,
      ),
  ],
];

const work = mkdtempSync(join(tmpdir(), "vigil-bench-containers-"));
const dir = join(work, "corpus");
let bytes = 0;
let marked = 0;
const count: Record<string, number> = {};
for (let i = 0; i < files; i++) {
  if (i % 500 === 0) mkdirSync(join(dir, `d${i / 500}`), { recursive: true });
  const [ext, make] = kinds[int(kinds.length)]!;
  const m = i % 20 === 7;
  if (m) marked++;
  const b = make(payload(m));
  bytes += b.length;
  count[ext] = (count[ext] ?? 0) + 1;
  writeFileSync(join(dir, `d${Math.floor(i / 500)}`, `f${i}.${ext}`), b);
}
console.log(
  `corpus: ${files} files, ${(bytes / 1048576).toFixed(1)} MB, ${marked} marked (${Object.entries(count)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ")}); ${work}`,
);
const db = join(work, "one.ndb");
writeFileSync(db, `Bench.Marker:0:*:${Buffer.from(MARKER).toString("hex")}\n`);

function timed(cmd: string, args: string[]) {
  const t = process.hrtime.bigint();
  const r = spawnSync("/usr/bin/time", ["-f", "MAXRSS %M CPU %U %S", cmd, ...args], {
    encoding: "utf8",
    maxBuffer: 256 << 20,
    timeout: 60_000,
    killSignal: "SIGKILL",
  });
  const secs = Number(process.hrtime.bigint() - t) / 1e9;
  const rss = Number(/MAXRSS (\d+)/.exec(r.stderr)?.[1] ?? NaN) / 1024;
  const cpuMatch = /CPU ([\d.]+) ([\d.]+)/.exec(r.stderr);
  const cpu = cpuMatch ? Number(cpuMatch[1]) + Number(cpuMatch[2]) : NaN;
  const found = new Set(
    r.stdout
      .split("\n")
      .filter((l) => l.endsWith(" FOUND"))
      .map((l) => l.replace(/[!:].*$/, "")),
  ).size;
  return { secs, cpu, rss, found, out: r.stdout, err: r.stderr, code: r.status };
}

const rows: [string, ReturnType<typeof timed>][] = [];
rows.push([
  "vigil scan",
  timed(process.execPath, [bin, "scan", "--no-builtin", "--no-cache", "-d", db, "-j", jobs, "--no-summary", "-i", dir]),
]);
const clam = spawnSync("sh", ["-c", "command -v clamscan"], { encoding: "utf8" }).stdout.trim();
if (clam) rows.push(["clamscan -r", timed(clam, ["-r", "--no-summary", "-i", "-d", db, dir])]);
else console.log("clamscan not installed (Debian package clamav): no reference row");

console.log(
  `\n${"run".padEnd(14)} ${"wall s".padStart(8)} ${"cpu s".padStart(7)} ${"files/s".padStart(9)} ${"MB/s".padStart(7)} ${"peak MB".padStart(8)} ${"found".padStart(6)}  exit`,
);
for (const [name, r] of rows) {
  console.log(
    `${name.padEnd(14)} ${r.secs.toFixed(2).padStart(8)} ${r.cpu.toFixed(2).padStart(7)} ${Math.round(files / r.secs)
      .toString()
      .padStart(
        9,
      )} ${(bytes / 1048576 / r.secs).toFixed(1).padStart(7)} ${r.rss.toFixed(0).padStart(8)} ${String(r.found).padStart(6)}  ${r.code}`,
  );
  if (r.code === null) console.log("  ! stopped after 60 s (the figures above are a lower bound)");
  else if (r.code !== 0 && r.code !== 1)
    console.log(`  ! unexpected exit ${r.code}: ${(r.err || r.out).split("\n").slice(0, 5).join(" | ")}`);
}
console.log(`(${marked} files carry the marker inside a container; a tool that finds fewer missed some)`);
if (process.argv.includes("--keep")) console.log(`kept ${work}`);
else rmSync(work, { recursive: true, force: true });
