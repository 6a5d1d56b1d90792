/** @jsxImportSource hono/jsx */
/**
 * The fleet view of the installed-software inventory (issue 8): /console/inventory shows what
 * the endpoints' policy packs found across the fleet (which endpoint, which software, which
 * vendor, which pack and version, forbidden or upcoming, in force since, first seen) and answers
 * "which endpoints run what": a search by software name or vendor gives the matching software
 * with how many endpoints run it, then each endpoint with its version, install date and first
 * and last seen. The endpoint page gets an Inventory section (counts by source and the
 * endpoint's findings) from `EndpointInventorySection`. Reading needs any role.
 */
import type { Hono } from "hono";
import type { FC } from "hono/jsx";
import type { AppEnv, ServerContext } from "../../context.js";
import {
  endpointInventory,
  fleetInventoryCounts,
  getPolicy,
  listInventoryFindings,
  searchInventory,
  searchSoftware,
  type EndpointInventory,
  type InventoryFindingInfo,
} from "../../services/index.js";
import { count, intParam, oneOf, textParam } from "../format.js";
import { Ago, BASE, Empty, EndpointLink, Facts, ListTable, Page, Time } from "../layout.js";
import { exportIfAsked } from "../../api/exports.js";
import { ExportLinks } from "../export-links.js";

const PAGE = 50;
const FINDING_PAGE = 50;
const STATUSES = ["forbidden", "upcoming"] as const;

export const FindingStatus: FC<{ status: "forbidden" | "upcoming" }> = ({ status }) =>
  status === "forbidden" ? (
    <span class="badge sev-critical">Forbidden</span>
  ) : (
    <span class="badge sev-medium">Upcoming</span>
  );

/** "2024-08-15T12:00:00.000Z" -> "2024-08-15" (the day is what matters; the full value in the title). */
const Day: FC<{ iso: string | null }> = ({ iso }) =>
  iso ? (
    <time datetime={iso} title={iso}>
      {iso.slice(0, 10)}
    </time>
  ) : (
    <span class="muted">–</span>
  );

/** Previous/next links for one of the page's two lists (each keeps its own page parameter). */
const ListPager: FC<{
  params: Record<string, string | undefined>;
  name: string;
  page: number;
  pageSize: number;
  total: number;
  anchor: string;
}> = (p) => {
  const pages = Math.max(1, Math.ceil(p.total / p.pageSize));
  const link = (n: number) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(p.params)) if (v !== undefined && v !== "" && k !== p.name) q.set(k, v);
    if (n > 1) q.set(p.name, String(n));
    const s = q.toString();
    return `${BASE}/inventory${s ? `?${s}` : ""}#${p.anchor}`;
  };
  if (pages <= 1) return <p class="muted">{p.total === 1 ? "1 result" : `${count(p.total)} results`}</p>;
  return (
    <nav class="pager" aria-label={`Pages of ${p.anchor}`}>
      {p.page > 1 ? (
        <a href={link(p.page - 1)} rel="prev">
          ← Previous
        </a>
      ) : (
        <span class="muted">← Previous</span>
      )}
      <span>
        Page {p.page} of {pages} ({count(p.total)} results)
      </span>
      {p.page < pages ? (
        <a href={link(p.page + 1)} rel="next">
          Next →
        </a>
      ) : (
        <span class="muted">Next →</span>
      )}
    </nav>
  );
};

/** The findings table, for the fleet (with the endpoint column) or one endpoint. */
export const FindingsTable: FC<{
  rows: InventoryFindingInfo[];
  now: number;
  caption: string;
  withEndpoint: boolean;
}> = (p) => (
  <ListTable
    caption={p.caption}
    hiddenCaption
    columns={[
      p.withEndpoint && "Endpoint",
      "Software",
      "Vendor",
      "Pack",
      "Status",
      "In force since",
      "First seen",
      "Evidence",
    ]}
  >
    {p.rows.map((f) => (
      <tr>
        {p.withEndpoint ? (
          <th scope="row">
            <EndpointLink id={f.endpointId} hostname={f.hostname} />
          </th>
        ) : null}
        {p.withEndpoint ? (
          <td class="wrap">{f.subject}</td>
        ) : (
          <th scope="row" class="wrap">
            {f.subject}
          </th>
        )}
        <td>{f.vendor}</td>
        <td>
          <span class="mono">{f.packId}</span> v{f.packVersion}
        </td>
        <td>
          <FindingStatus status={f.status} />
        </td>
        <td>{f.inForceSince ? <Day iso={f.inForceSince} /> : <span class="muted">not yet</span>}</td>
        <td>
          <Time ms={f.firstSeen} now={p.now} />
        </td>
        <td>
          {f.evidence.length ? (
            <ul class="small">
              {f.evidence.map((e) => (
                <li class="wrap">{e}</li>
              ))}
            </ul>
          ) : (
            <span class="muted">–</span>
          )}
        </td>
      </tr>
    ))}
  </ListTable>
);

export interface EndpointInventoryData {
  summary: EndpointInventory;
  findings: InventoryFindingInfo[];
  findingsTotal: number;
  /** The data policy collects inventories. */
  collected: boolean;
}

/** What the endpoint page needs for its Inventory section. */
export async function loadEndpointInventory(ctx: ServerContext, endpointId: string): Promise<EndpointInventoryData> {
  const [summary, f, policy] = await Promise.all([
    endpointInventory(ctx, endpointId),
    listInventoryFindings(ctx, { endpointId, limit: 100 }),
    getPolicy(ctx),
  ]);
  return { summary, findings: f.findings, findingsTotal: f.total, collected: !!policy.send.inventory };
}

/** The Inventory section of the endpoint page: when it reported, items by source, its findings. */
export const EndpointInventorySection: FC<{ id: string; data: EndpointInventoryData; now: number }> = ({
  id,
  data,
  now,
}) => {
  const s = data.summary;
  return (
    <section id="inventory" aria-labelledby="inv-h">
      <h2 id="inv-h">Inventory</h2>
      {s.receivedAt === null ? (
        <Empty>
          No inventory from this endpoint yet{data.collected ? "" : " (the data policy does not collect inventories)"}.
        </Empty>
      ) : (
        <>
          <Facts
            items={[
              ["Last report", <Time ms={s.receivedAt} now={now} />],
              [
                "Installed items",
                <>
                  {count(s.items)}
                  {s.bySource.length ? ` (${s.bySource.map((b) => `${b.source} ${count(b.items)}`).join(", ")})` : ""}
                </>,
              ],
              ["Forbidden by a pack", s.forbidden ? <strong class="bad">{count(s.forbidden)}</strong> : "0"],
              ["Prohibitions to come", s.upcoming ? <span class="warn">{count(s.upcoming)}</span> : "0"],
            ]}
          />
          {data.findings.length ? (
            <FindingsTable
              rows={data.findings}
              now={now}
              caption="What the policy packs say about this endpoint's software"
              withEndpoint={false}
            />
          ) : (
            <p class="ok">No policy pack finds anything on this endpoint.</p>
          )}
          <p>
            <a href={`${BASE}/inventory?endpoint=${encodeURIComponent(id)}#software`}>
              Everything installed on this endpoint
            </a>
            {data.findingsTotal > data.findings.length ? (
              <>
                {" "}
                ·{" "}
                <a href={`${BASE}/inventory?fendpoint=${encodeURIComponent(id)}#findings`}>
                  all {count(data.findingsTotal)} findings
                </a>
              </>
            ) : null}
          </p>
        </>
      )}
    </section>
  );
};

export function registerInventoryPages(app: Hono<AppEnv>, ctx: ServerContext): void {
  app.get("/inventory", async (c) => {
    const now = ctx.now();
    // findings filters
    const status = oneOf(c.req.query("status"), STATUSES);
    const fq = textParam(c.req.query("fq"), 200);
    const fendpoint = textParam(c.req.query("fendpoint"), 100);
    const fpage = intParam(c.req.query("fpage"), 1, 1, 100_000);
    // software search
    const q = textParam(c.req.query("q"), 200);
    const vendor = textParam(c.req.query("vendor"), 200);
    const endpoint = textParam(c.req.query("endpoint"), 100);
    const page = intParam(c.req.query("page"), 1, 1, 100_000);
    const searching = !!(q || vendor || endpoint);
    const exp =
      c.req.query("list") === "findings"
        ? await exportIfAsked(ctx, c, { list: "findings", query: { status, q: fq, endpointId: fendpoint } })
        : await exportIfAsked(ctx, c, { list: "inventory", query: { q, vendor, endpointId: endpoint } });
    if (exp) return exp;
    const [policy, counts, findings, software, items] = await Promise.all([
      getPolicy(ctx),
      fleetInventoryCounts(ctx),
      listInventoryFindings(ctx, {
        status,
        q: fq,
        endpointId: fendpoint,
        limit: FINDING_PAGE,
        offset: (fpage - 1) * FINDING_PAGE,
      }),
      q || vendor ? searchSoftware(ctx, { q, vendor }, 50) : Promise.resolve([]),
      searching
        ? searchInventory(ctx, { q, vendor, endpointId: endpoint, limit: PAGE, offset: (page - 1) * PAGE })
        : Promise.resolve({ items: [], total: 0 }),
    ]);
    const params = {
      status,
      fq,
      fendpoint,
      fpage: fpage > 1 ? String(fpage) : undefined,
      q,
      vendor,
      endpoint,
      page: page > 1 ? String(page) : undefined,
    };
    return c.html(
      <Page title="Inventory" user={c.get("user")} csrf={c.get("csrfToken")} active="inventory">
        <h1>Inventory</h1>
        <p>
          The software installed on the endpoints, as their agents report it (<code>vigil inventory</code> on each
          machine), and what the signed policy packs say about it: software an authority no longer trusts, and from
          when.
        </p>
        {policy.send.inventory ? null : (
          <p class="notice error" role="alert">
            The data policy does not collect inventories: endpoints send none, and what is shown is from before.{" "}
            <a href={`${BASE}/policy`}>Data policy</a>
          </p>
        )}
        <Facts
          items={[
            ["Endpoints reporting an inventory", `${count(counts.reporting)} of ${count(counts.endpoints)}`],
            [
              "Endpoints running forbidden software",
              counts.forbiddenEndpoints ? <strong class="bad">{count(counts.forbiddenEndpoints)}</strong> : "0",
            ],
            [
              "Endpoints with prohibitions to come",
              counts.upcomingEndpoints ? <span class="warn">{count(counts.upcomingEndpoints)}</span> : "0",
            ],
          ]}
        />
        <nav class="tabs" aria-label="Sections of this page">
          <a href="#findings">Findings</a> <a href="#software">Which endpoints run what</a>
        </nav>

        <section id="findings" aria-labelledby="fi-h">
          <h2 id="fi-h">Findings across the fleet</h2>
          <form
            class="filters"
            method="get"
            action={`${BASE}/inventory#findings`}
            role="search"
            aria-label="Filter findings"
          >
            {q ? <input type="hidden" name="q" value={q} /> : null}
            {vendor ? <input type="hidden" name="vendor" value={vendor} /> : null}
            {endpoint ? <input type="hidden" name="endpoint" value={endpoint} /> : null}
            {fendpoint ? <input type="hidden" name="fendpoint" value={fendpoint} /> : null}
            <p>
              <label for="f-status">Status</label>
              <select id="f-status" name="status">
                <option value="">Any</option>
                <option value="forbidden" selected={status === "forbidden"}>
                  Forbidden
                </option>
                <option value="upcoming" selected={status === "upcoming"}>
                  Upcoming
                </option>
              </select>
            </p>
            <p>
              <label for="f-fq">Software or vendor contains</label>
              <input id="f-fq" name="fq" type="search" value={fq ?? ""} maxlength={200} />
            </p>
            <p>
              <button type="submit">Filter</button>{" "}
              {status || fq || fendpoint ? <a href={`${BASE}/inventory#findings`}>Clear</a> : null}
            </p>
          </form>
          {findings.findings.length === 0 ? (
            <Empty>
              {status || fq || fendpoint
                ? "No findings match these filters."
                : "No policy pack finds anything on the fleet."}
            </Empty>
          ) : (
            <FindingsTable
              rows={findings.findings}
              now={now}
              caption="Policy-pack findings across the fleet, forbidden first"
              withEndpoint
            />
          )}
          <ListPager
            params={params}
            name="fpage"
            page={fpage}
            pageSize={FINDING_PAGE}
            total={findings.total}
            anchor="findings"
          />
          <ExportLinks path={`${BASE}/inventory`} params={{ status, fq, fendpoint }} list="findings" />
        </section>

        <section id="software" aria-labelledby="sw-h">
          <h2 id="sw-h">Which endpoints run what</h2>
          <form
            class="filters"
            method="get"
            action={`${BASE}/inventory#software`}
            role="search"
            aria-label="Search installed software"
          >
            {status ? <input type="hidden" name="status" value={status} /> : null}
            {fq ? <input type="hidden" name="fq" value={fq} /> : null}
            {endpoint ? <input type="hidden" name="endpoint" value={endpoint} /> : null}
            <p>
              <label for="f-q">Software name contains</label>
              <input id="f-q" name="q" type="search" value={q ?? ""} maxlength={200} />
            </p>
            <p>
              <label for="f-vendor">Vendor contains</label>
              <input id="f-vendor" name="vendor" type="search" value={vendor ?? ""} maxlength={200} />
            </p>
            <p>
              <button type="submit">Search</button>{" "}
              {searching ? <a href={`${BASE}/inventory#software`}>Clear</a> : null}
            </p>
          </form>
          {endpoint ? (
            <p>
              Only endpoint <span class="mono">{endpoint}</span>.
            </p>
          ) : null}
          {!searching ? (
            <p class="muted">
              Search by name (for example <code>kaspersky</code> or <code>openssl</code>) or by vendor to see which
              endpoints run it.
            </p>
          ) : (
            <>
              {software.length ? (
                <ListTable
                  caption="Matching software"
                  columns={["Software", "Source", "Vendor", { num: "Endpoints" }, { num: "Versions" }]}
                >
                  {software.map((s) => (
                    <tr>
                      <th scope="row" class="wrap">
                        {s.name}
                      </th>
                      <td>{s.source}</td>
                      <td class="wrap">{s.vendor ?? <span class="muted">–</span>}</td>
                      <td class="num">{count(s.endpoints)}</td>
                      <td class="num">{count(s.versions)}</td>
                    </tr>
                  ))}
                </ListTable>
              ) : null}
              {items.items.length === 0 ? (
                <Empty>No installed software matches.</Empty>
              ) : (
                <ListTable
                  caption="Endpoints running it"
                  columns={[
                    "Endpoint",
                    "Software",
                    "Version",
                    "Source",
                    "Vendor",
                    "Installed or updated",
                    "First seen",
                    "Last reported",
                    "Path",
                  ]}
                >
                  {items.items.map((i) => (
                    <tr>
                      <th scope="row">
                        <EndpointLink id={i.endpointId} hostname={i.hostname} />
                      </th>
                      <td class="wrap">{i.name}</td>
                      <td class="mono">{i.version ?? "–"}</td>
                      <td>{i.source}</td>
                      <td class="wrap">{i.vendor ?? <span class="muted">–</span>}</td>
                      <td>
                        <Day iso={i.installedAt} />
                      </td>
                      <td>
                        <Time ms={i.firstSeen} now={now} />
                      </td>
                      <td>
                        <Ago ms={i.lastSeen} now={now} />
                      </td>
                      <td class="mono wrap">{i.installPath ?? <span class="muted">not sent</span>}</td>
                    </tr>
                  ))}
                </ListTable>
              )}
              <ListPager
                params={params}
                name="page"
                page={page}
                pageSize={PAGE}
                total={items.total}
                anchor="software"
              />
              <ExportLinks path={`${BASE}/inventory`} params={{ q, vendor, endpoint }} list="items" />
            </>
          )}
        </section>
      </Page>,
    );
  });
}
