/**
 * The fleet's installed-software inventory. An endpoint's report (protocol InventoryReport)
 * replaces its current set of items and findings in one transaction: rows no longer listed are
 * deleted, rows still listed keep their first_seen. The data policy applies on arrival (403 when
 * inventory is off, install paths dropped when paths are off). The admin API and the console read
 * it back: search by software name or vendor across endpoints, the findings of the policy packs,
 * one endpoint's summary.
 */
import { createHash } from "node:crypto";
import { sql, type Kysely } from "kysely";
import type * as protocol from "@vigil/protocol";
import type { ServerContext } from "../context.js";
import { containsPattern, countRows } from "../db/query.js";
import type { Database, InventoryFindingsTable, InventoryItemsTable } from "../db/schema.js";
import { ServerError } from "../error.js";
import { getPolicy } from "./policy.js";

/** Rows per INSERT: 10-11 parameters each stays far below SQLite's and PostgreSQL's limits. */
const CHUNK = 1000;

function keyOf(...parts: string[]): string {
  return createHash("sha256").update(parts.join("\0")).digest("hex").slice(0, 32);
}

/**
 * Item keys: source and name, so an upgrade keeps the item's first_seen. Two entries with the
 * same source and name (a Python package in two site-packages, a multi-arch dpkg package) are
 * told apart by version, then by their order.
 */
function itemKeys(items: protocol.InventoryItem[]): string[] {
  const used = new Set<string>();
  return items.map((it) => {
    let k = keyOf(it.source, it.name);
    if (used.has(k)) k = keyOf(it.source, it.name, it.version ?? "");
    for (let i = 2; used.has(k); i++) k = keyOf(it.source, it.name, it.version ?? "", String(i));
    used.add(k);
    return k;
  });
}

export interface StoredInventory {
  items: number;
  findings: number;
}

/** Stores an endpoint's report in place of its previous one. */
export async function storeInventory(
  ctx: ServerContext,
  endpointId: string,
  report: protocol.InventoryReport,
): Promise<StoredInventory> {
  const policy = await getPolicy(ctx, endpointId);
  if (!policy.send.inventory)
    throw new ServerError("SERVER_POLICY_DENIED", "inventory reports are off in the organisation's policy");
  const keepPath = policy.send.path;
  const now = ctx.now();
  const keys = itemKeys(report.items);
  const findingKeys = new Map<string, protocol.InventoryFinding>();
  for (const f of report.findings) {
    const k = keyOf(f.packId, f.vendor, f.subject);
    const seen = findingKeys.get(k);
    // the same subject matched twice by one pack's vendor (an entry and a file of the same name): keep the stronger
    if (!seen || (seen.status === "upcoming" && f.status === "forbidden")) findingKeys.set(k, f);
  }
  await ctx.store.db.transaction().execute(async (trx) => {
    // first statement: on PostgreSQL this locks the endpoint's row, so two reports of one endpoint apply one after the other
    await trx.updateTable("endpoints").set({ inventory_at: now }).where("id", "=", endpointId).execute();
    const oldItems = new Map(
      (
        await trx
          .selectFrom("inventory_items")
          .select(["item_key", "first_seen"])
          .where("endpoint_id", "=", endpointId)
          .execute()
      ).map((r) => [r.item_key, Number(r.first_seen)]),
    );
    const oldFindings = new Map(
      (
        await trx
          .selectFrom("inventory_findings")
          .select(["finding_key", "first_seen"])
          .where("endpoint_id", "=", endpointId)
          .execute()
      ).map((r) => [r.finding_key, Number(r.first_seen)]),
    );
    await trx.deleteFrom("inventory_items").where("endpoint_id", "=", endpointId).execute();
    await trx.deleteFrom("inventory_findings").where("endpoint_id", "=", endpointId).execute();
    const rows: InventoryItemsTable[] = report.items.map((it, i) => ({
      endpoint_id: endpointId,
      item_key: keys[i]!,
      name: it.name,
      version: it.version ?? null,
      vendor: it.vendor ?? null,
      source: it.source,
      installed_at: it.installedAt ?? null,
      install_path: keepPath ? (it.installPath ?? null) : null,
      first_seen: oldItems.get(keys[i]!) ?? now,
      last_seen: now,
    }));
    for (let i = 0; i < rows.length; i += CHUNK)
      await trx
        .insertInto("inventory_items")
        .values(rows.slice(i, i + CHUNK))
        .execute();
    const frows: InventoryFindingsTable[] = [...findingKeys].map(([k, f]) => ({
      endpoint_id: endpointId,
      finding_key: k,
      status: f.status,
      pack_id: f.packId,
      pack_version: f.packVersion,
      vendor: f.vendor,
      subject: f.subject,
      evidence: JSON.stringify(f.evidence),
      in_force_since: f.inForceSince ?? null,
      first_seen: oldFindings.get(k) ?? now,
      last_seen: now,
    }));
    for (let i = 0; i < frows.length; i += CHUNK)
      await trx
        .insertInto("inventory_findings")
        .values(frows.slice(i, i + CHUNK))
        .execute();
  });
  ctx.log.info({ endpoint: endpointId, items: report.items.length, findings: findingKeys.size }, "inventory received");
  return { items: report.items.length, findings: findingKeys.size };
}

export interface InventoryItemInfo {
  endpointId: string;
  hostname: string | null;
  name: string;
  version: string | null;
  vendor: string | null;
  source: string;
  installedAt: string | null;
  installPath: string | null;
  firstSeen: number;
  lastSeen: number;
}

export interface InventoryQuery {
  /** Part of the software name (case-insensitive). */
  q?: string | undefined;
  /** Part of the vendor (case-insensitive). */
  vendor?: string | undefined;
  source?: string | undefined;
  endpointId?: string | undefined;
  limit?: number | undefined;
  offset?: number | undefined;
}

const clampLimit = (n: number | undefined, def = 100) => Math.min(Math.max(n ?? def, 1), 5000);

function inventoryWhere(db: Kysely<Database>, q: InventoryQuery) {
  let base = db
    .selectFrom("inventory_items as i")
    .innerJoin("endpoints as e", "e.id", "i.endpoint_id")
    .where("e.revoked_at", "is", null);
  if (q.q) base = base.where(sql<boolean>`lower(i.name) like ${containsPattern(q.q)} escape '\\'`);
  if (q.vendor) base = base.where(sql<boolean>`lower(i.vendor) like ${containsPattern(q.vendor)} escape '\\'`);
  if (q.source) base = base.where("i.source", "=", q.source);
  if (q.endpointId) base = base.where("i.endpoint_id", "=", q.endpointId);
  return base;
}

/** The items a query selects in `searchInventory` order, without paging (exports stream it). */
export function inventoryOrdered(db: Kysely<Database>, q: InventoryQuery = {}) {
  return inventoryWhere(db, q)
    .selectAll("i")
    .select("e.hostname")
    .orderBy("i.name")
    .orderBy("e.hostname")
    .orderBy("i.endpoint_id")
    .orderBy("i.item_key");
}

/** An inventory_items row (with the endpoint's hostname) as the API shows it. */
export function inventoryItemInfo(r: Database["inventory_items"] & { hostname: string | null }): InventoryItemInfo {
  return {
    endpointId: r.endpoint_id,
    hostname: r.hostname,
    name: r.name,
    version: r.version,
    vendor: r.vendor,
    source: r.source,
    installedAt: r.installed_at,
    installPath: r.install_path,
    firstSeen: Number(r.first_seen),
    lastSeen: Number(r.last_seen),
  };
}

/** Items across the fleet (revoked endpoints left out), by name then endpoint. */
export async function searchInventory(
  ctx: ServerContext,
  q: InventoryQuery = {},
): Promise<{ items: InventoryItemInfo[]; total: number }> {
  const total = await countRows(inventoryWhere(ctx.store.db, q));
  const rows = await inventoryOrdered(ctx.store.db, q)
    .limit(clampLimit(q.limit))
    .offset(Math.max(q.offset ?? 0, 0))
    .execute();
  return { total, items: rows.map(inventoryItemInfo) };
}

export interface SoftwareInfo {
  name: string;
  source: string;
  vendor: string | null;
  endpoints: number;
  versions: number;
}

/** Software matching a name or vendor, one row per name and source, with how many endpoints run it. */
export async function searchSoftware(
  ctx: ServerContext,
  q: Pick<InventoryQuery, "q" | "vendor" | "source">,
  limit = 50,
): Promise<SoftwareInfo[]> {
  let base = ctx.store.db
    .selectFrom("inventory_items as i")
    .innerJoin("endpoints as e", "e.id", "i.endpoint_id")
    .where("e.revoked_at", "is", null);
  if (q.q) base = base.where(sql<boolean>`lower(i.name) like ${containsPattern(q.q)} escape '\\'`);
  if (q.vendor) base = base.where(sql<boolean>`lower(i.vendor) like ${containsPattern(q.vendor)} escape '\\'`);
  if (q.source) base = base.where("i.source", "=", q.source);
  const rows = await base
    .select([
      "i.name",
      "i.source",
      sql<string | null>`max(i.vendor)`.as("vendor"),
      sql<number>`count(distinct i.endpoint_id)`.as("endpoints"),
      sql<number>`count(distinct i.version)`.as("versions"),
    ])
    .groupBy(["i.name", "i.source"])
    .orderBy(sql`count(distinct i.endpoint_id)`, "desc")
    .orderBy("i.name")
    .orderBy("i.source")
    .limit(Math.min(Math.max(limit, 1), 1000))
    .execute();
  return rows.map((r) => ({
    name: r.name,
    source: r.source,
    vendor: r.vendor,
    endpoints: Number(r.endpoints),
    versions: Number(r.versions),
  }));
}

export interface InventoryFindingInfo {
  endpointId: string;
  hostname: string | null;
  status: "forbidden" | "upcoming";
  packId: string;
  packVersion: number;
  vendor: string;
  subject: string;
  evidence: string[];
  inForceSince: string | null;
  firstSeen: number;
  lastSeen: number;
}

export interface FindingQuery {
  endpointId?: string | undefined;
  status?: "forbidden" | "upcoming" | undefined;
  packId?: string | undefined;
  /** Part of the subject or vendor (case-insensitive). */
  q?: string | undefined;
  limit?: number | undefined;
  offset?: number | undefined;
}

function evidenceOf(text: string): string[] {
  try {
    const v = JSON.parse(text) as unknown;
    return Array.isArray(v) ? v.map(String) : [];
  } catch {
    return [];
  }
}

function findingsWhere(db: Kysely<Database>, q: FindingQuery) {
  let base = db
    .selectFrom("inventory_findings as f")
    .innerJoin("endpoints as e", "e.id", "f.endpoint_id")
    .where("e.revoked_at", "is", null);
  if (q.endpointId) base = base.where("f.endpoint_id", "=", q.endpointId);
  if (q.status) base = base.where("f.status", "=", q.status);
  if (q.packId) base = base.where("f.pack_id", "=", q.packId);
  if (q.q) {
    const p = containsPattern(q.q);
    base = base.where(sql<boolean>`(lower(f.subject) like ${p} escape '\\' or lower(f.vendor) like ${p} escape '\\')`);
  }
  return base;
}

/** The findings a query selects in `listInventoryFindings` order, without paging (exports stream it). */
export function findingsOrdered(db: Kysely<Database>, q: FindingQuery = {}) {
  return findingsWhere(db, q)
    .selectAll("f")
    .select("e.hostname")
    .orderBy(sql`case when f.status = 'forbidden' then 0 else 1 end`)
    .orderBy("f.first_seen", "desc")
    .orderBy("e.hostname")
    .orderBy("f.endpoint_id")
    .orderBy("f.finding_key");
}

/** Findings across the fleet (revoked endpoints left out): forbidden first, newest first. */
export async function listInventoryFindings(
  ctx: ServerContext,
  q: FindingQuery = {},
): Promise<{ findings: InventoryFindingInfo[]; total: number }> {
  const total = await countRows(findingsWhere(ctx.store.db, q));
  const rows = await findingsOrdered(ctx.store.db, q)
    .limit(clampLimit(q.limit))
    .offset(Math.max(q.offset ?? 0, 0))
    .execute();
  return { total, findings: rows.map(findingInfo) };
}

/** An inventory_findings row (with the endpoint's hostname) as the API shows it. */
export function findingInfo(r: Database["inventory_findings"] & { hostname: string | null }): InventoryFindingInfo {
  return {
    endpointId: r.endpoint_id,
    hostname: r.hostname,
    status: r.status,
    packId: r.pack_id,
    packVersion: Number(r.pack_version),
    vendor: r.vendor,
    subject: r.subject,
    evidence: evidenceOf(r.evidence),
    inForceSince: r.in_force_since,
    firstSeen: Number(r.first_seen),
    lastSeen: Number(r.last_seen),
  };
}

export interface EndpointInventory {
  /** When the latest report arrived (null: never). */
  receivedAt: number | null;
  items: number;
  bySource: Array<{ source: string; items: number }>;
  forbidden: number;
  upcoming: number;
}

/** One endpoint's inventory in numbers (the findings themselves: listInventoryFindings). */
export async function endpointInventory(ctx: ServerContext, endpointId: string): Promise<EndpointInventory> {
  const db = ctx.store.db;
  const [ep, sources, statuses] = await Promise.all([
    db.selectFrom("endpoints").select("inventory_at").where("id", "=", endpointId).executeTakeFirst(),
    db
      .selectFrom("inventory_items")
      .select(["source", sql<number>`count(*)`.as("n")])
      .where("endpoint_id", "=", endpointId)
      .groupBy("source")
      .orderBy("source")
      .execute(),
    db
      .selectFrom("inventory_findings")
      .select(["status", sql<number>`count(*)`.as("n")])
      .where("endpoint_id", "=", endpointId)
      .groupBy("status")
      .execute(),
  ]);
  const bySource = sources.map((r) => ({ source: r.source, items: Number(r.n) }));
  const st = new Map(statuses.map((r) => [r.status, Number(r.n)]));
  return {
    receivedAt: ep?.inventory_at == null ? null : Number(ep.inventory_at),
    items: bySource.reduce((a, b) => a + b.items, 0),
    bySource,
    forbidden: st.get("forbidden") ?? 0,
    upcoming: st.get("upcoming") ?? 0,
  };
}

/** Fleet totals for the console's inventory page. */
export async function fleetInventoryCounts(
  ctx: ServerContext,
): Promise<{ endpoints: number; reporting: number; forbiddenEndpoints: number; upcomingEndpoints: number }> {
  const db = ctx.store.db;
  const live = db.selectFrom("endpoints").where("revoked_at", "is", null);
  const [all, reporting, byStatus] = await Promise.all([
    live.select(sql<number>`count(*)`.as("n")).executeTakeFirst(),
    live.where("inventory_at", "is not", null).select(sql<number>`count(*)`.as("n")).executeTakeFirst(),
    db
      .selectFrom("inventory_findings as f")
      .innerJoin("endpoints as e", "e.id", "f.endpoint_id")
      .where("e.revoked_at", "is", null)
      .select(["f.status", sql<number>`count(distinct f.endpoint_id)`.as("n")])
      .groupBy("f.status")
      .execute(),
  ]);
  const st = new Map(byStatus.map((r) => [r.status, Number(r.n)]));
  return {
    endpoints: Number(all?.n ?? 0),
    reporting: Number(reporting?.n ?? 0),
    forbiddenEndpoints: st.get("forbidden") ?? 0,
    upcomingEndpoints: st.get("upcoming") ?? 0,
  };
}
