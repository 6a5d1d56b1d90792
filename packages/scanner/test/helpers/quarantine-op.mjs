// Child process for the quarantine kill -9 matrix: one vault operation on the built scanner,
// run under the killpoint preload (@vigil/test-kit) that SIGKILLs it after a chosen write step.
import { Quarantine } from "../../dist/quarantine.js";

const [vault, op, arg] = process.argv.slice(2);
const q = new Quarantine(vault);
if (op === "add") q.add(arg, { detections: ["Test.Crash"], rulesVersion: "v1" });
else if (op === "restore") q.restore(q.list()[0].id, arg === "overwrite" ? { overwrite: true } : {});
else if (op === "delete") q.delete(q.list()[0].id);
else if (op === "purge") q.purge(new Date(Date.now() + 60_000));
else throw new Error(`unknown operation ${op}`);
