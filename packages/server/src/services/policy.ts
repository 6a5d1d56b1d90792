/**
 * The organisation's data policy: one row (id 1) holding the DataPolicy JSON and its version.
 * Endpoints fetch it signed: the payload is the exact JSON text that was signed with the
 * server's Ed25519 key. Each process caches the policy for a moment (several processes may
 * share one PostgreSQL, so a change made elsewhere shows within POLICY_CACHE_MS); a change made
 * here is visible here at once.
 */
import * as protocol from "@vigil/protocol";
import type { Actor, ServerContext } from "../context.js";
import { ServerError } from "../error.js";
import { audit } from "./audit.js";

type DataPolicy = protocol.DataPolicy;
type SignedPolicy = protocol.SignedPolicy;

export const POLICY_CACHE_MS = 2_000;

interface Cached {
  policy: DataPolicy;
  signed: SignedPolicy;
  at: number;
}

const cache = new WeakMap<ServerContext, Cached>();

/** The policy as endpoints receive it: version, then fields in schema order (stable text). */
function canonical(p: DataPolicy): DataPolicy {
  return protocol.DataPolicy.parse(p);
}

function signPolicy(ctx: ServerContext, p: DataPolicy): SignedPolicy {
  const payload = JSON.stringify(p);
  return { payload, signature: ctx.signer.sign(payload), keyId: ctx.signer.keyId };
}

/** Inserts the default policy when there is none (insert-if-absent: safe from several processes). */
export async function ensurePolicy(ctx: ServerContext): Promise<void> {
  await ctx.store.db
    .insertInto("policy")
    .values({
      id: 1,
      version: protocol.DEFAULT_POLICY.version,
      body: JSON.stringify(canonical(protocol.DEFAULT_POLICY)),
      updated_at: ctx.now(),
      updated_by: null,
    })
    .onConflict((oc) => oc.column("id").doNothing())
    .execute();
}

async function load(ctx: ServerContext): Promise<Cached> {
  const hit = cache.get(ctx);
  const now = ctx.now();
  if (hit && now - hit.at < POLICY_CACHE_MS && now >= hit.at) return hit;
  const row = await ctx.store.db
    .selectFrom("policy")
    .select(["version", "body"])
    .where("id", "=", 1)
    .executeTakeFirst();
  let policy: DataPolicy;
  if (!row) policy = canonical(protocol.DEFAULT_POLICY);
  else policy = canonical({ ...(JSON.parse(row.body) as DataPolicy), version: Number(row.version) });
  const signed =
    hit && hit.policy.version === policy.version && hit.signed.payload === JSON.stringify(policy)
      ? hit.signed
      : signPolicy(ctx, policy);
  const fresh = { policy, signed, at: now };
  cache.set(ctx, fresh);
  return fresh;
}

export async function getPolicy(ctx: ServerContext): Promise<DataPolicy> {
  return (await load(ctx)).policy;
}

export async function getSignedPolicy(ctx: ServerContext): Promise<SignedPolicy> {
  return (await load(ctx)).signed;
}

/** Who changed the policy last and when (null while it is the default nobody saved). */
export async function getPolicyChange(ctx: ServerContext): Promise<{ at: number; by: string | null } | null> {
  const row = await ctx.store.db
    .selectFrom("policy")
    .select(["updated_at", "updated_by"])
    .where("id", "=", 1)
    .executeTakeFirst();
  return row ? { at: Number(row.updated_at), by: row.updated_by } : null;
}

/** What updatePolicy accepts: a full DataPolicy whose version is ignored (the server bumps it). */
export const PolicyInput = protocol.DataPolicy.extend({ version: protocol.DataPolicy.shape.version.optional() });
export type PolicyInput = Omit<DataPolicy, "version"> & { version?: number | undefined };

/**
 * Replaces the policy and bumps its version. Concurrent updates (other processes) are ordered by
 * a compare-and-set on the version; a lost race is retried on the new version.
 */
export async function updatePolicy(ctx: ServerContext, input: PolicyInput, actor: Actor): Promise<DataPolicy> {
  if (input.samples.maxBytes > ctx.config.maxSampleBytes) {
    throw new ServerError(
      "SERVER_BAD_REQUEST",
      `samples.maxBytes ${input.samples.maxBytes} is over the server's limit of ${ctx.config.maxSampleBytes} bytes`,
      { path: "samples.maxBytes" },
    );
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    cache.delete(ctx);
    const current = await getPolicy(ctx);
    const next = canonical({ ...input, version: current.version + 1 });
    const r = await ctx.store.db
      .updateTable("policy")
      .set({ version: next.version, body: JSON.stringify(next), updated_at: ctx.now(), updated_by: actor.username })
      .where("id", "=", 1)
      .where("version", "=", current.version)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 1) {
      cache.delete(ctx);
      await audit(ctx, {
        actor,
        action: "policy.update",
        target: `policy v${next.version}`,
        detail: { from: current, to: next },
      });
      return next;
    }
  }
  throw new ServerError("SERVER_CONFLICT", "the policy changed concurrently several times; try again");
}
