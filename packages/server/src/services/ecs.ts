/**
 * Alerts in Elastic Common Schema (ECS 8.x): `alertToEcs` maps an alert to one JSON document,
 * written as one line (JSON lines / NDJSON) to the file `alertEcs.file` for each new alert (the
 * outbox channel `ecs`, services/forward.ts), and served by `GET /api/admin/alerts?format=ecs`
 * for the alerts a filter selects (services/export.ts). Fields: `@timestamp` (first seen),
 * `event.kind` alert, `event.category` [malware], `event.type` [info], `event.severity` (low 21,
 * medium 47, high 73, critical 99, as Elastic's detection rules grade), `event.id` (the alert
 * id), `event.start`/`event.end` (first and last seen), `event.created`, `host.id` (endpoint),
 * `host.name` (when the data policy let the hostname be stored), `file.hash.sha256`, `file.path`
 * and `file.name` (only when the policy allowed paths), `rule.name` (the rule), `rule.version`
 * (the bundle), `threat.software.name` (the signature name the endpoint showed),
 * `threat.indicator.*` (the file hash), `observer.*`, and `vigil.*` for the rest (state, who
 * moved it, count, the agent's action). The file is rotated at `maxBytes` to FILE.1, FILE.2, ...
 * keeping `keep` of them, as log shippers (Filebeat, Elastic Agent, Wazuh's logcollector,
 * Splunk's forwarder, Graylog's sidecar) expect.
 */
import { appendFile, rename, stat, unlink } from "node:fs/promises";
import { basename, resolve } from "node:path";
import type { AlertEcsConfig } from "../context.js";
import { ServerError } from "../error.js";
import type { ForwardedAlert, Sink } from "./forward.js";

export const ECS_VERSION = "8.11.0";
const SEVERITY_SCORE = { low: 21, medium: 47, high: 73, critical: 99 } as const;

const iso = (ms: number) => new Date(ms).toISOString();

/** One ECS document for an alert; `now` is event.created. */
export function alertToEcs(a: ForwardedAlert, now: number): Record<string, unknown> {
  const file: Record<string, unknown> = { hash: { sha256: a.sha256 } };
  if (a.path) {
    file.path = a.path;
    file.name = basename(a.path.replace(/\\/g, "/"));
  }
  return {
    "@timestamp": iso(a.firstSeen),
    ecs: { version: ECS_VERSION },
    message: `${a.name} (${a.severity}) on ${a.hostname ?? a.endpointId}: ${a.path ?? a.sha256}`,
    event: {
      kind: "alert",
      category: ["malware"],
      type: ["info"],
      severity: SEVERITY_SCORE[a.severity],
      id: a.id,
      module: "vigil",
      dataset: "vigil.alert",
      provider: "vigil-server",
      start: iso(a.firstSeen),
      end: iso(a.lastSeen),
      created: iso(now),
      ...(a.action ? { action: a.action } : {}),
    },
    host: { id: a.endpointId, ...(a.hostname ? { name: a.hostname } : {}) },
    file,
    rule: { name: a.rule, ...(a.bundleVersion ? { version: a.bundleVersion } : {}) },
    threat: {
      software: { name: a.name },
      indicator: { type: "file", file: { hash: { sha256: a.sha256 } } },
    },
    observer: { vendor: "Vigil", product: "Vigil server", type: "antivirus" },
    vigil: {
      alert: {
        id: a.id,
        state: a.state,
        stateBy: a.stateBy,
        stateAt: a.stateAt === null ? null : iso(a.stateAt),
        count: a.count,
        severity: a.severity,
      },
      signature: a.name,
      endpointId: a.endpointId,
      action: a.action,
      bundleVersion: a.bundleVersion,
    },
  };
}

/** Refuses a configuration that could not work, saying what to fix. */
export function checkEcsConfig(c: AlertEcsConfig): void {
  if (!c.file) throw new ServerError("SERVER_CONFIG", "alert ECS file: give a file path");
  if (c.maxBytes !== undefined && (!Number.isFinite(c.maxBytes) || c.maxBytes < 4096))
    throw new ServerError("SERVER_CONFIG", "alert ECS file: rotate at 4096 bytes or more");
  if (c.keep !== undefined && (!Number.isInteger(c.keep) || c.keep < 1 || c.keep > 100))
    throw new ServerError("SERVER_CONFIG", "alert ECS file: keep 1 to 100 rotated files");
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw err;
  }
}

/** Moves FILE to FILE.1 (FILE.1 to FILE.2, ...), dropping the oldest beyond `keep`. */
async function rotate(file: string, keep: number): Promise<void> {
  await unlink(`${file}.${keep}`).catch(() => {});
  for (let i = keep - 1; i >= 1; i--) await rename(`${file}.${i}`, `${file}.${i + 1}`).catch(() => {});
  await rename(file, `${file}.1`).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "ENOENT") throw err;
  });
}

/** The ECS file as an outbox sink: one line appended per alert (one write, O_APPEND). */
export function ecsFileSink(c: AlertEcsConfig, now: () => number): Sink {
  const file = resolve(c.file);
  const maxBytes = c.maxBytes ?? 100 * 1024 * 1024;
  const keep = c.keep ?? 5;
  return {
    maxAttempts: 10,
    backoffMs: 5_000,
    async send(alert) {
      const line = `${JSON.stringify(alertToEcs(alert, now()))}\n`;
      const size = await sizeOf(file);
      if (size > 0 && size + Buffer.byteLength(line) > maxBytes) await rotate(file, keep);
      await appendFile(file, line, { mode: 0o640 });
    },
  };
}
