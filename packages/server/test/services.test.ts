/**
 * The services are the server's one read layer: the endpoint status rule exists once, as a
 * function of a row (each endpoint's `status`) and as an SQL condition (status filters and the
 * fleet counts), and the two must agree at every boundary, under a short and a long heartbeat,
 * on both databases.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI_ACTOR, type ServerContext } from "../src/context.js";
import type { Dialect } from "../src/db/connect.js";
import { openServerContext } from "../src/server.js";
import * as svc from "../src/services/index.js";
import { createTestDatabase, dialects, type TestDatabase } from "@vigil/test-kit/server";

const NOW = Date.UTC(2026, 2, 1, 12, 0, 0);
const MIN = 60_000;
const HOUR = 60 * MIN;

describe.each(await dialects())("one endpoint status rule (%s)", (dialect: Dialect) => {
  let ctx: ServerContext;
  let dataDir: string;
  let pgdb: TestDatabase | undefined;
  /** hostname -> last_seen offset before NOW (null: never), or "revoked". */
  const seen: Record<string, number | null | "revoked"> = {
    "just-now": 0,
    "online-edge": 10 * MIN, // 2 heartbeats of 300 s, exactly
    "past-online": 10 * MIN + 1,
    "day-edge": 24 * HOUR,
    "past-day": 24 * HOUR + 1,
    "half-day": 12 * HOUR,
    "long-ago": 30 * 24 * HOUR,
    never: null,
    revoked: "revoked",
  };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "vigil-services-test-"));
    pgdb = dialect === "postgres" ? await createTestDatabase() : undefined;
    ctx = await openServerContext({ dataDir, database: pgdb?.url, logLevel: "silent", now: () => NOW });
    for (const [hostname, ago] of Object.entries(seen)) {
      await ctx.store.db
        .insertInto("endpoints")
        .values({
          id: randomUUID(),
          key_hash: randomBytes(32).toString("hex"),
          hostname,
          os: null,
          agent_version: "0.1.0",
          rules_version: null,
          checkpoint_origin: null,
          checkpoint_size: null,
          checkpoint_root: null,
          checkpoint_at: null,
          ledger_entries: null,
          ledger_head: null,
          enrolled_at: NOW - 40 * 24 * HOUR,
          enrolled_with: null,
          last_seen: ago === null ? null : ago === "revoked" ? NOW - MIN : NOW - ago,
          revoked_at: ago === "revoked" ? NOW - HOUR : null,
          revoked_by: ago === "revoked" ? "admin" : null,
        })
        .execute();
    }
  });

  afterAll(async () => {
    await ctx?.store.close();
    await pgdb?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Each endpoint's status, checked against the status filter and the fleet counts. */
  async function statuses(): Promise<Record<string, svc.EndpointStatus>> {
    const all = await svc.listEndpoints(ctx, { includeRevoked: true });
    expect(all).toHaveLength(Object.keys(seen).length);
    const counts = await svc.fleetCounts(ctx);
    expect(counts.total).toBe(all.length);
    for (const s of svc.STATUSES) {
      const byRow = all
        .filter((e) => e.status === s)
        .map((e) => e.hostname)
        .sort();
      const bySql = (await svc.listEndpoints(ctx, { status: s })).map((e) => e.hostname).sort();
      expect(bySql, `status filter ${s}`).toEqual(byRow);
      expect(await svc.countEndpoints(ctx, { status: s }), `count ${s}`).toBe(byRow.length);
      expect(counts[s], `fleet count ${s}`).toBe(byRow.length);
    }
    return Object.fromEntries(all.map((e) => [e.hostname!, e.status]));
  }

  it("agrees at the boundaries with a 300 s heartbeat", async () => {
    expect(await statuses()).toEqual({
      "just-now": "online",
      "online-edge": "online",
      "past-online": "stale",
      "half-day": "stale",
      "day-edge": "stale",
      "past-day": "offline",
      "long-ago": "offline",
      never: "never",
      revoked: "revoked",
    });
    // without a status filter revoked endpoints are left out unless asked for
    expect((await svc.listEndpoints(ctx)).map((e) => e.hostname)).not.toContain("revoked");
    expect(await svc.countEndpoints(ctx)).toBe(Object.keys(seen).length - 1);
  });

  it("agrees when the heartbeat is long enough for online to cover more than a day", async () => {
    const p = await svc.getPolicy(ctx);
    await svc.updatePolicy(ctx, { ...p, heartbeatSeconds: 13 * 3600 }, CLI_ACTOR);
    expect(await statuses()).toEqual({
      "just-now": "online",
      "online-edge": "online",
      "past-online": "online",
      "half-day": "online",
      "day-edge": "online",
      "past-day": "online",
      "long-ago": "offline",
      never: "never",
      revoked: "revoked",
    });
  });
});
