/**
 * Reusable test doubles for update scenarios: real keys, a real publisher writing a real log on
 * disk, a static HTTP server for the log (with optional per-path overrides, to play a lying
 * log), witnesses listening on 127.0.0.1, and a trust policy for an endpoint.
 */
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve, sep } from "node:path";
import { onTestFinished } from "vitest";
import { generateKey } from "@vigil/tlog";
import { Witness, bundleAuditor, type TrustPolicy, type BundleAuditor } from "@vigil/updates";

export interface Keys {
  publisher: { signerKey: string; verifierKey: string };
  log: { signerKey: string; verifierKey: string };
  w1: { signerKey: string; verifierKey: string };
  w2: { signerKey: string; verifierKey: string };
}

export function makeKeys(): Keys {
  return {
    publisher: generateKey("rules.example/publisher"),
    log: generateKey("rules.example/log"),
    w1: generateKey("witness-one.example", "cosignature"),
    w2: generateKey("witness-two.example", "cosignature"),
  };
}

/** A temporary directory removed when the calling test finishes. */
export async function tempDir(prefix = "vigil-upd-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export async function writeRules(dir: string, files: Record<string, string>): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  for (const [name, text] of Object.entries(files)) {
    await mkdir(join(dir, name, ".."), { recursive: true });
    await writeFile(join(dir, name), text);
  }
}

export const HONEST_RULES = {
  "eicar.yar": `rule EICAR_Test_File {
  meta:
    description = "EICAR anti-virus test file"
  strings:
    $eicar = "X5O!P%@AP[4\\\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
  condition:
    $eicar at 0
}
`,
  "families/ransom.yar": `rule Ransom_Note_Generic {
  strings:
    $a = "All your files have been encrypted" nocase
    $b = "bitcoin" nocase
    $c = ".onion" ascii wide
  condition:
    uint16(0) == 0x5A4D and 2 of them
}
`,
};

export const SECRET_HUNTING_RULES = {
  "hunt.yar": `rule Doc_Hunter {
  strings:
    $a = "TOP SECRET" nocase wide ascii
    $b = "NOFORN"
  condition:
    any of them
}
`,
};

/** A static file server over a directory; `overrides` replace the bytes of given paths. */
export async function serveDir(dir: string, overrides = new Map<string, Uint8Array>()): Promise<{ url: string; server: Server; overrides: Map<string, Uint8Array>; hits: string[] }> {
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

export async function startWitness(key: string, stateDir: string, origin: string, logKey: string, source: string, opts: { audit?: BundleAuditor; now?: () => number; publishers?: string[] } = {}) {
  const witness = new Witness({
    key,
    stateDir,
    logs: [{ origin, keys: [logKey], source, ...(opts.publishers ? { publishers: opts.publishers } : {}) }],
    audit: opts.audit ?? bundleAuditor(),
    ...(opts.now ? { now: opts.now } : {}),
  });
  const server = await witness.listen(0, "127.0.0.1");
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { witness, server, url };
}

export function policyFor(keys: Keys, overrides: Partial<TrustPolicy> = {}): TrustPolicy {
  return {
    format: "vigil-trust/v1",
    log: { origin: "rules.example/log", keys: [keys.log.verifierKey] },
    publishers: [keys.publisher.verifierKey],
    witnesses: [keys.w1.verifierKey, keys.w2.verifierKey],
    quorum: 2,
    maxCheckpointAge: 3600,
    maxClockSkew: 300,
    bundle: "rules",
    ...overrides,
  };
}

export async function closeServer(s: Server): Promise<void> {
  s.closeAllConnections();
  await new Promise<void>((r) => s.close(() => r()));
}

export async function snapshot(dir: string, to: string): Promise<void> {
  await cp(dir, to, { recursive: true });
}
