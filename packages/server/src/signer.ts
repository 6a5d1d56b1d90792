/**
 * The policy-signing key: Ed25519, kept in the server_keys table so every server process on one
 * database signs with the same key (agents pin it at enrolment). The first process to start
 * inserts a fresh key if none exists (insert-if-absent); every process then reads back whichever
 * key won. keyId = first 16 hex digits of sha256(SPKI DER).
 */
import { createHash, createPrivateKey, generateKeyPairSync, sign } from "node:crypto";
import type { PolicySigner } from "./context.js";
import type { Store } from "./db/connect.js";
import { ServerError } from "./error.js";

export const POLICY_KEY_ID = "policy-ed25519";

export function keyIdOf(spkiDerBase64: string): string {
  return createHash("sha256").update(Buffer.from(spkiDerBase64, "base64")).digest("hex").slice(0, 16);
}

export async function loadOrCreateSigner(store: Store, now: number): Promise<PolicySigner> {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  await store.db
    .insertInto("server_keys")
    .values({
      id: POLICY_KEY_ID,
      public_key: publicKey.export({ type: "spki", format: "der" }).toString("base64"),
      private_key: privateKey.export({ type: "pkcs8", format: "der" }).toString("base64"),
      created_at: now,
    })
    .onConflict((oc) => oc.column("id").doNothing())
    .execute();
  const row = await store.db.selectFrom("server_keys").selectAll().where("id", "=", POLICY_KEY_ID).executeTakeFirst();
  if (!row) throw new ServerError("SERVER_CONFIG", "the policy-signing key could not be stored or read back");
  let key;
  try {
    key = createPrivateKey({ key: Buffer.from(row.private_key, "base64"), format: "der", type: "pkcs8" });
  } catch (e) {
    throw new ServerError("SERVER_CONFIG", "the stored policy-signing key is not a valid Ed25519 PKCS#8 key", {
      cause: e,
    });
  }
  const pub = row.public_key;
  return {
    keyId: keyIdOf(pub),
    publicKey: pub,
    sign: (payload: string) => sign(null, Buffer.from(payload, "utf8"), key).toString("base64"),
  };
}
