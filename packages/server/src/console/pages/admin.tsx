/** @jsxImportSource hono/jsx */
/**
 * Pages that change the server's configuration, through the services (which check the input and
 * write the audit log): the data policy (everyone reads it, admins edit), enrolment tokens
 * (admins; a new token is shown once) and users (admins; a generated password is shown once).
 */
import type { Context, Hono } from "hono";
import type { FC } from "hono/jsx";
import { actorOf, requireRole } from "../../auth/session.js";
import type { AppEnv, ServerContext } from "../../context.js";
import { ServerError } from "../../error.js";
import { validate } from "../../http.js";
import {
  PolicyInput,
  ROLES,
  createEnrollmentToken,
  createUser,
  disableUser,
  getPolicy,
  getPolicyChange,
  listEnrollmentTokens,
  listUsers,
  resetPassword,
  revokeEnrollmentToken,
  setUserRole,
  updatePolicy,
} from "../../services/index.js";
import { checked, field, fields, formOf } from "../forms.js";
import { bytes, intParam, oneOf } from "../format.js";
import { Ago, BASE, CsrfField, Empty, Facts, Page, Time, hxForm } from "../layout.js";

const FILE_TYPES = ["pe", "elf", "macho", "dex", "script"] as const;
const FILE_TYPE_LABEL: Record<string, string> = {
  pe: "PE (Windows)",
  elf: "ELF (Linux)",
  macho: "Mach-O (macOS)",
  dex: "DEX (Android)",
  script: "Scripts",
};

type Ctx = Context<AppEnv>;

const YesNo: FC<{ on: boolean }> = ({ on }) => (on ? <strong>yes</strong> : <span>no</span>);

export function registerAdminPages(app: Hono<AppEnv>, ctx: ServerContext): void {
  async function renderPolicy(c: Ctx, error?: string, status = 200) {
    const now = ctx.now();
    const p = await getPolicy(ctx);
    const change = await getPolicyChange(ctx);
    const user = c.get("user")!;
    const done =
      c.req.query("done") === "saved"
        ? { kind: "ok" as const, text: `Policy saved as version ${p.version}.` }
        : undefined;
    return c.html(
      <Page
        title="Data policy"
        user={user}
        csrf={c.get("csrfToken")}
        active="policy"
        notice={error ? { kind: "error", text: error } : done}
      >
        <h1>Data policy</h1>
        <p>
          What endpoints may send to this server. Endpoints fetch it signed and apply the narrower of it and their own
          configuration, so this page can only narrow what an endpoint's owner allowed. This is the default:{" "}
          <a href={`${BASE}/groups`}>groups</a> can set fields differently for their endpoints, and each endpoint's page
          shows the policy it gets.
        </p>
        <Facts
          items={[
            ["Version", String(p.version)],
            [
              "Last change",
              change ? (
                <>
                  <Time ms={change.at} now={now} />
                  {change.by ? ` by ${change.by}` : " (default)"}
                </>
              ) : (
                "default"
              ),
            ],
            ["Send file paths", <YesNo on={p.send.path} />],
            ["Send hostnames", <YesNo on={p.send.hostname} />],
            ["Send scan summaries", <YesNo on={p.send.scanSummaries} />],
            ["Send the software inventory", <YesNo on={!!p.send.inventory} />],
            ["Hash reputation lookups", <YesNo on={p.reputation.enabled} />],
            [
              "Sample upload",
              p.samples.enabled ? (
                <>
                  <strong>on</strong>: {p.samples.fileTypes.join(", ") || "no types"}, up to {bytes(p.samples.maxBytes)}
                </>
              ) : (
                "off"
              ),
            ],
            ["Heartbeat interval", `${p.heartbeatSeconds} s`],
          ]}
        />
        {user.role === "admin" ? (
          <section aria-labelledby="edit-h">
            <h2 id="edit-h">Change the policy</h2>
            <form method="post" action={`${BASE}/policy`} class="stack" {...hxForm(`${BASE}/policy`)}>
              <CsrfField token={c.get("csrfToken")} />
              <fieldset>
                <legend>Fields endpoints send</legend>
                <p>
                  <input type="checkbox" id="p-path" name="send.path" value="1" checked={p.send.path} />{" "}
                  <label for="p-path">File paths of detections</label>
                </p>
                <p>
                  <input type="checkbox" id="p-host" name="send.hostname" value="1" checked={p.send.hostname} />{" "}
                  <label for="p-host">Hostname</label>
                </p>
                <p>
                  <input
                    type="checkbox"
                    id="p-scans"
                    name="send.scanSummaries"
                    value="1"
                    checked={p.send.scanSummaries}
                  />{" "}
                  <label for="p-scans">Scan summaries</label>
                </p>
                <p>
                  <input type="checkbox" id="p-inv" name="send.inventory" value="1" checked={!!p.send.inventory} />{" "}
                  <label for="p-inv">Installed-software inventory and policy-pack findings</label>
                </p>
                <p>
                  <input
                    type="checkbox"
                    id="p-rep"
                    name="reputation.enabled"
                    value="1"
                    checked={p.reputation.enabled}
                  />{" "}
                  <label for="p-rep">Hash reputation lookups (20-bit prefixes only)</label>
                </p>
              </fieldset>
              <fieldset>
                <legend>Samples</legend>
                <p>
                  <input type="checkbox" id="p-samples" name="samples.enabled" value="1" checked={p.samples.enabled} />{" "}
                  <label for="p-samples">Upload samples of detected files</label>
                </p>
                <p>
                  <label for="p-max">Largest sample, bytes (server limit {bytes(ctx.config.maxSampleBytes)})</label>
                  <input
                    id="p-max"
                    name="samples.maxBytes"
                    type="number"
                    min={0}
                    max={ctx.config.maxSampleBytes}
                    step={1}
                    value={String(p.samples.maxBytes)}
                    required
                  />
                </p>
                <p>File types that may be uploaded:</p>
                <ul class="checks">
                  {FILE_TYPES.map((t) => (
                    <li>
                      <input
                        type="checkbox"
                        id={`p-ft-${t}`}
                        name="samples.fileTypes"
                        value={t}
                        checked={p.samples.fileTypes.includes(t)}
                      />{" "}
                      <label for={`p-ft-${t}`}>{FILE_TYPE_LABEL[t]}</label>
                    </li>
                  ))}
                </ul>
              </fieldset>
              <p>
                <label for="p-hb">Heartbeat interval, seconds (10 to 86400)</label>
                <input
                  id="p-hb"
                  name="heartbeatSeconds"
                  type="number"
                  min={10}
                  max={86400}
                  step={1}
                  value={String(p.heartbeatSeconds)}
                  required
                />
              </p>
              <p>
                <button type="submit">Save policy</button>
              </p>
            </form>
          </section>
        ) : (
          <p class="muted">Only admins can change the policy.</p>
        )}
      </Page>,
      status as 200,
    );
  }

  app.get("/policy", (c) => renderPolicy(c));

  app.post("/policy", requireRole("admin"), async (c) => {
    const form = await formOf(c);
    const num = (name: string) => {
      const v = field(form, name, 20);
      return v !== undefined && /^\d+$/.test(v) ? Number(v) : NaN;
    };
    let input;
    try {
      input = validate(PolicyInput, {
        send: {
          path: checked(form, "send.path"),
          hostname: checked(form, "send.hostname"),
          scanSummaries: checked(form, "send.scanSummaries"),
          inventory: checked(form, "send.inventory"),
        },
        reputation: { enabled: checked(form, "reputation.enabled") },
        samples: {
          enabled: checked(form, "samples.enabled"),
          maxBytes: num("samples.maxBytes"),
          fileTypes: fields(form, "samples.fileTypes"),
        },
        heartbeatSeconds: num("heartbeatSeconds"),
      });
      await updatePolicy(ctx, input, actorOf(c));
    } catch (e) {
      if (e instanceof ServerError && e.status === 400) return renderPolicy(c, `Not saved: ${e.message}.`, 400);
      throw e;
    }
    return c.redirect(`${BASE}/policy?done=saved`, 303);
  });

  // --- enrolment tokens (admins) ---

  async function renderEnrollment(
    c: Ctx,
    created?: { token: string; label: string; uses: number; expiresAt: number },
    error?: string,
    status = 200,
  ) {
    const now = ctx.now();
    const tokens = await listEnrollmentTokens(ctx);
    const url = ctx.config.publicUrl ?? new URL(c.req.url).origin;
    const done =
      c.req.query("done") === "revoked" ? { kind: "ok" as const, text: "The token was withdrawn." } : undefined;
    return c.html(
      <Page
        title="Enrolment"
        user={c.get("user")}
        csrf={c.get("csrfToken")}
        active="enrollment"
        notice={error ? { kind: "error", text: error } : done}
      >
        <h1>Enrolment tokens</h1>
        {created ? (
          <section class="once" aria-labelledby="new-token-h">
            <h2 id="new-token-h">New token “{created.label}”</h2>
            <p>
              Copy it now: it is shown only once and the server keeps only its hash. It enrols{" "}
              {created.uses === 1 ? "one endpoint" : `${created.uses} endpoints`} until{" "}
              <Time ms={created.expiresAt} now={now} />.
            </p>
            <p>
              <label for="new-token">Token</label>
              <input id="new-token" class="mono token" readonly value={created.token} size={60} />
            </p>
            <p>On the endpoint:</p>
            <pre class="mono wrap" id="enroll-command">
              vigil agent enroll {url} {created.token}
            </pre>
          </section>
        ) : null}
        <section aria-labelledby="create-h">
          <h2 id="create-h">Create a token</h2>
          <form method="post" action={`${BASE}/enrollment`} class="filters">
            <CsrfField token={c.get("csrfToken")} />
            <p>
              <label for="t-label">Label (who or what it is for)</label>
              <input id="t-label" name="label" required maxlength={200} />
            </p>
            <p>
              <label for="t-uses">Endpoints it may enrol</label>
              <input id="t-uses" name="uses" type="number" min={1} max={100000} value="1" required />
            </p>
            <p>
              <label for="t-ttl">Valid for (hours)</label>
              <input id="t-ttl" name="ttlHours" type="number" min={1} max={8784} value="24" required />
            </p>
            <p>
              <button type="submit">Create token</button>
            </p>
          </form>
        </section>
        <section aria-labelledby="tokens-h">
          <h2 id="tokens-h">Tokens</h2>
          {tokens.length === 0 ? (
            <Empty>No tokens yet.</Empty>
          ) : (
            <table class="list">
              <thead>
                <tr>
                  <th scope="col">Label</th>
                  <th scope="col">State</th>
                  <th scope="col" class="num">
                    Uses left
                  </th>
                  <th scope="col">Created</th>
                  <th scope="col">Expires</th>
                  <th scope="col">Last used</th>
                  <th scope="col">
                    <span class="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {tokens.slice(0, 100).map((t) => (
                  <tr>
                    <th scope="row">{t.label}</th>
                    <td>
                      <span class={`badge tok-${t.state}`}>{t.state}</span>
                    </td>
                    <td class="num">{t.usesLeft}</td>
                    <td>
                      <Ago ms={t.createdAt} now={now} /> by {t.createdBy}
                    </td>
                    <td>
                      <Time ms={t.expiresAt} now={now} />
                    </td>
                    <td>
                      <Ago ms={t.lastUsedAt} now={now} />
                    </td>
                    <td>
                      {t.state === "active" ? (
                        <form
                          method="post"
                          action={`${BASE}/enrollment/revoke`}
                          {...hxForm(`${BASE}/enrollment/revoke`)}
                        >
                          <CsrfField token={c.get("csrfToken")} />
                          <input type="hidden" name="id" value={t.id} />
                          <button type="submit" class="small" aria-label={`Withdraw token ${t.label}`}>
                            Withdraw
                          </button>
                        </form>
                      ) : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      </Page>,
      status as 200,
    );
  }

  app.get("/enrollment", requireRole("admin"), (c) => renderEnrollment(c));

  app.post("/enrollment", requireRole("admin"), async (c) => {
    const form = await formOf(c);
    const label = field(form, "label", 200) ?? "";
    const uses = intParam(field(form, "uses", 10), NaN, 1, 100_000);
    const ttlHours = intParam(field(form, "ttlHours", 10), NaN, 1, 8784);
    try {
      if (Number.isNaN(uses))
        throw new ServerError("SERVER_BAD_REQUEST", "uses must be a whole number from 1 to 100000");
      if (Number.isNaN(ttlHours))
        throw new ServerError("SERVER_BAD_REQUEST", "the lifetime must be a whole number of hours from 1 to 8784");
      const created = await createEnrollmentToken(ctx, { label, uses, ttlHours }, actorOf(c));
      // shown in this response only (a redirect would have to keep the token somewhere)
      return renderEnrollment(c, created);
    } catch (e) {
      if (e instanceof ServerError && e.status === 400)
        return renderEnrollment(c, undefined, `Not created: ${e.message}.`, 400);
      throw e;
    }
  });

  app.post("/enrollment/revoke", requireRole("admin"), async (c) => {
    const form = await formOf(c);
    const id = field(form, "id", 100);
    if (!id || !/^[0-9a-f]{64}$/.test(id)) throw new ServerError("SERVER_BAD_REQUEST", "which token? (id missing)");
    await revokeEnrollmentToken(ctx, id, actorOf(c));
    return c.redirect(`${BASE}/enrollment?done=revoked`, 303);
  });

  // --- users (admins) ---

  async function renderUsers(
    c: Ctx,
    shown?: { username: string; password: string; what: string },
    error?: string,
    status = 200,
  ) {
    const now = ctx.now();
    const users = await listUsers(ctx);
    const me = c.get("user")!;
    const doneKey = c.req.query("done");
    const done =
      doneKey === "role"
        ? "The role was changed."
        : doneKey === "disabled"
          ? "The user was disabled and logged out."
          : doneKey === "enabled"
            ? "The user was enabled."
            : undefined;
    return c.html(
      <Page
        title="Users"
        user={me}
        csrf={c.get("csrfToken")}
        active="users"
        notice={error ? { kind: "error", text: error } : done ? { kind: "ok", text: done } : undefined}
      >
        <h1>Users</h1>
        {shown ? (
          <section class="once" aria-labelledby="pw-h">
            <h2 id="pw-h">{shown.what}</h2>
            <p>Give this password to {shown.username} now: it is shown only once.</p>
            <p>
              <label for="new-password">Password for {shown.username}</label>
              <input id="new-password" class="mono token" readonly value={shown.password} size={40} />
            </p>
          </section>
        ) : null}
        <section aria-labelledby="users-h">
          <h2 id="users-h">Accounts</h2>
          <table class="list">
            <caption class="sr-only">Users</caption>
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Role</th>
                <th scope="col">State</th>
                <th scope="col">Created</th>
                <th scope="col">Last active</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {users.map((u) => (
                <tr>
                  <th scope="row">
                    {u.username}
                    {u.id === me.id ? <span class="muted"> (you)</span> : null}
                  </th>
                  <td>
                    <form method="post" action={`${BASE}/users/role`} class="inline" {...hxForm(`${BASE}/users/role`)}>
                      <CsrfField token={c.get("csrfToken")} />
                      <input type="hidden" name="id" value={u.id} />
                      <label for={`role-${u.id}`} class="sr-only">
                        Role of {u.username}
                      </label>
                      <select id={`role-${u.id}`} name="role">
                        {ROLES.map((r) => (
                          <option value={r} selected={u.role === r}>
                            {r}
                          </option>
                        ))}
                      </select>{" "}
                      <button type="submit" class="small" aria-label={`Change the role of ${u.username}`}>
                        Change
                      </button>
                    </form>
                  </td>
                  <td>{u.disabled ? <span class="badge st-offline">disabled</span> : "active"}</td>
                  <td>
                    <Ago ms={u.createdAt} now={now} />
                  </td>
                  <td>
                    <Ago ms={u.lastSeen} now={now} />
                  </td>
                  <td class="actions">
                    <form
                      method="post"
                      action={`${BASE}/users/${u.disabled ? "enable" : "disable"}`}
                      class="inline"
                      {...hxForm(`${BASE}/users/${u.disabled ? "enable" : "disable"}`)}
                    >
                      <CsrfField token={c.get("csrfToken")} />
                      <input type="hidden" name="id" value={u.id} />
                      <button
                        type="submit"
                        class="small"
                        aria-label={`${u.disabled ? "Enable" : "Disable"} ${u.username}`}
                      >
                        {u.disabled ? "Enable" : "Disable"}
                      </button>
                    </form>{" "}
                    <form method="post" action={`${BASE}/users/password`} class="inline">
                      <CsrfField token={c.get("csrfToken")} />
                      <input type="hidden" name="id" value={u.id} />
                      <button type="submit" class="small" aria-label={`New password for ${u.username}`}>
                        New password
                      </button>
                    </form>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
        <section aria-labelledby="add-user-h">
          <h2 id="add-user-h">Add a user</h2>
          <form method="post" action={`${BASE}/users`} class="filters">
            <CsrfField token={c.get("csrfToken")} />
            <p>
              <label for="u-name">Username</label>
              <input
                id="u-name"
                name="username"
                required
                maxlength={64}
                pattern="[A-Za-z0-9][A-Za-z0-9._@\-]{0,63}"
                autocomplete="off"
              />
            </p>
            <p>
              <label for="u-role">Role</label>
              <select id="u-role" name="role">
                <option value="viewer">viewer (reads)</option>
                <option value="analyst">analyst (reads, records verdicts)</option>
                <option value="admin">admin (everything)</option>
              </select>
            </p>
            <p>
              <label for="u-pw">Password (empty: generate one)</label>
              <input
                id="u-pw"
                name="password"
                type="password"
                minlength={12}
                maxlength={200}
                autocomplete="new-password"
              />
            </p>
            <p>
              <button type="submit">Add user</button>
            </p>
          </form>
        </section>
      </Page>,
      status as 200,
    );
  }

  app.get("/users", requireRole("admin"), (c) => renderUsers(c));

  const userAction = async (c: Ctx, run: (id: string) => Promise<string>) => {
    const form = await formOf(c);
    const id = field(form, "id", 100);
    if (!id) throw new ServerError("SERVER_BAD_REQUEST", "which user? (id missing)");
    try {
      return c.redirect(`${BASE}/users?done=${await run(id)}`, 303);
    } catch (e) {
      if (e instanceof ServerError && (e.status === 400 || e.status === 409))
        return renderUsers(c, undefined, `Not changed: ${e.message}.`, e.status);
      throw e;
    }
  };

  app.post("/users", requireRole("admin"), async (c) => {
    const form = await formOf(c);
    const username = field(form, "username", 100) ?? "";
    const role = oneOf(field(form, "role", 20), ROLES);
    const password = field(form, "password", 300);
    try {
      if (!role) throw new ServerError("SERVER_BAD_REQUEST", "role must be admin, analyst or viewer");
      const r = await createUser(ctx, { username, role, password }, actorOf(c));
      if (password) return c.redirect(`${BASE}/users`, 303);
      return renderUsers(c, { username: r.user.username, password: r.password, what: `User ${r.user.username} added` });
    } catch (e) {
      if (e instanceof ServerError && (e.status === 400 || e.status === 409))
        return renderUsers(c, undefined, `Not added: ${e.message}.`, e.status);
      throw e;
    }
  });

  app.post("/users/role", requireRole("admin"), async (c) => {
    const form = await formOf(c);
    const role = oneOf(field(form, "role", 20), ROLES);
    return userAction(c, async (id) => {
      if (!role) throw new ServerError("SERVER_BAD_REQUEST", "role must be admin, analyst or viewer");
      await setUserRole(ctx, id, role, actorOf(c));
      return "role";
    });
  });
  app.post("/users/disable", requireRole("admin"), (c) =>
    userAction(c, async (id) => {
      await disableUser(ctx, id, actorOf(c), true);
      return "disabled";
    }),
  );
  app.post("/users/enable", requireRole("admin"), (c) =>
    userAction(c, async (id) => {
      await disableUser(ctx, id, actorOf(c), false);
      return "enabled";
    }),
  );
  app.post("/users/password", requireRole("admin"), async (c) => {
    const form = await formOf(c);
    const id = field(form, "id", 100);
    if (!id) throw new ServerError("SERVER_BAD_REQUEST", "which user? (id missing)");
    const target = (await listUsers(ctx)).find((u) => u.id === id);
    if (!target) throw new ServerError("SERVER_NOT_FOUND", "no such user");
    const password = await resetPassword(ctx, id, actorOf(c));
    return renderUsers(c, { username: target.username, password, what: `New password for ${target.username}` });
  });
}
