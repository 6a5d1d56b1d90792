/** What every archive reader yields, and the error that stops one when a limit is hit. */
import type { MailKind } from "./mail/index.js";

import type { SevenZipKind } from "./sevenzip/sniff.js";

export type ArchiveKind =
  | "zip"
  | "gzip"
  | "bzip2"
  | "xz"
  | "tar"
  | "ole2"
  | "pdf"
  | "rtf"
  | "exe"
  | "autoit"
  | "ishield-msi"
  | MailKind
  | SevenZipKind
  | "cpio"
  | "szdd"
  | "sis";

export interface Member {
  /** Name inside the archive (control characters escaped). */
  name: string;
  /**
   * Decoded bytes, absent when nothing could be decoded. With a `problem` (a damaged
   * container), the bytes that decoded before the damage: what an extraction tool writes out.
   */
  data?: Uint8Array;
  /** Size the member had inside the archive (compressed). */
  compressedSize: number;
  encrypted?: boolean;
  /** Why the member could not be decoded, or not all of it (corrupt, unsupported method). */
  problem?: {
    reason: "corrupt-archive" | "unsupported" | "encrypted" | "over-limit" | "max-scantime";
    message: string;
  };
  /** With reason "over-limit": the output cap that decoding would have exceeded. */
  limit?: number;
  /** A mail part: what its headers say (ClamAV's phishing check decides on it). */
  mail?: MailPart;
}

/** What a mail part's headers say, values lowercase ("" when absent). */
export interface MailPart {
  type: string;
  disposition: string;
  encoding: string;
  /** the message's only body, not a part of a multipart */
  single: boolean;
  /**
   * A message/rfc822 part ClamAV does not open (7bit, 8bit, binary or no encoding, and no
   * Content-Transfer-Encoding line other than 7bit inside): its parts get no mail checks.
   */
  closed?: boolean;
}

/** Thrown by decoders when output would pass the cap. */
export class OutputLimit extends Error {
  constructor(readonly limit: number) {
    super(`decoded output exceeds ${limit} bytes`);
  }
}

export function overLimit(name: string, compressedSize: number, limit: number): Member {
  return {
    name,
    compressedSize,
    limit,
    problem: { reason: "over-limit", message: `decoded output exceeds ${limit} bytes` },
  };
}

/** Sizing callback: given a member's compressed size, how many output bytes may it produce. */
export type OutputCap = (compressedSize: number) => number;

/** Escapes control characters so a hostile member name cannot forge report lines. */
export function cleanName(name: string): string {
  // eslint-disable-next-line no-control-regex
  return name.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}
