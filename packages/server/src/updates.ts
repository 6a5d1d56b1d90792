/**
 * `/updates/*`: the update log for agents, either served read-only from a directory holding a
 * tlog-tiles log as `vigil publish` writes it (checkpoint, tile/..., bundles/...), or proxied
 * (GET only) to the publisher's URL. Paths are checked segment by segment (no `..`, no hidden
 * files, no absolute paths, a plain character set) and resolved under the directory. Caching
 * follows the log's nature: the checkpoint changes (no-cache), tiles and versioned bundles never
 * change once written (immutable).
 */
import { createReadStream } from "node:fs";
import { realpath, stat } from "node:fs/promises";
import { resolve, sep } from "node:path";
import { Readable } from "node:stream";
import { Hono } from "hono";
import type { AppEnv, ServerContext } from "./context.js";
import { ServerError } from "./error.js";

const SEGMENT_RE = /^[A-Za-z0-9_][A-Za-z0-9._+-]*$/;

/** Checks an update path (relative, '/'-separated); returns it or throws 404 (no hints to probers). */
export function checkUpdatePath(p: string): string {
  const segs = p.split("/");
  if (!p || p.length > 512 || segs.some((s) => !SEGMENT_RE.test(s) || s === "." || s === "..")) {
    throw new ServerError("SERVER_NOT_FOUND", "no such update file");
  }
  return p;
}

export function contentTypeOf(p: string): string {
  if (p === "checkpoint" || p.endsWith(".tlog-proof") || p.endsWith(".txt") || p.endsWith(".note"))
    return "text/plain; charset=utf-8";
  if (p.endsWith(".tar")) return "application/x-tar";
  if (p.endsWith(".json")) return "application/json";
  return "application/octet-stream";
}

export function cacheControlOf(p: string): string {
  if (p === "checkpoint" || p.endsWith("/checkpoint")) return "no-cache";
  // full and partial tiles are immutable by construction (C2SP tlog-tiles), and so are versioned bundles
  if (p.startsWith("tile/") || /^bundles\/.+-\d+\.(tar|tlog-proof)$/.test(p))
    return "public, max-age=31536000, immutable";
  return "public, max-age=300";
}

export function updatesApp(ctx: ServerContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { updatesDir, updatesUpstream } = ctx.config;

  app.get("/*", async (c) => {
    const rel = checkUpdatePath(decodeURIComponent(c.req.path.replace(/^\/updates\/?/, "")));
    if (updatesDir) {
      const root = await realpath(updatesDir).catch(() => resolve(updatesDir));
      const full = resolve(root, ...rel.split("/"));
      if (!full.startsWith(root + sep)) throw new ServerError("SERVER_NOT_FOUND", "no such update file");
      // symlinks inside the directory must not lead out of it either
      const real = await realpath(full).catch(() => undefined);
      const st = real ? await stat(real).catch(() => undefined) : undefined;
      if (!real?.startsWith(root + sep) || !st?.isFile())
        throw new ServerError("SERVER_NOT_FOUND", "no such update file");
      c.header("Content-Type", contentTypeOf(rel));
      c.header("Cache-Control", cacheControlOf(rel));
      c.header("Content-Length", String(st.size));
      c.header("X-Content-Type-Options", "nosniff");
      if (c.req.method === "HEAD") return c.body(null, 200);
      return c.body(Readable.toWeb(createReadStream(real)) as ReadableStream, 200);
    }
    if (updatesUpstream) {
      const base = updatesUpstream.endsWith("/") ? updatesUpstream : updatesUpstream + "/";
      let res: Response;
      try {
        res = await fetch(base + rel, {
          method: c.req.method === "HEAD" ? "HEAD" : "GET",
          signal: AbortSignal.timeout(30_000),
          redirect: "follow",
        });
      } catch (e) {
        throw new ServerError("SERVER_UPSTREAM", `the update publisher at ${base} could not be reached`, { cause: e });
      }
      if (res.status === 404) {
        await res.body?.cancel();
        throw new ServerError("SERVER_NOT_FOUND", "no such update file");
      }
      if (!res.ok) {
        await res.body?.cancel();
        throw new ServerError("SERVER_UPSTREAM", `the update publisher answered ${res.status}`);
      }
      const headers = new Headers({
        "Content-Type": contentTypeOf(rel),
        "Cache-Control": cacheControlOf(rel),
        "X-Content-Type-Options": "nosniff",
      });
      const len = res.headers.get("content-length");
      if (len) headers.set("Content-Length", len);
      return new Response(c.req.method === "HEAD" ? null : res.body, { status: 200, headers });
    }
    throw new ServerError(
      "SERVER_NOT_FOUND",
      "this server distributes no updates (start it with --updates-dir or --updates-upstream)",
    );
  });

  return app;
}
