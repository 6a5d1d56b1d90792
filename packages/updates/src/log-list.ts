/**
 * The log lists a public witness network publishes for its witnesses (witness-network.org's
 * "logs/v0" format): a `logs/v0` header line, then for each log `vkey <vkey>`, optionally
 * `origin <origin>` (default: the vkey's key name, as C2SP tlog-checkpoint recommends),
 * `qpd <add-checkpoint requests per day>` and `contact <text>`. Blank lines and `#` comments are
 * ignored and every line is trimmed. Lines of other keywords are ignored, as deployed witnesses
 * (litewitness) do, so that a later revision of the format still loads. A witness reads the list
 * into `WitnessLogConfig`s and cosigns those logs without auditing them (they carry no Vigil
 * bundles).
 */
import { parseVerifierKey } from "@vigil/tlog";
import { UpdateError } from "./error.js";
import type { WitnessLogConfig } from "./witness.js";

export interface LogListEntry {
  /** the checkpoint origin: the `origin` line, or the vkey's key name */
  readonly origin: string;
  readonly vkey: string;
  /** add-checkpoint requests the log may make per day, when given */
  readonly qpd?: number;
  readonly contact?: string;
}

const MAX_LOGS = 100_000;

function bad(line: number, message: string): UpdateError {
  return new UpdateError("BAD_POLICY", `log list line ${line}: ${message}`);
}

/** Parses a "logs/v0" log list; throws BAD_POLICY with the line number on any violation. */
export function parseLogList(text: string): LogListEntry[] {
  if (typeof text !== "string") throw new UpdateError("BAD_POLICY", "log list: expected the file's text");
  const out: Array<{ origin?: string; vkey: string; name: string; qpd?: number; contact?: string; line: number }> = [];
  let header = false;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(line)) throw bad(n, "a control character");
    if (!header) {
      if (line !== "logs/v0")
        throw bad(n, `the list must start with "logs/v0" (got ${JSON.stringify(line.slice(0, 60))})`);
      header = true;
      continue;
    }
    const sp = line.search(/[ \t]/);
    const keyword = sp < 0 ? line : line.slice(0, sp);
    const value = sp < 0 ? "" : line.slice(sp + 1).trim();
    const cur = out[out.length - 1];
    switch (keyword) {
      case "vkey": {
        let name: string;
        try {
          name = parseVerifierKey(value).name;
        } catch (e) {
          throw bad(n, `bad vkey: ${(e as Error).message}`);
        }
        if (out.length >= MAX_LOGS) throw bad(n, `more than ${MAX_LOGS} logs`);
        out.push({ vkey: value, name, line: n });
        break;
      }
      case "origin":
        if (!cur) throw bad(n, '"origin" before any "vkey" line');
        if (cur.origin !== undefined) throw bad(n, 'a second "origin" for the same log');
        if (value === "") throw bad(n, "an empty origin");
        cur.origin = value;
        break;
      case "qpd": {
        if (!cur) throw bad(n, '"qpd" before any "vkey" line');
        // "a number in the range [1, 2^31) encoded as an ASCII decimal ... with no leading zeroes"
        if (!/^[1-9][0-9]{0,9}$/.test(value) || Number(value) >= 2 ** 31)
          throw bad(n, `qpd must be a decimal in [1, 2^31) without leading zeros (got ${JSON.stringify(value)})`);
        cur.qpd = Number(value);
        break;
      }
      case "contact":
        if (!cur) throw bad(n, '"contact" before any "vkey" line');
        cur.contact = value;
        break;
      default:
        break; // an unknown line: ignored, for the format's later revisions
    }
  }
  if (!header) throw new UpdateError("BAD_POLICY", 'log list: no "logs/v0" header line');
  const seen = new Map<string, number>();
  return out.map((e) => {
    const origin = e.origin ?? e.name;
    const earlier = seen.get(origin);
    if (earlier !== undefined) throw bad(e.line, `origin ${origin} is listed twice (first at line ${earlier})`);
    seen.set(origin, e.line);
    return {
      origin,
      vkey: e.vkey,
      ...(e.qpd !== undefined ? { qpd: e.qpd } : {}),
      ...(e.contact !== undefined ? { contact: e.contact } : {}),
    };
  });
}

/** The witness configuration for the logs of a list: each cosigned plainly, without audit. */
export function witnessLogsFromList(list: readonly LogListEntry[]): WitnessLogConfig[] {
  return list.map((e) => ({ origin: e.origin, keys: [e.vkey], plain: true }));
}
