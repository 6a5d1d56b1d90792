/**
 * `vigil publish RULES_DIR --log DIR --key FILE`: compiles the rules (refusing bundles that do
 * not compile), builds the bundle (signed manifest + deterministic archive), appends it to the
 * log in DIR (C2SP tiles + checkpoint, servable by any static web server) and, with --witness,
 * collects cosignatures (C2SP tlog-witness add-checkpoint). `--witness-policy FILE` takes the
 * witnesses from a C2SP tlog-policy file (`witness NAME VKEY URL`, as witness networks publish
 * them): each one with a URL is asked, and its answer is kept only when it verifies with its vkey.
 * The log's origin is its key's name; C2SP recommends a schema-less URL (`example.com/log`), and
 * a note says so on stderr when it is not one. Exit codes: 0 published and cosigned by every
 * witness asked, 1 published but refused by a witness, 2 error (nothing published).
 */
import { readFile } from "node:fs/promises";
import { Command } from "commander";
import { fail } from "../fail.js";
import { originAdvice, parseSignerKey } from "@vigil/tlog";
import { UpdateError, publish } from "@vigil/updates";
import { witnessTargets } from "../witnesses.js";

export const summary = "publish a rules directory as a signed bundle to a transparency log";

async function readKey(file: string): Promise<string> {
  try {
    return (await readFile(file, "utf8")).trim();
  } catch (cause) {
    throw new UpdateError("BAD_KEY", `cannot read key file ${file}`, { cause });
  }
}

export async function run(args: string[]): Promise<number> {
  const result = { code: 0 };
  const cmd = new Command("vigil publish")
    .description("Publish RULES_DIR as the next bundle version in the log")
    .argument("<rules-dir>")
    .requiredOption("--log <dir>", "log directory (created if missing)")
    .requiredOption("--key <file>", "publisher private key (signs the manifest)")
    .option("--log-key <file>", "log private key (signs checkpoints; default: the publisher key)")
    .option("--name <name>", "bundle name", "rules")
    .option(
      "--witness <url>",
      "witness to ask for a cosignature (repeatable)",
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option("--witness-policy <file>", "ask the witnesses of this C2SP tlog-policy file that have a URL")
    .option("--no-compile", "skip the compile check (not recommended)")
    .option("--json", "print the result as JSON")
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) })
    .action(
      async (
        rulesDir: string,
        o: {
          log: string;
          key: string;
          logKey?: string;
          name: string;
          witness: string[];
          witnessPolicy?: string;
          compile: boolean;
          json?: boolean;
        },
      ) => {
        const publisherKey = await readKey(o.key);
        const logKey = o.logKey ? await readKey(o.logKey) : publisherKey;
        let origin: string;
        try {
          origin = parseSignerKey(logKey).name;
        } catch (cause) {
          throw new UpdateError("BAD_KEY", `cannot parse the log key: ${(cause as Error).message}`, { cause });
        }
        const advice = originAdvice(origin);
        if (advice) process.stderr.write(`vigil publish: note: ${advice}\n`);
        const witnesses = await witnessTargets(o.witness, o.witnessPolicy);
        const r = await publish({
          rulesDir,
          logDir: o.log,
          publisherKey,
          logKey,
          name: o.name,
          witnesses,
          compileCheck: o.compile,
        });
        if (o.json) {
          process.stdout.write(
            JSON.stringify(
              {
                name: r.manifest.name,
                version: r.manifest.version,
                index: r.index,
                manifestHash: r.manifestHash,
                rules: r.ruleCount,
                cosignedBy: r.cosignedBy,
                refusedBy: r.refusedBy,
              },
              null,
              2,
            ) + "\n",
          );
        } else {
          process.stdout.write(
            `published ${r.manifest.name} v${r.manifest.version} (${r.manifest.files.length} files${r.ruleCount >= 0 ? `, ${r.ruleCount} rules` : ""}) as log entry ${r.index}, manifest ${r.manifestHash}\n`,
          );
          for (const w of r.cosignedBy) process.stdout.write(`cosigned by ${w}\n`);
        }
        for (const w of r.refusedBy) process.stderr.write(`vigil publish: witness ${w.witness} refused: ${w.reason}\n`);
        if (r.refusedBy.length) result.code = 1;
      },
    );
  try {
    if (!args.length) {
      cmd.outputHelp();
      return 2;
    }
    await cmd.parseAsync(args, { from: "user" });
    return result.code;
  } catch (err) {
    return fail("publish", err);
  }
}
