/**
 * Small query helpers shared by the services and the console: `like` patterns that match text
 * literally (case-insensitive, backslash escapes), the row count of a filtered query, and the
 * 20-bit hash prefix the detections and reputation tables are indexed by.
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

/** The first 20 bits of a hex sha256 as an integer (the `sha256_prefix` columns). */
export function prefixOf(sha256: string): number {
  return parseInt(sha256.slice(0, 5), 16);
}
