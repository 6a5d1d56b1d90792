/**
 * In `npm test`: every crash input kept under fuzz/crashes/TARGET/ is replayed (it must now be
 * refused with the package's own error, in time), every seed is run, and each target gets a
 * short fuzzing smoke (a few hundred mutated inputs, no coverage: that is the campaign's job).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { fuzz, runOne, Mutator, rng } from "./harness.js";
import { CRASH_DIR, TARGETS, corpusOf, target } from "./targets.js";

const SMOKE_RUNS = Number(process.env.VIGIL_FUZZ_SMOKE_RUNS ?? 200);

function crashInputs(): Array<[string, string]> {
  if (!existsSync(CRASH_DIR)) return [];
  return readdirSync(CRASH_DIR).flatMap((t) =>
    readdirSync(join(CRASH_DIR, t))
      .filter((f) => f.endsWith(".bin"))
      .map((f): [string, string] => [t, f]),
  );
}

describe("the harness itself", () => {
  test("a TypeError from a target is a crash, the package's own error is not, a slow input is a hang", async () => {
    class OwnError extends Error {}
    const t = {
      name: "t",
      about: "",
      allowed: [OwnError],
      maxLen: 10,
      seeds: () => [],
      run(d: Uint8Array) {
        if (d[0] === 1) throw new OwnError("bad input");
        if (d[0] === 2) (undefined as unknown as { x: number }).x;
        if (d[0] === 3) {
          const end = Date.now() + 30;
          while (Date.now() < end);
        }
      },
    };
    expect(await runOne(t, Uint8Array.of(1), 1000)).toBeUndefined();
    expect((await runOne(t, Uint8Array.of(2), 1000))?.message).toMatch(/^TypeError/);
    expect((await runOne(t, Uint8Array.of(3), 10))?.kind).toBe("hang");
  });
  // first in the file: V8 instruments only functions compiled after coverage starts
  test("coverage guidance keeps inputs that reach new blocks (multipart grows its corpus past the seeds)", async () => {
    const { status } = await fuzz(target("multipart"), { runs: 300, seed: 3 });
    expect(status.features).toBeGreaterThan(10);
    expect(status.corpus).toBeGreaterThan(corpusOf("multipart").length);
  });
  test("mutants stay within a target's length bound (property)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }), fc.integer(), (a, b, seed) => {
        const m = new Mutator(rng(seed), 256, ["tok"]);
        return m.mutate(a, b).length <= 256;
      }),
      { numRuns: 300 },
    );
  });
});

describe("fuzz regressions: every kept crash input", () => {
  const inputs = crashInputs();
  test("the crash folders name known targets", () => {
    for (const [t] of inputs) expect(TARGETS.has(t), t).toBe(true);
  });
  test.each(inputs.length ? inputs : [["none", "none"]])("%s %s", async (t, f) => {
    if (t === "none") return;
    const tg = target(t);
    await tg.setup?.();
    try {
      const c = await runOne(tg, new Uint8Array(readFileSync(join(CRASH_DIR, t, f))), 5000);
      expect(c, c ? `${c.kind}: ${c.message}\n${c.stack}` : "").toBeUndefined();
    } finally {
      await tg.teardown?.();
    }
  });
});

describe("fuzz smoke: seeds and a few hundred mutants per target", () => {
  test.each([...TARGETS.keys()])("%s", async (name) => {
    const t = target(name);
    expect(corpusOf(name).length, `fuzz/corpus/${name} has seeds (npx tsx fuzz/make-corpus.ts)`).toBeGreaterThan(0);
    const { status, crashes } = await fuzz(t, { runs: SMOKE_RUNS, seed: 1, timeLimitMs: 5000, coverage: false });
    expect(crashes.map((c) => `${c.kind}: ${c.message}\n${c.stack}`)).toEqual([]);
    expect(status.execs).toBe(SMOKE_RUNS);
  });
});
