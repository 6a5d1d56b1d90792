// Child process for the trust-root kill -9 matrix (root.test.ts): one walk of the root chain on
// the built package, run under the killpoint preload (@vigil/test-kit) that SIGKILLs it after a
// chosen write step.
import { readFileSync } from "node:fs";
import { openSource, updateRoot } from "../../dist/index.js";

const a = JSON.parse(readFileSync(process.argv[2], "utf8"));
const r = await updateRoot({ source: openSource(a.source), stateDir: a.stateDir, bootstrap: a.bootstrap, now: a.now });
process.stdout.write(`${r.root.document.version}\n`);
