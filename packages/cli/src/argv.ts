/**
 * The command line as the user typed it. Node decodes argv as UTF-8 and turns bytes that are not
 * valid UTF-8 into U+FFFD, which loses a file name such as `inv\xffalid.exe`. When an argument
 * holds U+FFFD, the arguments are read again from /proc/self/cmdline (Linux) as bytes and kept
 * losslessly as @vigil/scanner path strings (fsPath() gives the bytes back).
 */
import { readFileSync } from "node:fs";
import { pathFromBytes, pathToBytes } from "@vigil/scanner/paths";

export function commandLine(argv: string[] = process.argv): string[] {
  const args = argv.slice(2);
  if (!args.some((a) => a.includes("\uFFFD"))) return args;
  let raw: Buffer;
  try {
    raw = readFileSync("/proc/self/cmdline");
  } catch {
    return args;
  } // not Linux: as Node decoded them
  const parts: Buffer[] = [];
  for (let start = 0; start < raw.length; ) {
    let end = raw.indexOf(0, start);
    if (end < 0) end = raw.length;
    parts.push(raw.subarray(start, end));
    start = end + 1;
  }
  if (parts.length < args.length) return args;
  const decoded = parts.slice(parts.length - args.length).map((b) => pathFromBytes(b));
  // the same arguments (as Node decoded them), or something changed them: keep Node's
  return decoded.every((d, i) => pathToBytes(d).toString("utf8") === args[i]) ? decoded : args;
}
