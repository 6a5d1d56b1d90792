/**
 * The log on disk: C2SP tlog-tiles static files (`checkpoint`, `tile/<L>/<N>`, `tile/entries/<N>`)
 * plus the bundle archives under `bundles/`, so any static web server can host the directory.
 * Appending writes the new tiles first (each atomically), then the signed checkpoint (atomically):
 * a crash leaves the previous checkpoint valid, and the next append rewrites the same tiles.
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  MerkleTree, equalBytes, encodeEntryBundle, formatCheckpoint, hashTileFromTree, newTiles, openNote, parseCheckpoint, parseSignerKey,
  readEntries, signNote, splitNote, tilePath, verifierKeyOf, type Checkpoint,
} from "@vigil/tlog";
import { UpdateError } from "./error.js";
import { writeFileAtomic } from "./fsutil.js";
import { LIMITS, openSource } from "./source.js";

export class DiskLog {
  private constructor(
    readonly dir: string,
    readonly origin: string,
    readonly tree: MerkleTree,
    readonly entries: Uint8Array[],
    private checkpointNote: string,
  ) {}

  get size(): number {
    return this.tree.size;
  }

  /** The current checkpoint note, with whatever cosignatures were added. */
  get checkpoint(): string {
    return this.checkpointNote;
  }

  /**
   * Opens the log in `dir`, or creates an empty one signed by `logKey` (its key name is the origin).
   * Reads every entry back from the entry bundles and checks the tree against the checkpoint.
   */
  static async open(dir: string, logKey: string): Promise<DiskLog> {
    const key = parseSignerKey(logKey);
    const vkey = verifierKeyOf(key);
    let note: string | undefined;
    try {
      note = await readFile(join(dir, "checkpoint"), "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw new UpdateError("bad-input", `cannot read ${join(dir, "checkpoint")}`, { cause: e });
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
      throw new UpdateError("log-corrupt", `the checkpoint in ${dir} is not signed by this log key or is malformed; is this the right key?`, { cause: e });
    }
    const src = openSource(dir);
    const entries = cp.size === 0n ? [] : await readEntries((p) => src.get(p, LIMITS.entryBundle), cp.size, 0n, cp.size);
    const tree = new MerkleTree();
    for (const e of entries) tree.append(e);
    if (!equalBytes(tree.root(), cp.rootHash)) throw new UpdateError("log-corrupt", `the entries in ${dir} do not hash to the checkpoint's root: the log is damaged`);
    return new DiskLog(dir, cp.origin, tree, entries, note);
  }

  /** Appends entries, writes the new tiles and entry bundles, then a new checkpoint signed by `logKey`. */
  async append(newEntries: readonly Uint8Array[], logKey: string): Promise<string> {
    const key = parseSignerKey(logKey);
    if (key.name !== this.origin) throw new UpdateError("bad-key", `the log key is named ${key.name} but the log's origin is ${this.origin}`);
    const oldSize = this.tree.size;
    for (const e of newEntries) {
      if (e.length > 0xffff) throw new UpdateError("bad-bundle", `log entry of ${e.length} bytes exceeds 65535`);
      this.entries.push(e);
      this.tree.append(e);
    }
    for (const ref of newTiles(BigInt(oldSize), BigInt(this.tree.size))) {
      await writeFileAtomic(join(this.dir, tilePath(ref.level, ref.index, ref.width)), hashTileFromTree(this.tree, ref));
      if (ref.level === 0) {
        const start = Number(ref.index) * 256;
        await writeFileAtomic(join(this.dir, tilePath("entries", ref.index, ref.width)), encodeEntryBundle(this.entries.slice(start, start + ref.width)));
      }
    }
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
