/**
 * `vigil root`: trust roots (vigil-root/v1, @vigil/updates root.ts), written and co-signed
 * offline by the operators who hold the root keys, then published beside the log as
 * `roots/<version>.note` for endpoints (`vigil update --root FIRST.note`) to walk.
 *   init    a first root (version 1) from a trust policy, root keys and a threshold: a draft
 *   next    the draft of version N+1 from root N, with one change or several (keys, threshold,
 *           witnesses, quorum, publishers, policy, expiry)
 *   sign    adds signatures (Ed25519 note keys) to a draft or signed root
 *   verify  checks roots: the first on its own (or as the successor of --trusted), each next one
 *           as the successor of the one before; and that the last has not expired
 *   show    prints a root: version, expiry, keys and which signed it, the policy
 * Exit codes: 0 done (verified), 1 refused (a check failed, with its code), 2 error.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { Command } from "commander";
import {
  ROOT_FORMAT,
  ROOT_MAX_BYTES,
  UpdateError,
  checkRootFresh,
  encodeRoot,
  formatExpires,
  parseExpires,
  parseRoot,
  rootSigners,
  signRoot,
  validatePolicy,
  verifyNextRoot,
  verifyRootSelf,
  writeFileAtomic,
  type RootDocument,
  type TrustedRoot,
} from "@vigil/updates";
import { fail, UPDATE_REFUSALS } from "../fail.js";

export const summary = "write, co-sign, verify and show signed trust roots (key rotation without a reinstall)";

const collect = (v: string, prev: string[] = []) => [...prev, v];

async function readSmall(path: string, what: string): Promise<string> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (cause) {
    throw new UpdateError("BAD_INPUT", `cannot read ${what} ${path}`, { cause });
  }
  if (data.length > ROOT_MAX_BYTES)
    throw new UpdateError("BAD_INPUT", `${what} ${path} is over ${ROOT_MAX_BYTES} bytes`);
  return data.toString("utf8");
}

/** A verifier key given as itself or as a file holding it (NAME.pub). */
async function verifierKey(v: string): Promise<string> {
  if (!v.includes("+") || existsSync(v)) return (await readSmall(v, "key file")).trim();
  return v.trim();
}

/** `365d`, `2027-12-31` or `2027-12-31T00:00:00Z` to the expires form. */
export function expiresFrom(v: string, now = Math.floor(Date.now() / 1000)): string {
  const days = /^(\d{1,5})d$/.exec(v);
  if (days) return formatExpires(now + Number(days[1]) * 86400);
  const s = /^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00:00Z` : v;
  if (parseExpires(s) === undefined)
    throw new UpdateError(
      "BAD_INPUT",
      `--expires ${JSON.stringify(v)}: give a number of days (365d) or a UTC date (2027-12-31)`,
    );
  return s;
}

async function policyObject(path: string): Promise<Record<string, unknown>> {
  let obj: unknown;
  try {
    obj = JSON.parse(await readSmall(path, "trust policy"));
  } catch (cause) {
    if (cause instanceof UpdateError) throw cause;
    throw new UpdateError("BAD_POLICY", `trust policy ${path} is not valid JSON`, { cause });
  }
  validatePolicy(obj); // refuse a bad policy now rather than after everyone signed it
  return obj as Record<string, unknown>;
}

async function output(text: string, out: string | undefined): Promise<void> {
  if (out && out !== "-") {
    await writeFileAtomic(out, text);
    process.stderr.write(`wrote ${out}\n`);
  } else process.stdout.write(text);
}

function describeRoot(r: TrustedRoot | { document: RootDocument }, note: string): string {
  const d = r.document;
  const f = parseRoot(note);
  const signers = new Set(rootSigners(f, d.keys));
  const lines = [
    `${ROOT_FORMAT} version ${d.version}, expires ${d.expires}`,
    `root keys (threshold ${d.threshold}, signed by ${signers.size}):`,
    ...d.keys.map((k) => `  ${signers.has(k) ? "signed  " : "unsigned"} ${k}`),
  ];
  const other = f.signatureLines.length - signers.size;
  if (other > 0) lines.push(`  and ${other} signature(s) by other keys (the previous root's, or unknown)`);
  const p = d.policy as Record<string, unknown>;
  const log = p.log as { origin?: unknown; keys?: unknown } | undefined;
  lines.push(
    `policy: log ${JSON.stringify(log?.origin)}, bundle ${JSON.stringify(p.bundle ?? "rules")}, quorum ${JSON.stringify(p.quorum)}`,
    ...((log?.keys as string[] | undefined) ?? []).map((k) => `  log key    ${k}`),
    ...((p.publishers as string[] | undefined) ?? []).map((k) => `  publisher  ${k}`),
    ...((p.witnesses as string[] | undefined) ?? []).map((k) => `  witness    ${k}`),
  );
  if (p.tlogPolicy !== undefined) lines.push("  (witnesses and quorum from a c2sp tlog-policy)");
  return lines.join("\n") + "\n";
}

function program(): Command {
  const root = new Command("vigil root")
    .description("Signed, versioned trust roots (vigil-root/v1): the trust policy, changed by threshold signatures")
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });
  root
    .command("init")
    .description("write the draft of a first root (version 1); then sign it with `vigil root sign`")
    .requiredOption("--policy <file>", "trust policy (JSON, vigil-trust/v1) the root holds")
    .requiredOption("--key <key-or-file>", "a root key (Ed25519 verifier key, or a .pub file); repeat", collect)
    .requiredOption("--threshold <n>", "how many root keys must sign the next root")
    .option("--expires <when>", "expiry: days (365d) or a UTC date", "365d")
    .option("--root-version <n>", "version number (default 1)", "1")
    .option("-o, --out <file>", "where to write the draft (default: standard output)")
    .action(
      async (o: {
        policy: string;
        key: string[];
        threshold: string;
        expires: string;
        rootVersion: string;
        out?: string;
      }) => {
        const doc: RootDocument = {
          format: ROOT_FORMAT,
          version: intArg(o.rootVersion, "--root-version"),
          expires: expiresFrom(o.expires),
          keys: await Promise.all(o.key.map(verifierKey)),
          threshold: intArg(o.threshold, "--threshold"),
          policy: await policyObject(o.policy),
        };
        await output(encodeRoot(doc), o.out);
      },
    );
  root
    .command("next")
    .description("write the draft of the root after PREVIOUS (version + 1) with the changes given")
    .argument("<previous>", "the current root (signed)")
    .option("--add-key <key-or-file>", "add a root key; repeat", collect)
    .option("--remove-key <key-or-file>", "remove a root key; repeat", collect)
    .option("--threshold <n>", "new root key threshold")
    .option("--policy <file>", "replace the whole trust policy with this file")
    .option("--add-witness <key-or-file>", "add a witness cosigner key to the policy; repeat", collect)
    .option("--remove-witness <key-or-file>", "remove a witness key from the policy; repeat", collect)
    .option("--quorum <n>", "new witness quorum")
    .option("--add-publisher <key-or-file>", "add a publisher key; repeat", collect)
    .option("--remove-publisher <key-or-file>", "remove a publisher key; repeat", collect)
    .option("--expires <when>", "expiry: days (365d) or a UTC date", "365d")
    .option("-o, --out <file>", "where to write the draft (default: standard output)")
    .action(async (previous: string, o: NextOptions) => {
      const prev = parseRoot(await readSmall(previous, "root"));
      const d = prev.document;
      const policy: Record<string, unknown> = o.policy
        ? await policyObject(o.policy)
        : (JSON.parse(JSON.stringify(d.policy)) as Record<string, unknown>);
      const edit = async (field: string, add: string[] = [], remove: string[] = []) => {
        if (!add.length && !remove.length) return;
        if (field === "witnesses" && policy.tlogPolicy !== undefined)
          throw new UpdateError(
            "BAD_INPUT",
            "this policy takes its witnesses from a tlog-policy: edit the policy file and give it with --policy",
          );
        policy[field] = await changeList((policy[field] as string[] | undefined) ?? [], add, remove, field);
      };
      await edit("witnesses", o.addWitness, o.removeWitness);
      await edit("publishers", o.addPublisher, o.removePublisher);
      if (o.quorum !== undefined) policy.quorum = intArg(o.quorum, "--quorum");
      const doc: RootDocument = {
        format: ROOT_FORMAT,
        version: d.version + 1,
        expires: expiresFrom(o.expires),
        keys: await changeList(d.keys, o.addKey, o.removeKey, "root keys"),
        threshold: o.threshold !== undefined ? intArg(o.threshold, "--threshold") : d.threshold,
        policy,
      };
      try {
        validatePolicy(policy);
      } catch (e) {
        throw new UpdateError("BAD_ROOT_POLICY", `the next root's policy would be invalid: ${(e as Error).message}`, {
          cause: e,
        });
      }
      const text = encodeRoot(doc);
      await output(text, o.out);
      if (doc.keys.length !== d.keys.length || doc.keys.some((k, i) => k !== d.keys[i]))
        process.stderr.write(
          `sign it with ${d.threshold} of version ${d.version}'s keys AND ${doc.threshold} of its own keys\n`,
        );
    });
  root
    .command("sign")
    .description("add signatures to a root (draft or signed) with private root key files")
    .argument("<file>", "the root")
    .requiredOption("--key <file>", "a private key file (NAME.key); repeat", collect)
    .option("-o, --out <file>", "where to write the signed root (default: in place)")
    .action(async (file: string, o: { key: string[]; out?: string }) => {
      const note = await readSmall(file, "root");
      const skeys = await Promise.all(o.key.map(async (k) => (await readSmall(k, "private key file")).trim()));
      const out = signRoot(note, skeys);
      const f = parseRoot(out);
      await output(out, o.out ?? file);
      process.stderr.write(
        `root version ${f.document.version}: ${f.signatureLines.length} signature(s); ${rootSigners(f, f.document.keys).length} of its own ${f.document.keys.length} keys (threshold ${f.document.threshold})\n`,
      );
    });
  root
    .command("verify")
    .description("verify roots in order: each after the first as the successor of the one before")
    .argument("<roots...>", "root files, oldest first")
    .option("--trusted <file>", "a root already trusted: the first file must be its successor")
    .option("--at <when>", "check expiry at this UTC time instead of now (2027-12-31 or full form)")
    .action(async (files: string[], o: { trusted?: string; at?: string }) => {
      let cur: TrustedRoot | undefined = o.trusted ? verifyRootSelf(await readSmall(o.trusted, "root")) : undefined;
      for (const file of files) {
        const note = await readSmall(file, "root");
        try {
          cur = cur ? verifyNextRoot(cur, note) : verifyRootSelf(note);
        } catch (e) {
          if (e instanceof UpdateError) throw new UpdateError(e.code, `${file}: ${e.message}`, { cause: e });
          throw e;
        }
        process.stdout.write(`${file}: root version ${cur.document.version} verified\n`);
      }
      const at = o.at ? parseExpires(expiresFrom(o.at)) : Math.floor(Date.now() / 1000);
      checkRootFresh(cur!, at!);
      process.stdout.write(`root version ${cur!.document.version} is valid until ${cur!.document.expires}\n`);
    });
  root
    .command("show")
    .description("print a root: version, expiry, keys and their signatures, the policy")
    .argument("<file>")
    .option("--json", "print the root document as JSON")
    .action(async (file: string, o: { json?: boolean }) => {
      const note = await readSmall(file, "root");
      const f = parseRoot(note);
      if (o.json) process.stdout.write(JSON.stringify(f.document, null, 2) + "\n");
      else process.stdout.write(describeRoot(f, note));
    });
  return root;
}

interface NextOptions {
  addKey?: string[];
  removeKey?: string[];
  threshold?: string;
  policy?: string;
  addWitness?: string[];
  removeWitness?: string[];
  quorum?: string;
  addPublisher?: string[];
  removePublisher?: string[];
  expires: string;
  out?: string;
}

function intArg(v: string, what: string): number {
  if (!/^\d{1,9}$/.test(v))
    throw new UpdateError("BAD_INPUT", `${what} must be a whole number (got ${JSON.stringify(v)})`);
  return Number(v);
}

async function changeList(
  list: readonly string[],
  add: string[] = [],
  remove: string[] = [],
  what: string,
): Promise<string[]> {
  const out = [...list];
  for (const r of await Promise.all(remove.map(verifierKey))) {
    const i = out.indexOf(r);
    if (i < 0) throw new UpdateError("BAD_INPUT", `cannot remove ${r}: it is not among the ${what}`);
    out.splice(i, 1);
  }
  for (const a of await Promise.all(add.map(verifierKey))) {
    if (out.includes(a)) throw new UpdateError("BAD_INPUT", `${a} is already among the ${what}`);
    out.push(a);
  }
  return out;
}

export async function run(args: string[]): Promise<number> {
  const cmd = program();
  try {
    if (!args.length) {
      cmd.outputHelp();
      return 2;
    }
    await cmd.parseAsync(args, { from: "user" });
    return 0;
  } catch (err) {
    return fail("root", err, { refusals: UPDATE_REFUSALS });
  }
}
