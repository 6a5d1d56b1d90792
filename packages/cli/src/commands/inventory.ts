/**
 * `vigil inventory`: lists the software installed on a machine (or a mounted disk, with
 * --root) from its package databases and system files, and checks it, and the executables
 * under --scan paths, against signed policy packs (the shipped US Commerce 2024 Kaspersky
 * pack and any --pack). `vigil inventory pack keygen|sign|verify` manages an organisation's
 * own packs. Exit codes: 0 nothing forbidden, 1 something forbidden, 2 errors.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Command, Option } from "commander";
import { fail } from "../fail.js";
import {
  buildReport,
  builtinKeys,
  builtinPackPaths,
  collect,
  dateValue,
  evaluate,
  generatePackKey,
  InventoryError,
  loadPack,
  parsePublicKey,
  renderSarif,
  renderText,
  scanExecutables,
  signPack,
  SOURCE_KINDS,
  validatePack,
  type LoadedPack,
  type PackKey,
  type SourceKind,
} from "@vigil/inventory";

export const summary = "list installed software and find what a policy pack forbids (e.g. the 2024 US Kaspersky ban)";

const EXIT_HELP = `
Sources (read from files, never by running package managers): ${SOURCE_KINDS.join(", ")}.
rpm: the SQLite database of rpm 4.16+ only (Berkeley DB and ndb databases are reported, not read).

Exit codes:
  0  nothing forbidden at the evaluation date (upcoming prohibitions are reported)
  1  something a pack forbids was found
  2  errors (bad options, unreadable root, a pack that is malformed, unsigned or untrusted)

Packs: the format is described in packages/inventory/packs/FORMAT.md; 'vigil inventory pack --help'
signs and verifies your own.`;

const many = (v: string, prev: string[]) => [...prev, v];

function badOption(message: string): never {
  throw new InventoryError("BAD_OPTION", message);
}

function trustedKeys(files: string[]): PackKey[] {
  const keys = builtinKeys();
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, "utf8");
    } catch (e) {
      throw new InventoryError(
        "READ_FAILED",
        `${f}: cannot read the key file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
        { cause: e },
      );
    }
    keys.push(parsePublicKey(text, f));
  }
  return keys;
}

interface MainOptions {
  root: string;
  pack: string[];
  builtinPacks: boolean;
  trustKey: string[];
  reg: string[];
  source: string[];
  scan: string[];
  date?: string;
  format: "text" | "json" | "sarif";
  output?: string;
  all?: boolean;
}

function mainProgram(result: { code: number }): Command {
  return new Command("vigil inventory")
    .description("List installed software and check it against policy packs")
    .option("--root <dir>", "filesystem root to inventory (a mounted disk or image)", "/")
    .option("--pack <file>", "a signed policy pack (repeatable)", many, [])
    .option("--no-builtin-packs", "do not use the packs shipped with Vigil")
    .option("--trust-key <file>", "also trust this pack public key (repeatable)", many, [])
    .option("--reg <file>", "a Windows .reg export of the Uninstall keys (repeatable)", many, [])
    .option("--source <name>", `only this source (repeatable): ${SOURCE_KINDS.join(", ")}`, many, [])
    .option(
      "--scan <path>",
      "also hash and inspect the files under PATH: PE version info, signers, package owner (repeatable)",
      many,
      [],
    )
    .option("--date <YYYY-MM-DD>", "evaluate the packs at this date instead of now")
    .addOption(new Option("-f, --format <format>", "output format").choices(["text", "json", "sarif"]).default("text"))
    .option("-o, --output <file>", "write the report to FILE instead of standard output")
    .option("-a, --all", "text format: list every entry, not only findings")
    .addHelpText("after", EXIT_HELP)
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) })
    .action(async (o: MainOptions) => {
      const sources = o.source.map((s) => {
        if (!SOURCE_KINDS.includes(s as SourceKind))
          badOption(`--source ${s}: unknown source (one of ${SOURCE_KINDS.join(", ")})`);
        return s as SourceKind;
      });
      let at = new Date();
      if (o.date !== undefined) {
        const t = dateValue(o.date);
        if (Number.isNaN(t)) badOption(`--date ${o.date}: give a date as YYYY-MM-DD (or an ISO 8601 time)`);
        at = new Date(t);
      }
      const keys = trustedKeys(o.trustKey);
      const paths = [...(o.builtinPacks ? builtinPackPaths() : []), ...o.pack];
      const packs: LoadedPack[] = paths.map((p) => loadPack(p, keys));
      if (!packs.length) process.stderr.write("vigil inventory: no policy pack given: listing only\n");
      const root = resolve(o.root);
      const inv = await collect({ root, regFiles: o.reg, ...(sources.length ? { sources } : {}) });
      const scanPaths = o.scan.map((p) => resolve(p));
      // keep executables, and other files only when a pack lists their hash (bounded memory on big trees)
      const keepHashes = new Set(
        packs.flatMap((p) => p.pack.vendors.flatMap((v) => (v.hashes ?? []).map((h) => h.sha256.toLowerCase()))),
      );
      const scan = scanPaths.length
        ? await scanExecutables(scanPaths, { root, entries: inv.entries, keepAll: false, keepHashes })
        : undefined;
      const findings = evaluate(inv.entries, scan?.files ?? [], packs, at);
      const report = buildReport(inv, packs, findings, at, scan ? { paths: scanPaths, result: scan } : undefined);
      const text =
        o.format === "json"
          ? JSON.stringify(report, null, 2) + "\n"
          : o.format === "sarif"
            ? renderSarif(report)
            : renderText(report, { all: o.all });
      if (o.output) writeFileSync(o.output, text);
      else process.stdout.write(text);
      result.code = report.summary.forbidden > 0 ? 1 : 0;
    });
}

function packProgram(result: { code: number }): Command {
  const root = new Command("vigil inventory pack")
    .description("Create signing keys, sign and verify policy packs (see packages/inventory/packs/FORMAT.md)")
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });
  root
    .command("keygen")
    .description("make an Ed25519 pack-signing key: NAME.key (private, mode 0600) and NAME.pub.json")
    .argument("<name>", "key name, e.g. example-org-security")
    .option("-o, --out-dir <dir>", "where to write the files", ".")
    .action((name: string, o: { outDir: string }) => {
      if (!/^[A-Za-z0-9._-]+$/.test(name)) badOption(`${name}: key names use letters, digits, '.', '_' and '-'`);
      const k = generatePackKey(name);
      mkdirSync(o.outDir, { recursive: true });
      const create = (file: string, text: string, mode?: number) => {
        try {
          writeFileSync(file, text, { flag: "wx", ...(mode !== undefined ? { mode } : {}) });
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
          badOption(`${file} already exists: will not overwrite a key (choose another name or --out-dir)`);
        }
      };
      create(join(o.outDir, `${name}.key`), k.privatePem, 0o600);
      create(join(o.outDir, `${name}.pub.json`), k.publicFile);
      process.stdout.write(
        `${join(o.outDir, `${name}.key`)}: private key (keep it secret)\n${join(o.outDir, `${name}.pub.json`)}: public key ${k.keyId}\n`,
      );
    });
  root
    .command("sign")
    .description("validate a pack and add (or replace) this key's signature")
    .argument("<pack>")
    .requiredOption("--key <file>", "private key from 'vigil inventory pack keygen'")
    .option("-o, --output <file>", "write the signed pack here instead of over the input")
    .action((pack: string, o: { key: string; output?: string }) => {
      let p: unknown, pem: string;
      try {
        p = JSON.parse(readFileSync(pack, "utf8"));
        pem = readFileSync(o.key, "utf8");
      } catch (e) {
        throw new InventoryError("READ_FAILED", `cannot read ${pack} or ${o.key}: ${(e as Error).message}`, {
          cause: e,
        });
      }
      validatePack(p, pack);
      const signed = signPack(p, pem);
      writeFileSync(o.output ?? pack, JSON.stringify(signed, null, 2) + "\n");
      process.stdout.write(`${o.output ?? pack}: signed by ${signed.signatures!.at(-1)!.keyId}\n`);
    });
  root
    .command("verify")
    .description("check packs: format, and a signature by a trusted key (shipped keys and --trust-key)")
    .argument("<packs...>")
    .option("--trust-key <file>", "also trust this public key (repeatable)", many, [])
    .action((packs: string[], o: { trustKey: string[] }) => {
      const keys = trustedKeys(o.trustKey);
      for (const p of packs) {
        const l = loadPack(p, keys);
        process.stdout.write(`${p}: ${l.pack.id} v${l.pack.version}: OK, signed by ${l.signedBy.join(", ")}\n`);
      }
    });
  void result;
  return root;
}

export async function run(args: string[]): Promise<number> {
  const result = { code: 0 };
  const isPack = args[0] === "pack";
  const cmd = isPack ? packProgram(result) : mainProgram(result);
  if (isPack && args.length === 1) {
    process.stderr.write(cmd.helpInformation());
    return 2;
  }
  try {
    await cmd.parseAsync(isPack ? args.slice(1) : args, { from: "user" });
    return result.code;
  } catch (err) {
    return fail("inventory", err);
  }
}
