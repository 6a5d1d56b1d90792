/**
 * Where an endpoint, witness or monitor reads a log from: a base URL (http/https) or a directory.
 * Every read has a size limit, so a hostile server cannot make us buffer without bound.
 */
import { readFile, stat } from "node:fs/promises";
import { isAbsolute, resolve, sep } from "node:path";
import { TileReader, TlogError, equalBytes, type Checkpoint, type TileFetch } from "@vigil/tlog";
import { UpdateError } from "./error.js";

export interface Source {
  /** Reads `path` (relative, '/'-separated) under the source; throws `FETCH_FAILED` or `TOO_LARGE`. */
  get(path: string, maxBytes: number): Promise<Uint8Array>;
  readonly location: string;
}

export const LIMITS = {
  checkpoint: 64 * 1024,
  tile: 256 * 32,
  entryBundle: 256 * (2 + 65535),
  bundle: 128 * 1024 * 1024,
};

function checkRelative(path: string): void {
  if (path.startsWith("/") || path.split("/").some((c) => c === ".." || c === "")) {
    throw new UpdateError("BAD_INPUT", `refusing to read ${JSON.stringify(path)}: not a plain relative path`);
  }
}

class DirSource implements Source {
  constructor(readonly location: string) {}
  async get(path: string, maxBytes: number): Promise<Uint8Array> {
    checkRelative(path);
    const full = resolve(this.location, ...path.split("/"));
    if (!full.startsWith(resolve(this.location) + sep))
      throw new UpdateError("BAD_INPUT", `path escapes the source directory: ${path}`);
    try {
      const st = await stat(full);
      if (st.size > maxBytes)
        throw new UpdateError("TOO_LARGE", `${path} is ${st.size} bytes, over the ${maxBytes}-byte limit`);
      return new Uint8Array(await readFile(full));
    } catch (e) {
      if (e instanceof UpdateError) throw e;
      throw new UpdateError("FETCH_FAILED", `cannot read ${path} from ${this.location}`, { cause: e });
    }
  }
}

class HttpSource implements Source {
  private readonly base: string;
  constructor(
    readonly location: string,
    private readonly timeoutMs: number,
  ) {
    this.base = location.endsWith("/") ? location : location + "/";
  }
  async get(path: string, maxBytes: number): Promise<Uint8Array> {
    checkRelative(path);
    const url = this.base + path;
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs), redirect: "follow" });
    } catch (cause) {
      throw new UpdateError("FETCH_FAILED", `cannot fetch ${url}`, { cause });
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new UpdateError("FETCH_FAILED", `fetching ${url} gave HTTP ${res.status}`);
    }
    const len = Number(res.headers.get("content-length") ?? "-1");
    if (len > maxBytes) {
      await res.body?.cancel();
      throw new UpdateError("TOO_LARGE", `${url} is ${len} bytes, over the ${maxBytes}-byte limit`);
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    if (res.body) {
      const reader = res.body.getReader();
      for (;;) {
        let r;
        try {
          r = await reader.read();
        } catch (cause) {
          throw new UpdateError("FETCH_FAILED", `reading ${url} failed`, { cause });
        }
        if (r.done) break;
        total += r.value.length;
        if (total > maxBytes) {
          await reader.cancel();
          throw new UpdateError("TOO_LARGE", `${url} is over the ${maxBytes}-byte limit`);
        }
        chunks.push(r.value);
      }
    }
    const out = new Uint8Array(total);
    let off = 0;
    for (const c of chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
}

/** Reads a tile or entry bundle under its size limit. */
export function tileFetcher(src: Source): TileFetch {
  return (p: string) => src.get(p, p.startsWith("tile/entries/") ? LIMITS.entryBundle : LIMITS.tile);
}

function describe(e: unknown): string {
  const parts: string[] = [];
  for (let c: unknown = e; c instanceof Error && parts.length < 4; c = c.cause) parts.push(c.message);
  return parts.join(": ");
}

/**
 * A failure to read or decode the log's tiles or entry bundles (missing, truncated, over their
 * size limit) as a `TRANSPORT_DAMAGED` refusal; any other error is returned as it is. Such damage
 * is no evidence of a split view: only a well-formed proof that fails is.
 */
export function transportDamage(e: unknown, what: string, location: string): unknown {
  const tileProblem = e instanceof TlogError && (e.code === "MISSING_TILE" || e.code === "BAD_TILE");
  const readProblem = e instanceof UpdateError && (e.code === "FETCH_FAILED" || e.code === "TOO_LARGE");
  if (!tileProblem && !readProblem) return e;
  return new UpdateError(
    "TRANSPORT_DAMAGED",
    `${what}: ${describe(e)}. The log's files from ${location} are missing or damaged (an interrupted download, a proxy, a half-synced mirror); nothing was changed: retry later or use another mirror`,
    { cause: e },
  );
}

/**
 * The tree of a verified checkpoint, read from the source's hash tiles, after checking that the
 * tiles hash to the checkpoint's signed root: proofs computed from it are then bound to that
 * root, so a proof that fails is the log's doing, not the transport's. Tiles that are missing,
 * malformed or hash to another root give `TRANSPORT_DAMAGED`.
 */
export async function verifiedTree(src: Source, cp: Checkpoint): Promise<TileReader> {
  const reader = new TileReader(tileFetcher(src), cp.size);
  let root: Uint8Array;
  try {
    root = await reader.root();
  } catch (e) {
    throw transportDamage(e, `cannot read the hash tiles of the log's tree of size ${cp.size}`, src.location);
  }
  if (!equalBytes(root, cp.rootHash)) {
    throw new UpdateError(
      "TRANSPORT_DAMAGED",
      `the hash tiles from ${src.location} do not hash to the root of the signed checkpoint of size ${cp.size}: they are damaged or stale (a half-synced mirror?); nothing was changed: retry later or use another mirror`,
    );
  }
  return reader;
}

/** `http://...` or `https://...` gives an HTTP source; anything else is a directory. */
export function openSource(location: string, options: { timeoutMs?: number } = {}): Source {
  if (/^https?:\/\//i.test(location)) return new HttpSource(location, options.timeoutMs ?? 30_000);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location))
    throw new UpdateError("BAD_INPUT", `unsupported source scheme: ${location} (use http, https or a directory)`);
  return new DirSource(isAbsolute(location) ? location : resolve(location));
}
