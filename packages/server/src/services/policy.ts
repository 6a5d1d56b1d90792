/**
 * The organisation's default policy: one row (id 1) holding the DataPolicy JSON (with its
 * optional scan part) and its version. Each process caches it for a moment (several processes
 * may share one PostgreSQL, so a change made elsewhere shows within POLICY_CACHE_MS); a change
 * made here is visible here at once.
 *
 * An endpoint obeys its effective policy: the default, with each field set by one of its groups
 * (services/groups.ts) taken from the group of highest priority that sets it (equal priorities:
 * the group name first in alphabetical order). `endpointPolicy` says where each field came from.
 * Endpoints fetch it signed: the payload is the exact JSON text that was signed with the
 * server's Ed25519 key. Its version is per endpoint and moves only when the content changes
 * (the endpoint row keeps the version and a digest of what it was last offered), so an agent's
 * "never older, never different under the same version" check holds whatever groups do. It is
 * never below the default's version (what agents held before groups existed), and an endpoint
 * no group changes anything for gets the default's version and bytes.
 */
import { createHash } from "node:crypto";
import * as protocol from "@vigil/protocol";
import type { Actor, ServerContext } from "../context.js";
import { ServerError } from "../error.js";
import { audit } from "./audit.js";
import { groupsOfEndpoint, type Group, type Via } from "./groups.js";

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

/** The default policy; with an endpoint id, that endpoint's effective policy. */
export async function getPolicy(ctx: ServerContext, endpointId?: string): Promise<DataPolicy> {
  if (endpointId !== undefined) return (await endpointPolicy(ctx, endpointId)).policy;
  return (await load(ctx)).policy;
}

/** The default policy signed; with an endpoint id, that endpoint's effective policy signed. */
export async function getSignedPolicy(ctx: ServerContext, endpointId?: string): Promise<SignedPolicy> {
  if (endpointId !== undefined) return signPolicy(ctx, (await endpointPolicy(ctx, endpointId)).policy);
  return (await load(ctx)).signed;
}

/** The fields of the effective policy, by dotted path: each comes whole from one place. */
export const DATA_FIELDS = [
  "send.path",
  "send.hostname",
  "send.scanSummaries",
  "send.inventory",
  "reputation.enabled",
  "samples.enabled",
  "samples.maxBytes",
  "samples.fileTypes",
  "heartbeatSeconds",
] as const;
export const SCAN_FIELDS = [
  "scan.paths",
  "scan.exclude",
  "scan.everyMinutes",
  "scan.dailyAt",
  "scan.watchPaths",
  "scan.action",
] as const;
export const POLICY_FIELDS = [...DATA_FIELDS, ...SCAN_FIELDS];

/** Where a field of an effective policy came from: the default, a group, or nowhere (a scan field nobody sets: the endpoint's own configuration applies). */
export type FieldSource =
  | { kind: "default" }
  | { kind: "group"; id: string; name: string; priority: number }
  | { kind: "unset" };

export interface PolicyField {
  field: string;
  value: unknown;
  source: FieldSource;
}

function getPath(o: unknown, path: string): unknown {
  let v: unknown = o;
  for (const k of path.split(".")) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

function setPath(o: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split(".");
  let t = o;
  for (const k of keys.slice(0, -1)) t = (t[k] ??= {}) as Record<string, unknown>;
  t[keys[keys.length - 1]!] = value;
}

/**
 * The default with the groups' fields over it: `groups` in precedence order (the first that sets
 * a field gives it). The result's version is the default's; `endpointPolicy` gives it its own.
 */
export function resolvePolicy(defaults: DataPolicy, groups: Group[]): { policy: DataPolicy; fields: PolicyField[] } {
  const out: Record<string, unknown> = { version: defaults.version, scan: {} };
  const fields: PolicyField[] = [];
  for (const field of POLICY_FIELDS) {
    const inner = field.startsWith("scan.") ? field : `data.${field}`;
    let value: unknown;
    let source: FieldSource = { kind: "unset" };
    for (const g of groups) {
      const v = getPath(g, inner);
      if (v !== undefined) {
        value = v;
        source = { kind: "group", id: g.id, name: g.name, priority: g.priority };
        break;
      }
    }
    if (source.kind === "unset") {
      value = getPath(defaults, field);
      // a policy stored before the inventory existed: absent means off
      if (value === undefined && field === "send.inventory") value = false;
      if (value !== undefined) source = { kind: "default" };
    }
    if (value !== undefined) setPath(out, field, value);
    fields.push({ field, value: value ?? null, source });
  }
  // no scan field set anywhere: no scan part, so the policy is byte for byte what it was before groups
  if (Object.keys(out.scan as object).length === 0) delete out.scan;
  return { policy: canonical(out as DataPolicy), fields };
}

export interface EffectivePolicy {
  endpointId: string;
  /** The policy the endpoint is offered (signed), with its per-endpoint version. */
  policy: DataPolicy;
  /** The endpoint's groups in precedence order, and how it is in each. */
  groups: { id: string; name: string; priority: number; via: Via }[];
  /** Every field of the policy with where it came from. */
  fields: PolicyField[];
}

function digestOf(p: DataPolicy): string {
  const { version: _v, ...body } = p;
  return createHash("sha256").update(JSON.stringify(body)).digest("hex");
}

/**
 * An endpoint's effective policy. When its content differs from what the endpoint was last
 * offered, it gets the next version (above the default's too), recorded with a compare-and-set
 * so that processes sharing a database agree.
 */
export async function endpointPolicy(ctx: ServerContext, endpointId: string): Promise<EffectivePolicy> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const e =
      endpointId.length <= 100
        ? await ctx.store.db
            .selectFrom("endpoints")
            .select(["id", "hostname", "os", "tags", "policy_version", "policy_digest"])
            .where("id", "=", endpointId)
            .executeTakeFirst()
        : undefined;
    if (!e) throw new ServerError("SERVER_NOT_FOUND", "there is no endpoint with this id");
    const defaults = (await load(ctx)).policy;
    const groups = await groupsOfEndpoint(ctx, e);
    const { policy, fields } = resolvePolicy(
      defaults,
      groups.map((g) => g.group),
    );
    const digest = digestOf(policy);
    const held = e.policy_version === null ? null : Number(e.policy_version);
    let version: number;
    if (held !== null && e.policy_digest === digest) version = held;
    else {
      // never below the default's version (what agents held before groups existed), and the
      // default's own version when the content is the default's; always above the last offered
      version =
        held === null
          ? defaults.version + (digest === digestOf(defaults) ? 0 : 1)
          : Math.max(held + 1, defaults.version);
      let q = ctx.store.db
        .updateTable("endpoints")
        .set({ policy_version: version, policy_digest: digest })
        .where("id", "=", endpointId);
      q = held === null ? q.where("policy_version", "is", null) : q.where("policy_version", "=", held);
      const r = await q.executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) continue; // another process moved it: look again
    }
    return {
      endpointId,
      policy: { ...policy, version },
      groups: groups.map(({ group: g, via }) => ({ id: g.id, name: g.name, priority: g.priority, via })),
      fields,
    };
  }
  throw new ServerError("SERVER_CONFLICT", "the endpoint's policy changed concurrently several times; try again");
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

/** What updatePolicy accepts: a full DataPolicy whose version is ignored (the server bumps it); without `scan` the default's scan part is kept. */
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
    const next = canonical({
      ...input,
      ...(input.scan === undefined && current.scan !== undefined ? { scan: current.scan } : {}),
      version: current.version + 1,
    });
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
