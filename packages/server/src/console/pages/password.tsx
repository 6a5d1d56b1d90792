/** @jsxImportSource hono/jsx */
/**
 * The user's own password: the form every user can use, and the page the first admin is sent to
 * (by `passwordChangeGate`) until the generated password is changed.
 */
import type { Context, Hono } from "hono";
import { actorOf } from "../../auth/session.js";
import type { AppEnv, ServerContext } from "../../context.js";
import { ServerError } from "../../error.js";
import { changeOwnPassword } from "../../services/index.js";
import { field, formOf } from "../forms.js";
import { BASE, CsrfField, Page } from "../layout.js";

export function registerPasswordPage(app: Hono<AppEnv>, ctx: ServerContext): void {
  const render = (c: Context<AppEnv>, error?: string) => {
    const user = c.get("user")!;
    return c.html(
      <Page
        title="Change password"
        user={user}
        csrf={c.get("csrfToken")}
        notice={error ? { kind: "error", text: error } : undefined}
      >
        <h1>Change password</h1>
        {user.mustChangePassword ? (
          <p class="notice" role="status" id="pw-forced">
            You logged in with the generated password. Choose your own before going on: the file that held the generated
            password is deleted once you do.
          </p>
        ) : null}
        <form method="post" action={`${BASE}/password`} class="stack">
          <CsrfField token={c.get("csrfToken")} />
          <p>
            <label for="pw-current">Current password</label>
            <input id="pw-current" name="currentPassword" type="password" required autocomplete="current-password" />
          </p>
          <p>
            <label for="pw-new">New password (12 to 200 characters)</label>
            <input
              id="pw-new"
              name="newPassword"
              type="password"
              required
              minlength={12}
              maxlength={200}
              autocomplete="new-password"
            />
          </p>
          <p>
            <button type="submit">Change password</button>
          </p>
        </form>
      </Page>,
    );
  };

  app.get("/password", (c) => render(c));

  app.post("/password", async (c) => {
    const form = await formOf(c);
    const current = field(form, "currentPassword", 300) ?? "";
    const next = field(form, "newPassword", 300) ?? "";
    try {
      await changeOwnPassword(ctx, actorOf(c), current, next);
    } catch (e) {
      if (e instanceof ServerError && (e.code === "SERVER_FORBIDDEN" || e.code === "SERVER_BAD_REQUEST")) {
        c.status(e.code === "SERVER_FORBIDDEN" ? 403 : 400);
        return render(c, `${e.message[0]!.toUpperCase()}${e.message.slice(1)}.`);
      }
      throw e;
    }
    return c.redirect(`${BASE}/`, 303);
  });
}
