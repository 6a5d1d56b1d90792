import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  builtinKeys,
  builtinPackPaths,
  evaluate,
  loadPack,
  parseRpmHeader,
  rpmSource,
  scanExecutables,
  SqliteFile,
} from "@vigil/inventory";
import { makeTree, needs } from "@vigil/test-kit";

const cleanups: Array<() => void> = [];
afterAll(() => cleanups.forEach((c) => c()));
function tree(spec: Parameters<typeof makeTree>[0]): string {
  const t = makeTree(spec);
  cleanups.push(t.cleanup);
  return t.root;
}

/** An rpm header blob: il, dl, index entries (tag, type, offset, count), data. */
function rpmHeader(f: {
  name: string;
  version: string;
  release: string;
  epoch?: number;
  installtime?: number;
  vendor?: string;
  arch?: string;
  files?: string[];
}): Buffer {
  const entries: Array<[number, number, Buffer, number]> = [];
  const str = (tag: number, s: string) => entries.push([tag, 6, Buffer.from(s + "\0"), 1]);
  str(1000, f.name);
  str(1001, f.version);
  str(1002, f.release);
  if (f.epoch !== undefined) {
    const b = Buffer.alloc(4);
    b.writeInt32BE(f.epoch);
    entries.push([1003, 4, b, 1]);
  }
  if (f.installtime !== undefined) {
    const b = Buffer.alloc(4);
    b.writeInt32BE(f.installtime);
    entries.push([1008, 4, b, 1]);
  }
  if (f.vendor) str(1011, f.vendor);
  str(1022, f.arch ?? "x86_64");
  entries.push([1004, 9, Buffer.from(`the ${f.name} package\0`), 1]);
  if (f.files?.length) {
    const dirs = [...new Set(f.files.map((p) => p.slice(0, p.lastIndexOf("/") + 1)))];
    const idx = Buffer.alloc(f.files.length * 4);
    f.files.forEach((p, i) => idx.writeInt32BE(dirs.indexOf(p.slice(0, p.lastIndexOf("/") + 1)), i * 4));
    entries.push([1116, 4, idx, f.files.length]);
    entries.push([
      1117,
      8,
      Buffer.from(f.files.map((p) => p.slice(p.lastIndexOf("/") + 1) + "\0").join("")),
      f.files.length,
    ]);
    entries.push([1118, 8, Buffer.from(dirs.map((d) => d + "\0").join("")), dirs.length]);
  }
  const data: Buffer[] = [];
  let off = 0;
  const index = Buffer.alloc(entries.length * 16);
  entries.forEach(([tag, type, bytes, count], i) => {
    if (type === 4 && off % 4) {
      const padding = 4 - (off % 4);
      data.push(Buffer.alloc(padding));
      off += padding;
    }
    index.writeUInt32BE(tag, i * 16);
    index.writeUInt32BE(type, i * 16 + 4);
    index.writeUInt32BE(off, i * 16 + 8);
    index.writeUInt32BE(count, i * 16 + 12);
    data.push(bytes);
    off += bytes.length;
  });
  const head = Buffer.alloc(8);
  head.writeUInt32BE(entries.length, 0);
  head.writeUInt32BE(off, 4);
  return Buffer.concat([head, index, ...data]);
}

/** Writes rpmdb.sqlite with rpm's schema, through Python's sqlite3 module (the real SQLite library). */
function makeRpmdb(dir: string, blobs: Buffer[], pageSize = 4096): string {
  mkdirSync(dir, { recursive: true });
  const blobFile = join(dir, "blobs.bin");
  writeFileSync(
    blobFile,
    Buffer.concat(
      blobs.flatMap((b) => {
        const l = Buffer.alloc(4);
        l.writeUInt32BE(b.length);
        return [l, b];
      }),
    ),
  );
  const db = join(dir, "rpmdb.sqlite");
  execFileSync("python3", [
    "-c",
    `
import sqlite3, struct, sys
con = sqlite3.connect(sys.argv[1])
con.execute("PRAGMA page_size=${pageSize}")
con.execute("CREATE TABLE 'Packages' (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
con.execute("CREATE TABLE 'Name' (key 'TEXT' NOT NULL, hnum INTEGER NOT NULL, idx INTEGER NOT NULL, FOREIGN KEY (hnum) REFERENCES 'Packages'(hnum))")
data = open(sys.argv[2], 'rb').read()
at = 0
while at < len(data):
    (n,) = struct.unpack('>I', data[at:at+4]); at += 4
    cur = con.execute("INSERT INTO Packages (blob) VALUES (?)", (data[at:at+n],)); at += n
    con.execute("INSERT INTO Name VALUES (?, ?, 0)", ("x", cur.lastrowid))
con.commit()
con.close()
`,
    db,
    blobFile,
  ]);
  return db;
}

describe.skipIf(needs("rpm (SQLite rpmdb built with python3's sqlite3)", { tools: ["python3"] }))(
  "rpm (SQLite rpmdb)",
  () => {
    const many = Array.from({ length: 300 }, (_, i) =>
      rpmHeader({
        name: `pkg${i}`,
        version: `1.${i}`,
        release: "1.el9",
        vendor: "Rocky Enterprise Software Foundation",
        files: Array.from({ length: i % 50 === 0 ? 1500 : 3 }, (_, j) => `/usr/share/pkg${i}/dir${j % 7}/file${j}`),
      }),
    );
    const kesl = rpmHeader({
      name: "kesl",
      version: "12.1.0",
      release: "1297",
      epoch: 2,
      installtime: 1722686400,
      vendor: "AO Kaspersky Lab",
      files: ["/opt/kaspersky/kesl/bin/kesl", "/etc/opt/kaspersky/kesl.conf"],
    });
    const root = tree({ "opt/kaspersky/kesl/bin/kesl": readFileSync("/bin/true") });
    makeRpmdb(join(root, "var/lib/rpm"), [...many.slice(0, 150), kesl, ...many.slice(150)]);

    it("reads every package, with epoch:version-release, vendor and files (b-tree interior pages and overflow chains)", async () => {
      const { entries, problems } = await rpmSource({ root });
      expect(problems).toEqual([]);
      expect(entries).toHaveLength(301);
      expect(entries.map((e) => e.name).slice(149, 152)).toEqual(["pkg149", "kesl", "pkg150"]);
      const k = entries[150]!;
      expect(k).toMatchObject({
        name: "kesl",
        version: "2:12.1.0-1297",
        vendor: "AO Kaspersky Lab",
        installPath: "/opt/kaspersky",
        source: "rpm",
        installedAt: "2024-08-03T12:00:00.000Z",
      });
      expect(k.files).toEqual(["/opt/kaspersky/kesl/bin/kesl", "/etc/opt/kaspersky/kesl.conf"]);
      const big = entries.find((e) => e.name === "pkg100")!;
      expect(big.files).toHaveLength(1500);
      expect(big.files![1499]).toBe("/usr/share/pkg100/dir1/file1499");
      expect(big.extra).toMatchObject({ architecture: "x86_64", summary: "the pkg100 package" });
    });

    it("matches the Kaspersky pack, and owns its files", async () => {
      const { entries } = await rpmSource({ root });
      const packs = builtinPackPaths().map((p) => loadPack(p, builtinKeys()));
      const scan = await scanExecutables([join(root, "opt")], { root, entries });
      const findings = evaluate(entries, scan.files, packs, new Date("2025-01-01T00:00:00Z"));
      expect(
        findings.map((f) =>
          f.subject.kind === "entry" ? f.subject.entry.name : f.subject.file.path.slice(root.length),
        ),
      ).toEqual(["kesl", "/opt/kaspersky/kesl/bin/kesl"]);
      expect(findings[0]!.evidence.map((e) => e.kind)).toEqual(["package", "publisher"]);
      expect(findings[0]!.changedAfter?.map((p) => p.effective)).toEqual(["2024-07-20"]);
    });

    it("other page sizes", async () => {
      for (const ps of [512, 65536]) {
        const r = tree({});
        makeRpmdb(join(r, "usr/lib/sysimage/rpm"), many.slice(0, 60), ps);
        const { entries, problems } = await rpmSource({ root: r });
        expect(problems).toEqual([]);
        expect(entries).toHaveLength(60);
        expect(entries[50]!.files).toHaveLength(1500);
      }
    });

    it("damaged databases are problems, never crashes or hangs", async () => {
      const db = readFileSync(join(root, "var/lib/rpm/rpmdb.sqlite"));
      const ps = new SqliteFile(db).pageSize;
      for (let i = 0; i < 60; i++) {
        const c = Buffer.from(db);
        // damage page headers, cell pointers and overflow page numbers
        const page = (i * 7) % Math.floor(c.length / ps);
        for (let j = 0; j < 6; j++)
          c[page * ps + (page === 0 ? 100 : 0) + ((i * 13 + j * 5) % 24)] = (i * 37 + j * 11) & 0xff;
        const r = tree({ "var/lib/rpm/rpmdb.sqlite": c });
        const out = await rpmSource({ root: r });
        expect(out.entries.length + out.problems.length).toBeGreaterThan(0);
      }
      const r = tree({ "var/lib/rpm/rpmdb.sqlite": db.subarray(0, 5000), "usr/lib/sysimage/rpm/Packages": "bdb" });
      const out = await rpmSource({ root: r });
      expect(out.problems).toHaveLength(1);
      const old = tree({ "var/lib/rpm/Packages": "bdb" });
      expect((await rpmSource({ root: old })).problems[0]!.message).toMatch(/Berkeley DB or ndb format are not read/);
      expect(parseRpmHeader(new Uint8Array([0, 0, 0, 9, 0, 0, 0, 0]))).toBeUndefined();
    });
  },
);
