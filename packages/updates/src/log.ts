/**
 * The log on disk: C2SP tlog-tiles static files (`checkpoint`, `tile/<L>/<N>`, `tile/entries/<N>`)
 * plus the bundle archives under `bundles/`, so any static web server can host the directory.
 * Appending writes the new tiles first (each atomically), then the signed checkpoint (atomically):
 * a crash leaves the previous checkpoint valid, and the next append rewrites the same tiles.
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  MerkleTree,
  TileReader,
  equalBytes,
  encodeEntryBundle,
  formatCheckpoint,
  hashTileFromTree,
  leafHash,
  newTiles,
  openNote,
  parseCheckpoint,
  parseSignerKey,
  readEntries,
  signNote,
  splitNote,
  tilePath,
  verifierKeyOf,
  type Checkpoint,
} from "@vigil/tlog";
import { UpdateError } from "./error.js";
import { writeFileAtomic } from "./fsutil.js";
import { LIMITS, openSource } from "./source.js";

export class DiskLog {
  /** entries of the last, partial entry bundle (what the next append rewrites) */
  private tail: Uint8Array[];
  private readonly bundleCache = new Map<bigint, Uint8Array[]>();

  private constructor(
    readonly dir: string,
    readonly origin: string,
    readonly tree: MerkleTree,
    tail: Uint8Array[],
    private checkpointNote: string,
  ) {
    this.tail = tail;
  }

  get size(): number {
    return this.tree.size;
  }

  /** The current checkpoint note, with whatever cosignatures were added. */
  get checkpoint(): string {
    return this.checkpointNote;
  }

  /**
   * Opens the log in `dir`, or creates an empty one signed by `logKey` (its key name is the origin).
   * Rebuilds the tree from the level-0 hash tiles and checks it against the signed checkpoint;
   * the entries of the last partial bundle are read and checked against their leaf hashes.
   * Other entries are read on demand (`entry`), each checked against its leaf hash.
   */
  static async open(dir: string, logKey: string): Promise<DiskLog> {
    const key = parseSignerKey(logKey);
    const vkey = verifierKeyOf(key);
    let note: string | undefined;
    try {
      note = await readFile(join(dir, "checkpoint"), "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT")
        throw new UpdateError("BAD_INPUT", `cannot read ${join(dir, "checkpoint")}`, { cause: e });
    }
    if (note === undefined) {
      await mkdir(dir, { recursive: true });
      const tree = new MerkleTree();
      const text = formatCheckpoint({ origin: key.name, size: 0n, rootHash: tree.root() });
      const signed = signNote(text, key);
      await writeFileAtomic(join(dir, "checkpoint"), signed);
      return new DiskLog(dir, key.name, tree, [], signed);
    }
    let cp: Checkpoint;
    try {
      cp = parseCheckpoint(openNote(note, [vkey]).text);
    } catch (e) {
      throw new UpdateError(
        "LOG_CORRUPT",
        `the checkpoint in ${dir} is not signed by this log key or is malformed; is this the right key?`,
        { cause: e },
      );
    }
    const src = openSource(dir);
    const fetch = (p: string) => src.get(p, p.startsWith("tile/entries/") ? LIMITS.entryBundle : LIMITS.tile);
    const tree = new MerkleTree();
    let tail: Uint8Array[] = [];
    try {
      if (cp.size > 0n)
        for (const h of await new TileReader(fetch, cp.size).leafHashes(0n, cp.size)) tree.appendLeafHash(h);
      const tailStart = cp.size - (cp.size % 256n);
      if (tailStart < cp.size) tail = await readEntries(fetch, cp.size, tailStart, cp.size);
    } catch (e) {
      throw new UpdateError("LOG_CORRUPT", `cannot read the tiles of ${dir}: ${(e as Error).message}`, { cause: e });
    }
    if (!equalBytes(tree.root(), cp.rootHash))
      throw new UpdateError(
        "LOG_CORRUPT",
        `the hash tiles in ${dir} do not hash to the checkpoint's root: the log is damaged`,
      );
    const base = tree.size - tail.length;
    tail.forEach((e, i) => {
      if (!equalBytes(leafHash(e), tree.leafHash(base + i)))
        throw new UpdateError(
          "LOG_CORRUPT",
          `entry ${base + i} in ${dir} does not match its leaf hash: the log is damaged`,
        );
    });
    return new DiskLog(dir, cp.origin, tree, tail, note);
  }

  /** Entry `index`, read from its entry bundle and checked against the tree. */
  async entry(index: number): Promise<Uint8Array> {
    if (!Number.isInteger(index) || index < 0 || index >= this.size)
      throw new UpdateError("BAD_INPUT", `no entry ${index} in a log of ${this.size}`);
    const tailStart = this.size - this.tail.length;
    if (index >= tailStart) return this.tail[index - tailStart]!;
    const t = BigInt(Math.floor(index / 256));
    let bundle = this.bundleCache.get(t);
    if (!bundle) {
      const src = openSource(this.dir);
      bundle = await readEntries(
        (p) => src.get(p, LIMITS.entryBundle),
        BigInt(this.size),
        t * 256n,
        t * 256n + 256n > BigInt(this.size) ? BigInt(this.size) : t * 256n + 256n,
      );
      this.bundleCache.set(t, bundle);
    }
    const e = bundle[index % 256]!;
    if (!equalBytes(leafHash(e), this.tree.leafHash(index)))
      throw new UpdateError(
        "LOG_CORRUPT",
        `entry ${index} in ${this.dir} does not match its leaf hash: the log is damaged`,
      );
    return e;
  }

  /** Appends entries, writes the new tiles and entry bundles, then a new checkpoint signed by `logKey`. */
  async append(newEntries: readonly Uint8Array[], logKey: string): Promise<string> {
    const key = parseSignerKey(logKey);
    if (key.name !== this.origin)
      throw new UpdateError("BAD_KEY", `the log key is named ${key.name} but the log's origin is ${this.origin}`);
    const oldSize = this.tree.size;
    // entries from the start of the current partial bundle: what the new entry bundles are made of
    const pending = [...this.tail];
    const pendingStart = oldSize - this.tail.length;
    for (const e of newEntries) {
      if (e.length > 0xffff) throw new UpdateError("BAD_BUNDLE", `log entry of ${e.length} bytes exceeds 65535`);
      pending.push(e);
      this.tree.append(e);
    }
    for (const ref of newTiles(BigInt(oldSize), BigInt(this.tree.size))) {
      await writeFileAtomic(
        join(this.dir, tilePath(ref.level, ref.index, ref.width)),
        hashTileFromTree(this.tree, ref),
      );
      if (ref.level === 0) {
        const start = Number(ref.index) * 256 - pendingStart;
        await writeFileAtomic(
          join(this.dir, tilePath("entries", ref.index, ref.width)),
          encodeEntryBundle(pending.slice(start, start + ref.width)),
        );
      }
    }
    const keep = this.tree.size % 256;
    this.tail = keep === 0 ? [] : pending.slice(pending.length - keep);
    const text = formatCheckpoint({ origin: this.origin, size: BigInt(this.tree.size), rootHash: this.tree.root() });
    this.checkpointNote = signNote(text, key);
    await writeFileAtomic(join(this.dir, "checkpoint"), this.checkpointNote);
    return this.checkpointNote;
  }

  /** Adds cosignature lines to the current checkpoint (duplicates dropped) and rewrites it. */
  async addCosignatures(lines: readonly string[]): Promise<string> {
    const { text, signatureLines } = splitNote(this.checkpointNote);
    const all = [...signatureLines];
    for (const l of lines) if (!all.includes(l)) all.push(l);
    this.checkpointNote = text + "\n" + all.join("");
    await writeFileAtomic(join(this.dir, "checkpoint"), this.checkpointNote);
    return this.checkpointNote;
  }

  async writeFile(relPath: string, data: Uint8Array): Promise<void> {
    await writeFileAtomic(join(this.dir, ...relPath.split("/")), data);
  }
}
