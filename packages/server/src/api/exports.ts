/**
 * The export of each admin API list (services/export.ts): which query, which row shape, which
 * CSV columns. A list route calls `exportIfAsked` with the filters it parsed; when the request
 * has `?format=`, the reply is the streamed export of every row those filters select.
 */
import type { Context } from "hono";
import type { AppEnv, ServerContext } from "../context.js";
import { actorOf } from "../auth/session.js";
import { alertInfo, alertsOrdered, type AlertInfo, type AlertQuery } from "../services/alerts.js";
import { auditOrdered, auditRecord, type AuditQuery, type AuditRecord } from "../services/audit.js";
import { detectionInfo, detectionsOrdered, type DetectionInfo, type DetectionQuery } from "../services/detections.js";
import { alertToEcs } from "../services/ecs.js";
import {
  endpointInfo,
  endpointsOrdered,
  statusThresholds,
  type EndpointInfo,
  type EndpointQuery,
} from "../services/endpoints.js";
import { exportFormat, exportResponse } from "../services/export.js";
import {
  findingInfo,
  findingsOrdered,
  inventoryItemInfo,
  inventoryOrdered,
  type FindingQuery,
  type InventoryFindingInfo,
  type InventoryItemInfo,
  type InventoryQuery,
} from "../services/inventory.js";
import { scanInfo, scansOrdered, type ScanInfo, type ScanQuery } from "../services/scans.js";

const cols = <T>(...keys: (keyof T & string)[]) => keys;

const ALERT_COLUMNS = cols<AlertInfo>(
  "id",
  "endpointId",
  "hostname",
  "sha256",
  "rule",
  "name",
  "severity",
  "firstSeen",
  "lastSeen",
  "count",
  "state",
  "stateBy",
  "stateAt",
);
const DETECTION_COLUMNS = cols<DetectionInfo>(
  "id",
  "endpointId",
  "hostname",
  "clientId",
  "time",
  "receivedAt",
  "name",
  "rule",
  "severity",
  "bundleVersion",
  "sha256",
  "size",
  "fileType",
  "action",
  "path",
);
const ENDPOINT_COLUMNS = cols<EndpointInfo>(
  "id",
  "hostname",
  "os",
  "agentVersion",
  "rulesVersion",
  "checkpoint",
  "ledger",
  "enrolledAt",
  "enrolledWith",
  "lastSeen",
  "revokedAt",
  "revokedBy",
  "status",
);
const AUDIT_COLUMNS = cols<AuditRecord>("id", "time", "userId", "username", "action", "target", "detail", "ip");
const SCAN_COLUMNS = cols<ScanInfo>(
  "id",
  "endpointId",
  "clientId",
  "startedAt",
  "finishedAt",
  "kind",
  "files",
  "bytes",
  "detections",
  "errors",
  "bundleVersion",
);
const INVENTORY_COLUMNS = cols<InventoryItemInfo>(
  "endpointId",
  "hostname",
  "name",
  "version",
  "vendor",
  "source",
  "installedAt",
  "installPath",
  "firstSeen",
  "lastSeen",
);
const FINDING_COLUMNS = cols<InventoryFindingInfo>(
  "endpointId",
  "hostname",
  "status",
  "packId",
  "packVersion",
  "vendor",
  "subject",
  "evidence",
  "inForceSince",
  "firstSeen",
  "lastSeen",
);

export type ExportRequest =
  | { list: "alerts"; query: AlertQuery }
  | { list: "detections"; query: DetectionQuery }
  | { list: "endpoints"; query: EndpointQuery }
  | { list: "audit"; query: AuditQuery }
  | { list: "scans"; query: ScanQuery }
  | { list: "inventory"; query: InventoryQuery }
  | { list: "findings"; query: FindingQuery };

const withoutPaging = <Q extends { limit?: unknown; offset?: unknown }>(q: Q) => {
  const { limit: _l, offset: _o, ...rest } = q;
  return Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
};

/**
 * The export of a short list a console page already holds (hash lookups, the update log's
 * bundles), when the request asks for one; columns are the first row's keys or `columns`.
 */
export async function exportRowsIfAsked(
  ctx: ServerContext,
  c: Context<AppEnv>,
  list: string,
  filters: Record<string, unknown>,
  columns: readonly string[],
  rows: () => Promise<Record<string, unknown>[]>,
): Promise<Response | undefined> {
  const format = exportFormat(c.req.query("format"));
  if (!format) return undefined;
  return exportResponse(ctx, actorOf(c), { list, format, filters, columns, rows: await rows(), map: (r) => r });
}

/** The streamed export when the request asks for one (`?format=`), else undefined. */
export async function exportIfAsked(
  ctx: ServerContext,
  c: Context<AppEnv>,
  req: ExportRequest,
): Promise<Response | undefined> {
  const format = exportFormat(c.req.query("format"), req.list === "alerts");
  if (!format) return undefined;
  const db = ctx.store.db;
  const actor = actorOf(c);
  const filters = withoutPaging(req.query);
  const base = { list: req.list, format, filters };
  switch (req.list) {
    case "alerts": {
      if (format === "ecs") {
        // the latest detection's path, action and bundle beside each alert (ECS file.path, ...)
        const query = alertsOrdered(db, req.query).select((eb) => {
          const latest = (col: "path" | "action" | "bundle_version") =>
            eb
              .selectFrom("detections as d")
              .select(`d.${col}`)
              .whereRef("d.endpoint_id", "=", "a.endpoint_id")
              .whereRef("d.sha256", "=", "a.sha256")
              .whereRef("d.rule", "=", "a.rule")
              .orderBy("d.time", "desc")
              .orderBy("d.id", "desc")
              .limit(1);
          return [
            latest("path").as("latest_path"),
            latest("action").as("latest_action"),
            latest("bundle_version").as("latest_bundle"),
          ];
        });
        const now = ctx.now();
        return exportResponse(ctx, actor, {
          ...base,
          query,
          columns: [],
          map: (r) =>
            alertToEcs(
              {
                ...alertInfo({ ...r, hostname: r.hostname ?? null }),
                path: r.latest_path ?? null,
                action: r.latest_action ?? null,
                bundleVersion: r.latest_bundle ?? null,
              },
              now,
            ),
        });
      }
      return exportResponse(ctx, actor, {
        ...base,
        query: alertsOrdered(db, req.query),
        columns: ALERT_COLUMNS,
        map: (r) => ({ ...alertInfo({ ...r, hostname: r.hostname ?? null }) }),
      });
    }
    case "detections":
      return exportResponse(ctx, actor, {
        ...base,
        query: detectionsOrdered(db, req.query),
        columns: DETECTION_COLUMNS,
        map: (r) => ({ ...detectionInfo({ ...r, hostname: r.hostname ?? null }) }),
      });
    case "endpoints": {
      const t = await statusThresholds(ctx);
      return exportResponse(ctx, actor, {
        ...base,
        query: endpointsOrdered(db, req.query, t),
        columns: ENDPOINT_COLUMNS,
        map: (r) => ({ ...endpointInfo(r, t) }),
      });
    }
    case "audit":
      return exportResponse(ctx, actor, {
        ...base,
        query: auditOrdered(db, req.query),
        columns: AUDIT_COLUMNS,
        map: (r) => ({ ...auditRecord(r) }),
      });
    case "scans":
      return exportResponse(ctx, actor, {
        ...base,
        query: scansOrdered(db, req.query),
        columns: SCAN_COLUMNS,
        map: (r) => ({ ...scanInfo(r) }),
      });
    case "inventory":
      return exportResponse(ctx, actor, {
        ...base,
        query: inventoryOrdered(db, req.query),
        columns: INVENTORY_COLUMNS,
        map: (r) => ({ ...inventoryItemInfo({ ...r, hostname: r.hostname ?? null }) }),
      });
    case "findings":
      return exportResponse(ctx, actor, {
        ...base,
        query: findingsOrdered(db, req.query),
        columns: FINDING_COLUMNS,
        map: (r) => ({ ...findingInfo({ ...r, hostname: r.hostname ?? null }) }),
      });
  }
}
