/**
 * Third-party YARA rule feeds (`vigil feeds`): a feed is a git repository (any URL git clones,
 * `file://` included, or a local path) at a ref, or an archive (.tar, .tar.gz, .zip) at an
 * http(s) URL or a path. `updateFeed` fetches it, takes its `.yar`/`.yara` files, compiles
 * each one (a file that does not compile refuses the update with its file:line, unless the feed
 * was added with skipBroken: then that file is reported and left out), runs the rule auditor on
 * each (a failing finding, such as a rule hunting documents by their classification marking,
 * refuses the update), writes the accepted files into a new directory and switches the feed's
 * `current` link to it atomically. Whatever refuses an update leaves the feed's rules in use as
 * they were. What is in use is recorded: the git commit, or the sha256 of the archive; a feed
 * added with a commit or a sha256 is pinned to it (an update that finds anything else is refused).
 *
 * Layout under the feeds directory ($VIGIL_FEEDS_DIR, else <data dir>/feeds): `feeds.json`
 * (the records), `NAME/current` -> `NAME/rules-<pin>` (the rules `vigil scan` and
 * `vigil daemon` load; the daemon resolves the link again at each reload).
 *
 * Fetching is careful with what it is given: git objects are read with `git cat-file` from a
 * bare clone (no checkout, so no symbolic link or hook of the repository is ever followed or
 * run), archive members are taken only when their names are plain relative paths, and sizes
 * are bounded (MAX_ARCHIVE, MAX_FILE).
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CompileError, compile, type SourceUnit } from "@vigil/engine";
import { readArchive, sniffArchive, type Member } from "@vigil/scanner";
import { SEVERITY_RANK, auditRules, defaultAuditPolicy, formatFinding, type Finding } from "@vigil/updates";
import { feedsDir, recordsPath } from "./feed-dirs.js";

export { feedRuleDirs, feedsDir } from "./feed-dirs.js";

export type FeedErrorCode =
  | "FEED_EXISTS"
  | "FEED_UNKNOWN"
  | "FEED_BAD_NAME"
  | "FEED_FETCH_FAILED"
  | "FEED_PIN_MISMATCH"
  | "FEED_NO_RULES"
  | "FEED_COMPILE_FAILED"
  | "FEED_AUDIT_FAILED"
  | "FEED_BAD_ARCHIVE";

export class FeedError extends Error {
  readonly code: FeedErrorCode;
  constructor(code: FeedErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "FeedError";
    this.code = code;
  }
}

export interface FeedRecord {
  name: string;
  /** The URL or path given to `feeds add`. */
  source: string;
  kind: "git" | "archive";
  /** git: the branch, tag or commit followed (default HEAD). */
  ref?: string;
  /** Pinned: the commit (git) or sha256 (archive) every update must find. */
  pin?: string;
  /** Leave out files that do not compile (reported) instead of refusing the update. */
  skipBroken?: boolean;
  /** What is in use: the commit (git) or the archive's sha256. */
  current?: string;
  updatedAt?: string;
  files?: number;
  rules?: number;
  /** Files left out at the last update (skipBroken), as `file:line: message`. */
  skipped?: string[];
}

export interface UpdateReport {
  feed: FeedRecord;
  changed: boolean;
  skipped: string[];
}

/** Largest archive downloaded, and largest rule file taken. */
export const MAX_ARCHIVE = 256 * 1024 * 1024;
export const MAX_FILE = 16 * 1024 * 1024;
const RULE_FILE = /\.(yar|yara)$/i;

export async function readFeeds(dir = feedsDir()): Promise<FeedRecord[]> {
  let text: string;
  try {
    text = await readFile(recordsPath(dir), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const v = JSON.parse(text) as { feeds?: FeedRecord[] };
  return Array.isArray(v.feeds) ? v.feeds : [];
}

async function writeFeeds(dir: string, feeds: FeedRecord[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  const tmp = `${recordsPath(dir)}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify({ feeds }, null, 2)}\n`);
  await rename(tmp, recordsPath(dir));
}

function run(cmd: string, args: string[], opts: { cwd?: string; maxBuffer?: number } = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      {
        cwd: opts.cwd,
        encoding: "buffer",
        maxBuffer: opts.maxBuffer ?? 64 * 1024 * 1024,
        timeout: 300_000,
        env: { ...process.env, GIT_TERMINAL_PROMPT: "0", GIT_CONFIG_NOSYSTEM: "1" },
      },
      (err, stdout, stderr) => {
        if (err) {
          const why = Buffer.from(stderr).toString("utf8").trim().split("\n").at(-1) || (err as Error).message;
          reject(new FeedError("FEED_FETCH_FAILED", `${cmd} ${args[0]}: ${why}`, { cause: err }));
        } else resolve(stdout);
      },
    );
  });
}

export interface Fetched {
  files: Map<string, Uint8Array>;
  /** The commit or sha256 fetched. */
  version: string;
}

/** Clones the repository bare into a temporary directory and reads the rule files of `ref`. */
async function fetchGit(source: string, ref: string, tmp: string): Promise<Fetched> {
  const repo = join(tmp, "repo.git");
  await run("git", ["clone", "--quiet", "--bare", "--", source, repo]);
  let commit: string;
  try {
    commit = (await run("git", ["--git-dir", repo, "rev-parse", "--verify", "--end-of-options", `${ref}^{commit}`]))
      .toString()
      .trim();
  } catch (err) {
    throw new FeedError("FEED_FETCH_FAILED", `${source}: no commit for ${ref} (check the branch, tag or commit)`, {
      cause: err,
    });
  }
  const listing = (await run("git", ["--git-dir", repo, "ls-tree", "-r", "-z", "-l", commit])).toString("latin1");
  const files = new Map<string, Uint8Array>();
  for (const entry of listing.split("\0")) {
    // "<mode> <type> <object> <size>\t<path>"
    const m = /^(\d+) (\w+) ([0-9a-f]+) +(\d+|-)\t(.*)$/s.exec(entry);
    // regular files only: no symbolic links, no submodules
    if (m?.[2] !== "blob" || !/^100(644|755)$/.test(m[1] ?? "")) continue;
    const path = Buffer.from(m[5]!, "latin1").toString("utf8");
    if (!RULE_FILE.test(path)) continue;
    if (Number(m[4]) > MAX_FILE) throw new FeedError("FEED_FETCH_FAILED", `${path} is over ${MAX_FILE} bytes`);
    files.set(path, await run("git", ["--git-dir", repo, "cat-file", "blob", m[3]!]));
  }
  return { files, version: commit };
}

/** A member name usable as a relative path: no absolute paths, no `..`, no empty parts. */
function safeName(name: string): string | undefined {
  const parts = name
    .replace(/\\/g, "/")
    .split("/")
    .filter((p) => p !== "" && p !== ".");
  if (!parts.length || parts.some((p) => p === ".." || /[\0]/.test(p))) return undefined;
  return parts.join("/");
}

async function download(url: string): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url, { redirect: "follow", signal: AbortSignal.timeout(300_000) });
  } catch (err) {
    throw new FeedError("FEED_FETCH_FAILED", `${url}: ${(err as Error).message}`, { cause: err });
  }
  if (!res.ok || !res.body) throw new FeedError("FEED_FETCH_FAILED", `${url}: HTTP ${res.status} ${res.statusText}`);
  const declared = Number(res.headers.get("content-length") ?? "0");
  if (declared > MAX_ARCHIVE)
    throw new FeedError("FEED_FETCH_FAILED", `${url}: the archive is over ${MAX_ARCHIVE} bytes`);
  const chunks: Uint8Array[] = [];
  let n = 0;
  try {
    for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) {
      n += c.length;
      if (n > MAX_ARCHIVE) throw new FeedError("FEED_FETCH_FAILED", `${url}: the archive is over ${MAX_ARCHIVE} bytes`);
      chunks.push(c);
    }
  } catch (err) {
    if (err instanceof FeedError) throw err;
    throw new FeedError("FEED_FETCH_FAILED", `${url}: the download was cut: ${(err as Error).message}`, { cause: err });
  }
  if (declared && n !== declared)
    throw new FeedError("FEED_FETCH_FAILED", `${url}: the download was cut (${n} of ${declared} bytes)`);
  return Buffer.concat(chunks, n);
}

/** The rule files of an archive (.zip, .tar, .tar.gz/.tgz, .tar.bz2, .tar.xz). */
export function archiveRuleFiles(bytes: Uint8Array, label: string): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const cap = () => MAX_ARCHIVE;
  const open = (b: Uint8Array, name: string, depth: number): void => {
    const kind = sniffArchive(b);
    if (!kind) {
      if (depth === 0)
        throw new FeedError(
          "FEED_BAD_ARCHIVE",
          `${label}: not a zip or tar archive (gzip, bzip2 or xz compressed or not)`,
        );
      return;
    }
    for (const m of readArchive(kind, b, name, cap) as Iterable<Member>) {
      if (m.problem)
        throw new FeedError(
          "FEED_BAD_ARCHIVE",
          `${label}: ${m.name}: ${m.problem.message}; the archive is refused whole`,
        );
      if (!m.data) continue;
      // a compressed stream holds one tar: open it
      if ((kind === "gzip" || kind === "bzip2" || kind === "xz") && depth === 0) {
        open(m.data, m.name, depth + 1);
        continue;
      }
      const safe = safeName(m.name);
      if (!safe || !RULE_FILE.test(safe)) continue;
      if (m.data.length > MAX_FILE)
        throw new FeedError("FEED_BAD_ARCHIVE", `${label}: ${safe} is over ${MAX_FILE} bytes`);
      files.set(safe, m.data);
    }
  };
  open(bytes, label, 0);
  return files;
}

async function fetchArchive(source: string): Promise<Fetched> {
  const bytes = /^https?:\/\//i.test(source) ? await download(source) : await readFile(source);
  const version = createHash("sha256").update(bytes).digest("hex");
  return { files: archiveRuleFiles(bytes, source), version };
}

/** Whether a source is a git repository (by URL form, or a local directory holding one). */
export async function looksLikeGit(source: string): Promise<boolean> {
  if (/^(git|ssh):\/\/|^git@|\.git\/?$/i.test(source)) return true;
  if (/^file:\/\//i.test(source)) {
    const p = decodeURIComponent(source.slice(7));
    return (await stat(p).catch(() => undefined))?.isDirectory() ?? false;
  }
  if (/^https?:\/\//i.test(source)) return false;
  const st = await stat(source).catch(() => undefined);
  return st?.isDirectory() ?? false;
}

export interface Checked {
  /** Installed name (the feed's path with "/" as "--": `vigil scan` reads one directory level) -> bytes. */
  accepted: Map<string, Uint8Array>;
  skipped: string[];
  rules: number;
}

/** The installed name of a feed file: one directory level, as `--rules DIR` reads it. */
export const flatName = (path: string) => path.replace(/\//g, "--");

const INCLUDE = /^\s*include\s+"/m;

function diagnose(err: unknown, path: string): string {
  if (err instanceof CompileError) {
    const d = err.diagnostics[0];
    return `${d?.path ?? path}:${d?.line ?? 0}: ${d?.message ?? err.message}`;
  }
  return `${path}:0: ${(err as Error).message}`;
}

/**
 * Compiles and audits the files of a feed. Each file is compiled alone (its errors carry its
 * file:line), then all of them together with the other feeds' rules (`others`), in one
 * namespace as `vigil scan` loads them, so a rule name used twice is caught here and not at
 * the next scan. Index files that only `include` others are left out (their rules come from
 * the included files). Throws FeedError naming every failing file:line, unless skipBroken.
 */
export function checkRules(
  name: string,
  files: Map<string, Uint8Array>,
  skipBroken: boolean,
  others: SourceUnit[] = [],
): Checked {
  if (!files.size) throw new FeedError("FEED_NO_RULES", `feed ${name}: no .yar or .yara files found`);
  const broken: string[] = [];
  const good: Array<{ path: string; bytes: Uint8Array; source: string }> = [];
  for (const [path, bytes] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const source = Buffer.from(bytes).toString("latin1");
    if (INCLUDE.test(source)) {
      broken.push(`${path}:0: left out: it includes other files (their rules load from those files)`);
      continue;
    }
    try {
      compile([{ source, path, namespace: "default" }], { includes: false });
      good.push({ path, bytes, source });
    } catch (err) {
      broken.push(diagnose(err, path));
    }
  }
  // together, as a scan loads them: duplicates across files (and with other feeds) fail here
  let rules = 0;
  const before = others.length ? compile(others, { includes: false }).ruleCount : 0;
  for (;;) {
    try {
      const all = compile([...others, ...good.map((g) => ({ source: g.source, path: g.path, namespace: "default" }))], {
        includes: false,
      });
      rules = all.ruleCount - before;
      break;
    } catch (err) {
      const d = err instanceof CompileError ? err.diagnostics[0] : undefined;
      const at = good.findIndex((g) => g.path === d?.path);
      if (at < 0) {
        broken.push(diagnose(err, "(the feeds together)"));
        good.length = 0;
        break;
      }
      broken.push(`${diagnose(err, good[at]!.path)} (with the other files and feeds)`);
      good.splice(at, 1);
    }
  }
  const real = broken.filter((b) => !b.includes(": left out: it includes"));
  if (real.length && !skipBroken)
    throw new FeedError(
      "FEED_COMPILE_FAILED",
      `feed ${name}: ${real.length} file(s) do not compile, the update is refused and the rules in use are kept: ${real.join("; ")} (fix the feed, or add it with --skip-broken to leave such files out)`,
    );
  if (!good.length) throw new FeedError("FEED_COMPILE_FAILED", `feed ${name}: no file compiles: ${broken.join("; ")}`);
  const policy = defaultAuditPolicy();
  const failing: Finding[] = [];
  for (const g of good)
    for (const f of auditRules(g.bytes, { path: g.path, policy }))
      if (SEVERITY_RANK[f.severity] >= SEVERITY_RANK[policy.failOn]) failing.push(f);
  if (failing.length)
    throw new FeedError(
      "FEED_AUDIT_FAILED",
      `feed ${name}: the rule auditor refuses the update (the rules in use are kept): ${failing.map((f) => formatFinding(f)).join("; ")}`,
    );
  return { accepted: new Map(good.map((g) => [flatName(g.path), g.bytes])), skipped: broken, rules };
}

/** The rule sources of every installed feed but `except`. */
async function otherFeedSources(dir: string, except: string): Promise<SourceUnit[]> {
  const out: SourceUnit[] = [];
  for (const f of await readFeeds(dir)) {
    if (f.name === except || !f.current) continue;
    const cur = join(dir, f.name, "current");
    for (const n of (await readdir(cur).catch(() => [] as string[])).sort())
      if (RULE_FILE.test(n))
        out.push({ namespace: "default", path: join(cur, n), source: await readFile(join(cur, n), "latin1") });
  }
  return out;
}

async function withTemp<T>(dir: string, f: (tmp: string) => Promise<T>): Promise<T> {
  await mkdir(dir, { recursive: true });
  const tmp = await mkdtemp(join(dir, ".fetch-"));
  try {
    return await f(tmp);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Fetches, checks and installs one feed; the record is updated and returned. */
export async function updateFeed(rec: FeedRecord, dir = feedsDir()): Promise<UpdateReport> {
  const fetched = await withTemp(dir, (tmp) =>
    rec.kind === "git" ? fetchGit(rec.source, rec.pin ?? rec.ref ?? "HEAD", tmp) : fetchArchive(rec.source),
  );
  if (rec.pin && fetched.version !== rec.pin)
    throw new FeedError(
      "FEED_PIN_MISMATCH",
      `feed ${rec.name}: pinned to ${rec.pin} but ${rec.source} gave ${fetched.version}; the rules in use are kept (re-add the feed to pin another)`,
    );
  if (rec.current === fetched.version && existsSync(join(dir, rec.name, "current")))
    return { feed: rec, changed: false, skipped: rec.skipped ?? [] };
  const checked = checkRules(rec.name, fetched.files, !!rec.skipBroken, await otherFeedSources(dir, rec.name));
  const home = join(dir, rec.name);
  const target = join(home, `rules-${fetched.version.slice(0, 16)}-${Date.now()}`);
  await mkdir(target, { recursive: true });
  for (const [name, bytes] of checked.accepted) await writeFile(join(target, name), bytes);
  // switch the link atomically: a new link renamed over the old one
  const link = join(home, "current");
  const tmpLink = join(home, `.current-${process.pid}`);
  await rm(tmpLink, { force: true });
  await symlink(target.slice(home.length + 1), tmpLink);
  await rename(tmpLink, link);
  for (const e of await readdir(home))
    if (e.startsWith("rules-") && join(home, e) !== target) await rm(join(home, e), { recursive: true, force: true });
  const feed: FeedRecord = {
    ...rec,
    current: fetched.version,
    updatedAt: new Date().toISOString(),
    files: checked.accepted.size,
    rules: checked.rules,
    skipped: checked.skipped,
  };
  return { feed, changed: true, skipped: checked.skipped };
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export async function addFeed(
  o: { name: string; source: string; ref?: string; sha256?: string; skipBroken?: boolean },
  dir = feedsDir(),
): Promise<UpdateReport> {
  if (!NAME.test(o.name))
    throw new FeedError("FEED_BAD_NAME", `feed name ${JSON.stringify(o.name)}: use letters, digits, '.', '_' and '-'`);
  const feeds = await readFeeds(dir);
  if (feeds.some((f) => f.name === o.name))
    throw new FeedError("FEED_EXISTS", `feed ${o.name} exists; remove it first (vigil feeds remove ${o.name})`);
  const kind = (await looksLikeGit(o.source)) ? "git" : "archive";
  const rec: FeedRecord = { name: o.name, source: o.source, kind };
  if (kind === "git") {
    if (o.ref) rec.ref = o.ref;
    if (o.ref && /^[0-9a-f]{40}$/i.test(o.ref)) rec.pin = o.ref.toLowerCase();
    if (o.sha256) throw new FeedError("FEED_BAD_NAME", "--sha256 pins an archive; pin a git feed with --ref COMMIT");
  } else {
    if (o.ref) throw new FeedError("FEED_BAD_NAME", "--ref is for git feeds; pin an archive with --sha256");
    if (o.sha256) {
      if (!/^[0-9a-f]{64}$/i.test(o.sha256)) throw new FeedError("FEED_BAD_NAME", "--sha256 takes 64 hex digits");
      rec.pin = o.sha256.toLowerCase();
    }
  }
  if (o.skipBroken) rec.skipBroken = true;
  const report = await updateFeed(rec, dir);
  await writeFeeds(dir, [...feeds, report.feed]);
  return report;
}

/** Updates every feed (or the named ones); one feed's refusal does not stop the others. */
export async function updateFeeds(
  names: string[],
  dir = feedsDir(),
): Promise<Array<{ name: string; report?: UpdateReport; error?: Error }>> {
  const feeds = await readFeeds(dir);
  for (const n of names)
    if (!feeds.some((f) => f.name === n)) throw new FeedError("FEED_UNKNOWN", `no feed named ${n} (vigil feeds list)`);
  const out: Array<{ name: string; report?: UpdateReport; error?: Error }> = [];
  for (let i = 0; i < feeds.length; i++) {
    const f = feeds[i]!;
    if (names.length && !names.includes(f.name)) continue;
    try {
      const report = await updateFeed(f, dir);
      feeds[i] = report.feed;
      out.push({ name: f.name, report });
    } catch (err) {
      out.push({ name: f.name, error: err as Error });
    }
  }
  await writeFeeds(dir, feeds);
  return out;
}

export async function removeFeed(name: string, dir = feedsDir()): Promise<void> {
  const feeds = await readFeeds(dir);
  if (!feeds.some((f) => f.name === name))
    throw new FeedError("FEED_UNKNOWN", `no feed named ${name} (vigil feeds list)`);
  await writeFeeds(
    dir,
    feeds.filter((f) => f.name !== name),
  );
  await rm(join(dir, name), { recursive: true, force: true });
}
