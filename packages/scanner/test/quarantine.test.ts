import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Quarantine, ScannerError, parseAge } from "../src/index.js";
import { starter } from "./helpers/detector.js";
import { EICAR } from "@vigil/test-kit";

const fresh = () => {
  const d = mkdtempSync(join(tmpdir(), "vigil-q-"));
  return { d, vault: new Quarantine(join(d, "vault")) };
};

describe("quarantine", () => {
  it("round trip: exact bytes, mode, times; the vault does not trigger detection", () => {
    const { d, vault } = fresh();
    const f = join(d, "eicar.com");
    const bytes = Buffer.concat([Buffer.from(EICAR), Buffer.alloc(20, 0x20)]);
    writeFileSync(f, bytes);
    chmodSync(f, 0o640);
    if (process.getuid?.() === 0) chownSync(f, 65534, 65534);
    utimesSync(f, new Date("2020-01-02T03:04:05Z"), new Date("2021-02-03T04:05:06Z"));
    const e = vault.add(f, { detections: ["Win.Test.EICAR_HDB-1"], rulesVersion: "r1" });
    expect(existsSync(f)).toBe(false);
    expect(e).toMatchObject({
      originalPath: f,
      size: bytes.length,
      mode: 0o640,
      detections: ["Win.Test.EICAR_HDB-1"],
      rulesVersion: "r1",
    });
    // nothing in the vault is detected by our engine
    for (const n of readdirSync(vault.dir)) {
      expect(starter().detector.scan(readFileSync(join(vault.dir, n)), { path: n, size: 0 })).toEqual([]);
      expect(readFileSync(join(vault.dir, n)).includes(Buffer.from("EICAR-STANDARD"))).toBe(false);
    }
    expect(vault.list().map((x) => x.id)).toEqual([e.id]);
    expect(vault.restore(e.id)).toBe(f);
    expect(readFileSync(f)).toEqual(bytes);
    const st = statSync(f);
    expect(st.mode & 0o7777).toBe(0o640);
    if (process.getuid?.() === 0) expect([st.uid, st.gid]).toEqual([65534, 65534]);
    expect(st.mtime.toISOString()).toBe("2021-02-03T04:05:06.000Z");
    expect(vault.list()).toEqual([]);
  });

  it("restore refuses to overwrite unless asked, and restores --to elsewhere", () => {
    const { d, vault } = fresh();
    const f = join(d, "x.bin");
    writeFileSync(f, "original");
    const e = vault.add(f, { detections: ["X"], rulesVersion: "r" });
    writeFileSync(f, "newer file");
    expect(() => vault.restore(e.id)).toThrow(expect.objectContaining({ code: "QUARANTINE_EXISTS" }));
    expect(readFileSync(f, "utf8")).toBe("newer file");
    expect(readdirSync(d).filter((n) => n.includes("vigil-restore"))).toEqual([]);
    const other = join(d, "sub", "restored.bin");
    expect(vault.restore(e.id, { to: other, keep: true })).toBe(other);
    expect(readFileSync(other, "utf8")).toBe("original");
    expect(vault.restore(e.id, { to: join(d, "sub"), keep: true })).toBe(join(d, "sub", "x.bin"));
    expect(readFileSync(join(d, "sub", "x.bin"), "utf8")).toBe("original");
    vault.restore(e.id, { overwrite: true });
    expect(readFileSync(f, "utf8")).toBe("original");
  });

  it("a damaged vault entry is refused, not restored", () => {
    const { d, vault } = fresh();
    const f = join(d, "y.bin");
    writeFileSync(f, "some content here");
    const e = vault.add(f, { detections: ["X"], rulesVersion: "r" });
    const data = join(vault.dir, `${e.id}.data`);
    const b = readFileSync(data);
    b[0] ^= 1;
    writeFileSync(data, b);
    expect(() => vault.restore(e.id)).toThrow(expect.objectContaining({ code: "QUARANTINE_CORRUPT" }));
    expect(existsSync(f)).toBe(false);
    expect(() => vault.get("../../etc/passwd")).toThrow(ScannerError);
  });

  it("purge --older-than and delete", () => {
    const { d, vault } = fresh();
    writeFileSync(join(d, "a"), "a");
    writeFileSync(join(d, "b"), "b");
    const a = vault.add(join(d, "a"), { detections: ["X"], rulesVersion: "r" });
    const b = vault.add(join(d, "b"), { detections: ["X"], rulesVersion: "r" });
    expect(vault.purge(new Date(Date.now() - parseAge("1d")))).toEqual([]);
    vault.delete(a.id);
    expect(vault.list().map((x) => x.id)).toEqual([b.id]);
    expect(vault.purge(new Date(Date.now() + 1000))).toEqual([b.id]);
    expect(readdirSync(vault.dir)).toEqual([]);
    expect(() => parseAge("soon")).toThrow(/invalid age/);
  });

  it("killed at each step: the original or a complete entry always survives", () => {
    const child = fileURLToPath(new URL("./helpers/quarantine-child.ts", import.meta.url));
    for (const step of ["copied", "meta-written", "committed", "removed", "never"]) {
      const { d, vault } = fresh();
      const f = join(d, "victim.bin");
      const bytes = Buffer.from(`payload for ${step} `.repeat(5000));
      writeFileSync(f, bytes);
      const r = spawnSync(process.execPath, ["--import", "tsx", child, vault.dir, f, step], { encoding: "utf8" });
      expect(r.signal).toBe(step === "never" ? null : "SIGKILL");
      const entries = vault.list();
      const original = existsSync(f);
      expect(original || entries.length === 1).toBe(true);
      if (step === "copied" || step === "meta-written") expect([original, entries.length]).toEqual([true, 0]);
      if (step === "committed") expect([original, entries.length]).toEqual([true, 1]);
      if (step === "removed" || step === "never") expect([original, entries.length]).toEqual([false, 1]);
      vault.cleanup();
      expect(readdirSync(vault.dir).filter((n) => n.endsWith(".tmp"))).toEqual([]);
      if (entries.length) {
        vault.restore(entries[0]!.id, { overwrite: true });
        expect(readFileSync(f)).toEqual(bytes);
      } else {
        expect(readFileSync(f)).toEqual(bytes);
      }
    }
  });
});
