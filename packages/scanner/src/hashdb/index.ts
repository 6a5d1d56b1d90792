/**
 * Hash-signature store. Text sources (ClamAV `.hdb/.hsb`, `.mdb/.msb`, `.fp/.sfp`, plain hash lists)
 * are parsed from bytes, chunk by chunk (`HashTextParser`, `loadHashFile`), into a
 * `HashStoreBuilder`, which interns names and stages entries per first digest byte in their final
 * form; `finish()` puts each part into bucket order in place, giving a frozen `HashStore` (per
 * algorithm: buckets on the leading digest bits, 32-bit keys and the other digest bytes, sizes and
 * name indexes in typed arrays). Big loads stage on shared memory that a helper thread prefaults
 * and later helps to put in order (`helper.ts`). `writeCompiledHashStore` /
 * `readCompiledHashStore` save and load that store as-is. The scanner hashes a file with the
 * algorithms in `store.algorithms` and calls `store.lookup({ sha256, ... }, fileSize)`; for PE
 * sections it calls `lookup` on the section store with the section's raw size and digest.
 */

export { SignatureDbError, type SignatureDbErrorCode } from "./error.js";
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
} from "./store.js";
export { CLAMAV_FLEVEL, HashTextParser, parseHashText, type HashParseOptions, type HashParseStats, type HashTextFormat } from "./parse.js";
export { deserializeHashStore, readCompiledHashStore, serializeHashStore, writeCompiledHashStore } from "./compiled.js";
export { hashFormatForPath, loadHashFile, type HashLoadOptions } from "./load.js";
