// Issue 17, finding 9: the scan cache must cost less than the rescan it saves. It is an
// append-only binary file: a warm run writes nothing, a changed file appends one record, a
// kill -9 leaves at most a torn tail that is ignored; empty files are scanned without a read
// or a worker. (bench/tree.ts measures the time and memory on 100,000 files.)
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Scanner, ScanCache, type FileResult } from "../src/index.js";
import { readersFingerprint } from "../src/scanner.js";
import { starter, withRules } from "./helpers/detector.js";

const HEADER = 48;
const RECORD = 44;

async function scanTree(
  dir: string,
  cacheFile: string,
  extra: Partial<ConstructorParameters<typeof Scanner>[0]> = {},
): Promise<FileResult[]> {
  const rules = starter();
  const probe = new Scanner({ ...rules, jobs: 0 });
  const cache = new ScanCache(cacheFile, Scanner.cacheVersion(rules.detector, probe.content));
  const s = new Scanner({ ...rules, jobs: 0, cache, ...extra });
  const out: FileResult[] = [];
  try {
    for await (const e of s.scan([dir])) if (e.type === "file") out.push(e.result);
  } finally {
    await s.close();
  }
  cache.save();
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

function tree(n: number, size = 20): string {
  const d = mkdtempSync(join(tmpdir(), "vigil-cache-cost-"));
  mkdirSync(join(d, "t"));
  for (let i = 0; i < n; i++) writeFileSync(join(d, "t", `f${String(i).padStart(3, "0")}`), "x".repeat(size) + i);
  return d;
}

describe("scan cache: cheaper than a rescan", () => {
  it("a warm run writes nothing; a changed file appends one record", async () => {
    const d = tree(50);
    const cacheFile = join(d, "cache");
    const cold = await scanTree(join(d, "t"), cacheFile);
    expect(cold.every((r) => !r.cached)).toBe(true);
    const after = readFileSync(cacheFile);
    expect(after.length).toBe(HEADER + 50 * RECORD);
    const warm = await scanTree(join(d, "t"), cacheFile);
    expect(warm.every((r) => r.cached)).toBe(true);
    expect(readFileSync(cacheFile).equals(after)).toBe(true); // not rewritten
    const f = join(d, "t", "f007");
    writeFileSync(f, "changed");
    utimesSync(f, new Date(), new Date(Date.now() + 5000));
    const third = await scanTree(join(d, "t"), cacheFile);
    expect(third.filter((r) => !r.cached).map((r) => r.path)).toEqual([f]);
    const grown = readFileSync(cacheFile);
    expect(grown.length).toBe(after.length + RECORD);
    expect(grown.subarray(0, after.length).equals(after)).toBe(true); // appended, never rewritten
  });

  it("a torn or damaged tail (kill -9 mid-append) is ignored and the records before it kept", async () => {
    const d = tree(30);
    const cacheFile = join(d, "cache");
    await scanTree(join(d, "t"), cacheFile);
    const full = readFileSync(cacheFile).length;
    for (const cut of [full - 1, full - 20, full - RECORD - 7, HEADER + 3, HEADER]) {
      const torn = join(d, `torn-${cut}`);
      copyFileSync(cacheFile, torn);
      truncateSync(torn, cut);
      const rules = starter();
      const c = new ScanCache(torn, Scanner.cacheVersion(rules.detector, new Scanner({ ...rules, jobs: 0 }).content));
      expect(c.size).toBe(Math.floor((cut - HEADER) / RECORD));
    }
    // garbage after the records: ignored; the next run cuts it off and appends after the last good record
    appendFileSync(cacheFile, Buffer.from("garbage that is not a record at all, 44 bytes..."));
    const files = await scanTree(join(d, "t"), cacheFile);
    expect(files.every((r) => r.cached)).toBe(true);
    writeFileSync(join(d, "t", "new"), "a new file");
    await scanTree(join(d, "t"), cacheFile);
    expect(readFileSync(cacheFile).length).toBe(full + RECORD);
    expect((await scanTree(join(d, "t"), cacheFile)).every((r) => r.cached)).toBe(true);
  });

  it("survives kill -9 while appending: what loads is exactly what was written", async () => {
    const d = mkdtempSync(join(tmpdir(), "vigil-cache-kill-"));
    const cacheFile = join(d, "cache");
    const child = fileURLToPath(new URL("./helpers/cache-child.ts", import.meta.url));
    for (let round = 0; round < 3; round++) {
      const p = spawn(process.execPath, ["--import", "tsx", child, cacheFile], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      await new Promise<void>((res) => p.stdout.once("data", () => res()));
      await new Promise((res) => setTimeout(res, 30 + round * 40));
      p.kill("SIGKILL");
      await new Promise((res) => p.once("exit", res));
      const c = new ScanCache(cacheFile, "v");
      expect(c.size).toBeGreaterThan(0);
      // every entry that loads is one the child wrote, whole
      for (let i = 1; i <= c.size; i++)
        expect(c.isClean({ dev: 7, ino: i, size: 2 * i + 1, mtimeMs: 3 * i, ctimeMs: 5 * i })).toBe(true);
      expect(
        c.isClean({
          dev: 7,
          ino: c.size + 1,
          size: 2 * (c.size + 1) + 1,
          mtimeMs: 3 * (c.size + 1),
          ctimeMs: 5 * (c.size + 1),
        }),
      ).toBe(false);
    }
  });

  it("empty files are scanned without a read or a worker, and never cached", async () => {
    const d = mkdtempSync(join(tmpdir(), "vigil-empty-"));
    for (let i = 0; i < 40; i++) writeFileSync(join(d, `e${i}`), "");
    // a spec whose module does not exist: any file sent to a worker comes back WORKER_FAILED
    const bad = { module: "file:///nonexistent/detector.js", init: {} };
    const rules = starter();
    const s = new Scanner({ detector: rules.detector, spec: bad, jobs: 2, lazyWorkers: true });
    const out: FileResult[] = [];
    try {
      for await (const e of s.scan([d])) if (e.type === "file") out.push(e.result);
    } finally {
      await s.close();
    }
    expect(out).toHaveLength(40);
    expect(
      out.every((r) => r.errors.length === 0 && r.detections.length === 0 && r.size === 0 && r.stat?.size === 0),
    ).toBe(true);
    const cacheFile = join(d, "..", `${d.split("/").pop()}.cache`);
    await scanTree(d, cacheFile);
    expect(existsSync(cacheFile)).toBe(false); // nothing worth remembering: nothing written
  });

  it("rules that need no strings still see empty files", async () => {
    const d = mkdtempSync(join(tmpdir(), "vigil-empty-rule-"));
    writeFileSync(join(d, "zero"), "");
    const { withRules } = await import("./helpers/detector.js");
    const rules = withRules("rule Empty { condition: filesize == 0 }");
    const s = new Scanner({ ...rules, jobs: 0 });
    const out: FileResult[] = [];
    for await (const e of s.scan([d])) if (e.type === "file") out.push(e.result);
    await s.close();
    expect(out.map((r) => r.detections.map((x) => x.rule))).toEqual([["Empty"]]);
  });
});

describe("scan cache: keyed on the container readers too", () => {
  it("the cache version carries a digest of the readers' code, so new readers rescan files cached clean", () => {
    const rules = withRules('rule R { strings: $a = "zzz-marker" condition: $a }');
    const content = new Scanner({ ...rules, jobs: 0 }).content;
    const v = JSON.parse(Scanner.cacheVersion(rules.detector, content)) as unknown[];
    expect(v[1]).toBe(readersFingerprint());
    expect(readersFingerprint()).toMatch(/^[0-9a-f]{16}$/);
  });
});
