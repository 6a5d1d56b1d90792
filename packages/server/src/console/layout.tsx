/** @jsxImportSource hono/jsx */
/**
 * The console's page shell and small shared pieces: navigation by role, the logout form, the
 * CSRF hidden field, status and severity badges (colour plus the word, never colour alone),
 * <time> elements, pagers, and the data tables charts are drawn from (console.js reads the
 * table, so the chart and the accessible table can never disagree).
 */
import { raw } from "hono/html";
import type { Child, FC, PropsWithChildren } from "hono/jsx";
import type { Role, SessionUser } from "../context.js";
import { ago, isoMinute, isoSecond } from "./format.js";
import type { EndpointStatus, Severity } from "../services/index.js";

export const BASE = "/console";

/**
 * htmx settings: no injected inline <style> (the CSP forbids it), no eval; 4xx answers are
 * swapped (they are pages explaining the problem), 5xx are not (a failed poll keeps the old
 * content), 204 means "unchanged".
 */
const HTMX_CONFIG = JSON.stringify({
  includeIndicatorStyles: false,
  allowEval: false,
  allowScriptTags: false,
  responseHandling: [
    { code: "204", swap: false },
    { code: "[23]..", swap: true },
    { code: "4..", swap: true, error: true },
    { code: "...", swap: false, error: true },
  ],
});
export const STATIC = `${BASE}/static`;

interface NavItem {
  href: string;
  label: string;
  key: string;
  roles?: Role[];
}

const NAV: NavItem[] = [
  { href: `${BASE}/`, label: "Dashboard", key: "dashboard" },
  { href: `${BASE}/endpoints`, label: "Endpoints", key: "endpoints" },
  { href: `${BASE}/alerts`, label: "Alerts", key: "alerts" },
  { href: `${BASE}/detections`, label: "Detections", key: "detections" },
  { href: `${BASE}/hashes`, label: "Hashes", key: "hashes" },
  { href: `${BASE}/inventory`, label: "Inventory", key: "inventory" },
  { href: `${BASE}/policy`, label: "Policy", key: "policy" },
  { href: `${BASE}/groups`, label: "Groups", key: "groups" },
  { href: `${BASE}/enrollment`, label: "Enrolment", key: "enrollment", roles: ["admin"] },
  { href: `${BASE}/updates`, label: "Updates", key: "updates" },
  { href: `${BASE}/activity`, label: "Activity", key: "activity" },
  { href: `${BASE}/users`, label: "Users", key: "users", roles: ["admin"] },
  { href: `${BASE}/health`, label: "Health", key: "health" },
];

export interface PageProps {
  title: string;
  user: SessionUser | null;
  csrf: string | null;
  active?: string;
  /** Adds Chart.js to the page. */
  charts?: boolean;
  /** A one-line message at the top (e.g. after a form was saved). */
  notice?: { kind: "ok" | "error"; text: string } | undefined;
}

export const Page: FC<PropsWithChildren<PageProps>> = (p) => (
  <>
    {raw("<!doctype html>") /* a constant, never data */}
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        {/* htmx would otherwise inject an inline <style>, which the CSP does not allow */}
        <meta name="htmx-config" content={HTMX_CONFIG} />
        <title>{p.title} · Vigil</title>
        {/* no favicon request (the app has none) */}
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href={`${STATIC}/console.css`} />
        <script src={`${STATIC}/htmx.min.js`} defer></script>
        {p.charts ? <script src={`${STATIC}/chart.umd.min.js`} defer></script> : null}
        <script src={`${STATIC}/console.js`} defer></script>
      </head>
      <body>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header class="top">
          <a class="brand" href={`${BASE}/`}>
            Vigil
          </a>
          {p.user ? (
            <nav aria-label="Console">
              <ul>
                {NAV.filter((n) => !n.roles || n.roles.includes(p.user!.role)).map((n) => (
                  <li>
                    <a href={n.href} aria-current={p.active === n.key ? "page" : undefined}>
                      {n.label}
                    </a>
                  </li>
                ))}
              </ul>
            </nav>
          ) : null}
          {p.user ? (
            <form class="who" method="post" action={`${BASE}/logout`}>
              <span>
                {p.user.username} <span class="role">({p.user.role})</span>
              </span>
              <CsrfField token={p.csrf} />
              <button type="submit" class="link">
                Log out
              </button>
            </form>
          ) : null}
        </header>
        <main id="main">
          {p.notice ? (
            <p class={`notice ${p.notice.kind}`} role={p.notice.kind === "error" ? "alert" : "status"}>
              {p.notice.text}
            </p>
          ) : null}
          {p.children}
        </main>
      </body>
    </html>
  </>
);

/**
 * htmx attributes for a form that also works as a plain POST + redirect: htmx posts it, follows
 * the redirect and swaps the new page's <main> into this one (no full reload, focus kept nearby).
 */
export function hxForm(action: string): Record<string, string> {
  return { "hx-post": action, "hx-target": "main", "hx-select": "main", "hx-swap": "outerHTML" };
}

export const CsrfField: FC<{ token: string | null }> = ({ token }) => (
  <input type="hidden" name="_csrf" value={token ?? ""} />
);

export const Time: FC<{ ms: number | null; now: number; precise?: boolean }> = ({ ms, now, precise }) =>
  ms === null ? (
    <span class="muted">never</span>
  ) : (
    <time datetime={new Date(ms).toISOString()} title={isoSecond(ms)}>
      {precise ? isoSecond(ms) : `${isoMinute(ms)} (${ago(ms, now)})`}
    </time>
  );

export const Ago: FC<{ ms: number | null; now: number }> = ({ ms, now }) =>
  ms === null ? (
    <span class="muted">never</span>
  ) : (
    <time datetime={new Date(ms).toISOString()} title={isoSecond(ms)}>
      {ago(ms, now)}
    </time>
  );

const STATUS_LABEL: Record<EndpointStatus, string> = {
  online: "Online",
  stale: "Stale",
  offline: "Offline",
  never: "Never seen",
  revoked: "Revoked",
};

export const StatusBadge: FC<{ status: EndpointStatus }> = ({ status }) => (
  <span class={`badge st-${status}`}>{STATUS_LABEL[status]}</span>
);

export function statusLabel(s: EndpointStatus): string {
  return STATUS_LABEL[s];
}

export const SeverityBadge: FC<{ severity: Severity | string }> = ({ severity }) => (
  <span class={`badge sev-${severity}`}>{severity}</span>
);

/**
 * A detection as the endpoint's user saw it: the signature name (as `vigil scan` prints it),
 * linked to the detections filtered by it, with the rule beside it where the two differ.
 */
export const DetectionName: FC<{ name: string; rule: string; link?: boolean }> = ({ name, rule, link = true }) => (
  <>
    {link ? <a href={`${BASE}/detections?rule=${encodeURIComponent(name)}`}>{name}</a> : name}
    {rule !== name ? <span class="small muted"> (rule {rule})</span> : null}
  </>
);

export const Verdict: FC<{ verdict: string }> = ({ verdict }) => <span class={`badge v-${verdict}`}>{verdict}</span>;

export const EndpointLink: FC<{ id: string; hostname: string | null }> = ({ id, hostname }) => (
  <a href={`${BASE}/endpoints/${encodeURIComponent(id)}`}>{hostname ?? <span class="mono">{id.slice(0, 8)}</span>}</a>
);

export const HashLink: FC<{ sha256: string; short?: boolean }> = ({ sha256, short }) => (
  <a class="mono" href={`${BASE}/hashes?q=${sha256}`} title={sha256}>
    {short ? sha256.slice(0, 16) + "…" : sha256}
  </a>
);

/** Previous/next links keeping the other query parameters. */
export const Pager: FC<{
  path: string;
  params: Record<string, string | undefined>;
  page: number;
  pageSize: number;
  total: number;
}> = (p) => {
  const pages = Math.max(1, Math.ceil(p.total / p.pageSize));
  const link = (n: number) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(p.params)) if (v !== undefined && v !== "") q.set(k, v);
    if (n > 1) q.set("page", String(n));
    const s = q.toString();
    return s ? `${p.path}?${s}` : p.path;
  };
  if (pages <= 1) return <p class="muted">{p.total === 1 ? "1 result" : `${p.total} results`}</p>;
  return (
    <nav class="pager" aria-label="Pages">
      {p.page > 1 ? (
        <a href={link(p.page - 1)} rel="prev">
          ← Previous
        </a>
      ) : (
        <span class="muted">← Previous</span>
      )}
      <span>
        Page {p.page} of {pages} ({p.total} results)
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

/**
 * A chart's data as a table: console.js draws the chart (`kind`) from it and folds the table into
 * its <details>; without JavaScript the open table is the chart.
 */
export const ChartTable: FC<{
  id: string;
  kind: "stacked-bar" | "line";
  caption: string;
  labels: string[];
  series: Array<{ name: string; values: number[]; colour: string }>;
  rowHeader: string;
}> = (p) => (
  <figure class="chart" aria-labelledby={`${p.id}-cap`}>
    <div class="chart-canvas" data-chart-for={p.id}></div>
    <details class="chart-data" open>
      <summary id={`${p.id}-cap`}>{p.caption} (data table)</summary>
      <div class="scroll">
        <table id={p.id} data-chart={p.kind}>
          <caption class="sr-only">{p.caption}</caption>
          <thead>
            <tr>
              <th scope="col">{p.rowHeader}</th>
              {p.series.map((s) => (
                <th scope="col" data-colour={s.colour}>
                  {s.name}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {p.labels.map((l, i) => (
              <tr>
                <th scope="row">{l}</th>
                {p.series.map((s) => (
                  <td class="num">{s.values[i] ?? 0}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </details>
  </figure>
);

/** A list table's column: its header, `{ num }` for a right-aligned number column, null or false for none. */
export type Column = string | { num: string } | null | false;

/**
 * A list table in its horizontal scroller: the caption (shown, or for screen readers only with
 * `hiddenCaption`), one column header per entry of `columns` and the rows as children.
 */
export const ListTable: FC<
  PropsWithChildren<{ caption?: Child; hiddenCaption?: boolean; id?: string | undefined; columns: Column[] }>
> = (p) => (
  <div class="scroll">
    <table class="list" id={p.id}>
      {p.caption === undefined ? null : p.hiddenCaption ? (
        <caption class="sr-only">{p.caption}</caption>
      ) : (
        <caption>{p.caption}</caption>
      )}
      <thead>
        <tr>
          {p.columns.map((c) =>
            !c ? null : typeof c === "string" ? (
              <th scope="col">{c}</th>
            ) : (
              <th scope="col" class="num">
                {c.num}
              </th>
            ),
          )}
        </tr>
      </thead>
      <tbody>{p.children}</tbody>
    </table>
  </div>
);

export const Empty: FC<PropsWithChildren> = ({ children }) => <p class="empty">{children}</p>;

/** A definition list from label/value pairs. */
export const Facts: FC<{ items: Array<[string, Child]> }> = ({ items }) => (
  <dl class="facts">
    {items.map(([k, v]) => (
      <>
        <dt>{k}</dt>
        <dd>{v}</dd>
      </>
    ))}
  </dl>
);
