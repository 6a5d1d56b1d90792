/**
 * @vigil/test-kit: code shared by the test suites of several packages, never by their src/.
 * What flows through it: constants and generators for test inputs (the EICAR string, a seeded
 * PRNG, a ZIP writer), real update-side doubles (keys, witnesses, trust policies), and the
 * environment checks (`needs`, `corpus`) that decide whether a suite runs, skips with a printed
 * reason, or (under VIGIL_REQUIRE_ALL=1) fails because something it needs is missing.
 */
export { EICAR, EICAR_YARA } from "./eicar.js";
export { mulberry32 } from "./random.js";
export { makeZip, type ZipEntry } from "./zip.js";
export { makeKeys, writeRules, startWitness, policyFor, closeServer, type Keys, type KeyPair } from "./keys.js";
export {
  needs,
  unmet,
  hidden,
  findTool,
  haveDebianFile,
  packageOfTool,
  packageOfFile,
  CHROMIUM,
  TestKitError,
  type Requirements,
  type RequirementKind,
} from "./needs.js";
export { corpus, corpusLocations, hiddenCorpus, REPO_ROOT } from "./corpora.js";
export { buildPe, versionInfo } from "./pe.js";
export { makeTree, dpkgStanza, regExport, hex2, bplist, UNINSTALL, UNINSTALL32, type TreeSpec } from "./tree.js";
export { scratchDir, talk, chunked, u32, type Exchange, type Step } from "./sockets.js";
export { HONEST_RULES, SECRET_HUNTING_RULES } from "./rules.js";
export { makeCorpus, type Corpus } from "./clamav-corpus.js";
export { killMatrix, KILLPOINT_PRELOAD, type KillMatrixOptions } from "./killmatrix.js";
export {
  makeCfb,
  cfbFatEntryOffset,
  msiStreamName,
  ovbaCompress,
  vbaProjectStreams,
  ole10Native,
  ole1Object,
  makeRtf,
  lzwEncode,
  ascii85Encode,
  runLengthEncode,
  pdfEncode,
  makePdf,
  makeEncryptedPdf,
  type PdfCipher,
  type CfbStream,
  type PdfFilter,
  type PdfObjectSpec,
} from "./docs.js";
