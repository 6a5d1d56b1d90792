// Authenticode block rules (.crb, Trusted 0): PEs signed in the test (a certificate from openssl,
// PKCS#7 from openssl cms, reshaped into Authenticode's PKCS#7 form), checked against Debian's
// clamscan; malformed signatures never throw and say why the file counts as unsigned.
import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { needs } from "@vigil/test-kit";
import { authenticodeHash, blockedBy, loadClamavDatabase, readAuthenticode } from "../src/index.js";
import { children, readTlv } from "../src/authenticode/der.js";
import { makePe } from "./clamav-fixtures.js";

const noTools = needs("Authenticode tests", { tools: ["openssl", "clamscan"] });
const work = mkdtempSync(join(tmpdir(), "vigil-clamav-authenticode-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const hex = (x: string) => Buffer.from(x, "hex");
function tlv(tag: number, body: Buffer): Buffer {
  const n = body.length;
  const len =
    n < 0x80
      ? [n]
      : n < 0x100
        ? [0x81, n]
        : n < 0x10000
          ? [0x82, n >> 8, n & 0xff]
          : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...len]), body]);
}

/** SpcIndirectDataContent for a PE image (the digest is not checked by block rules). */
const SPC = tlv(
  0x30,
  Buffer.concat([
    tlv(
      0x30,
      Buffer.concat([
        tlv(0x06, hex("2b06010401823702010f")),
        tlv(0x30, Buffer.concat([hex("030100"), tlv(0xa0, tlv(0xa2, hex("8000")))])),
      ]),
    ),
    tlv(
      0x30,
      Buffer.concat([
        tlv(0x30, Buffer.concat([tlv(0x06, hex("2b0e03021a")), hex("0500")])),
        tlv(0x04, Buffer.alloc(20, 0x11)),
      ]),
    ),
  ]),
);

/**
 * openssl cms writes CMS: SignedData version 3 and the content inside an OCTET STRING.
 * Authenticode (PKCS#7 1.5, as signtool writes it) has version 1 and the content directly in
 * [0]; libclamav accepts only that form, so the test rebuilds it.
 */
function authenticodeForm(cms: Buffer): Buffer {
  const ci = readTlv(cms, 0);
  const [type, explicit] = children(cms, ci);
  const sd = readTlv(cms, explicit!.content);
  const parts = children(cms, sd).map((t) => cms.subarray(t.start, t.end));
  parts[0] = hex("020101");
  const encap = readTlv(parts[2]!, 0);
  const [ctype, wrapped] = children(parts[2]!, encap);
  const octets = readTlv(parts[2]!, wrapped!.content);
  const inner = parts[2]!.subarray(octets.content, octets.end);
  parts[2] = tlv(0x30, Buffer.concat([parts[2]!.subarray(ctype!.start, ctype!.end), tlv(0xa0, inner)]));
  return tlv(0x30, Buffer.concat([cms.subarray(type!.start, type!.end), tlv(0xa0, tlv(0x30, Buffer.concat(parts)))]));
}

/** makePe() with `der` as its WIN_CERTIFICATE (security directory, entry 4). */
function signedPe(der: Uint8Array): Buffer {
  const pe = Buffer.from(makePe());
  const len = 8 + der.length,
    padded = (len + 7) & ~7;
  const wc = Buffer.alloc(padded);
  wc.writeUInt32LE(len, 0);
  wc.writeUInt16LE(0x200, 4);
  wc.writeUInt16LE(2, 6);
  Buffer.from(der).copy(wc, 8);
  const out = Buffer.concat([pe, wc]);
  out.writeUInt32LE(pe.length, 0xd8); // makePe's optional header is at 0x58: directories at 0xb8, security at +32
  out.writeUInt32LE(padded, 0xdc);
  return out;
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { cwd: work, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
}

function sign(name: string, subject: string): Buffer {
  run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.pem`,
    "-subj",
    subject,
    "-days",
    "30",
  ]);
  writeFileSync(join(work, "spc.der"), SPC);
  run("openssl", [
    "cms",
    "-sign",
    "-in",
    "spc.der",
    "-signer",
    `${name}.pem`,
    "-inkey",
    `${name}.key`,
    "-binary",
    "-nodetach",
    "-outform",
    "DER",
    "-econtent_type",
    "1.3.6.1.4.1.311.2.1.4",
    "-out",
    `${name}.p7`,
  ]);
  return authenticodeForm(readFileSync(join(work, `${name}.p7`)));
}

function clamscan(db: string, file: string): string {
  return spawnSync("clamscan", ["--no-summary", "-d", db, file], { encoding: "utf8" }).stdout.trim();
}

describe.skipIf(noTools)("Authenticode block rules against clamscan", () => {
  const blockedDer = sign("blocked", "/CN=Vigil Test Blocked/O=Vigil");
  const otherDer = sign("other", "/CN=Vigil Test Other/O=Vigil");
  const blockedPe = join(work, "blocked.exe"),
    otherPe = join(work, "other.exe");
  writeFileSync(blockedPe, signedPe(blockedDer));
  writeFileSync(otherPe, signedPe(otherDer));
  const sig = readAuthenticode(readFileSync(blockedPe));
  if (!sig.signed) throw new Error(`the generated signature does not read: ${sig.reason}`);
  const c = sig.certificates[0]!;
  const rules = {
    exact: `Vigil.Test.Blocked;0;${c.subject};${c.serial};${c.modulus};010001;1;0;0;;block one certificate\n`,
    anySerial: `Vigil.Test.AnySerial;0;${c.subject};;${c.modulus};010001;1;0;0;;block the subject and key whatever the serial\n`,
    otherSerial: `Vigil.Test.OtherSerial;0;${c.subject};${"0".repeat(40)};${c.modulus};010001;1;0;0;;another serial\n`,
  };

  it("a CMS-form signature (version 3, content in an OCTET STRING) is not read, by clamscan either", () => {
    const cmsPe = join(work, "cms.exe");
    writeFileSync(cmsPe, signedPe(readFileSync(join(work, "blocked.p7"))));
    const r = readAuthenticode(readFileSync(cmsPe));
    expect(r).toEqual({ signed: false, reason: expect.stringMatching(/version is not 1/) });
    const db = join(work, "cms.crb");
    writeFileSync(db, rules.exact);
    expect(clamscan(db, cmsPe)).toMatch(/: OK$/);
  });

  for (const [key, line] of Object.entries(rules))
    it(`rule ${key}: the same verdict as clamscan on the blocked and the other signer`, () => {
      const db = join(work, `${key}.crb`);
      writeFileSync(db, line);
      const set = loadClamavDatabase(db);
      for (const file of [blockedPe, otherPe]) {
        const s = readAuthenticode(readFileSync(file));
        expect(s.signed).toBe(true);
        const hit = s.signed ? blockedBy(s.certificates, set.certRules) : undefined;
        const clam = clamscan(db, file);
        const want = clam.endsWith("FOUND") ? clam.replace(/^.*: (\S+) FOUND$/, "$1") : undefined;
        expect(hit?.name, `${key} on ${file}: clamscan says ${clam}`).toBe(want);
      }
      // the test proves something: the exact and any-serial rules fire on the blocked signer only
      if (key !== "otherSerial") expect(clamscan(db, blockedPe)).toMatch(/FOUND$/);
    });
});

describe.skipIf(noTools)("the Authenticode hash against clamscan", () => {
  // libclamav checks a PE's Authenticode SHA-1/SHA-256 against allow-list entries of size 2 (how
  // .cat catalogs mark files clean): with the right hash clamscan reports the file clean
  const pe = join(work, "hashed.exe");
  const bytes = signedPe(tlv(0x30, Buffer.alloc(0)));
  writeFileSync(pe, bytes);
  const ndb = join(work, "hashed.ndb");
  writeFileSync(ndb, `Vigil.Test.Body-1:1:*:${Buffer.from(".text").toString("hex")}\n`);
  for (const algorithm of ["sha1", "sha256"] as const)
    it(`${algorithm}: clamscan trusts the file by the hash Vigil computes, and not by another`, () => {
      const r = authenticodeHash(bytes, algorithm);
      if (!("hash" in r)) throw new Error(r.reason);
      const right = join(work, `right-${algorithm}.sfp`),
        wrong = join(work, `wrong-${algorithm}.sfp`);
      writeFileSync(right, `${r.hash}:2:Vigil.Test.Catalog\n`);
      writeFileSync(wrong, `${r.hash.replace(/^./, (c) => (c === "0" ? "1" : "0"))}:2:Vigil.Test.Catalog\n`);
      const scan = (sfp: string) =>
        spawnSync("clamscan", ["--no-summary", "-d", ndb, "-d", sfp, pe], { encoding: "utf8" }).stdout.trim();
      expect(scan(wrong)).toMatch(/Vigil\.Test\.Body-1\.UNOFFICIAL FOUND$/);
      expect(scan(right)).toMatch(/: OK$/);
      // the allow list Vigil loads from the same file holds it under size 2
      const set = loadClamavDatabase(right);
      expect(set.allow.has({ [algorithm]: Buffer.from(r.hash, "hex") }, 2)).toBe(true);
    });
  it("files not hashed, with the reason", () => {
    const moved = Buffer.concat([bytes, Buffer.alloc(8)]);
    expect(authenticodeHash(moved, "sha256")).toEqual({
      reason: "the certificate table is not at the end of the file",
    });
    expect(authenticodeHash(Buffer.from("MZ"), "sha1")).toEqual({ reason: "not a PE (no MZ header)" });
  });
});

describe("malformed signatures are unsigned, with the reason, and never throw", () => {
  let seed = 7;
  const noise = Buffer.from(Array.from({ length: 300 }, () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24));
  const cases: Record<string, Uint8Array> = {
    empty: new Uint8Array(0),
    truncated: tlv(0x30, Buffer.concat([tlv(0x06, hex("2a864886f70d010702")), tlv(0xa0, Buffer.alloc(40))])).subarray(
      0,
      20,
    ),
    lyingLength: Buffer.concat([hex("3084ffffff00"), Buffer.alloc(16)]),
    indefinite: Buffer.concat([hex("3080"), Buffer.alloc(16)]),
    notSignedData: tlv(
      0x30,
      Buffer.concat([tlv(0x06, hex("2a864886f70d010701")), tlv(0xa0, tlv(0x04, Buffer.alloc(4)))]),
    ),
    deepNesting: (() => {
      let b: Buffer = Buffer.alloc(0);
      for (let i = 0; i < 2000; i++) b = tlv(0x30, b);
      return b;
    })(),
    garbage: noise,
  };
  for (const [name, der] of Object.entries(cases))
    it(name, () => {
      const r = readAuthenticode(signedPe(der));
      expect(r.signed).toBe(false);
      if (!r.signed) expect(r.reason).toMatch(/malformed Authenticode signature|not PKCS#7|SignedData/);
    });
  it("a directory pointing past the end, or none", () => {
    const pe = signedPe(tlv(0x30, Buffer.alloc(0)));
    pe.writeUInt32LE(0x7fffffff, 0xd8);
    expect(readAuthenticode(pe)).toEqual({ signed: false, reason: "security directory points outside the file" });
    expect(readAuthenticode(makePe())).toEqual({ signed: false, reason: "no Authenticode signature" });
    expect(readAuthenticode(Buffer.from("MZ"))).toMatchObject({ signed: false });
  });
});
