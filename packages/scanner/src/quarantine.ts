/**
 * The quarantine vault. Quarantining a file copies it, encrypted with a fresh AES-256-CTR key
 * (so no scanner, ours included, detects the vault), into `<id>.data`, writes its metadata to
 * `<id>.json` (original path, mode, owner, times, size, sha256, detections, rules version,
 * time of quarantine, key), and only then removes the original. Order of operations, each
 * step durable (fsync) before the next:
 *   1. `<id>.data.tmp` written and fsynced        ("copied")
 *   2. `<id>.json.tmp` written and fsynced        ("meta-written")
 *   3. both renamed to their final names, vault directory fsynced ("committed"): the entry
 *      is complete exactly when `<id>.json` exists
 *   4. the original is unlinked (if it is still the file we copied) and its directory fsynced
 *      ("removed")
 * A crash at any point leaves the original, a complete vault entry, or both; leftover
 * `*.tmp` files are incomplete entries that `cleanup()` removes. Restore decrypts into a
 * temporary file next to the target, checks the sha256, restores mode, owner and times, and
 * links it into place, refusing to replace an existing file unless asked; a crash leaves that
 * temporary file beside the target, and `cleanup()` removes it while the entry still exists.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import {
  chownSync,
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  fsyncSync,
  futimesSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  unlinkSync,
  writeSync,
  lstatSync,
  statSync,
} from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { ScannerError, fsError } from "./error.js";
import { fsPath, hasRawBytes, jsonRawBytes, pathFromBytes, pathToBytes } from "./bytepath.js";

export interface QuarantineEntry {
  format: "vigil-quarantine/1";
  id: string;
  /** The original path (a name that is not valid UTF-8 holds lone surrogates: see bytepath.ts). */
  originalPath: string;
  /**
   * The original path's exact bytes in base64, written when the name is not valid UTF-8 (and
   * then the authority on restore); `originalPath` is then the same path with those bytes.
   */
  originalPathBase64?: string;
  size: number;
  sha256: string;
  mode: number;
  uid: number;
  gid: number;
  atimeMs: number;
  mtimeMs: number;
  detections: string[];
  rulesVersion: string;
  quarantinedAt: string;
  cipher: "aes-256-ctr";
  key: string;
  iv: string;
}

export type QuarantineStep = "copied" | "meta-written" | "committed" | "removed";

export interface QuarantineOptions {
  detections: string[];
  rulesVersion: string;
  /** Called after each durable step (tests kill the process here). */
  onStep?: (step: QuarantineStep) => void;
}

export interface RestoreOptions {
  /** Restore to this path (or into this existing directory) instead of the original path. */
  to?: string;
  /** Replace an existing file at the target. */
  overwrite?: boolean;
  /** Keep the vault entry after restoring. */
  keep?: boolean;
}

const CHUNK = 1 << 20;
const ID_RE = /^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}$/;

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(fsPath(dir), constants.O_RDONLY | constants.O_DIRECTORY);
    fsyncSync(fd);
  } catch {
    // some file systems do not support fsync on directories
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function newId(now = new Date()): string {
  return `${now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z")}-${randomBytes(6).toString("hex")}`;
}

export class Quarantine {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  private ensureDir(): void {
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new ScannerError(
        "QUARANTINE_FAILED",
        `cannot create the quarantine vault ${this.dir}: ${(err as Error).message} (pass --quarantine-dir)`,
        { cause: err },
      );
    }
  }

  /** Moves `path` into the vault; returns the entry. The original is removed last. */
  add(path: string, opts: QuarantineOptions): QuarantineEntry {
    this.ensureDir();
    const abs = resolve(path);
    const id = newId();
    const dataTmp = join(this.dir, `${id}.data.tmp`);
    const metaTmp = join(this.dir, `${id}.json.tmp`);
    let src: number;
    try {
      src = openSync(fsPath(abs), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      throw new ScannerError("QUARANTINE_FAILED", `cannot quarantine ${abs}: ${fsError(err, abs).message}`, {
        cause: err,
      });
    }
    let entry: QuarantineEntry;
    try {
      const st = fstatSync(src);
      if (!st.isFile()) throw new ScannerError("QUARANTINE_FAILED", `cannot quarantine ${abs}: not a regular file`);
      const key = randomBytes(32);
      const iv = randomBytes(16);
      const cipher = createCipheriv("aes-256-ctr", key, iv);
      const hash = createHash("sha256");
      const out = openSync(dataTmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      let size = 0;
      try {
        const buf = Buffer.allocUnsafe(CHUNK);
        for (;;) {
          const n = readSync(src, buf, 0, CHUNK, null);
          if (n === 0) break;
          const chunk = buf.subarray(0, n);
          hash.update(chunk);
          const enc = cipher.update(chunk);
          writeSync(out, enc);
          size += n;
        }
        const fin = cipher.final();
        if (fin.length) writeSync(out, fin);
        fsyncSync(out);
      } finally {
        closeSync(out);
      }
      opts.onStep?.("copied");
      entry = {
        format: "vigil-quarantine/1",
        id,
        originalPath: abs,
        ...(hasRawBytes(abs) ? { originalPathBase64: pathToBytes(abs).toString("base64") } : {}),
        size,
        sha256: hash.digest("hex"),
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
        atimeMs: st.atimeMs,
        mtimeMs: st.mtimeMs,
        detections: opts.detections,
        rulesVersion: opts.rulesVersion,
        quarantinedAt: new Date().toISOString(),
        cipher: "aes-256-ctr",
        key: key.toString("hex"),
        iv: iv.toString("hex"),
      };
      const mfd = openSync(metaTmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      try {
        // valid Unicode JSON: raw bytes of the name as the text \xNN, exact in originalPathBase64
        writeSync(mfd, jsonRawBytes(JSON.stringify(entry, null, 2)) + "\n");
        fsyncSync(mfd);
      } finally {
        closeSync(mfd);
      }
      opts.onStep?.("meta-written");
      renameSync(dataTmp, join(this.dir, `${id}.data`));
      renameSync(metaTmp, join(this.dir, `${id}.json`));
      fsyncDir(this.dir);
      opts.onStep?.("committed");
      // Remove the original only if it is still the file we copied.
      const now = lstatSync(fsPath(abs));
      if (now.ino !== st.ino || now.dev !== st.dev || now.size !== size || now.mtimeMs !== st.mtimeMs) {
        throw new ScannerError(
          "QUARANTINE_FAILED",
          `${abs} changed while being quarantined; a copy is in the vault as ${id}, the file was left in place`,
        );
      }
      unlinkSync(fsPath(abs));
      fsyncDir(dirname(abs));
      opts.onStep?.("removed");
    } catch (err) {
      for (const f of [dataTmp, metaTmp]) {
        try {
          unlinkSync(f);
        } catch {
          /* not there */
        }
      }
      if (err instanceof ScannerError) throw err;
      throw new ScannerError("QUARANTINE_FAILED", `cannot quarantine ${abs}: ${(err as Error).message}`, {
        cause: err,
      });
    } finally {
      closeSync(src);
    }
    return entry;
  }

  list(): QuarantineEntry[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw new ScannerError(
        "QUARANTINE_FAILED",
        `cannot read the quarantine vault ${this.dir}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const out: QuarantineEntry[] = [];
    for (const n of names) {
      if (!n.endsWith(".json") || !ID_RE.test(n.slice(0, -5))) continue;
      try {
        out.push(this.get(n.slice(0, -5)));
      } catch {
        // a corrupt entry is reported by `show`, not by `list`
      }
    }
    return out.sort((a, b) => a.quarantinedAt.localeCompare(b.quarantinedAt) || a.id.localeCompare(b.id));
  }

  get(id: string): QuarantineEntry {
    if (!ID_RE.test(id))
      throw new ScannerError(
        "QUARANTINE_NOT_FOUND",
        `${JSON.stringify(id)} is not a quarantine id (see 'vigil quarantine list')`,
      );
    let text: string;
    try {
      text = readFileSync(join(this.dir, `${id}.json`), "utf8");
    } catch (err) {
      throw new ScannerError(
        "QUARANTINE_NOT_FOUND",
        `no quarantine entry ${id} in ${this.dir} (see 'vigil quarantine list')`,
        { cause: err },
      );
    }
    let e: QuarantineEntry;
    try {
      e = JSON.parse(text) as QuarantineEntry;
    } catch (err) {
      throw new ScannerError("QUARANTINE_CORRUPT", `quarantine entry ${id} has unreadable metadata`, { cause: err });
    }
    if (
      e?.format !== "vigil-quarantine/1" ||
      e.id !== id ||
      typeof e.key !== "string" ||
      typeof e.originalPath !== "string"
    ) {
      throw new ScannerError("QUARANTINE_CORRUPT", `quarantine entry ${id} has invalid metadata`);
    }
    if (typeof e.originalPathBase64 === "string")
      e.originalPath = pathFromBytes(Buffer.from(e.originalPathBase64, "base64"));
    return e;
  }

  /** Restores the exact bytes and metadata; returns the path written. */
  restore(id: string, opts: RestoreOptions = {}): string {
    const e = this.get(id);
    let target = resolve(opts.to ?? e.originalPath);
    // --to an existing directory restores into it under the original name
    if (opts.to !== undefined) {
      try {
        if (statSync(fsPath(target)).isDirectory()) target = join(target, basename(e.originalPath));
      } catch {
        /* not there: a file path */
      }
    }
    const tmp = join(dirname(target), `.${basename(target)}.vigil-restore-${randomBytes(4).toString("hex")}`);
    const decipher = createDecipheriv("aes-256-ctr", Buffer.from(e.key, "hex"), Buffer.from(e.iv, "hex"));
    const hash = createHash("sha256");
    let src: number;
    try {
      src = openSync(join(this.dir, `${id}.data`), constants.O_RDONLY);
    } catch (err) {
      throw new ScannerError("QUARANTINE_CORRUPT", `quarantine entry ${id} has no data file`, { cause: err });
    }
    let out: number;
    try {
      mkdirSync(fsPath(dirname(target)), { recursive: true });
      out = openSync(fsPath(tmp), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    } catch (err) {
      closeSync(src);
      throw new ScannerError("QUARANTINE_FAILED", `cannot write ${target}: ${(err as Error).message}`, { cause: err });
    }
    try {
      const buf = Buffer.allocUnsafe(CHUNK);
      for (;;) {
        const n = readSync(src, buf, 0, CHUNK, null);
        if (n === 0) break;
        const dec = decipher.update(buf.subarray(0, n));
        hash.update(dec);
        writeSync(out, dec);
      }
      const fin = decipher.final();
      if (fin.length) {
        hash.update(fin);
        writeSync(out, fin);
      }
      if (hash.digest("hex") !== e.sha256)
        throw new ScannerError(
          "QUARANTINE_CORRUPT",
          `quarantine entry ${id} is damaged (sha256 mismatch); nothing restored`,
        );
      fchmodSync(out, e.mode);
      try {
        chownSync(fsPath(tmp), e.uid, e.gid);
      } catch {
        /* not permitted as this user: keep ours */
      }
      futimesSync(out, e.atimeMs / 1000, e.mtimeMs / 1000);
      fsyncSync(out);
    } catch (err) {
      closeSync(out);
      closeSync(src);
      try {
        unlinkSync(fsPath(tmp));
      } catch {
        /* gone */
      }
      if (err instanceof ScannerError) throw err;
      throw new ScannerError("QUARANTINE_FAILED", `cannot restore ${id}: ${(err as Error).message}`, { cause: err });
    }
    closeSync(out);
    closeSync(src);
    try {
      if (opts.overwrite) renameSync(fsPath(tmp), fsPath(target));
      else {
        linkSync(fsPath(tmp), fsPath(target)); // fails with EEXIST rather than replacing
        unlinkSync(fsPath(tmp));
      }
    } catch (err) {
      try {
        unlinkSync(fsPath(tmp));
      } catch {
        /* gone */
      }
      if ((err as NodeJS.ErrnoException).code === "EEXIST") {
        throw new ScannerError(
          "QUARANTINE_EXISTS",
          `${target} already exists; pass --overwrite to replace it or --to PATH to restore elsewhere`,
          { cause: err },
        );
      }
      throw new ScannerError("QUARANTINE_FAILED", `cannot restore to ${target}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    fsyncDir(dirname(target));
    if (!opts.keep) this.delete(id);
    return target;
  }

  delete(id: string): void {
    this.get(id);
    // metadata first: without it the entry no longer exists; the data file is then garbage
    unlinkSync(join(this.dir, `${id}.json`));
    try {
      unlinkSync(join(this.dir, `${id}.data`));
    } catch {
      /* already gone */
    }
    fsyncDir(this.dir);
  }

  /** Deletes entries quarantined before `before`; returns their ids. */
  purge(before: Date): string[] {
    const gone: string[] = [];
    for (const e of this.list()) {
      if (new Date(e.quarantinedAt).getTime() < before.getTime()) {
        this.delete(e.id);
        gone.push(e.id);
      }
    }
    return gone;
  }

  /**
   * Removes leftovers of interrupted operations: *.tmp files and data files without metadata in
   * the vault, and the temporary file an interrupted restore left beside an entry's target.
   */
  cleanup(): string[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const removed: string[] = [];
    for (const e of this.list()) {
      const dir = dirname(e.originalPath);
      const prefix = `.${basename(e.originalPath)}.vigil-restore-`;
      let beside: string[];
      try {
        beside = readdirSync(fsPath(dir)).filter((n) => n.startsWith(prefix));
      } catch {
        continue;
      }
      for (const n of beside) {
        try {
          unlinkSync(fsPath(join(dir, n)));
          removed.push(join(dir, n));
        } catch {
          /* raced */
        }
      }
    }
    const metas = new Set(names.filter((n) => n.endsWith(".json")).map((n) => n.slice(0, -5)));
    for (const n of names) {
      const orphan = n.endsWith(".data") && !metas.has(n.slice(0, -5));
      if (n.endsWith(".tmp") || orphan) {
        try {
          unlinkSync(join(this.dir, n));
          removed.push(n);
        } catch {
          /* raced */
        }
      }
    }
    return removed;
  }
}

/** "30d", "12h", "90m", "2w" -> milliseconds. */
export function parseAge(s: string): number {
  const m = /^(\d+)\s*([smhdw])$/.exec(s.trim());
  if (!m)
    throw new ScannerError(
      "BAD_OPTION",
      `invalid age ${JSON.stringify(s)}: use a number and s, m, h, d or w (e.g. 30d)`,
    );
  return Number(m[1]) * { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7, w: 6.048e8 }[m[2] as "s" | "m" | "h" | "d" | "w"];
}
