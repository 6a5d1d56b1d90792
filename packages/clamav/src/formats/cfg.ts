/**
 * `.cfg` engine configuration (ClamAV's DCONF): `Category:0xFLAGS:minFL:maxFL`, Category one
 * of PE ELF MACHO ARCHIVE DOCUMENT MAIL OTHER PHISHING BYTECODE STATS PCRE. A line in range
 * replaces that category's bit mask. Parsed leniently as ClamAV does (unknown lines, comments
 * and non-numeric limits ignored; a known category whose flags are not `0x...` is an error);
 * never counted. Of the per-module switches Vigil honours only PE CERTS (0x20000) and CATALOG
 * (0x10000), which turn Authenticode `.crb`/`.cat` off (../database.ts); the loader reports,
 * once per file, which categories the file changes.
 */

import { SignatureSyntaxError } from "../signature/fields.js";

export const DCONF_CATEGORIES = [
  "PE",
  "ELF",
  "MACHO",
  "ARCHIVE",
  "DOCUMENT",
  "MAIL",
  "OTHER",
  "PHISHING",
  "BYTECODE",
  "STATS",
  "PCRE",
] as const;

export interface DconfLine {
  category: (typeof DCONF_CATEGORIES)[number];
  mask: number;
}

/** One `.cfg` line: the category mask it sets at `flevel`, or undefined (ignored or out of range). */
export function parseCfgLine(line: string, flevel: number): DconfLine | undefined {
  const f = line.split(":");
  const category = DCONF_CATEGORIES.find((c) => c === f[0]);
  if (category === undefined) return undefined;
  if (f.length < 2 || !/^0x[0-9a-fA-F]+$/.test(f[1]!))
    throw new SignatureSyntaxError(`${category} flags must be written 0x... (hexadecimal)`);
  const min = f[2] !== undefined && /^\d+$/.test(f[2]) ? +f[2] : undefined;
  const max = f[3] !== undefined && /^\d+$/.test(f[3]) ? +f[3] : undefined;
  if (f.length >= 3 && (min === undefined || (f.length >= 4 && max === undefined))) return undefined; // non-numeric limits: ignored
  if ((min !== undefined && min > flevel) || (max !== undefined && max < flevel)) return undefined;
  return { category, mask: parseInt(f[1]!.slice(2), 16) >>> 0 };
}
