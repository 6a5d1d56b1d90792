/**
 * Compiles a rule set in a short-lived worker thread and loads the result here. Compiling
 * thousands of signatures allocates tens of MiB of temporary objects; in this thread they
 * would leave the heap that large for the life of the daemon (V8 seldom gives pages back),
 * and a RELOAD would stall every connection for the compile time. The worker builds with
 * @vigil/scanner's buildSignatures and posts back the DetectorSpec (serialised rules and hash
 * stores, in SharedArrayBuffers: shared, not copied); it then exits and its heap goes with it.
 * This thread loads the detector from the spec, as the scan workers do.
 */
import { Worker } from "node:worker_threads";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import type { Detector, DetectorSpec, SignatureOptions, SignatureSetup } from "@vigil/scanner";

type Reply =
  | { ok: true; spec: DetectorSpec; signatures: number; warnings: SignatureSetup["warnings"] }
  | { ok: false; message: string };

// Plain JavaScript evaluated in the worker: it needs no TypeScript loader, so the same code
// runs from the built package and under the test runner (which imports the built scanner).
const WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
import(workerData.scanner).then((m) => {
  const s = m.buildSignatures(workerData.options);
  parentPort.postMessage({ ok: true, spec: s.spec, signatures: s.signatures, warnings: s.warnings });
}).catch((err) => {
  parentPort.postMessage({ ok: false, message: err && err.message ? err.message : String(err) });
});`;

let scannerUrl: string | undefined;

/** file: URL of the installed @vigil/scanner entry point. */
function scannerEntry(): string {
  scannerUrl ??= pathToFileURL(createRequire(import.meta.url).resolve("@vigil/scanner")).href;
  return scannerUrl;
}

export async function compileInWorker(options: SignatureOptions): Promise<SignatureSetup> {
  const worker = new Worker(WORKER, { eval: true, workerData: { scanner: scannerEntry(), options } });
  let reply: Reply;
  try {
    reply = await new Promise<Reply>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new Error(`the rule compiler thread exited (code ${code}) without a result`)));
    });
  } finally {
    void worker.terminate();
  }
  if (!reply.ok) throw new Error(reply.message);
  const mod = (await import(reply.spec.module)) as { createDetector(init: unknown): Detector | Promise<Detector> };
  const detector = await mod.createDetector(reply.spec.init);
  return { detector, spec: reply.spec, signatures: reply.signatures, warnings: reply.warnings };
}
