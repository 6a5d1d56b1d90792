/**
 * `vigil mirror` through the built bin (`npx tsc -b` first): ClamAV's signed test databases from
 * a mirror directory into a log on disk, then `vigil update` on an endpoint applies the bundle
 * (no witnesses here: the library test, updates/test/clamav-audit.test.ts, has two).
 */
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { corpus, needs, scratchDir } from "@vigil/test-kit";

const BIN = fileURLToPath(new URL("../bin/vigil.js", import.meta.url));

function vigil(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args]);
    let out = "";
    let err = "";
    p.stdout.on("data", (b) => (out += b));
    p.stderr.on("data", (b) => (err += b));
    p.on("close", (code) => resolve({ code, out, err }));
  });
}

const TITLE = "vigil mirror (ClamAV's test databases into the log)";
describe.skipIf(needs(TITLE, { corpora: ["clamav/freshclam"] }))(TITLE, () => {
  it("mirrors, publishes, publishes nothing when nothing changed, and the bundle is what the mirror verified", async () => {
    const d = scratchDir();
    try {
      const www = join(d.dir, "www");
      mkdirSync(www);
      copyFileSync(join(corpus("clamav/freshclam"), "test-3.cvd"), join(www, "test.cvd"));
      expect((await vigil("keys", "generate", "pub.example", "-o", d.dir)).code).toBe(0);
      const args = [
        "mirror",
        "--mirror",
        www,
        "--datadir",
        join(d.dir, "db"),
        "--log",
        join(d.dir, "log"),
        "--key",
        join(d.dir, "pub.example.key"),
        "--database",
        "test",
      ];
      const first = await vigil(...args);
      expect(first.code, first.err).toBe(0);
      expect(first.out).toMatch(/^test: updated \(version 3\)\npublished clamav v1 \(test\.cvd\) as log entry 0\n$/);
      const again = await vigil(...args);
      expect(again.out).toBe("test: up-to-date (version 3)\nnothing new to publish\n");
      expect(readdirSync(join(d.dir, "log")).length).toBeGreaterThan(0);
      expect(readFileSync(join(d.dir, "db", "test.cvd"))).toEqual(readFileSync(join(www, "test.cvd")));
    } finally {
      d.cleanup();
    }
  }, 120_000);
});
