// Issue 15, executables: `vigil scan` (the built bin) against clamscan on the clamav-testfiles
// forms Vigil opens inside executables (UPX, yC, WWPack, AutoIt EA05/EA06, InstallShield MSI, an embedded
// PE), with the one-line hash signature of clam.exe: the same files found, and Vigil prints the
// member path where the hash matched.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { needs } from "@vigil/test-kit";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../bin/vigil.js", import.meta.url));
const TESTFILES = "/usr/share/clamav-testfiles";
const FILES = [
  "clam-upx.exe",
  "clam-yc.exe",
  "clam-wwpack.exe",
  "clam.ea05.exe",
  "clam.ea06.exe",
  "clam_ISmsi_ext.exe",
  "clam-fsg.exe",
];

describe.skipIf(needs("vigil scan vs clamscan on executables", { tools: ["clamscan"], debianFiles: [TESTFILES] }))(
  "executables: vigil scan vs clamscan 1.4.6",
  () => {
    it("clamav-testfiles with the clam.exe hash: same files found, member paths printed", () => {
      const d = mkdtempSync(join(tmpdir(), "vigil-exe-"));
      const t = join(d, "t");
      mkdirSync(t);
      for (const f of FILES) cpSync(join(TESTFILES, f), join(t, f));
      const db = join(d, "test.hdb");
      writeFileSync(db, "aa15bcf478d165efd2065190eb473bcb:544:ClamAV-Test-File\n");
      const c = spawnSync("clamscan", ["-r", "--no-summary", "--infected", "-d", db, t], { encoding: "utf8" });
      const v = spawnSync(
        process.execPath,
        [BIN, "scan", "--no-builtin", "--no-cache", "-i", "--no-summary", "-d", db, t],
        {
          encoding: "utf8",
        },
      );
      const lines = (out: string) =>
        out
          .trim()
          .split("\n")
          .map((l) => l.replace(t + "/", ""))
          .sort();
      expect(lines(c.stdout)).toEqual(FILES.map((f) => `${f}: ClamAV-Test-File.UNOFFICIAL FOUND`).sort());
      expect(lines(v.stdout)).toEqual(
        [
          "clam-upx.exe!UPX!PE@19936.exe",
          "clam-yc.exe!yC!UPX!PE@19936.exe",
          "clam-wwpack.exe!WWPack!ZIP@20076.zip!clam.exe",
          "clam.ea05.exe!AUTOIT@206848.au3!clam.exe",
          "clam.ea06.exe!AUTOIT@252928.au3!clam.exe",
          "clam_ISmsi_ext.exe!ISHIELD-MSI@915561.ismsi!clam.exe409.bmp",
          "clam-fsg.exe!PE@6112.exe",
        ]
          .map((p) => `${p}: ClamAV-Test-File.UNOFFICIAL FOUND`)
          .sort(),
      );
      expect(v.status).toBe(c.status);
    });
  },
);
