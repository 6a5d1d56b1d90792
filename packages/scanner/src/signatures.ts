/**
 * The full detector `vigil scan` uses: the engine's compiled rules (built-in starter rules,
 * --rules YARA files, and ClamAV .ndb/.ldb signatures translated to YARA by ./clamav) plus
 * the ClamAV hash stores (./hashdb: .hdb/.hsb whole-file hashes, .mdb/.msb PE section hashes,
 * .fp/.sfp allow list). Per buffer (a file or an archive member) it applies, in ClamAV's order:
 * the allow list (a listed file is clean whatever matched), whole-file hashes, PE section
 * hashes, then the rules (with the `clamav_container` external set to "" for top-level files
 * and the container's CL_TYPE_* name for members). Workers rebuild it from serialised rules
 * and serialised hash stores, so nothing is recompiled per worker.
 */
import { createHash } from "node:crypto";
import { compile, loadRules, CompileError, ScanError, type CompiledRules, type ScanResult, type SourceUnit } from "@vigil/engine";
import { loadClamavDatabase, type SignatureWarning } from "./clamav/index.js";
import { BodyDb, type BodyMatch } from "./bodydb/index.js";
import { deserializeHashStore, serializeHashStore, type HashAlgorithm, type HashStore, type Digests } from "./hashdb/index.js";
import { DetectorTimeoutError, ScannerError } from "./error.js";
import { ruleFiles, starterSources, STARTER_RULES_DIR, toRuleMatch } from "./rules.js";
import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import type { Detector, DetectorSpec, RuleMatch } from "./types.js";
import type { ArchiveKind } from "./archive/index.js";

export interface SignatureOptions {
  /** Built-in starter rules (default true). */
  builtin?: boolean;
  /** YARA rule files or directories. */
  rules?: string[];
  /** ClamAV database files or directories (and plain hash lists). */
  databases?: string[];
  /** Skip malformed database lines with a warning instead of failing. */
  lenient?: boolean;
  timeoutMs?: number;
  /**
   * Directory for compiled signature sets: when every source file and the engine are unchanged,
   * the compiled form is loaded instead of recompiling (a ClamAV database of thousands of body
   * signatures compiles in seconds but loads in a tenth of that). Anything unreadable or stale
   * there is ignored and rebuilt.
   */
  cacheDir?: string;
}

export interface SignatureSetup {
  detector: Detector;
  spec: DetectorSpec;
  /** Database warnings (unsupported or approximated signatures). */
  warnings: SignatureWarning[];
  /** Rules compiled, for the summary ("Known viruses"): rules plus hash signatures. */
  signatures: number;
}

export interface FullDetectorInit {
  rules: Uint8Array;
  hashes?: Uint8Array;
  sections?: Uint8Array;
  allow?: Uint8Array;
  /** `.ndb` body signatures held natively (../bodydb), shared by the scan threads. */
  bodies?: Uint8Array;
  externals: Record<string, string>;
  version: string;
  signatures: number;
  timeoutMs?: number;
}

const CONTAINER: Record<ArchiveKind, string> = { zip: "CL_TYPE_ZIP", gzip: "CL_TYPE_GZ", bzip2: "CL_TYPE_BZ", xz: "CL_TYPE_XZ", tar: "CL_TYPE_POSIX_TAR" };

/**
 * Copies chunks into one SharedArrayBuffer-backed array: passed to worker threads it is shared,
 * not copied, so a large hash store or rule set costs its memory once whatever the pool size.
 */
function shared(chunks: Uint8Array[]): Uint8Array {
  const only = chunks.length === 1 ? chunks[0]! : undefined;
  if (only && only.buffer instanceof SharedArrayBuffer && only.byteOffset === 0 && only.byteLength === only.buffer.byteLength) return only;
  const n = chunks.reduce((a, c) => a + c.length, 0);
  const out = new Uint8Array(new SharedArrayBuffer(n));
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.length; }
  return out;
}

function digestsFor(bytes: Uint8Array, algos: Set<HashAlgorithm>): Digests {
  const d: Digests = {};
  for (const a of algos) d[a] = createHash(a).update(bytes).digest();
  return d;
}

/**
 * Raw-data ranges of a PE file's sections as the Windows loader (and ClamAV, whose .mdb section
 * hashes cover them) sees them: PointerToRawData rounded down and SizeOfRawData rounded up to
 * the FileAlignment (when it is a power of two), clipped to the file. Bounds-checked; empty
 * for anything that is not a PE file.
 */
export function peSections(b: Uint8Array): { offset: number; size: number }[] {
  if (b.length < 0x40 || b[0] !== 0x4d || b[1] !== 0x5a) return [];
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const pe = v.getUint32(0x3c, true);
  if (pe + 24 > b.length || v.getUint32(pe, true) !== 0x00004550) return [];
  const n = v.getUint16(pe + 6, true);
  const optSize = v.getUint16(pe + 20, true);
  let falign = optSize >= 40 && pe + 24 + 40 <= b.length ? v.getUint32(pe + 24 + 36, true) : 0;
  if (falign < 2 || (falign & (falign - 1)) !== 0) falign = 0;
  const out: { offset: number; size: number }[] = [];
  for (let i = 0, at = pe + 24 + optSize; i < n && i < 96 && at + 40 <= b.length; i++, at += 40) {
    let size = v.getUint32(at + 16, true);
    let offset = v.getUint32(at + 20, true);
    if (falign) {
      offset = Math.floor(offset / falign) * falign;
      size = Math.ceil(size / falign) * falign;
    }
    if (offset >= b.length || size === 0) continue;
    size = Math.min(size, b.length - offset);
    out.push({ offset, size });
  }
  return out;
}

/** Position of a translated ClamAV rule among the ClamAV signatures (its name is clamav_<n>_...), or -1. */
function clamavOrdinal(rule: string, namespace: string): number {
  if (!namespace.startsWith("clamav_")) return -1;
  const m = /^clamav_(\d+)_/.exec(rule);
  return m ? Number(m[1]) : -1;
}

type Stores = { hashes?: HashStore | undefined; sections?: HashStore | undefined; allow?: HashStore | undefined; bodies?: BodyDb | undefined };

function fullDetector(rules: CompiledRules, stores: Stores, init: Omit<FullDetectorInit, "rules" | "hashes" | "sections" | "allow" | "bodies">): Detector {
  const fileAlgos = new Set<HashAlgorithm>([...(stores.hashes?.algorithms ?? []), ...(stores.allow?.algorithms ?? [])]);
  const sectionAlgos = new Set<HashAlgorithm>(stores.sections?.algorithms ?? []);
  const hasContainerExternal = "clamav_container" in init.externals;
  return {
    version: init.version,
    signatures: init.signatures,
    scan(bytes, ctx): RuleMatch[] {
      const out: RuleMatch[] = [];
      if (fileAlgos.size) {
        const d = digestsFor(bytes, fileAlgos);
        if (stores.allow?.has(d, bytes.length)) return [];
        const m = stores.hashes?.lookup(d, bytes.length);
        if (m) out.push({ rule: m.name, namespace: "clamav", tags: [], meta: { clamav_name: m.name } });
      }
      if (sectionAlgos.size && stores.sections) {
        for (const s of peSections(bytes)) {
          const m = stores.sections.lookup(digestsFor(bytes.subarray(s.offset, s.offset + s.size), sectionAlgos), s.size);
          if (m) { out.push({ rule: m.name, namespace: "clamav", tags: [], meta: { clamav_name: m.name } }); break; }
        }
      }
      const externals = hasContainerExternal ? { clamav_container: ctx.container ? CONTAINER[ctx.container] : "" } : undefined;
      const started = Date.now();
      let res: ScanResult;
      try {
        res = rules.scan(bytes, { ...(externals ? { externals } : {}), ...(init.timeoutMs !== undefined ? { timeoutMs: init.timeoutMs } : {}) });
      } catch (e) {
        // a time-out keeps what was found: the hash hits and the rules known to match
        if (e instanceof ScanError && e.code === "SCAN_TIMEOUT") throw new DetectorTimeoutError([...out, ...(e.partial?.matches ?? []).map(toRuleMatch)], e);
        throw e;
      }
      let body: BodyMatch[];
      try {
        body = stores.bodies?.scan(bytes, init.timeoutMs !== undefined ? started + init.timeoutMs : Infinity) ?? [];
      } catch (e) {
        if (e instanceof ScanError && e.code === "SCAN_TIMEOUT") throw new DetectorTimeoutError([...out, ...res.matches.map(toRuleMatch)], e);
        throw e;
      }
      // rule order as if every signature were a translated rule: YARA rules first, then the
      // ClamAV signatures by their position in the database files
      let b = 0;
      for (const m of res.matches) {
        const ord = clamavOrdinal(m.rule, m.namespace);
        if (ord >= 0) while (b < body.length && body[b]!.ordinal < ord) out.push(stores.bodies!.ruleMatch(body[b++]!));
        out.push({
          rule: m.rule, namespace: m.namespace, tags: m.tags, meta: m.meta,
          strings: m.strings.map((s) => ({ identifier: s.identifier, matches: s.matches.map((x) => ({ offset: x.offset, length: x.length })) })),
        });
      }
      while (b < body.length) out.push(stores.bodies!.ruleMatch(body[b++]!));
      return out;
    },
  };
}

/** Compiles everything once and returns the detector plus the spec workers load. */
export function buildSignatures(opts: SignatureOptions = {}): SignatureSetup {
  const key = opts.cacheDir ? cacheKey(opts) : undefined;
  if (key && opts.cacheDir) {
    const hit = readCompiled(join(opts.cacheDir, `signatures-${key}.bin`), key, opts.timeoutMs);
    if (hit) return hit;
  }
  const c = compileParts(opts);
  if (key && opts.cacheDir) writeCompiled(join(opts.cacheDir, `signatures-${key}.bin`), key, c);
  const init = { ...c.meta } as FullDetectorInit;
  for (const name of PART_NAMES) { const chunks = c.parts[name]; if (chunks) init[name] = shared(chunks); }
  const detector = fullDetector(c.rules, c.stores, init);
  return { detector, spec: { module: import.meta.url, init }, warnings: c.warnings, signatures: init.signatures };
}

/**
 * As buildSignatures, for a process that only hands the compiled set on (the daemon's compile
 * child writes it down a pipe): each part stays the list of chunks its serialiser produced, so
 * the hundreds of MB of a real-scale database are not joined into one more copy here. No
 * detector is built.
 */
export function buildSignatureChunks(opts: SignatureOptions = {}): { module: string; init: Omit<FullDetectorInit, PartName>; parts: Partial<Record<PartName, Uint8Array[]>>; warnings: SignatureWarning[]; signatures: number; cached?: CompiledLocation } {
  const key = opts.cacheDir ? cacheKey(opts) : undefined;
  if (key && opts.cacheDir) {
    const loc = locateCompiled(join(opts.cacheDir, `signatures-${key}.bin`), key);
    if (loc) {
      try {
        const init = readCompiledParts(loc, opts.timeoutMs) as Partial<FullDetectorInit>;
        const parts: Partial<Record<PartName, Uint8Array[]>> = {};
        for (const name of PART_NAMES) { if (init[name]) parts[name] = [init[name]]; delete init[name]; }
        return { module: import.meta.url, init: init as Omit<FullDetectorInit, PartName>, parts, warnings: loc.warnings, signatures: loc.signatures };
      } catch { /* rebuild */ }
    }
  }
  const c = compileParts(opts);
  let cached: CompiledLocation | undefined;
  if (key && opts.cacheDir) {
    const file = join(opts.cacheDir, `signatures-${key}.bin`);
    writeCompiled(file, key, c);
    cached = locateCompiled(file, key);
  }
  return { module: import.meta.url, init: c.meta, parts: c.parts, warnings: c.warnings, signatures: c.meta.signatures, ...(cached ? { cached } : {}) };
}

const PART_NAMES = ["rules", "hashes", "sections", "allow", "bodies"] as const;
type PartName = (typeof PART_NAMES)[number];

/** A compiled set before its parts are joined: each part as its serialiser's chunks. */
interface CompiledParts {
  rules: CompiledRules;
  stores: Stores;
  parts: Partial<Record<PartName, Uint8Array[]>>;
  meta: Omit<FullDetectorInit, PartName>;
  warnings: SignatureWarning[];
}

/** Every input that changes the compiled set: options, file paths and contents, the engine build. */
function cacheKey(opts: SignatureOptions): string | undefined {
  try {
    const h = createHash("sha256");
    h.update(JSON.stringify({ f: 2, builtin: opts.builtin !== false, lenient: !!opts.lenient }));
    const files: string[] = [];
    if (opts.builtin !== false) files.push(...ruleFiles(STARTER_RULES_DIR));
    for (const r of opts.rules ?? []) files.push(...ruleFiles(r));
    for (const d of opts.databases ?? []) {
      const st = statSync(d);
      if (st.isDirectory()) for (const n of readdirSync(d).sort()) { const p = join(d, n); if (statSync(p).isFile()) files.push(p); }
      else files.push(d);
    }
    h.update(`\0db:${(opts.databases ?? []).length}\0rules:${(opts.rules ?? []).length}`);
    for (const f of files) h.update(`\0${resolve(f)}\0`).update(readFileSync(f));
    // the engine build: its compiled output changes with its code
    const engineMain = createRequire(import.meta.url).resolve("@vigil/engine");
    const engineDir = dirname(engineMain);
    for (const n of readdirSync(engineDir).sort()) {
      const st = statSync(join(engineDir, n));
      if (st.isFile()) h.update(`\0${n}:${st.size}:${st.mtimeMs}`);
    }
    return h.digest("hex").slice(0, 32);
  } catch {
    return undefined; // unreadable inputs: compile, and let compiling report the problem
  }
}

const MAGIC = "VIGIL-SIGSET-1\n";

function writeCompiled(file: string, key: string, c: CompiledParts): void {
  const init = c.meta;
  const parts = PART_NAMES.map((name) => ({ name, chunks: c.parts[name] }));
  const header = Buffer.from(JSON.stringify({
    key, externals: init.externals, version: init.version, signatures: init.signatures, warnings: c.warnings,
    parts: parts.map((p) => ({ name: p.name, length: p.chunks ? p.chunks.reduce((n, x) => n + x.length, 0) : -1 })),
  }));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(header.length);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(file), { recursive: true });
    // chunk by chunk: joining them first would copy hundreds of MB once more
    const fd = openSync(tmp, "w", 0o644);
    try {
      for (const b of [Buffer.from(MAGIC), len, header, ...parts.flatMap((p) => p.chunks ?? [])]) {
        for (let done = 0; done < b.length; ) done += writeSync(fd, b, done, b.length - done);
      }
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    // keep the 8 most recent compiled sets
    const dir = dirname(file);
    const old = readdirSync(dir).filter((n) => /^signatures-[0-9a-f]+\.bin$/.test(n))
      .map((n) => ({ n, t: statSync(join(dir, n)).mtimeMs })).sort((a, b) => b.t - a.t).slice(8);
    for (const o of old) unlinkSync(join(dir, o.n));
  } catch {
    // a cache we cannot write (a full disk, say) only costs time; no half-written file stays
    try { unlinkSync(tmp); } catch { /* not created */ }
  }
}

function readCompiled(file: string, key: string, timeoutMs?: number): SignatureSetup | undefined {
  const loc = locateCompiled(file, key);
  if (!loc) return undefined;
  try {
    const init = readCompiledParts(loc, timeoutMs);
    const detector = createDetector(init);
    return { detector, spec: { module: import.meta.url, init }, warnings: loc.warnings, signatures: init.signatures };
  } catch {
    return undefined; // truncated, or from another engine: rebuild
  }
}

/** A compiled signature set in the cache: its file, small fields, and where each part lies. */
export interface CompiledLocation {
  /** the module whose createDetector takes the init (this one). */
  module: string;
  file: string;
  size: number;
  externals: Record<string, string>;
  version: string;
  signatures: number;
  warnings: SignatureWarning[];
  parts: Array<{ name: PartName; offset: number; length: number }>;
}

function locateCompiled(file: string, key: string): CompiledLocation | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, "r");
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(MAGIC.length + 4);
    if (readSync(fd, head, 0, head.length, 0) !== head.length || head.subarray(0, MAGIC.length).toString() !== MAGIC) return undefined;
    const hlen = head.readUInt32LE(MAGIC.length);
    if (hlen > 64 << 20 || MAGIC.length + 4 + hlen > size) return undefined;
    const hb = Buffer.alloc(hlen);
    if (readSync(fd, hb, 0, hlen, head.length) !== hlen) return undefined;
    const header = JSON.parse(hb.toString()) as {
      key: string; externals: Record<string, string>; version: string; signatures: number; warnings: SignatureWarning[];
      parts: { name: PartName; length: number }[];
    };
    if (header.key !== key) return undefined;
    let at = head.length + hlen;
    const parts: CompiledLocation["parts"] = [];
    for (const p of header.parts) {
      if (p.length < 0) continue;
      if (!PART_NAMES.includes(p.name) || at + p.length > size) return undefined;
      parts.push({ name: p.name, offset: at, length: p.length });
      at += p.length;
    }
    return { module: import.meta.url, file, size, externals: header.externals, version: header.version, signatures: header.signatures, warnings: header.warnings, parts };
  } catch {
    return undefined; // missing, unreadable or not ours: rebuild
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Where the cached compiled set for `opts` is, reading only its header (undefined: no cache
 * directory, nothing cached for these inputs, or a stale or foreign file).
 */
export function locateCompiledSignatures(opts: SignatureOptions): CompiledLocation | undefined {
  const key = opts.cacheDir ? cacheKey(opts) : undefined;
  return key && opts.cacheDir ? locateCompiled(join(opts.cacheDir, `signatures-${key}.bin`), key) : undefined;
}

/**
 * Reads the parts of a located compiled set straight into SharedArrayBuffers (one copy, shared
 * by the scan threads): the detector's init for createDetector. Throws when the file changed
 * size since it was located or cannot be read.
 */
export function readCompiledParts(loc: CompiledLocation, timeoutMs?: number): FullDetectorInit {
  const init: FullDetectorInit = { rules: new Uint8Array(0), externals: loc.externals, version: loc.version, signatures: loc.signatures, timeoutMs };
  const fd = openSync(loc.file, "r");
  try {
    if (fstatSync(fd).size !== loc.size) throw new ScannerError("RULES_FAILED", `the compiled-signature cache ${loc.file} changed while it was read`);
    for (const p of loc.parts) {
      const out = new Uint8Array(new SharedArrayBuffer(p.length));
      for (let done = 0; done < p.length; ) {
        const n = readSync(fd, out, done, Math.min(p.length - done, 16 << 20), p.offset + done);
        if (n <= 0) throw new ScannerError("RULES_FAILED", `the compiled-signature cache ${loc.file} is truncated`);
        done += n;
      }
      init[p.name] = out;
    }
  } finally {
    closeSync(fd);
  }
  return init;
}

function compileParts(opts: SignatureOptions): CompiledParts {
  const units: SourceUnit[] = opts.builtin === false ? [] : starterSources();
  for (const p of opts.rules ?? []) {
    for (const path of ruleFiles(p)) {
      let source: string;
      try { source = readFileSync(path, "latin1"); } catch (err) {
        throw new ScannerError("RULES_FAILED", `cannot read rule file ${path}: ${(err as Error).message}`, err);
      }
      units.push({ namespace: "default", source, path });
    }
  }
  let externals: Record<string, string> = {};
  let warnings: SignatureWarning[] = [];
  let stores: Stores = {};
  let dbCount = 0;
  if (opts.databases?.length) {
    let set;
    try {
      set = loadClamavDatabase(opts.databases, { lenient: opts.lenient, nativeBodies: true });
    } catch (err) {
      throw new ScannerError("RULES_FAILED", `cannot load the ClamAV database: ${(err as Error).message}`, err);
    }
    units.push(...set.yara);
    externals = set.externals;
    warnings = set.warnings;
    stores = { hashes: set.hashes, sections: set.sectionHashes, allow: set.allow, bodies: set.bodies };
    dbCount = set.count;
  }
  if (!units.length && !dbCount) throw new ScannerError("RULES_FAILED", "no signatures to scan with: drop --no-builtin or give --rules/--database");
  let rules: CompiledRules;
  try {
    rules = compile(units.length ? units : [{ source: "" }], { externals });
  } catch (err) {
    if (err instanceof CompileError) throw new ScannerError("RULES_FAILED", `rules do not compile: ${err.message}`, err);
    throw err;
  }
  const ser = (s?: HashStore) => (s && s.algorithms.length ? serializeHashStore(s) : undefined);
  const parts: CompiledParts["parts"] = {
    rules: [rules.serialize()], hashes: ser(stores.hashes), sections: ser(stores.sections), allow: ser(stores.allow),
    bodies: stores.bodies ? [stores.bodies.bytes] : undefined,
  };
  const h = createHash("sha256");
  for (const name of PART_NAMES) { for (const chunk of parts[name] ?? []) h.update(chunk); h.update("\0"); }
  // like clamscan's "Known viruses": every rule plus every hash signature
  const signatures = rules.ruleCount + (stores.bodies?.count ?? 0) + (stores.hashes?.count ?? 0) + (stores.sections?.count ?? 0);
  const meta = { externals, version: h.digest("hex").slice(0, 16), signatures, timeoutMs: opts.timeoutMs };
  return { rules, stores, parts, meta, warnings };
}

/** Worker-side entry point (see DetectorSpec). */
export function createDetector(init: FullDetectorInit): Detector {
  const load = (b?: Uint8Array) => (b ? deserializeHashStore(b) : undefined);
  return fullDetector(loadRules(init.rules), { hashes: load(init.hashes), sections: load(init.sections), allow: load(init.allow), bodies: init.bodies ? BodyDb.load(init.bodies) : undefined }, init);
}
