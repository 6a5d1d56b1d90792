/**
 * Windows uninstall registry exports (.reg files from `reg export` or regedit): REGEDIT5 text
 * in UTF-16LE (with or without BOM, regedit's default) or UTF-8/ANSI (REGEDIT4). Every key
 * directly under ...\CurrentVersion\Uninstall (HKLM, HKCU, WOW6432Node) with a DisplayName is
 * one installed program, as in Windows' "Apps & features".
 */
import { readBytes } from "./fsutil.js";
import type { InventoryEntry, SourceResult } from "./types.js";

export type RegValue = string | number | Uint8Array | string[];

export interface RegKey {
  path: string;
  values: Map<string, RegValue>;
}

/** Decodes a .reg file's bytes by BOM, or by the NUL pattern of UTF-16LE text without one. */
export function decodeRegText(bytes: Uint8Array): string {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b[0] === 0xff && b[1] === 0xfe) return b.subarray(2, b.length - (b.length % 2)).toString("utf16le");
  if (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) return b.subarray(3).toString("utf8");
  if (b.length >= 4 && b[1] === 0 && b[3] === 0 && b[0] !== 0)
    return b.subarray(0, b.length - (b.length % 2)).toString("utf16le");
  return b.toString("utf8");
}

/** Hex bytes "41,00,42,00" (line continuations already joined) to bytes; undefined when malformed. */
function hexBytes(s: string): Uint8Array | undefined {
  const t = s.replace(/\s+/g, "");
  if (t === "") return new Uint8Array(0);
  const parts = t.split(",").filter((p) => p !== "");
  const out = new Uint8Array(parts.length);
  for (let i = 0; i < parts.length; i++) {
    if (!/^[0-9a-fA-F]{1,2}$/.test(parts[i]!)) return undefined;
    out[i] = parseInt(parts[i]!, 16);
  }
  return out;
}

function utf16z(b: Uint8Array): string {
  const s = Buffer.from(b.buffer, b.byteOffset, b.byteLength - (b.byteLength % 2)).toString("utf16le");
  return s.replace(/\0+$/, "");
}

/** A quoted .reg string starting at s[i] == '"': returns the text and the index after the closing quote. */
function quoted(s: string, i: number): [string, number] | undefined {
  let out = "";
  for (let j = i + 1; j < s.length; j++) {
    const c = s[j]!;
    if (c === "\\" && j + 1 < s.length) {
      out += s[++j];
      continue;
    }
    if (c === '"') return [out, j + 1];
    out += c;
  }
  return undefined;
}

function parseValue(data: string): RegValue | undefined {
  if (data.startsWith('"')) return quoted(data, 0)?.[0];
  const dw = /^dword:([0-9a-fA-F]{1,8})$/.exec(data);
  if (dw) return parseInt(dw[1]!, 16);
  const hx = /^hex(?:\(([0-9a-fA-F]+)\))?:(.*)$/s.exec(data);
  if (hx) {
    const bytes = hexBytes(hx[2]!);
    if (!bytes) return undefined;
    const type = hx[1] === undefined ? 3 : parseInt(hx[1], 16);
    if (type === 1 || type === 2) return utf16z(bytes); // REG_SZ, REG_EXPAND_SZ
    if (type === 7)
      return utf16z(bytes)
        .split("\0")
        .filter((x) => x !== ""); // REG_MULTI_SZ
    if (type === 4 && bytes.length === 4) return Buffer.from(bytes).readUInt32LE(0);
    if (type === 0xb && bytes.length === 8) return Number(Buffer.from(bytes).readBigUInt64LE(0));
    return bytes;
  }
  return undefined;
}

/** Parses .reg text into keys and values; malformed lines are skipped. Deleted keys ([-...]) are left out. */
export function parseReg(text: string): RegKey[] {
  const keys: RegKey[] = [];
  let cur: RegKey | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    // a hex value continues on the next lines after a trailing backslash (joined once, linearly)
    if (/\\\s*$/.test(line) && !/^\s*\[/.test(line) && /=\s*hex/.test(line)) {
      const parts: string[] = [];
      let cur = line;
      while (/\\\s*$/.test(cur) && i + 1 < lines.length) {
        parts.push(cur.replace(/\\\s*$/, ""));
        cur = lines[++i]!.trim();
      }
      parts.push(cur);
      line = parts.join("");
    }
    line = line.trim();
    if (line === "" || line.startsWith(";")) continue;
    if (line.startsWith("[")) {
      const end = line.lastIndexOf("]");
      if (end < 0 || line[1] === "-") {
        cur = undefined;
        continue;
      }
      cur = { path: line.slice(1, end), values: new Map() };
      keys.push(cur);
      continue;
    }
    if (!cur) continue;
    let name: string, rest: string;
    if (line.startsWith("@=")) {
      name = "";
      rest = line.slice(2);
    } else if (line.startsWith('"')) {
      const q = quoted(line, 0);
      if (!q || line[q[1]] !== "=") continue;
      name = q[0];
      rest = line.slice(q[1] + 1);
    } else {
      continue;
    }
    if (rest === "-") {
      cur.values.delete(name);
      continue;
    }
    const v = parseValue(rest);
    if (v !== undefined) cur.values.set(name, v);
  }
  return keys;
}

const UNINSTALL =
  /^(HKEY_LOCAL_MACHINE|HKLM|HKEY_CURRENT_USER|HKCU|HKEY_USERS\\[^\\]+)\\SOFTWARE\\(WOW6432Node\\)?Microsoft\\Windows\\CurrentVersion\\Uninstall\\([^\\]+)$/i;

function str(v: RegValue | undefined): string | undefined {
  if (typeof v === "string") return v.trim() || undefined;
  if (typeof v === "number") return String(v);
  return undefined;
}

/** The installed programs recorded in parsed .reg keys. */
export function uninstallEntries(keys: RegKey[], file?: string): InventoryEntry[] {
  const out: InventoryEntry[] = [];
  for (const k of keys) {
    const m = UNINSTALL.exec(k.path);
    if (!m) continue;
    const name = str(k.values.get("DisplayName"));
    if (!name) continue;
    // updates and system components are hidden from "Apps & features"; kept, and marked
    const extra: Record<string, string> = { identifier: m[3]!, key: k.path };
    for (const [field, val] of [
      ["uninstallString", "UninstallString"],
      ["installDate", "InstallDate"],
      ["installSource", "InstallSource"],
      ["displayIcon", "DisplayIcon"],
      ["parent", "ParentKeyName"],
    ] as const) {
      const s = str(k.values.get(val));
      if (s) extra[field] = s;
    }
    if (k.values.get("SystemComponent") === 1) extra.systemComponent = "yes";
    if (m[2]) extra.view = "32-bit";
    if (file) extra.file = file;
    const entry: InventoryEntry = { name, source: "windows-registry", extra };
    const date = /^(\d{4})(\d{2})(\d{2})$/.exec(str(k.values.get("InstallDate")) ?? "");
    if (date) {
      const t = Date.UTC(Number(date[1]), Number(date[2]) - 1, Number(date[3]));
      if (!Number.isNaN(t) && new Date(t).getUTCDate() === Number(date[3]))
        entry.installedAt = new Date(t).toISOString();
    }
    const version = str(k.values.get("DisplayVersion"));
    const vendor = str(k.values.get("Publisher"));
    const path = str(k.values.get("InstallLocation"));
    if (version) entry.version = version;
    if (vendor) entry.vendor = vendor;
    if (path) entry.installPath = path;
    out.push(entry);
  }
  return out;
}

/** Reads .reg export files (at most 256 MiB each). */
export async function registrySource(files: string[]): Promise<SourceResult> {
  const result: SourceResult = { entries: [], problems: [] };
  for (const f of files) {
    try {
      const bytes = await readBytes(f, 256 << 20);
      if (bytes === undefined) {
        result.problems.push({
          source: "windows-registry",
          path: f,
          message: `${f}: no such file (give a .reg export made with 'reg export HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall FILE')`,
        });
        continue;
      }
      const text = decodeRegText(bytes);
      if (!/^\s*(Windows Registry Editor Version 5\.00|REGEDIT4)/.test(text)) {
        result.problems.push({
          source: "windows-registry",
          path: f,
          message: `${f}: not a registry export (no 'Windows Registry Editor Version 5.00' or 'REGEDIT4' header)`,
        });
        continue;
      }
      result.entries.push(...uninstallEntries(parseReg(text), f));
    } catch (e) {
      result.problems.push({ source: "windows-registry", path: f, message: (e as Error).message });
    }
  }
  return result;
}
