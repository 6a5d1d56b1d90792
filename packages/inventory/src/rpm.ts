/**
 * rpm: the SQLite package database (rpm 4.16 and later: /var/lib/rpm/rpmdb.sqlite, or
 * /usr/lib/sysimage/rpm/rpmdb.sqlite). Each row of the Packages table is an rpm header blob:
 * a count of index entries and the data size (big-endian u32 each), the 16-byte index entries
 * (tag, type, offset, count) and the data store. The older Berkeley DB ("Packages") and ndb
 * ("Packages.db") formats are reported as a problem, not read.
 */
import { stat } from "node:fs/promises";
import { readBytes, under } from "./fsutil.js";
import { SqliteFile } from "./sqlite.js";
import type { SourceContext } from "./sources.js";
import type { InventoryEntry, SourceResult } from "./types.js";

const TAG = {
  installtime: 1008,
  name: 1000,
  version: 1001,
  release: 1002,
  epoch: 1003,
  summary: 1004,
  vendor: 1011,
  packager: 1015,
  url: 1020,
  arch: 1022,
  dirindexes: 1116,
  basenames: 1117,
  dirnames: 1118,
} as const;
const MAX_ENTRIES = 65536;

/** The fields of an rpm header blob (strings, string arrays and int32 arrays); undefined when malformed. */
export function parseRpmHeader(blob: Uint8Array): Map<number, string | string[] | number[]> | undefined {
  const b = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  if (b.length < 8) return undefined;
  const il = b.readUInt32BE(0);
  const dl = b.readUInt32BE(4);
  const dataAt = 8 + il * 16;
  if (il > MAX_ENTRIES || dataAt + dl > b.length) return undefined;
  const out = new Map<number, string | string[] | number[]>();
  const cstr = (at: number): [string, number] | undefined => {
    const end = b.indexOf(0, at);
    if (end < 0 || end >= dataAt + dl) return undefined;
    return [b.subarray(at, end).toString("utf8"), end + 1];
  };
  for (let i = 0; i < il; i++) {
    const e = 8 + i * 16;
    const tag = b.readUInt32BE(e);
    const type = b.readUInt32BE(e + 4);
    const off = b.readUInt32BE(e + 8);
    const count = b.readUInt32BE(e + 12);
    if (off >= dl || !Object.values(TAG).includes(tag as never)) continue;
    const at = dataAt + off;
    if (type === 6 || type === 9) {
      const s = cstr(at);
      if (s) out.set(tag, s[0]);
    } else if (type === 8) {
      const arr: string[] = [];
      let p = at;
      for (let j = 0; j < count && j < 1 << 22; j++) {
        const s = cstr(p);
        if (!s) break;
        arr.push(s[0]);
        p = s[1];
      }
      out.set(tag, arr);
    } else if (type === 4) {
      if (at + count * 4 > dataAt + dl) continue;
      const arr: number[] = [];
      for (let j = 0; j < count; j++) arr.push(b.readInt32BE(at + j * 4));
      out.set(tag, arr);
    }
  }
  return out;
}

export function rpmEntry(h: Map<number, string | string[] | number[]>): InventoryEntry | undefined {
  const s = (t: number) => (typeof h.get(t) === "string" ? (h.get(t) as string) : undefined);
  const name = s(TAG.name);
  if (!name) return undefined;
  const epoch = (h.get(TAG.epoch) as number[] | undefined)?.[0];
  const version = s(TAG.version);
  const release = s(TAG.release);
  const full = version ? `${epoch ? `${epoch}:` : ""}${version}${release ? `-${release}` : ""}` : undefined;
  const base = h.get(TAG.basenames) as string[] | undefined;
  const dirs = h.get(TAG.dirnames) as string[] | undefined;
  const idx = h.get(TAG.dirindexes) as number[] | undefined;
  const files =
    base && dirs && idx && Array.isArray(idx) ? base.map((f, i) => `${dirs[idx[i]!] ?? ""}${f}`) : undefined;
  const e: InventoryEntry = { name, source: "rpm" };
  const installed = (h.get(TAG.installtime) as number[] | undefined)?.[0];
  if (installed !== undefined && installed > 0) e.installedAt = new Date(installed * 1000).toISOString();
  if (full) e.version = full;
  const vendor = s(TAG.vendor) ?? s(TAG.packager);
  if (vendor) e.vendor = vendor;
  if (files) {
    e.files = files;
    const opt = files.find((f) => /^\/opt\/[^/]+\/./.test(f));
    if (opt) e.installPath = opt.split("/").slice(0, 3).join("/");
  }
  const extra: Record<string, string> = {};
  for (const [k, t] of [
    ["architecture", TAG.arch],
    ["summary", TAG.summary],
    ["url", TAG.url],
    ["packager", TAG.packager],
  ] as const) {
    const v = s(t);
    if (v) extra[k] = v;
  }
  if (Object.keys(extra).length) e.extra = extra;
  return e;
}

export async function rpmSource({ root }: SourceContext): Promise<SourceResult> {
  const result: SourceResult = { entries: [], problems: [] };
  for (const dir of ["/var/lib/rpm", "/usr/lib/sysimage/rpm"]) {
    const path = under(root, `${dir}/rpmdb.sqlite`);
    const bytes = await readBytes(path, 1 << 30);
    if (bytes === undefined) {
      for (const old of ["Packages", "Packages.db"]) {
        const p = under(root, `${dir}/${old}`);
        if (
          await stat(p).then(
            (s) => s.isFile(),
            () => false,
          )
        ) {
          result.problems.push({
            source: "rpm",
            path: p,
            message: `${p}: rpm databases in the Berkeley DB or ndb format are not read; run 'rpmdb --rebuilddb' with rpm 4.16+ (SQLite backend) or give a machine with rpmdb.sqlite`,
          });
        }
      }
      continue;
    }
    try {
      const db = new SqliteFile(bytes);
      const rootPage = db.tableRoot("Packages");
      if (rootPage === undefined) throw new Error("no Packages table");
      for (const [, cols] of db.rows(rootPage)) {
        const blob = cols.find((c): c is Uint8Array => c instanceof Uint8Array);
        const h = blob && parseRpmHeader(blob);
        const e = h && rpmEntry(h);
        if (e) result.entries.push(e);
      }
    } catch (e) {
      result.problems.push({ source: "rpm", path, message: `${path}: ${(e as Error).message}` });
    }
    break;
  }
  return result;
}
