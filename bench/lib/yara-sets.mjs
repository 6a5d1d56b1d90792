// The rule sets and the file set shared by bench/yara.mjs and bench/yara-sweep.mjs.
//
// File set: reproducible on a given machine: sorted listings of /usr/bin and
// /usr/lib/x86_64-linux-gnu (1 KB to 8 MB), gzip'd Debian changelogs and licence texts.
// Rule sets: the corpora's files that yara 4.2.3 compiles, less index files, less the files
// Vigil refuses by design (`import "cuckoo"`) and, when yara-x takes part, less the files
// yara-x refuses (all three tools then scan with exactly the same rules).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { corpus } from "@vigil/test-kit";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const corpora = dirname(corpus("yara/yara-rules"));
export const FEEDS = ["yara-rules", "bartblaze"];
/** external variables yara's command line is given (`-d name=`), the same for every tool */
export const EXTERNALS = { filename: "", filepath: "", extension: "", filetype: "", owner: "" };
export const DEFINES = Object.keys(EXTERNALS).flatMap((d) => ["-d", `${d}=`]);

export function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : def;
}

/** `count` files, the first 45% binaries from /usr/bin, 45% libraries, 5% changelogs, licences. */
export function fileSet(count, maxBytes = 8 << 20) {
  const picks = [];
  const take = (dir, n, filter) => {
    if (!existsSync(dir)) return;
    let k = 0;
    for (const name of readdirSync(dir).sort()) {
      if (k >= n) break;
      const p = join(dir, name);
      let st;
      try {
        st = statSync(p);
      } catch {
        continue;
      }
      if (!st.isFile() || !filter(name, st.size)) continue;
      picks.push(p);
      k++;
    }
  };
  const bins = Math.floor(count * 0.45);
  take("/usr/bin", bins, (_, s) => s >= 1024 && s <= maxBytes);
  take("/usr/lib/x86_64-linux-gnu", bins, (_, s) => s >= 1024 && s <= maxBytes);
  const docs = readdirSync("/usr/share/doc")
    .sort()
    .map((d) => join("/usr/share/doc", d, "changelog.Debian.gz"))
    .filter((p) => existsSync(p));
  picks.push(...docs.slice(0, Math.floor(count * 0.05)));
  take("/usr/share/common-licenses", count - picks.length, () => true);
  return picks;
}

/** yara-x's Node binding, or undefined (with the reason) when it is not installed. */
export function loadYaraX() {
  try {
    return { yx: createRequire(join(root, "package.json"))("@litko/yara-x") };
  } catch (e) {
    return { reason: String(e.message ?? e).split("\n")[0] };
  }
}
export const YARAX_OPTIONS = { relaxedReSyntax: true, defineVariables: EXTERNALS };

/** A feed's rule files (paths relative to the feed) that every tool taking part compiles. */
export function ruleFiles(feed, yx) {
  const dir = join(corpora, feed);
  const list = readFileSync(join(dir, "COMPILES-WITH-YARA-4.2.3.txt"), "utf8")
    .split("\n")
    .filter(Boolean)
    .filter((f) => !/index/i.test(f))
    .filter((f) => !readFileSync(join(dir, f), "latin1").includes('import "cuckoo"'));
  if (!yx) return { dir, files: list, refusedByYaraX: [] };
  const files = [];
  const refusedByYaraX = [];
  for (const f of list) {
    const r = yx.validate(readFileSync(join(dir, f), "utf8"), YARAX_OPTIONS);
    (r.errors.length ? refusedByYaraX : files).push(f);
  }
  return { dir, files, refusedByYaraX };
}
