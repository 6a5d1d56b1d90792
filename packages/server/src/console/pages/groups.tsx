/** @jsxImportSource hono/jsx */
/**
 * Endpoint groups in the console (services/groups.ts): the list in precedence order with the
 * default's scan policy, one group with its members (manual and by rule), and for admins the
 * forms that create, change and delete groups, put endpoints in and take them out, and set the
 * default scan policy. Every field of a group's policy is "inherit" (not set) unless chosen, so
 * the form says what the group changes and nothing else. Also the endpoint page's "Policy"
 * section: the effective policy with where each field came from.
 */
import type { Context, Hono } from "hono";
import type { FC } from "hono/jsx";
import { actorOf, requireRole } from "../../auth/session.js";
import type { AppEnv, ServerContext } from "../../context.js";
import { ServerError } from "../../error.js";
import { validate } from "../../http.js";
import {
  GroupInput,
  ScanOverrides,
  addGroupMembers,
  createGroup,
  deleteGroup,
  getGroup,
  getPolicy,
  groupMembers,
  listGroups,
  removeGroupMember,
  updateGroup,
  updatePolicy,
  type EffectivePolicy,
  type Group,
} from "../../services/index.js";
import { field, formOf, type Form } from "../forms.js";
import { count } from "../format.js";
import { BASE, CsrfField, Empty, EndpointLink, Facts, ListTable, Page, Time } from "../layout.js";

type Ctx = Context<AppEnv>;

/** The boolean fields of the data policy a group can set, with their labels. */
const DATA_BOOLEANS: [string, string][] = [
  ["send.path", "Send file paths of detections"],
  ["send.hostname", "Send the hostname"],
  ["send.scanSummaries", "Send scan summaries"],
  ["send.inventory", "Send the software inventory"],
  ["reputation.enabled", "Hash reputation lookups"],
  ["samples.enabled", "Upload samples"],
];

export const FIELD_LABELS: Record<string, string> = {
  ...Object.fromEntries(DATA_BOOLEANS),
  "samples.maxBytes": "Largest sample (bytes)",
  "samples.fileTypes": "Sample file types",
  heartbeatSeconds: "Heartbeat interval (s)",
  "scan.paths": "Scan paths",
  "scan.exclude": "Excluded from scans",
  "scan.everyMinutes": "Scan every (minutes)",
  "scan.dailyAt": "Daily scan at",
  "scan.watchPaths": "Watched paths",
  "scan.action": "Action on detection",
};

function get(o: unknown, path: string): unknown {
  let v: unknown = o;
  for (const k of path.split(".")) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

function set(o: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split(".");
  let t = o;
  for (const k of keys.slice(0, -1)) t = (t[k] ??= {}) as Record<string, unknown>;
  t[keys[keys.length - 1]!] = value;
}

/** A policy value as text: lists one per comma, null as "off", booleans yes/no. */
export function showValue(v: unknown): string {
  if (v === undefined) return "inherit";
  if (v === null) return "off";
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (Array.isArray(v)) return v.length ? v.join(", ") : "(none)";
  return String(v);
}

function lines(v: string | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  const l = v
    .split(/\r?\n/)
    .map((x) => x.trim())
    .filter(Boolean);
  return l.length ? l : undefined;
}

/** The scan fields of a form ("" inherits; "off" turns a schedule off). */
function scanOf(form: Form): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const p = lines(field(form, "scan.paths", 20_000));
  if (p) out.paths = p;
  const x = lines(field(form, "scan.exclude", 20_000));
  if (x) out.exclude = x;
  const w = lines(field(form, "scan.watchPaths", 20_000));
  if (w) out.watchPaths = w;
  const every = field(form, "scan.everyMinutes", 20);
  if (every !== undefined) out.everyMinutes = every === "off" ? null : /^\d+$/.test(every) ? Number(every) : every;
  const daily = field(form, "scan.dailyAt", 20);
  if (daily !== undefined) out.dailyAt = daily === "off" ? null : daily;
  const action = field(form, "scan.action", 20);
  if (action === "report" || action === "quarantine") out.action = action;
  return out;
}

function groupOf(form: Form): unknown {
  const data: Record<string, unknown> = {};
  for (const [k] of DATA_BOOLEANS) {
    const v = field(form, k, 10);
    if (v === "yes" || v === "no") set(data, k, v === "yes");
  }
  const num = (k: string) => {
    const v = field(form, k, 20);
    if (v !== undefined) set(data, k, /^\d+$/.test(v) ? Number(v) : v);
  };
  num("samples.maxBytes");
  num("heartbeatSeconds");
  const types = field(form, "samples.fileTypes", 200);
  if (types !== undefined)
    set(
      data,
      "samples.fileTypes",
      types === "none"
        ? []
        : types
            .split(",")
            .map((t) => t.trim())
            .filter(Boolean),
    );
  const hostname = field(form, "match.hostname", 256);
  const os = field(form, "match.os", 64);
  const tags = field(form, "match.tags", 2000)
    ?.split(",")
    .map((t) => t.trim())
    .filter(Boolean);
  const match =
    hostname || os || tags?.length
      ? { ...(hostname ? { hostname } : {}), ...(os ? { os } : {}), ...(tags?.length ? { tags } : {}) }
      : null;
  const priority = field(form, "priority", 20);
  return {
    name: field(form, "name", 100) ?? "",
    description: field(form, "description", 1000) ?? "",
    priority: priority !== undefined && /^\d+$/.test(priority) ? Number(priority) : priority,
    match,
    data,
    scan: scanOf(form),
  };
}

const Tri: FC<{ name: string; label: string; value: unknown; prefix: string }> = ({ name, label, value, prefix }) => (
  <p>
    <label for={`${prefix}-${name}`}>{label}</label>{" "}
    <select id={`${prefix}-${name}`} name={name}>
      <option value="" selected={value === undefined}>
        inherit
      </option>
      <option value="yes" selected={value === true}>
        yes
      </option>
      <option value="no" selected={value === false}>
        no
      </option>
    </select>
  </p>
);

const Text: FC<{ name: string; label: string; value: unknown; prefix: string; hint?: string; area?: boolean }> = (
  p,
) => {
  const v =
    p.value === undefined
      ? ""
      : p.value === null
        ? "off"
        : Array.isArray(p.value)
          ? p.value.join(p.area ? "\n" : ", ")
          : String(p.value);
  return (
    <p>
      <label for={`${p.prefix}-${p.name}`}>{p.label}</label>
      {p.hint ? <span class="small muted"> ({p.hint})</span> : null}
      <br />
      {p.area ? (
        <textarea id={`${p.prefix}-${p.name}`} name={p.name} rows={3} cols={60}>
          {v}
        </textarea>
      ) : (
        <input id={`${p.prefix}-${p.name}`} name={p.name} value={v} />
      )}
    </p>
  );
};

/** The scan policy's inputs (for a group and for the default). */
const ScanFields: FC<{ scan: Record<string, unknown>; prefix: string }> = ({ scan, prefix }) => (
  <fieldset>
    <legend>Scan policy (empty: inherit)</legend>
    <Text prefix={prefix} name="scan.paths" label="Scan paths" value={scan.paths} hint="one per line" area />
    <Text
      prefix={prefix}
      name="scan.exclude"
      label="Excluded from scans"
      value={scan.exclude}
      hint="globs, one per line"
      area
    />
    <Text
      prefix={prefix}
      name="scan.everyMinutes"
      label="Scan every N minutes"
      value={scan.everyMinutes}
      hint="a number, or off"
    />
    <Text
      prefix={prefix}
      name="scan.dailyAt"
      label="Daily scan at"
      value={scan.dailyAt}
      hint="HH:MM endpoint time, or off"
    />
    <Text
      prefix={prefix}
      name="scan.watchPaths"
      label="Watched paths"
      value={scan.watchPaths}
      hint="one per line"
      area
    />
    <p>
      <label for={`${prefix}-scan.action`}>Action on detection</label>{" "}
      <select id={`${prefix}-scan.action`} name="scan.action">
        <option value="" selected={scan.action === undefined}>
          inherit
        </option>
        <option value="report" selected={scan.action === "report"}>
          report
        </option>
        <option value="quarantine" selected={scan.action === "quarantine"}>
          quarantine
        </option>
      </select>
    </p>
    <p class="small muted">
      Endpoints apply this within their local scan ceiling (allowed roots, shortest interval, whether quarantine may be
      asked), which stays the final word.
    </p>
  </fieldset>
);

const GroupForm: FC<{ action: string; csrf: string | null; g?: Group | undefined; submit: string; prefix: string }> = ({
  action,
  csrf,
  g,
  submit,
  prefix,
}) => (
  <form method="post" action={action} class="stack">
    <CsrfField token={csrf} />
    <Text prefix={prefix} name="name" label="Name" value={g?.name} />
    <Text prefix={prefix} name="description" label="Description" value={g?.description} />
    <Text
      prefix={prefix}
      name="priority"
      label="Priority"
      value={g?.priority ?? 100}
      hint="where two groups of an endpoint set the same field, the higher wins; equal: the name first in alphabetical order"
    />
    <fieldset>
      <legend>Members by rule (all given must match; empty: manual members only)</legend>
      <Text
        prefix={prefix}
        name="match.hostname"
        label="Hostname"
        value={g?.match?.hostname}
        hint="glob: * and ?, any case"
      />
      <Text
        prefix={prefix}
        name="match.os"
        label="OS platform"
        value={g?.match?.os}
        hint="linux, win32, darwin, freebsd"
      />
      <Text
        prefix={prefix}
        name="match.tags"
        label="Tags"
        value={g?.match?.tags}
        hint="comma-separated; the endpoint needs all"
      />
    </fieldset>
    <fieldset>
      <legend>Data policy (inherit: from the default)</legend>
      {DATA_BOOLEANS.map(([k, label]) => (
        <Tri prefix={prefix} name={k} label={label} value={get(g?.data, k)} />
      ))}
      <Text
        prefix={prefix}
        name="samples.maxBytes"
        label="Largest sample, bytes"
        value={get(g?.data, "samples.maxBytes")}
      />
      <Text
        prefix={prefix}
        name="samples.fileTypes"
        label="Sample file types"
        value={get(g?.data, "samples.fileTypes")}
        hint="pe, elf, macho, dex, script, or none"
      />
      <Text
        prefix={prefix}
        name="heartbeatSeconds"
        label="Heartbeat interval, seconds"
        value={g?.data.heartbeatSeconds}
      />
    </fieldset>
    <ScanFields prefix={prefix} scan={(g?.scan ?? {}) as Record<string, unknown>} />
    <p>
      <button type="submit">{submit}</button>
    </p>
  </form>
);

function ruleText(g: Group): string {
  if (!g.match) return "manual only";
  const parts: string[] = [];
  if (g.match.hostname) parts.push(`hostname ${g.match.hostname}`);
  if (g.match.os) parts.push(`OS ${g.match.os}`);
  if (g.match.tags) parts.push(`tags ${g.match.tags.join(", ")}`);
  return parts.join(" and ");
}

function setFields(g: Group): string {
  const out: string[] = [];
  for (const k of Object.keys(FIELD_LABELS)) {
    const v = k.startsWith("scan.") ? get(g.scan, k.slice(5)) : get(g.data, k);
    if (v !== undefined) out.push(`${FIELD_LABELS[k]}: ${showValue(v)}`);
  }
  return out.join("; ") || "nothing (inherits everything)";
}

export function registerGroupPages(app: Hono<AppEnv>, ctx: ServerContext): void {
  const admin = requireRole("admin");

  async function renderList(c: Ctx, error?: string, status = 200) {
    const now = ctx.now();
    const [groups, def] = await Promise.all([listGroups(ctx), getPolicy(ctx)]);
    const user = c.get("user")!;
    const done = c.req.query("done");
    const notice = error
      ? { kind: "error" as const, text: error }
      : done === "deleted"
        ? { kind: "ok" as const, text: "The group was deleted." }
        : done === "default"
          ? { kind: "ok" as const, text: `The default scan policy was saved (policy version ${def.version}).` }
          : undefined;
    const defScan = (def.scan ?? {}) as Record<string, unknown>;
    return c.html(
      <Page title="Groups" user={user} csrf={c.get("csrfToken")} active="groups" notice={notice}>
        <h1>Endpoint groups</h1>
        <p>
          Each endpoint obeys the <a href={`${BASE}/policy`}>default policy</a> with the fields its groups set over it:
          a field comes from the group of highest priority that sets it (equal priorities: the name first in
          alphabetical order), else from the default. An endpoint's page shows its effective policy and where each field
          came from.
        </p>
        {groups.length === 0 ? (
          <Empty>No groups yet: every endpoint has the default policy.</Empty>
        ) : (
          <ListTable
            caption={`Groups, highest priority first (${count(groups.length)})`}
            id="groups-table"
            columns={["Name", { num: "Priority" }, "Members by rule", { num: "Manual members" }, "Sets", "Changed"]}
          >
            {groups.map((g) => (
              <tr>
                <th scope="row">
                  <a href={`${BASE}/groups/${g.id}`}>{g.name}</a>
                </th>
                <td class="num">{g.priority}</td>
                <td>{ruleText(g)}</td>
                <td class="num">{count(g.manualMembers)}</td>
                <td class="small">{setFields(g)}</td>
                <td>
                  <Time ms={g.updatedAt} now={now} />
                  {g.updatedBy ? ` by ${g.updatedBy}` : ""}
                </td>
              </tr>
            ))}
          </ListTable>
        )}
        <section aria-labelledby="def-h">
          <h2 id="def-h">Default scan policy</h2>
          <Facts
            items={Object.keys(FIELD_LABELS)
              .filter((k) => k.startsWith("scan."))
              .map((k) => [
                FIELD_LABELS[k]!,
                defScan[k.slice(5)] === undefined ? (
                  <span class="muted">not set: each endpoint's own configuration</span>
                ) : (
                  showValue(defScan[k.slice(5)])
                ),
              ])}
          />
          {user.role === "admin" ? (
            <form method="post" action={`${BASE}/groups/default-scan`} class="stack">
              <CsrfField token={c.get("csrfToken")} />
              <ScanFields prefix="def" scan={defScan} />
              <p>
                <button type="submit">Save the default scan policy</button>
              </p>
            </form>
          ) : null}
        </section>
        {user.role === "admin" ? (
          <section aria-labelledby="new-h">
            <h2 id="new-h">New group</h2>
            <GroupForm prefix="new" action={`${BASE}/groups`} csrf={c.get("csrfToken")} submit="Create the group" />
          </section>
        ) : (
          <p class="muted">Only admins can change groups and policies.</p>
        )}
      </Page>,
      status as 200,
    );
  }

  async function renderGroup(c: Ctx, id: string, error?: string, status = 200) {
    const now = ctx.now();
    const [g, m] = await Promise.all([getGroup(ctx, id), groupMembers(ctx, id)]);
    const user = c.get("user")!;
    const done = c.req.query("done");
    const notice = error
      ? { kind: "error" as const, text: error }
      : done
        ? { kind: "ok" as const, text: done === "created" ? "The group was created." : "Saved." }
        : undefined;
    const base = `${BASE}/groups/${encodeURIComponent(g.id)}`;
    return c.html(
      <Page title={g.name} user={user} csrf={c.get("csrfToken")} active="groups" notice={notice}>
        <p class="crumbs">
          <a href={`${BASE}/groups`}>Groups</a> /
        </p>
        <h1>{g.name}</h1>
        {g.description ? <p>{g.description}</p> : null}
        <Facts
          items={[
            ["Priority", String(g.priority)],
            ["Members by rule", ruleText(g)],
            ["Sets", setFields(g)],
            ["Changed", g.updatedBy ? `${new Date(g.updatedAt).toISOString().slice(0, 16)}Z by ${g.updatedBy}` : "–"],
          ]}
        />
        <section aria-labelledby="mem-h">
          <h2 id="mem-h">Members ({count(m.total)})</h2>
          {m.total === 0 ? (
            <Empty>No endpoint is in this group.</Empty>
          ) : (
            <ListTable
              caption="Members"
              hiddenCaption
              id="members-table"
              columns={["Endpoint", "How", user.role === "admin" && "Remove"]}
            >
              {m.members.map((e) => (
                <tr>
                  <th scope="row">
                    <EndpointLink id={e.id} hostname={e.hostname} />
                  </th>
                  <td>
                    {e.via === "manual+rule" ? "by hand and by rule" : e.via === "manual" ? "by hand" : "by rule"}
                  </td>
                  {user.role === "admin" ? (
                    <td>
                      {e.via !== "rule" ? (
                        <form
                          method="post"
                          action={`${base}/members/${encodeURIComponent(e.id)}/remove`}
                          class="inline"
                        >
                          <CsrfField token={c.get("csrfToken")} />
                          <button type="submit" aria-label={`Take ${e.hostname ?? e.id} out of the group`}>
                            Take out
                          </button>
                        </form>
                      ) : null}
                    </td>
                  ) : null}
                </tr>
              ))}
            </ListTable>
          )}
          {user.role === "admin" ? (
            <form method="post" action={`${base}/members`} class="stack">
              <CsrfField token={c.get("csrfToken")} />
              <p>
                <label for="m-ids">Put endpoints in by hand (endpoint ids, comma or line separated)</label>
                <br />
                <textarea id="m-ids" name="endpointIds" rows={2} cols={60}></textarea>
              </p>
              <p>
                <button type="submit">Add</button>
              </p>
            </form>
          ) : null}
        </section>
        {user.role === "admin" ? (
          <>
            <section aria-labelledby="edit-h">
              <h2 id="edit-h">Change the group</h2>
              <GroupForm prefix="edit" action={base} csrf={c.get("csrfToken")} g={g} submit="Save the group" />
            </section>
            <section aria-labelledby="del-h">
              <h2 id="del-h">Delete the group</h2>
              <form method="post" action={`${base}/delete`} class="inline">
                <CsrfField token={c.get("csrfToken")} />
                <button type="submit" class="danger">
                  Delete {g.name}
                </button>
              </form>
              <p class="small muted">Its endpoints keep their other groups and the default for the rest.</p>
            </section>
          </>
        ) : null}
        <p class="small muted">
          Created <Time ms={g.createdAt} now={now} />.
        </p>
      </Page>,
      status as 200,
    );
  }

  const bad = (e: unknown) => e instanceof ServerError && (e.status === 400 || e.status === 409);

  app.get("/groups", (c) => renderList(c));
  app.post("/groups", admin, async (c) => {
    const form = await formOf(c);
    try {
      const g = await createGroup(ctx, validate(GroupInput, groupOf(form)), actorOf(c));
      return c.redirect(`${BASE}/groups/${g.id}?done=created`, 303);
    } catch (e) {
      if (bad(e)) return renderList(c, `Not created: ${(e as Error).message}.`, (e as ServerError).status);
      throw e;
    }
  });
  app.post("/groups/default-scan", admin, async (c) => {
    const form = await formOf(c);
    try {
      const scan = validate(ScanOverrides, scanOf(form));
      const { version: _v, ...current } = await getPolicy(ctx);
      await updatePolicy(ctx, { ...current, scan }, actorOf(c));
    } catch (e) {
      if (bad(e)) return renderList(c, `Not saved: ${(e as Error).message}.`, (e as ServerError).status);
      throw e;
    }
    return c.redirect(`${BASE}/groups?done=default`, 303);
  });
  app.get("/groups/:id", (c) => renderGroup(c, c.req.param("id")));
  app.post("/groups/:id", admin, async (c) => {
    const id = c.req.param("id");
    const form = await formOf(c);
    try {
      await updateGroup(ctx, id, validate(GroupInput, groupOf(form)), actorOf(c));
    } catch (e) {
      if (bad(e)) return renderGroup(c, id, `Not saved: ${(e as Error).message}.`, (e as ServerError).status);
      throw e;
    }
    return c.redirect(`${BASE}/groups/${encodeURIComponent(id)}?done=saved`, 303);
  });
  app.post("/groups/:id/delete", admin, async (c) => {
    await deleteGroup(ctx, c.req.param("id"), actorOf(c));
    return c.redirect(`${BASE}/groups?done=deleted`, 303);
  });
  app.post("/groups/:id/members", admin, async (c) => {
    const id = c.req.param("id");
    const form = await formOf(c);
    const ids = (field(form, "endpointIds", 100_000) ?? "")
      .split(/[\s,]+/)
      .map((x) => x.trim())
      .filter(Boolean);
    try {
      if (!ids.length) throw new ServerError("SERVER_BAD_REQUEST", "give at least one endpoint id");
      await addGroupMembers(ctx, id, ids.slice(0, 1000), actorOf(c));
    } catch (e) {
      if (bad(e)) return renderGroup(c, id, `Not added: ${(e as Error).message}.`, (e as ServerError).status);
      throw e;
    }
    return c.redirect(`${BASE}/groups/${encodeURIComponent(id)}?done=saved`, 303);
  });
  app.post("/groups/:id/members/:endpointId/remove", admin, async (c) => {
    const id = c.req.param("id");
    await removeGroupMember(ctx, id, c.req.param("endpointId"), actorOf(c));
    return c.redirect(`${BASE}/groups/${encodeURIComponent(id)}?done=saved`, 303);
  });
}

/** The endpoint page's "Policy" section: its groups and each field of its effective policy with where it came from. */
export const EffectivePolicySection: FC<{ p: EffectivePolicy }> = ({ p }) => (
  <section id="policy" aria-labelledby="pol-h">
    <h2 id="pol-h">Policy</h2>
    <p>
      Effective policy version {p.policy.version}.{" "}
      {p.groups.length ? (
        <>
          Groups, highest priority first:{" "}
          {p.groups.map((g, i) => (
            <>
              {i ? ", " : ""}
              <a href={`${BASE}/groups/${g.id}`}>{g.name}</a> (
              {g.via === "rule" ? "by rule" : g.via === "manual" ? "by hand" : "by hand and rule"})
            </>
          ))}
          .
        </>
      ) : (
        <>
          In no group: the <a href={`${BASE}/policy`}>default policy</a>.
        </>
      )}
    </p>
    <ListTable caption="Effective policy" hiddenCaption id="policy-table" columns={["Field", "Value", "From"]}>
      {p.fields.map((f) => (
        <tr>
          <th scope="row">{FIELD_LABELS[f.field] ?? f.field}</th>
          <td>{f.source.kind === "unset" ? <span class="muted">not set</span> : showValue(f.value)}</td>
          <td>
            {f.source.kind === "group" ? (
              <a href={`${BASE}/groups/${f.source.id}`}>group {f.source.name}</a>
            ) : f.source.kind === "default" ? (
              "default"
            ) : (
              <span class="muted">the endpoint's own configuration</span>
            )}
          </td>
        </tr>
      ))}
    </ListTable>
    <p class="small muted">The endpoint applies this within its local ceilings, which stay the final word.</p>
  </section>
);
