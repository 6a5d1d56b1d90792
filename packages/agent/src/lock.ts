/** The state directory's lock: one running agent per directory (run.lock holding its pid). */
import { closeSync, constants, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { AgentError } from "./error.js";

/** Takes an exclusive lock on the state directory; stale locks (dead pid) are taken over. Returns the release. */
export function lockStateDir(dir: string): () => void {
  const file = join(dir, "run.lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          unlinkSync(file);
        } catch {
          /* gone */
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST")
        throw new AgentError("AGENT_CONFIG", `cannot create ${file}: ${(err as Error).message}`, { cause: err });
      let pid = NaN;
      try {
        pid = Number(readFileSync(file, "utf8").trim());
      } catch {
        /* vanished */
      }
      let alive = false;
      if (Number.isInteger(pid) && pid > 0) {
        try {
          process.kill(pid, 0);
          alive = true;
        } catch (e) {
          alive = (e as NodeJS.ErrnoException).code === "EPERM";
        }
      }
      if (alive)
        throw new AgentError(
          "AGENT_BUSY",
          `another agent (pid ${pid}) is running on ${dir}; stop it first or use another --state directory`,
        );
      try {
        unlinkSync(file);
      } catch {
        /* raced */
      }
    }
  }
  throw new AgentError("AGENT_BUSY", `cannot take the lock ${file}`);
}
