/**
 * A preload (`node --import <this file>`) for kill -9 matrices: it counts the write steps the
 * process makes to the file system under $VIGIL_KILL_UNDER (writes, renames, unlinks, mkdirs,
 * fsyncs, truncations, through node:fs, node:fs/promises and file handles) and SIGKILLs the
 * process right after step number $VIGIL_KILL_AT completes. A process that ends without being
 * killed ran out of steps: the matrix has covered every one. Without $VIGIL_KILL_AT it only
 * counts, and prints `killpoint: N steps` to stderr at exit.
 */
import { createRequire, syncBuiltinESMExports } from "node:module";
import { resolve } from "node:path";

const require = createRequire(import.meta.url);
const fs = require("node:fs") as Record<string, unknown>;
const fsp = require("node:fs/promises") as Record<string, unknown>;

const killAt = Number(process.env.VIGIL_KILL_AT ?? "0");
const under = resolve(process.env.VIGIL_KILL_UNDER ?? "/");
let steps = 0;

const inScope = (p: unknown): boolean => {
  if (typeof p === "string" || Buffer.isBuffer(p) || p instanceof URL) {
    const s = p instanceof URL ? p.pathname : resolve(p.toString());
    return s === under || s.startsWith(under.endsWith("/") ? under : `${under}/`);
  }
  return true; // a descriptor: counted (opened by this process for its own work)
};

function step(): void {
  steps++;
  if (killAt > 0 && steps === killAt) process.kill(process.pid, "SIGKILL");
}

const SYNC = [
  "writeFileSync",
  "appendFileSync",
  "writeSync",
  "writevSync",
  "renameSync",
  "unlinkSync",
  "rmSync",
  "rmdirSync",
  "mkdirSync",
  "copyFileSync",
  "linkSync",
  "symlinkSync",
  "truncateSync",
  "ftruncateSync",
  "fsyncSync",
  "fdatasyncSync",
];
for (const name of SYNC) {
  const original = fs[name] as ((...a: unknown[]) => unknown) | undefined;
  if (typeof original !== "function") continue;
  fs[name] = function (this: unknown, ...args: unknown[]) {
    const result = original.apply(this, args);
    if (inScope(args[name === "renameSync" || name === "copyFileSync" || name === "linkSync" ? 1 : 0])) step();
    return result;
  };
}

const ASYNC = [
  "writeFile",
  "appendFile",
  "rename",
  "unlink",
  "rm",
  "rmdir",
  "mkdir",
  "copyFile",
  "link",
  "symlink",
  "truncate",
];
for (const name of ASYNC) {
  const original = fsp[name] as ((...a: unknown[]) => Promise<unknown>) | undefined;
  if (typeof original !== "function") continue;
  fsp[name] = async function (this: unknown, ...args: unknown[]) {
    const result = await original.apply(this, args);
    if (inScope(args[name === "rename" || name === "copyFile" || name === "link" ? 1 : 0])) step();
    return result;
  };
}

// file handles: their writes and syncs count when the handle was opened under the scope
const scoped = new WeakSet<object>();
const open = fsp.open as (...a: unknown[]) => Promise<object>;
fsp.open = async (...args: unknown[]) => {
  const h = await open(...args);
  if (inScope(args[0])) scoped.add(h);
  return h;
};
{
  const probe = await open(process.execPath, "r");
  const proto = Object.getPrototypeOf(probe) as Record<string, unknown>;
  await (probe as { close(): Promise<void> }).close();
  for (const name of ["writeFile", "write", "writev", "appendFile", "sync", "datasync", "truncate"]) {
    const original = proto[name] as ((...a: unknown[]) => Promise<unknown>) | undefined;
    if (typeof original !== "function") continue;
    proto[name] = async function (this: object, ...args: unknown[]) {
      const result = await original.apply(this, args);
      if (scoped.has(this)) step();
      return result;
    };
  }
}
syncBuiltinESMExports();

if (!killAt) process.on("exit", () => process.stderr.write(`killpoint: ${steps} steps\n`));
