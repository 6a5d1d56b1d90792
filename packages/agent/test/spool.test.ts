/**
 * The event spool, the reputation cache and the small helpers: events survive a restart (a new
 * Spool on the same directory), come out oldest first, the bound drops scan summaries before
 * detections; a cached prefix is not asked again until its TTL; the scan schedule; file types.
 */
import { mkdtempSync, rmSync, writeFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import * as agent from "@vigil/agent";
import type * as protocol from "@vigil/protocol";

const { Spool, ReputationCache, nextScanAt, sniffType, prefixOf } = agent;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function fresh(): string {
  const d = mkdtempSync(join(tmpdir(), "vigil-spool-"));
  dirs.push(d);
  return d;
}

function det(n: number): protocol.Detection {
  return {
    id: `d${n}`,
    time: n,
    rule: "R",
    severity: "high",
    bundleVersion: null,
    sha256: "a".repeat(64),
    size: 1,
    fileType: "text",
    action: "reported",
  };
}
function scan(n: number): protocol.ScanSummary {
  return {
    id: `s${n}`,
    startedAt: n,
    finishedAt: n,
    kind: "scheduled",
    files: 1,
    bytes: 1,
    detections: 0,
    errors: 0,
    bundleVersion: null,
  };
}

describe("spool", () => {
  test("queued events survive a restart and come out oldest first with their ids", () => {
    const dir = fresh();
    const a = new Spool(dir);
    for (let i = 0; i < 5; i++) a.add("detection", det(i));
    a.add("scan", scan(1));
    const b = new Spool(dir); // a new process
    expect(b.count()).toEqual({ detection: 5, scan: 1, sample: 0, total: 6 });
    const t = b.take("detection", 3);
    expect(t.events.map((e) => e.id)).toEqual(["d0", "d1", "d2"]);
    b.remove(t.names);
    const c = new Spool(dir);
    expect(c.take("detection", 10).events.map((e) => e.id)).toEqual(["d3", "d4"]);
    expect(c.take("scan", 10).events.map((e) => e.id)).toEqual(["s1"]);
  });

  test("the bound drops the oldest scan summaries first, then the oldest detections", () => {
    const s = new Spool(fresh(), 4);
    s.add("scan", scan(1));
    s.add("detection", det(1));
    s.add("scan", scan(2));
    s.add("detection", det(2));
    expect(s.add("detection", det(3))).toBe(1);
    expect(s.take("scan", 10).events.map((e) => e.id)).toEqual(["s2"]);
    expect(s.add("detection", det(4))).toBe(1);
    expect(s.add("detection", det(5))).toBe(1);
    expect(s.count().total).toBe(4);
    expect(s.take("detection", 10).events.map((e) => e.id)).toEqual(["d2", "d3", "d4", "d5"]);
  });

  test("an unreadable spooled file is skipped and removed, not a crash", () => {
    const dir = fresh();
    const s = new Spool(dir);
    s.add("detection", det(1));
    const name = readdirSync(dir).find((n) => n.endsWith(".json"))!;
    writeFileSync(join(dir, name), "{not json");
    const s2 = new Spool(dir);
    expect(s2.take("detection", 10).events).toEqual([]);
    expect(s2.count().total).toBe(0);
  });

  test("samples are queued once per hash and bounded", () => {
    const s = new Spool(fresh(), 100, 2);
    expect(s.addSample("1".repeat(64), "elf", new Uint8Array([1]))).toBe(true);
    expect(s.addSample("1".repeat(64), "elf", new Uint8Array([1]))).toBe(false);
    expect(s.addSample("2".repeat(64), "pe", new Uint8Array([2]))).toBe(true);
    expect(s.addSample("3".repeat(64), "pe", new Uint8Array([3]))).toBe(false);
    expect(
      s
        .samples()
        .map((x) => x.type)
        .sort(),
    ).toEqual(["elf", "pe"]);
  });
});

describe("reputation cache", () => {
  test("a fresh prefix is answered from the cache, an expired one is not, and the cache persists", () => {
    const dir = fresh();
    let now = 1_000_000;
    const c = new ReputationCache(join(dir, "rep.json"), 60, () => now);
    const sha = "abcde" + "0".repeat(59);
    expect(prefixOf(sha)).toBe("abcde");
    c.put("abcde", [{ sha256: sha, verdict: "malicious", name: "X", prevalence: 2 }]);
    c.save();
    const c2 = new ReputationCache(join(dir, "rep.json"), 60, () => now);
    expect(c2.get("abcde")?.[0]?.name).toBe("X");
    now += 61_000;
    expect(c2.get("abcde")).toBeUndefined();
  });
});

describe("helpers", () => {
  test("scan schedule: first scan at once, then by interval or at the daily time", () => {
    const base = { paths: ["/x"], exclude: [] };
    const t0 = new Date(2026, 0, 10, 12, 0, 0).getTime();
    expect(nextScanAt({ ...base, everyMinutes: 30, dailyAt: null }, null, t0)).toBe(t0);
    expect(nextScanAt({ ...base, everyMinutes: 30, dailyAt: null }, t0, t0)).toBe(t0 + 30 * 60_000);
    expect(nextScanAt({ ...base, everyMinutes: null, dailyAt: "03:30" }, t0, t0)).toBe(
      new Date(2026, 0, 11, 3, 30).getTime(),
    );
    expect(nextScanAt({ ...base, everyMinutes: null, dailyAt: "13:00" }, t0, t0)).toBe(
      new Date(2026, 0, 10, 13, 0).getTime(),
    );
    expect(nextScanAt({ ...base, everyMinutes: null, dailyAt: null }, null, t0)).toBeNull();
    expect(nextScanAt({ paths: [], exclude: [], everyMinutes: 5, dailyAt: null }, null, t0)).toBeNull();
  });

  test("file types from magic bytes", () => {
    expect(sniffType(Buffer.from("MZ\x90\x00", "latin1"))).toBe("pe");
    expect(sniffType(Buffer.from("\x7fELF\x02\x01", "latin1"))).toBe("elf");
    expect(sniffType(Buffer.from([0xcf, 0xfa, 0xed, 0xfe, 0, 0, 0, 0]))).toBe("macho");
    expect(sniffType(Buffer.from([0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52]))).toBe("data"); // a Java class, not Mach-O
    expect(sniffType(Buffer.from("dex\n035\0", "latin1"))).toBe("dex");
    expect(sniffType(Buffer.from("#!/bin/sh\necho hi\n"))).toBe("script");
    expect(sniffType(Buffer.from("hello world\n"))).toBe("text");
    expect(sniffType(Buffer.from([0, 1, 2, 3, 4, 5, 6, 7]))).toBe("data");
    expect(sniffType(Buffer.alloc(0))).toBe("empty");
  });
});
