/**
 * An endpoint's trust policy, a small JSON file:
 *
 * ```json
 * { "format": "vigil-trust/v1",
 *   "log": { "origin": "updates.example/log", "keys": ["updates.example/log+1234abcd+AQ..."] },
 *   "publishers": ["updates.example/publisher+...+AQ..."],
 *   "witnesses": ["w1.example+...+BA...", "w2.example+...+BA..."],
 *   "quorum": 2, "maxCheckpointAge": 86400, "maxClockSkew": 300, "bundle": "rules" }
 * ```
 * Log and publisher keys are Ed25519 note keys (type 0x01); witness keys are tlog-cosignature
 * keys: Ed25519 cosignature/v1 (type 0x04) or post-quantum ML-DSA-44 (type 0x06), counted alike. `maxCheckpointAge` (seconds) bounds how old the quorum's cosignatures may
 * be: it is what stops a frozen log. `quorum` counts distinct witness keys.
 */
import { readFile } from "node:fs/promises";
import { KEY_TYPE_COSIGNATURE_V1, KEY_TYPE_ED25519, KEY_TYPE_MLDSA44_COSIGNATURE, parseVerifierKey } from "@vigil/tlog";
import { UpdateError } from "./error.js";

export interface TrustPolicy {
  readonly format: "vigil-trust/v1";
  readonly log: { readonly origin: string; readonly keys: readonly string[] };
  readonly publishers: readonly string[];
  readonly witnesses: readonly string[];
  readonly quorum: number;
  readonly maxCheckpointAge: number;
  readonly maxClockSkew: number;
  readonly bundle: string;
}

function bad(msg: string): UpdateError {
  return new UpdateError("BAD_POLICY", `trust policy: ${msg}`);
}

export function validatePolicy(p: unknown): TrustPolicy {
  if (typeof p !== "object" || p === null) throw bad("must be a JSON object");
  const o = p as Record<string, unknown>;
  if (o.format !== "vigil-trust/v1") throw bad('"format" must be "vigil-trust/v1"');
  const log = o.log as Record<string, unknown> | undefined;
  if (!log || typeof log.origin !== "string" || log.origin === "")
    throw bad('"log.origin" must be the log\'s checkpoint origin');
  const keyList = (v: unknown, what: string, types: readonly number[], min: number): string[] => {
    if (!Array.isArray(v) || v.length < min) throw bad(`"${what}" must be a list of at least ${min} verifier key(s)`);
    return v.map((k) => {
      let parsed;
      try {
        parsed = parseVerifierKey(k as string);
      } catch (e) {
        throw new UpdateError("BAD_POLICY", `trust policy: bad key in "${what}": ${(e as Error).message}`, {
          cause: e,
        });
      }
      if (!types.includes(parsed.type))
        throw bad(`keys in "${what}" must have type ${types.map((t) => `0x0${t}`).join(" or ")}`);
      return k as string;
    });
  };
  const logKeys = keyList(log.keys, "log.keys", [KEY_TYPE_ED25519], 1);
  const publishers = keyList(o.publishers, "publishers", [KEY_TYPE_ED25519], 1);
  // a witness cosigns with Ed25519 (cosignature/v1) or ML-DSA-44 (subtree/v1): both count
  const witnesses = keyList(o.witnesses, "witnesses", [KEY_TYPE_COSIGNATURE_V1, KEY_TYPE_MLDSA44_COSIGNATURE], 1);
  if (new Set(witnesses.map((w) => parseVerifierKey(w).publicKey.join(","))).size !== witnesses.length)
    throw bad("each witness needs its own key");
  const num = (v: unknown, what: string, dflt?: number): number => {
    if (v === undefined && dflt !== undefined) return dflt;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0)
      throw bad(`"${what}" must be a non-negative integer`);
    return v;
  };
  const quorum = num(o.quorum, "quorum");
  if (quorum < 1 || quorum > witnesses.length)
    throw bad(`"quorum" must be between 1 and the number of witnesses (${witnesses.length})`);
  const maxCheckpointAge = num(o.maxCheckpointAge, "maxCheckpointAge", 86400);
  if (maxCheckpointAge < 1) throw bad('"maxCheckpointAge" must be at least 1 second');
  const bundle = o.bundle === undefined ? "rules" : o.bundle;
  if (typeof bundle !== "string" || bundle === "") throw bad('"bundle" must be a bundle name');
  return {
    format: "vigil-trust/v1",
    log: { origin: log.origin, keys: logKeys },
    publishers,
    witnesses,
    quorum,
    maxCheckpointAge,
    maxClockSkew: num(o.maxClockSkew, "maxClockSkew", 300),
    bundle,
  };
}

export async function loadPolicy(path: string): Promise<TrustPolicy> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (cause) {
    throw new UpdateError("BAD_POLICY", `cannot read trust policy ${path}`, { cause });
  }
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (cause) {
    throw new UpdateError("BAD_POLICY", `trust policy ${path} is not valid JSON`, { cause });
  }
  return validatePolicy(obj);
}
