/**
 * Updating ClamAV's signed databases from a mirror, with freshclam's semantics (ClamAV 1.4,
 * HTTP mode: there is no DNS version lookup here).
 *
 * For each database (`daily`, `main`, `bytecode` by default, or any name such as `test`):
 *  1. the local version is the newer of `<db>.cvd` / `<db>.cld` in the database directory,
 *     opened and verified (a local copy that does not verify counts as none);
 *  2. the mirror is probed: `GET /<db>.cvd` with `Range: bytes=0-511` and, when there is a local
 *     copy, `If-Modified-Since` = the local header's build time. 304 = up to date; otherwise the
 *     512 bytes are the remote header (a directory mirror reads them from the file);
 *  3. remote <= local: up to date (equal), or refused as a version going backwards (lower,
 *     `rollback`; freshclam says "up-to-date" there, Vigil says why nothing happened);
 *  4. no local copy (or more than `maxPatches` behind): the whole `<db>.cvd`; otherwise `<db>-<N>.cdiff` for N = local+1..remote,
 *     each fetched up to `maxAttempts` times and applied in memory. Then, as freshclam does: an
 *     empty or refused patch (bad signature, does not apply) -> the whole `.cvd`; no patch and a
 *     gap of more than one -> the whole `.cvd`; no patch and a gap of one -> the local copy is
 *     kept (refused, with the download's error); at least one patch -> a `.cld` of what applied;
 *  5. everything is verified before it is installed (a `.cvd`: MD5, header dsig, `.info` DSIG,
 *     every file's size and sha256; a `.cld` built from patches: every patch's signature, then
 *     the `.info` DSIG and every file), a whole file must not be older than the local copy, and
 *     the new file is written to a temporary file, fsynced and renamed over `<db>.cvd`/`<db>.cld`;
 *     the other extension is then removed (a `.cld` replaces the `.cvd`, and back).
 * A whole `.cvd` older than the mirror's header said is installed and the database updated once
 * more in the same run (freshclam's FC_EMIRRORNOTSYNC retry), so patches can finish the job.
 * A 403 or 429 from the mirror starts a cool-down (24 h, or `Retry-After`; kept in
 * `vigil-freshclam.json` in the database directory) during which no request is made.
 * With `notifyClamd`, a clamd-protocol daemon (`vigil daemon` or clamd) gets `RELOAD` after an
 * update that installed something.
 */
import { randomUUID } from "node:crypto";
import { mkdir, open, readFile, rm, stat } from "node:fs/promises";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect } from "node:net";
import { isAbsolute, join, resolve } from "node:path";
import {
  ClamavError,
  applyCdiffs,
  buildCld,
  openContainer,
  parseContainerHeader,
  type ContainerFile,
  type ContainerHeader,
  type OpenedContainer,
  type TrustedKeys,
} from "@vigil/clamav";
import { UpdateError } from "./error.js";
import { fsyncDir, lockDir, writeFileAtomic } from "./fsutil.js";

/** freshclam's standard databases. */
export const CLAMAV_STANDARD_DATABASES: readonly string[] = ["daily", "main", "bytecode"];

export interface ClamavMirrorOptions {
  /**
   * an `http://` / `https://` base URL, or a mirror directory (`<db>.cvd`, `<db>-<N>.cdiff`); or
   * several, tried in order for each database while one cannot be reached or lacks the files
   */
  readonly mirror: string | readonly string[];
  /** where `<db>.cvd` / `<db>.cld` live */
  readonly databaseDir: string;
  /** default: daily, main, bytecode */
  readonly databases?: readonly string[];
  /** default: ClamAV's published keys */
  readonly keys?: TrustedKeys;
  /**
   * freshclam's PrivateMirror: probe `<db>.cld` before `<db>.cvd` and download whichever is there,
   * whole, never a patch (for a mirror that is another machine's database directory)
   */
  readonly privateMirror?: boolean;
  /** false: always the whole `.cvd` (freshclam's `ScriptedUpdates no`) */
  readonly scriptedUpdates?: boolean;
  /**
   * the largest gap patched by `.cdiff` (default 100): further behind, the whole `.cvd` at once
   * (a mirror keeps the newest patches only, cvdupdate 30; freshclam would first ask for a patch
   * the mirror no longer has, three times)
   */
  readonly maxPatches?: number;
  /** attempts per request (freshclam's MaxAttempts, default 3) */
  readonly maxAttempts?: number;
  /** pause between attempts on a failing server (default 5000 ms; patches are retried at once) */
  readonly retryDelayMs?: number;
  /** abort a request idle for this long (default 60 s) */
  readonly timeoutMs?: number;
  /** the largest download accepted (default 1 GiB) */
  readonly maxDownloadBytes?: number;
  /** a clamd socket (a path) or `HOST:PORT` to send `RELOAD` to after an update */
  readonly notifyClamd?: string;
  /** default: the clock */
  readonly now?: () => Date;
  /** progress lines, as freshclam prints them */
  readonly log?: (line: string) => void;
}

export type ClamavDatabaseStatus = "updated" | "up-to-date" | "refused";

export interface ClamavDatabaseResult {
  readonly name: string;
  readonly status: ClamavDatabaseStatus;
  /** the local version before, or null when there was none */
  readonly previousVersion: number | null;
  /** the version installed now (unchanged when up to date or refused) */
  readonly version: number | null;
  /** the version the mirror advertised (null when it said 304 or could not be read) */
  readonly remoteVersion: number | null;
  /** the installed file (`<db>.cvd` or `<db>.cld`) */
  readonly file: string | null;
  /** how an update came: patches applied to the local copy, or a whole `.cvd` (or `.cld`, from a private mirror) */
  readonly via: "cdiff" | "cvd" | "cld" | null;
  /** the patches applied */
  readonly patches: number;
  readonly signatures: number | null;
  readonly flevel: number | null;
  readonly builder: string | null;
  /** a patch that failed and what was done instead */
  readonly patchError?: UpdateError | ClamavError;
  /** why nothing was installed (status `refused`): the old database is kept as it was */
  readonly error?: UpdateError | ClamavError;
  readonly warnings: readonly string[];
}

export interface ClamavMirrorResult {
  readonly databases: readonly ClamavDatabaseResult[];
  /** the RELOAD reply (`RELOADING`) when clamd was notified */
  readonly notified?: string;
  /** a notification that failed: the databases are installed all the same */
  readonly notifyError?: UpdateError;
}

type Probe =
  | { readonly status: "ok"; readonly header: ContainerHeader }
  | { readonly status: "not-modified" }
  | { readonly status: "not-found" };

type Fetched =
  | { readonly status: "ok"; readonly bytes: Uint8Array }
  | { readonly status: "not-modified" }
  | { readonly status: "not-found" };

/** Where the files come from. */
interface Mirror {
  readonly location: string;
  probe(file: string, ifModifiedSince: Date | undefined): Promise<Probe>;
  get(file: string, ifModifiedSince: Date | undefined): Promise<Fetched>;
}

const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function checkName(file: string): void {
  if (!FILE_NAME.test(file))
    throw new UpdateError("BAD_INPUT", `'${file}' is not a database file name (letters, digits, '.', '_', '-')`);
}

class DirMirror implements Mirror {
  constructor(
    readonly location: string,
    private readonly maxBytes: number,
  ) {}
  private path(file: string): string {
    checkName(file);
    return join(this.location, file);
  }
  async probe(file: string): Promise<Probe> {
    const path = this.path(file);
    let h;
    try {
      h = await open(path, "r");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return { status: "not-found" };
      throw new UpdateError("FETCH_FAILED", `cannot read ${path}: ${(e as Error).message}`, { cause: e });
    }
    try {
      const buf = Buffer.alloc(512);
      const { bytesRead } = await h.read(buf, 0, 512, 0);
      return { status: "ok", header: parseContainerHeader(buf.subarray(0, bytesRead), path) };
    } finally {
      await h.close();
    }
  }
  async get(file: string): Promise<Fetched> {
    const path = this.path(file);
    try {
      const st = await stat(path);
      if (st.size > this.maxBytes)
        throw new UpdateError("TOO_LARGE", `${path} is ${st.size} bytes, over the ${this.maxBytes}-byte limit`);
      return { status: "ok", bytes: new Uint8Array(await readFile(path)) };
    } catch (e) {
      if (e instanceof UpdateError) throw e;
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return { status: "not-found" };
      throw new UpdateError("FETCH_FAILED", `cannot read ${path}: ${(e as Error).message}`, { cause: e });
    }
  }
}

/** A 403 or 429: the mirror asks us to stay away until `until`. */
class CoolDown extends UpdateError {
  constructor(
    readonly until: Date,
    status: number,
    url: string,
  ) {
    super(
      "COOL_DOWN",
      `${url} answered HTTP ${status}: no request to this mirror until ${until.toISOString()} (freshclam's cool-down); try again after that`,
    );
  }
}

interface HttpResponse {
  readonly status: number;
  readonly bytes: Uint8Array;
}

class HttpMirror implements Mirror {
  private readonly base: URL;
  constructor(
    readonly location: string,
    private readonly opts: { timeoutMs: number; maxBytes: number; userAgent: string; now: () => Date },
  ) {
    this.base = new URL(location.endsWith("/") ? location : location + "/");
  }

  private headers(extra: Record<string, string>): Record<string, string> {
    return { "User-Agent": this.opts.userAgent, Accept: "*/*", Connection: "close", ...extra };
  }

  /** One GET, following up to 3 redirects; `limit` stops reading after that many bytes (the probe). */
  private request(
    url: URL,
    headers: Record<string, string>,
    limit: number | undefined,
    redirects = 0,
  ): Promise<HttpResponse> {
    const maxBytes = this.opts.maxBytes;
    return new Promise<HttpResponse>((resolvePromise, reject) => {
      const fail = (message: string, cause?: unknown) =>
        reject(new UpdateError("FETCH_FAILED", `${url.href}: ${message}`, cause === undefined ? undefined : { cause }));
      // `timeout` covers the connection too (a bare setTimeout starts only once connected)
      const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, {
        method: "GET",
        headers,
        timeout: this.opts.timeoutMs,
      });
      req.on("timeout", () => req.destroy(new Error(`no data for ${this.opts.timeoutMs} ms`)));
      req.on("error", (e) =>
        fail(`the request failed (${e.message}); check the mirror address and that it is reachable`, e),
      );
      req.on("response", (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        if (status >= 300 && status < 400 && status !== 304 && res.headers.location) {
          res.resume();
          if (redirects >= 3) return fail("more than 3 redirects");
          let next: URL;
          try {
            next = new URL(res.headers.location, url);
          } catch (e) {
            return fail(`a redirect to an invalid address '${res.headers.location}'`, e);
          }
          if (next.protocol !== "http:" && next.protocol !== "https:") return fail(`a redirect to ${next.protocol}`);
          this.request(next, headers, limit, redirects + 1).then(resolvePromise, reject);
          return;
        }
        if (status === 403 || status === 429) {
          res.resume();
          const retryAfter = Number(res.headers["retry-after"]);
          const now = this.opts.now().getTime();
          const until = new Date(
            status === 429
              ? now + (Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : 4 * 3600_000)
              : now + 24 * 3600_000,
          );
          reject(new CoolDown(until, status, url.href));
          return;
        }
        if (status !== 200 && status !== 206) {
          res.resume();
          resolvePromise({ status, bytes: new Uint8Array() });
          return;
        }
        const declared =
          res.headers["content-length"] !== undefined ? Number(res.headers["content-length"]) : undefined;
        if (limit === undefined && declared !== undefined && declared > maxBytes) {
          res.destroy();
          reject(new UpdateError("TOO_LARGE", `${url.href} is ${declared} bytes, over the ${maxBytes}-byte limit`));
          return;
        }
        const chunks: Buffer[] = [];
        let total = 0;
        let settled = false;
        const finish = (complete: boolean) => {
          if (settled) return;
          settled = true;
          const bytes = new Uint8Array(Buffer.concat(chunks, total));
          if (limit !== undefined && total >= limit) return resolvePromise({ status, bytes: bytes.subarray(0, limit) });
          if (!complete || (declared !== undefined && total !== declared)) {
            return fail(
              `the download was interrupted after ${total}${declared !== undefined ? ` of ${declared}` : ""} bytes; nothing was installed, try again`,
            );
          }
          resolvePromise({ status, bytes });
        };
        res.on("data", (chunk: Buffer) => {
          if (settled) return;
          chunks.push(chunk);
          total += chunk.length;
          if (limit !== undefined && total >= limit) {
            finish(true);
            res.destroy();
          } else if (total > maxBytes) {
            settled = true;
            res.destroy();
            reject(new UpdateError("TOO_LARGE", `${url.href} is over the ${maxBytes}-byte limit`));
          }
        });
        res.on("end", () => finish(res.complete));
        res.on("aborted", () => finish(false));
        res.on("error", () => finish(false));
        res.on("close", () => finish(res.complete));
      });
      req.end();
    });
  }

  private url(file: string): URL {
    checkName(file);
    return new URL(file, this.base);
  }

  async probe(file: string, ifModifiedSince: Date | undefined): Promise<Probe> {
    const url = this.url(file);
    const res = await this.request(
      url,
      this.headers({
        Range: "bytes=0-511",
        ...(ifModifiedSince ? { "If-Modified-Since": ifModifiedSince.toUTCString() } : {}),
      }),
      512,
    );
    if (res.status === 304) return { status: "not-modified" };
    if (res.status === 404) return { status: "not-found" };
    if (res.status !== 200 && res.status !== 206)
      throw new UpdateError("FETCH_FAILED", `${url.href} answered HTTP ${res.status}`);
    return { status: "ok", header: parseContainerHeader(res.bytes, url.href) };
  }

  async get(file: string, ifModifiedSince: Date | undefined): Promise<Fetched> {
    const url = this.url(file);
    const res = await this.request(
      url,
      this.headers(ifModifiedSince ? { "If-Modified-Since": ifModifiedSince.toUTCString() } : {}),
      undefined,
    );
    if (res.status === 304) return { status: "not-modified" };
    if (res.status === 404) return { status: "not-found" };
    if (res.status !== 200) throw new UpdateError("FETCH_FAILED", `${url.href} answered HTTP ${res.status}`);
    return { status: "ok", bytes: res.bytes };
  }
}

interface LocalDatabase {
  readonly container: OpenedContainer;
  readonly path: string;
}

async function readLocal(
  dir: string,
  name: string,
  keys: TrustedKeys | undefined,
  warnings: string[],
): Promise<LocalDatabase | undefined> {
  let best: LocalDatabase | undefined;
  for (const ext of ["cvd", "cld"] as const) {
    const path = join(dir, `${name}.${ext}`);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await readFile(path));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw new UpdateError("BAD_INPUT", `cannot read ${path}: ${(e as Error).message}`, { cause: e });
    }
    try {
      const container = openContainer(bytes, { path, ...(keys ? { keys } : {}) });
      // equal versions: the .cld wins, as in ClamAV
      if (!best || container.header.version >= best.container.header.version) best = { container, path };
    } catch (e) {
      warnings.push(`${path} does not verify (${(e as Error).message}): it will be replaced by a whole download`);
    }
  }
  return best;
}

function httpDate(header: ContainerHeader): Date | undefined {
  return header.stime !== undefined ? new Date(header.stime * 1000) : undefined;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Context {
  readonly mirror: Mirror;
  readonly dir: string;
  readonly keys: TrustedKeys | undefined;
  readonly attempts: number;
  readonly delayMs: number;
  readonly scripted: boolean;
  readonly privateMirror: boolean;
  readonly maxPatches: number;
  readonly log: (line: string) => void;
}

/** Retries what fails for a reason a new attempt can change (not a cool-down). */
async function attempt<T>(ctx: Context, what: string, delayMs: number, fn: () => Promise<T>): Promise<T> {
  let last: unknown;
  for (let i = 1; i <= ctx.attempts; i++) {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof CoolDown || (e instanceof UpdateError && e.code === "BAD_INPUT")) throw e;
      last = e;
      if (i < ctx.attempts) {
        ctx.log(`${what}: ${(e as Error).message}; trying again${delayMs > 0 ? ` in ${delayMs / 1000} s` : ""}...`);
        if (delayMs > 0) await sleep(delayMs);
      }
    }
  }
  throw last;
}

async function install(ctx: Context, name: string, ext: "cvd" | "cld", bytes: Uint8Array): Promise<string> {
  const path = join(ctx.dir, `${name}.${ext}`);
  await writeFileAtomic(path, bytes);
  await rm(join(ctx.dir, `${name}.${ext === "cvd" ? "cld" : "cvd"}`), { force: true });
  await fsyncDir(ctx.dir);
  return path;
}

interface Progress {
  name: string;
  previousVersion: number | null;
  remoteVersion: number | null;
  warnings: string[];
  patchError?: UpdateError | ClamavError;
}

function refused(
  p: Progress,
  local: LocalDatabase | undefined,
  error: UpdateError | ClamavError,
): ClamavDatabaseResult {
  const h = local?.container.header;
  return {
    name: p.name,
    status: "refused",
    previousVersion: p.previousVersion,
    version: h?.version ?? null,
    remoteVersion: p.remoteVersion,
    file: local?.path ?? null,
    via: null,
    patches: 0,
    signatures: h?.signatures ?? null,
    flevel: h?.flevel ?? null,
    builder: h?.builder ?? null,
    ...(p.patchError ? { patchError: p.patchError } : {}),
    error,
    warnings: p.warnings,
  };
}

function upToDate(p: Progress, local: LocalDatabase): ClamavDatabaseResult {
  const h = local.container.header;
  return {
    name: p.name,
    status: "up-to-date",
    previousVersion: p.previousVersion,
    version: h.version,
    remoteVersion: p.remoteVersion,
    file: local.path,
    via: null,
    patches: 0,
    signatures: h.signatures,
    flevel: h.flevel,
    builder: h.builder,
    warnings: p.warnings,
  };
}

function asUpdateFailure(e: unknown): UpdateError | ClamavError {
  if (e instanceof UpdateError || e instanceof ClamavError) return e;
  return new UpdateError("APPLY_FAILED", `unexpected failure: ${(e as Error).message}`, { cause: e });
}

/** The whole `<db>.cvd`, verified; refused when it is not newer than the local copy. */
async function wholeFile(
  ctx: Context,
  p: Progress,
  local: LocalDatabase | undefined,
  remote: number,
  ext: "cvd" | "cld" = "cvd",
): Promise<ClamavDatabaseResult> {
  const file = `${p.name}.${ext}`;
  const ims = local ? httpDate(local.container.header) : undefined;
  let opened: OpenedContainer | undefined;
  let bytes: Uint8Array | undefined;
  try {
    const got = await attempt(ctx, `downloading ${file}`, ctx.delayMs, async () => {
      const r = await ctx.mirror.get(file, ims);
      if (r.status === "not-found") throw new UpdateError("FETCH_FAILED", `${ctx.mirror.location} has no ${file}`);
      if (r.status === "not-modified") return r;
      const c = openContainer(r.bytes, {
        path: `${ctx.mirror.location.replace(/\/$/, "")}/${file}`,
        kind: ext,
        ...(ctx.keys ? { keys: ctx.keys } : {}),
      });
      return { status: "ok" as const, bytes: r.bytes, container: c };
    });
    if (got.status === "not-modified") {
      if (local) {
        p.warnings.push(
          `${file}: the mirror says not modified since version ${local.container.header.version} yet advertised version ${remote}: it is not in sync`,
        );
        return upToDate(p, local);
      }
      throw new UpdateError(
        "FETCH_FAILED",
        `${ctx.mirror.location} answered 'not modified' for ${file} with no local copy`,
      );
    }
    opened = got.container;
    bytes = got.bytes;
  } catch (e) {
    return refused(p, local, asUpdateFailure(e));
  }
  const v = opened.header.version;
  if (local && v < local.container.header.version) {
    return refused(
      p,
      local,
      new UpdateError(
        "ROLLBACK",
        `${file} on the mirror is version ${v}, older than the local version ${local.container.header.version}: refusing to go backwards (the mirror is stale or replaying old files)`,
      ),
    );
  }
  if (local && v === local.container.header.version) {
    p.warnings.push(
      `${file} on the mirror is version ${v}, the same as the local copy, though version ${remote} was advertised: the mirror is not in sync`,
    );
    return upToDate(p, local);
  }
  if (v < remote)
    p.warnings.push(
      `${file} is version ${v}, older than the version advertised (${remote}): the mirror is not in sync; installed it, run again later`,
    );
  const path = await install(ctx, p.name, ext, bytes);
  const h = opened.header;
  ctx.log(
    `${p.name}.${ext} updated (version: ${h.version}, sigs: ${h.signatures}, f-level: ${h.flevel}, builder: ${h.builder})`,
  );
  return {
    name: p.name,
    status: "updated",
    previousVersion: p.previousVersion,
    version: h.version,
    remoteVersion: p.remoteVersion,
    file: path,
    via: ext,
    patches: 0,
    signatures: h.signatures,
    flevel: h.flevel,
    builder: h.builder,
    ...(p.patchError ? { patchError: p.patchError } : {}),
    warnings: [...p.warnings, ...opened.warnings],
  };
}

async function updateDatabase(ctx: Context, name: string): Promise<ClamavDatabaseResult> {
  checkName(name);
  const p: Progress = { name, previousVersion: null, remoteVersion: null, warnings: [] };
  const local = await readLocal(ctx.dir, name, ctx.keys, p.warnings);
  p.previousVersion = local?.container.header.version ?? null;
  const ims = local ? httpDate(local.container.header) : undefined;
  let probe: Probe;
  // a private mirror (a database directory freshclam keeps) may hold a .cld: asked for first, as freshclam does
  let ext: "cvd" | "cld" = "cvd";
  try {
    probe = await attempt(
      ctx,
      `reading the header of ${name}.${ctx.privateMirror ? "cld/.cvd" : "cvd"}`,
      ctx.delayMs,
      async () => {
        if (ctx.privateMirror) {
          const r = await ctx.mirror.probe(`${name}.cld`, ims);
          if (r.status !== "not-found") {
            ext = "cld";
            return r;
          }
        }
        ext = "cvd";
        return ctx.mirror.probe(`${name}.cvd`, ims);
      },
    );
  } catch (e) {
    if (e instanceof CoolDown) throw e;
    return refused(p, local, asUpdateFailure(e));
  }
  if (probe.status === "not-found")
    return refused(
      p,
      local,
      new UpdateError(
        "FETCH_FAILED",
        `${ctx.mirror.location} has no ${name}.${ctx.privateMirror ? "cld nor .cvd" : "cvd"}: check the mirror and the database name`,
      ),
    );
  if (probe.status === "not-modified") {
    if (local) {
      ctx.log(`${name} database is up-to-date (version: ${local.container.header.version})`);
      return upToDate(p, local);
    }
    return refused(
      p,
      local,
      new UpdateError(
        "FETCH_FAILED",
        `${ctx.mirror.location} answered 'not modified' for ${name}.cvd with no local copy`,
      ),
    );
  }
  const remote = probe.header.version;
  p.remoteVersion = remote;
  if (local) {
    const lv = local.container.header.version;
    if (remote < lv) {
      return refused(
        p,
        local,
        new UpdateError(
          "ROLLBACK",
          `the mirror offers ${name} version ${remote}, older than the local version ${lv}: refusing to go backwards (the mirror is stale or replaying old files); the local database is kept`,
        ),
      );
    }
    if (remote === lv) {
      ctx.log(`${name} database is up-to-date (version: ${lv})`);
      return upToDate(p, local);
    }
  }
  if (!local || !ctx.scripted || ctx.privateMirror) return wholeFile(ctx, p, local, remote, ext);
  if (remote - local.container.header.version > ctx.maxPatches) {
    ctx.log(
      `${name}: ${remote - local.container.header.version} versions behind, more than ${ctx.maxPatches} patches: downloading ${name}.cvd`,
    );
    return wholeFile(ctx, p, local, remote);
  }

  // patch the local copy
  const from = local.container.header.version;
  let files: ContainerFile[] = [...local.container.files];
  let version = from;
  let applied = 0;
  let wholeInstead = false;
  for (let n = from + 1; n <= remote; n++) {
    const file = `${name}-${n}.cdiff`;
    let bytes: Uint8Array;
    try {
      bytes = await attempt(ctx, `downloading ${file}`, 0, async () => {
        const r = await ctx.mirror.get(file, undefined);
        if (r.status !== "ok")
          throw new UpdateError(
            "FETCH_FAILED",
            `${ctx.mirror.location} has no ${file}${r.status === "not-modified" ? " (it answered 'not modified' to a plain request)" : ""}`,
          );
        return r.bytes;
      });
    } catch (e) {
      if (e instanceof CoolDown) throw e;
      p.patchError = asUpdateFailure(e);
      break;
    }
    if (bytes.length === 0) {
      p.patchError = new UpdateError("FETCH_FAILED", `${file} is empty: downloading the whole ${name}.cvd`);
      wholeInstead = true;
      break;
    }
    try {
      const r = applyCdiffs(
        files,
        version,
        [{ path: `${ctx.mirror.location.replace(/\/$/, "")}/${file}`, bytes }],
        ctx.keys,
      );
      files = r.files;
      version = r.version;
      applied++;
    } catch (e) {
      p.patchError = asUpdateFailure(e);
      wholeInstead = true;
      break;
    }
  }
  if (p.patchError) {
    p.warnings.push(`incremental update of ${name} stopped at version ${version}: ${p.patchError.message}`);
    ctx.log(`${name}: ${p.patchError.message}`);
    if (wholeInstead || (applied === 0 && from < remote - 1)) {
      ctx.log(`${name}: incremental update failed, trying to download ${name}.cvd`);
      return wholeFile(ctx, p, local, remote);
    }
    if (applied === 0) {
      p.warnings.push(
        `the mirror does not have the latest patch for ${name} (version ${remote}); it will likely have it if you check again later`,
      );
      return refused(p, local, p.patchError);
    }
    p.warnings.push(
      `downloaded ${applied} patches for ${name}, fewer than the ${remote - from} expected: installed version ${version}`,
    );
  }
  const cldPath = join(ctx.dir, `${name}.cld`);
  let cld: Uint8Array;
  let opened: OpenedContainer;
  try {
    cld = buildCld(files, cldPath);
    opened = openContainer(cld, { path: cldPath, kind: "cld", ...(ctx.keys ? { keys: ctx.keys } : {}) });
    if (opened.header.version !== version) {
      throw new ClamavError(
        "CVD_BAD_INFO",
        `the patched .info says version ${opened.header.version}, the patches produced ${version}`,
        { path: cldPath },
      );
    }
  } catch (e) {
    // the patches verified but the result does not: freshclam would test-load, fail, and fetch the whole file
    p.patchError = asUpdateFailure(e);
    p.warnings.push(
      `the database built from the patches does not verify (${p.patchError.message}): downloading the whole ${name}.cvd`,
    );
    return wholeFile(ctx, p, local, remote);
  }
  const path = await install(ctx, name, "cld", cld);
  const h = opened.header;
  ctx.log(
    `${name}.cld updated (version: ${h.version}, sigs: ${h.signatures}, f-level: ${h.flevel}, builder: ${h.builder})`,
  );
  return {
    name,
    status: "updated",
    previousVersion: p.previousVersion,
    version: h.version,
    remoteVersion: remote,
    file: path,
    via: "cdiff",
    patches: applied,
    signatures: h.signatures,
    flevel: h.flevel,
    builder: h.builder,
    ...(p.patchError ? { patchError: p.patchError } : {}),
    warnings: [...p.warnings, ...opened.warnings],
  };
}

interface MirrorState {
  uuid?: string;
  retryAfter?: string;
}

const STATE_FILE = "vigil-freshclam.json";

async function readState(dir: string): Promise<MirrorState> {
  try {
    const v = JSON.parse(await readFile(join(dir, STATE_FILE), "utf8")) as unknown;
    return v && typeof v === "object" ? (v as MirrorState) : {};
  } catch {
    return {};
  }
}

/**
 * Updates ClamAV databases from a mirror into `databaseDir`. Each database gets its own result
 * (an error in one does not stop the others); a cool-down (HTTP 403/429) stops the run.
 */
export async function updateClamavDatabases(options: ClamavMirrorOptions): Promise<ClamavMirrorResult> {
  const now = options.now ?? (() => new Date());
  const dir = isAbsolute(options.databaseDir) ? options.databaseDir : resolve(options.databaseDir);
  const names = options.databases ?? CLAMAV_STANDARD_DATABASES;
  if (names.length === 0) throw new UpdateError("BAD_INPUT", "no database to update: name at least one");
  for (const n of names) checkName(n);
  const maxBytes = options.maxDownloadBytes ?? 2 ** 30;
  const timeoutMs = options.timeoutMs ?? 60_000;
  await mkdir(dir, { recursive: true }).catch((e: unknown) => {
    throw new UpdateError("BAD_INPUT", `cannot create the database directory ${dir}: ${(e as Error).message}`, {
      cause: e,
    });
  });
  const release = await lockDir(dir, "vigil-freshclam");
  try {
    const state = await readState(dir);
    const saveState = () => writeFileAtomic(join(dir, STATE_FILE), JSON.stringify(state) + "\n");
    if (!state.uuid) {
      state.uuid = randomUUID();
      await saveState();
    }
    if (state.retryAfter !== undefined) {
      const until = new Date(state.retryAfter);
      if (until.getTime() > now().getTime()) {
        const error = new UpdateError(
          "COOL_DOWN",
          `the mirror answered 403 or 429 earlier: no request until ${until.toISOString()} (freshclam's cool-down); try again after that`,
        );
        return {
          databases: names.map((name) =>
            refused({ name, previousVersion: null, remoteVersion: null, warnings: [] }, undefined, error),
          ),
        };
      }
      delete state.retryAfter;
      await saveState();
    }
    const locations = typeof options.mirror === "string" ? [options.mirror] : [...options.mirror];
    if (locations.length === 0)
      throw new UpdateError("BAD_INPUT", "no mirror given: name an http(s) URL or a mirror directory");
    const mirrors: Mirror[] = [];
    for (const location of locations) {
      if (/^https?:\/\//i.test(location)) {
        mirrors.push(
          new HttpMirror(location, {
            timeoutMs,
            maxBytes,
            now,
            userAgent: `Vigil/0.1.0 (OS: ${process.platform}, ARCH: ${process.arch}, UUID: ${state.uuid})`,
          }),
        );
      } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
        throw new UpdateError("BAD_INPUT", `unsupported mirror scheme: ${location} (use http, https or a directory)`);
      } else {
        const d = isAbsolute(location) ? location : resolve(location);
        const st = await stat(d).catch(() => undefined);
        if (!st?.isDirectory())
          throw new UpdateError("BAD_INPUT", `the mirror ${location} is neither an http(s) URL nor a directory`);
        mirrors.push(new DirMirror(d, maxBytes));
      }
    }
    const base = {
      dir,
      keys: options.keys,
      attempts: Math.max(1, options.maxAttempts ?? 3),
      delayMs: options.retryDelayMs ?? 5000,
      scripted: options.scriptedUpdates ?? true,
      privateMirror: options.privateMirror ?? false,
      maxPatches: Math.max(0, options.maxPatches ?? 100),
      log: options.log ?? (() => undefined),
    };
    const results: ClamavDatabaseResult[] = [];
    const once = async (ctx: Context, name: string): Promise<ClamavDatabaseResult> => {
      let r = await updateDatabase(ctx, name);
      if (
        r.status === "updated" &&
        (r.via === "cvd" || r.via === "cld") &&
        r.remoteVersion !== null &&
        r.version !== null &&
        r.version < r.remoteVersion
      ) {
        // the mirror's .cvd was older than its header said: once more, as freshclam does, so patches can finish the job
        ctx.log(`${name}: installed version ${r.version} of ${r.remoteVersion}; trying again for the rest`);
        const again = await updateDatabase(ctx, name);
        r =
          again.status === "updated"
            ? { ...again, previousVersion: r.previousVersion, warnings: [...r.warnings, ...again.warnings] }
            : {
                ...r,
                warnings: [
                  ...r.warnings,
                  ...again.warnings,
                  ...(again.error
                    ? [`the second attempt did not reach version ${r.remoteVersion}: ${again.error.message}`]
                    : []),
                ],
              };
      }
      return r;
    };
    for (const name of names) {
      try {
        let r: ClamavDatabaseResult | undefined;
        const skipped: string[] = [];
        for (const [i, mirror] of mirrors.entries()) {
          r = await once({ ...base, mirror }, name);
          // a mirror that cannot be reached or lacks the files: the next one, as freshclam does ("Giving up on ...")
          if (
            r.status === "refused" &&
            r.error instanceof UpdateError &&
            r.error.code === "FETCH_FAILED" &&
            i < mirrors.length - 1
          ) {
            base.log(`${name}: giving up on ${mirror.location}: ${r.error.message}`);
            skipped.push(`${mirror.location}: ${r.error.message}`);
            continue;
          }
          break;
        }
        results.push(
          skipped.length > 0
            ? { ...r!, warnings: [...skipped.map((m) => `mirror skipped: ${m}`), ...r!.warnings] }
            : r!,
        );
      } catch (e) {
        if (!(e instanceof CoolDown)) throw e;
        state.retryAfter = e.until.toISOString();
        await saveState();
        results.push(refused({ name, previousVersion: null, remoteVersion: null, warnings: [] }, undefined, e));
        for (const rest of names.slice(names.indexOf(name) + 1))
          results.push(refused({ name: rest, previousVersion: null, remoteVersion: null, warnings: [] }, undefined, e));
        break;
      }
    }
    const result: { databases: ClamavDatabaseResult[]; notified?: string; notifyError?: UpdateError } = {
      databases: results,
    };
    if (options.notifyClamd && results.some((r) => r.status === "updated")) {
      try {
        result.notified = await notifyClamd(options.notifyClamd, { timeoutMs: Math.min(timeoutMs, 30_000) });
        base.log(`clamd at ${options.notifyClamd} reloads the databases`);
      } catch (e) {
        result.notifyError =
          e instanceof UpdateError ? e : new UpdateError("NOTIFY_FAILED", (e as Error).message, { cause: e });
      }
    }
    return result;
  } finally {
    await release();
  }
}

/**
 * Sends `RELOAD` to a clamd-protocol daemon (`zRELOAD\0`) at a unix socket path or `HOST:PORT`
 * and returns its reply (`RELOADING`). Throws `NOTIFY_FAILED` when it cannot be reached or
 * answers something else.
 */
export function notifyClamd(target: string, options: { timeoutMs?: number } = {}): Promise<string> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const tcp = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(target);
  return new Promise<string>((resolvePromise, reject) => {
    const sock =
      tcp && !target.includes("/")
        ? connect({ host: tcp[1]!.replace(/^\[|\]$/g, ""), port: Number(tcp[2]) })
        : connect({ path: target });
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (err: UpdateError | undefined, reply?: string) => {
      if (done) return;
      done = true;
      sock.destroy();
      if (err) reject(err);
      else resolvePromise(reply!);
    };
    sock.setTimeout(timeoutMs, () =>
      finish(new UpdateError("NOTIFY_FAILED", `clamd at ${target} did not answer RELOAD within ${timeoutMs} ms`)),
    );
    sock.on("connect", () => sock.write("zRELOAD\0"));
    sock.on("data", (c: Buffer) => {
      chunks.push(c);
      const text = Buffer.concat(chunks).toString("latin1");
      const end = text.search(/[\0\n]/);
      if (end >= 0) {
        const reply = text.slice(0, end);
        finish(
          reply === "RELOADING"
            ? undefined
            : new UpdateError("NOTIFY_FAILED", `clamd at ${target} answered '${reply.slice(0, 100)}' to RELOAD`),
          reply,
        );
      }
    });
    sock.on("end", () => {
      const reply = Buffer.concat(chunks)
        .toString("latin1")
        .replace(/[\0\n]+$/, "");
      finish(
        reply === "RELOADING"
          ? undefined
          : new UpdateError(
              "NOTIFY_FAILED",
              `clamd at ${target} closed the connection${reply ? ` after '${reply.slice(0, 100)}'` : " without an answer"} to RELOAD`,
            ),
        reply,
      );
    });
    sock.on("error", (e) =>
      finish(
        new UpdateError(
          "NOTIFY_FAILED",
          `cannot reach clamd at ${target} (${e.message}): is the daemon running, and is this its LocalSocket or TCPAddr:TCPSocket?`,
          { cause: e },
        ),
      ),
    );
  });
}
