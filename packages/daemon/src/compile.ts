/**
 * Compiles a rule set in a short-lived child process and loads the result here. Compiling
 * thousands of signatures allocates tens of MiB of temporary objects; in the daemon's thread
 * they would leave its heap that large for good (V8 seldom gives pages back), and a RELOAD
 * would stall every connection for the compile time. A worker thread avoids the stall but its
 * freed memory stays in the process's allocator arenas (about 10 MiB measured); a process
 * gives everything back when it exits. The child builds with @vigil/scanner's
 * buildSignatureChunks and sends the DetectorSpec's small fields over the IPC channel and its
 * byte arrays (the serialised rules and signature stores, hundreds of MB at a real signature
 * scale, as the serialisers' chunks, never joined in the child) raw down a separate pipe, which this side reads straight into SharedArrayBuffers of the announced
 * sizes: that is the one copy kept (the scan workers share it). Sending the arrays inside the
 * IPC message left two more copies of them behind as garbage (the joined message bytes and
 * the deserialised arrays) that an idle daemon never collected. When the compiled-signature
 * cache already holds the set for these files, the child only says where, and this side reads
 * the parts from the cache file straight into shared memory (a restart does no compile and no
 * transfer). The child collects its garbage (the unpacked containers, parsing buffers) before
 * the transfer, so the daemon's copy does not come on top of it.
 */
import { spawn } from "node:child_process";
import type { Readable } from "node:stream";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import {
  readCompiledParts,
  type CompiledLocation,
  type Detector,
  type DetectorSpec,
  type SignatureOptions,
  type SignatureSetup,
} from "@vigil/scanner";

type Reply =
  | {
      ok: true;
      cached?: undefined;
      module: string;
      init: Record<string, unknown>;
      bytes: [key: string, length: number][];
      signatures: number;
      warnings: SignatureSetup["warnings"];
    }
  | { ok: true; cached: CompiledLocation; afterExit?: boolean }
  | { ok: false; message: string };

// Plain JavaScript run by the child: it needs no TypeScript loader, so the same code runs
// from the built package and under the test runner (which then compiles with the built scanner).
// The byte arrays are announced (key, length) in the message and then written to fd 3 in that
// order; the message is sent first so the parent can allocate before the bytes come.
const CHILD = `
import { Socket } from "node:net";
const send = (m) => new Promise((r) => process.send(m, () => r()));
try {
  const [scanner, options] = JSON.parse(process.argv[1]);
  const m = await import(scanner);
  // compiled before for these very files: the daemon reads the cache file itself (now)
  const cached = m.locateCompiledSignatures(options);
  if (cached) {
    await send({ ok: true, cached });
    process.disconnect();
    process.exit(0);
  }
  // each part as its serialiser's chunks: joined only on the daemon's side, in shared memory
  const s = m.buildSignatureChunks(options);
  if (s.cached) {
    // just written to the cache: the daemon reads it from there once this process has exited
    // and given its memory back, so the two never hold the set at the same time
    await send({ ok: true, cached: s.cached, afterExit: true });
    process.disconnect();
    process.exit(0);
  }
  // the load's garbage (a container's unpacked tar, parsing buffers: as much as the parts again
  // at a real scale) goes before the daemon allocates its copy, so the two never add up
  globalThis.gc?.();
  const bytes = [], arrays = [];
  for (const [k, chunks] of Object.entries(s.parts)) {
    if (!chunks) continue;
    bytes.push([k, chunks.reduce((n, c) => n + c.length, 0)]);
    arrays.push(...chunks);
  }
  await send({ ok: true, module: s.module, init: s.init, bytes, signatures: s.signatures, warnings: s.warnings });
  const out = new Socket({ fd: 3, readable: false });
  for (const a of arrays) if (a.length && !out.write(a)) await new Promise((r) => out.once("drain", r));
  await new Promise((r, j) => out.end((e) => (e ? j(e) : r())));
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

/**
 * Reads exactly the announced arrays from `from` into new SharedArrayBuffer-backed arrays
 * (passed to worker threads they are shared, not copied). Each pipe chunk is copied once and
 * dropped; nothing else holds the bytes.
 */
function receive(from: Readable, sizes: number[]): Promise<Uint8Array[]> {
  const arrays = sizes.map((n) => new Uint8Array(new SharedArrayBuffer(n)));
  let i = 0;
  let at = 0;
  const skipEmpty = () => {
    while (i < arrays.length && at === arrays[i]!.length) {
      i++;
      at = 0;
    }
  };
  skipEmpty();
  return new Promise((resolve, reject) => {
    let failed = false;
    const fail = (why: string) => {
      if (failed) return;
      failed = true;
      from.destroy();
      reject(new Error(why));
    };
    from.on("data", (chunk: Buffer) => {
      let off = 0;
      while (off < chunk.length) {
        if (i >= arrays.length) return fail("the rule compiler process sent more bytes than it announced");
        const a = arrays[i]!;
        const n = Math.min(a.length - at, chunk.length - off);
        a.set(chunk.subarray(off, off + n), at);
        at += n;
        off += n;
        skipEmpty();
      }
    });
    from.once("error", (e) => fail(`reading the compiled rules failed: ${e.message}`));
    from.once("end", () => {
      if (failed) return;
      if (i < arrays.length) return fail("the rule compiler process ended before sending all compiled rules");
      resolve(arrays);
    });
    // paused explicitly until now, so a "data" listener alone would not start the flow
    from.resume();
  });
}

/** Builds the rule set in a child process (`fromCache`: compiled before, read from the compiled-signature cache). */
export async function compileInChild(options: SignatureOptions): Promise<SignatureSetup & { fromCache: boolean }> {
  // fd 3: the raw byte arrays; fd 4: the IPC channel for the message
  const child = spawn(
    process.execPath,
    ["--expose-gc", "--input-type=module", "-e", CHILD, JSON.stringify([scannerEntry(), options])],
    {
      stdio: ["ignore", "ignore", "pipe", "pipe", "ipc"],
      serialization: "advanced",
    },
  );
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (s: string) => {
    if (stderr.length < 4096) stderr += s;
  });
  const data = child.stdio[3] as Readable;
  // not read until the sizes are known: the pipe holds the bytes back meanwhile
  data.pause();
  let init: Record<string, unknown>;
  let module: string, signatures: number, warnings: SignatureSetup["warnings"];
  let fromCache = false;
  let reply: Reply;
  try {
    reply = await new Promise<Reply>((resolve, reject) => {
      child.once("message", (m) => resolve(m as Reply));
      child.once("error", reject);
      child.once("exit", (code, signal) => {
        // a reply, if any, came before the exit
        setImmediate(() =>
          reject(
            new Error(
              `the rule compiler process ended (${signal ?? `code ${code}`}) without a result${stderr ? `: ${stderr.trim()}` : ""}`,
            ),
          ),
        );
      });
    });
    if (!reply.ok) throw new Error(reply.message);
    if (reply.cached) {
      // a compiled set in the cache: read straight from its file into shared memory (after the
      // child is gone when it has just compiled it, so their memory does not add up)
      const loc = reply.cached;
      if (reply.afterExit && child.exitCode === null && child.signalCode === null)
        await new Promise((r) => child.once("exit", r));
      init = { ...readCompiledParts(loc, options.timeoutMs) };
      ({ module, signatures, warnings } = loc);
      fromCache = !reply.afterExit;
    } else {
      const arrays = await receive(
        data,
        reply.bytes.map(([, n]) => n),
      );
      init = { ...reply.init };
      reply.bytes.forEach(([k], j) => {
        init[k] = arrays[j];
      });
      ({ module, signatures, warnings } = reply);
    }
  } finally {
    data.destroy();
    if (child.exitCode === null) child.kill();
  }
  const spec: DetectorSpec = { module, init };
  const mod = (await import(spec.module)) as { createDetector(init: unknown): Detector | Promise<Detector> };
  const detector = await mod.createDetector(spec.init);
  return { detector, spec, signatures, warnings, fromCache };
}
