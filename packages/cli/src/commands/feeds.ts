/**
 * `vigil feeds add NAME URL|PATH`, `vigil feeds update [NAME...]`, `vigil feeds list`,
 * `vigil feeds remove NAME`: third-party YARA rule feeds (git repositories or rule archives),
 * compiled and audited before use, recorded with the commit or sha256 in use, and loaded by
 * `vigil scan` and `vigil daemon` (see ../feeds.ts). Exit codes: 0 done, 1 an update refused
 * (does not compile, audit failed, pin mismatch), 2 error.
 */
import { Command } from "commander";
import { fail } from "../fail.js";
import { addFeed, feedsDir, readFeeds, removeFeed, updateFeeds } from "../feeds.js";

export const summary = "third-party YARA rule feeds: add, update, list, remove (compiled and audited first)";

const REFUSALS: ReadonlySet<string> = new Set(["FEED_COMPILE_FAILED", "FEED_AUDIT_FAILED", "FEED_PIN_MISMATCH"]);

const HELP = `
Sources: a git repository (file:///path/repo, a local path, or any URL git clones) followed at
--ref (a branch or tag; a 40-hex commit pins the feed), or an archive of rules (.zip, .tar,
.tar.gz) at an http(s) URL or a path, pinned with --sha256. Only .yar and .yara files are taken.
A feed whose files do not all compile is refused with each file:line (--skip-broken leaves
those files out instead), and so is a feed the rule auditor fails; the rules in use are kept.
Feeds live in $VIGIL_FEEDS_DIR (default ${feedsDir()}); vigil scan and vigil daemon load them
(--no-feeds to not).`;

export async function run(args: string[]): Promise<number> {
  const out = { code: 0 };
  const io = { writeOut: (s: string) => process.stdout.write(s), writeErr: (s: string) => process.stderr.write(s) };
  const root = new Command("vigil feeds").description("Third-party YARA rule feeds").exitOverride().configureOutput(io);
  root.addHelpText("after", HELP);
  root
    .command("add <name> <source>")
    .description("add a feed and fetch it now")
    .option("--ref <ref>", "git: branch, tag or commit to follow (a commit pins the feed)")
    .option("--sha256 <hex>", "archive: the sha256 the archive must have (pins the feed)")
    .option("--skip-broken", "leave out files that do not compile (reported) instead of refusing the feed")
    .exitOverride()
    .configureOutput(io)
    .action(async (name: string, source: string, o: { ref?: string; sha256?: string; skipBroken?: boolean }) => {
      const r = await addFeed({ name, source, ...o });
      const f = r.feed;
      process.stdout.write(
        `${f.name}: ${f.files} files, ${f.rules} rules, ${f.kind === "git" ? "commit" : "sha256"} ${f.current}${f.pin ? " (pinned)" : ""}\n`,
      );
      for (const s of r.skipped) process.stderr.write(`vigil feeds: ${f.name}: left out: ${s}\n`);
    });
  root
    .command("update [names...]")
    .description("fetch every feed (or the named ones) again")
    .exitOverride()
    .configureOutput(io)
    .action(async (names: string[]) => {
      for (const r of await updateFeeds(names)) {
        if (r.error) {
          const code = (r.error as { code?: string }).code;
          out.code = Math.max(out.code, code && REFUSALS.has(code) ? 1 : 2);
          process.stderr.write(`vigil feeds: ${r.name}: refused: ${r.error.message}${code ? ` (${code})` : ""}\n`);
          continue;
        }
        const f = r.report!.feed;
        process.stdout.write(
          r.report!.changed
            ? `${f.name}: updated to ${f.current} (${f.files} files, ${f.rules} rules)\n`
            : `${f.name}: up to date (${f.current})\n`,
        );
        if (r.report!.changed)
          for (const s of r.report!.skipped) process.stderr.write(`vigil feeds: ${f.name}: left out: ${s}\n`);
      }
    });
  root
    .command("list")
    .description("the feeds, with what is in use")
    .option("--json", "as JSON")
    .exitOverride()
    .configureOutput(io)
    .action(async (o: { json?: boolean }) => {
      const feeds = await readFeeds();
      if (o.json) {
        process.stdout.write(`${JSON.stringify(feeds, null, 2)}\n`);
        return;
      }
      for (const f of feeds)
        process.stdout.write(
          `${f.name}\t${f.kind}\t${f.source}\t${f.current ?? "-"}${f.pin ? " pinned" : ""}\t${f.files ?? 0} files\t${f.rules ?? 0} rules\t${f.updatedAt ?? "-"}\n`,
        );
    });
  root
    .command("remove <name>")
    .description("remove a feed and its rules")
    .exitOverride()
    .configureOutput(io)
    .action(async (name: string) => {
      await removeFeed(name);
    });
  if (!args.length) {
    process.stderr.write(root.helpInformation());
    return 2;
  }
  try {
    await root.parseAsync(args, { from: "user" });
  } catch (err) {
    return fail("feeds", err, { refusals: REFUSALS });
  }
  return out.code;
}
