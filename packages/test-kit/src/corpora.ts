/**
 * Where the public rule corpora are: `corpora/<name>` at the repository root (filled by
 * `npm run fetch-corpora`), else `../shared/corpora/<name>` beside the repository.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

/** The repository root (this file is packages/test-kit/{src,dist}/corpora.*). */
export const REPO_ROOT = resolve(import.meta.dirname, "../../..");

/** The places a corpus is looked for, in order. */
export function corpusLocations(name: string): string[] {
  return [join(REPO_ROOT, "corpora", name), join(REPO_ROOT, "..", "shared", "corpora", name)];
}

/** Is this corpus hidden by VIGIL_TEST_HIDE (its name, or "corpora", or "all")? */
export function hiddenCorpus(name: string): boolean {
  const h = new Set((process.env.VIGIL_TEST_HIDE ?? "").split(",").map((s) => s.trim()));
  return h.has("all") || h.has("corpora") || h.has(name);
}

/**
 * The folder of corpus `name` (e.g. "yara/yara-rules", "clamav/rfxn"): the first location that
 * exists; when none does (or the corpus is hidden), a path under corpora/ that does not exist,
 * so callers that check existence (or `needs({ corpora })`) skip.
 */
export function corpus(name: string): string {
  if (hiddenCorpus(name)) return join(REPO_ROOT, "corpora", ".hidden-by-VIGIL_TEST_HIDE", name);
  return corpusLocations(name).find((p) => existsSync(p)) ?? corpusLocations(name)[0]!;
}
