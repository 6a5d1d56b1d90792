// Differential tests: `vigil scan -d DB` (the built bin) against Debian's clamscan 1.4.6 on the
// same ClamAV databases and the same files.
import { describe, expect, it, beforeAll } from "vitest";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { peSections } from "@vigil/scanner";
import { corpus as corpusDir, makeCorpus, makeZip, needs, type Corpus } from "@vigil/test-kit";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../bin/vigil.js", import.meta.url));

/** top-level file (relative to root) -> names found */
function parse(out: string, root: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const line of out.split("\n")) {
    const x = /^(.*?): (\S+) FOUND$/.exec(line);
    if (!x) continue;
    const top = relative(root, x[1]!.replace(/!.*$/, ""));
    m.set(top, [...(m.get(top) ?? []), x[2]!].sort());
  }
  for (const [k, v] of m) m.set(k, [...new Set(v)]);
  return m;
}

function clamscan(db: string[], root: string) {
  const r = spawnSync("clamscan", ["-r", "--no-summary", "--infected", ...db.flatMap((d) => ["-d", d]), root], {
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  return { found: parse(r.stdout, root), code: r.status, out: r.stdout };
}

function vigil(db: string[], root: string) {
  const r = spawnSync(
    process.execPath,
    [BIN, "scan", "--no-builtin", "--no-cache", "-i", "--no-summary", ...db.flatMap((d) => ["-d", d]), root],
    { encoding: "utf8", maxBuffer: 64 << 20 },
  );
  return { found: parse(r.stdout, root), code: r.status, out: r.stdout, err: r.stderr };
}

const sorted = (m: Map<string, string[]>) => [...m.entries()].sort((a, b) => a[0].localeCompare(b[0]));

let corpus: Corpus;
beforeAll(() => {
  corpus = makeCorpus(mkdtempSync(join(tmpdir(), "vigil-diff-")), { files: 300, sizeKb: 8 });
});

describe.skipIf(needs("vigil scan vs clamscan", { tools: ["clamscan"], debianFiles: ["/usr/share/clamav-testfiles"] }))(
  "vigil scan vs clamscan 1.4.6",
  () => {
    it("generated tree: same files, same names (ndb forms, hdb, hsb, fp allow list, zip/gz/tar.gz containers)", () => {
      const c = clamscan([corpus.db], corpus.root);
      const v = vigil([corpus.db], corpus.root);
      expect(v.err).not.toMatch(/Error/);
      const expectedMap = new Map([...corpus.expected].map(([k, n]) => [k, [n]]));
      expect(sorted(c.found)).toEqual(sorted(expectedMap)); // the generator's intent is what clamscan sees
      expect(sorted(v.found)).toEqual(sorted(c.found));
      expect(v.code).toBe(c.code);
    });

    it("clamav-testfiles with the one-line test-file hash: the formats Vigil unpacks give clamscan's names", () => {
      const d = mkdtempSync(join(tmpdir(), "vigil-ctf-"));
      const files = ["clam.exe", "clam.zip", "clam.bz2.zip", "clam.tar.gz", "clam.exe.bz2"];
      mkdirSync(join(d, "t"));
      for (const f of files) cpSync(join("/usr/share/clamav-testfiles", f), join(d, "t", f));
      writeFileSync(join(d, "test.hdb"), "aa15bcf478d165efd2065190eb473bcb:544:ClamAV-Test-File\n");
      const c = clamscan([join(d, "test.hdb")], join(d, "t"));
      const v = vigil([join(d, "test.hdb")], join(d, "t"));
      expect(sorted(c.found)).toEqual(files.sort().map((f) => [f, ["ClamAV-Test-File.UNOFFICIAL"]]));
      expect(sorted(v.found)).toEqual(sorted(c.found));
    });

    it("logical signatures (and, or, counts, container), PE section hashes and ignore lists", () => {
      const d = mkdtempSync(join(tmpdir(), "vigil-ldb-"));
      const t = join(d, "t");
      mkdirSync(t);
      const hex = (s: string) => Buffer.from(s).toString("hex");
      writeFileSync(join(t, "both.txt"), "xx alpha-token yy beta-token zz");
      writeFileSync(join(t, "alpha.txt"), "only alpha-token here");
      writeFileSync(join(t, "three.txt"), "kotek kotek kotek");
      writeFileSync(join(t, "two.txt"), "kotek kotek");
      writeFileSync(join(t, "marker.bin"), "plain zip-only-marker outside a zip");
      writeFileSync(join(t, "boxed.zip"), makeZip([{ name: "in/marker.bin", data: "inside: zip-only-marker" }]));
      writeFileSync(join(t, "ignored.txt"), "ignore-me-marker");
      cpSync("/usr/share/clamav-testfiles/clam.exe", join(t, "clam.exe"));
      const exe = readFileSync(join(t, "clam.exe"));
      const sec = peSections(exe)[0]!;
      const secMd5 = createHash("md5")
        .update(exe.subarray(sec.offset, sec.offset + sec.size))
        .digest("hex");
      const db = join(d, "db");
      mkdirSync(db);
      writeFileSync(
        join(db, "t.ldb"),
        [
          `Custom.AlphaBeta;Engine:51-255,Target:0;0&1;${hex("alpha-token")};${hex("beta-token")}`,
          `Custom.Count;Engine:51-255,Target:0;0>2;${hex("kotek")}`,
          `Custom.InZip;Engine:81-255,Container:CL_TYPE_ZIP,Target:0;0;${hex("zip-only-marker")}`,
          "",
        ].join("\n"),
      );
      writeFileSync(
        join(db, "t.ndb"),
        `Custom.Ignored:0:*:${hex("ignore-me-marker")}\nCustom.Alpha:0:*:${hex("only alpha")}\n`,
      );
      writeFileSync(join(db, "t.mdb"), `${sec.size}:${secMd5}:Custom.Section\n`);
      writeFileSync(join(db, "t.ign2"), "Custom.Ignored\n");
      // a database directory: both load the ignore list before the signatures
      const dbs = [db];
      const c = clamscan(dbs, t);
      const v = vigil(dbs, t);
      expect(sorted(c.found)).toEqual([
        ["alpha.txt", ["Custom.Alpha.UNOFFICIAL"]],
        ["both.txt", ["Custom.AlphaBeta.UNOFFICIAL"]],
        ["boxed.zip", ["Custom.InZip.UNOFFICIAL"]],
        ["clam.exe", ["Custom.Section.UNOFFICIAL"]],
        ["three.txt", ["Custom.Count.UNOFFICIAL"]],
      ]);
      expect(sorted(v.found)).toEqual(sorted(c.found));
    });

    it.skipIf(needs("clamscan with the rfxn corpus", { corpora: ["clamav/rfxn"] }))(
      "with the shared rfxn corpus (11k real signatures) loaded: same results on system files and test files",
      () => {
        const rfxn = corpusDir("clamav/rfxn");
        const d = mkdtempSync(join(tmpdir(), "vigil-rfxn-"));
        const t = join(d, "t");
        mkdirSync(t);
        for (const f of ["clam.exe", "clam.zip", "clam.tar.gz"])
          cpSync(join("/usr/share/clamav-testfiles", f), join(t, f));
        for (const f of ["/usr/bin/ls", "/usr/bin/tar", "/usr/bin/gzip", "/etc/services", "/etc/passwd"])
          cpSync(f, join(t, f.replace(/\//g, "_")));
        writeFileSync(join(d, "test.hdb"), "aa15bcf478d165efd2065190eb473bcb:544:ClamAV-Test-File\n");
        const dbs = [rfxn, join(d, "test.hdb")];
        const c = clamscan(dbs, t);
        const v = vigil(dbs, t);
        expect(sorted(v.found)).toEqual(sorted(c.found));
        expect(v.found.size).toBe(3);
      },
    );

    it("a malformed line: clamscan refuses the whole database (exit 2); vigil warns with file:line and scans with the rest", () => {
      const d = mkdtempSync(join(tmpdir(), "vigil-bad-"));
      writeFileSync(
        join(d, "bad.ndb"),
        `Broken:0:*:zz\nGood.Body-1:0:*:${Buffer.from("good-needle").toString("hex")}\n`,
      );
      mkdirSync(join(d, "t"));
      writeFileSync(join(d, "t/a"), "a good-needle");
      expect(clamscan([join(d, "bad.ndb")], join(d, "t")).code).toBe(2);
      const v = vigil([join(d, "bad.ndb")], join(d, "t"));
      expect(v.code).toBe(1);
      expect(v.err).toContain(`${join(d, "bad.ndb")}:1:`);
      expect([...v.found.values()]).toEqual([["Good.Body-1.UNOFFICIAL"]]);
    });

    it("a directory of every signature format: vigil scan's Known viruses is clamscan's, with and without --detect-pua", () => {
      const d = mkdtempSync(join(tmpdir(), "vigil-formats-"));
      const hex = (x: string) => Buffer.from(x).toString("hex");
      const icon = "10" + "1000101".repeat(6) + "100101".repeat(12) + "10101010";
      const files: Record<string, string> = {
        "a.cdb": "C.Cdb-1:CL_TYPE_ZIP:*:eicar\\.com:*:*:0:1:*:*\n",
        "a.idb": `Icon1:GroupA:GroupB:${icon}\n`,
        "a.imp": "98c88d882f01a3f6ac1e5f7dfd761624:39:Imp.Test-1\n",
        "a.pdb": "H:amazon.com\n",
        "a.gdb": "S:P:12345678\n",
        "a.wdb": "M:www.google.ro:www.google.com\n",
        "a.cfg": "PE:0x00000001:0:255\n",
        "a.ftm": "0:0:4d5a:MS-EXE/DLL:CL_TYPE_ANY:CL_TYPE_MSEXE\n",
        "a.crb": `Test.Trust;1;${"ab".repeat(20)};;c0ffee;010001;1;0;0;;comment\n`,
        "a.ndb": `N.Body-1:0:*:${hex("body-needle")}\nVi.Body-1:1:VI:${hex("V\0I\0")}000000\n`,
        "a.ldb": `L.Logic-1;Engine:51-255,Target:0;0&2;${hex("one-a")};${hex("unread")};${hex("two-b")}\n`,
        "a.hdu": "44d88612fea8a8f36de82e1278abb02f:68:PUA.Test.Hdu-1\n",
        "a.ndu": `PUA.Test.Ndu-1:0:*:${hex("pua-body")}\n`,
      };
      mkdirSync(join(d, "db"));
      for (const [n, t] of Object.entries(files)) writeFileSync(join(d, "db", n), t);
      mkdirSync(join(d, "t"));
      writeFileSync(join(d, "t", "x"), "nothing here");
      const known = (out: string) => Number(/Known viruses: (\d+)/.exec(out)?.[1]);
      for (const extra of [[], ["--detect-pua"]]) {
        const c = spawnSync(
          "clamscan",
          [...(extra.length ? ["--detect-pua=yes"] : []), "-d", join(d, "db"), join(d, "t")],
          { encoding: "utf8" },
        );
        const v = spawnSync(
          process.execPath,
          [BIN, "scan", "--no-builtin", "--no-cache", ...extra, "-d", join(d, "db"), join(d, "t")],
          { encoding: "utf8" },
        );
        expect(known(c.stdout), c.stderr).toBe(extra.length ? 10 : 8);
        expect(known(v.stdout + v.stderr), v.stderr).toBe(known(c.stdout));
        expect(v.status).toBe(0);
      }
    });

    it(".cdb container metadata: archive members matched by name, position, sizes and encryption as clamscan", () => {
      const d = mkdtempSync(join(tmpdir(), "vigil-cdb-"));
      mkdirSync(join(d, "t"));
      const payload = "x".repeat(300);
      writeFileSync(
        join(d, "t", "named.zip"),
        makeZip([
          { name: "readme.txt", data: "hello" },
          { name: "dir/payload.exe", data: payload },
        ]),
      );
      writeFileSync(join(d, "t", "first.zip"), makeZip([{ name: "payload.exe", data: payload, method: 0 }]));
      writeFileSync(
        join(d, "t", "locked.zip"),
        makeZip([{ name: "secret.doc", data: "locked content", flags: 1, method: 0 }]),
      );
      writeFileSync(join(d, "t", "clean.zip"), makeZip([{ name: "other.txt", data: "nothing" }]));
      writeFileSync(
        join(d, "db.cdb"),
        [
          "C.Name-1:CL_TYPE_ZIP:*:payload\\.exe$:*:*:0:*:*:*",
          "C.Second-1:CL_TYPE_ZIP:*:*:*:300:*:2:*:*",
          "C.Stored-1:CL_TYPE_ZIP:*:*:300:*:*:1:*:*",
          "C.Locked-1:CL_TYPE_ZIP:*:\\.doc$:*:*:1:*:*:*",
          "C.Rar-1:CL_TYPE_RAR:*:payload:*:*:*:*:*:*",
          "",
        ].join("\n"),
      );
      const lines = (out: string) =>
        [
          ...new Set(
            out
              .split("\n")
              .filter((l) => l.endsWith(" FOUND"))
              .map((l) => relative(join(d, "t"), l).replace(/!.*?:/, ":")),
          ),
        ].sort();
      for (const extra of [[], ["-z"]]) {
        const c = lines(
          spawnSync("clamscan", ["--no-summary", ...extra, "-d", join(d, "db.cdb"), join(d, "t")], { encoding: "utf8" })
            .stdout,
        );
        const v = lines(
          spawnSync(
            process.execPath,
            [
              BIN,
              "scan",
              "--no-builtin",
              "--no-cache",
              "--no-summary",
              ...extra,
              "-d",
              join(d, "db.cdb"),
              join(d, "t"),
            ],
            { encoding: "utf8" },
          ).stdout,
        );
        expect(v, extra.join(" ")).toEqual(c);
        if (extra.length)
          expect(c).toEqual([
            "first.zip: C.Name-1.UNOFFICIAL FOUND",
            "first.zip: C.Stored-1.UNOFFICIAL FOUND",
            "locked.zip: C.Locked-1.UNOFFICIAL FOUND",
            "named.zip: C.Name-1.UNOFFICIAL FOUND",
            "named.zip: C.Second-1.UNOFFICIAL FOUND",
          ]);
      }
    });

    it("-z/--allmatch: without it the one detection clamscan reports first, with it every detection, as clamscan", () => {
      const d = mkdtempSync(join(tmpdir(), "vigil-allmatch-"));
      const hex = (s: string) => Buffer.from(s).toString("hex");
      mkdirSync(join(d, "t"));
      const files: Record<string, string> = {
        // two bodies (the later in the database matches earlier in the file), a hash, a logical signature
        all: "hello needle-one needle-two",
        hashAndLogic: "hello there",
        logicOnly: "hello world",
      };
      for (const [n, text] of Object.entries(files)) writeFileSync(join(d, "t", n), text);
      const md5 = (s: string) => createHash("md5").update(s).digest("hex");
      writeFileSync(
        join(d, "a.hdb"),
        `${md5(files.all!)}:${files.all!.length}:Z.Hash-1\n${md5(files.hashAndLogic!)}:${files.hashAndLogic!.length}:Z.Hash-2\n`,
      );
      writeFileSync(join(d, "b.ndb"), `A.Body-1:0:*:${hex("needle-two")}\nB.Body-2:0:*:${hex("needle-one")}\n`);
      writeFileSync(join(d, "c.ldb"), `C.Logic-1;Engine:51-255,Target:0;0;${hex("hello")}\n`);
      const dbs = ["a.hdb", "b.ndb", "c.ldb"].map((n) => join(d, n));
      // (clamscan -z prints some detections twice, once per pass over the file: compared as sets)
      const lines = (out: string) =>
        [
          ...new Set(
            out
              .split("\n")
              .filter((l) => l.endsWith(" FOUND"))
              .map((l) => relative(join(d, "t"), l)),
          ),
        ].sort();
      const run = (extra: string[]) => ({
        clam: lines(
          spawnSync("clamscan", ["--no-summary", ...extra, ...dbs.flatMap((x) => ["-d", x]), join(d, "t")], {
            encoding: "utf8",
          }).stdout,
        ),
        vigil: lines(
          spawnSync(
            process.execPath,
            [
              BIN,
              "scan",
              "--no-builtin",
              "--no-cache",
              "--no-summary",
              ...extra,
              ...dbs.flatMap((x) => ["-d", x]),
              join(d, "t"),
            ],
            { encoding: "utf8" },
          ).stdout,
        ),
      });
      const one = run([]);
      expect(one.clam).toEqual([
        "all: B.Body-2.UNOFFICIAL FOUND",
        "hashAndLogic: Z.Hash-2.UNOFFICIAL FOUND",
        "logicOnly: C.Logic-1.UNOFFICIAL FOUND",
      ]);
      expect(one.vigil).toEqual(one.clam);
      const every = run(["-z"]);
      expect(every.clam).toHaveLength(7);
      expect(every.vigil).toEqual(every.clam);
      expect(run(["--allmatch"]).vigil).toEqual(every.clam);
    });
  },
);
