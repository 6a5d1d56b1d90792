import { describe, expect, it, beforeAll } from "vitest";
import { mkdirSync, mkdtempSync, utimesSync, writeFileSync, readFileSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import {
  Scanner,
  ScanCache,
  ScanStats,
  reportWriter,
  summaryText,
  type FileResult,
  type ScanEvent,
  type ScannerOptions,
} from "../src/index.js";
import { compileRuleSet, engineDetectorWithSpec } from "../src/rules.js";
import { EICAR, makeZip } from "@vigil/test-kit";
import { starter } from "./helpers/detector.js";

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "vigil-scan-"));
  mkdirSync(join(root, "d/e"), { recursive: true });
  writeFileSync(join(root, "eicar.com"), EICAR);
  writeFileSync(join(root, "clean.txt"), "nothing here");
  writeFileSync(
    join(root, "d/e/inner.zip"),
    makeZip([
      { name: "x/eicar.com", data: EICAR },
      { name: "ok.txt", data: "fine" },
    ]),
  );
  for (let i = 0; i < 30; i++) writeFileSync(join(root, "d", `f${i}.bin`), Buffer.alloc(1000 + i, i));
});

async function run(
  opts: Partial<ScannerOptions>,
  paths = [root],
  stdin?: string,
): Promise<{ files: FileResult[]; events: ScanEvent[] }> {
  const s = new Scanner({ ...starter(), ...opts });
  const events: ScanEvent[] = [];
  try {
    for await (const e of s.scan(paths, {
      stdin: stdin !== undefined ? Readable.from([Buffer.from(stdin)]) : undefined,
    }))
      events.push(e);
  } finally {
    await s.close();
  }
  return { files: events.flatMap((e) => (e.type === "file" ? [e.result] : [])), events };
}

const found = (fs: FileResult[]) =>
  fs.flatMap((f) => f.detections.map((d) => `${d.path.slice(root.length + 1)}: ${d.name}`)).sort();

describe("Scanner", () => {
  it("in-process and with two workers give the same results", async () => {
    const a = await run({ jobs: 0 });
    const b = await run({ jobs: 2 });
    expect(found(a.files)).toEqual([
      "d/e/inner.zip!x/eicar.com: Win.Test.EICAR_HDB-1",
      "eicar.com: Win.Test.EICAR_HDB-1",
    ]);
    expect(found(b.files)).toEqual(found(a.files));
    expect(b.files).toHaveLength(33);
    expect(b.events.filter((e) => e.type === "dir")).toHaveLength(3);
  });

  it("scans standard input as 'stdin'", async () => {
    const { files } = await run({ jobs: 1 }, ["-"], EICAR);
    expect(files.map((f) => [f.path, f.detections[0]?.name])).toEqual([["stdin", "Win.Test.EICAR_HDB-1"]]);
  });

  it("files deleted while the scan runs are reported as vanished, never a crash", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-vanish-"));
    for (let i = 0; i < 300; i++) writeFileSync(join(dir, `f${i}.txt`), "x".repeat(1000));
    const s = new Scanner({ ...starter(), jobs: 1 });
    const out: FileResult[] = [];
    let deleted = false;
    for await (const e of s.scan([dir])) {
      if (e.type !== "file") continue;
      out.push(e.result);
      if (!deleted) {
        deleted = true;
        for (let i = 0; i < 300; i++) {
          try {
            unlinkSync(join(dir, `f${i}.txt`));
          } catch {
            /* scanned and gone already */
          }
        }
      }
    }
    await s.close();
    const codes = out.flatMap((r) => r.errors.map((e) => e.code));
    expect(codes.length).toBeGreaterThan(0);
    expect(new Set(codes)).toEqual(new Set(["VANISHED"]));
    expect(out.length).toBeLessThanOrEqual(300);
  });

  it("a file that vanished or cannot be opened is an error result", async () => {
    const s = new Scanner({ ...starter(), jobs: 0 });
    const r = await s.scanFile(join(root, "gone"));
    expect(r.errors.map((e) => e.code)).toEqual(["VANISHED"]);
    await s.close();
  });

  it("a worker that dies on one file fails only that file and is replaced", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-crash-"));
    writeFileSync(join(dir, "a.txt"), "EVIL");
    writeFileSync(join(dir, "b.txt"), "CRASH");
    for (let i = 0; i < 6; i++) writeFileSync(join(dir, `c${i}.txt`), i % 2 ? "EVIL" : "fine");
    const { createDetector } = await import("./helpers/crashy-detector.js");
    const spec = { module: new URL("./helpers/crashy-detector.ts", import.meta.url).href, init: null };
    const { files } = await run({ detector: createDetector(), spec, jobs: 2 }, [dir]);
    const by = new Map(files.map((f) => [f.path.slice(dir.length + 1), f]));
    expect(by.size).toBe(8);
    expect(by.get("b.txt")!.errors.map((e) => e.code)).toEqual(["WORKER_FAILED"]);
    expect(
      [...by.values()]
        .filter((f) => f.detections.length)
        .map((f) => f.path.slice(dir.length + 1))
        .sort(),
    ).toEqual(["a.txt", "c1.txt", "c3.txt", "c5.txt"]);
    expect([...by.values()].filter((f) => f.errors.length)).toHaveLength(1);
  });

  it("a worker that cannot build its detector fails files with WORKER_FAILED, not a hang", async () => {
    const bad = { module: "file:///nonexistent/detector.js", init: null };
    const { files } = await run({ jobs: 1, spec: bad }, [join(root, "clean.txt")]);
    expect(files[0]?.errors[0]?.code).toBe("WORKER_FAILED");
  });
});

describe("ScanCache", () => {
  it("skips unchanged clean files, rescans changed ones, never hides detections after a rules change", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-cache-"));
    const cacheFile = join(dir, "cache.json");
    writeFileSync(join(dir, "a.txt"), "harmless marker-XYZZY");
    writeFileSync(join(dir, "b.txt"), "other");
    const rulesV1 = starter();
    const scanWith = async (rules: typeof rulesV1) => {
      const s = new Scanner({ ...rules, jobs: 0 });
      const cache = new ScanCache(cacheFile, Scanner.cacheVersion(rules.detector, s.content));
      const s2 = new Scanner({ ...rules, jobs: 0, cache });
      const out: FileResult[] = [];
      for await (const e of s2.scan([join(dir, "a.txt"), join(dir, "b.txt")]))
        if (e.type === "file") out.push(e.result);
      cache.save();
      return out.sort((x, y) => x.path.localeCompare(y.path));
    };
    const first = await scanWith(rulesV1);
    expect(first.map((f) => !!f.cached)).toEqual([false, false]);
    const second = await scanWith(rulesV1);
    expect(second.map((f) => !!f.cached)).toEqual([true, true]);
    // modify b: rescanned
    writeFileSync(join(dir, "b.txt"), "other!");
    utimesSync(join(dir, "b.txt"), new Date(), new Date(Date.now() + 5000));
    const third = await scanWith(rulesV1);
    expect(third.map((f) => !!f.cached)).toEqual([true, false]);
    // new rules that detect a.txt: the cache must not hide it
    const v2 = engineDetectorWithSpec(
      compileRuleSet({
        extra: [{ namespace: "t", source: 'rule Xyzzy { strings: $a = "marker-XYZZY" condition: $a }' }],
      }),
    );
    const fourth = await scanWith(v2);
    expect(fourth[0]?.cached).toBeFalsy();
    expect(fourth[0]?.detections.map((d) => d.name)).toEqual(["Xyzzy"]);
    // a detected file is never cached
    const fifth = await scanWith(v2);
    expect(fifth[0]?.cached).toBeFalsy();
    expect(fifth[0]?.detections).toHaveLength(1);
  });

  it("a corrupt cache file is ignored", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-cache-"));
    writeFileSync(join(dir, "c.json"), "{not json");
    const c = new ScanCache(join(dir, "c.json"), "v");
    expect(c.size).toBe(0);
    unlinkSync(join(dir, "c.json"));
  });
});

describe("reports", () => {
  it("text, ndjson, json and SARIF carry the same detections", async () => {
    const { files } = await run({ jobs: 0 }, [join(root, "eicar.com"), join(root, "clean.txt"), join(root, "missing")]);
    const stats = new ScanStats();
    for (const f of files) stats.add(f);
    expect(stats.exitCode()).toBe(1);
    const info = { toolVersion: "0.1.0", rulesVersion: "v", signatures: 4 };
    const text = files.map((f) => reportWriter("text", info, { all: true }).file(f)).join("");
    expect(text).toContain(`${root}/eicar.com: Win.Test.EICAR_HDB-1 FOUND\n`);
    expect(text).toContain(`${root}/clean.txt: OK\n`);
    expect(text).toMatch(/missing: no such file or directory .* ERROR\n/);
    const nd = reportWriter("ndjson", info);
    const lines = (files.map((f) => nd.file(f)).join("") + nd.end(stats))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.type)).toEqual(["file", "file", "summary"]);
    expect(lines.at(-1)).toMatchObject({ infected: 1, errors: 1, files: 2 });
    // json and SARIF stream: each file()'s text, then end()'s, make the document
    const sw = reportWriter("sarif", info);
    const sarifText = files.map((f) => sw.file(f)).join("") + sw.end(stats);
    const sarif = JSON.parse(sarifText);
    expect(sarif.version).toBe("2.1.0");
    const res = sarif.runs[0].results;
    expect(res).toHaveLength(1);
    expect(res[0].ruleId).toBe("Win.Test.EICAR_HDB-1");
    expect(res[0].locations[0].physicalLocation.region).toEqual({ startLine: 1, byteOffset: 0, byteLength: 68 });
    expect(res[0].locations[0].physicalLocation.artifactLocation.uri).toBe(`file://${root}/eicar.com`);
    expect(sarif.runs[0].tool.driver.rules[0].id).toBe("Win.Test.EICAR_HDB-1");
    const js = reportWriter("json", info);
    const jsonText = files.map((f) => js.file(f)).join("") + js.end(stats);
    const doc = JSON.parse(jsonText);
    expect(doc.files.map((f: { status: string }) => f.status)).toEqual(["infected", "error"]);
    // streamed, yet laid out as JSON.stringify(doc, null, 2) would; the first result comes with the opening
    expect(jsonText).toBe(JSON.stringify(doc, null, 2) + "\n");
    expect(sarifText).toBe(JSON.stringify(sarif, null, 2) + "\n");
    expect(reportWriter("json", info).file(files[0]!)).toMatch(
      /^\{\n {2}"version": 1,[^]*\n {2}"files": \[\n {4}\{\n {6}"path": /,
    );
    expect(reportWriter("sarif", info).file(files[0]!)).toMatch(
      /^\{\n[^]*\n {6}"results": \[\n {8}\{\n {10}"ruleId": "Win\.Test\.EICAR_HDB-1"/,
    );
    for (const format of ["json", "sarif"] as const) {
      const empty = reportWriter(format, info).end(new ScanStats());
      expect(empty).toBe(JSON.stringify(JSON.parse(empty), null, 2) + "\n");
    }
    expect(JSON.parse(reportWriter("json", info).end(new ScanStats())).files).toEqual([]);
    expect(JSON.parse(reportWriter("sarif", info).end(new ScanStats())).runs[0].results).toEqual([]);
    const summary = summaryText(stats, { signatures: 4, engineVersion: "vigil 0.1.0" });
    expect(summary).toMatch(/Scanned files: 2\nInfected files: 1\nTotal errors: 1\n/);
    void readFileSync;
  });
});
