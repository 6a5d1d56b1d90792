/**
 * `vigil witness serve`: a C2SP tlog-witness (POST <prefix>/add-checkpoint, and the monitoring
 * GET <prefix>/<sha256(origin) hex>/checkpoint) that audits every new bundle of a Vigil log
 * before cosigning. Configured by flags for one log, or by --config FILE (JSON:
 * `{"key":"w.key" or ["w.key","w-pq.key"],"state":"dir","port":8080,"host":"127.0.0.1",
 *   "prefix":"","policy":"audit.json","logList":"log-list.txt",
 *   "logs":[{"origin":"...","keys":["vkey"],"source":"https://.../","publishers":["vkey"]}]}`).
 * `--log-list FILE` (or "logList") adds the logs of a witness network's list (witness-network.org
 * "logs/v0": `vkey`, `origin`, `qpd`, `contact` lines), witnessed without audit as any network
 * witness does. Several `--key`s (an Ed25519 and an ML-DSA-44 one) give one cosignature each.
 * Refusals and misbehaviour evidence go to STATE/witness.log. Runs until SIGINT or SIGTERM.
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { AddressInfo } from "node:net";
import { Command } from "commander";
import { fail } from "../fail.js";
import { verifierKeyOf } from "@vigil/tlog";
import {
  UpdateError,
  Witness,
  bundleAuditor,
  loadAuditPolicy,
  parseLogList,
  witnessLogsFromList,
  type WitnessLogConfig,
} from "@vigil/updates";

export const summary = "run a transparency-log witness that audits rule bundles before cosigning";

interface Config {
  key: string | string[];
  state: string;
  port?: number;
  host?: string;
  prefix?: string;
  policy?: string;
  logList?: string | string[];
  logs?: WitnessLogConfig[];
}

const many = (v: string, acc: string[]) => [...acc, v];

async function readText(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (cause) {
    throw new UpdateError("BAD_INPUT", `cannot read ${what} ${file}`, { cause });
  }
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
    .option(
      "--key <file>",
      "witness private key (vigil keys generate NAME --cosigner); repeatable",
      many,
      [] as string[],
    )
    .option("--state <dir>", "where the last cosigned checkpoints are kept")
    .option("--origin <origin>", "log origin to witness")
    .option("--log-list <file>", 'also witness the logs of this "logs/v0" log list (repeatable)', many, [] as string[])
    .option("--prefix <path>", "URL path prefix of the API (submission and monitoring prefix)", "")
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
        key: string[];
        state?: string;
        origin?: string;
        logList: string[];
        prefix: string;
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
          const text = await readText(o.config, "the configuration");
          try {
            cfg = JSON.parse(text) as Config;
          } catch (cause) {
            throw new UpdateError("BAD_INPUT", `${o.config} is not valid JSON`, { cause });
          }
          if (typeof cfg !== "object" || cfg === null || typeof cfg.state !== "string" || cfg.key === undefined)
            throw new UpdateError("BAD_INPUT", `${o.config}: "key" and "state" are required`);
          const base = dirname(resolve(o.config));
          cfg.key = (Array.isArray(cfg.key) ? cfg.key : [cfg.key]).map((k) => resolve(base, String(k)));
          cfg.state = resolve(base, cfg.state);
          if (cfg.policy) cfg.policy = resolve(base, cfg.policy);
          cfg.logList = (cfg.logList === undefined ? [] : Array.isArray(cfg.logList) ? cfg.logList : [cfg.logList]).map(
            (f) => resolve(base, String(f)),
          );
        } else {
          const oneLog = o.origin !== undefined || o.logKey.length > 0;
          if (
            o.key.length === 0 ||
            !o.state ||
            (oneLog && (!o.origin || o.logKey.length === 0)) ||
            (!oneLog && o.logList.length === 0)
          )
            throw new UpdateError(
              "BAD_INPUT",
              "give --config, or --key, --state and the logs: --origin with --log-key, and/or --log-list",
            );
          cfg = {
            key: o.key,
            state: o.state,
            port: Number(o.port),
            host: o.host,
            prefix: o.prefix,
            logList: o.logList,
            ...(o.policy ? { policy: o.policy } : {}),
            logs: oneLog
              ? [
                  {
                    origin: o.origin!,
                    keys: o.logKey,
                    ...(o.source ? { source: o.source } : {}),
                    ...(o.publisher.length ? { publishers: o.publisher } : {}),
                  },
                ]
              : [],
          };
        }
        const logs: WitnessLogConfig[] = [...(cfg.logs ?? [])];
        for (const file of (cfg.logList as string[] | undefined) ?? []) {
          for (const l of witnessLogsFromList(parseLogList(await readText(file, "the log list")))) {
            // a log configured by hand keeps its configuration (and its audit)
            if (!logs.some((x) => x.origin === l.origin)) logs.push(l);
          }
        }
        if (logs.length === 0) throw new UpdateError("BAD_INPUT", "no log to witness");
        const keys = await Promise.all(
          (Array.isArray(cfg.key) ? cfg.key : [cfg.key]).map(async (f) => (await readText(f, "the key file")).trim()),
        );
        const policy = await loadAuditPolicy(cfg.policy);
        const witness = new Witness({
          key: keys,
          stateDir: cfg.state,
          logs,
          ...(o.audit ? { audit: bundleAuditor(policy) } : {}),
        });
        const prefix = (cfg.prefix ?? o.prefix).replace(/\/+$/, "");
        if (prefix !== "" && !/^\/[A-Za-z0-9._~/-]*$/.test(prefix))
          throw new UpdateError("BAD_INPUT", `the prefix must be a URL path starting with '/' (got ${prefix})`);
        server = await witness.listen(cfg.port ?? Number(o.port), cfg.host ?? o.host, prefix);
        const addr = server.address() as AddressInfo;
        const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
        process.stdout.write(
          `witness ${keys.map((k) => verifierKeyOf(k)).join(" ")} listening on http://${host}:${addr.port}${prefix}/add-checkpoint (policy ${policy.version}; ${logs.length} log(s))\n`,
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
