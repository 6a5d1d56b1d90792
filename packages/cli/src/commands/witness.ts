/**
 * `vigil witness serve`: a C2SP tlog-witness (POST /add-checkpoint) that audits every new bundle
 * before cosigning. Configured by flags for one log, or by --config FILE (JSON:
 * `{"key":"w.key","state":"dir","port":8080,"host":"127.0.0.1","policy":"audit.json",
 *   "logs":[{"origin":"...","keys":["vkey"],"source":"https://.../","publishers":["vkey"]}]}`).
 * Refusals and misbehaviour evidence go to STATE/witness.log. Runs until SIGINT or SIGTERM.
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { AddressInfo } from "node:net";
import { Command } from "commander";
import { fail } from "../fail.js";
import { verifierKeyOf } from "@vigil/tlog";
import { UpdateError, Witness, bundleAuditor, loadAuditPolicy, type WitnessLogConfig } from "@vigil/updates";

export const summary = "run a transparency-log witness that audits rule bundles before cosigning";

interface Config {
  key: string;
  state: string;
  port?: number;
  host?: string;
  policy?: string;
  logs: WitnessLogConfig[];
}

export async function run(args: string[]): Promise<number> {
  const root = new Command("vigil witness")
    .description("Transparency-log witness (C2SP tlog-witness)")
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });
  let server: import("node:http").Server | undefined;
  root
    .command("serve")
    .description("serve POST /add-checkpoint")
    .option("--config <file>", "JSON configuration (see the command's source header)")
    .option("--key <file>", "witness private key (vigil keys generate NAME --cosigner)")
    .option("--state <dir>", "where the last cosigned checkpoints are kept")
    .option("--origin <origin>", "log origin to witness")
    .option(
      "--log-key <vkey>",
      "the log's verifier key (repeatable)",
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option("--source <url-or-dir>", "where the log's tiles and bundles are served (to audit them)")
    .option(
      "--publisher <vkey>",
      "require manifests signed by this publisher key (repeatable)",
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option("--policy <file>", "audit policy file (default: the built-in policy)")
    .option("--no-audit", "cosign without auditing bundles (a plain witness)")
    .option("--port <n>", "TCP port", "8080")
    .option("--host <addr>", "address to listen on", "127.0.0.1")
    .action(
      async (o: {
        config?: string;
        key?: string;
        state?: string;
        origin?: string;
        logKey: string[];
        source?: string;
        publisher: string[];
        policy?: string;
        audit: boolean;
        port: string;
        host: string;
      }) => {
        let cfg: Config;
        if (o.config) {
          const text = await readFile(o.config, "utf8");
          cfg = JSON.parse(text) as Config;
          const base = dirname(resolve(o.config));
          cfg.key = resolve(base, cfg.key);
          cfg.state = resolve(base, cfg.state);
          if (cfg.policy) cfg.policy = resolve(base, cfg.policy);
        } else {
          if (!o.key || !o.state || !o.origin || o.logKey.length === 0)
            throw new UpdateError("BAD_INPUT", "give --config, or --key, --state, --origin and --log-key");
          cfg = {
            key: o.key,
            state: o.state,
            port: Number(o.port),
            host: o.host,
            ...(o.policy ? { policy: o.policy } : {}),
            logs: [
              {
                origin: o.origin,
                keys: o.logKey,
                ...(o.source ? { source: o.source } : {}),
                ...(o.publisher.length ? { publishers: o.publisher } : {}),
              },
            ],
          };
        }
        const key = (await readFile(cfg.key, "utf8")).trim();
        const policy = await loadAuditPolicy(cfg.policy);
        const witness = new Witness({
          key,
          stateDir: cfg.state,
          logs: cfg.logs,
          ...(o.audit ? { audit: bundleAuditor(policy) } : {}),
        });
        server = await witness.listen(cfg.port ?? Number(o.port), cfg.host ?? o.host);
        const addr = server.address() as AddressInfo;
        process.stdout.write(
          `witness ${verifierKeyOf(key)} listening on http://${addr.address}:${addr.port}/add-checkpoint (policy ${policy.version})\n`,
        );
        await new Promise<void>((done) => {
          const stop = () => server!.close(() => done());
          process.once("SIGINT", stop);
          process.once("SIGTERM", stop);
        });
      },
    );
  try {
    if (!args.length) {
      root.outputHelp();
      return 2;
    }
    await root.parseAsync(args, { from: "user" });
    return 0;
  } catch (err) {
    return fail("witness", err);
  }
}
