/**
 * The stores of a loaded ClamAV database as byte arrays and back: what a scanner hands to its
 * scan threads (and to the compiled-signature cache, ../cache/sigset.ts) so nothing is parsed
 * or rebuilt per thread. Each part is the chunk list its serialiser produced, never joined here.
 */

import { BodyDb } from "./bodydb/store.js";
import { deserializeHashStore, serializeHashStore } from "./hashdb/compiled.js";
import type { HashStore } from "./hashdb/store.js";

/** The natively held signatures of a database (`SignatureSet` names the section store `sectionHashes`). */
export interface ClamavStores {
  /** whole-file hashes (`.hdb .hsb`, hash lists). */
  hashes?: HashStore | undefined;
  /** PE section hashes (`.mdb .msb`). */
  sections?: HashStore | undefined;
  /** allow list (`.fp .sfp`). */
  allow?: HashStore | undefined;
  /** `.ndb` body signatures held natively. */
  bodies?: BodyDb | undefined;
}

export const STORE_PARTS = ["hashes", "sections", "allow", "bodies"] as const;
export type StorePart = (typeof STORE_PARTS)[number];

/** Each non-empty store as its serialised chunks (an empty hash store is left out). */
export function serializeStores(stores: ClamavStores): Partial<Record<StorePart, Uint8Array[]>> {
  const ser = (s?: HashStore) => (s?.algorithms.length ? serializeHashStore(s) : undefined);
  const out: Partial<Record<StorePart, Uint8Array[]>> = {};
  const put = (k: StorePart, v: Uint8Array[] | undefined) => {
    if (v) out[k] = v;
  };
  put("hashes", ser(stores.hashes));
  put("sections", ser(stores.sections));
  put("allow", ser(stores.allow));
  put("bodies", stores.bodies ? [stores.bodies.bytes] : undefined);
  return out;
}

/** The stores from their serialised parts (views over the given bytes: shared memory stays shared). */
export function loadStores(parts: Partial<Record<StorePart, Uint8Array>>): ClamavStores {
  const load = (b?: Uint8Array) => (b ? deserializeHashStore(b) : undefined);
  return {
    hashes: load(parts.hashes),
    sections: load(parts.sections),
    allow: load(parts.allow),
    bodies: parts.bodies ? BodyDb.load(parts.bodies) : undefined,
  };
}

/** Signatures the stores hold, counted as clamscan's "Known viruses" counts them (allow-list .fp/.sfp entries included). */
export function storeSignatureCount(stores: ClamavStores): number {
  return (
    (stores.bodies?.count ?? 0) +
    (stores.hashes?.count ?? 0) +
    (stores.sections?.count ?? 0) +
    (stores.allow?.count ?? 0)
  );
}
