/**
 * Generates a file tree and a ClamAV database for differential tests and the benchmark:
 * ordinary files (text and binary), files carrying body-signature markers (.ndb, with
 * wildcards and offsets), files known by hash (.hdb, md5 and sha256 .hsb), one allow-listed
 * file (.fp), and zip / tar.gz / bzip2 containers holding infected files. Deterministic.
 */
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { makeZip } from "./zip.js";

export interface Corpus {
  db: string;
  root: string;
  /** top-level relative path -> signature name expected (clamscan's, with .UNOFFICIAL) */
  expected: Map<string, string>;
  files: number;
  bytes: number;
}

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 0x100000000;
  };
}

export function makeCorpus(dir: string, opts: { files: number; seed?: number; sizeKb?: number }): Corpus {
  const rnd = rng(opts.seed ?? 42);
  const db = join(dir, "db");
  const root = join(dir, "tree");
  mkdirSync(db, { recursive: true });
  mkdirSync(root, { recursive: true });
  const bytesOf = (n: number, text: boolean) => {
    const b = Buffer.allocUnsafe(n);
    if (text) {
      const words = "the quick brown fox jumps over lazy dogs while scanners watch files ".split("");
      for (let i = 0; i < n; i++) b[i] = words[Math.floor(rnd() * words.length)]!.charCodeAt(0);
    } else for (let i = 0; i < n; i++) b[i] = Math.floor(rnd() * 256);
    return b;
  };
  const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
  // body signatures: 20 markers, various forms
  const markers: { name: string; bytes: Buffer; line: string }[] = [];
  for (let i = 0; i < 20; i++) {
    const m = bytesOf(24, false);
    const name = `Vigil.Bench.Body-${i}`;
    let sig = hex(m);
    if (i % 4 === 1) sig = `${hex(m.subarray(0, 10))}??${hex(m.subarray(11, 24))}`; // one wildcard byte
    if (i % 4 === 2) sig = `${hex(m.subarray(0, 8))}{2-6}${hex(m.subarray(12, 24))}`; // bounded gap (marker has 4 bytes between)
    if (i % 4 === 3) sig = `${hex(m.subarray(0, 12))}*${hex(m.subarray(16, 24))}`;
    markers.push({ name, bytes: m, line: `${name}:0:*:${sig}` });
  }
  writeFileSync(join(db, "bench.ndb"), markers.map((m) => m.line).join("\n") + "\n");
  const hdb: string[] = [];
  const hsb: string[] = [];
  const fp: string[] = [];
  const expected = new Map<string, string>();
  let bytes = 0;
  const sizeKb = opts.sizeKb ?? 24;
  const dirs = Math.max(1, Math.floor(opts.files / 50));
  for (let d = 0; d < dirs; d++) mkdirSync(join(root, `d${d}`, "sub"), { recursive: true });
  for (let i = 0; i < opts.files; i++) {
    const rel = join(`d${i % dirs}`, i % 3 === 0 ? "sub" : "", `f${i}${i % 2 ? ".txt" : ".bin"}`);
    const size = Math.floor(rnd() * sizeKb * 1024) + 100;
    let body: Buffer = bytesOf(size, i % 2 === 1);
    const kind = i % 37;
    if (kind === 5) {
      const m = markers[i % markers.length]!;
      m.bytes.copy(body, Math.floor(rnd() * (size - 30)));
      expected.set(rel, `${m.name}.UNOFFICIAL`);
    } else if (kind === 11) {
      const name = `Vigil.Bench.Hash-${i}`;
      hdb.push(`${createHash("md5").update(body).digest("hex")}:${body.length}:${name}`);
      expected.set(rel, `${name}.UNOFFICIAL`);
    } else if (kind === 17) {
      const name = `Vigil.Bench.Sha-${i}`;
      hsb.push(`${createHash("sha256").update(body).digest("hex")}:${body.length}:${name}`);
      expected.set(rel, `${name}.UNOFFICIAL`);
    } else if (kind === 23) {
      // carries a marker but is allow-listed: clean for both scanners
      markers[0]!.bytes.copy(body, 10);
      fp.push(`${createHash("md5").update(body).digest("hex")}:${body.length}:Allowed-${i}`);
    } else if (kind === 29) {
      const m = markers[(i + 3) % markers.length]!;
      const inner = bytesOf(2000, true);
      m.bytes.copy(inner, 500);
      const member = { name: `inner/doc${i}.bin`, data: inner };
      const r = i % 3;
      if (r === 0) body = makeZip([{ name: "readme.txt", data: "hello" }, member]);
      else if (r === 1) body = gzipSync(inner);
      else body = makeZip([{ name: "nested.zip", data: makeZip([member], {}) }], {});
      const ext = r === 1 ? ".gz" : ".zip";
      const relA = rel.replace(/\.(txt|bin)$/, ext);
      writeFileSync(join(root, relA), body);
      bytes += body.length;
      expected.set(relA, `${m.name}.UNOFFICIAL`);
      continue;
    }
    writeFileSync(join(root, rel), body);
    bytes += body.length;
  }
  // a tar.gz of two infected files and a clean one
  const t = join(dir, "tarsrc");
  mkdirSync(t, { recursive: true });
  const tm = Buffer.concat([bytesOf(300, true), markers[7]!.bytes, bytesOf(300, true)]);
  writeFileSync(join(t, "x.bin"), tm);
  writeFileSync(join(t, "clean.txt"), bytesOf(1000, true));
  execFileSync("tar", ["-czf", join(root, "pack.tar.gz"), "-C", t, "."]);
  expected.set("pack.tar.gz", `${markers[7]!.name}.UNOFFICIAL`);
  writeFileSync(join(db, "bench.hdb"), hdb.join("\n") + "\n");
  writeFileSync(join(db, "bench.hsb"), hsb.join("\n") + "\n");
  writeFileSync(join(db, "bench.fp"), fp.join("\n") + "\n");
  return { db, root, expected, files: opts.files + 1, bytes };
}
