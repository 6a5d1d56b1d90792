import { readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  generateKey,
  openNote,
  readEntries,
  TileReader,
  verifyInclusion,
  leafHash,
  parseCheckpoint,
} from "@vigil/tlog";
import {
  DiskLog,
  type UpdateError,
  buildBundle,
  compileBundleRules,
  encodeManifest,
  manifestOf,
  openBundle,
  openManifest,
  parseManifest,
  publish,
  readRulesDir,
  readTar,
  writeTar,
  openSource,
  LIMITS,
} from "@vigil/updates";
import { HONEST_RULES, tempDir, writeRules } from "./helpers.js";

const files = [
  {
    path: "a.yar",
    data: new Uint8Array(Buffer.from('rule A { strings: $a = "malware marker alpha" condition: $a }\n')),
  },
  {
    path: "dir/b.yar",
    data: new Uint8Array(Buffer.from('rule B { strings: $b = "malware marker beta" condition: $b }\n')),
  },
];
const key = generateKey("pub.example");
const time = new Date("2026-01-02T03:04:05Z");

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return (e as UpdateError).code;
  }
  return undefined;
}

describe("bundles", () => {
  it("are deterministic: same inputs, same bytes", () => {
    const a = buildBundle(files, { name: "rules", version: 3, previous: "", time }, key.signerKey);
    const b = buildBundle(files, { name: "rules", version: 3, previous: "", time }, key.signerKey);
    expect(Buffer.compare(a.archive, b.archive)).toBe(0);
    expect(a.signedManifest).toBe(b.signedManifest);
    expect(a.manifest.time).toBe("2026-01-02T03:04:05Z");
    expect(a.manifest.files.map((f) => f.path)).toEqual(["a.yar", "dir/b.yar"]);
    expect(Buffer.byteLength(a.signedManifest)).toBeLessThan(65536);
  });

  it("round-trip through the archive and verify against the signed manifest", () => {
    const b = buildBundle(files, { name: "rules", version: 1, previous: "", time }, key.signerKey);
    const opened = openBundle(b.archive, b.signedManifest);
    expect(opened.files.map((f) => Buffer.from(f.data).toString())).toEqual(
      files.map((f) => Buffer.from(f.data).toString()),
    );
    expect(openManifest(b.signedManifest, [key.verifierKey]).manifest).toEqual(b.manifest);
    expect(code(() => openManifest(b.signedManifest, [generateKey("pub.example").verifierKey]))).toBe(
      "BAD_PUBLISHER_SIGNATURE",
    );
    // another bundle's manifest does not open this archive
    const other = buildBundle(files, { name: "rules", version: 2, previous: "", time }, key.signerKey);
    expect(code(() => openBundle(b.archive, other.signedManifest))).toBe("FILE_MISMATCH");
    // a changed byte in a file
    const t = Buffer.from(b.archive);
    t[t.indexOf("alpha")] ^= 1;
    expect(code(() => openBundle(t, b.signedManifest))).toBe("FILE_MISMATCH");
    // an extra file
    const entries = readTar(b.archive);
    const extra = writeTar([...entries, { name: "rules/zzz.yar", data: new Uint8Array(3) }]);
    expect(code(() => openBundle(extra, b.signedManifest))).toBe("FILE_MISMATCH");
  });

  it("parses manifests strictly", () => {
    const b = buildBundle(files, { name: "rules", version: 1, previous: "", time }, key.signerKey);
    const text = encodeManifest(b.manifest);
    expect(parseManifest(text)).toEqual(b.manifest);
    expect(manifestOf(b.signedManifest)).toEqual(b.manifest);
    expect(code(() => parseManifest(text.replace('"version":1', '"version": 1')))).toBe("BAD_BUNDLE");
    expect(code(() => parseManifest(text.replace('"version":1', '"version":0')))).toBe("BAD_BUNDLE");
    expect(code(() => parseManifest(text.replace("a.yar", "../a.yar")))).toBe("BAD_BUNDLE");
    expect(code(() => parseManifest(text.replace("a.yar", "/a.yar")))).toBe("BAD_BUNDLE");
    expect(code(() => parseManifest("{"))).toBe("BAD_BUNDLE");
    expect(code(() => parseManifest("[]\n"))).toBe("BAD_BUNDLE");
    expect(code(() => encodeManifest({ ...b.manifest, files: [...b.manifest.files].reverse() }))).toBe("BAD_BUNDLE");
  });

  it("reads tar archives strictly", () => {
    const b = buildBundle(files, { name: "rules", version: 1, previous: "", time }, key.signerKey);
    expect(code(() => readTar(b.archive.subarray(0, 700)))).toBe("BAD_BUNDLE");
    expect(code(() => readTar(b.archive.subarray(0, 512)))).toBe("BAD_BUNDLE");
    const badSum = Buffer.from(b.archive);
    badSum[0] ^= 1;
    expect(code(() => readTar(badSum))).toBe("BAD_BUNDLE");
    expect(code(() => readTar(new Uint8Array(10)))).toBe("BAD_BUNDLE");
    expect(code(() => readTar(b.archive, { maxTotal: 10 }))).toBe("TOO_LARGE");
    expect(code(() => readTar(b.archive, { maxFiles: 1 }))).toBe("TOO_LARGE");
    expect(readTar(writeTar([])).length).toBe(0);
  });

  it("compiles rules with the engine and refuses those that do not compile", () => {
    expect(compileBundleRules(files).ruleCount).toBe(2);
    const broken = [{ path: "x.yar", data: new Uint8Array(Buffer.from("rule X { condition: $missing }\n")) }];
    expect(code(() => compileBundleRules(broken))).toBe("COMPILE_FAILED");
    const inc = [
      { path: "main.yar", data: new Uint8Array(Buffer.from('include "inc/common.yar"\nrule M { condition: C }\n')) },
      { path: "inc/common.yar", data: new Uint8Array(Buffer.from("rule C { condition: true }\n")) },
    ];
    expect(compileBundleRules(inc).ruleCount).toBeGreaterThanOrEqual(2);
    const escape = [
      { path: "main.yar", data: new Uint8Array(Buffer.from('include "/etc/passwd"\nrule M { condition: true }\n')) },
    ];
    expect(code(() => compileBundleRules(escape))).toBe("COMPILE_FAILED");
  });

  it("reads a rules directory in path order and refuses symlinks", async () => {
    const dir = await tempDir();
    await writeRules(dir, {
      "z.yar": "rule Z { condition: false }\n",
      "a/b.yara": "rule B { condition: false }\n",
      "notes.txt": "ignored",
    });
    expect((await readRulesDir(dir)).map((f) => f.path)).toEqual(["a/b.yara", "z.yar"]);
    await symlink("/etc/hostname", join(dir, "link.yar"));
    await expect(readRulesDir(dir)).rejects.toThrow(/symbolic links/);
    const empty = await tempDir();
    await expect(readRulesDir(empty)).rejects.toThrow(/no rule files/);
  });
});

describe("the log on disk", () => {
  it("writes tiles and checkpoints any reader can verify, and reopens them", async () => {
    const root = await tempDir();
    const logDir = join(root, "log"),
      rulesDir = join(root, "rules");
    await writeRules(rulesDir, HONEST_RULES);
    const logKey = generateKey("log.example");
    for (let i = 0; i < 3; i++)
      await publish({ rulesDir, logDir, publisherKey: key.signerKey, logKey: logKey.signerKey, time });
    const log = await DiskLog.open(logDir, logKey.signerKey);
    expect(log.size).toBe(3);
    const cp = parseCheckpoint(openNote(await readFile(join(logDir, "checkpoint"), "utf8"), [logKey.verifierKey]).text);
    expect(cp.size).toBe(3n);
    const src = openSource(logDir);
    const fetch = (p: string) => src.get(p, LIMITS.entryBundle);
    const entries = await readEntries(fetch, cp.size, 0n, cp.size);
    const versions = entries.map((e) => manifestOf(Buffer.from(e).toString()).version);
    expect(versions).toEqual([1, 2, 3]);
    const reader = new TileReader(fetch, cp.size);
    expect(await reader.root()).toEqual(cp.rootHash);
    expect(verifyInclusion(1n, 3n, leafHash(entries[1]!), await reader.inclusionProof(1n), cp.rootHash)).toBe(true);
    // the previous-manifest chain
    const m = entries.map((e) => manifestOf(Buffer.from(e).toString()));
    expect(m[2]!.previous).toBe((await import("@vigil/updates")).sha256Hex(entries[1]!));
  });

  it("detects a damaged log and a wrong key", async () => {
    const root = await tempDir();
    const logDir = join(root, "log"),
      rulesDir = join(root, "rules");
    await writeRules(rulesDir, HONEST_RULES);
    const logKey = generateKey("log.example");
    await publish({ rulesDir, logDir, publisherKey: key.signerKey, logKey: logKey.signerKey, time });
    await expect(DiskLog.open(logDir, generateKey("log.example").signerKey)).rejects.toMatchObject({
      code: "LOG_CORRUPT",
    });
    const bundlePath = join(logDir, "tile", "entries", "000.p", "1");
    const data = Buffer.from(await readFile(bundlePath));
    data[data.length - 5] ^= 1;
    await writeFile(bundlePath, data);
    await expect(DiskLog.open(logDir, logKey.signerKey)).rejects.toMatchObject({ code: "LOG_CORRUPT" });
  });

  it("appends across entry-bundle boundaries, reopens from hash tiles and reads entries on demand", async () => {
    const root = await tempDir();
    const logDir = join(root, "log");
    const logKey = generateKey("log.example");
    const all: Uint8Array[] = [];
    let log = await DiskLog.open(logDir, logKey.signerKey);
    for (const n of [1, 254, 2, 43, 256, 1]) {
      const batch = Array.from({ length: n }, (_, i) => new Uint8Array(Buffer.from(`entry ${all.length + i}`)));
      all.push(...batch);
      await log.append(batch, logKey.signerKey);
      log = await DiskLog.open(logDir, logKey.signerKey); // reopen after every batch
    }
    expect(log.size).toBe(557);
    for (const i of [0, 1, 255, 256, 299, 300, 511, 512, 556])
      expect(Buffer.from(await log.entry(i)).toString()).toBe(`entry ${i}`);
    const src = openSource(logDir);
    const got = await readEntries((p) => src.get(p, LIMITS.entryBundle), 557n, 0n, 557n);
    expect(got.map((e) => Buffer.from(e).toString())).toEqual(all.map((e) => Buffer.from(e).toString()));
    // a damaged full bundle is found when read (the hash tiles still match the checkpoint)
    const full = join(logDir, "tile", "entries", "000");
    const data = Buffer.from(await readFile(full));
    data[5] ^= 1; // inside entry 0
    await writeFile(full, data);
    const again = await DiskLog.open(logDir, logKey.signerKey);
    await expect(again.entry(0)).rejects.toMatchObject({ code: "LOG_CORRUPT" });
    expect(Buffer.from(await again.entry(3)).toString()).toBe("entry 3");
    expect(Buffer.from(await again.entry(556)).toString()).toBe("entry 556");
  });

  it("refuses to publish rules that do not compile, leaving the log unchanged", async () => {
    const root = await tempDir();
    const logDir = join(root, "log"),
      rulesDir = join(root, "rules");
    await writeRules(rulesDir, HONEST_RULES);
    await publish({ rulesDir, logDir, publisherKey: key.signerKey, time });
    await writeRules(rulesDir, { "bad.yar": 'rule Bad { strings: $a = "x" condition: $b }\n' });
    await expect(publish({ rulesDir, logDir, publisherKey: key.signerKey, time })).rejects.toMatchObject({
      code: "COMPILE_FAILED",
    });
    expect((await DiskLog.open(logDir, key.signerKey)).size).toBe(1);
  });
});
