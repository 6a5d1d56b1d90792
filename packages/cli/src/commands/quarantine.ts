/**
 * `vigil quarantine list|show|restore|delete|purge`: manages the vault that
 * `vigil scan --quarantine` and `vigil watch --quarantine` fill (see Quarantine in
 * @vigil/scanner). Exit codes: 0 done, 2 error (unknown id, target exists, damaged entry).
 */
import { Command } from "commander";
import { fail } from "../fail.js";
import { jsonRawBytes, parseAge, printable, Quarantine } from "@vigil/scanner";
import { defaultQuarantineDir } from "../options.js";

export const summary = "list, inspect, restore or delete quarantined files";

function vaultOf(cmd: Command): Quarantine {
  const dir = (cmd.optsWithGlobals() as { quarantineDir?: string }).quarantineDir;
  return new Quarantine(dir ?? defaultQuarantineDir());
}

function program(result: { code: number }): Command {
  const root = new Command("vigil quarantine")
    .description("Manage the quarantine vault")
    .option(
      "--quarantine-dir <dir>",
      "vault location (default: $XDG_DATA_HOME/vigil/quarantine or $VIGIL_QUARANTINE_DIR)",
    )
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });

  root
    .command("list")
    .description("list quarantined files")
    .option("--json", "print the entries as JSON (without keys)")
    .action(function (this: Command, o: { json?: boolean }) {
      const entries = vaultOf(this).list();
      if (o.json) {
        process.stdout.write(
          jsonRawBytes(
            JSON.stringify(
              entries.map(({ key: _k, iv: _i, ...rest }) => rest),
              null,
              2,
            ),
          ) + "\n",
        );
        return;
      }
      for (const e of entries) {
        process.stdout.write(
          `${e.id}  ${e.quarantinedAt}  ${String(e.size).padStart(10)}  ${e.detections.join(",")}  ${printable(e.originalPath)}\n`,
        );
      }
      if (!entries.length) process.stderr.write("quarantine is empty\n");
    });

  root
    .command("show")
    .description("show everything recorded about one entry")
    .argument("<id>")
    .action(function (this: Command, id: string) {
      const { key: _k, iv: _i, ...e } = vaultOf(this).get(id);
      // a name that is not UTF-8: its bytes as the text \xNN, exact in originalPathBase64
      process.stdout.write(jsonRawBytes(JSON.stringify(e, null, 2)) + "\n");
    });

  root
    .command("restore")
    .description("put a file back with its exact bytes, mode, owner and times")
    .argument("<id>")
    .option("--to <path>", "restore to this path instead of the original one")
    .option("--overwrite", "replace an existing file at the target")
    .option("--keep", "keep the vault entry after restoring")
    .action(function (this: Command, id: string, o: { to?: string; overwrite?: boolean; keep?: boolean }) {
      const target = vaultOf(this).restore(id, o);
      process.stdout.write(`${printable(target)}: restored from ${id}\n`);
    });

  root
    .command("delete")
    .description("delete entries for good")
    .argument("<ids...>")
    .action(function (this: Command, ids: string[]) {
      const vault = vaultOf(this);
      for (const id of ids) {
        vault.delete(id);
        process.stdout.write(`${id}: deleted\n`);
      }
    });

  root
    .command("purge")
    .description("delete entries older than an age, and leftovers of interrupted operations")
    .requiredOption("--older-than <age>", "e.g. 30d, 12h, 2w")
    .action(function (this: Command, o: { olderThan: string }) {
      const vault = vaultOf(this);
      const gone = vault.purge(new Date(Date.now() - parseAge(o.olderThan)));
      vault.cleanup();
      for (const id of gone) process.stdout.write(`${id}: deleted\n`);
      process.stderr.write(`${gone.length} entr${gone.length === 1 ? "y" : "ies"} purged\n`);
    });
  void result;
  return root;
}

export async function run(args: string[]): Promise<number> {
  const result = { code: 0 };
  const cmd = program(result);
  if (!args.length) {
    process.stderr.write(cmd.helpInformation());
    return 2;
  }
  try {
    await cmd.parseAsync(args, { from: "user" });
    return result.code;
  } catch (err) {
    return fail("quarantine", err);
  }
}
