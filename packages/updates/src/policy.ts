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
 * keys: Ed25519 cosignature/v1 (type 0x04) or post-quantum ML-DSA-44 (type 0x06), counted
 * alike. `maxCheckpointAge` (seconds) bounds how old the quorum's cosignatures may be: it is what
 * stops a frozen log. `quorum` counts distinct witness keys. Instead of `witnesses` and
 * `quorum`, a `"tlogPolicy"` (the text of a c2sp.org/tlog-policy file, a string or a list of
 * lines, as public witness networks publish them) can define the witnesses and a group quorum.
 *
 * The same policy can instead be held by a signed, versioned trust root (root.ts), which lets
 * it change by threshold signatures; `loadPolicy` says so when it is handed one.
 */
import { readFile } from "node:fs/promises";
import { KEY_TYPE_COSIGNATURE_V1, KEY_TYPE_ED25519, KEY_TYPE_MLDSA44_COSIGNATURE, parseVerifierKey } from "@vigil/tlog";
import { UpdateError } from "./error.js";
import { parseTlogPolicy, quorumSatisfied, type TlogPolicy } from "./tlog-policy.js";

export interface TrustPolicy {
  readonly format: "vigil-trust/v1";
  readonly log: { readonly origin: string; readonly keys: readonly string[] };
  readonly publishers: readonly string[];
  readonly witnesses: readonly string[];
  readonly quorum: number;
  readonly maxCheckpointAge: number;
  readonly maxClockSkew: number;
  readonly bundle: string;
  /**
   * A C2SP tlog-policy (c2sp.org/tlog-policy, as public witness networks publish them) that
   * defines the witnesses and a group quorum ("2 of these 3 and 1 of those"); when present it
   * decides the quorum, and `quorum` is the number of witnesses its smallest satisfying set needs
   * at least (for messages).
   */
  readonly tlogPolicy?: TlogPolicy;
  /** the tlog-policy text, kept as given (for writing the policy back out) */
  readonly tlogPolicyText?: string;
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
  // a C2SP tlog-policy in the file gives the witnesses and the quorum (and log keys, if none)
  let tlogPolicy: TlogPolicy | undefined;
  if (o.tlogPolicy !== undefined) {
    const text = Array.isArray(o.tlogPolicy) ? o.tlogPolicy.join("\n") : o.tlogPolicy;
    if (typeof text !== "string") throw bad('"tlogPolicy" must be the text of a c2sp.org/tlog-policy file');
    try {
      tlogPolicy = parseTlogPolicy(text);
    } catch (e) {
      throw new UpdateError("BAD_POLICY", `trust policy: "tlogPolicy": ${(e as Error).message}`, { cause: e });
    }
  }
  const tp = tlogPolicy;
  const logKeys = keyList(log.keys ?? tp?.logs.map((l) => l.vkey), "log.keys", [KEY_TYPE_ED25519], 1);
  const publishers = keyList(o.publishers, "publishers", [KEY_TYPE_ED25519], 1);
  // a witness cosigns with Ed25519 (cosignature/v1) or ML-DSA-44 (subtree/v1): both count
  const witnesses = keyList(
    o.witnesses ?? (tp ? [...tp.witnesses.values()].map((w) => w.vkey) : undefined),
    "witnesses",
    [KEY_TYPE_COSIGNATURE_V1, KEY_TYPE_MLDSA44_COSIGNATURE],
    tp?.quorum === "none" ? 0 : 1,
  );
  if (new Set(witnesses.map((w) => parseVerifierKey(w).publicKey.join(","))).size !== witnesses.length)
    throw bad("each witness needs its own key");
  const num = (v: unknown, what: string, dflt?: number): number => {
    if (v === undefined && dflt !== undefined) return dflt;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0)
      throw bad(`"${what}" must be a non-negative integer`);
    return v;
  };
  const quorum = num(o.quorum ?? (tp ? smallestQuorum(tp) : undefined), "quorum");
  if (tlogPolicy) {
    const listed = new Set(witnesses);
    for (const [name, w] of tlogPolicy.witnesses)
      if (!listed.has(w.vkey)) throw bad(`"tlogPolicy" witness ${name} is not in "witnesses"`);
  } else if (quorum < 1 || quorum > witnesses.length)
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
    ...(tlogPolicy
      ? { tlogPolicy, tlogPolicyText: (Array.isArray(o.tlogPolicy) ? o.tlogPolicy.join("\n") : o.tlogPolicy) as string }
      : {}),
  };
}

/** The size of the smallest set of witnesses that satisfies a tlog-policy quorum (0 for none). */
function smallestQuorum(p: TlogPolicy): number {
  if (p.quorum === "none") return 0;
  const memo = new Map<string, number>();
  const need = (m: { kind: "witness" | "group"; name: string }): number => {
    if (m.kind === "witness") return 1;
    const known = memo.get(m.name);
    if (known !== undefined) return known;
    const g = p.groups.get(m.name)!;
    const costs = g.members.map(need).sort((a, b) => a - b);
    const total = costs.slice(0, g.threshold).reduce((a, b) => a + b, 0);
    memo.set(m.name, total);
    return total;
  };
  return need(p.quorum);
}

/** Whether the witnesses with these verifier keys make the policy's quorum. */
export function meetsQuorum(policy: TrustPolicy, witnessKeys: readonly string[]): boolean {
  if (!policy.tlogPolicy) return witnessKeys.length >= policy.quorum;
  const names = new Set<string>();
  for (const [name, w] of policy.tlogPolicy.witnesses) if (witnessKeys.includes(w.vkey)) names.add(name);
  return quorumSatisfied(policy.tlogPolicy, names);
}

export async function loadPolicy(path: string): Promise<TrustPolicy> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (cause) {
    throw new UpdateError("BAD_POLICY", `cannot read trust policy ${path}`, { cause });
  }
  // a signed trust root (root.ts) holds a policy too, but is read with --root / `update({ root })`
  if (/^\{\s*"expires":[^\n]*\n[^]*"format": "vigil-root\/v1"/.test(text))
    throw new UpdateError(
      "BAD_POLICY",
      `${path} is a signed trust root (vigil-root/v1), not a plain trust policy: give it with --root instead of --policy`,
    );
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (cause) {
    throw new UpdateError("BAD_POLICY", `trust policy ${path} is not valid JSON`, { cause });
  }
  return validatePolicy(obj);
}
