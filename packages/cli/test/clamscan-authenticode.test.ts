// Issue 14, `.crb`/`.cat`: `vigil scan` (the built bin) against clamscan on PEs signed in the test
// (node:crypto, ../../clamav/test/helpers/authenticode.ts), with body, whole-file hash and
// section hash signatures every PE matches: a file whose signature chains to a .crb trust rule,
// or whose Authenticode hash a trusted catalog lists, is OK (every other match dropped, as
// clamscan stops at a trusted layer); a blocked certificate is reported under the rule's name;
// broken or untrusted signatures change nothing. The same FOUND lines from both, with and
// without -z (VIGIL_BIN runs another build, e.g. main's, to see the test fail there).
import { describe, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chunked, makeZip, needs, talk } from "@vigil/test-kit";
import { makePe } from "../../clamav/test/clamav-fixtures.js";
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
} from "../../clamav/test/helpers/authenticode.js";

const BIN = process.env.VIGIL_BIN ?? fileURLToPath(new URL("../bin/vigil.js", import.meta.url));

describe.skipIf(needs("vigil scan vs clamscan on Authenticode rules", { tools: ["clamscan"] }))(
  "Authenticode .crb/.cat: vigil scan vs clamscan 1.4.6",
  () => {
    const d = mkdtempSync(join(tmpdir(), "vigil-authenticode-"));
    const t = join(d, "t");
    mkdirSync(t);
    const caKey = rsaKey(),
      leafKey = rsaKey(),
      badKey = rsaKey(),
      catKey = rsaKey();
    const serial = (n: number) => Buffer.from([0x20, n, 1, 2, 3, 4]);
    const ca = certificate({
      subject: "Vigil CA",
      issuer: "Vigil CA",
      serial: serial(1),
      key: caKey,
      signer: caKey,
      ca: true,
      keyCertSign: true,
    });
    const leaf = certificate({
      subject: "Vigil Publisher",
      issuer: "Vigil CA",
      serial: serial(2),
      key: leafKey,
      signer: caKey,
      eku: ["code"],
      keyCertSign: false,
    });
    const bad = certificate({
      subject: "Vigil Stolen",
      issuer: "Vigil CA",
      serial: serial(3),
      key: badKey,
      signer: caKey,
      eku: ["code"],
      keyCertSign: false,
    });
    const cat = certificate({
      subject: "Vigil Catalog",
      issuer: "Vigil Catalog",
      serial: serial(4),
      key: catKey,
      signer: catKey,
      eku: ["code"],
    });
    const pe = makePe();
    // another unsigned PE (a different Authenticode hash): only a catalog can trust it
    const listed = Buffer.from(makePe());
    listed[0x420] ^= 0x55;
    const signed = signPe(pe, { certs: [leaf.der, ca.der], cert: leaf, signer: leafKey });
    const tampered = Buffer.from(signed);
    tampered[0x300] ^= 0xff;
    const variant = (at: number) => {
      const b = Buffer.from(makePe());
      b[at] ^= 0x55;
      return b;
    };
    const files: Record<string, Uint8Array> = {
      "unsigned.exe": pe,
      // listed by a catalog as CAB files (whole-file hashes): clamscan honours the SHA-1 one only
      "cab-sha1.exe": variant(0x440),
      "cab-sha256.exe": variant(0x460),
      "listed.exe": listed,
      "signed.exe": signed,
      "stolen.exe": signPe(pe, { certs: [bad.der, ca.der], cert: bad, signer: badKey }),
      "tampered.exe": tampered,
      "truncated.exe": attach(pe, signed.subarray(pe.length + 8, pe.length + 400)),
      "signed-in.zip": makeZip([{ name: "inner.exe", data: signed, method: 0 }]),
    };
    for (const [n, b] of Object.entries(files)) writeFileSync(join(t, n), b);
    const db = (n: string, text: string | Uint8Array) => {
      const p = join(d, n);
      writeFileSync(p, text);
      return p;
    };
    const md5 = (b: Uint8Array) => createHash("md5").update(b).digest("hex");
    const body = db("body.ndb", `Vigil.Test.Body-1:1:*:${Buffer.from(".text").toString("hex")}\n`);
    const hashes = db(
      "files.hdb",
      Object.entries(files)
        .filter(([n]) => n.endsWith(".exe"))
        .map(([n, b]) => `${md5(b)}:${b.length}:Vigil.Test.Hash.${n.replace(/\W/g, "")}\n`)
        .join(""),
    );
    // the first section's raw data (makePe: 0x200 bytes at 0x200): a PE section hash signature
    const section = db("section.mdb", `512:${md5(pe.subarray(0x200, 0x400))}:Vigil.Test.Section-1\n`);
    const rules = db(
      "rules.crb",
      crbLine("Vigil.Test.CA", true, ca, { code: true, time: true, cert: true }) +
        crbLine("Vigil.Test.Stolen", false, bad, { code: true, time: false, cert: false }) +
        crbLine("Vigil.Test.Catalog", true, cat, { code: true, time: false, cert: true }),
    );
    const catalog = db(
      "vigil.cat",
      signedData({
        contentType: OID_CTL,
        inner: ctl([{ hash: "sha256", digest: peHash(listed, "sha256") }]),
        certs: [cat.der],
        cert: cat,
        signer: catKey,
      }),
    );

    const cabCatalog = db(
      "cab.cat",
      signedData({
        contentType: OID_CTL,
        inner: ctl([
          { hash: "sha1", digest: createHash("sha1").update(files["cab-sha1.exe"]!).digest(), cab: true },
          { hash: "sha256", digest: createHash("sha256").update(files["cab-sha256.exe"]!).digest(), cab: true },
        ]),
        certs: [cat.der],
        cert: cat,
        signer: catKey,
      }),
    );
    const run = (cmd: string, args: string[]) =>
      spawnSync(cmd, args, { encoding: "utf8" })
        .stdout.split("\n")
        .filter((l) => l.endsWith(" FOUND"))
        .map((l) => l.replace(`${t}/`, "").replace(/!\S*?:/, ":"))
        .sort();

    for (const [title, dbs] of Object.entries({
      "without trust rules": [body, hashes, section],
      "with .crb trust/block rules and a .cat catalog": [body, hashes, section, rules, catalog, cabCatalog],
    }))
      for (const extra of [[], ["-z"]])
        it(`${title}${extra.length ? " (-z)" : ""}: the same lines as clamscan`, () => {
          const dargs = dbs.flatMap((p) => ["-d", p]);
          const c = run("clamscan", ["--no-summary", ...extra, ...dargs, t]);
          const v = run(process.execPath, [
            BIN,
            "scan",
            "--no-builtin",
            "--no-cache",
            "--no-summary",
            ...extra,
            ...dargs,
            t,
          ]);
          expect(v).toEqual(c);
          const found = new Set(c.map((l) => l.replace(/:.*/, "")));
          if (!dbs.includes(rules)) expect([...found].sort()).toEqual(Object.keys(files).sort());
          else {
            // the test proves something: trusted files are clean whatever matched, a blocked
            // certificate is its rule's name, and the rest are found as without the rules
            for (const n of ["signed.exe", "listed.exe", "signed-in.zip", "cab-sha1.exe"])
              expect(found.has(n), n).toBe(false);
            expect(c).toContain("stolen.exe: Vigil.Test.Stolen FOUND");
            for (const n of ["unsigned.exe", "tampered.exe", "truncated.exe", "cab-sha256.exe"])
              expect(found.has(n), n).toBe(true);
          }
        });

    it("through the compiled-signature cache (a second run loads the compiled set): the same lines", () => {
      const dargs = [body, hashes, section, rules, catalog, cabCatalog].flatMap((p) => ["-d", p]);
      const c = run("clamscan", ["--no-summary", ...dargs, t]);
      const env = { ...process.env, XDG_CACHE_HOME: join(d, "cache") };
      for (let i = 0; i < 2; i++) {
        const r = spawnSync(process.execPath, [BIN, "scan", "--no-builtin", "--no-summary", ...dargs, t], {
          encoding: "utf8",
          env,
        });
        const v = r.stdout
          .split("\n")
          .filter((l) => l.endsWith(" FOUND"))
          .map((l) => l.replace(`${t}/`, "").replace(/!\S*?:/, ":"))
          .sort();
        expect(v, `run ${i + 1}`).toEqual(c);
      }
    });

    it("vigil daemon (clamd INSTREAM) gives clamscan's verdict on each PE", async () => {
      const dbs = [body, hashes, section, rules, catalog, cabCatalog];
      const clam = run("clamscan", ["--no-summary", ...dbs.flatMap((p) => ["-d", p]), t]);
      const p = spawn(
        process.execPath,
        [
          BIN,
          "daemon",
          "--tcp",
          "127.0.0.1:0",
          "--no-builtin",
          "-j",
          "1",
          "--no-cache",
          ...dbs.flatMap((x) => ["-d", x]),
        ],
        { stdio: ["ignore", "ignore", "pipe"] },
      );
      let err = "";
      p.stderr.on("data", (b) => (err += b));
      const exited = new Promise((r) => p.on("exit", r));
      try {
        let m: RegExpExecArray | null = null;
        for (let i = 0; i < 600 && !m; i++) {
          m = /clamd protocol on 127\.0\.0\.1:(\d+)/.exec(err);
          if (!m) await new Promise((r) => setTimeout(r, 50));
        }
        expect(m, err).toBeTruthy();
        const port = Number(m![1]);
        for (const [n, b] of Object.entries(files)) {
          const reply = (await talk(port, ["zINSTREAM\0", chunked(b)])).text;
          const want = clam.find((l) => l.startsWith(`${n}: `))?.replace(/^[^:]*: /, "stream: ") ?? "stream: OK";
          expect(reply, n).toBe(`${want}\0`);
        }
      } finally {
        p.kill("SIGTERM");
        await exited;
      }
    });
  },
);
