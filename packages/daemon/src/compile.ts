/**
 * Compiles a rule set in a short-lived child process and loads the result here. Compiling
 * thousands of signatures allocates tens of MiB of temporary objects; in the daemon's thread
 * they would leave its heap that large for good (V8 seldom gives pages back), and a RELOAD
 * would stall every connection for the compile time. A worker thread avoids the stall but its
 * freed memory stays in the process's allocator arenas (about 10 MiB measured); a process
 * gives everything back when it exits. The child builds with @vigil/scanner's
 * buildSignatures and sends the DetectorSpec (serialised rules and hash stores) over the IPC
 * channel; here the byte arrays are put in SharedArrayBuffers, so the scan workers share one
 * copy, and the detector is loaded from the spec, as the scan workers do.
 */
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import type { Detector, DetectorSpec, SignatureOptions, SignatureSetup } from "@vigil/scanner";

type Reply =
  | { ok: true; spec: DetectorSpec; signatures: number; warnings: SignatureSetup["warnings"] }
  | { ok: false; message: string };

// Plain JavaScript run by the child: it needs no TypeScript loader, so the same code runs
// from the built package and under the test runner (which then compiles with the built scanner).
// Byte arrays go as plain copies (SharedArrayBuffers cannot cross processes).
const CHILD = `
const send = (m) => new Promise((r) => process.send(m, () => r()));
try {
  const [scanner, options] = JSON.parse(process.argv[1]);
  const m = await import(scanner);
  const s = m.buildSignatures(options);
  const init = {};
  for (const [k, v] of Object.entries(s.spec.init)) init[k] = v instanceof Uint8Array ? new Uint8Array(v) : v;
  await send({ ok: true, spec: { module: s.spec.module, init }, signatures: s.signatures, warnings: s.warnings });
} catch (err) {
  await send({ ok: false, message: err && err.message ? err.message : String(err) });
}
process.disconnect();`;

let scannerUrl: string | undefined;

/** file: URL of the installed @vigil/scanner entry point. */
function scannerEntry(): string {
  scannerUrl ??= pathToFileURL(createRequire(import.meta.url).resolve("@vigil/scanner")).href;
  return scannerUrl;
}

/** A copy of `b` in a SharedArrayBuffer: passed to worker threads it is shared, not copied. */
function shared(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(new SharedArrayBuffer(b.length));
  out.set(b);
  return out;
}

export async function compileInChild(options: SignatureOptions): Promise<SignatureSetup> {
  const child = spawn(process.execPath, ["--input-type=module", "-e", CHILD, JSON.stringify([scannerEntry(), options])], {
    stdio: ["ignore", "ignore", "pipe", "ipc"],
    serialization: "advanced",
  });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (s: string) => { if (stderr.length < 4096) stderr += s; });
  let reply: Reply;
  try {
    reply = await new Promise<Reply>((resolve, reject) => {
      child.once("message", (m) => resolve(m as Reply));
      child.once("error", reject);
      child.once("exit", (code, signal) => {
        // a reply, if any, came before the exit
        setImmediate(() => reject(new Error(`the rule compiler process ended (${signal ?? `code ${code}`}) without a result${stderr ? `: ${stderr.trim()}` : ""}`)));
      });
    });
  } finally {
    if (child.exitCode === null) child.kill();
  }
  if (!reply.ok) throw new Error(reply.message);
  const init: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(reply.spec.init as Record<string, unknown>)) init[k] = v instanceof Uint8Array ? shared(v) : v;
  const spec: DetectorSpec = { module: reply.spec.module, init };
  const mod = (await import(spec.module)) as { createDetector(init: unknown): Detector | Promise<Detector> };
  const detector = await mod.createDetector(spec.init);
  return { detector, spec, signatures: reply.signatures, warnings: reply.warnings };
}
