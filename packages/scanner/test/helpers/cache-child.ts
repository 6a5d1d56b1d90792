// Child process for the scan-cache kill -9 test: records clean results into the cache at
// argv[2] (version "v") without end, saving as it goes, until the parent SIGKILLs it. Every
// record is (ino i, size 2i+1, mtime 3i, ctime 5i), so the parent can check what survived.
import { ScanCache } from "../../src/cache.js";
import type { FileResult } from "../../src/types.js";

const cache = new ScanCache(process.argv[2]!, "v");
for (let i = 1; ; i++) {
  const r: FileResult = {
    path: `f${i}`,
    size: 2 * i + 1,
    scannedBytes: 2 * i + 1,
    detections: [],
    incomplete: [],
    errors: [],
    stat: { dev: 7, ino: i, size: 2 * i + 1, mtimeMs: 3 * i, ctimeMs: 5 * i, mode: 0o100644 },
  };
  cache.record(r);
  if (i === 5000) process.stdout.write("saving\n");
}
