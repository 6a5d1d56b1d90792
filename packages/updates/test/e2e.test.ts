/**
 * End-to-end attack scenarios: a real publisher writing a real log on disk, the log served over
 * HTTP on 127.0.0.1, two witnesses over HTTP that audit every bundle, and an endpoint.
 */
import { existsSync } from "node:fs";
import { readFile, readlink, readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openNote } from "@vigil/tlog";
import {
  DiskLog,
  UpdateError,
  buildBundle,
  bundleArchivePath,
  currentBundleDir,
  loadState,
  publish,
  recoverEndpoint,
  requestCosignature,
  rollback,
  update,
  type Server,
} from "./exports.js";
import {
  HONEST_RULES,
  SECRET_HUNTING_RULES,
  closeServer,
  makeKeys,
  policyFor,
  serveDir,
  snapshot,
  startWitness,
  tempDir,
  writeRules,
} from "./helpers.js";

const servers: Server[] = [];
afterAll(async () => {
  for (const s of servers) await closeServer(s);
});

async function fixture() {
  const keys = makeKeys();
  const root = await tempDir();
  const logDir = join(root, "log");
  const rulesDir = join(root, "rules");
  const stateDir = join(root, "endpoint");
  const http = await serveDir(logDir);
  servers.push(http.server);
  const w1 = await startWitness(
    keys.w1.signerKey,
    join(root, "w1"),
    "rules.example/log",
    keys.log.verifierKey,
    http.url,
  );
  const w2 = await startWitness(
    keys.w2.signerKey,
    join(root, "w2"),
    "rules.example/log",
    keys.log.verifierKey,
    http.url,
  );
  servers.push(w1.server, w2.server);
  const policy = policyFor(keys);
  const pub = async (rules: Record<string, string>) => {
    await writeRules(rulesDir, rules);
    return publish({
      rulesDir,
      logDir,
      publisherKey: keys.publisher.signerKey,
      logKey: keys.log.signerKey,
      witnesses: [w1.url, w2.url],
    });
  };
  return { keys, root, logDir, rulesDir, stateDir, http, w1, w2, policy, pub };
}

async function expectCode(p: Promise<unknown>, code: string): Promise<UpdateError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(UpdateError);
    expect((e as UpdateError).code, (e as Error).message).toBe(code);
    return e as UpdateError;
  }
  throw new Error(`expected an UpdateError ${code}, got success`);
}

const v2Rules = {
  ...HONEST_RULES,
  "families/stealer.yar": `rule Stealer_Browser_Creds {
  strings:
    $a = "\\\\Google\\\\Chrome\\\\User Data\\\\Default\\\\Login Data" ascii wide
    $b = "SELECT origin_url, username_value, password_value FROM logins"
  condition:
    uint16(0) == 0x5A4D and all of them
}
`,
};

describe("honest updates", () => {
  it("publishes, gets two cosignatures and applies on the endpoint, over HTTP and from a directory", async () => {
    const f = await fixture();
    const r1 = await f.pub(HONEST_RULES);
    expect(r1.manifest.version).toBe(1);
    expect(r1.cosignedBy).toEqual([f.w1.url, f.w2.url]);
    expect(r1.refusedBy).toEqual([]);
    const opened = openNote(r1.checkpoint, [f.keys.log.verifierKey, f.keys.w1.verifierKey, f.keys.w2.verifierKey]);
    expect(opened.verified).toEqual(["rules.example/log", "witness-one.example", "witness-two.example"]);

    // the tlog-proof beside the archive proves the manifest's inclusion offline
    const { parseTlogProof, parseCheckpoint, verifyInclusion, leafHash } = await import("@vigil/tlog");
    const tp = parseTlogProof(await readFile(join(f.logDir, "bundles", "rules-1.tlog-proof"), "utf8"));
    const cp = parseCheckpoint(openNote(tp.checkpoint, [f.keys.log.verifierKey, f.keys.w1.verifierKey]).text);
    expect(verifyInclusion(tp.index, cp.size, leafHash("some other entry"), tp.proof, cp.rootHash)).toBe(false);
    expect(
      verifyInclusion(
        tp.index,
        cp.size,
        leafHash(
          Buffer.from(
            (await import("@vigil/updates")).readTar(await readFile(join(f.logDir, "bundles", "rules-1.tar")))[0]!.data,
          ),
        ),
        tp.proof,
        cp.rootHash,
      ),
    ).toBe(true);

    const u1 = await update({ source: f.http.url, stateDir: f.stateDir, policy: f.policy });
    expect(u1.status).toBe("applied");
    expect(u1.version).toBe(1);
    expect(u1.witnesses.length).toBe(2);
    const dir = await currentBundleDir(f.stateDir);
    expect(await readFile(join(dir!, "eicar.yar"), "utf8")).toBe(HONEST_RULES["eicar.yar"]);
    expect(await readlink(join(f.stateDir, "current"))).toBe(
      join("bundles", (await loadState(f.stateDir)).current!.dir),
    );

    expect((await update({ source: f.http.url, stateDir: f.stateDir, policy: f.policy })).status).toBe("up-to-date");

    const r2 = await f.pub(v2Rules);
    expect(r2.manifest.version).toBe(2);
    expect(r2.manifest.previous).toBe(r1.manifestHash);
    // a second endpoint reads the log straight from the directory
    const fromDir = await update({ source: f.logDir, stateDir: join(f.root, "endpoint-dir"), policy: f.policy });
    expect(fromDir).toMatchObject({ status: "applied", version: 2 });
    const u2 = await update({ source: f.http.url, stateDir: f.stateDir, policy: f.policy });
    expect(u2).toMatchObject({ status: "applied", version: 2, previousVersion: 1 });
    expect(existsSync(join((await currentBundleDir(f.stateDir))!, "families/stealer.yar"))).toBe(true);
  });
});

describe("attacks", () => {
  it("a bundle hunting TOP SECRET documents from a compromised publisher key is refused by the witnesses, so by the endpoint", async () => {
    const f = await fixture();
    await f.pub(HONEST_RULES);
    await update({ source: f.http.url, stateDir: f.stateDir, policy: f.policy });
    const bad = await f.pub(SECRET_HUNTING_RULES); // signed with the real (stolen) publisher key
    expect(bad.cosignedBy).toEqual([]);
    expect(bad.refusedBy.length).toBe(2);
    for (const r of bad.refusedBy) {
      expect(r.reason).toMatch(/HTTP 422/);
      expect(r.reason).toMatch(/TOP SECRET/);
    }
    const wlog = await readFile(join(f.root, "w1", "witness.log"), "utf8");
    expect(wlog).toMatch(/REFUSED rules\.example\/log size 2/);
    expect(wlog).toMatch(/classification marking "TOP SECRET"/);
    await expectCode(update({ source: f.http.url, stateDir: f.stateDir, policy: f.policy }), "NO_QUORUM");
    expect((await loadState(f.stateDir)).current!.version).toBe(1);

    // the publisher ships a clean version on top: the bad one stays in the log for monitors, but
    // is no longer the newest, so witnesses cosign again and the endpoint skips straight to it
    const fixed = await f.pub(v2Rules);
    expect(fixed.manifest.version).toBe(3);
    expect(fixed.cosignedBy.length).toBe(2);
    expect(await update({ source: f.http.url, stateDir: f.stateDir, policy: f.policy })).toMatchObject({
      status: "applied",
      version: 3,
    });
    expect(existsSync(join(f.stateDir, "current", "hunt.yar"))).toBe(false);
    expect(await readFile(join(f.root, "w1", "witness.log"), "utf8")).toMatch(/SUPERSEDED rules\.example\/log/);
  });

  it("a split view is detected: forged cosignatures fail, and a fork cosigned by fooled witnesses is inconsistent", async () => {
    const f = await fixture();
    await f.pub(HONEST_RULES);
    await update({ source: f.http.url, stateDir: f.stateDir, policy: f.policy });
    const honestCheckpoint = await readFile(join(f.logDir, "checkpoint"), "utf8");

    // the log operator builds a second tree with the same log key, shown only to this endpoint
    const forkDir = join(f.root, "fork");
    const forkRules = join(f.root, "fork-rules");
    await writeRules(forkRules, { "x.yar": 'rule Fork { strings: $a = "forked log entry" condition: $a }\n' });
    await publish({
      rulesDir: forkRules,
      logDir: forkDir,
      publisherKey: f.keys.publisher.signerKey,
      logKey: f.keys.log.signerKey,
    });
    await publish({
      rulesDir: forkRules,
      logDir: forkDir,
      publisherKey: f.keys.publisher.signerKey,
      logKey: f.keys.log.signerKey,
    });
    const forkHttp = await serveDir(forkDir);
    servers.push(forkHttp.server);

    // 1. without cosignatures: no quorum
    await expectCode(update({ source: forkHttp.url, stateDir: f.stateDir, policy: f.policy }), "NO_QUORUM");
    // 2. with the honest checkpoint's cosignatures pasted on: they do not verify
    const forkNote = await readFile(join(forkDir, "checkpoint"), "utf8");
    const honestCosigs = honestCheckpoint.split("\n").filter((l) => l.startsWith("\u2014 witness"));
    forkHttp.overrides.set("checkpoint", Buffer.from(forkNote + honestCosigs.map((l) => l + "\n").join("")));
    const e2 = await expectCode(update({ source: forkHttp.url, stateDir: f.stateDir, policy: f.policy }), "NO_QUORUM");
    expect(e2.message).toMatch(/cosignature .* is invalid/);
    forkHttp.overrides.clear();

    // 3. witnesses that never saw the honest tree (fooled, or compromised) cosign the fork
    const fooled1 = await startWitness(
      f.keys.w1.signerKey,
      join(f.root, "fooled1"),
      "rules.example/log",
      f.keys.log.verifierKey,
      forkHttp.url,
    );
    const fooled2 = await startWitness(
      f.keys.w2.signerKey,
      join(f.root, "fooled2"),
      "rules.example/log",
      f.keys.log.verifierKey,
      forkHttp.url,
    );
    servers.push(fooled1.server, fooled2.server);
    const forkLog = await DiskLog.open(forkDir, f.keys.log.signerKey);
    for (const w of [fooled1.url, fooled2.url]) {
      const lines = await requestCosignature(w, forkLog.checkpoint, (old) => forkLog.tree.consistencyProof(old), 0n);
      await forkLog.addCosignatures(lines);
    }
    const e3 = await expectCode(
      update({ source: forkHttp.url, stateDir: f.stateDir, policy: f.policy }),
      "INCONSISTENT",
    );
    expect(e3.evidence?.accepted).toBe((await loadState(f.stateDir)).checkpoint);
    expect(e3.evidence?.offered).toContain("rules.example/log\n2\n");
    const evidence = await readdir(join(f.stateDir, "evidence"));
    expect(evidence.some((n) => n.endsWith("-inconsistent.txt"))).toBe(true);
    // the real witnesses refuse the fork too: it is not consistent with what they cosigned
    const real = await fetch(`${f.w1.url}/add-checkpoint`, {
      method: "POST",
      body: `old 1\n${forkLog.tree
        .consistencyProof(1)
        .map((h) => Buffer.from(h).toString("base64") + "\n")
        .join("")}\n${forkLog.checkpoint}`,
    });
    expect(real.status).toBe(422);
    expect((await loadState(f.stateDir)).current!.version).toBe(1);
  });

  it("rollback to an older tree or an older bundle version is refused", async () => {
    const f = await fixture();
    await f.pub(HONEST_RULES);
    await snapshot(f.logDir, join(f.root, "old-log"));
    await f.pub(v2Rules);
    await update({ source: f.http.url, stateDir: f.stateDir, policy: f.policy });
    expect((await loadState(f.stateDir)).current!.version).toBe(2);

    // replay of the old log (still freshly cosigned): smaller tree
    const old = await serveDir(join(f.root, "old-log"));
    servers.push(old.server);
    await expectCode(update({ source: old.url, stateDir: f.stateDir, policy: f.policy }), "ROLLBACK");

    // the publisher key signs "version 1" again with other content; witnesses see nothing wrong with the rules
    const log = await DiskLog.open(f.logDir, f.keys.log.signerKey);
    const files = [{ path: "eicar.yar", data: new Uint8Array(Buffer.from(HONEST_RULES["eicar.yar"])) }];
    const built = buildBundle(files, { name: "rules", version: 1, previous: "" }, f.keys.publisher.signerKey);
    await log.writeFile(bundleArchivePath("rules", 1), built.archive);
    const before = log.size;
    await log.append([Buffer.from(built.signedManifest)], f.keys.log.signerKey);
    for (const w of [f.w1.url, f.w2.url]) {
      await log.addCosignatures(
        await requestCosignature(w, log.checkpoint, (o) => log.tree.consistencyProof(o), BigInt(before)),
      );
    }
    const e = await expectCode(update({ source: f.http.url, stateDir: f.stateDir, policy: f.policy }), "ROLLBACK");
    expect(e.message).toMatch(/version 1 is not above version 2/);
    expect((await loadState(f.stateDir)).current!.version).toBe(2);
  });

  it("a frozen checkpoint past its maximum age is refused", async () => {
    const f = await fixture();
    await f.pub(HONEST_RULES);
    const later = () => Math.floor(Date.now() / 1000) + f.policy.maxCheckpointAge + 60;
    await expectCode(
      update({ source: f.http.url, stateDir: f.stateDir, policy: f.policy, now: later }),
      "STALE_CHECKPOINT",
    );
    const earlier = () => Math.floor(Date.now() / 1000) - 3600;
    await expectCode(
      update({ source: f.http.url, stateDir: f.stateDir, policy: f.policy, now: earlier }),
      "FUTURE_CHECKPOINT",
    );
    expect((await loadState(f.stateDir)).current).toBeNull();
    // one witness is not a quorum of two
    await expectCode(
      update({
        source: f.http.url,
        stateDir: f.stateDir,
        policy: {
          ...f.policy,
          witnesses: [f.keys.w1.verifierKey, (await import("@vigil/tlog")).generateKey("w3.example", 4).verifierKey],
        },
      }),
      "NO_QUORUM",
    );
  });

  it("a tampered bundle file is refused", async () => {
    const f = await fixture();
    await f.pub(HONEST_RULES);
    await update({ source: f.http.url, stateDir: f.stateDir, policy: f.policy });
    await f.pub(v2Rules);
    const path = bundleArchivePath("rules", 2);
    const tar = Buffer.from(await readFile(join(f.logDir, ...path.split("/"))));
    const at = tar.indexOf("password_value");
    expect(at).toBeGreaterThan(0);
    tar[at] = "P".charCodeAt(0);
    f.http.overrides.set(path, tar);
    const e = await expectCode(update({ source: f.http.url, stateDir: f.stateDir, policy: f.policy }), "FILE_MISMATCH");
    expect(e.message).toMatch(/families\/stealer\.yar/);
    // a swapped MANIFEST in the archive is refused too
    f.http.overrides.set(path, await readFile(join(f.logDir, ...bundleArchivePath("rules", 1).split("/"))));
    await expectCode(update({ source: f.http.url, stateDir: f.stateDir, policy: f.policy }), "FILE_MISMATCH");
    expect((await loadState(f.stateDir)).current!.version).toBe(1);
  });

  it("a crash mid-apply leaves the old bundle working, and the next run completes", async () => {
    const f = await fixture();
    await f.pub(HONEST_RULES);
    await update({ source: f.http.url, stateDir: f.stateDir, policy: f.policy });
    const v1Dir = await currentBundleDir(f.stateDir);
    await f.pub(v2Rules);

    await expect(
      update({ source: f.http.url, stateDir: f.stateDir, policy: f.policy, failpoint: "after-extract" }),
    ).rejects.toThrow(/failpoint/);
    expect(await currentBundleDir(f.stateDir)).toBe(v1Dir);
    expect(await readlink(join(f.stateDir, "current"))).toBe(
      join("bundles", (await loadState(f.stateDir)).current!.dir),
    );
    expect(existsSync(join(v1Dir!, "families/stealer.yar"))).toBe(false);
    expect(await readFile(join(f.stateDir, "current", "eicar.yar"), "utf8")).toBe(HONEST_RULES["eicar.yar"]);

    // crash after the commit point: state says v2, the link still points at v1 until recovery
    await expect(
      update({ source: f.http.url, stateDir: f.stateDir, policy: f.policy, failpoint: "after-state" }),
    ).rejects.toThrow(/failpoint/);
    const st = await recoverEndpoint(f.stateDir);
    expect(st.current!.version).toBe(2);
    expect(await readFile(join(f.stateDir, "current", "families", "stealer.yar"), "utf8")).toBe(
      v2Rules["families/stealer.yar"],
    );
    expect((await update({ source: f.http.url, stateDir: f.stateDir, policy: f.policy })).status).toBe("up-to-date");
  });

  it("a process killed (SIGKILL) mid-apply leaves the old bundle in force; the next run applies the new one", async () => {
    const f = await fixture();
    await f.pub(HONEST_RULES);
    await update({ source: f.http.url, stateDir: f.stateDir, policy: f.policy });
    await f.pub(v2Rules);
    const script = join(f.root, "crash.mjs");
    const { writeFile } = await import("node:fs/promises");
    const dist = new URL("../dist/index.js", import.meta.url).href; // the built package (npm test builds first)
    await writeFile(
      script,
      `
      import { update } from ${JSON.stringify(dist)};
      const [source, stateDir, policy, at] = process.argv.slice(2);
      const kill = () => process.kill(process.pid, "SIGKILL");
      await update({ source, stateDir, policy: JSON.parse(policy), hooks: at === "extract" ? { afterExtract: kill } : { afterCommit: kill } });
      process.exit(3);
    `,
    );
    const { spawnSync } = await import("node:child_process");
    // the child reads the log from its directory: spawnSync blocks this process, and so its HTTP server
    const run = (at: string) =>
      spawnSync(process.execPath, [script, f.logDir, f.stateDir, JSON.stringify(f.policy), at], {
        encoding: "utf8",
        timeout: 60_000,
      });
    const r1 = run("extract");
    expect(r1.signal, r1.stderr).toBe("SIGKILL");
    expect(existsSync(join(f.stateDir, "update.lock"))).toBe(true); // left behind by the dead process
    expect(await readFile(join(f.stateDir, "current", "eicar.yar"), "utf8")).toBe(HONEST_RULES["eicar.yar"]);
    expect(existsSync(join(f.stateDir, "current", "families", "stealer.yar"))).toBe(false);
    expect((await loadState(f.stateDir)).current!.version).toBe(1);
    const r2 = run("commit");
    expect(r2.signal, r2.stderr).toBe("SIGKILL");
    expect((await loadState(f.stateDir)).current!.version).toBe(2);
    // the next run (stale lock taken over) repairs the link and finds nothing to do
    expect((await update({ source: f.http.url, stateDir: f.stateDir, policy: f.policy })).status).toBe("up-to-date");
    expect(await readFile(join(f.stateDir, "current", "families", "stealer.yar"), "utf8")).toBe(
      v2Rules["families/stealer.yar"],
    );
  });

  it("an endpoint can refuse, with its own extended audit policy, a bundle the witnesses accepted", async () => {
    const f = await fixture();
    await f.pub({
      ...HONEST_RULES,
      "p.yar": 'rule Project { strings: $a = "project bluebird" nocase condition: $a }\n',
    });
    const { parseAuditPolicy } = await import("@vigil/updates");
    const mine = parseAuditPolicy(
      JSON.stringify({
        format: "vigil-audit-policy/v1",
        extends: "default",
        version: "endpoint-1",
        markings: [{ lang: "en", case: "insensitive", severity: "high", words: ["PROJECT BLUEBIRD"] }],
      }),
    );
    const e = await expectCode(
      update({ source: f.http.url, stateDir: f.stateDir, policy: f.policy, auditPolicy: mine }),
      "AUDIT_FAILED",
    );
    expect(e.message).toMatch(
      /p\.yar:1: high: rule Project: looks for the en classification marking "PROJECT BLUEBIRD"/,
    );
    expect((await loadState(f.stateDir)).current).toBeNull();
    // without that extension the default policy lets it through
    expect(
      (
        await update({
          source: f.http.url,
          stateDir: f.stateDir,
          policy: f.policy,
          auditPolicy: parseAuditPolicy('{"format":"vigil-audit-policy/v1","extends":"default"}'),
        })
      ).status,
    ).toBe("applied");
  });

  it("finds its bundle behind hundreds of entries of another bundle name", async () => {
    const keys = makeKeys();
    const root = await tempDir();
    const logDir = join(root, "log");
    await writeRules(join(root, "rules"), HONEST_RULES);
    await publish({
      rulesDir: join(root, "rules"),
      logDir,
      publisherKey: keys.publisher.signerKey,
      logKey: keys.log.signerKey,
    });
    const log = await DiskLog.open(logDir, keys.log.signerKey);
    const other = [
      {
        path: "o.yar",
        data: new Uint8Array(Buffer.from('rule O { strings: $a = "other feed marker" condition: $a }\n')),
      },
    ];
    const entries: Uint8Array[] = [];
    for (let v = 1; v <= 300; v++)
      entries.push(
        Buffer.from(
          buildBundle(other, { name: "other-feed", version: v, previous: "" }, keys.publisher.signerKey).signedManifest,
        ),
      );
    await log.append(entries, keys.log.signerKey);
    const { cosignatureLine } = await import("@vigil/tlog");
    const text = log.checkpoint.slice(0, log.checkpoint.indexOf("\n\n") + 1);
    const now = Math.floor(Date.now() / 1000);
    await log.addCosignatures([
      cosignatureLine(text, keys.w1.signerKey, now),
      cosignatureLine(text, keys.w2.signerKey, now),
    ]);
    const r = await update({ source: logDir, stateDir: join(root, "ep"), policy: policyFor(keys) });
    expect(r).toMatchObject({ status: "applied", version: 1, checkpointSize: 301n });
  });

  it("an operator can roll back; the rolled-back bundle is not re-applied, a newer one is", async () => {
    const f = await fixture();
    await f.pub(HONEST_RULES);
    await update({ source: f.http.url, stateDir: f.stateDir, policy: f.policy });
    await f.pub(v2Rules);
    await update({ source: f.http.url, stateDir: f.stateDir, policy: f.policy });
    expect(await rollback(f.stateDir)).toEqual({ version: 1, from: 2 });
    expect(existsSync(join(f.stateDir, "current", "families", "stealer.yar"))).toBe(false);
    expect((await update({ source: f.http.url, stateDir: f.stateDir, policy: f.policy })).status).toBe("up-to-date");
    expect((await loadState(f.stateDir)).current!.version).toBe(1);
    await f.pub({
      ...v2Rules,
      "more.yar": 'rule More { strings: $a = "another malware marker string" condition: $a }\n',
    });
    expect(await update({ source: f.http.url, stateDir: f.stateDir, policy: f.policy })).toMatchObject({
      status: "applied",
      version: 3,
    });
    await expectCode(rollback(join(f.root, "fresh-endpoint")), "NO_PREVIOUS");
  });
});
