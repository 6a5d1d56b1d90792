/**
 * `vigil feeds` end to end through the built bin (`npx tsc -b` first): a git repository made
 * here and fetched over file://, and rule archives (.tar.gz, .zip) served by an HTTP server on
 * 127.0.0.1. What is recorded, what `vigil scan` and `vigil daemon` then detect, and every
 * refusal (a file that does not compile, a rule the auditor fails, a pin that does not hold, a
 * hostile archive) leaving the rules in use as they were.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chunked, makeZip, needs, scratchDir, talk } from "@vigil/test-kit";

const BIN = fileURLToPath(new URL("../bin/vigil.js", import.meta.url));

const TITLE = "vigil feeds (git over file://, archives over HTTP on 127.0.0.1)";

describe.skipIf(needs(TITLE, { tools: ["git", "tar"] }))(TITLE, () => {
  let dir: ReturnType<typeof scratchDir>;
  let env: NodeJS.ProcessEnv;
  let repo: string;
  let server: Server;
  let base: string;
  const served = new Map<string, Buffer>();

  // asynchronous: the HTTP server runs in this process
  const vigil = (...args: string[]) =>
    new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const p = spawn(process.execPath, [BIN, ...args], { env });
      let out = "";
      let err = "";
      p.stdout.on("data", (b) => (out += b));
      p.stderr.on("data", (b) => (err += b));
      p.on("close", (code) => resolve({ code, out, err }));
    });
  const git = (...args: string[]) =>
    execFileSync("git", ["-C", repo, "-c", "user.email=t@example.org", "-c", "user.name=t", ...args], {
      encoding: "utf8",
    }).trim();
  const commit = (files: Record<string, string>, msg: string) => {
    for (const [p, text] of Object.entries(files)) {
      mkdirSync(join(repo, p, ".."), { recursive: true });
      writeFileSync(join(repo, p), text);
    }
    git("add", "-A");
    git("commit", "-q", "-m", msg);
    return git("rev-parse", "HEAD");
  };
  const rule = (name: string, marker: string) => `rule ${name} { strings: $a = "${marker}" condition: $a }\n`;
  const record = (name: string) =>
    (
      JSON.parse(readFileSync(join(dir.dir, "feeds", "feeds.json"), "utf8")).feeds as {
        name: string;
        current?: string;
      }[]
    ).find((f) => f.name === name);

  beforeAll(async () => {
    dir = scratchDir();
    env = { ...process.env, VIGIL_FEEDS_DIR: join(dir.dir, "feeds"), XDG_CACHE_HOME: join(dir.dir, "cache") };
    repo = join(dir.dir, "repo");
    mkdirSync(repo);
    git("init", "-q");
    dir.file("one.txt", "xx FEED-ONE-MARKER xx\n");
    dir.file("two.txt", "xx FEED-TWO-MARKER xx\n");
    dir.file("zip.txt", "xx FEED-ZIP-MARKER xx\n");
    server = createServer((req, res) => {
      const body = served.get(req.url ?? "");
      if (!body) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { "content-length": body.length }).end(body);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    dir?.cleanup();
  });

  it("git: add records the commit; scan uses the rules; a broken file refuses the update and keeps the old rules", async () => {
    const c1 = commit({ "rules/one.yar": rule("Feed_One", "FEED-ONE-MARKER"), "README.md": "not rules\n" }, "one");
    const add = await vigil("feeds", "add", "community", `file://${repo}`);
    expect(add.code, add.err).toBe(0);
    expect(add.out).toBe(`community: 1 files, 1 rules, commit ${c1}\n`);
    expect(record("community")?.current).toBe(c1);
    const scan = await vigil("scan", "--no-cache", join(dir.dir, "one.txt"));
    expect(scan.out).toMatch(/one\.txt: Feed_One FOUND/);
    expect(scan.code).toBe(1);
    expect((await vigil("scan", "--no-cache", "--no-feeds", join(dir.dir, "one.txt"))).code).toBe(0);

    const c2 = commit(
      {
        "rules/two.yar": rule("Feed_Two", "FEED-TWO-MARKER"),
        "rules/bad.yara": 'rule Bad {\n strings: $a = "x"\n condition: $b\n}\n',
      },
      "two and a broken one",
    );
    const up = await vigil("feeds", "update");
    expect(up.code).toBe(1);
    expect(up.err).toMatch(
      /community: refused: .*rules\/bad\.yara:3: undefined string identifier "\$b".*\(FEED_COMPILE_FAILED\)/,
    );
    expect(record("community")?.current).toBe(c1);
    expect((await vigil("scan", "--no-cache", join(dir.dir, "one.txt"))).code).toBe(1);
    expect((await vigil("scan", "--no-cache", join(dir.dir, "two.txt"))).code).toBe(0);
    expect(c2).not.toBe(c1);

    const c3 = commit({ "rules/bad.yara": rule("Fixed", "FIXED-MARKER") }, "fixed");
    const up2 = await vigil("feeds", "update", "community");
    expect(up2.code, up2.err).toBe(0);
    expect(up2.out).toBe(`community: updated to ${c3} (3 files, 3 rules)\n`);
    expect((await vigil("scan", "--no-cache", join(dir.dir, "two.txt"))).out).toMatch(/Feed_Two FOUND/);
    expect((await vigil("feeds", "update")).out).toBe(`community: up to date (${c3})\n`);
    const list = await vigil("feeds", "list");
    expect(list.out).toContain(`community\tgit\tfile://${repo}\t${c3}\t3 files\t3 rules\t`);
  });

  it("git: the same rules twice are refused; a commit given with --ref pins the feed; --skip-broken leaves out what does not compile", async () => {
    const pinned = git("rev-list", "--max-parents=0", "HEAD");
    // Feed_One is in the feed "community" already: a scan could not load both
    const twice = await vigil("feeds", "add", "pinned", repo, "--ref", pinned);
    expect(twice.code).toBe(1);
    expect(twice.err).toMatch(
      /rules\/one\.yar:1: .*Feed_One.*\(with the other files and feeds\).*\(FEED_COMPILE_FAILED\)/,
    );
    expect((await vigil("feeds", "remove", "community")).code).toBe(0);
    expect(existsSync(join(dir.dir, "feeds", "community"))).toBe(false);
    const add = await vigil("feeds", "add", "pinned", repo, "--ref", pinned);
    expect(add.code, add.err).toBe(0);
    expect(add.out).toBe(`pinned: 1 files, 1 rules, commit ${pinned} (pinned)\n`);
    commit({ "rules/later.yar": rule("Later", "LATER") }, "later");
    expect((await vigil("feeds", "update", "pinned")).out).toBe(`pinned: up to date (${pinned})\n`);
    expect((await vigil("feeds", "remove", "pinned")).code).toBe(0);

    commit({ "rules/broken.yar": "rule {\n" }, "broken");
    const skip = await vigil("feeds", "add", "lenient", `file://${repo}`, "--skip-broken");
    expect(skip.code, skip.err).toBe(0);
    expect(skip.err).toMatch(/lenient: left out: rules\/broken\.yar:\d+: /);
    expect(skip.out).toMatch(/^lenient: 4 files, 4 rules/);
  });

  it("the auditor refuses a feed that hunts classified documents; nothing of it is installed", async () => {
    const hunt = dir.file(
      "hunt/hunt.yar",
      'rule Hunt { strings: $a = "TOP SECRET" ascii wide nocase condition: $a }\n',
    );
    void hunt;
    const r = await vigil("feeds", "add", "hunting", join(dir.dir, "hunt-repo"));
    expect(r.code).toBe(2); // no such path: an error, not a refusal
    const h = join(dir.dir, "hunt-repo");
    mkdirSync(h);
    execFileSync("git", ["-C", h, "init", "-q"]);
    writeFileSync(join(h, "hunt.yar"), readFileSync(join(dir.dir, "hunt/hunt.yar")));
    execFileSync("git", ["-C", h, "add", "-A"]);
    execFileSync("git", ["-C", h, "-c", "user.email=t@example.org", "-c", "user.name=t", "commit", "-q", "-m", "hunt"]);
    const add = await vigil("feeds", "add", "hunting", `file://${h}`);
    expect(add.code).toBe(1);
    expect(add.err).toMatch(
      /refused: feed hunting: the rule auditor refuses the update .*TOP SECRET.*\(FEED_AUDIT_FAILED\)/,
    );
    expect(record("hunting")).toBeUndefined();
    expect(existsSync(join(dir.dir, "feeds", "hunting", "current"))).toBe(false);
  });

  it("archives over HTTP: .tar.gz and .zip, sha256 recorded and pinned; a wrong digest or a cut download is refused", async () => {
    const src = join(dir.dir, "tarsrc");
    mkdirSync(join(src, "pkg/rules"), { recursive: true });
    writeFileSync(join(src, "pkg/rules/a.yar"), rule("Tar_Rule", "FEED-TWO-MARKER"));
    writeFileSync(join(src, "pkg/notes.txt"), "not rules\n");
    const tgz = execFileSync("tar", ["-C", src, "-czf", "-", "pkg"]);
    served.set("/rules.tar.gz", tgz);
    const sha = createHash("sha256").update(tgz).digest("hex");
    const bad = await vigil("feeds", "add", "tarfeed", `${base}/rules.tar.gz`, "--sha256", "0".repeat(64));
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/pinned to 0{64} but .* gave [0-9a-f]{64}.*\(FEED_PIN_MISMATCH\)/);
    expect(record("tarfeed")).toBeUndefined();
    const good = await vigil("feeds", "add", "tarfeed", `${base}/rules.tar.gz`, "--sha256", sha);
    expect(good.code, good.err).toBe(0);
    expect(good.out).toBe(`tarfeed: 1 files, 1 rules, sha256 ${sha} (pinned)\n`);

    // a zip with a hostile name beside a good one: only the plain relative name is taken
    served.set(
      "/rules.zip",
      makeZip([
        { name: "z/zip.yar", data: rule("Zip_Rule", "FEED-ZIP-MARKER") },
        { name: "../../escape.yar", data: rule("Escape", "ESCAPE") },
      ]),
    );
    const zip = await vigil("feeds", "add", "zipfeed", `${base}/rules.zip`);
    expect(zip.code, zip.err).toBe(0);
    expect(zip.out).toMatch(/^zipfeed: 1 files, 1 rules, sha256 [0-9a-f]{64}\n$/);
    expect(existsSync(join(dir.dir, "escape.yar"))).toBe(false);
    expect((await vigil("scan", "--no-cache", join(dir.dir, "zip.txt"))).out).toMatch(/Zip_Rule FOUND/);

    // the zip changes: recorded anew; then the server cuts it: refused, the last one kept
    const changed = makeZip([{ name: "zip.yar", data: rule("Zip_Rule_2", "FEED-ZIP-MARKER") }]);
    served.set("/rules.zip", changed);
    expect((await vigil("feeds", "update", "zipfeed")).out).toMatch(
      /zipfeed: updated to [0-9a-f]{64} \(1 files, 1 rules\)/,
    );
    served.set("/rules.zip", changed.subarray(0, 40));
    const cut = await vigil("feeds", "update", "zipfeed");
    expect(cut.code).toBe(2);
    expect(cut.err).toMatch(/zipfeed: refused: /);
    expect(record("zipfeed")?.current).toBe(createHash("sha256").update(changed).digest("hex"));
    expect((await vigil("scan", "--no-cache", join(dir.dir, "zip.txt"))).out).toMatch(/Zip_Rule_2 FOUND/);
  });

  it("vigil daemon loads the feeds", async () => {
    const sock = join(dir.dir, "d.sock");
    const p = spawn(process.execPath, [BIN, "daemon", "--socket", sock, "-j", "0", "--no-cache"], {
      env,
      stdio: "ignore",
    });
    try {
      let pong = "";
      for (let i = 0; i < 300 && pong !== "PONG\0"; i++) {
        pong = (await talk(sock, ["zPING\0"], 300).catch(() => ({ text: "" }))).text;
        if (pong !== "PONG\0") await new Promise((r) => setTimeout(r, 100));
      }
      expect((await talk(sock, ["zINSTREAM\0", chunked("xx FEED-ZIP-MARKER xx")])).text).toBe(
        "stream: Zip_Rule_2 FOUND\0",
      );
    } finally {
      p.kill("SIGTERM");
    }
  }, 60_000);
});
