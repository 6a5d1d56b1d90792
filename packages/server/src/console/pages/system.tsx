/** @jsxImportSource hono/jsx */
/**
 * The server's own state: the update log it mirrors or proxies (checkpoint, witnesses, bundles,
 * audit reports, and which checkpoints the fleet verified), the audit log, and server health
 * (database, uptime, memory, request counts, endpoints connected, hourly connected endpoints).
 */
import type { Hono } from "hono";
import { loadavg } from "node:os";
import type { AppEnv, ServerContext } from "../../context.js";
import {
  connectedSince,
  countAudit,
  endpointsOnRules,
  listAudit,
  presencePerHour,
  reportedCheckpoints,
  tableCounts,
} from "../../services/index.js";
import { HOUR_MS } from "../../time.js";
import { bytes, count, intParam, isoMinute, plural, textParam } from "../format.js";
import { Ago, BASE, ChartTable, Empty, Facts, ListTable, Page, Pager, Time } from "../layout.js";
import type { RequestStats } from "../stats.js";
import { readUpdateLog } from "../update-log.js";
import { exportIfAsked, exportRowsIfAsked } from "../../api/exports.js";
import { ExportLinks } from "../export-links.js";

const PAGE = 50;

function detailText(detail: Record<string, unknown> | null): string {
  if (!detail) return "";
  const s = JSON.stringify(detail);
  return s.length > 300 ? s.slice(0, 300) + "…" : s;
}

const UPDATE_COLUMNS = [
  "index",
  "name",
  "version",
  "time",
  "files",
  "bytes",
  "engine",
  "previous",
  "archive",
  "endpointsOnIt",
] as const;

export function registerSystemPages(app: Hono<AppEnv>, ctx: ServerContext, stats: RequestStats): void {
  app.get("/updates", async (c) => {
    const now = ctx.now();
    const log = await readUpdateLog(ctx.config);
    const fleet = await reportedCheckpoints(ctx);
    const cp = log.checkpoint;
    // endpoints reporting a bundle as their rules version (`name-version` or just the version)
    const onBundle = await Promise.all(
      log.bundles.map((b) => endpointsOnRules(ctx, [`${b.name}-${b.version}`, String(b.version)])),
    );
    const exp = await exportRowsIfAsked(ctx, c, "updates", {}, UPDATE_COLUMNS, async () =>
      log.bundles.map((b, i) => ({ ...b, endpointsOnIt: onBundle[i] })),
    );
    if (exp) return exp;
    return c.html(
      <Page title="Update log" user={c.get("user")} csrf={c.get("csrfToken")} active="updates">
        <h1>Update log</h1>
        {log.mode === "none" ? (
          <p class="notice">
            Not configured: this server neither mirrors an update log (<code>--updates-dir</code>) nor proxies a
            publisher (<code>--updates-upstream</code>). Endpoints then fetch updates from wherever their own
            configuration points.
          </p>
        ) : (
          <>
            <p>
              {log.mode === "dir" ? "Mirrored from the directory " : "Proxied from "}
              <span class="mono">{log.location}</span>, served to endpoints under <code>/updates/</code>. The server
              shows the log; each endpoint verifies the log signature, the witness quorum and every bundle itself.
            </p>
            {log.error ? (
              <p class="notice error" role="alert">
                {log.error}
              </p>
            ) : null}
            {cp ? (
              <div class="grid two">
                <section aria-labelledby="cp-h">
                  <h2 id="cp-h">Latest checkpoint</h2>
                  <Facts
                    items={[
                      ["Log", <span class="mono">{cp.origin}</span>],
                      ["Tree size", plural(cp.size, "entry", "entries")],
                      ["Root hash", <span class="mono wrap">{cp.rootHash}</span>],
                      [
                        "Tiles",
                        log.tilesMatch === null ? (
                          "not checked"
                        ) : log.tilesMatch ? (
                          <span class="ok">reproduce the root hash</span>
                        ) : (
                          <strong class="bad">do not reproduce the root hash</strong>
                        ),
                      ],
                    ]}
                  />
                  <details>
                    <summary>Checkpoint text</summary>
                    <pre class="mono wrap">{cp.text}</pre>
                  </details>
                </section>
                <section aria-labelledby="wit-h">
                  <h2 id="wit-h">Signatures and witnesses</h2>
                  {cp.signatures.length === 0 ? (
                    <Empty>The checkpoint carries no signature lines.</Empty>
                  ) : (
                    <table class="list">
                      <thead>
                        <tr>
                          <th scope="col">Signer</th>
                          <th scope="col">Key id</th>
                          <th scope="col">Kind</th>
                          <th scope="col">Cosigned</th>
                        </tr>
                      </thead>
                      <tbody>
                        {cp.signatures.map((s) => (
                          <tr>
                            <th scope="row" class="mono">
                              {s.name}
                            </th>
                            <td class="mono">{s.keyId}</td>
                            <td>
                              {s.kind === "signature"
                                ? "log signature"
                                : s.kind === "cosignature"
                                  ? "witness cosignature"
                                  : "other"}
                            </td>
                            <td>{s.time === null ? "–" : <Time ms={s.time} now={now} />}</td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  )}
                  <p class="small muted">
                    {plural(cp.signatures.filter((s) => s.kind === "cosignature").length, "witness cosignature")}.
                    Endpoints require the quorum their trust policy names and cosignatures newer than its maximum age.
                  </p>
                </section>
              </div>
            ) : null}
            <section aria-labelledby="bundles-h">
              <h2 id="bundles-h">Bundles</h2>
              {log.bundles.length === 0 ? (
                <Empty>No bundle manifests in the log{cp ? "" : " (no checkpoint)"}.</Empty>
              ) : (
                <ListTable
                  caption="Newest bundles in the log"
                  hiddenCaption
                  columns={[
                    "Bundle",
                    { num: "Log entry" },
                    "Published",
                    { num: "Files" },
                    { num: "Size" },
                    "Engine",
                    "Archive",
                    { num: "Endpoints on it" },
                  ]}
                >
                  {log.bundles.map((b, i) => (
                    <tr>
                      <th scope="row" class="mono">
                        {b.name}-{b.version}
                      </th>
                      <td class="num">{b.index}</td>
                      <td>{b.time}</td>
                      <td class="num">{b.files}</td>
                      <td class="num">{bytes(b.bytes)}</td>
                      <td class="mono">{b.engine}</td>
                      <td>{b.archive === null ? "–" : b.archive ? "present" : <span class="flag">missing</span>}</td>
                      <td class="num">{count(onBundle[i] ?? 0)}</td>
                    </tr>
                  ))}
                </ListTable>
              )}
              {log.bundles.length ? <ExportLinks path={`${BASE}/updates`} params={{}} /> : null}
            </section>
            {log.mode === "dir" ? (
              <section aria-labelledby="audit-h">
                <h2 id="audit-h">Audit findings</h2>
                {log.audits.length === 0 ? (
                  <Empty>
                    No audit reports. Save <code>vigil audit --log … --json</code> (or{" "}
                    <code>vigil audit rules … --json</code>) output as <code>audit/NAME.json</code> in the log directory
                    to show it here.
                  </Empty>
                ) : (
                  log.audits.map((a) => (
                    <article class="audit-report">
                      <h3 class="mono">{a.file}</h3>
                      <p>
                        {a.summary || a.kind} · saved <Time ms={a.modified} now={now} />
                      </p>
                      {a.error ? <p class="flag">{a.error}</p> : null}
                      {a.problems.length ? (
                        <ul class="problems">
                          {a.problems.slice(0, 50).map((p) => (
                            <li class="bad">{p}</li>
                          ))}
                        </ul>
                      ) : null}
                      {a.findings.length === 0 && !a.error ? (
                        <p class="ok">No findings.</p>
                      ) : a.findings.length ? (
                        <ListTable columns={["Severity", "Rule", "Where", "Finding", "Evidence"]}>
                          {a.findings.slice(0, 200).map((f) => (
                            <tr>
                              <td>
                                <span class={`badge sev-${f.severity}`}>{f.severity}</span>
                              </td>
                              <th scope="row" class="mono">
                                {f.rule}
                              </th>
                              <td class="mono">
                                {f.file ?? ""}
                                {f.line !== null ? `:${f.line}` : ""}
                              </td>
                              <td>
                                {f.reason} <span class="mono muted">[{f.code}]</span>
                              </td>
                              <td class="mono wrap">{f.evidence}</td>
                            </tr>
                          ))}
                        </ListTable>
                      ) : null}
                    </article>
                  ))
                )}
              </section>
            ) : null}
          </>
        )}
        <section aria-labelledby="fleet-cp-h">
          <h2 id="fleet-cp-h">Checkpoints the fleet verified</h2>
          {fleet.length === 0 ? (
            <Empty>No active endpoints.</Empty>
          ) : (
            <table class="list">
              <thead>
                <tr>
                  <th scope="col">Log</th>
                  <th scope="col" class="num">
                    Tree size
                  </th>
                  <th scope="col" class="num">
                    Endpoints
                  </th>
                  <th scope="col">Compared with the log</th>
                </tr>
              </thead>
              <tbody>
                {fleet.map((f) => (
                  <tr>
                    <th scope="row" class="mono">
                      {f.origin ?? "none yet"}
                    </th>
                    <td class="num">{f.size === null ? "–" : f.size}</td>
                    <td class="num">{count(f.endpoints)}</td>
                    <td>
                      {f.size === null || !cp ? (
                        "–"
                      ) : f.origin !== null && f.origin !== cp.origin ? (
                        <strong class="bad">another log</strong>
                      ) : f.size === cp.size ? (
                        <span class="ok">latest</span>
                      ) : f.size < cp.size ? (
                        <span class="warn">{plural(cp.size - f.size, "entry", "entries")} behind</span>
                      ) : (
                        <span class="warn">ahead of this mirror</span>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <p class="small">Each endpoint's page checks its root hash against the log's tiles.</p>
        </section>
      </Page>,
    );
  });

  app.get("/activity", async (c) => {
    const now = ctx.now();
    const action = textParam(c.req.query("action"), 100);
    const user = textParam(c.req.query("user"), 100);
    const page = intParam(c.req.query("page"), 1, 1, 100_000);
    const query = { actionContains: action, userContains: user, limit: PAGE, offset: (page - 1) * PAGE };
    const exp = await exportIfAsked(ctx, c, { list: "audit", query });
    if (exp) return exp;
    const [rows, total] = await Promise.all([listAudit(ctx, query), countAudit(ctx, query)]);
    return c.html(
      <Page title="Activity" user={c.get("user")} csrf={c.get("csrfToken")} active="activity">
        <h1>Activity (audit log)</h1>
        <p>Every admin action, login and failed login, with who, when and from where.</p>
        <form class="filters" method="get" action={`${BASE}/activity`} role="search">
          <p>
            <label for="a-action">Action contains</label>
            <input id="a-action" name="action" type="search" value={action ?? ""} maxlength={100} />
          </p>
          <p>
            <label for="a-user">User contains</label>
            <input id="a-user" name="user" type="search" value={user ?? ""} maxlength={100} />
          </p>
          <p>
            <button type="submit">Filter</button> {action || user ? <a href={`${BASE}/activity`}>Clear</a> : null}
          </p>
        </form>
        {rows.length === 0 ? (
          <Empty>No entries{action || user ? " match these filters" : ""}.</Empty>
        ) : (
          <ListTable
            caption="Audit log, newest first"
            hiddenCaption
            columns={["Time", "User", "Action", "Target", "From", "Detail"]}
          >
            {rows.map((r) => (
              <tr>
                <th scope="row">
                  <Time ms={r.time} now={now} precise />
                </th>
                <td>{r.username ?? "–"}</td>
                <td class="mono">{r.action}</td>
                <td class="mono wrap">{r.target ?? "–"}</td>
                <td class="mono">{r.ip ?? "–"}</td>
                <td class="mono wrap small">{detailText(r.detail)}</td>
              </tr>
            ))}
          </ListTable>
        )}
        <Pager path={`${BASE}/activity`} params={{ action, user }} page={page} pageSize={PAGE} total={total} />
        <ExportLinks path={`${BASE}/activity`} params={{ action, user }} />
      </Page>,
    );
  });

  app.get("/health", async (c) => {
    const now = ctx.now();
    const mem = process.memoryUsage();
    const cpu = process.cpuUsage();
    const [tables, lastHour, lastDay, perHour] = await Promise.all([
      tableCounts(ctx),
      connectedSince(ctx, now - HOUR_MS),
      connectedSince(ctx, now - 24 * HOUR_MS),
      presencePerHour(ctx, 48),
    ]);
    const lat = stats.latency();
    const uptime = process.uptime();
    const hoursLabels = perHour.counts.map((_, i) => isoMinute((perHour.startHour + i) * HOUR_MS).slice(5, 16));
    return c.html(
      <Page title="Server health" user={c.get("user")} csrf={c.get("csrfToken")} active="health" charts>
        <h1>Server health</h1>
        <div class="grid two">
          <section aria-labelledby="srv-h">
            <h2 id="srv-h">This process</h2>
            <Facts
              items={[
                ["Database", `${ctx.store.dialect === "sqlite" ? "SQLite" : "PostgreSQL"}`],
                ["Location", <span class="mono wrap">{ctx.store.location}</span>],
                [
                  "Process uptime",
                  `${Math.floor(uptime / 86400)} d ${Math.floor((uptime % 86400) / 3600)} h ${Math.floor((uptime % 3600) / 60)} min`,
                ],
                ["Console up since", <Time ms={stats.startedAt} now={now} />],
                ["Node.js", process.version],
                ["Process id", String(process.pid)],
                [
                  "CPU time",
                  `${(cpu.user / 1e6).toFixed(1)} s user, ${(cpu.system / 1e6).toFixed(1)} s system (${((cpu.user + cpu.system) / 1e4 / Math.max(1, uptime)).toFixed(1)}% of one core on average)`,
                ],
                [
                  "Load average",
                  loadavg()
                    .map((x) => x.toFixed(2))
                    .join(", ") + " (1, 5, 15 min)",
                ],
                ["Resident memory", bytes(mem.rss)],
                ["JavaScript heap", `${bytes(mem.heapUsed)} used of ${bytes(mem.heapTotal)}`],
                [
                  "Console requests",
                  `${count(stats.total)} (2xx ${stats.byClass["2xx"]}, 3xx ${stats.byClass["3xx"]}, 4xx ${stats.byClass["4xx"]}, 5xx ${stats.byClass["5xx"]})`,
                ],
                [
                  "Console response time",
                  lat.n
                    ? `mean ${lat.mean.toFixed(1)} ms, p95 ${lat.p95.toFixed(1)} ms, max ${lat.max.toFixed(1)} ms (last ${lat.n})`
                    : "–",
                ],
              ]}
            />
          </section>
          <section aria-labelledby="fleet-h">
            <h2 id="fleet-h">Endpoints connected</h2>
            <ul class="cards">
              <li class="card">
                <span class="big">{count(lastHour)}</span> in the last hour
              </li>
              <li class="card">
                <span class="big">{count(lastDay)}</span> in the last 24 hours
              </li>
            </ul>
            <h3>Rows</h3>
            <table class="list compact">
              <thead>
                <tr>
                  <th scope="col">Table</th>
                  <th scope="col" class="num">
                    Rows
                  </th>
                </tr>
              </thead>
              <tbody>
                {Object.entries(tables.counts).map(([t, n]) => (
                  <tr>
                    <th scope="row" class="mono">
                      {t}
                    </th>
                    <td class="num">{tables.estimated.includes(t) ? `≈ ${count(n)}` : count(n)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        </div>
        <section aria-labelledby="conn-h">
          <h2 id="conn-h">Connected endpoints per hour</h2>
          <ChartTable
            id="connected-per-hour"
            kind="line"
            caption="Endpoints heard from per hour, last 48 hours (UTC)"
            rowHeader="Hour (UTC)"
            labels={hoursLabels}
            series={[{ name: "endpoints", values: perHour.counts, colour: "#1f6f4a" }]}
          />
        </section>
        <p class="small">
          Last refreshed <Ago ms={now} now={now} />. Liveness for load balancers: <a href="/healthz">/healthz</a>.
        </p>
      </Page>,
    );
  });
}
