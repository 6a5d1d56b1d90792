/**
 * `vigil root` and `vigil update --root` through the built bin (`npx tsc -b` first): an operator
 * writes and co-signs roots 1 to 5 offline (witness added, quorum raised, a root key rotated, a
 * witness removed), publishes them beside a log served on 127.0.0.1, and an endpoint walks them.
 */
import { spawn } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it, onTestFinished } from "vitest";
import { HONEST_RULES, closeServer, startWitness, writeRules } from "@vigil/test-kit";

const BIN = fileURLToPath(new URL("../bin/vigil.js", import.meta.url));

/** Runs the bin without blocking this process's event loop (the witnesses and the log server live here). */
function vigil(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 });
    let out = "";
    let err = "";
    c.stdout.on("data", (d: Buffer) => (out += d.toString()));
    c.stderr.on("data", (d: Buffer) => (err += d.toString()));
    c.once("error", reject);
    c.once("close", (code) => resolve({ code, out, err }));
  });
}

/** A static server of `dir` on 127.0.0.1 (404 for what is missing). */
async function serve(dir: string) {
  const root = resolve(dir);
  const server = createServer(async (req, res) => {
    const full = resolve(
      root,
      ...decodeURIComponent((req.url ?? "/").split("?")[0]!)
        .replace(/^\//, "")
        .split("/"),
    );
    if (!full.startsWith(root + sep)) return void res.writeHead(403).end();
    try {
      const data = await readFile(full);
      res.writeHead(200, { "content-length": data.length }).end(data);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}

describe("vigil root", () => {
  it("init, next, sign, verify, show; vigil update --root walks roots 1 to 5 on a served log", {
    timeout: 180_000,
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), "vigil-cli-root-"));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const keys = join(dir, "keys");
    await mkdir(keys);
    const k = (name: string) => join(keys, name);
    const gen = async (name: string, cos = false) => {
      const r = await vigil(["keys", "generate", name, "-o", keys, ...(cos ? ["--cosigner"] : [])]);
      expect(r.code, r.err).toBe(0);
      return r.out.trim();
    };
    for (const i of [1, 2, 3, 4]) await gen(`root.example/r${i}`);
    const pubV = await gen("rules.example/publisher");
    const logV = await gen("rules.example/log");
    const w1V = await gen("w1.example", true);
    await gen("w2.example", true);

    const logDir = join(dir, "log");
    const roots = join(logDir, "roots");
    await mkdir(roots, { recursive: true });
    const w1 = await startWitness(
      (await readFile(k("w1.example.key"), "utf8")).trim(),
      join(dir, "w1"),
      "rules.example/log",
      logV,
      logDir,
    );
    const w2 = await startWitness(
      (await readFile(k("w2.example.key"), "utf8")).trim(),
      join(dir, "w2"),
      "rules.example/log",
      logV,
      logDir,
    );
    const http = await serve(logDir);
    try {
      const rules = join(dir, "rules");
      let n = 0;
      const publish = async (witnesses: string[]) => {
        await writeRules(rules, {
          ...HONEST_RULES,
          "n.yar": `rule N${++n} { strings: $a = "n ${n}" condition: $a }\n`,
        });
        const args = ["publish", rules, "--log", logDir, "--key", k("rules.example_publisher.key")];
        args.push("--log-key", k("rules.example_log.key"), ...witnesses.flatMap((w) => ["--witness", w]));
        const p = await vigil(args);
        expect(p.code, p.err).toBe(0);
      };
      const state = join(dir, "endpoint");
      const root1 = join(dir, "root-1.note");
      const update = () => vigil(["update", "--source", http.url, "--root", root1, "--state", state]);

      // root 1: witness w1 alone, quorum 1; root keys r1 r2 r3, threshold 2
      const policy = join(dir, "trust.json");
      await writeFile(
        policy,
        JSON.stringify({
          format: "vigil-trust/v1",
          log: { origin: "rules.example/log", keys: [logV] },
          publishers: [pubV],
          witnesses: [w1V],
          quorum: 1,
          maxCheckpointAge: 3600,
        }),
      );
      const init = ["root", "init", "--policy", policy, "--threshold", "2", "-o", root1];
      for (const i of [1, 2, 3]) init.push("--key", k(`root.example_r${i}.pub`));
      expect((await vigil(init)).code).toBe(0);
      expect((await vigil(["root", "verify", root1])).err).toMatch(
        /signed by 0 of its own keys, it needs 2: .*\(ROOT_THRESHOLD_SELF\)/,
      );
      const sign = async (file: string, ...who: number[]) => {
        const r = await vigil(["root", "sign", file, ...who.flatMap((i) => ["--key", k(`root.example_r${i}.key`)])]);
        expect(r.code, r.err).toBe(0);
      };
      await sign(root1, 1, 2);
      const v = await vigil(["root", "verify", root1]);
      expect([v.code, v.out], v.err).toEqual([0, expect.stringMatching(/root version 1 is valid until/)]);
      const show = (await vigil(["root", "show", root1])).out;
      expect(show).toMatch(
        /vigil-root\/v1 version 1, expires .*\nroot keys \(threshold 2, signed by 2\):\n {2}signed {3}root\.example\/r1\+/,
      );
      expect(show).toMatch(/unsigned root\.example\/r3\+/);

      await publish([w1.url, w2.url]);
      let u = await update();
      expect([u.code, u.out, u.err]).toEqual([0, expect.stringMatching(/applied version 1; .*; trust root 1\n/), ""]);

      // root 2 adds witness w2; signed by r1 alone it is refused, by r1 and r2 accepted
      const r2 = join(roots, "2.note");
      expect((await vigil(["root", "next", root1, "--add-witness", k("w2.example.pub"), "-o", r2])).code).toBe(0);
      await sign(r2, 1);
      const few = await vigil(["root", "verify", root1, r2]);
      expect([few.code, few.err]).toEqual([
        1,
        expect.stringMatching(/refused: .*2\.note: .*\(ROOT_THRESHOLD_PREVIOUS\)/),
      ]);
      await sign(r2, 2);
      // root 3 raises the quorum to 2 (signed by r2 r3)
      const r3 = join(roots, "3.note");
      expect((await vigil(["root", "next", r2, "--quorum", "2", "-o", r3])).code).toBe(0);
      await sign(r3, 2, 3);
      await publish([w1.url]);
      u = await update();
      expect([u.code, u.err]).toEqual([
        1,
        expect.stringMatching(/1 valid witness cosignature\(s\), the policy needs 2: .*\(NO_QUORUM\)/),
      ]);

      // root 4 rotates r1 out and r4 in: the old keys alone are not enough
      const r4 = join(roots, "4.note");
      const next4 = [
        "root",
        "next",
        r3,
        "--add-key",
        k("root.example_r4.pub"),
        "--remove-key",
        k("root.example_r1.pub"),
      ];
      expect((await vigil([...next4, "-o", r4])).code).toBe(0);
      await sign(r4, 1, 2);
      expect((await vigil(["root", "verify", "--trusted", r3, r4])).err).toMatch(/\(ROOT_THRESHOLD_SELF\)/);
      await sign(r4, 4);
      // root 5 removes witness w1, quorum back to 1; signed with the new keys r3 r4
      const r5 = join(roots, "5.note");
      expect(
        (
          await vigil([
            "root",
            "next",
            r4,
            "--remove-witness",
            k("w1.example.pub"),
            "--quorum",
            "1",
            "--expires",
            "10d",
            "-o",
            r5,
          ])
        ).code,
      ).toBe(0);
      await sign(r5, 3, 4);
      const chain = await vigil(["root", "verify", root1, r2, r3, r4, r5]);
      expect([chain.code, chain.out], chain.err).toEqual([
        0,
        expect.stringMatching(/5\.note: root version 5 verified\n/),
      ]);

      // a checkpoint cosigned by w2 alone: enough under root 5 only
      await publish([w2.url]);
      u = await update();
      expect([u.code, u.out], u.err).toEqual([
        0,
        expect.stringMatching(/applied version 3 \(was 1\); .*; trust root 3 -> 5\n/),
      ]);
      expect(u.err).toMatch(/^vigil update: warning: trust root 5 expires on \d{4}-\d\d-\d\dT[\d:]{8}Z; after that/);
      expect((await vigil(["root", "show", "--json", join(state, "root.note")])).out).toMatch(/"version": 5/);

      // a rolled-back root offered as 6 (root 4, still signed by two of root 5's keys) is refused
      await copyFile(r4, join(roots, "6.note"));
      u = await update();
      expect([u.code, u.err]).toEqual([
        1,
        expect.stringMatching(/^vigil update: refused: .*rollback.*\(ROOT_ROLLBACK\)\n$/),
      ]);
      const late = await vigil(["root", "verify", "--at", "2099-01-01", r5]);
      expect([late.code, late.err]).toEqual([1, expect.stringMatching(/\(ROOT_EXPIRED\)/)]);
      // a root given as a plain policy is recognised
      const asPolicy = await vigil(["update", "--source", http.url, "--policy", root1, "--state", state]);
      expect([asPolicy.code, asPolicy.err]).toEqual([2, expect.stringMatching(/give it with --root .*\(BAD_POLICY\)/)]);
      // both or neither of --policy and --root: a usage error
      expect(
        (await vigil(["update", "--source", http.url, "--root", root1, "--policy", policy, "--state", state])).code,
      ).toBe(2);
    } finally {
      await closeServer(w1.server);
      await closeServer(w2.server);
      await closeServer(http.server);
    }
  });
});
