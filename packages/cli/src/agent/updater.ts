/**
 * The agent's update checks through the verified update client (@vigil/updates `update()`).
 * The update client fetches the log's checkpoint, tiles and bundles itself; so that those
 * requests are in the agent's outbound ledger like every other, an http(s) source is reached
 * through a short-lived relay on 127.0.0.1 that forwards each GET with the agent's ledgered
 * client (no endpoint key: the update mirror is public) and hands the answer back unchanged.
 * All verification stays in update(): the relay only moves bytes.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { parseCheckpoint } from "@vigil/tlog";
import { LIMITS, UpdateError, loadState, update, validatePolicy, type TrustPolicy } from "@vigil/updates";
import { agent } from "@vigil/scanner";

/** Update errors that mean "could not check" rather than "a security check refused the update". */
const FAILURES = new Set(["bad-input", "bad-policy", "fetch-failed", "transport-damaged", "apply-failed", "too-large"]);

export interface UpdaterOptions {
  /** The update client's state directory (bundles, accepted checkpoint). */
  stateDir: string;
  /** Log base URL (http/https) or a directory. */
  source: string;
  trustPolicy: unknown;
  client: agent.AgentClient;
}

function checkpointRef(note: string | null): agent.CheckpointRef | null {
  if (!note) return null;
  try {
    const cp = parseCheckpoint(note.slice(0, note.indexOf("\n\n") + 1));
    return { origin: cp.origin.slice(0, 256), size: Number(cp.size), rootHash: Buffer.from(cp.rootHash).toString("base64") };
  } catch {
    return null;
  }
}

/** Serves GET /<path> on 127.0.0.1 by fetching base + path through the ledgered client. */
async function startRelay(base: string, client: agent.AgentClient): Promise<{ url: string; close: () => Promise<void> }> {
  const root = base.endsWith("/") ? base : base + "/";
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").replace(/^\/+/, "");
    if (req.method !== "GET" || !path || path.split("/").some((c) => c === ".." || c === "") || /[?#]/.test(path)) {
      res.writeHead(400).end();
      return;
    }
    client.send("GET", root + path, { auth: false, maxResponseBytes: LIMITS.bundle, timeoutMs: 300_000 }).then(
      (r) => {
        res.writeHead(r.status, { "content-length": String(r.body.length), "content-type": r.headers.get("content-type") ?? "application/octet-stream" });
        res.end(r.body);
      },
      (err: Error) => {
        res.writeHead(502, { "content-type": "text/plain" });
        res.end(err.message);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

export function verifiedUpdater(o: UpdaterOptions): agent.Updater {
  let policy: TrustPolicy | undefined;
  return {
    async check(): Promise<agent.UpdateCheck> {
      const before = await loadState(o.stateDir).catch(() => null);
      try {
        policy ??= validatePolicy(o.trustPolicy);
      } catch (err) {
        return { status: "failed", message: (err as Error).message, checkpoint: checkpointRef(before?.checkpoint ?? null) };
      }
      const remote = /^https?:\/\//i.test(o.source);
      const relay = remote ? await startRelay(o.source, o.client) : undefined;
      try {
        const r = await update({ source: relay ? relay.url : o.source, stateDir: o.stateDir, policy });
        const after = await loadState(o.stateDir);
        return {
          status: r.status,
          message: r.status === "applied" ? `applied version ${r.version}${r.previousVersion !== null ? ` (was ${r.previousVersion})` : ""}` : `up to date (version ${r.version})`,
          checkpoint: checkpointRef(after.checkpoint),
        };
      } catch (err) {
        const cp = checkpointRef((await loadState(o.stateDir).catch(() => null))?.checkpoint ?? null);
        if (err instanceof UpdateError) {
          return { status: FAILURES.has(err.code) ? "failed" : "refused", message: `[${err.code}] ${err.message}`.replace(relay?.url ?? "\0", o.source.endsWith("/") ? o.source : o.source + "/"), checkpoint: cp };
        }
        return { status: "failed", message: (err as Error).message, checkpoint: cp };
      } finally {
        await relay?.close();
      }
    },
    async current() {
      const s = await loadState(o.stateDir).catch(() => null);
      if (!s?.current) return null;
      return { dir: join(o.stateDir, "bundles", s.current.dir), version: `${s.current.name}-${s.current.version}` };
    },
    async checkpoint() {
      const s = await loadState(o.stateDir).catch(() => null);
      return checkpointRef(s?.checkpoint ?? null);
    },
  };
}

/** The updater an agent's configuration asks for, or undefined when updates are not configured. */
export function updaterFor(a: { dir: string; config: agent.AgentConfig; client: agent.AgentClient }): agent.Updater | undefined {
  const u = a.config.updates;
  if (!u.trustPolicy) return undefined;
  const source = u.source ?? new URL("updates/", a.config.server.endsWith("/") ? a.config.server : a.config.server + "/").href;
  return verifiedUpdater({ stateDir: join(a.dir, "updates"), source, trustPolicy: u.trustPolicy, client: a.client });
}
