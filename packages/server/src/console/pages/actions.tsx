/** @jsxImportSource hono/jsx */
/**
 * Remote actions in the console: the endpoint page's "Remote actions" section (a button per
 * kind the user's role may queue, and the history: what, state, who asked and when, delivered,
 * finished, the agent's result or reason, a restore button beside each quarantined file, the
 * diagnostic bundle's download for admins, cancel for a queued action), and the form posts
 * behind it. The roles are services/actions.ts's (ACTION_ROLES).
 */
import type { Hono } from "hono";
import type { FC } from "hono/jsx";
import { actorOf, requireRole } from "../../auth/session.js";
import type { AppEnv, Role, ServerContext } from "../../context.js";
import { ServerError } from "../../error.js";
import {
  ACTION_KINDS,
  ACTION_ROLES,
  actionBundle,
  cancelAction,
  countActions,
  endpointActionKinds,
  getAction,
  listActions,
  queueAction,
  type ActionInfo,
  type ActionKind,
  type ActionState,
  type EndpointInfo,
} from "../../services/index.js";
import { field, formOf } from "../forms.js";
import { count, oneOf } from "../format.js";
import { BASE, CsrfField, Empty, ListTable, Time } from "../layout.js";

const SHOWN = 30;

const LABEL: Record<ActionKind, string> = {
  scan: "Scan",
  quarantine: "Quarantine",
  restore: "Restore",
  update: "Update rules",
  diagnostics: "Diagnostics",
};

export interface EndpointActions {
  rows: ActionInfo[];
  total: number;
  /** What the agent announced in its last heartbeat (null: none). */
  agentKinds: string[] | null;
}

export async function loadEndpointActions(ctx: ServerContext, endpointId: string): Promise<EndpointActions> {
  const [rows, total, agentKinds] = await Promise.all([
    listActions(ctx, { endpointId, limit: SHOWN }),
    countActions(ctx, { endpointId }),
    endpointActionKinds(ctx, endpointId),
  ]);
  return { rows, total, agentKinds };
}

const StateBadge: FC<{ state: ActionState }> = ({ state }) => <span class={`badge act-${state}`}>{state}</span>;

/** What the action is about: its path, hash or vault entry, or the configured set. */
function target(a: ActionInfo): string {
  if (a.path) return a.path;
  if (a.sha256) return `sha256 ${a.sha256.slice(0, 16)}…`;
  if (a.quarantineId) return `vault entry ${a.quarantineId}`;
  return a.kind === "scan" ? "the configured paths" : "";
}

/** Vault entries a done quarantine action made (for its restore buttons). */
function vaultEntries(a: ActionInfo): string[] {
  if (a.kind !== "quarantine" || a.state !== "done") return [];
  const entries = (a.details?.entries ?? []) as Array<{ quarantineId?: unknown }>;
  return Array.isArray(entries)
    ? entries.map((e) => e?.quarantineId).filter((x): x is string => typeof x === "string")
    : [];
}

const may = (role: Role, kind: ActionKind) => ACTION_ROLES[kind].includes(role);

const QueueForm: FC<{
  id: string;
  kind: ActionKind;
  csrf: string | null;
  label: string;
  input?: { name: string; label: string; placeholder: string; required?: boolean };
  hidden?: Record<string, string>;
  small?: boolean;
}> = (p) => (
  <form method="post" action={`${BASE}/endpoints/${encodeURIComponent(p.id)}/actions`} class="inline">
    <CsrfField token={p.csrf} />
    <input type="hidden" name="kind" value={p.kind} />
    {Object.entries(p.hidden ?? {}).map(([k, v]) => (
      <input type="hidden" name={k} value={v} />
    ))}
    {p.input ? (
      <p>
        <label class="sr-only" for={`act-${p.kind}-${p.input.name}`}>
          {p.input.label}
        </label>
        <input
          id={`act-${p.kind}-${p.input.name}`}
          name={p.input.name}
          placeholder={p.input.placeholder}
          maxlength={4096}
          size={34}
          required={p.input.required}
        />
      </p>
    ) : null}
    <p>
      <button type="submit" class={p.small ? "small" : undefined}>
        {p.label}
      </button>
    </p>
  </form>
);

export const EndpointActionsSection: FC<{
  e: EndpointInfo;
  data: EndpointActions;
  role: Role;
  csrf: string | null;
  now: number;
  heartbeatSeconds: number;
}> = ({ e, data, role, csrf, now, heartbeatSeconds }) => {
  const open = e.revokedAt === null;
  const kinds = ACTION_KINDS.filter((k) => may(role, k));
  // vault entries a restore is queued for or has put back: no second restore button for them
  const restoring = new Set(
    data.rows.filter((a) => a.kind === "restore" && a.state !== "failed" && a.quarantineId).map((a) => a.quarantineId!),
  );
  return (
    <section id="actions" aria-labelledby="ac-h">
      <h2 id="ac-h">Remote actions</h2>
      <p>
        An action reaches the agent with its next heartbeat (every {heartbeatSeconds} s under the policy) and the agent
        reports the result. The endpoint's own configuration is the final word: an action its operator does not allow is
        refused and shows here as failed, with the reason.
      </p>
      {open && data.agentKinds === null ? (
        <p class="flag" id="actions-unsupported">
          {e.lastSeen === null
            ? "The agent has not checked in yet: actions wait here until it does."
            : `The agent (version ${e.agentVersion ?? "unknown"}) did not announce remote actions in its last heartbeat: it is older than them, and actions stay queued until it is updated.`}
        </p>
      ) : null}
      {open && kinds.length ? (
        <div class="action-forms">
          {may(role, "scan") ? (
            <QueueForm
              id={e.id}
              kind="scan"
              csrf={csrf}
              label="Scan now"
              input={{ name: "path", label: "Path to scan", placeholder: "path (empty: the configured paths)" }}
            />
          ) : null}
          {may(role, "quarantine") ? (
            <QueueForm
              id={e.id}
              kind="quarantine"
              csrf={csrf}
              label="Quarantine"
              input={{
                name: "target",
                label: "File to quarantine",
                placeholder: "file path or sha256",
                required: true,
              }}
            />
          ) : null}
          {may(role, "restore") ? (
            <QueueForm
              id={e.id}
              kind="restore"
              csrf={csrf}
              label="Restore"
              input={{
                name: "target",
                label: "Entry to restore",
                placeholder: "vault entry id or sha256",
                required: true,
              }}
            />
          ) : null}
          {may(role, "update") ? <QueueForm id={e.id} kind="update" csrf={csrf} label="Update rules now" /> : null}
          {may(role, "diagnostics") ? (
            <QueueForm id={e.id} kind="diagnostics" csrf={csrf} label="Collect diagnostics" />
          ) : null}
        </div>
      ) : !open ? (
        <p class="muted">The endpoint is revoked: it can no longer receive actions.</p>
      ) : (
        <p class="muted">Your role ({role}) can see the actions but not queue them.</p>
      )}
      {data.rows.length === 0 ? (
        <Empty>No remote actions for this endpoint yet.</Empty>
      ) : (
        <ListTable
          caption={
            data.total > data.rows.length
              ? `Action history (latest ${data.rows.length} of ${count(data.total)})`
              : "Action history"
          }
          id="action-history"
          columns={["Requested", "Action", "State", "By", "Delivered", "Finished", "Result"]}
        >
          {data.rows.map((a) => (
            <tr>
              <th scope="row">
                <Time ms={a.requestedAt} now={now} precise />
              </th>
              <td>
                {LABEL[a.kind as ActionKind] ?? a.kind} <span class="mono wrap">{target(a)}</span>
              </td>
              <td>
                <StateBadge state={a.state} />
              </td>
              <td>{a.requestedBy}</td>
              <td>{a.deliveredAt === null ? "–" : <Time ms={a.deliveredAt} now={now} />}</td>
              <td>{a.finishedAt === null ? "–" : <Time ms={a.finishedAt} now={now} />}</td>
              <td class="wrap">
                {a.message ?? (a.state === "queued" ? "waiting for the next heartbeat" : "running on the endpoint")}
                {a.hasBundle && role === "admin" ? (
                  <>
                    {" "}
                    <a href={`${BASE}/actions/${encodeURIComponent(a.id)}/bundle`} download>
                      Download the bundle
                    </a>
                  </>
                ) : null}
                {open && may(role, "restore")
                  ? vaultEntries(a)
                      .filter((q) => !restoring.has(q))
                      .map((q) => (
                        <QueueForm
                          id={e.id}
                          kind="restore"
                          csrf={csrf}
                          label={`Restore ${q}`}
                          hidden={{ target: q }}
                          small
                        />
                      ))
                  : null}
                {a.state === "queued" && may(role, a.kind as ActionKind) ? (
                  <form method="post" action={`${BASE}/actions/${encodeURIComponent(a.id)}/cancel`} class="inline">
                    <CsrfField token={csrf} />
                    <button type="submit" class="small">
                      Cancel
                    </button>
                  </form>
                ) : null}
              </td>
            </tr>
          ))}
        </ListTable>
      )}
    </section>
  );
};

export function registerActionPages(app: Hono<AppEnv>, ctx: ServerContext): void {
  // one form per kind; `target` is a path or a sha256 (quarantine) / a vault id or sha256 (restore)
  app.post("/endpoints/:id/actions", requireRole("admin", "analyst"), async (c) => {
    const id = c.req.param("id");
    const form = await formOf(c);
    const kind = oneOf(field(form, "kind", 20), ACTION_KINDS);
    if (!kind) throw new ServerError("SERVER_BAD_REQUEST", `kind: one of ${ACTION_KINDS.join(", ")}`);
    const t = field(form, "target", 4096);
    const hash = t && /^[0-9a-fA-F]{64}$/.test(t) ? t.toLowerCase() : undefined;
    await queueAction(
      ctx,
      id,
      {
        kind,
        path: kind === "scan" ? field(form, "path", 4096) : kind === "quarantine" && !hash ? t : undefined,
        sha256: kind === "quarantine" || kind === "restore" ? hash : undefined,
        quarantineId: kind === "restore" && !hash ? t : undefined,
      },
      actorOf(c),
    );
    return c.redirect(`${BASE}/endpoints/${encodeURIComponent(id)}?done=action#actions`, 303);
  });

  app.post("/actions/:id/cancel", requireRole("admin", "analyst"), async (c) => {
    const a = await cancelAction(ctx, c.req.param("id"), actorOf(c));
    return c.redirect(`${BASE}/endpoints/${encodeURIComponent(a.endpointId)}?done=cancelled#actions`, 303);
  });

  app.get("/actions/:id/bundle", requireRole("admin"), async (c) => {
    const { action, body } = await actionBundle(ctx, c.req.param("id"), actorOf(c));
    c.header("Content-Disposition", `attachment; filename="vigil-diagnostics-${action.endpointId}-${action.id}.json"`);
    return c.body(body, 200, { "Content-Type": "application/json; charset=utf-8" });
  });

  // the action's own page is its row on the endpoint page
  app.get("/actions/:id", async (c) => {
    const a = await getAction(ctx, c.req.param("id"));
    return c.redirect(`${BASE}/endpoints/${encodeURIComponent(a.endpointId)}#actions`, 303);
  });
}
