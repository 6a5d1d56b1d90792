/**
 * Walking trees: yields every regular file under the given roots, plus what was skipped and
 * why, and errors (unreadable, vanished) as entries rather than exceptions. Symbolic links
 * inside trees are not followed unless asked (then loops are detected by device and inode);
 * a symlink named on the command line is followed, like clamscan. Special files (fifos,
 * sockets, devices) are skipped so a scan never blocks on them. Names are read as bytes: a
 * name that is not valid UTF-8 is yielded losslessly (see bytepath.ts) and walked like any other.
 */
import { lstat, stat } from "node:fs/promises";
import { lstatSync, opendirSync, statSync, type Dir, type Stats } from "node:fs";
import { fsError, ScannerError } from "./error.js";
import { fsPath, pathFromBytes } from "./bytepath.js";
import { pathFilter, type PathFilter, type PathFilterSpec } from "./filter.js";

export interface WalkOptions extends PathFilterSpec {
  /** Descend into directories (default true). */
  recursive?: boolean;
  /** Directory levels below a root to descend; 0 scans only the root's own files. */
  maxDepth?: number;
  followSymlinks?: boolean;
  oneFileSystem?: boolean;
  signal?: AbortSignal;
  /**
   * Stat every regular file (default true). When false, files found inside directories are
   * yielded from their directory entry alone (no lstat), which makes walking much cheaper;
   * `stat` is then absent for them.
   */
  statFiles?: boolean;
}

export type WalkEntry =
  | { kind: "file"; path: string; stat?: Stats }
  | { kind: "dir"; path: string }
  | { kind: "skipped"; path: string; reason: "symlink" | "special" | "excluded" | "other-filesystem" | "max-depth" }
  | { kind: "error"; path: string; error: ScannerError };

function join(dir: string, name: string): string {
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}

export async function* walk(roots: string[], opts: WalkOptions = {}): AsyncGenerator<WalkEntry> {
  const filter: PathFilter = pathFilter(opts);
  const recursive = opts.recursive !== false;
  const maxDepth = opts.maxDepth ?? Infinity;
  for (const root of roots) {
    if (opts.signal?.aborted) return;
    let st: Stats;
    try {
      st = await stat(fsPath(root));
    } catch (err) {
      let e = fsError(err, root);
      if (e.code === "VANISHED") {
        // a dangling link or a missing path
        const l = await lstat(fsPath(root)).catch(() => undefined);
        e = new ScannerError(
          l?.isSymbolicLink() ? "VANISHED" : "ENOENT_PATH",
          l?.isSymbolicLink()
            ? `${root}: dangling symbolic link`
            : `${root}: no such file or directory (check the path)`,
          { cause: err },
        );
      }
      yield { kind: "error", path: root, error: e };
      continue;
    }
    if (st.isFile()) {
      yield { kind: "file", path: root, stat: st };
    } else if (st.isDirectory()) {
      yield* walkDir(root, st, 0, new Set([`${st.dev}:${st.ino}`]));
    } else {
      yield { kind: "skipped", path: root, reason: "special" };
    }
  }

  async function* walkDir(dir: string, dst: Stats, depth: number, ancestors: Set<string>): AsyncGenerator<WalkEntry> {
    yield { kind: "dir", path: dir };
    // directories are read synchronously in batches: an async iterator step per entry costs
    // ten times the reading itself on trees of many small files
    let handle: Dir;
    try {
      // names as Buffers (the types know only string encodings; Node reads "buffer" as readdir does)
      handle = opendirSync(fsPath(dir), { bufferSize: 256, encoding: "buffer" as BufferEncoding });
    } catch (err) {
      yield { kind: "error", path: dir, error: fsError(err, dir) };
      return;
    }
    const subdirs: [string, Stats][] = [];
    try {
      for (let ent = handle.readSync(); ent !== null; ent = handle.readSync()) {
        if (opts.signal?.aborted) return;
        const path = join(dir, pathFromBytes(ent.name as unknown as Buffer));
        if (filter.excluded(path)) {
          yield { kind: "skipped", path, reason: "excluded" };
          continue;
        }
        if (ent.isFile() && opts.statFiles === false) {
          if (filter.included(path)) yield { kind: "file", path };
          else yield { kind: "skipped", path, reason: "excluded" };
          continue;
        }
        // one synchronous lstat per entry: a promise and a thread-pool round trip per file cost
        // several times the system call itself on trees of many small files
        let st: Stats;
        try {
          st = lstatSync(fsPath(path));
        } catch (err) {
          yield { kind: "error", path, error: fsError(err, path) };
          continue;
        }
        if (st.isSymbolicLink()) {
          if (!opts.followSymlinks) {
            yield { kind: "skipped", path, reason: "symlink" };
            continue;
          }
          try {
            st = statSync(fsPath(path));
          } catch (err) {
            const e = fsError(err, path);
            yield {
              kind: "error",
              path,
              error:
                e.code === "VANISHED"
                  ? new ScannerError("VANISHED", `${path}: dangling symbolic link`, { cause: err })
                  : e,
            };
            continue;
          }
        }
        if (opts.oneFileSystem && st.dev !== dst.dev) {
          yield { kind: "skipped", path, reason: "other-filesystem" };
          continue;
        }
        if (st.isDirectory()) {
          if (!recursive || depth + 1 > maxDepth) {
            yield { kind: "skipped", path, reason: "max-depth" };
            continue;
          }
          subdirs.push([path, st]);
        } else if (st.isFile()) {
          if (filter.included(path)) yield { kind: "file", path, stat: st };
          else yield { kind: "skipped", path, reason: "excluded" };
        } else {
          yield { kind: "skipped", path, reason: "special" };
        }
      }
    } catch (err) {
      // the directory vanished or became unreadable while being listed
      yield { kind: "error", path: dir, error: fsError(err, dir) };
    } finally {
      try {
        handle.closeSync();
      } catch {
        /* already closed */
      }
    }
    for (const [path, st] of subdirs) {
      const id = `${st.dev}:${st.ino}`;
      if (ancestors.has(id)) {
        yield {
          kind: "error",
          path,
          error: new ScannerError(
            "SYMLINK_LOOP",
            `${path}: directory loop (a symbolic link points back to an ancestor); not descended`,
          ),
        };
        continue;
      }
      ancestors.add(id);
      yield* walkDir(path, dst, depth + 1, ancestors);
      ancestors.delete(id);
    }
  }
}
