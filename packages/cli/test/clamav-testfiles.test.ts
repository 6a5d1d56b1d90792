// Debian's clamav-testfiles: clam.exe in 44 forms (archives, documents, mail, installers,
// packers). With the one-line hash signature of clam.exe, clamscan is the oracle:
// - every file Vigil detects, clamscan detects too, and where clamscan prints a member path
//   (it prints the top-level file only, today) Vigil's path starts with it;
// - every file clamscan detects and Vigil does not is reported "not fully scanned" (never OK).
// The test does not depend on which readers have landed: each new one raises "vigil finds N of 44".
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { needs } from "@vigil/test-kit";

const BIN = fileURLToPath(new URL("../bin/vigil.js", import.meta.url));
const DIR = "/usr/share/clamav-testfiles";
const SIG = "aa15bcf478d165efd2065190eb473bcb:544:ClamAV-Test-File\n";

/** file name (top level) -> the paths printed for it, by verdict word */
function parse(out: string): Map<string, { found: string[]; incomplete: string[]; ok: boolean }> {
  const m = new Map<string, { found: string[]; incomplete: string[]; ok: boolean }>();
  const entry = (path: string) => {
    const top = path.slice(DIR.length + 1).replace(/!.*$/, "");
    let e = m.get(top);
    if (!e) m.set(top, (e = { found: [], incomplete: [], ok: false }));
    return e;
  };
  for (const line of out.split("\n")) {
    let x = /^(.*?): (\S+) FOUND$/.exec(line);
    if (x?.[1]?.startsWith(`${DIR}/`)) {
      entry(x[1]).found.push(x[1]);
      continue;
    }
    x = /^(.*?): Not fully scanned \(([a-z-]+)\): .* WARNING$/.exec(line);
    if (x?.[1]?.startsWith(`${DIR}/`)) {
      entry(x[1]).incomplete.push(x[1]);
      continue;
    }
    x = /^(.*?): OK$/.exec(line);
    if (x?.[1]?.startsWith(`${DIR}/`)) entry(x[1]).ok = true;
  }
  return m;
}

describe.skipIf(
  needs("clamav-testfiles vs clamscan", { tools: ["clamscan"], debianFiles: ["/usr/share/clamav-testfiles"] }),
)("clamav-testfiles: vigil scan against clamscan with the hash of clam.exe", () => {
  it("what Vigil finds clamscan finds; what it does not find is never OK", () => {
    const d = mkdtempSync(join(tmpdir(), "vigil-ctf-all-"));
    const db = join(d, "test.hdb");
    writeFileSync(db, SIG);
    const files = readdirSync(DIR).sort();
    expect(files.length).toBeGreaterThanOrEqual(44);
    const c = spawnSync("clamscan", ["--no-summary", "-d", db, DIR], { encoding: "utf8", maxBuffer: 16 << 20 });
    const v = spawnSync(
      process.execPath,
      [BIN, "scan", "--no-builtin", "--no-cache", "--no-summary", "-a", "-d", db, DIR],
      { encoding: "utf8", maxBuffer: 16 << 20, timeout: 240_000 },
    );
    expect(v.error).toBeUndefined();
    expect(v.stderr).not.toMatch(/Error|crash|TypeError|RangeError/);
    const clam = parse(c.stdout);
    const vig = parse(v.stdout);
    const clamFound = files.filter((f) => clam.get(f)?.found.length);
    // the oracle sees what Debian ships: clam.exe in every form
    expect(clamFound).toEqual(files);
    const found: string[] = [];
    const missed: string[] = [];
    for (const f of files) {
      const e = vig.get(f) ?? { found: [], incomplete: [], ok: false };
      if (e.found.length) {
        found.push(f);
        expect(clam.get(f)?.found.length, `${f}: Vigil detects what clamscan does not`).toBeGreaterThan(0);
        // clamscan's printed path (the top-level file) begins each of Vigil's (outer!inner)
        for (const p of e.found)
          for (const cp of clam.get(f)!.found) expect(p === cp || p.startsWith(`${cp}!`), p).toBe(true);
      } else {
        missed.push(f);
        expect(e.ok, `${f}: clamscan finds clam.exe in it, Vigil printed OK`).toBe(false);
        expect(e.incomplete.length, `${f}: not found and not reported "not fully scanned"`).toBeGreaterThan(0);
      }
    }
    console.log(`vigil finds ${found.length} of ${files.length} (not fully scanned: ${missed.join(", ") || "none"})`);
    // the forms Vigil opens stay found, each with its member path (clam.exe inside)
    for (const f of ["clam.exe", "clam.zip", "clam.bz2.zip", "clam.tar.gz", "clam.exe.bz2", "clam_cache_emax.tgz"])
      expect(found, f).toContain(f);
    for (const f of [
      "clam.odc.cpio",
      "clam.newc.cpio",
      "clam.bin-le.cpio",
      "clam.bin-be.cpio",
      "clam.exe.szdd",
      "clam.sis",
      "clam.impl.zip",
      "clam.d64.zip",
    ]) {
      expect(found, f).toContain(f);
      expect(vig.get(f)!.found, f).toEqual([`${DIR}/${f}!${f === "clam.impl.zip" ? "CLAM.EXE" : "clam.exe"}`]);
    }
    // and every other family with a reader of its own (7-Zip's formats, documents, mail,
    // executables): 37 of 44 when these were written; 44 with ASPack, Petite, MEW, Upack, PESpin
    // and the InstallShield cabinets
    for (const f of [
      "clam.7z",
      "clam.arj",
      "clam.cab",
      "clam.chm",
      "clam-nsis.exe",
      "clam.ole.doc",
      "clam.ppt",
      "clam.pdf",
      "clam.exe.rtf",
      "clam.mail",
      "clam.exe.mbox.base64",
      "clam.exe.mbox.uu",
      "clam.exe.binhex",
      "clam.tnef",
      "clam.exe.html",
      "clam-upx.exe",
      "clam-yc.exe",
      "clam-wwpack.exe",
      "clam-fsg.exe",
      "clam-aspack.exe",
      "clam-petite.exe",
      "clam-mew.exe",
      "clam-upack.exe",
      "clam.ea05.exe",
      "clam.ea06.exe",
      "clam_ISmsi_ext.exe",
      "clam_ISmsi_int.exe",
    ])
      expect(found, f).toContain(f);
    // the packers unpacked and rebuilt as ClamAV does: clam.exe found inside the rebuilt image
    expect(vig.get("clam-aspack.exe")!.found).toEqual([`${DIR}/clam-aspack.exe!ASPack!PE@16864.exe`]);
    expect(vig.get("clam-petite.exe")!.found).toEqual([`${DIR}/clam-petite.exe!Petite!ZIP@5740.zip!clam.exe`]);
    // InstallShield setups (the overlay's files, the cabinets through data1.hdr) and PESpin
    for (const [f, path] of [
      ["clam_IScab_ext.exe", "clam.exe"],
      ["clam_IScab_int.exe", "data2.cab!clam.exe"],
      ["clam-pespin.exe", "PESpin!PE@6112.exe"],
    ] as const)
      expect(vig.get(f)?.found, f).toEqual([`${DIR}/${f}!${path}`]);
    for (const [f, path] of [
      ["clam-mew.exe", "MEW!ZIP@17004.zip!clam.exe"],
      ["clam-upack.exe", "Upack!ZIP@16492.zip!clam.exe"],
    ] as const)
      expect(vig.get(f)?.found, f).toEqual([`${DIR}/${f}!${path}`]);
    expect(found.length).toBeGreaterThanOrEqual(44);
  }, 300_000);
});
