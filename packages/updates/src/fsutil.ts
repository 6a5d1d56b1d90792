/** Crash-safe file writes: write a temporary file, fsync it, rename it over the target, fsync the directory. */
import { randomBytes } from "node:crypto";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";

export async function fsyncDir(dir: string): Promise<void> {
  const h = await open(dir, "r");
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

export async function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  const h = await open(tmp, "wx", mode);
  try {
    await h.writeFile(data);
    await h.sync();
  } catch (e) {
    await h.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await h.close();
  await rename(tmp, path);
  await fsyncDir(dir);
}

/**
 * An exclusive lock on a directory for one process (`<dir>/<name>.lock` holding the pid). A lock
 * left by a process that no longer runs is taken over. Returns the release function.
 */
export async function lockDir(dir: string, name: string): Promise<() => Promise<void>> {
  const { mkdir: mk, readFile: rf, unlink, writeFile: wf } = await import("node:fs/promises");
  await mk(dir, { recursive: true });
  const path = `${dir}/${name}.lock`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await wf(path, `${process.pid}\n`, { flag: "wx" });
      return async () => {
        await unlink(path).catch(() => undefined);
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const pid = Number((await rf(path, "utf8").catch(() => "")).trim());
      let alive = false;
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid) {
        try {
          process.kill(pid, 0);
          alive = true;
        } catch (err) {
          alive = (err as NodeJS.ErrnoException).code === "EPERM";
        }
      }
      if (alive) {
        const { UpdateError } = await import("./error.js");
        throw new UpdateError("BAD_INPUT", `${dir} is in use by process ${pid} (${name}); wait for it to finish`);
      }
      await unlink(path).catch(() => undefined);
    }
  }
  const { UpdateError } = await import("./error.js");
  throw new UpdateError("BAD_INPUT", `cannot take the lock ${path}`);
}
