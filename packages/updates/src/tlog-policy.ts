/**
 * C2SP transparency log trust policies (c2sp.org/tlog-policy): the line-based file format that
 * public witness networks publish (`log <vkey> [url]`, `witness <name> <vkey> [url]`,
 * `group <name> all|any|<k> <member>...`, `quorum <name>|none`), parsed with every rule of the
 * spec (names defined before use, one shared namespace, each member at most once, no duplicate
 * keys, exactly one quorum line, only tab and newline as control characters), evaluated against
 * the set of witnesses that cosigned, and written back out from a Vigil trust policy.
 */
import {
  KEY_TYPE_COSIGNATURE_V1,
  KEY_TYPE_ED25519,
  KEY_TYPE_MLDSA44_COSIGNATURE,
  parseVerifierKey,
  type VerifierKey,
} from "@vigil/tlog";
import { UpdateError } from "./error.js";

export interface TlogPolicyEntry {
  readonly vkey: string;
  readonly url?: string;
}

export type TlogPolicyMember = { readonly kind: "witness" | "group"; readonly name: string };

export interface TlogPolicyGroup {
  /** how many members must have witnessed */
  readonly threshold: number;
  readonly members: readonly TlogPolicyMember[];
}

export interface TlogPolicy {
  readonly logs: readonly TlogPolicyEntry[];
  /** witnesses by their policy name (a name local to the file) */
  readonly witnesses: ReadonlyMap<string, TlogPolicyEntry>;
  readonly groups: ReadonlyMap<string, TlogPolicyGroup>;
  /** the quorum: a witness or group name, or "none" (no cosignature needed) */
  readonly quorum: TlogPolicyMember | "none";
}

/** Limits well above the spec's recommended minimum of 32 logs, 32 witnesses and 32 groups. */
const MAX_ENTRIES = 1024;

function bad(line: number, message: string): UpdateError {
  return new UpdateError("BAD_POLICY", `tlog-policy line ${line}: ${message}`);
}

/** Parses a C2SP tlog-policy file; throws BAD_POLICY with the line number on any violation. */
export function parseTlogPolicy(text: string): TlogPolicy {
  if (typeof text !== "string") throw new UpdateError("BAD_POLICY", "tlog-policy: expected the file's text");
  const logs: TlogPolicyEntry[] = [];
  const witnesses = new Map<string, TlogPolicyEntry>();
  const groups = new Map<string, TlogPolicyGroup>();
  const keysSeen = new Map<string, number>();
  let quorum: TlogPolicyMember | "none" | undefined;
  const lines = text.split("\n");
  if (lines.length > 4 * MAX_ENTRIES) throw new UpdateError("BAD_POLICY", "tlog-policy: too many lines");
  const checkKey = (vkey: string, n: number, types: readonly number[], what: string): VerifierKey => {
    let v: VerifierKey;
    try {
      v = parseVerifierKey(vkey);
    } catch (e) {
      throw bad(n, `bad ${what} key: ${(e as Error).message}`);
    }
    if (!types.includes(v.type))
      throw bad(n, `a ${what} key must have signature type ${types.map((t) => `0x0${t}`).join(" or ")}`);
    // duplicates wrap the same public key, whatever their name and key ID
    const pk = Buffer.from(v.publicKey).toString("base64");
    const earlier = keysSeen.get(pk);
    if (earlier !== undefined) throw bad(n, `the same public key as line ${earlier}`);
    keysSeen.set(pk, n);
    return v;
  };
  const defined = (name: string): TlogPolicyMember | undefined =>
    witnesses.has(name) ? { kind: "witness", name } : groups.has(name) ? { kind: "group", name } : undefined;
  lines.forEach((raw, i) => {
    const n = i + 1;
    if (i === lines.length - 1 && raw === "") return; // the final newline
    if (/[\x00-\x08\x0b-\x1f\x7f]/.test(raw))
      throw bad(n, "a control character other than tab (only tab and newline are allowed)");
    const words = raw.split(/[ \t]+/).filter((w) => w !== "");
    if (words.length === 0 || words[0]!.startsWith("#")) return;
    const [keyword, ...args] = words as [string, ...string[]];
    switch (keyword) {
      case "log": {
        if (args.length < 1 || args.length > 2) throw bad(n, "expected: log <vkey> [<url>]");
        checkKey(args[0]!, n, [KEY_TYPE_ED25519], "log");
        logs.push({ vkey: args[0]!, ...(args[1] ? { url: args[1] } : {}) });
        break;
      }
      case "witness": {
        if (args.length < 2 || args.length > 3) throw bad(n, "expected: witness <name> <vkey> [<url>]");
        const [name, vkey, url] = args as [string, string, string?];
        if (name === "none") throw bad(n, '"none" is predefined and cannot name a witness');
        if (defined(name)) throw bad(n, `the name ${JSON.stringify(name)} is already defined`);
        checkKey(vkey, n, [KEY_TYPE_COSIGNATURE_V1, KEY_TYPE_MLDSA44_COSIGNATURE], "witness");
        witnesses.set(name, { vkey, ...(url ? { url } : {}) });
        break;
      }
      case "group": {
        if (args.length < 3) throw bad(n, "expected: group <name> all|any|<k> <name>...");
        const [name, k, ...memberNames] = args as [string, string, ...string[]];
        if (name === "none") throw bad(n, '"none" is predefined and cannot name a group');
        if (defined(name)) throw bad(n, `the name ${JSON.stringify(name)} is already defined`);
        const members: TlogPolicyMember[] = [];
        const seen = new Set<string>();
        for (const m of memberNames) {
          if (m === "none") throw bad(n, '"none" cannot be a group member');
          const d = defined(m);
          if (!d) throw bad(n, `${JSON.stringify(m)} is not defined on an earlier line`);
          if (seen.has(m)) throw bad(n, `${JSON.stringify(m)} is listed twice`);
          seen.add(m);
          members.push(d);
        }
        let threshold: number;
        if (k === "all") threshold = members.length;
        else if (k === "any") threshold = 1;
        else if (/^[1-9][0-9]{0,5}$/.test(k)) threshold = Number(k);
        else throw bad(n, `the threshold must be all, any or a decimal number (got ${JSON.stringify(k)})`);
        if (threshold < 1 || threshold > members.length)
          throw bad(n, `the threshold ${threshold} must be between 1 and the ${members.length} member(s)`);
        groups.set(name, { threshold, members });
        break;
      }
      case "quorum": {
        if (args.length !== 1) throw bad(n, "expected: quorum <name>");
        if (quorum !== undefined) throw bad(n, "a second quorum line (a policy has exactly one)");
        if (args[0] === "none") quorum = "none";
        else {
          const d = defined(args[0]!);
          if (!d) throw bad(n, `${JSON.stringify(args[0])} is not defined on an earlier line`);
          quorum = d;
        }
        break;
      }
      default:
        throw bad(n, `unknown keyword ${JSON.stringify(keyword)} (log, witness, group, quorum or a # comment)`);
    }
    if (logs.length + witnesses.size + groups.size > MAX_ENTRIES)
      throw bad(n, `more than ${MAX_ENTRIES} logs, witnesses and groups`);
  });
  if (quorum === undefined)
    throw new UpdateError("BAD_POLICY", "tlog-policy: no quorum line (exactly one is required)");
  return { logs, witnesses, groups, quorum };
}

/** Does the set of witnesses (by policy name) that cosigned satisfy the policy's quorum? */
export function quorumSatisfied(policy: TlogPolicy, cosigned: ReadonlySet<string>): boolean {
  if (policy.quorum === "none") return true;
  const memo = new Map<string, boolean>();
  const witnessed = (m: TlogPolicyMember): boolean => {
    if (m.kind === "witness") return cosigned.has(m.name);
    const known = memo.get(m.name);
    if (known !== undefined) return known;
    const g = policy.groups.get(m.name)!;
    let count = 0;
    for (const member of g.members) if (witnessed(member)) count++;
    const ok = count >= g.threshold;
    memo.set(m.name, ok);
    return ok;
  };
  return witnessed(policy.quorum);
}

/** The policy names of the witnesses whose keys are in `keys` (vkeys as the policy lists them). */
export function witnessNames(policy: TlogPolicy, keys: Iterable<string>): Set<string> {
  const byKey = new Map<string, string>();
  for (const [name, w] of policy.witnesses) byKey.set(w.vkey, name);
  const out = new Set<string>();
  for (const k of keys) {
    const n = byKey.get(k);
    if (n !== undefined) out.add(n);
  }
  return out;
}

/**
 * Writes a tlog-policy file for a log and witnesses with a k-of-n quorum (what a Vigil trust
 * policy holds), naming each witness by its key name. `urls` adds the witnesses' submission
 * prefixes where known.
 */
export function formatTlogPolicy(
  log: { keys: readonly string[]; url?: string },
  witnesses: readonly string[],
  quorum: number,
  urls: ReadonlyMap<string, string> = new Map(),
): string {
  const out: string[] = ["# transparency log trust policy (c2sp.org/tlog-policy), written by Vigil"];
  for (const k of log.keys) out.push(`log ${k}${log.url ? ` ${log.url}` : ""}`);
  const names: string[] = [];
  for (const w of witnesses) {
    const v = parseVerifierKey(w);
    let name = v.name;
    for (let i = 2; names.includes(name); i++) name = `${v.name}#${i}`;
    names.push(name);
    const url = urls.get(w);
    out.push(`witness ${name} ${w}${url ? ` ${url}` : ""}`);
  }
  if (witnesses.length === 0 || quorum === 0) out.push("quorum none");
  else {
    out.push(`group vigil-quorum ${quorum === witnesses.length ? "all" : quorum} ${names.join(" ")}`);
    out.push("quorum vigil-quorum");
  }
  return `${out.join("\n")}\n`;
}
