/**
 * Endpoint keys and enrolment tokens. An endpoint key is `vgk_<endpointId>.<secret>`: the id
 * names the row, the secret (32 random bytes, base64url) is checked against its stored sha256
 * in constant time. Enrolment tokens are `vet_<secret>`, stored as sha256 too. Neither value is
 * ever stored or logged in clear.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import type { AppEnv, ServerContext } from "../context.js";
import { ServerError } from "../error.js";
import { limiters } from "./ratelimit.js";
import { safeEqual, sha256Hex } from "./session.js";

const KEY_RE = /^vgk_([0-9a-f-]{36})\.([A-Za-z0-9_-]{43})$/;

export function newEndpointKey(): { endpointId: string; key: string; keyHash: string } {
  const endpointId = randomUUID();
  const secret = randomBytes(32).toString("base64url");
  return { endpointId, key: `vgk_${endpointId}.${secret}`, keyHash: sha256Hex(secret) };
}

export function parseEndpointKey(key: string): { endpointId: string; secret: string } | undefined {
  const m = KEY_RE.exec(key);
  return m ? { endpointId: m[1]!, secret: m[2]! } : undefined;
}

export function newEnrollmentToken(): { token: string; id: string } {
  const token = `vet_${randomBytes(32).toString("base64url")}`;
  return { token, id: sha256Hex(token) };
}

/**
 * Authenticates `Authorization: Bearer <endpoint key>`, sets c.var.endpointId and applies the
 * per-endpoint rate limit. Unknown, malformed and revoked keys all get 401.
 */
export function endpointAuth(ctx: ServerContext): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "");
    const parsed = m ? parseEndpointKey(m[1]!) : undefined;
    if (!parsed) {
      c.header("WWW-Authenticate", 'Bearer realm="vigil"');
      throw new ServerError(
        "SERVER_UNAUTHORIZED",
        "missing or malformed endpoint key: send 'Authorization: Bearer vgk_<id>.<secret>'",
      );
    }
    const row = await ctx.store.db
      .selectFrom("endpoints")
      .select(["key_hash", "revoked_at"])
      .where("id", "=", parsed.endpointId)
      .executeTakeFirst();
    if (!row || !safeEqual(row.key_hash, sha256Hex(parsed.secret))) {
      c.header("WWW-Authenticate", 'Bearer realm="vigil"');
      throw new ServerError("SERVER_UNAUTHORIZED", "unknown endpoint key");
    }
    if (row.revoked_at !== null) {
      c.header("WWW-Authenticate", 'Bearer realm="vigil", error="invalid_token"');
      throw new ServerError("SERVER_UNAUTHORIZED", "this endpoint's key was revoked; enrol again with a new token");
    }
    c.set("endpointId", parsed.endpointId);
    limiters(ctx).endpoint.check(parsed.endpointId, "endpoint");
    await next();
  };
}
