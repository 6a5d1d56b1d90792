/**
 * ClamAV's database containers against ClamAV's own signed test files (test-1..6.cvd, signed
 * with ClamAV's real database key, and test-2..6.cdiff) and against sigtool: every header,
 * signature and manifest check, the cdiff chain reproducing test-6 byte for byte, the .cld
 * freshclam would build, tampering refused with its code, and seeded mutations that never end
 * in anything but a ClamavError.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { corpus, needs } from "@vigil/test-kit";
import { ClamavError } from "../src/error.js";
import { applyCdiffScript, applyCdiffs, readCdiff } from "../src/containers/cdiff.js";
import { buildCld, gunzipMember, openContainer } from "../src/containers/cvd.js";
import {
  CLAMAV_KEYS,
  decodeDsig,
  encodeDsig,
  parseTrustedKeys,
  trustedKeysText,
  withClamavKeys,
} from "../src/containers/dsig.js";
import {
  buildSignedCdiff,
  buildSignedCvd,
  buildUnsignedCud,
  generateContainerKeys,
  trustedKeysOf,
} from "../src/containers/sign.js";
import { loadClamavDatabase } from "../src/database.js";
import { gzipSync } from "node:zlib";

const missingCorpus = needs("ClamAV's signed test databases", { corpora: ["clamav/freshclam"] });
const FRESHCLAM = missingCorpus ? undefined : corpus("clamav/freshclam");
const missingSigtool = needs("container comparisons with sigtool", { tools: ["sigtool"] });
const haveSigtool = !missingSigtool;

const file = (name: string) => readFileSync(join(FRESHCLAM!, name));
const codeOf = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    if (err instanceof ClamavError) return err.code;
    throw err;
  }
  return "no error";
};

describe.skipIf(!FRESHCLAM)("ClamAV's signed test databases", () => {
  it("test-1..6.cvd open with their header's version and signature count, all checks passing", () => {
    const counts = [];
    for (let v = 1; v <= 6; v++) {
      const db = openContainer(file(`test-${v}.cvd`), { path: `test-${v}.cvd` });
      expect(db.header.version).toBe(v);
      expect(db.header.flevel).toBe(81);
      expect(db.kind).toBe("cvd");
      expect(db.databases.every((f) => db.info.has(f.name))).toBe(true);
      counts.push(db.header.signatures);
    }
    expect(counts).toEqual([0, 0, 11, 12, 13, 14]);
  });

  it.skipIf(!haveSigtool)("the unpacked files are sigtool --unpack's, byte for byte", () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-cvd-"));
    try {
      const r = spawnSync("sigtool", [`--unpack=${join(FRESHCLAM!, "test-6.cvd")}`], { cwd: dir });
      expect(r.status).toBe(0);
      const db = openContainer(file("test-6.cvd"), { path: "test-6.cvd" });
      expect(db.files.map((f) => f.name).sort()).toEqual(readdirSync(dir).sort());
      for (const f of db.files) expect(Buffer.from(f.bytes).equals(readFileSync(join(dir, f.name)))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!haveSigtool)("header fields agree with sigtool -i", () => {
    for (let v = 1; v <= 6; v++) {
      const out = spawnSync("sigtool", ["-i", join(FRESHCLAM!, `test-${v}.cvd`)], { encoding: "utf8" }).stdout;
      const db = openContainer(file(`test-${v}.cvd`), { path: `test-${v}.cvd` });
      expect(out).toContain(`Version: ${db.header.version}\n`);
      expect(out).toContain(`Signatures: ${db.header.signatures}\n`);
      expect(out).toContain(`MD5: ${db.header.md5}\n`);
      expect(out).toContain("Verification OK");
    }
  });

  it("test-1.cvd + test-2..6.cdiff gives test-6's files byte for byte, and the .cld freshclam builds", () => {
    const one = openContainer(file("test-1.cvd"), { path: "test-1.cvd" });
    const chain = applyCdiffs(
      one.files,
      1,
      [2, 3, 4, 5, 6].map((v) => ({ path: `test-${v}.cdiff`, bytes: file(`test-${v}.cdiff`) })),
    );
    expect(chain.version).toBe(6);
    const six = openContainer(file("test-6.cvd"), { path: "test-6.cvd" });
    const want = new Map(six.files.map((f) => [f.name, Buffer.from(f.bytes)]));
    expect(chain.files.map((f) => f.name).sort()).toEqual([...want.keys()].sort());
    for (const f of chain.files) expect(Buffer.from(f.bytes).equals(want.get(f.name)!)).toBe(true);
    const cld = buildCld(chain.files, "test.cld");
    expect(cld.length).toBe(40960);
    expect(Buffer.from(cld.subarray(0, 512)).toString("latin1").trimEnd()).toBe(
      "ClamAV-VDB:22 Jun 2021 21-34 -0400:6:14:81:X:X:micasnyd:1624412045",
    );
    const reopened = openContainer(cld, { path: "test.cld" });
    expect(reopened.kind).toBe("cld");
    expect(reopened.header.signatures).toBe(14);
  });

  it("every .cdiff verifies; a patch out of order or a flipped byte is refused with its code", () => {
    for (let v = 2; v <= 6; v++)
      expect(readCdiff(file(`test-${v}.cdiff`), { path: `test-${v}.cdiff` }).version).toBe(v);
    const one = openContainer(file("test-1.cvd"), { path: "test-1.cvd" });
    expect(codeOf(() => applyCdiffs(one.files, 1, [{ path: "test-3.cdiff", bytes: file("test-3.cdiff") }]))).toBe(
      "CDIFF_APPLY_FAILED",
    );
    const bad = Buffer.from(file("test-2.cdiff"));
    bad[100]! ^= 1;
    expect(codeOf(() => readCdiff(bad, { path: "bad.cdiff" }))).toBe("CVD_BAD_SIGNATURE");
  });

  it("tampering is refused with the check that failed", () => {
    const good = file("test-6.cvd");
    const body = Buffer.from(good);
    body[600]! ^= 1;
    expect(codeOf(() => openContainer(body, { path: "x.cvd" }))).toBe("CVD_BAD_MD5");
    const header = Buffer.from(good);
    const text = header.subarray(0, 512).toString("latin1");
    const dsigAt = text.indexOf(":Dou6") + 1;
    header[dsigAt] = "E".charCodeAt(0);
    expect(codeOf(() => openContainer(header, { path: "x.cvd" }))).toBe("CVD_BAD_SIGNATURE");
    expect(codeOf(() => openContainer(good.subarray(0, 300), { path: "x.cvd" }))).toBe("CVD_BAD_HEADER");
    expect(codeOf(() => openContainer(good.subarray(0, 2000), { path: "x.cvd" }))).toBe("CVD_BAD_MD5");
    // the same truncation in a .cld (no MD5 check) is a damaged archive
    expect(codeOf(() => openContainer(good.subarray(0, 2000), { path: "x.cld" }))).toBe("CVD_BAD_ARCHIVE");
  });

  it("a .cld whose files differ from its signed .info is refused", () => {
    const one = openContainer(file("test-6.cvd"), { path: "test-6.cvd" });
    const files = one.files.map((f) =>
      f.name === "test.ndb"
        ? { name: f.name, bytes: Buffer.concat([f.bytes, Buffer.from("Extra.Sig:0:*:41414141\n")]) }
        : f,
    );
    expect(codeOf(() => openContainer(buildCld(files, "t.cld"), { path: "t.cld" }))).toBe("CVD_BAD_INFO");
    const info = one.files.map((f) =>
      f.name.endsWith(".info")
        ? {
            name: f.name,
            bytes: Buffer.from(
              Buffer.from(f.bytes).toString("latin1").replace("test.hdb:113", "test.hdb:114"),
              "latin1",
            ),
          }
        : f,
    );
    expect(codeOf(() => openContainer(buildCld(info, "t.cld"), { path: "t.cld" }))).toBe("CVD_BAD_SIGNATURE");
  });

  it("2,000 seeded mutations of a .cvd and a .cdiff end in a ClamavError or a verified open, never anything else", () => {
    let seed = 0x9e3779b9;
    const rand = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const cvd = file("test-6.cvd");
    const cdiff = file("test-6.cdiff");
    let refused = 0;
    const started = Date.now();
    for (let i = 0; i < 2000; i++) {
      const src = i % 2 ? cvd : cdiff;
      const m = Buffer.from(src);
      const kind = rand(3);
      let input: Buffer = m;
      if (kind === 0) for (let k = 0; k <= rand(4); k++) m[rand(m.length)] = rand(256);
      else if (kind === 1) input = m.subarray(0, rand(m.length));
      else
        input = Buffer.concat([
          m.subarray(0, rand(m.length)),
          Buffer.alloc(rand(64), rand(256)),
          m.subarray(rand(m.length)),
        ]);
      const path = i % 2 ? `m${i}.cld` : `m${i}.cdiff`;
      const code = codeOf(() => (i % 2 ? openContainer(input, { path }) : readCdiff(input, { path })));
      if (code !== "no error") refused++;
    }
    expect(refused).toBeGreaterThan(1500);
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});

describe("containers signed with keys of one's own", () => {
  const keys = generateContainerKeys();
  const trusted = trustedKeysOf(keys);
  const ndb = { name: "daily.ndb", bytes: Buffer.from("Test.Sig-1:0:*:414243444546\n") };
  const stime = Math.floor(Date.UTC(2026, 11, 1) / 1000);

  it("a .cvd signed with a test key opens when that key is trusted, and not with ClamAV's", () => {
    const cvd = buildSignedCvd([ndb], { name: "daily", version: 7, signatures: 1, flevel: 90, stime }, keys);
    const db = openContainer(cvd, { path: "daily.cvd", keys: trusted, now: new Date(Date.UTC(2026, 11, 3)) });
    expect(db.header.version).toBe(7);
    expect(db.databases.map((f) => f.name)).toEqual(["daily.ndb"]);
    expect(db.warnings).toEqual([]);
    expect(codeOf(() => openContainer(cvd, { path: "daily.cvd" }))).toBe("CVD_BAD_SIGNATURE");
  });

  it("a trusted-keys file round-trips, adds to ClamAV's keys, and a bad one is CVD_BAD_KEY_FILE", () => {
    const text = trustedKeysText(trusted);
    const back = parseTrustedKeys(text, "keys.json");
    expect(back.cvd[0]!.n).toBe(trusted.cvd[0]!.n);
    expect(back.info[0]!.e).toBe(trusted.info[0]!.e);
    expect(back.cdiff[0]!.n).toBe(trusted.cdiff[0]!.n);
    const both = withClamavKeys(back);
    expect(both.cvd).toEqual([...CLAMAV_KEYS.cvd, ...back.cvd]);
    const cvd = buildSignedCvd([ndb], { name: "daily", version: 7, signatures: 1, flevel: 90, stime }, keys);
    expect(openContainer(cvd, { path: "daily.cvd", keys: both }).header.version).toBe(7);
    for (const bad of [
      "not json",
      "{}",
      JSON.stringify({ format: "vigil-clamav-keys/v1", cvd: [{ n: "12", e: 3 }] }),
      JSON.stringify({ format: "vigil-clamav-keys/v1", info: "x" }),
      JSON.stringify({ format: "vigil-clamav-keys/v1", cdiff: [{ n: "-5", e: "3" }] }),
    ])
      expect(codeOf(() => parseTrustedKeys(bad, "keys.json"))).toBe("CVD_BAD_KEY_FILE");
  });

  it("a directory's .cvd signed with a test key loads with that key, without the .UNOFFICIAL suffix; the same files as .cud load with it", () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-cvd-keys-"));
    try {
      const hdb = { name: "daily.hdb", bytes: Buffer.from(`${"ab".repeat(16)}:12:Test.Hash-1\n`) };
      const fields = { name: "daily", version: 7, signatures: 2, flevel: 90, stime, gzipLevel: 1 };
      writeFileSync(join(dir, "daily.cvd"), buildSignedCvd([ndb, hdb], fields, keys));
      const set = loadClamavDatabase(dir, { keys: withClamavKeys(trusted), nativeBodies: true });
      expect(set.count).toBe(2);
      expect(set.rules.map((r) => r.name)).toEqual(["Test.Sig-1"]);
      // ClamAV's keys only: refused with a warning, nothing loaded
      const refused = loadClamavDatabase(dir, { nativeBodies: true });
      expect(refused.count).toBe(0);
      expect(refused.warnings.map((w) => w.code)).toContain("SIGDB_REFUSED");
      rmSync(join(dir, "daily.cvd"));
      writeFileSync(join(dir, "daily.cud"), buildUnsignedCud([ndb, hdb], fields));
      const cud = loadClamavDatabase(dir, { nativeBodies: true });
      expect(cud.count).toBe(2);
      expect(cud.rules.map((r) => r.name)).toEqual(["Test.Sig-1.UNOFFICIAL"]);
      const info = openContainer(readFileSync(join(dir, "daily.cud")), { path: "daily.cud" });
      expect(Buffer.from(info.files[1]!.bytes).toString("latin1")).not.toMatch(/DSIG:/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("gunzip takes the trailer's size as a hint only: a wrong or forged ISIZE gives the same bytes", () => {
    const body = Buffer.alloc(300_000);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7919) % 251;
    const gz = gzipSync(body, { level: 1 });
    expect(Buffer.from(gunzipMember(gz, "x", 1 << 30)).equals(body)).toBe(true);
    for (const isize of [0, 1, 65_535, body.length - 1, body.length + 1, 0xffffffff]) {
      const forged = Buffer.from(gz);
      forged.writeUInt32LE(isize >>> 0, forged.length - 4);
      // the member's own trailer check is not zlib's job here (raw inflate): the bytes are what count
      expect(Buffer.from(gunzipMember(forged, "x", 1 << 30)).equals(body)).toBe(true);
    }
    // the output limit still holds whatever the trailer says
    const small = Buffer.from(gz);
    small.writeUInt32LE(10, small.length - 4);
    expect(codeOf(() => gunzipMember(small, "x", 1000))).toBe("CVD_BAD_ARCHIVE");
  });

  it("an old daily and a high functionality level are warnings, not refusals", () => {
    const cvd = buildSignedCvd([ndb], { name: "daily", version: 7, signatures: 1, flevel: 300, stime }, keys);
    const db = openContainer(cvd, {
      path: "/db/daily.cvd",
      keys: trusted,
      flevel: 216,
      now: new Date(Date.UTC(2026, 11, 20)),
    });
    expect(db.warnings.join("\n")).toMatch(/19 days old/);
    expect(db.warnings.join("\n")).toMatch(/functionality level 300/);
  });

  it("a signed .cdiff applies; its script's errors name the line", () => {
    const cdiff = buildSignedCdiff("OPEN daily.ndb\nADD Test.Sig-2:0:*:5858585858\nCLOSE\n", 8, keys.cdiff);
    const r = applyCdiffs([ndb], 7, [{ path: "daily-8.cdiff", bytes: cdiff }], trusted);
    expect(Buffer.from(r.files.find((f) => f.name === "daily.ndb")!.bytes).toString()).toBe(
      "Test.Sig-1:0:*:414243444546\nTest.Sig-2:0:*:5858585858\n",
    );
    const files = new Map([["a.ndb", Buffer.from("one\ntwo\nthree\n")]]);
    const apply = (script: string) => Buffer.from(applyCdiffScript(files, script, "s").get("a.ndb") ?? "").toString();
    expect(apply("OPEN a.ndb\nXCHG 2 tw TWO two\nDEL 3 th\nADD four\nCLOSE\n")).toBe("one\nTWO two\nfour\n");
    expect(codeOf(() => apply("OPEN a.ndb\nDEL 2 x\nCLOSE\n"))).toBe("CDIFF_APPLY_FAILED");
    expect(codeOf(() => apply("OPEN a.ndb\n\nCLOSE\n"))).toBe("CDIFF_APPLY_FAILED");
    expect(codeOf(() => apply("OPEN ../etc\nCLOSE\n"))).toBe("CDIFF_APPLY_FAILED");
    expect(codeOf(() => apply("FROB\n"))).toBe("CDIFF_APPLY_FAILED");
    expect(codeOf(() => apply("OPEN a.ndb\nDEL 9 x\nCLOSE\n"))).toBe("CDIFF_APPLY_FAILED");
    try {
      apply("OPEN a.ndb\nDEL 2 x\nCLOSE\n");
    } catch (err) {
      expect((err as Error).message).toMatch(/script line 3: a\.ndb line 2 does not start with 'x'/);
    }
  });

  it("dsig texts round-trip and refuse characters outside ClamAV's alphabet", () => {
    for (const v of [1n, 63n, 64n, 2n ** 1023n + 12345n]) expect(decodeDsig(encodeDsig(v))).toBe(v);
    expect(decodeDsig("ab=c")).toBeUndefined();
    expect(decodeDsig("")).toBeUndefined();
  });
});

describe.skipIf(!FRESHCLAM)("loading containers as databases", () => {
  it("test-N.cvd loads clamscan's number of signatures (Known viruses), PUA only when asked", async () => {
    const { loadClamavDatabase } = await import("../src/index.js");
    // clamscan 1.4.6 -d test-N.cvd prints Known viruses: 0, 7, 10 (and 14 with --detect-pua)
    expect(loadClamavDatabase(join(FRESHCLAM!, "test-1.cvd"), { nativeBodies: true }).count).toBe(0);
    expect(loadClamavDatabase(join(FRESHCLAM!, "test-3.cvd"), { nativeBodies: true }).count).toBe(7);
    const six = loadClamavDatabase(join(FRESHCLAM!, "test-6.cvd"), { nativeBodies: true });
    expect(six.count).toBe(10);
    expect(loadClamavDatabase(join(FRESHCLAM!, "test-6.cvd"), { nativeBodies: true, pua: true }).count).toBe(14);
    // official names carry no .UNOFFICIAL suffix
    expect(six.hashes.lookup({ md5: Buffer.from("44d88612fea8a8f36de82e1278abb02f", "hex") }, 68)?.name).toBe(
      "Eicar-Test-Signature",
    );
    expect(six.warnings.filter((w) => w.code === "SIGDB_UNSUPPORTED")).toEqual([]);
  });

  it("in a database directory the newer of x.cvd/x.cld loads, and a refused container leaves the others loaded", async () => {
    const { loadClamavDatabase } = await import("../src/index.js");
    const dir = mkdtempSync(join(tmpdir(), "vigil-dbdir-"));
    try {
      const { writeFileSync } = await import("node:fs");
      writeFileSync(join(dir, "test.cvd"), file("test-3.cvd"));
      const one = openContainer(file("test-1.cvd"), { path: "test-1.cvd" });
      const patched = applyCdiffs(
        one.files,
        1,
        [2, 3, 4, 5, 6].map((v) => ({ path: `test-${v}.cdiff`, bytes: file(`test-${v}.cdiff`) })),
      );
      writeFileSync(join(dir, "test.cld"), buildCld(patched.files, "test.cld"));
      const bad = Buffer.from(file("test-6.cvd"));
      bad[700]! ^= 0x20;
      writeFileSync(join(dir, "other.cvd"), bad);
      writeFileSync(join(dir, "local.hdb"), "0123456789abcdef0123456789abcdef:12:Local.Test\n");
      const set = loadClamavDatabase(dir, { nativeBodies: true });
      expect(set.count).toBe(10 + 1);
      expect(set.warnings.find((w) => w.code === "SIGDB_CONTAINER")?.path).toBe(join(dir, "test.cvd"));
      const refused = set.warnings.find((w) => w.code === "SIGDB_REFUSED");
      expect(refused?.path).toBe(join(dir, "other.cvd"));
      expect(refused?.message).toMatch(/CVD_BAD_MD5/);
      // named on its own, the same damaged file fails the load
      expect(() => loadClamavDatabase(join(dir, "other.cvd"))).toThrow(/MD5/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("database directories", () => {
  it("a directory with no database files is refused, as clamscan refuses it", async () => {
    const { loadClamavDatabase } = await import("../src/index.js");
    const dir = mkdtempSync(join(tmpdir(), "vigil-emptydb-"));
    try {
      expect(codeOf(() => loadClamavDatabase(dir))).toBe("SIGDB_READ");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
