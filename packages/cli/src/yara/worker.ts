/**
 * Worker thread for `vigil yara -p N`: loads the serialised rules once, then scans the file
 * paths it is sent and posts back each file's result.
 */
import { parentPort, workerData } from "node:worker_threads";
import { loadRules, type ScanOptions } from "@vigil/engine";
import { scanOneFile } from "./scan-file.js";

const rules = loadRules(workerData.rules as Uint8Array);
const options = workerData.options as ScanOptions & { skipLarger?: number };

parentPort!.on("message", (msg: { id: number; path: string } | null) => {
  if (msg === null) {
    process.exit(0);
  }
  parentPort!.postMessage({ id: msg.id, outcome: scanOneFile(rules, msg.path, options) });
});
