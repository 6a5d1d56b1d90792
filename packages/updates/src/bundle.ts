/**
 * Rule bundles. A bundle is a manifest plus rule files. The manifest (name, version, time,
 * previous manifest hash, engine version, files with size and sha256) is one line of JSON with a
 * fixed key order; the publisher signs it as a C2SP signed note. That signed manifest is the log
 * entry. The archive is a deterministic ustar file: `MANIFEST` (the signed manifest) then
 * `rules/<path>` for each file in path order. Same inputs, same bytes.
 */
import { createHash } from "node:crypto";
import { readdir, readFile, lstat } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { compile, CompileError, ENGINE_VERSION, formatDiagnostic } from "@vigil/engine";
import { NoteError, openNote, signNote, type SignerKey } from "@vigil/tlog";
import { UpdateError } from "./error.js";
import { readTar, writeTar } from "./tar.js";

export const MANIFEST_FORMAT = "vigil-bundle/v1";
/** A log entry must fit a uint16 length prefix; keep a margin. */
export const MAX_ENTRY_BYTES = 60_000;
export const MAX_BUNDLE_FILES = 5_000;
export const MAX_FILE_BYTES = 64 * 1024 * 1024;
const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const PATH_RE = /^(?:[A-Za-z0-9_][A-Za-z0-9._-]*\/)*[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const RULE_EXT = /\.(yar|yara|rule|rules)$/i;
/** ClamAV databases a bundle may carry (the endpoint loads them with -d; audited by ./audit/clamav.ts). */
const CLAMAV_EXT =
  /\.(cvd|cld|cud|hdb|hsb|hdu|hsu|mdb|msb|mdu|msu|ndb|ndu|ldb|ldu|fp|sfp|ign|ign2|cdb|idb|imp|ftm|cfg|pdb|gdb|wdb|crb|cat|cbc|info)$/i;

export interface ManifestFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

export interface Manifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly name: string;
  readonly version: number;
  /** RFC 3339 UTC time of publication */
  readonly time: string;
  /** hex SHA-256 of the previous version's signed manifest (the previous log entry), or "" for the first */
  readonly previous: string;
  /** engine version the rules need (the publisher's engine version) */
  readonly engine: string;
  readonly files: ManifestFile[];
}

export interface RuleFileData {
  readonly path: string;
  readonly data: Uint8Array;
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

function bad(message: string): UpdateError {
  return new UpdateError("BAD_BUNDLE", message);
}

export function isValidBundlePath(p: string): boolean {
  return PATH_RE.test(p) && Buffer.byteLength(p) <= 90 && !p.split("/").some((c) => c === "." || c === "..");
}

/** Serialises a manifest as one line of JSON with a fixed key order, ending in a newline. */
export function encodeManifest(m: Manifest): string {
  validateManifest(m);
  const files = m.files.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 }));
  return (
    JSON.stringify({
      format: m.format,
      name: m.name,
      version: m.version,
      time: m.time,
      previous: m.previous,
      engine: m.engine,
      files,
    }) + "\n"
  );
}

function validateManifest(m: Manifest): void {
  if (m.format !== MANIFEST_FORMAT) throw bad(`manifest format must be ${MANIFEST_FORMAT}`);
  if (typeof m.name !== "string" || !NAME_RE.test(m.name))
    throw bad("manifest name must be 1-64 characters of a-z, 0-9, '.', '_' or '-'");
  if (!Number.isSafeInteger(m.version) || m.version < 1) throw bad("manifest version must be a positive integer");
  if (
    typeof m.time !== "string" ||
    !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(m.time) ||
    Number.isNaN(Date.parse(m.time))
  ) {
    throw bad("manifest time must be an RFC 3339 UTC time");
  }
  if (typeof m.previous !== "string" || !/^(|[0-9a-f]{64})$/.test(m.previous))
    throw bad("manifest previous must be a hex SHA-256 or empty");
  if (typeof m.engine !== "string" || !/^\d+\.\d+\.\d+$/.test(m.engine))
    throw bad("manifest engine must be a version x.y.z");
  if (!Array.isArray(m.files) || m.files.length === 0 || m.files.length > MAX_BUNDLE_FILES)
    throw bad(`a bundle holds 1..${MAX_BUNDLE_FILES} files`);
  let prev = "";
  for (const f of m.files) {
    if (typeof f.path !== "string" || !isValidBundlePath(f.path))
      throw bad(`bad file path in manifest: ${JSON.stringify(f.path)}`);
    if (f.path <= prev) throw bad("manifest files must be sorted by path, without duplicates");
    prev = f.path;
    if (!Number.isSafeInteger(f.size) || f.size < 0 || f.size > MAX_FILE_BYTES) throw bad(`bad size for ${f.path}`);
    if (typeof f.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(f.sha256)) throw bad(`bad sha256 for ${f.path}`);
  }
}

/** Parses manifest JSON strictly: exact keys, re-encoding must give the same text. */
export function parseManifest(text: string): Manifest {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (cause) {
    throw new UpdateError("BAD_BUNDLE", "manifest is not valid JSON", { cause });
  }
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) throw bad("manifest must be a JSON object");
  const m = obj as Manifest;
  validateManifest(m);
  if (encodeManifest(m) !== text) throw bad("manifest is not in canonical form (key order, spacing, trailing newline)");
  return m;
}

/** Signs a manifest with the publisher key: the result (a signed note) is the log entry. */
export function signManifest(m: Manifest, publisherKey: string | SignerKey): string {
  const note = signNote(encodeManifest(m), publisherKey);
  if (Buffer.byteLength(note) > MAX_ENTRY_BYTES)
    throw bad(`signed manifest is over ${MAX_ENTRY_BYTES} bytes; split the bundle`);
  return note;
}

export interface OpenedManifest {
  readonly manifest: Manifest;
  readonly signers: string[];
  /** hex SHA-256 of the signed manifest bytes (what the next version's `previous` names) */
  readonly hash: string;
}

/** Verifies the publisher's signature and parses the manifest. */
export function openManifest(signed: string, publisherKeys: readonly string[]): OpenedManifest {
  let opened;
  try {
    opened = openNote(signed, publisherKeys);
  } catch (e) {
    const what = e instanceof NoteError ? e.code : "error";
    throw new UpdateError(
      "BAD_PUBLISHER_SIGNATURE",
      `the manifest is not signed by a trusted publisher key (${what}): refuse this bundle`,
      { cause: e },
    );
  }
  return { manifest: parseManifest(opened.text), signers: opened.verified, hash: sha256Hex(signed) };
}

/** Reads the manifest text of a signed manifest without verifying it (for auditors that lack the key). */
export function manifestOf(signed: string): Manifest {
  const split = signed.lastIndexOf("\n\n");
  if (split < 0) throw bad("signed manifest has no signature block");
  return parseManifest(signed.slice(0, split + 1));
}

/**
 * Reads rule files (*.yar, *.yara, *.rule, *.rules) and ClamAV databases (.cvd, .cld, .ndb,
 * .ldb, ...) under `dir`, sorted by path. Symlinks are refused.
 */
export async function readRulesDir(dir: string): Promise<RuleFileData[]> {
  const out: RuleFileData[] = [];
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch (cause) {
      throw new UpdateError("BAD_INPUT", `cannot read rules directory ${d}`, { cause });
    }
    for (const e of entries) {
      const full = join(d, e.name);
      if (e.isSymbolicLink())
        throw new UpdateError("BAD_INPUT", `symbolic links are not allowed in a rules directory: ${full}`);
      if (e.isDirectory()) await walk(full);
      else if (e.isFile() && (RULE_EXT.test(e.name) || CLAMAV_EXT.test(e.name))) {
        const path = relative(dir, full).split(sep).join("/");
        if (!isValidBundlePath(path))
          throw new UpdateError(
            "BAD_INPUT",
            `rule file path not allowed in a bundle (letters, digits, . _ - only, max 90 bytes): ${path}`,
          );
        const st = await lstat(full);
        if (st.size > MAX_FILE_BYTES) throw new UpdateError("BAD_INPUT", `rule file too large: ${path}`);
        out.push({ path, data: new Uint8Array(await readFile(full)) });
      }
    }
  };
  await walk(dir);
  out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  if (out.length === 0)
    throw new UpdateError(
      "BAD_INPUT",
      `no rule files (*.yar, *.yara) or ClamAV databases (*.cvd, *.ndb, ...) under ${dir}`,
    );
  return out;
}

/**
 * Compiles a bundle's rule files with the engine, each file in its own namespace; includes
 * resolve only to files of the bundle. Throws `COMPILE_FAILED` with the diagnostics.
 */
export function compileBundleRules(all: readonly RuleFileData[]): { ruleCount: number } {
  // ClamAV databases are checked by @vigil/clamav where they load, not compiled here
  const files = all.filter((f) => !CLAMAV_EXT.test(f.path));
  if (!files.length) return { ruleCount: 0 };
  const root = "/bundle";
  const byPath = new Map(files.map((f) => [`${root}/${f.path}`, f.data]));
  try {
    const rules = compile(
      files.map((f) => ({
        namespace: f.path,
        path: `${root}/${f.path}`,
        source: Buffer.from(f.data).toString("latin1"),
      })),
      {
        readFile: (p) => {
          const d = byPath.get(p);
          if (!d) throw new Error("includes may only name files of the bundle");
          return d;
        },
      },
    );
    return { ruleCount: rules.data.rules.length };
  } catch (e) {
    if (e instanceof CompileError) {
      const text = e.diagnostics.map((d) => formatDiagnostic(d)).join("\n");
      throw new UpdateError(
        "COMPILE_FAILED",
        `the rules do not compile; fix them before publishing:\n${text || e.message}`,
        { cause: e },
      );
    }
    throw e;
  }
}

export interface BuildOptions {
  name: string;
  version: number;
  previous: string;
  time?: Date;
  engine?: string;
}

export interface BuiltBundle {
  readonly manifest: Manifest;
  readonly signedManifest: string;
  readonly archive: Uint8Array;
}

/** Builds the manifest, signs it and writes the deterministic archive. */
export function buildBundle(
  files: readonly RuleFileData[],
  opts: BuildOptions,
  publisherKey: string | SignerKey,
): BuiltBundle {
  const time = (opts.time ?? new Date()).toISOString().replace(/\.\d{3}Z$/, "Z");
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    name: opts.name,
    version: opts.version,
    time,
    previous: opts.previous,
    engine: opts.engine ?? ENGINE_VERSION,
    files: files.map((f) => ({ path: f.path, size: f.data.length, sha256: sha256Hex(f.data) })),
  };
  const signedManifest = signManifest(manifest, publisherKey);
  const archive = writeTar([
    { name: "MANIFEST", data: Buffer.from(signedManifest, "utf8") },
    ...files.map((f) => ({ name: `rules/${f.path}`, data: f.data })),
  ]);
  return { manifest, signedManifest, archive };
}

/**
 * Reads an archive and checks it against the signed manifest taken from the log: the archive's
 * MANIFEST must be byte-identical, and the files exactly those of the manifest with matching
 * sizes and hashes, nothing more.
 */
export function openBundle(archive: Uint8Array, signedManifest: string): { manifest: Manifest; files: RuleFileData[] } {
  const entries = readTar(archive);
  if (entries.length === 0 || entries[0]!.name !== "MANIFEST") throw bad("bundle archive must start with MANIFEST");
  if (Buffer.from(entries[0]!.data).toString("utf8") !== signedManifest) {
    throw new UpdateError("FILE_MISMATCH", "the bundle's MANIFEST differs from the manifest in the log: refuse it");
  }
  const manifest = manifestOf(signedManifest);
  const rest = entries.slice(1);
  if (rest.length !== manifest.files.length) {
    throw new UpdateError(
      "FILE_MISMATCH",
      `the bundle holds ${rest.length} files, the manifest lists ${manifest.files.length}`,
    );
  }
  const files: RuleFileData[] = [];
  manifest.files.forEach((f, i) => {
    const e = rest[i]!;
    if (e.name !== `rules/${f.path}`)
      throw new UpdateError("FILE_MISMATCH", `bundle file ${i} is ${e.name}, the manifest says rules/${f.path}`);
    if (e.data.length !== f.size || sha256Hex(e.data) !== f.sha256) {
      throw new UpdateError(
        "FILE_MISMATCH",
        `bundle file ${f.path} does not match its size and sha256 in the signed manifest: it was tampered with`,
      );
    }
    files.push({ path: f.path, data: e.data });
  });
  return { manifest, files };
}

/** Compares x.y.z versions. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number),
    pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

export function bundleArchivePath(name: string, version: number): string {
  return `bundles/${name}-${version}.tar`;
}
