/**
 * Test helper: builds a ScanContext over some bytes, as the scanner would for one scan, so a
 * module's `load(ctx)` and its functions can be called directly in tests. Shared by every
 * module's tests.
 */
import { readFileSync } from "node:fs";
import type { RegexpValue, ScanContext } from "../../src/modules/schema.js";
import { bytesToString } from "../../src/modules/schema.js";

export interface TestContext extends ScanContext {
  /** every message written through ctx.log, in order. */
  readonly logged: string[];
}

export function makeContext(data: Uint8Array | string, options: { moduleData?: Uint8Array } = {}): TestContext {
  const bytes = typeof data === "string" ? Uint8Array.from(Buffer.from(data, "latin1")) : data;
  let text: string | undefined;
  const logged: string[] = [];
  return {
    data: bytes,
    text: () => (text ??= bytesToString(bytes)),
    moduleData: options.moduleData,
    cache: new Map(),
    log: (m: string) => void logged.push(m),
    logged,
  };
}

/** A ScanContext over a file's bytes. */
export function fileContext(path: string): TestContext {
  const buf = readFileSync(path);
  return makeContext(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
}

/**
 * A RegexpValue for module functions that take a regexp (e.g. pe.exports(/^Dll/)), built from a
 * JavaScript RegExp applied to the byte string. Good enough for tests; the engine supplies its own.
 */
export function regexp(re: RegExp): RegexpValue {
  return {
    source: `/${re.source}/${re.flags}`,
    test: (s: string) => {
      re.lastIndex = 0;
      return re.test(s);
    },
  };
}

/** Calls a module function declared in `decl.fields[name]` with the overload matching `args`'s codes. */
export function callFn(
  decl: { fields: Readonly<Record<string, unknown>> },
  name: string,
  codes: string,
  self: unknown,
  ctx: ScanContext,
  ...args: unknown[]
): unknown {
  const f = decl.fields[name] as
    | { kind: "function"; overloads: ReadonlyArray<{ args: readonly string[]; impl: (...a: unknown[]) => unknown }> }
    | undefined;
  if (f?.kind !== "function") throw new Error(`${name} is not a function of this module`);
  const o = f.overloads.find((x) => x.args.join("") === codes);
  if (o === undefined) throw new Error(`${name} has no overload (${codes})`);
  return o.impl(self, ctx, ...args);
}
