/**
 * @vigil/engine: a YARA-compatible rule engine in TypeScript.
 *
 * Pipeline (one way, each stage knows nothing of the next):
 *   source text --parser.ts--> AST (ast.ts; compile() takes a file's rules one by one as
 *                              they are parsed, when the file has no includes and no late imports)
 *     --compiler.ts--> RuleSetData: rules, strings compiled to patterns (patterns.ts, regex.ts)
 *                      and conditions emitted as JavaScript source
 *     --rules.ts--> CompiledRules: atom tables + condition functions; scan(bytes) -> matches,
 *                   hex strings and regexes verified at atom hits by vm.ts (linear-time matcher).
 * format.ts prints a parsed file back as canonical source (`vigil yara fmt`).
 * CompiledRules serialise to JSON (`serialize()` / `loadRules()`) so workers share them
 * without recompiling. Modules (pe, elf, math, hash, ...) plug in through a typed schema
 * (modules/schema.ts). The core does no I/O; include files are read through `readFile`
 * (by default node:fs, see include.ts). Generated conditions of any length compile (chains are
 * compiled in loops); what stays limited (nesting, regex length) is a CompileError with a
 * position. A scan past its time limit throws ScanError SCAN_TIMEOUT whose `partial` holds
 * the rules known to match before it.
 *
 * ```ts
 * const rules = compile('rule r { strings: $a = "evil" condition: $a }');
 * rules.scan(new TextEncoder().encode("so evil")).matches[0].rule; // "r"
 * ```
 */
import type { RuleFile } from "./ast.js";
import { Compiler, type ExternalValue } from "./compiler.js";
import { CompileError, DiagnosticError, LoadError } from "./error.js";
import { parseEachRule, toByteString } from "./parser.js";
import { CompiledRules } from "./rules.js";
import { defaultReadFile, dirnameOf, resolvePath } from "./include.js";

export interface SourceUnit {
  namespace?: string;
  source: string;
  path?: string;
}

export interface CompileOptions {
  /** external variables and their default values (their types come from the values). */
  externals?: Record<string, ExternalValue>;
  /** directory against which includes of a source without a path are resolved. */
  includeDir?: string;
  /** reads an included file (absolute path) as bytes or a latin1 string; defaults to node:fs. */
  readFile?: (path: string) => string | Uint8Array;
  /** allow `include` at all (default true). */
  includes?: boolean;
}

export function compile(sources: string | SourceUnit[], options: CompileOptions = {}): CompiledRules {
  const units: SourceUnit[] = typeof sources === "string" ? [{ source: sources }] : sources;
  const externals = new Map<string, ExternalValue>(Object.entries(options.externals ?? {}));
  const compiler = new Compiler(externals);
  const readFile = options.readFile ?? defaultReadFile;
  try {
    const importsByNs = new Map<string, Set<string>>();
    for (const unit of units) {
      const ns = unit.namespace ?? "default";
      let imports = importsByNs.get(ns);
      if (!imports) {
        imports = new Set();
        importsByNs.set(ns, imports);
      }
      const addTree = (text: string, path: string | undefined, stack: string[]) => {
        const source = toByteString(text);
        // A file without includes, whose imports all come before its first rule, is compiled
        // rule by rule as it is parsed, so that a large file's AST is never held whole (about
        // 17 MB for the 2.7 MB peid.yar). The order of what is compiled and which error is
        // reported stay as below: a compile error waits for the end of the parse, since a
        // syntax error anywhere in the file is reported first.
        const mayStream = !source.includes("include");
        let streaming: boolean | undefined, // decided at the first rule
          deferred: { error: unknown } | undefined;
        const file: RuleFile = parseEachRule(source, { path }, (rule, fileImports) => {
          if (streaming === false) return false;
          if (streaming === undefined) {
            streaming = mayStream && source.lastIndexOf("import") < rule.pos.offset;
            if (!streaming) return false;
            try {
              compiler.startFile(
                { file: { path, imports: [...fileImports], includes: [], rules: [] }, namespace: ns, source },
                imports!,
              );
            } catch (e) {
              deferred = { error: e };
            }
          }
          if (deferred) return true;
          try {
            compiler.addRule(rule);
          } catch (e) {
            deferred = { error: e };
          }
          return true;
        });
        if (streaming) {
          if (deferred) throw deferred.error;
          return;
        }
        for (const inc of file.includes) {
          if (options.includes === false) {
            throw new DiagnosticError({
              code: "E_INCLUDE",
              message: "includes are disabled",
              line: inc.pos.line,
              column: inc.pos.column,
              path,
            });
          }
          const base = path !== undefined ? dirnameOf(path) : (options.includeDir ?? ".");
          const target = resolvePath(base, inc.path);
          if (stack.includes(target)) {
            throw new DiagnosticError({
              code: "E_INCLUDE_CYCLE",
              message: `include cycle: ${[...stack, target].join(" -> ")}`,
              line: inc.pos.line,
              column: inc.pos.column,
              path,
            });
          }
          let text: string;
          try {
            const raw = readFile(target);
            text = typeof raw === "string" ? raw : Buffer.from(raw).toString("latin1");
          } catch (e) {
            const reason = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
            throw new DiagnosticError({
              code: "E_INCLUDE",
              message: `can't open include file: ${inc.path} (${reason})`,
              hint: "include paths are relative to the including file",
              line: inc.pos.line,
              column: inc.pos.column,
              path,
            });
          }
          addTree(text, target, [...stack, target]);
        }
        compiler.addFile({ file: { ...file, includes: [] }, namespace: ns, source }, imports!);
      };
      addTree(unit.source, unit.path, unit.path !== undefined ? [unit.path] : []);
    }
  } catch (e) {
    if (e instanceof DiagnosticError) throw new CompileError([e.diagnostic], { cause: e });
    throw e;
  }
  try {
    return new CompiledRules(compiler.finish(), compiler.warnings);
  } catch (e) {
    // condition code V8 cannot load: point at the rule rather than fail the whole set
    const d = e instanceof LoadError ? compiler.codeDiagnostic() : undefined;
    if (d) throw new CompileError([d], { cause: e });
    throw e;
  }
}

export { parse, toByteString } from "./parser.js";
export { formatSource, stripPositions, type FormatOptions } from "./format.js";
export { CompiledRules, loadRules, MAX_MATCHES_PER_STRING } from "./rules.js";
export type { RuleMatch, StringMatch, ScanOptions, ScanResult, ScanProfile, ProfileRow } from "./rules.js";
export type { RuleSetData, ExternalValue } from "./compiler.js";
export { CompileError, ScanError, LoadError, formatDiagnostic } from "./error.js";
export type { Diagnostic, DiagnosticCode } from "./error.js";
export type * from "./ast.js";
export { builtinModules } from "./modules/index.js";
export { formatModuleData } from "./modules/dump.js";
export type { YaraModule, FieldType, StructType, ScanContext, RegexpValue } from "./modules/schema.js";
export { VERSION as ENGINE_VERSION } from "./version.js";
export { atomSkipTable, buildAtomFilter, findAtomHits, HitBuffer, type AtomFilter } from "./atoms.js";
/** The bounds-checked PE header reader of the `pe` module, for callers that need section ranges. */
export { PeImage, type Section as PeSection } from "./modules/pe/reader.js";
