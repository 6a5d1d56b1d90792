/**
 * Small HTTP helpers shared by the routes: the client's address, reading a JSON body through a
 * zod schema (malformed JSON and schema failures become 400s that name the field), and the
 * error-to-response mapping every route uses.
 */
import type { Context } from "hono";
import type { z } from "zod";
import { ServerError } from "./error.js";

/**
 * The peer address of the TCP connection. X-Forwarded-For is not trusted: behind a proxy every
 * client shares the proxy's budget, which errs on the safe side.
 */
export function clientIp(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? "unknown";
}

/** Parses the body as JSON and validates it; throws SERVER_MALFORMED_JSON / SERVER_BAD_REQUEST. */
export async function readJson<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  const type = c.req.header("content-type") ?? "";
  if (type && !/^application\/(.+\+)?json\b/i.test(type)) {
    throw new ServerError("SERVER_BAD_REQUEST", `expected an application/json body, got ${type.slice(0, 80)}`);
  }
  const text = await c.req.text();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ServerError("SERVER_MALFORMED_JSON", `the body is not valid JSON: ${(e as Error).message}`);
  }
  return validate(schema, value);
}

/** Validates a value; the error message and `path` name the first failing field. */
export function validate<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const path = issue.path.map(String).join(".");
  const more = r.error.issues.length > 1 ? ` (and ${r.error.issues.length - 1} more)` : "";
  throw new ServerError("SERVER_BAD_REQUEST", `${path || "body"}: ${issue.message}${more}`, { path });
}

/** Replaces every 64-hex run (a full sha256) with its first 5 digits, for log lines. */
export function redactHashes(s: string): string {
  return s.replace(/[0-9a-fA-F]{64}/g, (h) => `${h.slice(0, 5)}…`);
}
