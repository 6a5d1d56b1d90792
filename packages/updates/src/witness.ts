/**
 * A C2SP tlog-witness (c2sp.org/tlog-witness, `POST <prefix>/add-checkpoint`) that also audits.
 * For each known log (origin, log key, where its tiles and bundles are served) it keeps the last
 * checkpoint it cosigned, on disk, written atomically before it answers. Before cosigning a
 * larger tree it reads every new entry (checking each one's inclusion against the new root),
 * fetches the bundle each entry names, checks the files against the manifest and runs the rule
 * auditor. While the newest bundle of a name fails, the checkpoint is refused with 422 and the
 * reason goes to the witness's log; a later version that passes unblocks the log.
 *
 * Status codes: 400 malformed request or old > size; 403 no trusted log signature (or a bad one);
 * 404 unknown origin; 409 old size differs from the stored size (body `<size>\n`, content type
 * text/x.tlog.size); 422 bad consistency proof, non-empty proof with old 0, same size with a
 * different root (c2sp main; v1.0.0 said 409), a wrong empty-tree root, or an audit refusal.
 * 405 (with `Allow: POST`) for another method. A 200 carries one cosignature line per witness
 * key (an Ed25519 and an ML-DSA-44 key may serve side by side), timestamp never 0.
 * `GET <prefix>/<hex sha256(origin)>/checkpoint` returns the latest cosigned checkpoint with the
 * log signatures the witness verified and its own cosignatures (the monitor retrieval of c2sp
 * main), so monitors see what clients see. Logs configured with `plain` (a witness network's log
 * list, log-list.ts) are cosigned without audit. The optional `sign-subtree` API is not served.
 * `requestCosignature` is the log's side of the protocol.
 */
import { createHash } from "node:crypto";
import { appendFile, mkdir, readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { join } from "node:path";
import {
  NoteError,
  TileReader,
  cosignatureLine,
  decodeBase64,
  emptyRoot,
  equalBytes,
  leafHash,
  openNote,
  parseCheckpoint,
  parseSignerKey,
  parseTreeSize,
  parseVerifierKey,
  readEntries,
  verifyConsistency,
  verifyInclusion,
  type Checkpoint,
  type OpenedNote,
  type SignerKey,
} from "@vigil/tlog";
import { bundleArchivePath, manifestOf, openBundle, openManifest, type Manifest, type RuleFileData } from "./bundle.js";
import { UpdateError } from "./error.js";
import { lockDir, writeFileAtomic } from "./fsutil.js";
import { LIMITS, openSource, type Source } from "./source.js";

export interface WitnessLogConfig {
  /** checkpoint origin of the log */
  readonly origin: string;
  /** the log's verifier key(s) */
  readonly keys: readonly string[];
  /** URL or directory where the log's tiles and bundles are served (needed to audit) */
  readonly source?: string;
  /**
   * witness this log without auditing it, as any network witness does: for logs that carry no
   * Vigil bundles (e.g. the logs of a witness network's log list, log-list.ts)
   */
  readonly plain?: boolean;
  /** if set, every manifest must be signed by one of these publisher keys */
  readonly publishers?: readonly string[];
}

export interface AuditOutcome {
  /** true when the bundle may be cosigned */
  readonly pass: boolean;
  /** human-readable reasons for the refusal, one per finding */
  readonly reasons: string[];
}

/** Audits one bundle's files; the witness refuses to cosign when `pass` is false. */
export type BundleAuditor = (manifest: Manifest, files: RuleFileData[]) => AuditOutcome | Promise<AuditOutcome>;

export interface WitnessOptions {
  /**
   * the witness's cosigner key(s) (`PRIVATE+KEY+...`: type 0x04 Ed25519, 0x06 ML-DSA-44, or 0x01
   * signing as 0x04); with several (e.g. one Ed25519 and one ML-DSA-44), every answer carries one
   * cosignature per key ("The signatures MUST be cosignatures from the witness key(s)")
   */
  readonly key: string | readonly string[];
  readonly stateDir: string;
  readonly logs: readonly WitnessLogConfig[];
  readonly audit?: BundleAuditor;
  /** clock, in POSIX seconds (tests move it) */
  readonly now?: () => number;
  /** where refusals and misbehaviour evidence are written (default: stateDir/witness.log) */
  readonly logFile?: string;
}

export interface WitnessResponse {
  readonly status: number;
  readonly body: string;
  readonly contentType: string;
}

interface StoredState {
  size: bigint;
  root: Uint8Array;
  note: string;
}

const MAX_BODY = 128 * 1024;

function reply(status: number, body: string, contentType = "text/plain; charset=utf-8"): WitnessResponse {
  return { status, body, contentType };
}

export class Witness {
  private readonly keys: SignerKey[];
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly now: () => number;

  constructor(private readonly options: WitnessOptions) {
    const list = typeof options.key === "string" ? [options.key] : [...options.key];
    if (list.length === 0) throw new UpdateError("BAD_KEY", "a witness needs at least one cosigner key");
    this.keys = list.map((k) => {
      try {
        return parseSignerKey(k);
      } catch (cause) {
        throw new UpdateError("BAD_KEY", `witness key: ${(cause as Error).message}`, { cause });
      }
    });
    // a log key that does not parse would make every request of that log fail: say so at start
    const origins = new Set<string>();
    for (const l of options.logs) {
      if (typeof l.origin !== "string" || l.origin === "" || !Array.isArray(l.keys) || l.keys.length === 0)
        throw new UpdateError("BAD_POLICY", "each witnessed log needs an origin and at least one verifier key");
      if (origins.has(l.origin)) throw new UpdateError("BAD_POLICY", `log ${l.origin} is configured twice`);
      origins.add(l.origin);
      for (const k of l.keys) {
        try {
          parseVerifierKey(k);
        } catch (cause) {
          throw new UpdateError("BAD_KEY", `log ${l.origin}: ${(cause as Error).message}`, { cause });
        }
      }
    }
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
  }

  /** the name of the witness's (first) key */
  get name(): string {
    return this.keys[0]!.name;
  }

  private statePath(origin: string): string {
    return join(this.options.stateDir, `${createHash("sha256").update(origin).digest("hex")}.checkpoint`);
  }

  private async loadState(origin: string): Promise<StoredState | undefined> {
    let note: string;
    try {
      note = await readFile(this.statePath(origin), "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
    const split = note.lastIndexOf("\n\n");
    const cp = parseCheckpoint(note.slice(0, split + 1));
    return { size: cp.size, root: cp.rootHash, note };
  }

  /** The last checkpoint this witness cosigned for `origin`, if any. */
  async latest(origin: string): Promise<string | undefined> {
    return (await this.loadState(origin))?.note;
  }

  private async log(line: string): Promise<void> {
    const file = this.options.logFile ?? join(this.options.stateDir, "witness.log");
    await mkdir(this.options.stateDir, { recursive: true });
    await appendFile(file, `${new Date(this.now() * 1000).toISOString()} ${line.replace(/\n/g, "\n  ")}\n`);
  }

  /** Serialises requests per origin: the check of the old size and the write of the new state are atomic. */
  private async withLock<T>(origin: string, f: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(origin) ?? Promise.resolve();
    const run = prev.then(f, f);
    const tail = run.catch(() => undefined);
    this.locks.set(origin, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(origin) === tail) this.locks.delete(origin);
    }
  }

  /** Handles an add-checkpoint request body. */
  async addCheckpoint(body: string): Promise<WitnessResponse> {
    // old size line, proof lines, blank line, checkpoint
    const nl = body.indexOf("\n");
    const first = nl < 0 ? "" : body.slice(0, nl);
    const m = /^old (\d+)$/.exec(first);
    const old = m ? parseTreeSize(m[1]!) : undefined;
    if (old === undefined) return reply(400, "the first line must be 'old <size>' (decimal, no leading zeros)\n");
    const proof: Uint8Array[] = [];
    let rest = body.slice(nl + 1);
    for (;;) {
      const i = rest.indexOf("\n");
      if (i < 0) return reply(400, "missing the blank line before the checkpoint\n");
      const line = rest.slice(0, i);
      rest = rest.slice(i + 1);
      if (line === "") break;
      const h = decodeBase64(line);
      if (h?.length !== 32) return reply(400, "each consistency proof line must be one base64 SHA-256 hash\n");
      proof.push(h);
      if (proof.length > 63) return reply(400, "at most 63 consistency proof lines\n");
    }
    const note = rest;
    const originEnd = note.indexOf("\n");
    const origin = originEnd < 0 ? "" : note.slice(0, originEnd);
    const logCfg = this.options.logs.find((l) => l.origin === origin);
    if (!logCfg) return reply(404, `unknown log origin ${JSON.stringify(origin.slice(0, 200))}\n`);
    let text: string;
    let logSignatures: string;
    try {
      const opened = openNote(note, logCfg.keys);
      text = opened.text;
      // what the monitoring endpoint serves: the log signatures the witness verified (unknown
      // ones dropped), then its own cosignatures
      logSignatures = opened.signatures.map((sig) => `\u2014 ${sig.name} ${sig.base64}\n`).join("");
    } catch (e) {
      if (e instanceof NoteError && e.code === "MALFORMED")
        return reply(400, `malformed checkpoint note: ${e.message}\n`);
      return reply(403, "no valid signature by a trusted key of this log\n");
    }
    let cp: Checkpoint;
    try {
      cp = parseCheckpoint(text);
    } catch (e) {
      return reply(400, `malformed checkpoint: ${(e as Error).message}\n`);
    }
    if (old > cp.size) return reply(400, `old size ${old} is above the checkpoint size ${cp.size}\n`);

    return this.withLock(origin, async () => {
      const state = await this.loadState(origin);
      const have = state?.size ?? 0n;
      if (old !== have) return reply(409, `${have}\n`, "text/x.tlog.size");
      if (cp.size === 0n && !equalBytes(cp.rootHash, emptyRoot()))
        return reply(422, "a size-0 checkpoint must carry the empty-tree root\n");
      if (old === 0n) {
        if (proof.length !== 0) return reply(422, "the consistency proof must be empty when old is 0\n");
      } else if (old === cp.size) {
        if (!equalBytes(state!.root, cp.rootHash)) {
          await this.log(
            `MISBEHAVIOUR ${origin}: same size ${old}, different root\nstored:\n${state!.note}\nreceived:\n${note}`,
          );
          return reply(422, "same size as the stored checkpoint but a different root hash\n");
        }
      } else if (!verifyConsistency(old, cp.size, proof, state!.root, cp.rootHash)) {
        await this.log(
          `MISBEHAVIOUR ${origin}: consistency proof from ${old} to ${cp.size} does not verify\nstored:\n${state!.note}\nreceived:\n${note}`,
        );
        return reply(422, "the consistency proof does not verify\n");
      }
      if (cp.size > old && !logCfg.plain && (this.options.audit || logCfg.publishers)) {
        const refusal = await this.auditRange(logCfg, cp, old);
        if (refusal) {
          await this.log(`REFUSED ${origin} size ${cp.size}: ${refusal}`);
          return reply(422, `audit refused: ${refusal}\n`);
        }
      }
      // "The cosignature MUST NOT omit the timestamp, i.e. the timestamp MUST NOT be zero."
      const ts = Math.max(1, this.now());
      const lines = this.keys.map((k) => cosignatureLine(text, k, ts)).join("");
      await mkdir(this.options.stateDir, { recursive: true });
      await writeFileAtomic(this.statePath(origin), `${text}\n${logSignatures}${lines}`);
      return reply(200, lines);
    });
  }

  /** Reads entries [old, size), checks each is in the new tree, and audits each bundle. Returns a refusal reason or undefined. */
  private async auditRange(logCfg: WitnessLogConfig, cp: Checkpoint, old: bigint): Promise<string | undefined> {
    if (!logCfg.source) return `no source configured for log ${logCfg.origin}: cannot fetch its bundles to audit them`;
    const src: Source = openSource(logCfg.source);
    const fetchTile = (p: string) => src.get(p, p.startsWith("tile/entries/") ? LIMITS.entryBundle : LIMITS.tile);
    let entries: Uint8Array[];
    try {
      entries = await readEntries(fetchTile, cp.size, old, cp.size);
      const reader = new TileReader(fetchTile, cp.size);
      for (let i = 0; i < entries.length; i++) {
        const index = old + BigInt(i);
        if (!verifyInclusion(index, cp.size, leafHash(entries[i]!), await reader.inclusionProof(index), cp.rootHash)) {
          return `entry ${index} served by the log is not in the checkpoint's tree`;
        }
      }
    } catch (e) {
      return `cannot read the new entries from ${logCfg.source}: ${(e as Error).message}`;
    }
    const newest = new Map<string, string | undefined>();
    const failed: string[] = [];
    for (let i = 0; i < entries.length; i++) {
      const index = old + BigInt(i);
      const signed = Buffer.from(entries[i]!).toString("utf8");
      let manifest: Manifest;
      try {
        manifest = logCfg.publishers ? openManifest(signed, logCfg.publishers).manifest : manifestOf(signed);
      } catch (e) {
        return `entry ${index} is not a valid signed bundle manifest: ${(e as Error).message}`;
      }
      let files: RuleFileData[];
      try {
        const archive = await src.get(bundleArchivePath(manifest.name, manifest.version), LIMITS.bundle);
        files = openBundle(archive, signed).files;
      } catch (e) {
        return `bundle ${manifest.name} v${manifest.version} (entry ${index}): ${(e as Error).message}`;
      }
      if (this.options.audit) {
        const outcome = await this.options.audit(manifest, files);
        newest.set(
          manifest.name,
          outcome.pass
            ? undefined
            : `bundle ${manifest.name} v${manifest.version} (entry ${index}) fails the audit policy:\n${outcome.reasons.join("\n")}`,
        );
        if (!outcome.pass) failed.push(manifest.name);
      } else {
        newest.set(manifest.name, undefined);
      }
    }
    // Endpoints apply only the newest bundle of a name in a checkpoint: a failing bundle blocks
    // cosigning while it is the newest of its name; once a later version that passes supersedes
    // it, the log can be cosigned again (the failed one stays in the log, for monitors to see).
    for (const [_name, refusal] of newest) if (refusal) return refusal;
    for (const name of failed)
      await this.log(
        `SUPERSEDED ${logCfg.origin}: a bundle of ${name} failed the audit but a later version in the same range passes`,
      );
    return undefined;
  }

  /**
   * Serves POST /add-checkpoint (under `prefix`) on host:port; resolves once listening. Takes a
   * lock on the state directory: one witness process per state, so that the check of the old
   * size and the write of the new state stay atomic. The lock is released when the server closes.
   */
  async listen(port: number, host = "127.0.0.1", prefix = ""): Promise<Server> {
    const release = await lockDir(this.options.stateDir, "witness");
    const server = createServer((req, res) => void this.handle(req, res, prefix));
    server.once("close", () => void release());
    return new Promise((resolve, reject) => {
      server.once("error", (e) => {
        void release();
        reject(e);
      });
      server.listen(port, host, () => resolve(server));
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse, prefix: string): Promise<void> {
    const send = (r: WitnessResponse) => {
      res.writeHead(r.status, { "content-type": r.contentType, "content-length": Buffer.byteLength(r.body) });
      res.end(r.body);
    };
    try {
      const path = (req.url ?? "").split("?")[0]!;
      const mon =
        req.method === "GET" && path.startsWith(prefix + "/")
          ? /^\/([0-9a-f]{64})\/checkpoint$/.exec(path.slice(prefix.length))
          : null;
      if (mon) {
        const log = this.options.logs.find((l) => createHash("sha256").update(l.origin).digest("hex") === mon[1]);
        const note = log ? await this.latest(log.origin) : undefined;
        return send(note ? reply(200, note) : reply(404, "no cosigned checkpoint for this log\n"));
      }
      if (path !== `${prefix}/add-checkpoint`) return send(reply(404, "not found\n"));
      if (req.method !== "POST") {
        res.setHeader("allow", "POST");
        return send(reply(405, "add-checkpoint takes POST only\n"));
      }
      const chunks: Buffer[] = [];
      let total = 0;
      for await (const c of req) {
        total += (c as Buffer).length;
        if (total > MAX_BODY) return send(reply(413, "request body too large\n"));
        chunks.push(c as Buffer);
      }
      let body: string;
      try {
        body = new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks));
      } catch {
        return send(reply(400, "request body is not UTF-8\n"));
      }
      send(await this.addCheckpoint(body));
    } catch (e) {
      send(reply(500, `internal error: ${(e as Error).message}\n`));
    }
  }
}

/** Builds an add-checkpoint request body. */
export function addCheckpointBody(oldSize: bigint, proof: readonly Uint8Array[], signedCheckpoint: string): string {
  return `old ${oldSize}\n${proof.map((p) => Buffer.from(p).toString("base64") + "\n").join("")}\n${signedCheckpoint}`;
}

/**
 * The log's side of tlog-witness: asks a witness at `url` (its submission prefix) to cosign,
 * learning the witness's size from a 409 (`text/x.tlog.size`, "<size>\n") and retrying once with
 * the right proof. Returns the cosignature lines. With `witnessKeys` (the witness's vkeys, as a
 * tlog-policy lists them) the answer is checked as the spec suggests ("concatenate it to the
 * checkpoint, and use a note verification function configured with the witness keys"): lines by
 * other keys are dropped ("The client MUST ignore any cosignatures from unknown keys"), a bad
 * signature by a listed key or no signature by one is a refusal.
 */
export async function requestCosignature(
  url: string,
  signedCheckpoint: string,
  proofFrom: (oldSize: bigint) => Uint8Array[],
  guessOldSize: bigint,
  witnessKeys?: readonly string[],
): Promise<string[]> {
  const endpoint = url.replace(/\/$/, "") + "/add-checkpoint";
  let old = guessOldSize;
  for (let attempt = 0; attempt < 2; attempt++) {
    let res: Response;
    let text: string;
    try {
      res = await fetch(endpoint, {
        method: "POST",
        body: addCheckpointBody(old, proofFrom(old), signedCheckpoint),
        signal: AbortSignal.timeout(60_000),
      });
      text = await readBounded(res, MAX_ANSWER);
    } catch (cause) {
      if (cause instanceof UpdateError) throw cause;
      throw new UpdateError("WITNESS_REFUSED", `cannot reach witness ${url}`, { cause });
    }
    if (res.status === 200) return checkCosignatures(url, signedCheckpoint, text, witnessKeys);
    if (res.status === 409 && attempt === 0) {
      // "The response body MUST consist of the tree size of the latest cosigned checkpoint in
      // decimal, followed by a newline (U+000A). The response MUST have a Content-Type of
      // text/x.tlog.size."
      const type = (res.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
      const size = /^(0|[1-9][0-9]*)\n$/.test(text) ? parseTreeSize(text.slice(0, -1)) : undefined;
      if (type !== "text/x.tlog.size" || size === undefined)
        throw new UpdateError(
          "WITNESS_REFUSED",
          `witness ${url} answered 409 without its size as text/x.tlog.size ("<size>\\n"); got ${JSON.stringify(type)} ${JSON.stringify(text.slice(0, 40))}`,
        );
      old = size;
      continue;
    }
    throw new UpdateError(
      "WITNESS_REFUSED",
      `witness ${url} refused (HTTP ${res.status}): ${text.trim().slice(0, 2000)}`,
    );
  }
  throw new UpdateError("WITNESS_REFUSED", `witness ${url} kept answering 409`);
}

/** A witness's answer is a few signature lines (ML-DSA-44 ones are ~3.3 KB): 1 MiB is plenty. */
const MAX_ANSWER = 1024 * 1024;

async function readBounded(res: Response, limit: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (res.body) {
    for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) {
      total += c.length;
      if (total > limit) {
        await res.body.cancel().catch(() => undefined);
        throw new UpdateError("WITNESS_REFUSED", `the witness's answer exceeds ${limit} bytes`);
      }
      chunks.push(c);
    }
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * "The response body MUST be a sequence of one or more note signature lines, each starting with
 * the — character (U+2014) and ending with a newline character (U+000A)."
 */
function checkCosignatures(
  url: string,
  signedCheckpoint: string,
  body: string,
  witnessKeys: readonly string[] | undefined,
): string[] {
  const lines = body.endsWith("\n")
    ? body
        .slice(0, -1)
        .split("\n")
        .map((l) => l + "\n")
    : [];
  if (lines.length === 0 || !lines.every((l) => l.startsWith("\u2014 ") && l.length > 3))
    throw new UpdateError(
      "WITNESS_REFUSED",
      `witness ${url} sent a malformed answer: expected one or more lines "\u2014 <name> <signature>\\n"`,
    );
  if (!witnessKeys) return lines;
  const text = signedCheckpoint.slice(0, signedCheckpoint.lastIndexOf("\n\n") + 1);
  let opened: OpenedNote;
  try {
    opened = openNote(`${text}\n${lines.join("")}`, witnessKeys);
  } catch (cause) {
    throw new UpdateError(
      "WITNESS_REFUSED",
      `witness ${url} sent no valid cosignature by its key(s) ${witnessKeys.join(", ")}: ${(cause as Error).message}`,
      { cause },
    );
  }
  const good = new Set(opened.signatures.map((s) => `\u2014 ${s.name} ${s.base64}\n`));
  return lines.filter((l) => good.has(l));
}
