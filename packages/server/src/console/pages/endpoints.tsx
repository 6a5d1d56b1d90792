/** @jsxImportSource hono/jsx */
/**
 * Endpoints: the fleet table (status filter, search by hostname or id, paging) and one
 * endpoint's page (overview, checkpoint verification against the update log, ledger summary,
 * detections, scans, inventory, remote actions: pages/actions.tsx) with the admin's revoke action
 * behind a confirmation page.
 */
import type { Hono } from "hono";
import type { FC } from "hono/jsx";
import { actorOf, requireRole } from "../../auth/session.js";
import type { AppEnv, ServerContext } from "../../context.js";
import {
  countDetections,
  countEndpoints,
  detectionCountsByEndpoint,
  detectionsPerDay,
  endpointPresenceHours,
  getEndpoint,
  getPolicy,
  listDetections,
  listEndpoints,
  listScans,
  revokeEndpoint,
  statusThresholds,
  STATUSES,
  type EndpointInfo,
  endpointPolicy,
} from "../../services/index.js";
import { DAY_MS, HOUR_MS } from "../../time.js";
import { bytes, count, intParam, isoMinute, oneOf, textParam } from "../format.js";
import {
  Ago,
  BASE,
  CsrfField,
  Empty,
  EndpointLink,
  Facts,
  ListTable,
  Page,
  Pager,
  StatusBadge,
  Time,
  statusLabel,
} from "../layout.js";
import { verifyEndpointCheckpoint, type CheckpointVerdict } from "../update-log.js";
import { DetectionsChart } from "./dashboard.js";
import { DetectionTable } from "./find.js";
import { EndpointActionsSection, loadEndpointActions } from "./actions.js";
import { EffectivePolicySection } from "./groups.js";
import { EndpointInventorySection, loadEndpointInventory } from "./inventory.js";
import { exportIfAsked } from "../../api/exports.js";
import { ExportLinks } from "../export-links.js";

const PAGE = 50;

/** The agent's OsInfo, shown as "linux 6.1 (x64)". */
export function osText(os: EndpointInfo["os"]): string {
  if (!os) return "–";
  return [os.platform, os.release, os.arch ? `(${String(os.arch)})` : ""].filter(Boolean).map(String).join(" ");
}

const CheckpointState: FC<{ v: CheckpointVerdict }> = ({ v }) => {
  switch (v.state) {
    case "none":
      return <span class="flag">No verified checkpoint reported yet.</span>;
    case "unknown":
      return <span class="muted">Not checked: {v.reason}.</span>;
    case "match":
      return <span class="ok">Verified: matches {v.detail}.</span>;
    case "behind":
      return <span class="warn">Behind: {v.detail}.</span>;
    case "ahead":
      return <span class="warn">Ahead: {v.detail}.</span>;
    case "mismatch":
      return <strong class="bad">Mismatch: {v.detail}.</strong>;
  }
};

export function registerEndpointPages(app: Hono<AppEnv>, ctx: ServerContext): void {
  app.get("/endpoints", async (c) => {
    const t = await statusThresholds(ctx);
    const now = t.now;
    const status = oneOf(c.req.query("status"), STATUSES);
    const q = textParam(c.req.query("q"), 100);
    const page = intParam(c.req.query("page"), 1, 1, 100_000);
    const query = { status, q, includeRevoked: true, limit: PAGE, offset: (page - 1) * PAGE };
    const exp = await exportIfAsked(ctx, c, { list: "endpoints", query });
    if (exp) return exp;
    const [rows, total] = await Promise.all([listEndpoints(ctx, query, t), countEndpoints(ctx, query, t)]);
    const detections30d = await detectionCountsByEndpoint(
      ctx,
      rows.map((e) => e.id),
      now - 30 * DAY_MS,
    );
    return c.html(
      <Page title="Endpoints" user={c.get("user")} csrf={c.get("csrfToken")} active="endpoints">
        <h1>Endpoints</h1>
        <form class="filters" method="get" action={`${BASE}/endpoints`} role="search">
          <p>
            <label for="f-status">Status</label>
            <select id="f-status" name="status">
              <option value="">Any</option>
              {STATUSES.map((s) => (
                <option value={s} selected={status === s}>
                  {statusLabel(s)}
                </option>
              ))}
            </select>
          </p>
          <p>
            <label for="f-q">Hostname or id</label>
            <input id="f-q" name="q" type="search" value={q ?? ""} maxlength={100} />
          </p>
          <p>
            <button type="submit">Filter</button> {status || q ? <a href={`${BASE}/endpoints`}>Clear</a> : null}
          </p>
        </form>
        {rows.length === 0 ? (
          <Empty>No endpoints{status || q ? " match these filters" : " are enrolled yet"}.</Empty>
        ) : (
          <ListTable
            caption={
              <>
                Endpoints{status ? `, status ${statusLabel(status)}` : ""}
                {q ? `, matching ${q}` : ""}
              </>
            }
            hiddenCaption
            columns={[
              "Endpoint",
              "Status",
              "Last seen",
              "OS",
              "Agent",
              "Rules",
              { num: "Checkpoint" },
              { num: "Detections (30 d)" },
            ]}
          >
            {rows.map((e) => (
              <tr>
                <th scope="row">
                  <EndpointLink id={e.id} hostname={e.hostname} />
                  <div class="mono small muted">{e.id.slice(0, 8)}</div>
                </th>
                <td>
                  <StatusBadge status={e.status} />
                </td>
                <td>
                  <Ago ms={e.lastSeen} now={now} />
                </td>
                <td>{osText(e.os)}</td>
                <td class="mono">{e.agentVersion ?? "–"}</td>
                <td class="mono">{e.rulesVersion ?? "–"}</td>
                <td class="num">{e.checkpoint?.size ?? "–"}</td>
                <td class="num">
                  {detections30d.get(e.id) ? (
                    <a href={`${BASE}/detections?endpoint=${e.id}`}>{count(detections30d.get(e.id)!)}</a>
                  ) : (
                    "0"
                  )}
                </td>
              </tr>
            ))}
          </ListTable>
        )}
        <Pager path={`${BASE}/endpoints`} params={{ status, q }} page={page} pageSize={PAGE} total={total} />
        <ExportLinks path={`${BASE}/endpoints`} params={{ status, q }} />
      </Page>,
    );
  });

  async function loadEndpoint(id: string): Promise<{ e: EndpointInfo; now: number }> {
    const t = await statusThresholds(ctx);
    return { e: await getEndpoint(ctx, id, t), now: t.now };
  }

  app.get("/endpoints/:id", async (c) => {
    const { e, now } = await loadEndpoint(c.req.param("id"));
    const [own, detTotal, scans, perDay, hours30, verdict, inventory, policy] = await Promise.all([
      listDetections(ctx, { endpointId: e.id, limit: 50 }),
      countDetections(ctx, { endpointId: e.id }),
      listScans(ctx, { endpointId: e.id, limit: 20 }),
      detectionsPerDay(ctx, 30, e.id),
      endpointPresenceHours(ctx, e.id, Math.floor((now - 30 * DAY_MS) / HOUR_MS)),
      verifyEndpointCheckpoint(ctx.config, e.checkpoint),
      loadEndpointInventory(ctx, e.id),
      endpointPolicy(ctx, e.id),
    ]);
    const [actions, heartbeatSeconds] = await Promise.all([
      loadEndpointActions(ctx, e.id),
      getPolicy(ctx).then((p) => p.heartbeatSeconds),
    ]);
    const user = c.get("user")!;
    const doneText: Record<string, string> = {
      revoked: "The endpoint was revoked: its key no longer works.",
      action: "The action was queued: the agent gets it with its next heartbeat.",
      cancelled: "The action was cancelled.",
    };
    const doneKey = c.req.query("done") ?? "";
    const done = doneText[doneKey] ? { kind: "ok" as const, text: doneText[doneKey]! } : undefined;
    return c.html(
      <Page title={e.hostname ?? e.id} user={user} csrf={c.get("csrfToken")} active="endpoints" charts notice={done}>
        <p class="crumbs">
          <a href={`${BASE}/endpoints`}>Endpoints</a> /
        </p>
        <h1>
          {e.hostname ?? <span class="mono">{e.id}</span>} <StatusBadge status={e.status} />
        </h1>
        <nav class="tabs" aria-label="Sections of this page">
          <a href="#overview">Overview</a> <a href="#checkpoint">Checkpoint</a> <a href="#ledger">Ledger</a>{" "}
          <a href="#detections">Detections</a> <a href="#scans">Scans</a> <a href="#inventory">Inventory</a>{" "}
          <a href="#actions">Actions</a>
          <a href="#policy">Policy</a>
        </nav>
        <div class="grid two">
          <section id="overview" aria-labelledby="ov-h">
            <h2 id="ov-h">Overview</h2>
            <Facts
              items={[
                ["Endpoint id", <span class="mono">{e.id}</span>],
                ["Hostname", e.hostname ?? <span class="muted">not sent (policy)</span>],
                ["Status", <StatusBadge status={e.status} />],
                ["Last seen", <Time ms={e.lastSeen} now={now} />],
                ["Online hours, 30 days", `${hours30} of ${30 * 24}`],
                ["OS", osText(e.os)],
                ["Agent version", <span class="mono">{e.agentVersion ?? "–"}</span>],
                ["Rules version", <span class="mono">{e.rulesVersion ?? "none"}</span>],
                ["Tags", e.tags.length ? e.tags.join(", ") : <span class="muted">none</span>],
                [
                  "Groups",
                  policy.groups.length ? (
                    <a href="#policy">{policy.groups.map((g) => g.name).join(", ")}</a>
                  ) : (
                    <span class="muted">none (default policy)</span>
                  ),
                ],
                [
                  "Enrolled",
                  <>
                    <Time ms={e.enrolledAt} now={now} />
                    {e.enrolledWith ? ` with token “${e.enrolledWith}”` : ""}
                  </>,
                ],
                ...(e.revokedAt !== null
                  ? ([
                      [
                        "Revoked",
                        <>
                          <Time ms={e.revokedAt} now={now} /> by {e.revokedBy ?? "?"}
                        </>,
                      ],
                    ] as Array<[string, any]>)
                  : []),
              ]}
            />
            {user.role === "admin" && e.revokedAt === null ? (
              <p>
                <a class="button danger" href={`${BASE}/endpoints/${encodeURIComponent(e.id)}/revoke`}>
                  Revoke this endpoint…
                </a>
              </p>
            ) : null}
          </section>
          <div>
            <section id="checkpoint" aria-labelledby="cp-h">
              <h2 id="cp-h">Checkpoint verification</h2>
              <p>
                <CheckpointState v={verdict} />
              </p>
              {e.checkpoint !== null ? (
                <Facts
                  items={[
                    ["Log", <span class="mono">{e.checkpoint.origin}</span>],
                    ["Tree size", String(e.checkpoint.size)],
                    ["Root hash", <span class="mono wrap">{e.checkpoint.rootHash || "–"}</span>],
                    ["Verified by the agent", <Time ms={e.checkpoint.at} now={now} />],
                  ]}
                />
              ) : null}
            </section>
            <section id="ledger" aria-labelledby="lg-h">
              <h2 id="lg-h">Outbound ledger</h2>
              {e.ledger === null ? (
                <p class="muted">The agent has not reported its ledger yet.</p>
              ) : (
                <>
                  <p>
                    The agent records every request it sends in a hash-chained ledger (<code>vigil ledger</code> on the
                    endpoint lists it; <code>vigil ledger verify</code> checks the chain). The head below is the chain
                    after entry {count(e.ledger.entries)}, as the agent reported it{" "}
                    {e.ledger.at !== null ? (
                      <>
                        with its heartbeat <Time ms={e.ledger.at} now={now} />
                      </>
                    ) : (
                      "with an earlier heartbeat"
                    )}
                    ; that heartbeat and every later request added entries after it. On the endpoint, entry{" "}
                    {count(e.ledger.entries)} of <code>vigil ledger --json</code> must carry this hash.
                  </p>
                  <Facts
                    items={[
                      ["Entries", count(e.ledger.entries)],
                      ["Head after that entry", <span class="mono wrap">{e.ledger.head || "–"}</span>],
                      [
                        "Reported",
                        e.ledger.at !== null ? (
                          <Time ms={e.ledger.at} now={now} precise />
                        ) : (
                          "before this server recorded when"
                        ),
                      ],
                    ]}
                  />
                </>
              )}
            </section>
          </div>
        </div>
        <section id="detections" aria-labelledby="dt-h">
          <h2 id="dt-h">Detections</h2>
          {perDay.total > 0 ? <DetectionsChart data={perDay} id="ep-det-per-day" /> : null}
          {own.length === 0 ? (
            <Empty>No detections from this endpoint.</Empty>
          ) : (
            <>
              <DetectionTable
                rows={own}
                now={now}
                caption="Latest detections on this endpoint"
                linkRules={false}
                noPath="not sent"
              />
              <p>
                <a href={`${BASE}/detections?endpoint=${e.id}`}>
                  {detTotal === 1 ? "Its only detection" : `All ${count(detTotal)} detections`} on the detections page
                </a>{" "}
                · <a href={`${BASE}/alerts?endpoint=${encodeURIComponent(e.id)}`}>its alerts</a>
              </p>
            </>
          )}
        </section>
        <section id="scans" aria-labelledby="sc-h">
          <h2 id="sc-h">Scans</h2>
          {scans.length === 0 ? (
            <Empty>No scan summaries (the policy may not allow sending them).</Empty>
          ) : (
            <ListTable
              caption="Latest scans on this endpoint"
              hiddenCaption
              columns={[
                "Finished",
                "Kind",
                { num: "Duration" },
                { num: "Files" },
                { num: "Bytes" },
                { num: "Detections" },
                { num: "Errors" },
                "Rules",
              ]}
            >
              {scans.map((s) => (
                <tr>
                  <th scope="row">
                    <Time ms={s.finishedAt} now={now} precise />
                  </th>
                  <td>{s.kind}</td>
                  <td class="num">{Math.max(0, Math.round((s.finishedAt - s.startedAt) / 1000))} s</td>
                  <td class="num">{count(s.files)}</td>
                  <td class="num">{bytes(s.bytes)}</td>
                  <td class="num">{count(s.detections)}</td>
                  <td class="num">{count(s.errors)}</td>
                  <td class="mono">{s.bundleVersion ?? "–"}</td>
                </tr>
              ))}
            </ListTable>
          )}
        </section>
        <EndpointInventorySection id={e.id} data={inventory} now={now} />
        <EndpointActionsSection
          e={e}
          data={actions}
          role={user.role}
          csrf={c.get("csrfToken")}
          now={now}
          heartbeatSeconds={heartbeatSeconds}
        />
        <EffectivePolicySection p={policy} />
      </Page>,
    );
  });

  app.get("/endpoints/:id/revoke", requireRole("admin"), async (c) => {
    const { e, now } = await loadEndpoint(c.req.param("id"));
    return c.html(
      <Page title="Revoke endpoint" user={c.get("user")} csrf={c.get("csrfToken")} active="endpoints">
        <h1>Revoke {e.hostname ?? e.id}?</h1>
        {e.revokedAt !== null ? (
          <p>
            This endpoint was already revoked <Time ms={e.revokedAt} now={now} />.
          </p>
        ) : (
          <form method="post" action={`${BASE}/endpoints/${encodeURIComponent(e.id)}/revoke`} class="confirm">
            <p>
              Its key stops working at once: the agent can no longer report, fetch the policy or look up hashes. Its
              detections and scans stay. To bring the machine back, enrol it again with a new token. This cannot be
              undone.
            </p>
            <Facts
              items={[
                ["Endpoint id", <span class="mono">{e.id}</span>],
                ["Hostname", e.hostname ?? "–"],
                ["Last seen", e.lastSeen === null ? "never" : isoMinute(e.lastSeen)],
              ]}
            />
            <CsrfField token={c.get("csrfToken")} />
            <p>
              <button type="submit" class="danger">
                Revoke the endpoint
              </button>{" "}
              <a href={`${BASE}/endpoints/${encodeURIComponent(e.id)}`}>Cancel</a>
            </p>
          </form>
        )}
      </Page>,
    );
  });

  app.post("/endpoints/:id/revoke", requireRole("admin"), async (c) => {
    const id = c.req.param("id");
    await revokeEndpoint(ctx, id, actorOf(c));
    return c.redirect(`${BASE}/endpoints/${encodeURIComponent(id)}?done=revoked`, 303);
  });
}
