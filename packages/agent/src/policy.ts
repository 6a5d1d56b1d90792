/**
 * The policy on the endpoint: the server's signed policy is verified against the key pinned
 * at enrolment (Ed25519 over the exact `payload` bytes), parsed with the protocol's DataPolicy
 * schema, and must not be older than the last one accepted. What the agent then obeys is the
 * narrower of that policy and the endpoint's own ceiling, field by field: the server can turn
 * things off but never on where the endpoint's configuration forbids them.
 *
 * The policy's scan part (what to scan and watch, how often, what to do on a detection) is
 * applied within the endpoint's scan ceiling (`scanCeiling` in agent.json): paths only under its
 * allowed roots, no interval shorter than its minimum, quarantine only when it allows it, or
 * none of it when it does not accept a scan policy. A field the server does not set, or that the
 * ceiling refuses whole, comes from the endpoint's own configuration.
 */
import { createPublicKey, verify } from "node:crypto";
import { isAbsolute, relative, resolve } from "node:path";
import { z } from "zod";
import { AgentError } from "./error.js";
import { ACTION_KINDS, ActionKind, DataPolicy, type ScanPolicy, type SignedPolicy } from "@vigil/protocol";

export const SampleType = z.enum(["pe", "elf", "macho", "dex", "script"]);
export type SampleType = z.infer<typeof SampleType>;

/** What this endpoint ever allows to leave it, whatever the server asks. */
export const DataCeiling = z.object({
  path: z.boolean(),
  hostname: z.boolean(),
  scanSummaries: z.boolean(),
  reputation: z.boolean(),
  /** The installed-software inventory (a default, so configurations written before it still parse). */
  inventory: z.boolean().default(true),
  samples: z.object({
    enabled: z.boolean(),
    maxBytes: z.number().int().nonnegative(),
    fileTypes: z.array(SampleType),
  }),
});
export type DataCeiling = z.infer<typeof DataCeiling>;

export const DEFAULT_CEILING: DataCeiling = {
  path: false,
  hostname: true,
  scanSummaries: true,
  reputation: true,
  inventory: true,
  samples: { enabled: false, maxBytes: 10 * 1024 * 1024, fileTypes: ["pe", "elf", "macho"] },
};

/**
 * Which remote actions this endpoint's operator allows (the final word, as the data ceiling is
 * for data): an action of a kind not listed is refused by the agent and reported failed with the
 * reason. By default nothing that moves files: scan, update and diagnostics (what a diagnostic
 * bundle carries still obeys the data policy); quarantine and restore only when listed.
 */
export const ActionCeiling = z.object({
  allow: z.array(ActionKind).default(["scan", "update", "diagnostics"]),
  /**
   * Where a remote quarantine may act (a file by path must be under one; a hash is looked for
   * under them). Empty: the configured scan and watch paths.
   */
  roots: z.array(z.string().min(1)).default([]),
  /** A quarantine by hash hashes at most this many files under the roots. */
  maxHashFiles: z.number().int().positive().default(100_000),
});
export type ActionCeiling = z.infer<typeof ActionCeiling>;
export const DEFAULT_ACTION_CEILING: ActionCeiling = {
  allow: ["scan", "update", "diagnostics"],
  roots: [],
  maxHashFiles: 100_000,
};
export { ACTION_KINDS };

/** The fields the ceiling can name on the command line (`--allow path,samples`). */
export const CEILING_FIELDS = ["path", "hostname", "scanSummaries", "reputation", "samples", "inventory"] as const;
export type CeilingField = (typeof CEILING_FIELDS)[number];

/** Field by field, the narrower of the server's policy and the local ceiling. */
export function effectivePolicy(server: DataPolicy, ceiling: DataCeiling): DataPolicy {
  const types = server.samples.fileTypes.filter((t) => ceiling.samples.fileTypes.includes(t));
  return {
    version: server.version,
    send: {
      path: server.send.path && ceiling.path,
      hostname: server.send.hostname && ceiling.hostname,
      scanSummaries: server.send.scanSummaries && ceiling.scanSummaries,
      // absent in policies from before the inventory existed: off
      inventory: (server.send.inventory ?? false) && ceiling.inventory,
    },
    reputation: { enabled: server.reputation.enabled && ceiling.reputation },
    samples: {
      enabled: server.samples.enabled && ceiling.samples.enabled && types.length > 0,
      maxBytes: Math.min(server.samples.maxBytes, ceiling.samples.maxBytes),
      fileTypes: types,
    },
    heartbeatSeconds: server.heartbeatSeconds,
    // applied within the scan ceiling by effectiveScan
    ...(server.scan ? { scan: server.scan } : {}),
  };
}

/** How far the server's scan policy may go on this endpoint (`scanCeiling` in agent.json). */
export const ScanCeiling = z.object({
  /** Apply the scan part of the server's policy at all (false: the local configuration only). */
  accept: z.boolean().default(true),
  /** Scan and watch paths the server sets must lie under one of these directories. */
  roots: z.array(z.string().min(1)).default(["/"]),
  /** The server may not schedule scans more often than every this many minutes. */
  minEveryMinutes: z.number().int().positive().default(15),
  /** The server may ask for detected files to be quarantined (moved away). */
  quarantine: z.boolean().default(false),
});
export type ScanCeiling = z.infer<typeof ScanCeiling>;
export const DEFAULT_SCAN_CEILING: ScanCeiling = { accept: true, roots: ["/"], minEveryMinutes: 15, quarantine: false };

/** The endpoint's own scan settings (agent.json `scan`, `watch.paths`, `action`). */
export interface LocalScan {
  paths: string[];
  exclude: string[];
  everyMinutes: number | null;
  dailyAt: string | null;
  watchPaths: string[];
  action: "report" | "quarantine";
}

/** What the agent scans, watches and does: the local settings with the server's scan policy over them, within the ceiling. */
export interface ScanSettings extends LocalScan {
  /** The fields that came from the server's policy. */
  fromServer: (keyof LocalScan)[];
  /** What the ceiling refused or narrowed, one sentence each. */
  narrowed: string[];
}

function under(p: string, roots: string[]): boolean {
  const abs = resolve(p);
  return roots.some((r) => {
    const rel = relative(resolve(r), abs);
    return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
  });
}

/** The server's scan policy applied over the local settings within the ceiling (see the file comment). */
export function effectiveScan(local: LocalScan, server: ScanPolicy | undefined, c: ScanCeiling): ScanSettings {
  const out: ScanSettings = { ...local, fromServer: [], narrowed: [] };
  if (!server || Object.keys(server).length === 0) return out;
  if (!c.accept) {
    out.narrowed.push("the server's scan policy is not applied: this endpoint's scanCeiling.accept is false");
    return out;
  }
  const paths = (key: "paths" | "watchPaths") => {
    const asked = server[key];
    if (asked === undefined) return;
    const ok = asked.filter((p) => isAbsolute(p) && under(p, c.roots));
    for (const p of asked)
      if (!ok.includes(p))
        out.narrowed.push(
          `${key} ${JSON.stringify(p)} refused: ${isAbsolute(p) ? `not under the allowed roots ${c.roots.join(", ")}` : "not an absolute path"}`,
        );
    if (asked.length && !ok.length) {
      out.narrowed.push(`${key}: none of the server's allowed here; the local setting applies`);
      return;
    }
    out[key] = ok;
    out.fromServer.push(key);
  };
  paths("paths");
  paths("watchPaths");
  if (server.exclude !== undefined) {
    out.exclude = server.exclude;
    out.fromServer.push("exclude");
  }
  if (server.everyMinutes !== undefined) {
    let every = server.everyMinutes;
    if (every !== null && every < c.minEveryMinutes) {
      out.narrowed.push(`everyMinutes ${every} raised to this endpoint's minimum of ${c.minEveryMinutes}`);
      every = c.minEveryMinutes;
    }
    out.everyMinutes = every;
    out.fromServer.push("everyMinutes");
  }
  if (server.dailyAt !== undefined) {
    out.dailyAt = server.dailyAt;
    out.fromServer.push("dailyAt");
  }
  if (server.action !== undefined) {
    if (server.action === "quarantine" && !c.quarantine)
      out.narrowed.push(
        `action quarantine refused: this endpoint's scanCeiling.quarantine is false; the local action (${local.action}) applies`,
      );
    else {
      out.action = server.action;
      out.fromServer.push("action");
    }
  }
  return out;
}

/** The most restrictive policy: what the agent obeys before it has verified any. */
export function closedPolicy(heartbeatSeconds = 300): DataPolicy {
  return {
    version: 0,
    send: { path: false, hostname: false, scanSummaries: false, inventory: false },
    reputation: { enabled: false },
    samples: { enabled: false, maxBytes: 0, fileTypes: [] },
    heartbeatSeconds,
  };
}

export interface PinnedKey {
  /** SPKI DER, base64, as EnrollResponse.policyKey. */
  key: string;
  keyId: string;
}

/**
 * Verifies a signed policy with the pinned key and returns the policy. `lastVersion` is the
 * version last accepted (and `lastPayload` its text): an older version is refused, and so is
 * the same version with different content.
 */
export function verifyPolicy(
  signed: SignedPolicy,
  pinned: PinnedKey,
  last?: { version: number; payload: string },
): DataPolicy {
  if (signed.keyId !== pinned.keyId) {
    throw new AgentError(
      "POLICY_REJECTED",
      `the policy is signed with key ${JSON.stringify(signed.keyId)}, not the key ${JSON.stringify(pinned.keyId)} pinned at enrolment; keeping the last good policy (if the server's key really changed, enrol again)`,
    );
  }
  let ok = false;
  try {
    const key = createPublicKey({ key: Buffer.from(pinned.key, "base64"), format: "der", type: "spki" });
    ok = verify(null, Buffer.from(signed.payload, "utf8"), key, Buffer.from(signed.signature, "base64"));
  } catch (err) {
    throw new AgentError(
      "POLICY_REJECTED",
      `cannot check the policy signature: ${(err as Error).message}; keeping the last good policy`,
      { cause: err },
    );
  }
  if (!ok)
    throw new AgentError(
      "POLICY_REJECTED",
      "the policy's signature does not verify with the pinned key (altered in transit or not from this server); keeping the last good policy",
    );
  let parsed: DataPolicy;
  try {
    parsed = DataPolicy.parse(JSON.parse(signed.payload));
  } catch (err) {
    throw new AgentError(
      "POLICY_REJECTED",
      `the signed policy is not a valid data policy: ${(err as Error).message.slice(0, 300)}`,
      { cause: err },
    );
  }
  if (last) {
    if (parsed.version < last.version) {
      throw new AgentError(
        "POLICY_REJECTED",
        `the server offers policy version ${parsed.version}, older than version ${last.version} already accepted (replay?); keeping the last good policy`,
      );
    }
    if (parsed.version === last.version && signed.payload !== last.payload) {
      throw new AgentError(
        "POLICY_REJECTED",
        `the server offers a different policy under the same version ${parsed.version}; keeping the last good policy`,
      );
    }
  }
  return parsed;
}
