/**
 * kill -9 matrices: run a child once per write step it makes, SIGKILLed right after that step
 * (see killpoint.ts), and let the test check the state it leaves after each kill.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { TestKitError } from "./needs.js";

/** The preload, as a path for `node --import` (the built file: from src/ and dist/ alike). */
export const KILLPOINT_PRELOAD = fileURLToPath(new URL("../dist/killpoint.js", import.meta.url));

export interface KillMatrixOptions {
  /** node arguments after the preload: e.g. ["--import", "tsx", "child.ts", ...args] */
  args: string[];
  /** only write steps under this directory count */
  under: string;
  /** puts the starting state in place before each run */
  reset: () => void | Promise<void>;
  /** checks the state left by a run killed after `step` (or, with killed false, a run that finished) */
  check: (step: number, killed: boolean, output: { stdout: string; stderr: string }) => void | Promise<void>;
  /** a bound on the number of runs, so a child that never finishes cannot loop the test */
  maxSteps?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** Runs the matrix; resolves to the number of write steps the uninterrupted run makes. */
export async function killMatrix(o: KillMatrixOptions): Promise<number> {
  const max = o.maxSteps ?? 200;
  for (let step = 1; step <= max; step++) {
    await o.reset();
    const r = spawnSync(process.execPath, ["--import", KILLPOINT_PRELOAD, ...o.args], {
      cwd: o.cwd,
      env: { ...process.env, ...o.env, VIGIL_KILL_AT: String(step), VIGIL_KILL_UNDER: o.under },
      encoding: "utf8",
      timeout: 60_000,
    });
    const killed = r.signal === "SIGKILL";
    if (!killed && r.status !== 0) {
      throw new TestKitError(
        "KILL_MATRIX_CHILD_FAILED",
        `kill matrix child failed at step ${step} (status ${r.status}, signal ${r.signal}): ${r.stderr}`,
      );
    }
    await o.check(step, killed, { stdout: r.stdout, stderr: r.stderr });
    if (!killed) return step - 1;
  }
  throw new TestKitError("KILL_MATRIX_UNBOUNDED", `the child made more than ${max} write steps; raise maxSteps`);
}
