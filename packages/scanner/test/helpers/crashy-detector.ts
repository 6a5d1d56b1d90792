// A detector for pool tests: flags "EVIL", and kills its worker thread on "CRASH".
import type { Detector } from "../../src/types.js";

export function createDetector(): Detector {
  return {
    version: "crashy-1",
    signatures: 1,
    scan(bytes) {
      const s = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
      if (s.includes("CRASH")) process.exit(3);
      return s.includes("EVIL") ? [{ rule: "Evil" }] : [];
    },
  };
}
