/**
 * The witnesses a log asks for cosignatures (`vigil publish`, `vigil mirror`): `--witness URL`
 * flags, plus those a C2SP tlog-policy file lists with a URL (`witness NAME VKEY URL`, the URL
 * being the witness's submission prefix), whose answers are then checked with their vkeys.
 */
import { readFile } from "node:fs/promises";
import { UpdateError, parseTlogPolicy, witnessesFromTlogPolicy, type WitnessTarget } from "@vigil/updates";

export async function witnessTargets(
  urls: readonly string[],
  policyFile?: string,
): Promise<Array<string | WitnessTarget>> {
  const out: Array<string | WitnessTarget> = [...urls];
  if (policyFile === undefined) return out;
  let text: string;
  try {
    text = await readFile(policyFile, "utf8");
  } catch (cause) {
    throw new UpdateError("BAD_INPUT", `cannot read the witness policy ${policyFile}`, { cause });
  }
  const listed = witnessesFromTlogPolicy(parseTlogPolicy(text));
  if (listed.length === 0)
    throw new UpdateError(
      "BAD_POLICY",
      `${policyFile} lists no witness with a URL ("witness NAME VKEY URL"): nobody to ask`,
    );
  out.push(...listed);
  return out;
}
