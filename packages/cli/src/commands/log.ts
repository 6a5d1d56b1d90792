/**
 * `vigil log serve --log DIR [--port N] [--host ADDR]`: serves a log directory written by
 * `vigil publish` over HTTP as C2SP tlog-tiles asks (checkpoint mutable and not cached, tiles and
 * entry bundles immutable, the bundle archives beside them), for endpoints (`vigil update
 * --source URL`), witnesses (`--source URL`) and monitors. Any static web server does the same;
 * this one needs nothing else. Prints `serving DIR on http://HOST:PORT/` once listening and runs
 * until SIGINT or SIGTERM.
 */
import { stat } from "node:fs/promises";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Command } from "commander";
import { fail } from "../fail.js";
import { UpdateError, serveLog } from "@vigil/updates";

export const summary = "serve a transparency log directory over HTTP (C2SP tlog-tiles)";

export async function run(args: string[]): Promise<number> {
  const root = new Command("vigil log")
    .description("Transparency log (C2SP tlog-tiles) operations")
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });
  let server: Server | undefined;
  root
    .command("serve")
    .description("serve the log directory over HTTP")
    .requiredOption("--log <dir>", "log directory (as written by vigil publish)")
    .option("--port <n>", "TCP port (0: any free port)", "8081")
    .option("--host <addr>", "address to listen on", "127.0.0.1")
    .action(async (o: { log: string; port: string; host: string }) => {
      let isDir = false;
      try {
        isDir = (await stat(o.log)).isDirectory();
      } catch {
        isDir = false;
      }
      if (!isDir) throw new UpdateError("BAD_INPUT", `${o.log} is not a directory`);
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new UpdateError("BAD_INPUT", `--port must be 0..65535 (got ${o.port})`);
      server = await serveLog(o.log, port, o.host);
      const addr = server.address() as AddressInfo;
      const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
      process.stdout.write(`serving ${o.log} on http://${host}:${addr.port}/\n`);
      await new Promise<void>((done) => {
        const stop = () => server!.close(() => done());
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
    });
  try {
    if (!args.length) {
      root.outputHelp();
      return 2;
    }
    await root.parseAsync(args, { from: "user" });
    return 0;
  } catch (err) {
    return fail("log", err);
  }
}
