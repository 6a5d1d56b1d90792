/**
 * Two Vigil witnesses and a Vigil log as separate processes on 127.0.0.1, talking HTTP as third
 * parties would (c2sp.org/tlog-witness, tlog-tiles, tlog-policy): `vigil log serve` serves the
 * log, `vigil witness serve` runs each witness (one Ed25519, one ML-DSA-44) fetching the log's
 * bundles over HTTP, `vigil publish --witness-policy` asks the witnesses a tlog-policy lists,
 * and `vigil update` reads the log over HTTP. A witness restarted keeps its size and answers a
 * rollback and a fork with the spec's status codes. Needs the built bin (`npx tsc -b`).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it, onTestFinished } from "vitest";
import { HONEST_RULES, writeRules } from "@vigil/test-kit";
import { MerkleTree, formatCheckpoint, openNote, signNote, splitNote } from "@vigil/tlog";

const BIN = fileURLToPath(new URL("../bin/vigil.js", import.meta.url));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.pid && c.exitCode === null && c.signalCode === null) process.kill(c.pid, "SIGTERM");
});

function vigil(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Starts a long-running vigil command; resolves with the first match of `ready` on stdout. */
async function start(args: string[], ready: RegExp): Promise<{ child: ChildProcess; url: string }> {
  const c = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(c);
  let out = "";
  return new Promise((resolve, reject) => {
    c.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = ready.exec(out);
      if (m) resolve({ child: c, url: m[1]! });
    });
    c.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    c.once("exit", (code) => reject(new Error(`vigil ${args[0]} exited (${code}): ${out}`)));
  });
}

async function stop(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise<void>((r) => c.once("exit", () => r()));
  process.kill(c.pid!, "SIGTERM");
  await gone;
}

async function post(url: string, body: string) {
  const r = await fetch(`${url}/add-checkpoint`, { method: "POST", body });
  return { status: r.status, type: r.headers.get("content-type"), body: await r.text() };
}

describe("a Vigil log and two Vigil witnesses as separate processes", () => {
  it("cosign over HTTP; quorum 2 applies, 1 cosignature is refused; a restarted witness refuses rollback and fork", {
    timeout: 300_000,
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), "vigil-wnet-"));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const keys = join(dir, "keys");
    await mkdir(keys);
    const gen = (name: string, ...flags: string[]) => {
      const r = vigil(["keys", "generate", name, "-o", keys, ...flags]);
      expect(r.code, r.err).toBe(0);
      return r.out.trim();
    };
    const pubV = gen("rules.example/publisher");
    const logV = gen("rules.example/log"); // origin = key name, a schema-less URL (tlog-checkpoint)
    const w1V = gen("w1.example/witness", "--cosigner");
    const w2V = gen("w2.example/witness", "--cosigner", "--post-quantum");
    expect(w2V).toMatch(/^w2\.example\/witness\+[0-9a-f]{8}\+B/); // type 0x06

    // the log, served over HTTP
    const logDir = join(dir, "log");
    await mkdir(logDir);
    const served = await start(["log", "serve", "--log", logDir, "--port", "0"], /on (http:\/\/127\.0\.0\.1:\d+)\//);
    const logUrl = served.url;

    // two witnesses, each its own process, reading the log's bundles over HTTP
    const witnessArgs = (n: 1 | 2) => [
      "witness",
      "serve",
      "--port",
      "0",
      "--key",
      join(keys, `w${n}.example_witness.key`),
      "--state",
      join(dir, `w${n}`),
      "--origin",
      "rules.example/log",
      "--log-key",
      logV,
      "--source",
      `${logUrl}/`,
    ];
    const READY = /listening on (http:\/\/127\.0\.0\.1:\d+)\/add-checkpoint/;
    const w1 = await start(witnessArgs(1), READY);
    let w2 = await start(witnessArgs(2), READY);

    // the witnesses as a witness network publishes them: a C2SP tlog-policy with URLs
    const policyFile = join(dir, "witnesses.tlog-policy");
    const writePolicy = (w2url: string) =>
      writeFile(
        policyFile,
        [
          `log ${logV} ${logUrl}/`,
          `witness w1 ${w1V} ${w1.url}`,
          `witness w2 ${w2V} ${w2url}`,
          "group both all w1 w2",
          "quorum both",
          "",
        ].join("\n"),
      );
    await writePolicy(w2.url);
    const rules = join(dir, "rules");
    const publish = () =>
      vigil([
        "publish",
        rules,
        "--log",
        logDir,
        "--key",
        join(keys, "rules.example_publisher.key"),
        "--log-key",
        join(keys, "rules.example_log.key"),
        "--witness-policy",
        policyFile,
      ]);
    await writeRules(rules, HONEST_RULES);
    const p1 = publish();
    expect(p1.code, p1.err).toBe(0);
    expect(p1.err).not.toMatch(/note:/); // the origin follows the recommendation
    expect(p1.out).toContain(`cosigned by ${w1.url}`);
    expect(p1.out).toContain(`cosigned by ${w2.url}`);
    const cp1 = await (await fetch(`${logUrl}/checkpoint`)).text();
    expect(openNote(cp1, [logV, w1V, w2V]).verified).toEqual([
      "rules.example/log",
      "w1.example/witness",
      "w2.example/witness",
    ]);

    // endpoints: quorum 2 given by the same tlog-policy, and a plain quorum of 1
    const trust = async (name: string, extra: object) => {
      const f = join(dir, name);
      await writeFile(
        f,
        JSON.stringify({
          format: "vigil-trust/v1",
          log: { origin: "rules.example/log", keys: [logV] },
          publishers: [pubV],
          maxCheckpointAge: 3600,
          bundle: "rules",
          ...extra,
        }),
      );
      return f;
    };
    const quorum2 = await trust("trust2.json", { tlogPolicy: await readFile(policyFile, "utf8") });
    const quorum1 = await trust("trust1.json", { witnesses: [w1V, w2V], quorum: 1 });
    const update = (policy: string, state: string) =>
      vigil(["update", "--source", `${logUrl}/`, "--policy", policy, "--state", join(dir, state)]);
    const u1 = update(quorum2, "ep2");
    expect(u1.code, u1.err).toBe(0);
    expect(u1.out).toMatch(/applied version 1; log size 1; witnesses: 2/);

    // w2 down: v2 is cosigned by w1 alone; the quorum-2 endpoint refuses it, quorum 1 takes it
    await stop(w2.child);
    await writeRules(rules, {
      ...HONEST_RULES,
      "extra.yar": 'rule Extra { strings: $a = "vigil extra" condition: $a }\n',
    });
    const p2 = publish();
    expect(p2.code).toBe(1);
    expect(p2.out).toContain(`cosigned by ${w1.url}`);
    expect(p2.err).toMatch(/witness .* refused: cannot reach witness/);
    const u2 = update(quorum2, "ep2");
    expect(u2.code).toBe(1);
    expect(u2.err).toMatch(/NO_QUORUM/);
    const u2b = update(quorum1, "ep1");
    expect(u2b.code, u2b.err).toBe(0);
    expect(u2b.out).toMatch(/applied version 2; log size 2; witnesses: 1/);

    // w2 restarted on the same state: it still stands at size 1 (409 with text/x.tlog.size)
    w2 = await start(witnessArgs(2), READY);
    await writePolicy(w2.url);
    const probe = await post(w2.url, `old 0\n\n${cp1}`);
    expect(probe).toEqual({ status: 409, type: "text/x.tlog.size", body: "1\n" });
    // v3: the log guesses old 2, learns 1 from the 409 and sends the proof from 1; both cosign
    await writeRules(rules, {
      ...HONEST_RULES,
      "third.yar": 'rule Third { strings: $a = "vigil third" condition: $a }\n',
    });
    const p3 = publish();
    expect(p3.code, p3.err).toBe(0);
    const u3 = update(quorum2, "ep2");
    expect(u3.code, u3.err).toBe(0);
    expect(u3.out).toMatch(/applied version 3 \(was 1\); log size 3; witnesses: 2/);
    const cp3 = await (await fetch(`${logUrl}/checkpoint`)).text();

    // the monitoring API of the restarted witness serves what it cosigned
    const hash = createHash("sha256").update("rules.example/log").digest("hex");
    const mon = await fetch(`${w2.url}/${hash}/checkpoint`);
    expect(mon.status).toBe(200);
    const monNote = await mon.text();
    expect(splitNote(monNote).text).toBe(splitNote(cp3).text);
    expect(openNote(monNote, [logV, w2V]).verified).toEqual(["rules.example/log", "w2.example/witness"]);

    // rollback: the old checkpoint of size 1, signed by the log, with the witness's true old size
    // ("The old size MUST be equal to or lower than the checkpoint size. Otherwise ... 400")
    expect((await post(w2.url, `old 3\n\n${cp1}`)).status).toBe(400);
    // and with an old size the witness does not hold: 409 with its size
    expect(await post(w2.url, `old 1\n\n${cp1}`)).toEqual({ status: 409, type: "text/x.tlog.size", body: "3\n" });

    // fork: the log key signs another tree (a compromised log showing some clients another view)
    const logKey = (await readFile(join(keys, "rules.example_log.key"), "utf8")).trim();
    const other = new MerkleTree();
    for (let i = 0; i < 4; i++) other.append(`forged entry ${i}`);
    const forged = (size: number) =>
      signNote(
        formatCheckpoint({ origin: "rules.example/log", size: BigInt(size), rootHash: other.root(size) }),
        logKey,
      );
    // same size, another root: "If they don't match, the witness MUST respond with a 422"
    expect((await post(w2.url, `old 3\n\n${forged(3)}`)).status).toBe(422);
    // a larger forked tree with its own (valid for it) consistency proof: "a Merkle Consistency
    // Proof doesn't verify" against the root the witness holds -> 422
    const proof = other
      .consistencyProof(3, 4)
      .map((h) => Buffer.from(h).toString("base64") + "\n")
      .join("");
    expect((await post(w2.url, `old 3\n${proof}\n${forged(4)}`)).status).toBe(422);
    // w1 says the same: the fork is refused by every witness, so it never reaches a quorum
    expect((await post(w1.url, `old 3\n\n${forged(3)}`)).status).toBe(422);
    // the refusals are kept as evidence
    expect(await readFile(join(dir, "w2", "witness.log"), "utf8")).toMatch(/MISBEHAVIOUR rules\.example\/log/);
    // and the witness still stands at 3 with the true root: the log's real checkpoint is fine
    expect((await post(w2.url, `old 3\n\n${cp3}`)).status).toBe(200);

    await stop(w1.child);
    await stop(w2.child);
    await stop(served.child);
  });

  it("a witness of a network's log list (logs/v0) with an Ed25519 and an ML-DSA-44 key answers with both", {
    timeout: 120_000,
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), "vigil-wnet-"));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const gen = (name: string, ...flags: string[]) => {
      const r = vigil(["keys", "generate", name, "-o", dir, ...flags]);
      expect(r.code, r.err).toBe(0);
      return r.out.trim();
    };
    const logV = gen("tlog.other.example");
    const edV = gen("net.example/w", "--cosigner");
    const pqV = gen("net.example/w-pq", "--cosigner", "--post-quantum");
    const list = join(dir, "log-list.1");
    await writeFile(list, `# List: testing\nlogs/v0\n\nvkey ${logV}\nqpd 1440\ncontact ops (at) other.example\n`);
    const w = await start(
      [
        "witness",
        "serve",
        "--port",
        "0",
        "--key",
        join(dir, "net.example_w.key"),
        "--key",
        join(dir, "net.example_w-pq.key"),
        "--state",
        join(dir, "state"),
        "--log-list",
        list,
        "--prefix",
        "/witness",
      ],
      /listening on (http:\/\/127\.0\.0\.1:\d+\/witness)\/add-checkpoint/,
    );
    const logKey = (await readFile(join(dir, "tlog.other.example.key"), "utf8")).trim();
    const tree = new MerkleTree();
    for (let i = 0; i < 3; i++) tree.append(`someone else's entry ${i}`);
    const cp = signNote(formatCheckpoint({ origin: "tlog.other.example", size: 3n, rootHash: tree.root() }), logKey);
    const r = await post(w.url, `old 0\n\n${cp}`);
    expect(r.status, r.body).toBe(200);
    expect(openNote(cp + r.body, [logV, edV, pqV]).verified).toEqual([
      "tlog.other.example",
      "net.example/w",
      "net.example/w-pq",
    ]);
    // a log not on the list: 404
    const stranger = signNote(
      formatCheckpoint({ origin: "tlog.unlisted.example", size: 3n, rootHash: tree.root() }),
      logKey,
    );
    expect((await post(w.url, `old 0\n\n${stranger}`)).status).toBe(404);
    await stop(w.child);
    // a broken list is refused at start, with the line
    await writeFile(list, "logs/v0\nvkey nonsense\n");
    const bad = vigil([
      "witness",
      "serve",
      "--port",
      "0",
      "--key",
      join(dir, "net.example_w.key"),
      "--state",
      join(dir, "s2"),
      "--log-list",
      list,
    ]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/log list line 2: bad vkey.*\(BAD_POLICY\)/);
  });

  it("publish and mirror refuse an unreadable witness policy or one that names no witness URL, before any work", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vigil-wnet-"));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const w = vigil(["keys", "generate", "w.example/x", "-o", dir, "--cosigner"]).out.trim();
    const k = vigil(["keys", "generate", "rules.example/log", "-o", dir]);
    expect(k.code, k.err).toBe(0);
    const noUrl = join(dir, "no-url.tlog-policy");
    await writeFile(noUrl, `witness x ${w}\nquorum x\n`);
    const key = join(dir, "rules.example_log.key");
    for (const [policy, re] of [
      [join(dir, "missing"), /cannot read the witness policy .*\(BAD_INPUT\)/],
      [noUrl, /lists no witness with a URL.*\(BAD_POLICY\)/],
    ] as const) {
      const p = vigil(["publish", dir, "--log", join(dir, "log"), "--key", key, "--witness-policy", policy]);
      expect(p.code).toBe(2);
      expect(p.err).toMatch(re);
      const m = vigil([
        "mirror",
        "--mirror",
        join(dir, "nomirror"),
        "--datadir",
        join(dir, "db"),
        "--log",
        join(dir, "log"),
        "--key",
        key,
        "--witness-policy",
        policy,
      ]);
      expect(m.code).toBe(2);
      expect(m.err).toMatch(re);
    }
  });
});
