/**
 * Test doubles for update scenarios used only by the updates tests: temporary folders, rule
 * sets (honest and secret-hunting), a static HTTP server for the log (with optional per-path
 * overrides, to play a lying log), folder snapshots. Keys, witnesses, trust policies and the
 * rules writer, which other packages' tests use too, live in @vigil/test-kit (re-exported here).
 */
import { cp, mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve, sep } from "node:path";
import { onTestFinished } from "vitest";

export { closeServer, makeKeys, policyFor, startWitness, writeRules, type Keys } from "@vigil/test-kit";

/** A temporary directory removed when the calling test finishes. */
export async function tempDir(prefix = "vigil-upd-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export { HONEST_RULES, SECRET_HUNTING_RULES } from "@vigil/test-kit";

export async function serveDir(
  dir: string,
  overrides = new Map<string, Uint8Array>(),
): Promise<{ url: string; server: Server; overrides: Map<string, Uint8Array>; hits: string[] }> {
  const hits: string[] = [];
  const root = resolve(dir);
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent((req.url ?? "/").split("?")[0]!).replace(/^\//, "");
    hits.push(path);
    const o = overrides.get(path);
    if (o) {
      res.writeHead(200, { "content-length": o.length });
      res.end(o);
      return;
    }
    const full = resolve(root, ...path.split("/"));
    if (!full.startsWith(root + sep)) {
      res.writeHead(403).end();
      return;
    }
    try {
      const data = await readFile(full);
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": data.length });
      res.end(data);
    } catch {
      res.writeHead(404).end("not found\n");
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/`, server, overrides, hits };
}

export async function snapshot(dir: string, to: string): Promise<void> {
  await cp(dir, to, { recursive: true });
}

/**
 * A log directory served on 127.0.0.1 and two witnesses of it (keys `w1`, `w2` of `keys`),
 * as most end-to-end update tests start; `close()` stops all three.
 */
export async function witnessedLog(
  keys: { log: { verifierKey: string }; w1: { signerKey: string }; w2: { signerKey: string } },
  root: string,
) {
  const { closeServer, startWitness } = await import("@vigil/test-kit");
  const logDir = join(root, "log");
  const http = await serveDir(logDir);
  const w1 = await startWitness(
    keys.w1.signerKey,
    join(root, "w1"),
    "rules.example/log",
    keys.log.verifierKey,
    http.url,
  );
  const w2 = await startWitness(
    keys.w2.signerKey,
    join(root, "w2"),
    "rules.example/log",
    keys.log.verifierKey,
    http.url,
  );
  return {
    logDir,
    http,
    w1,
    w2,
    async close() {
      await closeServer(w1.server);
      await closeServer(w2.server);
      await closeServer(http.server);
    },
  };
}
