// Child process for the updates kill -9 matrix: one operation on the built package, run under
// the killpoint preload (@vigil/test-kit) that SIGKILLs it after a chosen write step.
import { readFileSync } from "node:fs";
import { Witness, update, updateClamavDatabases } from "../../dist/index.js";

const [op, argsFile] = process.argv.slice(2);
const a = JSON.parse(readFileSync(argsFile, "utf8"));
if (op === "rules") {
  const r = await update({ source: a.source, stateDir: a.stateDir, policy: a.policy });
  process.stdout.write(`${r.status}\n`);
} else if (op === "clamav") {
  const r = await updateClamavDatabases({ mirror: a.mirror, databaseDir: a.databaseDir, databases: ["test"] });
  process.stdout.write(`${r.databases.map((d) => d.status).join(",")}\n`);
} else if (op === "witness") {
  const w = new Witness({
    key: a.key,
    stateDir: a.stateDir,
    logs: [{ origin: a.origin, keys: [a.logKey], source: a.stateDir }],
    now: () => a.now,
  });
  const r = await w.addCheckpoint(a.body);
  process.stdout.write(`${r.status}\n${r.body}`);
} else throw new Error(`unknown operation ${op}`);
