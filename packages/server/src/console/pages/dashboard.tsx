/** @jsxImportSource hono/jsx */
/**
 * The dashboard: fleet status counts, the 30-day "endpoints online" heat-map, detections per day
 * by severity, top rules and endpoints, rules freshness, and the activity feed. The fleet counts
 * and the feed are polled by htmx (see polled.ts); everything is in the HTML without JavaScript.
 */
import type { FC } from "hono/jsx";
import {
  SEVERITIES,
  STALE_AFTER_HEARTBEATS,
  STATUSES,
  type ActivityItem,
  type DailySeverity,
  type EndpointInfo,
  type FleetCounts,
  type Freshness,
  type HeatMap,
  type Severity,
  type TopEndpoint,
  type TopRule,
} from "../../services/index.js";
import { DAY_MS } from "../../time.js";
import { count, isoDay, plural } from "../format.js";
import {
  Ago,
  BASE,
  ChartTable,
  DetectionName,
  Empty,
  EndpointLink,
  SeverityBadge,
  StatusBadge,
  Time,
} from "../layout.js";

export const SEVERITY_COLOURS: Record<Severity, string> = {
  low: "#6b7a8f",
  medium: "#c48a00",
  high: "#d9591b",
  critical: "#b3152b",
};

export const FleetCards: FC<{ counts: FleetCounts; heartbeatSeconds: number }> = ({ counts, heartbeatSeconds }) => (
  <>
    <ul class="cards">
      {STATUSES.map((s) => (
        <li class={`card st-card-${s}`}>
          <a href={`${BASE}/endpoints?status=${s}`}>
            <span class="big">{count(counts[s])}</span>
            <StatusBadge status={s} />
          </a>
        </li>
      ))}
    </ul>
    <p class="muted small">
      {plural(counts.total, "endpoint")} enrolled. Online: heard from within {STALE_AFTER_HEARTBEATS * heartbeatSeconds}{" "}
      s ({STALE_AFTER_HEARTBEATS} heartbeats); stale: within 24 h; offline: longer ago; never seen: enrolled but no
      heartbeat yet.
    </p>
  </>
);

/** Not polled: heartbeats would change it every few seconds and a live region would chatter. */
export const CheckInsTable: FC<{ checkIns: EndpointInfo[]; now: number }> = ({ checkIns, now }) => (
  <>
    {checkIns.length ? (
      <table class="compact">
        <caption>Latest check-ins (when the page was loaded)</caption>
        <thead>
          <tr>
            <th scope="col">Endpoint</th>
            <th scope="col">Status</th>
            <th scope="col">Last heartbeat</th>
            <th scope="col">Agent</th>
          </tr>
        </thead>
        <tbody>
          {checkIns.map((e) => (
            <tr>
              <th scope="row">
                <EndpointLink id={e.id} hostname={e.hostname} />
              </th>
              <td>
                <StatusBadge status={e.status} />
              </td>
              <td>
                <Ago ms={e.lastSeen} now={now} />
              </td>
              <td class="mono">{e.agentVersion ?? "–"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    ) : null}
  </>
);

export const HeatMapGrid: FC<{ map: HeatMap }> = ({ map }) => {
  const dayMs = (d: number) => (map.startHour + d * 24) * 3_600_000;
  const level = (n: number) => (n === 0 ? 0 : Math.max(1, Math.ceil((n / Math.max(1, map.max)) * 4)));
  let peak = { n: 0, d: 0, h: 0 };
  map.counts.forEach((row, d) =>
    row.forEach((n, h) => {
      if (n > peak.n) peak = { n, d, h };
    }),
  );
  const hoursWithAny = map.counts.flat().filter((n) => n > 0).length;
  return (
    <figure class="heatmap" aria-labelledby="heat-cap">
      <figcaption id="heat-cap">
        Endpoints online per hour, last {map.days} days (UTC). Darker is more.{" "}
        {peak.n > 0
          ? `Peak: ${plural(peak.n, "endpoint")} on ${isoDay(dayMs(peak.d))} at ${String(peak.h).padStart(2, "0")}:00; ${hoursWithAny} of ${map.days * 24} hours had at least one endpoint online.`
          : "No endpoint was heard from in this period."}
      </figcaption>
      <div class="scroll">
        <table class="heat">
          <thead>
            <tr>
              <th scope="col">
                <span class="sr-only">Hour (UTC)</span>
              </th>
              {map.counts.map((_, d) => {
                const day = new Date(dayMs(d));
                return (
                  <th scope="col" title={isoDay(dayMs(d))}>
                    <span aria-hidden="true">{d % 5 === 0 || d === map.days - 1 ? String(day.getUTCDate()) : ""}</span>
                    <span class="sr-only">{isoDay(dayMs(d))}</span>
                  </th>
                );
              })}
            </tr>
          </thead>
          <tbody>
            {Array.from({ length: 24 }, (_, h) => (
              <tr>
                <th scope="row">
                  {h % 3 === 0 ? (
                    `${String(h).padStart(2, "0")}h`
                  ) : (
                    <span class="sr-only">{`${String(h).padStart(2, "0")}h`}</span>
                  )}
                </th>
                {map.counts.map((row, d) => (
                  <td class={`l${level(row[h]!)}`}>
                    <span class="sr-only">{row[h]}</span>
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p class="legend small" aria-hidden="true">
        Fewer <span class="swatch l0"></span>
        <span class="swatch l1"></span>
        <span class="swatch l2"></span>
        <span class="swatch l3"></span>
        <span class="swatch l4"></span> more (max {map.max})
      </p>
    </figure>
  );
};

export const DetectionsChart: FC<{ data: DailySeverity; id?: string }> = ({ data, id }) => (
  <ChartTable
    id={id ?? "det-per-day"}
    kind="stacked-bar"
    caption={`Detections per day by severity, last ${data.days.length} days (UTC), ${count(data.total)} in total`}
    rowHeader="Day"
    labels={data.days.map((d) => isoDay(d * DAY_MS))}
    series={SEVERITIES.map((s) => ({ name: s, values: data.counts[s], colour: SEVERITY_COLOURS[s] }))}
  />
);

export const TopRulesTable: FC<{ rows: TopRule[]; now: number }> = ({ rows, now }) => {
  if (!rows.length) return <Empty>No detections in the last 30 days.</Empty>;
  const max = rows[0]!.count;
  return (
    <table>
      <caption class="sr-only">Top rules, last 30 days</caption>
      <thead>
        <tr>
          <th scope="col">Detection</th>
          <th scope="col">Severity</th>
          <th scope="col" class="num">
            Detections
          </th>
          <th scope="col" class="num">
            Endpoints
          </th>
          <th scope="col">Last</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr>
            <th scope="row">
              <DetectionName name={r.name} rule={r.rule} />
            </th>
            <td>
              <SeverityBadge severity={r.severity} />
            </td>
            <td class="num">
              <meter min={0} max={max} value={r.count} aria-hidden="true"></meter> {count(r.count)}
            </td>
            <td class="num">{count(r.endpoints)}</td>
            <td>
              <Ago ms={r.lastSeen} now={now} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
};

export const TopEndpointsTable: FC<{ rows: TopEndpoint[]; now: number }> = ({ rows, now }) => {
  if (!rows.length) return <Empty>No detections in the last 30 days.</Empty>;
  const max = rows[0]!.count;
  return (
    <table>
      <caption class="sr-only">Endpoints with the most detections, last 30 days</caption>
      <thead>
        <tr>
          <th scope="col">Endpoint</th>
          <th scope="col">Worst</th>
          <th scope="col" class="num">
            Detections
          </th>
          <th scope="col" class="num">
            Rules
          </th>
          <th scope="col">Last</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr>
            <th scope="row">
              <EndpointLink id={r.id} hostname={r.hostname} />
            </th>
            <td>
              <SeverityBadge severity={r.severity} />
            </td>
            <td class="num">
              <meter min={0} max={max} value={r.count} aria-hidden="true"></meter> {count(r.count)}
            </td>
            <td class="num">{count(r.rules)}</td>
            <td>
              <Ago ms={r.lastSeen} now={now} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
};

export const FreshnessCard: FC<{ f: Freshness; now: number; logSize: number | null }> = ({ f, now, logSize }) => (
  <>
    <p>
      {f.newest === null ? (
        "No endpoint has reported a rules version yet."
      ) : (
        <>
          Newest rules version reported: <strong class="mono">{f.newest}</strong>.{" "}
        </>
      )}
      {f.considered > 0 ? `${count(f.current)} of ${plural(f.considered, "active endpoint")} up to date` : null}
      {logSize !== null ? `; the update log has ${plural(logSize, "entry", "entries")}` : null}.
    </p>
    {f.flaggedTotal ? (
      <ul class="reasons">
        {f.reasons.outdated ? (
          <li>
            <strong>{count(f.reasons.outdated)}</strong> on older rules
          </li>
        ) : null}
        {f.reasons.noRules ? (
          <li>
            <strong>{count(f.reasons.noRules)}</strong> without rules
          </li>
        ) : null}
        {f.reasons.noCheckpoint ? (
          <li>
            <strong>{count(f.reasons.noCheckpoint)}</strong> never verified a checkpoint
          </li>
        ) : null}
        {f.reasons.oldCheckpoint ? (
          <li>
            <strong>{count(f.reasons.oldCheckpoint)}</strong> with a checkpoint older than {f.maxCheckpointAgeDays} days
          </li>
        ) : null}
        {f.reasons.behindLog ? (
          <li>
            <strong>{count(f.reasons.behindLog)}</strong> behind the update log
          </li>
        ) : null}
      </ul>
    ) : null}
    {f.flagged.length ? (
      <table class="compact">
        <caption>
          Flagged endpoints
          {f.flaggedTotal > f.flagged.length
            ? ` (the ${f.flagged.length} heard from most recently, of ${count(f.flaggedTotal)})`
            : ""}
        </caption>
        <thead>
          <tr>
            <th scope="col">Endpoint</th>
            <th scope="col">Rules</th>
            <th scope="col">Checkpoint</th>
            <th scope="col">Why</th>
          </tr>
        </thead>
        <tbody>
          {f.flagged.map((r) => (
            <tr>
              <th scope="row">
                <EndpointLink id={r.id} hostname={r.hostname} />
              </th>
              <td class="mono">{r.rulesVersion ?? "none"}</td>
              <td>
                {r.checkpoint === null ? (
                  "none"
                ) : (
                  <>
                    size {r.checkpoint.size}, <Ago ms={r.checkpoint.at} now={now} />
                  </>
                )}
              </td>
              <td>
                <span class="flag">{r.reasons.join(", ")}</span>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    ) : f.considered > 0 ? (
      <p class="ok">Every active endpoint runs the newest rules with a recently verified checkpoint.</p>
    ) : null}
  </>
);

export function describeAudit(a: Extract<ActivityItem, { kind: "audit" }>): string {
  const who = a.username ?? "someone";
  return `${who}: ${a.action}${a.target ? ` ${a.target}` : ""}`;
}

export const ActivityList: FC<{ items: ActivityItem[]; now: number }> = ({ items, now }) =>
  items.length === 0 ? (
    <Empty>Nothing yet.</Empty>
  ) : (
    <ol class="feed">
      {items.map((i) =>
        i.kind === "audit" ? (
          <li class="audit">
            <Time ms={i.time} now={now} precise /> <span class="kind">audit</span>{" "}
            <strong>{i.username ?? "(unknown user)"}</strong> <span class="mono">{i.action}</span>
            {i.target ? (
              <>
                {" "}
                on <span class="mono">{i.target}</span>
              </>
            ) : null}
            {i.ip ? <span class="muted"> from {i.ip}</span> : null}
          </li>
        ) : (
          <li class="det">
            <Time ms={i.time} now={now} precise /> <span class="kind">detection</span>{" "}
            <SeverityBadge severity={i.severity} /> <DetectionName name={i.name} rule={i.rule} /> on{" "}
            <EndpointLink id={i.endpointId} hostname={i.hostname} /> <span class="muted">({i.action})</span>
          </li>
        ),
      )}
    </ol>
  );
