/** @jsxImportSource hono/jsx */
/**
 * Regions htmx refreshes every few seconds. The page holds a stable aria-live container with a
 * polling element inside; the poll URL carries a version (a hash of the data shown), and the
 * server answers 204 (htmx keeps the content) while the data has not changed, so screen readers
 * announce only real changes and unchanged polls cost no rendering.
 */
import { createHash } from "node:crypto";
import type { Context } from "hono";
import type { Child, FC } from "hono/jsx";
import type { AppEnv } from "../context.js";

export function versionOf(data: unknown): string {
  return createHash("sha256").update(JSON.stringify(data)).digest("hex").slice(0, 16);
}

export const Poller: FC<{ url: string; version: string; seconds?: number; children?: Child }> = (p) => (
  <div hx-get={`${p.url}?v=${p.version}`} hx-trigger={`every ${p.seconds ?? 10}s`} hx-swap="outerHTML">
    {p.children}
  </div>
);

/** A live region around a poller, for the full page. */
export const LiveRegion: FC<{ id: string; url: string; version: string; seconds?: number; children?: Child }> = (p) => (
  <div id={p.id} aria-live="polite" aria-busy="false">
    <Poller url={p.url} version={p.version} {...(p.seconds ? { seconds: p.seconds } : {})}>
      {p.children}
    </Poller>
  </div>
);

/** The fragment route's answer: 204 when the client already shows this version. */
export function fragment(
  c: Context<AppEnv>,
  url: string,
  data: unknown,
  render: () => Child,
): Response | Promise<Response> {
  const version = versionOf(data);
  if (c.req.query("v") === version) return c.body(null, 204);
  return c.html(
    <Poller url={url} version={version}>
      {render()}
    </Poller>,
  );
}
