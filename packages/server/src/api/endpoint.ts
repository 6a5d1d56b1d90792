/**
 * `/api/v1/*`: the routes agents call (schemas: @vigil/protocol). Enrolment exchanges a
 * one-time token for an endpoint key; every other route authenticates that key and takes the
 * endpoint's id from it, never from the body or the URL, so an endpoint can only touch its own
 * rows. The server applies the data policy on arrival too: fields the policy does not allow
 * (path, hostname, scan summaries) are dropped even if an agent sends them.
 */
import { createHash, randomUUID } from "node:crypto";
import { mkdir, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Hono } from "hono";
import * as protocol from "@vigil/protocol";
import type { AppEnv, ServerContext } from "../context.js";
import { ServerError } from "../error.js";
import { clientIp, readJson } from "../http.js";
import { endpointAuth, newEndpointKey } from "../auth/keys.js";
import { limiters } from "../auth/ratelimit.js";
import { consumeEnrollmentToken } from "../services/tokens.js";
import { getPolicy, getSignedPolicy } from "../services/policy.js";
import { prefixOf, reputationByPrefix } from "../services/reputation.js";
import { storeInventory } from "../services/inventory.js";

const HOUR = 3_600_000;

export function endpointApi(ctx: ServerContext): Hono<AppEnv> {
  const api = new Hono<AppEnv>();
  const db = ctx.store.db;
  // the hour each endpoint's presence was last recorded by this process: one insert per hour, not per heartbeat
  const presenceHour = new Map<string, number>();

  api.post("/enroll", async (c) => {
    limiters(ctx).enroll.check(clientIp(c), "enrolment");
    const req = await readJson(c, protocol.EnrollRequest);
    const label = await consumeEnrollmentToken(ctx, req.token);
    const policy = await getPolicy(ctx);
    const { endpointId, key, keyHash } = newEndpointKey();
    await db
      .insertInto("endpoints")
      .values({
        id: endpointId, key_hash: keyHash, hostname: policy.send.hostname ? (req.hostname ?? null) : null, os: JSON.stringify(req.os),
        agent_version: req.agentVersion, rules_version: null, checkpoint_origin: null, checkpoint_size: null, checkpoint_root: null,
        checkpoint_at: null, ledger_entries: null, ledger_head: null, enrolled_at: ctx.now(), enrolled_with: label, last_seen: null,
        revoked_at: null, revoked_by: null,
      })
      .execute();
    ctx.log.info({ endpoint: endpointId, token: label }, "endpoint enrolled");
    const body: protocol.EnrollResponse = {
      endpointId, key, policyKey: ctx.signer.publicKey, policyKeyId: ctx.signer.keyId, policy: await getSignedPolicy(ctx),
    };
    return c.json(body, 201);
  });

  api.use("/*", async (c, next) => {
    if (c.req.path.endsWith("/enroll")) return next();
    return endpointAuth(ctx)(c, next);
  });

  api.post("/heartbeat", async (c) => {
    const id = c.get("endpointId");
    const hb = await readJson(c, protocol.Heartbeat);
    const policy = await getPolicy(ctx);
    const now = ctx.now();
    await db
      .updateTable("endpoints")
      .set({
        agent_version: hb.agentVersion,
        rules_version: hb.rulesVersion,
        os: JSON.stringify(hb.os),
        last_seen: now,
        ...(policy.send.hostname && hb.hostname !== undefined ? { hostname: hb.hostname } : {}),
        ...(!policy.send.hostname ? { hostname: null } : {}),
        ...(hb.checkpoint
          ? { checkpoint_origin: hb.checkpoint.origin, checkpoint_size: hb.checkpoint.size, checkpoint_root: hb.checkpoint.rootHash, checkpoint_at: now }
          : {}),
        ...(hb.ledger ? { ledger_entries: hb.ledger.entries, ledger_head: hb.ledger.head } : {}),
      })
      .where("id", "=", id)
      .execute();
    const hour = Math.floor(now / HOUR);
    if (presenceHour.get(id) !== hour) {
      await db
        .insertInto("endpoint_presence")
        .values({ endpoint_id: id, hour })
        .onConflict((oc) => oc.columns(["endpoint_id", "hour"]).doNothing())
        .execute();
      presenceHour.set(id, hour);
    }
    const body: protocol.HeartbeatResponse = { serverTime: now, policyVersion: policy.version };
    return c.json(body);
  });

  api.post("/detections", async (c) => {
    const id = c.get("endpointId");
    const batch = await readJson(c, protocol.DetectionBatch);
    const policy = await getPolicy(ctx);
    const now = ctx.now();
    const rows = batch.detections.map((d) => ({
      id: randomUUID(), endpoint_id: id, client_id: d.id, time: d.time, received_at: now, rule: d.rule, severity: d.severity,
      bundle_version: d.bundleVersion, sha256: d.sha256, sha256_prefix: prefixOf(d.sha256), size: d.size, file_type: d.fileType,
      action: d.action, path: policy.send.path ? (d.path ?? null) : null,
    }));
    let accepted = 0;
    for (let i = 0; i < rows.length; i += 500) {
      const r = await db
        .insertInto("detections")
        .values(rows.slice(i, i + 500))
        .onConflict((oc) => oc.columns(["endpoint_id", "client_id"]).doNothing())
        .executeTakeFirst();
      accepted += Number(r.numInsertedOrUpdatedRows ?? 0n);
    }
    // ON CONFLICT DO NOTHING also absorbs repeats inside one batch; they count as duplicates
    const body: protocol.BatchResponse = { accepted, duplicates: rows.length - accepted };
    if (accepted > 0) ctx.log.info({ endpoint: id, accepted }, "detections received");
    return c.json(body);
  });

  api.post("/scans", async (c) => {
    const id = c.get("endpointId");
    const batch = await readJson(c, protocol.ScanBatch);
    const policy = await getPolicy(ctx);
    // scan summaries the policy does not collect are not stored
    if (!policy.send.scanSummaries) return c.json({ accepted: 0, duplicates: 0 } satisfies protocol.BatchResponse);
    const rows = batch.scans.map((s) => ({
      id: randomUUID(), endpoint_id: id, client_id: s.id, started_at: s.startedAt, finished_at: s.finishedAt, kind: s.kind,
      files: s.files, bytes: s.bytes, detections: s.detections, errors: s.errors, bundle_version: s.bundleVersion,
    }));
    let accepted = 0;
    for (let i = 0; i < rows.length; i += 500) {
      const r = await db
        .insertInto("scans")
        .values(rows.slice(i, i + 500))
        .onConflict((oc) => oc.columns(["endpoint_id", "client_id"]).doNothing())
        .executeTakeFirst();
      accepted += Number(r.numInsertedOrUpdatedRows ?? 0n);
    }
    return c.json({ accepted, duplicates: rows.length - accepted } satisfies protocol.BatchResponse);
  });

  api.get("/reputation/:prefix", async (c) => {
    const prefix = c.req.param("prefix");
    if (!/^[0-9a-f]{5}$/.test(prefix)) {
      throw new ServerError("SERVER_BAD_REQUEST", "the prefix is the first 5 lowercase hex digits (20 bits) of a sha256; never send a full hash", { path: "prefix" });
    }
    const policy = await getPolicy(ctx);
    if (!policy.reputation.enabled) throw new ServerError("SERVER_POLICY_DENIED", "reputation lookups are off in the organisation's policy");
    return c.json(await reputationByPrefix(ctx, prefix));
  });

  api.get("/policy", async (c) => c.json(await getSignedPolicy(ctx)));

  // the whole inventory, replacing the previous one (403 when the policy does not collect it)
  api.post("/inventory", async (c) => {
    const id = c.get("endpointId");
    // refused before the (possibly large) body is parsed
    if (!(await getPolicy(ctx)).send.inventory) throw new ServerError("SERVER_POLICY_DENIED", "inventory reports are off in the organisation's policy");
    const report = await readJson(c, protocol.InventoryReport);
    return c.json((await storeInventory(ctx, id, report)) satisfies protocol.InventoryResponse);
  });

  api.post("/samples", async (c) => {
    const id = c.get("endpointId");
    const policy = await getPolicy(ctx);
    if (!policy.samples.enabled) throw new ServerError("SERVER_POLICY_DENIED", "sample upload is off in the organisation's policy");
    const sha = c.req.query("sha256") ?? "";
    const type = c.req.query("type") ?? "";
    if (!/^[0-9a-f]{64}$/.test(sha)) throw new ServerError("SERVER_BAD_REQUEST", "query parameter sha256: a lowercase hex sha256", { path: "sha256" });
    if (!(policy.samples.fileTypes as string[]).includes(type)) {
      throw new ServerError("SERVER_POLICY_DENIED", `file type '${type.slice(0, 20)}' is not allowed for samples (allowed: ${policy.samples.fileTypes.join(", ") || "none"})`);
    }
    const limit = Math.min(policy.samples.maxBytes, ctx.config.maxSampleBytes);
    const declared = Number(c.req.header("content-length") ?? NaN);
    if (declared > limit) throw new ServerError("SERVER_TOO_LARGE", `the sample is ${declared} bytes, over the ${limit}-byte limit`);
    const hash = createHash("sha256");
    const chunks: Uint8Array[] = [];
    let size = 0;
    const body = c.req.raw.body;
    if (body) {
      const reader = body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.length;
        if (size > limit) {
          await reader.cancel();
          throw new ServerError("SERVER_TOO_LARGE", `the sample is over the ${limit}-byte limit`);
        }
        hash.update(value);
        chunks.push(value);
      }
    }
    if (size === 0) throw new ServerError("SERVER_BAD_REQUEST", "empty sample body");
    if (hash.digest("hex") !== sha) throw new ServerError("SERVER_BAD_REQUEST", "the body's sha256 does not match the sha256 parameter", { path: "sha256" });
    const dir = join(ctx.config.dataDir, "samples", sha.slice(0, 2));
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, sha);
    const exists = await stat(file).then(() => true, () => false);
    if (!exists) {
      const tmp = `${file}.${randomUUID()}.tmp`;
      await writeFile(tmp, Buffer.concat(chunks), { mode: 0o600 });
      await rename(tmp, file);
      await writeFile(`${file}.json`, JSON.stringify({ sha256: sha, size, type, endpointId: id, receivedAt: ctx.now() }) + "\n", { mode: 0o600 });
    }
    ctx.log.info({ endpoint: id, size, type }, "sample stored");
    return c.json({ stored: true as const, sha256: sha, size }, 201);
  });

  return api;
}
