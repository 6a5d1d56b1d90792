/**
 * `/api/v1/*`: the routes agents call (schemas: @vigil/protocol). Enrolment exchanges a
 * one-time token for an endpoint key; every other route authenticates that key and takes the
 * endpoint's id from it, never from the body or the URL, so an endpoint can only touch its own
 * rows. The server applies the data policy on arrival too: fields the policy does not allow
 * (path, hostname, scan summaries) are dropped even if an agent sends them. The heartbeat's
 * answer hands the endpoint its queued remote actions (services/actions.ts), whose results come
 * back on /actions/:id/result.
 */
import { createHash, randomUUID } from "node:crypto";
import { mkdir, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Hono } from "hono";
import * as protocol from "@vigil/protocol";
import type { AppEnv, ServerContext } from "../context.js";
import { ServerError } from "../error.js";
import { clientIp, readJson } from "../http.js";
import { endpointAuth } from "../auth/keys.js";
import { limiters } from "../auth/ratelimit.js";
import {
  deliverActions,
  enrollEndpoint,
  getPolicy,
  getSignedPolicy,
  recordActionResult,
  recordHeartbeat,
  reputationByPrefix,
  storeDetections,
  storeInventory,
  storeScans,
} from "../services/index.js";

export function endpointApi(ctx: ServerContext): Hono<AppEnv> {
  const api = new Hono<AppEnv>();
  api.post("/enroll", async (c) => {
    limiters(ctx).enroll.check(clientIp(c), "enrolment");
    const req = await readJson(c, protocol.EnrollRequest);
    const { endpointId, key } = await enrollEndpoint(ctx, req);
    const body: protocol.EnrollResponse = {
      endpointId,
      key,
      policyKey: ctx.signer.publicKey,
      policyKeyId: ctx.signer.keyId,
      policy: await getSignedPolicy(ctx, endpointId),
    };
    return c.json(body, 201);
  });

  api.use("/*", async (c, next) => {
    if (c.req.path.endsWith("/enroll")) return next();
    return endpointAuth(ctx)(c, next);
  });

  // the answer carries the endpoint's waiting remote actions, to agents that announce actionKinds
  api.post("/heartbeat", async (c) => {
    const hb = await readJson(c, protocol.Heartbeat);
    const id = c.get("endpointId");
    const res: protocol.HeartbeatResponse = await recordHeartbeat(ctx, id, hb);
    const actions = await deliverActions(ctx, id, hb.actionKinds, hb.agentVersion);
    return c.json(actions.length ? { ...res, actions } : res);
  });

  api.post("/actions/:id/result", async (c) => {
    const result = await readJson(c, protocol.ActionResult);
    return c.json(
      (await recordActionResult(
        ctx,
        c.get("endpointId"),
        c.req.param("id"),
        result,
      )) satisfies protocol.ActionResultResponse,
    );
  });

  api.post("/detections", async (c) => {
    const batch = await readJson(c, protocol.DetectionBatch);
    return c.json((await storeDetections(ctx, c.get("endpointId"), batch.detections)) satisfies protocol.BatchResponse);
  });

  // scan summaries the policy does not collect are not stored
  api.post("/scans", async (c) => {
    const batch = await readJson(c, protocol.ScanBatch);
    return c.json((await storeScans(ctx, c.get("endpointId"), batch.scans)) satisfies protocol.BatchResponse);
  });

  api.get("/reputation/:prefix", async (c) => {
    const prefix = c.req.param("prefix");
    if (!/^[0-9a-f]{5}$/.test(prefix)) {
      throw new ServerError(
        "SERVER_BAD_REQUEST",
        "the prefix is the first 5 lowercase hex digits (20 bits) of a sha256; never send a full hash",
        { path: "prefix" },
      );
    }
    const policy = await getPolicy(ctx, c.get("endpointId"));
    if (!policy.reputation.enabled)
      throw new ServerError("SERVER_POLICY_DENIED", "reputation lookups are off in the organisation's policy");
    return c.json(await reputationByPrefix(ctx, prefix));
  });

  // the endpoint's effective policy (the default with its groups' fields), signed
  api.get("/policy", async (c) => c.json(await getSignedPolicy(ctx, c.get("endpointId"))));

  // the whole inventory, replacing the previous one (403 when the policy does not collect it)
  api.post("/inventory", async (c) => {
    const id = c.get("endpointId");
    // refused before the (possibly large) body is parsed
    if (!(await getPolicy(ctx, id)).send.inventory)
      throw new ServerError("SERVER_POLICY_DENIED", "inventory reports are off in the organisation's policy");
    const report = await readJson(c, protocol.InventoryReport);
    return c.json((await storeInventory(ctx, id, report)) satisfies protocol.InventoryResponse);
  });

  api.post("/samples", async (c) => {
    const id = c.get("endpointId");
    const policy = await getPolicy(ctx, id);
    if (!policy.samples.enabled)
      throw new ServerError("SERVER_POLICY_DENIED", "sample upload is off in the organisation's policy");
    const sha = c.req.query("sha256") ?? "";
    const type = c.req.query("type") ?? "";
    if (!/^[0-9a-f]{64}$/.test(sha))
      throw new ServerError("SERVER_BAD_REQUEST", "query parameter sha256: a lowercase hex sha256", { path: "sha256" });
    if (!(policy.samples.fileTypes as string[]).includes(type)) {
      throw new ServerError(
        "SERVER_POLICY_DENIED",
        `file type '${type.slice(0, 20)}' is not allowed for samples (allowed: ${policy.samples.fileTypes.join(", ") || "none"})`,
      );
    }
    const limit = Math.min(policy.samples.maxBytes, ctx.config.maxSampleBytes);
    const declared = Number(c.req.header("content-length") ?? NaN);
    if (declared > limit)
      throw new ServerError("SERVER_TOO_LARGE", `the sample is ${declared} bytes, over the ${limit}-byte limit`);
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
    if (hash.digest("hex") !== sha)
      throw new ServerError("SERVER_BAD_REQUEST", "the body's sha256 does not match the sha256 parameter", {
        path: "sha256",
      });
    const dir = join(ctx.config.dataDir, "samples", sha.slice(0, 2));
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, sha);
    const exists = await stat(file).then(
      () => true,
      () => false,
    );
    if (!exists) {
      const tmp = `${file}.${randomUUID()}.tmp`;
      await writeFile(tmp, Buffer.concat(chunks), { mode: 0o600 });
      await rename(tmp, file);
      await writeFile(
        `${file}.json`,
        JSON.stringify({ sha256: sha, size, type, endpointId: id, receivedAt: ctx.now() }) + "\n",
        { mode: 0o600 },
      );
    }
    ctx.log.info({ endpoint: id, size, type }, "sample stored");
    return c.json({ stored: true as const, sha256: sha, size }, 201);
  });

  return api;
}
