/**
 * `vigil clamav` works on ClamAV's database containers, as `sigtool` does:
 *   info FILE...            the header (sigtool -i) and the result of every check
 *   verify FILE...          every check (header, MD5, signatures, .info manifest); exit 0 when all pass
 *   unpack FILE [-o DIR]    writes the container's files (sigtool -u)
 *   patch FILE CDIFF... -o OUT.cld   applies .cdiff updates in order and writes the .cld freshclam would
 * Exit codes: 0 done, 1 a check refused a file, 2 an error.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { Command } from "commander";
import { applyCdiffs, buildCld, ClamavError, openContainer, type OpenedContainer } from "@vigil/clamav";
import { fail } from "../fail.js";

export const summary = "inspect, verify, unpack and patch ClamAV databases (.cvd .cld .cud .cdiff), like sigtool";

const REFUSALS: ReadonlySet<string> = new Set([
  "CVD_BAD_MD5",
  "CVD_BAD_SIGNATURE",
  "CVD_BAD_INFO",
  "CVD_BAD_HEADER",
  "CVD_BAD_ARCHIVE",
  "CDIFF_BAD_FORMAT",
  "CDIFF_APPLY_FAILED",
]);

async function open(path: string): Promise<OpenedContainer> {
  return openContainer(await readFile(path), { path });
}

function headerText(db: OpenedContainer): string {
  const h = db.header;
  const time = h.buildTime.replace(/(\d\d)-(\d\d)( [+-]\d{4})?$/, "$1:$2$3");
  return [
    `File: ${db.path}`,
    `Build time: ${time}`,
    `Version: ${h.version}`,
    `Signatures: ${h.signatures}`,
    `Functionality level: ${h.flevel}`,
    `Builder: ${h.builder}`,
    ...(h.md5 !== "X" ? [`MD5: ${h.md5}`] : []),
    ...(h.dsig !== "X" ? [`Digital signature: ${h.dsig}`] : []),
  ].join("\n");
}

function program(result: { code: number }): Command {
  const root = new Command("vigil clamav")
    .description("ClamAV database containers: .cvd (signed), .cld (patched locally), .cud (unsigned), .cdiff (updates)")
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });
  root
    .command("info")
    .description("print each container's header and verify it (sigtool -i)")
    .argument("<files...>")
    .action(async (files: string[]) => {
      for (const f of files) {
        const db = await open(f);
        process.stdout.write(`${headerText(db)}\nFiles: ${db.databases.map((d) => d.name).join(" ")}\n`);
        for (const w of db.warnings) process.stderr.write(`WARNING: ${w}\n`);
        process.stdout.write(
          db.kind === "cvd" ? "Verification OK.\n" : `Manifest OK (a .${db.kind} carries no header signature).\n`,
        );
      }
    });
  root
    .command("verify")
    .description("check every container; exit 1 when one is refused")
    .argument("<files...>")
    .action(async (files: string[]) => {
      for (const f of files) {
        try {
          const db = await open(f);
          process.stdout.write(`${f}: OK (version ${db.header.version}, ${db.header.signatures} signatures)\n`);
        } catch (err) {
          if (!(err instanceof ClamavError)) throw err;
          process.stdout.write(`${f}: REFUSED ${err.message} (${err.code})\n`);
          result.code = 1;
        }
      }
    });
  root
    .command("unpack")
    .description("write a container's files into a directory (sigtool -u)")
    .argument("<file>")
    .option("-o, --out-dir <dir>", "where to write the files", ".")
    .action(async (file: string, o: { outDir: string }) => {
      const db = await open(file);
      await mkdir(o.outDir, { recursive: true });
      for (const f of db.files) await writeFile(join(o.outDir, f.name), f.bytes);
      process.stderr.write(`${db.files.length} files written to ${o.outDir}\n`);
    });
  root
    .command("patch")
    .description("apply .cdiff updates in order to a .cvd or .cld and write the resulting .cld")
    .argument("<database>")
    .argument("<cdiffs...>")
    .requiredOption("-o, --output <file>", "the .cld to write")
    .action(async (database: string, cdiffs: string[], o: { output: string }) => {
      const db = await open(database);
      const diffs = await Promise.all(cdiffs.map(async (path) => ({ path, bytes: await readFile(path) })));
      const patched = applyCdiffs(db.files, db.header.version, diffs);
      const cld = buildCld(patched.files, o.output);
      openContainer(cld, { path: o.output, kind: "cld" });
      await writeFile(o.output, cld);
      process.stderr.write(`${basename(o.output)}: version ${patched.version} written\n`);
    });
  return root;
}

export async function run(args: string[]): Promise<number> {
  const result = { code: 0 };
  const cmd = program(result);
  try {
    if (!args.length) {
      cmd.outputHelp();
      return 2;
    }
    await cmd.parseAsync(args, { from: "user" });
    return result.code;
  } catch (err) {
    return fail("clamav", err, { refusals: REFUSALS });
  }
}
