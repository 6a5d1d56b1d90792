/**
 * Options shared by the commands: where signatures come from, the per-file limits, commander
 * parsing that turns help and bad options into exit codes, size and count values ("25M"), and
 * the default locations (cache, data and quarantine directories under the XDG base directories).
 */
import type { Command } from "commander";
import { existsSync, readdirSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { ScannerError } from "@vigil/scanner";

/** Accumulates a repeatable option's values. */
export const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** --rules, -d/--database, --clamav-trust-key and --builtin/--no-builtin. */
export function signatureOptions(cmd: Command): Command {
  return cmd
    .option("--rules <file|dir>", "YARA rule file or directory of .yar files (repeatable)", collect, [])
    .option(
      "-d, --database <file|dir>",
      "ClamAV database file or directory (.cvd .cld .cud containers, every ClamAV signature format) or a hash list (repeatable)",
      collect,
      [],
    )
    .option(
      "--clamav-trust-key <file>",
      "also trust the keys in this file (vigil-clamav-keys/v1 JSON) for .cvd/.cld signatures, besides ClamAV's: a private mirror's or a test database's (repeatable)",
      collect,
      [],
    )
    .option("--builtin", "also load the built-in starter rules when -d is given")
    .option("--no-builtin", "do not load the built-in starter rules")
    .option("--no-feeds", "do not load the third-party rule feeds (vigil feeds)")
    .option(
      "--phishing-sigs [yes|no]",
      "load the HTML.Phishing/Email.Phishing body signatures of ClamAV databases (default yes, as clamscan)",
    )
    .option(
      "--phishing-scan-urls [yes|no]",
      "load .pdb/.wdb/.gdb and check the links of mail text parts with them (default yes, as clamscan)",
    )
    .option("--alert-phishing-ssl", "report https/http mismatches of mail links to any domain (as clamscan)")
    .option("--alert-phishing-cloak", "report cloaked (%00) mail links to any domain (as clamscan)");
}

/** A clamscan-style boolean option value: absent -> undefined, bare flag or yes -> true, no -> false. */
export function yesNo(v: string | boolean | undefined, what: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === true) return true;
  const t = String(v).toLowerCase();
  if (t === "yes" || t === "true" || t === "1") return true;
  if (t === "no" || t === "false" || t === "0") return false;
  throw new ScannerError("BAD_OPTION", `${what} takes yes or no, not ${JSON.stringify(v)}`);
}

/** The phishing settings the signature options ask for (`conf`: clamd.conf's, which the flags override). */
export function phishingOptions(
  o: {
    phishingSigs?: string | boolean;
    phishingScanUrls?: string | boolean;
    alertPhishingSsl?: boolean;
    alertPhishingCloak?: boolean;
  },
  conf: {
    phishingSigs?: boolean;
    phishingScanUrls?: boolean;
    alertPhishingSsl?: boolean;
    alertPhishingCloak?: boolean;
  } = {},
): { sigs?: boolean; urls?: boolean; alertSsl?: boolean; alertCloak?: boolean } {
  const sigs = yesNo(o.phishingSigs, "--phishing-sigs") ?? conf.phishingSigs;
  const urls = yesNo(o.phishingScanUrls, "--phishing-scan-urls") ?? conf.phishingScanUrls;
  const alertSsl = o.alertPhishingSsl || conf.alertPhishingSsl;
  const alertCloak = o.alertPhishingCloak || conf.alertPhishingCloak;
  return {
    ...(sigs === false ? { sigs: false } : {}),
    ...(urls === false ? { urls: false } : {}),
    ...(alertSsl ? { alertSsl: true } : {}),
    ...(alertCloak ? { alertCloak: true } : {}),
  };
}

/** Where ClamAV keeps its databases: $VIGIL_CLAMAV_DB_DIR, else /var/lib/clamav (Debian's, freshclam's). */
export function clamavDatabaseDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.VIGIL_CLAMAV_DB_DIR || "/var/lib/clamav";
}

const DATABASE_FILE = /\.(cvd|cld|cud|hdb|hsb|mdb|msb|ndb|ldb|fp|sfp|ign2)$/i;

/**
 * The databases a scan uses: those named with -d; else, when neither -d nor --rules is given,
 * ClamAV's database directory if it holds databases (as clamscan loads it by default); else none
 * (the built-in starter rules then load alone).
 */
export function resolveDatabases(
  o: { database: string[]; rules: string[] },
  env: NodeJS.ProcessEnv = process.env,
): string[] {
  if (o.database.length || o.rules.length) return o.database;
  const dir = clamavDatabaseDir(env);
  try {
    if (existsSync(dir) && readdirSync(dir).some((n) => DATABASE_FILE.test(n))) return [dir];
  } catch {
    // an unreadable directory: scan with the built-in rules and say so
  }
  return [];
}

/** What a scan detects with, in one line for people (stderr, after the summary). */
export function signatureSourceNote(
  o: { database: string[]; rules: string[]; feedRules?: string[] },
  builtin: boolean,
): string | undefined {
  if (o.database.length || o.rules.length || o.feedRules?.length) return undefined;
  if (!builtin) return undefined;
  return (
    "vigil: note: scanned with the 4 built-in test signatures only (EICAR, ClamAV's test file, GTUBE): " +
    "they find test files, not malware. For real detection content give ClamAV's databases with " +
    `-d DIR (none found in ${clamavDatabaseDir()}; 'vigil freshclam --mirror URL' or freshclam fills it) or YARA rules with --rules FILE.\n`
  );
}

/**
 * Whether the built-in starter rules load: as asked, else only without -d (with -d, as with
 * clamscan, only the named databases load, so the signature count is theirs).
 */
export function useBuiltin(o: { builtin?: boolean; database: string[] }): boolean {
  return o.builtin ?? o.database.length === 0;
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
  if (!m)
    throw new ScannerError(
      "BAD_OPTION",
      `invalid size ${JSON.stringify(s)}: use a number with an optional K, M, G or T suffix (e.g. 25M)`,
    );
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[
    m[2]!.toLowerCase() as "" | "k" | "m" | "g" | "t"
  ];
  return Math.floor(Number(m[1]) * mult);
}

export function parseCount(s: string, what: string): number {
  if (!/^\d+$/.test(s.trim()))
    throw new ScannerError("BAD_OPTION", `${what} must be a whole number (got ${JSON.stringify(s)})`);
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
