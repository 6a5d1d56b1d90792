import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatMonitorReport, monitorLog, publish } from "@vigil/updates";
import {
  HONEST_RULES,
  SECRET_HUNTING_RULES,
  makeKeys,
  serveDir,
  closeServer,
  startWitness,
  tempDir,
  writeRules,
} from "./helpers.js";

describe("log monitor (vigil audit --log)", () => {
  it("replays the log, diffs versions, audits every bundle, and continues where it stopped", async () => {
    const keys = makeKeys();
    const root = await tempDir();
    const logDir = join(root, "log"),
      rulesDir = join(root, "rules"),
      stateFile = join(root, "monitor.json");
    const pub = async (rules: Record<string, string>) => {
      await writeRules(rulesDir, rules);
      return publish({ rulesDir, logDir, publisherKey: keys.publisher.signerKey, logKey: keys.log.signerKey });
    };
    await pub(HONEST_RULES);
    const changed = { ...HONEST_RULES, "eicar.yar": HONEST_RULES["eicar.yar"].replace("$eicar at 0", "$eicar") };
    delete (changed as Record<string, string>)["families/ransom.yar"];
    await pub({
      ...changed,
      "new.yar": 'rule Added_Rule { strings: $a = "a brand new malware string" condition: $a }\n',
    });
    await pub(SECRET_HUNTING_RULES);
    const http = await serveDir(logDir);
    try {
      const r = await monitorLog({
        source: http.url,
        logKeys: [keys.log.verifierKey],
        publishers: [keys.publisher.verifierKey],
        stateFile,
      });
      expect(r.problems).toEqual([]);
      expect(r.fromSize).toBe(0);
      expect(r.toSize).toBe(3);
      expect(r.bundles.map((b) => b.version)).toEqual([1, 2, 3]);
      expect(r.bundles.every((b) => b.publisherVerified === true && b.problems.length === 0)).toBe(true);
      expect(r.bundles[0]!.diff!.added).toEqual([
        "eicar.yar:EICAR_Test_File",
        "families/ransom.yar:Ransom_Note_Generic",
      ]);
      expect(r.bundles[1]!.diff).toEqual({
        added: ["new.yar:Added_Rule"],
        removed: ["families/ransom.yar:Ransom_Note_Generic"],
        changed: ["eicar.yar:EICAR_Test_File"],
      });
      expect(r.bundles[0]!.findings).toEqual([]);
      expect(r.bundles[2]!.findings.map((f) => f.code)).toContain("classification-marking");
      const text = formatMonitorReport(r, true);
      expect(text).toMatch(
        /#2 rules v3 .*\n(.*\n)* {2}high: hunt\.yar:1 rule Doc_Hunter: looks for the en classification marking "TOP SECRET"/,
      );
      expect(text).toMatch(/~ eicar\.yar:EICAR_Test_File/);

      // incremental: nothing new, then one new bundle
      const again = await monitorLog({ source: http.url, logKeys: [keys.log.verifierKey], stateFile });
      expect(again.bundles).toEqual([]);
      expect(again.checkpointsChecked).toBe(1);
      await pub(HONEST_RULES);
      const more = await monitorLog({ source: http.url, logKeys: [keys.log.verifierKey], stateFile });
      expect(more.fromSize).toBe(3);
      expect(more.bundles.map((b) => b.version)).toEqual([4]);
      expect(more.bundles[0]!.diff).toEqual({
        added: ["eicar.yar:EICAR_Test_File", "families/ransom.yar:Ransom_Note_Generic"],
        removed: ["hunt.yar:Doc_Hunter"],
        changed: [],
      });
      expect(more.problems).toEqual([]);

      // the same log key, a different history: the monitor sees the fork
      const forkDir = join(root, "fork");
      await writeRules(rulesDir, { "f.yar": 'rule F { strings: $a = "forked history entry" condition: $a }\n' });
      for (let i = 0; i < 5; i++)
        await publish({
          rulesDir,
          logDir: forkDir,
          publisherKey: keys.publisher.signerKey,
          logKey: keys.log.signerKey,
        });
      const fork = await monitorLog({ source: forkDir, logKeys: [keys.log.verifierKey], stateFile });
      expect(fork.problems.join("\n")).toMatch(/not consistent|do not hash/);
      // and a shorter fork is a shrinking tree
      const short = join(root, "short");
      await publish({ rulesDir, logDir: short, publisherKey: keys.publisher.signerKey, logKey: keys.log.signerKey });
      expect((await monitorLog({ source: short, logKeys: [keys.log.verifierKey], stateFile })).problems[0]).toMatch(
        /shrank from 4 to 1/,
      );
      // a wrong key is refused outright
      await expect(monitorLog({ source: http.url, logKeys: [keys.publisher.verifierKey] })).rejects.toMatchObject({
        code: "BAD_LOG_SIGNATURE",
      });
    } finally {
      await closeServer(http.server);
    }
  });
});

describe("monitor against witnesses", () => {
  it("compares the log's checkpoint with what each witness cosigned, and flags a split view", async () => {
    const keys = makeKeys();
    const root = await tempDir();
    const logDir = join(root, "log"),
      rulesDir = join(root, "rules");
    const w = await startWitness(
      keys.w1.signerKey,
      join(root, "w1"),
      "rules.example/log",
      keys.log.verifierKey,
      logDir,
    );
    try {
      await writeRules(rulesDir, HONEST_RULES);
      await publish({
        rulesDir,
        logDir,
        publisherKey: keys.publisher.signerKey,
        logKey: keys.log.signerKey,
        witnesses: [w.url],
      });
      const ok = await monitorLog({ source: logDir, logKeys: [keys.log.verifierKey], witnessUrls: [w.url] });
      expect(ok.problems).toEqual([]);
      expect(ok.checkpointsChecked).toBe(1);
      // a fork of the same size shown only to the monitor
      const forkDir = join(root, "fork");
      await writeRules(rulesDir, { "f.yar": 'rule F { strings: $a = "the forked tree" condition: $a }\n' });
      await publish({ rulesDir, logDir: forkDir, publisherKey: keys.publisher.signerKey, logKey: keys.log.signerKey });
      const split = await monitorLog({ source: forkDir, logKeys: [keys.log.verifierKey], witnessUrls: [w.url] });
      expect(split.problems.join("\n")).toMatch(/not consistent .* split view/);
      // the honest log grows; a monitor shown the old tree notices the witness saw more
      await writeRules(rulesDir, HONEST_RULES);
      const { cp } = await import("node:fs/promises");
      await cp(logDir, join(root, "stale"), { recursive: true });
      await publish({
        rulesDir,
        logDir,
        publisherKey: keys.publisher.signerKey,
        logKey: keys.log.signerKey,
        witnesses: [w.url],
      });
      const stale = await monitorLog({
        source: join(root, "stale"),
        logKeys: [keys.log.verifierKey],
        witnessUrls: [w.url],
      });
      expect(stale.problems.join("\n")).toMatch(/larger than the 1 the log shows this monitor/);
    } finally {
      await closeServer(w.server);
    }
  });
});
