/**
 * @vigil/clamav: ClamAV signature databases, read into forms a scanner runs.
 *
 * Data flow: `loadClamavDatabase(paths)` expands database files and directories (./database.ts)
 * and reads each by its extension: `.ign2/.ign` ignore lists first (./formats/ign.ts, applied to
 * everything), then hash signatures (./formats/hash.ts, read from disk by ./formats/hash-file.ts:
 * `.hdb .hsb` and plain hash lists -> `hashes`, `.mdb .msb` -> `sectionHashes`, `.fp .sfp` ->
 * `allow`, each a `HashStore` of ./stores/hashdb) and body signatures (`.ndb` ./formats/ndb.ts,
 * `.ldb` ./formats/ldb.ts; `.imp` PE import hashes ./formats/imp.ts, one `pe.imphash()` rule
 * each). Body signatures are translated to YARA rule source (./translate,
 * one source unit per file) so they compile with @vigil/engine like any YARA rule
 * (`compile(set.yara, { externals: set.externals })`); with `nativeBodies` `.ndb` signatures go
 * instead to the native body store (./stores/bodydb: byte programs behind the engine's atom
 * filter, the same matches without a rule each) and only the forms it cannot hold are
 * translated. Every rule and store entry carries the name clamscan prints (`.UNOFFICIAL` suffix
 * included). The fields the formats share (offsets, target types, FLEVEL, hex-signature syntax)
 * live in ./signature, which imports nothing else here: formats, translation and stores build
 * on it. Forms that cannot be expressed are reported in `warnings` (SIGDB_UNSUPPORTED: not
 * loaded; SIGDB_APPROXIMATE: loaded, with how it differs); a malformed line is a
 * SIGDB_MALFORMED_LINE warning (path:line) and the rest loads (with `lenient: false` it throws
 * ClamavError, as clamscan refuses the database).
 *
 * The formats that go to no rule or store are read, checked and counted as clamscan counts
 * them, into plain lists on the set: `.cdb` (`containerMeta`: a scanner matches archive members
 * with `matchContainerMeta`), `.ftm` (`fileTypes`: with ClamAV's built-in magic table they make
 * `typer`, ./filetype, the ClamAV file type of a buffer, which decides the signatures with a
 * target type: the rules read it as the external `clamav_type`, the body store takes it),
 * `.crb` rules and `.cat` catalogs (`certRules`, and `authenticode`: block rules, trusted
 * certificates and the PE and CAB hashes of catalogs verified against them,
 * ./authenticode/trust.ts),
 * `.pdb .wdb .gdb` (`phishing`: ./phishing's `PhishingChecker` checks the links of mail text
 * parts with them, as clamscan --phishing-scan-urls; `phishingChecksPart` says which parts),
 * and, not applied yet, `.idb` (`icons`), `.cfg` (`dconf`; only its PE CERTS/CATALOG switches
 * act, on Authenticode), `.cbc` (`bytecode`:
 * names, never executed); each file of those gets one SIGDB_NOT_APPLIED warning saying what is
 * left out. `outsideStores` says how many of `count` no rule or store holds. A `.info` is read
 * only inside its container.
 *
 * Containers (./containers): `.cvd` (signed: header MD5 and raw-RSA dsig, then the `.info`
 * manifest's PSS DSIG and every file's size and sha256), `.cld` (patched locally, header and
 * manifest checked) and `.cud` (unsigned) are opened in memory and their members read as above;
 * signatures from signed containers carry no `.UNOFFICIAL` suffix. Signatures are checked with
 * ClamAV's published keys, plus any a loader is told to trust (`keys`; a trusted-keys file,
 * `parseTrustedKeys`, for a private mirror or a test database). `.cdiff` updates are verified
 * and applied to a container's files (./containers/cdiff.ts) and written back as a `.cld`.
 *
 * Out of a load come byte arrays: `serializeStores` / `loadStores` (./stores/parts.ts) turn the
 * stores into parts scan threads share, and ./cache/sigset.ts writes a whole compiled set (the
 * scanner's rules plus these parts) to the compiled-signature cache file and reads it back.
 *
 * Scanning with a SignatureSet: a file (or archive member) is reported with the first of
 *   1. `allow.has(digests, size)` -> clean, whatever else matched (and a whole-file SHA-1 in
 *      `authenticode.cab.sha1` or an allow entry of size 1); then, for a PE,
 *      `checkAuthenticode(bytes, authenticode)` (size-2 allow entries as `catalogAllow`):
 *      "trusted" -> clean (and not unpacked), "blocked" -> the `.crb` rule's name, nothing
 *      else looked at;
 *   2. `hashes.lookup(digests, size)?.name`;
 *   3. for each PE section, `sectionHashes.lookup({ [algo]: digest(section raw bytes) }, rawSize)`;
 *   4. the `clamav_name` meta of the matches of `scanSignatures(rules, bodies, bytes)` (./scan.ts:
 *      the compiled rules and the body store merged in the order translated rules would have;
 *      set the `clamav_container` external to "" for top-level files, or to the container's
 *      CL_TYPE_* name for members, and give `fileType: set.typer.typeOf(bytes)`);
 *   and for an archive member, `matchContainerMeta` over `containerMeta` with what the archive
 *   says about it. `clamscanOrder` puts one buffer's matches in the order clamscan reports them
 *   (without --allmatch clamscan prints only the first).
 */

export { ClamavError, type ClamavErrorCode } from "./error.js";
export { loadClamavDatabase, type LoadOptions, type SignatureSet, type SignatureWarning } from "./database.js";
export {
  buildCld,
  containerKindOf,
  openContainer,
  parseContainerHeader,
  CONTAINER_EXTENSIONS,
  type ContainerHeader,
  type ContainerKind,
  type OpenedContainer,
  type OpenOptions,
} from "./containers/cvd.js";
export { applyCdiffs, applyCdiffScript, readCdiff, type ParsedCdiff } from "./containers/cdiff.js";
export {
  CLAMAV_KEYS,
  parseTrustedKeys,
  trustedKeysText,
  withClamavKeys,
  type RsaPublicKey,
  type TrustedKeys,
} from "./containers/dsig.js";
export {
  buildSignedCdiff,
  buildSignedCvd,
  buildUnsignedCud,
  generateContainerKeys,
  trustedKeysOf,
  type ContainerSigningKeys,
  type CvdFields,
} from "./containers/sign.js";
export type { ContainerFile } from "./containers/tar.js";

// the fields every body-signature format shares, and hex-signature syntax
export {
  FLEVEL,
  SignatureSyntaxError,
  parseOffset,
  ruleIdentifier,
  targetCondition,
  type NdbSignature,
  type OffsetSpec,
} from "./signature/fields.js";
export { parseHexSignature, translateHex, type HexNode, type PatternText } from "./signature/hexsig.js";

// formats
export { IgnoreList } from "./formats/ign.js";
export { parseNdbLine, translateNdb } from "./formats/ndb.js";
export { parseLdbLine, parseLogicalExpression, translateLdb, translatePcre, type LdbSignature } from "./formats/ldb.js";
export {
  CLAMAV_FLEVEL,
  HashTextParser,
  parseHashText,
  type HashParseOptions,
  type HashParseStats,
  type HashTextFormat,
} from "./formats/hash.js";
export { hashFormatForPath, loadHashFile, type HashLoadOptions } from "./formats/hash-file.js";
export { translateSubsig, type TranslatedRule } from "./translate/yara.js";
export { matchContainerMeta, parseCdbLine, type CdbSignature, type ContainerMember } from "./formats/cdb.js";
export { parseIdbLine, type IdbSignature } from "./formats/idb.js";
export { parseImpLine, translateImp, type ImpSignature } from "./formats/imp.js";
export { parseCrbLine, type CrbRule } from "./formats/crb.js";
export { parseFtmLine, type FtmEntry } from "./formats/ftm.js";
export { DCONF_CATEGORIES, parseCfgLine, type DconfLine } from "./formats/cfg.js";
export { parsePhishLine, type PhishEntry, type PhishFormat } from "./formats/phish.js";
export {
  checkLink,
  extractLinks,
  phishingChecksPart,
  PhishingChecker,
  PhishTimeout,
  PHISH_MAX_PART,
  PHISH_NAMES,
  type HtmlLink,
  type MailPartFacts,
  type PhishFinding,
  type PhishOptions,
  type PhishVerdict,
} from "./phishing/index.js";
export { parseCbc, type CbcHeader } from "./formats/cbc.js";

// stores
export {
  ANY_SIZE,
  DIGEST_LENGTH,
  HASH_ALGORITHMS,
  HashStore,
  HashStoreBuilder,
  HashTable,
  NameTable,
  type HashPart,
  algorithmForDigestLength,
  hexToBytes,
  type Digests,
  type HashAlgorithm,
  type HashMatch,
} from "./stores/hashdb/store.js";
export {
  deserializeHashStore,
  readCompiledHashStore,
  serializeHashStore,
  writeCompiledHashStore,
} from "./stores/hashdb/compiled.js";
export { BodyDb, BodyDbBuilder, type BodyMatch } from "./stores/bodydb/store.js";

// the ClamAV file type of a buffer (built-in magic plus .ftm entries), which decides target types
export { builtinTyper, FileTyper, fileTyperFor, ftmLines, MAGIC_BYTES } from "./filetype/typer.js";
export {
  loadStores,
  serializeStores,
  storeSignatureCount,
  STORE_PARTS,
  type ClamavStores,
  type StorePart,
} from "./stores/parts.js";

// scanning: the rules and the body store merged in translated-rule order
export {
  clamscanOrder,
  scanSignatures,
  type OrderableMatch,
  type SignatureMatch,
  type SignatureScanOptions,
} from "./scan.js";

// the compiled-signature cache file
export {
  locateSigset,
  readSigsetParts,
  sigsetPath,
  writeSigset,
  type SigsetLocation,
  type SigsetPart,
} from "./cache/sigset.js";

// Authenticode: a PE's signature certificates and the .crb block rules they match
export {
  authenticodeHash,
  blockedBy,
  readAuthenticode,
  type AuthenticodeResult,
  type SignerCertificate,
} from "./authenticode/signature.js";
export {
  addCrbRule,
  authenticodeLayout,
  checkAuthenticode,
  emptyTrust,
  loadCatalog,
  rsaVerify,
  type AuthenticodeTrust,
  type AuthenticodeVerdict,
  type TrustedCert,
} from "./authenticode/trust.js";
export { catalogHashes, readSignedData, type Cert, type HashName, type SignedData } from "./authenticode/pkcs7.js";
