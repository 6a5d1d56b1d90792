/** The dashboard's activity feed: the newest audit entries and detections in one list. */
import type { ServerContext } from "../context.js";
import { listAudit, type AuditRecord } from "./audit.js";
import { listDetections, type DetectionInfo } from "./detections.js";

export type ActivityItem = ({ kind: "audit" } & AuditRecord) | ({ kind: "detection" } & DetectionInfo);

/**
 * The dashboard feed: recent audit entries and recent detections, newest first. Detections are
 * ordered by their time on the endpoint (indexed); one that arrives late, from an agent that was
 * offline, sorts by when it happened.
 */
export async function activityFeed(ctx: ServerContext, limit = 25): Promise<ActivityItem[]> {
  const [entries, detections] = await Promise.all([listAudit(ctx, { limit }), listDetections(ctx, { limit })]);
  const items: ActivityItem[] = [
    ...entries.map((a) => ({ kind: "audit" as const, ...a })),
    ...detections.map((d) => ({ kind: "detection" as const, ...d })),
  ];
  items.sort((a, b) => b.time - a.time);
  return items.slice(0, limit);
}
