/**
 * The daemon's clamd-format log and the clamd.conf settings that act while it runs: SelfCheck
 * (a changed database is reloaded, with clamd's lines), ExcludePath in directory scans,
 * LogFileMaxSize rotation, LogTime's format, ExtendedDetectionInfo for streams and files.
 */
import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { scratchDir, chunked } from "@vigil/test-kit";
import { ClamdLog, ctime } from "@vigil/daemon";
import { startDaemon, talk } from "./helpers.js";

const hex = (s: string) => Buffer.from(s).toString("hex");
const until = async (f: () => boolean, ms = 30_000) => {
  const end = Date.now() + ms;
  while (!f() && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  return f();
};

describe("clamd log and runtime settings", () => {
  it("ctime is C's: day padded with a space, 24-hour time, year last", () => {
    expect(ctime(new Date(2026, 11, 7, 9, 3, 1))).toBe("Mon Dec  7 09:03:01 2026");
    expect(ctime(new Date(2027, 0, 17, 23, 59, 59))).toBe("Sun Jan 17 23:59:59 2027");
  });

  it("logs start-up, detections with md5:size, LogClean lines; SelfCheck reloads a changed database; ExcludePath skips", async () => {
    const dir = scratchDir();
    const db = join(dir.dir, "db");
    dir.file("db/a.ndb", `Log.Body-1:0:*:${hex("LOG-MARKER-ONE")}\n`);
    const f1 = dir.file("tree/one.txt", "x LOG-MARKER-ONE x\n");
    dir.file("tree/skip/hidden.txt", "x LOG-MARKER-ONE x\n");
    const clean = dir.file("tree/clean.txt", "clean\n");
    const logFile = join(dir.dir, "clamd.log");
    const log = new ClamdLog({ file: logFile, time: true, clean: true, extended: true, maxSize: 0 });
    const d = await startDaemon({
      signatures: { builtin: false, databases: [db] },
      log,
      selfCheck: 1,
      walk: { excludeRegex: ["/skip/"] },
      jobs: 0,
    });
    try {
      const text = () => readFileSync(logFile, "utf8");
      expect(text()).toMatch(/^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} -> \+\+\+ Started at /);
      expect(text()).toContain(`-> Reading databases from ${db}\n`);
      expect(text()).toContain("-> Loaded 1 signatures.\n");
      expect(text()).toContain("-> Self checking every 1 seconds.\n");

      const r = await talk(d.port, [`zCONTSCAN ${join(dir.dir, "tree")}\0`]);
      expect(r.text).toBe(`${f1}: Log.Body-1.UNOFFICIAL FOUND\0`);
      const md5 = createHash("md5").update(readFileSync(f1)).digest("hex");
      expect(text()).toContain(`-> ${f1}: Log.Body-1.UNOFFICIAL(${md5}:19) FOUND\n`);
      expect(text()).toContain(`-> ${clean}: OK\n`);
      expect(text()).not.toContain("hidden.txt");

      const s = await talk(d.port, ["zINSTREAM\0", chunked("LOG-MARKER-ONE")]);
      expect(s.text).toBe("stream: Log.Body-1.UNOFFICIAL FOUND\0");
      const smd5 = createHash("md5").update("LOG-MARKER-ONE").digest("hex");
      expect(text()).toMatch(
        new RegExp(`-> instream\\(127\\.0\\.0\\.1@\\d+\\): Log\\.Body-1\\.UNOFFICIAL\\(${smd5}:14\\) FOUND\n`),
      );

      // the database changes: SelfCheck notices and reloads within a couple of seconds
      writeFileSync(join(db, "b.ndb"), `Log.Body-2:0:*:${hex("LOG-MARKER-TWO")}\n`);
      expect(await until(() => text().includes("Database correctly reloaded (2 signatures)"))).toBe(true);
      expect(text()).toContain("SelfCheck: Database modification detected. Forcing reload.\n");
      expect(text()).toContain("Activating the newly loaded database...\n");
      expect((await talk(d.port, ["zINSTREAM\0", chunked("LOG-MARKER-TWO")])).text).toBe(
        "stream: Log.Body-2.UNOFFICIAL FOUND\0",
      );
      expect(await until(() => text().includes("SelfCheck: Database status OK."))).toBe(true);
    } finally {
      await d.stop();
    }
    expect(readFileSync(logFile, "utf8")).toMatch(/--- Stopped at .*\n.*Socket file removed\.\n$/);
    dir.cleanup();
  }, 60_000);

  it("past LogFileMaxSize the log is renamed NAME-YYYYMMDD_HHMMSS.log and a new one started", () => {
    const dir = scratchDir();
    const file = join(dir.dir, "clamav.log");
    const log = new ClamdLog({ file, maxSize: 200, rotate: true });
    for (let i = 0; i < 10; i++) log.info(`line ${i} ${"x".repeat(40)}`);
    log.close();
    const rotated = readdirSync(dir.dir).filter((n) => /^clamav-\d{8}_\d{6}(\.\d+)?\.log$/.test(n));
    expect(rotated.length).toBeGreaterThanOrEqual(1);
    expect(existsSync(file)).toBe(true);
    const all = [file, ...rotated.map((n) => join(dir.dir, n))].map((p) => readFileSync(p, "utf8")).join("");
    for (let i = 0; i < 10; i++) expect(all).toContain(`line ${i} `);
    dir.cleanup();
  });
});
