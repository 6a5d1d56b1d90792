/** @jsxImportSource hono/jsx */
/** The login form. A wrong user and a wrong password get the same message. */
import type { FC } from "hono/jsx";
import { BASE, Page } from "../layout.js";

export const LoginPage: FC<{ next: string; username?: string; error?: string }> = (p) => (
  <Page title="Log in" user={null} csrf={null}>
    <section class="login">
      <h1>Log in to Vigil</h1>
      {p.error ? (
        <p class="notice error" role="alert" id="login-error">
          {p.error}
        </p>
      ) : null}
      <form method="post" action={`${BASE}/login`} aria-describedby={p.error ? "login-error" : undefined}>
        <input type="hidden" name="next" value={p.next} />
        <p>
          <label for="username">Username</label>
          <input
            id="username"
            name="username"
            autocomplete="username"
            required
            value={p.username ?? ""}
            autofocus={!p.username}
          />
        </p>
        <p>
          <label for="password">Password</label>
          <input
            id="password"
            name="password"
            type="password"
            autocomplete="current-password"
            required
            autofocus={!!p.username}
          />
        </p>
        <p>
          <button type="submit">Log in</button>
        </p>
      </form>
    </section>
  </Page>
);
