/**
 * Update-side doubles shared by the updates tests and the tests of packages that take updates
 * (the agent): real keys for a publisher, a log and two witnesses, a witness listening on
 * 127.0.0.1, the trust policy an endpoint would hold for them, a rules folder writer, and a
 * server closer.
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { generateKey } from "@vigil/tlog";
import { Witness, bundleAuditor, type BundleAuditor, type TrustPolicy } from "@vigil/updates";

export interface KeyPair {
  signerKey: string;
  verifierKey: string;
}

export interface Keys {
  publisher: KeyPair;
  log: KeyPair;
  w1: KeyPair;
  w2: KeyPair;
}

/** Fresh keys: publisher "rules.example/publisher", log "rules.example/log", two witnesses. */
export function makeKeys(): Keys {
  return {
    publisher: generateKey("rules.example/publisher"),
    log: generateKey("rules.example/log"),
    w1: generateKey("witness-one.example", "cosignature"),
    w2: generateKey("witness-two.example", "cosignature"),
  };
}

/** Replaces `dir` with exactly `files` (relative path -> text). */
export async function writeRules(dir: string, files: Record<string, string>): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  for (const [name, text] of Object.entries(files)) {
    await mkdir(join(dir, name, ".."), { recursive: true });
    await writeFile(join(dir, name), text);
  }
}

/** A real witness for one log, listening on an ephemeral port of 127.0.0.1. */
export async function startWitness(
  key: string,
  stateDir: string,
  origin: string,
  logKey: string,
  source: string,
  opts: { audit?: BundleAuditor; now?: () => number; publishers?: string[] } = {},
): Promise<{ witness: Witness; server: Server; url: string }> {
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

/** The trust policy an endpoint holds for `keys`: both witnesses, quorum 2, bundle "rules". */
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

/** Closes a server now, dropping kept-alive connections. */
export async function closeServer(s: Server): Promise<void> {
  s.closeAllConnections();
  await new Promise<void>((r) => s.close(() => r()));
}
