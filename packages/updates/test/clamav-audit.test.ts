/**
 * ClamAV databases in the transparency log: a bundle of ClamAV databases (ClamAV's own signed
 * test-6.cvd and a local .ndb) is published, audited and cosigned by two witnesses over HTTP and
 * applied by the endpoint like Vigil's rules; an update whose signatures hunt a classification
 * marking (a body signature, a wide nocase logical subsignature, or the same inside a .cvd) is
 * refused by the witnesses and never applied. The auditor reads ClamAV's body and logical
 * signatures decoded to bytes (src/audit/clamav.ts).
 */
import { existsSync } from "node:fs";
import { copyFile, mkdir, readFile, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { corpus, needs } from "@vigil/test-kit";
import {
  auditBundleFile,
  clamavAuditSource,
  containerFiles,
  literalRuns,
  loadState,
  mirrorClamavToLog,
  publish,
  update,
  type Server,
} from "./exports.js";
import { closeServer, makeKeys, policyFor, serveDir, startWitness, tempDir } from "./helpers.js";

const hex = (s: string, enc: BufferEncoding = "latin1") => Buffer.from(s, enc).toString("hex");

/** A minimal ustar archive of `files` (the layout sigtool writes, without the end blocks). */
function tar(files: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, text] of Object.entries(files)) {
    const data = Buffer.from(text);
    const h = Buffer.alloc(512);
    h.write(name, 0, "latin1");
    h.write("0000644\0", 100);
    h.write("0000000\0", 108);
    h.write("0000000\0", 116);
    h.write(`${data.length.toString(8).padStart(11, "0")}\0`, 124);
    h.write("00000000000\0", 136);
    h.write("        ", 148);
    h[156] = 0x30;
    h.write("ustar\0" + "00", 257, "latin1");
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
    parts.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  return Buffer.concat(parts);
}

/** A .cvd-shaped container (header not signed: the auditor reads, it does not verify). */
function cvd(files: Record<string, string>): Buffer {
  const header = Buffer.alloc(512, " ");
  header.write("ClamAV-VDB:07 Dec 2026 12-00 +0000:2:1:90:x:x:test:0");
  return Buffer.concat([header, gzipSync(tar(files))]);
}

const HUNTING_NDB = `Clean.Body-1:0:*:${hex("an ordinary malware marker")}\nDoc.Hunter-1:0:*:0a${hex("TOP SECRET")}??00\n`;
const HUNTING_LDB = `Doc.Hunter.Wide-1;Engine:51-255,Target:0;0;${hex("top secret")}::wi\n`;

describe("the auditor on ClamAV signatures decoded to bytes", () => {
  it("literal runs: wildcards, jumps, alternatives and anchors end a run; jump digits are not bytes", () => {
    const runs = literalRuns("4142434445??464748{10-20}494a4b4c*(4d4e4f|505152)5354{5}5556575859");
    expect(runs.map((r) => Buffer.from(r).toString("latin1"))).toEqual(["ABCDE", "FGH", "IJKL", "MNO", "PQR", "UVWXY"]);
  });

  it("a body signature, a wide nocase logical subsignature and a UTF-16 one hunting TOP SECRET are findings on their lines", () => {
    const ndb = auditBundleFile("daily.ndb", Buffer.from(HUNTING_NDB));
    expect(ndb.map((f) => [f.file, f.line, f.rule, f.code])).toEqual([
      ["daily.ndb", 2, "L2_Doc_Hunter_1", "classification-marking"],
    ]);
    expect(ndb[0]!.reason).toMatch(/"TOP SECRET"/);
    const ldb = auditBundleFile("daily.ldb", Buffer.from(HUNTING_LDB));
    expect(ldb.map((f) => [f.line, f.rule, f.severity])).toEqual([[1, "L1_Doc_Hunter_Wide_1", "high"]]);
    const utf16 = auditBundleFile("x.ndb", Buffer.from(`U16-1:0:*:${hex("TOP SECRET", "utf16le")}\n`));
    expect(utf16.map((f) => f.evidence)).toEqual([expect.stringMatching(/utf-16le/)]);
    // and an honest database says nothing
    expect(auditBundleFile("ok.ndb", Buffer.from(`Ok-1:0:*:${hex("MZ....PE")}\n`))).toEqual([]);
  });

  it("inside a .cvd: the finding names the container, the file and the line", () => {
    const findings = auditBundleFile("daily.cvd", cvd({ "daily.ndb": HUNTING_NDB, "daily.info": "x\n" }));
    expect(findings.map((f) => `${f.file}:${f.line}`)).toEqual(["daily.cvd!daily.ndb:2"]);
    const broken = auditBundleFile("bad.cvd", Buffer.from("ClamAV-VDB: not really"));
    expect(broken.map((f) => [f.code, f.severity])).toEqual([["unparseable", "high"]]);
  });

  it("generated sources never fail to parse, whatever the signature lines hold", () => {
    const junk = [
      ":::::",
      "a;b;c;;;;",
      "x:0:*:{{{{",
      "y:0:*:((((|",
      'z:0:*:22"5c"',
      "n;t;0;/pcre(/i",
      `w;t;0;${"4".repeat(5001)}`,
    ];
    for (const name of ["j.ndb", "j.ldb", "j.ftm"]) {
      const src = clamavAuditSource(name, junk.join("\n"));
      expect(src).toBeDefined();
      expect(auditBundleFile(name, Buffer.from(junk.join("\n"))).filter((f) => f.code === "unparseable")).toEqual([]);
    }
  });

  const REAL = "ClamAV's signed test databases (test-1/3/6.cvd)";
  describe.skipIf(needs(REAL, { corpora: ["clamav/freshclam"] }))(REAL, () => {
    it("read and audited clean", async () => {
      for (const n of [1, 3, 6]) {
        const d = await readFile(join(corpus("clamav/freshclam"), `test-${n}.cvd`));
        expect(containerFiles(d).map((f) => f.name)).toContain("test.ndb");
        expect(auditBundleFile(`test-${n}.cvd`, d)).toEqual([]);
      }
    });
  });
});

const servers: Server[] = [];
afterAll(async () => {
  for (const s of servers) await closeServer(s);
});

const E2E = "ClamAV databases through the log, the witnesses and the endpoint";
describe.skipIf(needs(E2E, { corpora: ["clamav/freshclam"] }))(E2E, () => {
  it("an honest ClamAV bundle is cosigned and applied; one hunting TOP SECRET is refused by both witnesses and not applied", async () => {
    const keys = makeKeys();
    const root = await tempDir();
    const logDir = join(root, "log");
    const dbDir = join(root, "clamav");
    const stateDir = join(root, "endpoint");
    const http = await serveDir(logDir);
    servers.push(http.server);
    const w1 = await startWitness(
      keys.w1.signerKey,
      join(root, "w1"),
      "rules.example/log",
      keys.log.verifierKey,
      http.url,
    );
    const w2 = await startWitness(
      keys.w2.signerKey,
      join(root, "w2"),
      "rules.example/log",
      keys.log.verifierKey,
      http.url,
    );
    servers.push(w1.server, w2.server);
    const policy = policyFor(keys);
    const pub = async (files: Record<string, Uint8Array | string>) => {
      await rm(dbDir, { recursive: true, force: true });
      await mkdir(dbDir, { recursive: true });
      for (const [n, d] of Object.entries(files)) await writeFile(join(dbDir, n), d);
      return publish({
        rulesDir: dbDir,
        logDir,
        publisherKey: keys.publisher.signerKey,
        logKey: keys.log.signerKey,
        witnesses: [w1.url, w2.url],
      });
    };
    const test6 = await readFile(join(corpus("clamav/freshclam"), "test-6.cvd"));
    const honest = await pub({
      "test.cvd": test6,
      "local.ndb": `Local.Marker-1:0:*:${hex("an ordinary malware marker")}\n`,
    });
    expect(honest.cosignedBy.length).toBe(2);
    expect(await update({ source: http.url, stateDir, policy })).toMatchObject({ status: "applied", version: 1 });
    expect(await readFile(join(stateDir, "current", "test.cvd"))).toEqual(test6);

    // a daily update adding a document hunter, as a plain .ndb and inside a .cvd
    const bad = await pub({
      "test.cvd": test6,
      "local.ndb": HUNTING_NDB,
      "daily.cvd": cvd({ "daily.ldb": HUNTING_LDB }),
    });
    expect(bad.cosignedBy).toEqual([]);
    expect(bad.refusedBy.length).toBe(2);
    for (const r of bad.refusedBy) {
      expect(r.reason).toMatch(/local\.ndb:2: high: rule L2_Doc_Hunter_1: .*"TOP SECRET"/);
      expect(r.reason).toMatch(/daily\.cvd!daily\.ldb:1: high: rule L1_Doc_Hunter_Wide_1/);
    }
    await expect(update({ source: http.url, stateDir, policy })).rejects.toMatchObject({ code: "NO_QUORUM" });
    expect((await loadState(stateDir)).current!.version).toBe(1);
    expect(existsSync(join(stateDir, "current", "daily.cvd"))).toBe(false);
    expect(await readFile(join(stateDir, "current", "local.ndb"), "utf8")).not.toMatch(/Doc\.Hunter/);
  }, 120_000);
});

const MIRROR = "vigil's ClamAV mirror into the log (mirrorClamavToLog)";
describe.skipIf(needs(MIRROR, { corpora: ["clamav/freshclam"] }))(MIRROR, () => {
  it("publishes what the mirror gives, verified, for the witnesses to cosign; nothing new, nothing published", async () => {
    const keys = makeKeys();
    const root = await tempDir();
    const logDir = join(root, "log");
    const www = join(root, "www");
    const db = join(root, "db");
    const stateDir = join(root, "endpoint");
    await mkdir(www, { recursive: true });
    const cvdAt = async (n: number) => {
      await copyFile(join(corpus("clamav/freshclam"), `test-${n}.cvd`), join(www, "test.cvd"));
      const t = new Date("2021-06-01T00:00:00Z");
      await utimes(join(www, "test.cvd"), t, t);
    };
    await cvdAt(1);
    const http = await serveDir(logDir);
    servers.push(http.server);
    const w1 = await startWitness(
      keys.w1.signerKey,
      join(root, "w1"),
      "rules.example/log",
      keys.log.verifierKey,
      http.url,
    );
    const w2 = await startWitness(
      keys.w2.signerKey,
      join(root, "w2"),
      "rules.example/log",
      keys.log.verifierKey,
      http.url,
    );
    servers.push(w1.server, w2.server);
    const run = () =>
      mirrorClamavToLog({
        mirror: www,
        databaseDir: db,
        databases: ["test"],
        logDir,
        publisherKey: keys.publisher.signerKey,
        logKey: keys.log.signerKey,
        witnesses: [w1.url, w2.url],
      });
    const first = await run();
    expect(first.mirror.databases[0]).toMatchObject({ name: "test", status: "updated", version: 1 });
    expect(first.published?.manifest).toMatchObject({ name: "clamav", version: 1 });
    expect(first.published?.manifest.files.map((f) => f.path)).toEqual(["test.cvd"]);
    expect(first.published?.cosignedBy.length).toBe(2);
    const policy = policyFor(keys, { bundle: "clamav" });
    expect(await update({ source: http.url, stateDir, policy })).toMatchObject({ status: "applied", version: 1 });

    const again = await run();
    expect(again.published).toBeUndefined();

    // the mirror moves to test-6 (.cdiff chain): verified, patched, published as version 2
    await cvdAt(6);
    for (const n of [2, 3, 4, 5, 6])
      await copyFile(join(corpus("clamav/freshclam"), `test-${n}.cdiff`), join(www, `test-${n}.cdiff`));
    const moved = await run();
    expect(moved.mirror.databases[0]).toMatchObject({ status: "updated", version: 6, via: "cdiff", patches: 5 });
    expect(moved.published?.manifest.version).toBe(2);
    expect(moved.published?.cosignedBy.length).toBe(2);
    expect(await update({ source: http.url, stateDir, policy })).toMatchObject({ status: "applied", version: 2 });
    // the endpoint has exactly the database the mirror run verified and installed
    const installed = (await readdir(db)).filter((f) => /\.(cvd|cld)$/.test(f));
    expect((await readdir(join(stateDir, "current"))).filter((f) => /\.(cvd|cld)$/.test(f))).toEqual(installed);
    for (const f of installed)
      expect(await readFile(join(stateDir, "current", f))).toEqual(await readFile(join(db, f)));
  }, 120_000);
});
