/**
 * Report writers: text (clamscan's `path: Name FOUND` lines), json (one document), ndjson
 * (one object per file, then a summary object) and SARIF 2.1.0 (GitHub code scanning:
 * ruleId, file location with byte offsets and startLine 1, partial fingerprints). Each
 * writer takes results as they come and returns the text to append to the output at once, so a
 * report is streamed and never held whole: json and SARIF write their document's opening with
 * the first result and the parts known only at the end (summary, SARIF rules) after the last.
 */
import { createHash } from "node:crypto";
import { pathToFileURL } from "node:url";
import type { Detection, FileResult } from "../types.js";
import type { ScanStats } from "./summary.js";
import { hasRawBytes, jsonRawBytes, pathToBytes, printable } from "../bytepath.js";

export { printable };

export type ReportFormat = "text" | "json" | "ndjson" | "sarif";

export interface ReportInfo {
  toolVersion: string;
  rulesVersion: string;
  signatures: number;
}

export interface TextOptions {
  /** Print `path: OK` for clean files too. */
  all?: boolean;
  /** Print only infected files (no errors, no warnings). */
  infectedOnly?: boolean;
}

export interface ReportWriter {
  file(r: FileResult): string;
  skipped?(path: string, reason: string): string;
  end(stats: ScanStats): string;
}

function stripPath(message: string, path: string): string {
  return message.startsWith(`${path}: `) ? message.slice(path.length + 2) : message;
}

const SKIP_TEXT: Record<string, string> = {
  symlink: "Symbolic link",
  special: "Special file",
  excluded: "Excluded",
  "other-filesystem": "Other file system",
  "max-depth": "Max depth",
};

export function textWriter(opts: TextOptions = {}): ReportWriter {
  return {
    file(r) {
      const out: string[] = [];
      for (const d of r.detections) out.push(`${printable(d.path)}: ${d.name} FOUND`);
      if (!opts.infectedOnly) {
        for (const e of r.errors) out.push(`${printable(e.path)}: ${printable(stripPath(e.message, e.path))} ERROR`);
        for (const i of r.incomplete)
          out.push(`${printable(i.path)}: Not fully scanned (${i.reason}): ${printable(i.message)} WARNING`);
        if (opts.all && !r.detections.length && !r.errors.length && !r.incomplete.length)
          out.push(`${printable(r.path)}: OK`);
      }
      return out.length ? out.join("\n") + "\n" : "";
    },
    skipped(path, reason) {
      return opts.all && !opts.infectedOnly ? `${printable(path)}: ${SKIP_TEXT[reason] ?? reason}\n` : "";
    },
    end() {
      return "";
    },
  };
}

/**
 * A file's JSON object. Strings are valid Unicode: a byte of a name that is not valid UTF-8 is
 * written as the text `\xNN` (jsonRawBytes), and such a file also gets `pathBase64`, its name's
 * exact bytes in base64 (absent for names that are valid UTF-8, whose `path` is exact).
 */
function fileJson(r: FileResult): Record<string, unknown> {
  return {
    path: r.path,
    ...(hasRawBytes(r.path) ? { pathBase64: pathToBytes(r.path).toString("base64") } : {}),
    size: r.size,
    status: r.detections.length ? "infected" : r.errors.length ? "error" : r.incomplete.length ? "incomplete" : "clean",
    detections: r.detections,
    incomplete: r.incomplete,
    errors: r.errors,
    scannedBytes: r.scannedBytes,
    ...(r.cached ? { cached: true } : {}),
  };
}

export function ndjsonWriter(info: ReportInfo, opts: TextOptions = {}): ReportWriter {
  return {
    file(r) {
      if (opts.infectedOnly && !r.detections.length) return "";
      if (!opts.all && !r.detections.length && !r.errors.length && !r.incomplete.length) return "";
      return jsonRawBytes(JSON.stringify({ type: "file", ...fileJson(r) })) + "\n";
    },
    end(stats) {
      return (
        JSON.stringify({
          type: "summary",
          tool: "vigil",
          version: info.toolVersion,
          rulesVersion: info.rulesVersion,
          signatures: info.signatures,
          ...stats.toJSON(),
        }) + "\n"
      );
    },
  };
}

/**
 * A JSON document whose one long array is written in pieces, byte for byte as JSON.stringify(doc,
 * null, 2) lays it out: `opening` is the text up to the array's `[`, the array's items sit at
 * `depth` levels; `item()` per element, then `close(tail, ending)` with the keys that follow the
 * array in its object and the text that closes the enclosing ones.
 */
class JsonArrayDocument {
  private state: "new" | "open" | "items" = "new";
  constructor(
    private readonly opening: string,
    private readonly depth: number,
  ) {}

  /** The document up to the array's opening bracket (once; "" after). */
  open(): string {
    if (this.state !== "new") return "";
    this.state = "open";
    return this.opening;
  }

  item(value: unknown): string {
    const out =
      this.open() +
      (this.state === "items" ? "," : "") +
      `\n${pad(this.depth)}${indent(jsonRawBytes(JSON.stringify(value, null, 2)), this.depth)}`;
    this.state = "items";
    return out;
  }

  close(tail: Record<string, unknown>, ending: string): string {
    let out = this.open() + (this.state === "items" ? `\n${pad(this.depth - 1)}]` : "]");
    for (const [k, v] of Object.entries(tail))
      out += `,\n${pad(this.depth - 1)}${JSON.stringify(k)}: ${indent(jsonRawBytes(JSON.stringify(v, null, 2)), this.depth - 1)}`;
    return out + ending;
  }
}

const pad = (depth: number) => "  ".repeat(depth);
/** Re-indents a JSON.stringify(v, null, 2) text to sit at `depth` (JSON strings hold no raw newlines). */
const indent = (json: string, depth: number) => json.replace(/\n/g, "\n" + pad(depth));

export function jsonWriter(info: ReportInfo, opts: TextOptions = {}): ReportWriter {
  const head = JSON.stringify(
    {
      version: 1,
      tool: { name: "vigil", version: info.toolVersion },
      rules: { version: info.rulesVersion, signatures: info.signatures },
    },
    null,
    2,
  );
  const doc = new JsonArrayDocument(head.slice(0, -2) + ',\n  "files": [', 2);
  return {
    file(r) {
      if (opts.infectedOnly && !r.detections.length) return "";
      if (!opts.all && !r.detections.length && !r.errors.length && !r.incomplete.length) return "";
      return doc.item(fileJson(r));
    },
    end(stats) {
      return doc.close({ summary: stats.toJSON() }, "\n}\n");
    },
  };
}

/** SARIF artifact URI: relative paths stay relative (to %SRCROOT%), absolute ones become file: URIs. */
function artifact(path: string): Record<string, unknown> {
  if (path === "stdin") return { uri: "stdin" };
  if (hasRawBytes(path)) {
    // a name that is not UTF-8: its exact bytes, percent-encoded
    let uri = "";
    for (const b of pathToBytes(path))
      uri += /[A-Za-z0-9._~/-]/.test(String.fromCharCode(b))
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
    return path.startsWith("/")
      ? { uri: `file://${uri}` }
      : { uri: uri.replace(/^(\.\/)+/, ""), uriBaseId: "%SRCROOT%" };
  }
  if (path.startsWith("/")) return { uri: pathToFileURL(path).href };
  return {
    uri: path
      .split("/")
      .map(encodeURIComponent)
      .join("/")
      .replace(/^(\.\/)+/, ""),
    uriBaseId: "%SRCROOT%",
  };
}

export function sarifWriter(info: ReportInfo): ReportWriter {
  const rules = new Map<string, number>();
  const ruleList: Record<string, unknown>[] = [];
  // the run's results stream; the rules (known once every result is) and the invocation follow them
  const doc = new JsonArrayDocument(
    `{\n  "$schema": "https://json.schemastore.org/sarif-2.1.0.json",\n  "version": "2.1.0",\n  "runs": [\n    {\n      "results": [`,
    4,
  );
  const notifications: Record<string, unknown>[] = [];
  const addResult = (r: FileResult, d: Detection): string => {
    let idx = rules.get(d.name);
    if (idx === undefined) {
      idx = ruleList.length;
      rules.set(d.name, idx);
      ruleList.push({
        id: d.name,
        name: d.rule.replace(/[^A-Za-z0-9_]/g, "_"),
        shortDescription: { text: `Malware signature ${d.name}` },
        fullDescription: {
          text: `Detection by rule ${d.namespace}:${d.rule}${d.tags.length ? ` (tags: ${d.tags.join(", ")})` : ""}.`,
        },
        defaultConfiguration: { level: "error" },
        properties: { tags: ["security", "malware", ...d.tags], "security-severity": "9.0" },
      });
    }
    const inner = d.path !== r.path;
    const first = d.strings[0];
    const region: Record<string, unknown> = { startLine: 1 };
    if (!inner && first) {
      region.byteOffset = first.offset;
      region.byteLength = first.length;
    }
    const fp = createHash("sha256").update(`${d.name}\0`).update(pathToBytes(d.path)).digest("hex").slice(0, 32);
    return doc.item({
      ruleId: d.name,
      ruleIndex: idx,
      level: "error",
      message: { text: inner ? `${d.name} found in archive member ${d.path}` : `${d.name} found in ${d.path}` },
      locations: [{ physicalLocation: { artifactLocation: artifact(r.path), region } }],
      ...(inner ? { properties: { archiveMember: d.path } } : {}),
      partialFingerprints: { "vigilDetection/v1": fp },
      ...(d.strings.length > 1 && !inner
        ? {
            relatedLocations: d.strings.slice(1, 20).map((s, i) => ({
              id: i + 1,
              message: { text: s.identifier },
              physicalLocation: {
                artifactLocation: artifact(r.path),
                region: { startLine: 1, byteOffset: s.offset, byteLength: s.length },
              },
            })),
          }
        : {}),
    });
  };
  return {
    file(r) {
      let out = "";
      for (const d of r.detections) out += addResult(r, d);
      // at most 1000 notifications are reported: keep no more than that
      for (const e of r.errors)
        if (notifications.length < 1000)
          notifications.push({ level: "error", message: { text: e.message }, descriptor: { id: e.code } });
      for (const i of r.incomplete)
        if (notifications.length < 1000)
          notifications.push({
            level: "warning",
            message: { text: `${i.path}: not fully scanned (${i.reason}): ${i.message}` },
            descriptor: { id: i.reason },
          });
      return out;
    },
    end(stats) {
      return doc.close(
        {
          tool: {
            driver: { name: "vigil", semanticVersion: info.toolVersion, version: info.toolVersion, rules: ruleList },
          },
          invocations: [
            {
              executionSuccessful: stats.errors === 0 && !stats.interrupted,
              toolExecutionNotifications: notifications,
            },
          ],
          properties: { rulesVersion: info.rulesVersion, signatures: info.signatures },
        },
        "\n    }\n  ]\n}\n",
      );
    },
  };
}

export function reportWriter(format: ReportFormat, info: ReportInfo, opts: TextOptions = {}): ReportWriter {
  switch (format) {
    case "text":
      return textWriter(opts);
    case "json":
      return jsonWriter(info, opts);
    case "ndjson":
      return ndjsonWriter(info, opts);
    case "sarif":
      return sarifWriter(info);
  }
}
