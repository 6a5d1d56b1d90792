/**
 * Generated differential cases: a seeded generator writes random rules (text strings with
 * random modifiers, hex strings with wildcards, jumps and alternatives, regexes with classes
 * and quantifiers, random conditions) and random files with the rules' material planted in
 * them; yara 4.2.3 and Vigil must report identical matches. Seeds are fixed, so a failure is
 * reproducible; raise ROUNDS via VIGIL_DIFF_ROUNDS for a longer sweep.
 */
import { describe, expect, test } from "vitest";
import { needs } from "@vigil/test-kit";
import { normalise, runVigil, runYara, writeFiles } from "./oracle.js";
import { Rng, makeFiles, makeRules } from "./generator.js";

const ROUNDS = Number(process.env.VIGIL_DIFF_ROUNDS ?? 6);
const TITLE = "differential: generated rules and files vs yara 4.2.3";

describe.skipIf(needs(TITLE, { tools: ["yara"] }))(TITLE, () => {
  for (let round = 0; round < ROUNDS; round++) {
    const seed = 1000 + round * 7919;
    test(`seed ${seed}: 60 random rules over 8 random files`, () => {
      const r = new Rng(seed);
      const files = makeFiles(r);
      const rules = makeRules(r, 60);
      const dir = writeFiles(files);
      const y = runYara(rules, dir);
      expect(y.status, y.stderr).toBe(0);
      const yy = normalise(y.outcome),
        vv = normalise(runVigil(rules, dir));
      const diffs: string[] = [];
      for (const f of Object.keys(files)) {
        for (const rule of new Set([...Object.keys(yy[f] ?? {}), ...Object.keys(vv[f] ?? {})])) {
          const a = JSON.stringify(yy[f]?.[rule]),
            b = JSON.stringify(vv[f]?.[rule]);
          if (a !== b)
            diffs.push(
              `${f} ${rule}\n  rule: ${rules.split("\n").find((l) => l.startsWith(`rule ${rule} `))}\n  yara:  ${a}\n  vigil: ${b}`,
            );
        }
      }
      expect(diffs.join("\n")).toBe("");
    });
  }
});
