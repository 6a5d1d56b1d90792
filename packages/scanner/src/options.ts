/** Helpers shared by the scan and watch commands: sizes, default locations, detector set-up. */
import { homedir } from "node:os";
import { join } from "node:path";
import { ScannerError } from "./error.js";

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

