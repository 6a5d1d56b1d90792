/**
 * The full detector `vigil scan` uses: the engine's compiled rules (built-in starter rules,
 * --rules YARA files, and ClamAV .ldb signatures translated to YARA by @vigil/clamav) plus
 * @vigil/clamav's stores (.ndb body signatures; .hdb/.hsb whole-file hashes, .mdb/.msb PE
 * section hashes, .fp/.sfp allow list, .crb/.cat Authenticode trust). Per buffer (a file or an
 * archive member) it applies, in ClamAV's order: the allow list (a listed file is clean whatever
 * matched), Authenticode (a PE whose signature or a catalog is trusted is clean and, through
 * `trusts`, not unpacked; a blocked certificate is the one detection), whole-file hashes, PE
 * section hashes, then the rules (with the `clamav_container` external set to "" for top-level files
 * and the container's CL_TYPE_* name for members). Workers rebuild it from serialised rules
 * and serialised stores, so nothing is recompiled per worker. Compiled sets are kept in
 * @vigil/clamav's compiled-signature cache file; this module decides what goes in it (the
 * compiled rules plus the store parts) and what key names its inputs.
 */
import { createHash } from "node:crypto";
import {
  compile,
  loadRules,
  CompileError,
  PeImage,
  ScanError,
  type CompiledRules,
  type SourceUnit,
} from "@vigil/engine";
import {
  ClamavError,
  checkAuthenticode,
  clamscanOrder,
  loadClamavDatabase,
  matchContainerMeta,
  parseTrustedKeys,
  withClamavKeys,
  type RsaPublicKey,
  type TrustedKeys,
  parseCdbLine,
  type CdbSignature,
  loadStores,
  scanSignatures,
  fileTyperFor,
  locateSigset,
  readSigsetParts,
  serializeStores,
  sigsetPath,
  storeSignatureCount,
  writeSigset,
  STORE_PARTS,
  type AuthenticodeTrust,
  type AuthenticodeVerdict,
  type ClamavStores,
  type Digests,
  type HashAlgorithm,
  type SignatureWarning,
  type SigsetLocation,
  PhishingChecker,
  PhishTimeout,
  phishingChecksPart,
  type PhishEntry,
} from "@vigil/clamav";
import { DetectorTimeoutError, ScannerError } from "./error.js";
import { ruleFiles, starterSources, STARTER_RULES_DIR, toRuleMatch } from "./rules.js";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import type { Detector, DetectorSpec, MemberInfo, RuleMatch } from "./types.js";
import type { ArchiveKind } from "./archive/index.js";

export interface SignatureOptions {
  /** Built-in starter rules (default true). */
  builtin?: boolean;
  /** YARA rule files or directories. */
  rules?: string[];
  /** ClamAV database files or directories (and plain hash lists). */
  databases?: string[];
  /**
   * A malformed database line is a warning and the rest loads (default true); `false` fails the
   * load on it, as clamscan refuses the whole database.
   */
  lenient?: boolean;
  /** Load the PUA databases (.hdu .hsu .mdu .msu .ndu .ldu), as clamscan --detect-pua. */
  pua?: boolean;
  /**
   * ClamAV's phishing options, as clamscan's: `urls` (--phishing-scan-urls, default true) loads
   * .pdb/.wdb/.gdb and checks the links of mail text parts with them; `sigs` (--phishing-sigs,
   * default true) loads the HTML.Phishing and Email.Phishing body signatures; `alertSsl` and
   * `alertCloak` (--alert-phishing-ssl, --alert-phishing-cloak, default false) report SSL
   * mismatches and cloaked URLs of links to any domain, not only protected ones.
   */
  phishing?: PhishingSettings;
  /**
   * Trusted-keys files (@vigil/clamav `trustedKeysText`): `.cvd`/`.cld` signatures made with
   * these keys verify too, besides ClamAV's own (a private mirror's or a test database's).
   */
  clamavTrustKeys?: string[];
  timeoutMs?: number;
  /**
   * Directory for compiled signature sets: when every source file and the engine and
   * @vigil/clamav builds are unchanged, the compiled form is loaded instead of recompiling (a
   * ClamAV database of thousands of body signatures compiles in seconds but loads in a tenth of
   * that). Anything unreadable or stale there is ignored and rebuilt.
   */
  cacheDir?: string;
}

export interface PhishingSettings {
  urls?: boolean;
  sigs?: boolean;
  alertSsl?: boolean;
  alertCloak?: boolean;
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
  /** ClamAV `.cdb` container metadata signatures: the reported name and the database line. */
  containerMeta?: Array<{ name: string; line: string }>;
  /** ClamAV `.crb` trust/block rules and `.cat` catalog hashes (@vigil/clamav `checkAuthenticode`). */
  authenticode?: AuthenticodeTrust;
  /** ClamAV `.pdb`/`.wdb`/`.gdb` entries and the phishing options: mail links are checked with them. */
  phishing?: PhishingInit;
}

interface PhishingInit {
  protect: PhishEntry[];
  allow: PhishEntry[];
  hashes: PhishEntry[];
  alertSsl?: boolean;
  alertCloak?: boolean;
}

const CONTAINER: Record<ArchiveKind, string> = {
  zip: "CL_TYPE_ZIP",
  gzip: "CL_TYPE_GZ",
  bzip2: "CL_TYPE_BZ",
  xz: "CL_TYPE_XZ",
  tar: "CL_TYPE_POSIX_TAR",
  exe: "CL_TYPE_MSEXE",
  autoit: "CL_TYPE_AUTOIT",
  "ishield-msi": "CL_TYPE_ISHIELD_MSI",
  mail: "CL_TYPE_MAIL",
  tnef: "CL_TYPE_TNEF",
  uuencoded: "CL_TYPE_UUENCODED",
  binhex: "CL_TYPE_BINHEX",
  html: "CL_TYPE_HTML",
  ole2: "CL_TYPE_MSOLE2",
  pdf: "CL_TYPE_PDF",
  rtf: "CL_TYPE_RTF",
  "7z": "CL_TYPE_7Z",
  rar: "CL_TYPE_RAR",
  rar5: "CL_TYPE_RAR",
  cab: "CL_TYPE_MSCAB",
  arj: "CL_TYPE_ARJ",
  chm: "CL_TYPE_MSCHM",
  iso: "CL_TYPE_ISO9660",
  udf: "CL_TYPE_UDF",
  nsis: "CL_TYPE_NULSFT",
  cpio: "CL_TYPE_CPIO_ODC",
  szdd: "CL_TYPE_MSSZDD",
  sis: "CL_TYPE_SIS",
};

const EMPTY_TRUST: AuthenticodeTrust = {
  block: [],
  trusted: [],
  catalog: { sha1: [], sha256: [] },
  cab: { sha1: [], sha256: [] },
};

/**
 * Copies chunks into one SharedArrayBuffer-backed array: passed to worker threads it is shared,
 * not copied, so a large hash store or rule set costs its memory once whatever the pool size.
 */
function shared(chunks: Uint8Array[]): Uint8Array {
  const only = chunks.length === 1 ? chunks[0]! : undefined;
  if (
    only &&
    only.buffer instanceof SharedArrayBuffer &&
    only.byteOffset === 0 &&
    only.byteLength === only.buffer.byteLength
  )
    return only;
  const n = chunks.reduce((a, c) => a + c.length, 0);
  const out = new Uint8Array(new SharedArrayBuffer(n));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
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
 * the FileAlignment (when it is a power of two), clipped to the file. The headers are read by
 * the engine's PE reader (bounds-checked, at most 96 sections); empty for anything it does not
 * take as a PE file.
 */
export function peSections(b: Uint8Array): { offset: number; size: number }[] {
  const pe = PeImage.parse(b);
  if (!pe) return [];
  let falign = pe.sizeOfOptionalHeader >= 40 ? pe.fileAlignment : 0;
  if (falign < 2 || (falign & (falign - 1)) !== 0) falign = 0;
  const out: { offset: number; size: number }[] = [];
  for (const s of pe.sections) {
    let size = s.rawDataSize;
    let offset = s.rawDataOffset;
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

function fullDetector(
  rules: CompiledRules,
  stores: ClamavStores,
  init: Omit<FullDetectorInit, "rules" | "hashes" | "sections" | "allow" | "bodies">,
): Detector {
  const fileAlgos = new Set<HashAlgorithm>([...(stores.hashes?.algorithms ?? []), ...(stores.allow?.algorithms ?? [])]);
  const sectionAlgos = new Set<HashAlgorithm>(stores.sections?.algorithms ?? []);
  const hasContainerExternal = "clamav_container" in init.externals;
  const typer = fileTyperFor(init.externals.clamav_ftm);
  const cdb: CdbSignature[] = [];
  for (const e of init.containerMeta ?? []) {
    const sig = parseCdbLine(e.line, undefined);
    if (sig) cdb.push({ ...sig, name: e.name });
  }
  cdb.reverse(); // clamscan tries the last-loaded .cdb signature first
  // Authenticode (.crb/.cat, and size-2 .fp/.sfp entries: the Authenticode hashes clamscan
  // allows): checked on PEs before anything else, as clamscan does, once per buffer
  const trust = init.authenticode;
  const allowStore = stores.allow;
  const catalogAllow = allowStore?.algorithms.some((a) => a === "sha1" || a === "sha256")
    ? (h: "sha1" | "sha256", d: Buffer) => allowStore.has({ [h]: d }, 2)
    : undefined;
  const verdicts = new WeakMap<Uint8Array, AuthenticodeVerdict>();
  // whole-file SHA-1 entries of size 1 (a catalog's CAB hashes, .fp/.sfp lines of size 1): clamscan
  // clears any detection of a file they list, whatever its type
  const cabSha1 = new Set(trust?.disabled ? [] : (trust?.cab?.sha1 ?? []));
  const allowSha1 = allowStore?.algorithms.includes("sha1") ?? false;
  const authenticode =
    trust || catalogAllow
      ? (b: Uint8Array): AuthenticodeVerdict => {
          let v = verdicts.get(b);
          if (!v) {
            v = checkAuthenticode(b, trust ?? EMPTY_TRUST, { ...(catalogAllow ? { catalogAllow } : {}) });
            verdicts.set(b, v);
          }
          return v;
        }
      : undefined;
  const ph = init.phishing;
  const phishing = ph
    ? new PhishingChecker(ph, {
        ...(ph.alertSsl ? { alwaysSsl: true } : {}),
        ...(ph.alertCloak ? { alwaysCloak: true } : {}),
      })
    : undefined;
  const phishingActive = !!phishing?.active;
  return {
    version: init.version,
    signatures: init.signatures,
    ...(authenticode ? { trusts: (b: Uint8Array) => authenticode(b).verdict === "trusted" } : {}),
    ...(cdb.length
      ? {
          scanMember(m: MemberInfo): RuleMatch[] {
            const member = {
              containerType: CONTAINER[m.container],
              containerSize: m.containerSize,
              name: m.name,
              sizeInContainer: m.compressedSize,
              encrypted: m.encrypted,
              filePos: m.position,
              ...(m.size !== undefined ? { sizeReal: m.size } : {}),
            };
            return cdb
              .filter((s) => matchContainerMeta(s, member))
              .map((s) => ({
                rule: s.name,
                namespace: "clamav",
                tags: [],
                meta: { clamav_name: s.name, clamav_format: "cdb" },
              }));
          },
        }
      : {}),
    scan(bytes, ctx): RuleMatch[] {
      const out: RuleMatch[] = [];
      const d = fileAlgos.size ? digestsFor(bytes, fileAlgos) : undefined;
      if (d && stores.allow?.has(d, bytes.length)) return [];
      if (cabSha1.size || allowSha1) {
        const sha1 = d?.sha1 ?? createHash("sha1").update(bytes).digest();
        if (cabSha1.has(Buffer.from(sha1).toString("hex")) || (allowSha1 && allowStore?.has({ sha1 }, 1))) return [];
      }
      if (authenticode) {
        // a trusted signature or catalog: clean, nothing else is looked at (clamscan stops at
        // this layer, so hash, section and body matches are never reported); a blocked
        // certificate: that rule's name is the detection, and the rest of the layer is skipped
        const v = authenticode(bytes);
        if (v.verdict === "trusted") return [];
        if (v.verdict === "blocked")
          return [{ rule: v.name, namespace: "clamav", tags: [], meta: { clamav_name: v.name, clamav_format: "crb" } }];
      }
      if (d) {
        const m = stores.hashes?.lookup(d, bytes.length);
        if (m)
          out.push({
            rule: m.name,
            namespace: "clamav",
            tags: [],
            meta: { clamav_name: m.name, clamav_format: "hdb" },
          });
      }
      if (sectionAlgos.size && stores.sections) {
        for (const s of peSections(bytes)) {
          const m = stores.sections.lookup(
            digestsFor(bytes.subarray(s.offset, s.offset + s.size), sectionAlgos),
            s.size,
          );
          if (m) {
            out.push({
              rule: m.name,
              namespace: "clamav",
              tags: [],
              meta: { clamav_name: m.name, clamav_format: "mdb" },
            });
            break;
          }
        }
      }
      // the ClamAV file type of the content (built-in magic plus the databases' .ftm entries)
      // decides which signatures with a target type apply to it
      const externals = hasContainerExternal
        ? { clamav_container: ctx.container ? CONTAINER[ctx.container] : "", clamav_type: typer.typeOf(bytes) }
        : undefined;
      // the rules and the native body signatures, in the order translated rules would have;
      // a time-out keeps what was found: the hash hits and the rules known to match
      try {
        out.push(
          ...scanSignatures(rules, stores.bodies, bytes, {
            ...(externals ? { externals } : {}),
            ...(init.timeoutMs !== undefined ? { timeoutMs: init.timeoutMs } : {}),
          }),
        );
      } catch (e) {
        if (e instanceof ScanError && e.code === "SCAN_TIMEOUT")
          throw new DetectorTimeoutError(clamscanOrder([...out, ...(e.partial?.matches ?? []).map(toRuleMatch)]), e);
        throw e;
      }
      // in the order clamscan reports them, so that the first is the one it prints without --allmatch;
      // ClamAV's phishing verdicts on a mail text part are heuristics, reported after the signatures
      const ordered = clamscanOrder(out);
      if (phishingActive && ctx.container === "mail" && ctx.mail && phishingChecksPart(ctx.mail, bytes.length)) {
        const heuristic = (name: string): RuleMatch => ({
          rule: name,
          namespace: "clamav",
          tags: ["heuristic"],
          meta: { clamav_name: name, clamav_format: "phishing", clamav_heuristic: "phishing" },
        });
        try {
          const deadline = init.timeoutMs !== undefined ? Date.now() + init.timeoutMs : undefined;
          for (const f of phishing!.scan(bytes, deadline)) ordered.push(heuristic(f.name));
        } catch (e) {
          if (e instanceof PhishTimeout)
            throw new DetectorTimeoutError([...ordered, ...e.found.map((f) => heuristic(f.name))], e);
          throw e;
        }
      }
      return ordered;
    },
  };
}

/** Compiles everything once and returns the detector plus the spec workers load. */
export function buildSignatures(opts: SignatureOptions = {}): SignatureSetup {
  const key = opts.cacheDir ? cacheKey(opts) : undefined;
  if (key && opts.cacheDir) {
    const hit = readCompiled(sigsetPath(opts.cacheDir, key), key, opts.timeoutMs);
    if (hit) return hit;
  }
  const c = compileParts(opts);
  if (key && opts.cacheDir) writeCompiled(sigsetPath(opts.cacheDir, key), key, c);
  const init = { ...c.meta } as FullDetectorInit;
  for (const name of PART_NAMES) {
    const chunks = c.parts[name];
    if (chunks) init[name] = shared(chunks);
  }
  const detector = fullDetector(c.rules, c.stores, init);
  return { detector, spec: { module: import.meta.url, init }, warnings: c.warnings, signatures: init.signatures };
}

/**
 * As buildSignatures, for a process that only hands the compiled set on (the daemon's compile
 * child writes it down a pipe): each part stays the list of chunks its serialiser produced, so
 * the hundreds of MB of a real-scale database are not joined into one more copy here. No
 * detector is built.
 */
export function buildSignatureChunks(opts: SignatureOptions = {}): {
  module: string;
  init: Omit<FullDetectorInit, PartName>;
  parts: Partial<Record<PartName, Uint8Array[]>>;
  warnings: SignatureWarning[];
  signatures: number;
  cached?: CompiledLocation;
} {
  const key = opts.cacheDir ? cacheKey(opts) : undefined;
  if (key && opts.cacheDir) {
    const loc = locateCompiled(sigsetPath(opts.cacheDir, key), key);
    if (loc) {
      try {
        const init = readCompiledParts(loc, opts.timeoutMs) as Partial<FullDetectorInit>;
        const parts: Partial<Record<PartName, Uint8Array[]>> = {};
        for (const name of PART_NAMES) {
          if (init[name]) parts[name] = [init[name]];
          delete init[name];
        }
        return {
          module: import.meta.url,
          init: init as Omit<FullDetectorInit, PartName>,
          parts,
          warnings: loc.warnings,
          signatures: loc.signatures,
        };
      } catch {
        /* rebuild */
      }
    }
  }
  const c = compileParts(opts);
  let cached: CompiledLocation | undefined;
  if (key && opts.cacheDir) {
    const file = sigsetPath(opts.cacheDir, key);
    writeCompiled(file, key, c);
    cached = locateCompiled(file, key);
  }
  return {
    module: import.meta.url,
    init: c.meta,
    parts: c.parts,
    warnings: c.warnings,
    signatures: c.meta.signatures,
    ...(cached ? { cached } : {}),
  };
}

/** The compiled rules, then @vigil/clamav's store parts. */
const PART_NAMES = ["rules", ...STORE_PARTS] as const;
type PartName = (typeof PART_NAMES)[number];

/** A compiled set before its parts are joined: each part as its serialiser's chunks. */
interface CompiledParts {
  rules: CompiledRules;
  stores: ClamavStores;
  parts: Partial<Record<PartName, Uint8Array[]>>;
  meta: Omit<FullDetectorInit, PartName>;
  warnings: SignatureWarning[];
}

/** Every input that changes the compiled set: options, file paths and contents, the engine build. */
function cacheKey(opts: SignatureOptions): string | undefined {
  try {
    const h = createHash("sha256");
    h.update(
      JSON.stringify({
        f: 4,
        builtin: opts.builtin !== false,
        lenient: opts.lenient !== false,
        pua: !!opts.pua,
        phishing: opts.phishing ?? {},
      }),
    );
    const files: string[] = [];
    if (opts.builtin !== false) files.push(...ruleFiles(STARTER_RULES_DIR));
    for (const r of opts.rules ?? []) files.push(...ruleFiles(r));
    for (const d of opts.databases ?? []) {
      const st = statSync(d);
      if (st.isDirectory())
        for (const n of readdirSync(d).sort()) {
          const p = join(d, n);
          if (statSync(p).isFile()) files.push(p);
        }
      else files.push(d);
    }
    h.update(`\0db:${(opts.databases ?? []).length}\0rules:${(opts.rules ?? []).length}`);
    for (const f of files) h.update(`\0${resolve(f)}\0`).update(readFileSync(f));
    // a container verified with a trusted key is cached under that key: another key reverifies
    for (const k of opts.clamavTrustKeys ?? []) h.update(`\0key:${resolve(k)}\0`).update(readFileSync(k));
    // the engine and database-reader builds (every file, subfolders included): their
    // compiled output changes with their code
    for (const pkg of ["@vigil/engine", "@vigil/clamav"]) {
      const top = dirname(createRequire(import.meta.url).resolve(pkg));
      const visit = (dir: string): void => {
        for (const n of readdirSync(dir).sort()) {
          const p = join(dir, n);
          const st = statSync(p);
          if (st.isDirectory()) visit(p);
          else if (st.isFile()) h.update(`\0${pkg}/${p.slice(top.length)}:${st.size}:${st.mtimeMs}`);
        }
      };
      visit(top);
    }
    return h.digest("hex").slice(0, 32);
  } catch {
    return undefined; // unreadable inputs: compile, and let compiling report the problem
  }
}

/** The small fields of a compiled set, kept in the cache file's header. */
interface CachedFields {
  externals: Record<string, string>;
  version: string;
  signatures: number;
  warnings: SignatureWarning[];
  containerMeta?: FullDetectorInit["containerMeta"];
  authenticode?: AuthenticodeTrust;
  phishing?: FullDetectorInit["phishing"];
}

function writeCompiled(file: string, key: string, c: CompiledParts): void {
  const fields: CachedFields = {
    externals: c.meta.externals,
    version: c.meta.version,
    signatures: c.meta.signatures,
    warnings: c.warnings,
    ...(c.meta.containerMeta ? { containerMeta: c.meta.containerMeta } : {}),
    ...(c.meta.authenticode ? { authenticode: c.meta.authenticode } : {}),
    ...(c.meta.phishing ? { phishing: c.meta.phishing } : {}),
  };
  writeSigset(
    file,
    key,
    fields,
    PART_NAMES.map((name) => ({ name, chunks: c.parts[name] })),
  );
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
export interface CompiledLocation extends CachedFields {
  /** the module whose createDetector takes the init (this one). */
  module: string;
  file: string;
  size: number;
  parts: Array<{ name: PartName; offset: number; length: number }>;
}

function locateCompiled(file: string, key: string): CompiledLocation | undefined {
  const loc = locateSigset<CachedFields>(file, key, PART_NAMES);
  if (!loc) return undefined;
  const { externals, version, signatures, warnings, containerMeta, authenticode, phishing } = loc.fields;
  return {
    module: import.meta.url,
    file,
    size: loc.size,
    externals,
    version,
    signatures,
    warnings,
    ...(containerMeta ? { containerMeta } : {}),
    ...(authenticode ? { authenticode } : {}),
    ...(phishing ? { phishing } : {}),
    parts: loc.parts as CompiledLocation["parts"],
  };
}

/**
 * Where the cached compiled set for `opts` is, reading only its header (undefined: no cache
 * directory, nothing cached for these inputs, or a stale or foreign file).
 */
export function locateCompiledSignatures(opts: SignatureOptions): CompiledLocation | undefined {
  const key = opts.cacheDir ? cacheKey(opts) : undefined;
  return key && opts.cacheDir ? locateCompiled(sigsetPath(opts.cacheDir, key), key) : undefined;
}

/**
 * Reads the parts of a located compiled set straight into SharedArrayBuffers (one copy, shared
 * by the scan threads): the detector's init for createDetector. Throws RULES_FAILED when the
 * file changed size since it was located or cannot be read.
 */
export function readCompiledParts(loc: CompiledLocation, timeoutMs?: number): FullDetectorInit {
  let parts: Record<string, Uint8Array>;
  try {
    const sig: SigsetLocation<unknown> = { file: loc.file, size: loc.size, fields: undefined, parts: loc.parts };
    parts = readSigsetParts(sig);
  } catch (err) {
    if (err instanceof ClamavError) throw new ScannerError("RULES_FAILED", err.message, { cause: err });
    throw err;
  }
  return {
    rules: new Uint8Array(0),
    externals: loc.externals,
    version: loc.version,
    signatures: loc.signatures,
    timeoutMs,
    ...(loc.containerMeta ? { containerMeta: loc.containerMeta } : {}),
    ...(loc.authenticode ? { authenticode: loc.authenticode } : {}),
    ...(loc.phishing ? { phishing: loc.phishing } : {}),
    ...(parts as Partial<Record<PartName, Uint8Array>>),
  };
}

/** ClamAV's keys plus those of the trusted-keys files. */
function readTrustKeys(files: string[]): TrustedKeys {
  const more = { cvd: [] as RsaPublicKey[], info: [] as RsaPublicKey[], cdiff: [] as RsaPublicKey[] };
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, "utf8");
    } catch (err) {
      throw new ClamavError("CVD_BAD_KEY_FILE", `cannot read the trusted-keys file: ${(err as Error).message}`, {
        path: f,
        cause: err,
      });
    }
    const k = parseTrustedKeys(text, f);
    more.cvd.push(...k.cvd);
    more.info.push(...k.info);
    more.cdiff.push(...k.cdiff);
  }
  return withClamavKeys(more);
}

function compileParts(opts: SignatureOptions): CompiledParts {
  const units: SourceUnit[] = opts.builtin === false ? [] : starterSources();
  for (const p of opts.rules ?? []) {
    for (const path of ruleFiles(p)) {
      let source: string;
      try {
        source = readFileSync(path, "latin1");
      } catch (err) {
        throw new ScannerError("RULES_FAILED", `cannot read rule file ${path}: ${(err as Error).message}`, {
          cause: err,
        });
      }
      units.push({ namespace: "default", source, path });
    }
  }
  let externals: Record<string, string> = {};
  let warnings: SignatureWarning[] = [];
  let stores: ClamavStores = {};
  let dbCount = 0;
  let outsideStores = 0;
  let containerMeta: FullDetectorInit["containerMeta"];
  let authenticode: AuthenticodeTrust | undefined;
  let phishing: FullDetectorInit["phishing"];
  let clamavUnits = new Set<SourceUnit>();
  let clamavRules = new Map<string, { name: string; path: string; line: number }>();
  if (opts.databases?.length) {
    let set;
    try {
      set = loadClamavDatabase(opts.databases, {
        lenient: opts.lenient,
        nativeBodies: true,
        pua: !!opts.pua,
        phishingUrls: opts.phishing?.urls !== false,
        phishingSigs: opts.phishing?.sigs !== false,
        ...(opts.clamavTrustKeys?.length ? { keys: readTrustKeys(opts.clamavTrustKeys) } : {}),
      });
    } catch (err) {
      throw new ScannerError("RULES_FAILED", `cannot load the ClamAV database: ${(err as Error).message}`, {
        cause: err,
      });
    }
    units.push(...set.yara);
    clamavUnits = new Set(set.yara);
    clamavRules = new Map(set.rules.map((r) => [r.ruleName, r]));
    outsideStores = set.outsideStores;
    if (set.containerMeta.length) containerMeta = set.containerMeta.map((c) => ({ name: c.name, line: c.line }));
    const a = set.authenticode;
    if (
      a.disabled ||
      a.block.length ||
      a.trusted.length ||
      a.catalog.sha1.length ||
      a.catalog.sha256.length ||
      a.cab.sha1.length
    )
      authenticode = a;
    const ph = set.phishing;
    if (
      ph.protect.length ||
      ph.allow.length ||
      ph.hashes.length ||
      opts.phishing?.alertSsl ||
      opts.phishing?.alertCloak
    )
      phishing = {
        ...ph,
        ...(opts.phishing?.alertSsl ? { alertSsl: true } : {}),
        ...(opts.phishing?.alertCloak ? { alertCloak: true } : {}),
      };
    externals = set.externals;
    warnings = set.warnings;
    stores = { hashes: set.hashes, sections: set.sectionHashes, allow: set.allow, bodies: set.bodies };
    dbCount = set.count;
  }
  // a database that loads with no signatures (ClamAV's test-1.cvd) is used as clamscan uses it: "Known viruses: 0"
  if (!units.length && !dbCount && !opts.databases?.length)
    throw new ScannerError("RULES_FAILED", "no signatures to scan with: drop --no-builtin or give --rules/--database");
  const rules = compileDroppingSignatures(units, clamavUnits, clamavRules, externals, warnings);
  const parts: CompiledParts["parts"] = { rules: [rules.serialize()], ...serializeStores(stores) };
  const h = createHash("sha256");
  for (const name of PART_NAMES) {
    for (const chunk of parts[name] ?? []) h.update(chunk);
    h.update("\0");
  }
  // like clamscan's "Known viruses": every rule plus every hash and body signature
  // (plus the ClamAV signatures loaded and counted that no rule or store applies yet: .cdb .idb .pdb .gdb .cbc .imp)
  const signatures = rules.ruleCount + storeSignatureCount(stores) + outsideStores;
  if (containerMeta) h.update(JSON.stringify(containerMeta));
  if (authenticode) h.update(JSON.stringify(authenticode));
  if (phishing) h.update(JSON.stringify(phishing));
  const meta = {
    externals,
    version: h.digest("hex").slice(0, 16),
    signatures,
    timeoutMs: opts.timeoutMs,
    ...(containerMeta ? { containerMeta } : {}),
    ...(authenticode ? { authenticode } : {}),
    ...(phishing ? { phishing } : {}),
  };
  return { rules, stores, parts, meta, warnings };
}

/**
 * Compiles the units. A translated ClamAV signature the engine refuses is dropped with a
 * SIGDB_UNSUPPORTED warning naming its file, line and the engine's reason, and the rest compile
 * (a database is never refused whole for one signature); an error in a YARA rule file of the
 * user's still fails the load with RULES_FAILED.
 */
function compileDroppingSignatures(
  units: SourceUnit[],
  clamavUnits: Set<SourceUnit>,
  clamavRules: Map<string, { name: string; path: string; line: number }>,
  externals: Record<string, string>,
  warnings: SignatureWarning[],
): CompiledRules {
  let current = units;
  for (let attempt = 0; ; attempt++) {
    try {
      return compile(current.length ? current : [{ source: "" }], { externals });
    } catch (err) {
      if (!(err instanceof CompileError)) throw err;
      const fix = attempt < 1000 ? dropFailing(current, clamavUnits, clamavRules, err, warnings) : undefined;
      if (!fix) throw new ScannerError("RULES_FAILED", `rules do not compile: ${err.message}`, { cause: err });
      current = fix;
    }
  }
}

/** The units with the ClamAV rules a CompileError names removed, or undefined when it names anything else. */
function dropFailing(
  units: SourceUnit[],
  clamavUnits: Set<SourceUnit>,
  clamavRules: Map<string, { name: string; path: string; line: number }>,
  err: CompileError,
  warnings: SignatureWarning[],
): SourceUnit[] | undefined {
  const errors = err.diagnostics.filter((d) => !d.code.startsWith("W"));
  if (errors.length === 0) return undefined;
  const out = [...units];
  for (const d of errors) {
    const i = out.findIndex((u) => clamavUnits.has(u) && u.path === d.path);
    if (i < 0 || d.rule === undefined) return undefined;
    const u = out[i]!;
    const start = u.source.indexOf(`rule ${d.rule} {`);
    if (start < 0) return undefined;
    const end = u.source.indexOf("\n}\n", start);
    if (end < 0) return undefined;
    const r = clamavRules.get(d.rule);
    const where = r ? `${r.path}:${r.line}` : (u.path ?? "");
    warnings.push({
      code: "SIGDB_UNSUPPORTED",
      path: r?.path ?? u.path ?? "",
      ...(r ? { line: r.line, signature: r.name } : {}),
      message: `${where}: ${r?.name ?? d.rule}: the engine refuses its translation (${d.code}: ${d.message}); signature not loaded, the others are`,
    });
    const next: SourceUnit = { ...u, source: u.source.slice(0, start) + u.source.slice(end + 3) };
    out[i] = next;
    clamavUnits.add(next);
  }
  return out;
}

/** Worker-side entry point (see DetectorSpec). */
export function createDetector(init: FullDetectorInit): Detector {
  return fullDetector(loadRules(init.rules), loadStores(init), init);
}
