/**
 * `vigil freshclam --mirror URL|DIR [--datadir DIR] [--update-db NAME]... [--notify-clamd SOCKET|HOST:PORT]`:
 * ClamAV's freshclam for Vigil (one run, HTTP mode; there is no DNS lookup). Updates `daily`,
 * `main` and `bytecode` (or the databases named with --update-db, e.g. `test`) from an HTTP
 * mirror (a cvdupdate mirror: `DatabaseMirror http://host:port`) or a mirror directory, by
 * `.cdiff` chain or whole `.cvd`, verifies everything, swaps the files into the database
 * directory, and sends RELOAD to clamd / `vigil daemon`. `--config-file freshclam.conf` reads
 * DatabaseMirror/PrivateMirror, DatabaseDirectory, ScriptedUpdates, MaxAttempts,
 * ReceiveTimeout, ExtraDatabase/ExcludeDatabase and NotifyClamd (a clamd.conf: its LocalSocket,
 * or TCPAddr and TCPSocket). Exit codes: 0 updated or up to date, 1 refused (a download, a
 * signature or a version check failed; the old database is kept), 2 error.
 */
import { readFile } from "node:fs/promises";
import { Command } from "commander";
import { fail } from "../fail.js";
import {
  UpdateError,
  updateClamavDatabases,
  CLAMAV_STANDARD_DATABASES,
  type ClamavMirrorOptions,
} from "@vigil/updates";

export const summary = "update ClamAV databases from a mirror (freshclam: .cdiff or .cvd, verified, RELOAD)";

interface Conf {
  readonly values: Map<string, string[]>;
}

async function readConf(path: string): Promise<Conf> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new UpdateError("BAD_INPUT", `cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  const values = new Map<string, string[]>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(\S+)\s*(.*)$/.exec(line)!;
    const list = values.get(m[1]!) ?? [];
    list.push(m[2]!.replace(/^"(.*)"$/, "$1"));
    values.set(m[1]!, list);
  }
  return { values };
}

const last = (c: Conf | undefined, key: string) => c?.values.get(key)?.at(-1);
const yes = (v: string | undefined) => v !== undefined && /^(yes|true|1)$/i.test(v);

/** clamd.conf -> the socket RELOAD goes to. */
async function clamdSocketOf(clamdConf: string): Promise<string> {
  const c = await readConf(clamdConf);
  const local = last(c, "LocalSocket");
  if (local) return local;
  const port = last(c, "TCPSocket");
  if (port) return `${last(c, "TCPAddr") ?? "127.0.0.1"}:${port}`;
  throw new UpdateError("BAD_INPUT", `${clamdConf} has neither LocalSocket nor TCPSocket: cannot tell clamd to reload`);
}

/** freshclam's mirror names: a host without a scheme gets https:// (PrivateMirror: http://). */
function mirrorUrl(value: string, defaultScheme: string): string {
  if (/^[a-z]+:\/\//i.test(value) || value.startsWith("/") || value.startsWith(".")) return value;
  return `${defaultScheme}://${value}`;
}

export async function run(args: string[]): Promise<number> {
  const collect = (v: string, prev: string[]) => [...prev, v];
  const cmd = new Command("vigil freshclam")
    .description("Update ClamAV databases (daily, main, bytecode) from a mirror, as freshclam does")
    .option(
      "--mirror <url-or-dir>",
      "HTTP(S) mirror (cvdupdate's `cvd serve`, a web server over its database directory) or a mirror directory; repeatable, tried in order",
      collect,
      [] as string[],
    )
    .option("--config-file <file>", "a freshclam.conf to read DatabaseMirror, DatabaseDirectory, NotifyClamd, ... from")
    .option("--datadir <dir>", "the database directory (default: DatabaseDirectory, or /var/lib/clamav)")
    .option(
      "--update-db <name>",
      "update only this database (repeatable), e.g. --update-db test",
      collect,
      [] as string[],
    )
    .option("--db <name>", "the same as --update-db", collect, [] as string[])
    .option(
      "--notify-clamd <socket>",
      "send RELOAD to clamd or vigil daemon at this unix socket or HOST:PORT after an update",
    )
    .option(
      "--private-mirror",
      "the mirror is another machine's database directory (freshclam's PrivateMirror): .cld first, then .cvd, whole files only",
    )
    .option("--no-scripted-updates", "always download whole .cvd files, never .cdiff patches")
    .option("--max-attempts <n>", "attempts per download (default: MaxAttempts, or 3)")
    .option("--no-dns", "accepted for freshclam compatibility: Vigil never asks DNS, it probes the mirror over HTTP")
    .option("--json", "print the results as JSON")
    .option("--quiet", "print only errors")
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });
  try {
    await cmd.parseAsync(args, { from: "user" });
    const o = cmd.opts<{
      mirror: string[];
      privateMirror?: boolean;
      configFile?: string;
      datadir?: string;
      updateDb: string[];
      db: string[];
      notifyClamd?: string;
      scriptedUpdates: boolean;
      maxAttempts?: string;
      json?: boolean;
      quiet?: boolean;
    }>();
    o.updateDb = [...o.updateDb, ...o.db];
    const conf = o.configFile ? await readConf(o.configFile) : undefined;
    const privateMirrors = (conf?.values.get("PrivateMirror") ?? []).map((m) => mirrorUrl(m, "http"));
    const databaseMirrors = (conf?.values.get("DatabaseMirror") ?? []).map((m) => mirrorUrl(m, "https"));
    const mirror = o.mirror.length > 0 ? o.mirror : privateMirrors.length > 0 ? privateMirrors : databaseMirrors;
    if (mirror.length === 0) {
      process.stderr.write("vigil freshclam: name a mirror: --mirror URL|DIR, or DatabaseMirror in --config-file\n");
      return 2;
    }
    if (mirror.some((m) => /clamav\.net/i.test(m))) {
      process.stderr.write(
        "vigil freshclam: note: ClamAV's CDN rate-limits clients it does not know; run cvdupdate for a private mirror if you are refused (403/429)\n",
      );
    }
    const datadir = o.datadir ?? last(conf, "DatabaseDirectory") ?? "/var/lib/clamav";
    let databases =
      o.updateDb.length > 0 ? o.updateDb : [...CLAMAV_STANDARD_DATABASES, ...(conf?.values.get("ExtraDatabase") ?? [])];
    const excluded = new Set(conf?.values.get("ExcludeDatabase") ?? []);
    if (o.updateDb.length === 0) databases = databases.filter((d) => !excluded.has(d));
    const notifyConf = last(conf, "NotifyClamd");
    const notify =
      o.notifyClamd ?? (notifyConf && !/^(no|false)$/i.test(notifyConf) ? await clamdSocketOf(notifyConf) : undefined);
    const maxAttemptsText = o.maxAttempts ?? last(conf, "MaxAttempts");
    const maxAttempts = maxAttemptsText !== undefined ? Number(maxAttemptsText) : undefined;
    if (maxAttempts !== undefined && (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 100)) {
      process.stderr.write(
        `vigil freshclam: --max-attempts must be a whole number from 1 to 100, not '${maxAttemptsText}'\n`,
      );
      return 2;
    }
    const receive = last(conf, "ReceiveTimeout");
    const options: ClamavMirrorOptions = {
      mirror,
      databaseDir: datadir,
      databases,
      privateMirror: o.privateMirror === true || (o.mirror.length === 0 && privateMirrors.length > 0),
      scriptedUpdates:
        o.scriptedUpdates && !(last(conf, "ScriptedUpdates") !== undefined && !yes(last(conf, "ScriptedUpdates"))),
      ...(maxAttempts !== undefined ? { maxAttempts } : {}),
      ...(receive !== undefined && Number(receive) > 0 ? { timeoutMs: Number(receive) * 1000 } : {}),
      ...(notify ? { notifyClamd: notify } : {}),
      ...(o.quiet || o.json ? {} : { log: (line: string) => process.stdout.write(line + "\n") }),
    };
    const r = await updateClamavDatabases(options);
    let refused = false;
    for (const d of r.databases) {
      for (const w of d.warnings) if (!o.json) process.stderr.write(`WARNING: ${w}\n`);
      if (d.status === "refused") {
        refused = true;
        if (!o.json)
          process.stderr.write(
            `vigil freshclam: ${d.name}: refused [${d.error!.code}]: ${d.error!.message}${d.version !== null ? ` (kept version ${d.version})` : ""}\n`,
          );
      }
    }
    if (r.notifyError && !o.json) process.stderr.write(`vigil freshclam: ${r.notifyError.message}\n`);
    if (o.json) {
      const plain = (e: { code: string; message: string } | undefined) =>
        e ? { code: e.code, message: e.message } : undefined;
      process.stdout.write(
        JSON.stringify({
          databases: r.databases.map((d) => ({ ...d, error: plain(d.error), patchError: plain(d.patchError) })),
          notified: r.notified,
          notifyError: plain(r.notifyError),
        }) + "\n",
      );
    }
    return refused || r.notifyError ? 1 : 0;
  } catch (err) {
    return fail("freshclam", err);
  }
}
