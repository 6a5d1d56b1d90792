/**
 * Endpoint groups: a name, a priority, an optional membership rule (hostname glob, OS platform,
 * tags) and the fields of the data and scan policies the group sets (any field it does not set
 * comes from the default policy). An endpoint is in a group when it was put there by hand
 * (endpoint_group_members) or when it matches the group's rule; rule membership is computed from
 * the endpoint's row each time, never stored. Changes are audited (group.create, group.update,
 * group.delete, group.members.add, group.members.remove). How the groups of one endpoint combine
 * into its effective policy is services/policy.ts.
 *
 * Each process caches the group list for a moment (GROUPS_CACHE_MS); a change made here is
 * visible here at once.
 */
import { randomUUID } from "node:crypto";
import { z } from "zod";
import * as protocol from "@vigil/protocol";
import type { Actor, ServerContext } from "../context.js";
import type { EndpointGroupsTable } from "../db/schema.js";
import { ServerError } from "../error.js";
import { audit } from "./audit.js";

export const GROUPS_CACHE_MS = 2_000;

/** Membership by rule: every criterion given must hold (an endpoint with no hostname on record never matches a hostname rule). */
export const GroupMatch = z
  .strictObject({
    /** A glob on the hostname, case-insensitive: `*` any run of characters, `?` one character. */
    hostname: z.string().min(1).max(256).optional(),
    /** The OS platform as the agent reports it (`linux`, `win32`, `darwin`, `freebsd`), case-insensitive. */
    os: z.string().min(1).max(64).optional(),
    /** Tags the endpoint must all have. */
    tags: protocol.Tags.min(1).optional(),
  })
  .refine((m) => m.hostname !== undefined || m.os !== undefined || m.tags !== undefined, {
    message: "a membership rule needs at least one of hostname, os, tags (or use null for manual members only)",
  });
export type GroupMatch = z.infer<typeof GroupMatch>;

const D = protocol.DataPolicy.shape;
/** The fields of the data policy a group sets (any subset; unknown fields are refused). */
export const DataOverrides = z.strictObject({
  send: z
    .strictObject({ path: z.boolean(), hostname: z.boolean(), scanSummaries: z.boolean(), inventory: z.boolean() })
    .partial()
    .optional(),
  reputation: z.strictObject({ enabled: z.boolean() }).partial().optional(),
  samples: z.strictObject(D.samples.shape).partial().optional(),
  heartbeatSeconds: D.heartbeatSeconds.optional(),
});
export type DataOverrides = z.infer<typeof DataOverrides>;

/** The fields of the scan policy a group sets (or the default sets). */
export const ScanOverrides = z.strictObject(protocol.ScanPolicy.shape);
export type ScanOverrides = z.infer<typeof ScanOverrides>;

export const GroupInput = z.strictObject({
  name: z.string().trim().min(1).max(100),
  description: z.string().max(1000).default(""),
  /** Higher wins where two groups of an endpoint set the same field; equal priorities: the name first in alphabetical order wins. */
  priority: z.number().int().min(0).max(1_000_000).default(100),
  match: GroupMatch.nullable().default(null),
  data: DataOverrides.default({}),
  scan: ScanOverrides.default({}),
});
export type GroupInput = z.input<typeof GroupInput>;

export const GroupMembersInput = z.strictObject({ endpointIds: z.array(z.string().min(1).max(100)).min(1).max(1000) });

export interface Group {
  id: string;
  name: string;
  description: string;
  priority: number;
  match: GroupMatch | null;
  data: DataOverrides;
  scan: ScanOverrides;
  createdAt: number;
  updatedAt: number;
  updatedBy: string | null;
}

export interface GroupInfo extends Group {
  /** Endpoints put in by hand. */
  manualMembers: number;
}

/** What the membership rules look at for one endpoint. */
export interface EndpointFacts {
  id: string;
  hostname: string | null;
  /** JSON text of the OsInfo, as stored. */
  os: string | null;
  /** JSON text of the tags, as stored. */
  tags: string | null;
}

export type Via = "manual" | "rule" | "manual+rule";

function parseJson<T>(text: string | null, fallback: T): T {
  if (text === null) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

function toGroup(r: EndpointGroupsTable): Group {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    priority: Number(r.priority),
    match: parseJson<GroupMatch | null>(r.match, null),
    data: parseJson<DataOverrides>(r.data, {}),
    scan: parseJson<ScanOverrides>(r.scan, {}),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    updatedBy: r.updated_by,
  };
}

/** Precedence order: priority descending, then name. */
export function byPrecedence(a: Group, b: Group): number {
  return b.priority - a.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

const cache = new WeakMap<ServerContext, { groups: Group[]; at: number }>();

/** Every group, in precedence order (the highest priority first). */
export async function loadGroups(ctx: ServerContext): Promise<Group[]> {
  const hit = cache.get(ctx);
  const now = ctx.now();
  if (hit && now - hit.at < GROUPS_CACHE_MS && now >= hit.at) return hit.groups;
  const rows = await ctx.store.db.selectFrom("endpoint_groups").selectAll().execute();
  const groups = rows.map(toGroup).sort(byPrecedence);
  cache.set(ctx, { groups, at: now });
  return groups;
}

/** A glob (`*`, `?`) as an anchored, case-insensitive regular expression; every other character is literal. */
export function globRegExp(glob: string): RegExp {
  let re = "";
  for (const ch of glob) {
    if (ch === "*") re += "[\\s\\S]*";
    else if (ch === "?") re += "[\\s\\S]";
    else re += ch.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`, "iu");
}

/** Whether an endpoint matches a group's rule. */
export function matchesRule(match: GroupMatch | null, e: EndpointFacts): boolean {
  if (!match) return false;
  if (match.hostname !== undefined && (e.hostname === null || !globRegExp(match.hostname).test(e.hostname)))
    return false;
  if (match.os !== undefined) {
    const platform = parseJson<{ platform?: unknown } | null>(e.os, null)?.platform;
    if (typeof platform !== "string" || platform.toLowerCase() !== match.os.toLowerCase()) return false;
  }
  if (match.tags !== undefined) {
    const tags = parseJson<unknown>(e.tags, []);
    const have = new Set(Array.isArray(tags) ? tags.filter((t): t is string => typeof t === "string") : []);
    if (!match.tags.every((t) => have.has(t))) return false;
  }
  return true;
}

/** The groups one endpoint is in, in precedence order, and how it got into each. */
export async function groupsOfEndpoint(ctx: ServerContext, e: EndpointFacts): Promise<{ group: Group; via: Via }[]> {
  const groups = await loadGroups(ctx);
  if (!groups.length) return [];
  const manual = new Set(
    (
      await ctx.store.db
        .selectFrom("endpoint_group_members")
        .select("group_id")
        .where("endpoint_id", "=", e.id)
        .execute()
    ).map((r) => r.group_id),
  );
  const out: { group: Group; via: Via }[] = [];
  for (const g of groups) {
    const m = manual.has(g.id);
    const r = matchesRule(g.match, e);
    if (m || r) out.push({ group: g, via: m && r ? "manual+rule" : m ? "manual" : "rule" });
  }
  return out;
}

function checkInput(ctx: ServerContext, g: z.output<typeof GroupInput>): void {
  const max = g.data.samples?.maxBytes;
  if (max !== undefined && max > ctx.config.maxSampleBytes) {
    throw new ServerError(
      "SERVER_BAD_REQUEST",
      `data.samples.maxBytes ${max} is over the server's limit of ${ctx.config.maxSampleBytes} bytes`,
      { path: "data.samples.maxBytes" },
    );
  }
}

async function nameTaken(ctx: ServerContext, name: string, except?: string): Promise<boolean> {
  let q = ctx.store.db.selectFrom("endpoint_groups").select("id").where("name", "=", name);
  if (except) q = q.where("id", "!=", except);
  return (await q.executeTakeFirst()) !== undefined;
}

async function countManual(ctx: ServerContext): Promise<Map<string, number>> {
  const rows = await ctx.store.db
    .selectFrom("endpoint_group_members")
    .select(["group_id", (eb) => eb.fn.countAll<number>().as("n")])
    .groupBy("group_id")
    .execute();
  return new Map(rows.map((r) => [r.group_id, Number(r.n)]));
}

/** Every group in precedence order, with its count of manual members. */
export async function listGroups(ctx: ServerContext): Promise<GroupInfo[]> {
  cache.delete(ctx);
  const [groups, counts] = await Promise.all([loadGroups(ctx), countManual(ctx)]);
  return groups.map((g) => ({ ...g, manualMembers: counts.get(g.id) ?? 0 }));
}

async function row(ctx: ServerContext, id: string): Promise<EndpointGroupsTable> {
  const r =
    id.length <= 100
      ? await ctx.store.db.selectFrom("endpoint_groups").selectAll().where("id", "=", id).executeTakeFirst()
      : undefined;
  if (!r) throw new ServerError("SERVER_NOT_FOUND", "there is no group with this id");
  return r;
}

export async function getGroup(ctx: ServerContext, id: string): Promise<GroupInfo> {
  const g = toGroup(await row(ctx, id));
  const n = await ctx.store.db
    .selectFrom("endpoint_group_members")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("group_id", "=", id)
    .executeTakeFirstOrThrow();
  return { ...g, manualMembers: Number(n.n) };
}

export async function createGroup(ctx: ServerContext, input: GroupInput, actor: Actor): Promise<GroupInfo> {
  const g = GroupInput.parse(input);
  checkInput(ctx, g);
  if (await nameTaken(ctx, g.name))
    throw new ServerError(
      "SERVER_CONFLICT",
      `a group named ${JSON.stringify(g.name)} exists already; pick another name`,
    );
  const now = ctx.now();
  const id = randomUUID();
  try {
    await ctx.store.db
      .insertInto("endpoint_groups")
      .values({
        id,
        name: g.name,
        description: g.description,
        priority: g.priority,
        match: g.match ? JSON.stringify(g.match) : null,
        data: JSON.stringify(g.data),
        scan: JSON.stringify(g.scan),
        created_at: now,
        updated_at: now,
        updated_by: actor.username,
      })
      .execute();
  } catch (err) {
    // the unique name, taken by another process in between
    if (await nameTaken(ctx, g.name))
      throw new ServerError("SERVER_CONFLICT", `a group named ${JSON.stringify(g.name)} exists already`, {
        cause: err,
      });
    throw err;
  }
  cache.delete(ctx);
  const info = await getGroup(ctx, id);
  await audit(ctx, { actor, action: "group.create", target: id, detail: { ...g } });
  return info;
}

/** Replaces a group's name, description, priority, rule and policies (its manual members stay). */
export async function updateGroup(ctx: ServerContext, id: string, input: GroupInput, actor: Actor): Promise<GroupInfo> {
  const before = toGroup(await row(ctx, id));
  const g = GroupInput.parse(input);
  checkInput(ctx, g);
  if (await nameTaken(ctx, g.name, id))
    throw new ServerError("SERVER_CONFLICT", `another group is named ${JSON.stringify(g.name)}; pick another name`);
  await ctx.store.db
    .updateTable("endpoint_groups")
    .set({
      name: g.name,
      description: g.description,
      priority: g.priority,
      match: g.match ? JSON.stringify(g.match) : null,
      data: JSON.stringify(g.data),
      scan: JSON.stringify(g.scan),
      updated_at: ctx.now(),
      updated_by: actor.username,
    })
    .where("id", "=", id)
    .execute();
  cache.delete(ctx);
  const { createdAt: _c, updatedAt: _u, updatedBy: _b, id: _i, ...from } = before;
  await audit(ctx, { actor, action: "group.update", target: id, detail: { from, to: g } });
  return getGroup(ctx, id);
}

export async function deleteGroup(ctx: ServerContext, id: string, actor: Actor): Promise<void> {
  const g = toGroup(await row(ctx, id));
  await ctx.store.db.transaction().execute(async (tx) => {
    await tx.deleteFrom("endpoint_group_members").where("group_id", "=", id).execute();
    await tx.deleteFrom("endpoint_groups").where("id", "=", id).execute();
  });
  cache.delete(ctx);
  await audit(ctx, { actor, action: "group.delete", target: id, detail: { name: g.name } });
}

/** Puts endpoints in a group by hand; unknown endpoint ids are refused (nothing is added then). */
export async function addGroupMembers(
  ctx: ServerContext,
  id: string,
  endpointIds: string[],
  actor: Actor,
): Promise<{ added: number }> {
  await row(ctx, id);
  const ids = [...new Set(endpointIds)];
  const known = new Set(
    (await ctx.store.db.selectFrom("endpoints").select("id").where("id", "in", ids).execute()).map((r) => r.id),
  );
  const unknown = ids.filter((e) => !known.has(e));
  if (unknown.length)
    throw new ServerError(
      "SERVER_BAD_REQUEST",
      `no endpoint with id ${unknown
        .slice(0, 3)
        .map((u) => JSON.stringify(u.slice(0, 100)))
        .join(", ")}${unknown.length > 3 ? ` and ${unknown.length - 3} more` : ""}; nothing was added`,
      { path: "endpointIds" },
    );
  const already = new Set(
    (
      await ctx.store.db
        .selectFrom("endpoint_group_members")
        .select("endpoint_id")
        .where("group_id", "=", id)
        .where("endpoint_id", "in", ids)
        .execute()
    ).map((r) => r.endpoint_id),
  );
  const fresh = ids.filter((e) => !already.has(e));
  if (fresh.length) {
    await ctx.store.db
      .insertInto("endpoint_group_members")
      .values(fresh.map((e) => ({ group_id: id, endpoint_id: e, added_at: ctx.now(), added_by: actor.username })))
      .onConflict((oc) => oc.columns(["group_id", "endpoint_id"]).doNothing())
      .execute();
    await audit(ctx, { actor, action: "group.members.add", target: id, detail: { endpoints: fresh } });
  }
  return { added: fresh.length };
}

export async function removeGroupMember(
  ctx: ServerContext,
  id: string,
  endpointId: string,
  actor: Actor,
): Promise<{ removed: number }> {
  await row(ctx, id);
  const r = await ctx.store.db
    .deleteFrom("endpoint_group_members")
    .where("group_id", "=", id)
    .where("endpoint_id", "=", endpointId)
    .executeTakeFirst();
  const removed = Number(r.numDeletedRows);
  if (removed)
    await audit(ctx, { actor, action: "group.members.remove", target: id, detail: { endpoint: endpointId } });
  return { removed };
}

export interface GroupMember {
  id: string;
  hostname: string | null;
  via: Via;
}

/**
 * A group's members (endpoints not revoked): those put in by hand and those its rule takes in,
 * hostname order; at most `limit` listed, `total` counts them all.
 */
export async function groupMembers(
  ctx: ServerContext,
  id: string,
  limit = 1000,
): Promise<{ total: number; members: GroupMember[] }> {
  const g = toGroup(await row(ctx, id));
  const manual = new Set(
    (
      await ctx.store.db.selectFrom("endpoint_group_members").select("endpoint_id").where("group_id", "=", id).execute()
    ).map((r) => r.endpoint_id),
  );
  let q = ctx.store.db.selectFrom("endpoints").select(["id", "hostname", "os", "tags"]).where("revoked_at", "is", null);
  // without a rule only the manual members can be in it
  if (!g.match) q = manual.size ? q.where("id", "in", [...manual]) : q.where("id", "=", "");
  const members: GroupMember[] = [];
  for (const e of await q.execute()) {
    const m = manual.has(e.id);
    const r = matchesRule(g.match, e);
    if (m || r) members.push({ id: e.id, hostname: e.hostname, via: m && r ? "manual+rule" : m ? "manual" : "rule" });
  }
  members.sort((a, b) => (a.hostname ?? "\uffff").localeCompare(b.hostname ?? "\uffff") || a.id.localeCompare(b.id));
  return { total: members.length, members: members.slice(0, Math.max(1, limit)) };
}

/** Every member's id (manual and by rule, not revoked): what a "group" filter of a listing selects. */
export async function groupEndpointIds(ctx: ServerContext, id: string): Promise<string[]> {
  return (await groupMembers(ctx, id, Number.MAX_SAFE_INTEGER)).members.map((m) => m.id);
}
