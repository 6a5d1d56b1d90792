/** Loading ClamAV database files and directories into a `SignatureSet`. */

import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { ClamavError } from "./error.js";
import { HashStoreBuilder, type HashStore } from "./stores/hashdb/store.js";
import { loadHashFile } from "./formats/hash-file.js";
import { BodyDbBuilder, type BodyDb } from "./stores/bodydb/store.js";
import { FLEVEL, ruleIdentifier, SignatureSyntaxError } from "./signature/fields.js";
import { IgnoreList } from "./formats/ign.js";
import { parseNdbLine, translateNdb } from "./formats/ndb.js";
import { ldbEngineOk, parseLdbLine, translateLdb } from "./formats/ldb.js";
import type { TranslatedRule } from "./translate/yara.js";

export interface SignatureWarning {
  code: "SIGDB_UNSUPPORTED" | "SIGDB_APPROXIMATE" | "SIGDB_MALFORMED_LINE" | "SIGDB_UNKNOWN_EXTENSION" | "SIGDB_SKIPPED_PUA";
  path: string;
  line?: number;
  /** the ClamAV signature name, when the warning is about one signature. */
  signature?: string;
  message: string;
}

export interface SignatureSet {
  /** YARA rule sources, one unit per `.ndb`/`.ldb` file: pass them to the engine's `compile`. */
  yara: Array<{ namespace: string; source: string; path: string }>;
  /** external variables the rules use (`clamav_container`): give them to `compile` and set per scan ("" for a top-level file, else the container's CL_TYPE_* name). */
  externals: Record<string, string>;
  /** whole-file hashes (`.hdb .hsb` and plain hash lists). */
  hashes: HashStore;
  /** PE section hashes (`.mdb .msb`): look up each section's raw size and digest. */
  sectionHashes: HashStore;
  /** allow list (`.fp .sfp`): a file whose hash is here is reported clean whatever matched. */
  allow: HashStore;
  /** `.ndb` signatures held natively (with `nativeBodies`); the others are in `yara`. */
  bodies?: BodyDb;
  /** names dropped by `.ign2`/`.ign` (already applied while loading). */
  ignored: Set<string>;
  /** signatures loaded, counted as clamscan's "Known viruses" (allow-list entries included). */
  count: number;
  /** per-rule details: the ClamAV name, YARA rule name, where it came from, approximations. */
  rules: Array<{ name: string; ruleName: string; path: string; line: number; approximations: string[] }>;
  warnings: SignatureWarning[];
}

export interface LoadOptions {
  /** engine functionality level for FLEVEL/Engine ranges (default 216, clamscan 1.4.6). */
  flevel?: number;
  /** skip malformed lines with a warning instead of failing the load (clamscan fails). */
  lenient?: boolean;
  /** load the PUA variants (`.hdu .hsu .mdu .msu .ndu .ldu`); clamscan does only with --detect-pua. */
  pua?: boolean;
  /** the suffix clamscan adds to names from unsigned files (default ".UNOFFICIAL"). */
  suffix?: string;
  /**
   * Hold `.ndb` signatures in a native store (`bodies`, see ./stores/bodydb) rather than as YARA rules:
   * the same matches, at a fraction of the memory and compile time. Those it cannot hold are
   * still translated. Off by default, so `yara` is the whole set (to compare with `yara`).
   */
  nativeBodies?: boolean;
}

type Kind = "hdb" | "mdb" | "fp" | "list" | "ndb" | "ldb" | "ign2" | "ign";

function kindOf(path: string): { kind: Kind; pua: boolean } | undefined {
  const ext = path.slice(path.lastIndexOf(".") + 1).toLowerCase();
  const map: Record<string, Kind> = { hdb: "hdb", hsb: "hdb", mdb: "mdb", msb: "mdb", fp: "fp", sfp: "fp", ndb: "ndb", ldb: "ldb", ign2: "ign2", ign: "ign", txt: "list", md5: "list", sha1: "list", sha256: "list", hashes: "list" };
  const pua: Record<string, Kind> = { hdu: "hdb", hsu: "hdb", mdu: "mdb", msu: "mdb", ndu: "ndb", ldu: "ldb" };
  if (map[ext]) return { kind: map[ext]!, pua: false };
  if (pua[ext]) return { kind: pua[ext]!, pua: true };
  return undefined;
}

function expand(paths: string[], warnings: SignatureWarning[]): string[] {
  const files: string[] = [];
  for (const p of paths) {
    let st;
    try {
      st = statSync(p);
    } catch (cause) {
      throw new ClamavError("SIGDB_READ", `cannot open database: ${(cause as Error).message}`, { path: p, cause });
    }
    if (st.isDirectory()) {
      // in a directory, .txt files are documentation, not hash lists (name them explicitly to load them)
      for (const name of readdirSync(p).sort()) if (kindOf(name) !== undefined && !name.toLowerCase().endsWith(".txt")) files.push(join(p, name));
    } else if (kindOf(p) === undefined) {
      warnings.push({ code: "SIGDB_UNKNOWN_EXTENSION", path: p, message: `${p}: unknown database extension, skipped (use .hdb .hsb .mdb .msb .fp .sfp .ndb .ldb .ign2 or a hash list .txt/.md5/.sha1/.sha256)` });
    } else files.push(p);
  }
  return files;
}

function readLines(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (cause) {
    throw new ClamavError("SIGDB_READ", `cannot read: ${(cause as Error).message}`, { path, cause });
  }
  return text.split("\n").map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
}

/**
 * Loads ClamAV database files (or directories of them) and plain hash lists. Ignore lists are
 * read first and applied to everything. Malformed lines fail the load with a ClamavError
 * naming file and line (as clamscan refuses the database) unless `lenient`; signatures in valid
 * syntax that the translation cannot express are skipped with a SIGDB_UNSUPPORTED warning.
 */
export function loadClamavDatabase(paths: string | string[], options: LoadOptions = {}): SignatureSet {
  const warnings: SignatureWarning[] = [];
  const files = expand(Array.isArray(paths) ? paths : [paths], warnings);
  const flevel = options.flevel ?? FLEVEL;
  const suffix = options.suffix ?? ".UNOFFICIAL";
  const ignore = new IgnoreList();
  const hashes = new HashStoreBuilder();
  const sections = new HashStoreBuilder();
  const allow = new HashStoreBuilder();
  const yara: SignatureSet["yara"] = [];
  const rules: SignatureSet["rules"] = [];
  let count = 0;
  let ruleIndex = 0;
  const bodies = options.nativeBodies ? new BodyDbBuilder(suffix) : undefined;

  const malformed = (path: string, line: number, message: string, signature?: string) => {
    if (!options.lenient) throw new ClamavError("SIGDB_MALFORMED_LINE", `${message}; fix or delete the line (clamscan also refuses the whole database)`, { path, line });
    warnings.push({ code: "SIGDB_MALFORMED_LINE", path, line, signature, message: `${path}:${line}: ${message}; skipped` });
  };

  const typed = files.map((f) => ({ path: f, ...kindOf(f)! }));
  for (const f of typed.filter((t) => t.kind === "ign2" || t.kind === "ign")) {
    readLines(f.path).forEach((raw, i) => {
      if (raw === "" || raw.startsWith("#")) return;
      const parts = raw.split(":");
      if (f.kind === "ign") {
        if (parts.length < 3) return malformed(f.path, i + 1, "expected three ':' separated fields, the name in the third");
        ignore.add(parts[2]!);
      } else if (parts.length === 1) ignore.add(parts[0]!);
      else if (parts.length === 2 && /^[0-9a-fA-F]{32}$/.test(parts[1]!)) ignore.add(parts[0]!, parts[1]!);
      else malformed(f.path, i + 1, "expected Name or Name:md5-of-the-signature-line");
    });
  }
  const ignoreFn = ignore.size > 0 ? (name: string, line: string) => ignore.matches(name, line) : undefined;

  for (const f of typed) {
    if (f.kind === "ign2" || f.kind === "ign") continue;
    if (f.pua && !options.pua) {
      warnings.push({ code: "SIGDB_SKIPPED_PUA", path: f.path, message: `${f.path}: PUA database skipped (clamscan loads it only with --detect-pua; pass pua: true)` });
      continue;
    }
    if (f.kind === "hdb" || f.kind === "mdb" || f.kind === "fp" || f.kind === "list") {
      const builder = f.kind === "mdb" ? sections : f.kind === "fp" ? allow : hashes;
      const stats = loadHashFile(builder, f.path, f.kind, {
        flevel,
        suffix: f.kind === "list" ? "" : suffix,
        defaultName: `HashList.${basename(f.path).replace(/\.[^.]*$/, "")}`,
        ignore: ignoreFn,
        lenient: options.lenient,
        onWarning: (message, line) => warnings.push({ code: "SIGDB_MALFORMED_LINE", path: f.path, line, message }),
      });
      count += stats.loaded;
      continue;
    }
    const parts: string[] = [];
    const modules = new Set<string>();
    const namespace = `clamav_${basename(f.path).replace(/[^A-Za-z0-9_]/g, "_")}`;
    readLines(f.path).forEach((raw, i) => {
      const lineNo = i + 1;
      if (raw === "" || raw.startsWith("#")) return;
      let name: string | undefined;
      try {
        let t: TranslatedRule;
        if (f.kind === "ndb") {
          const sig = parseNdbLine(raw);
          name = sig.name;
          if ((sig.minFlevel !== undefined && sig.minFlevel > flevel) || (sig.maxFlevel !== undefined && sig.maxFlevel < flevel)) return;
          if (ignoreFn?.(sig.name, raw)) return;
          const held = bodies?.add(sig, ruleIndex, namespace);
          if (held) {
            rules.push({ name: sig.name + suffix, ruleName: ruleIdentifier(ruleIndex, (sig.name + suffix).replace(/\.UNOFFICIAL$/, "")), path: f.path, line: lineNo, approximations: held.approximations });
            for (const a of held.approximations) warnings.push({ code: "SIGDB_APPROXIMATE", path: f.path, line: lineNo, signature: name, message: `${f.path}:${lineNo}: ${name}: ${a}` });
            ruleIndex++;
            count++;
            return;
          }
          t = translateNdb(sig, ruleIndex, sig.name + suffix);
        } else {
          const sig = parseLdbLine(raw);
          name = sig.name;
          if (!ldbEngineOk(sig, flevel)) return;
          if (ignoreFn?.(sig.name, raw)) return;
          t = translateLdb(sig, ruleIndex, sig.name + suffix);
        }
        ruleIndex++;
        count++;
        parts.push(t.source);
        for (const m of t.modules) modules.add(m);
        rules.push({ name: t.name, ruleName: t.ruleName, path: f.path, line: lineNo, approximations: t.approximations });
        for (const a of t.approximations) warnings.push({ code: "SIGDB_APPROXIMATE", path: f.path, line: lineNo, signature: name, message: `${f.path}:${lineNo}: ${name}: ${a}` });
      } catch (e) {
        if (!(e instanceof SignatureSyntaxError)) throw e;
        const unsupported = /not supported|no equivalent|too complex|too large/.test(e.message);
        if (unsupported) warnings.push({ code: "SIGDB_UNSUPPORTED", path: f.path, line: lineNo, signature: name, message: `${f.path}:${lineNo}: ${name ?? "signature"}: ${e.message}; signature not loaded` });
        else malformed(f.path, lineNo, name === undefined ? e.message : `${name}: ${e.message}`, name);
      }
    });
    if (parts.length > 0) {
      const imports = [...modules].sort().map((m) => `import "${m}"\n`).join("");
      yara.push({ namespace, source: `${imports}\n${parts.join("\n")}`, path: f.path });
    }
  }
  return {
    yara,
    externals: { clamav_container: "" },
    hashes: hashes.finish(),
    sectionHashes: sections.finish(),
    allow: allow.finish(),
    ...(bodies && bodies.count > 0 ? { bodies: bodies.finish() } : {}),
    ignored: ignore.names(),
    count,
    rules,
    warnings,
  };
}
