/**
 * `vigil mirror --mirror URL|DIR --datadir DIR --log DIR --key FILE [--witness URL...]
 * [--witness-policy FILE]`:
 * ClamAV's updates into Vigil's transparency log. Brings DIR up to date from a ClamAV mirror as
 * `vigil freshclam` does (every .cvd and .cdiff verified with ClamAV's keys), then publishes the
 * databases as the next version of the bundle `clamav` (--name) in the log and asks the
 * witnesses to cosign it; they audit what the signatures look for and refuse document hunting.
 * Endpoints then take it with `vigil update` like any bundle. Nothing is published when no
 * database changed. Exit codes: 0 done, 1 a database refused or a witness refused, 2 error.
 */
import { readFile } from "node:fs/promises";
import { Command } from "commander";
import { fail } from "../fail.js";
import { UpdateError, mirrorClamavToLog } from "@vigil/updates";
import { witnessTargets } from "../witnesses.js";

export const summary = "mirror ClamAV's databases into the transparency log, for witnesses to audit and cosign";

async function readKey(file: string): Promise<string> {
  try {
    return (await readFile(file, "utf8")).trim();
  } catch (cause) {
    throw new UpdateError("BAD_KEY", `cannot read key file ${file}`, { cause });
  }
}

export async function run(args: string[]): Promise<number> {
  const result = { code: 0 };
  const many = (v: string, acc: string[]) => [...acc, v];
  const cmd = new Command("vigil mirror")
    .description("Update DIR from a ClamAV mirror, then publish its databases into the log")
    .requiredOption("--mirror <url|dir>", "ClamAV mirror: an HTTP(S) URL or a mirror directory (repeatable)", many, [])
    .requiredOption("--datadir <dir>", "where the databases are kept between runs")
    .requiredOption("--log <dir>", "log directory (created if missing)")
    .requiredOption("--key <file>", "publisher private key (signs the manifest)")
    .option("--log-key <file>", "log private key (signs checkpoints; default: the publisher key)")
    .option("--name <name>", "bundle name", "clamav")
    .option("--database <name>", "database to mirror (repeatable; default daily, main, bytecode)", many, [])
    .option("--witness <url>", "witness to ask for a cosignature (repeatable)", many, [])
    .option("--witness-policy <file>", "ask the witnesses of this C2SP tlog-policy file that have a URL")
    .option(
      "--private-mirror",
      "the mirror is another machine's database directory: whole .cvd files only (freshclam's PrivateMirror)",
    )
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) })
    .action(
      async (o: {
        mirror: string[];
        datadir: string;
        log: string;
        key: string;
        logKey?: string;
        name: string;
        database: string[];
        witness: string[];
        witnessPolicy?: string;
        privateMirror?: boolean;
      }) => {
        const r = await mirrorClamavToLog({
          mirror: o.mirror.length === 1 ? o.mirror[0]! : o.mirror,
          databaseDir: o.datadir,
          ...(o.database.length ? { databases: o.database } : {}),
          logDir: o.log,
          publisherKey: await readKey(o.key),
          ...(o.logKey ? { logKey: await readKey(o.logKey) } : {}),
          name: o.name,
          witnesses: await witnessTargets(o.witness, o.witnessPolicy),
          ...(o.privateMirror ? { mirrorOptions: { privateMirror: true } } : {}),
        });
        for (const d of r.mirror.databases) {
          process.stdout.write(`${d.name}: ${d.status}${d.version !== null ? ` (version ${d.version})` : ""}\n`);
          if (d.status === "refused") result.code = 1;
        }
        const p = r.published;
        if (!p) {
          process.stdout.write("nothing new to publish\n");
          return;
        }
        process.stdout.write(
          `published ${p.manifest.name} v${p.manifest.version} (${p.manifest.files.map((f) => f.path).join(", ")}) as log entry ${p.index}\n`,
        );
        for (const w of p.cosignedBy) process.stdout.write(`cosigned by ${w}\n`);
        for (const w of p.refusedBy) process.stderr.write(`vigil mirror: witness ${w.witness} refused: ${w.reason}\n`);
        if (p.refusedBy.length) result.code = 1;
      },
    );
  if (!args.length) {
    cmd.outputHelp();
    return 2;
  }
  try {
    await cmd.parseAsync(args, { from: "user" });
    return result.code;
  } catch (err) {
    return fail("mirror", err);
  }
}
