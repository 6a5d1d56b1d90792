/** Reading hash-signature files from disk in chunks into a builder. */

import { openSync, readSync, closeSync, fstatSync } from "node:fs";
import { SignatureDbError } from "./error.js";
import { HashTextParser, type HashParseOptions, type HashParseStats, type HashTextFormat } from "./parse.js";
import type { HashStoreBuilder } from "./store.js";

const CHUNK = 16 << 20;

/** Streams a file through a `HashTextParser` (16 MiB at a time). */
export function loadHashFile(builder: HashStoreBuilder, path: string, format: HashTextFormat, options: HashParseOptions = {}): HashParseStats {
  let fd: number;
  let bytes: number;
  try {
    fd = openSync(path, "r");
    bytes = fstatSync(fd).size;
  } catch (cause) {
    throw new SignatureDbError("SIGDB_READ", `cannot open: ${(cause as Error).message}`, { path, cause });
  }
  const parser = new HashTextParser(builder, format, { expectedBytes: bytes, ...options, path: options.path ?? path });
  try {
    const buf = new Uint8Array(CHUNK);
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, CHUNK, null);
      } catch (cause) {
        throw new SignatureDbError("SIGDB_READ", `read failed: ${(cause as Error).message}`, { path, cause });
      }
      if (n === 0) break;
      parser.push(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return parser.end();
}

/** The hash format of a file extension: hdb/hsb (and PUA hdu/hsu), mdb/msb (mdu/msu), fp/sfp, and hash lists (.txt, .md5, .sha1, .sha256, .hashes, .lst). */
export function hashFormatForPath(path: string): HashTextFormat | "section" | undefined {
  const ext = path.slice(path.lastIndexOf(".") + 1).toLowerCase();
  switch (ext) {
    case "hdb":
    case "hsb":
    case "hdu":
    case "hsu":
      return "hdb";
    case "mdb":
    case "msb":
    case "mdu":
    case "msu":
      return "section";
    case "fp":
    case "sfp":
      return "fp";
    case "txt":
    case "md5":
    case "sha1":
    case "sha256":
    case "hashes":
    case "lst":
      return "list";
    default:
      return undefined;
  }
}
