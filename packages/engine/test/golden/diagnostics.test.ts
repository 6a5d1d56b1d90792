/**
 * Golden tests for diagnostics: each `errors/NAME.in` is compiled and the exact text of the
 * error (code, message, file:line:column, source line and caret) must equal `errors/NAME.out`.
 * Set VIGIL_UPDATE_GOLDEN=1 to rewrite the .out files after an intended change.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { compile, CompileError, formatDiagnostic } from "../../src/index.js";

const dir = join(__dirname, "errors");
const update = process.env.VIGIL_UPDATE_GOLDEN === "1";

describe("golden diagnostics", () => {
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".in")).sort()) {
    test(file, () => {
      const source = readFileSync(join(dir, file), "latin1");
      let text = "compiled without error\n";
      try {
        compile([{ source, path: file }], { includeDir: dir });
      } catch (e) {
        if (!(e instanceof CompileError)) throw e;
        text = e.diagnostics.map((d) => formatDiagnostic(d)).join("\n") + "\n";
      }
      const golden = join(dir, file.replace(/\.in$/, ".out"));
      if (update || !existsSync(golden)) writeFileSync(golden, text);
      expect(text).toBe(readFileSync(golden, "utf8"));
      expect(text).not.toBe("compiled without error\n");
    });
  }
});
