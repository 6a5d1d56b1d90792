/**
 * bench/daemon.ts: INSTREAM throughput and latency of `vigil daemon` vs Debian's clamd on the
 * same ClamAV signatures, 1, 8 and 64 concurrent clients, 10 KB and 20 MB files, with each
 * server's load time and resident memory (after loading, and peak while serving).
 * Run by hand: `npx tsc -b && npx tsx bench/daemon.ts [--quick]`.
 *
 * Two signature sets, both generated deterministically (same files on every run):
 * - `--scale small` (default): 2,000 .ndb body signatures and 2,000 .hdb hashes.
 * - `--scale real`: the composition of ClamAV's official main+daily, where clamd's memory
 *   reaches gigabytes: 4M .hsb sha256 and 1M .hdb md5 file hashes, 300k .mdb PE-section
 *   hashes, 100k .ndb body signatures (12-130 bytes, text and binary, with `??`, `{n-m}`, `*`
 *   and alternatives, offsets `*`/`0`/`n,s`/`EOF-n`/`EP+n`/`SL+n`, targets 0/1/3/6/7) and 3,000
 *   .ldb logical signatures. `--restart` also starts Vigil twice with its compiled-rules cache
 *   (cold, then a restart that reads the cache). `--factor F` scales every count, `--counts hsb=N,hdb=N,...` sets
 *   some. Six planted files (one per kind, plus a clean one) must get the same reply from both.
 *   The servers load one after the other (load time and peak RSS while loading, of the server
 *   and its children: Vigil compiles in a child process); 64 clients only with `--clients 64`.
 *
 * `--servers vigil` (or clamd) and `--sizes 10KB` (or 20MB) narrow the run, `--clients 1,8`
 * picks the concurrency levels, `--idle-after S` reports each server's RSS again after S seconds
 * of rest following the load (Vigil's scan threads exit after 30 s idle), `--vigil-args "..."`
 * adds `vigil daemon` options and `--vigil-node-options "..."` Node.js options (e.g.
 * "--max-semi-space-size=1"), `--keep-db DIR` writes the generated database to DIR and keeps it.
 * `--containers` packs the real-scale set as ClamAV containers (main.cud + daily.cud, see
 * packContainers) so both servers load them the way they load freshclam's files.
 * `--cvd` packs it as signed main.cvd + daily.cvd instead (see packCvds): Vigil trusts the test key,
 * clamd loads the same files as .cud; with `--keep-db DIR --reuse-db` a later run loads the
 * containers an earlier `--cvd --keep-db DIR` run left (generating and packing take minutes).
 * clamd runs with DisableCache yes (its clean-file cache would make repeats free); Vigil with
 * --no-cache (its compiled-rules cache would skip the compile). Before each file size, both
 * servers get the same unmeasured warm-up requests.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createCipheriv, createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { connect, createServer } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  buildSignedCvd,
  buildUnsignedCud,
  generateContainerKeys,
  trustedKeysOf,
  trustedKeysText,
} from "../packages/clamav/src/index.js";

const quick = process.argv.includes("--quick");
const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const scale = arg("--scale") ?? "small";
if (scale !== "small" && scale !== "real") throw new Error(`--scale must be small or real, not ${scale}`);
const only = arg("--servers")?.split(",");
const sizes = arg("--sizes")?.split(",");
const clientLevels = (arg("--clients") ?? (scale === "real" ? "1,8" : "1,8,64")).split(",").map(Number);
const idleAfter = Number(arg("--idle-after") ?? 0);
const vigilArgs = arg("--vigil-args")?.split(/\s+/).filter(Boolean) ?? [];
const vigilNode = arg("--vigil-node-options")?.split(/\s+/).filter(Boolean) ?? [];
const keepDb = arg("--keep-db");
const containers = process.argv.includes("--containers");
const cvd = process.argv.includes("--cvd");
const root = fileURLToPath(new URL("..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "vigil-bench-daemon-"));
const MiB = 1048576;

// ---- deterministic generation ----------------------------------------------------------------

/** A deterministic byte stream (AES-128-CTR keystream under a key derived from `label`): the same database on every run. */
class Rng {
  private readonly cipher;
  private buf = Buffer.alloc(0);
  private at = 0;
  constructor(label: string) {
    const k = createHash("sha256").update(`vigil-bench-daemon:${label}`).digest();
    this.cipher = createCipheriv("aes-128-ctr", k.subarray(0, 16), k.subarray(16, 32));
  }
  /** `n` bytes, valid until the next call. */
  bytes(n: number): Buffer {
    if (this.at + n > this.buf.length) {
      this.buf = this.cipher.update(Buffer.alloc(Math.max(n, 1 << 20)));
      this.at = 0;
    }
    this.at += n;
    return this.buf.subarray(this.at - n, this.at);
  }
  u32(): number {
    return this.bytes(4).readUInt32LE(0);
  }
  int(n: number): number {
    return this.u32() % n;
  }
  float(): number {
    return this.u32() / 4294967296;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
  copy(n: number): Buffer {
    return Buffer.from(this.bytes(n));
  }
}

/** Appends lines to a file in 8 MiB writes. */
class LineWriter {
  private readonly fd: number;
  private chunk = "";
  lines = 0;
  constructor(readonly path: string) {
    this.fd = openSync(path, "w");
  }
  add(line: string): void {
    this.chunk += line + "\n";
    this.lines++;
    if (this.chunk.length > 8 << 20) {
      writeSync(this.fd, this.chunk);
      this.chunk = "";
    }
  }
  close(): void {
    writeSync(this.fd, this.chunk);
    closeSync(this.fd);
  }
}

/** ClamAV-style names: Platform.Category.Family-ID-Rev, IDs unique across the set as in the official database. */
class Names {
  private id = 1_000_000;
  private readonly families: string[] = [];
  constructor(private readonly rng: Rng) {
    const syl = [
      "ka",
      "zu",
      "sy",
      "mo",
      "ren",
      "tro",
      "gen",
      "bot",
      "lo",
      "kry",
      "pt",
      "ik",
      "ze",
      "us",
      "va",
      "mi",
      "rai",
      "net",
      "dex",
      "ox",
      "ar",
      "qu",
      "fi",
      "lex",
      "tor",
      "em",
    ];
    for (let i = 0; i < 3000; i++) {
      let f = "";
      for (let k = 2 + rng.int(3); k > 0; k--) f += rng.pick(syl);
      this.families.push(f[0]!.toUpperCase() + f.slice(1));
    }
  }
  next(platforms: readonly string[]): string {
    const cats = [
      "Trojan",
      "Malware",
      "Downloader",
      "Dropper",
      "Virus",
      "Worm",
      "Adware",
      "Exploit",
      "Ransomware",
      "Coinminer",
      "Packed",
      "Spyware",
      "Backdoor",
      "Phishing",
    ];
    return `${this.rng.pick(platforms)}.${this.rng.pick(cats)}.${this.rng.pick(this.families)}-${this.id++}-${this.rng.int(8) === 0 ? 1 : 0}`;
  }
}

const FILE_PLATFORMS = [
  "Win",
  "Win",
  "Win",
  "Win",
  "Win",
  "Doc",
  "Xls",
  "Pdf",
  "Html",
  "Js",
  "Unix",
  "Andr",
  "Osx",
  "Email",
];
const TOKENS = [
  "eval(",
  "base64_decode(",
  "document.write(",
  "unescape(",
  "<script",
  "http://",
  "https://",
  "powershell",
  " -enc ",
  "cmd.exe /c ",
  "CreateObject(",
  "WScript.Shell",
  "ActiveXObject",
  "String.fromCharCode(",
  "<iframe src=",
  "window.location",
  "$_POST[",
  "$_GET[",
  "system(",
  "shell_exec(",
  "chmod 777 ",
  "/bin/sh",
  "wget ",
  "curl -s ",
  "GetProcAddress",
  "LoadLibraryA",
  "VirtualAlloc",
  "kernel32.dll",
  "URLDownloadToFileA",
  "RegSetValueExA",
  "Software\\Microsoft\\Windows\\CurrentVersion\\Run",
  "Invoke-Expression",
  "FromBase64String(",
  "/JavaScript",
  "/OpenAction",
  "AutoOpen",
  "Shell(",
  "Chr(",
  ".exe",
  "%TEMP%",
  "User-Agent: ",
  "passwd",
  "crontab -l",
  "<?php",
];
/** frequent bytes of x86 code (mov, push, call, jcc, lea...) */
const OPCODES = [
  0x8b, 0x55, 0xe8, 0x89, 0x83, 0xc3, 0x50, 0x6a, 0xff, 0x15, 0x74, 0x75, 0xeb, 0x48, 0x0f, 0x85, 0x84, 0xc7, 0x45,
  0x24, 0x8d, 0x33, 0xc0, 0x5d,
];

/** A signature body's bytes: script/text fragments or code-like binary, with at least 6 uniformly random bytes so that bodies are distinct. */
function bodyBytes(rng: Rng, min: number, max: number): Buffer {
  const len = min + rng.int(max - min + 1);
  if (rng.int(10) < 4) {
    let s = "";
    while (s.length < len) {
      s += rng.pick(TOKENS);
      const n = 4 + rng.int(8);
      for (let i = 0; i < n; i++) s += "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"[rng.int(63)];
    }
    return Buffer.from(s.slice(0, Math.max(len, 12)), "latin1");
  }
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) {
    const r = rng.int(100);
    b[i] = r < 25 ? 0 : r < 30 ? 0xff : r < 60 ? rng.pick(OPCODES) : rng.int(256);
  }
  rng.bytes(6).copy(b, rng.int(len - 5));
  return b;
}

/** ClamAV hex for `b`, with wildcards in the middle (never within 4 bytes of an end): `??`, `{n-m}`, `{n}`, `*`, `(aa|bb)`. */
function bodyHex(rng: Rng, b: Buffer): string {
  const hex = (i: number, j: number) => b.toString("hex", i, j);
  if (b.length < 12) return hex(0, b.length);
  const r = rng.int(100);
  const cut = 4 + rng.int(b.length - 8);
  if (r < 15) return `${hex(0, cut)}??${hex(cut + 1, b.length)}`;
  if (r < 22) {
    const n = rng.int(8);
    return `${hex(0, cut)}{${n}-${n + 1 + rng.int(32)}}${hex(cut, b.length)}`;
  }
  if (r < 25) return `${hex(0, cut)}{${1 + rng.int(16)}}${hex(cut, b.length)}`;
  if (r < 30) return `${hex(0, cut)}*${hex(cut, b.length)}`;
  if (r < 35) return `${hex(0, cut)}(${hex(cut, cut + 1)}|${rng.bytes(1).toString("hex")})${hex(cut + 1, b.length)}`;
  return hex(0, b.length);
}

/** One .ndb line: name:target:offset:hex[:min_flevel]. Targets and offsets in roughly the official database's proportions. */
function ndbLine(rng: Rng, names: Names): string {
  const t = rng.int(100);
  const target = t < 50 ? 0 : t < 82 ? 1 : t < 90 ? 3 : t < 95 ? 6 : 7;
  const o = rng.int(100);
  let offset = "*";
  if (target === 0)
    offset =
      o < 75
        ? "*"
        : o < 85
          ? "0"
          : o < 90
            ? `${rng.int(4096)},${64 + rng.int(4096)}`
            : o < 95
              ? `EOF-${16 + rng.int(4096)}`
              : `${rng.int(1024)}`;
  else if (target === 1)
    offset =
      o < 65
        ? "*"
        : o < 85
          ? `EP+${rng.int(64)}`
          : o < 92
            ? `SL+${rng.int(256)}`
            : `EP-${rng.int(32)},${32 + rng.int(256)}`;
  else if (target === 6) offset = o < 70 ? "*" : `EP+${rng.int(32)}`;
  const platforms =
    target === 1
      ? ["Win"]
      : target === 3
        ? ["Html"]
        : target === 6
          ? ["Unix"]
          : target === 7
            ? ["Txt", "Js"]
            : FILE_PLATFORMS;
  const flevel = rng.int(10) === 0 ? `:${rng.pick([51, 73, 90])}` : "";
  return `${names.next(platforms)}:${target}:${offset}:${bodyHex(rng, bodyBytes(rng, 12, 130))}${flevel}`;
}

/** One .ldb line: 2-5 subsignatures under ClamAV logical expressions. */
function ldbLine(rng: Rng, names: Names): string {
  const k = 2 + rng.int(4);
  const subs = Array.from({ length: k }, () => {
    const b = bodyBytes(rng, 8, 48);
    return /^[\x20-\x7e]+$/.test(b.toString("latin1")) && rng.int(4) === 0
      ? `${b.toString("hex")}::i`
      : bodyHex(rng, b);
  });
  const exprs: Record<number, string[]> = {
    2: ["0&1", "0|1", "0&1"],
    3: ["0&1&2", "(0|1)&2", "0&(1|2)"],
    4: ["0&1&2&3", "(0|1)&2&3", "((0|1|2)>1,2)&3"],
    5: ["0&1&2&3&4", "(0|1|2)&3&4", "((0|1|2|3)>2,2)&4"],
  };
  const target = rng.int(3) === 0 ? 0 : 1;
  return `${names.next(target === 1 ? ["Win"] : FILE_PLATFORMS)};Engine:51-255,Target:${target};${rng.pick(exprs[k]!)};${subs.join(";")}`;
}

/** File-hash size: log-uniform between 1 KiB and 16 MiB. */
const fileSize = (rng: Rng) => Math.floor(1024 * 2 ** (rng.float() * 14));

/** A minimal PE32 (two 0x200-byte sections at 0x200 and 0x400) with `text` in its first section. */
function pe(text: Buffer): Buffer {
  const b = Buffer.alloc(0x600, 0x90);
  b.fill(0, 0, 0x200);
  b.write("MZ", 0, "latin1");
  b.writeUInt32LE(0x40, 0x3c);
  b.write("PE\0\0", 0x40, "latin1");
  const coff = 0x44;
  b.writeUInt16LE(0x14c, coff);
  b.writeUInt16LE(2, coff + 2);
  b.writeUInt16LE(0xe0, coff + 16);
  b.writeUInt16LE(0x0102, coff + 18);
  const opt = coff + 20;
  const u32 = (off: number, v: number) => b.writeUInt32LE(v, opt + off);
  b.writeUInt16LE(0x10b, opt);
  u32(4, 0x400);
  u32(16, 0x1010);
  u32(20, 0x1000);
  u32(24, 0x2000);
  u32(28, 0x400000);
  u32(32, 0x1000);
  u32(36, 0x200);
  b.writeUInt16LE(4, opt + 40);
  b.writeUInt16LE(4, opt + 48);
  u32(56, 0x3000);
  u32(60, 0x200);
  b.writeUInt16LE(2, opt + 68);
  u32(72, 0x100000);
  u32(76, 0x1000);
  u32(80, 0x100000);
  u32(84, 0x1000);
  u32(92, 16);
  const section = (at: number, name: string, va: number, raw: number, flags: number) => {
    b.write(name, at, "latin1");
    b.writeUInt32LE(0x200, at + 8);
    b.writeUInt32LE(va, at + 12);
    b.writeUInt32LE(0x200, at + 16);
    b.writeUInt32LE(raw, at + 20);
    b.writeUInt32LE(flags, at + 36);
  };
  section(opt + 0xe0, ".text", 0x1000, 0x200, 0x60000020);
  section(opt + 0xe0 + 40, ".data", 0x2000, 0x400, 0xc0000040);
  text.copy(b, 0x200, 0, Math.min(text.length, 0x200));
  return b;
}

interface Planted {
  name: string;
  bytes: Buffer;
  expect: string;
}
interface Database {
  counts: Record<string, number>;
  total: number;
  bytes: number;
  planted: Planted[];
  marker?: Buffer;
}

const REAL: Record<string, number> = { hsb: 4_000_000, hdb: 1_000_000, mdb: 300_000, ndb: 100_000, ldb: 3_000 };

/** The real-scale set (see the header) plus one planted signature per kind, each in the middle of its file. */
function generateReal(db: string, counts: Record<string, number>, write = true): Database {
  const planted: Planted[] = [];
  const found = (name: string) => `stream: ${name}.UNOFFICIAL FOUND`;
  const p = new Rng("planted");
  const hsbFile = p.copy(3000);
  const hdbFile = p.copy(4100);
  const peFile = pe(p.copy(0x200));
  const [a, b2, c] = [p.copy(8), p.copy(8), p.copy(8)];
  const bodyFile = p.copy(10 * 1024);
  Buffer.concat([a, Buffer.from([0x41]), b2, p.copy(6), c]).copy(bodyFile, 3000);
  const subs = [p.copy(10), p.copy(12), p.copy(14)];
  const ldbFile = p.copy(10 * 1024);
  subs[1]!.copy(ldbFile, 1000);
  subs[2]!.copy(ldbFile, 7000);
  const plantedLines: Record<string, string> = {
    hsb: `${createHash("sha256").update(hsbFile).digest("hex")}:${hsbFile.length}:Bench.Planted.Sha256-1:73`,
    hdb: `${createHash("md5").update(hdbFile).digest("hex")}:${hdbFile.length}:Bench.Planted.Md5-1`,
    mdb: `512:${createHash("md5").update(peFile.subarray(0x200, 0x400)).digest("hex")}:Bench.Planted.Section-1`,
    ndb: `Bench.Planted.Body-1:0:*:${a.toString("hex")}??${b2.toString("hex")}{4-12}${c.toString("hex")}`,
    ldb: `Bench.Planted.Logical-1;Engine:51-255,Target:0;(0|1)&2;${subs.map((s) => s.toString("hex")).join(";")}`,
  };
  planted.push(
    { name: "sha256 (.hsb)", bytes: hsbFile, expect: found("Bench.Planted.Sha256-1") },
    { name: "md5 (.hdb)", bytes: hdbFile, expect: found("Bench.Planted.Md5-1") },
    { name: "PE section (.mdb)", bytes: peFile, expect: found("Bench.Planted.Section-1") },
    { name: "body (.ndb)", bytes: bodyFile, expect: found("Bench.Planted.Body-1") },
    { name: "logical (.ldb)", bytes: ldbFile, expect: found("Bench.Planted.Logical-1") },
    { name: "clean", bytes: p.copy(10 * 1024), expect: "stream: OK" },
  );
  const names = new Names(new Rng("names"));
  const gen: Record<string, (rng: Rng) => string> = {
    hsb: (r) =>
      `${r.bytes(32).toString("hex")}:${fileSize(r)}:${names.next(FILE_PLATFORMS)}${r.int(3) === 0 ? ":73" : ""}`,
    hdb: (r) => `${r.bytes(16).toString("hex")}:${fileSize(r)}:${names.next(FILE_PLATFORMS)}`,
    mdb: (r) =>
      `${512 * (1 + Math.floor(2 ** (r.float() * 11)))}:${r.bytes(16).toString("hex")}:${names.next(["Win"])}`,
    ndb: (r) => ndbLine(r, names),
    ldb: (r) => ldbLine(r, names),
  };
  let total = 0;
  let bytes = 0;
  if (!write) {
    // --reuse-db: the files were written (and packed) by an earlier run with the same counts
    for (const kind of ["hsb", "hdb", "mdb", "ndb", "ldb"]) total += Math.max(counts[kind] ?? 0, 0) + 1;
    return { counts, total, bytes, planted };
  }
  for (const kind of ["hsb", "hdb", "mdb", "ndb", "ldb"]) {
    const n = counts[kind] ?? 0;
    const w = new LineWriter(join(db, `bench.${kind}`));
    const rng = new Rng(kind);
    for (let i = 0; i < n; i++) {
      if (i === n >> 1) w.add(plantedLines[kind]!);
      w.add(gen[kind]!(rng));
    }
    if (n === 0) w.add(plantedLines[kind]!);
    w.close();
    total += w.lines;
    bytes += statSync(w.path).size;
  }
  return { counts, total, bytes, planted };
}

/**
 * Packs the generated signature files into ClamAV containers, as freshclam leaves them:
 * `main.cud` (the .hsb and .mdb files) and `daily.cud` (.hdb, .ndb, .ldb), each a 512-byte
 * `ClamAV-VDB:` header and a gzip'd ustar archive holding COPYING, a `.info` manifest (each
 * file's size and sha256, header equal to the container's) and the files, renamed main.* and
 * daily.*. `.cud` is ClamAV's unsigned container: clamd loads it without ClamAV's private key
 * (a `.cvd` or `.cld` needs the `.info` signed with it), and it is read exactly like a `.cvd`
 * otherwise (header, gzip, tar, manifest). The loose files are removed.
 */
function packContainers(db: string, counts: Record<string, number>): void {
  const groups: Record<string, string[]> = { main: ["hsb", "mdb"], daily: ["hdb", "ndb", "ldb"] };
  const stime = 1796600000;
  for (const [name, kinds] of Object.entries(groups)) {
    const work = join(db, `.${name}`);
    mkdirSync(work, { recursive: true });
    writeFileSync(join(work, "COPYING"), "Generated by Vigil's bench/daemon.ts for load benchmarks.\n");
    const sigs = kinds.reduce((n, k) => n + (counts[k] ?? 0) + 1, 0);
    const header = `ClamAV-VDB:07 Dec 2026 12-00 +0000:${name === "main" ? 62 : 27000}:${sigs}:90:${"0".repeat(32)}:unsigned:vigil-bench:${stime}`;
    const info = [header];
    for (const k of kinds) {
      const to = join(work, `${name}.${k}`);
      renameSync(join(db, `bench.${k}`), to);
      const sha = createHash("sha256").update(readFileSync(to)).digest("hex");
      info.push(`${name}.${k}:${statSync(to).size}:${sha}`);
    }
    writeFileSync(join(work, `${name}.info`), `${info.join("\n")}\n`);
    const files = ["COPYING", `${name}.info`, ...kinds.map((k) => `${name}.${k}`)];
    const out = join(db, `${name}.cud`);
    writeFileSync(out, Buffer.from(header.padEnd(512, " "), "latin1"));
    const r = spawnSync(
      "sh",
      ["-c", `tar --format=ustar -C '${work}' -cf - ${files.join(" ")} | gzip -1 >> '${out}'`],
      {
        stdio: "inherit",
      },
    );
    if (r.status !== 0) throw new Error(`packing ${out} failed`);
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * `--cvd`: packs the generated files as signed containers, `main.cvd` (the .hsb and .mdb files)
 * and `daily.cvd` (.hdb, .ndb, .ldb), each signed with a test key generated for this run (the
 * header's raw-RSA dsig over the body's MD5 and the `.info` DSIG, as ClamAV signs its own). Vigil
 * is told to trust the key (`--clamav-trust-key`, the key file written next to the database).
 * clamd 1.4 checks a `.cvd` only with ClamAV's built-in keys and cannot be told to trust
 * another, so it gets the same files packed the same way as `main.cud` and `daily.cud` (in a
 * directory of its own): ClamAV's unsigned container, whose `.info` has no DSIG line (clamd reads
 * a DSIG line in a `.cud` as a malformed entry) and which clamd otherwise reads exactly like a
 * `.cvd` (header, gzip, tar, `.info` sizes and sha256). The loose files are removed. Returns the directories to give each server and the key file.
 */
function packCvds(db: string, counts: Record<string, number>): { vigilDb: string; clamdDb: string; keyFile: string } {
  const groups: Record<string, string[]> = { main: ["hsb", "mdb"], daily: ["hdb", "ndb", "ldb"] };
  const keys = generateContainerKeys();
  const keyFile = join(db, "bench-keys.json");
  writeFileSync(keyFile, trustedKeysText(trustedKeysOf(keys)));
  const vigilDb = join(db, "cvd");
  const clamdDb = join(db, "cud");
  mkdirSync(vigilDb, { recursive: true });
  mkdirSync(clamdDb, { recursive: true });
  for (const [name, kinds] of Object.entries(groups)) {
    const files = kinds.map((k) => {
      const bytes = readFileSync(join(db, `bench.${k}`));
      rmSync(join(db, `bench.${k}`));
      return { name: `${name}.${k}`, bytes };
    });
    const signatures = kinds.reduce((n, k) => n + (counts[k] ?? 0) + 1, 0);
    const fields = {
      name,
      version: name === "main" ? 62 : 27000,
      signatures,
      flevel: 90,
      stime: Math.floor(Date.now() / 1000) - 3600,
      builder: "vigil-bench",
      gzipLevel: 1,
    };
    writeFileSync(join(vigilDb, `${name}.cvd`), buildSignedCvd(files, fields, keys));
    writeFileSync(join(clamdDb, `${name}.cud`), buildUnsignedCud(files, fields));
  }
  return { vigilDb, clamdDb, keyFile };
}

/** The small set: 2,000 random 16-byte body signatures and 2,000 MD5 hashes, plus a marker body. */
function generateSmall(db: string): Database {
  const rng = new Rng("small");
  const ndb: string[] = [];
  for (let i = 0; i < 2000; i++) ndb.push(`Bench.Body.Sig${i}-1:0:*:${rng.bytes(16).toString("hex")}`);
  const marker = rng.copy(16);
  ndb.push(`Bench.Body.Marker-1:0:*:${marker.toString("hex")}`);
  const hdb: string[] = [];
  for (let i = 0; i < 2000; i++) hdb.push(`${rng.bytes(16).toString("hex")}:${1000 + i}:Bench.Hash.Sig${i}-1`);
  writeFileSync(join(db, "bench.ndb"), ndb.join("\n") + "\n");
  writeFileSync(join(db, "bench.hdb"), hdb.join("\n") + "\n");
  const infected = Buffer.concat([rng.copy(5000), marker, rng.copy(5000)]);
  return {
    counts: { ndb: 2001, hdb: 2000 },
    total: 4001,
    bytes: statSync(join(db, "bench.ndb")).size + statSync(join(db, "bench.hdb")).size,
    planted: [{ name: "body (.ndb)", bytes: infected, expect: "stream: Bench.Body.Marker-1.UNOFFICIAL FOUND" }],
  };
}

// ---- clamd protocol client and measurements -------------------------------------------------

function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

function frame(data: Buffer, chunk = 1 << 16): Buffer {
  const parts: Buffer[] = [Buffer.from("zINSTREAM\0")];
  for (let at = 0; at < data.length; at += chunk) {
    const c = data.subarray(at, at + chunk);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(c.length);
    parts.push(len, c);
  }
  parts.push(Buffer.alloc(4));
  return Buffer.concat(parts);
}

function instream(port: number, framed: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1");
    let out = "";
    s.on("data", (b) => (out += b));
    s.on("end", () => {
      s.destroy();
      resolve(out.replace(/\0$/, ""));
    });
    s.on("error", reject);
    s.write(framed);
  });
}

function rss(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** RSS of `pid` and all its descendants (Vigil compiles its rules in a child process). */
function treeRss(pid: number): number {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch {
      /* gone */
    }
  }
  let total = 0;
  const todo = [pid];
  while (todo.length) {
    const p = todo.pop()!;
    total += rss(p);
    todo.push(...(children.get(p) ?? []));
  }
  return total;
}

async function waitPing(port: number, proc: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}`);
    try {
      const r = await new Promise<string>((res, rej) => {
        const s = connect(port, "127.0.0.1");
        let out = "";
        s.on("data", (b) => (out += b));
        s.on("end", () => res(out));
        s.on("error", rej);
        s.write("zPING\0");
      });
      if (r === "PONG\0") return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server did not answer PING within ${timeoutMs / 1000} s`);
}

interface Server {
  name: string;
  port: number;
  proc: ChildProcess;
  loadSeconds: number;
  loadPeak: number;
  idle: number;
  signatures: number;
  log: () => string;
}

/** Starts a server and measures its loading: seconds until PING answers, peak RSS of the process tree meanwhile, RSS 2 s later. */
async function start(
  name: string,
  port: number,
  proc: ChildProcess,
  log: () => string,
  signatures: () => number,
): Promise<Server> {
  const t0 = performance.now();
  let peak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, treeRss(proc.pid!));
  }, 100);
  try {
    await waitPing(port, proc, scale === "real" ? 900_000 : 120_000);
  } finally {
    clearInterval(sampler);
  }
  const loadSeconds = (performance.now() - t0) / 1000;
  peak = Math.max(peak, treeRss(proc.pid!));
  await new Promise((r) => setTimeout(r, 2000));
  const idle = rss(proc.pid!);
  return { name, port, proc, loadSeconds, loadPeak: peak, idle, signatures: signatures(), log };
}

/** clamd on `db` with its own config and log in `dir`/clamd-`tag`. */
async function startClamd(db: string, tag: string): Promise<Server> {
  const port = await freePort();
  const home = join(dir, `clamd-${tag}`);
  mkdirSync(home, { recursive: true });
  const conf = join(home, "clamd.conf");
  const logFile = join(home, "clamd.log");
  writeFileSync(
    conf,
    [
      "Foreground yes",
      `TCPSocket ${port}`,
      "TCPAddr 127.0.0.1",
      `DatabaseDirectory ${db}`,
      `LogFile ${logFile}`,
      "StreamMaxLength 25M",
      "DisableCache yes",
      "MaxThreads 10",
      "MaxQueue 200",
      `TemporaryDirectory ${home}`,
    ].join("\n") + "\n",
  );
  const log = () => {
    try {
      return readFileSync(logFile, "utf8");
    } catch {
      return "";
    }
  };
  const proc = spawn("clamd", ["-c", conf], { stdio: "ignore" });
  try {
    return await start("clamd", port, proc, log, () => Number(/Loaded (\d+) signatures/.exec(log())?.[1] ?? NaN));
  } catch (err) {
    proc.kill();
    throw new Error(`${(err as Error).message}${log() ? `\n${log().trim().split("\n").slice(-5).join("\n")}` : ""}`);
  }
}

/** `vigil daemon` on `db`; with `cacheHome`, its compiled-rules cache goes there (XDG_CACHE_HOME), else --no-cache. */
async function startVigil(db: string, cacheHome?: string): Promise<Server> {
  const port = await freePort();
  const args = [
    ...vigilNode,
    join(root, "packages/cli/bin/vigil.js"),
    "daemon",
    "--tcp",
    `127.0.0.1:${port}`,
    "--no-builtin",
    "-d",
    db,
    "--stream-max-length",
    "25M",
    "--max-queue",
    "200",
    ...(cacheHome ? [] : ["--no-cache"]),
    ...vigilArgs,
  ];
  const proc = spawn(process.execPath, args, {
    stdio: ["ignore", "ignore", "pipe"],
    env: cacheHome ? { ...process.env, XDG_CACHE_HOME: cacheHome } : process.env,
  });
  let stderr = "";
  proc.stderr!.setEncoding("utf8").on("data", (s: string) => {
    stderr += s;
  });
  try {
    return await start(
      "vigil",
      port,
      proc,
      () => stderr,
      () => Number(/(\d+) signatures loaded/.exec(stderr)?.[1] ?? NaN),
    );
  } catch (err) {
    proc.kill();
    throw new Error(`${(err as Error).message}\n${stderr.trim()}`);
  }
}

async function stop(s: Server): Promise<void> {
  if (s.proc.exitCode !== null) return;
  const exited = new Promise((r) => s.proc.once("exit", r));
  s.proc.kill("SIGTERM");
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  if (s.proc.exitCode === null) s.proc.kill("SIGKILL");
}

/** Byte sizes of the parts of a compiled signature set in Vigil's cache (the header of signatures-*.bin). */
function compiledParts(cacheHome: string): Record<string, number> {
  const d = join(cacheHome, "vigil", "compiled");
  const file = readdirSync(d).find((n) => /^signatures-[0-9a-f]+\.bin$/.test(n));
  if (!file) return {};
  const fd = openSync(join(d, file), "r");
  try {
    const magic = "VIGIL-SIGSET-1\n".length;
    const len = Buffer.alloc(4);
    readSync(fd, len, 0, 4, magic);
    // the header also lists the translation warnings, so it can be large
    const head = Buffer.alloc(len.readUInt32LE(0));
    readSync(fd, head, 0, head.length, magic + 4);
    const header = JSON.parse(head.toString("utf8")) as { parts: { name: string; length: number }[] };
    return Object.fromEntries(header.parts.filter((p) => p.length >= 0).map((p) => [p.name, p.length]));
  } finally {
    closeSync(fd);
  }
}

/**
 * `--breakdown`: each signature kind alone (and a one-signature base), loaded by each server in
 * turn, so the memory of a kind is its idle RSS minus the base's; for Vigil also the size of
 * each compiled part (from its compiled-rules cache), and the 10 KB request rate with that kind
 * alone (one client). Then Vigil's restart from that cache on the whole set.
 */
async function breakdown(db: string, set: Database, small: Buffer): Promise<void> {
  const kinds = ["base", "hsb", "hdb", "mdb", "ndb", "ldb"];
  const rows: string[] = [];
  const base: Record<string, number> = {};
  console.log("\nper kind (each alone; RSS above the one-signature base):");
  console.log(
    "kind   signatures  server  load s  load peak MiB  idle MiB  above base MiB  bytes/sig  10 KB req/s  compiled parts MB",
  );
  for (const kind of kinds) {
    const kdir = join(dir, `kind-${kind}`);
    mkdirSync(kdir, { recursive: true });
    if (kind === "base") writeFileSync(join(kdir, "base.ndb"), "Bench.Base-1:0:*:0011223344556677\n");
    else {
      try {
        linkSync(join(db, `bench.${kind}`), join(kdir, `bench.${kind}`));
      } catch {
        symlinkSync(join(db, `bench.${kind}`), join(kdir, `bench.${kind}`));
      }
    }
    const n = kind === "base" ? 1 : (set.counts[kind] ?? 0) + 1;
    for (const name of ["clamd", "vigil"]) {
      if (only && !only.includes(name)) continue;
      const cache = join(dir, `cache-${kind}`);
      let s: Server;
      try {
        s = name === "clamd" ? await startClamd(kdir, kind) : await startVigil(kdir, cache);
      } catch (err) {
        console.log(`${kind.padEnd(6)} ${name}: failed to load: ${(err as Error).message}`);
        continue;
      }
      // the scan cost each kind adds: 10 KB requests, one client (after a warm-up)
      await run(s.port, s.proc.pid!, small, 10240, 1, 50, "stream: OK");
      const r = await run(s.port, s.proc.pid!, small, 10240, 1, quick ? 100 : 300, "stream: OK");
      await stop(s);
      if (kind === "base") base[name] = s.idle;
      const above = s.idle - (base[name] ?? 0);
      const parts =
        name === "vigil"
          ? Object.entries(compiledParts(cache))
              .map(([k, v]) => `${k} ${(v / 1e6).toFixed(1)}`)
              .join(", ")
          : "";
      const row = `${kind.padEnd(6)} ${n.toLocaleString("en").padStart(10)}  ${name.padEnd(6)} ${s.loadSeconds.toFixed(1).padStart(6)} ${mib(s.loadPeak).padStart(14)} ${mib(s.idle).padStart(9)} ${mib(above).padStart(15)} ${(kind === "base" ? "" : (above / n).toFixed(0)).padStart(10)} ${r.rps.toFixed(0).padStart(11)}  ${parts}`;
      rows.push(row);
      console.log(row);
      rmSync(cache, { recursive: true, force: true });
    }
  }
  if (only && !only.includes("vigil")) return;
  await restart(db);
}

/** `--restart` (and --breakdown): Vigil on the whole set twice with its compiled-rules cache, as a daemon normally restarts. */
async function restart(db: string): Promise<void> {
  const cache = join(dir, "cache-all");
  const cold = await startVigil(db, cache);
  await stop(cold);
  const warm = await startVigil(db, cache);
  await stop(warm);
  const parts = compiledParts(cache);
  console.log(
    `\nvigil, whole set with the compiled-rules cache: first start ${cold.loadSeconds.toFixed(1)} s (compile + write the cache; load peak ${mib(cold.loadPeak)} MiB, idle ${mib(cold.idle)} MiB), ` +
      `restart from the cache ${warm.loadSeconds.toFixed(1)} s (load peak ${mib(warm.loadPeak)} MiB, idle ${mib(warm.idle)} MiB); compiled parts: ` +
      Object.entries(parts)
        .map(([k, v]) => `${k} ${(v / 1e6).toFixed(1)} MB`)
        .join(", "),
  );
  rmSync(cache, { recursive: true, force: true });
}

interface Result {
  label: string;
  clients: number;
  requests: number;
  seconds: number;
  mbps: number;
  rps: number;
  p50: number;
  p99: number;
  peakRss: number;
  errors: number;
}

async function run(
  port: number,
  pid: number,
  framed: Buffer,
  size: number,
  clients: number,
  requests: number,
  expect: string,
): Promise<Result> {
  const lat: number[] = [];
  let next = 0;
  let errors = 0;
  let peak = rss(pid);
  const sampler = setInterval(() => {
    peak = Math.max(peak, rss(pid));
  }, 50);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < requests) {
        next++;
        const t = performance.now();
        const r = await instream(port, framed).catch((e: Error) => `error ${e.message}`);
        lat.push(performance.now() - t);
        if (r !== expect) {
          errors++;
          if (errors <= 3) console.log(`  unexpected reply: ${r}`);
        }
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, rss(pid));
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!;
  return {
    label: "",
    clients,
    requests,
    seconds,
    mbps: (requests * size) / seconds / 1e6,
    rps: requests / seconds,
    p50: q(0.5),
    p99: q(0.99),
    peakRss: peak,
    errors,
  };
}

const mib = (n: number) => (n / MiB).toFixed(1);

async function main(): Promise<void> {
  const benchStart = performance.now();
  const db = keepDb ?? join(dir, "db");
  if (cvd && process.argv.includes("--breakdown")) throw new Error("--breakdown reads the loose files: not with --cvd");
  mkdirSync(db, { recursive: true });
  const factor = Number(arg("--factor") ?? 1);
  const counts: Record<string, number> = {};
  for (const [k, v] of Object.entries(REAL)) counts[k] = Math.round(v * factor);
  for (const kv of arg("--counts")?.split(",") ?? []) {
    const [k, v] = kv.split("=");
    if (!k || !(k in REAL) || !Number.isFinite(Number(v)))
      throw new Error(`--counts takes kind=N for ${Object.keys(REAL).join(", ")}: not ${kv}`);
    counts[k] = Number(v);
  }
  const t = performance.now();
  // --reuse-db: the packed containers an earlier `--cvd --keep-db DIR` run left in DIR (same counts)
  const reuse = process.argv.includes("--reuse-db");
  if (reuse && !(cvd && keepDb && existsSync(join(db, "cvd", "main.cvd")) && existsSync(join(db, "bench-keys.json"))))
    throw new Error("--reuse-db needs --cvd and --keep-db DIR naming the directory of an earlier --cvd --keep-db run");
  const set = scale === "real" ? generateReal(db, counts, !reuse) : generateSmall(db);
  if (containers) {
    if (scale !== "real") throw new Error("--containers packs the --scale real set");
    const tp = performance.now();
    packContainers(db, counts);
    console.log(`packed as main.cud + daily.cud in ${((performance.now() - tp) / 1000).toFixed(1)} s`);
  }
  let clamdDb = db;
  let vigilDb = db;
  if (cvd && reuse) {
    ({ clamdDb, vigilDb } = { clamdDb: join(db, "cud"), vigilDb: join(db, "cvd") });
    vigilArgs.push("--clamav-trust-key", join(db, "bench-keys.json"));
    console.log(`reusing main.cvd + daily.cvd (and the .cud copies for clamd) from ${db}`);
  } else if (cvd) {
    if (scale !== "real" || containers) throw new Error("--cvd packs the --scale real set (and replaces --containers)");
    const tp = performance.now();
    const packed = packCvds(db, counts);
    ({ clamdDb, vigilDb } = packed);
    vigilArgs.push("--clamav-trust-key", packed.keyFile);
    console.log(
      `packed as main.cvd + daily.cvd signed with a test key in ${((performance.now() - tp) / 1000).toFixed(1)} s; clamd loads the same files packed as main.cud + daily.cud (clamd 1.4 trusts only ClamAV's keys)`,
    );
  }
  console.log(
    `database (${scale}): ${Object.entries(set.counts)
      .map(([k, v]) => `${v.toLocaleString("en")} .${k}`)
      .join(", ")}; ` +
      `${set.total.toLocaleString("en")} signatures with the planted ones, ${(set.bytes / 1e6).toFixed(0)} MB of text, generated in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );

  const rng = new Rng("files");
  const small = rng.copy(10 * 1024);
  const large = rng.copy(20 * 1024 * 1024);

  const servers: Server[] = [];
  // one after the other, so neither's loading slows the other's on the shared cores
  if (!only || only.includes("clamd")) {
    try {
      servers.push(await startClamd(clamdDb, "main"));
    } catch (err) {
      console.log(`clamd not available (${(err as Error).message}): Vigil only`);
    }
  }
  if (!only || only.includes("vigil")) {
    try {
      servers.push(await startVigil(vigilDb));
    } catch (err) {
      console.log(`vigil daemon failed to load: ${(err as Error).message}`);
    }
  }
  if (servers.length === 0) throw new Error("no server loaded the database");
  console.log(
    `load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")} (${cpus().length} cores)`,
  );
  console.log("\nserver  load s  load peak RSS MiB  idle RSS MiB  signatures (generated " + set.total + ")");
  for (const s of servers) {
    console.log(
      `${s.name.padEnd(7)} ${s.loadSeconds.toFixed(1).padStart(6)} ${mib(s.loadPeak).padStart(18)} ${mib(s.idle).padStart(13)}  ${s.signatures}`,
    );
    const problems = s
      .log()
      .split("\n")
      .filter((l) => /error|warning|malformed|can't|cannot|failed/i.test(l));
    if (problems.length)
      console.log(
        `  ${s.name} log: ${problems.slice(0, 5).join("\n  ")}${problems.length > 5 ? `\n  ... ${problems.length - 5} more` : ""}`,
      );
  }

  // the planted files must get the same replies from both servers
  console.log("\nplanted file          " + servers.map((s) => s.name.padEnd(48)).join(""));
  let mismatches = 0;
  for (const f of set.planted) {
    const replies = await Promise.all(servers.map((s) => instream(s.port, frame(f.bytes))));
    // names from a signed .cvd carry no .UNOFFICIAL suffix (clamd's .cud ones do)
    const expect = (s: Server) => (cvd && s.name === "vigil" ? f.expect.replace(".UNOFFICIAL", "") : f.expect);
    const ok = replies.every((r, i) => r === expect(servers[i]!));
    if (!ok) mismatches++;
    console.log(
      `${f.name.padEnd(21)} ${replies.map((r) => r.padEnd(48)).join("")}${ok ? "" : `  MISMATCH (expected ${servers.map(expect).join(" / ")})`}`,
    );
  }
  if (mismatches) console.log(`${mismatches} planted file(s) not detected as expected`);

  const plan = (rows: [number, number, number][]) =>
    rows.filter(([c]) => clientLevels.includes(c)).map(([c, n, nq]) => [c, quick ? nq : n] as [number, number]);
  const scenarios: { label: string; data: Buffer; plan: [number, number][] }[] = [
    {
      label: "10 KB",
      data: small,
      plan: plan([
        [1, 300, 100],
        [8, 1000, 200],
        [64, 1920, 320],
      ]),
    },
    {
      label: "20 MB",
      data: large,
      plan: plan([
        [1, 6, 3],
        [8, 24, 8],
        [64, 64, 64],
      ]),
    },
  ].filter((s) => !sizes || sizes.includes(s.label.replace(" ", "")));
  console.log("\nserver  file    clients  requests    MB/s   req/s   p50 ms   p99 ms  peak RSS MiB  errors");
  const table: Record<string, Result> = {};
  for (const sc of scenarios) {
    const framed = frame(sc.data);
    // warm-up, not measured, the same for both servers (Vigil's JIT, both servers' page cache)
    for (const s of servers)
      await run(s.port, s.proc.pid!, framed, sc.data.length, 1, sc.data.length > 1e6 ? 1 : 100, "stream: OK");
    for (const [clients, requests] of sc.plan) {
      for (const s of servers) {
        const r = await run(s.port, s.proc.pid!, framed, sc.data.length, clients, requests, "stream: OK");
        r.label = sc.label;
        table[`${s.name}|${sc.label}|${clients}`] = r;
        console.log(
          `${s.name.padEnd(7)} ${sc.label.padEnd(7)} ${String(clients).padStart(7)} ${String(requests).padStart(9)} ${r.mbps.toFixed(1).padStart(7)} ${r.rps.toFixed(1).padStart(7)} ${r.p50.toFixed(1).padStart(8)} ${r.p99.toFixed(1).padStart(8)} ${mib(r.peakRss).padStart(13)} ${String(r.errors).padStart(7)}`,
        );
      }
    }
  }
  if (servers.length === 2) {
    console.log("\nVigil / clamd ratios (throughput: higher is better for Vigil; p99 and memory: lower is better):");
    const [c, v] = servers as [Server, Server];
    console.log(
      `  load time ${(v.loadSeconds / c.loadSeconds).toFixed(2)}  load peak RSS ${(v.loadPeak / c.loadPeak).toFixed(2)}  idle RSS ${(v.idle / c.idle).toFixed(2)}`,
    );
    for (const sc of scenarios)
      for (const [clients] of sc.plan) {
        const vr = table[`vigil|${sc.label}|${clients}`]!;
        const cr = table[`clamd|${sc.label}|${clients}`]!;
        console.log(
          `  ${sc.label.padEnd(6)} x${String(clients).padEnd(3)} throughput ${(vr.mbps / cr.mbps).toFixed(2)}  p99 ${(vr.p99 / cr.p99).toFixed(2)}  peak RSS ${(vr.peakRss / cr.peakRss).toFixed(2)}`,
        );
      }
  }
  if (idleAfter > 0) {
    await new Promise((r) => setTimeout(r, idleAfter * 1000));
    for (const s of servers)
      console.log(`${s.name.padEnd(6)} RSS ${mib(rss(s.proc.pid!)).padStart(7)} MiB after ${idleAfter} s idle`);
  }
  for (const s of servers) await stop(s);
  if (process.argv.includes("--breakdown")) await breakdown(db, set, frame(small));
  else if (process.argv.includes("--restart") && (!only || only.includes("vigil"))) await restart(vigilDb);
  console.log(
    `load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}; whole run ${((performance.now() - benchStart) / 1000).toFixed(0)} s`,
  );
  rmSync(dir, { recursive: true, force: true });
  if (mismatches) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  rmSync(dir, { recursive: true, force: true });
  process.exit(1);
});
