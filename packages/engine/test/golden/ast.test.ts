/**
 * Golden tests for the AST of tricky inputs (precedence, quantifiers, hex strings, modules,
 * modifiers, numbers): `ast/NAME.in` parses to the tree in `ast/NAME.out` (positions left out).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { parse } from "../../src/index.js";

const dir = join(__dirname, "ast");
const update = process.env.VIGIL_UPDATE_GOLDEN === "1";

function print(node: unknown): string {
  return JSON.stringify(node, (key, value) => (key === "pos" || key === "end" || key === "path" ? undefined : typeof value === "bigint" ? `${value}n` : value), 2);
}

describe("golden ASTs", () => {
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".in")).sort()) {
    test(file, () => {
      const text = print(parse(readFileSync(join(dir, file), "latin1"))) + "\n";
      const golden = join(dir, file.replace(/\.in$/, ".out"));
      if (update || !existsSync(golden)) writeFileSync(golden, text);
      expect(text).toBe(readFileSync(golden, "utf8"));
    });
  }
});
