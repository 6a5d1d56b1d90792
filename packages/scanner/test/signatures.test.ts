import { describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildSignedCvd, generateContainerKeys, trustedKeysOf, trustedKeysText } from "@vigil/clamav";
import { buildSignatures } from "../src/index.js";

describe("compiled signature cache", () => {
  it("loads an unchanged set from the cache, rebuilds when a source changes or the cache is damaged", () => {
    const d = mkdtempSync(join(tmpdir(), "vigil-sigcache-"));
    const cacheDir = join(d, "compiled");
    mkdirSync(join(d, "db"));
    writeFileSync(join(d, "db", "x.ndb"), `Test.One:0:*:${Buffer.from("needle-one").toString("hex")}\n`);
    writeFileSync(join(d, "r.yar"), 'rule R { strings: $a = "needle-two" condition: $a }');
    const opts = { databases: [join(d, "db")], rules: [join(d, "r.yar")], cacheDir };
    const names = (s: ReturnType<typeof buildSignatures>, text: string) =>
      s.detector
        .scan(Buffer.from(text), { path: "t", size: text.length })
        .map((m) => String(m.meta?.clamav_name ?? m.rule))
        .sort();

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

describe("a .cvd signed with a key of one's own (clamavTrustKeys)", () => {
  it("loads with the key file, is refused without it even when the set with it is cached, and a bad key file is RULES_FAILED", () => {
    const d = mkdtempSync(join(tmpdir(), "vigil-sigkeys-"));
    const keys = generateContainerKeys();
    const keyFile = join(d, "keys.json");
    writeFileSync(keyFile, trustedKeysText(trustedKeysOf(keys)));
    mkdirSync(join(d, "db"));
    const ndb = {
      name: "daily.ndb",
      bytes: Buffer.from(`Test.Signed-1:0:*:${Buffer.from("signed-needle").toString("hex")}\n`),
    };
    const fields = { name: "daily", version: 3, signatures: 1, flevel: 90, stime: Math.floor(Date.now() / 1000) };
    writeFileSync(join(d, "db", "daily.cvd"), buildSignedCvd([ndb], fields, keys));
    const cacheDir = join(d, "compiled");
    const found = (s: ReturnType<typeof buildSignatures>) =>
      s.detector
        .scan(Buffer.from("x signed-needle y"), { path: "t", size: 17 })
        .map((m) => String(m.meta?.clamav_name));
    const trusted = buildSignatures({
      builtin: false,
      databases: [join(d, "db")],
      clamavTrustKeys: [keyFile],
      cacheDir,
    });
    expect(trusted.signatures).toBe(1);
    expect(found(trusted)).toEqual(["Test.Signed-1"]);
    // the cached set was verified with the key: without it, the container is checked again and refused
    const without = buildSignatures({ builtin: false, databases: [join(d, "db")], cacheDir });
    expect(without.signatures).toBe(0);
    expect(without.warnings.map((w) => w.code)).toContain("SIGDB_REFUSED");
    writeFileSync(keyFile, "{}");
    expect(() => buildSignatures({ builtin: false, databases: [join(d, "db")], clamavTrustKeys: [keyFile] })).toThrow(
      /CVD_BAD_KEY_FILE|trusted-keys/,
    );
  });
});

describe("one ClamAV signature never refuses a database", () => {
  it("drops a translated signature the engine refuses with a warning naming file and line; the others load and are counted", () => {
    const d = mkdtempSync(join(tmpdir(), "vigil-sigdrop-"));
    const hex = (s: string) => Buffer.from(s).toString("hex");
    const ldb = join(d, "feed.ldb");
    writeFileSync(
      ldb,
      [
        `Good.First-1;Engine:81-255,Target:0;0;${hex("needle-one")}`,
        `Bad.Repeat-1;Engine:81-255,Target:0;0&1;${hex("ABCD")};0/a{3,2}/`,
        `Good.Unread-1;Engine:51-255,Target:0;0&2;${hex("needle-two")};${hex("never-read")};${hex("needle-three")}`,
        `Bad.Range-1;Engine:81-255,Target:0;0&1;${hex("ABCD")};0/[z-a]/`,
        `Bad.Syntax-1;Engine:51-255,Target:0;0;41zz`,
      ].join("\n") + "\n",
    );
    const pdb = join(d, "x.pdb");
    writeFileSync(pdb, "H:example.com\n");
    const s = buildSignatures({ builtin: false, databases: [ldb, pdb] });
    const names = (text: string) =>
      s.detector
        .scan(Buffer.from(text), { path: "t", size: text.length })
        .map((m) => String(m.meta?.clamav_name))
        .sort();
    expect(names("needle-one needle-two needle-three")).toEqual([
      "Good.First-1.UNOFFICIAL",
      "Good.Unread-1.UNOFFICIAL",
    ]);
    const byCode = (c: string) => s.warnings.filter((w) => w.code === c).map((w) => [w.signature, w.line]);
    expect(byCode("SIGDB_UNSUPPORTED")).toEqual([
      ["Bad.Repeat-1.UNOFFICIAL", 2],
      ["Bad.Range-1.UNOFFICIAL", 4],
    ]);
    expect(s.warnings.find((w) => w.signature === "Bad.Repeat-1.UNOFFICIAL")!.message).toContain(`${ldb}:2:`);
    expect(byCode("SIGDB_MALFORMED_LINE")).toEqual([["Bad.Syntax-1", 5]]);
    // two rules and the .pdb entry, which is loaded and counted (as clamscan) and applied to mail links
    expect(s.signatures).toBe(3);
    expect(() => buildSignatures({ builtin: false, databases: [ldb], lenient: false })).toThrow(/line 5|:5:/);
  });
});
