/** Loading ClamAV database files and directories into a `SignatureSet`. */

import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { ClamavError } from "./error.js";
import { HashStoreBuilder, type HashStore } from "./stores/hashdb/store.js";
import { loadHashBytes, loadHashFile } from "./formats/hash-file.js";
import { containerKindOf, openContainer, type OpenedContainer } from "./containers/cvd.js";
import type { TrustedKeys } from "./containers/dsig.js";
import { BodyDbBuilder, type BodyDb } from "./stores/bodydb/store.js";
import { FLEVEL, ruleIdentifier, SignatureSyntaxError } from "./signature/fields.js";
import { IgnoreList } from "./formats/ign.js";
import { parseNdbLine, translateNdb } from "./formats/ndb.js";
import { ldbEngineOk, parseLdbLine, translateLdb, UNSUPPORTED } from "./formats/ldb.js";
import type { TranslatedRule } from "./translate/yara.js";
import { parseCdbLine, type CdbSignature } from "./formats/cdb.js";
import { parseIdbLine, type IdbSignature } from "./formats/idb.js";
import { parseCrbLine, type CrbRule } from "./formats/crb.js";
import { type AuthenticodeTrust, addCrbRule, emptyTrust, loadCatalog } from "./authenticode/trust.js";
import { fileTyperFor, ftmLines, ftmPatternSupported, type FileTyper } from "./filetype/typer.js";
import { parseFtmLine, type FtmEntry } from "./formats/ftm.js";
import { parseCfgLine, type DconfLine } from "./formats/cfg.js";
import { parsePhishLine, type PhishEntry } from "./formats/phish.js";
import { posixToRegExp } from "./phishing/lists.js";
import { parseCbc } from "./formats/cbc.js";
import { parseImpLine, translateImp } from "./formats/imp.js";

export interface SignatureWarning {
  code:
    | "SIGDB_UNSUPPORTED"
    | "SIGDB_APPROXIMATE"
    | "SIGDB_MALFORMED_LINE"
    | "SIGDB_UNKNOWN_EXTENSION"
    | "SIGDB_SKIPPED_PUA"
    /** a container in a database directory that failed a check (its ClamavError code is in the message): the others load */
    | "SIGDB_REFUSED"
    /** what ClamAV warns about and still loads: an old daily, a high functionality level, an older duplicate skipped */
    | "SIGDB_CONTAINER"
    /** signatures loaded and counted (as clamscan counts them) that Vigil's scanner does not apply yet: the message says why and what is left out */
    | "SIGDB_NOT_APPLIED";
  path: string;
  line?: number;
  /** the ClamAV signature name, when the warning is about one signature. */
  signature?: string;
  message: string;
}

export interface SignatureSet {
  /** YARA rule sources, one unit per `.ndb`/`.ldb`/`.imp` file: pass them to the engine's `compile`. */
  yara: Array<{ namespace: string; source: string; path: string }>;
  /**
   * external variables the rules use: give them to `compile`. Per scan set `clamav_container`
   * ("" for a top-level file, else the container's CL_TYPE_* name) and `clamav_type` (the
   * buffer's ClamAV type, `typer.typeOf(bytes)`; `scanSignatures` sets it). `clamav_ftm`, when
   * present, holds the databases' `.ftm` entries as lines (`fileTyperFor` rebuilds `typer` from it).
   */
  externals: Record<string, string>;
  /** whole-file hashes (`.hdb .hsb` and plain hash lists). */
  hashes: HashStore;
  /** PE section hashes (`.mdb .msb`): look up each section's raw size and digest. */
  sectionHashes: HashStore;
  /** allow list (`.fp .sfp`): a file whose hash is here is reported clean whatever matched. */
  allow: HashStore;
  /** `.ndb` signatures held natively (with `nativeBodies`); the others are in `yara`. */
  bodies?: BodyDb;
  /** `.cdb` container metadata signatures (names with their suffix): a scanner matches them against archive members (`matchContainerMeta`). */
  containerMeta: CdbSignature[];
  /** `.idb` icon signatures (the groups `.ldb` IconGroup1/2 name). Not applied: needs PE icon resources. */
  icons: IdbSignature[];
  /** `.crb` Authenticode trust (trusted) and block rules, in load order. */
  certRules: CrbRule[];
  /**
   * What a scanner applies for `.crb`/`.cat` (../authenticode/trust.ts `checkAuthenticode`):
   * block rules, trusted certificates (the trust rules plus those verified catalogs came to
   * trust) and the PE Authenticode hashes of verified catalogs. Serialisable.
   */
  authenticode: AuthenticodeTrust;
  /** `.ftm` file-type magic entries in file order: with ClamAV's built-in magic they make `typer`. */
  fileTypes: FtmEntry[];
  /** decides the ClamAV file type of a buffer, which selects the signatures with a target type (./filetype/typer.ts). */
  typer: FileTyper;
  /** `.cfg` engine configuration: each category's mask as the last line in range set it. */
  dconf: Partial<Record<DconfLine["category"], number>>;
  /** `.pdb` (protect), `.wdb` (allow) and `.gdb` (hash) phishing entries: a scanner checks mail links with `PhishingChecker` (./phishing). */
  phishing: { protect: PhishEntry[]; allow: PhishEntry[]; hashes: PhishEntry[] };
  /** names of the logical `.cbc` bytecode signatures counted but not executed (Vigil has no bytecode interpreter). */
  bytecode: string[];
  /**
   * How many of `count` sit in no rule and no store (the lists `containerMeta`, `icons`,
   * `phishing`, `bytecode`, and SHA `.imp` lines): a scanner reporting clamscan's "Known
   * viruses" adds these to what it compiled.
   */
  outsideStores: number;
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
  /**
   * A malformed line is a SIGDB_MALFORMED_LINE warning naming file, line and reason, and the
   * rest of the database loads (default true: a database is never refused whole because of one
   * signature). `false` fails the load with a ClamavError instead, as clamscan does ("Malformed
   * database", exit 2, nothing from that file loaded).
   */
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
  /** the keys `.cvd` signatures are checked with (default: ClamAV's published keys) */
  keys?: TrustedKeys;
  /** now, for the database-age warning (default: the clock) */
  now?: Date;
  /** load `.cbc` bytecode from files that are not signed containers (clamscan --bytecode-unsigned); default false, as clamscan. */
  bytecodeUnsigned?: boolean;
  /**
   * Load the `.pdb .wdb .gdb` phishing URL databases (clamscan --phishing-scan-urls, clamd
   * PhishingScanURLs; default true). Off: those files are skipped and not counted, as clamscan.
   */
  phishingUrls?: boolean;
  /**
   * Load the body signatures named `HTML.Phishing*` and `Email.Phishing*` from `.ndb` files
   * (clamscan --phishing-sigs, clamd PhishingSignatures; default true).
   */
  phishingSigs?: boolean;
}

/** One database file to read: on disk, or a member of a container held in memory. */
interface Source {
  path: string;
  kind: Kind;
  pua: boolean;
  /** the file's bytes when it came out of a container */
  bytes?: Uint8Array;
  /** the suffix names from this file get ("" for signed official containers) */
  suffix?: string;
}

/** The containers that exist, one per database name: the higher version wins, a .cld on a tie (as clamscan). */
function newestContainers(paths: string[], warnings: SignatureWarning[], options: LoadOptions): string[] {
  const byName = new Map<string, { path: string; version: number; cld: boolean }>();
  const kept: string[] = [];
  for (const p of paths) {
    let version = -1;
    try {
      // the header only: reading the whole file here (hundreds of MB for a main.cvd) read it twice
      const head = Buffer.alloc(512);
      const fd = openSync(p, "r");
      let n: number;
      try {
        n = readSync(fd, head, 0, 512, 0);
      } finally {
        closeSync(fd);
      }
      const f = head.subarray(0, n).toString("latin1").split(":");
      version = Number(f[2]);
    } catch {
      // unreadable: openContainers reports it
    }
    const name = basename(p).replace(/\.(cvd|cld|cud)$/i, "");
    const cld = containerKindOf(p) === "cld";
    const prev = byName.get(name);
    if (!prev) byName.set(name, { path: p, version, cld });
    else {
      const wins = version > prev.version || (version === prev.version && cld && !prev.cld);
      const loser = wins ? prev.path : p;
      warnings.push({
        code: "SIGDB_CONTAINER",
        path: loser,
        message: `${loser}: an older copy of the '${name}' database, skipped (clamscan skips it too)`,
      });
      if (wins) byName.set(name, { path: p, version, cld });
    }
  }
  for (const v of byName.values()) kept.push(v.path);
  void options;
  return kept.sort();
}

type Kind =
  | "hdb"
  | "mdb"
  | "fp"
  | "list"
  | "ndb"
  | "ldb"
  | "ign2"
  | "ign"
  | "imp"
  | "cdb"
  | "idb"
  | "crb"
  | "cat"
  | "ftm"
  | "cfg"
  | "pdb"
  | "gdb"
  | "wdb"
  | "cbc"
  | "info";

function kindOf(path: string): { kind: Kind; pua: boolean } | undefined {
  const ext = path.slice(path.lastIndexOf(".") + 1).toLowerCase();
  const map: Record<string, Kind> = {
    hdb: "hdb",
    hsb: "hdb",
    mdb: "mdb",
    msb: "mdb",
    fp: "fp",
    sfp: "fp",
    ndb: "ndb",
    ldb: "ldb",
    ign2: "ign2",
    ign: "ign",
    imp: "imp",
    cdb: "cdb",
    idb: "idb",
    crb: "crb",
    cat: "cat",
    ftm: "ftm",
    cfg: "cfg",
    pdb: "pdb",
    gdb: "gdb",
    wdb: "wdb",
    cbc: "cbc",
    info: "info",
    txt: "list",
    md5: "list",
    sha1: "list",
    sha256: "list",
    hashes: "list",
  };
  const pua: Record<string, Kind> = { hdu: "hdb", hsu: "hdb", mdu: "mdb", msu: "mdb", ndu: "ndb", ldu: "ldb" };
  if (map[ext]) return { kind: map[ext]!, pua: false };
  if (pua[ext]) return { kind: pua[ext]!, pua: true };
  return undefined;
}

function expand(paths: string[], warnings: SignatureWarning[], options: LoadOptions): Source[] {
  const files: string[] = [];
  const containers: Array<{ path: string; explicit: boolean }> = [];
  for (const p of paths) {
    let st;
    try {
      st = statSync(p);
    } catch (cause) {
      throw new ClamavError("SIGDB_READ", `cannot open database: ${(cause as Error).message}`, { path: p, cause });
    }
    if (st.isDirectory()) {
      // in a directory, .txt files are documentation, not hash lists (name them explicitly to load them)
      const names = readdirSync(p).sort();
      for (const name of names)
        if (kindOf(name) !== undefined && !name.toLowerCase().endsWith(".txt")) files.push(join(p, name));
      const found = names.filter((n) => containerKindOf(n) !== undefined).map((n) => join(p, n));
      if (!found.length && !names.some((n) => kindOf(n) !== undefined && !n.toLowerCase().endsWith(".txt"))) {
        throw new ClamavError(
          "SIGDB_READ",
          "no supported database files in this directory (as clamscan, Vigil refuses an empty database directory): check the path, or run an update",
          { path: p },
        );
      }
      for (const c of newestContainers(found, warnings, options)) containers.push({ path: c, explicit: false });
    } else if (containerKindOf(p) !== undefined) {
      containers.push({ path: p, explicit: true });
    } else if (kindOf(p)?.kind === "info") {
      throw new ClamavError(
        "SIGDB_INFO_ALONE",
        "a .info manifest is only read inside its .cvd/.cld/.cud container (clamscan refuses it too); load the container instead",
        { path: p },
      );
    } else if (kindOf(p) === undefined) {
      warnings.push({
        code: "SIGDB_UNKNOWN_EXTENSION",
        path: p,
        message: `${p}: unknown database extension, skipped (use one of ClamAV's database extensions or a hash list .txt/.md5/.sha1/.sha256)`,
      });
    } else files.push(p);
  }
  const sources: Source[] = [];
  for (const f of files) {
    const k = kindOf(f)!;
    if (k.kind === "info")
      warnings.push({
        code: "SIGDB_REFUSED",
        path: f,
        message: `${f}: a .info manifest is only read inside its .cvd/.cld/.cud container (clamscan refuses it); skipped, the other files load`,
      });
    else sources.push({ path: f, ...k });
  }
  for (const c of containers) sources.push(...containerSources(c.path, c.explicit, warnings, options));
  return sources;
}

/**
 * The signature files of a verified container. A container named on its own that fails a check
 * fails the load (the user asked for it); one found in a database directory is skipped with a
 * SIGDB_REFUSED warning and the others load, as clamd keeps serving with the rest.
 */
function containerSources(
  path: string,
  explicit: boolean,
  warnings: SignatureWarning[],
  options: LoadOptions,
): Source[] {
  let db: OpenedContainer;
  try {
    db = openContainer(readFileSync(path), {
      path,
      flevel: options.flevel ?? FLEVEL,
      ...(options.keys ? { keys: options.keys } : {}),
      ...(options.now ? { now: options.now } : {}),
    });
  } catch (cause) {
    if (explicit) {
      if (cause instanceof ClamavError) throw cause;
      throw new ClamavError("SIGDB_READ", `cannot read: ${(cause as Error).message}`, { path, cause });
    }
    const code = cause instanceof ClamavError ? ` (${cause.code})` : "";
    warnings.push({
      code: "SIGDB_REFUSED",
      path,
      message: `${(cause as Error).message}${code}; this database is not loaded, the others are`,
    });
    return [];
  }
  for (const w of db.warnings) warnings.push({ code: "SIGDB_CONTAINER", path, message: w });
  const out: Source[] = [];
  let puaSkipped = 0;
  for (const f of db.databases) {
    const memberPath = `${path}/${f.name}`;
    const k = kindOf(f.name);
    if (k?.pua && !options.pua) {
      puaSkipped++;
      continue;
    }
    if (!k || k.kind === "list") {
      // ClamAV ships placeholder files holding only a comment: nothing is lost by not reading them
      const text = Buffer.from(f.bytes).toString("latin1");
      if (text.split("\n").every((l) => l.trim() === "" || l.startsWith("#"))) continue;
      warnings.push({
        code: "SIGDB_UNSUPPORTED",
        path: memberPath,
        message: `${memberPath}: this signature format is not read yet; its signatures are not loaded`,
      });
      continue;
    }
    out.push({ path: memberPath, ...k, bytes: f.bytes, ...(db.kind === "cud" ? {} : { suffix: "" }) });
  }
  if (puaSkipped > 0) {
    warnings.push({
      code: "SIGDB_SKIPPED_PUA",
      path,
      message: `${path}: ${puaSkipped} PUA signature files not loaded (clamscan loads them only with --detect-pua)`,
    });
  }
  return out;
}

function readLines(source: Source): string[] {
  const { path } = source;
  let text: string;
  try {
    text = source.bytes ? Buffer.from(source.bytes).toString("utf8") : readFileSync(path, "utf8");
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
  const typed = expand(Array.isArray(paths) ? paths : [paths], warnings, options);
  const flevel = options.flevel ?? FLEVEL;
  const suffix = options.suffix ?? ".UNOFFICIAL";
  const ignore = new IgnoreList();
  const hashes = new HashStoreBuilder();
  const sections = new HashStoreBuilder();
  const allow = new HashStoreBuilder();
  const containerMeta: CdbSignature[] = [];
  const icons: IdbSignature[] = [];
  const certRules: CrbRule[] = [];
  const authenticode = emptyTrust();
  // .cfg PE switches, read as libclamav reads them: at load time for .crb/.cat, at the end for scanning
  const PE_CONF_CATALOG = 0x10000,
    PE_CONF_CERTS = 0x20000;
  const peOff = (bit: number) => dconf.PE !== undefined && (dconf.PE & bit) === 0;
  const fileTypes: FtmEntry[] = [];
  const dconf: SignatureSet["dconf"] = {};
  const phishing: SignatureSet["phishing"] = { protect: [], allow: [], hashes: [] };
  const bytecode: string[] = [];
  let outsideStores = 0;
  const yara: SignatureSet["yara"] = [];
  const rules: SignatureSet["rules"] = [];
  let count = 0;
  let ruleIndex = 0;
  // names go into the body store with their suffix: official containers have none, loose files ".UNOFFICIAL"
  const bodies = options.nativeBodies ? new BodyDbBuilder("") : undefined;

  const malformed = (path: string, line: number, message: string, signature?: string) => {
    if (options.lenient === false)
      throw new ClamavError(
        "SIGDB_MALFORMED_LINE",
        `${message}; fix or delete the line (clamscan also refuses the whole database)`,
        { path, line },
      );
    warnings.push({
      code: "SIGDB_MALFORMED_LINE",
      path,
      line,
      signature,
      message: `${path}:${line}: ${message}; skipped`,
    });
  };

  /** Reads the formats that go to neither a store nor a rule; returns what they add to "Known viruses". */
  const loadOther = (f: Source, fileSuffix: string): { counted: number } => {
    if (f.kind === "cat") {
      // as cli_loadmscat: verified against the .crb trust loaded so far (load the .crb first),
      // its PE Authenticode hashes then make the files they name clean; never counted
      let der: Uint8Array;
      try {
        der = f.bytes ?? readFileSync(f.path);
      } catch (e) {
        throw new ClamavError("SIGDB_READ", `cannot read ${f.path}: ${(e as Error).message}`, {
          path: f.path,
          cause: e,
        });
      }
      if (der.length === 0) return { counted: 0 };
      if (peOff(PE_CONF_CATALOG) || peOff(PE_CONF_CERTS)) {
        warnings.push({
          code: "SIGDB_NOT_APPLIED",
          path: f.path,
          message: `${f.path}: Authenticode catalog skipped: the engine configuration (.cfg PE) turns catalogs or certificates off, as in clamscan`,
        });
        return { counted: 0 };
      }
      const r = loadCatalog(der, authenticode);
      if (r.error)
        warnings.push({
          code: r.added ? "SIGDB_MALFORMED_LINE" : "SIGDB_NOT_APPLIED",
          path: f.path,
          message: r.added
            ? `${f.path}: Authenticode catalog read up to a malformed entry (${r.error}); the ${r.added} PE hash(es) before it are trusted, as clamscan keeps them`
            : `${f.path}: Authenticode catalog not loaded: ${r.error}; it trusts no file (clamscan ignores it too; its signer must chain to a .crb trust rule loaded before it)`,
        });
      return { counted: 0 };
    }
    if (f.kind === "cbc") {
      const official = f.suffix === "";
      const text = f.bytes ? Buffer.from(f.bytes).toString("latin1") : readFileSync(f.path, "latin1");
      if (!official && !options.bytecodeUnsigned) {
        warnings.push({
          code: "SIGDB_NOT_APPLIED",
          path: f.path,
          message: `${f.path}: unsigned bytecode skipped (clamscan loads it only with --bytecode-unsigned; pass bytecodeUnsigned)`,
        });
        return { counted: 0 };
      }
      try {
        const h = parseCbc(text);
        if (h.format !== 6 && h.format !== 7) return { counted: 0 };
        if ((h.minFlevel && h.minFlevel > flevel) || (h.maxFlevel && h.maxFlevel < flevel)) return { counted: 0 };
        if (ignoreFn?.(h.name, text.split("\n")[1] ?? "")) return { counted: 0 };
        const name = h.name + (official ? "" : fileSuffix);
        warnings.push({
          code: "SIGDB_NOT_APPLIED",
          path: f.path,
          signature: name,
          message: `${f.path}: bytecode ${h.logical ? `signature ${name}` : `hook ${name} (kind ${h.kind})`} loaded${h.logical ? " and counted" : ""} but not executed: Vigil has no bytecode interpreter, so ${h.logical ? "it detects nothing" : "what it unpacks or checks is not done"}`,
        });
        if (h.logical) bytecode.push(name);
        return { counted: h.logical ? 1 : 0 };
      } catch (e) {
        if (!(e instanceof SignatureSyntaxError)) throw e;
        malformed(f.path, 1, e.message);
        return { counted: 0 };
      }
    }
    let counted = 0;
    let entries = 0;
    const dconfSet = new Set<string>();
    // cli_loadcrt reuses one certificate record for a file's lines: once a line leaves the
    // serial empty, every later line of the file matches any serial, and an empty NotBefore
    // keeps the one before (clamscan 1.4.6 behaves so; Vigil does the same)
    let anySerial = false;
    let notBefore: number | undefined;
    readLines(f).forEach((raw, i) => {
      const lineNo = i + 1;
      if (raw === "" || raw.startsWith("#")) return;
      try {
        switch (f.kind) {
          case "cdb": {
            const sig = parseCdbLine(raw, flevel);
            if (!sig || ignoreFn?.(sig.name, raw)) return;
            containerMeta.push({ ...sig, name: sig.name + fileSuffix });
            counted++;
            break;
          }
          case "idb": {
            const sig = parseIdbLine(raw);
            icons.push(sig);
            counted++;
            break;
          }
          case "crb": {
            const parsed = parseCrbLine(raw, flevel);
            if (parsed) {
              anySerial ||= parsed.serial === undefined;
              notBefore = parsed.notBefore ?? notBefore;
            }
            const r = parsed && { ...parsed, serial: anySerial ? undefined : parsed.serial, notBefore };
            if (r) {
              certRules.push(r);
              if (!peOff(PE_CONF_CERTS)) addCrbRule(authenticode, r);
              entries++;
            }
            break;
          }
          case "ftm": {
            const e = parseFtmLine(raw, flevel);
            if (e && !ftmPatternSupported(e)) {
              warnings.push({
                code: "SIGDB_UNSUPPORTED",
                path: f.path,
                line: lineNo,
                message: `${f.path}:${lineNo}: file-type magic '${e.name}' not loaded: its pattern uses a form Vigil's matcher cannot hold; it retypes nothing`,
              });
            } else if (e) fileTypes.push(e);
            if (e) entries++;
            break;
          }
          case "cfg": {
            const d = parseCfgLine(raw, flevel);
            if (d) {
              dconf[d.category] = d.mask;
              dconfSet.add(d.category);
            }
            break;
          }
          case "pdb":
          case "gdb":
          case "wdb": {
            const e = parsePhishLine(raw, f.kind, flevel);
            if (!e) return;
            if (e.kind === "R" || e.kind === "X" || e.kind === "Y") {
              try {
                posixToRegExp(`${e.pattern}/`);
              } catch (err) {
                throw new SignatureSyntaxError(`regular expression does not compile: ${(err as Error).message}`);
              }
            }
            (f.kind === "pdb" ? phishing.protect : f.kind === "wdb" ? phishing.allow : phishing.hashes).push(e);
            if (f.kind !== "wdb") counted++;
            else entries++;
            break;
          }
        }
      } catch (e) {
        if (!(e instanceof SignatureSyntaxError)) throw e;
        malformed(f.path, lineNo, e.message);
      }
    });
    const why: Partial<Record<Kind, string>> = {
      idb: `${counted} icon signature(s) loaded and counted, not applied (icon matching needs a PE's icon resources, which Vigil does not read yet); .ldb IconGroup1/IconGroup2 conditions are not checked`,
      cfg: `engine configuration read (${[...dconfSet].join(", ") || "no category in range"}); Vigil honours only the PE CERTS and CATALOG switches (Authenticode .crb/.cat); the others have no effect; not counted, as clamscan`,
    };
    if ((counted > 0 || entries > 0 || dconfSet.size > 0) && why[f.kind])
      warnings.push({ code: "SIGDB_NOT_APPLIED", path: f.path, message: `${f.path}: ${why[f.kind]}` });
    return { counted };
  };

  for (const f of typed.filter((t) => t.kind === "ign2" || t.kind === "ign")) {
    readLines(f).forEach((raw, i) => {
      if (raw === "" || raw.startsWith("#")) return;
      const parts = raw.split(":");
      if (f.kind === "ign") {
        if (parts.length < 3)
          return malformed(f.path, i + 1, "expected three ':' separated fields, the name in the third");
        ignore.add(parts[2]!);
      } else if (parts.length === 1) ignore.add(parts[0]!);
      else if (parts.length === 2 && /^[0-9a-fA-F]{32}$/.test(parts[1]!)) ignore.add(parts[0]!, parts[1]!);
      else malformed(f.path, i + 1, "expected Name or Name:md5-of-the-signature-line");
    });
  }
  const ignoreFn = ignore.size > 0 ? (name: string, line: string) => ignore.matches(name, line) : undefined;

  const loadSource = (f: Source): void => {
    if (f.kind === "ign2" || f.kind === "ign") return;
    if (f.pua && !options.pua) {
      warnings.push({
        code: "SIGDB_SKIPPED_PUA",
        path: f.path,
        message: `${f.path}: PUA database skipped (loaded with --detect-pua, the pua load option, as clamscan --detect-pua)`,
      });
      return;
    }
    if (f.kind === "info") return; // only inside containers, which read it themselves
    if ((f.kind === "pdb" || f.kind === "wdb" || f.kind === "gdb") && options.phishingUrls === false) return;
    if (
      f.kind !== "hdb" &&
      f.kind !== "mdb" &&
      f.kind !== "fp" &&
      f.kind !== "list" &&
      f.kind !== "imp" &&
      f.kind !== "ndb" &&
      f.kind !== "ldb"
    ) {
      const n = loadOther(f, f.suffix ?? suffix);
      count += n.counted;
      outsideStores += n.counted;
      return;
    }
    if (f.kind === "hdb" || f.kind === "mdb" || f.kind === "fp" || f.kind === "list") {
      const builder = f.kind === "mdb" ? sections : f.kind === "fp" ? allow : hashes;
      const format = f.kind;
      const load = f.bytes
        ? (b: typeof builder, _p: string, k: typeof format, o: Parameters<typeof loadHashBytes>[3]) =>
            loadHashBytes(b, f.bytes!, k, { ...o, path: f.path })
        : loadHashFile;
      const stats = load(builder, f.path, format, {
        flevel,
        suffix: f.kind === "list" ? "" : (f.suffix ?? suffix),
        defaultName: `HashList.${basename(f.path).replace(/\.[^.]*$/, "")}`,
        ignore: ignoreFn,
        lenient: options.lenient !== false,
        onWarning: (message, line) => warnings.push({ code: "SIGDB_MALFORMED_LINE", path: f.path, line, message }),
      });
      count += stats.loaded;
      return;
    }
    const parts: string[] = [];
    const modules = new Set<string>();
    const namespace = `clamav_${basename(f.path).replace(/[^A-Za-z0-9_]/g, "_")}`;
    const fileSuffix = f.suffix ?? suffix;
    readLines(f).forEach((raw, i) => {
      const lineNo = i + 1;
      if (raw === "" || raw.startsWith("#")) return;
      let name: string | undefined;
      try {
        let t: TranslatedRule;
        if (f.kind === "imp") {
          const sig = parseImpLine(raw, flevel);
          if (!sig) return;
          name = sig.name;
          if (ignoreFn?.(sig.name, raw)) return;
          if (sig.hash.length !== 32) {
            // counted as clamscan counts it; the engine has no SHA import hash to compare with
            count++;
            outsideStores++;
            warnings.push({
              code: "SIGDB_NOT_APPLIED",
              path: f.path,
              line: lineNo,
              signature: name,
              message: `${f.path}:${lineNo}: ${name}: SHA-${sig.hash.length === 40 ? 1 : 256} import hash loaded and counted, not applied (the engine computes only the MD5 imphash)`,
            });
            return;
          }
          t = translateImp(sig, ruleIndex, sig.name + fileSuffix);
        } else if (f.kind === "ndb") {
          const sig = parseNdbLine(raw);
          name = sig.name;
          if (options.phishingSigs === false && /^(HTML|Email)\.Phishing/.test(sig.name)) return;
          if (
            (sig.minFlevel !== undefined && sig.minFlevel > flevel) ||
            (sig.maxFlevel !== undefined && sig.maxFlevel < flevel)
          )
            return;
          if (ignoreFn?.(sig.name, raw)) return;
          const held = bodies?.add({ ...sig, name: sig.name + fileSuffix }, ruleIndex, namespace);
          if (held) {
            rules.push({
              name: sig.name + fileSuffix,
              ruleName: ruleIdentifier(ruleIndex, (sig.name + fileSuffix).replace(/\.UNOFFICIAL$/, "")),
              path: f.path,
              line: lineNo,
              approximations: held.approximations,
            });
            for (const a of held.approximations)
              warnings.push({
                code: "SIGDB_APPROXIMATE",
                path: f.path,
                line: lineNo,
                signature: name,
                message: `${f.path}:${lineNo}: ${name}: ${a}`,
              });
            ruleIndex++;
            count++;
            return;
          }
          t = translateNdb(sig, ruleIndex, sig.name + fileSuffix);
        } else {
          const sig = parseLdbLine(raw);
          name = sig.name;
          if (!ldbEngineOk(sig, flevel)) return;
          if (ignoreFn?.(sig.name, raw)) return;
          if (sig.tdb.IconGroup1 !== undefined || sig.tdb.IconGroup2 !== undefined) {
            // counted as clamscan counts it, never reported: a match also needs the PE's icon
            // to look like the group's, which Vigil cannot check (no PE icon reader yet)
            if (sig.tdb.Target !== "1")
              throw new SignatureSyntaxError(
                "IconGroup is only supported in PE (target 1) signatures, as clamscan says",
              );
            const { IconGroup1: _a, IconGroup2: _b, ...rest } = sig.tdb;
            translateLdb({ ...sig, tdb: rest }, ruleIndex, sig.name + fileSuffix); // the rest must still be valid
            count++;
            outsideStores++;
            warnings.push({
              code: "SIGDB_NOT_APPLIED",
              path: f.path,
              line: lineNo,
              signature: name,
              message: `${f.path}:${lineNo}: ${name}: loaded and counted, not applied: its IconGroup condition needs the PE's icon resources, which Vigil does not read yet`,
            });
            return;
          }
          t = translateLdb(sig, ruleIndex, sig.name + fileSuffix);
        }
        ruleIndex++;
        count++;
        parts.push(t.source);
        for (const m of t.modules) modules.add(m);
        rules.push({
          name: t.name,
          ruleName: t.ruleName,
          path: f.path,
          line: lineNo,
          approximations: t.approximations,
        });
        for (const a of t.approximations)
          warnings.push({
            code: "SIGDB_APPROXIMATE",
            path: f.path,
            line: lineNo,
            signature: name,
            message: `${f.path}:${lineNo}: ${name}: ${a}`,
          });
      } catch (e) {
        // a signature nested too deeply for the translation (the stack runs out) is one signature's problem
        if (e instanceof RangeError)
          return void warnings.push({
            code: "SIGDB_UNSUPPORTED",
            path: f.path,
            line: lineNo,
            signature: name,
            message: `${f.path}:${lineNo}: ${name ?? "signature"}: too complex to translate (${e.message}); signature not loaded`,
          });
        if (!(e instanceof SignatureSyntaxError)) throw e;
        const unsupported = UNSUPPORTED.test(e.message);
        if (unsupported)
          warnings.push({
            code: "SIGDB_UNSUPPORTED",
            path: f.path,
            line: lineNo,
            signature: name,
            message: `${f.path}:${lineNo}: ${name ?? "signature"}: ${e.message}; signature not loaded`,
          });
        else malformed(f.path, lineNo, name === undefined ? e.message : `${name}: ${e.message}`, name);
      }
    });
    if (parts.length > 0) {
      const imports = [...modules]
        .sort()
        .map((m) => `import "${m}"\n`)
        .join("");
      yara.push({ namespace, source: `${imports}\n${parts.join("\n")}`, path: f.path });
    }
  };
  for (const f of typed) {
    if (f.kind === "ign2" || f.kind === "ign") continue;
    loadSource(f);
    // a container member's bytes are a view of its whole tar: once every member has been read,
    // nothing holds the tar (hundreds of MB for a main.cvd) and it can go before the load ends
    f.bytes = undefined;
  }
  if (peOff(PE_CONF_CERTS)) {
    authenticode.disabled = "the engine configuration (.cfg PE) turns Authenticode certificates off";
    if (certRules.length)
      warnings.push({
        code: "SIGDB_NOT_APPLIED",
        path: typed.find((t) => t.kind === "cfg")?.path ?? "",
        message: `Authenticode trust and block rules, catalogs and size-2 allow-list hashes not applied: ${authenticode.disabled}, as in clamscan`,
      });
  }
  // the databases' .ftm entries with ClamAV's built-in magic decide the file types targets select
  const typer = fileTyperFor(ftmLines(fileTypes));
  return {
    yara,
    externals: {
      clamav_container: "",
      clamav_type: "",
      ...(fileTypes.length ? { clamav_ftm: ftmLines(fileTypes) } : {}),
    },
    hashes: hashes.finish(),
    sectionHashes: sections.finish(),
    allow: allow.finish(),
    ...(bodies && bodies.count > 0 ? { bodies: bodies.finish() } : {}),
    containerMeta,
    icons,
    certRules,
    authenticode,
    fileTypes,
    typer,
    dconf,
    phishing,
    bytecode,
    outsideStores,
    ignored: ignore.names(),
    count,
    rules,
    warnings,
  };
}
