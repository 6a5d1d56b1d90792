import { describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildSignatures } from "../src/index.js";

describe("compiled signature cache", () => {
  it("loads an unchanged set from the cache, rebuilds when a source changes or the cache is damaged", () => {
    const d = mkdtempSync(join(tmpdir(), "vigil-sigcache-"));
    const cacheDir = join(d, "compiled");
    mkdirSync(join(d, "db"));
    writeFileSync(join(d, "db", "x.ndb"), `Test.One:0:*:${Buffer.from("needle-one").toString("hex")}\n`);
    writeFileSync(join(d, "r.yar"), 'rule R { strings: $a = "needle-two" condition: $a }');
    const opts = { databases: [join(d, "db")], rules: [join(d, "r.yar")], cacheDir };
    const names = (s: ReturnType<typeof buildSignatures>, text: string) => s.detector.scan(Buffer.from(text), { path: "t", size: text.length }).map((m) => String(m.meta?.clamav_name ?? m.rule)).sort();

    const first = buildSignatures(opts);
    expect(readdirSync(cacheDir).filter((n) => n.endsWith(".bin"))).toHaveLength(1);
    const second = buildSignatures(opts);
    expect(second.detector.version).toBe(first.detector.version);
    expect(second.signatures).toBe(first.signatures);
    expect(names(second, "a needle-one b needle-two")).toEqual(["R", "Test.One.UNOFFICIAL"]);

    // a changed database: recompiled, new version, new behaviour
    writeFileSync(join(d, "db", "x.ndb"), `Test.Other:0:*:${Buffer.from("needle-three").toString("hex")}\n`);
    const third = buildSignatures(opts);
    expect(third.detector.version).not.toBe(first.detector.version);
    expect(names(third, "needle-one needle-three")).toEqual(["Test.Other.UNOFFICIAL"]);

    // a damaged cache file is ignored
    for (const n of readdirSync(cacheDir)) writeFileSync(join(cacheDir, n), "garbage");
    expect(names(buildSignatures(opts), "needle-three")).toEqual(["Test.Other.UNOFFICIAL"]);
  });
});
