/**
 * Options shared by the commands: where signatures come from, the per-file limits, commander
 * parsing that turns help and bad options into exit codes, size and count values ("25M"), and
 * the default locations (cache, data and quarantine directories under the XDG base directories).
 */
import type { Command } from "commander";
import { homedir } from "node:os";
import { join } from "node:path";
import { ScannerError } from "@vigil/scanner";

/** Accumulates a repeatable option's values. */
export const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** --rules, -d/--database and --no-builtin. */
export function signatureOptions(cmd: Command): Command {
  return cmd
    .option("--rules <file|dir>", "YARA rule file or directory of .yar files (repeatable)", collect, [])
    .option("-d, --database <file|dir>", "ClamAV database file or directory (.cvd .cld .cud containers, every ClamAV signature format) or a hash list (repeatable)", collect, [])
    .option("--no-builtin", "do not load the built-in starter rules");
}

/** --max-filesize, --max-scansize, --max-scantime, and with `archives` --max-files and --max-recursion. */
export function limitOptions(cmd: Command, o: { archives: boolean; filesizeHelp?: string }): Command {
  cmd
    .option("--max-filesize <size>", o.filesizeHelp ?? "skip (and report) files larger than this", "100M")
    .option("--max-scansize <size>", "bytes scanned per file, archive members included", "400M")
    .option("--max-scantime <ms>", "time limit for scanning one file or archive member, in milliseconds", "120000");
  if (o.archives) {
    cmd
      .option("--max-files <n>", "members scanned per archive", "10000")
      .option("--max-recursion <n>", "archive nesting depth", "17");
  }
  return cmd;
}

/**
 * Parses args with a command built with exitOverride(): undefined when the command should run,
 * else the exit code (0 after --help or --version, 2 for bad options, which commander reported).
 */
export function parseOrExit(cmd: Command, args: string[]): number | undefined {
  try {
    cmd.parse(args, { from: "user" });
    return undefined;
  } catch (err) {
    const code = (err as { code?: string }).code;
    return code === "commander.helpDisplayed" || code === "commander.version" ? 0 : 2;
  }
}

/** "25M", "100K", "1G", "512" (bytes). */
export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(s.trim());
  if (!m) throw new ScannerError("BAD_OPTION", `invalid size ${JSON.stringify(s)}: use a number with an optional K, M, G or T suffix (e.g. 25M)`);
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as "" | "k" | "m" | "g" | "t"];
  return Math.floor(Number(m[1]) * mult);
}

export function parseCount(s: string, what: string): number {
  if (!/^\d+$/.test(s.trim())) throw new ScannerError("BAD_OPTION", `${what} must be a whole number (got ${JSON.stringify(s)})`);
  return Number(s);
}

/** $XDG_CACHE_HOME/vigil or ~/.cache/vigil */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "vigil");
}

/** $XDG_DATA_HOME/vigil or ~/.local/share/vigil */
export function dataDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_DATA_HOME || join(homedir(), ".local", "share"), "vigil");
}

export function defaultQuarantineDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.VIGIL_QUARANTINE_DIR || join(dataDir(env), "quarantine");
}

