/**
 * Text formatting for the console: times (UTC, plus "5 min ago"), sizes, counts, and reading
 * query parameters safely (bad values fall back to defaults instead of failing the page).
 */

export function isoMinute(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

export function isoSecond(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace("T", " ") + " UTC";
}

export function isoDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export function ago(ms: number, now: number): string {
  const d = now - ms;
  if (d < 0) {
    const f = -d;
    if (f < 60_000) return "just now";
    if (f < 3_600_000) return `in ${Math.floor(f / 60_000)} min`;
    if (f < 86_400_000) return `in ${Math.floor(f / 3_600_000)} h`;
    return `in ${Math.floor(f / 86_400_000)} d`;
  }
  if (d < 60_000) return "just now";
  if (d < 3_600_000) return `${Math.floor(d / 60_000)} min ago`;
  if (d < 86_400_000) return `${Math.floor(d / 3_600_000)} h ago`;
  return `${Math.floor(d / 86_400_000)} d ago`;
}

export function bytes(n: number | null): string {
  if (n === null) return "–";
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export function count(n: number): string {
  return n.toLocaleString("en-US");
}

export function plural(n: number, one: string, many = one + "s"): string {
  return `${count(n)} ${n === 1 ? one : many}`;
}

/** A positive integer query parameter within [min, max], else the default. */
export function intParam(v: string | undefined, def: number, min: number, max: number): number {
  if (v === undefined || !/^\d{1,9}$/.test(v)) return def;
  const n = Number(v);
  return n < min ? min : n > max ? max : n;
}

/** The value if it is one of `allowed`, else undefined. */
export function oneOf<T extends string>(v: string | undefined, allowed: readonly T[]): T | undefined {
  return v !== undefined && (allowed as readonly string[]).includes(v) ? (v as T) : undefined;
}

/** A trimmed, length-limited text parameter; empty means absent. */
export function textParam(v: string | undefined, max = 200): string | undefined {
  if (v === undefined) return undefined;
  const t = v.trim().slice(0, max);
  return t === "" ? undefined : t;
}

/** `YYYY-MM-DD` (UTC midnight) to ms, or undefined. */
export function dateParam(v: string | undefined): number | undefined {
  if (!v || !/^\d{4}-\d{2}-\d{2}$/.test(v)) return undefined;
  const t = Date.parse(v + "T00:00:00Z");
  return Number.isFinite(t) ? t : undefined;
}

export function shortId(id: string): string {
  return id.length > 12 ? id.slice(0, 8) + "…" : id;
}
