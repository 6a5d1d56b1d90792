/**
 * ClamAV signature formats. `loadClamavDatabase(paths)` reads database files or directories:
 * `.ign2/.ign` ignore lists first (applied to everything), then hash signatures (`.hdb .hsb` and
 * plain hash lists -> `hashes`, `.mdb .msb` -> `sectionHashes`, `.fp .sfp` -> `allow`; see
 * ../hashdb) and body signatures (`.ndb`, `.ldb`), which are translated to YARA rule source, one
 * source unit per file, so they compile with the engine like any YARA rule
 * (`compile(set.yara, { externals: set.externals })`). Each rule carries meta `clamav_name`: the
 * name clamscan prints, `.UNOFFICIAL` suffix included. Translation: hexsig.ts (hex syntax ->
 * YARA hex string or regex), translate.ts (offsets, target types, target description block,
 * logical expressions with ClamAV's grouping and counts, PCRE subsignatures). Forms that cannot be
 * expressed are reported in `warnings` (SIGDB_UNSUPPORTED: not loaded; SIGDB_APPROXIMATE: loaded,
 * with how it differs); malformed lines throw SignatureDbError (path:line) unless `lenient`.
 * With `nativeBodies` (as the scanner loads), `.ndb` signatures go to `bodies` (../bodydb, the
 * same matches without a rule each) and only the forms it cannot hold are translated.
 *
 * Scanning with a SignatureSet: a file (or archive member) is reported with the first of
 *   1. `allow.has(digests, size)` -> clean, whatever else matched;
 *   2. `hashes.lookup(digests, size)?.name`;
 *   3. for each PE section, `sectionHashes.lookup({ [algo]: digest(section raw bytes) }, rawSize)`;
 *   4. the `clamav_name` meta of a matching YARA rule (set the `clamav_container` external to ""
 *      for top-level files, or to the container's CL_TYPE_* name for members).
 */

export { loadClamavDatabase, IgnoreList, type LoadOptions, type SignatureSet, type SignatureWarning } from "./database.js";
export {
  FLEVEL,
  SignatureSyntaxError,
  parseLdbLine,
  parseLogicalExpression,
  parseNdbLine,
  parseOffset,
  ruleIdentifier,
  targetCondition,
  translateLdb,
  translateNdb,
  translatePcre,
  translateSubsig,
  type LdbSignature,
  type NdbSignature,
  type OffsetSpec,
  type TranslatedRule,
} from "./translate.js";
export { parseHexSignature, translateHex, type HexNode, type PatternText } from "./hexsig.js";
