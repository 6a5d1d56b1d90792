/**
 * Native store for ClamAV `.ndb` body signatures. `loadClamavDatabase(..., { nativeBodies: true })`
 * puts each `.ndb` signature it can hold here (./store.ts: BodyDbBuilder) instead of translating
 * it to a YARA rule; the few it cannot (end markers, VI and macro offsets) still go through the
 * translation. The finished BodyDb is a handful of typed arrays in one SharedArrayBuffer: a scan
 * thread loads it as views, with no per-signature objects, and `scan(bytes)` returns the
 * matching signatures in the order their translated rules would have had (`ordinal`), which the
 * detector merges with the engine's matches. Patterns are byte programs (./program.ts).
 */
export { BodyDb, BodyDbBuilder, targetMatches, type BodyMatch } from "./store.js";
