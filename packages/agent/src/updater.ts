/**
 * The agent's update checks through the verified update client (@vigil/updates `update()`),
 * which reads the log's checkpoint, tiles and bundles from a `Source`. An http(s) update log is
 * read through `ledgeredSource`: every GET goes out through the agent's AgentClient, so it is in
 * the outbound ledger like every other request (without the endpoint key: the update mirror is
 * public). A directory is read as is. All verification stays in update(); this file only moves
 * bytes and turns the outcome into an `UpdateCheck`.
 */
import { join } from "node:path";
import type { CheckpointRef } from "@vigil/protocol";
import { parseCheckpoint } from "@vigil/tlog";
import {
  UpdateError,
  loadState,
  openSource,
  update,
  validatePolicy,
  type Source,
  type TrustPolicy,
} from "@vigil/updates";
import type { AgentClient } from "./client.js";
import type { AgentConfig } from "./config.js";
import { AgentError } from "./error.js";

/** Update errors that mean "could not check" rather than "a security check refused the update". */
const FAILURES = new Set(["BAD_INPUT", "BAD_POLICY", "FETCH_FAILED", "TRANSPORT_DAMAGED", "APPLY_FAILED", "TOO_LARGE"]);

export interface UpdateCheck {
  /** applied / up-to-date; refused: a security check failed (nothing applied); failed: could not check. */
  status: "applied" | "up-to-date" | "refused" | "failed";
  message: string;
  /** The newest checkpoint this endpoint has verified, after the check. */
  checkpoint: CheckpointRef | null;
  /** Set by the agent: the verified checkpoint differs from the one before the check. */
  changed?: boolean;
}

export function checkpointRef(note: string | null): CheckpointRef | null {
  if (!note) return null;
  try {
    const cp = parseCheckpoint(note.slice(0, note.indexOf("\n\n") + 1));
    return {
      origin: cp.origin.slice(0, 256),
      size: Number(cp.size),
      rootHash: Buffer.from(cp.rootHash).toString("base64"),
    };
  } catch {
    return null;
  }
}

/**
 * The update log at `base` (http/https) read through the agent's ledgered client: a GET per
 * file, redirects not followed, each answer limited to the size update() asks for. Failures are
 * the UpdateError codes every Source uses (`FETCH_FAILED`, `TOO_LARGE`, `BAD_INPUT`); a revoked
 * key or a broken ledger passes through as the AgentError it is.
 */
export function ledgeredSource(base: string, client: AgentClient): Source {
  const root = base.endsWith("/") ? base : base + "/";
  return {
    location: root,
    async get(path: string, maxBytes: number): Promise<Uint8Array> {
      if (
        !path ||
        path.startsWith("/") ||
        path.split("/").some((c) => c === ".." || c === "" || c === ".") ||
        /[?#\\]/.test(path)
      ) {
        throw new UpdateError("BAD_INPUT", `refusing to read ${JSON.stringify(path)}: not a plain relative path`);
      }
      const url = root + path;
      let r;
      try {
        r = await client.send("GET", url, { auth: false, maxResponseBytes: maxBytes, timeoutMs: 300_000 });
      } catch (err) {
        if (err instanceof AgentError && err.code === "LEDGER_BROKEN") throw err;
        // send() throws AGENT_HTTP only when the answer is over the size limit
        if (err instanceof AgentError && err.code === "AGENT_HTTP")
          throw new UpdateError("TOO_LARGE", `${url} is over the ${maxBytes}-byte limit`, { cause: err });
        throw new UpdateError("FETCH_FAILED", `cannot fetch ${url}: ${(err as Error).message}`, { cause: err });
      }
      if (r.status !== 200) throw new UpdateError("FETCH_FAILED", `fetching ${url} gave HTTP ${r.status}`);
      return r.body;
    },
  };
}

export interface AgentUpdatesOptions {
  /** The update client's state directory (bundles, accepted checkpoint). */
  stateDir: string;
  /** Log base URL (http/https, read through `client`) or a directory. */
  source: string;
  trustPolicy: unknown;
  /** A signed trust root to walk from (takes the place of trustPolicy). */
  trustRoot?: string | null;
  client: AgentClient;
}

/** The verified update client as the agent uses it: check, the bundle in force, the last verified checkpoint. */
export class AgentUpdates {
  private policy: TrustPolicy | undefined;
  constructor(private readonly o: AgentUpdatesOptions) {}

  private source(): Source {
    return /^https?:\/\//i.test(this.o.source)
      ? ledgeredSource(this.o.source, this.o.client)
      : openSource(this.o.source);
  }

  /** Runs one update; never throws for a failed or refused update (the status says which). */
  async check(): Promise<UpdateCheck> {
    const { stateDir } = this.o;
    const before = await loadState(stateDir).catch(() => null);
    try {
      if (!this.o.trustRoot) this.policy ??= validatePolicy(this.o.trustPolicy);
    } catch (err) {
      return {
        status: "failed",
        message: (err as Error).message,
        checkpoint: checkpointRef(before?.checkpoint ?? null),
      };
    }
    try {
      const trust = this.o.trustRoot ? { root: this.o.trustRoot } : { policy: this.policy };
      const r = await update({ source: this.source(), stateDir, ...trust });
      const after = await loadState(stateDir);
      return {
        status: r.status,
        message:
          r.status === "applied"
            ? `applied version ${r.version}${r.previousVersion !== null ? ` (was ${r.previousVersion})` : ""}`
            : `up to date (version ${r.version})`,
        checkpoint: checkpointRef(after.checkpoint),
      };
    } catch (err) {
      if (err instanceof AgentError && err.code === "LEDGER_BROKEN") throw err;
      const cp = checkpointRef((await loadState(stateDir).catch(() => null))?.checkpoint ?? null);
      if (err instanceof UpdateError)
        return {
          status: FAILURES.has(err.code) ? "failed" : "refused",
          message: `[${err.code}] ${err.message}`,
          checkpoint: cp,
        };
      return { status: "failed", message: (err as Error).message, checkpoint: cp };
    }
  }

  /** The bundle in force: its directory and a version string, or null before the first update. */
  async current(): Promise<{ dir: string; version: string } | null> {
    const s = await loadState(this.o.stateDir).catch(() => null);
    if (!s?.current) return null;
    return { dir: join(this.o.stateDir, "bundles", s.current.dir), version: `${s.current.name}-${s.current.version}` };
  }

  /** The last verified checkpoint, or null. */
  async checkpoint(): Promise<CheckpointRef | null> {
    const s = await loadState(this.o.stateDir).catch(() => null);
    return checkpointRef(s?.checkpoint ?? null);
  }
}

/** The update client an agent's configuration asks for, or undefined when updates are not configured (no trust policy or root). */
export function updatesFor(a: { dir: string; config: AgentConfig; client: AgentClient }): AgentUpdates | undefined {
  const u = a.config.updates;
  if (!u.trustPolicy && !u.trustRoot) return undefined;
  const source =
    u.source ?? new URL("updates/", a.config.server.endsWith("/") ? a.config.server : a.config.server + "/").href;
  return new AgentUpdates({
    stateDir: join(a.dir, "updates"),
    source,
    trustPolicy: u.trustPolicy,
    trustRoot: u.trustRoot,
    client: a.client,
  });
}
