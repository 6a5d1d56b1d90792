// Issue 17, the kill -9 matrix for the quarantine: every vault operation is SIGKILLed after each
// of its write steps in turn (the killpoint preload counts them), and what it leaves behind is
// the old state or the new one: never a mix, never a loss. `cleanup()` then removes what an
// interrupted operation left (temporary files), and the file can still be restored byte for byte.
import { describe, expect, it } from "vitest";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { killMatrix } from "@vigil/test-kit";
import { Quarantine } from "../src/quarantine.js";

// the built module (npm test builds first): a child without a TypeScript loader starts faster
const child = fileURLToPath(new URL("./helpers/quarantine-op.mjs", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "vigil-qkill-"));
const vaultDir = join(root, "vault");
const home = join(root, "home");
const victim = join(home, "victim.bin");
const bytes = Buffer.from("quarantined payload ".repeat(5_000)); // two read/write chunks

function reset(withEntry: boolean): void {
  rmSync(root, { recursive: true, force: true });
  for (const d of [vaultDir, home]) mkdirSync(d, { recursive: true });
  writeFileSync(victim, bytes);
  if (withEntry) new Quarantine(vaultDir).add(victim, { detections: ["Test.Crash"], rulesVersion: "v1" });
}
const vaultFiles = () => (existsSync(vaultDir) ? readdirSync(vaultDir).sort() : []);
const besideVictim = () => readdirSync(home).filter((n) => n !== "victim.bin");

/** The invariant after any kill: the bytes exist somewhere whole, and cleanup leaves no debris. */
function assertNoLoss(where: string): void {
  const q = new Quarantine(vaultDir);
  q.cleanup();
  const entries = q.list();
  const original = existsSync(victim);
  expect(original || entries.length === 1, `${where}: the file is neither in place nor in the vault`).toBe(true);
  if (original) expect(readFileSync(victim).equals(bytes), `${where}: the file in place is not whole`).toBe(true);
  expect(besideVictim(), `${where}: debris beside the target`).toEqual([]);
  expect(
    vaultFiles().filter((n) => !/^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}\.(json|data)$/.test(n)),
    `${where}: debris in the vault`,
  ).toEqual([]);
  for (const e of entries) {
    // the entry is restorable byte for byte (elsewhere, so the original stays as found)
    const to = join(root, `check-${e.id}`);
    q.restore(e.id, { to, keep: true });
    expect(readFileSync(to).equals(bytes), `${where}: the vault entry does not restore whole`).toBe(true);
    rmSync(to);
  }
}

const args = (op: string, arg = "") => [child, vaultDir, op, arg];

describe("quarantine kill -9 matrix", () => {
  it("add: killed after each write step, the file is in place or in the vault, never lost", async () => {
    const seen = new Set<string>();
    const steps = await killMatrix({
      args: args("add", victim),
      under: root,
      reset: () => reset(false),
      check: (step, killed) => {
        const where = `add, killed after step ${step}`;
        const q = new Quarantine(vaultDir);
        seen.add(`${existsSync(victim)}/${q.list().length}`);
        if (!killed) expect([existsSync(victim), q.list().length]).toEqual([false, 1]);
        assertNoLoss(where);
      },
    });
    expect(steps).toBeGreaterThanOrEqual(4);
    // both the old state and the new one were seen among the kills
    expect(seen.has("true/0")).toBe(true);
    expect(seen.has("false/1")).toBe(true);
  });

  for (const mode of ["", "overwrite"]) {
    it(`restore${mode ? " --overwrite" : ""}: killed after each write step, restored whole or still in the vault`, async () => {
      const steps = await killMatrix({
        args: args("restore", mode),
        under: root,
        reset: () => reset(true),
        check: (step, killed) => {
          if (!killed) expect([existsSync(victim), new Quarantine(vaultDir).list().length]).toEqual([true, 0]);
          assertNoLoss(`restore ${mode}, killed after step ${step}`);
        },
      });
      expect(steps).toBeGreaterThanOrEqual(3);
    });
  }

  it("delete and purge: killed after each step, the entry is whole or gone, no orphan data after cleanup", async () => {
    for (const op of ["delete", "purge"]) {
      const steps = await killMatrix({
        args: args(op),
        under: root,
        reset: () => reset(true), // the original is now only in the vault
        check: (step) => {
          const q = new Quarantine(vaultDir);
          q.cleanup();
          const n = q.list().length;
          expect(vaultFiles().length, `${op}, killed after step ${step}`).toBe(n * 2);
          if (n === 1) {
            const to = join(root, "check");
            q.restore(q.list()[0]!.id, { to, keep: true });
            expect(readFileSync(to).equals(bytes)).toBe(true);
          }
        },
      });
      expect(steps).toBeGreaterThanOrEqual(2);
    }
  });
});
