/**
 * "Export CSV · JSON" under a console list: links to the same page with the same filters plus
 * `format=` (and `list=` where a page has two lists); the page's handler answers those with the
 * streamed export of every row the filters select (api/exports.ts, services/export.ts).
 */
import type { FC } from "hono/jsx";

export const ExportLinks: FC<{ path: string; params: Record<string, string | undefined>; list?: string }> = (p) => {
  const link = (format: string) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(p.params)) if (v !== undefined && v !== "" && !/page$/.test(k)) q.set(k, v);
    if (p.list) q.set("list", p.list);
    q.set("format", format);
    return `${p.path}?${q.toString()}`;
  };
  return (
    <p class="export small">
      Export every matching row: <a href={link("csv")}>CSV</a> · <a href={link("json")}>JSON</a>
    </p>
  );
};
