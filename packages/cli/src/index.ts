/**
 * The `vigil` command. `main(argv)` picks the subcommand from argv[0] and loads
 * `commands/<name>.js`, which exports `run(args): Promise<number>` (the exit code) and a
 * one-line `summary` for the help listing. Each subcommand is a thin layer over a package;
 * adding one is adding a file to commands/. A command's failures go through `fail()` (fail.ts):
 * one line `vigil <command>: <message> (<CODE>)` and exit 0 clean, 1 found, 2 error; a closed
 * pipe on stdout or stderr ends the process quietly (141), a full disk is exit 2.
 */
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { fail, guardOutput } from "./fail.js";
import { VERSION } from "./version.js";

export { commandLine } from "./argv.js";

export interface Command {
  summary: string;
  run(args: string[]): Promise<number>;
}

const commandsDir = fileURLToPath(new URL("./commands/", import.meta.url));

function listCommands(): string[] {
  try {
    return readdirSync(commandsDir)
      .filter((f) => f.endsWith(".js"))
      .map((f) => f.slice(0, -3))
      .sort();
  } catch {
    return [];
  }
}

async function loadCommand(name: string): Promise<Command | undefined> {
  if (!/^[a-z][a-z0-9-]*$/.test(name) || !listCommands().includes(name)) return undefined;
  return (await import(`./commands/${name}.js`)) as Command;
}

async function usage(): Promise<string> {
  const lines = ["Usage: vigil <command> [options]", "", "Commands:"];
  for (const name of listCommands()) {
    const cmd = await loadCommand(name);
    lines.push(`  ${name.padEnd(12)} ${cmd?.summary ?? ""}`);
  }
  lines.push("", "Run 'vigil <command> --help' for a command's options.");
  return lines.join("\n") + "\n";
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  guardOutput(name);
  if (name === undefined || name === "-h" || name === "--help" || name === "help") {
    process.stdout.write(await usage());
    return name === undefined ? 2 : 0;
  }
  if (name === "-v" || name === "--version" || name === "version") {
    process.stdout.write(`vigil ${VERSION}\n`);
    return 0;
  }
  const cmd = await loadCommand(name);
  if (!cmd) {
    process.stderr.write(`vigil: unknown command '${name}'\n\n${await usage()}`);
    return 2;
  }
  try {
    return await cmd.run(rest);
  } catch (err) {
    return fail(name, err);
  }
}
