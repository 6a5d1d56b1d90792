/**
 * Scanning one file's bytes: the detector looks at the bytes, then, if they are an archive,
 * at each member, recursively, within the limits. Everything lands in one FileResult.
 */
import { readArchive, readsWhole, sniffArchive, type ArchiveKind } from "./archive/index.js";
import { recognise } from "./archive/recognise.js";
import type { MailPart } from "./archive/types.js";
import type {
  Detection,
  Detector,
  FileResult,
  Incomplete,
  IncompleteReason,
  Limits,
  MemberInfo,
  RuleMatch,
} from "./types.js";
import { matchesBeforeTimeout } from "./error.js";

const MAIL_KINDS: ReadonlySet<ArchiveKind> = new Set(["mail", "tnef", "uuencoded", "binhex", "html"]);

export interface ContentOptions {
  limits: Limits;
  /** Report limit overruns as detections named Heuristics.Limits.Exceeded.* (like clamscan). */
  alertExceedsMax?: boolean;
  /** Report archive bombs as detections (default true). */
  alertBombs?: boolean;
  /**
   * Every detection (default true, clamscan's --allmatch); false keeps only the first, in the
   * order the detector returns them (clamscan's for ClamAV signatures), and stops the file there.
   */
  allMatch?: boolean;
}

export const BOMB_NAME = "Vigil.Heuristic.ArchiveBomb";

const LIMIT_NAMES: Partial<Record<IncompleteReason, string>> = {
  "max-filesize": "Heuristics.Limits.Exceeded.MaxFileSize",
  "max-scansize": "Heuristics.Limits.Exceeded.MaxScanSize",
  "max-files": "Heuristics.Limits.Exceeded.MaxFiles",
  "max-recursion": "Heuristics.Limits.Exceeded.MaxRecursion",
  "max-scantime": "Heuristics.Limits.Exceeded.MaxScanTime",
};

function metaString(m: RuleMatch, key: string): string | undefined {
  const v = m.meta?.[key];
  return typeof v === "string" && v ? v : undefined;
}

export function toDetection(m: RuleMatch, path: string): Detection {
  const strings = [];
  for (const s of m.strings ?? [])
    for (const x of s.matches) strings.push({ identifier: s.identifier, offset: x.offset, length: x.length });
  const clamavName = metaString(m, "clamav_name");
  const severity = metaString(m, "severity")?.toLowerCase();
  return {
    name: clamavName ?? m.rule,
    rule: m.rule,
    namespace: m.namespace ?? "default",
    tags: m.tags ?? [],
    path,
    strings,
    ...(severity ? { severity } : {}),
    ...(clamavName ? { clamavName } : {}),
  };
}

/** Adds a "not fully scanned" entry, and the matching detection when asked to. */
export function addIncomplete(
  result: FileResult,
  inc: Incomplete,
  opts: Pick<ContentOptions, "alertExceedsMax" | "alertBombs">,
): void {
  result.incomplete.push(inc);
  const name =
    inc.reason === "max-ratio"
      ? opts.alertBombs !== false
        ? BOMB_NAME
        : undefined
      : opts.alertExceedsMax
        ? LIMIT_NAMES[inc.reason]
        : undefined;
  if (name)
    result.detections.push({ name, rule: name, namespace: "vigil", tags: ["heuristic"], path: inc.path, strings: [] });
}

export function emptyResult(path: string, size: number): FileResult {
  return { path, size, scannedBytes: 0, detections: [], incomplete: [], errors: [] };
}

/** Scans `bytes` (a whole top-level file) into `result`. */
export function scanContent(detector: Detector, bytes: Uint8Array, result: FileResult, opts: ContentOptions): void {
  const { limits } = opts;
  const allMatch = opts.allMatch !== false;
  // ClamAV heuristics a detector marks (meta clamav_heuristic: the phishing check) are reported
  // after everything else, and without allmatch only when nothing else is found (clamscan's
  // default, HeuristicScanPrecedence no); the first of each buffer only, as libclamav
  const deferred: Detection[] = [];
  // `closed`: inside a mail part ClamAV does not open (MailPart.closed), whose parts get no mail checks
  const visit = (
    b: Uint8Array,
    path: string,
    depth: number,
    container?: ArchiveKind,
    mail?: MailPart,
    closed = false,
    parent?: string,
  ): boolean => {
    // returns false when the whole scan must stop (scan budget exhausted)
    if (result.scannedBytes + b.length > limits.maxScanSize) {
      addIncomplete(
        result,
        { reason: "max-scansize", path, message: `scan budget of ${limits.maxScanSize} bytes per file used up` },
        opts,
      );
      return false;
    }
    result.scannedBytes += b.length;
    let matches: RuleMatch[];
    try {
      matches = detector.scan(
        b,
        container ? { path, size: b.length, container, ...(mail ? { mail } : {}) } : { path, size: b.length },
      );
    } catch (err) {
      if ((err as { code?: string })?.code === "SCAN_TIMEOUT") {
        // what the detector found before the limit is kept: a detection wins over "not fully scanned"
        for (const m of matchesBeforeTimeout(err)) result.detections.push(toDetection(m, path));
        addIncomplete(
          result,
          {
            reason: "max-scantime",
            path,
            message: "scanning took longer than the time limit (--max-scantime); stopped",
          },
          opts,
        );
        return allMatch || result.detections.length === 0;
      }
      result.errors.push({
        code: "DETECTOR_FAILED",
        path,
        message: `${path}: the detector failed: ${(err as Error)?.message ?? String(err)}`,
      });
      return true;
    }
    let heuristicSeen = false;
    for (const m of matches) {
      if (m.meta?.clamav_heuristic === undefined) result.detections.push(toDetection(m, path));
      else if (!heuristicSeen) {
        heuristicSeen = true;
        // found by checking the message's part, reported (like libclamav) against the message
        deferred.push(toDetection(m, parent ?? path));
      }
    }
    if (!allMatch && result.detections.length > 0) {
      result.detections.length = 1;
      return false;
    }
    // a family this version recognises but cannot open is never reported OK
    const unopened = () => {
      const r = recognise(b);
      // a mail reader already decoded the uuencoded, yEnc and BinHex blocks of the text parts
      // it yields (archive/mail/text.ts): such a part holding one is read, not unsupported
      const decodedByParent =
        container !== undefined && MAIL_KINDS.has(container) && r !== undefined && /^(BinHex|uuencoded)/.test(r.format);
      if (r && !decodedByParent) addIncomplete(result, { reason: "unsupported", path, message: r.message }, opts);
      return true;
    };
    // a trusted signed file is clean as a whole: what it embeds is not looked at (as clamscan)
    if (matches.length === 0 && detector.trusts?.(b)) return true;
    const kind = sniffArchive(b);
    if (!kind) return unopened();
    if (depth >= limits.maxRecursion) {
      addIncomplete(
        result,
        {
          reason: "max-recursion",
          path,
          message: `archive nested deeper than ${limits.maxRecursion} levels not opened`,
        },
        opts,
      );
      return true;
    }
    let count = 0;
    let position = 0;
    const cap = (compressed: number) =>
      Math.min(limits.maxScanSize - result.scannedBytes, Math.max(limits.ratioFloor, compressed * limits.maxRatio)) + 1;
    for (const member of readArchive(kind, b, path, cap)) {
      const inner = member.name ? `${path}!${member.name}` : path;
      position++;
      if (detector.scanMember) {
        // what the archive says about the member (ClamAV .cdb), before and whether or not it decodes
        const info: MemberInfo = {
          path: inner,
          container: kind,
          containerSize: b.length,
          name: member.name,
          compressedSize: member.compressedSize,
          encrypted: !!member.encrypted || member.problem?.reason === "encrypted",
          position,
          ...(member.data ? { size: member.data.length } : {}),
        };
        for (const m of detector.scanMember(info)) result.detections.push(toDetection(m, inner));
        if (!allMatch && result.detections.length > 0) {
          result.detections.length = 1;
          return false;
        }
      }
      if (member.problem) {
        const p = member.problem;
        if (p.reason === "over-limit") {
          const remaining = limits.maxScanSize - result.scannedBytes;
          if ((member.limit ?? 0) > remaining) {
            addIncomplete(
              result,
              {
                reason: "max-scansize",
                path: inner,
                message: `scan budget of ${limits.maxScanSize} bytes per file used up`,
              },
              opts,
            );
            return false;
          }
          addIncomplete(
            result,
            {
              reason: "max-ratio",
              path: inner,
              message: `archive bomb: ${member.compressedSize} bytes expand past ${(member.limit ?? 1) - 1} bytes (ratio limit ${limits.maxRatio}); decoding stopped`,
            },
            opts,
          );
          continue;
        }
        addIncomplete(result, { reason: p.reason, path: inner, message: p.message }, opts);
        // a damaged container still gives the bytes before the damage (what extraction tools
        // write out): they are scanned, and a detection in them is reported as one
        if (!member.data) continue;
      }
      if (++count > limits.maxFiles) {
        addIncomplete(
          result,
          {
            reason: "max-files",
            path,
            message: `archive has more than ${limits.maxFiles} members; the rest were not scanned`,
          },
          opts,
        );
        return true;
      }
      const shut = closed || !!mail?.closed;
      if (!visit(member.data!, inner, depth + 1, kind, shut ? undefined : member.mail, shut, path)) return false;
    }
    // a reader that found nothing to open (an executable packed with a packer it does not know),
    // unless it read the whole file and found nothing embedded (a plain RTF or PDF): fully scanned
    return position > 0 || readsWhole(kind) || unopened();
  };
  visit(bytes, result.path, 0);
  if (allMatch) result.detections.push(...deferred);
  else if (result.detections.length === 0 && deferred.length) result.detections.push(deferred[0]!);
}
