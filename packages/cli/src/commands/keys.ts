/**
 * `vigil keys generate NAME` makes an Ed25519 key pair in Go's note formats (C2SP signed-note):
 * NAME.key (private, mode 0600) and NAME.pub (verifier key). `--cosigner` makes a witness key
 * (tlog-cosignature/v1, type 0x04). `vigil keys public FILE` prints the verifier key of a private
 * key file. Exit codes: 0 done, 2 error.
 */
import { writeFile, readFile } from "node:fs/promises";
import { join } from "node:path";
import { Command } from "commander";
import { fail } from "../fail.js";
import { generateKey, verifierKeyOf } from "@vigil/tlog";
import { ScannerError } from "@vigil/scanner";

export const summary = "generate and inspect signing keys for publishers, logs and witnesses";

function fileBase(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, "_");
}

function program(): Command {
  const root = new Command("vigil keys")
    .description("Signing keys (C2SP signed-note, Go key formats)")
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });
  root
    .command("generate")
    .description("generate a key pair; writes NAME.key (private) and NAME.pub (verifier key)")
    .argument("<name>", "key name, e.g. updates.example.com/log (no spaces or '+')")
    .option("--cosigner", "a witness cosigning key (tlog-cosignature/v1, Ed25519, type 0x04)")
    .option("--post-quantum", "with --cosigner: an ML-DSA-44 witness key (tlog-cosignature subtree/v1, type 0x06)")
    .option("-o, --out-dir <dir>", "where to write the files", ".")
    .option("--force", "overwrite existing files")
    .action(async (name: string, o: { cosigner?: boolean; postQuantum?: boolean; outDir: string; force?: boolean }) => {
      if (o.postQuantum && !o.cosigner)
        throw new ScannerError(
          "BAD_OPTION",
          "--post-quantum makes a witness key: give --cosigner too (logs and publishers sign with Ed25519)",
        );
      const k = generateKey(name, o.cosigner ? (o.postQuantum ? "cosignature-mldsa" : "cosignature") : "ed25519");
      const base = join(o.outDir, fileBase(name));
      const flag = o.force ? "w" : "wx";
      await writeFile(`${base}.key`, k.signerKey + "\n", { mode: 0o600, flag });
      await writeFile(`${base}.pub`, k.verifierKey + "\n", { mode: 0o644, flag });
      process.stdout.write(`${k.verifierKey}\n`);
      process.stderr.write(`private key: ${base}.key (keep it secret)\npublic key:  ${base}.pub\n`);
    });
  root
    .command("public")
    .description("print the verifier key of a private key file")
    .argument("<file>")
    .action(async (file: string) => {
      process.stdout.write(verifierKeyOf((await readFile(file, "utf8")).trim()) + "\n");
    });
  return root;
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
    return fail("keys", err);
  }
}
