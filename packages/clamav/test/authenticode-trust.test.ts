// Authenticode trust and block (.crb) and catalogs (.cat), differentially against Debian's
// clamscan: PEs and catalogs are signed in the test (node:crypto, ./helpers/authenticode.ts);
// every database also holds a body signature all the PEs match, so clamscan's answer says
// which of the three verdicts it reached: OK (trusted), the .crb rule's name (blocked), or the
// body signature (neither). checkAuthenticode, over what loadClamavDatabase read, must agree.
import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { needs } from "@vigil/test-kit";
import { checkAuthenticode, loadClamavDatabase } from "../src/index.js";
import { makePe } from "./clamav-fixtures.js";
import {
  attach,
  certificate,
  crbLine,
  ctl,
  OID_CTL,
  peHash,
  rsaKey,
  signedData,
  signPe,
} from "./helpers/authenticode.js";

const noTools = needs("Authenticode trust against clamscan", { tools: ["clamscan"] });
const work = mkdtempSync(join(tmpdir(), "vigil-authenticode-trust-"));
afterAll(() => (process.env.KEEP_WORK ? undefined : rmSync(work, { recursive: true, force: true })));

const BODY = "Vigil.Test.Body-1";
const ndb = join(work, "body.ndb");
writeFileSync(ndb, `${BODY}:1:*:${Buffer.from(".text").toString("hex")}\n`);

const serial = (n: number) => Buffer.from([0x10, n, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]);
const day = 86400_000;

// a CA, a code-signing leaf it signs, a self-signed signer, and an outsider
const caKey = rsaKey(),
  leafKey = rsaKey(),
  selfKey = rsaKey(),
  otherKey = rsaKey();
const ca = certificate({
  subject: "Vigil Test CA",
  issuer: "Vigil Test CA",
  serial: serial(1),
  key: caKey,
  signer: caKey,
  ca: true,
  keyCertSign: true,
});
const leaf = certificate({
  subject: "Vigil Test Publisher",
  issuer: "Vigil Test CA",
  serial: serial(2),
  key: leafKey,
  signer: caKey,
  eku: ["code"],
  keyCertSign: false,
});
const expired = certificate({
  subject: "Vigil Test Publisher",
  issuer: "Vigil Test CA",
  serial: serial(3),
  key: leafKey,
  signer: caKey,
  eku: ["code"],
  keyCertSign: false,
  notBefore: new Date(Date.now() - 400 * day),
  notAfter: new Date(Date.now() - 30 * day),
});
const self = certificate({
  subject: "Vigil Test Self",
  issuer: "Vigil Test Self",
  serial: serial(4),
  key: selfKey,
  signer: selfKey,
  eku: ["code"],
});
const other = certificate({
  subject: "Vigil Test Other",
  issuer: "Vigil Test Other",
  serial: serial(5),
  key: otherKey,
  signer: otherKey,
  eku: ["code"],
});

// a time-stamping authority under the CA, and one nobody trusts
const tsaKey = rsaKey();
const tsa = certificate({
  subject: "Vigil Test TSA",
  issuer: "Vigil Test CA",
  serial: serial(6),
  key: tsaKey,
  signer: caKey,
  eku: ["time"],
  keyCertSign: false,
});
const rogueTsa = certificate({
  subject: "Vigil Test Rogue TSA",
  issuer: "Vigil Test Rogue TSA",
  serial: serial(7),
  key: otherKey,
  signer: otherKey,
  eku: ["time"],
});
const during = new Date(Date.now() - 200 * day); // inside the expired certificate's validity
const after = new Date(Date.now() - 10 * day); // after it ended

const pe = makePe();
const files: Record<string, Uint8Array> = {
  "unsigned.exe": pe,
  "chain.exe": signPe(pe, { certs: [leaf.der, ca.der], cert: leaf, signer: leafKey }),
  "chain-leaf-only.exe": signPe(pe, { certs: [leaf.der], cert: leaf, signer: leafKey }),
  "chain-sha1.exe": signPe(pe, { certs: [ca.der, leaf.der], cert: leaf, signer: leafKey, hash: "sha1" }),
  "self.exe": signPe(pe, { certs: [self.der], cert: self, signer: selfKey }),
  "expired.exe": signPe(pe, { certs: [expired.der, ca.der], cert: expired, signer: leafKey }),
  "bogus-countersignature.exe": signPe(pe, {
    certs: [leaf.der, ca.der],
    cert: leaf,
    signer: leafKey,
    counterSignature: true,
  }),
  "timestamped.exe": signPe(pe, {
    certs: [leaf.der, ca.der, tsa.der],
    cert: leaf,
    signer: leafKey,
    counterSignature: { cert: tsa, key: tsaKey, time: new Date() },
  }),
  // expired now, time-stamped while valid: trusted; time-stamped after: not
  "expired-timestamped.exe": signPe(pe, {
    certs: [expired.der, ca.der, tsa.der],
    cert: expired,
    signer: leafKey,
    counterSignature: { cert: tsa, key: tsaKey, time: during },
  }),
  "expired-timestamped-late.exe": signPe(pe, {
    certs: [expired.der, ca.der, tsa.der],
    cert: expired,
    signer: leafKey,
    counterSignature: { cert: tsa, key: tsaKey, time: after },
  }),
  "rogue-timestamp.exe": signPe(pe, {
    certs: [leaf.der, ca.der, rogueTsa.der],
    cert: leaf,
    signer: leafKey,
    counterSignature: { cert: rogueTsa, key: otherKey, time: new Date() },
  }),
  // signed by the leaf's key but naming the outsider: nothing verifies
  "wrong-signer.exe": signPe(pe, { certs: [leaf.der, other.der], cert: other, signer: leafKey }),
  "other.exe": signPe(pe, { certs: [other.der], cert: other, signer: otherKey }),
};
// modified after signing: the signature verifies but the signed digest is not the file's
const tampered = Buffer.from(files["chain.exe"]!);
tampered[0x300] ^= 0xff;
files["tampered.exe"] = tampered;
// malformed signatures: truncated, a flipped length, garbage
const chain = Buffer.from(files["chain.exe"]!);
const sigAt = pe.length + 8;
files["truncated.exe"] = attach(pe, chain.subarray(sigAt, sigAt + 300));
const flipped = Buffer.from(chain);
flipped[sigAt + 1] ^= 0x01;
files["bad-length.exe"] = flipped;
files["garbage.exe"] = attach(pe, Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7919) & 0xff)));
for (const [n, b] of Object.entries(files)) writeFileSync(join(work, n), b);

const all = { code: true, time: true, cert: true };
const codeCert = { code: true, time: false, cert: true };
const catalogOf = (entries: Parameters<typeof ctl>[0], signer = { cert: self, key: selfKey }) =>
  signedData({
    contentType: OID_CTL,
    inner: ctl(entries),
    certs: [signer.cert.der],
    cert: signer.cert,
    signer: signer.key,
  });

const cases: Record<string, Record<string, string | Uint8Array>> = {
  "CA trusted": { "ca.crb": crbLine("Vigil.Test.CA", true, ca, all) },
  "CA trusted, any serial": { "ca.crb": crbLine("Vigil.Test.CA", true, ca, all, true) },
  "CA trusted without TimeSign": { "ca.crb": crbLine("Vigil.Test.CA", true, ca, { ...all, time: false }) },
  "CA trusted without CertSign": { "ca.crb": crbLine("Vigil.Test.CA", true, ca, { ...all, cert: false }) },
  "self-signed signer trusted": { "self.crb": crbLine("Vigil.Test.Self", true, self, codeCert) },
  // the rule's NotBefore is after the certificate's: not trusted directly, but the rule (with
  // CertSign) verifies the self-signed certificate's own signature, so clamscan trusts it
  "self-signed signer trusted by a rule with a later NotBefore": {
    "self.crb": crbLine("Vigil.Test.Self", true, self, codeCert).replace(";;test\n", ";2000000000;test\n"),
  },
  "leaf trusted directly": { "leaf.crb": crbLine("Vigil.Test.Leaf", true, leaf, codeCert) },
  "leaf trusted directly by a rule with a later NotBefore": {
    "leaf.crb": crbLine("Vigil.Test.Leaf", true, leaf, codeCert).replace(";;test\n", ";2000000000;test\n"),
  },
  "self-signed signer trusted, purposes too narrow": {
    "self.crb": crbLine("Vigil.Test.Self", true, self, { code: true, time: false, cert: false }),
  },
  "leaf blocked, CA trusted": {
    "rules.crb": crbLine("Vigil.Test.CA", true, ca, all) + crbLine("Vigil.Test.Blocked", false, leaf, codeCert, true),
  },
  // clamscan carries an empty serial over to the lines after it: the second rule, whose serial
  // is wrong, still blocks the leaf
  "a serial left empty applies to the rules after it": {
    "rules.crb":
      crbLine("Vigil.Test.AnyOther", false, other, codeCert, true) +
      crbLine("Vigil.Test.WrongSerial", false, leaf, codeCert).replace(leaf.serialSha1, "0".repeat(40)),
  },
  "a wrong serial alone blocks nothing": {
    "rules.crb": crbLine("Vigil.Test.WrongSerial", false, leaf, codeCert).replace(leaf.serialSha1, "0".repeat(40)),
  },
  "engine configuration with PE certificates off": {
    "off.cfg": "PE:0x000dffff:0:255\n",
    "rules.crb": crbLine("Vigil.Test.CA", true, ca, all) + crbLine("Vigil.Test.Blocked", false, other, codeCert),
  },
  "engine configuration with PE catalogs off": {
    "off.cfg": "PE:0x000effff:0:255\n",
    "self.crb": crbLine("Vigil.Test.Self", true, self, codeCert),
    "files.cat": catalogOf([{ hash: "sha256", digest: peHash(pe, "sha256") }]),
  },
  // clamscan reads the flags by their first character and NotBefore with atoi, and reports a
  // block rule without a name as "(unnamed CRB rule)"
  "fields read as clamscan reads them": {
    "rules.crb":
      crbLine("", false, other, codeCert).replace(/^;0;/, ";0x;") +
      crbLine("Vigil.Test.CA", true, ca, all)
        .replace(/;010001;1;1;1;/, ";010001;1yes;1;1;")
        .replace(";;test\n", ";soon;test\n"),
  },
  "CA blocked": { "ca.crb": crbLine("Vigil.Test.BlockedCA", false, ca, all) },
  "catalog sha256 of the unsigned PE": {
    "self.crb": crbLine("Vigil.Test.Self", true, self, codeCert),
    "files.cat": catalogOf([{ hash: "sha256", digest: peHash(pe, "sha256") }]),
  },
  "catalog sha1 of the unsigned PE": {
    "self.crb": crbLine("Vigil.Test.Self", true, self, codeCert),
    "files.cat": catalogOf([
      { hash: "sha1", digest: Buffer.alloc(20, 7) },
      { hash: "sha1", digest: peHash(pe, "sha1") },
    ]),
  },
  "catalog by an untrusted signer": {
    "self.crb": crbLine("Vigil.Test.Self", true, self, codeCert),
    "files.cat": catalogOf([{ hash: "sha256", digest: peHash(pe, "sha256") }], { cert: other, key: otherKey }),
  },
  "catalog loaded before its trust rule": {
    "a.cat": catalogOf([{ hash: "sha256", digest: peHash(pe, "sha256") }]),
    "b.crb": crbLine("Vigil.Test.Self", true, self, codeCert),
  },
};

function clamscanVerdicts(dbs: string[]): Record<string, string> {
  const r = spawnSync(
    "clamscan",
    ["--no-summary", ...dbs.flatMap((d) => ["-d", d]), ...Object.keys(files).map((f) => join(work, f))],
    { encoding: "utf8" },
  );
  const out: Record<string, string> = {};
  for (const line of r.stdout.trim().split("\n")) {
    const m = /^([^:]*): (?:(.+) FOUND|OK)$/.exec(line);
    if (m) out[m[1]!.slice(work.length + 1)] = m[2] ?? "OK";
  }
  return out;
}

describe.skipIf(noTools)("Authenticode trust and block rules, and catalogs, against clamscan", () => {
  let k = 0;
  for (const [title, dbFiles] of Object.entries(cases))
    it(title, () => {
      const dir = join(work, `case-${k++}`);
      rmSync(dir, { recursive: true, force: true });
      const dbs = [ndb];
      for (const [n, content] of Object.entries(dbFiles)) {
        const p = join(work, `${k}-${n}`);
        writeFileSync(p, content);
        dbs.push(p);
      }
      const clam = clamscanVerdicts(dbs);
      expect(Object.keys(clam).sort()).toEqual(Object.keys(files).sort());
      const set = loadClamavDatabase(dbs);
      const vigil: Record<string, string> = {};
      for (const [n, b] of Object.entries(files)) {
        const v = checkAuthenticode(b, set.authenticode);
        vigil[n] = v.verdict === "trusted" ? "OK" : v.verdict === "blocked" ? v.name : `${BODY}.UNOFFICIAL`;
      }
      expect(vigil).toEqual(clam);
      // what the verdicts mean, as clamscan shows them
      const found = `${BODY}.UNOFFICIAL`;
      if (title === "CA trusted")
        expect(clam).toMatchObject({
          "chain.exe": "OK",
          "chain-sha1.exe": "OK",
          "timestamped.exe": "OK",
          "expired-timestamped.exe": "OK",
          "expired-timestamped-late.exe": found,
          "expired.exe": found,
          "rogue-timestamp.exe": found,
          "bogus-countersignature.exe": found,
          "tampered.exe": found,
          "chain-leaf-only.exe": "OK",
          "self.exe": found,
        });
      if (title.startsWith("a serial left empty"))
        expect(clam).toMatchObject({ "chain.exe": "Vigil.Test.WrongSerial", "other.exe": "Vigil.Test.AnyOther" });
      if (title.startsWith("leaf trusted directly"))
        expect(clam["chain-leaf-only.exe"]).toBe(title.endsWith("NotBefore") ? found : "OK");
      if (title.startsWith("fields read"))
        expect(clam).toMatchObject({ "other.exe": "(unnamed CRB rule)", "chain.exe": "OK" });
      if (title.endsWith("certificates off")) expect(clam["chain.exe"]).toBe(found);
      if (title.endsWith("catalogs off")) expect(clam).toMatchObject({ "unsigned.exe": found, "self.exe": "OK" });
      if (title === "CA trusted without TimeSign")
        expect(clam).toMatchObject({ "chain.exe": "OK", "timestamped.exe": found, "expired-timestamped.exe": found });
    });

  it("the cases prove something: each verdict occurs", () => {
    const seen = new Set<string>();
    for (const dbFiles of Object.values(cases)) {
      const dbs = [ndb];
      for (const [n, content] of Object.entries(dbFiles)) {
        const p = join(work, `all-${n}`);
        writeFileSync(p, content);
        dbs.push(p);
      }
      const set = loadClamavDatabase(dbs);
      for (const b of Object.values(files)) seen.add(checkAuthenticode(b, set.authenticode).verdict);
    }
    expect([...seen].sort()).toEqual(["blocked", "none", "trusted"]);
  });
});

describe.skipIf(noTools)("corrupted signatures: never a crash, and clamscan's verdict", () => {
  it("single-byte corruptions across a signed PE's signature: the same verdict as clamscan", () => {
    const db = writeDb("ca-only.crb", crbLine("Vigil.Test.CA", true, ca, all));
    const set = loadClamavDatabase(db).authenticode;
    const base = Buffer.from(files["expired-timestamped.exe"]!);
    expect(checkAuthenticode(base, set).verdict).toBe("trusted");
    const dir = join(work, "corrupt");
    mkdirSync(dir, { recursive: true });
    const names: string[] = [];
    const step = process.env.CORRUPT_STEP ? +process.env.CORRUPT_STEP : Math.floor((base.length - pe.length) / 80);
    for (let at = pe.length + 8; at < base.length; at += step) {
      const b = Buffer.from(base);
      b[at] ^= process.env.CORRUPT_XOR ? +process.env.CORRUPT_XOR : 0x5a;
      const n = `at-${at}.exe`;
      writeFileSync(join(dir, n), b);
      names.push(n);
    }
    const r = spawnSync("clamscan", ["--no-summary", "-d", ndb, "-d", db, ...names.map((n) => join(dir, n))], {
      encoding: "utf8",
    });
    const clam: Record<string, string> = {};
    for (const line of r.stdout.trim().split("\n")) {
      const m = /^(.*): (?:(\S+) FOUND|OK)$/.exec(line);
      if (m) clam[m[1]!.slice(dir.length + 1)] = m[2] ?? "OK";
    }
    const vigil: Record<string, string> = {};
    for (const n of names) {
      const v = checkAuthenticode(readFileSync(join(dir, n)), set);
      expect(v.verdict).not.toBe("blocked");
      vigil[n] = v.verdict === "trusted" ? "OK" : `${BODY}.UNOFFICIAL`;
    }
    expect(vigil).toEqual(clam);
    // both kinds occur: corruptions that break the chain or the signature, and ones nothing reads
    expect(new Set(Object.values(vigil)).size).toBe(2);
  });
});

function writeDb(n: string, content: string): string {
  const p = join(work, n);
  writeFileSync(p, content);
  return p;
}
