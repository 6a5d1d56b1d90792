/**
 * Reading console form posts: every value as a string or a list of strings (repeated fields such
 * as checkboxes), trimmed and length-limited on access.
 */
import type { Context } from "hono";
import type { AppEnv } from "../context.js";
import { textParam } from "./format.js";

export type Form = Record<string, string | string[]>;

export async function formOf(c: Context<AppEnv>): Promise<Form> {
  const body = await c.req.parseBody({ all: true });
  const out: Form = {};
  for (const [k, v] of Object.entries(body)) {
    if (typeof v === "string") out[k] = v;
    else if (Array.isArray(v)) out[k] = v.filter((x): x is string => typeof x === "string");
  }
  return out;
}

/** One text field (the first if repeated), trimmed; undefined when empty or absent. */
export function field(form: Form, name: string, max = 500): string | undefined {
  const v = form[name];
  return textParam(Array.isArray(v) ? v[0] : v, max);
}

/** Every value of a repeated field. */
export function fields(form: Form, name: string): string[] {
  const v = form[name];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** A checkbox: present (any value) means on. */
export function checked(form: Form, name: string): boolean {
  return form[name] !== undefined;
}
