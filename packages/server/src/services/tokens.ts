/**
 * Enrolment tokens: an admin creates one (label, lifetime, number of uses) and hands it to the
 * person installing agents; `vigil agent enroll URL TOKEN` exchanges it for an endpoint key.
 * Only the token's sha256 is stored; taking a use is one atomic UPDATE, so two agents racing for
 * the last use cannot both win, on either database.
 */
import type { Actor, ServerContext } from "../context.js";
import { ServerError } from "../error.js";
import { newEnrollmentToken } from "../auth/keys.js";
import { sha256Hex } from "../auth/session.js";
import { audit } from "./audit.js";

export interface TokenRequest {
  label: string;
  /** Lifetime in hours (default 24, at most a year). */
  ttlHours?: number | undefined;
  /** How many endpoints may enrol with it (default 1). */
  uses?: number | undefined;
}

export interface CreatedToken {
  /** The token itself: shown once, never stored. */
  token: string;
  id: string;
  label: string;
  uses: number;
  expiresAt: number;
}

export interface TokenInfo {
  id: string;
  label: string;
  createdBy: string;
  createdAt: number;
  expiresAt: number;
  usesLeft: number;
  lastUsedAt: number | null;
  /** "active", "used" (no uses left) or "expired". */
  state: "active" | "used" | "expired";
}

export async function createEnrollmentToken(
  ctx: ServerContext,
  req: TokenRequest,
  actor: Actor,
): Promise<CreatedToken> {
  const label = req.label.trim();
  if (!label || label.length > 200)
    throw new ServerError("SERVER_BAD_REQUEST", "a token needs a label of 1 to 200 characters", { path: "label" });
  const ttlHours = req.ttlHours ?? 24;
  const uses = req.uses ?? 1;
  if (!(ttlHours > 0 && ttlHours <= 24 * 366))
    throw new ServerError("SERVER_BAD_REQUEST", "ttlHours must be more than 0 and at most 8784 (a year)", {
      path: "ttlHours",
    });
  if (!Number.isInteger(uses) || uses < 1 || uses > 100_000)
    throw new ServerError("SERVER_BAD_REQUEST", "uses must be an integer from 1 to 100000", { path: "uses" });
  const { token, id } = newEnrollmentToken();
  const now = ctx.now();
  const expiresAt = now + Math.round(ttlHours * 3_600_000);
  await ctx.store.db
    .insertInto("enrollment_tokens")
    .values({
      id,
      label,
      created_by: actor.username,
      created_at: now,
      expires_at: expiresAt,
      uses_left: uses,
      last_used_at: null,
    })
    .execute();
  await audit(ctx, { actor, action: "token.create", target: label, detail: { id: id.slice(0, 12), uses, expiresAt } });
  return { token, id, label, uses, expiresAt };
}

export async function listEnrollmentTokens(ctx: ServerContext): Promise<TokenInfo[]> {
  const rows = await ctx.store.db
    .selectFrom("enrollment_tokens")
    .selectAll()
    .orderBy("created_at", "desc")
    .limit(1000)
    .execute();
  const now = ctx.now();
  return rows.map((r) => ({
    id: r.id,
    label: r.label,
    createdBy: r.created_by,
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
    usesLeft: Number(r.uses_left),
    lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at),
    state: Number(r.uses_left) <= 0 ? "used" : Number(r.expires_at) <= now ? "expired" : "active",
  }));
}

/** Withdraws a token (no uses left). */
export async function revokeEnrollmentToken(ctx: ServerContext, id: string, actor: Actor): Promise<void> {
  const r = await ctx.store.db
    .updateTable("enrollment_tokens")
    .set({ uses_left: 0 })
    .where("id", "=", id)
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) !== 1) throw new ServerError("SERVER_NOT_FOUND", "no such enrolment token");
  await audit(ctx, { actor, action: "token.revoke", target: id.slice(0, 12) });
}

/** Takes one use of a token; returns its label, or throws SERVER_TOKEN_INVALID (unknown, used up or expired). */
export async function consumeEnrollmentToken(ctx: ServerContext, token: string): Promise<string> {
  const id = sha256Hex(token);
  const now = ctx.now();
  const r = await ctx.store.db
    .updateTable("enrollment_tokens")
    .set((eb) => ({ uses_left: eb("uses_left", "-", 1), last_used_at: now }))
    .where("id", "=", id)
    .where("uses_left", ">", 0)
    .where("expires_at", ">", now)
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) !== 1)
    throw new ServerError(
      "SERVER_TOKEN_INVALID",
      "the enrolment token is unknown, used up or expired; ask an admin for a new one",
    );
  const row = await ctx.store.db
    .selectFrom("enrollment_tokens")
    .select("label")
    .where("id", "=", id)
    .executeTakeFirst();
  return row?.label ?? "";
}
