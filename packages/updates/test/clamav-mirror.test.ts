/**
 * Updating ClamAV databases from a mirror (freshclam's protocol) against a real HTTP server on
 * 127.0.0.1 serving ClamAV's own signed test files (test-1..6.cvd, test-2..6.cdiff), and against
 * the same files as a mirror directory. When Debian's freshclam is installed, the same mirror is
 * also updated through it and both results are compared.
 */
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, mkdir, readFile, readdir, stat, utimes, writeFile } from "node:fs/promises";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createNetServer, type AddressInfo, type Socket } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it, onTestFinished } from "vitest";
import {
  type ClamavError,
  buildSignedCdiff,
  buildSignedCvd,
  trustedKeysOf,
  loadClamavDatabase,
  generateContainerKeys,
  openContainer,
  parseContainerHeader,
  type OpenedContainer,
} from "@vigil/clamav";
import { UpdateError, notifyClamd, updateClamavDatabases, type ClamavMirrorOptions } from "@vigil/updates";
import { tempDir } from "./helpers.js";
import { corpus, needs } from "@vigil/test-kit";

// ClamAV's signed freshclam test files, from the corpora beside the repository (or fetched)
const CORPUS = corpus("clamav/freshclam");
const HAVE_CORPUS = !needs("clamav-mirror tests", { corpora: ["clamav/freshclam"] });

interface Logged {
  readonly path: string;
  readonly range: string | undefined;
  readonly ims: string | undefined;
  readonly status: number;
}

interface MirrorServer {
  readonly url: string;
  readonly requests: Logged[];
  /** path -> bytes sent before the connection is cut (Content-Length announces the whole file) */
  readonly cut: Map<string, number>;
  /** path -> the file served instead for requests without Range (a mirror whose header and file disagree) */
  readonly swap: Map<string, string>;
  /** answer Range requests with the whole file (as python's http.server does) */
  ignoreRange: boolean;
  /** path -> status answered instead of the file */
  readonly status: Map<string, { status: number; headers?: Record<string, string> }>;
}

/** A static HTTP server over `dir` that honours Range and If-Modified-Since (by file mtime). */
async function startMirror(dir: string): Promise<MirrorServer> {
  const requests: Logged[] = [];
  const cut = new Map<string, number>();
  const swap = new Map<string, string>();
  const status = new Map<string, { status: number; headers?: Record<string, string> }>();
  const self = { ignoreRange: false };
  const server: Server = createHttpServer((req, res) => {
    void (async () => {
      const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
      const range = req.headers.range;
      const ims = req.headers["if-modified-since"];
      const log = (s: number) => requests.push({ path, range, ims, status: s });
      const override = status.get(path);
      if (override) {
        log(override.status);
        res.writeHead(override.status, override.headers ?? {}).end();
        return;
      }
      const name = (range === undefined ? swap.get(path) : undefined) ?? path.slice(1);
      if (!/^[A-Za-z0-9._-]+$/.test(name)) {
        log(404);
        res.writeHead(404).end();
        return;
      }
      let bytes: Buffer;
      let mtime: number;
      try {
        bytes = await readFile(join(dir, name));
        mtime = Math.floor((await stat(join(dir, name))).mtimeMs / 1000);
      } catch {
        log(404);
        res.writeHead(404).end();
        return;
      }
      const lastModified = new Date(mtime * 1000).toUTCString();
      if (ims !== undefined && Number.isFinite(Date.parse(ims)) && mtime <= Date.parse(ims) / 1000) {
        log(304);
        res.writeHead(304, { "Last-Modified": lastModified }).end();
        return;
      }
      let body = bytes;
      let code = 200;
      const headers: Record<string, string | number> = {
        "Last-Modified": lastModified,
        "Content-Type": "application/octet-stream",
        "Accept-Ranges": "bytes",
      };
      const m = range && !self.ignoreRange ? /^bytes=(\d+)-(\d*)$/.exec(range) : null;
      if (m) {
        const start = Number(m[1]);
        const end = Math.min(m[2] ? Number(m[2]) : bytes.length - 1, bytes.length - 1);
        body = bytes.subarray(start, end + 1);
        code = 206;
        headers["Content-Range"] = `bytes ${start}-${end}/${bytes.length}`;
      }
      headers["Content-Length"] = body.length;
      log(code);
      res.writeHead(code, headers);
      const n = cut.get(path);
      if (n !== undefined && n < body.length) {
        res.write(body.subarray(0, n), () => setTimeout(() => res.socket?.destroy(), 20));
        return;
      }
      res.end(body);
    })();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  onTestFinished(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(self, { url: `http://127.0.0.1:${port}`, requests, cut, swap, status });
}

async function headerOf(path: string) {
  return parseContainerHeader(new Uint8Array(await readFile(path)), path);
}

/** A mirror directory: test-<cvd>.cvd as test.cvd (mtime = its build time) and the given patches. */
async function makeMirror(
  root: string,
  cvd: number,
  patches: number[],
  options: { mtimeNow?: boolean } = {},
): Promise<string> {
  const dir = join(root, "www");
  await mkdir(dir, { recursive: true });
  await copyFile(join(CORPUS, `test-${cvd}.cvd`), join(dir, "test.cvd"));
  if (!options.mtimeNow) {
    const stime = (await headerOf(join(dir, "test.cvd"))).stime!;
    await utimes(join(dir, "test.cvd"), stime, stime);
  }
  for (const n of patches) await copyFile(join(CORPUS, `test-${n}.cdiff`), join(dir, `test-${n}.cdiff`));
  return dir;
}

async function makeDb(root: string, local: number | undefined, name = "db"): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  if (local !== undefined) await copyFile(join(CORPUS, `test-${local}.cvd`), join(dir, "test.cvd"));
  return dir;
}

/** The database files of a directory (.cvd/.cld), and any leftover temporary file. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of (await readdir(dir)).sort()) {
    if (/\.(cvd|cld)$/.test(f) || f.includes(".tmp")) out[f] = (await readFile(join(dir, f))).toString("base64");
  }
  return out;
}

function filesOf(c: OpenedContainer): Record<string, string> {
  return Object.fromEntries(
    [...c.files].sort((a, b) => (a.name < b.name ? -1 : 1)).map((f) => [f.name, Buffer.from(f.bytes).toString("hex")]),
  );
}

async function openFile(path: string): Promise<OpenedContainer> {
  return openContainer(new Uint8Array(await readFile(path)), { path });
}

const TEST6_FILES = HAVE_CORPUS
  ? filesOf(openContainer(new Uint8Array(await readFile(join(CORPUS, "test-6.cvd"))), { path: "test-6.cvd" }))
  : {};

function run(mirror: string | string[], databaseDir: string, extra: Partial<ClamavMirrorOptions> = {}) {
  const log: string[] = [];
  return updateClamavDatabases({
    mirror,
    databaseDir,
    databases: ["test"],
    retryDelayMs: 0,
    log: (l) => log.push(l),
    ...extra,
  }).then((r) => ({ ...r, log }));
}

const IMS_TEST1 = "Tue, 22 Jun 2021 18:58:22 GMT"; // test-1.cvd's build time (header field 9)

describe.skipIf(!HAVE_CORPUS)("vigil freshclam over HTTP", () => {
  it("patches test-1 to test-6 by the .cdiff chain, with freshclam's requests, into a .cld equal to test-6", async () => {
    const root = await tempDir("vigil-fc-");
    const www = await makeMirror(root, 6, [2, 3, 4, 5, 6]);
    const db = await makeDb(root, 1);
    const server = await startMirror(www);
    const r = await run(server.url, db);
    const res = r.databases[0]!;
    expect(res).toMatchObject({
      name: "test",
      status: "updated",
      previousVersion: 1,
      version: 6,
      remoteVersion: 6,
      via: "cdiff",
      patches: 5,
      signatures: 14,
      flevel: 81,
      builder: "micasnyd",
    });
    expect(res.error).toBeUndefined();
    expect(server.requests.map((q) => [q.path, q.range, q.ims])).toEqual([
      ["/test.cvd", "bytes=0-511", IMS_TEST1],
      ...[2, 3, 4, 5, 6].map((n) => [`/test-${n}.cdiff`, undefined, undefined]),
    ]);
    expect((await readdir(db)).filter((f) => f !== "vigil-freshclam.json").sort()).toEqual(["test.cld"]);
    const cld = await readFile(join(db, "test.cld"));
    expect(cld.subarray(0, 512).toString("latin1").trimEnd()).toBe(
      "ClamAV-VDB:22 Jun 2021 21-34 -0400:6:14:81:X:X:micasnyd:1624412045",
    );
    expect(filesOf(openContainer(new Uint8Array(cld), { path: "test.cld" }))).toEqual(TEST6_FILES);
    expect(r.log).toContain("test.cld updated (version: 6, sigs: 14, f-level: 81, builder: micasnyd)");
    // Vigil's own loader reads the updated directory as it reads test-6.cvd (the lock and state files are ignored)
    expect(loadClamavDatabase(db).count).toBe(loadClamavDatabase(join(CORPUS, "test-6.cvd")).count);
  });

  it("a mirror that ignores Range: the probe reads the first 512 bytes of the 200 and stops", async () => {
    const root = await tempDir("vigil-fc-");
    const www = await makeMirror(root, 6, [2, 3, 4, 5, 6]);
    const db = await makeDb(root, 1);
    const server = await startMirror(www);
    server.ignoreRange = true;
    const r = await run(server.url, db);
    expect(r.databases[0]).toMatchObject({ status: "updated", version: 6, via: "cdiff", patches: 5 });
    expect(server.requests[0]).toMatchObject({ path: "/test.cvd", range: "bytes=0-511", status: 200 });
  });

  it("downloads the whole .cvd when there is no local copy (no If-Modified-Since)", async () => {
    const root = await tempDir("vigil-fc-");
    const www = await makeMirror(root, 6, [2, 3, 4, 5, 6]);
    const db = await makeDb(root, undefined);
    const server = await startMirror(www);
    const r = await run(server.url, db);
    expect(r.databases[0]).toMatchObject({
      status: "updated",
      previousVersion: null,
      version: 6,
      via: "cvd",
      patches: 0,
    });
    expect(server.requests.map((q) => [q.path, q.range, q.ims])).toEqual([
      ["/test.cvd", "bytes=0-511", undefined],
      ["/test.cvd", undefined, undefined],
    ]);
    expect(await readFile(join(db, "test.cvd"))).toEqual(await readFile(join(CORPUS, "test-6.cvd")));
  });

  it("patches a local .cld further (If-Modified-Since from the .cld's header), and replaces a local copy that does not verify", async () => {
    const root = await tempDir("vigil-fc-");
    const www = await makeMirror(root, 3, [2, 3]);
    const db = await makeDb(root, 1);
    const server = await startMirror(www);
    expect((await run(server.url, db)).databases[0]).toMatchObject({ status: "updated", version: 3, via: "cdiff" });
    await makeMirror(root, 6, [4, 5, 6]);
    server.requests.length = 0;
    const r = await run(server.url, db);
    expect(r.databases[0]).toMatchObject({
      status: "updated",
      previousVersion: 3,
      version: 6,
      via: "cdiff",
      patches: 3,
    });
    expect(server.requests.map((q) => [q.path, q.ims])).toEqual([
      ["/test.cvd", new Date((await headerOf(join(CORPUS, "test-3.cvd"))).stime! * 1000).toUTCString()],
      ["/test-4.cdiff", undefined],
      ["/test-5.cdiff", undefined],
      ["/test-6.cdiff", undefined],
    ]);
    expect(filesOf(await openFile(join(db, "test.cld")))).toEqual(TEST6_FILES);
    // a damaged local copy counts as none: the whole file, without If-Modified-Since
    const cld = await readFile(join(db, "test.cld"));
    cld[cld.indexOf("Win.Worm.Klez")] ^= 0x01; // in test.ndb, which the .info lists (COPYING is not checked)
    await writeFile(join(db, "test.cld"), cld);
    server.requests.length = 0;
    const r2 = await run(server.url, db);
    expect(r2.databases[0]).toMatchObject({ status: "updated", previousVersion: null, version: 6, via: "cvd" });
    expect(r2.databases[0]!.warnings.join("\n")).toMatch(/test\.cld does not verify/);
    expect(server.requests.map((q) => [q.path, q.ims])).toEqual([
      ["/test.cvd", undefined],
      ["/test.cvd", undefined],
    ]);
    expect((await readdir(db)).filter((f) => /\.(cvd|cld)$/.test(f))).toEqual(["test.cvd"]);
  });

  it("more than maxPatches behind: the whole .cvd, no patch requested", async () => {
    const root = await tempDir("vigil-fc-");
    const www = await makeMirror(root, 6, [2, 3, 4, 5, 6]);
    const db = await makeDb(root, 2);
    const server = await startMirror(www);
    const r = await run(server.url, db, { maxPatches: 3 });
    expect(r.databases[0]).toMatchObject({ status: "updated", previousVersion: 2, version: 6, via: "cvd" });
    expect(server.requests.map((q) => q.path)).toEqual(["/test.cvd", "/test.cvd"]);
    expect(await readFile(join(db, "test.cvd"))).toEqual(await readFile(join(CORPUS, "test-6.cvd")));
  });

  it("says up to date on 304 and downloads nothing; a later run after an update is up to date too", async () => {
    const root = await tempDir("vigil-fc-");
    const www = await makeMirror(root, 6, [2, 3, 4, 5, 6]);
    const db = await makeDb(root, 6);
    const server = await startMirror(www);
    const before = await snapshot(db);
    const r = await run(server.url, db);
    expect(r.databases[0]).toMatchObject({ status: "up-to-date", version: 6, remoteVersion: null, via: null });
    expect(server.requests).toEqual([
      { path: "/test.cvd", range: "bytes=0-511", ims: "Wed, 23 Jun 2021 01:34:05 GMT", status: 304 },
    ]);
    expect(await snapshot(db)).toEqual(before);
  });

  it("a .cdiff cut short: retried MaxAttempts times, then the old database is kept (gap of one) with FETCH_FAILED", async () => {
    const root = await tempDir("vigil-fc-");
    const www = await makeMirror(root, 6, [6]);
    const db = await makeDb(root, 5);
    const server = await startMirror(www);
    server.cut.set("/test-6.cdiff", 300);
    const before = await snapshot(db);
    const r = await run(server.url, db);
    const res = r.databases[0]!;
    expect(res.status).toBe("refused");
    expect(res.error).toBeInstanceOf(UpdateError);
    expect((res.error as UpdateError).code).toBe("FETCH_FAILED");
    expect(res.error!.message).toMatch(/interrupted after 300 of 973 bytes/);
    expect(server.requests.map((q) => q.path)).toEqual([
      "/test.cvd",
      "/test-6.cdiff",
      "/test-6.cdiff",
      "/test-6.cdiff",
    ]);
    expect(await snapshot(db)).toEqual(before);
  });

  it("a .cdiff cut short in the middle of a chain: a .cld of the patches that applied (freshclam's partial update)", async () => {
    const root = await tempDir("vigil-fc-");
    const www = await makeMirror(root, 6, [2, 3, 4, 5, 6]);
    const db = await makeDb(root, 1);
    const server = await startMirror(www);
    server.cut.set("/test-4.cdiff", 100);
    const r = await run(server.url, db);
    const res = r.databases[0]!;
    expect(res).toMatchObject({ status: "updated", version: 3, via: "cdiff", patches: 2 });
    expect((res.patchError as UpdateError).code).toBe("FETCH_FAILED");
    const three = filesOf(
      openContainer(new Uint8Array(await readFile(join(CORPUS, "test-3.cvd"))), { path: "test-3.cvd" }),
    );
    expect(filesOf(await openFile(join(db, "test.cld")))).toEqual(three);
    expect(existsSync(join(db, "test.cvd"))).toBe(false);
  });

  it("a whole .cvd cut short is refused (FETCH_FAILED) and nothing is written", async () => {
    const root = await tempDir("vigil-fc-");
    const www = await makeMirror(root, 6, []);
    const db = await makeDb(root, undefined);
    const server = await startMirror(www);
    server.cut.set("/test.cvd", 5000);
    const r = await run(server.url, db);
    expect(r.databases[0]!.status).toBe("refused");
    expect((r.databases[0]!.error as UpdateError).code).toBe("FETCH_FAILED");
    expect(r.databases[0]!.error!.message).toMatch(/interrupted after 5000 of 9952 bytes/);
    expect(await snapshot(db)).toEqual({});
  });

  it("a .cdiff with a flipped byte is refused (CVD_BAD_SIGNATURE), never applied; freshclam's fallback takes the whole .cvd", async () => {
    const root = await tempDir("vigil-fc-");
    const www = await makeMirror(root, 6, [2, 3, 4, 5, 6]);
    const bad = await readFile(join(www, "test-4.cdiff"));
    bad[200] ^= 0x01;
    await writeFile(join(www, "test-4.cdiff"), bad);
    const db = await makeDb(root, 1);
    const server = await startMirror(www);
    const r = await run(server.url, db);
    const res = r.databases[0]!;
    expect((res.patchError as ClamavError).code).toBe("CVD_BAD_SIGNATURE");
    expect(res).toMatchObject({ status: "updated", version: 6, via: "cvd" });
    expect(server.requests.map((q) => [q.path, q.ims])).toEqual([
      ["/test.cvd", IMS_TEST1],
      ["/test-2.cdiff", undefined],
      ["/test-3.cdiff", undefined],
      ["/test-4.cdiff", undefined],
      ["/test.cvd", IMS_TEST1],
    ]);
    expect(await readFile(join(db, "test.cvd"))).toEqual(await readFile(join(CORPUS, "test-6.cvd")));
    expect(existsSync(join(db, "test.cld"))).toBe(false);
  });

  it("a flipped .cdiff and a damaged whole .cvd: refused (CVD_BAD_MD5), the old database byte-identical", async () => {
    const root = await tempDir("vigil-fc-");
    const www = await makeMirror(root, 6, [2, 3, 4, 5, 6]);
    const bad = await readFile(join(www, "test-4.cdiff"));
    bad[200] ^= 0x01;
    await writeFile(join(www, "test-4.cdiff"), bad);
    const cvd = await readFile(join(www, "test.cvd"));
    cvd[4000] ^= 0x01;
    await writeFile(join(www, "test.cvd"), cvd);
    const db = await makeDb(root, 1);
    const server = await startMirror(www);
    const before = await snapshot(db);
    const r = await run(server.url, db);
    const res = r.databases[0]!;
    expect(res.status).toBe("refused");
    expect((res.patchError as ClamavError).code).toBe("CVD_BAD_SIGNATURE");
    expect((res.error as ClamavError).code).toBe("CVD_BAD_MD5");
    expect(res.version).toBe(1);
    expect(server.requests.filter((q) => q.path === "/test.cvd" && q.range === undefined)).toHaveLength(3);
    expect(await snapshot(db)).toEqual(before);
  });

  it("a .cvd signed by another key is refused (CVD_BAD_SIGNATURE)", async () => {
    const root = await tempDir("vigil-fc-");
    const www = join(root, "www");
    await mkdir(www);
    const keys = generateContainerKeys();
    const forged = buildSignedCvd(
      [{ name: "test.ndb", bytes: Buffer.from("Forged.Sig:0:*:41414141\n") }],
      { name: "test", version: 7, signatures: 1, flevel: 81, stime: 1700000000 },
      keys,
    );
    await writeFile(join(www, "test.cvd"), forged);
    const db = await makeDb(root, 6);
    const server = await startMirror(www);
    const before = await snapshot(db);
    const r = await run(server.url, db, { scriptedUpdates: false });
    expect(r.databases[0]!.status).toBe("refused");
    expect((r.databases[0]!.error as ClamavError).code).toBe("CVD_BAD_SIGNATURE");
    expect(await snapshot(db)).toEqual(before);
  });

  it("a mirror offering an older version is refused (ROLLBACK), nothing downloaded but the header", async () => {
    const root = await tempDir("vigil-fc-");
    // a stale mirror whose file was copied anew: its mtime is now, so If-Modified-Since does not hide it
    const www = await makeMirror(root, 3, [2, 3], { mtimeNow: true });
    const db = await makeDb(root, 6);
    const server = await startMirror(www);
    const before = await snapshot(db);
    const r = await run(server.url, db);
    const res = r.databases[0]!;
    expect(res).toMatchObject({ status: "refused", previousVersion: 6, version: 6, remoteVersion: 3 });
    expect((res.error as UpdateError).code).toBe("ROLLBACK");
    expect(server.requests.map((q) => [q.path, q.range])).toEqual([["/test.cvd", "bytes=0-511"]]);
    expect(await snapshot(db)).toEqual(before);
  });

  it("follows a redirect; a mirror that never answers is a FETCH_FAILED after the timeout, not a hang", async () => {
    const root = await tempDir("vigil-fc-");
    const www = await makeMirror(root, 6, []);
    await copyFile(join(www, "test.cvd"), join(www, "moved.cvd"));
    const server = await startMirror(www);
    server.status.set("/test.cvd", { status: 302, headers: { Location: "/moved.cvd" } });
    const db = await makeDb(root, undefined);
    expect((await run(server.url, db)).databases[0]).toMatchObject({ status: "updated", version: 6, via: "cvd" });
    expect(server.requests.map((q) => [q.path, q.status])).toEqual([
      ["/test.cvd", 302],
      ["/moved.cvd", 206],
      ["/test.cvd", 302],
      ["/moved.cvd", 200],
    ]);

    const held: Socket[] = [];
    const silent = createNetServer((sock) => void held.push(sock)); // accepts, never answers
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    onTestFinished(
      () =>
        new Promise<void>((r) => {
          for (const h of held) h.destroy();
          silent.close(() => r());
        }),
    );
    const db2 = await makeDb(root, 1, "db2");
    const before = await snapshot(db2);
    const t0 = Date.now();
    const r = await run(`http://127.0.0.1:${(silent.address() as AddressInfo).port}/`, db2, {
      timeoutMs: 300,
      maxAttempts: 2,
    });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.databases[0]!.status).toBe("refused");
    expect((r.databases[0]!.error as UpdateError).code).toBe("FETCH_FAILED");
    expect(r.databases[0]!.error!.message).toMatch(/no data for 300 ms/);
    expect(await snapshot(db2)).toEqual(before);
  });

  it("a whole .cvd older than the header advertised: installed, then patched to the advertised version in the same run", async () => {
    const root = await tempDir("vigil-fc-");
    const www = await makeMirror(root, 6, [6]);
    await copyFile(join(CORPUS, "test-5.cvd"), join(www, "five.cvd"));
    const server = await startMirror(www);
    server.swap.set("/test.cvd", "five.cvd");
    const db = await makeDb(root, undefined);
    const r = await run(server.url, db);
    expect(r.databases[0]).toMatchObject({
      status: "updated",
      previousVersion: null,
      version: 6,
      via: "cdiff",
      patches: 1,
    });
    expect(r.databases[0]!.warnings.join("\n")).toMatch(/older than the version advertised \(6\)/);
    expect(r.log).toEqual(
      expect.arrayContaining([
        "test.cvd updated (version: 5, sigs: 13, f-level: 81, builder: micasnyd)",
        "test.cld updated (version: 6, sigs: 14, f-level: 81, builder: micasnyd)",
      ]),
    );
    expect(filesOf(await openFile(join(db, "test.cld")))).toEqual(TEST6_FILES);
  });

  it("several mirrors: one that cannot be reached is skipped for the next", async () => {
    const root = await tempDir("vigil-fc-");
    const www = await makeMirror(root, 6, [2, 3, 4, 5, 6]);
    const server = await startMirror(www);
    const closed = createNetServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const db = await makeDb(root, 1);
    const r = await run([`http://127.0.0.1:${deadPort}`, server.url], db);
    expect(r.databases[0]).toMatchObject({ status: "updated", version: 6, via: "cdiff" });
    expect(r.databases[0]!.warnings[0]).toMatch(new RegExp(`^mirror skipped: http://127.0.0.1:${deadPort}`));
    expect(r.log.some((l) => l.startsWith(`test: giving up on http://127.0.0.1:${deadPort}`))).toBe(true);
  });

  it("a private mirror (another machine's database directory): .cld first, whole files, never a patch", async () => {
    const root = await tempDir("vigil-fc-");
    const built = await makeDb(root, 1, "built");
    await run(await makeMirror(join(root, "a"), 6, [2, 3, 4, 5, 6]), built);
    const www = join(root, "private");
    await mkdir(www);
    await copyFile(join(built, "test.cld"), join(www, "test.cld"));
    await copyFile(join(CORPUS, "test-6.cdiff"), join(www, "test-6.cdiff"));
    const server = await startMirror(www);
    const db = await makeDb(root, 5);
    const r = await run(server.url, db, { privateMirror: true });
    expect(r.databases[0]).toMatchObject({ status: "updated", previousVersion: 5, version: 6, via: "cld", patches: 0 });
    expect(server.requests.map((q) => [q.path, q.range])).toEqual([
      ["/test.cld", "bytes=0-511"],
      ["/test.cld", undefined],
    ]);
    expect(await readFile(join(db, "test.cld"))).toEqual(await readFile(join(www, "test.cld")));
    expect(existsSync(join(db, "test.cvd"))).toBe(false);
  });

  it("429 starts a cool-down: the next run makes no request", async () => {
    const root = await tempDir("vigil-fc-");
    const www = await makeMirror(root, 6, []);
    const db = await makeDb(root, 1);
    const server = await startMirror(www);
    server.status.set("/test.cvd", { status: 429, headers: { "Retry-After": "120" } });
    const t0 = new Date("2026-12-07T12:00:00Z");
    const r1 = await run(server.url, db, { now: () => t0 });
    expect((r1.databases[0]!.error as UpdateError).code).toBe("COOL_DOWN");
    expect(r1.databases[0]!.error!.message).toContain("2026-12-07T12:02:00.000Z");
    expect(server.requests).toHaveLength(1);
    const r2 = await run(server.url, db, { now: () => new Date(t0.getTime() + 60_000) });
    expect((r2.databases[0]!.error as UpdateError).code).toBe("COOL_DOWN");
    expect(server.requests).toHaveLength(1);
    server.status.clear();
    const r3 = await run(server.url, db, { now: () => new Date(t0.getTime() + 121_000) });
    expect(r3.databases[0]).toMatchObject({ status: "updated", version: 6, via: "cvd" });
  });

  it("tells a clamd-protocol daemon to RELOAD after an update, and not when nothing changed", async () => {
    const root = await tempDir("vigil-fc-");
    const www = await makeMirror(root, 6, [2, 3, 4, 5, 6]);
    const db = await makeDb(root, 1);
    const server = await startMirror(www);
    const socketPath = join(root, "clamd.sock");
    const received: string[] = [];
    const clamd = createNetServer((s) => {
      s.on("data", (d) => {
        received.push(d.toString("latin1"));
        if (d.includes(0)) s.end("RELOADING\0");
      });
    });
    await new Promise<void>((r) => clamd.listen(socketPath, r));
    onTestFinished(() => new Promise<void>((r) => clamd.close(() => r())));
    const r = await run(server.url, db, { notifyClamd: socketPath });
    expect(r.databases[0]!.status).toBe("updated");
    expect(r.notified).toBe("RELOADING");
    expect(received.join("")).toBe("zRELOAD\0");
    const again = await run(server.url, db, { notifyClamd: socketPath });
    expect(again.databases[0]!.status).toBe("up-to-date");
    expect(again.notified).toBeUndefined();
    expect(received).toHaveLength(1);
    // nobody listening: the databases are installed, the failure is reported
    await expect(notifyClamd(join(root, "nobody.sock"))).rejects.toMatchObject({ code: "NOTIFY_FAILED" });
    // HOST:PORT (clamd's TCPAddr:TCPSocket); a reply other than RELOADING is a failure
    const tcpGot: string[] = [];
    let answer = "RELOADING\0";
    const tcp = createNetServer((sock) =>
      sock.on("data", (d) => {
        tcpGot.push(d.toString("latin1"));
        sock.end(answer);
      }),
    );
    await new Promise<void>((r) => tcp.listen(0, "127.0.0.1", r));
    onTestFinished(() => new Promise<void>((r) => tcp.close(() => r())));
    const at = `127.0.0.1:${(tcp.address() as AddressInfo).port}`;
    expect(await notifyClamd(at)).toBe("RELOADING");
    answer = "UNKNOWN COMMAND\0";
    await expect(notifyClamd(at)).rejects.toMatchObject({
      code: "NOTIFY_FAILED",
      message: expect.stringContaining("answered 'UNKNOWN COMMAND'"),
    });
    expect(tcpGot).toEqual(["zRELOAD\0", "zRELOAD\0"]);
  });
});

describe("the standard databases (daily, main, bytecode), signed with keys of our own", () => {
  it("patches daily, downloads main, reports bytecode missing; each on its own", async () => {
    const root = await tempDir("vigil-fc-std-");
    const www = join(root, "www");
    const db = join(root, "db");
    await mkdir(www);
    await mkdir(db);
    const keys = generateContainerKeys();
    const trusted = trustedKeysOf(keys);
    const t = Math.floor(Date.now() / 1000) - 7200;
    const one = "Vigil.Test.One:0:*:414243444546\n";
    const two = "Vigil.Test.Two:0:*:464544434241";
    const daily1 = buildSignedCvd(
      [{ name: "daily.ndb", bytes: Buffer.from(one) }],
      { name: "daily", version: 1, signatures: 1, flevel: 81, stime: t },
      keys,
    );
    const daily2 = buildSignedCvd(
      [{ name: "daily.ndb", bytes: Buffer.from(one + two + "\n") }],
      { name: "daily", version: 2, signatures: 2, flevel: 81, stime: t + 3600 },
      keys,
    );
    const info2 = Buffer.from(
      openContainer(daily2, { path: "daily.cvd", keys: trusted }).files.find((f) => f.name === "daily.info")!.bytes,
    ).toString("latin1");
    const script = [
      "UNLINK daily.info",
      "OPEN daily.info",
      ...info2
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => `ADD ${l}`),
      "CLOSE",
      "OPEN daily.ndb",
      `ADD ${two}`,
      "CLOSE",
      "",
    ].join("\n");
    const main1 = buildSignedCvd(
      [{ name: "main.hdb", bytes: Buffer.from("44d88612fea8a8f36de82e1278abb02f:68:Vigil.Test.Eicar\n") }],
      { name: "main", version: 1, signatures: 1, flevel: 81, stime: t },
      keys,
    );
    await writeFile(join(db, "daily.cvd"), daily1);
    await writeFile(join(www, "daily.cvd"), daily2);
    await writeFile(join(www, "daily-2.cdiff"), buildSignedCdiff(script, 2, keys.cdiff));
    await writeFile(join(www, "main.cvd"), main1);
    const server = await startMirror(www);
    const r = await updateClamavDatabases({ mirror: server.url, databaseDir: db, keys: trusted, retryDelayMs: 0 });
    expect(r.databases.map((d) => [d.name, d.status, d.version, d.via])).toEqual([
      ["daily", "updated", 2, "cdiff"],
      ["main", "updated", 1, "cvd"],
      ["bytecode", "refused", null, null],
    ]);
    expect((r.databases[2]!.error as UpdateError).code).toBe("FETCH_FAILED");
    expect(r.databases[2]!.error!.message).toMatch(/has no bytecode\.cvd/);
    expect(
      filesOf(
        await openContainer(new Uint8Array(await readFile(join(db, "daily.cld"))), {
          path: "daily.cld",
          keys: trusted,
        }),
      ),
    ).toEqual(filesOf(openContainer(daily2, { path: "daily.cvd", keys: trusted })));
    expect(await readFile(join(db, "main.cvd"))).toEqual(Buffer.from(main1));
    // without our keys, ClamAV's own keys refuse all of it: nothing changes
    const before = await snapshot(db);
    await writeFile(
      join(www, "main.cvd"),
      buildSignedCvd(
        [{ name: "main.hdb", bytes: Buffer.from("44d88612fea8a8f36de82e1278abb02f:68:Vigil.Test.Eicar2\n") }],
        { name: "main", version: 2, signatures: 1, flevel: 81, stime: t + 60 },
        keys,
      ),
    );
    const r2 = await updateClamavDatabases({
      mirror: server.url,
      databaseDir: db,
      databases: ["main"],
      retryDelayMs: 0,
    });
    expect((r2.databases[0]!.error as ClamavError).code).toBe("CVD_BAD_SIGNATURE");
    expect(await snapshot(db)).toEqual(before);
  });
});

describe.skipIf(!HAVE_CORPUS)("vigil freshclam from a mirror directory", () => {
  it("patches test-1 to test-6 into a .cld equal to test-6", async () => {
    const root = await tempDir("vigil-fc-");
    const www = await makeMirror(root, 6, [2, 3, 4, 5, 6]);
    const db = await makeDb(root, 1);
    const r = await run(www, db);
    expect(r.databases[0]).toMatchObject({ status: "updated", version: 6, via: "cdiff", patches: 5 });
    expect(filesOf(await openFile(join(db, "test.cld")))).toEqual(TEST6_FILES);
    expect(existsSync(join(db, "test.cvd"))).toBe(false);
  });

  it("whole .cvd with no local copy; up to date on a second run", async () => {
    const root = await tempDir("vigil-fc-");
    const www = await makeMirror(root, 6, []);
    const db = await makeDb(root, undefined);
    expect((await run(www, db)).databases[0]).toMatchObject({ status: "updated", version: 6, via: "cvd" });
    expect(await readFile(join(db, "test.cvd"))).toEqual(await readFile(join(CORPUS, "test-6.cvd")));
    expect((await run(www, db)).databases[0]).toMatchObject({ status: "up-to-date", version: 6 });
  });

  it("refuses a truncated .cvd (CVD_BAD_ARCHIVE or CVD_BAD_MD5), a flipped .cdiff with no good .cvd, and an older version", async () => {
    const root = await tempDir("vigil-fc-");
    const www = await makeMirror(root, 6, [6]);
    const full = await readFile(join(www, "test.cvd"));
    await writeFile(join(www, "test.cvd"), full.subarray(0, 5000));
    const empty = await makeDb(root, undefined, "empty");
    const r1 = await run(www, empty);
    expect(r1.databases[0]!.status).toBe("refused");
    expect(["CVD_BAD_MD5", "CVD_BAD_ARCHIVE"]).toContain((r1.databases[0]!.error as ClamavError).code);
    expect(await snapshot(empty)).toEqual({});

    const bad = await readFile(join(www, "test-6.cdiff"));
    bad[150] ^= 0x80;
    await writeFile(join(www, "test-6.cdiff"), bad);
    const five = await makeDb(root, 5, "five");
    const before5 = await snapshot(five);
    const r2 = await run(www, five);
    expect(r2.databases[0]!.status).toBe("refused");
    expect((r2.databases[0]!.patchError as ClamavError).code).toBe("CVD_BAD_SIGNATURE");
    expect(await snapshot(five)).toEqual(before5);

    const older = await makeMirror(join(root, "old"), 3, []);
    const six = await makeDb(root, 6, "six");
    const before6 = await snapshot(six);
    const r3 = await run(older, six);
    expect((r3.databases[0]!.error as UpdateError).code).toBe("ROLLBACK");
    expect(await snapshot(six)).toEqual(before6);
  });
});

const exec = promisify(execFile);
let FRESHCLAM: string | undefined;
try {
  FRESHCLAM = (await exec("sh", ["-c", "command -v freshclam"])).stdout.trim() || undefined;
} catch {
  FRESHCLAM = undefined;
}
if (HAVE_CORPUS && !FRESHCLAM)
  console.log(
    "freshclam differential test skipped: Debian's freshclam is not installed (apt-get install clamav-freshclam)",
  );

describe.skipIf(!HAVE_CORPUS || !FRESHCLAM)("differential: Debian's freshclam and Vigil on the same mirror", () => {
  const flip = (file: string, at: number) => async (www: string) => {
    const b = await readFile(join(www, file));
    b[at] ^= 0x01;
    await writeFile(join(www, file), b);
  };
  type Case = readonly [
    string,
    number | undefined,
    number,
    readonly number[],
    ((www: string, server: MirrorServer) => Promise<void>) | undefined,
  ];
  const cases: Case[] = [
    ["test-1 + patches 2..6", 1, 6, [2, 3, 4, 5, 6], undefined],
    ["no local copy", undefined, 6, [2, 3, 4, 5, 6], undefined],
    ["test-4, no patches on the mirror", 4, 6, [], undefined],
    ["up to date (304)", 6, 6, [], undefined],
    ["test-3, test-6.cdiff missing (partial .cld)", 3, 6, [4, 5], undefined],
    ["test-1, test-4.cdiff with a flipped byte", 1, 6, [2, 3, 4, 5, 6], flip("test-4.cdiff", 200)],
    ["test-5, an empty test-6.cdiff", 5, 6, [6], async (www) => writeFile(join(www, "test-6.cdiff"), "")],
    [
      "no local copy, the mirror's test.cvd header says 6 and the file is test-5",
      undefined,
      6,
      [6],
      async (www, server) => {
        await copyFile(join(CORPUS, "test-5.cvd"), join(www, "five.cvd"));
        server.swap.set("/test.cvd", "five.cvd");
      },
    ],
    ["test-5, test-6.cdiff cut short", 5, 6, [6], async (_www, server) => void server.cut.set("/test-6.cdiff", 300)],
    [
      "test-6, the mirror offers test-3 with a new mtime",
      6,
      3,
      [],
      async (www) => utimes(join(www, "test.cvd"), new Date(), new Date()),
    ],
  ];
  it.each([
    ["a .cld on the mirror", true],
    ["only a .cvd on the mirror", false],
  ] as const)("PrivateMirror, %s: the same requests and the same database", async (_label, withCld) => {
    const root = await tempDir("vigil-fc-diff-");
    const www = join(root, "www");
    await mkdir(www);
    if (withCld) {
      const built = await makeDb(root, 1, "built");
      await run(await makeMirror(join(root, "a"), 6, [2, 3, 4, 5, 6]), built);
      await copyFile(join(built, "test.cld"), join(www, "test.cld"));
    } else await copyFile(join(CORPUS, "test-6.cvd"), join(www, "test.cvd"));
    const server = await startMirror(www);
    const theirs = await makeDb(root, 3, "freshclam");
    const ours = await makeDb(root, 3, "vigil");
    const conf = join(root, "freshclam.conf");
    await writeFile(conf, `PrivateMirror ${server.url}\nDatabaseDirectory ${theirs}\nDatabaseOwner root\n`);
    const fc = await exec(FRESHCLAM!, [`--config-file=${conf}`, "--no-dns", "--update-db=test"], {
      timeout: 60_000,
    }).catch((e: { stdout?: string; stderr?: string }) => e);
    const theirRequests = server.requests.splice(0).map((q) => [q.path, q.range, q.ims]);
    const r = await run(server.url, ours, { privateMirror: true });
    expect(r.databases[0]!.status).toBe("updated");
    expect(
      server.requests.map((q) => [q.path, q.range, q.ims]),
      `freshclam said: ${fc.stdout}${fc.stderr}`,
    ).toEqual(theirRequests);
    const dbFiles = async (d: string) => (await readdir(d)).filter((f) => /\.(cvd|cld)$/.test(f)).sort();
    expect(await dbFiles(ours)).toEqual(await dbFiles(theirs));
    for (const f of await dbFiles(theirs))
      expect(filesOf(await openFile(join(ours, f)))).toEqual(filesOf(await openFile(join(theirs, f))));
  });

  it.each(cases)(
    "%s: the same requests and databases that open to the same files",
    async (_label, local, remote, patches, mutate) => {
      const root = await tempDir("vigil-fc-diff-");
      const www = await makeMirror(root, remote, [...patches]);
      const server = await startMirror(www);
      await mutate?.(www, server);
      const theirs = await makeDb(root, local, "freshclam");
      const ours = await makeDb(root, local, "vigil");
      const conf = join(root, "freshclam.conf");
      await writeFile(
        conf,
        `DatabaseMirror ${server.url}\nDatabaseDirectory ${theirs}\nDatabaseOwner root\nMaxAttempts 3\n`,
      );
      const fc = await exec(FRESHCLAM!, [`--config-file=${conf}`, "--no-dns", "--update-db=test"], {
        timeout: 60_000,
      }).catch((e: { stdout?: string; stderr?: string; code?: number }) => e);
      if (process.env.VIGIL_DEBUG_FRESHCLAM) console.log(fc.stdout, fc.stderr, server.requests);
      const theirRequests = server.requests.splice(0).map((q) => [q.path, q.range, q.ims]);
      await run(server.url, ours);
      const ourRequests = server.requests.map((q) => [q.path, q.range, q.ims]);
      expect(ourRequests, `freshclam said: ${fc.stdout}${fc.stderr}`).toEqual(theirRequests);
      const dbFiles = async (d: string) => (await readdir(d)).filter((f) => /\.(cvd|cld)$/.test(f)).sort();
      expect(await dbFiles(ours)).toEqual(await dbFiles(theirs));
      for (const f of await dbFiles(theirs)) {
        const a = await openFile(join(theirs, f));
        const b = await openFile(join(ours, f));
        expect(filesOf(b)).toEqual(filesOf(a));
        expect(b.header).toEqual(a.header);
      }
    },
  );
});

let CLAMD: string | undefined;
try {
  CLAMD =
    (await exec("sh", ["-c", "command -v clamd || ls /usr/sbin/clamd"])).stdout.trim().split("\n")[0] || undefined;
} catch {
  CLAMD = undefined;
}
if (HAVE_CORPUS && !CLAMD)
  console.log("clamd RELOAD test skipped: Debian's clamd is not installed (apt-get install clamav-daemon)");

describe.skipIf(!HAVE_CORPUS || !CLAMD)("Debian's clamd reloads what Vigil installed", () => {
  it("test-1 -> test-6 by the chain, RELOAD over clamd's LocalSocket, clamd loads the new .cld", async () => {
    const root = await tempDir("vigil-fc-clamd-");
    const www = await makeMirror(root, 6, [2, 3, 4, 5, 6]);
    const db = await makeDb(root, 1);
    const sock = join(root, "clamd.sock");
    const logFile = join(root, "clamd.log");
    await writeFile(
      join(root, "clamd.conf"),
      `LocalSocket ${sock}\nDatabaseDirectory ${db}\nForeground yes\nLogFile ${logFile}\nLogTime no\nSelfCheck 3600\n`,
    );
    const child = spawn(CLAMD!, [`--config-file=${join(root, "clamd.conf")}`], { stdio: "ignore" });
    onTestFinished(() => {
      child.kill("SIGTERM");
    });
    const waitFor = async (what: () => Promise<boolean>, label: string) => {
      for (let i = 0; i < 300; i++) {
        if (await what()) return;
        if (child.exitCode !== null)
          throw new Error(
            `clamd exited (${child.exitCode}) before ${label}: ${await readFile(logFile, "utf8").catch(() => "")}`,
          );
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`clamd: timed out waiting for ${label}`);
    };
    await waitFor(async () => existsSync(sock), "its socket");
    const server = await startMirror(www);
    const r = await run(server.url, db, { notifyClamd: sock });
    expect(r.databases[0]).toMatchObject({ status: "updated", version: 6, via: "cdiff" });
    expect(r.notified).toBe("RELOADING");
    await waitFor(async () => (await readFile(logFile, "utf8")).includes("Database correctly reloaded"), "the reload");
    const log = await readFile(logFile, "utf8");
    // clamd 1.4.6 without PUA loads 10 of test-6's 14 signatures (test-1 has none)
    expect(log).toMatch(/Loaded 0 signatures\.[\s\S]*Database correctly reloaded \(10 signatures\)/);
  });
});
