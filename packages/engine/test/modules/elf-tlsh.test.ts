import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { needs } from "@vigil/test-kit";
import { tlsh } from "../../src/modules/elf/tlsh.js";

const noTlsh = needs("TLSH vs Debian's tlsh", { tools: ["tlsh"] });

describe("TLSH (used by elf.telfhash)", () => {
  test.skipIf(noTlsh)("matches Debian's tlsh on random data of every length class and on real files", () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-tlsh-"));
    const inputs: Uint8Array[] = [256, 300, 656, 657, 1000, 3199, 3200, 5000, 100_000].map(
      (n) => new Uint8Array(randomBytes(n)),
    );
    inputs.push(new TextEncoder().encode("connect,exit,fork,getenv,malloc,open,read,socket,write,".repeat(6)));
    for (const f of ["/usr/bin/ls", "/usr/bin/true", "/etc/services"])
      if (existsSync(f)) inputs.push(new Uint8Array(readFileSync(f)));
    inputs.forEach((bytes, i) => {
      const p = join(dir, `in${i}`);
      writeFileSync(p, bytes);
      const ref = spawnSync("tlsh", ["-f", p]).stdout.toString().split("\t")[0]!.trim();
      expect(tlsh(bytes), `input ${i} (${bytes.length} bytes)`).toBe(`T1${ref}`);
    });
  });

  test("inputs TLSH cannot hash give an empty digest", () => {
    expect(tlsh(new Uint8Array(49).fill(7))).toBe("");
    expect(tlsh(new Uint8Array(5000))).toBe(""); // one bucket only
    expect(tlsh(new Uint8Array(randomBytes(50)))).toMatch(/^T1[0-9A-F]{70}$/);
  });
});
