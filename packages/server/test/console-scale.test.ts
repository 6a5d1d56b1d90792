/**
 * How long the console's heaviest pages take on a large fleet: 10,000 endpoints, 30 days of
 * hourly presence for 2,000 of them (1.44 M rows), 100,000 detections. Opt-in (it seeds for a
 * minute or two): VIGIL_CONSOLE_SCALE=1 npx vitest run packages/server/test/console-scale.test.ts
 * (add VIGIL_CONSOLE_SCALE_PG=1 for PostgreSQL too). Prints the median of 5 renders per page and
 * asserts each stays under 5 s.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createApp } from "../src/app.js";
import type { Dialect } from "../src/db/connect.js";
import { openServerContext } from "../src/server.js";
import { createTestDatabase } from "@vigil/test-kit/server";

const enabled = process.env.VIGIL_CONSOLE_SCALE === "1";
if (!enabled) console.warn("console scale test skipped: set VIGIL_CONSOLE_SCALE=1 to run it (seeds 1.5 M rows)");
const dialects: Dialect[] = process.env.VIGIL_CONSOLE_SCALE_PG === "1" ? ["sqlite", "postgres"] : ["sqlite"];

describe.skipIf(!enabled).each(dialects)("console at scale on %s", (dialect) => {
  it("renders the dashboard, endpoint list, detections and health within seconds", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "vigil-console-scale-"));
    const pgdb = dialect === "postgres" ? await createTestDatabase() : undefined;
    const now = Date.now();
    const HOUR = 3_600_000;
    const ctx = await openServerContext({
      dataDir,
      database: pgdb?.url,
      logLevel: "silent",
      initialAdmin: { username: "admin", password: "scale-admin-pw-1" },
    });
    try {
      const db = ctx.store.db;
      const t0 = performance.now();
      const ids: string[] = [];
      const insert = async <T>(table: "endpoints" | "endpoint_presence" | "detections", rows: T[], batch: number) => {
        for (let i = 0; i < rows.length; i += batch)
          await db
            .insertInto(table)
            .values(rows.slice(i, i + batch) as never)
            .execute();
      };
      const eps = Array.from({ length: 10_000 }, (_, i) => {
        const id = randomUUID();
        ids.push(id);
        return {
          id,
          key_hash: randomBytes(16).toString("hex") + i,
          hostname: `host-${i}`,
          os: null,
          agent_version: "0.1.0",
          rules_version: `rules-${i % 3}`,
          checkpoint_origin: "log",
          checkpoint_size: i % 50,
          checkpoint_root: "x",
          checkpoint_at: now - (i % 10) * 24 * HOUR,
          ledger_entries: i,
          ledger_head: "h",
          enrolled_at: now - 40 * 24 * HOUR,
          enrolled_with: null,
          last_seen: i % 7 ? now - (i % 4000) * 60_000 : null,
          revoked_at: null,
          revoked_by: null,
        };
      });
      await insert("endpoints", eps, 1000);
      const nowHour = Math.floor(now / HOUR);
      for (let e = 0; e < 2000; e++) {
        const rows = [];
        for (let h = nowHour - 719; h <= nowHour; h++) rows.push({ endpoint_id: ids[e]!, hour: h });
        await insert("endpoint_presence", rows, 720);
      }
      const sev = ["low", "medium", "high", "critical"];
      const dets = Array.from({ length: 100_000 }, (_, i) => {
        const sha = randomBytes(32).toString("hex");
        return {
          id: randomUUID(),
          endpoint_id: ids[i % 10_000]!,
          client_id: String(i),
          time: now - (i % 30) * 24 * HOUR - (i % 24) * HOUR,
          received_at: now,
          rule: `Rule_${i % 40}`,
          severity: sev[i % 4],
          bundle_version: null,
          sha256: sha,
          sha256_prefix: parseInt(sha.slice(0, 5), 16),
          size: 1,
          file_type: null,
          action: "reported",
          path: null,
        };
      });
      await insert("detections", dets, 1000);
      console.log(
        `${dialect}: seeded 10,000 endpoints, 1,440,000 presence rows, 100,000 detections in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );

      const svc = await import("../src/services/index.js");
      const th = svc.thresholds(300, now);
      for (const [name, f] of [
        ["fleetCounts", () => svc.fleetCounts(ctx, th)],
        ["heat", () => svc.presenceHeatMap(ctx)],
        ["perDay", () => svc.detectionsPerDay(ctx)],
        ["topRules", () => svc.topRules(ctx, now - 30 * 24 * HOUR)],
        ["topEndpoints", () => svc.topEndpoints(ctx, now - 30 * 24 * HOUR)],
        ["fresh", () => svc.rulesFreshness(ctx, { maxCheckpointAgeDays: 3, limit: 10, logSize: 40 }, th)],
        ["feed", () => svc.activityFeed(ctx)],
        ["checkins", () => svc.listEndpoints(ctx, { limit: 5 }, th)],
        ["tableCounts", () => svc.tableCounts(ctx)],
      ] as const) {
        const t = performance.now();
        await (f as () => Promise<unknown>)();
        console.log(`${dialect}: query ${name} ${(performance.now() - t).toFixed(0)} ms`);
      }
      const app = createApp(ctx);
      const login = await app.request("/console/login", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "username=admin&password=scale-admin-pw-1",
      });
      const cookie = /vigil_session=[^;]+/.exec(login.headers.get("set-cookie") ?? "")![0];
      for (const path of [
        "/console/",
        "/console/endpoints?status=stale",
        "/console/detections?severity=critical",
        "/console/health",
        "/console/hashes?q=abcde",
      ]) {
        const times: number[] = [];
        for (let i = 0; i < 5; i++) {
          const t = performance.now();
          const r = await app.request(path, { headers: { cookie } });
          expect(r.status, path).toBe(200);
          await r.text();
          times.push(performance.now() - t);
        }
        times.sort((a, b) => a - b);
        console.log(
          `${dialect}: ${path} median ${times[2]!.toFixed(0)} ms (min ${times[0]!.toFixed(0)}, max ${times[4]!.toFixed(0)})`,
        );
        expect(times[2]).toBeLessThan(5000);
      }
    } finally {
      await ctx.store.close();
      await pgdb?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 900_000);
});
