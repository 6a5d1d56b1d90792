/**
 * Options shared by the scanning commands (scan, watch, daemon): where signatures come from,
 * the per-file limits, and commander parsing that turns help and bad options into exit codes.
 */
import type { Command } from "commander";

/** Accumulates a repeatable option's values. */
export const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** --rules, -d/--database and --no-builtin. */
export function signatureOptions(cmd: Command): Command {
  return cmd
    .option("--rules <file|dir>", "YARA rule file or directory of .yar files (repeatable)", collect, [])
    .option("-d, --database <file|dir>", "ClamAV database file or directory: .hdb .hsb .mdb .msb .ndb .ldb .fp .sfp .ign2, hash lists (repeatable)", collect, [])
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
