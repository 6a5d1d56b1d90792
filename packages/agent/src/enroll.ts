/**
 * Enrolment: exchanges a one-time token for an endpoint key. The policy that comes with the
 * answer is verified against the policy key the answer also carries (pinned from then on), and
 * agent.json (mode 0600) and policy.json are written. Re-enrolling keeps the endpoint's other
 * settings (scan, watch, ceiling); a ceiling that forbids the host name keeps it out of the request.
 */
import { arch, hostname as osHostname, release } from "node:os";
import { EnrollResponse, type EnrollRequest, type OsInfo } from "@vigil/protocol";
import { AgentClient, AgentHttpError } from "./client.js";
import { AGENT_VERSION, AgentFiles, type AgentConfig } from "./config.js";
import { AgentError } from "./error.js";
import { Ledger } from "./ledger.js";
import { verifyPolicy, type DataCeiling } from "./policy.js";

export type LogLevel = "info" | "warn" | "error";

export interface EnrollOptions {
  dir: string;
  server: string;
  token: string;
  hostname?: string;
  /** Tags for the server's groups (default: those of an earlier enrolment's configuration). */
  tags?: string[];
  log?: (level: LogLevel, message: string) => void;
}

export function osInfo(): OsInfo {
  return { platform: process.platform, release: release().slice(0, 256), arch: arch() };
}

/** Enrols the endpoint whose state directory is `o.dir` with the server; returns the saved configuration. */
export async function enroll(o: EnrollOptions): Promise<AgentConfig> {
  const files = new AgentFiles(o.dir);
  files.ensureDir();
  const old = files.tryConfig();
  const ceiling: DataCeiling | undefined = old?.ceiling;
  const ledger = new Ledger(o.dir);
  const client = new AgentClient({ server: o.server, ledger });
  const body: EnrollRequest = {
    token: o.token,
    os: osInfo(),
    agentVersion: AGENT_VERSION,
    tags: o.tags ?? old?.tags ?? [],
    ...(ceiling?.hostname === false ? {} : { hostname: (o.hostname ?? old?.hostname ?? osHostname()).slice(0, 256) }),
  };
  let res: EnrollResponse;
  try {
    res = await client.json("POST", "api/v1/enroll", EnrollResponse, { body, auth: false });
  } catch (err) {
    if (
      err instanceof AgentHttpError &&
      (err.status === 401 || err.status === 403 || err.status === 400 || err.status === 404)
    ) {
      throw new AgentError(
        "AGENT_HTTP",
        `enrolment refused: ${err.status === 401 || err.status === 403 ? "the token is unknown, used up or expired" : err.message}; ask an administrator for a new token`,
        { cause: err },
      );
    }
    throw err;
  }
  const pinned = { key: res.policyKey, keyId: res.policyKeyId };
  const policy = verifyPolicy(res.policy, pinned);
  const config = {
    ...(old ?? {}),
    format: "vigil-agent/v1" as const,
    server: o.server,
    endpointId: res.endpointId,
    key: res.key,
    policyKey: res.policyKey,
    policyKeyId: res.policyKeyId,
    enrolledAt: Date.now(),
    hostname: o.hostname ?? old?.hostname ?? null,
    tags: o.tags ?? old?.tags ?? [],
  };
  files.saveConfig(config as AgentConfig);
  files.savePolicy({ signed: res.policy, version: policy.version, acceptedAt: Date.now() });
  o.log?.("info", `enrolled as ${res.endpointId} with ${o.server}`);
  return files.config();
}
