/**
 * Small query helpers shared by the services and the console: `like` patterns that match text
 * literally (case-insensitive, backslash escapes) and the row count of a filtered query.
 */
import { sql, type SelectQueryBuilder } from "kysely";

const escapeLike = (text: string) => text.toLowerCase().replace(/[\\%_]/g, (m) => "\\" + m);

/** `like` pattern matching `text` literally anywhere (lower case; backslash is the escape character). */
export function containsPattern(text: string): string {
  return `%${escapeLike(text)}%`;
}

/** `like` pattern matching values that start with `text` literally. */
export function prefixPattern(text: string): string {
  return `${escapeLike(text)}%`;
}

/** Rows the query selects, as a number (PostgreSQL gives count(*) as a string). */
export async function countRows<DB, TB extends keyof DB>(q: SelectQueryBuilder<DB, TB, object>): Promise<number> {
  const [row] = (await q.select(sql<number>`count(*)`.as("n")).execute()) as Array<{ n: number | string }>;
  return Number(row?.n ?? 0);
}
