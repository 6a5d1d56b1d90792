/**
 * The network between an agent and its server, for the agent tests: forwards every request to
 * `target` and records it as forwarded (method, path, sha256 and size of the body, status). While
 * stopped its port refuses connections, as an unreachable server does; it restarts on the same
 * port. `rewrite` can change a response body on the way back (to tamper with the policy).
 */
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface Seen {
  method: string;
  path: string;
  sha256: string;
  bytes: number;
  status: number;
  body: string;
}

export class Relay {
  seen: Seen[] = [];
  target = "";
  port = 0;
  /** Rewrites a response body (path, body) -> new body. */
  rewrite: ((path: string, body: Buffer) => Buffer) | undefined;
  private server: Server | undefined;

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks);
        const headers: Record<string, string> = {};
        for (const h of ["authorization", "content-type", "accept"])
          if (req.headers[h]) headers[h] = String(req.headers[h]);
        fetch(this.target + req.url, {
          method: req.method,
          headers,
          redirect: "manual",
          ...(body.length || (req.method !== "GET" && req.method !== "HEAD") ? { body } : {}),
        })
          .then(async (r) => {
            let out: Buffer = Buffer.from(await r.arrayBuffer());
            if (this.rewrite) out = this.rewrite(req.url ?? "", out);
            this.seen.push({
              method: req.method ?? "",
              path: req.url ?? "",
              sha256: createHash("sha256").update(body).digest("hex"),
              bytes: body.length,
              status: r.status,
              body: body.toString("utf8"),
            });
            res.writeHead(r.status, {
              "content-type": r.headers.get("content-type") ?? "application/octet-stream",
              "content-length": String(out.length),
            });
            res.end(out);
          })
          .catch((err: Error) => {
            res.writeHead(502).end(err.message);
          });
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s)
      await new Promise<void>((resolve) => {
        s.closeAllConnections();
        s.close(() => resolve());
      });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
}
