/** @jsxImportSource hono/jsx */
/**
 * Finding things: the detections list (filters: severity, rule, endpoint, time) and the hash
 * lookup (full sha256 or a prefix of at least 5 hex digits: verdict, prevalence, which
 * endpoints; analysts and admins record a verdict).
 */
import type { Hono } from "hono";
import { actorOf, requireRole } from "../../auth/session.js";
import type { AppEnv, ServerContext } from "../../context.js";
import { ServerError } from "../../error.js";
import {
  addReputation,
  countDetections,
  hashEndpoints,
  listDetections,
  lookupHash,
  lookupHashes,
  SEVERITIES,
  type DetectionInfo,
} from "../../services/index.js";
import { DAY_MS } from "../../time.js";
import { field, formOf } from "../forms.js";
import { bytes, count, dateParam, intParam, isoDay, oneOf, textParam } from "../format.js";
import {
  Ago,
  BASE,
  CsrfField,
  DetectionName,
  hxForm,
  Empty,
  EndpointLink,
  Facts,
  ListTable,
  HashLink,
  Page,
  Pager,
  SeverityBadge,
  Time,
  Verdict,
} from "../layout.js";
import type { FC } from "hono/jsx";
import { exportIfAsked, exportRowsIfAsked } from "../../api/exports.js";
import { ExportLinks } from "../export-links.js";

/** The detections table of the detections page and of an endpoint's page (which leaves out the endpoint column). */
export const DetectionTable: FC<{
  rows: DetectionInfo[];
  now: number;
  caption: string;
  id?: string;
  withEndpoint?: boolean;
  linkRules?: boolean;
  noPath?: string;
}> = ({ rows, now, caption, id, withEndpoint = false, linkRules = true, noPath = "–" }) => (
  <ListTable
    caption={caption}
    hiddenCaption
    id={id}
    columns={[
      "Time",
      withEndpoint && "Endpoint",
      "Detection",
      "Severity",
      "Action",
      "SHA-256",
      "Type",
      { num: "Size" },
      "Path",
    ]}
  >
    {rows.map((d) => (
      <tr>
        <th scope="row">
          <Time ms={d.time} now={now} precise />
        </th>
        {withEndpoint && (
          <td>
            <EndpointLink id={d.endpointId} hostname={d.hostname} />
          </td>
        )}
        <td>
          <DetectionName name={d.name} rule={d.rule} link={linkRules} />
        </td>
        <td>
          <SeverityBadge severity={d.severity} />
        </td>
        <td>{d.action}</td>
        <td>
          <HashLink sha256={d.sha256} short />
        </td>
        <td>{d.fileType ?? "–"}</td>
        <td class="num">{bytes(d.size)}</td>
        <td class="mono wrap">{d.path ?? <span class="muted">{noPath}</span>}</td>
      </tr>
    ))}
  </ListTable>
);

const PAGE = 50;
const RANGES = { "24h": DAY_MS, "7d": 7 * DAY_MS, "30d": 30 * DAY_MS } as const;
const VERDICTS = ["malicious", "suspicious", "clean"] as const;

const HASH_COLUMNS = [
  "sha256",
  "verdict",
  "name",
  "source",
  "updatedAt",
  "prevalence",
  "detections",
  "rules",
  "firstSeen",
  "lastSeen",
] as const;
const HASH_ENDPOINT_COLUMNS = ["id", "hostname", "detections", "firstSeen", "lastSeen", "paths"] as const;

export function registerFindPages(app: Hono<AppEnv>, ctx: ServerContext): void {
  app.get("/detections", async (c) => {
    const now = ctx.now();
    const severity = oneOf(c.req.query("severity"), SEVERITIES);
    const rule = textParam(c.req.query("rule"), 256);
    const endpoint = textParam(c.req.query("endpoint"), 100);
    const range = oneOf(c.req.query("range"), ["24h", "7d", "30d"] as const);
    const from = dateParam(c.req.query("from"));
    const to = dateParam(c.req.query("to"));
    const page = intParam(c.req.query("page"), 1, 1, 100_000);
    const since = from ?? (range ? now - RANGES[range] : undefined);
    const until = to !== undefined ? to + DAY_MS : undefined; // "to" is inclusive of that day
    const query = { severity, ruleContains: rule, endpoint, since, until, limit: PAGE, offset: (page - 1) * PAGE };
    const exp = await exportIfAsked(ctx, c, { list: "detections", query });
    if (exp) return exp;
    const [rows, total] = await Promise.all([listDetections(ctx, query), countDetections(ctx, query)]);
    const filtered = !!(severity || rule || endpoint || range || from || to);
    return c.html(
      <Page title="Detections" user={c.get("user")} csrf={c.get("csrfToken")} active="detections">
        <h1>Detections</h1>
        <form class="filters" method="get" action={`${BASE}/detections`} role="search">
          <p>
            <label for="f-sev">Severity</label>
            <select id="f-sev" name="severity">
              <option value="">Any</option>
              {SEVERITIES.map((s) => (
                <option value={s} selected={severity === s}>
                  {s}
                </option>
              ))}
            </select>
          </p>
          <p>
            <label for="f-rule">Name or rule contains</label>
            <input id="f-rule" name="rule" type="search" value={rule ?? ""} maxlength={256} />
          </p>
          <p>
            <label for="f-ep">Endpoint (id or hostname)</label>
            <input id="f-ep" name="endpoint" type="search" value={endpoint ?? ""} maxlength={100} />
          </p>
          <p>
            <label for="f-range">Period</label>
            <select id="f-range" name="range">
              <option value="">All time</option>
              <option value="24h" selected={range === "24h"}>
                Last 24 hours
              </option>
              <option value="7d" selected={range === "7d"}>
                Last 7 days
              </option>
              <option value="30d" selected={range === "30d"}>
                Last 30 days
              </option>
            </select>
          </p>
          <p>
            <label for="f-from">From (UTC day)</label>
            <input id="f-from" name="from" type="date" value={from !== undefined ? isoDay(from) : ""} />
          </p>
          <p>
            <label for="f-to">To (UTC day)</label>
            <input id="f-to" name="to" type="date" value={to !== undefined ? isoDay(to) : ""} />
          </p>
          <p>
            <button type="submit">Filter</button> {filtered ? <a href={`${BASE}/detections`}>Clear</a> : null}
          </p>
        </form>
        {rows.length === 0 ? (
          <Empty>No detections{filtered ? " match these filters" : " yet"}.</Empty>
        ) : (
          <DetectionTable rows={rows} now={now} id="detections-table" caption="Detections, newest first" withEndpoint />
        )}
        <Pager
          path={`${BASE}/detections`}
          params={{ severity, rule, endpoint, range, from: c.req.query("from"), to: c.req.query("to") }}
          page={page}
          pageSize={PAGE}
          total={total}
        />
        <ExportLinks
          path={`${BASE}/detections`}
          params={{ severity, rule, endpoint, range, from: c.req.query("from"), to: c.req.query("to") }}
        />
      </Page>,
    );
  });

  app.get("/hashes", async (c) => {
    const now = ctx.now();
    const raw = textParam(c.req.query("q"), 100)?.toLowerCase();
    const user = c.get("user")!;
    const canJudge = user.role === "admin" || user.role === "analyst";
    const done =
      c.req.query("done") === "verdict" ? { kind: "ok" as const, text: "The verdict was saved." } : undefined;
    let body;
    if (raw === undefined) {
      body = <p>Enter a full SHA-256 or its first 5 or more hex digits.</p>;
    } else if (!/^[0-9a-f]{5,64}$/.test(raw)) {
      c.status(400);
      body = (
        <p class="notice error" role="alert">
          “{raw}” is not a SHA-256 or a prefix of one: use 5 to 64 hex digits (0-9, a-f).
        </p>
      );
    } else if (raw.length < 64) {
      const { rows, truncated } = await lookupHashes(ctx, raw);
      const exp = await exportRowsIfAsked(ctx, c, "hashes", { q: raw }, HASH_COLUMNS, async () =>
        rows.map((h) => ({ ...h })),
      );
      if (exp) return exp;
      body =
        rows.length === 0 ? (
          <Empty>No known hash starts with {raw}.</Empty>
        ) : (
          <ListTable
            caption={
              <>
                Known hashes starting with <span class="mono">{raw}</span>
                {truncated ? " (first 100)" : ""}
              </>
            }
            columns={["SHA-256", "Verdict", { num: "Endpoints" }, { num: "Detections" }, "Rules", "Last seen"]}
          >
            {rows.map((h) => (
              <tr>
                <th scope="row">
                  <HashLink sha256={h.sha256} />
                </th>
                <td>
                  <Verdict verdict={h.verdict} /> {h.name ? <span class="small">{h.name}</span> : null}
                </td>
                <td class="num">{count(h.prevalence)}</td>
                <td class="num">{count(h.detections)}</td>
                <td>{h.rules.join(", ") || "–"}</td>
                <td>
                  <Ago ms={h.lastSeen} now={now} />
                </td>
              </tr>
            ))}
          </ListTable>
        );
      if (rows.length) body = [body, <ExportLinks path={`${BASE}/hashes`} params={{ q: raw }} />];
    } else {
      const report = await lookupHash(ctx, raw, actorOf(c));
      const eps = await hashEndpoints(ctx, raw);
      const exp = await exportRowsIfAsked(ctx, c, "hash-endpoints", { q: raw }, HASH_ENDPOINT_COLUMNS, async () =>
        eps.map((e) => ({ ...e })),
      );
      if (exp) return exp;
      body = (
        <>
          <section aria-labelledby="hash-h">
            <h2 id="hash-h">
              <span class="mono wrap">{raw}</span>
            </h2>
            <Facts
              items={[
                [
                  "Verdict",
                  <>
                    <Verdict verdict={report.verdict} />
                    {report.name ? ` ${report.name}` : ""}
                  </>,
                ],
                ["Source", report.source ?? "–"],
                ["Verdict updated", <Time ms={report.updatedAt} now={now} />],
                ["Prevalence", `${count(report.prevalence)} endpoint${report.prevalence === 1 ? "" : "s"}`],
                ["Detections", count(report.detections)],
                ["First seen", <Time ms={report.firstSeen} now={now} />],
                ["Last seen", <Time ms={report.lastSeen} now={now} />],
              ]}
            />
          </section>
          <section aria-labelledby="hash-eps">
            <h3 id="hash-eps">Endpoints that reported it</h3>
            {eps.length === 0 ? (
              <Empty>No endpoint has reported this file.</Empty>
            ) : (
              <table class="list">
                <thead>
                  <tr>
                    <th scope="col">Endpoint</th>
                    <th scope="col" class="num">
                      Detections
                    </th>
                    <th scope="col">First</th>
                    <th scope="col">Last</th>
                    <th scope="col">Paths (where the policy allowed them)</th>
                  </tr>
                </thead>
                <tbody>
                  {eps.map((e) => (
                    <tr>
                      <th scope="row">
                        <EndpointLink id={e.id} hostname={e.hostname} />
                      </th>
                      <td class="num">{count(e.detections)}</td>
                      <td>
                        <Time ms={e.firstSeen} now={now} />
                      </td>
                      <td>
                        <Time ms={e.lastSeen} now={now} />
                      </td>
                      <td class="mono wrap">{e.paths.length ? e.paths.join("\n") : <span class="muted">–</span>}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            {eps.length ? <ExportLinks path={`${BASE}/hashes`} params={{ q: raw }} /> : null}
          </section>
          {canJudge ? (
            <section aria-labelledby="verdict-h">
              <h3 id="verdict-h">Record a verdict</h3>
              <form
                method="post"
                action={`${BASE}/hashes/verdict`}
                class="inline"
                {...hxForm(`${BASE}/hashes/verdict`)}
              >
                <CsrfField token={c.get("csrfToken")} />
                <input type="hidden" name="sha256" value={raw} />
                <p>
                  <label for="v-verdict">Verdict</label>
                  <select id="v-verdict" name="verdict" required>
                    {VERDICTS.map((v) => (
                      <option value={v} selected={report.verdict === v}>
                        {v}
                      </option>
                    ))}
                  </select>
                </p>
                <p>
                  <label for="v-name">Name (optional)</label>
                  <input id="v-name" name="name" maxlength={200} value={report.name ?? ""} />
                </p>
                <p>
                  <button type="submit">Save verdict</button>
                </p>
              </form>
              <p class="small muted">
                Endpoints get verdicts by 20-bit prefix (k-anonymity): they learn it on their next reputation lookup.
              </p>
            </section>
          ) : null}
        </>
      );
    }
    return c.html(
      <Page title="Hash lookup" user={user} csrf={c.get("csrfToken")} active="hashes" notice={done}>
        <h1>Hash lookup</h1>
        <form class="filters" method="get" action={`${BASE}/hashes`} role="search">
          <p class="wide">
            <label for="h-q">SHA-256 or prefix (5+ hex digits)</label>
            <input
              id="h-q"
              name="q"
              type="search"
              value={raw ?? ""}
              maxlength={100}
              class="mono"
              spellcheck={false}
              autocomplete="off"
            />
          </p>
          <p>
            <button type="submit">Look up</button>
          </p>
        </form>
        {body}
      </Page>,
    );
  });

  app.post("/hashes/verdict", requireRole("admin", "analyst"), async (c) => {
    const form = await formOf(c);
    const sha256 = field(form, "sha256", 100)?.toLowerCase() ?? "";
    const verdict = oneOf(field(form, "verdict", 20), VERDICTS);
    const name = field(form, "name", 200) ?? null;
    if (!/^[0-9a-f]{64}$/.test(sha256))
      throw new ServerError("SERVER_BAD_REQUEST", "sha256: a full SHA-256 (64 hex digits)");
    if (!verdict) throw new ServerError("SERVER_BAD_REQUEST", "verdict: malicious, suspicious or clean");
    await addReputation(ctx, [{ sha256, verdict, name }], actorOf(c));
    return c.redirect(`${BASE}/hashes?q=${sha256}&done=verdict`, 303);
  });
}
