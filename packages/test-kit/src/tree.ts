/** Test helper: builds a directory tree from a map of relative paths to contents. */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export type TreeSpec = Record<string, string | Uint8Array | { link: string }>;

export function makeTree(spec: TreeSpec): { root: string; cleanup(): void } {
  const root = mkdtempSync(join(tmpdir(), "vigil-inv-"));
  for (const [rel, content] of Object.entries(spec)) {
    const p = join(root, rel);
    mkdirSync(dirname(p), { recursive: true });
    if (typeof content === "object" && "link" in content) symlinkSync(content.link, p);
    else writeFileSync(p, content);
  }
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** A dpkg status stanza. */
export function dpkgStanza(f: {
  name: string;
  version: string;
  maintainer: string;
  status?: string;
  arch?: string;
  description?: string;
}): string {
  return (
    [
      `Package: ${f.name}`,
      `Status: ${f.status ?? "install ok installed"}`,
      `Priority: optional`,
      `Architecture: ${f.arch ?? "amd64"}`,
      `Maintainer: ${f.maintainer}`,
      `Version: ${f.version}`,
      `Description: ${f.description ?? `the ${f.name} package`}`,
      ` A longer description of ${f.name},`,
      ` .`,
      ` on several lines.`,
    ].join("\n") + "\n"
  );
}

/** A .reg export in regedit's format, encoded as UTF-16LE with BOM (regedit) or UTF-8. */
export function regExport(
  keys: Array<{ path: string; values: string[] }>,
  encoding: "utf16le" | "utf8" = "utf16le",
): Buffer {
  const text = [
    "Windows Registry Editor Version 5.00",
    "",
    ...keys.flatMap((k) => [`[${k.path}]`, ...k.values, ""]),
  ].join("\r\n");
  return encoding === "utf16le"
    ? Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, "utf16le")])
    : Buffer.from(text, "utf8");
}

/** REG_EXPAND_SZ as regedit writes it: hex(2): UTF-16LE bytes with a NUL, wrapped with "\\\r\n  ". */
export function hex2(s: string): string {
  const bytes = [...Buffer.from(s + "\0", "utf16le")].map((b) => b.toString(16).padStart(2, "0"));
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 20) lines.push(bytes.slice(i, i + 20).join(","));
  return `hex(2):${lines.join(",\\\r\n  ")}`;
}

export const UNINSTALL = "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall";
export const UNINSTALL32 = "HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall";

/** A minimal binary plist writer (bplist00) for dictionaries of strings, for tests. */
export function bplist(dict: Record<string, string>): Buffer {
  const objs: Buffer[] = [];
  const str = (s: string): number => {
    const ascii = /^[\x00-\x7f]*$/.test(s);
    const body = ascii ? Buffer.from(s, "latin1") : Buffer.from(s, "utf16le").swap16();
    const n = s.length;
    const head = n < 15 ? Buffer.from([(ascii ? 0x50 : 0x60) | n]) : Buffer.from([ascii ? 0x5f : 0x6f, 0x10, n]);
    objs.push(Buffer.concat([head, body]));
    return objs.length - 1;
  };
  const keys = Object.keys(dict);
  objs.push(Buffer.alloc(0)); // placeholder for the dict, object 0
  const krefs = keys.map(str);
  const vrefs = keys.map((k) => str(dict[k]!));
  objs[0] = Buffer.from([0xd0 | keys.length, ...krefs, ...vrefs]);
  const offsets: number[] = [];
  let at = 8;
  for (const o of objs) {
    offsets.push(at);
    at += o.length;
  }
  const table = Buffer.alloc(objs.length * 2);
  offsets.forEach((o, i) => table.writeUInt16BE(o, i * 2));
  const trailer = Buffer.alloc(32);
  trailer[6] = 2;
  trailer[7] = 1;
  trailer.writeBigUInt64BE(BigInt(objs.length), 8);
  trailer.writeBigUInt64BE(0n, 16);
  trailer.writeBigUInt64BE(BigInt(at), 24);
  return Buffer.concat([Buffer.from("bplist00", "latin1"), ...objs, table, trailer]);
}
