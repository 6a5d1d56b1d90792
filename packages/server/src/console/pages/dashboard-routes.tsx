/** @jsxImportSource hono/jsx */
/** Routes of the dashboard (`/console/`) and its polled fragments (fleet counts, activity feed). */
import type { Context, Hono } from "hono";
import type { AppEnv, ServerContext } from "../../context.js";
import {
  activityFeed,
  detectionsPerDay,
  fleetCounts,
  listEndpoints,
  presenceHeatMap,
  rulesFreshness,
  statusThresholds,
  topEndpoints,
  topRules,
} from "../../services/index.js";
import { DAY_MS } from "../../time.js";
import { BASE, Page } from "../layout.js";
import { LiveRegion, fragment, versionOf } from "../polled.js";
import { latestCheckpoint } from "../update-log.js";
import {
  ActivityList,
  CheckInsTable,
  DetectionsChart,
  FleetCards,
  FreshnessCard,
  HeatMapGrid,
  TopEndpointsTable,
  TopRulesTable,
} from "./dashboard.js";

export function registerDashboard(app: Hono<AppEnv>, ctx: ServerContext): void {
  async function fleet() {
    const t = await statusThresholds(ctx);
    return { counts: await fleetCounts(ctx, t), heartbeatSeconds: t.heartbeatSeconds, t };
  }

  // Mounted at /console, a "/" route answers "/console"; the dashboard's address is "/console/"
  // (the app redirects "/" there), which no sub-app route pattern can name: match it here.
  app.get("/", (c) => c.redirect(`${BASE}/`, 301));
  app.use("*", async (c, next) =>
    c.req.path === `${BASE}/` && (c.req.method === "GET" || c.req.method === "HEAD") ? dashboard(c) : next(),
  );

  async function dashboard(c: Context<AppEnv>) {
    const now = ctx.now();
    const [[f, checkIns], heat, perDay, rules, eps, fresh, feed, cp] = await Promise.all([
      // the latest check-ins: the first of the listing (heard from most recently) that were heard from at all
      fleet().then(
        async (f) => [f, (await listEndpoints(ctx, { limit: 5 }, f.t)).filter((e) => e.lastSeen !== null)] as const,
      ),
      presenceHeatMap(ctx),
      detectionsPerDay(ctx),
      topRules(ctx, now - 30 * DAY_MS),
      topEndpoints(ctx, now - 30 * DAY_MS),
      latestCheckpoint(ctx.config, now).then((cp) =>
        rulesFreshness(ctx, { maxCheckpointAgeDays: 3, limit: 10, logSize: cp ? cp.size : undefined }),
      ),
      activityFeed(ctx),
      latestCheckpoint(ctx.config, now),
    ]);
    return c.html(
      <Page title="Dashboard" user={c.get("user")} csrf={c.get("csrfToken")} active="dashboard" charts>
        <h1>Dashboard</h1>
        <div class="grid two">
          <section aria-labelledby="fleet-h">
            <h2 id="fleet-h">Fleet status</h2>
            <LiveRegion id="fleet" url={`${BASE}/fragments/fleet`} version={versionOf([f.counts, f.heartbeatSeconds])}>
              <FleetCards counts={f.counts} heartbeatSeconds={f.heartbeatSeconds} />
            </LiveRegion>
            <CheckInsTable checkIns={checkIns} now={now} />
          </section>
          <section aria-labelledby="heat-h">
            <h2 id="heat-h">Online, last 30 days</h2>
            <HeatMapGrid map={heat} />
          </section>
        </div>
        <section aria-labelledby="det-h">
          <h2 id="det-h">Detections over time</h2>
          <DetectionsChart data={perDay} />
        </section>
        <div class="grid two">
          <section aria-labelledby="rules-h">
            <h2 id="rules-h">Top rules (30 days)</h2>
            <TopRulesTable rows={rules} now={now} />
          </section>
          <section aria-labelledby="eps-h">
            <h2 id="eps-h">Top endpoints (30 days)</h2>
            <TopEndpointsTable rows={eps} now={now} />
          </section>
        </div>
        <div class="grid two">
          <section aria-labelledby="fresh-h">
            <h2 id="fresh-h">Rules freshness</h2>
            <FreshnessCard f={fresh} now={now} logSize={cp?.size ?? null} />
          </section>
          <section aria-labelledby="feed-h">
            <h2 id="feed-h">Activity</h2>
            <LiveRegion id="activity" url={`${BASE}/fragments/activity`} version={versionOf(feed)}>
              <ActivityList items={feed} now={now} />
            </LiveRegion>
            <p class="small">
              <a href={`${BASE}/activity`}>Full audit log</a> · <a href={`${BASE}/detections`}>All detections</a>
            </p>
          </section>
        </div>
      </Page>,
    );
  }

  app.get("/fragments/fleet", async (c) => {
    const f = await fleet();
    return fragment(c, `${BASE}/fragments/fleet`, [f.counts, f.heartbeatSeconds], () => (
      <FleetCards counts={f.counts} heartbeatSeconds={f.heartbeatSeconds} />
    ));
  });

  app.get("/fragments/activity", async (c) => {
    const feed = await activityFeed(ctx);
    const now = ctx.now();
    return fragment(c, `${BASE}/fragments/activity`, feed, () => <ActivityList items={feed} now={now} />);
  });
}
