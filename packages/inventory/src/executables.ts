/**
 * Executables found on disk: every regular file under the given paths is hashed (SHA-256);
 * PE files are read through the engine's `pe` module (version-info strings and Authenticode
 * signers; the VS_VERSIONINFO resource is decoded again here as UTF-16 so non-Latin names
 * survive), ELF and PE files are tied to the package that installed them through the dpkg
 * and apk file lists. Files that are neither executables nor hash matches are only counted.
 */
import { createHash } from "node:crypto";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { relative, isAbsolute, sep } from "node:path";
import { builtinModules, type ScanContext } from "@vigil/engine";
import { walk } from "@vigil/scanner";
import type { InventoryEntry } from "./types.js";

export interface Signer {
  subject: string;
  issuer?: string;
  /** the signature verified (digest and signer certificate); an unverified claim is still reported. */
  verified: boolean;
}

export interface ExecutableFacts {
  path: string;
  size: number;
  sha256?: string;
  kind: "pe" | "elf" | "macho" | "other";
  /** PE version-info strings (CompanyName, ProductName, FileDescription, ...). */
  versionInfo?: Record<string, string>;
  signers?: Signer[];
  /** the package that installed the file, from the package database's file lists. */
  owner?: { source: InventoryEntry["source"]; name: string };
  /** why hashing or parsing stopped short. */
  note?: string;
}

export interface ExecutableScanOptions {
  /** the root the inventory came from: owner lookups use paths relative to it. */
  root?: string;
  /** inventory entries with file lists (dpkg, apk) for owner lookups. */
  entries?: InventoryEntry[];
  /** files above this size are hashed but not parsed (default 128 MiB). */
  maxParseSize?: number;
  /** files above this size are neither hashed nor parsed (default 2 GiB). */
  maxHashSize?: number;
  /** keep every file's facts, not only executables (so hashes can be matched). Default true. */
  keepAll?: boolean;
  /** with keepAll false: also keep the other files whose SHA-256 (lower-case hex) is in this set. */
  keepHashes?: ReadonlySet<string>;
  signal?: AbortSignal;
}

export interface ExecutableScan {
  files: ExecutableFacts[];
  examined: number;
  errors: Array<{ path: string; message: string }>;
}

const pe = builtinModules.get("pe")!;

function context(data: Uint8Array): ScanContext {
  let text: string | undefined;
  return {
    data,
    text: () => (text ??= Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("latin1")),
    cache: new Map(),
    log: () => {},
  };
}

/** Reads the UTF-16LE string at `o` up to a NUL or `end`; returns it and the offset after the NUL. */
function wstr(b: Buffer, o: number, end: number): [string, number] {
  let e = o;
  while (e + 1 < end && (b[e] !== 0 || b[e + 1] !== 0)) e += 2;
  return [b.subarray(o, e).toString("utf16le"), e + 2];
}

/**
 * Decodes a VS_VERSIONINFO resource (the String entries of every StringTable) with full UTF-16.
 * Each node: wLength, wValueLength, wType, szKey, padding to 4, value, padding, children.
 */
export function decodeVersionInfo(b: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  interface Node {
    key: string;
    type: number;
    vlen: number;
    valueAt: number;
    childAt: number;
    end: number;
  }
  const node = (start: number, limit: number): Node | undefined => {
    if (start + 6 > limit) return undefined;
    const len = b.readUInt16LE(start);
    if (len < 6) return undefined;
    const end = Math.min(start + len, limit);
    const vlen = b.readUInt16LE(start + 2);
    const type = b.readUInt16LE(start + 4);
    const [key, afterKey] = wstr(b, start + 6, end);
    const valueAt = (afterKey + 3) & ~3;
    return { key, type, vlen, valueAt, childAt: (valueAt + (type === 1 ? vlen * 2 : vlen) + 3) & ~3, end };
  };
  let budget = 4096;
  const children = function* (parent: Node): Generator<Node> {
    let at = parent.childAt;
    while (at + 6 <= parent.end && budget-- > 0) {
      const c = node(at, parent.end);
      if (!c) return;
      yield c;
      const next = (c.end + 3) & ~3;
      if (next <= at) return;
      at = next;
    }
  };
  const top = node(0, b.length);
  if (top?.key !== "VS_VERSION_INFO") return out;
  for (const sfi of children(top)) {
    if (sfi.key !== "StringFileInfo") continue;
    for (const table of children(sfi)) {
      for (const str of children(table)) {
        // wValueLength counts UTF-16 units of the text (often with its NUL)
        const [value] = wstr(b, str.valueAt, Math.min(str.end, str.valueAt + str.vlen * 2));
        if (str.key && !(str.key in out)) out[str.key] = value.replace(/\0+$/, "").trim();
      }
    }
  }
  return out;
}

function latin1ToUtf8(s: string): string {
  // the engine keeps certificate names as bytes, with non-printable ones as \xNN: back to UTF-8
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "\\" && s[i + 1] === "x" && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 2, i + 4))) {
      bytes.push(parseInt(s.slice(i + 2, i + 4), 16));
      i += 3;
    } else bytes.push(s.charCodeAt(i) & 0xff);
  }
  return Buffer.from(bytes).toString("utf8");
}

/** PE facts through the engine's pe module. */
export function peFacts(data: Uint8Array): Pick<ExecutableFacts, "versionInfo" | "signers"> {
  const root = pe.load(context(data)) as {
    version_info?: Map<string, string>;
    resources?: Array<{ type?: number; offset?: number; length?: number }>;
    signatures?: Array<{ subject?: string; issuer?: string; verified?: number }>;
  };
  const facts: Pick<ExecutableFacts, "versionInfo" | "signers"> = {};
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let vi: Record<string, string> = {};
  const res = root.resources?.find((r) => r.type === 16 && r.offset !== undefined && r.length !== undefined);
  if (res && res.offset! >= 0 && res.offset! + res.length! <= buf.length)
    vi = decodeVersionInfo(buf.subarray(res.offset!, res.offset! + res.length!));
  if (!Object.keys(vi).length && root.version_info) for (const [k, v] of root.version_info) vi[k] = v;
  if (Object.keys(vi).length) facts.versionInfo = vi;
  const signers = (root.signatures ?? [])
    .filter((s) => typeof s.subject === "string")
    .map((s) => {
      const signer: Signer = { subject: latin1ToUtf8(s.subject!), verified: s.verified === 1 };
      if (s.issuer) signer.issuer = latin1ToUtf8(s.issuer);
      return signer;
    });
  if (signers.length) facts.signers = signers;
  return facts;
}

function kindOf(head: Buffer): ExecutableFacts["kind"] {
  if (head.length >= 2 && head[0] === 0x4d && head[1] === 0x5a) return "pe";
  if (head.length >= 4 && head.readUInt32BE(0) === 0x7f454c46) return "elf";
  if (head.length >= 4) {
    const m = head.readUInt32BE(0);
    if (m === 0xfeedface || m === 0xfeedfacf || m === 0xcefaedfe || m === 0xcffaedfe || m === 0xcafebabe)
      return "macho";
  }
  return "other";
}

/** Hashes and inspects the files under `paths`. */
export async function scanExecutables(paths: string[], opts: ExecutableScanOptions = {}): Promise<ExecutableScan> {
  const maxParse = opts.maxParseSize ?? 128 << 20;
  const maxHash = opts.maxHashSize ?? 2 ** 31;
  const owners = new Map<string, { source: InventoryEntry["source"]; name: string }>();
  for (const e of opts.entries ?? [])
    for (const f of e.files ?? []) if (!owners.has(f)) owners.set(f, { source: e.source, name: e.name });
  const root = opts.root ?? "/";
  const result: ExecutableScan = { files: [], examined: 0, errors: [] };
  const chunk = Buffer.alloc(1 << 20);
  for await (const ent of walk(paths, { signal: opts.signal })) {
    if (ent.kind === "error") {
      result.errors.push({ path: ent.path, message: ent.error.message });
      continue;
    }
    if (ent.kind !== "file") continue;
    result.examined++;
    let fd: number | undefined;
    try {
      // synchronous reads: one file at a time either way, and no thread-pool hop per chunk
      fd = openSync(ent.path, "r");
      const size = fstatSync(fd).size;
      const facts: ExecutableFacts = { path: ent.path, size, kind: "other" };
      const head = readSync(fd, chunk, 0, Math.min(chunk.length, size), 0);
      facts.kind = kindOf(chunk.subarray(0, head));
      if (facts.kind === "pe" && size <= maxParse) {
        // the pe module needs the whole file: read it once, hash it from memory
        const data = Buffer.allocUnsafe(size);
        let pos = 0;
        while (pos < size) {
          const n = readSync(fd, data, pos, size - pos, pos);
          if (n === 0) break;
          pos += n;
        }
        facts.sha256 = createHash("sha256").update(data.subarray(0, pos)).digest("hex");
        if (pos < size) facts.note = "file shrank while being read";
        Object.assign(facts, peFacts(data.subarray(0, pos)));
      } else if (size <= maxHash) {
        const hash = createHash("sha256").update(chunk.subarray(0, head));
        let pos = head;
        while (pos < size) {
          const n = readSync(fd, chunk, 0, Math.min(chunk.length, size - pos), pos);
          if (n === 0) break;
          hash.update(chunk.subarray(0, n));
          pos += n;
        }
        facts.sha256 = hash.digest("hex");
        if (pos < size) facts.note = "file shrank while being read";
        else if (facts.kind === "pe") facts.note = "too large to parse";
      } else {
        facts.note = "too large to hash";
      }
      const rel = relative(root, ent.path);
      if (!rel.startsWith("..") && !isAbsolute(rel)) {
        const abs = "/" + rel.split(sep).join("/");
        // merged /usr: dpkg may list /bin/ls for what is found at /usr/bin/ls, and the reverse
        const alias = /^\/usr\/(s?bin|lib\d*)\//.test(abs)
          ? abs.slice(4)
          : /^\/(s?bin|lib\d*)\//.test(abs)
            ? `/usr${abs}`
            : undefined;
        const owner = owners.get(abs) ?? (alias !== undefined ? owners.get(alias) : undefined);
        if (owner) facts.owner = owner;
      }
      if (
        opts.keepAll !== false ||
        facts.kind !== "other" ||
        (facts.sha256 !== undefined && opts.keepHashes?.has(facts.sha256))
      )
        result.files.push(facts);
    } catch (e) {
      result.errors.push({ path: ent.path, message: (e as Error).message });
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
  return result;
}
