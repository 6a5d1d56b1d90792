/**
 * @vigil/tlog: the transparency log underneath Vigil's rule updates, written from RFC 6962 /
 * RFC 9162 and the C2SP specifications.
 *
 * Data flows like this. A log hashes each entry into a leaf (`leafHash`), builds the Merkle tree
 * (`rootHash`, `MerkleTree`), writes it as static tiles (`tilePath`, `encodeHashTile`,
 * `encodeEntryBundle`, `newTiles`) and signs a checkpoint (`formatCheckpoint` + `signNote`).
 * Witnesses open the checkpoint (`openNote`, `parseCheckpoint`), check it extends the last one they
 * saw (`verifyConsistency`) and cosign it (`cosignCheckpoint`). Clients open the cosigned note with
 * the log and witness keys (cosignature timestamps come back in `signatures`), then check entries
 * with `verifyInclusion`, fetching proofs from tiles with `TileReader`. Sizes and indices are
 * bigint; hashes are 32-byte Uint8Arrays; verification functions return booleans and never throw.
 */
export { TlogError, NoteError, type TlogErrorCode, type NoteErrorCode, type UnverifiedNote } from "./error.js";
export {
  HASH_SIZE,
  MAX_PROOF_LENGTH,
  MerkleTree,
  consistencyProof,
  consistencyRanges,
  emptyRoot,
  equalBytes,
  foldSubtrees,
  inclusionProof,
  inclusionRanges,
  leafHash,
  nodeHash,
  perfectSubtrees,
  rootFromInclusionProof,
  rootHash,
  toBigIndex,
  verifyConsistency,
  verifyInclusion,
  type Range,
} from "./merkle.js";
export {
  KEY_TYPE_COSIGNATURE_V1,
  KEY_TYPE_ED25519,
  KEY_TYPE_MLDSA44_COSIGNATURE,
  MAX_SIGNATURES,
  cosignatureMessage,
  subtreeMessage,
  generateKey,
  isValidKeyName,
  keyId,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  signatureLine,
  splitNote,
  verifierKeyOf,
  withKeyType,
  type KeyType,
  type NoteSignature,
  type OpenedNote,
  type SignerKey,
  type VerifierKey,
} from "./note.js";
export {
  cosignCheckpoint,
  cosignatureLine,
  formatCheckpoint,
  parseCheckpoint,
  originAdvice,
  parseTreeSize,
  type Checkpoint,
} from "./checkpoint.js";
export {
  MAX_ENTRY_SIZE,
  TILE_HEIGHT,
  TILE_WIDTH,
  TileReader,
  decodeEntryBundle,
  decodeHashTile,
  encodeEntryBundle,
  encodeHashTile,
  hashTileFromTree,
  levelCount,
  newTiles,
  readEntries,
  tileIndexPath,
  tilePath,
  tileWidth,
  tilesForSize,
  type TileFetch,
  type TileRef,
} from "./tiles.js";
export { decodeBase64, encodeBase64 } from "./base64.js";
export { TLOG_PROOF_HEADER, formatTlogProof, parseTlogProof, type TlogProof } from "./proof.js";
