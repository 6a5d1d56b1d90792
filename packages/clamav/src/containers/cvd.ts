/**
 * ClamAV database containers: `.cvd` (signed), `.cld` (built locally by applying `.cdiff`
 * updates; header checked, not signed) and `.cud` (unsigned). A container is a 512-byte header
 * `ClamAV-VDB:build time:version:signatures:flevel:md5:dsig:builder:stime` padded with spaces,
 * then a tar (gzip'd, unless it starts with `COPYING`). Inside: `COPYING`, `<db>.info` (line 1 the
 * header again with `X:X` for md5 and dsig, then `name:size:sha256` per file, then `DSIG:` over
 * everything before it) and the signature files.
 *
 * `openContainer` checks what ClamAV checks, in its order: the header, the body's MD5 and the
 * header's dsig (`.cvd` only), the `.info` DSIG (`.cvd`/`.cld`; optional for `.cud`), the `.info`
 * header against the container header, and every file's size and sha256 against `.info`.
 */
import { createHash } from "node:crypto";
import { inflateRawSync } from "node:zlib";
import { ClamavError } from "../error.js";
import { CLAMAV_KEYS, verifyPss, verifyRawMd5, type TrustedKeys } from "./dsig.js";
import { readContainerTar, writeContainerTar, type ContainerFile } from "./tar.js";

export type ContainerKind = "cvd" | "cld" | "cud";

export interface ContainerHeader {
  /** the build time as written (`22 Jun 2021 14-58 -0400`) */
  readonly buildTime: string;
  readonly version: number;
  /** the number of signatures the builder counted */
  readonly signatures: number;
  /** the minimum functionality level the database needs */
  readonly flevel: number;
  /** hex MD5 of the body, or `X` (`.cld`) */
  readonly md5: string;
  /** the header's dsig, or `X` */
  readonly dsig: string;
  readonly builder: string;
  /** build time in seconds since the epoch, when the header has it */
  readonly stime: number | undefined;
}

export interface InfoEntry {
  readonly size: number;
  readonly sha256: string;
}

export interface OpenedContainer {
  readonly path: string;
  readonly kind: ContainerKind;
  /** the database name: `daily` for `daily.cvd` */
  readonly name: string;
  readonly header: ContainerHeader;
  /** every file of the tar, in order (COPYING and the .info included) */
  readonly files: readonly ContainerFile[];
  /** the signature files: every file but COPYING and the .info */
  readonly databases: readonly ContainerFile[];
  /** `.info` entries by file name (empty for a `.cud` without one) */
  readonly info: ReadonlyMap<string, InfoEntry>;
  /** what ClamAV warns about and still loads (an old daily, a future build time, a high FLEVEL) */
  readonly warnings: readonly string[];
}

export interface OpenOptions {
  /** the path the bytes came from: names the database and the errors */
  readonly path: string;
  /** default: from the path's extension */
  readonly kind?: ContainerKind;
  /** default: ClamAV's published keys */
  readonly keys?: TrustedKeys;
  /** the engine's functionality level, for the FLEVEL warning */
  readonly flevel?: number;
  /** now, for the age warning (default: the clock) */
  readonly now?: Date;
  /** the largest unpacked body accepted (default 2 GiB): a bomb is an error, not an out-of-memory */
  readonly maxUnpackedBytes?: number;
}

export const CONTAINER_EXTENSIONS: readonly string[] = [".cvd", ".cld", ".cud"];

function printableHeader(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b < 0x20 || b > 0x7e) return false;
  return true;
}

/** Parses the 512-byte header; `X` fields are kept as `X`. */
export function parseContainerHeader(bytes: Uint8Array, path: string): ContainerHeader {
  if (bytes.length < 512) {
    throw new ClamavError(
      "CVD_BAD_HEADER",
      `a database container is at least 512 bytes; this one has ${bytes.length}`,
      { path },
    );
  }
  const head = bytes.subarray(0, 512);
  if (!printableHeader(head)) {
    throw new ClamavError(
      "CVD_BAD_HEADER",
      "the 512-byte header holds non-printable bytes: not a ClamAV database, or damaged",
      { path },
    );
  }
  return parseHeaderLine(Buffer.from(head).toString("latin1").trimEnd(), path);
}

function parseHeaderLine(line: string, path: string): ContainerHeader {
  const f = line.split(":");
  const num = (s: string | undefined) => (s !== undefined && /^\d{1,15}$/.test(s) ? Number(s) : undefined);
  const version = num(f[2]);
  const signatures = num(f[3]);
  const flevel = num(f[4]);
  if (
    f[0] !== "ClamAV-VDB" ||
    f.length < 8 ||
    version === undefined ||
    signatures === undefined ||
    flevel === undefined
  ) {
    throw new ClamavError(
      "CVD_BAD_HEADER",
      `the header is not 'ClamAV-VDB:time:version:sigs:flevel:md5:dsig:builder[:stime]': '${line.slice(0, 80)}'`,
      { path },
    );
  }
  return {
    buildTime: f[1]!,
    version,
    signatures,
    flevel,
    md5: f[5]!,
    dsig: f[6]!,
    builder: f[7]!,
    stime: num(f[8]),
  };
}

/** Gunzips one gzip member, ignoring trailing bytes as ClamAV does. */
export function gunzipMember(bytes: Uint8Array, path: string, maxOutputLength: number): Uint8Array {
  if (bytes.length < 18 || bytes[0] !== 0x1f || bytes[1] !== 0x8b || bytes[2] !== 8) {
    throw new ClamavError("CVD_BAD_ARCHIVE", "the body is neither a tar starting with COPYING nor gzip data", { path });
  }
  const flags = bytes[3]!;
  let pos = 10;
  const need = (n: number) => {
    if (pos + n > bytes.length) throw new ClamavError("CVD_BAD_ARCHIVE", "the gzip header is truncated", { path });
  };
  if (flags & 4) {
    need(2);
    pos += 2 + (bytes[pos]! | (bytes[pos + 1]! << 8));
  }
  for (const bit of [8, 16]) {
    if (flags & bit) {
      const end = bytes.indexOf(0, pos);
      if (end < 0) throw new ClamavError("CVD_BAD_ARCHIVE", "the gzip header is truncated", { path });
      pos = end + 1;
    }
  }
  if (flags & 2) pos += 2;
  need(0);
  // The trailer's ISIZE (the unpacked length mod 2^32) sizes the output: one buffer filled in
  // place. zlib's default 16 KiB pieces, joined at the end, took twice the time and held the
  // body twice at the peak (hundreds of MB for a main.cvd). Only a hint: a wrong or forged ISIZE
  // costs more pieces, never a wrong result, and maxOutputLength still bounds the output.
  const isize =
    (bytes[bytes.length - 4]! |
      (bytes[bytes.length - 3]! << 8) |
      (bytes[bytes.length - 2]! << 16) |
      (bytes[bytes.length - 1]! << 24)) >>>
    0;
  // deflate expands at most about 1032 times: a forged ISIZE does not reserve more than that
  const plausible = (bytes.length - pos) * 1032 + (1 << 16);
  const chunkSize = Math.max(1 << 16, Math.min(isize + 1, plausible, maxOutputLength + 1, 1 << 30));
  try {
    return inflateRawSync(bytes.subarray(pos), { maxOutputLength, chunkSize });
  } catch (err) {
    const reason =
      (err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE"
        ? `unpacks to more than ${maxOutputLength} bytes`
        : (err as Error).message;
    throw new ClamavError("CVD_BAD_ARCHIVE", `the gzip body cannot be read: ${reason}`, { path, cause: err });
  }
}

export function containerKindOf(path: string): ContainerKind | undefined {
  const m = /\.(cvd|cld|cud)$/i.exec(path);
  return m ? (m[1]!.toLowerCase() as ContainerKind) : undefined;
}

function databaseNameOf(path: string): string {
  const base = path.slice(path.lastIndexOf("/") + 1);
  return base.replace(/\.(cvd|cld|cud)$/i, "");
}

const HEX64 = /^[0-9a-f]{64}$/i;

interface ParsedInfo {
  readonly header: ContainerHeader;
  readonly entries: Map<string, InfoEntry>;
  readonly dsig: string | undefined;
  /** the bytes the DSIG signs: every line before the DSIG line, newlines included */
  readonly signed: Uint8Array;
}

export function parseInfo(bytes: Uint8Array, path: string): ParsedInfo {
  const text = Buffer.from(bytes).toString("latin1");
  const lines = text.split("\n");
  const entries = new Map<string, InfoEntry>();
  let dsig: string | undefined;
  let signedEnd = bytes.length;
  let offset = 0;
  let header: ContainerHeader | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, "");
    const lineStart = offset;
    offset += lines[i]!.length + 1;
    if (i === 0) {
      header = parseHeaderLine(line, `${path} (.info line 1)`);
      continue;
    }
    if (line === "") continue;
    if (line.startsWith("DSIG:")) {
      dsig = line.slice(5);
      signedEnd = lineStart;
      break;
    }
    const parts = line.split(":");
    const size = parts[1] !== undefined && /^\d{1,12}$/.test(parts[1]) ? Number(parts[1]) : undefined;
    if (parts.length !== 3 || size === undefined || !HEX64.test(parts[2]!)) {
      throw new ClamavError("CVD_BAD_INFO", `.info line ${i + 1} is not 'name:size:sha256'`, { path });
    }
    entries.set(parts[0]!, { size, sha256: parts[2]!.toLowerCase() });
  }
  if (!header) throw new ClamavError("CVD_BAD_INFO", "the .info manifest is empty", { path });
  return { header, entries, dsig, signed: bytes.subarray(0, signedEnd) };
}

/** Opens and verifies a container held in memory. Throws a ClamavError naming what failed. */
export function openContainer(bytes: Uint8Array, options: OpenOptions): OpenedContainer {
  const { path } = options;
  const kind = options.kind ?? containerKindOf(path) ?? "cvd";
  const keys = options.keys ?? CLAMAV_KEYS;
  const header = parseContainerHeader(bytes, path);
  const body = bytes.subarray(512);
  if (kind === "cvd") {
    const md5 = createHash("md5").update(body).digest();
    if (md5.toString("hex") !== header.md5.toLowerCase()) {
      throw new ClamavError(
        "CVD_BAD_MD5",
        `the body's MD5 is ${md5.toString("hex")}, the header says ${header.md5}: the file is damaged or altered; download it again`,
        { path },
      );
    }
    if (!verifyRawMd5(header.dsig, md5, keys.cvd)) {
      throw new ClamavError(
        "CVD_BAD_SIGNATURE",
        "the header's digital signature does not verify with ClamAV's key: refused",
        { path },
      );
    }
  }
  const startsWithCopying = Buffer.from(body.subarray(0, 7)).toString("latin1") === "COPYING";
  const tar = startsWithCopying ? body : gunzipMember(body, path, options.maxUnpackedBytes ?? 2 ** 31 - 1);
  const files = readContainerTar(tar, path);
  const name = databaseNameOf(path);
  const infoFile = files.find((f) => f.name.endsWith(".info"));
  const info = new Map<string, InfoEntry>();
  if (!infoFile) {
    if (kind !== "cud") throw new ClamavError("CVD_BAD_INFO", "the container has no .info manifest", { path });
  } else {
    const parsed = parseInfo(infoFile.bytes, path);
    if (parsed.dsig === undefined) {
      if (kind !== "cud") throw new ClamavError("CVD_BAD_INFO", "the .info manifest has no DSIG line", { path });
    } else if (!verifyPss(parsed.dsig, parsed.signed, keys.info)) {
      throw new ClamavError(
        "CVD_BAD_SIGNATURE",
        "the .info manifest's DSIG does not verify with ClamAV's key: refused",
        { path },
      );
    }
    const h = parsed.header;
    if (
      h.version !== header.version ||
      h.signatures !== header.signatures ||
      h.flevel !== header.flevel ||
      h.stime !== header.stime
    ) {
      throw new ClamavError(
        "CVD_BAD_INFO",
        `the .info header (version ${h.version}, ${h.signatures} signatures) disagrees with the container's (version ${header.version}, ${header.signatures} signatures)`,
        { path },
      );
    }
    for (const [k, v] of parsed.entries) info.set(k, v);
  }
  const databases = files.filter((f) => f !== infoFile && f.name !== "COPYING");
  if (infoFile) {
    for (const f of databases) {
      const entry = info.get(f.name);
      if (!entry) throw new ClamavError("CVD_BAD_INFO", `${f.name} is not listed in the .info manifest`, { path });
      const sha = createHash("sha256").update(f.bytes).digest("hex");
      if (entry.size !== f.bytes.length || entry.sha256 !== sha) {
        throw new ClamavError(
          "CVD_BAD_INFO",
          `${f.name} does not match the .info manifest (size ${f.bytes.length}, expected ${entry.size}; or its sha256 differs)`,
          { path },
        );
      }
    }
  }
  const warnings: string[] = [];
  if (header.stime !== undefined) {
    const now = (options.now ?? new Date()).getTime() / 1000;
    const days = (now - header.stime) / 86400;
    if (name === "daily" && days > 7) {
      warnings.push(`${path}: this database is ${Math.floor(days)} days old (version ${header.version}); update it`);
    }
    if (header.stime - now > 3600) warnings.push(`${path}: the build time is in the future: check the system clock`);
  }
  if (options.flevel !== undefined && header.flevel > options.flevel) {
    warnings.push(
      `${path}: the database wants functionality level ${header.flevel}, this engine has ${options.flevel}: signatures it cannot read are skipped`,
    );
  }
  return { path, kind, name, header, files, databases, info, warnings };
}

/**
 * Builds a `.cld` from unpacked files as freshclam does: the header is line 1 of the `.info`
 * padded to 512 bytes, the body a plain tar of COPYING, the .info, then the other files.
 */
export function buildCld(files: readonly ContainerFile[], path = "database.cld"): Uint8Array {
  const infoFile = files.find((f) => f.name.endsWith(".info"));
  if (!infoFile) throw new ClamavError("CVD_BAD_INFO", "no .info file to take the header from", { path });
  const firstLine = Buffer.from(infoFile.bytes).toString("latin1").split("\n")[0]!;
  parseHeaderLine(firstLine, path);
  const header = Buffer.alloc(512, 0x20);
  header.write(firstLine.slice(0, 512), "latin1");
  const ordered = [
    ...files.filter((f) => f.name === "COPYING"),
    infoFile,
    ...files.filter((f) => f.name !== "COPYING" && f !== infoFile),
  ];
  return Buffer.concat([header, writeContainerTar(ordered)]);
}
