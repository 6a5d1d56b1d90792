/**
 * People who use the console and the admin API: admin (everything), analyst (reads, adds
 * reputation), viewer (reads). Passwords are scrypt hashes; a generated password is returned
 * once to whoever created the user. The last enabled admin can be neither demoted nor disabled,
 * so the server never locks itself out.
 */
import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import type { Actor, Role, ServerContext } from "../context.js";
import { ServerError } from "../error.js";
import { rmSync } from "node:fs";
import { resolve } from "node:path";
import { DUMMY_HASH, generatePassword, hashPassword, verifyPassword } from "../auth/password.js";
import { audit } from "./audit.js";

export const ROLES: readonly Role[] = ["admin", "analyst", "viewer"];

export interface UserInfo {
  id: string;
  username: string;
  role: Role;
  createdAt: number;
  disabled: boolean;
  /** The last request of any of the user's current sessions. */
  lastSeen: number | null;
}

export interface NewUser {
  username: string;
  role: Role;
  /** When absent a random one is generated and returned. */
  password?: string | undefined;
}

const USERNAME_RE = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

function checkRole(role: string): asserts role is Role {
  if (!ROLES.includes(role as Role))
    throw new ServerError("SERVER_BAD_REQUEST", `role must be one of ${ROLES.join(", ")}`, { path: "role" });
}

export async function listUsers(ctx: ServerContext): Promise<UserInfo[]> {
  const rows = await ctx.store.db
    .selectFrom("users as u")
    .leftJoin("sessions as s", "s.user_id", "u.id")
    .select([
      "u.id",
      "u.username",
      "u.role",
      "u.created_at",
      "u.disabled",
      sql<number | null>`max(s.last_seen)`.as("last"),
    ])
    .groupBy(["u.id", "u.username", "u.role", "u.created_at", "u.disabled"])
    .orderBy("u.username")
    .execute();
  return rows.map((r) => ({
    id: r.id,
    username: r.username,
    role: r.role,
    createdAt: Number(r.created_at),
    disabled: Number(r.disabled) !== 0,
    lastSeen: r.last === null ? null : Number(r.last),
  }));
}

/** Inserts a user without an actor or audit entry: the first admin at startup. Returns false if the name exists. */
export async function insertUser(
  ctx: ServerContext,
  username: string,
  role: Role,
  password: string,
  mustChangePassword = false,
): Promise<boolean> {
  const r = await ctx.store.db
    .insertInto("users")
    .values({
      id: randomUUID(),
      username,
      password_hash: await hashPassword(password),
      role,
      created_at: ctx.now(),
      disabled: 0,
      must_change_password: mustChangePassword ? 1 : 0,
    })
    .onConflict((oc) => oc.column("username").doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0n) === 1;
}

export async function createUser(
  ctx: ServerContext,
  req: NewUser,
  actor: Actor,
): Promise<{ user: UserInfo; password: string }> {
  if (!USERNAME_RE.test(req.username)) {
    throw new ServerError(
      "SERVER_BAD_REQUEST",
      "a username is 1 to 64 letters, digits or . _ @ - and starts with a letter or digit",
      { path: "username" },
    );
  }
  checkRole(req.role);
  const password = req.password ?? generatePassword();
  if (password.length < 12 || password.length > 200)
    throw new ServerError("SERVER_BAD_REQUEST", "a password has 12 to 200 characters", { path: "password" });
  const id = randomUUID();
  const now = ctx.now();
  const r = await ctx.store.db
    .insertInto("users")
    .values({
      id,
      username: req.username,
      password_hash: await hashPassword(password),
      role: req.role,
      created_at: now,
      disabled: 0,
    })
    .onConflict((oc) => oc.column("username").doNothing())
    .executeTakeFirst();
  if (Number(r.numInsertedOrUpdatedRows ?? 0n) !== 1)
    throw new ServerError("SERVER_CONFLICT", `a user named ${req.username} exists`);
  await audit(ctx, { actor, action: "user.create", target: req.username, detail: { role: req.role } });
  return {
    user: { id, username: req.username, role: req.role, createdAt: now, disabled: false, lastSeen: null },
    password,
  };
}

async function userById(ctx: ServerContext, id: string) {
  const row = await ctx.store.db
    .selectFrom("users")
    .select(["id", "username", "role", "disabled"])
    .where("id", "=", id)
    .executeTakeFirst();
  if (!row) throw new ServerError("SERVER_NOT_FOUND", "no such user");
  return row;
}

async function otherEnabledAdmins(ctx: ServerContext, id: string): Promise<number> {
  const r = await ctx.store.db
    .selectFrom("users")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("role", "=", "admin")
    .where("disabled", "=", 0)
    .where("id", "!=", id)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

export async function setUserRole(ctx: ServerContext, userId: string, role: Role, actor: Actor): Promise<void> {
  checkRole(role);
  const row = await userById(ctx, userId);
  if (row.role === "admin" && role !== "admin" && (await otherEnabledAdmins(ctx, userId)) === 0) {
    throw new ServerError("SERVER_CONFLICT", "this is the last admin; make someone else admin first");
  }
  await ctx.store.db.updateTable("users").set({ role }).where("id", "=", userId).execute();
  await audit(ctx, { actor, action: "user.role", target: row.username, detail: { from: row.role, to: role } });
}

/** Disables (or re-enables) a user; disabling also ends their sessions. */
export async function disableUser(ctx: ServerContext, userId: string, actor: Actor, disabled = true): Promise<void> {
  const row = await userById(ctx, userId);
  if (disabled && row.role === "admin" && (await otherEnabledAdmins(ctx, userId)) === 0) {
    throw new ServerError("SERVER_CONFLICT", "this is the last admin; make someone else admin first");
  }
  await ctx.store.db
    .updateTable("users")
    .set({ disabled: disabled ? 1 : 0 })
    .where("id", "=", userId)
    .execute();
  if (disabled) await ctx.store.db.deleteFrom("sessions").where("user_id", "=", userId).execute();
  await audit(ctx, { actor, action: disabled ? "user.disable" : "user.enable", target: row.username });
}

/** Sets a new password (generated when absent) and ends the user's sessions; returns the password. */
export async function resetPassword(
  ctx: ServerContext,
  userId: string,
  actor: Actor,
  password?: string,
): Promise<string> {
  const row = await userById(ctx, userId);
  const pw = password ?? generatePassword();
  if (pw.length < 12 || pw.length > 200)
    throw new ServerError("SERVER_BAD_REQUEST", "a password has 12 to 200 characters", { path: "password" });
  await ctx.store.db
    .updateTable("users")
    .set({ password_hash: await hashPassword(pw) })
    .where("id", "=", userId)
    .execute();
  await ctx.store.db.deleteFrom("sessions").where("user_id", "=", userId).execute();
  await audit(ctx, { actor, action: "user.password", target: row.username });
  return pw;
}

/** Where `vigil server` writes the first admin's generated password (removed once it is changed). */
export function initialPasswordFile(ctx: ServerContext): string {
  return resolve(ctx.config.dataDir, "initial-admin-password");
}

/**
 * A user changes their own password: the current one must match, the new one has 12 to 200
 * characters and differs from it. Clears the forced change of a generated password and removes
 * the first admin's password file. Audited.
 */
export async function changeOwnPassword(
  ctx: ServerContext,
  actor: Actor,
  current: string,
  next: string,
): Promise<void> {
  const row = await ctx.store.db.selectFrom("users").selectAll().where("id", "=", actor.id).executeTakeFirst();
  if (!(await verifyPassword(current, row?.password_hash ?? DUMMY_HASH)) || !row)
    throw new ServerError("SERVER_FORBIDDEN", "the current password is wrong", { path: "currentPassword" });
  if (next.length < 12 || next.length > 200)
    throw new ServerError("SERVER_BAD_REQUEST", "the new password has 12 to 200 characters", { path: "newPassword" });
  if (next === current)
    throw new ServerError("SERVER_BAD_REQUEST", "choose a new password that differs from the current one", {
      path: "newPassword",
    });
  const forced = Number(row.must_change_password) !== 0;
  await ctx.store.db
    .updateTable("users")
    .set({ password_hash: await hashPassword(next), must_change_password: 0 })
    .where("id", "=", row.id)
    .execute();
  let removed = false;
  if (forced) {
    const file = initialPasswordFile(ctx);
    try {
      rmSync(file);
      removed = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT")
        ctx.log.warn({ err: (err as Error).message }, `could not remove ${file}: delete it by hand`);
    }
  }
  await audit(ctx, {
    actor,
    action: "user.password.change",
    target: row.username,
    detail: forced ? { forced: true, passwordFileRemoved: removed } : undefined,
  });
}
