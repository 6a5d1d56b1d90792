/** @jsxImportSource hono/jsx */
/**
 * Alerts: the list (filters: state, severity, name or rule; analysts and admins select alerts and
 * move them to a state in bulk, with a comment) and one alert (its facts, state with who and when,
 * comments, the detections it groups, and the state and comment forms).
 */
import type { Hono } from "hono";
import { actorOf, requireRole } from "../../auth/session.js";
import type { AppEnv, ServerContext } from "../../context.js";
import { ServerError } from "../../error.js";
import {
  ALERT_STATES,
  type AlertState,
  commentOnAlert,
  countAlerts,
  getAlert,
  groupEndpointIds,
  listAlerts,
  listGroups,
  listDetections,
  SEVERITIES,
  setAlertState,
} from "../../services/index.js";
import { field, fields, formOf } from "../forms.js";
import { count, intParam, oneOf, textParam } from "../format.js";
import {
  BASE,
  CsrfField,
  DetectionName,
  Empty,
  EndpointLink,
  Facts,
  HashLink,
  ListTable,
  Page,
  Pager,
  SeverityBadge,
  Time,
} from "../layout.js";
import { DetectionTable } from "./find.js";
import { exportIfAsked } from "../../api/exports.js";
import { ExportLinks } from "../export-links.js";

const PAGE = 50;
const LABEL: Record<AlertState, string> = {
  new: "new",
  acknowledged: "acknowledged",
  resolved: "resolved",
  false_positive: "false positive",
};

const StateBadge = ({ state }: { state: AlertState }) => <span class={`badge alert-${state}`}>{LABEL[state]}</span>;

const StateSelect = ({ id }: { id: string }) => (
  <select id={id} name="state" required>
    {ALERT_STATES.filter((s) => s !== "new").map((s) => (
      <option value={s}>{LABEL[s]}</option>
    ))}
    <option value="new">new (reopen)</option>
  </select>
);

export function registerAlertPages(app: Hono<AppEnv>, ctx: ServerContext): void {
  app.get("/alerts", async (c) => {
    const now = ctx.now();
    const user = c.get("user")!;
    const canAct = user.role === "admin" || user.role === "analyst";
    const state = oneOf(c.req.query("state"), ALERT_STATES);
    const severity = oneOf(c.req.query("severity"), SEVERITIES);
    const rule = textParam(c.req.query("rule"), 256);
    const endpointId = textParam(c.req.query("endpoint"), 64);
    const groups = await listGroups(ctx);
    const group = groups.find((g) => g.id === c.req.query("group"))?.id;
    const page = intParam(c.req.query("page"), 1, 1, 100_000);
    const query = {
      state,
      severity,
      rule,
      endpointId,
      ...(group ? { endpointIds: await groupEndpointIds(ctx, group) } : {}),
      limit: PAGE,
      offset: (page - 1) * PAGE,
    };
    const exp = await exportIfAsked(ctx, c, { list: "alerts", query });
    if (exp) return exp;
    const [rows, total] = await Promise.all([listAlerts(ctx, query), countAlerts(ctx, query)]);
    const filtered = !!(state || severity || rule || endpointId || group);
    const done = c.req.query("done");
    return c.html(
      <Page
        title="Alerts"
        user={user}
        csrf={c.get("csrfToken")}
        active="alerts"
        notice={done ? { kind: "ok", text: `${done} alert${done === "1" ? "" : "s"} changed.` } : undefined}
      >
        <h1>Alerts</h1>
        <p class="small muted">
          Detections grouped by endpoint, file and rule: a rescan of the same file counts on the same alert.
        </p>
        <form class="filters" method="get" action={`${BASE}/alerts`} role="search">
          <p>
            <label for="a-state">State</label>
            <select id="a-state" name="state">
              <option value="">Any</option>
              {ALERT_STATES.map((s) => (
                <option value={s} selected={state === s}>
                  {LABEL[s]}
                </option>
              ))}
            </select>
          </p>
          <p>
            <label for="a-sev">Severity</label>
            <select id="a-sev" name="severity">
              <option value="">Any</option>
              {SEVERITIES.map((s) => (
                <option value={s} selected={severity === s}>
                  {s}
                </option>
              ))}
            </select>
          </p>
          <p>
            <label for="a-rule">Name or rule contains</label>
            <input id="a-rule" name="rule" type="search" value={rule ?? ""} maxlength={256} />
          </p>
          {groups.length ? (
            <p>
              <label for="a-group">Group</label>
              <select id="a-group" name="group">
                <option value="">Any</option>
                {groups.map((g) => (
                  <option value={g.id} selected={group === g.id}>
                    {g.name}
                  </option>
                ))}
              </select>
            </p>
          ) : null}
          {endpointId ? <input type="hidden" name="endpoint" value={endpointId} /> : null}
          <p>
            <button type="submit">Filter</button> {filtered ? <a href={`${BASE}/alerts`}>Clear</a> : null}
          </p>
        </form>
        {rows.length === 0 ? (
          <Empty>No alerts{filtered ? " match these filters" : " yet"}.</Empty>
        ) : (
          <form method="post" action={`${BASE}/alerts/state`} id="alerts-form">
            <CsrfField token={c.get("csrfToken")} />
            <ListTable
              caption={`Alerts, most recently seen first (${count(total)})`}
              id="alerts-table"
              columns={[
                canAct && "Select",
                "Last seen",
                "Endpoint",
                "Detection",
                "Severity",
                "State",
                { num: "Count" },
                "First seen",
                "SHA-256",
              ]}
            >
              {rows.map((a) => (
                <tr>
                  {canAct ? (
                    <td>
                      <input
                        type="checkbox"
                        name="ids"
                        value={a.id}
                        id={`sel-${a.id}`}
                        aria-label={`Select the alert ${a.name} on ${a.hostname ?? a.endpointId}`}
                      />
                    </td>
                  ) : null}
                  <th scope="row">
                    <a href={`${BASE}/alerts/${a.id}`}>
                      <Time ms={a.lastSeen} now={now} />
                    </a>
                  </th>
                  <td>
                    <EndpointLink id={a.endpointId} hostname={a.hostname} />
                  </td>
                  <td>
                    <a href={`${BASE}/alerts/${a.id}`}>{a.name}</a>
                    {a.rule !== a.name ? <span class="small muted"> (rule {a.rule})</span> : null}
                  </td>
                  <td>
                    <SeverityBadge severity={a.severity} />
                  </td>
                  <td>
                    <StateBadge state={a.state} />
                  </td>
                  <td class="num">{count(a.count)}</td>
                  <td>
                    <Time ms={a.firstSeen} now={now} />
                  </td>
                  <td>
                    <HashLink sha256={a.sha256} short />
                  </td>
                </tr>
              ))}
            </ListTable>
            {canAct ? (
              <fieldset class="inline">
                <legend>Selected alerts</legend>
                <p>
                  <label for="bulk-state">Move to</label>
                  <StateSelect id="bulk-state" />
                </p>
                <p>
                  <label for="bulk-comment">Comment (optional)</label>
                  <input id="bulk-comment" name="comment" maxlength={4000} />
                </p>
                <p>
                  <button type="submit">Apply</button>
                </p>
                <p class="small muted">A false positive adds the file's hash to the fleet's allow list (clean).</p>
              </fieldset>
            ) : null}
          </form>
        )}
        <Pager
          path={`${BASE}/alerts`}
          params={{ state, severity, rule, endpoint: endpointId, group }}
          page={page}
          pageSize={PAGE}
          total={total}
        />
        <ExportLinks path={`${BASE}/alerts`} params={{ state, severity, rule, endpoint: endpointId }} />
      </Page>,
    );
  });

  app.get("/alerts/:id", async (c) => {
    const now = ctx.now();
    const user = c.get("user")!;
    const canAct = user.role === "admin" || user.role === "analyst";
    const a = await getAlert(ctx, c.req.param("id"));
    const detections = await listDetections(ctx, {
      endpointId: a.endpointId,
      sha256: a.sha256,
      rule: a.rule,
      limit: 20,
    });
    const done = c.req.query("done");
    return c.html(
      <Page
        title={`Alert ${a.name}`}
        user={user}
        csrf={c.get("csrfToken")}
        active="alerts"
        notice={
          done === "state"
            ? { kind: "ok", text: "The state was changed." }
            : done === "comment"
              ? { kind: "ok", text: "The comment was added." }
              : undefined
        }
      >
        <p class="crumbs">
          <a href={`${BASE}/alerts`}>Alerts</a> /
        </p>
        <h1>
          <DetectionName name={a.name} rule={a.rule} link={false} /> <StateBadge state={a.state} />
        </h1>
        <div class="grid two">
          <section aria-labelledby="al-h">
            <h2 id="al-h">Finding</h2>
            <Facts
              items={[
                ["Endpoint", <EndpointLink id={a.endpointId} hostname={a.hostname} />],
                ["Detection", <DetectionName name={a.name} rule={a.rule} />],
                ["Severity", <SeverityBadge severity={a.severity} />],
                ["File", <HashLink sha256={a.sha256} />],
                ["Detections", count(a.count)],
                ["First seen", <Time ms={a.firstSeen} now={now} precise />],
                ["Last seen", <Time ms={a.lastSeen} now={now} precise />],
                [
                  "State",
                  <>
                    <StateBadge state={a.state} />
                    {a.stateBy ? (
                      <>
                        {" "}
                        by {a.stateBy} <Time ms={a.stateAt} now={now} />
                      </>
                    ) : null}
                  </>,
                ],
              ]}
            />
          </section>
          <section aria-labelledby="cm-h">
            <h2 id="cm-h">Comments</h2>
            {a.comments.length === 0 ? (
              <Empty>No comments.</Empty>
            ) : (
              <ol class="comments">
                {a.comments.map((cm) => (
                  <li>
                    <strong>{cm.username}</strong> <Time ms={cm.time} now={now} />
                    <p class="wrap">{cm.text}</p>
                  </li>
                ))}
              </ol>
            )}
            {canAct ? (
              <>
                <form method="post" action={`${BASE}/alerts/${a.id}/comment`}>
                  <CsrfField token={c.get("csrfToken")} />
                  <p>
                    <label for="cm-text">Add a comment</label>
                    <textarea id="cm-text" name="text" maxlength={4000} required rows={3}></textarea>
                  </p>
                  <p>
                    <button type="submit">Comment</button>
                  </p>
                </form>
                <form method="post" action={`${BASE}/alerts/state`} class="inline">
                  <CsrfField token={c.get("csrfToken")} />
                  <input type="hidden" name="ids" value={a.id} />
                  <input type="hidden" name="back" value="one" />
                  <p>
                    <label for="one-state">Move to</label>
                    <StateSelect id="one-state" />
                  </p>
                  <p>
                    <label for="one-comment">Comment (optional)</label>
                    <input id="one-comment" name="comment" maxlength={4000} />
                  </p>
                  <p>
                    <button type="submit">Change state</button>
                  </p>
                </form>
              </>
            ) : null}
          </section>
        </div>
        <section aria-labelledby="ad-h">
          <h2 id="ad-h">Detections in this alert (latest 20)</h2>
          <DetectionTable rows={detections} now={now} caption="Detections of this alert" />
        </section>
      </Page>,
    );
  });

  app.post("/alerts/state", requireRole("admin", "analyst"), async (c) => {
    const form = await formOf(c);
    const ids = fields(form, "ids").slice(0, 1000);
    const state = oneOf(field(form, "state", 20), ALERT_STATES);
    if (!state) throw new ServerError("SERVER_BAD_REQUEST", `state: one of ${ALERT_STATES.join(", ")}`);
    if (ids.length === 0) throw new ServerError("SERVER_BAD_REQUEST", "select at least one alert first");
    const n = await setAlertState(ctx, ids, state, actorOf(c), field(form, "comment", 4000));
    if (field(form, "back", 10) === "one" && ids.length === 1)
      return c.redirect(`${BASE}/alerts/${encodeURIComponent(ids[0]!)}?done=state`, 303);
    return c.redirect(`${BASE}/alerts?done=${n}`, 303);
  });

  app.post("/alerts/:id/comment", requireRole("admin", "analyst"), async (c) => {
    const form = await formOf(c);
    const id = c.req.param("id");
    await commentOnAlert(ctx, id, field(form, "text", 4000) ?? "", actorOf(c));
    return c.redirect(`${BASE}/alerts/${encodeURIComponent(id)}?done=comment`, 303);
  });
}
