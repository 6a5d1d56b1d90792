/**
 * Serves a log directory (log.ts: C2SP tlog-tiles files and the bundle archives) over HTTP, with
 * the headers c2sp.org/tlog-tiles asks for: `checkpoint` as `text/plain; charset=utf-8`, not
 * cached beyond a few seconds ("This endpoint is mutable"); tiles and entry bundles as
 * `application/octet-stream` with long-lived caching ("This endpoint is immutable"); the
 * `bundles/` archives and proofs as octet streams too. Entry bundles are gzipped for clients that
 * accept it ("Entry bundles SHOULD be compressed at the HTTP layer"). GET and HEAD only; only the paths a log
 * has are served (nothing outside the directory, no listing, no dot files).
 */
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { UpdateError } from "./error.js";

const TILE =
  /^tile\/(?:[0-9]|[1-5][0-9]|6[0-3]|entries)\/(?:x[0-9]{3}\/)*[0-9]{3}(?:\.p\/(?:[1-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5]))?$/;
const BUNDLE = /^bundles\/[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/;

/** Starts serving `dir` on host:port (port 0: an ephemeral port); resolves once listening. */
export async function serveLog(dir: string, port = 0, host = "127.0.0.1"): Promise<Server> {
  const root = resolve(dir);
  const server = createServer((req, res) => {
    void (async () => {
      const path = decodeURIComponentSafe((req.url ?? "/").split("?")[0]!.replace(/^\/+/, ""));
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" });
        res.end("a log is read with GET\n");
        return;
      }
      let headers: Record<string, string>;
      if (path === "checkpoint") {
        headers = { "content-type": "text/plain; charset=utf-8", "cache-control": "no-cache, max-age=0" };
      } else if (path !== undefined && (TILE.test(path) || (BUNDLE.test(path) && !path.includes("..")))) {
        headers = {
          "content-type": "application/octet-stream",
          "cache-control": path.startsWith("tile/") ? "public, max-age=604800, immutable" : "public, max-age=3600",
        };
      } else {
        res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
        res.end("not found\n");
        return;
      }
      let data: Buffer;
      try {
        data = await readFile(join(root, ...path.split("/")));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        const missing = code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR";
        res.writeHead(missing ? 404 : 500, { "content-type": "text/plain; charset=utf-8" });
        res.end(missing ? "not found\n" : "cannot read the file\n");
        return;
      }
      if (path.startsWith("tile/entries/")) {
        headers.vary = "accept-encoding";
        if (
          /(?:^|[\s,])gzip(?:\s*;\s*q=(?!0(?:\.0*)?\s*(?:,|$))[0-9.]+)?\s*(?:,|$)/i.test(
            String(req.headers["accept-encoding"] ?? ""),
          )
        ) {
          data = gzipSync(data);
          headers["content-encoding"] = "gzip";
        }
      }
      res.writeHead(200, { ...headers, "content-length": String(data.length) });
      res.end(req.method === "HEAD" ? undefined : data);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  return new Promise((done, reject) => {
    server.once("error", (cause) =>
      reject(new UpdateError("BAD_INPUT", `cannot listen on ${host}:${port}: ${(cause as Error).message}`, { cause })),
    );
    server.listen(port, host, () => done(server));
  });
}

function decodeURIComponentSafe(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}
