import { compile } from "@vigil/engine";
import { loadClamavDatabase, scanSignatures, type SignatureSet } from "../../src/index.js";

/**
 * A database's rules and native body store (no hash stores), scanned as a scanner scans a
 * top-level file: `.ndb` signatures in the body store where it can hold them, the rest compiled.
 */
export function nativeDetector(dbs: string[]): {
  set: SignatureSet;
  scan(bytes: Uint8Array, ctx?: unknown): ReturnType<typeof scanSignatures>;
} {
  const set = loadClamavDatabase(dbs, { nativeBodies: true });
  const rules = compile(set.yara.length ? set.yara : [{ source: "" }], { externals: set.externals });
  const externals = "clamav_container" in set.externals ? { clamav_container: "" } : undefined;
  // the file type from the databases' .ftm entries with ClamAV's built-in magic, as the scanner decides it
  return {
    set,
    scan: (bytes) =>
      scanSignatures(rules, set.bodies, bytes, {
        ...(externals ? { externals } : {}),
        fileType: set.typer.typeOf(bytes),
      }),
  };
}
